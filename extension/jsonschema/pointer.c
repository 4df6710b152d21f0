/*
 * pointer.c - RFC 6901 JSON pointers: escaping tokens, following a pointer through a document.
 */
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"

void
js_pointer_escape(js_buf *b, const char *tok, size_t len)
{
	size_t i, last = 0;

	for (i = 0; i < len; i++)
	{
		if (tok[i] == '~' || tok[i] == '/')
		{
			js_buf_putn(b, tok + last, i - last);
			js_buf_puts(b, tok[i] == '~' ? "~0" : "~1");
			last = i + 1;
		}
	}
	js_buf_putn(b, tok + last, len - last);
}

char *
js_percent_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '%' && i + 2 < n && js_hex_digit(s[i + 1]) >= 0 && js_hex_digit(s[i + 2]) >= 0)
		{
			out[o++] = (char) (js_hex_digit(s[i + 1]) * 16 + js_hex_digit(s[i + 2]));
			i += 2;
		}
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

/* unescape token p[0..n) into buf (size >= n + 1) */
static size_t
unescape_token(const char *p, size_t n, char *buf, bool *ok)
{
	size_t o = 0;

	*ok = true;
	for (size_t i = 0; i < n; i++)
	{
		if (p[i] == '~')
		{
			if (i + 1 < n && p[i + 1] == '0')
				buf[o++] = '~';
			else if (i + 1 < n && p[i + 1] == '1')
				buf[o++] = '/';
			else
				*ok = false;
			i++;
		}
		else
			buf[o++] = p[i];
	}
	buf[o] = '\0';
	return o;
}

const js_value *
js_pointer_get(const js_value *root, const char *ptr, size_t len)
{
	const js_value *cur = root;
	size_t i = 0;
	char small[256];
	char *buf = small;

	if (len == 0)
		return root;
	if (ptr[0] != '/')
		return NULL;
	if (len >= sizeof(small))
	{
		buf = malloc(len + 1);
		if (buf == NULL)
			return NULL;
	}
	while (cur && i < len)
	{
		size_t j = i + 1, tl;
		bool ok;

		while (j < len && ptr[j] != '/')
			j++;
		tl = unescape_token(ptr + i + 1, j - i - 1, buf, &ok);
		if (!ok)
			cur = NULL;
		else if (cur->type == JS_OBJECT)
			cur = js_object_getn(cur, buf, tl, js_hash(buf, tl));
		else if (cur->type == JS_ARRAY)
		{
			char *end;
			unsigned long idx;

			if (tl == 0 || (tl > 1 && buf[0] == '0') || buf[0] < '0' || buf[0] > '9')
				cur = NULL;
			else
			{
				idx = strtoul(buf, &end, 10);
				if (*end || idx >= cur->len)
					cur = NULL;
				else
					cur = &cur->u.items[idx];
			}
		}
		else
			cur = NULL;
		i = j;
	}
	if (buf != small)
		free(buf);
	return cur;
}
