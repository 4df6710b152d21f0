-- Need-to-know access (sql/parts/90_access.sql .. 93_access_apply.sql, docs/security-access.md;
-- issue 6 section 1, NFR 0015, Appendix B 4.16 and 4.19): the catalog rules (row-level security
-- on every table of removal data, SECURITY DEFINER hygiene, reporting sees only mi_* views) and
-- the behaviour of caseworkers of each clearance, switched to with SET SESSION AUTHORIZATION so
-- that session_user is the login (the real-login matrix is test/security/access/run).
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(64);

-- --- roles and reference rows ----------------------------------------------------------------
SELECT is((SELECT count(*)::int FROM pg_roles WHERE rolname IN
             ('hublink_admin', 'hublink_caseworker', 'hublink_reporting', 'hublink_worker') AND NOT rolcanlogin),
          4, 'the four group roles exist and cannot log in');
SELECT is(hublink.lowest_sensitivity(), (SELECT level FROM hublink.sensitivity_level ORDER BY rank LIMIT 1),
          'the lowest sensitivity is the level of lowest rank');

-- --- catalog rules ---------------------------------------------------------------------------
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'hublink'::regnamespace AND p.prosecdef
       AND NOT 'search_path=pg_catalog, pg_temp' = ANY (coalesce(p.proconfig, '{}'))
$$, 'every SECURITY DEFINER function sets search_path = pg_catalog, pg_temp');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'hublink'::regnamespace AND p.prosecdef
       AND has_function_privilege('public', p.oid, 'EXECUTE')
       AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype) -- cannot be called
       -- the row-level security policies call it for every reader; it tells the caller only
       -- its own clearance
       AND p.oid <> 'hublink.cleared_levels()'::regprocedure
$$, 'no SECURITY DEFINER function but a trigger function (and the policies'' cleared_levels) is executable by PUBLIC');
-- PUBLIC has USAGE on the schema, so that a login holding no hublink role is refused by each
-- object's own privilege (where the monitoring's hooks see attempts on the audit store,
-- docs/security-monitoring.md); so PUBLIC may run no function but those listed, and hold nothing else.
SELECT ok(has_schema_privilege('public', 'hublink', 'USAGE') AND NOT has_schema_privilege('public', 'hublink', 'CREATE'),
          'PUBLIC has USAGE on schema hublink, not CREATE');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p
     WHERE p.pronamespace = 'hublink'::regnamespace
       AND has_function_privilege('public', p.oid, 'EXECUTE')
       AND p.oid NOT IN (SELECT x.function_name::regprocedure FROM hublink.access_public_function x)
$$, 'no function of the schema, trigger functions included, is executable by PUBLIC but those of hublink.access_public_function');
SELECT is_empty($$
    SELECT c.oid::regclass::text || ' ' || a.privilege_type
      FROM pg_class c, aclexplode(c.relacl) a
     WHERE c.relnamespace = 'hublink'::regnamespace AND a.grantee = 0
$$, 'no table, view or sequence of the schema grants PUBLIC anything');
SELECT is_empty($$
    SELECT t.oid::regtype::text FROM pg_type t
     WHERE t.typnamespace = 'hublink'::regnamespace AND has_type_privilege('public', t.oid, 'USAGE')
$$, 'no type of the schema is PUBLIC''s to use (a column or function of a row type would pin its table)');
SELECT ok(has_function_privilege('hublink_caseworker', 'hublink.search_removals(text,text)', 'EXECUTE')
          AND has_function_privilege('hublink_reporting', 'hublink.export_mi(text,text)', 'EXECUTE')
          AND has_function_privilege('hublink_audit_reader', 'hublink.audit_canonical(hublink.audit_log)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'hublink.search_removals(text,text)', 'EXECUTE'),
          'invoker functions PUBLIC had are the group roles'' instead (access_grant, class invoker_function)');
-- Every SECURITY DEFINER function a caseworker or reporting may call checks the clearance, and
-- first: proven by calling each one below (after the fixtures), not by reading its source.
SELECT is_empty($$
    SELECT f FROM unnest(ARRAY['hublink.create_removal(text,jsonb,date,date,jsonb,date[],boolean,boolean,jsonb,text,text)',
                               'hublink.set_risk(text,text,text[],text)', 'hublink.profile_risk(text)',
                               'hublink.request_escort_quotes(text)', 'hublink.request_travel_quotes(text,text[])',
                               'hublink.choose_quote(text,text,text)', 'hublink.requote(text)',
                               'hublink.amend_escort(text,jsonb)', 'hublink.amend_travel(text,jsonb)',
                               'hublink.cancel_removal(text,text,text,boolean)',
                               'hublink.cancel_booking(text,text,text,text,boolean)']) f
     WHERE NOT (SELECT p.prosecdef FROM pg_proc p WHERE p.oid = f::regprocedure)
        OR NOT has_function_privilege('hublink_caseworker', f::regprocedure, 'EXECUTE')
        OR has_function_privilege('public', f::regprocedure, 'EXECUTE')
$$, 'the caseworker''s Hub functions are SECURITY DEFINER, for hublink_caseworker, not PUBLIC');
SELECT is_empty($$
    SELECT o.object_name::text || ' ' || x.privilege FROM hublink.access_object o
     CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) x (privilege)
     WHERE o.class = 'removal_data' AND has_table_privilege('hublink_caseworker', o.object_name, x.privilege)
$$, 'caseworkers only read removal data: no INSERT, UPDATE, DELETE on any of it (they act through the Hub functions)');
SELECT ok(NOT has_function_privilege('hublink_caseworker', 'hublink.send(jsonb)', 'EXECUTE'),
          'caseworkers do not write the outbox past the state machine (hublink.send is for the worker and the owner)');
