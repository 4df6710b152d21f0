-- Erasure keeps the money in MI (docs/security-crypto.md "Erasure keeps the money in MI"): an
-- erasure on direction deletes the removal's bookings, fees, refunds and receipts, and
-- hublink.mi_money must show the same totals after it as before, whether the months were
-- computed live or already folded into the rollup; the amounts kept carry no personal data.
-- On the MI scenario (test/mi/scenario.sql), with an escort cancellation fee charged on R4's
-- unsuccessful escorting (the case that went missing).
BEGIN;
SELECT plan(9);
SET LOCAL "DateStyle" = 'ISO, YMD';

\o /dev/null
\ir ../mi/scenario.sql
\o
\ir include/mi_fold.sql

INSERT INTO hublink.financial_consequence (removal_id, booking, message_id, kind, amount, currency, recorded_at)
VALUES (pg_temp.rid('RMV-2025-000004'), 'escort', 'eu-4', 'cancellation_fee', 30.00, 'GBP', '2025-01-17 18:00Z');
-- The travel provider's answers to the Hub's cancellations after booking (tsp_cancel's
-- TravelUpdate: a cancellation section; R2's also carried its refund, recorded by the scenario):
-- the Hub erases a removal only once they came (89_hub_erasure).
SELECT pg_temp.mi_move('RMV-2025-000004', 'travel', 'cancelled', 'cancelled', 'TravelUpdate.cancelled', 'in', '2025-01-17 17:00Z', 'tu-4');
SELECT pg_temp.mi_move('RMV-2025-000002', 'travel', 'cancelled', 'cancelled', 'TravelUpdate.cancelled', 'in', '2025-01-28 09:00Z', 'tu-2');
INSERT INTO hublink.booking_update (removal_id, booking, message_id, kind, reason_code, received_at)
VALUES (pg_temp.rid('RMV-2025-000004'), 'travel', 'tu-4', 'cancellation', 'ESCORT_UNSUCCESSFUL', '2025-01-17 17:00Z'),
       (pg_temp.rid('RMV-2025-000002'), 'travel', 'tu-2', 'cancellation', 'RETURNEE_RELEASED', '2025-01-28 09:00Z');
CREATE TEMP TABLE money_before AS SELECT * FROM hublink.mi_money;
SELECT is((SELECT cancellation_fees FROM money_before WHERE month = '2025-01-01' AND currency = 'GBP'), 55.00,
          'MI counts the escort fee of the unsuccessful escorting with the travel one (25 + 30)');

-- Live: nothing folded. R4 (its escort fee, its EUR travel spend) erased.
SELECT is(hublink.erase_removal('RMV-2025-000004', 'Direction 94/1') ? 'removal', true, 'R4 erased');
SELECT is((SELECT count(*)::int FROM hublink.removal WHERE removal_reference = 'RMV-2025-000004')
          + (SELECT count(*)::int FROM hublink.financial_consequence WHERE message_id = 'eu-4'), 0,
          'its removal and its fee row are gone');
SELECT results_eq('SELECT * FROM hublink.mi_money ORDER BY month, currency',
                  'SELECT * FROM money_before ORDER BY month, currency',
                  'mi_money computed live: the same totals after the erasure');

-- Folded first: R2 (spend, refund owed and received, cancellation fee, loss on a non-refundable
-- fare) erased from months the rollup holds.
SELECT pg_temp.fold();
SELECT results_eq('SELECT * FROM hublink.mi_money ORDER BY month, currency',
                  'SELECT * FROM money_before ORDER BY month, currency', 'folded: the same totals');
SELECT is(hublink.erase_removal('RMV-2025-000002', 'Direction 94/2') ? 'removal', true, 'R2 erased');
SELECT results_eq('SELECT * FROM hublink.mi_money ORDER BY month, currency',
                  'SELECT * FROM money_before ORDER BY month, currency',
                  'folded, R2 erased (its days recomputed live): the same totals');
SELECT pg_temp.fold();
SELECT results_eq('SELECT * FROM hublink.mi_money ORDER BY month, currency',
                  'SELECT * FROM money_before ORDER BY month, currency',
                  'folded again after the erasure: the same totals');

-- What is kept: item, currency, amount and instant per removal erased; no person, no booking.
SELECT is((SELECT string_agg(e.removal_reference || ' ' || e.item || ' ' || e.amount::numeric(14,2) || ' ' || e.currency,
                             ', ' ORDER BY e.removal_reference, e.item, e.amount)
             FROM hublink.mi_money_erased e),
          'RMV-2025-000002 cancellation_fee 25.00 GBP, RMV-2025-000002 lost_non_refundable 700.00 GBP, '
          'RMV-2025-000002 refund 100.00 GBP, RMV-2025-000002 refund_received 60.00 GBP, '
          'RMV-2025-000002 ticket_spend 800.00 GBP, RMV-2025-000004 cancellation_fee 30.00 GBP, '
          'RMV-2025-000004 escort_spend 2000.00 GBP, RMV-2025-000004 ticket_spend 500.00 EUR',
          'the amounts kept, one per MI item of the removals erased');

SELECT * FROM finish();
ROLLBACK;
