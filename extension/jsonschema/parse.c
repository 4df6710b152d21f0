/*
 * parse.c - js_parse: JSON text (RFC 8259, strictly) into the validator's document model
 * (document.c), in one pass, without recursion, with the limits applied.
 *
 * Strings are checked for UTF-8 (no overlong forms, no encoded surrogates) and raw control
 * characters; escapes decode to UTF-8, and a lone UTF-16 surrogate escape decodes to U+FFFD as
 * json-c (the parser before this one) did; "\u0000" is a NUL byte inside the string. Numbers
 * follow JSON's grammar exactly (no "1.", ".5", "+1", NaN or Infinity).
 *
 * A valid document is read once. Only when the text is refused does the pre-scan below run,
 * so that the error names the same problem as before (invalid UTF-8 or a stray byte anywhere
 * in the text first, then nesting, then the syntax error at its offset).
 */
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"

#define DEFAULT_MAX_BYTES (16u * 1024u * 1024u)
#define DEFAULT_MAX_DEPTH 512

void
js_limits_default(js_limits *limits)
{
	limits->max_document_bytes = DEFAULT_MAX_BYTES;
	limits->max_depth = DEFAULT_MAX_DEPTH;
	limits->max_errors = 100;
	limits->format_assertion = true;
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* byte classes for the pre-scan outside strings */
enum
{
	C_BAD = 0,
	C_OK,     /* white space, ",", ":" and the letters of true, false, null */
	C_OPEN,   /* { [ */
	C_CLOSE,  /* } ] */
	C_QUOTE,  /* " */
	C_NUMBER, /* - 0-9 */
};

static const unsigned char byte_classes[256] = {
	[' '] = C_OK,     ['\t'] = C_OK,    ['\r'] = C_OK,    ['\n'] = C_OK,    [','] = C_OK,
	[':'] = C_OK,     ['t'] = C_OK,     ['r'] = C_OK,     ['u'] = C_OK,     ['e'] = C_OK,
	['f'] = C_OK,     ['a'] = C_OK,     ['l'] = C_OK,     ['s'] = C_OK,     ['n'] = C_OK,
	['{'] = C_OPEN,   ['['] = C_OPEN,   ['}'] = C_CLOSE,  [']'] = C_CLOSE,  ['"'] = C_QUOTE,
	['-'] = C_NUMBER, ['0'] = C_NUMBER, ['1'] = C_NUMBER, ['2'] = C_NUMBER, ['3'] = C_NUMBER,
	['4'] = C_NUMBER, ['5'] = C_NUMBER, ['6'] = C_NUMBER, ['7'] = C_NUMBER, ['8'] = C_NUMBER,
	['9'] = C_NUMBER,
};

/*
 * Check text for bytes that have no place in it; returns NULL when fine, else an error
 * message. *depth is the deepest nesting of arrays and objects.
 */
static char *
prescan(const char *text, size_t len, int *depth)
{
	const unsigned char *t = (const unsigned char *) text;
	const unsigned char *cls = byte_classes;
	size_t i = 0;
	int level = 0;
	*depth = 0;
	while (i < len)
	{
		unsigned char c = t[i];

		switch (cls[c])
		{
			case C_OK:
				i++;
				break;
			case C_OPEN:
				if (++level > *depth)
					*depth = level;
				i++;
				break;
			case C_CLOSE:
				level--;
				i++;
				break;
			case C_QUOTE:
				i++;
				while (i < len)
				{
					unsigned char sc = t[i];

					if (sc == '"')
						break;
					if (sc == '\\')
						i += 2;
					else if (sc >= 0x80)
					{
						if (js_utf8_next(text, len, &i) < 0)
							return js_asprintf("invalid UTF-8 at offset %zu", i);
					}
					else if (sc < 0x20)
						return js_asprintf(
							"invalid JSON: control character in string at offset %zu", i);
					else
						i++;
				}
				i++;
				break;
			case C_NUMBER:
				i++;
				while (i < len && ((t[i] >= '0' && t[i] <= '9') || t[i] == '.' || t[i] == 'e' ||
								   t[i] == 'E' || t[i] == '+' || t[i] == '-'))
					i++;
				break;
			default:
				if (c == 0)
					return js_asprintf("invalid JSON: NUL byte at offset %zu", i);
				if (c >= 0x20 && c < 0x7f)
					return js_asprintf("invalid JSON: unexpected character '%c' at offset %zu", c,
									   i);
				return js_asprintf("invalid JSON: unexpected byte 0x%02x at offset %zu", c, i);
		}
	}
	return NULL;
}

typedef struct reader
{
	const unsigned char *t;
	size_t len;
	size_t pos;
	js_builder *b;
	int max_depth;
	const char *what; /* the syntax error, NULL while none */
	size_t err_pos;
	bool too_deep;
	bool oom;
} reader;

static bool
error_at(reader *r, const char *what)
{
	if (r->what == NULL)
	{
		r->what = what;
		r->err_pos = r->pos;
	}
	return false;
}

static void
skip(reader *r)
{
	while (r->pos < r->len && is_ws((char) r->t[r->pos]))
		r->pos++;
}

static int
hex4(const unsigned char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++)
	{
		int d = js_hex_digit(p[i]);

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static size_t
put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80)
	{
		out[0] = (char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		out[0] = (char) (0xc0 | (cp >> 6));
		out[1] = (char) (0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000)
	{
		out[0] = (char) (0xe0 | (cp >> 12));
		out[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char) (0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char) (0xf0 | (cp >> 18));
	out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char) (0x80 | (cp & 0x3f));
	return 4;
}

/*
 * The string at r->pos (its opening quote) into the arena: *out, *out_len. Two passes: the
 * first finds the closing quote and checks the bytes, the second copies (or decodes escapes).
 */
static bool
read_string(reader *r, const char **out, size_t *out_len)
{
	const unsigned char *t = r->t;
	size_t start = ++r->pos, i = start, o = 0;
	bool escapes = false;
	char *buf;

	for (;;)
	{
		unsigned char c;

		if (i >= r->len)
		{
			r->pos = i;
			return error_at(r, NULL);
		}
		c = t[i];
		if (c == '"')
			break;
		if (c == '\\')
		{
			escapes = true;
			i += 2;
		}
		else if (c < 0x20)
		{
			r->pos = i;
			return error_at(r, "control character in string");
		}
		else if (c < 0x80)
			i++;
		else if (js_utf8_next((const char *) t, r->len, &i) < 0)
		{
			r->pos = i;
			return error_at(r, "invalid UTF-8");
		}
	}
	if (i - start > UINT32_MAX - 1)
		return error_at(r, "string too long");
	buf = js_doc_alloc(r->b->doc, i - start + 1);
	if (buf == NULL)
	{
		r->oom = true;
		return false;
	}
	if (!escapes)
	{
		memcpy(buf, t + start, i - start);
		o = i - start;
	}
	else
	{
		for (size_t k = start; k < i;)
		{
			unsigned char c = t[k];
			int cp, lo;

			if (c != '\\')
			{
				buf[o++] = (char) c;
				k++;
				continue;
			}
			r->pos = k;
			switch (t[k + 1])
			{
				case '"':
				case '\\':
				case '/':
					buf[o++] = (char) t[k + 1];
					break;
				case 'b':
					buf[o++] = '\b';
					break;
				case 'f':
					buf[o++] = '\f';
					break;
				case 'n':
					buf[o++] = '\n';
					break;
				case 'r':
					buf[o++] = '\r';
					break;
				case 't':
					buf[o++] = '\t';
					break;
				case 'u':
					if (k + 6 > i || (cp = hex4(t + k + 2)) < 0)
						return error_at(r, "invalid \\u escape");
					k += 6;
					if (cp >= 0xd800 && cp <= 0xdbff && k + 6 <= i && t[k] == '\\' &&
						t[k + 1] == 'u' && (lo = hex4(t + k + 2)) >= 0xdc00 && lo <= 0xdfff)
					{
						cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
						k += 6;
					}
					else if (cp >= 0xd800 && cp <= 0xdfff)
						cp = 0xfffd; /* a lone surrogate, as json-c decoded it */
					o += put_utf8(buf + o, (uint32_t) cp);
					continue;
				default:
					return error_at(r, "invalid escape in string");
			}
			k += 2;
		}
		buf[o] = '\0';
		js_doc_shrink(r->b->doc, buf, i - start + 1, o + 1);
	}
	buf[o] = '\0';
	r->pos = i + 1;
	*out = buf;
	*out_len = o;
	return true;
}

static bool
read_number(reader *r)
{
	const unsigned char *t = r->t;
	size_t start = r->pos, i = start;
	js_value v = {0};

	if (i < r->len && t[i] == '-')
		i++;
	if (i < r->len && t[i] == '0')
		i++;
	else if (i < r->len && t[i] >= '1' && t[i] <= '9')
		while (i < r->len && t[i] >= '0' && t[i] <= '9')
			i++;
	else
	{
		r->pos = i;
		return error_at(r, i < r->len ? "invalid number" : NULL);
	}
	if (i < r->len && t[i] == '.')
	{
		size_t d = ++i;

		while (i < r->len && t[i] >= '0' && t[i] <= '9')
			i++;
		if (i == d)
		{
			r->pos = i;
			return error_at(r, i < r->len ? "invalid number" : NULL);
		}
	}
	if (i < r->len && (t[i] == 'e' || t[i] == 'E'))
	{
		size_t d;

		i++;
		if (i < r->len && (t[i] == '+' || t[i] == '-'))
			i++;
		d = i;
		while (i < r->len && t[i] >= '0' && t[i] <= '9')
			i++;
		if (i == d)
		{
			r->pos = i;
			return error_at(r, i < r->len ? "invalid number" : NULL);
		}
	}
	r->pos = i;
	if (!js_number_value((const char *) t + start, i - start, &v))
	{
		r->oom = true;
		return false;
	}
	if (js_builder_push(r->b, &v) != 0)
	{
		r->oom = true;
		return false;
	}
	return true;
}

static bool
read_literal(reader *r, const char *word, size_t n, js_value *v)
{
	if (r->len - r->pos < n || memcmp(r->t + r->pos, word, n) != 0)
	{
		/* a prefix of the word at the end of the text is a truncated document */
		size_t have = r->len - r->pos;

		return error_at(r, have < n && memcmp(r->t + r->pos, word, have) == 0 ? NULL
																			  : "unexpected word");
	}
	r->pos += n;
	if (js_builder_push(r->b, v) != 0)
	{
		r->oom = true;
		return false;
	}
	return true;
}

static bool
open_container(reader *r, bool object)
{
	if (r->b->depth >= r->max_depth)
	{
		r->too_deep = true;
		return false;
	}
	if ((object ? js_builder_begin_object(r->b) : js_builder_begin_array(r->b)) != 0)
	{
		r->oom = true;
		return false;
	}
	r->pos++;
	return true;
}

static bool
read_key(reader *r)
{
	const char *key;
	size_t klen;

	if (r->pos >= r->len)
		return error_at(r, NULL);
	if (r->t[r->pos] != '"')
		return error_at(r, "expected a member name");
	if (!read_string(r, &key, &klen))
		return false;
	js_builder_key_owned(r->b, key, klen);
	skip(r);
	if (r->pos >= r->len)
		return error_at(r, NULL);
	if (r->t[r->pos] != ':')
		return error_at(r, "expected ':'");
	r->pos++;
	return true;
}

static bool
close_container(reader *r)
{
	r->pos++;
	if (js_builder_end(r->b) != 0)
	{
		r->oom = true;
		return false;
	}
	return true;
}

/* the whole document; false with r->what, r->too_deep or r->oom set */
static bool
read_document(reader *r)
{
	js_builder *b = r->b;

	skip(r);
	if (r->pos >= r->len)
		return error_at(r, "empty");
	for (;;)
	{
		/* a value */
		skip(r);
		if (r->pos >= r->len)
			return error_at(r, NULL);
		switch (r->t[r->pos])
		{
			case '{':
				if (!open_container(r, true))
					return false;
				skip(r);
				if (r->pos < r->len && r->t[r->pos] == '}')
				{
					if (!close_container(r))
						return false;
					break;
				}
				if (!read_key(r))
					return false;
				continue;
			case '[':
				if (!open_container(r, false))
					return false;
				skip(r);
				if (r->pos < r->len && r->t[r->pos] == ']')
				{
					if (!close_container(r))
						return false;
					break;
				}
				continue;
			case '"':
			{
				const char *s;
				size_t n;
				js_value v = {0};

				if (!read_string(r, &s, &n))
					return false;
				v.type = JS_STRING;
				v.len = (uint32_t) n;
				v.u.s = s;
				if (js_builder_push(b, &v) != 0)
				{
					r->oom = true;
					return false;
				}
				break;
			}
			case 't':
			{
				js_value v = {.type = JS_BOOL, .b = true};

				if (!read_literal(r, "true", 4, &v))
					return false;
				break;
			}
			case 'f':
			{
				js_value v = {.type = JS_BOOL, .b = false};

				if (!read_literal(r, "false", 5, &v))
					return false;
				break;
			}
			case 'n':
			{
				js_value v = {.type = JS_NULL};

				if (!read_literal(r, "null", 4, &v))
					return false;
				break;
			}
			default:
				if (r->t[r->pos] == '-' || (r->t[r->pos] >= '0' && r->t[r->pos] <= '9'))
				{
					if (!read_number(r))
						return false;
					break;
				}
				return error_at(r, "unexpected character");
		}
		/* after a value: a separator, the end of containers, or the end of the document */
		for (;;)
		{
			bool object;

			skip(r);
			if (b->depth == 0)
			{
				if (r->pos < r->len)
					return error_at(r, "text after the document");
				return true;
			}
			if (r->pos >= r->len)
				return error_at(r, NULL);
			object = b->frames[b->depth - 1].type == JS_OBJECT;
			if (r->t[r->pos] == ',')
			{
				r->pos++;
				if (object)
				{
					skip(r);
					if (!read_key(r))
						return false;
				}
				break;
			}
			if (r->t[r->pos] == (object ? '}' : ']'))
			{
				if (!close_container(r))
					return false;
				continue;
			}
			return error_at(r, object ? "expected ',' or '}'" : "expected ',' or ']'");
		}
	}
}

/* the words for a refused text: the pre-scan's first, as before this parser */
static char *
refusal(const char *text, size_t len, int max_depth, const reader *r)
{
	int doc_depth;
	char *msg = prescan(text, len, &doc_depth);

	if (msg)
		return msg;
	if (r->too_deep || doc_depth > max_depth)
		return js_asprintf("document nesting exceeds the limit of %d levels", max_depth);
	if (r->what == NULL)
		return js_strdup("invalid JSON: unexpected end of document");
	if (strcmp(r->what, "empty") == 0)
		return js_strdup("invalid JSON: empty document");
	if (strcmp(r->what, "text after the document") == 0)
		return js_asprintf("invalid JSON: unexpected text after the document at offset %zu",
						   r->err_pos);
	return js_asprintf("invalid JSON at offset %zu: %s", r->err_pos, r->what);
}

js_doc *
js_parse(const char *text, size_t len, const js_limits *limits, char **err)
{
	js_limits def;
	js_builder b;
	reader r;
	js_doc *doc;
	int depth;

	*err = NULL;
	if (limits == NULL)
	{
		js_limits_default(&def);
		limits = &def;
	}
	if (text == NULL)
	{
		*err = js_strdup("no document");
		return NULL;
	}
	if (limits->max_document_bytes && len > limits->max_document_bytes)
	{
		*err = js_asprintf("document of %zu bytes exceeds the limit of %zu bytes", len,
						   limits->max_document_bytes);
		return NULL;
	}
	if (len > INT32_MAX)
	{
		*err = js_strdup("document too large");
		return NULL;
	}
	depth = limits->max_depth > 0 ? limits->max_depth : DEFAULT_MAX_DEPTH;
	/* values take about as many bytes as their text: one chunk holds most documents */
	js_builder_init(&b, js_doc_new(len + len / 2));
	memset(&r, 0, sizeof(r));
	r.t = (const unsigned char *) text;
	r.len = len;
	r.b = &b;
	r.max_depth = depth;
	if (b.failed)
		r.oom = true;
	else if (read_document(&r))
	{
		doc = js_builder_take(&b);
		js_builder_release(&b);
		if (doc == NULL)
			*err = js_strdup("out of memory");
		return doc;
	}
	js_doc_free(js_builder_take(&b));
	js_builder_release(&b);
	*err = r.oom ? js_strdup("out of memory") : refusal(text, len, depth, &r);
	return NULL;
}
