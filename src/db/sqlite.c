/*
 * sqlite.c - the SQLite driver.
 *
 * Connections run in WAL mode with synchronous=FULL (a COMMIT returns only
 * after the WAL is fsynced), foreign keys on and a busy timeout, so readers
 * never block the one writer and a 2xx means the data is on disk.
 *
 * $N placeholders are SQLite named parameters ("$1"); at prepare time we map
 * each N to SQLite's parameter index so binding by number is one array read.
 * Prepared statements are cached per connection by SQL text.
 *
 * Each connection to a file also holds a shared lock on "<file>-lock"
 * (db/lock.h), so that formd restore knows the database is in use.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "db/db_int.h"
#include "db/lock.h"
#include "core/banned.h"

#define MAX_PARAMS 32
#define CACHE_SIZE 96

struct sq_stmt {
    struct db_stmt base;
    sqlite3_stmt *st;
    const char *sql;          /* cache key */
    int index[MAX_PARAMS + 1]; /* $N -> sqlite index, 0 if absent */
};

struct sq_db {
    struct db base;
    sqlite3 *h;
    struct sq_stmt *cache[CACHE_SIZE];
    int ncache;
    int lock_fd;              /* shared lock of db/lock.h, or -1 */
};

static int map_rc(struct sq_db *d, int rc, struct fmd_err *err, const char *what)
{
    int ext = sqlite3_extended_errcode(d->h);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return fmd_errf(err, FMD_ECONFLICT, "%s: %s", what, sqlite3_errmsg(d->h));
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return fmd_errf(err, FMD_EBUSY, "%s: database is busy", what);
    if ((rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR)
        return fmd_errf(err, FMD_EIO, "%s: %s (%d)", what, sqlite3_errmsg(d->h), ext);
    return fmd_errf(err, FMD_EDB, "%s: %s (%d)", what, sqlite3_errmsg(d->h), ext);
}

static void sq_close(struct db *db)
{
    struct sq_db *d = (struct sq_db *)db;
    int i;
    for (i = 0; i < d->ncache; i++) {
        sqlite3_finalize(d->cache[i]->st);
        fmd_free(d->cache[i]);
    }
    sqlite3_close_v2(d->h);
    db_unlock(d->lock_fd);
    fmd_free(d);
}

static int sq_exec(struct db *db, const char *sql, struct fmd_err *err)
{
    struct sq_db *d = (struct sq_db *)db;
    int rc = sqlite3_exec(d->h, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : map_rc(d, rc, err, "exec");
}

/*
 * Before SQLite's first use: no memory statistics. They cost a global mutex
 * on every allocation SQLite makes, about a tenth of the writer's time
 * under load, and formd never reads them.
 */
static void sq_global_init(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_initialize();
}

static int sq_open(const char *path, unsigned flags, struct db **out, struct fmd_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    static const char setup[] =
        "PRAGMA journal_mode=WAL;"
        "PRAGMA synchronous=FULL;"
        "PRAGMA foreign_keys=ON;"
        "PRAGMA temp_store=MEMORY;"
        "PRAGMA cache_size=-16000;";
    struct sq_db *d = fmd_calloc(1, sizeof(*d));
    int rc;

    pthread_once(&once, sq_global_init);
    *out = NULL;
    if (!d)
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    d->base.drv = &db_sqlite_driver;
    /* Before SQLite opens the file: a restore in progress must not be raced. */
    if ((rc = db_lock_shared(path, &d->lock_fd, err))) {
        fmd_free(d);
        return rc;
    }
    rc = sqlite3_open_v2(path, &d->h,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        fmd_errf(err, FMD_EIO, "cannot open database '%s': %s", path,
                 d->h ? sqlite3_errmsg(d->h) : "out of memory");
        sqlite3_close_v2(d->h);
        db_unlock(d->lock_fd);
        fmd_free(d);
        return err ? err->code : FMD_EIO;
    }
    sqlite3_busy_timeout(d->h, 10000);
    sqlite3_extended_result_codes(d->h, 1);
    if ((rc = sq_exec(&d->base, setup, err)) ||
        ((flags & DB_READONLY) && (rc = sq_exec(&d->base, "PRAGMA query_only=1", err)))) {
        sq_close(&d->base);
        return rc;
    }
    *out = &d->base;
    return 0;
}

static int sq_prepare(struct db *db, const char *sql, struct db_stmt **out, struct fmd_err *err)
{
    struct sq_db *d = (struct sq_db *)db;
    struct sq_stmt *s;
    int i, rc;
    char name[16];

    for (i = 0; i < d->ncache; i++)
        if (d->cache[i]->sql == sql || !strcmp(d->cache[i]->sql, sql)) {
            *out = &d->cache[i]->base;
            return 0;
        }
    s = fmd_calloc(1, sizeof(*s));
    if (!s)
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    rc = sqlite3_prepare_v3(d->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st, NULL);
    if (rc != SQLITE_OK) {
        fmd_free(s);
        return map_rc(d, rc, err, "prepare");
    }
    s->base.db = db;
    s->sql = sql;
    for (i = 1; i <= MAX_PARAMS; i++) {
        snprintf(name, sizeof(name), "$%d", i % 100);
        s->index[i] = sqlite3_bind_parameter_index(s->st, name);
    }
    if (d->ncache == CACHE_SIZE) {
        /* Full: evict the oldest. Domain SQL is a fixed set, so this is rare. */
        sqlite3_finalize(d->cache[0]->st);
        fmd_free(d->cache[0]);
        memmove(d->cache, d->cache + 1, sizeof(d->cache[0]) * (CACHE_SIZE - 1));
        d->ncache--;
    }
    d->cache[d->ncache++] = s;
    *out = &s->base;
    return 0;
}

static void sq_done(struct db_stmt *st)
{
    struct sq_stmt *s = (struct sq_stmt *)st;
    sqlite3_reset(s->st);
    sqlite3_clear_bindings(s->st);
}

static int param(struct sq_stmt *s, int n)
{
    if (n < 1 || n > MAX_PARAMS || !s->index[n])
        FMD_BUG("statement has no parameter $%d: %s", n, s->sql);
    return s->index[n];
}

static int bind_rc(int rc)
{
    return rc == SQLITE_OK ? 0 : rc == SQLITE_NOMEM ? FMD_ENOMEM : FMD_EDB;
}

static int sq_bind_text(struct db_stmt *st, int n, const char *v, size_t len)
{
    struct sq_stmt *s = (struct sq_stmt *)st;
    return bind_rc(sqlite3_bind_text64(s->st, param(s, n), v, len, SQLITE_TRANSIENT, SQLITE_UTF8));
}

static int sq_bind_int(struct db_stmt *st, int n, int64_t v)
{
    struct sq_stmt *s = (struct sq_stmt *)st;
    return bind_rc(sqlite3_bind_int64(s->st, param(s, n), v));
}

static int sq_bind_null(struct db_stmt *st, int n)
{
    struct sq_stmt *s = (struct sq_stmt *)st;
    return bind_rc(sqlite3_bind_null(s->st, param(s, n)));
}

static int sq_bind_double(struct db_stmt *st, int n, double v)
{
    struct sq_stmt *s = (struct sq_stmt *)st;
    return bind_rc(sqlite3_bind_double(s->st, param(s, n), v));
}

static int sq_step(struct db_stmt *st, struct fmd_err *err)
{
    struct sq_stmt *s = (struct sq_stmt *)st;
    int rc = sqlite3_step(s->st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    rc = map_rc((struct sq_db *)st->db, rc, err, "step");
    sqlite3_reset(s->st);
    return rc;
}

static const char *sq_col_text(struct db_stmt *st, int col, size_t *len)
{
    struct sq_stmt *s = (struct sq_stmt *)st;
    const char *t = (const char *)sqlite3_column_text(s->st, col);
    if (len)
        *len = t ? (size_t)sqlite3_column_bytes(s->st, col) : 0;
    return t;
}

static int64_t sq_col_int(struct db_stmt *st, int col)
{
    return sqlite3_column_int64(((struct sq_stmt *)st)->st, col);
}

static double sq_col_double(struct db_stmt *st, int col)
{
    return sqlite3_column_double(((struct sq_stmt *)st)->st, col);
}

static int sq_col_null(struct db_stmt *st, int col)
{
    return sqlite3_column_type(((struct sq_stmt *)st)->st, col) == SQLITE_NULL;
}

static int64_t sq_changes(struct db *db)
{
    return sqlite3_changes64(((struct sq_db *)db)->h);
}

const struct db_driver db_sqlite_driver = {
    .version = 1,
    .name = "sqlite",
    .dialect = DB_SQLITE,
    .open = sq_open,
    .close = sq_close,
    .exec = sq_exec,
    .prepare = sq_prepare,
    .done = sq_done,
    .bind_text = sq_bind_text,
    .bind_int = sq_bind_int,
    .bind_null = sq_bind_null,
    .bind_double = sq_bind_double,
    .step = sq_step,
    .col_text = sq_col_text,
    .col_int = sq_col_int,
    .col_double = sq_col_double,
    .col_null = sq_col_null,
    .changes = sq_changes,
};
