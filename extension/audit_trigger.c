/*
 * audit_trigger.c - the audit row trigger and the seal's WHEN condition in C
 * (sql/parts/70_audit.sql, 71_audit_rows.sql; docs/security-audit.md; docs/performance.md
 * "Per-message cost, third pass").
 *
 * hublink.audit_row_change was PL/pgSQL; it wrote every audit row of a row change, three or
 * four per message, and its interpretation (each expression, the text[] arguments parsed, the
 * key and detail objects built by concatenation) was about a third of its time. This is the
 * same function, statement for statement, and writes the same row: the digests are SHA-256 of
 * to_jsonb(row)::text (the same to_jsonb, called through the function manager, under the same
 * TimeZone, IntervalStyle and extra_float_digits, which the SQL definition still SETs), the key
 * and detail objects are jsonb built from the same values, the changed columns sorted by the
 * database's collation as ORDER BY sorted them. test/sql/71_audit_trigger_c.sql compares every
 * column of its rows with those of the PL/pgSQL definition, kept there as the reference.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/varlena.h"

#include "hublink.h"

PG_FUNCTION_INFO_V1(hublink_audit_seal_needed);

/*
 * hublink.audit_seal_needed(): the WHEN condition of the sealing trigger. True for the first
 * audit row since the last seal of this transaction (a transaction-local setting holds the
 * transaction id; a subtransaction's abort undoes it with its rows); false while a dump is
 * restored. As the PL/pgSQL version did, through the same setting.
 */
Datum
hublink_audit_seal_needed(PG_FUNCTION_ARGS)
{
	const char *queued = GetConfigOption("hublink_audit.seal_queued", true, false);
	const char *restoring = GetConfigOption("hublink.restoring", true, false);
	char xid[32];

	snprintf(xid, sizeof(xid), UINT64_FORMAT, U64FromFullTransactionId(GetTopFullTransactionId()));
	if ((queued != NULL && strcmp(queued, xid) == 0) ||
		(restoring != NULL && strcmp(restoring, "on") == 0))
		PG_RETURN_BOOL(false);
	(void) set_config_option("hublink_audit.seal_queued", xid,
							 superuser() ? PGC_SUSET : PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
							 true, 0, false);
	PG_RETURN_BOOL(true);
}

/* What a call keeps between rows of one statement: to_jsonb, set up for the table's row type. */
typedef struct AuditCallCache
{
	Oid rowtype;
	FmgrInfo to_jsonb;
} AuditCallCache;

static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr reference_plan = NULL;

static Jsonb *
row_to_jsonb(FunctionCallInfo fcinfo, HeapTuple tuple, TupleDesc desc)
{
	AuditCallCache *cache = (AuditCallCache *) fcinfo->flinfo->fn_extra;
	Oid rowtype = desc->tdtypeid;

	if (cache == NULL || cache->rowtype != rowtype)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		FuncExpr *expr;

		cache = palloc0(sizeof(AuditCallCache));
		cache->rowtype = rowtype;
		fmgr_info_cxt(F_TO_JSONB, &cache->to_jsonb, fcinfo->flinfo->fn_mcxt);
		/* to_jsonb reads its argument's type from the call expression, as in SQL. */
		expr =
			makeFuncExpr(F_TO_JSONB, JSONBOID, list_make1(makeNullConst(rowtype, -1, InvalidOid)),
						 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
		cache->to_jsonb.fn_expr = (Node *) expr;
		fcinfo->flinfo->fn_extra = cache;
		MemoryContextSwitchTo(old);
	}
	return DatumGetJsonbP(FunctionCall1(&cache->to_jsonb, heap_copy_tuple_as_datum(tuple, desc)));
}

/*
 * A string as escape_json writes it (PostgreSQL 15, utils/adt/json.c), byte for byte: the same
 * escapes, up to the first NUL as escape_json reads a C string. escape_json appends one
 * character at a time; the audited rows hold long strings (a sealed body's hex is thousands of
 * characters), so the runs that need no escape are appended whole here (docs/performance.md
 * "Fifth pass": escape_json was 4.4% of the worker's CPU in a burst).
 */
