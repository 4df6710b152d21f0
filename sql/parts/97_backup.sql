-- Backup and restore (issue 13 section 1; docs/operations.md "Backup and restore").
--
-- pg_dump writes an extension's tables only if they are registered with
-- pg_extension_config_dump; everything else comes back from CREATE EXTENSION. The rule here is
-- the reverse of a list of site tables: every table of schema hublink is the site's and is
-- dumped whole, rows and sequences, except the product tables of hublink.backup_exclusion,
-- whose rows are the code's (what the install ships and only an upgrade changes). A table a
-- later part adds is therefore dumped unless someone says why not.
--
-- A table that ships rows the site may edit, delete or add to (reason codes, timer rules, engine
-- settings, the message schemas) is dumped whole too, shipped rows included. A restore must then
-- not keep the rows the new CREATE EXTENSION shipped: with hublink.restoring on (a superuser-only
-- setting, extension/restoring.c) the install empties every dumped table at its end
-- (hublink.restore_prepare) and the shipped schemas are not loaded, so COPY brings the rows
-- exactly as they were: an edited shipped row keeps its edit, a deleted one stays deleted, a
-- site row comes back once. A WHERE condition on pg_extension_config_dump (dump only the site's
-- rows) could not keep edits or deletions of shipped rows, so it is not used.
--
-- The restore runs with session_replication_role = replica as well: the business triggers
-- (timers, MI marks, sealing, reference-list announcements) and the foreign key checks are
-- ENABLE ORIGIN and do not fire over restored rows; the audit triggers are ENABLE ALWAYS and
-- write and seal nothing while hublink.restoring is on, so the audit trail comes back as the
-- chain it was, and hublink.verify_audit checks it against an anchor taken at backup time.

CREATE TABLE hublink.backup_exclusion (
    table_name text PRIMARY KEY,
    reason     text NOT NULL
);
COMMENT ON TABLE hublink.backup_exclusion IS
    'Tables of schema hublink that pg_dump leaves out (reference data): product tables whose rows '
    'the install ships and no site role or function changes, so CREATE EXTENSION recreates them '
    'exactly. Every other table is registered with pg_extension_config_dump by '
    'hublink.backup_register() (docs/operations.md "What a dump holds").';
COMMENT ON COLUMN hublink.backup_exclusion.table_name IS 'Table name in schema hublink.';
COMMENT ON COLUMN hublink.backup_exclusion.reason IS 'Why its rows are the code''s, not the site''s.';
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

CREATE FUNCTION hublink.backup_register() RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rel regclass;
    n   integer := 0;
BEGIN
    -- Tables: every one of the schema but the product tables, whole (no WHERE condition).
    FOR rel IN SELECT c.oid::regclass FROM pg_catalog.pg_class c
                WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind IN ('r', 'p')
                  AND NOT c.relispartition
                  AND c.relname NOT IN (SELECT x.table_name FROM hublink.backup_exclusion x)
                ORDER BY c.relname LOOP
        PERFORM pg_catalog.pg_extension_config_dump(rel, '');
        n := n + 1;
    END LOOP;
    -- Sequences: those owned by a dumped table (serial and identity columns) and those owned by
    -- none (hublink.removal_serial), so restored rows and new ones never share a key.
    FOR rel IN SELECT s.oid::regclass FROM pg_catalog.pg_class s
                WHERE s.relnamespace = 'hublink'::regnamespace AND s.relkind = 'S'
                  AND NOT EXISTS (
                      SELECT FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
                       WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = s.oid
                         AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')
                         AND t.relname IN (SELECT x.table_name FROM hublink.backup_exclusion x))
                ORDER BY s.relname LOOP
        PERFORM pg_catalog.pg_extension_config_dump(rel, '');
    END LOOP;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.backup_register() IS
    'Registers with pg_extension_config_dump every table of schema hublink not in '
    'hublink.backup_exclusion (all rows) and the sequences they own, and the sequences no table '
    'owns. Only callable from the install or update script (pg_extension_config_dump refuses '
    'otherwise); run by 97_backup.sql and by any later part or update that adds tables. Returns '
    'the number of tables.';
