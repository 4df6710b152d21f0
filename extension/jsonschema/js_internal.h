/*
 * js_internal.h - shared declarations of the validator's modules. Not part of the API.
 */
#ifndef HUBLINK_JS_INTERNAL_H
#define HUBLINK_JS_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>

#include "jsonschema.h"

#define JS_DRAFT7    7
#define JS_DRAFT2020 2020

/* vocabularies (2020-12); draft-07 always has them all */
#define JS_VOC_APPLICATOR  0x01u
#define JS_VOC_VALIDATION  0x02u
#define JS_VOC_UNEVALUATED 0x04u
#define JS_VOC_FORMAT      0x08u
#define JS_VOC_ALL         0x0fu

/* ---- util.c: hash map, growable buffer, arena ---- */

typedef struct js_map_ent
{
	char *key; /* owned copy, NUL-terminated (key may contain no NUL: klen is authoritative) */
	size_t klen;
	uint32_t hash;
	void *val;
} js_map_ent;

typedef struct js_map
{
	js_map_ent *ents;
	size_t cap; /* power of two or 0 */
	size_t n;
} js_map;

void js_map_free(js_map *m);
void *js_map_get(const js_map *m, const void *key, size_t klen);
/* 0 inserted, 1 already present (value kept), -1 out of memory */
int js_map_put(js_map *m, const void *key, size_t klen, void *val);

typedef struct js_buf
{
	char *p;
	size_t len;
	size_t cap;
	bool oom;
} js_buf;

