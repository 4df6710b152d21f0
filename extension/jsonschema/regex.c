/*
 * regex.c - a small backtracking regular expression engine for ECMA-262 patterns as JSON
 * Schema uses them ("pattern", "patternProperties", format "regex").
 *
 * Supported: alternation, groups (capturing, (?:), named), lookahead (?= (?!, greedy and lazy
 * quantifiers * + ? {n} {n,} {n,m}, classes with ranges and negation, . ^ $ \b \B, \d \D \w \W
 * \s \S, backreferences \1..\9, \t \n \v \f \r \0 \cX \xHH \uHHHH \u{H..}, and \p{..} / \P{..}
 * for the general categories L, Lu, Ll, N, Nd (approximate tables, see unicode_ranges()).
 * Matching works on code points of UTF-8 text, like a /u regex. Lookbehind is refused.
 *
 * The pattern compiles to a program for a backtracking machine with an explicit stack, so
 * matching never recurses except into lookahead bodies, and every search has a step budget:
 * an exhausted budget is reported (-1), never a hang.
 */
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"

#define MAX_PROG      20000
#define MAX_NEST      64
#define STEP_BUDGET   2000000L
#define MAX_STACK     (1L << 20)
#define MAX_CODEPOINT 0x10ffff

enum op
{
	OP_CHAR,
	OP_ANY,
	OP_CLASS,
	OP_SPLIT, /* try x first, then y */
	OP_JMP,
	OP_SAVE,
	OP_CHECK, /* fail when slot x == position (empty loop iteration) */
	OP_BOL,
	OP_EOL,
	OP_WORDB,
	OP_NWORDB,
	OP_BACKREF,
	OP_LOOK, /* x: 0 positive, 1 negative; y: pc after the matching OP_LOOKEND */
	OP_LOOKEND,
	OP_MATCH
};

typedef struct inst
{
	unsigned char op;
	int x, y;
} inst;

typedef struct cls
{
	uint32_t (*r)[2]; /* sorted, disjoint ranges */
	int n;
	bool neg;
} cls;

struct js_regex
{
	inst *prog;
	int n_prog;
	cls *classes;
	int n_classes;
	int n_slots;
	int n_groups;
	bool anchored;
	js_regex_fast *fast; /* non-NULL: regex_fast.c answers instead of the machine below */
};

/* ---- code point sets ---- */

typedef struct rset
{
	uint32_t (*r)[2];
	int n, cap;
	bool oom;
} rset;

static void
rset_add(rset *s, uint32_t lo, uint32_t hi)
{
	if (s->n == s->cap)
	{
		int ncap = s->cap ? s->cap * 2 : 8;
		void *np = realloc(s->r, (size_t) ncap * sizeof(*s->r));

		if (np == NULL)
		{
			s->oom = true;
			return;
		}
		s->r = np;
		s->cap = ncap;
	}
	s->r[s->n][0] = lo;
	s->r[s->n][1] = hi;
	s->n++;
}

static int
range_cmp(const void *a, const void *b)
{
	const uint32_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : (x[0] > y[0] ? 1 : 0);
}

static void
rset_normalize(rset *s)
{
	int o = 0;

	if (s->n == 0)
		return;
	qsort(s->r, (size_t) s->n, sizeof(*s->r), range_cmp);
	for (int i = 1; i < s->n; i++)
	{
		if (s->r[i][0] <= s->r[o][1] + 1)
		{
			if (s->r[i][1] > s->r[o][1])
				s->r[o][1] = s->r[i][1];
		}
		else
		{
			o++;
			s->r[o][0] = s->r[i][0];
			s->r[o][1] = s->r[i][1];
		}
	}
	s->n = o + 1;
}

/* add the complement of the given sorted ranges */
static void
rset_add_complement(rset *s, const uint32_t (*r)[2], int n)
{
	uint32_t next = 0;

	for (int i = 0; i < n; i++)
	{
		if (r[i][0] > next)
			rset_add(s, next, r[i][0] - 1);
		next = r[i][1] + 1;
	}
	if (next <= MAX_CODEPOINT)
		rset_add(s, next, MAX_CODEPOINT);
}

static const uint32_t R_DIGIT[][2] = {{'0', '9'}};
static const uint32_t R_WORD[][2] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
static const uint32_t R_SPACE[][2] = {
	{0x09, 0x0d},     {0x20, 0x20},     {0xa0, 0xa0},     {0x1680, 0x1680}, {0x2000, 0x200a},
	{0x2028, 0x2029}, {0x202f, 0x202f}, {0x205f, 0x205f}, {0x3000, 0x3000}, {0xfeff, 0xfeff}};
