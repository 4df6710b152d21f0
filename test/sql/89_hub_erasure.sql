-- The Hub's erasure of a removal that providers hold bookings for (docs/security-crypto.md
-- "Erasure of a removal with live bookings"): a hostile or careless admin at the Hub erasing a
-- booked removal would leave the travel and escort provider holding seats and escorts for a
-- removal the Hub can no longer cancel. hublink.erase_removal refuses (55000), erasing nothing,
-- while an escort or travel booking is requested, booked or amended, and while a cancellation
-- of an accepted booking has no answer from the provider (an update that answers it: a
-- cancellation section, or a financial section for the reason CANCELLED_BY_HO; any other update,
-- such as an invoice crossing the cancellation, is none); once both providers answered, and for
-- a removal that never booked anything, it erases. The states are set directly (as the MI
-- scenario does) to test the rule on its own.
BEGIN;
SELECT plan(16);

INSERT INTO hublink.removal (removal_reference, case_reference, escorted, state, escort_state, travel_state)
VALUES ('RMV-2026-089001', 'CASE-89-1', true, 'booked', 'booked', 'booked'),
       ('RMV-2026-089002', 'CASE-89-2', false, 'quoting', 'none', 'quote_requested');
CREATE TEMP TABLE r89 AS SELECT removal_id FROM hublink.removal WHERE removal_reference = 'RMV-2026-089001';
INSERT INTO hublink.travel_booking (removal_id, travel_quote_reference, request_message_id, requested_at, outcome,
                                    total_amount, currency, response_message_id, responded_at)
SELECT removal_id, 'TQ-89', 'tbq-89', now() - interval '2 days', 'ACCEPTED', 640.00, 'GBP', 'tbr-89', now() - interval '2 days' FROM r89;
INSERT INTO hublink.escort_booking (removal_id, escort_quote_reference, request_message_id, requested_at,
                                    outcome, response_message_id, responded_at)
SELECT removal_id, 'EQ-89', 'ebq-89', now() - interval '2 days', 'ACCEPTED', 'ebr-89', now() - interval '2 days' FROM r89;

-- Booked: refused, each booking named, nothing erased.
SELECT throws_ok($$SELECT hublink.erase_removal('RMV-2026-089001', 'Direction 94/H1')$$, '55000',
                 'removal RMV-2026-089001 still has live provider bookings or refunds owed: nothing was erased',
                 'the Hub refuses to erase a removal whose escort and travel are booked');
SELECT is((SELECT string_agg(x, ' | ') FROM hublink.erasure_blockers('RMV-2026-089001') x),
          'the Hub''s escort booking of removal RMV-2026-089001 is booked: the provider holds it until it is cancelled | '
          'the Hub''s travel booking of removal RMV-2026-089001 is booked: the provider holds it until it is cancelled',
          'erasure_blockers names both bookings');
SELECT is((SELECT count(*)::int FROM hublink.removal WHERE removal_reference = 'RMV-2026-089001')
          + (SELECT count(*)::int FROM hublink.travel_booking JOIN r89 USING (removal_id))
          + (SELECT count(*)::int FROM hublink.purge_log WHERE removal_reference = 'RMV-2026-089001'), 2,
          'nothing erased or logged');
