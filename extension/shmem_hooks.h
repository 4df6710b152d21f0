/*
 * shmem_hooks.h - how a part of the library (protective monitoring, the worker) gets its
 * shared memory: it names what it requests and how it attaches, shmem_hooks.c does the rest.
 */
#ifndef HUBLINK_SHMEM_HOOKS_H
#define HUBLINK_SHMEM_HOOKS_H

/*
 * request: calls RequestAddinShmemSpace / RequestNamedLWLockTranche for the part's needs.
 * startup: attaches (ShmemInitStruct), called with AddinShmemInitLock held.
 * Only from _PG_init while shared_preload_libraries is processed.
 */
typedef void (*hublink_shmem_fn)(void);

extern void hublink_shmem_add(hublink_shmem_fn request, hublink_shmem_fn startup);

#endif
