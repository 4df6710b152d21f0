-- 0.1.0 -> 0.2.0, the defects the last hostile review left open (docs/security-crypto.md
-- "Erasure of a removal with live bookings", docs/upgrades.md).
--
-- 1. An erasure on direction no longer deletes a provider's live bookings or unpaid refunds:
-- hublink.erase_removal refuses, erasing nothing, while hublink.erasure_blockers names seats on
-- flights not yet departed, escorts on duty today or later, or a refund not yet received.
-- @function hublink.erasure_blockers
REVOKE ALL ON FUNCTION hublink.erasure_blockers(text) FROM PUBLIC;
-- @function hublink.erase_removal

-- 2. The purge of a removal finds a provider's rows of it by index: the removal reference
-- columns, and the referencing columns its deletes (and their foreign key checks) look up,
-- were scanned whole once per purged removal. Its deletes are one list (hublink.purge_rows).
CREATE INDEX tsp_quote_removal ON hublink.tsp_quote (removal_id);
-- @comment INDEX hublink.tsp_quote_removal
CREATE INDEX tsp_booking_removal ON hublink.tsp_booking (removal_id);
-- @comment INDEX hublink.tsp_booking_removal
CREATE INDEX tsp_ticket_booking ON hublink.tsp_ticket (booking_ref);
-- @comment INDEX hublink.tsp_ticket_booking
CREATE INDEX tsp_ticket_replaces ON hublink.tsp_ticket (replaces);
-- @comment INDEX hublink.tsp_ticket_replaces
CREATE INDEX tsp_refund_booking ON hublink.tsp_refund (booking_ref);
-- @comment INDEX hublink.tsp_refund_booking
CREATE INDEX tsp_update_quote ON hublink.tsp_update (quote_ref);
-- @comment INDEX hublink.tsp_update_quote
CREATE INDEX esp_plan_removal ON hublink.esp_plan (removal_ref);
-- @comment INDEX hublink.esp_plan_removal
CREATE INDEX esp_quote_plan ON hublink.esp_quote (plan_id);
-- @comment INDEX hublink.esp_quote_plan
CREATE INDEX esp_booking_removal ON hublink.esp_booking (removal_ref);
-- @comment INDEX hublink.esp_booking_removal
CREATE INDEX esp_booking_plan ON hublink.esp_booking (plan_id);
-- @comment INDEX hublink.esp_booking_plan
CREATE INDEX esp_update_booking ON hublink.esp_update (booking_id);
-- @comment INDEX hublink.esp_update_booking
-- @function hublink.purge_rows
REVOKE ALL ON FUNCTION hublink.purge_rows(regclass, name, text[]) FROM PUBLIC;
-- @function hublink.purge_removal

-- 3. A change to the money advice (booking_market, cancel_estimate_config, escort_rule) is a
-- critical security_config_changed alert naming the person: the triggers are in
-- sql/parts/95_config_alerts.sql, which update part 96 includes whole (after these tables exist).

SELECT hublink.apply_access_policy();
