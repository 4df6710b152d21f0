-- A structured travel amendment (issue 16; docs/web.md "Amending the travel booking";
-- hublink.amend_travel_itinerary, 48_case_amendments.sql): refused before booking, with a
-- reason outside the change list, with nothing to change, a date in the past or excluded, a
-- malformed airport, and while an earlier amendment waits (a button pressed twice); when sent,
-- the body replaces the returnees' booked flights with the requested one, passes the
-- TravelAmendment schema, and the provider's answer (outcome, change fee) is recorded. A
-- caseworker not cleared for the removal cannot amend it.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(18);

CREATE FUNCTION hublink_test.ta_ex(name text, ref text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    m jsonb := (SELECT e.body FROM hublink_test.example e WHERE e.name = ta_ex.name || '.json')::jsonb;
BEGIN
    m := jsonb_set(m, '{messageId}', to_jsonb(gen_random_uuid()::text));
    m := jsonb_set(m, '{removalId}', to_jsonb(ref));
    IF m #> '{body,quotes}' IS NOT NULL THEN   -- unescorted, not expired
        m := jsonb_set(m, '{body,quotes}', (SELECT jsonb_agg(jsonb_set(q - 'escortQuoteReference', '{conditions,expiresAt}', '"2099-01-01T00:00:00+00:00"'))
                                              FROM jsonb_array_elements(m #> '{body,quotes}') q));
    END IF;
    RETURN m;
END $$;
CREATE TABLE hublink_test.ta (k text PRIMARY KEY, v text);
INSERT INTO hublink_test.ta
SELECT 'r', hublink.create_removal('CASE-TA-1', $$[
 {"personalDetails": {"hoReturneeReference": "HO-7731904", "name": {"givenNames": "Emeka", "familyName": "Okafor"},
                      "dateOfBirth": "1979-06-14", "nationality": "NGA", "gender": "M"},
  "travelDocuments": [{"type": "PASSPORT", "number": "A08123456", "issuingCountry": "NGA"}],
  "location": {"detentionCentreId": "HARMONDSWORTH_IRC"}, "risk": {"flags": []}},
 {"personalDetails": {"hoReturneeReference": "HO-7731905", "name": {"givenNames": "Chinedu", "familyName": "Okafor"},
                      "dateOfBirth": "2005-11-02", "nationality": "NGA", "gender": "M"},
  "travelDocuments": [{"type": "PASSPORT", "number": "A08123457", "issuingCountry": "NGA"}],
  "location": {"detentionCentreId": "HARMONDSWORTH_IRC"}, "risk": {"flags": []}}
]$$, current_date + 10, current_date + 20, '{"description": "Lagos, Nigeria", "country": "NGA", "airportCode": "LOS"}',
     exclusion_dates => ARRAY[current_date + 12]);
SELECT v AS ref FROM hublink_test.ta WHERE k = 'r' \gset
\o /dev/null
SELECT hublink.request_travel_quotes(:'ref', '{LHR}');
SELECT hublink.handle_message(hublink_test.ta_ex('travel-quote-response', :'ref'));
\o
SELECT throws_ok(format($$SELECT hublink.amend_travel_itinerary(%L, 'SCHEDULE_CHANGE', current_date + 14)$$, :'ref'), '55000',
                 format('removal %s has no confirmed travel booking to amend', :'ref'),
                 'before booking it is refused (ask for new quotes instead)');
\o /dev/null
SELECT hublink.choose_quote(:'ref', 'TSP-TQ-88412-1');
SELECT hublink.handle_message(hublink_test.ta_ex('travel-booking-response', :'ref'));
\o
SELECT is((SELECT travel_state FROM hublink.removal WHERE removal_reference = :'ref'), 'booked', 'the travel is booked');

CREATE ROLE ta_std LOGIN IN ROLE hublink_caseworker;
SELECT hublink.set_clearance('ta_std', 'standard');
SELECT hublink.set_removal_sensitivity(:'ref', 'sensitive');
SET SESSION AUTHORIZATION ta_std;
SELECT throws_ok(format($$SELECT hublink.amend_travel_itinerary(%L, 'SCHEDULE_CHANGE', current_date + 14)$$, :'ref'), '42501',
                 format('removal %s is not accessible', :'ref'), 'a caseworker not cleared for the removal cannot amend it');
RESET SESSION AUTHORIZATION;
SELECT hublink.set_removal_sensitivity(:'ref', 'standard');

SELECT throws_ok(format($$SELECT hublink.amend_travel_itinerary(%L, 'NOT_A_REASON', current_date + 14)$$, :'ref'), '22023',
                 'reason code "NOT_A_REASON" is not in the change list', 'a reason outside the change list is refused');
SELECT throws_ok(format($$SELECT hublink.amend_travel_itinerary(%L, 'SCHEDULE_CHANGE')$$, :'ref'), '22023',
                 'a travel amendment needs a new date or a new destination airport', 'nothing to change is refused');
SELECT throws_ok(format($$SELECT hublink.amend_travel_itinerary(%L, 'SCHEDULE_CHANGE', new_airport => 'LO')$$, :'ref'), '22023',
                 'destination airport "LO" is not an IATA airport code', 'a malformed airport is refused');
SELECT throws_ok(format($$SELECT hublink.amend_travel_itinerary(%L, 'SCHEDULE_CHANGE', current_date - 1)$$, :'ref'), '22023', NULL,
                 'a date in the past is refused');
SELECT throws_ok(format($$SELECT hublink.amend_travel_itinerary(%L, 'SCHEDULE_CHANGE', current_date + 12)$$, :'ref'), '22023', NULL,
                 'an exclusion date of the removal is refused');
SELECT throws_ok(format($$SELECT hublink.amend_travel_itinerary(%L, 'SCHEDULE_CHANGE', new_airport => 'los')$$, :'ref'), '22023',
                 format('the travel booking of removal %s already goes to LOS on 2026-03-17', :'ref'),
                 'the date and airport it already has are refused: nothing would change');
SELECT is((SELECT count(*)::int FROM hublink.amendment a JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = :'ref'), 0,
          'and none of these sent anything');

SELECT isnt(hublink.amend_travel_itinerary(:'ref', 'EARLIER_COLLECTION', current_date + 14, 'abv', 'Lagos airport closed.'), NULL,
            'a new date and a new airport with a reason from the change list are sent');
SELECT is((SELECT a.details -> 'itineraryChanges' FROM hublink.amendment a JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = :'ref'),
          jsonb_build_array(jsonb_build_object('affectedSegmentIds', '["T1"]'::jsonb,
              'requestedSegments', jsonb_build_array(jsonb_build_object('segmentType', 'PLANE', 'startPoint', '{"airportCode": "LHR"}'::jsonb,
                                                                        'endPoint', '{"airportCode": "ABV"}'::jsonb, 'date', current_date + 14)),
              'reason', '{"code": "EARLIER_COLLECTION", "text": "Lagos airport closed."}'::jsonb)),
          'the body replaces the returnees'' booked flight (T1, not the escorts'' return) with the requested one');
SELECT is((SELECT hublink.validate_message(hublink.outbox_document(o.id)) FROM hublink.outbox o
            WHERE o.message_type = 'TravelAmendment' AND o.removal_id = :'ref'), '[]'::jsonb,
          'the message passes the TravelAmendment schema');
SELECT is((SELECT travel_state FROM hublink.removal WHERE removal_reference = :'ref'), 'amended', 'the travel waits for the answer');
SELECT throws_ok(format($$SELECT hublink.amend_travel_itinerary(%L, 'SCHEDULE_CHANGE', current_date + 15)$$, :'ref'), '55000',
                 format('a travel amendment of removal %s is waiting for the provider''s answer', :'ref'),
                 'a second one before the answer (a button pressed twice) is refused');

-- The TSP's answer: accepted, with a change fee.
SELECT hublink.handle_message(jsonb_build_object('messageId', gen_random_uuid()::text, 'messageType', 'TravelUpdate', 'schemaVersion', '1.0',
         'sentAt', '2026-03-05T13:40:00+00:00', 'sender', 'TSP', 'removalId', :'ref',
         'body', jsonb_build_object('travelQuoteReference', 'TSP-TQ-88412-1',
             'amendmentOutcome', jsonb_build_object('amendmentMessageId',
                 (SELECT a.message_id FROM hublink.amendment a JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = :'ref'),
                 'accepted', true, 'reason', '{"code": "EARLIER_COLLECTION"}'::jsonb),
             'financial', '{"changeFee": {"amount": "120.00", "currency": "GBP"}, "reason": {"code": "EARLIER_COLLECTION"}}'::jsonb))) IS NOT NULL AS answered \gset
SELECT is((SELECT a.outcome_accepted FROM hublink.amendment a JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = :'ref'), true,
          'the provider''s answer is recorded with the amendment');
SELECT is((SELECT f.kind || ' ' || f.amount FROM hublink.financial_consequence f JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = :'ref' AND f.booking = 'travel'), 'change_fee 120.00', 'and its change fee');
SELECT lives_ok(format($$SELECT hublink.amend_travel_itinerary(%L, 'SCHEDULE_CHANGE', current_date + 15)$$, :'ref'),
                'after the answer a new amendment may be sent');

SELECT * FROM finish();
ROLLBACK;
