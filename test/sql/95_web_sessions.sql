-- Web sessions in the database (sql/parts/94_web_sessions.sql, docs/web.md "Sessions"), the
-- alerts of no removal for admins (hublink.monitoring_alerts, 92_alert_access.sql) and the
-- cases list that decrypts only the removals it returns (hublink.find_removals, 44_hub.sql).
-- A hostile web login, caseworker or admin tries to read or forge sessions; a careless operator
-- leaves sessions to time out. Sessions switched with SET SESSION AUTHORIZATION, observations
-- kept in a table, asserted as the superuser.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(38);

CREATE ROLE ws_t_login LOGIN NOINHERIT IN ROLE hublink_web;
CREATE ROLE ws_t_rita LOGIN IN ROLE hublink_caseworker;
CREATE ROLE ws_t_ada LOGIN IN ROLE hublink_admin;
CREATE ROLE ws_t_unmapped LOGIN IN ROLE hublink_caseworker;
CREATE ROLE ws_t_super LOGIN SUPERUSER;
GRANT ws_t_rita, ws_t_ada, ws_t_unmapped, ws_t_super TO ws_t_login;
\o /dev/null
SELECT hublink.set_clearance('ws_t_rita', 'standard');
\o
INSERT INTO hublink.security_web_identity (issuer, subject, role_name, display_name) VALUES
    ('https://sso.test/', 'rita', 'ws_t_rita', 'Rita'), ('https://sso.test/', 'ada', 'ws_t_ada', 'Ada'),
    ('https://sso.test/', 'super', 'ws_t_super', 'Super');

CREATE TABLE public.ws_obs (k text PRIMARY KEY, v text);
GRANT ALL ON public.ws_obs TO PUBLIC;
\set try_name ws_try
\ir include/try.sql
CREATE FUNCTION pg_temp.obs(key text) RETURNS text LANGUAGE sql AS $$ SELECT v FROM public.ws_obs WHERE k = key $$;

-- --- sessions, as the web login acting as hublink_web -----------------------------------------
SET SESSION AUTHORIZATION ws_t_login;
SET ROLE hublink_web;
INSERT INTO public.ws_obs SELECT 'rita', to_jsonb(s)::text
  FROM hublink.web_session_start('ws_t_rita', '{"user": {"name": "Rita"}, "flash": {"done": "x"}}', '10.0.0.1', 900, 28800) s;
INSERT INTO public.ws_obs SELECT 'pending', to_jsonb(s)::text
  FROM hublink.web_session_start(NULL, '{"pending": {"state": "s1"}}', NULL, 900, 28800) s;
INSERT INTO public.ws_obs SELECT 'ada', to_jsonb(s)::text FROM hublink.web_session_start('ws_t_ada', '{}', NULL, 900, 28800) s;
INSERT INTO public.ws_obs SELECT 'idle', to_jsonb(s)::text FROM hublink.web_session_start('ws_t_rita', '{}', '10.0.0.2', 60, 28800) s;
INSERT INTO public.ws_obs SELECT 'old', to_jsonb(s)::text FROM hublink.web_session_start('ws_t_rita', '{}', '10.0.0.3', 900, 3600) s;
INSERT INTO public.ws_obs SELECT 'swept', to_jsonb(s)::text FROM hublink.web_session_start('ws_t_ada', '{}', '10.0.0.4', 60, 28800) s;
INSERT INTO public.ws_obs VALUES
    ('start unmapped', public.ws_try($$SELECT session_id FROM hublink.web_session_start('ws_t_unmapped', '{}', NULL, 900, 28800)$$)),
    ('start super', public.ws_try($$SELECT session_id FROM hublink.web_session_start('ws_t_super', '{}', NULL, 900, 28800)$$)),
    ('start ungranted', public.ws_try($$SELECT session_id FROM hublink.web_session_start('postgres', '{}', NULL, 900, 28800)$$)),
    ('start idle too long', public.ws_try($$SELECT session_id FROM hublink.web_session_start(NULL, '{}', NULL, 999999, 28800)$$)),
    ('login reads table', public.ws_try('SELECT count(*) FROM hublink.web_session')),
    ('login hash', public.ws_try($$SELECT hublink.web_session_hash('x')$$)),
    ('get rita', public.ws_try(format('SELECT to_jsonb(g) FROM hublink.web_session_get(%L) g',
                                      pg_temp.obs('rita')::jsonb ->> 'session_id'))),
    ('get by stored hash', public.ws_try(format('SELECT outcome FROM hublink.web_session_get(%L)',
                                      encode(sha256(convert_to(pg_temp.obs('rita')::jsonb ->> 'session_id', 'UTF8')), 'hex')))),
    ('get forged', public.ws_try(format('SELECT outcome FROM hublink.web_session_get(%L)', repeat('A', 43)))),
    ('get garbage', public.ws_try($$SELECT outcome FROM hublink.web_session_get('x'' OR true --')$$)),
    ('save pending', public.ws_try(format($$SELECT hublink.web_session_save(%L, '{"pending": {"state": "s2"}}')$$,
                                          pg_temp.obs('pending')::jsonb ->> 'session_id'))),
    ('get pending', public.ws_try(format('SELECT data::text FROM hublink.web_session_get(%L)',
                                         pg_temp.obs('pending')::jsonb ->> 'session_id'))),
    ('save forged', public.ws_try(format($$SELECT hublink.web_session_save(%L, '{}')$$, repeat('B', 43))));
