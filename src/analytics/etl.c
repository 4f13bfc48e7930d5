/*
 * etl.c - the incremental copy of submissions into the analytics database.
 *
 * Why a watermark is enough. The operational store logs each change of a
 * submission in submission_changes (triggers, migration 6) in the changing
 * transaction. SQLite has a single writer, so the numbers (seq) are handed
 * out in commit order: once a reader sees change N, every change below N
 * has committed or never will. Copying "seq > watermark" in seq order and
 * moving the watermark in the same DuckDB transaction as the copied rows
 * therefore never skips a change and never applies one twice: a crash
 * before the DuckDB commit leaves both the rows and the watermark as they
 * were, and the batch is read again. PostgreSQL hands sequence values out
 * at insert time, not commit time: a change that took seq 5 can commit
 * after one that took 6, and a watermark at 6 would skip it. So there the
 * log numbers changes in commit order itself (migration 14): a change is
 * written with a negative seq (pending), and each sync first gives the
 * pending changes it can see, which have all committed, the next sequence
 * values, in a transaction that holds an advisory lock until it commits.
 * Numbering transactions thus commit one after the other, each with higher
 * numbers than the last, so once a reader sees change N every change below
 * N is visible too, as on SQLite. Renumbering a change the ETL has copied
 * (a numbering lost in a crash) only copies it again, idempotently.
 *
 * Pruning records the highest change it deleted (change_log_state
 * 'pruned_through'). An analytics database whose watermark is below it
 * missed changes that are gone (it was another node's analytics node before
 * a takeover, or its file was lost): a sync with a writer rebuilds it
 * (etl_rebuild), one without fails with FMD_ECONFLICT.
 *
 * What is copied is the submission's current row, not the change: a batch
 * takes the distinct submissions its changes name and reads their rows as
 * they are now (absent: purged). Reading a row newer than the change is
 * harmless, since the later change is copied again, idempotently.
 *
 * A batch, in DuckDB:
 *   staging (temp tables, per connection): etl_changed (id, form_id) of the
 *   changes, etl_rows (the current rows), filled by appenders;
 *   one transaction: delete the changed ids from submissions, insert
 *   etl_rows, refresh each touched form's f_<id> from etl_rows, move the
 *   watermark.
 *
 * Typed tables. A form's columns come from its published versions, which
 * are immutable, so the list of (version, published_at) pairs identifies
 * them: its hash is kept in etl_state as "form:<id>:versions". Each sync
 * first compares these hashes with the operational store's: a form with a
 * new hash gets its columns computed; if they differ from form_columns, or
 * its table is missing, its table is rebuilt from DuckDB's submissions in
 * one transaction (form_columns, table and hash together). A form whose
 * hash is in etl_state but that has no published version any more (deleted)
 * loses its table. A form without a published version has no table.
 * Incremental upserts use the columns of the versions the hash covered
 * (version <= the newest seen then), so a version published during a sync
 * cannot make them disagree with the table; the next sync rebuilds.
 *
 * Pruning deletes copied changes but always keeps the newest row: seq is
 * a rowid without AUTOINCREMENT, which only keeps growing while the largest
 * row stays (migration 6).
 */
#include "analytics/etl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/columns.h"
#include "analytics/layout.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "metrics/metrics.h"
#include "security/crypto.h"
#include "core/banned.h"

#define SQL_MAX (16u << 20)
#define ETL_SENSITIVE_MASK "***"   /* as store/sensitive.h shows it */
#define STATE_ROWS_MAX 10000000
#define PRUNE_CHUNK 10000

static pthread_mutex_t sync_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const meta_names[] = LAYOUT_META_NAMES;

/* One form with published versions, as this sync sees it. */
struct form {
    char *id;
    uint64_t sig;          /* hash of its published (version, published_at) pairs */
    int max_version;       /* the newest published version the hash covers */
    int ready;             /* its table matches sig: incremental updates apply */
    int cols_loaded;
    struct columns cols;
};

struct forms {
    struct form *v;
    size_t n, cap;
};

static void forms_release(struct forms *f)
{
    size_t i;
    for (i = 0; i < f->n; i++) {
        fmd_free(f->v[i].id);
        columns_release(&f->v[i].cols);
    }
    fmd_freez(&f->v);
    f->n = f->cap = 0;
}

static int cmp_form(const void *key, const void *elem)
{
    return strcmp(key, ((const struct form *)elem)->id);
}

/* The forms are in id order (SQLite's binary collation is strcmp's). */
static struct form *forms_find(struct forms *f, const char *id)
{
    return f->n ? bsearch(id, f->v, f->n, sizeof(*f->v), cmp_form) : NULL;
}

/* Form ids are pasted into SQL as identifiers and literals: ULID characters only. */
static int safe_id(const char *id)
{
    size_t i;
    for (i = 0; id[i]; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'Z') ||
              (id[i] >= 'a' && id[i] <= 'z') || id[i] == '_' || id[i] == '-'))
            return 0;
    return i > 0 && i <= 64;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    while (n--)
        h = (h ^ *s++) * 0x100000001b3ull;
    return h;
}

/* ---- DuckDB helpers ---- */

static int duck_json(struct duck_conn *dc, const char *sql, json_t **rows, struct fmd_err *err)
{
    struct duck_limits lim = {.max_rows = STATE_ROWS_MAX};
    json_t *res;
    int rc = duck_query_json(dc, sql, &lim, &res, err);
    if (rc)
        return rc;
    *rows = json_incref(json_object_get(res, "rows"));
    json_decref(res);
    return *rows ? 0 : fmd_errf(err, FMD_EINTERNAL, "query result without rows");
}

/* Runs one statement and counts the rows it changed. */
static int duck_count(struct duck_conn *dc, const char *sql, int64_t *changed,
                      struct fmd_err *err)
{
    struct duck_prepared *p;
    int rc = duck_prepare(dc, sql, &p, err);
    if (rc)
        return rc;
    rc = duck_prepared_exec(p, changed, err);
    duck_prepared_free(p);
    return rc;
}

