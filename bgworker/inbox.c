/*
 * inbox.c - apply one delivery, exactly once, inside the worker's transaction.
 *
 * Each delivery runs in its own subtransaction: validate, store it in hublink.inbox (unique
 * on messageId, so a redelivery stores nothing and has no effect), then call the handler the
 * seam table names for its type. A handler error rolls back only that subtransaction; the
 * message is then stored as retrying and the worker tries it again later, so a poison message
 * never blocks the ones behind it. Bad input is stored as rejected with an Error message in
 * the outbox. Everything happens in the caller's transaction: the worker acks the batch only
 * after it committed.
 *
 * Every change of an inbox row is a function of sql/parts/38_inbox_state.sql (the inbox's one
 * home): this file decides which one to call and holds no SQL that writes the table.
 *
 * The caller has started a transaction, connected SPI and pushed a snapshot.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "counters.h"
#include "hublink.h"
#include "inbox.h"
#include "json_strings.h"
#include "message_validation.h"
#include "spi_util.h"
#include "worker.h"

/*
 * The seam table joined with the queues (hublink.broker_route), loaded once per transaction:
 * each queue's message type, its handler, and the party that publishes on it. An error queue
 * carries Error messages from the party that consumes the queue it reports on.
 */
typedef struct HandlerEntry
{
	char *message_type;
	char *queue;
	Oid handler;        /* InvalidOid when no handler is registered */
	char *sender_party; /* the only party that may publish on the queue */
	char *sender_code;  /* its envelope "sender" */
} HandlerEntry;

/* hublink.broker_identity: which party each broker user speaks for. */
typedef struct IdentityEntry
{
	char *broker_user;
	char *party;
} IdentityEntry;

static HandlerEntry *handlers = NULL;
static int n_handlers = 0;
static IdentityEntry *identities = NULL;
static int n_identities = 0;

static void
load_identities(void)
{
	static SPIPlanPtr plan = NULL;
	MemoryContext old;

	plan =
		hublink_spi_plan(plan, "SELECT broker_user, party FROM hublink.broker_identity", 0, NULL);
	hublink_spi_run(plan, NULL, NULL, false, 0, SPI_OK_SELECT);
	old = MemoryContextSwitchTo(TopTransactionContext);
	n_identities = (int) SPI_processed;
	identities = palloc0(sizeof(IdentityEntry) * Max(n_identities, 1));
	for (int i = 0; i < n_identities; i++)
	{
		identities[i].broker_user = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		identities[i].party = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	MemoryContextSwitchTo(old);
}

void
hublink_inbox_begin_transaction(void)
{
	static SPIPlanPtr plan = NULL;
	MemoryContext old;

	plan =
		hublink_spi_plan(plan,
						 "SELECT t.message_type, r.queue, h.handler::oid, r.party, p.sender_code "
						 "FROM hublink.broker_route r "
						 "JOIN hublink.party p ON p.party = r.party "
						 "CROSS JOIN LATERAL (SELECT CASE r.role WHEN 'report' THEN 'Error' "
						 "ELSE r.message_type END AS message_type) t "
						 "LEFT JOIN hublink.message_handler h ON h.message_type = t.message_type "
						 "WHERE r.role IN ('send', 'report')",
						 0, NULL);
	hublink_spi_run(plan, NULL, NULL, false, 0, SPI_OK_SELECT);

	/* Lives until the commit, across the per-message subtransactions. */
	old = MemoryContextSwitchTo(TopTransactionContext);
	n_handlers = (int) SPI_processed;
	handlers = palloc0(sizeof(HandlerEntry) * Max(n_handlers, 1));
	for (int i = 0; i < n_handlers; i++)
	{
		HeapTuple tuple = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		bool isnull;
		Datum handler;

		handlers[i].message_type = SPI_getvalue(tuple, desc, 1);
		handlers[i].queue = SPI_getvalue(tuple, desc, 2);
		handler = SPI_getbinval(tuple, desc, 3, &isnull);
		handlers[i].handler = isnull ? InvalidOid : DatumGetObjectId(handler);
		handlers[i].sender_party = SPI_getvalue(tuple, desc, 4);
		handlers[i].sender_code = SPI_getvalue(tuple, desc, 5);
	}
	MemoryContextSwitchTo(old);
	load_identities();
}

/* The entry of a message type on a queue: NULL when the type does not belong there. */
static HandlerEntry *
find_handler(const char *message_type, const char *queue)
{
	for (int i = 0; i < n_handlers; i++)
		if (strcmp(handlers[i].message_type, message_type) == 0 &&
			strcmp(handlers[i].queue, queue) == 0)
			return &handlers[i];
	return NULL;
}

static const char *
party_of_broker_user(const char *user)
{
	for (int i = 0; i < n_identities; i++)
		if (strcmp(identities[i].broker_user, user) == 0)
			return identities[i].party;
	return NULL;
}

static char *
jsonb_string_member(Jsonb *jb, const char *key)
{
	JsonbValue *v;

	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb))
		return NULL;
	v = getKeyJsonValueFromContainer(&jb->root, key, strlen(key), NULL);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * Parse an RFC 3339 time without raising: a malformed sentAt must not turn a valid message
 * into a handler failure. DecodeDateTime reports errors by return code.
 */
