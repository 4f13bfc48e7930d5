/*
 * exports.h - exports of a form's submissions, in the database.
 *
 * An export is asked for through the API, made by an "analytics.export"
 * task into <data-dir>/exports/<file>, downloadable until it expires, then
 * its file is removed and the row says so. States:
 *   pending   the task has not finished yet
 *   ready     the file is there (rows, bytes, file, expires_at set)
 *   failed    the task gave up (error set)
 *   expired   the file was removed after expires_at
 * options is the JSON the export was asked with (bom, include_deleted,
 * filters), for the task to read back.
 */
#ifndef FMD_STORE_EXPORTS_H
#define FMD_STORE_EXPORTS_H

#include <jansson.h>
#include <stdint.h>

#include "core/id.h"
#include "db/db.h"

struct store_export {
    char id[ID_LEN + 1];
    char form_id[ID_LEN + 1];
    char project_id[ID_LEN + 1];
    char task_id[ID_LEN + 1];
    char format[16];
    char state[16];
    char file[128];          /* "" until ready */
    json_t *options;         /* owned: json_decref when done */
    int64_t created_at, expires_at;
};

/* Records a new pending export (in the caller's transaction). */
int store_export_insert(struct db *db, const struct store_export *e, const char *created_by,
                        struct fmd_err *err);
/* Loads export id into *e (e->options is the caller's); FMD_ENOTFOUND. */
int store_export_get(struct db *db, const char *id, struct store_export *e,
                     struct fmd_err *err);
/* The export as the API shows it, with its task's state and progress. */
int store_export_json(struct db *db, const char *id, json_t **out, struct fmd_err *err);
/* pending -> ready with its file, counts and expiry. FMD_ENOTFOUND if gone. */
int store_export_ready(struct db *db, const char *id, const char *file, int64_t rows,
                       int64_t bytes, int64_t expires_at, struct fmd_err *err);
/* pending -> failed with error. */
int store_export_failed(struct db *db, const char *id, const char *error, struct fmd_err *err);
/*
 * Calls fn(arg, id, file) for each ready export whose expires_at is before
 * now, oldest first, at most limit of them; fn's nonzero result stops the walk.
 */
int store_exports_expired(struct db *db, int64_t now, int limit,
                          int (*fn)(void *arg, const char *id, const char *file), void *arg,
                          struct fmd_err *err);
/* ready -> expired (the file is gone). */
int store_export_expire(struct db *db, const char *id, struct fmd_err *err);

#endif