static int duck_execf(struct duck_conn *dc, struct fmd_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int duck_execf(struct duck_conn *dc, struct fmd_err *err, const char *fmt, ...)
{
    struct buf b;
    va_list ap;
    int rc;

    buf_init(&b, SQL_MAX);
    va_start(ap, fmt);
    rc = buf_vprintf(&b, fmt, ap);
    va_end(ap);
    rc = rc ? fmd_errf(err, rc, "cannot build sql") : duck_exec(dc, b.p, err);
    buf_release(&b);
    return rc;
}

static int read_watermark(struct duck_conn *dc, int64_t *wm, struct fmd_err *err)
{
    json_t *rows;
    int rc = duck_json(dc, "SELECT value FROM etl_state WHERE name = 'watermark'", &rows, err);
    if (rc)
        return rc;
    *wm = json_array_size(rows) ? json_integer_value(json_array_get(json_array_get(rows, 0), 0))
                                : 0;
    json_decref(rows);
    return 0;
}

/* ---- the operational store ---- */

static int sqlite_int(struct db *db, const char *sql, int64_t arg, int64_t *out,
                      struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, sql, &st, err);
    if (rc)
        return rc;
    db_bind_int(st, 1, arg);
    rc = db_step(st, err);
    if (rc == 1) {
        *out = db_col_null(st, 0) ? 0 : db_col_int(st, 0);
        rc = 0;
    } else if (rc == 0) {
        *out = 0;
    }
    db_done(st);
    return rc;
}

/* Held by the numbering transaction (see the top of this file): "formd" + 1. */
#define NUMBERING_LOCK 0x666f726d6401LL

/* Pending changes numbered per transaction: a backlog is numbered in steps,
 * each short, with the caller's stop checked between them. */
#define NUMBER_CHUNK 10000

static int number_write(struct db *db, void *arg, struct fmd_err *err)
{
    int64_t *numbered = arg, locked;
    struct db_stmt *st;
    int rc;

    if ((rc = sqlite_int(db, "SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock($1)) AS l",
                         NUMBERING_LOCK, &locked, err)))
        return rc;
    /* the oldest first (pending seqs are -nextval: the oldest is nearest 0) */
    if ((rc = db_prepare(db, "UPDATE submission_changes SET seq = "
                             "nextval('submission_changes_seq_seq') WHERE seq IN (SELECT seq "
                             "FROM submission_changes WHERE seq < 0 ORDER BY seq DESC LIMIT $1)",
                         &st, err)))
        return rc;
    db_bind_int(st, 1, NUMBER_CHUNK);
    rc = db_step(st, err);
    db_done(st);
    *numbered = rc < 0 ? 0 : db_changes(db);
    return rc < 0 ? rc : 0;
}

/*
 * PostgreSQL: numbers the committed pending changes, after every number
 * given so far, through the writer (read connections are read-only); the
 * advisory lock is held until each step commits. Stops early when
 * opt->stop says so: what is numbered by then is synced, the rest later.
 */
static int number_changes(struct db *db, const struct etl_options *opt, struct fmd_err *err)
{
    int64_t numbered;
    int rc;

    if (db_dialect(db) != DB_POSTGRES)
        return 0;
    if (!opt->writer)
        return fmd_errf(err, FMD_EINVAL, "an analytics sync on PostgreSQL needs a writer");
    do {
        numbered = 0;
        if ((rc = db_writer_run(opt->writer, number_write, &numbered, err)))
            return rc;
    } while (numbered == NUMBER_CHUNK && !(opt->stop && opt->stop(opt->arg)));
    return 0;
}

/* Every form with a published version, in id order, with its hash. */
static int load_forms(struct db *db, struct forms *f, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT form_id, version, published_at FROM form_versions "
                        "WHERE published_at IS NOT NULL ORDER BY form_id, version",
                        &st, err);
    if (rc)
        return rc;
    while ((rc = db_step(st, err)) == 1) {
        const char *id = db_col_text(st, 0);
        int64_t pair[2] = {db_col_int(st, 1), db_col_int(st, 2)};
        struct form *cur = f->n ? &f->v[f->n - 1] : NULL;
        if (!cur || strcmp(cur->id, id)) {
            if (f->n == f->cap) {
                size_t cap = f->cap ? f->cap * 2 : 16;
                struct form *v = fmd_realloc(f->v, cap * sizeof(*v));
                if (!v) {
                    rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
                    break;
                }
                f->v = v;
                f->cap = cap;
            }
            cur = &f->v[f->n];
            memset(cur, 0, sizeof(*cur));
            columns_init(&cur->cols);
            cur->sig = 0xcbf29ce484222325ull;
            if (!(cur->id = fmd_strdup(id))) {
                rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
                break;
            }
            f->n++;
        }
        cur->sig = fnv(cur->sig, pair, sizeof(pair));
        cur->max_version = (int)pair[0];
    }
    db_done(st);
    return rc < 0 ? rc : 0;
}

/* The columns of fm from its published versions up to those its hash covers. */
static int load_columns(struct db *db, struct form *fm, struct fmd_err *err)
{
    json_t **schemas = NULL;
    size_t n = 0, cap = 0, i;
    struct db_stmt *st;
    int rc;

    if (fm->cols_loaded)
        return 0;
    if ((rc = db_prepare(db,
                         "SELECT schema FROM form_versions WHERE form_id = $1 "
                         "AND published_at IS NOT NULL AND version <= $2 ORDER BY version",
                         &st, err)))
        return rc;
    db_bind_text(st, 1, fm->id);
    db_bind_int(st, 2, fm->max_version);
    while ((rc = db_step(st, err)) == 1) {
        json_error_t jerr;
        json_t *s;
        if (n == cap) {
            json_t **v = fmd_realloc(schemas, (cap = cap ? cap * 2 : 8) * sizeof(*v));
            if (!v) {
                rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
                break;
            }
            schemas = v;
        }
        if (!(s = json_loads(db_col_text(st, 0), 0, &jerr))) {
            rc = fmd_errf(err, FMD_EINVAL, "form '%s': a published schema is not JSON: %s",
                          fm->id, jerr.text);
            break;
        }
        schemas[n++] = s;
    }
    db_done(st);
    if (rc >= 0) {
        rc = columns_from_schemas((const json_t *const *)schemas, n, meta_names, &fm->cols, err);
        if (rc && err && rc != FMD_ENOMEM) {
            char msg[sizeof(err->msg)];
            fmd_strlcpy(msg, err->msg, sizeof(msg));
            fmd_errf(err, rc, "form '%s': %s", fm->id, msg);
        }
        fm->cols_loaded = !rc;
    }
    for (i = 0; i < n; i++)
        json_decref(schemas[i]);
    fmd_free(schemas);
    return rc < 0 ? rc : 0;
}

