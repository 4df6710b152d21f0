/*
 * worker_shmem.c - the worker's registration, its shared memory, and what other backends do
 * with it: read its status (hublink.worker_status) and wake it when they commit outbox rows.
 *
 * The shared block holds the worker's latch, so hublink.send() can wake it at commit (a
 * transaction callback) instead of the worker polling the outbox; and the state and counters
 * the status views show. The jobs worker (jobs_worker.c) has a latch and a state of its own.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "hublink.h"
#include "shmem_hooks.h"
#include "worker.h"

#define MAX_QUEUE_STATS 64
#define QUEUE_NAME_LEN  128
#define ERROR_LEN       512

typedef struct QueueStats
{
	char queue[QUEUE_NAME_LEN];
	uint64 counts[HUBLINK_N_COUNTERS];
} QueueStats;

typedef struct WorkerShared
{
	slock_t mutex;
	pid_t pid;
	Latch *latch; /* the worker's process latch; NULL while no worker runs */
	HublinkWorkerState state;
	TimestampTz state_since;
	TimestampTz started_at;
	char last_error[ERROR_LEN];
	TimestampTz last_error_at;
	bool jobs_changed; /* hublink.worker_job changed: re-read when the next job is due */
	/* The jobs worker: its latch (NULL while it does not run), process and state. */
	Latch *jobs_latch;
	pid_t jobs_pid;
	HublinkJobsWorkerState jobs_state;
	TimestampTz jobs_state_since;
	TimestampTz jobs_started_at;
	bool jobs_worker_changed; /* as jobs_changed, for the jobs worker */
	int n_queues;
	QueueStats queues[MAX_QUEUE_STATS];
} WorkerShared;

static WorkerShared *shared = NULL;

/* The names hublink.worker_status shows for HublinkJobsWorkerState. */
static const char *const jobs_state_names[] = {
	[HUBLINK_JOBS_STOPPED] = "stopped",
	[HUBLINK_JOBS_OFF] = "off (jobs run in the message worker)",
	[HUBLINK_JOBS_WAITING] = "waiting for the message worker's configuration or a usable role",
	[HUBLINK_JOBS_IDLE] = "idle",
	[HUBLINK_JOBS_RUNNING] = "running jobs",
};

/* The names hublink.worker_status shows for HublinkWorkerState. */
static const char *const state_names[] = {
	[HUBLINK_STATE_STOPPED] = "stopped",
	[HUBLINK_STATE_STARTING] = "starting",
	[HUBLINK_STATE_WAITING_FOR_EXTENSION] = "waiting for extension",
	[HUBLINK_STATE_MISCONFIGURED] = "misconfigured",
	[HUBLINK_STATE_CONNECTING] = "connecting",
	[HUBLINK_STATE_CONNECTED] = "connected",
	[HUBLINK_STATE_DISCONNECTED] = "disconnected",
};

static void
request_shmem(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(WorkerShared)));
}

static void
startup_shmem(void)
{
	bool found;

	shared = ShmemInitStruct("hublink worker", sizeof(WorkerShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(WorkerShared));
		SpinLockInit(&shared->mutex);
		shared->state = HUBLINK_STATE_STOPPED;
	}
}

void
hublink_shmem_setup(void)
{
	hublink_shmem_add(request_shmem, startup_shmem);
}

void
hublink_worker_register(void)
{
	BackgroundWorker worker;

	hublink_shmem_setup();
	if (!hublink_worker_enabled)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* Only a primary publishes and consumes: a standby never finishes recovery. */
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = hublink_worker_restart_interval;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "hublink");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "hublink_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "hublink worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "hublink worker");
	RegisterBackgroundWorker(&worker);

	/* The jobs, off the message path: same database, same start and restart rules. */
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "hublink_jobs_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "hublink jobs");
	snprintf(worker.bgw_type, BGW_MAXLEN, "hublink jobs");
	RegisterBackgroundWorker(&worker);
}

/* Forget the latch before the PGPROC goes back to the pool. */
static void
detach_worker(int code, Datum arg)
{
	SpinLockAcquire(&shared->mutex);
	shared->latch = NULL;
	shared->pid = 0;
	shared->state = HUBLINK_STATE_STOPPED;
	shared->state_since = GetCurrentTimestamp();
	SpinLockRelease(&shared->mutex);
}

void
hublink_shmem_attach_worker(void)
{
	TimestampTz now = GetCurrentTimestamp();

	if (shared == NULL)
		elog(ERROR, "hublink shared memory is not initialised");
	SpinLockAcquire(&shared->mutex);
	shared->latch = MyLatch;
	shared->pid = MyProcPid;
	shared->started_at = now;
	shared->state = HUBLINK_STATE_STARTING;
	shared->state_since = now;
	SpinLockRelease(&shared->mutex);
	before_shmem_exit(detach_worker, (Datum) 0);
}

