/* rotate.c - the security.rotate_key task: re-sealing under the current key (rotate.h). */
#include "tasks/rotate.h"

#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/mem.h"
#include "store/sensitive.h"
#include "tasks/tasks.h"
#include "core/banned.h"

#define BATCH_DEFAULT 200
#define BATCH_MAX 10000

/* One batch's rewrites, applied in one transaction. */
struct rewrite {
    int history;
    json_t *rows;              /* [{id, revision, data (old), new}] of changed rows only */
};

static int apply_batch(struct db *db, void *arg, struct fmd_err *err)
{
    const struct rewrite *w = arg;
    size_t i;
    int rc = 0;

    for (i = 0; !rc && i < json_array_size(w->rows); i++) {
        const json_t *r = json_array_get(w->rows, i);
        rc = sensitive_replace_data(db, w->history, json_get_str(r, "id"),
                                    json_integer_value(json_object_get(r, "revision")),
                                    json_get_str(r, "data"), json_get_str(r, "new"), err);
    }
    return rc;
}

/*
 * Re-seals one row's data: 0 with *text a new fmd_malloc'd JSON text when
 * anything changed (NULL when all was under the current key already).
 */
static int reseal_row(struct db *db, const json_t *row, char **text, int *values,
                      struct fmd_err *err)
{
    const char *form_id = json_get_str(row, "form_id"), *sid = json_get_str(row, "id");
    json_t *paths = NULL, *data = NULL;
    int changed = 0, rc;

    *text = NULL;
    rc = sensitive_paths(db, form_id, (int)json_integer_value(json_object_get(row, "version")),
                         &paths, err);
    if (rc || !paths)
        return rc;
    if (!(data = json_loads(json_get_str(row, "data"), 0, NULL)))
        rc = fmd_errf(err, FMD_EINTERNAL, "submission '%s' holds data that is not JSON", sid);
    if (!rc && (rc = sensitive_reseal(paths, data, form_id, sid, &changed, err)))
        fmd_errf(err, rc, "submission '%s': %s", sid, err->msg);
    if (!rc && changed && !(*text = json_encode(data)))
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
    *values += changed;
    json_decref(data);
    json_decref(paths);
    return rc;
}

struct progress {
    struct queue_run *run;
    int64_t total, done;
    long rows, values;
};

/* Re-seals one batch of one table after the cursor: 0 with *more set, or an error. */
static int one_batch(struct db *db, int history, int batch, char cursor[ID_LEN + 1],
                     int64_t *cursor_rev, int *more, struct progress *pg, struct fmd_err *err)
{
    const struct tasks_env *env = tasks__env();
    struct rewrite w = {.history = history, .rows = json_array()};
    json_t *rows = NULL;
    size_t i;
    int values = 0, rc;

    *more = 0;
    if (!w.rows)
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    if ((rc = sensitive_sealed_rows(db, history, cursor, *cursor_rev, batch, &rows, err)))
        goto out;
    for (i = 0; !rc && i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        char *text = NULL;
        if ((rc = reseal_row(db, row, &text, &values, err)) || !text)
            continue;
        if (json_object_set_new(row, "new", json_string(text)) ||
            json_array_append(w.rows, row))
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        fmd_free(text);
    }
    if (!rc && json_array_size(w.rows))
        rc = db_writer_run(env->writer, apply_batch, &w, err);
    if (!rc && json_array_size(rows)) {
        const json_t *last = json_array_get(rows, json_array_size(rows) - 1);
        fmd_strlcpy(cursor, json_get_str(last, "id"), ID_LEN + 1);
        *cursor_rev = json_integer_value(json_object_get(last, "revision"));
        *more = (int)json_array_size(rows) == batch;
        pg->done += (int64_t)json_array_size(rows);
        pg->rows += (long)json_array_size(w.rows);
        pg->values += values;
        if (pg->total > 0 && pg->run->pool)
            queue_run_progress(pg->run, pg->done >= pg->total ? 0.99
                                                              : (double)pg->done / pg->total);
    }
out:
    json_decref(rows);
    json_decref(w.rows);
    return rc;
}

static int walk_table(struct db *db, int history, int batch, struct progress *pg,
                      struct fmd_err *err)
{
    char cursor[ID_LEN + 1] = "";
    int64_t rev = 0;
    int more = 1, rc = 0;

    while (!rc && more) {
        if (pg->run->pool && queue_run_stopping(pg->run))
            return fmd_errf(err, FMD_EUNAVAIL, "stopping: the next run goes on from here");
        rc = one_batch(db, history, batch, cursor, &rev, &more, pg, err);
    }
    return rc;
}

int tasks_rotate_key(struct queue_run *run)
{
    const struct tasks_env *env = tasks__env();
    const struct crypto_keyring *kr = sensitive_keyring();
    json_t *b = json_object_get(run->payload, "batch");
    struct progress pg = {.run = run};
    struct fmd_err err = {0};
    struct db *db = NULL;
    char result[256];
    int batch = BATCH_DEFAULT, rc;

    if (!kr) {
        snprintf(run->error, sizeof(run->error),
                 "no encryption key in this process: set FORMD_ENCRYPTION_KEY_FILE");
        run->permanent = 1;
        return FMD_EUNAVAIL;
    }
    if (json_is_integer(b) && json_integer_value(b) > 0 && json_integer_value(b) <= BATCH_MAX)
        batch = (int)json_integer_value(b);
    if ((rc = db_pool_get(env->pool, &db, &err)) ||
        (rc = sensitive_sealed_count(db, &pg.total, &err)) ||
        (rc = walk_table(db, 0, batch, &pg, &err)) ||
        (rc = walk_table(db, 1, batch, &pg, &err)))
        goto out;
    snprintf(result, sizeof(result), "{\"key_id\":\"%s\",\"rows\":%ld,\"values\":%ld}",
             crypto_keyring_current(kr), pg.rows, pg.values);
    if (!(run->result = fmd_strdup(result)))
        rc = fmd_errf(&err, FMD_ENOMEM, "out of memory");
out:
    if (db)
        db_pool_put(env->pool, db);
    if (rc) {
        snprintf(run->error, sizeof(run->error), "rotate key: %s", err.msg);
        /* A value that no key opens will not open on a retry either. */
        run->permanent = rc == FMD_ENOTFOUND || rc == FMD_EUNPROC || rc == FMD_EINTERNAL;
    }
    return rc;
}

int tasks_rotate_key_enqueue(struct db *db, char id[ID_LEN + 1], struct fmd_err *err)
{
    struct queue_new t = {.kind = ROTATE_TASK_KIND, .queue = "low", .payload = "{}",
                          .unique_key = ROTATE_TASK_KIND, .max_attempts = 5};
    int existing = 0;
    return queue_enqueue(db, &t, id, &existing, err);
}
