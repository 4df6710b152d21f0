-- The Hub's side of a removal conversation (issue 4, sections 1-3 and 5): the caseworker's
-- functions, the inbound handler, the state on every step, rejections, re-quote,
-- amendments, updates, cancellations. Provider messages are the shipped examples, applied
-- with hublink.handle_message as the worker would. hublink.party is a SIGHUP setting, so it
-- is set with ALTER SYSTEM around the test and reset afterwards.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(86);

-- An example message for removal ref: a new messageId, the removal, optional text replacements
-- (old => new, in order) and a body patch merged at the top level of the body.
CREATE FUNCTION hublink_test.ex(name text, ref text, patch jsonb DEFAULT '{}',
                                replacements text[] DEFAULT '{}')
    RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t text := (SELECT e.body FROM hublink_test.example e WHERE e.name = ex.name || '.json');
    m jsonb;
BEGIN
    FOR i IN 1 .. coalesce(array_length(replacements, 1), 0) / 2 LOOP
        t := replace(t, replacements[2 * i - 1], replacements[2 * i]);
    END LOOP;
    m := t::jsonb;
    m := jsonb_set(m, '{messageId}', to_jsonb(gen_random_uuid()::text));
    m := jsonb_set(m, '{removalId}', to_jsonb(ref));
    m := jsonb_set(m, '{body}', (m -> 'body') || patch);
    RETURN m;
END $$;
-- A provider message built here.
CREATE FUNCTION hublink_test.msg(type text, ref text, sender text, body jsonb)
    RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('messageId', gen_random_uuid()::text, 'messageType', type,
                              'schemaVersion', '1.0', 'sentAt', '2026-03-17T12:00:00+00:00',
                              'sender', sender, 'removalId', ref, 'body', body) $$;
CREATE FUNCTION hublink_test.states(ref text) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws('/', r.state, r.escort_state, r.travel_state) FROM hublink.removal r
     WHERE r.removal_reference = ref $$;
CREATE FUNCTION hublink_test.last_error() RETURNS jsonb LANGUAGE sql AS $$
    SELECT hublink.outbox_document(o.id) -> 'body' FROM hublink.outbox o WHERE o.message_type = 'Error'
     ORDER BY o.id DESC LIMIT 1 $$;
