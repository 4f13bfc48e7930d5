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

#include "db/db.h"
#include "schema/validate.h"

#define SCHEMA_CACHE_MAX 4096

/*
 * The compiled schema of (form_id, version), read from db on a miss. *owned
 * is set when the caller must schema_free(*out) (cache full), else NULL.
 */
int schema_cache_get(struct db *db, const char *form_id, int version,
                     const struct schema **out, struct schema **owned, struct fmd_err *err);
/* Frees every entry (tests, shutdown). */
void schema_cache_clear(void);

#endif
