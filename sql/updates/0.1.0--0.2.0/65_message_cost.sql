-- 0.2.0: the cost of applying one message, third pass (issue 15 section 3; docs/performance.md
-- "Per-message cost, third pass", docs/security-crypto.md "What is cached").

-- The master keys in C, kept while the key file is unchanged; unwrapped data keys kept for the
-- rest of the transaction, matched to the row they came from and wiped by any change of
-- hublink.data_key and at the end of the transaction. hublink.master_key changes language (it
-- was PL/pgSQL, SECURITY DEFINER): the C function reads only the key file, so it runs with the
-- caller's rights; it stays revoked from PUBLIC.
-- @function hublink.master_key
-- @function hublink.data_key_cached
-- @function hublink.data_key_remember
-- @function hublink.data_key_cache_wipe
-- @function hublink.crypto_cache_stats
-- @function hublink.data_key_for
REVOKE ALL ON FUNCTION hublink.data_key_cached(text, text, bytea), hublink.data_key_remember(text, text, bytea, bytea),
    hublink.data_key_cache_wipe(), hublink.crypto_cache_stats() FROM PUBLIC;
CREATE TRIGGER data_key_cache_wipe AFTER UPDATE OR DELETE ON hublink.data_key
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.data_key_cache_wipe();
COMMENT ON TRIGGER data_key_cache_wipe ON hublink.data_key IS
    'Wipes the unwrapped data keys kept by this transaction after any change or erasure of a key.';
ALTER TABLE hublink.data_key ENABLE ALWAYS TRIGGER data_key_cache_wipe;

-- The audit trigger and the seal's WHEN condition in C (extension/audit_trigger.c): the same rows,
-- byte for byte (test/sql/71_audit_trigger_c.sql), without interpreting PL/pgSQL on every row.
-- The triggers that call them keep their arguments.
-- @function hublink.audit_seal_needed
-- @function hublink.audit_row_change

SELECT hublink.apply_access_policy();
