-- Personal data sealed under per-removal data keys (issue 6 section 2, NFR 0011;
-- docs/security-crypto.md): every PERSONAL DATA column (found from the catalog, so a column
-- added later is caught), round trips through the Hub's caseworker functions, the heap holds
-- no plaintext, decryption is audited, the CHECK refuses a row that bypassed the trigger,
-- and only the key functions see keys.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(35);

CREATE TABLE hublink_test.v (k text PRIMARY KEY, v text);

-- --- the master key file ----------------------------------------------------------------------
SELECT is(array_length(hublink.master_keys(), 1), 1, 'CREATE EXTENSION wrote a master key file with one key');
SELECT is(length((hublink.master_keys())[1]), 32, 'of 256 bits');
SELECT is((pg_stat_file(current_setting('hublink.master_key_file'))).size, 65::bigint,
          'the file holds it as 64 hex digits and a newline');
SELECT ok(NOT has_function_privilege('hublink_admin', 'hublink.master_keys()', 'EXECUTE')
          AND NOT has_function_privilege('hublink_caseworker', 'hublink.master_keys()', 'EXECUTE')
          AND NOT has_function_privilege('hublink_caseworker', 'hublink.unseal(text, bytea)', 'EXECUTE')
          AND NOT has_function_privilege('hublink_caseworker', 'hublink.data_key_for(text, boolean)', 'EXECUTE'),
          'no role but the owner may read keys or open sealed bytes directly');
SELECT ok(NOT has_table_privilege('hublink_admin', 'hublink.data_key', 'SELECT')
          AND NOT has_table_privilege('hublink_caseworker', 'hublink.data_key', 'SELECT'),
          'nor read the wrapped data keys');
SELECT ok(has_function_privilege('hublink_caseworker', 'hublink.unsealed(anyelement)', 'EXECUTE'),
          'a caseworker reads personal data through hublink.unsealed (audited)');

-- --- every PERSONAL DATA column is sealed, from the catalog --------------------------------------
SELECT cmp_ok((SELECT count(*)::int FROM hublink.personal_data_column), '>=', 24,
              'the catalog lists the PERSONAL DATA columns (returnees, documents, risk, escorts, TSP passengers)');
SELECT is((SELECT coalesce(string_agg(table_name || '.' || column_name, ', '), '')
             FROM hublink.personal_data_column WHERE NOT sealed), '',
          'every PERSONAL DATA column is sealed (CHECK column IS NULL and the seal trigger)');
SAVEPOINT later_column;
ALTER TABLE hublink.escort_person ADD COLUMN home_address text;
COMMENT ON COLUMN hublink.escort_person.home_address IS 'PERSONAL DATA: a column added by a later part.';
SELECT ok(EXISTS (SELECT FROM hublink.personal_data_column
                   WHERE table_name = 'hublink.escort_person'::regclass AND column_name = 'home_address' AND NOT sealed),
          'a PERSONAL DATA column added later without sealing is caught');
ROLLBACK TO SAVEPOINT later_column;

-- --- round trip through the caseworker's function ---------------------------------------------
INSERT INTO hublink_test.v
SELECT 'r1', hublink.create_removal('CASE-72001', $$[
 {"personalDetails": {"hoReturneeReference": "HO-7200101", "name": {"title": "Ms", "givenNames": "Zanele Qwabe", "familyName": "Mthembuzulu"},
                      "dateOfBirth": "1984-02-29", "nationality": "ZAF", "gender": "F", "conditions": [{"code": "WHEELCHAIR"}]},
  "travelDocuments": [{"type": "PASSPORT", "number": "Q72PASS0042", "issuingCountry": "ZAF", "expiryDate": "2030-01-31"}],
  "location": {"detentionCentreId": "HARMONDSWORTH_IRC"},
  "risk": {"flags": ["DISRUPTIVE", "SELF_HARM"], "notes": "Risk note seventy-two."}}
]$$, '2026-03-16', '2026-03-20', '{"description": "Johannesburg, South Africa", "country": "ZAF", "airportCode": "JNB"}');
INSERT INTO hublink_test.v
SELECT 'rid', (SELECT removal_id::text FROM hublink.removal WHERE removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'r1'));

SELECT is((SELECT count(*)::int FROM hublink.data_key WHERE key_scope = (SELECT v FROM hublink_test.v WHERE k = 'r1')), 1,
          'the removal got a data key on first sight');
SELECT is((SELECT concat_ws('|', p.title, p.given_names, p.family_name, p.date_of_birth, p.nationality, p.gender, p.conditions)
             FROM hublink.returnee_personal p JOIN hublink.returnee t USING (returnee_id)
            WHERE t.ho_returnee_reference = 'HO-7200101'), '',
          'the stored personal columns are all NULL');
SELECT is((SELECT p.key_scope FROM hublink.returnee_personal p JOIN hublink.returnee t USING (returnee_id)
            WHERE t.ho_returnee_reference = 'HO-7200101'), (SELECT v FROM hublink_test.v WHERE k = 'r1'),
          'the row is sealed under its removal''s key');
