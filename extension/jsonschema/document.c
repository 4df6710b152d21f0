/*
 * document.c - the validator's document model (jsonschema.h): documents in one arena each,
 * built by a stream of values (js_builder), read through plain structs.
 *
 * Why not json-c: a json-c document is one malloc per value, a hash table per object and a
 * reference count per value; parsing and freeing a message took about a third of validation
 * (docs/performance.md). Here a document is a few arena chunks; an object's members are one
 * array (a hash index follows the array when there are more than 8, for lookups and for the
 * repeated-key check while building); every key is hashed once, when it is read, so that the
 * validator matches it against a schema's property table without hashing it again.
 *
 * The builder keeps the values of the open containers on a stack of its own and copies each
 * container into the arena, exactly sized, when it ends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"

#define FIRST_CHUNK_MIN 1024
#define CHUNK_MAX       (1u << 20)
#define LINEAR_MEMBERS  8

struct js_doc_chunk
{
	js_doc_chunk *next;
	size_t size;
	size_t used;
	_Alignas(16) unsigned char data[];
};

/* ---- documents and their arena ---- */

static js_doc_chunk *
new_chunk(size_t size)
{
	js_doc_chunk *c = malloc(sizeof(*c) + size);

	if (c == NULL)
		return NULL;
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

js_doc *
js_doc_new(size_t size_hint)
{
	size_t size = size_hint < FIRST_CHUNK_MIN ? FIRST_CHUNK_MIN : size_hint;
	js_doc_chunk *c;
	js_doc *doc;

	if (size > CHUNK_MAX)
		size = CHUNK_MAX;
	c = new_chunk(size + sizeof(js_doc));
	if (c == NULL)
		return NULL;
	/* the document itself is the first allocation of its first chunk */
	doc = (js_doc *) c->data;
	c->used = (sizeof(js_doc) + 15) & ~(size_t) 15;
	memset(doc, 0, sizeof(*doc));
	doc->refs = 1;
	doc->chunks = c;
	doc->next_size = size * 2 > CHUNK_MAX ? CHUNK_MAX : size * 2;
	return doc;
}

void *
js_doc_alloc(js_doc *doc, size_t size)
{
	js_doc_chunk *c = doc->chunks;
	void *p;

	size = (size + 7) & ~(size_t) 7;
	if (c->size - c->used < size)
	{
		size_t csize = size > doc->next_size ? size : doc->next_size;
		js_doc_chunk *n = new_chunk(csize);

		if (n == NULL)
			return NULL;
		if (size > doc->next_size)
		{
			/* a large block gets a chunk of its own: the current one keeps its free space */
			n->next = c->next;
			c->next = n;
			n->used = size;
			return n->data;
		}
		n->next = c;
		doc->chunks = c = n;
		if (doc->next_size < CHUNK_MAX)
			doc->next_size *= 2;
	}
	p = c->data + c->used;
	c->used += size;
	return p;
}

/* give back the end of the last allocation (p, old bytes), keeping new bytes */
void
js_doc_shrink(js_doc *doc, void *p, size_t old_size, size_t new_size)
{
	js_doc_chunk *c = doc->chunks;

	old_size = (old_size + 7) & ~(size_t) 7;
	new_size = (new_size + 7) & ~(size_t) 7;
	if ((unsigned char *) p + old_size == c->data + c->used)
		c->used -= old_size - new_size;
}

const js_value *
js_doc_root(const js_doc *doc)
{
	return &doc->root;
}

js_doc *
js_doc_ref(js_doc *doc)
{
	doc->refs++;
	return doc;
}

void
js_doc_free(js_doc *doc)
{
	js_doc_chunk *c;

	if (doc == NULL || --doc->refs > 0)
		return;
	/* the document lives in its first chunk, the last of the list: read the list first */
	c = doc->chunks;
	while (c)
	{
		js_doc_chunk *next = c->next;

		free(c);
		c = next;
	}
}

/* ---- objects ---- */

static uint32_t
index_size(uint32_t n)
{
	uint32_t size = 16;

	while (size < 2 * n)
		size *= 2;
	return size;
}

static bool
same_key(const js_member *m, const char *key, size_t klen, uint32_t hash)
{
	return m->hash == hash && m->klen == klen && memcmp(m->key, key, klen) == 0;
}

const js_value *
js_object_getn(const js_value *obj, const char *key, size_t klen, uint32_t hash)
{
	const js_member *m;

	if (obj == NULL || obj->type != JS_OBJECT)
		return NULL;
	m = obj->u.members;
	if (obj->len <= LINEAR_MEMBERS)
	{
		for (uint32_t i = 0; i < obj->len; i++)
		{
			if (same_key(&m[i], key, klen, hash))
				return &m[i].val;
		}
		return NULL;
	}
	{
		const uint32_t *index = (const uint32_t *) (m + obj->len);
		uint32_t mask = index_size(obj->len) - 1;

		for (uint32_t h = hash & mask; index[h]; h = (h + 1) & mask)
		{
			if (same_key(&m[index[h] - 1], key, klen, hash))
				return &m[index[h] - 1].val;
		}
	}
	return NULL;
}

const js_value *
js_object_get(const js_value *obj, const char *key)
{
	size_t klen = strlen(key);

	return js_object_getn(obj, key, klen, js_hash(key, klen));
}

const char *
js_string_member(const js_value *obj, const char *key)
{
	const js_value *v = js_object_get(obj, key);

	return v && v->type == JS_STRING ? v->u.s : NULL;
}

/* ---- numbers ---- */

/*
 * A number token's value, typed as jsonschema.h says. The text has been checked against
 * JSON's grammar by the caller (js_parse), or comes from PostgreSQL's numeric_out.
 */
bool
js_number_value(const char *text, size_t len, js_value *out)
{
	bool neg = len > 0 && text[0] == '-';
	bool integral = true;
	uint64_t mag = 0;
	bool overflow = false;
	char buf[64];
	char *copy;

	for (size_t i = neg; i < len; i++)
	{
		char c = text[i];

		if (c < '0' || c > '9')
		{
			integral = false;
			break;
		}
		if (mag > (UINT64_MAX - (uint64_t) (c - '0')) / 10)
			overflow = true;
		else
			mag = mag * 10 + (uint64_t) (c - '0');
	}
	if (integral && len > (size_t) neg && !overflow)
	{
		if (!neg && mag <= (uint64_t) INT64_MAX)
		{
			out->type = JS_INT;
			out->u.i = (int64_t) mag;
			return true;
		}
		if (!neg)
		{
			out->type = JS_UINT;
			out->u.u = mag;
			return true;
		}
		if (mag <= (uint64_t) INT64_MAX + 1)
		{
			out->type = JS_INT;
			out->u.i = mag == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) mag;
			return true;
		}
	}
	/* a fraction, an exponent or an integer beyond 64 bits: a double, as strtod reads it */
	copy = len < sizeof(buf) ? buf : malloc(len + 1);
	if (copy == NULL)
		return false;
	memcpy(copy, text, len);
	copy[len] = '\0';
	out->type = JS_DOUBLE;
	out->u.d = strtod(copy, NULL);
	if (copy != buf)
		free(copy);
	return true;
}

