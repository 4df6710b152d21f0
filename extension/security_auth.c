/*
 * security_auth.c - logons (NFR 0020 3c-e, NFR 0014): every logon is recorded in the security
 * ring; consecutive failures lock a role out; each session is shown the login warning.
 *
 * The ClientAuthentication hook runs after the server has checked the password and before it
 * tells the client the outcome, in a backend that cannot write tables yet (and, for a failed
 * logon, never will). So both the lock-out state and the warning text live in shared memory:
 * the lock-out table here is authoritative for refusing logons, and hublink.security_lockout (kept
 * by the worker's flush) makes it survive a restart. The warning text is copied from
 * hublink.security_login_warning by the flush job and by that table's trigger.
 *
 * PostgreSQL 15 has no login event trigger, and a NOTICE raised during authentication is not
 * sent to the client (libpq would reject it before AuthenticationOk anyway). But InitPostgres
 * runs authentication inside a transaction that it commits once the session is set up, after
 * AuthenticationOk has been sent: a commit callback armed by the hook sends the warning then,
 * as a NOTICE, which libpq passes to the client's notice processor (psql prints it).
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
/*
 * libpq-be.h includes the GSSAPI headers when the server was built with GSSAPI, and they are
 * not installed here. Port only holds a pointer to the GSSAPI state (pg_gssinfo * with it,
 * void * without), so leaving GSSAPI out changes no field this file reads.
 */
#undef ENABLE_GSS
#include "libpq/auth.h"
#include "libpq/hba.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "security.h"

typedef struct LogonEntry
{
	char role[NAMEDATALEN]; /* "": free */
	int failures;           /* consecutive failed logons */
	bool locked;
	TimestampTz locked_at;
	TimestampTz last_seen;
} LogonEntry;

typedef struct AuthShared
{
	LWLock *lock;
	int slots;
	char warning[SECURITY_WARNING_LEN];
	LogonEntry entries[FLEXIBLE_ARRAY_MEMBER];
} AuthShared;

static AuthShared *auth = NULL;
static ClientAuthentication_hook_type prev_client_auth_hook = NULL;

/* Set by the hook when this backend's logon succeeded; the commit callback shows the warning. */
static bool warning_pending = false;

Size
hublink_security_auth_size(void)
{
	return add_size(offsetof(AuthShared, entries),
					mul_size(sizeof(LogonEntry), hublink_lockout_slots));
}

/*
 * The lock-outs also live in a small file in the data directory, rewritten whenever the set of
 * locked-out roles changes, and read when shared memory is set up. Without it a restart would
 * forget them until the worker's first flush restores them from hublink.security_lockout, and
 * a locked-out role could log on in those seconds. One line per role: locked_at (microseconds,
 * decimal) and the role name in hex (a role name may hold any byte but NUL).
 */
#define LOCKOUT_FILE "hublink_lockouts"
#define LOCKOUT_TEMP "hublink_lockouts.tmp"

/* Rewrites the file from shared memory; called under the exclusive lock. Never throws. */
static void
save_lockouts(void)
{
	StringInfoData buf;
	int fd;
	bool ok;

	initStringInfo(&buf);
	for (int i = 0; i < auth->slots; i++)
	{
		LogonEntry *e = &auth->entries[i];

		if (e->role[0] == '\0' || !e->locked)
			continue;
		appendStringInfo(&buf, INT64_FORMAT " ", (int64) e->locked_at);
		for (const char *c = e->role; *c; c++)
			appendStringInfo(&buf, "%02x", (unsigned char) *c);
		appendStringInfoChar(&buf, '\n');
	}
	fd = open(LOCKOUT_TEMP, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY, S_IRUSR | S_IWUSR);
	ok = fd >= 0 && write(fd, buf.data, buf.len) == buf.len;
	if (fd >= 0 && close(fd) != 0)
		ok = false;
	if (!ok || durable_rename(LOCKOUT_TEMP, LOCKOUT_FILE, LOG) != 0)
		ereport(LOG, (errcode_for_file_access(),
					  errmsg("could not save the hublink lock-outs to \"%s\": %m", LOCKOUT_FILE),
					  errdetail("Until the worker's first flush after a restart, the lock-outs "
								"would not be enforced."),
					  errhint("Check the permissions and free space of the data directory.")));
	pfree(buf.data);
}

