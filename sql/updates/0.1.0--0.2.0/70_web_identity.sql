-- 0.2.0: the caseworkers' web interface (issue 16, docs/web.md). The web login (a member of
-- hublink_web) acts for the person it SET ROLE to (hublink.acting_login()), whose clearance
-- then applies; single sign-on identities map to roles as rows; web sign-ins, failures and
-- sign-outs are recorded like database logons (NFR 0020).
-- sql/parts/79_web_identity.sql is wholly new in 0.2.0: the build copies it verbatim.
-- @include sql/parts/79_web_identity.sql

-- The clearance and the records of who did what follow hublink.acting_login().
-- @function hublink.cleared_levels
-- @function hublink.removal_access_allowed
-- @function hublink.set_clearance
-- @function hublink.set_removal_sensitivity
-- @function hublink.create_removal
-- @function hublink.acknowledge_alert
-- @function hublink.unlock_role
-- A reference list an admin edits is announced by a message of no removal: hublink.send has no
-- removal to check for it (it refused every admin but a superuser before).
-- @function hublink.send
ALTER POLICY own_clearance ON hublink.role_clearance
    USING (role_name = hublink.acting_login()
           OR pg_catalog.pg_has_role(hublink.acting_login(), 'hublink_admin', 'USAGE'));
-- Caseworkers acknowledge the alerts of their removals from the web interface's alerts page
-- (the function checks the clearance); admins the alerts of no removal.
GRANT EXECUTE ON FUNCTION hublink.acknowledge_alert(bigint) TO hublink_admin, hublink_caseworker;

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
