-- 0.2.0: the caseworkers' web interface (issue 16, docs/web.md). The web login (a member of
-- hublink_web) acts for the person it SET ROLE to (hublink.acting_login()), whose clearance
-- then applies; single sign-on identities map to roles as rows; web sign-ins, failures and
-- sign-outs are recorded like database logons (NFR 0020). sql/parts/79_web_identity.sql.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hublink_web') THEN
        CREATE ROLE hublink_web NOLOGIN;
    END IF;
END;
$$;
-- No USAGE grant of its own: PUBLIC has USAGE on schema hublink (93_access_apply.sql).

-- @function hublink.acting_login

CREATE TABLE hublink.security_web_identity (
    issuer       text NOT NULL CHECK (issuer ~ '^https?://'),
    subject      text NOT NULL CHECK (subject <> '' AND octet_length(subject) <= 255),
    role_name    name NOT NULL,
    display_name text NOT NULL CHECK (display_name <> ''),
    added_by     name NOT NULL DEFAULT hublink.acting_login(),
    added_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject)
);
-- @comment TABLE hublink.security_web_identity
-- @comment COLUMN hublink.security_web_identity.issuer
-- @comment COLUMN hublink.security_web_identity.subject
-- @comment COLUMN hublink.security_web_identity.role_name
-- @comment COLUMN hublink.security_web_identity.display_name
-- @comment COLUMN hublink.security_web_identity.added_by
-- @comment COLUMN hublink.security_web_identity.added_at
SELECT pg_catalog.pg_extension_config_dump('hublink.security_web_identity', '');
GRANT SELECT, INSERT, UPDATE, DELETE ON hublink.security_web_identity TO hublink_admin;

INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('web_sign_out', NULL, 'A person signed out of the web interface, or its session timed out');

-- @function hublink.security_web_logon
REVOKE ALL ON FUNCTION hublink.security_web_logon(text, boolean, text, text) FROM PUBLIC;
-- @function hublink.security_web_sign_out
REVOKE ALL ON FUNCTION hublink.security_web_sign_out(text, text) FROM PUBLIC;
-- @function hublink.web_sign_in_role
REVOKE ALL ON FUNCTION hublink.web_sign_in_role(text, text) FROM PUBLIC;
-- @function hublink.web_sign_in
REVOKE ALL ON FUNCTION hublink.web_sign_in(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_sign_in(text, text, text) TO hublink_web;
-- @function hublink.web_sign_in_failed
REVOKE ALL ON FUNCTION hublink.web_sign_in_failed(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_sign_in_failed(text, text, text, text) TO hublink_web;
-- @function hublink.web_sign_out
REVOKE ALL ON FUNCTION hublink.web_sign_out(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_sign_out(text, text, text) TO hublink_web;
-- @function hublink.web_login_warning
REVOKE ALL ON FUNCTION hublink.web_login_warning() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_login_warning() TO hublink_web;

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