/* approximate general categories: the common scripts, not the full Unicode tables */
static const uint32_t R_LU[][2] = {{'A', 'Z'},     {0xc0, 0xd6},     {0xd8, 0xde},
								   {0x391, 0x3a1}, {0x3a3, 0x3ab},   {0x400, 0x42f},
								   {0x531, 0x556}, {0x10a0, 0x10c5}, {0xff21, 0xff3a}};
static const uint32_t R_LL[][2] = {{'a', 'z'},     {0xb5, 0xb5},    {0xdf, 0xf6},
								   {0xf8, 0xff},   {0x3ac, 0x3ce},  {0x430, 0x45f},
								   {0x561, 0x587}, {0xff41, 0xff5a}};
static const uint32_t R_L[][2] = {
	{'A', 'Z'},        {'a', 'z'},       {0xaa, 0xaa},     {0xb5, 0xb5},     {0xba, 0xba},
	{0xc0, 0xd6},      {0xd8, 0xf6},     {0xf8, 0x2c1},    {0x2c6, 0x2d1},   {0x370, 0x374},
	{0x376, 0x377},    {0x37b, 0x37d},   {0x386, 0x386},   {0x388, 0x3ff},   {0x400, 0x481},
	{0x48a, 0x52f},    {0x531, 0x556},   {0x561, 0x587},   {0x5d0, 0x5ea},   {0x620, 0x64a},
	{0x671, 0x6d3},    {0x904, 0x939},   {0xe01, 0xe30},   {0x10a0, 0x10ff}, {0x1100, 0x1248},
	{0x1e00, 0x1fbc},  {0x2c00, 0x2ce4}, {0x3041, 0x3096}, {0x30a1, 0x30fa}, {0x3400, 0x4dbf},
	{0x4e00, 0x9fff},  {0xac00, 0xd7a3}, {0xf900, 0xfaff}, {0xff21, 0xff3a}, {0xff41, 0xff5a},
	{0x20000, 0x2fa1d}};
static const uint32_t R_ND[][2] = {{'0', '9'},        {0x660, 0x669}, {0x6f0, 0x6f9},
								   {0x966, 0x96f},    {0xe50, 0xe59}, {0xff10, 0xff19},
								   {0x1d7ce, 0x1d7ff}};
static const uint32_t R_N[][2] = {{'0', '9'},       {0xb2, 0xb3},     {0xb9, 0xb9},
								  {0xbc, 0xbe},     {0x660, 0x669},   {0x6f0, 0x6f9},
								  {0x966, 0x96f},   {0xe50, 0xe59},   {0x2150, 0x2189},
								  {0x2460, 0x249b}, {0xff10, 0xff19}, {0x1d7ce, 0x1d7ff}};

#define NR(a) ((int) (sizeof(a) / sizeof((a)[0])))

static bool
unicode_ranges(const char *name, size_t n, const uint32_t (**r)[2], int *nr)
{
	static const struct
	{
		const char *name;
		const uint32_t (*r)[2];
		int n;
	} props[] = {
		{"L", R_L, NR(R_L)},
		{"Letter", R_L, NR(R_L)},
		{"Lu", R_LU, NR(R_LU)},
		{"Uppercase_Letter", R_LU, NR(R_LU)},
		{"Ll", R_LL, NR(R_LL)},
		{"Lowercase_Letter", R_LL, NR(R_LL)},
		{"N", R_N, NR(R_N)},
		{"Number", R_N, NR(R_N)},
		{"Nd", R_ND, NR(R_ND)},
		{"digit", R_ND, NR(R_ND)},
		{"Decimal_Number", R_ND, NR(R_ND)},
		{"General_Category=Letter", R_L, NR(R_L)},
		{"gc=L", R_L, NR(R_L)},
	};

	for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
	{
		if (strlen(props[i].name) == n && memcmp(props[i].name, name, n) == 0)
		{
			*r = props[i].r;
			*nr = props[i].n;
			return true;
		}
	}
	return false;
}

/* ---- parser / code generator ---- */

typedef struct parser
{
	const char *p;
	size_t n, pos;
	inst *prog;
	int n_prog, cap_prog;
	cls *classes;
	int n_classes, cap_classes;
	int n_groups; /* capture groups seen so far (group 0 is the whole match) */
	int total_groups;
	int n_loops; /* loop slots */
	int nest;
	char *err;
} parser;

static void
set_err(parser *ps, const char *msg)
{
	if (ps->err == NULL)
		ps->err = js_asprintf("%s at offset %zu", msg, ps->pos);
}

