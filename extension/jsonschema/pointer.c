/*
 * pointer.c - RFC 6901 JSON pointers: escaping tokens, following a pointer through json-c.
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

json_object *
js_pointer_get(json_object *root, const char *ptr, size_t len)
{
	json_object *cur = root;
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
		else if (json_object_is_type(cur, json_type_object))
		{
			json_object *next = NULL;

			if (strlen(buf) != tl || !json_object_object_get_ex(cur, buf, &next))
				next = NULL;
			cur = next;
		}
		else if (json_object_is_type(cur, json_type_array))
		{
			char *end;
			unsigned long idx;

			if (tl == 0 || (tl > 1 && buf[0] == '0') || buf[0] < '0' || buf[0] > '9')
				cur = NULL;
			else
			{
				idx = strtoul(buf, &end, 10);
				if (*end || idx >= json_object_array_length(cur))
					cur = NULL;
				else
					cur = json_object_array_get_idx(cur, idx);
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
