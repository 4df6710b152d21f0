/*
 * fuzz_jsonschema.c - libFuzzer target for the JSON Schema validator.
 *
 * Default mode: the input is JSON text for js_parse (size and depth limits on), validated
 * against a fixed set of compiled schemas that exercise every keyword family; a document is
 * also copied through js_builder (the copy must equal it), and an array whose first item is a
 * pattern on the fast matcher has that matcher checked against the general engine on every
 * further string item.
 * With -DFUZZ_SCHEMAS: the input is "schema text \n instance text"; the schema is compiled
 * (so the indexer, $ref resolution and the regex compiler are fuzzed too) and, when it
 * compiles, validates the instance.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"
#include "jsonschema.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static js_limits limits;

#ifndef FUZZ_SCHEMAS
static const char *schema_texts[] = {
	/* a message envelope */
	"{\"type\":\"object\",\"required\":[\"messageId\",\"messageType\",\"sentAt\",\"body\"],"
	"\"properties\":{\"messageId\":{\"type\":\"string\",\"format\":\"uuid\"},"
	"\"messageType\":{\"enum\":[\"TravelQuoteRequest\",\"EscortQuoteRequest\"]},"
	"\"schemaVersion\":{\"const\":\"1.0\"},\"sentAt\":{\"type\":\"string\",\"format\":\"date-"
	"time\"},"
	"\"sender\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{2,8}$\"},"
	"\"removalId\":{\"type\":\"string\",\"pattern\":\"^RMV-\\\\d{4}-\\\\d{6}$\"},"
	"\"body\":{\"type\":\"object\",\"minProperties\":1,\"additionalProperties\":true}},"
	"\"additionalProperties\":false}",
	/* applicators, unevaluated, dependent keywords, arrays */
	"{\"$defs\":{\"pos\":{\"type\":\"number\",\"exclusiveMinimum\":0,\"multipleOf\":0.01},"
	"\"node\":{\"type\":\"object\",\"properties\":{\"children\":{\"type\":\"array\","
	"\"items\":{\"$ref\":\"#/$defs/node\"}}}}},"
	"\"anyOf\":[{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"$ref\":\"#/$defs/"
	"pos\"}],"
	"\"items\":{\"type\":[\"integer\",\"null\"]},\"contains\":{\"const\":1},\"minContains\":1,"
	"\"maxContains\":3,\"uniqueItems\":true,\"unevaluatedItems\":false},"
	"{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"string\",\"maxLength\":8}},"
	"\"dependentRequired\":{\"a\":[\"b\"]},\"dependentSchemas\":{\"c\":{\"required\":[\"d\"]}},"
	"\"propertyNames\":{\"pattern\":\"^[a-z-]+$\"},\"if\":{\"required\":[\"kind\"]},"
	"\"then\":{\"properties\":{\"kind\":{\"enum\":[\"a\",\"b\",1.5,null]}}},"
	"\"else\":{\"not\":{\"required\":[\"z\"]}},\"allOf\":[{\"$ref\":\"#/$defs/node\"}],"
	"\"unevaluatedProperties\":{\"type\":\"boolean\"}},"
	"{\"oneOf\":[{\"type\":\"string\",\"format\":\"email\"},{\"type\":\"string\",\"format\":"
	"\"ipv6\"},"
	"{\"type\":\"string\",\"format\":\"uri\"},{\"type\":\"string\",\"pattern\":\"(a|b)*c\\\\w+"
	"\\\\s?$\"}]}]}",
	/* dynamic references */
	"{\"$id\":\"https://example.com/tree\",\"$dynamicAnchor\":\"node\",\"type\":\"object\","
	"\"properties\":{\"data\":true,\"children\":{\"type\":\"array\",\"items\":{\"$dynamicRef\":\"#"
	"node\"}}},"
	"\"$defs\":{\"strict\":{\"$id\":\"https://example.com/strict\",\"$dynamicAnchor\":\"node\","
	"\"$ref\":\"tree\",\"unevaluatedProperties\":false}}}",
	/* a self-referencing schema: depth limits */
	"{\"anyOf\":[{\"$ref\":\"#\"},{\"items\":{\"$ref\":\"#\"}}]}",
	/* draft-07 */
	"{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"items\":[{\"type\":\"integer\"}],"
	"\"additionalItems\":{\"type\":\"string\"},\"dependencies\":{\"a\":[\"b\"],\"c\":{"
	"\"maxProperties\":2}},"
	"\"definitions\":{\"x\":{\"$id\":\"#x\",\"minimum\":3}},\"properties\":{\"n\":{\"$ref\":\"#x\"}"
	"}}",
	/* the meta-schema: instances are schemas */
	"{\"$ref\":\"https://json-schema.org/draft/2020-12/schema\"}",
};
#define N_SCHEMAS (sizeof(schema_texts) / sizeof(schema_texts[0]))
static js_schema *schemas[N_SCHEMAS];
#endif

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	js_limits_default(&limits);
	limits.max_document_bytes = 1 << 20;
	limits.max_depth = 64;
	limits.max_errors = 20;
