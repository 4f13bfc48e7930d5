/*
 * test_etl.c - the analytics ETL: figures computed in DuckDB match the same
 * figures computed in SQLite after inserts, edits, reviews, soft deletes,
 * restores, purges, new versions and a deleted form; a second sync is a
 * no-op; a batch that fails before its commit loses and doubles nothing;
 * a form deleted in the middle of a sync; a store restored from a backup;
 * the change log is pruned; the task handler; a 200,000-submission sync
 * with its duration printed.
 *
 * ETL_TEST_N (default 3000) sets the submissions per form of the main test,
 * ETL_BIG_N (default 200000) the size of the timed one: smaller under ASan.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/duck.h"
#include "analytics/etl.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/mem.h"
#include "db/db.h"
#include "db/migrate.h"
#include "db/pool.h"
#include "db/writer.h"
#include "metrics/metrics.h"
#include "store/submissions.h"
#include "tasks/etl.h"
#include "tasks/tasks.h"

#define A "01AAAAAAAAAAAAAAAAAAAAAAAA"
#define B "01BBBBBBBBBBBBBBBBBBBBBBBB"
#define C "01CCCCCCCCCCCCCCCCCCCCCCCC"

static const char *const colors[] = {"red", "green", "blue"};
static const char *const tags[] = {"x", "y", "z"};

struct env {
    struct db *db;          /* the test's own connection: writes and the ETL's reads */
    struct db_writer *w;    /* for etl_prune */
    struct duck *duck;
    struct duck_conn *dc;
};

static long env_long(const char *name, long def)
{
    const char *s = getenv(name);
    char *end;
    long v;
    if (!s || !*s)
        return def;
    v = strtol(s, &end, 10);
    return *end || v <= 0 ? def : v;
}

/* ---- helpers on both engines ---- */

/*
 * The statement cache keeps the SQL pointer it was given (it expects
 * literals), so formatted SQL is interned here and freed after the
 * connections are closed.
 */
static char *interned[4096];
static int ninterned;

static const char *intern(const char *sql)
{
    int i;
    for (i = 0; i < ninterned; i++)
        if (!strcmp(interned[i], sql))
            return interned[i];
    assert_true(ninterned < 4096);
    return interned[ninterned++] = strdup(sql);
}

static void intern_release(void)
{
    while (ninterned)
        free(interned[--ninterned]);
}

