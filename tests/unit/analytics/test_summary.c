/*
 * test_summary.c - unit tests for src/analytics/summary.c: exact statistics of
 * every kind over hand-made rows, each filter, bad filters, unknown and empty
 * forms, a hostile column name, caps on values and months, a table that does
 * not match form_columns, allocation failure, and the time to summarise a
 * generated 1,000,000-row table (skipped when FORMD_TEST_SMALL is set).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analytics/duck.h"
#include "analytics/layout.h"
#include "analytics/summary.h"
#include "core/json.h"
#include "core/mem.h"

#define FORM "01KB0000000000000000000001"
#define EMPTY "01KB0000000000000000000002"
#define CAPS "01KB0000000000000000000003"
#define BARE "01KB0000000000000000000004"
#define BIG "01KB0000000000000000000005"

struct fixture {
    char dir[64];
    char db_path[128];
    struct duck *db;
    struct duck_conn *c;
};

static void exec(struct fixture *f, const char *sql)
{
    struct fmd_err err = {0};
    if (duck_exec(f->c, sql, &err))
        fail_msg("%s: %s", sql, err.msg);
}

/*
 * The hand-made form: one column of every kind, and one whose sql_name a"b
 * needs quoting. Five live rows and one deleted (s6), spread over UTC days
 * with edges: s2 is the last millisecond of 2026-11-01.
 */
static void make_form(struct fixture *f)
{
    exec(f, "INSERT INTO form_columns VALUES "
            "('" FORM "', 0, 'colour', 'colour', 'choice', 'VARCHAR', "
            " '[\"red\",\"green\",\"blue\"]'),"
            "('" FORM "', 1, 'tags', 'tags', 'multichoice', 'VARCHAR[]', '[\"a\",\"b\",\"c\"]'),"
            "('" FORM "', 2, 'score', 'score', 'number', 'DOUBLE', NULL),"
            "('" FORM "', 3, 'age', 'age', 'integer', 'BIGINT', NULL),"
            "('" FORM "', 4, 'comment', 'comment', 'text', 'VARCHAR', NULL),"
            "('" FORM "', 5, 'born', 'born', 'date', 'DATE', NULL),"
            "('" FORM "', 6, 'seen', 'seen', 'datetime', 'TIMESTAMPTZ', NULL),"
            "('" FORM "', 7, 'at', 'at', 'time', 'TIME', NULL),"
            "('" FORM "', 8, 'ok', 'ok', 'boolean', 'BOOLEAN', NULL),"
            "('" FORM "', 9, 'extra', 'extra', 'json', 'JSON', NULL),"
            "('" FORM "', 10, 'we\"ird', 'a\"b', 'integer', 'BIGINT', NULL)");
    exec(f, "CREATE TABLE \"f_" FORM "\" (" LAYOUT_META_DDL ", colour VARCHAR, tags VARCHAR[], "
            "score DOUBLE, age BIGINT, comment VARCHAR, born DATE, seen TIMESTAMPTZ, \"at\" TIME, "
            "ok BOOLEAN, extra JSON, \"a\"\"b\" BIGINT)");
    exec(f, "INSERT INTO \"f_" FORM "\" VALUES "
            "('s1', 1, 'new', '2026-11-01 10:00:00+00', '2026-11-01 10:00:00+00', NULL, "
            " 'red', ['a', 'b'], 1.5, 10, 'héllo', '2000-01-15', '2026-11-01 23:30:00+00', "
            " '08:00:00', true, '{\"k\": 1}', 7),"
            "('s2', 1, 'approved', '2026-11-01 23:59:59.999+00', '2026-11-02 00:00:00+00', NULL, "
            " 'red', ['a'], 2.5, 20, 'héllo', '2000-02-01', '2026-10-31 12:00:00+00', "
            " '09:30:00', false, NULL, 8),"
            "('s3', 2, 'rejected', '2026-11-02 00:00:00+00', '2026-11-02 00:00:00+00', NULL, "
            " 'green', ['b', 'c', 'b'], NULL, 30, '日本', NULL, NULL, NULL, true, '[1]', NULL),"
            "('s4', 2, 'new', '2026-11-03 12:00:00+00', '2026-11-03 12:00:00+00', NULL, "
            " 'purple', [], 4.0, 40, 'x', '1999-12-31', '2026-11-02 00:00:00+00', "
            " '23:59:59', NULL, NULL, 9),"
            "('s5', 2, 'new', '2026-11-05 00:00:00+00', '2026-11-05 00:00:00+00', NULL, "
            " NULL, NULL, 10.0, 50, NULL, NULL, NULL, NULL, NULL, NULL, NULL),"
            "('s6', 1, 'approved', '2026-11-04 00:00:00+00', '2026-11-06 00:00:00+00', "
            " '2026-11-06 00:00:00+00', 'blue', ['c'], 100.0, 100, 'gone', '2010-05-05', "
            " '2020-01-01 00:00:00+00', '12:00:00', false, '2', 1)");
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct duck_options opt = {.memory_limit = "1GB"};
    struct fmd_err err = {0};

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_summary.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db_path, sizeof(f->db_path), "%s/analytics.duckdb", f->dir);
    if (duck_open(f->db_path, &opt, &f->db, &err))
        fail_msg("duck_open: %s", err.msg);
    assert_int_equal(duck_connect(f->db, &f->c, &err), 0);
    exec(f, LAYOUT_DDL);
    make_form(f);
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