#ifndef FUZZ_SCHEMAS
	for (size_t i = 0; i < N_SCHEMAS; i++)
	{
		char *err = NULL;
		js_doc *doc = js_parse(schema_texts[i], strlen(schema_texts[i]), NULL, &err);

		if (doc)
			schemas[i] = js_compile(NULL, doc, &limits, &err);
		if (schemas[i] == NULL)
		{
			fprintf(stderr, "fuzz schema %zu: %s\n", i, err ? err : "?");
			abort();
		}
		js_doc_free(doc);
	}
#endif
	return 0;
}

static void
validate(const js_schema *s, const js_value *inst)
{
	js_result r;

	js_validate(s, inst, &r);
	/* touch every string: ASan checks they are live and terminated */
	for (int k = 0; k < r.n_errors; k++)
	{
		if (strlen(r.errors[k].instance_location) + strlen(r.errors[k].keyword_location) +
				strlen(r.errors[k].message) ==
			0)
			abort();
	}
	if (r.valid != (r.n_errors == 0))
		abort();
	js_result_clear(&r);
}

#ifndef FUZZ_SCHEMAS
/*
 * An instance ["PATTERN", "SUBJECT", ...]: when PATTERN takes the fast matcher
 * (regex_fast.c), it must answer as the general engine does on every SUBJECT.
 */
static void
regex_differential(const js_value *v)
{
	char *err = NULL;
	js_regex *re;

	if (v->type != JS_ARRAY || v->len < 2 || v->u.items[0].type != JS_STRING)
		return;
	re = js_regex_compile(v->u.items[0].u.s, v->u.items[0].len, &err);
	free(err);
	if (re == NULL)
		return;
	for (uint32_t i = 1; js_regex_is_fast(re) && i < v->len; i++)
	{
		const js_value *s = &v->u.items[i];

		if (s->type == JS_STRING &&
			js_regex_search(re, s->u.s, s->len) != js_regex_search_general(re, s->u.s, s->len))
			abort();
	}
	js_regex_free(re);
}
#endif

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *err = NULL;
#ifndef FUZZ_SCHEMAS
	js_doc *inst = js_parse((const char *) data, size, &limits, &err);

	if ((inst == NULL) == (err == NULL))
		abort();
	if (inst)
	{
		/* the builder's copy of a parsed document equals it */
		js_builder *b = js_builder_new(size);
		js_doc *copy;

		if (b == NULL || js_builder_value(b, js_doc_root(inst)) != 0)
			abort();
		copy = js_builder_finish(b);
		if (copy == NULL || !js_json_equal(js_doc_root(inst), js_doc_root(copy), 1000))
			abort();
		js_doc_free(copy);
		regex_differential(js_doc_root(inst));
		for (size_t i = 0; i < N_SCHEMAS; i++)
			validate(schemas[i], js_doc_root(inst));
	}
	js_doc_free(inst);
	free(err);
#else
	const uint8_t *nl = memchr(data, '\n', size);
	size_t slen = nl ? (size_t) (nl - data) : size;
	js_doc *sdoc = js_parse((const char *) data, slen, &limits, &err);
	js_schema *s = NULL;

	if (sdoc)
		s = js_compile(NULL, sdoc, &limits, &err);
	free(err);
	err = NULL;
	if (s && nl)
	{
		js_doc *inst = js_parse((const char *) nl + 1, size - slen - 1, &limits, &err);

		if (inst)
			validate(s, js_doc_root(inst));
		js_doc_free(inst);
		free(err);
	}
	js_schema_free(s);
	js_doc_free(sdoc);
#endif
	return 0;
}
