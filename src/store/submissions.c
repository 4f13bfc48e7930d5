/* submissions.c - SQL for submissions and their history. */
#include "store/submissions.h"

#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/mem.h"
#include "db/rows.h"
#include "core/banned.h"

int store_submission_insert(struct db *db, const struct store_submission_new *s,
                            struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "INSERT INTO submissions (id, form_id, form_version, data, "
                        "idempotency_key, body_hash, created_at, updated_at, spam) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, s->id);
    db_bind_text(st, 2, s->form_id);
    db_bind_int(st, 3, s->form_version);
    db_bind_text(st, 4, s->data);
    db_bind_text(st, 5, s->idempotency_key);
    db_bind_text(st, 6, s->body_hash);
    db_bind_int(st, 7, s->created_at);
    db_bind_int(st, 8, s->spam ? 1 : 0);
    return rows_exec(st, err);
}

int store_submission_by_key(struct db *db, const char *form_id, const char *key,
                            char id[ID_LEN + 1], char hash[65], int *version,
                            int64_t *created_at, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT id, body_hash, form_version, created_at FROM submissions "
                        "WHERE form_id = $1 AND idempotency_key = $2",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, form_id);
    db_bind_text(st, 2, key);
    rc = db_step(st, err);
    if (rc == 1) {
        fmd_strlcpy(id, db_col_text(st, 0), ID_LEN + 1);
        fmd_strlcpy(hash, db_col_text(st, 1), 65);
        *version = (int)db_col_int(st, 2);
        *created_at = db_col_int(st, 3);
        rc = 0;
    } else if (rc == 0) {
        rc = FMD_ENOTFOUND;
    }
    db_done(st);
    return rc;
}

#define SUBMISSION_COLUMNS                                                          \
    "SELECT id, form_id, form_version, data, status, reviewed_by, reviewed_at, "    \
    "review_note, revision, created_at, updated_at, deleted_at, spam FROM submissions "

static json_t *submission_row(struct db_stmt *st)
{
    return json_pack("{s:s, s:s, s:I, s:o, s:s, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:b}",
                     "id", db_col_text(st, 0), "form_id", db_col_text(st, 1),
                     "form_version", (json_int_t)db_col_int(st, 2), "data", rows_json(st, 3),
                     "status", db_col_text(st, 4), "reviewed_by", rows_str_or_null(st, 5),
                     "reviewed_at", rows_time_or_null(st, 6), "review_note",
                     rows_str_or_null(st, 7), "revision", (json_int_t)db_col_int(st, 8),
                     "created_at", rows_time(db_col_int(st, 9)), "updated_at",
                     rows_time(db_col_int(st, 10)), "deleted_at", rows_time_or_null(st, 11),
                     "spam", db_col_int(st, 12) != 0);
}

int store_submission_get(struct db *db, const char *id, json_t **out,
                         char form_id[ID_LEN + 1], struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, SUBMISSION_COLUMNS "WHERE id = $1", &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    rc = db_step(st, err);
    if (rc == 1) {
        if (form_id)
            fmd_strlcpy(form_id, db_col_text(st, 1), ID_LEN + 1);
        rc = (*out = submission_row(st)) ? 0 : fmd_errf(err, FMD_ENOMEM, "out of memory");
    } else if (rc == 0) {
        rc = fmd_errf(err, FMD_ENOTFOUND, "no such submission");
    }
    db_done(st);
    return rc;
}

int store_submission_list(struct db *db, const char *form_id,
                          const struct store_submission_filter *f, json_t **page,
                          struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        SUBMISSION_COLUMNS
                        "WHERE form_id = $1 AND (CAST($2 AS TEXT) IS NULL OR id < $2) "
                        "AND (CAST($3 AS TEXT) IS NULL OR status = $3) "
                        "AND (CAST($4 AS BIGINT) IS NULL OR created_at > $4) "
                        "AND (CAST($5 AS BIGINT) IS NULL OR created_at < $5) "
                        "AND ($6 = 1 OR deleted_at IS NULL) "
                        "AND ($8 = 1 OR spam = $9) "
                        "ORDER BY id DESC LIMIT $7",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, form_id);
    db_bind_text(st, 2, f->cursor);
    db_bind_text(st, 3, f->status);
    if (f->has_after)
        db_bind_int(st, 4, f->created_after);
    else
        db_bind_null(st, 4);
    if (f->has_before)
        db_bind_int(st, 5, f->created_before);
    else
        db_bind_null(st, 5);
    db_bind_int(st, 6, f->include_deleted ? 1 : 0);
    db_bind_int(st, 7, f->limit + 1);
    db_bind_int(st, 8, f->spam == SPAM_INCLUDE ? 1 : 0);
    db_bind_int(st, 9, f->spam == SPAM_ONLY ? 1 : 0);
    return rows_page(st, f->limit, submission_row, page, err);
}

