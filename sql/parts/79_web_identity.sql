-- The caseworkers' web interface (issue 16; docs/web.md): who a web request acts as, the
-- mapping of single sign-on identities to database roles (rows), and the sign-in, failure and
-- sign-out records, which go into the same security events, alerts and lock-out as database
-- logons (NFR 0020 3c-e; docs/security-monitoring.md).
--
-- The web server logs in as one pooled login role, a member of hublink_web, NOINHERIT, holding
-- nothing of its own: it is granted each person's role (GRANT alice TO web_login) and runs
-- every request in a transaction after SET LOCAL ROLE to the person's role. So row-level
-- security, grants and the audit trail's "role" see the person. Clearances are decided by the
-- login (session_user) for everyone else; for a member of hublink_web they are decided by the
-- role it has SET ROLE to (hublink.acting_login()), which PostgreSQL lets it change only to a
-- role it was granted, and never inside a SECURITY DEFINER function.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hublink_web') THEN
        CREATE ROLE hublink_web NOLOGIN;
    END IF;
END;
$$;
-- No USAGE grant of its own: PUBLIC has USAGE on schema hublink (93_access_apply.sql).

-- Invoker rights: it reads only the caller's own session, and SECURITY DEFINER functions
-- (which run as the owner) call it to learn the person behind the call. current_setting('role')
-- is the role of the last SET ROLE; a SECURITY DEFINER function changes current_user but not
-- that setting, and may not SET ROLE itself. Membership of hublink_web is read from
-- pg_auth_members (granted directly), not pg_has_role, for which a superuser is a member of
-- every role: a superuser's SET ROLE keeps the superuser's rights, as before.
-- PL/pgSQL, not SQL: a SQL function with SET is never inlined and is parsed and planned again
-- in every statement and subtransaction that calls it (0.5 ms: pg_roles is a view). Pages call
-- it several times for every name they decrypt (removal_access_allowed, cleared_levels in each
-- row-level security policy) and the worker's clearance check once per message, each message in
-- a subtransaction of its own; PL/pgSQL keeps its plan for the session (docs/performance.md
-- "The web pages" and "Per-message cost, third pass").
CREATE FUNCTION hublink.acting_login() RETURNS name
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF pg_catalog.current_setting('role') <> 'none'
       AND EXISTS (SELECT FROM pg_catalog.pg_auth_members m
                    WHERE m.roleid = (SELECT g.oid FROM pg_catalog.pg_roles g WHERE g.rolname = 'hublink_web')
                      AND m.member = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = session_user)) THEN
        RETURN pg_catalog.current_setting('role')::name;
    END IF;
    RETURN session_user;
END;
$$;
COMMENT ON FUNCTION hublink.acting_login() IS
    'The person a call acts for, whose clearance applies: the login (session_user), except for '
    'the web interface''s login (a member of hublink_web), which acts for the role it SET ROLE '
    'to for the request (docs/web.md). Without a SET ROLE that is the web login itself, which '
    'has no clearance.';

CREATE TABLE hublink.security_web_identity (
    issuer       text NOT NULL CHECK (issuer ~ '^https?://'),
    subject      text NOT NULL CHECK (subject <> '' AND octet_length(subject) <= 255),
    role_name    name NOT NULL,
    display_name text NOT NULL CHECK (display_name <> ''),
    added_by     name NOT NULL DEFAULT hublink.acting_login(),
    added_at     timestamptz NOT NULL DEFAULT now(),
    confirmed_by name,
    confirmed_at timestamptz,
    PRIMARY KEY (issuer, subject),
    CONSTRAINT security_web_identity_confirmed CHECK ((confirmed_by IS NULL) = (confirmed_at IS NULL))
);
COMMENT ON TABLE hublink.security_web_identity IS
    'Single sign-on identities allowed into the web interface and the database role each acts '
    'as (docs/web.md). The role''s memberships (hublink_caseworker, hublink_admin, ...) and its '
    'clearance (hublink.role_clearance) decide what the person may do and see. Edited by '
    'hublink_admin; an identity without a row is refused (a failed sign-in).';
COMMENT ON COLUMN hublink.security_web_identity.issuer IS 'The OpenID provider''s issuer URL (the id token''s iss).';
COMMENT ON COLUMN hublink.security_web_identity.subject IS 'The person''s subject at that provider (the id token''s sub).';
COMMENT ON COLUMN hublink.security_web_identity.role_name IS
    'The database role the person acts as; the web login must be granted it (GRANT role TO web login).';
