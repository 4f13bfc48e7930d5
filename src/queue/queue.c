/* queue.c - SQL for the task queue: enqueue, claim, finish, retry, reap. */
#include "queue/queue.h"

#include <pthread.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/mem.h"
#include "metrics/metrics.h"
#include "core/rand.h"
#include "db/rows.h"
#include "core/banned.h"

#define PENDING "('available','scheduled','retryable','running')"
#define RUNNABLE "('available','scheduled','retryable')"
#define BACKOFF_BASE_MS 1000
#define BACKOFF_MAX_MS (3600 * 1000)

void queue_task_release(struct queue_task *t)
{
    if (t)
        fmd_freez(&t->payload);
}

static int valid_token(const char *s, size_t max)
{
    size_t i, n = s ? strlen(s) : 0;
    if (!n || n > max)
        return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
              s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

static int find_pending_key(struct db *db, const char *key, char id[ID_LEN + 1],
                            struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "SELECT id FROM tasks WHERE unique_key = $1 AND state IN " PENDING,
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, key);
    rc = db_step(st, err);
    if (rc == 1)
        fmd_strlcpy(id, db_col_text(st, 0), ID_LEN + 1);
    db_done(st);
    return rc;
}

static struct metric *m_enqueued;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void register_metrics(void)
{
    static const char *const labels[] = {"queue", "kind", NULL};
    m_enqueued = metric_register("formd_queue_enqueued_total",
                                 "Tasks enqueued (counted in the enqueuing transaction)",
                                 METRIC_COUNTER, labels, NULL, 0);
}

int queue_enqueue(struct db *db, const struct queue_new *t, char id[ID_LEN + 1], int *existing,
                  struct fmd_err *err)
{
    const char *queue = t->queue ? t->queue : "default";
    struct db_stmt *st;
    int64_t now = clock_wall_ms();
    int rc;

    *existing = 0;
    if (!valid_token(t->kind, QUEUE_KIND_MAX))
        return fmd_errf(err, FMD_EINVAL, "task kind '%s' is not 1 to %d of [a-z0-9._-]",
                        t->kind ? t->kind : "", QUEUE_KIND_MAX);
    if (!valid_token(queue, QUEUE_NAME_MAX))
        return fmd_errf(err, FMD_EINVAL, "queue name '%s' is not 1 to %d of [a-z0-9._-]", queue,
                        QUEUE_NAME_MAX);
    if (t->unique_key && (rc = find_pending_key(db, t->unique_key, id, err))) {
        if (rc < 0)
            return rc;
        *existing = 1;
        return 0;
    }
    if ((rc = db_prepare(db,
                         "INSERT INTO tasks (id, kind, queue, priority, payload, state, run_at, "
                         "max_attempts, unique_key, project_id, trace_id, created_at, updated_at) "
                         "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
                         &st, err)))
        return rc;
    id_new(id);
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, t->kind);
    db_bind_text(st, 3, queue);
    db_bind_int(st, 4, t->priority);
    db_bind_text(st, 5, t->payload ? t->payload : "{}");
    db_bind_text(st, 6, t->run_at > now ? "scheduled" : "available");
    db_bind_int(st, 7, t->run_at ? t->run_at : now);
    db_bind_int(st, 8, t->max_attempts > 0 ? t->max_attempts : QUEUE_DEFAULT_ATTEMPTS);
    db_bind_text(st, 9, t->unique_key);
    db_bind_text(st, 10, t->project_id);
    db_bind_text(st, 11, t->trace_id);
    db_bind_int(st, 12, now);
    if ((rc = rows_exec(st, err)))
        return rc;
    if (t->run_at <= now && (rc = db_notify(db, QUEUE_CHANNEL, queue, err)))
        return rc;
    {
        const char *labels[] = {queue, t->kind, NULL};
        pthread_once(&metrics_once, register_metrics);
        metric_inc(m_enqueued, labels, 1);
    }
    return 0;
}

/*
 * The claim, one statement either way. SQLite has one writer, so picking
 * and updating cannot race. PostgreSQL may have many claimers at once: the
 * pick locks its rows and skips rows another claimer holds (SKIP LOCKED),
 * and it is a MATERIALIZED CTE so it runs exactly once; as a plain
 * "id IN (subquery)" the planner may re-run the LIMIT per row and claim
 * more rows than asked for.
 */