SELECT ok((SELECT bool_and(position(convert_to(w, 'UTF8') IN x.sealed) = 0)
             FROM (SELECT sealed FROM hublink.returnee_personal UNION ALL SELECT sealed FROM hublink.travel_document
                   UNION ALL SELECT sealed FROM hublink.risk_assessment) x,
                  unnest(ARRAY['Zanele', 'Mthembuzulu', '1984-02-29', 'Q72PASS0042', 'DISRUPTIVE', 'seventy-two']) w),
          'the sealed bytes hold none of the values in clear');
SELECT is((SELECT count(*)::int FROM hublink.travel_document WHERE document_number IS NOT NULL OR sealed IS NULL), 0,
          'travel documents: number sealed');

INSERT INTO hublink_test.v SELECT 'audit0', (SELECT count(*)::text FROM hublink.audit_log WHERE action = 'decrypt');
SELECT is((SELECT concat_ws('|', p.title, p.given_names, p.family_name, p.date_of_birth, p.nationality, p.gender, p.conditions)
             FROM hublink.returnee t, hublink.returnee_personal_of(t.returnee_id) p
            WHERE t.ho_returnee_reference = 'HO-7200101'),
          'Ms|Zanele Qwabe|Mthembuzulu|1984-02-29|ZAF|F|[{"code": "WHEELCHAIR"}]',
          'round trip: hublink.returnee_personal_of decrypts every personal column');
SELECT is((SELECT count(*)::int - (SELECT v FROM hublink_test.v WHERE k = 'audit0')::int
             FROM hublink.audit_log WHERE action = 'decrypt'), 1, 'and the read wrote one audit row');
SELECT is((SELECT removal_id::text || ' ' || table_name || ' ' || (detail ->> 'columns')
             FROM hublink.audit_log WHERE action = 'decrypt' ORDER BY audit_id DESC LIMIT 1),
          (SELECT v FROM hublink_test.v WHERE k = 'rid') ||
              ' hublink.returnee_personal ["conditions", "date_of_birth", "family_name", "gender", "given_names", "nationality", "title"]',
          'naming the removal, the table and the columns');
SELECT ok((SELECT detail::text !~ '(Zanele|Mthembuzulu|1984|ZAF)' FROM hublink.audit_log
            WHERE action = 'decrypt' ORDER BY audit_id DESC LIMIT 1), 'but none of the values');
SELECT is((SELECT d.document_number || ' ' || d.expiry_date FROM hublink.returnee t, hublink.travel_documents_of(t.returnee_id) d
            WHERE t.ho_returnee_reference = 'HO-7200101'), 'Q72PASS0042 2030-01-31', 'round trip: the passport');
SELECT is((SELECT a.flags::text || ' ' || a.notes FROM hublink.returnee t, hublink.risk_assessment_of(t.returnee_id, 'hub') a
            WHERE t.ho_returnee_reference = 'HO-7200101'), '{DISRUPTIVE,SELF_HARM} Risk note seventy-two.',
          'round trip: the risk flags and notes');
SELECT is((SELECT escorted FROM hublink.removal WHERE removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'r1')), true,
          'risk profiling reads the sealed flags: a DISRUPTIVE returnee makes it escorted');
SELECT is((SELECT a.flags::text FROM hublink.returnee t, hublink.risk_assessment_of(t.returnee_id, 'tsp') a
            WHERE t.ho_returnee_reference = 'HO-7200101'), '{DISRUPTIVE}', 'and writes the sealed TSP subset');
SELECT is((SELECT returnees FROM hublink.search_removals(returnee_name => 'zanele qwabe mth')),
          'Zanele Qwabe Mthembuzulu (HO-7200101)', 'search by name works on the sealed names');

-- --- updates keep what they do not set ----------------------------------------------------------
UPDATE hublink.returnee_personal p SET family_name = 'Mthembu'
  FROM hublink.returnee t WHERE t.returnee_id = p.returnee_id AND t.ho_returnee_reference = 'HO-7200101';
SELECT is((SELECT p.given_names || ' ' || p.family_name || ' ' || p.date_of_birth
             FROM hublink.returnee t, hublink.returnee_personal_of(t.returnee_id) p
            WHERE t.ho_returnee_reference = 'HO-7200101'), 'Zanele Qwabe Mthembu 1984-02-29',
          'an UPDATE of one personal column replaces it and keeps the others');
SELECT is((SELECT family_name FROM hublink.returnee_personal p JOIN hublink.returnee t USING (returnee_id)
            WHERE t.ho_returnee_reference = 'HO-7200101'), NULL, 'still NULL in the table');

