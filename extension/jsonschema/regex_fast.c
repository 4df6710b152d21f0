/*
 * regex_fast.c - a matcher without backtracking for the patterns message schemas use: an
 * anchored run of ASCII character classes and literals with repeat bounds, such as
 * ^[A-Z0-9][A-Z0-9/._-]{2,39}$ or ^RMV-[0-9]{4}-[0-9]{6}$.
 *
 * Such a pattern compiles to a list of atoms (a 128-bit ASCII bitmap, a minimum and a maximum
 * count). Matching takes each atom greedily, one bitmap test per byte. Greedy is the only
 * possible choice, hence exact, when no atom with a variable count can give a byte away: its
 * class shares no character with the class of any atom that could take that byte next (every
 * following atom up to and including the first with a minimum above zero). Patterns that do
 * not meet that condition, or use anything else (groups, alternation, '.', negated classes,
 * Unicode escapes, flags of the general engine such as \s), return NULL from
 * js_regex_fast_compile: regex.c then keeps its general backtracking engine for them.
 *
 * Every class here holds ASCII only, so a byte of 0x80 or above never matches: the same answer
 * the general engine gives, since a non-ASCII code point is in none of these classes.
 * test/unit/jsonschema/unit_tests.c compares both engines on generated patterns and strings.
 */
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"

#define FAST_MAX_ATOMS 64

typedef struct fast_atom
{
	uint64_t bits[2]; /* the ASCII characters the atom matches */
	long min, max;    /* max < 0: unbounded */
} fast_atom;

struct js_regex_fast
{
	fast_atom atoms[FAST_MAX_ATOMS];
	int n_atoms;
};

static void
bit_set(fast_atom *a, unsigned c)
{
	a->bits[c >> 6] |= (uint64_t) 1 << (c & 63);
}

static void
bit_range(fast_atom *a, unsigned lo, unsigned hi)
{
	for (unsigned c = lo; c <= hi; c++)
		bit_set(a, c);
}

static bool
bit_test(const fast_atom *a, unsigned char c)
{
	return c < 128 && ((a->bits[c >> 6] >> (c & 63)) & 1);
}

/* characters that are syntax outside a class (ECMA-262 SyntaxCharacter, plus '/' is fine) */
static bool
is_syntax(char c)
{
	return strchr("^$\\.*+?()[]{}|", c) != NULL;
}

/*
 * An escape at p[*i] (after the backslash) that denotes a set of ASCII characters: \d, \w, or
 * an escaped syntax character or '-' or '/'. Anything else (\s, \b, \D, \u..., \1) is refused.
 */
static bool
escape_set(const char *p, size_t n, size_t *i, fast_atom *a)
{
	char c;

	if (*i >= n)
		return false;
	c = p[(*i)++];
	if (c == 'd')
		bit_range(a, '0', '9');
	else if (c == 'w')
	{
		bit_range(a, '0', '9');
		bit_range(a, 'A', 'Z');
		bit_range(a, 'a', 'z');
		bit_set(a, '_');
	}
	else if (is_syntax(c) || c == '-' || c == '/')
		bit_set(a, (unsigned char) c);
	else
		return false;
	return true;
}

/* one class member that is a single character: *out, or false when it is not one */
static bool
class_char(const char *p, size_t n, size_t *i, unsigned *out)
{
	char c;

	if (*i >= n)
		return false;
	c = p[*i];
	if (c == '\\')
	{
		if (*i + 1 >= n)
			return false;
		c = p[*i + 1];
		if (!(is_syntax(c) || c == '-' || c == '/'))
			return false;
		*i += 2;
		*out = (unsigned char) c;
		return true;
	}
	if ((unsigned char) c < 0x20 || (unsigned char) c >= 0x7f || c == ']')
		return false;
	(*i)++;
	*out = (unsigned char) c;
	return true;
}

/* a class [...] at p[*i] (after '['): non-negated, ASCII members and ranges, \d and \w */
static bool
parse_class(const char *p, size_t n, size_t *i, fast_atom *a)
{
	bool any = false;

	if (*i < n && p[*i] == '^')
		return false;
	while (*i < n && p[*i] != ']')
	{
		unsigned lo, hi;

		if (p[*i] == '\\' && *i + 1 < n && (p[*i + 1] == 'd' || p[*i + 1] == 'w'))
		{
			(*i)++;
			if (!escape_set(p, n, i, a))
				return false;
			/* a class escape cannot start a range */
			if (*i < n && p[*i] == '-' && *i + 1 < n && p[*i + 1] != ']')
				return false;
			any = true;
			continue;
		}
		if (!class_char(p, n, i, &lo))
			return false;
		if (*i + 1 < n && p[*i] == '-' && p[*i + 1] != ']')
		{
			(*i)++;
			if (!class_char(p, n, i, &hi) || hi < lo)
				return false;
			bit_range(a, lo, hi);
		}
		else
			bit_set(a, lo);
		any = true;
	}
	if (*i >= n || !any)
		return false;
	(*i)++; /* ']' */
	return true;
}