#define CLAIM_PICK                                                                          \
    "SELECT id FROM tasks WHERE queue = $1 AND state IN " RUNNABLE " AND run_at <= $4"      \
    "  AND NOT EXISTS (SELECT 1 FROM queues WHERE name = $1 AND paused = 1)"               \
    "  ORDER BY priority DESC, run_at, id LIMIT $5"
#define CLAIM_SET \
    "SET state = 'running', attempt = attempt + 1, lease_until = $3, worker = $2, updated_at = $4 "
#define CLAIM_RETURNING                                                                     \
    "RETURNING id, kind, queue, payload, attempt, max_attempts, COALESCE(trace_id, ''), "  \
    "COALESCE(project_id, ''), run_at"

static const char claim_sqlite[] =
    "UPDATE tasks " CLAIM_SET "WHERE id IN (" CLAIM_PICK ") " CLAIM_RETURNING;
static const char claim_postgres[] =
    "WITH picked AS MATERIALIZED (" CLAIM_PICK " FOR UPDATE SKIP LOCKED) "
    "UPDATE tasks " CLAIM_SET "WHERE id IN (SELECT id FROM picked) " CLAIM_RETURNING;

int queue_claim(struct db *db, const char *queue, const char *worker, int max, int64_t now,
                int64_t lease_ms, struct queue_task *out, int *got, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, db_dialect(db) == DB_POSTGRES ? claim_postgres : claim_sqlite, &st,
                        err);

    *got = 0;
    if (rc)
        return rc;
    db_bind_text(st, 1, queue);
    db_bind_text(st, 2, worker);
    db_bind_int(st, 3, now + lease_ms);
    db_bind_int(st, 4, now);
    db_bind_int(st, 5, max);
    while ((rc = db_step(st, err)) == 1 && *got < max) {
        struct queue_task *t = &out[*got];
        memset(t, 0, sizeof(*t));
        fmd_strlcpy(t->id, db_col_text(st, 0), sizeof(t->id));
        fmd_strlcpy(t->kind, db_col_text(st, 1), sizeof(t->kind));
        fmd_strlcpy(t->queue, db_col_text(st, 2), sizeof(t->queue));
        t->attempt = (int)db_col_int(st, 4);
        t->max_attempts = (int)db_col_int(st, 5);
        fmd_strlcpy(t->trace_id, db_col_text(st, 6), sizeof(t->trace_id));
        fmd_strlcpy(t->project_id, db_col_text(st, 7), sizeof(t->project_id));
        t->run_at = db_col_int(st, 8);
        if (!(t->payload = fmd_strdup(db_col_text(st, 3)))) {
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
            break;
        }
        (*got)++;
    }
    db_done(st);
    if (rc < 0) {
        /* The transaction rolls back; the claims never happened. */
        while (*got)
            queue_task_release(&out[--*got]);
        return rc;
    }
    return 0;
}

int queue_complete(struct db *db, const char *id, const char *worker, const char *result,
                   int64_t now, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE tasks SET state = 'completed', result = $3, progress = 1, "
                        "lease_until = NULL, finished_at = $4, updated_at = $4 "
                        "WHERE id = $1 AND worker = $2 AND state = 'running'",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, worker);
    db_bind_text(st, 3, result);
    db_bind_int(st, 4, now);
    return rows_exec(st, err);
}

int queue_complete_many(struct db *db, const char *ids_json, const char *worker, int64_t now,
                        struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        db_dialect(db) == DB_POSTGRES
                            ? "UPDATE tasks SET state = 'completed', progress = 1, "
                              "lease_until = NULL, finished_at = $3, updated_at = $3 "
                              "WHERE worker = $2 AND state = 'running' AND id IN "
                              "(SELECT jsonb_array_elements_text($1::jsonb))"
                            : "UPDATE tasks SET state = 'completed', progress = 1, "
                              "lease_until = NULL, finished_at = $3, updated_at = $3 "
                              "WHERE worker = $2 AND state = 'running' AND id IN "
                              "(SELECT value FROM json_each($1))",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, ids_json);
    db_bind_text(st, 2, worker);
    db_bind_int(st, 3, now);
    return rows_exec(st, err);
}

int64_t queue_backoff_ms(int attempt)
{
    int64_t d = BACKOFF_BASE_MS;
    while (--attempt > 0 && d < BACKOFF_MAX_MS)
        d *= 2;
    return d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS;
}

