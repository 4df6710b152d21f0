-- What an erasure guarantees against copies of the database (issue 12 section 5,
-- docs/security-crypto.md "Erasure and backups"): every master key that wrapped a data key is
-- in hublink.data_key_master; hublink.data_key_erasure lists, per destruction of data keys (a
-- removal erased or purged, an escort erased), the master keys first used up to then and not
-- recorded destroyed; hublink.master_key_destroyed records one only once no data key is wrapped
-- by it and the key file no longer holds it; a key first used after an erasure never holds it
-- back. The key file is not transactional: the test writes the original key back before it ends.
-- (test/security/crypto/erasure restores a real base backup and archived WAL before and after.)
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(18);

CREATE TABLE hublink_test.e (k text PRIMARY KEY, v text);
INSERT INTO hublink_test.e VALUES
    ('path', CASE WHEN current_setting('hublink.master_key_file') LIKE '/%' THEN current_setting('hublink.master_key_file')
                  ELSE current_setting('data_directory') || '/' || current_setting('hublink.master_key_file') END),
    ('old', encode((hublink.master_keys())[1], 'hex')),
    ('new', encode(hublink.crypto_random_key(), 'hex'));
INSERT INTO hublink_test.e VALUES ('old_id', hublink.crypto_key_id(decode((SELECT v FROM hublink_test.e WHERE k = 'old'), 'hex'))),
                                  ('new_id', hublink.crypto_key_id(decode((SELECT v FROM hublink_test.e WHERE k = 'new'), 'hex')));
