/* worker.c - dispatcher, worker threads, heartbeats, reaper, retention. */
#include "queue/worker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/rand.h"
#include "metrics/metrics.h"
#include "queue/periodic.h"
#include "core/banned.h"

#define MAX_KINDS 64
#define MAX_WORKERS 1024
#define MAX_QUEUES 16
#define SCHEDULE_MAX 256
#define IDLE_WAIT_MS 100
/* With a LISTEN connection up, polling is only the fallback (scheduled tasks, retries). */
#define LISTEN_IDLE_WAIT_MS 500
#define LISTEN_WAIT_MS 200          /* how long one wait for notifications may block */
#define LISTEN_RETRY_MS 1000        /* pause before reconnecting a lost listener */

struct kind_entry {
    char kind[QUEUE_KIND_MAX + 1];
    queue_handler fn;
};

static struct kind_entry kinds[MAX_KINDS];

/* What one worker thread runs, so a cancel can reach its handler. Under the pool's lock. */
struct running_slot {
    char id[ID_LEN + 1];        /* "" when idle */
    atomic_int cancelled;
};
static int nkinds;

struct queue_pool {
    struct queue_pool_opts o;
    char worker_id[96];
    pthread_t dispatcher;
    pthread_t listener;
    int has_listener;
    atomic_int listening;       /* the LISTEN connection is up */
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t work;        /* workers wait for ready tasks */
    pthread_cond_t wake;        /* the dispatcher waits for room or news */
    struct queue_task *ready;   /* ring of claimed, unstarted tasks */
    int ready_head, ready_len;
    int running;
    struct running_slot *slots; /* one per worker thread: the task it runs */
    int woken;
    atomic_int stopping;
    const char *schedule[SCHEDULE_MAX];   /* queue names repeated by weight */
    int schedule_ix[SCHEDULE_MAX];        /* each one's index in the weights */
    int nschedule, cursor;
    atomic_int off[MAX_QUEUES];           /* by weight index: not served now */
    pthread_mutex_t out_lock;      /* guards the outcome list below */
    pthread_cond_t flushed;
    struct outcome *outcomes;      /* recorded, not yet taken by a flush */
    int flush_pending;             /* a flush is queued that has not taken the list */
    int flushes;                   /* flush jobs submitted and not yet done */
};

static const struct queue_weight default_weights[] = {
    {"critical", 8, 0}, {"high", 4, 0}, {"default", 2, 0}, {"low", 1, 0},
};

static struct metric *m_outcomes, *m_wait, *m_run, *m_rescued, *m_claimed;

static void metrics_init(void)
{
    static const char *const outcome_labels[] = {"queue", "kind", "outcome", NULL};
    static const char *const queue_labels[] = {"queue", NULL};
    static const double secs[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                  1,     2.5,   5,    10,    30,   60,  300};
    const size_t nsecs = sizeof(secs) / sizeof(secs[0]);

    m_outcomes = metric_register("formd_queue_tasks_finished_total",
                                 "Task attempts by outcome (completed, retried, discarded, cancelled, released)",
                                 METRIC_COUNTER, outcome_labels, NULL, 0);
    m_wait = metric_register("formd_queue_wait_seconds",
                             "Time from a task becoming runnable to its start",
                             METRIC_HISTOGRAM, queue_labels, secs, nsecs);
    m_run = metric_register("formd_queue_run_seconds", "Time a handler ran",
                            METRIC_HISTOGRAM, queue_labels, secs, nsecs);
    m_rescued = metric_register("formd_queue_lease_rescues_total",
                                "Tasks whose worker died, made retryable again",
                                METRIC_COUNTER, NULL, NULL, 0);
    m_claimed = metric_register("formd_queue_tasks_claimed_total", "Tasks claimed to run",
                                METRIC_COUNTER, queue_labels, NULL, 0);
}