/* Fills empty shared memory from the file, if there is one (at server start). */
static void
load_lockouts(void)
{
	FILE *f = fopen(LOCKOUT_FILE, "r");
	char line[32 + 2 * NAMEDATALEN];
	int n = 0;

	/*
	 * A standby never flushes, so nothing would ever lift a lock-out it loaded from the file
	 * its base backup copied: it starts without, as before the file (the primary enforces).
	 */
	if (access(STANDBY_SIGNAL_FILE, F_OK) == 0)
	{
		if (f != NULL)
			fclose(f);
		return;
	}
	if (f == NULL)
		return;
	while (n < auth->slots && fgets(line, sizeof(line), f) != NULL)
	{
		LogonEntry *e = &auth->entries[n];
		char *hex = strchr(line, ' ');
		int len = 0;

		if (hex == NULL)
			continue;
		*hex++ = '\0';
		while (len < NAMEDATALEN - 1 && isxdigit((unsigned char) hex[0]) &&
			   isxdigit((unsigned char) hex[1]))
		{
			unsigned int byte;

			if (sscanf(hex, "%2x", &byte) != 1 || byte == 0)
				break;
			e->role[len++] = (char) byte;
			hex += 2;
		}
		e->role[len] = '\0';
		if (len == 0)
			continue;
		e->locked = true;
		e->locked_at = (TimestampTz) strtoi64(line, NULL, 10);
		e->last_seen = e->locked_at;
		n++;
	}
	fclose(f);
	if (n > 0)
		ereport(LOG, (errmsg("hublink restored %d lock-out(s) from \"%s\"", n, LOCKOUT_FILE)));
}

void
hublink_security_auth_attach(void)
{
	bool found;

	auth = ShmemInitStruct("hublink security logons", hublink_security_auth_size(), &found);
	if (!found)
	{
		memset(auth, 0, hublink_security_auth_size());
		auth->lock = &(GetNamedLWLockTranche("hublink security"))[1].lock;
		auth->slots = hublink_lockout_slots;
		load_lockouts();
	}
}

/*
 * The entry of a role, under the exclusive lock; created if create, replacing the entry seen
 * least recently that is not locked out. NULL if absent, or if every entry is locked out.
 */
static LogonEntry *
find_entry(const char *role, bool create)
{
	LogonEntry *victim = NULL;

	for (int i = 0; i < auth->slots; i++)
	{
		LogonEntry *e = &auth->entries[i];

		if (e->role[0] != '\0' && strcmp(e->role, role) == 0)
			return e;
		if (!e->locked && (victim == NULL || victim->role[0] != '\0') &&
			(e->role[0] == '\0' || victim == NULL || e->last_seen < victim->last_seen))
			victim = e;
	}
	if (!create || victim == NULL)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	strlcpy(victim->role, role, sizeof(victim->role));
	return victim;
}

/* Appends the JSON detail of a logon event (without its closing brace) to d. */
static void
logon_detail(StringInfo d, const char *outcome, const char *database, const char *client_addr,
			 const char *method, int failures)
{
	appendStringInfoString(d, "{\"outcome\": ");
	hublink_security_json_string(d, outcome);
	appendStringInfoString(d, ", \"database\": ");
	hublink_security_json_string(d, database);
	appendStringInfoString(d, ", \"client_addr\": ");
	hublink_security_json_string(d, client_addr);
	appendStringInfoString(d, ", \"method\": ");
	hublink_security_json_string(d, method);
	appendStringInfo(d, ", \"consecutive_failures\": %d", failures);
}

static void
record_logon(Port *port, const char *outcome, int failures)
{
	StringInfoData d;

	initStringInfo(&d);
	logon_detail(&d, outcome, port->database_name, port->remote_host,
				 port->hba ? hba_authname(port->hba->auth_method) : "", failures);
	appendStringInfoChar(&d, '}');
	hublink_security_record("logon", port->user_name, d.data);
	pfree(d.data);
}

static void
record_account_locked(const char *role, int failures)
{
	StringInfoData d;

	initStringInfo(&d);
	appendStringInfoString(&d, "{\"locked_role\": ");
	hublink_security_json_string(&d, role);
	appendStringInfo(&d, ", \"failures\": %d, \"lockout_failures\": %d}", failures,
					 hublink_lockout_failures);
	hublink_security_record("account_locked", role, d.data);
}

/*
 * Counts one logon attempt of role in the lock-out table: a failure adds one to its
 * consecutive failures and may lock it out; a success clears them unless it is locked out.
 * Returns whether the role is locked out (never the bootstrap superuser, so someone can
 * always unlock); *failures and *newly_locked say what the attempt did. Shared by database
 * logons (the hook below) and web sign-ins (hublink_security_web_logon), so both count
 * towards one lock-out.
 */