CREATE FUNCTION hublink_test.write_keys(VARIADIC names text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('COPY (SELECT e.v FROM unnest(%L::text[]) WITH ORDINALITY n(k, i) JOIN hublink_test.e e USING (k) ORDER BY i) TO %L',
                   names, (SELECT v FROM hublink_test.e WHERE k = 'path'));
END $$;
CREATE FUNCTION hublink_test.removal(p_case text) RETURNS text LANGUAGE sql AS $$
    SELECT hublink.create_removal(p_case, format($j$[
     {"personalDetails": {"hoReturneeReference": "HO-%s", "name": {"givenNames": "Ida", "familyName": "Erasmus"},
                          "dateOfBirth": "1979-09-09", "nationality": "NLD", "gender": "F"},
      "travelDocuments": [{"type": "PASSPORT", "number": "P%s", "issuingCountry": "NLD", "expiryDate": "2032-02-29"}],
      "location": {"detentionCentreId": "HARMONDSWORTH_IRC"}, "risk": {"flags": []}}]$j$, p_case, p_case)::jsonb,
     '2026-03-16', '2026-03-20', '{"description": "Amsterdam", "country": "NLD", "airportCode": "AMS"}')
$$;

INSERT INTO hublink_test.e SELECT 'r0', hublink_test.removal('77000');  -- kept
INSERT INTO hublink_test.e SELECT 'r1', hublink_test.removal('77001');
SELECT ok(EXISTS (SELECT FROM hublink.data_key_master WHERE master_key_id = (SELECT v FROM hublink_test.e WHERE k = 'old_id')
                     AND retired_at IS NULL AND destroyed_at IS NULL),
          'the master key that wraps a new data key is in hublink.data_key_master, in use');
\o /dev/null
SELECT hublink.erase_removal((SELECT v FROM hublink_test.e WHERE k = 'r1'), 'Direction 77/1');
\o
SELECT is((SELECT complete::text || ':' || array_to_string(master_keys_to_destroy, ',') FROM hublink.data_key_erasure
            WHERE key_scope = (SELECT v FROM hublink_test.e WHERE k = 'r1')),
          'false:' || (SELECT v FROM hublink_test.e WHERE k = 'old_id'),
          'an erasure is incomplete while the master key in use then exists, and names it');
-- An escort erased at an escort provider is tracked the same way.
INSERT INTO hublink.esp_escort (escort_id, gender, physique, languages) VALUES ('E-ERASE-77', 'F', 'STANDARD', '{en}');
\o /dev/null
SELECT hublink.esp_erase_escort('E-ERASE-77', 'Left the service');
\o
SELECT is((SELECT data_class || ':' || complete::text FROM hublink.data_key_erasure WHERE key_scope = 'escort E-ERASE-77'),
          'escort:false', 'an escort''s erasure is tracked too');

SELECT throws_ok($$SELECT hublink.master_key_destroyed((SELECT v FROM hublink_test.e WHERE k = 'old_id'))$$, '55006',
                 NULL, 'master_key_destroyed is refused while data keys are wrapped by the key');
SELECT throws_ok($$SELECT hublink.master_key_destroyed('0000000000000000')$$, 'P0002',
                 'master key 0000000000000000 never wrapped a data key here', 'or for a key that never wrapped one');

\o /dev/null
SELECT hublink_test.write_keys('old', 'new');
\o
SELECT ok(hublink.rotate_master_key() > 0, 'a new key is appended and every data key re-wrapped');
SELECT is((SELECT (retired_at IS NOT NULL)::text FROM hublink.data_key_master WHERE master_key_id = (SELECT v FROM hublink_test.e WHERE k = 'old_id')),
          'true', 'the old key is retired');
SELECT is((SELECT (retired_at IS NULL)::text FROM hublink.data_key_master WHERE master_key_id = (SELECT v FROM hublink_test.e WHERE k = 'new_id')),
          'true', 'the new one is in use');
SELECT throws_ok($$SELECT hublink.master_key_destroyed((SELECT v FROM hublink_test.e WHERE k = 'old_id'))$$, '55006',
                 NULL, 'master_key_destroyed is refused while the key file holds the key');
SELECT is((SELECT count(*)::int FROM hublink.audit_log WHERE action = 'master_key_destroyed'), 0, 'and records nothing');

SELECT hublink_test.write_keys('new');
SELECT ok(hublink.master_key_destroyed((SELECT v FROM hublink_test.e WHERE k = 'old_id')) IS NOT NULL,
          'once the file no longer holds it, its destruction is recorded');
SELECT is((SELECT string_agg(data_class || ':' || complete::text, ',' ORDER BY purge_id) FROM hublink.data_key_erasure
            WHERE key_scope IN ((SELECT v FROM hublink_test.e WHERE k = 'r1'), 'escort E-ERASE-77') AND data_class <> 'messages'),
          'personal_data:true,escort:true',
          'both erasures are complete: the key first used after them never held them back');
SELECT is((SELECT count(*)::int FROM hublink.audit_log WHERE action = 'master_key_destroyed'
            AND detail->>'master_key_id' = (SELECT v FROM hublink_test.e WHERE k = 'old_id')), 1, 'audited');
SELECT is(hublink.master_key_destroyed((SELECT v FROM hublink_test.e WHERE k = 'old_id')),
          (SELECT destroyed_at FROM hublink.data_key_master WHERE master_key_id = (SELECT v FROM hublink_test.e WHERE k = 'old_id')),
          'recording it again returns the first record');

-- An erasure after the rotation waits only for the key in use since.
INSERT INTO hublink_test.e SELECT 'r2', hublink_test.removal('77002');
\o /dev/null
SELECT hublink.erase_removal((SELECT v FROM hublink_test.e WHERE k = 'r2'), 'Direction 77/2');
\o
SELECT is((SELECT array_to_string(master_keys_to_destroy, ',') FROM hublink.data_key_erasure
            WHERE key_scope = (SELECT v FROM hublink_test.e WHERE k = 'r2') AND data_class = 'personal_data'),
          (SELECT v FROM hublink_test.e WHERE k = 'new_id'), 'a later erasure waits for the new key only');

SELECT ok(has_function_privilege('hublink_admin', 'hublink.master_key_destroyed(text)', 'EXECUTE')
          AND NOT has_function_privilege('hublink_caseworker', 'hublink.master_key_destroyed(text)', 'EXECUTE')
          AND has_table_privilege('hublink_admin', 'hublink.data_key_erasure', 'SELECT')
          AND NOT has_table_privilege('hublink_reporting', 'hublink.data_key_erasure', 'SELECT'),
          'hublink_admin records destructions and reads the erasures; others do not');

SELECT is((SELECT d.document_number FROM hublink.returnee t, hublink.travel_documents_of(t.returnee_id) d
            WHERE t.ho_returnee_reference = 'HO-77000'), 'P77000', 'the removal kept still reads under the new key');

SELECT hublink_test.write_keys('old');
SELECT is(hublink.crypto_key_id((hublink.master_keys())[1]), (SELECT v FROM hublink_test.e WHERE k = 'old_id'),
          'the original key file is written back');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o
