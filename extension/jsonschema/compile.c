/*
 * compile.c - js_compile: index the schema resources ($id, $anchor, $dynamicAnchor) of every
 * document a schema reaches, resolve each $ref and $dynamicRef once, and turn every schema
 * object into a js_node with its keywords pre-processed (regexes compiled, property tables
 * hashed, keyword locations pre-rendered), so that validation does no lookups or allocation.
 *
 * Nodes are built from a work list, never by recursion through $ref, so reference cycles and
 * long chains cost no stack; lexical nesting is bounded by limits.max_depth.
 */
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"

typedef struct sinfo
{
	const js_value *obj;
	const char *base; /* absolute URI of the enclosing resource, no fragment */
	int draft;
	unsigned vocab;
	js_resource *res;
	js_node *node;
} sinfo;

typedef struct cctx
{
	js_schema *s;
	js_registry *reg;
	js_arena *arena;
	js_map objs;    /* js_value* bytes -> sinfo* */
	js_map uris;    /* resource URI -> sinfo* of its root */
	js_map anchors; /* "uri#name" -> sinfo* */
	js_map loaded;  /* document URIs already looked for */
	sinfo **work;
	int n_work, cap_work;
	js_node *true_node, *false_node;
	int default_draft;
	int max_depth;
	char *err;
} cctx;

static void
fail(cctx *c, char *msg)
{
	if (c->err == NULL)
		c->err = msg ? msg : js_strdup("out of memory");
	else
		free(msg);
}

static void
oom(cctx *c)
{
	fail(c, NULL);
}

static bool
get_member(const js_value *o, const char *key, const js_value **val)
{
	*val = js_object_get(o, key);
	return *val != NULL;
}

static const char *
get_string(const js_value *o, const char *key)
{
	return js_string_member(o, key);
}

static bool
is_schema_value(const js_value *v)
{
	return v->type == JS_OBJECT || v->type == JS_BOOL;
}

/* ---- drafts and vocabularies ---- */

static bool
uri_eq(const char *a, const char *b)
{
	size_t la = js_uri_doc_len(a), lb = js_uri_doc_len(b);

	return la == lb && memcmp(a, b, la) == 0 && (a[la] == '\0' || strcmp(a + la, "#") == 0);
}

static int
known_draft(const char *uri)
{
	if (uri_eq(uri, "https://json-schema.org/draft/2020-12/schema") ||
		uri_eq(uri, "https://json-schema.org/draft/2019-09/schema"))
		return JS_DRAFT2020;
	if (uri_eq(uri, "http://json-schema.org/draft-07/schema") ||
		uri_eq(uri, "http://json-schema.org/draft-06/schema") ||
		uri_eq(uri, "http://json-schema.org/draft-04/schema"))
		return JS_DRAFT7;
	return 0;
}

static unsigned
vocab_of(const js_value *voc)
{
	unsigned v = 0;
	static const struct
	{
		const char *suffix;
		unsigned bit;
	} known[] = {
		{"/vocab/applicator", JS_VOC_APPLICATOR},   {"/vocab/validation", JS_VOC_VALIDATION},
		{"/vocab/unevaluated", JS_VOC_UNEVALUATED}, {"/vocab/format-annotation", JS_VOC_FORMAT},
		{"/vocab/format-assertion", JS_VOC_FORMAT},
	};

	JV_FOREACH(voc, m)
	{
		const char *key = m->key;

		if (strncmp(key, "https://json-schema.org/draft/", 30) != 0)
			continue;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		{
			size_t kl = strlen(key), sl = strlen(known[i].suffix);

			if (kl > sl && strcmp(key + kl - sl, known[i].suffix) == 0)
				v |= known[i].bit;
		}
	}
	return v;
}

static const js_value *load_document(cctx *c, const char *uri, size_t len);

/* the draft and vocabularies a "$schema" value selects */
static void
dialect(cctx *c, const char *schema_uri, int *draft, unsigned *vocab)
{
	int d = known_draft(schema_uri);
	const js_value *meta, *voc;
	const char *meta_schema;

	*vocab = JS_VOC_ALL;
	if (d)
	{
		*draft = d;
		return;
	}
	/* a custom meta-schema: its own $schema gives the draft, its $vocabulary the keywords */
	meta = load_document(c, schema_uri, js_uri_doc_len(schema_uri));
	if (meta == NULL || meta->type != JS_OBJECT)
		return;
	meta_schema = get_string(meta, "$schema");
	if (meta_schema && known_draft(meta_schema))
		*draft = known_draft(meta_schema);
	if (*draft == JS_DRAFT2020 && get_member(meta, "$vocabulary", &voc) && voc->type == JS_OBJECT)
		*vocab = vocab_of(voc);
}