COMMENT ON COLUMN hublink.security_web_identity.display_name IS 'The person''s name, shown in the interface.';
COMMENT ON COLUMN hublink.security_web_identity.added_by IS 'Who added the row.';
COMMENT ON COLUMN hublink.security_web_identity.added_at IS 'When.';
COMMENT ON COLUMN hublink.security_web_identity.confirmed_by IS
    'The second admin who confirmed the mapping (hublink.confirm_web_identity), or the superuser '
    'or extension owner who made it; NULL: not confirmed, and the identity cannot sign in.';
COMMENT ON COLUMN hublink.security_web_identity.confirmed_at IS 'When it was confirmed.';
SELECT pg_catalog.pg_extension_config_dump('hublink.security_web_identity', '');
-- Columns, not the table: added_by and confirmed_by are set by the trigger and by
-- hublink.confirm_web_identity only.
GRANT SELECT, DELETE ON hublink.security_web_identity TO hublink_admin;
GRANT INSERT (issuer, subject, role_name, display_name), UPDATE (issuer, subject, role_name, display_name)
    ON hublink.security_web_identity TO hublink_admin;

-- Four eyes on who may sign in as whom (the attacker pass of 0.2.0: an admin could map its own
-- identity to any person's role). An admin may map an identity only to a role that exists and
-- is neither its own nor a privileged one (hublink.web_identity_role_protected); the mapping
-- works only once a different admin confirms it; superusers and the extension owner map any
-- role, confirmed at once. Every change is a critical alert (hublink.security_config_changed).
-- docs/security-access.md "Web identities: four eyes".
CREATE FUNCTION hublink.web_identity_role_protected(p_role_name name) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN EXISTS (SELECT FROM pg_catalog.pg_roles r
                    WHERE r.rolname = p_role_name
                      AND (r.rolsuper OR r.rolcreaterole OR r.rolbypassrls OR r.rolreplication
                           OR r.oid = (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'hublink')
                           OR EXISTS (SELECT FROM pg_catalog.pg_roles g
                                       WHERE g.rolname IN ('hublink_admin', 'hublink_worker', 'hublink_web',
                                                           'hublink_backup', 'hublink_audit_reader')
                                         AND pg_catalog.pg_has_role(r.oid, g.oid, 'MEMBER'))));
COMMENT ON FUNCTION hublink.web_identity_role_protected(name) IS
    'True for a role only the owner may map a web identity to: a superuser, CREATEROLE, BYPASSRLS '
    'or REPLICATION role, the extension owner, or a member of hublink_admin, hublink_worker, '
    'hublink_web, hublink_backup or hublink_audit_reader.';

CREATE FUNCTION hublink.web_identity_privileged() RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN EXISTS (SELECT FROM pg_catalog.pg_roles r
                    WHERE r.rolname = hublink.acting_login()
                      AND (r.rolsuper
                           OR r.oid = (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'hublink')));
COMMENT ON FUNCTION hublink.web_identity_privileged() IS
    'True when the person behind the call (hublink.acting_login()) is a superuser or the extension '
    'owner, who map any web identity, confirmed at once.';

CREATE FUNCTION hublink.web_identity_guard() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    who  name := hublink.acting_login();
    boss boolean := hublink.web_identity_privileged();
    moved boolean := TG_OP = 'INSERT'
                     OR (NEW.issuer, NEW.subject, NEW.role_name) IS DISTINCT FROM (OLD.issuer, OLD.subject, OLD.role_name);
BEGIN
    IF NOT moved THEN
        RETURN NEW; -- the display name, or a confirmation (hublink.confirm_web_identity)
    END IF;
    IF NOT boss THEN
        IF NEW.role_name = who THEN
            RAISE EXCEPTION 'an admin may not map a web identity to its own role'
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = pg_catalog.format('%s tried to map identity %s at %s to its own role.', who, NEW.subject, NEW.issuer),
                      HINT = 'Another admin maps it, and a third confirms it.';
        END IF;
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = NEW.role_name) THEN
            RAISE EXCEPTION 'role "%" does not exist', NEW.role_name
                USING ERRCODE = 'undefined_object',
                      DETAIL = 'A web identity is mapped to an existing role.',
                      HINT = 'CREATE ROLE ... LOGIN IN ROLE hublink_caseworker, then GRANT it to the web login.';
        END IF;
        IF hublink.web_identity_role_protected(NEW.role_name) THEN
            RAISE EXCEPTION 'an admin may not map a web identity to the privileged role "%"', NEW.role_name
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'Admin, worker, backup, audit reader, web login, superuser and owner roles are mapped by the extension''s owner only.',
                      HINT = 'Ask the owner (a superuser) to map it.';
        END IF;
        NEW.added_by := who;
        NEW.added_at := now();
        NEW.confirmed_by := NULL;
        NEW.confirmed_at := NULL;
    ELSIF TG_OP = 'UPDATE' OR NEW.confirmed_by IS NULL THEN
        NEW.added_by := CASE WHEN TG_OP = 'UPDATE' THEN who ELSE NEW.added_by END;
        NEW.confirmed_by := who;
        NEW.confirmed_at := now();
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION hublink.web_identity_guard() IS
    'BEFORE INSERT OR UPDATE trigger of hublink.security_web_identity: a mapping an admin adds or '
    'moves (issuer, subject, role) must name an existing role that is not its own nor privileged '
    '(hublink.web_identity_role_protected), is recorded as added by it and is unconfirmed until '
    'another admin confirms it (hublink.confirm_web_identity); one a superuser or the owner adds '
    'or moves is confirmed by them at once.';
