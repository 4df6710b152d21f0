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
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "security.h"

/*
 * What the table counts (docs/security-monitoring.md, "Lock-out"):
 * - only roles that exist: a failed logon of a made-up name is recorded in the ring but takes
 *   no slot, so guessing names cannot push a real role's count out;
 * - an ordinary role: its consecutive failures from every address, in one entry with source
 *   ""; at hublink.lockout_failures the role is locked out everywhere until
 *   hublink.unlock_role (kept in the file and in hublink.security_lockout);
 * - a protected role (superuser, CREATEROLE, REPLICATION, member of hublink_admin, or named in
 *   hublink.lockout_service_roles): one entry per client address; at hublink.lockout_failures
 *   only that address is refused, for hublink.lockout_source_duration, after which the lock
 *   lapses by itself. Such a lock lives in shared memory only: never in the file or the table,
 *   so it is never replicated, restored after a restart or enforced by a promoted standby. A
 *   stranger can so lock an admin out of the stranger's own address, not the admin's; a
 *   replica with a stale password stops only itself, and resumes once its password is right.
 * - addresses of a protected role beyond hublink.lockout_sources_per_role counted at once
 *   share one entry, source "*" (OTHER_SOURCES): an attacker rotating addresses gets no more
 *   guesses, and once it locks, every address without an entry of its own is refused for the
 *   duration, except a Unix socket ("[local]"), so an admin on the server can still log on.
 * A slot is free when unused or no longer counting (no failure and no lock, or an address
 * lock or count that has lapsed). A counting entry is never evicted: when no slot is free the
 * failure is not counted and a lockout_untracked event says so.
 */
#define SOURCE_LEN 64
/* The shared entry of a protected role's addresses beyond its quota. */
#define OTHER_SOURCES "*"
#define LOCAL_SOURCE  "[local]"
/* At most one lockout_untracked event per this many seconds (a full table is one incident). */
#define UNTRACKED_EVENT_SECS 60

typedef struct LogonEntry
{
	char role[NAMEDATALEN];  /* "": free */
	char source[SOURCE_LEN]; /* "": every address (an ordinary role) */
	int failures;            /* consecutive failed logons */
	bool locked;
	TimestampTz locked_at;
	TimestampTz last_seen;
} LogonEntry;

typedef struct AuthShared
{
	LWLock *lock;
	int slots;
	TimestampTz untracked_event_at;
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
 * The role-wide lock-outs also live in a small file in the data directory, rewritten whenever
 * the set of locked-out roles changes, and read when shared memory is set up. Without it a
 * restart would forget them until the worker's first flush restores them from
 * hublink.security_lockout, and a locked-out role could log on in those seconds. One line per
 * role: locked_at (microseconds, decimal) and the role name in hex (a role name may hold any
 * byte but NUL). Address locks are never written: they must not outlive the server.
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

		if (e->role[0] == '\0' || !e->locked || e->source[0] != '\0')
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

/* Whether an entry no longer counts anything, so its slot may be reused. */
static bool
entry_lapsed(const LogonEntry *e, TimestampTz now)
{
	if (e->role[0] == '\0')
		return true;
	if (e->source[0] == '\0')
		return !e->locked && e->failures == 0;
	/* An address entry lapses hublink.lockout_source_duration after its lock or last failure. */
	return TimestampDifferenceExceeds(e->locked ? e->locked_at : e->last_seen, now,
									  hublink_lockout_source_duration * 1000);
}

/*
 * The entry of (role, source), under the exclusive lock. A lapsed entry found is reset first.
 * Created if create, in a free or lapsed slot: never in place of a counting entry, and at most
 * hublink.lockout_sources_per_role address entries per role (*quota_full set when that is
 * why it is not created). NULL if absent or if there is no room.
 */
static LogonEntry *
find_entry(const char *role, const char *source, bool create, TimestampTz now, bool *quota_full)
{
	LogonEntry *slot = NULL;
	int sources = 0;

	for (int i = 0; i < auth->slots; i++)
	{
		LogonEntry *e = &auth->entries[i];

		if (e->role[0] != '\0' && strcmp(e->role, role) == 0)
		{
			if (strcmp(e->source, source) == 0)
			{
				if (entry_lapsed(e, now))
				{
					e->failures = 0;
					e->locked = false;
				}
				return e;
			}
			if (e->source[0] != '\0' && strcmp(e->source, OTHER_SOURCES) != 0 &&
				!entry_lapsed(e, now))
				sources++;
		}
		if (slot == NULL && entry_lapsed(e, now))
			slot = e;
	}
	if (quota_full != NULL)
		*quota_full = source[0] != '\0' && strcmp(source, OTHER_SOURCES) != 0 &&
					  sources >= hublink_lockout_sources_per_role;
	if (!create || slot == NULL || (quota_full != NULL && *quota_full))
		return NULL;
	memset(slot, 0, sizeof(*slot));
	strlcpy(slot->role, role, sizeof(slot->role));
	strlcpy(slot->source, source, sizeof(slot->source));
	return slot;
}

/* Frees an entry that no longer counts (a success, an unlock), so its slot can be reused. */
static void
release_entry(LogonEntry *e)
{
	memset(e, 0, sizeof(*e));
}

/* Whether a role may log on at all: only such roles are counted (bounds the table by them). */
static bool
role_can_login(Oid roleid)
{
	HeapTuple tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(roleid));
	bool can = false;

	if (HeapTupleIsValid(tuple))
	{
		can = ((Form_pg_authid) GETSTRUCT(tuple))->rolcanlogin;
		ReleaseSysCache(tuple);
	}
	return can;
}

