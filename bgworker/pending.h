/*
 * pending.h - deliveries read off the socket and not yet acked (pending.c).
 */
#ifndef HUBLINK_PENDING_H
#define HUBLINK_PENDING_H

#include "worker.h"

extern void hublink_pending_init(void);
extern MemoryContext hublink_pending_context(void);

/* The broker client's on_delivery callback. */
extern void hublink_pending_add(HublinkDelivery *delivery);

extern int hublink_pending_count(void);
extern HublinkDelivery *hublink_pending_get(int i);

/* Forget the first n (they were acked), or all (the connection is gone: they come again). */
extern void hublink_pending_remove(int n);
extern void hublink_pending_clear(void);
/* Forget the i-th alone (an applier's delivery acked before older ones). */
extern void hublink_pending_remove_at(int i);

#endif /* HUBLINK_PENDING_H */
