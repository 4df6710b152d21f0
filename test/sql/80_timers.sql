-- Workflow timers (issue 7 section 1; sql/parts/80_timers.sql, 81_timer_triggers.sql,
-- docs/timers.md): timers are created where their cause arises and cancelled where it goes,
-- their targets are rows (NFR 0005, 0006), and hublink.fire_due_timers fires due timers once,
-- in due order, marking the late ones. Firing is called directly here; the worker's job runs
-- it on time in test/e2e/timers. Runs as the Hub (hublink.party, set around the test).
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
SELECT plan(51);
CREATE TABLE timer_test.v (k text PRIMARY KEY, v text);
CREATE FUNCTION timer_test.r(key text) RETURNS text LANGUAGE sql AS $$ SELECT v FROM timer_test.v WHERE k = key $$;
-- An action must be one of the extension's own functions (docs/security-access.md "Code stored as data").
CREATE FUNCTION hublink.timer_test_fail(timer_id bigint) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'test action fails';
END $$;

SELECT is(current_setting('hublink.party'), 'hub', 'this database plays the hub');

-- --- rules as data -----------------------------------------------------------------------------
SELECT set_eq('SELECT kind FROM hublink.timer_kind',
              ARRAY['response_sla', 'quote_expiry', 'ticketing_deadline', 'refund_deadline',
                    'tig_notification', 'escort_unconfirmed'], 'the six kinds of timer');
SELECT is((SELECT job_function::text FROM hublink.worker_job WHERE job_name = 'fire_timers'),
          'hublink.timer_job()', 'the worker job fire_timers runs hublink.timer_job()');
INSERT INTO hublink.timer_rule (kind, message_type, provider, fire_offset, description)
VALUES ('response_sla', 'TravelQuoteRequest', 'tsp', interval '20 minutes', 'test: this provider');
INSERT INTO hublink.timer_rule (kind, message_type, provider, destination, fire_offset, description)
VALUES ('response_sla', 'TravelQuoteRequest', 'tsp', 'NGA', interval '10 minutes', 'test: this destination');
SELECT is((hublink.timer_rule_for('response_sla', 'TravelQuoteRequest', 'tsp', 'NGA')).fire_offset, interval '10 minutes',
          'the destination''s rule is the most specific');
SELECT is((hublink.timer_rule_for('response_sla', 'TravelQuoteRequest', 'tsp', 'FRA')).fire_offset, interval '20 minutes',
          'elsewhere the provider''s');
SELECT is((hublink.timer_rule_for('response_sla', 'TravelQuoteRequest', 'esp', 'NGA')).fire_offset, interval '24 hours',
          'else the message type''s default');
SELECT is((hublink.timer_rule_for('response_sla', 'EscortCancellation', 'esp', 'NGA')).timer_rule_id, NULL,
          'a request without a rule gets none');

-- --- creation: a response SLA counted from enqueue time ----------------------------------------
UPDATE hublink.worker_job SET next_run_at = 'infinity' WHERE job_name = 'fire_timers';
INSERT INTO timer_test.v VALUES ('r1', timer_test.new_removal('HO-8000001', false, current_date + 10));
SELECT hublink.request_travel_quotes(timer_test.r('r1'), '{LHR}') AS m \gset
SELECT is(timer_test.timers(timer_test.r('r1')), 'response_sla:pending', 'a travel quote request starts its response SLA');
SELECT is((SELECT row(t.watches, t.provider, t.destination, t.machine, t.cause_message_id, t.party)::text
             FROM hublink.timer t WHERE t.kind = 'response_sla'),
          row('TravelQuoteRequest', 'tsp', 'NGA', 'travel', :'m', 'hub')::text,
          'it watches the request, for the TSP, to Nigeria, on the travel machine, held by the Hub');
SELECT is((SELECT t.anchor_at = o.created_at AND t.due_at = o.created_at + interval '10 minutes'
             FROM hublink.timer t JOIN hublink.outbox o ON o.message_id = t.cause_message_id
            WHERE t.kind = 'response_sla'), true,
          'counted from the request''s outbox row, with the destination''s offset');
