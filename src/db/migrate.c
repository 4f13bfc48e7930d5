/* migrate.c - applying and reverting migrations. */
#include "db/migrate.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/banned.h"

/* The migrations in db's dialect. */
static const struct migration *list(struct db *db, int *n)
{
    if (db_dialect(db) == DB_POSTGRES) {
        *n = db_migrations_pg_count;
        return db_migrations_pg;
    }
    *n = db_migrations_count;
    return db_migrations;
}

static int ensure_table(struct db *db, struct fmd_err *err)
{
    /* applied_at is in milliseconds: 64 bits (PostgreSQL's INTEGER has 32). */
    return db_exec(db,
                   db_dialect(db) == DB_POSTGRES
                       ? "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "  version INTEGER PRIMARY KEY,"
                         "  name TEXT NOT NULL,"
                         "  applied_at BIGINT NOT NULL)"
                       : "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "  version INTEGER PRIMARY KEY,"
                         "  name TEXT NOT NULL,"
                         "  applied_at INTEGER NOT NULL)",
                   err);
}

int migrate_current(struct db *db, int *version, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc;

    *version = 0;
    if ((rc = ensure_table(db, err)) ||
        (rc = db_prepare(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &st, err)))
        return rc;
    rc = db_step(st, err);
    if (rc == 1) {
        *version = (int)db_col_int(st, 0);
        rc = 0;
    }
    db_done(st);
    return rc;
}

/* Runs one migration step and its bookkeeping row in one transaction. */
static int apply_one(struct db *db, const struct migration *m, int up, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc;

    if ((rc = db_begin(db, err)))
        return rc;
    if ((rc = db_exec(db, up ? m->up : m->down, err)))
        goto out;
    if (up) {
        if ((rc = db_prepare(db, "INSERT INTO schema_migrations (version, name, applied_at) "
                                 "VALUES ($1, $2, $3)", &st, err)))
            goto out;
        db_bind_int(st, 1, m->version);
        db_bind_text(st, 2, m->name);
        db_bind_int(st, 3, clock_wall_ms());
    } else {
        if ((rc = db_prepare(db, "DELETE FROM schema_migrations WHERE version = $1", &st, err)))
            goto out;
        db_bind_int(st, 1, m->version);
    }
    rc = db_step(st, err);
    db_done(st);
    if (rc < 0)
        goto out;
    rc = db_commit(db, err);
out:
    if (rc)
        db_rollback(db);
    else
        log_info("migration %d %s: %s", m->version, up ? "applied" : "reverted", m->name);
    return rc;
}

int migrate_up(struct db *db, int target, struct fmd_err *err)
{
    int cur, i, rc, n;
    const struct migration *m = list(db, &n);

    if ((rc = migrate_current(db, &cur, err)))
        return rc;
    if (target < 0)
        target = m[n - 1].version;
    if (cur > m[n - 1].version)
        return fmd_errf(err, FMD_EINVAL,
                        "database is at version %d, newer than this formd knows (%d): "
                        "run the newer formd or roll back with it first",
                        cur, m[n - 1].version);
    for (i = 0; i < n && !rc; i++)
        if (m[i].version > cur && m[i].version <= target)
            rc = apply_one(db, &m[i], 1, err);
    return rc;
}

int migrate_down(struct db *db, int target, struct fmd_err *err)
{
    int cur, i, rc, n;
    const struct migration *m = list(db, &n);

    if (target < 0)
        return fmd_errf(err, FMD_EINVAL, "target version must be >= 0");
    if ((rc = migrate_current(db, &cur, err)))
        return rc;
    for (i = n - 1; i >= 0 && !rc; i--)
        if (m[i].version <= cur && m[i].version > target)
            rc = apply_one(db, &m[i], 0, err);
    return rc;
}
