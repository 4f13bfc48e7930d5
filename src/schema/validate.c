/*
 * validate.c - compiles JSON Schema 2020-12 documents and validates instances.
 *
 * A compiled schema is a private copy of the document plus two read-only
 * tables keyed by the address of a node in that copy: the PCRE2 code of every
 * pattern (keyed by the "pattern" string node, or by the key string of a
 * patternProperties member, which Jansson keeps at a fixed address) and the
 * target of every "$ref" (keyed by the "$ref" string node). Validation walks
 * the copy and the instance side by side; all it changes lives in a struct
 * vctx on the caller's stack, which is what lets threads share a schema.
 *
 * One table, keywords[], gives each supported keyword the shape its value
 * must have (checked by schema_compile) and the function that applies it.
 *
 * Every evaluation function returns V_OK, V_FAIL (the instance is invalid
 * here; in collecting mode the error is already recorded), V_STOP (stop
 * everything: the error cap is reached or a cost bound was hit, and the
 * instance is invalid) or a negative FMD_E* code.
 */
#include "schema/validate.h"

#include <assert.h>
#include <math.h>
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
#define MAX_REF_DEPTH     64        /* $ref hops on one evaluation path */
#define MAX_EVAL_DEPTH    512       /* subschemas on one evaluation path */
#define MAX_STEPS         2000000L  /* subschema applications per validation */
#define MATCH_LIMIT       100000
#define MATCH_DEPTH_LIMIT 1000
#define PATH_MAX_BYTES    ((size_t)1 << 30)

enum { V_OK = 0, V_FAIL = 1, V_STOP = 2 };

/* ---- a read-only-after-build map from node address to value ---- */

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

static struct ptrmap_ent *ptrmap_find(const struct ptrmap *m, const void *key)
{
    size_t i;

