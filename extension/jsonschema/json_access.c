/*
 * json_access.c - the few json-c operations that PostgreSQL-facing code needs, behind
 * jsonschema.h, so that those files never include json-c (see the note in jsonschema.h).
 */
#include <json-c/json.h>

#include "jsonschema.h"

void
js_json_free(struct json_object *doc)
{
	json_object_put(doc);
}

bool
js_json_is_object(const struct json_object *doc)
{
	return json_object_is_type(doc, json_type_object);
}

const char *
js_json_string_member(const struct json_object *doc, const char *key)
{
	json_object *value;

	if (!json_object_is_type(doc, json_type_object) ||
		!json_object_object_get_ex(doc, key, &value) ||
		!json_object_is_type(value, json_type_string))
		return NULL;
	return json_object_get_string(value);
}
