/*
 * json_strings.c - find a string PostgreSQL cannot store in a JSON text (json_strings.h).
 *
 * A small recursive reader of well-formed JSON that keeps the path to the current value. It
 * runs only on a message that passed validation and then failed to become jsonb, so it may
 * assume the text is well-formed: on anything unexpected it stops and reports nothing.
 */
#include "json_strings.h"

#include <string.h>

#define MAX_DEPTH 512

typedef struct Reader
{
	const char *p;
	const char *end;
	char *pointer; /* the path to the value being read */
	size_t size;
	size_t len;
	const char *what; /* set when found */
	bool in_key;      /* ... in a member name */
	int depth;
} Reader;

static void
skip_ws(Reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int
hex4(const char *p, const char *end)
{
	int v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++)
	{
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* Append one byte of a decoded member name to the pointer, escaped as RFC 6901 says. */
static void
push_char(Reader *r, char c)
{
	const char *s = c == '~' ? "~0" : c == '/' ? "~1" : NULL;
	char one[2] = {c, '\0'};

	if (s == NULL)
		s = one;
	for (; *s; s++)
		if (r->len + 1 < r->size)
			r->pointer[r->len++] = *s;
	r->pointer[r->len] = '\0';
}

static void
push_utf8(Reader *r, unsigned cp)
{
	if (cp < 0x80)
		push_char(r, (char) cp);
	else if (cp < 0x800)
	{
		push_char(r, (char) (0xC0 | (cp >> 6)));
		push_char(r, (char) (0x80 | (cp & 0x3F)));
	}
	else if (cp < 0x10000)
	{
		push_char(r, (char) (0xE0 | (cp >> 12)));
		push_char(r, (char) (0x80 | ((cp >> 6) & 0x3F)));
		push_char(r, (char) (0x80 | (cp & 0x3F)));
	}
	else
	{
		push_char(r, (char) (0xF0 | (cp >> 18)));
		push_char(r, (char) (0x80 | ((cp >> 12) & 0x3F)));
		push_char(r, (char) (0x80 | ((cp >> 6) & 0x3F)));
		push_char(r, (char) (0x80 | (cp & 0x3F)));
	}
}

/*
 * Read a string (r->p on its opening quote). False when it cannot be stored (r->what set) or
 * the text is not as expected. As a member name (as_key) its decoded bytes go to the pointer.
 */
static bool
read_string(Reader *r, bool as_key)
{
	r->p++;
	while (r->p < r->end && *r->p != '"')
	{
		unsigned cp;
		int v;

		if (*r->p != '\\')
		{
			if (as_key)
				push_char(r, *r->p);
			r->p++;
			continue;
		}
		if (r->end - r->p < 2)
			return false;
		if (r->p[1] != 'u')
		{
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
			const char *k = strchr(from, r->p[1]);

			if (k == NULL || r->p[1] == '\0')
				return false;
			if (as_key)
				push_char(r, to[k - from]);
			r->p += 2;
			continue;
		}
		v = hex4(r->p + 2, r->end);
		if (v < 0)
			return false;
		r->p += 6;
		cp = (unsigned) v;
		if (cp == 0)
		{
			r->what = "\\u0000 (the NUL character), which PostgreSQL cannot store in text";
			return false;
		}
		if (cp >= 0xDC00 && cp <= 0xDFFF)
		{
			r->what = "a lone low surrogate escape (\\uDC00-\\uDFFF without a high surrogate "
					  "before it), which is no character";
			return false;
		}
		if (cp >= 0xD800 && cp <= 0xDBFF)
		{
			int low = r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u'
						  ? hex4(r->p + 2, r->end)
						  : -1;

			if (low < 0xDC00 || low > 0xDFFF)
			{
				r->what = "a lone high surrogate escape (\\uD800-\\uDBFF not followed by a low "
						  "surrogate), which is no character";
				return false;
			}
			r->p += 6;
			cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned) low - 0xDC00);
		}
		if (as_key)
			push_utf8(r, cp);
	}
	if (r->p >= r->end)
		return false;
	r->p++;
	return true;
}

static bool read_value(Reader *r);

static bool
read_container(Reader *r, char close)
{
	size_t base = r->len;
	long index = 0;

	if (++r->depth > MAX_DEPTH)
		return false;
	r->p++;
	skip_ws(r);
	if (r->p < r->end && *r->p == close)
	{
		r->p++;
		r->depth--;
		return true;
	}
	for (;;)
	{
		r->len = base;
		if (r->len + 1 < r->size)
			r->pointer[r->len++] = '/';
		r->pointer[r->len] = '\0';
		skip_ws(r);
		if (close == '}')
		{
			if (r->p >= r->end || *r->p != '"')
				return false;
			if (!read_string(r, true))
			{
				if (r->what)
				{
					r->len = base; /* the member name itself: name its object */
					r->pointer[r->len] = '\0';
					r->in_key = true;
				}
				return false;
			}
			skip_ws(r);
			if (r->p >= r->end || *r->p != ':')
				return false;
			r->p++;
		}
		else
		{
			char digits[24];
			int n = 0;
			long i = index++;

			do
				digits[n++] = (char) ('0' + i % 10);
			while ((i /= 10) > 0 && n < (int) sizeof(digits));
			while (n > 0)
				push_char(r, digits[--n]);
		}
		if (!read_value(r))
			return false;
		skip_ws(r);
		if (r->p < r->end && *r->p == ',')
		{
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == close)
		{
			r->p++;
			r->len = base;
			r->pointer[r->len] = '\0';
			r->depth--;
			return true;
		}
		return false;
	}
}

static bool
read_value(Reader *r)
{
	skip_ws(r);
	if (r->p >= r->end)
		return false;
	switch (*r->p)
	{
		case '{':
			return read_container(r, '}');
		case '[':
			return read_container(r, ']');
		case '"':
			return read_string(r, false);
		default:
			/* a number, true, false or null */
			while (r->p < r->end && strchr(",]} \t\r\n", *r->p) == NULL)
				r->p++;
			return true;
	}
}

bool
hublink_json_find_unstorable(const char *text, size_t len, char *pointer, size_t pointer_size,
							 const char **what, bool *in_member_name)
{
	Reader r = {text, text + len, pointer, pointer_size, 0, NULL, false, 0};

	if (pointer_size == 0)
		return false;
	pointer[0] = '\0';
	(void) read_value(&r);
	if (r.what == NULL)
		return false;
	*what = r.what;
	*in_member_name = r.in_key;
	return true;
}