static void
put_json_string(StringInfo out, const char *s, int len)
{
	const char *run = s;
	const char *end = s + strnlen(s, (size_t) len);

	appendStringInfoCharMacro(out, '"');
	for (const char *p = s; p < end; p++)
	{
		unsigned char c = (unsigned char) *p;
		const char *escape;

		if (c >= ' ' && c != '"' && c != '\\')
			continue;
		appendBinaryStringInfo(out, run, (int) (p - run));
		run = p + 1;
		switch (c)
		{
			case '\b':
				escape = "\\b";
				break;
			case '\f':
				escape = "\\f";
				break;
			case '\n':
				escape = "\\n";
				break;
			case '\r':
				escape = "\\r";
				break;
			case '\t':
				escape = "\\t";
				break;
			case '"':
				escape = "\\\"";
				break;
			case '\\':
				escape = "\\\\";
				break;
			default:
				appendStringInfo(out, "\\u%04x", (int) c);
				continue;
		}
		appendStringInfoString(out, escape);
	}
	appendBinaryStringInfo(out, run, (int) (end - run));
	appendStringInfoCharMacro(out, '"');
}

/* A scalar as JsonbToCString writes it (jsonb_put_escaped_value). */
static void
put_json_scalar(StringInfo out, const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			appendBinaryStringInfo(out, "null", 4);
			break;
		case jbvString:
			put_json_string(out, v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			appendStringInfoString(out, DatumGetCString(DirectFunctionCall1(
											numeric_out, PointerGetDatum(v->val.numeric))));
			break;
		case jbvBool:
			if (v->val.boolean)
				appendBinaryStringInfo(out, "true", 4);
			else
				appendBinaryStringInfo(out, "false", 5);
			break;
		default:
			ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
							errmsg("unexpected jsonb value in an audited row"),
							errdetail("Type %d where a scalar of to_jsonb(row) was written.",
									  (int) v->type)));
	}
}

/*
 * j::text, written as JsonbToCString writes it without indentation (PostgreSQL 15,
 * JsonbToCStringWorker): ", " between members and elements, ": " after a key, a raw scalar
 * without brackets. The digest covers these bytes, so they must be the same:
 * test/sql/71_audit_trigger_c.sql compares the digests with those of the PL/pgSQL reference,
 * which hashes j::text, over rows of many column types and escapes.
 */
static void
jsonb_text(StringInfo out, Jsonb *j)
{
	JsonbIterator *it = JsonbIteratorInit(&j->root);
	JsonbValue v;
	JsonbIteratorToken token = WJB_DONE;
	bool first = true;
	bool redo = false;
	bool raw_scalar = false;

	while (redo || (token = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		redo = false;
		switch (token)
		{
			case WJB_BEGIN_ARRAY:
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				if (!v.val.array.rawScalar)
					appendStringInfoCharMacro(out, '[');
				else
					raw_scalar = true;
				first = true;
				break;
			case WJB_BEGIN_OBJECT:
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				appendStringInfoCharMacro(out, '{');
				first = true;
				break;
			case WJB_KEY:
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				first = true;
				put_json_scalar(out, &v);
				appendBinaryStringInfo(out, ": ", 2);
				token = JsonbIteratorNext(&it, &v, false);
				if (token == WJB_VALUE)
				{
					first = false;
					put_json_scalar(out, &v);
				}
				else
					redo = true; /* an object or array: written by the next round */
				break;
			case WJB_ELEM:
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				first = false;
				put_json_scalar(out, &v);
				break;
			case WJB_END_ARRAY:
				if (!raw_scalar)
					appendStringInfoCharMacro(out, ']');
				first = false;
				break;
			case WJB_END_OBJECT:
				appendStringInfoCharMacro(out, '}');
				first = false;
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("unexpected jsonb token in an audited row"),
						 errdetail("Token %d while writing to_jsonb(row) as text.", (int) token)));
		}
	}
}

