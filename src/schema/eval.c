/*
 * eval.c - runs a compiled schema program (see validate.c) against an instance.
 *
 * A program is a graph of struct snode, one per schema object, each a short
 * array of struct sop in evaluation order, with "$ref" targets, patterns and
 * property tables resolved at compile time. Everything that changes during a
 * validation lives in a struct vctx on the caller's stack, which is what lets
 * threads share a program.
 *
 * Every evaluation function returns V_OK, V_FAIL (the instance is invalid
 * here; in collecting mode the error is already recorded), V_STOP (stop
 * everything: the error cap is reached or a cost bound was hit, and the
 * instance is invalid) or a negative FMD_E* code.
 *
 * unevaluatedProperties / unevaluatedItems need the annotations of every
 * keyword applied in place to the same instance. They are gathered in a
 * struct eval passed down only where a schema above asked for them (ev not
 * NULL): evaluated property names (by the address of their key in the
 * instance, which Jansson keeps fixed), the evaluated prefix of an array and
 * the items "contains" matched. A subschema that fails contributes nothing.
 */
#include "schema/validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "schema/schema_int.h"
#include "core/banned.h"

#define MAX_REF_DEPTH     64        /* $ref hops on one evaluation path */
#define MAX_EVAL_DEPTH    512       /* subschemas on one evaluation path */
#define MAX_STEPS         2000000L  /* subschema applications per validation */
#define PATH_MAX_BYTES    ((size_t)1 << 30)

enum { V_OK = 0, V_FAIL = 1, V_STOP = 2 };

/* One step of the instance path: an object key, or an array index when key is NULL. */
struct seg {
    const char *key;
    size_t len;
    size_t idx;
};

/* The annotations unevaluated* look at, for one instance. */
struct eval {
    int all_props, all_items;
    size_t upto;              /* items [0, upto) evaluated */
    const char **keys;        /* evaluated property names, by key address */
    size_t nkeys, cap;
    unsigned char *bits;      /* items evaluated by contains; nbits of them */
    size_t nbits;
};

struct vctx {
    int want;                 /* the caller wants the errors */
    json_t *out;              /* the errors found so far, or NULL */
    int collect;              /* 0 while only validity matters (anyOf, not, ...) */
    size_t nerr;
    int depth, ref_depth;
    long steps;
    struct seg segs[MAX_EVAL_DEPTH + 2];   /* the instance path */
    size_t nseg;
    const struct sres *scope[MAX_EVAL_DEPTH + 2];   /* resources entered: dynamic scope */
    size_t nscope;
    pcre2_match_context *mctx;
    pcre2_general_context *gctx;
    pcre2_match_data *md;
    struct buf ip, sp;        /* scratch for error paths */
};

static int eval_node(struct vctx *c, const struct snode *n, const json_t *inst, struct eval *ev);

/* Each member of object obj: fewer library calls than json_object_keylen_foreach. */
#define OBJ_EACH(obj, it, key, len, val)                                                     \
    for (void *it = json_object_iter((json_t *)(obj));                                     \
         it && ((key = json_object_iter_key(it)), (len = json_object_iter_key_len(it)),     \
                (val = json_object_iter_value(it)), 1);                                     \
         it = json_object_iter_next((json_t *)(obj), it))

/* 1 if a[0..n) equals b[0..n): short names, so eight bytes a step, inline. */
static inline int same_bytes(const char *a, const char *b, size_t n)
{
    uint64_t x, y;

    while (n >= 8) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return 0;
        a += 8;
        b += 8;
        n -= 8;
    }
    while (n--)
        if (*a++ != *b++)
            return 0;
    return 1;
}

/* ---- annotations ---- */

static void eval_release(struct eval *e)
{
    if (e->keys)
        fmd_freez(&e->keys);
    if (e->bits)
        fmd_freez(&e->bits);
}

static int mark_key(struct eval *e, const char *key)
{
    if (!e || e->all_props)
        return 0;
    if (e->nkeys == e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 8;
        const char **k = fmd_realloc(e->keys, ncap * sizeof(*k));
        if (!k)
            return FMD_ENOMEM;
        e->keys = k;
        e->cap = ncap;
    }
    e->keys[e->nkeys++] = key;
    return 0;
}

static int mark_item(struct eval *e, size_t i, size_t n)
{
    if (!e || e->all_items || i < e->upto)
        return 0;
    if (!e->bits) {
        if (!(e->bits = fmd_calloc(n, 1)))
            return FMD_ENOMEM;
        e->nbits = n;
    }
    e->bits[i] = 1;
    return 0;
}

/* Adds src's annotations (of the same instance) to dst. */
static int eval_merge(struct eval *dst, const struct eval *src)
{
    size_t i;
    int rc = 0;

    if (!dst)
        return 0;
    dst->all_props |= src->all_props;
    dst->all_items |= src->all_items;
    if (src->upto > dst->upto)
        dst->upto = src->upto;
    for (i = 0; !rc && i < src->nkeys; i++)
        rc = mark_key(dst, src->keys[i]);
    for (i = 0; !rc && src->bits && i < src->nbits; i++)
        if (src->bits[i])
            rc = mark_item(dst, i, src->nbits);
    return rc ? FMD_ENOMEM : 0;
}

