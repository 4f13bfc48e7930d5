/*
 * validate.c - compiles JSON Schema 2020-12 documents into validation programs.
 *
 * Compiling has two passes over private copies of the documents involved
 * (the schema itself, and what it references from the registry or the
 * built-in meta-schemas):
 *
 *  1. index: walk each document along the keywords that hold subschemas,
 *     tracking the base URI ("$id"), and record every resource URI, every
 *     "$anchor" / "$dynamicAnchor" as "uri#name", and for every schema object
 *     its resource and JSON Pointer;
 *  2. compile: turn each schema object reached from the root (by keywords or
 *     by references) into one struct snode, once, through a work list so a
 *     long reference chain cannot exhaust the stack: the keywords become an
 *     array of struct sop in evaluation order, with "$ref" targets resolved
 *     to nodes, patterns compiled, "properties" in a hash table, "required"
 *     names that are also properties marked so one pass over the instance
 *     answers both, enum members pre-hashed.
 *
 * eval.c runs the program. One table, keywords[], gives each keyword its
 * vocabulary, the shape its value must have and how it compiles.
 */
#include "schema/validate.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "schema/schema_int.h"
#include "core/banned.h"

#define MAX_DOC_DEPTH     64        /* JSON nesting of a schema document */
#define MAX_DOCS          64        /* documents one schema may pull in */
#define MATCH_LIMIT       100000
#define MATCH_DEPTH_LIMIT 1000
#define PATH_MAX_BYTES    ((size_t)1 << 30)
#define DEFAULT_BASE      "urn:formd:schema"
#define META_2020_12      "https://json-schema.org/draft/2020-12/schema"

/* Vocabularies, as bits. */
enum {
    VOC_CORE = 1, VOC_APPLICATOR = 2, VOC_UNEVALUATED = 4, VOC_VALIDATION = 8,
    VOC_FORMAT_ANNOTATION = 16, VOC_FORMAT_ASSERTION = 32, VOC_META = 64, VOC_CONTENT = 128,
    VOC_ALL = 0xff & ~VOC_FORMAT_ASSERTION,
};

static const struct {
    const char *uri;
    unsigned bit;
} vocabularies[] = {
    {"https://json-schema.org/draft/2020-12/vocab/core", VOC_CORE},
    {"https://json-schema.org/draft/2020-12/vocab/applicator", VOC_APPLICATOR},
    {"https://json-schema.org/draft/2020-12/vocab/unevaluated", VOC_UNEVALUATED},
    {"https://json-schema.org/draft/2020-12/vocab/validation", VOC_VALIDATION},
    {"https://json-schema.org/draft/2020-12/vocab/meta-data", VOC_META},
    {"https://json-schema.org/draft/2020-12/vocab/format-annotation", VOC_FORMAT_ANNOTATION},
    {"https://json-schema.org/draft/2020-12/vocab/format-assertion", VOC_FORMAT_ASSERTION},
    {"https://json-schema.org/draft/2020-12/vocab/content", VOC_CONTENT},
};

/* ---- a read-only-after-build map from address to value ---- */

struct ptrmap_ent {
    const void *key;   /* NULL: free slot */
    void *val;
};

struct ptrmap {
    struct ptrmap_ent *e;
    size_t cap;        /* 0 or a power of two */
    size_t len;
};

static size_t ptrmap_slot(const struct ptrmap *m, const void *key)
{
    uint64_t h = (uint64_t)(uintptr_t)key;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (size_t)h & (m->cap - 1);
}

static void *ptrmap_get(const struct ptrmap *m, const void *key)
{
    size_t i;

    if (!m->cap)
        return NULL;
    for (i = ptrmap_slot(m, key); m->e[i].key; i = (i + 1) & (m->cap - 1))
        if (m->e[i].key == key)
            return m->e[i].val;
    return NULL;
}

static void ptrmap_insert(struct ptrmap *m, const void *key, void *val)
{
    size_t i = ptrmap_slot(m, key);

    while (m->e[i].key)
        i = (i + 1) & (m->cap - 1);
    m->e[i].key = key;
    m->e[i].val = val;
    m->len++;
}

/* Adds key (not yet present) -> val. 0 or FMD_ENOMEM, m unchanged then. */
static int ptrmap_put(struct ptrmap *m, const void *key, void *val)
{
    struct ptrmap old = *m;
    size_t i;

    if ((m->len + 1) * 2 > m->cap) {
        m->cap = old.cap ? old.cap * 2 : 16;
        m->len = 0;
        m->e = fmd_calloc(m->cap, sizeof(*m->e));
        if (!m->e) {
            *m = old;
            return FMD_ENOMEM;
        }
        for (i = 0; i < old.cap; i++)
            if (old.e[i].key)
                ptrmap_insert(m, old.e[i].key, old.e[i].val);
        fmd_free(old.e);
    }
    ptrmap_insert(m, key, val);
    return 0;
}

static void ptrmap_release(struct ptrmap *m)
{
    fmd_freez(&m->e);
    m->cap = m->len = 0;
}

/* ---- growable arrays of pointers ---- */

struct vec {
    void **p;
    size_t n, cap;
};

static int vec_push(struct vec *v, void *x)
{
    if (v->n == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 16;
        void **np = fmd_realloc(v->p, ncap * sizeof(*np));
        if (!np)
            return FMD_ENOMEM;
        v->p = np;
        v->cap = ncap;
    }
    v->p[v->n++] = x;
    return 0;
}

/* ---- the compiled schema ---- */

struct schema {
    struct snode *root;
    struct vec docs;             /* json_t *: private copies, decref'd at free */
    struct vec nodes;            /* struct snode *, each owning its ops */
    struct vec res;              /* struct sres * */
    struct vec blocks;           /* other allocations: sub arrays, tables */
    struct vec codes;            /* pcre2_code * */
    pcre2_general_context *gctx; /* PCRE2 allocates through fmd_malloc */
    pcre2_match_context *mctx;   /* the match limits; read-only */
    json_t *sensitive;           /* JSON Pointers of "x-sensitive" properties, or NULL */
};

/* What the index knows of a URI: a resource root or an anchor. */
struct uent {
    const json_t *j;
    struct sres *res;
    const char *path;
};

/* What the index knows of a schema object. */
struct jinfo {
    struct sres *res;
    char *path;
};

struct cctx {
    struct schema *s;
    const struct schema_registry *reg;
    unsigned vocab;
    json_t *uris;                /* URI -> integer holding a struct uent * */
    struct vec uents, infos;     /* owned by the cctx */
    struct ptrmap info;          /* schema object -> struct jinfo * */
    struct ptrmap memo;          /* schema object -> struct snode * */
    struct vec todo;             /* struct snode * whose body is not compiled yet */
    struct vec todo_j;           /* and their schema objects */
    struct vec todo_r;           /* and their resources */
    pcre2_compile_context *cc;
    struct fmd_err *err;
};

static int nomem(struct fmd_err *err)
{
    return fmd_errf(err, FMD_ENOMEM, "out of memory");
}

static void *block(struct cctx *c, size_t n)
{
    void *p = fmd_calloc(1, n ? n : 1);

    if (p && vec_push(&c->s->blocks, p)) {
        fmd_free(p);
        p = NULL;
    }
    return p;
}

