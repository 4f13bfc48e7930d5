/*
 * periodic.h - tasks enqueued on a cron schedule.
 *
 * A definition (name, 5-field cron expression, task kind, queue, payload)
 * lives in periodic_tasks. queue_periodic_run, called by every worker
 * pool's upkeep inside a write transaction, enqueues each definition whose
 * time has come and moves its next time on in the same transaction. Any
 * number of pools, in any number of processes on one database, may race
 * for a tick: each claims it with a compare-and-set on next_run_at, so
 * exactly one enqueues it and the others find it taken. Missed ticks (the
 * server was down) are not replayed: one run catches up, then the schedule
 * continues from now.
 */
#ifndef FMD_QUEUE_PERIODIC_H
#define FMD_QUEUE_PERIODIC_H

#include <stdint.h>

#include "db/db.h"

/*
 * Creates or updates a definition; its next time is computed from now when
 * it is new or its expression changed. FMD_EINVAL (with the cron error)
 * for a bad expression or kind.
 */
int queue_periodic_define(struct db *db, const char *name, const char *cron_expr,
                          const char *kind, const char *queue, const char *payload,
                          int64_t now, struct fmd_err *err);
int queue_periodic_remove(struct db *db, const char *name, struct fmd_err *err);
/* Enqueues every definition due at now; *enqueued says how many. */
int queue_periodic_run(struct db *db, int64_t now, int *enqueued, struct fmd_err *err);

#endif
