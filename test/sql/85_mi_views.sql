-- The MI views (sql/parts/84_mi_config.sql, 86_mi_views.sql; docs/mi.md): every figure of
-- every view against the hand-computed scenario of test/mi/scenario.sql (docs/mi.md "The test
-- scenario" shows the arithmetic), no personal data, and a reporting role that can read only
-- the hublink.mi_* views. Seed "Management and Business Information Reporting"; Schedule R
-- GSO 8 (end-to-end times), Appendix D (SLAs from the request put on a queue).
BEGIN;
SELECT plan(34);
SET LOCAL "DateStyle" = 'ISO, YMD';

SELECT set_eq($$SELECT relname::text FROM pg_class WHERE relnamespace = 'hublink'::regnamespace
                  AND relkind = 'v' AND relname LIKE 'mi\_%'$$,
              ARRAY['mi_sla_compliance', 'mi_end_to_end', 'mi_volume', 'mi_money', 'mi_removal_outcome',
                    'mi_best_value', 'mi_escorting', 'mi_worker', 'mi_message_backlog', 'mi_export_formats', 'mi_reporting_settings', 'mi_alerts'],
              'the MI views have stable names hublink.mi_*');

SELECT is_empty($$SELECT c.relname FROM pg_class c
                   WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind = 'v' AND c.relname LIKE 'mi\_%'
                     AND (c.reloptions::text[] && ARRAY['security_invoker=true', 'security_invoker=on']
                          OR c.relowner <> (SELECT e.extowner FROM pg_extension e WHERE e.extname = 'hublink'))$$,
                'the MI views are plain views owned by the extension owner (not security_invoker)');

-- No MI view reads a personal-data table or column (directly or through another view).
SELECT is_empty($$
    WITH RECURSIVE reads(view, rel, col) AS (
        SELECT r.ev_class, d.refobjid, d.refobjsubid
          FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
         WHERE d.refclassid = 'pg_class'::regclass
           AND r.ev_class IN (SELECT oid FROM pg_class WHERE relnamespace = 'hublink'::regnamespace
                                AND relkind = 'v' AND relname LIKE 'mi\_%')
        UNION
        SELECT x.view, d.refobjid, d.refobjsubid
          FROM reads x JOIN pg_rewrite r ON r.ev_class = x.rel
          JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
         WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid <> x.rel)
    SELECT x.view::regclass::text, x.rel::regclass::text, x.col
      FROM reads x
     WHERE obj_description(x.rel, 'pg_class') LIKE 'PERSONAL DATA:%'
        OR (x.col > 0 AND col_description(x.rel, x.col) LIKE 'PERSONAL DATA:%')$$,
    'no MI view reads a PERSONAL DATA table or column');

\o /dev/null
\ir ../mi/scenario.sql
\o

-- --- SLA compliance ------------------------------------------------------------------------------
-- EscortQuoteRequest: 6900 s, 3000 s answered, one never answered (open breach): median
-- (3000+6900)/2 = 4950, p95 3000 + 0.95*3900 = 6705, within target 2 of 3 decided = 66.67 %.
-- TravelQuoteRequest: 3600, 3000, 4800, 0 (response in the same second): median 3300, p95
-- 3600 + 0.85*1200 = 4620. TravelBookingRequest: 3600, 3600, 18000 (late), 1800: median 3600,
-- p95 3600 + 0.85*14400 = 15840, within 3/4. EscortBookingRequest: 7200, 3600: 5400,
-- 3600 + 0.95*3600 = 7020. TravelAmendment: the rejected update and the one before the
-- amendment do not answer it: 7200. The unsent request is not counted.
SELECT results_eq($$SELECT v::text FROM hublink.mi_sla_compliance v WHERE month IS NULL ORDER BY request_type$$,
    $$VALUES ('(,EscortBookingRequest,EscortBookingResponse,esp,86400.000,2,2,0,5400.000,7020.000,7200.000,0,0,0,100.00)'),
             ('(,EscortQuoteRequest,EscortQuoteResponse,esp,86400.000,3,2,1,4950.000,6705.000,6900.000,0,1,1,66.67)'),
             ('(,TravelAmendment,TravelUpdate,tsp,14400.000,1,1,0,7200.000,7200.000,7200.000,0,0,0,100.00)'),
             ('(,TravelBookingRequest,TravelBookingResponse,tsp,14400.000,4,4,0,3600.000,15840.000,18000.000,1,0,1,75.00)'),
             ('(,TravelQuoteRequest,TravelQuoteResponse,tsp,14400.000,4,4,0,3300.000,4620.000,4800.000,0,0,0,100.00)')$$,
    'SLA compliance over the whole history: counts, median, p95, max, breaches, percentage');
-- Per month: R3's request at 23:40 UTC on 30 June is in July in London.
SELECT results_eq($$SELECT v::text FROM hublink.mi_sla_compliance v
                    WHERE month IS NOT NULL AND request_type = 'TravelQuoteRequest' ORDER BY month$$,
    $$VALUES ('(2025-01-01,TravelQuoteRequest,TravelQuoteResponse,tsp,14400.000,3,3,0,3000.000,3540.000,3600.000,0,0,0,100.00)'),
             ('(2025-07-01,TravelQuoteRequest,TravelQuoteResponse,tsp,14400.000,1,1,0,4800.000,4800.000,4800.000,0,0,0,100.00)')$$,
    'SLA compliance per month of the request, in the reporting time zone');
SELECT is((SELECT count(*)::int FROM hublink.mi_sla_compliance WHERE month = '2025-01-01'), 5,
          'January has a row for each of the five request types used');

-- --- end to end (GSO 8) --------------------------------------------------------------------------
-- January: to booked R1 48 h, R2 9 h, R4 4 h: median 9, p95 9 + 0.9*39 = 44.10, mean 61/3;
-- to departure only R1 (completed): 6 Jan 09:00 to 20 Jan 08:00 (the current segment) = 335 h.
SELECT results_eq($$SELECT v::text FROM hublink.mi_end_to_end v ORDER BY month$$,
    $$VALUES ('(2025-01-01,3,3,9.00,44.10,20.33,1,335.00,335.00,335.00)'),
             ('(2025-07-01,1,0,,,,0,,,)')$$,
    'end-to-end times from request to booked and to departure');

-- --- volumes -------------------------------------------------------------------------------------
SELECT results_eq($$SELECT format('%s %s %s %s %s %s', period_start, measure, booking, reason_code, lead_time_band, count)
                      FROM hublink.mi_volume WHERE granularity = 'month' ORDER BY period_start, measure, booking, reason_code$$,
    $$VALUES ('2025-01-01 amendments travel   1'),
             ('2025-01-01 booking_requests escort   2'),
             ('2025-01-01 booking_requests travel   4'),
             ('2025-01-01 bookings escort   2'),
             ('2025-01-01 bookings travel   3'),
             ('2025-01-01 cancellations travel ESCORT_UNSUCCESSFUL after_departure 1'),
             ('2025-01-01 cancellations travel LEGAL_CHALLENGE under_24h 1'),
             ('2025-01-01 declines travel FARE_UNAVAILABLE  1'),
             ('2025-01-01 quote_requests escort   3'),
             ('2025-01-01 quote_requests travel   3'),
             ('2025-01-01 quotes escort   3'),
             ('2025-01-01 quotes travel   6'),
             ('2025-01-01 removal_requests    3'),
             ('2025-01-01 removals_cancelled    1'),
             ('2025-01-01 removals_completed    1'),
             ('2025-01-01 removals_unsuccessful    1'),
             ('2025-07-01 cancellations travel RETURNEE_RELEASED  1'),
             ('2025-07-01 no_quotes travel NO_FLIGHTS  1'),
             ('2025-07-01 quote_requests travel   1'),
             ('2025-07-01 removal_requests    1'),
             ('2025-07-01 removals_cancelled    1')$$,
    'monthly volumes: requests, quotes, bookings, declines and cancellations by reason and lead time, outcomes');
SELECT results_eq($$SELECT format('%s %s', period_start, count) FROM hublink.mi_volume
                    WHERE granularity = 'week' AND measure = 'removal_requests' ORDER BY period_start$$,
    $$VALUES ('2025-01-06 1'), ('2025-01-13 2'), ('2025-06-30 1')$$,
    'weekly volumes: ISO weeks starting on Monday');
SELECT results_eq($$SELECT format('%s %s', period_start, count) FROM hublink.mi_volume
                    WHERE granularity = 'day' AND measure = 'removal_requests' ORDER BY period_start$$,
    $$VALUES ('2025-01-06 1'), ('2025-01-13 1'), ('2025-01-15 1'), ('2025-07-01 1')$$,
    'daily volumes: 23:30 UTC on 30 June is 1 July in London');
SELECT is_empty($$SELECT measure, booking, reason_code, lead_time_band FROM hublink.mi_volume
                   GROUP BY 1, 2, 3, 4
                  HAVING count(DISTINCT (SELECT sum(w.count) FROM hublink.mi_volume w WHERE w.granularity = 'day'
                                            AND w.measure = mi_volume.measure
                                            AND w.booking IS NOT DISTINCT FROM mi_volume.booking
                                            AND w.reason_code IS NOT DISTINCT FROM mi_volume.reason_code
                                            AND w.lead_time_band IS NOT DISTINCT FROM mi_volume.lead_time_band)) > 1
                      OR sum(count) FILTER (WHERE granularity = 'day') <> sum(count) FILTER (WHERE granularity = 'week')
                      OR sum(count) FILTER (WHERE granularity = 'day') <> sum(count) FILTER (WHERE granularity = 'month')$$,
    'every measure adds up to the same total by day, week and month');

-- --- money ---------------------------------------------------------------------------------------
-- GBP January: tickets 1150 + 800; escorts 3000 + 2000; refund owed 100; change fee 50;
-- cancellation fee 25; lost: R2's non-refundable 800 less the 100 refund = 700 (R4's fare was
-- refundable, R3 was cancelled before booking). February: 60 received, 40 outstanding.
SELECT results_eq($$SELECT v::text FROM hublink.mi_money v ORDER BY month, currency$$,
    $$VALUES ('(2025-01-01,EUR,500.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00)'),
             ('(2025-01-01,GBP,1950.00,5000.00,100.00,0.00,100.00,50.00,25.00,700.00)'),
             ('(2025-02-01,GBP,0.00,0.00,0.00,60.00,40.00,0.00,0.00,0.00)')$$,
    'money per month and currency, to the penny');