/* ---- indexing ---- */

static sinfo *
info_of(cctx *c, const js_value *o)
{
	return js_map_get(&c->objs, &o, sizeof(o));
}

static js_resource *
new_resource(cctx *c)
{
	js_resource *r = js_arena_alloc(c->arena, sizeof(*r));

	if (r == NULL)
		oom(c);
	return r;
}

static void
add_dyn_anchor(cctx *c, js_resource *r, const char *name, const js_value *obj)
{
	if (r->n_dyn == r->cap_dyn)
	{
		int ncap = r->cap_dyn ? r->cap_dyn * 2 : 4;
		js_dynanchor *nd = js_arena_alloc(c->arena, (size_t) ncap * sizeof(*nd));

		if (nd == NULL)
		{
			oom(c);
			return;
		}
		if (r->n_dyn)
			memcpy(nd, r->dyn, (size_t) r->n_dyn * sizeof(*nd));
		r->dyn = nd;
		r->cap_dyn = ncap;
	}
	r->dyn[r->n_dyn].name = js_arena_strndup(c->arena, name, strlen(name));
	r->dyn[r->n_dyn].obj = obj;
	r->dyn[r->n_dyn].node = NULL;
	r->n_dyn++;
}

static void
put_anchor(cctx *c, const char *base, const char *name, sinfo *info)
{
	char *key = js_asprintf("%s#%s", base, name);

	if (key == NULL || js_map_put(&c->anchors, key, strlen(key), info) < 0)
		oom(c);
	free(key);
}

static void index_schema(cctx *c, const js_value *o, const char *base, int draft, unsigned vocab,
						 js_resource *res, bool doc_root, int depth);

static void
index_map(cctx *c, const js_value *m, sinfo *in, int depth)
{
	if (m->type != JS_OBJECT)
		return;
	JV_FOREACH(m, mem)
	{
		index_schema(c, &mem->val, in->base, in->draft, in->vocab, in->res, false, depth + 1);
	}
}

static void
index_array(cctx *c, const js_value *a, sinfo *in, int depth)
{
	if (a->type != JS_ARRAY)
		return;
	for (uint32_t i = 0; i < a->len; i++)
		index_schema(c, &a->u.items[i], in->base, in->draft, in->vocab, in->res, false, depth + 1);
}

