/*
 * test_export.c - a form's submissions to CSV, JSON Lines, Parquet and XLSX.
 *
 * Each test gets a fresh DuckDB whose only allowed directory is exports/,
 * with the analytics layout and one small form table holding every column
 * kind and the awkward values (commas, quotes, newlines, non-ASCII,
 * formula-looking text, NULLs, lists, JSON, dates, datetimes, deleted rows).
 * Exports are read back by DuckDB itself (read_csv, read_ndjson_objects,
 * read_json, read_parquet: the files are in the allowed directory) and XLSX by
 * xlsx_check.py with openpyxl. A last case exports 1,000,000 rows x 10
 * columns in every format and prints time, size and peak RSS growth
 * (skipped with FORMD_TEST_SMALL=1).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analytics/duck.h"
#include "analytics/export.h"
#include "analytics/layout.h"
#include "core/buf.h"
#include "core/id.h"
#include "core/json.h"
#include "core/mem.h"

extern char **environ;

static char checker[PATH_MAX];   /* xlsx_check.py */

struct fixture {
    char dir[64];
    char exports[128];
    char db_path[128];
    char form[ID_LEN + 1];
    struct duck *db;
    struct duck_conn *c;
};

/* ---- helpers ---------------------------------------------------------------- */

static int find_checker(void)
{
    static const char *const tails[] = { "/build/unit/analytics/test_export",
                                         "/build/asan/unit/analytics/test_export" };
    const char *rel = "tests/unit/analytics/xlsx_check.py";
    const char *env = getenv("FORMD_SRC_DIR");
    char exe[PATH_MAX];
    ssize_t n;
    size_t i;

    if (env) {
        snprintf(checker, sizeof(checker), "%s/%s", env, rel);
        return access(checker, R_OK);
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        for (i = 0; i < 2; i++) {
            size_t tl = strlen(tails[i]);
            if ((size_t)n > tl && !strcmp(exe + n - tl, tails[i])) {
                snprintf(checker, sizeof(checker), "%.*s/%s", (int)(n - tl), exe, rel);
                return access(checker, R_OK);
            }
        }
    }
    snprintf(checker, sizeof(checker), "%s", rel);
    return access(checker, R_OK);
}

static void exec(struct fixture *f, const char *sql)
{
    struct fmd_err err = { 0 };
    if (duck_exec(f->c, sql, &err))
        fail_msg("%s: %s", sql, err.msg);
}

static void execf(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void execf(struct fixture *f, const char *fmt, ...)
{
    struct buf b;
    va_list ap;
    buf_init(&b, 1 << 20);
    va_start(ap, fmt);
    assert_int_equal(buf_vprintf(&b, fmt, ap), 0);
    va_end(ap);
    exec(f, b.p);
    buf_release(&b);
}

/* The JSON encoding of the rows of sql (fmd_free). */
static char *rows_of(struct fixture *f, const char *sql)
{
    struct duck_limits lim = { .max_rows = 1000, .timeout_ms = 60000 };
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
    char *got = rows_of(f, sql);
    if (strcmp(got, want))
        fail_msg("%s\n got: %s\nwant: %s", sql, got, want);
    fmd_free(got);
}

static int64_t count(struct fixture *f, const char *sql)
{
    struct duck_limits lim = { .max_rows = 1, .timeout_ms = 60000 };
    struct fmd_err err = { 0 };
    json_t *out;
    int64_t n;
    if (duck_query_json(f->c, sql, &lim, &out, &err))
        fail_msg("%s: %s", sql, err.msg);
    n = json_integer_value(json_array_get(json_array_get(json_object_get(out, "rows"), 0), 0));
    json_decref(out);
    return n;
}

static void path_in(struct fixture *f, char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%.128s/%.200s", f->exports, name);
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Nothing at path, path.part nor path.part.tmp (the XLSX writer's). */
static void assert_no_file(const char *path)
{
    char part[PATH_MAX + 16], tmp[PATH_MAX + 16];
    snprintf(part, sizeof(part), "%s.part", path);
    snprintf(tmp, sizeof(tmp), "%s.part.tmp", path);
    if (exists(path) || exists(part) || exists(tmp))
        fail_msg("'%s' or its .part was left behind", path);
}

/* The file's bytes (fmd_free), its size in *n. */
static char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    char *p;
    long len;
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    len = ftell(fp);
    rewind(fp);
    p = fmd_malloc((size_t)len + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)len, fp), (size_t)len);
    p[len] = '\0';
    fclose(fp);
    *n = (size_t)len;
    return p;
}

static void do_export(struct fixture *f, const struct export_options *o, const char *path,
                      struct export_stats *st)
{
    struct fmd_err err = { 0 };
    if (export_form(f->c, f->form, o, path, st, &err))
        fail_msg("export to '%s': %s", path, err.msg);
    assert_true(exists(path));
}

/* ---- fixture: the layout and one form with every kind -------------------------- */

/*
 * Columns, in form_columns order (property name -> sql_name, kind):
 *   "Full name" -> full_name text, "age" integer, "score" number, "ok" boolean,
 *   "born" date, "seen" datetime, "at" time, "tags" multichoice, "extra" json,
 *   "color" choice, "status" (a property clashing with the meta column, kept
 *   as status_2 by the ETL) text, "" -> col_12 text.
 */
static const char *const form_columns_sql =
    "INSERT INTO form_columns VALUES "
    "('%1$s', 1, 'Full name', 'full_name', 'text', 'VARCHAR', NULL),"
    "('%1$s', 2, 'age', 'age', 'integer', 'BIGINT', NULL),"
    "('%1$s', 3, 'score', 'score', 'number', 'DOUBLE', NULL),"
    "('%1$s', 4, 'ok', 'ok', 'boolean', 'BOOLEAN', NULL),"
    "('%1$s', 5, 'born', 'born', 'date', 'DATE', NULL),"
    "('%1$s', 6, 'seen', 'seen', 'datetime', 'TIMESTAMPTZ', NULL),"
    "('%1$s', 7, 'at', 'at', 'time', 'TIME', NULL),"
    "('%1$s', 8, 'tags', 'tags', 'multichoice', 'VARCHAR[]', '[\"a\",\"b,c\"]'),"
    "('%1$s', 9, 'extra', 'extra', 'json', 'JSON', NULL),"
    "('%1$s', 10, 'color', 'color', 'choice', 'VARCHAR', '[\"red\",\"blue\"]'),"
    "('%1$s', 11, 'status', 'status_2', 'text', 'VARCHAR', NULL),"
    "('%1$s', 12, '', 'col_12', 'text', 'VARCHAR', NULL)";

