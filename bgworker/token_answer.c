/*
 * token_answer.c - reads the token service's JSON answer (docs/worker.md "Access tokens").
 */
#include "token_answer.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

static char *
string_field(struct json_object *doc, const char *name)
{
	struct json_object *field;

	if (!json_object_object_get_ex(doc, name, &field) ||
		!json_object_is_type(field, json_type_string))
		return NULL;
	return strdup(json_object_get_string(field));
}

const char *
token_answer_parse(const char *text, size_t len, TokenAnswer *answer)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *doc, *field;
	const char *problem = NULL;

	memset(answer, 0, sizeof *answer);
	if (tok == NULL)
		return "out of memory";
	doc = json_tokener_parse_ex(tok, text, (int) len);
	json_tokener_free(tok);
	if (doc == NULL || !json_object_is_type(doc, json_type_object))
		problem = "the token service's answer is not a JSON object";
	else
	{
		answer->access_token = string_field(doc, "access_token");
		answer->principal = string_field(doc, "principal");
		if (json_object_object_get_ex(doc, "expires_in", &field) &&
			json_object_is_type(field, json_type_int))
			answer->expires_in = json_object_get_int64(field);
		if (answer->access_token == NULL || answer->access_token[0] == '\0' ||
			answer->expires_in <= 0)
			problem = "the token service's answer has no access_token and expires_in";
	}
	if (doc != NULL)
		json_object_put(doc);
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