static void
index_schema(cctx *c, const js_value *o, const char *base, int draft, unsigned vocab,
			 js_resource *res, bool doc_root, int depth)
{
	const char *id, *sch, *anchor;
	sinfo *in;
	const js_value *ref;
	bool is_root = doc_root;

	if (c->err || o->type != JS_OBJECT || info_of(c, o))
		return;
	if (depth > c->max_depth)
	{
		fail(c, js_asprintf("schema nesting exceeds the limit of %d levels", c->max_depth));
		return;
	}
	id = get_string(o, "$id");
	sch = get_string(o, "$schema");
	if (sch && (doc_root || id))
		dialect(c, sch, &draft, &vocab);
	if (draft == JS_DRAFT7 && get_member(o, "$ref", &ref))
		id = NULL; /* draft-07: $ref makes its siblings, $id included, ignored */
	if (id)
	{
		char *abs = js_uri_resolve(base, id);
		size_t dl;

		if (abs == NULL)
		{
			oom(c);
			return;
		}
		dl = js_uri_doc_len(abs);
		if (draft == JS_DRAFT7 && id[0] == '#')
		{
			/* a plain-name fragment: a location-independent identifier */
			abs[dl] = '\0';
			in = js_arena_alloc(c->arena, sizeof(*in));
			if (in == NULL)
			{
				free(abs);
				oom(c);
				return;
			}
			in->base = base;
			put_anchor(c, base, id + 1, in);
			free(abs);
			goto have_info;
		}
		if (draft == JS_DRAFT7 && abs[dl] == '#' && abs[dl + 1])
		{
			abs[dl] = '\0';
			base = js_arena_strndup(c->arena, abs, dl);
			in = js_arena_alloc(c->arena, sizeof(*in));
			if (base == NULL || in == NULL)
			{
				free(abs);
				oom(c);
				return;
			}
			put_anchor(c, base, abs + dl + 1, in);
		}
		else
		{
			in = js_arena_alloc(c->arena, sizeof(*in));
			base = js_arena_strndup(c->arena, abs, dl);
			if (base == NULL || in == NULL)
			{
				free(abs);
				oom(c);
				return;
			}
		}
		free(abs);
		is_root = true;
		if (js_map_put(&c->uris, base, strlen(base), in) < 0)
			oom(c);
	}
	else
	{
		in = js_arena_alloc(c->arena, sizeof(*in));
		if (in == NULL)
		{
			oom(c);
			return;
		}
		in->base = base;
	}
have_info:
	if (is_root || res == NULL)
		res = new_resource(c);
	if (c->err)
		return;
	in->obj = o;
	in->base = base;
	in->draft = draft;
	in->vocab = vocab;
	in->res = res;
	if (js_map_put(&c->objs, &o, sizeof(o), in) < 0)
	{
		oom(c);
		return;
	}
	if (draft == JS_DRAFT2020)
	{
		if ((anchor = get_string(o, "$anchor")) != NULL)
			put_anchor(c, base, anchor, in);
		if ((anchor = get_string(o, "$dynamicAnchor")) != NULL)
		{
			put_anchor(c, base, anchor, in);
			add_dyn_anchor(c, res, anchor, o);
		}
	}
	JV_FOREACH(o, m)
	{
		const char *key = m->key;
		const js_value *val = &m->val;

		if (c->err)
			return;
		if (strcmp(key, "properties") == 0 || strcmp(key, "patternProperties") == 0 ||
			strcmp(key, "$defs") == 0 || strcmp(key, "definitions") == 0 ||
			strcmp(key, "dependentSchemas") == 0 || strcmp(key, "dependencies") == 0)
			index_map(c, val, in, depth);
		else if (strcmp(key, "allOf") == 0 || strcmp(key, "anyOf") == 0 ||
				 strcmp(key, "oneOf") == 0 || strcmp(key, "prefixItems") == 0 ||
				 strcmp(key, "items") == 0)
		{
			if (val->type == JS_ARRAY)
				index_array(c, val, in, depth);
			else
				index_schema(c, val, base, draft, vocab, res, false, depth + 1);
		}
		else if (strcmp(key, "enum") == 0 || strcmp(key, "const") == 0 ||
				 strcmp(key, "default") == 0 || strcmp(key, "examples") == 0 ||
				 strcmp(key, "$vocabulary") == 0)
			continue;
		else
			index_schema(c, val, base, draft, vocab, res, false, depth + 1);
	}
}

/* find and index the document for uri (no fragment): registry, $id aliases, meta-schemas */
static const js_value *
load_document(cctx *c, const char *uri, size_t len)
{
	js_doc *doc;
	const js_value *root;
	const char *alias, *text;
	sinfo *in;
	char *key;
	int draft = c->default_draft;
	unsigned vocab = JS_VOC_ALL;

	if ((in = js_map_get(&c->uris, uri, len)) != NULL)
		return in->obj;
	if (js_map_get(&c->loaded, uri, len))
		return NULL;
	if (js_map_put(&c->loaded, uri, len, c) < 0)
	{
		oom(c);
		return NULL;
	}
	doc = js_map_get(&c->reg->docs, uri, len);
	if (doc == NULL && (alias = js_map_get(&c->reg->ids, uri, len)) != NULL)
	{
		load_document(c, alias, strlen(alias));
		in = js_map_get(&c->uris, uri, len);
		return in ? in->obj : NULL;
	}
	if (doc == NULL && (text = js_metaschema_text(uri, len)) != NULL)
	{
		char *err = NULL;

		doc = js_parse(text, strlen(text), NULL, &err);
		free(err);
		if (doc == NULL)
		{
			oom(c);
			return NULL;
		}
	}
	else if (doc == NULL)
		return NULL;
	else
		js_doc_ref(doc);
	/* the schema keeps its documents alive, independently of the registry */
	{
		js_doc **nd = realloc(c->s->docs, (size_t) (c->s->n_docs + 1) * sizeof(*nd));

		if (nd == NULL)
		{
			js_doc_free(doc);
			oom(c);
			return NULL;
		}
		c->s->docs = nd;
		nd[c->s->n_docs++] = doc;
	}
	key = js_arena_strndup(c->arena, uri, len);
	if (key == NULL)
	{
		oom(c);
		return NULL;
	}
	root = js_doc_root(doc);
	if (root->type == JS_OBJECT)
	{
		index_schema(c, root, key, draft, vocab, NULL, true, 0);
		in = info_of(c, root);
	}
	else
	{
		/* a boolean document */
		in = js_arena_alloc(c->arena, sizeof(*in));
		if (in)
		{
			in->obj = root;
			in->base = key;
			in->draft = draft;
			in->vocab = vocab;
			in->res = new_resource(c);
			if (js_map_put(&c->objs, &root, sizeof(root), in) < 0)
				oom(c);
		}
	}
	if (in && js_map_put(&c->uris, uri, len, in) < 0)
		oom(c);
	return root;
}

