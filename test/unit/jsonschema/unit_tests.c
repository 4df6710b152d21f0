/*
 * unit_tests.c - unit tests of the JSON Schema validator's API (TAP output).
 *
 * Parse limits and UTF-8, nesting and size limits, error locations, the registry, $ref
 * cycles, max_errors, formats and numbers. Exit status 1 when a test fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"
#include "jsonschema.h"

static int n_tests, n_failed;

static void
ok(bool cond, const char *name)
{
	n_tests++;
	if (!cond)
		n_failed++;
	printf("%sok %d - %s\n", cond ? "" : "not ", n_tests, name);
}

static js_doc *
parse(const char *text)
{
	char *err = NULL;
	js_doc *o = js_parse(text, strlen(text), NULL, &err);

	if (err)
	{
		printf("# parse error for %s: %s\n", text, err);
		free(err);
	}
	return o;
}

/* parse text with default limits: NULL and the error, or the document */
static bool
parse_fails(const char *text, size_t len, const js_limits *lim, const char *expect)
{
	char *err = NULL;
	js_doc *o = js_parse(text, len, lim, &err);
	bool r = o == NULL && err != NULL && (expect == NULL || strstr(err, expect) != NULL);

	if (!r)
		printf("# unexpected: %s\n", err ? err : "(parsed)");
	js_doc_free(o);
	free(err);
	return r;
}

static js_schema *
compile(js_registry *reg, const char *text, const js_limits *lim)
{
	js_doc *doc = parse(text);
	char *err = NULL;
	js_schema *s;

	if (doc == NULL)
		return NULL;
	s = js_compile(reg, doc, lim, &err);
	if (s == NULL)
		printf("# compile error: %s\n", err);
	free(err);
	js_doc_free(doc);
	return s;
}

/* validate text against s; returns validity, fills *r (caller clears) */
static bool
check(js_schema *s, const char *text, js_result *r)
{
	js_doc *inst = parse(text);
	bool v;

	if (inst == NULL)
	{
		memset(r, 0, sizeof(*r));
		return false;
	}
	js_validate(s, js_doc_root(inst), r);
	v = r->valid;
	js_doc_free(inst);
	return v;
}

static bool
valid(js_schema *s, const char *text)
{
	js_result r;
	bool v = check(s, text, &r);

	js_result_clear(&r);
	return v;
}

static bool
has_error(const js_result *r, const char *iloc, const char *kloc, const char *msg_part)
{
	for (int i = 0; i < r->n_errors; i++)
	{
		if (strcmp(r->errors[i].instance_location, iloc) == 0 &&
			strcmp(r->errors[i].keyword_location, kloc) == 0 &&
			strstr(r->errors[i].message, msg_part) != NULL)
			return true;
	}
	for (int i = 0; i < r->n_errors; i++)
		printf("# have: \"%s\" \"%s\" %s\n", r->errors[i].instance_location,
			   r->errors[i].keyword_location, r->errors[i].message);
	return false;
}

static void test_parse_strict(void);

