-- The key caches as an attacker would try them (issue 15 section 3; docs/security-crypto.md
-- "What is cached"): the master keys kept while the key file is unchanged, and the unwrapped
-- data keys kept for the rest of a transaction. A destroyed data key must never be usable from
-- the cache: not after an erasure, not after a superuser deletes the row with the cache's
-- trigger disabled, not after a savepoint that made it is rolled back; a master key removed
-- from the file stops its data opening at once, in the same transaction. Each refusal comes
-- after a read that was served from the cache (hublink.crypto_cache_stats tells), so the cache
-- was there to be misused. The key file is not transactional: the test writes it back.
-- (78_crypto_key_cache_end.sh: every kept key is wiped at the end of the transaction.)
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(21);

CREATE TABLE hublink_test.c (k text PRIMARY KEY, v text);
INSERT INTO hublink_test.c VALUES
    ('path', CASE WHEN current_setting('hublink.master_key_file') LIKE '/%' THEN current_setting('hublink.master_key_file')
                  ELSE current_setting('data_directory') || '/' || current_setting('hublink.master_key_file') END),
    ('old', encode((hublink.master_keys())[1], 'hex')),
    ('other', encode(hublink.crypto_random_key(), 'hex'));
CREATE FUNCTION hublink_test.write_keys(VARIADIC names text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('COPY (SELECT c.v FROM unnest(%L::text[]) WITH ORDINALITY n(k, i) JOIN hublink_test.c c USING (k) ORDER BY i) TO %L',
                   names, (SELECT v FROM hublink_test.c WHERE k = 'path'));
END $$;
CREATE FUNCTION hublink_test.removal(p_case text) RETURNS text LANGUAGE sql AS $$
    SELECT hublink.create_removal(p_case, format($j$[
     {"personalDetails": {"hoReturneeReference": "HO-%s", "name": {"givenNames": "Kasia", "familyName": "Cachewska"},
                          "dateOfBirth": "1981-01-08", "nationality": "POL", "gender": "F"},
      "travelDocuments": [{"type": "PASSPORT", "number": "P%s", "issuingCountry": "POL", "expiryDate": "2032-02-29"}],
      "location": {"detentionCentreId": "HARMONDSWORTH_IRC"}, "risk": {"flags": []}}]$j$, p_case, p_case)::jsonb,
     '2026-03-16', '2026-03-20', '{"description": "Warsaw", "country": "POL", "airportCode": "WAW"}')
$$;
-- The counters of this backend's caches, by name.
CREATE FUNCTION hublink_test.stat(p_name text) RETURNS bigint LANGUAGE sql AS $$
    SELECT (to_jsonb(s) ->> p_name)::bigint FROM hublink.crypto_cache_stats() s
$$;

-- 1. The cache is used: a removal's key made in this transaction opens its data without an unwrap.
INSERT INTO hublink_test.c SELECT 'r1', hublink_test.removal('78001');
INSERT INTO hublink_test.c SELECT 'sealed1', encode(hublink.seal((SELECT v FROM hublink_test.c WHERE k = 'r1'), '"kept 78001"'), 'hex');
INSERT INTO hublink_test.c SELECT 'hits', hublink_test.stat('data_key_hits');
SELECT is(hublink.unseal((SELECT v FROM hublink_test.c WHERE k = 'r1'), decode((SELECT v FROM hublink_test.c WHERE k = 'sealed1'), 'hex')),
          '"kept 78001"', 'a value sealed in this transaction opens');
SELECT cmp_ok(hublink_test.stat('data_key_hits'), '>', (SELECT v FROM hublink_test.c WHERE k = 'hits')::bigint,
              'and its data key came from the cache (a hit, no unwrap)');
SELECT cmp_ok(hublink_test.stat('data_keys_held'), '>', 0::bigint, 'the transaction holds data keys');

-- 2. An erasure: the key is wiped from the cache at once and nothing opens the data any more.
INSERT INTO hublink_test.c SELECT 'wipes', hublink_test.stat('data_key_wipes');
\o /dev/null
SELECT hublink.erase_removal((SELECT v FROM hublink_test.c WHERE k = 'r1'), 'Direction 78/1');
\o
SELECT is(hublink_test.stat('data_keys_held'), 0::bigint, 'an erasure wipes every kept data key');
SELECT cmp_ok(hublink_test.stat('data_key_wipes'), '>', (SELECT v FROM hublink_test.c WHERE k = 'wipes')::bigint,
              'by the trigger on hublink.data_key');
SELECT throws_ok($$SELECT hublink.unseal((SELECT v FROM hublink_test.c WHERE k = 'r1'), decode((SELECT v FROM hublink_test.c WHERE k = 'sealed1'), 'hex'))$$,
                 'HL060', NULL, 'the erased removal''s data no longer opens in the same transaction');
SELECT throws_ok($$SELECT hublink.data_key_for((SELECT v FROM hublink_test.c WHERE k = 'r1'), false)$$,
                 'HL060', NULL, 'nor is its key handed out');

-- 3. A superuser deletes a key row with the cache's trigger disabled: the kept key is still in
-- memory, but it is only ever handed out for the row it came from, which is gone.
INSERT INTO hublink_test.c SELECT 'r2', hublink_test.removal('78002');
INSERT INTO hublink_test.c SELECT 'sealed2', encode(hublink.seal((SELECT v FROM hublink_test.c WHERE k = 'r2'), '"kept 78002"'), 'hex');
SELECT is(hublink.unseal((SELECT v FROM hublink_test.c WHERE k = 'r2'), decode((SELECT v FROM hublink_test.c WHERE k = 'sealed2'), 'hex')),
          '"kept 78002"', 'a second removal''s value opens (from the cache)');
ALTER TABLE hublink.data_key DISABLE TRIGGER data_key_cache_wipe;
DELETE FROM hublink.data_key WHERE key_scope = (SELECT v FROM hublink_test.c WHERE k = 'r2');
ALTER TABLE hublink.data_key ENABLE ALWAYS TRIGGER data_key_cache_wipe;
SELECT cmp_ok(hublink_test.stat('data_keys_held'), '>', 0::bigint, 'with the trigger off, the key is still held in memory');
SELECT throws_ok($$SELECT hublink.unseal((SELECT v FROM hublink_test.c WHERE k = 'r2'), decode((SELECT v FROM hublink_test.c WHERE k = 'sealed2'), 'hex'))$$,
                 'HL060', NULL, 'yet the deleted key opens nothing');
-- The row put back with other wrapped bytes (another key): the kept key does not match it.
INSERT INTO hublink.data_key (key_scope, wrapped_key, master_key_id)
SELECT (SELECT v FROM hublink_test.c WHERE k = 'r2'), hublink.crypto_encrypt(hublink.crypto_random_key(), m.key), m.key_id
  FROM hublink.master_key(NULL) m;
SELECT throws_ok($$SELECT hublink.unseal((SELECT v FROM hublink_test.c WHERE k = 'r2'), decode((SELECT v FROM hublink_test.c WHERE k = 'sealed2'), 'hex'))$$,
                 '39000', NULL, 'nor does a new key row for the same removal let the old key back in');

-- 4. A savepoint that made a key is rolled back: the next seal must make and store a key again,
-- never reuse the one that was rolled back (whose data nobody could open after commit).
SAVEPOINT made;
INSERT INTO hublink_test.c SELECT 'sealed3a', encode(hublink.seal('RMV-78-SAVEPOINT', '"first"'), 'hex');
SELECT 'sealed3a' AS k, v AS v FROM hublink_test.c WHERE k = 'sealed3a' \gset s3a_
ROLLBACK TO SAVEPOINT made;
INSERT INTO hublink_test.c VALUES ('sealed3a', :'s3a_v');
INSERT INTO hublink_test.c SELECT 'sealed3b', encode(hublink.seal('RMV-78-SAVEPOINT', '"second"'), 'hex');
SELECT is((SELECT count(*)::int FROM hublink.data_key WHERE key_scope = 'RMV-78-SAVEPOINT'), 1,
          'after a rolled-back savepoint, sealing again stores a new key');
SELECT is(hublink.unseal('RMV-78-SAVEPOINT', decode((SELECT v FROM hublink_test.c WHERE k = 'sealed3b'), 'hex')), '"second"',
          'what it sealed opens');
SELECT throws_ok($$SELECT hublink.unseal('RMV-78-SAVEPOINT', decode((SELECT v FROM hublink_test.c WHERE k = 'sealed3a'), 'hex'))$$,
                 '39000', NULL, 'and what the rolled-back key sealed does not');

-- 5. The master key file: read once, then reused while unchanged; a master key taken out of
-- the file stops the data it wraps opening at once, even with the data key in the cache.
INSERT INTO hublink_test.c SELECT 'r5', hublink_test.removal('78005');
INSERT INTO hublink_test.c SELECT 'sealed5', encode(hublink.seal((SELECT v FROM hublink_test.c WHERE k = 'r5'), '"kept 78005"'), 'hex');
SELECT is(hublink.unseal((SELECT v FROM hublink_test.c WHERE k = 'r5'), decode((SELECT v FROM hublink_test.c WHERE k = 'sealed5'), 'hex')),
          '"kept 78005"', 'a value opens with its key in the cache');
INSERT INTO hublink_test.c SELECT 'reads', hublink_test.stat('master_key_file_reads');
SELECT hublink_test.write_keys('other');
SELECT throws_ok($$SELECT hublink.unseal((SELECT v FROM hublink_test.c WHERE k = 'r5'), decode((SELECT v FROM hublink_test.c WHERE k = 'sealed5'), 'hex'))$$,
                 '22023', NULL, 'with its master key gone from the file, it no longer opens in the same transaction');
SELECT cmp_ok(hublink_test.stat('master_key_file_reads'), '>', (SELECT v FROM hublink_test.c WHERE k = 'reads')::bigint,
              'the changed file was read again');
SELECT throws_ok($$SELECT hublink.data_key_cached((SELECT v FROM hublink_test.c WHERE k = 'r5'), k.master_key_id, k.wrapped_key)
                     FROM hublink.data_key k WHERE k.key_scope = (SELECT v FROM hublink_test.c WHERE k = 'r5')$$,
                 '22023', NULL, 'the cache itself refuses a key whose master key left the file');
SELECT hublink_test.write_keys('old');
SELECT is(hublink.unseal((SELECT v FROM hublink_test.c WHERE k = 'r5'), decode((SELECT v FROM hublink_test.c WHERE k = 'sealed5'), 'hex')),
          '"kept 78005"', 'with the key written back, it opens again');
SELECT is(encode((hublink.master_keys())[1], 'hex'), (SELECT v FROM hublink_test.c WHERE k = 'old'),
          'the original key file is written back');

-- 6. Nobody but the owner reaches the caches.
SELECT ok(NOT has_function_privilege('hublink_admin', 'hublink.data_key_cached(text,text,bytea)', 'EXECUTE')
          AND NOT has_function_privilege('hublink_worker', 'hublink.data_key_remember(text,text,bytea,bytea)', 'EXECUTE')
          AND NOT has_function_privilege('hublink_admin', 'hublink.master_key(text)', 'EXECUTE'),
          'the cache functions are the owner''s only');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o
