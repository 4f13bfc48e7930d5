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

#include <pthread.h>
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

/* The required properties the properties pass saw: how many, and which
 * (by struct sprop req_bit). */
struct reqs {
    size_t found;
    uint64_t seen;
};

struct vctx {
    struct schema_errors *out;   /* where errors go, or NULL: validity only */
    int collect;              /* 0 while only validity matters (anyOf, not, ...) */
    int depth, ref_depth;
    long steps;
    struct seg segs[MAX_EVAL_DEPTH + 2];   /* the instance path */
    size_t nseg;
    const struct sres *scope[MAX_EVAL_DEPTH + 2];   /* resources entered: dynamic scope */
    size_t nscope;
    pcre2_match_context *mctx;
    pcre2_general_context *gctx;
    pcre2_match_data *md;        /* the thread's, or own_md */
    pcre2_match_data *own_md;    /* made for this validation: freed after it */
};

static inline int eval_node(struct vctx *c, const struct snode *n, const json_t *inst,
                            struct eval *ev);

/* Each member of object obj: fewer library calls than json_object_keylen_foreach. */
#define OBJ_EACH(obj, it, key, len, val)                                                     \
    for (void *it = json_object_iter((json_t *)(obj));                                     \
         it && ((key = json_object_iter_key(it)), (len = json_object_iter_key_len(it)),     \
                (val = json_object_iter_value(it)), 1);                                     \
         it = json_object_iter_next((json_t *)(obj), it))

/* 1 if a[0..n) equals b[0..n): property names and enum values are short, so
 * this compares whole words inline, the last one overlapping the one before
 * rather than a byte at a time. */
