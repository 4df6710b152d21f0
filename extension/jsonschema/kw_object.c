/*
 * kw_object.c - keywords for objects: properties, patternProperties, additionalProperties,
 * propertyNames, required, dependentRequired, dependentSchemas (draft-07 "dependencies"),
 * min/maxProperties and unevaluatedProperties.
 */
#include <string.h>

#include "js_internal.h"

/* the member's key was hashed when the document was built: no hashing here */
static const js_prop *
find_prop(const js_node *n, const char *key, size_t klen, uint32_t h)
{
	unsigned mask = (unsigned) n->prop_tab_size - 1;

	for (unsigned i = h & mask; n->prop_tab[i]; i = (i + 1) & mask)
	{
		const js_prop *p = &n->props[n->prop_tab[i] - 1];

		if (p->hash == h && p->klen == klen && memcmp(p->key, key, klen) == 0)
			return p;
	}
	return NULL;
}

static bool
check_names(js_vctx *c, const js_node *n, const js_frame *f, const js_member *m)
{
	js_value name = {0};

	/* the key as a string value: it points into the instance's document, nothing to free */
	name.type = JS_STRING;
	name.len = m->klen;
	name.u.s = m->key;
	return js_eval_child(c, &n->property_names, f, &name, m->key, m->klen);
}

static bool
has_name(const js_value *inst, const js_name *name)
{
	return js_object_getn(inst, name->s, name->len, name->hash) != NULL;
}

bool
js_kw_object(js_vctx *c, const js_node *n, const js_frame *f)
{
	const js_value *inst = f->inst;
	int size = (int) inst->len;
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
		if (!has_name(inst, &n->required[r]))
		{
			js_report(c, f, "required", "missing required property \"%s\"", n->required[r].s);
			FAIL_OR_STOP();
		}
	}
	for (int d = 0; d < n->n_dep_required; d++)
	{
		const js_depreq *dr = &n->dep_required[d];

		if (!has_name(inst, &dr->key))
			continue;
		for (int k = 0; k < dr->n_names; k++)
		{
			if (!has_name(inst, &dr->names[k]))
			{
				js_report(c, f, dr->kw, "property \"%s\" requires property \"%s\"", dr->key.s,
						  dr->names[k].s);
				FAIL_OR_STOP();
			}
		}
	}
	if (n->n_props || n->n_pprops || n->additional_props.node || n->property_names.node)
	{
		JV_FOREACH(inst, m)
		{
			const char *key = m->key;
			const js_value *val = &m->val;
			bool matched = false;

			if (n->n_props)
			{
				const js_prop *p = find_prop(n, key, m->klen, m->hash);

				if (p)
				{
					matched = true;
					if (p->sub.node->boolean == 0)
					{
						js_report_at(c, f, key, m->klen, p->sub.kw,
									 "property \"%s\" is not allowed", key);
						FAIL_OR_STOP();
					}
					else if (!js_eval_child(c, &p->sub, f, val, key, m->klen))
						FAIL_OR_STOP();
				}
			}
			for (int k = 0; k < n->n_pprops; k++)
			{
				int r = js_regex_search(n->pprops[k].re, key, m->klen);

				if (r < 0)
				{
					js_fatal(c, f, n->pprops[k].sub.kw, "pattern matching exceeded its step limit");
					return false;
				}
				if (r == 0)
					continue;
				matched = true;
				if (!js_eval_child(c, &n->pprops[k].sub, f, val, key, m->klen))
					FAIL_OR_STOP();
			}
			if (!matched && n->additional_props.node)
			{
				matched = true;
				if (n->additional_props.node->boolean == 0)
				{
					js_report_at(c, f, key, m->klen, "additionalProperties",
								 "property \"%s\" is not allowed", key);
					FAIL_OR_STOP();
				}
				else if (!js_eval_child(c, &n->additional_props, f, val, key, m->klen))
					FAIL_OR_STOP();
			}
			if (matched)
				js_annot_set(f->ann, i);
			if (n->property_names.node && !check_names(c, n, f, m))
				FAIL_OR_STOP();
			i++;
		}
	}
	for (int d = 0; d < n->n_dep_schemas; d++)
	{
		const js_depsch *ds = &n->dep_schemas[d];

		if (has_name(inst, &ds->key) && !js_eval_inplace(c, &ds->sub, f, f->ann))
			FAIL_OR_STOP();
	}
	return valid;
}

bool
js_kw_uneval_object(js_vctx *c, const js_node *n, const js_frame *f)
{
	bool valid = true;
	size_t i = 0;

	JV_FOREACH(f->inst, m)
	{
		if (!js_annot_test(f->ann, i))
		{
			if (n->uneval_props.node->boolean == 0)
			{
				js_report_at(c, f, m->key, m->klen, "unevaluatedProperties",
							 "property \"%s\" is not allowed (unevaluated)", m->key);
				FAIL_OR_STOP();
			}
			else if (!js_eval_child(c, &n->uneval_props, f, &m->val, m->key, m->klen))
				FAIL_OR_STOP();
		}
		i++;
	}
	return valid;
}