REVOKE ALL ON FUNCTION hublink.web_identity_guard() FROM PUBLIC;
CREATE TRIGGER web_identity_guard BEFORE INSERT OR UPDATE ON hublink.security_web_identity
    FOR EACH ROW EXECUTE FUNCTION hublink.web_identity_guard();
COMMENT ON TRIGGER web_identity_guard ON hublink.security_web_identity IS
    'Four eyes on mappings (hublink.web_identity_guard).';
-- Every change is alerted: 95_config_alerts.sql.

CREATE FUNCTION hublink.confirm_web_identity(p_issuer text, p_subject text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    who name := hublink.acting_login();
    w   hublink.security_web_identity;
BEGIN
    SELECT * INTO w FROM hublink.security_web_identity i
     WHERE i.issuer = p_issuer AND i.subject = p_subject AND i.confirmed_at IS NULL
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no unconfirmed web identity % at %', p_subject, p_issuer
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT issuer, subject, role_name, added_by FROM hublink.security_web_identity WHERE confirmed_at IS NULL.';
    END IF;
    IF w.added_by = who THEN
        RAISE EXCEPTION 'an admin may not confirm a web identity it mapped itself'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('%s mapped identity %s at %s to role %s.', who, p_subject, p_issuer, w.role_name),
                  HINT = 'A second admin confirms it.';
    END IF;
    IF w.role_name = who OR hublink.web_identity_role_protected(w.role_name) THEN
        RAISE EXCEPTION 'an admin may not confirm a web identity for its own or a privileged role'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('The identity is mapped to role %s.', w.role_name),
                  HINT = 'The extension''s owner maps privileged roles.';
    END IF;
    UPDATE hublink.security_web_identity i SET confirmed_by = who, confirmed_at = now()
     WHERE i.issuer = p_issuer AND i.subject = p_subject;
END;
$$;
COMMENT ON FUNCTION hublink.confirm_web_identity(text, text) IS
    'A second admin confirms a web identity mapping another admin added or moved: only then may '
    'the identity sign in. Refused to the admin who mapped it, and for its own or a privileged '
    'role. Alerted like every change of the mapping.';
REVOKE ALL ON FUNCTION hublink.confirm_web_identity(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.confirm_web_identity(text, text) TO hublink_admin;

INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('web_sign_out', NULL, 'A person signed out of the web interface, or its session timed out');

CREATE FUNCTION hublink.security_web_logon(p_role_name text, p_ok boolean, p_client_addr text,
                                           p_extra text) RETURNS text
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'hublink_security_web_logon';
COMMENT ON FUNCTION hublink.security_web_logon(text, boolean, text, text) IS
    'Counts and records a web sign-in of a role like a database logon (same lock-out table, a '
    'logon event with method oidc); p_extra is a JSON object added to the detail. Returns '
    'succeeded, failed or refused_locked.';
REVOKE ALL ON FUNCTION hublink.security_web_logon(text, boolean, text, text) FROM PUBLIC;

CREATE FUNCTION hublink.security_web_sign_out(p_role_name text, p_detail text) RETURNS void
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'hublink_security_web_sign_out';
COMMENT ON FUNCTION hublink.security_web_sign_out(text, text) IS
    'Records a web_sign_out security event for the role (p_detail: a JSON object).';
REVOKE ALL ON FUNCTION hublink.security_web_sign_out(text, text) FROM PUBLIC;

-- The role name a failed sign-in counts against: the mapped role when the identity is known
-- (so web and database failures lock out the same role), else the subject, marked.
CREATE FUNCTION hublink.web_sign_in_role(p_issuer text, p_subject text) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN coalesce((SELECT w.role_name::text FROM hublink.security_web_identity w
                      WHERE w.issuer = p_issuer AND w.subject = p_subject),
                    left('oidc:' || coalesce(nullif(p_subject, ''), 'unknown'), 63));
COMMENT ON FUNCTION hublink.web_sign_in_role(text, text) IS
    'The role a web sign-in of this identity counts against: its mapped role, or "oidc:" and '
    'the subject for an identity without a row.';
REVOKE ALL ON FUNCTION hublink.web_sign_in_role(text, text) FROM PUBLIC;

CREATE FUNCTION hublink.web_sign_in(p_issuer text, p_subject text, p_client_addr text)
    RETURNS TABLE (outcome text, role_name name, display_name text, groups text[],
                   clearance text, reason text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    w hublink.security_web_identity;
    why text;
BEGIN
    SELECT * INTO w FROM hublink.security_web_identity i
     WHERE i.issuer = p_issuer AND i.subject = p_subject;
    IF NOT FOUND THEN
        why := 'identity not mapped to a role';
    ELSIF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = w.role_name) THEN
        why := 'mapped role does not exist';
    ELSIF NOT pg_catalog.pg_has_role(session_user, w.role_name, 'MEMBER') THEN
        why := 'web login is not granted the mapped role';
    ELSIF (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname = w.role_name) THEN
        why := 'mapped role is a superuser or bypasses row-level security';
    ELSIF w.confirmed_at IS NULL THEN
        why := 'identity mapping not yet confirmed by a second admin';
    -- a privileged role only when a superuser or the owner confirmed it (it may have become
    -- privileged after an admin's mapping was confirmed)
    ELSIF hublink.web_identity_role_protected(w.role_name)
          AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r
                           WHERE r.rolname = w.confirmed_by
                             AND (r.rolsuper OR r.oid = (SELECT e.extowner FROM pg_catalog.pg_extension e
                                                          WHERE e.extname = 'hublink'))) THEN
        why := 'mapping of a privileged role not confirmed by the owner';
    END IF;
    outcome := hublink.security_web_logon(hublink.web_sign_in_role(p_issuer, p_subject), why IS NULL,
                                          p_client_addr,
                                          jsonb_build_object('issuer', p_issuer, 'subject', p_subject,
                                                             'reason', why)::text);
    reason := coalesce(why, CASE WHEN outcome = 'refused_locked' THEN 'role is locked out' END);
    IF outcome = 'succeeded' THEN
        role_name := w.role_name;
        display_name := w.display_name;
        groups := ARRAY(SELECT g FROM unnest(ARRAY['hublink_admin', 'hublink_caseworker', 'hublink_reporting']) g
                         WHERE pg_catalog.pg_has_role(w.role_name, g, 'USAGE') ORDER BY g);
        clearance := (SELECT c.level FROM hublink.role_clearance c WHERE c.role_name = w.role_name);
    END IF;
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION hublink.web_sign_in(text, text, text) IS
    'A person signed in at the OpenID provider (issuer, subject verified by the web server): '
    'maps the identity to its role, counts and records the sign-in like a database logon '
    '(NFR 0020; lock-out) and returns the outcome (succeeded, failed, refused_locked), and on '
    'success the role, name, group roles and clearance. For the web login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_sign_in(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_sign_in(text, text, text) TO hublink_web;

CREATE FUNCTION hublink.web_sign_in_failed(p_issuer text, p_subject text, p_reason text,
                                           p_client_addr text) RETURNS text
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN hublink.security_web_logon(hublink.web_sign_in_role(p_issuer, p_subject), false, p_client_addr,
                                      jsonb_build_object('issuer', p_issuer, 'subject', p_subject,
                                                         'reason', left(p_reason, 200))::text);
COMMENT ON FUNCTION hublink.web_sign_in_failed(text, text, text, text) IS
    'Records a web sign-in that failed before an identity was established or verified (the '
    'provider refused, a forged or replayed callback, a token that did not verify), against '
    'the mapped role if the subject is known. Returns failed. For the web login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_sign_in_failed(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_sign_in_failed(text, text, text, text) TO hublink_web;

CREATE FUNCTION hublink.web_sign_out(p_role_name text, p_reason text, p_client_addr text) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN hublink.security_web_sign_out(p_role_name,
                                         jsonb_build_object('reason', left(p_reason, 200),
                                                            'client_addr', p_client_addr)::text);
COMMENT ON FUNCTION hublink.web_sign_out(text, text, text) IS
    'Records that a person''s web session ended (reason: signed out, timed out). For the web '
    'login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_sign_out(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_sign_out(text, text, text) TO hublink_web;

CREATE FUNCTION hublink.web_login_warning() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT w.warning_text FROM hublink.security_login_warning w);
COMMENT ON FUNCTION hublink.web_login_warning() IS
    'The login warning (NFR 0014, hublink.security_login_warning), which the web interface shows '
    'before sign-in. For the web login (hublink_web).';
REVOKE ALL ON FUNCTION hublink.web_login_warning() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.web_login_warning() TO hublink_web;
