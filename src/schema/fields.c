/*
 * fields.c - compiles the fields shorthand (fields.h) to a JSON Schema 2020-12.
 *
 *   type         schema                                members beyond the common ones
 *   text         string, maxLength 1000 unless given   min_length max_length pattern
 *   textarea     string, maxLength 10000 unless given  min_length max_length pattern
 *   email        string, format email                  min_length max_length pattern
 *   url          string, format uri                    min_length max_length pattern
 *   phone        string, pattern PHONE_PATTERN         min_length max_length
 *   date         string, format date                   -
 *   number       number                                min max
 *   integer      integer                               min max
 *   rating       integer, minimum 1, maximum 5         min max (integers)
 *   checkbox     boolean                               -
 *   select       enum of the options                   options
 *   multiselect  array of enum items, uniqueItems      options min_items max_items
 *
 * Every type takes name, type, label (-> title), description, required,
 * sensitive (-> "x-sensitive": true), required_if and visible_if.
 * min/max -> minimum/maximum, min_length/max_length -> minLength/maxLength,
 * min_items/max_items -> minItems/maxItems. A member
 * that does not apply to the type is rejected like an unknown one.
 *
 * A condition {"field": F, "equals": V} is C = {"properties": {F: {"const":
 * V}}, "required": [F]}, so it is false while F is absent, and each becomes
 * one allOf entry:
 *   required_if -> {"if": C, "then": {"required": [name]}}
 *   visible_if  -> {"if": {"not": C}, "then": {"not": {"required": [name]}}}
 *                  (a hidden field must be absent)
 */
#include "schema/fields.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "schema/schema_int.h"
#include "core/banned.h"

#define SCHEMA_URI    "https://json-schema.org/draft/2020-12/schema"
#define PHONE_PATTERN "^\\+?[0-9][0-9 ().-]{3,30}$"
#define MAX_OPTIONS   1000

/* Members a type takes beyond the common ones. */
enum {
    M_RANGE   = 1 << 0,   /* min, max */
    M_LENGTH  = 1 << 1,   /* min_length, max_length */
    M_PATTERN = 1 << 2,
    M_OPTIONS = 1 << 3,
    M_ITEMS   = 1 << 4,   /* min_items, max_items */
};

enum ftype_kind { FT_STRING, FT_NUMBER, FT_RATING, FT_BOOL, FT_SELECT, FT_MULTI };

struct ftype {
    const char *name;
    enum ftype_kind kind;
    const char *json_type;   /* the schema's "type" */
    const char *format;      /* or NULL */
    unsigned members;
    json_int_t max_length;   /* default maxLength, -1: none */
};

static const struct ftype ftypes[] = {
    {"text",        FT_STRING, "string",  NULL,    M_LENGTH | M_PATTERN, 1000},
    {"textarea",    FT_STRING, "string",  NULL,    M_LENGTH | M_PATTERN, 10000},
    {"email",       FT_STRING, "string",  "email", M_LENGTH | M_PATTERN, -1},
    {"url",         FT_STRING, "string",  "uri",   M_LENGTH | M_PATTERN, -1},
    {"phone",       FT_STRING, "string",  NULL,    M_LENGTH,             -1},
    {"date",        FT_STRING, "string",  "date",  0,                    -1},
    {"number",      FT_NUMBER, "number",  NULL,    M_RANGE,              -1},
    {"integer",     FT_NUMBER, "integer", NULL,    M_RANGE,              -1},
    {"rating",      FT_RATING, "integer", NULL,    M_RANGE,              -1},
    {"checkbox",    FT_BOOL,   "boolean", NULL,    0,                    -1},
    {"select",      FT_SELECT, NULL,      NULL,    M_OPTIONS,            -1},
    {"multiselect", FT_MULTI,  "array",   NULL,    M_OPTIONS | M_ITEMS,  -1},
};

static const struct {
    const char *name;
    unsigned needs;          /* 0: every type takes it */
} fmembers[] = {
    {"name", 0}, {"type", 0}, {"label", 0}, {"description", 0}, {"required", 0},
    {"sensitive", 0},
    {"required_if", 0}, {"visible_if", 0},
    {"min", M_RANGE}, {"max", M_RANGE}, {"min_length", M_LENGTH}, {"max_length", M_LENGTH},
    {"pattern", M_PATTERN}, {"options", M_OPTIONS}, {"min_items", M_ITEMS},
    {"max_items", M_ITEMS},
};

