/*
 * message_validation.c - the SQL face of the validator.
 *
 * hublink.jsonschema_is_valid / jsonschema_errors validate against any schema;
 * hublink.validate_message / validate_message_text against the registered schema of the
 * message's type and version (issue 2, section 6). Problems are reported as a jsonb array of
 * {instanceLocation, keywordLocation, error}, the shape the error queue document carries.
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "hublink.h"
#include "jsonb_to_json.h"
#include "message_validation.h"
#include "schema_cache.h"

static void
append_problem(StringInfo buf, const char *instance_location, const char *keyword_location,
			   const char *error)
{
	if (buf->len > 1)
		appendStringInfoChar(buf, ',');
	appendStringInfoString(buf, "{\"instanceLocation\":");
	escape_json(buf, instance_location);
	appendStringInfoString(buf, ",\"keywordLocation\":");
	escape_json(buf, keyword_location);
	appendStringInfoString(buf, ",\"error\":");
	escape_json(buf, error);
	appendStringInfoChar(buf, '}');
}

/* The validator's result as problem entries; frees the result. */
static void
append_result(StringInfo buf, js_result *result)
{
	for (int i = 0; i < result->n_errors; i++)
		append_problem(buf, result->errors[i].instance_location, result->errors[i].keyword_location,
					   result->errors[i].message);
	if (result->truncated)
	{
		char *note = psprintf("more than %d problems were found; only the first %d are reported",
							  result->n_errors, result->n_errors);

		append_problem(buf, "", "", note);
	}
	js_result_clear(result);
}

static Jsonb *
problems_to_jsonb(StringInfo buf)
{
	appendStringInfoChar(buf, ']');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf->data)));
}

/* Validate parsed JSON against its registered schema; releases doc. */
static void
validate_parsed_message(StringInfo buf, js_doc *doc)
{
	const js_value *root = js_doc_root(doc);
	const char *message_type;
	const char *schema_version;
	const js_schema *schema = NULL;
	char *problem = NULL;
	js_result result;

	if (root->type == JS_NULL)
	{
		js_doc_free(doc);
		append_problem(buf, "", "", "a message must be a JSON object, not null");
		return;
	}
	if (root->type != JS_OBJECT)
	{
		js_doc_free(doc);
		append_problem(buf, "", "", "a message must be a JSON object");
		return;
	}
	message_type = js_string_member(root, "messageType");
	schema_version = js_string_member(root, "schemaVersion");
	if (message_type == NULL || schema_version == NULL)
	{
		if (message_type == NULL)
			append_problem(buf, "/messageType", "",
						   "messageType is missing or not a string, so no schema can be chosen");
		if (schema_version == NULL)
			append_problem(buf, "/schemaVersion", "",
						   "schemaVersion is missing or not a string, so no schema can be chosen");
		js_doc_free(doc);
		return;
	}

	PG_TRY();
	{
		schema = hublink_message_schema(message_type, schema_version, &problem);
	}
	PG_CATCH();
	{
		js_doc_free(doc);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (schema == NULL)
	{
		append_problem(buf,
					   problem && strstr(problem, "version") ? "/schemaVersion" : "/messageType",
					   "", problem);
		js_doc_free(doc);
		return;
	}
	js_validate(schema, root, &result);
	js_doc_free(doc);
	append_result(buf, &result);
}

/* The problems of a message read as doc, or, when it could not be read (doc NULL), why not. */
static Jsonb *
message_problems(js_doc *doc, const char *problem)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	if (doc == NULL)
		append_problem(&buf, "", "",
					   psprintf("not valid JSON: %s", problem ? problem : "unknown problem"));
	else
		validate_parsed_message(&buf, doc);
	return problems_to_jsonb(&buf);
}

Jsonb *
hublink_validate_message_bytes(const char *data, size_t len)
{
	js_limits limits;
	char *problem = NULL;
	Jsonb *result;

	hublink_message_limits(&limits);
	result = message_problems(js_parse(data, len, &limits, &problem), problem);
	free(problem); /* js_parse's, malloc'd */
	return result;
}

/* A message given as jsonb: read straight from it, with the limits of the bytes path. */
static Jsonb *
validate_message_jsonb(Jsonb *message)
{
	js_limits limits;
	char *problem = NULL;

	hublink_message_limits(&limits);
	return message_problems(hublink_jsonb_to_doc(message, &limits, &problem), problem);
}

static char *
jsonb_text(Jsonb *value)
{
	return JsonbToCString(NULL, &value->root, VARSIZE(value));
}

/*
 * Validate instance against an ad-hoc schema; fills buf with problems. The compiled schema is
 * kept at the call site (flinfo) and the instance read straight from its jsonb: no text.
 */
static void
validate_adhoc(StringInfo buf, FmgrInfo *flinfo, Jsonb *schema, Jsonb *instance)
{
	const js_schema *compiled = hublink_adhoc_schema_jsonb(flinfo, schema);
	js_limits limits;
	char *problem = NULL;
	js_doc *doc;
	js_result result;

	hublink_message_limits(&limits);
	doc = hublink_jsonb_to_doc(instance, &limits, &problem);
	if (doc == NULL)
	{
		char *detail = problem;

		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the instance exceeds the validator's limits"), errdetail("%s", detail),
				 errhint("See hublink.max_message_bytes and hublink.max_json_depth.")));
	}
	js_validate(compiled, js_doc_root(doc), &result);
	js_doc_free(doc);
	append_result(buf, &result);
}

PG_FUNCTION_INFO_V1(hublink_jsonschema_is_valid);

Datum
hublink_jsonschema_is_valid(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	validate_adhoc(&buf, fcinfo->flinfo, PG_GETARG_JSONB_P(0), PG_GETARG_JSONB_P(1));
	PG_RETURN_BOOL(buf.len == 1);
}

PG_FUNCTION_INFO_V1(hublink_jsonschema_errors);

Datum
hublink_jsonschema_errors(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	validate_adhoc(&buf, fcinfo->flinfo, PG_GETARG_JSONB_P(0), PG_GETARG_JSONB_P(1));
	PG_RETURN_JSONB_P(problems_to_jsonb(&buf));
}

PG_FUNCTION_INFO_V1(hublink_validate_message);

Datum
hublink_validate_message(PG_FUNCTION_ARGS)
{
	PG_RETURN_JSONB_P(validate_message_jsonb(PG_GETARG_JSONB_P(0)));
}

PG_FUNCTION_INFO_V1(hublink_validate_message_raw);

/*
 * validate_message_text(text) and validate_message_bytes(bytea): both are varlena, and the
 * bytes are validated exactly as a broker delivered them (invalid UTF-8 is a problem).
 */
Datum
hublink_validate_message_raw(PG_FUNCTION_ARGS)
{
	struct varlena *message = PG_GETARG_VARLENA_PP(0);

	PG_RETURN_JSONB_P(
		hublink_validate_message_bytes(VARDATA_ANY(message), VARSIZE_ANY_EXHDR(message)));
}

PG_FUNCTION_INFO_V1(hublink_check_schema);

/* Raise an error unless the schema compiles against the registered documents. */
Datum
hublink_check_schema(PG_FUNCTION_ARGS)
{
	char *schema_text = jsonb_text(PG_GETARG_JSONB_P(0));

	(void) hublink_adhoc_schema(schema_text, strlen(schema_text));
	PG_RETURN_VOID();
}