static int ptr_cmp(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    return x < y ? -1 : x > y;
}

static int key_evaluated(struct eval *e, const char *key)
{
    if (e->all_props)
        return 1;
    if (e->nkeys < 16) {
        size_t i;
        for (i = 0; i < e->nkeys; i++)
            if (e->keys[i] == key)
                return 1;
        return 0;
    }
    return bsearch(&key, e->keys, e->nkeys, sizeof(*e->keys), ptr_cmp) != NULL;
}

/* ---- paths and messages ---- */

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

/* Appends one error: schema_path is spath, then "/" kw unless kw is NULL. */
/* Error objects are built often on invalid input: the path buffers are the
 * validation's own, reused, and the strings, UTF-8 already (instance keys,
 * schema text, messages cut at character boundaries), are not checked again. */
static int add_error(struct vctx *c, const char *spath, const char *kw, const char *keyword,
                     const char *msg)
{
    struct buf *ip = &c->ip, *sp = &c->sp;
    json_t *e;
    size_t i;
    int rc = 0;

    if (!c->want || c->nerr >= SCHEMA_MAX_ERRORS)
        return 0;
    if (!c->out && !(c->out = json_array()))   /* made at the first error only */
        return FMD_ENOMEM;
    buf_reset(ip);
    buf_reset(sp);
    for (i = 0; !rc && i < c->nseg; i++)
        rc = c->segs[i].key ? schema__push_key(ip, c->segs[i].key, c->segs[i].len)
           : buf_printf(ip, "/%zu", c->segs[i].idx) ? FMD_ENOMEM : 0;
    if (!rc && (buf_adds(sp, spath) || (kw && schema__push_key(sp, kw, strlen(kw)))))
        rc = FMD_ENOMEM;
    if (rc)
        return rc;
    if (!(e = json_object()))
        return FMD_ENOMEM;
    /* The set_new and append_new calls take their argument even when they fail. */
    if (json_object_set_new_nocheck(e, "path", json_stringn_nocheck(ip->p, ip->len)) ||
        json_object_set_new_nocheck(e, "schema_path", json_stringn_nocheck(sp->p, sp->len)) ||
        json_object_set_new_nocheck(e, "keyword", json_string_nocheck(keyword)) ||
        json_object_set_new_nocheck(e, "message", json_string_nocheck(msg))) {
        json_decref(e);
        return FMD_ENOMEM;
    }
    if (json_array_append_new(c->out, e))
        return FMD_ENOMEM;
    c->nerr++;
    return 0;
}

static int vfail(struct vctx *c, const struct snode *n, const char *kw, const char *keyword,
                 const char *fmt, va_list ap)
{
    char msg[256];
    int rc;

    if (!c->collect)
        return V_FAIL;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    rc = add_error(c, n->path, kw, keyword, msg);
    if (rc)
        return rc;
    return c->nerr >= SCHEMA_MAX_ERRORS ? V_STOP : V_FAIL;
}

/* The instance fails keyword kw of node n here; records why. */
static int fail(struct vctx *c, const struct snode *n, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct vctx *c, const struct snode *n, const char *kw, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vfail(c, n, kw, kw, fmt, ap);
    va_end(ap);
    return rc;
}

/* A cost bound was hit: recorded even where errors are not collected, since
 * the whole validation ends here with the instance invalid. */
