/*
 * fuzz_json.c - request-body parsing: json_parse (src/core/json.c), the one
 * function http_body_json and every other reader of outside JSON call, with
 * its limit scan and Jansson behind it, then json_append.
 *
 * Each input is parsed twice: with the server's default limits (depth 32,
 * 10000 members: --max-json-depth / --max-json-members) and with the
 * smallest a configuration allows (depth 2, 16 members). Checks:
 *   - a value comes back, or FMD_EINVAL with a message;
 *   - an accepted value is within the limits, measured on the value itself,
 *     and a value within the small limits is accepted by them too (the scan
 *     counts exactly, neither more nor less);
 *   - no string or key holds a NUL, every string is valid UTF-8 (Jansson's
 *     promise without JSON_ALLOW_NUL), no object has a key twice;
 *   - the encoding parses back to an equal value and encodes the same.
 * Seeds: corpus/fuzz_json/; dictionary: fuzz_json.dict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/mem.h"
#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Depth (a scalar is 0) and members of v, after checking its strings. */
static size_t measure(const json_t *v, size_t *members)
{
    const char *key;
    size_t i, deepest = 0, d;
    json_t *m;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, key, m) {
            if (!utf8_valid_prefix(key, strlen(key)))
                abort();
            ++*members;
            if ((d = measure(m, members)) > deepest)
                deepest = d;
        }
        return deepest + 1;
    case JSON_ARRAY:
        for (i = 0; i < json_array_size(v); i++) {
            ++*members;
            if ((d = measure(json_array_get(v, i), members)) > deepest)
                deepest = d;
        }
        return deepest + 1;
    case JSON_STRING:
        if (strlen(json_string_value(v)) != json_string_length(v) ||
            !utf8_valid_prefix(json_string_value(v), json_string_length(v)))
            abort();
        return 0;
    default:
        return 0;
    }
}

static void check_round_trip(const json_t *v)
{
    struct fmd_err err = {0};
    char *text = json_encode(v), *again;
    json_t *back = NULL;

    if (!text)
        abort();
    if (json_parse(text, strlen(text), &(struct json_limits){.max_depth = 1000,
                                                               .max_members = 10000000},
                   &back, &err) ||
        !json_equal((json_t *)v, back))
        abort();
    again = json_encode(back);
    if (!again || strcmp(text, again))
        abort();
    fmd_free(again);
    fmd_free(text);
    json_decref(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct json_limits small = {.max_depth = 2, .max_members = 16};
    struct fmd_err err = {0};
    json_t *v = NULL, *w = NULL;
    size_t members = 0, depth;
    int rc, rc_small;

    rc = json_parse((const char *)data, size, &json_default_limits, &v, &err);
    if (rc) {
        if (rc != FMD_EINVAL || v || !err.msg[0])
            abort();
    } else {
        depth = measure(v, &members);
        if (depth > json_default_limits.max_depth || members > json_default_limits.max_members)
            abort();
        check_round_trip(v);
    }
    rc_small = json_parse((const char *)data, size, &small, &w, &(struct fmd_err){0});
    if (!rc_small && (rc || json_equal(v, w) != 1))
        abort();
    if (!rc && (depth <= small.max_depth && members <= small.max_members) != !rc_small)
        abort();
    json_decref(v);
    json_decref(w);
    return 0;
}
