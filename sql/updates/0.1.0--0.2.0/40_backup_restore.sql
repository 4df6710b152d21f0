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

-- sql/parts/97_backup.sql is wholly new in 0.2.0: the build copies it verbatim (the table of
-- product tables, backup_register, restore_prepare, the role hublink_backup).
-- @include sql/parts/97_backup.sql

SELECT hublink.apply_access_policy();
SELECT hublink.audit_attach();
SELECT hublink.backup_register();
