-- Changing a removal's sensitivity as the web interface does (issue 16; docs/web.md "Changing a
-- case's sensitivity"; hublink.change_sensitivity, 96_case_sensitivity.sql): the hostile
-- caseworker lowering a case it may not see to see it, raising one above its clearance, the
-- admin who is also a caseworker hiding a case from itself without confirming, an empty reason,
-- a forged history row; every change kept and alerted, by the web's function and by psql's
-- set_removal_sensitivity alike.
\o /dev/null
ALTER SYSTEM SET hublink.party = 'hub';
SELECT pg_reload_conf();
\set wait_setting hublink.party
\set wait_value hub
\ir include/wait_setting.sql
\o
BEGIN;
SELECT plan(26);

CREATE ROLE cs_std LOGIN IN ROLE hublink_caseworker;
CREATE ROLE cs_restricted LOGIN IN ROLE hublink_caseworker;
CREATE ROLE cs_both LOGIN IN ROLE hublink_caseworker, hublink_admin;
CREATE ROLE cs_admin LOGIN IN ROLE hublink_admin;
SELECT hublink.set_clearance('cs_std', 'standard'), hublink.set_clearance('cs_restricted', 'restricted'),
       hublink.set_clearance('cs_both', 'sensitive');
CREATE FUNCTION hublink_test.cs_returnee(ho text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_array(jsonb_build_object('personalDetails', jsonb_build_object('hoReturneeReference', ho,
               'name', jsonb_build_object('givenNames', 'Ada', 'familyName', 'Obi'), 'dateOfBirth', '1988-02-03',
               'nationality', 'NGA', 'gender', 'F'),
           'travelDocuments', jsonb_build_array(jsonb_build_object('type', 'PASSPORT', 'number', 'P' || ho, 'issuingCountry', 'NGA')),
           'location', '{"detentionCentreId": "YARLS_WOOD_IRC"}'::jsonb, 'risk', jsonb_build_object('flags', '[]'::jsonb))) $$;
CREATE TABLE hublink_test.cs (k text PRIMARY KEY, v text);
GRANT SELECT ON hublink_test.cs TO PUBLIC;
GRANT USAGE ON SCHEMA hublink_test TO PUBLIC;
INSERT INTO hublink_test.cs VALUES
  ('restricted', hublink.create_removal('CASE-CS-1', hublink_test.cs_returnee('HO-CS1'), '2026-03-16', '2026-03-20',
                                        '{"description": "Lagos", "country": "NGA", "airportCode": "LOS"}', sensitivity => 'restricted')),
  ('standard', hublink.create_removal('CASE-CS-2', hublink_test.cs_returnee('HO-CS2'), '2026-03-16', '2026-03-20',
                                      '{"description": "Lagos", "country": "NGA", "airportCode": "LOS"}'));
SELECT v AS r1 FROM hublink_test.cs WHERE k = 'restricted' \gset
SELECT v AS r2 FROM hublink_test.cs WHERE k = 'standard' \gset

-- --- a caseworker not cleared for the case ---------------------------------------------------
SET SESSION AUTHORIZATION cs_std;
SELECT throws_ok(format($$SELECT hublink.change_sensitivity(%L, 'standard', 'I need to see it')$$, :'r1'), '42501',
                 format('removal %s is not accessible', :'r1'),
                 'a caseworker may not lower a case it cannot see to see it (not accessible, as if it did not exist)');
SELECT throws_ok(format($$SELECT * FROM hublink.sensitivity_choices(%L)$$, :'r1'), '42501', NULL,
                 'nor list its levels');
SELECT throws_ok($$SELECT * FROM hublink.sensitivity_choices('RMV-2026-999999')$$, '42501', NULL,
                 'and a removal that does not exist is refused alike');
SELECT throws_ok(format($$SELECT hublink.change_sensitivity(%L, 'sensitive', 'hide it from the team')$$, :'r2'), '42501',
                 'sensitivity "sensitive" is above the clearance of this login',
                 'a caseworker may not raise a case above its own clearance');
SELECT is((SELECT array_agg(level || ':' || allowed || ':' || hides_from_me ORDER BY level) FROM hublink.sensitivity_choices(:'r2')),
          '{restricted:false:false,sensitive:false:false,standard:true:false}'::text[],
          'its choices: only the levels it is cleared for, none hiding the case from it');
SELECT throws_ok($$INSERT INTO hublink.sensitivity_change (removal_id, from_level, to_level, changed_by)
                   SELECT removal_id, 'restricted', 'standard', 'someone_else' FROM hublink.removal LIMIT 1$$, '42501', NULL,
                 'a caseworker may not write the history of changes itself');
SELECT is((SELECT count(*)::int FROM hublink.sensitivity_change), 0, 'nor read changes of cases it cannot see');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT sensitivity FROM hublink.removal WHERE removal_reference = :'r1'), 'restricted', 'the restricted case is unchanged');
SELECT is((SELECT sensitivity FROM hublink.removal WHERE removal_reference = :'r2'), 'standard', 'and so is the standard one');