static inline int same_bytes(const char *a, const char *b, size_t n)
{
    uint64_t x, y;
    uint32_t u, v;
    uint16_t p, q;

    if (n >= 8) {
        const char *last_a = a + n - 8, *last_b = b + n - 8;
        for (; a < last_a; a += 8, b += 8) {
            memcpy(&x, a, 8);
            memcpy(&y, b, 8);
            if (x != y)
                return 0;
        }
        memcpy(&x, last_a, 8);
        memcpy(&y, last_b, 8);
        return x == y;
    }
    if (n >= 4) {
        memcpy(&u, a, 4);
        memcpy(&v, b, 4);
        if (u != v)
            return 0;
        memcpy(&u, a + n - 4, 4);
        memcpy(&v, b + n - 4, 4);
        return u == v;
    }
    if (n >= 2) {
        memcpy(&p, a, 2);
        memcpy(&q, b, 2);
        if (p != q)
            return 0;
        memcpy(&p, a + n - 2, 2);
        memcpy(&q, b + n - 2, 2);
        return p == q;
    }
    return n == 0 || *a == *b;
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

/* ---- error texts prepared at compile time ---- */

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

static const char *const op_keywords[] = {
    [OP_TYPE] = "type", [OP_CONST] = "const", [OP_ENUM] = "enum", [OP_MINIMUM] = "minimum",
    [OP_MAXIMUM] = "maximum", [OP_XMINIMUM] = "exclusiveMinimum",
    [OP_XMAXIMUM] = "exclusiveMaximum", [OP_MULTIPLE_OF] = "multipleOf",
    [OP_MIN_LENGTH] = "minLength", [OP_MAX_LENGTH] = "maxLength", [OP_PATTERN] = "pattern",
    [OP_FORMAT] = "format", [OP_MIN_ITEMS] = "minItems", [OP_MAX_ITEMS] = "maxItems",
    [OP_UNIQUE] = "uniqueItems", [OP_MIN_PROPS] = "minProperties",
    [OP_MAX_PROPS] = "maxProperties", [OP_REQUIRED] = "required",
    [OP_DEP_REQUIRED] = "dependentRequired", [OP_PROP_NAMES] = "propertyNames",
    [OP_CONTAINS] = "contains", [OP_ANY_OF] = "anyOf", [OP_ONE_OF] = "oneOf", [OP_NOT] = "not",
};

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

/* "must be a string, an integer or null", in the order of the schema's list. */
static int type_message(struct buf *b, const json_t *val)
{
    size_t i, j, cnt = json_is_array(val) ? json_array_size(val) : 1;
    int rc = buf_adds(b, "must be ");

    for (i = 0; !rc && i < cnt; i++) {
        const char *t = json_string_value(json_is_array(val) ? json_array_get(val, i) : val);
        const char *ph = t;
        for (j = 0; j < sizeof(type_names) / sizeof(type_names[0]); j++)
            if (type_names[j] && strcmp(type_names[j], t) == 0)
                ph = type_phrases[j];
        rc = buf_printf(b, "%s%s", i == 0 ? "" : i + 1 == cnt ? " or " : ", ", ph);
    }
    return rc;
}

/* The message of op's first error when it does not depend on the instance:
 * 0, 1 when it does, or a negative FMD_E* code. */
static int op_message(struct buf *b, const struct sop *op)
{
    static const char *const cmp[] = {
        [OP_MINIMUM] = ">=", [OP_MAXIMUM] = "<=", [OP_XMINIMUM] = ">", [OP_XMAXIMUM] = "<",
    };
    char num[40];
    size_t n = op->n;

    switch (op->kind) {
    case OP_TYPE:      return type_message(b, op->val);
    case OP_CONST:     return buf_adds(b, "must be equal to the constant");
    case OP_ENUM:      return buf_adds(b, "must be one of the listed values");
    case OP_MINIMUM:
    case OP_MAXIMUM:
    case OP_XMINIMUM:
    case OP_XMAXIMUM:  return buf_printf(b, "must be %s %s", cmp[op->kind], num_str(num, op->val));
    case OP_MULTIPLE_OF: return buf_printf(b, "must be a multiple of %s", num_str(num, op->val));
    case OP_MIN_LENGTH:
        return buf_printf(b, "must be at least %zu character%s long", n, n == 1 ? "" : "s");
    case OP_MAX_LENGTH:
        return buf_printf(b, "must be at most %zu character%s long", n, n == 1 ? "" : "s");
    case OP_PATTERN:   return buf_adds(b, "does not match pattern");
    case OP_FORMAT:    return buf_printf(b, "must be a valid %s", json_string_value(op->val));
    case OP_MIN_ITEMS: return buf_printf(b, "must have at least %zu item%s", n, n == 1 ? "" : "s");
    case OP_MAX_ITEMS: return buf_printf(b, "must have at most %zu item%s", n, n == 1 ? "" : "s");
    case OP_MIN_PROPS:
        return buf_printf(b, "must have at least %zu propert%s", n, n == 1 ? "y" : "ies");
    case OP_MAX_PROPS:
        return buf_printf(b, "must have at most %zu propert%s", n, n == 1 ? "y" : "ies");
    case OP_CONTAINS:
        return op->flag ? buf_printf(b, "must contain at least %zu matching item%s", n,
                                     n == 1 ? "" : "s")
                        : buf_adds(b, "must contain at least one matching item");
    case OP_ANY_OF:    return buf_adds(b, "must match at least one schema in anyOf");
    case OP_ONE_OF:    return buf_adds(b, "must match exactly one schema in oneOf");
    case OP_NOT:       return buf_adds(b, "must not match the schema in not");
    default:           return 1;   /* none: made when it happens */
    }
}

/* The second error: OP_CONTAINS above maxContains, OP_ONE_OF matching twice. */
static int op_message2(struct buf *b, const struct sop *op)
{
    if (op->kind == OP_ONE_OF)
        return buf_adds(b, "must match only one schema in oneOf");
    if (op->kind == OP_CONTAINS && op->n2 != SIZE_MAX)
        return buf_printf(b, "must contain at most %zu matching item%s", op->n2,
                          op->n2 == 1 ? "" : "s");
    return 1;
}

int schema__op_prepare(const struct snode *n, struct sop *op, char **texts)
{
    struct buf b;
    size_t at[4];
    int has[4] = {0}, rc = 0, k;
    char *p;

    *texts = NULL;
    op->kw = op->kind < sizeof(op_keywords) / sizeof(op_keywords[0]) ? op_keywords[op->kind] : NULL;
    if (!op->kw)
        return 0;
    if (op->kind == OP_CONTAINS) {
        op->kw = op->flag ? "minContains" : "contains";
        op->kw2 = "maxContains";
    } else if (op->kind == OP_ONE_OF) {
        op->kw2 = op->kw;
    }
    buf_init(&b, PATH_MAX_BYTES);
    /* spath \0 msg \0 spath2 \0 msg2 \0, each part only when it applies */
    for (k = 0; !rc && k < 4; k++) {
        size_t mark = b.len;
        at[k] = mark;
        if (k == 0 || k == 2) {
            const char *kw = k == 0 ? op->kw : op->kw2;
            if (!kw)
                continue;
            rc = buf_adds(&b, n->path) || buf_addc(&b, '/') || buf_adds(&b, kw);
        } else {
            rc = k == 1 ? op_message(&b, op) : op_message2(&b, op);
            if (rc == 1) {   /* no fixed message */
                rc = 0;
                continue;
            }
        }
        has[k] = !rc;
        rc = rc || buf_addc(&b, '\0');
    }
    if (rc || !(p = fmd_malloc(b.len))) {
        buf_release(&b);
        return FMD_ENOMEM;
    }
    memcpy(p, b.p, b.len);
    buf_release(&b);
    op->spath = has[0] ? p + at[0] : NULL;
    op->msg = has[1] ? p + at[1] : NULL;
    op->spath2 = has[2] ? p + at[2] : NULL;
    op->msg2 = has[3] ? p + at[3] : NULL;
    *texts = p;
    return 0;
}

/* ---- recording errors ---- */

/* A chunk of error text beyond the one inside struct schema_errors. */
struct schema__text {
    struct schema__text *next;
    char p[];
};

#define TEXT_CHUNK 4096

void schema_errors_init(struct schema_errors *e)
{
    e->v = e->first;
    e->n = 0;
    e->cap = sizeof(e->first) / sizeof(e->first[0]);
    e->more = NULL;
    e->at = e->text;
    e->left = sizeof(e->text);
}

void schema_errors_release(struct schema_errors *e)
{
    while (e->more) {
        struct schema__text *t = e->more;
        e->more = t->next;
        fmd_free(t);
    }
    if (e->v != e->first)
        fmd_free(e->v);
    schema_errors_init(e);
}

/* n bytes of text that live as long as e's errors, or NULL. */
static char *errors_text(struct schema_errors *e, size_t n)
{
    char *p;

    if (n > e->left) {
        size_t size = n > TEXT_CHUNK ? n : TEXT_CHUNK;
        struct schema__text *t = fmd_malloc(sizeof(*t) + size);
        if (!t)
            return NULL;
        t->next = e->more;
        e->more = t;
        e->at = t->p;
        e->left = size;
    }
    p = e->at;
    e->at += n;
    e->left -= n;
    return p;
}

static const char *errors_strdup(struct schema_errors *e, const char *s, size_t n)
{
    char *p = errors_text(e, n + 1);

    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* A new error at the end of e, or NULL. */
static struct schema_error *errors_push(struct schema_errors *e)
{
    if (e->n == e->cap) {
        /* not realloc: the first ones are inline */
        struct schema_error *v = fmd_malloc(e->cap * 2 * sizeof(*v));
        if (!v)
            return NULL;
        memcpy(v, e->v, e->n * sizeof(*v));
        if (e->v != e->first)
            fmd_free(e->v);
        e->v = v;
        e->cap *= 2;
    }
    return &e->v[e->n++];
}

/* The current instance path as a JSON Pointer in e's text, or NULL. Written
 * in one pass into room for the worst case (every byte escaped), the unused
 * end then given back: the path is the newest text of e. */
static const char *instance_path(const struct vctx *c, struct schema_errors *e)
{
    char *p, *start;
    size_t i, j, room = 1;

    if (c->nseg == 0)
        return "";
    for (i = 0; i < c->nseg; i++)
        room += 1 + (c->segs[i].key ? 2 * c->segs[i].len : 20);
    if (!(p = start = errors_text(e, room)))
        return NULL;
    for (i = 0; i < c->nseg; i++) {
        const struct seg *sg = &c->segs[i];
        *p++ = '/';
        if (!sg->key) {
            p += snprintf(p, 21, "%zu", sg->idx);
            continue;
        }
        for (j = 0; j < sg->len; j++) {
            char ch = sg->key[j];
            if (ch == '~' || ch == '/') {
                *p++ = '~';
                ch = ch == '~' ? '0' : '1';
            }
            *p++ = ch;
        }
    }
    *p++ = '\0';
    e->at -= room - (size_t)(p - start);
    e->left += room - (size_t)(p - start);
    return start;
}

/*
 * Records an error at the current instance path. spath, keyword and msg
 * must live as long as the errors do: the schema's own, or e's text.
 */
static int record(struct vctx *c, const char *spath, const char *keyword, const char *msg)
{
    struct schema_errors *e = c->out;
    struct schema_error *er;
    const char *path;

    if (!e || e->n >= SCHEMA_MAX_ERRORS)
        return 0;
    if (!(path = instance_path(c, e)) || !(er = errors_push(e)))
        return FMD_ENOMEM;
    *er = (struct schema_error){path, spath, keyword, msg};
    return 0;
}

/* What a failure returns once recorded (rc): V_STOP at the error cap. */
static int failed(const struct vctx *c, int rc)
{
    if (rc)
        return rc;
    return c->out && c->out->n >= SCHEMA_MAX_ERRORS ? V_STOP : V_FAIL;
}

/* The instance fails op here: its prepared error (second: the second one). */
static int fail_op(struct vctx *c, const struct sop *op, int second)
{
    if (!c->collect)
        return V_FAIL;
    return failed(c, second ? record(c, op->spath2, op->kw2, op->msg2)
                            : record(c, op->spath, op->kw, op->msg));
}

/* The instance fails op here, with a message made now. */
static int fail_opf(struct vctx *c, const struct sop *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_opf(struct vctx *c, const struct sop *op, const char *fmt, ...)
{
    char msg[256];
    const char *m;
    va_list ap;
    int n;

    if (!c->collect)
        return V_FAIL;
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    if (!(m = errors_strdup(c->out, msg, (size_t)n)))
        return FMD_ENOMEM;
    return failed(c, record(c, op->spath, op->kw, m));
}

/*
 * The instance fails op here, with the message pre, then s[0..len) cut to 64
 * bytes, then post: the common dynamic message, made without printf.
 */
static int fail_quoted(struct vctx *c, const struct sop *op, const char *pre, const char *s,
                       size_t len, const char *post)
{
    size_t a = strlen(pre), b = strlen(post);
    char ex[80], *m;

    if (!c->collect)
        return V_FAIL;
    if (len > 64) {
        schema__excerpt(ex, s, len, 64);
        s = ex;
        len = strlen(ex);
    }
    if (!(m = errors_text(c->out, a + len + b + 1)))
        return FMD_ENOMEM;
    memcpy(m, pre, a);
    memcpy(m + a, s, len);
    memcpy(m + a + len, post, b + 1);
    return failed(c, record(c, op->spath, op->kw, m));
}

/* The instance is not allowed here at all (a false schema). */
static int fail_false(struct vctx *c, const char *spath, const char *keyword)
{
    if (!c->collect)
        return V_FAIL;
    return failed(c, record(c, spath, keyword, "is not allowed"));
}

/* A cost bound was hit: recorded even where errors are not collected, since
 * the whole validation ends here with the instance invalid. The schema path
 * is spath, then "/" kw unless kw is NULL. */
static int stop(struct vctx *c, const char *spath, const char *kw, const char *msg)
{
    char *p;
    size_t n;
    int rc;

    if (!c->out || c->out->n >= SCHEMA_MAX_ERRORS)
        return V_STOP;
    n = strlen(spath);
    if (kw) {
        if (!(p = errors_text(c->out, n + strlen(kw) + 2)))
            return FMD_ENOMEM;
        memcpy(p, spath, n);
        p[n] = '/';
        memcpy(p + n + 1, kw, strlen(kw) + 1);
        spath = p;
    }
    rc = record(c, spath, kw ? kw : "", msg);
    return rc ? rc : V_STOP;
}

int schema_errors_json(const struct schema_errors *e, json_t **out)
{
    json_t *arr = json_array(), *o;
    size_t i;

    *out = NULL;
    if (!arr)
        return FMD_ENOMEM;
    for (i = 0; i < e->n; i++) {
        const struct schema_error *er = &e->v[i];
        /* UTF-8 already: instance keys, schema text, messages cut at character
         * boundaries. The set_new calls take their argument even on failure. */
        if (!(o = json_object()) || json_array_append_new(arr, o) ||
            json_object_set_new_nocheck(o, "path", json_string_nocheck(er->path)) ||
            json_object_set_new_nocheck(o, "schema_path", json_string_nocheck(er->schema_path)) ||
            json_object_set_new_nocheck(o, "keyword", json_string_nocheck(er->keyword)) ||
            json_object_set_new_nocheck(o, "message", json_string_nocheck(er->message))) {
            json_decref(arr);
            return FMD_ENOMEM;
        }
    }
    *out = arr;
    return 0;
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
    rc = fail_false(c, sub->path, kw);
    c->nseg--;
    return rc;
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

/*
 * Each thread keeps one match block for every validation it runs, rather
 * than allocating one per validation: a pattern is matched in most forms'
 * submissions. The key's destructor frees it when the thread ends.
 */
static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static int md_key_ok;
static _Thread_local pcre2_match_data *thread_md;

static void md_free(void *p)
{
    pcre2_match_data_free(p);
}

static void md_key_init(void)
{
    md_key_ok = pthread_key_create(&md_key, md_free) == 0;
}

/* The calling thread's match block, or NULL (then c makes its own). */
static pcre2_match_data *md_for_thread(void)
{
    pcre2_match_data *md;

    if (thread_md)
        return thread_md;
    pthread_once(&md_once, md_key_init);
    if (!md_key_ok || !(md = pcre2_match_data_create(1, NULL)))
        return NULL;
    if (pthread_setspecific(md_key, md)) {
        pcre2_match_data_free(md);
        return NULL;
    }
    return thread_md = md;
}

/* Sets *matched. V_OK, V_STOP when the match is too costly, FMD_ENOMEM. */
static int match(struct vctx *c, const pcre2_code *re, const char *s, size_t n,
                 const char *spath, const char *kw, int *matched)
{
    int rc;

    if (!c->md && !(c->md = md_for_thread()) &&
        !(c->md = c->own_md = pcre2_match_data_create(1, c->gctx)))
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
        return fail_op(c, op, 0);
    }
    h = op->hashes ? schema__json_hash(inst) : 0;
    for (i = 0; i < op->n; i++)
        if ((!op->hashes || op->hashes[i] == h) &&
            schema__json_equal(json_array_get(op->val, i), inst))
            return V_OK;
    return fail_op(c, op, 0);
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
                           struct reqs *req)
{
    size_t i;
    int rc, failed = 0;

    for (i = 0; i < p->n; i++) {
        const struct sprop *pr = p->order[i];
        const json_t *v = json_object_getn(inst, pr->name, pr->len);
        if (!v)
            continue;
        req->found += pr->required;
        req->seen |= pr->req_bit;
        rc = child(c, pr->sub, v, pr->name, pr->len, 0);
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

/* properties, patternProperties, additionalProperties: one pass over the members. */
static int op_props(struct vctx *c, const struct snode *n, const struct sop *op,
                    const json_t *inst, struct eval *ev, struct reqs *req)
{
    const struct sprops *p = op->props;
    const char *key;
    size_t len, i, next = 0;
    json_t *v;
    int rc, failed = 0;

    if (!ev && !p->npats && !p->additional && p->n * 2 <= json_object_size(inst))
        return props_by_lookup(c, p, inst, req);
    /* Only validity matters and no other member is allowed: more members
     * than properties means one of them is not allowed, whichever it is.
     * (Cheap refusals like this matter most in anyOf, oneOf and if.) */
    if (!c->collect && p->additional && p->additional->boolean == 0 && !p->npats &&
        json_object_size(inst) > p->n)
        return V_FAIL;
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
            req->found += pr->required;
            req->seen |= pr->req_bit;
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
                       const json_t *inst, const struct reqs *req)
{
    size_t i;
    int rc, failed = 0;

    if (op->flag && req->found == op->n2)
        return V_OK;   /* every name is a property and each was seen */
    for (i = 0; i < json_array_size(op->val); i++) {
        const json_t *name = json_array_get(op->val, i);
        const char *s = json_string_value(name);
        size_t len = json_string_length(name);
        if (op->req_bits ? (req->seen & op->req_bits[i]) != 0
                         : json_object_getn(inst, s, len) != NULL)
            continue;
        rc = fail_quoted(c, op, "'", s, len, "' is required");
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
            rc = fail_opf(c, op, "'%s' is required when '%s' is present",
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
            rc = fail_opf(c, op, "property name '%s' is not allowed",
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
        return fail_op(c, op, 0);
    if (found > hi)
        return fail_op(c, op, 1);
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

/* Writes i in decimal at the end of dst[0..24), returning where it starts. */
static char *utoa_end(char dst[24], size_t i)
{
    char *p = dst + 23;

    *p = '\0';
    do
        *--p = (char)('0' + i % 10);
    while (i /= 10);
    return p;
}

/* "must not contain duplicates (items k and m are equal)", without printf. */
static int fail_duplicates(struct vctx *c, const struct sop *op, size_t k, size_t m)
{
    char a[24], b[24], mid[48];
    const char *ka = utoa_end(a, k), *mb = utoa_end(b, m);
    size_t n = strlen(ka);

    if (!c->collect)
        return V_FAIL;
    memcpy(mid, ka, n);
    memcpy(mid + n, " and ", 5);
    memcpy(mid + n + 5, mb, strlen(mb));
    return fail_quoted(c, op, "must not contain duplicates (items ", mid, n + 5 + strlen(mb),
                       " are equal)");
}

/* Finds two equal items by sorting on a hash: n log n, not n^2. */
static int op_unique(struct vctx *c, const struct sop *op, const json_t *inst)
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
                    return fail_duplicates(c, op, k, m);
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
                rc = fail_duplicates(c, op, v[k].i, v[m].i);
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

/* bad_sign: the comparison result that fails; bad_if_equal: equality fails too. */
static int bound(struct vctx *c, const struct sop *op, const json_t *inst, int bad_sign,
                 int bad_if_equal)
{
    int cmp = schema__num_cmp(inst, op->val);

    if (cmp != bad_sign && !(bad_if_equal && cmp == 0))
        return V_OK;
    return fail_op(c, op, 0);
}

static int op_multiple_of(struct vctx *c, const struct sop *op, const json_t *inst)
{
    struct sdec d;
    int ok;

    if (json_is_integer(inst) && json_is_integer(op->val))
        ok = json_integer_value(inst) % json_integer_value(op->val) == 0;
    else
        ok = schema__dec_of(inst, &d) == 0 && schema__dec_multiple(&d, &op->dec);
    return ok ? V_OK : fail_op(c, op, 0);
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
    return any ? V_OK : fail_op(c, op, 0);
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
    rc = matched == 1 ? V_OK : fail_op(c, op, matched != 0);
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

/* ---- scalar leaves (struct sfast) ---- */

void schema__fast_prepare(struct snode *n)
{
    struct sfast f = {.kind = FAST_STRING};
    int strings = 0, numbers = 0;
    size_t i;

    for (i = 0; i < n->nops; i++) {
        const struct sop *op = &n->ops[i];
        switch (op->kind) {
        case OP_TYPE:       f.type = op; break;
        case OP_ENUM:       if (!op->strs) return; f.enm = op; break;
        case OP_MIN_LENGTH: f.min_len = op; strings = 1; break;
        case OP_MAX_LENGTH: f.max_len = op; strings = 1; break;
        case OP_PATTERN:    f.pattern = op; strings = 1; break;
        case OP_FORMAT:     f.format = op; strings = 1; break;
        case OP_MINIMUM:    f.min = op; numbers = 1; break;
        case OP_MAXIMUM:    f.max = op; numbers = 1; break;
        case OP_XMINIMUM:   f.xmin = op; numbers = 1; break;
        case OP_XMAXIMUM:   f.xmax = op; numbers = 1; break;
        case OP_MULTIPLE_OF: f.mult = op; numbers = 1; break;
        default:            return;
        }
    }
    if (n->boolean != -1 || !n->nops || (strings && numbers) || (numbers && f.enm))
        return;
    if (numbers)
        f.kind = FAST_NUMBER;
    n->fast = f;
}

static size_t code_points_of(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i, k = 0;

    for (i = 0; i < len; i++)
        k += (s[i] & 0xC0) != 0x80;
    return k;
}

/* Folds the result of a failed check into *bad; nonzero: return rc now. */
#define CHECK(cond, op, second)                                                          \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            int rc_ = fail_op(c, (op), (second));                                        \
            if (settle(c, rc_, &bad))                                                    \
                return rc_;                                                              \
        }                                                                                \
    } while (0)

static int fast_enum(const struct sop *op, const char *s, size_t len)
{
    size_t i;

    for (i = 0; s && i < op->n; i++)
        if (op->strs[i].len == len && same_bytes(op->strs[i].s, s, len))
            return 1;
    return 0;
}

static int fast_string(struct vctx *c, const struct snode *n, const json_t *inst)
{
    const struct sfast *f = &n->fast;
    const char *s = NULL;
    size_t len = 0;
    int bad = 0, m, rc;

    if (f->type)
        CHECK(type_ok(f->type->types, inst), f->type, 0);
    if (json_is_string(inst)) {
        s = json_string_value(inst);
        len = json_string_length(inst);
    }
    if (f->enm)
        CHECK(fast_enum(f->enm, s, len), f->enm, 0);
    if (!s)
        return bad ? V_FAIL : V_OK;
    /* a code point takes 1 to 4 bytes: most lengths need no counting */
    if (f->min_len)
        CHECK((f->min_len->n < SIZE_MAX / 4 && len >= f->min_len->n * 4) ||
              code_points_of(s, len) >= f->min_len->n, f->min_len, 0);
    if (f->max_len)
        CHECK(len <= f->max_len->n || code_points_of(s, len) <= f->max_len->n, f->max_len, 0);
    if (f->pattern) {
        rc = match(c, f->pattern->re, s, len, n->path, "pattern", &m);
        if (rc != V_OK)
            return rc;
        CHECK(m, f->pattern, 0);
    }
    if (f->format)
        CHECK(f->format->format(s, len), f->format, 0);
    return bad ? V_FAIL : V_OK;
}

static int fast_number(struct vctx *c, const struct snode *n, const json_t *inst)
{
    const struct sfast *f = &n->fast;
    json_type t = json_typeof(inst);
    int bad = 0, rc;

    if (f->type)
        CHECK(type_ok(f->type->types, inst), f->type, 0);
    if (t != JSON_INTEGER && t != JSON_REAL)
        return bad ? V_FAIL : V_OK;
    if (f->min)
        CHECK(schema__num_cmp(inst, f->min->val) >= 0, f->min, 0);
    if (f->max)
        CHECK(schema__num_cmp(inst, f->max->val) <= 0, f->max, 0);
    if (f->xmin)
        CHECK(schema__num_cmp(inst, f->xmin->val) > 0, f->xmin, 0);
    if (f->xmax)
        CHECK(schema__num_cmp(inst, f->xmax->val) < 0, f->xmax, 0);
    if (f->mult && (rc = op_multiple_of(c, f->mult, inst)) != V_OK && settle(c, rc, &bad))
        return rc;
    return bad ? V_FAIL : V_OK;
}

#undef CHECK

/* ---- one schema ---- */

/* Applies op; st carries what one op tells a later one (required seen). */
static int apply(struct vctx *c, const struct snode *n, const struct sop *op, const json_t *inst,
                 struct eval *ev, struct reqs *req)
{
    json_type t = json_typeof(inst);
    int rc, m;

    switch (op->kind) {
    case OP_TYPE:       return type_ok(op->types, inst) ? V_OK : fail_op(c, op, 0);
    case OP_CONST:      return schema__json_equal(op->val, inst) ? V_OK : fail_op(c, op, 0);
    case OP_ENUM:       return op_enum(c, n, op, inst);
    case OP_MINIMUM:
    case OP_MAXIMUM:
    case OP_XMINIMUM:
    case OP_XMAXIMUM:
    case OP_MULTIPLE_OF:
        if (t != JSON_INTEGER && t != JSON_REAL)
            return V_OK;
        switch (op->kind) {
        case OP_MINIMUM:  return bound(c, op, inst, -1, 0);
        case OP_MAXIMUM:  return bound(c, op, inst, 1, 0);
        case OP_XMINIMUM: return bound(c, op, inst, -1, 1);
        case OP_XMAXIMUM: return bound(c, op, inst, 1, 1);
        default:          return op_multiple_of(c, op, inst);
        }
    case OP_MIN_LENGTH:
        if (t != JSON_STRING || (op->n < SIZE_MAX / 4 && json_string_length(inst) >= op->n * 4) ||
            code_points(inst) >= op->n)
            return V_OK;
        return fail_op(c, op, 0);
    case OP_MAX_LENGTH:
        if (t != JSON_STRING || json_string_length(inst) <= op->n || code_points(inst) <= op->n)
            return V_OK;
        return fail_op(c, op, 0);
    case OP_PATTERN:
        if (t != JSON_STRING)
            return V_OK;
        rc = match(c, op->re, json_string_value(inst), json_string_length(inst), n->path,
                   "pattern", &m);
        if (rc != V_OK || m)
            return rc;
        return fail_op(c, op, 0);
    case OP_FORMAT:
        if (t != JSON_STRING || op->format(json_string_value(inst), json_string_length(inst)))
            return V_OK;
        return fail_op(c, op, 0);
    case OP_MIN_ITEMS:
        if (t != JSON_ARRAY || json_array_size(inst) >= op->n)
            return V_OK;
        return fail_op(c, op, 0);
    case OP_MAX_ITEMS:
        if (t != JSON_ARRAY || json_array_size(inst) <= op->n)
            return V_OK;
        return fail_op(c, op, 0);
    case OP_UNIQUE:     return t == JSON_ARRAY ? op_unique(c, op, inst) : V_OK;
    case OP_MIN_PROPS:
        if (t != JSON_OBJECT || json_object_size(inst) >= op->n)
            return V_OK;
        return fail_op(c, op, 0);
    case OP_MAX_PROPS:
        if (t != JSON_OBJECT || json_object_size(inst) <= op->n)
            return V_OK;
        return fail_op(c, op, 0);
    case OP_PROPS:
        return t == JSON_OBJECT ? op_props(c, n, op, inst, ev, req) : V_OK;
    case OP_REQUIRED:
        return t == JSON_OBJECT ? op_required(c, n, op, inst, req) : V_OK;
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
            return fail_op(c, op, 0);
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
    struct reqs req = {0, 0};
    size_t i;
    int rc, failed = 0;

    for (i = 0; i < n->nops; i++) {
        rc = apply(c, n, &n->ops[i], inst, ev, &req);
        if (settle(c, rc, &failed))
            return rc;
    }
    return failed ? V_FAIL : V_OK;
}

/* A node that applies subschemas: depth, cost, dynamic scope and annotations. */
static __attribute__((noinline)) int eval_full(struct vctx *c, const struct snode *n,
                                               const json_t *inst, struct eval *ev)
{
    struct eval mine = {0};
    int rc, entered;

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

/* Kept small so that it inlines: most nodes are leaves, most leaves fast. */
static inline int eval_node(struct vctx *c, const struct snode *n, const json_t *inst,
                            struct eval *ev)
{
    if (n->fast.kind == FAST_STRING)
        return fast_string(c, n, inst);
    if (n->fast.kind == FAST_NUMBER)
        return fast_number(c, n, inst);
    if (n->boolean == 1)
        return V_OK;
    if (n->boolean == 0)
        return fail_false(c, n->path, "false");
    if (n->leaf)   /* nothing below: no recursion, scope or annotations to track */
        return eval_ops(c, n, inst, NULL);
    return eval_full(c, n, inst, ev);
}

int schema__eval(const struct snode *root, pcre2_match_context *mctx,
                 pcre2_general_context *gctx, const json_t *instance,
                 struct schema_errors *errors)
{
    struct vctx cv, *c = &cv;   /* the path and scope stacks need no zeroing */
    int rc;

    if (errors)
        schema_errors_release(errors);   /* each validation starts afresh */
    c->out = errors;
    c->collect = errors != NULL;
    c->depth = c->ref_depth = 0;
    c->steps = 0;
    c->nseg = c->nscope = 0;
    c->md = c->own_md = NULL;
    c->mctx = mctx;
    c->gctx = gctx;
    rc = eval_node(c, root, instance, NULL);
    pcre2_match_data_free(c->own_md);
    return rc <= 0 ? rc : FMD_EUNPROC;
}
