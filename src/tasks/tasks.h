/*
 * tasks.h - the task handlers formd runs, and what they need from the
 * process that runs them.
 */
#ifndef FMD_TASKS_TASKS_H
#define FMD_TASKS_TASKS_H

#include "ai/engine.h"
#include "analytics/duck.h"
#include "db/pool.h"
#include "db/writer.h"
#include "queue/worker.h"
#include "store/leases.h"

/*
 * The queue of the tasks that need the analytics database (the ETL, exports
 * and their cleanup): only the analytics node's pool serves it.
 */
#define TASKS_ANALYTICS_QUEUE "analytics"

struct tasks_env {
    struct db_writer *writer;   /* handlers record results through it */
    struct db_pool *pool;       /* and read through this */
    int allow_private_targets;  /* outbound requests may reach private addresses */
    long task_retention_s;      /* finished tasks older than this are pruned */
    /* The analytics database (DuckDB), opened by main.c with duck_open and
     * closed by it after the worker pools stop; the analytics.etl handler
     * takes a connection of its own per run. NULL: analytics.etl fails
     * (permanently) saying so. */
    struct duck *analytics;
    /* PostgreSQL (analytics_elected): this process runs analytics tasks only
     * while it holds the analytics node's lease, set by main.c before it can
     * be won. Else (SQLite) it always may. */
    int analytics_elected;
    const struct store_elector *analytics_lease;
    struct ai_engine *ai;       /* the AI providers (a model and the fallback), or NULL */
    long ai_timeout_ms;         /* one completion's limit */
    long ai_cache_ttl_s;        /* cached AI answers older than this are pruned */
    const char *data_dir;       /* exports are written under <data_dir>/exports */
    long export_ttl_s;          /* a finished export is kept this long */
    /* Periodic backups (tasks/backup.h). db_url: the option (""/NULL: the
     * SQLite file <data_dir>/formd.db); backup_dir ""/NULL: <data_dir>/backups;
     * backup_every: cron expression, ""/"off"/NULL: none. */
    const char *db_url;
    const char *backup_dir;
    const char *backup_every;
    long backup_keep;           /* newest backups kept */
};

/*
 * Registers every handler with the queue and writes the periodic task
 * definitions formd needs (through env->writer). env must outlive the
 * worker pools.
 */
int tasks_register_all(const struct tasks_env *env, struct fmd_err *err);

/*
 * For the analytics handlers: 1 if this process is the analytics node now;
 * else 0, with run told to retry soon, for the node that is.
 */
int tasks__analytics_here(struct queue_run *run);

/* The environment given to tasks_register_all, for the handlers. */
const struct tasks_env *tasks__env(void);

#endif
