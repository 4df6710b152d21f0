/*
 * validate.c - js_validate: the evaluation driver, error reporting with instance and keyword
 * locations, annotations for unevaluated*, and the in-place applicators ($ref, $dynamicRef,
 * allOf, anyOf, oneOf, not, if/then/else). Keyword families live in kw_*.c.
 *
 * Paths are linked lists of frames on the C stack and are rendered only when an error is
 * recorded, so a valid instance costs no allocation. Branches whose errors do not matter
 * (anyOf, oneOf, not, if, contains) run "quiet": they stop at the first failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"

/* ---- annotations ---- */

bool
js_annot_init(js_annot *a, size_t n)
{
	size_t words = (n + 63) / 64;

	a->n = n;
	a->all = false;
	if (words <= JS_ANNOT_INLINE)
	{
		a->bits = a->inline_bits;
		memset(a->inline_bits, 0, sizeof(a->inline_bits));
		return true;
	}
	a->bits = calloc(words, sizeof(uint64_t));
	return a->bits != NULL;
}

void
js_annot_free(js_annot *a)
{
	if (a->bits && a->bits != a->inline_bits)
		free(a->bits);
	a->bits = NULL;
}

void
js_annot_set(js_annot *a, size_t i)
{
	if (a && i < a->n)
		a->bits[i / 64] |= (uint64_t) 1 << (i % 64);
}

bool
js_annot_test(const js_annot *a, size_t i)
{
	return a->all || (i < a->n && (a->bits[i / 64] >> (i % 64)) & 1);
}

void
js_annot_merge(js_annot *dst, const js_annot *src)
{
	if (dst == NULL)
		return;
	dst->all |= src->all;
	for (size_t w = 0; w < (dst->n + 63) / 64 && w < (src->n + 63) / 64; w++)
		dst->bits[w] |= src->bits[w];
}

static size_t
instance_size(const js_value *inst)
{
	return inst->type == JS_OBJECT || inst->type == JS_ARRAY ? inst->len : 0;
}

/* ---- errors ---- */

static char *
render_ipath(const js_ipath *ip)
{
	const js_ipath *p;
	const js_ipath **segs;
	size_t n = 0, i;
	js_buf b = {0};

	for (p = ip; p; p = p->up)
		n++;
	if (n == 0)
		return js_strdup("");
	segs = malloc(n * sizeof(*segs));
	if (segs == NULL)
		return NULL;
	for (p = ip, i = n; p; p = p->up)
		segs[--i] = p;
	for (i = 0; i < n; i++)
	{
		js_buf_putc(&b, '/');
		if (segs[i]->key)
			js_pointer_escape(&b, segs[i]->key, segs[i]->idx);
		else
			js_buf_printf(&b, "%zu", segs[i]->idx);
	}
	free(segs);
	return js_buf_take(&b);
}

static char *
render_kpath(const js_kpath *kp, const char *kw)
{
	const js_kpath *p;
	const char **segs;
	size_t n = 0, i;
	js_buf b = {0};

	for (p = kp; p; p = p->up)
		n++;
	segs = malloc((n + 1) * sizeof(*segs));
	if (segs == NULL)
		return NULL;
	for (p = kp, i = n; p; p = p->up)
		segs[--i] = p->seg;
	for (i = 0; i < n; i++)
	{
		js_buf_putc(&b, '/');
		js_buf_puts(&b, segs[i]);
	}
	if (kw)
	{
		js_buf_putc(&b, '/');
		js_buf_puts(&b, kw);
	}
	free(segs);
	if (b.len == 0 && !b.oom)
		return js_strdup("");
	return js_buf_take(&b);
}

static void
record(js_vctx *c, const js_ipath *ip, const js_kpath *kp, const char *kw, char *msg)
{
	js_result *r = c->r;
	js_error *e;

	if (msg == NULL)
	{
		c->stop = true;
		return;
	}
	if (r->n_errors >= c->s->limits.max_errors)
	{
		r->truncated = true;
		c->stop = true;
		free(msg);
		return;
	}
	if (r->n_errors == c->cap_errors)
	{
		int ncap = c->cap_errors ? c->cap_errors * 2 : 4;
		js_error *ne = realloc(r->errors, (size_t) ncap * sizeof(*ne));

		if (ne == NULL)
		{
			c->stop = true;
			free(msg);
			return;
		}
		r->errors = ne;
		c->cap_errors = ncap;
	}
	e = &r->errors[r->n_errors];
	e->message = msg;
	e->instance_location = render_ipath(ip);
	e->keyword_location = render_kpath(kp, kw);
	if (e->instance_location == NULL || e->keyword_location == NULL)
	{
		free(e->instance_location);
		free(e->keyword_location);
		free(msg);
		c->stop = true;
		return;
	}
	r->n_errors++;
}

