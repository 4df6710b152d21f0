/*
 * dispatch.c - the message worker's side of its appliers (hublink.appliers >= 2; applier.h,
 * docs/worker.md "Appliers").
 *
 * The message worker keeps every delivery in the pending list (pending.c, in delivery-tag
 * order) until it is acked. Each delivery goes to one applier, chosen by a hash of its
 * envelope's removalId, so all the messages of one removal go through one queue to one
 * process, in the order the broker delivered them. An applier reports the tags of the
 * deliveries whose transaction committed; only then is a delivery acked. When an applier
 * exits (an error, pg_terminate_backend, a crash of its own), its segment is dropped and a new
 * applier gets, in order, every delivery of the partition that was sent and not reported: one
 * that had committed is then a duplicate, recognised by the inbox, with no second effect.
 *
 * The queues are never waited on: sends and receives do not block, and an applier's send or
 * receive sets this process's latch, which wakes the loop.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "applier.h"
#include "counters.h"
#include "dispatch.h"
#include "hublink.h"
#include "pending.h"
#include "worker.h"

/* An applier that exited is started again after at least this long. */
#define APPLIER_RESTART_MS 1000

typedef struct Applier
{
	dsm_segment *seg; /* NULL while none runs */
	HublinkApplierHeader *header;
	shm_mq_handle *in;
	shm_mq_handle *out;
	BackgroundWorkerHandle *handle;
	TimestampTz started_at;
	bool warned; /* about failing to start it, until it runs */
} Applier;

static Applier appliers[HUBLINK_MAX_APPLIERS];
/* The broker connection the pending deliveries came on (their tags are its channel's). */
static uint64 generation = 1;

bool
hublink_dispatch_enabled(void)
{
	return hublink_appliers >= 2;
}

void
hublink_dispatch_new_generation(void)
{
	generation++;
}

/* --- the partition key ------------------------------------------------------------------- */

#if PG_VERSION_NUM >= 170000
#define make_lexer(json, len) makeJsonLexContextCstringLen(NULL, (json), (len), PG_UTF8, true)
#else
#define make_lexer(json, len) makeJsonLexContextCstringLen((json), (len), PG_UTF8, true)
#endif

/*
 * The envelope's removalId: the value of the top-level member "removalId", read token by token
 * by PostgreSQL's JSON lexer (strings de-escaped, so two spellings of one key or value are one)
 * and, like jsonb, the last of duplicate members. The lexer does not recurse, so no nesting can
 * raise an error in this process (which holds the broker connection). NULL when there is none
 * or the bytes are not JSON: such a message is rejected wherever it goes.
 */
static char *
envelope_removal_id(const char *body, size_t len)
{
	JsonLexContext *lex;
	char *key = NULL;
	int depth = 0;
	bool expect_key = false; /* at the top level, a member name comes next */
	bool at_removal_id = false;
	bool value_next = false; /* the top-level member's value comes next */

	if (len > (size_t) hublink_max_message_bytes ||
		!pg_verify_mbstr(PG_UTF8, body, (int) len, true))
		return NULL;
	lex = make_lexer(unconstify(char *, body), (int) len);
	for (;;)
	{
		JsonTokenType token;

		if (json_lex(lex) != JSON_SUCCESS)
			return NULL;
		token = lex->token_type;
		if (token == JSON_TOKEN_END)
			return key;
		if (depth == 0 && token != JSON_TOKEN_OBJECT_START)
			return NULL;
		if (depth == 1 && value_next)
		{
			/* The member's value: a string is the key; anything else replaces an earlier one. */
			if (at_removal_id)
				key = token == JSON_TOKEN_STRING ? pstrdup(lex->strval->data) : NULL;
			value_next = false;
		}
		else if (depth == 1 && expect_key && token == JSON_TOKEN_STRING)
		{
			at_removal_id = strcmp(lex->strval->data, "removalId") == 0;
			expect_key = false;
		}
		else if (depth == 1 && token == JSON_TOKEN_COLON)
			value_next = true;
		else if (depth == 1 && token == JSON_TOKEN_COMMA)
			expect_key = true;
		if (token == JSON_TOKEN_OBJECT_START || token == JSON_TOKEN_ARRAY_START)
		{
			if (++depth == 1)
				expect_key = true;
		}
		else if (token == JSON_TOKEN_OBJECT_END || token == JSON_TOKEN_ARRAY_END)
			depth--;
	}
}

int
hublink_dispatch_partition(const char *body, size_t len, int partitions)
{
	char *key;

	if (partitions <= 1 || (key = envelope_removal_id(body, len)) == NULL)
		return 0;
	return (int) (hash_bytes((const unsigned char *) key, (int) strlen(key)) % (uint32) partitions);
}

/* --- starting and losing appliers -------------------------------------------------------- */