static void
test_parse(void)
{
	js_limits lim;
	js_doc *o;
	char *big, *deep;
	const size_t deep_n = 10000;
	char *err = NULL;

	js_limits_default(&lim);
	ok(lim.max_document_bytes == 16u * 1024 * 1024 && lim.max_depth == 512 &&
		   lim.max_errors == 100 && lim.format_assertion,
	   "js_limits_default gives 16 MiB, depth 512, 100 errors, format asserted");

	o = parse("{\"a\": [1, 2.5, \"x\", null, true]}");
	ok(o && js_doc_root(o)->type == JS_OBJECT, "parse an object");
	js_doc_free(o);
	o = parse("42");
	ok(o && js_doc_root(o)->type == JS_INT && js_doc_root(o)->u.i == 42,
	   "parse a top-level number");
	js_doc_free(o);
	o = parse(" \"s\"\n\t ");
	ok(o && js_doc_root(o)->type == JS_STRING, "parse a string with surrounding space");
	js_doc_free(o);

	ok(parse_fails("", 0, NULL, "empty"), "empty text is an error");
	ok(parse_fails("{\"a\":1} x", 9, NULL, "invalid JSON"), "trailing garbage is an error");
	ok(parse_fails("[1] [2]", 7, NULL, NULL), "two documents are an error");
	ok(parse_fails("[1,]", 4, NULL, NULL), "a trailing comma is an error");
	ok(parse_fails("{'a':1}", 7, NULL, NULL), "single quotes are an error");
	ok(parse_fails("[NaN]", 5, NULL, NULL), "NaN is an error");
	ok(parse_fails("-Infinity", 9, NULL, NULL), "Infinity is an error");
	ok(parse_fails("\"\xc3\x28\"", 4, NULL, "UTF-8"), "invalid UTF-8 is an error");
	ok(parse_fails("\"\xed\xa0\x80\"", 5, NULL, "UTF-8"), "an encoded surrogate is an error");
	ok(parse_fails("\"\xc0\xaf\"", 4, NULL, "UTF-8"), "an overlong encoding is an error");
	ok(parse_fails("\"a\x01\"", 4, NULL, NULL), "a raw control character is an error");
	ok(parse_fails("[1\0]", 4, NULL, "NUL"), "a NUL byte is an error");
	ok(parse_fails("[1, 2", 5, NULL, "end"), "truncated text is an error");
	ok(parse_fails("[1] /* c */", 11, NULL, NULL), "a comment is an error");
	o = js_parse(" null ", 6, NULL, &err);
	ok(o && err == NULL && js_doc_root(o)->type == JS_NULL, "null parses to a null value");
	js_doc_free(o);
	ok(parse_fails("null x", 6, NULL, NULL), "null followed by garbage is an error");

	lim.max_document_bytes = 10;
	ok(parse_fails("[1,2,3,4,5,6]", 13, &lim, "exceeds the limit"),
	   "text longer than max_document_bytes is an error");
	js_limits_default(&lim);

	/* 100 MB with the default 16 MiB limit: refused before any parsing */
	big = malloc(100u * 1024 * 1024);
	if (big)
	{
		memset(big, ' ', 100u * 1024 * 1024);
		big[0] = '[';
		big[100u * 1024 * 1024 - 1] = ']';
		ok(parse_fails(big, 100u * 1024 * 1024, NULL, "exceeds the limit"),
		   "a 100 MB document is refused cleanly");
		free(big);
	}

	deep = malloc(2 * deep_n);
	memset(deep, '[', deep_n);
	memset(deep + deep_n, ']', deep_n);
	ok(parse_fails(deep, 2 * deep_n, NULL, "nesting"), "10,000 nested arrays are refused cleanly");
	lim.max_depth = 3;
	ok(parse_fails("[[[[1]]]]", 9, &lim, "nesting"), "nesting deeper than max_depth is an error");
	o = js_parse("[[[1]]]", 7, &lim, &err);
	ok(o != NULL, "nesting at max_depth parses");
	js_doc_free(o);
	free(err);
	free(deep);

	o = parse("123456789012345678901234567890");
	ok(o && js_doc_root(o)->type == JS_DOUBLE && js_doc_root(o)->u.d > 1.2e29,
	   "an integer beyond 64 bits becomes a double, not a clamped integer");
	js_doc_free(o);
	o = parse("18446744073709551615");
	ok(o && js_doc_root(o)->type == JS_UINT && js_doc_root(o)->u.u == UINT64_MAX,
	   "UINT64_MAX stays exact");
	js_doc_free(o);
	o = parse("-9223372036854775808");
	ok(o && js_doc_root(o)->type == JS_INT && js_doc_root(o)->u.i == INT64_MIN,
	   "INT64_MIN stays exact");
	js_doc_free(o);
	o = parse("-0");
	ok(o && js_doc_root(o)->type == JS_INT && js_doc_root(o)->u.i == 0, "-0 is the integer 0");
	js_doc_free(o);
	o = parse("\"\\u00e9\\ud83d\\ude00\"");
	ok(o && js_doc_root(o)->len == 6 &&
		   memcmp(js_doc_root(o)->u.s, "\xc3\xa9\xf0\x9f\x98\x80", 6) == 0,
	   "escapes decode to UTF-8");
	js_doc_free(o);
	test_parse_strict();
}