int schema__push_key(struct buf *b, const char *key, size_t n)
{
    size_t i;
    int rc = buf_addc(b, '/');

    if (!rc && !memchr(key, '~', n) && !memchr(key, '/', n))
        return buf_add(b, key, n) ? FMD_ENOMEM : 0;   /* nothing to escape */
    for (i = 0; !rc && i < n; i++)
        rc = key[i] == '~' ? buf_add(b, "~0", 2)
           : key[i] == '/' ? buf_add(b, "~1", 2) : buf_addc(b, key[i]);
    return rc ? FMD_ENOMEM : 0;
}

/* path + "/" kw [+ "/" key or index] as a new string in *out. */
static int join_path(const char *path, const char *kw, const char *key, size_t keylen,
                     long idx, char **out)
{
    struct buf b;
    int rc;

    buf_init(&b, PATH_MAX_BYTES);
    rc = buf_adds(&b, path) ? FMD_ENOMEM : 0;
    if (!rc && kw)
        rc = schema__push_key(&b, kw, strlen(kw));
    if (!rc && key)
        rc = schema__push_key(&b, key, keylen);
    if (!rc && idx >= 0)
        rc = buf_printf(&b, "/%ld", idx) ? FMD_ENOMEM : 0;
    *out = rc ? NULL : fmd_strndup(b.p, b.len);
    buf_release(&b);
    return rc || !*out ? FMD_ENOMEM : 0;
}

const char *schema__excerpt(char *dst, const char *s, size_t n, size_t max)
{
    size_t k = n;

    if (k > max) {
        k = max;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
    }
    memcpy(dst, s, k);
    memcpy(dst + k, k < n ? "..." : "", k < n ? 4 : 1);
    return dst;
}

/* ---- pass 1: the index ---- */

static struct uent *uri_get(const struct cctx *c, const char *uri)
{
    const json_t *v = json_object_get(c->uris, uri);
    return v ? (struct uent *)(uintptr_t)json_integer_value(v) : NULL;
}

/* Records uri -> (j, res, path) unless uri is known already. */
static int uri_put(struct cctx *c, const char *uri, const json_t *j, struct sres *res,
                   const char *path)
{
    struct uent *e;

    if (uri_get(c, uri))
        return 0;
    if (!(e = fmd_malloc(sizeof(*e))) || vec_push(&c->uents, e)) {
        fmd_free(e);
        return FMD_ENOMEM;
    }
    *e = (struct uent){j, res, path};
    return json_object_set_new(c->uris, uri, json_integer((json_int_t)(uintptr_t)e)) ? FMD_ENOMEM
                                                                                     : 0;
}

static int new_res(struct cctx *c, const char *uri, const json_t *root, const char *path,
                   struct sres **out)
{
    struct sres *r = fmd_calloc(1, sizeof(*r));

    *out = r;
    if (!r || vec_push(&c->s->res, r)) {
        fmd_free(r);
        *out = NULL;
        return FMD_ENOMEM;
    }
    r->root = root;
    r->uri = fmd_strdup(uri);
    r->path = fmd_strdup(path);
    return r->uri && r->path ? 0 : FMD_ENOMEM;
}

static int add_dyn(struct sres *r, const char *name, const json_t *j)
{
    struct sdyn *d = fmd_realloc(r->dyn, (r->ndyn + 1) * sizeof(*d));

    if (!d)
        return FMD_ENOMEM;
    r->dyn = d;
    d[r->ndyn] = (struct sdyn){fmd_strdup(name), j, NULL};
    if (!d[r->ndyn].name)
        return FMD_ENOMEM;
    r->ndyn++;
    return 0;
}

struct iwalk {
    struct cctx *c;
    struct sres *res;
    const char *path;
    int depth;
};

static int index_node(struct iwalk *w, const json_t *j, char *path);

static int index_sub(void *arg, const char *kw, const char *key, size_t keylen, long idx,
                     const json_t *sub)
{
    struct iwalk *w = arg;
    char *path;
    int rc;

    if (!json_is_object(sub))
        return 0;
    rc = join_path(w->path, kw, key, keylen, idx, &path);
    return rc ? rc : index_node(w, sub, path);
}

/* Anchors of j, as uri#name in the index. */
static int index_anchors(struct cctx *c, const json_t *j, struct sres *res, const char *path)
{
    static const char *const kws[] = {"$anchor", "$dynamicAnchor"};
    size_t i;
    int rc = 0;

    for (i = 0; !rc && i < 2; i++) {
        const json_t *a = json_object_get(j, kws[i]);
        char *u;
        if (!json_is_string(a))
            continue;
        if (!(u = fmd_malloc(strlen(res->uri) + json_string_length(a) + 2)))
            return FMD_ENOMEM;
        snprintf(u, strlen(res->uri) + json_string_length(a) + 2, "%s#%s", res->uri,
                 json_string_value(a));
        rc = uri_put(c, u, j, res, path);
        if (!rc && i == 1)
            rc = add_dyn(res, json_string_value(a), j);
        fmd_free(u);
    }
    return rc;
}

/* Indexes schema object j at path (taken over) and what it holds. */
static int index_node(struct iwalk *w, const json_t *j, char *path)
{
    const json_t *id = json_object_get(j, "$id");
    struct iwalk sub = *w;
    struct jinfo *info = NULL;
    char *abs = NULL, *hash;
    int rc = 0;

    if (w->depth > MAX_DOC_DEPTH || ptrmap_get(&w->c->info, j))
        goto out;   /* deeper documents are refused before; a shared node is indexed */
    if (json_is_string(id) && j != w->res->root) {
        rc = schema__uri_resolve(w->res->uri, json_string_value(id), json_string_length(id), &abs);
        if (rc == FMD_ENOMEM)
            goto out;
        rc = 0;
        if (abs) {
            if ((hash = strchr(abs, '#')))
                *hash = '\0';
            rc = new_res(w->c, abs, j, path, &sub.res);
            if (!rc)
                rc = uri_put(w->c, abs, j, sub.res, sub.res->path);
        }
    }
    if (!rc && (!(info = fmd_malloc(sizeof(*info))) || vec_push(&w->c->infos, info))) {
        fmd_free(info);
        rc = FMD_ENOMEM;
    }
    if (rc)
        goto out;
    *info = (struct jinfo){sub.res, path};
    path = NULL;
    rc = ptrmap_put(&w->c->info, j, info);
    if (!rc)
        rc = index_anchors(w->c, j, sub.res, info->path);
    sub.path = info->path;
    sub.depth++;
    if (!rc)
        rc = schema__for_each_sub(j, index_sub, &sub);
out:
    fmd_free(abs);
    fmd_free(path);
    return rc;
}

/* Indexes document doc retrieved from uri (or the default base). */
static int index_doc(struct cctx *c, const json_t *doc, const char *uri)
{
    const json_t *id = json_object_get(doc, "$id");
    struct iwalk w = {.c = c};
    char *abs = NULL, *hash, *path = NULL;
    int rc;

    if (json_is_string(id)) {
        rc = schema__uri_resolve(uri, json_string_value(id), json_string_length(id), &abs);
        if (rc == FMD_ENOMEM)
            return rc;
        if (abs && (hash = strchr(abs, '#')))
            *hash = '\0';
    }
    rc = new_res(c, abs ? abs : uri, doc, "", &w.res);
    if (!rc)
        rc = uri_put(c, w.res->uri, doc, w.res, "");
    if (!rc && abs)
        rc = uri_put(c, uri, doc, w.res, "");
    fmd_free(abs);
    if (rc || !json_is_object(doc))
        return rc;
    if (!(path = fmd_strdup("")))
        return FMD_ENOMEM;
    return index_node(&w, doc, path);
}