static void
detach_jobs_worker(int code, Datum arg)
{
	SpinLockAcquire(&shared->mutex);
	shared->jobs_latch = NULL;
	shared->jobs_pid = 0;
	shared->jobs_state = HUBLINK_JOBS_STOPPED;
	shared->jobs_state_since = GetCurrentTimestamp();
	SpinLockRelease(&shared->mutex);
}

void
hublink_shmem_attach_jobs_worker(void)
{
	TimestampTz now = GetCurrentTimestamp();

	if (shared == NULL)
		elog(ERROR, "hublink shared memory is not initialised");
	SpinLockAcquire(&shared->mutex);
	shared->jobs_latch = MyLatch;
	shared->jobs_pid = MyProcPid;
	shared->jobs_started_at = now;
	shared->jobs_state = HUBLINK_JOBS_WAITING;
	shared->jobs_state_since = now;
	SpinLockRelease(&shared->mutex);
	before_shmem_exit(detach_jobs_worker, (Datum) 0);
}

void
hublink_shmem_set_jobs_worker_state(HublinkJobsWorkerState state)
{
	SpinLockAcquire(&shared->mutex);
	if (shared->jobs_state != state)
	{
		shared->jobs_state = state;
		shared->jobs_state_since = GetCurrentTimestamp();
	}
	SpinLockRelease(&shared->mutex);
}

/* The message worker runs and found its configuration: the condition for running jobs. */
bool
hublink_shmem_worker_configured(void)
{
	bool configured;

	SpinLockAcquire(&shared->mutex);
	configured = shared->pid != 0 && (shared->state == HUBLINK_STATE_CONNECTING ||
									  shared->state == HUBLINK_STATE_CONNECTED ||
									  shared->state == HUBLINK_STATE_DISCONNECTED);
	SpinLockRelease(&shared->mutex);
	return configured;
}

void
hublink_shmem_set_state(HublinkWorkerState state)
{
	SpinLockAcquire(&shared->mutex);
	if (shared->state != state)
	{
		shared->state = state;
		shared->state_since = GetCurrentTimestamp();
	}
	SpinLockRelease(&shared->mutex);
}

void
hublink_shmem_set_error(const char *error)
{
	SpinLockAcquire(&shared->mutex);
	strlcpy(shared->last_error, error, ERROR_LEN);
	shared->last_error_at = GetCurrentTimestamp();
	SpinLockRelease(&shared->mutex);
}

void
hublink_shmem_count(const char *queue, HublinkCounter counter, uint64 n)
{
	int i;

	if (n == 0 || queue == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	for (i = 0; i < shared->n_queues; i++)
		if (strcmp(shared->queues[i].queue, queue) == 0)
			break;
	if (i == shared->n_queues && i < MAX_QUEUE_STATS)
	{
		strlcpy(shared->queues[i].queue, queue, QUEUE_NAME_LEN);
		memset(shared->queues[i].counts, 0, sizeof(shared->queues[i].counts));
		shared->n_queues++;
	}
	/* Past MAX_QUEUE_STATS distinct queues the counts are dropped, never the messages. */
	if (i < MAX_QUEUE_STATS)
		shared->queues[i].counts[counter] += n;
	SpinLockRelease(&shared->mutex);
}

/* --- waking the worker at commit --------------------------------------------------------- */

static bool wake_pending = false;
static bool jobs_wake_pending = false;
static bool wake_callback_registered = false;

static void
wake_worker(bool jobs_worker_too)
{
	Latch *latch = NULL;
	Latch *jobs_latch = NULL;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	latch = shared->latch;
	jobs_latch = jobs_worker_too ? shared->jobs_latch : NULL;
	SpinLockRelease(&shared->mutex);
	/* A stale latch (the worker just exited) only causes a spurious wake-up of its successor. */
	if (latch != NULL)
		SetLatch(latch);
	if (jobs_latch != NULL)
		SetLatch(jobs_latch);
}

static void
wake_at_commit(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			/* After PREPARE the rows become visible at COMMIT PREPARED; see docs/worker.md. */
			if (jobs_wake_pending && shared != NULL)
			{
				SpinLockAcquire(&shared->mutex);
				shared->jobs_changed = true;
				shared->jobs_worker_changed = true;
				SpinLockRelease(&shared->mutex);
			}
			if (wake_pending || jobs_wake_pending)
				wake_worker(jobs_wake_pending);
			wake_pending = false;
			jobs_wake_pending = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			wake_pending = false;
			jobs_wake_pending = false;
			break;
		default:
			break;
	}
}

static void
register_wake_callback(void)
{
	if (!wake_callback_registered)
	{
		RegisterXactCallback(wake_at_commit, NULL);
		wake_callback_registered = true;
	}
}