SELECT is_empty($$
    SELECT o.object_name::text FROM hublink.access_object o WHERE o.class = 'removal_data'
    EXCEPT
    SELECT c.oid::regclass::text FROM pg_class c
      JOIN pg_policy p ON p.polrelid = c.oid AND p.polname = 'need_to_know'
     WHERE c.relrowsecurity AND NOT c.relforcerowsecurity
$$, 'every table of removal data has row-level security (not forced) and the need_to_know policy');
SELECT is_empty($$
    SELECT c.oid::regclass::text FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
     WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind IN ('r', 'p')
       AND a.attname = 'removal_id' AND NOT a.attisdropped
    EXCEPT
    SELECT o.object_name::text FROM hublink.access_object o WHERE o.class IN ('removal_data', 'message_log', 'own_grants')
$$, 'every table with a removal_id column is removal data, a message log or keeps its own grants (audit, keys)');
SELECT is_empty($$
    SELECT o.object_name::text || ' ' || r.rolname FROM hublink.access_object o
     CROSS JOIN pg_roles r
     WHERE o.class = 'own_grants' AND r.rolname IN ('hublink_caseworker', 'hublink_reporting', 'hublink_worker')
       AND has_table_privilege(r.oid, o.object_name, 'SELECT, INSERT, UPDATE, DELETE')
$$, 'caseworkers, reporting and the worker hold no privilege on the audit, key and monitoring tables');
SELECT ok(EXISTS (SELECT FROM hublink.removal_data_path WHERE table_name = 'hublink.returnee_personal'::regclass
                     AND parent = 'hublink.returnee'::regclass AND key_column = 'returnee_id'),
          'a table without removal_id reaches its removal through its foreign key (returnee_personal)');