/* 1 if v nests deeper than max levels (a scalar is level 0). */
static int too_deep(const json_t *v, int max)
{
    const char *key;
    json_t *m;
    size_t i;

    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    if (max == 0)
        return 1;
    for (i = 0; i < json_array_size(v); i++)
        if (too_deep(json_array_get(v, i), max - 1))
            return 1;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, key, m)
            if (too_deep(m, max - 1))
                return 1;
    return 0;
}

/* Loads the registry's or a built-in document holding uri, if any. */
static int load_external(struct cctx *c, const char *uri)
{
    const char *doc_uri = uri;
    const json_t *doc = schema__registry_find(c->reg, uri, &doc_uri);
    json_t *copy;

    if (!doc)
        doc = schema__builtin_find(uri);
    if (!doc || uri_get(c, doc_uri) || c->s->docs.n >= MAX_DOCS || too_deep(doc, MAX_DOC_DEPTH))
        return 0;
    if (!(copy = json_deep_copy(doc)))
        return FMD_ENOMEM;
    if (vec_push(&c->s->docs, copy)) {
        json_decref(copy);
        return FMD_ENOMEM;
    }
    return index_doc(c, copy, doc_uri);
}

/* ---- pass 2: nodes ---- */

/* The node for schema value j (found at path in res), queued for compiling. */
static int get_node(struct cctx *c, const json_t *j, struct sres *res, const char *path,
                    struct snode **out)
{
    const struct jinfo *info = json_is_object(j) ? ptrmap_get(&c->info, j) : NULL;
    struct snode *n;

    *out = json_is_object(j) ? ptrmap_get(&c->memo, j) : NULL;
    if (*out)
        return 0;
    if (!(n = fmd_calloc(1, sizeof(*n))) || vec_push(&c->s->nodes, n)) {
        fmd_free(n);
        return FMD_ENOMEM;
    }
    n->boolean = json_is_object(j) ? -1 : json_is_true(j);
    if (info) {
        res = info->res;
        path = info->path;
    }
    if (!(n->path = fmd_strdup(path)))
        return FMD_ENOMEM;
    n->res = res;
    if (!json_is_object(j))
        return *out = n, 0;
    if (ptrmap_put(&c->memo, j, n) || vec_push(&c->todo, n) ||
        vec_push(&c->todo_j, (void *)(uintptr_t)j) || vec_push(&c->todo_r, res))
        return FMD_ENOMEM;
    *out = n;
    return 0;
}

/* The location for a message: at most 120 bytes of it. */
static const char *loc_str(const char *loc, char dst[128])
{
    return schema__excerpt(dst, loc, strlen(loc), 120);
}

/* Compiling one schema object. */
struct nctx {
    struct cctx *c;
    struct snode *n;
    const json_t *j;
    struct sres *res;
    struct vec ops;              /* struct sop *, sorted at the end */
};

static int bad_value(struct nctx *x, const char *kw, const char *what)
{
    char loc[128], *p = NULL;
    int rc = join_path(x->n->path, kw, NULL, 0, -1, &p);

    if (rc)
        return nomem(x->c->err);
    rc = fmd_errf(x->c->err, FMD_EUNPROC, "value at %s must be %s", loc_str(p, loc), what);
    fmd_free(p);
    return rc;
}

static int schema_at(struct nctx *x, const json_t *v, const char *kw, const char *key,
                     size_t keylen, long idx, struct snode **out)
{
    char loc[128], *p = NULL;
    int rc = join_path(x->n->path, kw, key, keylen, idx, &p);

    if (rc)
        return nomem(x->c->err);
    if (!json_is_object(v) && !json_is_boolean(v))
        rc = fmd_errf(x->c->err, FMD_EUNPROC, "schema at %s must be an object or a boolean",
                      loc_str(p, loc));
    else if (get_node(x->c, v, x->res, p, out))
        rc = nomem(x->c->err);
    fmd_free(p);
    return rc;
}

static struct sop *new_op(struct nctx *x, enum sop_kind kind)
{
    struct sop *op = fmd_calloc(1, sizeof(*op));

    if (op && vec_push(&x->ops, op)) {
        fmd_free(op);
        return NULL;
    }
    if (op)
        op->kind = kind;
    return op;
}

static int schema_list(struct nctx *x, const char *kw, const json_t *v, struct snode ***subs,
                       size_t *n)
{
    size_t i;
    int rc = 0;

    if (!json_is_array(v) || json_array_size(v) == 0)
        return bad_value(x, kw, "a non-empty array of schemas");
    *n = json_array_size(v);
    if (!(*subs = block(x->c, *n * sizeof(**subs))))
        return nomem(x->c->err);
    for (i = 0; !rc && i < *n; i++)
        rc = schema_at(x, json_array_get(v, i), kw, NULL, 0, (long)i, &(*subs)[i]);
    return rc;
}

/* A schema in the same object, by keyword (NULL if absent). */
static int sibling(struct nctx *x, const char *kw, struct snode **out)
{
    const json_t *v = json_object_get(x->j, kw);

    *out = NULL;
    return v ? schema_at(x, v, kw, NULL, 0, -1, out) : 0;
}

static int count_ok(const json_t *v)
{
    return schema__is_integral(v) && (json_is_integer(v) ? json_integer_value(v) >= 0
                                                         : json_real_value(v) >= 0);
}

static size_t count_of(const json_t *v)
{
    double d;

    if (json_is_integer(v))
        return json_integer_value(v) < 0 ? 0 : (size_t)json_integer_value(v);
    d = json_real_value(v);
    return d <= 0 ? 0 : d >= 1.8e19 ? SIZE_MAX : (size_t)d;
}

static int all_strings(const json_t *arr)
{
    size_t i;

    if (!json_is_array(arr))
        return 0;
    for (i = 0; i < json_array_size(arr); i++)
        if (!json_is_string(json_array_get(arr, i)))
            return 0;
    return 1;
}

static int compile_pattern(struct nctx *x, const char *where_kw, const char *key, size_t keylen,
                           const char *pat, size_t len, pcre2_code **out)
{
    char why[160], loc[128], *p = NULL;
    int rc = schema__regex_compile(pat, len, x->c->cc, out, why, sizeof(why));

    if (rc == FMD_EUNPROC) {
        if (join_path(x->n->path, where_kw, key, keylen, -1, &p))
            return nomem(x->c->err);
        rc = fmd_errf(x->c->err, FMD_EUNPROC, "pattern at %s does not compile: %s",
                      loc_str(p, loc), why);
        fmd_free(p);
        return rc;
    }
    if (!rc)
        pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE);   /* without JIT, it only runs slower */
    if (!rc && vec_push(&x->c->s->codes, *out)) {
        pcre2_code_free(*out);
        rc = FMD_ENOMEM;
    }
    return rc ? nomem(x->c->err) : 0;
}

/* ---- keywords ---- */

static const char *const type_names[] = {
    [JSON_OBJECT] = "object", [JSON_ARRAY] = "array", [JSON_STRING] = "string",
    [JSON_INTEGER] = "integer", [JSON_REAL] = "number", [JSON_TRUE] = "boolean",
    [JSON_NULL] = "null",
};

