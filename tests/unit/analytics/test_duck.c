/* test_duck.c - the DuckDB wrapper: lock-down, statements, appender, JSON queries,
 * streaming cursors and step-by-step runs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* duckdb.h first: duck.h then declares its raw accessors (cursor chunks). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <duckdb.h>
#pragma GCC diagnostic pop

#include "analytics/duck.h"
#include "core/json.h"
#include "core/mem.h"

/* Each test gets a fresh directory holding the database and an exports dir. */
struct fixture {
    char dir[64];
    char exports[128];
    char db_path[128];
    struct duck *db;
    struct duck_conn *c;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *dirs[2];
    struct duck_options opt = { 0 };
    struct fmd_err err = { 0 };

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_duck.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->exports, sizeof(f->exports), "%s/exports", f->dir);
    snprintf(f->db_path, sizeof(f->db_path), "%s/analytics.duckdb", f->dir);
    assert_int_equal(mkdir(f->exports, 0700), 0);
    dirs[0] = f->exports;
    dirs[1] = NULL;
    opt.allowed_dirs = dirs;
    opt.memory_limit = "512MB";
    if (duck_open(f->db_path, &opt, &f->db, &err))
        fail_msg("duck_open: %s", err.msg);
    assert_int_equal(duck_connect(f->db, &f->c, &err), 0);
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    duck_disconnect(f->c);
    duck_close(f->db);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Runs sql and returns its JSON encoding (fmd_free), failing the test on error. */
static char *query(struct fixture *f, const char *sql, size_t max_rows)
{
    struct duck_limits lim = { .max_rows = max_rows, .timeout_ms = 10000 };
    struct fmd_err err = { 0 };
    json_t *out;
    char *s;
    if (duck_query_json(f->c, sql, &lim, &out, &err))
        fail_msg("%s: %s", sql, err.msg);
    s = json_encode(out);
    json_decref(out);
    assert_non_null(s);
    return s;
}

/* The encoding of the query's "rows" member only. */
static char *query_rows(struct fixture *f, const char *sql)
{
    struct duck_limits lim = { .max_rows = 100, .timeout_ms = 10000 };
    struct fmd_err err = { 0 };
    json_t *out;
    char *s;
    if (duck_query_json(f->c, sql, &lim, &out, &err))
        fail_msg("%s: %s", sql, err.msg);
    s = json_encode(json_object_get(out, "rows"));
    json_decref(out);
    assert_non_null(s);
    return s;
}

static void expect_rows(struct fixture *f, const char *sql, const char *want)
{
    char *got = query_rows(f, sql);
    assert_string_equal(got, want);
    fmd_free(got);
}

static int64_t count(struct fixture *f, const char *sql)
{
    struct duck_limits lim = { .max_rows = 1, .timeout_ms = 10000 };
    struct fmd_err err = { 0 };
    json_t *out;
    int64_t n;
    if (duck_query_json(f->c, sql, &lim, &out, &err))
        fail_msg("%s: %s", sql, err.msg);
    n = json_integer_value(json_array_get(json_array_get(json_object_get(out, "rows"), 0), 0));
    json_decref(out);
    return n;
}

static double elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---- open / close ------------------------------------------------------ */

