/*
 * worker_shmem.c - the worker's registration, its shared memory, and what other backends do
 * with it: read its status (hublink.worker_status) and wake it when they commit outbox rows.
 *
 * The shared block holds one slot per process (ProcSlot: the message worker, the jobs worker
 * of jobs_worker.c, each applier of applier.c): its pid, its latch, so that hublink.send() can
 * wake the message worker at commit (a transaction callback) instead of it polling the outbox,
 * and its state; and the counters the status views show. Every process attaches, reports and
 * detaches through the same functions, keyed by HublinkSlot.
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
#include "applier.h"
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

/*
 * One process the status views show and other backends wake: the message worker, the jobs
 * worker and each applier have one (HublinkSlot). state holds that process's own enum
 * (HublinkWorkerState, HublinkJobsWorkerState, HublinkApplierState), whose value 0 is
 * "stopped".
 */
typedef struct ProcSlot
{
	pid_t pid;
	Latch *latch; /* the process latch; NULL while the process does not run */
	int state;
	TimestampTz state_since;
	TimestampTz started_at;
	/*
	 * The process's PgReloadTime: when the settings it runs with were read (inherited from the
	 * postmaster at fork, then at each SIGHUP it handles). Tests wait on it after a reload.
	 */
	TimestampTz settings_loaded_at;
	bool jobs_changed; /* hublink.worker_job changed: re-read when the next job is due */
} ProcSlot;

typedef struct WorkerShared
{
	slock_t mutex;
	ProcSlot slots[HUBLINK_N_SLOTS];
	char last_error[ERROR_LEN]; /* the message worker's (broker, token, configuration) */
	TimestampTz last_error_at;
	/* Publisher confirms the message worker holds whose sent_at is not yet committed. */
	int confirms_unmarked;
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

/* The names hublink.worker_appliers() shows for HublinkApplierState. */
static const char *const applier_state_names[] = {
	[HUBLINK_APPLIER_STOPPED] = "stopped",
	[HUBLINK_APPLIER_STARTING] = "starting",
	[HUBLINK_APPLIER_IDLE] = "idle",
	[HUBLINK_APPLIER_APPLYING] = "applying messages",
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
		SpinLockInit(&shared->mutex); /* every slot: pid 0, state 0 (stopped) */
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

static ProcSlot *
slot_of(HublinkSlot slot)
{
	if (shared == NULL)
		elog(ERROR, "hublink shared memory is not initialised");
	Assert(slot >= 0 && slot < HUBLINK_N_SLOTS);
	return &shared->slots[slot];
}

/* Forget the latch before the PGPROC goes back to the pool. */
static void
detach_slot(int code, Datum arg)
{
	ProcSlot *s = slot_of((HublinkSlot) DatumGetInt32(arg));

	SpinLockAcquire(&shared->mutex);
	s->latch = NULL;
	s->pid = 0;
	s->state = 0;
	s->state_since = GetCurrentTimestamp();
	if (DatumGetInt32(arg) == HUBLINK_SLOT_MESSAGES)
		shared->confirms_unmarked = 0; /* the next worker publishes them again */
	SpinLockRelease(&shared->mutex);
}

void
hublink_shmem_attach(HublinkSlot slot, int state)
{
	ProcSlot *s = slot_of(slot);
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&shared->mutex);
	s->latch = MyLatch;
	s->pid = MyProcPid;
	s->started_at = now;
	s->state = state;
	s->state_since = now;
	s->settings_loaded_at = PgReloadTime; /* the postmaster's, inherited at fork */
	SpinLockRelease(&shared->mutex);
	before_shmem_exit(detach_slot, Int32GetDatum((int32) slot));
}

void
hublink_shmem_settings_loaded(HublinkSlot slot)
{
	ProcSlot *s = slot_of(slot);

	SpinLockAcquire(&shared->mutex);
	s->settings_loaded_at = PgReloadTime;
	SpinLockRelease(&shared->mutex);
}

void
hublink_shmem_set_confirms_unmarked(int n)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	shared->confirms_unmarked = n;
	SpinLockRelease(&shared->mutex);
}

