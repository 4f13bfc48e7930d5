/*
 * backup.h - the periodic backup task and its retention.
 *
 * "backup.run" (payload {}), enqueued on the "low" queue by the periodic
 * definition "backup.run" on the cron schedule of --backup-every (default
 * @daily; "" or "off" removes the definition), writes a consistent copy of
 * the operational store (db/backup.h) into --backup-dir (default
 * <data-dir>/backups) as formd-YYYYMMDDTHHMMSSZ.db (UTC), then deletes the
 * oldest such files beyond --backup-keep, and temporary files of backups
 * that never finished once a day old. Other files in the directory are never
 * touched. The analytics database (derived, rebuilt by restore) and
 * the exports directory are not backed up.
 *
 * Metrics: formd_backup_last_success_timestamp_seconds (gauge, Unix
 * seconds: the newest backup file's mtime at start, so a restart does not
 * reset it), formd_backup_duration_seconds and formd_backup_size_bytes (of
 * the last successful backup), formd_backup_runs_total{outcome}.
 */
#ifndef FMD_TASKS_BACKUP_H
#define FMD_TASKS_BACKUP_H

#include "db/db.h"
#include "queue/worker.h"

#define BACKUP_TASK_KIND "backup.run"

struct tasks_env;

/* The queue handler. Result: {"file", "bytes", "seconds", "version", "removed"}. */
int tasks_backup_run(struct queue_run *run);

/*
 * Registers the metrics, sets the last-success gauge from the backup
 * directory, and defines (or, when disabled or the database is not a
 * SQLite file, removes) the periodic definition on db, inside the caller's
 * write transaction. FMD_EINVAL for a bad cron expression.
 */
int tasks_backup_define(struct db *db, const struct tasks_env *env, struct fmd_err *err);

/*
 * Deletes the oldest formd-*.db backups in dir beyond keep (>= 1); *removed
 * (may be NULL) gets how many. Other files are left alone.
 */
int tasks_backup_prune(const char *dir, long keep, int *removed, struct fmd_err *err);

#endif
