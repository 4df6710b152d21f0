/*
 * kw_object.c - keywords for objects: properties, patternProperties, additionalProperties,
 * propertyNames, required, dependentRequired, dependentSchemas (draft-07 "dependencies"),
 * min/maxProperties and unevaluatedProperties.
 */
#include <string.h>

#include "js_internal.h"

static const js_prop *
find_prop(const js_node *n, const char *key, size_t klen)
{
	uint32_t h = js_hash(key, klen);
	unsigned mask = (unsigned) n->prop_tab_size - 1;

	for (unsigned i = h & mask; n->prop_tab[i]; i = (i + 1) & mask)
	{
		const js_prop *p = &n->props[n->prop_tab[i] - 1];

		if (p->hash == h && p->klen == klen && memcmp(p->key, key, klen) == 0)
			return p;
	}
	return NULL;
}

#define FAIL_OR_STOP()                                                                             \
	do                                                                                             \
	{                                                                                              \
		valid = false;                                                                             \
		if (c->quiet || c->stop)                                                                   \
			return false;                                                                          \
	} while (0)

static bool
check_names(js_vctx *c, const js_node *n, const js_frame *f, const char *key, size_t i)
{
	json_object *name = json_object_new_string(key);
	bool ok;

	if (name == NULL)
	{
		c->stop = true;
		return false;
	}
	ok = js_eval_child(c, &n->property_names, f, name, key, i);
	json_object_put(name);
	return ok;
}

bool
js_kw_object(js_vctx *c, const js_node *n, const js_frame *f)
{
	json_object *inst = f->inst;
	int size = json_object_object_length(inst);
	bool valid = true;
	size_t i = 0;

	if (n->max_props >= 0 && size > n->max_props)
	{
		js_report(c, f, "maxProperties", "object has %d properties, more than %lld", size,
				  (long long) n->max_props);
		FAIL_OR_STOP();
	}
	if (n->min_props >= 0 && size < n->min_props)
	{
		js_report(c, f, "minProperties", "object has %d properties, fewer than %lld", size,
				  (long long) n->min_props);
		FAIL_OR_STOP();
	}
	for (int r = 0; r < n->n_required; r++)
	{
		if (!json_object_object_get_ex(inst, n->required[r], NULL))
		{
			js_report(c, f, "required", "missing required property \"%s\"", n->required[r]);
			FAIL_OR_STOP();
		}
	}
	for (int d = 0; d < n->n_dep_required; d++)
	{
		const js_depreq *dr = &n->dep_required[d];

		if (!json_object_object_get_ex(inst, dr->key, NULL))
			continue;
		for (int k = 0; k < dr->n_names; k++)
		{
			if (!json_object_object_get_ex(inst, dr->names[k], NULL))
			{
				js_report(c, f, dr->kw, "property \"%s\" requires property \"%s\"", dr->key,
						  dr->names[k]);
				FAIL_OR_STOP();
			}
		}
	}
	if (n->n_props || n->n_pprops || n->additional_props.node || n->property_names.node)
	{
		json_object_object_foreach(inst, key, val)
		{
			bool matched = false;

			if (n->n_props)
			{
				const js_prop *p = find_prop(n, key, strlen(key));

				if (p)
				{
					matched = true;
					if (p->sub.node->boolean == 0)
					{
						js_report_at(c, f, key, 0, p->sub.kw, "property \"%s\" is not allowed",
									 key);
						FAIL_OR_STOP();
					}
					else if (!js_eval_child(c, &p->sub, f, val, key, 0))
						FAIL_OR_STOP();
				}
			}
			for (int k = 0; k < n->n_pprops; k++)
			{
				int r = js_regex_search(n->pprops[k].re, key, strlen(key));

				if (r < 0)
				{
					js_fatal(c, f, n->pprops[k].sub.kw, "pattern matching exceeded its step limit");
					return false;
				}
				if (r == 0)
					continue;
				matched = true;
				if (!js_eval_child(c, &n->pprops[k].sub, f, val, key, 0))
					FAIL_OR_STOP();
			}
			if (!matched && n->additional_props.node)
			{
				matched = true;
				if (n->additional_props.node->boolean == 0)
				{
					js_report_at(c, f, key, 0, "additionalProperties",
								 "property \"%s\" is not allowed", key);
					FAIL_OR_STOP();
				}
				else if (!js_eval_child(c, &n->additional_props, f, val, key, 0))
					FAIL_OR_STOP();
			}
			if (matched)
				js_annot_set(f->ann, i);
			if (n->property_names.node && !check_names(c, n, f, key, 0))
				FAIL_OR_STOP();
			i++;
		}
	}
	for (int d = 0; d < n->n_dep_schemas; d++)
	{
		const js_depsch *ds = &n->dep_schemas[d];

		if (json_object_object_get_ex(inst, ds->key, NULL) &&
			!js_eval_inplace(c, &ds->sub, f, f->ann))
			FAIL_OR_STOP();
	}
	return valid;
}

bool
js_kw_uneval_object(js_vctx *c, const js_node *n, const js_frame *f)
{
	bool valid = true;
	size_t i = 0;

	json_object_object_foreach(f->inst, key, val)
	{
		if (!js_annot_test(f->ann, i))
		{
			if (n->uneval_props.node->boolean == 0)
			{
				js_report_at(c, f, key, 0, "unevaluatedProperties",
							 "property \"%s\" is not allowed (unevaluated)", key);
				FAIL_OR_STOP();
			}
			else if (!js_eval_child(c, &n->uneval_props, f, val, key, 0))
				FAIL_OR_STOP();
		}
		i++;
	}
	return valid;
}
