/*
 * applier.c - an applier process (hublink.appliers >= 2; docs/worker.md "Appliers").
 *
 * The message worker (dispatch.c) starts one per partition as a dynamic background worker and
 * sends it, through a message queue in a segment of its own, the deliveries whose removal
 * hashes to its partition, in the order the broker delivered them. The applier applies them
 * exactly as the message worker does with one applier (inbox.c: each in a subtransaction,
 * the inbox's unique messageId making a repeat harmless), commits, and only then reports their
 * delivery tags back; the message worker acks a delivery only after its report. So:
 *
 * - a removal's messages are applied in order: one partition, one process, one queue;
 * - an applier that dies mid-batch (its transaction rolled back, or committed but not yet
 *   reported) loses nothing: the message worker sends its unreported deliveries again, in
 *   order, to its successor, and a committed one is then a duplicate with no second effect;
 * - when the message worker goes away, its queues detach and the applier exits; the broker
 *   gives the unacked deliveries to the next message worker, and the inbox dedups them.
 *
 * Batches adapt as in the message worker: up to hublink.batch_size, what is already queued,
 * cut after hublink.batch_time_limit unless a backlog of batch_size waits.
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "applier.h"
#include "inbox.h"
#include "worker.h"
#include "worker_txn.h"

static shm_mq_handle *in_queue = NULL;
static shm_mq_handle *out_queue = NULL;
static HublinkApplierHeader *header = NULL;
static int my_index = 0;
static MemoryContext delivery_cxt = NULL; /* the loop's: a delivery may outlive a transaction */

/* The message worker is gone (its queue detached): nothing of ours is left to do. */
static void
dispatcher_gone(void)
{
	ereport(DEBUG1, (errmsg_internal("hublink applier %d: the message worker is gone", my_index)));
	proc_exit(0);
}

/* Copy one delivery off the queue (the queue's memory is reused by the next receive). */
static HublinkDelivery *
unpack(const char *data, Size len, uint64 *generation)
{
	HublinkWireDelivery w;
	MemoryContext old = MemoryContextSwitchTo(delivery_cxt);
	HublinkDelivery *d = palloc0(sizeof(HublinkDelivery));
	const char *p = data + sizeof(HublinkWireDelivery);

	if (len < sizeof(HublinkWireDelivery))
		elog(ERROR, "hublink applier: short delivery on its queue (%zu bytes)", len);
	memcpy(&w, data, sizeof(w));
	if (len != sizeof(w) + w.queue_len + w.user_id_len + w.body_len)
		elog(ERROR, "hublink applier: malformed delivery on its queue");
	*generation = w.generation;
	d->delivery_tag = w.delivery_tag;
	d->queue = pnstrdup(p, w.queue_len);
	p += w.queue_len;
	d->user_id = w.has_user_id ? pnstrdup(p, w.user_id_len) : NULL;
	p += w.user_id_len;
	d->len = w.body_len;
	d->body = palloc(d->len + 1);
	memcpy(d->body, p, d->len);
	d->body[d->len] = '\0';
	d->has_timestamp = w.has_timestamp;
	d->amqp_timestamp = w.amqp_timestamp;
	d->has_enqueued_us = w.has_enqueued_us;
	d->enqueued_us = w.enqueued_us;
	d->received_at = w.received_at;
	d->redelivered = w.redelivered;
	MemoryContextSwitchTo(old);
	return d;
}

/* A reload (SIGHUP sets the latch): read the settings now, and say so (worker_processes). */
static void
reload_if_pending(void)
{
	if (!ConfigReloadPending)
		return;
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	hublink_shmem_settings_loaded(HUBLINK_SLOT_APPLIER_FIRST + my_index);
}

/*
 * The next delivery: waiting for one when wait, else NULL when none is queued. The wait is on
 * the latch, not inside shm_mq_receive, so that a reload is handled while the applier is idle
 * (the message worker's send sets this latch): a batch after a reload runs with its settings.
 */
static HublinkDelivery *
next_delivery(bool wait, uint64 *generation)
{
	Size len;
	void *data;
	shm_mq_result r;

	for (;;)
	{
		r = shm_mq_receive(in_queue, &len, &data, true);
		if (r != SHM_MQ_WOULD_BLOCK || !wait)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1, WAIT_EVENT_MQ_RECEIVE);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		reload_if_pending();
	}
	if (r == SHM_MQ_WOULD_BLOCK)
		return NULL;
	if (r == SHM_MQ_DETACHED)
		dispatcher_gone();
	pg_atomic_fetch_sub_u32(&header->queued, 1);
	return unpack(data, len, generation);
}

/* Deliveries queued behind the one taken (the counter may lag a send by a moment). */
static int
queued_behind(void)
{
	int q = (int) pg_atomic_read_u32(&header->queued);

	return q < 0 ? 0 : q;
}

/*
 * As in the message worker (worker_main.c): a batch takes at most what was queued when it
 * began, never a delivery that arrives while it runs. At a steady rate a batch that kept
 * taking newcomers until hublink.batch_time_limit ran out made its first message wait the
 * whole limit and a commit behind every later one (docs/performance.md "Fourth pass": the
 * appliers' steady p99).
 */
