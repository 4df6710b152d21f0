/*
 * jsonschema.h - a JSON Schema validator (draft 2020-12 and draft-07) with a document model
 * of its own (document.c: one arena per document, members in compact arrays).
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
#include <stdint.h>

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
 * The document model. A js_doc owns one arena that holds every value of the document; values
 * are read-only once built and live as long as their document. Numbers keep what JSON Schema
 * needs exactly: an integer token that fits int64 is JS_INT, one that fits only uint64 is
 * JS_UINT, anything else (a fraction, an exponent, an integer beyond 64 bits) is JS_DOUBLE.
 * A string is NUL-terminated and may hold NUL bytes (len is authoritative); object member keys
 * likewise, each with its js_hash (util.c) computed once. A repeated key keeps the first
 * member's place and the last member's value.
 */
typedef enum js_type
{
	JS_NULL = 0,
	JS_BOOL,
	JS_INT,
	JS_UINT,
	JS_DOUBLE,
	JS_STRING,
	JS_ARRAY,
	JS_OBJECT
} js_type;

typedef struct js_value js_value;
typedef struct js_member js_member;

struct js_value
{
	uint8_t type; /* js_type */
	bool b;       /* JS_BOOL */
	uint32_t len; /* bytes of a string, items of an array, members of an object */
	union
	{
		int64_t i;                /* JS_INT */
		uint64_t u;               /* JS_UINT */
		double d;                 /* JS_DOUBLE */
		const char *s;            /* JS_STRING */
		const js_value *items;    /* JS_ARRAY */
		const js_member *members; /* JS_OBJECT; objects of more than 8 members are followed by
								   * a hash index (document.c) */
	} u;
};

struct js_member
{
	const char *key;
	uint32_t klen;
	uint32_t hash;
	js_value val;
};

typedef struct js_doc js_doc;

/*
 * Parse JSON text with the limits applied: invalid UTF-8, trailing garbage, text longer than
 * max_document_bytes and nesting deeper than max_depth are errors. Returns a new document
 * (release with js_doc_free) or NULL with *err set to a malloc'd message.
 */
js_doc *js_parse(const char *text, size_t len, const js_limits *limits, char **err);

const js_value *js_doc_root(const js_doc *doc);
/* one more reference to doc; js_doc_free drops one and frees the document with the last */
js_doc *js_doc_ref(js_doc *doc);
void js_doc_free(js_doc *doc);

/* the member value of an object for key (NUL-terminated), or NULL when absent or no object */
const js_value *js_object_get(const js_value *obj, const char *key);
const js_value *js_object_getn(const js_value *obj, const char *key, size_t klen, uint32_t hash);
/* The string member key of an object, or NULL when absent or not a string. */
const char *js_string_member(const js_value *obj, const char *key);
uint32_t js_hash(const void *key, size_t len);

js_registry *js_registry_new(void);
void js_registry_free(js_registry *reg);

/*
 * Make a document reachable by $ref under uri (and under any $id it declares). Takes a new
 * reference to doc. Returns 0, or -1 with *err set (malloc'd) for an unusable uri.
 */
int js_registry_add(js_registry *reg, const char *uri, js_doc *doc, char **err);

/*
 * Compile a schema (draft chosen by its "$schema", 2020-12 when absent): the root of doc.
 * Unknown keywords are ignored as the specification requires. Returns NULL with *err set
 * (malloc'd) when the schema itself is unusable (not an object or boolean, an unresolvable
 * $ref, a bad pattern). Takes a new reference to doc. limits may be NULL for the defaults.
 */
js_schema *js_compile(js_registry *reg, js_doc *doc, const js_limits *limits, char **err);
void js_schema_free(js_schema *schema);

/*
 * Validate an instance. Fills *result (clear it with js_result_clear). Returns 0, or -1 when
 * validation could not complete (out of memory); result->valid is then false with one error.
 * $ref cycles that do not consume instance depth terminate with an error, not a hang.
 */
int js_validate(const js_schema *schema, const js_value *instance, js_result *result);
void js_result_clear(js_result *result);

/*
 * Building a document without text, for callers that hold it in another form (PostgreSQL's
 * jsonb) and for js_parse itself: a stream of values in document order, containers opened and
 * ended, each object member's key given just before its value. The result is what js_parse
 * makes of the same JSON. Each call returns 0, or -1 when out of memory or misused (a value
 * without its key in an object, an end without a container); after a failure every further
 * call fails and js_builder_finish returns NULL. js_builder_depth is the deepest nesting seen.
 */
typedef struct js_builder js_builder;

js_builder *js_builder_new(size_t size_hint);
int js_builder_begin_object(js_builder *b);
int js_builder_begin_array(js_builder *b);
int js_builder_end(js_builder *b);
int js_builder_key(js_builder *b, const char *key, size_t len);
int js_builder_null(js_builder *b);
int js_builder_bool(js_builder *b, bool value);
int js_builder_string(js_builder *b, const char *s, size_t len);
/* a number from its JSON text (e.g. "12", "-1.5e3"), typed as js_parse types it */
int js_builder_number(js_builder *b, const char *text, size_t len);
/* a deep copy of a value of another document */
int js_builder_value(js_builder *b, const js_value *v);
int js_builder_depth(const js_builder *b);
/* the document (NULL when out of memory or incomplete); frees the builder in any case */
js_doc *js_builder_finish(js_builder *b);
/* frees a builder that will not be finished */
void js_builder_free(js_builder *b);

#endif /* HUBLINK_JSONSCHEMA_H */