    if (!m->cap)
        return NULL;
    for (i = ptrmap_slot(m, key); m->e[i].key; i = (i + 1) & (m->cap - 1))
        if (m->e[i].key == key)
            return &m->e[i];
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

/* Frees the table; free_val (may be NULL) is called on each value. */
static void ptrmap_release(struct ptrmap *m, void (*free_val)(void *))
{
    size_t i;

    for (i = 0; free_val && i < m->cap; i++)
        if (m->e[i].key)
            free_val(m->e[i].val);
    fmd_freez(&m->e);
    m->cap = m->len = 0;
}

/* ---- the compiled schema and the per-call state ---- */

struct ref {
    const json_t *target;
    char ptr[];        /* the target's JSON Pointer, for schema_path */
};

struct schema {
    json_t *doc;                 /* private copy, never modified */
    struct ptrmap patterns;      /* pattern location -> pcre2_code */
    struct ptrmap refs;          /* "$ref" string node -> struct ref */
    pcre2_general_context *gctx; /* PCRE2 allocates through fmd_malloc */
    pcre2_match_context *mctx;   /* the match limits; read-only */
};

struct vctx {
    const struct schema *s;
    json_t *out;        /* the errors found, or NULL when not wanted */
    int collect;        /* 0 while only validity matters (anyOf, not, ...) */
    size_t nerr;
    int depth, ref_depth;
    long steps;
    struct buf ipath;   /* JSON Pointer into the instance */
    struct buf spath;   /* schema_path is spath.p + sbase */
    size_t sbase;
    pcre2_match_data *md;
};

typedef int kw_fn(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst);

/* What a keyword's value must be, checked at compile. */
enum kw_kind {
    K_SCHEMA,          /* a schema */
    K_SCHEMA_MAP,      /* an object of schemas */
    K_PATTERN_MAP,     /* an object of schemas keyed by patterns */
    K_SCHEMA_LIST,     /* a non-empty array of schemas */
    K_NUMBER,
    K_POSITIVE,        /* a number > 0 */
    K_COUNT,           /* a non-negative integer (1.0 counts) */
    K_BOOL,
    K_STRING,
    K_STRINGS,         /* an array of strings */
    K_STRINGS_MAP,     /* an object of arrays of strings */
    K_TYPE,
    K_ARRAY,
    K_ANY,
    K_PATTERN,
    K_REF,
};

struct keyword {
    const char *name;
    enum kw_kind kind;
    kw_fn *apply;      /* NULL: applied by a sibling (then by if, ...) */
};

static const struct keyword *keyword_find(const char *name);
static int validate_node(struct vctx *c, const json_t *sch, const json_t *inst);

/* ---- paths and messages ---- */

/* Appends "/" and key escaped per RFC 6901 (~ as ~0, / as ~1). */
static int push_key(struct buf *b, const char *key, size_t n)
{
    size_t i;
    int rc = buf_addc(b, '/');

    for (i = 0; !rc && i < n; i++)
        rc = key[i] == '~' ? buf_add(b, "~0", 2)
           : key[i] == '/' ? buf_add(b, "~1", 2) : buf_addc(b, key[i]);
    return rc ? FMD_ENOMEM : 0;
}

static int push_idx(struct buf *b, size_t i)
{
    return buf_printf(b, "/%zu", i) ? FMD_ENOMEM : 0;
}

static void trunc_to(struct buf *b, size_t len)
{
    if (b->len != len) {   /* never write to the shared empty string */
        b->len = len;
        b->p[len] = '\0';
    }
}

/* One step of a path: an object key, or an array index when key is NULL. */
struct seg {
    const char *key;
    size_t len;
    size_t idx;
};
#define SEG_KEY(k, n) (&(struct seg){(k), (n), 0})
#define SEG_IDX(i)    (&(struct seg){NULL, 0, (i)})

static int push_seg(struct buf *b, const struct seg *g)
{
    if (!g)
        return 0;
    return g->key ? push_key(b, g->key, g->len) : push_idx(b, g->idx);
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

/* The shortest decimal form that reads back as the same number. */
static const char *num_str(char dst[40], const json_t *v)
{
    double d;
    int prec;

    if (json_is_integer(v)) {
        snprintf(dst, 40, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return dst;
    }
    d = json_real_value(v);
    for (prec = 1; prec <= 17; prec++) {
        snprintf(dst, 40, "%.*g", prec, d);
        if (strtod(dst, NULL) == d)
            break;
    }
    return dst;
}

/* Appends one error at the current paths; kw (NULL: none) extends schema_path. */
static int add_error(struct vctx *c, const char *kw, const char *keyword, const char *msg)
{
    size_t sm = c->spath.len;
    json_t *e = NULL;
    int rc = 0;

    if (!c->out || c->nerr >= SCHEMA_MAX_ERRORS)
        return 0;
    if (kw && push_key(&c->spath, kw, strlen(kw))) {
        rc = FMD_ENOMEM;
        goto out;
    }
    e = json_object();
    if (!e || json_object_set_new(e, "path", json_stringn(c->ipath.p, c->ipath.len)) ||
        json_object_set_new(e, "schema_path",
                            json_stringn(c->spath.p + c->sbase, c->spath.len - c->sbase)) ||
        json_object_set_new(e, "keyword", json_string(keyword)) ||
        json_object_set_new(e, "message", json_string(msg)) ||
        json_array_append(c->out, e)) {
        rc = FMD_ENOMEM;
        goto out;
    }
    c->nerr++;
out:
    json_decref(e);
    trunc_to(&c->spath, sm);
    return rc;
}

static int vfail(struct vctx *c, const char *kw, const char *fmt, va_list ap)
{
    char msg[256];
    int rc;

    if (!c->collect)
        return V_FAIL;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    rc = add_error(c, kw, kw ? kw : "false", msg);
    if (rc)
        return rc;
    return c->nerr >= SCHEMA_MAX_ERRORS ? V_STOP : V_FAIL;
}

/* The instance fails keyword kw here (kw NULL: a false schema); records why. */
static int fail(struct vctx *c, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct vctx *c, const char *kw, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vfail(c, kw, fmt, ap);
    va_end(ap);
    return rc;
}

/* As fail, for the instance's member iseg. */
static int fail_at(struct vctx *c, const struct seg *iseg, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(struct vctx *c, const struct seg *iseg, const char *kw, const char *fmt, ...)
{
    size_t im = c->ipath.len;
    va_list ap;
    int rc = push_seg(&c->ipath, iseg);

    if (!rc) {
        va_start(ap, fmt);
        rc = vfail(c, kw, fmt, ap);
        va_end(ap);
    }
    trunc_to(&c->ipath, im);
    return rc;
}

/* A cost bound was hit: recorded even where errors are not collected, since
 * the whole validation ends here with the instance invalid. */
static int stop(struct vctx *c, const char *kw, const char *msg)
{
    int rc = add_error(c, kw, kw ? kw : "", msg);
    return rc ? rc : V_STOP;
}

/*
 * Folds a subresult into *failed. Nonzero when the caller must return rc at
 * once: a stop, an error, or any failure when only validity matters.
 */
static int settle(const struct vctx *c, int rc, int *failed)
{
    if (rc == V_OK)
        return 0;
    if (rc == V_FAIL && c->collect) {
        *failed = 1;
        return 0;
    }
    return 1;
}

/* ---- applying subschemas ---- */

/* Applies sub to inst, schema path extended by kw and sseg, instance path by iseg. */
static int descend(struct vctx *c, const json_t *sub, const json_t *inst, const char *kw,
                   const struct seg *sseg, const struct seg *iseg)
{
    size_t sm = c->spath.len, im = c->ipath.len;
    int rc = push_key(&c->spath, kw, strlen(kw));

    if (!rc)
        rc = push_seg(&c->spath, sseg);
    if (!rc)
        rc = push_seg(&c->ipath, iseg);
    if (!rc)
        rc = validate_node(c, sub, inst);
    trunc_to(&c->spath, sm);
    trunc_to(&c->ipath, im);
    return rc;
}

/* As descend, but only for validity: records no errors except stops. */
static int probe(struct vctx *c, const json_t *sub, const json_t *inst, const char *kw,
                 const struct seg *sseg, const struct seg *iseg)
{
    int saved = c->collect, rc;

    c->collect = 0;
    rc = descend(c, sub, inst, kw, sseg, iseg);
    c->collect = saved;
    return rc;
}

/* additionalProperties and items: a false schema fails with the keyword's name. */
static int apply_or_deny(struct vctx *c, const json_t *sub, const json_t *inst, const char *kw,
                         const struct seg *iseg)
{
    if (json_is_false(sub))
        return fail_at(c, iseg, kw, "is not allowed");
    return descend(c, sub, inst, kw, NULL, iseg);
}

static int validate_node(struct vctx *c, const json_t *sch, const json_t *inst)
{
    const struct keyword *kw;
    const char *key;
    json_t *val;
    int rc = V_OK, failed = 0;

    if (json_is_true(sch))
        return V_OK;
    if (!json_is_object(sch))
        return fail(c, NULL, "is not allowed");
    if (++c->steps > MAX_STEPS)
        return stop(c, NULL, "validation too costly");
    if (c->depth >= MAX_EVAL_DEPTH)
        return stop(c, NULL, "schema recursion too deep");
    c->depth++;
    /* Jansson's iterators take a non-const object; nothing is modified. */
    json_object_foreach((json_t *)sch, key, val) {
        if (!(kw = keyword_find(key)) || !kw->apply)
            continue;
        rc = kw->apply(c, sch, val, inst);
        if (settle(c, rc, &failed))
            break;
        rc = V_OK;
    }
    c->depth--;
    return rc != V_OK ? rc : failed ? V_FAIL : V_OK;
}

/* ---- pattern matching ---- */

/* Sets *matched. V_OK, V_STOP when the match is too costly, FMD_ENOMEM. */
static int match(struct vctx *c, const void *loc, const char *s, size_t n, const char *kw,
                 int *matched)
{
    const struct ptrmap_ent *e = ptrmap_find(&c->s->patterns, loc);
    int rc;

    if (!e)
        FMD_BUG("pattern reached at validation was not compiled");
    if (!c->md && !(c->md = pcre2_match_data_create(1, c->s->gctx)))
        return FMD_ENOMEM;
    c->steps++;
    rc = pcre2_match(e->val, (PCRE2_SPTR)s, n, 0, 0, c->md, c->s->mctx);
    *matched = rc >= 0;   /* 0: matched, the one-pair ovector being too small */
    if (rc >= 0 || rc == PCRE2_ERROR_NOMATCH)
        return V_OK;
    if (rc == PCRE2_ERROR_NOMEMORY)
        return FMD_ENOMEM;
    return stop(c, kw, "pattern too costly to evaluate");
}

/* ---- keywords: any type ---- */

static const char *const type_names[] = {
    "array", "boolean", "integer", "null", "number", "object", "string",
};

static int type_matches(const char *t, const json_t *inst)
{
    switch (json_typeof(inst)) {
    case JSON_OBJECT:  return strcmp(t, "object") == 0;
    case JSON_ARRAY:   return strcmp(t, "array") == 0;
    case JSON_STRING:  return strcmp(t, "string") == 0;
    case JSON_INTEGER: return strcmp(t, "integer") == 0 || strcmp(t, "number") == 0;
    case JSON_REAL:
        return strcmp(t, "number") == 0 ||
               (strcmp(t, "integer") == 0 && schema__is_integral(inst));
    case JSON_TRUE:
    case JSON_FALSE:   return strcmp(t, "boolean") == 0;
    case JSON_NULL:    return strcmp(t, "null") == 0;
    }
    return 0;
}

static const char *type_phrase(const char *t)
{
    static const char *const phrases[] = {
        "an array", "a boolean", "an integer", "null", "a number", "an object", "a string",
    };
    size_t i;

    for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (strcmp(t, type_names[i]) == 0)
            return phrases[i];
    return t;
}

static int kw_type(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    char msg[160] = "must be ";
    size_t i, n = json_array_size(val);

    if (json_is_string(val))
        return type_matches(json_string_value(val), inst) ? V_OK
             : fail(c, "type", "must be %s", type_phrase(json_string_value(val)));
    for (i = 0; i < n; i++)
        if (type_matches(json_string_value(json_array_get(val, i)), inst))
            return V_OK;
    for (i = 0; i < n && i < 7; i++) {
        size_t len = strlen(msg);
        snprintf(msg + len, sizeof(msg) - len, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ",
                 type_phrase(json_string_value(json_array_get(val, i))));
    }
    return fail(c, "type", "%s", msg);
}

static int kw_enum(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    size_t i;

    for (i = 0; i < json_array_size(val); i++)
        if (schema__json_equal(json_array_get(val, i), inst))
            return V_OK;
    return fail(c, "enum", "must be one of the listed values");
}

static int kw_const(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    return schema__json_equal(val, inst) ? V_OK : fail(c, "const", "must be equal to the constant");
}

static int kw_ref(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    const struct ptrmap_ent *e = ptrmap_find(&c->s->refs, val);
    const struct ref *r;
    size_t sm = c->spath.len, base = c->sbase;
    int rc;

    if (!e)
        FMD_BUG("$ref reached at validation was not resolved");
    r = e->val;
    if (c->ref_depth >= MAX_REF_DEPTH)
        return stop(c, "$ref", "schema recursion too deep");
    /* Errors under the target name its own location: keep the path so far
     * in the buffer but start schema_path at the target's pointer. */
    c->sbase = sm;
    rc = buf_adds(&c->spath, r->ptr) ? FMD_ENOMEM : V_OK;
    if (!rc) {
        c->ref_depth++;
        rc = validate_node(c, r->target, inst);
        c->ref_depth--;
    }
    trunc_to(&c->spath, sm);
    c->sbase = base;
    return rc;
}

/* ---- keywords: combinators and conditionals ---- */

static int kw_all_of(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    size_t i;
    int rc, failed = 0;

    for (i = 0; i < json_array_size(val); i++) {
        rc = descend(c, json_array_get(val, i), inst, "allOf", SEG_IDX(i), NULL);
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

static int kw_any_of(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    size_t i;
    int rc;

    for (i = 0; i < json_array_size(val); i++) {
        rc = probe(c, json_array_get(val, i), inst, "anyOf", SEG_IDX(i), NULL);
        if (rc != V_FAIL)
            return rc;
    }
    return fail(c, "anyOf", "must match at least one schema in anyOf");
}

static int kw_one_of(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    size_t i, matched = 0;
    int rc;

    for (i = 0; i < json_array_size(val) && matched < 2; i++) {
        rc = probe(c, json_array_get(val, i), inst, "oneOf", SEG_IDX(i), NULL);
        if (rc == V_OK)
            matched++;
        else if (rc != V_FAIL)
            return rc;
    }
    if (matched == 1)
        return V_OK;
    return fail(c, "oneOf", matched ? "must match only one schema in oneOf"
                                    : "must match exactly one schema in oneOf");
}

static int kw_not(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    int rc = probe(c, val, inst, "not", NULL, NULL);

    if (rc == V_OK)
        return fail(c, "not", "must not match the schema in not");
    return rc == V_FAIL ? V_OK : rc;
}

static int kw_if(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    int rc = probe(c, val, inst, "if", NULL, NULL);
    const char *branch = rc == V_OK ? "then" : "else";
    const json_t *sub;

    if (rc != V_OK && rc != V_FAIL)
        return rc;
    sub = json_object_get(sch, branch);
    return sub ? descend(c, sub, inst, branch, NULL, NULL) : V_OK;
}

/* ---- keywords: objects ---- */

static int kw_properties(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    const char *key;
    size_t len;
    json_t *sub;
    int rc, failed = 0;

    if (!json_is_object(inst))
        return V_OK;
    json_object_keylen_foreach((json_t *)val, key, len, sub) {
        const json_t *child = json_object_getn(inst, key, len);
        if (!child)
            continue;
        rc = descend(c, sub, child, "properties", SEG_KEY(key, len), SEG_KEY(key, len));
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

/* Applies the patternProperties members whose pattern matches key. */
static int pattern_props_one(struct vctx *c, const json_t *pp, const char *key, size_t len,
                             const json_t *child)
{
    const char *pat;
    size_t plen;
    json_t *sub;
    int rc, matched, failed = 0;

    json_object_keylen_foreach((json_t *)pp, pat, plen, sub) {
        rc = match(c, pat, key, len, "patternProperties", &matched);
        if (rc == V_OK && matched)
            rc = descend(c, sub, child, "patternProperties", SEG_KEY(pat, plen),
                         SEG_KEY(key, len));
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

static int kw_pattern_properties(struct vctx *c, const json_t *sch, const json_t *val,
                                 const json_t *inst)
{
    const char *key;
    size_t len;
    json_t *child;
    int rc, failed = 0;

    if (!json_is_object(inst))
        return V_OK;
    json_object_keylen_foreach((json_t *)inst, key, len, child) {
        rc = pattern_props_one(c, val, key, len, child);
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

/* Sets *covered if properties or a patternProperties pattern covers key. */
static int covered_by_siblings(struct vctx *c, const json_t *sch, const char *key, size_t len,
                               int *covered)
{
    const json_t *props = json_object_get(sch, "properties");
    const json_t *pp = json_object_get(sch, "patternProperties");
    const char *pat;
    json_t *sub;
    int rc;

    *covered = json_is_object(props) && json_object_getn(props, key, len);
    if (*covered || !json_is_object(pp))
        return V_OK;
    json_object_foreach((json_t *)pp, pat, sub) {
        rc = match(c, pat, key, len, "patternProperties", covered);
        if (rc != V_OK || *covered)
            return rc;
    }
    return V_OK;
}

static int kw_additional_properties(struct vctx *c, const json_t *sch, const json_t *val,
                                    const json_t *inst)
{
    const char *key;
    size_t len;
    json_t *child;
    int rc, covered, failed = 0;

    if (!json_is_object(inst))
        return V_OK;
    json_object_keylen_foreach((json_t *)inst, key, len, child) {
        rc = covered_by_siblings(c, sch, key, len, &covered);
        if (rc == V_OK && !covered)
            rc = apply_or_deny(c, val, child, "additionalProperties", SEG_KEY(key, len));
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

static int kw_property_names(struct vctx *c, const json_t *sch, const json_t *val,
                             const json_t *inst)
{
    const char *key;
    size_t len;
    json_t *child, *name;
    char ex[80];
    int rc, failed = 0;

    if (!json_is_object(inst))
        return V_OK;
    json_object_keylen_foreach((json_t *)inst, key, len, child) {
        if (!(name = json_stringn(key, len)))
            return FMD_ENOMEM;
        rc = probe(c, val, name, "propertyNames", NULL, NULL);
        json_decref(name);
        if (rc == V_FAIL)
            rc = fail(c, "propertyNames", "property name '%s' is not allowed",
                      schema__excerpt(ex, key, len, 64));
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

static size_t count_of(const json_t *v)
{
    double d;

    if (json_is_integer(v))
        return json_integer_value(v) < 0 ? 0 : (size_t)json_integer_value(v);
    d = json_real_value(v);
    return d <= 0 ? 0 : d >= 1.8e19 ? SIZE_MAX : (size_t)d;
}

static int kw_min_properties(struct vctx *c, const json_t *sch, const json_t *val,
                             const json_t *inst)
{
    size_t n = count_of(val);

    if (!json_is_object(inst) || json_object_size(inst) >= n)
        return V_OK;
    return fail(c, "minProperties", "must have at least %zu propert%s", n, n == 1 ? "y" : "ies");
}

static int kw_max_properties(struct vctx *c, const json_t *sch, const json_t *val,
                             const json_t *inst)
{
    size_t n = count_of(val);

    if (!json_is_object(inst) || json_object_size(inst) <= n)
        return V_OK;
    return fail(c, "maxProperties", "must have at most %zu propert%s", n, n == 1 ? "y" : "ies");
}

static int kw_required(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    size_t i;
    char ex[80];
    int rc, failed = 0;

    if (!json_is_object(inst))
        return V_OK;
    for (i = 0; i < json_array_size(val); i++) {
        const json_t *name = json_array_get(val, i);
        const char *s = json_string_value(name);
        size_t len = json_string_length(name);
        if (json_object_getn(inst, s, len))
            continue;
        rc = fail(c, "required", "'%s' is required", schema__excerpt(ex, s, len, 64));
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

static int kw_dependent_required(struct vctx *c, const json_t *sch, const json_t *val,
                                 const json_t *inst)
{
    const char *key;
    size_t i, len;
    json_t *deps;
    char ex1[80], ex2[80];
    int rc, failed = 0;

    if (!json_is_object(inst))
        return V_OK;
    json_object_keylen_foreach((json_t *)val, key, len, deps) {
        if (!json_object_getn(inst, key, len))
            continue;
        for (i = 0; i < json_array_size(deps); i++) {
            const json_t *name = json_array_get(deps, i);
            const char *s = json_string_value(name);
            size_t n = json_string_length(name);
            if (json_object_getn(inst, s, n))
                continue;
            rc = fail(c, "dependentRequired", "'%s' is required when '%s' is present",
                      schema__excerpt(ex1, s, n, 64), schema__excerpt(ex2, key, len, 64));
            if (settle(c, rc, &failed))
                return rc;
        }
    }
    return failed ? V_FAIL : V_OK;
}

static int kw_dependent_schemas(struct vctx *c, const json_t *sch, const json_t *val,
                                const json_t *inst)
{
    const char *key;
    size_t len;
    json_t *sub;
    int rc, failed = 0;

    if (!json_is_object(inst))
        return V_OK;
    json_object_keylen_foreach((json_t *)val, key, len, sub) {
        if (!json_object_getn(inst, key, len))
            continue;
        rc = descend(c, sub, inst, "dependentSchemas", SEG_KEY(key, len), NULL);
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

/* ---- keywords: arrays ---- */

static int kw_prefix_items(struct vctx *c, const json_t *sch, const json_t *val,
                           const json_t *inst)
{
    size_t i;
    int rc, failed = 0;

    for (i = 0; i < json_array_size(inst) && i < json_array_size(val); i++) {
        rc = descend(c, json_array_get(val, i), json_array_get(inst, i), "prefixItems",
                     SEG_IDX(i), SEG_IDX(i));
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

static int kw_items(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    size_t i = json_array_size(json_object_get(sch, "prefixItems"));
    int rc, failed = 0;

    for (; i < json_array_size(inst); i++) {
        rc = apply_or_deny(c, val, json_array_get(inst, i), "items", SEG_IDX(i));
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

static int kw_min_items(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    size_t n = count_of(val);

    if (!json_is_array(inst) || json_array_size(inst) >= n)
        return V_OK;
    return fail(c, "minItems", "must have at least %zu item%s", n, n == 1 ? "" : "s");
}

static int kw_max_items(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    size_t n = count_of(val);

    if (!json_is_array(inst) || json_array_size(inst) <= n)
        return V_OK;
    return fail(c, "maxItems", "must have at most %zu item%s", n, n == 1 ? "" : "s");
}

struct hashed {
    uint64_t h;
    size_t i;
};

static int hashed_cmp(const void *a, const void *b)
{
    const struct hashed *x = a, *y = b;

    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Finds two equal items by sorting on a hash: n log n, not n^2. */
static int kw_unique_items(struct vctx *c, const json_t *sch, const json_t *val,
                           const json_t *inst)
{
    size_t i, j, k, n = json_array_size(inst);
    struct hashed *v = NULL;
    int rc = V_OK;

    if (!json_is_true(val) || n < 2)
        goto out;
    if (!(v = fmd_malloc(n * sizeof(*v)))) {
        rc = FMD_ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        v[i].h = schema__json_hash(json_array_get(inst, i));
        v[i].i = i;
    }
    qsort(v, n, sizeof(*v), hashed_cmp);
    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n && v[j].h == v[i].h; j++)
            ;
        for (k = i; k + 1 < j; k++) {
            size_t m;
            for (m = k + 1; m < j; m++) {
                if (!schema__json_equal(json_array_get(inst, v[k].i),
                                        json_array_get(inst, v[m].i)))
                    continue;
                rc = fail(c, "uniqueItems", "must not contain duplicates (items %zu and %zu "
                          "are equal)", v[k].i, v[m].i);
                goto out;
            }
        }
    }
out:
    fmd_free(v);
    return rc;
}

static int kw_contains(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    const json_t *minc = json_object_get(sch, "minContains");
    const json_t *maxc = json_object_get(sch, "maxContains");
    size_t i, found = 0, lo = minc ? count_of(minc) : 1, hi = maxc ? count_of(maxc) : SIZE_MAX;
    int rc;

    if (!json_is_array(inst))
        return V_OK;
    for (i = 0; i < json_array_size(inst) && found <= hi && (maxc || found < lo); i++) {
        rc = probe(c, val, json_array_get(inst, i), "contains", NULL, SEG_IDX(i));
        if (rc == V_OK)
            found++;
        else if (rc != V_FAIL)
            return rc;
    }
    if (found < lo)
        return minc ? fail(c, "minContains", "must contain at least %zu matching item%s", lo,
                           lo == 1 ? "" : "s")
                    : fail(c, "contains", "must contain at least one matching item");
    if (found > hi)
        return fail(c, "maxContains", "must contain at most %zu matching item%s", hi,
                    hi == 1 ? "" : "s");
    return V_OK;
}

/* ---- keywords: numbers ---- */

/* Fails when the instance compares to the bound as bad_sign says (or 0 too). */
static int bound(struct vctx *c, const char *kw, const json_t *val, const json_t *inst,
                 int bad_sign, int bad_if_equal, const char *op)
{
    char num[40];
    int cmp;

    if (!json_is_number(inst))
        return V_OK;
    cmp = schema__num_cmp(inst, val);
    if (cmp != bad_sign && !(bad_if_equal && cmp == 0))
        return V_OK;
    return fail(c, kw, "must be %s %s", op, num_str(num, val));
}

static int kw_minimum(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    return bound(c, "minimum", val, inst, -1, 0, ">=");
}

static int kw_maximum(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    return bound(c, "maximum", val, inst, 1, 0, "<=");
}

static int kw_exclusive_minimum(struct vctx *c, const json_t *sch, const json_t *val,
                                const json_t *inst)
{
    return bound(c, "exclusiveMinimum", val, inst, -1, 1, ">");
}

static int kw_exclusive_maximum(struct vctx *c, const json_t *sch, const json_t *val,
                                const json_t *inst)
{
    return bound(c, "exclusiveMaximum", val, inst, 1, 1, "<");
}

static double num_double(const json_t *v)
{
    return json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
}

static int kw_multiple_of(struct vctx *c, const json_t *sch, const json_t *val,
                          const json_t *inst)
{
    char num[40];
    double q;
    int ok;

    if (!json_is_number(inst))
        return V_OK;
    if (json_is_integer(inst) && json_is_integer(val)) {
        ok = json_integer_value(inst) % json_integer_value(val) == 0;   /* val > 0 */
    } else {
        /* Decimal fractions are inexact in binary: 0.0075 / 0.0001 is
         * 75.00000000000001. Accept a quotient within rounding of an integer;
         * one too large to represent (1e308 / 0.1) is no multiple. */
        q = num_double(inst) / num_double(val);
        ok = isfinite(q) && fabs(q - nearbyint(q)) <= 1e-9 * fmax(1.0, fabs(q));
    }
    return ok ? V_OK : fail(c, "multipleOf", "must be a multiple of %s", num_str(num, val));
}

/* ---- keywords: strings ---- */

static size_t code_points(const json_t *str)
{
    const unsigned char *s = (const unsigned char *)json_string_value(str);
    size_t i, n = 0, len = json_string_length(str);

    for (i = 0; i < len; i++)
        n += (s[i] & 0xC0) != 0x80;
    return n;
}

static int kw_min_length(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    size_t n = count_of(val);

    if (!json_is_string(inst) || code_points(inst) >= n)
        return V_OK;
    return fail(c, "minLength", "must be at least %zu character%s long", n, n == 1 ? "" : "s");
}

static int kw_max_length(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    size_t n = count_of(val);

    if (!json_is_string(inst) || code_points(inst) <= n)
        return V_OK;
    return fail(c, "maxLength", "must be at most %zu character%s long", n, n == 1 ? "" : "s");
}

static int kw_pattern(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    int rc, matched;

    if (!json_is_string(inst))
        return V_OK;
    rc = match(c, val, json_string_value(inst), json_string_length(inst), "pattern", &matched);
    if (rc != V_OK || matched)
        return rc;
    return fail(c, "pattern", "does not match pattern");
}

static int kw_format(struct vctx *c, const json_t *sch, const json_t *val, const json_t *inst)
{
    const char *f = json_string_value(val);

    if (!json_is_string(inst) ||
        schema__format_check(f, json_string_value(inst), json_string_length(inst)) != 0)
        return V_OK;
    return fail(c, "format", "must be a valid %s", f);
}

/* ---- the keyword table, sorted by strcmp for bsearch ---- */

static const struct keyword keywords[] = {
    {"$defs",                K_SCHEMA_MAP,  NULL},
    {"$ref",                 K_REF,         kw_ref},
    {"additionalProperties", K_SCHEMA,      kw_additional_properties},
    {"allOf",                K_SCHEMA_LIST, kw_all_of},
    {"anyOf",                K_SCHEMA_LIST, kw_any_of},
    {"const",                K_ANY,         kw_const},
    {"contains",             K_SCHEMA,      kw_contains},
    {"dependentRequired",    K_STRINGS_MAP, kw_dependent_required},
    {"dependentSchemas",     K_SCHEMA_MAP,  kw_dependent_schemas},
    {"else",                 K_SCHEMA,      NULL},
    {"enum",                 K_ARRAY,       kw_enum},
    {"exclusiveMaximum",     K_NUMBER,      kw_exclusive_maximum},
    {"exclusiveMinimum",     K_NUMBER,      kw_exclusive_minimum},
    {"format",               K_STRING,      kw_format},
    {"if",                   K_SCHEMA,      kw_if},
    {"items",                K_SCHEMA,      kw_items},
    {"maxContains",          K_COUNT,       NULL},
    {"maxItems",             K_COUNT,       kw_max_items},
    {"maxLength",            K_COUNT,       kw_max_length},
    {"maxProperties",        K_COUNT,       kw_max_properties},
    {"maximum",              K_NUMBER,      kw_maximum},
    {"minContains",          K_COUNT,       NULL},
    {"minItems",             K_COUNT,       kw_min_items},
    {"minLength",            K_COUNT,       kw_min_length},
    {"minProperties",        K_COUNT,       kw_min_properties},
    {"minimum",              K_NUMBER,      kw_minimum},
    {"multipleOf",           K_POSITIVE,    kw_multiple_of},
    {"not",                  K_SCHEMA,      kw_not},
    {"oneOf",                K_SCHEMA_LIST, kw_one_of},
    {"pattern",              K_PATTERN,     kw_pattern},
    {"patternProperties",    K_PATTERN_MAP, kw_pattern_properties},
    {"prefixItems",          K_SCHEMA_LIST, kw_prefix_items},
    {"properties",           K_SCHEMA_MAP,  kw_properties},
    {"propertyNames",        K_SCHEMA,      kw_property_names},
    {"required",             K_STRINGS,     kw_required},
    {"then",                 K_SCHEMA,      NULL},
    {"type",                 K_TYPE,        kw_type},
    {"uniqueItems",          K_BOOL,        kw_unique_items},
};
#define NKEYWORDS (sizeof(keywords) / sizeof(keywords[0]))

static int keyword_cmp(const void *name, const void *kw)
{
    return strcmp(name, ((const struct keyword *)kw)->name);
}

static const struct keyword *keyword_find(const char *name)
{
    return bsearch(name, keywords, NKEYWORDS, sizeof(keywords[0]), keyword_cmp);
}

static int keywords_sorted(void)
{
    size_t i;

    for (i = 1; i < NKEYWORDS; i++)
        if (strcmp(keywords[i - 1].name, keywords[i].name) >= 0)
            return 0;
    return 1;
}

/* ---- compile ---- */

struct cctx {
    struct schema *s;
    struct ptrmap seen;          /* schema objects already walked */
    struct buf loc;              /* JSON Pointer of the value being checked */
    pcre2_compile_context *cc;
    struct ref **todo;           /* $ref targets still to walk */
    size_t ntodo, todo_cap;
    struct fmd_err *err;
};

static int nomem(struct fmd_err *err)
{
    return fmd_errf(err, FMD_ENOMEM, "out of memory");
}

/* The location for a message: at most 120 bytes of it. */
static const char *loc_str(const struct cctx *c, char dst[128])
{
    return schema__excerpt(dst, c->loc.p, c->loc.len, 120);
}

static int bad_value(struct cctx *c, const char *what)
{
    char loc[128];
    return fmd_errf(c->err, FMD_EUNPROC, "value at %s must be %s", loc_str(c, loc), what);
}

static int walk_schema(struct cctx *c, const json_t *node);

/* Walks each member of an object of schemas at loc/key. */
static int walk_schema_map(struct cctx *c, const json_t *map, int keys_are_patterns);

static int walk_schema_list(struct cctx *c, const json_t *list)
{
    size_t i, mark = c->loc.len;
    int rc = 0;

    if (!json_is_array(list) || json_array_size(list) == 0)
        return bad_value(c, "a non-empty array of schemas");
    for (i = 0; !rc && i < json_array_size(list); i++) {
        rc = push_idx(&c->loc, i) ? nomem(c->err) : walk_schema(c, json_array_get(list, i));
        trunc_to(&c->loc, mark);
    }
    return rc;
}

static int compile_pattern(struct cctx *c, const void *key, const char *pat, size_t len)
{
    pcre2_code *code = NULL;
    char why[160], loc[128];
    int rc = schema__regex_compile(pat, len, c->cc, &code, why, sizeof(why));

    if (rc == FMD_EUNPROC)
        return fmd_errf(c->err, FMD_EUNPROC, "pattern at %s does not compile: %s",
                        loc_str(c, loc), why);
    if (!rc && ptrmap_put(&c->s->patterns, key, code)) {
        pcre2_code_free(code);
        rc = FMD_ENOMEM;
    }
    return rc ? nomem(c->err) : 0;
}

static int walk_schema_map(struct cctx *c, const json_t *map, int keys_are_patterns)
{
    const char *key;
    size_t len, mark = c->loc.len;
    json_t *sub;
    int rc = 0;

    if (!json_is_object(map))
        return bad_value(c, "an object of schemas");
    json_object_keylen_foreach((json_t *)map, key, len, sub) {
        rc = push_key(&c->loc, key, len) ? nomem(c->err) : 0;
        if (!rc && keys_are_patterns)
            rc = compile_pattern(c, key, key, len);
        if (!rc)
            rc = walk_schema(c, sub);
        trunc_to(&c->loc, mark);
        if (rc)
            break;
    }
    return rc;
}

static int is_type_name(const json_t *v)
{
    size_t i;

    for (i = 0; json_is_string(v) && i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (strcmp(json_string_value(v), type_names[i]) == 0)
            return 1;
    return 0;
}

static int check_type(struct cctx *c, const json_t *val)
{
    size_t i, j, n = json_array_size(val);
    int ok = json_is_string(val) ? is_type_name(val) : json_is_array(val) && n > 0;

    for (i = 0; ok && json_is_array(val) && i < n; i++) {
        ok = is_type_name(json_array_get(val, i));
        for (j = 0; ok && j < i; j++)
            ok = !json_equal(json_array_get(val, i), json_array_get(val, j));
    }
    return ok ? 0 : bad_value(c, "a type name or an array of distinct type names");
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

static int check_strings_map(struct cctx *c, const json_t *val)
{
    const char *key;
    json_t *deps;

    if (!json_is_object(val))
        return bad_value(c, "an object of arrays of strings");
    json_object_foreach((json_t *)val, key, deps)
        if (!all_strings(deps))
            return bad_value(c, "an object of arrays of strings");
    return 0;
}

static int hex_val(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0'
         : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
         : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/*
 * Percent-decodes the URI fragment s[0..n) of a "$ref" into *ptr (caller
 * frees, even on failure). 0, FMD_EUNPROC for a bad escape, FMD_ENOMEM.
 */
static int decode_fragment(const char *s, size_t n, char **ptr)
{
    char *p = fmd_malloc(n + 1);
    size_t i, k = 0;

    *ptr = p;
    if (!p)
        return FMD_ENOMEM;
    for (i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] != '%') {
            p[k++] = s[i];
            continue;
        }
        hi = i + 2 < n ? hex_val(s[i + 1]) : -1;
        lo = i + 2 < n ? hex_val(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi | lo) == 0)
            return FMD_EUNPROC;   /* bad escape, or %00 */
        p[k++] = (char)(hi * 16 + lo);
        i += 2;
    }
    p[k] = '\0';
    return 0;
}

/* The node at JSON Pointer p (decoded), or NULL. tok is scratch of strlen(p)+1. */
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

static int todo_push(struct cctx *c, struct ref *r)
{
    if (c->ntodo == c->todo_cap) {
        size_t ncap = c->todo_cap ? c->todo_cap * 2 : 8;
        struct ref **n = fmd_realloc(c->todo, ncap * sizeof(*n));
        if (!n)
            return FMD_ENOMEM;
        c->todo = n;
        c->todo_cap = ncap;
    }
    c->todo[c->ntodo++] = r;
    return 0;
}

static int resolve_ref(struct cctx *c, const json_t *node)
{
    const char *s = json_string_value(node);
    size_t n = json_string_length(node);
    char *ptr = NULL, *tok = NULL, loc[128], ex[80];
    const json_t *target = NULL;
    struct ref *r = NULL;
    int rc;

    if (!s)
        return bad_value(c, "a string");
    rc = n > 0 && s[0] == '#' ? decode_fragment(s + 1, n - 1, &ptr) : FMD_EUNPROC;
    if (!rc && (ptr[0] == '\0' || ptr[0] == '/')) {
        if (!(tok = fmd_malloc(strlen(ptr) + 1)))
            rc = FMD_ENOMEM;
        else
            target = pointer_get(c->s->doc, ptr, tok);
    }
    if (rc != FMD_ENOMEM && (!target || !(json_is_object(target) || json_is_boolean(target)))) {
        rc = fmd_errf(c->err, FMD_EUNPROC, "$ref at %s does not resolve to a schema in this "
                      "document: '%s'", loc_str(c, loc), schema__excerpt(ex, s, n, 64));
        goto out;
    }
    if (!rc && !(r = fmd_malloc(sizeof(*r) + strlen(ptr) + 1)))
        rc = FMD_ENOMEM;
    if (!rc) {
        r->target = target;
        memcpy(r->ptr, ptr, strlen(ptr) + 1);
        rc = ptrmap_put(&c->s->refs, node, r);
    }
    if (!rc) {
        struct ref *added = r;
        r = NULL;   /* the table's now; its target is walked from the todo list */
        rc = todo_push(c, added);
    }
    if (rc)
        rc = nomem(c->err);
out:
    fmd_free(r);
    fmd_free(ptr);
    fmd_free(tok);
    return rc;
}

static int count_ok(const json_t *v)
{
    return schema__is_integral(v) && (json_is_integer(v) ? json_integer_value(v) >= 0
                                                         : json_real_value(v) >= 0);
}

/* Checks the value of one keyword at c->loc and walks the schemas in it. */
static int check_keyword(struct cctx *c, const struct keyword *kw, const json_t *val)
{
    switch (kw->kind) {
    case K_SCHEMA:      return walk_schema(c, val);
    case K_SCHEMA_MAP:  return walk_schema_map(c, val, 0);
    case K_PATTERN_MAP: return walk_schema_map(c, val, 1);
    case K_SCHEMA_LIST: return walk_schema_list(c, val);
    case K_NUMBER:      return json_is_number(val) ? 0 : bad_value(c, "a number");
    case K_POSITIVE:
        return json_is_number(val) && num_double(val) > 0 ? 0
             : bad_value(c, "a number greater than 0");
    case K_COUNT:       return count_ok(val) ? 0 : bad_value(c, "a non-negative integer");
    case K_BOOL:        return json_is_boolean(val) ? 0 : bad_value(c, "a boolean");
    case K_STRING:      return json_is_string(val) ? 0 : bad_value(c, "a string");
    case K_STRINGS:     return all_strings(val) ? 0 : bad_value(c, "an array of strings");
    case K_STRINGS_MAP: return check_strings_map(c, val);
    case K_TYPE:        return check_type(c, val);
    case K_ARRAY:       return json_is_array(val) ? 0 : bad_value(c, "an array");
    case K_ANY:         return 0;
    case K_PATTERN:
        if (!json_is_string(val))
            return bad_value(c, "a string");
        return compile_pattern(c, val, json_string_value(val), json_string_length(val));
    case K_REF:         return resolve_ref(c, val);
    }
    FMD_BUG("keyword kind %d", (int)kw->kind);
}

static int walk_schema(struct cctx *c, const json_t *node)
{
    const struct keyword *kw;
    const char *key;
    size_t len, mark = c->loc.len;
    json_t *val;
    char loc[128];
    int rc = 0;

    if (json_is_boolean(node))
        return 0;
    if (!json_is_object(node))
        return fmd_errf(c->err, FMD_EUNPROC, "schema at %s must be an object or a boolean",
                        loc_str(c, loc));
    if (ptrmap_find(&c->seen, node))
        return 0;
    if (ptrmap_put(&c->seen, node, NULL))
        return nomem(c->err);
    json_object_keylen_foreach((json_t *)node, key, len, val) {
        if (!(kw = keyword_find(key)))
            continue;
        rc = push_key(&c->loc, key, len) ? nomem(c->err) : check_keyword(c, kw, val);
        trunc_to(&c->loc, mark);
        if (rc)
            break;
    }
    return rc;
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

int schema_compile(const json_t *doc, struct schema **out, struct fmd_err *err)
{
    struct cctx c = {.err = err};
    size_t i;
    int rc;

    assert(keywords_sorted());
    *out = NULL;
    buf_init(&c.loc, PATH_MAX_BYTES);
    if (!doc || (!json_is_object(doc) && !json_is_boolean(doc))) {
        rc = fmd_errf(err, FMD_EUNPROC, "schema must be an object or a boolean");
        goto out;
    }
    if (too_deep(doc, MAX_DOC_DEPTH)) {
        rc = fmd_errf(err, FMD_EUNPROC, "schema is nested deeper than %d levels", MAX_DOC_DEPTH);
        goto out;
    }
    rc = schema_new(&c.s);
    if (!rc && !(c.cc = pcre2_compile_context_create(c.s->gctx)))
        rc = FMD_ENOMEM;
    if (!rc && !(c.s->doc = json_deep_copy(doc)))
        rc = FMD_ENOMEM;
    if (rc) {
        rc = nomem(err);
        goto out;
    }
    rc = walk_schema(&c, c.s->doc);
    for (i = 0; !rc && i < c.ntodo; i++) {   /* todo grows as targets hold $refs */
        buf_reset(&c.loc);
        rc = buf_adds(&c.loc, c.todo[i]->ptr) ? nomem(err) : walk_schema(&c, c.todo[i]->target);
    }
out:
    pcre2_compile_context_free(c.cc);
    ptrmap_release(&c.seen, NULL);
    buf_release(&c.loc);
    fmd_free(c.todo);
    if (rc)
        schema_free(c.s);
    else
        *out = c.s;
    return rc;
}

static void free_code(void *code)
{
    pcre2_code_free(code);
}

void schema_free(struct schema *s)
{
    if (!s)
        return;
    ptrmap_release(&s->patterns, free_code);
    ptrmap_release(&s->refs, fmd_free);
    pcre2_match_context_free(s->mctx);
    pcre2_general_context_free(s->gctx);
    json_decref(s->doc);
    fmd_free(s);
}

int schema_validate(const struct schema *s, const json_t *instance, json_t **errors)
{
    struct vctx c = {.s = s};
    int rc;

    if (errors)
        *errors = NULL;
    if (!s || !instance)
        return FMD_EINVAL;
    buf_init(&c.ipath, PATH_MAX_BYTES);
    buf_init(&c.spath, PATH_MAX_BYTES);
    if (errors && !(c.out = json_array())) {
        rc = FMD_ENOMEM;
        goto out;
    }
    c.collect = errors != NULL;
    rc = validate_node(&c, s->doc, instance);
    if (rc < 0)
        goto out;
    if (rc == V_OK)
        goto out;
    rc = FMD_EUNPROC;
    if (errors) {
        *errors = c.out;
        c.out = NULL;
    }
out:
    json_decref(c.out);
    buf_release(&c.ipath);
    buf_release(&c.spath);
    pcre2_match_data_free(c.md);
    return rc;
}