static int
emit(parser *ps, int op, int x, int y)
{
	if (ps->err)
		return -1;
	if (ps->n_prog >= MAX_PROG)
	{
		set_err(ps, "pattern too complex");
		return -1;
	}
	if (ps->n_prog == ps->cap_prog)
	{
		int ncap = ps->cap_prog ? ps->cap_prog * 2 : 32;
		inst *np = realloc(ps->prog, (size_t) ncap * sizeof(inst));

		if (np == NULL)
		{
			set_err(ps, "out of memory");
			return -1;
		}
		ps->prog = np;
		ps->cap_prog = ncap;
	}
	ps->prog[ps->n_prog].op = (unsigned char) op;
	ps->prog[ps->n_prog].x = x;
	ps->prog[ps->n_prog].y = y;
	return ps->n_prog++;
}

static int
add_class(parser *ps, rset *s, bool neg)
{
	if (ps->err || s->oom)
	{
		set_err(ps, "out of memory");
		free(s->r);
		return -1;
	}
	rset_normalize(s);
	if (ps->n_classes == ps->cap_classes)
	{
		int ncap = ps->cap_classes ? ps->cap_classes * 2 : 8;
		cls *nc = realloc(ps->classes, (size_t) ncap * sizeof(cls));

		if (nc == NULL)
		{
			set_err(ps, "out of memory");
			free(s->r);
			return -1;
		}
		ps->classes = nc;
		ps->cap_classes = ncap;
	}
	ps->classes[ps->n_classes].r = s->r;
	ps->classes[ps->n_classes].n = s->n;
	ps->classes[ps->n_classes].neg = neg;
	return ps->n_classes++;
}

static bool
at_end(parser *ps)
{
	return ps->pos >= ps->n || ps->err;
}

static int32_t
peek(parser *ps)
{
	size_t p = ps->pos;

	if (ps->pos >= ps->n)
		return -1;
	return js_utf8_next(ps->p, ps->n, &p);
}

static int32_t
next_cp(parser *ps)
{
	int32_t c;

	if (ps->pos >= ps->n)
	{
		set_err(ps, "unexpected end of pattern");
		return -1;
	}
	c = js_utf8_next(ps->p, ps->n, &ps->pos);
	if (c < 0)
		set_err(ps, "invalid UTF-8 in pattern");
	return c;
}

static int32_t
parse_hex(parser *ps, int digits)
{
	int32_t v = 0;

	for (int i = 0; i < digits; i++)
	{
		int h = js_hex_digit(peek(ps));

		if (h < 0)
		{
			set_err(ps, "invalid escape");
			return -1;
		}
		next_cp(ps);
		v = v * 16 + h;
	}
	return v;
}

/*
 * Parse the escape after a backslash. Returns a code point, or -2 after filling *set with a
 * class escape (\d, \p{..}, ...), or -1 on error. in_class: \b is backspace.
 */
static int32_t
parse_escape(parser *ps, rset *set, bool in_class)
{
	int32_t c = next_cp(ps);
	const uint32_t(*r)[2] = NULL;
	int nr = 0;
	bool neg = false;

	switch (c)
	{
		case 'd':
		case 'D':
			r = R_DIGIT;
			nr = NR(R_DIGIT);
			neg = c == 'D';
			break;
		case 'w':
		case 'W':
			r = R_WORD;
			nr = NR(R_WORD);
			neg = c == 'W';
			break;
		case 's':
		case 'S':
			r = R_SPACE;
			nr = NR(R_SPACE);
			neg = c == 'S';
			break;
		case 'p':
		case 'P':
		{
			size_t start;

			neg = c == 'P';
			if (next_cp(ps) != '{')
			{
				set_err(ps, "invalid property escape");
				return -1;
			}
			start = ps->pos;
			while (!at_end(ps) && ps->p[ps->pos] != '}')
				ps->pos++;
			if (at_end(ps) || !unicode_ranges(ps->p + start, ps->pos - start, &r, &nr))
			{
				set_err(ps, "unsupported unicode property");
				return -1;
			}
			ps->pos++;
			break;
		}
		case 't':
			return '\t';
		case 'n':
			return '\n';
		case 'v':
			return '\v';
		case 'f':
			return '\f';
		case 'r':
			return '\r';
		case 'b':
			if (in_class)
				return '\b';
			set_err(ps, "misplaced \\b");
			return -1;
		case '0':
			if (peek(ps) >= '0' && peek(ps) <= '9')
			{
				set_err(ps, "invalid octal escape");
				return -1;
			}
			return 0;
		case 'c':
		{
			int32_t l = next_cp(ps);

			if (!((l >= 'a' && l <= 'z') || (l >= 'A' && l <= 'Z')))
			{
				set_err(ps, "invalid control escape");
				return -1;
			}
			return l % 32;
		}
		case 'x':
			return parse_hex(ps, 2);
		case 'u':
			if (peek(ps) == '{')
			{
				int32_t v = 0;
				int nd = 0;

				next_cp(ps);
				while (!at_end(ps) && peek(ps) != '}')
				{
					int h = js_hex_digit(next_cp(ps));

					if (h < 0 || ++nd > 6)
					{
						set_err(ps, "invalid unicode escape");
						return -1;
					}
					v = v * 16 + h;
				}
				if (next_cp(ps) != '}' || nd == 0 || v > MAX_CODEPOINT)
				{
					set_err(ps, "invalid unicode escape");
					return -1;
				}
				return v;
			}
			else
			{
				int32_t v = parse_hex(ps, 4);

				/* a surrogate pair written as two escapes */
				if (v >= 0xd800 && v <= 0xdbff && ps->pos + 6 <= ps->n && ps->p[ps->pos] == '\\' &&
					ps->p[ps->pos + 1] == 'u')
				{
					size_t save = ps->pos;
					int32_t lo;

					ps->pos += 2;
					lo = parse_hex(ps, 4);
					if (lo >= 0xdc00 && lo <= 0xdfff)
						return 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
					ps->pos = save;
				}
				return v;
			}
		default:
			if (c < 0)
				return -1;
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '1' && c <= '9'))
			{
				set_err(ps, "invalid escape");
				return -1;
			}
			return c; /* identity escape of punctuation */
	}
	if (neg)
		rset_add_complement(set, r, nr);
	else
	{
		for (int i = 0; i < nr; i++)
			rset_add(set, r[i][0], r[i][1]);
	}
	return -2;
}

