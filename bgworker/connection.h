/*
 * connection.h - the worker's broker connection as a state, with backoff (connection.c).
 */
#ifndef HUBLINK_CONNECTION_H
#define HUBLINK_CONNECTION_H

#include "broker.h"

/*
 * In a transaction with SPI connected: read the queues of hublink.party from
 * hublink.message_type. NULL, or why the configuration is unusable.
 */
extern char *hublink_conn_load_queues(void);

/* The connection, or NULL while disconnected. */
extern HublinkBroker *hublink_conn_broker(void);

/* Connect when disconnected and the backoff delay has passed. */
extern void hublink_conn_try(void);

/* The connection failed: forget it and everything unacked, and schedule the next attempt. */
extern void hublink_conn_failed(const char *error);

/* Close on purpose (settings changed): reconnect at once. */
extern void hublink_conn_drop(const char *reason);

/* Milliseconds until the next connection attempt (0 when due). */
extern long hublink_conn_ms_until_attempt(void);

#endif /* HUBLINK_CONNECTION_H */
