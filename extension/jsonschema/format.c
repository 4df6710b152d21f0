/*
 * format.c - "format" checks: RFC 3339 date-time, date, time and duration; e-mail (RFC 5321
 * mailbox, ASCII); hostname (RFC 1123, ASCII labels); IPv4 and IPv6; RFC 3986 URI and
 * URI reference; UUID; JSON pointer and relative JSON pointer; regex (ECMA-262 subset).
 * All checks are byte-exact on the string's length (an embedded NUL is just another byte).
 */
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"

static const struct
{
	const char *name;
	int id;
} formats[] = {
	{"date-time", JS_FMT_DATE_TIME},
	{"date", JS_FMT_DATE},
	{"time", JS_FMT_TIME},
	{"duration", JS_FMT_DURATION},
	{"email", JS_FMT_EMAIL},
	{"hostname", JS_FMT_HOSTNAME},
	{"ipv4", JS_FMT_IPV4},
	{"ipv6", JS_FMT_IPV6},
	{"uri", JS_FMT_URI},
	{"uri-reference", JS_FMT_URI_REFERENCE},
	{"uuid", JS_FMT_UUID},
	{"json-pointer", JS_FMT_JSON_POINTER},
	{"relative-json-pointer", JS_FMT_REL_JSON_POINTER},
	{"regex", JS_FMT_REGEX},
};

int
js_format_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
	{
		if (strcmp(formats[i].name, name) == 0)
			return formats[i].id;
	}
	return JS_FMT_NONE;
}

const char *
js_format_name(int fmt)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
	{
		if (formats[i].id == fmt)
			return formats[i].name;
	}
	return "unknown";
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* n fixed digits at s; -1 when not all digits */
static int
digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++)
	{
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static bool
check_date(const char *s, size_t n)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d, max;

	if (n != 10 || s[4] != '-' || s[7] != '-')
		return false;
	y = digits(s, 4);
	m = digits(s + 5, 2);
	d = digits(s + 8, 2);
	if (y < 0 || m < 1 || m > 12 || d < 1)
		return false;
	max = mdays[m - 1];
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		max = 29;
	return d <= max;
}

/* full-time with a required offset; leap seconds only at 23:59:60 UTC */
static bool
check_time(const char *s, size_t n)
{
	int h, m, sec, oh = 0, om = 0, sign = 0, utc_min;
	size_t i = 8;

	if (n < 9 || s[2] != ':' || s[5] != ':')
		return false;
	h = digits(s, 2);
	m = digits(s + 3, 2);
	sec = digits(s + 6, 2);
	if (h < 0 || m < 0 || sec < 0 || h > 23 || m > 59 || sec > 60)
		return false;
	if (s[i] == '.')
	{
		i++;
		if (i >= n || !is_digit(s[i]))
			return false;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i >= n)
		return false;
	if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n)
		sign = 0;
	else if ((s[i] == '+' || s[i] == '-') && i + 6 == n && s[i + 3] == ':')
	{
		sign = s[i] == '+' ? 1 : -1;
		oh = digits(s + i + 1, 2);
		om = digits(s + i + 4, 2);
		if (oh < 0 || om < 0 || oh > 23 || om > 59)
			return false;
	}
	else
		return false;
	if (sec == 60)
	{
		utc_min = h * 60 + m - sign * (oh * 60 + om);
		utc_min = ((utc_min % 1440) + 1440) % 1440;
		if (utc_min != 23 * 60 + 59)
			return false;
	}
	return true;
}

static bool
check_date_time(const char *s, size_t n)
{
	if (n < 20 || (s[10] != 'T' && s[10] != 't'))
		return false;
	return check_date(s, 10) && check_time(s + 11, n - 11);
}

/* RFC 3339 appendix A */
static bool
check_duration(const char *s, size_t n)
{
	static const char date_units[] = "YMD";
	static const char time_units[] = "HMS";
	size_t i = 1;
	int last = -1;
	bool any = false;

	if (n < 2 || s[0] != 'P')
		return false;
	/* weeks stand alone */
	if (s[n - 1] == 'W')
	{
		for (i = 1; i < n - 1; i++)
		{
			if (!is_digit(s[i]))
				return false;
		}
		return n > 2;
	}
	while (i < n && s[i] != 'T')
	{
		size_t start = i;
		const char *u;
		int idx;

		while (i < n && is_digit(s[i]))
			i++;
		if (i == start || i >= n || (u = strchr(date_units, s[i])) == NULL || s[i] == '\0')
			return false;
		idx = (int) (u - date_units);
		/* the units follow each other: Y [M [D]], M [D], D */
		if (idx <= last || (last >= 0 && idx != last + 1))
			return false;
		last = idx;
		any = true;
		i++;
	}
	if (i < n && s[i] == 'T')
	{
		bool any_time = false;

		i++;
		last = -1;
		while (i < n)
		{
			size_t start = i;
			const char *u;
			int idx;

			while (i < n && is_digit(s[i]))
				i++;
			if (i == start || i >= n || (u = strchr(time_units, s[i])) == NULL || s[i] == '\0')
				return false;
			idx = (int) (u - time_units);
			if (idx <= last || (last >= 0 && idx != last + 1))
				return false;
			last = idx;
			any_time = true;
			i++;
		}
		if (!any_time)
			return false;
		any = true;
	}
	return any && i == n;
}