/* ---- typed tables ---- */

/* The form_columns rows fm's columns make, as duck_query_json would return them. */
static json_t *expected_columns(const struct form *fm)
{
    json_t *rows = json_array();
    size_t i, j;
    for (i = 0; rows && i < fm->cols.n; i++) {
        const struct column *c = &fm->cols.v[i];
        json_t *opts = json_null();
        if (c->kind == COLUMNS_CHOICE || c->kind == COLUMNS_MULTICHOICE) {
            opts = json_array();
            for (j = 0; opts && j < c->n_options; j++)
                json_array_append_new(opts, json_string(c->options[j]));
        }
        if (!opts || json_array_append_new(rows, json_pack("[s,s,s,s,o]", c->name, c->sql_name,
                                                           columns_kind_name(c->kind),
                                                           c->duck_type, opts))) {
            json_decref(rows);
            return NULL;
        }
    }
    return rows;
}

static int insert_columns(struct duck_conn *dc, const struct form *fm, struct fmd_err *err)
{
    struct duck_prepared *p;
    size_t i, j;
    int rc = duck_prepare(dc, "INSERT INTO form_columns VALUES ($1, $2, $3, $4, $5, $6, $7::JSON)",
                          &p, err);
    if (rc)
        return rc;
    for (i = 0; !rc && i < fm->cols.n; i++) {
        const struct column *c = &fm->cols.v[i];
        duck_bind_text(p, 1, fm->id, strlen(fm->id));
        duck_bind_int64(p, 2, (int64_t)i);
        rc = duck_bind_text(p, 3, c->name, strlen(c->name));
        duck_bind_text(p, 4, c->sql_name, strlen(c->sql_name));
        duck_bind_text(p, 5, columns_kind_name(c->kind), strlen(columns_kind_name(c->kind)));
        duck_bind_text(p, 6, c->duck_type, strlen(c->duck_type));
        if (c->kind == COLUMNS_CHOICE || c->kind == COLUMNS_MULTICHOICE) {
            struct buf b;
            buf_init(&b, SQL_MAX);
            rc = buf_addc(&b, '[');
            for (j = 0; !rc && j < c->n_options; j++) {
                if (j)
                    rc = buf_addc(&b, ',');
                if (!rc && !(rc = buf_addc(&b, '"')) &&
                    !(rc = buf_add_json_str(&b, c->options[j], strlen(c->options[j]))))
                    rc = buf_addc(&b, '"');
            }
            if (!rc && !(rc = buf_addc(&b, ']')))
                rc = duck_bind_text(p, 7, b.p, b.len);
            buf_release(&b);
        } else {
            duck_bind_null(p, 7);
        }
        if (rc)
            rc = fmd_errf(err, rc, "form '%s': cannot bind column '%s'", fm->id, c->name);
        else
            rc = duck_prepared_exec(p, NULL, err);
    }
    duck_prepared_free(p);
    return rc;
}

/* Appends ", <typed column expressions over data>" (nothing for no columns). */
static int add_select(struct buf *b, const struct form *fm)
{
    int rc = 0;
    if (fm->cols.n && !(rc = buf_adds(b, ", ")))
        rc = columns_select_sql(&fm->cols, "data", b);
    return rc;
}

#define TS(col) "make_timestamptz(" col " * 1000)"

/* In the caller's transaction: form_columns, the table and its hash, anew. */
static int rebuild_form(struct duck_conn *dc, struct form *fm, struct fmd_err *err)
{
    struct buf b;
    int rc;

    buf_init(&b, SQL_MAX);
    if ((rc = duck_execf(dc, err, "DELETE FROM form_columns WHERE form_id = '%s'", fm->id)) ||
        (rc = insert_columns(dc, fm, err)))
        goto out;
    if ((rc = buf_printf(&b, "DROP TABLE IF EXISTS " LAYOUT_FORM_TABLE_FMT ";"
                             "CREATE TABLE " LAYOUT_FORM_TABLE_FMT " (" LAYOUT_META_DDL,
                         fm->id, fm->id)) ||
        (fm->cols.n && ((rc = buf_adds(&b, ", ")) || (rc = columns_create_sql(&fm->cols, &b)))) ||
        (rc = buf_printf(&b, ");INSERT INTO " LAYOUT_FORM_TABLE_FMT " BY NAME SELECT "
                             "id AS submission_id, version, status, created_at, updated_at, "
                             "deleted_at", fm->id)) ||
        (rc = add_select(&b, fm)) ||
        (rc = buf_printf(&b, " FROM submissions WHERE form_id = '%s';"
                             "INSERT OR REPLACE INTO etl_state VALUES ('form:%s:versions', %lld)",
                         fm->id, fm->id, (long long)fm->sig))) {
        rc = fmd_errf(err, rc, "form '%s': cannot build sql", fm->id);
        goto out;
    }
    rc = duck_exec(dc, b.p, err);
out:
    buf_release(&b);
    return rc;
}

/* Commits when rc is 0, else (or when the commit fails) rolls back; the outcome. */
static int end_txn(struct duck_conn *dc, int rc, struct fmd_err *err)
{
    if (!rc && !(rc = duck_exec(dc, "COMMIT", err)))
        return 0;
    duck_exec(dc, "ROLLBACK", NULL);
    return rc;
}

