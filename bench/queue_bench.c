/*
 * queue_bench.c - formd's durable task queue under load, for bench/queue.sh.
 *
 *   queue_bench DIR
 *
 * Creates DIR/queue.db (WAL, synchronous=FULL, as db_open sets it up),
 * migrates it, starts the group-commit writer and a worker pool with a
 * no-op handler for "bench.noop", then runs two phases:
 *
 *   saturated    BENCH_TASKS tasks (20000) enqueued by BENCH_PRODUCERS
 *                threads (4), each keeping up to BENCH_INFLIGHT (16)
 *                enqueues in flight, like that many clients each waiting
 *                for its answer (64 in all). Every enqueue is its own writer job
 *                (db_writer_submit), so concurrent enqueues share fsyncs
 *                through group commit, and counts as acknowledged only in
 *                its done callback, after its commit is durable. Each ack
 *                wakes the pool. The clock runs from the first enqueue to
 *                the commit of the last completion.
 *   unsaturated  one thread enqueues at BENCH_RATE per second (500) for
 *                BENCH_SECONDS (3), open loop (on schedule, not waiting
 *                for acks).
 *
 * The payload is {"i": index, "t": enqueue time in Unix microseconds}, taken
 * just before the job is submitted; the handler takes its start time and
 * keeps the difference, so enqueue-to-start includes the wait for the
 * enqueue's commit. Other knobs: BENCH_WORKERS (handler threads, 100),
 * BENCH_BATCH (most jobs per writer transaction, 1024).
 *
 * Prints one line to stdout:
 *   tasks N secs S tasks_per_s R p50_ms A p99_ms B unsat_tasks M unsat_p50_ms C unsat_p99_ms D
 * Progress, the configuration and the writer's transaction counts per phase
 * (how many, jobs per transaction, time per transaction: the writer is the
 * one place all the queue's work goes through) go to stderr. Exits 1 when
 * anything fails.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/migrate.h"
#include "db/writer.h"
#include "queue/queue.h"
#include "queue/worker.h"

#define KIND "bench.noop"

struct phase {
    int n;                      /* tasks in this phase */
    int64_t *lat_us;            /* enqueue-to-start per task, -1 until it ran */
    atomic_int ran;             /* handler runs */
    atomic_int acked;           /* durable enqueues */
    atomic_int failed;          /* enqueues whose commit failed */
    pthread_mutex_t lock;
    pthread_cond_t cond;        /* signalled when ran reaches n */
};

struct producer {
    struct phase *ph;
    int first, count;           /* its slice of task indexes */
    sem_t window;               /* free in-flight slots */
};

struct enq_job {
    struct producer *pr;        /* NULL in the unsaturated phase */
    struct phase *ph;
    int i;
    int64_t t_us;
};

static struct db_writer *writer;
static struct queue_pool *pool;
static struct phase *_Atomic current;
static atomic_long batches, batched_jobs, commit_us;

/* The writer's observer: how many transactions, how full, how long. */
static void observe_batch(int n, double seconds)
{
    atomic_fetch_add(&batches, 1);
    atomic_fetch_add(&batched_jobs, n);
    atomic_fetch_add(&commit_us, (long)(seconds * 1e6));
}

static void report_batches(const char *what)
{
    long b = atomic_exchange(&batches, 0), j = atomic_exchange(&batched_jobs, 0);
    long us = atomic_exchange(&commit_us, 0);
    fprintf(stderr, "formd %s: %ld writer transactions, %.1f jobs each, %.2f ms each\n", what, b,
            b ? (double)j / b : 0.0, b ? us / 1000.0 / b : 0.0);
}

static int env_int(const char *name, int def, int min)
{
    const char *s = getenv(name);
    char *end;
    long v;
    if (!s || !*s)
        return def;
    v = strtol(s, &end, 10);
    if (*end || v < min || v > 100000000) {
        fprintf(stderr, "queue_bench: %s must be an integer >= %d\n", name, min);
        exit(1);
    }
    return (int)v;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_until_us(int64_t t)
{
    int64_t d = t - now_us();
    if (d > 0)
        usleep((useconds_t)d);
}

static int phase_init(struct phase *ph, int n)
{
    int i;
    memset(ph, 0, sizeof(*ph));
    ph->n = n;
    if (!(ph->lat_us = malloc((size_t)n * sizeof(*ph->lat_us))))
        return -1;
    for (i = 0; i < n; i++)
        ph->lat_us[i] = -1;
    pthread_mutex_init(&ph->lock, NULL);
    pthread_cond_init(&ph->cond, NULL);
    return 0;
}

static void phase_release(struct phase *ph)
{
    free(ph->lat_us);
    pthread_mutex_destroy(&ph->lock);
    pthread_cond_destroy(&ph->cond);
}

/* The no-op task: note when it started relative to its enqueue. */
static int noop_handler(struct queue_run *run)
{
    int64_t start = now_us();
    struct phase *ph = atomic_load(&current);
    json_int_t i = json_integer_value(json_object_get(run->payload, "i"));
    json_int_t t = json_integer_value(json_object_get(run->payload, "t"));

    if (ph && i >= 0 && i < ph->n) {
        ph->lat_us[i] = start - (int64_t)t;
        if (atomic_fetch_add(&ph->ran, 1) + 1 == ph->n) {
            pthread_mutex_lock(&ph->lock);
            pthread_cond_broadcast(&ph->cond);
            pthread_mutex_unlock(&ph->lock);
        }
    }
    return 0;
}

static int enqueue_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct enq_job *j = arg;
    char payload[64], id[ID_LEN + 1];
    struct queue_new t = {.kind = KIND, .payload = payload};
    int existing;
    snprintf(payload, sizeof(payload), "{\"i\":%d,\"t\":%lld}", j->i, (long long)j->t_us);
    return queue_enqueue(db, &t, id, &existing, err);
}