-- Travel quotes of the example that have not expired yet.
CREATE FUNCTION hublink_test.fresh_quotes(m jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_set(m, '{body,quotes}',
        (SELECT jsonb_agg(jsonb_set(q, '{conditions,expiresAt}', '"2099-01-01T00:00:00+00:00"'))
           FROM jsonb_array_elements(m -> 'body' -> 'quotes') q)) $$;
CREATE TABLE hublink_test.v (k text PRIMARY KEY, v text);

SELECT is(current_setting('hublink.party'), 'hub', 'this database plays the hub');

-- --- create, profile, 4.22 -------------------------------------------------------------------
INSERT INTO hublink_test.v
SELECT 'r1', hublink.create_removal('CASE-77319', $$[
 {"personalDetails": {"hoReturneeReference": "HO-7731904", "name": {"title": "Mr", "givenNames": "Emeka Chukwudi", "familyName": "Okafor"},
                      "dateOfBirth": "1979-06-14", "nationality": "NGA", "gender": "M", "conditions": [{"code": "WHEELCHAIR"}]},
  "travelDocuments": [{"type": "PASSPORT", "number": "A08123456", "issuingCountry": "NGA", "expiryDate": "2029-08-31"}],
  "location": {"detentionCentreId": "HARMONDSWORTH_IRC"}, "risk": {"flags": []}},
 {"personalDetails": {"hoReturneeReference": "HO-7731905", "name": {"title": "Mr", "givenNames": "Chinedu", "familyName": "Okafor"},
                      "dateOfBirth": "2005-11-02", "nationality": "NGA", "gender": "M"},
  "travelDocuments": [{"type": "EMERGENCY_TRAVEL_DOCUMENT", "number": "ETD26004417", "issuingCountry": "NGA", "expiryDate": "2026-05-16"}],
  "location": {"detentionCentreId": "HARMONDSWORTH_IRC"},
  "risk": {"flags": ["DISRUPTIVE", "SELF_HARM", "HIGH_PROFILE"], "notes": "Disruptive in October 2025."}}
]$$, '2026-03-16', '2026-03-20', '{"description": "Lagos, Nigeria", "country": "NGA", "airportCode": "LOS"}',
 '{2026-03-18}', constraints => '{"refundableOnly": true, "costLimit": {"amount": "12000.00", "currency": "GBP"}}');

SELECT matches((SELECT v FROM hublink_test.v WHERE k = 'r1'), '^RMV-[0-9]{4}-[0-9]{6}$', 'a removal reference is issued');
SELECT is(hublink_test.states((SELECT v FROM hublink_test.v WHERE k = 'r1')), 'new/none/none', 'a new removal');
SELECT is((SELECT escorted FROM hublink.removal), true, 'risk profiling: a DISRUPTIVE returnee makes it escorted');
SELECT is((SELECT array_agg((hublink.unsealed(a)).flags::text ORDER BY t.ho_returnee_reference) FROM hublink.risk_assessment a
             JOIN hublink.returnee t USING (returnee_id) WHERE a.audience = 'esp' AND a.current),
          ARRAY['{}', '{DISRUPTIVE,SELF_HARM}'], 'the ESP sees the flags shared with it, not HIGH_PROFILE');
SELECT is((SELECT array_agg((hublink.unsealed(a)).flags::text || a.escorts_required ORDER BY t.ho_returnee_reference)
             FROM hublink.risk_assessment a JOIN hublink.returnee t USING (returnee_id)
            WHERE a.audience = 'tsp' AND a.current),
          ARRAY['{}1', '{DISRUPTIVE}2'], 'the TSP sees only DISRUPTIVE, and the escorts each returnee needs');
SELECT throws_ok($$SELECT hublink.create_removal('CASE-77319', '[{"personalDetails": {"hoReturneeReference": "HO-7731905",
                   "name": {"givenNames": "C", "familyName": "O"}, "dateOfBirth": "2005-11-02", "nationality": "NGA", "gender": "M"},
                   "location": {"detentionCentreId": "HARMONDSWORTH_IRC"}}]', '2026-04-01', '2026-04-10', '{"description": "Lagos"}')$$,
                 '23505', NULL, '4.22: a second removal for a returnee with a live removal is refused');
SELECT is((SELECT count(*)::int FROM hublink.search_removals(returnee_name => 'chinedu oka')), 1,
          'search by part of a returnee''s name');
SELECT is((SELECT removal_reference FROM hublink.search_removals(case_reference => 'CASE-77319')),
          (SELECT v FROM hublink_test.v WHERE k = 'r1'), 'search by case reference');

-- --- escort quotes --------------------------------------------------------------------------
SELECT lives_ok($$SELECT hublink.request_escort_quotes((SELECT v FROM hublink_test.v WHERE k = 'r1'))$$,
                'the escort quote request is sent');
SELECT is(hublink_test.states((SELECT v FROM hublink_test.v WHERE k = 'r1')), 'quoting/quote_requested/none',
          'quoting; the escort booking has its quote requested');
SELECT is((SELECT hublink.validate_message(hublink.outbox_document(o.id)) FROM hublink.outbox o WHERE o.message_type = 'EscortQuoteRequest'),
          '[]'::jsonb, 'the request in the outbox is valid against its schema');
SELECT ok((SELECT hublink.outbox_document(o.id)::text NOT LIKE '%HIGH_PROFILE%' FROM hublink.outbox o WHERE o.message_type = 'EscortQuoteRequest'),
          'the request does not carry what the ESP may not see');

-- an escort booking response before any booking request: impossible, rejected with the reason
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.ex('escort-booking-response', (SELECT v FROM hublink_test.v WHERE k = 'r1')))$$,
                'an impossible message does not fail the handler');
SELECT is(hublink_test.last_error() ->> 'failedMessageType', 'EscortBookingResponse', 'it is answered on the error queue');
SELECT is(hublink_test.last_error() ->> 'queue', 'escort-booking-response', 'of its queue');
SELECT matches(hublink_test.last_error() -> 'problems' -> 0 ->> 'error', 'impossible: the escort booking is quote_requested',
               'with the reason');
