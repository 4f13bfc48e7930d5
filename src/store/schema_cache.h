/*
 * schema_cache.h - compiled schemas of form versions, compiled once.
 *
 * Published versions never change, so an entry is never stale: it lives
 * until the process ends (or schema_cache_clear). The cache holds at most
 * SCHEMA_CACHE_MAX entries; past that, schemas are compiled per request and
 * the caller frees them, so a flood of forms costs time, not memory.
 */
#ifndef FMD_STORE_SCHEMA_CACHE_H
#define FMD_STORE_SCHEMA_CACHE_H

#include <stdint.h>

#include "db/db.h"
#include "schema/validate.h"

#define SCHEMA_CACHE_MAX 4096

/* What a version's settings ask of each new submission (schema_cache_get's settings). */
#define SCHEMA_FLAG_AUTO_CLASSIFY 0x1u   /* settings.ai.classify.auto is true */

struct schema_settings {
    unsigned flags;               /* SCHEMA_FLAG_* */
    int64_t quota_per_minute;     /* 0: none */
    int64_t quota_per_day;        /* 0: none */
    int64_t min_fill_seconds;     /* 0: none */
    char honeypot[65];            /* "": none */
};

/*
 * The compiled schema of (form_id, version), read from db on a miss. *owned
 * is set when the caller must schema_free(*out) (cache full), else NULL.
 * settings (may be NULL) gets what the version's settings ask of a new
 * submission: they are as immutable as its schema, so the submission path
 * learns them without a query.
 */
int schema_cache_get(struct db *db, const char *form_id, int version,
                     const struct schema **out, struct schema **owned,
                     struct schema_settings *settings, struct fmd_err *err);
/* Frees every entry (tests, shutdown). */
void schema_cache_clear(void);

#endif
