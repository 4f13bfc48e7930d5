/*
 * worker.h - the worker pool: claims tasks, runs their handlers, records
 * the outcome, keeps leases alive, rescues tasks of dead workers.
 *
 * One dispatcher thread claims runnable tasks in batches through the group
 * commit, spreading the free slots over the queues by weight (a rotating
 * weighted schedule, so the lowest queue still gets its turn), and hands
 * them to N worker threads. Outcomes are written back through the writer
 * without waiting: a crash before that commit only means the task runs
 * again (at-least-once), never that an outcome is claimed that is not on
 * disk. The same thread renews the leases of this pool's running tasks
 * (heartbeat), turns expired leases of dead workers into retries (reaper)
 * and enqueues periodic tasks that are due (queue/periodic.h). With
 * listen_target a second thread holds a LISTEN connection and wakes the
 * dispatcher when another process commits work.
 */
#ifndef FMD_QUEUE_WORKER_H
#define FMD_QUEUE_WORKER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/err.h"
#include "db/writer.h"
#include "queue/queue.h"

struct queue_pool;

/* What a handler gets for one attempt of one task. */
struct queue_run {
    const struct queue_task *task;
    json_t *payload;           /* the parsed payload (borrowed) */
    void *app;                 /* queue_pool_opts.app */
    char *result;              /* set by the handler: JSON text, fmd_malloc'd, or NULL */
    char error[512];           /* set by the handler on failure */
    int permanent;             /* set by the handler: do not retry */
    int64_t retry_after_ms;    /* set by the handler: retry after exactly this long */
    struct queue_pool *pool;
    atomic_int *cancelled;     /* set once the task is cancelled (queue_run_cancelled) */
};

/* 0 when the task succeeded; anything else is a failed attempt. */
typedef int (*queue_handler)(struct queue_run *run);

struct queue_weight {
    const char *queue;
    int weight;
    int off;        /* not served until queue_pool_serve turns it on */
};

struct queue_pool_opts {
    struct db_writer *writer;
    int workers;                       /* threads running handlers */
    int64_t lease_ms;                  /* default 15000 */
    int64_t heartbeat_ms;              /* default lease_ms / 3 */
    int64_t reap_ms;                   /* how often dead workers' tasks and due periodic
                                          tasks are looked for: 1000 */
    /*
     * A database that announces new work to other processes (PostgreSQL):
     * the pool keeps one connection to it listening on QUEUE_CHANNEL and
     * claims as soon as work is announced, polling only as a fallback. NULL
     * (SQLite, or behind a pooler in transaction mode, where LISTEN does
     * not work): poll every 100 ms, and queue_pool_wake for this process.
     */
    const char *listen_target;
    const struct queue_weight *weights;   /* NULL: critical 8, high 4, default 2, low 1 */
    int nweights;
    void *app;
};

/*
 * Registers the handler for a task kind. Call before starting pools; not
 * thread-safe against running pools. FMD_EINVAL when the table is full or
 * the kind is registered already.
 */
int queue_register(const char *kind, queue_handler fn);
/* Forgets every handler (tests). */
void queue_unregister_all(void);

int queue_pool_start(const struct queue_pool_opts *o, struct queue_pool **out,
                     struct fmd_err *err);
/* Wakes the dispatcher: new work was committed. Thread-safe. */
void queue_pool_wake(struct queue_pool *p);
/*
 * Stops claiming, gives back tasks claimed but not started, waits up to
 * deadline_ms for running handlers, releases the leases of those still
 * running so others can take them, then waits for the threads and frees p.
 */
void queue_pool_stop(struct queue_pool *p, int64_t deadline_ms);
/*
 * Starts (on = 1) or stops (0) claiming from queue, one of the pool's
 * weights: for a queue only one process may serve at a time, such as the
 * analytics node's. Tasks already claimed run on. Thread-safe;
 * FMD_ENOTFOUND when the queue is not among the weights.
 */
int queue_pool_serve(struct queue_pool *p, const char *queue, int on);
/* This pool's worker id, as stored in tasks.worker. */
const char *queue_pool_worker_id(const struct queue_pool *p);

/* From inside a handler: report progress (0..1), asynchronously. */
void queue_run_progress(struct queue_run *run, double progress);
/*
 * From inside a handler: 1 once the pool is stopping. A long handler should
 * return: a failure it returns then gives the task back (available again,
 * the attempt not counted) instead of counting as a failed attempt.
 */
int queue_run_stopping(const struct queue_run *run);
/*
 * From inside a handler: 1 once the task has been cancelled while running.
 * Its outcome will not be recorded (the task stays cancelled), so a long
 * handler should stop its work and return. Known at once when the cancel
 * went through this process (queue_pool_cancelled), else by the next
 * heartbeat (lease_ms / 3).
 */
int queue_run_cancelled(const struct queue_run *run);
/* Tells the pool that task_id was cancelled, in case it runs here. Thread-safe. */
void queue_pool_cancelled(struct queue_pool *p, const char *task_id);

#endif