static bool
batch_full(int applied, int limit, TimestampTz started)
{
	if (applied >= limit)
		return true;
	if (hublink_batch_time_limit <= 0 || queued_behind() >= hublink_batch_size)
		return false;
	return TimestampDifferenceExceeds(started, GetCurrentTimestamp(), hublink_batch_time_limit);
}

/*
 * Apply first and whatever follows it on the queue in one transaction; after the commit,
 * report the delivery tags. Deliveries of an earlier connection of the message worker are
 * applied too (the inbox dedups their redeliveries), and reported under their generation.
 */
static void
apply_batch(HublinkDelivery *first, uint64 generation, MemoryContext loop_cxt)
{
	HublinkWireReport report;
	HublinkWireDone *done = palloc(sizeof(HublinkWireDone) * hublink_batch_size);
	HublinkDelivery *d = first;
	uint64 next_generation = 0;
	HublinkDelivery *held = NULL; /* received for a later batch (another generation) */
	shm_mq_iovec iov[2];
	TimestampTz started;
	int n = 0;
	int limit = Min(hublink_batch_size, 1 + queued_behind());

	report.generation = generation;
	report.next_retry_at = DT_NOEND;
	hublink_shmem_set_state(HUBLINK_SLOT_APPLIER_FIRST + my_index, HUBLINK_APPLIER_APPLYING);
	hublink_txn_begin("applying messages", true);
	started = GetCurrentTimestamp();
	hublink_inbox_begin_transaction();
	for (;;)
	{
		TimestampTz retry_at = DT_NOEND;

		done[n].delivery_tag = d->delivery_tag;
		done[n].outcome = (int32) hublink_inbox_apply(d, &retry_at);
		if (done[n].outcome == HUBLINK_DEFERRED && retry_at < report.next_retry_at)
			report.next_retry_at = retry_at;
		n++;
		if (batch_full(n, limit, started))
			break;
		d = next_delivery(false, &next_generation);
		if (d == NULL)
			break;
		if (next_generation != generation)
		{
			held = d;
			break;
		}
	}
	/* The consumer acks after this report: the commit must be on disk first. */
	hublink_txn_commit(loop_cxt, true);

	report.n = n;
	iov[0].data = (const char *) &report;
	iov[0].len = sizeof(report);
	iov[1].data = (const char *) done;
	iov[1].len = sizeof(HublinkWireDone) * n;
	if (shm_mq_sendv(out_queue, iov, 2, false, true) != SHM_MQ_SUCCESS)
		dispatcher_gone();
	if (held != NULL)
		apply_batch(held, next_generation, loop_cxt);
}

void
hublink_applier_main(Datum arg)
{
	dsm_segment *seg;
	shm_mq *in_mq, *out_mq;
	MemoryContext loop_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* No resource owner yet: the mapping lasts as long as the process. */
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("hublink applier could not map its queues"),
						errdetail("The message worker that started it has gone.")));
	header = dsm_segment_address(seg);
	my_index = header->index;
	in_mq = (shm_mq *) ((char *) header + MAXALIGN(sizeof(HublinkApplierHeader)));
	out_mq = (shm_mq *) ((char *) in_mq + HUBLINK_APPLIER_IN_BYTES);
	shm_mq_set_receiver(in_mq, MyProc);
	shm_mq_set_sender(out_mq, MyProc);
	in_queue = shm_mq_attach(in_mq, seg, NULL);
	out_queue = shm_mq_attach(out_mq, seg, NULL);

	hublink_shmem_attach(HUBLINK_SLOT_APPLIER_FIRST + my_index, HUBLINK_APPLIER_STARTING);
	BackgroundWorkerInitializeConnection(hublink_database, NULL, 0);
	pgstat_report_appname("hublink applier");
	/* As in the message worker: a report (and so an ack) follows a commit; no JIT. */
	hublink_txn_durable_setup();
	SetConfigOption("jit", "off", PGC_USERSET, PGC_S_OVERRIDE);
	loop_cxt =
		AllocSetContextCreate(TopMemoryContext, "hublink applier loop", ALLOCSET_DEFAULT_SIZES);
	delivery_cxt = loop_cxt;
	MemoryContextSwitchTo(loop_cxt);

	for (;;)
	{
		HublinkDelivery *d;
		uint64 generation;

		MemoryContextSwitchTo(loop_cxt);
		MemoryContextReset(loop_cxt);
		CHECK_FOR_INTERRUPTS();
		hublink_shmem_set_state(HUBLINK_SLOT_APPLIER_FIRST + my_index, HUBLINK_APPLIER_IDLE);
		pgstat_report_activity(STATE_IDLE, NULL);
		/* Waits on the latch (interrupts are served there) until a delivery arrives. */
		d = next_delivery(true, &generation);
		/* A reload that came with the delivery: settings for this batch. */
		reload_if_pending();
		apply_batch(d, generation, loop_cxt);
	}
}
