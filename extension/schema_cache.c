/*
 * schema_cache.c - compiled schemas kept per backend, dropped when the registry changes.
 *
 * Compiling a schema costs far more than validating one message with it, so each backend
 * keeps (1) one js_registry holding every registered document and every registered schema
 * (reachable by $ref under their URIs), (2) the compiled message schemas by type and version,
 * and (3) a few recently used ad-hoc schemas of hublink.jsonschema_is_valid().
 *
 * Plain DML sends no cache invalidation, so statement triggers on hublink.schema_document and
 * hublink.message_schema call hublink_schema_registry_changed(), which queues a relcache
 * invalidation for the table. Every backend (this one at the next command, the others at
 * commit) then receives it through our relcache callback and drops everything.
 *
 * The validator allocates with malloc: these objects live as long as the backend, and nothing
 * that can ereport runs while one is half built.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "hublink.h"
#include "schema_cache.h"

#define ADHOC_SLOTS 16

typedef struct compiled_message_schema
{
	char *message_type;
	char *schema_version;
	js_schema *schema; /* NULL when the row exists but is not active */
	struct compiled_message_schema *next;
} compiled_message_schema;

typedef struct adhoc_slot
{
	char *text; /* the cache key: the schema's JSON text, or its jsonb bytes (is_jsonb) */
	size_t len;
	bool is_jsonb;
	bool format_assertion; /* compiled with this setting: part of the key */
	js_schema *schema;
	uint64 last_used;
} adhoc_slot;

static bool cache_valid = false;
static Oid schema_document_relid = InvalidOid;
static Oid message_schema_relid = InvalidOid;
static js_registry *registry = NULL;
static compiled_message_schema *message_schemas = NULL;
static adhoc_slot adhoc[ADHOC_SLOTS];
static uint64 adhoc_clock = 0;
/* Changes whenever a compiled schema is freed: a call site's cached pointer is then stale. */
static uint64 cache_generation = 1;

/*
 * What this backend's cache did, for hublink.schema_cache_stats(): a test tells a cache hit
 * from a recompile by these, not by the verdicts (which are the same either way).
 */
static int64 registry_loads = 0;   /* the registry (re)built after a start or a change */
static int64 message_compiles = 0; /* message schemas read and compiled */
static int64 message_hits = 0;     /* message schemas found compiled */

void
hublink_message_limits(js_limits *limits)
{
	js_limits_default(limits);
	limits->max_document_bytes = (size_t) hublink_max_message_bytes;
	limits->max_depth = hublink_max_json_depth;
	limits->max_errors = hublink_max_validation_errors;
	limits->format_assertion = true;
}

/* Schemas are trusted rows written by admins: parse them with roomy limits. */
static void
schema_limits(js_limits *limits)
{
	js_limits_default(limits);
	limits->max_document_bytes = 64 * 1024 * 1024;
	limits->max_depth = Max(hublink_max_json_depth, 512);
	limits->max_errors = hublink_max_validation_errors;
	limits->format_assertion = true;
}

static void
drop_cache(void)
{
	while (message_schemas)
	{
		compiled_message_schema *next = message_schemas->next;

		if (message_schemas->schema)
			js_schema_free(message_schemas->schema);
		free(message_schemas->message_type);
		free(message_schemas->schema_version);
		free(message_schemas);
		message_schemas = next;
	}
	for (int i = 0; i < ADHOC_SLOTS; i++)
	{
		if (adhoc[i].schema)
			js_schema_free(adhoc[i].schema);
		free(adhoc[i].text);
		memset(&adhoc[i], 0, sizeof(adhoc[i]));
	}
	if (registry)
		js_registry_free(registry);
	registry = NULL;
	cache_valid = false;
	cache_generation++;
}

static void
relcache_changed(Datum arg, Oid relid)
{
	/* InvalidOid means "all relations" (a cache reset after an overflow of the inval queue). */
	(void) arg;
	if (relid == InvalidOid || relid == schema_document_relid || relid == message_schema_relid)
		cache_valid = false;
}

