/*
 * columns.c - the typed columns of a form's analytics table (columns.h).
 *
 * Each property schema is reduced to a shape: a kind and, for CHOICE and
 * MULTICHOICE, the option texts. Besides the public kinds a shape may be
 * NEVER (schema false: the property cannot appear), NULLISH (only null) or
 * ANY (nothing known). Shapes combine two ways:
 *   meet  both schemas hold (allOf, "$ref" beside other keywords, "enum"
 *         beside "type"): the narrower one, TEXT meet DATE = DATE; where they
 *         contradict each other (a broken schema) the join, to lose nothing;
 *   join  either holds (anyOf/oneOf, "type" arrays, versions): the wider one,
 *         INTEGER join NUMBER = NUMBER, two scalar kinds TEXT, else JSON.
 * NULLISH is the identity of join, so ["string", "null"] is a string; ANY is
 * the identity of meet. What is still NULLISH or ANY in the end is JSON.
 */
#include "analytics/columns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/banned.h"

/* How deep "$ref", allOf, anyOf and items may nest: what guards cycles. */
#define MAX_DEPTH 32

enum { K_NEVER = COLUMNS_JSON + 1, K_NULLISH, K_ANY };

struct strv {
    char **v;
    size_t n;
};

struct shape {
    int kind;           /* enum columns_kind or K_* */
    struct strv opts;   /* CHOICE and MULTICHOICE only */
};

/* A property while the versions are merged; becomes a struct column. */
struct wcol {
    char *name;
    struct shape sh;
    size_t first, last;
};

struct work {
    struct wcol *v;
    size_t n;
};

/* One version's properties; names are borrowed from its schema. */
struct vcol {
    const char *name;
    struct shape sh;
};

struct vcols {
    struct vcol *v;
    size_t n;
};

static const struct {
    const char *name;
    const char *duck;
} kinds[] = {
    [COLUMNS_CHOICE] = {"choice", "VARCHAR"},
    [COLUMNS_MULTICHOICE] = {"multichoice", "VARCHAR[]"},
    [COLUMNS_NUMBER] = {"number", "DOUBLE"},
    [COLUMNS_INTEGER] = {"integer", "BIGINT"},
    [COLUMNS_TEXT] = {"text", "VARCHAR"},
    [COLUMNS_DATE] = {"date", "DATE"},
    [COLUMNS_DATETIME] = {"datetime", "TIMESTAMPTZ"},
    [COLUMNS_TIME] = {"time", "TIME"},
    [COLUMNS_BOOLEAN] = {"boolean", "BOOLEAN"},
    [COLUMNS_JSON] = {"json", "JSON"},
};

const char *columns_kind_name(enum columns_kind kind)
{
    return (unsigned)kind <= COLUMNS_JSON ? kinds[kind].name : "json";
}

const char *columns_duck_type(enum columns_kind kind)
{
    return (unsigned)kind <= COLUMNS_JSON ? kinds[kind].duck : "JSON";
}

/* ---- string vectors ---- */

static void strv_release(struct strv *sv)
{
    size_t i;

    for (i = 0; i < sv->n; i++)
        fmd_free(sv->v[i]);
    fmd_freez(&sv->v);
    sv->n = 0;
}

static int strv_has(const struct strv *sv, const char *s)
{
    size_t i;

    for (i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0)
            return 1;
    return 0;
}

/* Appends a copy of s unless it is there already. */
static int strv_add(struct strv *sv, const char *s)
{
    char **nv, *d;

    if (strv_has(sv, s))
        return 0;
    d = fmd_strdup(s);
    if (!d)
        return FMD_ENOMEM;
    nv = fmd_realloc(sv->v, (sv->n + 1) * sizeof(*nv));
    if (!nv) {
        fmd_free(d);
        return FMD_ENOMEM;
    }
    nv[sv->n++] = d;
    sv->v = nv;
    return 0;
}

/* ---- shapes ---- */

