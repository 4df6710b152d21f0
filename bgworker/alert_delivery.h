/*
 * alert_delivery.h - the worker sends hublink.alert_delivery rows over HTTPS with libcurl
 * (alert_delivery.c, docs/alerts.md "Delivery").
 */
#ifndef HUBLINK_ALERT_DELIVERY_H
#define HUBLINK_ALERT_DELIVERY_H

#include "postgres.h"

/* Settings (hublink.alert_*), defined with the worker's. */
extern void hublink_alerts_define_settings(void);

/* Once at worker start: libcurl's global state and the multi handle. */
extern void hublink_alerts_init(void);

/* The latch was set (a transaction queued deliveries, or a signal): look for due rows. */
extern void hublink_alerts_wake(void);

/*
 * True when the worker should run hublink_alerts_exchange in a transaction now: finished
 * attempts wait to be recorded, or nothing is in flight and rows may be due.
 */
extern bool hublink_alerts_want_transaction(void);

/*
 * In a transaction with SPI connected: record the outcome of every finished attempt, then,
 * with nothing in flight, claim a batch of due deliveries. Nothing is sent before the caller
 * commits (a claimed row's attempt is counted first).
 */
extern void hublink_alerts_exchange(void);

/* Outside any transaction: drive the transfers without blocking (curl multi). */
extern void hublink_alerts_perform(void);

/* How long the worker may sleep for the deliveries' sake: -1 for as long as it likes. */
extern long hublink_alerts_timeout_ms(void);

#endif /* HUBLINK_ALERT_DELIVERY_H */