-- Escorts: the upsert of hublink.record_escorts merges sealed details.
SELECT lives_ok($$SELECT hublink.record_escorts((SELECT v FROM hublink_test.v WHERE k = 'rid')::bigint,
    '[{"escortId": "ESC-72-1", "escortNumber": 1, "name": {"givenNames": "Pieter", "familyName": "Vanderwalt"},
       "advancePassengerInfo": {"dateOfBirth": "1990-05-05", "nationality": "GBR",
                                "travelDocument": {"type": "PASSPORT", "number": "E72ESCORT9", "issuingCountry": "GBR"}}}]')$$,
    'an escort with a passport is recorded');
SELECT lives_ok($$SELECT hublink.record_escorts((SELECT v FROM hublink_test.v WHERE k = 'rid')::bigint,
    '[{"escortId": "ESC-72-1", "name": {"givenNames": "Pieter", "familyName": "Van der Walt"}}]')$$,
    'and later his corrected name alone');
SELECT is((SELECT p.family_name || ' ' || p.document_number || ' ' || p.date_of_birth
             FROM hublink.escort_person e, hublink.escort_personal_of(e.escort_person_id) p WHERE e.escort_id = 'ESC-72-1'),
          'Van der Walt E72ESCORT9 1990-05-05', 'the new name replaces the old, the passport is kept');
SELECT is((SELECT count(*)::int FROM hublink.escort_personal WHERE document_number IS NOT NULL OR given_names IS NOT NULL), 0,
          'escort passports are not stored in clear');

-- --- an outbox row keeps its key scope and seals a body on any update that names them --------------
-- (the trigger fires on the outbox only for UPDATE OF message, key_scope, sealed_body: the
-- worker's SET sent_at does not call it; docs/performance.md "Sixth pass")
INSERT INTO hublink_test.v VALUES ('m1', 't72-outbox-1');
INSERT INTO hublink.outbox (message_id, message_type, queue, removal_id, message)
SELECT 't72-outbox-1', 'EscortQuoteRequest', 'escort-quote-request', v,
       jsonb_build_object('messageId', 't72-outbox-1', 'messageType', 'EscortQuoteRequest', 'removalId', v,
                          'body', jsonb_build_object('note', 'CLEARTEXT-72-FIRST'))
  FROM hublink_test.v WHERE k = 'r1';
UPDATE hublink.outbox SET key_scope = 'RMV-2000-000001' WHERE message_id = (SELECT v FROM hublink_test.v WHERE k = 'm1');
SELECT is((SELECT key_scope FROM hublink.outbox WHERE message_id = (SELECT v FROM hublink_test.v WHERE k = 'm1')),
          (SELECT v FROM hublink_test.v WHERE k = 'r1'), 'an outbox row''s key scope cannot be changed by an update');
UPDATE hublink.outbox SET key_scope = 'RMV-2000-000001', sent_at = NULL, sealed_body = sealed_body
 WHERE message_id = (SELECT v FROM hublink_test.v WHERE k = 'm1');
SELECT is((SELECT key_scope FROM hublink.outbox WHERE message_id = (SELECT v FROM hublink_test.v WHERE k = 'm1')),
          (SELECT v FROM hublink_test.v WHERE k = 'r1'), 'nor with other columns in the same update');
UPDATE hublink.outbox SET message = message || '{"body": {"note": "CLEARTEXT-72-BODY"}}'
 WHERE message_id = (SELECT v FROM hublink_test.v WHERE k = 'm1');
SELECT is((SELECT (NOT message ? 'body') AND hublink.unseal(key_scope, sealed_body) = '{"note": "CLEARTEXT-72-BODY"}'
             FROM hublink.outbox WHERE message_id = (SELECT v FROM hublink_test.v WHERE k = 'm1')), true,
          'a body written into an outbox row''s message by an update is sealed under its key');
UPDATE hublink.outbox SET sent_at = clock_timestamp() WHERE message_id = (SELECT v FROM hublink_test.v WHERE k = 'm1');
SELECT is((SELECT key_scope = (SELECT v FROM hublink_test.v WHERE k = 'r1') AND hublink.unseal(key_scope, sealed_body) ->> 'note' = 'CLEARTEXT-72-BODY'
             FROM hublink.outbox WHERE message_id = (SELECT v FROM hublink_test.v WHERE k = 'm1')), true,
          'marking it sent leaves its key scope and sealed body as they were');

-- --- a row that bypasses the trigger is refused ----------------------------------------------------
SAVEPOINT bypass;
ALTER TABLE hublink.travel_document DISABLE TRIGGER seal_personal_data;
SELECT throws_ok($$INSERT INTO hublink.travel_document (returnee_id, document_type, document_number)
                   SELECT returnee_id, 'PASSPORT', 'CLEAR000001' FROM hublink.returnee LIMIT 1$$,
                 '23514', NULL, 'without the trigger, plaintext is refused by the <column>_sealed CHECK');
ROLLBACK TO SAVEPOINT bypass;
SELECT throws_ok($$SELECT hublink.unseal('RMV-2000-000001', '\x00'::bytea)$$, 'HL060', NULL,
                 'there is no key for a removal never seen');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o
