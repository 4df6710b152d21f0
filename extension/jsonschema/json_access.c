/*
 * json_access.c - the few json-c operations that PostgreSQL-facing code needs, behind
 * jsonschema.h, so that those files never include json-c (see the note in jsonschema.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

struct json_object *
js_json_new_object(void)
{
	return json_object_new_object();
}

struct json_object *
js_json_new_array(void)
{
	return json_object_new_array();
}

struct json_object *
js_json_new_string(const char *s, size_t len)
{
	return len <= INT32_MAX ? json_object_new_string_len(s, (int) len) : NULL;
}

struct json_object *
js_json_new_bool(bool value)
{
	return json_object_new_boolean(value);
}

/*
 * As json-c's tokener does for js_parse: an integer token is int64, else uint64; one too big
 * for both is a double (js_parse widens it, parse.c); any other number is a double that keeps
 * its text.
 */
struct json_object *
js_json_new_number(const char *text, size_t len)
{
	char buf[64];
	char *copy = len < sizeof(buf) ? buf : malloc(len + 1);
	bool integral = true;
	struct json_object *result = NULL;
	char *end;

	if (copy == NULL)
		return NULL;
	memcpy(copy, text, len);
	copy[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (copy[i] == '.' || copy[i] == 'e' || copy[i] == 'E')
			integral = false;
	if (integral)
	{
		errno = 0;
		if (copy[0] == '-')
		{
			long long v = strtoll(copy, &end, 10);

			if (errno == 0 && *end == '\0')
				result = json_object_new_int64((int64_t) v);
		}
		else
		{
			unsigned long long v = strtoull(copy, &end, 10);

			if (errno == 0 && *end == '\0')
				result = v <= (unsigned long long) INT64_MAX ? json_object_new_int64((int64_t) v)
															 : json_object_new_uint64((uint64_t) v);
		}
	}
	if (result == NULL)
		result = json_object_new_double_s(strtod(copy, NULL), copy);
	if (copy != buf)
		free(copy);
	return result;
}

int
js_json_object_add(struct json_object *obj, const char *key, size_t key_len,
				   struct json_object *value)
{
	char buf[128];
	char *copy = key_len < sizeof(buf) ? buf : malloc(key_len + 1);
	int rc;

	if (copy == NULL)
	{
		json_object_put(value);
		return -1;
	}
	memcpy(copy, key, key_len);
	copy[key_len] = '\0';
	/* json-c copies the key; a repeated key replaces the earlier value, as in js_parse. */
	rc = json_object_object_add(obj, copy, value);
	if (rc != 0)
		json_object_put(value);
	if (copy != buf)
		free(copy);
	return rc == 0 ? 0 : -1;
}

int
js_json_array_add(struct json_object *arr, struct json_object *value)
{
	if (json_object_array_add(arr, value) != 0)
	{
		json_object_put(value);
		return -1;
	}
	return 0;
}