/* resolve ref against base; the target's info or NULL (with c->err unset: unresolvable) */
static sinfo *
resolve(cctx *c, const char *base, const char *ref, sinfo *from)
{
	char *abs = js_uri_resolve(base, ref);
	size_t dl;
	const char *frag;
	sinfo *root, *target = NULL;

	if (abs == NULL)
	{
		oom(c);
		return NULL;
	}
	dl = js_uri_doc_len(abs);
	frag = abs[dl] == '#' ? abs + dl + 1 : "";
	root = js_map_get(&c->uris, abs, dl);
	if (root == NULL && load_document(c, abs, dl))
		root = js_map_get(&c->uris, abs, dl);
	if (root == NULL)
	{
		free(abs);
		return NULL;
	}
	if (frag[0] == '\0')
		target = root;
	else if (frag[0] == '/')
	{
		char *ptr = js_percent_decode(frag, strlen(frag));
		const js_value *t;

		if (ptr == NULL)
		{
			oom(c);
			free(abs);
			return NULL;
		}
		t = js_pointer_get(root->obj, ptr, strlen(ptr));
		free(ptr);
		if (t && (target = info_of(c, t)) == NULL && is_schema_value(t))
		{
			/* a schema in a place the indexer does not treat as one */
			if (t->type == JS_OBJECT)
			{
				index_schema(c, t, root->base, root->draft, root->vocab, root->res, false, 0);
				target = info_of(c, t);
			}
			else
			{
				target = js_arena_alloc(c->arena, sizeof(*target));
				if (target)
				{
					target->obj = t;
					target->base = root->base;
					target->draft = root->draft;
					target->vocab = root->vocab;
					target->res = root->res;
					if (js_map_put(&c->objs, &t, sizeof(t), target) < 0)
						oom(c);
				}
			}
		}
	}
	else
	{
		char *decoded = js_percent_decode(abs, strlen(abs));

		target = decoded ? js_map_get(&c->anchors, decoded, strlen(decoded)) : NULL;
		free(decoded);
	}
	(void) from;
	free(abs);
	return target;
}

/* ---- nodes ---- */

static const js_node *
node_for(cctx *c, sinfo *in)
{
	if (in == NULL)
		return NULL;
	if (in->obj->type == JS_BOOL)
		return in->obj->b ? c->true_node : c->false_node;
	if (in->node)
		return in->node;
	in->node = js_arena_alloc(c->arena, sizeof(js_node));
	if (in->node == NULL)
	{
		oom(c);
		return NULL;
	}
	if (c->n_work == c->cap_work)
	{
		int ncap = c->cap_work ? c->cap_work * 2 : 64;
		sinfo **nw = realloc(c->work, (size_t) ncap * sizeof(*nw));

		if (nw == NULL)
		{
			oom(c);
			return NULL;
		}
		c->work = nw;
		c->cap_work = ncap;
	}
	c->work[c->n_work++] = in;
	return in->node;
}

/* the node of a subschema value met lexically inside parent */
static const js_node *
sub_node(cctx *c, sinfo *parent, const js_value *v)
{
	sinfo *in;

	if (v->type == JS_BOOL)
		return v->b ? c->true_node : c->false_node;
	if (v->type != JS_OBJECT)
		return NULL;
	in = info_of(c, v);
	if (in == NULL)
	{
		index_schema(c, v, parent->base, parent->draft, parent->vocab, parent->res, false, 0);
		in = info_of(c, v);
	}
	return node_for(c, in);
}

