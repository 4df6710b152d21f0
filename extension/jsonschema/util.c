/*
 * util.c - small containers: a string-keyed hash map, a growable buffer and an arena.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_internal.h"

uint32_t
js_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
	{
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

void
js_map_free(js_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->ents[i].key);
	free(m->ents);
	m->ents = NULL;
	m->cap = m->n = 0;
}

static js_map_ent *
map_find(const js_map *m, const void *key, size_t klen, uint32_t h)
{
	size_t mask = m->cap - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask)
	{
		js_map_ent *e = &m->ents[i];

		if (e->key == NULL)
			return e;
		if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
			return e;
	}
}

void *
js_map_get(const js_map *m, const void *key, size_t klen)
{
	js_map_ent *e;

	if (m->cap == 0)
		return NULL;
	e = map_find(m, key, klen, js_hash(key, klen));
	return e->key ? e->val : NULL;
}

static int
map_grow(js_map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 16;
	js_map_ent *ne = calloc(ncap, sizeof(*ne));
	js_map old = *m;

	if (ne == NULL)
		return -1;
	m->ents = ne;
	m->cap = ncap;
	for (size_t i = 0; i < old.cap; i++)
	{
		if (old.ents[i].key)
			*map_find(m, old.ents[i].key, old.ents[i].klen, old.ents[i].hash) = old.ents[i];
	}
	free(old.ents);
	return 0;
}

int
js_map_put(js_map *m, const void *key, size_t klen, void *val)
{
	uint32_t h = js_hash(key, klen);
	js_map_ent *e;

	if ((m->n + 1) * 2 > m->cap && map_grow(m) != 0)
		return -1;
	e = map_find(m, key, klen, h);
	if (e->key)
		return 1;
	e->key = malloc(klen + 1);
	if (e->key == NULL)
		return -1;
	memcpy(e->key, key, klen);
	e->key[klen] = '\0';
	e->klen = klen;
	e->hash = h;
	e->val = val;
	m->n++;
	return 0;
}

/* ---- buffer ---- */

static bool
buf_reserve(js_buf *b, size_t extra)
{
	size_t need;
	char *np;

	if (b->oom)
		return false;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	if (need < b->cap * 2)
		need = b->cap * 2;
	if (need < 64)
		need = 64;
	np = realloc(b->p, need);
	if (np == NULL)
	{
		b->oom = true;
		return false;
	}
	b->p = np;
	b->cap = need;
	return true;
}

void
js_buf_putn(js_buf *b, const char *s, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
js_buf_puts(js_buf *b, const char *s)
{
	js_buf_putn(b, s, strlen(s));
}

void
js_buf_putc(js_buf *b, char c)
{
	js_buf_putn(b, &c, 1);
}

static void buf_vprintf(js_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
buf_vprintf(js_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || !buf_reserve(b, (size_t) n))
	{
		b->oom = true;
		return;
	}
	vsnprintf(b->p + b->len, (size_t) n + 1, fmt, ap);
	b->len += (size_t) n;
}

void
js_buf_printf(js_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

char *
js_buf_take(js_buf *b)
{
	char *p;

	if (!buf_reserve(b, 0))
	{
		js_buf_free(b);
		return NULL;
	}
	p = b->p;
	p[b->len] = '\0';
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

void
js_buf_free(js_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

char *
js_strndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p)
	{
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

char *
js_strdup(const char *s)
{
	return js_strndup(s, strlen(s));
}

char *
js_asprintf(const char *fmt, ...)
{
	js_buf b = {0};
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return js_buf_take(&b);
}

/* ---- arena ---- */

struct js_arena_chunk
{
	js_arena_chunk *next;
	size_t used;
	size_t size;
	_Alignas(16) unsigned char data[];
};

#define ARENA_CHUNK 16384

void *
js_arena_alloc(js_arena *a, size_t size)
{
	js_arena_chunk *c = a->head;
	void *p;

	size = (size + 15) & ~(size_t) 15;
	if (c == NULL || c->size - c->used < size)
	{
		size_t csize = size > ARENA_CHUNK ? size : ARENA_CHUNK;

		c = malloc(sizeof(*c) + csize);
		if (c == NULL)
		{
			a->oom = true;
			return NULL;
		}
		c->size = csize;
		c->used = 0;
		if (a->head && size > ARENA_CHUNK)
		{
			/* keep the current chunk as the head: it still has room */
			c->next = a->head->next;
			a->head->next = c;
		}
		else
		{
			c->next = a->head;
			a->head = c;
		}
	}
	p = c->data + c->used;
	c->used += size;
	memset(p, 0, size);
	return p;
}

char *
js_arena_strndup(js_arena *a, const char *s, size_t n)
{
	char *p = js_arena_alloc(a, n + 1);

	if (p)
	{
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

void
js_arena_free(js_arena *a)
{
	js_arena_chunk *c = a->head;

	while (c)
	{
		js_arena_chunk *next = c->next;

		free(c);
		c = next;
	}
	a->head = NULL;
}
