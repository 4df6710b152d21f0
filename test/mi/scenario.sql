-- The small MI scenario whose every figure is computed by hand in docs/mi.md ("The test
-- scenario") and checked by test/sql/85_mi_views.sql; test/mi/run renders the report of it.
-- Four removals at the Hub, in January and July 2025 (reporting time zone Europe/London),
-- written straight into the domain, inbox and outbox tables with fixed times.
--   R1 RMV-2025-000001 escorted, 1 returnee: quoted, booked (best value, not cheapest), amended, completed.
--   R2 RMV-2025-000002 unescorted, 2 returnees: a decline, booked a non-refundable fare, cancelled 22 h
--      before departure; refund 100.00 announced, 60.00 received in February; fee 25.00.
--   R3 RMV-2025-000003 created 2025-06-30 23:30 UTC = 1 July 00:30 in London: no quote, cancelled.
--   R4 RMV-2025-000004 escorted, 3 escorts, travel in EUR: unsuccessful, travel cancelled after departure.

CREATE FUNCTION pg_temp.rid(ref text) RETURNS bigint LANGUAGE sql
    RETURN (SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = ref);
CREATE FUNCTION pg_temp.mi_out(kind text, ref text, sent timestamptz) RETURNS void LANGUAGE sql
    BEGIN ATOMIC
        INSERT INTO hublink.outbox (message_id, message_type, queue, removal_id, message, created_at, sent_at)
        SELECT m.id, kind, t.queue, ref,
               jsonb_build_object('messageId', m.id, 'messageType', kind, 'removalId', ref),
               coalesce(sent, '2025-01-01Z'), sent
          FROM hublink.message_type t, (SELECT gen_random_uuid()::text AS id) m
         WHERE t.message_type = kind;
    END;
CREATE FUNCTION pg_temp.mi_in(kind text, ref text, enqueued timestamptz, status text DEFAULT 'applied',
                              id text DEFAULT NULL)
    RETURNS void LANGUAGE sql
    BEGIN ATOMIC
        INSERT INTO hublink.inbox (queue, message, status, enqueued_at, enqueued_at_source, received_at, problems)
        SELECT t.queue, jsonb_build_object('messageId', coalesce(id, gen_random_uuid()::text), 'messageType', kind,
                                           'removalId', ref),
               status, enqueued, 'amqp-timestamp', enqueued + interval '1 second',
               CASE WHEN status = 'rejected' THEN '[]'::jsonb END
          FROM hublink.message_type t WHERE t.message_type = kind;
    END;
CREATE FUNCTION pg_temp.mi_move(ref text, machine text, from_state text, to_state text, event text,
                                direction text, at timestamptz, message_id text DEFAULT NULL)
    RETURNS void LANGUAGE sql
    BEGIN ATOMIC
        INSERT INTO hublink.state_transition (removal_id, machine, from_state, to_state, event, direction, party,
                                              message_id, at)
        VALUES (pg_temp.rid(ref), machine, from_state, to_state, event, direction, 'hub', message_id, at);
    END;

-- The SLA targets are the timers' rules (hublink.timer_rule kind response_sla, docs/timers.md):
-- a rule per provider is more specific than the shipped rules per message type, so every
-- request to the ESP has 24 hours and every request to the TSP 4 hours.
INSERT INTO hublink.timer_rule (kind, provider, fire_offset, description) VALUES
    ('response_sla', 'esp', interval '24 hours', 'MI scenario: every ESP request 24 hours.'),
    ('response_sla', 'tsp', interval '4 hours', 'MI scenario: every TSP request 4 hours.');

INSERT INTO hublink.removal (removal_reference, case_reference, escorted, state, escort_state, travel_state, created_at)
VALUES ('RMV-2025-000001', 'CASE-1', true,  'completed', 'completed', 'completed', '2025-01-06 09:00Z'),
       ('RMV-2025-000002', 'CASE-2', false, 'cancelled', 'none', 'cancelled', '2025-01-13 10:00Z'),
       ('RMV-2025-000003', 'CASE-3', false, 'cancelled', 'none', 'cancelled', '2025-06-30 23:30Z'),
       ('RMV-2025-000004', 'CASE-4', true,  'unsuccessful', 'unsuccessful', 'cancelled', '2025-01-15 08:00Z');
INSERT INTO hublink.returnee (removal_id, ho_returnee_reference)
VALUES (pg_temp.rid('RMV-2025-000001'), 'HO-1001'),
       (pg_temp.rid('RMV-2025-000002'), 'HO-2001'), (pg_temp.rid('RMV-2025-000002'), 'HO-2002'),
       (pg_temp.rid('RMV-2025-000003'), 'HO-3001'),
       (pg_temp.rid('RMV-2025-000004'), 'HO-4001');
-- Personal data exists, so the test can show that no MI view reads it.
INSERT INTO hublink.returnee_personal (returnee_id, given_names, family_name, date_of_birth)
SELECT returnee_id, 'Secret', 'Person', '1990-01-01' FROM hublink.returnee;

-- --- state transitions: quote requests (escort and travel machines, and the removal machine,
-- which the volumes must not count twice), booked, and the final states ----------------------
SELECT pg_temp.mi_move('RMV-2025-000001', 'removal', 'new', 'quoting', 'EscortQuoteRequest', 'out', '2025-01-06 09:05Z');
SELECT pg_temp.mi_move('RMV-2025-000001', 'escort', 'none', 'quote_requested', 'EscortQuoteRequest', 'out', '2025-01-06 09:05Z');
SELECT pg_temp.mi_move('RMV-2025-000001', 'travel', 'none', 'quote_requested', 'TravelQuoteRequest', 'out', '2025-01-06 12:00Z');
SELECT pg_temp.mi_move('RMV-2025-000001', 'removal', 'booking', 'booked', 'BookingsConfirmed', 'local', '2025-01-08 09:00Z');
SELECT pg_temp.mi_move('RMV-2025-000001', 'removal', 'booked', 'booked', 'TravelAmendment', 'out', '2025-01-10 10:00Z');
SELECT pg_temp.mi_move('RMV-2025-000001', 'removal', 'booked', 'completed', 'EscortUpdate.completed', 'in', '2025-01-20 10:00Z');
SELECT pg_temp.mi_move('RMV-2025-000001', 'removal', 'completed', 'completed', 'TravelUpdate.completed', 'in', '2025-01-21 10:00Z');

SELECT pg_temp.mi_move('RMV-2025-000002', 'removal', 'new', 'quoting', 'TravelQuoteRequest', 'out', '2025-01-13 10:10Z');
SELECT pg_temp.mi_move('RMV-2025-000002', 'travel', 'none', 'quote_requested', 'TravelQuoteRequest', 'out', '2025-01-13 10:10Z');
SELECT pg_temp.mi_move('RMV-2025-000002', 'removal', 'booking', 'booked', 'BookingsConfirmed', 'local', '2025-01-13 19:00Z');
SELECT pg_temp.mi_move('RMV-2025-000002', 'removal', 'booked', 'cancelled', 'TravelCancellation', 'out', '2025-01-24 12:00Z');

SELECT pg_temp.mi_move('RMV-2025-000003', 'travel', 'none', 'quote_requested', 'TravelQuoteRequest', 'out', '2025-06-30 23:40Z');
SELECT pg_temp.mi_move('RMV-2025-000003', 'removal', 'quoting', 'cancelled', 'TravelCancellation', 'out', '2025-07-02 09:00Z');

SELECT pg_temp.mi_move('RMV-2025-000004', 'escort', 'none', 'quote_requested', 'EscortQuoteRequest', 'out', '2025-01-15 08:10Z');
SELECT pg_temp.mi_move('RMV-2025-000004', 'travel', 'none', 'quote_requested', 'TravelQuoteRequest', 'out', '2025-01-15 09:30Z');
SELECT pg_temp.mi_move('RMV-2025-000004', 'escort', 'quoted', 'quote_requested', 'EscortQuoteRequest', 'out', '2025-01-16 08:00Z');
SELECT pg_temp.mi_move('RMV-2025-000004', 'removal', 'booking', 'booked', 'BookingsConfirmed', 'local', '2025-01-15 12:00Z');
SELECT pg_temp.mi_move('RMV-2025-000004', 'removal', 'booked', 'unsuccessful', 'EscortUpdate.unsuccessful', 'in', '2025-01-17 15:00Z');

-- --- quotes --------------------------------------------------------------------------------------
INSERT INTO hublink.escort_quote_response (removal_id, message_id, received_at)
VALUES (pg_temp.rid('RMV-2025-000001'), 'eqr-1', '2025-01-06 11:00:01Z'),
       (pg_temp.rid('RMV-2025-000004'), 'eqr-4', '2025-01-15 09:00:01Z');
INSERT INTO hublink.escort_quote (escort_quote_response_id, removal_id, escort_quote_reference, escort_date, total_amount, currency)
SELECT p.escort_quote_response_id, p.removal_id, q.ref, q.d, q.amount, 'GBP'
  FROM hublink.escort_quote_response p
  JOIN (VALUES ('eqr-1', 'EQ-A', date '2025-01-20', 3000.00), ('eqr-1', 'EQ-B', date '2025-01-21', 3200.00),
               ('eqr-4', 'EQ-C', date '2025-01-17', 2000.00)) q(msg, ref, d, amount) ON q.msg = p.message_id;
INSERT INTO hublink.escort_position (escort_quote_response_id, escort_number, role)
SELECT p.escort_quote_response_id, n, 'ESCORT'
  FROM hublink.escort_quote_response p
  JOIN (VALUES ('eqr-1', 2), ('eqr-4', 3)) c(msg, escorts) ON c.msg = p.message_id
 CROSS JOIN LATERAL generate_series(1, c.escorts) n;
INSERT INTO hublink.escort_segment (escort_quote_response_id, removal_id, segment_id, planned_start, current)
SELECT NULL, pg_temp.rid(s.ref), s.seg, s.start, s.current
  FROM (VALUES ('RMV-2025-000001', 'E1', timestamptz '2025-01-20 05:00Z', true),
               ('RMV-2025-000001', 'E0', timestamptz '2025-01-19 05:00Z', false),
               ('RMV-2025-000004', 'E1', timestamptz '2025-01-17 11:00Z', true)) s(ref, seg, start, current);

INSERT INTO hublink.travel_quote_response (removal_id, message_id, no_quote_reason_code, received_at)
VALUES (pg_temp.rid('RMV-2025-000001'), 'tqr-1', NULL, '2025-01-06 13:00:01Z'),
       (pg_temp.rid('RMV-2025-000002'), 'tqr-2', NULL, '2025-01-13 11:00:01Z'),
       (pg_temp.rid('RMV-2025-000003'), 'tqr-3', 'NO_FLIGHTS', '2025-07-01 01:00:01Z'),
       (pg_temp.rid('RMV-2025-000004'), 'tqr-4', NULL, '2025-01-15 09:30:01Z');
INSERT INTO hublink.travel_quote (travel_quote_response_id, removal_id, travel_quote_reference, escort_quote_reference,
                                  total_amount, expected_amount, currency, refundable)
SELECT p.travel_quote_response_id, p.removal_id, q.ref, q.eq, q.total, q.expected, q.currency, q.refundable
  FROM hublink.travel_quote_response p
  JOIN (VALUES ('tqr-1', 'TQ-1', 'EQ-A', 1000.00, 1300.00, 'GBP', false),
               ('tqr-1', 'TQ-2', 'EQ-A', 1150.00, 1180.00, 'GBP', true),
               ('tqr-1', 'TQ-3', 'EQ-B', 1200.00, NULL, 'GBP', true),
               ('tqr-2', 'TQ-4', NULL, 800.00, 900.00, 'GBP', false),
               ('tqr-2', 'TQ-5', NULL, 950.00, 960.00, 'GBP', true),
               ('tqr-4', 'TQ-6', 'EQ-C', 500.00, 520.00, 'EUR', true))
       q(msg, ref, eq, total, expected, currency, refundable) ON q.msg = p.message_id;
INSERT INTO hublink.itinerary_segment (travel_quote_id, segment_id, segment_type, start_time, current)
SELECT q.travel_quote_id, s.seg, 'PLANE', s.start, s.current
  FROM hublink.travel_quote q
  JOIN (VALUES ('TQ-2', 'S0', timestamptz '2025-01-19 07:00Z', false),
               ('TQ-2', 'S1', timestamptz '2025-01-20 08:00Z', true),
               ('TQ-2', 'S2', timestamptz '2025-01-20 14:00Z', true),
               ('TQ-4', 'S1', timestamptz '2025-01-25 10:00Z', true),
               ('TQ-6', 'S1', timestamptz '2025-01-17 14:00Z', true)) s(ref, seg, start, current)
    ON s.ref = q.travel_quote_reference;

-- --- bookings ------------------------------------------------------------------------------------
INSERT INTO hublink.escort_booking (removal_id, escort_quote_reference, request_message_id, requested_at,
                                    outcome, response_message_id, responded_at)
VALUES (pg_temp.rid('RMV-2025-000001'), 'EQ-A', 'ebq-1', '2025-01-07 09:00Z', 'ACCEPTED', 'ebr-1', '2025-01-07 11:00Z'),
       (pg_temp.rid('RMV-2025-000004'), 'EQ-C', 'ebq-4', '2025-01-15 11:00Z', 'ACCEPTED', 'ebr-4', '2025-01-15 12:00Z');
INSERT INTO hublink.travel_booking (removal_id, travel_quote_reference, request_message_id, requested_at, outcome,
                                    decline_reason_code, total_amount, currency, response_message_id, responded_at)
VALUES (pg_temp.rid('RMV-2025-000001'), 'TQ-2', 'tbq-1', '2025-01-07 09:00Z', 'ACCEPTED', NULL, 1150.00, 'GBP', 'tbr-1', '2025-01-07 10:00Z'),
       (pg_temp.rid('RMV-2025-000002'), 'TQ-5', 'tbq-2a', '2025-01-13 12:00Z', 'DECLINED', 'FARE_UNAVAILABLE', NULL, NULL, 'tbr-2a', '2025-01-13 13:00Z'),
       (pg_temp.rid('RMV-2025-000002'), 'TQ-4', 'tbq-2b', '2025-01-13 14:00Z', 'ACCEPTED', NULL, 800.00, 'GBP', 'tbr-2b', '2025-01-13 19:00Z'),
       (pg_temp.rid('RMV-2025-000004'), 'TQ-6', 'tbq-4', '2025-01-15 11:00Z', 'ACCEPTED', NULL, 500.00, 'EUR', 'tbr-4', '2025-01-15 11:30Z');
-- R1: three travellers and one reissue (4 tickets); R2: 2; R4: 4.
INSERT INTO hublink.ticket (removal_id, ticket_number, traveller, message_id, current)
SELECT pg_temp.rid(t.ref), t.num, '{}', 'tbr', t.current
  FROM (VALUES ('RMV-2025-000001', 'T-11', true), ('RMV-2025-000001', 'T-12', true),
               ('RMV-2025-000001', 'T-13', false), ('RMV-2025-000001', 'T-14', true),
               ('RMV-2025-000002', 'T-21', true), ('RMV-2025-000002', 'T-22', true),
               ('RMV-2025-000004', 'T-41', true), ('RMV-2025-000004', 'T-42', true),
               ('RMV-2025-000004', 'T-43', true), ('RMV-2025-000004', 'T-44', true)) t(ref, num, current);

-- --- after booking -------------------------------------------------------------------------------
INSERT INTO hublink.amendment (removal_id, booking, message_id, quote_reference, details, sent_at)
VALUES (pg_temp.rid('RMV-2025-000001'), 'travel', 'ta-1', 'TQ-2', '{}', '2025-01-10 10:00Z');
INSERT INTO hublink.cancellation (removal_id, booking, cancelled_by, message_id, quote_reference, reason_code,
                                  before_booking, cancelled_at)
VALUES (pg_temp.rid('RMV-2025-000002'), 'travel', 'hub', 'tc-2', 'TQ-4', 'LEGAL_CHALLENGE', false, '2025-01-24 12:00Z'),
       (pg_temp.rid('RMV-2025-000003'), 'travel', 'hub', 'tc-3', NULL, 'RETURNEE_RELEASED', true, '2025-07-02 09:00Z'),
       (pg_temp.rid('RMV-2025-000004'), 'travel', 'hub', 'tc-4', 'TQ-6', 'ESCORT_UNSUCCESSFUL', false, '2025-01-17 16:00Z');
INSERT INTO hublink.financial_consequence (removal_id, booking, message_id, kind, amount, currency, recorded_at)
VALUES (pg_temp.rid('RMV-2025-000001'), 'travel', 'tu-1', 'change_fee', 50.00, 'GBP', '2025-01-11 09:00Z'),
       (pg_temp.rid('RMV-2025-000002'), 'travel', 'tu-2', 'refund', 100.00, 'GBP', '2025-01-28 09:00Z'),
       (pg_temp.rid('RMV-2025-000002'), 'travel', 'tu-2', 'cancellation_fee', 25.00, 'GBP', '2025-01-28 09:00Z');
INSERT INTO hublink.refund_receipt (financial_consequence_id, amount, currency, received_at)
SELECT financial_consequence_id, 60.00, 'GBP', '2025-02-03 09:00Z'
  FROM hublink.financial_consequence WHERE kind = 'refund';

-- --- messages: requests the Hub sent (outbox, sent_at = confirmed on the queue) and the
-- providers' responses (inbox, enqueued_at = AMQP timestamp, whole seconds) --------------------
SELECT pg_temp.mi_out('EscortQuoteRequest', 'RMV-2025-000001', '2025-01-06 09:05:00Z');
SELECT pg_temp.mi_in('EscortQuoteResponse', 'RMV-2025-000001', '2025-01-06 11:00:00Z');          -- 6900 s
SELECT pg_temp.mi_out('EscortQuoteRequest', 'RMV-2025-000004', '2025-01-15 08:10:00Z');
SELECT pg_temp.mi_in('EscortQuoteResponse', 'RMV-2025-000004', '2025-01-15 09:00:00Z');          -- 3000 s
SELECT pg_temp.mi_out('EscortQuoteRequest', 'RMV-2025-000004', '2025-01-16 08:00:00Z');          -- never answered
SELECT pg_temp.mi_out('TravelQuoteRequest', 'RMV-2025-000001', '2025-01-06 12:00:00Z');
SELECT pg_temp.mi_out('TravelQuoteRequest', 'RMV-2025-000001', NULL);                            -- never sent: not counted
SELECT pg_temp.mi_in('TravelQuoteResponse', 'RMV-2025-000001', '2025-01-06 13:00:00Z');          -- 3600 s
SELECT pg_temp.mi_out('TravelQuoteRequest', 'RMV-2025-000002', '2025-01-13 10:10:00Z');
SELECT pg_temp.mi_in('TravelQuoteResponse', 'RMV-2025-000002', '2025-01-13 11:00:00Z');          -- 3000 s
SELECT pg_temp.mi_out('TravelQuoteRequest', 'RMV-2025-000003', '2025-06-30 23:40:00Z');          -- July in London
SELECT pg_temp.mi_in('TravelQuoteResponse', 'RMV-2025-000003', '2025-07-01 01:00:00Z');          -- 4800 s
SELECT pg_temp.mi_out('TravelQuoteRequest', 'RMV-2025-000004', '2025-01-15 09:30:00.600Z');
SELECT pg_temp.mi_in('TravelQuoteResponse', 'RMV-2025-000004', '2025-01-15 09:30:00Z');          -- same second: 0 s
SELECT pg_temp.mi_out('EscortBookingRequest', 'RMV-2025-000001', '2025-01-07 09:00:00Z');
SELECT pg_temp.mi_in('EscortBookingResponse', 'RMV-2025-000001', '2025-01-07 11:00:00Z');        -- 7200 s
SELECT pg_temp.mi_out('EscortBookingRequest', 'RMV-2025-000004', '2025-01-15 11:00:00Z');
SELECT pg_temp.mi_in('EscortBookingResponse', 'RMV-2025-000004', '2025-01-15 12:00:00Z');        -- 3600 s
SELECT pg_temp.mi_out('TravelBookingRequest', 'RMV-2025-000001', '2025-01-07 09:00:00Z');
SELECT pg_temp.mi_in('TravelBookingResponse', 'RMV-2025-000001', '2025-01-07 10:00:00Z');        -- 3600 s
SELECT pg_temp.mi_out('TravelBookingRequest', 'RMV-2025-000002', '2025-01-13 12:00:00Z');
SELECT pg_temp.mi_in('TravelBookingResponse', 'RMV-2025-000002', '2025-01-13 13:00:00Z');        -- 3600 s (declined)
SELECT pg_temp.mi_out('TravelBookingRequest', 'RMV-2025-000002', '2025-01-13 14:00:00Z');
SELECT pg_temp.mi_in('TravelBookingResponse', 'RMV-2025-000002', '2025-01-13 19:00:00Z');        -- 18000 s: late
SELECT pg_temp.mi_out('TravelBookingRequest', 'RMV-2025-000004', '2025-01-15 11:00:00Z');
SELECT pg_temp.mi_in('TravelBookingResponse', 'RMV-2025-000004', '2025-01-15 11:30:00Z');        -- 1800 s
SELECT pg_temp.mi_in('TravelUpdate', 'RMV-2025-000001', '2025-01-09 10:00:00Z');                 -- before the amendment
SELECT pg_temp.mi_out('TravelAmendment', 'RMV-2025-000001', '2025-01-10 10:00:00Z');
SELECT pg_temp.mi_in('TravelUpdate', 'RMV-2025-000001', '2025-01-10 11:00:00Z', 'rejected');     -- rejected: no answer
-- An update that is not the amendment's outcome does not answer it (hublink.timer_answer:
-- TravelUpdate.amendment-outcome); the event is the one the state machine recorded.
SELECT pg_temp.mi_in('TravelUpdate', 'RMV-2025-000001', '2025-01-10 11:30:00Z', 'applied', 'tu-fin-1');
SELECT pg_temp.mi_move('RMV-2025-000001', 'travel', 'booked', 'booked', 'TravelUpdate.financial', 'in',
                       '2025-01-10 11:30:01Z', 'tu-fin-1');
SELECT pg_temp.mi_in('TravelUpdate', 'RMV-2025-000001', '2025-01-10 12:00:00Z', 'applied', 'tu-amd-1'); -- 7200 s
SELECT pg_temp.mi_move('RMV-2025-000001', 'travel', 'booked', 'booked', 'TravelUpdate.amendment-outcome', 'in',
                       '2025-01-10 12:00:01Z', 'tu-amd-1');
SELECT pg_temp.mi_out('TravelCancellation', 'RMV-2025-000002', '2025-01-24 12:00:00Z');          -- no SLA target