static int drop_form(struct duck_conn *dc, const char *id, struct fmd_err *err)
{
    int rc = duck_exec(dc, "BEGIN", err);
    if (rc)
        return rc;
    rc = duck_execf(dc, err,
                    "DROP TABLE IF EXISTS " LAYOUT_FORM_TABLE_FMT ";"
                    "DELETE FROM form_columns WHERE form_id = '%s';"
                    "DELETE FROM etl_state WHERE name = 'form:%s:versions'",
                    id, id, id);
    return end_txn(dc, rc, err);
}

static int table_exists(json_t *tables, const char *id)
{
    size_t i;
    json_t *row;
    json_array_foreach(tables, i, row) {
        const char *name = json_string_value(json_array_get(row, 0));
        if (name && !strncmp(name, "f_", 2) && !strcmp(name + 2, id))
            return 1;
    }
    return 0;
}

/*
 * Brings every form's table in line with its published versions: drops the
 * tables of forms gone, rebuilds those whose columns changed, and marks the
 * forms whose table is current as ready for incremental updates.
 */
static int sync_forms(struct db *db, struct duck_conn *dc, struct forms *f,
                      struct etl_stats *st, struct fmd_err *err)
{
    json_t *state = NULL, *tables = NULL, *row, *have = NULL, *want = NULL;
    size_t i;
    int rc;

    if ((rc = load_forms(db, f, err)) ||
        (rc = duck_json(dc, "SELECT name, value FROM etl_state WHERE name LIKE 'form:%'",
                        &state, err)) ||
        (rc = duck_json(dc, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                            "AND NOT temporary AND table_name LIKE 'f\\_%' ESCAPE '\\'",
                        &tables, err)))
        goto out;
    json_array_foreach(state, i, row) {
        const char *name = json_string_value(json_array_get(row, 0)), *id, *end;
        uint64_t sig = (uint64_t)json_integer_value(json_array_get(row, 1));
        char idbuf[128];
        struct form *fm;

        if (!name || strncmp(name, "form:", 5) || !(end = strrchr(name, ':')))
            continue;
        id = name + 5;
        if (end <= id || (size_t)(end - id) >= sizeof(idbuf))
            continue;
        memcpy(idbuf, id, (size_t)(end - id));
        idbuf[end - id] = 0;
        if (!(fm = forms_find(f, idbuf))) {
            if (safe_id(idbuf)) {
                if ((rc = drop_form(dc, idbuf, err)))
                    goto out;
                st->forms_dropped++;
            }
            continue;
        }
        fm->ready = fm->sig == sig && table_exists(tables, fm->id);
    }
    for (i = 0; i < f->n; i++) {
        struct form *fm = &f->v[i];
        char sql[256];

        if (fm->ready || !safe_id(fm->id))
            continue;
        if ((rc = load_columns(db, fm, err)))
            goto out;
        snprintf(sql, sizeof(sql),
                 "SELECT name, sql_name, kind, duck_type, options FROM form_columns "
                 "WHERE form_id = '%s' ORDER BY position", fm->id);
        if ((rc = duck_json(dc, sql, &have, err)))
            goto out;
        if (!(want = expected_columns(fm))) {
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = duck_exec(dc, "BEGIN", err)))
            goto out;
        if (table_exists(tables, fm->id) && json_equal(have, want)) {
            /* A new version with the same columns (a label changed): keep the rows. */
            rc = duck_execf(dc, err,
                            "INSERT OR REPLACE INTO etl_state VALUES ('form:%s:versions', %lld)",
                            fm->id, (long long)fm->sig);
        } else {
            rc = rebuild_form(dc, fm, err);
            st->forms_rebuilt += !rc;
        }
        if ((rc = end_txn(dc, rc, err)))
            goto out;
        fm->ready = 1;
        json_decref(have);
        json_decref(want);
        have = want = NULL;
    }
out:
    json_decref(state);
    json_decref(tables);
    json_decref(have);
    json_decref(want);
    return rc;
}

/* ---- one batch ---- */

#define STAGING_DDL                                                                       \
    "CREATE TEMP TABLE IF NOT EXISTS etl_changed (id VARCHAR, form_id VARCHAR);"           \
    "CREATE TEMP TABLE IF NOT EXISTS etl_rows (id VARCHAR, form_id VARCHAR, version INTEGER," \
    "  status VARCHAR, created_at BIGINT, updated_at BIGINT, deleted_at BIGINT, data VARCHAR," \
    "  spam BIGINT);"

static int append_text(struct duck_appender *a, struct db_stmt *st, int col)
{
    size_t len;
    const char *s = db_col_textn(st, col, &len);
    return s ? duck_append_text(a, s, len) : duck_append_null(a);
}

/* Replaces, at any depth, each string shaped like a sealed value with the mask. */
static int mask_sealed(json_t *v)
{
    char id[CRYPTO_KEY_ID_MAX + 1];
    const char *k;
    json_t *m;
    size_t i;
    int rc = 0;

    if (json_is_object(v)) {
        json_object_foreach(v, k, m) {
            if (json_is_string(m) && crypto_sealed_key_id(json_string_value(m), id))
                rc = json_object_set_new(v, k, json_string(ETL_SENSITIVE_MASK));
            else
                rc = mask_sealed(m);
            if (rc)
                return FMD_ENOMEM;
        }
    } else if (json_is_array(v)) {
        for (i = 0; i < json_array_size(v) && !rc; i++)
            rc = mask_sealed(json_array_get(v, i));
    }
    return rc;
}

/*
 * A submission's data, with its sensitive values (sealed at rest,
 * store/sensitive.h) masked: the analytics database never holds them, in
 * clear or sealed, so its summaries count them and exports show the mask.
 * Only sealed values are touched, and they are only ever masked here.
 */
static int append_data(struct duck_appender *a, struct db_stmt *st, int col)
{
    size_t len;
    const char *s = db_col_textn(st, col, &len);
    json_t *doc;
    char *text;
    int rc;

    if (!s || !memmem(s, len, "\"" CRYPTO_SEALED_PREFIX, strlen(CRYPTO_SEALED_PREFIX) + 1))
        return append_text(a, st, col);
    if (!(doc = json_loadb(s, len, 0, NULL)))
        return append_text(a, st, col);   /* not formd's: copied as it is, as before */
    rc = mask_sealed(doc);
    text = rc ? NULL : json_encode(doc);
    json_decref(doc);
    if (!text)
        return FMD_ENOMEM;
    rc = duck_append_text(a, text, strlen(text));
    fmd_free(text);
    return rc;
}