/*
 * Why a role is protected from a role-wide lock-out, or NULL for an ordinary role. Reads the
 * catalog: the hook runs inside InitPostgres's transaction, after the password check did too.
 */
static const char *
protected_reason(Oid roleid, const char *role)
{
	HeapTuple tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(roleid));
	const char *reason = NULL;
	Oid admin;

	if (HeapTupleIsValid(tuple))
	{
		Form_pg_authid form = (Form_pg_authid) GETSTRUCT(tuple);

		if (form->rolsuper)
			reason = "superuser";
		else if (form->rolreplication)
			reason = "replication";
		else if (form->rolcreaterole)
			reason = "createrole";
		ReleaseSysCache(tuple);
	}
	if (reason != NULL)
		return reason;
	admin = get_role_oid("hublink_admin", true);
	if (OidIsValid(admin) && is_member_of_role(roleid, admin))
		return "hublink_admin";
	if (hublink_lockout_service_roles != NULL && hublink_lockout_service_roles[0] != '\0')
	{
		char *copy = pstrdup(hublink_lockout_service_roles);
		List *names = NIL;
		ListCell *lc;

		if (SplitIdentifierString(copy, ',', &names))
			foreach (lc, names)
				if (strcmp((const char *) lfirst(lc), role) == 0)
					reason = "service";
		list_free(names);
		pfree(copy);
	}
	return reason;
}

static void
record_logon(Port *port, const char *outcome, int failures)
{
	StringInfoData d;

	initStringInfo(&d);
	appendStringInfoString(&d, "{\"outcome\": ");
	hublink_security_json_string(&d, outcome);
	appendStringInfoString(&d, ", \"database\": ");
	hublink_security_json_string(&d, port->database_name);
	appendStringInfoString(&d, ", \"client_addr\": ");
	hublink_security_json_string(&d, port->remote_host);
	appendStringInfoString(&d, ", \"method\": ");
	hublink_security_json_string(&d, port->hba ? hba_authname(port->hba->auth_method) : "");
	appendStringInfo(&d, ", \"consecutive_failures\": %d}", failures);
	hublink_security_record("logon", port->user_name, d.data);
	pfree(d.data);
}

