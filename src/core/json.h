/*
 * json.h - JSON helpers on Jansson.
 *
 * json_parse is the only way outside JSON enters formd: it checks nesting
 * depth and member count with a cheap scan before Jansson builds anything,
 * rejects duplicate keys, NUL in strings and invalid UTF-8, and reports the
 * position of the first error.
 */
#ifndef FMD_CORE_JSON_H
#define FMD_CORE_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

struct json_limits {
    size_t max_depth;     /* arrays and objects nested deeper: FMD_EINVAL */
    size_t max_members;   /* array elements plus object members, in all */
};

extern const struct json_limits json_default_limits;

/* Parses s[0..n) into *out (caller decrefs). 0 or FMD_EINVAL with detail. */
int json_parse(const char *s, size_t n, const struct json_limits *lim,
               json_t **out, struct fmd_err *err);
/* Checks only the limits; used by json_parse and the fuzz target. */
int json_check_limits(const char *s, size_t n, const struct json_limits *lim,
                      struct fmd_err *err);

/*
 * Appends the compact encoding of v to b: members in their order, strings as
 * UTF-8 with control characters escaped, reals in the shortest form that
 * reads back as the same double (0.2, not 0.20000000000000001). 0, or
 * FMD_ETOOBIG (b's limit, or nesting beyond 1024) with b unchanged.
 */
int json_append(struct buf *b, const json_t *v);
/* Compact encoding as a heap string (fmd_free), NULL on failure. */
char *json_encode(const json_t *v);

/* Object member as a string, or NULL if absent or not a string. */
const char *json_get_str(const json_t *obj, const char *key);

#endif
