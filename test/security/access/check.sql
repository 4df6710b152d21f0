-- The verdict of the access matrix (test/security/access/run), as the superuser: each observed
-- cell against its expectation (exceptions.tsv for one object, else rules.tsv by the object's
-- class), with expected row counts computed apart from row-level security. Prints the cells
-- that differ and the count of cells checked; fails (ON_ERROR_STOP) when one differs.
-- run loads the tables of schema access_check first.
SET search_path = access_check, public;
\set ON_ERROR_STOP on
\set QUIET on
-- Every row, or the rows of removals at or below a clearance, found by joining from the row
-- to its removal along hublink.removal_data_path with the owner's rights.
CREATE FUNCTION pg_temp.expected_rows(object text, level text, cleared boolean) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    q   text := format('SELECT count(*) FROM %s t0', object);
    cur regclass := object::regclass;
    i   integer := 0;
    p   record;
    n   bigint;
BEGIN
    IF cleared THEN
        IF level IS NULL THEN
            RETURN '0';
        END IF;
        WHILE cur <> 'hublink.removal'::regclass LOOP
            SELECT * INTO p FROM hublink.removal_data_path d WHERE d.table_name = cur;
            IF NOT FOUND THEN
                RETURN 'no path to a removal';
            END IF;
            q := q || format(' JOIN %s t%s ON t%s.%I = t%s.%I', p.parent, i + 1, i + 1, p.parent_column, i, p.key_column);
            i := i + 1;
            cur := p.parent;
        END LOOP;
        q := q || format(' JOIN hublink.sensitivity_level s ON s.level = t%s.sensitivity'
                         ' WHERE s.rank <= (SELECT m.rank FROM hublink.sensitivity_level m WHERE m.level = %L)', i, level);
    END IF;
    EXECUTE q INTO n;
    RETURN n::text;
END $$;

-- The rows of a table that belong to the login itself (role_name).
CREATE FUNCTION pg_temp.own_rows(object text, login text) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %s WHERE role_name = %L', object, login) INTO n;
    RETURN n::text;
END $$;

CREATE TEMP TABLE cell AS
SELECT o.login, l.role, l.level, o.object, o.kind, o.action, o.outcome, o.detail,
       CASE WHEN o.kind = 'function'
            THEN CASE WHEN p.prosecdef THEN 'definer_function' ELSE 'invoker_function' END
            ELSE a.class END AS class
  FROM obs o
  JOIN login l USING (login)
  LEFT JOIN hublink.access_object a ON o.kind <> 'function' AND a.object_name::text = o.object
  LEFT JOIN pg_proc p ON p.oid = CASE WHEN o.kind = 'function' THEN o.object::regprocedure END;
ALTER TABLE cell ADD COLUMN expect text, ADD COLUMN want text, ADD COLUMN pass boolean;
UPDATE cell c
   SET expect = coalesce((SELECT e.expect FROM exception e
                           WHERE e.object = c.object AND e.role IN (c.role, '*') AND e.action = c.action
                           ORDER BY e.role = '*' LIMIT 1),
                         (SELECT r.expect FROM rule r WHERE r.role = c.role AND r.class = c.class AND r.action = c.action));
-- 'cleared' on a function: run was given the most sensitive removal, so the function's own
-- clearance check passes only for a login cleared for that level (run, probe.sql)
UPDATE cell c
   SET want = CASE WHEN c.expect = 'cleared' AND c.kind = 'function'
                   THEN CASE WHEN (SELECT s.rank FROM hublink.sensitivity_level s WHERE s.level = c.level)
                                  >= (SELECT max(s.rank) FROM hublink.sensitivity_level s)
                             THEN 'allowed' ELSE 'refused clearance' END
              ELSE CASE c.expect
                  WHEN 'refused' THEN 'refused'
                  WHEN 'allowed' THEN 'allowed'
                  WHEN 'all' THEN 'allowed ' || pg_temp.expected_rows(c.object, c.level, false)
                  WHEN 'cleared' THEN 'allowed ' || pg_temp.expected_rows(c.object, c.level, true)
                  WHEN 'own' THEN 'allowed ' || pg_temp.own_rows(c.object, c.login)
                  ELSE 'an expectation (none in rules.tsv or exceptions.tsv)' END END;
UPDATE cell c
   SET pass = CASE WHEN c.expect IN ('all', 'cleared', 'own') AND c.kind <> 'function' THEN c.outcome || ' ' || c.detail = c.want
                   ELSE c.outcome = c.want END;

\pset footer off
\pset border 1
\unset QUIET
SELECT role, class, action, expect, count(*) AS cells, count(*) FILTER (WHERE pass) AS passed
  FROM cell GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
SELECT login, object, action, expect, want, outcome || ' ' || left(detail, 90) AS got
  FROM cell WHERE NOT pass ORDER BY login, object, action;
\set QUIET on
\pset format unaligned
\pset tuples_only on
SELECT format('access: %s passed, %s failed (access matrix: %s cells checked, %s logins x %s objects and actions)',
              count(*) FILTER (WHERE pass), count(*) FILTER (WHERE NOT pass),
              count(*), count(DISTINCT login), count(DISTINCT (object, action))) FROM cell;
