/*
 * postgres.c - the PostgreSQL driver, on libpq.
 *
 * Target: a libpq URL, postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?PARAMS].
 *
 * Statements are prepared once per connection (PQprepare under a generated
 * name, "f1", "f2" ..., parameter types left to the server to infer) and
 * cached by SQL text like the SQLite driver's. Parameters travel as text:
 * integers in decimal, doubles with %.17g, which round-trips every double.
 * db_step runs the statement on its first call (one round trip, the whole
 * result in memory) and then walks the result's rows: 1 a row, 0 done.
 *
 * Errors map by SQLSTATE: class 23 (integrity constraint) is FMD_ECONFLICT,
 * 40001 / 40P01 (serialization failure, deadlock) and 55P03 (lock not
 * available) FMD_EBUSY, class 08 and a lost connection FMD_EUNAVAIL, 53
 * (disk full, out of memory) FMD_EIO. Unlike SQLite, PostgreSQL aborts the
 * whole transaction on any error: a caller that wants to go on after one
 * must take a savepoint first (the writer does, per job).
 *
 * A lost connection is reset on the next use outside a transaction. Inside
 * one it stays lost, every statement failing with FMD_EUNAVAIL, until the
 * caller's ROLLBACK: its work is gone, and silently going on in autocommit
 * on a new connection would commit half of it. A statement that cannot have
 * done anything (a BEGIN, or any on a read-only connection, outside a
 * transaction) is run again once on the new connection, so a database
 * restart costs the writer and the pool nothing but a reconnect. After a
 * reset the cached statements are prepared again (the connection's
 * generation tells).
 *
 * Read-only connections (DB_READONLY, the pool's) set
 * default_transaction_read_only, as SQLite's set query_only.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "db/db_int.h"
#include "core/banned.h"

#define MAX_PARAMS 32
#define CACHE_SIZE 128

struct pg_stmt {
    struct db_stmt base;
    const char *key;              /* the caller's SQL pointer */
    char *sql;                    /* a copy, for lookups by text and re-preparing */
    char name[16];                /* server-side name */
    unsigned gen;                 /* connection generation it is prepared on (0: not) */
    int nparams;                  /* highest $N in sql */
    char *val[MAX_PARAMS];        /* bound values as text, NULL for SQL NULL */
    PGresult *res;                /* after the first step */
    int row, nrows;               /* the current row of res */
};

struct pg_db {
    struct db base;
    PGconn *conn;
    unsigned gen;                 /* bumped by each (re)connect */
    unsigned next_name;
    int lost_in_txn;              /* the connection died inside a transaction */
    unsigned flags;
    int64_t changes;
    char notify_on[64];           /* a channel notified in this transaction, or "" */
    struct pg_stmt *cache[CACHE_SIZE];
    int ncache;
};

static void quiet_notices(void *arg, const char *msg)
{
    log_debug("postgres: %.200s", msg);
}

/* Maps a failed result (or a dead connection when res is NULL) onto FMD_E*. */
static int map_err(struct pg_db *d, const PGresult *res, struct fmd_err *err, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    int code = FMD_EDB;

    if (!msg || !*msg)
        msg = PQerrorMessage(d->conn);
    if (PQstatus(d->conn) == CONNECTION_BAD || !state || !strncmp(state, "08", 2) ||
        !strcmp(state, "57P01") || !strcmp(state, "57P02") || !strcmp(state, "57P03"))
        code = FMD_EUNAVAIL;
    else if (!strncmp(state, "23", 2))
        code = FMD_ECONFLICT;
    else if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))
        code = FMD_EBUSY;
    else if (!strncmp(state, "53", 2))
        code = FMD_EIO;
    if (code == FMD_EUNAVAIL)
        return fmd_errf(err, code, "%s: database connection lost: %.180s", what, msg);
    return fmd_errf(err, code, "%s: %.200s (%s)", what, msg, state ? state : "?");
}

static int connect_setup(struct pg_db *d, struct fmd_err *err)
{
    PGresult *res;
    int rc = 0;

    PQsetNoticeProcessor(d->conn, quiet_notices, NULL);
    res = PQexec(d->conn, (d->flags & DB_READONLY)
                              ? "SET default_transaction_read_only = on; SET TIME ZONE 'UTC'"
                              : "SET TIME ZONE 'UTC'");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = map_err(d, res, err, "connection setup");
    PQclear(res);
    d->gen++;
    return rc;
}