/* On the writer thread, after the commit: the enqueue is durable (or failed). */
static void enqueue_done(void *arg, int rc, const struct fmd_err *err)
{
    struct enq_job *j = arg;
    if (rc) {
        if (!atomic_fetch_add(&j->ph->failed, 1))
            fprintf(stderr, "queue_bench: enqueue failed: %s\n", err ? err->msg : "?");
    } else {
        atomic_fetch_add(&j->ph->acked, 1);
        queue_pool_wake(pool);
    }
    if (j->pr)
        sem_post(&j->pr->window);
    free(j);
}

static int submit(struct producer *pr, struct phase *ph, int i)
{
    struct enq_job *j = malloc(sizeof(*j));
    if (!j)
        return -1;
    j->pr = pr;
    j->ph = ph;
    j->i = i;
    j->t_us = now_us();
    if (db_writer_submit(writer, enqueue_write, enqueue_done, j)) {
        free(j);
        return -1;
    }
    return 0;
}

static void *producer_main(void *arg)
{
    struct producer *pr = arg;
    int k;
    for (k = 0; k < pr->count; k++) {
        sem_wait(&pr->window);
        if (submit(pr, pr->ph, pr->first + k)) {
            atomic_fetch_add(&pr->ph->failed, 1);
            sem_post(&pr->window);
        }
    }
    return NULL;
}

static int marker_write(struct db *db, void *arg, struct fmd_err *err)
{
    return 0;
}

static int count_completed(struct db *db, int *n)
{
    struct db_stmt *st;
    struct fmd_err err = {0};
    if (db_prepare(db, "SELECT COUNT(*) FROM tasks WHERE state = 'completed'", &st, &err) ||
        db_step(st, &err) != 1) {
        fprintf(stderr, "queue_bench: counting tasks: %s\n", err.msg);
        return -1;
    }
    *n = (int)db_col_int(st, 0);
    db_done(st);
    return 0;
}

/*
 * Waits until every task of ph has run and its completion is durable: the
 * outcomes are writer jobs submitted after the handler returned, so once
 * the handler count is reached, a marker job that commits after them proves
 * them on disk; the completed count confirms it.
 */