int queue_register(const char *kind, queue_handler fn)
{
    int i;
    if (nkinds == MAX_KINDS || strlen(kind) > QUEUE_KIND_MAX)
        return FMD_EINVAL;
    for (i = 0; i < nkinds; i++)
        if (!strcmp(kinds[i].kind, kind))
            return FMD_EINVAL;
    fmd_strlcpy(kinds[nkinds].kind, kind, sizeof(kinds[nkinds].kind));
    kinds[nkinds++].fn = fn;
    return 0;
}

void queue_unregister_all(void)
{
    nkinds = 0;
}

static queue_handler handler_of(const char *kind)
{
    int i;
    for (i = 0; i < nkinds; i++)
        if (!strcmp(kinds[i].kind, kind))
            return kinds[i].fn;
    return NULL;
}

const char *queue_pool_worker_id(const struct queue_pool *p)
{
    return p->worker_id;
}

int queue_run_stopping(const struct queue_run *run)
{
    return atomic_load(&run->pool->stopping);
}

int queue_run_cancelled(const struct queue_run *run)
{
    return run->cancelled && atomic_load(run->cancelled);
}

void queue_pool_cancelled(struct queue_pool *p, const char *task_id)
{
    int i;

    if (!p || !task_id)
        return;
    pthread_mutex_lock(&p->lock);
    for (i = 0; i < p->o.workers; i++)
        if (!strcmp(p->slots[i].id, task_id))
            atomic_store(&p->slots[i].cancelled, 1);
    pthread_mutex_unlock(&p->lock);
}

/* ---- writer jobs ---- */

struct claim_job {
    struct queue_pool *p;
    struct queue_task *out;
    int want, got;
    int64_t now;
};

/*
 * Spreads `want` over the queues: first the queue the weighted schedule
 * points at (the cursor turns every round), then the others in schedule
 * order, each taking what it has until the want is met.
 */
static int claim_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct claim_job *c = arg;
    struct queue_pool *p = c->p;
    const char *tried[MAX_QUEUES];
    int ntried = 0, i, k, rc;

    for (i = 0; i < p->nschedule && c->got < c->want; i++) {
        const char *q = p->schedule[(p->cursor + i) % p->nschedule];
        int seen = 0, got = 0;
        if (atomic_load(&p->off[p->schedule_ix[(p->cursor + i) % p->nschedule]]))
            continue;
        for (k = 0; k < ntried; k++)
            seen |= tried[k] == q;
        if (seen)
            continue;
        tried[ntried++] = q;
        if ((rc = queue_claim(db, q, p->worker_id, c->want - c->got, c->now, p->o.lease_ms,
                              c->out + c->got, &got, err)))
            return rc;
        c->got += got;
    }
    p->cursor = (p->cursor + 1) % p->nschedule;
    return 0;
}

/*
 * Outcomes are recorded in batches: workers append to the pool's list and
 * the first to find no flush under way submits one; that flush, when the
 * writer runs it, takes every outcome listed by then. So a busy pool writes
 * many outcomes per writer job instead of one job (and savepoint) each.
 */
struct outcome {
    struct outcome *next;
    char id[ID_LEN + 1];
    char *result;
    char error[512];
    int failed, permanent;
    int given_back;            /* stopped by the pool's shutdown: available again, attempt undone */
    int64_t retry_after_ms;
};

struct flush_job {
    struct queue_pool *p;
    struct outcome *taken;
};

/*
 * Writes the outcomes taken: plain completions (no result) in one statement
 * for all, the rest one by one.
 */
