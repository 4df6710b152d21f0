-- Editing a returnee after creation (issue 16; docs/web.md "Editing a returnee";
-- hublink.edit_returnee, 48_case_amendments.sql): a caseworker not cleared for the removal,
-- malformed values, nothing to change, a new reference that has a live removal elsewhere (4.22,
-- without naming it to someone not cleared), a reference change once a provider knows it, and
-- an edit while a travel amendment waits, all refused with nothing changed; before any quote
-- it only records, while quoting it asks for new quotes with the new details, once booked it
-- sends the TSP a travel amendment with the passenger's new details; each edit kept.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(25);

CREATE FUNCTION hublink_test.re_ex(name text, ref text, quotes_as text DEFAULT 'TSP-TQ-88412-') RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    m jsonb := replace((SELECT e.body FROM hublink_test.example e WHERE e.name = re_ex.name || '.json'), 'TSP-TQ-88412-', quotes_as)::jsonb;
BEGIN
    m := jsonb_set(m, '{messageId}', to_jsonb(gen_random_uuid()::text));
    m := jsonb_set(m, '{removalId}', to_jsonb(ref));
    IF m #> '{body,quotes}' IS NOT NULL THEN
        m := jsonb_set(m, '{body,quotes}', (SELECT jsonb_agg(jsonb_set(q - 'escortQuoteReference', '{conditions,expiresAt}', '"2099-01-01T00:00:00+00:00"'))
                                              FROM jsonb_array_elements(m #> '{body,quotes}') q));
    END IF;
    RETURN m;
END $$;
CREATE FUNCTION hublink_test.re_one(ho text, given text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('personalDetails', jsonb_build_object('hoReturneeReference', ho,
               'name', jsonb_build_object('givenNames', given, 'familyName', 'Okafor'), 'dateOfBirth', '1979-06-14',
               'nationality', 'NGA', 'gender', 'M'),
           'travelDocuments', jsonb_build_array(jsonb_build_object('type', 'PASSPORT', 'number', 'A0' || replace(ho, '-', ''), 'issuingCountry', 'NGA')),
           'location', '{"detentionCentreId": "HARMONDSWORTH_IRC"}'::jsonb, 'risk', jsonb_build_object('flags', '[]'::jsonb)) $$;
CREATE TABLE hublink_test.re (k text PRIMARY KEY, v text);
INSERT INTO hublink_test.re VALUES
  ('r', hublink.create_removal('CASE-RE-1', jsonb_build_array(hublink_test.re_one('HO-RE-TYPO', 'Emeka'), hublink_test.re_one('HO-7731905', 'Chinedu')),
        current_date + 10, current_date + 20, '{"description": "Lagos, Nigeria", "country": "NGA", "airportCode": "LOS"}')),
  ('live', hublink.create_removal('CASE-RE-2', jsonb_build_array(hublink_test.re_one('HO-RE-LIVE', 'Ngozi')),
        current_date + 10, current_date + 20, '{"description": "Lagos", "country": "NGA", "airportCode": "LOS"}', sensitivity => 'restricted'));
SELECT v AS ref FROM hublink_test.re WHERE k = 'r' \gset
SELECT v AS live FROM hublink_test.re WHERE k = 'live' \gset
CREATE ROLE re_std LOGIN IN ROLE hublink_caseworker;
SELECT hublink.set_clearance('re_std', 'standard');
CREATE FUNCTION hublink_test.re_name(ref text, ho text) RETURNS text LANGUAGE sql AS $$
    SELECT p.given_names || ' ' || p.family_name || ' ' || p.date_of_birth FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
     CROSS JOIN LATERAL hublink.returnee_personal_of(t.returnee_id) p WHERE r.removal_reference = ref AND t.ho_returnee_reference = ho $$;

SET SESSION AUTHORIZATION re_std;
SELECT throws_ok(format($$SELECT hublink.edit_returnee(%L, 'HO-RE-LIVE', '{"givenNames": "X"}', 'typo')$$, :'live'), '42501',
                 format('removal %s is not accessible', :'live'), 'a caseworker not cleared for the removal cannot edit its returnees');
SELECT throws_ok(format($$SELECT hublink.edit_returnee(%L, 'HO-RE-TYPO', '{"givenNames": "Emeka Chukwudi"}', ' ')$$, :'ref'), '22023',
                 'an edit of a returnee''s details needs a reason', 'a blank reason is refused');
SELECT throws_ok(format($$SELECT hublink.edit_returnee(%L, 'HO-RE-TYPO', '{"riskFlags": ["VIOLENT"]}', 'x')$$, :'ref'), '22023',
                 'a returnee has no detail "riskFlags" that can be edited', 'a detail that cannot be edited here is refused (risk has its own page)');
SELECT throws_ok(format($$SELECT hublink.edit_returnee(%L, 'HO-RE-TYPO', '{"nationality": "NG"}', 'x')$$, :'ref'), '22023', NULL,
                 'a nationality that is not a 3-letter code is refused');
SELECT throws_ok(format($$SELECT hublink.edit_returnee(%L, 'HO-RE-TYPO', '{"dateOfBirth": "2999-01-01"}', 'x')$$, :'ref'), '22023', NULL,
                 'a date of birth in the future is refused');
SELECT throws_ok(format($$SELECT hublink.edit_returnee(%L, 'HO-RE-TYPO', '{"document": {"type": "PASSPORT", "number": "a b", "issuingCountry": "NGA"}}', 'x')$$, :'ref'),
                 '22023', 'the travel document is not valid', 'a malformed document number is refused');
SELECT throws_ok(format($$SELECT hublink.edit_returnee(%L, 'HO-NOBODY', '{"givenNames": "X"}', 'x')$$, :'ref'), '22023',
                 format('removal %s has no returnee HO-NOBODY', :'ref'), 'a returnee the removal does not have is refused');
SELECT throws_ok(format($$SELECT hublink.edit_returnee(%L, 'HO-RE-TYPO', '{"givenNames": "Emeka", "familyName": "Okafor"}', 'x')$$, :'ref'), '22023',
                 'the details of returnee HO-RE-TYPO are already so', 'nothing to change is refused');
SELECT throws_ok(format($$SELECT hublink.edit_returnee(%L, 'HO-RE-TYPO', '{"hoReturneeReference": "ho-re-live"}', 'wrong reference')$$, :'ref'), '23505',
                 'returnee HO-RE-LIVE already has a live removal',
                 '4.22 holds: the new reference has a live removal elsewhere');
SELECT is((SELECT count(*)::int FROM hublink.returnee_change), 0, 'none of these changed anything');
RESET SESSION AUTHORIZATION;
SELECT is(hublink_test.re_name(:'ref', 'HO-RE-TYPO'), 'Emeka Okafor 1979-06-14', 'the details are as they were');

-- --- before any quote: recorded only ---------------------------------------------------------------
SET SESSION AUTHORIZATION re_std;
SELECT is(hublink.edit_returnee(:'ref', 'HO-RE-TYPO', '{"hoReturneeReference": "HO-7731904", "givenNames": "Emeka Chukwudi"}', 'Reference and name mistyped.'),
          NULL, 'before any quote the reference and the name are corrected, nothing sent');
RESET SESSION AUTHORIZATION;
SELECT is(hublink_test.re_name(:'ref', 'HO-7731904'), 'Emeka Chukwudi Okafor 1979-06-14', 'the returnee has its new reference and name');
SELECT is((SELECT format('%s %s %s', c.fields, c.changed_by, c.reason) FROM hublink.returnee_change c JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = :'ref'), '{hoReturneeReference,givenNames} re_std Reference and name mistyped.',
          'the edit is kept: the fields, who, why (no values)');
SELECT ok(EXISTS (SELECT FROM hublink.audit_log l JOIN hublink.removal r USING (removal_id)
                   WHERE r.removal_reference = :'ref' AND l.table_name = 'hublink.returnee_personal' AND l.action = 'update'
                     AND l.session_user_name = 're_std'), 'the sealed row''s change is in the row audit, as the person');

-- --- while quoting: new quotes with the new details ------------------------------------------------
\o /dev/null
SELECT hublink.request_travel_quotes(:'ref', '{LHR}');
SELECT hublink.handle_message(hublink_test.re_ex('travel-quote-response', :'ref'));
\o
SET SESSION AUTHORIZATION re_std;
SELECT throws_ok(format($$SELECT hublink.edit_returnee(%L, 'HO-7731904', '{"hoReturneeReference": "HO-7731999"}', 'x')$$, :'ref'), '55000',
                 format('the returnee reference of removal %s can no longer be changed', :'ref'),
                 'once a provider knows the returnee, its reference cannot change');
SELECT isnt(hublink.edit_returnee(:'ref', 'HO-7731904', '{"dateOfBirth": "1979-06-15"}', 'Date of birth from the passport.'), NULL,
            'while quoting, an edit asks for new quotes');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*)::int FROM hublink.outbox o WHERE o.removal_id = :'ref' AND o.message_type = 'TravelQuoteRequest'), 2,
          'a second travel quote request went out');
SELECT is((SELECT hublink.outbox_document(o.id) #>> '{body,returnees,0,personalDetails,dateOfBirth}' FROM hublink.outbox o
            WHERE o.removal_id = :'ref' AND o.message_type = 'TravelQuoteRequest' ORDER BY o.id DESC LIMIT 1), '1979-06-15',
          'with the new date of birth');

-- --- once booked: a travel amendment with the passenger's new details -----------------------------
\o /dev/null
SELECT hublink.handle_message(hublink_test.re_ex('travel-quote-response', :'ref', 'TSP-TQ-88413-'));
SELECT hublink.choose_quote(:'ref', 'TSP-TQ-88413-1');
SELECT hublink.handle_message(hublink_test.re_ex('travel-booking-response', :'ref', 'TSP-TQ-88413-'));
\o
SELECT is((SELECT travel_state FROM hublink.removal WHERE removal_reference = :'ref'), 'booked', 'the travel is booked');
SET SESSION AUTHORIZATION re_std;
SELECT isnt(hublink.edit_returnee(:'ref', 'HO-7731904', '{"document": {"type": "PASSPORT", "number": "A08123499", "issuingCountry": "NGA", "expiryDate": "2031-01-01"}, "familyName": "Okafor-Eze"}',
                                  'New passport.'), NULL, 'once booked, an edit is sent');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT hublink.outbox_document(o.id) #> '{body,passengerUpdates}' FROM hublink.outbox o
            WHERE o.removal_id = :'ref' AND o.message_type = 'TravelAmendment'),
          '[{"name": {"familyName": "Okafor-Eze", "givenNames": "Emeka Chukwudi"}, "traveller": {"hoReturneeReference": "HO-7731904"},
             "travelDocument": {"type": "PASSPORT", "number": "A08123499", "expiryDate": "2031-01-01", "issuingCountry": "NGA"}}]'::jsonb,
          'as a travel amendment with the passenger''s new name and document');
SELECT is((SELECT hublink.validate_message(hublink.outbox_document(o.id)) FROM hublink.outbox o
            WHERE o.removal_id = :'ref' AND o.message_type = 'TravelAmendment'), '[]'::jsonb, 'which passes its schema');
SELECT is((SELECT array_agg(d.document_number) FROM hublink.returnee t JOIN hublink.removal r USING (removal_id)
            CROSS JOIN LATERAL hublink.travel_documents_of(t.returnee_id) d
            WHERE r.removal_reference = :'ref' AND t.ho_returnee_reference = 'HO-7731904'), '{A08123499}'::text[],
          'the corrected document replaces the old one (the wrong number does not travel on)');
SET SESSION AUTHORIZATION re_std;
SELECT throws_ok(format($$SELECT hublink.edit_returnee(%L, 'HO-7731905', '{"gender": "X"}', 'x')$$, :'ref'), '55000',
                 format('a travel amendment of removal %s is waiting for the provider''s answer', :'ref'),
                 'another edit while the amendment waits is refused');
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();
ROLLBACK;
