/*
 * export.c - the tasks that make exports and remove expired ones (export.h).
 *
 * A retried export starts over: its file is written under a temporary name
 * and renamed only when complete (analytics/export.h), and the export row
 * moves from pending to ready in one write, so a crash at any point leaves
 * either no file or a complete one that the next attempt replaces.
 */
#include "tasks/export.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "analytics/analytics.h"
#include "analytics/etl.h"
#include "analytics/export.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/exports.h"
#include "store/sensitive.h"
#include "store/submissions.h"
#include "tasks/tasks.h"
#include "core/banned.h"

struct ready_op {
    const char *id, *file;
    int64_t rows, bytes, expires_at;
};

static int ready_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct ready_op *op = arg;
    return store_export_ready(db, op->id, op->file, op->rows, op->bytes, op->expires_at, err);
}

struct failed_op {
    const char *id, *error;
};

static int failed_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct failed_op *op = arg;
    return store_export_failed(db, op->id, op->error, err);
}

static void progress(void *arg, uint64_t done, uint64_t total)
{
    if (total > 0)
        queue_run_progress(arg, (double)done / (double)total * 0.99);
}

static int cancelled(void *arg)
{
    return queue_run_stopping(arg);
}

/* The export's options (as the API stored them) into o. */
static int options_of(const struct store_export *e, struct export_options *o,
                      struct fmd_err *err)
{
    const json_t *v = e->options;
    const char *status = json_get_str(v, "status");

    memset(o, 0, sizeof(*o));
    if (export_format_parse(e->format, &o->format))
        return fmd_errf(err, FMD_EINVAL, "unknown export format '%s'", e->format);
    o->include_deleted = json_is_true(json_object_get(v, "include_deleted"));
    o->include_spam = json_is_true(json_object_get(v, "include_spam"));
    o->bom = json_is_true(json_object_get(v, "bom"));
    o->from = json_integer_value(json_object_get(v, "from"));
    o->to = json_integer_value(json_object_get(v, "to"));
    o->version = (int)json_integer_value(json_object_get(v, "version"));
    o->status = status && *status ? status : NULL;
    return 0;
}

#define CLEAR_DATA "export_clear_data"   /* temporary tables of the export's connection */
#define CLEAR_ROWS "export_clear_rows"
#define CLEAR_PAGE 500

/* Appends one page of the form's submissions, sensitive values opened, to a. */
static int append_clear_page(struct db *db, struct duck_appender *a, json_t *page,
                             struct fmd_err *err)
{
    json_t *items = json_object_get(page, "items");
    size_t i;
    int rc = 0;

    for (i = 0; !rc && i < json_array_size(items); i++) {
        json_t *sub = json_array_get(items, i);
        const char *id = json_get_str(sub, "id");
        char *text;
        if ((rc = sensitive_show_submission(db, sub, 1, err)))
            break;
        if (json_object_get(sub, "masked")) {
            rc = fmd_errf(err, FMD_EUNAVAIL, "submission '%s' has sensitive values that do "
                          "not open with the key file", id);
            break;
        }
        if (!(text = json_encode(json_object_get(sub, "data"))))
            return fmd_errf(err, FMD_ENOMEM, "out of memory");
        rc = duck_append_text(a, id, strlen(id)) || duck_append_text(a, text, strlen(text))
                 ? fmd_errf(err, FMD_ENOMEM, "out of memory")
                 : duck_appender_end_row(a, err);
        fmd_free(text);
    }
    return rc;
}

/*
 * For include_sensitive: every submission of the form with its sensitive
 * values opened, from the operational store (analytics only has the mask),
 * into a temporary table of dc, then the export's source table made from it
 * (etl_clear_table). Temporary tables never reach the DuckDB file.
 */
static int clear_source(const struct store_export *e, struct db *db, struct duck_conn *dc,
                        struct fmd_err *err)
{
    /* Every row the export might keep: its own filters (spam, deleted, ...) come after. */
    struct store_submission_filter f = {.include_deleted = 1, .spam = SPAM_INCLUDE,
                                        .limit = CLEAR_PAGE};
    struct duck_appender *a = NULL;
    char cursor[ID_LEN + 1] = "";
    json_t *page = NULL;
    int rc;

