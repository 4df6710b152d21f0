/*
 * inbox.h - apply deliveries exactly once, inside the worker's transaction (inbox.c).
 */
#ifndef HUBLINK_INBOX_H
#define HUBLINK_INBOX_H

#include "worker.h"

/* Load the handler seam table; once per transaction, before the calls below. */
extern void hublink_inbox_begin_transaction(void);

/*
 * Apply one delivery in a subtransaction. For HUBLINK_DEFERRED, *retry_at is when the worker
 * should run its handler again.
 */
extern HublinkOutcome hublink_inbox_apply(HublinkDelivery *delivery, TimestampTz *retry_at);

/* Run the handlers of at most limit retrying messages that are due; returns how many. */
extern int hublink_inbox_run_retries(int limit);

/* When the next retry is due; DT_NOEND when none waits. */
extern TimestampTz hublink_inbox_next_retry(void);

#endif /* HUBLINK_INBOX_H */