static unsigned type_bit(const json_t *v)
{
    size_t i;

    for (i = 0; json_is_string(v) && i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (type_names[i] && strcmp(json_string_value(v), type_names[i]) == 0)
            return i == JSON_INTEGER ? TYPE_INTEGER : 1u << i;
    return 0;
}

static int kw_type(struct nctx *x, const char *kw, const json_t *v)
{
    size_t i, n = json_array_size(v);
    unsigned bits = 0, b;
    struct sop *op;

    if (json_is_string(v)) {
        bits = type_bit(v);
    } else if (json_is_array(v) && n > 0) {
        for (i = 0; i < n; i++) {
            b = type_bit(json_array_get(v, i));
            if (!b || (bits & b)) {
                bits = 0;
                break;
            }
            bits |= b;
        }
    }
    if (!bits)
        return bad_value(x, kw, "a type name or an array of distinct type names");
    if (!(op = new_op(x, OP_TYPE)))
        return nomem(x->c->err);
    op->types = bits;
    op->val = v;
    return 0;
}

static int kw_enum(struct nctx *x, const char *kw, const json_t *v)
{
    struct sop *op;
    size_t i;

    if (!json_is_array(v))
        return bad_value(x, kw, "an array");
    if (!(op = new_op(x, OP_ENUM)))
        return nomem(x->c->err);
    op->val = v;
    op->n = json_array_size(v);
    if (all_strings(v) && op->n < 16) {
        if (!(op->strs = block(x->c, op->n * sizeof(*op->strs))))
            return nomem(x->c->err);
        for (i = 0; i < op->n; i++)
            op->strs[i] = (struct sstr){json_string_value(json_array_get(v, i)),
                                        json_string_length(json_array_get(v, i))};
    }
    if (op->n < 16)
        return 0;
    if (!(op->hashes = block(x->c, op->n * sizeof(*op->hashes))))
        return nomem(x->c->err);
    for (i = 0; i < op->n; i++)
        op->hashes[i] = schema__json_hash(json_array_get(v, i));
    return 0;
}

static int kw_const(struct nctx *x, const char *kw, const json_t *v)
{
    struct sop *op = new_op(x, OP_CONST);

    if (!op)
        return nomem(x->c->err);
    op->val = v;
    return 0;
}

static int kw_number(struct nctx *x, const char *kw, const json_t *v)
{
    static const struct {
        const char *name;
        enum sop_kind kind;
    } kinds[] = {
        {"minimum", OP_MINIMUM}, {"maximum", OP_MAXIMUM}, {"exclusiveMinimum", OP_XMINIMUM},
        {"exclusiveMaximum", OP_XMAXIMUM}, {"multipleOf", OP_MULTIPLE_OF},
    };
    struct sop *op;
    size_t i;

    for (i = 0; strcmp(kinds[i].name, kw) != 0; i++)
        ;
    if (kinds[i].kind == OP_MULTIPLE_OF) {
        if (!json_is_number(v) || json_number_value(v) <= 0)
            return bad_value(x, kw, "a number greater than 0");
    } else if (!json_is_number(v)) {
        return bad_value(x, kw, "a number");
    }
    if (!(op = new_op(x, kinds[i].kind)))
        return nomem(x->c->err);
    op->val = v;
    if (kinds[i].kind == OP_MULTIPLE_OF && schema__dec_of(v, &op->dec))
        return bad_value(x, kw, "a finite number");
    return 0;
}

static int kw_count(struct nctx *x, const char *kw, const json_t *v)
{
    static const struct {
        const char *name;
        enum sop_kind kind;
    } kinds[] = {
        {"minLength", OP_MIN_LENGTH}, {"maxLength", OP_MAX_LENGTH}, {"minItems", OP_MIN_ITEMS},
        {"maxItems", OP_MAX_ITEMS}, {"minProperties", OP_MIN_PROPS},
        {"maxProperties", OP_MAX_PROPS}, {"minContains", 0}, {"maxContains", 0},
    };
    struct sop *op;
    size_t i;

    if (!count_ok(v))
        return bad_value(x, kw, "a non-negative integer");
    for (i = 0; strcmp(kinds[i].name, kw) != 0; i++)
        ;
    if (!kinds[i].kind)
        return 0;   /* applied by contains */
    if (!(op = new_op(x, kinds[i].kind)))
        return nomem(x->c->err);
    op->n = count_of(v);
    return 0;
}

static int kw_pattern(struct nctx *x, const char *kw, const json_t *v)
{
    struct sop *op;

    if (!json_is_string(v))
        return bad_value(x, kw, "a string");
    if (!(op = new_op(x, OP_PATTERN)))
        return nomem(x->c->err);
    return compile_pattern(x, kw, NULL, 0, json_string_value(v), json_string_length(v), &op->re);
}

static int kw_format(struct nctx *x, const char *kw, const json_t *v)
{
    schema__format_fn *f;
    struct sop *op;

    if (!json_is_string(v))
        return bad_value(x, kw, "a string");
    if (!(x->c->vocab & VOC_FORMAT_ASSERTION) || !(f = schema__format_find(json_string_value(v))))
        return 0;
    if (!(op = new_op(x, OP_FORMAT)))
        return nomem(x->c->err);
    op->val = v;
    op->format = f;
    return 0;
}

static int kw_unique(struct nctx *x, const char *kw, const json_t *v)
{
    if (!json_is_boolean(v))
        return bad_value(x, kw, "a boolean");
    return json_is_true(v) && !new_op(x, OP_UNIQUE) ? nomem(x->c->err) : 0;
}

/* required: names that are also properties get counted by OP_PROPS. */
static int kw_required(struct nctx *x, const char *kw, const json_t *v)
{
    struct sop *op;

    if (!all_strings(v))
        return bad_value(x, kw, "an array of strings");
    if (json_array_size(v) == 0)
        return 0;
    if (!(op = new_op(x, OP_REQUIRED)))
        return nomem(x->c->err);
    op->val = v;
    return 0;
}

static int kw_dep_required(struct nctx *x, const char *kw, const json_t *v)
{
    const char *key;
    json_t *deps;
    struct sop *op;

    if (!json_is_object(v))
        return bad_value(x, kw, "an object of arrays of strings");
    json_object_foreach((json_t *)v, key, deps)
        if (!all_strings(deps))
            return bad_value(x, kw, "an object of arrays of strings");
    if (!(op = new_op(x, OP_DEP_REQUIRED)))
        return nomem(x->c->err);
    op->val = v;
    return 0;
}

/* An object of schemas: each compiled into subs (NULL: only checked). */
static int schema_map(struct nctx *x, const char *kw, const json_t *v, struct snode ***subs)
{
    const char *key;
    size_t len, i = 0;
    json_t *sub;
    struct snode *tmp;
    int rc = 0;

    if (!json_is_object(v))
        return bad_value(x, kw, "an object of schemas");
    if (subs && !(*subs = block(x->c, json_object_size(v) * sizeof(**subs))))
        return nomem(x->c->err);
    json_object_keylen_foreach((json_t *)v, key, len, sub) {
        rc = schema_at(x, sub, kw, key, len, -1, subs ? &(*subs)[i] : &tmp);
        i++;
        if (rc)
            break;
    }
    return rc;
}

static int kw_defs(struct nctx *x, const char *kw, const json_t *v)
{
    return schema_map(x, kw, v, NULL);
}

static int kw_dep_schemas(struct nctx *x, const char *kw, const json_t *v)
{
    struct sop *op = new_op(x, OP_DEP_SCHEMAS);

    if (!op)
        return nomem(x->c->err);
    op->val = v;
    return schema_map(x, kw, v, &op->subs);
}

static int kw_list(struct nctx *x, const char *kw, const json_t *v)
{
    enum sop_kind k = !strcmp(kw, "allOf") ? OP_ALL_OF : !strcmp(kw, "anyOf") ? OP_ANY_OF
                    : OP_ONE_OF;
    struct sop *op = new_op(x, k);

    return op ? schema_list(x, kw, v, &op->subs, &op->n) : nomem(x->c->err);
}

/* A single schema with an op of its own (not, propertyNames, unevaluated*). */
static int kw_single(struct nctx *x, const char *kw, const json_t *v)
{
    enum sop_kind k = !strcmp(kw, "not") ? OP_NOT : !strcmp(kw, "propertyNames") ? OP_PROP_NAMES
                    : !strcmp(kw, "unevaluatedItems") ? OP_UNEVAL_ITEMS : OP_UNEVAL_PROPS;
    struct sop *op = new_op(x, k);

    if (!op)
        return nomem(x->c->err);
    if (k == OP_UNEVAL_ITEMS || k == OP_UNEVAL_PROPS)
        x->n->tracks = 1;
    return schema_at(x, v, kw, NULL, 0, -1, &op->sub);
}

/* then, else, additionalProperties, items, maxContains...: compiled by a sibling. */
static int kw_by_sibling(struct nctx *x, const char *kw, const json_t *v)
{
    struct snode *tmp;
    return schema_at(x, v, kw, NULL, 0, -1, &tmp);
}

static int kw_if(struct nctx *x, const char *kw, const json_t *v)
{
    struct sop *op = new_op(x, OP_IF);
    int rc;

    if (!op)
        return nomem(x->c->err);
    rc = schema_at(x, v, kw, NULL, 0, -1, &op->sub);
    if (!rc && (x->c->vocab & VOC_APPLICATOR))
        rc = sibling(x, "then", &op->then_);
    if (!rc && (x->c->vocab & VOC_APPLICATOR))
        rc = sibling(x, "else", &op->else_);
    return rc;
}

static int kw_contains(struct nctx *x, const char *kw, const json_t *v)
{
    const json_t *minc = json_object_get(x->j, "minContains");
    const json_t *maxc = json_object_get(x->j, "maxContains");
    struct sop *op = new_op(x, OP_CONTAINS);

    if (!op)
        return nomem(x->c->err);
    if (!(x->c->vocab & VOC_VALIDATION))
        minc = maxc = NULL;
    op->flag = minc && count_ok(minc);
    op->n = op->flag ? count_of(minc) : 1;
    op->n2 = maxc && count_ok(maxc) ? count_of(maxc) : SIZE_MAX;
    return schema_at(x, v, kw, NULL, 0, -1, &op->sub);
}

/* prefixItems and items make one op. */
static int kw_items(struct nctx *x, const char *kw, const json_t *v)
{
    const json_t *prefix = json_object_get(x->j, "prefixItems");
    const json_t *items = json_object_get(x->j, "items");
    struct sop *op;
    int rc = 0;

    if (!strcmp(kw, "items") && prefix)
        return schema_at(x, v, kw, NULL, 0, -1, &(struct snode *){NULL});   /* op: prefixItems's */
    if (!(op = new_op(x, OP_ITEMS)))
        return nomem(x->c->err);
    if (prefix)
        rc = schema_list(x, "prefixItems", prefix, &op->subs, &op->n);
    if (!rc && items)
        rc = schema_at(x, items, "items", NULL, 0, -1, &op->sub);
    return rc;
}

static int build_props_table(struct nctx *x, const json_t *props, struct sprops *p)
{
    const char *key;
    size_t len;
    json_t *sub;
    int rc;

    if (!json_is_object(props))
        return bad_value(x, "properties", "an object of schemas");
    p->n = json_object_size(props);
    for (p->cap = 8; p->cap < p->n * 2; p->cap *= 2)
        ;
    if (!(p->tab = block(x->c, p->cap * sizeof(*p->tab))) ||
        !(p->order = block(x->c, p->n * sizeof(*p->order))))
        return nomem(x->c->err);
    json_object_keylen_foreach((json_t *)props, key, len, sub) {
        uint64_t h = schema__name_hash(key, len);
        size_t i = (size_t)h & (p->cap - 1), k;
        while (p->tab[i].name)
            i = (i + 1) & (p->cap - 1);
        for (k = 0; k < p->n && p->order[k]; k++)
            ;
        p->tab[i] = (struct sprop){.name = key, .len = len, .hash = h, .order = k};
        p->order[k] = &p->tab[i];
        if ((rc = schema_at(x, sub, "properties", key, len, -1, &p->tab[i].sub)))
            return rc;
    }
    return 0;
}

static int build_patterns(struct nctx *x, const json_t *pp, struct sprops *p)
{
    const char *key;
    size_t len;
    json_t *sub;
    int rc;

    if (!json_is_object(pp))
        return bad_value(x, "patternProperties", "an object of schemas");
    if (!(p->pats = block(x->c, json_object_size(pp) * sizeof(*p->pats))))
        return nomem(x->c->err);
    json_object_keylen_foreach((json_t *)pp, key, len, sub) {
        struct spat *s = &p->pats[p->npats++];
        s->src = key;
        s->len = len;
        if ((rc = compile_pattern(x, "patternProperties", key, len, key, len, &s->re)) ||
            (rc = schema_at(x, sub, "patternProperties", key, len, -1, &s->sub)))
            return rc;
    }
    return 0;
}

/* properties, patternProperties and additionalProperties make one op, compiled
 * at the first of them met. */
static int kw_props(struct nctx *x, const char *kw, const json_t *v)
{
    const json_t *props = json_object_get(x->j, "properties");
    const json_t *pp = json_object_get(x->j, "patternProperties");
    const json_t *ap = json_object_get(x->j, "additionalProperties");
    struct sprops *p;
    struct sop *op;
    size_t i;
    int rc = 0;

    for (i = 0; i < x->ops.n; i++)
        if (((struct sop *)x->ops.p[i])->kind == OP_PROPS)
            return 0;
    if (!(op = new_op(x, OP_PROPS)) || !(p = op->props = block(x->c, sizeof(*p))))
        return nomem(x->c->err);
    if (props)
        rc = build_props_table(x, props, p);
    if (!rc && pp)
        rc = build_patterns(x, pp, p);
    if (!rc && ap)
        rc = schema_at(x, ap, "additionalProperties", NULL, 0, -1, &p->additional);
    return rc;
}

/* ---- references ---- */

static int hex_val(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0'
         : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
         : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* Percent-decodes s in place. 0, or -1 for a bad escape or %00. */
static int pct_decode(char *s)
{
    size_t i, k = 0;

    for (i = 0; s[i]; i++) {
        int hi, lo;
        if (s[i] != '%') {
            s[k++] = s[i];
            continue;
        }
        hi = s[i + 1] ? hex_val(s[i + 1]) : -1;
        lo = hi >= 0 && s[i + 2] ? hex_val(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi | lo) == 0)
            return -1;
        s[k++] = (char)(hi * 16 + lo);
        i += 2;
    }
    s[k] = '\0';
    return 0;
}

/* The value at JSON Pointer p (decoded), or NULL. tok is scratch of strlen(p)+1. */
static const json_t *pointer_get(const json_t *doc, const char *p, char *tok)
{
    const json_t *cur = doc;

    while (cur && *p == '/') {
        size_t k = 0;
        for (p++; *p && *p != '/'; p++) {
            if (*p == '~' && (p[1] == '0' || p[1] == '1'))
                tok[k++] = *++p == '0' ? '~' : '/';
            else if (*p == '~')
                return NULL;
            else
                tok[k++] = *p;
        }
        tok[k] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_getn(cur, tok, k);
        } else if (json_is_array(cur) && k > 0 && k < 10 && strspn(tok, "0123456789") == k &&
                   (tok[0] != '0' || k == 1)) {
            cur = json_array_get(cur, strtoul(tok, NULL, 10));
        } else {
            cur = NULL;
        }
    }
    return *p ? NULL : cur;
}