/* ---- the builder ---- */

void
js_builder_init(js_builder *b, js_doc *doc)
{
	memset(b, 0, offsetof(js_builder, tmp_inline));
	b->doc = doc;
	b->tmp = b->tmp_inline;
	b->cap_tmp = JS_BUILDER_INLINE_VALUES;
	b->frames = b->frames_inline;
	b->cap_frames = JS_BUILDER_INLINE_FRAMES;
	b->failed = doc == NULL;
}

void
js_builder_release(js_builder *b)
{
	if (b->tmp != b->tmp_inline)
		free(b->tmp);
	if (b->frames != b->frames_inline)
		free(b->frames);
	b->tmp = b->tmp_inline;
	b->frames = b->frames_inline;
}

js_builder *
js_builder_new(size_t size_hint)
{
	js_builder *b = malloc(sizeof(*b));
	js_doc *doc;

	if (b == NULL)
		return NULL;
	doc = js_doc_new(size_hint);
	if (doc == NULL)
	{
		free(b);
		return NULL;
	}
	js_builder_init(b, doc);
	return b;
}

void
js_builder_free(js_builder *b)
{
	if (b == NULL)
		return;
	js_builder_release(b);
	js_doc_free(b->doc);
	free(b);
}

js_doc *
js_builder_finish(js_builder *b)
{
	js_doc *doc = js_builder_take(b);

	js_builder_release(b);
	free(b);
	return doc;
}

js_doc *
js_builder_take(js_builder *b)
{
	js_doc *doc = b->doc;

	if (b->failed || b->depth > 0 || !b->have_root)
	{
		js_doc_free(doc);
		doc = NULL;
	}
	b->doc = NULL;
	return doc;
}

int
js_builder_depth(const js_builder *b)
{
	return b->max_depth;
}

static int
fail(js_builder *b)
{
	b->failed = true;
	return -1;
}

