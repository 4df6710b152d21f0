-- 0.2.0: the cost of a burst, fifth pass (issue 15 section 3; docs/performance.md "Fifth pass").

-- The audit chain's canonical text in PL/pgSQL (the same expression, so the same text and the
-- same hashes): the seal calls it for every audit row at commit, and as a SQL function with
-- SET it set up an executor for each row. The seal finds its rows by the primary key even when
-- audit_log's statistics are stale (it scanned the whole log at every commit of a burst).
-- @function hublink.audit_canonical
-- @function hublink.audit_seal