static bool
parse_timestamptz(const char *text, TimestampTz *result)
{
	char workbuf[MAXDATELEN + MAXDATEFIELDS];
	char *field[MAXDATEFIELDS];
	int ftype[MAXDATEFIELDS];
	int nf, dtype, tz = 0, dterr;
	struct pg_tm tt;
	fsec_t fsec;

	if (strlen(text) >= MAXDATELEN || strchr(text, 'T') == NULL)
		return false;
	dterr = ParseDateTime(text, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf);
	if (dterr == 0)
	{
#if PG_VERSION_NUM >= 160000
		DateTimeErrorExtra extra;

		dterr = DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz, &extra);
#else
		dterr = DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz);
#endif
	}
	if (dterr != 0 || dtype != DTK_DATE)
		return false;
	return tm2timestamp(&tt, fsec, &tz, result) == 0;
}

/* SLAs count from the moment a request is put on a queue (Appendix D). */
static void
enqueue_time(HublinkDelivery *d, Jsonb *message, Datum *value, bool *isnull, Datum *source)
{
	TimestampTz ts;
	char *sent_at;

	*isnull = false;
	/*
	 * Our header, when it names an instant of the AMQP timestamp's second: the sender sets both,
	 * and a header that disagrees with its own timestamp is not trusted beyond it.
	 */
	if (d->has_timestamp && d->has_enqueued_us && d->enqueued_us >= d->amqp_timestamp * 1000000 &&
		d->enqueued_us < (d->amqp_timestamp + 1) * 1000000)
	{
		*value = TimestampTzGetDatum(
			(TimestampTz) (d->enqueued_us -
						   ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)));
		*source = CStringGetTextDatum("amqp-timestamp-us");
		return;
	}
	if (d->has_timestamp)
	{
		*value = TimestampTzGetDatum(time_t_to_timestamptz((pg_time_t) d->amqp_timestamp));
		*source = CStringGetTextDatum("amqp-timestamp");
		return;
	}
	sent_at = jsonb_string_member(message, "sentAt");
	if (sent_at != NULL && parse_timestamptz(sent_at, &ts))
	{
		*value = TimestampTzGetDatum(ts);
		*source = CStringGetTextDatum("sent-at");
		return;
	}
	*isnull = true;
}

/* The SQLSTATE of the last error in_subtransaction caught. */
static int caught_sqlerrcode = 0;

/* Run fn inside a subtransaction; false (and *error, in the caller's context) if it raised. */
static bool
in_subtransaction(void (*fn)(void *), void *arg, char **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		if (error)
			*error = edata->message ? pstrdup(edata->message) : pstrdup("unknown error");
		caught_sqlerrcode = edata->sqlerrcode;
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}

typedef struct ParseArgs
{
	HublinkDelivery *d;
	Jsonb *result;
} ParseArgs;

static void
parse_jsonb(void *arg)
{
	ParseArgs *a = arg;

	a->result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(a->d->body)));
}

/* The delivery as jsonb, or NULL when it is not JSON (or not JSON jsonb can store). */
static Jsonb *
try_parse(HublinkDelivery *d)
{
	ParseArgs a = {d, NULL};

	if (d->len > (size_t) hublink_max_message_bytes ||
		!pg_verify_mbstr(PG_UTF8, d->body, (int) d->len, true))
		return NULL;
	return in_subtransaction(parse_jsonb, &a, NULL) ? a.result : NULL;
}