static void
test_errors(void)
{
	js_schema *s;
	js_result r;

	s = compile(NULL,
				"{\"type\":\"object\",\"properties\":{\"body\":{\"type\":\"object\","
				"\"required\":[\"a\"],\"properties\":{\"n\":{\"type\":\"integer\"}}},"
				"\"a/b~c\":{\"type\":\"string\"}},\"additionalProperties\":false}",
				NULL);
	ok(s != NULL, "compile a message-like schema");
	ok(valid(s, "{\"body\":{\"a\":1,\"n\":2}}"), "a valid instance is valid");
	ok(!check(s, "{\"body\":{\"n\":\"x\"},\"a/b~c\":1,\"extra\":true}", &r), "invalid instance");
	ok(r.n_errors == 4 && !r.truncated, "four errors collected");
	ok(has_error(&r, "/body", "/properties/body/required", "missing required property \"a\""),
	   "required: instance /body, keyword /properties/body/required");
	ok(has_error(&r, "/body/n", "/properties/body/properties/n/type",
				 "expected integer, got string"),
	   "type: nested pointers and message");
	ok(has_error(&r, "/a~1b~0c", "/properties/a~1b~0c/type", "expected string"),
	   "~ and / are escaped in both pointers");
	ok(has_error(&r, "/extra", "/additionalProperties", "not allowed"),
	   "additionalProperties false names the property");
	js_result_clear(&r);
	ok(r.errors == NULL && r.n_errors == 0, "js_result_clear empties the result");
	js_schema_free(s);

	s = compile(NULL,
				"{\"$defs\":{\"t\":{\"type\":\"string\",\"minLength\":2}},"
				"\"properties\":{\"x\":{\"$ref\":\"#/$defs/t\"}},\"items\":{\"maximum\":3}}",
				NULL);
	ok(!check(s, "{\"x\":\"a\"}", &r) && has_error(&r, "/x", "/properties/x/$ref/minLength", ""),
	   "keyword location goes through $ref");
	js_result_clear(&r);
	ok(!check(s, "[1,5]", &r) && has_error(&r, "/1", "/items/maximum", "greater than the maximum"),
	   "array index in the instance location");
	js_result_clear(&r);
	ok(!check(s, "[{\"x\":1}]", &r) || true, "validation of nested data does not crash");
	js_result_clear(&r);
	js_schema_free(s);

	s = compile(NULL, "{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"number\"}]}", NULL);
	ok(!check(s, "null", &r) && r.n_errors == 1 && has_error(&r, "", "/anyOf", "anyOf"),
	   "a failed anyOf is one error at the keyword");
	js_result_clear(&r);
	js_schema_free(s);
}