int queue_fail(struct db *db, const char *id, const char *worker, const char *error,
               int permanent, int64_t delay_ms, int64_t now, struct fmd_err *err)
{
    struct db_stmt *st;
    uint32_t r;
    int64_t delay;
    int rc, attempt = 0, max = 0;

    if ((rc = db_prepare(db, "SELECT attempt, max_attempts FROM tasks "
                             "WHERE id = $1 AND worker = $2 AND state = 'running'",
                         &st, err)))
        return rc;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, worker);
    if ((rc = db_step(st, err)) == 1) {
        attempt = (int)db_col_int(st, 0);
        max = (int)db_col_int(st, 1);
    }
    db_done(st);
    if (rc <= 0)
        return rc;   /* gone, cancelled or rescued meanwhile: nothing to record */
    /* Full jitter over the upper half, so retries of a burst spread out. */
    rand_fast(&r, sizeof(r));
    delay = queue_backoff_ms(attempt);
    delay = delay / 2 + (int64_t)(r % (uint32_t)(delay / 2 + 1));
    if (delay_ms > 0)
        delay = delay_ms < BACKOFF_MAX_MS ? delay_ms : BACKOFF_MAX_MS;
    if ((rc = db_prepare(db,
                         "UPDATE tasks SET state = CASE WHEN $3 = 1 THEN 'discarded' "
                         "ELSE 'retryable' END, error = $4, run_at = $5, lease_until = NULL, "
                         "worker = NULL, updated_at = $6, "
                         "finished_at = CASE WHEN $3 = 1 THEN CAST($6 AS BIGINT) ELSE NULL END "
                         "WHERE id = $1 AND worker = $2 AND state = 'running'",
                         &st, err)))
        return rc;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, worker);
    db_bind_int(st, 3, permanent || attempt >= max ? 1 : 0);
    db_bind_text(st, 4, error ? error : "failed");
    db_bind_int(st, 5, now + delay);
    db_bind_int(st, 6, now);
    return rows_exec(st, err);
}

int queue_heartbeat(struct db *db, const char *worker, int64_t until, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE tasks SET lease_until = $2 WHERE worker = $1 AND state = 'running'",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, worker);
    db_bind_int(st, 2, until);
    return rows_exec(st, err);
}

int queue_release(struct db *db, const char *id, const char *worker, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE tasks SET state = 'available', "
                        "attempt = CASE WHEN attempt > 0 THEN attempt - 1 ELSE 0 END, "
                        "lease_until = NULL, worker = NULL "
                        "WHERE id = $1 AND worker = $2 AND state = 'running'",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, worker);
    if ((rc = rows_exec(st, err)) || !db_changes(db))
        return rc;
    return db_notify(db, QUEUE_CHANNEL, "", err);
}

int queue_reap(struct db *db, int64_t now, int *rescued, struct fmd_err *err)
{
    struct db_stmt *st;
    /* task_runs' trigger (db/migrations.c, m9) knows an expiry by this error text. */
    int rc = db_prepare(db,
                        "UPDATE tasks SET state = CASE WHEN attempt >= max_attempts "
                        "THEN 'discarded' ELSE 'retryable' END, "
                        "finished_at = CASE WHEN attempt >= max_attempts "
                        "THEN CAST($1 AS BIGINT) ELSE NULL END, "
                        "error = 'lease expired: the worker running it stopped', run_at = $1, "
                        "lease_until = NULL, worker = NULL, updated_at = $1 "
                        "WHERE state = 'running' AND lease_until < $1",
                        &st, err);
    *rescued = 0;
    if (rc)
        return rc;
    db_bind_int(st, 1, now);
    if ((rc = rows_exec(st, err)))
        return rc;
    *rescued = (int)db_changes(db);
    return *rescued ? db_notify(db, QUEUE_CHANNEL, "", err) : 0;
}

int queue_prune(struct db *db, int64_t before, int *pruned, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "DELETE FROM tasks WHERE state IN ('completed','discarded','cancelled') "
                        "AND finished_at < $1",
                        &st, err);
    *pruned = 0;
    if (rc)
        return rc;
    db_bind_int(st, 1, before);
    if ((rc = rows_exec(st, err)))
        return rc;
    *pruned = (int)db_changes(db);
    return 0;
}

int queue_progress(struct db *db, const char *id, const char *worker, double progress,
                   struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE tasks SET progress = $3 "
                        "WHERE id = $1 AND worker = $2 AND state = 'running'",
                        &st, err);
    if (rc)
        return rc;
    if (!(progress >= 0))       /* NaN too */
        progress = 0;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, worker);
    db_bind_double(st, 3, progress > 1 ? 1.0 : progress);
    return rows_exec(st, err);
}