static void
parse_class(parser *ps)
{
	rset s = {0};
	bool neg = false;

	if (peek(ps) == '^')
	{
		next_cp(ps);
		neg = true;
	}
	while (!ps->err)
	{
		int32_t lo, hi;
		rset one = {0};

		if (at_end(ps))
		{
			set_err(ps, "unterminated character class");
			break;
		}
		lo = next_cp(ps);
		if (lo == ']')
			break;
		if (lo == '\\')
		{
			lo = parse_escape(ps, &s, true);
			if (lo == -2)
				continue; /* a class escape cannot start a range */
		}
		if (lo < 0)
			break;
		hi = lo;
		if (peek(ps) == '-' && ps->pos + 1 < ps->n && ps->p[ps->pos + 1] != ']')
		{
			next_cp(ps);
			hi = next_cp(ps);
			if (hi == '\\')
			{
				hi = parse_escape(ps, &one, true);
				free(one.r);
				if (hi == -2)
				{
					set_err(ps, "invalid character class range");
					break;
				}
			}
			if (hi < 0)
				break;
			if (hi < lo)
			{
				set_err(ps, "character class range out of order");
				break;
			}
		}
		rset_add(&s, (uint32_t) lo, (uint32_t) hi);
	}
	if (ps->err)
	{
		free(s.r);
		return;
	}
	{
		int ci = add_class(ps, &s, neg);

		if (ci >= 0)
			emit(ps, OP_CLASS, ci, 0);
	}
}

static void parse_disjunction(parser *ps);

static bool
parse_int(parser *ps, long *out)
{
	long v = 0;
	bool any = false;

	while (ps->pos < ps->n && ps->p[ps->pos] >= '0' && ps->p[ps->pos] <= '9')
	{
		v = v * 10 + (ps->p[ps->pos] - '0');
		if (v > 100000)
			v = 100000;
		ps->pos++;
		any = true;
	}
	*out = v;
	return any;
}

/* a quantifier follows at ps->pos? parse it ({ that is not a quantifier is a literal) */
static bool
parse_quantifier(parser *ps, long *min, long *max, bool *lazy)
{
	size_t save = ps->pos;
	int32_t c = peek(ps);

	if (c == '*' || c == '+' || c == '?')
	{
		next_cp(ps);
		*min = c == '+' ? 1 : 0;
		*max = c == '?' ? 1 : -1;
	}
	else if (c == '{')
	{
		next_cp(ps);
		if (!parse_int(ps, min))
		{
			ps->pos = save;
			return false;
		}
		*max = *min;
		if (peek(ps) == ',')
		{
			next_cp(ps);
			if (!parse_int(ps, max))
				*max = -1;
		}
		if (peek(ps) != '}')
		{
			ps->pos = save;
			return false;
		}
		next_cp(ps);
		if (*max >= 0 && *max < *min)
		{
			set_err(ps, "numbers out of order in quantifier");
			return false;
		}
	}
	else
		return false;
	*lazy = false;
	if (peek(ps) == '?')
	{
		next_cp(ps);
		*lazy = true;
	}
	return true;
}