void
hublink_shmem_set_state(HublinkSlot slot, int state)
{
	ProcSlot *s = slot_of(slot);

	SpinLockAcquire(&shared->mutex);
	if (s->state != state)
	{
		s->state = state;
		s->state_since = GetCurrentTimestamp();
	}
	SpinLockRelease(&shared->mutex);
}

/* The message worker runs and found its configuration: the condition for running jobs. */
bool
hublink_shmem_worker_configured(void)
{
	ProcSlot *s = slot_of(HUBLINK_SLOT_MESSAGES);
	bool configured;

	SpinLockAcquire(&shared->mutex);
	configured = s->pid != 0 &&
				 (s->state == HUBLINK_STATE_CONNECTING || s->state == HUBLINK_STATE_CONNECTED ||
				  s->state == HUBLINK_STATE_DISCONNECTED);
	SpinLockRelease(&shared->mutex);
	return configured;
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

/*
 * Set the latches of the message worker and, for a change of the jobs, of both workers; a
 * change of the jobs is also flagged in each slot, so each re-reads the schedule.
 */
static void
wake_workers(bool jobs_changed)
{
	Latch *latches[HUBLINK_SLOT_APPLIER_FIRST] = {NULL};

	if (shared == NULL)
		return;
	/* The appliers need no waking: the message worker sends them their work. */
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < HUBLINK_SLOT_APPLIER_FIRST; i++)
	{
		if (jobs_changed)
			shared->slots[i].jobs_changed = true;
		if (i == HUBLINK_SLOT_MESSAGES || jobs_changed)
			latches[i] = shared->slots[i].latch;
	}
	SpinLockRelease(&shared->mutex);
	/* A stale latch (the worker just exited) only causes a spurious wake-up of its successor. */
	for (int i = 0; i < HUBLINK_SLOT_APPLIER_FIRST; i++)
		if (latches[i] != NULL)
			SetLatch(latches[i]);
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
			if (wake_pending || jobs_wake_pending)
				wake_workers(jobs_wake_pending);
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
hublink_shmem_take_jobs_changed(HublinkSlot slot)
{
	ProcSlot *s;
	bool changed;

	if (shared == NULL)
		return false;
	s = slot_of(slot);
	SpinLockAcquire(&shared->mutex);
	changed = s->jobs_changed;
	s->jobs_changed = false;
	SpinLockRelease(&shared->mutex);
	return changed;
}

/* --- the status functions behind hublink.worker_status ----------------------------------- */

static void
require_shared(void)
{
	if (shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("hublink shared memory is not available"),
				 errhint("Add hublink to shared_preload_libraries and restart the server.")));
}

/*
 * A slot as the first four columns of a status row: pid, state (by its name), state_since,
 * started_at; NULL where unset.
 */
static void
slot_values(HublinkSlot slot, const char *const *state_names, Datum *values, bool *nulls)
{
	ProcSlot copy;

	SpinLockAcquire(&shared->mutex);
	copy = shared->slots[slot];
	SpinLockRelease(&shared->mutex);
	values[0] = Int32GetDatum(copy.pid);
	nulls[0] = copy.pid == 0;
	values[1] = CStringGetTextDatum(state_names[copy.state]);
	nulls[1] = false;
	values[2] = TimestampTzGetDatum(copy.state_since);
	nulls[2] = copy.state_since == 0;
	values[3] = TimestampTzGetDatum(copy.started_at);
	nulls[3] = copy.started_at == 0;
}

PG_FUNCTION_INFO_V1(hublink_jobs_worker_state);