/* A problems array of one entry; code (an Error problem class) may be NULL. */
static Jsonb *
coded_problem(const char *instance_location, const char *error, const char *code)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "[{\"instanceLocation\":");
	escape_json(&buf, instance_location);
	appendStringInfoString(&buf, ",\"keywordLocation\":\"\",\"error\":");
	escape_json(&buf, error);
	if (code != NULL)
	{
		appendStringInfoString(&buf, ",\"code\":");
		escape_json(&buf, code);
	}
	appendStringInfoString(&buf, "}]");
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

static Jsonb *
one_problem(const char *instance_location, const char *error)
{
	return coded_problem(instance_location, error, NULL);
}

/*
 * For bytes that are not JSON (invalid UTF-8 somewhere in a body, a message over the size
 * limit): read the envelope's identifying strings by a plain scan of the first bytes, so the
 * Error message can still name the failed message ("where readable", docs/architecture.md). Values
 * the Error schema does not accept are dropped by hublink.enqueue_error.
 */
#define SALVAGE_SCAN_BYTES 65536
#define SALVAGE_VALUE_MAX  200

static char *
scan_string_member(const char *data, size_t len, const char *key)
{
	char pattern[64];
	size_t plen;
	const char *p;
	const char *end = data + len;

	snprintf(pattern, sizeof(pattern), "\"%s\"", key);
	plen = strlen(pattern);
	p = memmem(data, len, pattern, plen);
	if (p == NULL)
		return NULL;
	p += plen;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (p >= end || *p++ != ':')
		return NULL;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (p >= end || *p++ != '"')
		return NULL;
	for (const char *q = p; q < end && q - p <= SALVAGE_VALUE_MAX; q++)
	{
		if (*q == '\\' || (unsigned char) *q < 0x20)
			return NULL;
		if (*q == '"')
			return pg_verify_mbstr(PG_UTF8, p, (int) (q - p), true) ? pnstrdup(p, q - p) : NULL;
	}
	return NULL;
}

static Jsonb *
salvage_envelope(HublinkDelivery *d)
{
	static const char *const keys[] = {"messageId", "messageType", "sentAt", "removalId"};
	size_t len = Min(d->len, (size_t) SALVAGE_SCAN_BYTES);
	StringInfoData buf;
	bool any = false;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (size_t i = 0; i < lengthof(keys); i++)
	{
		char *value = scan_string_member(d->body, len, keys[i]);

		if (value == NULL)
			continue;
		if (any)
			appendStringInfoChar(&buf, ',');
		escape_json(&buf, keys[i]);
		appendStringInfoChar(&buf, ':');
		escape_json(&buf, value);
		any = true;
	}
	appendStringInfoChar(&buf, '}');
	return any ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data))) : NULL;
}

/* Store as rejected and write its Error message; false when its messageId was seen before. */
static bool
reject(HublinkDelivery *d, Jsonb *message, Jsonb *problems)
{
	static SPIPlanPtr plan = NULL;
	Oid types[9] = {TEXTOID, JSONBOID,       BYTEAOID, JSONBOID, TIMESTAMPTZOID,
					TEXTOID, TIMESTAMPTZOID, BOOLOID,  JSONBOID};
	Datum values[9];
	char nulls[9] = "         ";
	size_t raw_len = Min(d->len, (size_t) hublink_max_message_bytes);
	bytea *raw = palloc(VARHDRSZ + raw_len);
	Jsonb *salvaged = message ? NULL : salvage_envelope(d);
	bool isnull;

	plan = hublink_spi_plan(plan, "SELECT hublink.inbox_reject($1, $2, $3, $4, $5, $6, $7, $8, $9)",
							9, types);
	SET_VARSIZE(raw, VARHDRSZ + raw_len);
	memcpy(VARDATA(raw), d->body, raw_len);
	values[0] = CStringGetTextDatum(d->queue);
	values[1] = message ? JsonbPGetDatum(message) : (Datum) 0;
	nulls[1] = message ? ' ' : 'n';
	values[2] = PointerGetDatum(raw);
	values[3] = JsonbPGetDatum(problems);
	enqueue_time(d, message, &values[4], &isnull, &values[5]);
	nulls[4] = nulls[5] = isnull ? 'n' : ' ';
	values[6] = TimestampTzGetDatum(d->received_at);
	values[7] = BoolGetDatum(d->redelivered);
	values[8] = salvaged ? JsonbPGetDatum(salvaged) : (Datum) 0;
	nulls[8] = salvaged ? ' ' : 'n';
	hublink_spi_run(plan, values, nulls, false, 1, SPI_OK_SELECT);
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * A handler may reject its own message (hublink.reject_message: impossible in the
 * conversation), which marks the inbox row rejected and writes the Error. The worker reads
 * that outcome from the row after the handler returned (no flag that a handler sets).
 *
 * 0.1.0's hublink.note_handler_rejection() set such a flag; the 0.2.0 update drops the
 * function, and this entry point stays only so that a 0.1.0 database keeps loading the library.
 */
PG_FUNCTION_INFO_V1(hublink_note_handler_rejection);

Datum
hublink_note_handler_rejection(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("hublink.note_handler_rejection() is no longer used"),
			 errdetail("The worker reads a rejection from the message's row in hublink.inbox."),
			 errhint("Run ALTER EXTENSION hublink UPDATE; a handler rejects its message with "
					 "hublink.reject_message().")));
	PG_RETURN_VOID();
}