static void
apply_quantifier(parser *ps, int start, long min, long max, bool lazy)
{
	int end = ps->n_prog;
	int len = end - start;
	inst *atom;
	bool simple;

	if (ps->err)
		return;
	if ((long) len * (min + (max < 0 ? 1 : max - min) + 1) > MAX_PROG)
	{
		set_err(ps, "pattern too complex");
		return;
	}
	/* move the atom aside, then re-emit it as needed */
	atom = malloc((size_t) len * sizeof(inst));
	if (atom == NULL)
	{
		set_err(ps, "out of memory");
		return;
	}
	memcpy(atom, ps->prog + start, (size_t) len * sizeof(inst));
	simple = len == 1 && (atom[0].op == OP_CHAR || atom[0].op == OP_ANY || atom[0].op == OP_CLASS);
	ps->n_prog = start;
	/* the atom's jump targets are relative to start; copy_code needs them in place */
#define EMIT_ATOM()                                                                                \
	do                                                                                             \
	{                                                                                              \
		int base_ = ps->n_prog;                                                                    \
		for (int k_ = 0; k_ < len && !ps->err; k_++)                                               \
		{                                                                                          \
			inst in_ = atom[k_];                                                                   \
			int sh_ = base_ - start;                                                               \
			if (in_.op == OP_SPLIT)                                                                \
				emit(ps, OP_SPLIT, in_.x + sh_, in_.y + sh_);                                      \
			else if (in_.op == OP_JMP)                                                             \
				emit(ps, OP_JMP, in_.x + sh_, 0);                                                  \
			else if (in_.op == OP_LOOK)                                                            \
				emit(ps, OP_LOOK, in_.x, in_.y + sh_);                                             \
			else                                                                                   \
				emit(ps, in_.op, in_.x, in_.y);                                                    \
		}                                                                                          \
	} while (0)
	for (long i = 0; i < min && !ps->err; i++)
		EMIT_ATOM();
	if (max < 0)
	{
		int loop = ps->n_prog;
		int split = emit(ps, OP_SPLIT, 0, 0);
		int slot = -1;

		if (!simple)
		{
			slot = ps->n_loops++;
			emit(ps, OP_SAVE, -1 - slot, 0); /* negative: loop slot, fixed up at the end */
		}
		EMIT_ATOM();
		if (!simple)
			emit(ps, OP_CHECK, -1 - slot, 0);
		emit(ps, OP_JMP, loop, 0);
		if (!ps->err)
		{
			ps->prog[split].x = lazy ? ps->n_prog : split + 1;
			ps->prog[split].y = lazy ? split + 1 : ps->n_prog;
		}
	}
	else if (max > min)
	{
		int n_opt = (int) (max - min);
		int *splits = malloc((size_t) n_opt * sizeof(int));

		if (splits == NULL)
			set_err(ps, "out of memory");
		for (int i = 0; i < n_opt && !ps->err; i++)
		{
			splits[i] = emit(ps, OP_SPLIT, 0, 0);
			EMIT_ATOM();
		}
		if (!ps->err)
		{
			for (int i = 0; i < n_opt; i++)
			{
				ps->prog[splits[i]].x = lazy ? ps->n_prog : splits[i] + 1;
				ps->prog[splits[i]].y = lazy ? splits[i] + 1 : ps->n_prog;
			}
		}
		free(splits);
	}
#undef EMIT_ATOM
	free(atom);
}