static void
test_limits(void)
{
	js_limits lim;
	js_schema *s;
	js_result r;
	js_builder *b;
	js_doc *deep;

	js_limits_default(&lim);
	lim.max_errors = 3;
	s = compile(NULL, "{\"items\":{\"type\":\"string\"}}", &lim);
	ok(!check(s, "[1,2,3,4,5]", &r) && r.n_errors == 3 && r.truncated,
	   "max_errors caps the errors and sets truncated");
	js_result_clear(&r);
	ok(!check(s, "[1,2,3]", &r) && r.n_errors == 3 && !r.truncated,
	   "exactly max_errors errors is not truncated");
	js_result_clear(&r);
	js_schema_free(s);

	s = compile(NULL, "{\"$ref\":\"#\"}", NULL);
	ok(s != NULL, "a schema that refers to itself compiles");
	ok(!check(s, "1", &r) && r.n_errors == 1 && strstr(r.errors[0].message, "depth"),
	   "a $ref cycle ends with a depth error");
	js_result_clear(&r);
	js_schema_free(s);

	s = compile(
		NULL,
		"{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"anyOf\":[{\"$ref\":\"#/$defs/a\"}]}},"
		"\"$ref\":\"#/$defs/a\"}",
		NULL);
	ok(!check(s, "1", &r) && r.n_errors == 1, "a cycle through anyOf also ends with an error");
	js_result_clear(&r);
	js_schema_free(s);

	/* a 10,000-deep instance built in memory, never parsed */
	b = js_builder_new(0);
	for (int i = 0; i < 10001; i++)
		js_builder_begin_array(b);
	for (int i = 0; i < 10001; i++)
		js_builder_end(b);
	deep = js_builder_finish(b);
	ok(deep != NULL, "the builder makes a 10,000-deep document");
	s = compile(NULL, "{\"items\":{\"$ref\":\"#\"}}", NULL);
	js_validate(s, js_doc_root(deep), &r);
	ok(!r.valid && r.n_errors == 1, "a 10,000-deep instance ends with a depth error");
	js_result_clear(&r);
	js_schema_free(s);
	s = compile(NULL, "{\"const\":[[[]]],\"uniqueItems\":true}", NULL);
	js_validate(s, js_doc_root(deep), &r);
	ok(!r.valid, "deep equality is bounded");
	js_result_clear(&r);
	js_schema_free(s);
	js_doc_free(deep);
}

static void
test_compile_errors(void)
{
	const char *bad[] = {
		"12",
		"\"x\"",
		"{\"$ref\":\"#/$defs/missing\"}",
		"{\"$ref\":\"http://example.com/nowhere.json\"}",
		"{\"pattern\":\"(unclosed\"}",
		"{\"patternProperties\":{\"[z-a]\":{}}}",
		"{\"type\":\"strnig\"}",
	};
	const char *names[] = {"a number is not a schema",
						   "a string is not a schema",
						   "an unresolvable pointer $ref",
						   "an unknown remote $ref",
						   "a bad pattern",
						   "a bad patternProperties key",
						   "an unknown type"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		js_doc *doc = parse(bad[i]);
		char *err = NULL;
		js_schema *s = js_compile(NULL, doc, NULL, &err);

		ok(s == NULL && err != NULL && err[0], names[i]);
		free(err);
		js_doc_free(doc);
	}
}

static void
test_registry(void)
{
	js_registry *reg = js_registry_new();
	js_doc *doc = parse("{\"$id\":\"http://example.com/alias.json\","
						"\"$defs\":{\"pos\":{\"type\":\"integer\",\"minimum\":1}}}");
	char *err = NULL;
	js_schema *s, *s2;

	ok(js_registry_add(reg, "http://example.com/defs.json", doc, &err) == 0, "registry_add");
	ok(js_registry_add(reg, "relative.json", doc, &err) == -1 && err != NULL,
	   "a relative uri is refused");
	free(err);
	err = NULL;
	js_doc_free(doc);
	s = compile(reg, "{\"$ref\":\"http://example.com/defs.json#/$defs/pos\"}", NULL);
	ok(s && valid(s, "3") && !valid(s, "0") && !valid(s, "\"3\""), "a $ref into the registry");
	s2 = compile(
		reg, "{\"$id\":\"http://example.com/root.json\",\"$ref\":\"alias.json#/$defs/pos\"}", NULL);
	ok(s2 && valid(s2, "3") && !valid(s2, "-3"), "a relative $ref to a document's $id");
	js_registry_free(reg);
	ok(s && valid(s, "5"), "a compiled schema keeps its documents after the registry is freed");
	js_schema_free(s);
	js_schema_free(s2);

	s = compile(NULL, "{\"$ref\":\"https://json-schema.org/draft/2020-12/schema\"}", NULL);
	ok(s && valid(s, "{\"type\":\"string\"}") && !valid(s, "{\"minLength\":-1}"),
	   "the 2020-12 meta-schema is built in");
	js_schema_free(s);
	s = compile(NULL, "{\"$ref\":\"http://json-schema.org/draft-07/schema#\"}", NULL);
	ok(s && valid(s, "{\"items\":[{}]}") && !valid(s, "{\"type\":12}"),
	   "the draft-07 meta-schema is built in");
	js_schema_free(s);
}

