/*
 * worker_main.c - the background worker's loop.
 *
 * One iteration: read whatever the broker sent (deliveries, publisher confirms); run one
 * transaction that marks confirmed outbox rows sent, applies a batch of deliveries, runs due
 * handler retries and fetches outbox rows to publish; after the commit, ack the batch and
 * publish the fetched rows. Due jobs (hublink.worker_job: timers, purges) run in the jobs
 * worker (jobs_worker.c), or here in their own transaction when hublink.jobs_worker is off.
 * Then wait on the latch (set by hublink.send at commit, and by signals) and the broker
 * socket, with a timeout only for heartbeats, backoff, retries and the next job.
 * No transaction, and so no lock, is open while waiting.
 *
 * Start-up finishes what a crash left half done without special code: unacked deliveries
 * come again from the broker (and dedup in the inbox), unsent outbox rows are fetched from
 * the start, and retrying inbox rows keep their schedule.
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

#include "alert_delivery.h"
#include "broker.h"
#include "connection.h"
#include "counters.h"
#include "dispatch.h"
#include "inbox.h"
#include "jobs.h"
#include "outbox.h"
#include "pending.h"
#include "token.h"
#include "worker.h"
#include "worker_role.h"
#include "worker_txn.h"

/* Most outbox rows fetched in one transaction. */
#define OUTBOX_FETCH_MAX 500
/* Wait between checks for CREATE EXTENSION when it is not installed yet. */
#define EXTENSION_RECHECK_MS 60000

/* After a token renewal, reconnect once nothing is in flight, or after this long anyway. */
#define TOKEN_RENEW_GRACE_MS 5000

static bool outbox_dirty = true;
static TimestampTz renewed_at = 0; /* outbox rows may wait: fetch them */
/* What one iteration allocates outside a transaction (error texts); reset every iteration. */
static MemoryContext loop_cxt = NULL;
static TimestampTz next_retry_at = DT_NOEND;
static char *connection_signature = NULL;
/* Set once configure() found hublink.worker_role usable: every transaction then runs as it. */
static bool role_checked = false;

static const HublinkBrokerCallbacks callbacks = {
	.on_delivery = hublink_pending_add,
	.on_confirm = hublink_outbox_on_confirm,
	.on_return = hublink_outbox_on_return,
};

static void
begin_transaction(const char *activity)
{
	hublink_txn_begin(activity, role_checked);
}

/* durable: the commit is on disk on return (an ack or a publication follows it). */
static void
commit_transaction(bool durable)
{
	hublink_txn_commit(loop_cxt, durable);
}

static void
close_at_exit(int code, Datum arg)
{
	HublinkBroker *broker = hublink_conn_broker();

	/* Unacked deliveries go back to their queues; unsent outbox rows wait in the table. */
	if (broker != NULL)
		hublink_broker_close(broker);
}

static void
reload_settings(void)
{
	char *signature;

	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	signature = hublink_connection_signature();
	if (connection_signature == NULL || strcmp(signature, connection_signature) != 0)
	{
		if (connection_signature != NULL)
			hublink_conn_drop("its settings changed");
		connection_signature = MemoryContextStrdup(TopMemoryContext, signature);
	}
	pfree(signature);
	/* Last: once a test sees the new time, a connection the settings changed is dropped. */
	hublink_shmem_settings_loaded(HUBLINK_SLOT_MESSAGES);
}

/*
 * Wait until the extension is installed and hublink.party names a party, then load the
 * queues. A misconfiguration waits for a reload (SIGHUP sets the latch), not a timer.
 */