SELECT is(hublink_test.states((SELECT v FROM hublink_test.v WHERE k = 'r1')), 'quoting/quote_requested/none',
          'and nothing changed');

SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.ex('escort-quote-response', (SELECT v FROM hublink_test.v WHERE k = 'r1')))$$,
                'the escort quote response is applied');
SELECT is(hublink_test.states((SELECT v FROM hublink_test.v WHERE k = 'r1')), 'quoting/quoted/none', 'escort quoted');
SELECT is((SELECT count(*)::int FROM hublink.escort_quote WHERE NOT superseded), 3, 'three escort quotes (dates)');
SELECT is((SELECT count(*)::int FROM hublink.escort_effort), 12, 'effort per segment per escort');
SELECT is((SELECT sum(amount) FROM hublink.escort_effort), 4230.00, 'money as numeric(14,2)');

-- --- travel quotes --------------------------------------------------------------------------
SELECT lives_ok($$SELECT hublink.request_travel_quotes((SELECT v FROM hublink_test.v WHERE k = 'r1'), '{LHR}')$$,
                'the travel quote request is sent for the escort''s dates');
SELECT is((SELECT jsonb_array_length(hublink.outbox_document(o.id) -> 'body' -> 'escortDates') FROM hublink.outbox o
            WHERE o.message_type = 'TravelQuoteRequest'), 3, 'with the three escort dates');
SELECT is((SELECT hublink.outbox_document(o.id) #> '{body,returnees,1,travelRiskAssessment}' FROM hublink.outbox o
            WHERE o.message_type = 'TravelQuoteRequest'), '{"flags": ["DISRUPTIVE"], "escortsRequired": 2}',
          'and the travel risk subset');
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.ex('travel-quote-response', (SELECT v FROM hublink_test.v WHERE k = 'r1'),
                    '{"noQuoteReason": {"code": "NO_SUCH_REASON"}}'))$$,
                'a travel quote response with an unknown reason code');
SELECT is(hublink_test.last_error() -> 'problems' -> 0 ->> 'instanceLocation', '/body/noQuoteReason/code',
          'is rejected, pointing at the code');
SELECT is(hublink_test.last_error() -> 'problems' -> 0 ->> 'error', 'reason code "NO_SUCH_REASON" is not in the decline list',
          'saying which list');
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.fresh_quotes(hublink_test.ex('travel-quote-response',
                    (SELECT v FROM hublink_test.v WHERE k = 'r1'))))$$, 'the travel quote response is applied');
SELECT is(hublink_test.states((SELECT v FROM hublink_test.v WHERE k = 'r1')), 'quoted/quoted/quoted', 'quoted');
SELECT is((SELECT array_agg(travel_quote_reference || ':' || total_amount ORDER BY rank)
             FROM hublink.removal_quotes((SELECT v FROM hublink_test.v WHERE k = 'r1'))),
          ARRAY['TSP-TQ-88412-2:10150.00', 'TSP-TQ-88412-1:10685.00'],
          'quotes ranked by best value, travel joined to escort');
SELECT is((SELECT array_agg(travel_quote_reference || ':' || expected_total ORDER BY rank)
             FROM hublink.removal_quotes((SELECT v FROM hublink_test.v WHERE k = 'r1'))),
          ARRAY['TSP-TQ-88412-2:10390.00', 'TSP-TQ-88412-1:10685.00'],
          'ranked by expected cost: the TSP''s expected cost (price plus expected loss on cancellation) plus the escort');

-- --- re-quote (4.5): the risk changed before booking ------------------------------------------
SELECT lives_ok($$SELECT hublink.set_risk((SELECT v FROM hublink_test.v WHERE k = 'r1'), 'HO-7731904', '{VIOLENT}')$$,
                'a new risk assessment');
SELECT lives_ok($$SELECT hublink.requote((SELECT v FROM hublink_test.v WHERE k = 'r1'))$$, 're-quote');
SELECT is(hublink_test.states((SELECT v FROM hublink_test.v WHERE k = 'r1')), 'quoting/quote_requested/quoted',
          'back to message 1');