/* Whether the handler marked inbox row id rejected (hublink.reject_message). */
static bool
rejected_by_handler(int64 id)
{
	static SPIPlanPtr plan = NULL;
	Oid types[1] = {INT8OID};
	Datum values[1];

	plan = hublink_spi_plan(
		plan, "SELECT 1 FROM hublink.inbox WHERE id = $1 AND status = 'rejected'", 1, types);
	values[0] = Int64GetDatum(id);
	/* Not read-only: that advances the command counter, so the handler's update is seen. */
	hublink_spi_run(plan, values, NULL, false, 1, SPI_OK_SELECT);
	return SPI_processed == 1;
}

/*
 * Store as applied (hublink.inbox_store_applied, 38_inbox_state.sql); returns its inbox id, or 0
 * when its messageId is already in the inbox.
 */
static int64
store_applied(HublinkDelivery *d, Jsonb *message)
{
	static SPIPlanPtr plan = NULL;
	Oid types[6] = {TEXTOID, JSONBOID, TIMESTAMPTZOID, TEXTOID, TIMESTAMPTZOID, BOOLOID};
	Datum values[6];
	char nulls[6] = "      ";
	bool isnull;
	Datum id;

	plan = hublink_spi_plan(plan, "SELECT hublink.inbox_store_applied($1, $2, $3, $4, $5, $6)", 6,
							types);
	values[0] = CStringGetTextDatum(d->queue);
	values[1] = JsonbPGetDatum(message);
	enqueue_time(d, message, &values[2], &isnull, &values[3]);
	nulls[2] = nulls[3] = isnull ? 'n' : ' ';
	values[4] = TimestampTzGetDatum(d->received_at);
	values[5] = BoolGetDatum(d->redelivered);
	hublink_spi_run(plan, values, nulls, false, 1, SPI_OK_SELECT);
	id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(id);
}

static AclResult
hublink_execute_aclcheck(Oid function)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(ProcedureRelationId, function, GetUserId(), ACL_EXECUTE);
#else
	return pg_proc_aclcheck(function, GetUserId(), ACL_EXECUTE);
#endif
}

/* Call handler(message); the result is ignored, so void and NULL results are both fine. */
static void
call_handler(const HandlerEntry *entry, Jsonb *message)
{
	FmgrInfo flinfo;
	LOCAL_FCINFO(fcinfo, 1);

	if (!OidIsValid(entry->handler))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("no handler is registered for message type \"%s\"", entry->message_type),
				 errhint("Add a row for it to hublink.message_handler.")));
	/*
	 * A direct fmgr call checks no privilege, so check EXECUTE as SQL would: the worker runs
	 * only the handlers granted to its role (a SECURITY DEFINER handler then works as its
	 * owner). A refusal is a handler error, so the message waits as retrying until the grant
	 * is fixed, and nothing is lost.
	 */
	if (hublink_execute_aclcheck(entry->handler) != ACLCHECK_OK)
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("permission denied to run handler %s for message type \"%s\"",
							   format_procedure_qualified(entry->handler), entry->message_type),
						errdetail("The worker runs as role \"%s\", which has no EXECUTE on it.",
								  GetUserNameFromId(GetUserId(), false)),
						errhint("GRANT EXECUTE ON FUNCTION %s TO hublink_worker.",
								format_procedure_qualified(entry->handler))));
	fmgr_info(entry->handler, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = JsonbPGetDatum(message);
	fcinfo->args[0].isnull = false;
	(void) FunctionCallInvoke(fcinfo);
}