-- --- a caseworker cleared for it ---------------------------------------------------------------
SET SESSION AUTHORIZATION cs_restricted;
SELECT throws_ok(format($$SELECT hublink.change_sensitivity(%L, 'sensitive', '   ')$$, :'r1'), '22023',
                 'a change of sensitivity needs a reason', 'a blank reason is refused');
SELECT throws_ok(format($$SELECT hublink.change_sensitivity(%L, 'secret', 'why not')$$, :'r1'), '22023',
                 'sensitivity level "secret" does not exist', 'a level that does not exist is refused');
SELECT throws_ok(format($$SELECT hublink.change_sensitivity(%L, 'restricted', 'again')$$, :'r1'), '22023',
                 format('removal %s is already restricted', :'r1'), 'the level it already has is refused: nothing to change');
SELECT is(hublink.change_sensitivity(:'r1', 'sensitive', 'No longer named by the Home Office as restricted.'), 'restricted',
          'a caseworker cleared for the case lowers it with a reason (returns the level before)');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT sensitivity FROM hublink.removal WHERE removal_reference = :'r1'), 'sensitive', 'the case is now sensitive');
SELECT is((SELECT format('%s>%s by %s: %s', from_level, to_level, changed_by, reason) FROM hublink.sensitivity_change c
             JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = :'r1'),
          'restricted>sensitive by cs_restricted: No longer named by the Home Office as restricted.',
          'the change is kept: from, to, who and why');
SELECT is((SELECT format('%s %s %s', severity, detail ->> 'by', detail ->> 'lowered') FROM hublink.alert a JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = :'r1' AND a.kind = 'removal_sensitivity_changed'),
          'warning cs_restricted true', 'lowering it is a warning alert naming the person (more people see the case now)');
SELECT ok((SELECT count(*) FROM hublink.audit_log l JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = :'r1' AND l.table_name = 'hublink.removal' AND l.action = 'update' AND l.session_user_name = 'cs_restricted') >= 1,
          'and the removal''s row audit names the person');

-- --- an admin who is also a caseworker, cleared for sensitive ---------------------------------
SET SESSION AUTHORIZATION cs_both;
SELECT is((SELECT array_agg(level || ':' || allowed || ':' || hides_from_me ORDER BY level) FROM hublink.sensitivity_choices(:'r1')),
          '{restricted:true:true,sensitive:true:false,standard:true:false}'::text[],
          'an admin may choose every level; restricted would hide the case from it');
SELECT throws_ok(format($$SELECT hublink.change_sensitivity(%L, 'restricted', 'Named again.')$$, :'r1'), '55000',
                 format('sensitivity "restricted" would hide removal %s from you', :'r1'),
                 'hiding a case from oneself is refused without the confirmation');
SELECT is((SELECT sensitivity FROM hublink.removal WHERE removal_reference = :'r1'), 'sensitive', 'and changes nothing');
SELECT is(hublink.change_sensitivity(:'r1', 'restricted', 'Named again.', hide_from_me => true), 'sensitive',
          'with the confirmation it is done');
SELECT is((SELECT count(*)::int FROM hublink.removal WHERE removal_reference = :'r1'), 0, 'and the case is now hidden from that person');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT severity FROM hublink.alert a JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = :'r1' AND a.kind = 'removal_sensitivity_changed' AND a.detail ->> 'by' = 'cs_both'),
          'info', 'raising it is an alert for the record');

-- --- an admin with no clearance: sees no case, so hides none from itself -----------------------
SET SESSION AUTHORIZATION cs_admin;
SELECT is((SELECT count(*)::int FROM hublink.sensitivity_choices(:'r2') WHERE hides_from_me OR NOT allowed), 0,
          'an admin with no clearance may choose any level and none hides a case it never saw');
-- --- psql's set_removal_sensitivity: kept and alerted too ------------------------------------------
SELECT hublink.set_removal_sensitivity(:'r2', 'sensitive');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT format('%s>%s by %s, reason %s', from_level, to_level, changed_by, coalesce(reason, 'none')) FROM hublink.sensitivity_change c
             JOIN hublink.removal r USING (removal_id) WHERE r.removal_reference = :'r2'),
          'standard>sensitive by cs_admin, reason none', 'a change through set_removal_sensitivity is kept too');
SELECT is((SELECT count(*)::int FROM hublink.alert a JOIN hublink.removal r USING (removal_id)
            WHERE r.removal_reference = :'r2' AND a.kind = 'removal_sensitivity_changed'), 1, 'and alerted');

SELECT * FROM finish();
ROLLBACK;
