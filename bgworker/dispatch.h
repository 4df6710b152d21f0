/*
 * dispatch.h - the message worker's side of its appliers (dispatch.c; applier.h).
 */
#ifndef HUBLINK_DISPATCH_H
#define HUBLINK_DISPATCH_H

#include "postgres.h"

#include "broker.h"

/* Whether deliveries go to applier processes (hublink.appliers >= 2). */
extern bool hublink_dispatch_enabled(void);

/*
 * Start the appliers that do not run (at most once a second each), take their reports
 * (a delivery reported is committed: it can be acked), and send them the deliveries not
 * sent yet, in order. *retry_at is lowered to the earliest handler retry a report names.
 * True when anything was received or sent.
 */
extern bool hublink_dispatch_poll(TimestampTz *retry_at);

/*
 * Ack the deliveries the appliers reported: the longest reported run from the oldest in one
 * multiple ack, any later reported one alone (a slow partition holds up no other's acks).
 * False and *error when the connection failed.
 */
extern bool hublink_dispatch_ack(HublinkBroker *broker, char **error);

/* The connection is gone: reports of its deliveries are ignored from now on. */
extern void hublink_dispatch_new_generation(void);

/* Milliseconds until an applier may be started again; -1 when none waits. */
extern long hublink_dispatch_timeout_ms(void);

/* The partition (applier) of a delivery: a hash of its removalId; 0 when it has none. */
extern int hublink_dispatch_partition(const char *body, size_t len, int partitions);

#endif /* HUBLINK_DISPATCH_H */