\pset format aligned
\pset tuples_only off
\unset QUIET
-- the rows the logins could have seen must exist, or 'cleared' proves nothing
SELECT format('removal data rows seen by the most cleared caseworker: %s in %s tables',
              sum(detail::bigint), count(*) FILTER (WHERE detail::bigint > 0)) AS coverage
  FROM cell WHERE class = 'removal_data' AND action = 'select' AND outcome = 'allowed'
   AND level = (SELECT level FROM hublink.sensitivity_level ORDER BY rank DESC LIMIT 1);
SELECT login, coalesce(level, '-') AS clearance, outcome || ' ' || detail AS "hublink.removal rows"
  FROM cell WHERE object = 'hublink.removal' AND action = 'select' ORDER BY login;
-- PUBLIC, that is every login, one with no hublink role too: USAGE on the schema (so that its
-- refusals come from each object's privilege, where the monitoring's hooks see attempts on the
-- audit store) and nothing else. The functions it may execute are exactly those that
-- exceptions.tsv allows every role ('*') and hublink.access_public_function lists; no table,
-- view, sequence, column or type grants it anything; never CREATE on the schema. Every function of the
-- schema counts here, trigger functions and those the probe cannot call too.
CREATE TEMP TABLE public_grant AS
SELECT 'function' AS kind, p.oid::regprocedure::text AS object, 'EXECUTE' AS privilege,
       EXISTS (SELECT FROM exception e WHERE e.object = p.oid::regprocedure::text AND e.role = '*'
                  AND e.action = 'execute' AND e.expect = 'allowed')
       AND EXISTS (SELECT FROM hublink.access_public_function f WHERE f.function_name = p.oid::regprocedure::text) AS listed
  FROM pg_proc p
 WHERE p.pronamespace = 'hublink'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE')
UNION ALL
SELECT 'relation ' || c.relkind::text, c.oid::regclass::text, a.privilege_type, false
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.relnamespace = 'hublink'::regnamespace AND a.grantee = 0
UNION ALL
SELECT 'column', c.oid::regclass::text || '.' || quote_ident(t.attname), a.privilege_type, false
  FROM pg_class c JOIN pg_attribute t ON t.attrelid = c.oid, aclexplode(t.attacl) a
 WHERE c.relnamespace = 'hublink'::regnamespace AND a.grantee = 0
UNION ALL
SELECT 'type', t.oid::regtype::text, 'USAGE', false
  FROM pg_type t
 WHERE t.typnamespace = 'hublink'::regnamespace AND has_type_privilege('public', t.oid, 'USAGE')
UNION ALL
SELECT 'schema', n.nspname::text, a.privilege_type, a.privilege_type = 'USAGE'
  FROM pg_namespace n, aclexplode(n.nspacl) a
 WHERE n.nspname = 'hublink' AND a.grantee = 0;
\pset footer off
SELECT kind, object, privilege AS "granted to PUBLIC, not listed" FROM public_grant WHERE NOT listed ORDER BY 1, 2, 3;
\pset format unaligned
\pset tuples_only on
SELECT format('public: %s; EXECUTE on %s functions, all listed (%s); %s grants to PUBLIC not listed',
              CASE WHEN EXISTS (SELECT FROM public_grant WHERE kind = 'schema' AND privilege = 'USAGE')
                   THEN 'USAGE on schema hublink' ELSE 'NO USAGE on schema hublink' END,
              count(*) FILTER (WHERE kind = 'function'),
              string_agg(object, ', ' ORDER BY object) FILTER (WHERE kind = 'function'),
              count(*) FILTER (WHERE NOT listed))
  FROM public_grant;
\pset format aligned
\pset tuples_only off
DO $$
BEGIN
    IF EXISTS (SELECT FROM public_grant WHERE NOT listed)
       OR NOT EXISTS (SELECT FROM public_grant WHERE kind = 'schema' AND privilege = 'USAGE') THEN
        RAISE EXCEPTION 'access matrix: PUBLIC holds more than USAGE on the schema and the listed functions, or lacks that USAGE';
    END IF;
    IF EXISTS (SELECT FROM hublink.access_public_function f
                WHERE NOT EXISTS (SELECT FROM public_grant g WHERE g.kind = 'function' AND g.object = f.function_name)) THEN
        RAISE EXCEPTION 'access matrix: a function of hublink.access_public_function is not executable by PUBLIC';
    END IF;
END $$;
DO $$
BEGIN
    IF EXISTS (SELECT FROM cell WHERE NOT pass) OR NOT EXISTS (SELECT FROM cell) THEN
        RAISE EXCEPTION 'access matrix: % cells differ from their expectation', (SELECT count(*) FROM cell WHERE NOT pass);
    END IF;
    IF (SELECT count(DISTINCT level) FROM cell WHERE level IS NOT NULL AND role = 'hublink_caseworker'
           AND class = 'removal_data' AND action = 'select' AND object = 'hublink.removal' AND detail::bigint > 0)
       < (SELECT count(*) FROM hublink.sensitivity_level) THEN
        RAISE EXCEPTION 'access matrix: some caseworker saw no removal; the seed did not work';
    END IF;
END $$;