static char *vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static char *
vformat(const char *fmt, va_list ap)
{
	js_buf b = {0};
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return NULL;
	b.p = malloc((size_t) n + 1);
	if (b.p == NULL)
		return NULL;
	vsnprintf(b.p, (size_t) n + 1, fmt, ap);
	return b.p;
}

void
js_report(js_vctx *c, const js_frame *f, const char *kw, const char *fmt, ...)
{
	va_list ap;

	if (c->quiet || c->stop)
		return;
	va_start(ap, fmt);
	record(c, f->ip, f->kp, kw, vformat(fmt, ap));
	va_end(ap);
}

void
js_report_at(js_vctx *c, const js_frame *f, const char *key, size_t idx, const char *kw,
			 const char *fmt, ...)
{
	va_list ap;
	js_ipath ip = {f->ip, key, idx};

	if (c->quiet || c->stop)
		return;
	va_start(ap, fmt);
	record(c, &ip, f->kp, kw, vformat(fmt, ap));
	va_end(ap);
}

void
js_fatal(js_vctx *c, const js_frame *f, const char *kw, const char *msg)
{
	if (c->fatal)
		return;
	c->fatal = true;
	c->stop = false;
	record(c, f->ip, f->kp, kw, js_strdup(msg));
	c->stop = true;
}

/* ---- evaluation ---- */

bool
js_eval_inplace(js_vctx *c, const js_sub *sub, const js_frame *f, js_annot *ann)
{
	js_kpath kp = {f->kp, sub->kw};
	js_frame nf = *f;

	nf.kp = &kp;
	nf.ann = ann;
	return js_eval(c, sub->node, &nf);
}

bool
js_eval_child(js_vctx *c, const js_sub *sub, const js_frame *f, const js_value *child,
			  const char *key, size_t idx)
{
	js_kpath kp = {f->kp, sub->kw};
	js_ipath ip = {f->ip, key, idx};
	js_frame nf = {child, &ip, &kp, f->ds, NULL};

	return js_eval(c, sub->node, &nf);
}

/* evaluate sub quietly; with ann, its annotations are kept only when it passes */
static bool
eval_quiet(js_vctx *c, const js_sub *sub, const js_frame *f, js_annot *ann)
{
	bool ok;

	c->quiet++;
	if (ann)
	{
		js_annot tmp;

		if (!js_annot_init(&tmp, ann->n))
		{
			c->quiet--;
			c->stop = true;
			return false;
		}
		ok = js_eval_inplace(c, sub, f, &tmp);
		if (ok)
			js_annot_merge(ann, &tmp);
		js_annot_free(&tmp);
	}
	else
		ok = js_eval_inplace(c, sub, f, NULL);
	c->quiet--;
	return ok;
}

static const js_node *
dynamic_target(const js_node *n, const js_frame *f)
{
	const js_node *target = n->dynref.node;

	if (n->dyn_anchor == NULL)
		return target;
	/* the outermost resource in the dynamic scope that declares the anchor wins */
	for (const js_dscope *ds = f->ds; ds; ds = ds->up)
	{
		for (int i = 0; i < ds->res->n_dyn; i++)
		{
			if (strcmp(ds->res->dyn[i].name, n->dyn_anchor) == 0 && ds->res->dyn[i].node)
				target = ds->res->dyn[i].node;
		}
	}
	return target;
}

static bool
eval_applicators(js_vctx *c, const js_node *n, const js_frame *f)
{
	bool valid = true;
	js_annot *ann = f->ann;

	for (int i = 0; i < n->n_all_of; i++)
	{
		if (!js_eval_inplace(c, &n->all_of[i], f, ann))
			FAIL_OR_STOP();
	}
	if (n->n_any_of)
	{
		bool any = false;

		for (int i = 0; i < n->n_any_of && !c->stop; i++)
		{
			if (eval_quiet(c, &n->any_of[i], f, ann))
			{
				any = true;
				if (ann == NULL)
					break;
			}
		}
		if (c->stop)
			return false;
		if (!any)
		{
			js_report(c, f, "anyOf", "value does not match any of the %d schemas in anyOf",
					  n->n_any_of);
			FAIL_OR_STOP();
		}
	}
	if (n->n_one_of)
	{
		int matched = 0, first = -1, second = -1;

		for (int i = 0; i < n->n_one_of && !c->stop; i++)
		{
			if (eval_quiet(c, &n->one_of[i], f, ann))
			{
				if (matched == 0)
					first = i;
				else if (matched == 1)
					second = i;
				matched++;
				if (matched > 1 && ann == NULL)
					break;
			}
		}
		if (c->stop)
			return false;
		if (matched == 0)
		{
			js_report(c, f, "oneOf", "value does not match any of the %d schemas in oneOf",
					  n->n_one_of);
			FAIL_OR_STOP();
		}
		else if (matched > 1)
		{
			js_report(c, f, "oneOf", "value matches more than one schema in oneOf (%d and %d)",
					  first, second);
			FAIL_OR_STOP();
		}
	}
	if (n->not_.node)
	{
		bool r = eval_quiet(c, &n->not_, f, NULL);

		if (c->stop)
			return false;
		if (r)
		{
			js_report(c, f, "not", "value must not match the schema in not");
			FAIL_OR_STOP();
		}
	}
	if (n->if_.node)
	{
		bool r = eval_quiet(c, &n->if_, f, ann);
		const js_sub *branch = r ? &n->then_ : &n->else_;

		if (c->stop)
			return false;
		if (branch->node && !js_eval_inplace(c, branch, f, ann))
			FAIL_OR_STOP();
	}
	return valid;
}