PG_FUNCTION_INFO_V1(hublink_wake_worker_at_commit);

Datum
hublink_wake_worker_at_commit(PG_FUNCTION_ARGS)
{
	register_wake_callback();
	wake_pending = true;
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(hublink_wake_worker_for_jobs_at_commit);

/* hublink.schedule_worker_job: a job became due sooner than the worker thinks. */
Datum
hublink_wake_worker_for_jobs_at_commit(PG_FUNCTION_ARGS)
{
	register_wake_callback();
	jobs_wake_pending = true;
	PG_RETURN_VOID();
}

bool
hublink_shmem_take_jobs_changed(void)
{
	bool changed;

	if (shared == NULL)
		return false;
	SpinLockAcquire(&shared->mutex);
	changed = shared->jobs_changed;
	shared->jobs_changed = false;
	SpinLockRelease(&shared->mutex);
	return changed;
}

bool
hublink_shmem_take_jobs_worker_changed(void)
{
	bool changed;

	SpinLockAcquire(&shared->mutex);
	changed = shared->jobs_worker_changed;
	shared->jobs_worker_changed = false;
	SpinLockRelease(&shared->mutex);
	return changed;
}

/* --- the status functions behind hublink.worker_status ----------------------------------- */

PG_FUNCTION_INFO_V1(hublink_jobs_worker_state);

/* hublink.jobs_worker_state(): the jobs worker's process, state and since when. */
Datum
hublink_jobs_worker_state(PG_FUNCTION_ARGS)
{
	TupleDesc tupdesc;
	Datum values[4];
	bool nulls[4] = {false};
	pid_t pid;
	HublinkJobsWorkerState state;
	TimestampTz since, started;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("hublink shared memory is not available"),
				 errhint("Add hublink to shared_preload_libraries and restart the server.")));
	SpinLockAcquire(&shared->mutex);
	pid = shared->jobs_pid;
	state = shared->jobs_state;
	since = shared->jobs_state_since;
	started = shared->jobs_started_at;
	SpinLockRelease(&shared->mutex);

	values[0] = Int32GetDatum(pid);
	nulls[0] = pid == 0;
	values[1] = CStringGetTextDatum(jobs_state_names[state]);
	values[2] = TimestampTzGetDatum(since);
	nulls[2] = since == 0;
	values[3] = TimestampTzGetDatum(started);
	nulls[3] = started == 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

PG_FUNCTION_INFO_V1(hublink_worker_state);

Datum
hublink_worker_state(PG_FUNCTION_ARGS)
{
	TupleDesc tupdesc;
	Datum values[6];
	bool nulls[6] = {false};
	WorkerShared copy;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("hublink shared memory is not available"),
				 errhint("Add hublink to shared_preload_libraries and restart the server.")));

	SpinLockAcquire(&shared->mutex);
	copy.pid = shared->pid;
	copy.state = shared->state;
	copy.state_since = shared->state_since;
	copy.started_at = shared->started_at;
	memcpy(copy.last_error, shared->last_error, ERROR_LEN);
	copy.last_error_at = shared->last_error_at;
	SpinLockRelease(&shared->mutex);

	values[0] = Int32GetDatum(copy.pid);
	nulls[0] = copy.pid == 0;
	values[1] = CStringGetTextDatum(state_names[copy.state]);
	values[2] = TimestampTzGetDatum(copy.state_since);
	nulls[2] = copy.state_since == 0;
	values[3] = CStringGetTextDatum(copy.last_error);
	nulls[3] = copy.last_error[0] == '\0';
	values[4] = TimestampTzGetDatum(copy.last_error_at);
	nulls[4] = copy.last_error_at == 0;
	values[5] = TimestampTzGetDatum(copy.started_at);
	nulls[5] = copy.started_at == 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

PG_FUNCTION_INFO_V1(hublink_worker_queue_counters);

Datum
hublink_worker_queue_counters(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	QueueStats *copy;
	int n;

	if (shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("hublink shared memory is not available"),
				 errhint("Add hublink to shared_preload_libraries and restart the server.")));
	InitMaterializedSRF(fcinfo, 0);

	copy = palloc(sizeof(QueueStats) * MAX_QUEUE_STATS);
	SpinLockAcquire(&shared->mutex);
	n = shared->n_queues;
	memcpy(copy, shared->queues, sizeof(QueueStats) * n);
	SpinLockRelease(&shared->mutex);

	for (int i = 0; i < n; i++)
	{
		Datum values[1 + HUBLINK_N_COUNTERS];
		bool nulls[1 + HUBLINK_N_COUNTERS] = {false};

		values[0] = CStringGetTextDatum(copy[i].queue);
		for (int c = 0; c < HUBLINK_N_COUNTERS; c++)
			values[1 + c] = Int64GetDatum((int64) copy[i].counts[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