/*
 * Reads the next batch from the operational store into the staging tables,
 * in one read transaction so that the rows are at least as new as the
 * changes. *n gets the changes read, *last the seq of the last one.
 */
/*
 * The change-log queries of a batch, and those of a snapshot, which walks the
 * submissions table itself by rowid (opt->snapshot: a throwaway copy).
 */
static const char *const changes_sql[2] = {
    "SELECT seq, submission_id, form_id FROM submission_changes "
    "WHERE seq > $1 ORDER BY seq LIMIT $2",
    "SELECT rowid, id, form_id FROM submissions WHERE rowid > $1 ORDER BY rowid LIMIT $2",
};
/* Spam rows are copied too, their ids listed in spam_submissions (layout.h). */
static const char *const rows_sql[2] = {
    "SELECT id, form_id, form_version, status, created_at, updated_at, "
    "deleted_at, data, spam FROM submissions WHERE id IN (SELECT submission_id "
    "FROM submission_changes WHERE seq > $1 AND seq <= $2)",
    "SELECT id, form_id, form_version, status, created_at, updated_at, "
    "deleted_at, data, spam FROM submissions WHERE rowid > $1 AND rowid <= $2",
};

static int stage_batch(struct db *db, struct duck_conn *dc, int64_t wm, int batch, int snapshot,
                       int64_t *n, int64_t *last, struct fmd_err *err)
{
    struct duck_appender *ch = NULL, *rows = NULL;
    struct db_stmt *st;
    int rc, in_read = 0;

    *n = 0;
    *last = wm;
    if ((rc = duck_exec(dc, "DELETE FROM etl_changed; DELETE FROM etl_rows", err)) ||
        (rc = duck_appender_open(dc, "etl_changed", &ch, err)) ||
        (rc = duck_appender_open(dc, "etl_rows", &rows, err)) ||
        (rc = db_run(db, "BEGIN", err)))
        goto out;
    in_read = 1;
    if ((rc = db_prepare(db, changes_sql[snapshot != 0], &st, err)))
        goto out;
    db_bind_int(st, 1, wm);
    db_bind_int(st, 2, batch);
    while ((rc = db_step(st, err)) == 1) {
        *last = db_col_int(st, 0);
        (*n)++;
        if ((rc = append_text(ch, st, 1)) || (rc = append_text(ch, st, 2)) ||
            (rc = duck_appender_end_row(ch, err)))
            break;
    }
    db_done(st);
    if (rc < 0 || !*n)
        goto out;
    if ((rc = db_prepare(db, rows_sql[snapshot != 0], &st, err)))
        goto out;
    db_bind_int(st, 1, wm);
    db_bind_int(st, 2, *last);
    while ((rc = db_step(st, err)) == 1) {
        if ((rc = append_text(rows, st, 0)) || (rc = append_text(rows, st, 1)) ||
            (rc = duck_append_int64(rows, db_col_int(st, 2))) ||
            (rc = append_text(rows, st, 3)) ||
            (rc = duck_append_int64(rows, db_col_int(st, 4))) ||
            (rc = duck_append_int64(rows, db_col_int(st, 5))) ||
            (rc = db_col_null(st, 6) ? duck_append_null(rows)
                                     : duck_append_int64(rows, db_col_int(st, 6))) ||
            (rc = append_data(rows, st, 7)) ||
            (rc = duck_append_int64(rows, db_col_int(st, 8))) ||
            (rc = duck_appender_end_row(rows, err)))
            break;
    }
    db_done(st);
out:
    if (in_read) {
        if (rc < 0)
            db_rollback(db);
        else if ((rc = db_run(db, "COMMIT", err)))
            db_rollback(db);
    }
    if (!rc)
        rc = duck_appender_close(ch, err);
    else
        duck_appender_close(ch, NULL);
    if (!rc)
        rc = duck_appender_close(rows, err);
    else
        duck_appender_close(rows, NULL);
    return rc < 0 ? rc : 0;
}

/*
 * In the batch's transaction: the changed rows of one form's table. BY NAME,
 * so that a form deleted since the sync began (its versions gone, so no
 * columns) still only loses its rows rather than failing the batch.
 */
static int upsert_form(struct duck_conn *dc, const struct form *fm, struct fmd_err *err)
{
    struct buf b;
    int rc;

    buf_init(&b, SQL_MAX);
    if ((rc = buf_printf(&b,
                         "DELETE FROM " LAYOUT_FORM_TABLE_FMT " WHERE submission_id IN "
                         "(SELECT id FROM etl_changed WHERE form_id = '%s');"
                         "INSERT INTO " LAYOUT_FORM_TABLE_FMT " BY NAME SELECT "
                         "id AS submission_id, version, status, "
                         TS("created_at") " AS created_at, " TS("updated_at") " AS updated_at, "
                         TS("deleted_at") " AS deleted_at",
                         fm->id, fm->id, fm->id)) ||
        (rc = add_select(&b, fm)) ||
        (rc = buf_printf(&b, " FROM etl_rows WHERE form_id = '%s'", fm->id))) {
        rc = fmd_errf(err, rc, "form '%s': cannot build sql", fm->id);
        goto out;
    }
    rc = duck_exec(dc, b.p, err);
out:
    buf_release(&b);
    return rc;
}

/* Applies the staged batch and moves the watermark to last, in one transaction. */
static int apply_batch(struct db *db, struct duck_conn *dc, struct forms *f, int64_t last,
                       int number, const struct etl_options *opt, struct etl_stats *st,
                       struct fmd_err *err)
{
    json_t *touched = NULL, *row;
    int64_t deleted = 0, replaced = 0, inserted = 0;
    size_t i;
    int rc, in_txn = 0;
    char sql[128];