static void
test_keywords(void)
{
	js_schema *s;
	js_limits lim;

	s = compile(NULL, "{\"type\":\"integer\"}", NULL);
	ok(valid(s, "1.0") && valid(s, "1e3") && !valid(s, "1.5") &&
		   valid(s, "123456789012345678901234"),
	   "integers: 1.0 and big integers are integers");
	js_schema_free(s);
	s = compile(NULL, "{\"const\":1}", NULL);
	ok(valid(s, "1.0") && !valid(s, "true"), "const: 1 equals 1.0, not true");
	js_schema_free(s);
	s = compile(NULL, "{\"multipleOf\":0.01}", NULL);
	ok(valid(s, "19.99") && valid(s, "0.07") && !valid(s, "0.075"), "multipleOf 0.01");
	js_schema_free(s);
	s = compile(NULL, "{\"maximum\":9007199254740992}", NULL);
	ok(valid(s, "9007199254740992") && !valid(s, "9007199254740993"),
	   "integer bounds compare exactly beyond 2^53");
	js_schema_free(s);
	s = compile(NULL, "{\"maxLength\":2,\"minLength\":2}", NULL);
	ok(valid(s, "\"\\u00e9\\ud83d\\ude00\"") && !valid(s, "\"abc\""),
	   "string length counts code points");
	js_schema_free(s);
	s = compile(NULL, "{\"pattern\":\"^[A-Z]{3}-\\\\d{2,4}$\"}", NULL);
	ok(valid(s, "\"ABC-123\"") && !valid(s, "\"AB-123\"") && !valid(s, "\"ABC-1\""),
	   "pattern with classes, \\d and counted repetition");
	js_schema_free(s);
	s = compile(NULL, "{\"pattern\":\"^(a+)+$\"}", NULL);
	{
		js_result r;

		ok(!check(s,
				  "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\"",
				  &r) &&
			   r.n_errors == 1,
		   "catastrophic backtracking is bounded and reported");
		js_result_clear(&r);
	}
	js_schema_free(s);
	s = compile(NULL, "{\"format\":\"date-time\"}", NULL);
	ok(valid(s, "\"2026-11-23T14:31:05.123+00:00\"") && !valid(s, "\"2026-11-23 14:31\""),
	   "format asserted by default");
	js_schema_free(s);
	js_limits_default(&lim);
	lim.format_assertion = false;
	s = compile(NULL, "{\"format\":\"date-time\"}", &lim);
	ok(valid(s, "\"nope\""), "format as annotation when format_assertion is false");
	js_schema_free(s);
	s = compile(NULL,
				"{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
				"\"items\":[{\"type\":\"string\"}],\"additionalItems\":false}",
				NULL);
	ok(valid(s, "[\"a\"]") && !valid(s, "[\"a\",1]"), "draft-07 selected by $schema");
	js_schema_free(s);
	s = compile(NULL,
				"{\"properties\":{\"a\":true},\"unevaluatedProperties\":false,"
				"\"allOf\":[{\"properties\":{\"b\":true}}]}",
				NULL);
	ok(valid(s, "{\"a\":1,\"b\":2}") && !valid(s, "{\"a\":1,\"c\":2}"), "unevaluatedProperties");
	js_schema_free(s);
	s = compile(NULL, "{\"uniqueItems\":true}", NULL);
	{
		char buf[4096];
		size_t o = 0;

		o += (size_t) snprintf(buf + o, sizeof(buf) - o, "[");
		for (int i = 0; i < 200; i++)
			o += (size_t) snprintf(buf + o, sizeof(buf) - o, "%s{\"k\":%d}", i ? "," : "", i);
		snprintf(buf + o, sizeof(buf) - o, ",{\"k\":7.0}]");
		ok(!valid(s, buf) && valid(s, "[1,\"1\",[1],{\"a\":1},{\"a\":\"1\"}]"),
		   "uniqueItems on a large array, with 7 == 7.0");
	}
	js_schema_free(s);
}