void
hublink_schema_cache_init(void)
{
	CacheRegisterRelcacheCallback(relcache_changed, (Datum) 0);
}

typedef struct pending_document
{
	char *uri;
	char *text;
} pending_document;

/* Read every registered document and schema: all palloc, so an SPI error leaks nothing. */
static List *
read_registered_documents(void)
{
	List *docs = NIL;
	MemoryContext caller = CurrentMemoryContext;
	const char *query = "SELECT uri, document::text FROM hublink.schema_document "
						"UNION ALL "
						"SELECT schema->>'$id', schema::text FROM hublink.message_schema "
						"WHERE schema ? '$id'";

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(query, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the hublink schema registry");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);
		pending_document *doc = palloc(sizeof(pending_document));

		doc->uri = pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		doc->text = pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
		docs = lappend(docs, doc);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return docs;
}

static void
ensure_registry(void)
{
	List *docs;
	ListCell *lc;
	js_limits limits;
	js_registry *fresh;
	char *problem = NULL;
	char *problem_uri = NULL;

	if (cache_valid && registry)
		return;
	drop_cache();

	/* Remembered for relcache_changed(), which may not look anything up itself. */
	{
		Oid nsp = get_namespace_oid("hublink", false);

		schema_document_relid = get_relname_relid("schema_document", nsp);
		message_schema_relid = get_relname_relid("message_schema", nsp);
	}
	docs = read_registered_documents();
	schema_limits(&limits);
	fresh = js_registry_new();
	if (fresh == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	foreach (lc, docs)
	{
		pending_document *doc = lfirst(lc);
		js_doc *parsed = js_parse(doc->text, strlen(doc->text), &limits, &problem);

		/* The tables' CHECK constraints keep out null documents; a parse error is an error. */
		if (parsed == NULL || js_registry_add(fresh, doc->uri, parsed, &problem) != 0)
		{
			js_doc_free(parsed);
			problem_uri = doc->uri;
			break;
		}
		js_doc_free(parsed);
	}
	if (problem_uri)
	{
		char *detail = pstrdup(problem ? problem : "unknown problem");

		free(problem);
		js_registry_free(fresh);
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("registered schema document \"%s\" is unusable", problem_uri),
						errdetail("%s", detail),
						errhint("Correct or delete the row in hublink.schema_document or "
								"hublink.message_schema.")));
	}
	registry = fresh;
	cache_valid = true;
	registry_loads++;
}

/* Compile JSON text against the registry; on failure ereport with the validator's reason. */
static js_schema *
compile_text(const char *text, size_t len, const char *what, bool format_assertion)
{
	js_limits limits;
	char *problem = NULL;
	js_doc *parsed;
	js_schema *schema;

	schema_limits(&limits);
	limits.format_assertion = format_assertion;
	parsed = js_parse(text, len, &limits, &problem);
	if (parsed && js_doc_root(parsed)->type == JS_NULL)
	{
		js_doc_free(parsed);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s cannot be compiled", what),
				 errdetail("A schema must be a JSON object or a boolean, not null.")));
	}
	if (parsed == NULL)
	{
		char *detail = pstrdup(problem ? problem : "unknown problem");

		free(problem);
		ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						errmsg("%s is not valid JSON", what), errdetail("%s", detail)));
	}
	schema = js_compile(registry, parsed, &limits, &problem);
	js_doc_free(parsed);
	if (schema == NULL)
	{
		char *detail = pstrdup(problem ? problem : "unknown problem");

		free(problem);
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s cannot be compiled", what), errdetail("%s", detail),
						errhint("Check that every $ref resolves to a document registered with "
								"hublink.register_schema_document() or to a part of the schema.")));
	}
	return schema;
}

/*
 * The slot whose key is (key, len, is_jsonb); compiled on a miss, from text (is_jsonb false)
 * or from the jsonb whose bytes are the key.
 */