SELECT is((SELECT next_run_at FROM hublink.worker_job WHERE job_name = 'fire_timers'),
          (SELECT due_at FROM hublink.timer WHERE kind = 'response_sla'),
          'the worker''s job is brought forward to the due time');
UPDATE hublink.outbox SET sent_at = created_at + interval '30 seconds' WHERE message_id = :'m';
SELECT is((SELECT t.due_at = o.sent_at + interval '10 minutes' AND t.anchor_at = o.sent_at
             FROM hublink.timer t JOIN hublink.outbox o ON o.message_id = t.cause_message_id
            WHERE t.kind = 'response_sla'), true,
          'the broker''s confirm re-anchors the SLA at the moment the request was put on the queue');

-- --- the answer cancels it; the quotes arm quote_expiry on the best-value quote ----------------
SELECT timer_test.travel_quotes_arrive(timer_test.r('r1'), jsonb_build_array(
    timer_test.quote(timer_test.r('r1'), 'TQ-1', 900, now() + interval '1 day', now() + interval '5 days', true),
    timer_test.quote(timer_test.r('r1'), 'TQ-2', 800, now() + interval '2 days', now() + interval '6 days', false)));
SELECT is((SELECT status FROM hublink.timer WHERE kind = 'response_sla'), 'cancelled', 'the quote response cancels the SLA');
SELECT matches((SELECT cancel_reason FROM hublink.timer WHERE kind = 'response_sla'),
               '^answered by TravelQuoteResponse.quoted ', 'with the answer as the reason');
SELECT is((SELECT row(t.detail ->> 'travelQuoteReference', t.due_at)::text FROM hublink.timer t
            WHERE t.kind = 'quote_expiry' AND t.status = 'pending'),
          row('TQ-2', now() + interval '2 days' - interval '2 hours')::text,
          'quote_expiry watches the best-value quote, due two hours before it lapses');

-- --- booking: quote_expiry goes, ticketing deadline and booking SLA come -----------------------
SELECT hublink.choose_quote(timer_test.r('r1'), 'TQ-1');
SELECT is((SELECT count(*)::int FROM hublink.timer WHERE kind = 'quote_expiry' AND status = 'pending'), 0,
          'a booking request cancels quote_expiry');
SELECT is((SELECT due_at FROM hublink.timer WHERE kind = 'ticketing_deadline' AND status = 'pending'),
          now() + interval '1 day' - interval '2 hours', 'ticketing_deadline counts back from the booked quote''s expiry');
SELECT is((SELECT due_at - anchor_at FROM hublink.timer WHERE kind = 'response_sla' AND watches = 'TravelBookingRequest'),
          interval '4 hours', 'the booking request has its own SLA');
SELECT timer_test.travel_booking_answered(timer_test.r('r1'), 'TQ-1', true);
SELECT is((SELECT cancel_reason LIKE 'ticket % issued %' FROM hublink.timer WHERE kind = 'ticketing_deadline'), true,
          'the tickets cancel the ticketing deadline');
SELECT is((SELECT status FROM hublink.timer WHERE kind = 'response_sla' AND watches = 'TravelBookingRequest'), 'cancelled',
          'the booking response cancels its SLA');
SELECT is((SELECT anchor_at FROM hublink.timer WHERE kind = 'refund_deadline' AND status = 'pending'),
          now() + interval '5 days', 'a refundable booking gets a refund deadline anchored at the departure');
SELECT is((SELECT due_at FROM hublink.timer WHERE kind = 'refund_deadline'), now() + interval '5 days' - interval '96 hours',
          'due a day before the 72-hour refund cut-off');
SELECT is((SELECT due_at FROM hublink.timer WHERE kind = 'tig_notification' AND status = 'pending'),
          now() + interval '5 days' - interval '7 days', 'the TIG notification period counts back from the departure');

-- --- a decline, a non-refundable fare, a disabled rule ------------------------------------------
UPDATE hublink.timer_rule SET enabled = false WHERE kind = 'tig_notification';
INSERT INTO timer_test.v VALUES ('r2', timer_test.new_removal('HO-8000002', false, current_date + 10));
SELECT hublink.request_travel_quotes(timer_test.r('r2'), '{LHR}');
SELECT timer_test.travel_quotes_arrive(timer_test.r('r2'), jsonb_build_array(
    timer_test.quote(timer_test.r('r2'), 'TQ-3', 700, now() + interval '1 day', now() + interval '5 days', false)));
