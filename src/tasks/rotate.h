/*
 * rotate.h - the security.rotate_key task: re-seals every sensitive value
 * (store/sensitive.h) not sealed under the current key of the key file, in
 * submissions and in their edit history, so the older keys can then be
 * removed from the file. `formd admin rotate-key` enqueues it.
 */
#ifndef FMD_TASKS_ROTATE_H
#define FMD_TASKS_ROTATE_H

#include "db/db.h"
#include "queue/worker.h"

#define ROTATE_TASK_KIND "security.rotate_key"

/*
 * The handler. Payload {} (or {"batch": N}, rows per transaction, default
 * 200). Walks both tables in (submission id, revision) order, batch by
 * batch, each batch one transaction through tasks_env.writer, reporting
 * progress. Idempotent and resumable: values already under the current key
 * are left alone, so a retried or repeated run only finishes the work.
 * Result {"key_id", "rows", "values"}: the key now sealing, rows rewritten,
 * values re-sealed. Fails permanently without a key in this process, and on
 * a value that does not open (its key already gone from the file), naming it.
 */
int tasks_rotate_key(struct queue_run *run);

/*
 * Enqueues the task through db (one pending at a time: an enqueue while one
 * is pending returns it) into id: 0 or the queue's error.
 */
int tasks_rotate_key_enqueue(struct db *db, char id[ID_LEN + 1], struct fmd_err *err);

#endif
