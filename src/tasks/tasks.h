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

/* The environment given to tasks_register_all, for the handlers. */
const struct tasks_env *tasks__env(void);

#endif
