/*
 * hublink.c - the library's entry point.
 *
 * hublink needs shared_preload_libraries: its background worker and shared memory can only be
 * set up by the postmaster. When the library is loaded later (CREATE EXTENSION in a server
 * without the preload), _PG_init only records that, and the install script's first statement
 * calls hublink_assert_preloaded(), which refuses with a hint saying what to add.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "crypto_key.h"
#include "hublink.h"
#include "log_privacy.h"
#include "security.h"

PG_MODULE_MAGIC;

bool hublink_preloaded = false;

void _PG_init(void);

void
_PG_init(void)
{
	hublink_preloaded = process_shared_preload_libraries_in_progress;

	hublink_define_settings();
	hublink_define_restoring_setting();
	hublink_crypto_define_settings();
	hublink_schema_cache_init();
	/* Protective monitoring: settings always; its shared memory and hooks when preloaded. */
	hublink_security_setup(hublink_preloaded);

	if (hublink_preloaded)
	{
		/* Personal data kept out of the server log (log_privacy.c). */
		hublink_log_privacy_install();
		hublink_worker_define_settings();
		hublink_worker_register();
	}

	/* After every hublink.* setting is defined: a misspelt one is then an error. */
	MarkGUCPrefixReserved("hublink");
}

PG_FUNCTION_INFO_V1(hublink_assert_preloaded);

/*
 * Called first by the install script, so CREATE EXTENSION fails cleanly without the preload
 * instead of leaving an extension whose worker never runs.
 */
Datum
hublink_assert_preloaded(PG_FUNCTION_ARGS)
{
	if (!hublink_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("hublink must be loaded via shared_preload_libraries"),
				 errdetail("The hublink background worker and its shared memory can only be "
						   "set up when the server starts."),
				 errhint("Add hublink to shared_preload_libraries in postgresql.conf, for example "
						 "shared_preload_libraries = 'hublink', and restart the server.")));
	PG_RETURN_VOID();
}