/*
 * Why the broker-validated publisher may not have sent this message (issue 12 section 2):
 * NULL when the delivery's AMQP user_id is a broker user mapped to the party that publishes on
 * the queue, and the envelope's sender is that party. The broker refuses a user_id that is not
 * the connection's login, so the user_id is the one fact about the sender nobody can forge.
 */
static char *
sender_problem(HublinkDelivery *d, Jsonb *message, const HandlerEntry *entry)
{
	char *sender = jsonb_string_member(message, "sender");
	const char *party;

	if (d->user_id == NULL)
		return psprintf("the delivery has no AMQP user_id property, so the broker did not vouch "
						"for its sender; a party publishes with user_id set to its broker user");
	party = party_of_broker_user(d->user_id);
	if (party == NULL)
		return psprintf("broker user \"%s\" speaks for no party (hublink.broker_identity)",
						d->user_id);
	if (strcmp(party, entry->sender_party) != 0)
		return psprintf("broker user \"%s\" speaks for party %s, but %s messages on queue "
						"\"%s\" come from party %s",
						d->user_id, party, entry->message_type, d->queue, entry->sender_party);
	if (sender == NULL || strcmp(sender, entry->sender_code) != 0)
		return psprintf("the envelope's sender \"%s\" is not %s, the party of broker user "
						"\"%s\" that published it",
						sender ? sender : "", entry->sender_code, d->user_id);
	return NULL;
}

/* Raise a worker alert through hublink.worker_alert (the worker may raise no other kind). */
static void
worker_alert(const char *kind, const char *subject, Jsonb *detail, const char *removal_reference)
{
	static SPIPlanPtr plan = NULL;
	Oid types[4] = {TEXTOID, TEXTOID, JSONBOID, TEXTOID};
	Datum values[4];
	char nulls[4] = "    ";

	plan = hublink_spi_plan(plan, "SELECT hublink.worker_alert($1, $2, $3, $4)", 4, types);
	values[0] = CStringGetTextDatum(kind);
	values[1] = CStringGetTextDatum(subject);
	values[2] = JsonbPGetDatum(detail);
	values[3] = removal_reference ? CStringGetTextDatum(removal_reference) : (Datum) 0;
	nulls[3] = removal_reference ? ' ' : 'n';
	hublink_spi_run(plan, values, nulls, false, 1, SPI_OK_SELECT);
}

static Jsonb *
sender_alert_detail(HublinkDelivery *d, Jsonb *message)
{
	StringInfoData buf;
	char *id = jsonb_string_member(message, "messageId");
	char *sender = jsonb_string_member(message, "sender");

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"queue\":");
	escape_json(&buf, d->queue);
	appendStringInfoString(&buf, ",\"message_id\":");
	if (id)
		escape_json(&buf, id);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ",\"broker_user\":");
	if (d->user_id)
		escape_json(&buf, d->user_id);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ",\"sender\":");
	if (sender)
		escape_json(&buf, sender);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/*
 * Its messageId is already in the inbox: a redelivery of the same message on the same queue
 * has no effect; anything else gets an Error saying what to do (hublink.inbox_duplicate).
 */
static HublinkOutcome
duplicate_outcome(HublinkDelivery *d, Jsonb *message)
{
	static SPIPlanPtr plan = NULL;
	Oid types[2] = {TEXTOID, JSONBOID};
	Datum values[2];
	bool isnull;

	if (message == NULL)
		return HUBLINK_DUPLICATE;
	plan = hublink_spi_plan(plan, "SELECT hublink.inbox_duplicate($1, $2)", 2, types);
	values[0] = CStringGetTextDatum(d->queue);
	values[1] = JsonbPGetDatum(message);
	hublink_spi_run(plan, values, NULL, false, 1, SPI_OK_SELECT);
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull))
			   ? HUBLINK_DUPLICATE
			   : HUBLINK_REJECTED;
}

