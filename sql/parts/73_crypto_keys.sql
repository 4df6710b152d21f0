-- Personal data encryption, the keys (issue 6 section 2; NFR 0011, docs/security-crypto.md).
--
-- Every removal's personal data is sealed (pgcrypto, OpenPGP symmetric, AES-256) under a data
-- key of its own, a random 256-bit key made on first sight of the removal reference. Data keys
-- are stored only wrapped (sealed) by a master key; the master keys are never in a table or a
-- query text: hublink.master_keys() (extension/crypto_key.c) reads them from the file named by
-- hublink.master_key_file, which only the server's user may read. Destroying a data key makes
-- the removal's data unreadable for good (crypto-shredding, 75_crypto_retention.sql), and a
-- new master key re-wraps the data keys without touching the data (hublink.rotate_master_key).

CREATE FUNCTION hublink.master_keys() RETURNS bytea[]
    LANGUAGE c STRICT VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_master_keys';
COMMENT ON FUNCTION hublink.master_keys() IS
    'The master keys of hublink.master_key_file, oldest first, the current one last. Only the '
    'key functions below call it; revoked from PUBLIC.';
REVOKE ALL ON FUNCTION hublink.master_keys() FROM PUBLIC;

CREATE FUNCTION hublink.create_master_key_file() RETURNS boolean
    LANGUAGE c STRICT VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_create_master_key_file';
COMMENT ON FUNCTION hublink.create_master_key_file() IS
    'Writes a new random master key to hublink.master_key_file (mode 0600) when that file does '
    'not exist; never overwrites one. True when it wrote a file. Revoked from PUBLIC.';
REVOKE ALL ON FUNCTION hublink.create_master_key_file() FROM PUBLIC;

-- The extension requires pgcrypto but cannot know its schema when this script is written
-- (@extschema:pgcrypto@ needs PostgreSQL 16): the wrappers that call it are made here,
-- schema-qualified, and everything else calls them. PL/pgSQL, not SQL: a SQL function with SET
-- is never inlined, and each call in a new (sub)transaction read its stored body and planned
-- it again; sealing calls them several times per message (docs/performance.md "Per-message
-- cost, third pass"). sql/updates/0.1.0--0.2.0/65_message_cost.sql makes them the same way.
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
COMMENT ON FUNCTION hublink.crypto_encrypt(bytea, bytea) IS
    'Seals bytes under a 256-bit key: OpenPGP symmetric, AES-256, integrity-protected, no '
    'compression (compressed size would tell about the content). Internal; revoked from PUBLIC.';
COMMENT ON FUNCTION hublink.crypto_decrypt(bytea, bytea) IS
    'Opens what hublink.crypto_encrypt sealed; fails on a wrong key or altered bytes. Internal.';
COMMENT ON FUNCTION hublink.crypto_key_id(bytea) IS
    'The identifier of a master key: the first 16 hex digits of its SHA-256 (tells which key '
    'wrapped a data key without revealing it).';
COMMENT ON FUNCTION hublink.crypto_random_key() IS 'A new random 256-bit data key. Internal.';
REVOKE ALL ON FUNCTION hublink.crypto_encrypt(bytea, bytea), hublink.crypto_decrypt(bytea, bytea),
    hublink.crypto_random_key() FROM PUBLIC;

CREATE TABLE hublink.data_key (
    key_scope     text PRIMARY KEY CHECK (key_scope <> ''),
    wrapped_key   bytea NOT NULL,
    master_key_id text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    rewrapped_at  timestamptz
);
COMMENT ON TABLE hublink.data_key IS
    'The data keys, one per removal (NFR 0011), wrapped by a master key. Deleting a row '
    'destroys the removal''s personal data for good (crypto-shredding, NFR 0012). Only the key '
    'functions read it.';
COMMENT ON COLUMN hublink.data_key.key_scope IS
    'What the key seals: a removal reference (RMV-...), or at a travel provider "booking '
    '<ref>" for a booking whose removal is not known.';
COMMENT ON COLUMN hublink.data_key.wrapped_key IS 'The data key sealed by the master key master_key_id.';
COMMENT ON COLUMN hublink.data_key.master_key_id IS 'hublink.crypto_key_id of the master key that wrapped it.';
COMMENT ON COLUMN hublink.data_key.created_at IS 'When the key was made (first sight of the removal).';
COMMENT ON COLUMN hublink.data_key.rewrapped_at IS 'When a master key rotation last re-wrapped it.';
-- A destroyed key's dead tuple still holds its wrapped bytes until vacuum: vacuum soon.
ALTER TABLE hublink.data_key SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0);
REVOKE ALL ON hublink.data_key FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('hublink.data_key', '');