/* Finds the target of reference ref (at base res) into *j, *res, *path (caller frees). */
static int find_target(struct cctx *c, struct sres *base, const char *ref, size_t n,
                       const json_t **j, struct sres **res, char **path)
{
    char *abs = NULL, *frag, *tok = NULL;
    const struct uent *e;
    int rc = schema__uri_resolve(base->uri, ref, n, &abs);

    *j = NULL;
    *path = NULL;
    if (rc)
        return rc == FMD_ENOMEM ? rc : 0;
    frag = strchr(abs, '#');
    if (frag)
        *frag++ = '\0';
    if (!(e = uri_get(c, abs))) {
        if ((rc = load_external(c, abs)))
            goto out;
        e = uri_get(c, abs);
    }
    if (!e)
        goto out;
    *res = e->res;
    if (!frag || !*frag) {
        *j = e->j;
        rc = (*path = fmd_strdup(e->path)) ? 0 : FMD_ENOMEM;
    } else if (*frag == '/') {
        if (pct_decode(frag) || !(tok = fmd_malloc(strlen(frag) + 1)))
            goto out;
        *j = pointer_get(e->j, frag, tok);
        rc = join_path(e->path, NULL, NULL, 0, -1, path);
        if (!rc) {
            char *full = fmd_malloc(strlen(*path) + strlen(frag) + 1);
            if (!full) {
                rc = FMD_ENOMEM;
            } else {
                memcpy(full, *path, strlen(*path));
                memcpy(full + strlen(*path), frag, strlen(frag) + 1);
                fmd_free(*path);
                *path = full;
            }
        }
    } else {
        size_t alen = strlen(abs);
        abs[alen] = '#';   /* abs#frag again */
        if ((e = uri_get(c, abs))) {
            *j = e->j;
            *res = e->res;
            rc = (*path = fmd_strdup(e->path)) ? 0 : FMD_ENOMEM;
        }
    }
out:
    fmd_free(tok);
    fmd_free(abs);
    return rc;
}