/* ---- helpers -------------------------------------------------------------- */

static json_t *summarise(struct fixture *f, const char *id, const struct summary_filter *flt)
{
    struct fmd_err err = {0};
    json_t *out = NULL;
    if (summary_form(f->c, id, flt, &out, &err))
        fail_msg("summary_form %s: %s", id, err.msg);
    assert_non_null(out);
    return out;
}

/* The member at a '/'-separated path ("fields/0/values/1/count"); fails if absent. */
static json_t *at(json_t *root, const char *path)
{
    char seg[128];
    const char *p = path, *e;
    json_t *v = root;
    size_t n;

    while (*p) {
        e = strchr(p, '/');
        n = e ? (size_t)(e - p) : strlen(p);
        assert_true(n < sizeof(seg));
        memcpy(seg, p, n);
        seg[n] = 0;
        v = json_is_array(v) ? json_array_get(v, strtoul(seg, NULL, 10)) : json_object_get(v, seg);
        if (!v)
            fail_msg("no '%s' (at '%s')", path, seg);
        p = e ? e + 1 : p + n;
    }
    return v;
}

/* The value at path equals the JSON text want (reals within 1e-9). */
static bool near(const json_t *a, const json_t *b)
{
    size_t i;
    const char *k;
    json_t *v;

    if (json_is_number(a) && json_is_number(b) && (json_is_real(a) || json_is_real(b)))
        return json_is_real(a) == json_is_real(b) &&
               fabs(json_number_value(a) - json_number_value(b)) < 1e-9;
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (i = 0; i < json_array_size(a); i++)
            if (!near(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_foreach((json_t *)a, k, v) {
            if (!json_object_get(b, k) || !near(v, json_object_get(b, k)))
                return false;
        }
        return true;
    }
    return json_equal(a, b);
}

static void expect(json_t *root, const char *path, const char *want)
{
    json_error_t e;
    json_t *w = json_loads(want, JSON_DECODE_ANY, &e);
    json_t *got = at(root, path);

    if (!w)
        fail_msg("test JSON does not parse: %s: %s", e.text, want);
    if (!near(got, w)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        fail_msg("%s:\n  got  %s\n  want %s", path, g, want);
    }
    json_decref(w);
}

/* Also checks member order for the top level: the documented shape. */
static void expect_keys(json_t *obj, const char *want)
{
    char got[512] = "";
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (*got)
            strncat(got, ",", sizeof(got) - strlen(got) - 1);
        strncat(got, k, sizeof(got) - strlen(got) - 1);
    }
    assert_string_equal(got, want);
}

/* ---- exact statistics ----------------------------------------------------- */