static int stop(struct vctx *c, const char *spath, const char *kw, const char *msg)
{
    int rc = add_error(c, spath, kw, kw ? kw : "", msg);
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

static int push_seg(struct vctx *c, const char *key, size_t len, size_t idx)
{
    if (c->nseg >= sizeof(c->segs) / sizeof(c->segs[0]))
        return 0;
    c->segs[c->nseg++] = (struct seg){key, len, idx};
    return 1;
}

/* Applies sub to the member key (or item idx when key is NULL) of the instance. */
static int child(struct vctx *c, const struct snode *sub, const json_t *inst, const char *key,
                 size_t len, size_t idx)
{
    int rc;

    if (sub->boolean == 1)
        return V_OK;
    if (!push_seg(c, key, len, idx))
        return stop(c, sub->path, NULL, "schema recursion too deep");
    rc = eval_node(c, sub, inst, NULL);
    c->nseg--;
    return rc;
}

/* As child, for additionalProperties, items and unevaluated*: a false
 * schema fails with the keyword's name. */
static int child_or_deny(struct vctx *c, const struct snode *sub, const json_t *inst,
                         const char *kw, const char *key, size_t len, size_t idx)
{
    int rc;

    if (sub->boolean != 0)
        return child(c, sub, inst, key, len, idx);
    if (!c->collect)
        return V_FAIL;
    if (!push_seg(c, key, len, idx))
        return stop(c, sub->path, NULL, "schema recursion too deep");
    rc = add_error(c, sub->path, NULL, kw, "is not allowed");
    c->nseg--;
    if (rc)
        return rc;
    return c->nerr >= SCHEMA_MAX_ERRORS ? V_STOP : V_FAIL;
}

/* Evaluates sub only for validity: records no errors except stops. */
static int probe(struct vctx *c, const struct snode *sub, const json_t *inst, struct eval *ev)
{
    int saved = c->collect, rc;

    c->collect = 0;
    rc = eval_node(c, sub, inst, ev);
    c->collect = saved;
    return rc;
}

/* Probes sub; when ev wants annotations, adds sub's only if it passed. */
static int probe_merge(struct vctx *c, const struct snode *sub, const json_t *inst,
                       struct eval *ev)
{
    struct eval tmp = {0};
    int rc;

    if (!ev)
        return probe(c, sub, inst, NULL);
    rc = probe(c, sub, inst, &tmp);
    if (rc == V_OK && eval_merge(ev, &tmp))
        rc = FMD_ENOMEM;
    eval_release(&tmp);
    return rc;
}

/* ---- pattern matching ---- */

/* Sets *matched. V_OK, V_STOP when the match is too costly, FMD_ENOMEM. */
static int match(struct vctx *c, const pcre2_code *re, const char *s, size_t n,
                 const char *spath, const char *kw, int *matched)
{
    int rc;

    if (!c->md && !(c->md = pcre2_match_data_create(1, c->gctx)))
        return FMD_ENOMEM;
    c->steps++;
    rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, c->md, c->mctx);
    *matched = rc >= 0;
    if (rc >= 0 || rc == PCRE2_ERROR_NOMATCH)
        return V_OK;
    if (rc == PCRE2_ERROR_NOMEMORY)
        return FMD_ENOMEM;
    return stop(c, spath, kw, "pattern too costly to evaluate");
}

/* ---- any type ---- */

