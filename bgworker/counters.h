/*
 * counters.h - per-queue counts of the worker, published to shared memory after commit.
 */
#ifndef HUBLINK_COUNTERS_H
#define HUBLINK_COUNTERS_H

#include "worker.h"

extern void hublink_count(const char *queue, HublinkCounter counter, uint64 n);
extern void hublink_count_flush(void);
extern void hublink_count_discard(void);

#endif /* HUBLINK_COUNTERS_H */