static void free_stmt(struct pg_stmt *s)
{
    int i;
    PQclear(s->res);
    for (i = 0; i < MAX_PARAMS; i++)
        fmd_free(s->val[i]);
    fmd_free(s->sql);
    fmd_free(s);
}

static void pg_close(struct db *db)
{
    struct pg_db *d = (struct pg_db *)db;
    int i;
    for (i = 0; i < d->ncache; i++)
        free_stmt(d->cache[i]);
    PQfinish(d->conn);
    fmd_free(d);
}

static int pg_open(const char *url, unsigned flags, struct db **out, struct fmd_err *err)
{
    struct pg_db *d = fmd_calloc(1, sizeof(*d));
    int rc;

    *out = NULL;
    if (!d)
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    d->base.drv = &db_postgres_driver;
    d->flags = flags;
    /* Named, so that formd restore can tell formd's sessions in pg_stat_activity
     * (an application_name in the URL wins). */
    {
        static const char *const keys[] = {"dbname", "fallback_application_name", NULL};
        const char *vals[] = {url, "formd", NULL};
        d->conn = PQconnectdbParams(keys, vals, 1);
    }
    if (!d->conn) {
        fmd_free(d);
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    }
    if (PQstatus(d->conn) != CONNECTION_OK) {
        /* The message may echo the URL's password: say only what failed. */
        char msg[200];
        const char *m = PQerrorMessage(d->conn);
        size_t n = strcspn(m, "\n");
        snprintf(msg, sizeof(msg), "%.*s", (int)(n < 190 ? n : 190), m);
        PQfinish(d->conn);
        fmd_free(d);
        return fmd_errf(err, FMD_EUNAVAIL, "cannot connect to PostgreSQL: %s", msg);
    }
    if ((rc = connect_setup(d, err))) {
        pg_close(&d->base);
        return rc;
    }
    *out = &d->base;
    return 0;
}

/*
 * Makes the connection usable for sql, resetting a lost one where that is
 * safe (see the file comment). Returns 1 when sql is a ROLLBACK that the
 * loss has done already, 0 to go on, or an error.
 */
static int ensure_conn(struct pg_db *d, const char *sql, struct fmd_err *err)
{
    int rollback = !strcmp(sql, "ROLLBACK");

    if (PQstatus(d->conn) == CONNECTION_OK)
        return 0;
    if (d->lost_in_txn) {
        if (!rollback)
            return fmd_errf(err, FMD_EUNAVAIL,
                            "database connection lost during the transaction");
        d->lost_in_txn = 0;
        return 1;
    }
    PQreset(d->conn);
    if (PQstatus(d->conn) != CONNECTION_OK)
        return fmd_errf(err, FMD_EUNAVAIL, "cannot reconnect to PostgreSQL");
    log_warn("postgres: reconnected after losing the connection");
    return connect_setup(d, err);
}

/* After a failure: remembers whether the connection died inside a transaction. */
static void note_loss(struct pg_db *d, PGTransactionStatusType before)
{
    if (PQstatus(d->conn) == CONNECTION_BAD && before != PQTRANS_IDLE)
        d->lost_in_txn = 1;
}

static void note_changes(struct pg_db *d, const PGresult *res)
{
    const char *cmd = PQcmdStatus((PGresult *)res);
    if (!strncmp(cmd, "INSERT", 6) || !strncmp(cmd, "UPDATE", 6) || !strncmp(cmd, "DELETE", 6))
        d->changes = strtoll(PQcmdTuples((PGresult *)res), NULL, 10);
}

static int pg_exec(struct db *db, const char *sql, struct fmd_err *err)
{
    struct pg_db *d = (struct pg_db *)db;
    PGTransactionStatusType before = PQtransactionStatus(d->conn);
    PGresult *res;
    int rc = ensure_conn(d, sql, err);

    if (rc)
        return rc < 0 ? rc : 0;
    res = PQexec(d->conn, sql);
    switch (PQresultStatus(res)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
        note_changes(d, res);
        break;
    default:
        rc = map_err(d, res, err, "exec");
        note_loss(d, before);
    }
    PQclear(res);
    return rc;
}