static bool
check_ipv4(const char *s, size_t n)
{
	size_t i = 0;

	for (int part = 0; part < 4; part++)
	{
		size_t start = i;
		int v = 0;

		if (part > 0)
		{
			if (i >= n || s[i] != '.')
				return false;
			start = ++i;
		}
		while (i < n && is_digit(s[i]) && i - start < 3)
			v = v * 10 + (s[i++] - '0');
		if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
			return false;
	}
	return i == n;
}

static bool
check_ipv6(const char *s, size_t n)
{
	int groups = 0;
	bool compressed = false;
	size_t i = 0;

	if (n < 2)
		return false;
	if (s[0] == ':')
	{
		if (s[1] != ':')
			return false;
		compressed = true;
		i = 2;
		if (i == n)
			return true;
	}
	while (i < n)
	{
		size_t start = i;

		while (i < n && is_hex(s[i]) && i - start < 5)
			i++;
		if (i < n && s[i] == '.')
		{
			/* embedded IPv4 in the last 32 bits */
			if (!check_ipv4(s + start, n - start))
				return false;
			groups += 2;
			i = n;
			break;
		}
		if (i == start || i - start > 4)
			return false;
		groups++;
		if (i == n)
			break;
		if (s[i] != ':')
			return false;
		i++;
		if (i < n && s[i] == ':')
		{
			if (compressed)
				return false;
			compressed = true;
			i++;
			if (i == n)
				break;
		}
		else if (i == n)
			return false;
	}
	return compressed ? groups <= 7 : groups == 8;
}

static bool
check_hostname(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || n > 253)
		return false;
	while (i < n)
	{
		size_t start = i;

		while (i < n && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '-'))
			i++;
		if (i == start || i - start > 63 || s[start] == '-' || s[i - 1] == '-')
			return false;
		/* "--" in the 3rd and 4th positions is reserved for A-labels (xn--) */
		if (i - start >= 4 && s[start + 2] == '-' && s[start + 3] == '-' &&
			!((s[start] == 'x' || s[start] == 'X') && (s[start + 1] == 'n' || s[start + 1] == 'N')))
			return false;
		if (i - start >= 4 && (s[start] == 'x' || s[start] == 'X') && s[start + 2] == '-' &&
			s[start + 3] == '-' && i - start == 5)
			return false; /* xn--X: too short to be Punycode of anything */
		if (i == n)
			break;
		if (s[i] != '.' || i + 1 == n)
			return false;
		i++;
	}
	return true;
}