static void every_kind_exactly(void **state)
{
    struct fixture *f = *state;
    json_t *s = summarise(f, FORM, NULL);

    expect_keys(s, "form_id,total,deleted_excluded,first_at,last_at,per_day,statuses,versions,"
                   "fields");
    expect(s, "form_id", "\"" FORM "\"");
    expect(s, "total", "5");
    expect(s, "deleted_excluded", "1");
    expect(s, "first_at", "\"2026-11-01T10:00:00Z\"");
    expect(s, "last_at", "\"2026-11-05T00:00:00Z\"");
    /* s2 at 23:59:59.999 UTC still counts for 2026-11-01. */
    expect(s, "per_day", "[{\"day\":\"2026-11-01\",\"count\":2},"
                         "{\"day\":\"2026-11-02\",\"count\":1},"
                         "{\"day\":\"2026-11-03\",\"count\":1},"
                         "{\"day\":\"2026-11-05\",\"count\":1}]");
    expect(s, "statuses", "{\"new\":3,\"approved\":1,\"rejected\":1,\"needs_changes\":0}");
    expect(s, "versions", "[{\"version\":1,\"count\":2},{\"version\":2,\"count\":3}]");
    assert_int_equal(json_array_size(at(s, "fields")), 11);

    /* choice: declared options in order, blue with none, then purple (not declared). */
    expect(s, "fields/0", "{\"name\":\"colour\",\"kind\":\"choice\",\"count\":4,\"missing\":1,"
                          "\"missing_rate\":0.2,\"values\":["
                          "{\"value\":\"red\",\"count\":2,\"share\":0.5},"
                          "{\"value\":\"green\",\"count\":1,\"share\":0.25},"
                          "{\"value\":\"blue\",\"count\":0,\"share\":0.0},"
                          "{\"value\":\"purple\",\"count\":1,\"share\":0.25}],"
                          "\"other_values\":0,\"other_count\":0}");
    /* multichoice: [] is an answer with no selection; b twice in s3 counts once. */
    expect(s, "fields/1", "{\"name\":\"tags\",\"kind\":\"multichoice\",\"count\":4,\"missing\":1,"
                          "\"missing_rate\":0.2,\"values\":["
                          "{\"value\":\"a\",\"count\":2,\"share\":0.5},"
                          "{\"value\":\"b\",\"count\":2,\"share\":0.5},"
                          "{\"value\":\"c\",\"count\":1,\"share\":0.25}],"
                          "\"other_values\":0,\"other_count\":0,\"selections_mean\":1.25}");
    /* number, an even count: median between 2.5 and 4, p90 interpolated 4 + 0.7 * 6. */
    expect(s, "fields/2", "{\"name\":\"score\",\"kind\":\"number\",\"count\":4,\"missing\":1,"
                          "\"missing_rate\":0.2,\"min\":1.5,\"max\":10.0,\"mean\":4.5,"
                          "\"median\":3.25,\"p90\":8.2,\"stddev\":3.8078865529319543}");
    /* integer, an odd count; min and max stay integers. */
    expect(s, "fields/3", "{\"name\":\"age\",\"kind\":\"integer\",\"count\":5,\"missing\":0,"
                          "\"missing_rate\":0.0,\"min\":10,\"max\":50,\"mean\":30.0,"
                          "\"median\":30.0,\"p90\":46.0,\"stddev\":15.811388300841896}");
    /* text: lengths in characters (héllo is 5, 日本 2), only values seen twice in top. */
    expect(s, "fields/4", "{\"name\":\"comment\",\"kind\":\"text\",\"count\":4,\"missing\":1,"
                          "\"missing_rate\":0.2,\"length\":{\"min\":1,\"max\":5,\"mean\":3.25},"
                          "\"distinct\":3,\"top\":[{\"value\":\"héllo\",\"count\":2}]}");
    expect(s, "fields/5", "{\"name\":\"born\",\"kind\":\"date\",\"count\":3,\"missing\":2,"
                          "\"missing_rate\":0.4,\"min\":\"1999-12-31\",\"max\":\"2000-02-01\","
                          "\"per_month\":[{\"month\":\"1999-12\",\"count\":1},"
                          "{\"month\":\"2000-01\",\"count\":1},"
                          "{\"month\":\"2000-02\",\"count\":1}],"
                          "\"other_months\":0}");
    expect(s, "fields/6", "{\"name\":\"seen\",\"kind\":\"datetime\",\"count\":3,\"missing\":2,"
                          "\"missing_rate\":0.4,\"min\":\"2026-10-31T12:00:00Z\","
                          "\"max\":\"2026-11-02T00:00:00Z\",\"per_month\":["
                          "{\"month\":\"2026-10\",\"count\":1},"
                          "{\"month\":\"2026-11\",\"count\":2}],"
                          "\"other_months\":0}");
    expect(s, "fields/7", "{\"name\":\"at\",\"kind\":\"time\",\"count\":3,\"missing\":2,"
                          "\"missing_rate\":0.4,\"min\":\"08:00:00\",\"max\":\"23:59:59\"}");
    expect(s, "fields/8", "{\"name\":\"ok\",\"kind\":\"boolean\",\"count\":3,\"missing\":2,"
                          "\"missing_rate\":0.4,\"values\":["
                          "{\"value\":true,\"count\":2,\"share\":0.66666666666666663},"
                          "{\"value\":false,\"count\":1,\"share\":0.33333333333333331}],"
                          "\"other_values\":0,\"other_count\":0}");
    expect(s, "fields/9", "{\"name\":\"extra\",\"kind\":\"json\",\"count\":2,\"missing\":3,"
                          "\"missing_rate\":0.6}");
    /* The hostile sql_name a"b is read as one quoted identifier. */
    expect(s, "fields/10", "{\"name\":\"we\\\"ird\",\"kind\":\"integer\",\"count\":3,\"missing\":2,"
                           "\"missing_rate\":0.4,\"min\":7,\"max\":9,\"mean\":8.0,"
                           "\"median\":8.0,\"p90\":8.8,\"stddev\":1.0}");
    json_decref(s);
}

/* ---- filters --------------------------------------------------------------- */

