/* etl.c - the analytics.etl task handler: analytics/etl.h's sync, on the queue. */
#include "tasks/etl.h"

#include <stdio.h>

#include "analytics/etl.h"
#include "core/mem.h"
#include "tasks/tasks.h"
#include "core/banned.h"

static void progress(void *arg, int64_t done, int64_t total)
{
    if (total > 0)
        queue_run_progress(arg, (double)done / (double)total);
}

static int stopping(void *arg)
{
    return queue_run_stopping(arg);
}

int etl_task_run(struct queue_run *run)
{
    const struct tasks_env *env = tasks__env();
    /* A sync already running (a slow one, or the API's ?fresh=true) will do: skip. */
    struct etl_options opt = {.arg = run, .skip_if_busy = 1};
    struct etl_stats st;
    struct fmd_err err = {0};
    struct duck_conn *dc = NULL;
    struct db *db = NULL;
    json_t *batch = json_object_get(run->payload, "batch");
    char result[512];
    int rc;

    if (!tasks__analytics_here(run))
        return FMD_EUNAVAIL;
    if (json_is_integer(batch) && json_integer_value(batch) > 0 &&
        json_integer_value(batch) <= 1000000)
        opt.batch = (int)json_integer_value(batch);
    opt.writer = env->writer;
    if (run->pool) {   /* run by a worker pool (not called directly) */
        opt.progress = progress;
        opt.stop = stopping;
    }
    if ((rc = db_pool_get(env->pool, &db, &err)) ||
        (rc = duck_connect(env->analytics, &dc, &err)))
        goto out;
    rc = etl_sync(db, dc, &opt, &st, &err);
    if (!rc) {
        snprintf(result, sizeof(result),
                 "{\"skipped\":%s,\"changes\":%lld,\"upserted\":%lld,\"deleted\":%lld,"
                 "\"pruned\":%lld,\"forms_rebuilt\":%d,\"forms_dropped\":%d,"
                 "\"watermark\":%lld,\"seconds\":%.3f}",
                 st.skipped ? "true" : "false", (long long)st.changes, (long long)st.upserted,
                 (long long)st.deleted, (long long)st.pruned, st.forms_rebuilt,
                 st.forms_dropped, (long long)st.watermark, st.seconds);
        if (!(run->result = fmd_strdup(result)))
            rc = fmd_errf(&err, FMD_ENOMEM, "out of memory");
    }
out:
    duck_disconnect(dc);
    if (db)
        db_pool_put(env->pool, db);
    if (rc)
        snprintf(run->error, sizeof(run->error), "analytics sync: %s", err.msg);
    return rc;
}