/* SHA-256 of the jsonb's text in UTF-8: sha256(convert_to(j::text, 'UTF8')). */
static bytea *
jsonb_digest(Jsonb *j)
{
	StringInfoData buf;
	char *utf8;
	int utf8_len;
	bytea *digest = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	pg_cryptohash_ctx *ctx;

	initStringInfo(&buf);
	enlargeStringInfo(&buf, (int) VARSIZE(j));
	jsonb_text(&buf, j);
	utf8 = pg_server_to_any(buf.data, buf.len, PG_UTF8);
	utf8_len = utf8 == buf.data ? buf.len : (int) strlen(utf8);
	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) utf8, utf8_len) < 0 ||
		pg_cryptohash_final(ctx, (uint8 *) VARDATA(digest), PG_SHA256_DIGEST_LENGTH) < 0)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("could not compute the digest of an audited row"),
						errdetail("SHA-256 failed in this backend.")));
	pg_cryptohash_free(ctx);
	SET_VARSIZE(digest, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	return digest;
}

/* The member of an object, or NULL: j -> key. */
static JsonbValue *
member(Jsonb *j, const char *key)
{
	return getKeyJsonValueFromContainer(&j->root, key, (int) strlen(key), NULL);
}

/* j ->> key: a string's text, a number's or boolean's text, a container's JSON; NULL for null. */
static char *
member_text(Jsonb *j, const char *key)
{
	JsonbValue *v = member(j, key);

	if (v == NULL)
		return NULL;
	switch (v->type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(
				DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvBinary:
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
		default:
			ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
							errmsg("unexpected jsonb value in an audited row"),
							errdetail("Type %d where a member of to_jsonb(row) was read.",
									  (int) v->type)));
	}
	return NULL;
}

/* The text[] literal of a trigger argument, as C strings. */
static char **
argument_names(const char *literal, int *count)
{
	/* array_in keeps a cache in its flinfo: called with one, as a cast would. */
	ArrayType *array =
		DatumGetArrayTypeP(OidInputFunctionCall(F_ARRAY_IN, (char *) literal, TEXTOID, -1));
	Datum *elems;
	bool *nulls;
	char **names;

	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, count);
	names = palloc(sizeof(char *) * (*count + 1));
	for (int i = 0; i < *count; i++)
		names[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	return names;
}

/*
 * {name: row -> name, ...} for the names (the loop of jsonb_build_object(k, rowj -> k) joined
 * with ||): a missing member is null; the last of two equal names wins, as with ||.
 */
static Jsonb *
object_of(Jsonb *row, char **names, int count)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < count; i++)
	{
		JsonbValue key;
		JsonbValue null_value;
		JsonbValue *value;

		if (names[i] == NULL)
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("an audit trigger argument names a null column"),
							errdetail("The key and detail columns of hublink.audit_row_change are "
									  "text[] literals without nulls."),
							errhint("Run hublink.audit_attach() again.")));
		key.type = jbvString;
		key.val.string.val = names[i];
		key.val.string.len = (int) strlen(names[i]);
		value = member(row, names[i]);
		if (value == NULL)
		{
			null_value.type = jbvNull;
			value = &null_value;
		}
		pushJsonbValue(&state, WJB_KEY, &key);
		pushJsonbValue(&state, WJB_VALUE, value);
	}
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(result);
}

static int
compare_names(const void *a, const void *b)
{
	const char *x = *(const char *const *) a;
	const char *y = *(const char *const *) b;

	return varstr_cmp(x, (int) strlen(x), y, (int) strlen(y), DEFAULT_COLLATION_OID);
}

/*
 * The names of the members of new whose value IS DISTINCT FROM old -> name, sorted as
 * ORDER BY sorts text (the database's collation); an empty array when none.
 */