RESET ROLE;
-- as the person, through the web login: still no table
SET ROLE ws_t_rita;
INSERT INTO public.ws_obs VALUES
    ('rita reads table', public.ws_try('SELECT count(*) FROM hublink.web_session')),
    ('rita gets session', public.ws_try(format('SELECT outcome FROM hublink.web_session_get(%L)',
                                               pg_temp.obs('rita')::jsonb ->> 'session_id')));
RESET ROLE;
RESET SESSION AUTHORIZATION;

SELECT is(length(pg_temp.obs('rita')::jsonb ->> 'session_id'), 43, 'a session id is 256 random bits, base64url (made in SQL)');
SELECT isnt(pg_temp.obs('rita')::jsonb ->> 'session_id', pg_temp.obs('ada')::jsonb ->> 'session_id', 'each session has its own id');
SELECT is((SELECT count(*)::int FROM hublink.web_session w
            WHERE w.id_hash = sha256(convert_to(pg_temp.obs('rita')::jsonb ->> 'session_id', 'UTF8'))), 1,
          'the id is kept as its SHA-256');
SELECT is((SELECT count(*)::int FROM hublink.web_session w
            WHERE position(pg_temp.obs('rita')::jsonb ->> 'session_id' IN to_jsonb(w)::text) > 0
               OR position(encode(convert_to(pg_temp.obs('rita')::jsonb ->> 'session_id', 'UTF8'), 'hex') IN to_jsonb(w)::text) > 0), 0,
          'and the id itself is nowhere in the table');
SELECT is(pg_temp.obs('start unmapped'), 'error 42501', 'no session for a role mapped from no web identity');
SELECT is(pg_temp.obs('start super'), 'error 42501', 'nor for a superuser');
SELECT is(pg_temp.obs('start ungranted'), 'error 42501', 'nor for a role the web login was not granted');
SELECT is(pg_temp.obs('start idle too long'), 'error 23514', 'an idle time-out over 8 hours is refused');
SELECT is(pg_temp.obs('login reads table'), 'error 42501', 'the web login cannot read the sessions table');
SELECT is(pg_temp.obs('login hash'), 'error 42501', 'nor run the internal hash function');
SELECT is(pg_temp.obs('rita reads table'), 'error 42501', 'nor can a caseworker it acts for');
SELECT is(pg_temp.obs('rita gets session'), 'error 42501', 'who cannot call the session functions either');
SELECT is(pg_temp.obs('get rita')::jsonb - 'csrf_token',
          '{"outcome": "live", "role_name": "ws_t_rita", "client_addr": "10.0.0.1", "data": {"user": {"name": "Rita"}, "flash": {"done": "x"}}}'::jsonb,
          'the session of an id: live, its role, address and data');
SELECT is(pg_temp.obs('get rita')::jsonb ->> 'csrf_token', pg_temp.obs('rita')::jsonb ->> 'csrf_token', 'and its CSRF token');
SELECT is(pg_temp.obs('get by stored hash'), 'unknown', 'the stored hash given as an id opens nothing');
SELECT is(pg_temp.obs('get forged'), 'unknown', 'a forged id of the right form opens nothing');
SELECT is(pg_temp.obs('get garbage'), 'unknown', 'nor does anything else');
SELECT is(pg_temp.obs('save pending'), 'true', 'a live session''s data is saved');
SELECT is(pg_temp.obs('get pending'), '{"pending": {"state": "s2"}}', 'and read back');
SELECT is(pg_temp.obs('save forged'), 'null', 'saving under a forged id changes nothing');