SELECT is((SELECT count(*)::int FROM hublink.removal_quotes((SELECT v FROM hublink_test.v WHERE k = 'r1'))), 0,
          'the earlier quotes can no longer be booked');
SELECT throws_ok($$SELECT hublink.choose_quote((SELECT v FROM hublink_test.v WHERE k = 'r1'), 'TSP-TQ-88412-2')$$,
                 '55000', NULL, 'choosing a superseded quote is refused');
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.ex('escort-quote-response', (SELECT v FROM hublink_test.v WHERE k = 'r1'),
                    replacements => '{ESP-EQ-000123-,ESP-EQ-000124-}'))$$, 'new escort quotes');
SELECT lives_ok($$SELECT hublink.request_travel_quotes((SELECT v FROM hublink_test.v WHERE k = 'r1'))$$, 'travel re-quoted');
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.fresh_quotes(hublink_test.ex('travel-quote-response',
                    (SELECT v FROM hublink_test.v WHERE k = 'r1'), replacements => '{ESP-EQ-000123-,ESP-EQ-000124-,TSP-TQ-88412-,TSP-TQ-88413-}')))$$,
                'new travel quotes');

-- --- booking -------------------------------------------------------------------------------
SELECT is(cardinality(hublink.choose_quote((SELECT v FROM hublink_test.v WHERE k = 'r1'), 'TSP-TQ-88413-1')), 2,
          'choosing a quote sends both booking requests');
SELECT is(hublink_test.states((SELECT v FROM hublink_test.v WHERE k = 'r1')), 'booking/booking_requested/booking_requested',
          'booking');
SELECT throws_ok($$SELECT hublink.next_state('escort', 'booking_requested', 'EscortUpdate.delayed', 'in', 'hub')$$, 'HL002',
                 NULL, 'an escort update now would be premature');
SELECT throws_ok($$SELECT hublink.handle_message(hublink_test.msg('EscortUpdate', (SELECT v FROM hublink_test.v WHERE k = 'r1'), 'ESP',
                    '{"escortQuoteReference": "ESP-EQ-000124-B", "delayed": {"reason": {"code": "TRAFFIC"},
                      "segments": [{"segmentId": "S1", "newStart": "2026-03-17T07:00:00+00:00", "newFinish": "2026-03-17T08:00:00+00:00"}]}}'))$$,
                 'HL002', NULL, 'and its handler raises HL002, so the worker retries it');
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.ex('escort-booking-response', (SELECT v FROM hublink_test.v WHERE k = 'r1'),
                    replacements => '{ESP-EQ-000123-,ESP-EQ-000124-}'))$$, 'the escort booking is confirmed');
SELECT is(hublink_test.states((SELECT v FROM hublink_test.v WHERE k = 'r1')), 'booking/booked/booking_requested',
          'not booked before the travel is');
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.ex('travel-booking-response', (SELECT v FROM hublink_test.v WHERE k = 'r1'),
                    replacements => '{TSP-TQ-88412-,TSP-TQ-88413-}'))$$, 'the travel booking is confirmed');
SELECT is(hublink_test.states((SELECT v FROM hublink_test.v WHERE k = 'r1')), 'booked/booked/booked', 'booked');
SELECT is((SELECT count(*)::int FROM hublink.ticket WHERE current), 5, 'five e-tickets');
SELECT is((SELECT event FROM hublink.state_transition WHERE machine = 'removal' ORDER BY state_transition_id DESC LIMIT 1),
          'BookingsConfirmed', 'the removal was confirmed by the hub''s own step');
SELECT is_empty($$SELECT 1 FROM hublink.state_transition WHERE direction <> 'local' AND message_id IS NULL$$,
                'every transition by a message names it');

-- --- after booking: amendments, escort change, flight change, delay ---------------------------
SELECT lives_ok($$INSERT INTO hublink_test.v SELECT 'eamend', hublink.amend_escort((SELECT v FROM hublink_test.v WHERE k = 'r1'),
                    (SELECT (e.body::jsonb -> 'body') - 'escortQuoteReference' FROM hublink_test.example e WHERE e.name = 'escort-amendment.json'))$$,
                'an escort amendment is sent');
