/*
 * duck.h - a thin, safe wrapper over DuckDB's C API for the analytics store.
 *
 * A database (struct duck) is opened once per process; each thread or task
 * takes its own connection (struct duck_conn). The database never downloads
 * or loads extensions (parquet, json and icu are built in), cannot reach files
 * outside the directories the caller allows (the exports directory), and its
 * settings are locked after open, so SQL cannot loosen any of this.
 *
 * DuckDB errors map to codes by DuckDB's error type: mistakes in the SQL
 * (parser, binder, catalog, conversion, out of range, invalid input, ...)
 * are FMD_EINVAL, file access outside the allowed directories FMD_EFORBIDDEN,
 * constraint violations FMD_ECONFLICT, memory_limit exceeded FMD_ENOMEM, a
 * query stopped by its time limit FMD_ETIMEOUT, anything else FMD_EDB; the
 * message is the first line of DuckDB's, truncated to fit struct fmd_err.
 */
#ifndef FMD_ANALYTICS_DUCK_H
#define FMD_ANALYTICS_DUCK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct duck;            /* a database */
struct duck_conn;       /* one connection: use from one thread at a time */
struct duck_prepared;   /* a prepared statement on one connection */
struct duck_appender;   /* bulk insert into one table on one connection */

struct duck_options {
    int threads;                     /* worker threads; 0: 2 */
    const char *memory_limit;        /* DuckDB size such as "1GB"; NULL: "1GB" */
    const char *temp_dir;            /* spill directory; NULL: "<path>.tmp" */
    /* NULL-terminated list of directories SQL may read and write (COPY ...
     * TO, read_csv, ...); NULL or empty: none. Each must be absolute. */
    const char *const *allowed_dirs;
};

struct duck_limits {
    size_t max_rows;     /* rows kept; more set "truncated" */
    long timeout_ms;     /* whole query, fetching included; 0: no limit */
};

/*
 * Opens or creates the database file at path with opt (NULL: defaults).
 * On success *out is the caller's, released with duck_close. Fails with
 * FMD_EINVAL for bad options, FMD_EIO if the file cannot be opened (DuckDB's
 * message in err), FMD_ENOMEM.
 */
int duck_open(const char *path, const struct duck_options *opt, struct duck **out,
              struct fmd_err *err);
/* Closes d (NULL is a no-op). Every connection must be closed first. */
void duck_close(struct duck *d);

/* A new connection to d in *out, released with duck_disconnect. FMD_EDB, FMD_ENOMEM. */
int duck_connect(struct duck *d, struct duck_conn **out, struct fmd_err *err);
/* Closes c (NULL is a no-op). Its statements and appenders must be freed first. */
void duck_disconnect(struct duck_conn *c);

/* Runs sql (one or more statements), discarding any result. */
int duck_exec(struct duck_conn *c, const char *sql, struct fmd_err *err);

/*
 * Prepares one statement with positional parameters ($1 or ?) into *out,
 * released with duck_prepared_free. Errors as above.
 */
int duck_prepare(struct duck_conn *c, const char *sql, struct duck_prepared **out,
                 struct fmd_err *err);
/* Frees p (NULL is a no-op). */
void duck_prepared_free(struct duck_prepared *p);
/*
 * Bind parameter n (1-based); values are copied. Bindings stay until
 * rebound. 0, or FMD_EINVAL for a bad index or invalid UTF-8 in text.
 */
int duck_bind_text(struct duck_prepared *p, int n, const char *v, size_t len);
int duck_bind_int64(struct duck_prepared *p, int n, int64_t v);
int duck_bind_double(struct duck_prepared *p, int n, double v);
int duck_bind_bool(struct duck_prepared *p, int n, bool v);
int duck_bind_null(struct duck_prepared *p, int n);
/*
 * Runs p with its current bindings, discarding any result; *changed (may be
 * NULL) gets the rows inserted, updated or deleted. p can be run again.
 */
int duck_prepared_exec(struct duck_prepared *p, int64_t *changed, struct fmd_err *err);

/*
 * Opens an appender on table (in the default schema) into *out, released
 * with duck_appender_close. Appends go column by column, row by row, each
 * row closed by duck_appender_end_row; values are copied. A value of the
 * wrong type fails at once, invalid UTF-8 only when rows are flushed. The
 * first failure sticks: later calls return the same code, and end_row,
 * flush and close put its message in err.
 */
int duck_appender_open(struct duck_conn *c, const char *table, struct duck_appender **out,
                       struct fmd_err *err);
int duck_append_text(struct duck_appender *a, const char *v, size_t len);
int duck_append_int64(struct duck_appender *a, int64_t v);
int duck_append_double(struct duck_appender *a, double v);
int duck_append_bool(struct duck_appender *a, bool v);
int duck_append_null(struct duck_appender *a);
int duck_appender_end_row(struct duck_appender *a, struct fmd_err *err);
/* Writes the rows appended so far to the table. */
int duck_appender_flush(struct duck_appender *a, struct fmd_err *err);
/*
 * Flushes and frees a (NULL is a no-op, returns 0). a is freed even when
 * the final flush fails; rows since the last successful flush are then lost.
 */
