/*
 * worker_txn.c - the transactions of the message worker and of its appliers (applier.c):
 * the same start (SPI, a snapshot, the worker's role checked and entered) and the same end
 * (commit, statistics, the counts of the transaction moved to shared memory).
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "counters.h"
#include "worker_role.h"
#include "worker_txn.h"

/* synchronous_commit as the process set it at start: what a durable commit waits for. */
static int durable_level = -1;
static char *durable_name = NULL;

void
hublink_txn_durable_setup(void)
{
	/*
	 * An ack follows a commit: with asynchronous commit a crash could lose a transaction whose
	 * messages were already acked, and they would be lost for good. So the process's commits
	 * are synchronous whatever the server's default, and at least as synchronous as the
	 * server's setting (remote_apply with a standby stays remote_apply).
	 */
	if (synchronous_commit < SYNCHRONOUS_COMMIT_LOCAL_FLUSH)
		SetConfigOption("synchronous_commit", "on", PGC_SUSET, PGC_S_OVERRIDE);
	durable_level = synchronous_commit;
	durable_name =
		MemoryContextStrdup(TopMemoryContext, GetConfigOption("synchronous_commit", false, false));
}

void
hublink_txn_begin(const char *activity, bool as_role)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
	if (as_role)
	{
		Oid role;
		char *problem = hublink_worker_role_problem(&role);

		/* A restart waits in configure(), with a warning, until the role is fixed. */
		if (problem != NULL)
			ereport(FATAL, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							errmsg("hublink worker role \"%s\" can no longer be used",
								   hublink_worker_role),
							errdetail_internal("%s", problem),
							errhint("Fix the role or hublink.worker_role; the worker restarts "
									"and waits until it is usable.")));
		hublink_worker_role_enter(role);
	}
}

void
hublink_txn_commit(MemoryContext loop_cxt, bool durable)
{
	SPI_finish();
	PopActiveSnapshot();
	hublink_worker_role_leave();
	/*
	 * A handler that set synchronous_commit lower for its session would make this commit skip
	 * the wait for a synchronous standby too, which no flush below makes up for: after a
	 * failover the acked batch would be missing. So this commit runs at the level set at start
	 * (SET LOCAL: the session's own value is back after it).
	 */
	if (durable && durable_name != NULL && synchronous_commit < durable_level)
		(void) set_config_option("synchronous_commit", durable_name, PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
	CommitTransactionCommand();
	/*
	 * An ack, or a report that leads to one, or a publication, follows this commit: it must be
	 * on disk first, or a crash loses what the broker has dropped. synchronous_commit = on (set
	 * at start) flushes it already, unless something turned it off since: a handler may run
	 * SET synchronous_commit = off or set_config() for its session, and the message worker's
	 * own override once outlived its transaction and lost a batch (docs/worker.md "Durable
	 * before acked"). So flush here, whatever the setting: the end of this process's last
	 * commit record, and so every record before it; a no-op when it is on disk already.
	 */
	if (durable && !XLogRecPtrIsInvalid(XactLastCommitEnd))
		XLogFlush(XactLastCommitEnd);
	/* The commit left TopMemoryContext current: anything allocated there would leak. */
	MemoryContextSwitchTo(loop_cxt);
	/* Without this autovacuum never hears of the worker's inserts and updates. */
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	hublink_count_flush();
}
