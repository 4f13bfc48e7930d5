/*
 * export.h - the tasks that make exports and remove them once expired.
 *
 * "analytics.export" (payload {"export_id"}) brings the analytics database
 * up to date, writes the export's file into <data-dir>/exports (under a
 * temporary name, renamed when complete), and marks the export ready with
 * its row count, size and expiry; after its last attempt fails, the export
 * is marked failed. "analytics.exports_cleanup" (periodic) removes the
 * files of expired exports and marks them so.
 */
#ifndef FMD_TASKS_EXPORT_H
#define FMD_TASKS_EXPORT_H

#include "queue/worker.h"

#define EXPORT_TASK_KIND "analytics.export"
#define EXPORT_CLEANUP_KIND "analytics.exports_cleanup"

int tasks_export_run(struct queue_run *run);
int tasks_exports_cleanup(struct queue_run *run);

#endif