    if ((rc = duck_json(dc, "SELECT DISTINCT form_id FROM etl_changed", &touched, err)))
        return rc;
    /* Outside the transaction: the columns of the forms this batch touches. */
    json_array_foreach(touched, i, row) {
        struct form *fm = forms_find(f, json_string_value(json_array_get(row, 0)));
        if (fm && fm->ready && (rc = load_columns(db, fm, err)))
            goto out;
    }
    if ((rc = duck_exec(dc, "BEGIN", err)))
        goto out;
    in_txn = 1;
    if ((rc = duck_count(dc, "DELETE FROM submissions WHERE id IN (SELECT id FROM etl_changed) "
                             "AND id NOT IN (SELECT id FROM etl_rows)", &deleted, err)) ||
        (rc = duck_count(dc, "DELETE FROM submissions WHERE id IN (SELECT id FROM etl_rows)",
                         &replaced, err)) ||
        (rc = duck_count(dc, "INSERT INTO submissions SELECT id, form_id, version, status, "
                             TS("created_at") ", " TS("updated_at") ", " TS("deleted_at")
                             ", data FROM etl_rows", &inserted, err)) ||
        (rc = duck_exec(dc, "DELETE FROM spam_submissions WHERE submission_id IN "
                            "(SELECT id FROM etl_changed);"
                            "INSERT INTO spam_submissions SELECT DISTINCT id FROM etl_rows "
                            "WHERE spam <> 0", err)))
        goto out;
    json_array_foreach(touched, i, row) {
        struct form *fm = forms_find(f, json_string_value(json_array_get(row, 0)));
        if (fm && fm->ready && (rc = upsert_form(dc, fm, err)))
            goto out;
    }
    snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO etl_state VALUES ('%s', %lld)",
             opt->snapshot ? "snapshot" : "watermark", (long long)last);
    if ((rc = duck_exec(dc, sql, err)))
        goto out;
    if (opt->before_commit && (rc = opt->before_commit(opt->arg, number))) {
        rc = fmd_errf(err, rc < 0 ? rc : FMD_EINTERNAL, "batch %d stopped before its commit",
                      number);
        goto out;
    }
    rc = end_txn(dc, 0, err);
    in_txn = 0;
    if (!rc) {
        st->upserted += inserted;
        st->deleted += deleted;
    }
out:
    if (in_txn)
        end_txn(dc, rc, NULL);
    json_decref(touched);
    return rc;
}

/* ---- the sync ---- */

static void count_metrics(const struct etl_stats *st, int rc)
{
    static const char *const outcome[] = {"outcome", NULL};
    /* Registered on each use (a lookup once a sync): survives metrics_reset. */
    struct metric *syncs = metric_register("formd_analytics_etl_syncs_total",
                                           "Analytics ETL runs by outcome", METRIC_COUNTER,
                                           outcome, NULL, 0);
    struct metric *rows = metric_register("formd_analytics_etl_rows_total",
                                          "Submissions written into the analytics database",
                                          METRIC_COUNTER, NULL, NULL, 0);
    struct metric *changes = metric_register("formd_analytics_etl_changes_total",
                                             "Change-log rows the analytics ETL applied",
                                             METRIC_COUNTER, NULL, NULL, 0);
    const char *v[] = {rc ? "error" : "ok", NULL};

    metric_inc(syncs, v, 1);
    metric_inc0(rows, (double)st->upserted);
    metric_inc0(changes, (double)st->changes);
}

int etl_observe_lag(struct db *db, struct duck_conn *dc, int64_t *lag_ms, struct fmd_err *err)
{
    struct metric *lag = metric_register("formd_analytics_etl_lag_seconds",
                                         "Age of the oldest change not yet in the analytics "
                                         "database (0: caught up)",
                                         METRIC_GAUGE, NULL, NULL, 0);
    int64_t ms = 0;
    int rc = etl_lag_ms(db, dc, clock_wall_ms(), &ms, err);

    if (!rc)
        metric_set0(lag, (double)ms / 1000.0);
    if (lag_ms)
        *lag_ms = ms;
    return rc;
}

static void set_lag(struct db *db, struct duck_conn *dc)
{
    etl_observe_lag(db, dc, NULL, NULL);
}

static int rebuild_locked(struct db_writer *w, struct duck_conn *dc, struct fmd_err *err);

/*
 * The watermark, the log's top and, when the analytics database is behind
 * what pruning deleted, a rebuild first (with a writer; else FMD_ECONFLICT).
 */
static int read_position(struct db *db, struct duck_conn *dc, const struct etl_options *opt,
                         int64_t *wm, int64_t *top, struct fmd_err *err)
{
    int64_t pruned = 0;
    int rc;

    if ((rc = number_changes(db, opt, err)) || (rc = read_watermark(dc, wm, err)) ||
        (rc = sqlite_int(db, "SELECT value FROM change_log_state WHERE name = 'pruned_through' "
                             "AND value >= $1", 0, &pruned, err)))
        return rc;
    if (*wm < pruned) {
        if (!opt->writer)
            return fmd_errf(err, FMD_ECONFLICT,
                            "analytics is at change %lld but changes up to %lld were pruned "
                            "(analytics was kept by another node): rebuild analytics",
                            (long long)*wm, (long long)pruned);
        log_warn("analytics: at change %lld, behind the pruned log (%lld): rebuilding",
                 (long long)*wm, (long long)pruned);
        if ((rc = rebuild_locked(opt->writer, dc, err)) ||
            (rc = number_changes(db, opt, err)) || (rc = read_watermark(dc, wm, err)))
            return rc;
    }
    return sqlite_int(db, "SELECT MAX(seq) FROM submission_changes WHERE seq >= $1", 0, top,
                      err);
}

int etl_sync(struct db *db, struct duck_conn *dc, const struct etl_options *opt,
             struct etl_stats *st, struct fmd_err *err)
{
    static const struct etl_options defaults;
    struct etl_stats local;
    struct forms forms = {0};
    json_t *mark = NULL;
    uint64_t t0 = clock_mono_ns();
    int64_t wm = 0, top = 0, total = 0, n, last;
    int batch, rc;