-- --- outcomes, tickets ---------------------------------------------------------------------------
SELECT results_eq($$SELECT v::text FROM hublink.mi_removal_outcome v ORDER BY month$$,
    $$VALUES ('(2025-01-01,1,1,1,4,4.00)'), ('(2025-07-01,0,0,1,0,)')$$,
    'removals that ended, and tickets (reissues included) per completed removal');

-- --- best value ----------------------------------------------------------------------------------
-- R1 booked TQ-2 (1150, expected 1180: the best value) over the cheapest TQ-1 (1000, expected
-- 1300): saving 120. R2 booked TQ-4, both best value and cheapest (800, expected 900).
SELECT results_eq($$SELECT v::text FROM hublink.mi_best_value v ORDER BY month, currency$$,
    $$VALUES ('(2025-01-01,EUR,1,0,500.00,520.00,520.00,500.00,520.00,0.00)'),
             ('(2025-01-01,GBP,2,1,1950.00,2080.00,2080.00,1800.00,2200.00,120.00)')$$,
    'the saving of expected-cost best value against the cheapest fare on the same quotes');

-- --- escorting -----------------------------------------------------------------------------------
-- R1: 2 escorts, 1 returnee, requested 7 Jan 09:00, current start 20 Jan 05:00 = 308 h;
-- R4: 3 escorts, 1 returnee, 15 Jan 11:00 to 17 Jan 11:00 = 48 h.
SELECT results_eq($$SELECT v::text FROM hublink.mi_escorting v ORDER BY month$$,
    $$VALUES ('(2025-01-01,2,2,5,2.50,2,178.00,48.00)')$$,
    'escorts per returnee and escort lead time');

