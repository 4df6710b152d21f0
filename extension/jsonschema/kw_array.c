/*
 * kw_array.c - keywords for arrays: prefixItems / items (draft-07 items array and
 * additionalItems), contains with min/maxContains, min/maxItems, uniqueItems and
 * unevaluatedItems.
 */
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"

typedef struct hashed
{
	uint64_t h;
	size_t i;
} hashed;

static int
hashed_cmp(const void *a, const void *b)
{
	const hashed *x = a, *y = b;

	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return x->i < y->i ? -1 : (x->i > y->i ? 1 : 0);
}

/* first pair of equal items (*a < *b), or false */
static bool
find_duplicate(const js_value *arr, size_t len, int depth, size_t *a, size_t *b, bool *oom)
{
	*oom = false;
	if (len <= 16)
	{
		for (size_t i = 0; i < len; i++)
		{
			for (size_t j = i + 1; j < len; j++)
			{
				if (js_json_equal(&arr->u.items[i], &arr->u.items[j], depth))
				{
					*a = i;
					*b = j;
					return true;
				}
			}
		}
		return false;
	}
	{
		hashed *hs = malloc(len * sizeof(*hs));
		bool found = false;

		if (hs == NULL)
		{
			*oom = true;
			return false;
		}
		for (size_t i = 0; i < len; i++)
		{
			hs[i].h = js_json_hash(&arr->u.items[i], depth);
			hs[i].i = i;
		}
		qsort(hs, len, sizeof(*hs), hashed_cmp);
		for (size_t i = 0; i < len && !found; i++)
		{
			for (size_t j = i + 1; j < len && hs[j].h == hs[i].h && !found; j++)
			{
				if (js_json_equal(&arr->u.items[hs[i].i], &arr->u.items[hs[j].i], depth))
				{
					*a = hs[i].i < hs[j].i ? hs[i].i : hs[j].i;
					*b = hs[i].i < hs[j].i ? hs[j].i : hs[i].i;
					found = true;
				}
			}
		}
		free(hs);
		return found;
	}
}

bool
js_kw_array(js_vctx *c, const js_node *n, const js_frame *f)
{
	const js_value *inst = f->inst;
	size_t len = inst->len;
	bool valid = true;
	size_t i;

	if (n->max_items >= 0 && len > (uint64_t) n->max_items)
	{
		js_report(c, f, "maxItems", "array has %zu items, more than %lld", len,
				  (long long) n->max_items);
		FAIL_OR_STOP();
	}
	if (n->min_items >= 0 && len < (uint64_t) n->min_items)
	{
		js_report(c, f, "minItems", "array has %zu items, fewer than %lld", len,
				  (long long) n->min_items);
		FAIL_OR_STOP();
	}
	if (n->unique_items && len > 1)
	{
		size_t a = 0, b = 0;
		bool oom;

		if (find_duplicate(inst, len, c->s->limits.max_depth + 1, &a, &b, &oom))
		{
			js_report(c, f, "uniqueItems", "items at %zu and %zu are equal", a, b);
			FAIL_OR_STOP();
		}
		if (oom)
		{
			c->stop = true;
			return false;
		}
	}
	for (i = 0; i < len && i < (size_t) n->n_prefix; i++)
	{
		if (n->prefix[i].node == NULL)
			continue;
		if (!js_eval_child(c, &n->prefix[i], f, &inst->u.items[i], NULL, i))
			FAIL_OR_STOP();
		js_annot_set(f->ann, i);
	}
	if (n->items.node && len > (size_t) n->n_prefix)
	{
		if (n->items.node->boolean == 0)
		{
			js_report(c, f, n->items.kw, "array has %zu items, at most %d allowed", len,
					  n->n_prefix);
			FAIL_OR_STOP();
		}
		else
		{
			for (i = (size_t) n->n_prefix; i < len; i++)
			{
				if (!js_eval_child(c, &n->items, f, &inst->u.items[i], NULL, i))
					FAIL_OR_STOP();
			}
		}
		if (f->ann)
			f->ann->all = true;
	}
	if (n->contains.node)
	{
		int64_t matches = 0;
		int64_t min = n->min_contains >= 0 ? n->min_contains : 1;

		c->quiet++;
		for (i = 0; i < len && !c->stop; i++)
		{
			if (js_eval_child(c, &n->contains, f, &inst->u.items[i], NULL, i))
			{
				matches++;
				js_annot_set(f->ann, i);
			}
		}
		c->quiet--;
		if (c->stop)
			return false;
		if (matches < min)
		{
			if (min == 1)
				js_report(c, f, "contains", "array does not contain a matching item");
			else
				js_report(c, f, "minContains",
						  "array contains %lld matching items, fewer than %lld",
						  (long long) matches, (long long) min);
			FAIL_OR_STOP();
		}
		if (n->max_contains >= 0 && matches > n->max_contains)
		{
			js_report(c, f, "maxContains", "array contains %lld matching items, more than %lld",
					  (long long) matches, (long long) n->max_contains);
			FAIL_OR_STOP();
		}
	}
	return valid;
}

bool
js_kw_uneval_array(js_vctx *c, const js_node *n, const js_frame *f)
{
	const js_value *inst = f->inst;
	size_t len = inst->len;
	bool valid = true;

	for (size_t i = 0; i < len; i++)
	{
		if (js_annot_test(f->ann, i))
			continue;
		if (n->uneval_items.node->boolean == 0)
		{
			js_report_at(c, f, NULL, i, "unevaluatedItems", "item %zu is not allowed (unevaluated)",
						 i);
			FAIL_OR_STOP();
		}
		else if (!js_eval_child(c, &n->uneval_items, f, &inst->u.items[i], NULL, i))
			FAIL_OR_STOP();
	}
	return valid;
}
