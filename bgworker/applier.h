/*
 * applier.h - the message worker's appliers (docs/worker.md "Appliers"): what the consumer
 * (dispatch.c, in the message worker) and an applier process (applier.c) exchange.
 *
 * With hublink.appliers = N >= 2 the message worker consumes, dispatches each delivery to
 * applier hash(removalId) mod N, acks what the appliers report committed, and publishes; each
 * applier applies the deliveries of its partition in the order they came, in transactions of
 * its own. One dynamic shared memory segment per applier holds the header below and two
 * message queues: deliveries in (consumer to applier), reports out (applier to consumer).
 */
#ifndef HUBLINK_APPLIER_H
#define HUBLINK_APPLIER_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "port/atomics.h"

#include "worker.h"

/* Sizes of the two rings; a message larger than a ring passes through it in pieces. */
#define HUBLINK_APPLIER_IN_BYTES  (512 * 1024)
#define HUBLINK_APPLIER_OUT_BYTES (64 * 1024)

/* The start of each applier's segment. */
typedef struct HublinkApplierHeader
{
	int index;               /* which partition: 0 .. hublink.appliers - 1 */
	pid_t dispatcher;        /* the message worker that made the segment */
	pg_atomic_uint32 queued; /* deliveries sent and not yet taken by the applier */
} HublinkApplierHeader;

/*
 * One delivery on the in queue: this, then queue, user_id and body bytes (lengths below). The
 * generation is the consumer's connection: a report of an earlier connection's deliveries (whose
 * tags mean nothing on the new channel) is ignored.
 */
typedef struct HublinkWireDelivery
{
	uint64 generation;
	uint64 delivery_tag;
	int64 amqp_timestamp;
	int64 enqueued_us;
	TimestampTz received_at;
	uint32 queue_len;
	uint32 user_id_len;
	uint32 body_len;
	bool has_timestamp;
	bool has_enqueued_us;
	bool redelivered;
	bool has_user_id;
} HublinkWireDelivery;

/* One committed delivery in a report. */
typedef struct HublinkWireDone
{
	uint64 delivery_tag;
	int32 outcome; /* HublinkOutcome */
} HublinkWireDone;

/* A report on the out queue, after a commit: this, then n HublinkWireDone in apply order. */
typedef struct HublinkWireReport
{
	uint64 generation;
	TimestampTz next_retry_at; /* the earliest retry the batch deferred; DT_NOEND if none */
	int32 n;
} HublinkWireReport;

/* The states hublink.worker_appliers() shows (0 is stopped, as in every slot). */
typedef enum HublinkApplierState
{
	HUBLINK_APPLIER_STOPPED,
	HUBLINK_APPLIER_STARTING,
	HUBLINK_APPLIER_IDLE,
	HUBLINK_APPLIER_APPLYING
} HublinkApplierState;

extern PGDLLEXPORT void hublink_applier_main(Datum arg);

#endif /* HUBLINK_APPLIER_H */
