/*
 * duck.c - the DuckDB wrapper: open with a locked-down configuration,
 * connections, statements, appenders, and bounded queries answered as JSON.
 *
 * Locking down happens in two steps because DuckDB 1.4 takes
 * allowed_directories only as SQL, not through duckdb_set_config: the
 * database opens with extension auto-install and auto-load off, then one
 * connection runs SET allowed_directories, SET enable_external_access=false
 * and SET lock_configuration=true. From then on no SQL can change a setting,
 * and file access (COPY, read_csv, glob, ATTACH, INSTALL) works only inside
 * the allowed directories and DuckDB's own temp directory.
 *
 * Results stream chunk by chunk through duckdb_execute_prepared_streaming:
 * marked deprecated in 1.4 but the only C API call that does not materialise
 * the whole result (duckdb_pending_prepared does). duck_query_json and the
 * cursors (duck_cursor_*, for exports) both read this way. duck_prepared_run
 * is the other way round: for a statement with a small result (COPY), it
 * drives duckdb_pending_prepared one task at a time so the caller can stop it
 * between tasks (duckdb_query_progress stays at -1 for such a statement in
 * 1.4, with or without enable_progress_bar, so it offers no progress).
 *
 * Query time limits use a watchdog thread per query that calls
 * duckdb_interrupt on the connection from the deadline until the query
 * returns; DuckDB clears the interrupt when the next query starts, so a late
 * one does no harm.
 */
/* duckdb.h declares a few "f()" functions: fine in C23, a warning in C11. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <duckdb.h>
#pragma GCC diagnostic pop
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "analytics/duck.h"
#include "core/buf.h"
#include "core/mem.h"
#include "core/banned.h"

struct duck {
    duckdb_database db;
};

struct duck_conn {
    duckdb_connection h;
};

struct duck_prepared {
    duckdb_prepared_statement h;
    duckdb_connection conn;     /* its connection, for duckdb_interrupt */
};

struct duck_appender {
    duckdb_appender h;
    struct fmd_err first;   /* the first failure; code 0 while none */
};

/* ---- errors ---------------------------------------------------------- */

/* DuckDB's exception names as its messages start ("Binder Error: ..."). */
static const struct {
    duckdb_error_type type;
    const char *name;
} error_names[] = {
    { DUCKDB_ERROR_PARSER, "Parser" },
    { DUCKDB_ERROR_SYNTAX, "Syntax" },
    { DUCKDB_ERROR_BINDER, "Binder" },
    { DUCKDB_ERROR_CATALOG, "Catalog" },
    { DUCKDB_ERROR_CONVERSION, "Conversion" },
    { DUCKDB_ERROR_OUT_OF_RANGE, "Out of Range" },
    { DUCKDB_ERROR_DIVIDE_BY_ZERO, "Divide by Zero" },
    { DUCKDB_ERROR_MISMATCH_TYPE, "Mismatch Type" },
    { DUCKDB_ERROR_INVALID_TYPE, "Invalid type" },
    { DUCKDB_ERROR_INVALID_INPUT, "Invalid Input" },
    { DUCKDB_ERROR_PARAMETER_NOT_RESOLVED, "Parameter Not Resolved" },
    { DUCKDB_ERROR_PARAMETER_NOT_ALLOWED, "Parameter Not Allowed" },
    { DUCKDB_ERROR_NOT_IMPLEMENTED, "Not implemented" },
    { DUCKDB_ERROR_DEPENDENCY, "Dependency" },
    { DUCKDB_ERROR_MISSING_EXTENSION, "Missing Extension" },
    { DUCKDB_ERROR_AUTOLOAD, "Extension Autoloading" },
    { DUCKDB_ERROR_PERMISSION, "Permission" },
    { DUCKDB_ERROR_CONSTRAINT, "Constraint" },
    { DUCKDB_ERROR_OUT_OF_MEMORY, "Out of Memory" },
    { DUCKDB_ERROR_INTERRUPT, "INTERRUPT" },
    { DUCKDB_ERROR_IO, "IO" },
};

static int code_for_type(duckdb_error_type t)
{
    switch (t) {
    case DUCKDB_ERROR_PARSER:
    case DUCKDB_ERROR_SYNTAX:
    case DUCKDB_ERROR_BINDER:
    case DUCKDB_ERROR_CATALOG:
    case DUCKDB_ERROR_CONVERSION:
    case DUCKDB_ERROR_OUT_OF_RANGE:
    case DUCKDB_ERROR_DIVIDE_BY_ZERO:
    case DUCKDB_ERROR_MISMATCH_TYPE:
    case DUCKDB_ERROR_INVALID_TYPE:
    case DUCKDB_ERROR_INVALID_INPUT:
    case DUCKDB_ERROR_PARAMETER_NOT_RESOLVED:
    case DUCKDB_ERROR_PARAMETER_NOT_ALLOWED:
    case DUCKDB_ERROR_NOT_IMPLEMENTED:
    case DUCKDB_ERROR_DEPENDENCY:
    case DUCKDB_ERROR_MISSING_EXTENSION:
    case DUCKDB_ERROR_AUTOLOAD:
        return FMD_EINVAL;
    case DUCKDB_ERROR_PERMISSION:
        return FMD_EFORBIDDEN;
    case DUCKDB_ERROR_CONSTRAINT:
        return FMD_ECONFLICT;
    case DUCKDB_ERROR_OUT_OF_MEMORY:
        return FMD_ENOMEM;
    case DUCKDB_ERROR_INTERRUPT:
        return FMD_ETIMEOUT;
    case DUCKDB_ERROR_IO:
        return FMD_EIO;
    default:
        return FMD_EDB;
    }
}

/* Prepare errors come as text only: the type is the message's first words. */
static duckdb_error_type type_of_message(const char *msg)
{
    size_t i, n;
    for (i = 0; i < sizeof(error_names) / sizeof(error_names[0]); i++) {
        n = strlen(error_names[i].name);
        if (!strncmp(msg, error_names[i].name, n) && !strncmp(msg + n, " Error:", 7))
            return error_names[i].type;
    }
    return DUCKDB_ERROR_INVALID;
}

/* Fills err with the first line of DuckDB's message msg (may be NULL). */
static int fail(struct fmd_err *err, int code, const char *msg)
{
    size_t n;
    if (!msg || !*msg)
        return fmd_errf(err, code, "%s", fmd_err_msg(code));
    n = strcspn(msg, "\n");
    return fmd_errf(err, code, "%.*s", (int)(n < 250 ? n : 250), msg);
}

static int fail_result(struct fmd_err *err, duckdb_result *res)
{
    return fail(err, code_for_type(duckdb_result_error_type(res)), duckdb_result_error(res));
}

static int fail_message(struct fmd_err *err, const char *msg)
{
    return fail(err, msg ? code_for_type(type_of_message(msg)) : FMD_EDB, msg);
}

/* ---- database and connections ----------------------------------------- */

static int set_config(duckdb_config cfg, const char *name, const char *value,
                      struct fmd_err *err)
{
    if (duckdb_set_config(cfg, name, value) == DuckDBError)
        return fmd_errf(err, FMD_EINVAL, "invalid duckdb setting %s '%s'", name, value);
    return 0;
}