SELECT is(hublink_test.states((SELECT v FROM hublink_test.v WHERE k = 'r1')), 'booked/amended/booked', 'it waits for its outcome');
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.ex('escort-update', (SELECT v FROM hublink_test.v WHERE k = 'r1'),
                    jsonb_build_object('amendmentOutcome', (SELECT (e.body::jsonb #> '{body,amendmentOutcome}')
                        || jsonb_build_object('amendmentMessageId', (SELECT v FROM hublink_test.v WHERE k = 'eamend'))
                        FROM hublink_test.example e WHERE e.name = 'escort-update.json')),
                    '{ESP-EQ-000123-,ESP-EQ-000124-}'))$$, 'the escort update with the outcome and an escort change');
SELECT is(hublink_test.states((SELECT v FROM hublink_test.v WHERE k = 'r1')), 'booked/booked/booked', 'booked again');
SELECT is((SELECT outcome_accepted FROM hublink.amendment WHERE booking = 'escort'), true, 'the amendment was accepted');
SELECT is((SELECT string_agg(escort_id, ',' ORDER BY escort_id) FROM hublink.escort_person WHERE active),
          'ESC-40117,ESC-40388,ESC-40502', 'escort change: ESC-40245 replaced by ESC-40502');
SELECT lives_ok($$INSERT INTO hublink_test.v SELECT 'tamend', hublink.amend_travel((SELECT v FROM hublink_test.v WHERE k = 'r1'),
                    (SELECT (e.body::jsonb -> 'body') - 'travelQuoteReference' - 'escortQuoteReference'
                       FROM hublink_test.example e WHERE e.name = 'travel-amendment.json'))$$,
                'a travel amendment for the name change is sent');
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.ex('travel-update', (SELECT v FROM hublink_test.v WHERE k = 'r1'),
                    jsonb_build_object('amendmentOutcome', (SELECT (e.body::jsonb #> '{body,amendmentOutcome}')
                        || jsonb_build_object('amendmentMessageId', (SELECT v FROM hublink_test.v WHERE k = 'tamend'))
                        FROM hublink_test.example e WHERE e.name = 'travel-update.json')),
                    '{TSP-TQ-88412-,TSP-TQ-88413-}'))$$, 'the travel update: flight delay, outcome, change fee');
SELECT is(hublink_test.states((SELECT v FROM hublink_test.v WHERE k = 'r1')), 'booked/booked/booked', 'still booked');
SELECT is((SELECT start_time FROM hublink.itinerary_segment WHERE segment_id = 'T1' AND current
              AND travel_quote_id = (SELECT travel_quote_id FROM hublink.travel_quote WHERE travel_quote_reference = 'TSP-TQ-88413-1')),
          '2026-03-17T11:40:00+00:00'::timestamptz, 'flight change: BA75 retimed by 30 minutes');
SELECT is((SELECT kind || ' ' || amount || ' ' || currency || ' ' || reason_code FROM hublink.financial_consequence),
          'change_fee 75.00 GBP NAME_CHANGE', 'the change fee');
SELECT is((SELECT ticket_number FROM hublink.ticket WHERE current AND traveller = '{"escortNumber": 2}'),
          '1252400198765', 'the reissued ticket replaces the old one');

-- --- completion ----------------------------------------------------------------------------
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.msg('TravelUpdate', (SELECT v FROM hublink_test.v WHERE k = 'r1'), 'TSP',
                    '{"travelQuoteReference": "TSP-TQ-88413-1", "completed": {"segments": [{"segmentId": "T1",
                      "departedAt": "2026-03-17T11:52:00+00:00", "arrivedAt": "2026-03-17T19:01:00+01:00"}]}}'))$$,
                'the flight took place');
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.msg('EscortUpdate', (SELECT v FROM hublink_test.v WHERE k = 'r1'), 'ESP',
                    '{"escortQuoteReference": "ESP-EQ-000124-B", "completed": {"segments": [{"segmentId": "S1",
                      "departedAt": "2026-03-17T06:35:00+00:00", "arrivedAt": "2026-03-17T07:25:00+00:00"}]}}'))$$,
                'the escorting was completed');
