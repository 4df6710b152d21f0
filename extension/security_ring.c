/*
 * security_ring.c - the security event ring: a bounded array of events in shared memory.
 *
 * Why not a table: an event must outlive the rollback of the statement that caused it (a
 * refused DELETE on the audit table, a refused logon), and a failed logon cannot write a table
 * at all. So events go to shared memory, under an LWLock, and the worker's security_monitor
 * job copies them into hublink.security_event (sql/parts/77_security_events.sql).
 *
 * Events are numbered from 1 at every server start. The ring keeps the newest
 * hublink.security_event_slots events: when it is full the oldest is overwritten. The reader
 * never removes events; it asks for those after the last number its table holds, so a flush
 * that rolls back loses nothing, and the gap between that number and the oldest event still
 * in the ring is exactly the number of events lost to overflow, which the flush records.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "security.h"

typedef struct SecurityEvent
{
	uint64 seq; /* 0: slot never used */
	TimestampTz at;
	int pid;
	Oid database;
	char kind[SECURITY_KIND_LEN];
	char role[NAMEDATALEN];
	char detail[SECURITY_DETAIL_LEN];
} SecurityEvent;

typedef struct SecurityRing
{
	LWLock *lock;
	TimestampTz started_at; /* identifies this numbering of events */
	uint64 next_seq;        /* number of the next event recorded */
	int slots;
	SecurityEvent events[FLEXIBLE_ARRAY_MEMBER];
} SecurityRing;

static SecurityRing *ring = NULL;

Size
hublink_security_ring_size(void)
{
	return add_size(offsetof(SecurityRing, events),
					mul_size(sizeof(SecurityEvent), hublink_security_event_slots));
}

/* Called from the shared memory start-up hook, under AddinShmemInitLock. */
void
hublink_security_ring_attach(void)
{
	bool found;

	ring = ShmemInitStruct("hublink security ring", hublink_security_ring_size(), &found);
	if (!found)
	{
		memset(ring, 0, hublink_security_ring_size());
		ring->lock = &(GetNamedLWLockTranche("hublink security"))[0].lock;
		ring->started_at = GetCurrentTimestamp();
		ring->next_seq = 1;
		ring->slots = hublink_security_event_slots;
	}
}

static void
check_ring(void)
{
	if (ring == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the hublink security event ring is not set up"),
				 errdetail("The ring lives in shared memory, which hublink only sets up when "
						   "it is loaded through shared_preload_libraries."),
				 errhint("Add hublink to shared_preload_libraries and restart the server.")));
}

/*
 * Records one event. Never raises an error once the ring exists: it is called from the
 * logon hook and from error paths. kind and role are cut to fit; a detail too long for a slot
 * is replaced by a note saying so, since cutting JSON would break it.
 */
void
hublink_security_record(const char *kind, const char *role_name, const char *detail_json)
{
	SecurityEvent *e;
	size_t len = detail_json ? strlen(detail_json) : 0;
	TimestampTz now = GetCurrentTimestamp();

	if (ring == NULL)
		return;

	LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	e = &ring->events[(ring->next_seq - 1) % ring->slots];
	e->seq = ring->next_seq++;
	e->at = now;
	e->pid = MyProcPid;
	e->database = MyDatabaseId;
	strlcpy(e->kind, kind, sizeof(e->kind));
	strlcpy(e->role, role_name ? role_name : "", sizeof(e->role));
	if (len == 0)
		strlcpy(e->detail, "{}", sizeof(e->detail));
	else if (len < sizeof(e->detail))
		memcpy(e->detail, detail_json, len + 1);
	else
		snprintf(e->detail, sizeof(e->detail), "{\"detail_too_long_bytes\": %zu}", len);
	LWLockRelease(ring->lock);
}

void
hublink_security_json_string(StringInfo buf, const char *s)
{
	escape_json(buf, s ? s : "");
}

PG_FUNCTION_INFO_V1(hublink_record_security_event);

