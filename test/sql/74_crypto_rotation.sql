-- Master key rotation (issue 6 section 2, NFR 0011; docs/security-crypto.md): a new key is
-- appended to hublink.master_key_file, hublink.rotate_master_key() re-wraps every data key with
-- it without touching the sealed data, and the old key can then be removed from the file. The
-- key file is not transactional: the test writes the original key back before it ends.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(12);

CREATE TABLE hublink_test.v (k text PRIMARY KEY, v text);
INSERT INTO hublink_test.v VALUES
    ('path', CASE WHEN current_setting('hublink.master_key_file') LIKE '/%' THEN current_setting('hublink.master_key_file')
                  ELSE current_setting('data_directory') || '/' || current_setting('hublink.master_key_file') END),
    ('old', encode((hublink.master_keys())[1], 'hex')),
    ('new', encode(hublink.crypto_random_key(), 'hex')),
    ('third', encode(hublink.crypto_random_key(), 'hex'));
CREATE FUNCTION hublink_test.write_keys(VARIADIC names text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('COPY (SELECT v.v FROM unnest(%L::text[]) WITH ORDINALITY n(k, i) JOIN hublink_test.v v USING (k) ORDER BY i) TO %L',
                   names, (SELECT v FROM hublink_test.v WHERE k = 'path'));
END $$;

INSERT INTO hublink_test.v
SELECT 'r1', hublink.create_removal('CASE-74001', $$[
 {"personalDetails": {"hoReturneeReference": "HO-7400101", "name": {"givenNames": "Tomasz", "familyName": "Wisniewski"},
                      "dateOfBirth": "1988-08-08", "nationality": "POL", "gender": "M"},
  "travelDocuments": [{"type": "PASSPORT", "number": "P74ROTATE1", "issuingCountry": "POL", "expiryDate": "2032-02-29"}],
  "location": {"detentionCentreId": "HARMONDSWORTH_IRC"}, "risk": {"flags": []}}]$$,
 '2026-03-16', '2026-03-20', '{"description": "Warsaw, Poland", "country": "POL", "airportCode": "WAW"}');
INSERT INTO hublink_test.v SELECT 'sealed', string_agg(encode(d.sealed, 'hex'), ',' ORDER BY d.travel_document_id) FROM hublink.travel_document d;
-- Bytes that were not JSON: sealed under the key of the day (messages that name no removal).
INSERT INTO hublink.inbox (queue, raw, status, problems, attempts, received_at)
VALUES ('escort-quote-request', convert_to('{"name": "Rotatedgarble', 'UTF8'), 'rejected', '[{"error": "not JSON"}]', 0, now());
INSERT INTO hublink_test.v SELECT 'keys', count(*)::text FROM hublink.data_key;

SELECT is((SELECT count(*)::int FROM hublink.data_key WHERE master_key_id <> hublink.crypto_key_id((hublink.master_keys())[1])), 0,
          'every data key is wrapped by the current master key');

SELECT hublink_test.write_keys('old', 'new');
SELECT is(array_length(hublink.master_keys(), 1), 2, 'a new key is appended to the key file');
SELECT is(hublink.rotate_master_key(), (SELECT v FROM hublink_test.v WHERE k = 'keys')::int,
          'rotation re-wraps every data key');
SELECT is((SELECT count(*)::int FROM hublink.data_key
            WHERE master_key_id = hublink.crypto_key_id(decode((SELECT v FROM hublink_test.v WHERE k = 'new'), 'hex'))),
          (SELECT v FROM hublink_test.v WHERE k = 'keys')::int, 'with the new key');
SELECT is(hublink.rotate_master_key(), 0, 'a second rotation has nothing to do');
SELECT is((SELECT detail ->> 'rewrapped' FROM hublink.audit_log WHERE action = 'master_key_rotation' ORDER BY audit_id LIMIT 1),
          (SELECT v FROM hublink_test.v WHERE k = 'keys'), 'rotation is audited, with how many keys');

SELECT hublink_test.write_keys('new');
SELECT is((SELECT d.document_number FROM hublink.returnee t, hublink.travel_documents_of(t.returnee_id) d
            WHERE t.ho_returnee_reference = 'HO-7400101'), 'P74ROTATE1',
          'with the old key gone from the file, the data still reads');
SELECT is((SELECT convert_from(f.raw, 'UTF8') FROM hublink.inbox i, hublink.inbox_failure(i.id) f WHERE i.message IS NULL),
          '{"name": "Rotatedgarble', 'so do the bytes of a rejected delivery, under the day''s key');
SELECT is((SELECT string_agg(encode(d.sealed, 'hex'), ',' ORDER BY d.travel_document_id) FROM hublink.travel_document d),
          (SELECT v FROM hublink_test.v WHERE k = 'sealed'), 'the sealed data was not touched');
SELECT ok((SELECT bool_and(detail::text NOT LIKE '%' || (SELECT v FROM hublink_test.v WHERE k = 'new') || '%'
                           AND detail::text NOT LIKE '%' || (SELECT v FROM hublink_test.v WHERE k = 'old') || '%')
             FROM hublink.audit_log), 'no audit row holds a key');

SELECT hublink_test.write_keys('third');
SELECT throws_ok($$SELECT d.document_number FROM hublink.returnee t, hublink.travel_documents_of(t.returnee_id) d
                    WHERE t.ho_returnee_reference = 'HO-7400101'$$,
                 '22023', NULL, 'a key file without the wrapping key refuses to open the data');

SELECT hublink_test.write_keys('old');
SELECT is(encode((hublink.master_keys())[1], 'hex'), (SELECT v FROM hublink_test.v WHERE k = 'old'),
          'the original key file is written back');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o