static void
start_applier(int k)
{
	Applier *a = &appliers[k];
	Size size = MAXALIGN(sizeof(HublinkApplierHeader)) + HUBLINK_APPLIER_IN_BYTES +
				HUBLINK_APPLIER_OUT_BYTES;
	BackgroundWorker worker;
	MemoryContext old;
	shm_mq *in_mq, *out_mq;

	a->started_at = GetCurrentTimestamp();
	a->seg = dsm_create(size, 0);
	dsm_pin_mapping(a->seg);
	a->header = dsm_segment_address(a->seg);
	a->header->index = k;
	a->header->dispatcher = MyProcPid;
	pg_atomic_init_u32(&a->header->queued, 0);
	in_mq = shm_mq_create((char *) a->header + MAXALIGN(sizeof(HublinkApplierHeader)),
						  HUBLINK_APPLIER_IN_BYTES);
	out_mq = shm_mq_create((char *) in_mq + HUBLINK_APPLIER_IN_BYTES, HUBLINK_APPLIER_OUT_BYTES);
	shm_mq_set_sender(in_mq, MyProc);
	shm_mq_set_receiver(out_mq, MyProc);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART; /* this process starts it again */
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "hublink");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "hublink_applier_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "hublink applier %d", k);
	snprintf(worker.bgw_type, BGW_MAXLEN, "hublink applier");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(a->seg));
	worker.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(TopMemoryContext);
	if (!RegisterDynamicBackgroundWorker(&worker, &a->handle))
	{
		MemoryContextSwitchTo(old);
		dsm_detach(a->seg);
		a->seg = NULL;
		if (!a->warned)
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("hublink worker could not start applier %d", k),
					 errdetail("No background worker slot is free."),
					 errhint("Raise max_worker_processes (the message worker needs "
							 "hublink.appliers of them besides itself and the jobs worker), or "
							 "lower hublink.appliers; the deliveries of its partition wait.")));
		a->warned = true;
		return;
	}
	a->warned = false;
	/* The handle lets a send notice an applier that died before attaching. */
	a->in = shm_mq_attach(in_mq, a->seg, a->handle);
	a->out = shm_mq_attach(out_mq, a->seg, a->handle);
	MemoryContextSwitchTo(old);
}

/*
 * Applier k has exited: drop its segment, and mark its deliveries that were sent and not
 * reported as not sent, so its successor gets them again, in order.
 */
static void
lose_applier(int k, const char *why)
{
	Applier *a = &appliers[k];
	int resend = 0;

	shm_mq_detach(a->in);
	shm_mq_detach(a->out);
	dsm_detach(a->seg);
	pfree(a->handle);
	a->seg = NULL;
	a->in = a->out = NULL;
	a->handle = NULL;
	for (int i = 0; i < hublink_pending_count(); i++)
	{
		HublinkDelivery *d = hublink_pending_get(i);

		if (!d->partitioned || d->partition != k)
			continue;
		d->counted = false; /* the new segment counts afresh */
		if (d->sent && !d->done)
		{
			d->sent = false;
			resend++;
		}
	}
	ereport(LOG, (errmsg("hublink applier %d %s", k, why),
				  errdetail("%d deliveries it had not reported go to its successor; any it had "
							"committed are then duplicates, with no second effect.",
							resend)));
}

/* Is applier k still there? Loses it when it exited. */
static bool
applier_alive(int k)
{
	Applier *a = &appliers[k];
	pid_t pid;

	if (a->seg == NULL)
		return false;
	switch (GetBackgroundWorkerPid(a->handle, &pid))
	{
		case BGWH_STARTED:
		case BGWH_NOT_YET_STARTED:
			return true;
		case BGWH_POSTMASTER_DIED:
			proc_exit(1);
			break;
		case BGWH_STOPPED:
			break;
	}
	lose_applier(k, "exited");
	return false;
}

long
hublink_dispatch_timeout_ms(void)
{
	long timeout = -1;

	if (!hublink_dispatch_enabled())
		return -1;
	for (int k = 0; k < hublink_appliers; k++)
		if (appliers[k].seg == NULL)
		{
			long secs;
			int usecs;
			long ms;

			TimestampDifference(
				GetCurrentTimestamp(),
				TimestampTzPlusMilliseconds(appliers[k].started_at, APPLIER_RESTART_MS), &secs,
				&usecs);
			ms = secs * 1000 + usecs / 1000 + 1;
			timeout = timeout < 0 ? ms : Min(timeout, ms);
		}
	return timeout;
}

/* --- reports and sends ------------------------------------------------------------------- */

static HublinkDelivery *
find_pending(uint64 tag)
{
	for (int i = 0; i < hublink_pending_count(); i++)
	{
		HublinkDelivery *d = hublink_pending_get(i);

		if (d->delivery_tag == tag)
			return d;
	}
	return NULL;
}