-- The master keys that ever wrapped a data key, one row each (docs/security-crypto.md,
-- "Erasure and backups"). A copy of the database made while a master key was in use (a base
-- backup, archived WAL, a standby, a dump) holds data keys wrapped by it; a destroyed data key
-- stays readable from such a copy for as long as that master key exists. So an erasure is
-- complete against every copy once each master key in use up to the erasure is destroyed:
-- hublink.data_key_erasure says which still are not.
CREATE TABLE hublink.data_key_master (
    master_key_id text PRIMARY KEY,
    first_used_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    retired_at    timestamptz,
    destroyed_at  timestamptz,
    destroyed_by  text,
    CHECK ((destroyed_at IS NULL) = (destroyed_by IS NULL)),
    CHECK (destroyed_at IS NULL OR retired_at IS NOT NULL)
);
COMMENT ON TABLE hublink.data_key_master IS
    'Each master key that wrapped a data key (by its id, never the key): when it was first used, '
    'when hublink.rotate_master_key left no data key wrapped by it, and when an admin confirmed '
    'with hublink.master_key_destroyed that it is gone from the key file and from every copy of it. '
    'hublink.data_key_erasure reads it.';
COMMENT ON COLUMN hublink.data_key_master.master_key_id IS 'hublink.crypto_key_id of the master key.';
COMMENT ON COLUMN hublink.data_key_master.first_used_at IS 'When it first wrapped a data key.';
COMMENT ON COLUMN hublink.data_key_master.retired_at IS
    'When a rotation re-wrapped the last data key it wrapped; NULL while it is in use.';
COMMENT ON COLUMN hublink.data_key_master.destroyed_at IS
    'When an admin recorded its destruction (hublink.master_key_destroyed); NULL: it may still exist.';
COMMENT ON COLUMN hublink.data_key_master.destroyed_by IS 'Who recorded it.';
REVOKE ALL ON hublink.data_key_master FROM PUBLIC;
GRANT SELECT ON hublink.data_key_master TO hublink_admin;
SELECT pg_catalog.pg_extension_config_dump('hublink.data_key_master', '');

