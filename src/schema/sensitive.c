/*
 * sensitive.c - the "x-sensitive" annotation: which instance locations of a
 * schema hold sensitive values (encrypted at rest, masked for low roles).
 *
 * Supported: "x-sensitive": true on the root's properties and, recursively,
 * on the properties of an object property (only through "properties"), so
 * every location is a plain JSON Pointer of member names ("/ssn",
 * "/contact/phone"). A sensitive property is sealed as one value whatever
 * its type, so an array or object marked sensitive is sealed whole.
 * Anywhere else (inside items, $defs, allOf, if/then, patternProperties...)
 * the location would depend on the instance, so the schema is refused
 * rather than leaving a value in clear that its author meant to protect.
 */
#include "schema/schema_int.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "schema/validate.h"
#include "core/banned.h"

#define SENSITIVE_KW "x-sensitive"

/* Values, not schemas: an "x-sensitive" member there is data. */
static int is_value_keyword(const char *k)
{
    return !strcmp(k, "enum") || !strcmp(k, "const") || !strcmp(k, "default") ||
           !strcmp(k, "examples");
}

/* Shortens b back to n bytes. */
static void cut(struct buf *b, size_t n)
{
    if (b->cap) {
        b->len = n;
        b->p[n] = '\0';
    }
}

struct walk {
    json_t *paths;
    struct fmd_err *err;
};

static int walk(struct walk *w, const json_t *node, int supported, struct buf *where,
                struct buf *inst);

/* Walks node's member values; "properties" keeps the route supported. */
static int walk_members(struct walk *w, const json_t *node, int supported, struct buf *where,
                        struct buf *inst)
{
    const char *k, *pk;
    json_t *v, *pv;
    size_t wl = where->len, il = inst->len;
    int rc = 0;

    json_object_foreach((json_t *)node, k, v) {
        if (is_value_keyword(k) || !strcmp(k, SENSITIVE_KW))
            continue;
        if (schema__push_key(where, k, strlen(k)))
            return fmd_errf(w->err, FMD_ENOMEM, "out of memory");
        if (!strcmp(k, "properties") && json_is_object(v)) {
            json_object_foreach(v, pk, pv) {
                size_t wl2 = where->len;
                if (schema__push_key(where, pk, strlen(pk)) ||
                    schema__push_key(inst, pk, strlen(pk)))
                    return fmd_errf(w->err, FMD_ENOMEM, "out of memory");
                rc = walk(w, pv, supported, where, inst);
                cut(where, wl2);
                cut(inst, il);
                if (rc)
                    return rc;
            }
        } else {
            rc = walk(w, v, 0, where, inst);
        }
        cut(where, wl);
        if (rc)
            return rc;
    }
    return 0;
}

static int walk(struct walk *w, const json_t *node, int supported, struct buf *where,
                struct buf *inst)
{
    const json_t *flag;
    size_t i, wl = where->len;
    int rc;

    if (json_is_array(node)) {
        for (i = 0; i < json_array_size(node); i++) {
            char idx[24];
            snprintf(idx, sizeof(idx), "/%zu", i);
            if (buf_adds(where, idx))
                return fmd_errf(w->err, FMD_ENOMEM, "out of memory");
            rc = walk(w, json_array_get(node, i), 0, where, inst);
            cut(where, wl);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (!json_is_object(node))
        return 0;
    flag = json_object_get(node, SENSITIVE_KW);
    if (flag && !json_is_boolean(flag))
        return fmd_errf(w->err, FMD_EUNPROC, "'x-sensitive' at '%s' must be a boolean",
                        where->p);
    if (json_is_true(flag)) {
        if (!supported || !inst->len)
            return fmd_errf(w->err, FMD_EUNPROC,
                            "'x-sensitive' at '%s' is not supported: mark a property of the "
                            "root or of an object property (through 'properties'); an array "
                            "property marked sensitive is encrypted whole", where->p);
        /* Sealed whole: whatever is marked inside is sealed with it. */
        return json_array_append_new(w->paths, json_string(inst->p))
                   ? fmd_errf(w->err, FMD_ENOMEM, "out of memory") : 0;
    }
    return walk_members(w, node, supported, where, inst);
}

int schema__sensitive_paths(const json_t *doc, json_t **out, struct fmd_err *err)
{
    struct walk w = {.paths = json_array(), .err = err};
    struct buf where, inst;
    int rc;

    *out = NULL;
    buf_init(&where, 1u << 20);
    buf_init(&inst, 1u << 20);
    rc = w.paths ? walk(&w, doc, 1, &where, &inst) : fmd_errf(err, FMD_ENOMEM, "out of memory");
    buf_release(&where);
    buf_release(&inst);
    if (rc || !json_array_size(w.paths))
        json_decref(w.paths);
    else
        *out = w.paths;
    return rc;
}