REVOKE ALL ON FUNCTION hublink.backup_register() FROM PUBLIC;

CREATE FUNCTION hublink.restore_prepare() RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rel regclass;
    n   integer := 0;
BEGIN
    IF pg_catalog.current_setting('hublink.restoring') <> 'on' THEN
        -- pg_restore names itself in application_name: a restore without the restore settings
        -- would duplicate the shipped rows, write a new audit chain and run the business
        -- triggers over the restored rows. Refuse before anything is loaded.
        IF pg_catalog.current_setting('application_name') = 'pg_restore' THEN
            RAISE EXCEPTION 'restoring hublink needs hublink.restoring = on and session_replication_role = replica'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Without them the restored rows would meet the rows CREATE EXTENSION ships, '
                               'the audit chain would be rebuilt and the triggers would run again.',
                      HINT = 'Run pg_restore with PGOPTIONS=''-c hublink.restoring=on -c session_replication_role=replica'' '
                             'as a superuser (docs/operations.md "Restore").';
        END IF;
        RETURN 0;
    END IF;
    IF pg_catalog.current_setting('session_replication_role') <> 'replica' THEN
        RAISE EXCEPTION 'hublink.restoring needs session_replication_role = replica'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The timer, MI and sealing triggers would run again over the restored rows.',
                  HINT = 'Add -c session_replication_role=replica to PGOPTIONS (docs/operations.md "Restore").';
    END IF;
    -- The audit triggers wrote nothing during this install; the dump brings the chain.
    IF EXISTS (SELECT FROM hublink.audit_log) OR EXISTS (SELECT FROM hublink.audit_chain) THEN
        RAISE EXCEPTION 'the audit trail of a database being restored is not empty'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The restored chain must be the only chain.',
                  HINT = 'Restore into a new, empty database (docs/operations.md "Restore").';
    END IF;
    -- The rows CREATE EXTENSION shipped into dumped tables make way for the dump's. Replica
    -- mode: no foreign key check or cascade, no trigger but the audit's (quiet while restoring).
    FOR rel IN SELECT c.oid::regclass FROM pg_catalog.pg_extension e
                CROSS JOIN LATERAL pg_catalog.unnest(e.extconfig) AS x(oid)
                JOIN pg_catalog.pg_class c ON c.oid = x.oid
               WHERE e.extname = 'hublink' AND c.relkind IN ('r', 'p')
                 AND c.relname NOT IN ('audit_log', 'audit_chain')
               ORDER BY c.relname LOOP
        EXECUTE pg_catalog.format('DELETE FROM %s', rel);
        n := n + 1;
    END LOOP;
    -- Visible to protective monitoring: the audit triggers were quiet in this session.
    PERFORM hublink.record_security_event('database_restored', pg_catalog.jsonb_build_object(
        'database', pg_catalog.current_database(), 'session_user', session_user::text,
        'backend_pid', pg_catalog.pg_backend_pid(), 'client_addr', pg_catalog.inet_client_addr()::text));
    RETURN n;
END;
$$;
COMMENT ON FUNCTION hublink.restore_prepare() IS
    'Run at the end of CREATE EXTENSION hublink. With hublink.restoring on (pg_restore, docs/operations.md): '
    'requires session_replication_role = replica and an empty audit trail, empties every table '
    'pg_dump dumps so the dump''s rows replace the shipped ones, and records a security event '
    'database_restored. Off: refuses when the client is pg_restore (a restore without the '
    'settings), else does nothing. Returns the number of tables emptied.';
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

-- The table above gets its grants like every table (93_access_apply.sql ran before it).
SELECT hublink.apply_access_policy();
SELECT hublink.backup_register();
SELECT hublink.restore_prepare();