static void
parse_term(parser *ps)
{
	int start = ps->n_prog;
	int32_t c = next_cp(ps);
	bool quantifiable = true;
	long min, max;
	bool lazy;

	if (c < 0)
		return;
	switch (c)
	{
		case '^':
			emit(ps, OP_BOL, 0, 0);
			quantifiable = false;
			break;
		case '$':
			emit(ps, OP_EOL, 0, 0);
			quantifiable = false;
			break;
		case '.':
			emit(ps, OP_ANY, 0, 0);
			break;
		case '[':
			parse_class(ps);
			break;
		case '(':
			if (++ps->nest > MAX_NEST)
			{
				set_err(ps, "groups nested too deeply");
				return;
			}
			if (peek(ps) == '?')
			{
				int32_t k;

				next_cp(ps);
				k = next_cp(ps);
				if (k == ':')
					parse_disjunction(ps);
				else if (k == '=' || k == '!')
				{
					int look = emit(ps, OP_LOOK, k == '!', 0);

					parse_disjunction(ps);
					emit(ps, OP_LOOKEND, 0, 0);
					if (!ps->err)
						ps->prog[look].y = ps->n_prog;
					quantifiable = false;
				}
				else if (k == '<' && peek(ps) != '=' && peek(ps) != '!')
				{
					int g = ++ps->n_groups;

					while (!at_end(ps) && peek(ps) != '>')
						next_cp(ps);
					if (next_cp(ps) != '>')
						return;
					emit(ps, OP_SAVE, 2 * g, 0);
					parse_disjunction(ps);
					emit(ps, OP_SAVE, 2 * g + 1, 0);
				}
				else
				{
					set_err(ps, "unsupported group (lookbehind or flags)");
					return;
				}
			}
			else
			{
				int g = ++ps->n_groups;

				emit(ps, OP_SAVE, 2 * g, 0);
				parse_disjunction(ps);
				emit(ps, OP_SAVE, 2 * g + 1, 0);
			}
			if (next_cp(ps) != ')')
			{
				set_err(ps, "missing )");
				return;
			}
			ps->nest--;
			break;
		case ')':
			set_err(ps, "unmatched )");
			return;
		case '*':
		case '+':
		case '?':
			set_err(ps, "nothing to repeat");
			return;
		case '{':
		{
			size_t save = ps->pos;

			ps->pos--;
			if (parse_quantifier(ps, &min, &max, &lazy))
			{
				set_err(ps, "nothing to repeat");
				return;
			}
			ps->pos = save;
			emit(ps, OP_CHAR, '{', 0);
			break;
		}
		case '\\':
		{
			int32_t e = peek(ps);

			if (e == 'b' || e == 'B')
			{
				next_cp(ps);
				emit(ps, e == 'b' ? OP_WORDB : OP_NWORDB, 0, 0);
				quantifiable = false;
				break;
			}
			if (e >= '1' && e <= '9')
			{
				long g;

				parse_int(ps, &g);
				if (g > ps->total_groups)
				{
					set_err(ps, "invalid backreference");
					return;
				}
				emit(ps, OP_BACKREF, (int) g, 0);
				break;
			}
			if (e == 'k')
			{
				set_err(ps, "named backreferences are not supported");
				return;
			}
			{
				rset s = {0};
				int32_t v = parse_escape(ps, &s, false);

				if (v == -2)
				{
					int ci = add_class(ps, &s, false);

					if (ci >= 0)
						emit(ps, OP_CLASS, ci, 0);
				}
				else
				{
					free(s.r);
					if (v >= 0)
						emit(ps, OP_CHAR, v, 0);
				}
			}
			break;
		}
		default:
			emit(ps, OP_CHAR, c, 0);
			break;
	}
	if (ps->err)
		return;
	if (parse_quantifier(ps, &min, &max, &lazy))
	{
		if (!quantifiable)
		{
			/* ECMA allows quantified lookaheads in Annex B; treat x{0,..} as optional */
			if (min == 0)
				ps->n_prog = start;
			return;
		}
		apply_quantifier(ps, start, min, max, lazy);
	}
}

static void
parse_alternative(parser *ps)
{
	while (!at_end(ps) && ps->p[ps->pos] != '|' && ps->p[ps->pos] != ')')
		parse_term(ps);
}

static void
parse_disjunction(parser *ps)
{
	int start = ps->n_prog;
	int jumps[256];
	int n_jumps = 0;

	parse_alternative(ps);
	while (!ps->err && ps->pos < ps->n && ps->p[ps->pos] == '|')
	{
		int split, jmp;
		int first_len = ps->n_prog - start;
		inst *first;

		ps->pos++;
		/* insert a SPLIT before what we have: move the code one slot right */
		if (emit(ps, OP_JMP, 0, 0) < 0)
			return;
		first = ps->prog + start;
		memmove(first + 1, first, (size_t) first_len * sizeof(inst));
		for (int i = start + 1; i < start + 1 + first_len; i++)
		{
			inst *in = &ps->prog[i];

			if (in->op == OP_SPLIT)
			{
				in->x++;
				in->y++;
			}
			else if (in->op == OP_JMP)
				in->x++;
			else if (in->op == OP_LOOK)
				in->y++;
		}
		split = start;
		jmp = emit(ps, OP_JMP, 0, 0);
		if (jmp < 0)
			return;
		if (n_jumps == (int) (sizeof(jumps) / sizeof(jumps[0])))
		{
			set_err(ps, "too many alternatives");
			return;
		}
		jumps[n_jumps++] = jmp;
		ps->prog[split].op = OP_SPLIT;
		ps->prog[split].x = split + 1;
		ps->prog[split].y = ps->n_prog;
		start = ps->n_prog;
		parse_alternative(ps);
	}
	for (int i = 0; i < n_jumps && !ps->err; i++)
		ps->prog[jumps[i]].x = ps->n_prog;
}