/* hublink.record_security_event(p_kind text, p_detail jsonb) RETURNS void */
Datum
hublink_record_security_event(PG_FUNCTION_ARGS)
{
	char *kind;
	char *detail = NULL;
	char *role;
	const char *p;

	check_ring();
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("a security event needs a kind"), errdetail("p_kind was NULL."),
						errhint("Pass a lower-case name such as audit_delete_refused.")));
	kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	for (p = kind; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9' && p > kind) ||
			  (*p == '_' && p > kind)))
			break;
	if (*p != '\0' || p == kind || strlen(kind) >= SECURITY_KIND_LEN)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("invalid security event kind \"%s\"", kind),
						errdetail("A kind is a lower-case letter followed by lower-case letters, "
								  "digits or underscores, at most %d characters.",
								  SECURITY_KIND_LEN - 1),
						errhint("Use a name such as audit_delete_refused.")));
	if (!PG_ARGISNULL(1))
	{
		Jsonb *jb = PG_GETARG_JSONB_P(1);

		if (!JB_ROOT_IS_OBJECT(jb))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("the detail of a security event must be a JSON object"),
							errdetail("p_detail was a JSON array or scalar."),
							errhint("Pass an object such as jsonb_build_object('table', 'x').")));
		detail = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	}
	role = GetUserNameFromId(GetSessionUserId(), true);
	hublink_security_record(kind, role, detail);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(hublink_security_events);

/*
 * hublink.security_events(p_after_seq bigint) RETURNS TABLE (seq, recorded_at, kind,
 * role_name, pid, database_oid, detail): the events still in the ring numbered above
 * p_after_seq, oldest first. Copies them under the lock, then builds the rows.
 */
Datum
hublink_security_events(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64 after = PG_GETARG_INT64(0);
	SecurityEvent *copy;
	int n = 0;
	uint64 first;
	uint64 last;
	uint64 seq;

	check_ring();
	InitMaterializedSRF(fcinfo, 0);

	copy = palloc(sizeof(SecurityEvent) * ring->slots);
	LWLockAcquire(ring->lock, LW_SHARED);
	last = ring->next_seq - 1;
	first = ring->next_seq > (uint64) ring->slots ? ring->next_seq - ring->slots : 1;
	if (after >= 0 && (uint64) after + 1 > first)
		first = (uint64) after + 1;
	for (seq = first; seq <= last; seq++)
		copy[n++] = ring->events[(seq - 1) % ring->slots];
	LWLockRelease(ring->lock);

	for (int i = 0; i < n; i++)
	{
		Datum values[7];
		bool nulls[7] = {false};

		values[0] = Int64GetDatum((int64) copy[i].seq);
		values[1] = TimestampTzGetDatum(copy[i].at);
		values[2] = CStringGetTextDatum(copy[i].kind);
		values[3] = CStringGetTextDatum(copy[i].role);
		nulls[3] = copy[i].role[0] == '\0';
		values[4] = Int32GetDatum(copy[i].pid);
		values[5] = ObjectIdGetDatum(copy[i].database);
		nulls[5] = copy[i].database == InvalidOid;
		values[6] = DirectFunctionCall1(jsonb_in, CStringGetDatum(copy[i].detail));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(hublink_security_ring_status);

/*
 * hublink.security_ring_status() RETURNS (started_at, slots, next_seq, oldest_seq): which
 * numbering the ring uses and which events it still holds (oldest_seq = next_seq: none).
 */
Datum
hublink_security_ring_status(PG_FUNCTION_ARGS)
{
	TupleDesc tupdesc;
	Datum values[4];
	bool nulls[4] = {false};
	uint64 next;

	check_ring();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	LWLockAcquire(ring->lock, LW_SHARED);
	values[0] = TimestampTzGetDatum(ring->started_at);
	values[1] = Int32GetDatum(ring->slots);
	next = ring->next_seq;
	LWLockRelease(ring->lock);
	values[2] = Int64GetDatum((int64) next);
	values[3] = Int64GetDatum((int64) (next > (uint64) ring->slots ? next - ring->slots : 1));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
