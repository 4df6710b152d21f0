/*
 * worker_role.c - the worker works as hublink.worker_role, not as a superuser (issue 6 §1,
 * NFR 0015: "the worker sees what it must process and nothing beyond").
 *
 * A background worker can only log in as a LOGIN role before PostgreSQL 17, and the worker
 * starts before CREATE EXTENSION has made any role. So it connects as the bootstrap
 * superuser only to wait for the extension, and then runs every transaction as the role:
 * the session user becomes the role (session_user, the audit's "who" and the clearance
 * check see it) and the current user is the role with SECURITY_LOCAL_USERID_CHANGE, which
 * makes PostgreSQL refuse SET ROLE and SET SESSION AUTHORIZATION inside the transaction, so
 * no handler can climb back to the superuser it started as. Privileges, row-level security
 * and EXECUTE checks then apply to everything the worker runs; it holds only the grants of
 * hublink_worker (docs/security-access.md).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "worker.h"
#include "worker_role.h"

/* The group role whose grants are the worker's; created by the extension (90_access.sql). */
#define WORKER_GROUP_ROLE "hublink_worker"

char *hublink_worker_role = NULL;

char *
hublink_worker_role_problem(Oid *role)
{
	Oid group = get_role_oid(WORKER_GROUP_ROLE, true);

	*role = get_role_oid(hublink_worker_role, true);
	if (!OidIsValid(*role))
		return psprintf("Role \"%s\" (hublink.worker_role) does not exist.", hublink_worker_role);
	if (superuser_arg(*role))
		return psprintf("Role \"%s\" (hublink.worker_role) is a superuser, which would let the "
						"worker see everything.",
						hublink_worker_role);
	if (has_bypassrls_privilege(*role))
		return psprintf("Role \"%s\" (hublink.worker_role) has BYPASSRLS, which would let the "
						"worker read every row.",
						hublink_worker_role);
	if (!OidIsValid(group) || !has_privs_of_role(*role, group))
		return psprintf("Role \"%s\" (hublink.worker_role) does not have the privileges of %s.",
						hublink_worker_role, WORKER_GROUP_ROLE);
	return NULL;
}

void
hublink_worker_role_enter(Oid role)
{
	/*
	 * The process authenticated as the bootstrap superuser, so this is allowed; the local
	 * user-id change below is what stops SQL from doing the same.
	 */
	if (GetSessionUserId() != role)
		SetSessionAuthorization(role, false);
	SetUserIdAndSecContext(role, SECURITY_LOCAL_USERID_CHANGE);
}

void
hublink_worker_role_leave(void)
{
	Oid role;
	int context;

	/* StartTransaction expects no security context to be left over from the last one. */
	GetUserIdAndSecContext(&role, &context);
	SetUserIdAndSecContext(role, context & ~SECURITY_LOCAL_USERID_CHANGE);
}