static Datum
changed_columns(Jsonb *newj, Jsonb *oldj)
{
	JsonbIterator *it = JsonbIteratorInit(&newj->root);
	JsonbValue v;
	JsonbIteratorToken token;
	char **names = palloc(sizeof(char *) * (JsonContainerSize(&newj->root) + 1));
	Datum *elems;
	int n = 0;

	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char *name;
		JsonbValue value;
		JsonbValue *before;
		Jsonb *a;
		Jsonb *b;

		if (token != WJB_KEY)
			continue;
		name = pnstrdup(v.val.string.val, v.val.string.len);
		token = JsonbIteratorNext(&it, &value, true);
		Assert(token == WJB_VALUE);
		before = getKeyJsonValueFromContainer(&oldj->root, name, (int) strlen(name), NULL);
		if (before != NULL)
		{
			a = JsonbValueToJsonb(&value);
			b = JsonbValueToJsonb(before);
			if (compareJsonbContainers(&a->root, &b->root) == 0)
				continue;
		}
		names[n++] = name;
	}
	qsort(names, n, sizeof(char *), compare_names);
	elems = palloc(sizeof(Datum) * (n + 1));
	for (int i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(names[i]);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static SPIPlanPtr
keep_plan(SPIPlanPtr *plan, const char *query, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		SPIPlanPtr p = SPI_prepare(query, nargs, types);

		if (p == NULL || SPI_keepplan(p) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not prepare the audit trigger's statement"),
					 errdetail("SPI_prepare failed: %s.", SPI_result_code_string(SPI_result))));
		*plan = p;
	}
	return *plan;
}

PG_FUNCTION_INFO_V1(hublink_audit_row_change);

/*
 * hublink.audit_row_change(): the row trigger of every audited table (attached by
 * hublink.audit_attach with six arguments: 0 the action of an insert, 1 the primary key
 * columns (a text[] literal), 2 the detail columns (a text[] literal), 3 how to find the
 * removal (id, reference, lookup, none), 4 the column that leads to it, 5 the lookup query
 * ($1 text)). Writes one hublink.audit_log row; nothing while a dump is restored.
 */
