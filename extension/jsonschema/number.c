/*
 * number.c - JSON numbers as the document holds them (int64, uint64 or double) compared exactly,
 * multipleOf, JSON equality and a hash consistent with it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "js_internal.h"

bool
js_num_get(const js_value *o, js_num *out)
{
	switch (o->type)
	{
		case JS_INT:
			out->kind = JS_NUM_INT;
			out->i = o->u.i;
			out->d = (double) o->u.i;
			return true;
		case JS_UINT:
			out->kind = JS_NUM_UINT;
			out->u = o->u.u;
			out->d = (double) o->u.u;
			return true;
		case JS_DOUBLE:
			out->kind = JS_NUM_DBL;
			out->d = o->u.d;
			return true;
		default:
			return false;
	}
}

double
js_num_to_double(const js_num *n)
{
	return n->d;
}

static int
cmp_i64_dbl(int64_t i, double d)
{
	double t;

	if (isnan(d))
		return 2;
	if (d >= 9223372036854775808.0)
		return -1;
	if (d < -9223372036854775808.0)
		return 1;
	t = trunc(d);
	if (i < (int64_t) t)
		return -1;
	if (i > (int64_t) t)
		return 1;
	return d > t ? -1 : (d < t ? 1 : 0);
}

static int
cmp_u64_dbl(uint64_t u, double d)
{
	double t;

	if (isnan(d))
		return 2;
	if (d >= 18446744073709551616.0)
		return -1;
	if (d < 0)
		return 1;
	t = trunc(d);
	if (u < (uint64_t) t)
		return -1;
	if (u > (uint64_t) t)
		return 1;
	return d > t ? -1 : 0;
}

static int
flip(int r)
{
	return r == 2 ? 2 : -r;
}

int
js_num_cmp(const js_num *a, const js_num *b)
{
	if (a->kind == JS_NUM_DBL && b->kind == JS_NUM_DBL)
	{
		if (isnan(a->d) || isnan(b->d))
			return 2;
		return a->d < b->d ? -1 : (a->d > b->d ? 1 : 0);
	}
	if (a->kind == JS_NUM_DBL)
		return flip(js_num_cmp(b, a));
	/* a is an integer */
	if (b->kind == JS_NUM_DBL)
		return a->kind == JS_NUM_INT ? cmp_i64_dbl(a->i, b->d) : cmp_u64_dbl(a->u, b->d);
	if (a->kind == JS_NUM_INT && b->kind == JS_NUM_INT)
		return a->i < b->i ? -1 : (a->i > b->i ? 1 : 0);
	if (a->kind == JS_NUM_UINT && b->kind == JS_NUM_UINT)
		return a->u < b->u ? -1 : (a->u > b->u ? 1 : 0);
	/* one int64 (< 2^63), one uint64 (>= 2^63) */
	return a->kind == JS_NUM_INT ? -1 : 1;
}

bool
js_num_is_integer(const js_num *n)
{
	if (n->kind != JS_NUM_DBL)
		return true;
	return isfinite(n->d) && n->d == trunc(n->d);
}

bool
js_num_multiple_of(const js_num *x, const js_num *m)
{
	double q, r;

	if (x->kind == JS_NUM_INT && m->kind == JS_NUM_INT && m->i > 0)
		return x->i % m->i == 0;
	if (x->kind != JS_NUM_DBL && m->kind != JS_NUM_DBL)
	{
		uint64_t ax =
			x->kind == JS_NUM_UINT ? x->u : (x->i < 0 ? 0 - (uint64_t) x->i : (uint64_t) x->i);
		uint64_t am = m->kind == JS_NUM_UINT ? m->u : (uint64_t) m->i;

		return am != 0 && ax % am == 0;
	}
	if (m->d <= 0 || !isfinite(m->d) || !isfinite(x->d))
		return false;
	if (x->d == 0)
		return true;
	q = x->d / m->d;
	if (!isfinite(q))
		return false;
	/* exact when representable; a relative tolerance absorbs binary rounding (0.3 / 0.1) */
	r = fabs(q - nearbyint(q));
	return r <= 1e-9 * (fabs(q) > 1 ? 1 : fabs(q)) || r == 0;
}

void
js_num_format(const js_num *n, char *buf, size_t size)
{
	if (n->kind == JS_NUM_INT)
		snprintf(buf, size, "%lld", (long long) n->i);
	else if (n->kind == JS_NUM_UINT)
		snprintf(buf, size, "%llu", (unsigned long long) n->u);
	else
		snprintf(buf, size, "%.17g", n->d);
}

static bool
is_number(const js_value *v)
{
	return v->type == JS_INT || v->type == JS_UINT || v->type == JS_DOUBLE;
}

const char *
js_type_name(const js_value *o)
{
	js_num n;

	switch (o->type)
	{
		case JS_NULL:
			return "null";
		case JS_BOOL:
			return "boolean";
		case JS_OBJECT:
			return "object";
		case JS_ARRAY:
			return "array";
		case JS_STRING:
			return "string";
		case JS_INT:
		case JS_UINT:
			return "integer";
		case JS_DOUBLE:
			js_num_get(o, &n);
			return js_num_is_integer(&n) ? "integer" : "number";
	}
	return "unknown";
}

bool
js_json_equal(const js_value *a, const js_value *b, int depth)
{
	if (a == b)
		return true;
	if (depth <= 0)
		return false;
	if (is_number(a) && is_number(b))
	{
		js_num na, nb;

		js_num_get(a, &na);
		js_num_get(b, &nb);
		return js_num_cmp(&na, &nb) == 0;
	}
	if (a->type != b->type)
		return false;
	switch (a->type)
	{
		case JS_NULL:
			return true;
		case JS_BOOL:
			return a->b == b->b;
		case JS_STRING:
			return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0;
		case JS_ARRAY:
			if (a->len != b->len)
				return false;
			for (uint32_t i = 0; i < a->len; i++)
			{
				if (!js_json_equal(&a->u.items[i], &b->u.items[i], depth - 1))
					return false;
			}
			return true;
		case JS_OBJECT:
			if (a->len != b->len)
				return false;
			JV_FOREACH(a, m)
			{
				const js_value *vb = js_object_getn(b, m->key, m->klen, m->hash);

				if (vb == NULL || !js_json_equal(&m->val, vb, depth - 1))
					return false;
			}
			return true;
		default:
			return false;
	}
}

static uint64_t
mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h;
}

uint64_t
js_json_hash(const js_value *o, int depth)
{
	if (depth <= 0)
		return 0;
	switch (o->type)
	{
		case JS_NULL:
			return 1;
		case JS_BOOL:
			return o->b ? 2 : 3;
		case JS_INT:
		case JS_UINT:
		case JS_DOUBLE:
		{
			js_num n;
			double d;
			uint64_t bits;

			js_num_get(o, &n);
			d = n.d; /* equal numbers have equal doubles */
			if (d == 0)
				d = 0; /* -0 */
			memcpy(&bits, &d, sizeof(bits));
			return mix(4, bits);
		}
		case JS_STRING:
			return mix(5, js_hash(o->u.s, o->len));
		case JS_ARRAY:
		{
			uint64_t h = 6;

			for (uint32_t i = 0; i < o->len; i++)
				h = mix(h, js_json_hash(&o->u.items[i], depth - 1));
			return h;
		}
		case JS_OBJECT:
		{
			uint64_t h = 7;

			/* order-independent: sum of member hashes */
			JV_FOREACH(o, m)
			{
				h += mix(m->hash, js_json_hash(&m->val, depth - 1));
			}
			return h;
		}
	}
	return 0;
}
