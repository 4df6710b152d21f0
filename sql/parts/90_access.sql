-- Need-to-know access (issue 6 section 1; NFR 0015; Appendix B 4.16 roles, 4.19 search):
-- the four group roles, sensitivity levels as ranked reference rows, a clearance per login
-- role, a sensitivity per removal, and the functions that decide what a caller may see.
-- Row-level security and grants are applied from the catalog by 91_access_policy.sql and
-- 93_access_apply.sql, late, so tables of earlier parts are all covered. docs/security-access.md.

DO $$
BEGIN
    -- hublink_admin and hublink_caseworker come from 42_reference_codes.sql.
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hublink_reporting') THEN
        CREATE ROLE hublink_reporting NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hublink_worker') THEN
        CREATE ROLE hublink_worker NOLOGIN;
    END IF;
END;
$$;
GRANT USAGE ON SCHEMA hublink TO hublink_reporting, hublink_worker;
-- The rows of hublink.mi_sla_compliance (86_mi_views.sql): whoever reads the MI views.
GRANT EXECUTE ON FUNCTION hublink.mi_sla_compliance_rows() TO hublink_reporting, hublink_admin;

CREATE TABLE hublink.sensitivity_level (
    level       text PRIMARY KEY CHECK (level ~ '^[a-z][a-z-]*$'),
    rank        integer NOT NULL UNIQUE CHECK (rank > 0),
    description text NOT NULL
);
COMMENT ON TABLE hublink.sensitivity_level IS
    'Sensitivity of a removal and clearance of a login role, ranked (NFR 0015, Appendix B 4.19): '
    'a login cleared at rank N sees the removals of rank N and below. Rows, edited by hublink_admin.';
COMMENT ON COLUMN hublink.sensitivity_level.level IS 'Name of the level.';
COMMENT ON COLUMN hublink.sensitivity_level.rank IS 'Its rank: higher is more sensitive. The lowest rank is the default sensitivity of a removal.';
COMMENT ON COLUMN hublink.sensitivity_level.description IS 'Which cases it is for.';
SELECT pg_catalog.pg_extension_config_dump('hublink.sensitivity_level', '');
INSERT INTO hublink.sensitivity_level (level, rank, description) VALUES
    ('standard', 10, 'Most removals: any caseworker with a clearance may see them.'),
    ('sensitive', 20, 'Cases with a higher profile or a risk to others: caseworkers cleared for sensitive cases.'),
    ('restricted', 30, 'Cases named by the Home Office as restricted: a few named caseworkers.');

CREATE TABLE hublink.role_clearance (
    role_name  name PRIMARY KEY,
    level      text NOT NULL REFERENCES hublink.sensitivity_level ON UPDATE CASCADE,
    granted_by name NOT NULL DEFAULT session_user,
    granted_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE hublink.role_clearance IS
    'The clearance of each login role (NFR 0015). A login without a row sees no removal. Set with '
    'hublink.set_clearance(); each login reads only its own row.';
COMMENT ON COLUMN hublink.role_clearance.role_name IS 'The login role (session_user).';
COMMENT ON COLUMN hublink.role_clearance.level IS 'The highest sensitivity it may see.';
COMMENT ON COLUMN hublink.role_clearance.granted_by IS 'The login that set it.';
COMMENT ON COLUMN hublink.role_clearance.granted_at IS 'When.';
SELECT pg_catalog.pg_extension_config_dump('hublink.role_clearance', '');
ALTER TABLE hublink.role_clearance ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_clearance ON hublink.role_clearance FOR SELECT
    USING (role_name = hublink.acting_login()
           OR pg_catalog.pg_has_role(hublink.acting_login(), 'hublink_admin', 'USAGE'));
COMMENT ON POLICY own_clearance ON hublink.role_clearance IS
    'A login reads its own clearance; an admin reads them all.';
GRANT SELECT ON hublink.sensitivity_level TO hublink_admin, hublink_caseworker;
-- The ranks decide what every clearance sees: adding, removing or re-ranking a level is the
-- extension owner's (a change of the access model, like a new policy), not the admin's, who
-- may only reword a description (the attacker pass of 0.2.0; docs/security-access.md).
GRANT UPDATE (description) ON hublink.sensitivity_level TO hublink_admin;
-- Every change is alerted: 95_config_alerts.sql.
GRANT SELECT ON hublink.role_clearance TO hublink_admin, hublink_caseworker;

CREATE FUNCTION hublink.lowest_sensitivity() RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT l.level FROM hublink.sensitivity_level l ORDER BY l.rank LIMIT 1);
COMMENT ON FUNCTION hublink.lowest_sensitivity() IS
    'The lowest sensitivity level: the default of hublink.removal.sensitivity.';

-- In three steps: a column added with a default and NOT NULL at once rewrites the table,
-- which PostgreSQL refuses while functions take hublink.removal rows as arguments.
ALTER TABLE hublink.removal ADD COLUMN sensitivity text REFERENCES hublink.sensitivity_level ON UPDATE CASCADE;
UPDATE hublink.removal SET sensitivity = hublink.lowest_sensitivity();
ALTER TABLE hublink.removal ALTER COLUMN sensitivity SET DEFAULT hublink.lowest_sensitivity(),
                            ALTER COLUMN sensitivity SET NOT NULL;
