/*
 * outbox.c - publish hublink.outbox rows with publisher confirms; mark them sent after.
 *
 * Rows are fetched in id order inside the worker's transaction, published after it commits,
 * and tracked here until the broker confirms them; the next transaction sets their sent_at.
 * A row is never marked sent before its confirm, so a crash, a lost connection or a refused
 * message only means it is published again (at-least-once; receivers dedup on messageId).
 *
 * Fetching continues after the last fetched id while messages are in flight. Once nothing is
 * in flight it starts again from the lowest unsent id: that picks up rows of transactions
 * that committed after rows with higher ids were fetched, and rows left unsent by a lost
 * connection.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "broker.h"
#include "counters.h"
#include "outbox.h"
#include "spi_util.h"
#include "worker.h"

#define MESSAGE_ID_LEN 64

typedef enum FlightState
{
	FLIGHT_WAITING,
	FLIGHT_ACKED,
	FLIGHT_REFUSED /* nacked or returned: publish again */
} FlightState;

typedef struct InFlight
{
	uint64 seq;
	int64 id;
	const char *queue; /* interned */
	char message_id[MESSAGE_ID_LEN];
	FlightState state;
	TimestampTz published_at;
} InFlight;

typedef struct Fetched
{
	int64 id;
	const char *queue; /* interned */
	char *message_id;
	char *message_type;
	char *body;
} Fetched;

static MemoryContext outbox_cxt = NULL;  /* lives as long as the process */
static MemoryContext fetched_cxt = NULL; /* reset after each publish */

static InFlight *flight = NULL;
static int flight_head = 0, flight_end = 0, flight_cap = 0;

static int64 *confirmed_ids = NULL;
static const char **confirmed_queues = NULL;
static int n_confirmed = 0, confirmed_cap = 0;
static TimestampTz first_confirmed_at = 0; /* when the oldest of them was confirmed */
/* Marked sent by the open transaction, not yet committed (hublink.worker_processes shows both). */
static int n_marking = 0;

static void
publish_unmarked(void)
{
	hublink_shmem_set_confirms_unmarked(n_confirmed + n_marking);
}

void
hublink_outbox_after_commit(void)
{
	if (n_marking == 0)
		return;
	n_marking = 0;
	publish_unmarked();
}

static Fetched *fetched = NULL;
static int n_fetched = 0;

static int64 watermark = 0;
static char *refusal = NULL; /* why the broker refused a message, until the worker reads it */

static char **queue_names = NULL;
static int n_queue_names = 0;

static const char *
intern_queue(const char *queue)
{
	for (int i = 0; i < n_queue_names; i++)
		if (strcmp(queue_names[i], queue) == 0)
			return queue_names[i];
	queue_names = queue_names ? repalloc(queue_names, sizeof(char *) * (n_queue_names + 1))
							  : MemoryContextAlloc(outbox_cxt, sizeof(char *));
	queue_names[n_queue_names] = MemoryContextStrdup(outbox_cxt, queue);
	return queue_names[n_queue_names++];
}

void
hublink_outbox_init(void)
{
	outbox_cxt = AllocSetContextCreate(TopMemoryContext, "hublink outbox", ALLOCSET_DEFAULT_SIZES);
	fetched_cxt =
		AllocSetContextCreate(outbox_cxt, "hublink outbox fetched", ALLOCSET_DEFAULT_SIZES);
}

static int
n_in_flight(void)
{
	return flight_end - flight_head;
}

int
hublink_outbox_in_flight(void)
{
	return n_in_flight();
}

/*
 * A fetch after the watermark cannot see rows with lower ids that committed after it ran (two
 * appliers commit out of id order; each commit's wake-up may come while messages are still in
 * flight, so the fetch it causes starts after the watermark too). Once nothing is in flight
 * the next fetch starts from the lowest unsent id: this says one is due, so that the worker
 * makes it although no commit woke it, in the transaction that marks the last confirms sent
 * (worker_main.c; within MARK_SENT_DELAY_MS, no transaction of its own). Without it such rows
 * waited for the next commit of any message, minutes or hours on a quiet day (a burst of the
 * pipeline benchmark left 15 of 5,000 replies unsent; docs/performance.md "Sixth pass").
 */
