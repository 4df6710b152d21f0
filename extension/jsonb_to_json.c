/*
 * jsonb_to_json.c - build the validator's json-c document straight from jsonb.
 *
 * Validating a jsonb used to print it as text (escape_json), then have json-c parse that text
 * again: about a quarter of hublink.jsonschema_is_valid's time (docs/performance.md). Here one
 * walk of the jsonb builds the same document. The text form's length is counted on the way
 * (the separators JsonbToCString writes, each string's escapes), so hublink.max_message_bytes
 * still refuses what it refused before, with the same words.
 *
 * The json-c objects are malloc'd: nothing that can ereport runs while they are held, except
 * numeric_out (out of memory only), which PG_TRY guards.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "jsonb_to_json.h"

/* The length of escape_json's output for a string of len bytes. */
static size_t
escaped_length(const char *s, int len)
{
	size_t n = 2;

	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
			n += 2;
		else if (c < 0x20)
			n += 6;
		else
			n += 1;
	}
	return n;
}

typedef struct build_state
{
	struct json_object **stack; /* the open containers, innermost last */
	int depth;
	int capacity;
	int max_depth_seen;
	size_t text_len;
	bool out_of_memory;
	struct json_object *root;
	bool have_root;
} build_state;

/* A scalar as a json-c value (NULL for null) and its text length. */
static struct json_object *
scalar_value(JsonbValue *v, build_state *st)
{
	switch (v->type)
	{
		case jbvNull:
			st->text_len += 4;
			return NULL;
		case jbvBool:
			st->text_len += v->val.boolean ? 4 : 5;
			return js_json_new_bool(v->val.boolean);
		case jbvString:
			st->text_len += escaped_length(v->val.string.val, v->val.string.len);
			return js_json_new_string(v->val.string.val, (size_t) v->val.string.len);
		case jbvNumeric:
		{
			char *text =
				DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
			size_t len = strlen(text);
			struct json_object *number = js_json_new_number(text, len);

			st->text_len += len;
			pfree(text);
			return number;
		}
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
	return NULL;
}

/* Attach value to the innermost open container (key for objects), or make it the root. */
static void
attach(build_state *st, const JsonbValue *key, struct json_object *value, bool is_null)
{
	if (st->depth == 0)
	{
		st->root = value;
		st->have_root = true;
		return;
	}
	if (value == NULL && !is_null)
		st->out_of_memory = true;
	if (key)
	{
		if (js_json_object_add(st->stack[st->depth - 1], key->val.string.val,
							   (size_t) key->val.string.len, value) != 0)
			st->out_of_memory = true;
	}
	else if (js_json_array_add(st->stack[st->depth - 1], value) != 0)
		st->out_of_memory = true;
}

static void
walk(Jsonb *jb, build_state *st)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbIteratorToken token;
	JsonbValue v;
	JsonbValue key;
	bool have_key = false;
	/* Members and elements written so far at each level, for the ", " separators. */
	int *count = palloc0(sizeof(int) * 8);
	int count_cap = 8;
	bool raw_scalar = false;

	while ((token = JsonbIteratorNext(&it, &v, false)) != WJB_DONE && !st->out_of_memory)
	{
		switch (token)
		{
			case WJB_BEGIN_ARRAY:
			case WJB_BEGIN_OBJECT:
			{
				struct json_object *container;

				if (token == WJB_BEGIN_ARRAY && v.val.array.rawScalar)
				{
					/* A scalar document is stored as a one-element pseudo array. */
					raw_scalar = true;
					break;
				}
				/* An object member's separator was counted with its key. */
				if (!have_key && st->depth > 0 && count[st->depth - 1]++ > 0)
					st->text_len += 2;
				st->text_len += 2; /* the brackets */
				container = token == WJB_BEGIN_ARRAY ? js_json_new_array() : js_json_new_object();
				if (container == NULL)
				{
					st->out_of_memory = true;
					break;
				}
				attach(st, have_key ? &key : NULL, container, false);
				have_key = false;
				if (st->depth == st->capacity)
				{
					st->capacity *= 2;
					st->stack = repalloc(st->stack, sizeof(*st->stack) * st->capacity);
				}
				if (st->depth + 1 >= count_cap)
				{
					count = repalloc(count, sizeof(int) * count_cap * 2);
					memset(count + count_cap, 0, sizeof(int) * count_cap);
					count_cap *= 2;
				}
				st->stack[st->depth++] = container;
				count[st->depth - 1] = 0;
				if (st->depth > st->max_depth_seen)
					st->max_depth_seen = st->depth;
				break;
			}
			case WJB_END_ARRAY:
			case WJB_END_OBJECT:
				if (raw_scalar && st->depth == 0)
					break;
				st->depth--;
				break;
			case WJB_KEY:
				if (count[st->depth - 1]++ > 0)
					st->text_len += 2;
				st->text_len += escaped_length(v.val.string.val, v.val.string.len) + 2;
				key = v;
				have_key = true;
				break;
			case WJB_VALUE:
			case WJB_ELEM:
			{
				struct json_object *value;

				if (token == WJB_ELEM && st->depth > 0 && count[st->depth - 1]++ > 0)
					st->text_len += 2;
				value = scalar_value(&v, st);
				attach(st, have_key ? &key : NULL, value, v.type == jbvNull);
				have_key = false;
				break;
			}
			default:
				break;
		}
	}
	pfree(count);
}

struct json_object *
hublink_jsonb_to_json(Jsonb *jb, const js_limits *limits, char **problem)
{
	build_state st = {0};
	volatile struct json_object *root = NULL;

	*problem = NULL;
	st.capacity = 16;
	st.stack = palloc(sizeof(*st.stack) * st.capacity);
	PG_TRY();
	{
		walk(jb, &st);
	}
	PG_CATCH();
	{
		/* The containers hang from the root (or are it): freeing it frees them all. */
		if (st.have_root && st.root)
			js_json_free(st.root);
		PG_RE_THROW();
	}
	PG_END_TRY();
	root = st.root;
	pfree(st.stack);
	if (st.out_of_memory)
	{
		if (root)
			js_json_free((struct json_object *) root);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	/* The order of js_parse's checks: the size first, then the nesting. */
	if (limits->max_document_bytes && st.text_len > limits->max_document_bytes)
		*problem = psprintf("document of %zu bytes exceeds the limit of %zu bytes", st.text_len,
							limits->max_document_bytes);
	else if (st.max_depth_seen > (limits->max_depth > 0 ? limits->max_depth : 512))
		*problem = psprintf("document nesting exceeds the limit of %d levels",
							limits->max_depth > 0 ? limits->max_depth : 512);
	if (*problem && root)
	{
		js_json_free((struct json_object *) root);
		root = NULL;
	}
	return (struct json_object *) root;
}
