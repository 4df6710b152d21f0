-- The Hub functions behind the web interface's page actions (issue 16; docs/web.md "Page
-- actions"): a risk change after creation (4.18) with unknown flags refused and its
-- consequence reaching the quotes (quotes asked for before it can no longer be booked, a
-- re-quote brings bookable ones), and cancelling one booking of a removal (4.20) with its
-- reason checked and a plain refusal when there is no such booking. Provider messages are the
-- shipped examples, applied with hublink.handle_message as the worker would.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(27);

CREATE FUNCTION hublink_test.wa_ex(name text, ref text, replacements text[] DEFAULT '{}')
    RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t text := (SELECT e.body FROM hublink_test.example e WHERE e.name = wa_ex.name || '.json');
    m jsonb;
BEGIN
    FOR i IN 1 .. coalesce(array_length(replacements, 1), 0) / 2 LOOP
        t := replace(t, replacements[2 * i - 1], replacements[2 * i]);
    END LOOP;
    m := t::jsonb;
    m := jsonb_set(m, '{messageId}', to_jsonb(gen_random_uuid()::text));
    m := jsonb_set(m, '{removalId}', to_jsonb(ref));
    IF m #> '{body,quotes}' IS NOT NULL THEN   -- travel quotes that have not expired
        m := jsonb_set(m, '{body,quotes}', (SELECT jsonb_agg(jsonb_set(q, '{conditions,expiresAt}', '"2099-01-01T00:00:00+00:00"'))
                                              FROM jsonb_array_elements(m #> '{body,quotes}') q));
    END IF;
    RETURN m;
END $$;
CREATE FUNCTION hublink_test.wa_states(ref text) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws('/', r.state, r.escort_state, r.travel_state) FROM hublink.removal r WHERE r.removal_reference = ref $$;
CREATE TABLE hublink_test.wa (k text PRIMARY KEY, v text);
INSERT INTO hublink_test.wa
SELECT 'r', hublink.create_removal('CASE-WA-1', $$[
 {"personalDetails": {"hoReturneeReference": "HO-7731904", "name": {"givenNames": "Emeka Chukwudi", "familyName": "Okafor"},
                      "dateOfBirth": "1979-06-14", "nationality": "NGA", "gender": "M"},
  "travelDocuments": [{"type": "PASSPORT", "number": "A08123456", "issuingCountry": "NGA"}],
  "location": {"detentionCentreId": "HARMONDSWORTH_IRC"}, "risk": {"flags": []}},
 {"personalDetails": {"hoReturneeReference": "HO-7731905", "name": {"givenNames": "Chinedu", "familyName": "Okafor"},
                      "dateOfBirth": "2005-11-02", "nationality": "NGA", "gender": "M"},
  "travelDocuments": [{"type": "EMERGENCY_TRAVEL_DOCUMENT", "number": "ETD26004417", "issuingCountry": "NGA"}],
  "location": {"detentionCentreId": "HARMONDSWORTH_IRC"}, "risk": {"flags": ["DISRUPTIVE"]}}
]$$, '2026-03-16', '2026-03-20', '{"description": "Lagos, Nigeria", "country": "NGA", "airportCode": "LOS"}');
CREATE FUNCTION hublink_test.wa_ref() RETURNS text LANGUAGE sql AS $$ SELECT v FROM hublink_test.wa WHERE k = 'r' $$;

-- --- several returnees: each checked (4.22), each once ------------------------------------------
CREATE FUNCTION hublink_test.wa_returnee(ho text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('personalDetails', jsonb_build_object('hoReturneeReference', ho,
               'name', jsonb_build_object('givenNames', 'Ngozi', 'familyName', 'Eze'), 'dateOfBirth', '1988-02-03',
               'nationality', 'NGA', 'gender', 'F'),
           'travelDocuments', jsonb_build_array(jsonb_build_object('type', 'PASSPORT', 'number', 'P' || ho, 'issuingCountry', 'NGA')),
           'location', '{"detentionCentreId": "YARLS_WOOD_IRC"}'::jsonb, 'risk', jsonb_build_object('flags', '[]'::jsonb)) $$;
SELECT throws_ok($$SELECT hublink.create_removal('CASE-WA-2', jsonb_build_array(hublink_test.wa_returnee('HO-WA9'), hublink_test.wa_returnee('HO-WA9')),
                   '2026-03-16', '2026-03-20', '{"description": "Lagos", "country": "NGA", "airportCode": "LOS"}')$$, '22023',
                 'returnee HO-WA9 is named more than once in this removal',
                 'the same returnee twice in one removal is refused (its second entry would be dropped)');
SELECT throws_ok($$SELECT hublink.create_removal('CASE-WA-2', jsonb_build_array(hublink_test.wa_returnee('HO-WA8'), hublink_test.wa_returnee('HO-7731905')),
                   '2026-03-16', '2026-03-20', '{"description": "Lagos", "country": "NGA", "airportCode": "LOS"}')$$, '23505',
                 'returnee HO-7731905 already has a live removal',
                 '4.22 is checked for each returnee: the second one has a live removal, named in the refusal');
SELECT is((SELECT count(*)::int FROM hublink.removal WHERE case_reference = 'CASE-WA-2'), 0, 'and neither created anything');

-- quotes for the risk as created
\o /dev/null
SELECT hublink.request_escort_quotes(hublink_test.wa_ref());
SELECT hublink.handle_message(hublink_test.wa_ex('escort-quote-response', hublink_test.wa_ref()));
SELECT hublink.request_travel_quotes(hublink_test.wa_ref(), '{LHR}');
SELECT hublink.handle_message(hublink_test.wa_ex('travel-quote-response', hublink_test.wa_ref()));
\o
SELECT is((SELECT count(*)::int FROM hublink.removal_quotes(hublink_test.wa_ref())), 2, 'two quotes can be booked');

-- --- a risk change after creation (4.18) ----------------------------------------------------
SELECT throws_ok($$SELECT hublink.set_risk(hublink_test.wa_ref(), 'HO-7731904', '{VIOLENT,NOT_A_FLAG}')$$, '22023',
                 'risk flags must be flags of hublink.risk_flag', 'a risk flag the Hub does not know is refused');
SELECT throws_ok($$SELECT hublink.set_risk(hublink_test.wa_ref(), 'HO-7731904', NULL)$$, '22023', NULL,
                 'and so are no flags at all (an empty array means none apply)');
SELECT is((SELECT count(*)::int FROM hublink.risk_assessment a JOIN hublink.returnee t USING (returnee_id)
            WHERE t.ho_returnee_reference = 'HO-7731904' AND a.audience = 'hub'), 1, 'nothing was recorded');
SELECT is((SELECT count(*)::int FROM hublink.removal_quotes(hublink_test.wa_ref())), 2, 'and the quotes can still be booked');
CREATE FUNCTION hublink_test.wa_expiry_due() RETURNS boolean LANGUAGE sql AS $$
    SELECT hublink.timer_quote_still_due(t.timer_id) FROM hublink.timer t JOIN hublink.removal r USING (removal_id)
     WHERE r.removal_reference = hublink_test.wa_ref() AND t.kind = 'quote_expiry' AND t.status = 'pending' $$;
SELECT is(hublink_test.wa_expiry_due(), true, 'the best quote''s expiry timer is due');
SELECT lives_ok($$SELECT hublink.set_risk(hublink_test.wa_ref(), 'HO-7731904', '{VIOLENT,VIOLENT}', 'Assaulted an officer.')$$,
                'a new risk assessment');
SELECT is((SELECT (hublink.unsealed(a)).flags FROM hublink.risk_assessment a JOIN hublink.returnee t USING (returnee_id)
            WHERE t.ho_returnee_reference = 'HO-7731904' AND a.audience = 'hub' AND a.current), '{VIOLENT}'::text[],
          'is recorded, each flag once');
SELECT is((SELECT a.escorts_required FROM hublink.risk_assessment a JOIN hublink.returnee t USING (returnee_id)
            WHERE t.ho_returnee_reference = 'HO-7731904' AND a.audience = 'tsp' AND a.current), 2,
          'its consequence is profiled: escorts required for the TSP');
SELECT is((SELECT count(*)::int FROM hublink.removal_quotes(hublink_test.wa_ref())), 0,
          'quotes asked for before the risk changed can no longer be booked');
SELECT throws_ok($$SELECT hublink.choose_quote(hublink_test.wa_ref(), 'TSP-TQ-88412-2')$$, '55000', NULL,
                 'choosing one is refused');
SELECT is(hublink_test.wa_expiry_due(), false, 'and its expiry timer no longer warns of it (it cannot be booked)');
SELECT is(hublink_test.wa_states(hublink_test.wa_ref()), 'quoted/quoted/quoted', 'and nothing was sent');
SELECT lives_ok($$SELECT hublink.requote(hublink_test.wa_ref())$$, 're-quote on the new risk');
SELECT lives_ok($$SELECT hublink.handle_message(hublink_test.wa_ex('escort-quote-response', hublink_test.wa_ref(),
                    '{ESP-EQ-000123-,ESP-EQ-000124-}'))$$, 'new escort quotes');
SELECT lives_ok($$SELECT hublink.request_travel_quotes(hublink_test.wa_ref(), '{LHR}')$$, 'new travel quotes asked for');
\o /dev/null
SELECT hublink.handle_message(hublink_test.wa_ex('travel-quote-response', hublink_test.wa_ref(),
                              '{ESP-EQ-000123-,ESP-EQ-000124-,TSP-TQ-88412-,TSP-TQ-88413-}'));
\o
SELECT is((SELECT array_agg(travel_quote_reference ORDER BY travel_quote_reference) FROM hublink.removal_quotes(hublink_test.wa_ref())),
          '{TSP-TQ-88413-1,TSP-TQ-88413-2}'::text[], 'the new quotes, on the new risk, can be booked');

-- --- cancelling one booking (4.20) --------------------------------------------------------------
SELECT throws_ok($$SELECT hublink.cancel_booking(hublink_test.wa_ref(), 'escort', 'RETURNEE_ILL')$$, '55000',
                 format('removal %s has no escort booking to cancel', hublink_test.wa_ref()),
                 'a booking never requested: a plain refusal, not a message that fails its schema');
\o /dev/null
SELECT hublink.choose_quote(hublink_test.wa_ref(), 'TSP-TQ-88413-1');
SELECT hublink.handle_message(hublink_test.wa_ex('escort-booking-response', hublink_test.wa_ref(), '{ESP-EQ-000123-,ESP-EQ-000124-}'));
SELECT hublink.handle_message(hublink_test.wa_ex('travel-booking-response', hublink_test.wa_ref(), '{TSP-TQ-88412-,TSP-TQ-88413-}'));
\o
SELECT is(hublink_test.wa_states(hublink_test.wa_ref()), 'booked/booked/booked', 'booked');
SELECT throws_ok($$SELECT hublink.cancel_booking(hublink_test.wa_ref(), 'travel', 'NOT_A_REASON')$$, '22023',
                 'reason code "NOT_A_REASON" is not in the cancellation list', 'a reason outside the cancellation list is refused');
SELECT throws_ok($$SELECT hublink.cancel_booking(hublink_test.wa_ref(), 'hotel', 'RETURNEE_ILL')$$, '22023', NULL,
                 'a booking that is neither escort nor travel is refused');
SELECT lives_ok($$SELECT hublink.cancel_booking(hublink_test.wa_ref(), 'travel', 'RETURNEE_ILL', 'In hospital.', true)$$,
                'the travel booking alone is cancelled');
SELECT is(hublink_test.wa_states(hublink_test.wa_ref()), 'cancelled/booked/cancelled',
          'the removal is cancelled, the escort booking stays booked until it is cancelled too');
SELECT throws_ok($$SELECT hublink.cancel_booking(hublink_test.wa_ref(), 'travel', 'RETURNEE_ILL')$$, '55000',
                 format('removal %s has no travel booking to cancel', hublink_test.wa_ref()),
                 'a booking cancelled already: a plain refusal');
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o