int duck_appender_close(struct duck_appender *a, struct fmd_err *err);

/*
 * Runs p (with its current bindings) one DuckDB task at a time on the
 * calling thread, calling check(arg) (may be NULL) before it starts and
 * about every 50 ms: a nonzero return interrupts the statement and is
 * returned, with "query stopped" in err. For long statements whose result
 * is small (COPY ... TO) that must stop on request. DuckDB finishes tearing
 * a stopped statement down (closing the files a COPY opened) when the
 * connection runs its next statement: run one (ROLLBACK, say) before
 * removing what it wrote. *changed (may be NULL) gets the rows the
 * statement reports (for COPY, the rows written). Errors as duck_prepared_exec.
 */
int duck_prepared_run(struct duck_prepared *p, int (*check)(void *arg), void *arg,
                      int64_t *changed, struct fmd_err *err);

/*
 * A streaming cursor over the result of a prepared statement: rows come a
 * chunk (up to 2,048 rows) at a time and the result is never materialised
 * (beyond what the query itself needs, such as a sort, which DuckDB spills
 * to its temp directory past memory_limit).
 *
 * duck_cursor_open runs p with its current bindings into *out, released with
 * duck_cursor_close; p must outlive the cursor, and the connection runs
 * nothing else while it is open. Errors as duck_prepared_exec.
 */
struct duck_cursor;
int duck_cursor_open(struct duck_prepared *p, struct duck_cursor **out, struct fmd_err *err);
/* Closes cur (NULL is a no-op). */
void duck_cursor_close(struct duck_cursor *cur);
/* Columns of the result, and the name of column i (owned by cur). */
size_t duck_cursor_columns(const struct duck_cursor *cur);
const char *duck_cursor_column_name(const struct duck_cursor *cur, size_t i);

/*
 * Raw DuckDB access, declared only for code that includes <duckdb.h>
 * before this header (the analytics modules that decode vectors).
 */
#ifdef DUCKDB_C_API
/* The type of column i: a new handle, the caller destroys it. */
duckdb_logical_type duck_cursor_column_type(const struct duck_cursor *cur, size_t i);
/*
 * The next chunk into *out (the caller destroys it with
 * duckdb_destroy_data_chunk), NULL after the last. A query that fails while
 * streaming fails here, with the codes of duck_query_json.
 */
int duck_cursor_fetch(struct duck_cursor *cur, duckdb_data_chunk *out, struct fmd_err *err);
/* The connection's handle, for calls this wrapper does not cover. */
duckdb_connection duck_conn_handle(struct duck_conn *c);
#endif

/*
 * Runs exactly one statement and sets *out (the caller decrefs) to
 *   {"columns": [{"name": ..., "type": ...}, ...], "rows": [[...], ...],
 *    "truncated": bool}
 * with at most lim->max_rows rows: rows are fetched chunk by chunk and the
 * rest is never materialised. Values: integers as integers (HUGEINT, UBIGINT
 * and wider beyond the int64 range as decimal strings), FLOAT / DOUBLE /
 * DECIMAL as reals (NaN and infinities as null), BOOLEAN, VARCHAR and ENUM as
 * strings, JSON parsed, DATE / TIME / TIMESTAMP as ISO 8601 strings
 * (TIMESTAMPTZ in UTC with "Z"), INTERVAL as an ISO 8601 duration, UUID as
 * text, BLOB as a string with \xNN escapes, LIST / ARRAY as arrays, STRUCT as
 * objects, MAP as an array of {"key", "value"} objects, UNION as its member's
 * value, NULL as null. A column of another type (BIT, BIGNUM) fails with
 * FMD_EINVAL asking for a cast. lim->timeout_ms bounds the whole call: past
 * it the query is interrupted and the call fails with FMD_ETIMEOUT. The SQL
 * is not checked here: see duck_check_read_only.
 */
int duck_query_json(struct duck_conn *c, const char *sql, const struct duck_limits *lim,
                    json_t **out, struct fmd_err *err);

/*
 * 0 if sql is exactly one SELECT, as DuckDB classifies the prepared
 * statement: FROM-first, VALUES, DESCRIBE, SUMMARIZE, SHOW and the PRAGMAs
 * that are table functions (database_list, table_info) count as SELECT.
 * Anything else is FMD_EINVAL naming what it got ("only a single SELECT is
 * allowed, got COPY"). EXPLAIN is refused: EXPLAIN ANALYZE would run the
 * statement it explains; PIVOT too, which DuckDB splits in two statements.
 * The statement is prepared, not run. DuckDB binds while preparing, so a
 * query it cannot bind fails with that error (a SELECT from an unknown
 * table: FMD_EINVAL; reading a file: FMD_EFORBIDDEN), and a statement that
 * is not a query is named by its first keyword ("got COPY").
 */
int duck_check_read_only(struct duck_conn *c, const char *sql, struct fmd_err *err);

#endif