static int flush_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct flush_job *f = arg;
    struct queue_pool *p = f->p;
    int64_t now = clock_wall_ms();
    struct outcome *o;
    struct buf ids;
    int rc = 0;

    pthread_mutex_lock(&p->out_lock);
    f->taken = p->outcomes;
    p->outcomes = NULL;
    p->flush_pending = 0;
    pthread_mutex_unlock(&p->out_lock);
    buf_init(&ids, (size_t)1 << 24);
    for (o = f->taken; o && !rc; o = o->next) {
        if (!o->failed && !o->result)
            rc = buf_printf(&ids, "%s\"%s\"", ids.len ? "," : "[", o->id) ? FMD_ENOMEM : 0;
        else if (o->given_back)
            rc = queue_release(db, o->id, p->worker_id, err);
        else if (o->failed)
            rc = queue_fail(db, o->id, p->worker_id, o->error, o->permanent, o->retry_after_ms,
                            now, err);
        else
            rc = queue_complete(db, o->id, p->worker_id, o->result, now, err);
    }
    if (!rc && ids.len && !(rc = buf_addc(&ids, ']') ? FMD_ENOMEM : 0))
        rc = queue_complete_many(db, ids.p, p->worker_id, now, err);
    if (rc == FMD_ENOMEM)
        fmd_errf(err, rc, "out of memory");
    buf_release(&ids);
    return rc;
}

static void flush_done(void *arg, int rc, const struct fmd_err *err)
{
    struct flush_job *f = arg;
    struct queue_pool *p = f->p;
    struct outcome *o, *next;

    if (rc)
        log_error("cannot record task outcomes: %s (those tasks will run again)",
                  err ? err->msg : "");
    for (o = f->taken; o; o = next) {
        next = o->next;
        fmd_free(o->result);
        fmd_free(o);
    }
    fmd_free(f);
    pthread_mutex_lock(&p->out_lock);
    p->flushes--;
    pthread_cond_broadcast(&p->flushed);
    pthread_mutex_unlock(&p->out_lock);
}

/* Lists an outcome and makes sure a flush will take it. */
static void record_outcome(struct queue_pool *p, struct outcome *o)
{
    struct flush_job *f = NULL;

    pthread_mutex_lock(&p->out_lock);
    o->next = p->outcomes;
    p->outcomes = o;
    if (!p->flush_pending && (f = fmd_calloc(1, sizeof(*f)))) {
        p->flush_pending = 1;
        p->flushes++;
    }
    pthread_mutex_unlock(&p->out_lock);
    if (!f)
        return;
    f->p = p;
    if (db_writer_submit(p->o.writer, flush_write, flush_done, f)) {
        /* Not queued: the next outcome tries again; these wait for it. */
        fmd_free(f);
        pthread_mutex_lock(&p->out_lock);
        p->flush_pending = 0;
        p->flushes--;
        pthread_mutex_unlock(&p->out_lock);
    }
}

struct id_job {
    char id[ID_LEN + 1];
    char worker[96];
    double progress;
};

static int release_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct id_job *j = arg;
    return queue_release(db, j->id, j->worker, err);
}

static int progress_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct id_job *j = arg;
    return queue_progress(db, j->id, j->worker, j->progress, err);
}

static void free_done(void *arg, int rc, const struct fmd_err *err)
{
    fmd_free(arg);
}

void queue_run_progress(struct queue_run *run, double progress)
{
    struct id_job *j = fmd_calloc(1, sizeof(*j));
    if (!j)
        return;
    fmd_strlcpy(j->id, run->task->id, sizeof(j->id));
    fmd_strlcpy(j->worker, run->pool->worker_id, sizeof(j->worker));
    j->progress = progress;
    if (db_writer_submit(run->pool->o.writer, progress_write, free_done, j))
        fmd_free(j);
}

/* ---- workers ---- */