-- time-outs, enforced in SQL: the careless operator's session left idle, one past its maximum
UPDATE hublink.web_session SET seen_at = now() - interval '61 seconds'
 WHERE id_hash IN (sha256(convert_to(pg_temp.obs('idle')::jsonb ->> 'session_id', 'UTF8')),
                   sha256(convert_to(pg_temp.obs('swept')::jsonb ->> 'session_id', 'UTF8')));
UPDATE hublink.web_session SET created_at = now() - interval '3601 seconds', seen_at = now()
 WHERE id_hash = sha256(convert_to(pg_temp.obs('old')::jsonb ->> 'session_id', 'UTF8'));
SET SESSION AUTHORIZATION ws_t_login;
SET ROLE hublink_web;
INSERT INTO public.ws_obs VALUES
    ('get idle', public.ws_try(format('SELECT outcome FROM hublink.web_session_get(%L)', pg_temp.obs('idle')::jsonb ->> 'session_id'))),
    ('get idle again', public.ws_try(format('SELECT outcome FROM hublink.web_session_get(%L)', pg_temp.obs('idle')::jsonb ->> 'session_id'))),
    ('save old', public.ws_try(format($$SELECT hublink.web_session_save(%L, '{}')$$, pg_temp.obs('old')::jsonb ->> 'session_id'))),
    ('get old', public.ws_try(format('SELECT outcome FROM hublink.web_session_get(%L)', pg_temp.obs('old')::jsonb ->> 'session_id'))),
    ('sweep', public.ws_try('SELECT hublink.web_session_sweep()')),
    ('end rita', public.ws_try(format($$SELECT hublink.web_session_end(%L, 'signed out')$$, pg_temp.obs('rita')::jsonb ->> 'session_id'))),
    ('get rita after end', public.ws_try(format('SELECT outcome FROM hublink.web_session_get(%L)', pg_temp.obs('rita')::jsonb ->> 'session_id'))),
    ('end rita again', public.ws_try(format($$SELECT hublink.web_session_end(%L, 'signed out')$$, pg_temp.obs('rita')::jsonb ->> 'session_id'))),
    ('end pending', public.ws_try(format($$SELECT hublink.web_session_end(%L, 'sign-in')$$, pg_temp.obs('pending')::jsonb ->> 'session_id')));
RESET ROLE;
RESET SESSION AUTHORIZATION;
\o /dev/null
SELECT hublink.flush_security_events();
\o

SELECT is(pg_temp.obs('get idle'), 'ended', 'a session idle past its time-out is ended when it comes back');
SELECT is(pg_temp.obs('get idle again'), 'unknown', 'and gone for good');
SELECT is(pg_temp.obs('save old'), 'null', 'a session past its maximum age cannot be saved');
SELECT is(pg_temp.obs('get old'), 'ended', 'nor read: it is ended');
SELECT is(pg_temp.obs('sweep'), '1', 'the sweep ends the idle session nobody came back to');
SELECT is(pg_temp.obs('end rita'), 'true', 'signing out ends the session');
SELECT is(pg_temp.obs('get rita after end'), 'unknown', 'a cookie copied before the sign-out opens nothing after it');
SELECT is(pg_temp.obs('end rita again'), 'false', 'ending it twice ends nothing');
SELECT is((SELECT string_agg(role_name || ':' || (detail ->> 'reason') || ':' || (detail ->> 'client_addr'), ' ' ORDER BY detail ->> 'client_addr')
             FROM hublink.security_event WHERE kind = 'web_sign_out' AND role_name LIKE 'ws\_t\_%'),
          'ws_t_rita:signed out:10.0.0.1 ws_t_rita:timed out:10.0.0.2 ws_t_rita:timed out:10.0.0.3 ws_t_ada:timed out:10.0.0.4',
          'each signed-in session''s end is a web_sign_out security event with its reason (the sign-in session''s is not)');
SELECT is((SELECT count(*)::int FROM hublink.web_session), 1, 'only ada''s live session is left');

-- --- alerts of no removal: admins only ---------------------------------------------------------
INSERT INTO public.ws_obs SELECT 'alert none', hublink.raise_alert('quote_expiring', 'ws monitoring alert');
SET SESSION AUTHORIZATION ws_t_login;
SET ROLE ws_t_ada;
INSERT INTO public.ws_obs VALUES
    ('ada monitoring', public.ws_try($$SELECT string_agg(subject, ',') FROM hublink.monitoring_alerts() WHERE subject LIKE 'ws %'$$));
