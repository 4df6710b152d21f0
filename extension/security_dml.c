/*
 * security_dml.c - refused UPDATE and DELETE of the audit store by roles without the privilege
 * (docs/security-monitoring.md, NFR 0020 "security log-data deletion/reset").
 *
 * The append-only triggers (sql/parts/70_audit.sql) record an attempt only when the statement
 * gets as far as its triggers, that is for a role that holds the privilege (a superuser). An
 * ordinary role is stopped earlier, by the executor's privilege check, and no hublink code
 * runs. So an ExecutorStart hook notes, before the standard start-up, which audit relations
 * (hublink.audit_relations) the statement would update or delete and which of them the
 * checking role lacks a privilege on; if the start-up then fails with
 * ERRCODE_INSUFFICIENT_PRIVILEGE, each noted relation is recorded in the security ring with
 * the same kinds as the triggers use (audit_update_refused, audit_delete_refused). Both
 * conditions are needed: the error code alone could come from another relation of the
 * statement, and a missing privilege alone is not yet a refusal. A role that holds the
 * privileges is not noted, so the triggers' record is never doubled. The detail names the
 * roles and the relation, never data. TRUNCATE is a utility statement: security_utility.c.
 */
#include "postgres.h"

#include "executor/executor.h"
#include "lib/stringinfo.h"
/* As in security_auth.c: the GSSAPI headers are not installed; no field read here needs them. */
#undef ENABLE_GSS
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/varlena.h"

#include "security.h"

static ExecutorStart_hook_type prev_executor_start = NULL;

/* One refusal to record if the start-up fails for lack of privilege. */
typedef struct Noted
{
	const char *kind;
	char *who; /* session user */
	char *detail;
} Noted;

bool
hublink_security_is_audit_relid(Oid relid)
{
	char *relname;

	if (hublink_audit_relations == NULL || hublink_audit_relations[0] == '\0')
		return false;
	relname = get_rel_name(relid);
	return relname != NULL &&
		   hublink_security_audit_listed(get_namespace_name(get_rel_namespace(relid)), relname);
}

bool
hublink_security_audit_listed(const char *schema, const char *relname)
{
	char *list;
	List *names;
	ListCell *lc;
	bool result = false;

	if (schema == NULL || hublink_audit_relations == NULL || hublink_audit_relations[0] == '\0')
		return false;
	list = pstrdup(hublink_audit_relations);
	if (!SplitIdentifierString(list, ',', &names))
		return false;
	foreach (lc, names)
	{
		char *qualified = lfirst(lc);
		char *dot = strchr(qualified, '.');

		if (dot != NULL && strncmp(qualified, schema, dot - qualified) == 0 &&
			schema[dot - qualified] == '\0' && strcmp(dot + 1, relname) == 0)
			result = true;
	}
	return result;
}

/*
 * The detail of a refusal by the privilege check, shaped like the triggers' detail: which
 * table, which operation, who (session user and current role), from where.
 */
char *
hublink_security_refused_detail(Oid relid, const char *operation, Oid checked_role)
{
	StringInfoData d;
	char *relname = get_rel_name(relid);
	char *schema = get_namespace_name(get_rel_namespace(relid));

	initStringInfo(&d);
	appendStringInfoString(&d, "{\"table\": ");
	hublink_security_json_string(&d,
								 psprintf("%s.%s", schema ? schema : "?", relname ? relname : "?"));
	appendStringInfoString(&d, ", \"operation\": ");
	hublink_security_json_string(&d, operation);
	appendStringInfoString(&d, ", \"session_user\": ");
	hublink_security_json_string(&d, GetUserNameFromId(GetSessionUserId(), true));
	appendStringInfoString(&d, ", \"role\": ");
	hublink_security_json_string(&d, GetUserNameFromId(checked_role, true));
	appendStringInfo(&d, ", \"backend_pid\": %d, \"client_addr\": ", MyProcPid);
	if (MyProcPort != NULL && MyProcPort->remote_host != NULL)
		hublink_security_json_string(&d, MyProcPort->remote_host);
	else
		appendStringInfoString(&d, "null");
	appendStringInfoString(&d, ", \"refused_by\": \"privilege check\"}");
	return d.data;
}

/* Notes relid if the statement updates or deletes it and checked_role lacks a privilege. */
static List *
note(List *noted, Oid relid, AclMode required, Oid checked_role)
{
	Oid role = OidIsValid(checked_role) ? checked_role : GetUserId();
	static const struct
	{
		AclMode mode;
		const char *kind;
		const char *operation;
	} ops[] = {{ACL_UPDATE, "audit_update_refused", "update"},
			   {ACL_DELETE, "audit_delete_refused", "delete"}};

	if ((required & (ACL_UPDATE | ACL_DELETE)) == 0 || !hublink_security_is_audit_relid(relid))
		return noted;
	if (pg_class_aclmask(relid, role, required, ACLMASK_ALL) == required)
		return noted;
	for (int i = 0; i < (int) lengthof(ops); i++)
		if (required & ops[i].mode)
		{
			Noted *n = palloc(sizeof(Noted));

			n->kind = ops[i].kind;
			n->who = GetUserNameFromId(GetSessionUserId(), true);
			n->detail = hublink_security_refused_detail(relid, ops[i].operation, role);
			noted = lappend(noted, n);
		}
	return noted;
}

static List *
refusals_to_note(PlannedStmt *stmt)
{
	List *noted = NIL;
	ListCell *lc;

#if PG_VERSION_NUM >= 160000
	foreach (lc, stmt->permInfos)
	{
		RTEPermissionInfo *p = lfirst_node(RTEPermissionInfo, lc);

		noted = note(noted, p->relid, p->requiredPerms, p->checkAsUser);
	}
#else
	foreach (lc, stmt->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind == RTE_RELATION)
			noted = note(noted, rte->relid, rte->requiredPerms, rte->checkAsUser);
	}
#endif
	return noted;
}

static void
executor_start(QueryDesc *queryDesc, int eflags)
{
	List *volatile noted = NIL;

	/* EXPLAIN without ANALYZE is checked too, but it is no attempt to change anything. */
	if (queryDesc->operation != CMD_SELECT || queryDesc->plannedstmt->hasModifyingCTE)
		if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0)
			noted = refusals_to_note(queryDesc->plannedstmt);

	if (noted == NIL)
	{
		if (prev_executor_start)
			prev_executor_start(queryDesc, eflags);
		else
			standard_ExecutorStart(queryDesc, eflags);
		return;
	}
	PG_TRY();
	{
		if (prev_executor_start)
			prev_executor_start(queryDesc, eflags);
		else
			standard_ExecutorStart(queryDesc, eflags);
	}
	PG_CATCH();
	{
		ListCell *lc;

		/* Only the ring is touched before re-throwing; everything was built beforehand. */
		if (geterrcode() == ERRCODE_INSUFFICIENT_PRIVILEGE)
			foreach (lc, noted)
			{
				Noted *n = lfirst(lc);

				hublink_security_record(n->kind, n->who, n->detail);
			}
		PG_RE_THROW();
	}
	PG_END_TRY();
}

void
hublink_security_dml_install(void)
{
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = executor_start;
}
