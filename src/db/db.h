/*
 * db.h - the database driver vtable and the thin wrappers callers use.
 *
 * Domain SQL is written once with $1, $2 ... placeholders; each driver maps
 * them onto its own binding. Callers never touch a driver directly: the
 * db_* wrappers are where metrics and fault injection hook in.
 *
 * Ownership: a struct db is used by one thread at a time (the pool hands
 * connections out; the writer owns its own). Statements come from
 * db_prepare, are cached per connection by SQL text pointer (pass string
 * literals), and belong to the connection: never finalize them yourself,
 * call db_done() when you have finished stepping.
 */
#ifndef FMD_DB_DB_H
#define FMD_DB_DB_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct db;
struct db_stmt;

/* db_open flags */
#define DB_READONLY 0x1   /* a connection that only reads */

/* SQL dialects, for the few statements written twice (db_dialect). */
enum db_dialect { DB_SQLITE, DB_POSTGRES };

struct db_driver {
    int version;
    const char *name;
    enum db_dialect dialect;
    int (*open)(const char *target, unsigned flags, struct db **out, struct fmd_err *err);
    void (*close)(struct db *db);
    int (*exec)(struct db *db, const char *sql, struct fmd_err *err);
    int (*prepare)(struct db *db, const char *sql, struct db_stmt **out, struct fmd_err *err);
    void (*done)(struct db_stmt *st);
    int (*bind_text)(struct db_stmt *st, int n, const char *s, size_t len);
    int (*bind_int)(struct db_stmt *st, int n, int64_t v);
    int (*bind_null)(struct db_stmt *st, int n);
    int (*bind_double)(struct db_stmt *st, int n, double v);
    int (*step)(struct db_stmt *st, struct fmd_err *err);
    const char *(*col_text)(struct db_stmt *st, int col, size_t *len);
    int64_t (*col_int)(struct db_stmt *st, int col);
    double (*col_double)(struct db_stmt *st, int col);
    int (*col_null)(struct db_stmt *st, int col);
    int64_t (*changes)(struct db *db);
    /* Optional: 0 when a connection given back to a pool should be closed instead. */
    int (*usable)(struct db *db);
    /*
     * Optional, with a server to tell other processes (PostgreSQL): notify
     * queues a notification on channel, sent when the transaction commits;
     * listen subscribes this connection to channel; wait blocks up to
     * timeout_ms for notifications: 1 some came (all are consumed), 0 none.
     */
    int (*notify)(struct db *db, const char *channel, const char *payload, struct fmd_err *err);
    int (*listen)(struct db *db, const char *channel, struct fmd_err *err);
    int (*wait)(struct db *db, int timeout_ms, struct fmd_err *err);
    /*
     * Optional: ends the transaction (commit nonzero: COMMIT, else ROLLBACK)
     * for a driver with work to do then; PostgreSQL sends the notifications
     * that notify gathered during the transaction, in one statement.
     */
    int (*end)(struct db *db, int commit, struct fmd_err *err);
};

extern const struct db_driver db_sqlite_driver;
extern const struct db_driver db_postgres_driver;

/*
 * Opens target with the matching driver: "postgres://..." or
 * "postgresql://..." (a libpq URL) with PostgreSQL, "sqlite:PATH" or a plain
 * path with SQLite.
 */
int db_open(const char *target, unsigned flags, struct db **out, struct fmd_err *err);
void db_close(struct db *db);

/* Runs one or more statements without parameters. */
int db_exec(struct db *db, const char *sql, struct fmd_err *err);
/*
 * Runs one statement without parameters through the statement cache (pass
 * a literal): for the statements run thousands of times a second, such as
 * BEGIN, COMMIT and savepoints, which db_exec would parse every time.
 */
int db_run(struct db *db, const char *sql, struct fmd_err *err);
/* A reset, unbound statement for sql (cached: pass a string literal). */
int db_prepare(struct db *db, const char *sql, struct db_stmt **out, struct fmd_err *err);
/* Parameters are 1-based ($1 is n = 1); text is copied. s NULL binds NULL. */
int db_bind_text(struct db_stmt *st, int n, const char *s);
int db_bind_textn(struct db_stmt *st, int n, const char *s, size_t len);
int db_bind_int(struct db_stmt *st, int n, int64_t v);
int db_bind_null(struct db_stmt *st, int n);
int db_bind_double(struct db_stmt *st, int n, double v);
/*
 * 1: a row is ready; 0: finished; <0: FMD_ECONFLICT (constraint), FMD_EBUSY,
 * FMD_EUNAVAIL (connection lost), FMD_EDB. On PostgreSQL any error aborts the
 * transaction: to go on after one, take a savepoint before the statement.
 */
int db_step(struct db_stmt *st, struct fmd_err *err);
/* Column values of the current row, valid until the next step or done. */
const char *db_col_text(struct db_stmt *st, int col);   /* NULL for SQL NULL */
const char *db_col_textn(struct db_stmt *st, int col, size_t *len);
int64_t db_col_int(struct db_stmt *st, int col);
double db_col_double(struct db_stmt *st, int col);
int db_col_null(struct db_stmt *st, int col);
/* Finished with st: resets it and returns it to the connection's cache. */
void db_done(struct db_stmt *st);
/* Rows changed by the last statement. */
int64_t db_changes(struct db *db);

/*
 * The SQL dialect of db's driver. Domain SQL is written once; branch on this
 * only where the engines differ (JSON arrays, claiming tasks, the DDL).
 */
enum db_dialect db_dialect(const struct db *db);
/* 1 when target names a PostgreSQL database (a postgres:// URL). */
int db_target_is_postgres(const char *target);
/* 0 when db should be closed rather than reused (a lost connection). */
int db_usable(struct db *db);

/*
 * Transactions; on SQLite begin takes the write lock at once ("BEGIN
 * IMMEDIATE"); on PostgreSQL it is a plain BEGIN (READ COMMITTED).
 */
int db_begin(struct db *db, struct fmd_err *err);
int db_commit(struct db *db, struct fmd_err *err);
void db_rollback(struct db *db);

/*
 * Wake-ups across processes. db_notify announces something on channel ([a-z_]
 * name), delivered to listeners when the current transaction commits and
 * never if it rolls back; without the capability (SQLite: every process
 * that runs tasks shares one writer, and wakes its own workers) it does
 * nothing and returns 0. db_listen makes db a dedicated listening
 * connection (FMD_EINVAL without the capability); db_wait then waits up to
 * timeout_ms: 1 notified, 0 timed out, FMD_EUNAVAIL when the connection is
 * lost (close it and listen on a new one: what was sent meanwhile is gone).
 */
int db_notify(struct db *db, const char *channel, const char *payload, struct fmd_err *err);
int db_listen(struct db *db, const char *channel, struct fmd_err *err);
int db_wait(struct db *db, int timeout_ms, struct fmd_err *err);
/* 1 when db's driver can notify and listen. */
int db_can_listen(const struct db *db);

/* Seconds spent in db_step since start, summed over all connections. */
double db_time_seconds(void);

#endif
