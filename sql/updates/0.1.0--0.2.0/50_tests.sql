-- 0.2.0: hublink.schema_cache_stats(), the counters of a backend's compiled-schema cache, so a
-- test tells a cache hit from a recompile (issue 18 section 4).
-- @function hublink.schema_cache_stats
SELECT hublink.apply_access_policy();