SELECT is_empty($$
    SELECT o.object_name::text FROM hublink.access_object o JOIN pg_class c ON c.oid = o.object_name
     WHERE o.class IN ('removal_view', 'message_view')
       AND NOT 'security_invoker=true' = ANY (coalesce(c.reloptions, '{}'))
$$, 'every view of removal data or messages runs with the reader''s rights (security_invoker)');
SELECT is_empty($$
    SELECT c.oid::regclass::text FROM pg_class c
     WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
       AND has_table_privilege('hublink_reporting', c.oid, 'SELECT') <> (c.relkind IN ('v', 'm') AND c.relname LIKE 'mi\_%')
$$, 'hublink_reporting reads exactly the mi_* views');
-- Followed through every view and every function an mi_* view reads, at any depth (an mi_*
-- view may be a call of a function: mi_sla_compliance), by the dependencies in the catalog.
SELECT is_empty($$
    WITH RECURSIVE reads(mi, classid, objid) AS (
        SELECT v.oid, 'pg_class'::regclass::oid, v.oid FROM pg_class v
         WHERE v.relnamespace = 'hublink'::regnamespace AND v.relname LIKE 'mi\_%' AND v.relkind IN ('v', 'm')
        UNION
        SELECT x.mi, d.refclassid, d.refobjid
          FROM reads x
          JOIN pg_depend d ON (x.classid = 'pg_class'::regclass
                               AND d.classid = 'pg_rewrite'::regclass
                               AND d.objid IN (SELECT r.oid FROM pg_rewrite r WHERE r.ev_class = x.objid))
                           OR (x.classid = 'pg_proc'::regclass AND d.classid = 'pg_proc'::regclass AND d.objid = x.objid)
         WHERE d.refclassid IN ('pg_class'::regclass, 'pg_proc'::regclass)
    )
    SELECT DISTINCT x.mi::regclass::text || ' reads ' || t.oid::regclass::text || '.' || a.attname
      FROM reads x
      JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
                      AND ((x.classid = 'pg_class'::regclass AND d.classid = 'pg_rewrite'::regclass
                            AND d.objid IN (SELECT r.oid FROM pg_rewrite r WHERE r.ev_class = x.objid))
                           OR (x.classid = 'pg_proc'::regclass AND d.classid = 'pg_proc'::regclass AND d.objid = x.objid))
      JOIN pg_class t ON t.oid = d.refobjid
      JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
     WHERE col_description(t.oid, a.attnum) LIKE 'PERSONAL DATA:%' OR obj_description(t.oid, 'pg_class') LIKE 'PERSONAL DATA:%'
$$, 'no mi_* view reads a column or table marked PERSONAL DATA, through any view or function it reads');
-- ...which it can only follow through functions whose reads are in the catalog.
SELECT is_empty($$
    SELECT DISTINCT v.oid::regclass::text || ' calls ' || p.oid::regprocedure::text
      FROM pg_class v
      JOIN pg_rewrite r ON r.ev_class = v.oid
      JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_proc'::regclass
      JOIN pg_proc p ON p.oid = d.refobjid
     WHERE v.relnamespace = 'hublink'::regnamespace AND v.relname LIKE 'mi\_%'
       AND p.pronamespace = 'hublink'::regnamespace AND p.prosqlbody IS NULL
$$, 'no mi_* view calls a function of the schema whose reads the PERSONAL DATA guard cannot see');
SELECT is_empty($$
    SELECT c.oid::regclass::text FROM pg_class c
     WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind IN ('r', 'p')
       AND (has_table_privilege('hublink_worker', c.oid, 'SELECT')
            AND c.oid IN (SELECT o.object_name FROM hublink.access_object o WHERE o.class = 'removal_data'))
$$, 'the worker role reads no table of removal data');

-- --- behaviour by clearance ------------------------------------------------------------------
CREATE ROLE access_cw_standard LOGIN IN ROLE hublink_caseworker;
CREATE ROLE access_cw_sensitive LOGIN IN ROLE hublink_caseworker;
CREATE ROLE access_cw_none LOGIN IN ROLE hublink_caseworker;
CREATE ROLE access_admin LOGIN IN ROLE hublink_admin;
CREATE ROLE access_reporting LOGIN IN ROLE hublink_reporting;
CREATE TABLE public.access_obs (k text PRIMARY KEY, v text);
GRANT ALL ON public.access_obs TO PUBLIC;
\set try_name access_try
\ir include/try.sql
-- The message and detail of the error a query ends with.
CREATE FUNCTION public.access_error(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    m text;
    d text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL;
    RETURN m || ' / ' || coalesce(d, '');
END $$;
CREATE FUNCTION public.access_returnees(ref text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_array(jsonb_build_object(
        'personalDetails', jsonb_build_object('hoReturneeReference', 'HO-' || ref,
                                              'name', jsonb_build_object('givenNames', 'Test', 'familyName', 'Person ' || ref),
                                              'dateOfBirth', '1990-01-01', 'nationality', 'GBR', 'gender', 'M'),
        'travelDocuments', '[{"type": "PASSPORT", "number": "A08123456", "issuingCountry": "GBR", "expiryDate": "2030-08-31"}]'::jsonb,
        'location', '{"detentionCentreId": "HARMONDSWORTH_IRC"}'::jsonb, 'risk', jsonb_build_object('flags', '[]'::jsonb))) $$;

-- admin sets the clearances with the function; a caseworker may not
SET SESSION AUTHORIZATION access_admin;
SELECT hublink.set_clearance('access_cw_standard', 'standard');
SELECT hublink.set_clearance('access_cw_sensitive', 'sensitive');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT string_agg(role_name || '=' || level, ',' ORDER BY role_name) FROM hublink.role_clearance
            WHERE role_name LIKE 'access\_%'),
          'access_cw_sensitive=sensitive,access_cw_standard=standard', 'an admin sets clearances with hublink.set_clearance');