-- --- worker and backlog --------------------------------------------------------------------------
SELECT is((SELECT format('%s %s %s', outbox_backlog, retrying, oldest_unsent_seconds IS NOT NULL) FROM hublink.mi_worker),
          '1 0 t', 'the worker view shows the unsent request as backlog');
SELECT is((SELECT format('%s %s', outbox_backlog, retrying) FROM hublink.mi_message_backlog
            WHERE queue = 'travel-quote-request'), '1 0', 'the backlog per queue');

-- --- the rules are rows --------------------------------------------------------------------------
-- The SLA targets are the timers' rules (one source with the response_sla timers): a rule for
-- the TSP's booking requests (more specific than the scenario's rule for the TSP) of 3000 s
-- makes R1's 3600 s and R2's 3600 s and 18000 s late; R4's 1800 s stays within: 1 of 4.
INSERT INTO hublink.timer_rule (kind, message_type, provider, fire_offset, description)
VALUES ('response_sla', 'TravelBookingRequest', 'tsp', '3000 seconds', 'test');
SELECT is((SELECT format('%s %s %s %s', target_seconds, late_responses, breaches, within_target_percent)
             FROM hublink.mi_sla_compliance
            WHERE month IS NULL AND request_type = 'TravelBookingRequest'), '3000.000 3 3 25.00',
          'the SLA target is the response_sla timer rule: a tighter one makes more breaches');
