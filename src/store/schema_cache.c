/* schema_cache.c - an open-addressing map (form id, version) -> compiled schema. */
#include "store/schema_cache.h"

#include <pthread.h>
#include <string.h>

#include "core/json.h"
#include "core/mem.h"
#include "store/forms.h"
#include "core/banned.h"

#define SLOTS (SCHEMA_CACHE_MAX * 2)   /* a power of two, at most half full */

struct entry {
    char form_id[ID_LEN + 1];
    int version;
    struct schema_settings settings;
    struct schema *schema;
};

static struct entry slots[SLOTS];
static int count;
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;

static unsigned hash(const char *form_id, int version)
{
    unsigned h = 2166136261u;
    for (; *form_id; form_id++)
        h = (h ^ (unsigned char)*form_id) * 16777619u;
    return (h ^ (unsigned)version) * 16777619u;
}

/* The slot holding the key, or the empty slot where it would go. */
static struct entry *probe(const char *form_id, int version)
{
    unsigned i = hash(form_id, version) & (SLOTS - 1);
    while (slots[i].schema &&
           (slots[i].version != version || strcmp(slots[i].form_id, form_id)))
        i = (i + 1) & (SLOTS - 1);
    return &slots[i];
}

/* A positive integer member of settings, else 0. */
static int64_t positive(const json_t *settings, const char *name)
{
    const json_t *v = json_object_get(settings, name);
    return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

/* What a version's settings ask of a new submission. */
static int read_flags(struct db *db, const char *form_id, int version,
                      struct schema_settings *out, struct fmd_err *err)
{
    char *text = NULL;
    json_t *doc;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = store_form_settings(db, form_id, version, &text, err)))
        return rc;
    doc = json_loads(text ? text : "{}", 0, NULL);
    fmd_free(text);
    if (json_is_true(json_object_get(json_object_get(json_object_get(doc, "ai"), "classify"),
                                     "auto")))
        out->flags |= SCHEMA_FLAG_AUTO_CLASSIFY;
    out->quota_per_minute = positive(doc, "quota_per_minute");
    out->quota_per_day = positive(doc, "quota_per_day");
    out->min_fill_seconds = positive(doc, "min_fill_seconds");
    if (json_is_string(json_object_get(doc, "honeypot")))
        fmd_strlcpy(out->honeypot, json_string_value(json_object_get(doc, "honeypot")),
                    sizeof(out->honeypot));
    json_decref(doc);
    return 0;
}

static int compile_version(struct db *db, const char *form_id, int version,
                           struct schema **out, struct schema_settings *flags,
                           struct fmd_err *err)
{
    char *text = NULL;
    json_t *doc = NULL;
    int rc;

    if ((rc = read_flags(db, form_id, version, flags, err)) ||
        (rc = store_form_schema(db, form_id, version, &text, err)))
        return rc;
    doc = json_loads(text, JSON_DECODE_ANY, NULL);
    fmd_free(text);
    if (!doc)
        return fmd_errf(err, FMD_EINTERNAL, "stored schema of form '%s' is not JSON", form_id);
    rc = schema_compile(doc, out, err);
    json_decref(doc);
    return rc;
}

int schema_cache_get(struct db *db, const char *form_id, int version,
                     const struct schema **out, struct schema **owned,
                     struct schema_settings *flags, struct fmd_err *err)
{
    struct schema *s;
    struct entry *e;
    struct schema_settings f;
    int rc;

    *owned = NULL;
    pthread_rwlock_rdlock(&lock);
    e = probe(form_id, version);
    *out = e->schema;
    f = e->settings;
    pthread_rwlock_unlock(&lock);
    if (*out) {
        if (flags)
            *flags = f;
        return 0;
    }
    if ((rc = compile_version(db, form_id, version, &s, &f, err)))
        return rc;
    if (flags)
        *flags = f;
    pthread_rwlock_wrlock(&lock);
    e = probe(form_id, version);
    if (e->schema) {                       /* another thread won the race */
        *out = e->schema;
        *owned = s;
    } else if (count < SCHEMA_CACHE_MAX) {
        fmd_strlcpy(e->form_id, form_id, sizeof(e->form_id));
        e->version = version;
        e->settings = f;
        e->schema = s;
        count++;
        *out = s;
    } else {
        *out = *owned = s;
    }
    pthread_rwlock_unlock(&lock);
    return 0;
}

void schema_cache_clear(void)
{
    int i;
    pthread_rwlock_wrlock(&lock);
    for (i = 0; i < SLOTS; i++) {
        schema_free(slots[i].schema);
        slots[i].schema = NULL;
    }
    count = 0;
    pthread_rwlock_unlock(&lock);
}