SET SESSION AUTHORIZATION access_cw_sensitive;
INSERT INTO public.access_obs VALUES ('cw sets clearance', public.access_try($$SELECT hublink.set_clearance('access_cw_standard', 'restricted')$$));
RESET SESSION AUTHORIZATION;
SELECT is((SELECT v FROM public.access_obs WHERE k = 'cw sets clearance'), 'error 42501', 'a caseworker may not set clearances');

-- a removal of each level (made by the superuser, then marked)
INSERT INTO public.access_obs
SELECT 'ref ' || l.level, hublink.create_removal('CASE-ACC-' || upper(l.level), public.access_returnees('ACC' || l.rank),
                                                 current_date + 10, current_date + 20,
                                                 '{"description": "Lagos", "country": "NGA", "airportCode": "LOS"}')
  FROM hublink.sensitivity_level l;
SELECT is((SELECT count(DISTINCT sensitivity)::int FROM hublink.removal WHERE case_reference LIKE 'CASE-ACC-%'), 1,
          'new removals have one sensitivity');
SELECT is((SELECT min(sensitivity) FROM hublink.removal WHERE case_reference LIKE 'CASE-ACC-%'), hublink.lowest_sensitivity(),
          'and it is the lowest');
SELECT hublink.set_removal_sensitivity(o.v, substr(o.k, 5)) FROM public.access_obs o WHERE o.k LIKE 'ref %';
INSERT INTO public.access_obs SELECT 'id sensitive', removal_id FROM hublink.removal WHERE case_reference = 'CASE-ACC-SENSITIVE';
SELECT hublink.request_travel_quotes(v) IS NOT NULL FROM public.access_obs WHERE k = 'ref sensitive';  -- transitions to hide
INSERT INTO public.access_obs SELECT 'outbox id', max(id) FROM hublink.outbox;