SET ROLE ws_t_rita;
INSERT INTO public.ws_obs VALUES
    ('rita monitoring', public.ws_try('SELECT count(*) FROM hublink.monitoring_alerts()'));
RESET ROLE;
INSERT INTO public.ws_obs VALUES
    ('login monitoring', public.ws_try('SELECT count(*) FROM hublink.monitoring_alerts()'));
RESET SESSION AUTHORIZATION;
SELECT is(pg_temp.obs('ada monitoring'), 'ws monitoring alert', 'an admin (through the web login) reads the alerts of no removal');
SELECT is(pg_temp.obs('rita monitoring'), 'error 42501', 'a caseworker does not');
SELECT is(pg_temp.obs('login monitoring'), 'error 42501', 'nor does the web login itself');

-- --- the cases list decrypts (and audits) only the removals it returns --------------------------
\o /dev/null
SELECT hublink.create_removal('CASE-WS-' || i, jsonb_build_array(jsonb_build_object(
           'personalDetails', jsonb_build_object('hoReturneeReference', 'HO-WS' || i, 'name', jsonb_build_object('givenNames', 'Wanda', 'familyName', 'Sessionby' || i),
                                                 'dateOfBirth', '1990-01-01', 'nationality', 'NGA', 'gender', 'F'),
           'travelDocuments', '[{"type": "PASSPORT", "number": "A0812", "issuingCountry": "NGA"}]'::jsonb,
           'location', '{"detentionCentreId": "HARMONDSWORTH_IRC"}'::jsonb)),
       current_date + 10, current_date + 20, '{"description": "Lagos", "country": "NGA", "airportCode": "LOS"}',
       sensitivity => 'standard')
  FROM generate_series(1, 3) i;
\o
INSERT INTO public.ws_obs SELECT 'audit before', max(audit_id)::text FROM hublink.audit_log;
SET SESSION AUTHORIZATION ws_t_login;
SET ROLE ws_t_rita;
INSERT INTO public.ws_obs VALUES
    ('page 1', public.ws_try($$SELECT string_agg(case_reference || '|' || returnees || '|' || more, ',') FROM hublink.find_removals(page_size => 1)$$)),
    ('page 3', public.ws_try($$SELECT string_agg(case_reference || '|' || more, ',') FROM hublink.find_removals(page_size => 1, page_offset => 2)$$)),
    ('by name', public.ws_try($$SELECT string_agg(case_reference, ',') FROM hublink.find_removals(returnee => 'sessionBY2')$$)),
    ('bad page', public.ws_try($$SELECT count(*) FROM hublink.find_removals(page_size => 0)$$));
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT is(pg_temp.obs('page 1'), 'CASE-WS-3|Wanda Sessionby3 (HO-WS3)|true', 'find_removals: the newest removal, with its names, and more to come');
SELECT is(pg_temp.obs('page 3'), 'CASE-WS-1|false', 'the last page says so');
SELECT is(pg_temp.obs('by name'), 'CASE-WS-2', 'part of a name, any case');
SELECT is(pg_temp.obs('bad page'), 'error 22023', 'a page of no rows is refused');
SELECT is((SELECT string_agg(a.removal_reference, ',' ORDER BY a.audit_id) FROM hublink.audit_log a
            WHERE a.audit_id > pg_temp.obs('audit before')::bigint AND a.action = 'decrypt'
              AND a.role_name = 'ws_t_rita' AND a.table_name = 'hublink.returnee_personal'),
          (SELECT string_agg(r, ',') FROM (VALUES (1, (SELECT removal_reference FROM hublink.removal WHERE case_reference = 'CASE-WS-3')),
                                                 (2, (SELECT removal_reference FROM hublink.removal WHERE case_reference = 'CASE-WS-1')),
                                                 (3, (SELECT removal_reference FROM hublink.removal WHERE case_reference = 'CASE-WS-3')),
                                                 (4, (SELECT removal_reference FROM hublink.removal WHERE case_reference = 'CASE-WS-2')),
                                                 (5, (SELECT removal_reference FROM hublink.removal WHERE case_reference = 'CASE-WS-1'))) v(n, r)),
          'each page decrypts, audited as the person, only the names it shows; a name search those it looked at');

SELECT * FROM finish();
ROLLBACK;
