-- What and when to book (issue 17, fourth pass; docs/hub.md "When to book"): hublink.plan_booking
-- weighs booking each quote now against holding until 72 h before departure, with the fare rise
-- and sell-out the Hub expects (hublink.booking_market) and the Hub's estimate conditioned on
-- how long before departure its profile's cancellations come (hublink.cancel_history_lead,
-- hublink.cancel_lead_share). Exact arithmetic at the edges: no history, a tiny history,
-- estimates at 0 and 1, no market, a sold-out band; and the hostile cases.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(35);
\ir include/booking_advice_fixtures.sql

-- A market the arithmetic can follow: 1.00 from a week out, 1.10 from 72 h (2 % sold out), 1.30
-- from 24 h (10 %), 1.50 at the last (20 %). The shipped rows are checked apart.
SELECT ok((SELECT count(*) FROM hublink.booking_market) >= 2 AND (SELECT bool_and(fare_factor >= 1) FROM hublink.booking_market)
          AND (SELECT fare_factor FROM hublink.booking_market ORDER BY hours_before LIMIT 1)
              > (SELECT fare_factor FROM hublink.booking_market ORDER BY hours_before DESC LIMIT 1),
          'the shipped market: fares rise as departure nears');
DELETE FROM hublink.booking_market;
INSERT INTO hublink.booking_market VALUES (0, 1.50, 0.20), (24, 1.30, 0.10), (72, 1.10, 0.02), (168, 1.00, 0);

-- --- no history: the prior (0.4), no cancellation assumed early --------------------------------
SELECT hublink_test.ba_quoted('n0', '{}', 240, true) AS r \gset
SELECT is(hublink_test.ba_advice('n0'),
          'P 0.4000 now 0.4000 early 0.0000 | now 620.00 hold 682.00 | book B',
          'no history: book B now, 1000 - 0.4 x 950 = 620.00; holding costs 1.1 x 1000 - 0.4 x 1.1 x 950 = 682.00');
SELECT is((SELECT travel_quote_reference FROM hublink.removal_quotes(:'r') WHERE rank = 1), 'n0-A',
          'where the ranking (price + P x loss) puts A first: a cancelled booking costs what it keeps, not its price as well');
SELECT is((SELECT count(*)::int FROM hublink.booking_hold b JOIN hublink.removal x USING (removal_id) WHERE x.removal_reference = :'r'), 0,
          'no hold recorded');

-- --- a history: 10 with a pending challenge (9 cancelled: 6 a week or more before departure, 1
-- from 72 h, 2 within a day), 10 without (2, within a day) ------------------------------------
INSERT INTO hublink.cancel_history_count VALUES ('{LEGAL_CHALLENGE_PENDING}', 10, 9), ('{}', 10, 2);
INSERT INTO hublink.cancel_history_lead VALUES ('{LEGAL_CHALLENGE_PENDING}', 168, 6), ('{LEGAL_CHALLENGE_PENDING}', 72, 1),
                                               ('{LEGAL_CHALLENGE_PENDING}', 24, 2), ('{}', 24, 2);
-- P = 0.6167 (docs/hub.md); s(72) = (7 + 20 x 7/31) / 29 = 0.3971; s(240) = 0.
SELECT is(hublink.cancel_lead_share('{LEGAL_CHALLENGE_PENDING}', 72), 0.3971, 'a challenge''s cancellations from 72 h on: 0.3971');
SELECT is(hublink.cancel_lead_share('{}', 72), round(20 * 7 / 31.0 / 22, 4), 'none recorded (2, both late): the global share 7/31 shrunk, 0.2053');
SELECT hublink_test.ba_quoted('h1', '{LEGAL_CHALLENGE_PENDING}', 240, false) AS r \gset
SELECT is(hublink_test.ba_advice('h1'),
          'P 0.6167 now 0.6167 early 0.2449 | now 700.00 hold 581.43 | hold A',
          'challenge, only a non-refundable fare, 10 days out: hold, (1 - 0.2449) x 1.1 x 700 = 581.43 < 700');
SELECT is((SELECT format('%s %s', b.cancel_probability, b.book_from = (SELECT min(departs_at) FROM hublink.removal_quotes(:'r')) - interval '72 hours')
             FROM hublink.booking_hold b JOIN hublink.removal x USING (removal_id) WHERE x.removal_reference = :'r'),
          '0.6167 t', 'the hold is recorded, to book 72 h before the first departure');
SELECT hublink_test.ba_quoted('h2', '{LEGAL_CHALLENGE_PENDING}', 240, true) AS r \gset
SELECT is(hublink_test.ba_advice('h2'),
          'P 0.6167 now 0.6167 early 0.2449 | now 414.14 hold 442.08 | book B',
          'the same with a refundable fare at a 50.00 fee: book B now (414.14) rather than hold (442.08)');
-- Only the first date is weighed: B moved two days later is not the advice, however cheap.
SELECT hublink_test.ba_quoted('d1', '{LEGAL_CHALLENGE_PENDING}', 240, true) AS r \gset
UPDATE hublink.itinerary_segment s SET start_time = s.start_time + interval '48 hours', end_time = s.end_time + interval '48 hours'
  FROM hublink.travel_quote t WHERE s.travel_quote_id = t.travel_quote_id AND t.travel_quote_reference = 'd1-B';