static const char *
kw_seg(cctx *c, const char *kw, const char *key, long idx)
{
	js_buf b = {0};
	char *s;
	const char *r;

	js_buf_puts(&b, kw);
	if (key)
	{
		js_buf_putc(&b, '/');
		js_pointer_escape(&b, key, strlen(key));
	}
	else if (idx >= 0)
		js_buf_printf(&b, "/%ld", idx);
	s = js_buf_take(&b);
	if (s == NULL)
	{
		oom(c);
		return "";
	}
	r = js_arena_strndup(c->arena, s, strlen(s));
	free(s);
	if (r == NULL)
	{
		oom(c);
		return "";
	}
	return r;
}

static void
set_sub(cctx *c, sinfo *in, js_sub *sub, const char *kw)
{
	const js_value *v;

	if (get_member(in->obj, kw, &v) && is_schema_value(v))
	{
		sub->node = sub_node(c, in, v);
		sub->kw = kw;
	}
}

static int
sub_array(cctx *c, sinfo *in, const js_value *a, const char *kw, js_sub **out)
{
	size_t n;
	js_sub *subs;

	if (a->type != JS_ARRAY || (n = a->len) == 0)
		return 0;
	subs = js_arena_alloc(c->arena, n * sizeof(*subs));
	if (subs == NULL)
	{
		oom(c);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
	{
		const js_value *v = &a->u.items[i];

		subs[i].node = is_schema_value(v) ? sub_node(c, in, v) : NULL;
		subs[i].kw = kw_seg(c, kw, NULL, (long) i);
	}
	*out = subs;
	return (int) n;
}

static bool
get_count(const js_value *o, const char *key, int64_t *out)
{
	const js_value *v;
	js_num n;

	*out = -1;
	if (!get_member(o, key, &v) || !js_num_get(v, &n) || !js_num_is_integer(&n))
		return false;
	if (n.kind == JS_NUM_INT)
		*out = n.i < 0 ? -1 : n.i;
	else if (n.kind == JS_NUM_UINT)
		*out = INT64_MAX;
	else
		*out = n.d < 0 ? -1 : (n.d > 9.2e18 ? INT64_MAX : (int64_t) n.d);
	return true;
}

static void
get_bound(const js_value *o, const char *key, js_num *out, unsigned *flags, unsigned bit)
{
	const js_value *v;

	if (get_member(o, key, &v) && js_num_get(v, out))
		*flags |= bit;
}

static js_regex *
compile_regex(cctx *c, const char *src, size_t len, const char *where)
{
	char *err = NULL;
	js_regex *re = js_regex_compile(src, len, &err);
	js_regex **nr;

	if (re == NULL)
	{
		fail(c, js_asprintf("invalid regular expression in %s: %s", where, err ? err : "?"));
		free(err);
		return NULL;
	}
	nr = realloc(c->s->regexes, (size_t) (c->s->n_regexes + 1) * sizeof(*nr));
	if (nr == NULL)
	{
		js_regex_free(re);
		oom(c);
		return NULL;
	}
	c->s->regexes = nr;
	nr[c->s->n_regexes++] = re;
	return re;
}

static js_name *
string_array(cctx *c, const js_value *a, int *n_out)
{
	size_t n = a->len;
	js_name *names = js_arena_alloc(c->arena, (n ? n : 1) * sizeof(*names));
	int k = 0;

	if (names == NULL)
	{
		oom(c);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
	{
		const js_value *v = &a->u.items[i];

		if (v->type == JS_STRING)
		{
			names[k].s = v->u.s;
			names[k].len = v->len;
			names[k].hash = js_hash(v->u.s, v->len);
			k++;
		}
	}
	*n_out = k;
	return names;
}

static unsigned
type_bit(const char *t)
{
	static const struct
	{
		const char *name;
		unsigned bit;
	} types[] = {{"null", JS_T_NULL},      {"boolean", JS_T_BOOLEAN}, {"object", JS_T_OBJECT},
				 {"array", JS_T_ARRAY},    {"number", JS_T_NUMBER},   {"string", JS_T_STRING},
				 {"integer", JS_T_INTEGER}};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
	{
		if (strcmp(types[i].name, t) == 0)
			return types[i].bit;
	}
	return 0;
}

static void
compile_properties(cctx *c, sinfo *in, js_node *n, const js_value *props)
{
	int count = (int) props->len, i = 0, size = 4;

	if (count == 0)
		return;
	n->props = js_arena_alloc(c->arena, (size_t) count * sizeof(js_prop));
	while (size < 2 * count)
		size *= 2;
	n->prop_tab = js_arena_alloc(c->arena, (size_t) size * sizeof(int));
	if (n->props == NULL || n->prop_tab == NULL)
	{
		oom(c);
		return;
	}
	n->prop_tab_size = size;
	JV_FOREACH(props, m)
	{
		js_prop *p = &n->props[i];
		unsigned h;

		if (!is_schema_value(&m->val))
			continue;
		/* the key's hash, computed when the schema was read, is the instance keys' hash too */
		p->key = m->key;
		p->klen = m->klen;
		p->hash = m->hash;
		p->sub.node = sub_node(c, in, &m->val);
		p->sub.kw = kw_seg(c, "properties", m->key, -1);
		for (h = p->hash & (unsigned) (size - 1); n->prop_tab[h];
			 h = (h + 1) & (unsigned) (size - 1))
			;
		n->prop_tab[h] = i + 1;
		i++;
	}
	n->n_props = i;
}

static void
compile_node(cctx *c, sinfo *in)
{
	const js_value *o = in->obj, *v;
	js_node *n = in->node;
	bool d7 = in->draft == JS_DRAFT7;
	const char *s;

	n->boolean = -1;
	n->draft = in->draft;
	n->resource = in->res;
	n->max_length = n->min_length = n->max_items = n->min_items = -1;
	n->max_props = n->min_props = n->min_contains = n->max_contains = -1;
	/* every dynamic anchor of a resource we may enter must have its node */
	for (int i = 0; i < in->res->n_dyn; i++)
	{
		if (in->res->dyn[i].node == NULL)
			in->res->dyn[i].node = node_for(c, info_of(c, in->res->dyn[i].obj));
	}
	if ((s = get_string(o, "$ref")) != NULL)
	{
		sinfo *t = resolve(c, in->base, s, in);

		if (t == NULL)
		{
			fail(c, js_asprintf("cannot resolve $ref \"%s\" (base \"%s\")", s, in->base));
			return;
		}
		n->ref.node = node_for(c, t);
		n->ref.kw = "$ref";
		if (d7)
			return; /* draft-07: siblings of $ref are ignored */
	}
	if (!d7 && (s = get_string(o, "$dynamicRef")) != NULL)
	{
		sinfo *t = resolve(c, in->base, s, in);
		const char *hash = strchr(s, '#');

		if (t == NULL)
		{
			fail(c, js_asprintf("cannot resolve $dynamicRef \"%s\" (base \"%s\")", s, in->base));
			return;
		}
		n->dynref.node = node_for(c, t);
		n->dynref.kw = "$dynamicRef";
		if (hash && hash[1] && hash[1] != '/' && t->obj->type == JS_OBJECT)
		{
			const char *da = get_string(t->obj, "$dynamicAnchor");

			if (da && strcmp(da, hash + 1) == 0)
				n->dyn_anchor = da;
		}
	}
	if (in->vocab & JS_VOC_APPLICATOR)
	{
		if (get_member(o, "allOf", &v))
			n->n_all_of = sub_array(c, in, v, "allOf", &n->all_of);
		if (get_member(o, "anyOf", &v))
			n->n_any_of = sub_array(c, in, v, "anyOf", &n->any_of);
		if (get_member(o, "oneOf", &v))
			n->n_one_of = sub_array(c, in, v, "oneOf", &n->one_of);
		set_sub(c, in, &n->not_, "not");
		set_sub(c, in, &n->if_, "if");
		if (n->if_.node)
		{
			set_sub(c, in, &n->then_, "then");
			set_sub(c, in, &n->else_, "else");
		}
		if (get_member(o, "properties", &v) && v->type == JS_OBJECT)
			compile_properties(c, in, n, v);
		if (get_member(o, "patternProperties", &v) && v->type == JS_OBJECT)
		{
			int count = (int) v->len, i = 0;

			n->pprops = js_arena_alloc(c->arena, (size_t) (count ? count : 1) * sizeof(js_pprop));
			if (n->pprops == NULL)
				oom(c);
			JV_FOREACH(v, m)
			{
				if (c->err || !is_schema_value(&m->val))
					continue;
				n->pprops[i].re = compile_regex(c, m->key, m->klen, "patternProperties");
				n->pprops[i].sub.node = sub_node(c, in, &m->val);
				n->pprops[i].sub.kw = kw_seg(c, "patternProperties", m->key, -1);
				i++;
			}
			n->n_pprops = i;
		}
		set_sub(c, in, &n->additional_props, "additionalProperties");
		set_sub(c, in, &n->property_names, "propertyNames");
		if (d7)
		{
			if (get_member(o, "items", &v) && v->type == JS_ARRAY)
			{
				n->n_prefix = sub_array(c, in, v, "items", &n->prefix);
				n->prefix_kw = "items";
				set_sub(c, in, &n->items, "additionalItems");
			}
			else
				set_sub(c, in, &n->items, "items");
		}
		else
		{
			if (get_member(o, "prefixItems", &v))
				n->n_prefix = sub_array(c, in, v, "prefixItems", &n->prefix);
			n->prefix_kw = "prefixItems";
			set_sub(c, in, &n->items, "items");
		}
		set_sub(c, in, &n->contains, "contains");
		if (get_member(o, d7 ? "dependencies" : "dependentSchemas", &v) && v->type == JS_OBJECT)
		{
			int count = (int) v->len, i = 0;

			n->dep_schemas =
				js_arena_alloc(c->arena, (size_t) (count ? count : 1) * sizeof(js_depsch));
			if (n->dep_schemas == NULL)
				oom(c);
			JV_FOREACH(v, m)
			{
				if (c->err || !is_schema_value(&m->val))
					continue;
				n->dep_schemas[i].key = (js_name){m->key, m->klen, m->hash};
				n->dep_schemas[i].sub.node = sub_node(c, in, &m->val);
				n->dep_schemas[i].sub.kw =
					kw_seg(c, d7 ? "dependencies" : "dependentSchemas", m->key, -1);
				i++;
			}
			n->n_dep_schemas = i;
		}
	}
	if (!d7 && (in->vocab & JS_VOC_UNEVALUATED))
	{
		set_sub(c, in, &n->uneval_props, "unevaluatedProperties");
		set_sub(c, in, &n->uneval_items, "unevaluatedItems");
		n->has_uneval = n->uneval_props.node || n->uneval_items.node;
	}
	if (in->vocab & JS_VOC_VALIDATION)
	{
		if (get_member(o, "type", &v))
		{
			if (v->type == JS_STRING)
				n->types = type_bit(v->u.s);
			else if (v->type == JS_ARRAY)
			{
				for (uint32_t i = 0; i < v->len; i++)
				{
					const js_value *t = &v->u.items[i];

					if (t->type == JS_STRING)
						n->types |= type_bit(t->u.s);
				}
			}
			if (n->types == 0)
				fail(c, js_strdup("invalid \"type\" in schema"));
		}
		if (get_member(o, "const", &v))
		{
			n->has_const = true;
			n->const_v = v;
		}
		if (get_member(o, "enum", &v) && v->type == JS_ARRAY)
			n->enum_v = v;
		get_bound(o, "maximum", &n->maximum, &n->num_flags, JS_HAS_MAXIMUM);
		get_bound(o, "minimum", &n->minimum, &n->num_flags, JS_HAS_MINIMUM);
		get_bound(o, "exclusiveMaximum", &n->ex_maximum, &n->num_flags, JS_HAS_EXMAX);
		get_bound(o, "exclusiveMinimum", &n->ex_minimum, &n->num_flags, JS_HAS_EXMIN);
		get_bound(o, "multipleOf", &n->multiple_of, &n->num_flags, JS_HAS_MULTIPLE);
		get_count(o, "maxLength", &n->max_length);
		get_count(o, "minLength", &n->min_length);
		get_count(o, "maxItems", &n->max_items);
		get_count(o, "minItems", &n->min_items);
		get_count(o, "maxProperties", &n->max_props);
		get_count(o, "minProperties", &n->min_props);
		if (!d7)
		{
			get_count(o, "maxContains", &n->max_contains);
			get_count(o, "minContains", &n->min_contains);
		}
		if (get_member(o, "uniqueItems", &v) && v->type == JS_BOOL)
			n->unique_items = v->b;
		if ((s = get_string(o, "pattern")) != NULL)
		{
			get_member(o, "pattern", &v);
			n->pattern = compile_regex(c, s, v->len, "pattern");
			n->pattern_src = s;
		}
		if (get_member(o, "required", &v) && v->type == JS_ARRAY)
			n->required = string_array(c, v, &n->n_required);
		if (get_member(o, d7 ? "dependencies" : "dependentRequired", &v) && v->type == JS_OBJECT)
		{
			int count = (int) v->len, i = 0;

			n->dep_required =
				js_arena_alloc(c->arena, (size_t) (count ? count : 1) * sizeof(js_depreq));
			if (n->dep_required == NULL)
				oom(c);
			JV_FOREACH(v, m)
			{
				if (c->err || m->val.type != JS_ARRAY)
					continue;
				n->dep_required[i].key = (js_name){m->key, m->klen, m->hash};
				n->dep_required[i].names = string_array(c, &m->val, &n->dep_required[i].n_names);
				n->dep_required[i].kw =
					kw_seg(c, d7 ? "dependencies" : "dependentRequired", m->key, -1);
				i++;
			}
			n->n_dep_required = i;
		}
	}
	if ((in->vocab & JS_VOC_FORMAT) && (s = get_string(o, "format")) != NULL)
		n->format = js_format_lookup(s);
}

void
js_schema_free(js_schema *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < s->n_regexes; i++)
		js_regex_free(s->regexes[i]);
	free(s->regexes);
	for (int i = 0; i < s->n_docs; i++)
		js_doc_free(s->docs[i]);
	free(s->docs);
	js_arena_free(&s->arena);
	free(s);
}

js_schema *
js_compile(js_registry *reg, js_doc *doc, const js_limits *limits, char **err)
{
	js_schema *s;
	cctx c;
	js_registry empty = {0};
	sinfo *root;
	const js_value *schema = js_doc_root(doc);

	*err = NULL;
	if (!is_schema_value(schema))
	{
		*err = js_strdup("a schema must be an object or a boolean");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
	{
		*err = js_strdup("out of memory");
		return NULL;
	}
	s->reg = reg;
	if (limits)
		s->limits = *limits;
	else
		js_limits_default(&s->limits);
	if (s->limits.max_depth <= 0)
		s->limits.max_depth = 512;
	if (s->limits.max_errors <= 0)
		s->limits.max_errors = 1;
	s->docs = malloc(sizeof(*s->docs));
	if (s->docs == NULL)
	{
		free(s);
		*err = js_strdup("out of memory");
		return NULL;
	}
	s->docs[s->n_docs++] = js_doc_ref(doc);

	memset(&c, 0, sizeof(c));
	c.s = s;
	c.reg = reg ? reg : &empty;
	c.arena = &s->arena;
	c.max_depth = s->limits.max_depth;
	c.default_draft = JS_DRAFT2020;
	c.true_node = js_arena_alloc(c.arena, sizeof(js_node));
	c.false_node = js_arena_alloc(c.arena, sizeof(js_node));
	if (c.true_node == NULL || c.false_node == NULL)
		oom(&c);
	else
	{
		c.true_node->boolean = 1;
		c.false_node->boolean = 0;
	}
	if (!c.err && schema->type == JS_OBJECT)
	{
		const char *sch = get_string(schema, "$schema");

		if (sch)
		{
			unsigned vocab;

			dialect(&c, sch, &c.default_draft, &vocab);
		}
		index_schema(&c, schema, "", c.default_draft, JS_VOC_ALL, NULL, true, 0);
		root = info_of(&c, schema);
		if (root && js_map_put(&c.uris, "", 0, root) < 0)
			oom(&c);
		if (!c.err)
			s->root = node_for(&c, root);
		while (!c.err && c.n_work > 0)
			compile_node(&c, c.work[--c.n_work]);
	}
	else if (!c.err)
		s->root = schema->b ? c.true_node : c.false_node;
	if (!c.err && s->root == NULL)
		oom(&c);
	free(c.work);
	js_map_free(&c.objs);
	js_map_free(&c.uris);
	js_map_free(&c.anchors);
	js_map_free(&c.loaded);
	if (c.err)
	{
		*err = c.err;
		js_schema_free(s);
		return NULL;
	}
	return s;
}