-- A rule for a destination is the most specific: R2 goes to ALB, 7200 s: its 3600 s is within,
-- its 18000 s late (1 of 2); R1 (3600 s, late) and R4 (1800 s) keep 3000 s (1 of 2).
UPDATE hublink.removal SET destination = '{"country": "ALB"}' WHERE removal_reference = 'RMV-2025-000002';
INSERT INTO hublink.timer_rule (kind, message_type, destination, fire_offset, description)
VALUES ('response_sla', 'TravelBookingRequest', 'ALB', '2 hours', 'test');
SELECT results_eq($$SELECT format('%s %s %s %s', target_seconds, requests, late_responses, within_target_percent)
                      FROM hublink.mi_sla_compliance
                     WHERE month IS NULL AND request_type = 'TravelBookingRequest' ORDER BY target_seconds$$,
    $$VALUES ('3000.000 2 1 50.00'), ('7200.000 2 1 50.00')$$,
    'a response_sla rule for a destination sets the target of the requests for that destination');
-- The view writes out hublink.timer_rule_for's choice set-based; both agree on every request.
SELECT set_eq($$SELECT v.request_type, v.provider, v.target_seconds, v.requests
                  FROM hublink.mi_sla_compliance v WHERE v.month IS NULL$$,
              $$SELECT o.message_type, p.provider, round(extract(epoch FROM (g).fire_offset), 3), count(*)
                  FROM hublink.outbox o
                  JOIN hublink.message_type m ON m.message_type = o.message_type
                  LEFT JOIN hublink.removal r ON r.removal_reference = o.removal_id
                 CROSS JOIN LATERAL (SELECT coalesce(nullif(m.receiver_party, 'hub'),
                                                     nullif(m.sender_party, 'hub')) AS provider) p
                 CROSS JOIN LATERAL (SELECT hublink.timer_rule_for('response_sla', o.message_type, p.provider,
                                                                   r.destination ->> 'country') AS g) f
                 WHERE o.sent_at IS NOT NULL AND (g).enabled
                   AND o.message_type IN (SELECT a.request_type FROM hublink.timer_answer a)
                 GROUP BY 1, 2, 3$$,
              'the targets are those hublink.timer_rule_for chooses, request by request');
-- A disabled most specific rule means no SLA (no timer): R2's booking requests drop out.
UPDATE hublink.timer_rule SET enabled = false WHERE destination = 'ALB';
SELECT is((SELECT string_agg(format('%s %s', target_seconds, requests), '; ') FROM hublink.mi_sla_compliance
            WHERE month IS NULL AND request_type = 'TravelBookingRequest'), '3000.000 2',
          'a disabled response_sla rule means no SLA for what it matches, as for the timers');
DELETE FROM hublink.timer_rule WHERE destination = 'ALB';
-- The pairing is hublink.timer_answer: with any update answering the amendment, R1's
-- financial update at 11:30 would answer it in 5400 s.
INSERT INTO hublink.timer_answer (request_type, answer_event) VALUES ('TravelAmendment', 'TravelUpdate%');
SELECT is((SELECT max_response_seconds FROM hublink.mi_sla_compliance
            WHERE month IS NULL AND request_type = 'TravelAmendment'), 5400.000,
          'requests and responses are paired by hublink.timer_answer, as the timers pair them');
DELETE FROM hublink.timer_answer WHERE request_type = 'TravelAmendment' AND answer_event = 'TravelUpdate%';
UPDATE hublink.lead_time_band SET to_hours = 20 WHERE band = 'under_24h';
UPDATE hublink.lead_time_band SET from_hours = 20 WHERE band = '1_to_3_days';
SELECT is((SELECT lead_time_band FROM hublink.mi_volume WHERE granularity = 'month' AND reason_code = 'LEGAL_CHALLENGE'),
          '1_to_3_days', 'lead-time bands are rows of hublink.lead_time_band');