static const char *const form_table_sql =
    "CREATE TABLE \"f_%s\" (" LAYOUT_META_DDL ", full_name VARCHAR, age BIGINT, "
    "score DOUBLE, ok BOOLEAN, born DATE, seen TIMESTAMPTZ, \"at\" TIME, tags VARCHAR[], "
    "extra JSON, color VARCHAR, status_2 VARCHAR, col_12 VARCHAR)";

/*
 * Five submissions, s1..s5 by created_at (2024-01-01 .. 05, midnight UTC):
 * s4 is deleted; s3 has version 2 and status "reviewed", all its fields NULL.
 */
static const char *const rows_sql =
    "INSERT INTO \"f_%s\" VALUES "
    "('s1', 1, 'new', '2024-01-01 00:00:00+00', '2024-01-01 00:00:00+00', NULL,"
    " 'Smith, \"Jo\"\nline2', 42, 0.1, true, '1990-05-17', '2024-03-04 05:06:07.123+00',"
    " '13:45:00', ['a', 'b,c'], '{\"k\":[1,2],\"s\":\"x\"}', 'red', '=HYPERLINK(\"http://x\")',"
    " 'plain'),"
    "('s2', 1, 'new', '2024-01-02 00:00:00+00', '2024-01-02 12:00:00+00', NULL,"
    " 'Zoë 日本', -7, 1e300, false, '2000-02-29', '2024-12-31 23:59:59.000001+00',"
    " '00:00:00.5', [], '[1,\n2]', 'blue', '+1', '-2'),"
    "('s3', 2, 'reviewed', '2024-01-03 00:00:00+00', '2024-01-03 00:00:00+00', NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),"
    "('s4', 1, 'new', '2024-01-04 00:00:00+00', '2024-01-04 00:00:00+00',"
    " '2024-02-01 00:00:00+00', 'gone', 1, 1.5, true, NULL, NULL, NULL, ['a'], 'null',"
    " 'red', '@x', '\tx'),"
    "('s5', 1, 'new', '2024-01-05 00:00:00+00', '2024-01-05 00:00:00+00', NULL,"
    " '', 9007199254740993, -0.25, NULL, NULL, NULL, NULL, [NULL, 'a'], '\"str\"', NULL,"
    " '\rcr', '')";

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *dirs[2];
    struct duck_options opt = { 0 };
    struct fmd_err err = { 0 };

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_export.XXXXXX");
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
    exec(f, LAYOUT_DDL);
    id_new(f->form);
    execf(f, form_columns_sql, f->form);
    execf(f, form_table_sql, f->form);
    execf(f, rows_sql, f->form);
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

/* The headers every export of the fixture has (without deleted_at). */
#define HEADERS "\"submission_id\",\"version\",\"status\",\"created_at\",\"updated_at\"," \
                "\"Full name\",\"age\",\"score\",\"ok\",\"born\",\"seen\",\"at\",\"tags\"," \
                "\"extra\",\"color\",\"status_2\",\"col_12\""

/* ---- formats ------------------------------------------------------------------ */

static void format_names(void **state)
{
    enum export_format fmt = EXPORT_CSV;
    assert_int_equal(export_format_parse("jsonl", &fmt), 0);
    assert_int_equal(fmt, EXPORT_JSONL);
    assert_int_equal(export_format_parse("parquet", &fmt), 0);
    assert_int_equal(fmt, EXPORT_PARQUET);
    assert_int_equal(export_format_parse("xlsx", &fmt), 0);
    assert_int_equal(fmt, EXPORT_XLSX);
    assert_int_equal(export_format_parse("csv", &fmt), 0);
    assert_int_equal(fmt, EXPORT_CSV);
    assert_int_equal(export_format_parse("CSV", &fmt), FMD_EINVAL);
    assert_int_equal(export_format_parse("json", &fmt), FMD_EINVAL);
    assert_int_equal(export_format_parse(NULL, &fmt), FMD_EINVAL);
    assert_string_equal(export_format_ext(EXPORT_XLSX), "xlsx");
    assert_string_equal(export_format_ext(EXPORT_JSONL), "jsonl");
    assert_null(export_format_ext((enum export_format)9));
    assert_string_equal(export_content_type(EXPORT_CSV), "text/csv; charset=utf-8");
    assert_string_equal(export_content_type(EXPORT_PARQUET), "application/vnd.apache.parquet");
    assert_null(export_content_type((enum export_format)-1));
}

/* ---- CSV ---------------------------------------------------------------------- */

/* The expected rows of a CSV read back with all_varchar (guard off). */
#define CSV_S1 "[\"s1\",\"1\",\"new\",\"2024-01-01T00:00:00Z\",\"2024-01-01T00:00:00Z\"," \
    "\"Smith, \\\"Jo\\\"\\nline2\",\"42\",\"0.1\",\"true\",\"1990-05-17\"," \
    "\"2024-03-04T05:06:07.123Z\",\"13:45:00\",\"[\\\"a\\\",\\\"b,c\\\"]\"," \
    "\"{\\\"k\\\":[1,2],\\\"s\\\":\\\"x\\\"}\",\"red\",\"=HYPERLINK(\\\"http://x\\\")\",\"plain\"]"
#define CSV_S2 "[\"s2\",\"1\",\"new\",\"2024-01-02T00:00:00Z\",\"2024-01-02T12:00:00Z\"," \
    "\"Zoë 日本\",\"-7\",\"1e+300\",\"false\",\"2000-02-29\",\"2024-12-31T23:59:59.000001Z\"," \
    "\"00:00:00.500\",\"[]\",\"[1,\\n2]\",\"blue\",\"+1\",\"-2\"]"
#define CSV_S3 "[\"s3\",\"2\",\"reviewed\",\"2024-01-03T00:00:00Z\",\"2024-01-03T00:00:00Z\"," \
    "null,null,null,null,null,null,null,null,null,null,null,null]"
#define CSV_S5 "[\"s5\",\"1\",\"new\",\"2024-01-05T00:00:00Z\",\"2024-01-05T00:00:00Z\"," \
    "\"\",\"9007199254740993\",\"-0.25\",null,null,null,null,\"[null,\\\"a\\\"]\"," \
    "\"\\\"str\\\"\",null,\"\\rcr\",\"\"]"

static void read_csv_sql(char *sql, size_t cap, const char *path)
{
    snprintf(sql, cap, "SELECT * FROM read_csv('%s', header = true, all_varchar = true, "
             "allow_quoted_nulls = false, delim = ',', quote = '\"', escape = '\"')", path);
}

