/*
 * restoring.c - the setting hublink.restoring, which says a session is restoring a dump.
 *
 * A pg_restore of a hublink database recreates the extension (CREATE EXTENSION) and then
 * loads the site's rows with COPY. Those rows already carry their effects: audit rows sealed
 * in the original chain, timers, MI marks. The business triggers are ENABLE ORIGIN and stay
 * quiet under session_replication_role = replica; the audit triggers are ENABLE ALWAYS (so
 * replica mode does not bypass the audit) and stay quiet only when this setting is on.
 * It is PGC_SUSET: only a superuser, who can disable any trigger anyway, may turn it on, and a
 * restore needs a superuser (CREATE EXTENSION of a C extension). docs/operations.md.
 */
#include "postgres.h"

#include "utils/guc.h"

#include "hublink.h"

bool hublink_restoring = false;

/*
 * On only from the client (pg_restore's PGOPTIONS) or a SET in the session: never from
 * postgresql.conf, ALTER SYSTEM, ALTER DATABASE or ALTER ROLE, where it would silence the audit
 * of every later session. PGC_S_TEST is ALTER ... SET checking a value: refused too.
 */
static bool
restoring_check(bool *newval, void **extra, GucSource source)
{
	if (!*newval || source == PGC_S_DEFAULT || source == PGC_S_CLIENT || source >= PGC_S_SESSION)
		return true;
	GUC_check_errcode(ERRCODE_CANT_CHANGE_RUNTIME_PARAM);
	GUC_check_errdetail("hublink.restoring may only be turned on for one session, by the client "
						"(PGOPTIONS) or SET.");
	GUC_check_errhint("Run pg_restore with PGOPTIONS='-c hublink.restoring=on -c "
					  "session_replication_role=replica' (docs/operations.md \"Restore\").");
	return false;
}

void
hublink_define_restoring_setting(void)
{
	DefineCustomBoolVariable(
		"hublink.restoring", "Whether this session is restoring a dump of a hublink database.",
		"On, CREATE EXTENSION hublink empties the tables whose rows the dump brings and writes "
		"no audit rows, and the audit triggers neither record nor seal the restored rows. "
		"Only for pg_restore, with session_replication_role = replica (docs/operations.md).",
		&hublink_restoring, false, PGC_SUSET, GUC_DISALLOW_IN_FILE | GUC_NOT_IN_SAMPLE,
		restoring_check, NULL, NULL);
}
