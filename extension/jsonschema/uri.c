/*
 * uri.c - RFC 3986 reference resolution (section 5.2), enough for $id and $ref.
 */
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"

typedef struct uri_parts
{
	const char *scheme, *auth, *path, *query, *frag;
	size_t scheme_n, auth_n, path_n, query_n, frag_n;
	bool has_scheme, has_auth, has_query, has_frag;
} uri_parts;

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool
js_uri_has_scheme(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || !is_alpha(s[0]))
		return false;
	for (i = 1; i < n; i++)
	{
		char c = s[i];

		if (c == ':')
			return true;
		if (!(is_alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
			return false;
	}
	return false;
}

static void
uri_split(const char *s, uri_parts *u)
{
	size_t n = strlen(s);
	size_t i = 0, j;

	memset(u, 0, sizeof(*u));
	if (js_uri_has_scheme(s, n))
	{
		j = strchr(s, ':') - s;
		u->has_scheme = true;
		u->scheme = s;
		u->scheme_n = j;
		i = j + 1;
	}
	if (s[i] == '/' && s[i + 1] == '/')
	{
		i += 2;
		j = i;
		while (s[j] && s[j] != '/' && s[j] != '?' && s[j] != '#')
			j++;
		u->has_auth = true;
		u->auth = s + i;
		u->auth_n = j - i;
		i = j;
	}
	j = i;
	while (s[j] && s[j] != '?' && s[j] != '#')
		j++;
	u->path = s + i;
	u->path_n = j - i;
	i = j;
	if (s[i] == '?')
	{
		i++;
		j = i;
		while (s[j] && s[j] != '#')
			j++;
		u->has_query = true;
		u->query = s + i;
		u->query_n = j - i;
		i = j;
	}
	if (s[i] == '#')
	{
		u->has_frag = true;
		u->frag = s + i + 1;
		u->frag_n = strlen(s + i + 1);
	}
}

/* RFC 3986 5.2.4, appending the result to out */
static void
remove_dot_segments(js_buf *out, const char *in, size_t n)
{
	size_t start = out->len;
	size_t i = 0;

	while (i < n)
	{
		const char *p = in + i;
		size_t rest = n - i;

		if (rest >= 3 && memcmp(p, "../", 3) == 0)
			i += 3;
		else if (rest >= 2 && memcmp(p, "./", 2) == 0)
			i += 2;
		else if (rest >= 3 && memcmp(p, "/./", 3) == 0)
			i += 2;
		else if (rest == 2 && memcmp(p, "/.", 2) == 0)
		{
			js_buf_putc(out, '/');
			i += 2;
		}
		else if ((rest >= 4 && memcmp(p, "/../", 4) == 0) ||
				 (rest == 3 && memcmp(p, "/..", 3) == 0))
		{
			/* drop the last output segment */
			while (out->len > start && out->p[out->len - 1] != '/')
				out->len--;
			if (out->len > start)
				out->len--;
			if (out->p)
				out->p[out->len] = '\0';
			if (rest == 3)
			{
				js_buf_putc(out, '/');
				i += 3;
			}
			else
				i += 3;
		}
		else if ((rest == 1 && p[0] == '.') || (rest == 2 && memcmp(p, "..", 2) == 0))
			i = n;
		else
		{
			size_t j = i + (p[0] == '/' ? 1 : 0);

			while (j < n && in[j] != '/')
				j++;
			js_buf_putn(out, in + i, j - i);
			i = j;
		}
	}
}

/* "scheme:" of u, when it has one */
static void
put_scheme(js_buf *out, const uri_parts *u)
{
	if (u->has_scheme)
	{
		js_buf_putn(out, u->scheme, u->scheme_n);
		js_buf_putc(out, ':');
	}
}

/* "//authority" of u, when it has one */
static void
put_auth(js_buf *out, const uri_parts *u)
{
	if (u->has_auth)
	{
		js_buf_puts(out, "//");
		js_buf_putn(out, u->auth, u->auth_n);
	}
}

char *
js_uri_resolve(const char *base, const char *ref)
{
	uri_parts b, r;
	js_buf out = {0};

	uri_split(ref, &r);
	/* No base, or an absolute reference: the reference alone, its dot segments removed. */
	if (base == NULL || base[0] == '\0' || r.has_scheme)
	{
		put_scheme(&out, &r);
		put_auth(&out, &r);
		remove_dot_segments(&out, r.path, r.path_n);
		goto query;
	}
	uri_split(base, &b);
	put_scheme(&out, &b);
	if (r.has_auth)
	{
		put_auth(&out, &r);
		remove_dot_segments(&out, r.path, r.path_n);
		goto query;
	}
	put_auth(&out, &b);
	if (r.path_n == 0)
	{
		js_buf_putn(&out, b.path, b.path_n);
		if (r.has_query)
			goto query;
		if (b.has_query)
		{
			js_buf_putc(&out, '?');
			js_buf_putn(&out, b.query, b.query_n);
		}
		goto frag;
	}
	if (r.path[0] == '/')
		remove_dot_segments(&out, r.path, r.path_n);
	else
	{
		js_buf merged = {0};

		if (b.has_auth && b.path_n == 0)
			js_buf_putc(&merged, '/');
		else
		{
			size_t k = b.path_n;

			while (k > 0 && b.path[k - 1] != '/')
				k--;
			js_buf_putn(&merged, b.path, k);
		}
		js_buf_putn(&merged, r.path, r.path_n);
		if (merged.oom)
			out.oom = true;
		else
			remove_dot_segments(&out, merged.p ? merged.p : "", merged.len);
		js_buf_free(&merged);
	}
query:
	if (r.has_query)
	{
		js_buf_putc(&out, '?');
		js_buf_putn(&out, r.query, r.query_n);
	}
frag:
	if (r.has_frag)
	{
		js_buf_putc(&out, '#');
		js_buf_putn(&out, r.frag, r.frag_n);
	}
	return js_buf_take(&out);
}

size_t
js_uri_doc_len(const char *uri)
{
	const char *h = strchr(uri, '#');

	return h ? (size_t) (h - uri) : strlen(uri);
}