void js_buf_putn(js_buf *b, const char *s, size_t n);
void js_buf_puts(js_buf *b, const char *s);
void js_buf_putc(js_buf *b, char c);
void js_buf_printf(js_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* the NUL-terminated string (caller frees) or NULL on out of memory */
char *js_buf_take(js_buf *b);
void js_buf_free(js_buf *b);

char *js_strdup(const char *s);
char *js_strndup(const char *s, size_t n);
char *js_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

typedef struct js_arena_chunk js_arena_chunk;
typedef struct js_arena
{
	js_arena_chunk *head;
	bool oom;
} js_arena;

void *js_arena_alloc(js_arena *a, size_t size); /* zeroed */
char *js_arena_strndup(js_arena *a, const char *s, size_t n);
void js_arena_free(js_arena *a);

/* ---- document.c: the document model's insides ---- */

typedef struct js_doc_chunk js_doc_chunk;

struct js_doc
{
	int refs;
	js_value root;
	js_doc_chunk *chunks; /* newest first; the document itself is in the last */
	size_t next_size;
};

typedef struct js_builder_frame
{
	size_t start; /* the container's first value on the builder's stack */
	uint8_t type;
	bool has_key; /* the container's own key, restored when it ends */
	uint32_t klen, hash;
	const char *key;
} js_builder_frame;

#define JS_BUILDER_INLINE_VALUES 64
#define JS_BUILDER_INLINE_FRAMES 16

struct js_builder
{
	js_doc *doc;
	js_member *tmp; /* values of the open containers (key unused in arrays) */
	size_t n_tmp, cap_tmp;
	js_builder_frame *frames;
	int depth, cap_frames, max_depth;
	bool has_key, have_root, failed;
	const char *key; /* the pending key of the next object member */
	uint32_t klen, hash;
	js_member tmp_inline[JS_BUILDER_INLINE_VALUES];
	js_builder_frame frames_inline[JS_BUILDER_INLINE_FRAMES];
};

js_doc *js_doc_new(size_t size_hint);
/* 8-byte aligned, not zeroed; NULL when out of memory */
void *js_doc_alloc(js_doc *doc, size_t size);
void js_doc_shrink(js_doc *doc, void *p, size_t old_size, size_t new_size);
/* a builder in caller-provided memory (js_parse keeps it on its stack) */
void js_builder_init(js_builder *b, js_doc *doc);
void js_builder_release(js_builder *b);
/* the document built (NULL and freed when failed or incomplete); the builder keeps no doc */
js_doc *js_builder_take(js_builder *b);
int js_builder_push(js_builder *b, const js_value *v);
/* key is already in the document's arena, NUL-terminated */
void js_builder_key_owned(js_builder *b, const char *key, size_t len);
bool js_number_value(const char *text, size_t len, js_value *out);

#define JV_FOREACH(obj, m)                                                                         \
	for (const js_member *m = (obj)->u.members, *m##_end = m + (obj)->len; m < m##_end; m++)

/* ---- utf8.c ---- */

bool js_utf8_valid(const char *s, size_t n);
size_t js_utf8_count(const char *s, size_t n);
/* decode one code point at s[*pos], advance *pos; -1 on a malformed sequence */
int32_t js_utf8_next(const char *s, size_t n, size_t *pos);
/* decode the code point ending just before s[pos] (pos > 0); -1 on malformed */
int32_t js_utf8_prev(const char *s, size_t pos);
/* the value of a hexadecimal digit (a code point or a char), -1 when it is not one */
int js_hex_digit(int32_t c);

/* ---- uri.c ---- */

/* RFC 3986 section 5.2 reference resolution; malloc'd or NULL (out of memory) */
char *js_uri_resolve(const char *base, const char *ref);
/* length of the part before '#' */
size_t js_uri_doc_len(const char *uri);
bool js_uri_has_scheme(const char *s, size_t n);

/* ---- pointer.c ---- */

/* escape one reference token (~ and /) onto b */
void js_pointer_escape(js_buf *b, const char *tok, size_t len);
/* follow a JSON pointer (already percent-decoded) from root; NULL when it does not resolve */
const js_value *js_pointer_get(const js_value *root, const char *ptr, size_t len);
/* percent-decode s[0..n); malloc'd or NULL */
char *js_percent_decode(const char *s, size_t n);

/* ---- number.c: numbers and JSON equality ---- */

enum
{
	JS_NUM_INT,
	JS_NUM_UINT,
	JS_NUM_DBL
};

typedef struct js_num
{
	int kind;
	int64_t i;
	uint64_t u;
	double d;
} js_num;

bool js_num_get(const js_value *o, js_num *out);
/* -1, 0, 1, or 2 when unordered (NaN) */
int js_num_cmp(const js_num *a, const js_num *b);
bool js_num_is_integer(const js_num *n);
bool js_num_multiple_of(const js_num *x, const js_num *m);
double js_num_to_double(const js_num *n);
void js_num_format(const js_num *n, char *buf, size_t size);
/* JSON equality: 1 == 1.0, objects unordered; depth-bounded (too deep compares unequal) */
bool js_json_equal(const js_value *a, const js_value *b, int depth);
uint64_t js_json_hash(const js_value *o, int depth);
const char *js_type_name(const js_value *o);

/* ---- regex.c: ECMA-262 subset, backtracking, bounded ---- */

typedef struct js_regex js_regex;
/* pattern is UTF-8; NULL with *err (malloc'd) on a syntax error or an unsupported feature */
js_regex *js_regex_compile(const char *pat, size_t len, char **err);
/* 1 match somewhere, 0 no match, -1 step budget exhausted or out of memory */
int js_regex_search(const js_regex *re, const char *s, size_t len);
void js_regex_free(js_regex *re);
/* the backtracking engine alone, and whether js_regex_search uses regex_fast.c instead */
int js_regex_search_general(const js_regex *re, const char *s, size_t len);
bool js_regex_is_fast(const js_regex *re);

/* ---- regex_fast.c: anchored runs of ASCII classes, matched without backtracking ---- */

typedef struct js_regex_fast js_regex_fast;
/* NULL when the pattern is not of that form (or out of memory): use the general engine */
js_regex_fast *js_regex_fast_compile(const char *pat, size_t len);
/* 1 the whole string matches, 0 not */
int js_regex_fast_match(const js_regex_fast *f, const char *s, size_t len);
void js_regex_fast_free(js_regex_fast *f);

/* ---- format.c ---- */

enum
{
	JS_FMT_NONE = 0,
	JS_FMT_DATE_TIME,
	JS_FMT_DATE,
	JS_FMT_TIME,
	JS_FMT_DURATION,
	JS_FMT_EMAIL,
	JS_FMT_HOSTNAME,
	JS_FMT_IPV4,
	JS_FMT_IPV6,
	JS_FMT_URI,
	JS_FMT_URI_REFERENCE,
	JS_FMT_UUID,
	JS_FMT_JSON_POINTER,
	JS_FMT_REL_JSON_POINTER,
	JS_FMT_REGEX
};

int js_format_lookup(const char *name);
bool js_format_check(int fmt, const char *s, size_t len);
const char *js_format_name(int fmt);

/* ---- metaschema.c ---- */

/* text of a built-in meta-schema for uri (no fragment), or NULL */
const char *js_metaschema_text(const char *uri, size_t len);

/* ---- compiled schema (compile.c) ---- */

typedef struct js_node js_node;

typedef struct js_sub
{
	const js_node *node; /* NULL when the keyword is absent */
	const char *kw;      /* keyword-location segment, e.g. "properties/a" (escaped) */
} js_sub;

typedef struct js_prop
{
	const char *key;
	size_t klen;
	uint32_t hash;
	js_sub sub;
} js_prop;

typedef struct js_pprop
{
	js_regex *re;
	js_sub sub;
} js_pprop;

/* a property name of a schema, hashed once (js_hash) for lookups in instances */
typedef struct js_name
{
	const char *s;
	uint32_t len;
	uint32_t hash;
} js_name;

typedef struct js_depreq
{
	js_name key;
	js_name *names;
	int n_names;
	const char *kw;
} js_depreq;

typedef struct js_depsch
{
	js_name key;
	js_sub sub;
} js_depsch;

typedef struct js_dynanchor
{
	const char *name;
	const js_value *obj;
	const js_node *node;
} js_dynanchor;

typedef struct js_resource
{
	js_dynanchor *dyn;
	int n_dyn;
	int cap_dyn;
} js_resource;

#define JS_T_NULL    0x01u
#define JS_T_BOOLEAN 0x02u
#define JS_T_OBJECT  0x04u
#define JS_T_ARRAY   0x08u
#define JS_T_NUMBER  0x10u
#define JS_T_STRING  0x20u
#define JS_T_INTEGER 0x40u

/* which numeric bounds are present */
#define JS_HAS_MAXIMUM  0x01u
#define JS_HAS_MINIMUM  0x02u
#define JS_HAS_EXMAX    0x04u
#define JS_HAS_EXMIN    0x08u
#define JS_HAS_MULTIPLE 0x10u

struct js_node
{
	signed char boolean; /* -1 object schema, 0 false, 1 true */
	bool has_const;
	bool unique_items;
	bool has_uneval; /* unevaluatedProperties or unevaluatedItems present */
	int draft;
	const js_resource *resource; /* the schema resource this schema belongs to */
	js_sub ref;
	js_sub dynref;
	const char *dyn_anchor; /* non-NULL: $dynamicRef resolves dynamically to this name */
	js_sub *all_of, *any_of, *one_of;
	int n_all_of, n_any_of, n_one_of;
	js_sub not_, if_, then_, else_;
	js_prop *props;
	int n_props;
	int *prop_tab; /* open addressing table of indices + 1, size prop_tab_size (power of 2) */
	int prop_tab_size;
	js_pprop *pprops;
	int n_pprops;
	js_sub additional_props, property_names, uneval_props;
	js_depsch *dep_schemas;
	int n_dep_schemas;
	js_depreq *dep_required;
	int n_dep_required;
	js_name *required;
	int n_required;
	js_sub *prefix;
	int n_prefix;
	const char *prefix_kw; /* "prefixItems" or "items" (draft-07 array form) */
	js_sub items;          /* applies to the items after the prefix */
	js_sub contains, uneval_items;
	int64_t min_contains, max_contains; /* -1 absent */
	unsigned types;                     /* 0 = no "type" */
	const js_value *const_v;
	const js_value *enum_v;
	unsigned num_flags;
	js_num maximum, minimum, ex_maximum, ex_minimum, multiple_of;
	int64_t max_length, min_length, max_items, min_items, max_props, min_props; /* -1 absent */
	js_regex *pattern;
	const char *pattern_src;
	int format;
};

struct js_schema
{
	js_registry *reg;
	js_limits limits;
	const js_node *root;
	js_arena arena;
	js_regex **regexes;
	int n_regexes;
	js_doc **docs; /* references held: the schema, loaded registry documents, meta-schemas */
	int n_docs;
};

struct js_registry
{
	js_map docs; /* uri (no fragment) -> js_doc* (a reference held) */
	js_map ids;  /* absolute $id found in a document -> the document's registered uri */
};

/* ---- validate.c / kw_*.c ---- */

typedef struct js_ipath
{
	const struct js_ipath *up;
	const char *key; /* NULL: array index */
	size_t idx;      /* the key's length, or the array index */
} js_ipath;

typedef struct js_kpath
{
	const struct js_kpath *up;
	const char *seg;
} js_kpath;

typedef struct js_dscope
{
	const struct js_dscope *up;
	const js_resource *res;
} js_dscope;

/* evaluated object members (by iteration index) or array items */
#define JS_ANNOT_INLINE 4
typedef struct js_annot
{
	uint64_t *bits;
	size_t n;
	bool all;
	uint64_t inline_bits[JS_ANNOT_INLINE];
} js_annot;

typedef struct js_vctx
{
	const js_schema *s;
	js_result *r;
	int quiet;  /* > 0: only validity matters, no errors recorded */
	bool stop;  /* max_errors reached, out of memory or a fatal error: unwind */
	bool fatal; /* depth or regex budget exceeded: reported even when quiet */
	int cap_errors;
	int depth;
} js_vctx;

/*
 * In a keyword evaluator (a js_vctx *c and a bool valid in scope, returning bool): the
 * instance fails here; a quiet evaluation (only the answer wanted) or a stopped one returns at
 * once, a full one goes on to collect every error.
 */
#define FAIL_OR_STOP()                                                                             \
	do                                                                                             \
	{                                                                                              \
		valid = false;                                                                             \
		if (c->quiet || c->stop)                                                                   \
			return false;                                                                          \
	} while (0)

typedef struct js_frame
{
	const js_value *inst;
	const js_ipath *ip;
	const js_kpath *kp;
	const js_dscope *ds;
	js_annot *ann; /* NULL when no unevaluated* keyword is watching this instance */
} js_frame;

bool js_eval(js_vctx *c, const js_node *n, const js_frame *f);
/* evaluate sub at the same instance, under keyword segment kw */
bool js_eval_inplace(js_vctx *c, const js_sub *sub, const js_frame *f, js_annot *ann);
/* evaluate sub at a child instance */
/* key (klen bytes) names an object member, or NULL for the array item idx */
bool js_eval_child(js_vctx *c, const js_sub *sub, const js_frame *f, const js_value *child,
				   const char *key, size_t idx);
void js_report(js_vctx *c, const js_frame *f, const char *kw, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void js_report_at(js_vctx *c, const js_frame *f, const char *key, size_t idx, const char *kw,
				  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void js_fatal(js_vctx *c, const js_frame *f, const char *kw, const char *msg);

bool js_annot_init(js_annot *a, size_t n);
void js_annot_free(js_annot *a);
void js_annot_set(js_annot *a, size_t i);
bool js_annot_test(const js_annot *a, size_t i);
void js_annot_merge(js_annot *dst, const js_annot *src);

bool js_kw_scalar(js_vctx *c, const js_node *n, const js_frame *f);
bool js_kw_object(js_vctx *c, const js_node *n, const js_frame *f);
bool js_kw_array(js_vctx *c, const js_node *n, const js_frame *f);
bool js_kw_uneval_object(js_vctx *c, const js_node *n, const js_frame *f);
bool js_kw_uneval_array(js_vctx *c, const js_node *n, const js_frame *f);

#endif /* HUBLINK_JS_INTERNAL_H */