static const js_schema *
adhoc_lookup(const char *key_bytes, size_t len, bool is_jsonb)
{
	int victim = 0;
	char *key;
	js_schema *schema;

	ensure_registry();
	for (int i = 0; i < ADHOC_SLOTS; i++)
	{
		if (adhoc[i].schema && adhoc[i].len == len && adhoc[i].is_jsonb == is_jsonb &&
			adhoc[i].format_assertion == hublink_jsonschema_format_assertion &&
			memcmp(adhoc[i].text, key_bytes, len) == 0)
		{
			adhoc[i].last_used = ++adhoc_clock;
			return adhoc[i].schema;
		}
		if (adhoc[i].last_used < adhoc[victim].last_used)
			victim = i;
	}

	/* Compile first: it may ereport, and nothing is allocated yet. */
	if (is_jsonb)
	{
		/* Compiling is rare (the result is kept): the text round trip costs nothing here. */
		Jsonb *jb = (Jsonb *) key_bytes;
		char *text = JsonbToCString(NULL, &jb->root, VARSIZE(jb));

		schema =
			compile_text(text, strlen(text), "the schema", hublink_jsonschema_format_assertion);
		pfree(text);
	}
	else
		schema = compile_text(key_bytes, len, "the schema", hublink_jsonschema_format_assertion);
	key = malloc(len + 1);
	if (key == NULL)
	{
		js_schema_free(schema);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	memcpy(key, key_bytes, len);
	key[len] = '\0';

	if (adhoc[victim].schema)
	{
		js_schema_free(adhoc[victim].schema);
		cache_generation++;
	}
	free(adhoc[victim].text);
	adhoc[victim].schema = schema;
	adhoc[victim].text = key;
	adhoc[victim].len = len;
	adhoc[victim].is_jsonb = is_jsonb;
	adhoc[victim].format_assertion = hublink_jsonschema_format_assertion;
	adhoc[victim].last_used = ++adhoc_clock;
	return adhoc[victim].schema;
}

const js_schema *
hublink_adhoc_schema(const char *schema_text, size_t len)
{
	return adhoc_lookup(schema_text, len, false);
}

/*
 * Per call site (fn_extra): the last few schemas seen there, by their jsonb bytes, with the
 * compiled schema and the generation it was found in. A hit costs one memcmp of the
 * argument; no text is made and no slot of the backend's table searched.
 */
#define CALL_SITE_ENTRIES 4

typedef struct call_site_entry
{
	char *bytes; /* a copy of the jsonb argument, in fn_mcxt */
	size_t len;
	bool format_assertion;
	uint64 generation;
	const js_schema *schema;
} call_site_entry;

typedef struct call_site_cache
{
	int next; /* the entry replaced on the next miss */
	call_site_entry entries[CALL_SITE_ENTRIES];
} call_site_cache;

const js_schema *
hublink_adhoc_schema_jsonb(FmgrInfo *flinfo, Jsonb *schema)
{
	call_site_cache *site = flinfo ? (call_site_cache *) flinfo->fn_extra : NULL;
	size_t len = VARSIZE(schema);
	const js_schema *compiled;
	call_site_entry *e;

	/* Drops everything, and moves the generation on, if the registry changed. */
	ensure_registry();
	if (site)
		for (int i = 0; i < CALL_SITE_ENTRIES; i++)
		{
			e = &site->entries[i];
			if (e->schema && e->generation == cache_generation && e->len == len &&
				e->format_assertion == hublink_jsonschema_format_assertion &&
				memcmp(e->bytes, schema, len) == 0)
				return e->schema;
		}
	compiled = adhoc_lookup((const char *) schema, len, true);
	if (flinfo == NULL)
		return compiled;
	if (site == NULL)
		site = flinfo->fn_extra = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(call_site_cache));
	e = &site->entries[site->next];
	site->next = (site->next + 1) % CALL_SITE_ENTRIES;
	if (e->bytes == NULL || e->len < len)
	{
		if (e->bytes)
			pfree(e->bytes);
		e->bytes = MemoryContextAlloc(flinfo->fn_mcxt, len);
	}
	memcpy(e->bytes, schema, len);
	e->len = len;
	e->format_assertion = hublink_jsonschema_format_assertion;
	e->generation = cache_generation;
	e->schema = compiled;
	return compiled;
}