static int has_options(int kind)
{
    return kind == COLUMNS_CHOICE || kind == COLUMNS_MULTICHOICE;
}

static int is_scalar(int kind)
{
    return kind == COLUMNS_CHOICE || kind == COLUMNS_NUMBER || kind == COLUMNS_INTEGER ||
           kind == COLUMNS_TEXT || kind == COLUMNS_DATE || kind == COLUMNS_DATETIME ||
           kind == COLUMNS_TIME || kind == COLUMNS_BOOLEAN;
}

static void shape_release(struct shape *sh)
{
    strv_release(&sh->opts);
}

static void shape_set_kind(struct shape *sh, int kind)
{
    if (!has_options(kind) || kind != sh->kind)
        strv_release(&sh->opts);
    sh->kind = kind;
}

/* a becomes a copy of b. */
static int shape_assign(struct shape *a, const struct shape *b)
{
    size_t i;
    int rc = 0;

    strv_release(&a->opts);
    a->kind = b->kind;
    for (i = 0; i < b->opts.n && !rc; i++)
        rc = strv_add(&a->opts, b->opts.v[i]);
    return rc;
}

/* The kind that holds values of two different kinds x and y. */
static int widen(int x, int y)
{
    if (x == K_ANY || y == K_ANY)
        return COLUMNS_JSON;
    if ((x == COLUMNS_INTEGER && y == COLUMNS_NUMBER) ||
        (x == COLUMNS_NUMBER && y == COLUMNS_INTEGER))
        return COLUMNS_NUMBER;
    if (is_scalar(x) && is_scalar(y))
        return COLUMNS_TEXT;
    return COLUMNS_JSON;
}

/* a = a join b. */
static int join(struct shape *a, const struct shape *b)
{
    size_t i;
    int rc = 0;

    if (b->kind == K_NEVER || b->kind == K_NULLISH) {
        if (a->kind == K_NEVER)
            a->kind = b->kind;
        return 0;
    }
    if (a->kind == K_NEVER || a->kind == K_NULLISH)
        return shape_assign(a, b);
    if (a->kind != b->kind) {
        shape_set_kind(a, widen(a->kind, b->kind));
        return 0;
    }
    for (i = 0; i < b->opts.n && !rc; i++)
        rc = strv_add(&a->opts, b->opts.v[i]);
    return rc;
}

/* Of two different kinds, the one that refines the other, or -1. */
static int narrower(int x, int y)
{
    static const int refines[][2] = {
        /* narrow, wide */
        {COLUMNS_CHOICE, COLUMNS_TEXT},   {COLUMNS_DATE, COLUMNS_TEXT},
        {COLUMNS_DATETIME, COLUMNS_TEXT}, {COLUMNS_TIME, COLUMNS_TEXT},
        {COLUMNS_INTEGER, COLUMNS_NUMBER}, {COLUMNS_MULTICHOICE, COLUMNS_JSON},
    };
    size_t i;

    for (i = 0; i < sizeof(refines) / sizeof(refines[0]); i++) {
        if (refines[i][0] == x && refines[i][1] == y)
            return x;
        if (refines[i][0] == y && refines[i][1] == x)
            return y;
    }
    /* An enum narrows any scalar type: {"type": "integer", "enum": [1, 2]}. */
    if (x == COLUMNS_CHOICE && is_scalar(y))
        return x;
    if (y == COLUMNS_CHOICE && is_scalar(x))
        return y;
    return -1;
}

/* a = a meet b. */
static int meet(struct shape *a, const struct shape *b)
{
    struct strv keep = {0};
    size_t i;
    int rc = 0, n;

    if (a->kind == K_NEVER || b->kind == K_ANY)
        return 0;
    if (b->kind == K_NEVER || a->kind == K_ANY)
        return shape_assign(a, b);
    if (a->kind == K_NULLISH || b->kind == K_NULLISH) {
        shape_set_kind(a, K_NULLISH);
        return 0;
    }
    if (a->kind == b->kind) {
        if (!has_options(a->kind))
            return 0;
        for (i = 0; i < a->opts.n && !rc; i++)
            if (strv_has(&b->opts, a->opts.v[i]))
                rc = strv_add(&keep, a->opts.v[i]);
        if (rc) {
            strv_release(&keep);
            return rc;
        }
        strv_release(&a->opts);
        a->opts = keep;
        if (!a->opts.n)
            a->kind = K_NEVER;
        return 0;
    }
    n = narrower(a->kind, b->kind);
    if (n == a->kind)
        return 0;
    if (n == b->kind)
        return shape_assign(a, b);
    return join(a, b);
}

