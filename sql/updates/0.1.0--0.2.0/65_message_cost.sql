-- 0.2.0: the cost of applying one message, third pass (issue 15 section 3; docs/performance.md
-- "Per-message cost, third pass", docs/security-crypto.md "What is cached").

-- The master keys in C, kept while the key file is unchanged; unwrapped data keys kept for the
-- rest of the transaction, matched to the row they came from and wiped by any change of
-- hublink.data_key and at the end of the transaction. hublink.master_key changes language (it
-- was PL/pgSQL, SECURITY DEFINER): the C function reads only the key file, so it runs with the
-- caller's rights; it stays revoked from PUBLIC.
-- The pgcrypto wrappers in PL/pgSQL (sealing calls them several times per message; as SQL with
-- SET each call read its stored body and planned it again). Made by the same block as in
-- sql/parts/73_crypto_keys.sql, which names pgcrypto's schema (not known when the script is
-- written, so the build's -- @function cannot copy them); their comments and grants stay.
DO $$
DECLARE
    s text := (SELECT n.nspname FROM pg_catalog.pg_extension e
                 JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                WHERE e.extname = 'pgcrypto');
BEGIN
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION hublink.crypto_encrypt(p_data bytea, p_key bytea) RETURNS bytea
            LANGUAGE plpgsql STRICT VOLATILE
            SET search_path = pg_catalog, pg_temp
            AS $b$
        BEGIN
            RETURN %1$I.pgp_sym_encrypt_bytea(p_data, pg_catalog.encode(p_key, 'hex'),
                                              'cipher-algo=aes256, compress-algo=0, s2k-mode=1');
        END;
        $b$
        $f$, s);
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION hublink.crypto_decrypt(p_data bytea, p_key bytea) RETURNS bytea
            LANGUAGE plpgsql STRICT VOLATILE
            SET search_path = pg_catalog, pg_temp
            AS $b$
        BEGIN
            RETURN %1$I.pgp_sym_decrypt_bytea(p_data, pg_catalog.encode(p_key, 'hex'));
        END;
        $b$
        $f$, s);
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION hublink.crypto_key_id(p_key bytea) RETURNS text
            LANGUAGE sql STRICT IMMUTABLE
            SET search_path = pg_catalog, pg_temp
            RETURN pg_catalog.left(pg_catalog.encode(%1$I.digest(p_key, 'sha256'), 'hex'), 16)$f$, s);
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION hublink.crypto_random_key() RETURNS bytea
            LANGUAGE plpgsql VOLATILE
            SET search_path = pg_catalog, pg_temp
            AS $b$
        BEGIN
            RETURN %1$I.gen_random_bytes(32);
        END;
        $b$
        $f$, s);
END;
$$;

-- @function hublink.master_key
-- @function hublink.data_key_cached
-- @function hublink.data_key_remember
-- @function hublink.data_key_cache_wipe
-- @function hublink.crypto_cache_stats
-- @function hublink.data_key_for
REVOKE ALL ON FUNCTION hublink.data_key_cached(text, text, bytea), hublink.data_key_remember(text, text, bytea, bytea),
    hublink.data_key_cache_wipe(), hublink.crypto_cache_stats() FROM PUBLIC;
-- @trigger hublink.data_key.data_key_cache_wipe
ALTER TABLE hublink.data_key ENABLE ALWAYS TRIGGER data_key_cache_wipe;

-- The audit trigger and the seal's WHEN condition in C (extension/audit_trigger.c): the same rows,
-- byte for byte (test/sql/71_audit_trigger_c.sql), without interpreting PL/pgSQL on every row.
-- The triggers that call them keep their arguments.
-- @function hublink.audit_seal_needed
-- @function hublink.audit_row_change

SELECT hublink.apply_access_policy();
