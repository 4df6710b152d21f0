/*
 * jsonb_to_json.c - build the validator's document (jsonschema.h) straight from jsonb.
 *
 * Validating a jsonb used to print it as text (escape_json), then parse that text again:
 * about a quarter of hublink.jsonschema_is_valid's time (docs/performance.md). Here one walk
 * of the jsonb feeds the validator's js_builder, which makes the document js_parse would make
 * of the text. The text form's length is counted on the way (the separators JsonbToCString
 * writes, each string's escapes), so hublink.max_message_bytes still refuses what it refused
 * before, with the same words.
 *
 * The builder and its document are malloc'd: nothing that can ereport runs while they are
 * held, except numeric_out (out of memory only), which PG_TRY guards.
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
	js_builder *b;
	size_t text_len;
	bool failed; /* the builder refused a call: out of memory */
} build_state;

/* A scalar into the builder, and its text length. */
static void
scalar_value(JsonbValue *v, build_state *st)
{
	int rc = 0;

	switch (v->type)
	{
		case jbvNull:
			st->text_len += 4;
			rc = js_builder_null(st->b);
			break;
		case jbvBool:
			st->text_len += v->val.boolean ? 4 : 5;
			rc = js_builder_bool(st->b, v->val.boolean);
			break;
		case jbvString:
			st->text_len += escaped_length(v->val.string.val, v->val.string.len);
			rc = js_builder_string(st->b, v->val.string.val, (size_t) v->val.string.len);
			break;
		case jbvNumeric:
		{
			char *text =
				DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
			size_t len = strlen(text);

			rc = js_builder_number(st->b, text, len);
			st->text_len += len;
			pfree(text);
			break;
		}
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
	if (rc != 0)
		st->failed = true;
}

static void
walk(Jsonb *jb, build_state *st)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbIteratorToken token;
	JsonbValue v;
	bool have_key = false;
	int depth = 0;
	/* Members and elements written so far at each level, for the ", " separators. */
	int *count = palloc0(sizeof(int) * 8);
	int count_cap = 8;
	bool raw_scalar = false;

	while ((token = JsonbIteratorNext(&it, &v, false)) != WJB_DONE && !st->failed)
	{
		switch (token)
		{
			case WJB_BEGIN_ARRAY:
			case WJB_BEGIN_OBJECT:
				if (token == WJB_BEGIN_ARRAY && v.val.array.rawScalar)
				{
					/* A scalar document is stored as a one-element pseudo array. */
					raw_scalar = true;
					break;
				}
				/* An object member's separator was counted with its key. */
				if (!have_key && depth > 0 && count[depth - 1]++ > 0)
					st->text_len += 2;
				st->text_len += 2; /* the brackets */
				if ((token == WJB_BEGIN_ARRAY ? js_builder_begin_array(st->b)
											  : js_builder_begin_object(st->b)) != 0)
					st->failed = true;
				have_key = false;
				if (depth + 1 >= count_cap)
				{
					count = repalloc(count, sizeof(int) * count_cap * 2);
					memset(count + count_cap, 0, sizeof(int) * count_cap);
					count_cap *= 2;
				}
				count[depth++] = 0;
				break;
			case WJB_END_ARRAY:
			case WJB_END_OBJECT:
				if (raw_scalar && depth == 0)
					break;
				depth--;
				if (js_builder_end(st->b) != 0)
					st->failed = true;
				break;
			case WJB_KEY:
				if (count[depth - 1]++ > 0)
					st->text_len += 2;
				st->text_len += escaped_length(v.val.string.val, v.val.string.len) + 2;
				if (js_builder_key(st->b, v.val.string.val, (size_t) v.val.string.len) != 0)
					st->failed = true;
				have_key = true;
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				if (token == WJB_ELEM && depth > 0 && count[depth - 1]++ > 0)
					st->text_len += 2;
				scalar_value(&v, st);
				have_key = false;
				break;
			default:
				break;
		}
	}
	pfree(count);
}

js_doc *
hublink_jsonb_to_doc(Jsonb *jb, const js_limits *limits, char **problem)
{
	build_state st = {0};
	js_doc *doc;
	int max_depth = limits->max_depth > 0 ? limits->max_depth : 512;
	int depth_seen;

	*problem = NULL;
	/* about as many bytes of values as jsonb has: one arena chunk holds most documents */
	st.b = js_builder_new(VARSIZE(jb));
	if (st.b == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	PG_TRY();
	{
		walk(jb, &st);
	}
	PG_CATCH();
	{
		js_builder_free(st.b);
		PG_RE_THROW();
	}
	PG_END_TRY();
	depth_seen = js_builder_depth(st.b);
	doc = st.failed ? (js_builder_free(st.b), NULL) : js_builder_finish(st.b);
	if (doc == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	/* The order of js_parse's checks: the size first, then the nesting. */
	if (limits->max_document_bytes && st.text_len > limits->max_document_bytes)
		*problem = psprintf("document of %zu bytes exceeds the limit of %zu bytes", st.text_len,
							limits->max_document_bytes);
	else if (depth_seen > max_depth)
		*problem = psprintf("document nesting exceeds the limit of %d levels", max_depth);
	if (*problem)
	{
		js_doc_free(doc);
		doc = NULL;
	}
	return doc;
}