/* ---- one schema to a shape ---- */

/* The text DuckDB's json_extract_string gives for a scalar JSON value. */
static int value_text(const json_t *v, char *tmp, size_t cap, const char **out)
{
    double d;
    int p;

    switch (json_typeof(v)) {
    case JSON_STRING:
        *out = json_string_value(v);
        return 0;
    case JSON_INTEGER:
        snprintf(tmp, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        /* Shortest text that reads back, with ".0" on whole numbers (yyjson). */
        d = json_real_value(v);
        for (p = 1; p <= 17; p++) {
            snprintf(tmp, cap, "%.*g", p, d);
            if (strtod(tmp, NULL) == d)
                break;
        }
        if (!strpbrk(tmp, ".eEn"))
            snprintf(tmp + strlen(tmp), cap - strlen(tmp), ".0");
        break;
    case JSON_TRUE:
        *out = "true";
        return 0;
    case JSON_FALSE:
        *out = "false";
        return 0;
    default:
        return FMD_EINVAL;
    }
    *out = tmp;
    return 0;
}

/* Value i of an "enum" array, or the "const" value itself (i == 0). */
static const json_t *value_at(const json_t *v, int is_const, size_t i)
{
    return is_const ? v : json_array_get(v, i);
}

/* The shape of the values of an "enum" (an array) or a "const". */
static int values_shape(const json_t *v, int is_const, struct shape *out)
{
    size_t i, n = is_const ? 1 : json_array_size(v), nonnull = 0, bools = 0, containers = 0;
    char tmp[64];
    int rc = 0;

    for (i = 0; i < n; i++) {
        const json_t *x = value_at(v, is_const, i);
        if (json_is_null(x))
            continue;
        nonnull++;
        if (json_is_boolean(x))
            bools++;
        else if (json_is_object(x) || json_is_array(x))
            containers++;
    }
    if (!nonnull)
        out->kind = n ? K_NULLISH : K_NEVER;
    else if (containers)
        out->kind = COLUMNS_JSON;
    else if (bools == nonnull)
        out->kind = COLUMNS_BOOLEAN;
    else
        out->kind = COLUMNS_CHOICE;
    for (i = 0; i < n && !rc && out->kind == COLUMNS_CHOICE; i++) {
        const json_t *x = value_at(v, is_const, i);
        const char *text;
        if (!json_is_null(x) && value_text(x, tmp, sizeof(tmp), &text) == 0)
            rc = strv_add(&out->opts, text);
    }
    return rc;
}

/* The value at a local reference ("#", "#/$defs/x", percent- and ~-escaped). */
static const json_t *resolve(const json_t *root, const char *ref)
{
    const json_t *cur = root;
    const char *p;
    char tok[256];

    if (ref[0] != '#')
        return NULL;
    p = ref + 1;
    if (*p && *p != '/')
        return NULL;   /* "#anchor": not supported */
    while (cur && *p == '/') {
        size_t n = 0;
        p++;
        while (*p && *p != '/') {
            char c = *p++;
            if (c == '%' && p[0] && p[1]) {
                char hex[3] = {p[0], p[1], 0}, *end;
                long v = strtol(hex, &end, 16);
                if (*end)
                    return NULL;
                c = (char)v;
                p += 2;
            }
            if (c == '~') {
                if (*p != '0' && *p != '1')
                    return NULL;
                c = *p++ == '0' ? '~' : '/';
            }
            if (n + 1 >= sizeof(tok))
                return NULL;
            tok[n++] = c;
        }
        tok[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur) && n && strspn(tok, "0123456789") == n) {
            cur = json_array_get(cur, strtoul(tok, NULL, 10));
        } else {
            cur = NULL;
        }
    }
    return cur;
}