-- what each login sees
SET SESSION AUTHORIZATION access_cw_standard;
INSERT INTO public.access_obs VALUES
    ('std removals', public.access_try($$SELECT string_agg(sensitivity, ',' ORDER BY sensitivity) FROM hublink.removal WHERE case_reference LIKE 'CASE-ACC-%'$$)),
    ('std personal', public.access_try($$SELECT count(*) FROM hublink.returnee_personal p JOIN hublink.returnee t USING (returnee_id) WHERE t.ho_returnee_reference LIKE 'HO-ACC%'$$)),
    ('std risk', public.access_try($$SELECT count(*) FROM hublink.risk_assessment a JOIN hublink.returnee t USING (returnee_id) WHERE t.ho_returnee_reference LIKE 'HO-ACC%'$$)),
    ('std search name', public.access_try($$SELECT string_agg(case_reference, ',') FROM hublink.search_removals(returnee_name => 'Person ACC')$$)),
    ('std search case', public.access_try($$SELECT count(*) FROM hublink.search_removals('CASE-ACC-RESTRICTED')$$)),
    ('std update hidden', public.access_try($$WITH u AS (UPDATE hublink.removal SET notes = 'x' WHERE case_reference = 'CASE-ACC-SENSITIVE' RETURNING 1) SELECT count(*) FROM u$$)),
    ('std raise own', public.access_try($$WITH u AS (UPDATE hublink.removal SET sensitivity = 'restricted' WHERE case_reference = 'CASE-ACC-STANDARD' RETURNING 1) SELECT count(*) FROM u$$)),
    ('std insert hidden', public.access_try(format($$INSERT INTO hublink.returnee (removal_id, ho_returnee_reference) VALUES (%s, 'HO-ACCX') RETURNING 1$$,
                                                   (SELECT v FROM public.access_obs WHERE k = 'id sensitive')))),
    ('std set sensitivity hidden', public.access_try(format($$SELECT hublink.set_removal_sensitivity(%L, 'standard')$$,
                                                            (SELECT v FROM public.access_obs WHERE k = 'ref sensitive')))),
    ('std set sensitivity above', public.access_try(format($$SELECT hublink.set_removal_sensitivity(%L, 'sensitive')$$,
                                                           (SELECT v FROM public.access_obs WHERE k = 'ref standard')))),
    ('std send hidden', public.access_try(format($$SELECT hublink.send(hublink.new_message('TravelCancellation', %L, '{}'))$$,
                                                 (SELECT v FROM public.access_obs WHERE k = 'ref sensitive')))),
    ('std quotes own', public.access_try(format($$SELECT hublink.request_travel_quotes(%L) IS NOT NULL$$,
                                                (SELECT v FROM public.access_obs WHERE k = 'ref standard')))),
    ('std quotes hidden', public.access_try(format($$SELECT hublink.request_travel_quotes(%L)$$,
                                                   (SELECT v FROM public.access_obs WHERE k = 'ref sensitive')))),
    ('std quotes missing', public.access_try($$SELECT hublink.request_travel_quotes('RMV-1999-999999')$$)),
    ('std cancel hidden', public.access_try(format($$SELECT hublink.cancel_removal(%L, 'RETURNEE_ILL')$$,
                                                   (SELECT v FROM public.access_obs WHERE k = 'ref sensitive')))),
    ('std create above', public.access_try($$SELECT hublink.create_removal('CASE-OWN-ABOVE', public.access_returnees('OWN2'),
                                             current_date + 10, current_date + 20, '{"description": "Lagos"}', sensitivity => 'sensitive')$$)),
    ('std create own', public.access_try($$SELECT hublink.create_removal('CASE-OWN-STD', public.access_returnees('OWN1'),
                                             current_date + 10, current_date + 20, '{"description": "Lagos"}')$$)),
    ('std duplicate text', public.access_error($$SELECT hublink.create_removal('CASE-OWN-DUP', public.access_returnees('ACC20'),
                                             current_date + 10, current_date + 20, '{"description": "Lagos"}')$$)),
    ('std create duplicate hidden', public.access_try($$SELECT hublink.create_removal('CASE-OWN-DUP', public.access_returnees('ACC20'),
                                             current_date + 10, current_date + 20, '{"description": "Lagos"}')$$)),
    ('std inbox', public.access_try($$SELECT count(*) FROM hublink.inbox$$)),
    ('std unseal own', public.access_try($$SELECT (hublink.unsealed(p)).given_names FROM hublink.returnee_personal p$$)),
    ('std unseal hidden', public.access_try(format($$SELECT hublink.unsealed(jsonb_populate_record(NULL::hublink.returnee_personal, %L))$$,
                                                   jsonb_build_object('key_scope', (SELECT v FROM public.access_obs WHERE k = 'ref sensitive'),
                                                                      'sealed', '\x00')))),
    ('std history', public.access_try($$SELECT string_agg(DISTINCT removal_reference, ',') FROM hublink.removal_history$$));
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION access_cw_sensitive;
INSERT INTO public.access_obs VALUES
    ('sens removals', public.access_try($$SELECT string_agg(sensitivity, ',' ORDER BY sensitivity) FROM hublink.removal WHERE case_reference LIKE 'CASE-ACC-%'$$)),
    ('sens personal', public.access_try($$SELECT count(*) FROM hublink.returnee_personal p JOIN hublink.returnee t USING (returnee_id) WHERE t.ho_returnee_reference LIKE 'HO-ACC%'$$)),
    ('sens set sensitivity', public.access_try(format($$SELECT 'true' FROM hublink.set_removal_sensitivity(%L, 'sensitive')$$,
                                                      (SELECT v FROM public.access_obs WHERE k = 'ref standard'))));
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION access_cw_none;
INSERT INTO public.access_obs VALUES
    ('none removals', public.access_try($$SELECT count(*) FROM hublink.removal$$));
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION access_reporting;
INSERT INTO public.access_obs VALUES
    ('rep removals', public.access_try($$SELECT count(*) FROM hublink.removal$$));
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION access_admin;
INSERT INTO public.access_obs VALUES
    ('admin removals', public.access_try($$SELECT count(*) FROM hublink.removal$$)),
    ('admin clearances', public.access_try($$SELECT count(*) FROM hublink.role_clearance WHERE role_name LIKE 'access\_%'$$)),
    ('admin message', public.access_try(format($$SELECT hublink.outbox_document(%s) ->> 'messageType'$$,
                                               (SELECT v FROM public.access_obs WHERE k = 'outbox id'))));