/* Take applier k's reports; false when it has gone (it is lost then). */
static bool
take_reports(int k, TimestampTz *retry_at, bool *progress)
{
	Applier *a = &appliers[k];

	for (;;)
	{
		Size len;
		void *data;
		HublinkWireReport report;
		const HublinkWireDone *done;
		shm_mq_result r = shm_mq_receive(a->out, &len, &data, true);

		if (r == SHM_MQ_WOULD_BLOCK)
			return true;
		if (r == SHM_MQ_DETACHED)
		{
			lose_applier(k, "went away");
			return false;
		}
		*progress = true;
		memcpy(&report, data, sizeof(report));
		done = (const HublinkWireDone *) ((const char *) data + sizeof(report));
		if (len != sizeof(report) + sizeof(HublinkWireDone) * (Size) report.n)
			elog(ERROR, "hublink worker: malformed report from applier %d", k);
		/* An earlier connection's tags name nothing now: those deliveries come again. */
		if (report.generation != generation)
			continue;
		if (report.next_retry_at < *retry_at)
			*retry_at = report.next_retry_at;
		for (int i = 0; i < report.n; i++)
		{
			HublinkDelivery *d = find_pending(done[i].delivery_tag);

			if (d != NULL && d->partition == k)
				d->done = true;
		}
	}
}

/* Send d to applier k without waiting; SHM_MQ_WOULD_BLOCK leaves it half sent, to resume. */
static shm_mq_result
send_delivery(Applier *a, HublinkDelivery *d)
{
	HublinkWireDelivery w;
	shm_mq_iovec iov[4];
	shm_mq_result r;

	memset(&w, 0, sizeof(w));
	w.generation = generation;
	w.delivery_tag = d->delivery_tag;
	w.amqp_timestamp = d->amqp_timestamp;
	w.enqueued_us = d->enqueued_us;
	w.received_at = d->received_at;
	w.queue_len = (uint32) strlen(d->queue);
	w.user_id_len = d->user_id ? (uint32) strlen(d->user_id) : 0;
	w.body_len = (uint32) d->len;
	w.has_timestamp = d->has_timestamp;
	w.has_enqueued_us = d->has_enqueued_us;
	w.redelivered = d->redelivered;
	w.has_user_id = d->user_id != NULL;
	iov[0].data = (const char *) &w;
	iov[0].len = sizeof(w);
	iov[1].data = d->queue;
	iov[1].len = w.queue_len;
	iov[2].data = d->user_id ? d->user_id : "";
	iov[2].len = w.user_id_len;
	iov[3].data = d->body;
	iov[3].len = w.body_len;
	/* Counted before the send completes, so the applier never counts below zero. */
	if (!d->counted)
	{
		pg_atomic_fetch_add_u32(&a->header->queued, 1);
		d->counted = true;
	}
	r = shm_mq_sendv(a->in, iov, 4, true, true);
	return r;
}

bool
hublink_dispatch_poll(TimestampTz *retry_at)
{
	bool progress = false;
	bool blocked[HUBLINK_MAX_APPLIERS];

	for (int k = 0; k < hublink_appliers; k++)
	{
		blocked[k] = false;
		if (appliers[k].seg == NULL &&
			TimestampDifferenceExceeds(appliers[k].started_at, GetCurrentTimestamp(),
									   APPLIER_RESTART_MS))
			start_applier(k);
		/* Reports first: an applier that has just exited may have left some in its queue. */
		if (appliers[k].seg == NULL || !take_reports(k, retry_at, &progress) || !applier_alive(k))
			blocked[k] = true;
	}
	/* In delivery order; once a partition's queue is full, none of its later ones is sent. */
	for (int i = 0; i < hublink_pending_count(); i++)
	{
		HublinkDelivery *d = hublink_pending_get(i);
		int k;

		if (d->sent)
			continue;
		if (!d->partitioned)
		{
			d->partition = hublink_dispatch_partition(d->body, d->len, hublink_appliers);
			d->partitioned = true;
		}
		k = d->partition;
		if (blocked[k])
			continue;
		switch (send_delivery(&appliers[k], d))
		{
			case SHM_MQ_SUCCESS:
				d->sent = true;
				d->counted = false;
				progress = true;
				break;
			case SHM_MQ_WOULD_BLOCK:
				blocked[k] = true;
				break;
			case SHM_MQ_DETACHED:
				d->counted = false;
				lose_applier(k, "went away");
				blocked[k] = true;
				break;
		}
	}
	return progress;
}

bool
hublink_dispatch_ack(HublinkBroker *broker, char **error)
{
	int prefix = 0;

	while (prefix < hublink_pending_count() && hublink_pending_get(prefix)->done)
		prefix++;
	if (prefix > 0)
	{
		for (int i = 0; i < prefix; i++)
			hublink_count(hublink_pending_get(i)->queue, HUBLINK_COUNT_ACKED, 1);
		if (!hublink_broker_ack(broker, hublink_pending_get(prefix - 1)->delivery_tag, true, error))
		{
			hublink_count_discard();
			return false;
		}
		hublink_pending_remove(prefix);
	}
	for (int i = 0; i < hublink_pending_count();)
	{
		HublinkDelivery *d = hublink_pending_get(i);

		if (!d->done)
		{
			i++;
			continue;
		}
		hublink_count(d->queue, HUBLINK_COUNT_ACKED, 1);
		if (!hublink_broker_ack(broker, d->delivery_tag, false, error))
		{
			hublink_count_discard();
			return false;
		}
		hublink_pending_remove_at(i);
	}
	hublink_count_flush();
	return true;
}
