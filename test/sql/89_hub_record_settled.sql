-- A cancellation or completion settled outside the interface (docs/security-crypto.md "Erasure
-- of a removal with live bookings"): a provider that never answers the Hub's cancellation, or a
-- travel provider that never sends its completion, kept the removal from erasure until the
-- retention purge, with no way to record that the matter was settled by phone or letter.
-- hublink.hub_record_settled(removal_reference, party, note) records it, for hublink_admin only:
-- audited (hub_record_settled), a security event (hub_settled_outside, alerted), refused
-- (erasing nothing, recording nothing) when the removal is not blocked for that reason, and the
-- erasure goes through afterwards. A hostile caseworker or the worker (the providers' messages'
-- role) cannot call it; a careless admin cannot use it to wave through a live booking.
BEGIN;
SELECT plan(25);
-- The errdetail of a refused statement.
CREATE FUNCTION pg_temp.detail_of(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE d text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RETURN d;
END $f$;

INSERT INTO hublink.removal (removal_reference, case_reference, escorted, state, escort_state, travel_state)
VALUES ('RMV-2026-089101', 'CASE-89-101', true, 'cancelled', 'cancelled', 'cancelled'),
       ('RMV-2026-089102', 'CASE-89-102', true, 'completed', 'completed', 'booked'),
       ('RMV-2026-089103', 'CASE-89-103', true, 'booked', 'booked', 'booked');
INSERT INTO hublink.escort_booking (removal_id, escort_quote_reference, request_message_id, requested_at,
                                    outcome, response_message_id, responded_at)
SELECT removal_id, 'EQ-' || right(removal_reference, 3), 'ebq-' || right(removal_reference, 3), now() - interval '3 days',
       'ACCEPTED', 'ebr-' || right(removal_reference, 3), now() - interval '3 days'
  FROM hublink.removal WHERE removal_reference LIKE 'RMV-2026-0891__';
INSERT INTO hublink.travel_booking (removal_id, travel_quote_reference, request_message_id, requested_at, outcome,
                                    total_amount, currency, response_message_id, responded_at)
SELECT removal_id, 'TQ-' || right(removal_reference, 3), 'tbq-' || right(removal_reference, 3), now() - interval '3 days',
       'ACCEPTED', 640.00, 'GBP', 'tbr-' || right(removal_reference, 3), now() - interval '3 days'
  FROM hublink.removal WHERE removal_reference LIKE 'RMV-2026-0891__';
-- 101: the Hub cancelled both bookings; the travel provider answered, the escort provider never did.
INSERT INTO hublink.cancellation (removal_id, booking, cancelled_by, message_id, quote_reference, reason_code,
                                  before_booking, cancelled_at)
SELECT removal_id, b.booking, 'hub', 'c101-' || b.booking, b.ref, 'RETURNEE_RELEASED', false, now() - interval '2 days'
  FROM hublink.removal, (VALUES ('escort', 'EQ-101'), ('travel', 'TQ-101')) b(booking, ref)
 WHERE removal_reference = 'RMV-2026-089101';
INSERT INTO hublink.state_transition (removal_id, machine, from_state, to_state, event, direction, party, message_id, at)
SELECT removal_id, 'travel', 'cancelled', 'cancelled', 'TravelUpdate.cancelled', 'in', 'hub', 'tu-101', now() - interval '1 day'
  FROM hublink.removal WHERE removal_reference = 'RMV-2026-089101';
INSERT INTO hublink.booking_update (removal_id, booking, message_id, kind, reason_code)
SELECT removal_id, 'travel', 'tu-101', 'cancellation', 'RETURNEE_RELEASED' FROM hublink.removal WHERE removal_reference = 'RMV-2026-089101';

-- The cancellations' messages, published (broker-confirmed) two days ago: the escort provider's
-- answer is long overdue (the response SLA of a cancellation, 24 hours by default).
INSERT INTO hublink.outbox (message_id, message_type, queue, removal_id, message, created_at, sent_at)
SELECT 'c101-' || b, initcap(b) || 'Cancellation', b || '-cancellation', 'RMV-2026-089101',
       jsonb_build_object('messageId', 'c101-' || b), now() - interval '2 days', now() - interval '2 days'
  FROM unnest(ARRAY['escort', 'travel']) b;

-- 104 and 105: the Hub's travel cancellation still UNSENT in the outbox (broker down), and one
-- the broker confirmed a minute ago. Settling either would let erase_removal purge the message or
-- pre-empt an answer still on its way: the provider would never release the seats.
INSERT INTO hublink.removal (removal_reference, case_reference, escorted, state, escort_state, travel_state)
VALUES ('RMV-2026-089104', 'CASE-89-104', false, 'cancelled', 'none', 'cancelled'),
       ('RMV-2026-089105', 'CASE-89-105', false, 'cancelled', 'none', 'cancelled');
INSERT INTO hublink.travel_booking (removal_id, travel_quote_reference, request_message_id, requested_at, outcome,
                                    total_amount, currency, response_message_id, responded_at)
SELECT removal_id, 'TQ-' || right(removal_reference, 3), 'tbq-' || right(removal_reference, 3), now() - interval '3 days',
       'ACCEPTED', 640.00, 'GBP', 'tbr-' || right(removal_reference, 3), now() - interval '3 days'
  FROM hublink.removal WHERE removal_reference IN ('RMV-2026-089104', 'RMV-2026-089105');
INSERT INTO hublink.cancellation (removal_id, booking, cancelled_by, message_id, quote_reference, reason_code,
                                  before_booking, cancelled_at)
SELECT removal_id, 'travel', 'hub', 'c' || right(removal_reference, 3) || '-travel', 'TQ-' || right(removal_reference, 3),
       'RETURNEE_RELEASED', false, now() - interval '1 minute'
  FROM hublink.removal WHERE removal_reference IN ('RMV-2026-089104', 'RMV-2026-089105');
INSERT INTO hublink.outbox (message_id, message_type, queue, removal_id, message, created_at, sent_at)
VALUES ('c104-travel', 'TravelCancellation', 'travel-cancellation', 'RMV-2026-089104',
        jsonb_build_object('messageId', 'c104-travel'), now() - interval '1 minute', NULL),
       ('c105-travel', 'TravelCancellation', 'travel-cancellation', 'RMV-2026-089105',
        jsonb_build_object('messageId', 'c105-travel'), now() - interval '1 minute', now() - interval '1 minute');

SELECT is((SELECT string_agg(regexp_replace(x, 'sent .*\)', 'sent …)'), ' | ') FROM hublink.erasure_blockers('RMV-2026-089101') x),
          'the Hub''s escort cancellation of removal RMV-2026-089101 (message c101-escort, sent …) has no answer from the provider yet',
          'before: the unanswered escort cancellation blocks the erasure');

-- A caseworker and the worker (which applies the providers' messages) cannot call it.
SET LOCAL ROLE hublink_caseworker;
SELECT throws_ok($$SELECT hublink.hub_record_settled('RMV-2026-089101', 'esp', 'Settled by phone')$$, '42501', NULL,
                 'a caseworker cannot record a settlement');
RESET ROLE;
SET LOCAL ROLE hublink_worker;
SELECT throws_ok($$SELECT hublink.hub_record_settled('RMV-2026-089101', 'esp', 'Settled by phone')$$, '42501', NULL,
                 'the worker (the providers'' role at the Hub) cannot record a settlement');
RESET ROLE;

-- Misuse, each refused with nothing recorded.
SELECT throws_ok($$SELECT hublink.hub_record_settled('RMV-2026-089101', 'esp', '  ')$$, '22023',
                 'a settlement outside the interface needs a note', 'refused without a note');
SELECT throws_ok($$SELECT hublink.hub_record_settled('RMV-2026-089101', 'hub', 'Settled by phone')$$, '22023',
                 'party "hub" is not a provider: give esp or tsp', 'refused for a party that is not a provider');
SELECT throws_ok($$SELECT hublink.hub_record_settled('RMV-2026-089199', 'esp', 'Settled by phone')$$, 'P0002',
                 'the Hub has no removal RMV-2026-089199', 'refused for an unknown removal');
SELECT throws_ok($$SELECT hublink.hub_record_settled('RMV-2026-089101', 'tsp', 'Settled by phone')$$, '55000',
                 'removal RMV-2026-089101 is not kept from erasure by a cancellation or completion of the tsp that is settled outside the interface: nothing was recorded',
                 'refused for the provider that did answer its cancellation');
SELECT throws_ok($$SELECT hublink.hub_record_settled('RMV-2026-089103', 'tsp', 'Settled by phone')$$, '55000', NULL,
                 'refused for a live booking (booked, not cancelled): the Hub cancels it through the interface');
SELECT throws_ok($$SELECT hublink.hub_record_settled('RMV-2026-089102', 'esp', 'Settled by phone')$$, '55000', NULL,
                 'refused for the completed removal''s escort provider, whose booking completed through the interface');
SELECT throws_ok($$SELECT hublink.hub_record_settled('RMV-2026-089104', 'tsp', 'Settled by phone')$$, '55000',
                 'the Hub''s travel cancellation of removal RMV-2026-089104 is not yet overdue for an answer: nothing was recorded',
                 'refused while the cancellation is still unsent in the outbox');
SELECT alike(pg_temp.detail_of($$SELECT hublink.hub_record_settled('RMV-2026-089104', 'tsp', 'Settled by phone')$$),
            '%c104-travel is not yet sent%', 'the refusal says the cancellation message is not yet sent');
SELECT throws_ok($$SELECT hublink.hub_record_settled('RMV-2026-089105', 'tsp', 'Settled by phone')$$, '55000',
                 'the Hub''s travel cancellation of removal RMV-2026-089105 is not yet overdue for an answer: nothing was recorded',
                 'refused for a cancellation sent a minute ago: the provider''s answer is not yet due');
SELECT is((SELECT count(*)::int FROM hublink.hub_settlement), 0, 'no refusal recorded anything');

-- The admin records the escort provider's answer given by phone: audited, a security event, and
-- the erasure goes through.
SET LOCAL ROLE hublink_admin;
SELECT ok(hublink.hub_record_settled('RMV-2026-089101', 'esp', 'ESP confirmed the cancellation by phone, fee 120 GBP, ref T-55') IS NOT NULL,
          'an admin records the escort cancellation as settled outside the interface');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM hublink.audit_log a WHERE a.action = 'hub_record_settled'
            AND a.detail ->> 'removal_reference' = 'RMV-2026-089101' AND a.detail ->> 'party' = 'esp'), 1,
          'the settlement is audited');
SELECT is((SELECT count(*)::int FROM hublink.security_events(0) e WHERE e.kind = 'hub_settled_outside'
            AND e.pid = pg_backend_pid() AND e.detail ->> 'removal_reference' = 'RMV-2026-089101'), 1,
          'the settlement leaves a security event');
SELECT throws_ok($$SELECT hublink.hub_record_settled('RMV-2026-089101', 'esp', 'again')$$, '55000', NULL,
                 'the same cancellation cannot be settled twice');
-- The note is free text that may name people: the personal-data purge (730 days) clears it,
-- the settlement itself (who recorded what, when) stays until the erasure.
SELECT ok(hublink.purge_personal_data('RMV-2026-089101') ? 'data_keys_destroyed', 'the personal-data purge runs');
SELECT is((SELECT string_agg(h.note, ' | ') FROM hublink.hub_settlement h JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = 'RMV-2026-089101' AND h.note LIKE '%T-55%'), NULL,
          'after the personal-data purge the settlement''s note is gone');
SELECT is(hublink.erase_removal('RMV-2026-089101', 'Direction 94/S1') ? 'removal', true,
          'after the settlement the erasure goes through');

-- A completed escorted removal whose travel provider never sent its completion: the Hub
-- cannot cancel the travel; the admin records the completion settled outside the interface.
SELECT throws_ok($$SELECT hublink.erase_removal('RMV-2026-089102', 'Direction 94/S2')$$, '55000', NULL,
                 'before: the completed removal''s travel, still booked, blocks its erasure');
SELECT hublink.hub_record_settled('RMV-2026-089102', 'tsp', 'TSP confirmed by letter that the flights were flown');
SELECT is(hublink.erase_removal('RMV-2026-089102', 'Direction 94/S2') ? 'removal', true,
          'after the completion is recorded settled the erasure goes through');

-- An erasure never purges a message not yet published: 104's unsent cancellation is named.
SELECT throws_ok($$SELECT hublink.erase_removal('RMV-2026-089104', 'Direction 94/S3')$$, '55000', NULL,
                 'the erasure is refused while the removal has an unsent outbox message');
SELECT alike(pg_temp.detail_of($$SELECT hublink.erase_removal('RMV-2026-089104', 'Direction 94/S3')$$),
            '%outbox message c104-travel (TravelCancellation) is not yet sent%',
            'the refusal names the unsent outbox message');
SELECT is((SELECT count(*)::int FROM hublink.outbox WHERE message_id = 'c104-travel' AND sent_at IS NULL), 1,
          'the unsent message is still in the outbox');

SELECT * FROM finish();
ROLLBACK;