static const char *const type_names[] = {
    [JSON_OBJECT] = "object", [JSON_ARRAY] = "array", [JSON_STRING] = "string",
    [JSON_INTEGER] = "integer", [JSON_REAL] = "number", [JSON_TRUE] = "boolean",
    [JSON_NULL] = "null",
};
static const char *const type_phrases[] = {
    [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
    [JSON_INTEGER] = "an integer", [JSON_REAL] = "a number", [JSON_TRUE] = "a boolean",
    [JSON_NULL] = "null",
};

static int type_ok(unsigned types, const json_t *inst)
{
    json_type t = json_typeof(inst);

    if (types & (1u << t))
        return 1;
    if (t == JSON_FALSE)
        return (types & (1u << JSON_TRUE)) != 0;
    if (t == JSON_INTEGER)
        return (types & (TYPE_INTEGER | (1u << JSON_REAL))) != 0;
    return t == JSON_REAL && (types & TYPE_INTEGER) && schema__is_integral(inst);
}

/* "must be a string, an integer or null", in the order of the schema's list. */
static int op_type(struct vctx *c, const struct snode *n, const struct sop *op,
                   const json_t *inst)
{
    char msg[160] = "must be ";
    size_t i, k = 0, cnt = json_is_array(op->val) ? json_array_size(op->val) : 1;

    if (type_ok(op->types, inst))
        return V_OK;
    if (!c->collect)
        return V_FAIL;
    for (i = 0; i < cnt && i < 7; i++) {
        const char *t = json_string_value(json_is_array(op->val) ? json_array_get(op->val, i)
                                                                 : op->val);
        const char *ph = t;
        size_t j, len = strlen(msg);
        for (j = 0; j < sizeof(type_names) / sizeof(type_names[0]); j++)
            if (type_names[j] && strcmp(type_names[j], t) == 0)
                ph = type_phrases[j];
        snprintf(msg + len, sizeof(msg) - len, "%s%s", k == 0 ? "" : i + 1 == cnt ? " or " : ", ",
                 ph);
        k++;
    }
    return fail(c, n, "type", "%s", msg);
}

static int op_enum(struct vctx *c, const struct snode *n, const struct sop *op,
                   const json_t *inst)
{
    uint64_t h;
    size_t i;

    if (op->strs) {   /* the common case: a short list of strings */
        const char *s = json_string_value(inst);
        size_t len = json_string_length(inst);
        for (i = 0; s && i < op->n; i++)
            if (op->strs[i].len == len && same_bytes(op->strs[i].s, s, len))
                return V_OK;
        return fail(c, n, "enum", "must be one of the listed values");
    }
    h = op->hashes ? schema__json_hash(inst) : 0;
    for (i = 0; i < op->n; i++)
        if ((!op->hashes || op->hashes[i] == h) &&
            schema__json_equal(json_array_get(op->val, i), inst))
            return V_OK;
    return fail(c, n, "enum", "must be one of the listed values");
}

/* ---- objects ---- */

/* Eight bytes a step: property names are hashed once per instance member. */
static uint64_t name_hash(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;

    while (n >= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    w = 0;
    switch (n) {   /* the tail, without a variable-length copy */
    case 7: w |= (uint64_t)(unsigned char)s[6] << 48; /* fall through */
    case 6: w |= (uint64_t)(unsigned char)s[5] << 40; /* fall through */
    case 5: w |= (uint64_t)(unsigned char)s[4] << 32; /* fall through */
    case 4: w |= (uint64_t)(unsigned char)s[3] << 24; /* fall through */
    case 3: w |= (uint64_t)(unsigned char)s[2] << 16; /* fall through */
    case 2: w |= (uint64_t)(unsigned char)s[1] << 8;  /* fall through */
    case 1: w |= (uint64_t)(unsigned char)s[0];
    }
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 29);
}

uint64_t schema__name_hash(const char *s, size_t n)
{
    return name_hash(s, n);
}

static const struct sprop *prop_find(const struct sprops *p, const char *key, size_t len)
{
    uint64_t h;
    size_t i;

    if (!p->tab)
        return NULL;
    h = name_hash(key, len);
    for (i = (size_t)h & (p->cap - 1); p->tab[i].name; i = (i + 1) & (p->cap - 1))
        if (p->tab[i].hash == h && p->tab[i].len == len && same_bytes(p->tab[i].name, key, len))
            return &p->tab[i];
    return NULL;
}

/* Only "properties", few of them, on a larger instance (as in an "if"):
 * looking each up in the instance beats walking the instance. */
static int props_by_lookup(struct vctx *c, const struct sprops *p, const json_t *inst,
                           size_t *req_found)
{
    size_t i;
    int rc, failed = 0;

    for (i = 0; i < p->n; i++) {
        const struct sprop *pr = p->order[i];
        const json_t *v = json_object_getn(inst, pr->name, pr->len);
        if (!v)
            continue;
        *req_found += pr->required;
        rc = child(c, pr->sub, v, pr->name, pr->len, 0);
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

/* properties, patternProperties, additionalProperties: one pass over the members. */
static int op_props(struct vctx *c, const struct snode *n, const struct sop *op,
                    const json_t *inst, struct eval *ev, size_t *req_found)
{
    const struct sprops *p = op->props;
    const char *key;
    size_t len, i, next = 0;
    json_t *v;
    int rc, failed = 0;

    if (!ev && !p->npats && !p->additional && p->n * 2 <= json_object_size(inst))
        return props_by_lookup(c, p, inst, req_found);
    OBJ_EACH(inst, it, key, len, v) {
        const struct sprop *pr;
        int covered;
        /* Instances mostly list their members in the schema's order: try the
         * member after the last one found before hashing the name. */
        if (next < p->n && p->order[next]->len == len &&
            same_bytes(p->order[next]->name, key, len))
            pr = p->order[next];
        else
            pr = prop_find(p, key, len);
        if (pr)
            next = pr->order + 1;
        covered = pr != NULL;
        if (pr) {
            *req_found += pr->required;
            rc = child(c, pr->sub, v, key, len, 0);
            if (settle(c, rc, &failed))
                return rc;
        }
        for (i = 0; i < p->npats; i++) {
            int m;
            rc = match(c, p->pats[i].re, key, len, n->path, "patternProperties", &m);
            if (rc == V_OK && m) {
                covered = 1;
                rc = child(c, p->pats[i].sub, v, key, len, 0);
            }
            if (settle(c, rc, &failed))
                return rc;
        }
        if (!covered && p->additional) {
            covered = 1;
            rc = child_or_deny(c, p->additional, v, "additionalProperties", key, len, 0);
            if (settle(c, rc, &failed))
                return rc;
        }
        if (covered && ev && mark_key(ev, key))
            return FMD_ENOMEM;
    }
    return failed ? V_FAIL : V_OK;
}

static int op_required(struct vctx *c, const struct snode *n, const struct sop *op,
                       const json_t *inst, size_t req_found)
{
    char ex[80];
    size_t i;
    int rc, failed = 0;

    if (op->flag && req_found == op->n2)
        return V_OK;   /* every name is a property and each was seen */
    for (i = 0; i < json_array_size(op->val); i++) {
        const json_t *name = json_array_get(op->val, i);
        const char *s = json_string_value(name);
        size_t len = json_string_length(name);
        if (json_object_getn(inst, s, len))
            continue;
        rc = fail(c, n, "required", "'%s' is required", schema__excerpt(ex, s, len, 64));
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

static int op_dep_required(struct vctx *c, const struct snode *n, const struct sop *op,
                           const json_t *inst)
{
    const char *key;
    size_t i, len;
    json_t *deps;
    char ex1[80], ex2[80];
    int rc, failed = 0;

    OBJ_EACH(op->val, it, key, len, deps) {
        if (!json_object_getn(inst, key, len))
            continue;
        for (i = 0; i < json_array_size(deps); i++) {
            const json_t *name = json_array_get(deps, i);
            const char *s = json_string_value(name);
            size_t k = json_string_length(name);
            if (json_object_getn(inst, s, k))
                continue;
            rc = fail(c, n, "dependentRequired", "'%s' is required when '%s' is present",
                      schema__excerpt(ex1, s, k, 64), schema__excerpt(ex2, key, len, 64));
            if (settle(c, rc, &failed))
                return rc;
        }
    }
    return failed ? V_FAIL : V_OK;
}

static int op_dep_schemas(struct vctx *c, const struct snode *n, const struct sop *op,
                          const json_t *inst, struct eval *ev)
{
    const char *key;
    size_t i = 0, len;
    json_t *sub;
    int rc, failed = 0;

    OBJ_EACH(op->val, it, key, len, sub) {
        const struct snode *s = op->subs[i++];
        (void)sub;
        if (!json_object_getn(inst, key, len))
            continue;
        rc = eval_node(c, s, inst, ev);
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

static int op_prop_names(struct vctx *c, const struct snode *n, const struct sop *op,
                         const json_t *inst)
{
    const char *key;
    size_t len;
    json_t *v, *name;
    char ex[80];
    int rc, failed = 0;

    OBJ_EACH(inst, it, key, len, v) {
        (void)v;
        if (!(name = json_stringn(key, len)))
            return FMD_ENOMEM;
        rc = probe(c, op->sub, name, NULL);
        json_decref(name);
        if (rc == V_FAIL)
            rc = fail(c, n, "propertyNames", "property name '%s' is not allowed",
                      schema__excerpt(ex, key, len, 64));
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

static int op_uneval_props(struct vctx *c, const struct snode *n, const struct sop *op,
                           const json_t *inst, struct eval *ev)
{
    const char *key;
    size_t len;
    json_t *v;
    int rc, failed = 0;

    if (ev->nkeys >= 16)
        qsort(ev->keys, ev->nkeys, sizeof(*ev->keys), ptr_cmp);
    OBJ_EACH(inst, it, key, len, v) {
        if (key_evaluated(ev, key))
            continue;
        rc = child_or_deny(c, op->sub, v, "unevaluatedProperties", key, len, 0);
        if (settle(c, rc, &failed))
            return rc;
    }
    ev->all_props = 1;
    return failed ? V_FAIL : V_OK;
}

/* ---- arrays ---- */

/* prefixItems and items. */
static int op_items(struct vctx *c, const struct snode *n, const struct sop *op,
                    const json_t *inst, struct eval *ev)
{
    size_t i, len = json_array_size(inst);
    int rc, failed = 0;

    for (i = 0; i < len && i < op->n; i++) {
        rc = child(c, op->subs[i], json_array_get(inst, i), NULL, 0, i);
        if (settle(c, rc, &failed))
            return rc;
    }
    if (ev && (i > ev->upto))
        ev->upto = i;
    if (!op->sub)
        return failed ? V_FAIL : V_OK;
    for (; i < len; i++) {
        rc = child_or_deny(c, op->sub, json_array_get(inst, i), "items", NULL, 0, i);
        if (settle(c, rc, &failed))
            return rc;
    }
    if (ev)
        ev->all_items = 1;
    return failed ? V_FAIL : V_OK;
}

static int op_contains(struct vctx *c, const struct snode *n, const struct sop *op,
                       const json_t *inst, struct eval *ev)
{
    size_t i, found = 0, len = json_array_size(inst), lo = op->n, hi = op->n2;
    int rc;

    for (i = 0; i < len && (ev || (found <= hi && (hi != SIZE_MAX || found < lo))); i++) {
        if (!push_seg(c, NULL, 0, i))
            return stop(c, n->path, "contains", "schema recursion too deep");
        rc = probe(c, op->sub, json_array_get(inst, i), NULL);
        c->nseg--;
        if (rc == V_OK) {
            found++;
            if (mark_item(ev, i, len))
                return FMD_ENOMEM;
        } else if (rc != V_FAIL) {
            return rc;
        }
    }
    if (found < lo)
        return op->flag ? fail(c, n, "minContains", "must contain at least %zu matching item%s",
                               lo, lo == 1 ? "" : "s")
                        : fail(c, n, "contains", "must contain at least one matching item");
    if (found > hi)
        return fail(c, n, "maxContains", "must contain at most %zu matching item%s", hi,
                    hi == 1 ? "" : "s");
    return V_OK;
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
static int op_unique(struct vctx *c, const struct snode *n, const json_t *inst)
{
    size_t i, j, k, m, len = json_array_size(inst);
    struct hashed *v = NULL;
    int rc = V_OK;

    if (len < 2)
        return V_OK;
    if (len <= 8) {   /* few items: compare each pair, no allocation */
        for (k = 0; k < len; k++)
            for (m = k + 1; m < len; m++)
                if (schema__json_equal(json_array_get(inst, k), json_array_get(inst, m)))
                    return fail(c, n, "uniqueItems", "must not contain duplicates (items %zu "
                                "and %zu are equal)", k, m);
        return V_OK;
    }
    if (!(v = fmd_malloc(len * sizeof(*v))))
        return FMD_ENOMEM;
    for (i = 0; i < len; i++) {
        v[i].h = schema__json_hash(json_array_get(inst, i));
        v[i].i = i;
    }
    qsort(v, len, sizeof(*v), hashed_cmp);
    for (i = 0; i < len; i = j) {
        for (j = i + 1; j < len && v[j].h == v[i].h; j++)
            ;
        for (k = i; k + 1 < j; k++)
            for (m = k + 1; m < j; m++) {
                if (!schema__json_equal(json_array_get(inst, v[k].i),
                                        json_array_get(inst, v[m].i)))
                    continue;
                rc = fail(c, n, "uniqueItems", "must not contain duplicates (items %zu and %zu "
                          "are equal)", v[k].i, v[m].i);
                goto out;
            }
    }
out:
    fmd_free(v);
    return rc;
}

static int item_evaluated(const struct eval *e, size_t i)
{
    return e->all_items || i < e->upto || (e->bits && i < e->nbits && e->bits[i]);
}

static int op_uneval_items(struct vctx *c, const struct snode *n, const struct sop *op,
                           const json_t *inst, struct eval *ev)
{
    size_t i, len = json_array_size(inst);
    int rc, failed = 0;

    for (i = 0; i < len; i++) {
        if (item_evaluated(ev, i))
            continue;
        rc = child_or_deny(c, op->sub, json_array_get(inst, i), "unevaluatedItems", NULL, 0, i);
        if (settle(c, rc, &failed))
            return rc;
    }
    ev->all_items = 1;
    return failed ? V_FAIL : V_OK;
}

/* ---- numbers and strings ---- */

static int bound(struct vctx *c, const struct snode *n, const char *kw, const json_t *val,
                 const json_t *inst, int bad_sign, int bad_if_equal, const char *opname)
{
    char num[40];
    int cmp = schema__num_cmp(inst, val);

    if (cmp != bad_sign && !(bad_if_equal && cmp == 0))
        return V_OK;
    return fail(c, n, kw, "must be %s %s", opname, num_str(num, val));
}

static int op_multiple_of(struct vctx *c, const struct snode *n, const struct sop *op,
                          const json_t *inst)
{
    struct sdec d;
    char num[40];
    int ok;

    if (json_is_integer(inst) && json_is_integer(op->val))
        ok = json_integer_value(inst) % json_integer_value(op->val) == 0;
    else
        ok = schema__dec_of(inst, &d) == 0 && schema__dec_multiple(&d, &op->dec);
    return ok ? V_OK : fail(c, n, "multipleOf", "must be a multiple of %s", num_str(num, op->val));
}

static size_t code_points(const json_t *str)
{
    const unsigned char *s = (const unsigned char *)json_string_value(str);
    size_t i, k = 0, len = json_string_length(str);

    for (i = 0; i < len; i++)
        k += (s[i] & 0xC0) != 0x80;
    return k;
}

/* ---- in-place applicators ---- */

static int op_ref(struct vctx *c, const struct snode *n, const struct sop *op,
                  const json_t *inst, struct eval *ev)
{
    const struct snode *target = op->sub;
    size_t i, j;
    int rc;

    if (op->name) {   /* $dynamicRef: the outermost resource with the anchor wins */
        for (i = 0; i < c->nscope; i++) {
            const struct sres *r = c->scope[i];
            for (j = 0; j < r->ndyn; j++)
                if (strcmp(r->dyn[j].name, op->name) == 0 && r->dyn[j].node)
                    break;
            if (j < r->ndyn) {
                target = r->dyn[j].node;
                break;
            }
        }
    }
    if (c->ref_depth >= MAX_REF_DEPTH)
        return stop(c, n->path, op->kind == OP_DYNREF ? "$dynamicRef" : "$ref",
                    "schema recursion too deep");
    c->ref_depth++;
    rc = eval_node(c, target, inst, ev);
    c->ref_depth--;
    return rc;
}

static int op_all_of(struct vctx *c, const struct snode *n, const struct sop *op,
                     const json_t *inst, struct eval *ev)
{
    size_t i;
    int rc, failed = 0;

    for (i = 0; i < op->n; i++) {
        rc = eval_node(c, op->subs[i], inst, ev);
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

/* 1 if branch i of anyOf / oneOf op fails on its discriminator, unevaluated.
 * *v caches the instance's member between branches with the same name. */
static int ruled_out(const struct sop *op, size_t i, const json_t *inst, const json_t **v,
                     const struct sdisc **last)
{
    const struct sdisc *d = op->disc ? &op->disc[i] : NULL;

    if (!d || !d->name || !json_is_object(inst))
        return 0;
    if (!*last || (*last)->len != d->len || memcmp((*last)->name, d->name, d->len) != 0)
        *v = json_object_getn(inst, d->name, d->len);
    *last = d;
    return *v && !schema__json_equal(*v, d->val);
}

static int op_any_of(struct vctx *c, const struct snode *n, const struct sop *op,
                     const json_t *inst, struct eval *ev)
{
    const struct sdisc *last = NULL;
    const json_t *dv = NULL;
    size_t i;
    int rc, any = 0;

    for (i = 0; i < op->n; i++) {
        if (ruled_out(op, i, inst, &dv, &last))
            continue;
        rc = probe_merge(c, op->subs[i], inst, ev);
        if (rc == V_OK) {
            any = 1;
            if (!ev)
                break;   /* the others' annotations are not wanted */
        } else if (rc != V_FAIL) {
            return rc;
        }
    }
    return any ? V_OK : fail(c, n, "anyOf", "must match at least one schema in anyOf");
}

static int op_one_of(struct vctx *c, const struct snode *n, const struct sop *op,
                     const json_t *inst, struct eval *ev)
{
    const struct sdisc *last = NULL;
    const json_t *dv = NULL;
    struct eval tmp = {0};
    size_t i, matched = 0;
    int rc = V_OK;

    for (i = 0; i < op->n && matched < 2; i++) {
        if (ruled_out(op, i, inst, &dv, &last))
            continue;
        rc = probe(c, op->subs[i], inst, ev ? &tmp : NULL);
        if (rc == V_OK)
            matched++;
        else if (rc != V_FAIL)
            goto out;
        if (ev && rc == V_OK && matched == 1 && (rc = eval_merge(ev, &tmp)))
            goto out;
        eval_release(&tmp);
        memset(&tmp, 0, sizeof(tmp));
    }
    rc = matched == 1 ? V_OK
       : fail(c, n, "oneOf", matched ? "must match only one schema in oneOf"
                                     : "must match exactly one schema in oneOf");
out:
    eval_release(&tmp);
    return rc;
}

static int op_if(struct vctx *c, const struct snode *n, const struct sop *op,
                 const json_t *inst, struct eval *ev)
{
    int rc = probe_merge(c, op->sub, inst, ev);
    const struct snode *branch;

    if (rc != V_OK && rc != V_FAIL)
        return rc;
    branch = rc == V_OK ? op->then_ : op->else_;
    return branch ? eval_node(c, branch, inst, ev) : V_OK;
}

/* ---- one schema ---- */

/* Applies op; st carries what one op tells a later one (required seen). */
static int apply(struct vctx *c, const struct snode *n, const struct sop *op, const json_t *inst,
                 struct eval *ev, size_t *req_found)
{
    json_type t = json_typeof(inst);
    int rc, m;

    switch (op->kind) {
    case OP_TYPE:       return op_type(c, n, op, inst);
    case OP_CONST:
        return schema__json_equal(op->val, inst) ? V_OK
             : fail(c, n, "const", "must be equal to the constant");
    case OP_ENUM:       return op_enum(c, n, op, inst);
    case OP_MINIMUM:
    case OP_MAXIMUM:
    case OP_XMINIMUM:
    case OP_XMAXIMUM:
    case OP_MULTIPLE_OF:
        if (t != JSON_INTEGER && t != JSON_REAL)
            return V_OK;
        switch (op->kind) {
        case OP_MINIMUM:  return bound(c, n, "minimum", op->val, inst, -1, 0, ">=");
        case OP_MAXIMUM:  return bound(c, n, "maximum", op->val, inst, 1, 0, "<=");
        case OP_XMINIMUM: return bound(c, n, "exclusiveMinimum", op->val, inst, -1, 1, ">");
        case OP_XMAXIMUM: return bound(c, n, "exclusiveMaximum", op->val, inst, 1, 1, "<");
        default:          return op_multiple_of(c, n, op, inst);
        }
    case OP_MIN_LENGTH:
        if (t != JSON_STRING || (op->n < SIZE_MAX / 4 && json_string_length(inst) >= op->n * 4) ||
            code_points(inst) >= op->n)
            return V_OK;
        return fail(c, n, "minLength", "must be at least %zu character%s long", op->n,
                    op->n == 1 ? "" : "s");
    case OP_MAX_LENGTH:
        if (t != JSON_STRING || json_string_length(inst) <= op->n || code_points(inst) <= op->n)
            return V_OK;
        return fail(c, n, "maxLength", "must be at most %zu character%s long", op->n,
                    op->n == 1 ? "" : "s");
    case OP_PATTERN:
        if (t != JSON_STRING)
            return V_OK;
        rc = match(c, op->re, json_string_value(inst), json_string_length(inst), n->path,
                   "pattern", &m);
        if (rc != V_OK || m)
            return rc;
        return fail(c, n, "pattern", "does not match pattern");
    case OP_FORMAT:
        if (t != JSON_STRING || op->format(json_string_value(inst), json_string_length(inst)))
            return V_OK;
        return fail(c, n, "format", "must be a valid %s", json_string_value(op->val));
    case OP_MIN_ITEMS:
        if (t != JSON_ARRAY || json_array_size(inst) >= op->n)
            return V_OK;
        return fail(c, n, "minItems", "must have at least %zu item%s", op->n,
                    op->n == 1 ? "" : "s");
    case OP_MAX_ITEMS:
        if (t != JSON_ARRAY || json_array_size(inst) <= op->n)
            return V_OK;
        return fail(c, n, "maxItems", "must have at most %zu item%s", op->n,
                    op->n == 1 ? "" : "s");
    case OP_UNIQUE:     return t == JSON_ARRAY ? op_unique(c, n, inst) : V_OK;
    case OP_MIN_PROPS:
        if (t != JSON_OBJECT || json_object_size(inst) >= op->n)
            return V_OK;
        return fail(c, n, "minProperties", "must have at least %zu propert%s", op->n,
                    op->n == 1 ? "y" : "ies");
    case OP_MAX_PROPS:
        if (t != JSON_OBJECT || json_object_size(inst) <= op->n)
            return V_OK;
        return fail(c, n, "maxProperties", "must have at most %zu propert%s", op->n,
                    op->n == 1 ? "y" : "ies");
    case OP_PROPS:
        return t == JSON_OBJECT ? op_props(c, n, op, inst, ev, req_found) : V_OK;
    case OP_REQUIRED:
        return t == JSON_OBJECT ? op_required(c, n, op, inst, *req_found) : V_OK;
    case OP_DEP_REQUIRED: return t == JSON_OBJECT ? op_dep_required(c, n, op, inst) : V_OK;
    case OP_DEP_SCHEMAS:  return t == JSON_OBJECT ? op_dep_schemas(c, n, op, inst, ev) : V_OK;
    case OP_PROP_NAMES:   return t == JSON_OBJECT ? op_prop_names(c, n, op, inst) : V_OK;
    case OP_ITEMS:        return t == JSON_ARRAY ? op_items(c, n, op, inst, ev) : V_OK;
    case OP_CONTAINS:     return t == JSON_ARRAY ? op_contains(c, n, op, inst, ev) : V_OK;
    case OP_REF:
    case OP_DYNREF:       return op_ref(c, n, op, inst, ev);
    case OP_ALL_OF:       return op_all_of(c, n, op, inst, ev);
    case OP_ANY_OF:       return op_any_of(c, n, op, inst, ev);
    case OP_ONE_OF:       return op_one_of(c, n, op, inst, ev);
    case OP_NOT:
        rc = probe(c, op->sub, inst, NULL);
        if (rc == V_OK)
            return fail(c, n, "not", "must not match the schema in not");
        return rc == V_FAIL ? V_OK : rc;
    case OP_IF:           return op_if(c, n, op, inst, ev);
    case OP_UNEVAL_ITEMS:
        return t == JSON_ARRAY ? op_uneval_items(c, n, op, inst, ev) : V_OK;
    case OP_UNEVAL_PROPS:
        return t == JSON_OBJECT ? op_uneval_props(c, n, op, inst, ev) : V_OK;
    }
    FMD_BUG("op kind %d", (int)op->kind);
}

static int eval_ops(struct vctx *c, const struct snode *n, const json_t *inst, struct eval *ev)
{
    size_t i, req_found = 0;
    int rc, failed = 0;

    for (i = 0; i < n->nops; i++) {
        rc = apply(c, n, &n->ops[i], inst, ev, &req_found);
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

static int eval_node(struct vctx *c, const struct snode *n, const json_t *inst, struct eval *ev)
{
    struct eval mine = {0};
    int rc, entered;

    if (n->boolean == 1)
        return V_OK;
    if (n->boolean == 0) {
        if (!c->collect)
            return V_FAIL;
        rc = add_error(c, n->path, NULL, "false", "is not allowed");
        return rc ? rc : c->nerr >= SCHEMA_MAX_ERRORS ? V_STOP : V_FAIL;
    }
    if (n->leaf)   /* nothing below: no recursion, scope or annotations to track */
        return eval_ops(c, n, inst, NULL);
    if (++c->steps > MAX_STEPS)
        return stop(c, n->path, NULL, "validation too costly");
    if (c->depth >= MAX_EVAL_DEPTH)
        return stop(c, n->path, NULL, "schema recursion too deep");
    c->depth++;
    entered = c->nscope == 0 || c->scope[c->nscope - 1] != n->res;
    if (entered)
        c->scope[c->nscope++] = n->res;
    rc = eval_ops(c, n, inst, n->tracks ? &mine : ev);
    if (n->tracks && ev && rc == V_OK && eval_merge(ev, &mine))
        rc = FMD_ENOMEM;
    if (entered)
        c->nscope--;
    c->depth--;
    eval_release(&mine);
    return rc;
}

int schema__eval(const struct snode *root, pcre2_match_context *mctx,
                 pcre2_general_context *gctx, const json_t *instance, json_t **errors)
{
    struct vctx cv, *c = &cv;   /* the path and scope stacks need no zeroing */
    int rc;

    if (errors)
        *errors = NULL;
    c->out = NULL;
    c->nerr = 0;
    c->depth = c->ref_depth = 0;
    c->steps = 0;
    c->nseg = c->nscope = 0;
    c->md = NULL;
    buf_init(&c->ip, PATH_MAX_BYTES);
    buf_init(&c->sp, PATH_MAX_BYTES);
    c->mctx = mctx;
    c->gctx = gctx;
    c->want = c->collect = errors != NULL;
    rc = eval_node(c, root, instance, NULL);
    if (rc <= 0)
        goto out;
    rc = FMD_EUNPROC;
    if (errors && !c->out && !(c->out = json_array())) {
        rc = FMD_ENOMEM;
        goto out;
    }
    if (errors) {
        *errors = c->out;
        c->out = NULL;
    }
out:
    json_decref(c->out);
    pcre2_match_data_free(c->md);
    buf_release(&c->ip);
    buf_release(&c->sp);
    return rc;
}