static int kw_ref(struct nctx *x, const char *kw, const json_t *v)
{
    const int dyn = !strcmp(kw, "$dynamicRef");
    const char *s = json_string_value(v), *hash;
    const json_t *j = NULL, *anchor;
    struct sres *res = x->res;
    char *path = NULL, loc[128], ex[80], *p = NULL;
    struct sop *op;
    int rc;

    if (!s)
        return bad_value(x, kw, "a string");
    rc = find_target(x->c, x->res, s, json_string_length(v), &j, &res, &path);
    if (!rc && (!j || !(json_is_object(j) || json_is_boolean(j)))) {
        rc = join_path(x->n->path, kw, NULL, 0, -1, &p) ? nomem(x->c->err)
           : fmd_errf(x->c->err, FMD_EUNPROC, "%s at %s does not resolve to a known schema: "
                      "'%s'", kw, loc_str(p, loc), schema__excerpt(ex, s, strlen(s), 64));
        goto out;
    }
    if (rc || !(op = new_op(x, dyn ? OP_DYNREF : OP_REF)) ||
        get_node(x->c, j, res, path, &op->sub)) {
        rc = nomem(x->c->err);
        goto out;
    }
    /* $dynamicRef is dynamic only when its first target has the same dynamic anchor. */
    hash = strchr(s, '#');
    anchor = json_object_get(j, "$dynamicAnchor");
    if (dyn && hash && json_is_string(anchor) && strcmp(json_string_value(anchor), hash + 1) == 0)
        op->name = json_string_value(anchor);
out:
    fmd_free(p);
    fmd_free(path);
    return rc;
}

/* ---- the keyword table ---- */

typedef int kw_fn(struct nctx *x, const char *kw, const json_t *v);

static const struct keyword {
    const char *name;
    unsigned vocab;
    kw_fn *compile;
} keywords[] = {   /* sorted by strcmp for bsearch */
    {"$defs",                VOC_CORE,        kw_defs},
    {"$dynamicRef",          VOC_CORE,        kw_ref},
    {"$ref",                 VOC_CORE,        kw_ref},
    {"additionalProperties", VOC_APPLICATOR,  kw_props},
    {"allOf",                VOC_APPLICATOR,  kw_list},
    {"anyOf",                VOC_APPLICATOR,  kw_list},
    {"const",                VOC_VALIDATION,  kw_const},
    {"contains",             VOC_APPLICATOR,  kw_contains},
    {"dependentRequired",    VOC_VALIDATION,  kw_dep_required},
    {"dependentSchemas",     VOC_APPLICATOR,  kw_dep_schemas},
    {"else",                 VOC_APPLICATOR,  kw_by_sibling},
    {"enum",                 VOC_VALIDATION,  kw_enum},
    {"exclusiveMaximum",     VOC_VALIDATION,  kw_number},
    {"exclusiveMinimum",     VOC_VALIDATION,  kw_number},
    {"format",               VOC_FORMAT_ANNOTATION | VOC_FORMAT_ASSERTION, kw_format},
    {"if",                   VOC_APPLICATOR,  kw_if},
    {"items",                VOC_APPLICATOR,  kw_items},
    {"maxContains",          VOC_VALIDATION,  kw_count},
    {"maxItems",             VOC_VALIDATION,  kw_count},
    {"maxLength",            VOC_VALIDATION,  kw_count},
    {"maxProperties",        VOC_VALIDATION,  kw_count},
    {"maximum",              VOC_VALIDATION,  kw_number},
    {"minContains",          VOC_VALIDATION,  kw_count},
    {"minItems",             VOC_VALIDATION,  kw_count},
    {"minLength",            VOC_VALIDATION,  kw_count},
    {"minProperties",        VOC_VALIDATION,  kw_count},
    {"minimum",              VOC_VALIDATION,  kw_number},
    {"multipleOf",           VOC_VALIDATION,  kw_number},
    {"not",                  VOC_APPLICATOR,  kw_single},
    {"oneOf",                VOC_APPLICATOR,  kw_list},
    {"pattern",              VOC_VALIDATION,  kw_pattern},
    {"patternProperties",    VOC_APPLICATOR,  kw_props},
    {"prefixItems",          VOC_APPLICATOR,  kw_items},
    {"properties",           VOC_APPLICATOR,  kw_props},
    {"propertyNames",        VOC_APPLICATOR,  kw_single},
    {"required",             VOC_VALIDATION,  kw_required},
    {"then",                 VOC_APPLICATOR,  kw_by_sibling},
    {"type",                 VOC_VALIDATION,  kw_type},
    {"unevaluatedItems",     VOC_UNEVALUATED, kw_single},
    {"unevaluatedProperties", VOC_UNEVALUATED, kw_single},
    {"uniqueItems",          VOC_VALIDATION,  kw_unique},
};
#define NKEYWORDS (sizeof(keywords) / sizeof(keywords[0]))