int store_submission_owner(struct db *db, const char *id, char form_id[ID_LEN + 1],
                           int *version, int *deleted, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT form_id, form_version, deleted_at IS NOT NULL "
                        "FROM submissions WHERE id = $1",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    rc = db_step(st, err);
    if (rc == 1) {
        fmd_strlcpy(form_id, db_col_text(st, 0), ID_LEN + 1);
        *version = (int)db_col_int(st, 1);
        *deleted = (int)db_col_int(st, 2);
        rc = 0;
    } else if (rc == 0) {
        rc = fmd_errf(err, FMD_ENOTFOUND, "no such submission");
    }
    db_done(st);
    return rc;
}

static int changed_or_missing(struct db *db, struct fmd_err *err)
{
    return db_changes(db) ? 0 : fmd_errf(err, FMD_ENOTFOUND, "no such submission");
}

int store_submission_review(struct db *db, const char *id, const char *status,
                            const char *by, const char *note, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE submissions SET status = COALESCE($2, status), reviewed_by = $3, reviewed_at = $4, "
                        "review_note = COALESCE($5, review_note), updated_at = $4 WHERE id = $1",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, status);
    db_bind_text(st, 3, by);
    db_bind_int(st, 4, clock_wall_ms());
    db_bind_text(st, 5, note);
    return (rc = rows_exec(st, err)) ? rc : changed_or_missing(db, err);
}

int store_submission_edit(struct db *db, const char *id, const char *data, const char *by,
                          struct fmd_err *err)
{
    struct db_stmt *st;
    int64_t now = clock_wall_ms();
    int rc = db_prepare(db,
                        "INSERT INTO submission_history (submission_id, revision, data, "
                        "edited_by, edited_at) SELECT id, revision, data, $2, $3 "
                        "FROM submissions WHERE id = $1",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, by);
    db_bind_int(st, 3, now);
    if ((rc = rows_exec(st, err)))
        return rc;
    if (!db_changes(db))
        return fmd_errf(err, FMD_ENOTFOUND, "no such submission");
    if ((rc = db_prepare(db,
                         "UPDATE submissions SET data = $2, revision = revision + 1, "
                         "updated_at = $3 WHERE id = $1",
                         &st, err)))
        return rc;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, data);
    db_bind_int(st, 3, now);
    return rows_exec(st, err);
}

int store_submission_set_deleted(struct db *db, const char *id, int deleted,
                                 struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE submissions SET deleted_at = CASE WHEN $2 = 1 "
                        "THEN COALESCE(deleted_at, $3) ELSE NULL END, updated_at = $3 "
                        "WHERE id = $1",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_int(st, 2, deleted ? 1 : 0);
    db_bind_int(st, 3, clock_wall_ms());
    return (rc = rows_exec(st, err)) ? rc : changed_or_missing(db, err);
}

int store_submission_is_spam(struct db *db, const char *id, int *spam, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "SELECT spam FROM submissions WHERE id = $1", &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    if ((rc = db_step(st, err)) == 1) {
        *spam = db_col_int(st, 0) != 0;
        rc = 0;
    } else if (rc == 0) {
        rc = fmd_errf(err, FMD_ENOTFOUND, "no such submission");
    }
    db_done(st);
    return rc;
}

int store_submission_set_spam(struct db *db, const char *id, int spam, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "UPDATE submissions SET spam = $2, updated_at = $3 WHERE id = $1",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_int(st, 2, spam ? 1 : 0);
    db_bind_int(st, 3, clock_wall_ms());
    return (rc = rows_exec(st, err)) ? rc : changed_or_missing(db, err);
}