-- The refusal's detail and hint, as an operator reads them.
CREATE FUNCTION pg_temp.refusal(ref text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text; h text;
BEGIN
    PERFORM hublink.erase_removal(ref, 'Direction 94/H1');
    RETURN 'erased';
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RETURN d || E'\n' || h;
END;
$$;
SELECT alike(pg_temp.refusal('RMV-2026-089001'), '%At the Hub, cancel the removal (hublink.cancel_removal or hublink.cancel_booking)%',
            'the hint tells the Hub how to clear it');

-- Requested only (the provider may have booked it): refused as well.
UPDATE hublink.removal SET state = 'booking', escort_state = 'booking_requested', travel_state = 'booked'
 WHERE removal_reference = 'RMV-2026-089001';
SELECT is((SELECT count(*)::int FROM hublink.erasure_blockers('RMV-2026-089001') x WHERE x LIKE '%escort booking%is booking requested%'), 1,
          'a booking requested and not yet answered blocks too');

-- The Hub cancels both (its cancellation rows and the states, as record_message_rows leaves
-- them): still refused until the providers answer.
UPDATE hublink.removal SET state = 'cancelled', escort_state = 'cancelled', travel_state = 'cancelled'
 WHERE removal_reference = 'RMV-2026-089001';
INSERT INTO hublink.cancellation (removal_id, booking, cancelled_by, message_id, quote_reference, reason_code,
                                  before_booking, cancelled_at)
SELECT removal_id, b.booking, 'hub', 'c89-' || b.booking, b.ref, 'RETURNEE_RELEASED', b.before, now() - interval '1 hour'
  FROM r89, (VALUES ('escort', 'EQ-89', true), ('travel', 'TQ-89', false)) b(booking, ref, before);
SELECT is((SELECT string_agg(regexp_replace(x, 'sent .*\)', 'sent …)'), ' | ') FROM hublink.erasure_blockers('RMV-2026-089001') x),
          'the Hub''s escort cancellation of removal RMV-2026-089001 (message c89-escort, sent …) has no answer from the provider yet | '
          'the Hub''s travel cancellation of removal RMV-2026-089001 (message c89-travel, sent …) has no answer from the provider yet',
          'cancelled but unanswered: both cancellations named (the escort one crossed its accepted booking)');
SELECT throws_ok($$SELECT hublink.erase_removal('RMV-2026-089001', 'Direction 94/H1')$$, '55000', NULL,
                 'the Hub refuses to erase a cancelled removal whose providers have not answered');
-- An inbound update as record_message_rows leaves it: its transition, one booking_update row per
-- section (kind, reason code), and its money in financial_consequence.
CREATE FUNCTION pg_temp.update_in(machine text, event text, mid text, sections jsonb, at timestamptz) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO hublink.state_transition (removal_id, machine, from_state, to_state, event, direction, party, message_id, at)
    SELECT removal_id, machine, 'cancelled', 'cancelled', event, 'in', 'hub', mid, at FROM r89;
    INSERT INTO hublink.booking_update (removal_id, booking, message_id, kind, reason_code, details)
    SELECT removal_id, machine, mid, s.key, s.value #>> '{reason,code}', s.value FROM r89, jsonb_each(sections) s;
    INSERT INTO hublink.financial_consequence (removal_id, booking, message_id, kind, amount, currency, reason_code)
    SELECT removal_id, machine, mid, 'cancellation_fee', 50.00, 'GBP', sections #>> '{financial,reason,code}'
      FROM r89 WHERE sections ? 'financial';
$$;
-- The travel provider answers (tsp_cancel's TravelUpdate: the cancellation with its refund):
-- the escort one still blocks.
SELECT pg_temp.update_in('travel', 'TravelUpdate.cancelled', 'tu-89',
    '{"cancellation": {"reason": {"code": "RETURNEE_RELEASED"}}, "financial": {"reason": {"code": "CANCELLED_BY_HO"}}}', now());
SELECT is((SELECT count(*)::int FROM hublink.erasure_blockers('RMV-2026-089001') x WHERE x LIKE '%escort cancellation%'), 1,
          'one provider answered: the other''s cancellation still blocks');
-- The escort provider's acceptance crossing the cancellation (the worker records it as an
-- inbound transition that leaves the state alone) is no answer to the cancellation: only an
-- update is.
INSERT INTO hublink.state_transition (removal_id, machine, from_state, to_state, event, direction, party, message_id, at)
SELECT removal_id, 'escort', 'cancelled', 'cancelled', 'EscortBookingResponse.accepted', 'in', 'hub', 'ebr-89-late', now() FROM r89;
SELECT is((SELECT count(*)::int FROM hublink.erasure_blockers('RMV-2026-089001') x WHERE x LIKE '%escort cancellation%'), 1,
          'an acceptance crossing the cancellation is no answer to it');
-- An answer from before the cancellation does not count.
SELECT pg_temp.update_in('escort', 'EscortUpdate.financial', 'eu-89-old',
    '{"financial": {"reason": {"code": "CANCELLED_BY_HO"}}}', now() - interval '2 hours');
SELECT is((SELECT count(*)::int FROM hublink.erasure_blockers('RMV-2026-089001')), 1,
          'an escort update older than the cancellation is no answer to it');
-- An invoice crossing the cancellation (review3 of 8 December 2026): an EscortUpdate whose
-- financial section charges an earlier amendment's change fee, sent before the provider saw the
-- cancellation. It says nothing of the cancellation, and the escorts may still be held: no answer.
SELECT pg_temp.update_in('escort', 'EscortUpdate.financial', 'eu-89-invoice',
    '{"financial": {"reason": {"code": "EARLIER_COLLECTION"}}}', now());
SELECT is((SELECT count(*)::int FROM hublink.erasure_blockers('RMV-2026-089001') x WHERE x LIKE '%escort cancellation%'), 1,
          'an invoice crossing the cancellation (a fee for another reason) is no answer to it');
SELECT throws_ok($$SELECT hublink.erase_removal('RMV-2026-089001', 'Direction 94/H1')$$, '55000', NULL,
                 'the Hub refuses to erase while only a crossing invoice came from the escort provider');
-- The escort provider's answer (esp_cancel's EscortUpdate: the cancellation fee, reason
-- CANCELLED_BY_HO): the erasure goes through.
SELECT pg_temp.update_in('escort', 'EscortUpdate.financial', 'eu-89',
    '{"financial": {"reason": {"code": "CANCELLED_BY_HO"}}}', now());