/* The highest $N in sql: the statement's parameter count. */
static int count_params(const char *sql)
{
    int max = 0;
    for (; *sql; sql++)
        if (*sql == '$' && sql[1] >= '1' && sql[1] <= '9') {
            int n = (int)strtol(sql + 1, NULL, 10);
            if (n > max)
                max = n;
        }
    return max;
}

static int server_prepare(struct pg_db *d, struct pg_stmt *s, struct fmd_err *err)
{
    PGresult *res = PQprepare(d->conn, s->name, s->sql, 0, NULL);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = map_err(d, res, err, "prepare");
    else
        s->gen = d->gen;
    PQclear(res);
    return rc;
}

static void evict_oldest(struct pg_db *d)
{
    struct pg_stmt *s = d->cache[0];
    char sql[32];
    if (s->gen == d->gen && PQstatus(d->conn) == CONNECTION_OK) {
        snprintf(sql, sizeof(sql), "DEALLOCATE %s", s->name);
        PQclear(PQexec(d->conn, sql));
    }
    free_stmt(s);
    memmove(d->cache, d->cache + 1, sizeof(d->cache[0]) * (CACHE_SIZE - 1));
    d->ncache--;
}

static int pg_prepare(struct db *db, const char *sql, struct db_stmt **out, struct fmd_err *err)
{
    struct pg_db *d = (struct pg_db *)db;
    struct pg_stmt *s;
    int i;

    for (i = 0; i < d->ncache; i++)
        if (d->cache[i]->key == sql || !strcmp(d->cache[i]->sql, sql)) {
            *out = &d->cache[i]->base;
            return 0;
        }
    if (!(s = fmd_calloc(1, sizeof(*s))) || !(s->sql = fmd_strdup(sql))) {
        fmd_free(s);
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    }
    s->base.db = db;
    s->key = sql;
    s->nparams = count_params(sql);
    if (s->nparams > MAX_PARAMS)
        FMD_BUG("statement has more than %d parameters: %s", MAX_PARAMS, sql);
    snprintf(s->name, sizeof(s->name), "f%u", ++d->next_name);
    /*
     * Now, so bad SQL fails here as with SQLite. A lost connection is left to
     * the first run, which knows whether to reconnect: a PREPARE did nothing.
     */
    if (PQstatus(d->conn) == CONNECTION_OK) {
        PGTransactionStatusType before = PQtransactionStatus(d->conn);
        int rc = server_prepare(d, s, err);
        if (rc)
            note_loss(d, before);
        if (rc && rc != FMD_EUNAVAIL) {
            free_stmt(s);
            return rc;
        }
    }
    if (d->ncache == CACHE_SIZE)
        evict_oldest(d);
    d->cache[d->ncache++] = s;
    *out = &s->base;
    return 0;
}

static void pg_done(struct db_stmt *st)
{
    struct pg_stmt *s = (struct pg_stmt *)st;
    int i;
    PQclear(s->res);
    s->res = NULL;
    s->row = s->nrows = 0;
    for (i = 0; i < s->nparams; i++)
        fmd_freez(&s->val[i]);
}

static int set_param(struct db_stmt *st, int n, char *v)
{
    struct pg_stmt *s = (struct pg_stmt *)st;
    if (n < 1 || n > s->nparams)
        FMD_BUG("statement has no parameter $%d: %s", n, s->sql);
    fmd_free(s->val[n - 1]);
    s->val[n - 1] = v;
    return 0;
}

static int pg_bind_text(struct db_stmt *st, int n, const char *v, size_t len)
{
    char *c = fmd_strndup(v, len);
    if (!c)
        return FMD_ENOMEM;
    return set_param(st, n, c);
}

static int pg_bind_int(struct db_stmt *st, int n, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return pg_bind_text(st, n, buf, strlen(buf));
}

static int pg_bind_null(struct db_stmt *st, int n)
{
    return set_param(st, n, NULL);
}

static int pg_bind_double(struct db_stmt *st, int n, double v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%.17g", v);
    return pg_bind_text(st, n, buf, strlen(buf));
}