/* Appends s as the inside of a single-quoted SQL literal. */
static int add_sql_str(struct buf *b, const char *s)
{
    int rc = 0;
    for (; *s && !rc; s++)
        rc = *s == '\'' ? buf_adds(b, "''") : buf_addc(b, *s);
    return rc;
}

/* SET allowed_directories, then shut external access and lock every setting. */
static int lock_down(duckdb_database db, const char *const *dirs, struct fmd_err *err)
{
    duckdb_connection conn = NULL;
    duckdb_result res;
    struct buf b;
    int rc = 0;
    size_t i;

    buf_init(&b, 1 << 16);
    rc = buf_adds(&b, "SET allowed_directories = [");
    for (i = 0; !rc && dirs && dirs[i]; i++) {
        size_t n = strlen(dirs[i]);
        if (dirs[i][0] != '/') {
            rc = fmd_errf(err, FMD_EINVAL, "allowed directory '%s' is not absolute", dirs[i]);
            goto out;
        }
        /* A trailing slash: "/x/exports" would also allow "/x/exports2". */
        if ((rc = buf_printf(&b, "%s'", i ? ", " : "")) || (rc = add_sql_str(&b, dirs[i])) ||
            (rc = buf_adds(&b, dirs[i][n - 1] == '/' ? "'" : "/'")))
            break;
    }
    if (!rc)
        rc = buf_adds(&b, "]; SET enable_external_access = false; SET lock_configuration = true;");
    if (rc) {
        rc = fmd_errf(err, rc, "cannot build the duckdb setup");
        goto out;
    }
    if (duckdb_connect(db, &conn) == DuckDBError) {
        rc = fmd_errf(err, FMD_EDB, "cannot connect to duckdb");
        goto out;
    }
    if (duckdb_query(conn, b.p, &res) == DuckDBError)
        rc = fail_result(err, &res);
    duckdb_destroy_result(&res);
out:
    if (conn)
        duckdb_disconnect(&conn);
    buf_release(&b);
    return rc;
}

int duck_open(const char *path, const struct duck_options *opt, struct duck **out,
              struct fmd_err *err)
{
    static const struct duck_options defaults = { 0 };
    duckdb_config cfg = NULL;
    struct duck *d = NULL;
    char threads[16], *temp = NULL, *msg = NULL;
    int rc = 0;

    *out = NULL;
    if (!opt)
        opt = &defaults;
    if (!path || !*path)
        return fmd_errf(err, FMD_EINVAL, "missing duckdb path");
    if (opt->threads < 0 || opt->threads > 1024)
        return fmd_errf(err, FMD_EINVAL, "duckdb threads %d out of range 1..1024", opt->threads);
    snprintf(threads, sizeof(threads), "%d", opt->threads ? opt->threads : 2);
    d = fmd_calloc(1, sizeof(*d));
    temp = opt->temp_dir ? fmd_strdup(opt->temp_dir) : fmd_malloc(strlen(path) + 5);
    if (!d || !temp) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    if (!opt->temp_dir)
        snprintf(temp, strlen(path) + 5, "%s.tmp", path);
    if (duckdb_create_config(&cfg) == DuckDBError) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = set_config(cfg, "autoinstall_known_extensions", "false", err)) ||
        (rc = set_config(cfg, "autoload_known_extensions", "false", err)) ||
        (rc = set_config(cfg, "allow_community_extensions", "false", err)) ||
        (rc = set_config(cfg, "threads", threads, err)) ||
        (rc = set_config(cfg, "memory_limit", opt->memory_limit ? opt->memory_limit : "1GB",
                         err)) ||
        (rc = set_config(cfg, "temp_directory", temp, err)))
        goto out;
    if (duckdb_open_ext(path, &d->db, cfg, &msg) == DuckDBError) {
        rc = fmd_errf(err, FMD_EIO, "cannot open duckdb '%s': %.150s", path,
                      msg ? msg : "unknown error");
        goto out;
    }
    if ((rc = lock_down(d->db, opt->allowed_dirs, err)))
        goto out;
    *out = d;
    d = NULL;
out:
    if (msg)
        duckdb_free(msg);
    if (cfg)
        duckdb_destroy_config(&cfg);
    if (d) {
        if (d->db)
            duckdb_close(&d->db);
        fmd_free(d);
    }
    fmd_free(temp);
    return rc;
}

void duck_close(struct duck *d)
{
    if (!d)
        return;
    duckdb_close(&d->db);
    fmd_free(d);
}

int duck_connect(struct duck *d, struct duck_conn **out, struct fmd_err *err)
{
    struct duck_conn *c = fmd_calloc(1, sizeof(*c));
    *out = NULL;
    if (!c)
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    if (duckdb_connect(d->db, &c->h) == DuckDBError) {
        fmd_free(c);
        return fmd_errf(err, FMD_EDB, "cannot connect to duckdb");
    }
    *out = c;
    return 0;
}

void duck_disconnect(struct duck_conn *c)
{
    if (!c)
        return;
    duckdb_disconnect(&c->h);
    fmd_free(c);
}

int duck_exec(struct duck_conn *c, const char *sql, struct fmd_err *err)
{
    duckdb_result res;
    int rc = 0;
    if (!sql)
        return fmd_errf(err, FMD_EINVAL, "missing sql");
    if (duckdb_query(c->h, sql, &res) == DuckDBError)
        rc = fail_result(err, &res);
    duckdb_destroy_result(&res);
    return rc;
}

/* ---- prepared statements ---------------------------------------------- */

int duck_prepare(struct duck_conn *c, const char *sql, struct duck_prepared **out,
                 struct fmd_err *err)
{
    struct duck_prepared *p;
    int rc = 0;