COMMENT ON COLUMN hublink.removal.sensitivity IS
    'How sensitive the case is (Appendix B 4.19): only logins cleared at this level or above see '
    'the removal and its rows. Defaults to the lowest level; set with hublink.set_removal_sensitivity().';
CREATE INDEX removal_sensitivity ON hublink.removal (sensitivity);
COMMENT ON INDEX hublink.removal_sensitivity IS 'Row-level security filters on it.';

-- The levels the calling login is cleared for. Invoker rights on purpose: it reads
-- role_clearance under that table's own policy, and in a policy it runs as the querying role.
-- The subject is the login (session_user): SET ROLE does not change a clearance, except for
-- the web interface's login, which acts for the person it SET ROLE to (hublink.acting_login()).
-- SECURITY DEFINER: the policies call it for every reader, and a reader that may not read
-- hublink.role_clearance must get "no levels", not a permission error. It reveals only the
-- caller's own clearance.
-- PL/pgSQL, not SQL, for the reason of hublink.acting_login(): every policy calls it once per
-- statement, and every decryption of a name runs such statements.
CREATE FUNCTION hublink.cleared_levels() RETURNS text[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    me name := hublink.acting_login();
BEGIN
    RETURN ARRAY(SELECT l.level FROM hublink.sensitivity_level l
                  WHERE l.rank <= (SELECT m.rank FROM hublink.role_clearance c
                                     JOIN hublink.sensitivity_level m ON m.level = c.level
                                    WHERE c.role_name = me)
                  ORDER BY l.rank);
END;
$$;
COMMENT ON FUNCTION hublink.cleared_levels() IS
    'The sensitivity levels the login (hublink.acting_login(): session_user, or the person the '
    'web interface acts for) is cleared for; empty without a clearance.';

-- Owner-side check for SECURITY DEFINER functions, which run as the extension owner and so
-- bypass row-level security: the login behind the call must be cleared for the removal.
-- The extension owner, superusers and members of hublink_worker pass (the worker and the
-- handlers process every removal).
-- PL/pgSQL, not SQL: a SECURITY DEFINER SQL function is planned again on every call in a new
-- (sub)transaction, and the worker calls this once per message in one (docs/performance.md).
CREATE FUNCTION hublink.removal_access_allowed(removal_id bigint) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    -- Once, into a variable: called inside the queries below it cost ten times the whole check
    -- (a SQL function with SET is planned again at every call; docs/web.md "Figures"), and
    -- every decryption of a name on a web page runs this check.
    me name := hublink.acting_login();
BEGIN
    RETURN (SELECT r.rolsuper OR r.oid = (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'hublink')
                   OR pg_catalog.pg_has_role(me, 'hublink_worker', 'USAGE')
              FROM pg_catalog.pg_roles r WHERE r.rolname = me)
        OR EXISTS (SELECT FROM hublink.removal x
                     JOIN hublink.sensitivity_level s ON s.level = x.sensitivity
                     JOIN hublink.role_clearance c ON c.role_name = me
                     JOIN hublink.sensitivity_level m ON m.level = c.level
                    WHERE x.removal_id = removal_access_allowed.removal_id AND s.rank <= m.rank);
END;
$$;
COMMENT ON FUNCTION hublink.removal_access_allowed(bigint) IS
    'True when the login (hublink.acting_login()) may see the removal: it is cleared at the removal''s '
    'sensitivity or above, or it is the extension owner, a superuser or a hublink_worker member.';
REVOKE ALL ON FUNCTION hublink.removal_access_allowed(bigint) FROM PUBLIC;

CREATE FUNCTION hublink.require_removal_access(removal_id bigint) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT coalesce(hublink.removal_access_allowed(removal_id), false) THEN
        -- The same words for a removal that exists and one that does not: no existence leak.
        RAISE EXCEPTION 'removal % is not accessible', coalesce(removal_id::text, 'NULL')
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The removal does not exist or its sensitivity is above the clearance of this login.',
                  HINT = 'An admin sets clearances with hublink.set_clearance().';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.require_removal_access(bigint) IS
    'Raises insufficient_privilege unless the login may see the removal (hublink.removal_access_allowed). '
    'Every SECURITY DEFINER function that takes a removal and that a caseworker may call '
    'PERFORMs it first: such functions bypass row-level security.';
REVOKE ALL ON FUNCTION hublink.require_removal_access(bigint) FROM PUBLIC;

CREATE FUNCTION hublink.require_removal_access(removal_reference text) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- Its own error, naming only the reference the caller gave: the removal's internal id (or
    -- a -1 for one that does not exist) would tell the two apart.
    IF NOT coalesce(hublink.removal_access_allowed(
                        (SELECT r.removal_id FROM hublink.removal r
                          WHERE r.removal_reference = require_removal_access.removal_reference)), false) THEN
        RAISE EXCEPTION 'removal % is not accessible', coalesce(removal_reference, 'NULL')
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The removal does not exist or its sensitivity is above the clearance of this login.',
                  HINT = 'An admin sets clearances with hublink.set_clearance().';
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.require_removal_access(text) IS
    'hublink.require_removal_access by removal reference (RMV-...); an unknown reference is refused '
    'to a caseworker like an invisible one, with the same error naming only the reference given.';