-- The master key with the given id (NULL: the current one, the file's last line). In C: it
-- keeps the keys of the file while the file is unchanged (extension/crypto_key.c,
-- docs/security-crypto.md "What is cached"), where reading and hashing them in SQL on every
-- call cost a third of sealing (docs/performance.md "Per-message cost, third pass").
CREATE FUNCTION hublink.master_key(p_key_id text, OUT key_id text, OUT key bytea)
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_master_key';
COMMENT ON FUNCTION hublink.master_key(text) IS
    'A master key read from hublink.master_key_file, by id, or the current one for NULL. Raises '
    'when the file no longer holds it. Internal.';
REVOKE ALL ON FUNCTION hublink.master_key(text) FROM PUBLIC;

-- Unwrapped data keys kept until the end of the transaction (extension/data_key_cache.c): a
-- message's key is needed three times in its transaction. An entry matches only the row of
-- hublink.data_key it was made from (scope, master key id and wrapped bytes), only while the
-- key file holds its master key, and is wiped by any DELETE or UPDATE of hublink.data_key and at
-- the end of the transaction (docs/security-crypto.md "What is cached").
CREATE FUNCTION hublink.data_key_cached(p_scope text, p_master_key_id text, p_wrapped bytea) RETURNS bytea
    LANGUAGE c STRICT VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_data_key_cached';
COMMENT ON FUNCTION hublink.data_key_cached(text, text, bytea) IS
    'The data key this transaction already unwrapped or made for exactly this row of '
    'hublink.data_key, or NULL. Raises when the master key is no longer in the key file. Internal.';
REVOKE ALL ON FUNCTION hublink.data_key_cached(text, text, bytea) FROM PUBLIC;

CREATE FUNCTION hublink.data_key_remember(p_scope text, p_master_key_id text, p_wrapped bytea, p_key bytea)
    RETURNS void
    LANGUAGE c STRICT VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_data_key_remember';
COMMENT ON FUNCTION hublink.data_key_remember(text, text, bytea, bytea) IS
    'Keeps the unwrapped key of a row of hublink.data_key until the end of the transaction '
    '(hublink.data_key_cached finds it). Internal.';
REVOKE ALL ON FUNCTION hublink.data_key_remember(text, text, bytea, bytea) FROM PUBLIC;

CREATE FUNCTION hublink.data_key_cache_wipe() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'hublink_data_key_cache_wipe';
COMMENT ON FUNCTION hublink.data_key_cache_wipe() IS
    'Statement trigger on hublink.data_key: wipes every data key this backend keeps, so an '
    'erased or re-wrapped key is not held for the rest of the transaction.';
REVOKE ALL ON FUNCTION hublink.data_key_cache_wipe() FROM PUBLIC;

CREATE TRIGGER data_key_cache_wipe AFTER UPDATE OR DELETE ON hublink.data_key
    FOR EACH STATEMENT EXECUTE FUNCTION hublink.data_key_cache_wipe();
COMMENT ON TRIGGER data_key_cache_wipe ON hublink.data_key IS
    'Wipes the unwrapped data keys kept by this transaction after any change or erasure of a key.';
ALTER TABLE hublink.data_key ENABLE ALWAYS TRIGGER data_key_cache_wipe;

CREATE FUNCTION hublink.crypto_cache_stats(OUT master_key_file_reads bigint, OUT master_key_reuses bigint,
                                           OUT data_key_hits bigint, OUT data_key_misses bigint,
                                           OUT data_key_wipes bigint, OUT data_keys_held integer)
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'hublink_crypto_cache_stats';
COMMENT ON FUNCTION hublink.crypto_cache_stats() IS
    'This backend''s key caches since it started: master key file reads and reuses, data key '
    'hits and misses, wipes, and the data keys it holds now (none outside a transaction). For '
    'tests and benchmarks; no key material. Internal.';
REVOKE ALL ON FUNCTION hublink.crypto_cache_stats() FROM PUBLIC;

CREATE FUNCTION hublink.data_key_for(p_scope text, p_create boolean) RETURNS bytea
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k       hublink.data_key;
    m       record;
    fresh   bytea;
    wrapped bytea;
BEGIN
    SELECT * INTO k FROM hublink.data_key d WHERE d.key_scope = p_scope;
    IF NOT FOUND AND p_create THEN
        m := hublink.master_key(NULL);
        fresh := hublink.crypto_random_key();
        wrapped := hublink.crypto_encrypt(fresh, m.key);
        INSERT INTO hublink.data_key (key_scope, wrapped_key, master_key_id)
        VALUES (p_scope, wrapped, m.key_id)
        ON CONFLICT (key_scope) DO NOTHING;
        IF FOUND THEN
            -- The erasure status needs every master key that ever wrapped a data key.
            INSERT INTO hublink.data_key_master (master_key_id) VALUES (m.key_id)
            ON CONFLICT (master_key_id) DO NOTHING;
            PERFORM hublink.data_key_remember(p_scope, m.key_id, wrapped, fresh);
            RETURN fresh;
        END IF;
        -- Another transaction made it first: use theirs.
        SELECT * INTO k FROM hublink.data_key d WHERE d.key_scope = p_scope;
    END IF;
    IF k.key_scope IS NULL THEN
        RAISE EXCEPTION 'no data key for "%"', p_scope
            USING ERRCODE = 'HL060',
                  DETAIL = 'The personal data sealed under it was destroyed by the retention purge, or never existed.',
                  HINT = 'hublink.purge_log tells when and under which policy a removal was purged.';
    END IF;
    -- Only for the row just read, and only while its master key is in the key file.
    fresh := hublink.data_key_cached(k.key_scope, k.master_key_id, k.wrapped_key);
    IF fresh IS NULL THEN
        fresh := hublink.crypto_decrypt(k.wrapped_key, (hublink.master_key(k.master_key_id)).key);
        PERFORM hublink.data_key_remember(k.key_scope, k.master_key_id, k.wrapped_key, fresh);
    END IF;
    RETURN fresh;
END;
$$;
COMMENT ON FUNCTION hublink.data_key_for(text, boolean) IS
    'The data key of a scope (a removal reference), unwrapped; made when missing and p_create. '
    'Raises HL060 when it was destroyed. Keeps the unwrapped key for the rest of the transaction '
    '(hublink.data_key_cached). Internal.';
REVOKE ALL ON FUNCTION hublink.data_key_for(text, boolean) FROM PUBLIC;

-- PL/pgSQL, not SQL: the worker calls it on every message, each in a subtransaction of its own,
-- where a SQL function with SET is parsed and planned again (docs/performance.md).
CREATE FUNCTION hublink.seal(p_scope text, p_value jsonb) RETURNS bytea
    LANGUAGE plpgsql STRICT VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN hublink.crypto_encrypt(pg_catalog.convert_to(p_value::text, 'UTF8'),
                                  hublink.data_key_for(p_scope, true));
END;
$$;
COMMENT ON FUNCTION hublink.seal(text, jsonb) IS
    'Seals a JSON value under the data key of p_scope (made on first use). Internal: the seal '
    'triggers call it.';
REVOKE ALL ON FUNCTION hublink.seal(text, jsonb) FROM PUBLIC;

-- PL/pgSQL, not SQL: the worker calls it on every message, each in a subtransaction of its own,
-- where a SQL function with SET is parsed and planned again (docs/performance.md).
CREATE FUNCTION hublink.unseal(p_scope text, p_sealed bytea) RETURNS jsonb
    LANGUAGE plpgsql STRICT VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RETURN pg_catalog.convert_from(hublink.crypto_decrypt(p_sealed, hublink.data_key_for(p_scope, false)),
                                   'UTF8')::jsonb;
END;
$$;
COMMENT ON FUNCTION hublink.unseal(text, bytea) IS
    'Opens a value sealed by hublink.seal. Not audited by itself: the authorised reads '
    '(hublink.unsealed and the functions of 74_crypto_seal.sql) audit. Internal.';
REVOKE ALL ON FUNCTION hublink.unseal(text, bytea) FROM PUBLIC;

INSERT INTO hublink.audit_action VALUES
    ('master_key_rotation', 'The data keys were re-wrapped by a new master key (hublink.rotate_master_key).');

CREATE FUNCTION hublink.rotate_master_key() RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m     record := hublink.master_key(NULL);
    k     hublink.data_key;
    n     integer := 0;
    used  jsonb;
BEGIN
    SELECT pg_catalog.jsonb_object_agg(s.master_key_id, s.n) INTO used
      FROM (SELECT d.master_key_id, pg_catalog.count(*) AS n FROM hublink.data_key d
             WHERE d.master_key_id <> m.key_id GROUP BY 1) s;
    FOR k IN SELECT * FROM hublink.data_key d WHERE d.master_key_id <> m.key_id FOR UPDATE LOOP
        UPDATE hublink.data_key d
           SET wrapped_key = hublink.crypto_encrypt(
                   hublink.crypto_decrypt(k.wrapped_key, (hublink.master_key(k.master_key_id)).key), m.key),
               master_key_id = m.key_id, rewrapped_at = pg_catalog.now()
         WHERE d.key_scope = k.key_scope;
        n := n + 1;
    END LOOP;
    INSERT INTO hublink.data_key_master (master_key_id) VALUES (m.key_id)
    ON CONFLICT (master_key_id) DO UPDATE SET retired_at = NULL
        WHERE hublink.data_key_master.destroyed_at IS NULL;
    -- The keys it replaced now wrap nothing: copies made from now on no longer need them.
    UPDATE hublink.data_key_master g SET retired_at = pg_catalog.clock_timestamp()
     WHERE g.retired_at IS NULL AND g.master_key_id <> m.key_id
       AND NOT EXISTS (SELECT FROM hublink.data_key d WHERE d.master_key_id = g.master_key_id);
    PERFORM hublink.audit_note('master_key_rotation', NULL,
        pg_catalog.jsonb_build_object('new_master_key_id', m.key_id, 'rewrapped', n,
                                      'previous_master_key_ids', coalesce(used, '{}')));
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.rotate_master_key() IS
    'Re-wraps every data key not wrapped by the current master key (the last line of '
    'hublink.master_key_file) with it; the sealed data is not touched. The older keys must '
    'still be in the file; remove them after this returns. Marks the keys it replaced retired in '
    'hublink.data_key_master. Returns how many keys it re-wrapped; audited (master_key_rotation).';
REVOKE ALL ON FUNCTION hublink.rotate_master_key() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.rotate_master_key() TO hublink_admin;

-- A new installation can seal at once: the first CREATE EXTENSION of the cluster writes a key
-- file where hublink.master_key_file points (the data directory by default) if none is there.
SELECT hublink.create_master_key_file();
