-- 0.2.0, issue 12 sections 1, 4 and 6 (docs/security-access.md "Code stored as data",
-- docs/security-crypto.md "Personal data and the server log").

-- Section 1: functions named by rows an admin writes run only if they are the extension's own.
INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('security_stored_function_refused', 'critical', 'monitoring',
     'A function named in a table and run with the extension owner''s rights (a timer''s check '
     'or action, a worker job) is not one of the extension''s own, and was refused when written '
     'or when called (docs/security-access.md "Code stored as data"). Investigate the role named: '
     'it may have tried to gain the owner''s rights.')
ON CONFLICT (kind) DO NOTHING;
INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('stored_function_refused', 'security_stored_function_refused', 'Stored function refused')
ON CONFLICT (kind) DO NOTHING;
-- @function hublink.stored_function_allowed
-- @function hublink.require_stored_function
-- @function hublink.check_stored_functions
-- @function hublink.run_worker_jobs
-- @function hublink.fire_timer
-- @function hublink.security_event_alert
-- @trigger hublink.timer_kind.stored_functions
-- @trigger hublink.timer_rule.stored_functions


-- Section 6: 4.22 holds under concurrency (an advisory lock per returnee in create_removal).
-- @function hublink.create_removal

-- Section 6: one error for a removal or message the login may not see and for one that does
-- not exist, naming only what the caller gave.
-- @function hublink.require_removal_access
-- @function hublink.require_message_access
-- @function hublink.message_document
-- @function hublink.inbox_failure

-- Section 6: every opening of a sealed message body by the worker's role is audited.
-- @function hublink.open_message

-- Section 6: renames of the audit store are security events (extension/security_utility.c).
INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('audit_rename', 'security_audit_tampering', 'Rename or SET SCHEMA of an audit table, its column, constraint or trigger, or its schema')
ON CONFLICT (kind) DO NOTHING;

-- New functions get their grants (none but the loop's defaults).
SELECT hublink.apply_access_policy();
