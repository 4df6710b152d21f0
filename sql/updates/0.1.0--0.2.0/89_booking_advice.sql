-- 0.1.0 -> 0.2.0, issue 17 (the simulation, fourth pass; docs/hub.md "When to book"): the Hub
-- weighs booking now against holding with the fare rise and sell-out it expects
-- (hublink.booking_market) and with how long before departure its profiles' cancellations come
-- (hublink.cancel_history_lead); ESCORTED is a cancellation factor.

INSERT INTO hublink.cancel_factor VALUES
    ('ESCORTED', 'The returnee travels escorted (a risk flag is set).')
ON CONFLICT (code) DO NOTHING;

-- The hold is now decided by expected cost; hold_from_probability stays as the admin's floor
-- (0: none). 0.1.0 had no such column (part 87 added it), so no admin's value is overwritten.
ALTER TABLE hublink.cancel_estimate_config ALTER COLUMN hold_from_probability SET DEFAULT 0;
UPDATE hublink.cancel_estimate_config SET hold_from_probability = 0;
-- Added without a default and filled, then given its default and NOT NULL, so that the table is
-- as a fresh install makes it (part 87 explains).
ALTER TABLE hublink.cancel_estimate_config
    ADD COLUMN max_sold_out numeric(5,4) CHECK (max_sold_out BETWEEN 0 AND 1);
UPDATE hublink.cancel_estimate_config SET max_sold_out = 0.05;
ALTER TABLE hublink.cancel_estimate_config
    ALTER COLUMN max_sold_out SET DEFAULT 0.05,
    ALTER COLUMN max_sold_out SET NOT NULL;
-- @comment COLUMN hublink.cancel_estimate_config.hold_from_probability
-- @comment COLUMN hublink.cancel_estimate_config.max_sold_out

-- @table hublink.booking_market
INSERT INTO hublink.booking_market (hours_before, fare_factor, sold_out) VALUES
    (0, 1.8000, 0.1500), (24, 1.4500, 0.0800), (72, 1.2500, 0.0300), (168, 1.1000, 0.0000),
    (336, 1.0000, 0.0000);
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.booking_market TO hublink_admin;

-- The lead history starts empty on an upgraded Hub: the cancellation's time was not kept
-- against the first departure before (cancellation.cancelled_at is, but the departure of a
-- removal closed long ago may be purged); until it fills, holding is never advised on
-- evidence the Hub does not have (hublink.cancel_lead_share shrinks toward 0).
-- @table hublink.cancel_history_lead

-- @function hublink.removal_first_departure
-- @function hublink.cancel_history_on_close
-- @function hublink.cancel_lead_share
-- @function hublink.booking_market_at
-- hublink.plan_booking's new result columns: part 87 already makes its current definition, with
-- its grants (every @function copy is the current one; a drop and a second copy here changed
-- nothing).
-- Their bodies (SELECT * FROM the configuration) were bound to the columns of their time.
-- @function hublink.removal_cancel_probability

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
