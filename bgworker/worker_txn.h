/*
 * worker_txn.h - a transaction of the message worker or of an applier (worker_txn.c).
 */
#ifndef HUBLINK_WORKER_TXN_H
#define HUBLINK_WORKER_TXN_H

#include "postgres.h"

/*
 * At a process's start: its commits synchronous (at least synchronous_commit = on), and that
 * level remembered for hublink_txn_commit's durable commits.
 */
extern void hublink_txn_durable_setup(void);

/*
 * Start a transaction, connect SPI, push a snapshot and report activity. With as_role, check
 * hublink.worker_role (FATAL when it can no longer be used: the process restarts and waits)
 * and run the transaction as it.
 */
extern void hublink_txn_begin(const char *activity, bool as_role);

/*
 * Commit what hublink_txn_begin started, switch back to loop_cxt (the commit leaves
 * TopMemoryContext current), report statistics and move the transaction's counts to shared
 * memory. With durable, the commit is on disk when this returns, and on a synchronous standby
 * when the start-up level asks for one, whatever a handler set synchronous_commit to since: for
 * a transaction whose deliveries are acked or whose outbox rows are published next.
 */
extern void hublink_txn_commit(MemoryContext loop_cxt, bool durable);

#endif /* HUBLINK_WORKER_TXN_H */
