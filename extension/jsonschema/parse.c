/*
 * parse.c - js_parse: json-c's tokener with the limits applied and strict input checks.
 *
 * json-c accepts NaN and Infinity even in strict mode and clamps integers that do not fit 64
 * bits, so a light pre-scan rejects the former and turns the latter into doubles (1e30 is
 * still an integer to JSON Schema). The pre-scan also checks UTF-8.
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

static size_t
skip_ws(const char *text, size_t len)
{
	size_t i = 0;

	while (i < len && is_ws(text[i]))
		i++;
	return i;
}

/* does the integer token (optional '-' then digits) overflow int64/uint64? */
static bool
integer_too_big(const char *t, size_t n)
{
	bool neg = t[0] == '-';
	const char *d = t + neg;
	size_t nd = n - neg;
	const char *lim = neg ? "9223372036854775808" : "18446744073709551615";
	size_t nl = strlen(lim);

	while (nd > 1 && d[0] == '0')
	{
		d++;
		nd--;
	}
	if (nd != nl)
		return nd > nl;
	return memcmp(d, lim, nl) > 0;
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
 * Check text; returns NULL when fine, else an error message. *n_big counts integer tokens too
 * big for 64 bits, *depth is the deepest nesting of arrays and objects.
 */
static char *
prescan(const char *text, size_t len, size_t *n_big, int *depth)
{
	const unsigned char *t = (const unsigned char *) text;
	const unsigned char *cls = byte_classes;
	size_t i = 0;
	int level = 0;
	*n_big = 0;
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
			{
				size_t start = i;
				bool integral = true;

				i++;
				while (i < len && ((t[i] >= '0' && t[i] <= '9') || t[i] == '.' || t[i] == 'e' ||
								   t[i] == 'E' || t[i] == '+' || t[i] == '-'))
				{
					if (t[i] == '.' || t[i] == 'e' || t[i] == 'E')
						integral = false;
					i++;
				}
				if (integral && i - start > 18 && integer_too_big(text + start, i - start))
					(*n_big)++;
				break;
			}
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

/* copy text, appending ".0" to the integers too big for 64 bits */
static char *
widen_big_integers(const char *text, size_t len, size_t n_big, size_t *out_len)
{
	char *out = malloc(len + 2 * n_big + 1);
	size_t o = 0, i = 0;

	if (out == NULL)
		return NULL;
	while (i < len)
	{
		char c = text[i];

		if (c == '"')
		{
			out[o++] = text[i++];
			while (i < len && text[i] != '"')
			{
				if (text[i] == '\\' && i + 1 < len)
					out[o++] = text[i++];
				out[o++] = text[i++];
			}
			if (i < len)
				out[o++] = text[i++];
			continue;
		}
		if (c == '-' || (c >= '0' && c <= '9'))
		{
			size_t start = i;
			bool integral = true;

			i++;
			while (i < len &&
				   ((text[i] >= '0' && text[i] <= '9') || text[i] == '.' || text[i] == 'e' ||
					text[i] == 'E' || text[i] == '+' || text[i] == '-'))
			{
				if (text[i] == '.' || text[i] == 'e' || text[i] == 'E')
					integral = false;
				i++;
			}
			memcpy(out + o, text + start, i - start);
			o += i - start;
			if (integral && i - start > 18 && integer_too_big(text + start, i - start))
			{
				out[o++] = '.';
				out[o++] = '0';
			}
			continue;
		}
		out[o++] = text[i++];
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

json_object *
js_parse(const char *text, size_t len, const js_limits *limits, char **err)
{
	js_limits def;
	json_tokener *tok;
	json_object *obj;
	enum json_tokener_error jerr;
	char *msg;
	char *copy = NULL;
	size_t n_big, end;
	int depth, doc_depth;

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
	depth = limits->max_depth > 0 ? limits->max_depth : DEFAULT_MAX_DEPTH;
	msg = prescan(text, len, &n_big, &doc_depth);
	if (msg == NULL && doc_depth > depth)
		msg = js_asprintf("document nesting exceeds the limit of %d levels", depth);
	if (msg)
	{
		*err = msg;
		return NULL;
	}
	if (n_big)
	{
		copy = widen_big_integers(text, len, n_big, &len);
		if (copy == NULL)
		{
			*err = js_strdup("out of memory");
			return NULL;
		}
		text = copy;
	}
	/*
	 * json-c allocates and clears a parse stack as deep as asked: size it to this document
	 * (its nesting is known from the pre-scan); json-c counts the top level too
	 */
	tok = json_tokener_new_ex(doc_depth + 2);
	if (tok == NULL)
	{
		free(copy);
		*err = js_strdup("out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = len > 0 && len <= INT32_MAX ? json_tokener_parse_ex(tok, text, (int) len) : NULL;
	jerr = json_tokener_get_error(tok);
	if (obj == NULL && jerr == json_tokener_continue)
	{
		/* the text ended: a NUL tells the tokener so, which completes a top-level scalar */
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	else
		end = json_tokener_get_parse_end(tok);
	if (obj == NULL && jerr == json_tokener_success && len - skip_ws(text, len) >= 4 &&
		memcmp(text + skip_ws(text, len), "null", 4) == 0)
	{
		/* the document is null, which json-c represents as NULL: no error */
		json_tokener_free(tok);
		while (end < len && is_ws(text[end]))
			end++;
		free(copy);
		if (end < len)
			*err =
				js_asprintf("invalid JSON: unexpected text after the document at offset %zu", end);
		return NULL;
	}
	if (obj == NULL)
	{
		if (skip_ws(text, len) == len)
			*err = js_strdup("invalid JSON: empty document");
		else if (len > INT32_MAX)
			*err = js_strdup("document too large");
		else if (jerr == json_tokener_error_depth)
			*err = js_asprintf("document nesting exceeds the limit of %d levels", depth);
		else if (jerr == json_tokener_continue || jerr == json_tokener_error_parse_eof)
			*err = js_strdup("invalid JSON: unexpected end of document");
		else
			*err = js_asprintf("invalid JSON at offset %zu: %s", json_tokener_get_parse_end(tok),
							   json_tokener_error_desc(jerr));
		json_tokener_free(tok);
		free(copy);
		return NULL;
	}
	json_tokener_free(tok);
	while (end < len && is_ws(text[end]))
		end++;
	if (end < len)
	{
		*err = js_asprintf("invalid JSON: unexpected text after the document at offset %zu", end);
		json_object_put(obj);
		obj = NULL;
	}
	free(copy);
	return obj;
}
