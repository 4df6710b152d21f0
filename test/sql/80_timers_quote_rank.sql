-- quote_expiry is armed by ranking a removal's quotes once per statement that inserts them,
-- not once per quote (issue 15 section 1, issue 17 section 3: docs/performance.md "Quote
-- expiry: one ranking per response"). Two things are pinned here:
--
--   * where the timer ends: for Hub TravelQuoteResponses of several shapes (one quote, 40
--     quotes, quotes with and without expiresAt, a re-quote's response superseding the first,
--     quotes inserted by two statements in one transaction, quotes of two removals in one
--     statement, a late quote of a removal already booking or cancelled), the pending
--     quote_expiry timer watches exactly the quote, and is due exactly when, (a) the per-row
--     logic of the trigger as it was (kept below verbatim as an oracle, as a second row trigger
--     that records its choice instead of arming) would have left it, and (b) the ranking's
--     documented order, computed here from the test's own quote data (lowest price, then
--     earliest departure, then reference; expired quotes and quotes without expiresAt never
--     watched);
--   * the cost: hublink.removal_quotes runs once per response (per removal and statement), counted
--     with track_functions in pg_stat_xact_user_functions. It ran 40 times for 40 quotes.
--
-- A tie on price with the response's last quote departing earlier: the per-row trigger ranked
-- that quote before its segments were inserted (no departure: last), so the arrival order
-- decided; now its departure counts, as hublink.removal_quotes documents.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
\o /dev/null
\ir ../e2e/timers/helpers.sql
\o
SELECT plan(43);
SET LOCAL track_functions = 'all';
CREATE TABLE timer_test.v (k text PRIMARY KEY, v text);
CREATE FUNCTION timer_test.r(key text) RETURNS text LANGUAGE sql AS $$ SELECT v FROM timer_test.v WHERE k = key $$;
CREATE FUNCTION timer_test.rid(key text) RETURNS bigint LANGUAGE sql AS $$
    SELECT removal_id FROM hublink.removal WHERE removal_reference = timer_test.r(key) $$;