static int
count_groups(const char *p, size_t n)
{
	int g = 0;
	bool in_class = false;

	for (size_t i = 0; i < n; i++)
	{
		if (p[i] == '\\')
			i++;
		else if (in_class)
		{
			if (p[i] == ']')
				in_class = false;
		}
		else if (p[i] == '[')
			in_class = true;
		else if (p[i] == '(' && (i + 1 >= n || p[i + 1] != '?' ||
								 (i + 2 < n && p[i + 2] == '<' && i + 3 < n && p[i + 3] != '=' &&
								  p[i + 3] != '!')))
			g++;
	}
	return g;
}

void
js_regex_free(js_regex *re)
{
	if (re == NULL)
		return;
	for (int i = 0; i < re->n_classes; i++)
		free(re->classes[i].r);
	free(re->classes);
	free(re->prog);
	js_regex_fast_free(re->fast);
	free(re);
}

js_regex *
js_regex_compile(const char *pat, size_t len, char **err)
{
	parser ps = {0};
	js_regex *re;

	*err = NULL;
	if (!js_utf8_valid(pat, len))
	{
		*err = js_strdup("invalid UTF-8 in pattern");
		return NULL;
	}
	ps.p = pat;
	ps.n = len;
	ps.total_groups = count_groups(pat, len);
	emit(&ps, OP_SAVE, 0, 0);
	parse_disjunction(&ps);
	if (!ps.err && ps.pos < ps.n)
		set_err(&ps, "unmatched )");
	emit(&ps, OP_SAVE, 1, 0);
	emit(&ps, OP_MATCH, 0, 0);
	re = ps.err ? NULL : calloc(1, sizeof(*re));
	if (re == NULL)
	{
		*err = ps.err ? ps.err : js_strdup("out of memory");
		for (int i = 0; i < ps.n_classes; i++)
			free(ps.classes[i].r);
		free(ps.classes);
		free(ps.prog);
		return NULL;
	}
	re->prog = ps.prog;
	re->n_prog = ps.n_prog;
	re->classes = ps.classes;
	re->n_classes = ps.n_classes;
	re->n_groups = ps.n_groups + 1;
	re->n_slots = 2 * re->n_groups + ps.n_loops;
	/* loop slots come after the capture slots */
	for (int i = 0; i < re->n_prog; i++)
	{
		if ((re->prog[i].op == OP_SAVE || re->prog[i].op == OP_CHECK) && re->prog[i].x < 0)
			re->prog[i].x = 2 * re->n_groups + (-1 - re->prog[i].x);
	}
	re->anchored = re->n_prog > 1 && re->prog[1].op == OP_BOL;
	/* NULL (the general engine) when the pattern is not of the simple form, or out of memory */
	re->fast = js_regex_fast_compile(pat, len);
	return re;
}

/* ---- matcher ---- */

typedef struct bt
{
	int pc; /* >= 0: a thread; < 0: restore slot -1 - pc */
	long sp;
} bt;

typedef struct matcher
{
	const js_regex *re;
	const char *s;
	size_t n;
	long *slots;
	bt *stack;
	long top, cap;
	bt *inline_stack;
	long steps;
	bool blown;
} matcher;

static bool
push(matcher *m, int pc, long sp)
{
	if (m->top == m->cap)
	{
		long ncap = m->cap * 2;
		bt *ns;

		if (ncap > MAX_STACK)
		{
			m->blown = true;
			return false;
		}
		if (m->stack == m->inline_stack)
		{
			ns = malloc((size_t) ncap * sizeof(bt));
			if (ns)
				memcpy(ns, m->stack, (size_t) m->top * sizeof(bt));
		}
		else
			ns = realloc(m->stack, (size_t) ncap * sizeof(bt));
		if (ns == NULL)
		{
			m->blown = true;
			return false;
		}
		m->stack = ns;
		m->cap = ncap;
	}
	m->stack[m->top].pc = pc;
	m->stack[m->top].sp = sp;
	m->top++;
	return true;
}

