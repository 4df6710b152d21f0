/*
 * number.c - JSON numbers as json-c holds them (int64, uint64 or double) compared exactly,
 * multipleOf, JSON equality and a hash consistent with it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "js_internal.h"

bool
js_num_get(json_object *o, js_num *out)
{
	switch (json_object_get_type(o))
	{
		case json_type_int:
			out->i = json_object_get_int64(o);
			out->kind = JS_NUM_INT;
			if (out->i == INT64_MAX)
			{
				uint64_t u = json_object_get_uint64(o);

				if (u > (uint64_t) INT64_MAX)
				{
					out->kind = JS_NUM_UINT;
					out->u = u;
				}
			}
			out->d = out->kind == JS_NUM_INT ? (double) out->i : (double) out->u;
			return true;
		case json_type_double:
			out->kind = JS_NUM_DBL;
			out->d = json_object_get_double(o);
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

const char *
js_type_name(json_object *o)
{
	js_num n;

	switch (json_object_get_type(o))
	{
		case json_type_null:
			return "null";
		case json_type_boolean:
			return "boolean";
		case json_type_object:
			return "object";
		case json_type_array:
			return "array";
		case json_type_string:
			return "string";
		case json_type_int:
			return "integer";
		case json_type_double:
			js_num_get(o, &n);
			return js_num_is_integer(&n) ? "integer" : "number";
	}
	return "unknown";
}

bool
js_json_equal(json_object *a, json_object *b, int depth)
{
	enum json_type ta = json_object_get_type(a), tb = json_object_get_type(b);

	if (a == b)
		return true;
	if (depth <= 0)
		return false;
	if ((ta == json_type_int || ta == json_type_double) &&
		(tb == json_type_int || tb == json_type_double))
	{
		js_num na, nb;

		js_num_get(a, &na);
		js_num_get(b, &nb);
		return js_num_cmp(&na, &nb) == 0;
	}
	if (ta != tb)
		return false;
	switch (ta)
	{
		case json_type_null:
			return true;
		case json_type_boolean:
			return json_object_get_boolean(a) == json_object_get_boolean(b);
		case json_type_string:
		{
			int la = json_object_get_string_len(a), lb = json_object_get_string_len(b);

			return la == lb &&
				   memcmp(json_object_get_string(a), json_object_get_string(b), (size_t) la) == 0;
		}
		case json_type_array:
		{
			size_t n = json_object_array_length(a);

			if (n != json_object_array_length(b))
				return false;
			for (size_t i = 0; i < n; i++)
			{
				if (!js_json_equal(json_object_array_get_idx(a, i), json_object_array_get_idx(b, i),
								   depth - 1))
					return false;
			}
			return true;
		}
		case json_type_object:
		{
			if (json_object_object_length(a) != json_object_object_length(b))
				return false;
			json_object_object_foreach(a, key, va)
			{
				json_object *vb;

				if (!json_object_object_get_ex(b, key, &vb) || !js_json_equal(va, vb, depth - 1))
					return false;
			}
			return true;
		}
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
js_json_hash(json_object *o, int depth)
{
	if (depth <= 0)
		return 0;
	switch (json_object_get_type(o))
	{
		case json_type_null:
			return 1;
		case json_type_boolean:
			return json_object_get_boolean(o) ? 2 : 3;
		case json_type_int:
		case json_type_double:
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
		case json_type_string:
			return mix(5,
					   js_hash(json_object_get_string(o), (size_t) json_object_get_string_len(o)));
		case json_type_array:
		{
			uint64_t h = 6;
			size_t n = json_object_array_length(o);

			for (size_t i = 0; i < n; i++)
				h = mix(h, js_json_hash(json_object_array_get_idx(o, i), depth - 1));
			return h;
		}
		case json_type_object:
		{
			uint64_t h = 7;

			/* order-independent: sum of member hashes */
			json_object_object_foreach(o, key, v)
			{
				h += mix(js_hash(key, strlen(key)), js_json_hash(v, depth - 1));
			}
			return h;
		}
	}
	return 0;
}
