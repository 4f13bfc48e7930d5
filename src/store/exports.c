/*
 * exports.c - the exports table (see exports.h).
 */
#include "store/exports.h"

#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/mem.h"
#include "db/rows.h"
#include "core/banned.h"

int store_export_insert(struct db *db, const struct store_export *e, const char *created_by,
                        struct fmd_err *err)
{
    struct db_stmt *st;
    char *opts = e->options ? json_encode(e->options) : fmd_strdup("{}");
    int rc;

    if (!opts)
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    rc = db_prepare(db,
                    "INSERT INTO exports (id, form_id, project_id, format, options, task_id, "
                    "state, created_by, created_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)",
                    &st, err);
    if (!rc) {
        db_bind_text(st, 1, e->id);
        db_bind_text(st, 2, e->form_id);
        db_bind_text(st, 3, e->project_id);
        db_bind_text(st, 4, e->format);
        db_bind_text(st, 5, opts);
        db_bind_text(st, 6, e->task_id);
        if (created_by)
            db_bind_text(st, 7, created_by);
        else
            db_bind_null(st, 7);
        db_bind_int(st, 8, e->created_at ? e->created_at : clock_wall_ms());
        rc = rows_exec(st, err);
    }
    fmd_free(opts);
    return rc;
}

int store_export_get(struct db *db, const char *id, struct store_export *e, struct fmd_err *err)
{
    struct db_stmt *st;
    json_error_t je;
    const char *opts;
    int rc = db_prepare(db,
                        "SELECT id, form_id, project_id, task_id, format, state, file, options, "
                        "created_at, expires_at FROM exports WHERE id = $1",
                        &st, err);
    if (rc)
        return rc;
    memset(e, 0, sizeof(*e));
    db_bind_text(st, 1, id);
    rc = db_step(st, err);
    if (rc == 1) {
        fmd_strlcpy(e->id, db_col_text(st, 0), sizeof(e->id));
        fmd_strlcpy(e->form_id, db_col_text(st, 1), sizeof(e->form_id));
        fmd_strlcpy(e->project_id, db_col_text(st, 2), sizeof(e->project_id));
        fmd_strlcpy(e->task_id, db_col_text(st, 3), sizeof(e->task_id));
        fmd_strlcpy(e->format, db_col_text(st, 4), sizeof(e->format));
        fmd_strlcpy(e->state, db_col_text(st, 5), sizeof(e->state));
        if (db_col_text(st, 6))
            fmd_strlcpy(e->file, db_col_text(st, 6), sizeof(e->file));
        opts = db_col_text(st, 7);
        e->options = opts ? json_loads(opts, 0, &je) : NULL;
        e->created_at = db_col_int(st, 8);
        e->expires_at = db_col_null(st, 9) ? 0 : db_col_int(st, 9);
        rc = e->options ? 0 : fmd_errf(err, FMD_EDB, "export '%s' has unreadable options", id);
    } else if (rc == 0) {
        rc = fmd_errf(err, FMD_ENOTFOUND, "no such export");
    }
    db_done(st);
    return rc;
}

/* The task's progress as the API shows it: 1 once ready, null before any. */
static json_t *progress_of(struct db_stmt *st, const char *state)
{
    if (!strcmp(state, "ready"))
        return json_real(1.0);
    return db_col_null(st, 12) ? json_null() : json_real(db_col_double(st, 12));
}

int store_export_json(struct db *db, const char *id, json_t **out, struct fmd_err *err)
{
    struct db_stmt *st;
    const char *state;
    int rc = db_prepare(db,
                        "SELECT e.id, e.form_id, e.format, e.state, e.task_id, e.rows, e.bytes, "
                        "e.error, e.created_at, e.finished_at, e.expires_at, e.options, "
                        "t.progress FROM exports e LEFT JOIN tasks t ON t.id = e.task_id "
                        "WHERE e.id = $1",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    rc = db_step(st, err);
    if (rc == 1) {
        state = db_col_text(st, 3);
        *out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                         "id", db_col_text(st, 0), "form_id", db_col_text(st, 1),
                         "format", db_col_text(st, 2), "state", state,
                         "task_id", db_col_text(st, 4),
                         "rows", db_col_null(st, 5) ? json_null() : json_integer(db_col_int(st, 5)),
                         "bytes", db_col_null(st, 6) ? json_null() : json_integer(db_col_int(st, 6)),
                         "error", rows_str_or_null(st, 7),
                         "created_at", rows_time(db_col_int(st, 8)),
                         "finished_at", rows_time_or_null(st, 9),
                         "expires_at", rows_time_or_null(st, 10),
                         "options", rows_json(st, 11),
                         "progress", progress_of(st, state));
        rc = *out ? 0 : fmd_errf(err, FMD_ENOMEM, "out of memory");
    } else if (rc == 0) {
        rc = fmd_errf(err, FMD_ENOTFOUND, "no such export");
    }
    db_done(st);
    return rc;
}

/* Runs st (bound) and answers FMD_ENOTFOUND when it changed no row. */
static int change_one(struct db *db, struct db_stmt *st, const char *what, struct fmd_err *err)
{
    int rc = rows_exec(st, err);
    if (!rc && db_changes(db) == 0)
        rc = fmd_errf(err, FMD_ENOTFOUND, "no %s export", what);
    return rc;
}

int store_export_ready(struct db *db, const char *id, const char *file, int64_t rows,
                       int64_t bytes, int64_t expires_at, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE exports SET state = 'ready', file = $2, rows = $3, bytes = $4, "
                        "finished_at = $5, expires_at = $6 WHERE id = $1 AND state = 'pending'",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, file);
    db_bind_int(st, 3, rows);
    db_bind_int(st, 4, bytes);
    db_bind_int(st, 5, clock_wall_ms());
    db_bind_int(st, 6, expires_at);
    return change_one(db, st, "pending", err);
}

int store_export_failed(struct db *db, const char *id, const char *error, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE exports SET state = 'failed', error = $2, finished_at = $3 "
                        "WHERE id = $1 AND state = 'pending'",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, error);
    db_bind_int(st, 3, clock_wall_ms());
    return change_one(db, st, "pending", err);
}

int store_exports_expired(struct db *db, int64_t now, int limit,
                          int (*fn)(void *arg, const char *id, const char *file), void *arg,
                          struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT id, file FROM exports WHERE state = 'ready' AND expires_at < $1 "
                        "ORDER BY expires_at LIMIT $2",
                        &st, err);
    if (rc)
        return rc;
    db_bind_int(st, 1, now);
    db_bind_int(st, 2, limit);
    while ((rc = db_step(st, err)) == 1)
        if ((rc = fn(arg, db_col_text(st, 0), db_col_text(st, 1) ? db_col_text(st, 1) : "")))
            break;
    db_done(st);
    return rc;
}

int store_export_expire(struct db *db, const char *id, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE exports SET state = 'expired', file = NULL "
                        "WHERE id = $1 AND state = 'ready'",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    return rows_exec(st, err);
}
