/*
 * worker_role.h - the role the worker's transactions run as (worker_role.c).
 */
#ifndef HUBLINK_WORKER_ROLE_H
#define HUBLINK_WORKER_ROLE_H

#include "postgres.h"

/* hublink.worker_role: the role name (worker_settings.c). */
extern char *hublink_worker_role;

/*
 * In a transaction: NULL when hublink.worker_role names a usable role (it exists, is no
 * superuser, has no BYPASSRLS and has the privileges of hublink_worker), with *role set;
 * otherwise a palloc'd sentence that says why not.
 */
extern char *hublink_worker_role_problem(Oid *role);

/* In a transaction: from now on it runs as role, and SQL cannot change that. */
extern void hublink_worker_role_enter(Oid role);

/* Before the commit: drops the security context flag, keeps the role. */
extern void hublink_worker_role_leave(void);

#endif /* HUBLINK_WORKER_ROLE_H */
