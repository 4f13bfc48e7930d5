/* db.c - driver lookup and the wrappers every caller goes through. */
#include "db/db.h"

#include <stdatomic.h>
#include <string.h>

#include "core/clock.h"
#include "db/db_int.h"
#include "core/banned.h"

static atomic_uint_fast64_t step_ns;

int db_open(const char *target, unsigned flags, struct db **out, struct fmd_err *err)
{
    const struct db_driver *drv = &db_sqlite_driver;
    if (!strncmp(target, "sqlite:", 7))
        target += 7;
    else if (db_target_is_postgres(target))
        drv = &db_postgres_driver;
    return drv->open(target, flags, out, err);
}

int db_target_is_postgres(const char *target)
{
    return !strncmp(target, "postgres://", 11) || !strncmp(target, "postgresql://", 13);
}

enum db_dialect db_dialect(const struct db *db)
{
    return db->drv->dialect;
}

int db_usable(struct db *db)
{
    return !db->drv->usable || db->drv->usable(db);
}

void db_close(struct db *db)
{
    if (db)
        db->drv->close(db);
}

int db_exec(struct db *db, const char *sql, struct fmd_err *err)
{
    return db->drv->exec(db, sql, err);
}

int db_prepare(struct db *db, const char *sql, struct db_stmt **out, struct fmd_err *err)
{
    return db->drv->prepare(db, sql, out, err);
}

int db_run(struct db *db, const char *sql, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, sql, &st, err);
    if (rc)
        return rc;
    rc = db_step(st, err);
    db_done(st);
    return rc < 0 ? rc : 0;
}

int db_bind_textn(struct db_stmt *st, int n, const char *s, size_t len)
{
    return s ? st->db->drv->bind_text(st, n, s, len) : st->db->drv->bind_null(st, n);
}

int db_bind_text(struct db_stmt *st, int n, const char *s)
{
    return db_bind_textn(st, n, s, s ? strlen(s) : 0);
}

int db_bind_int(struct db_stmt *st, int n, int64_t v)
{
    return st->db->drv->bind_int(st, n, v);
}

int db_bind_null(struct db_stmt *st, int n)
{
    return st->db->drv->bind_null(st, n);
}

int db_bind_double(struct db_stmt *st, int n, double v)
{
    return st->db->drv->bind_double(st, n, v);
}

int db_step(struct db_stmt *st, struct fmd_err *err)
{
    uint64_t t0 = clock_mono_ns();
    int rc = st->db->drv->step(st, err);
    atomic_fetch_add_explicit(&step_ns, clock_mono_ns() - t0, memory_order_relaxed);
    return rc;
}

const char *db_col_textn(struct db_stmt *st, int col, size_t *len)
{
    return st->db->drv->col_text(st, col, len);
}

const char *db_col_text(struct db_stmt *st, int col)
{
    return st->db->drv->col_text(st, col, NULL);
}

int64_t db_col_int(struct db_stmt *st, int col)
{
    return st->db->drv->col_int(st, col);
}

double db_col_double(struct db_stmt *st, int col)
{
    return st->db->drv->col_double(st, col);
}

int db_col_null(struct db_stmt *st, int col)
{
    return st->db->drv->col_null(st, col);
}

void db_done(struct db_stmt *st)
{
    if (st)
        st->db->drv->done(st);
}

int64_t db_changes(struct db *db)
{
    return db->drv->changes(db);
}

int db_begin(struct db *db, struct fmd_err *err)
{
    return db_run(db, db->drv->dialect == DB_POSTGRES ? "BEGIN" : "BEGIN IMMEDIATE", err);
}

int db_commit(struct db *db, struct fmd_err *err)
{
    return db->drv->end ? db->drv->end(db, 1, err) : db_run(db, "COMMIT", err);
}

void db_rollback(struct db *db)
{
    if (db->drv->end)
        db->drv->end(db, 0, NULL);
    else
        db_run(db, "ROLLBACK", NULL);
}

double db_time_seconds(void)
{
    return (double)atomic_load(&step_ns) / 1e9;
}

int db_notify(struct db *db, const char *channel, const char *payload, struct fmd_err *err)
{
    return db->drv->notify ? db->drv->notify(db, channel, payload, err) : 0;
}

int db_listen(struct db *db, const char *channel, struct fmd_err *err)
{
    if (!db->drv->listen)
        return fmd_errf(err, FMD_EINVAL, "the '%s' driver cannot listen", db->drv->name);
    return db->drv->listen(db, channel, err);
}

int db_wait(struct db *db, int timeout_ms, struct fmd_err *err)
{
    if (!db->drv->wait)
        return fmd_errf(err, FMD_EINVAL, "the '%s' driver cannot wait", db->drv->name);
    return db->drv->wait(db, timeout_ms, err);
}

int db_can_listen(const struct db *db)
{
    return db->drv->listen && db->drv->wait;
}
