/*
 * registry.c - documents reachable by $ref: kept by their retrieval URI, with a draft-agnostic
 * index of the absolute $id values they declare. Compilation (compile.c) indexes a document
 * fully, with its draft's rules, the first time a reference reaches it.
 */
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"

#define MAX_SCAN_DEPTH 1000

js_registry *
js_registry_new(void)
{
	return calloc(1, sizeof(js_registry));
}

void
js_registry_free(js_registry *reg)
{
	if (reg == NULL)
		return;
	for (size_t i = 0; i < reg->docs.cap; i++)
	{
		if (reg->docs.ents[i].key)
			js_doc_free(reg->docs.ents[i].val);
	}
	for (size_t i = 0; i < reg->ids.cap; i++)
	{
		if (reg->ids.ents[i].key)
			free(reg->ids.ents[i].val);
	}
	js_map_free(&reg->docs);
	js_map_free(&reg->ids);
	free(reg);
}

static bool
is_data_keyword(const char *k)
{
	return strcmp(k, "enum") == 0 || strcmp(k, "const") == 0 || strcmp(k, "default") == 0 ||
		   strcmp(k, "examples") == 0;
}

/* record the $id values found in doc (resolved against base) as aliases of uri */
static int
scan_ids(js_registry *reg, const js_value *o, const char *base, const char *uri, int depth)
{
	const char *id;
	char *own = NULL;
	int rc = 0;

	if (depth > MAX_SCAN_DEPTH)
		return 0;
	if (o->type == JS_ARRAY)
	{
		for (uint32_t i = 0; i < o->len && rc == 0; i++)
			rc = scan_ids(reg, &o->u.items[i], base, uri, depth + 1);
		return rc;
	}
	if (o->type != JS_OBJECT)
		return 0;
	if ((id = js_string_member(o, "$id")) != NULL && id[0] != '#')
	{
		own = js_uri_resolve(base, id);
		if (own == NULL)
			return -1;
		own[js_uri_doc_len(own)] = '\0';
		if (js_map_get(&reg->ids, own, strlen(own)) == NULL)
		{
			char *val = js_strdup(uri);

			if (val == NULL || js_map_put(&reg->ids, own, strlen(own), val) != 0)
			{
				free(val);
				free(own);
				return -1;
			}
		}
		base = own;
	}
	JV_FOREACH(o, m)
	{
		if (rc != 0)
			break;
		if (!is_data_keyword(m->key))
			rc = scan_ids(reg, &m->val, base, uri, depth + 1);
	}
	free(own);
	return rc;
}

int
js_registry_add(js_registry *reg, const char *uri, js_doc *doc, char **err)
{
	size_t len;
	js_doc **slot = NULL;

	*err = NULL;
	if (reg == NULL || uri == NULL || doc == NULL)
	{
		*err = js_strdup("no registry, uri or document");
		return -1;
	}
	len = js_uri_doc_len(uri);
	if (!js_uri_has_scheme(uri, len) || (uri[len] == '#' && uri[len + 1] != '\0'))
	{
		*err = js_asprintf("\"%s\" is not an absolute URI without fragment", uri);
		return -1;
	}
	for (size_t i = 0; i < reg->docs.cap; i++)
	{
		js_map_ent *e = &reg->docs.ents[i];

		if (e->key && e->klen == len && memcmp(e->key, uri, len) == 0)
			slot = (js_doc **) &e->val;
	}
	if (slot)
	{
		js_doc_ref(doc);
		js_doc_free(*slot);
		*slot = doc;
	}
	else
	{
		if (js_map_put(&reg->docs, uri, len, doc) != 0)
		{
			*err = js_strdup("out of memory");
			return -1;
		}
		js_doc_ref(doc);
	}
	{
		char *u = js_strndup(uri, len);
		int rc = u ? scan_ids(reg, js_doc_root(doc), u, u, 0) : -1;

		free(u);
		if (rc != 0)
		{
			*err = js_strdup("out of memory");
			return -1;
		}
	}
	return 0;
}