static int analyze(const json_t *root, const json_t *node, int depth, struct shape *out);

static int string_shape(const json_t *node)
{
    const char *format = json_string_value(json_object_get(node, "format"));

    if (format && strcmp(format, "date") == 0)
        return COLUMNS_DATE;
    if (format && strcmp(format, "date-time") == 0)
        return COLUMNS_DATETIME;
    if (format && strcmp(format, "time") == 0)
        return COLUMNS_TIME;
    return COLUMNS_TEXT;
}

/* An array: MULTICHOICE when its items are a CHOICE, else JSON. */
static int array_shape(const json_t *root, const json_t *node, int depth, struct shape *out)
{
    const json_t *items = json_object_get(node, "items");
    int rc;

    out->kind = COLUMNS_JSON;
    if (!items)
        return 0;
    rc = analyze(root, items, depth + 1, out);
    if (rc)
        return rc;
    if (out->kind == COLUMNS_CHOICE)
        out->kind = COLUMNS_MULTICHOICE;
    else
        shape_set_kind(out, COLUMNS_JSON);
    return 0;
}

/* The shape of one "type" name. */
static int type_shape(const json_t *root, const json_t *node, const char *type, int depth,
                      struct shape *out)
{
    if (!type)
        out->kind = K_ANY;
    else if (strcmp(type, "string") == 0)
        out->kind = string_shape(node);
    else if (strcmp(type, "integer") == 0)
        out->kind = COLUMNS_INTEGER;
    else if (strcmp(type, "number") == 0)
        out->kind = COLUMNS_NUMBER;
    else if (strcmp(type, "boolean") == 0)
        out->kind = COLUMNS_BOOLEAN;
    else if (strcmp(type, "null") == 0)
        out->kind = K_NULLISH;
    else if (strcmp(type, "object") == 0)
        out->kind = COLUMNS_JSON;
    else if (strcmp(type, "array") == 0)
        return array_shape(root, node, depth, out);
    else
        out->kind = K_ANY;
    return 0;
}

/* The shape the keywords "type", "format", "items" and "properties" give. */
static int own_type_shape(const json_t *root, const json_t *node, int depth, struct shape *out)
{
    const json_t *type = json_object_get(node, "type");
    struct shape t = {K_ANY, {0}};
    size_t i;
    int rc = 0;

    if (json_is_string(type))
        return type_shape(root, node, json_string_value(type), depth, out);
    if (json_is_array(type)) {
        out->kind = K_NEVER;
        for (i = 0; i < json_array_size(type) && !rc; i++) {
            t.kind = K_ANY;
            rc = type_shape(root, node, json_string_value(json_array_get(type, i)), depth, &t);
            if (!rc)
                rc = join(out, &t);
            shape_release(&t);
        }
        return rc;
    }
    /* No "type": what the other keywords imply, as the fields compiler writes them. */
    if (json_object_get(node, "format") && string_shape(node) != COLUMNS_TEXT)
        out->kind = string_shape(node);
    else if (json_object_get(node, "items"))
        return array_shape(root, node, depth, out);
    else if (json_object_get(node, "properties"))
        out->kind = COLUMNS_JSON;
    else
        out->kind = K_ANY;
    return 0;
}

/* Meets out with the join of the members of an anyOf or oneOf array. */
static int meet_any_of(const json_t *root, const json_t *arr, int depth, struct shape *out)
{
    struct shape u = {K_NEVER, {0}}, m = {K_ANY, {0}};
    size_t i;
    int rc = 0;

    if (!json_is_array(arr) || !json_array_size(arr))
        return 0;
    for (i = 0; i < json_array_size(arr) && !rc; i++) {
        m.kind = K_ANY;
        rc = analyze(root, json_array_get(arr, i), depth + 1, &m);
        if (!rc)
            rc = join(&u, &m);
        shape_release(&m);
    }
    if (!rc)
        rc = meet(out, &u);
    shape_release(&u);
    return rc;
}