SELECT hublink.choose_quote(timer_test.r('r2'), 'TQ-3');
SELECT timer_test.travel_booking_answered(timer_test.r('r2'), 'TQ-3', false);
SELECT matches((SELECT t.cancel_reason FROM hublink.timer t JOIN hublink.removal r USING (removal_id)
                 WHERE r.removal_reference = timer_test.r('r2') AND t.kind = 'ticketing_deadline'),
               '^booking declined', 'a declined booking cancels its ticketing deadline');
SELECT hublink.choose_quote(timer_test.r('r2'), 'TQ-3');
SELECT timer_test.travel_booking_answered(timer_test.r('r2'), 'TQ-3', true);
SELECT is((SELECT count(*)::int FROM hublink.timer t JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = timer_test.r('r2') AND t.kind IN ('refund_deadline', 'tig_notification')), 0,
          'no refund deadline for a non-refundable fare, no TIG timer while its rule is disabled');
UPDATE hublink.timer_rule SET enabled = true WHERE kind = 'tig_notification';

-- --- firing: in due order, once, late after downtime ---------------------------------------------
-- The two timers of r1 were created an hour ago and were due 20 and 10 minutes ago: the worker
-- was down. (The rows are moved back in time; fire_due_timers reads the clock.)
UPDATE hublink.timer SET created_at = clock_timestamp() - interval '1 hour',
                         due_at = clock_timestamp() - CASE kind WHEN 'refund_deadline' THEN interval '20 minutes'
                                                                ELSE interval '10 minutes' END
 WHERE kind IN ('refund_deadline', 'tig_notification') AND status = 'pending';
SELECT is(hublink.fire_due_timers(), 2, 'the two overdue timers fire');
SELECT is((SELECT array_agg(kind ORDER BY alert_id) FROM hublink.alert), ARRAY['refund_deadline', 'tig_notification_due'],
          'in due order, one alert each');
SELECT is((SELECT bool_and(late) FROM hublink.timer WHERE status = 'fired'), true, 'both marked late');
SELECT is((SELECT lateness >= interval '20 minutes' AND lateness < interval '21 minutes'
             FROM hublink.timer WHERE kind = 'refund_deadline'), true, 'with their lateness');
SELECT is((SELECT row(a.severity, a.removal_id, a.due_at = t.due_at, a.detail ->> 'late', a.detail ->> 'timerId')::text
             FROM hublink.alert a JOIN hublink.timer t ON t.alert_id = a.alert_id WHERE t.kind = 'refund_deadline'),
          (SELECT row('critical', t.removal_id, true, 'true', t.timer_id)::text FROM hublink.timer t WHERE t.kind = 'refund_deadline'),
          'the alert has the severity, the removal, the due time and the lateness');
SELECT matches((SELECT subject FROM hublink.alert WHERE kind = 'refund_deadline'),
               '^Removal RMV-[0-9]{4}-[0-9]{6}: last moment to cancel', 'and a subject for a person');
SELECT is(hublink.fire_due_timers(), 0, 'firing again fires nothing');
SELECT is((SELECT count(*)::int FROM hublink.alert), 2, 'no second alert: each timer fires once');
SELECT is((SELECT count(*)::int FROM hublink.timer WHERE status = 'pending' AND due_at <= clock_timestamp()), 0,
          'nothing due is left pending');

-- on time: due a second ago, created before
INSERT INTO timer_test.v VALUES ('r3', timer_test.new_removal('HO-8000003', false, current_date + 10));
SELECT hublink.request_travel_quotes(timer_test.r('r3'), '{LHR}');
UPDATE hublink.timer t SET created_at = clock_timestamp() - interval '10 minutes', due_at = clock_timestamp() - interval '1 second'
  FROM hublink.removal r WHERE r.removal_id = t.removal_id AND r.removal_reference = timer_test.r('r3');
