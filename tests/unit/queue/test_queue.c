/*
 * test_queue.c - the task queue on a real SQLite database with the real
 * writer and worker pool: states, retries, unique keys, priorities,
 * weights, leases, cancellation, pause, shutdown. With FORMD_TEST_PG_URL
 * set, the same tests run on PostgreSQL (unit/db/db_target.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/mem.h"
#include "db/migrate.h"
#include "db/writer.h"
#include "queue/periodic.h"
#include "queue/queue.h"
#include "queue/worker.h"
#include "unit/db/db_target.h"

struct fixture {
    char target[256];
    struct db *db;            /* for direct reads and writes in the test */
    struct db_writer *w;
};

static int setup(void **state)
{
    static int n;
    struct fixture *f = fmd_calloc(1, sizeof(*f));
    struct fmd_err err = {0};
    char file[32];
    snprintf(file, sizeof(file), "queue-%d.db", n++);
    test_db_target(file, f->target, sizeof(f->target));
    assert_int_equal(db_open(f->target, 0, &f->db, &err), 0);
    assert_int_equal(migrate_up(f->db, -1, &err), 0);
    assert_int_equal(db_writer_start(f->target, 256, &f->w, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    db_writer_stop(f->w);
    db_close(f->db);
    fmd_free(f);
    queue_unregister_all();
    return 0;
}

static void enqueue(struct fixture *f, const char *kind, const char *queue, int priority,
                    const char *key, char id[ID_LEN + 1], int *existing)
{
    struct queue_new t = {.kind = kind, .queue = queue, .priority = priority, .unique_key = key};
    struct fmd_err err = {0};
    int ex = 0;
    assert_int_equal(queue_enqueue(f->db, &t, id, &ex, &err), 0);
    if (existing)
        *existing = ex;
}

static int count_state(struct fixture *f, const char *state)
{
    struct db_stmt *st;
    int n;
    assert_int_equal(db_prepare(f->db, "SELECT COUNT(*) FROM tasks WHERE state = $1", &st, NULL), 0);
    db_bind_text(st, 1, state);
    assert_int_equal(db_step(st, NULL), 1);
    n = (int)db_col_int(st, 0);
    db_done(st);
    return n;
}

static void wait_state(struct fixture *f, const char *state, int n, int seconds)
{
    int64_t until = clock_wall_ms() + seconds * 1000;
    while (count_state(f, state) != n && clock_wall_ms() < until)
        usleep(20 * 1000);
    assert_int_equal(count_state(f, state), n);
}

static atomic_int ran;

static int ok_handler(struct queue_run *run)
{
    atomic_fetch_add(&ran, 1);
    run->result = fmd_strdup("{\"ok\":true}");
    return 0;
}

static int fail_handler(struct queue_run *run)
{
    snprintf(run->error, sizeof(run->error), "boom on attempt %d", run->task->attempt);
    return FMD_EIO;
}

static int permanent_handler(struct queue_run *run)
{
    run->permanent = 1;
    snprintf(run->error, sizeof(run->error), "bad payload");
    return FMD_EINVAL;
}

static struct queue_pool *start_pool(struct fixture *f, int workers)
{
    struct queue_pool_opts o = {.writer = f->w, .workers = workers, .lease_ms = 2000};
    struct queue_pool *p;
    struct fmd_err err = {0};
    assert_int_equal(queue_pool_start(&o, &p, &err), 0);
    return p;
}

static void tasks_run_and_complete(void **state)
{
    struct fixture *f = *state;
    struct queue_pool *p;
    char id[ID_LEN + 1];
    json_t *j;
    int i;

    atomic_store(&ran, 0);
    assert_int_equal(queue_register("test.ok", ok_handler), 0);
    for (i = 0; i < 200; i++)
        enqueue(f, "test.ok", i % 2 ? "low" : "critical", 0, NULL, id, NULL);
    p = start_pool(f, 4);
    wait_state(f, "completed", 200, 20);
    queue_pool_stop(p, 5000);
    assert_int_equal(atomic_load(&ran), 200);
    assert_int_equal(queue_task_json(f->db, id, &j, (char[ID_LEN + 1]){0}, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "completed");
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 1);
    assert_true(json_is_true(json_object_get(json_object_get(j, "result"), "ok")));
    json_decref(j);
}

static void failures_retry_then_discard(void **state)
{
    struct fixture *f = *state;
    struct queue_new t = {.kind = "test.fail", .max_attempts = 2};
    struct queue_pool *p;
    char id[ID_LEN + 1], pid[ID_LEN + 1];
    json_t *j;
    int ex;

    assert_int_equal(queue_register("test.fail", fail_handler), 0);
    assert_int_equal(queue_register("test.permanent", permanent_handler), 0);
    assert_int_equal(queue_enqueue(f->db, &t, id, &ex, NULL), 0);
    t.kind = "test.permanent";
    t.max_attempts = 5;
    assert_int_equal(queue_enqueue(f->db, &t, pid, &ex, NULL), 0);
    p = start_pool(f, 2);
    /* Attempt 1 fails, waits 0.5-1 s of backoff, attempt 2 fails: discarded. */
    wait_state(f, "discarded", 2, 10);
    queue_pool_stop(p, 5000);
    assert_int_equal(queue_task_json(f->db, id, &j, pid, NULL), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "boom on attempt 2");
    json_decref(j);
}

static void backoff_grows_and_is_capped(void **state)
{
    assert_int_equal(queue_backoff_ms(1), 1000);
    assert_int_equal(queue_backoff_ms(2), 2000);
    assert_int_equal(queue_backoff_ms(5), 16000);
    assert_int_equal(queue_backoff_ms(40), 3600 * 1000);
}

static void unique_keys_return_the_pending_task(void **state)
{
    struct fixture *f = *state;
    char a[ID_LEN + 1], b[ID_LEN + 1], c[ID_LEN + 1];
    int existing;
    enqueue(f, "test.ok", NULL, 0, "export:form1", a, &existing);
    assert_int_equal(existing, 0);
    enqueue(f, "test.ok", NULL, 0, "export:form1", b, &existing);
    assert_int_equal(existing, 1);
    assert_string_equal(a, b);
    /* Once it is finished, the key is free again. */
    assert_int_equal(queue_cancel(f->db, a, clock_wall_ms(), NULL), 0);
    enqueue(f, "test.ok", NULL, 0, "export:form1", c, &existing);
    assert_int_equal(existing, 0);
    assert_string_not_equal(a, c);
}

static void claims_follow_priority_then_age(void **state)
{
    struct fixture *f = *state;
    struct queue_task got[3];
    char low[ID_LEN + 1], high[ID_LEN + 1], mid[ID_LEN + 1];
    int n, i;
    enqueue(f, "test.ok", NULL, 1, NULL, low, NULL);
    enqueue(f, "test.ok", NULL, 9, NULL, high, NULL);
    enqueue(f, "test.ok", NULL, 5, NULL, mid, NULL);
    assert_int_equal(queue_claim(f->db, "default", "w1", 1, clock_wall_ms(), 1000, got, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(got[0].id, high);
    assert_int_equal(got[0].attempt, 1);
    queue_task_release(&got[0]);
    assert_int_equal(queue_claim(f->db, "default", "w1", 3, clock_wall_ms(), 1000, got, &n, NULL), 0);
    assert_int_equal(n, 2);
    for (i = 0; i < n; i++)
        queue_task_release(&got[i]);
}

static void expired_leases_are_rescued(void **state)
{
    struct fixture *f = *state;
    struct queue_task got[1];
    char id[ID_LEN + 1];
    int n, rescued;
    int64_t now = clock_wall_ms();
    enqueue(f, "test.ok", NULL, 0, NULL, id, NULL);
    /* A worker claims it with a short lease and dies. */
    assert_int_equal(queue_claim(f->db, "default", "dead-worker", 1, now, 50, got, &n, NULL), 0);
    queue_task_release(&got[0]);
    assert_int_equal(queue_reap(f->db, now + 10, &rescued, NULL), 0);
    assert_int_equal(rescued, 0);                   /* lease still valid */
    assert_int_equal(queue_reap(f->db, now + 100, &rescued, NULL), 0);
    assert_int_equal(rescued, 1);
    assert_int_equal(count_state(f, "retryable"), 1);
    /* Its late completion is ignored: it no longer holds the task. */
    assert_int_equal(queue_complete(f->db, id, "dead-worker", NULL, now + 200, NULL), 0);
    assert_int_equal(count_state(f, "completed"), 0);
}

static void a_pool_rescues_a_dead_workers_task(void **state)
{
    struct fixture *f = *state;
    struct queue_task got[1];
    struct queue_pool *p;
    char id[ID_LEN + 1];
    int n;
    atomic_store(&ran, 0);
    assert_int_equal(queue_register("test.ok", ok_handler), 0);
    enqueue(f, "test.ok", NULL, 0, NULL, id, NULL);
    assert_int_equal(queue_claim(f->db, "default", "dead-worker", 1, clock_wall_ms(), 300, got,
                                 &n, NULL), 0);
    queue_task_release(&got[0]);
    p = start_pool(f, 1);
    wait_state(f, "completed", 1, 10);   /* within lease + reap interval */
    queue_pool_stop(p, 5000);
    assert_int_equal(atomic_load(&ran), 1);
}

static void cancel_retry_and_pause(void **state)
{
    struct fixture *f = *state;
    struct queue_task got[1];
    char id[ID_LEN + 1];
    int n;
    int64_t now = clock_wall_ms();
    enqueue(f, "test.ok", "low", 0, NULL, id, NULL);
    assert_int_equal(queue_set_paused(f->db, "low", 1, NULL), 0);
    assert_int_equal(queue_claim(f->db, "low", "w", 1, now, 1000, got, &n, NULL), 0);
    assert_int_equal(n, 0);                          /* paused */
    assert_int_equal(queue_set_paused(f->db, "nope", 1, NULL), FMD_ENOTFOUND);
    assert_int_equal(queue_cancel(f->db, id, now, NULL), 0);
    assert_int_equal(queue_cancel(f->db, id, now, NULL), FMD_ECONFLICT);
    assert_int_equal(queue_retry(f->db, id, now, NULL), 0);
    assert_int_equal(queue_retry(f->db, id, now, NULL), FMD_ECONFLICT);
    assert_int_equal(queue_set_paused(f->db, "low", 0, NULL), 0);
    assert_int_equal(queue_claim(f->db, "low", "w", 1, now, 1000, got, &n, NULL), 0);
    assert_int_equal(n, 1);
    queue_task_release(&got[0]);
    assert_int_equal(queue_cancel(f->db, "01AAAAAAAAAAAAAAAAAAAAAAAA", now, NULL), FMD_ENOTFOUND);
}

static void bad_kinds_and_queues_are_refused(void **state)
{
    struct fixture *f = *state;
    struct queue_new t = {.kind = "Bad Kind"};
    char id[ID_LEN + 1];
    int ex;
    struct fmd_err err = {0};
    assert_int_equal(queue_enqueue(f->db, &t, id, &ex, &err), FMD_EINVAL);
    t.kind = "ok";
    t.queue = "";
    assert_int_equal(queue_enqueue(f->db, &t, id, &ex, &err), FMD_EINVAL);
}

static void scheduled_tasks_wait_for_their_time(void **state)
{
    struct fixture *f = *state;
    struct queue_new t = {.kind = "test.ok", .run_at = clock_wall_ms() + 60000};
    struct queue_task got[1];
    char id[ID_LEN + 1];
    int ex, n;
    assert_int_equal(queue_enqueue(f->db, &t, id, &ex, NULL), 0);
    assert_int_equal(count_state(f, "scheduled"), 1);
    assert_int_equal(queue_claim(f->db, "default", "w", 1, clock_wall_ms(), 1000, got, &n, NULL), 0);
    assert_int_equal(n, 0);
    assert_int_equal(queue_claim(f->db, "default", "w", 1, t.run_at, 1000, got, &n, NULL), 0);
    assert_int_equal(n, 1);
    queue_task_release(&got[0]);
}

static void low_priority_queue_is_not_starved(void **state)
{
    struct fixture *f = *state;
    struct queue_pool *p;
    char id[ID_LEN + 1];
    int i;
    atomic_store(&ran, 0);
    assert_int_equal(queue_register("test.ok", ok_handler), 0);
    for (i = 0; i < 300; i++)
        enqueue(f, "test.ok", "critical", 0, NULL, id, NULL);
    enqueue(f, "test.ok", "low", 0, NULL, id, NULL);
    p = start_pool(f, 1);
    /* The low task runs long before the critical backlog is gone. */
    {
        int64_t until = clock_wall_ms() + 20000;
        json_t *j = NULL;
        const char *state_s = "";
        char pid[ID_LEN + 1];
        while (clock_wall_ms() < until) {
            json_decref(j);
            assert_int_equal(queue_task_json(f->db, id, &j, pid, NULL), 0);
            state_s = json_string_value(json_object_get(j, "state"));
            if (!strcmp(state_s, "completed"))
                break;
            usleep(5000);
        }
        assert_string_equal(state_s, "completed");
        json_decref(j);
    }
    assert_true(count_state(f, "completed") < 200);
    queue_pool_stop(p, 5000);
}

static int slow_handler(struct queue_run *run)
{
    while (!queue_run_stopping(run))
        usleep(5000);
    usleep(50 * 1000);
    return 0;
}

static void stop_lets_running_tasks_finish(void **state)
{
    struct fixture *f = *state;
    struct queue_pool *p;
    char id[ID_LEN + 1];
    assert_int_equal(queue_register("test.slow", slow_handler), 0);
    enqueue(f, "test.slow", NULL, 0, NULL, id, NULL);
    p = start_pool(f, 2);
    wait_state(f, "running", 1, 10);
    queue_pool_stop(p, 5000);
    db_writer_stop(f->w);      /* the outcome is committed before the writer stops */
    {
        struct fmd_err err = {0};
        assert_int_equal(db_writer_start(f->target, 256, &f->w, &err), 0);
    }
    assert_int_equal(count_state(f, "completed"), 1);
}

static atomic_int saw_cancel;

/* Runs until told it is cancelled (or the pool stops), as a model call would. */
static int cancellable_handler(struct queue_run *run)
{
    while (!queue_run_cancelled(run) && !queue_run_stopping(run))
        usleep(2000);
    atomic_store(&saw_cancel, queue_run_cancelled(run));
    run->result = fmd_strdup("{\"finished\":true}");
    return 0;
}

/* Cancels the running task id, as the API does; with tell, also tells the pool at once. */
static void cancel_running(struct fixture *f, struct queue_pool *p, const char *id, int tell)
{
    assert_int_equal(queue_cancel(f->db, id, clock_wall_ms(), NULL), 0);
    if (tell)
        queue_pool_cancelled(p, id);
}

/* A running task that is cancelled stops, and stays cancelled: in-process at once,
 * from elsewhere (another process's cancel) by the heartbeat. */
static void running_tasks_can_be_cancelled(void **state)
{
    struct fixture *f = *state;
    struct queue_pool *p;
    char id[ID_LEN + 1], pid[ID_LEN + 1];
    json_t *j;
    int tell;

    assert_int_equal(queue_register("test.cancellable", cancellable_handler), 0);
    for (tell = 1; tell >= 0; tell--) {
        atomic_store(&saw_cancel, 0);
        enqueue(f, "test.cancellable", NULL, 0, NULL, id, NULL);
        p = start_pool(f, 2);   /* lease 2 s: a heartbeat every 0.67 s */
        wait_state(f, "running", 1, 10);
        cancel_running(f, p, id, tell);
        {
            int64_t until = clock_wall_ms() + 10000;
            while (!atomic_load(&saw_cancel) && clock_wall_ms() < until)
                usleep(5000);
        }
        assert_true(atomic_load(&saw_cancel));
        queue_pool_stop(p, 5000);
        assert_int_equal(queue_task_json(f->db, id, &j, pid, NULL), 0);
        assert_string_equal(json_string_value(json_object_get(j, "state")), "cancelled");
        assert_true(json_is_null(json_object_get(j, "result")));
        json_decref(j);
        /* the pool that ran it is stopped: a cancel for it now reaches nobody, harmlessly */
        queue_pool_cancelled(NULL, id);
    }
}

static atomic_int progress_seen;

static int progress_handler(struct queue_run *run)
{
    queue_run_progress(run, 0.5);
    /* Hold the task until the test has seen the progress land. */
    while (!atomic_load(&progress_seen) && !queue_run_stopping(run))
        usleep(2000);
    return 0;
}

static void long_tasks_report_progress(void **state)
{
    struct fixture *f = *state;
    struct queue_pool *p;
    char id[ID_LEN + 1], pid[ID_LEN + 1];
    int64_t until = clock_wall_ms() + 10000;
    double progress = -1;
    json_t *j;

    atomic_store(&progress_seen, 0);
    assert_int_equal(queue_register("test.progress", progress_handler), 0);
    enqueue(f, "test.progress", NULL, 0, NULL, id, NULL);
    p = start_pool(f, 1);
    while (progress != 0.5 && clock_wall_ms() < until) {
        assert_int_equal(queue_task_json(f->db, id, &j, pid, NULL), 0);
        progress = json_is_real(json_object_get(j, "progress"))
                       ? json_real_value(json_object_get(j, "progress")) : -1;
        json_decref(j);
        usleep(5000);
    }
    atomic_store(&progress_seen, 1);
    assert_true(progress == 0.5);
    wait_state(f, "completed", 1, 10);
    queue_pool_stop(p, 5000);
    assert_int_equal(queue_task_json(f->db, id, &j, pid, NULL), 0);
    assert_true(json_real_value(json_object_get(j, "progress")) == 1.0);
    json_decref(j);
}

static void periodic_tasks_fire_once_per_tick(void **state)
{
    struct fixture *f = *state;
    struct fmd_err err = {0};
    int64_t t0, now;
    int n;

    assert_int_equal(clock_parse_rfc3339("2026-11-28T12:00:30Z", &t0), 0);
    assert_int_equal(queue_periodic_define(f->db, "report", "*/5 * * * *", "test.ok", "low",
                                           NULL, t0, &err), 0);
    assert_int_equal(queue_periodic_run(f->db, t0, &n, &err), 0);
    assert_int_equal(n, 0);                               /* next is 12:05 */
    now = t0 + 5 * 60 * 1000;                             /* 12:05:30 */
    assert_int_equal(queue_periodic_run(f->db, now, &n, &err), 0);
    assert_int_equal(n, 1);
    /* A second scheduler looking at the same moment finds the tick taken. */
    assert_int_equal(queue_periodic_run(f->db, now, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(count_state(f, "available"), 1);
    /* Down for an hour: one catch-up run, not twelve. */
    now += 60 * 60 * 1000;
    assert_int_equal(queue_periodic_run(f->db, now, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(count_state(f, "available"), 2);
    /* Redefining with the same expression keeps the schedule; a bad one is refused. */
    assert_int_equal(queue_periodic_define(f->db, "report", "*/5 * * * *", "test.ok", "low",
                                           NULL, now, &err), 0);
    assert_int_equal(queue_periodic_define(f->db, "report", "61 * * * *", "test.ok", "low",
                                           NULL, now, &err), FMD_EINVAL);
    assert_non_null(strstr(err.msg, "minute"));
    assert_int_equal(queue_periodic_define(f->db, "never", "0 0 30 2 *", "test.ok", "low",
                                           NULL, now, &err), FMD_EINVAL);
    assert_int_equal(queue_periodic_remove(f->db, "report", &err), 0);
    assert_int_equal(queue_periodic_remove(f->db, "report", &err), FMD_ENOTFOUND);
}

static int count_runs(struct fixture *f)
{
    struct db_stmt *st;
    int n;
    assert_int_equal(db_prepare(f->db, "SELECT COUNT(*) FROM task_runs", &st, NULL), 0);
    assert_int_equal(db_step(st, NULL), 1);
    n = (int)db_col_int(st, 0);
    db_done(st);
    return n;
}

/* Every claim leaves a run in task_runs, closed with how it ended, gone with its task. */
static void lease_history_records_every_run(void **state)
{
    struct fixture *f = *state;
    struct queue_task got[1];
    char id[ID_LEN + 1], pid[ID_LEN + 1];
    static const char *const outcomes[] = {"released", "expired", "failed", "completed"};
    static const char *const workers[] = {"w1", "dead", "w2", "w3"};
    int64_t now = clock_wall_ms(), prev_end = 0;
    json_t *j, *runs;
    int n, rescued, pruned;
    size_t i;

    /* Real times: the history mixes the claims' times with the database's clock. */
    enqueue(f, "test.ok", NULL, 0, NULL, id, NULL);
    assert_int_equal(queue_claim(f->db, "default", "w1", 1, clock_wall_ms(), 1000, got, &n,
                                 NULL), 0);
    queue_task_release(&got[0]);
    /* While it runs, the run shows, unfinished. */
    assert_int_equal(queue_task_json(f->db, id, &j, pid, NULL), 0);
    runs = json_object_get(j, "runs");
    assert_int_equal(json_array_size(runs), 1);
    assert_true(json_is_null(json_object_get(json_array_get(runs, 0), "outcome")));
    assert_true(json_is_null(json_object_get(json_array_get(runs, 0), "ended_at")));
    json_decref(j);
    usleep(2000);
    assert_int_equal(queue_release(f->db, id, "w1", NULL), 0);
    usleep(2000);
    assert_int_equal(queue_claim(f->db, "default", "dead", 1, clock_wall_ms(), 20, got, &n,
                                 NULL), 0);
    queue_task_release(&got[0]);
    usleep(50 * 1000);
    assert_int_equal(queue_reap(f->db, clock_wall_ms(), &rescued, NULL), 0);
    assert_int_equal(rescued, 1);
    usleep(2000);
    assert_int_equal(queue_claim(f->db, "default", "w2", 1, clock_wall_ms(), 1000, got, &n,
                                 NULL), 0);
    queue_task_release(&got[0]);
    usleep(2000);
    assert_int_equal(queue_fail(f->db, id, "w2", "boom", 0, 1, clock_wall_ms(), NULL), 0);
    usleep(5000);
    assert_int_equal(queue_claim(f->db, "default", "w3", 1, clock_wall_ms(), 1000, got, &n,
                                 NULL), 0);
    queue_task_release(&got[0]);
    usleep(2000);
    assert_int_equal(queue_complete(f->db, id, "w3", NULL, clock_wall_ms(), NULL), 0);

    assert_int_equal(queue_task_json(f->db, id, &j, pid, NULL), 0);
    runs = json_object_get(j, "runs");
    assert_int_equal(json_array_size(runs), 4);
    for (i = 0; i < 4; i++) {
        json_t *r = json_array_get(runs, i);
        int64_t start, end;
        assert_string_equal(json_string_value(json_object_get(r, "outcome")), outcomes[i]);
        assert_string_equal(json_string_value(json_object_get(r, "worker")), workers[i]);
        assert_int_equal(clock_parse_rfc3339(json_string_value(json_object_get(r, "started_at")),
                                             &start), 0);
        assert_int_equal(clock_parse_rfc3339(json_string_value(json_object_get(r, "ended_at")),
                                             &end), 0);
        assert_true(start >= prev_end && end >= start);    /* one after another */
        prev_end = end;
    }
    /* released gives the attempt back: attempts 1 (released), 1, 2, 3 */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(runs, 1), "attempt")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(runs, 3), "attempt")), 3);
    json_decref(j);
    /* A cancel ends a running run too. */
    enqueue(f, "test.ok", NULL, 0, NULL, pid, NULL);
    assert_int_equal(queue_claim(f->db, "default", "w4", 1, clock_wall_ms(), 1000, got, &n,
                                 NULL), 0);
    assert_int_equal(n, 1);
    queue_task_release(&got[0]);
    assert_int_equal(queue_cancel(f->db, pid, now, NULL), 0);
    assert_int_equal(queue_task_json(f->db, pid, &j, (char[ID_LEN + 1]){0}, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "runs"), 0), "outcome")),
                        "cancelled");
    json_decref(j);
    assert_int_equal(count_runs(f), 5);
    assert_int_equal(queue_prune(f->db, clock_wall_ms() + 60000, &pruned, NULL), 0);
    assert_int_equal(pruned, 2);
    assert_int_equal(count_runs(f), 0);
}

/*
 * PostgreSQL: an enqueue committed by another process is announced on
 * QUEUE_CHANNEL (and one rolled back is not), and a pool listening there
 * claims it at once rather than at its next poll, also after its listening
 * connection was lost and opened again.
 */
static void other_processes_wake_a_listening_pool(void **state)
{
    struct fixture *f = *state;
    struct queue_pool_opts o = {.workers = 2, .lease_ms = 2000};
    struct queue_pool *p;
    struct fmd_err err = {0};
    struct db *l;
    char id[ID_LEN + 1];
    int i;

    if (!test_pg_url())
        skip();
    assert_int_equal(db_open(f->target, 0, &l, &err), 0);
    assert_int_equal(db_listen(l, QUEUE_CHANNEL, &err), 0);
    assert_int_equal(db_wait(l, 50, &err), 0);
    assert_int_equal(db_begin(f->db, &err), 0);
    enqueue(f, "test.ok", NULL, 0, NULL, id, NULL);
    assert_int_equal(db_wait(l, 100, &err), 0);       /* not before the commit */
    assert_int_equal(db_commit(f->db, &err), 0);
    assert_int_equal(db_wait(l, 2000, &err), 1);
    assert_int_equal(db_begin(f->db, &err), 0);
    enqueue(f, "test.ok", NULL, 0, NULL, id, NULL);
    db_rollback(f->db);
    assert_int_equal(db_wait(l, 200, &err), 0);       /* never for a rollback */
    db_close(l);

    atomic_store(&ran, 0);
    assert_int_equal(queue_register("test.ok", ok_handler), 0);
    o.writer = f->w;
    o.listen_target = f->target;
    assert_int_equal(queue_pool_start(&o, &p, &err), 0);
    wait_state(f, "completed", 1, 10);
    usleep(700 * 1000);     /* listening, and idle: the fallback poll is 500 ms apart */
    for (i = 0; i < 10; i++) {
        int64_t t0 = clock_wall_ms();
        if (i == 5) {
            /* The listening connection dies (a failover, a restart): it is opened again. */
            struct db_stmt *st;
            assert_int_equal(db_prepare(f->db,
                                        "SELECT COUNT(pg_terminate_backend(pid)) "
                                        "FROM pg_stat_activity WHERE query LIKE 'LISTEN %' "
                                        "AND datname = current_database()",
                                        &st, &err), 0);
            assert_int_equal(db_step(st, &err), 1);
            assert_true(db_col_int(st, 0) >= 1);
            db_done(st);
            usleep(1500 * 1000);
            t0 = clock_wall_ms();
        }
        enqueue(f, "test.ok", NULL, 0, NULL, id, NULL);
        while (atomic_load(&ran) < i + 2 && clock_wall_ms() < t0 + 5000)
            usleep(1000);
        assert_int_equal(atomic_load(&ran), i + 2);
        assert_true(clock_wall_ms() - t0 < 200);
        usleep(300 * 1000);
    }
    queue_pool_stop(p, 5000);
}

/* One scheduler of another process: its own connection, its own transaction. */
struct racer {
    const char *target;
    int64_t now;
    int enqueued;
    pthread_barrier_t *go;
};

static void *race_tick(void *arg)
{
    struct racer *r = arg;
    struct fmd_err err = {0};
    struct db *db;

    assert_int_equal(db_open(r->target, 0, &db, &err), 0);
    pthread_barrier_wait(r->go);
    assert_int_equal(db_begin(db, &err), 0);
    assert_int_equal(queue_periodic_run(db, r->now, &r->enqueued, &err), 0);
    usleep(20 * 1000);          /* hold the transaction open: the other one races it */
    assert_int_equal(db_commit(db, &err), 0);
    db_close(db);
    return NULL;
}

/*
 * Two schedulers on two connections (two processes, as with several
 * `formd serve` and `formd worker` on PostgreSQL) race for every tick of a
 * minutely task: each tick is enqueued exactly once.
 */
static void periodic_ticks_fire_once_across_schedulers(void **state)
{
    struct fixture *f = *state;
    struct fmd_err err = {0};
    pthread_barrier_t go;
    int64_t t0;
    int tick, total = 0;

    assert_int_equal(clock_parse_rfc3339("2026-11-28T12:00:30Z", &t0), 0);
    assert_int_equal(queue_periodic_define(f->db, "minutely", "* * * * *", "test.ok", "low",
                                           NULL, t0, &err), 0);
    pthread_barrier_init(&go, NULL, 2);
    for (tick = 1; tick <= 5; tick++) {
        struct racer r[2] = {{f->target, t0 + tick * 60000, 0, &go},
                             {f->target, t0 + tick * 60000 + 5, 0, &go}};
        pthread_t th[2];
        int i;
        for (i = 0; i < 2; i++)
            pthread_create(&th[i], NULL, race_tick, &r[i]);
        for (i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        assert_int_equal(r[0].enqueued + r[1].enqueued, 1);
        total += r[0].enqueued + r[1].enqueued;
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(total, 5);
    assert_int_equal(count_state(f, "available"), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tasks_run_and_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(failures_retry_then_discard, setup, teardown),
        cmocka_unit_test(backoff_grows_and_is_capped),
        cmocka_unit_test_setup_teardown(unique_keys_return_the_pending_task, setup, teardown),
        cmocka_unit_test_setup_teardown(claims_follow_priority_then_age, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_leases_are_rescued, setup, teardown),
        cmocka_unit_test_setup_teardown(a_pool_rescues_a_dead_workers_task, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_retry_and_pause, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_kinds_and_queues_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(scheduled_tasks_wait_for_their_time, setup, teardown),
        cmocka_unit_test_setup_teardown(low_priority_queue_is_not_starved, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_lets_running_tasks_finish, setup, teardown),
        cmocka_unit_test_setup_teardown(periodic_tasks_fire_once_per_tick, setup, teardown),
        cmocka_unit_test_setup_teardown(lease_history_records_every_run, setup, teardown),
        cmocka_unit_test_setup_teardown(other_processes_wake_a_listening_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(periodic_ticks_fire_once_across_schedulers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(long_tasks_report_progress, setup, teardown),
        cmocka_unit_test_setup_teardown(running_tasks_can_be_cancelled, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