static bool
same_number_type(const js_value *a, const js_value *b)
{
	return a->type == b->type && js_json_equal(a, b, 2);
}

/* A document built with the js_builder calls equals js_parse's of the same text. */
static void
test_builder(void)
{
	static const char *const numbers[] = {
		"0",
		"-1",
		"9223372036854775807",
		"-9223372036854775808",
		"9223372036854775808",
		"18446744073709551615",
		"18446744073709551616",
		"-9223372036854775809",
		"1.5",
		"-0.25",
		"1e30",
		"2.0",
		"123456789012345678901234567890",
	};
	js_builder *b = js_builder_new(0);
	js_doc *built, *parsed, *copy;
	char text[4096] = "{\"numbers\":[";

	js_builder_begin_object(b);
	js_builder_key(b, "numbers", 7);
	js_builder_begin_array(b);
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
	{
		js_builder *nb = js_builder_new(0);
		js_doc *n, *p = parse(numbers[i]);
		char name[200];

		js_builder_number(nb, numbers[i], strlen(numbers[i]));
		n = js_builder_finish(nb);
		snprintf(name, sizeof(name), "js_builder_number(\"%s\") is js_parse's number", numbers[i]);
		ok(n && p && same_number_type(js_doc_root(n), js_doc_root(p)), name);
		js_doc_free(p);
		js_doc_free(n);
		js_builder_number(b, numbers[i], strlen(numbers[i]));
		strcat(text, i ? "," : "");
		strcat(text, numbers[i]);
	}
	js_builder_end(b);
	strcat(text, "],\"s\":\"a\\\"b\\u00e9\",\"t\":true,\"f\":false,\"z\":null,\"d\":1,\"d\":2}");
	js_builder_key(b, "s\x01ignored", 1);
	js_builder_string(b, "a\"b\xc3\xa9", 5);
	js_builder_key(b, "t", 1);
	js_builder_bool(b, true);
	js_builder_key(b, "f", 1);
	js_builder_bool(b, false);
	js_builder_key(b, "z", 1);
	js_builder_null(b);
	js_builder_key(b, "d", 1);
	js_builder_number(b, "1", 1);
	js_builder_key(b, "d", 1);
	js_builder_number(b, "2", 1);
	js_builder_end(b);
	built = js_builder_finish(b);
	parsed = parse(text);
	ok(built && parsed && js_json_equal(js_doc_root(built), js_doc_root(parsed), 10),
	   "a built document (keys by length, a repeated key) equals the parsed one");
	b = js_builder_new(0);
	js_builder_value(b, js_doc_root(parsed));
	copy = js_builder_finish(b);
	ok(copy && js_json_equal(js_doc_root(copy), js_doc_root(parsed), 10),
	   "js_builder_value copies a document");
	js_doc_free(copy);
	js_doc_free(parsed);
	js_doc_free(built);

	b = js_builder_new(0);
	ok(js_builder_begin_object(b) == 0 && js_builder_number(b, "1", 1) == -1,
	   "a value without its key in an object is refused");
	ok(js_builder_end(b) == -1 && js_builder_finish(b) == NULL,
	   "after a misuse the builder refuses everything");
	b = js_builder_new(0);
	ok(js_builder_end(b) == -1, "an end without a container is refused");
	js_builder_free(b);
	b = js_builder_new(0);
	js_builder_begin_array(b);
	ok(js_builder_finish(b) == NULL, "an unfinished document is no document");
}