RESET SESSION AUTHORIZATION;

SELECT is((SELECT v FROM public.access_obs WHERE k = 'std removals'), 'standard', 'a standard caseworker sees only standard removals');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std personal'), '1', 'and only their returnees'' personal details (through returnee)');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std risk'), '2', 'and their risk assessments (hub and tsp rows of one returnee)');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std search name'), 'CASE-ACC-STANDARD', '4.19: the search by name leaves out cases above the clearance');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std search case'), '0', '4.19: and so does the search by case reference');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std update hidden'), 'error 42501', 'a caseworker may not UPDATE removals (only through the Hub functions)');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std raise own'), 'error 42501', 'nor move a removal out of its own sight by UPDATE');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std insert hidden'), 'error 42501', 'nor add rows to a hidden removal');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std set sensitivity hidden'), 'error 42501', 'nor set the sensitivity of a hidden removal');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std set sensitivity above'), 'error 42501', 'nor raise one above its clearance');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std send hidden'), 'error 42501', 'hublink.send (SECURITY DEFINER) refuses a message about a hidden removal');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std quotes own'), 'true', 'a caseworker requests travel quotes for its own removal (Hub function, outbox)');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std quotes hidden'), 'error 42501', 'and for a hidden one is refused (SECURITY DEFINER: checks the clearance)');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std quotes missing'), 'error 42501', 'as for one that does not exist (no existence leak)');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std cancel hidden'), 'error 42501', 'nor may it cancel a hidden removal');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std create above'), 'error 42501', 'nor create a removal above its clearance');
SELECT is((SELECT r.sensitivity || ' ' || r.created_by || ' ' || count(*) OVER () FROM hublink.removal r
            WHERE r.removal_reference = (SELECT v FROM public.access_obs WHERE k = 'std create own')
               OR r.case_reference LIKE 'CASE-OWN-%'),
          'standard access_cw_standard 1',
          'it creates a removal at the lowest sensitivity, recorded as its own (created_by is the login)');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std create duplicate hidden'), 'error 23505',
          '4.22: a returnee with a live removal above its clearance is still refused (the check sees every removal)');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std duplicate text'),
          'returnee HO-ACC20 already has a live removal / The live removal is not shown: it is above the clearance of this login.',
          'and told only that one exists, not its reference or state');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std inbox'), 'error 42501', 'a caseworker does not read the inbox');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std unseal own'), 'Test', 'hublink.unsealed decrypts a row of its own removal');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std unseal hidden'), 'error 42501',
          'and refuses a forged row naming a hidden removal (SECURITY DEFINER: checks the clearance)');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std history'), (SELECT v FROM public.access_obs WHERE k = 'ref standard'),
          'the removal history view (security_invoker) shows only its own removal''s transitions');
SELECT cmp_ok((SELECT count(DISTINCT removal_id)::int FROM hublink.state_transition), '>', 1,
              'while the owner sees transitions of more removals');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'sens removals'), 'sensitive,standard', 'a sensitive caseworker sees standard and sensitive removals');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'sens personal'), '2', 'and their returnees');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'sens set sensitivity'), 'true', 'it may raise a removal up to its clearance');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'none removals'), '0', 'a caseworker without a clearance sees no removal');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'rep removals'), 'error 42501', 'reporting does not read removals');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'admin removals'), 'error 42501', 'the admin does not read removals (need to know)');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'admin clearances'), '2', 'the admin reads every clearance');
SELECT is((SELECT v FROM public.access_obs WHERE k = 'admin message'), 'error 42501',
          'the admin, without a clearance, cannot open a message of a removal (outbox_document checks)');