    if (!opt)
        opt = &defaults;
    if (!st)
        st = &local;
    memset(st, 0, sizeof(*st));
    batch = opt->batch > 0 ? opt->batch : ETL_BATCH_DEFAULT;
    if (!opt->skip_if_busy) {
        pthread_mutex_lock(&sync_lock);
    } else if (pthread_mutex_trylock(&sync_lock)) {
        st->skipped = 1;
        return 0;
    }
    if (opt->snapshot && db_dialect(db) == DB_POSTGRES) {
        /* It walks SQLite's rowid; PostgreSQL has none. */
        rc = fmd_errf(err, FMD_EINVAL, "a snapshot copy of analytics is not built for "
                                       "PostgreSQL yet: stop formd serve, or ask it for the "
                                       "export through the API");
        goto out;
    }
    if ((rc = duck_exec(dc, LAYOUT_DDL STAGING_DDL, err)))
        goto out;
    if (opt->snapshot) {   /* every submission, whatever the log and watermark say */
        if (opt->batch <= 0)
            batch = ETL_BATCH_MAX / 2;   /* into empty tables: few, large batches */
        if (opt->progress &&
            (rc = sqlite_int(db, "SELECT COUNT(*) FROM submissions WHERE $1 = 0", 0, &total,
                             err)))
            goto out;
        goto copy;
    }
    if ((rc = duck_json(dc, "SELECT 1 FROM etl_state WHERE name = 'rebuild'", &mark, err)))
        goto out;
    if (json_array_size(mark)) {
        rc = fmd_errf(err, FMD_ECONFLICT, "an analytics rebuild was interrupted: run it again");
        goto out;
    }
    if ((rc = read_position(db, dc, opt, &wm, &top, err)))
        goto out;
    st->watermark = wm;
    if (top < wm) {
        rc = fmd_errf(err, FMD_ECONFLICT,
                      "analytics is at change %lld but the operational store's log ends at "
                      "%lld: the store was restored from an older backup; rebuild analytics",
                      (long long)wm, (long long)top);
        goto out;
    }
    if (opt->progress &&
        (rc = sqlite_int(db, "SELECT COUNT(*) FROM submission_changes WHERE seq > $1", wm,
                         &total, err)))
        goto out;
    /*
     * Each batch deletes its ids from the copied tables before inserting
     * them, and DuckDB answers "id IN (the batch)" by scanning the table: a
     * long backlog in small batches costs a scan per batch, quadratic in the
     * end (a million submissions took minutes). Unless the caller chose a
     * size, a backlog goes in about eight batches, at most ETL_BATCH_MAX each.
     */
    if (opt->batch <= 0 && (top - wm) / 8 > batch)
        batch = (top - wm) / 8 > ETL_BATCH_MAX ? ETL_BATCH_MAX : (int)((top - wm) / 8);
copy:
    if ((rc = sync_forms(db, dc, &forms, st, err)))
        goto out;
    for (;;) {
        if (opt->max_batches && st->batches >= opt->max_batches)
            break;
        if (opt->stop && opt->stop(opt->arg))
            break;
        if ((rc = stage_batch(db, dc, wm, batch, opt->snapshot, &n, &last, err)) || !n)
            break;
        if ((rc = apply_batch(db, dc, &forms, last, st->batches + 1, opt, st, err)))
            break;
        st->batches++;
        st->changes += n;
        st->watermark = wm = last;
        if (opt->progress)
            opt->progress(opt->arg, st->changes, total > st->changes ? total : st->changes);
        if (n < batch)
            break;
    }
    if (!rc && opt->writer && !opt->snapshot && st->watermark > 0)
        rc = etl_prune(opt->writer, st->watermark, &st->pruned, err);
out:
    duck_exec(dc, "DELETE FROM etl_changed; DELETE FROM etl_rows", NULL);
    json_decref(mark);
    forms_release(&forms);
    st->seconds = (double)(clock_mono_ns() - t0) / 1e9;
    count_metrics(st, rc);
    set_lag(db, dc);
    pthread_mutex_unlock(&sync_lock);
    return rc;
}

/*
 * Logs every submission as changed, and reads in the same transaction how
 * far pruning went (*arg): the rebuilt watermark, since every change at or
 * below it is gone and every submission is logged again above it.
 */
static int backfill(struct db *db, void *arg, struct fmd_err *err)
{
    int rc = sqlite_int(db, "SELECT value FROM change_log_state WHERE name = 'pruned_through' "
                            "AND value >= $1", 0, arg, err);
    if (rc)
        return rc;
    return db_exec(db,
                   db_dialect(db) == DB_POSTGRES
                       ? "INSERT INTO submission_changes (submission_id, form_id, at) "
                         "SELECT id, form_id, (extract(epoch FROM clock_timestamp()) * 1000)"
                         "::BIGINT FROM submissions ORDER BY form_id, id"
                       : "INSERT INTO submission_changes (submission_id, form_id, at) "
                         "SELECT id, form_id, CAST((julianday('now') - 2440587.5) * 86400000 "
                         "AS INTEGER) FROM submissions ORDER BY form_id, id",
                   err);
}

/* etl_rebuild's work, the sync mutex held. */
static int rebuild_locked(struct db_writer *w, struct duck_conn *dc, struct fmd_err *err)
{
    json_t *tables = NULL, *row;
    int64_t pruned = 0;
    char sql[160];
    struct buf b;
    size_t i;
    int rc, in_txn = 0;

    buf_init(&b, SQL_MAX);
    if ((rc = duck_exec(dc, LAYOUT_DDL, err)) ||
        (rc = duck_json(dc, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                            "AND NOT temporary AND table_name LIKE 'f\\_%' ESCAPE '\\'",
                        &tables, err)) ||
        (rc = duck_exec(dc, "BEGIN", err)))
        goto out;
    in_txn = 1;
    json_array_foreach(tables, i, row) {
        const char *name = json_string_value(json_array_get(row, 0));
        if (name && safe_id(name) && (rc = buf_printf(&b, "DROP TABLE \"%s\";", name)))
            goto out;
    }
    if ((rc = buf_adds(&b, "DELETE FROM submissions; DELETE FROM form_columns; DELETE FROM spam_submissions; "
                           "DELETE FROM etl_state; INSERT INTO etl_state VALUES ('rebuild', 1)")) ||
        (rc = duck_exec(dc, b.p, err)))
        goto out;
    in_txn = 0;
    if ((rc = end_txn(dc, 0, err)) || (rc = db_writer_run(w, backfill, &pruned, err)))
        goto out;
    snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO etl_state VALUES ('watermark', %lld); "
                               "DELETE FROM etl_state WHERE name = 'rebuild'", (long long)pruned);
    rc = duck_exec(dc, sql, err);