/* the strict grammar, repeated keys and what escapes decode to */
static void
test_parse_strict(void)
{
	static const char *const refused[] = {
		"1.",      ".5",         "01",          "+1",     "-",        "1e",     "1e+",
		"[1,]",    "{\"a\":1,}", "{\"a\" 1}",   "{a:1}",  "[1 2]",    "tru",    "nul",
		"\"\\x\"", "\"\\u12\"",  "\"\\u12g4\"", "[\"a\"", "{\"a\":}", "\"\t\"", "[1]]",
		"{}}",     "{\"a\":1]",  "[}",          "\"abc",  "TRUE",     "-01",    "1.e5",
	};
	js_doc *o;
	const js_value *v;
	char name[160];
	char text[512];

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
	{
		snprintf(name, sizeof(name), "'%s' is refused", refused[i]);
		ok(parse_fails(refused[i], strlen(refused[i]), NULL, NULL), name);
	}
	o = parse("{\"a\":1,\"b\":2,\"a\":3}");
	v = o ? js_doc_root(o) : NULL;
	ok(v && v->len == 2 && strcmp(v->u.members[0].key, "a") == 0 && v->u.members[0].val.u.i == 3 &&
		   strcmp(v->u.members[1].key, "b") == 0,
	   "a repeated key keeps the first place and the last value");
	js_doc_free(o);
	strcpy(text, "{");
	for (int i = 0; i < 40; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s\"k%d\":%d", i ? "," : "",
				 i % 30, i);
	strcat(text, "}");
	o = parse(text);
	v = o ? js_doc_root(o) : NULL;
	{
		bool found = v && v->len == 30;

		for (int i = 0; found && i < 30; i++)
		{
			char key[8];
			const js_value *m;

			snprintf(key, sizeof(key), "k%d", i);
			m = js_object_get(v, key);
			found = m && m->u.i == (i < 10 ? i + 30 : i);
		}
		ok(found && js_object_get(v, "k30") == NULL,
		   "40 members with 10 repeated keys: 30 members, each found by the index");
	}
	js_doc_free(o);
	o = parse(
		"[\"\\ud800\", \"\\udc00x\", \"\\ud800\\u0041\", \"a\\u0000b\", \"\\/\\b\\f\\n\\r\\t\"]");
	v = o ? js_doc_root(o) : NULL;
	ok(v && v->len == 5 && v->u.items[0].len == 3 &&
		   memcmp(v->u.items[0].u.s, "\xef\xbf\xbd", 3) == 0 && v->u.items[1].len == 4 &&
		   v->u.items[2].len == 4 &&
		   memcmp(v->u.items[2].u.s,
				  "\xef\xbf\xbd"
				  "A",
				  4) == 0 &&
		   v->u.items[3].len == 3 && v->u.items[3].u.s[1] == '\0' &&
		   strcmp(v->u.items[4].u.s, "/\b\f\n\r\t") == 0,
	   "lone surrogate escapes become U+FFFD, \\u0000 a NUL inside the string");
	js_doc_free(o);
	o = parse("{\"a\\u0000b\":1,\"a\":2}");
	v = o ? js_doc_root(o) : NULL;
	ok(v && v->len == 2 && v->u.members[0].klen == 3 && js_object_get(v, "a")->u.i == 2,
	   "a key with a NUL is a key of its own");
	js_doc_free(o);
	ok(parse_fails("[1, 2", 5, NULL, "unexpected end"), "the end of text says so");
	ok(parse_fails("[1 2]", 5, NULL, "offset 3"), "a syntax error names its offset");
	ok(parse_fails("[1,\"\xff\" x", 9, NULL, "UTF-8"),
	   "invalid UTF-8 is named before a syntax error");
}

/*
 * The fast pattern matcher (regex_fast.c) against the general engine: generated anchored
 * patterns and strings; both must agree on every pair. The patterns of the message schemas
 * must all take the fast path.
 */