static void
configure(void)
{
	HublinkWorkerState reported = HUBLINK_STATE_STOPPED;

	for (;;)
	{
		bool installed;
		char *problem = NULL;
		char *role_problem = NULL;
		int rc;

		begin_transaction("reading configuration");
		if (SPI_execute("SELECT 1 FROM pg_extension WHERE extname = 'hublink'", true, 1) !=
			SPI_OK_SELECT)
			elog(ERROR, "could not look up the hublink extension");
		installed = SPI_processed == 1;
		if (installed && !role_checked)
		{
			Oid role;

			role_problem = hublink_worker_role_problem(&role);
			if (role_problem == NULL)
			{
				hublink_worker_role_enter(role);
				role_checked = true;
			}
			else
				role_problem = MemoryContextStrdup(TopMemoryContext, role_problem);
		}
		if (installed && role_problem == NULL)
		{
			problem = hublink_conn_load_queues();
			if (problem == NULL)
				next_retry_at = hublink_inbox_next_retry();
		}
		if (problem != NULL)
			problem = MemoryContextStrdup(TopMemoryContext, problem);
		commit_transaction(false);

		if (installed && role_problem == NULL && problem == NULL)
			return;
		if (!installed && reported != HUBLINK_STATE_WAITING_FOR_EXTENSION)
		{
			reported = HUBLINK_STATE_WAITING_FOR_EXTENSION;
			hublink_shmem_set_state(HUBLINK_SLOT_MESSAGES, reported);
			ereport(LOG, (errmsg("hublink worker is waiting for CREATE EXTENSION hublink in "
								 "database \"%s\"",
								 hublink_database)));
		}
		else if (role_problem != NULL)
		{
			/* Warned at every check: a role is fixed by SQL, which sends no reload. */
			reported = HUBLINK_STATE_MISCONFIGURED;
			hublink_shmem_set_state(HUBLINK_SLOT_MESSAGES, reported);
			hublink_shmem_set_error(role_problem);
			ereport(WARNING,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("hublink worker cannot start: its role is not usable"),
					 errdetail_internal("%s", role_problem),
					 errhint("Set hublink.worker_role to a role that is a member of "
							 "hublink_worker and neither a superuser nor BYPASSRLS, or fix "
							 "the role; the worker checks again every minute.")));
		}
		else if (installed && reported != HUBLINK_STATE_MISCONFIGURED)
		{
			reported = HUBLINK_STATE_MISCONFIGURED;
			hublink_shmem_set_state(HUBLINK_SLOT_MESSAGES, reported);
			hublink_shmem_set_error(problem);
			ereport(
				WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hublink worker cannot start: %s", problem),
				 errhint("Set hublink.party to hub, tsp or esp (and hublink.broker_user, or one "
						 "row of hublink.broker_identity for the party), then reload the "
						 "configuration.")));
		}
		if (problem)
			pfree(problem);
		if (role_problem)
			pfree(role_problem);
		/* CREATE EXTENSION wakes the worker at its commit; the timeout is a fallback. */
		rc = WaitLatch(MyLatch,
					   WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
						   (installed && role_problem == NULL ? 0 : WL_TIMEOUT),
					   EXTENSION_RECHECK_MS, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
			reload_settings();
	}
}

/* Deliveries this process applies itself: all of them unless appliers do (dispatch.c). */
static bool
deliveries_to_apply(void)
{
	return !hublink_dispatch_enabled() && hublink_pending_count() > 0;
}

/*
 * How many of the n deliveries taken for this batch to apply before committing (adaptive
 * batching, docs/worker.md "Batches and latency"). Every message of a batch waits for the
 * batch's commit before its effects and replies go out, so when the queue is shallow (fewer
 * than hublink.batch_size deliveries wait behind the batch) the batch commits once it has run
 * hublink.batch_time_limit: at a steady rate a message waits behind a few milliseconds of
 * work, not behind 32 messages. A backlog (a burst, an outage drained) keeps full batches:
 * there every message waits anyway, and fewer commits drain it sooner.
 */
static bool
batch_full(int applied, int n, int behind, TimestampTz started)
{
	if (applied >= n)
		return true;
	if (behind >= hublink_batch_size || hublink_batch_time_limit <= 0)
		return false;
	return TimestampDifferenceExceeds(started, GetCurrentTimestamp(), hublink_batch_time_limit);
}