/*
 * Whether a statement that failed on a lost connection may simply run again
 * on a new one: only when it cannot have done anything. That is so outside
 * a transaction for a BEGIN and for anything on a read-only connection; a
 * write in autocommit may have committed just before the connection went.
 */
static int may_retry(const struct pg_db *d, const struct pg_stmt *s,
                     PGTransactionStatusType before)
{
    return before == PQTRANS_IDLE && ((d->flags & DB_READONLY) || !strcmp(s->sql, "BEGIN"));
}

/* Runs the statement: one round trip; the rows stay in s->res. */
static int run(struct pg_stmt *s, struct fmd_err *err)
{
    struct pg_db *d = (struct pg_db *)s->base.db;
    int rc, tries;

    for (tries = 0;; tries++) {
        PGTransactionStatusType before = PQtransactionStatus(d->conn);
        if ((rc = ensure_conn(d, s->sql, err)))
            return rc < 0 ? rc : 0;
        if (s->gen != d->gen)
            rc = server_prepare(d, s, err);
        if (!rc) {
            s->res = PQexecPrepared(d->conn, s->name, s->nparams, (const char *const *)s->val,
                                    NULL, NULL, 0);
            switch (PQresultStatus(s->res)) {
            case PGRES_TUPLES_OK:
                s->nrows = PQntuples(s->res);
                /* fall through */
            case PGRES_COMMAND_OK:
                note_changes(d, s->res);
                s->row = -1;
                return 0;
            default:
                rc = map_err(d, s->res, err, "step");
                PQclear(s->res);
                s->res = NULL;
            }
        }
        note_loss(d, before);
        if (rc != FMD_EUNAVAIL || tries > 0 || !may_retry(d, s, before))
            return rc;
    }
}

static int pg_step(struct db_stmt *st, struct fmd_err *err)
{
    struct pg_stmt *s = (struct pg_stmt *)st;
    int rc;

    if (!s->res) {
        if ((rc = run(s, err)))
            return rc;
        if (!s->res)      /* a ROLLBACK after the connection was lost */
            return 0;
    }
    if (s->row + 1 >= s->nrows) {
        s->row = s->nrows;
        return 0;
    }
    s->row++;
    return 1;
}

static int have(const struct pg_stmt *s, int col)
{
    return s->res && s->row >= 0 && s->row < s->nrows && col >= 0 && col < PQnfields(s->res) &&
           !PQgetisnull(s->res, s->row, col);
}

static const char *pg_col_text(struct db_stmt *st, int col, size_t *len)
{
    struct pg_stmt *s = (struct pg_stmt *)st;
    int ok = have(s, col);
    if (len)
        *len = ok ? (size_t)PQgetlength(s->res, s->row, col) : 0;
    return ok ? PQgetvalue(s->res, s->row, col) : NULL;
}

/* Booleans come as 't' / 'f' (SQLite's comparisons give 1 / 0). */
static int64_t pg_col_int(struct db_stmt *st, int col)
{
    const char *v = pg_col_text(st, col, NULL);
    if (!v)
        return 0;
    if (*v == 't' || *v == 'f')
        return *v == 't';
    if (strpbrk(v, ".eE"))
        return (int64_t)strtod(v, NULL);
    return strtoll(v, NULL, 10);
}

static double pg_col_double(struct db_stmt *st, int col)
{
    const char *v = pg_col_text(st, col, NULL);
    if (v && (*v == 't' || *v == 'f'))
        return *v == 't';
    return v ? strtod(v, NULL) : 0.0;
}

static int pg_col_null(struct db_stmt *st, int col)
{
    return !have((struct pg_stmt *)st, col);
}

static int64_t pg_changes(struct db *db)
{
    return ((struct pg_db *)db)->changes;
}

/* A connection given back to the pool: no transaction left open, still alive. */
static int pg_usable(struct db *db)
{
    struct pg_db *d = (struct pg_db *)db;
    if (PQstatus(d->conn) != CONNECTION_OK)
        return 0;
    if (PQtransactionStatus(d->conn) != PQTRANS_IDLE)
        pg_exec(db, "ROLLBACK", NULL);
    return PQtransactionStatus(d->conn) == PQTRANS_IDLE;
}

/* ---- notifications: NOTIFY on commit, a LISTEN connection that waits ---- */

