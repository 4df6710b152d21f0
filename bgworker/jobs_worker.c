/*
 * jobs_worker.c - the worker's periodic jobs in a background worker of their own (issue 15
 * section 4; docs/worker.md "Jobs").
 *
 * A job (a timer sweep, the MI fold, a retention purge, a monitoring flush) can run for
 * seconds; run inside the message worker's loop it stops message handling for as long. So
 * with hublink.jobs_worker on (the default) the jobs run here, in the same database and as
 * the same role as the message worker (hublink.worker_role, checked before every run), and
 * the message loop never waits for one. A job that publishes writes outbox rows; the commit
 * wakes the message worker, which sends them. Off, this process idles and the message worker
 * runs the jobs in its loop, as before 0.2.0 (for comparison: docs/performance.md).
 *
 * The jobs start once the message worker has its configuration (the extension, a party, a
 * usable role): the same condition under which the message worker ran them in its loop.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "jobs.h"
#include "worker.h"
#include "worker_role.h"

/* While the message worker is not configured yet, look again after this long. */
#define JOBS_WORKER_GATE_MS 1000
/* Warn again about a role that cannot be used after this long (a role is fixed by SQL). */
#define JOBS_WORKER_ROLE_WARN_MS 60000

static TimestampTz role_warned_at = 0;

/*
 * Run the due jobs in one transaction as the worker's role; false when the role is unusable.
 * Right after CREATE EXTENSION that can be a moment's race with the message worker, so the
 * caller checks again a second later, and the warning is repeated once a minute only.
 */
static bool
run_jobs(MemoryContext loop_cxt)
{
	Oid role;
	char *problem;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "running jobs");
	problem = hublink_worker_role_problem(&role);
	if (problem != NULL)
	{
		/* The message worker reports it too (hublink.worker_status); no job runs meanwhile. */
		if (role_warned_at == 0 || TimestampDifferenceExceeds(role_warned_at, GetCurrentTimestamp(),
															  JOBS_WORKER_ROLE_WARN_MS))
		{
			ereport(WARNING, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							  errmsg("hublink jobs worker cannot run jobs: its role is not usable"),
							  errdetail_internal("%s", problem),
							  errhint("Fix the role or hublink.worker_role; the jobs worker checks "
									  "again every second.")));
			role_warned_at = GetCurrentTimestamp();
		}
	}
	else
	{
		role_warned_at = 0;
		hublink_worker_role_enter(role);
		hublink_jobs_run();
	}
	SPI_finish();
	PopActiveSnapshot();
	if (problem == NULL)
		hublink_worker_role_leave();
	CommitTransactionCommand();
	MemoryContextSwitchTo(loop_cxt);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return problem == NULL;
}

void
hublink_jobs_worker_main(Datum arg)
{
	MemoryContext loop_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	hublink_shmem_attach(HUBLINK_SLOT_JOBS, HUBLINK_JOBS_WAITING);
	BackgroundWorkerInitializeConnection(hublink_database, NULL, 0);
	pgstat_report_appname("hublink jobs");
	loop_cxt =
		AllocSetContextCreate(TopMemoryContext, "hublink jobs worker loop", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(loop_cxt);

	for (;;)
	{
		long timeout = -1;
		int rc;

		MemoryContextReset(loop_cxt);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			hublink_shmem_settings_loaded(HUBLINK_SLOT_JOBS);
		}
		/* hublink.schedule_worker_job, an UPDATE of hublink.worker_job: re-read the schedule. */
		if (hublink_shmem_take_jobs_changed(HUBLINK_SLOT_JOBS))
			hublink_jobs_reschedule();

		if (!hublink_jobs_worker)
			hublink_shmem_set_state(HUBLINK_SLOT_JOBS, HUBLINK_JOBS_OFF); /* wait for a reload */
		else if (!hublink_shmem_worker_configured())
		{
			hublink_shmem_set_state(HUBLINK_SLOT_JOBS, HUBLINK_JOBS_WAITING);
			timeout = JOBS_WORKER_GATE_MS;
		}
		else
		{
			if (hublink_jobs_next() <= GetCurrentTimestamp())
			{
				hublink_shmem_set_state(HUBLINK_SLOT_JOBS, HUBLINK_JOBS_RUNNING);
				if (!run_jobs(loop_cxt))
				{
					hublink_shmem_set_state(HUBLINK_SLOT_JOBS, HUBLINK_JOBS_WAITING);
					timeout = JOBS_WORKER_GATE_MS;
				}
			}
			if (timeout < 0)
			{
				hublink_shmem_set_state(HUBLINK_SLOT_JOBS, HUBLINK_JOBS_IDLE);
				timeout = hublink_ms_until(hublink_jobs_next());
			}
		}

		rc =
			WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (timeout >= 0 ? WL_TIMEOUT : 0),
					  Max(timeout, 0), PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
	}
}
