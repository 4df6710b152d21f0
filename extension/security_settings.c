/*
 * security_settings.c - protective monitoring's settings and its wiring into the server:
 * the shared memory for the event ring and the logon table, and the hooks
 * (docs/security-monitoring.md, docs/settings.md).
 *
 * Thresholds that SQL jobs apply (failed logons in a window, dormancy, audit capacity) are
 * settings too, read by the job with current_setting; the ones here are those C needs.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "security.h"
#include "shmem_hooks.h"

int hublink_security_event_slots = 1024;
int hublink_lockout_failures = 10;
int hublink_lockout_slots = 1024;
int hublink_lockout_source_duration = 900;
int hublink_lockout_sources_per_role = 8;
char *hublink_lockout_service_roles = NULL;
char *hublink_audit_relations = NULL;

/* Settings read only by the SQL jobs: defined here so they are reserved and documented. */
static int failed_logon_alert_count = 6;
static int failed_logon_window_minutes = 30;
static int dormant_role_days = 92;
static int audit_capacity_mb = 10240;
static int audit_capacity_warn_percent = 80;

void
hublink_security_define_settings(bool preloaded)
{
	/*
	 * The sizes of shared memory can only be defined while the postmaster starts (as the
	 * worker's settings); without the preload CREATE EXTENSION refuses anyway.
	 */
	if (preloaded)
		DefineCustomIntVariable(
			"hublink.security_event_slots", "Security events the shared-memory ring holds.",
			"Events wait there until the worker's security_monitor job copies them into "
			"hublink.security_event; when the ring is full the oldest is overwritten and the loss "
			"counted.",
			&hublink_security_event_slots, 1024, 16, 65536, PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable(
		"hublink.lockout_failures", "Consecutive failed logons after which a role is locked out.",
		"An ordinary role is locked out everywhere until hublink.unlock_role(); a protected role "
		"(superuser, CREATEROLE, REPLICATION, hublink_admin, hublink.lockout_service_roles) only "
		"from the failing address, for hublink.lockout_source_duration. 0 turns lock-out off. "
		"The bootstrap superuser is never locked out.",
		&hublink_lockout_failures, 10, 0, 1000, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable(
		"hublink.lockout_source_duration",
		"How long a protected role stays locked out from the address that failed.",
		"Also how long a count of failures from one address lasts without a new failure.",
		&hublink_lockout_source_duration, 900, 1, 7 * 24 * 3600, PGC_SIGHUP, GUC_UNIT_S, NULL, NULL,
		NULL);
	DefineCustomIntVariable(
		"hublink.lockout_sources_per_role",
		"Failing addresses of one protected role counted one by one.",
		"Failures from further addresses share one count; when it locks, every address without "
		"a count of its own but a Unix socket is refused for hublink.lockout_source_duration.",
		&hublink_lockout_sources_per_role, 8, 1, 64, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable(
		"hublink.lockout_service_roles",
		"Login roles, comma-separated, locked out per address only, like REPLICATION roles.",
		"For service logins (the worker's, monitoring, backup) whose lock-out everywhere would "
		"be an outage.",
		&hublink_lockout_service_roles, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	if (preloaded)
		DefineCustomIntVariable(
			"hublink.lockout_slots",
			"Entries of the shared-memory table that counts failed logons.",
			"One per existing role with failures, and one per failing address of a protected "
			"role (hublink.lockout_sources_per_role, plus one for the others). A counting entry is "
			"never evicted: when the table is "
			"full a failure is not counted and lockout_untracked is raised.",
			&hublink_lockout_slots, 1024, 16, 65536, PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable(
		"hublink.audit_relations", "The tables of the audit store, comma-separated.",
		"TRUNCATE or DROP of one of them is recorded as a security event and alerted; the "
		"security_monitor job compares their total size with hublink.audit_capacity_mb.",
		&hublink_audit_relations, "hublink.audit_log,hublink.audit_chain", PGC_SIGHUP, 0, NULL,
		NULL, NULL);
	DefineCustomIntVariable("hublink.failed_logon_alert_count",
							"Failed logons of one role within the window that raise an alert.",
							"NFR 0020 3c: more than 5 within 30 minutes, so 6.",
							&failed_logon_alert_count, 6, 1, 100000, PGC_SIGHUP, 0, NULL, NULL,
							NULL);
	DefineCustomIntVariable("hublink.failed_logon_window_minutes",
							"The window in which failed logons are counted.",
							"NFR 0020 3c: 30 minutes.", &failed_logon_window_minutes, 30, 1, 100000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("hublink.dormant_role_days",
							"Days without a logon after which a login role is reported dormant.",
							"NFR 0020 3e: more than 3 months, so 92 days.", &dormant_role_days, 92,
							1, 100000, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("hublink.audit_capacity_mb",
							"The capacity of the audit store, in megabytes.",
							"The security_monitor job alerts when the audit tables reach "
							"hublink.audit_capacity_warn_percent of it.",
							&audit_capacity_mb, 10240, 1, INT_MAX, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("hublink.audit_capacity_warn_percent",
							"Percentage of hublink.audit_capacity_mb that raises an alert.",
							"NFR 0020: capacity overrun of security logs, warned before it "
							"happens.",
							&audit_capacity_warn_percent, 80, 1, 100, PGC_SIGHUP, 0, NULL, NULL,
							NULL);
}

static void
request_shmem(void)
{
	RequestAddinShmemSpace(MAXALIGN(hublink_security_ring_size()));
	RequestAddinShmemSpace(MAXALIGN(hublink_security_auth_size()));
	RequestNamedLWLockTranche("hublink security", 2);
}

static void
startup_shmem(void)
{
	hublink_security_ring_attach();
	hublink_security_auth_attach();
}

void
hublink_security_setup(bool preloaded)
{
	hublink_security_define_settings(preloaded);
	if (!preloaded)
		return;
	hublink_shmem_add(request_shmem, startup_shmem);
	hublink_security_auth_install();
	hublink_security_utility_install();
	hublink_security_dml_install();
}