static int changed_or(struct db *db, const char *id, const char *why, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc;
    if (db_changes(db))
        return 0;
    if ((rc = db_prepare(db, "SELECT 1 FROM tasks WHERE id = $1", &st, err)))
        return rc;
    db_bind_text(st, 1, id);
    rc = db_step(st, err);
    db_done(st);
    if (rc < 0)
        return rc;
    return rc ? fmd_errf(err, FMD_ECONFLICT, "task '%s' %s", id, why)
              : fmd_errf(err, FMD_ENOTFOUND, "no such task");
}

int queue_retry(struct db *db, const char *id, int64_t now, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE tasks SET state = 'available', run_at = $2, updated_at = $2, "
                        "finished_at = NULL, max_attempts = "
                        "CASE WHEN max_attempts > attempt THEN max_attempts ELSE attempt + 1 END "
                        "WHERE id = $1 AND state IN ('discarded','cancelled','retryable',"
                        "'scheduled','completed')",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_int(st, 2, now);
    if ((rc = rows_exec(st, err)))
        return rc;
    return changed_or(db, id, "is running or waiting to run already", err);
}

int queue_cancel(struct db *db, const char *id, int64_t now, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE tasks SET state = 'cancelled', lease_until = NULL, "
                        "finished_at = $2, updated_at = $2 WHERE id = $1 AND state IN " PENDING,
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_int(st, 2, now);
    if ((rc = rows_exec(st, err)))
        return rc;
    return changed_or(db, id, "has finished already", err);
}

int queue_is_cancelled(struct db *db, const char *id, int *cancelled, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "SELECT state = 'cancelled' FROM tasks WHERE id = $1", &st, err);

    *cancelled = 0;
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    rc = db_step(st, err);
    if (rc == 1)
        *cancelled = db_col_int(st, 0) != 0;
    db_done(st);
    return rc < 0 ? rc : 0;
}

int queue_set_paused(struct db *db, const char *name, int paused, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "UPDATE queues SET paused = $2 WHERE name = $1", &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, name);
    db_bind_int(st, 2, paused ? 1 : 0);
    if ((rc = rows_exec(st, err)))
        return rc;
    return db_changes(db) ? 0 : fmd_errf(err, FMD_ENOTFOUND, "no queue '%s'", name);
}

#define TASK_COLUMNS                                                                     \
    "SELECT id, kind, queue, state, priority, attempt, max_attempts, progress, result, "   \
    "error, run_at, created_at, updated_at, finished_at, COALESCE(project_id, '') "        \
    "FROM tasks "

static json_t *task_row(struct db_stmt *st)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                     "id", db_col_text(st, 0), "kind", db_col_text(st, 1), "queue",
                     db_col_text(st, 2), "state", db_col_text(st, 3), "priority",
                     (json_int_t)db_col_int(st, 4), "attempts", (json_int_t)db_col_int(st, 5),
                     "max_attempts", (json_int_t)db_col_int(st, 6), "progress",
                     db_col_null(st, 7) ? json_null() : json_real(db_col_double(st, 7)),
                     "result", rows_json(st, 8), "error", rows_str_or_null(st, 9), "run_at",
                     rows_time(db_col_int(st, 10)), "created_at", rows_time(db_col_int(st, 11)),
                     "updated_at", rows_time(db_col_int(st, 12)), "finished_at",
                     rows_time_or_null(st, 13));
}

/* The task's lease history (task_runs), oldest first, as "runs". */
static int add_runs(struct db *db, const char *id, json_t *task, struct fmd_err *err)
{
    struct db_stmt *st;
    json_t *runs = json_array();
    /* On SQLite the run under way is not in task_runs yet: it is the task row (m9). */
    int rc = db_prepare(db,
                        db_dialect(db) == DB_POSTGRES
                            ? "SELECT attempt, worker, started_at, ended_at, outcome "
                              "FROM task_runs WHERE task_id = $1 ORDER BY started_at, attempt"
                            : "SELECT attempt, worker, started_at, ended_at, outcome "
                              "FROM task_runs WHERE task_id = $1 UNION ALL "
                              "SELECT attempt, COALESCE(worker, ''), updated_at, NULL, NULL "
                              "FROM tasks WHERE id = $1 AND state = 'running' "
                              "ORDER BY 3, 1",
                        &st, err);
    if (rc)
        goto out;
    db_bind_text(st, 1, id);
    while ((rc = db_step(st, err)) == 1) {
        json_t *r = json_pack("{s:I, s:s, s:o, s:o, s:o}", "attempt",
                              (json_int_t)db_col_int(st, 0), "worker", db_col_text(st, 1),
                              "started_at", rows_time(db_col_int(st, 2)), "ended_at",
                              rows_time_or_null(st, 3), "outcome", rows_str_or_null(st, 4));
        if (json_array_append_new(runs, r)) {
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
            break;
        }
    }
    db_done(st);
    if (rc < 0)
        goto out;
    rc = json_object_set(task, "runs", runs) ? fmd_errf(err, FMD_ENOMEM, "out of memory") : 0;
out:
    json_decref(runs);
    return rc;
}

