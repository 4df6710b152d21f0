-- 0.2.0, issue 12 sections 3 and 5 (docs/security-monitoring.md "Lock-out",
-- docs/security-crypto.md "Erasure and backups").
--
-- Lock-out: the logon table counts only roles that exist and never evicts a counting entry;
-- protected roles (superuser, CREATEROLE, REPLICATION, hublink_admin, hublink.lockout_service_roles)
-- are locked out per client address, for a while, never everywhere. security_logon_state()
-- gains the address column (a new result type: dropped first).
DROP FUNCTION hublink.security_logon_state();
-- @function hublink.security_logon_state
REVOKE ALL ON FUNCTION hublink.security_logon_state() FROM PUBLIC;
-- @function hublink.unlock_role
-- @function hublink.sync_security_shared_memory
INSERT INTO hublink.alert_kind (kind, default_severity, source, description)
SELECT kind, default_severity, source, description FROM (VALUES
    ('security_source_locked', 'critical', 'monitoring',
     'A protected role (superuser, CREATEROLE, REPLICATION, hublink_admin or '
     'hublink.lockout_service_roles) was locked out from one client address after '
     'hublink.lockout_failures consecutive failed logons from it, for '
     'hublink.lockout_source_duration (NFR 0020 3d). It may still log on from elsewhere. A '
     'replica or service with a stale password stops until its password is fixed; otherwise '
     'find out who tried (hublink.logon, hublink.security_event name the address).'),
    ('security_lockout_untracked', 'critical', 'monitoring',
     'A failed logon of an existing role could not be counted towards lock-out: the logon '
     'table (hublink.lockout_slots) is full of counting entries. Many roles or addresses are '
     'failing at once: investigate, raise '
     'hublink.lockout_slots (restart).')) v (kind, default_severity, source, description)
ON CONFLICT (kind) DO NOTHING;
INSERT INTO hublink.security_event_kind (kind, alert_kind, description) VALUES
    ('source_locked', 'security_source_locked', 'Protected role locked out from one address'),
    ('lockout_untracked', 'security_lockout_untracked', 'Failed logon not counted: logon table full')
ON CONFLICT (kind) DO NOTHING;

-- Keys and erasure against copies: the master keys that ever wrapped a data key, the erasure
-- status per destruction, and the record of a retired master key's destruction. The key file
-- itself moves out of the data directory by the operator (docs/upgrades.md): the new library's
-- default is ../hublink_master.key, and a key file inside the data directory is refused.
CREATE TABLE hublink.data_key_master (
    master_key_id text PRIMARY KEY,
    first_used_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    retired_at    timestamptz,
    destroyed_at  timestamptz,
    destroyed_by  text,
    CHECK ((destroyed_at IS NULL) = (destroyed_by IS NULL)),
    CHECK (destroyed_at IS NULL OR retired_at IS NOT NULL)
);
-- @comment TABLE hublink.data_key_master
-- @comment COLUMN hublink.data_key_master.master_key_id
-- @comment COLUMN hublink.data_key_master.first_used_at
-- @comment COLUMN hublink.data_key_master.retired_at
-- @comment COLUMN hublink.data_key_master.destroyed_at
-- @comment COLUMN hublink.data_key_master.destroyed_by
REVOKE ALL ON hublink.data_key_master FROM PUBLIC;
GRANT SELECT ON hublink.data_key_master TO hublink_admin;
SELECT pg_catalog.pg_extension_config_dump('hublink.data_key_master', '');
-- The master keys in use before this version tracked them: assumed in use since the first data
-- key or purge recorded, so no earlier erasure is reported complete before they are destroyed.
INSERT INTO hublink.data_key_master (master_key_id, first_used_at)
SELECT d.master_key_id,
       least(pg_catalog.min(d.created_at), (SELECT pg_catalog.min(l.purged_at) FROM hublink.purge_log l))
  FROM hublink.data_key d
 GROUP BY d.master_key_id;
INSERT INTO hublink.audit_action VALUES
    ('master_key_destroyed', 'An admin recorded that a retired master key is destroyed (hublink.master_key_destroyed).')
ON CONFLICT DO NOTHING;
-- @function hublink.data_key_for
-- @function hublink.rotate_master_key
-- @view hublink.data_key_erasure
-- @comment COLUMN hublink.data_key_erasure.purge_id
-- @comment COLUMN hublink.data_key_erasure.key_scope
-- @comment COLUMN hublink.data_key_erasure.data_class
-- @comment COLUMN hublink.data_key_erasure.purged_at
-- @comment COLUMN hublink.data_key_erasure.reason
-- @comment COLUMN hublink.data_key_erasure.master_keys_to_destroy
-- @comment COLUMN hublink.data_key_erasure.complete
-- @comment COLUMN hublink.data_key_erasure.complete_since
REVOKE ALL ON hublink.data_key_erasure FROM PUBLIC;
GRANT SELECT ON hublink.data_key_erasure TO hublink_admin;
-- @function hublink.master_key_destroyed
-- An escort erased at an escort provider is logged in purge_log too, so the view tracks it.
-- @function hublink.esp_erase_escort
-- The purges record the ids of the master keys that wrapped the keys they destroy.
-- @function hublink.purge_personal_data
-- @function hublink.purge_message_days
-- @comment COLUMN hublink.purge_log.removal_reference
-- @comment COLUMN hublink.purge_log.data_class
REVOKE ALL ON FUNCTION hublink.master_key_destroyed(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hublink.master_key_destroyed(text) TO hublink_admin;
SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