static void
test_regex_fast(void)
{
	static const char *atoms[] = {"a",    "b",      "-",   "\\.",   "[ab]",         "[a-c]",
								  "[b]",  "[0-9]",  "\\d", "\\w",   "[A-Z0-9/._-]", "[x-]",
								  "[-a]", "[\\-z]", ".",   "(a|b)", "[^a]",         "\\s",
								  "é",    "[a-cé]"};
	static const char *quants[] = {"", "", "?", "*", "+", "{2}", "{0,3}", "{1,2}", "{2,}", "*?"};
	static const char *chars[] = {"a", "b", "c", "0", "9", "_", "-", ".", "/", "x", "Z", " ", "é"};
	static const char *schema_patterns[] = {
		"^[A-Z]{3}$",
		"^[A-Z0-9][A-Z0-9/._-]{2,39}$",
		"^[a-z]{1,63}$",
		"^[A-Z][A-Za-z]{2,63}$",
		"^[0-9]{13}$",
		"^[MFX]$",
		"^[0-9]{1,4}[A-Z]?$",
		"^[0-9]+[.][0-9]+$",
		"^RMV-[0-9]{4}-[0-9]{6}$",
		"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
	};
	unsigned seed = 20261207;
	int n_fast = 0, n_general = 0, n_pairs = 0, n_disagree = 0, n_matched = 0;
	char pat[256], str[64], name[200];
	int all_fast = 1;

	for (size_t i = 0; i < sizeof(schema_patterns) / sizeof(schema_patterns[0]); i++)
	{
		char *err = NULL;
		js_regex *re = js_regex_compile(schema_patterns[i], strlen(schema_patterns[i]), &err);

		if (re == NULL || !js_regex_is_fast(re))
		{
			printf("# not on the fast path: %s\n", schema_patterns[i]);
			all_fast = 0;
		}
		free(err);
		js_regex_free(re);
	}
	ok(all_fast, "the message schemas' patterns take the fast path");

	for (int p = 0; p < 3000; p++)
	{
		int n_atoms = 1 + (int) ((seed = seed * 1103515245u + 12345u) >> 16) % 4;
		js_regex *re;
		char *err = NULL;

		strcpy(pat, "^");
		for (int a = 0; a < n_atoms; a++)
		{
			seed = seed * 1103515245u + 12345u;
			strcat(pat, atoms[(seed >> 16) % (sizeof(atoms) / sizeof(atoms[0]))]);
			seed = seed * 1103515245u + 12345u;
			strcat(pat, quants[(seed >> 16) % (sizeof(quants) / sizeof(quants[0]))]);
		}
		strcat(pat, "$");
		re = js_regex_compile(pat, strlen(pat), &err);
		free(err);
		if (re == NULL)
			continue;
		if (js_regex_is_fast(re))
			n_fast++;
		else
			n_general++;
		for (int k = 0; k < 40; k++)
		{
			int len;
			int fast, general;

			seed = seed * 1103515245u + 12345u;
			len = (int) ((seed >> 16) % 8);
			str[0] = '\0';
			for (int c = 0; c < len; c++)
			{
				seed = seed * 1103515245u + 12345u;
				strcat(str, chars[(seed >> 16) % (sizeof(chars) / sizeof(chars[0]))]);
			}
			fast = js_regex_search(re, str, strlen(str));
			general = js_regex_search_general(re, str, strlen(str));
			n_pairs++;
			n_matched += general == 1;
			if (fast != general)
			{
				if (n_disagree++ < 5)
					printf("# disagree: /%s/ on \"%s\": fast %d, general %d\n", pat, str, fast,
						   general);
			}
		}
		js_regex_free(re);
	}
	snprintf(name, sizeof(name),
			 "fast and general engines agree on %d pairs (%d fast patterns, %d general, %d "
			 "matches)",
			 n_pairs, n_fast, n_general, n_matched);
	ok(n_disagree == 0, name);
	ok(n_fast > 500 && n_general > 500 && n_matched > 1000,
	   "the generated cases exercise both engines and both answers");
}

int
main(void)
{
	test_regex_fast();
	test_parse();
	test_errors();
	test_limits();
	test_compile_errors();
	test_registry();
	test_keywords();
	test_builder();
	printf("1..%d\n", n_tests);
	if (n_failed)
		printf("# %d of %d tests failed\n", n_failed, n_tests);
	return n_failed ? 1 : 0;
}
