/*
 * pending.c - deliveries read off the socket and not yet acked, in delivery-tag order.
 *
 * At most hublink.prefetch of them exist (the broker sends no more unacked), so the array is
 * small. Each is freed as soon as it is acked: under a steady flow the list never empties,
 * and a context reset only when empty would grow without bound.
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "pending.h"

static MemoryContext pending_cxt = NULL;
static HublinkDelivery **items = NULL;
static int n_items = 0;
static int cap_items = 0;

void
hublink_pending_init(void)
{
	pending_cxt =
		AllocSetContextCreate(TopMemoryContext, "hublink deliveries", ALLOCSET_DEFAULT_SIZES);
}

MemoryContext
hublink_pending_context(void)
{
	return pending_cxt;
}

void
hublink_pending_add(HublinkDelivery *delivery)
{
	if (n_items == cap_items)
	{
		cap_items = cap_items ? cap_items * 2 : 256;
		items = items ? repalloc(items, sizeof(HublinkDelivery *) * cap_items)
					  : MemoryContextAlloc(pending_cxt, sizeof(HublinkDelivery *) * cap_items);
	}
	items[n_items++] = delivery;
}

int
hublink_pending_count(void)
{
	return n_items;
}

HublinkDelivery *
hublink_pending_get(int i)
{
	Assert(i >= 0 && i < n_items);
	return items[i];
}

static void
free_delivery(HublinkDelivery *d)
{
	pfree(d->body);
	pfree(d->queue);
	if (d->user_id)
		pfree(d->user_id);
	pfree(d);
}

void
hublink_pending_remove(int n)
{
	n = Min(n, n_items);
	for (int i = 0; i < n; i++)
		free_delivery(items[i]);
	memmove(items, items + n, sizeof(HublinkDelivery *) * (n_items - n));
	n_items -= n;
}

void
hublink_pending_remove_at(int i)
{
	Assert(i >= 0 && i < n_items);
	free_delivery(items[i]);
	memmove(items + i, items + i + 1, sizeof(HublinkDelivery *) * (n_items - i - 1));
	n_items--;
}

void
hublink_pending_clear(void)
{
	hublink_pending_remove(n_items);
}
