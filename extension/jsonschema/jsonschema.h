/*
 * jsonschema.h - a JSON Schema validator (draft 2020-12 and draft-07) on json-c.
 *
 * Pure C11: no PostgreSQL headers, so it is unit-tested, fuzzed and benchmarked on its own
 * (docs/architecture.md "Layout"). All memory is malloc'd and owned by the objects below; callers
 * inside PostgreSQL copy what they keep into palloc'd memory and free these before any ereport.
 *
 * Life cycle:
 *   js_registry *reg = js_registry_new();          documents reachable by $ref, by URI
 *   js_registry_add(reg, "http://x/y.json", doc);  optional, any number
 *   js_schema *s = js_compile(reg, schema, &limits, &err);
 *   js_validate(s, instance, &result);             any number of times, any instances
 *   js_result_clear(&result); js_schema_free(s); js_registry_free(reg);
 *
 * A compiled schema keeps a reference to its registry: free the schema before the registry.
 */
#ifndef HUBLINK_JSONSCHEMA_H
#define HUBLINK_JSONSCHEMA_H

#include <stdbool.h>
#include <stddef.h>

/*
 * json-c's document type, named by its struct tag only: PostgreSQL's fmgrprotos.h declares a
 * function called json_object, so files that include PostgreSQL headers must not see json-c's
 * typedef. They handle documents through this header alone.
 */
struct json_object;

/* Resource limits. Exceeding one is a reported error, never a crash or a stack overflow. */
typedef struct js_limits
{
	size_t max_document_bytes; /* js_parse refuses longer text; 0 = no limit */
	int max_depth;             /* nesting depth of documents and of schema evaluation */
	int max_errors;            /* errors collected per validation before stopping */
	bool format_assertion;     /* true: "format" is an assertion, not an annotation */
} js_limits;

/* Defaults: 16 MiB, depth 512, 100 errors, format asserted. */
void js_limits_default(js_limits *limits);

/* One problem found in an instance. */
typedef struct js_error
{
	char *instance_location; /* JSON pointer into the instance, "" for the root */
	char *keyword_location;  /* JSON pointer into the schema, e.g. "/properties/a/type" */
	char *message;           /* readable, lower case, e.g. "expected integer, got string" */
} js_error;

typedef struct js_result
{
	bool valid;
	int n_errors;     /* errors in errors[] */
	bool truncated;   /* more errors existed than limits.max_errors */
	js_error *errors; /* n_errors entries; NULL when valid */
} js_result;

typedef struct js_registry js_registry;
typedef struct js_schema js_schema;

/*
 * Parse JSON text with the limits applied: invalid UTF-8, trailing garbage, text longer than
 * max_document_bytes and nesting deeper than max_depth are errors. Returns a new json-c
 * object (release with js_json_free) or NULL with *err set to a malloc'd message.
 */
struct json_object *js_parse(const char *text, size_t len, const js_limits *limits, char **err);

js_registry *js_registry_new(void);
void js_registry_free(js_registry *reg);

/*
 * Make a document reachable by $ref under uri (and under any $id it declares). Takes a new
 * reference to doc. Returns 0, or -1 with *err set (malloc'd) for an unusable uri.
 */
int js_registry_add(js_registry *reg, const char *uri, struct json_object *doc, char **err);

/*
 * Compile a schema (draft chosen by its "$schema", 2020-12 when absent). Unknown keywords
 * are ignored as the specification requires. Returns NULL with *err set (malloc'd) when the
 * schema itself is unusable (not an object or boolean, an unresolvable $ref, a bad pattern).
 * Takes a new reference to schema. limits may be NULL for the defaults.
 */
js_schema *js_compile(js_registry *reg, struct json_object *schema, const js_limits *limits,
					  char **err);
void js_schema_free(js_schema *schema);

/*
 * Validate an instance. Fills *result (clear it with js_result_clear). Returns 0, or -1 when
 * validation could not complete (out of memory); result->valid is then false with one error.
 * $ref cycles that do not consume instance depth terminate with an error, not a hang.
 */
int js_validate(const js_schema *schema, struct json_object *instance, js_result *result);
void js_result_clear(js_result *result);

/* Accessors for code that cannot include json-c (extension/jsonschema/json_access.c). */
void js_json_free(struct json_object *doc);
bool js_json_is_object(const struct json_object *doc);
/* The string member key of an object, or NULL when absent or not a string. */
const char *js_json_string_member(const struct json_object *doc, const char *key);

/*
 * Building a document without text, for callers that hold it in another form (PostgreSQL's
 * jsonb): the values are what js_parse makes of the same JSON. A JSON null is NULL. Each
 * constructor returns NULL when out of memory (js_json_new_null's NULL is the null value).
 * js_json_object_add and js_json_array_add take over value (also on failure) and return 0, or
 * -1 when out of memory.
 */
struct json_object *js_json_new_object(void);
struct json_object *js_json_new_array(void);
struct json_object *js_json_new_string(const char *s, size_t len);
struct json_object *js_json_new_bool(bool value);
/* A number from its JSON text (e.g. "12", "-1.5e3"): int64, uint64 or double as js_parse. */
struct json_object *js_json_new_number(const char *text, size_t len);
int js_json_object_add(struct json_object *obj, const char *key, size_t key_len,
					   struct json_object *value);
int js_json_array_add(struct json_object *arr, struct json_object *value);

#endif /* HUBLINK_JSONSCHEMA_H */