/* The shape of the schema node; out starts as K_ANY without options. */
static int analyze(const json_t *root, const json_t *node, int depth, struct shape *out)
{
    struct shape t = {K_ANY, {0}};
    const json_t *v, *c;
    size_t i;
    int rc = 0;

    out->kind = json_is_false(node) ? K_NEVER : K_ANY;
    if (depth > MAX_DEPTH || !json_is_object(node))
        return 0;   /* false, true, not a schema, or past the cycle guard */
    v = json_object_get(node, "$ref");
    if (json_is_string(v) && (c = resolve(root, json_string_value(v))) != NULL) {
        rc = analyze(root, c, depth + 1, &t);
        if (!rc)
            rc = meet(out, &t);
        shape_release(&t);
    }
    if (!rc && (c = json_object_get(node, "const")) != NULL) {
        t.kind = K_ANY;
        rc = values_shape(c, 1, &t);
        if (!rc)
            rc = meet(out, &t);
        shape_release(&t);
    }
    v = json_object_get(node, "enum");
    if (!rc && json_is_array(v)) {
        t.kind = K_ANY;
        rc = values_shape(v, 0, &t);
        if (!rc)
            rc = meet(out, &t);
        shape_release(&t);
    }
    if (!rc) {
        t.kind = K_ANY;
        rc = own_type_shape(root, node, depth, &t);
        if (!rc)
            rc = meet(out, &t);
        shape_release(&t);
    }
    v = json_object_get(node, "allOf");
    for (i = 0; !rc && i < json_array_size(v); i++) {
        t.kind = K_ANY;
        rc = analyze(root, json_array_get(v, i), depth + 1, &t);
        if (!rc)
            rc = meet(out, &t);
        shape_release(&t);
    }
    if (!rc)
        rc = meet_any_of(root, json_object_get(node, "anyOf"), depth, out);
    if (!rc)
        rc = meet_any_of(root, json_object_get(node, "oneOf"), depth, out);
    return rc;
}

/* ---- one version's properties ---- */

static void vcols_release(struct vcols *vc)
{
    size_t i;

    for (i = 0; i < vc->n; i++)
        shape_release(&vc->v[i].sh);
    fmd_freez(&vc->v);
    vc->n = 0;
}

/* Adds one property's shape; a name seen before in this version is met. */
static int vcols_add(struct vcols *vc, const char *name, struct shape *sh)
{
    struct vcol *nv;
    size_t i;

    for (i = 0; i < vc->n; i++)
        if (strcmp(vc->v[i].name, name) == 0)
            return meet(&vc->v[i].sh, sh);
    nv = fmd_realloc(vc->v, (vc->n + 1) * sizeof(*nv));
    if (!nv)
        return FMD_ENOMEM;
    vc->v = nv;
    vc->v[vc->n].name = name;
    vc->v[vc->n].sh = *sh;   /* takes over the options */
    sh->opts.v = NULL;
    sh->opts.n = 0;
    vc->n++;
    return 0;
}

static int describes_object(const json_t *type)
{
    size_t i;

    if (!type)
        return 1;
    if (json_is_string(type))
        return strcmp(json_string_value(type), "object") == 0;
    for (i = 0; i < json_array_size(type); i++)
        if (json_is_string(json_array_get(type, i)) &&
            strcmp(json_string_value(json_array_get(type, i)), "object") == 0)
            return 1;
    return 0;
}