static void run_one(struct queue_pool *p, struct queue_task *t, struct running_slot *slot)
{
    struct queue_run run = {0};
    struct outcome *o = fmd_calloc(1, sizeof(*o));
    queue_handler fn = handler_of(t->kind);
    const char *labels[] = {t->queue, t->kind, NULL};
    uint64_t t0 = clock_mono_ns();
    int rc;

    metric_observe(m_wait, labels, (double)(clock_wall_ms() - t->run_at) / 1000.0);
    log_set_context(t->id, t->trace_id[0] ? t->trace_id : NULL);
    run.task = t;
    run.app = p->o.app;
    run.pool = p;
    run.cancelled = &slot->cancelled;
    run.payload = json_loads(t->payload, JSON_DECODE_ANY, NULL);
    if (!fn) {
        rc = FMD_EINVAL;
        snprintf(run.error, sizeof(run.error), "no handler for task kind '%s'", t->kind);
        run.permanent = 1;
    } else {
        rc = fn(&run);
        if (rc && !run.error[0])
            snprintf(run.error, sizeof(run.error), "%s", fmd_err_msg(rc));
    }
    metric_observe(m_run, labels, (double)(clock_mono_ns() - t0) / 1e9);
    labels[2] = rc ? (run.permanent || t->attempt >= t->max_attempts ? "discarded" : "retried")
                   : "completed";
    if (queue_run_cancelled(&run))
        labels[2] = "cancelled";   /* its outcome changes nothing: the task stays cancelled */
    else if (rc && queue_run_stopping(&run))
        labels[2] = "released";    /* it stopped because the pool is stopping: not its fault */
    metric_inc(m_outcomes, labels, 1);
    if (rc && queue_run_cancelled(&run))
        log_info("task %s (%s) stopped: it was cancelled", t->id, t->kind);
    else if (rc && queue_run_stopping(&run))
        log_info("task %s (%s) stopped for the shutdown: it will run again", t->id, t->kind);
    else if (rc)
        log_warn("task %s (%s) attempt %d failed: %s", t->id, t->kind, t->attempt, run.error);
    log_set_context(NULL, NULL);
    json_decref(run.payload);
    if (!o) {
        fmd_free(run.result);
        return;   /* its lease runs out and the task runs again */
    }
    fmd_strlcpy(o->id, t->id, sizeof(o->id));
    o->result = run.result;
    o->failed = rc != 0;
    o->given_back = rc && !queue_run_cancelled(&run) && queue_run_stopping(&run);
    o->permanent = run.permanent;
    o->retry_after_ms = run.retry_after_ms;
    fmd_strlcpy(o->error, run.error, sizeof(o->error));
    record_outcome(p, o);
}

/* An idle slot; under the lock. There is one per thread, so one is always free. */
static struct running_slot *free_slot(struct queue_pool *p)
{
    int i;

    for (i = 0; i < p->o.workers; i++)
        if (!p->slots[i].id[0])
            return &p->slots[i];
    FMD_BUG("no idle slot for a worker thread");
}

static void *worker_main(void *arg)
{
    struct queue_pool *p = arg;
    for (;;) {
        struct running_slot *slot;
        struct queue_task t;
        pthread_mutex_lock(&p->lock);
        while (!p->ready_len && !atomic_load(&p->stopping))
            pthread_cond_wait(&p->work, &p->lock);
        if (!p->ready_len) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        t = p->ready[p->ready_head];
        p->ready_head = (p->ready_head + 1) % p->o.workers;
        p->ready_len--;
        p->running++;
        slot = free_slot(p);
        fmd_strlcpy(slot->id, t.id, sizeof(slot->id));
        atomic_store(&slot->cancelled, 0);
        pthread_mutex_unlock(&p->lock);

        run_one(p, &t, slot);
        queue_task_release(&t);

        pthread_mutex_lock(&p->lock);
        slot->id[0] = '\0';
        p->running--;
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
}

/* ---- dispatcher ---- */

#define CLAIM_MAX 256

/* Claims up to want (<= CLAIM_MAX) tasks into the ready ring; returns how many. */
static int claim_round(struct queue_pool *p, int want)
{
    struct queue_task got[CLAIM_MAX];
    struct claim_job c = {.p = p, .out = got, .want = want, .now = clock_wall_ms()};
    struct fmd_err err = {0};
    int i;

    if (db_writer_run(p->o.writer, claim_write, &c, &err)) {
        log_error("claiming tasks failed: %s", err.msg);
        return 0;
    }
    pthread_mutex_lock(&p->lock);
    for (i = 0; i < c.got; i++) {
        const char *labels[] = {got[i].queue, NULL};
        p->ready[(p->ready_head + p->ready_len) % p->o.workers] = got[i];
        p->ready_len++;
        metric_inc(m_claimed, labels, 1);
        /* One waiter per task: a broadcast would wake the whole pool for each claim. */
        pthread_cond_signal(&p->work);
    }
    pthread_mutex_unlock(&p->lock);
    return c.got;
}

struct heartbeat_job {
    struct queue_pool *p;
    int64_t now;
    int rescued, periodic;
    int reap;
    char (*running)[ID_LEN + 1];   /* this pool's running tasks, to look for cancels */
    int nrunning;
    int *cancelled;                /* per running task: 1 once cancelled */
};

/* Heartbeat; and, when reap is set, rescue dead workers' tasks and run the cron. */
static int upkeep_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct heartbeat_job *h = arg;
    int rc = queue_heartbeat(db, h->p->worker_id, h->now + h->p->o.lease_ms, err);
    int i;

    /* A cancel made by another process reaches the handler here. */
    for (i = 0; !rc && i < h->nrunning; i++)
        rc = queue_is_cancelled(db, h->running[i], &h->cancelled[i], err);
    if (!rc && h->reap)
        rc = queue_reap(db, h->now, &h->rescued, err);
    if (!rc && h->reap)
        rc = queue_periodic_run(db, h->now, &h->periodic, err);
    return rc;
}