/* Look the row up; returns its schema text (palloc) or NULL, and whether it is active. */
static char *
read_message_schema(const char *message_type, const char *schema_version, bool *active,
					bool *type_known)
{
	Oid types[2] = {TEXTOID, TEXTOID};
	Datum values[2];
	char *text = NULL;
	MemoryContext caller = CurrentMemoryContext;

	values[0] = CStringGetTextDatum(message_type);
	values[1] = CStringGetTextDatum(schema_version);
	*active = false;
	*type_known = false;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT s.schema::text, s.active, t.message_type IS NOT NULL "
							  "FROM (SELECT $1 AS message_type) q "
							  "LEFT JOIN hublink.message_type t USING (message_type) "
							  "LEFT JOIN hublink.message_schema s "
							  "  ON s.message_type = q.message_type AND s.schema_version = $2",
							  2, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read hublink.message_schema");
	if (SPI_processed == 1)
	{
		bool isnull;
		HeapTuple row = SPI_tuptable->vals[0];
		TupleDesc desc = SPI_tuptable->tupdesc;
		char *value = SPI_getvalue(row, desc, 1);

		*type_known = DatumGetBool(SPI_getbinval(row, desc, 3, &isnull));
		if (value)
		{
			*active = DatumGetBool(SPI_getbinval(row, desc, 2, &isnull));
			text = MemoryContextStrdup(caller, value);
		}
	}
	SPI_finish();
	return text;
}

const js_schema *
hublink_message_schema(const char *message_type, const char *schema_version, char **problem)
{
	compiled_message_schema *entry;
	char *text;
	bool active;
	bool type_known;
	js_schema *schema = NULL;

	ensure_registry();
	for (entry = message_schemas; entry; entry = entry->next)
		if (strcmp(entry->message_type, message_type) == 0 &&
			strcmp(entry->schema_version, schema_version) == 0)
			break;

	if (entry != NULL)
		message_hits++;
	else
	{
		text = read_message_schema(message_type, schema_version, &active, &type_known);
		if (text == NULL)
		{
			*problem = type_known ? psprintf("no schema version \"%s\" is registered for message "
											 "type \"%s\"",
											 schema_version, message_type)
								  : psprintf("unknown message type \"%s\"", message_type);
			return NULL;
		}
		if (active)
		{
			schema = compile_text(text, strlen(text), "the registered message schema", true);
			message_compiles++;
		}

		entry = calloc(1, sizeof(compiled_message_schema));
		if (entry == NULL || (entry->message_type = strdup(message_type)) == NULL ||
			(entry->schema_version = strdup(schema_version)) == NULL)
		{
			if (entry)
				free(entry->message_type);
			free(entry);
			if (schema)
				js_schema_free(schema);
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		}
		entry->schema = schema;
		entry->next = message_schemas;
		message_schemas = entry;
	}
	if (entry->schema == NULL)
		*problem = psprintf("schema version \"%s\" of message type \"%s\" is not active",
							schema_version, message_type);
	return entry->schema;
}

PG_FUNCTION_INFO_V1(hublink_schema_cache_stats);

/* hublink.schema_cache_stats(): this backend's counters since it started. */
Datum
hublink_schema_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc tupdesc;
	Datum values[3];
	bool nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("hublink.schema_cache_stats() must return a record")));
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int64GetDatum(registry_loads);
	values[1] = Int64GetDatum(message_compiles);
	values[2] = Int64GetDatum(message_hits);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

PG_FUNCTION_INFO_V1(hublink_schema_registry_changed);

/* Statement trigger on the registry tables: tell every backend to drop its compiled schemas. */
Datum
hublink_schema_registry_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("hublink_schema_registry_changed() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}