SELECT is(hublink.fire_due_timers(), 1, 'a timer due a second ago fires');
SELECT is((SELECT late FROM hublink.timer t JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = timer_test.r('r3')), false, 'and is not late');

-- --- cancelled, not fired, when the cause is gone ------------------------------------------------
INSERT INTO timer_test.v VALUES ('r4', timer_test.new_removal('HO-8000004', false, current_date + 10));
SELECT hublink.request_travel_quotes(timer_test.r('r4'), '{LHR}');
SELECT timer_test.travel_quotes_arrive(timer_test.r('r4'), jsonb_build_array(
    timer_test.quote(timer_test.r('r4'), 'TQ-4', 700, now() + interval '1 day', now() + interval '5 days', true)));
SELECT hublink.cancel_removal(timer_test.r('r4'), (SELECT code FROM hublink.reason_code
                                                    WHERE list = 'cancellation' AND active ORDER BY code LIMIT 1));
SELECT is(timer_test.timers(timer_test.r('r4')), 'response_sla:cancelled quote_expiry:cancelled',
          'cancelling the removal cancels its timers');
SELECT is((SELECT cancel_reason FROM hublink.timer t JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = timer_test.r('r4') AND t.kind = 'quote_expiry'), 'the travel is cancelled',
          'because its machine ended');
-- a cause that went away by a path no trigger saw: the quote was superseded under it
INSERT INTO timer_test.v VALUES ('r5', timer_test.new_removal('HO-8000005', false, current_date + 10));
SELECT hublink.request_travel_quotes(timer_test.r('r5'), '{LHR}');
SELECT timer_test.travel_quotes_arrive(timer_test.r('r5'), jsonb_build_array(
    timer_test.quote(timer_test.r('r5'), 'TQ-5', 700, now() + interval '1 day', now() + interval '5 days', true)));
UPDATE hublink.travel_quote q SET superseded = true FROM hublink.removal r
 WHERE r.removal_id = q.removal_id AND r.removal_reference = timer_test.r('r5');
UPDATE hublink.timer t SET due_at = clock_timestamp() - interval '1 second'
  FROM hublink.removal r WHERE r.removal_id = t.removal_id AND r.removal_reference = timer_test.r('r5') AND t.status = 'pending';
SELECT is(hublink.fire_due_timers(), 0, 'a due timer whose cause is gone does not fire');
SELECT is((SELECT row(t.status, t.cancel_reason, t.alert_id)::text FROM hublink.timer t JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = timer_test.r('r5') AND t.kind = 'quote_expiry'),
          row('cancelled', 'its cause was gone when it was due', NULL::bigint)::text, 'it is cancelled, with no alert');

-- --- a rule's action sends a message; a failing firing stays pending -------------------------------
UPDATE hublink.timer_rule SET action = 'hublink.timer_requote(bigint)'::regprocedure WHERE kind = 'quote_expiry';
INSERT INTO timer_test.v VALUES ('r6', timer_test.new_removal('HO-8000006', false, current_date + 10));
SELECT hublink.request_travel_quotes(timer_test.r('r6'), '{LHR}');
SELECT timer_test.travel_quotes_arrive(timer_test.r('r6'), jsonb_build_array(
    timer_test.quote(timer_test.r('r6'), 'TQ-6', 700, now() + interval '1 day', now() + interval '5 days', true)));
UPDATE hublink.timer t SET due_at = clock_timestamp() - interval '1 second'
  FROM hublink.removal r WHERE r.removal_id = t.removal_id AND r.removal_reference = timer_test.r('r6') AND t.kind = 'quote_expiry';
SELECT is(hublink.fire_due_timers(), 1, 'the quote expiry fires');
SELECT is((SELECT o.message_type FROM hublink.timer t JOIN hublink.outbox o ON o.message_id = t.action_message_id
            WHERE t.kind = 'quote_expiry' AND t.status = 'fired'), 'TravelQuoteRequest',
          'its rule''s action sent a re-quote, recorded on the timer');
SELECT is(timer_test.timers(timer_test.r('r6')), 'response_sla:cancelled quote_expiry:fired response_sla:pending',
          'and the re-quote has its own SLA');
