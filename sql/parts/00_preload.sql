-- hublink install script. Built by scripts/build-install-sql from sql/parts/*.sql and the
-- generated schema rows; do not edit sql/hublink--0.1.0.sql by hand.

\echo Use "CREATE EXTENSION hublink" to load this file. \quit

-- Refuse to install unless the library was preloaded: the worker cannot run otherwise.
CREATE FUNCTION hublink.assert_preloaded() RETURNS void
    LANGUAGE c STRICT
    AS 'MODULE_PATHNAME', 'hublink_assert_preloaded';
COMMENT ON FUNCTION hublink.assert_preloaded() IS
    'Raises an error unless hublink is in shared_preload_libraries; run first by CREATE EXTENSION.';
SELECT hublink.assert_preloaded();