/* One transaction of work, then acks and publishes. True when more work is ready now. */
static bool
work(void)
{
	HublinkBroker *broker = hublink_conn_broker();
	/* With appliers the deliveries are theirs (dispatch.c): this transaction applies none. */
	int pending = hublink_dispatch_enabled() ? 0 : hublink_pending_count();
	int n = Min(pending, hublink_batch_size);
	bool retries_due = next_retry_at <= GetCurrentTimestamp();
	int fetched = 0;
	int applied = 0;
	uint64 last_tag = 0;
	char *error = NULL;
	TimestampTz started;

	begin_transaction(hublink_dispatch_enabled() ? "publishing messages" : "applying messages");
	started = GetCurrentTimestamp();
	hublink_outbox_mark_sent();
	if (n > 0 || retries_due)
		hublink_inbox_begin_transaction();
	while (!batch_full(applied, n, pending - n, started))
	{
		HublinkDelivery *d = hublink_pending_get(applied);
		TimestampTz retry_at = DT_NOEND;

		if (hublink_inbox_apply(d, &retry_at) == HUBLINK_DEFERRED && retry_at < next_retry_at)
			next_retry_at = retry_at;
		last_tag = d->delivery_tag;
		applied++;
		hublink_broker_keepalive(broker); /* a long batch must not look like a dead peer */
	}
	n = applied;
	if (retries_due)
	{
		hublink_inbox_run_retries(hublink_batch_size);
		next_retry_at = hublink_inbox_next_retry();
	}
	/* Handlers and Error messages wrote to the outbox in this very transaction. */
	if (n > 0 || retries_due)
		outbox_dirty = true;
	/*
	 * hublink_outbox_rescan_due: nothing is in flight since a fetch after the watermark, which
	 * missed any row of a lower id committed after it. The last confirms are marked sent in a
	 * transaction within MARK_SENT_DELAY_MS (outbox.c), and that transaction fetches again.
	 */
	if (broker != NULL && (outbox_dirty || hublink_outbox_rescan_due()))
	{
		int limit = Min(hublink_outbox_room(), OUTBOX_FETCH_MAX);

		if (limit > 0)
		{
			fetched = hublink_outbox_fetch(limit);
			if (fetched < limit)
				outbox_dirty = false;
		}
	}
	/*
	 * Rows committed asynchronously by other sessions may not be on disk yet, and a crash
	 * would then lose the cause of a message already published. With an xid this transaction
	 * writes a commit record, flushed below (commit_transaction(true)), and with it every
	 * commit before it. (XLogFlush of the current insert position instead fails when that
	 * position is the first byte after a page header: "xlog flush request ... is not
	 * satisfied"; the benchmark met it.)
	 */
	if (fetched > 0)
		(void) GetTopTransactionId();
	/*
	 * A transaction that only marked confirmed rows sent need not wait for the disk: were it
	 * lost in a crash, the rows would be published again, which receivers dedup (at-least-once,
	 * as after any crash between a confirm and its mark). It acks and publishes nothing.
	 * PGC_S_SESSION with GUC_ACTION_LOCAL is SET LOCAL: undone at the commit. (It was
	 * PGC_S_OVERRIDE, which PostgreSQL treats as a new default, not transactionally: from the
	 * first such transaction on, every commit of the worker was asynchronous, batches were
	 * acked before their commit reached the disk, and a postmaster crash lost the last one;
	 * docs/worker.md "Durable before acked".)
	 */
	else if (n == 0 && !retries_due)
		(void) set_config_option("synchronous_commit", "off", PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
	/* Acked or published next: on disk first, whatever synchronous_commit is now. */
	commit_transaction(n > 0 || fetched > 0);
	hublink_outbox_after_commit();

	/* Acked only now: a crash before this line redelivers, and the inbox dedups. */
	if (n > 0)
	{
		for (int i = 0; i < n; i++)
			hublink_count(hublink_pending_get(i)->queue, HUBLINK_COUNT_ACKED, 1);
		if (!hublink_broker_ack(broker, last_tag, true, &error))
		{
			hublink_count_discard();
			hublink_conn_failed(error);
			return false;
		}
		hublink_count_flush();
		hublink_pending_remove(n);
	}
	if (fetched > 0 && !hublink_outbox_publish(broker, &error))
	{
		hublink_conn_failed(error);
		return false;
	}
	return deliveries_to_apply() || next_retry_at <= GetCurrentTimestamp() ||
		   (outbox_dirty && hublink_outbox_room() > 0);
}

/* Read what the broker sent; false when the connection failed (already handled). */
static bool
read_broker(void)
{
	HublinkBroker *broker = hublink_conn_broker();
	char *error = NULL;

	if (broker == NULL)
		return false;
	if (!hublink_broker_drain(broker, &callbacks, hublink_pending_context(),
							  4 * hublink_prefetch + 2 * hublink_outbox_max_in_flight, &error))
	{
		hublink_conn_failed(error);
		return false;
	}
	if ((error = hublink_outbox_take_refusal()) != NULL)
	{
		/* Reconnecting declares the queues again; the refused rows are published again. */
		hublink_conn_failed(error);
		return false;
	}
	if (hublink_outbox_in_flight() > 0 &&
		TimestampDifferenceExceeds(hublink_outbox_oldest_in_flight(), GetCurrentTimestamp(),
								   hublink_confirm_timeout))
	{
		hublink_conn_failed(
			psprintf("no publisher confirm arrived within %d ms", hublink_confirm_timeout));
		return false;
	}
	return true;
}

/* Milliseconds from now until t, rounded up (a latch wait of this long does not wake early). */
long
hublink_ms_until(TimestampTz t)
{
	long secs;
	int usecs;

	TimestampDifference(GetCurrentTimestamp(), t, &secs, &usecs);
	return secs * 1000 + usecs / 1000 + 1;
}

/* Wait for the latch, the socket, or the next timer; no timer means no timeout. */
static void
wait_for_events(void)
{
	HublinkBroker *broker = hublink_conn_broker();
	int events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH;
	long timeout = -1;
	int rc;

	if (broker != NULL)
	{
		events |= WL_SOCKET_READABLE;
		/* librabbitmq sends and checks heartbeats only when it is called. */
		if (hublink_broker_heartbeat > 0)
			timeout = hublink_broker_heartbeat * 1000L / 2;
		if (hublink_outbox_in_flight() > 0)
		{
			long confirm = hublink_ms_until(TimestampTzPlusMilliseconds(
				hublink_outbox_oldest_in_flight(), hublink_confirm_timeout));

			timeout = timeout < 0 ? confirm : Min(timeout, confirm);
		}
	}
	else
		timeout = hublink_conn_ms_until_attempt() + 1;
	if (next_retry_at != DT_NOEND)
	{
		long retry = hublink_ms_until(next_retry_at);

		timeout = timeout < 0 ? retry : Min(timeout, retry);
	}
	if (hublink_dispatch_timeout_ms() >= 0)
	{
		long appliers = hublink_dispatch_timeout_ms();

		timeout = timeout < 0 ? appliers : Min(timeout, appliers);
	}
	if (hublink_outbox_marks_due_at() != DT_NOEND)
	{
		long marks = hublink_ms_until(hublink_outbox_marks_due_at());

		timeout = timeout < 0 ? marks : Min(timeout, marks);
	}
	{
		long alerts = hublink_alerts_timeout_ms();
		long token = hublink_token_timeout_ms();

		if (!hublink_jobs_worker)
		{
			long job = hublink_ms_until(hublink_jobs_next());

			timeout = timeout < 0 ? job : Min(timeout, job);
		}
		if (alerts >= 0)
			timeout = timeout < 0 ? alerts : Min(timeout, alerts);
		if (token >= 0)
			timeout = timeout < 0 ? token : Min(timeout, token);
	}
	if (timeout >= 0)
		events |= WL_TIMEOUT;

	pgstat_report_activity(STATE_IDLE, NULL);
	rc = WaitLatchOrSocket(MyLatch, events,
						   broker ? hublink_broker_socket(broker) : PGINVALID_SOCKET,
						   Max(timeout, 0), PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		/* Set by hublink.send at commit (or a signal): there may be rows to publish. */
		outbox_dirty = true;
		/* Also set when a transaction queued alert deliveries (hublink.alert_enqueue). */
		if (hublink_shmem_take_jobs_changed(HUBLINK_SLOT_MESSAGES))
		{
			hublink_jobs_reschedule();
			hublink_alerts_wake();
		}
	}
	CHECK_FOR_INTERRUPTS();
}

void
hublink_worker_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	hublink_shmem_attach(HUBLINK_SLOT_MESSAGES, HUBLINK_STATE_STARTING);
	BackgroundWorkerInitializeConnection(hublink_database, NULL, 0);
	pgstat_report_appname("hublink worker");
	hublink_txn_durable_setup();
	/*
	 * No JIT in the message worker: its statements are small and repeated, and a JIT-compiled
	 * plan costs seconds of CPU on the message path and leaves tens of megabytes of compiled
	 * code in this long-lived process (the soak's worker memory, docs/simulation.md).
	 */
	SetConfigOption("jit", "off", PGC_USERSET, PGC_S_OVERRIDE);
	hublink_pending_init();
	hublink_outbox_init();
	hublink_alerts_init();
	loop_cxt =
		AllocSetContextCreate(TopMemoryContext, "hublink worker loop", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(loop_cxt);
	before_shmem_exit(close_at_exit, (Datum) 0);

	reload_settings();
	configure();

	for (;;)
	{
		bool more;

		MemoryContextSwitchTo(loop_cxt);
		MemoryContextReset(loop_cxt);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			reload_settings();
			if (hublink_conn_broker() == NULL)
				configure(); /* the party, and so the queues, may have changed */
		}
		/* Token login: fetch or renew the token; reconnect with a renewed one when quiet. */
		hublink_token_drive();
		if (hublink_token_want_transaction())
		{
			begin_transaction("reporting a token failure");
			hublink_token_report();
			commit_transaction(false);
		}
		if (hublink_conn_broker() != NULL && hublink_token_renewed())
		{
			if (renewed_at == 0)
				renewed_at = GetCurrentTimestamp();
			if ((hublink_pending_count() == 0 && hublink_outbox_in_flight() == 0) ||
				TimestampDifferenceExceeds(renewed_at, GetCurrentTimestamp(), TOKEN_RENEW_GRACE_MS))
			{
				hublink_conn_drop("its broker access token was renewed");
				renewed_at = 0;
			}
		}
		hublink_conn_try();
		(void) read_broker();

		/*
		 * Jobs (timers, purges) run in the jobs worker (jobs_worker.c); with hublink.jobs_worker
		 * off, here, with or without a broker, in a transaction of their own.
		 */
		if (!hublink_jobs_worker && hublink_jobs_next() <= GetCurrentTimestamp())
		{
			begin_transaction("running jobs");
			hublink_jobs_run();
			commit_transaction(false);
		}
		/* Alert deliveries: claim and record in a transaction, send outside any (libcurl). */
		if (hublink_alerts_want_transaction())
		{
			begin_transaction("delivering alerts");
			hublink_alerts_exchange();
			commit_transaction(false);
		}
		hublink_alerts_perform();

		more = false;
		/*
		 * Appliers: take their reports, ack what they committed, send them what came.
		 * Their sends and reports set this process's latch.
		 */
		if (hublink_dispatch_enabled())
		{
			char *error = NULL;

			if (hublink_dispatch_poll(&next_retry_at))
				more = true;
			if (hublink_conn_broker() != NULL &&
				!hublink_dispatch_ack(hublink_conn_broker(), &error))
			{
				hublink_conn_failed(error);
				continue;
			}
		}
		if (deliveries_to_apply() || hublink_outbox_marks_due() ||
			next_retry_at <= GetCurrentTimestamp() ||
			(hublink_conn_broker() != NULL && outbox_dirty && hublink_outbox_room() > 0))
			more = work() || more;
		if (more)
			continue;
		if (hublink_conn_broker() != NULL && hublink_broker_has_buffered(hublink_conn_broker()))
			continue;
		wait_for_events();
	}
}