/* The properties of node (the root, or what its $ref / allOf lead to). */
static int collect(const json_t *root, const json_t *node, int depth, struct vcols *vc,
                   size_t ver, size_t nver, struct fmd_err *err)
{
    const json_t *props, *v, *sub;
    const char *key;
    size_t i;
    int rc = 0;

    if (depth > MAX_DEPTH || !json_is_object(node))
        return 0;
    props = json_object_get(node, "properties");
    if (props && !json_is_object(props))
        return fmd_errf(err, FMD_EINVAL, "schema %zu of %zu: 'properties' is not an object",
                        ver + 1, nver);
    json_object_foreach((json_t *)props, key, sub) {
        struct shape sh = {K_ANY, {0}};
        if (!json_is_object(sub) && !json_is_boolean(sub))
            return fmd_errf(err, FMD_EINVAL, "schema %zu of %zu: property '%s' is not a schema",
                            ver + 1, nver, key);
        rc = analyze(root, sub, 0, &sh);
        if (!rc)
            rc = vcols_add(vc, key, &sh);
        shape_release(&sh);
        if (rc)
            return fmd_errf(err, rc, "out of memory");
    }
    v = json_object_get(node, "$ref");
    if (json_is_string(v))
        rc = collect(root, resolve(root, json_string_value(v)), depth + 1, vc, ver, nver, err);
    v = json_object_get(node, "allOf");
    for (i = 0; !rc && i < json_array_size(v); i++)
        rc = collect(root, json_array_get(v, i), depth + 1, vc, ver, nver, err);
    return rc;
}

/* ---- merging the versions ---- */

static void work_release(struct work *w)
{
    size_t i;

    for (i = 0; i < w->n; i++) {
        fmd_free(w->v[i].name);
        shape_release(&w->v[i].sh);
    }
    fmd_freez(&w->v);
    w->n = 0;
}

static int work_merge(struct work *w, const struct vcols *vc, size_t ver)
{
    size_t i, j;
    int rc = 0;

    for (i = 0; i < vc->n && !rc; i++) {
        const struct vcol *p = &vc->v[i];
        struct wcol *nv;

        if (p->sh.kind == K_NEVER)
            continue;   /* false: the property is not in this version */
        for (j = 0; j < w->n && strcmp(w->v[j].name, p->name) != 0; j++)
            ;
        if (j < w->n) {
            w->v[j].last = ver;
            rc = join(&w->v[j].sh, &p->sh);
            continue;
        }
        nv = fmd_realloc(w->v, (w->n + 1) * sizeof(*nv));
        if (!nv)
            return FMD_ENOMEM;
        w->v = nv;
        nv = &w->v[w->n];
        nv->name = fmd_strdup(p->name);
        nv->sh.kind = K_NEVER;
        nv->sh.opts.v = NULL;
        nv->sh.opts.n = 0;
        nv->first = nv->last = ver;
        if (!nv->name)
            return FMD_ENOMEM;
        w->n++;
        rc = shape_assign(&nv->sh, &p->sh);
    }
    return rc;
}

static int ascii_caseeq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return *a == *b;
}

static int name_taken(const char *s, const char *const *reserved, const struct columns *c)
{
    size_t i;

    for (i = 0; reserved && reserved[i]; i++)
        if (ascii_caseeq(s, reserved[i]))
            return 1;
    for (i = 0; i < c->n; i++)
        if (ascii_caseeq(s, c->v[i].sql_name))
            return 1;
    return 0;
}

/* The name itself, or "_" for "", with "_2", "_3", ... until it is free. */
static int sql_name(const char *name, const char *const *reserved, const struct columns *c,
                    char **out)
{
    const char *base = name[0] ? name : "_";
    struct buf b;
    unsigned k;
    int rc;

    buf_init(&b, (size_t)-1 / 2);
    rc = buf_adds(&b, base);
    for (k = 2; !rc && name_taken(b.p, reserved, c); k++) {
        buf_reset(&b);
        rc = buf_printf(&b, "%s_%u", base, k);
    }
    if (rc) {
        buf_release(&b);
        return rc;
    }
    *out = buf_detach(&b, NULL);
    return *out ? 0 : FMD_ENOMEM;
}

