-- The web interface's identity (sql/parts/79_web_identity.sql, docs/web.md): the web login (a
-- NOINHERIT member of hublink_web) holds nothing and acts for the role it SET ROLEs to, whose
-- clearance then applies (hublink.acting_login); any other login keeps its own clearance
-- whatever role it sets; web sign-ins map identities by rows and share the database logons'
-- lock-out; acknowledge_alert checks the clearance; an admin's reference-list announcement
-- (a message of no removal) is not refused by hublink.send. Sessions switched with SET SESSION
-- AUTHORIZATION, observations kept in a table, asserted as the superuser.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(32);

CREATE ROLE web_t_login LOGIN NOINHERIT IN ROLE hublink_web;
CREATE ROLE web_t_rita LOGIN IN ROLE hublink_caseworker;
CREATE ROLE web_t_sam LOGIN IN ROLE hublink_caseworker;
CREATE ROLE web_t_ada LOGIN IN ROLE hublink_admin;
CREATE ROLE web_t_other LOGIN IN ROLE hublink_caseworker;   -- granted to no web login
CREATE ROLE web_t_plain LOGIN IN ROLE hublink_caseworker;   -- a person's own login
CREATE ROLE web_t_super LOGIN SUPERUSER;
GRANT web_t_rita, web_t_sam, web_t_ada, web_t_super TO web_t_login;
GRANT web_t_rita TO web_t_plain;                             -- a plain login that may SET ROLE rita
SELECT hublink.set_clearance('web_t_rita', 'restricted');
SELECT hublink.set_clearance('web_t_sam', 'standard');
INSERT INTO hublink.security_web_identity (issuer, subject, role_name, display_name) VALUES
    ('https://sso.test/', 'rita', 'web_t_rita', 'Rita'), ('https://sso.test/', 'other', 'web_t_other', 'Other'),
    ('https://sso.test/', 'super', 'web_t_super', 'Super'), ('https://sso.test/', 'gone', 'web_t_gone', 'Gone');

CREATE TABLE public.web_obs (k text PRIMARY KEY, v text);
GRANT ALL ON public.web_obs TO PUBLIC;
\set try_name web_try
\ir include/try.sql
INSERT INTO public.web_obs
SELECT 'restricted', hublink.create_removal('CASE-WEB-T1', jsonb_build_array(jsonb_build_object(
           'personalDetails', jsonb_build_object('hoReturneeReference', 'HO-WEBT1', 'name', jsonb_build_object('givenNames', 'Rhea', 'familyName', 'Secret'),
                                                 'dateOfBirth', '1990-01-01', 'nationality', 'NGA', 'gender', 'F'),
           'travelDocuments', '[{"type": "PASSPORT", "number": "A0812", "issuingCountry": "NGA"}]'::jsonb,
           'location', '{"detentionCentreId": "HARMONDSWORTH_IRC"}'::jsonb)),
       current_date + 10, current_date + 20, '{"description": "Lagos", "country": "NGA", "airportCode": "LOS"}',
       sensitivity => 'restricted');
INSERT INTO public.web_obs SELECT 'alert restricted', hublink.raise_alert('quote_expiring', 'x', removal_id)
  FROM hublink.removal WHERE case_reference = 'CASE-WEB-T1';
INSERT INTO public.web_obs SELECT 'alert none', hublink.raise_alert('quote_expiring', 'no removal');

-- the web login, acting for each person
SET SESSION AUTHORIZATION web_t_login;
INSERT INTO public.web_obs VALUES
    ('login alone removals', public.web_try('SELECT count(*) FROM hublink.removal')),
    ('login alone acting', public.web_try('SELECT hublink.acting_login()'));
SET ROLE web_t_rita;
INSERT INTO public.web_obs VALUES
    ('rita acting', public.web_try('SELECT hublink.acting_login()')),
    ('rita levels', public.web_try('SELECT hublink.cleared_levels()::text')),
    ('rita sees', public.web_try($$SELECT count(*) FROM hublink.search_removals('CASE-WEB-T1')$$)),
    ('rita profiles', public.web_try(format('SELECT count(*) FROM hublink.profile_risk(%L)', (SELECT v FROM public.web_obs WHERE k = 'restricted')))),
    ('rita own clearance', public.web_try('SELECT level FROM hublink.role_clearance'));
