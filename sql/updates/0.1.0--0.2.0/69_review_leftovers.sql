-- 0.2.0: the leftovers of the 8 December 2026 reviews (update part 69).
--
-- Hub erasure (docs/security-crypto.md "Erasure of a removal with live bookings"): only an
-- update that answers the Hub's cancellation (a cancellation section, or a financial section
-- for the reason CANCELLED_BY_HO) counts as the provider's answer, and an admin can record an
-- answer settled outside the interface (hublink.hub_record_settled). The new table and the
-- function that erasure_blockers now calls come here, before parts 90 and 94 bring
-- erasure_blockers and erase_removal in their current form.
-- @table hublink.hub_settlement
CREATE INDEX hub_settlement_removal ON hublink.hub_settlement (removal_id);
-- @comment INDEX hublink.hub_settlement_removal
-- The personal-data purge clears the settlements' notes (free text that may name people).
-- @function hublink.purge_personal_data
REVOKE ALL ON FUNCTION hublink.purge_personal_data(text) FROM PUBLIC;
-- @function hublink.hub_unanswered_cancellations
REVOKE ALL ON FUNCTION hublink.hub_unanswered_cancellations(bigint) FROM PUBLIC;

INSERT INTO hublink.audit_action VALUES
    ('hub_record_settled', 'An admin recorded a provider''s answer settled outside the interface (hublink.hub_record_settled).');
INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('security_settled_outside', 'warning', 'monitoring',
     'An admin recorded a provider''s cancellation answer or completion as settled outside the interface '
     '(hublink.hub_record_settled), which lets the removal be erased. Check it was authorised and that '
     'the provider really released its seats or escorts (hublink.hub_settlement holds the note).');
INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('hub_settled_outside', 'security_settled_outside', 'Provider answer recorded as settled outside the interface');
-- @function hublink.hub_record_settled
REVOKE ALL ON FUNCTION hublink.hub_record_settled(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.hub_record_settled(text, text, text) TO hublink_admin;

-- The TSP's drift check (docs/tsp.md "The fares of a flight, in one row"): the chosen
-- itineraries' derived rows are compared whole with the exact derivation, in the same
-- statement (snapshot) as the search, and fare_row_drift is raised once per drift episode.
-- tsp_quote and tsp_flight_fares_drift_alert come in their current form with parts 20, 66 and
-- 98 (PL/pgSQL: the tables they read may come later); so does this one.
-- @function hublink.tsp_flight_fares_stale
REVOKE ALL ON FUNCTION hublink.tsp_flight_fares_stale(bigint[]) FROM PUBLIC;

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