-- --- the SECURITY DEFINER functions' own clearance checks, by calling them --------------------
-- A SECURITY DEFINER function bypasses row-level security, so each one a caseworker or reporting
-- may call must check the clearance itself, before it reads the removal. Each is called here as
-- the standard caseworker, naming the sensitive removal it is not cleared for (the argument
-- removal_reference; the sensitivity of a new removal; the key scope of a sealed row), every
-- other argument NULL. It must end in the clearance check's own refusal (42501, its words),
-- having read no more of hublink.removal than that check alone does and called neither
-- removal_by_reference nor booked_reference (pg_stat_xact_user_tables and _functions of this
-- transaction): a check that is commented out, comes after a read, or is only the grant fails.
SET LOCAL track_functions = 'all';
GRANT EXECUTE ON FUNCTION hublink.require_removal_access(text) TO access_cw_standard;
CREATE FUNCTION pg_temp.removal_reads() RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce((SELECT sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)) FROM pg_stat_xact_user_tables
                      WHERE relid = 'hublink.removal'::regclass), 0)::bigint * 1000
           + coalesce((SELECT sum(calls) FROM pg_stat_xact_user_functions
                        WHERE schemaname = 'hublink' AND funcname IN ('removal_by_reference', 'booked_reference')), 0)::bigint