int queue_task_json(struct db *db, const char *id, json_t **out, char project_id[ID_LEN + 1],
                    struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, TASK_COLUMNS "WHERE id = $1", &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    rc = db_step(st, err);
    if (rc == 1) {
        fmd_strlcpy(project_id, db_col_text(st, 14), ID_LEN + 1);
        rc = (*out = task_row(st)) ? 0 : fmd_errf(err, FMD_ENOMEM, "out of memory");
    } else if (rc == 0) {
        rc = fmd_errf(err, FMD_ENOTFOUND, "no such task");
    }
    db_done(st);
    if (!rc && (rc = add_runs(db, id, *out, err))) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int queue_task_list(struct db *db, const struct queue_filter *f, json_t **page,
                    struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        TASK_COLUMNS "WHERE (CAST($1 AS TEXT) IS NULL OR state = $1) "
                        "AND (CAST($2 AS TEXT) IS NULL OR queue = $2) "
                        "AND (CAST($3 AS TEXT) IS NULL OR kind = $3) "
                        "AND (CAST($4 AS TEXT) IS NULL OR id < $4) "
                        "ORDER BY id DESC LIMIT $5",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, f->state);
    db_bind_text(st, 2, f->queue);
    db_bind_text(st, 3, f->kind);
    db_bind_text(st, 4, f->cursor);
    db_bind_int(st, 5, f->limit + 1);
    return rows_page(st, f->limit, task_row, page, err);
}

int queue_stats_json(struct db *db, int64_t now, json_t **out, struct fmd_err *err)
{
    struct db_stmt *st;
    json_t *list = json_array();
    int rc = db_prepare(
        db,
        "SELECT q.name, q.paused, "
        "  (SELECT COUNT(*) FROM tasks t WHERE t.queue = q.name AND t.state IN " RUNNABLE
        "     AND t.run_at <= $1), "
        "  (SELECT COUNT(*) FROM tasks t WHERE t.queue = q.name AND t.state IN " RUNNABLE
        "     AND t.run_at > $1), "
        "  (SELECT COUNT(*) FROM tasks t WHERE t.queue = q.name AND t.state = 'running'), "
        "  (SELECT COUNT(*) FROM tasks t WHERE t.queue = q.name AND t.state = 'discarded'), "
        "  (SELECT MIN(t.run_at) FROM tasks t WHERE t.queue = q.name AND t.state IN " RUNNABLE
        "     AND t.run_at <= $1), "
        "  (SELECT COUNT(*) FROM tasks t WHERE t.queue = q.name AND t.state = 'completed' "
        "     AND t.finished_at > CAST($1 AS BIGINT) - 60000) "
        "FROM queues q ORDER BY q.name",
        &st, err);
    if (rc)
        goto out;
    db_bind_int(st, 1, now);
    while ((rc = db_step(st, err)) == 1) {
        json_t *q = json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "name",
                              db_col_text(st, 0),
                              "paused", (int)db_col_int(st, 1), "depth",
                              (json_int_t)db_col_int(st, 2), "scheduled",
                              (json_int_t)db_col_int(st, 3), "running",
                              (json_int_t)db_col_int(st, 4), "discarded",
                              (json_int_t)db_col_int(st, 5), "oldest_age_ms",
                              (json_int_t)(db_col_null(st, 6) ? 0 : now - db_col_int(st, 6)),
                              "completed_last_minute", (json_int_t)db_col_int(st, 7));
        if (json_array_append_new(list, q)) {
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
            break;
        }
    }
    db_done(st);
    if (rc < 0)
        goto out;
    *out = json_incref(list);
    rc = 0;
out:
    json_decref(list);
    return rc;
}