static void csv_round_trip(void **state)
{
    struct fixture *f = *state;
    struct export_options o = { .format = EXPORT_CSV };
    struct export_stats st;
    char path[PATH_MAX], sql[PATH_MAX + 256];
    char *data;
    size_t n;

    path_in(f, path, sizeof(path), "plain.csv");
    do_export(f, &o, path, &st);
    assert_int_equal(st.rows, 4);
    data = slurp(path, &n);
    assert_int_equal(st.bytes, n);
    assert_true(st.duration_ms >= 0);
    /* No BOM; the header first; CRLF line ends; quoted fields; "" for an empty string. */
    assert_memory_equal(data, "submission_id,version,status,created_at,updated_at,Full name,"
                              "age,score,ok,born,seen,at,tags,extra,color,status_2,col_12\r\n",
                        strlen("submission_id,version,status,created_at,updated_at,Full name,"
                               "age,score,ok,born,seen,at,tags,extra,color,status_2,col_12\r\n"));
    assert_non_null(strstr(data, "s1,1,new,2024-01-01T00:00:00Z,2024-01-01T00:00:00Z,"
                                 "\"Smith, \"\"Jo\"\"\nline2\",42,0.1,true,1990-05-17,"
                                 "2024-03-04T05:06:07.123Z,13:45:00,\"[\"\"a\"\",\"\"b,c\"\"]\","
                                 "\"{\"\"k\"\":[1,2],\"\"s\"\":\"\"x\"\"}\",red,"
                                 "\"=HYPERLINK(\"\"http://x\"\")\",plain\r\n"));
    assert_non_null(strstr(data, "\r\ns3,2,reviewed,2024-01-03T00:00:00Z,"
                                 "2024-01-03T00:00:00Z,,,,,,,,,,,,\r\n"));
    assert_non_null(strstr(data, ",\"\rcr\",\"\"\r\n"));
    assert_null(strstr(data, "gone"));
    fmd_free(data);

    read_csv_sql(sql, sizeof(sql), path);
    expect_rows(f, sql, "[" CSV_S1 "," CSV_S2 "," CSV_S3 "," CSV_S5 "]");
    /* Typed read back: DuckDB's sniffer agrees with the types. */
    snprintf(sql, sizeof(sql), "SELECT typeof(age), typeof(score), typeof(ok), typeof(born), "
             "typeof(seen) FROM read_csv('%s') LIMIT 1", path);
    expect_rows(f, sql, "[[\"BIGINT\",\"DOUBLE\",\"BOOLEAN\",\"DATE\","
                        "\"TIMESTAMP WITH TIME ZONE\"]]");
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM read_csv('%s') r JOIN \"f_%s\" t "
             "ON r.submission_id = t.submission_id AND r.seen IS NOT DISTINCT FROM t.seen "
             "AND r.score IS NOT DISTINCT FROM t.score AND r.age IS NOT DISTINCT FROM t.age",
             path, f->form);
    assert_int_equal(count(f, sql), 4);
}

static void csv_bom_and_formula_guard(void **state)
{
    struct fixture *f = *state;
    struct export_options o = { .format = EXPORT_CSV, .bom = true };
    char path[PATH_MAX], sql[PATH_MAX + 256];
    char *data;
    size_t n;

    /* BOM: the guard is on by default. */
    path_in(f, path, sizeof(path), "bom.csv");
    do_export(f, &o, path, NULL);
    data = slurp(path, &n);
    assert_memory_equal(data, "\xEF\xBB\xBFsubmission_id,", 17);
    assert_non_null(strstr(data, ",\"'=HYPERLINK(\"\"http://x\"\")\",plain\r\n"));
    assert_non_null(strstr(data, ",blue,'+1,'-2\r\n"));
    /* Numbers stay numbers; JSON and lists are not text. */
    assert_non_null(strstr(data, ",-7,"));
    assert_non_null(strstr(data, ",-0.25,"));
    /* A CR first: quoted (it holds a CR) and guarded. */
    assert_non_null(strstr(data, ",\"'\rcr\",\"\"\r\n"));
    fmd_free(data);
    read_csv_sql(sql, sizeof(sql), path);
    snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), " WHERE submission_id = 's2'");
    expect_rows(f, sql, "[[\"s2\",\"1\",\"new\",\"2024-01-02T00:00:00Z\",\"2024-01-02T12:00:00Z\","
                        "\"Zoë 日本\",\"-7\",\"1e+300\",\"false\",\"2000-02-29\","
                        "\"2024-12-31T23:59:59.000001Z\",\"00:00:00.500\",\"[]\",\"[1,\\n2]\","
                        "\"blue\",\"'+1\",\"'-2\"]]");

    /* BOM with the guard off: exact values. */
    o.spreadsheet_safe = EXPORT_GUARD_OFF;
    path_in(f, path, sizeof(path), "bom-raw.csv");
    do_export(f, &o, path, NULL);
    data = slurp(path, &n);
    assert_memory_equal(data, "\xEF\xBB\xBF", 3);
    assert_non_null(strstr(data, ",blue,+1,-2\r\n"));
    fmd_free(data);

    /* No BOM, guard forced on; the header is guarded too. */
    o.bom = false;
    o.spreadsheet_safe = EXPORT_GUARD_ON;
    execf(f, "UPDATE form_columns SET name = '=cmd' WHERE form_id = '%s' AND position = 12",
          f->form);
    path_in(f, path, sizeof(path), "guard.csv");
    do_export(f, &o, path, NULL);
    data = slurp(path, &n);
    assert_memory_equal(data, "submission_id,", 14);
    assert_non_null(strstr(data, ",status_2,'=cmd\r\n"));
    assert_non_null(strstr(data, ",blue,'+1,'-2\r\n"));
    fmd_free(data);

    /* The guard never touches other formats. */
    o.format = EXPORT_JSONL;
    path_in(f, path, sizeof(path), "guard.jsonl");
    do_export(f, &o, path, NULL);
    data = slurp(path, &n);
    assert_non_null(strstr(data, "\"status_2\":\"+1\""));
    assert_memory_equal(data, "{", 1);
    fmd_free(data);
}

/* ---- JSON Lines ------------------------------------------------------------------ */