static int wait_completed(struct phase *ph, struct db *rdb, int want_total, int64_t timeout_us)
{
    int64_t until = now_us() + timeout_us;
    struct fmd_err err = {0};
    int n = 0;

    pthread_mutex_lock(&ph->lock);
    while (atomic_load(&ph->ran) < ph->n && now_us() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&ph->cond, &ph->lock, &ts);
    }
    pthread_mutex_unlock(&ph->lock);
    if (atomic_load(&ph->ran) < ph->n) {
        fprintf(stderr, "queue_bench: only %d of %d tasks ran in time\n", atomic_load(&ph->ran),
                ph->n);
        return -1;
    }
    for (;;) {
        if (db_writer_run(writer, marker_write, NULL, &err)) {
            fprintf(stderr, "queue_bench: marker: %s\n", err.msg);
            return -1;
        }
        if (count_completed(rdb, &n))
            return -1;
        if (n >= want_total)
            return 0;
        if (now_us() > until) {
            fprintf(stderr, "queue_bench: %d of %d completions durable in time\n", n, want_total);
            return -1;
        }
        usleep(200);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of the sorted array, in ms. */
static double pct_ms(const int64_t *sorted, int n, double p)
{
    int k = (int)(p / 100.0 * n + 0.999999) - 1;
    if (n == 0)
        return -1;
    if (k < 0)
        k = 0;
    if (k >= n)
        k = n - 1;
    return (double)sorted[k] / 1000.0;
}

static int sorted_latencies(struct phase *ph)
{
    int i;
    for (i = 0; i < ph->n; i++)
        if (ph->lat_us[i] < 0) {
            fprintf(stderr, "queue_bench: task %d never started\n", i);
            return -1;
        }
    qsort(ph->lat_us, (size_t)ph->n, sizeof(*ph->lat_us), cmp_i64);
    return 0;
}

int main(int argc, char **argv)
{
    int ntasks = env_int("BENCH_TASKS", 20000, 1);
    int nprod = env_int("BENCH_PRODUCERS", 4, 1);
    int inflight = env_int("BENCH_INFLIGHT", 16, 1);
    int workers = env_int("BENCH_WORKERS", 100, 1);
    int batch = env_int("BENCH_BATCH", 1024, 1);
    int rate = env_int("BENCH_RATE", 500, 1);
    int seconds = env_int("BENCH_SECONDS", 3, 1);
    int nunsat = rate * seconds;
    char target[4096];
    struct fmd_err err = {0};
    struct db *db = NULL;
    struct phase sat, unsat;
    struct producer *prods = NULL;
    pthread_t *threads = NULL;
    struct queue_pool_opts o = {0};
    int64_t t0, t1, step_us;
    double secs;
    int i, nsem = 0, rc = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: queue_bench DIR\n");
        return 2;
    }
    snprintf(target, sizeof(target), "%s/queue.db", argv[1]);
    if (phase_init(&sat, ntasks) || phase_init(&unsat, nunsat)) {
        fprintf(stderr, "queue_bench: out of memory\n");
        return 1;
    }
    if (db_open(target, 0, &db, &err) || migrate_up(db, -1, &err) ||
        db_writer_start(target, batch, &writer, &err)) {
        fprintf(stderr, "queue_bench: setting up '%s': %s\n", target, err.msg);
        goto out;
    }
    db_writer_set_observer(writer, observe_batch);
    if (queue_register(KIND, noop_handler)) {
        fprintf(stderr, "queue_bench: cannot register the handler\n");
        goto out;
    }
    o.writer = writer;
    o.workers = workers;
    if (queue_pool_start(&o, &pool, &err)) {
        fprintf(stderr, "queue_bench: starting the pool: %s\n", err.msg);
        goto out;
    }
    fprintf(stderr,
            "formd: %d tasks, %d producers x %d in flight, %d workers, writer batch %d; "
            "then %d/s for %d s\n",
            ntasks, nprod, inflight, workers, batch, rate, seconds);

    /* Saturated: all producers at once, each with its window of in-flight enqueues. */
    atomic_store(&current, &sat);
    prods = calloc((size_t)nprod, sizeof(*prods));
    threads = calloc((size_t)nprod, sizeof(*threads));
    if (!prods || !threads)
        goto out;
    for (i = 0; i < nprod; i++) {
        prods[i].ph = &sat;
        prods[i].first = (int)((int64_t)ntasks * i / nprod);
        prods[i].count = (int)((int64_t)ntasks * (i + 1) / nprod) - prods[i].first;
        sem_init(&prods[i].window, 0, (unsigned)inflight);
        nsem++;
    }
    t0 = now_us();
    for (i = 0; i < nprod; i++)
        pthread_create(&threads[i], NULL, producer_main, &prods[i]);
    for (i = 0; i < nprod; i++)
        pthread_join(threads[i], NULL);
    if (wait_completed(&sat, db, ntasks, 300 * 1000000LL))
        goto out;
    t1 = now_us();
    if (atomic_load(&sat.failed) || atomic_load(&sat.acked) != ntasks) {
        fprintf(stderr, "queue_bench: %d enqueues failed, %d acknowledged\n",
                atomic_load(&sat.failed), atomic_load(&sat.acked));
        goto out;
    }
    secs = (double)(t1 - t0) / 1e6;
    report_batches("saturated");

    /* Unsaturated: on a fixed schedule, whatever the acks do. */
    atomic_store(&current, &unsat);
    step_us = 1000000 / rate;
    t0 = now_us();
    for (i = 0; i < nunsat; i++) {
        sleep_until_us(t0 + (int64_t)i * step_us);
        if (submit(NULL, &unsat, i)) {
            fprintf(stderr, "queue_bench: cannot submit\n");
            goto out;
        }
    }
    if (wait_completed(&unsat, db, ntasks + nunsat, 60 * 1000000LL))
        goto out;
    if (atomic_load(&unsat.failed) || atomic_load(&unsat.acked) != nunsat) {
        fprintf(stderr, "queue_bench: unsaturated phase: %d enqueues failed\n",
                atomic_load(&unsat.failed));
        goto out;
    }
    report_batches("unsaturated");
    if (sorted_latencies(&sat) || sorted_latencies(&unsat))
        goto out;
    printf("tasks %d secs %.3f tasks_per_s %.0f p50_ms %.2f p99_ms %.2f "
           "unsat_tasks %d unsat_p50_ms %.2f unsat_p99_ms %.2f\n",
           ntasks, secs, ntasks / secs, pct_ms(sat.lat_us, ntasks, 50),
           pct_ms(sat.lat_us, ntasks, 99), nunsat, pct_ms(unsat.lat_us, nunsat, 50),
           pct_ms(unsat.lat_us, nunsat, 99));
    fflush(stdout);
    rc = 0;
out:
    atomic_store(&current, NULL);
    if (pool)
        queue_pool_stop(pool, 5000);
    if (writer)
        db_writer_stop(writer);
    if (db)
        db_close(db);
    for (i = 0; i < nsem; i++)
        sem_destroy(&prods[i].window);
    free(prods);
    free(threads);
    phase_release(&sat);
    phase_release(&unsat);
    return rc;
}