bool
hublink_outbox_rescan_due(void)
{
	return watermark > 0 && n_in_flight() == 0 && n_fetched == 0;
}

int
hublink_outbox_room(void)
{
	return Max(hublink_outbox_max_in_flight - n_in_flight() - n_fetched, 0);
}

TimestampTz
hublink_outbox_oldest_in_flight(void)
{
	return n_in_flight() > 0 ? flight[flight_head].published_at : 0;
}

/*
 * Confirmed rows are marked sent in the worker's next transaction. While messages flow that
 * is the next batch's; a transaction only for the marks is worth it once the oldest confirm
 * has waited MARK_SENT_DELAY_MS or many have gathered (hublink_outbox_marks_due).
 */
#define MARK_SENT_DELAY_MS 250
#define MARK_SENT_MAX      500

bool
hublink_outbox_marks_due(void)
{
	return n_confirmed >= MARK_SENT_MAX ||
		   (n_confirmed > 0 && TimestampDifferenceExceeds(first_confirmed_at, GetCurrentTimestamp(),
														  MARK_SENT_DELAY_MS));
}

TimestampTz
hublink_outbox_marks_due_at(void)
{
	return n_confirmed > 0 ? TimestampTzPlusMilliseconds(first_confirmed_at, MARK_SENT_DELAY_MS)
						   : DT_NOEND;
}

char *
hublink_outbox_take_refusal(void)
{
	char *r = refusal;

	refusal = NULL;
	return r;
}

void
hublink_outbox_forget_in_flight(void)
{
	/* Unconfirmed rows stay unsent in the table and are fetched again from the start. */
	flight_head = flight_end = 0;
	n_fetched = 0;
	MemoryContextReset(fetched_cxt);
	watermark = 0;
}

static void
add_confirmed(const InFlight *f)
{
	if (n_confirmed == confirmed_cap)
	{
		confirmed_cap = confirmed_cap ? confirmed_cap * 2 : 256;
		confirmed_ids = confirmed_ids
							? repalloc(confirmed_ids, sizeof(int64) * confirmed_cap)
							: MemoryContextAlloc(outbox_cxt, sizeof(int64) * confirmed_cap);
		confirmed_queues = confirmed_queues
							   ? repalloc(confirmed_queues, sizeof(char *) * confirmed_cap)
							   : MemoryContextAlloc(outbox_cxt, sizeof(char *) * confirmed_cap);
	}
	if (n_confirmed == 0)
		first_confirmed_at = GetCurrentTimestamp();
	confirmed_ids[n_confirmed] = f->id;
	confirmed_queues[n_confirmed] = f->queue;
	n_confirmed++;
	publish_unmarked();
}

/* Retire settled messages from the front, in publication order. */
static void
retire_settled(void)
{
	while (flight_head < flight_end && flight[flight_head].state != FLIGHT_WAITING)
	{
		if (flight[flight_head].state == FLIGHT_ACKED)
			add_confirmed(&flight[flight_head]);
		flight_head++;
	}
	if (flight_head == flight_end)
		flight_head = flight_end = 0;
}

static void
refuse(InFlight *f, const char *why)
{
	f->state = FLIGHT_REFUSED;
	if (refusal == NULL)
		refusal = MemoryContextStrdup(outbox_cxt,
									  psprintf("the broker refused message %s for queue \"%s\": %s",
											   f->message_id, f->queue, why));
}

void
hublink_outbox_on_confirm(uint64 seq, bool multiple, bool ack)
{
	for (int i = flight_head; i < flight_end; i++)
	{
		InFlight *f = &flight[i];

		if (f->seq > seq)
			break;
		if (f->seq != seq && !multiple)
			continue;
		/* A returned message is followed by an ack: it stays refused. */
		if (f->state == FLIGHT_WAITING)
		{
			if (ack)
				f->state = FLIGHT_ACKED;
			else
				refuse(f, "negative acknowledgement");
		}
	}
	retire_settled();
}

void
hublink_outbox_on_return(const char *message_id, const char *reason)
{
	for (int i = flight_head; i < flight_end; i++)
		if (flight[i].state == FLIGHT_WAITING &&
			strncmp(flight[i].message_id, message_id, MESSAGE_ID_LEN - 1) == 0)
		{
			refuse(&flight[i], reason);
			return;
		}
}

