/* webhooks.c - SQL for webhooks and their delivery log. */
#include "store/webhooks.h"

#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "db/rows.h"
#include "core/banned.h"

int store_webhook_insert(struct db *db, const char *id, const char *form_id, const char *url,
                         const char *events_json, const char *secret, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "INSERT INTO webhooks (id, form_id, url, events, secret, created_at) "
                        "VALUES ($1, $2, $3, $4, $5, $6)",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, form_id);
    db_bind_text(st, 3, url);
    db_bind_text(st, 4, events_json);
    db_bind_text(st, 5, secret);
    db_bind_int(st, 6, clock_wall_ms());
    return rows_exec(st, err);
}

#define WEBHOOK_COLUMNS "SELECT id, form_id, url, events, created_at FROM webhooks "

static json_t *webhook_row(struct db_stmt *st)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", db_col_text(st, 0), "form_id",
                     db_col_text(st, 1), "url", db_col_text(st, 2), "events", rows_json(st, 3),
                     "created_at", rows_time(db_col_int(st, 4)));
}

int store_webhook_json(struct db *db, const char *id, json_t **out, char form_id[ID_LEN + 1],
                       struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, WEBHOOK_COLUMNS "WHERE id = $1", &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    rc = db_step(st, err);
    if (rc == 1) {
        fmd_strlcpy(form_id, db_col_text(st, 1), ID_LEN + 1);
        rc = (*out = webhook_row(st)) ? 0 : fmd_errf(err, FMD_ENOMEM, "out of memory");
    } else if (rc == 0) {
        rc = fmd_errf(err, FMD_ENOTFOUND, "no such webhook");
    }
    db_done(st);
    return rc;
}

int store_webhook_get(struct db *db, const char *id, struct store_webhook *w,
                      struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "SELECT id, form_id, url, secret FROM webhooks WHERE id = $1", &st,
                        err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    rc = db_step(st, err);
    if (rc == 1) {
        fmd_strlcpy(w->id, db_col_text(st, 0), sizeof(w->id));
        fmd_strlcpy(w->form_id, db_col_text(st, 1), sizeof(w->form_id));
        fmd_strlcpy(w->url, db_col_text(st, 2), sizeof(w->url));
        fmd_strlcpy(w->secret, db_col_text(st, 3), sizeof(w->secret));
        rc = 0;
    } else if (rc == 0) {
        rc = fmd_errf(err, FMD_ENOTFOUND, "no such webhook");
    }
    db_done(st);
    return rc;
}

int store_webhook_list(struct db *db, const char *form_id, json_t **out, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, WEBHOOK_COLUMNS "WHERE form_id = $1 ORDER BY id", &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, form_id);
    return rows_list(st, webhook_row, out, err);
}

int store_webhook_delete(struct db *db, const char *id, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "DELETE FROM webhooks WHERE id = $1", &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    if ((rc = rows_exec(st, err)))
        return rc;
    return db_changes(db) ? 0 : fmd_errf(err, FMD_ENOTFOUND, "no such webhook");
}

int store_webhooks_each(struct db *db, const char *form_id, const char *event,
                        int (*fn)(void *arg, const char *webhook_id), void *arg,
                        struct fmd_err *err)
{
    struct db_stmt *st;
    char ids[64][ID_LEN + 1];
    int rc, n = 0, i;

    /* Collect first: fn runs SQL of its own on this connection. */
    if ((rc = db_prepare(db,
                         db_dialect(db) == DB_POSTGRES
                             ? "SELECT w.id FROM webhooks w WHERE w.form_id = $1 AND EXISTS "
                               "(SELECT 1 FROM jsonb_array_elements_text(w.events::jsonb) e "
                               "WHERE e = $2) ORDER BY w.id LIMIT 64"
                             : "SELECT w.id FROM webhooks w WHERE w.form_id = $1 AND EXISTS "
                               "(SELECT 1 FROM json_each(w.events) e WHERE e.value = $2) "
                               "ORDER BY w.id LIMIT 64",
                         &st, err)))
        return rc;
    db_bind_text(st, 1, form_id);
    db_bind_text(st, 2, event);
    while ((rc = db_step(st, err)) == 1)
        fmd_strlcpy(ids[n++], db_col_text(st, 0), ID_LEN + 1);
    db_done(st);
    if (rc < 0)
        return rc;
    for (i = 0; i < n; i++)
        if ((rc = fn(arg, ids[i])))
            return rc;
    return 0;
}

int store_delivery_insert(struct db *db, const struct store_delivery *d, struct fmd_err *err)
{
    struct db_stmt *st;
    char id[ID_LEN + 1];
    int rc = db_prepare(db,
                        "INSERT INTO webhook_deliveries (id, webhook_id, message_id, task_id, "
                        "event, attempt, status, error, duration_ms, response, created_at) "
                        "SELECT $1, $2, $3, $4, $5, CAST($6 AS BIGINT), CAST($7 AS BIGINT), $8, "
                        "CAST($9 AS BIGINT), $10, CAST($11 AS BIGINT) "
                        "WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = $2)",
                        &st, err);
    if (rc)
        return rc;
    id_new(id);
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, d->webhook_id);
    db_bind_text(st, 3, d->message_id);
    db_bind_text(st, 4, d->task_id);
    db_bind_text(st, 5, d->event);
    db_bind_int(st, 6, d->attempt);
    if (d->status)
        db_bind_int(st, 7, d->status);
    else
        db_bind_null(st, 7);
    db_bind_text(st, 8, d->error);
    db_bind_int(st, 9, d->duration_ms);
    db_bind_text(st, 10, d->response);
    db_bind_int(st, 11, clock_wall_ms());
    return rows_exec(st, err);
}

static json_t *delivery_row(struct db_stmt *st)
{
    return json_pack("{s:s, s:s, s:o, s:s, s:I, s:o, s:o, s:I, s:o, s:o}", "id",
                     db_col_text(st, 0), "message_id", db_col_text(st, 1), "task_id",
                     rows_str_or_null(st, 2), "event", db_col_text(st, 3), "attempt",
                     (json_int_t)db_col_int(st, 4), "status",
                     db_col_null(st, 5) ? json_null() : json_integer(db_col_int(st, 5)),
                     "error", rows_str_or_null(st, 6), "duration_ms",
                     (json_int_t)db_col_int(st, 7), "response", rows_str_or_null(st, 8),
                     "created_at", rows_time(db_col_int(st, 9)));
}

int store_delivery_list(struct db *db, const char *webhook_id, const char *cursor, int limit,
                        json_t **page, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT id, message_id, task_id, event, attempt, status, error, "
                        "duration_ms, response, created_at FROM webhook_deliveries "
                        "WHERE webhook_id = $1 AND (CAST($2 AS TEXT) IS NULL OR id < $2) "
                        "ORDER BY id DESC LIMIT $3",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, webhook_id);
    db_bind_text(st, 2, cursor);
    db_bind_int(st, 3, limit + 1);
    return rows_page(st, limit, delivery_row, page, err);
}
