-- 0.2.0: the gaps the attacker pass of 0.2.0 left open (issue 12; docs/security.md "After the
-- attacker passes of 0.2.0"). The parts wholly new in 0.2.0 bring their own changes through
-- their @include (36 by 20: needs_attention filtered, error_report_visible; 79 by 70: web
-- identities four eyes; 82, 83, 92 by 80: header files bound to a host, announcements to a
-- channel as it was). Numbered after them: this part changes what 20 made (error_report's
-- class) and adds the triggers on their tables (95_config_alerts.sql).

-- 1. Provider tables keyed by a removal reference (removal_ref, removal_reference) get
-- row-level security like every other table of removal data (91_access_policy.sql).
-- @view hublink.removal_data_path
DELETE FROM hublink.access_table_override WHERE table_name = 'error_report';
UPDATE hublink.access_table_override
   SET class = 'own_grants',
       reason = 'The open error reports with their outbox row''s id and send time: '
                'no message content, for the admins who clear them (granted below); it shows each '
                'login only the reports of removals it is cleared for (hublink.error_report_visible), '
                'and those naming no removal.'
 WHERE table_name = 'needs_attention';
-- They were reference tables, read by admins, caseworkers and the worker: now removal data,
-- read by caseworkers within their clearance (apply_access_policy grants it back).
REVOKE ALL ON hublink.esp_plan, hublink.esp_plan_position, hublink.esp_quote, hublink.esp_booking,
              hublink.esp_booking_escort, hublink.esp_duty, hublink.esp_update, hublink.error_report,
              hublink.purge_log
    FROM hublink_admin, hublink_caseworker, hublink_worker;
-- hublink.needs_attention and hublink.error_report_visible come with 36_broker_contract.sql
-- (included by 20_broker_contract.sql); the grants of 91_access_policy.sql:
GRANT EXECUTE ON FUNCTION hublink.error_report_visible(text) TO hublink_admin;
-- For the admins who clear Errors only (it was a reference view, read by caseworkers and the worker).
REVOKE ALL ON hublink.needs_attention FROM hublink_caseworker, hublink_worker;
GRANT SELECT ON hublink.needs_attention TO hublink_admin;

-- Changes to the rows that decide who is alerted, who signs in and what a clearance sees are
-- critical alerts (77_security_events.sql).
INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('security_config_changed', 'critical', 'monitoring',
     'A row that decides who is alerted (alert channels, thresholds), who may sign in on the web '
     '(web identities), what a clearance sees (sensitivity levels) or what money is advised or '
     'spent (booking market, cancellation estimate, escort rules, risk flags) was added, changed or '
     'removed. Check that the role named was authorised to make the change.');
-- @function hublink.security_config_alert
REVOKE ALL ON FUNCTION hublink.security_config_alert(text, text, jsonb, jsonb, text[]) FROM PUBLIC;
-- @function hublink.security_config_changed
REVOKE ALL ON FUNCTION hublink.security_config_changed() FROM PUBLIC;

-- 4. Sensitivity levels: the owner's, but the wording (90_access.sql).
REVOKE INSERT, UPDATE, DELETE ON hublink.sensitivity_level FROM hublink_admin;
GRANT UPDATE (description) ON hublink.sensitivity_level TO hublink_admin;

-- The triggers: a part wholly new in 0.2.0.
-- @include sql/parts/95_config_alerts.sql

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
