/*
 * token_answer.c - reads the token service's JSON answer (docs/worker.md "Access tokens").
 */
#include "token_answer.h"

#include <stdlib.h>
#include <string.h>

#include "jsonschema/jsonschema.h"

static char *
string_field(const js_value *doc, const char *name)
{
	const char *value = js_string_member(doc, name);

	return value ? strdup(value) : NULL;
}

const char *
token_answer_parse(const char *text, size_t len, TokenAnswer *answer)
{
	char *err = NULL;
	js_doc *doc;
	const js_value *root, *field;
	const char *problem = NULL;

	memset(answer, 0, sizeof *answer);
	/* the validator's parser, with its default limits (16 MiB, depth 512) */
	doc = js_parse(text, len, NULL, &err);
	free(err);
	root = doc ? js_doc_root(doc) : NULL;
	if (root == NULL || root->type != JS_OBJECT)
		problem = "the token service's answer is not a JSON object";
	else
	{
		answer->access_token = string_field(root, "access_token");
		answer->principal = string_field(root, "principal");
		if ((field = js_object_get(root, "expires_in")) != NULL && field->type == JS_INT)
			answer->expires_in = field->u.i;
		if (answer->access_token == NULL || answer->access_token[0] == '\0' ||
			answer->expires_in <= 0)
			problem = "the token service's answer has no access_token and expires_in";
	}
	js_doc_free(doc);
	return problem;
}

void
token_answer_free(TokenAnswer *answer)
{
	if (answer->access_token != NULL)
	{
		explicit_bzero(answer->access_token, strlen(answer->access_token));
		free(answer->access_token);
	}
	free(answer->principal);
	memset(answer, 0, sizeof *answer);
}
