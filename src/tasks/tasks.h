/*
 * tasks.h - the task handlers formd runs, and what they need from the
 * process that runs them.
 */
#ifndef FMD_TASKS_TASKS_H
#define FMD_TASKS_TASKS_H

#include "db/pool.h"
#include "db/writer.h"

struct tasks_env {
    struct db_writer *writer;   /* handlers record results through it */
    struct db_pool *pool;       /* and read through this */
    int allow_private_targets;  /* outbound requests may reach private addresses */
    long task_retention_s;      /* finished tasks older than this are pruned */
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
