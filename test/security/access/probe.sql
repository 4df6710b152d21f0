-- Run by each login over TCP (test/security/access/run): tries every table, view and function
-- of schema hublink, found in the catalog, and prints one tab-separated line per attempt:
--   object  kind  action  outcome  detail
-- outcome: allowed (detail: rows counted, updated, or the SQLSTATE the call ended with after
-- passing the privilege check and, for a SECURITY DEFINER function given the most sensitive
-- removal, its own clearance check), refused (permission denied for that very object or one
-- it reads; never for the schema: PUBLIC has USAGE on it), refused clearance (the function's
-- own clearance check refused that removal), error.
-- Every attempt is rolled back (a raised HLT01 ends its subtransaction), so nothing changes.
SET statement_timeout = '10min';
CREATE FUNCTION pg_temp.probe()
    RETURNS TABLE (object text, kind text, action text, outcome text, detail text)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    o    record;
    n    bigint;
    col  name;
    args text;
    names_removal boolean;
BEGIN
    FOR o IN SELECT c.oid, c.oid::regclass::text AS name, c.relkind FROM pg_class c
              WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
              ORDER BY 2 LOOP
        object := o.name;
        kind := CASE WHEN o.relkind IN ('r', 'p') THEN 'table' ELSE 'view' END;
        action := 'select';
        BEGIN
            EXECUTE format('SELECT count(*) FROM %s', o.name) INTO n;
            outcome := 'allowed';
            detail := n::text;
        EXCEPTION WHEN insufficient_privilege THEN
            outcome := CASE WHEN SQLERRM LIKE 'permission denied for %' AND SQLERRM NOT LIKE 'permission denied for schema %'
                            THEN 'refused' ELSE 'error' END;
            detail := SQLERRM;
        WHEN OTHERS THEN
            outcome := 'error';
            detail := SQLSTATE || ' ' || SQLERRM;
        END;
        RETURN NEXT;
        CONTINUE WHEN o.relkind NOT IN ('r', 'p');
        -- a no-op update of every row the login may change: counts them, then rolls back
        action := 'update';
        SELECT a.attname INTO col FROM pg_attribute a
         WHERE a.attrelid = o.oid AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attidentity = '' AND a.attgenerated = ''
         ORDER BY a.attnum LIMIT 1;
        BEGIN
            EXECUTE format('WITH u AS (UPDATE %s SET %I = %I RETURNING 1) SELECT count(*) FROM u', o.name, col, col) INTO n;
            RAISE SQLSTATE 'HLT01' USING MESSAGE = n::text;
        EXCEPTION WHEN SQLSTATE 'HLT01' THEN
            outcome := 'allowed';
            detail := SQLERRM;
        WHEN insufficient_privilege THEN
            outcome := CASE WHEN SQLERRM LIKE 'permission denied for %' AND SQLERRM NOT LIKE 'permission denied for schema %'
                            THEN 'refused' ELSE 'error' END;
            detail := SQLERRM;
        WHEN OTHERS THEN
            outcome := 'error';
            detail := SQLSTATE || ' ' || SQLERRM;
        END;
        RETURN NEXT;
    END LOOP;

    -- every callable function, with NULL arguments that are not constants (a constant NULL
    -- lets the planner fold a STRICT call away before the privilege check); a SECURITY DEFINER
    -- function's argument removal_reference names the most sensitive removal instead
    -- (hublink_test.top_ref, set by run), so that its cell shows the function's own clearance
    -- check: "refused clearance" (42501, the check's words) for a login not cleared for it
    FOR o IN SELECT p.oid, p.oid::regprocedure::text AS sig, p.proname, p.provariadic, p.proargtypes,
                    p.proargnames, p.prosecdef, p.pronargs
               FROM pg_proc p
              WHERE p.pronamespace = 'hublink'::regnamespace AND p.prokind = 'f'
                AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype, 'internal'::regtype)
                AND NOT 'internal'::regtype = ANY (p.proargtypes::oid[])
              ORDER BY 2 LOOP
        object := o.sig;
        kind := 'function';
        action := 'execute';
        SELECT string_agg(CASE WHEN o.provariadic <> 0 AND a.i = array_length(o.proargtypes::oid[], 1) THEN 'VARIADIC ' ELSE '' END
                          || CASE WHEN o.prosecdef AND a.n = 'removal_reference'
                                  THEN quote_literal(current_setting('hublink_test.top_ref'))
                                  ELSE format('(SELECT NULL::%s)',
                                    CASE a.t WHEN 'anyelement'::regtype THEN 'text'
                                             WHEN 'anycompatible'::regtype THEN 'text'
                                             WHEN 'anynonarray'::regtype THEN 'text'
                                             WHEN 'anyarray'::regtype THEN 'text[]'
                                             WHEN 'anycompatiblearray'::regtype THEN 'text[]'
                                             ELSE format_type(a.t, NULL) END) END,
                          ', ' ORDER BY a.i),
               bool_or(o.prosecdef AND a.n = 'removal_reference')
          INTO args, names_removal
          FROM unnest(o.proargtypes::oid[], o.proargnames[1:o.pronargs]) WITH ORDINALITY AS a (t, n, i);
        BEGIN
            EXECUTE format('SELECT %I.%I(%s)', 'hublink', o.proname, coalesce(args, ''));
            RAISE SQLSTATE 'HLT01' USING MESSAGE = 'returned';
        EXCEPTION WHEN SQLSTATE 'HLT01' THEN
            outcome := 'allowed';
            detail := SQLERRM;
        WHEN OTHERS THEN
            IF SQLSTATE = '42501' AND SQLERRM = format('permission denied for function %s', o.proname) THEN
                outcome := 'refused';
            ELSIF names_removal AND SQLSTATE = '42501' AND SQLERRM LIKE 'removal % is not accessible' THEN
                outcome := 'refused clearance';   -- the function's own check (require_removal_access)
            ELSE
                outcome := 'allowed';   -- it ran past the privilege check and failed on the NULLs
            END IF;
            detail := SQLSTATE || ' ' || SQLERRM;
        END;
        RETURN NEXT;
    END LOOP;
END;
$$;
\pset format unaligned
\pset fieldsep '\t'
\pset tuples_only on
SELECT object, kind, action, outcome, regexp_replace(detail, '[\t\n]', ' ', 'g') FROM pg_temp.probe();
