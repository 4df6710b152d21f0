/*
 * kw_scalar.c - keywords that look at the instance value itself: type, const, enum, the
 * numeric bounds and multipleOf, string lengths (in code points), pattern and format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"

/* equality recursion is bounded like evaluation: deeper documents compare unequal */
#define EQ_DEPTH (c->s->limits.max_depth + 1)

static unsigned
type_of(const js_value *inst)
{
	js_num n;

	switch (inst->type)
	{
		case JS_NULL:
			return JS_T_NULL;
		case JS_BOOL:
			return JS_T_BOOLEAN;
		case JS_OBJECT:
			return JS_T_OBJECT;
		case JS_ARRAY:
			return JS_T_ARRAY;
		case JS_STRING:
			return JS_T_STRING;
		case JS_INT:
		case JS_UINT:
			return JS_T_NUMBER | JS_T_INTEGER;
		case JS_DOUBLE:
			js_num_get(inst, &n);
			return js_num_is_integer(&n) ? (JS_T_NUMBER | JS_T_INTEGER) : JS_T_NUMBER;
	}
	return 0;
}

static void
type_list(unsigned types, char *buf, size_t size)
{
	static const char *names[] = {"null",   "boolean", "object", "array",
								  "number", "string",  "integer"};
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < 7; i++)
	{
		if (types & (1u << i))
		{
			int w = snprintf(buf + len, size - len, "%s%s", len ? " or " : "", names[i]);

			if (w < 0 || (size_t) w >= size - len)
				break;
			len += (size_t) w;
		}
	}
}

static bool
check_numbers(js_vctx *c, const js_node *n, const js_frame *f, const js_value *inst)
{
	js_num x;
	bool valid = true;
	char a[40], b[40];

	if (!js_num_get(inst, &x))
		return true;
#define NUM_FAIL(kw, fmt, bound)                                                                   \
	do                                                                                             \
	{                                                                                              \
		js_num_format(&x, a, sizeof(a));                                                           \
		js_num_format(&(bound), b, sizeof(b));                                                     \
		js_report(c, f, kw, fmt, a, b);                                                            \
		valid = false;                                                                             \
		if (c->quiet || c->stop)                                                                   \
			return false;                                                                          \
	} while (0)

	if ((n->num_flags & JS_HAS_MAXIMUM))
	{
		int r = js_num_cmp(&x, &n->maximum);

		if (r > 0 || r == 2)
			NUM_FAIL("maximum", "%s is greater than the maximum %s", n->maximum);
	}
	if ((n->num_flags & JS_HAS_MINIMUM))
	{
		int r = js_num_cmp(&x, &n->minimum);

		if (r < 0 || r == 2)
			NUM_FAIL("minimum", "%s is less than the minimum %s", n->minimum);
	}
	if ((n->num_flags & JS_HAS_EXMAX) && js_num_cmp(&x, &n->ex_maximum) != -1)
		NUM_FAIL("exclusiveMaximum", "%s is not less than the exclusive maximum %s", n->ex_maximum);
	if ((n->num_flags & JS_HAS_EXMIN) && js_num_cmp(&x, &n->ex_minimum) != 1)
		NUM_FAIL("exclusiveMinimum", "%s is not greater than the exclusive minimum %s",
				 n->ex_minimum);
	if ((n->num_flags & JS_HAS_MULTIPLE) && !js_num_multiple_of(&x, &n->multiple_of))
		NUM_FAIL("multipleOf", "%s is not a multiple of %s", n->multiple_of);
#undef NUM_FAIL
	return valid;
}

static bool
check_string(js_vctx *c, const js_node *n, const js_frame *f, const js_value *inst)
{
	const char *s = inst->u.s;
	size_t len = inst->len;
	bool valid = true;

	if (n->max_length >= 0 || n->min_length >= 0)
	{
		size_t cps = js_utf8_count(s, len);

		if (n->max_length >= 0 && cps > (uint64_t) n->max_length)
		{
			js_report(c, f, "maxLength", "string of %zu characters is longer than %lld", cps,
					  (long long) n->max_length);
			valid = false;
			if (c->quiet || c->stop)
				return false;
		}
		if (n->min_length >= 0 && cps < (uint64_t) n->min_length)
		{
			js_report(c, f, "minLength", "string of %zu characters is shorter than %lld", cps,
					  (long long) n->min_length);
			valid = false;
			if (c->quiet || c->stop)
				return false;
		}
	}
	if (n->pattern)
	{
		int r = js_regex_search(n->pattern, s, len);

		if (r < 0)
		{
			js_fatal(c, f, "pattern", "pattern matching exceeded its step limit");
			return false;
		}
		if (r == 0)
		{
			js_report(c, f, "pattern", "string does not match the pattern \"%s\"", n->pattern_src);
			valid = false;
			if (c->quiet || c->stop)
				return false;
		}
	}
	if (n->format && c->s->limits.format_assertion && !js_format_check(n->format, s, len))
	{
		js_report(c, f, "format", "string is not a valid %s", js_format_name(n->format));
		valid = false;
	}
	return valid;
}

bool
js_kw_scalar(js_vctx *c, const js_node *n, const js_frame *f)
{
	const js_value *inst = f->inst;
	bool valid = true;

	if (n->types)
	{
		unsigned t = type_of(inst);

		if ((t & n->types) == 0)
		{
			char want[96];

			type_list(n->types, want, sizeof(want));
			js_report(c, f, "type", "expected %s, got %s", want, js_type_name(inst));
			valid = false;
			if (c->quiet || c->stop)
				return false;
		}
	}
	if (n->has_const && !js_json_equal(inst, n->const_v, EQ_DEPTH))
	{
		js_report(c, f, "const", "value does not equal the constant");
		valid = false;
		if (c->quiet || c->stop)
			return false;
	}
	if (n->enum_v)
	{
		size_t k = n->enum_v->len;
		bool found = false;

		for (size_t i = 0; i < k && !found; i++)
			found = js_json_equal(inst, &n->enum_v->u.items[i], EQ_DEPTH);
		if (!found)
		{
			js_report(c, f, "enum", "value is not one of the %zu allowed values", k);
			valid = false;
			if (c->quiet || c->stop)
				return false;
		}
	}
	if (n->num_flags && !check_numbers(c, n, f, inst))
	{
		valid = false;
		if (c->quiet || c->stop)
			return false;
	}
	if (inst->type == JS_STRING &&
		(n->max_length >= 0 || n->min_length >= 0 || n->pattern || n->format) &&
		!check_string(c, n, f, inst))
		valid = false;
	return valid;
}