/* Records a lock-out in the ring and, at once, in the server log (so monitoring sees it now). */
static void
record_lock(const char *role, const char *source, const char *reason, int failures)
{
	StringInfoData d;

	initStringInfo(&d);
	appendStringInfoString(&d, "{\"locked_role\": ");
	hublink_security_json_string(&d, role);
	appendStringInfo(&d, ", \"failures\": %d, \"lockout_failures\": %d", failures,
					 hublink_lockout_failures);
	if (source[0] != '\0')
	{
		appendStringInfoString(&d, ", \"client_addr\": ");
		hublink_security_json_string(&d, source);
		appendStringInfoString(&d, ", \"protected_as\": ");
		hublink_security_json_string(&d, reason);
		appendStringInfo(&d, ", \"lapses_after_seconds\": %d", hublink_lockout_source_duration);
	}
	appendStringInfoChar(&d, '}');
	hublink_security_record(source[0] != '\0' ? "source_locked" : "account_locked", role, d.data);
	pfree(d.data);
	if (strcmp(source, OTHER_SOURCES) == 0)
		ereport(LOG, (errmsg("hublink locked role \"%s\" out from every address without a count of "
							 "its own for %d s after %d failed logons from more than %d addresses",
							 role, hublink_lockout_source_duration, failures,
							 hublink_lockout_sources_per_role),
					  errdetail("The role is protected from a role-wide lock-out (%s): the "
								"addresses counted one by one, and Unix sockets, may still log on.",
								reason)));
	else if (source[0] != '\0')
		ereport(LOG, (errmsg("hublink locked role \"%s\" out from address %s for %d s after %d "
							 "consecutive failed logons",
							 role, source, hublink_lockout_source_duration, failures),
					  errdetail("The role is protected from a role-wide lock-out (%s): it may "
								"still log on from other addresses.",
								reason)));
	else
		ereport(LOG, (errmsg("hublink locked role \"%s\" out after %d consecutive failed logons",
							 role, failures),
					  errdetail("Every logon of the role is refused until an administrator "
								"runs hublink.unlock_role().")));
}

/* What counting one logon attempt did (count_attempt). */
typedef struct Attempt
{
	bool tracked;           /* false: a made-up name, a role that cannot log on, the bootstrap
							 * superuser: recorded, never counted */
	const char *source;     /* "" (role-wide), the address, or OTHER_SOURCES */
	const char *reason;     /* why the role is protected, or NULL */
	bool counted;           /* a failure found a slot */
	bool newly_locked;      /* this failure locked it out */
	bool locked_everywhere; /* a success of a role locked out everywhere */
	bool locked_here;       /* a success from an address locked out */
	bool untracked_event;   /* a lockout_untracked event is due */
	int failures;
} Attempt;

/*
 * Counts one logon attempt of role from remote_host in the lock-out table (the rules at the
 * top of this file). Shared by database logons (the hook below) and web sign-ins
 * (hublink_security_web_logon), so both count towards one lock-out.
 */
static void
count_attempt(const char *role, const char *remote_host, bool ok, Attempt *a)
{
	LogonEntry *e;
	Oid roleid;
	TimestampTz now = GetCurrentTimestamp();

	memset(a, 0, sizeof(*a));
	a->source = "";
	a->counted = true;

	/*
	 * A made-up name, or a group role that cannot log on, is recorded but never counted: it
	 * would only take the slot of a login that exists. Locking out the bootstrap superuser
	 * could leave nobody able to unlock anybody.
	 */
	roleid = get_role_oid(role, true);
	if (!OidIsValid(roleid) || !role_can_login(roleid) || roleid == BOOTSTRAP_SUPERUSERID)
		return;
	a->tracked = true;
	a->reason = protected_reason(roleid, role);
	if (a->reason != NULL)
		a->source = remote_host ? remote_host : "";
	if (a->reason != NULL && a->source[0] == '\0')
		a->source = "[unknown]";

	LWLockAcquire(auth->lock, LW_EXCLUSIVE);
	if (!ok)
	{
		bool quota_full = false;

		e = find_entry(role, a->source, true, now, &quota_full);
		/* An address beyond the role's quota counts with the others beyond it. */
		if (e == NULL && quota_full)
		{
			a->source = OTHER_SOURCES;
			e = find_entry(role, a->source, true, now, NULL);
		}
		if (e == NULL)
		{
			a->counted = false;
			if (auth->untracked_event_at == 0 ||
				TimestampDifferenceExceeds(auth->untracked_event_at, now,
										   UNTRACKED_EVENT_SECS * 1000))
			{
				auth->untracked_event_at = now;
				a->untracked_event = true;
			}
		}
		else
		{
			e->last_seen = now;
			a->failures = ++e->failures;
			if (!e->locked && hublink_lockout_failures > 0 &&
				e->failures >= hublink_lockout_failures)
			{
				e->locked = true;
				e->locked_at = now;
				a->newly_locked = true;
				if (a->source[0] == '\0')
					save_lockouts();
			}
		}
	}
	else
	{
		/* A role-wide lock-out (restored from the table too) holds for every role class. */
		LogonEntry *all = find_entry(role, "", false, now, NULL);
		LogonEntry *here =
			a->source[0] != '\0' ? find_entry(role, a->source, false, now, NULL) : NULL;
		LogonEntry *others = NULL;

		/* An address without an entry of its own is judged with the others (not a socket). */
		if (a->source[0] != '\0' && here == NULL && strcmp(a->source, LOCAL_SOURCE) != 0)
			others = find_entry(role, OTHER_SOURCES, false, now, NULL);
		a->locked_everywhere = all != NULL && all->locked;
		a->locked_here = (here != NULL && here->locked) || (others != NULL && others->locked);
		if (all != NULL && !all->locked)
			release_entry(all);
		if (here != NULL && !here->locked && !a->locked_everywhere)
			release_entry(here);
	}
	LWLockRelease(auth->lock);
}