static bool
parse_count(const char *p, size_t n, size_t *i, long *out)
{
	long v = 0;
	size_t start = *i;

	while (*i < n && p[*i] >= '0' && p[*i] <= '9')
	{
		if (v > 100000)
			return false;
		v = v * 10 + (p[*i] - '0');
		(*i)++;
	}
	*out = v;
	return *i > start;
}

/* an optional quantifier after an atom; lazy quantifiers are refused */
static bool
parse_quantifier(const char *p, size_t n, size_t *i, fast_atom *a)
{
	a->min = a->max = 1;
	if (*i >= n)
		return true;
	switch (p[*i])
	{
		case '?':
			a->min = 0;
			(*i)++;
			break;
		case '*':
			a->min = 0;
			a->max = -1;
			(*i)++;
			break;
		case '+':
			a->max = -1;
			(*i)++;
			break;
		case '{':
			(*i)++;
			if (!parse_count(p, n, i, &a->min))
				return false;
			if (*i < n && p[*i] == ',')
			{
				(*i)++;
				if (*i < n && p[*i] == '}')
					a->max = -1;
				else if (!parse_count(p, n, i, &a->max) || a->max < a->min)
					return false;
			}
			else
				a->max = a->min;
			if (*i >= n || p[*i] != '}')
				return false;
			(*i)++;
			break;
		default:
			return true;
	}
	return !(*i < n && p[*i] == '?');
}

static bool
disjoint(const fast_atom *a, const fast_atom *b)
{
	return (a->bits[0] & b->bits[0]) == 0 && (a->bits[1] & b->bits[1]) == 0;
}

/* the greedy condition of the header comment */
static bool
greedy_is_exact(const js_regex_fast *f)
{
	for (int i = 0; i < f->n_atoms; i++)
	{
		const fast_atom *a = &f->atoms[i];

		if (a->min == a->max)
			continue;
		for (int j = i + 1; j < f->n_atoms; j++)
		{
			if (!disjoint(a, &f->atoms[j]))
				return false;
			if (f->atoms[j].min > 0)
				break;
		}
	}
	return true;
}

js_regex_fast *
js_regex_fast_compile(const char *p, size_t n)
{
	js_regex_fast *f;
	size_t i = 1;

	if (n < 2 || p[0] != '^' || p[n - 1] != '$' || (n >= 3 && p[n - 2] == '\\'))
		return NULL;
	n--; /* drop the '$' */
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	while (i < n)
	{
		fast_atom *a;
		char c = p[i];

		if (f->n_atoms == FAST_MAX_ATOMS)
			goto refuse;
		a = &f->atoms[f->n_atoms++];
		if (c == '[')
		{
			i++;
			if (!parse_class(p, n, &i, a))
				goto refuse;
		}
		else if (c == '\\')
		{
			i++;
			if (!escape_set(p, n, &i, a))
				goto refuse;
		}
		else if (is_syntax(c) || (unsigned char) c < 0x20 || (unsigned char) c >= 0x7f)
			goto refuse;
		else
		{
			bit_set(a, (unsigned char) c);
			i++;
		}
		if (!parse_quantifier(p, n, &i, a))
			goto refuse;
	}
	if (!greedy_is_exact(f))
		goto refuse;
	return f;
refuse:
	free(f);
	return NULL;
}

int
js_regex_fast_match(const js_regex_fast *f, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *) s;
	size_t pos = 0;

	for (int i = 0; i < f->n_atoms; i++)
	{
		const fast_atom *a = &f->atoms[i];
		size_t limit = a->max < 0 || (size_t) a->max > len - pos ? len : pos + (size_t) a->max;
		size_t start = pos;

		while (pos < limit && bit_test(a, u[pos]))
			pos++;
		if (pos - start < (size_t) a->min)
			return 0;
	}
	return pos == len;
}

void
js_regex_fast_free(js_regex_fast *f)
{
	free(f);
}