/* One field's members, checked; counts are -1 when absent. */
struct spec {
    const char *name;
    const struct ftype *type;
    const json_t *label, *description, *pattern, *options, *min, *max;
    const json_t *required_if, *visible_if;   /* {"field", "equals"} */
    json_int_t min_length, max_length, min_items, max_items;
    int required;
    int sensitive;           /* "x-sensitive": encrypted at rest, masked for low roles */
};

struct fctx {
    const json_t *fields;
    const char **names;      /* of fields 0..n-1, once all are checked */
    size_t n;
    size_t i;                /* the field being compiled, for messages */
    int named;               /* names[i] is valid */
    struct fmd_err *err;
    json_t *props, *required, *all_of;
};

/* FMD_EUNPROC with "field N ('name'): " and the message. */
static int ferr(struct fctx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ferr(struct fctx *f, const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (f->named)
        return fmd_errf(f->err, FMD_EUNPROC, "field %zu ('%s'): %s", f->i + 1, f->names[f->i], msg);
    return fmd_errf(f->err, FMD_EUNPROC, "field %zu: %s", f->i + 1, msg);
}

/* A string member quoted in a message, shortened. */
static const char *quote(char dst[72], const char *s)
{
    return schema__excerpt(dst, s, strlen(s), 64);
}

/* ---- building JSON: each helper takes its arguments and NULL propagates ---- */

/* obj with obj[key] = val; on failure NULL, obj and val released. */
static json_t *with(json_t *obj, const char *key, json_t *val)
{
    if (json_object_set_new(obj, key, val) == 0)   /* takes val even on failure */
        return obj;
    json_decref(obj);
    return NULL;
}

/* arr with val appended; on failure NULL, arr and val released. */
static json_t *plus(json_t *arr, json_t *val)
{
    if (json_array_append_new(arr, val) == 0)
        return arr;
    json_decref(arr);
    return NULL;
}

/* {"required": [name]} */
static json_t *required_of(const char *name)
{
    return with(json_object(), "required", plus(json_array(), json_string(name)));
}

/* {"properties": {F: {"const": V}}, "required": [F]} for {"field": F, "equals": V}. */
static json_t *condition(const json_t *cond)
{
    const char *field = json_string_value(json_object_get(cond, "field"));
    json_t *is = with(json_object(), "const", json_deep_copy(json_object_get(cond, "equals")));

    return with(with(json_object(), "properties", with(json_object(), field, is)), "required",
                plus(json_array(), json_string(field)));
}

/* {"if": cond, "then": then} appended to allOf. */
static int add_rule(struct fctx *f, json_t *cond, json_t *then)
{
    json_t *rule = with(with(json_object(), "if", cond), "then", then);

    f->all_of = plus(f->all_of, rule);
    return f->all_of ? 0 : FMD_ENOMEM;
}

/* ---- checking the members of one field ---- */

static int valid_name(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > 64 || !(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') ||
                              (s[0] >= 'a' && s[0] <= 'z')))
        return 0;
    for (i = 1; i < n; i++)
        if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

/* Pass 1: every field an object with a valid name not used before. */
static int collect_names(struct fctx *f)
{
    size_t j;

    for (f->i = 0; f->i < f->n; f->i++) {
        const json_t *fd = json_array_get(f->fields, f->i);
        const json_t *name = json_object_get(fd, "name");
        if (!json_is_object(fd))
            return ferr(f, "must be an object");
        if (!name)
            return ferr(f, "'name' is missing");
        if (!json_is_string(name) || json_string_length(name) != strlen(json_string_value(name)))
            return ferr(f, "'name' must be a string");
        if (!valid_name(json_string_value(name)))
            return ferr(f, "'name' must match ^[A-Za-z_][A-Za-z0-9_]{0,63}$");
        f->names[f->i] = json_string_value(name);
        f->named = 1;
        for (j = 0; j < f->i; j++)
            if (strcmp(f->names[j], f->names[f->i]) == 0)
                return ferr(f, "the name is already used by field %zu", j + 1);
        f->named = 0;
    }
    return 0;
}

static int find_type(struct fctx *f, const json_t *fd, const struct ftype **out)
{
    const json_t *t = json_object_get(fd, "type");
    char q[72];
    size_t i;

    if (!t)
        return ferr(f, "'type' is missing");
    if (!json_is_string(t))
        return ferr(f, "'type' must be a string");
    for (i = 0; i < sizeof(ftypes) / sizeof(ftypes[0]); i++)
        if (strcmp(json_string_value(t), ftypes[i].name) == 0) {
            *out = &ftypes[i];
            return 0;
        }
    return ferr(f, "unknown type '%s'", quote(q, json_string_value(t)));
}

/* Every member known and taken by the field's type. */
static int check_members(struct fctx *f, const json_t *fd, const struct ftype *t)
{
    const char *key;
    json_t *v;
    char q[72];
    size_t i, n = sizeof(fmembers) / sizeof(fmembers[0]);

    json_object_foreach((json_t *)fd, key, v) {   /* the iterator only reads */
        for (i = 0; i < n && strcmp(key, fmembers[i].name) != 0; i++)
            ;
        if (i == n)
            return ferr(f, "unknown member '%s'", quote(q, key));
        if (fmembers[i].needs & ~t->members)
            return ferr(f, "'%s' does not apply to type '%s'", key, t->name);
    }
    return 0;
}

/* A string member, or NULL if absent. */
static int get_string(struct fctx *f, const json_t *fd, const char *key, const json_t **out)
{
    *out = json_object_get(fd, key);
    return !*out || json_is_string(*out) ? 0 : ferr(f, "'%s' must be a string", key);
}

/* A number member (integer_only: without a fraction), or NULL if absent. */
static int get_number(struct fctx *f, const json_t *fd, const char *key, int integer_only,
                      const json_t **out)
{
    *out = json_object_get(fd, key);
    if (!*out)
        return 0;
    if (integer_only && !schema__is_integral(*out))
        return ferr(f, "'%s' must be an integer", key);
    return json_is_number(*out) ? 0 : ferr(f, "'%s' must be a number", key);
}

/* A non-negative integer member, or -1 if absent. */
static int get_count(struct fctx *f, const json_t *fd, const char *key, json_int_t *out)
{
    const json_t *v = json_object_get(fd, key);

    *out = -1;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return ferr(f, "'%s' must be a non-negative integer", key);
    *out = json_integer_value(v);
    return 0;
}

/* lo <= hi for counts, hi_default (-1: none) standing in for an absent hi. */
static int check_order(struct fctx *f, const char *lo_key, json_int_t lo, const char *hi_key,
                       json_int_t hi, json_int_t hi_default)
{
    if (lo < 0)
        return 0;
    if (hi >= 0 && lo > hi)
        return ferr(f, "'%s' must not be greater than '%s'", lo_key, hi_key);
    if (hi < 0 && hi_default >= 0 && lo > hi_default)
        return ferr(f, "'%s' must not be greater than '%s' (%" JSON_INTEGER_FORMAT
                    " by default)", lo_key, hi_key, hi_default);
    return 0;
}

static int read_range(struct fctx *f, const json_t *fd, struct spec *sp)
{
    int rating = sp->type->kind == FT_RATING;
    double lo, hi;
    int rc;

    if ((rc = get_number(f, fd, "min", rating, &sp->min)) ||
        (rc = get_number(f, fd, "max", rating, &sp->max)))
        return rc;
    if (sp->min && sp->max && schema__num_cmp(sp->min, sp->max) > 0)
        return ferr(f, "'min' must not be greater than 'max'");
    if (!rating || (sp->min && sp->max))
        return 0;
    /* A rating's unset bound is its default, 1..5. */
    lo = sp->min ? json_number_value(sp->min) : 1;
    hi = sp->max ? json_number_value(sp->max) : 5;
    if (lo > hi)
        return ferr(f, "%s", sp->min ? "'min' must not be greater than 'max' (5 by default)"
                                     : "'max' must not be less than 'min' (1 by default)");
    return 0;
}

static int read_pattern(struct fctx *f, const json_t *fd, struct spec *sp)
{
    struct fmd_err why = {0};
    int rc = get_string(f, fd, "pattern", &sp->pattern);

    if (rc || !sp->pattern)
        return rc;
    rc = schema__pattern_check(json_string_value(sp->pattern), json_string_length(sp->pattern),
                               &why);
    if (rc == FMD_EUNPROC)
        return ferr(f, "'pattern' does not compile: %s", why.msg);
    return rc;
}

static int read_options(struct fctx *f, const json_t *fd, struct spec *sp)
{
    const json_t *o = json_object_get(fd, "options");
    size_t i, j, n = json_array_size(o);

    sp->options = o;
    if (!o || !json_is_array(o) || n == 0)
        return ferr(f, "'options' must be a non-empty array");
    if (n > MAX_OPTIONS)
        return ferr(f, "'options' has more than %d entries", MAX_OPTIONS);
    for (i = 0; i < n; i++) {
        const json_t *v = json_array_get(o, i);
        if (!json_is_string(v) && !json_is_number(v))
            return ferr(f, "option %zu must be a string or a number", i + 1);
        for (j = 0; j < i; j++)
            if (schema__json_equal(v, json_array_get(o, j)))
                return ferr(f, "option %zu repeats option %zu", i + 1, j + 1);
    }
    return 0;
}

/* A condition member: {"field": another field's name, "equals": any value}. */
static int read_condition(struct fctx *f, const json_t *fd, const char *key, const json_t **out)
{
    const json_t *c = json_object_get(fd, key), *field;
    char q[72];
    size_t j;

    *out = c;
    if (!c)
        return 0;
    field = json_object_get(c, "field");
    if (!json_is_object(c) || json_object_size(c) != 2 || !field ||
        !json_object_get(c, "equals"))
        return ferr(f, "'%s' must be an object with exactly 'field' and 'equals'", key);
    if (!json_is_string(field) || json_string_length(field) != strlen(json_string_value(field)))
        return ferr(f, "'%s.field' must be a string", key);
    if (strcmp(json_string_value(field), f->names[f->i]) == 0)
        return ferr(f, "'%s' refers to the field itself", key);
    for (j = 0; j < f->n; j++)
        if (strcmp(json_string_value(field), f->names[j]) == 0)
            return 0;
    return ferr(f, "'%s' refers to unknown field '%s'", key, quote(q, json_string_value(field)));
}

/* Checks every member of field fd into *sp. */
static int read_spec(struct fctx *f, const json_t *fd, struct spec *sp)
{
    const struct ftype *t = NULL;
    const json_t *req;
    int rc;

    memset(sp, 0, sizeof(*sp));
    sp->name = f->names[f->i];
    if ((rc = find_type(f, fd, &t)) || (rc = check_members(f, fd, t)))
        return rc;
    sp->type = t;
    req = json_object_get(fd, "required");
    if (req && !json_is_boolean(req))
        return ferr(f, "'required' must be a boolean");
    sp->required = json_is_true(req);
    req = json_object_get(fd, "sensitive");
    if (req && !json_is_boolean(req))
        return ferr(f, "'sensitive' must be a boolean");
    sp->sensitive = json_is_true(req);
    if ((rc = get_string(f, fd, "label", &sp->label)) ||
        (rc = get_string(f, fd, "description", &sp->description)) ||
        (rc = get_count(f, fd, "min_length", &sp->min_length)) ||
        (rc = get_count(f, fd, "max_length", &sp->max_length)) ||
        (rc = get_count(f, fd, "min_items", &sp->min_items)) ||
        (rc = get_count(f, fd, "max_items", &sp->max_items)) ||
        (rc = check_order(f, "min_length", sp->min_length, "max_length", sp->max_length,
                          t->max_length)) ||
        (rc = check_order(f, "min_items", sp->min_items, "max_items", sp->max_items, -1)) ||
        (rc = read_range(f, fd, sp)) ||
        (rc = read_pattern(f, fd, sp)) ||
        (rc = read_condition(f, fd, "required_if", &sp->required_if)) ||
        (rc = read_condition(f, fd, "visible_if", &sp->visible_if)))
        return rc;
    if (t->members & M_OPTIONS) {
        if ((rc = read_options(f, fd, sp)))
            return rc;
        if (sp->min_items > (json_int_t)json_array_size(sp->options))
            return ferr(f, "'min_items' must not be greater than the number of options");
    }
    return 0;
}

/* ---- building one field's schema ---- */

static json_t *with_count(json_t *obj, const char *key, json_int_t n)
{
    return n < 0 ? obj : with(obj, key, json_integer(n));
}

static json_t *with_copy(json_t *obj, const char *key, const json_t *v)
{
    return v ? with(obj, key, json_deep_copy(v)) : obj;
}

static json_t *string_schema(json_t *p, const struct spec *sp)
{
    json_int_t max = sp->max_length >= 0 ? sp->max_length : sp->type->max_length;

    if (sp->type->format)
        p = with(p, "format", json_string(sp->type->format));
    p = with_count(p, "minLength", sp->min_length);
    p = with_count(p, "maxLength", max);
    if (strcmp(sp->type->name, "phone") == 0)
        p = with(p, "pattern", json_string(PHONE_PATTERN));
    return with_copy(p, "pattern", sp->pattern);
}

static json_t *property_schema(const struct spec *sp)
{
    json_t *p = json_object();

    p = with_copy(p, "title", sp->label);
    p = with_copy(p, "description", sp->description);
    if (sp->sensitive)
        p = with(p, "x-sensitive", json_true());
    if (sp->type->json_type)
        p = with(p, "type", json_string(sp->type->json_type));
    switch (sp->type->kind) {
    case FT_STRING:
        return string_schema(p, sp);
    case FT_NUMBER:
        return with_copy(with_copy(p, "minimum", sp->min), "maximum", sp->max);
    case FT_RATING:
        p = sp->min ? with_copy(p, "minimum", sp->min) : with(p, "minimum", json_integer(1));
        return sp->max ? with_copy(p, "maximum", sp->max) : with(p, "maximum", json_integer(5));
    case FT_BOOL:
        return p;
    case FT_SELECT:
        return with_copy(p, "enum", sp->options);
    case FT_MULTI:
        p = with(p, "items", with_copy(json_object(), "enum", sp->options));
        p = with(p, "uniqueItems", json_true());
        return with_count(with_count(p, "minItems", sp->min_items), "maxItems", sp->max_items);
    }
    FMD_BUG("field kind %d", (int)sp->type->kind);
}

/*
 * The field's required-ness and conditions. A required field that also has
 * visible_if is required only while visible: "required": true goes into an
 * allOf entry "if visible then required" instead of the top-level required,
 * which would make the form impossible to submit whenever the field is
 * hidden (a hidden field must be absent). For the same reason required_if on
 * a field with visible_if holds only while the field is visible.
 */
static int add_rules(struct fctx *f, const struct spec *sp)
{
    int rc = 0;

    if (sp->required && !sp->visible_if)
        rc = (f->required = plus(f->required, json_string(sp->name))) ? 0 : FMD_ENOMEM;
    if (!rc && sp->required && sp->visible_if)
        rc = add_rule(f, condition(sp->visible_if), required_of(sp->name));
    if (!rc && sp->required_if && !sp->visible_if)
        rc = add_rule(f, condition(sp->required_if), required_of(sp->name));
    if (!rc && sp->required_if && sp->visible_if)
        rc = add_rule(f, with(json_object(), "allOf",
                              plus(plus(json_array(), condition(sp->required_if)),
                                   condition(sp->visible_if))),
                      required_of(sp->name));
    if (!rc && sp->visible_if)
        rc = add_rule(f, with(json_object(), "not", condition(sp->visible_if)),
                      with(json_object(), "not", required_of(sp->name)));
    return rc;
}

static int compile_field(struct fctx *f, const json_t *fd)
{
    struct spec sp;
    int rc = read_spec(f, fd, &sp);

    if (rc)
        return rc;
    f->props = with(f->props, sp.name, property_schema(&sp));
    if (!f->props)
        return FMD_ENOMEM;
    return add_rules(f, &sp);
}

int fields_compile(const json_t *fields, json_t **schema_out, struct fmd_err *err)
{
    struct fctx f = {.fields = fields, .err = err};
    json_t *schema = NULL;
    int rc = 0;

    *schema_out = NULL;
    f.n = json_array_size(fields);
    if (!json_is_array(fields))
        rc = fmd_errf(err, FMD_EUNPROC, "'fields' must be an array");
    else if (f.n == 0)
        rc = fmd_errf(err, FMD_EUNPROC, "'fields' must not be empty");
    else if (f.n > FIELDS_MAX)
        rc = fmd_errf(err, FMD_EUNPROC, "'fields' has more than %d fields", FIELDS_MAX);
    if (rc)
        goto out;
    f.names = fmd_calloc(f.n, sizeof(*f.names));
    f.props = json_object();
    f.required = json_array();
    f.all_of = json_array();
    if (!f.names || !f.props || !f.required || !f.all_of) {
        rc = FMD_ENOMEM;
        goto out;
    }
    if ((rc = collect_names(&f)))
        goto out;
    for (f.i = 0, f.named = 1; !rc && f.i < f.n; f.i++)
        rc = compile_field(&f, json_array_get(fields, f.i));
    if (rc)
        goto out;
    schema = with(json_object(), "$schema", json_string(SCHEMA_URI));
    schema = with(schema, "type", json_string("object"));
    schema = with(schema, "properties", f.props);
    schema = with(schema, "required", f.required);
    schema = with(schema, "additionalProperties", json_false());
    f.props = f.required = NULL;   /* taken by with(), even when it failed */
    if (json_array_size(f.all_of)) {
        schema = with(schema, "allOf", f.all_of);
        f.all_of = NULL;
    }
    if (!schema)
        rc = FMD_ENOMEM;
out:
    if (rc == FMD_ENOMEM)
        fmd_errf(err, FMD_ENOMEM, "out of memory");
    fmd_free(f.names);
    json_decref(f.props);
    json_decref(f.required);
    json_decref(f.all_of);
    if (!rc)
        *schema_out = schema;
    return rc;
}
