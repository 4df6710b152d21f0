/*
 * utf8.c - strict UTF-8 decoding (no overlongs, no surrogates, nothing above U+10FFFF), and
 * the hexadecimal digits of escapes (percent-encoding, regex \x and \u).
 */
#include "js_internal.h"

int32_t
js_utf8_next(const char *str, size_t n, size_t *pos)
{
	const unsigned char *s = (const unsigned char *) str;
	size_t i = *pos;
	uint32_t c = s[i];
	int len;
	uint32_t min;

	if (c < 0x80)
	{
		*pos = i + 1;
		return (int32_t) c;
	}
	if (c >= 0xc2 && c <= 0xdf)
	{
		len = 2;
		c &= 0x1f;
		min = 0x80;
	}
	else if (c >= 0xe0 && c <= 0xef)
	{
		len = 3;
		c &= 0x0f;
		min = 0x800;
	}
	else if (c >= 0xf0 && c <= 0xf4)
	{
		len = 4;
		c &= 0x07;
		min = 0x10000;
	}
	else
		return -1;
	if (n - i < (size_t) len)
		return -1;
	for (int k = 1; k < len; k++)
	{
		if ((s[i + k] & 0xc0) != 0x80)
			return -1;
		c = (c << 6) | (s[i + k] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return -1;
	*pos = i + (size_t) len;
	return (int32_t) c;
}

int32_t
js_utf8_prev(const char *str, size_t pos)
{
	const unsigned char *s = (const unsigned char *) str;
	size_t start = pos - 1;
	size_t p;
	int back = 0;

	while (start > 0 && (s[start] & 0xc0) == 0x80 && back < 3)
	{
		start--;
		back++;
	}
	p = start;
	{
		int32_t c = js_utf8_next(str, pos, &p);

		if (c < 0 || p != pos)
			return -1;
		return c;
	}
}

bool
js_utf8_valid(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n)
	{
		/* fast path over ASCII */
		if ((unsigned char) s[i] < 0x80)
		{
			i++;
			continue;
		}
		if (js_utf8_next(s, n, &i) < 0)
			return false;
	}
	return true;
}

size_t
js_utf8_count(const char *s, size_t n)
{
	size_t count = 0;

	/* strings from js_parse are valid UTF-8: count the bytes that do not continue a sequence */
	for (size_t i = 0; i < n; i++)
		count += ((unsigned char) s[i] & 0xc0) != 0x80;
	return count;
}

int
js_hex_digit(int32_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