UPDATE hublink.reporting_config SET time_zone = 'UTC';
SELECT is((SELECT string_agg(period_start::text, ' ' ORDER BY period_start) FROM hublink.mi_volume
            WHERE granularity = 'month' AND measure = 'removal_requests'), '2025-01-01 2025-06-01',
          'the reporting time zone is a row: in UTC R3 was requested in June');
SELECT throws_ok($$UPDATE hublink.reporting_config SET time_zone = 'Mars/Olympus'$$, '22023', NULL,
                 'an unknown time zone is refused');

-- --- a reporting role that cannot read the base tables -------------------------------------------
-- a member of hublink_reporting: the functions the mi_* views call are the group roles', not
-- PUBLIC's (docs/security-access.md)
CREATE ROLE hublink_mi_test_reader NOLOGIN IN ROLE hublink_reporting;
DO $$
DECLARE
    v text;
BEGIN
    FOR v IN SELECT relname FROM pg_class WHERE relnamespace = 'hublink'::regnamespace AND relkind = 'v'
                AND relname LIKE 'mi\_%' LOOP
        EXECUTE format('GRANT SELECT ON hublink.%I TO hublink_mi_test_reader', v);
    END LOOP;
    -- pgTAP keeps its counters in this session's temporary tables
    EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA %I TO hublink_mi_test_reader', pg_my_temp_schema()::regnamespace);
    EXECUTE format('GRANT ALL ON ALL SEQUENCES IN SCHEMA %I TO hublink_mi_test_reader', pg_my_temp_schema()::regnamespace);
END;
$$;
SET LOCAL ROLE hublink_mi_test_reader;
SELECT throws_ok($$SELECT count(*) FROM hublink.removal$$, '42501', NULL, 'the reader cannot read the base tables');
SELECT throws_ok($$SELECT count(*) FROM hublink.returnee_personal$$, '42501', NULL, 'nor the personal data');
SELECT is((SELECT count(*)::int FROM hublink.mi_sla_compliance), 11, 'but reads mi_sla_compliance');
SELECT is((SELECT sum(count)::int FROM hublink.mi_volume WHERE granularity = 'month'), 41, 'and mi_volume');
SELECT is((SELECT ticket_spend FROM hublink.mi_money WHERE month = '2025-01-01' AND currency = 'GBP'), 1950.00, 'and mi_money');
SELECT is((SELECT (SELECT count(*) FROM hublink.mi_end_to_end) + (SELECT count(*) FROM hublink.mi_removal_outcome)
                + (SELECT count(*) FROM hublink.mi_best_value) + (SELECT count(*) FROM hublink.mi_escorting)
                + (SELECT count(*) FROM hublink.mi_worker))::int, 8,
          'and mi_end_to_end, mi_removal_outcome, mi_best_value, mi_escorting, mi_worker');
SELECT ok((SELECT count(*) FROM hublink.mi_message_backlog) >= 1, 'and mi_message_backlog');
RESET ROLE;

-- mi_alerts: the alerts of this month, by severity, kind and source (SEC 019).
SELECT hublink.raise_alert('security_failed_logons', 'test: failed logons'),
       hublink.raise_alert('security_failed_logons', 'test: failed logons again'),
       hublink.raise_alert('response_sla_breached', 'test: a request unanswered');
SELECT hublink.acknowledge_alert(min(alert_id)) FROM hublink.alert WHERE kind = 'security_failed_logons';
SELECT is((SELECT string_agg(format('%s %s %s %s/%s/%s', severity, kind, source, alerts, acknowledged, open), '; '
                             ORDER BY kind)
             FROM hublink.mi_alerts
            WHERE month = date_trunc('month', now() AT TIME ZONE 'Europe/London')::date),
          'warning response_sla_breached timers 1/0/1; critical security_failed_logons monitoring 2/1/1',
          'mi_alerts counts this month''s alerts per severity, kind and source, acknowledged and open');
SELECT is((SELECT count(*)::int FROM pg_attribute WHERE attrelid = 'hublink.mi_alerts'::regclass AND attnum > 0
              AND attname IN ('subject', 'detail', 'raised_by', 'acknowledged_by')), 0,
          'mi_alerts shows no subject, detail or role name');

SELECT * FROM finish();
ROLLBACK;