/* The events of a failed attempt beyond the logon itself: a lock-out, a full table. */
static void
record_failure_effects(const char *role, const Attempt *a)
{
	if (a->newly_locked)
		record_lock(role, a->source, a->reason, a->failures);
	if (!a->counted && a->untracked_event)
	{
		StringInfoData d;

		initStringInfo(&d);
		appendStringInfoString(&d, "{\"role\": ");
		hublink_security_json_string(&d, role);
		appendStringInfo(&d, ", \"lockout_slots\": %d}", auth->slots);
		hublink_security_record("lockout_untracked", role, d.data);
	}
}

static void
client_auth(Port *port, int status)
{
	Attempt a;

	if (prev_client_auth_hook)
		prev_client_auth_hook(port, status);

	/* The client hung up at the password prompt (psql does, to ask for one): no attempt. */
	if (status == STATUS_EOF || auth == NULL || port->user_name == NULL)
		return;

	count_attempt(port->user_name, port->remote_host, status == STATUS_OK, &a);
	if (!a.tracked)
	{
		record_logon(port, status == STATUS_OK ? "succeeded" : "failed", 0);
		if (status == STATUS_OK)
			warning_pending = true;
		return;
	}
	if (status != STATUS_OK)
	{
		record_logon(port, "failed", a.failures);
		record_failure_effects(port->user_name, &a);
		return;
	}
	if (a.locked_everywhere)
	{
		record_logon(port, "refused_locked", 0);
		ereport(FATAL, (errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
						errmsg("role \"%s\" is locked out", port->user_name),
						errdetail("Too many consecutive failed logons locked this role out."),
						errhint("Ask an administrator to run hublink.unlock_role().")));
	}
	if (a.locked_here)
	{
		record_logon(port, "refused_locked", 0);
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("role \"%s\" is locked out from this address", port->user_name),
				 errdetail("Too many consecutive failed logons from this address locked the "
						   "role out here for %d seconds; it may log on from other addresses.",
						   hublink_lockout_source_duration),
				 errhint("Wait, or ask an administrator to run hublink.unlock_role().")));
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
	TimestampTz now = GetCurrentTimestamp();
	bool result = false;

	check_auth();
	LWLockAcquire(auth->lock, LW_EXCLUSIVE);
	if (lock)
	{
		LogonEntry *e = find_entry(role, "", true, now, NULL);

		/*
		 * A lock-out to restore and no free slot: it takes the place of an address entry or
		 * of a count, never of another lock-out (a lock-out outranks a count).
		 */
		for (int i = 0; e == NULL && i < auth->slots; i++)
			if (auth->entries[i].source[0] != '\0' || !auth->entries[i].locked)
			{
				e = &auth->entries[i];
				release_entry(e);
				strlcpy(e->role, role, sizeof(e->role));
			}
		if (e != NULL && !e->locked)
		{
			e->locked = true;
			e->locked_at = at;
			e->last_seen = now;
			save_lockouts();
		}
		result = e != NULL && e->locked;
	}
	else
	{
		/* Lifts the role-wide lock-out (unless newer than p_at) and every address lock. */
		bool saved = false;

		for (int i = 0; i < auth->slots; i++)
		{
			LogonEntry *e = &auth->entries[i];

			if (e->role[0] == '\0' || strcmp(e->role, role) != 0)
				continue;
			if (e->source[0] == '\0' && e->locked && e->locked_at > at)
			{
				result = true;
				continue;
			}
			if (e->source[0] == '\0' && e->locked)
				saved = true;
			release_entry(e);
		}
		if (saved)
			save_lockouts();
	}
	LWLockRelease(auth->lock);
	PG_RETURN_BOOL(result);
}

