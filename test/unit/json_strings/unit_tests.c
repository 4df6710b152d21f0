/*
 * Unit tests of bgworker/json_strings.c: which string of a JSON text PostgreSQL cannot store,
 * and its JSON pointer. Built with ASan and UBSan by test/unit/json_strings/run (TAP; closing
 * line "json-strings: N passed, M failed").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_strings.h"

static int passed, failed;

/* expect(json, found, pointer, what_fragment, in_member_name) */
static void
expect(const char *name, const char *json, bool found, const char *pointer, const char *what,
	   bool in_member_name)
{
	char p[256];
	const char *w = NULL;
	bool key = false;
	bool f = hublink_json_find_unstorable(json, strlen(json), p, sizeof(p), &w, &key);
	bool ok =
		f == found &&
		(!found || (strcmp(p, pointer) == 0 && strstr(w, what) != NULL && key == in_member_name));

	if (ok)
		passed++;
	else
		failed++;
	printf("%sok %d - %s", ok ? "" : "not ", passed + failed, name);
	if (!ok)
		printf(" (found %d, pointer \"%s\", what \"%s\", member name %d)", f, f ? p : "",
			   f && w ? w : "", key);
	printf("\n");
}

int
main(void)
{
	char *deep;
	char small[6];
	const char *w;
	bool key;

	expect("a NUL in an array item", "{\"a\":1,\"b\":[\"x\",\"y\\u0000\"]}", true, "/b/1", "NUL",
		   false);
	expect("a lone high surrogate, member names with / and ~ escaped",
		   "{\"a/b~\":{\"c\":\"\\ud800x\"}}", true, "/a~1b~0/c", "lone high", false);
	expect("a lone low surrogate, an escaped member name decoded to UTF-8",
		   "{\"k\\u00e9y\":[1,2,{\"z\":\"\\udc00\"}]}", true, "/k\xc3\xa9y/2/z", "lone low", false);
	expect("a high surrogate at the end of the string", "{\"n\":\"ab\\uD83D\"}", true, "/n",
		   "lone high", false);
	expect("a high surrogate followed by another high one", "[\"\\ud83d\\ud83d\"]", true, "/0",
		   "lone high", false);
	expect("a surrogate pair is a character", "{\"a\":\"\\ud83d\\ude00 ok\",\"n\":-1.5e3}", false,
		   "", "", false);
	expect("escaped quotes and backslashes are not the end of a string",
		   "{\"a\":\"x\\\\\\\"\\u0000\"}", true, "/a", "NUL", false);
	expect("the twelfth item", "[0,1,2,3,4,5,6,7,8,9,10,\"\\u0000\"]", true, "/11", "NUL", false);
	expect("a NUL in a member name names its object", "{\"o\":{\"bad\\u0000key\":1}}", true, "/o",
		   "NUL", true);
	expect("the root string", "\"\\u0000\"", true, "", "NUL", false);
	expect("nothing wrong", "{\"a\":[true,false,null,{\"b\":\"\\u0041\"}]}", false, "", "", false);
	expect("\\u0000 spelled as text, not an escape", "{\"a\":\"\\\\u0000\"}", false, "", "", false);
	expect("truncated input finds nothing", "{\"a\":\"\\u00", false, "", "", false);

	/* Deeper than the reader goes: nothing reported, no crash. */
	deep = malloc(2 * 600 + 16);
	memset(deep, '[', 600);
	strcpy(deep + 600, "\"\\u0000\"");
	memset(deep + 608, ']', 600);
	deep[1208] = '\0';
	expect("600 levels deep: not read, not crashed", deep, false, "", "", false);
	free(deep);

	/* A pointer longer than the buffer is cut, still terminated. */
	if (hublink_json_find_unstorable("{\"abcdefghij\":\"\\u0000\"}", 24, small, sizeof(small), &w,
									 &key) &&
		strcmp(small, "/abcd") == 0)
		passed++, printf("ok %d - a long pointer is cut to the buffer\n", passed + failed);
	else
		failed++, printf("not ok %d - a long pointer is cut to the buffer (\"%s\")\n",
						 passed + failed, small);

	printf("1..%d\n", passed + failed);
	printf("json-strings: %d passed, %d failed\n", passed, failed);
	return failed > 0;
}
