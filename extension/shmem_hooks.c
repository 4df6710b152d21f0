/*
 * shmem_hooks.c - the one place where the library hooks into the server's shared-memory
 * start-up: it keeps the hooks that were there before (other preloaded libraries), chains
 * them first, and hides the version difference (shmem_request_hook exists from PostgreSQL 15;
 * before it, space is requested directly in _PG_init). Each part registers its request and
 * attach functions with hublink_shmem_add, in the order _PG_init calls it.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "shmem_hooks.h"

/* Protective monitoring and the worker; a new part raises this. */
#define MAX_SHMEM_PARTS 4

static struct
{
	hublink_shmem_fn request;
	hublink_shmem_fn startup;
} parts[MAX_SHMEM_PARTS];
static int n_parts = 0;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

#if PG_VERSION_NUM >= 150000
static void
request_shmem(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	for (int i = 0; i < n_parts; i++)
		parts[i].request();
}
#endif

static void
startup_shmem(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	for (int i = 0; i < n_parts; i++)
		parts[i].startup();
	LWLockRelease(AddinShmemInitLock);
}

void
hublink_shmem_add(hublink_shmem_fn request, hublink_shmem_fn startup)
{
	if (n_parts == MAX_SHMEM_PARTS)
		elog(ERROR, "hublink: more shared memory parts than MAX_SHMEM_PARTS");
	parts[n_parts].request = request;
	parts[n_parts].startup = startup;
	n_parts++;

	/* The hooks go in once, with the first part. */
	if (n_parts == 1)
	{
#if PG_VERSION_NUM >= 150000
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = request_shmem;
#endif
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = startup_shmem;
	}
#if PG_VERSION_NUM < 150000
	request();
#endif
}