static void upkeep(struct queue_pool *p, int64_t now, int reap)
{
    char running[MAX_WORKERS][ID_LEN + 1];
    int cancelled[MAX_WORKERS] = {0};
    struct heartbeat_job h = {.p = p, .now = now, .reap = reap, .running = running,
                              .cancelled = cancelled};
    struct fmd_err err = {0};
    int i;

    pthread_mutex_lock(&p->lock);
    for (i = 0; i < p->o.workers && h.nrunning < MAX_WORKERS; i++)
        if (p->slots[i].id[0])
            fmd_strlcpy(running[h.nrunning++], p->slots[i].id, ID_LEN + 1);
    pthread_mutex_unlock(&p->lock);
    if (db_writer_run(p->o.writer, upkeep_write, &h, &err)) {
        log_error("queue upkeep failed: %s", err.msg);
        return;
    }
    for (i = 0; i < h.nrunning; i++)
        if (cancelled[i])
            queue_pool_cancelled(p, running[i]);
    if (h.rescued) {
        metric_inc0(m_rescued, h.rescued);
        log_warn("%d tasks of stopped workers made retryable", h.rescued);
    }
}

/* ---- listener: wake-ups from other processes ---- */

static void *listener_main(void *arg)
{
    struct queue_pool *p = arg;
    struct db *db = NULL;
    int warned = 0;

    while (!atomic_load(&p->stopping)) {
        struct fmd_err err = {0};
        int rc;

        if (!db) {
            if ((rc = db_open(p->o.listen_target, 0, &db, &err)) ||
                (rc = db_listen(db, QUEUE_CHANNEL, &err))) {
                if (!warned++)
                    log_warn("cannot listen for new tasks (polling meanwhile): %s", err.msg);
                db_close(db);
                db = NULL;
                for (rc = 0; rc < LISTEN_RETRY_MS / 100 && !atomic_load(&p->stopping); rc++)
                    usleep(100 * 1000);
                continue;
            }
            if (warned)
                log_info("listening for new tasks again");
            warned = 0;
            atomic_store(&p->listening, 1);
            queue_pool_wake(p);     /* what was announced while down */
        }
        rc = db_wait(db, LISTEN_WAIT_MS, &err);
        if (rc > 0) {
            queue_pool_wake(p);
        } else if (rc < 0) {
            atomic_store(&p->listening, 0);
            log_warn("lost the connection listening for new tasks: %s", err.msg);
            warned = 1;
            db_close(db);
            db = NULL;
        }
    }
    atomic_store(&p->listening, 0);
    db_close(db);
    return NULL;
}