    *out = NULL;
    if (!sql)
        return fmd_errf(err, FMD_EINVAL, "missing sql");
    if (!(p = fmd_calloc(1, sizeof(*p))))
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    p->conn = c->h;
    if (duckdb_prepare(c->h, sql, &p->h) == DuckDBError) {
        rc = fail_message(err, duckdb_prepare_error(p->h));
        duckdb_destroy_prepare(&p->h);
        fmd_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void duck_prepared_free(struct duck_prepared *p)
{
    if (!p)
        return;
    duckdb_destroy_prepare(&p->h);
    fmd_free(p);
}

static int bind_rc(duckdb_state st)
{
    return st == DuckDBSuccess ? 0 : FMD_EINVAL;
}

int duck_bind_text(struct duck_prepared *p, int n, const char *v, size_t len)
{
    return n < 1 ? FMD_EINVAL : bind_rc(duckdb_bind_varchar_length(p->h, (idx_t)n, v, len));
}

int duck_bind_int64(struct duck_prepared *p, int n, int64_t v)
{
    return n < 1 ? FMD_EINVAL : bind_rc(duckdb_bind_int64(p->h, (idx_t)n, v));
}

int duck_bind_double(struct duck_prepared *p, int n, double v)
{
    return n < 1 ? FMD_EINVAL : bind_rc(duckdb_bind_double(p->h, (idx_t)n, v));
}

int duck_bind_bool(struct duck_prepared *p, int n, bool v)
{
    return n < 1 ? FMD_EINVAL : bind_rc(duckdb_bind_boolean(p->h, (idx_t)n, v));
}

int duck_bind_null(struct duck_prepared *p, int n)
{
    return n < 1 ? FMD_EINVAL : bind_rc(duckdb_bind_null(p->h, (idx_t)n));
}

int duck_prepared_exec(struct duck_prepared *p, int64_t *changed, struct fmd_err *err)
{
    duckdb_result res;
    int rc = 0;
    if (duckdb_execute_prepared(p->h, &res) == DuckDBError)
        rc = fail_result(err, &res);
    else if (changed)
        *changed = (int64_t)duckdb_rows_changed(&res);
    duckdb_destroy_result(&res);
    return rc;
}

/* ---- appender ---------------------------------------------------------- */

/* Records the appender's error as the sticky first failure. */
static int append_failed(struct duck_appender *a)
{
    duckdb_error_data e;
    if (a->first.code)
        return a->first.code;
    e = duckdb_appender_error_data(a->h);
    if (e && duckdb_error_data_has_error(e))
        fail(&a->first, code_for_type(duckdb_error_data_error_type(e)),
             duckdb_error_data_message(e));
    else
        fmd_errf(&a->first, FMD_EDB, "append failed");
    if (e)
        duckdb_destroy_error_data(&e);
    return a->first.code;
}

static int append_rc(struct duck_appender *a, duckdb_state st)
{
    if (a->first.code)
        return a->first.code;
    return st == DuckDBSuccess ? 0 : append_failed(a);
}

static int report(struct duck_appender *a, struct fmd_err *err)
{
    if (err && a->first.code)
        *err = a->first;
    return a->first.code;
}

int duck_appender_open(struct duck_conn *c, const char *table, struct duck_appender **out,
                       struct fmd_err *err)
{
    struct duck_appender *a;
    int rc;

    *out = NULL;
    if (!table)
        return fmd_errf(err, FMD_EINVAL, "missing table");
    if (!(a = fmd_calloc(1, sizeof(*a))))
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    if (duckdb_appender_create(c->h, NULL, table, &a->h) == DuckDBError) {
        rc = append_failed(a);
        report(a, err);
        duckdb_appender_destroy(&a->h);
        fmd_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int duck_append_text(struct duck_appender *a, const char *v, size_t len)
{
    return a->first.code ? a->first.code
                         : append_rc(a, duckdb_append_varchar_length(a->h, v, (idx_t)len));
}

int duck_append_int64(struct duck_appender *a, int64_t v)
{
    return a->first.code ? a->first.code : append_rc(a, duckdb_append_int64(a->h, v));
}

int duck_append_double(struct duck_appender *a, double v)
{
    return a->first.code ? a->first.code : append_rc(a, duckdb_append_double(a->h, v));
}

int duck_append_bool(struct duck_appender *a, bool v)
{
    return a->first.code ? a->first.code : append_rc(a, duckdb_append_bool(a->h, v));
}

int duck_append_null(struct duck_appender *a)
{
    return a->first.code ? a->first.code : append_rc(a, duckdb_append_null(a->h));
}

int duck_appender_end_row(struct duck_appender *a, struct fmd_err *err)
{
    if (!a->first.code)
        append_rc(a, duckdb_appender_end_row(a->h));
    return report(a, err);
}

int duck_appender_flush(struct duck_appender *a, struct fmd_err *err)
{
    if (!a->first.code)
        append_rc(a, duckdb_appender_flush(a->h));
    return report(a, err);
}

int duck_appender_close(struct duck_appender *a, struct fmd_err *err)
{
    int rc;
    if (!a)
        return 0;
    if (!a->first.code)
        append_rc(a, duckdb_appender_close(a->h));
    rc = report(a, err);
    duckdb_appender_destroy(&a->h);
    fmd_free(a);
    return rc;
}

/* ---- step-by-step runs and streaming cursors --------------------------- */

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int duck_prepared_run(struct duck_prepared *p, int (*check)(void *arg), void *arg,
                      int64_t *changed, struct fmd_err *err)
{
    static const struct timespec nap = { 0, 1000000 };
    duckdb_pending_result pr = NULL;
    duckdb_pending_state st;
    duckdb_result res;
    int64_t last = now_ms() - 50, t;   /* check once before starting */
    int rc = 0;

    if (duckdb_pending_prepared(p->h, &pr) == DuckDBError) {
        rc = fail_message(err, duckdb_pending_error(pr));
        goto out;
    }
    for (;;) {
        if (check && (t = now_ms()) - last >= 50) {
            last = t;
            if ((rc = check(arg))) {
                /* Running tasks stop at their next check of the flag. */
                duckdb_interrupt(p->conn);
                fmd_errf(err, rc, "query stopped");
                goto out;
            }
        }
        st = duckdb_pending_execute_task(pr);
        if (st == DUCKDB_PENDING_ERROR) {
            rc = fail_message(err, duckdb_pending_error(pr));
            goto out;
        }
        if (duckdb_pending_execution_is_finished(st))
            break;
        /* The worker threads hold every task: wait rather than spin. */
        if (st == DUCKDB_PENDING_NO_TASKS_AVAILABLE)
            nanosleep(&nap, NULL);
    }
    if (duckdb_execute_pending(pr, &res) == DuckDBError)
        rc = fail_result(err, &res);
    else if (changed)
        *changed = (int64_t)duckdb_rows_changed(&res);
    duckdb_destroy_result(&res);
out:
    /* Destroying a pending query that has not finished cancels it. */
    duckdb_destroy_pending(&pr);
    return rc;
}

struct duck_cursor {
    duckdb_result res;
};

int duck_cursor_open(struct duck_prepared *p, struct duck_cursor **out, struct fmd_err *err)
{
    struct duck_cursor *cur;
    int rc;

    *out = NULL;
    if (!(cur = fmd_calloc(1, sizeof(*cur))))
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    if (duckdb_execute_prepared_streaming(p->h, &cur->res) == DuckDBError) {
        rc = fail_result(err, &cur->res);
        duckdb_destroy_result(&cur->res);
        fmd_free(cur);
        return rc;
    }
    *out = cur;
    return 0;
}

void duck_cursor_close(struct duck_cursor *cur)
{
    if (!cur)
        return;
    duckdb_destroy_result(&cur->res);
    fmd_free(cur);
}

size_t duck_cursor_columns(const struct duck_cursor *cur)
{
    return (size_t)duckdb_column_count((duckdb_result *)&cur->res);
}

const char *duck_cursor_column_name(const struct duck_cursor *cur, size_t i)
{
    return duckdb_column_name((duckdb_result *)&cur->res, (idx_t)i);
}

duckdb_logical_type duck_cursor_column_type(const struct duck_cursor *cur, size_t i)
{
    return duckdb_column_logical_type((duckdb_result *)&cur->res, (idx_t)i);
}

int duck_cursor_fetch(struct duck_cursor *cur, duckdb_data_chunk *out, struct fmd_err *err)
{
    const char *msg;

    *out = duckdb_fetch_chunk(cur->res);
    if (!*out && (msg = duckdb_result_error(&cur->res)))
        return fail(err, code_for_type(duckdb_result_error_type(&cur->res)), msg);
    return 0;
}

duckdb_connection duck_conn_handle(struct duck_conn *c)
{
    return c->h;
}

/* ---- read-only check --------------------------------------------------- */

static const char *statement_name(duckdb_statement_type t)
{
    static const char *const names[] = {
        [DUCKDB_STATEMENT_TYPE_INVALID] = "an invalid statement",
        [DUCKDB_STATEMENT_TYPE_SELECT] = "SELECT",
        [DUCKDB_STATEMENT_TYPE_INSERT] = "INSERT",
        [DUCKDB_STATEMENT_TYPE_UPDATE] = "UPDATE",
        [DUCKDB_STATEMENT_TYPE_EXPLAIN] = "EXPLAIN",
        [DUCKDB_STATEMENT_TYPE_DELETE] = "DELETE",
        [DUCKDB_STATEMENT_TYPE_PREPARE] = "PREPARE",
        [DUCKDB_STATEMENT_TYPE_CREATE] = "CREATE",
        [DUCKDB_STATEMENT_TYPE_EXECUTE] = "EXECUTE",
        [DUCKDB_STATEMENT_TYPE_ALTER] = "ALTER",
        [DUCKDB_STATEMENT_TYPE_TRANSACTION] = "a transaction statement",
        [DUCKDB_STATEMENT_TYPE_COPY] = "COPY",
        [DUCKDB_STATEMENT_TYPE_ANALYZE] = "ANALYZE",
        [DUCKDB_STATEMENT_TYPE_VARIABLE_SET] = "SET VARIABLE",
        [DUCKDB_STATEMENT_TYPE_CREATE_FUNC] = "CREATE FUNCTION",
        [DUCKDB_STATEMENT_TYPE_DROP] = "DROP",
        [DUCKDB_STATEMENT_TYPE_EXPORT] = "EXPORT",
        [DUCKDB_STATEMENT_TYPE_PRAGMA] = "PRAGMA",
        [DUCKDB_STATEMENT_TYPE_VACUUM] = "VACUUM",
        [DUCKDB_STATEMENT_TYPE_CALL] = "CALL",
        [DUCKDB_STATEMENT_TYPE_SET] = "SET",
        [DUCKDB_STATEMENT_TYPE_LOAD] = "LOAD",
        [DUCKDB_STATEMENT_TYPE_RELATION] = "a relation",
        [DUCKDB_STATEMENT_TYPE_EXTENSION] = "an extension statement",
        [DUCKDB_STATEMENT_TYPE_LOGICAL_PLAN] = "a logical plan",
        [DUCKDB_STATEMENT_TYPE_ATTACH] = "ATTACH",
        [DUCKDB_STATEMENT_TYPE_DETACH] = "DETACH",
        [DUCKDB_STATEMENT_TYPE_MULTI] = "several statements",
    };
    if ((size_t)t < sizeof(names) / sizeof(names[0]) && names[t])
        return names[t];
    return "an unknown statement";
}

/*
 * Splits sql, requires exactly one statement and prepares it into *out
 * (the caller destroys it). what names the one statement expected; *parsed
 * (may be NULL) says whether sql got as far as DuckDB's binder.
 */
static int prepare_one(struct duck_conn *c, const char *sql, const char *what,
                       duckdb_prepared_statement *out, bool *parsed, struct fmd_err *err)
{
    duckdb_extracted_statements ex = NULL;
    idx_t n;
    int rc = 0;

    *out = NULL;
    if (parsed)
        *parsed = false;
    if (!sql)
        return fmd_errf(err, FMD_EINVAL, "missing sql");
    n = duckdb_extract_statements(c->h, sql, &ex);
    if (n == 0) {
        const char *msg = ex ? duckdb_extract_statements_error(ex) : NULL;
        rc = msg ? fail_message(err, msg) : fmd_errf(err, FMD_EINVAL, "no sql statement");
        goto out;
    }
    if (n > 1) {
        rc = fmd_errf(err, FMD_EINVAL, "only a single %s is allowed, got %" PRIu64
                      " statements", what, (uint64_t)n);
        goto out;
    }
    if (parsed)
        *parsed = true;
    if (duckdb_prepare_extracted_statement(c->h, ex, 0, out) == DuckDBError) {
        rc = fail_message(err, duckdb_prepare_error(*out));
        duckdb_destroy_prepare(out);
        *out = NULL;
    }
out:
    duckdb_destroy_extracted(&ex);
    return rc;
}

/*
 * The first keyword of sql, upper-cased into kw[cap], skipping blanks,
 * comments and opening parentheses; "" if there is none.
 */
static void first_keyword(const char *sql, char *kw, size_t cap)
{
    const char *p = sql;
    size_t n = 0;

    for (;;) {
        p += strspn(p, " \t\r\n\f(");
        if (p[0] == '-' && p[1] == '-')
            p += strcspn(p, "\n");
        else if (p[0] == '/' && p[1] == '*')
            p = strstr(p + 2, "*/") ? strstr(p + 2, "*/") + 2 : p + strlen(p);
        else
            break;
    }
    while (n + 1 < cap && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        kw[n++] = (char)(*p >= 'a' ? *p++ - 'a' + 'A' : *p++);
    kw[n] = '\0';
}

int duck_check_read_only(struct duck_conn *c, const char *sql, struct fmd_err *err)
{
    static const char *const selects[] = {
        "SELECT", "FROM", "WITH", "VALUES", "TABLE", "DESCRIBE", "SUMMARIZE", "SHOW",
        "PIVOT", "UNPIVOT", "",
    };
    duckdb_prepared_statement p;
    duckdb_statement_type t;
    char kw[24];
    size_t i;
    bool parsed;
    int rc = prepare_one(c, sql, "SELECT", &p, &parsed, err);

    if (rc) {
        /*
         * DuckDB binds while preparing, so a COPY to a forbidden path, say,
         * fails here with a permission error. Refused either way; for a
         * statement that is plainly not a query, say so by its keyword.
         */
        if (!parsed || rc == FMD_ENOMEM)
            return rc;
        first_keyword(sql, kw, sizeof(kw));
        for (i = 0; i < sizeof(selects) / sizeof(selects[0]); i++)
            if (!strcmp(kw, selects[i]))
                return rc;
        return fmd_errf(err, FMD_EINVAL, "only a single SELECT is allowed, got %s", kw);
    }
    t = duckdb_prepared_statement_type(p);
    if (t != DUCKDB_STATEMENT_TYPE_SELECT)
        rc = fmd_errf(err, FMD_EINVAL, "only a single SELECT is allowed, got %s",
                      statement_name(t));
    duckdb_destroy_prepare(&p);
    return rc;
}

/* ---- query as JSON: types ---------------------------------------------- */

/*
 * What decoding a column needs, worked out once per query from its logical
 * type: a tree for LIST, ARRAY, STRUCT, MAP and UNION.
 */
struct ctype {
    duckdb_type id;
    bool json;               /* VARCHAR with the JSON alias */
    uint8_t scale;           /* DECIMAL */
    duckdb_type internal;    /* DECIMAL and ENUM storage */
    idx_t array_size;        /* ARRAY */
    duckdb_logical_type lt;  /* kept for ENUM's dictionary */
    size_t nchild;
    struct ctype *child;     /* LIST/ARRAY: 1; STRUCT/UNION: members; MAP: key, value */
    char **names;            /* STRUCT and UNION member names */
};

static void ctype_release(struct ctype *t)
{
    size_t i;
    for (i = 0; i < t->nchild; i++) {
        ctype_release(&t->child[i]);
        if (t->names && t->names[i])
            duckdb_free(t->names[i]);
    }
    fmd_free(t->child);
    fmd_free(t->names);
    if (t->lt)
        duckdb_destroy_logical_type(&t->lt);
    memset(t, 0, sizeof(*t));
}

static const char *scalar_name(duckdb_type id)
{
    switch (id) {
    case DUCKDB_TYPE_BOOLEAN: return "BOOLEAN";
    case DUCKDB_TYPE_TINYINT: return "TINYINT";
    case DUCKDB_TYPE_SMALLINT: return "SMALLINT";
    case DUCKDB_TYPE_INTEGER: return "INTEGER";
    case DUCKDB_TYPE_BIGINT: return "BIGINT";
    case DUCKDB_TYPE_UTINYINT: return "UTINYINT";
    case DUCKDB_TYPE_USMALLINT: return "USMALLINT";
    case DUCKDB_TYPE_UINTEGER: return "UINTEGER";
    case DUCKDB_TYPE_UBIGINT: return "UBIGINT";
    case DUCKDB_TYPE_HUGEINT: return "HUGEINT";
    case DUCKDB_TYPE_UHUGEINT: return "UHUGEINT";
    case DUCKDB_TYPE_FLOAT: return "FLOAT";
    case DUCKDB_TYPE_DOUBLE: return "DOUBLE";
    case DUCKDB_TYPE_VARCHAR: return "VARCHAR";
    case DUCKDB_TYPE_BLOB: return "BLOB";
    case DUCKDB_TYPE_DATE: return "DATE";
    case DUCKDB_TYPE_TIME: return "TIME";
    case DUCKDB_TYPE_TIME_NS: return "TIME_NS";
    case DUCKDB_TYPE_TIME_TZ: return "TIME WITH TIME ZONE";
    case DUCKDB_TYPE_TIMESTAMP: return "TIMESTAMP";
    case DUCKDB_TYPE_TIMESTAMP_S: return "TIMESTAMP_S";
    case DUCKDB_TYPE_TIMESTAMP_MS: return "TIMESTAMP_MS";
    case DUCKDB_TYPE_TIMESTAMP_NS: return "TIMESTAMP_NS";
    case DUCKDB_TYPE_TIMESTAMP_TZ: return "TIMESTAMP WITH TIME ZONE";
    case DUCKDB_TYPE_INTERVAL: return "INTERVAL";
    case DUCKDB_TYPE_UUID: return "UUID";
    case DUCKDB_TYPE_ENUM: return "ENUM";
    case DUCKDB_TYPE_SQLNULL: return "NULL";
    case DUCKDB_TYPE_BIT: return "BIT";
    case DUCKDB_TYPE_BIGNUM: return "BIGNUM";
    default: return NULL;
    }
}

static bool supported(duckdb_type id)
{
    return id != DUCKDB_TYPE_BIT && id != DUCKDB_TYPE_BIGNUM && scalar_name(id);
}

/*
 * Fills t from lt (which it takes over) and appends its SQL name to name.
 * FMD_EINVAL for a type the JSON mapping does not cover, FMD_ENOMEM.
 */
static int ctype_init(struct ctype *t, duckdb_logical_type lt, struct buf *name,
                      struct fmd_err *err)
{
    char *alias;
    size_t i;
    int rc = 0;

    memset(t, 0, sizeof(*t));
    t->lt = lt;
    t->id = duckdb_get_type_id(lt);
    switch (t->id) {
    case DUCKDB_TYPE_DECIMAL:
        t->scale = duckdb_decimal_scale(lt);
        t->internal = duckdb_decimal_internal_type(lt);
        return buf_printf(name, "DECIMAL(%u,%u)", duckdb_decimal_width(lt), t->scale);
    case DUCKDB_TYPE_ENUM:
        t->internal = duckdb_enum_internal_type(lt);
        return buf_adds(name, "ENUM");
    case DUCKDB_TYPE_LIST:
    case DUCKDB_TYPE_ARRAY:
        if (!(t->child = fmd_calloc(1, sizeof(*t->child))))
            return FMD_ENOMEM;
        t->nchild = 1;
        if (t->id == DUCKDB_TYPE_ARRAY)
            t->array_size = duckdb_array_type_array_size(lt);
        rc = ctype_init(t->child, t->id == DUCKDB_TYPE_LIST ? duckdb_list_type_child_type(lt)
                                                            : duckdb_array_type_child_type(lt),
                        name, err);
        if (!rc)
            rc = t->id == DUCKDB_TYPE_LIST ? buf_adds(name, "[]")
                                           : buf_printf(name, "[%" PRIu64 "]",
                                                        (uint64_t)t->array_size);
        return rc;
    case DUCKDB_TYPE_MAP:
        if (!(t->child = fmd_calloc(2, sizeof(*t->child))))
            return FMD_ENOMEM;
        t->nchild = 2;
        if ((rc = buf_adds(name, "MAP(")) ||
            (rc = ctype_init(&t->child[0], duckdb_map_type_key_type(lt), name, err)) ||
            (rc = buf_adds(name, ", ")) ||
            (rc = ctype_init(&t->child[1], duckdb_map_type_value_type(lt), name, err)))
            return rc;
        return buf_adds(name, ")");
    case DUCKDB_TYPE_STRUCT:
    case DUCKDB_TYPE_UNION: {
        bool is_struct = t->id == DUCKDB_TYPE_STRUCT;
        idx_t n = is_struct ? duckdb_struct_type_child_count(lt)
                            : duckdb_union_type_member_count(lt);
        t->child = fmd_calloc(n, sizeof(*t->child));
        t->names = fmd_calloc(n, sizeof(*t->names));
        if (!t->child || !t->names)
            return FMD_ENOMEM;
        t->nchild = n;
        if ((rc = buf_adds(name, is_struct ? "STRUCT(" : "UNION(")))
            return rc;
        for (i = 0; i < n && !rc; i++) {
            t->names[i] = is_struct ? duckdb_struct_type_child_name(lt, i)
                                    : duckdb_union_type_member_name(lt, i);
            if (!t->names[i])
                return FMD_ENOMEM;
            if ((rc = buf_printf(name, "%s%s ", i ? ", " : "", t->names[i])))
                return rc;
            rc = ctype_init(&t->child[i], is_struct ? duckdb_struct_type_child_type(lt, i)
                                                    : duckdb_union_type_member_type(lt, i),
                            name, err);
        }
        return rc ? rc : buf_adds(name, ")");
    }
    case DUCKDB_TYPE_VARCHAR:
        alias = duckdb_logical_type_get_alias(lt);
        t->json = alias && !strcmp(alias, "JSON");
        if (alias)
            duckdb_free(alias);
        return buf_adds(name, t->json ? "JSON" : "VARCHAR");
    default:
        if (!supported(t->id)) {
            const char *n = scalar_name(t->id);
            return fmd_errf(err, FMD_EINVAL,
                            "type %s cannot be returned as json, cast it to VARCHAR",
                            n ? n : "of a column");
        }
        return buf_adds(name, scalar_name(t->id));
    }
}

/* ---- query as JSON: values --------------------------------------------- */

static json_t *json_i128(__int128 v)
{
    char s[48], *p = s + sizeof(s) - 1;
    unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;

    if (v >= INT64_MIN && v <= INT64_MAX)
        return json_integer((json_int_t)v);
    *p = '\0';
    do {
        *--p = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return json_string(p);
}

static json_t *json_u128(unsigned __int128 v)
{
    char s[48], *p = s + sizeof(s) - 1;

    if (v <= INT64_MAX)
        return json_integer((json_int_t)v);
    *p = '\0';
    do {
        *--p = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    return json_string(p);
}

static json_t *json_double(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *json_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *json_fmt(const char *fmt, ...)
{
    char s[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s, sizeof(s), fmt, ap);
    va_end(ap);
    return json_string(s);
}

/* ISO 8601 years: four digits when they fit, else signed. */
static int fmt_date(char *s, size_t cap, duckdb_date_struct d)
{
    return snprintf(s, cap, d.year >= 0 && d.year <= 9999 ? "%04d-%02d-%02d" : "%+05d-%02d-%02d",
                    (int)d.year, d.month, d.day);
}

/* Fractions in milliseconds when that is exact (formd's own times always
 * are, and the rest of the API writes them so), else in microseconds. */
static int fmt_time(char *s, size_t cap, duckdb_time_struct t)
{
    if (t.micros && t.micros % 1000 == 0)
        return snprintf(s, cap, "%02d:%02d:%02d.%03d", t.hour, t.min, t.sec,
                        (int)t.micros / 1000);
    if (t.micros)
        return snprintf(s, cap, "%02d:%02d:%02d.%06d", t.hour, t.min, t.sec, (int)t.micros);
    return snprintf(s, cap, "%02d:%02d:%02d", t.hour, t.min, t.sec);
}

static json_t *json_timestamp(int64_t micros, bool finite, bool utc)
{
    duckdb_timestamp_struct ts;
    char s[96];
    int n;

    if (!finite)
        return json_string(micros > 0 ? "infinity" : "-infinity");
    ts = duckdb_from_timestamp((duckdb_timestamp){ micros });
    n = fmt_date(s, sizeof(s), ts.date);
    s[n++] = 'T';
    n += fmt_time(s + n, sizeof(s) - (size_t)n, ts.time);
    if (utc)
        snprintf(s + n, sizeof(s) - (size_t)n, "Z");
    return json_string(s);
}

static json_t *json_interval(duckdb_interval iv)
{
    char s[128];
    size_t n = 0;
    int64_t us = iv.micros;

    n += (size_t)snprintf(s, sizeof(s), "P");
    if (iv.months / 12)
        n += (size_t)snprintf(s + n, sizeof(s) - n, "%dY", iv.months / 12);
    if (iv.months % 12)
        n += (size_t)snprintf(s + n, sizeof(s) - n, "%dM", iv.months % 12);
    if (iv.days)
        n += (size_t)snprintf(s + n, sizeof(s) - n, "%dD", iv.days);
    if (us || n == 1) {
        n += (size_t)snprintf(s + n, sizeof(s) - n, "T");
        if (us / 3600000000)
            n += (size_t)snprintf(s + n, sizeof(s) - n, "%" PRId64 "H", us / 3600000000);
        us %= 3600000000;
        if (us / 60000000)
            n += (size_t)snprintf(s + n, sizeof(s) - n, "%" PRId64 "M", us / 60000000);
        us %= 60000000;
        if (us % 1000000)
            snprintf(s + n, sizeof(s) - n, "%s%" PRId64 ".%06" PRId64 "S", us < 0 ? "-" : "",
                     (us < 0 ? -us : us) / 1000000, (us < 0 ? -us : us) % 1000000);
        else if (us || s[n - 1] == 'T')
            snprintf(s + n, sizeof(s) - n, "%" PRId64 "S", us / 1000000);
    }
    return json_string(s);
}

static json_t *json_uuid(duckdb_hugeint h)
{
    /* DuckDB stores a UUID as a HUGEINT with the top bit flipped, for ordering. */
    uint64_t hi = (uint64_t)h.upper ^ ((uint64_t)1 << 63), lo = h.lower;
    return json_fmt("%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
                    hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48,
                    lo & (uint64_t)0xffffffffffff);
}

static json_t *json_blob(const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    struct buf b;
    json_t *v = NULL;
    size_t i;
    int rc = 0;

    buf_init(&b, n * 4 + 1);
    for (i = 0; i < n && !rc; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
            rc = buf_addc(&b, (char)p[i]);
        } else {
            char e[4] = { '\\', 'x', hex[p[i] >> 4], hex[p[i] & 15] };
            rc = buf_add(&b, e, 4);
        }
    }
    if (!rc)
        v = json_stringn(b.p, b.len);
    buf_release(&b);
    return v;
}

static json_t *json_enum(const struct ctype *t, const void *data, idx_t row)
{
    uint64_t idx;
    char *s;
    json_t *v;

    switch (t->internal) {
    case DUCKDB_TYPE_UTINYINT: idx = ((const uint8_t *)data)[row]; break;
    case DUCKDB_TYPE_USMALLINT: idx = ((const uint16_t *)data)[row]; break;
    default: idx = ((const uint32_t *)data)[row]; break;
    }
    if (!(s = duckdb_enum_dictionary_value(t->lt, idx)))
        return NULL;
    v = json_string(s);
    duckdb_free(s);
    return v;
}

static json_t *json_decimal(const struct ctype *t, const void *data, idx_t row)
{
    double v, scale = pow(10.0, t->scale);
    switch (t->internal) {
    case DUCKDB_TYPE_SMALLINT: v = ((const int16_t *)data)[row]; break;
    case DUCKDB_TYPE_INTEGER: v = ((const int32_t *)data)[row]; break;
    case DUCKDB_TYPE_BIGINT: v = (double)((const int64_t *)data)[row]; break;
    default: {
        duckdb_hugeint h = ((const duckdb_hugeint *)data)[row];
        v = (double)(((__int128)h.upper << 64) | h.lower);
        break;
    }
    }
    return json_double(v / scale);
}

static json_t *value_json(const struct ctype *t, duckdb_vector vec, idx_t row);

/* Elements [off, off + len) of child vector vec as a JSON array. */
static json_t *array_json(const struct ctype *t, duckdb_vector vec, uint64_t off, uint64_t len)
{
    json_t *a = json_array(), *v;
    uint64_t i;
    for (i = 0; a && i < len; i++) {
        if (!(v = value_json(t, vec, off + i)) || json_array_append_new(a, v)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *map_json(const struct ctype *t, duckdb_vector vec, duckdb_list_entry e)
{
    duckdb_vector kv = duckdb_list_vector_get_child(vec);
    duckdb_vector keys = duckdb_struct_vector_get_child(kv, 0);
    duckdb_vector vals = duckdb_struct_vector_get_child(kv, 1);
    json_t *a = json_array(), *pair;
    uint64_t i;

    /* The _new setters take their argument even when they fail, NULL included. */
    for (i = 0; a && i < e.length; i++) {
        pair = json_object();
        if (json_array_append_new(a, pair) ||
            json_object_set_new(pair, "key", value_json(&t->child[0], keys, e.offset + i)) ||
            json_object_set_new(pair, "value", value_json(&t->child[1], vals, e.offset + i))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *struct_json(const struct ctype *t, duckdb_vector vec, idx_t row)
{
    json_t *o = json_object(), *v;
    size_t i;
    for (i = 0; o && i < t->nchild; i++) {
        v = value_json(&t->child[i], duckdb_struct_vector_get_child(vec, i), row);
        if (!v || json_object_set_new(o, t->names[i], v)) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *string_json(const struct ctype *t, duckdb_string_t *s)
{
    const char *p = duckdb_string_t_data(s);
    uint32_t n = duckdb_string_t_length(*s);
    json_t *v;

    if (t->id == DUCKDB_TYPE_BLOB)
        return json_blob((const unsigned char *)p, n);
    if (t->json && (v = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)))
        return v;
    /* DuckDB checks VARCHAR is UTF-8 on the way in. */
    return json_stringn_nocheck(p, n);
}

/*
 * The value at row of vec as JSON; NULL only when out of memory. The caller
 * made sure t holds only types this covers (ctype_init).
 */
static json_t *value_json(const struct ctype *t, duckdb_vector vec, idx_t row)
{
    uint64_t *validity = duckdb_vector_get_validity(vec);
    void *data = duckdb_vector_get_data(vec);
    char s[96];

    if (t->id == DUCKDB_TYPE_SQLNULL || !duckdb_validity_row_is_valid(validity, row))
        return json_null();
    switch (t->id) {
    case DUCKDB_TYPE_BOOLEAN: return json_boolean(((const bool *)data)[row]);
    case DUCKDB_TYPE_TINYINT: return json_integer(((const int8_t *)data)[row]);
    case DUCKDB_TYPE_SMALLINT: return json_integer(((const int16_t *)data)[row]);
    case DUCKDB_TYPE_INTEGER: return json_integer(((const int32_t *)data)[row]);
    case DUCKDB_TYPE_BIGINT: return json_integer(((const int64_t *)data)[row]);
    case DUCKDB_TYPE_UTINYINT: return json_integer(((const uint8_t *)data)[row]);
    case DUCKDB_TYPE_USMALLINT: return json_integer(((const uint16_t *)data)[row]);
    case DUCKDB_TYPE_UINTEGER: return json_integer(((const uint32_t *)data)[row]);
    case DUCKDB_TYPE_UBIGINT: return json_u128(((const uint64_t *)data)[row]);
    case DUCKDB_TYPE_HUGEINT: {
        duckdb_hugeint h = ((const duckdb_hugeint *)data)[row];
        return json_i128((__int128)(((unsigned __int128)(uint64_t)h.upper << 64) | h.lower));
    }
    case DUCKDB_TYPE_UHUGEINT: {
        duckdb_uhugeint h = ((const duckdb_uhugeint *)data)[row];
        return json_u128(((unsigned __int128)h.upper << 64) | h.lower);
    }
    case DUCKDB_TYPE_FLOAT: return json_double(((const float *)data)[row]);
    case DUCKDB_TYPE_DOUBLE: return json_double(((const double *)data)[row]);
    case DUCKDB_TYPE_DECIMAL: return json_decimal(t, data, row);
    case DUCKDB_TYPE_VARCHAR:
    case DUCKDB_TYPE_BLOB: return string_json(t, &((duckdb_string_t *)data)[row]);
    case DUCKDB_TYPE_ENUM: return json_enum(t, data, row);
    case DUCKDB_TYPE_UUID: return json_uuid(((const duckdb_hugeint *)data)[row]);
    case DUCKDB_TYPE_DATE: {
        duckdb_date d = ((const duckdb_date *)data)[row];
        if (!duckdb_is_finite_date(d))
            return json_string(d.days > 0 ? "infinity" : "-infinity");
        fmt_date(s, sizeof(s), duckdb_from_date(d));
        return json_string(s);
    }
    case DUCKDB_TYPE_TIME:
        fmt_time(s, sizeof(s), duckdb_from_time(((const duckdb_time *)data)[row]));
        return json_string(s);
    case DUCKDB_TYPE_TIME_NS: {
        int64_t ns = ((const int64_t *)data)[row];
        return json_fmt("%02" PRId64 ":%02" PRId64 ":%02" PRId64 ".%09" PRId64,
                        ns / 3600000000000, ns / 60000000000 % 60, ns / 1000000000 % 60,
                        ns % 1000000000);
    }
    case DUCKDB_TYPE_TIME_TZ: {
        duckdb_time_tz_struct tz = duckdb_from_time_tz(((const duckdb_time_tz *)data)[row]);
        int n = fmt_time(s, sizeof(s), tz.time), off = tz.offset < 0 ? -tz.offset : tz.offset;
        snprintf(s + n, sizeof(s) - (size_t)n, "%c%02d:%02d", tz.offset < 0 ? '-' : '+',
                 off / 3600, off / 60 % 60);
        return json_string(s);
    }
    case DUCKDB_TYPE_TIMESTAMP:
    case DUCKDB_TYPE_TIMESTAMP_TZ: {
        duckdb_timestamp ts = ((const duckdb_timestamp *)data)[row];
        return json_timestamp(ts.micros, duckdb_is_finite_timestamp(ts),
                              t->id == DUCKDB_TYPE_TIMESTAMP_TZ);
    }
    case DUCKDB_TYPE_TIMESTAMP_S: {
        duckdb_timestamp_s ts = ((const duckdb_timestamp_s *)data)[row];
        return json_timestamp(ts.seconds * 1000000, duckdb_is_finite_timestamp_s(ts), false);
    }
    case DUCKDB_TYPE_TIMESTAMP_MS: {
        duckdb_timestamp_ms ts = ((const duckdb_timestamp_ms *)data)[row];
        return json_timestamp(ts.millis * 1000, duckdb_is_finite_timestamp_ms(ts), false);
    }
    case DUCKDB_TYPE_TIMESTAMP_NS: {
        duckdb_timestamp_ns ts = ((const duckdb_timestamp_ns *)data)[row];
        int64_t us = ts.nanos / 1000 - (ts.nanos % 1000 < 0);   /* floor */
        return json_timestamp(us, duckdb_is_finite_timestamp_ns(ts), false);
    }
    case DUCKDB_TYPE_INTERVAL: return json_interval(((const duckdb_interval *)data)[row]);
    case DUCKDB_TYPE_LIST: {
        duckdb_list_entry e = ((const duckdb_list_entry *)data)[row];
        return array_json(t->child, duckdb_list_vector_get_child(vec), e.offset, e.length);
    }
    case DUCKDB_TYPE_ARRAY:
        return array_json(t->child, duckdb_array_vector_get_child(vec),
                          (uint64_t)row * t->array_size, t->array_size);
    case DUCKDB_TYPE_MAP: return map_json(t, vec, ((const duckdb_list_entry *)data)[row]);
    case DUCKDB_TYPE_STRUCT: return struct_json(t, vec, row);
    case DUCKDB_TYPE_UNION: {
        /* A union vector is a struct: the tag, then one child per member. */
        duckdb_vector tags = duckdb_struct_vector_get_child(vec, 0);
        uint8_t tag = ((const uint8_t *)duckdb_vector_get_data(tags))[row];
        if (tag >= t->nchild)
            return json_null();
        return value_json(&t->child[tag], duckdb_struct_vector_get_child(vec, (idx_t)tag + 1),
                          row);
    }
    default:
        return json_null();
    }
}

/* ---- query as JSON: the watchdog and the fetch loop -------------------- */

struct watchdog {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct timespec deadline;   /* CLOCK_MONOTONIC */
    duckdb_connection conn;
    bool done, fired, started;
};

static void add_ms(struct timespec *t, long ms)
{
    t->tv_sec += ms / 1000;
    t->tv_nsec += (ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

/*
 * Past the deadline it interrupts again every 10 ms until stopped: an
 * interrupt that lands between two steps (while preparing, say) is cleared
 * when the next step starts, so a single one could be lost.
 */
static void *watchdog_main(void *arg)
{
    struct watchdog *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->done) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &w->deadline) == ETIMEDOUT && !w->done) {
            duckdb_interrupt(w->conn);
            w->fired = true;
            add_ms(&w->deadline, 10);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static int watchdog_start(struct watchdog *w, duckdb_connection conn, long ms,
                          struct fmd_err *err)
{
    pthread_condattr_t ca;
    int rc;

    memset(w, 0, sizeof(*w));
    w->conn = conn;
    if (ms <= 0)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &w->deadline);
    add_ms(&w->deadline, ms);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    if ((rc = pthread_create(&w->th, NULL, watchdog_main, w))) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        return fmd_errf(err, rc == EAGAIN ? FMD_EBUSY : FMD_EINTERNAL,
                        "cannot start the query timer");
    }
    w->started = true;
    return 0;
}

/* Stops the watchdog; true if it interrupted the query. */
static bool watchdog_stop(struct watchdog *w)
{
    if (!w->started)
        return false;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    w->started = false;
    return w->fired;
}

struct query {
    duckdb_result res;
    bool have_res;
    idx_t ncol;
    struct ctype *types;
    json_t *columns, *rows;
};

static int describe_columns(struct query *q, struct fmd_err *err)
{
    struct buf name;
    json_t *col;
    idx_t i;
    int rc = 0;

    q->ncol = duckdb_column_count(&q->res);
    if (!(q->types = fmd_calloc(q->ncol ? q->ncol : 1, sizeof(*q->types))) ||
        !(q->columns = json_array()))
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    buf_init(&name, 1 << 16);
    for (i = 0; i < q->ncol && !rc; i++) {
        buf_reset(&name);
        rc = ctype_init(&q->types[i], duckdb_column_logical_type(&q->res, i), &name, err);
        if (rc) {
            /* FMD_EINVAL came with its message; the rest is running out of room. */
            if (rc != FMD_EINVAL)
                fmd_errf(err, rc, "cannot describe column '%s'", duckdb_column_name(&q->res, i));
            break;
        }
        col = json_pack("{s:s,s:s}", "name", duckdb_column_name(&q->res, i), "type", name.p);
        if (!col || json_array_append_new(q->columns, col))
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
    }
    buf_release(&name);
    return rc;
}

/* Appends rows [0, n) of chunk to q->rows. */
static int add_rows(struct query *q, duckdb_data_chunk chunk, idx_t n, struct fmd_err *err)
{
    json_t *row, *v;
    idx_t r, i;

    for (r = 0; r < n; r++) {
        if (!(row = json_array()) || json_array_append_new(q->rows, row))
            return fmd_errf(err, FMD_ENOMEM, "out of memory");
        for (i = 0; i < q->ncol; i++) {
            v = value_json(&q->types[i], duckdb_data_chunk_get_vector(chunk, i), r);
            if (!v || json_array_append_new(row, v))
                return fmd_errf(err, FMD_ENOMEM, "out of memory");
        }
    }
    return 0;
}

/* Fetches up to max rows; *more says whether any were left behind. */
static int fetch_rows(struct query *q, size_t max, bool *more, struct fmd_err *err)
{
    duckdb_data_chunk chunk;
    size_t have = 0;
    idx_t n;
    int rc = 0;
    const char *msg;

    *more = false;
    if (!(q->rows = json_array()))
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    while (!rc && (chunk = duckdb_fetch_chunk(q->res))) {
        n = duckdb_data_chunk_get_size(chunk);
        if (n > max - have) {
            *more = true;
            n = max - have;
        }
        rc = add_rows(q, chunk, n, err);
        have += n;
        duckdb_destroy_data_chunk(&chunk);
        if (*more)
            break;
    }
    if (!rc && !*more && (msg = duckdb_result_error(&q->res)))
        rc = fail(err, code_for_type(duckdb_result_error_type(&q->res)), msg);
    return rc;
}

int duck_query_json(struct duck_conn *c, const char *sql, const struct duck_limits *lim,
                    json_t **out, struct fmd_err *err)
{
    struct query q = { 0 };
    struct watchdog w;
    duckdb_prepared_statement p = NULL;
    bool more = false, fired;
    idx_t i;
    int rc;

    *out = NULL;
    if (!lim)
        return fmd_errf(err, FMD_EINVAL, "missing query limits");
    if ((rc = watchdog_start(&w, c->h, lim->timeout_ms, err)))
        return rc;
    if ((rc = prepare_one(c, sql, "statement", &p, NULL, err)))
        goto out;
    if (duckdb_execute_prepared_streaming(p, &q.res) == DuckDBError) {
        q.have_res = true;
        rc = fail_result(err, &q.res);
        goto out;
    }
    q.have_res = true;
    if ((rc = describe_columns(&q, err)) || (rc = fetch_rows(&q, lim->max_rows, &more, err)))
        goto out;
    *out = json_pack("{s:O,s:O,s:b}", "columns", q.columns, "rows", q.rows, "truncated", more);
    if (!*out)
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
out:
    fired = watchdog_stop(&w);
    if (rc && fired)
        rc = fmd_errf(err, FMD_ETIMEOUT, "query took longer than %ld ms", lim->timeout_ms);
    json_decref(q.columns);
    json_decref(q.rows);
    for (i = 0; q.types && i < q.ncol; i++)
        ctype_release(&q.types[i]);
    fmd_free(q.types);
    if (q.have_res)
        duckdb_destroy_result(&q.res);
    if (p)
        duckdb_destroy_prepare(&p);
    return rc;
}