typedef struct ApplyArgs
{
	HublinkDelivery *d;
	Jsonb *message; /* set as soon as it is parsed, for the failure path */
	HublinkOutcome outcome;
} ApplyArgs;

static void
apply(void *arg)
{
	ApplyArgs *a = arg;
	HublinkDelivery *d = a->d;
	Jsonb *problems = hublink_validate_message_bytes(d->body, d->len);
	HandlerEntry *entry;
	char *message_type;
	int64 id;
	char *text;

	if (JB_ROOT_COUNT(problems) > 0)
	{
		a->message = try_parse(d);
		a->outcome =
			reject(d, a->message, problems) ? HUBLINK_REJECTED : duplicate_outcome(d, a->message);
		return;
	}
	a->message = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(d->body)));
	message_type = jsonb_string_member(a->message, "messageType");
	entry = message_type ? find_handler(message_type, d->queue) : NULL;
	if (entry == NULL)
	{
		char *text = psprintf("%s messages do not belong on queue \"%s\"",
							  message_type ? message_type : "these", d->queue);

		a->outcome = reject(d, a->message, one_problem("/messageType", text))
						 ? HUBLINK_REJECTED
						 : duplicate_outcome(d, a->message);
		return;
	}
	if ((text = sender_problem(d, a->message, entry)) != NULL)
	{
		char *message_id = jsonb_string_member(a->message, "messageId");

		/* Alerted even when its messageId was seen before: someone tried. */
		worker_alert("broker_sender_mismatch",
					 psprintf("message %s on queue %s rejected: %s",
							  message_id ? message_id : "(no messageId)", d->queue, text),
					 sender_alert_detail(d, a->message),
					 jsonb_string_member(a->message, "removalId"));
		a->outcome = reject(d, a->message, coded_problem("/sender", text, "FORBIDDEN_SENDER"))
						 ? HUBLINK_REJECTED
						 : HUBLINK_DUPLICATE;
		return;
	}
	id = store_applied(d, a->message);
	if (id == 0)
	{
		a->outcome = duplicate_outcome(d, a->message);
		return;
	}
	call_handler(entry, a->message);
	a->outcome = rejected_by_handler(id) ? HUBLINK_REJECTED : HUBLINK_APPLIED;
}

typedef struct DeferArgs
{
	HublinkDelivery *d;
	Jsonb *message;
	const char *error;
	int sqlerrcode; /* of the handler's failure */
	bool rejected;
	TimestampTz retry_at;
} DeferArgs;

/*
 * A handler failure that will fail the same way on every attempt: bad data in the message
 * (SQLSTATE class 22: a value out of range, a date that does not exist, text that is no
 * number), or a row the message would make that a constraint refuses. Retrying only delays
 * the Error; anything else (a lock, a serialization failure, a handler not granted yet, a
 * premature message raising to wait for its cause) may pass later and is retried.
 */
static bool
deterministic_failure(int sqlerrcode)
{
	return ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_DATA_EXCEPTION ||
		   sqlerrcode == ERRCODE_NOT_NULL_VIOLATION || sqlerrcode == ERRCODE_CHECK_VIOLATION;
}

/* The problem sent for such a failure: what failed, and why it is not retried. */
static Jsonb *
data_error_problem(const char *error, int sqlerrcode)
{
	return coded_problem("",
						 psprintf("the message cannot be applied: %s (SQLSTATE %s); it would fail "
								  "the same way on every attempt, so it is rejected at once",
								  error, unpack_sql_state(sqlerrcode)),
						 "DATA_ERROR");
}

/*
 * The message passed validation but is not storable as jsonb: name the string that is the
 * reason (\u0000, a lone surrogate) by its JSON pointer.
 */
static Jsonb *
unstorable_problem(HublinkDelivery *d, const char *error)
{
	char pointer[1024];
	const char *what;
	bool in_member_name;

	if (!hublink_json_find_unstorable(d->body, d->len, pointer, sizeof(pointer), &what,
									  &in_member_name))
		return one_problem("", error);
	return coded_problem(
		pointer,
		psprintf(in_member_name ? "a member name here holds %s" : "this string holds %s", what),
		"INVALID_STRING");
}

