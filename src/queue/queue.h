/*
 * queue.h - the durable task queue's data operations.
 *
 * Tasks live in the same database as the data that causes them, so
 * queue_enqueue runs inside the caller's write transaction: a submission
 * and the tasks it causes commit together or not at all. Every function
 * here runs SQL on the connection it is given; the writes among them are
 * meant for writer jobs (db/writer.h), the reads for pooled connections.
 *
 * Life of a task: available (or scheduled, when run_at is ahead) -> running
 * (claimed: the attempt is counted and a lease taken) -> completed; or, on
 * failure, retryable with exponential backoff until max_attempts, then
 * discarded (kept with its last error: the dead-letter set). A lease that
 * runs out (its worker died) makes the task retryable at once. cancelled
 * ends a task that has not finished.
 */
#ifndef FMD_QUEUE_QUEUE_H
#define FMD_QUEUE_QUEUE_H

#include <jansson.h>
#include <stdint.h>

#include "core/id.h"
#include "db/db.h"

#define QUEUE_KIND_MAX 64
#define QUEUE_NAME_MAX 32
#define QUEUE_DEFAULT_ATTEMPTS 20
/*
 * The channel on which committed runnable work is announced (db_notify,
 * payload: the queue's name) to pools in other processes: by an enqueue of
 * a task runnable now, a release and a rescue of expired leases.
 */
#define QUEUE_CHANNEL "formd_tasks"

struct queue_new {
    const char *kind;          /* required: which handler runs it */
    const char *queue;         /* NULL: "default" */
    int priority;              /* higher runs first within its queue */
    const char *payload;       /* JSON text; NULL: "{}" */
    int64_t run_at;            /* Unix ms; 0: now */
    int max_attempts;          /* 0: QUEUE_DEFAULT_ATTEMPTS */
    const char *unique_key;    /* while a task with this key is pending, enqueue returns it */
    const char *project_id;    /* who may see it through the API; NULL: admins only */
    const char *trace_id;      /* carried into the handler's logs */
};

/* A claimed task, as a worker sees it. */
struct queue_task {
    char id[ID_LEN + 1];
    char kind[QUEUE_KIND_MAX + 1];
    char queue[QUEUE_NAME_MAX + 1];
    char trace_id[33];
    char project_id[ID_LEN + 1];
    char *payload;             /* JSON text, fmd_malloc'd: queue_task_release frees it */
    int attempt;               /* 1 on the first run */
    int max_attempts;
    int64_t run_at;            /* when it became runnable, for wait-time metrics */
};

void queue_task_release(struct queue_task *t);

/*
 * Adds a task. *id gets its id; with a unique key already held by a
 * pending task, nothing is added, *id is that task's and *existing is 1.
 * FMD_EINVAL for a bad kind, queue or payload.
 */
int queue_enqueue(struct db *db, const struct queue_new *t, char id[ID_LEN + 1], int *existing,
                  struct fmd_err *err);

/*
 * Claims up to max runnable tasks of one queue (skipped while paused) for
 * worker: highest priority first, then oldest. Each gets attempt + 1 and a
 * lease until now + lease_ms. *got says how many were filled in out.
 */
int queue_claim(struct db *db, const char *queue, const char *worker, int max, int64_t now,
                int64_t lease_ms, struct queue_task *out, int *got, struct fmd_err *err);

/*
 * Completes, in one statement, every task in ids_json (a JSON array of ids)
 * that the worker still holds, with no result. For busy pools: one write
 * instead of one per task.
 */
int queue_complete_many(struct db *db, const char *ids_json, const char *worker, int64_t now,
                        struct fmd_err *err);
/* Finishes a task the worker holds. result: JSON text or NULL. 0 even if the
 * task was cancelled or rescued meanwhile (then nothing changes). */
int queue_complete(struct db *db, const char *id, const char *worker, const char *result,
                   int64_t now, struct fmd_err *err);
/*
 * Records a failed attempt: retryable after a backoff (exponential with
 * jitter, from 1 s doubling to at most 1 h; or exactly delay_ms when it is
 * positive, as a server's Retry-After asks) or, when attempts are used up
 * or permanent is set, discarded. error is kept either way.
 */
int queue_fail(struct db *db, const char *id, const char *worker, const char *error,
               int permanent, int64_t delay_ms, int64_t now, struct fmd_err *err);
/* The backoff before attempt + 1 after `attempt` failed, without jitter (ms). */
int64_t queue_backoff_ms(int attempt);

/* Extends the leases of the worker's running tasks to until. */
int queue_heartbeat(struct db *db, const char *worker, int64_t until, struct fmd_err *err);
/* Gives claimed-but-unstarted or interrupted tasks back: available now, attempt undone. */
int queue_release(struct db *db, const char *id, const char *worker, struct fmd_err *err);
/* Running tasks whose lease ran out become retryable now (or discarded). */
int queue_reap(struct db *db, int64_t now, int *rescued, struct fmd_err *err);
/* Deletes completed/discarded/cancelled tasks finished before `before`. */
int queue_prune(struct db *db, int64_t before, int *pruned, struct fmd_err *err);
int queue_progress(struct db *db, const char *id, const char *worker, double progress,
                   struct fmd_err *err);

/* Manual retry of a finished or waiting task: available now, one more attempt allowed. */
int queue_retry(struct db *db, const char *id, int64_t now, struct fmd_err *err);
/* Cancels a task that has not finished; FMD_ECONFLICT once it has. */
int queue_cancel(struct db *db, const char *id, int64_t now, struct fmd_err *err);
/* *cancelled = 1 if the task is cancelled, else 0 (also when not found). */
int queue_is_cancelled(struct db *db, const char *id, int *cancelled, struct fmd_err *err);
/* Pauses or resumes a queue; FMD_ENOTFOUND for an unknown one. */
int queue_set_paused(struct db *db, const char *name, int paused, struct fmd_err *err);

/*
 * {id, kind, queue, state, priority, attempts, max_attempts, progress, result, error, ...,
 *  runs: [{attempt, worker, started_at, ended_at, outcome}]} (runs: the lease history,
 * kept by the database for every claim: outcome completed, failed, discarded, released,
 * expired, cancelled, or null while it runs).
 */
int queue_task_json(struct db *db, const char *id, json_t **out, char project_id[ID_LEN + 1],
                    struct fmd_err *err);
struct queue_filter {
    const char *state, *queue, *kind;   /* NULL: any */
    const char *cursor;
    int limit;
};

/* Tasks newest first as {items, next_cursor}. */
int queue_task_list(struct db *db, const struct queue_filter *f, json_t **page,
                    struct fmd_err *err);
/* [{name, paused, depth, scheduled, running, discarded, oldest_age_ms,
 *   completed_last_minute}] */
int queue_stats_json(struct db *db, int64_t now, json_t **out, struct fmd_err *err);

#endif
