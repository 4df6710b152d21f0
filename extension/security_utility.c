/*
 * security_utility.c - role and audit-store DDL recorded as security events (NFR 0020 3a-b and
 * "security log-data deletion/reset").
 *
 * A ProcessUtility hook sees CREATE/ALTER/DROP ROLE, ALTER ROLE ... SET, ALTER ROLE ... RENAME
 * and GRANT/REVOKE of role membership, and TRUNCATE, DROP, ALTER TABLE, renames (of the table,
 * a column, constraint or trigger, or its schema) and SET SCHEMA of the tables listed in
 * hublink.audit_relations, in every statement but those of hublink's own extension script. It
 * records one event per statement in the security ring after the statement ran, with "outcome"
 * executed or failed, so a refused attempt is recorded too and the record survives a rollback (a
 * TRUNCATE of an audit table that the privilege check refuses is recorded once, as
 * audit_truncate_refused). A role change is an admin_role_change when a role involved is, or is
 * made, a superuser, CREATEROLE, or a member of hublink_admin; otherwise a user_role_change. The
 * event records that the statement ran, not that its transaction committed.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "commands/extension.h"
#include "commands/defrem.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "security.h"

/* The role whose members are hublink's admins (sql/parts/42_reference_codes.sql). */
#define ADMIN_ROLE "hublink_admin"

static ProcessUtility_hook_type prev_utility_hook = NULL;

/* A statement being watched: what it is about, collected before it runs. */
typedef struct Watched
{
	const char *kind; /* event kind; NULL: not watched */
	const char *action;
	bool admin;
	StringInfoData names; /* JSON array of role or table names */
	char *refused;        /* TRUNCATE: detail of an audit table the role may not truncate */
} Watched;

static bool
role_is_admin(const char *name)
{
	HeapTuple tup;
	Oid roleid;
	Oid admin;
	bool result = false;

	if (name == NULL)
		return false;
	if (strcmp(name, ADMIN_ROLE) == 0)
		return true;
	tup = SearchSysCache1(AUTHNAME, CStringGetDatum(name));
	if (!HeapTupleIsValid(tup))
		return false;
	{
		Form_pg_authid form = (Form_pg_authid) GETSTRUCT(tup);

		roleid = form->oid;
		result = form->rolsuper || form->rolcreaterole;
	}
	ReleaseSysCache(tup);
	admin = get_role_oid(ADMIN_ROLE, true);
	if (!result && OidIsValid(admin))
		result = is_member_of_role(roleid, admin);
	return result;
}

static const char *
rolespec_name(RoleSpec *spec)
{
	if (spec == NULL)
		return NULL;
	switch (spec->roletype)
	{
		case ROLESPEC_CSTRING:
			return spec->rolename;
		case ROLESPEC_PUBLIC:
			return "public";
		default:
			return GetUserNameFromId(GetUserId(), true);
	}
}

static void
add_role(Watched *w, const char *name)
{
	if (name == NULL)
		return;
	if (w->names.len > 1)
		appendStringInfoString(&w->names, ", ");
	hublink_security_json_string(&w->names, name);
	if (role_is_admin(name))
		w->admin = true;
}

/* CREATE or ALTER ROLE options that make an admin, or membership in one (IN ROLE). */
static void
scan_role_options(Watched *w, List *options)
{
	ListCell *lc;

	foreach (lc, options)
	{
		DefElem *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "superuser") == 0 || strcmp(def->defname, "createrole") == 0)
		{
			if (def->arg != NULL && defGetBoolean(def))
				w->admin = true;
		}
		else if (strcmp(def->defname, "addroleto") == 0)
		{
			ListCell *r;

			foreach (r, (List *) def->arg)
				if (role_is_admin(rolespec_name(lfirst(r))))
					w->admin = true;
		}
	}
}

/*
 * The table a RangeVar names, or InvalidOid, found without any privilege check: the hook must
 * not raise an error of its own before the statement runs (RangeVarGetRelid raises one for a
 * schema the role may not use, so that attempt would go unrecorded). An unqualified name is
 * looked up along the search path, which skips such schemas without an error.
 */
static Oid
relid_of(RangeVar *rv)
{
	Oid nsp;

	if (rv->schemaname == NULL)
		return RangeVarGetRelid(rv, NoLock, true);
	nsp = get_namespace_oid(rv->schemaname, true);
	return OidIsValid(nsp) ? get_relname_relid(rv->relname, nsp) : InvalidOid;
}

