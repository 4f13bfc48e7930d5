/*
 * tasks.c - the handler table, formd's own periodic tasks (queue.retention,
 * analytics.etl, analytics.exports_cleanup, backup.run), and the maintenance
 * handlers.
 */
#include "tasks/tasks.h"

#include <stdio.h>

#include "core/clock.h"
#include "core/mem.h"
#include "queue/periodic.h"
#include "queue/worker.h"
#include "store/ai_cache.h"
#include "tasks/ai.h"
#include "tasks/backup.h"
#include "tasks/etl.h"
#include "tasks/export.h"
#include "tasks/rotate.h"
#include "tasks/webhook.h"
#include "core/banned.h"

#define PRUNE_KIND "queue.prune"

static const struct tasks_env *env;

const struct tasks_env *tasks__env(void)
{
    return env;
}

int tasks__analytics_here(struct queue_run *run)
{
    if (env && env->analytics &&
        (!env->analytics_elected || store_elector_leading(env->analytics_lease)))
        return 1;
    /* Another process holds (or will hold) the analytics database, which
     * DuckDB lets only one process open: leave the task to it. */
    snprintf(run->error, sizeof(run->error), "this process is not the analytics node");
    run->retry_after_ms = 2000;
    return 0;
}

struct prune_job {
    int64_t before, cache_before;
    int pruned, cache_pruned;
};

static int prune_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct prune_job *j = arg;
    int rc = queue_prune(db, j->before, &j->pruned, err);

    return rc ? rc : store_ai_cache_prune(db, j->cache_before, &j->cache_pruned, err);
}

/*
 * Deletes finished tasks older than the retention, so the hot table stays
 * small, and cached AI answers older than theirs (a model or prompt that
 * changed leaves its answers behind under keys nobody asks for again).
 */
static int prune_finished(struct queue_run *run)
{
    int64_t now = clock_wall_ms();
    struct prune_job j = {.before = now - env->task_retention_s * 1000,
                          .cache_before = now - env->ai_cache_ttl_s * 1000};
    struct fmd_err err = {0};
    char result[96];
    int rc = db_writer_run(env->writer, prune_write, &j, &err);
    if (rc) {
        snprintf(run->error, sizeof(run->error), "%s", err.msg);
        return rc;
    }
    snprintf(result, sizeof(result), "{\"pruned\":%d,\"ai_cache_pruned\":%d}", j.pruned,
             j.cache_pruned);
    run->result = fmd_strdup(result);
    return 0;
}

static int define_write(struct db *db, void *arg, struct fmd_err *err)
{
    int rc;
    /* Every five minutes: frequent enough that the table never grows far. */
    if ((rc = queue_periodic_define(db, "queue.retention", "*/5 * * * *", PRUNE_KIND, "low",
                                    NULL, clock_wall_ms(), err)))
        return rc;
    /* Every minute: analytics lags the operational store by about that much at
     * most; a sync with nothing to do costs a few queries. */
    if ((rc = queue_periodic_define(db, "analytics.etl", "* * * * *", ETL_TASK_KIND,
                                    TASKS_ANALYTICS_QUEUE,
                                    NULL, clock_wall_ms(), err)))
        return rc;
    /* Every ten minutes: an expired export's file lingers at most that long
     * (downloads check the expiry themselves). */
    if ((rc = queue_periodic_define(db, "analytics.exports_cleanup", "*/10 * * * *",
                                    EXPORT_CLEANUP_KIND, TASKS_ANALYTICS_QUEUE, NULL,
                                    clock_wall_ms(), err)))
        return rc;
    /* On --backup-every's schedule, or removed when backups are off. */
    if ((rc = tasks_backup_define(db, env, err)) && rc == FMD_EINVAL && err) {
        char m[sizeof(err->msg)];
        fmd_strlcpy(m, err->msg, sizeof(m));
        fmd_errf(err, rc, "option 'backup-every': %s", m);
    }
    return rc;
}

int tasks_register_all(const struct tasks_env *e, struct fmd_err *err)
{
    int rc;
    env = e;
    queue_unregister_all();
    tasks_ai_metrics_init();
    if ((rc = queue_register(WEBHOOK_TASK_KIND, webhook_deliver)) ||
        (rc = queue_register(PRUNE_KIND, prune_finished)) ||
        (rc = queue_register(ETL_TASK_KIND, etl_task_run)) ||
        (rc = queue_register(EXPORT_TASK_KIND, tasks_export_run)) ||
        (rc = queue_register(EXPORT_CLEANUP_KIND, tasks_exports_cleanup)) ||
        (rc = queue_register(AI_EXTRACT_KIND, tasks_ai_extract)) ||
        (rc = queue_register(AI_OCR_KIND, tasks_ai_extract)) ||
        (rc = queue_register(AI_CLASSIFY_KIND, tasks_ai_classify)) ||
        (rc = queue_register(AI_GENERATE_FORM_KIND, tasks_ai_generate_form)) ||
        (rc = queue_register(AI_SUMMARIZE_KIND, tasks_ai_summarize)) ||
        (rc = queue_register(BACKUP_TASK_KIND, tasks_backup_run)) ||
        (rc = queue_register(ROTATE_TASK_KIND, tasks_rotate_key)))
        return fmd_errf(err, rc, "cannot register task handlers");
    return db_writer_run(e->writer, define_write, NULL, err);
}