static int keyword_cmp(const void *name, const void *kw)
{
    return strcmp(name, ((const struct keyword *)kw)->name);
}

static int keywords_sorted(void)
{
    size_t i;

    for (i = 1; i < NKEYWORDS; i++)
        if (strcmp(keywords[i - 1].name, keywords[i].name) >= 0)
            return 0;
    return 1;
}

static int op_cmp(const void *a, const void *b)
{
    const struct sop *x = *(const struct sop *const *)a, *y = *(const struct sop *const *)b;
    return (int)x->kind - (int)y->kind;
}

/* Marks required names that are properties, so one pass answers both: the
 * properties pass counts them, and up to 64 of them have a bit in a mask it
 * fills, so that a missing one is found without looking names up. */
static int link_required(struct cctx *c, struct sop *req, const struct sop *props)
{
    size_t i, j, covered = 0, n = json_array_size(req->val);
    uint64_t *bits = NULL;
    int next_bit = 0;

    req->flag = props && props->props->tab;
    if (req->flag && !(bits = block(c, n * sizeof(*bits))))
        return nomem(c->err);
    for (i = 0; req->flag && i < n; i++) {
        const json_t *name = json_array_get(req->val, i);
        const char *s = json_string_value(name);
        size_t len = json_string_length(name);
        struct sprops *p = props->props;
        uint64_t h = schema__name_hash(s, len);
        for (j = (size_t)h & (p->cap - 1); p->tab[j].name; j = (j + 1) & (p->cap - 1))
            if (p->tab[j].len == len && memcmp(p->tab[j].name, s, len) == 0)
                break;
        if (!p->tab[j].name) {
            req->flag = 0;
            break;
        }
        if (!p->tab[j].required) {
            p->tab[j].required = 1;
            p->tab[j].req_bit = next_bit < 64 ? (uint64_t)1 << next_bit++ : 0;
            covered++;
        }
        bits[i] = p->tab[j].req_bit;
        if (!bits[i])
            bits = NULL;   /* more than 64: looked up by name */
    }
    req->n2 = covered;
    req->req_bits = req->flag ? bits : NULL;
    return 0;
}

/* Compiles the keywords of schema object j into node n. */
static int compile_body(struct cctx *c, struct snode *n, const json_t *j, struct sres *res)
{
    struct nctx x = {.c = c, .n = n, .j = j, .res = res};
    const struct sop *props = NULL;
    struct sop *req = NULL;
    const struct keyword *kw;
    const char *key;
    json_t *v;
    size_t i;
    int rc = 0;

    json_object_foreach((json_t *)j, key, v) {
        kw = bsearch(key, keywords, NKEYWORDS, sizeof(keywords[0]), keyword_cmp);
        if (kw && (kw->vocab & c->vocab) && (rc = kw->compile(&x, key, v)))
            break;
    }
    if (!rc && x.ops.n && !(n->ops = fmd_malloc(x.ops.n * sizeof(*n->ops))))
        rc = nomem(c->err);
    if (!rc) {
        if (x.ops.n > 1)
            qsort(x.ops.p, x.ops.n, sizeof(*x.ops.p), op_cmp);
        for (i = 0; i < x.ops.n; i++)
            n->ops[i] = *(struct sop *)x.ops.p[i];
        n->nops = x.ops.n;
        for (i = 0; i < n->nops; i++) {
            if (n->ops[i].kind == OP_PROPS)
                props = &n->ops[i];
            if (n->ops[i].kind == OP_REQUIRED)
                req = &n->ops[i];
        }
        if (req && !rc)
            rc = link_required(c, req, props);
        for (i = 0; !rc && i < n->nops; i++) {
            char *texts;
            if (schema__op_prepare(n, &n->ops[i], &texts))
                rc = nomem(c->err);
            else if (texts && vec_push(&c->s->blocks, texts))
                rc = (fmd_free(texts), nomem(c->err));
        }
        n->leaf = 1;
        for (i = 0; i < n->nops; i++)
            if (n->ops[i].kind >= OP_PROPS && n->ops[i].kind != OP_REQUIRED &&
                n->ops[i].kind != OP_DEP_REQUIRED)
                n->leaf = 0;
        schema__fast_prepare(n);
    }
    for (i = 0; i < x.ops.n; i++)
        fmd_free(x.ops.p[i]);
    fmd_free(x.ops.p);
    return rc;
}

/* Compiles every queued node, and the dynamic anchors of every resource. */
static int drain(struct cctx *c)
{
    size_t done = 0, r, k;
    int rc = 0;

    for (;;) {
        while (!rc && done < c->todo.n) {
            rc = compile_body(c, c->todo.p[done], c->todo_j.p[done], c->todo_r.p[done]);
            done++;
        }
        if (rc)
            return rc;
        for (r = 0; r < c->s->res.n; r++) {
            struct sres *res = c->s->res.p[r];
            for (k = 0; k < res->ndyn; k++)
                if (!res->dyn[k].node) {
                    const struct jinfo *info = ptrmap_get(&c->info, res->dyn[k].j);
                    if (get_node(c, res->dyn[k].j, res, info ? info->path : res->path,
                                 &res->dyn[k].node))
                        return nomem(c->err);
                }
        }
        if (done == c->todo.n)
            return 0;
    }
}

/* ---- discriminators ---- */

/* A properties member of n (or of what n applies in place and must pass:
 * $ref, allOf) whose schema holds "const"; depth bounds the search. */
static int find_disc(const struct snode *n, int depth, struct sdisc *d)
{
    size_t i, k;

    if (!n || n->boolean != -1 || depth == 0)
        return 0;
    for (i = 0; i < n->nops; i++) {
        const struct sop *op = &n->ops[i];
        if (op->kind == OP_PROPS) {
            for (k = 0; k < op->props->n; k++) {
                const struct sprop *pr = op->props->order[k];
                size_t j;
                for (j = 0; pr->sub->boolean == -1 && j < pr->sub->nops; j++)
                    if (pr->sub->ops[j].kind == OP_CONST) {
                        *d = (struct sdisc){pr->name, pr->len, pr->sub->ops[j].val};
                        return 1;
                    }
            }
        } else if (op->kind == OP_REF && find_disc(op->sub, depth - 1, d)) {
            return 1;
        } else if (op->kind == OP_ALL_OF) {
            for (k = 0; k < op->n; k++)
                if (find_disc(op->subs[k], depth - 1, d))
                    return 1;
        }
    }
    return 0;
}

/* Gives each anyOf / oneOf whose branches have discriminators its table. */
static int link_discriminators(struct cctx *c)
{
    size_t i, j, k;

    for (i = 0; i < c->s->nodes.n; i++) {
        struct snode *n = c->s->nodes.p[i];
        for (j = 0; j < n->nops; j++) {
            struct sop *op = &n->ops[j];
            struct sdisc *d;
            size_t found = 0;
            if (op->kind != OP_ANY_OF && op->kind != OP_ONE_OF)
                continue;
            if (!(d = block(c, op->n * sizeof(*d))))
                return nomem(c->err);
            for (k = 0; k < op->n; k++)
                found += (size_t)find_disc(op->subs[k], 4, &d[k]);
            op->disc = found ? d : NULL;
        }
    }
    return 0;
}

