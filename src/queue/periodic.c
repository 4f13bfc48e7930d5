/* periodic.c - cron-scheduled task definitions. */
#include "queue/periodic.h"

#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "db/rows.h"
#include "queue/cron.h"
#include "queue/queue.h"
#include "core/banned.h"

#define DUE_MAX 64

static int next_time(const char *expr, int64_t now, int64_t *next, struct fmd_err *err)
{
    struct cron c;
    int rc = cron_parse(expr, &c, err);
    if (rc)
        return rc;
    if (cron_next(&c, now, next))
        return fmd_errf(err, FMD_EINVAL, "cron expression '%s' never comes round", expr);
    return 0;
}

int queue_periodic_define(struct db *db, const char *name, const char *cron_expr,
                          const char *kind, const char *queue, const char *payload,
                          int64_t now, struct fmd_err *err)
{
    struct db_stmt *st;
    int64_t next;
    int rc;

    if (!name || !*name || strlen(name) > 128)
        return fmd_errf(err, FMD_EINVAL, "periodic task name must be 1 to 128 bytes");
    if ((rc = next_time(cron_expr, now, &next, err)))
        return rc;
    if ((rc = db_prepare(db,
                         "INSERT INTO periodic_tasks (name, cron, kind, queue, payload, "
                         "next_run_at) VALUES ($1, $2, $3, $4, $5, $6) "
                         "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, "
                         "queue = excluded.queue, payload = excluded.payload, "
                         "next_run_at = CASE WHEN periodic_tasks.cron = excluded.cron "
                         "THEN periodic_tasks.next_run_at "
                         "ELSE excluded.next_run_at END, cron = excluded.cron",
                         &st, err)))
        return rc;
    db_bind_text(st, 1, name);
    db_bind_text(st, 2, cron_expr);
    db_bind_text(st, 3, kind);
    db_bind_text(st, 4, queue ? queue : "default");
    db_bind_text(st, 5, payload ? payload : "{}");
    db_bind_int(st, 6, next);
    return rows_exec(st, err);
}

int queue_periodic_remove(struct db *db, const char *name, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "DELETE FROM periodic_tasks WHERE name = $1", &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, name);
    if ((rc = rows_exec(st, err)))
        return rc;
    return db_changes(db) ? 0 : fmd_errf(err, FMD_ENOTFOUND, "no periodic task '%s'", name);
}

struct due {
    char name[129];
    char cron[CRON_MAX_LEN + 1];
    char kind[QUEUE_KIND_MAX + 1];
    char queue[QUEUE_NAME_MAX + 1];
    char *payload;
    int64_t at;
};

/*
 * Enqueues one due definition and moves its next time past now; *fired is
 * 0 when another scheduler took this tick first.
 *
 * Every process runs the scheduler, so the tick is claimed before anything
 * is enqueued: a conditional UPDATE of next_run_at from the value read
 * (a compare-and-set on the row). On PostgreSQL a second scheduler's UPDATE
 * waits for the first one's row lock, re-reads the row once that commits
 * (READ COMMITTED), finds next_run_at moved and changes nothing; on SQLite
 * the writers are serialised anyway. Only the process whose UPDATE changed
 * the row enqueues, in the same transaction, so a tick fires once however
 * many processes look at it, with no leader to elect or lose. The unique
 * key (name + tick) stays as a second guard.
 */
static int fire(struct db *db, struct due *d, int64_t now, int *fired, struct fmd_err *err)
{
    struct queue_new t = {.kind = d->kind, .queue = d->queue, .payload = d->payload};
    char key[200], id[ID_LEN + 1];
    struct db_stmt *st;
    int64_t next;
    int existing, rc;

    *fired = 0;
    if (next_time(d->cron, now, &next, err))
        next = now + 3650LL * 86400 * 1000;   /* a stored expression gone bad: park it */
    if ((rc = db_prepare(db,
                         "UPDATE periodic_tasks SET next_run_at = $2, last_run_at = $3 "
                         "WHERE name = $1 AND next_run_at = $4",
                         &st, err)))
        return rc;
    db_bind_text(st, 1, d->name);
    db_bind_int(st, 2, next);
    db_bind_int(st, 3, now);
    db_bind_int(st, 4, d->at);
    if ((rc = rows_exec(st, err)))
        return rc;
    if (db_changes(db) != 1)
        return 0;                             /* another scheduler took the tick */
    snprintf(key, sizeof(key), "periodic:%.128s:%lld", d->name, (long long)d->at);
    t.unique_key = key;
    if ((rc = queue_enqueue(db, &t, id, &existing, err)))
        return rc;
    if ((rc = db_prepare(db, "UPDATE periodic_tasks SET last_task_id = $2 WHERE name = $1",
                         &st, err)))
        return rc;
    db_bind_text(st, 1, d->name);
    db_bind_text(st, 2, id);
    if ((rc = rows_exec(st, err)))
        return rc;
    *fired = !existing;
    return 0;
}

int queue_periodic_run(struct db *db, int64_t now, int *enqueued, struct fmd_err *err)
{
    struct due due[DUE_MAX];
    struct db_stmt *st;
    int n = 0, i, rc;

    *enqueued = 0;
    if ((rc = db_prepare(db,
                         "SELECT name, cron, kind, queue, payload, next_run_at "
                         "FROM periodic_tasks WHERE next_run_at <= $1 ORDER BY next_run_at "
                         "LIMIT 64",
                         &st, err)))
        return rc;
    db_bind_int(st, 1, now);
    while ((rc = db_step(st, err)) == 1 && n < DUE_MAX) {
        struct due *d = &due[n];
        fmd_strlcpy(d->name, db_col_text(st, 0), sizeof(d->name));
        fmd_strlcpy(d->cron, db_col_text(st, 1), sizeof(d->cron));
        fmd_strlcpy(d->kind, db_col_text(st, 2), sizeof(d->kind));
        fmd_strlcpy(d->queue, db_col_text(st, 3), sizeof(d->queue));
        d->at = db_col_int(st, 5);
        if (!(d->payload = fmd_strdup(db_col_text(st, 4)))) {
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    db_done(st);
    for (i = 0; i < n && rc >= 0; i++) {
        int fired = 0;
        if (!(rc = fire(db, &due[i], now, &fired, err)))
            *enqueued += fired;
    }
    for (i = 0; i < n; i++)
        fmd_free(due[i].payload);
    return rc < 0 ? rc : 0;
}
