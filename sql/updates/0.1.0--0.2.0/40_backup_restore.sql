-- 0.2.0: backup and restore that is exact (issue 13 section 1; docs/operations.md "Backup and
-- restore"; sql/parts/97_backup.sql): every table but the product tables of
-- hublink.backup_exclusion is dumped whole with its sequences; a restore with
-- hublink.restoring = on empties what CREATE EXTENSION shipped, writes and seals no audit row
-- and loads no shipped schema; the role hublink_backup takes the dumps.

-- The audit triggers and the schema loader stay quiet while a dump is restored.
-- @function hublink.audit_seal_needed
-- @function hublink.audit_row_change
-- @function hublink.audit_truncate
-- @function hublink.install_shipped_schema

CREATE TABLE hublink.backup_exclusion (
    table_name text PRIMARY KEY,
    reason     text NOT NULL
);
-- @comment TABLE hublink.backup_exclusion
-- @comment COLUMN hublink.backup_exclusion.table_name
-- @comment COLUMN hublink.backup_exclusion.reason
INSERT INTO hublink.backup_exclusion VALUES
    ('backup_exclusion', 'This list: the code''s.'),
    ('access_class', 'The access policy''s classes (91_access_policy.sql).'),
    ('access_grant', 'The access policy: what each group role gets (91_access_policy.sql).'),
    ('access_public_function', 'The functions PUBLIC may run (91_access_policy.sql).'),
    ('access_table_override', 'The access policy''s exceptions (91_access_policy.sql).'),
    ('audit_action', 'The actions an audit row may record (70_audit.sql).'),
    ('audit_exclusion', 'Which tables are not audited (71_audit_rows.sql).'),
    ('audit_table_rule', 'How inserts of some tables are audited (71_audit_rows.sql).'),
    ('sealed_table', 'Which tables hold sealed personal data and how (74_crypto_seal.sql).'),
    ('message_type', 'The message types of the interface and their queues (20_schema_registry.sql).'),
    ('message_handler', 'The function that applies each message type: names of code the worker runs.'),
    ('party', 'The three parties of the interface.'),
    ('reason_code_location', 'Where each message type carries a reason code (42_reference_codes.sql).'),
    ('inbox_status', 'The states of an inbound message.'),
    ('enqueue_time_source', 'Where an inbound message''s enqueue time came from.'),
    ('alert_severity', 'The severities of an alert.'),
    ('alert_kind', 'The kinds of alert each part raises.'),
    ('logon_outcome', 'The outcomes of a logon.'),
    ('security_event_kind', 'The kinds of security event and their alerts.'),
    ('timer_status', 'The states of a timer.'),
    ('timer_kind_party', 'Which party keeps timers of each kind.'),
    ('esp_booking_status', 'The states of an escort booking.'),
    ('esp_fee_kind', 'What an ESP fee rule charges for.'),
    ('esp_place_kind', 'Where an escort segment starts or ends.'),
    ('tsp_tig_rule_kind', 'The kinds of Travel Information Guide rule quoting enforces.'),
    ('export_format', 'The formats hublink.export_mi writes.'),
    ('report_granularity', 'The periods hublink.mi_volume counts in.'),
    ('rollup_mi_source', 'The MI rollup''s source tables and the SQL a change runs (85_mi_rollup.sql): code.');

-- @function hublink.backup_register
-- @function hublink.restore_prepare
REVOKE ALL ON FUNCTION hublink.backup_register() FROM PUBLIC;
REVOKE ALL ON FUNCTION hublink.restore_prepare() FROM PUBLIC;

INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('database_restored', NULL, 'A dump was restored with hublink.restoring on: the audit triggers were quiet in that session');

-- The role backups are taken as (docs/operations.md "The backup role"): reads every row of the
-- database, personal data only sealed, and writes nothing. BYPASSRLS is a role attribute that
-- membership does not pass on, so pg_dump runs with --role=hublink_backup; a login holding it
-- (NOINHERIT) has no privilege of its own. NOLOGIN: nobody logs in as it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'hublink_backup') THEN
        CREATE ROLE hublink_backup NOLOGIN BYPASSRLS;
    END IF;
END;
$$;
GRANT pg_read_all_data TO hublink_backup;

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
SELECT hublink.backup_register();
