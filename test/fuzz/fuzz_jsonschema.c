/*
 * fuzz_jsonschema.c - libFuzzer target for the JSON Schema validator.
 *
 * Default mode: the input is JSON text for js_parse (size and depth limits on), validated
 * against a fixed set of compiled schemas that exercise every keyword family.
 * With -DFUZZ_SCHEMAS: the input is "schema text \n instance text"; the schema is compiled
 * (so the indexer, $ref resolution and the regex compiler are fuzzed too) and, when it
 * compiles, validates the instance.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

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
		json_object *doc = js_parse(schema_texts[i], strlen(schema_texts[i]), NULL, &err);

		if (doc)
			schemas[i] = js_compile(NULL, doc, &limits, &err);
		if (schemas[i] == NULL)
		{
			fprintf(stderr, "fuzz schema %zu: %s\n", i, err ? err : "?");
			abort();
		}
		json_object_put(doc);
	}
#endif
	return 0;
}

static void
validate(const js_schema *s, json_object *inst)
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *err = NULL;
#ifndef FUZZ_SCHEMAS
	json_object *inst = js_parse((const char *) data, size, &limits, &err);

	if (inst || err == NULL)
	{
		for (size_t i = 0; i < N_SCHEMAS; i++)
			validate(schemas[i], inst);
	}
	json_object_put(inst);
	free(err);
#else
	const uint8_t *nl = memchr(data, '\n', size);
	size_t slen = nl ? (size_t) (nl - data) : size;
	json_object *sdoc = js_parse((const char *) data, slen, &limits, &err);
	js_schema *s = NULL;

	if (err == NULL)
		s = js_compile(NULL, sdoc, &limits, &err);
	free(err);
	err = NULL;
	if (s && nl)
	{
		json_object *inst = js_parse((const char *) nl + 1, size - slen - 1, &limits, &err);

		if (inst || err == NULL)
			validate(s, inst);
		json_object_put(inst);
		free(err);
	}
	js_schema_free(s);
	json_object_put(sdoc);
#endif
	return 0;
}