-- The oracle: hublink.timer_on_travel_quote as it was (row level, one ranking per quote),
-- choosing exactly as it did, recording its choice rather than arming a timer. The last choice
-- a removal's firings made is where the old trigger left the timer (start_timer replaces the
-- pending one; a firing that finds nothing leaves it).
CREATE TABLE timer_test.oracle (n bigserial, removal_id bigint, travel_quote_reference text, expires_at timestamptz);
CREATE FUNCTION timer_test.oracle_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    best record;
BEGIN
    IF current_setting('hublink.party', true) IS DISTINCT FROM 'hub' THEN
        RETURN NULL;
    END IF;
    SELECT q.travel_quote_reference, q.expires_at INTO best
      FROM hublink.removal r, hublink.removal_quotes(r.removal_reference) q
     WHERE r.removal_id = NEW.removal_id AND q.expires_at IS NOT NULL
     LIMIT 1;
    -- Every firing is recorded (the count of rankings leaves the oracle's out); one that
    -- found nothing with a NULL reference.
    INSERT INTO timer_test.oracle (removal_id, travel_quote_reference, expires_at)
    VALUES (NEW.removal_id, best.travel_quote_reference, best.expires_at);
    RETURN NULL;
END $$;
CREATE TRIGGER zz_oracle AFTER INSERT ON hublink.travel_quote FOR EACH ROW EXECUTE FUNCTION timer_test.oracle_row();

-- What the oracle last chose for a removal, as the timer it would have armed (or NULL).
CREATE FUNCTION timer_test.oracle_timer(rid bigint) RETURNS text LANGUAGE sql AS $$
    SELECT row(o.travel_quote_reference, o.expires_at + (hublink.timer_rule_for('quote_expiry', 'TravelQuoteResponse', 'tsp', 'NGA')).fire_offset)::text
      FROM timer_test.oracle o WHERE o.removal_id = rid AND o.travel_quote_reference IS NOT NULL
     ORDER BY o.n DESC LIMIT 1 $$;
-- The pending quote_expiry timer of a removal, the same way (NULL when none).
CREATE FUNCTION timer_test.armed(rid bigint) RETURNS text LANGUAGE sql AS $$
    SELECT row(t.detail ->> 'travelQuoteReference', t.due_at)::text
      FROM hublink.timer t WHERE t.removal_id = rid AND t.kind = 'quote_expiry' AND t.status = 'pending' $$;
CREATE FUNCTION timer_test.armed_count(rid bigint) RETURNS int LANGUAGE sql AS $$
    SELECT count(*)::int FROM hublink.timer t WHERE t.removal_id = rid AND t.kind = 'quote_expiry' AND t.status = 'pending' $$;

-- The quotes of the test, as data: the documented order is computed from these rows, not by
-- hublink.removal_quotes. A response is the rows of one (removal key, response number).
CREATE TABLE timer_test.q (k text, resp int, ref text, total numeric, expires timestamptz, departs timestamptz);
CREATE FUNCTION timer_test.response(key text, n int) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_agg(timer_test.quote(timer_test.r(key), q.ref, q.total, q.expires, q.departs, false) ORDER BY q.ref)
      FROM timer_test.q q WHERE q.k = key AND q.resp = n $$;
-- Expected: of the removal's latest response (the earlier ones are superseded by the re-quote),
-- the lowest price, then the earliest departure, then the reference, among quotes with an
-- expiresAt still ahead; due at that expiry plus the rule's offset (two hours before).
CREATE FUNCTION timer_test.expected(key text) RETURNS text LANGUAGE sql AS $$
    SELECT row(q.ref, q.expires + (hublink.timer_rule_for('quote_expiry', 'TravelQuoteResponse', 'tsp', 'NGA')).fire_offset)::text
      FROM timer_test.q q
     WHERE q.k = key AND q.resp = (SELECT max(resp) FROM timer_test.q WHERE k = key)
       AND q.expires > now()
     ORDER BY q.total, q.departs, q.ref LIMIT 1 $$;

-- Rankings run so far in this transaction (track_functions = all), but the oracle's.
CREATE FUNCTION timer_test.rankings() RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce(sum(calls), 0)::bigint - (SELECT count(*) FROM timer_test.oracle)
      FROM pg_stat_xact_user_functions
     WHERE schemaname = 'hublink' AND funcname = 'removal_quotes' $$;
-- Calls of a hublink function so far in this transaction.
CREATE FUNCTION timer_test.calls(f text) RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_xact_user_functions WHERE schemaname = 'hublink' AND funcname = f $$;
CREATE TABLE timer_test.count (what text PRIMARY KEY, calls bigint);
-- Applies a removal's response n as the worker applies a TravelQuoteResponse, counting rankings.
CREATE FUNCTION timer_test.arrive(key text, n int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    before bigint := timer_test.rankings();
BEGIN
    PERFORM timer_test.travel_quotes_arrive(timer_test.r(key), timer_test.response(key, n));
    RETURN timer_test.rankings() - before;
END $$;

SELECT is(current_setting('hublink.party'), 'hub', 'this database plays the hub');

-- --- one quote --------------------------------------------------------------------------------
INSERT INTO timer_test.v VALUES ('one', timer_test.new_removal('HO-8100001', false, current_date + 10));
SELECT hublink.request_travel_quotes(timer_test.r('one'), '{LHR}') \g /dev/null
INSERT INTO timer_test.q VALUES ('one', 1, 'TQ-1', 700, now() + interval '1 day', now() + interval '5 days');
INSERT INTO timer_test.count SELECT 'one', timer_test.arrive('one', 1);
SELECT is(timer_test.armed(timer_test.rid('one')), timer_test.expected('one'), 'one quote: the timer watches it, due two hours before it lapses');
SELECT is(timer_test.armed(timer_test.rid('one')), timer_test.oracle_timer(timer_test.rid('one')), 'one quote: where the per-row trigger left it');
SELECT is((SELECT calls FROM timer_test.count WHERE what = 'one'), 1::bigint, 'one quote: one ranking');

-- --- 40 quotes: prices a permutation of 40 distinct amounts; a third lapsed already, among
-- them the cheapest, so the timer goes to the best quote still bookable ----------------------
INSERT INTO timer_test.v VALUES ('forty', timer_test.new_removal('HO-8100002', false, current_date + 10));
SELECT hublink.request_travel_quotes(timer_test.r('forty'), '{LHR}') \g /dev/null
INSERT INTO timer_test.q
SELECT 'forty', 1, 'TQ-' || lpad(i::text, 2, '0'), 500 + (i * 17 % 40) * 10,
       CASE WHEN i % 3 = 0 THEN now() - interval '1 hour' ELSE now() + interval '1 day' + i * interval '1 hour' END,
       now() + interval '5 days' + (40 - i) * interval '30 minutes'
  FROM generate_series(0, 39) i;
INSERT INTO timer_test.count SELECT 'forty', timer_test.arrive('forty', 1);
SELECT is((SELECT count(*)::int FROM hublink.travel_quote WHERE removal_id = timer_test.rid('forty')), 40, '40 quotes recorded');
SELECT is((SELECT count(*)::int FROM hublink.itinerary_segment s JOIN hublink.travel_quote q USING (travel_quote_id)
            WHERE q.removal_id = timer_test.rid('forty')), 40, 'each with its segment');
SELECT is((SELECT count(*)::int FROM hublink.travel_quote_cost c JOIN hublink.travel_quote q USING (travel_quote_id)
            WHERE q.removal_id = timer_test.rid('forty')), 40, 'and its cost per traveller');
SELECT is(timer_test.armed(timer_test.rid('forty')), timer_test.expected('forty'),
          '40 quotes: the timer watches the cheapest quote not lapsed (the cheapest has)');
SELECT ok(timer_test.expected('forty') NOT LIKE '(TQ-00,%', 'the cheapest quote (TQ-00) is not the one expected');
SELECT is(timer_test.armed(timer_test.rid('forty')), timer_test.oracle_timer(timer_test.rid('forty')), '40 quotes: where the per-row trigger left it');
SELECT is(timer_test.armed_count(timer_test.rid('forty')), 1, '40 quotes: one pending quote_expiry timer');
-- One ranking of the 40 quotes, alone: how many cancellation estimates it computes.
CREATE FUNCTION timer_test.estimates(key text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    before bigint := timer_test.calls('removal_cancel_probability');
    n      bigint;
BEGIN
    SELECT count(*) INTO n FROM hublink.removal_quotes(timer_test.r(key));
    RETURN timer_test.calls('removal_cancel_probability') - before;
END $$;
SELECT is(timer_test.estimates('forty'), 1::bigint,
          'a ranking of 40 quotes computes the cancellation estimate once, not twice per quote');
-- The regression guard of issue 17's soak: 40 rankings per response made the Hub its bound.
SELECT is((SELECT calls FROM timer_test.count WHERE what = 'forty'), 1::bigint, '40 quotes: one ranking, not one per quote');

-- and an expired quote is never watched, even the cheapest
INSERT INTO timer_test.v VALUES ('lapsed', timer_test.new_removal('HO-8100004', false, current_date + 10));
SELECT hublink.request_travel_quotes(timer_test.r('lapsed'), '{LHR}') \g /dev/null
INSERT INTO timer_test.q VALUES ('lapsed', 1, 'TQ-1', 500, now() - interval '1 minute', now() + interval '5 days'),
                                ('lapsed', 1, 'TQ-2', 600, now() + interval '3 hours', now() + interval '6 days'),
                                ('lapsed', 1, 'TQ-3', 550, now() + interval '5 hours', now() + interval '6 days');
SELECT timer_test.arrive('lapsed', 1) \g /dev/null
SELECT is(timer_test.armed(timer_test.rid('lapsed')), timer_test.expected('lapsed'), 'an expired quote is not watched: the next with an expiry is');
SELECT is(timer_test.armed(timer_test.rid('lapsed')), timer_test.oracle_timer(timer_test.rid('lapsed')), 'as the per-row trigger did');

-- --- a re-quote: the second response's quotes supersede the first's, even cheaper ones ---------
INSERT INTO timer_test.v VALUES ('requote', timer_test.new_removal('HO-8100005', false, current_date + 10));
SELECT hublink.request_travel_quotes(timer_test.r('requote'), '{LHR}') \g /dev/null
INSERT INTO timer_test.q VALUES ('requote', 1, 'TQ-1', 400, now() + interval '1 day', now() + interval '5 days'),
                                ('requote', 1, 'TQ-2', 450, now() + interval '2 days', now() + interval '5 days');
SELECT timer_test.arrive('requote', 1) \g /dev/null
SELECT is(timer_test.armed(timer_test.rid('requote')), timer_test.oracle_timer(timer_test.rid('requote')), 'first response: where the per-row trigger left it');
SELECT hublink.request_travel_quotes(timer_test.r('requote'), '{LHR}') \g /dev/null
SELECT is(timer_test.armed_count(timer_test.rid('requote')), 0, 'the re-quote request cancels the timer');
INSERT INTO timer_test.q VALUES ('requote', 2, 'TQ-3', 900, now() + interval '3 days', now() + interval '5 days'),
                                ('requote', 2, 'TQ-4', 800, now() + interval '4 days', now() + interval '5 days'),
                                ('requote', 2, 'TQ-5', 850, now() + interval '5 days', now() + interval '5 days');
INSERT INTO timer_test.count SELECT 'requote', timer_test.arrive('requote', 2);
SELECT is(timer_test.armed(timer_test.rid('requote')), timer_test.expected('requote'), 'second response: the timer watches its best quote, not a superseded one');
SELECT is(timer_test.armed(timer_test.rid('requote')), timer_test.oracle_timer(timer_test.rid('requote')), 'second response: where the per-row trigger left it');
SELECT is((SELECT calls FROM timer_test.count WHERE what = 'requote'), 1::bigint, 'second response: one ranking');

-- --- a tie on price: the earlier departure wins whichever quote came last -----------------------
INSERT INTO timer_test.v VALUES ('tie', timer_test.new_removal('HO-8100006', false, current_date + 10));
SELECT hublink.request_travel_quotes(timer_test.r('tie'), '{LHR}') \g /dev/null
INSERT INTO timer_test.q VALUES ('tie', 1, 'TQ-A', 700, now() + interval '2 days', now() + interval '6 days'),
                                ('tie', 1, 'TQ-B', 700, now() + interval '1 day', now() + interval '5 days');
SELECT timer_test.arrive('tie', 1) \g /dev/null
SELECT is(timer_test.armed(timer_test.rid('tie')), timer_test.expected('tie'),
          'equal prices: the timer watches the earlier departure (TQ-B, the response''s last quote)');

-- --- two statements in one transaction, and two removals in one statement ----------------------
-- (paths other than the handler: a loader, a repair, test/mi/scenario.sql)
INSERT INTO timer_test.v VALUES ('two', timer_test.new_removal('HO-8100007', false, current_date + 10)),
                                ('other', timer_test.new_removal('HO-8100008', false, current_date + 10));
INSERT INTO hublink.travel_quote_response (removal_id, message_id)
VALUES (timer_test.rid('two'), 'rank-two'), (timer_test.rid('other'), 'rank-other');
CREATE FUNCTION timer_test.insert_quotes(keys text[], refs text[], totals numeric[], expires timestamptz[])
    RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    before bigint := timer_test.rankings();
BEGIN
    INSERT INTO hublink.travel_quote (travel_quote_response_id, removal_id, travel_quote_reference, total_amount,
                                      currency, expires_at)
    SELECT p.travel_quote_response_id, p.removal_id, x.ref, x.total, 'GBP', x.expires
      FROM unnest(keys, refs, totals, expires) x(k, ref, total, expires)
      JOIN hublink.travel_quote_response p ON p.message_id = 'rank-' || x.k;
    RETURN timer_test.rankings() - before;
END $$;
SELECT is(timer_test.insert_quotes('{two,two}', '{TQ-1,TQ-2}', '{900,800}', ARRAY[now() + interval '1 day', now() + interval '2 days']),
          1::bigint, 'a statement inserting two quotes of a removal: one ranking');
SELECT is(timer_test.armed(timer_test.rid('two')), timer_test.oracle_timer(timer_test.rid('two')), 'first statement: where the per-row trigger left it');
SELECT is(timer_test.insert_quotes('{two}', '{TQ-3}', '{850}', ARRAY[now() + interval '3 days']),
          1::bigint, 'a second statement in the same transaction: one more');
SELECT is(timer_test.armed(timer_test.rid('two')), timer_test.oracle_timer(timer_test.rid('two')),
          'second statement: still the best of both (TQ-2), where the per-row trigger left it');
SELECT is(timer_test.armed(timer_test.rid('two')), row('TQ-2', now() + interval '2 days' - interval '2 hours')::text,
          'which is TQ-2, two hours before it lapses');
SELECT is(timer_test.insert_quotes('{two,other,two,other}', '{TQ-4,TQ-1,TQ-5,TQ-2}', '{700,990,990,980}',
                                   ARRAY[now() + interval '4 days', now() + interval '5 days', now() + interval '6 days', now() + interval '7 days']),
          2::bigint, 'a statement inserting quotes of two removals: one ranking each');
SELECT is(timer_test.armed(timer_test.rid('two')) || timer_test.armed(timer_test.rid('other')),
          timer_test.oracle_timer(timer_test.rid('two')) || timer_test.oracle_timer(timer_test.rid('other')),
          'both removals armed where the per-row trigger left them (TQ-4 and TQ-2)');

-- --- quotes without expiresAt (a TravelQuoteResponse always has one: schema 1.0 requires it;
-- a quote inserted otherwise may not): never watched; none with one, no timer ---------------
INSERT INTO timer_test.v VALUES ('noexp', timer_test.new_removal('HO-8100003', false, current_date + 10));
INSERT INTO hublink.travel_quote_response (removal_id, message_id) VALUES (timer_test.rid('noexp'), 'rank-noexp');
SELECT timer_test.insert_quotes('{noexp,noexp}', '{TQ-1,TQ-2}', '{700,600}', ARRAY[NULL, NULL]::timestamptz[]) \g /dev/null
SELECT is(timer_test.armed_count(timer_test.rid('noexp')), 0, 'quotes without expiresAt: no quote_expiry timer');
SELECT is(timer_test.oracle_timer(timer_test.rid('noexp')), NULL, 'nor did the per-row trigger arm one');
SELECT timer_test.insert_quotes('{noexp,noexp}', '{TQ-3,TQ-4}', '{650,500}', ARRAY[now() + interval '3 days', NULL]) \g /dev/null
SELECT is(timer_test.armed(timer_test.rid('noexp')), row('TQ-3', now() + interval '3 days' - interval '2 hours')::text,
          'with one that has: it is watched, though cheaper ones have none');
SELECT is(timer_test.armed(timer_test.rid('noexp')), timer_test.oracle_timer(timer_test.rid('noexp')), 'as the per-row trigger did');

-- --- a removal past quoting: a late quote of a removal whose booking is requested, or cancelled ---
INSERT INTO timer_test.v VALUES ('booked', timer_test.new_removal('HO-8100009', false, current_date + 10));
SELECT hublink.request_travel_quotes(timer_test.r('booked'), '{LHR}') \g /dev/null
INSERT INTO timer_test.q VALUES ('booked', 1, 'TQ-1', 700, now() + interval '1 day', now() + interval '5 days');
SELECT timer_test.arrive('booked', 1) \g /dev/null
SELECT hublink.choose_quote(timer_test.r('booked'), 'TQ-1') \g /dev/null
INSERT INTO hublink.travel_quote_response (removal_id, message_id) VALUES (timer_test.rid('booked'), 'rank-booked');
SELECT timer_test.insert_quotes('{booked}', '{TQ-9}', '{650}', ARRAY[now() + interval '2 days']) \g /dev/null
SELECT is(timer_test.armed(timer_test.rid('booked')), timer_test.oracle_timer(timer_test.rid('booked')),
          'a late quote after the booking request: the timer where the per-row trigger left it');
INSERT INTO timer_test.v VALUES ('cancelled', timer_test.new_removal('HO-8100010', false, current_date + 10));
SELECT hublink.request_travel_quotes(timer_test.r('cancelled'), '{LHR}') \g /dev/null
INSERT INTO timer_test.q VALUES ('cancelled', 1, 'TQ-0', 700, now() + interval '1 day', now() + interval '5 days');
SELECT timer_test.arrive('cancelled', 1) \g /dev/null
SELECT hublink.cancel_removal(timer_test.r('cancelled'), (SELECT code FROM hublink.reason_code
                                                           WHERE list = 'cancellation' AND active ORDER BY code LIMIT 1)) \g /dev/null
INSERT INTO hublink.travel_quote_response (removal_id, message_id) VALUES (timer_test.rid('cancelled'), 'rank-cancelled');
SELECT timer_test.insert_quotes('{cancelled}', '{TQ-1}', '{650}', ARRAY[now() + interval '2 days']) \g /dev/null
SELECT is(timer_test.armed(timer_test.rid('cancelled')), timer_test.oracle_timer(timer_test.rid('cancelled')),
          'a late quote of a cancelled removal: where the per-row trigger left it');

-- --- the itinerary's timers: a flight change re-anchors them once per statement; a response's
-- new segments look nothing up ----------------------------------------------------------------
INSERT INTO timer_test.v VALUES ('fly', timer_test.new_removal('HO-8100012', false, current_date + 10));
SELECT hublink.request_travel_quotes(timer_test.r('fly'), '{LHR}') \g /dev/null
INSERT INTO timer_test.q VALUES ('fly', 1, 'TQ-1', 700, now() + interval '1 day', now() + interval '5 days');
SELECT timer_test.arrive('fly', 1) \g /dev/null
SELECT hublink.choose_quote(timer_test.r('fly'), 'TQ-1') \g /dev/null
SELECT timer_test.travel_booking_answered(timer_test.r('fly'), 'TQ-1', true);
CREATE FUNCTION timer_test.anchors(key text) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(t.kind || ' ' || (t.anchor_at - now()), ', ' ORDER BY t.kind)
      FROM hublink.timer t WHERE t.removal_id = timer_test.rid(key) AND t.status = 'pending' AND t.detail ? 'firstDeparture' $$;
SELECT is(timer_test.anchors('fly'), 'tig_notification 5 days', 'booked: the TIG timer counts from the departure');
INSERT INTO hublink.itinerary_segment (travel_quote_id, segment_id, segment_type, start_time, end_time)
SELECT q.travel_quote_id, s.id, 'PLANE', now() + s.d, now() + s.d + interval '7 hours'
  FROM hublink.travel_quote q, (VALUES ('T2', interval '4 days'), ('T3', interval '3 days')) s(id, d)
 WHERE q.removal_id = timer_test.rid('fly') AND q.travel_quote_reference = 'TQ-1';
SELECT is(timer_test.anchors('fly'), 'tig_notification 3 days', 'segments inserted: re-anchored at the new first departure');
UPDATE hublink.itinerary_segment s SET current = false FROM hublink.travel_quote q
 WHERE q.travel_quote_id = s.travel_quote_id AND q.removal_id = timer_test.rid('fly') AND s.segment_id IN ('T2', 'T3');
SELECT is(timer_test.anchors('fly'), 'tig_notification 5 days', 'segments retired: back at the first current departure');
INSERT INTO timer_test.v VALUES ('forty2', timer_test.new_removal('HO-8100013', false, current_date + 10));
SELECT hublink.request_travel_quotes(timer_test.r('forty2'), '{LHR}') \g /dev/null
INSERT INTO timer_test.q SELECT 'forty2', 1, ref, total, expires, departs FROM timer_test.q WHERE k = 'forty';
CREATE TABLE timer_test.fd AS SELECT timer_test.calls('timer_first_departure') AS before;
SELECT timer_test.arrive('forty2', 1) \g /dev/null
SELECT is(timer_test.calls('timer_first_departure') - (SELECT before FROM timer_test.fd), 0::bigint,
          '40 new quotes'' segments: no departure looked up (no timer watches them; it was one per segment)');

-- --- the handler's checks, now before one insert of every quote: the first bad quote in array
-- order is named as before, and a refused response records nothing ---------------------------
CREATE FUNCTION timer_test.refused(key text, quotes jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text; ptr text; msg text;
BEGIN
    PERFORM hublink.conversation_apply(timer_test.msg('TravelQuoteResponse', timer_test.r(key), 'TSP',
                                                      jsonb_build_object('quotes', quotes)), 'in');
    RETURN 'applied';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, ptr = COLUMN_NAME, msg = MESSAGE_TEXT;
    RETURN st || ' ' || ptr || ': ' || msg;
END $$;
CREATE FUNCTION timer_test.q1(key text, ref text, escort_quote text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
    SELECT timer_test.quote(timer_test.r(key), ref, 700, now() + interval '1 day', now() + interval '5 days', false, escort_quote) $$;
INSERT INTO timer_test.v VALUES ('bad', timer_test.new_removal('HO-8100011', false, current_date + 10));
SELECT hublink.request_travel_quotes(timer_test.r('bad'), '{LHR}') \g /dev/null
SELECT is(timer_test.refused('bad', jsonb_build_array(timer_test.q1('bad', 'TQ-1'), timer_test.q1('bad', 'TQ-2'), timer_test.q1('bad', 'TQ-1'))),
          'HL001 /body/quotes/2/travelQuoteReference: travel quote "TQ-1" was already issued',
          'a reference repeated within the response: refused at its second place');
SELECT is(timer_test.refused('bad', jsonb_build_array(timer_test.q1('bad', 'TQ-1'), timer_test.q1('bad', 'TQ-2', 'EQ-NONE'), timer_test.q1('bad', 'TQ-1'))),
          'HL001 /body/quotes/1/escortQuoteReference: escort quote "EQ-NONE" is unknown',
          'an unknown escort quote before it: that is named first');
SELECT is((SELECT count(*)::int FROM hublink.travel_quote WHERE removal_id = timer_test.rid('bad'))
          + (SELECT count(*)::int FROM hublink.travel_quote_response WHERE removal_id = timer_test.rid('bad')), 0,
          'a refused response records no quote');
SELECT is(timer_test.refused('bad', jsonb_build_array(timer_test.q1('bad', 'TQ-1'))), 'applied', 'a good response is applied');
SELECT hublink.request_travel_quotes(timer_test.r('bad'), '{LHR}') \g /dev/null
SELECT is(timer_test.refused('bad', jsonb_build_array(timer_test.q1('bad', 'TQ-5'), timer_test.q1('bad', 'TQ-1'))),
          'HL001 /body/quotes/1/travelQuoteReference: travel quote "TQ-1" was already issued',
          'a reference an earlier response issued: refused after a re-quote');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o