/* The handler failed on first delivery: store the message for a retry. */
static void
defer(void *arg)
{
	static SPIPlanPtr plan = NULL;
	DeferArgs *a = arg;
	Oid types[7] = {TEXTOID, JSONBOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TIMESTAMPTZOID, BOOLOID};
	Datum values[7];
	char nulls[7] = "       ";
	bool isnull;
	Datum result;

	if (a->message == NULL)
	{
		/* Valid by the validator yet not storable as jsonb (e.g. \u0000): reject it. */
		a->rejected = true;
		(void) reject(a->d, NULL, unstorable_problem(a->d, a->error));
		return;
	}
	if (deterministic_failure(a->sqlerrcode))
	{
		a->rejected = true;
		if (!reject(a->d, a->message, data_error_problem(a->error, a->sqlerrcode)))
			(void) duplicate_outcome(a->d, a->message);
		return;
	}
	plan =
		hublink_spi_plan(plan, "SELECT hublink.inbox_defer($1, $2, $3, $4, $5, $6, $7)", 7, types);
	values[0] = CStringGetTextDatum(a->d->queue);
	values[1] = JsonbPGetDatum(a->message);
	values[2] = CStringGetTextDatum(a->error);
	enqueue_time(a->d, a->message, &values[3], &isnull, &values[4]);
	nulls[3] = nulls[4] = isnull ? 'n' : ' ';
	values[5] = TimestampTzGetDatum(a->d->received_at);
	values[6] = BoolGetDatum(a->d->redelivered);
	hublink_spi_run(plan, values, nulls, false, 1, SPI_OK_SELECT);
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	a->rejected = isnull;
	a->retry_at = isnull ? 0 : DatumGetTimestampTz(result);
}

/* Last resort when even storing the failure failed: keep the bytes, reject, move on. */
static void
reject_raw(void *arg)
{
	DeferArgs *a = arg;

	(void) reject(a->d, NULL, one_problem("", a->error));
}

HublinkOutcome
hublink_inbox_apply(HublinkDelivery *d, TimestampTz *retry_at)
{
	ApplyArgs a = {d, NULL, HUBLINK_APPLIED};
	DeferArgs f;
	char *error = NULL;
	char *error2 = NULL;

	hublink_count(d->queue, HUBLINK_COUNT_RECEIVED, 1);
	if (in_subtransaction(apply, &a, &error))
	{
		hublink_count(d->queue,
					  a.outcome == HUBLINK_APPLIED     ? HUBLINK_COUNT_APPLIED
					  : a.outcome == HUBLINK_DUPLICATE ? HUBLINK_COUNT_DUPLICATES
													   : HUBLINK_COUNT_REJECTED,
					  1);
		return a.outcome;
	}

	f.d = d;
	f.message = a.message;
	f.error = error;
	f.sqlerrcode = caught_sqlerrcode;
	f.rejected = false;
	f.retry_at = 0;
	if (!in_subtransaction(defer, &f, &error2))
	{
		f.error = psprintf("%s; then storing it for a retry failed: %s", error, error2);
		f.rejected = true;
		if (!in_subtransaction(reject_raw, &f, &error2))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not store a failed message from queue \"%s\"", d->queue),
					 errdetail("The handler failed with: %s. Storing the failure failed with: %s.",
							   error, error2)));
	}
	if (f.rejected)
	{
		hublink_count(d->queue, HUBLINK_COUNT_REJECTED, 1);
		return HUBLINK_REJECTED;
	}
	*retry_at = f.retry_at;
	return HUBLINK_DEFERRED;
}

/* --- retries of messages whose handler failed -------------------------------------------- */

typedef struct RetryArgs
{
	int64 id;
	char *queue;
	Jsonb *message;
	const char *error;
	int sqlerrcode;       /* of the failed retry */
	TimestampTz retry_at; /* 0 when rejected */
	bool rejected_by_handler;
} RetryArgs;

