-- A generated Hub history for test/bench/mi/run, set-based: :removals removals spread evenly
-- over the ten years 2016-2025, each with its state transitions, quotes, bookings, tickets,
-- cancellations and fees, and :messages_per messages (outbox requests and inbox responses,
-- each with a body of about 400 bytes like a real message). Shapes follow test/mi/scenario.sql;
-- the figures are arbitrary but deterministic (functions of the removal number i).
--
-- With :restore = 1, written as a restore writes (docs/operations.md "Restore"), not row by row through the
-- business triggers: session_replication_role = replica keeps the MI marks, the timers, the
-- sealing triggers and the foreign-key checks quiet, as they are for the rows of a dump, which
-- already carry their effects. So the rows are given here the form those triggers would have
-- given them: the messages' bodies sealed by the product's own hublink.seal under
-- hublink.message_key_scope (what seal_message_body stores), and no timer (every timer of a
-- finished history has fired or been cancelled: the row-by-row generator left none). The MI
-- rollup is not marked day by day: test/bench/mi/run builds it afterwards by the product's own
-- path (hublink.rollup_mi_rebuild, then the job's fold), as after a restore.
-- The audit trail: with :audit = 1 the audit triggers (ENABLE ALWAYS, so replica mode does not
-- silence them) record and seal every row as production would have (about 9 million audit rows
-- at full size, most of the generating time); with :audit = 0 hublink.restoring = on silences
-- them too: no MI view reads the audit trail. Checked at 2,000 removals against the former
-- row-by-row generator: the same rows in every table (bodies compared unsealed) but the MI
-- marks (none: the rollup is built afterwards); as many audit rows with :audit = 1, none with 0.
-- Without :restore = 1 (test/upgrade/run fills a 0.1.0 database with it), every row goes
-- through the installed version's triggers, as before.
\set ON_ERROR_STOP 1
\if :{?restore}
\else
\set restore 0
\endif
\if :{?audit}
\else
\set audit 1
\endif
SET synchronous_commit = off;
\if :restore
SET session_replication_role = replica;
SELECT :audit = 0 AS restoring \gset
\if :restoring
SET hublink.restoring = on;
\endif
\endif
CREATE UNLOGGED TABLE bench_r AS
SELECT i,
       timestamptz '2016-01-01 00:00Z' + (i::float8 / :removals) * interval '3652 days' + (i % 3600) * interval '1 second' AS ts,
       i % 3 <> 0 AS escorted,
       CASE WHEN i % 20 < 12 THEN 'completed' WHEN i % 20 < 18 THEN 'cancelled'
            WHEN i % 20 = 18 THEN 'unsuccessful' ELSE 'booked' END AS outcome,
       i % 20 IN (12, 13) AS cancelled_early,
       1 + (i % 10 = 0)::int AS returnees
  FROM generate_series(1, :removals) i;
ALTER TABLE bench_r ADD COLUMN departs timestamptz;
UPDATE bench_r SET departs = ts + interval '10 days' + (i % 200) * interval '1 hour';

INSERT INTO hublink.removal (removal_id, removal_reference, case_reference, escorted, state, created_at)
OVERRIDING SYSTEM VALUE
SELECT i, 'RMV-' || to_char(ts, 'YYYY') || '-' || lpad(i::text, 6, '0'), 'CASE-' || i, escorted, outcome, ts FROM bench_r;
INSERT INTO hublink.returnee (removal_id, ho_returnee_reference)
SELECT i, 'HO-' || i || '-' || k FROM bench_r, generate_series(1, returnees) k;

INSERT INTO hublink.state_transition (removal_id, machine, from_state, to_state, event, direction, party, at)
SELECT i, m, f, t, e, d, 'hub', at FROM bench_r,
 LATERAL (VALUES ('escort', 'none', 'quote_requested', 'EscortQuoteRequest', 'out', ts + interval '5 minutes', escorted),
                 ('removal', 'new', 'quoting', 'EscortQuoteRequest', 'out', ts + interval '5 minutes', escorted),
                 ('travel', 'none', 'quote_requested', 'TravelQuoteRequest', 'out', ts + interval '2 hours', true),
                 ('removal', 'booking', 'booked', 'BookingsConfirmed', 'local', ts + (24 + i % 72) * interval '1 hour', NOT cancelled_early),
                 ('removal', 'booked', outcome, 'Final', 'in',
                  CASE outcome WHEN 'cancelled' THEN ts + interval '5 days' ELSE departs + interval '2 hours' END,
                  outcome <> 'booked')) v(m, f, t, e, d, at, keep)
 WHERE keep;

INSERT INTO hublink.escort_quote_response (escort_quote_response_id, removal_id, message_id, received_at)
OVERRIDING SYSTEM VALUE
SELECT i, i, 'eqr-' || i, ts + interval '1 hour' FROM bench_r WHERE escorted;
INSERT INTO hublink.escort_quote (escort_quote_response_id, removal_id, escort_quote_reference, escort_date, total_amount, currency)
SELECT i, i, 'EQ-' || k, departs::date, 2000 + (i % 700) + k * 100, 'GBP' FROM bench_r, generate_series(1, 2) k WHERE escorted;
INSERT INTO hublink.escort_position (escort_quote_response_id, escort_number, role)
SELECT i, k, 'ESCORT' FROM bench_r, generate_series(1, 2 + (i % 7 = 0)::int) k WHERE escorted;
INSERT INTO hublink.escort_segment (escort_quote_response_id, removal_id, segment_id, planned_start)
SELECT i, i, 'E1', departs - interval '3 hours' FROM bench_r WHERE escorted;

INSERT INTO hublink.travel_quote_response (travel_quote_response_id, removal_id, message_id, no_quote_reason_code, received_at)
OVERRIDING SYSTEM VALUE
SELECT i, i, 'tqr-' || i, CASE WHEN i % 50 = 0 THEN 'NO_FLIGHTS' END, ts + interval '3 hours' FROM bench_r;
INSERT INTO hublink.travel_quote (travel_quote_id, travel_quote_response_id, removal_id, travel_quote_reference, escort_quote_reference,
                                  total_amount, expected_amount, currency, refundable)
OVERRIDING SYSTEM VALUE
SELECT (i - 1) * 3 + k, i, i, 'TQ-' || k, CASE WHEN escorted THEN 'EQ-1' END,
       800 + (i % 500) + k * 60, 800 + (i % 500) + k * 60 + CASE k WHEN 1 THEN 250 ELSE 20 END,
       CASE WHEN i % 17 = 0 THEN 'EUR' ELSE 'GBP' END, k <> 1
  FROM bench_r, generate_series(1, 3) k WHERE i % 50 <> 0;
INSERT INTO hublink.itinerary_segment (travel_quote_id, segment_id, segment_type, start_time)
SELECT (i - 1) * 3 + k, 'S' || s, 'PLANE', departs + (s - 1) * interval '5 hours'
  FROM bench_r, generate_series(1, 3) k, generate_series(1, 2) s WHERE i % 50 <> 0;

INSERT INTO hublink.escort_booking (removal_id, escort_quote_reference, request_message_id, requested_at, outcome, response_message_id, responded_at)
SELECT i, 'EQ-1', 'ebq-' || i, ts + interval '20 hours', 'ACCEPTED', 'ebr-' || i, ts + interval '21 hours'
  FROM bench_r WHERE escorted AND NOT cancelled_early AND i % 50 <> 0;
INSERT INTO hublink.travel_booking (removal_id, travel_quote_reference, request_message_id, requested_at, outcome,
                                    decline_reason_code, total_amount, currency, response_message_id, responded_at)
SELECT i, 'TQ-' || k, 'tbq-' || i || '-' || k, ts + interval '19 hours' + k * interval '1 hour',
       CASE WHEN k = 1 THEN 'DECLINED' ELSE 'ACCEPTED' END, CASE WHEN k = 1 THEN 'FARE_UNAVAILABLE' END,
       CASE WHEN k = 2 THEN 800 + (i % 500) + 120 END, CASE WHEN k = 2 THEN CASE WHEN i % 17 = 0 THEN 'EUR' ELSE 'GBP' END END,
       'tbr-' || i || '-' || k, ts + interval '20 hours' + k * interval '1 hour'
  FROM bench_r, generate_series(1, 2) k
 WHERE NOT cancelled_early AND i % 50 <> 0 AND (k = 2 OR i % 25 = 1);
INSERT INTO hublink.ticket (removal_id, ticket_number, traveller, message_id)
SELECT i, 'T-' || i || '-' || k, '{}', 'tbr-' || i FROM bench_r, generate_series(1, returnees + CASE WHEN escorted THEN 2 ELSE 0 END) k
 WHERE NOT cancelled_early AND i % 50 <> 0;
INSERT INTO hublink.amendment (removal_id, booking, message_id, quote_reference, details, sent_at)
SELECT i, 'travel', 'ta-' || i, 'TQ-2', '{}', ts + interval '30 hours' FROM bench_r WHERE i % 10 = 1;
INSERT INTO hublink.cancellation (removal_id, booking, cancelled_by, message_id, quote_reference, reason_code, before_booking, cancelled_at)
SELECT i, 'travel', 'hub', 'tc-' || i, 'TQ-2', (ARRAY['LEGAL_CHALLENGE', 'RETURNEE_ILL', 'RETURNEE_RELEASED', 'OTHER'])[1 + i % 4],
       cancelled_early OR i % 50 = 0, ts + interval '5 days'
  FROM bench_r WHERE outcome = 'cancelled';
INSERT INTO hublink.financial_consequence (removal_id, booking, message_id, kind, amount, currency, recorded_at)
SELECT i, 'travel', 'tu-' || i, kind, amount, CASE WHEN i % 17 = 0 THEN 'EUR' ELSE 'GBP' END, ts + interval '8 days'
  FROM bench_r, LATERAL (VALUES ('refund', 300.00), ('cancellation_fee', 25.00)) v(kind, amount)
 WHERE outcome = 'cancelled' AND NOT cancelled_early AND i % 50 <> 0;
INSERT INTO hublink.refund_receipt (financial_consequence_id, amount, currency, received_at)
SELECT financial_consequence_id, amount, currency, recorded_at + interval '20 days'
  FROM hublink.financial_consequence WHERE kind = 'refund' AND removal_id % 3 <> 0;

-- Messages: :messages_per per removal, requests in the outbox, responses in the inbox.
CREATE UNLOGGED TABLE bench_m (n int, outbound boolean, message_type text, offset_s int);
INSERT INTO bench_m VALUES
    (1, true, 'EscortQuoteRequest', 300), (2, false, 'EscortQuoteResponse', 3600),
    (3, true, 'TravelQuoteRequest', 7200), (4, false, 'TravelQuoteResponse', 10800),
    (5, true, 'EscortBookingRequest', 72000), (6, false, 'EscortBookingResponse', 75600),
    (7, true, 'TravelBookingRequest', 72000), (8, false, 'TravelBookingResponse', 74000),
    (9, true, 'TravelAmendment', 108000), (10, false, 'TravelUpdate', 115200),
    (11, true, 'EscortAmendment', 108000), (12, false, 'EscortUpdate', 190000),
    (13, false, 'EscortUpdate', 400000), (14, false, 'TravelUpdate', 400000),
    (15, false, 'EscortUpdate', 800000), (16, false, 'TravelUpdate', 800000),
    (17, true, 'TravelCancellation', 430000), (18, true, 'EscortCancellation', 430000),
    (19, false, 'EscortUpdate', 900000), (20, false, 'TravelUpdate', 900000);
\if :restore
-- Each body sealed as hublink.seal_message_body seals it: key_scope from the envelope and the
-- row's time, the body sealed under that scope's data key, the envelope kept in "message".
INSERT INTO hublink.outbox (message_id, message_type, queue, removal_id, message, created_at, sent_at, key_scope, sealed_body)
SELECT message_id, message_type, queue, removal_id, message - 'body', created_at, sent_at, key_scope,
       hublink.seal(key_scope, message -> 'body')
  FROM (SELECT *, hublink.message_key_scope(message, created_at) AS key_scope
          FROM (SELECT 'o-' || b.i || '-' || m.n AS message_id, m.message_type, t.queue, r.removal_reference AS removal_id,
                       jsonb_build_object('messageId', 'o-' || b.i || '-' || m.n, 'messageType', m.message_type,
                                          'removalId', r.removal_reference, 'body', jsonb_build_object('notes', repeat('x', 360))) AS message,
                       b.ts + m.offset_s * interval '1 second' AS created_at,
                       b.ts + m.offset_s * interval '1 second' + interval '40 milliseconds' AS sent_at
                  FROM bench_r b JOIN hublink.removal r ON r.removal_id = b.i
                  JOIN bench_m m ON m.outbound AND m.n <= :messages_per
                  JOIN hublink.message_type t ON t.message_type = m.message_type
                 ORDER BY b.i, m.n) o) s;
INSERT INTO hublink.inbox (queue, message, status, enqueued_at, enqueued_at_source, received_at, processed_at, key_scope, sealed_body)
SELECT queue, message - 'body', status, enqueued_at, enqueued_at_source, received_at, processed_at, key_scope,
       hublink.seal(key_scope, message -> 'body')
  FROM (SELECT *, hublink.message_key_scope(message, processed_at) AS key_scope
          FROM (SELECT t.queue,
                       jsonb_build_object('messageId', 'i-' || b.i || '-' || m.n, 'messageType', m.message_type,
                                          'removalId', r.removal_reference, 'body', jsonb_build_object('notes', repeat('x', 360))) AS message,
                       'applied' AS status, date_trunc('second', b.ts + (m.offset_s + b.i % 5000) * interval '1 second') AS enqueued_at,
                       'amqp-timestamp' AS enqueued_at_source,
                       b.ts + (m.offset_s + b.i % 5000) * interval '1 second' + interval '1 second' AS received_at,
                       b.ts + (m.offset_s + b.i % 5000) * interval '1 second' + interval '1 second' AS processed_at
                  FROM bench_r b JOIN hublink.removal r ON r.removal_id = b.i
                  JOIN bench_m m ON NOT m.outbound AND m.n <= :messages_per
                  JOIN hublink.message_type t ON t.message_type = m.message_type
                 ORDER BY b.i, m.n) i) s;
\else
-- Through the triggers, which seal each body.
INSERT INTO hublink.outbox (message_id, message_type, queue, removal_id, message, created_at, sent_at)
SELECT 'o-' || b.i || '-' || m.n, m.message_type, t.queue, r.removal_reference,
       jsonb_build_object('messageId', 'o-' || b.i || '-' || m.n, 'messageType', m.message_type,
                          'removalId', r.removal_reference, 'body', jsonb_build_object('notes', repeat('x', 360))),
       b.ts + m.offset_s * interval '1 second', b.ts + m.offset_s * interval '1 second' + interval '40 milliseconds'
  FROM bench_r b JOIN hublink.removal r ON r.removal_id = b.i
  JOIN bench_m m ON m.outbound AND m.n <= :messages_per
  JOIN hublink.message_type t ON t.message_type = m.message_type;
INSERT INTO hublink.inbox (queue, message, status, enqueued_at, enqueued_at_source, received_at, processed_at)
SELECT t.queue,
       jsonb_build_object('messageId', 'i-' || b.i || '-' || m.n, 'messageType', m.message_type,
                          'removalId', r.removal_reference, 'body', jsonb_build_object('notes', repeat('x', 360))),
       'applied', date_trunc('second', b.ts + (m.offset_s + b.i % 5000) * interval '1 second'), 'amqp-timestamp',
       b.ts + (m.offset_s + b.i % 5000) * interval '1 second' + interval '1 second',
       b.ts + (m.offset_s + b.i % 5000) * interval '1 second' + interval '1 second'
  FROM bench_r b JOIN hublink.removal r ON r.removal_id = b.i
  JOIN bench_m m ON NOT m.outbound AND m.n <= :messages_per
  JOIN hublink.message_type t ON t.message_type = m.message_type;
\endif
DROP TABLE bench_r, bench_m;
\if :restore
RESET hublink.restoring;
RESET session_replication_role;
\endif