SET ROLE web_t_sam;
INSERT INTO public.web_obs VALUES
    ('sam acting', public.web_try('SELECT hublink.acting_login()')),
    ('sam sees', public.web_try($$SELECT count(*) FROM hublink.search_removals('CASE-WEB-T1')$$)),
    ('sam profiles', public.web_try(format('SELECT count(*) FROM hublink.profile_risk(%L)', (SELECT v FROM public.web_obs WHERE k = 'restricted')))),
    ('sam acks restricted', public.web_try(format('SELECT hublink.acknowledge_alert(%s)', (SELECT v FROM public.web_obs WHERE k = 'alert restricted')))),
    ('sam acks none', public.web_try(format('SELECT hublink.acknowledge_alert(%s)', (SELECT v FROM public.web_obs WHERE k = 'alert none')))),
    ('sam reads identities', public.web_try('SELECT count(*) FROM hublink.security_web_identity')),
    ('sam signs in', public.web_try($$SELECT outcome FROM hublink.web_sign_in('https://sso.test/', 'rita', '')$$));
SET ROLE web_t_rita;
INSERT INTO public.web_obs VALUES
    ('rita acks restricted', public.web_try(format('SELECT hublink.acknowledge_alert(%s)', (SELECT v FROM public.web_obs WHERE k = 'alert restricted'))));
SET ROLE web_t_ada;
INSERT INTO public.web_obs VALUES
    ('ada announces', public.web_try($$SELECT hublink.announce_reason_list('delay') >= 0$$)),
    ('ada acks none', public.web_try(format('SELECT hublink.acknowledge_alert(%s)', (SELECT v FROM public.web_obs WHERE k = 'alert none')))),
    ('ada reads identities', public.web_try('SELECT count(*) > 0 FROM hublink.security_web_identity'));
SET ROLE hublink_web;
INSERT INTO public.web_obs VALUES
    ('sign in rita', public.web_try($$SELECT concat_ws(' ', outcome, role_name, groups::text, clearance) FROM hublink.web_sign_in('https://sso.test/', 'rita', '192.0.2.1')$$)),
    ('sign in unmapped', public.web_try($$SELECT concat_ws(' ', outcome, role_name, reason) FROM hublink.web_sign_in('https://sso.test/', 'nobody', '')$$)),
    ('sign in not granted', public.web_try($$SELECT concat_ws(' ', outcome, role_name, reason) FROM hublink.web_sign_in('https://sso.test/', 'other', '')$$)),
    ('sign in no role', public.web_try($$SELECT concat_ws(' ', outcome, role_name, reason) FROM hublink.web_sign_in('https://sso.test/', 'gone', '')$$)),
    ('sign in superuser', public.web_try($$SELECT concat_ws(' ', outcome, role_name, reason) FROM hublink.web_sign_in('https://sso.test/', 'super', '')$$)),
    ('sign in other issuer', public.web_try($$SELECT outcome FROM hublink.web_sign_in('https://evil.test/', 'rita', '')$$)),
    ('web role removals', public.web_try('SELECT count(*) FROM hublink.removal'));
RESET ROLE;
RESET SESSION AUTHORIZATION;

-- a person's own login keeps its own clearance, whatever role it sets
SET SESSION AUTHORIZATION web_t_plain;
SET ROLE web_t_rita;
INSERT INTO public.web_obs VALUES
    ('plain as rita acting', public.web_try('SELECT hublink.acting_login()')),
    ('plain as rita sees', public.web_try($$SELECT count(*) FROM hublink.search_removals('CASE-WEB-T1')$$));
RESET ROLE;
RESET SESSION AUTHORIZATION;
SET ROLE web_t_sam;
INSERT INTO public.web_obs VALUES ('superuser as sam acting', public.web_try('SELECT hublink.acting_login()'));
RESET ROLE;