PG_FUNCTION_INFO_V1(hublink_security_logon_state);

/*
 * hublink.security_logon_state() RETURNS TABLE (role_name, consecutive_failures, locked,
 * locked_at, last_seen, client_addr): the entries still counting; client_addr NULL for a
 * role-wide entry.
 */
Datum
hublink_security_logon_state(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LogonEntry *copy;
	int n = 0;
	TimestampTz now = GetCurrentTimestamp();

	check_auth();
	InitMaterializedSRF(fcinfo, 0);
	copy = palloc(sizeof(LogonEntry) * auth->slots);
	LWLockAcquire(auth->lock, LW_SHARED);
	for (int i = 0; i < auth->slots; i++)
		if (!entry_lapsed(&auth->entries[i], now))
			copy[n++] = auth->entries[i];
	LWLockRelease(auth->lock);
	for (int i = 0; i < n; i++)
	{
		Datum values[6];
		bool nulls[6] = {false};

		values[0] = CStringGetTextDatum(copy[i].role);
		values[1] = Int32GetDatum(copy[i].failures);
		values[2] = BoolGetDatum(copy[i].locked);
		values[3] = TimestampTzGetDatum(copy[i].locked_at);
		nulls[3] = !copy[i].locked;
		values[4] = TimestampTzGetDatum(copy[i].last_seen);
		values[5] = CStringGetTextDatum(copy[i].source);
		nulls[5] = copy[i].source[0] == '\0';
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
 * p_extra text) RETURNS text: a sign-in through the web interface (docs/web.md), counted and
 * recorded exactly like a database logon of that role from the browser's address (NFR 0020
 * 3c-e): the same lock-out table and rules (count_attempt), a "logon" event with method
 * "oidc" that the flush copies to hublink.logon (so the failed-logon alert and the
 * dormant-role check see it), and the lock-out events when this failure locks the role out.
 * p_extra, a JSON object (the provider's issuer and subject, the reason of a failure), is added
 * to the event's detail. Returns the outcome: succeeded, failed, or refused_locked when p_ok
 * but the role is locked out (everywhere, or from that address for a protected role).
 */
Datum
hublink_security_web_logon(PG_FUNCTION_ARGS)
{
	char *role;
	bool ok;
	char *client_addr;
	char *extra;
	const char *outcome;
	Attempt a;
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

	count_attempt(role, client_addr, ok, &a);
	outcome = !ok                                      ? "failed"
			  : (a.locked_everywhere || a.locked_here) ? "refused_locked"
													   : "succeeded";
	initStringInfo(&d);
	appendStringInfoString(&d, "{\"outcome\": ");
	hublink_security_json_string(&d, outcome);
	appendStringInfoString(&d, ", \"database\": ");
	hublink_security_json_string(&d, get_database_name(MyDatabaseId));
	appendStringInfoString(&d, ", \"client_addr\": ");
	hublink_security_json_string(&d, client_addr);
	appendStringInfo(&d, ", \"method\": \"oidc\", \"consecutive_failures\": %d", a.failures);
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
	if (!ok && a.tracked)
		record_failure_effects(role, &a);
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