static void sq_exec(struct db *db, const char *fmt, ...)
{
    struct fmd_err err = {0};
    char sql[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    if (db_exec(db, sql, &err))
        fail_msg("sqlite: %s: %s", sql, err.msg);
}

static int64_t sq_i64(struct db *db, const char *fmt, ...)
{
    struct fmd_err err = {0};
    struct db_stmt *st;
    char sql[4096];
    int64_t v = -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    if (db_prepare(db, intern(sql), &st, &err))
        fail_msg("sqlite: %s: %s", sql, err.msg);
    if (db_step(st, &err) == 1)
        v = db_col_null(st, 0) ? -1 : db_col_int(st, 0);
    db_done(st);
    return v;
}

static int64_t dk_i64(struct duck_conn *dc, const char *fmt, ...)
{
    struct duck_limits lim = {.max_rows = 10};
    struct fmd_err err = {0};
    json_t *res, *cell;
    char sql[4096];
    int64_t v;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    if (duck_query_json(dc, sql, &lim, &res, &err))
        fail_msg("duckdb: %s: %s", sql, err.msg);
    cell = json_array_get(json_array_get(json_object_get(res, "rows"), 0), 0);
    v = json_is_integer(cell) ? json_integer_value(cell) : -1;
    json_decref(res);
    return v;
}

/* ---- the operational store's data ---- */

static void add_version(struct env *e, const char *form, int version, const char *schema)
{
    sq_exec(e->db,
            "INSERT INTO form_versions (form_id, version, schema, created_at, published_at) "
            "VALUES ('%s', %d, '%s', 1, %d)",
            form, version, schema, 1000 + version);
    sq_exec(e->db, "UPDATE forms SET draft_version = %d, published_version = %d WHERE id = '%s'",
            version, version, form);
}

static void add_form(struct env *e, const char *form)
{
    sq_exec(e->db,
            "INSERT INTO forms (id, project_id, name, slug, status, draft_version, created_at, "
            "updated_at) VALUES ('%s', 'p1', 'form %s', 'slug-%s', 'open', 1, 1, 1)",
            form, form, form);
}

static const char SCHEMA_A1[] =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
    "\"age\":{\"type\":\"integer\"},\"color\":{\"enum\":[\"red\",\"green\",\"blue\"]}}}";
static const char SCHEMA_A2[] =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
    "\"age\":{\"type\":\"integer\"},\"color\":{\"enum\":[\"red\",\"green\",\"blue\"]},"
    "\"score\":{\"type\":\"integer\"}}}";
static const char SCHEMA_A3[] =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
    "\"age\":{\"type\":\"integer\"},\"color\":{\"enum\":[\"red\",\"green\",\"blue\"]},"
    "\"score\":{\"type\":\"number\"}}}";
static const char SCHEMA_A4[] =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
    "\"age\":{\"type\":\"integer\"},\"color\":{\"enum\":[\"red\",\"green\",\"blue\"]},"
    "\"score\":{\"type\":\"number\"},\"extra\":{\"type\":\"boolean\"}}}";
static const char SCHEMA_B1[] =
    "{\"type\":\"object\",\"properties\":{\"rating\":{\"type\":\"integer\"},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"x\",\"y\",\"z\"]}}}}";
static const char SCHEMA_B2[] =
    "{\"type\":\"object\",\"properties\":{\"rating\":{\"type\":\"integer\"},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"x\",\"y\",\"z\"]}},"
    "\"city\":{\"type\":\"string\"}}}";
static const char SCHEMA_C1[] =
    "{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}}}";

static int64_t seq_no;

/* Inserts n submissions of form through the store, in one transaction. */
static void add_submissions(struct env *e, const char *form, int n, int version)
{
    struct fmd_err err = {0};
    char data[256];
    int i;

    assert_int_equal(db_begin(e->db, &err), 0);
    for (i = 0; i < n; i++) {
        struct store_submission_new s = {.form_id = form, .form_version = version,
                                         .data = data, .body_hash = "h",
                                         .created_at = 1700000000000 + seq_no};
        int64_t k = seq_no++;
        id_new(s.id);
        if (form[2] == 'A') {
            char score[64] = "";
            if (version >= 2)   /* an integer in version 2, a number from version 3 */
                snprintf(score, sizeof(score), ",\"score\":%lld%s", (long long)(k % 50),
                         version >= 3 ? ".5" : "");
            snprintf(data, sizeof(data), "{\"name\":\"n%lld\",\"age\":%lld,\"color\":\"%s\"%s}",
                     (long long)k, (long long)(k % 90), colors[k % 3], score);
        }
        else if (form[2] == 'B')
            snprintf(data, sizeof(data), "{\"rating\":%lld,\"tags\":[\"%s\",\"%s\"]%s}",
                     (long long)(k % 5), tags[k % 3], tags[(k + 1) % 3],
                     version >= 2 ? ",\"city\":\"Lyon\"" : "");
        else
            snprintf(data, sizeof(data), "{\"q\":\"%lld\"}", (long long)k);
        assert_int_equal(store_submission_insert(e->db, &s, &err), 0);
    }
    assert_int_equal(db_commit(e->db, &err), 0);
}

/* ---- figures, computed on both sides ---- */

static void same(struct env *e, const char *what, int64_t sq, int64_t dk)
{
    if (sq != dk)
        fail_msg("%s: sqlite %lld, duckdb %lld", what, (long long)sq, (long long)dk);
}

static void compare_form(struct env *e, const char *f)
{
    same(e, "rows", sq_i64(e->db, "SELECT COUNT(*) FROM submissions WHERE form_id = '%s'", f),
         dk_i64(e->dc, "SELECT COUNT(*) FROM \"f_%s\"", f));
    same(e, "rows in submissions",
         sq_i64(e->db, "SELECT COUNT(*) FROM submissions WHERE form_id = '%s'", f),
         dk_i64(e->dc, "SELECT COUNT(*) FROM submissions WHERE form_id = '%s'", f));
    same(e, "live rows",
         sq_i64(e->db, "SELECT COUNT(*) FROM submissions WHERE form_id = '%s' "
                       "AND deleted_at IS NULL", f),
         dk_i64(e->dc, "SELECT COUNT(*) FROM \"f_%s\" WHERE deleted_at IS NULL", f));
    same(e, "approved",
         sq_i64(e->db, "SELECT COUNT(*) FROM submissions WHERE form_id = '%s' "
                       "AND status = 'approved'", f),
         dk_i64(e->dc, "SELECT COUNT(*) FROM \"f_%s\" WHERE status = 'approved'", f));
    same(e, "created_at",
         sq_i64(e->db, "SELECT SUM(created_at) FROM submissions WHERE form_id = '%s'", f),
         dk_i64(e->dc, "SELECT SUM(epoch_ms(created_at)) FROM \"f_%s\"", f));
    same(e, "deleted_at",
         sq_i64(e->db, "SELECT COALESCE(SUM(deleted_at), -1) FROM submissions "
                       "WHERE form_id = '%s'", f),
         dk_i64(e->dc, "SELECT COALESCE(SUM(epoch_ms(deleted_at)), -1) FROM \"f_%s\"", f));
    same(e, "versions",
         sq_i64(e->db, "SELECT SUM(form_version) FROM submissions WHERE form_id = '%s'", f),
         dk_i64(e->dc, "SELECT SUM(version) FROM \"f_%s\"", f));
    if (f[2] == 'A') {
        int i;
        same(e, "age", sq_i64(e->db, "SELECT SUM(json_extract(data, '$.age')) FROM submissions "
                                     "WHERE form_id = '%s'", f),
             dk_i64(e->dc, "SELECT SUM(age) FROM \"f_%s\"", f));
        if (dk_i64(e->dc, "SELECT COUNT(*) FROM form_columns WHERE form_id = '%s' "
                          "AND name = 'score'", f) > 0)
            same(e, "score x 2",
             sq_i64(e->db, "SELECT CAST(ROUND(SUM(json_extract(data, '$.score')) * 2) AS INTEGER)"
                           " FROM submissions WHERE form_id = '%s'", f),
             dk_i64(e->dc, "SELECT CAST(ROUND(SUM(score) * 2) AS BIGINT) FROM \"f_%s\"", f));
        for (i = 0; i < 3; i++)
            same(e, colors[i],
                 sq_i64(e->db, "SELECT COUNT(*) FROM submissions WHERE form_id = '%s' "
                               "AND json_extract(data, '$.color') = '%s'", f, colors[i]),
                 dk_i64(e->dc, "SELECT COUNT(*) FROM \"f_%s\" WHERE color = '%s'", f, colors[i]));
    } else if (f[2] == 'B') {
        int i;
        same(e, "rating", sq_i64(e->db, "SELECT SUM(json_extract(data, '$.rating')) "
                                        "FROM submissions WHERE form_id = '%s'", f),
             dk_i64(e->dc, "SELECT SUM(rating) FROM \"f_%s\"", f));
        for (i = 0; i < 3; i++)
            same(e, tags[i],
                 sq_i64(e->db, "SELECT COUNT(*) FROM submissions, json_each(data, '$.tags') j "
                               "WHERE form_id = '%s' AND j.value = '%s'", f, tags[i]),
                 dk_i64(e->dc, "SELECT COUNT(*) FROM \"f_%s\" WHERE list_contains(tags, '%s')",
                        f, tags[i]));
    }
}

static void compare_all(struct env *e)
{
    same(e, "all submissions", sq_i64(e->db, "SELECT COUNT(*) FROM submissions"),
         dk_i64(e->dc, "SELECT COUNT(*) FROM submissions"));
    compare_form(e, A);
    compare_form(e, B);
}

static int sync(struct env *e, const struct etl_options *o, struct etl_stats *st)
{
    struct fmd_err err = {0};
    int rc = etl_sync(e->db, e->dc, o, st, &err);
    if (rc)
        print_message("etl_sync: %d %s\n", rc, err.msg);
    return rc;
}

/* ---- set up and tear down ---- */

static void env_open(struct env *e, const char *sqlite, const char *duck)
{
    struct fmd_err err = {0};
    memset(e, 0, sizeof(*e));
    assert_int_equal(db_open(sqlite, 0, &e->db, &err), 0);
    assert_int_equal(migrate_up(e->db, -1, &err), 0);
    assert_int_equal(db_writer_start(sqlite, 16, &e->w, &err), 0);
    assert_int_equal(duck_open(duck, NULL, &e->duck, &err), 0);
    assert_int_equal(duck_connect(e->duck, &e->dc, &err), 0);
    sq_exec(e->db, "INSERT OR IGNORE INTO projects (id, name, created_at) VALUES ('p1', 'p', 1)");
}

static void env_close(struct env *e)
{
    duck_disconnect(e->dc);
    duck_close(e->duck);
    db_writer_stop(e->w);
    db_close(e->db);
    intern_release();
}

/* Closes and reopens DuckDB: what survives is what was committed. */
static void duck_reopen(struct env *e, const char *duck)
{
    struct fmd_err err = {0};
    duck_disconnect(e->dc);
    duck_close(e->duck);
    assert_int_equal(duck_open(duck, NULL, &e->duck, &err), 0);
    assert_int_equal(duck_connect(e->duck, &e->dc, &err), 0);
}

static int fail_batch;
static int fail_before_commit(void *arg, int batch)
{
    return batch == fail_batch ? FMD_EIO : 0;
}

/* ---- the tests ---- */

static void figures_match_through_every_kind_of_change(void **state)
{
    struct env e;
    struct etl_stats st;
    struct etl_options o = {.batch = 500};
    struct fmd_err err = {0};
    long n = env_long("ETL_TEST_N", 3000);
    int64_t total, lag;
    char ids[8][ID_LEN + 1];
    struct db_stmt *q;
    int i;

    env_open(&e, "etl.db", "etl.duckdb");
    add_form(&e, A);
    add_version(&e, A, 1, SCHEMA_A1);
    add_submissions(&e, A, (int)n / 3, 1);
    add_version(&e, A, 2, SCHEMA_A2);
    add_submissions(&e, A, (int)n / 3, 2);
    add_version(&e, A, 3, SCHEMA_A3);   /* score: integer -> number */
    add_submissions(&e, A, (int)n / 3, 3);
    add_form(&e, B);
    add_version(&e, B, 1, SCHEMA_B1);
    add_submissions(&e, B, (int)n, 1);
    add_form(&e, C);
    add_version(&e, C, 1, SCHEMA_C1);
    add_submissions(&e, C, 50, 1);
    total = sq_i64(e.db, "SELECT COUNT(*) FROM submissions");

    /* Everything, in batches of 500. */
    assert_int_equal(sync(&e, &o, &st), 0);
    assert_int_equal(st.changes, total);
    assert_int_equal(st.upserted, total);
    assert_int_equal(st.deleted, 0);
    assert_int_equal(st.forms_rebuilt, 3);
    assert_int_equal(st.batches, (int)((total + 499) / 500));
    compare_all(&e);
    compare_form(&e, C);
    assert_int_equal(dk_i64(e.dc, "SELECT COUNT(*) FROM form_columns WHERE form_id = '%s'", A), 4);
    assert_int_equal(dk_i64(e.dc, "SELECT COUNT(*) FROM form_columns WHERE form_id = '%s' "
                                  "AND name = 'score' AND duck_type = 'DOUBLE'", A), 1);
    assert_int_equal(dk_i64(e.dc, "SELECT COUNT(*) FROM form_columns WHERE form_id = '%s' "
                                  "AND kind = 'choice' AND json_array_length(options) = 3", A), 1);

    /* A second sync has nothing to do. */
    assert_int_equal(sync(&e, &o, &st), 0);
    assert_int_equal(st.changes, 0);
    assert_int_equal(st.upserted, 0);
    assert_int_equal(st.forms_rebuilt, 0);
    assert_int_equal(etl_lag_ms(e.db, e.dc, clock_wall_ms(), &lag, &err), 0);
    assert_int_equal(lag, 0);

    /* Pick a few submissions of A and B to work on. */
    assert_int_equal(db_prepare(e.db, "SELECT id FROM submissions WHERE form_id IN ($1, $2) "
                                      "ORDER BY id DESC LIMIT 8", &q, &err), 0);
    db_bind_text(q, 1, A);
    db_bind_text(q, 2, B);
    for (i = 0; i < 8 && db_step(q, &err) == 1; i++)
        snprintf(ids[i], sizeof(ids[i]), "%s", db_col_text(q, 0));
    db_done(q);
    assert_int_equal(i, 8);
    sq_exec(e.db, "UPDATE submissions SET status = 'approved' WHERE form_id = '%s' "
                  "AND id < '%s'", A, ids[7]);   /* many at once, by hand */
    assert_int_equal(store_submission_review(e.db, ids[0], "approved", "u", NULL, &err), 0);
    assert_int_equal(store_submission_edit(e.db, ids[1],
                                           "{\"name\":\"edited\",\"age\":1000,\"color\":\"red\","
                                           "\"rating\":1000,\"tags\":[\"z\"]}", "u", &err), 0);
    assert_int_equal(store_submission_set_deleted(e.db, ids[2], 1, &err), 0);
    assert_int_equal(store_submission_set_deleted(e.db, ids[3], 1, &err), 0);
    assert_int_equal(store_submission_set_deleted(e.db, ids[3], 0, &err), 0);   /* restored */
    assert_int_equal(store_submission_purge(e.db, ids[4], &err), 0);
    assert_int_equal(store_submission_purge(e.db, ids[5], &err), 0);
    /* B gets a version with a new field, and submissions that use it. */
    add_version(&e, B, 2, SCHEMA_B2);
    add_submissions(&e, B, 20, 2);
    /* C goes, its submissions with it (ON DELETE CASCADE). */
    sq_exec(e.db, "DELETE FROM forms WHERE id = '%s'", C);
    assert_int_equal(etl_lag_ms(e.db, e.dc, clock_wall_ms() + 10000, &lag, &err), 0);
    assert_true(lag >= 10000);

    o.writer = e.w;   /* and prune the log from now on */
    assert_int_equal(sync(&e, &o, &st), 0);
    assert_int_equal(st.deleted, 2 + 50);
    assert_int_equal(st.forms_rebuilt, 1);   /* B */
    assert_int_equal(st.forms_dropped, 1);   /* C */
    assert_true(st.pruned > 0);
    compare_all(&e);
    assert_int_equal(dk_i64(e.dc, "SELECT COUNT(*) FROM duckdb_tables() "
                                  "WHERE table_name = 'f_%s'", C), 0);
    assert_int_equal(dk_i64(e.dc, "SELECT COUNT(*) FROM form_columns WHERE form_id = '%s'", C), 0);
    assert_int_equal(dk_i64(e.dc, "SELECT COUNT(*) FROM submissions WHERE form_id = '%s'", C), 0);
    assert_int_equal(dk_i64(e.dc, "SELECT COUNT(*) FROM \"f_%s\" WHERE city = 'Lyon'", B), 20);
    assert_int_equal(dk_i64(e.dc, "SELECT COUNT(*) FROM \"f_%s\" WHERE deleted_at IS NOT NULL",
                            A) + dk_i64(e.dc, "SELECT COUNT(*) FROM \"f_%s\" WHERE deleted_at IS "
                                              "NOT NULL", B), 1);
    /* The log keeps only its newest row, so numbering goes on upwards. */
    assert_int_equal(sq_i64(e.db, "SELECT COUNT(*) FROM submission_changes"), 1);

    /* A version published without any submission still reshapes the table. */
    add_version(&e, A, 4, SCHEMA_A4);
    assert_int_equal(sync(&e, &o, &st), 0);
    assert_int_equal(st.changes, 0);
    assert_int_equal(st.forms_rebuilt, 1);
    assert_int_equal(dk_i64(e.dc, "SELECT COUNT(*) FROM form_columns WHERE form_id = '%s'", A), 5);
    assert_int_equal(dk_i64(e.dc, "SELECT COUNT(*) FROM \"f_%s\" WHERE extra IS NULL", A),
                     sq_i64(e.db, "SELECT COUNT(*) FROM submissions WHERE form_id = '%s'", A));
    compare_all(&e);

    /* After pruning, new changes still number above the watermark. */
    add_submissions(&e, A, 10, 3);
    assert_int_equal(sync(&e, &o, &st), 0);
    assert_int_equal(st.changes, 10);
    compare_all(&e);
    assert_int_equal(sync(&e, &o, &st), 0);
    assert_int_equal(st.changes, 0);
    env_close(&e);
}

static void a_failed_batch_loses_and_doubles_nothing(void **state)
{
    struct env e;
    struct etl_stats st;
    struct etl_options o = {.batch = 100, .before_commit = fail_before_commit};
    int64_t wm;

    env_open(&e, "crash.db", "crash.duckdb");
    add_form(&e, A);
    add_version(&e, A, 1, SCHEMA_A1);
    add_form(&e, B);
    add_version(&e, B, 1, SCHEMA_B1);
    add_submissions(&e, A, 450, 1);
    add_submissions(&e, B, 300, 1);
    sq_exec(e.db, "UPDATE submissions SET status = 'rejected' WHERE rowid %% 7 = 0");

    /* Batch 3 fails before its commit: batches 1 and 2 stay, 3 is rolled back. */
    fail_batch = 3;
    assert_int_not_equal(sync(&e, &o, &st), 0);
    assert_int_equal(st.batches, 2);
    wm = dk_i64(e.dc, "SELECT value FROM etl_state WHERE name = 'watermark'");
    assert_int_equal(wm, 200);
    assert_int_equal(dk_i64(e.dc, "SELECT COUNT(*) FROM submissions"), 200);

    /* The process dies there; the next one picks up at the watermark. */
    duck_reopen(&e, "crash.duckdb");
    fail_batch = 0;
    o.max_batches = 2;   /* and stops again, cleanly, between batches */
    assert_int_equal(sync(&e, &o, &st), 0);
    assert_int_equal(st.batches, 2);
    assert_int_equal(dk_i64(e.dc, "SELECT value FROM etl_state WHERE name = 'watermark'"), 400);
    duck_reopen(&e, "crash.duckdb");
    o.max_batches = 0;
    assert_int_equal(sync(&e, &o, &st), 0);
    compare_all(&e);
    assert_int_equal(dk_i64(e.dc, "SELECT COUNT(DISTINCT id) FROM submissions"),
                     sq_i64(e.db, "SELECT COUNT(*) FROM submissions"));
    assert_int_equal(dk_i64(e.dc, "SELECT value FROM etl_state WHERE name = 'watermark'"),
                     sq_i64(e.db, "SELECT MAX(seq) FROM submission_changes"));
    env_close(&e);
}

static int delete_c_once(void *arg)
{
    struct env *e = arg;
    if (sq_i64(e->db, "SELECT COUNT(*) FROM forms WHERE id = '%s'", C) > 0)
        sq_exec(e->db, "DELETE FROM forms WHERE id = '%s'", C);
    return 0;
}

/* The form pass has seen C; C goes before the first batch reads its columns. */
static void a_form_deleted_during_a_sync(void **state)
{
    struct env e;
    struct etl_stats st;
    struct etl_options o = {.batch = 40, .stop = delete_c_once, .arg = &e};

    env_open(&e, "gone.db", "gone.duckdb");
    add_form(&e, A);
    add_version(&e, A, 1, SCHEMA_A1);
    add_submissions(&e, A, 100, 1);
    add_form(&e, C);
    add_version(&e, C, 1, SCHEMA_C1);
    add_submissions(&e, C, 100, 1);
    assert_int_equal(sync(&e, &o, &st), 0);
    assert_int_equal(dk_i64(e.dc, "SELECT COUNT(*) FROM submissions WHERE form_id = '%s'", C), 0);
    assert_int_equal(dk_i64(e.dc, "SELECT COUNT(*) FROM \"f_%s\"", C), 0);
    o.stop = NULL;
    assert_int_equal(sync(&e, &o, &st), 0);   /* and now its table goes */
    assert_int_equal(st.forms_dropped, 1);
    assert_int_equal(dk_i64(e.dc, "SELECT COUNT(*) FROM duckdb_tables() "
                                  "WHERE table_name = 'f_%s'", C), 0);
    compare_form(&e, A);
    env_close(&e);
}

/* The operational store goes back to a backup: sync refuses, rebuild recovers. */
static void a_restored_store_is_rebuilt(void **state)
{
    struct env e;
    struct etl_stats st;
    struct etl_options o = {.batch = 30};
    struct fmd_err err = {0};

    env_open(&e, "live.db", "restore.duckdb");
    o.writer = e.w;
    add_form(&e, A);
    add_version(&e, A, 1, SCHEMA_A1);
    add_submissions(&e, A, 50, 1);
    assert_int_equal(sync(&e, &o, &st), 0);
    sq_exec(e.db, "VACUUM INTO 'backup.db'");
    add_submissions(&e, A, 60, 1);
    assert_int_equal(sync(&e, &o, &st), 0);
    env_close(&e);

    env_open(&e, "backup.db", "restore.duckdb");
    o.writer = e.w;
    assert_int_equal(etl_sync(e.db, e.dc, &o, &st, &err), FMD_ECONFLICT);
    assert_non_null(strstr(err.msg, "restored"));
    assert_int_equal(etl_rebuild(e.w, e.dc, &err), 0);
    assert_int_equal(sync(&e, &o, &st), 0);
    /* The log's kept newest row names one of them a second time. */
    assert_true(st.upserted >= 50 && st.upserted <= 51);
    compare_form(&e, A);
    /* A rebuild that died half-way is not synced from. */
    assert_int_equal(duck_exec(e.dc, "INSERT INTO etl_state VALUES ('rebuild', 1)", &err), 0);
    assert_int_equal(etl_sync(e.db, e.dc, &o, &st, &err), FMD_ECONFLICT);
    assert_int_equal(etl_rebuild(e.w, e.dc, &err), 0);
    assert_int_equal(sync(&e, &o, &st), 0);
    compare_form(&e, A);
    env_close(&e);
}

static int nested_sync(void *arg)
{
    struct env *e = arg;
    struct etl_options o = {.skip_if_busy = 1};
    struct etl_stats st;
    assert_int_equal(sync(e, &o, &st), 0);
    assert_true(st.skipped);
    assert_int_equal(st.changes, 0);
    return 0;
}

/* While a sync runs, another one with skip_if_busy returns at once. */
static void a_sync_skips_while_another_runs(void **state)
{
    struct env e;
    struct etl_stats st;
    struct etl_options o = {.stop = nested_sync, .arg = &e};

    env_open(&e, "busy.db", "busy.duckdb");
    add_form(&e, A);
    add_version(&e, A, 1, SCHEMA_A1);
    add_submissions(&e, A, 10, 1);
    assert_int_equal(sync(&e, &o, &st), 0);
    assert_false(st.skipped);
    assert_int_equal(st.changes, 10);
    env_close(&e);
}

static void metrics_are_kept(void **state)
{
    struct env e;
    struct etl_stats st;
    struct buf b;

    metrics_reset();
    env_open(&e, "metrics.db", "metrics.duckdb");
    add_form(&e, A);
    add_version(&e, A, 1, SCHEMA_A1);
    add_submissions(&e, A, 5, 1);
    assert_int_equal(sync(&e, NULL, &st), 0);
    buf_init(&b, 1 << 20);
    assert_int_equal(metrics_render(&b), 0);
    assert_non_null(strstr(b.p, "formd_analytics_etl_lag_seconds 0"));
    assert_non_null(strstr(b.p, "formd_analytics_etl_rows_total 5"));
    assert_non_null(strstr(b.p, "formd_analytics_etl_syncs_total{outcome=\"ok\"} 1"));
    /* A reset in between (tests do it) does not break the next sync. */
    metrics_reset();
    add_submissions(&e, A, 2, 1);
    assert_int_equal(sync(&e, NULL, &st), 0);
    buf_reset(&b);
    assert_int_equal(metrics_render(&b), 0);
    assert_non_null(strstr(b.p, "formd_analytics_etl_rows_total 2"));
    buf_release(&b);
    metrics_reset();
    env_close(&e);
}

static void the_task_runs_the_sync(void **state)
{
    struct env e;
    struct tasks_env te = {0};
    struct queue_task task = {0};
    struct queue_run run = {.task = &task};
    struct fmd_err err = {0};
    json_t *payload = json_object(), *res;

    env_open(&e, "task.db", "task.duckdb");
    add_form(&e, A);
    add_version(&e, A, 1, SCHEMA_A1);
    add_submissions(&e, A, 30, 1);
    te.writer = e.w;
    assert_int_equal(db_pool_new("task.db", &te.pool, &err), 0);
    assert_int_equal(tasks_register_all(&te, &err), 0);
    assert_int_equal(sq_i64(e.db, "SELECT COUNT(*) FROM periodic_tasks WHERE name = "
                                  "'analytics.etl' AND kind = 'analytics.etl' AND queue = 'analytics'"),
                     1);
    run.payload = payload;

    /* No analytics database in this process (a formd worker): a clear failure,
     * retried soon, so that the process holding the database runs it. */
    assert_int_not_equal(etl_task_run(&run), 0);
    assert_false(run.permanent);
    assert_int_equal(run.retry_after_ms, 2000);
    assert_non_null(strstr(run.error, "not the analytics node"));

    te.analytics = e.duck;
    memset(run.error, 0, sizeof(run.error));
    run.permanent = 0;
    assert_int_equal(etl_task_run(&run), 0);
    assert_non_null(run.result);
    res = json_loads(run.result, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(res, "changes")), 30);
    assert_int_equal(json_integer_value(json_object_get(res, "upserted")), 30);
    json_decref(res);
    fmd_free(run.result);
    compare_form(&e, A);
    assert_int_equal(sq_i64(e.db, "SELECT COUNT(*) FROM submission_changes"), 1);   /* pruned */
    json_decref(payload);
    queue_unregister_all();
    db_pool_free(te.pool);
    env_close(&e);
    metrics_reset();
}