static bool
count_attempt(const char *role, bool ok, int *failures, bool *newly_locked)
{
	LogonEntry *e;
	bool locked = false;
	bool protected_role = get_role_oid(role, true) == BOOTSTRAP_SUPERUSERID;
	TimestampTz now = GetCurrentTimestamp();

	*failures = 0;
	*newly_locked = false;
	LWLockAcquire(auth->lock, LW_EXCLUSIVE);
	e = find_entry(role, !ok);
	if (e != NULL)
	{
		e->last_seen = now;
		if (!ok)
		{
			*failures = ++e->failures;
			if (!e->locked && !protected_role && hublink_lockout_failures > 0 &&
				e->failures >= hublink_lockout_failures)
			{
				e->locked = true;
				e->locked_at = now;
				*newly_locked = true;
				save_lockouts();
			}
		}
		else if (!e->locked)
			e->failures = 0;
		locked = e->locked && !protected_role;
	}
	LWLockRelease(auth->lock);
	return locked;
}

static void
client_auth(Port *port, int status)
{
	bool locked;
	bool newly_locked;
	int failures;

	if (prev_client_auth_hook)
		prev_client_auth_hook(port, status);

	/* The client hung up at the password prompt (psql does, to ask for one): no attempt. */
	if (status == STATUS_EOF || auth == NULL || port->user_name == NULL)
		return;

	locked = count_attempt(port->user_name, status == STATUS_OK, &failures, &newly_locked);
	if (status != STATUS_OK)
	{
		record_logon(port, "failed", failures);
		if (newly_locked)
			record_account_locked(port->user_name, failures);
		return;
	}
	if (locked)
	{
		record_logon(port, "refused_locked", 0);
		ereport(FATAL, (errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
						errmsg("role \"%s\" is locked out", port->user_name),
						errdetail("Too many consecutive failed logons locked this role out."),
						errhint("Ask an administrator to run hublink.unlock_role().")));
	}
	record_logon(port, "succeeded", 0);
	warning_pending = true;
}

/* Shows the login warning when InitPostgres commits: the client has had AuthenticationOk. */
static void
show_warning_at_commit(XactEvent event, void *arg)
{
	char warning[SECURITY_WARNING_LEN];

	if (!warning_pending || event != XACT_EVENT_COMMIT || auth == NULL)
		return;
	warning_pending = false;
	LWLockAcquire(auth->lock, LW_SHARED);
	memcpy(warning, auth->warning, sizeof(warning));
	LWLockRelease(auth->lock);
	if (warning[0] != '\0')
		ereport(NOTICE, (errcode(ERRCODE_SUCCESSFUL_COMPLETION), errmsg("%s", warning)));
}

void
hublink_security_auth_install(void)
{
	prev_client_auth_hook = ClientAuthentication_hook;
	ClientAuthentication_hook = client_auth;
	RegisterXactCallback(show_warning_at_commit, NULL);
}

static void
check_auth(void)
{
	if (auth == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the hublink logon table is not set up"),
				 errdetail("It lives in shared memory, which hublink only sets up when it is "
						   "loaded through shared_preload_libraries."),
				 errhint("Add hublink to shared_preload_libraries and restart the server.")));
}

PG_FUNCTION_INFO_V1(hublink_security_set_lockout);

/*
 * hublink.security_set_lockout(p_role text, p_locked boolean, p_at timestamptz) RETURNS
 * boolean: makes shared memory agree with hublink.security_lockout. Locking keeps an earlier
 * locked_at; unlocking (which also clears the failures) applies only to a lock-out from
 * before p_at, so a lock-out the flush has not copied yet is not lifted by an older unlock.
 * Returns whether the role is locked out afterwards.
 */
Datum
hublink_security_set_lockout(PG_FUNCTION_ARGS)
{
	char *role = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool lock = PG_GETARG_BOOL(1);
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(2);
	LogonEntry *e;
	bool result = false;

	check_auth();
	LWLockAcquire(auth->lock, LW_EXCLUSIVE);
	e = find_entry(role, lock);
	if (e != NULL)
	{
		if (lock && !e->locked)
		{
			e->locked = true;
			e->locked_at = at;
			e->last_seen = GetCurrentTimestamp();
			save_lockouts();
		}
		else if (!lock && (!e->locked || e->locked_at <= at))
		{
			bool was_locked = e->locked;

			e->locked = false;
			e->failures = 0;
			if (was_locked)
				save_lockouts();
		}
		result = e->locked;
	}
	LWLockRelease(auth->lock);
	PG_RETURN_BOOL(result);
}

PG_FUNCTION_INFO_V1(hublink_security_logon_state);

/* hublink.security_logon_state() RETURNS TABLE (role_name, failures, locked, locked_at, last_seen)
 */
