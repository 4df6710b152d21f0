-- 0.1.0 -> 0.2.0, issue 17 (the simulation, third pass; docs/simulation.md): the TSP offers the
-- cheapest and the best refundable itinerary of each date beside its ranking (offer_choice),
-- and the Hub advises when to book a removal likely to be cancelled (hublink.plan_booking,
-- hublink.booking_hold), counting held removals in the estimate's history.

-- The TSP: a new setting, and the quote that reads it.
INSERT INTO hublink.tsp_config VALUES
    ('offer_choice', 'true', 'true: also offer, per date, the cheapest and the best refundable itinerary when they are not among the quotes_per_date best (the buyer weighs refundability with its own chance of cancellation).')
ON CONFLICT (key) DO NOTHING;
-- @function hublink.tsp_quote

-- The Hub: when to book. The columns are added without a default and filled, then given their
-- default and NOT NULL, so that the table is as a fresh install makes it (an ADD COLUMN with a
-- default leaves a "missing value" in the catalog that a fresh CREATE TABLE has not).
ALTER TABLE hublink.cancel_estimate_config
    ADD COLUMN hold_from_probability numeric(5,4) CHECK (hold_from_probability BETWEEN 0 AND 1),
    ADD COLUMN hold_hours_before numeric(6,2) CHECK (hold_hours_before BETWEEN 0.01 AND 9999.99);
UPDATE hublink.cancel_estimate_config SET hold_from_probability = 0.5, hold_hours_before = 72;
ALTER TABLE hublink.cancel_estimate_config
    ALTER COLUMN hold_from_probability SET DEFAULT 0.5,
    ALTER COLUMN hold_from_probability SET NOT NULL,
    ALTER COLUMN hold_hours_before SET DEFAULT 72,
    ALTER COLUMN hold_hours_before SET NOT NULL;
-- Its body (SELECT * FROM the configuration) was bound to the columns of its time: made again.
-- @function hublink.removal_cancel_probability
-- @comment COLUMN hublink.cancel_estimate_config.hold_from_probability
-- @comment COLUMN hublink.cancel_estimate_config.hold_hours_before
CREATE TABLE hublink.booking_hold (
    removal_id         bigint PRIMARY KEY REFERENCES hublink.removal ON DELETE CASCADE,
    cancel_probability numeric(5,4) NOT NULL,
    book_from          timestamptz NOT NULL,
    decided_at         timestamptz NOT NULL DEFAULT now(),
    decided_by         text NOT NULL
);
-- @comment TABLE hublink.booking_hold
-- @comment COLUMN hublink.booking_hold.removal_id
-- @comment COLUMN hublink.booking_hold.cancel_probability
-- @comment COLUMN hublink.booking_hold.book_from
-- @comment COLUMN hublink.booking_hold.decided_at
-- @comment COLUMN hublink.booking_hold.decided_by
-- @comment COLUMN hublink.cancel_history_count.booked
-- @comment COLUMN hublink.cancel_history_count.cancelled
-- @function hublink.cancel_history_on_close
-- @function hublink.plan_booking
REVOKE ALL ON FUNCTION hublink.plan_booking(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.plan_booking(text) TO hublink_caseworker;

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