out:
    if (in_txn)
        end_txn(dc, rc, NULL);
    json_decref(tables);
    buf_release(&b);
    return rc;
}

int etl_rebuild(struct db_writer *w, struct duck_conn *dc, struct fmd_err *err)
{
    int rc;

    pthread_mutex_lock(&sync_lock);
    rc = rebuild_locked(w, dc, err);
    pthread_mutex_unlock(&sync_lock);
    return rc;
}

int etl_lag_ms(struct db *db, struct duck_conn *dc, int64_t now_ms, int64_t *lag_ms,
               struct fmd_err *err)
{
    int64_t wm = 0, at = 0;
    json_t *rows;
    int rc, has_state;

    *lag_ms = 0;
    /* No DDL here (it may run beside a sync): no etl_state yet is watermark 0. */
    if ((rc = duck_json(dc, "SELECT 1 FROM duckdb_tables() WHERE schema_name = 'main' "
                            "AND table_name = 'etl_state' AND NOT temporary", &rows, err)))
        return rc;
    has_state = json_array_size(rows) > 0;
    json_decref(rows);
    if ((has_state && (rc = read_watermark(dc, &wm, err))) ||
        (rc = sqlite_int(db,
                         db_dialect(db) == DB_POSTGRES   /* pending changes count too */
                             ? "SELECT MIN(at) FROM submission_changes WHERE seq > $1 OR seq < 0"
                             : "SELECT at FROM submission_changes WHERE seq > $1 "
                               "ORDER BY seq LIMIT 1",
                         wm, &at, err)))
        return rc;
    if (at > 0 && now_ms > at)
        *lag_ms = now_ms - at;
    return 0;
}

struct prune_job {
    int64_t watermark;
    int64_t deleted;
};

/* The chunk prune_chunk deletes: copied changes (never pending ones, seq < 0),
 * the oldest first, never the newest (the rowid must keep growing). */
#define PRUNE_CHUNK_SQL                                                                 \
    "SELECT seq FROM submission_changes WHERE seq > 0 AND seq <= $1 AND seq < "          \
    "(SELECT MAX(seq) FROM submission_changes) ORDER BY seq LIMIT $2"

/* Runs sql with $1 = watermark and $2 = the chunk size. */
static int prune_step(struct db *db, const char *sql, int64_t watermark, int64_t *max,
                      struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, sql, &st, err);
    if (rc)
        return rc;
    db_bind_int(st, 1, watermark);
    db_bind_int(st, 2, PRUNE_CHUNK);
    rc = db_step(st, err);
    if (rc == 1 && max)
        *max = db_col_null(st, 0) ? 0 : db_col_int(st, 0);
    db_done(st);
    return rc < 0 ? rc : 0;
}

static int prune_chunk(struct db *db, void *arg, struct fmd_err *err)
{
    struct prune_job *j = arg;
    struct db_stmt *st;
    int64_t highest = 0;
    int rc;

    if ((rc = prune_step(db, "SELECT MAX(seq) FROM (" PRUNE_CHUNK_SQL ") AS c", j->watermark,
                         &highest, err)) ||
        (rc = prune_step(db, "DELETE FROM submission_changes WHERE seq IN (" PRUNE_CHUNK_SQL ")",
                         j->watermark, NULL, err)))
        return rc;
    j->deleted = db_changes(db);
    if (!j->deleted)
        return 0;
    /* in the same transaction: a node behind this point must rebuild */
    if ((rc = db_prepare(db, "UPDATE change_log_state SET value = $1 "
                             "WHERE name = 'pruned_through' AND value < $1", &st, err)))
        return rc;
    db_bind_int(st, 1, highest);
    rc = db_step(st, err);
    db_done(st);
    return rc < 0 ? rc : 0;
}

int etl_prune(struct db_writer *w, int64_t watermark, int64_t *pruned, struct fmd_err *err)
{
    struct prune_job j = {.watermark = watermark};
    int64_t total = 0;
    int rc;

    do {
        j.deleted = 0;
        if ((rc = db_writer_run(w, prune_chunk, &j, err)))
            break;
        total += j.deleted;
    } while (j.deleted == PRUNE_CHUNK);
    if (pruned)
        *pruned = total;
    return rc;
}

/* ---- exports with sensitive values ---- */

int etl_clear_table(struct db *db, struct duck_conn *dc, const char *form_id,
                    const char *clear_table, const char *out_table, struct fmd_err *err)
{
    struct form fm = {.id = (char *)form_id, .max_version = INT32_MAX};
    struct buf b;
    int rc;

    columns_init(&fm.cols);
    buf_init(&b, SQL_MAX);
    if ((rc = load_columns(db, &fm, err)))
        goto out;
    /* submission_id is reserved (LAYOUT_META_NAMES): no form column takes it. */
    if ((rc = buf_printf(&b, "CREATE OR REPLACE TEMP TABLE \"%s\" AS SELECT f.version, "
                             "f.status, f.created_at, f.updated_at, f.deleted_at, x.* FROM "
                             LAYOUT_FORM_TABLE_FMT " f JOIN (SELECT submission_id",
                         out_table, form_id)) ||
        (rc = add_select(&b, &fm)) ||
        (rc = buf_printf(&b, " FROM \"%s\") x USING (submission_id)", clear_table))) {
        rc = fmd_errf(err, rc, "form '%s': cannot build sql", form_id);
        goto out;
    }
    rc = duck_exec(dc, b.p, err);
out:
    buf_release(&b);
    columns_release(&fm.cols);
    return rc;
}