    if (!sensitive_keyring())
        return fmd_errf(err, FMD_EUNAVAIL, "no encryption key in this process: set "
                                           "FORMD_ENCRYPTION_KEY_FILE");
    if ((rc = duck_exec(dc, "CREATE OR REPLACE TEMP TABLE " CLEAR_DATA
                            " (submission_id VARCHAR, data VARCHAR)", err)) ||
        (rc = duck_appender_open(dc, CLEAR_DATA, &a, err)))
        goto out;
    do {
        const char *next;
        f.cursor = cursor[0] ? cursor : NULL;
        if ((rc = store_submission_list(db, e->form_id, &f, &page, err)) ||
            (rc = append_clear_page(db, a, page, err)))
            break;
        next = json_string_value(json_object_get(page, "next_cursor"));
        fmd_strlcpy(cursor, next ? next : "", sizeof(cursor));
        json_decref(page);
        page = NULL;
    } while (cursor[0]);
out:
    json_decref(page);
    if (a && !rc)
        rc = duck_appender_close(a, err);
    else if (a)
        duck_appender_close(a, NULL);
    if (!rc)
        rc = etl_clear_table(db, dc, e->form_id, CLEAR_DATA, CLEAR_ROWS, err);
    return rc;
}

/* Syncs analytics, then writes the file: the part that may fail and be retried. */
static int make_file(struct queue_run *run, const struct store_export *e, struct db *db,
                     const char *path, struct export_stats *st, struct fmd_err *err)
{
    const struct tasks_env *env = tasks__env();
    struct etl_options eo = {.writer = env->writer};
    struct export_options o;
    struct duck_conn *dc = NULL;
    int rc;

    if ((rc = options_of(e, &o, err)) || (rc = duck_connect(env->analytics, &dc, err)))
        return rc;
    /* the export holds everything submitted before it was asked for */
    rc = etl_sync(db, dc, &eo, NULL, err);
    if (!rc && json_is_true(json_object_get(e->options, "include_sensitive")) &&
        !(rc = clear_source(e, db, dc, err)))
        o.table = CLEAR_ROWS;
    if (!rc) {
        o.progress = progress;
        o.cancel = cancelled;
        o.arg = run;
        rc = export_form(dc, e->form_id, &o, path, st, err);
    }
    /* The clear values go as soon as the file is written (or failed). */
    if (json_is_true(json_object_get(e->options, "include_sensitive")))
        duck_exec(dc, "DROP TABLE IF EXISTS " CLEAR_ROWS "; DROP TABLE IF EXISTS " CLEAR_DATA,
                  NULL);
    duck_disconnect(dc);
    return rc;
}

int tasks_export_run(struct queue_run *run)
{
    const struct tasks_env *env = tasks__env();
    const char *id = json_get_str(run->payload, "export_id");
    struct store_export e = {0};
    struct export_stats st = {0};
    struct fmd_err err = {0};
    struct db *db = NULL;
    char dir[4096], path[4400], file[128], result[512];
    int rc;

    if (!tasks__analytics_here(run))   /* the files live on the analytics node */
        return FMD_EUNAVAIL;
    if (!id) {
        snprintf(run->error, sizeof(run->error), "payload has no 'export_id'");
        run->permanent = 1;
        return FMD_EINVAL;
    }
    if ((rc = db_pool_get(env->pool, &db, &err)) || (rc = store_export_get(db, id, &e, &err))) {
        if (rc == FMD_ENOTFOUND)   /* its form was deleted meanwhile */
            run->permanent = 1;
        goto out;
    }
    if (strcmp(e.state, "pending"))   /* done by an earlier attempt */
        goto out;
    snprintf(file, sizeof(file), "%s.%s", e.id, e.format);
    if (analytics_exports_dir(env->data_dir, dir, sizeof(dir)) ||
        snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path)) {
        rc = fmd_errf(&err, FMD_EINVAL, "data directory path too long");
        run->permanent = 1;
        goto out;
    }
    if ((rc = make_file(run, &e, db, path, &st, &err))) {
        if (rc == FMD_EINVAL || rc == FMD_ENOTFOUND)
            run->permanent = 1;
        goto out;
    }
    {
        struct ready_op op = {e.id, file, (int64_t)st.rows, (int64_t)st.bytes,
                              clock_wall_ms() + env->export_ttl_s * 1000};
        if ((rc = db_writer_run(env->writer, ready_write, &op, &err))) {
            unlink(path);
            goto out;
        }
    }
    snprintf(result, sizeof(result),
             "{\"export_id\":\"%s\",\"file\":\"%s\",\"format\":\"%s\",\"rows\":%llu,"
             "\"bytes\":%llu,\"seconds\":%.3f}",
             e.id, file, e.format, (unsigned long long)st.rows, (unsigned long long)st.bytes,
             (double)st.duration_ms / 1e3);
    if (!(run->result = fmd_strdup(result)))
        rc = fmd_errf(&err, FMD_ENOMEM, "out of memory");