/* Moves the merged properties into out, in order. */
static int work_finish(struct work *w, const char *const *reserved, struct columns *out)
{
    size_t i;
    int rc;

    if (!w->n)
        return 0;
    out->v = fmd_calloc(w->n, sizeof(*out->v));
    if (!out->v)
        return FMD_ENOMEM;
    for (i = 0; i < w->n; i++) {
        struct column *col = &out->v[i];
        struct wcol *p = &w->v[i];

        rc = sql_name(p->name, reserved, out, &col->sql_name);
        if (rc)
            return rc;
        col->name = p->name;
        p->name = NULL;
        if (p->sh.kind > COLUMNS_JSON)
            shape_set_kind(&p->sh, COLUMNS_JSON);
        col->kind = (enum columns_kind)p->sh.kind;
        col->duck_type = columns_duck_type(col->kind);
        col->options = p->sh.opts.v;
        col->n_options = p->sh.opts.n;
        p->sh.opts.v = NULL;
        p->sh.opts.n = 0;
        col->first_version = p->first;
        col->last_version = p->last;
        out->n++;
    }
    return 0;
}

void columns_init(struct columns *c)
{
    c->v = NULL;
    c->n = 0;
}

void columns_release(struct columns *c)
{
    size_t i, j;

    for (i = 0; i < c->n; i++) {
        fmd_free(c->v[i].name);
        fmd_free(c->v[i].sql_name);
        for (j = 0; j < c->v[i].n_options; j++)
            fmd_free(c->v[i].options[j]);
        fmd_free(c->v[i].options);
    }
    fmd_freez(&c->v);
    c->n = 0;
}

int columns_from_schemas(const json_t *const *schemas, size_t n, const char *const *reserved,
                         struct columns *out, struct fmd_err *err)
{
    struct work w = {0};
    struct vcols vc = {0};
    size_t i;
    int rc = 0;

    columns_release(out);
    if (n && !schemas) {
        rc = fmd_errf(err, FMD_EINVAL, "no schemas given");
        goto out;
    }
    for (i = 0; i < n; i++) {
        const json_t *s = schemas[i];

        if (!json_is_object(s)) {
            rc = fmd_errf(err, FMD_EINVAL, "schema %zu of %zu is not an object", i + 1, n);
            goto out;
        }
        if (!describes_object(json_object_get(s, "type"))) {
            rc = fmd_errf(err, FMD_EINVAL, "schema %zu of %zu does not describe an object",
                          i + 1, n);
            goto out;
        }
        rc = collect(s, s, 0, &vc, i, n, err);
        if (!rc)
            rc = work_merge(&w, &vc, i);
        vcols_release(&vc);
        if (rc)
            goto out;
    }
    rc = work_finish(&w, reserved, out);
out:
    if (rc == FMD_ENOMEM)
        fmd_errf(err, rc, "out of memory");
    if (rc)
        columns_release(out);
    vcols_release(&vc);
    work_release(&w);
    return rc;
}

const struct column *columns_find(const struct columns *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        if (strcmp(c->v[i].name, name) == 0)
            return &c->v[i];
    return NULL;
}

/* ---- SQL ---- */

/* A DuckDB identifier: double quotes, inner ones doubled. */
static int add_ident(struct buf *b, const char *s)
{
    int rc = buf_addc(b, '"');

    for (; *s && !rc; s++)
        rc = *s == '"' ? buf_adds(b, "\"\"") : buf_addc(b, *s);
    return rc ? rc : buf_addc(b, '"');
}

/*
 * The SQL string literal of the JSON pointer to the top-level key: '/' and
 * the key with '~' as "~0" and '/' as "~1" (RFC 6901), single quotes doubled
 * (SQL). Nothing else is special in either: DuckDB string literals take no
 * backslash escapes.
 */
static int add_pointer(struct buf *b, const char *key)
{
    int rc = buf_adds(b, "'/");

    for (; *key && !rc; key++) {
        if (*key == '~')
            rc = buf_adds(b, "~0");
        else if (*key == '/')
            rc = buf_adds(b, "~1");
        else if (*key == '\'')
            rc = buf_adds(b, "''");
        else
            rc = buf_addc(b, *key);
    }
    return rc ? rc : buf_addc(b, '\'');
}

