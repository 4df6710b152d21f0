-- 0.2.0: defects left over from the last hostile reviews (docs/security-crypto.md "Erasure keeps
-- the money in MI").

-- An erasure (or the removal purge) keeps the removal's MI money amounts, without the removal,
-- so that hublink.mi_money's totals do not change; the escort fees of its bookings are logged.
-- @table hublink.mi_money_erased
SELECT pg_catalog.pg_extension_config_dump('hublink.mi_money_erased', '');
-- @view hublink.rollup_mi_money_item
-- @comment COLUMN hublink.rollup_mi_money_item.removal_id
-- @view hublink.rollup_mi_money_live
-- @function hublink.purge_removal

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
-- Its removal_reference makes it removal data (as purge_log) only once part 96 has taught
-- hublink.removal_data_path that column; until then the policy just applied took it for
-- reference data, and apply_access_policy grants, never revokes. Part 96's run grants what a
-- fresh install has.
REVOKE ALL ON hublink.mi_money_erased FROM hublink_admin, hublink_caseworker, hublink_worker;

-- The Hub refuses to erase a removal while a provider holds a booking of it or has not
-- answered its cancellation (docs/security-crypto.md "Erasure of a removal with live bookings").
-- @function hublink.erasure_blockers
-- @function hublink.erase_removal