INSERT INTO hublink.timer_rule (kind, message_type, destination, fire_offset, action, description)
VALUES ('response_sla', 'TravelQuoteRequest', 'FRA', interval '1 minute', 'hublink.timer_test_fail(bigint)'::regprocedure, 'test');
UPDATE hublink.timer t SET due_at = clock_timestamp() - interval '1 second',
                           timer_rule_id = (SELECT timer_rule_id FROM hublink.timer_rule WHERE action = 'hublink.timer_test_fail(bigint)'::regprocedure)
  FROM hublink.removal r WHERE r.removal_id = t.removal_id AND r.removal_reference = timer_test.r('r6') AND t.status = 'pending';
SELECT is(hublink.fire_due_timers(), 0, 'a timer whose action fails does not count as fired');
SELECT is((SELECT row(t.status, t.attempts, t.last_error, t.alert_id)::text FROM hublink.timer t JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = timer_test.r('r6') AND t.status = 'pending'),
          row('pending', 1, 'test action fails', NULL::bigint)::text,
          'it stays pending with the error, and its alert was rolled back with it');
SELECT ok(coalesce(hublink.timer_job() > clock_timestamp(), true),
          'the job does not spin on a failing timer: it waits for run_every (NULL) or the next due time');

-- --- escorts not confirmed in time ---------------------------------------------------------------
INSERT INTO timer_test.v VALUES ('r7', timer_test.new_removal('HO-8000007', true, current_date + 10));
SELECT hublink.request_escort_quotes(timer_test.r('r7'));
SELECT is((SELECT row(t.anchor_at, t.due_at)::text FROM hublink.timer t WHERE t.kind = 'escort_unconfirmed'),
          row((current_date + 10)::timestamp AT TIME ZONE 'Europe/London',
              ((current_date + 10)::timestamp AT TIME ZONE 'Europe/London') - interval '3 days')::text,
          'an escort quote request starts escort_unconfirmed, three days before the removal date');
SELECT timer_test.escort_quotes_arrive(timer_test.r('r7'), 'EQ-7', current_date + 10);
SELECT hublink.request_travel_quotes(timer_test.r('r7'), '{LHR}');
SELECT timer_test.travel_quotes_arrive(timer_test.r('r7'), jsonb_build_array(
    timer_test.quote(timer_test.r('r7'), 'TQ-7', 700, now() + interval '1 day', now() + interval '5 days', true, 'EQ-7')));
SELECT hublink.choose_quote(timer_test.r('r7'), 'TQ-7');
SELECT is((SELECT status FROM hublink.timer WHERE kind = 'escort_unconfirmed'), 'pending', 'still pending while the booking is unanswered');
SELECT timer_test.escort_booking_answered(timer_test.r('r7'), 'EQ-7');
SELECT is((SELECT row(status, cancel_reason LIKE 'escort booking accepted%')::text FROM hublink.timer WHERE kind = 'escort_unconfirmed'),
          row('cancelled', true)::text, 'the accepted escort booking cancels it');

-- --- a flight change moves the refund deadline -------------------------------------------------
INSERT INTO hublink.itinerary_segment (travel_quote_id, segment_id, segment_type, start_time, end_time)
SELECT q.travel_quote_id, 'T9', 'PLANE', now() + interval '3 days', now() + interval '3 days 7 hours'
  FROM hublink.travel_quote q WHERE q.travel_quote_reference = 'TQ-7';
SELECT is((SELECT anchor_at FROM hublink.timer t JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = timer_test.r('r7') AND t.kind = 'refund_deadline' AND t.status = 'pending'),
          NULL, 'no refund deadline before the travel booking is accepted');
SELECT timer_test.travel_booking_answered(timer_test.r('r7'), 'TQ-7', true);
UPDATE hublink.itinerary_segment s SET current = false FROM hublink.travel_quote q
 WHERE q.travel_quote_id = s.travel_quote_id AND q.travel_quote_reference = 'TQ-7' AND s.segment_id = 'T9';
SELECT is((SELECT anchor_at FROM hublink.timer t JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = timer_test.r('r7') AND t.kind = 'refund_deadline' AND t.status = 'pending'),
          now() + interval '5 days', 'a flight change re-anchors the refund deadline at the new first departure');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o