SELECT is(hublink_test.states((SELECT v FROM hublink_test.v WHERE k = 'r1')), 'completed/completed/completed', 'completed');
SELECT throws_ok($$SELECT hublink.amend_travel((SELECT v FROM hublink_test.v WHERE k = 'r1'), '{"other": "too late"}')$$,
                 'HL001', NULL, 'no amendment after completion');

-- --- an unescorted removal, cancelled before booking; another cancelled after -----------------
INSERT INTO hublink_test.v
SELECT 'r2', hublink.create_removal('CASE-88001', '[{"personalDetails": {"hoReturneeReference": "HO-7731905",
        "name": {"givenNames": "Chinedu", "familyName": "Okafor"}, "dateOfBirth": "2005-11-02", "nationality": "NGA", "gender": "M"},
        "travelDocuments": [{"type": "PASSPORT", "number": "A09999999", "issuingCountry": "NGA"}],
        "location": {"detentionCentreId": "HARMONDSWORTH_IRC"}, "risk": {"flags": []}}]',
        '2026-05-01', '2026-05-10', '{"description": "Lagos, Nigeria", "country": "NGA", "airportCode": "LOS"}');
SELECT is((SELECT escorted FROM hublink.removal WHERE removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'r2')), false,
          'after completion the returnee may be removed again; no flags: unescorted');
SELECT lives_ok($$SELECT hublink.request_travel_quotes((SELECT v FROM hublink_test.v WHERE k = 'r2'))$$,
                'an unescorted removal starts with the travel quote request');
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.msg('TravelQuoteResponse', (SELECT v FROM hublink_test.v WHERE k = 'r2'), 'TSP',
                    (SELECT jsonb_build_object('quotes', jsonb_build_array((q - 'escortQuoteReference')
                            || '{"conditions": {"refundable": true, "expiresAt": "2099-01-01T00:00:00+00:00"}}')) FROM hublink_test.example e,
                            jsonb_array_elements(e.body::jsonb #> '{body,quotes}') q
                      WHERE e.name = 'travel-quote-response.json' AND q ->> 'travelQuoteReference' = 'TSP-TQ-88412-1')))$$,
                'one travel quote');
SELECT is(cardinality(hublink.cancel_removal((SELECT v FROM hublink_test.v WHERE k = 'r2'), 'LEGAL_CHALLENGE', 'JR lodged.')), 1,
          'cancellation before booking: one travel cancellation');
SELECT is(hublink_test.states((SELECT v FROM hublink_test.v WHERE k = 'r2')), 'cancelled/none/cancelled', 'cancelled');
SELECT is((SELECT before_booking FROM hublink.cancellation WHERE removal_id =
            (SELECT removal_id FROM hublink.removal WHERE removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'r2'))),
          true, 'recorded as before booking');
SELECT throws_ok($$SELECT hublink.choose_quote((SELECT v FROM hublink_test.v WHERE k = 'r2'), 'TSP-TQ-88412-1')$$,
                 'HL001', NULL, 'no booking after cancellation');
SELECT throws_ok($$SELECT hublink.cancel_removal((SELECT v FROM hublink_test.v WHERE k = 'r2'), 'NOT_A_REASON')$$,
                 '22023', NULL, 'a cancellation reason must be in its list');


-- cancellation after booking
INSERT INTO hublink_test.v
SELECT 'r3', hublink.create_removal('CASE-88002', '[{"personalDetails": {"hoReturneeReference": "HO-5550001",
        "name": {"givenNames": "Ana", "familyName": "Pereira"}, "dateOfBirth": "1990-01-01", "nationality": "BRA", "gender": "F"},
        "travelDocuments": [{"type": "PASSPORT", "number": "FP123456", "issuingCountry": "BRA"}],
        "location": {"prisonId": "HMP_BRONZEFIELD"}, "risk": {"flags": []}}]',
        '2026-05-01', '2026-05-10', '{"description": "Sao Paulo, Brazil", "country": "BRA", "airportCode": "GRU"}');