CREATE FUNCTION pg_temp.obs(key text) RETURNS text LANGUAGE sql AS $$ SELECT v FROM public.web_obs WHERE k = key $$;
SELECT is(pg_temp.obs('login alone removals'), 'error 42501', 'the web login alone reads no removal (NOINHERIT, no grants)');
SELECT is(pg_temp.obs('login alone acting'), 'error 42501', 'nor runs any hublink function');
SELECT is(pg_temp.obs('rita acting'), 'web_t_rita', 'after SET ROLE it acts for the person');
SELECT is(pg_temp.obs('rita levels'), '{standard,sensitive,restricted}', 'whose clearance applies');
SELECT is(pg_temp.obs('rita sees'), '1', 'so a restricted caseworker sees the restricted removal through the web login');
SELECT is(pg_temp.obs('rita profiles'), '1', 'and the SECURITY DEFINER Hub functions let her act on it');
SELECT is(pg_temp.obs('rita own clearance'), 'restricted', 'she reads her own clearance row');
SELECT is(pg_temp.obs('sam acting'), 'web_t_sam', 'SET ROLE to another person acts for that one');
SELECT is(pg_temp.obs('sam sees'), '0', 'a standard caseworker through the same login does not see it');
SELECT is(pg_temp.obs('sam profiles'), 'error 42501', 'nor act on it');
SELECT is(pg_temp.obs('sam acks restricted'), 'error 42501', 'nor acknowledge its alert by id');
SELECT is(pg_temp.obs('sam acks none'), 'error 42501', 'nor an alert of no removal (admins only)');
SELECT is(pg_temp.obs('sam reads identities'), 'error 42501', 'a caseworker does not read the identity mapping');
SELECT is(pg_temp.obs('sam signs in'), 'error 42501', 'nor may a caseworker record web sign-ins');
SELECT is(pg_temp.obs('rita acks restricted'), '', 'the cleared caseworker acknowledges it');
SELECT is((SELECT acknowledged_by FROM hublink.alert WHERE alert_id = pg_temp.obs('alert restricted')::bigint), 'web_t_rita',
          'recorded as the person, not the web login');
SELECT is(pg_temp.obs('ada announces'), 'true', 'an admin through the web announces a reference list (a message of no removal)');
SELECT is(pg_temp.obs('ada acks none'), '', 'an admin acknowledges an alert of no removal');
SELECT is(pg_temp.obs('ada reads identities'), 'true', 'an admin reads the identity mapping');
SELECT is(pg_temp.obs('sign in rita'), 'succeeded web_t_rita {hublink_caseworker} restricted', 'a mapped identity signs in: role, groups, clearance');
SELECT is(pg_temp.obs('sign in unmapped'), 'failed identity not mapped to a role', 'an identity without a row fails');
SELECT is(pg_temp.obs('sign in not granted'), 'failed web login is not granted the mapped role', 'a role the web login was not granted fails');
SELECT is(pg_temp.obs('sign in no role'), 'failed mapped role does not exist', 'a mapping to a missing role fails');
SELECT is(pg_temp.obs('sign in superuser'), 'failed mapped role is a superuser or bypasses row-level security', 'a superuser role is never signed in to');
SELECT is(pg_temp.obs('sign in other issuer'), 'failed', 'the same subject at another issuer is another identity');
SELECT is(pg_temp.obs('web role removals'), 'error 42501', 'hublink_web itself reads no removal');
SELECT is(pg_temp.obs('plain as rita acting'), 'web_t_plain', 'a login that is not a web login acts as itself after SET ROLE');
SELECT is(pg_temp.obs('plain as rita sees'), '0', 'and does not gain the clearance of the role it sets');
SELECT is(pg_temp.obs('superuser as sam acting'), session_user::text, 'a superuser''s SET ROLE keeps the superuser (not a direct member of hublink_web)');

-- the lock-out is shared with database logons
\o /dev/null
SELECT hublink.security_set_lockout('web_t_rita', true, clock_timestamp());
\o
SET SESSION AUTHORIZATION web_t_login;
SET ROLE hublink_web;
INSERT INTO public.web_obs VALUES ('sign in locked', public.web_try($$SELECT concat_ws(' ', outcome, reason) FROM hublink.web_sign_in('https://sso.test/', 'rita', '')$$));
RESET ROLE;
RESET SESSION AUTHORIZATION;
\o /dev/null
SELECT hublink.security_set_lockout('web_t_rita', false, clock_timestamp());
\o
SELECT is(pg_temp.obs('sign in locked'), 'refused_locked role is locked out', 'a role locked out (as by failed database logons) is refused on the web');

-- and web failures count towards it: hublink.lockout_failures failed web sign-ins of a mapped
-- identity lock its role out for database logons too (the logon hook reads the same table)
SET SESSION AUTHORIZATION web_t_login;
SET ROLE hublink_web;
INSERT INTO public.web_obs
SELECT 'web failures', string_agg(hublink.web_sign_in_failed('https://sso.test/', 'rita', 'provider said no', ''), ',')
  FROM generate_series(1, current_setting('hublink.lockout_failures')::integer);
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT ok(pg_temp.obs('web failures') !~ 'succeeded', 'each failed web sign-in is a failure');
SELECT is((SELECT locked FROM hublink.security_logon_state() WHERE role_name = 'web_t_rita'), true,
          'hublink.lockout_failures failed web sign-ins lock the mapped role out (database logons too)');
\o /dev/null
SELECT hublink.security_set_lockout('web_t_rita', false, clock_timestamp());
\o

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
\o