Datum
hublink_audit_row_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Trigger *trigger;
	Relation rel;
	TupleDesc desc;
	Jsonb *newj = NULL;
	Jsonb *oldj = NULL;
	Jsonb *rowj;
	Jsonb *rowkey = NULL;
	Jsonb *detail;
	char **names;
	int count;
	const char *op;
	const char *mode;
	char *role;
	Datum changed = (Datum) 0;
	bool have_changed = false;
	Datum rid = (Datum) 0;
	bool have_rid = false;
	char *rref = NULL;
	Oid insert_types[10] = {TEXTOID,  TEXTOID,      TEXTOID,  INT8OID,  TEXTOID,
							JSONBOID, TEXTARRAYOID, BYTEAOID, BYTEAOID, JSONBOID};
	Datum values[10];
	char nulls[10];
	int rc;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("hublink.audit_row_change() must be called as an AFTER row trigger")));
	trigger = trigdata->tg_trigger;
	if (trigger->tgnargs < 6)
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("hublink.audit_row_change() needs six trigger arguments"),
						errdetail("The trigger on %s has %d.",
								  RelationGetRelationName(trigdata->tg_relation), trigger->tgnargs),
						errhint("Run hublink.audit_attach() again.")));
	/* A restore loads rows whose audit rows the dump brings: recording them again would fork the
	 * chain. */
	if (hublink_restoring)
		return PointerGetDatum(NULL);

	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		op = "INSERT";
		newj = row_to_jsonb(fcinfo, trigdata->tg_trigtuple, desc);
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		op = "UPDATE";
		newj = row_to_jsonb(fcinfo, trigdata->tg_newtuple, desc);
		oldj = row_to_jsonb(fcinfo, trigdata->tg_trigtuple, desc);
	}
	else
	{
		op = "DELETE";
		oldj = row_to_jsonb(fcinfo, trigdata->tg_trigtuple, desc);
	}
	rowj = newj != NULL ? newj : oldj;

	names = argument_names(trigger->tgargs[1], &count);
	if (count > 0)
		rowkey = object_of(rowj, names, count);
	names = argument_names(trigger->tgargs[2], &count);
	detail = object_of(rowj, names, count);
	if (newj != NULL && oldj != NULL)
	{
		changed = changed_columns(newj, oldj);
		have_changed = true;
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR), errmsg("audit trigger: SPI_connect failed")));
	mode = trigger->tgargs[3];
	if (strcmp(mode, "id") == 0)
	{
		char *id = member_text(rowj, trigger->tgargs[4]);

		if (id != NULL)
		{
			rid = DirectFunctionCall1(int8in, CStringGetDatum(id));
			have_rid = true;
		}
	}
	else if (strcmp(mode, "reference") == 0)
	{
		Oid types[1] = {TEXTOID};
		Datum arg[1];

		rref = member_text(rowj, trigger->tgargs[4]);
		if (rref != NULL)
		{
			arg[0] = CStringGetTextDatum(rref);
			rc = SPI_execute_plan(
				keep_plan(
					&reference_plan,
					"SELECT r.removal_id FROM hublink.removal r WHERE r.removal_reference = $1", 1,
					types),
				arg, NULL, false, 1);
			if (rc != SPI_OK_SELECT)
				ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
								errmsg("audit trigger: the removal look-up failed"),
								errdetail("SPI returned %s.", SPI_result_code_string(rc))));
			if (SPI_processed > 0)
			{
				bool isnull;
				Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

				if (!isnull)
				{
					rid = d; /* int8 is passed by value */
					have_rid = true;
				}
			}
		}
	}
	else if (strcmp(mode, "lookup") == 0)
	{
		char *key = member_text(rowj, trigger->tgargs[4]);

		if (key != NULL)
		{
			Oid types[1] = {TEXTOID};
			Datum arg[1] = {CStringGetTextDatum(key)};

			/* The query audit_attach wrote from the catalog; only the table's owner can change it.
			 */
			rc = SPI_execute_with_args(trigger->tgargs[5], 1, types, arg, NULL, false, 1);
			if (rc != SPI_OK_SELECT)
				ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
								errmsg("audit trigger: the removal look-up of %s failed",
									   RelationGetRelationName(rel)),
								errdetail("SPI returned %s.", SPI_result_code_string(rc))));
			if (SPI_processed > 0 && SPI_tuptable->tupdesc->natts >= 1)
			{
				char *id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

				if (id != NULL)
				{
					rid = DirectFunctionCall1(int8in, CStringGetDatum(id));
					have_rid = true;
				}
				if (SPI_tuptable->tupdesc->natts >= 2)
					rref = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
			}
		}
	}

	role = GetConfigOptionByName("role", NULL, false);
	if (role == NULL || strcmp(role, "none") == 0)
		role = GetUserNameFromId(GetSessionUserId(), false);

	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(role);
	if (strcmp(op, "INSERT") == 0)
		values[1] = CStringGetTextDatum(trigger->tgargs[0]);
	else
		values[1] = CStringGetTextDatum(strcmp(op, "UPDATE") == 0 ? "update" : "delete");
	values[2] = CStringGetTextDatum(psprintf("%s.%s", get_namespace_name(RelationGetNamespace(rel)),
											 RelationGetRelationName(rel)));
	values[3] = rid;
	nulls[3] = have_rid ? ' ' : 'n';
	values[4] = rref != NULL ? CStringGetTextDatum(rref) : (Datum) 0;
	nulls[4] = rref != NULL ? ' ' : 'n';
	values[5] = rowkey != NULL ? JsonbPGetDatum(rowkey) : (Datum) 0;
	nulls[5] = rowkey != NULL ? ' ' : 'n';
	values[6] = changed;
	nulls[6] = have_changed ? ' ' : 'n';
	values[7] = oldj != NULL ? PointerGetDatum(jsonb_digest(oldj)) : (Datum) 0;
	nulls[7] = oldj != NULL ? ' ' : 'n';
	values[8] = newj != NULL ? PointerGetDatum(jsonb_digest(newj)) : (Datum) 0;
	nulls[8] = newj != NULL ? ' ' : 'n';
	values[9] = JsonbPGetDatum(detail);
	rc = SPI_execute_plan(
		keep_plan(
			&insert_plan,
			"INSERT INTO hublink.audit_log (role_name, action, table_name, removal_id, "
			"removal_reference, row_key, changed_columns, before_digest, after_digest, detail) "
			"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
			10, insert_types),
		values, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("audit trigger: the insert failed"),
						errdetail("SPI returned %s.", SPI_result_code_string(rc))));
	SPI_finish();
	return PointerGetDatum(NULL);
}