REVOKE ALL ON FUNCTION hublink.require_removal_access(text) FROM PUBLIC;

CREATE FUNCTION hublink.set_clearance(role_name name, level text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = set_clearance.role_name AND r.rolcanlogin) THEN
        RAISE EXCEPTION 'role "%" is not a login role', role_name
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'A clearance belongs to a login role (one per person).',
                  HINT = 'CREATE ROLE ... LOGIN IN ROLE hublink_caseworker first.';
    END IF;
    -- Two people for a clearance: an admin cleared by itself could read any removal's personal
    -- data through the audited readers (the attacker pass of issue 12). Superusers excepted.
    IF set_clearance.role_name = hublink.acting_login()
       AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = hublink.acting_login()) THEN
        RAISE EXCEPTION 'a login may not set its own clearance'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('%s tried to set the clearance of its own login.', hublink.acting_login()),
                  HINT = 'Another admin sets it; each change is audited.';
    END IF;
    IF level IS NULL THEN
        DELETE FROM hublink.role_clearance c WHERE c.role_name = set_clearance.role_name;
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT FROM hublink.sensitivity_level l WHERE l.level = set_clearance.level) THEN
        RAISE EXCEPTION 'sensitivity level "%" does not exist', level
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Clearances are levels of hublink.sensitivity_level.',
                  HINT = 'SELECT level FROM hublink.sensitivity_level ORDER BY rank.';
    END IF;
    INSERT INTO hublink.role_clearance AS c (role_name, level, granted_by)
    VALUES (set_clearance.role_name, set_clearance.level, hublink.acting_login())
    ON CONFLICT ON CONSTRAINT role_clearance_pkey
    DO UPDATE SET level = excluded.level, granted_by = excluded.granted_by, granted_at = now();
END;
$$;
COMMENT ON FUNCTION hublink.set_clearance(name, text) IS
    'Sets the clearance of a login role to a sensitivity level (NULL removes it: the login then '
    'sees no removal). For hublink_admin (Appendix B 4.16: the service administrator manages users); '
    'never a login''s own, except a superuser''s.';
REVOKE ALL ON FUNCTION hublink.set_clearance(name, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.set_clearance(name, text) TO hublink_admin;

CREATE FUNCTION hublink.set_removal_sensitivity(removal_reference text, level text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    admin boolean := pg_catalog.pg_has_role(hublink.acting_login(), 'hublink_admin', 'USAGE');
    x     record;
BEGIN
    IF NOT admin THEN
        PERFORM hublink.require_removal_access(removal_reference);
    END IF;
    IF NOT EXISTS (SELECT FROM hublink.sensitivity_level l WHERE l.level = set_removal_sensitivity.level) THEN
        RAISE EXCEPTION 'sensitivity level "%" does not exist', level
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Sensitivities are levels of hublink.sensitivity_level.',
                  HINT = 'SELECT level FROM hublink.sensitivity_level ORDER BY rank.';
    END IF;
    IF NOT admin AND NOT level = ANY (hublink.cleared_levels()) THEN
        RAISE EXCEPTION 'sensitivity "%" is above the clearance of this login', level
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A caseworker may not hide a removal from itself.',
                  HINT = 'Ask an admin (hublink_admin) to set it.';
    END IF;
    SELECT r.removal_id, r.sensitivity INTO x FROM hublink.removal r
     WHERE r.removal_reference = set_removal_sensitivity.removal_reference FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'removal "%" does not exist', removal_reference USING ERRCODE = 'no_data_found',
            DETAIL = 'No removal has this reference.', HINT = 'hublink.search_removals() finds removals.';
    END IF;
    UPDATE hublink.removal r SET sensitivity = set_removal_sensitivity.level WHERE r.removal_id = x.removal_id;
    -- Kept and alerted like a change from the web interface (96_case_sensitivity.sql), without a reason.
    IF x.sensitivity <> set_removal_sensitivity.level THEN
        PERFORM hublink.record_sensitivity_change(x.removal_id, x.sensitivity, set_removal_sensitivity.level, NULL);
    END IF;
END;
$$;
COMMENT ON FUNCTION hublink.set_removal_sensitivity(text, text) IS
    'Sets the sensitivity of a removal. A caseworker may set it on a removal it sees, up to its own '
    'clearance; an admin on any removal, to any level. Each change is kept (hublink.sensitivity_change, '
    'no reason) and alerted (removal_sensitivity_changed); hublink.change_sensitivity takes a reason.';
REVOKE ALL ON FUNCTION hublink.set_removal_sensitivity(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.set_removal_sensitivity(text, text) TO hublink_admin, hublink_caseworker;