SELECT is(hublink_test.ba_advice('d1'), 'P 0.6167 now 0.6167 early 0.2449 | now 700.00 hold 581.43 | hold A',
          'a cheaper-in-expectation quote on a later date is not weighed: the advice chooses the fare and the moment, not the day');
-- Conditioned on the time left: 100 h out, the week-ahead cancellations are past.
SELECT hublink_test.ba_quoted('h3', '{LEGAL_CHALLENGE_PENDING}', 100, false) AS r \gset
SELECT is(hublink_test.ba_advice('h3'),
          'P 0.6167 now 0.5149 early 0.0443 | now 700.00 hold 687.21 | hold A',
          '100 h out: P after now 0.5149, before 72 h 0.0443; the fare 1.0708 now (between the bands), 1.10 at 72 h: hold, 0.9557 x 1.10 / 1.0708 x 700 = 687.21');
SELECT hublink_test.ba_quoted('h4', '{LEGAL_CHALLENGE_PENDING}', 48, false) AS r \gset
SELECT is(hublink_test.ba_advice('h4'), 'P 0.6167 now 0.4924 early 0.0000 | now 700.00 hold - | book A',
          '48 h out: P after now 0.6167 x 0.6029 / (1 - 0.6167 x 0.3971) = 0.4924; nothing to hold for (hold_hours_before 72)');

-- --- the market decides too ------------------------------------------------------------------
SELECT is((SELECT format('%s %s', round(fare_factor, 4), round(sold_out, 4)) FROM hublink.booking_market_at(100)), '1.0708 0.0142',
          'between bands the market is interpolated: 100 h, 1.10 + (1.00 - 1.10) x 28/96, 0.02 x 68/96');
SELECT is((SELECT format('%s %s', fare_factor, sold_out) FROM hublink.booking_market_at(1000)), '1.0000 0.0000',
          'beyond the last band: the last band''s');
UPDATE hublink.booking_market SET sold_out = 0.5 WHERE hours_before = 72;
SELECT is(hublink_test.ba_advice('h1'), 'P 0.6167 now 0.6167 early 0.2449 | now 700.00 hold - | book A',
          'half the flights sold out at 72 h (above max_sold_out 0.05): no hold');
UPDATE hublink.booking_market SET sold_out = 0.02, fare_factor = 1.60 WHERE hours_before = 72;
SELECT is(hublink_test.ba_advice('h1'), 'P 0.6167 now 0.6167 early 0.2449 | now 700.00 hold 845.71 | book A',
          'a 60 % rise by 72 h: holding costs 0.7551 x 1120 = 845.71, book now');
DELETE FROM hublink.booking_market;
SELECT is(hublink_test.ba_advice('h1'), 'P 0.6167 now 0.6167 early 0.2449 | now 700.00 hold - | book A',
          'no market rows: the Hub cannot price a hold, and books now');
INSERT INTO hublink.booking_market VALUES (0, 1.50, 0.20), (24, 1.30, 0.10), (72, 1.10, 0.02), (168, 1.00, 0);

-- --- estimates at the bounds -----------------------------------------------------------------
UPDATE hublink.cancel_estimate_config SET min_probability = 1, max_probability = 1;
SELECT is(hublink_test.ba_advice('h1'), 'P 1.0000 now 1.0000 early 0.3971 | now 700.00 hold 464.23 | hold A',
          'an estimate of 1: hold, 0.6029 cancelled after 72 h keep 0.6029 x 770 = 464.23 of A');
SELECT is(hublink_test.ba_advice('h2'), 'P 1.0000 now 1.0000 early 0.3971 | now 50.00 hold 33.16 | hold B',
          'an estimate of 1 with B: B now keeps its fee, 50.00; held, only 0.6029 x 1.1 x 50 = 33.16');
UPDATE hublink.cancel_estimate_config SET min_probability = 0, max_probability = 0;
SELECT is(hublink_test.ba_advice('h2'), 'P 0.0000 now 0.0000 early 0.0000 | now 700.00 hold 770.00 | book A',
          'an estimate of 0: the cheapest fare now');
UPDATE hublink.cancel_estimate_config SET min_probability = 0.05, max_probability = 0.95;
-- The admin's floor: no hold below hold_from_probability.
UPDATE hublink.cancel_estimate_config SET hold_from_probability = 0.7;
SELECT is(hublink_test.ba_advice('h1'), 'P 0.6167 now 0.6167 early 0.2449 | now 700.00 hold - | book A',
          'below the admin''s hold_from_probability (0.7): no hold');
UPDATE hublink.cancel_estimate_config SET hold_from_probability = 0;

