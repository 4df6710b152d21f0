-- The booking advice's money data as a hostile or careless admin would try it (the review of
-- 7 December 2026 found each of these; every check failed on 4fe4392): a market without the
-- low bands must not rewrite the cancellation history, an estimate of 1 must not divide by 0,
-- NaN must not pass the checks that bound the admin's numbers.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(8);
\ir include/booking_advice_fixtures.sql

CREATE FUNCTION hublink_test.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
DELETE FROM hublink.booking_market;
INSERT INTO hublink.booking_market VALUES (0, 1.50, 0.20), (24, 1.30, 0.10), (72, 1.10, 0.02), (168, 1.00, 0);

-- 1. An admin's edit of the market rewrites the lead history for good. A booked removal
-- cancelled 10 h before its first departure, while the market has no band below 72 h (an admin
-- removed them), is counted as cancelled "at least 72 h before": cancel_history_on_close puts
-- a lead below every band in the lowest band. The admin cannot correct the owner-only history.
SAVEPOINT s1;
SET LOCAL ROLE hublink_admin;
DELETE FROM hublink.booking_market WHERE hours_before < 72;
RESET ROLE;
SELECT hublink_test.ba_quoted('late', '{LEGAL_CHALLENGE_PENDING}', 10, false) AS r \gset
INSERT INTO hublink.travel_booking (removal_id, travel_quote_reference, request_message_id, outcome)
SELECT removal_id, 'late-A', gen_random_uuid()::text, 'ACCEPTED' FROM hublink.removal WHERE removal_reference = :'r';
UPDATE hublink.removal SET state = 'cancelled' WHERE removal_reference = :'r';
SELECT coalesce(sum(cancelled), 0)::int AS early FROM hublink.cancel_history_lead WHERE hours_before >= 72 \gset
ROLLBACK TO SAVEPOINT s1;  -- (pgTAP's results live in the transaction: asserted after the rollback)
SELECT is(:early, 0,
          'a cancellation 10 h before departure is never counted as one at least 72 h before, whatever bands the admin kept');

-- 2. Division by zero in plan_booking: 1 - P s(L) is 0 when both round to 1 (the comment's
-- "s < 1 whenever P = 1" holds before rounding to 4 places, not after). An estimate bound of 1
-- (as 47_booking_advice.sql sets) and a small prior weight, with three early cancellations.
SAVEPOINT s2;
UPDATE hublink.cancel_estimate_config SET min_probability = 1, max_probability = 1, prior_weight = 0.01;
INSERT INTO hublink.cancel_history_count VALUES ('{LEGAL_CHALLENGE_PENDING}', 3, 3);
INSERT INTO hublink.cancel_history_lead VALUES ('{LEGAL_CHALLENGE_PENDING}', 168, 3);
SELECT hublink_test.ba_quoted('div0', '{LEGAL_CHALLENGE_PENDING}', 100, false) AS r \gset
SELECT hublink_test.try(format('SELECT * FROM hublink.plan_booking(%L)', :'r')) AS outcome \gset
ROLLBACK TO SAVEPOINT s2;
SELECT is(:'outcome'::text, 'ok',
          'plan_booking gives advice when the estimate is 1 and the share of early cancellations rounds to 1');

-- 3. NaN passes the checks that bound the admin's money data (docs/hub.md "an admin's market
-- rows and max_sold_out are bounded by the tables' checks"): NaN >= 0 and NaN > 0 are true.
SET LOCAL ROLE hublink_admin;
SELECT throws_ok($$INSERT INTO hublink.booking_market VALUES (500, 'NaN', 0)$$, '23514', NULL,
                 'a fare factor of NaN is refused');
SELECT throws_ok($$INSERT INTO hublink.booking_market VALUES ('NaN', 1.2, 0)$$, '23514', NULL,
                 'a band of NaN hours is refused');
SELECT throws_ok($$UPDATE hublink.cancel_estimate_config SET hold_hours_before = 'NaN'$$, '23514', NULL,
                 'a hold of NaN hours is refused (plan_booking then fails for every removal: interval out of range)');
SELECT throws_ok($$UPDATE hublink.cancel_estimate_config SET prior_weight = 'NaN'$$, '23514', NULL,
                 'a prior weight of NaN is refused (every estimate becomes max_probability, every lead share 1)');
RESET ROLE;

-- 4. An admin moves the money advice quietly: halving every fare factor, or raising the
-- cancellation prior, changes which quote the advice ranks best and when it says to book; a
-- higher escort minimum (a rule, or a risk flag's) buys more escorts. Audited, but nobody was told: each change is now a
-- critical alert naming the role, like the rows that decide who is alerted.
CREATE TEMP TABLE money_alerts_before AS SELECT coalesce(max(alert_id), 0) AS id,
    (SELECT prior_probability FROM hublink.cancel_estimate_config) AS prior FROM hublink.alert;
SET LOCAL ROLE hublink_admin;
UPDATE hublink.booking_market SET fare_factor = fare_factor / 2 WHERE hours_before = 0;
UPDATE hublink.cancel_estimate_config SET prior_probability = 0.9000;
UPDATE hublink.escort_rule SET value = value + 2 WHERE rule = 'min_escorts_per_returnee';
DELETE FROM hublink.booking_market WHERE hours_before = 168;
UPDATE hublink.risk_flag SET min_escorts = min_escorts + 1 WHERE flag = 'VIOLENT';
RESET ROLE;
SELECT is((SELECT array_agg(format('%s|%s|%s', kind, severity, subject) ORDER BY alert_id)
             FROM hublink.alert WHERE alert_id > (SELECT id FROM money_alerts_before)),
          ARRAY[format('security_config_changed|critical|update of hublink.booking_market 0.00 by role %s', session_user),
                format('security_config_changed|critical|update of hublink.cancel_estimate_config true by role %s', session_user),
                format('security_config_changed|critical|update of hublink.escort_rule min_escorts_per_returnee by role %s', session_user),
                format('security_config_changed|critical|delete of hublink.booking_market 168.00 by role %s', session_user),
                format('security_config_changed|critical|update of hublink.risk_flag VIOLENT by role %s', session_user)],
          'each change of the money advice is a critical alert saying what changed and who did it');
SELECT is((SELECT (detail -> 'old' ->> 'prior_probability') || ' -> ' || (detail -> 'new' ->> 'prior_probability')
             FROM hublink.alert WHERE alert_id > (SELECT id FROM money_alerts_before)
              AND detail ->> 'table' = 'hublink.cancel_estimate_config'),
          (SELECT prior || ' -> 0.9000' FROM money_alerts_before),
          'the alert shows the old and the new value');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o
