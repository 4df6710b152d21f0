-- The MI rollup (sql/parts/85_mi_rollup.sql, 89_mi_rollup_job.sql; docs/mi.md "The rollup";
-- issue 7 section 4): every rollup-backed hublink.mi_* view gives exactly the rows of its live
-- definition before the rollup (test/mi/reference.sql, the direct computation from the source
-- tables), on the scenario of test/mi/scenario.sql (several days and months, cancellations,
-- refunds, late answers): with nothing folded, folded, after late rows, updates and deletes
-- for days already folded (marked dirty, computed live, then folded again), while a fold
-- waits for its horizon, after a change of time zone or lead-time bands, and after TRUNCATE.
-- The job's horizon (every transaction that may have written before it has ended) cannot pass
-- inside one test transaction, so pg_temp.fold() moves it to the transaction's snapshot first.
BEGIN;
SELECT plan(122);
SET LOCAL "DateStyle" = 'ISO, YMD';

\o /dev/null
\ir ../mi/scenario.sql
\ir ../mi/reference.sql
\o

\ir include/mi_fold.sql
-- Each rewritten view against its live definition, as bags (duplicates count).
CREATE FUNCTION pg_temp.same(label text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    v text;
BEGIN
    FOREACH v IN ARRAY ARRAY['mi_volume', 'mi_money', 'mi_best_value', 'mi_escorting', 'mi_removal_outcome',
                             'mi_end_to_end', 'mi_sla_compliance'] LOOP
        RETURN NEXT bag_eq(format('SELECT * FROM hublink.%I', v), format('SELECT * FROM ref_%I', v),
                           format('%s: hublink.%s = its live definition', label, v));
    END LOOP;
END;
$$;

-- --- nothing folded: every view computes everything live ---------------------------------------
SELECT * FROM pg_temp.same('nothing folded');

-- --- folded: the ended days and whole months come from the rollup -------------------------------
SELECT pg_temp.fold();
SELECT is((SELECT folded_until FROM hublink.rollup_mi_state),
          (now() AT TIME ZONE (SELECT time_zone FROM hublink.reporting_config))::date,
          'the fold reaches today (every day before it has ended)');
SELECT ok((SELECT count(*) FROM hublink.rollup_mi_volume_day) > 0
          AND (SELECT count(*) FROM hublink.rollup_mi_volume_period) > 0
          AND (SELECT count(*) FROM hublink.rollup_mi_money_month) > 0
          AND (SELECT count(*) FROM hublink.rollup_mi_end_to_end_month) > 0
          AND (SELECT count(*) FROM hublink.rollup_mi_sla_compliance_month) > 0
          AND (SELECT count(*) FROM hublink.rollup_mi_sla_times) > 0,
          'the rollup holds the scenario''s days and months');
SELECT is_empty('SELECT * FROM hublink.rollup_mi_dirty_day', 'the fold cleared the dirty days it folded');
SELECT * FROM pg_temp.same('folded');

-- --- late rows, updates and deletes for days already folded --------------------------------------
-- R2: a second travel refund announced late (money owed, and less lost on its non-refundable
-- fare cancelled on 24 January); its booked departure moved (its cancellation's lead-time
-- band). R1: its departure moved (end-to-end), a late ticket (tickets per removal), its
-- amendment withdrawn, another returnee (escorts per returnee), a dearer expected cost of a
-- quote (best value). A removal created in March and cancelled the next day, arriving now.
INSERT INTO hublink.financial_consequence (removal_id, booking, message_id, kind, amount, currency, recorded_at)
VALUES (pg_temp.rid('RMV-2025-000002'), 'travel', 'tu-late', 'refund', 40.00, 'GBP', '2025-01-30 09:00Z');
UPDATE hublink.itinerary_segment g SET start_time = g.start_time - interval '2 days'
  FROM hublink.travel_quote q
 WHERE q.travel_quote_id = g.travel_quote_id AND q.removal_id = pg_temp.rid('RMV-2025-000002');
UPDATE hublink.itinerary_segment g SET start_time = g.start_time + interval '3 days'
  FROM hublink.travel_quote q
 WHERE q.travel_quote_id = g.travel_quote_id AND q.removal_id = pg_temp.rid('RMV-2025-000001');
INSERT INTO hublink.ticket (removal_id, ticket_number, traveller, message_id)
VALUES (pg_temp.rid('RMV-2025-000001'), 'T-LATE', '{}', 'tbr-late');
DELETE FROM hublink.amendment WHERE removal_id = pg_temp.rid('RMV-2025-000001');
INSERT INTO hublink.returnee (removal_id, ho_returnee_reference) VALUES (pg_temp.rid('RMV-2025-000001'), 'HO-1002');
UPDATE hublink.travel_quote SET expected_amount = expected_amount + 500
 WHERE removal_id = pg_temp.rid('RMV-2025-000001') AND expected_amount IS NOT NULL;
INSERT INTO hublink.removal (removal_reference, case_reference, escorted, state, escort_state, travel_state, created_at)
VALUES ('RMV-2025-000005', 'CASE-5', false, 'cancelled', 'none', 'none', '2025-03-05 10:00Z');
INSERT INTO hublink.state_transition (removal_id, machine, from_state, to_state, event, direction, party, at)
VALUES (pg_temp.rid('RMV-2025-000005'), 'removal', 'new', 'cancelled', 'CancelRemoval', 'local', 'hub', '2025-03-06 10:00Z');
SELECT isnt_empty('SELECT * FROM hublink.rollup_mi_dirty_day WHERE day = ''2025-01-24''',
                  'the late refund marks the day of the cancellation whose loss it changes');
SELECT isnt_empty('SELECT * FROM hublink.rollup_mi_dirty_day WHERE day = ''2025-03-06''',
                  'the late transition marks its own day');
-- SLA (hublink.mi_sla_compliance, by the month the request was sent): R4's escort quote request
-- of 16 January answered late, R2's first travel quote response rejected after the fold, R1's
-- amendment outcome recorded again as another event, R3 going to another country.
SELECT pg_temp.mi_in('EscortQuoteResponse', 'RMV-2025-000004', '2025-01-16 10:00:00.250Z');
UPDATE hublink.inbox SET status = 'rejected', problems = '[]'
 WHERE removal_id = 'RMV-2025-000002' AND message_type = 'TravelQuoteResponse';
UPDATE hublink.state_transition SET event = 'TravelUpdate.financial' WHERE message_id = 'tu-amd-1';
UPDATE hublink.removal SET destination = '{"country": "ALB"}' WHERE removal_reference = 'RMV-2025-000003';
SELECT isnt_empty('SELECT * FROM hublink.rollup_mi_dirty_day WHERE day = ''2025-01-16''',
                  'a late answer marks the day its request was sent');
SELECT isnt_empty('SELECT * FROM hublink.rollup_mi_dirty_day WHERE day = ''2025-01-13''',
                  'an answer rejected after the fold marks the day its request was sent');
SELECT isnt_empty('SELECT * FROM hublink.rollup_mi_dirty_day WHERE day = ''2025-01-10''',
                  'an answer''s event changed marks the day of the request it answered');
SELECT isnt_empty('SELECT * FROM hublink.rollup_mi_dirty_day WHERE day = ''2025-07-01''',
                  'a destination changed marks the days its requests were sent (destination rules)');
SELECT * FROM pg_temp.same('late rows, not folded again');

SELECT pg_temp.fold();
SELECT is_empty('SELECT * FROM hublink.rollup_mi_dirty_day', 'the job folded the dirty days again');
SELECT * FROM pg_temp.same('late rows folded again');

-- --- a fold waits for its horizon ------------------------------------------------------------------
-- Back to 1 February, with a horizon whose transactions have not ended: the job does not fold.
UPDATE hublink.rollup_mi_state
   SET folded_until = '2025-02-01', horizon_at = clock_timestamp(),
       horizon_xmax = (pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 1000)::text::xid8;
SELECT hublink.rollup_mi_fold();
SELECT is((SELECT folded_until FROM hublink.rollup_mi_state), date '2025-02-01',
          'a fold whose horizon has transactions still running does not move the watermark');
SELECT * FROM pg_temp.same('watermark in the past');
SELECT pg_temp.fold();
SELECT * FROM pg_temp.same('folded from the watermark on');

-- --- the configuration the rollup depends on -------------------------------------------------------
UPDATE hublink.reporting_config SET time_zone = 'America/New_York';
SELECT * FROM pg_temp.same('time zone changed, not folded');
SELECT pg_temp.fold();
SELECT * FROM pg_temp.same('time zone changed, folded again');
UPDATE hublink.lead_time_band SET to_hours = 12 WHERE band = 'under_24h';
UPDATE hublink.lead_time_band SET from_hours = 12 WHERE band = '1_to_3_days';
SELECT * FROM pg_temp.same('lead-time bands changed, not folded');
SELECT pg_temp.fold();
SELECT * FROM pg_temp.same('lead-time bands changed, folded again');
-- The SLA rules decide mi_sla_compliance's groups and targets: a change throws the rollup away.
INSERT INTO hublink.timer_rule (kind, message_type, provider, fire_offset, description)
VALUES ('response_sla', 'TravelBookingRequest', 'tsp', '3000 seconds', 'test: tighter');
SELECT is((SELECT folded_until FROM hublink.rollup_mi_window), NULL, 'a new response_sla rule makes the views ignore the rollup');
SELECT * FROM pg_temp.same('SLA rule added, not folded');
SELECT pg_temp.fold();
SELECT * FROM pg_temp.same('SLA rule added, folded again');
-- A request unanswered and not yet past its target in a folded month: the clock still changes its
-- open breaches, so its month is computed live (and once past, read from the rollup).
UPDATE hublink.timer_rule SET fire_offset = interval '2000 days'
 WHERE kind = 'response_sla' AND provider = 'esp' AND message_type IS NULL AND destination IS NULL;
SELECT pg_temp.mi_out('EscortQuoteRequest', 'RMV-2025-000004', '2025-01-20 08:00:00Z');
SELECT pg_temp.fold();
SELECT is((SELECT array_agg(month ORDER BY month) FROM hublink.rollup_mi_sla_live_month), ARRAY[date '2025-01-01'],
          'a folded month with a request unanswered before its target is computed live');
SELECT * FROM pg_temp.same('an unanswered request within its target');

-- --- TRUNCATE has no transition table: the rollup is thrown away -----------------------------------
TRUNCATE hublink.refund_receipt;
SELECT is((SELECT time_zone FROM hublink.rollup_mi_state), NULL, 'TRUNCATE of a source table throws the rollup away');
SELECT * FROM pg_temp.same('after TRUNCATE');
SELECT pg_temp.fold();
SELECT * FROM pg_temp.same('after TRUNCATE, folded again');

-- --- who reads it -----------------------------------------------------------------------------------
SELECT is((SELECT job_function::text FROM hublink.worker_job WHERE job_name = 'mi_rollup'),
          'hublink.rollup_mi_fold()', 'the worker job mi_rollup keeps the rollup');
SET LOCAL ROLE hublink_reporting;
SELECT lives_ok('SELECT * FROM hublink.mi_volume', 'reporting reads the rollup through hublink.mi_volume');
SELECT throws_ok('SELECT * FROM hublink.rollup_mi_volume_day', '42501', NULL, 'but not the rollup tables');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
