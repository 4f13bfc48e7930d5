/* json.c - bounded JSON parsing and encoding helpers. */
#include "core/json.h"

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
    if (!*out)
        return fmd_errf(err, FMD_EINVAL, "malformed JSON at line %d column %d: %s",
                        je.line, je.column, je.text);
    return 0;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return buf_add(data, buffer, size) ? -1 : 0;
}

int json_append(struct buf *b, const json_t *v)
{
    size_t old = b->len;
    if (json_dump_callback(v, dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY) != 0) {
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