static void jsonl_round_trip(void **state)
{
    struct fixture *f = *state;
    struct export_options o = { .format = EXPORT_JSONL };
    struct export_stats st;
    char path[PATH_MAX], sql[PATH_MAX + 512];
    char *data, *p;
    size_t n, lines = 0;

    path_in(f, path, sizeof(path), "all.jsonl");
    do_export(f, &o, path, &st);
    assert_int_equal(st.rows, 4);
    data = slurp(path, &n);
    assert_int_equal(st.bytes, n);
    for (p = data; (p = strchr(p, '\n')); p++)
        lines++;
    assert_int_equal(lines, 4);
    assert_null(strchr(data, '\r'));
    assert_int_equal(data[n - 1], '\n');
    fmd_free(data);

    /* Each line exactly, as DuckDB reads it back. */
    snprintf(sql, sizeof(sql), "SELECT json::VARCHAR FROM read_ndjson_objects('%s')", path);
    expect_rows(f, sql,
        "[[\"{\\\"submission_id\\\":\\\"s1\\\",\\\"version\\\":1,\\\"status\\\":\\\"new\\\","
        "\\\"created_at\\\":\\\"2024-01-01T00:00:00Z\\\",\\\"updated_at\\\":\\\"2024-01-01T00:00:00Z\\\","
        "\\\"Full name\\\":\\\"Smith, \\\\\\\"Jo\\\\\\\"\\\\nline2\\\",\\\"age\\\":42,\\\"score\\\":0.1,"
        "\\\"ok\\\":true,\\\"born\\\":\\\"1990-05-17\\\",\\\"seen\\\":\\\"2024-03-04T05:06:07.123Z\\\","
        "\\\"at\\\":\\\"13:45:00\\\",\\\"tags\\\":[\\\"a\\\",\\\"b,c\\\"],"
        "\\\"extra\\\":{\\\"k\\\":[1,2],\\\"s\\\":\\\"x\\\"},\\\"color\\\":\\\"red\\\","
        "\\\"status_2\\\":\\\"=HYPERLINK(\\\\\\\"http://x\\\\\\\")\\\",\\\"col_12\\\":\\\"plain\\\"}\"],"
        "[\"{\\\"submission_id\\\":\\\"s2\\\",\\\"version\\\":1,\\\"status\\\":\\\"new\\\","
        "\\\"created_at\\\":\\\"2024-01-02T00:00:00Z\\\",\\\"updated_at\\\":\\\"2024-01-02T12:00:00Z\\\","
        "\\\"Full name\\\":\\\"Zoë 日本\\\",\\\"age\\\":-7,\\\"score\\\":1e+300,\\\"ok\\\":false,"
        "\\\"born\\\":\\\"2000-02-29\\\",\\\"seen\\\":\\\"2024-12-31T23:59:59.000001Z\\\","
        "\\\"at\\\":\\\"00:00:00.500\\\",\\\"tags\\\":[],\\\"extra\\\":[1, 2],\\\"color\\\":\\\"blue\\\","
        "\\\"status_2\\\":\\\"+1\\\",\\\"col_12\\\":\\\"-2\\\"}\"],"
        "[\"{\\\"submission_id\\\":\\\"s3\\\",\\\"version\\\":2,\\\"status\\\":\\\"reviewed\\\","
        "\\\"created_at\\\":\\\"2024-01-03T00:00:00Z\\\",\\\"updated_at\\\":\\\"2024-01-03T00:00:00Z\\\","
        "\\\"Full name\\\":null,\\\"age\\\":null,\\\"score\\\":null,\\\"ok\\\":null,\\\"born\\\":null,"
        "\\\"seen\\\":null,\\\"at\\\":null,\\\"tags\\\":null,\\\"extra\\\":null,\\\"color\\\":null,"
        "\\\"status_2\\\":null,\\\"col_12\\\":null}\"],"
        "[\"{\\\"submission_id\\\":\\\"s5\\\",\\\"version\\\":1,\\\"status\\\":\\\"new\\\","
        "\\\"created_at\\\":\\\"2024-01-05T00:00:00Z\\\",\\\"updated_at\\\":\\\"2024-01-05T00:00:00Z\\\","
        "\\\"Full name\\\":\\\"\\\",\\\"age\\\":9007199254740993,\\\"score\\\":-0.25,\\\"ok\\\":null,"
        "\\\"born\\\":null,\\\"seen\\\":null,\\\"at\\\":null,\\\"tags\\\":[null,\\\"a\\\"],"
        "\\\"extra\\\":\\\"str\\\",\\\"color\\\":null,\\\"status_2\\\":\\\"\\\\rcr\\\","
        "\\\"col_12\\\":\\\"\\\"}\"]]");

    /* Typed: numbers, booleans, arrays and objects come back as such. */
    snprintf(sql, sizeof(sql), "SELECT count(*), typeof(any_value(age)), "
             "typeof(any_value(score)), typeof(any_value(ok)), typeof(any_value(tags)) "
             "FROM read_json('%s', format = 'newline_delimited')", path);
    expect_rows(f, sql, "[[4,\"BIGINT\",\"DOUBLE\",\"BOOLEAN\",\"VARCHAR[]\"]]");
    snprintf(sql, sizeof(sql), "SELECT extra->>'$.k[1]', json_type(extra), age FROM "
             "read_json('%s', format = 'newline_delimited', columns = {submission_id: "
             "'VARCHAR', extra: 'JSON', age: 'BIGINT'}) ORDER BY submission_id", path);
    expect_rows(f, sql, "[[\"2\",\"OBJECT\",42],[null,\"ARRAY\",-7],[null,null,null],"
                        "[null,\"VARCHAR\",9007199254740993]]");
}

/* ---- Parquet ----------------------------------------------------------------------- */