SELECT is(hublink.erase_removal('RMV-2026-089001', 'Direction 94/H1') ?& '{messages,personal_data,removal}', true,
          'both answered: the erasure goes through');

-- A removal that ended keeps the blocker of a booking its machine still holds. Unsuccessful
-- (one EscortUpdate.unsuccessful) leaves the travel booked, and the Hub is to cancel it (the
-- state machine allows TravelCancellation from unsuccessful); completed on one provider's word
-- (TravelUpdate.completed is taken at any time) may leave the other's escorts booked. Erasing
-- either would strand the other provider's booking (review3 of 8 December 2026: an exemption for
-- ended removals let both through). The cost, documented: a travel provider that never sends
-- its completion keeps a completed removal from erasure until the retention purge.
INSERT INTO hublink.removal (removal_reference, case_reference, escorted, state, escort_state, travel_state)
VALUES ('RMV-2026-089003', 'CASE-89-3', true, 'completed', 'completed', 'booked'),
       ('RMV-2026-089004', 'CASE-89-4', true, 'unsuccessful', 'unsuccessful', 'booked');
INSERT INTO hublink.travel_booking (removal_id, travel_quote_reference, request_message_id, requested_at, outcome,
                                    total_amount, currency, response_message_id, responded_at)
SELECT removal_id, 'TQ-89-' || right(removal_reference, 1), 'tbq-89-' || right(removal_reference, 1), now() - interval '9 days',
       'ACCEPTED', 640.00, 'GBP', 'tbr-89-' || right(removal_reference, 1), now() - interval '9 days'
  FROM hublink.removal WHERE removal_reference IN ('RMV-2026-089003', 'RMV-2026-089004');
SELECT is((SELECT count(*)::int FROM hublink.erasure_blockers('RMV-2026-089003') x WHERE x LIKE '%travel booking%is booked%')
          + (SELECT count(*)::int FROM hublink.erasure_blockers('RMV-2026-089004') x WHERE x LIKE '%travel booking%is booked%'), 2,
          'a completed or unsuccessful removal whose travel is still booked keeps that blocker');
SELECT throws_ok($$SELECT hublink.erase_removal('RMV-2026-089004', 'Direction 94/H4')$$, '55000', NULL,
                 'an unsuccessful removal is not erased before the Hub cancels its travel');

-- An open removal that booked nothing (quotes only) holds nothing at a provider: erased.
SELECT is(hublink.erase_removal('RMV-2026-089002', 'Direction 94/H2') ? 'removal', true,
          'a removal that booked nothing is erased while open');

SELECT * FROM finish();
ROLLBACK;