/* hublink.jobs_worker_state(): the jobs worker's process, state and since when. */
Datum
hublink_jobs_worker_state(PG_FUNCTION_ARGS)
{
	TupleDesc tupdesc;
	Datum values[4];
	bool nulls[4];

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	require_shared();
	slot_values(HUBLINK_SLOT_JOBS, jobs_state_names, values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

PG_FUNCTION_INFO_V1(hublink_worker_state);

Datum
hublink_worker_state(PG_FUNCTION_ARGS)
{
	TupleDesc tupdesc;
	Datum slot[4];
	bool slot_nulls[4];
	Datum values[6];
	bool nulls[6] = {false};
	char last_error[ERROR_LEN];
	TimestampTz last_error_at;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	require_shared();
	slot_values(HUBLINK_SLOT_MESSAGES, state_names, slot, slot_nulls);
	SpinLockAcquire(&shared->mutex);
	memcpy(last_error, shared->last_error, ERROR_LEN);
	last_error_at = shared->last_error_at;
	SpinLockRelease(&shared->mutex);

	/* pid, state, state_since, last_error, last_error_at, started_at */
	for (int i = 0; i < 3; i++)
	{
		values[i] = slot[i];
		nulls[i] = slot_nulls[i];
	}
	values[3] = CStringGetTextDatum(last_error);
	nulls[3] = last_error[0] == '\0';
	values[4] = TimestampTzGetDatum(last_error_at);
	nulls[4] = last_error_at == 0;
	values[5] = slot[3];
	nulls[5] = slot_nulls[3];
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

PG_FUNCTION_INFO_V1(hublink_worker_appliers);

/*
 * hublink.worker_appliers(): one row per applier hublink.appliers asks for (none when it is 1:
 * the message worker applies itself): its process, state and since when.
 */
Datum
hublink_worker_appliers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	require_shared();
	InitMaterializedSRF(fcinfo, 0);
	for (int k = 0; hublink_appliers >= 2 && k < hublink_appliers; k++)
	{
		Datum values[5];
		bool nulls[5];

		values[0] = Int32GetDatum(k);
		nulls[0] = false;
		slot_values(HUBLINK_SLOT_APPLIER_FIRST + k, applier_state_names, values + 1, nulls + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(hublink_worker_queue_counters);

Datum
hublink_worker_queue_counters(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	QueueStats *copy;
	int n;

	require_shared();
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

PG_FUNCTION_INFO_V1(hublink_worker_processes);

/*
 * hublink.worker_processes(): one row for the message worker, one for the jobs worker and one
 * per applier hublink.appliers asks for: process, state, and when its settings were read; for
 * the message worker, the publisher confirms whose sent_at is not yet committed. What a test
 * waits on after a reload or a publication (test/README.md "Ordering").
 */
Datum
hublink_worker_processes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int n_appliers = hublink_appliers >= 2 ? Min(hublink_appliers, HUBLINK_MAX_APPLIERS) : 0;

	require_shared();
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < HUBLINK_SLOT_APPLIER_FIRST + n_appliers; i++)
	{
		Datum values[8];
		bool nulls[8] = {false};
		ProcSlot copy;
		int unmarked;
		const char *const *names = i == HUBLINK_SLOT_MESSAGES ? state_names
								   : i == HUBLINK_SLOT_JOBS   ? jobs_state_names
															  : applier_state_names;

		SpinLockAcquire(&shared->mutex);
		copy = shared->slots[i];
		unmarked = shared->confirms_unmarked;
		SpinLockRelease(&shared->mutex);
		values[0] = CStringGetTextDatum(i == HUBLINK_SLOT_MESSAGES ? "messages"
										: i == HUBLINK_SLOT_JOBS   ? "jobs"
																   : "applier");
		values[1] = Int32GetDatum(i - HUBLINK_SLOT_APPLIER_FIRST);
		nulls[1] = i < HUBLINK_SLOT_APPLIER_FIRST;
		values[2] = Int32GetDatum(copy.pid);
		nulls[2] = copy.pid == 0;
		values[3] = CStringGetTextDatum(names[copy.state]);
		values[4] = TimestampTzGetDatum(copy.state_since);
		nulls[4] = copy.state_since == 0;
		values[5] = TimestampTzGetDatum(copy.started_at);
		nulls[5] = copy.pid == 0;
		values[6] = TimestampTzGetDatum(copy.settings_loaded_at);
		nulls[6] = copy.pid == 0;
		values[7] = Int32GetDatum(unmarked);
		nulls[7] = i != HUBLINK_SLOT_MESSAGES || copy.pid == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