int store_submission_count_since(struct db *db, const char *form_id, int64_t since_ms,
                                 int64_t *count, int64_t *oldest, struct fmd_err *err)
{
    struct db_stmt *st;
    char floor[ID_LEN + 1];
    /*
     * Ids begin with the time they were made, just before created_at, so the
     * rows are a range of the (form_id, id) index, read back a minute early
     * for slack, then filtered on created_at itself. An index on created_at
     * would cost every insert (about 12% on SQLite: bench/scale.sh); this
     * costs only the forms that have a daily quota.
     */
    int rc = db_prepare(db, "SELECT COUNT(*), COALESCE(MIN(created_at), 0) FROM submissions "
                            "WHERE form_id = $1 AND id >= $2 AND created_at > $3", &st, err);
    if (rc)
        return rc;
    id_floor(since_ms - 60 * 1000, floor);
    db_bind_text(st, 1, form_id);
    db_bind_text(st, 2, floor);
    db_bind_int(st, 3, since_ms);
    *count = *oldest = 0;
    if ((rc = db_step(st, err)) == 1) {
        *count = db_col_int(st, 0);
        *oldest = db_col_int(st, 1);
        rc = 0;
    }
    db_done(st);
    return rc;
}

int store_spam_secret(struct db *db, char *out, size_t cap, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "SELECT secret FROM spam_keys WHERE name = 'fill_token'", &st, err);
    if (rc)
        return rc;
    if ((rc = db_step(st, err)) == 1) {
        fmd_strlcpy(out, db_col_text(st, 0), cap);
        rc = 0;
    } else if (rc == 0) {
        rc = fmd_errf(err, FMD_ENOTFOUND, "no fill token secret: run the migrations");
    }
    db_done(st);
    return rc;
}

int store_submission_purge(struct db *db, const char *id, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "DELETE FROM submissions WHERE id = $1", &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    return (rc = rows_exec(st, err)) ? rc : changed_or_missing(db, err);
}

static json_t *history_row(struct db_stmt *st)
{
    return json_pack("{s:I, s:o, s:o, s:o}", "revision", (json_int_t)db_col_int(st, 0),
                     "data", rows_json(st, 1), "edited_by", rows_str_or_null(st, 2),
                     "edited_at", rows_time(db_col_int(st, 3)));
}

int store_submission_history(struct db *db, const char *id, json_t **out,
                             struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT revision, data, edited_by, edited_at FROM submission_history "
                        "WHERE submission_id = $1 ORDER BY revision",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    return rows_list(st, history_row, out, err);
}

int store_submission_texts(struct db *db, const char *form_id, const char *field, int64_t from,
                           int64_t to, int limit,
                           int (*fn)(void *arg, const char *text, size_t len), void *arg,
                           struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        db_dialect(db) == DB_POSTGRES
                            ? "SELECT j.value #>> '{}' FROM submissions s, "
                              "jsonb_each(s.data::jsonb) j "
                              "WHERE s.form_id = $1 AND s.deleted_at IS NULL AND s.spam = 0 "
                              "AND s.created_at >= $2 AND s.created_at <= $3 "
                              "AND jsonb_typeof(j.value) = 'string' "
                              "AND length(j.value #>> '{}') > 0 "
                              "AND (j.value #>> '{}') NOT LIKE 'enc:v1:%' "
                              "AND ($4::text IS NULL OR j.key = $4) "
                              "ORDER BY s.created_at DESC LIMIT $5"
                            : "SELECT j.value FROM submissions s, json_each(s.data) j "
                              "WHERE s.form_id = $1 AND s.deleted_at IS NULL AND s.spam = 0 "
                              "AND s.created_at >= $2 AND s.created_at <= $3 "
                              "AND j.type = 'text' AND length(j.value) > 0 "
                              "AND j.value NOT LIKE 'enc:v1:%' "
                              "AND ($4 IS NULL OR j.key = $4) "
                              "ORDER BY s.created_at DESC LIMIT $5",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, form_id);
    db_bind_int(st, 2, from);
    db_bind_int(st, 3, to ? to : INT64_MAX);
    if (field)
        db_bind_text(st, 4, field);
    else
        db_bind_null(st, 4);
    db_bind_int(st, 5, limit);
    while ((rc = db_step(st, err)) == 1) {
        size_t len;
        const char *t = db_col_textn(st, 0, &len);
        if ((rc = fn(arg, t, len)))
            break;
    }
    db_done(st);
    return rc < 0 ? rc : 0;
}
