/* leases.c - named leases in the database and the elector that holds one. */
#include "store/leases.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/banned.h"

int store_lease_take(struct db *db, const char *name, const char *holder, const char *url,
                     int64_t now, int64_t ttl_ms, int force, int *held, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc;

    *held = 0;
    /* The update runs only when the row is ours, expired or forced: a
     * conflict it skips changes no row, which is how a lost race shows. */
    if ((rc = db_prepare(db,
                         "INSERT INTO leases (name, holder, url, expires_at) "
                         "VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET "
                         "holder = excluded.holder, url = excluded.url, "
                         "expires_at = excluded.expires_at "
                         "WHERE leases.holder = excluded.holder OR leases.expires_at <= $5 "
                         "OR $6 = 1",
                         &st, err)))
        return rc;
    db_bind_text(st, 1, name);
    db_bind_text(st, 2, holder);
    db_bind_text(st, 3, url ? url : "");
    db_bind_int(st, 4, now + ttl_ms);
    db_bind_int(st, 5, now);
    db_bind_int(st, 6, force ? 1 : 0);
    rc = db_step(st, err);
    db_done(st);
    if (rc < 0)
        return rc;
    *held = db_changes(db) > 0;
    return 0;
}

int store_lease_give_up(struct db *db, const char *name, const char *holder,
                        struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, name);
    db_bind_text(st, 2, holder);
    rc = db_step(st, err);
    db_done(st);
    return rc < 0 ? rc : 0;
}

int store_lease_get(struct db *db, const char *name, int64_t now, struct store_lease *out,
                    struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "SELECT holder, url, expires_at FROM leases "
                            "WHERE name = $1 AND expires_at > $2",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, name);
    db_bind_int(st, 2, now);
    memset(out, 0, sizeof(*out));
    if ((rc = db_step(st, err)) == 1) {
        fmd_strlcpy(out->holder, db_col_text(st, 0), sizeof(out->holder));
        fmd_strlcpy(out->url, db_col_text(st, 1), sizeof(out->url));
        out->expires_at = db_col_int(st, 2);
    }
    db_done(st);
    return rc;
}

int store_leases_forget(struct db *db, struct fmd_err *err)
{
    return db_exec(db, "DELETE FROM leases", err);
}

/* ---- the elector ---- */

struct store_elector {
    struct store_elector_opts o;
    char name[64], holder[LEASE_HOLDER_MAX + 1], url[LEASE_URL_MAX + 1];
    pthread_t thread;
    atomic_int stop;
    _Atomic int64_t valid_until_ns;   /* monotonic: leading until then */
    int leading;                      /* as last told to on_change */
    int started;                      /* the thread runs */
};

struct take_job {
    struct store_elector *e;
    int held;
};

static int take_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct take_job *j = arg;
    struct store_elector *e = j->e;
    return store_lease_take(db, e->name, e->holder, e->url, clock_wall_ms(), e->o.ttl_ms,
                            e->o.mode == ELECTOR_FORCE, &j->held, err);
}

static int give_up_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct store_elector *e = arg;
    return store_lease_give_up(db, e->name, e->holder, err);
}

int store_elector_leading(const struct store_elector *e)
{
    return e && (int64_t)clock_mono_ns() < atomic_load(&e->valid_until_ns);
}

/* One round: take or renew, then tell on_change if leadership changed. */
static void stand(struct store_elector *e)
{
    struct take_job j = {.e = e};
    struct fmd_err err = {0};
    int64_t t0 = (int64_t)clock_mono_ns();
    int now_leading;

    if (db_writer_run(e->o.writer, take_write, &j, &err))
        log_warn("lease '%s': cannot renew: %s", e->name, err.msg);   /* runs out on its own */
    else if (j.held)
        atomic_store(&e->valid_until_ns, t0 + e->o.ttl_ms * 2 / 3 * 1000000);
    else
        atomic_store(&e->valid_until_ns, 0);
    now_leading = store_elector_leading(e);
    if (now_leading != e->leading) {
        e->leading = now_leading;
        log_info("lease '%s': %s", e->name, now_leading ? "taken by this process" : "lost");
        if (e->o.on_change)
            e->o.on_change(e->o.arg, now_leading);
    }
}

static void *elector_main(void *arg)
{
    struct store_elector *e = arg;
    int64_t step_ms = e->o.ttl_ms / 5, slept;

    while (!atomic_load(&e->stop)) {
        for (slept = 0; slept < step_ms && !atomic_load(&e->stop); slept += 50) {
            struct timespec ts = {0, 50 * 1000000};
            nanosleep(&ts, NULL);
        }
        if (!atomic_load(&e->stop))
            stand(e);
    }
    return NULL;
}

int store_elector_new(const struct store_elector_opts *o, struct store_elector **out,
                      struct fmd_err *err)
{
    struct store_elector *e;

    *out = NULL;
    if (!o->name || !o->holder || strlen(o->name) >= sizeof(e->name) ||
        strlen(o->holder) > LEASE_HOLDER_MAX || (o->url && strlen(o->url) > LEASE_URL_MAX))
        return fmd_errf(err, FMD_EINVAL, "lease name, holder or url too long");
    if (!(e = fmd_calloc(1, sizeof(*e))))
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    e->o = *o;
    if (e->o.ttl_ms < 1000)
        e->o.ttl_ms = 1000;
    fmd_strlcpy(e->name, o->name, sizeof(e->name));
    fmd_strlcpy(e->holder, o->holder, sizeof(e->holder));
    fmd_strlcpy(e->url, o->url ? o->url : "", sizeof(e->url));
    *out = e;
    return 0;
}

int store_elector_set_url(struct store_elector *e, const char *url, struct fmd_err *err)
{
    if (fmd_strlcpy(e->url, url, sizeof(e->url)) >= sizeof(e->url))
        return fmd_errf(err, FMD_EINVAL, "lease url too long");
    return 0;
}

int store_elector_start(struct store_elector *e, struct fmd_err *err)
{
    stand(e);
    if (pthread_create(&e->thread, NULL, elector_main, e))
        return fmd_errf(err, FMD_ENOMEM, "cannot start the lease thread");
    e->started = 1;
    return 0;
}

void store_elector_stop(struct store_elector *e)
{
    struct fmd_err err = {0};

    if (!e)
        return;
    atomic_store(&e->stop, 1);
    if (e->started)
        pthread_join(e->thread, NULL);
    atomic_store(&e->valid_until_ns, 0);
    if (e->leading && e->o.on_change)
        e->o.on_change(e->o.arg, 0);
    if (e->leading && db_writer_run(e->o.writer, give_up_write, e, &err))
        log_warn("lease '%s': cannot give it up: %s", e->name, err.msg);
    fmd_free(e);
}