static bool
is_word(int32_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool
class_has(const cls *c, int32_t cp)
{
	int lo = 0, hi = c->n - 1;
	bool in = false;

	while (lo <= hi)
	{
		int mid = (lo + hi) / 2;

		if ((uint32_t) cp < c->r[mid][0])
			hi = mid - 1;
		else if ((uint32_t) cp > c->r[mid][1])
			lo = mid + 1;
		else
		{
			in = true;
			break;
		}
	}
	return in != c->neg;
}

static bool
at_word(const matcher *m, long sp)
{
	bool before = sp > 0 && is_word((unsigned char) m->s[sp - 1]);
	bool after = (size_t) sp < m->n && is_word((unsigned char) m->s[sp]);

	return before != after;
}

/* run from pc at sp; the position where MATCH/LOOKEND was reached, or -1 */
static long
run(matcher *m, int pc0, long sp0, int depth)
{
	long base = m->top;
	const inst *prog = m->re->prog;

	if (depth > MAX_NEST || !push(m, pc0, sp0))
	{
		m->blown = true;
		return -1;
	}
	while (m->top > base)
	{
		bt e = m->stack[--m->top];
		int pc = e.pc;
		long sp = e.sp;

		if (pc < 0)
		{
			m->slots[-1 - pc] = sp;
			continue;
		}
		for (;;)
		{
			const inst *in = &prog[pc];

			if (++m->steps > STEP_BUDGET)
			{
				m->blown = true;
				m->top = base;
				return -1;
			}
			switch (in->op)
			{
				case OP_CHAR:
				{
					size_t p = (size_t) sp;

					if (p < m->n && (unsigned char) m->s[p] < 0x80)
					{
						if ((unsigned char) m->s[p] != in->x)
							goto fail;
						sp++;
					}
					else if (p >= m->n || js_utf8_next(m->s, m->n, &p) != in->x)
						goto fail;
					else
						sp = (long) p;
					pc++;
					break;
				}
				case OP_ANY:
				case OP_CLASS:
				{
					size_t p = (size_t) sp;
					int32_t c;

					if (p >= m->n)
						goto fail;
					c = js_utf8_next(m->s, m->n, &p);
					if (c < 0)
						goto fail;
					if (in->op == OP_ANY ? (c == '\n' || c == '\r' || c == 0x2028 || c == 0x2029)
										 : !class_has(&m->re->classes[in->x], c))
						goto fail;
					sp = (long) p;
					pc++;
					break;
				}
				case OP_SPLIT:
					if (!push(m, in->y, sp))
					{
						m->top = base;
						return -1;
					}
					pc = in->x;
					break;
				case OP_JMP:
					pc = in->x;
					break;
				case OP_SAVE:
					if (!push(m, -1 - in->x, m->slots[in->x]))
					{
						m->top = base;
						return -1;
					}
					m->slots[in->x] = sp;
					pc++;
					break;
				case OP_CHECK:
					if (m->slots[in->x] == sp)
						goto fail;
					pc++;
					break;
				case OP_BOL:
					if (sp != 0)
						goto fail;
					pc++;
					break;
				case OP_EOL:
					if ((size_t) sp != m->n)
						goto fail;
					pc++;
					break;
				case OP_WORDB:
				case OP_NWORDB:
					if (at_word(m, sp) != (in->op == OP_WORDB))
						goto fail;
					pc++;
					break;
				case OP_BACKREF:
				{
					long a = m->slots[2 * in->x], b = m->slots[2 * in->x + 1];

					if (a >= 0 && b >= a)
					{
						size_t l = (size_t) (b - a);

						if ((size_t) sp + l > m->n || memcmp(m->s + a, m->s + sp, l) != 0)
							goto fail;
						sp += (long) l;
					}
					pc++;
					break;
				}
				case OP_LOOK:
				{
					long r = run(m, pc + 1, sp, depth + 1);

					if (m->blown)
					{
						m->top = base;
						return -1;
					}
					if ((r >= 0) == (in->x != 0))
						goto fail;
					pc = in->y;
					break;
				}
				case OP_LOOKEND:
				case OP_MATCH:
					m->top = base;
					return sp;
			}
			continue;
		fail:
			break;
		}
	}
	return -1;
}

int
js_regex_search(const js_regex *re, const char *s, size_t len)
{
	if (re->fast)
		return js_regex_fast_match(re->fast, s, len);
	return js_regex_search_general(re, s, len);
}

bool
js_regex_is_fast(const js_regex *re)
{
	return re->fast != NULL;
}

int
js_regex_search_general(const js_regex *re, const char *s, size_t len)
{
	matcher m;
	bt inline_stack[128];
	long inline_slots[32];
	int result = 0;

	memset(&m, 0, sizeof(m));
	m.re = re;
	m.s = s;
	m.n = len;
	m.stack = m.inline_stack = inline_stack;
	m.cap = 128;
	if (re->n_slots <= 32)
		m.slots = inline_slots;
	else if ((m.slots = malloc((size_t) re->n_slots * sizeof(long))) == NULL)
		return -1;
	for (size_t start = 0; start <= len;)
	{
		for (int i = 0; i < re->n_slots; i++)
			m.slots[i] = -1;
		if (run(&m, 0, (long) start, 0) >= 0)
		{
			result = 1;
			break;
		}
		if (m.blown)
		{
			result = -1;
			break;
		}
		if (re->anchored || start == len)
			break;
		if (js_utf8_next(s, len, &start) < 0)
			start++;
	}
	if (m.stack != m.inline_stack)
		free(m.stack);
	if (m.slots != inline_slots)
		free(m.slots);
	return result;
}