static void a_big_first_sync(void **state)
{
    struct env e;
    struct etl_stats st;
    long n = env_long("ETL_BIG_N", 200000);
    struct etl_options o = {.batch = (int)env_long("ETL_BATCH", 0)};
    uint64_t t0;
    double ins;

    env_open(&e, "big.db", "big.duckdb");
    add_form(&e, A);
    add_version(&e, A, 1, SCHEMA_A1);
    add_version(&e, A, 2, SCHEMA_A2);
    add_version(&e, A, 3, SCHEMA_A3);
    add_form(&e, B);
    add_version(&e, B, 1, SCHEMA_B1);
    t0 = clock_mono_ns();
    add_submissions(&e, A, (int)(n / 2), 3);
    add_submissions(&e, B, (int)(n - n / 2), 1);
    ins = (double)(clock_mono_ns() - t0) / 1e9;
    assert_int_equal(sync(&e, &o, &st), 0);
    print_message("etl: %lld submissions (inserted into SQLite in %.2f s) synced in %.2f s: "
                  "%.0f rows/s, %d batches\n",
                  (long long)st.upserted, ins, st.seconds, (double)st.upserted / st.seconds,
                  st.batches);
    assert_int_equal(st.upserted, n);
    compare_all(&e);
    /* And the incremental case: 1% of them changed. */
    sq_exec(e.db, "UPDATE submissions SET status = 'approved' WHERE rowid %% 100 = 0");
    assert_int_equal(sync(&e, NULL, &st), 0);
    print_message("etl: %lld changed submissions synced in %.3f s\n", (long long)st.upserted,
                  st.seconds);
    compare_all(&e);
    env_close(&e);
    metrics_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(figures_match_through_every_kind_of_change),
        cmocka_unit_test(a_failed_batch_loses_and_doubles_nothing),
        cmocka_unit_test(a_form_deleted_during_a_sync),
        cmocka_unit_test(a_restored_store_is_rebuilt),
        cmocka_unit_test(a_sync_skips_while_another_runs),
        cmocka_unit_test(metrics_are_kept),
        cmocka_unit_test(the_task_runs_the_sync),
        cmocka_unit_test(a_big_first_sync),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_reset();
    return rc;
}