/* ---- vocabularies ---- */

/* The vocabularies the root's "$schema" declares into c->vocab. */
static int set_vocab(struct cctx *c, const json_t *root, unsigned flags)
{
    const json_t *ms = json_object_get(root, "$schema"), *voc;
    const struct uent *e;
    const char *uri;
    json_t *req;
    size_t i;
    int rc;

    c->vocab = VOC_ALL | (flags & SCHEMA_FORMAT_ANNOTATION ? 0 : VOC_FORMAT_ASSERTION);
    if (!json_is_string(ms) || strcmp(json_string_value(ms), META_2020_12) == 0)
        return 0;
    if (!uri_get(c, json_string_value(ms)) && (rc = load_external(c, json_string_value(ms))))
        return nomem(c->err);
    e = uri_get(c, json_string_value(ms));
    voc = e ? json_object_get(e->j, "$vocabulary") : NULL;
    if (!json_is_object(voc))
        return 0;
    c->vocab = VOC_CORE | (flags & SCHEMA_FORMAT_ANNOTATION ? 0 : VOC_FORMAT_ASSERTION);
    json_object_foreach((json_t *)voc, uri, req) {
        for (i = 0; i < sizeof(vocabularies) / sizeof(vocabularies[0]); i++)
            if (strcmp(uri, vocabularies[i].uri) == 0)
                break;
        if (i < sizeof(vocabularies) / sizeof(vocabularies[0]))
            c->vocab |= vocabularies[i].bit;
        else if (json_is_true(req))
            return fmd_errf(c->err, FMD_EUNPROC, "schema requires the unknown vocabulary '%s'",
                            uri);
    }
    return 0;
}

/* ---- public ---- */

static int schema_new(struct schema **out)
{
    struct schema *s = fmd_calloc(1, sizeof(*s));

    *out = s;
    if (!s)
        return FMD_ENOMEM;
    s->gctx = pcre2_general_context_create(schema__pcre2_alloc, schema__pcre2_free, NULL);
    if (s->gctx)
        s->mctx = pcre2_match_context_create(s->gctx);
    if (!s->mctx)
        return FMD_ENOMEM;
    pcre2_set_match_limit(s->mctx, MATCH_LIMIT);
    pcre2_set_depth_limit(s->mctx, MATCH_DEPTH_LIMIT);
    return 0;
}

static void cctx_release(struct cctx *c)
{
    size_t i;

    pcre2_compile_context_free(c->cc);
    json_decref(c->uris);
    for (i = 0; i < c->uents.n; i++)
        fmd_free(c->uents.p[i]);
    for (i = 0; i < c->infos.n; i++) {
        struct jinfo *info = c->infos.p[i];
        fmd_free(info->path);
        fmd_free(info);
    }
    fmd_free(c->uents.p);
    fmd_free(c->infos.p);
    fmd_free(c->todo.p);
    fmd_free(c->todo_j.p);
    fmd_free(c->todo_r.p);
    ptrmap_release(&c->info);
    ptrmap_release(&c->memo);
}

static int compile_root(struct cctx *c, json_t *copy, unsigned flags)
{
    const struct uent *e;
    int rc;

    if (vec_push(&c->s->docs, copy)) {
        json_decref(copy);
        return nomem(c->err);
    }
    if (index_doc(c, copy, DEFAULT_BASE))
        return nomem(c->err);
    if ((rc = set_vocab(c, copy, flags)))
        return rc;
    e = uri_get(c, DEFAULT_BASE);
    if (get_node(c, copy, e->res, "", &c->s->root))
        return nomem(c->err);
    if ((rc = drain(c)))
        return rc;
    return link_discriminators(c);
}

int schema_compile_ex(const json_t *doc, const struct schema_registry *reg, unsigned flags,
                      struct schema **out, struct fmd_err *err)
{
    struct cctx c = {.reg = reg, .err = err};
    json_t *copy;
    int rc;

    assert(keywords_sorted());
    *out = NULL;
    if (!doc || (!json_is_object(doc) && !json_is_boolean(doc)))
        return fmd_errf(err, FMD_EUNPROC, "schema must be an object or a boolean");
    if (too_deep(doc, MAX_DOC_DEPTH))
        return fmd_errf(err, FMD_EUNPROC, "schema is nested deeper than %d levels",
                        MAX_DOC_DEPTH);
    rc = schema_new(&c.s);
    if (!rc && !(c.cc = pcre2_compile_context_create(c.s->gctx)))
        rc = FMD_ENOMEM;
    if (!rc && !(c.uris = json_object()))
        rc = FMD_ENOMEM;
    if (rc) {
        rc = nomem(err);
        goto out;
    }
    if (!(copy = json_deep_copy(doc))) {
        rc = nomem(err);
        goto out;
    }
    rc = schema__sensitive_paths(copy, &c.s->sensitive, err);
    if (!rc)
        rc = compile_root(&c, copy, flags);
    else
        json_decref(copy);
out:
    cctx_release(&c);
    if (rc)
        schema_free(c.s);
    else
        *out = c.s;
    return rc;
}

int schema_compile(const json_t *doc, struct schema **out, struct fmd_err *err)
{
    return schema_compile_ex(doc, NULL, 0, out, err);
}

void schema_free(struct schema *s)
{
    size_t i, k;

    if (!s)
        return;
    for (i = 0; i < s->nodes.n; i++) {
        struct snode *n = s->nodes.p[i];
        fmd_free(n->path);
        fmd_free(n->ops);
        fmd_free(n);
    }
    for (i = 0; i < s->res.n; i++) {
        struct sres *r = s->res.p[i];
        for (k = 0; k < r->ndyn; k++)
            fmd_free(r->dyn[k].name);
        fmd_free(r->dyn);
        fmd_free(r->uri);
        fmd_free(r->path);
        fmd_free(r);
    }
    for (i = 0; i < s->blocks.n; i++)
        fmd_free(s->blocks.p[i]);
    for (i = 0; i < s->codes.n; i++)
        pcre2_code_free(s->codes.p[i]);
    for (i = 0; i < s->docs.n; i++)
        json_decref(s->docs.p[i]);
    fmd_free(s->nodes.p);
    fmd_free(s->res.p);
    fmd_free(s->blocks.p);
    fmd_free(s->codes.p);
    fmd_free(s->docs.p);
    json_decref(s->sensitive);
    pcre2_match_context_free(s->mctx);
    pcre2_general_context_free(s->gctx);
    fmd_free(s);
}

const json_t *schema_sensitive(const struct schema *s)
{
    return s ? s->sensitive : NULL;
}

int schema_check(const struct schema *s, const json_t *instance, struct schema_errors *errors)
{
    if (!s || !instance) {
        if (errors)
            schema_errors_release(errors);
        return FMD_EINVAL;
    }
    return schema__eval(s->root, s->mctx, s->gctx, instance, errors);
}

int schema_validate(const struct schema *s, const json_t *instance, json_t **errors)
{
    struct schema_errors e;
    int rc;

    if (errors)
        *errors = NULL;
    schema_errors_init(&e);
    rc = schema_check(s, instance, errors ? &e : NULL);
    if (rc == FMD_EUNPROC && errors && schema_errors_json(&e, errors))
        rc = FMD_ENOMEM;
    schema_errors_release(&e);
    return rc;
}