/* Milliseconds since the epoch of a UTC time "YYYY-MM-DD HH:MM:SS" plus ms. */
static int64_t ms_of(const char *t, int ms)
{
    struct tm tm = {0};
    assert_non_null(strptime(t, "%Y-%m-%d %H:%M:%S", &tm));
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static void filter_by_time(void **state)
{
    struct fixture *f = *state;
    struct summary_filter flt = {0};
    json_t *s;

    /* Both ends inclusive, to the millisecond: s2 (23:59:59.999) to s4 (12:00:00.000). */
    flt.from = ms_of("2026-11-01 23:59:59", 999);
    flt.to = ms_of("2026-11-03 12:00:00", 0);
    s = summarise(f, FORM, &flt);
    expect(s, "total", "3");
    expect(s, "first_at", "\"2026-11-01T23:59:59.999Z\"");
    expect(s, "last_at", "\"2026-11-03T12:00:00Z\"");
    expect(s, "per_day", "[{\"day\":\"2026-11-01\",\"count\":1},"
                         "{\"day\":\"2026-11-02\",\"count\":1},"
                         "{\"day\":\"2026-11-03\",\"count\":1}]");
    expect(s, "fields/2/median", "3.25");   /* 2.5, NULL, 4.0 */
    expect(s, "deleted_excluded", "0");     /* s6 is in range only from 2026-11-04 */
    json_decref(s);

    /* One millisecond less at each end. */
    flt.from = ms_of("2026-11-02 00:00:00", 0);
    flt.to = ms_of("2026-11-03 11:59:59", 999);
    s = summarise(f, FORM, &flt);
    expect(s, "total", "1");
    expect(s, "per_day", "[{\"day\":\"2026-11-02\",\"count\":1}]");
    json_decref(s);

    /* Only from, then only to; the deleted row counts where it falls. */
    flt.from = ms_of("2026-11-03 12:00:00", 1);
    flt.to = 0;
    s = summarise(f, FORM, &flt);
    expect(s, "total", "1");
    expect(s, "deleted_excluded", "1");
    json_decref(s);
    flt.from = 0;
    flt.to = ms_of("2026-11-01 10:00:00", 0);
    s = summarise(f, FORM, &flt);
    expect(s, "total", "1");
    expect(s, "fields/0/values/0", "{\"value\":\"red\",\"count\":1,\"share\":1.0}");
    json_decref(s);
}

static void filter_by_version_and_status(void **state)
{
    struct fixture *f = *state;
    struct summary_filter flt = {.version = 1};
    json_t *s = summarise(f, FORM, &flt);

    expect(s, "total", "2");
    expect(s, "deleted_excluded", "1");
    expect(s, "versions", "[{\"version\":1,\"count\":2}]");
    expect(s, "fields/3/median", "15.0");
    json_decref(s);

    flt.version = 2;
    s = summarise(f, FORM, &flt);
    expect(s, "total", "3");
    expect(s, "deleted_excluded", "0");
    expect(s, "fields/3/median", "40.0");
    json_decref(s);

    flt.version = 3;
    s = summarise(f, FORM, &flt);
    expect(s, "total", "0");
    expect(s, "versions", "[]");
    json_decref(s);

    flt.version = 0;
    flt.status = "new";
    s = summarise(f, FORM, &flt);
    expect(s, "total", "3");
    expect(s, "statuses", "{\"new\":3,\"approved\":0,\"rejected\":0,\"needs_changes\":0}");
    expect(s, "fields/0/values", "[{\"value\":\"red\",\"count\":1,\"share\":0.5},"
                                 "{\"value\":\"green\",\"count\":0,\"share\":0.0},"
                                 "{\"value\":\"blue\",\"count\":0,\"share\":0.0},"
                                 "{\"value\":\"purple\",\"count\":1,\"share\":0.5}]");
    json_decref(s);

    flt.status = "approved";
    flt.version = 1;
    s = summarise(f, FORM, &flt);
    expect(s, "total", "1");
    expect(s, "deleted_excluded", "1");
    json_decref(s);
}

static void include_deleted(void **state)
{
    struct fixture *f = *state;
    struct summary_filter flt = {.include_deleted = true};
    json_t *s = summarise(f, FORM, &flt);

    expect(s, "total", "6");
    expect(s, "deleted_excluded", "0");
    expect(s, "last_at", "\"2026-11-05T00:00:00Z\"");
    expect(s, "statuses", "{\"new\":3,\"approved\":2,\"rejected\":1,\"needs_changes\":0}");
    expect(s, "fields/0/values/2", "{\"value\":\"blue\",\"count\":1,\"share\":0.2}");
    expect(s, "fields/3/max", "100");
    expect(s, "fields/6/per_month", "[{\"month\":\"2020-01\",\"count\":1},"
                                    "{\"month\":\"2026-10\",\"count\":1},"
                                    "{\"month\":\"2026-11\",\"count\":2}]");
    json_decref(s);
}

static void bad_filters_and_ids(void **state)
{
    struct fixture *f = *state;
    struct summary_filter flt = {.status = "bogus"};
    struct fmd_err err = {0};
    json_t *s = (json_t *)&err;   /* must be reset to NULL */

    assert_int_equal(summary_form(f->c, FORM, &flt, &s, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "unknown status 'bogus'");
    assert_null(s);
    flt.status = "New";
    assert_int_equal(summary_form(f->c, FORM, &flt, &s, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "unknown status 'New'");
    /* A status that looks like SQL never gets near it. */
    flt.status = "new' OR '1'='1";
    assert_int_equal(summary_form(f->c, FORM, &flt, &s, &err), FMD_EINVAL);

    flt = (struct summary_filter){.from = 2000, .to = 1000};
    assert_int_equal(summary_form(f->c, FORM, &flt, &s, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "'from' is after 'to'");
    flt = (struct summary_filter){.from = -1};
    assert_int_equal(summary_form(f->c, FORM, &flt, &s, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "'from' is out of range");
    flt = (struct summary_filter){.to = INT64_MAX};
    assert_int_equal(summary_form(f->c, FORM, &flt, &s, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "'to' is out of range");
    flt = (struct summary_filter){.timeout_ms = -1};
    assert_int_equal(summary_form(f->c, FORM, &flt, &s, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "invalid time limit '-1'");
    flt = (struct summary_filter){.version = -2};
    assert_int_equal(summary_form(f->c, FORM, &flt, &s, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "invalid version '-2'");

    assert_int_equal(summary_form(f->c, "x'; DROP TABLE form_columns; --", NULL, &s, &err),
                     FMD_EINVAL);
    assert_string_equal(err.msg, "invalid form id 'x'; DROP TABLE form_columns; --'");
    assert_int_equal(summary_form(f->c, "", NULL, &s, &err), FMD_EINVAL);
    assert_int_equal(summary_form(f->c, NULL, NULL, &s, &err), FMD_EINVAL);
    assert_null(s);

    /* The connection is left outside any transaction after a failure too. */
    exec(f, "BEGIN TRANSACTION; ROLLBACK");
}

static void unknown_empty_and_bare_forms(void **state)
{
    struct fixture *f = *state;
    struct fmd_err err = {0};
    json_t *s = NULL;

    assert_int_equal(summary_form(f->c, "01KB00000000000000000000ZZ", NULL, &s, &err),
                     FMD_ENOTFOUND);
    assert_string_equal(err.msg, "no analytics for form '01KB00000000000000000000ZZ' yet");
    assert_null(s);

    /* Columns but no table yet: nothing to summarise either. */
    exec(f, "INSERT INTO form_columns VALUES ('" EMPTY "', 0, 'c', 'c', 'choice', 'VARCHAR', "
            "'[\"x\",\"y\"]'), ('" EMPTY "', 1, 'n', 'n', 'number', 'DOUBLE', NULL), "
            "('" EMPTY "', 2, 't', 't', 'text', 'VARCHAR', NULL), "
            "('" EMPTY "', 3, 'd', 'd', 'datetime', 'TIMESTAMPTZ', NULL), "
            "('" EMPTY "', 4, 'm', 'm', 'multichoice', 'VARCHAR[]', '[\"p\"]')");
    assert_int_equal(summary_form(f->c, EMPTY, NULL, &s, &err), FMD_ENOTFOUND);

    /* A table without rows: zeros, and nulls for every statistic. */
    exec(f, "CREATE TABLE \"f_" EMPTY "\" (" LAYOUT_META_DDL ", c VARCHAR, n DOUBLE, "
            "t VARCHAR, d TIMESTAMPTZ, m VARCHAR[])");
    s = summarise(f, EMPTY, NULL);
    expect(s, "total", "0");
    expect(s, "deleted_excluded", "0");
    expect(s, "first_at", "null");
    expect(s, "last_at", "null");
    expect(s, "per_day", "[]");
    expect(s, "statuses", "{\"new\":0,\"approved\":0,\"rejected\":0,\"needs_changes\":0}");
    expect(s, "versions", "[]");
    expect(s, "fields", "[{\"name\":\"c\",\"kind\":\"choice\",\"count\":0,\"missing\":0,"
                        "\"missing_rate\":0.0,\"values\":["
                        "{\"value\":\"x\",\"count\":0,\"share\":0.0},"
                        "{\"value\":\"y\",\"count\":0,\"share\":0.0}],"
                        "\"other_values\":0,\"other_count\":0},"
                        "{\"name\":\"n\",\"kind\":\"number\",\"count\":0,\"missing\":0,"
                        "\"missing_rate\":0.0,\"min\":null,\"max\":null,\"mean\":null,"
                        "\"median\":null,\"p90\":null,\"stddev\":null},"
                        "{\"name\":\"t\",\"kind\":\"text\",\"count\":0,\"missing\":0,"
                        "\"missing_rate\":0.0,\"length\":{\"min\":null,\"max\":null,\"mean\":null},"
                        "\"distinct\":0,\"top\":[]},"
                        "{\"name\":\"d\",\"kind\":\"datetime\",\"count\":0,\"missing\":0,"
                        "\"missing_rate\":0.0,\"min\":null,\"max\":null,\"per_month\":[],"
                        "\"other_months\":0},"
                        "{\"name\":\"m\",\"kind\":\"multichoice\",\"count\":0,\"missing\":0,"
                        "\"missing_rate\":0.0,\"values\":[{\"value\":\"p\",\"count\":0,"
                        "\"share\":0.0}],\"other_values\":0,\"other_count\":0,"
                        "\"selections_mean\":null}]");
    json_decref(s);

    /* Rows but every answer null: missing_rate 1. */
    exec(f, "INSERT INTO \"f_" EMPTY "\" (submission_id, version, status, created_at, updated_at) "
            "VALUES ('e1', 1, 'new', '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')");
    s = summarise(f, EMPTY, NULL);
    expect(s, "total", "1");
    expect(s, "fields/1/missing", "1");
    expect(s, "fields/1/missing_rate", "1.0");
    expect(s, "fields/1/stddev", "null");
    json_decref(s);

    /* A table with no form_columns rows: only the totals. */
    exec(f, "CREATE TABLE \"f_" BARE "\" (" LAYOUT_META_DDL ")");
    exec(f, "INSERT INTO \"f_" BARE "\" VALUES ('b1', 1, 'new', '2026-01-01 00:00:00+00', "
            "'2026-01-01 00:00:00+00', NULL)");
    s = summarise(f, BARE, NULL);
    expect(s, "total", "1");
    expect(s, "fields", "[]");
    json_decref(s);
}

static void mismatched_table_is_a_database_error(void **state)
{
    struct fixture *f = *state;
    struct fmd_err err = {0};
    json_t *s = NULL;

    exec(f, "INSERT INTO form_columns VALUES ('" BARE "', 0, 'gone', 'gone', 'number', 'DOUBLE', "
            "NULL)");
    exec(f, "CREATE TABLE \"f_" BARE "\" (" LAYOUT_META_DDL ")");
    assert_int_equal(summary_form(f->c, BARE, NULL, &s, &err), FMD_EDB);
    assert_non_null(strstr(err.msg, "analytics table of form '" BARE "' does not match "
                                    "its columns: Binder Error"));
    assert_null(s);
    /* The failed transaction was rolled back: the connection works on. */
    s = summarise(f, FORM, NULL);
    json_decref(s);
}

/*
 * More values than are listed, and more months. The columns are named like
 * the aliases inside the queries (v, m, n, i) to show these do not mix up.
 */
static void caps_on_values_and_months(void **state)
{
    struct fixture *f = *state;
    json_t *s;
    size_t i;
    char path[64];

    exec(f, "INSERT INTO form_columns VALUES "
            "('" CAPS "', 0, 'c', 'v', 'choice', 'VARCHAR', '[\"zz\",\"opt\"]'),"
            "('" CAPS "', 1, 'd', 'm', 'date', 'DATE', NULL),"
            "('" CAPS "', 2, 't', 'n', 'text', 'VARCHAR', NULL),"
            "('" CAPS "', 3, 'm', 'i', 'multichoice', 'VARCHAR[]', '[\"zz\"]'),"
            "('" CAPS "', 4, 'x', 'x', 'multichoice', 'VARCHAR[]', '[\"zz\"]')");
    exec(f, "CREATE TABLE \"f_" CAPS "\" (" LAYOUT_META_DDL ", v VARCHAR, m DATE, n VARCHAR, "
            "i VARCHAR[], x VARCHAR[])");
    /* Value v<i> (i = 0..59) i + 1 times (1830 rows), then one zz; months from
     * 2000-01 on, one per 15 rows: 123 months; t values: w<i % 12>. */
    exec(f, "INSERT INTO \"f_" CAPS "\" SELECT 'r' || k, 1, 'new', "
            "TIMESTAMPTZ '2026-01-01 00:00:00+00', TIMESTAMPTZ '2026-01-01 00:00:00+00', NULL, "
            "v, DATE '2000-01-01' + INTERVAL (k // 15) MONTH, 'w' || (k % 12), [v, 'zz'], "
            "['zz', v, 'zz'] "
            "FROM (SELECT row_number() OVER () AS k, 'v' || lpad(i::VARCHAR, 2, '0') AS v "
            "FROM range(60) t(i), range(60) u(j) WHERE j <= i)");
    exec(f, "INSERT INTO \"f_" CAPS "\" VALUES ('zz', 1, 'new', '2026-01-01 00:00:00+00', "
            "'2026-01-01 00:00:00+00', NULL, 'zz', NULL, NULL, NULL, NULL)");
    s = summarise(f, CAPS, NULL);
    expect(s, "total", "1831");
    /* Declared first, zz kept though 1 is the smallest count; then 50 others. */
    assert_int_equal(json_array_size(at(s, "fields/0/values")), 52);
    expect(s, "fields/0/values/0",
           "{\"value\":\"zz\",\"count\":1,\"share\":0.00054614964500273077}");   /* 1 / 1831 */
    expect(s, "fields/0/values/1", "{\"value\":\"opt\",\"count\":0,\"share\":0.0}");
    for (i = 0; i < 50; i++) {
        char want[128];
        snprintf(path, sizeof(path), "fields/0/values/%zu", i + 2);
        snprintf(want, sizeof(want), "\"v%02zu\"", 59 - i);
        expect(at(s, path), "value", want);
        snprintf(want, sizeof(want), "%zu", 60 - i);
        expect(at(s, path), "count", want);
    }
    /* v00..v09 left out: 10 values, 1 + ... + 10 answers. */
    expect(s, "fields/0/other_values", "10");
    expect(s, "fields/0/other_count", "55");
    /* Months: the latest 120 of 123 (2000-01 .. 2010-03), ascending. */
    assert_int_equal(json_array_size(at(s, "fields/1/per_month")), 120);
    expect(s, "fields/1/per_month/0", "{\"month\":\"2000-04\",\"count\":15}");
    expect(s, "fields/1/per_month/119/month", "\"2010-03\"");
    expect(s, "fields/1/other_months", "3");
    /* Text: ten of the twelve values; w1..w6 153 times, the rest 152, ties by value. */
    expect(s, "fields/2/distinct", "12");
    assert_int_equal(json_array_size(at(s, "fields/2/top")), 10);
    expect(s, "fields/2/top/0", "{\"value\":\"w1\",\"count\":153}");
    expect(s, "fields/2/top/6", "{\"value\":\"w0\",\"count\":152}");
    expect(s, "fields/2/top/9/value", "\"w7\"");
    /* Multichoice with other values: zz in every answer, the v's counted once each. */
    expect(s, "fields/3/values/0", "{\"value\":\"zz\",\"count\":1830,\"share\":1.0}");
    expect(s, "fields/3/other_values", "10");
    expect(s, "fields/3/selections_mean", "2.0");
    expect(s, "fields/4/values/0", "{\"value\":\"zz\",\"count\":1830,\"share\":1.0}");
    expect(s, "fields/4/selections_mean", "2.0");
    json_decref(s);
}

static void survives_allocation_failure(void **state)
{
    struct fixture *f = *state;
    json_t *want = summarise(f, FORM, NULL);
    long n;

    for (n = 1;; n++) {
        struct fmd_err err = {0};
        json_t *s = NULL;
        int rc;
        fmd_mem_fail_at(n);
        rc = summary_form(f->c, FORM, NULL, &s, &err);
        fmd_mem_fail_at(0);
        if (!rc) {
            assert_true(json_equal(s, want));
            json_decref(s);
            break;
        }
        assert_int_equal(rc, FMD_ENOMEM);
        assert_null(s);
    }
    assert_true(n > 100);
    print_message("[ summary ] succeeded once allocation %ld no longer failed\n", n);
    json_decref(want);
}

/* ---- a million rows --------------------------------------------------------- */

static double elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void million_rows(void **state)
{
    struct fixture *f = *state;
    struct summary_filter flt = {.status = "approved"};
    struct timespec t0;
    json_t *s;

    if (getenv("FORMD_TEST_SMALL")) {
        print_message("[ summary ] FORMD_TEST_SMALL set: 1,000,000-row case skipped\n");
        skip();
    }
    exec(f, "INSERT INTO form_columns VALUES "
            "('" BIG "', 0, 'colour', 'colour', 'choice', 'VARCHAR', "
            "'[\"red\",\"green\",\"blue\",\"cyan\",\"black\"]'),"
            "('" BIG "', 1, 'tags', 'tags', 'multichoice', 'VARCHAR[]', "
            " '[\"a\",\"b\",\"c\",\"d\"]'),"
            "('" BIG "', 2, 'score', 'score', 'number', 'DOUBLE', NULL),"
            "('" BIG "', 3, 'age', 'age', 'integer', 'BIGINT', NULL),"
            "('" BIG "', 4, 'comment', 'comment', 'text', 'VARCHAR', NULL),"
            "('" BIG "', 5, 'born', 'born', 'date', 'DATE', NULL),"
            "('" BIG "', 6, 'seen', 'seen', 'datetime', 'TIMESTAMPTZ', NULL),"
            "('" BIG "', 7, 'ok', 'ok', 'boolean', 'BOOLEAN', NULL)");
    exec(f, "CREATE TABLE \"f_" BIG "\" (" LAYOUT_META_DDL ", colour VARCHAR, tags VARCHAR[], "
            "score DOUBLE, age BIGINT, comment VARCHAR, born DATE, seen TIMESTAMPTZ, ok BOOLEAN)");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* A year of submissions, 2% deleted, 5-30% missing answers, 1% of the
     * choices outside the options, ~100,000 distinct comments. */
    exec(f, "INSERT INTO \"f_" BIG "\" SELECT 's' || i, 1 + i % 3, "
            "['new', 'approved', 'rejected', 'needs_changes'][1 + i % 4], c, c, "
            "CASE WHEN i % 50 = 7 THEN c END, "
            "CASE WHEN random() < 0.1 THEN NULL WHEN random() < 0.01 THEN 'x' || (i % 100) "
            "  ELSE ['red', 'green', 'blue', 'cyan', 'black'][1 + floor(random() * 5)::INT] END, "
            "CASE WHEN random() < 0.1 THEN NULL "
            "  ELSE list_filter(['a', 'b', 'c', 'd'], x -> random() < 0.5) END, "
            "CASE WHEN random() < 0.05 THEN NULL ELSE random() * 100 END, "
            "CASE WHEN random() < 0.05 THEN NULL ELSE floor(random() * 90)::BIGINT END, "
            "CASE WHEN random() < 0.3 THEN NULL ELSE 'comment ' || floor(random() * 100000) END, "
            "CASE WHEN random() < 0.2 THEN NULL "
            "  ELSE DATE '1950-01-01' + floor(random() * 20000)::INT END, "
            "CASE WHEN random() < 0.2 THEN NULL "
            "  ELSE make_timestamptz(1735689600000000 "
            "                        + floor(random() * 31536000000000)::BIGINT) END, "
            "CASE WHEN random() < 0.1 THEN NULL ELSE random() < 0.7 END "
            "FROM (SELECT i, make_timestamptz(1735689600000000 + i * 31536000) AS c "
            "FROM range(1000000) t(i))");
    print_message("[ summary ] 1,000,000 rows generated in %.0f ms\n", elapsed_ms(&t0));

    clock_gettime(CLOCK_MONOTONIC, &t0);
    s = summarise(f, BIG, NULL);
    print_message("[ summary ] 1,000,000 rows, 8 fields, no filter: %.0f ms\n", elapsed_ms(&t0));
    expect(s, "total", "980000");
    expect(s, "deleted_excluded", "20000");
    assert_int_equal(json_array_size(at(s, "per_day")), 365);
    expect(s, "versions/0/version", "1");
    assert_int_equal(json_array_size(at(s, "fields/0/values")), 55);   /* 5 options + 50 */
    /* x0..x99 less x7 and x57, which only deleted rows (i % 50 == 7) have. */
    expect(s, "fields/0/other_values", "48");
    assert_int_equal(json_array_size(at(s, "fields/4/top")), 10);
    assert_int_equal(json_array_size(at(s, "fields/5/per_month")), 120);
    json_decref(s);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    flt.from = 1735689600000 + 86400000LL * 90;
    flt.to = 1735689600000 + 86400000LL * 181 - 1;   /* days 90 to 180 */
    s = summarise(f, BIG, &flt);
    print_message("[ summary ] 1,000,000 rows, status and 90 days: %.0f ms\n", elapsed_ms(&t0));
    assert_int_equal(json_array_size(at(s, "per_day")), 91);
    json_decref(s);

    /* The time limit covers the whole summary; the connection stays usable. */
    {
        struct summary_filter quick = {.timeout_ms = 5};
        struct fmd_err err = {0};
        assert_int_equal(summary_form(f->c, BIG, &quick, &s, &err), FMD_ETIMEOUT);
        assert_string_equal(err.msg, "summary of form '" BIG "' took longer than 5 ms");
        assert_null(s);
        exec(f, "BEGIN TRANSACTION; ROLLBACK");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_kind_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(filter_by_time, setup, teardown),
        cmocka_unit_test_setup_teardown(filter_by_version_and_status, setup, teardown),
        cmocka_unit_test_setup_teardown(include_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_filters_and_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_empty_and_bare_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(mismatched_table_is_a_database_error, setup, teardown),
        cmocka_unit_test_setup_teardown(caps_on_values_and_months, setup, teardown),
        cmocka_unit_test_setup_teardown(survives_allocation_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(million_rows, setup, teardown),
    };
    /* As main does: Jansson allocates through fmd_malloc, so faults reach it. */
    json_set_alloc_funcs(fmd_malloc, fmd_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