int
js_builder_push(js_builder *b, const js_value *v)
{
	js_member *m;

	if (b->failed)
		return -1;
	if (b->depth == 0)
	{
		if (b->have_root)
			return fail(b);
		b->doc->root = *v;
		b->have_root = true;
		return 0;
	}
	if (b->frames[b->depth - 1].type == JS_OBJECT && !b->has_key)
		return fail(b);
	if (b->n_tmp == b->cap_tmp)
	{
		size_t ncap = b->cap_tmp * 2;
		js_member *nt = b->tmp == b->tmp_inline ? malloc(ncap * sizeof(*nt))
												: realloc(b->tmp, ncap * sizeof(*nt));

		if (nt == NULL)
			return fail(b);
		if (b->tmp == b->tmp_inline)
			memcpy(nt, b->tmp_inline, sizeof(b->tmp_inline));
		b->tmp = nt;
		b->cap_tmp = ncap;
	}
	m = &b->tmp[b->n_tmp++];
	if (b->has_key)
	{
		m->key = b->key;
		m->klen = b->klen;
		m->hash = b->hash;
		b->has_key = false;
	}
	m->val = *v;
	return 0;
}

static int
begin(js_builder *b, uint8_t type)
{
	js_builder_frame *f;

	if (b->failed)
		return -1;
	if ((b->depth == 0 && b->have_root) ||
		(b->depth > 0 && b->frames[b->depth - 1].type == JS_OBJECT && !b->has_key))
		return fail(b);
	if (b->depth == b->cap_frames)
	{
		int ncap = b->cap_frames * 2;
		js_builder_frame *nf = b->frames == b->frames_inline
								   ? malloc((size_t) ncap * sizeof(*nf))
								   : realloc(b->frames, (size_t) ncap * sizeof(*nf));

		if (nf == NULL)
			return fail(b);
		if (b->frames == b->frames_inline)
			memcpy(nf, b->frames_inline, sizeof(b->frames_inline));
		b->frames = nf;
		b->cap_frames = ncap;
	}
	f = &b->frames[b->depth++];
	f->start = b->n_tmp;
	f->type = type;
	f->has_key = b->has_key;
	f->key = b->key;
	f->klen = b->klen;
	f->hash = b->hash;
	b->has_key = false;
	if (b->depth > b->max_depth)
		b->max_depth = b->depth;
	return 0;
}

int
js_builder_begin_object(js_builder *b)
{
	return begin(b, JS_OBJECT);
}

int
js_builder_begin_array(js_builder *b)
{
	return begin(b, JS_ARRAY);
}

/* fill index (size index_size(n), zeroed) for members[0..n) */
static void
fill_index(const js_member *members, uint32_t n, uint32_t *index)
{
	uint32_t mask = index_size(n) - 1;

	for (uint32_t i = 0; i < n; i++)
	{
		uint32_t h = members[i].hash & mask;

		while (index[h])
			h = (h + 1) & mask;
		index[h] = i + 1;
	}
}

/*
 * The members of an ending object, repeated keys merged (the first member's place, the last
 * member's value: what json-c did), as one arena block: the members, then for more than
 * LINEAR_MEMBERS of them the hash index.
 */
static const js_member *
finish_object(js_builder *b, const js_member *in, size_t n, uint32_t *out_n)
{
	js_member *out;
	uint32_t k = 0;

	if (n <= LINEAR_MEMBERS)
	{
		out = js_doc_alloc(b->doc, (n ? n : 1) * sizeof(*out));
		if (out == NULL)
			return NULL;
		for (size_t i = 0; i < n; i++)
		{
			uint32_t j;

			for (j = 0; j < k; j++)
			{
				if (same_key(&out[j], in[i].key, in[i].klen, in[i].hash))
					break;
			}
			if (j < k)
				out[j].val = in[i].val;
			else
				out[k++] = in[i];
		}
		*out_n = k;
		return out;
	}
	{
		uint32_t size = index_size((uint32_t) n), mask = size - 1;
		size_t bytes = n * sizeof(*out) + size * sizeof(uint32_t);
		uint32_t *index;

		out = js_doc_alloc(b->doc, bytes);
		if (out == NULL)
			return NULL;
		index = (uint32_t *) (out + n);
		memset(index, 0, size * sizeof(uint32_t));
		for (size_t i = 0; i < n; i++)
		{
			uint32_t h = in[i].hash & mask;
			bool repeated = false;

			for (; index[h]; h = (h + 1) & mask)
			{
				js_member *m = &out[index[h] - 1];

				if (same_key(m, in[i].key, in[i].klen, in[i].hash))
				{
					m->val = in[i].val;
					repeated = true;
					break;
				}
			}
			if (!repeated)
			{
				out[k] = in[i];
				index[h] = ++k;
			}
		}
		if (k < n)
		{
			/* repeated keys: the index must follow the k members, sized for k */
			uint32_t *moved = (uint32_t *) (out + k);

			if (k <= LINEAR_MEMBERS)
				js_doc_shrink(b->doc, out, bytes, k * sizeof(*out));
			else
			{
				memset(moved, 0, index_size(k) * sizeof(uint32_t));
				fill_index(out, k, moved);
			}
		}
		*out_n = k;
		return out;
	}
}