static bool
is_atext(char c)
{
	return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static bool
check_email(const char *s, size_t n)
{
	size_t i = 0, at;

	if (n == 0)
		return false;
	if (s[0] == '"')
	{
		i = 1;
		while (i < n && s[i] != '"')
		{
			unsigned char c = (unsigned char) s[i];

			if (c == '\\')
			{
				if (i + 1 >= n || (unsigned char) s[i + 1] < 0x20 ||
					(unsigned char) s[i + 1] > 0x7e)
					return false;
				i += 2;
				continue;
			}
			if (c < 0x20 || c > 0x7e)
				return false;
			i++;
		}
		if (i >= n)
			return false;
		i++;
	}
	else
	{
		size_t start = 0;

		while (i < n && s[i] != '@')
		{
			if (s[i] == '.')
			{
				if (i == start)
					return false;
				start = i + 1;
			}
			else if (!is_atext(s[i]))
				return false;
			i++;
		}
		if (i == 0 || i == start)
			return false;
	}
	if (i >= n || s[i] != '@')
		return false;
	at = i + 1;
	if (at >= n)
		return false;
	if (s[at] == '[')
	{
		if (s[n - 1] != ']')
			return false;
		if (n - at - 2 > 5 && memcmp(s + at + 1, "IPv6:", 5) == 0)
			return check_ipv6(s + at + 6, n - at - 7);
		return check_ipv4(s + at + 1, n - at - 2);
	}
	return check_hostname(s + at, n - at);
}

static bool
is_unreserved(char c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool
is_subdelim(char c)
{
	return c && strchr("!$&'()*+,;=", c) != NULL;
}

/* characters of set (unreserved, sub-delims, pct-encoded and those in extra); advance */
static size_t
span_uri_chars(const char *s, size_t i, size_t n, const char *extra, bool *bad)
{
	while (i < n)
	{
		char c = s[i];

		if (c == '%')
		{
			if (i + 2 >= n || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
			{
				*bad = true;
				return i;
			}
			i += 3;
			continue;
		}
		if (is_unreserved(c) || is_subdelim(c) || (c && strchr(extra, c)))
			i++;
		else
			break;
	}
	return i;
}

static bool
check_authority(const char *s, size_t n)
{
	bool bad = false;
	const char *at = memchr(s, '@', n);
	size_t i = 0;

	if (at)
	{
		i = span_uri_chars(s, 0, n, ":", &bad);
		if (bad || s + i != at)
			return false;
		i++;
	}
	if (i < n && s[i] == '[')
	{
		const char *close = memchr(s + i, ']', n - i);
		size_t hl;

		if (close == NULL)
			return false;
		hl = (size_t) (close - (s + i)) - 1;
		if (hl > 0 && (s[i + 1] == 'v' || s[i + 1] == 'V'))
		{
			/* IPvFuture */
			size_t j = i + 2;

			while (j < i + 1 + hl && is_hex(s[j]))
				j++;
			if (j == i + 2 || s[j] != '.')
				return false;
			j = span_uri_chars(s, j + 1, i + 1 + hl, ":", &bad);
			if (bad || j != i + 1 + hl)
				return false;
		}
		else if (!check_ipv6(s + i + 1, hl))
			return false;
		i = (size_t) (close - s) + 1;
	}
	else
	{
		i = span_uri_chars(s, i, n, "", &bad);
		if (bad)
			return false;
	}
	if (i < n && s[i] == ':')
	{
		i++;
		while (i < n && is_digit(s[i]))
			i++;
	}
	return i == n;
}

/* RFC 3986: URI (absolute with scheme) or, when !need_scheme, URI-reference */
static bool
check_uri(const char *s, size_t n, bool need_scheme)
{
	size_t i = 0;
	bool bad = false;
	bool has_scheme = false;

	if (n > 0 && is_alpha(s[0]))
	{
		size_t j = 1;

		while (j < n &&
			   (is_alpha(s[j]) || is_digit(s[j]) || s[j] == '+' || s[j] == '-' || s[j] == '.'))
			j++;
		if (j < n && s[j] == ':')
		{
			has_scheme = true;
			i = j + 1;
		}
	}
	if (need_scheme && !has_scheme)
		return false;
	if (i + 1 < n && s[i] == '/' && s[i + 1] == '/')
	{
		size_t a = i + 2, e = a;

		while (e < n && s[e] != '/' && s[e] != '?' && s[e] != '#')
			e++;
		if (!check_authority(s + a, e - a))
			return false;
		i = e;
	}
	else if (!has_scheme)
	{
		/* path-noscheme: no ':' in the first segment */
		size_t e = i;

		while (e < n && s[e] != '/' && s[e] != '?' && s[e] != '#')
		{
			if (s[e] == ':')
				return false;
			e++;
		}
	}
	/* path */
	i = span_uri_chars(s, i, n, ":@/", &bad);
	if (bad)
		return false;
	if (i < n && s[i] == '?')
	{
		i = span_uri_chars(s, i + 1, n, ":@/?", &bad);
		if (bad)
			return false;
	}
	if (i < n && s[i] == '#')
	{
		i = span_uri_chars(s, i + 1, n, ":@/?", &bad);
		if (bad)
			return false;
	}
	return i == n;
}

static bool
check_uuid(const char *s, size_t n)
{
	if (n != 36)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
		}
		else if (!is_hex(s[i]))
			return false;
	}
	return true;
}

static bool
check_json_pointer(const char *s, size_t n)
{
	if (n > 0 && s[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '~' && (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1')))
			return false;
	}
	return true;
}

static bool
check_rel_json_pointer(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && is_digit(s[i]))
		i++;
	if (i == 0 || (i > 1 && s[0] == '0'))
		return false;
	if (i < n && s[i] == '#')
		return i + 1 == n;
	return check_json_pointer(s + i, n - i);
}

static bool
check_regex(const char *s, size_t n)
{
	char *err = NULL;
	js_regex *re = js_regex_compile(s, n, &err);

	free(err);
	js_regex_free(re);
	return re != NULL;
}

bool
js_format_check(int fmt, const char *s, size_t n)
{
	switch (fmt)
	{
		case JS_FMT_DATE_TIME:
			return check_date_time(s, n);
		case JS_FMT_DATE:
			return check_date(s, n);
		case JS_FMT_TIME:
			return check_time(s, n);
		case JS_FMT_DURATION:
			return check_duration(s, n);
		case JS_FMT_EMAIL:
			return check_email(s, n);
		case JS_FMT_HOSTNAME:
			return check_hostname(s, n);
		case JS_FMT_IPV4:
			return check_ipv4(s, n);
		case JS_FMT_IPV6:
			return check_ipv6(s, n);
		case JS_FMT_URI:
			return check_uri(s, n, true);
		case JS_FMT_URI_REFERENCE:
			return check_uri(s, n, false);
		case JS_FMT_UUID:
			return check_uuid(s, n);
		case JS_FMT_JSON_POINTER:
			return check_json_pointer(s, n);
		case JS_FMT_REL_JSON_POINTER:
			return check_rel_json_pointer(s, n);
		case JS_FMT_REGEX:
			return check_regex(s, n);
		default:
			return true;
	}
}
