-- 0.2.0: the gaps the attacker pass of 0.2.0 left open (issue 12; docs/security.md "After the
-- attacker passes of 0.2.0"). Numbered after every part that creates the tables it changes
-- (error_report in 20, security_web_identity in 70, the alert channels in 80).

-- 1. Provider tables keyed by a removal reference (removal_ref, removal_reference) get
-- row-level security like every other table of removal data (91_access_policy.sql).
CREATE OR REPLACE VIEW hublink.removal_data_path AS
WITH RECURSIVE
tables AS (
    SELECT c.oid AS relid
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace = 'hublink'::regnamespace AND c.relkind IN ('r', 'p')
),
direct AS (
    SELECT DISTINCT ON (t.relid) t.relid, a.attname AS key_column,
           CASE WHEN a.atttypid = 'pg_catalog.text'::regtype THEN 'removal_reference' ELSE 'removal_id' END AS parent_column
      FROM tables t
      JOIN pg_catalog.pg_attribute a ON a.attrelid = t.relid AND NOT a.attisdropped
                                    AND (a.attname = 'removal_id'
                                         OR (a.attname IN ('removal_ref', 'removal_reference')
                                             AND a.atttypid = 'pg_catalog.text'::regtype))
     WHERE t.relid <> 'hublink.removal'::regclass
     ORDER BY t.relid, a.attname = 'removal_id' DESC, a.attname
),
path (relid, key_column, parent, parent_column, depth) AS (
    SELECT d.relid, d.key_column, 'hublink.removal'::regclass::oid, d.parent_column::name COLLATE "C", 1 FROM direct d
    UNION ALL
    SELECT f.conrelid, ka.attname, f.confrelid, pa.attname, p.depth + 1
      FROM path p
      JOIN pg_catalog.pg_constraint f ON f.contype = 'f' AND f.confrelid = p.relid
                                      AND pg_catalog.cardinality(f.conkey) = 1
      JOIN pg_catalog.pg_attribute ka ON ka.attrelid = f.conrelid AND ka.attnum = f.conkey[1]
      JOIN pg_catalog.pg_attribute pa ON pa.attrelid = f.confrelid AND pa.attnum = f.confkey[1]
     WHERE f.conrelid IN (SELECT t.relid FROM tables t)
       AND f.conrelid NOT IN (SELECT d.relid FROM direct d)
       AND f.conrelid <> 'hublink.removal'::regclass
       AND p.depth < 8
)
SELECT DISTINCT ON (p.relid)
       p.relid::regclass AS table_name, p.key_column, p.parent::regclass AS parent, p.parent_column, p.depth
  FROM path p
 ORDER BY p.relid, p.depth, p.key_column;
DELETE FROM hublink.access_table_override WHERE table_name = 'error_report';
UPDATE hublink.access_table_override
   SET reason = 'The open error reports with their outbox row''s id and send time: '
                'no message content, for the people who clear them; it shows each login only the '
                'reports of removals it is cleared for (hublink.cleared_levels), and those '
                'naming no removal.'
 WHERE table_name = 'needs_attention';
-- They were reference tables, read by admins, caseworkers and the worker: now removal data,
-- read by caseworkers within their clearance (apply_access_policy grants it back).
REVOKE ALL ON hublink.esp_plan, hublink.esp_plan_position, hublink.esp_quote, hublink.esp_booking,
              hublink.esp_booking_escort, hublink.esp_duty, hublink.esp_update, hublink.error_report,
              hublink.purge_log
    FROM hublink_admin, hublink_caseworker, hublink_worker;
-- @function hublink.clear_attention
CREATE OR REPLACE VIEW hublink.needs_attention AS
SELECT r.id AS report_id, r.received_at, r.reported_by, r.queue, r.removal_reference,
       r.failed_message_id, r.failed_message_type, r.outbox_id, o.sent_at,
       NOT r.matched AS unmatched, r.problem_count, r.problem_locations
  FROM hublink.error_report r
  LEFT JOIN hublink.outbox o ON o.id = r.outbox_id
 WHERE r.cleared_at IS NULL
   AND (r.removal_reference IS NULL
        OR EXISTS (SELECT FROM hublink.removal x
                    WHERE x.removal_reference = r.removal_reference
                      AND x.sensitivity = ANY (hublink.cleared_levels()))
        OR EXISTS (SELECT FROM pg_catalog.pg_roles u
                    WHERE u.rolname = hublink.acting_login()
                      AND (u.rolsuper
                           OR u.oid = (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'hublink')
                           OR pg_catalog.pg_has_role(u.oid, 'hublink_worker', 'USAGE'))));
-- @comment VIEW hublink.needs_attention

-- Changes to the rows that decide who is alerted, who signs in and what a clearance sees are
-- critical alerts (77_security_events.sql).
INSERT INTO hublink.alert_kind (kind, default_severity, source, description) VALUES
    ('security_config_changed', 'critical', 'monitoring',
     'A row that decides who is alerted (alert channels, thresholds), who may sign in on the web '
     '(web identities) or what a clearance sees (sensitivity levels) was added, changed or '
     'removed. Check that the role named was authorised to make the change.');
-- @function hublink.security_config_alert
REVOKE ALL ON FUNCTION hublink.security_config_alert(text, text, jsonb, jsonb, text[]) FROM PUBLIC;
-- @function hublink.security_config_changed
REVOKE ALL ON FUNCTION hublink.security_config_changed() FROM PUBLIC;

-- 4. Sensitivity levels: the owner's, but the wording (90_access.sql).
REVOKE INSERT, UPDATE, DELETE ON hublink.sensitivity_level FROM hublink_admin;
GRANT UPDATE (description) ON hublink.sensitivity_level TO hublink_admin;
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.sensitivity_level
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed('level', 'rank');
COMMENT ON TRIGGER security_config_changed ON hublink.sensitivity_level IS
    'Every change of a level is a critical alert (hublink.security_config_changed).';

-- 2. Alert channels and thresholds (82_alert_delivery.sql, 83_alert_checks.sql).
CREATE TABLE hublink.alert_header_binding (
    header_file hublink.credential_file PRIMARY KEY,
    host        text NOT NULL CHECK (host ~ '^[a-z0-9.-]+(:[0-9]{1,5})?$'),
    bound_by    name NOT NULL DEFAULT session_user,
    bound_at    timestamptz NOT NULL DEFAULT now()
);
-- @comment TABLE hublink.alert_header_binding
-- @comment COLUMN hublink.alert_header_binding.header_file
-- @comment COLUMN hublink.alert_header_binding.host
-- @comment COLUMN hublink.alert_header_binding.bound_by
-- @comment COLUMN hublink.alert_header_binding.bound_at
SELECT pg_catalog.pg_extension_config_dump('hublink.alert_header_binding', '');
GRANT SELECT ON hublink.alert_header_binding TO hublink_admin;
INSERT INTO hublink.access_table_override VALUES
    ('alert\_header\_binding', 'own_grants', 'The host each header file may go to: the owner writes it, '
                                  'admins read it (82_alert_delivery.sql).');
-- @function hublink.alert_url_host
-- @function hublink.alert_header_allowed
-- @function hublink.alert_channel_check
DROP TRIGGER alert_channel_check ON hublink.alert_channel;
CREATE TRIGGER alert_channel_check BEFORE INSERT OR UPDATE ON hublink.alert_channel
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_channel_check();
COMMENT ON TRIGGER alert_channel_check ON hublink.alert_channel IS
    'Checks the kinds filter and the header file''s host (hublink.alert_channel_check).';

ALTER TABLE hublink.alert_delivery ALTER COLUMN channel_name DROP NOT NULL,
    ADD COLUMN channel_as_was jsonb,
    ADD CONSTRAINT alert_delivery_channel_or_as_was CHECK ((channel_name IS NULL) = (channel_as_was IS NOT NULL));
-- @comment COLUMN hublink.alert_delivery.channel_name
-- @comment COLUMN hublink.alert_delivery.channel_as_was
-- @function hublink.alert_delivery_target
-- @function hublink.alert_deliveries_claim
-- @function hublink.alert_delivery_next
-- @function hublink.alert_channel_changed
REVOKE ALL ON FUNCTION hublink.alert_channel_changed() FROM PUBLIC;
CREATE TRIGGER alert_channel_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.alert_channel
    FOR EACH ROW EXECUTE FUNCTION hublink.alert_channel_changed();
COMMENT ON TRIGGER alert_channel_changed ON hublink.alert_channel IS
    'Announces every change (hublink.alert_channel_changed).';
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.alert_threshold
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed('check_name', 'alert_kind', 'after',
                                                                  'max_count', 'within', 'severity', 'enabled');
COMMENT ON TRIGGER security_config_changed ON hublink.alert_threshold IS
    'Every change of a threshold is a critical alert (hublink.security_config_changed).';

-- 3. Web identities: four eyes (79_web_identity.sql).
ALTER TABLE hublink.security_web_identity ADD COLUMN confirmed_by name, ADD COLUMN confirmed_at timestamptz,
    ADD CONSTRAINT security_web_identity_confirmed CHECK ((confirmed_by IS NULL) = (confirmed_at IS NULL));
-- @comment COLUMN hublink.security_web_identity.confirmed_by
-- @comment COLUMN hublink.security_web_identity.confirmed_at
REVOKE INSERT, UPDATE ON hublink.security_web_identity FROM hublink_admin;
GRANT INSERT (issuer, subject, role_name, display_name), UPDATE (issuer, subject, role_name, display_name)
    ON hublink.security_web_identity TO hublink_admin;
-- @function hublink.web_identity_role_protected
-- @function hublink.web_identity_privileged
-- @function hublink.web_identity_guard
REVOKE ALL ON FUNCTION hublink.web_identity_guard() FROM PUBLIC;
CREATE TRIGGER web_identity_guard BEFORE INSERT OR UPDATE ON hublink.security_web_identity
    FOR EACH ROW EXECUTE FUNCTION hublink.web_identity_guard();
COMMENT ON TRIGGER web_identity_guard ON hublink.security_web_identity IS
    'Four eyes on mappings (hublink.web_identity_guard).';
CREATE TRIGGER security_config_changed AFTER INSERT OR UPDATE OR DELETE ON hublink.security_web_identity
    FOR EACH ROW EXECUTE FUNCTION hublink.security_config_changed('role_name', 'issuer', 'added_by', 'confirmed_by');
COMMENT ON TRIGGER security_config_changed ON hublink.security_web_identity IS
    'Every change of a mapping is a critical alert (hublink.security_config_changed).';
-- @function hublink.confirm_web_identity
REVOKE ALL ON FUNCTION hublink.confirm_web_identity(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.confirm_web_identity(text, text) TO hublink_admin;
-- @function hublink.web_sign_in

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
