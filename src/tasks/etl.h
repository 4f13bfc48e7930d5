/*
 * etl.h - the analytics.etl task: one incremental sync of the analytics
 * database (analytics/etl.h), enqueued every minute on the "low" queue by
 * the periodic definition "analytics.etl" (tasks_register_all).
 */
#ifndef FMD_TASKS_ETL_H
#define FMD_TASKS_ETL_H

#include "queue/worker.h"

#define ETL_TASK_KIND "analytics.etl"

/*
 * The queue handler for ETL_TASK_KIND. Payload: {} (or {"batch": N} to
 * change the batch size). Reads through tasks_env.pool, writes DuckDB
 * through a connection of tasks_env.analytics and prunes the change log
 * through tasks_env.writer. Its result is the sync's figures:
 * {"skipped", "changes", "upserted", "deleted", "pruned", "forms_rebuilt",
 * "forms_dropped", "watermark", "seconds"}; "skipped" is true, and nothing
 * done, when another sync was running in this process. Fails permanently, with a clear
 * error, when tasks_env.analytics is NULL; a failed sync is retried.
 */
int etl_task_run(struct queue_run *run);

#endif