out:
    if (rc) {
        snprintf(run->error, sizeof(run->error), "export: %s", err.msg);
        if (e.id[0] && (run->permanent || run->task->attempt >= run->task->max_attempts)) {
            struct failed_op op = {e.id, run->error};
            struct fmd_err e2 = {0};
            if (db_writer_run(env->writer, failed_write, &op, &e2))
                log_warn("cannot mark export %s failed: %s", e.id, e2.msg);
        }
    }
    json_decref(e.options);
    if (db)
        db_pool_put(env->pool, db);
    return rc;
}

/* ---- analytics.exports_cleanup ---- */

struct cleanup {
    const struct tasks_env *env;
    char ids[64][ID_LEN + 1];
    char files[64][128];
    int n;
};

static int collect(void *arg, const char *id, const char *file)
{
    struct cleanup *c = arg;
    fmd_strlcpy(c->ids[c->n], id, sizeof(c->ids[0]));
    fmd_strlcpy(c->files[c->n], file, sizeof(c->files[0]));
    c->n++;
    return 0;
}

static int expire_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct cleanup *c = arg;
    int i, rc = 0;

    for (i = 0; !rc && i < c->n; i++)
        rc = store_export_expire(db, c->ids[i], err);
    return rc;
}

int tasks_exports_cleanup(struct queue_run *run)
{
    const struct tasks_env *env = tasks__env();
    struct cleanup *c = fmd_calloc(1, sizeof(*c));
    struct fmd_err err = {0};
    struct db *db = NULL;
    char dir[4096], path[4400], result[64];
    int i, rc, total = 0;

    if (!c)
        return FMD_ENOMEM;
    if (!tasks__analytics_here(run)) {   /* the files live on the analytics node */
        fmd_free(c);
        return FMD_EUNAVAIL;
    }
    c->env = env;
    if (analytics_exports_dir(env->data_dir, dir, sizeof(dir))) {
        rc = fmd_errf(&err, FMD_EINVAL, "data directory path too long");
        goto out;
    }
    if ((rc = db_pool_get(env->pool, &db, &err)))
        goto out;
    do {   /* 64 at a time: the row goes only after its file is gone */
        c->n = 0;
        if ((rc = store_exports_expired(db, clock_wall_ms(), 64, collect, c, &err)))
            break;
        for (i = 0; i < c->n; i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, c->files[i]);
            if (c->files[i][0] && unlink(path) && errno != ENOENT)
                log_warn("cannot remove expired export %s: %s", path, strerror(errno));
        }
        if (c->n && (rc = db_writer_run(env->writer, expire_write, c, &err)))
            break;
        total += c->n;
    } while (c->n == 64);
    if (!rc) {
        snprintf(result, sizeof(result), "{\"expired\":%d}", total);
        if (!(run->result = fmd_strdup(result)))
            rc = FMD_ENOMEM;
    }
out:
    if (rc)
        snprintf(run->error, sizeof(run->error), "exports cleanup: %s", err.msg);
    if (db)
        db_pool_put(env->pool, db);
    fmd_free(c);
    return rc;
}