/* Whether a RangeVar names one of hublink.audit_relations. */
static bool
is_audit_relation(RangeVar *rv)
{
	const char *schema = rv->schemaname;

	if (hublink_audit_relations == NULL || hublink_audit_relations[0] == '\0')
		return false;
	if (schema == NULL)
	{
		Oid relid = relid_of(rv);

		if (!OidIsValid(relid))
			return false;
		schema = get_namespace_name(get_rel_namespace(relid));
	}
	return hublink_security_audit_listed(schema, rv->relname);
}

static void
add_table(Watched *w, RangeVar *rv, const char *kind)
{
	if (!is_audit_relation(rv))
		return;
	w->kind = kind;
	if (w->names.len > 1)
		appendStringInfoString(&w->names, ", ");
	hublink_security_json_string(
		&w->names, rv->schemaname ? psprintf("%s.%s", rv->schemaname, rv->relname) : rv->relname);
}

/* A schema that holds one of hublink.audit_relations (ALTER SCHEMA ... RENAME). */
static void
add_schema(Watched *w, const char *schema, const char *kind)
{
	char *list;
	List *names;
	ListCell *lc;

	if (schema == NULL || hublink_audit_relations == NULL)
		return;
	list = pstrdup(hublink_audit_relations);
	if (!SplitIdentifierString(list, ',', &names))
		return;
	foreach (lc, names)
	{
		char *qualified = lfirst(lc);
		char *dot = strchr(qualified, '.');

		if (dot != NULL && strncmp(qualified, schema, dot - qualified) == 0 &&
			schema[dot - qualified] == '\0')
		{
			w->kind = kind;
			if (w->names.len > 1)
				appendStringInfoString(&w->names, ", ");
			hublink_security_json_string(&w->names, qualified);
		}
	}
}

/*
 * Whether this statement runs inside hublink's own install or update script, which sets up its
 * roles and its audit tables. Any other extension's script is watched like any statement: its
 * role changes are role changes (a superuser made by an extension script is still made).
 */
static bool
in_own_extension_script(void)
{
	return creating_extension && OidIsValid(CurrentExtensionObject) &&
		   CurrentExtensionObject == get_extension_oid("hublink", true);
}

static void
watch(Node *node, Watched *w)
{
	ListCell *lc;

	switch (nodeTag(node))
	{
		case T_CreateRoleStmt:
		{
			CreateRoleStmt *s = (CreateRoleStmt *) node;

			w->action = "create";
			add_role(w, s->role);
			scan_role_options(w, s->options);
			break;
		}
		case T_AlterRoleStmt:
		{
			AlterRoleStmt *s = (AlterRoleStmt *) node;

			w->action = "alter";
			add_role(w, rolespec_name(s->role));
			scan_role_options(w, s->options);
			break;
		}
		case T_AlterRoleSetStmt:
		{
			AlterRoleSetStmt *s = (AlterRoleSetStmt *) node;

			w->action = "alter_set";
			add_role(w, s->role ? rolespec_name(s->role) : "all");
			break;
		}
		case T_DropRoleStmt:
			w->action = "drop";
			foreach (lc, ((DropRoleStmt *) node)->roles)
				add_role(w, rolespec_name(lfirst(lc)));
			break;
		case T_GrantRoleStmt:
		{
			GrantRoleStmt *s = (GrantRoleStmt *) node;

			w->action = s->is_grant ? "grant" : "revoke";
			foreach (lc, s->granted_roles)
				add_role(w, ((AccessPriv *) lfirst(lc))->priv_name);
			foreach (lc, s->grantee_roles)
				add_role(w, rolespec_name(lfirst(lc)));
			break;
		}
		case T_RenameStmt:
		{
			RenameStmt *s = (RenameStmt *) node;

			/*
			 * An audit table renamed, or its column, constraint or trigger (the append-only
			 * one), or the schema that holds it: the store is no longer where
			 * hublink.audit_relations and the monitoring look for it.
			 */
			if (s->renameType != OBJECT_ROLE)
			{
				if (s->relation != NULL && s->renameType != OBJECT_INDEX)
					add_table(w, s->relation, "audit_rename");
				else if (s->renameType == OBJECT_SCHEMA)
					add_schema(w, s->subname, "audit_rename");
				if (w->kind)
					w->action = "rename";
				return;
			}
			w->action = "rename";
			add_role(w, s->subname);
			add_role(w, s->newname);
			break;
		}
		case T_AlterObjectSchemaStmt:
		{
			AlterObjectSchemaStmt *s = (AlterObjectSchemaStmt *) node;

			if (s->relation != NULL)
				add_table(w, s->relation, "audit_rename");
			if (w->kind)
				w->action = "set_schema";
			return;
		}
		case T_TruncateStmt:
			foreach (lc, ((TruncateStmt *) node)->relations)
			{
				RangeVar *rv = lfirst(lc);
				Oid relid;

				add_table(w, rv, "audit_truncate");
				/*
				 * A role without the privilege is refused before the append-only trigger
				 * could record the attempt: note the first such audit table, recorded as
				 * audit_truncate_refused if the statement fails for lack of privilege.
				 */
				relid = relid_of(rv);
				if (w->refused == NULL && OidIsValid(relid) &&
					hublink_security_is_audit_relid(relid) &&
					pg_class_aclcheck(relid, GetUserId(), ACL_TRUNCATE) != ACLCHECK_OK)
					w->refused = hublink_security_refused_detail(relid, "truncate", GetUserId());
			}
			if (w->kind)
				w->action = "truncate";
			return;
		case T_DropStmt:
		{
			DropStmt *s = (DropStmt *) node;

			if (s->removeType != OBJECT_TABLE)
				return;
			foreach (lc, s->objects)
				add_table(w, makeRangeVarFromNameList(lfirst(lc)), "audit_drop");
			if (w->kind)
				w->action = "drop";
			return;
		}
		case T_AlterTableStmt:
			add_table(w, ((AlterTableStmt *) node)->relation, "audit_alter");
			if (w->kind)
				w->action = "alter";
			return;
		default:
			return;
	}
	w->kind = w->admin ? "admin_role_change" : "user_role_change";
}