-- --- a tiny history: one removal, cancelled a week out ---------------------------------------
DELETE FROM hublink.cancel_history_count;
DELETE FROM hublink.cancel_history_lead;
INSERT INTO hublink.cancel_history_count VALUES ('{}', 1, 1);
INSERT INTO hublink.cancel_history_lead VALUES ('{}', 168, 1);
SELECT hublink_test.ba_quoted('t1', '{}', 240, false) AS r \gset
SELECT is(hublink_test.ba_advice('t1'), 'P 0.4558 now 0.4558 early 0.0424 | now 700.00 hold 737.35 | book A',
          'one early cancellation is not evidence: 0.0424 early, holding costs 737.35 > 700');

-- --- the history is kept by the trigger ------------------------------------------------------
-- h1 (held, first flight 240 h out) is cancelled while held: counted as booked and cancelled,
-- in the band a week or more before departure.
UPDATE hublink.removal SET state = 'cancelled' WHERE removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'h1');
SELECT is((SELECT array_agg(format('%s %s/%s', profile, cancelled, booked) ORDER BY profile) FROM hublink.cancel_history()),
          ARRAY['{} 1/1', '{LEGAL_CHALLENGE_PENDING} 1/1'], 'a removal cancelled while held counts in the history');
SELECT is((SELECT array_agg(format('%s %s %s', profile, hours_before, cancelled) ORDER BY profile, hours_before) FROM hublink.cancel_history_lead),
          ARRAY['{} 168.00 1', '{LEGAL_CHALLENGE_PENDING} 168.00 1'], 'and in the lead band of its first departure (240 h: 168)');
-- h4 (first flight 48 h out, no hold, not booked) cancelled: counts nowhere.
UPDATE hublink.removal SET state = 'cancelled' WHERE removal_reference = (SELECT v FROM hublink_test.v WHERE k = 'h4');
SELECT is((SELECT sum(cancelled)::int FROM hublink.cancel_history_lead), 2, 'a removal cancelled unbooked and not held counts nowhere');
-- A booked removal with no quote left on file: its earliest leave date (10 days) decides the band.
SELECT hublink_test.ba_removal('HO-BA90001') AS r \gset
SELECT hublink.record_cancel_factors(:'r', '{MEDICAL_CONCERN,ESCORTED}') AS n \gset
INSERT INTO hublink.travel_booking (removal_id, travel_quote_reference, request_message_id, outcome)
SELECT removal_id, 'BA-GONE', gen_random_uuid()::text, 'ACCEPTED' FROM hublink.removal WHERE removal_reference = :'r';
UPDATE hublink.removal SET state = 'cancelled' WHERE removal_reference = :'r';
SELECT is((SELECT cancelled::int FROM hublink.cancel_history_lead WHERE profile = '{ESCORTED,MEDICAL_CONCERN}' AND hours_before = 168), 1,
          'a booked removal cancelled 9 to 10 days before its earliest leave date: band 168, profile with ESCORTED');
DELETE FROM hublink.booking_market;
SELECT hublink_test.ba_removal('HO-BA90002') AS r \gset
INSERT INTO hublink.travel_booking (removal_id, travel_quote_reference, request_message_id, outcome)
SELECT removal_id, 'BA-GONE2', gen_random_uuid()::text, 'ACCEPTED' FROM hublink.removal WHERE removal_reference = :'r';
UPDATE hublink.removal SET state = 'cancelled' WHERE removal_reference = :'r';
SELECT is((SELECT format('%s %s', (SELECT booked FROM hublink.cancel_history_count WHERE profile = '{}'),
                         (SELECT sum(cancelled) FROM hublink.cancel_history_lead))),
          '2 3', 'with no market bands the cancellation still counts, but in no lead band');
INSERT INTO hublink.booking_market VALUES (0, 1.50, 0.20), (24, 1.30, 0.10), (72, 1.10, 0.02), (168, 1.00, 0);

-- --- hostile and careless ------------------------------------------------------------------
SELECT throws_ok($$SELECT * FROM hublink.plan_booking('RMV-NOPE-000001')$$, NULL, NULL, 'an unknown removal is refused');
SELECT throws_ok($$INSERT INTO hublink.booking_market VALUES (12, 0, 0)$$, '23514', NULL, 'a fare factor of 0 is refused');
SELECT throws_ok($$INSERT INTO hublink.booking_market VALUES (12, 1.2, 1.5)$$, '23514', NULL, 'a sold-out chance above 1 is refused');
SELECT throws_ok($$INSERT INTO hublink.booking_market VALUES (-1, 1.2, 0)$$, '23514', NULL, 'a negative band is refused');
SELECT throws_ok($$UPDATE hublink.cancel_estimate_config SET max_sold_out = 2$$, '23514', NULL, 'max_sold_out above 1 is refused');
SET LOCAL ROLE hublink_caseworker;
SELECT throws_ok($$UPDATE hublink.booking_market SET fare_factor = 9$$, '42501', NULL,
                 'a caseworker cannot change the market the Hub expects');
SELECT throws_ok($$INSERT INTO hublink.cancel_history_lead VALUES ('{}', 500, 100)$$, '42501', NULL,
                 'nor write the lead history (which would make holding look free)');
SELECT lives_ok($$SELECT hublink.cancel_lead_share('{}', 72)$$,
                'but may read the shares (aggregates of closed removals: no removal in them)');
RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o
