/*
 * counters.c - the worker's per-queue counts, held back until their transaction commits.
 *
 * A count made inside a transaction that then rolls back must not show in
 * hublink.worker_queue_status, so counts are collected here and moved to shared memory by
 * hublink_count_flush() after the commit (or dropped by hublink_count_discard()).
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "counters.h"
#include "worker.h"

typedef struct PendingCount
{
	char *queue;
	uint64 counts[HUBLINK_N_COUNTERS];
} PendingCount;

static PendingCount *pending = NULL;
static int n_pending = 0;
static int max_pending = 0;

void
hublink_count(const char *queue, HublinkCounter counter, uint64 n)
{
	int i;

	if (queue == NULL || n == 0)
		return;
	for (i = 0; i < n_pending; i++)
		if (strcmp(pending[i].queue, queue) == 0)
			break;
	if (i == n_pending)
	{
		if (n_pending == max_pending)
		{
			max_pending = max_pending ? max_pending * 2 : 16;
			pending =
				pending ? repalloc(pending, sizeof(PendingCount) * max_pending)
						: MemoryContextAlloc(TopMemoryContext, sizeof(PendingCount) * max_pending);
		}
		/* Queue names repeat: they are kept for the life of the process. */
		pending[i].queue = MemoryContextStrdup(TopMemoryContext, queue);
		memset(pending[i].counts, 0, sizeof(pending[i].counts));
		n_pending++;
	}
	pending[i].counts[counter] += n;
}

void
hublink_count_flush(void)
{
	for (int i = 0; i < n_pending; i++)
		for (int c = 0; c < HUBLINK_N_COUNTERS; c++)
		{
			hublink_shmem_count(pending[i].queue, (HublinkCounter) c, pending[i].counts[c]);
			pending[i].counts[c] = 0;
		}
}

void
hublink_count_discard(void)
{
	for (int i = 0; i < n_pending; i++)
		memset(pending[i].counts, 0, sizeof(pending[i].counts));
}