static void open_creates_file_and_checks_options(void **state)
{
    struct fixture *f = *state;
    struct duck_options opt = { 0 };
    struct duck *db = NULL;
    struct fmd_err err = { 0 };
    const char *rel[] = { "exports", NULL };
    char path[512];

    assert_int_equal(access(f->db_path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/second.duckdb", f->dir);

    opt.threads = -1;
    assert_int_equal(duck_open(path, &opt, &db, &err), FMD_EINVAL);
    assert_null(db);
    opt.threads = 1;
    opt.memory_limit = "lots";
    assert_int_equal(duck_open(path, &opt, &db, &err), FMD_EINVAL);
    assert_non_null(strstr(err.msg, "memory_limit"));
    opt.memory_limit = NULL;
    opt.allowed_dirs = rel;
    assert_int_equal(duck_open(path, &opt, &db, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "allowed directory 'exports' is not absolute");
    assert_int_equal(duck_open(NULL, NULL, &db, &err), FMD_EINVAL);
    assert_int_equal(duck_open("/nonexistent/dir/x.duckdb", NULL, &db, &err), FMD_EIO);
    assert_non_null(strstr(err.msg, "cannot open duckdb '/nonexistent/dir/x.duckdb'"));

    /* Defaults: two threads, settings visible but locked. */
    assert_int_equal(duck_open(path, NULL, &db, &err), 0);
    duck_close(db);
    duck_close(NULL);
    duck_disconnect(NULL);
    assert_int_equal(count(f, "SELECT current_setting('threads')"), 2);
}

/* ---- statements --------------------------------------------------------- */

static void exec_and_prepared_statements(void **state)
{
    struct fixture *f = *state;
    struct duck_prepared *p;
    struct fmd_err err = { 0 };
    int64_t changed = -1;

    assert_int_equal(duck_exec(f->c, "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR, "
                                     "score DOUBLE, ok BOOLEAN)", &err), 0);
    assert_int_equal(duck_exec(f->c, "INSERT INTO t VALUES (1, 'a', 0.5, true); "
                                     "INSERT INTO t VALUES (2, 'b', 1.5, false)", &err), 0);
    assert_int_equal(duck_prepare(f->c, "INSERT INTO t VALUES ($1, $2, $3, $4)", &p, &err), 0);
    assert_int_equal(duck_bind_int64(p, 1, 3), 0);
    assert_int_equal(duck_bind_text(p, 2, "c\"'é", strlen("c\"'é")), 0);
    assert_int_equal(duck_bind_double(p, 3, 2.5), 0);
    assert_int_equal(duck_bind_bool(p, 4, true), 0);
    assert_int_equal(duck_prepared_exec(p, &changed, &err), 0);
    assert_int_equal(changed, 1);
    /* Rebind and run again; a null and a duplicate key. */
    assert_int_equal(duck_bind_int64(p, 1, 4), 0);
    assert_int_equal(duck_bind_null(p, 2), 0);
    assert_int_equal(duck_prepared_exec(p, NULL, &err), 0);
    assert_int_equal(duck_prepared_exec(p, NULL, &err), FMD_ECONFLICT);
    assert_non_null(strstr(err.msg, "Constraint Error"));
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(duck_bind_int64(p, 5, 1), FMD_EINVAL);
    assert_int_equal(duck_bind_int64(p, 0, 1), FMD_EINVAL);
    assert_int_equal(duck_bind_text(p, 2, "\xff\xfe", 2), FMD_EINVAL);
    duck_prepared_free(p);
    duck_prepared_free(NULL);

    assert_int_equal(duck_prepare(f->c, "UPDATE t SET score = score * 2 WHERE id <= ?", &p, &err),
                     0);
    assert_int_equal(duck_bind_int64(p, 1, 2), 0);
    assert_int_equal(duck_prepared_exec(p, &changed, &err), 0);
    assert_int_equal(changed, 2);
    duck_prepared_free(p);

    expect_rows(f, "SELECT id, name, score, ok FROM t ORDER BY id",
                "[[1,\"a\",1.0,true],[2,\"b\",3.0,false],[3,\"c\\\"'é\",2.5,true],"
                "[4,null,2.5,true]]");
    assert_int_equal(duck_prepare(f->c, "SELEC 1", &p, &err), FMD_EINVAL);
    assert_null(p);
    assert_non_null(strstr(err.msg, "Parser Error"));
}

/* ---- appender ------------------------------------------------------------ */

static void appender_round_trip(void **state)
{
    struct fixture *f = *state;
    struct duck_appender *a;
    struct fmd_err err = { 0 };
    char name[32];
    int64_t i;
    const int64_t n = 100000;

    assert_int_equal(duck_exec(f->c, "CREATE TABLE a (i BIGINT, s VARCHAR, d DOUBLE, b BOOLEAN, "
                                     "z INTEGER)", &err), 0);
    assert_int_equal(duck_appender_open(f->c, "a", &a, &err), 0);
    for (i = 0; i < n; i++) {
        int len = snprintf(name, sizeof(name), "row %" PRId64, i);
        assert_int_equal(duck_append_int64(a, i), 0);
        assert_int_equal(duck_append_text(a, name, (size_t)len), 0);
        assert_int_equal(duck_append_double(a, (double)i / 2), 0);
        assert_int_equal(duck_append_bool(a, i % 2 == 0), 0);
        assert_int_equal(duck_append_null(a), 0);
        assert_int_equal(duck_appender_end_row(a, &err), 0);
        if (i == n / 2)
            assert_int_equal(duck_appender_flush(a, &err), 0);
    }
    assert_int_equal(duck_appender_close(a, &err), 0);
    assert_int_equal(duck_appender_close(NULL, &err), 0);

    assert_int_equal(count(f, "SELECT count(*) FROM a"), n);
    assert_int_equal(count(f, "SELECT sum(i) FROM a"), n * (n - 1) / 2);
    assert_int_equal(count(f, "SELECT count(*) FROM a WHERE b"), n / 2);
    assert_int_equal(count(f, "SELECT count(z) FROM a"), 0);
    assert_int_equal(count(f, "SELECT count(*) FROM a WHERE s = 'row ' || i AND d * 2 = i"), n);

    /* Unknown table; then a bad value: the first failure sticks until close. */
    assert_int_equal(duck_appender_open(f->c, "nope", &a, &err), FMD_EINVAL);
    assert_null(a);
    assert_non_null(strstr(err.msg, "nope"));
    assert_int_equal(duck_appender_open(f->c, "a", &a, &err), 0);
    assert_int_equal(duck_append_text(a, "not a number", 12), FMD_EINVAL);
    assert_int_equal(duck_append_text(a, "x", 1), FMD_EINVAL);
    assert_int_equal(duck_appender_end_row(a, &err), FMD_EINVAL);
    assert_non_null(strstr(err.msg, "Could not convert string 'not a number' to INT64"));
    assert_int_equal(duck_appender_close(a, &err), FMD_EINVAL);
    assert_int_equal(count(f, "SELECT count(*) FROM a"), n);
    /* Invalid UTF-8 is refused when the rows reach the table. */
    assert_int_equal(duck_exec(f->c, "CREATE TABLE u8 (s VARCHAR)", &err), 0);
    assert_int_equal(duck_appender_open(f->c, "u8", &a, &err), 0);
    assert_int_equal(duck_append_text(a, "\xff\xfe", 2), 0);
    assert_int_equal(duck_appender_end_row(a, &err), 0);
    assert_int_equal(duck_appender_close(a, &err), FMD_EINVAL);
    assert_non_null(strstr(err.msg, "Invalid unicode"));
    assert_int_equal(count(f, "SELECT count(*) FROM u8"), 0);
}

/* ---- query_json ---------------------------------------------------------- */

static void query_json_types(void **state)
{
    struct fixture *f = *state;
    char *s;

    expect_rows(f, "SELECT 42, -7::TINYINT, 9007199254740993::BIGINT, "
                   "18446744073709551615::UBIGINT, 9223372036854775807::UBIGINT, "
                   "(2::HUGEINT ** 70)::HUGEINT, -170141183460469231731687303715884105727::HUGEINT - 1, "
                   "-5::HUGEINT",
                "[[42,-7,9007199254740993,\"18446744073709551615\",9223372036854775807,"
                "\"1180591620717411303424\",\"-170141183460469231731687303715884105728\",-5]]");
    expect_rows(f, "SELECT 1.5::DOUBLE, 0.25::FLOAT, 'nan'::DOUBLE, 'inf'::DOUBLE, "
                   "12.25::DECIMAL(10,2), -3.5::DECIMAL(4,1), 1.5::DECIMAL(30,3), 7::DECIMAL(18,0)",
                "[[1.5,0.25,null,null,12.25,-3.5,1.5,7.0]]");
    expect_rows(f, "SELECT true, false, NULL, NULL::INTEGER, 'héllo \"q\" ''s' || chr(10), ''",
                "[[true,false,null,null,\"héllo \\\"q\\\" 's\\n\",\"\"]]");
    expect_rows(f, "SELECT DATE '2024-02-29', DATE '0044-03-15', 'infinity'::DATE, "
                   "TIME '13:45:06', TIME '01:02:03.5', "
                   "TIMESTAMP '2024-02-29 13:45:06.123456', TIMESTAMP '1969-12-31 23:59:59', "
                   "TIMESTAMPTZ '2024-02-29 13:45:06+02', TIMESTAMP_MS '2024-01-02 03:04:05.678', "
                   "TIMESTAMP_S '2024-01-02 03:04:05', TIMESTAMP_NS '2024-01-02 03:04:05.123456789', "
                   "INTERVAL '1 year 2 months 3 days 04:05:06.5', INTERVAL '0 seconds', "
                   "INTERVAL '-1 day'",
                "[[\"2024-02-29\",\"0044-03-15\",\"infinity\",\"13:45:06\",\"01:02:03.500\","
                "\"2024-02-29T13:45:06.123456\",\"1969-12-31T23:59:59\","
                "\"2024-02-29T11:45:06Z\",\"2024-01-02T03:04:05.678\","
                "\"2024-01-02T03:04:05\",\"2024-01-02T03:04:05.123456\","
                "\"P1Y2M3DT4H5M6.500000S\",\"PT0S\",\"P-1D\"]]");
    expect_rows(f, "SELECT [1, 2, NULL], [], [['a'], ['b', 'c']], {'a': 1, 'b': 'x', 'c': [true]}, "
                   "MAP {'k': 1, 'l': 2}, [1, 2, 3]::INTEGER[3], "
                   "'{\"k\": [1, 2.5, null]}'::JSON, "
                   "'6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID, '\\xAA\\x00ab\\x5C'::BLOB, "
                   "union_value(n := 3)::UNION(s VARCHAR, n INTEGER), "
                   "[{'x': NULL}]",
                "[[[1,2,null],[],[[\"a\"],[\"b\",\"c\"]],{\"a\":1,\"b\":\"x\",\"c\":[true]},"
                "[{\"key\":\"k\",\"value\":1},{\"key\":\"l\",\"value\":2}],[1,2,3],"
                "{\"k\":[1,2.5,null]},"
                "\"6ba7b810-9dad-11d1-80b4-00c04fd430c8\",\"\\\\xAA\\\\x00ab\\\\x5C\","
                "3,[{\"x\":null}]]]");
    /* ENUM, and a constant vector read past its first row. */
    assert_int_equal(duck_exec(f->c, "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')", NULL), 0);
    expect_rows(f, "SELECT 'happy'::mood, NULL::mood", "[[\"happy\",null]]");
    assert_int_equal(count(f, "SELECT 1"), 1);
    s = query(f, "SELECT 7 AS seven, 'x' AS x FROM range(3000) LIMIT 1 OFFSET 2999", 10);
    assert_string_equal(s, "{\"columns\":[{\"name\":\"seven\",\"type\":\"INTEGER\"},"
                           "{\"name\":\"x\",\"type\":\"VARCHAR\"}],\"rows\":[[7,\"x\"]],"
                           "\"truncated\":false}");
    fmd_free(s);
    s = query(f, "SELECT 1.5::DECIMAL(10,2) AS d, [1]::BIGINT[] AS l, {'a': 1} AS s, "
                 "MAP {'k': 1.5} AS m, '{}'::JSON AS j, TIMESTAMPTZ '2024-01-01' AS tz, "
                 "[1,2]::INTEGER[2] AS a, 3::UHUGEINT AS u, NULL AS n", 10);
    assert_string_equal(s, "{\"columns\":[{\"name\":\"d\",\"type\":\"DECIMAL(10,2)\"},"
                           "{\"name\":\"l\",\"type\":\"BIGINT[]\"},"
                           "{\"name\":\"s\",\"type\":\"STRUCT(a INTEGER)\"},"
                           "{\"name\":\"m\",\"type\":\"MAP(VARCHAR, DECIMAL(2,1))\"},"
                           "{\"name\":\"j\",\"type\":\"JSON\"},"
                           "{\"name\":\"tz\",\"type\":\"TIMESTAMP WITH TIME ZONE\"},"
                           "{\"name\":\"a\",\"type\":\"INTEGER[2]\"},"
                           "{\"name\":\"u\",\"type\":\"UHUGEINT\"},"
                           "{\"name\":\"n\",\"type\":\"INTEGER\"}],"
                           "\"rows\":[[1.5,[1],{\"a\":1},[{\"key\":\"k\",\"value\":1.5}],{},"
                           "\"2024-01-01T00:00:00Z\",[1,2],3,null]],\"truncated\":false}");
    fmd_free(s);
}

static void query_json_unsupported_and_bad_input(void **state)
{
    struct fixture *f = *state;
    struct duck_limits lim = { .max_rows = 10, .timeout_ms = 1000 };
    struct fmd_err err = { 0 };
    json_t *out = (json_t *)1;

    assert_int_equal(duck_query_json(f->c, "SELECT '101'::BIT", &lim, &out, &err), FMD_EINVAL);
    assert_null(out);
    assert_string_equal(err.msg, "type BIT cannot be returned as json, cast it to VARCHAR");
    assert_int_equal(duck_query_json(f->c, NULL, &lim, &out, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "missing sql");
    assert_int_equal(duck_query_json(f->c, "SELECT 1", NULL, &out, &err), FMD_EINVAL);
    assert_int_equal(duck_query_json(f->c, "SELEC 1", &lim, &out, &err), FMD_EINVAL);
    assert_non_null(strstr(err.msg, "Parser Error: syntax error at or near \"SELEC\""));
    assert_int_equal(duck_query_json(f->c, "", &lim, &out, &err), FMD_EINVAL);
    assert_int_equal(duck_query_json(f->c, "  -- nothing\n ;", &lim, &out, &err), FMD_EINVAL);
    assert_int_equal(duck_query_json(f->c, "SELECT * FROM missing", &lim, &out, &err), FMD_EINVAL);
    assert_non_null(strstr(err.msg, "Catalog Error"));
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(duck_query_json(f->c, "SELECT 1; SELECT 2", &lim, &out, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "only a single statement is allowed, got 2 statements");
    /* A run-time error while streaming. */
    assert_int_equal(duck_query_json(f->c, "SELECT CASE WHEN range < 5000 THEN 1 "
                                           "ELSE error('boom') END FROM range(10000)",
                                     &lim, &out, &err), FMD_EINVAL);
    assert_non_null(strstr(err.msg, "boom"));
    assert_int_equal(duck_query_json(f->c, "SELECT 'abc'::INTEGER", &lim, &out, &err), FMD_EINVAL);
    assert_non_null(strstr(err.msg, "Conversion Error"));
    assert_int_equal(duck_exec(f->c, NULL, &err), FMD_EINVAL);
    assert_int_equal(duck_exec(f->c, "CREATE TABLE", &err), FMD_EINVAL);
    assert_null(out);
}

static void query_json_row_limit(void **state)
{
    struct fixture *f = *state;
    struct duck_limits lim = { .max_rows = 10, .timeout_ms = 10000 };
    struct fmd_err err = { 0 };
    json_t *out;
    size_t i;
    static const struct {
        const char *sql;
        size_t max, rows;
        int truncated;
    } cases[] = {
        { "SELECT range FROM range(100000)", 10, 10, 1 },
        { "SELECT range FROM range(100000)", 0, 0, 1 },
        { "SELECT range FROM range(2048)", 2048, 2048, 0 },
        { "SELECT range FROM range(2049)", 2048, 2048, 1 },
        { "SELECT range FROM range(5000)", 4999, 4999, 1 },
        { "SELECT range FROM range(5000)", 5000, 5000, 0 },
        { "SELECT range FROM range(0)", 0, 0, 0 },
        /* A billion rows: cut after the first chunks, never materialised. */
        { "SELECT range, range * 2 FROM range(1000000000)", 3, 3, 1 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lim.max_rows = cases[i].max;
        if (duck_query_json(f->c, cases[i].sql, &lim, &out, &err))
            fail_msg("%s: %s", cases[i].sql, err.msg);
        assert_int_equal(json_array_size(json_object_get(out, "rows")), cases[i].rows);
        assert_int_equal(json_is_true(json_object_get(out, "truncated")), cases[i].truncated);
        if (cases[i].rows)
            assert_int_equal(json_integer_value(json_array_get(json_array_get(
                                 json_object_get(out, "rows"), cases[i].rows - 1), 0)),
                             cases[i].rows - 1);
        json_decref(out);
    }
}

static void query_json_time_limit(void **state)
{
    struct fixture *f = *state;
    struct duck_limits lim = { .max_rows = 10, .timeout_ms = 200 };
    struct fmd_err err = { 0 };
    struct timespec t0;
    json_t *out;
    double ms;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(duck_query_json(f->c, "SELECT count(*) FROM range(10000000000)", &lim, &out,
                                     &err), FMD_ETIMEOUT);
    ms = elapsed_ms(&t0);
    assert_string_equal(err.msg, "query took longer than 200 ms");
    assert_true(ms >= 190 && ms < 3000);   /* the whole query takes ~15 s */
    /* Also while rows are being fetched. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lim.max_rows = 100000000;
    lim.timeout_ms = 100;
    assert_int_equal(duck_query_json(f->c, "SELECT range FROM range(10000000000)", &lim, &out,
                                     &err), FMD_ETIMEOUT);
    assert_true(elapsed_ms(&t0) < 3000);
    /* The connection is fine afterwards, and a quick query beats its limit. */
    lim.timeout_ms = 5000;
    assert_int_equal(duck_query_json(f->c, "SELECT 1", &lim, &out, &err), 0);
    json_decref(out);
    assert_int_equal(count(f, "SELECT 41 + 1"), 42);
}

/* ---- read-only check and lock-down ---------------------------------------- */

static void read_only_check(void **state)
{
    struct fixture *f = *state;
    struct fmd_err err = { 0 };
    size_t i;
    static const char *const ok[] = {
        "SELECT 1",
        "select * from t where a > 1;",
        "FROM t",
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
        "VALUES (1), (2)",
        "SELECT * FROM t UNION ALL SELECT * FROM t",
        "DESCRIBE t",
        "SUMMARIZE t",
    };
    static const struct {
        const char *sql, *msg;
    } bad[] = {
        { "COPY t TO 'x.csv'", "only a single SELECT is allowed, got COPY" },
        { "ATTACH ':memory:' AS m", "only a single SELECT is allowed, got ATTACH" },
        { "DETACH m", "only a single SELECT is allowed, got DETACH" },
        { "INSTALL httpfs", "only a single SELECT is allowed, got LOAD" },
        { "LOAD httpfs", "only a single SELECT is allowed, got LOAD" },
        { "SET threads = 4", "only a single SELECT is allowed, got SET" },
        { "RESET threads", "only a single SELECT is allowed, got SET" },
        { "PRAGMA enable_profiling", "only a single SELECT is allowed, got PRAGMA" },
        { "SELECT 1; SELECT 2", "only a single SELECT is allowed, got 2 statements" },
        { "CREATE TABLE u (a INT)", "only a single SELECT is allowed, got CREATE" },
        { "CREATE MACRO m(x) AS x + 1", "only a single SELECT is allowed, got CREATE" },
        { "INSERT INTO t VALUES (1)", "only a single SELECT is allowed, got INSERT" },
        { "UPDATE t SET a = 2", "only a single SELECT is allowed, got UPDATE" },
        { "DELETE FROM t", "only a single SELECT is allowed, got DELETE" },
        { "DROP TABLE t", "only a single SELECT is allowed, got DROP" },
        { "EXPLAIN SELECT 1", "only a single SELECT is allowed, got EXPLAIN" },
        { "EXPLAIN ANALYZE COPY t TO 'x.csv'", "only a single SELECT is allowed, got EXPLAIN" },
        { "CALL pragma_version()", "only a single SELECT is allowed, got CALL" },
        { "BEGIN", "only a single SELECT is allowed, got a transaction statement" },
        { "EXPORT DATABASE 'x'", "only a single SELECT is allowed, got EXPORT" },
        { "CHECKPOINT", "only a single SELECT is allowed, got CALL" },
        { "VACUUM", "only a single SELECT is allowed, got VACUUM" },
    };
    char path[512];

    assert_int_equal(duck_exec(f->c, "CREATE TABLE t (a INTEGER)", &err), 0);
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (duck_check_read_only(f->c, ok[i], &err))
            fail_msg("%s: %s", ok[i], err.msg);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        if (duck_check_read_only(f->c, bad[i].sql, &err) != FMD_EINVAL)
            fail_msg("%s: accepted or wrong code (%d %s)", bad[i].sql, err.code, err.msg);
        if (strcmp(err.msg, bad[i].msg))
            fail_msg("%s: \"%s\" != \"%s\"", bad[i].sql, err.msg, bad[i].msg);
    }
    assert_int_equal(duck_check_read_only(f->c, NULL, &err), FMD_EINVAL);
    assert_int_equal(duck_check_read_only(f->c, "", &err), FMD_EINVAL);
    assert_int_equal(duck_check_read_only(f->c, "SELEC 1", &err), FMD_EINVAL);
    assert_non_null(strstr(err.msg, "Parser Error"));
    /* Checking runs nothing. */
    snprintf(path, sizeof(path), "COPY t TO '%s/x.csv'", f->exports);
    assert_int_equal(duck_check_read_only(f->c, path, &err), FMD_EINVAL);
    snprintf(path, sizeof(path), "%s/x.csv", f->exports);
    assert_int_equal(access(path, F_OK), -1);
}

static void external_access_is_off(void **state)
{
    struct fixture *f = *state;
    struct duck_limits lim = { .max_rows = 10, .timeout_ms = 5000 };
    struct fmd_err err = { 0 };
    json_t *out;
    char sql[512], path[512];
    size_t i;
    static const char *const reads[] = {
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM read_parquet('/etc/x.parquet')",
        "SELECT * FROM read_json('/etc/x.json')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM read_csv('https://example.com/x.csv')",
    };

    for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        if (duck_query_json(f->c, reads[i], &lim, &out, &err) != FMD_EFORBIDDEN)
            fail_msg("%s: not refused (%s)", reads[i], err.msg);
        assert_non_null(strstr(err.msg, "Permission Error"));
    }
    assert_int_equal(duck_exec(f->c, "CREATE TABLE t AS SELECT range AS i FROM range(10)", &err),
                     0);
    /* COPY inside the exports dir works; reading it back too. */
    snprintf(sql, sizeof(sql), "COPY t TO '%s/t.csv'", f->exports);
    if (duck_exec(f->c, sql, &err))
        fail_msg("%s: %s", sql, err.msg);
    snprintf(sql, sizeof(sql), "COPY t TO '%s/t.parquet' (FORMAT parquet)", f->exports);
    if (duck_exec(f->c, sql, &err))
        fail_msg("%s: %s", sql, err.msg);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM read_parquet('%s/t.parquet')", f->exports);
    assert_int_equal(count(f, sql), 10);
    snprintf(path, sizeof(path), "%s/t.csv", f->exports);
    assert_int_equal(access(path, F_OK), 0);
    /* Outside it, through "..", or a sibling sharing the prefix: refused. */
    snprintf(sql, sizeof(sql), "COPY t TO '%s/t.csv'", f->dir);
    assert_int_equal(duck_exec(f->c, sql, &err), FMD_EFORBIDDEN);
    snprintf(sql, sizeof(sql), "COPY t TO '%s/../u.csv'", f->exports);
    assert_int_equal(duck_exec(f->c, sql, &err), FMD_EFORBIDDEN);
    snprintf(sql, sizeof(sql), "COPY t TO '%s2/t.csv'", f->exports);
    assert_int_equal(duck_exec(f->c, sql, &err), FMD_EFORBIDDEN);
    snprintf(path, sizeof(path), "%s/t.csv", f->dir);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(sql, sizeof(sql), "ATTACH '%s/other.duckdb' AS o", f->dir);
    assert_int_equal(duck_exec(f->c, sql, &err), FMD_EFORBIDDEN);
    assert_int_equal(duck_exec(f->c, "INSTALL httpfs", &err), FMD_EFORBIDDEN);
    assert_int_equal(duck_exec(f->c, "LOAD httpfs", &err), FMD_EFORBIDDEN);
    /* Settings are locked, on every connection. */
    assert_int_equal(duck_exec(f->c, "SET enable_external_access = true", &err), FMD_EINVAL);
    assert_non_null(strstr(err.msg, "the configuration has been locked"));
    assert_int_equal(duck_exec(f->c, "SET allowed_directories = ['/']", &err), FMD_EINVAL);
    assert_int_equal(duck_exec(f->c, "SET threads = 8", &err), FMD_EINVAL);
    assert_int_equal(duck_exec(f->c, "SET autoinstall_known_extensions = true", &err), FMD_EINVAL);
    assert_int_equal(duck_exec(f->c, "SET lock_configuration = false", &err), FMD_EINVAL);
}

static void connections_per_thread_share_data(void **state)
{
    struct fixture *f = *state;
    struct duck_conn *c2;
    struct fmd_err err = { 0 };

    assert_int_equal(duck_connect(f->db, &c2, &err), 0);
    assert_int_equal(duck_exec(c2, "CREATE TABLE s AS SELECT 5 AS v", &err), 0);
    assert_int_equal(duck_exec(c2, "SET threads = 3", &err), FMD_EINVAL);
    duck_disconnect(c2);
    assert_int_equal(count(f, "SELECT v FROM s"), 5);
}

/* Fail allocation N for N = 1.. until the query succeeds: no crash, no leak. */
static void query_json_survives_allocation_failure(void **state)
{
    struct fixture *f = *state;
    struct duck_limits lim = { .max_rows = 100, .timeout_ms = 10000 };
    long n;
    static const char sql[] =
        "SELECT range AS i, 'r' || range AS s, [range, NULL] AS l, {'a': range} AS st, "
        "MAP {'k': range} AS m, '{\"x\": 1}'::JSON AS j, '\\x01'::BLOB AS b "
        "FROM range(50)";

    for (n = 1;; n++) {
        struct fmd_err err = { 0 };
        json_t *out = NULL;
        int rc;
        fmd_mem_fail_at(n);
        rc = duck_query_json(f->c, sql, &lim, &out, &err);
        fmd_mem_fail_at(0);
        if (!rc) {
            assert_int_equal(json_array_size(json_object_get(out, "rows")), 50);
            json_decref(out);
            break;
        }
        assert_int_equal(rc, FMD_ENOMEM);
        assert_null(out);
    }
    assert_true(n > 100);
}

static void open_and_appender_survive_allocation_failure(void **state)
{
    struct fixture *f = *state;
    const char *dirs[] = { f->exports, NULL };
    struct duck_options opt = { .allowed_dirs = dirs };
    char path[512];
    long n;

    snprintf(path, sizeof(path), "%s/faults.duckdb", f->dir);
    assert_int_equal(duck_exec(f->c, "CREATE TABLE ft (a BIGINT)", NULL), 0);
    for (n = 1;; n++) {
        struct fmd_err err = { 0 };
        struct duck *db = NULL;
        struct duck_appender *a = NULL;
        int rc;
        fmd_mem_fail_at(n);
        rc = duck_open(path, &opt, &db, &err);
        if (!rc) {
            duck_close(db);
            db = NULL;
            rc = duck_appender_open(f->c, "ft", &a, &err);
        }
        if (!rc)
            rc = duck_append_int64(a, n);
        if (!rc)
            rc = duck_appender_end_row(a, &err);
        if (!rc)
            rc = duck_appender_close(a, &err);
        fmd_mem_fail_at(0);
        if (!rc)
            break;
        assert_int_equal(rc, FMD_ENOMEM);
        assert_null(db);
    }
    assert_true(n > 2);
    assert_int_equal(count(f, "SELECT count(*) FROM ft"), 1);
}

/* ---- cursors and step-by-step runs --------------------------------------- */

static void cursor_streams_chunks(void **state)
{
    struct fixture *f = *state;
    struct duck_prepared *p;
    struct duck_cursor *cur;
    struct fmd_err err = { 0 };
    duckdb_data_chunk ch;
    duckdb_logical_type lt;
    int64_t rows = 0, sum = 0, chunks = 0;
    idx_t i, n;

    assert_int_equal(duck_prepare(f->c, "SELECT i, 'x' || i AS s FROM range($1) r(i)", &p,
                                  &err), 0);
    assert_int_equal(duck_bind_int64(p, 1, 5000), 0);
    assert_int_equal(duck_cursor_open(p, &cur, &err), 0);
    assert_int_equal(duck_cursor_columns(cur), 2);
    assert_string_equal(duck_cursor_column_name(cur, 0), "i");
    assert_string_equal(duck_cursor_column_name(cur, 1), "s");
    lt = duck_cursor_column_type(cur, 0);
    assert_int_equal(duckdb_get_type_id(lt), DUCKDB_TYPE_BIGINT);
    duckdb_destroy_logical_type(&lt);
    while (!duck_cursor_fetch(cur, &ch, &err) && ch) {
        int64_t *v = duckdb_vector_get_data(duckdb_data_chunk_get_vector(ch, 0));
        n = duckdb_data_chunk_get_size(ch);
        assert_true(n <= 2048);
        for (i = 0; i < n; i++)
            sum += v[i];
        rows += (int64_t)n;
        chunks++;
        duckdb_destroy_data_chunk(&ch);
    }
    assert_int_equal(rows, 5000);
    assert_int_equal(sum, 4999 * 5000 / 2);
    assert_true(chunks >= 3);
    duck_cursor_close(cur);
    duck_cursor_close(NULL);

    /* A failure while running comes from open or, once rows flow, from fetch. */
    assert_int_equal(duck_bind_int64(p, 1, 5000), 0);
    duck_prepared_free(p);
    assert_int_equal(duck_prepare(f->c, "SELECT CAST(CASE WHEN i = 100000 THEN 'x' ELSE "
                                        "i::VARCHAR END AS INTEGER) FROM range(200000) r(i)",
                                  &p, &err), 0);
    {
        int rc = duck_cursor_open(p, &cur, &err);
        while (!rc && !(rc = duck_cursor_fetch(cur, &ch, &err)) && ch)
            duckdb_destroy_data_chunk(&ch);
        assert_int_equal(rc, FMD_EINVAL);
        assert_non_null(strstr(err.msg, "Conversion Error"));
    }
    duck_cursor_close(cur);
    duck_prepared_free(p);
    assert_int_equal(count(f, "SELECT 7"), 7);
}

static int stop_at;   /* prepared_run's check: stop from this call on; 0: never */
static int checks;

static int check_stop(void *arg)
{
    checks++;
    return stop_at && checks >= stop_at ? FMD_EGONE : 0;
}

static void prepared_run_and_stop(void **state)
{
    struct fixture *f = *state;
    struct duck_prepared *p;
    struct fmd_err err = { 0 };
    char sql[512], file[256];
    int64_t changed = 0;

    snprintf(file, sizeof(file), "%s/run.parquet", f->exports);
    snprintf(sql, sizeof(sql), "COPY (SELECT i FROM range($1) r(i)) TO '%s' (FORMAT parquet)",
             file);
    assert_int_equal(duck_prepare(f->c, sql, &p, &err), 0);
    assert_int_equal(duck_bind_int64(p, 1, 12345), 0);
    checks = stop_at = 0;
    assert_int_equal(duck_prepared_run(p, check_stop, NULL, &changed, &err), 0);
    assert_int_equal(changed, 12345);
    assert_true(checks >= 1);   /* once before it starts */
    assert_int_equal(duck_prepared_run(p, NULL, NULL, NULL, &err), 0);

    /* Stopped: the check's code, then the connection works as before. */
    checks = 0;
    stop_at = 1;
    assert_int_equal(duck_prepared_run(p, check_stop, NULL, &changed, &err), FMD_EGONE);
    assert_string_equal(err.msg, "query stopped");
    assert_int_equal(count(f, "SELECT 8"), 8);
    duck_prepared_free(p);

    /* Errors as duck_prepared_exec. */
    assert_int_equal(duck_prepare(f->c, "SELECT CAST('x' || $1 AS INTEGER)", &p, &err), 0);
    assert_int_equal(duck_bind_int64(p, 1, 1), 0);
    assert_int_equal(duck_prepared_run(p, NULL, NULL, NULL, &err), FMD_EINVAL);
    duck_prepared_free(p);
    snprintf(sql, sizeof(sql), "COPY (SELECT 1) TO '%s/outside.csv'", f->dir);
    if (!duck_prepare(f->c, sql, &p, &err)) {
        assert_int_equal(duck_prepared_run(p, NULL, NULL, NULL, &err), FMD_EFORBIDDEN);
        duck_prepared_free(p);
    } else {
        assert_int_equal(err.code ? err.code : FMD_EFORBIDDEN, FMD_EFORBIDDEN);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(open_creates_file_and_checks_options, setup, teardown),
        cmocka_unit_test_setup_teardown(exec_and_prepared_statements, setup, teardown),
        cmocka_unit_test_setup_teardown(appender_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(query_json_types, setup, teardown),
        cmocka_unit_test_setup_teardown(query_json_unsupported_and_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(query_json_row_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(query_json_time_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(read_only_check, setup, teardown),
        cmocka_unit_test_setup_teardown(external_access_is_off, setup, teardown),
        cmocka_unit_test_setup_teardown(connections_per_thread_share_data, setup, teardown),
        cmocka_unit_test_setup_teardown(query_json_survives_allocation_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(open_and_appender_survive_allocation_failure, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cursor_streams_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(prepared_run_and_stop, setup, teardown),
    };
    /* As main does: Jansson allocates through fmd_malloc, so faults reach it. */
    json_set_alloc_funcs(fmd_malloc, fmd_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