static void *dispatcher_main(void *arg)
{
    struct queue_pool *p = arg;
    int64_t next_beat = 0, next_reap = 0;

    while (!atomic_load(&p->stopping)) {
        int64_t now = clock_wall_ms();
        int free_slots, want, got;

        if (now >= next_beat || now >= next_reap) {
            upkeep(p, now, now >= next_reap);
            if (now >= next_reap)
                next_reap = now + p->o.reap_ms;
            next_beat = now + p->o.heartbeat_ms;
        }
        pthread_mutex_lock(&p->lock);
        free_slots = p->o.workers - p->running - p->ready_len;
        p->woken = 0;
        pthread_mutex_unlock(&p->lock);
        want = free_slots < CLAIM_MAX ? free_slots : CLAIM_MAX;
        got = want > 0 ? claim_round(p, want) : 0;

        /*
         * Claim again at once while claims come back full and there is room;
         * otherwise sleep until new work is announced, a worker frees a slot,
         * or the tick (scheduled tasks and upkeep).
         */
        pthread_mutex_lock(&p->lock);
        free_slots = p->o.workers - p->running - p->ready_len;
        if (!p->woken && !atomic_load(&p->stopping) && (free_slots <= 0 || got < want)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (atomic_load(&p->listening) ? LISTEN_IDLE_WAIT_MS : IDLE_WAIT_MS) *
                          1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&p->wake, &p->lock, &ts);
        }
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

void queue_pool_wake(struct queue_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->woken = 1;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

/*
 * The weighted schedule, interleaved: critical:8 high:4 default:2 low:1
 * gives c h d l c h d c h c h c c c c, so every queue has a turn each cycle
 * and the heavy queue's turns are spread over it.
 */
static void build_schedule(struct queue_pool *p)
{
    const struct queue_weight *w = p->o.weights ? p->o.weights : default_weights;
    int n = p->o.weights ? p->o.nweights : 4, i, round, maxw = 1;

    if (n > MAX_QUEUES)
        n = MAX_QUEUES;
    for (i = 0; i < n; i++)
        if (w[i].weight > maxw)
            maxw = w[i].weight;
    p->nschedule = 0;
    for (i = 0; i < n; i++)
        atomic_store(&p->off[i], w[i].off);
    for (round = 0; round < maxw; round++)
        for (i = 0; i < n && p->nschedule < SCHEDULE_MAX; i++)
            if (round < (w[i].weight > 0 ? w[i].weight : 1)) {
                p->schedule_ix[p->nschedule] = i;
                p->schedule[p->nschedule++] = w[i].queue;
            }
}

int queue_pool_serve(struct queue_pool *p, const char *queue, int on)
{
    const struct queue_weight *w = p->o.weights ? p->o.weights : default_weights;
    int n = p->o.weights ? p->o.nweights : 4, i;

    for (i = 0; i < n && i < MAX_QUEUES; i++)
        if (!strcmp(w[i].queue, queue)) {
            atomic_store(&p->off[i], !on);
            if (on)
                queue_pool_wake(p);
            return 0;
        }
    return FMD_ENOTFOUND;
}

int queue_pool_start(const struct queue_pool_opts *o, struct queue_pool **out,
                     struct fmd_err *err)
{
    struct queue_pool *p;
    char host[64] = "host";
    char tag[9];
    int i;

    *out = NULL;
    if (o->workers < 1 || o->workers > MAX_WORKERS)
        return fmd_errf(err, FMD_EINVAL, "workers must be 1 to 1024");
    if (!(p = fmd_calloc(1, sizeof(*p))))
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    p->o = *o;
    if (!p->o.lease_ms)
        p->o.lease_ms = 15000;
    if (!p->o.heartbeat_ms)
        p->o.heartbeat_ms = p->o.lease_ms / 3;
    if (!p->o.reap_ms)
        p->o.reap_ms = 1000;
    gethostname(host, sizeof(host) - 1);
    rand_fast_hex(tag, 4);
    snprintf(p->worker_id, sizeof(p->worker_id), "%.60s:%d:%s", host, (int)getpid(), tag);
    build_schedule(p);
    metrics_init();
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_mutex_init(&p->out_lock, NULL);
    pthread_cond_init(&p->flushed, NULL);
    p->ready = fmd_calloc((size_t)o->workers, sizeof(*p->ready));
    p->threads = fmd_calloc((size_t)o->workers, sizeof(*p->threads));
    p->slots = fmd_calloc((size_t)o->workers, sizeof(*p->slots));
    if (!p->ready || !p->threads || !p->slots) {
        fmd_free(p->ready);
        fmd_free(p->threads);
        fmd_free(p->slots);
        fmd_free(p);
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    }
    for (i = 0; i < o->workers; i++)
        pthread_create(&p->threads[i], NULL, worker_main, p);
    pthread_create(&p->dispatcher, NULL, dispatcher_main, p);
    if (p->o.listen_target && *p->o.listen_target)
        p->has_listener = !pthread_create(&p->listener, NULL, listener_main, p);
    *out = p;
    return 0;
}

static int release_all(struct queue_pool *p, int running_too)
{
    struct fmd_err err = {0};
    struct id_job j = {0};
    int n = 0;

    fmd_strlcpy(j.worker, p->worker_id, sizeof(j.worker));
    pthread_mutex_lock(&p->lock);
    while (p->ready_len) {
        struct queue_task t = p->ready[p->ready_head];
        p->ready_head = (p->ready_head + 1) % p->o.workers;
        p->ready_len--;
        pthread_mutex_unlock(&p->lock);
        fmd_strlcpy(j.id, t.id, sizeof(j.id));
        if (!db_writer_run(p->o.writer, release_write, &j, &err))
            n++;
        queue_task_release(&t);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    if (running_too) {
        /*
         * Handlers overran the deadline: end their leases now (a heartbeat
         * to the past), so the next reaper anywhere makes them retryable.
         */
        struct heartbeat_job h = {.p = p, .now = clock_wall_ms() - p->o.lease_ms - 1};
        db_writer_run(p->o.writer, upkeep_write, &h, &err);
    }
    return n;
}

void queue_pool_stop(struct queue_pool *p, int64_t deadline_ms)
{
    int64_t until = clock_wall_ms() + deadline_ms;
    int i, running;

    if (!p)
        return;
    atomic_store(&p->stopping, 1);
    queue_pool_wake(p);
    pthread_join(p->dispatcher, NULL);
    if (p->has_listener)
        pthread_join(p->listener, NULL);
    release_all(p, 0);
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    do {
        pthread_mutex_lock(&p->lock);
        running = p->running;
        pthread_mutex_unlock(&p->lock);
        if (running)
            usleep(10 * 1000);
    } while (running && clock_wall_ms() < until);
    if (running) {
        log_warn("%d tasks still running at the shutdown deadline: releasing them", running);
        release_all(p, 1);
    }
    for (i = 0; i < p->o.workers; i++)
        pthread_join(p->threads[i], NULL);
    /* Outcomes still listed get a last flush; then wait for every flush to be done. */
    pthread_mutex_lock(&p->out_lock);
    if (p->outcomes && !p->flush_pending) {
        struct outcome *last = p->outcomes;
        p->outcomes = last->next;
        pthread_mutex_unlock(&p->out_lock);
        record_outcome(p, last);
        pthread_mutex_lock(&p->out_lock);
    }
    while (p->flushes)
        pthread_cond_wait(&p->flushed, &p->out_lock);
    pthread_mutex_unlock(&p->out_lock);
    while (p->outcomes) {          /* a flush could not be queued: they will run again */
        struct outcome *o = p->outcomes;
        p->outcomes = o->next;
        fmd_free(o->result);
        fmd_free(o);
    }
    pthread_mutex_destroy(&p->out_lock);
    pthread_cond_destroy(&p->flushed);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->wake);
    fmd_free(p->ready);
    fmd_free(p->threads);
    fmd_free(p->slots);
    fmd_free(p);
}