$$;
-- call SQL [AS login] -> 'SQLSTATE message' (or 'no error'), then ' reads N' (removal scans x 1000
-- + calls of the two readers), in this transaction
CREATE FUNCTION pg_temp.refusal(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    before bigint := pg_temp.removal_reads();
    outcome text;
BEGIN
    EXECUTE 'SET SESSION AUTHORIZATION access_cw_standard';
    BEGIN
        EXECUTE call;
        outcome := 'no error';
    EXCEPTION WHEN OTHERS THEN
        outcome := SQLSTATE || ' ' || SQLERRM;
    END;
    EXECUTE 'RESET SESSION AUTHORIZATION';
    RETURN outcome || ' reads ' || (pg_temp.removal_reads() - before);
END $$;
CREATE TEMP TABLE definer_call AS
SELECT p.oid::regprocedure::text AS f,
       format('SELECT %s(%s)', p.oid::regproc,
              string_agg(CASE WHEN a.n = 'removal_reference' THEN quote_literal(h.ref)
                              WHEN a.n = 'sensitivity' THEN quote_literal('sensitive')
                              WHEN a.t = 'anyelement'::regtype
                                   THEN format('jsonb_populate_record(NULL::hublink.returnee_personal, %L)',
                                               jsonb_build_object('key_scope', h.ref, 'sealed', '\x00'))
                              ELSE format('(SELECT NULL::%s)', format_type(a.t, NULL)) END,
                         ', ' ORDER BY a.i)) AS call,
       bool_or(a.n IN ('removal_reference', 'sensitivity') OR a.t = 'anyelement'::regtype) AS names_a_removal
  FROM pg_proc p
  CROSS JOIN (SELECT v AS ref FROM public.access_obs WHERE k = 'ref sensitive') h
  CROSS JOIN LATERAL unnest(p.proargtypes::oid[], p.proargnames[1:p.pronargs]) WITH ORDINALITY AS a (t, n, i)
 WHERE p.pronamespace = 'hublink'::regnamespace AND p.prosecdef
   AND (has_function_privilege('hublink_caseworker', p.oid, 'EXECUTE')
        OR has_function_privilege('hublink_reporting', p.oid, 'EXECUTE'))
   AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
 GROUP BY p.oid, h.ref;
-- hublink.cleared_levels() takes no argument: it returns the caller's own levels.
DELETE FROM definer_call WHERE f = 'hublink.cleared_levels()';
-- hublink.send is the worker's and the owner's, not a caseworker's; granted here for the call
-- only, so that its own check is what refuses (rolled back with the rest)
GRANT EXECUTE ON FUNCTION hublink.send(jsonb) TO access_cw_standard;
INSERT INTO definer_call (f, call, names_a_removal)
SELECT 'hublink.send(jsonb)', format('SELECT hublink.send(%L::jsonb)', hublink.new_message('TravelCancellation', v, '{}')), true
  FROM public.access_obs WHERE k = 'ref sensitive';
-- hublink.acknowledge_alert takes an alert, not a removal: it is called with an alert raised for
-- the sensitive removal, so its own check of that removal's clearance is what must refuse.
DELETE FROM definer_call WHERE f = 'hublink.acknowledge_alert(bigint)';
INSERT INTO hublink.alert_kind VALUES ('access_test', 'warning', 'test', 'raised by test/sql/90_access.sql')
    ON CONFLICT DO NOTHING;
INSERT INTO definer_call (f, call, names_a_removal)
SELECT 'hublink.acknowledge_alert(bigint)',
       format('SELECT hublink.acknowledge_alert(%s)',
              hublink.raise_alert('access_test', 'access test: an alert of the sensitive removal', r.removal_id)), true
  FROM public.access_obs o JOIN hublink.removal r ON r.removal_reference = o.v WHERE o.k = 'ref sensitive';
ALTER TABLE definer_call ADD COLUMN outcome text;
UPDATE definer_call SET outcome = pg_temp.refusal(call);
SELECT diag(f || ': ' || outcome) FROM definer_call ORDER BY f;
INSERT INTO public.access_obs
SELECT 'check alone', pg_temp.refusal(format('SELECT hublink.require_removal_access(%L)', v))
  FROM public.access_obs WHERE k = 'ref sensitive';
SELECT cmp_ok((SELECT count(*)::int FROM definer_call), '>=', 14,
              'the SECURITY DEFINER functions a caseworker or reporting may call, and hublink.send, are all found (14 or more)');
SELECT is_empty($$SELECT f FROM definer_call WHERE NOT names_a_removal$$,
                'each of them takes a removal (a reference, a sensitivity or a sealed row) the test can name');
SELECT alike((SELECT v FROM public.access_obs WHERE k = 'check alone'), '42501 removal % is not accessible reads %',
            'the clearance check alone refuses the standard caseworker the sensitive removal');
SELECT is_empty($$SELECT f || ': ' || outcome FROM definer_call
                   WHERE outcome NOT SIMILAR TO '42501 (removal [^ ]+ is not accessible|sensitivity "sensitive" is not one this login is cleared for) reads [0-9]+'$$,
                'every SECURITY DEFINER function a caseworker or reporting may call refuses a removal above the clearance with the clearance check''s own error');
SELECT is_empty($$SELECT f || ': ' || outcome FROM definer_call
                   WHERE substring(outcome FROM ' reads ([0-9]+)$')::bigint
                         > substring((SELECT v FROM public.access_obs WHERE k = 'check alone') FROM ' reads ([0-9]+)$')::bigint$$,
                'and checks first: before the refusal none reads hublink.removal more than the check alone, nor calls removal_by_reference or booked_reference');
REVOKE EXECUTE ON FUNCTION hublink.require_removal_access(text) FROM access_cw_standard;
REVOKE EXECUTE ON FUNCTION hublink.send(jsonb) FROM access_cw_standard;

-- --- a table added later is covered by the loop ----------------------------------------------
CREATE TABLE hublink.access_test_note (note_id bigint PRIMARY KEY, removal_id bigint NOT NULL REFERENCES hublink.removal);
CREATE TABLE hublink.access_test_detail (note_id bigint NOT NULL REFERENCES hublink.access_test_note, detail text);
INSERT INTO hublink.access_test_note SELECT removal_id, removal_id FROM hublink.removal WHERE case_reference LIKE 'CASE-ACC-%';
INSERT INTO hublink.access_test_detail SELECT note_id, 'd' FROM hublink.access_test_note;
SELECT hublink.apply_access_policy();
SET SESSION AUTHORIZATION access_cw_standard;
INSERT INTO public.access_obs VALUES ('std later', public.access_try($$SELECT count(*) FROM hublink.access_test_detail$$));
RESET SESSION AUTHORIZATION;
SELECT is((SELECT v FROM public.access_obs WHERE k = 'std later'), '0',
          'a table added later, two foreign keys from the removal, is filtered after apply_access_policy (the standard removal is sensitive now)');

-- --- a function added later, executable by PUBLIC by default, is the group roles' after the loop
CREATE FUNCTION hublink.access_test_fn() RETURNS integer LANGUAGE sql AS 'SELECT 1';
COMMENT ON FUNCTION hublink.access_test_fn() IS 'Test only.';
SELECT hublink.apply_access_policy();
SELECT ok(NOT has_function_privilege('public', 'hublink.access_test_fn()', 'EXECUTE')
          AND has_function_privilege('hublink_worker', 'hublink.access_test_fn()', 'EXECUTE')
          AND has_function_privilege('access_cw_none', 'hublink.access_test_fn()', 'EXECUTE'),
          'a function added later is revoked from PUBLIC and granted to the group roles by apply_access_policy');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o
