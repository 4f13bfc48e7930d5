/* json.c - bounded JSON parsing and encoding helpers. */
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/banned.h"

const struct json_limits json_default_limits = {.max_depth = 32, .max_members = 10000};

int json_check_limits(const char *s, size_t n, const struct json_limits *lim,
                      struct fmd_err *err)
{
    size_t i, depth = 0, members = 0;
    int in_str = 0, esc = 0, pending = 0;  /* pending: a value began since the last , */

    for (i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        switch (c) {
        case '"':
            in_str = 1;
            pending = 1;
            break;
        case '[': case '{':
            if (++depth > lim->max_depth)
                return fmd_errf(err, FMD_EINVAL,
                                "JSON nesting deeper than %zu levels at byte %zu",
                                lim->max_depth, i);
            pending = 0;
            break;
        case ']': case '}':
            if (depth)
                depth--;
            members += pending;
            pending = 1;
            break;
        case ',':
            members++;
            pending = 0;
            break;
        case ' ': case '\t': case '\r': case '\n': case ':':
            break;
        default:
            pending = 1;
        }
        if (members > lim->max_members)
            return fmd_errf(err, FMD_EINVAL, "JSON has more than %zu members",
                            lim->max_members);
    }
    return 0;
}

int json_parse(const char *s, size_t n, const struct json_limits *lim,
               json_t **out, struct fmd_err *err)
{
    json_error_t je;
    int rc;

    *out = NULL;
    if (!lim)
        lim = &json_default_limits;
    if (n == 0)
        return fmd_errf(err, FMD_EINVAL, "request body is empty, expected JSON");
    rc = json_check_limits(s, n, lim, err);
    if (rc)
        return rc;
    *out = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!*out) {
        /* Jansson quotes the text "near" the error: it may be a password. */
        char *near = strstr(je.text, " near '");
        if (near)
            *near = '\0';
        return fmd_errf(err, FMD_EINVAL, "malformed JSON at line %d column %d: %s",
                        je.line, je.column, je.text);
    }
    return 0;
}

/* Deeper than anything json_parse lets in, and than formd builds itself. */
#define ENCODE_MAX_DEPTH 1024

/*
 * A real in the shortest form that reads back as the same double (what the
 * client sent, for any number it sent): Jansson's own encoder prints 17
 * digits, so 0.2 became 0.20000000000000001 and 19.99 became
 * 19.989999999999998. Like Jansson, a real always looks like one (1.0).
 */
static int append_real(struct buf *b, double d)
{
    char num[40];
    int prec, n = 0;

    for (prec = 15; prec <= 17; prec++) {
        n = snprintf(num, sizeof(num), "%.*g", prec, d);
        if (strtod(num, NULL) == d)
            break;
    }
    if (n <= 0 || (size_t)n >= sizeof(num))
        return FMD_EINVAL;
    if (!strpbrk(num, ".eE") && (size_t)n + 2 < sizeof(num))
        memcpy(num + n, ".0", 3);
    return buf_adds(b, num);
}

static int append_value(struct buf *b, const json_t *v, int depth)
{
    const char *key;
    size_t i, len;
    json_t *m;
    int rc = 0;

    if (depth > ENCODE_MAX_DEPTH)
        return FMD_ETOOBIG;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        rc = buf_addc(b, '{');
        i = 0;
        json_object_keylen_foreach((json_t *)v, key, len, m) {
            if (rc)
                break;
            rc = (i++ && buf_addc(b, ',')) || buf_addc(b, '"') || buf_add_json_str(b, key, len) ||
                 buf_add(b, "\":", 2) ? FMD_ETOOBIG : append_value(b, m, depth + 1);
        }
        return rc ? rc : buf_addc(b, '}');
    case JSON_ARRAY:
        rc = buf_addc(b, '[');
        for (i = 0; !rc && i < json_array_size(v); i++)
            rc = i && buf_addc(b, ',') ? FMD_ETOOBIG
               : append_value(b, json_array_get(v, i), depth + 1);
        return rc ? rc : buf_addc(b, ']');
    case JSON_STRING:
        return buf_addc(b, '"') || buf_add_json_str(b, json_string_value(v), json_string_length(v))
            || buf_addc(b, '"') ? FMD_ETOOBIG : 0;
    case JSON_INTEGER:
        return buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return append_real(b, json_real_value(v));
    case JSON_TRUE:
        return buf_add(b, "true", 4);
    case JSON_FALSE:
        return buf_add(b, "false", 5);
    case JSON_NULL:
        return buf_add(b, "null", 4);
    }
    return FMD_EINVAL;
}

int json_append(struct buf *b, const json_t *v)
{
    size_t old = b->len;

    if (!v || append_value(b, v, 0)) {
        b->len = old;
        b->p[old] = '\0';
        return FMD_ETOOBIG;
    }
    return 0;
}

char *json_encode(const json_t *v)
{
    struct buf b;
    buf_init(&b, (size_t)1 << 30);
    if (json_append(&b, v)) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

const char *json_get_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}