int
js_builder_end(js_builder *b)
{
	js_builder_frame *f;
	js_value v;
	size_t n;

	if (b->failed || b->depth == 0 || b->has_key)
		return fail(b);
	f = &b->frames[--b->depth];
	n = b->n_tmp - f->start;
	if (n > UINT32_MAX / 2)
		return fail(b);
	memset(&v, 0, sizeof(v));
	v.type = f->type;
	if (f->type == JS_ARRAY)
	{
		js_value *items = js_doc_alloc(b->doc, (n ? n : 1) * sizeof(*items));

		if (items == NULL)
			return fail(b);
		for (size_t i = 0; i < n; i++)
			items[i] = b->tmp[f->start + i].val;
		v.len = (uint32_t) n;
		v.u.items = items;
	}
	else
	{
		v.u.members = finish_object(b, b->tmp + f->start, n, &v.len);
		if (v.u.members == NULL)
			return fail(b);
	}
	b->n_tmp = f->start;
	b->has_key = f->has_key;
	b->key = f->key;
	b->klen = f->klen;
	b->hash = f->hash;
	return js_builder_push(b, &v);
}

/* a copy of s[0..len) and a NUL in the arena */
static char *
copy_text(js_builder *b, const char *s, size_t len)
{
	char *p;

	if (len > UINT32_MAX - 1)
		return NULL;
	p = js_doc_alloc(b->doc, len + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void
js_builder_key_owned(js_builder *b, const char *key, size_t len)
{
	b->key = key;
	b->klen = (uint32_t) len;
	b->hash = js_hash(key, len);
	b->has_key = true;
}

int
js_builder_key(js_builder *b, const char *key, size_t len)
{
	char *k;

	if (b->failed)
		return -1;
	if (b->depth == 0 || b->frames[b->depth - 1].type != JS_OBJECT || b->has_key)
		return fail(b);
	k = copy_text(b, key, len);
	if (k == NULL)
		return fail(b);
	js_builder_key_owned(b, k, len);
	return 0;
}

int
js_builder_null(js_builder *b)
{
	js_value v = {0};

	v.type = JS_NULL;
	return js_builder_push(b, &v);
}

int
js_builder_bool(js_builder *b, bool value)
{
	js_value v = {0};

	v.type = JS_BOOL;
	v.b = value;
	return js_builder_push(b, &v);
}

int
js_builder_string(js_builder *b, const char *s, size_t len)
{
	js_value v = {0};

	if (b->failed)
		return -1;
	v.type = JS_STRING;
	v.len = (uint32_t) len;
	v.u.s = copy_text(b, s, len);
	if (v.u.s == NULL)
		return fail(b);
	return js_builder_push(b, &v);
}

int
js_builder_number(js_builder *b, const char *text, size_t len)
{
	js_value v = {0};

	if (b->failed)
		return -1;
	if (len == 0 || !js_number_value(text, len, &v))
		return fail(b);
	return js_builder_push(b, &v);
}

int
js_builder_value(js_builder *b, const js_value *v)
{
	switch (v->type)
	{
		case JS_STRING:
			return js_builder_string(b, v->u.s, v->len);
		case JS_ARRAY:
			if (js_builder_begin_array(b) != 0)
				return -1;
			for (uint32_t i = 0; i < v->len; i++)
			{
				if (js_builder_value(b, &v->u.items[i]) != 0)
					return -1;
			}
			return js_builder_end(b);
		case JS_OBJECT:
			if (js_builder_begin_object(b) != 0)
				return -1;
			for (uint32_t i = 0; i < v->len; i++)
			{
				const js_member *m = &v->u.members[i];

				if (js_builder_key(b, m->key, m->klen) != 0 || js_builder_value(b, &m->val) != 0)
					return -1;
			}
			return js_builder_end(b);
		default:
			/* scalars hold no pointers */
			return js_builder_push(b, v);
	}
}