Datum
hublink_security_logon_state(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LogonEntry *copy;
	int n = 0;

	check_auth();
	InitMaterializedSRF(fcinfo, 0);
	copy = palloc(sizeof(LogonEntry) * auth->slots);
	LWLockAcquire(auth->lock, LW_SHARED);
	for (int i = 0; i < auth->slots; i++)
		if (auth->entries[i].role[0] != '\0')
			copy[n++] = auth->entries[i];
	LWLockRelease(auth->lock);
	for (int i = 0; i < n; i++)
	{
		Datum values[5];
		bool nulls[5] = {false};

		values[0] = CStringGetTextDatum(copy[i].role);
		values[1] = Int32GetDatum(copy[i].failures);
		values[2] = BoolGetDatum(copy[i].locked);
		values[3] = TimestampTzGetDatum(copy[i].locked_at);
		nulls[3] = !copy[i].locked;
		values[4] = TimestampTzGetDatum(copy[i].last_seen);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(hublink_security_publish_warning);

/*
 * hublink.security_publish_warning(p_text text) RETURNS void: the text every new session is
 * shown; NULL or '' shows none. Cut to fit shared memory (2 kB).
 */
Datum
hublink_security_publish_warning(PG_FUNCTION_ARGS)
{
	char *warning = PG_ARGISNULL(0) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(0));

	check_auth();
	LWLockAcquire(auth->lock, LW_EXCLUSIVE);
	strlcpy(auth->warning, warning, sizeof(auth->warning));
	LWLockRelease(auth->lock);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(hublink_security_web_logon);

/*
 * hublink.security_web_logon(p_role_name text, p_ok boolean, p_client_addr text,
 * p_extra jsonb) RETURNS text: a sign-in through the web interface (docs/web.md), counted
 * and recorded exactly like a database logon of that role (NFR 0020 3c-e): the same lock-out
 * table, a "logon" event with method "oidc" that the flush copies to hublink.logon (so the
 * failed-logon alert and the dormant-role check see it), and "account_locked" when this
 * failure locks the role out. p_extra (the identity provider's issuer and subject, the reason
 * of a failure) is added to the event's detail. Returns the outcome: succeeded, failed, or
 * refused_locked when p_ok but the role is locked out.
 */
Datum
hublink_security_web_logon(PG_FUNCTION_ARGS)
{
	char *role;
	bool ok;
	char *client_addr;
	char *extra;
	const char *outcome;
	bool locked;
	bool newly_locked;
	int failures;
	StringInfoData d;

	check_auth();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("a web sign-in needs a role name and an outcome"),
						errdetail("The role name or the outcome was NULL."),
						errhint("Pass the role the identity maps to, or the identity's name.")));
	role = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strlen(role) == 0 || strlen(role) >= NAMEDATALEN)
		ereport(ERROR, (errcode(ERRCODE_INVALID_NAME),
						errmsg("web sign-in role name \"%s\" is not a role name", role),
						errdetail("A role name has 1 to %d bytes.", NAMEDATALEN - 1),
						errhint("Pass the role the identity maps to.")));
	ok = PG_GETARG_BOOL(1);
	client_addr = PG_ARGISNULL(2) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	extra = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));

	locked = count_attempt(role, ok, &failures, &newly_locked);
	outcome = !ok ? "failed" : locked ? "refused_locked" : "succeeded";
	initStringInfo(&d);
	logon_detail(&d, outcome, get_database_name(MyDatabaseId), client_addr, "oidc", failures);
	/* p_extra is a JSON object: splice its members after ours. */
	if (extra != NULL && extra[0] == '{')
	{
		const char *members = extra + 1;

		while (*members == ' ')
			members++;
		if (*members != '}')
			appendStringInfo(&d, ", %s", members);
		else
			appendStringInfoChar(&d, '}');
	}
	else
		appendStringInfoChar(&d, '}');
	hublink_security_record("logon", role, d.data);
	if (newly_locked)
		record_account_locked(role, failures);
	pfree(d.data);
	PG_RETURN_TEXT_P(cstring_to_text(outcome));
}

PG_FUNCTION_INFO_V1(hublink_security_web_sign_out);

/*
 * hublink.security_web_sign_out(p_role_name text, p_detail text) RETURNS void: records that the
 * person signed in as p_role_name through the web interface signed out or was timed out
 * (event "web_sign_out", docs/web.md). p_detail is a JSON object (the reason), from the owner's
 * SQL wrapper.
 */
Datum
hublink_security_web_sign_out(PG_FUNCTION_ARGS)
{
	char *role;

	check_auth();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a web sign-out needs a role name"), errdetail("The role name was NULL."),
				 errhint("Pass the role the session was signed in as.")));
	role = text_to_cstring(PG_GETARG_TEXT_PP(0));
	hublink_security_record("web_sign_out", role,
							PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}