void
hublink_outbox_mark_sent(void)
{
	static SPIPlanPtr plan = NULL;
	Oid types[1] = {INT8ARRAYOID};
	Datum values[1];
	Datum *ids = palloc(sizeof(Datum) * n_confirmed);

	if (n_confirmed == 0)
		return;
	plan = hublink_spi_plan(plan,
							"UPDATE hublink.outbox SET sent_at = clock_timestamp() "
							"WHERE id = ANY ($1) AND sent_at IS NULL",
							1, types);
	for (int i = 0; i < n_confirmed; i++)
		ids[i] = Int64GetDatum(confirmed_ids[i]);
	values[0] =
		PointerGetDatum(construct_array(ids, n_confirmed, INT8OID, 8, true, TYPALIGN_DOUBLE));
	hublink_spi_run(plan, values, NULL, false, 0, SPI_OK_UPDATE);
	for (int i = 0; i < n_confirmed; i++)
		hublink_count(confirmed_queues[i], HUBLINK_COUNT_PUBLISHED, 1);
	/* Forgotten now; if this transaction aborts the rows are simply published again. */
	n_marking += n_confirmed;
	n_confirmed = 0;
}

int
hublink_outbox_fetch(int limit)
{
	static SPIPlanPtr plan = NULL;
	Oid types[2] = {INT8OID, INT4OID};
	Datum values[2];
	MemoryContext old;

	if (limit <= 0)
		return 0;
	if (n_in_flight() == 0 && n_fetched == 0)
		watermark = 0;
	plan = hublink_spi_plan(plan,
							/* Bodies are sealed (sql/parts/74_crypto_seal.sql): opened here with
							 * one decrypt audit row for the batch, not one per reply. */
							"SELECT id, queue, message_id, message_type, document "
							"FROM hublink.open_outbox($1, $2)",
							2, types);
	values[0] = Int64GetDatum(watermark);
	values[1] = Int32GetDatum(limit);
	hublink_spi_run(plan, values, NULL, false, 0, SPI_OK_SELECT);

	old = MemoryContextSwitchTo(fetched_cxt);
	fetched = n_fetched == 0 ? palloc(sizeof(Fetched) * Max(SPI_processed, 1))
							 : repalloc(fetched, sizeof(Fetched) * (n_fetched + SPI_processed));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple tuple = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		Fetched *f = &fetched[n_fetched++];
		bool isnull;

		f->id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		f->queue = intern_queue(SPI_getvalue(tuple, desc, 2));
		f->message_id = SPI_getvalue(tuple, desc, 3);
		f->message_type = SPI_getvalue(tuple, desc, 4);
		f->body = SPI_getvalue(tuple, desc, 5);
		watermark = f->id;
	}
	MemoryContextSwitchTo(old);
	return (int) SPI_processed;
}

static void
add_in_flight(const Fetched *f, uint64 seq)
{
	InFlight *slot;

	if (flight_end == flight_cap)
	{
		if (flight_head > 0)
		{
			memmove(flight, flight + flight_head, sizeof(InFlight) * n_in_flight());
			flight_end -= flight_head;
			flight_head = 0;
		}
		else
		{
			flight_cap = flight_cap ? flight_cap * 2 : 1024;
			flight = flight ? repalloc(flight, sizeof(InFlight) * flight_cap)
							: MemoryContextAlloc(outbox_cxt, sizeof(InFlight) * flight_cap);
		}
	}
	slot = &flight[flight_end++];
	slot->seq = seq;
	slot->id = f->id;
	slot->queue = f->queue;
	strlcpy(slot->message_id, f->message_id, MESSAGE_ID_LEN);
	slot->state = FLIGHT_WAITING;
	slot->published_at = GetCurrentTimestamp();
}

bool
hublink_outbox_publish(HublinkBroker *broker, char **error)
{
	bool ok = true;

	for (int i = 0; i < n_fetched && ok; i++)
	{
		uint64 seq;

		ok = hublink_broker_publish(broker, fetched[i].queue, fetched[i].message_id,
									fetched[i].message_type, fetched[i].body,
									strlen(fetched[i].body), &seq, error);
		if (ok)
			add_in_flight(&fetched[i], seq);
	}
	n_fetched = 0;
	MemoryContextReset(fetched_cxt);
	return ok;
}