SELECT lives_ok($$SELECT hublink.request_travel_quotes((SELECT v FROM hublink_test.v WHERE k = 'r3'));
                  SELECT hublink.handle_message(hublink_test.msg('TravelQuoteResponse', (SELECT v FROM hublink_test.v WHERE k = 'r3'), 'TSP',
                    (SELECT jsonb_build_object('quotes', jsonb_build_array((q - 'escortQuoteReference')
                            || '{"conditions": {"refundable": true, "expiresAt": "2099-01-01T00:00:00+00:00"}}')) FROM hublink_test.example e,
                            jsonb_array_elements(e.body::jsonb #> '{body,quotes}') q
                      WHERE e.name = 'travel-quote-response.json' AND q ->> 'travelQuoteReference' = 'TSP-TQ-88412-1')));
                  SELECT hublink.choose_quote((SELECT v FROM hublink_test.v WHERE k = 'r3'), 'TSP-TQ-88412-1');
                  SELECT hublink.handle_message(hublink_test.ex('travel-booking-response', (SELECT v FROM hublink_test.v WHERE k = 'r3')))$$,
                'an unescorted removal quoted and booked');
SELECT is(hublink_test.states((SELECT v FROM hublink_test.v WHERE k = 'r3')), 'booked/none/booked',
          'booked without an escort');
SELECT is(cardinality(hublink.cancel_removal((SELECT v FROM hublink_test.v WHERE k = 'r3'), 'RETURNEE_ILL', retain_for_reuse => true)), 1,
          'cancellation after booking');
SELECT is(hublink_test.states((SELECT v FROM hublink_test.v WHERE k = 'r3')), 'cancelled/none/cancelled', 'cancelled');
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.msg('TravelUpdate', (SELECT v FROM hublink_test.v WHERE k = 'r3'), 'TSP',
                    '{"travelQuoteReference": "TSP-TQ-88412-1", "financial": {"refund": {"amount": "5900.00", "currency": "GBP"},
                      "cancellationFee": {"amount": "150.00", "currency": "GBP"}, "reason": {"code": "CANCELLED_BY_HO"}}}'))$$,
                'the TSP answers with the financial consequence');
SELECT is((SELECT string_agg(kind || ' ' || amount, ', ' ORDER BY kind) FROM hublink.financial_consequence f
            JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'r3')),
          'cancellation_fee 150.00, refund 5900.00', 'refund and cancellation fee recorded');
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.msg('TravelUpdate', (SELECT v FROM hublink_test.v WHERE k = 'r3'), 'TSP',
                    '{"travelQuoteReference": "TSP-TQ-88412-1", "flightChanges": [{"reason": {"code": "DELAY"},
                      "oldSegment": {"segmentId": "T1", "segmentType": "HOTEL", "providerName": "X", "startPoint": {"name": "X"},
                                     "startTime": "2026-05-01T10:00:00+00:00", "endTime": "2026-05-01T11:00:00+00:00"},
                      "newSegment": {"segmentId": "T1", "segmentType": "HOTEL", "providerName": "X", "startPoint": {"name": "X"},
                                     "startTime": "2026-05-01T12:00:00+00:00", "endTime": "2026-05-01T13:00:00+00:00"}}]}'))$$,
                'a flight change after cancellation');
SELECT matches(hublink_test.last_error() -> 'problems' -> 0 ->> 'error', 'TravelUpdate.flight-change is impossible: the travel booking is cancelled',
               'is rejected: impossible after cancellation');

-- --- reference data ------------------------------------------------------------------------
INSERT INTO hublink.reason_code (list, code, description) VALUES ('delay', 'SNOW', 'Snow.');
SELECT is((SELECT list || ' ' || code || ' ' || operation FROM hublink.reference_change ORDER BY reference_change_id DESC LIMIT 1),
          'delay SNOW INSERT', 'a change to a reason list is recorded for announcement');
SELECT is(hublink.reason_code_valid('delay', 'SNOW'), true, 'and the new code is accepted at once');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o
