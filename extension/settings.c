/*
 * settings.c - the validator's hublink.* settings.
 *
 * The limits protect the backend and the worker from hostile or broken input (issue 2,
 * "Bad input"): a document longer than hublink.max_message_bytes or nested deeper than
 * hublink.max_json_depth is refused before it is validated, and at most
 * hublink.max_validation_errors problems are reported for one document.
 */
#include "postgres.h"

#include "utils/guc.h"

#include "hublink.h"

int hublink_max_message_bytes = 1024 * 1024;
int hublink_max_json_depth = 64;
int hublink_max_validation_errors = 100;
bool hublink_jsonschema_format_assertion = false;

void
hublink_define_settings(void)
{
	DefineCustomIntVariable("hublink.max_message_bytes",
							"Largest message, in bytes, that hublink parses and validates.",
							"Longer messages are rejected with an error before parsing.",
							&hublink_max_message_bytes, 1024 * 1024, 1024, 256 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("hublink.max_json_depth",
							"Deepest nesting of arrays and objects that hublink accepts.",
							"Deeper documents are rejected before validation; this also bounds "
							"the recursion of schema evaluation.",
							&hublink_max_json_depth, 64, 4, 10000, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable(
		"hublink.max_validation_errors", "Most problems reported for one invalid document.",
		"Validation stops collecting problems after this many.", &hublink_max_validation_errors,
		100, 1, 10000, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable(
		"hublink.jsonschema_format_assertion",
		"Whether \"format\" is an assertion in hublink.jsonschema_is_valid() "
		"and hublink.jsonschema_errors().",
		"Off by default, as draft 2020-12 specifies (format is an annotation). "
		"Message validation always asserts formats: the message schemas rely "
		"on them for timestamps and identifiers.",
		&hublink_jsonschema_format_assertion, false, PGC_USERSET, 0, NULL, NULL, NULL);
}