/*
 * How each kind is extracted: pre, then the function applied to (json_col,
 * pointer), then post. Casts are TRY_CASTs so old or bad data reads as NULL
 * (checked against DuckDB 1.4.4):
 * - json_extract_string gives a JSON string's text, other values as JSON
 *   text, and NULL for a missing key or JSON null;
 * - BIGINT rounds a fractional number or numeric string ("2.5" -> 3): only bad
 *   data has one, as versions that allow fractions make the column DOUBLE;
 * - a boolean is matched, not cast: DuckDB's cast reads "yes", "t" and 1 too;
 * - date-times and times are upper-cased because RFC 3339 allows "t" and "z",
 *   which DuckDB does not read; TIME keeps the wall-clock time and drops the
 *   offset, as DuckDB's cast does;
 * - VARCHAR[] from a JSON array turns non-string items into their JSON text,
 *   anything but an array into NULL;
 * - JSON null becomes SQL NULL in a JSON column too (NULLIF).
 */
static const struct {
    const char *pre, *fn, *post;
} extract[] = {
    [COLUMNS_CHOICE] = {"", "json_extract_string", ""},
    [COLUMNS_MULTICHOICE] = {"TRY_CAST(", "json_extract", " AS VARCHAR[])"},
    [COLUMNS_NUMBER] = {"TRY_CAST(", "json_extract_string", " AS DOUBLE)"},
    [COLUMNS_INTEGER] = {"TRY_CAST(", "json_extract_string", " AS BIGINT)"},
    [COLUMNS_TEXT] = {"", "json_extract_string", ""},
    [COLUMNS_DATE] = {"TRY_CAST(", "json_extract_string", " AS DATE)"},
    [COLUMNS_DATETIME] = {"TRY_CAST(upper(", "json_extract_string", ") AS TIMESTAMPTZ)"},
    [COLUMNS_TIME] = {"TRY_CAST(upper(", "json_extract_string", ") AS TIME)"},
    [COLUMNS_BOOLEAN] = {"CASE ", "json_extract_string",
                         " WHEN 'true' THEN true WHEN 'false' THEN false END"},
    [COLUMNS_JSON] = {"NULLIF(", "json_extract", ", 'null')"},
};

int columns_select_sql(const struct columns *c, const char *json_col, struct buf *out)
{
    size_t i, old = out->len;
    int rc = 0;

    if (!json_col || !*json_col)
        return FMD_EINVAL;
    for (i = 0; i < c->n && !rc; i++) {
        const struct column *col = &c->v[i];
        unsigned k = (unsigned)col->kind <= COLUMNS_JSON ? (unsigned)col->kind : COLUMNS_JSON;

        if (i)
            rc = buf_adds(out, ",\n");
        if (!rc)
            rc = buf_printf(out, "%s%s(", extract[k].pre, extract[k].fn);
        if (!rc)
            rc = add_ident(out, json_col);
        if (!rc)
            rc = buf_adds(out, ", ");
        if (!rc)
            rc = add_pointer(out, col->name);
        if (!rc)
            rc = buf_printf(out, ")%s AS ", extract[k].post);
        if (!rc)
            rc = add_ident(out, col->sql_name);
    }
    if (rc) {
        out->len = old;
        out->p[old] = '\0';
    }
    return rc;
}

int columns_create_sql(const struct columns *c, struct buf *out)
{
    size_t i, old = out->len;
    int rc = 0;

    for (i = 0; i < c->n && !rc; i++) {
        if (i)
            rc = buf_adds(out, ", ");
        if (!rc)
            rc = add_ident(out, c->v[i].sql_name);
        if (!rc)
            rc = buf_printf(out, " %s", c->v[i].duck_type);
    }
    if (rc) {
        out->len = old;
        out->p[old] = '\0';
    }
    return rc;
}