static void parquet_round_trip(void **state)
{
    struct fixture *f = *state;
    struct export_options o = { .format = EXPORT_PARQUET };
    struct export_stats st;
    struct stat sb;
    char path[PATH_MAX], sql[PATH_MAX + 1024], want_sql[1024];
    char *want;

    path_in(f, path, sizeof(path), "all.parquet");
    do_export(f, &o, path, &st);
    assert_int_equal(st.rows, 4);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(st.bytes, (uint64_t)sb.st_size);

    snprintf(sql, sizeof(sql), "SELECT column_name, column_type FROM "
             "(DESCRIBE SELECT * FROM read_parquet('%s'))", path);
    expect_rows(f, sql, "[[\"submission_id\",\"VARCHAR\"],[\"version\",\"INTEGER\"],"
                        "[\"status\",\"VARCHAR\"],[\"created_at\",\"TIMESTAMP WITH TIME ZONE\"],"
                        "[\"updated_at\",\"TIMESTAMP WITH TIME ZONE\"],[\"Full name\",\"VARCHAR\"],"
                        "[\"age\",\"BIGINT\"],[\"score\",\"DOUBLE\"],[\"ok\",\"BOOLEAN\"],"
                        "[\"born\",\"DATE\"],[\"seen\",\"TIMESTAMP WITH TIME ZONE\"],"
                        "[\"at\",\"TIME\"],[\"tags\",\"VARCHAR[]\"],[\"extra\",\"JSON\"],"
                        "[\"color\",\"VARCHAR\"],[\"status_2\",\"VARCHAR\"],[\"col_12\",\"VARCHAR\"]]");
    /* The same values as the table, in the same order. */
    snprintf(want_sql, sizeof(want_sql), "SELECT * EXCLUDE (deleted_at) FROM \"f_%s\" "
             "WHERE deleted_at IS NULL ORDER BY created_at", f->form);
    want = rows_of(f, want_sql);
    snprintf(sql, sizeof(sql), "SELECT * FROM read_parquet('%s')", path);
    expect_rows(f, sql, want);
    fmd_free(want);
    /* zstd */
    snprintf(sql, sizeof(sql), "SELECT DISTINCT compression FROM parquet_metadata('%s')", path);
    expect_rows(f, sql, "[[\"ZSTD\"]]");
}

/* ---- XLSX ----------------------------------------------------------------------- */