static int notify_now(struct db *db, const char *channel, const char *payload,
                      struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = pg_prepare(db, "SELECT pg_notify($1, $2)", &st, err);
    if (rc)
        return rc;
    pg_bind_text(st, 1, channel, strlen(channel));
    pg_bind_text(st, 2, payload ? payload : "", payload ? strlen(payload) : 0);
    rc = pg_step(st, err);
    pg_done(st);
    return rc < 0 ? rc : 0;
}

/*
 * Inside a transaction a notification waits for the commit (pg_end): a group
 * commit that enqueues a thousand tasks sends one, not a thousand round trips
 * inside the writer's transaction. Listeners only wake on it, so the payload
 * of a gathered one is dropped. A notification a rolled-back savepoint made
 * still goes out: one spurious wake-up, harmless.
 */
static int pg_notify(struct db *db, const char *channel, const char *payload,
                     struct fmd_err *err)
{
    struct pg_db *d = (struct pg_db *)db;
    int rc;

    if (PQtransactionStatus(d->conn) != PQTRANS_INTRANS)
        return notify_now(db, channel, payload, err);
    if (d->notify_on[0] && strcmp(d->notify_on, channel) &&
        (rc = notify_now(db, d->notify_on, "", err)))
        return rc;
    snprintf(d->notify_on, sizeof(d->notify_on), "%s", channel);
    return 0;
}

static int pg_end(struct db *db, int commit, struct fmd_err *err)
{
    struct pg_db *d = (struct pg_db *)db;
    char channel[sizeof(d->notify_on)];
    int rc;

    fmd_strlcpy(channel, d->notify_on, sizeof(channel));
    d->notify_on[0] = '\0';
    if (commit && channel[0] && (rc = notify_now(db, channel, "", err)))
        return rc;
    return db_run(db, commit ? "COMMIT" : "ROLLBACK", err);
}

static int pg_listen(struct db *db, const char *channel, struct fmd_err *err)
{
    char sql[96];
    size_t i, n = strlen(channel);

    if (!n || n > 63)
        return fmd_errf(err, FMD_EINVAL, "bad channel name '%s'", channel);
    for (i = 0; i < n; i++)
        if (!((channel[i] >= 'a' && channel[i] <= 'z') || channel[i] == '_'))
            return fmd_errf(err, FMD_EINVAL, "bad channel name '%s'", channel);
    snprintf(sql, sizeof(sql), "LISTEN %s", channel);
    return pg_exec(db, sql, err);
}

/* Consumes every notification that has arrived; 1 if there was one. */
static int drain(PGconn *c)
{
    PGnotify *n;
    int got = 0;
    while ((n = PQnotifies(c))) {
        got = 1;
        PQfreemem(n);
    }
    return got;
}

static int pg_wait(struct db *db, int timeout_ms, struct fmd_err *err)
{
    struct pg_db *d = (struct pg_db *)db;
    struct pollfd pfd;
    int r;

    if (PQstatus(d->conn) != CONNECTION_OK || PQsocket(d->conn) < 0)
        return map_err(d, NULL, err, "waiting for notifications");
    if (drain(d->conn))
        return 1;
    pfd.fd = PQsocket(d->conn);
    pfd.events = POLLIN;
    pfd.revents = 0;
    r = poll(&pfd, 1, timeout_ms);
    if (r < 0)
        return errno == EINTR ? 0 : fmd_errf(err, FMD_EIO, "poll: %s", strerror(errno));
    if (r == 0)
        return 0;
    if (!PQconsumeInput(d->conn))
        return map_err(d, NULL, err, "waiting for notifications");
    return drain(d->conn);
}

const struct db_driver db_postgres_driver = {
    .version = 1,
    .name = "postgres",
    .dialect = DB_POSTGRES,
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .done = pg_done,
    .bind_text = pg_bind_text,
    .bind_int = pg_bind_int,
    .bind_null = pg_bind_null,
    .bind_double = pg_bind_double,
    .step = pg_step,
    .col_text = pg_col_text,
    .col_int = pg_col_int,
    .col_double = pg_col_double,
    .col_null = pg_col_null,
    .changes = pg_changes,
    .usable = pg_usable,
    .notify = pg_notify,
    .listen = pg_listen,
    .wait = pg_wait,
    .end = pg_end,
};