bool
js_eval(js_vctx *c, const js_node *n, const js_frame *f)
{
	js_frame nf;
	js_dscope ds;
	js_annot local;
	bool valid = true;
	bool is_obj, is_arr;

	if (n == NULL || n->boolean == 1)
		return true;
	if (n->boolean == 0)
	{
		js_report(c, f, NULL, "value is not allowed (the schema is false)");
		return false;
	}
	if (c->depth >= c->s->limits.max_depth)
	{
		js_fatal(c, f, NULL, "schema evaluation exceeds the depth limit (a $ref cycle?)");
		return false;
	}
	c->depth++;
	nf = *f;
	if (n->resource && (f->ds == NULL || f->ds->res != n->resource))
	{
		ds.up = f->ds;
		ds.res = n->resource;
		nf.ds = &ds;
	}
	is_obj = f->inst->type == JS_OBJECT;
	is_arr = f->inst->type == JS_ARRAY;
	local.bits = NULL;
	if (n->has_uneval && (is_obj || is_arr))
	{
		if (!js_annot_init(&local, instance_size(f->inst)))
		{
			c->stop = true;
			c->depth--;
			return false;
		}
		nf.ann = &local;
	}

#define CHECK(expr)                                                                                \
	do                                                                                             \
	{                                                                                              \
		if (!(expr))                                                                               \
		{                                                                                          \
			valid = false;                                                                         \
			if (c->quiet || c->stop)                                                               \
				goto done;                                                                         \
		}                                                                                          \
	} while (0)

	if (n->ref.node)
		CHECK(js_eval_inplace(c, &n->ref, &nf, nf.ann));
	if (n->dynref.node)
	{
		js_sub target = {dynamic_target(n, &nf), n->dynref.kw};

		CHECK(js_eval_inplace(c, &target, &nf, nf.ann));
	}
	CHECK(js_kw_scalar(c, n, &nf));
	CHECK(eval_applicators(c, n, &nf));
	if (is_obj)
		CHECK(js_kw_object(c, n, &nf));
	else if (is_arr)
		CHECK(js_kw_array(c, n, &nf));
	if (n->uneval_props.node && is_obj)
		CHECK(js_kw_uneval_object(c, n, &nf));
	if (n->uneval_items.node && is_arr)
		CHECK(js_kw_uneval_array(c, n, &nf));
#undef CHECK
done:
	if (local.bits)
	{
		if (valid && f->ann)
		{
			/* unevaluated* looked at everything that was left: all of it is evaluated now */
			if ((is_obj && n->uneval_props.node) || (is_arr && n->uneval_items.node))
				f->ann->all = true;
			else
				js_annot_merge(f->ann, &local);
		}
		js_annot_free(&local);
	}
	c->depth--;
	return valid && !c->fatal;
}

int
js_validate(const js_schema *schema, const js_value *instance, js_result *result)
{
	js_vctx c;
	js_frame f = {instance, NULL, NULL, NULL, NULL};
	bool ok;

	memset(result, 0, sizeof(*result));
	memset(&c, 0, sizeof(c));
	c.s = schema;
	c.r = result;
	ok = js_eval(&c, schema->root, &f);
	result->valid = ok && result->n_errors == 0 && !c.fatal;
	if (!result->valid && result->n_errors == 0)
	{
		/* only out of memory gets here: no error could be recorded */
		return -1;
	}
	if (result->valid && result->errors)
	{
		/* errors recorded inside branches that finally passed cannot happen: quiet mode */
		js_result_clear(result);
		result->valid = true;
	}
	return 0;
}

void
js_result_clear(js_result *result)
{
	if (result == NULL)
		return;
	for (int i = 0; i < result->n_errors; i++)
	{
		free(result->errors[i].instance_location);
		free(result->errors[i].keyword_location);
		free(result->errors[i].message);
	}
	free(result->errors);
	memset(result, 0, sizeof(*result));
}