static int run_checker(const char *file, const char *spec)
{
    char sp[PATH_MAX + 16];
    char *argv[5];
    FILE *fp;
    pid_t pid;
    int st;

    snprintf(sp, sizeof(sp), "%s.spec.json", file);
    fp = fopen(sp, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(spec, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
    argv[0] = "/usr/bin/python3";
    argv[1] = checker;
    argv[2] = (char *)file;
    argv[3] = sp;
    argv[4] = NULL;
    fflush(stdout);
    assert_int_equal(posix_spawn(&pid, argv[0], NULL, NULL, argv, environ), 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void xlsx_round_trip(void **state)
{
    struct fixture *f = *state;
    struct export_options o = { .format = EXPORT_XLSX, .include_deleted = true };
    struct export_stats st;
    char path[PATH_MAX];
    struct buf b;

    path_in(f, path, sizeof(path), "all.xlsx");
    do_export(f, &o, path, &st);
    assert_int_equal(st.rows, 5);
    buf_init(&b, 1 << 20);
    /* Columns: 0-5 meta (deleted_at included), then the form's from 6. */
    buf_adds(&b, "{\"frozen\": true, \"sheets\": [\"data\"], \"rows\": [5], \"header\": ["
             "\"submission_id\",\"version\",\"status\",\"created_at\",\"updated_at\","
             "\"deleted_at\",\"Full name\",\"age\",\"score\",\"ok\",\"born\",\"seen\",\"at\","
             "\"tags\",\"extra\",\"color\",\"status_2\",\"col_12\"], \"cells\": ["
             "{\"sheet\":0,\"row\":2,\"col\":0,\"type\":\"str\",\"value\":\"s1\"},"
             "{\"sheet\":0,\"row\":2,\"col\":1,\"type\":\"int\",\"value\":1},"
             "{\"sheet\":0,\"row\":2,\"col\":3,\"type\":\"datetime\",\"value\":\"2024-01-01T00:00:00\"},"
             "{\"sheet\":0,\"row\":2,\"col\":5,\"type\":\"none\"},"
             "{\"sheet\":0,\"row\":2,\"col\":6,\"type\":\"str\",\"value\":\"Smith, \\\"Jo\\\"\\nline2\"},"
             "{\"sheet\":0,\"row\":2,\"col\":7,\"type\":\"int\",\"value\":42},"
             "{\"sheet\":0,\"row\":2,\"col\":8,\"type\":\"float\",\"value\":0.1},"
             "{\"sheet\":0,\"row\":2,\"col\":9,\"type\":\"bool\",\"value\":true},"
             "{\"sheet\":0,\"row\":2,\"col\":10,\"type\":\"date\",\"value\":\"1990-05-17\"},"
             "{\"sheet\":0,\"row\":2,\"col\":11,\"type\":\"datetime\",\"value\":\"2024-03-04T05:06:07.123\"},"
             "{\"sheet\":0,\"row\":2,\"col\":12,\"type\":\"str\",\"value\":\"13:45:00\"},"
             "{\"sheet\":0,\"row\":2,\"col\":13,\"type\":\"str\",\"value\":\"[\\\"a\\\",\\\"b,c\\\"]\"},"
             "{\"sheet\":0,\"row\":2,\"col\":14,\"type\":\"str\",\"value\":\"{\\\"k\\\":[1,2],\\\"s\\\":\\\"x\\\"}\"},"
             "{\"sheet\":0,\"row\":2,\"col\":16,\"type\":\"str\",\"value\":\"=HYPERLINK(\\\"http://x\\\")\"},"
             "{\"sheet\":0,\"row\":3,\"col\":6,\"type\":\"str\",\"value\":\"Zoë 日本\"},"
             "{\"sheet\":0,\"row\":3,\"col\":7,\"type\":\"int\",\"value\":-7},"
             "{\"sheet\":0,\"row\":3,\"col\":9,\"type\":\"bool\",\"value\":false},"
             "{\"sheet\":0,\"row\":3,\"col\":17,\"type\":\"str\",\"value\":\"-2\"},"
             "{\"sheet\":0,\"row\":4,\"col\":6,\"type\":\"none\"},"
             "{\"sheet\":0,\"row\":4,\"col\":7,\"type\":\"none\"},"
             "{\"sheet\":0,\"row\":4,\"col\":13,\"type\":\"none\"},"
             "{\"sheet\":0,\"row\":5,\"col\":0,\"type\":\"str\",\"value\":\"s4\"},"
             "{\"sheet\":0,\"row\":5,\"col\":5,\"type\":\"datetime\",\"value\":\"2024-02-01T00:00:00\"},"
             "{\"sheet\":0,\"row\":6,\"col\":7,\"type\":\"str\",\"value\":\"9007199254740993\"},"
             "{\"sheet\":0,\"row\":6,\"col\":8,\"type\":\"float\",\"value\":-0.25},"
             "{\"sheet\":0,\"row\":6,\"col\":13,\"type\":\"str\",\"value\":\"[null,\\\"a\\\"]\"},"
             "{\"sheet\":0,\"row\":6,\"col\":14,\"type\":\"str\",\"value\":\"\\\"str\\\"\"}"
             "]}\n");
    assert_int_equal(run_checker(path, b.p), 0);
    buf_release(&b);
}

/* ---- selection ---------------------------------------------------------------------- */

static uint64_t rows_exported(struct fixture *f, const struct export_options *o)
{
    struct export_stats st;
    char path[PATH_MAX];
    path_in(f, path, sizeof(path), "sel.out");
    do_export(f, o, path, &st);
    assert_int_equal(unlink(path), 0);
    return st.rows;
}

static void filters_and_deleted(void **state)
{
    struct fixture *f = *state;
    struct export_options o = { .format = EXPORT_JSONL };
    char path[PATH_MAX], sql[PATH_MAX + 256];
    static const int64_t jan2 = 1704153600000, jan4 = 1704326400000;   /* UTC midnights */
    int fmt;

    for (fmt = EXPORT_CSV; fmt <= EXPORT_XLSX; fmt++) {
        o = (struct export_options){ .format = (enum export_format)fmt };
        assert_int_equal(rows_exported(f, &o), 4);
        o.include_deleted = true;
        assert_int_equal(rows_exported(f, &o), 5);
        o.from = jan2;                  /* s2 .. s5 */
        assert_int_equal(rows_exported(f, &o), 4);
        o.to = jan4;                    /* [jan2, jan4): s2, s3 */
        assert_int_equal(rows_exported(f, &o), 2);
        o.from = jan2 + 1;              /* s3 */
        assert_int_equal(rows_exported(f, &o), 1);
        o.from = o.to = 0;
        o.status = "reviewed";
        assert_int_equal(rows_exported(f, &o), 1);
        o.status = "new";
        o.version = 1;
        assert_int_equal(rows_exported(f, &o), 4);
        o.include_deleted = false;
        assert_int_equal(rows_exported(f, &o), 3);
        o.status = "x' OR '1'='1";     /* bound, not spliced */
        assert_int_equal(rows_exported(f, &o), 0);
    }

    /* deleted_at is a column only when deleted rows are included. */
    o = (struct export_options){ .format = EXPORT_PARQUET, .include_deleted = true };
    path_in(f, path, sizeof(path), "del.parquet");
    do_export(f, &o, path, NULL);
    snprintf(sql, sizeof(sql), "SELECT submission_id, deleted_at FROM read_parquet('%s') "
             "WHERE deleted_at IS NOT NULL", path);
    expect_rows(f, sql, "[[\"s4\",\"2024-02-01T00:00:00Z\"]]");
    o.format = EXPORT_CSV;
    path_in(f, path, sizeof(path), "del.csv");
    do_export(f, &o, path, NULL);
    snprintf(sql, sizeof(sql), "SELECT submission_id, deleted_at FROM read_csv('%s', "
             "all_varchar = true) WHERE deleted_at IS NOT NULL", path);
    expect_rows(f, sql, "[[\"s4\",\"2024-02-01T00:00:00Z\"]]");
    o.include_deleted = false;
    path_in(f, path, sizeof(path), "nodel.csv");
    do_export(f, &o, path, NULL);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM (DESCRIBE SELECT * FROM read_csv('%s')) "
             "WHERE column_name = 'deleted_at'", path);
    assert_int_equal(count(f, sql), 0);
}

/* A form with no submissions, and one with no form_columns rows: headers only. */
static void empty_form(void **state)
{
    struct fixture *f = *state;
    struct export_options o = { .format = EXPORT_CSV };
    struct export_stats st;
    char path[PATH_MAX], sql[PATH_MAX + 256];
    char *data;
    size_t n;
    int fmt;

    execf(f, "DELETE FROM \"f_%s\"", f->form);
    for (fmt = EXPORT_CSV; fmt <= EXPORT_XLSX; fmt++) {
        o.format = (enum export_format)fmt;
        path_in(f, path, sizeof(path), export_format_ext(o.format));
        do_export(f, &o, path, &st);
        assert_int_equal(st.rows, 0);
    }
    path_in(f, path, sizeof(path), "parquet");
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM read_parquet('%s')", path);
    assert_int_equal(count(f, sql), 0);

    execf(f, "DELETE FROM form_columns WHERE form_id = '%s'", f->form);
    o.format = EXPORT_CSV;
    path_in(f, path, sizeof(path), "meta.csv");
    do_export(f, &o, path, &st);
    data = slurp(path, &n);
    assert_string_equal(data, "submission_id,version,status,created_at,updated_at\r\n");
    fmd_free(data);
}

/* Two properties whose names collide (ignoring case) get unique headers. */
static void header_collisions(void **state)
{
    struct fixture *f = *state;
    struct export_options o = { .format = EXPORT_PARQUET };
    char path[PATH_MAX], sql[PATH_MAX + 256];

    execf(f, "UPDATE form_columns SET name = 'Age' WHERE form_id = '%s' AND position = 3",
          f->form);
    execf(f, "UPDATE form_columns SET name = 'age_2' WHERE form_id = '%s' AND position = 4",
          f->form);
    path_in(f, path, sizeof(path), "dup.parquet");
    do_export(f, &o, path, NULL);
    snprintf(sql, sizeof(sql), "SELECT list(column_name) FROM "
             "(DESCRIBE SELECT * FROM read_parquet('%s'))", path);
    expect_rows(f, sql, "[[[\"submission_id\",\"version\",\"status\",\"created_at\","
                        "\"updated_at\",\"Full name\",\"age\",\"Age_2\",\"age_2_2\",\"born\","
                        "\"seen\",\"at\",\"tags\",\"extra\",\"color\",\"status_2\",\"col_12\"]]]");
}

/* ---- failures ----------------------------------------------------------------------- */

static void bad_options_and_unknown_form(void **state)
{
    struct fixture *f = *state;
    struct export_options o = { 0 };
    struct export_stats st = { .rows = 99 };
    struct fmd_err err = { 0 };
    char path[PATH_MAX], other[ID_LEN + 1];

    path_in(f, path, sizeof(path), "bad.csv");
    o.format = (enum export_format)7;
    assert_int_equal(export_form(f->c, f->form, &o, path, &st, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "unknown export format 7");
    assert_int_equal(st.rows, 0);
    o.format = EXPORT_CSV;
    o.from = -1;
    assert_int_equal(export_form(f->c, f->form, &o, path, NULL, &err), FMD_EINVAL);
    o.from = 5;
    o.to = 4;
    assert_int_equal(export_form(f->c, f->form, &o, path, NULL, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "export time range starts (5) after it ends (4)");
    o.from = o.to = 0;
    o.status = "";
    assert_int_equal(export_form(f->c, f->form, &o, path, NULL, &err), FMD_EINVAL);
    o.status = NULL;
    o.version = -2;
    assert_int_equal(export_form(f->c, f->form, &o, path, NULL, &err), FMD_EINVAL);
    o.version = 0;
    o.spreadsheet_safe = (enum export_guard)5;
    assert_int_equal(export_form(f->c, f->form, &o, path, NULL, &err), FMD_EINVAL);
    o.spreadsheet_safe = EXPORT_GUARD_AUTO;
    assert_int_equal(export_form(f->c, "x\"; DROP TABLE form_columns; --", &o, path, NULL, &err),
                     FMD_EINVAL);
    assert_int_equal(export_form(f->c, NULL, &o, path, NULL, &err), FMD_EINVAL);
    assert_int_equal(export_form(f->c, f->form, &o, "", NULL, &err), FMD_EINVAL);
    assert_no_file(path);

    id_new(other);
    assert_int_equal(export_form(f->c, other, &o, path, NULL, &err), FMD_ENOTFOUND);
    assert_non_null(strstr(err.msg, other));
    assert_no_file(path);
    /* The connection is usable after every failure (no transaction left open). */
    assert_int_equal(rows_exported(f, &o), 4);
}

static void write_failures_leave_nothing(void **state)
{
    struct fixture *f = *state;
    struct export_options o = { 0 };
    struct fmd_err err = { 0 };
    char path[PATH_MAX];
    int fmt;

    for (fmt = EXPORT_CSV; fmt <= EXPORT_XLSX; fmt++) {
        o.format = (enum export_format)fmt;
        /* A directory that does not exist (inside the allowed one). */
        snprintf(path, sizeof(path), "%s/missing/out.%s", f->exports, export_format_ext(o.format));
        assert_int_equal(export_form(f->c, f->form, &o, path, NULL, &err), FMD_EIO);
        if (!strstr(err.msg, path))
            fail_msg("format %d: message does not name the path: %s", fmt, err.msg);
        assert_no_file(path);
    }
    /* A directory at path: the final rename fails, nothing partial stays. */
    path_in(f, path, sizeof(path), "dir.csv");
    assert_int_equal(mkdir(path, 0700), 0);
    o.format = EXPORT_CSV;
    assert_int_equal(export_form(f->c, f->form, &o, path, NULL, &err), FMD_EIO);
    assert_non_null(strstr(err.msg, path));
    strncat(path, ".part", sizeof(path) - strlen(path) - 1);
    assert_false(exists(path));

    /* Parquet is written by DuckDB: only inside the allowed directory. */
    snprintf(path, sizeof(path), "%s/out.parquet", f->dir);
    o.format = EXPORT_PARQUET;
    assert_int_equal(export_form(f->c, f->form, &o, path, NULL, &err), FMD_EFORBIDDEN);
    assert_no_file(path);
}

/* ---- progress and cancel ------------------------------------------------------------- */

struct watch {
    uint64_t calls, last_done, total;
    uint64_t cancel_at;      /* cancel from this poll on (1-based); 0: never */
    uint64_t polls;
    bool monotonic;
};

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
    struct watch *w = arg;
    if (w->calls && done < w->last_done)
        w->monotonic = false;
    w->calls++;
    w->last_done = done;
    w->total = total;
}

static int on_cancel(void *arg)
{
    struct watch *w = arg;
    w->polls++;
    return w->cancel_at && w->polls >= w->cancel_at;
}

/* n more rows in the fixture's form (ids g<i>, created after the others). */
static void add_rows(struct fixture *f, int64_t n)
{
    execf(f, "INSERT INTO \"f_%s\" SELECT 'g' || i, 1 + i %% 3, 'new', "
          "TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_milliseconds(i), "
          "TIMESTAMPTZ '2025-01-01 00:00:00+00', NULL, 'name ' || i, i, random(), i %% 2 = 0, "
          "DATE '2000-01-01' + (i %% 1000)::INTEGER, TIMESTAMPTZ '2025-01-01 00:00:00+00', "
          "TIME '12:00:00', ['a'], '{\"i\":' || i || '}', 'red', 't' || i, NULL "
          "FROM range(%" PRId64 ") r(i)", f->form, n);
}

static void progress_and_cancel(void **state)
{
    struct fixture *f = *state;
    struct export_options o = { .progress = on_progress, .cancel = on_cancel };
    struct watch w;
    struct fmd_err err = { 0 };
    char path[PATH_MAX];
    int fmt;

    add_rows(f, 50000);
    for (fmt = EXPORT_CSV; fmt <= EXPORT_XLSX; fmt++) {
        o.format = (enum export_format)fmt;
        o.arg = &w;
        path_in(f, path, sizeof(path), export_format_ext(o.format));

        /* Whole: starts at (0, total), ends at (total, total), never goes back. */
        memset(&w, 0, sizeof(w));
        w.monotonic = true;
        do_export(f, &o, path, NULL);
        assert_int_equal(w.total, 50004);
        assert_int_equal(w.last_done, 50004);
        assert_true(w.monotonic);
        if (fmt == EXPORT_PARQUET)
            assert_int_equal(w.calls, 2);
        else
            assert_true(w.calls >= 6);   /* start, every 10,000 rows, end */
        assert_true(w.polls >= 1);
        assert_int_equal(unlink(path), 0);

        /* Cancelled at the second poll, a chunk in (Parquet: parquet_cancel_mid_copy). */
        if (fmt != EXPORT_PARQUET) {
            memset(&w, 0, sizeof(w));
            w.cancel_at = 2;
            assert_int_equal(export_form(f->c, f->form, &o, path, NULL, &err), FMD_EGONE);
            assert_non_null(strstr(err.msg, "cancelled"));
            assert_true(w.last_done < 50004);
            assert_no_file(path);
        }

        /* Cancelled before the first row. */
        memset(&w, 0, sizeof(w));
        w.cancel_at = 1;
        assert_int_equal(export_form(f->c, f->form, &o, path, NULL, &err), FMD_EGONE);
        assert_no_file(path);
    }
}

/* Parquet is cancelled while DuckDB runs the COPY (needs a COPY longer than 50 ms). */
static void parquet_cancel_mid_copy(void **state)
{
    struct fixture *f = *state;
    struct export_options o = { .format = EXPORT_PARQUET, .cancel = on_cancel };
    struct watch w = { .cancel_at = 2 };
    struct fmd_err err = { 0 };
    char path[PATH_MAX];
    struct timespec t0, t1;

    add_rows(f, 2000000);
    o.arg = &w;
    path_in(f, path, sizeof(path), "big.parquet");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(export_form(f->c, f->form, &o, path, NULL, &err), FMD_EGONE);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(w.polls, 2);
    assert_no_file(path);
    printf("  parquet cancelled after %.0f ms\n",
           (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
}

/* ---- allocation failures ---------------------------------------------------------- */

/* Fail allocation n for n = 1.. until the export succeeds: FMD_ENOMEM, no file, no leak. */
static void survives_allocation_failure(void **state)
{
    struct fixture *f = *state;
    struct export_options o = { .include_deleted = true, .status = "new", .from = 1 };
    struct fmd_err err = { 0 };
    char path[PATH_MAX];
    long n;
    int fmt, rc;

    for (fmt = EXPORT_CSV; fmt <= EXPORT_XLSX; fmt++) {
        o.format = (enum export_format)fmt;
        path_in(f, path, sizeof(path), export_format_ext(o.format));
        for (n = 1;; n++) {
            fmd_mem_fail_at(n);
            rc = export_form(f->c, f->form, &o, path, NULL, &err);
            fmd_mem_fail_at(0);
            if (!rc)
                break;
            if (rc != FMD_ENOMEM)
                fail_msg("format %d, allocation %ld: %d %s", fmt, n, rc, err.msg);
            assert_no_file(path);
        }
        assert_true(n > 3);
        assert_int_equal(unlink(path), 0);
    }
}

/* ---- a million rows ----------------------------------------------------------------- */

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static long rss_kb(void)
{
    FILE *fp = fopen("/proc/self/statm", "r");
    long size = 0, pages = 0;
    if (fp) {
        if (fscanf(fp, "%ld %ld", &size, &pages) != 2)
            pages = 0;
        fclose(fp);
    }
    return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Resets the peak RSS to the current RSS (Linux >= 4.0); false if it cannot. */
static bool reset_peak(void)
{
    FILE *fp = fopen("/proc/self/clear_refs", "w");
    bool ok;
    if (!fp)
        return false;
    ok = fputs("5", fp) >= 0;
    return fclose(fp) == 0 && ok;
}

static void million_rows_bounded_memory(void **state)
{
    struct fixture *f = *state;
    struct export_options o = { 0 };
    struct export_stats st;
    char path[PATH_MAX], sql[PATH_MAX + 128];
    const char *small = getenv("FORMD_TEST_SMALL");
    char big[ID_LEN + 1];
    long rss0, peak0;
    bool reset;
    int fmt;

    if (small && !strcmp(small, "1")) {
        printf("  skipped (FORMD_TEST_SMALL=1)\n");
        return;
    }
    /* 1,000,000 rows: the 5 meta columns and 5 form columns. */
    id_new(big);
    execf(f, "INSERT INTO form_columns VALUES "
          "('%1$s', 1, 'name', 'name', 'text', 'VARCHAR', NULL),"
          "('%1$s', 2, 'n', 'n', 'integer', 'BIGINT', NULL),"
          "('%1$s', 3, 'x', 'x', 'number', 'DOUBLE', NULL),"
          "('%1$s', 4, 'day', 'day', 'date', 'DATE', NULL),"
          "('%1$s', 5, 'tags', 'tags', 'multichoice', 'VARCHAR[]', NULL)", big);
    execf(f, "CREATE TABLE \"f_%s\" (" LAYOUT_META_DDL ", name VARCHAR, n BIGINT, x DOUBLE, "
          "day DATE, tags VARCHAR[])", big);
    execf(f, "INSERT INTO \"f_%s\" SELECT printf('%%026d', i), 1 + i %% 5, "
          "CASE WHEN i %% 7 = 0 THEN 'reviewed' ELSE 'new' END, "
          "TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i), "
          "TIMESTAMPTZ '2024-06-01 00:00:00+00' + to_seconds(i), NULL, "
          "'person ' || i || ', \"q\"', (random() * 1e9)::BIGINT, random(), "
          "DATE '1950-01-01' + (i %% 20000)::INTEGER, "
          "CASE WHEN i %% 3 = 0 THEN ['a', 'b'] ELSE ['c'] END "
          "FROM range(1000000) r(i)", big);
    memcpy(f->form, big, sizeof(big));
    printf("  %-8s %8s %12s %12s %14s\n", "format", "ms", "bytes", "RSS KiB", "peak +KiB");
    for (fmt = EXPORT_CSV; fmt <= EXPORT_XLSX; fmt++) {
        o.format = (enum export_format)fmt;
        snprintf(sql, sizeof(sql), "big.%s", export_format_ext(o.format));
        path_in(f, path, sizeof(path), sql);
        /* Peak growth over the RSS at the start (the peak so far if it cannot be reset). */
        reset = reset_peak();
        rss0 = rss_kb();
        peak0 = reset ? rss0 : max_rss_kb();
        do_export(f, &o, path, &st);
        printf("  %-8s %8" PRId64 " %12" PRIu64 " %12ld %14ld%s\n", export_format_ext(o.format),
               st.duration_ms, st.bytes, rss0, max_rss_kb() - peak0,
               reset ? "" : " (over the earlier peak)");
        assert_int_equal(st.rows, 1000000);
        if (fmt == EXPORT_CSV)
            snprintf(sql, sizeof(sql), "SELECT count(*) FROM read_csv('%s')", path);
        else if (fmt == EXPORT_JSONL)
            snprintf(sql, sizeof(sql), "SELECT count(*) FROM read_ndjson_objects('%s')", path);
        else if (fmt == EXPORT_PARQUET)
            snprintf(sql, sizeof(sql), "SELECT count(*) FROM read_parquet('%s')", path);
        if (fmt != EXPORT_XLSX)
            assert_int_equal(count(f, sql), 1000000);
        assert_int_equal(unlink(path), 0);
    }
    printf("  DuckDB memory_limit 512MB; RSS at the end: %ld KiB\n", rss_kb());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_names),
        cmocka_unit_test_setup_teardown(csv_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(csv_bom_and_formula_guard, setup, teardown),
        cmocka_unit_test_setup_teardown(jsonl_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(parquet_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(xlsx_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(filters_and_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_form, setup, teardown),
        cmocka_unit_test_setup_teardown(header_collisions, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_options_and_unknown_form, setup, teardown),
        cmocka_unit_test_setup_teardown(write_failures_leave_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(progress_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(parquet_cancel_mid_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(survives_allocation_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(million_rows_bounded_memory, setup, teardown),
    };
    if (find_checker() != 0) {
        fprintf(stderr, "cannot find xlsx_check.py (tried '%s'); set FORMD_SRC_DIR\n", checker);
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