static void
retry_once(void *arg)
{
	static SPIPlanPtr plan = NULL;
	RetryArgs *a = arg;
	Oid types[1] = {INT8OID};
	Datum values[1];
	bool isnull;
	char *message_type = jsonb_string_member(a->message, "messageType");
	HandlerEntry *entry = message_type ? find_handler(message_type, a->queue) : NULL;

	if (entry == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("message type \"%s\" is no longer known",
														   message_type ? message_type : "")));
	call_handler(entry, a->message);
	/* A row the handler rejected stays rejected: the call then finds no retrying row. */
	plan = hublink_spi_plan(plan, "SELECT hublink.inbox_retry_applied($1)", 1, types);
	values[0] = Int64GetDatum(a->id);
	hublink_spi_run(plan, values, NULL, false, 1, SPI_OK_SELECT);
	a->rejected_by_handler =
		!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static void
record_retry_failure(void *arg)
{
	static SPIPlanPtr plan = NULL;
	RetryArgs *a = arg;
	Oid types[2] = {INT8OID, TEXTOID};
	Datum values[2];
	bool isnull;
	Datum result;

	if (deterministic_failure(a->sqlerrcode))
	{
		static SPIPlanPtr reject_plan = NULL;
		Oid reject_types[2] = {INT8OID, JSONBOID};

		/* Rejected now: retrying would only delay the Error (docs/worker.md). */
		reject_plan = hublink_spi_plan(reject_plan, "SELECT hublink.inbox_reject_retrying($1, $2)",
									   2, reject_types);
		values[0] = Int64GetDatum(a->id);
		values[1] = JsonbPGetDatum(data_error_problem(a->error, a->sqlerrcode));
		hublink_spi_run(reject_plan, values, NULL, false, 1, SPI_OK_SELECT);
		a->retry_at = 0;
		return;
	}
	plan = hublink_spi_plan(plan, "SELECT hublink.inbox_retry_failed($1, $2)", 2, types);
	values[0] = Int64GetDatum(a->id);
	values[1] = CStringGetTextDatum(a->error);
	hublink_spi_run(plan, values, NULL, false, 1, SPI_OK_SELECT);
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	a->retry_at = isnull ? 0 : DatumGetTimestampTz(result);
}

int
hublink_inbox_run_retries(int limit)
{
	static SPIPlanPtr plan = NULL;
	Oid types[1] = {INT4OID};
	Datum values[1];
	RetryArgs *rows;
	int n;

	plan =
		hublink_spi_plan(plan,
						 "SELECT id, queue, hublink.open_message(message, key_scope, sealed_body) "
						 "FROM hublink.inbox "
						 "WHERE status = 'retrying' AND next_attempt_at <= clock_timestamp() "
						 "ORDER BY next_attempt_at, id LIMIT $1",
						 1, types);
	values[0] = Int32GetDatum(limit);
	hublink_spi_run(plan, values, NULL, false, 0, SPI_OK_SELECT);
	n = (int) SPI_processed;
	rows = palloc0(sizeof(RetryArgs) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple tuple = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		bool isnull;

		rows[i].id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		rows[i].queue = SPI_getvalue(tuple, desc, 2);
		rows[i].message = DatumGetJsonbPCopy(SPI_getbinval(tuple, desc, 3, &isnull));
	}
	for (int i = 0; i < n; i++)
	{
		char *error = NULL;

		hublink_count(rows[i].queue, HUBLINK_COUNT_RETRIED, 1);
		if (in_subtransaction(retry_once, &rows[i], &error))
		{
			hublink_count(
				rows[i].queue,
				rows[i].rejected_by_handler ? HUBLINK_COUNT_REJECTED : HUBLINK_COUNT_APPLIED, 1);
			continue;
		}
		rows[i].error = error;
		rows[i].sqlerrcode = caught_sqlerrcode;
		if (!in_subtransaction(record_retry_failure, &rows[i], &error))
			ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
							errmsg("could not record a failed retry of inbox message %lld",
								   (long long) rows[i].id),
							errdetail("Recording it failed with: %s.", error)));
		if (rows[i].retry_at == 0)
			hublink_count(rows[i].queue, HUBLINK_COUNT_REJECTED, 1);
	}
	return n;
}

TimestampTz
hublink_inbox_next_retry(void)
{
	static SPIPlanPtr plan = NULL;
	bool isnull;
	Datum result;

	plan = hublink_spi_plan(plan,
							"SELECT min(next_attempt_at) FROM hublink.inbox "
							"WHERE status = 'retrying'",
							0, NULL);
	hublink_spi_run(plan, NULL, NULL, false, 1, SPI_OK_SELECT);
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? DT_NOEND : DatumGetTimestampTz(result);
}