static char *
event_detail(Watched *w, const char *outcome, const char *statement)
{
	StringInfoData d;

	initStringInfo(&d);
	appendStringInfoString(&d, "{\"action\": ");
	hublink_security_json_string(&d, w->action);
	appendStringInfo(&d, ", \"admin\": %s, \"objects\": %s], \"outcome\": ",
					 w->admin ? "true" : "false", w->names.data);
	hublink_security_json_string(&d, outcome);
	appendStringInfoString(&d, ", \"statement\": ");
	hublink_security_json_string(&d, statement);
	appendStringInfoChar(&d, '}');
	return d.data;
}

static void
utility_hook(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			 ProcessUtilityContext context, ParamListInfo params, QueryEnvironment *queryEnv,
			 DestReceiver *dest, QueryCompletion *qc)
{
	Watched w = {0};
	char *volatile executed = NULL;
	char *volatile failed = NULL;
	char *volatile who = NULL;

	initStringInfo(&w.names);
	appendStringInfoChar(&w.names, '[');
	/* Not hublink's own install or update script (it sets up its roles and audit tables). */
	if (!in_own_extension_script())
		watch(pstmt->utilityStmt, &w);
	if (w.kind != NULL)
	{
		/* Built now: after a failure only the ring may be touched before re-throwing. */
		const char *tag = GetCommandTagName(CreateCommandTag(pstmt->utilityStmt));

		executed = event_detail(&w, "executed", tag);
		failed = event_detail(&w, "failed", tag);
		who = GetUserNameFromId(GetSessionUserId(), true);
	}

	PG_TRY();
	{
		if (prev_utility_hook)
			prev_utility_hook(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest,
							  qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv,
									dest, qc);
	}
	PG_CATCH();
	{
		/*
		 * One event per attempt: a TRUNCATE refused by the privilege check is the refusal
		 * (audit_truncate_refused, which names the table and the role); any other failure is
		 * the statement's own event with outcome failed.
		 */
		if (w.refused != NULL && geterrcode() == ERRCODE_INSUFFICIENT_PRIVILEGE)
			hublink_security_record("audit_truncate_refused", who, w.refused);
		else if (w.kind != NULL)
			hublink_security_record(w.kind, who, failed);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (w.kind != NULL)
		hublink_security_record(w.kind, who, executed);
}

void
hublink_security_utility_install(void)
{
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = utility_hook;
}
