/*
 * registry.c - schema documents by URI, for references outside the document
 * being compiled, and the map of which keywords hold subschemas.
 *
 * A registry is two JSON objects: docs (URI -> a private copy of the
 * document) and ids (the absolute "$id" of every resource a document embeds
 * -> the URI of that document), so that a reference to an embedded resource
 * finds the document to load.
 */
#include "schema/validate.h"

#include <string.h>

#include "core/mem.h"
#include "schema/schema_int.h"
#include "core/banned.h"

#define MAX_DOC_DEPTH 64

struct schema_registry {
    json_t *docs;
    json_t *ids;
};

/* Keywords whose value is a schema, an object of schemas, an array of schemas. */
static const char *const single_kw[] = {
    "additionalProperties", "contains", "else", "if", "items", "not", "propertyNames", "then",
    "unevaluatedItems", "unevaluatedProperties",
};
static const char *const map_kw[] = {"$defs", "dependentSchemas", "patternProperties",
                                     "properties"};
static const char *const list_kw[] = {"allOf", "anyOf", "oneOf", "prefixItems"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

int schema__for_each_sub(const json_t *node, schema__sub_fn *fn, void *arg)
{
    const json_t *v;
    const char *key;
    size_t i, len;
    json_t *sub;
    int rc;

    for (i = 0; i < NELEM(single_kw); i++)
        if ((v = json_object_get(node, single_kw[i])) &&
            (rc = fn(arg, single_kw[i], NULL, 0, -1, v)))
            return rc;
    for (i = 0; i < NELEM(map_kw); i++) {
        if (!json_is_object(v = json_object_get(node, map_kw[i])))
            continue;
        json_object_keylen_foreach((json_t *)v, key, len, sub)
            if ((rc = fn(arg, map_kw[i], key, len, -1, sub)))
                return rc;
    }
    for (i = 0; i < NELEM(list_kw); i++) {
        size_t j;
        v = json_object_get(node, list_kw[i]);
        for (j = 0; j < json_array_size(v); j++)
            if ((rc = fn(arg, list_kw[i], NULL, 0, (long)j, json_array_get(v, j))))
                return rc;
    }
    return 0;
}

int schema_registry_new(struct schema_registry **out)
{
    struct schema_registry *r = fmd_calloc(1, sizeof(*r));

    *out = NULL;
    if (!r || !(r->docs = json_object()) || !(r->ids = json_object())) {
        schema_registry_free(r);
        return FMD_ENOMEM;
    }
    *out = r;
    return 0;
}

void schema_registry_free(struct schema_registry *reg)
{
    if (!reg)
        return;
    json_decref(reg->docs);
    json_decref(reg->ids);
    fmd_free(reg);
}

struct idwalk {
    struct schema_registry *reg;
    const char *doc_uri;
    const char *base;
    int depth;
};

static int collect_ids(struct idwalk *w, const json_t *node);

static int collect_sub(void *arg, const char *kw, const char *key, size_t keylen, long idx,
                       const json_t *sub)
{
    return collect_ids(arg, sub);
}

/* Records the "$id" of node and of every resource below it in w->reg->ids. */
static int collect_ids(struct idwalk *w, const json_t *node)
{
    const json_t *id = json_object_get(node, "$id");
    const char *saved = w->base;
    char *abs = NULL;
    int rc = 0;

    if (!json_is_object(node) || w->depth > MAX_DOC_DEPTH)
        return 0;
    if (json_is_string(id)) {
        rc = schema__uri_resolve(w->base, json_string_value(id), json_string_length(id), &abs);
        if (rc == FMD_ENOMEM)
            return rc;
        if (abs) {
            char *hash = strchr(abs, '#');
            if (hash)
                *hash = '\0';
            if (!json_object_get(w->reg->ids, abs) &&
                json_object_set_new(w->reg->ids, abs, json_string(w->doc_uri))) {
                fmd_free(abs);
                return FMD_ENOMEM;
            }
            w->base = abs;
        }
    }
    w->depth++;
    rc = schema__for_each_sub(node, collect_sub, w);
    w->depth--;
    w->base = saved;
    fmd_free(abs);
    return rc;
}

int schema_registry_add(struct schema_registry *reg, const char *uri, const json_t *doc,
                        struct fmd_err *err)
{
    struct idwalk w = {.reg = reg, .doc_uri = uri, .base = uri};
    json_t *copy;

    if (!uri || !schema__uri_is_absolute(uri) || strchr(uri, '#'))
        return fmd_errf(err, FMD_EUNPROC, "schema URI must be absolute, without a fragment");
    if (!json_is_object(doc) && !json_is_boolean(doc))
        return fmd_errf(err, FMD_EUNPROC, "schema must be an object or a boolean");
    if (json_object_get(reg->docs, uri))
        return fmd_errf(err, FMD_EUNPROC, "schema '%s' is already registered", uri);
    if (!(copy = json_deep_copy(doc)) || json_object_set_new(reg->docs, uri, copy))
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    if (collect_ids(&w, copy)) {
        json_object_del(reg->docs, uri);
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    }
    return 0;
}

const json_t *schema__registry_find(const struct schema_registry *reg, const char *uri,
                                    const char **doc_uri)
{
    const json_t *d, *owner;

    if (!reg)
        return NULL;
    if ((d = json_object_get(reg->docs, uri))) {
        *doc_uri = json_object_iter_key(json_object_iter_at(reg->docs, uri));
        return d;
    }
    owner = json_object_get(reg->ids, uri);
    if (!owner)
        return NULL;
    *doc_uri = json_string_value(owner);
    return json_object_get(reg->docs, *doc_uri);
}
