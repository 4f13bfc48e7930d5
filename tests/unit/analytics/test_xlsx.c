/*
 * test_xlsx.c - the streaming XLSX writer.
 *
 * Each case writes a file into the test's own temporary directory and has
 * xlsx_check.py (next to this file) read it back with openpyxl against a
 * JSON spec built here: sheet names, header on every sheet, rows per sheet,
 * chosen cells with their types. Small sheets (max_rows_per_sheet = 5) test
 * the split; one 200,000 x 10 file with the real limit shows that memory
 * stays flat.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analytics/xlsx.h"
#include "core/buf.h"
#include "core/mem.h"

extern char **environ;

static char tmp[256];                /* this run's directory */
static char checker[PATH_MAX];      /* xlsx_check.py */

/* ---- fixture ---- */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

/* xlsx_check.py sits next to this file: found from the binary's path
 * (build[/asan]/unit/analytics/test_xlsx), or FORMD_SRC_DIR. */
static int find_checker(void)
{
    static const char *const tails[] = { "/build/unit/analytics/test_xlsx",
                                         "/build/asan/unit/analytics/test_xlsx" };
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

static int group_setup(void **state)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmp, sizeof(tmp), "%s/formd-xlsx-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp))
        return -1;
    if (find_checker() != 0) {
        fprintf(stderr, "cannot find xlsx_check.py (tried '%s'); set FORMD_SRC_DIR\n", checker);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    return nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmp, name);
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int dir_entries(const char *p)
{
    DIR *d = opendir(p);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static int open_fds(void)
{
    return dir_entries("/proc/self/fd");
}

/* ---- the spec for xlsx_check.py ---- */

struct spec {
    struct buf b;
    int ncells;
};

static void spec_init(struct spec *s, const char *const *sheets, size_t nsheets,
                      const char *const *header, size_t ncols, const int *rows)
{
    size_t i;
    buf_init(&s->b, 1 << 22);
    s->ncells = 0;
    buf_adds(&s->b, "{\"frozen\": true, \"sheets\": [");
    for (i = 0; i < nsheets; i++) {
        buf_adds(&s->b, i ? ", \"" : "\"");
        buf_add_json_str(&s->b, sheets[i], strlen(sheets[i]));
        buf_adds(&s->b, "\"");
    }
    buf_adds(&s->b, "], \"header\": [");
    for (i = 0; i < ncols; i++) {
        buf_adds(&s->b, i ? ", \"" : "\"");
        buf_add_json_str(&s->b, header[i], strlen(header[i]));
        buf_adds(&s->b, "\"");
    }
    buf_adds(&s->b, "], \"rows\": [");
    for (i = 0; i < nsheets; i++)
        buf_printf(&s->b, "%s%d", i ? ", " : "", rows[i]);
    buf_adds(&s->b, "], \"cells\": [");
}

/* One expected cell; extra is more JSON members (", \"value\": 1") or "". */
static void spec_cell(struct spec *s, int sheet, int row, int col, const char *type,
                      const char *extra)
{
    buf_printf(&s->b, "%s{\"sheet\": %d, \"row\": %d, \"col\": %d, \"type\": \"%s\"%s}",
               s->ncells++ ? ", " : "", sheet, row, col, type, extra);
}

/* A string cell whose shown text must be v[0 .. n-1]. */
static void spec_str(struct spec *s, int sheet, int row, int col, const char *v, size_t n)
{
    struct buf e;
    buf_init(&e, 1 << 20);
    buf_adds(&e, ", \"value\": \"");
    buf_add_json_str(&e, v, n);
    buf_adds(&e, "\"");
    spec_cell(s, sheet, row, col, "str", e.p);
    buf_release(&e);
}

/* Runs xlsx_check.py on file against s; returns its exit status. */
static int spec_check(struct spec *s, const char *file)
{
    char sp[PATH_MAX];
    char *argv[5];
    FILE *f;
    pid_t pid;
    int st;

    buf_adds(&s->b, "]}\n");
    snprintf(sp, sizeof(sp), "%s.spec.json", file);
    f = fopen(sp, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(s->b.p, 1, s->b.len, f), s->b.len);
    assert_int_equal(fclose(f), 0);
    buf_release(&s->b);
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

/* ---- cases ---- */

static const char *const hdr6[] = { "id", "name", "score", "ok", "day", "at" };

/* 11 rows, 5 rows a sheet counting the header: 4 + 4 + 3 on three sheets. */
static void splits_into_sheets_with_headers(void **state)
{
    static const char *const names[] = { "data", "data (2)", "data (3)" };
    static const int rows[] = { 4, 4, 3 };
    struct xlsx_options opt = { .max_rows_per_sheet = 5, .tmpdir = tmp };
    struct fmd_err err = {0};
    struct xlsx *x;
    struct spec s;
    char file[PATH_MAX], v[64];
    int i;

    path_in(file, sizeof(file), "split.xlsx");
    assert_int_equal(xlsx_open(file, hdr6, 6, &opt, &x, &err), 0);
    assert_int_equal(xlsx_sheets(x), 1);
    spec_init(&s, names, 3, hdr6, 6, rows);
    for (i = 0; i < 11; i++) {
        int sheet = i / 4, row = i % 4 + 2;
        char name[32];
        snprintf(name, sizeof(name), "row %d", i);
        assert_int_equal(xlsx_integer(x, 0, i), 0);
        assert_int_equal(xlsx_string(x, 1, name, strlen(name)), 0);
        assert_int_equal(xlsx_number(x, 2, i + 0.25), 0);
        assert_int_equal(xlsx_bool(x, 3, i % 2), 0);
        assert_int_equal(xlsx_date(x, 4, 2024, 2, 29 - i), 0);
        assert_int_equal(xlsx_datetime(x, 5, 1700000000 + i * 3600, 0), 0);
        assert_int_equal(xlsx_end_row(x), 0);
        assert_int_equal(xlsx_rows(x), (uint64_t)i + 1);
        snprintf(v, sizeof(v), ", \"value\": %d", i);
        spec_cell(&s, sheet, row, 0, "int", v);
        spec_str(&s, sheet, row, 1, name, strlen(name));
        snprintf(v, sizeof(v), ", \"value\": %d.25", i);
        spec_cell(&s, sheet, row, 2, "float", v);
        spec_cell(&s, sheet, row, 3, "bool", i % 2 ? ", \"value\": true" : ", \"value\": false");
        snprintf(v, sizeof(v), ", \"value\": \"2024-02-%02d\"", 29 - i);
        spec_cell(&s, sheet, row, 4, "date", v);
        {
            time_t t = 1700000000 + i * 3600;
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(v, sizeof(v), ", \"value\": \"%Y-%m-%dT%H:%M:%S\"", &tm);
        }
        spec_cell(&s, sheet, row, 5, "datetime", v);
    }
    assert_int_equal(xlsx_sheets(x), 3);
    assert_int_equal(xlsx_rows(x), 11);
    assert_int_equal(xlsx_close(x, &err), 0);
    assert_true(exists(file));
    assert_int_equal(spec_check(&s, file), 0);
}

/* 8 rows fill two sheets exactly: no third, empty sheet. 0 rows: the header. */
static void exact_fill_adds_no_empty_sheet(void **state)
{
    static const char *const names[] = { "data", "data (2)" };
    static const int rows[] = { 4, 4 }, none[] = { 0 };
    static const char *const hdr[] = { "n" };
    struct xlsx_options opt = { .max_rows_per_sheet = 5 };
    struct fmd_err err = {0};
    struct xlsx *x;
    struct spec s;
    char file[PATH_MAX];
    int i;

    path_in(file, sizeof(file), "exact.xlsx");
    assert_int_equal(xlsx_open(file, hdr, 1, &opt, &x, &err), 0);
    for (i = 0; i < 8; i++) {
        assert_int_equal(xlsx_integer(x, 0, i), 0);
        assert_int_equal(xlsx_end_row(x), 0);
    }
    assert_int_equal(xlsx_sheets(x), 2);
    assert_int_equal(xlsx_close(x, &err), 0);
    spec_init(&s, names, 2, hdr, 1, rows);
    spec_cell(&s, 1, 5, 0, "int", ", \"value\": 7");
    assert_int_equal(spec_check(&s, file), 0);

    path_in(file, sizeof(file), "empty.xlsx");
    assert_int_equal(xlsx_open(file, hdr, 1, NULL, &x, &err), 0);
    assert_int_equal(xlsx_rows(x), 0);
    assert_int_equal(xlsx_close(x, &err), 0);
    spec_init(&s, names, 1, hdr, 1, none);
    assert_int_equal(spec_check(&s, file), 0);
}

/* Long, formula-looking, control, invalid and XML-special strings. */
static void strings_stay_text_and_fit(void **state)
{
    static const char *const names[] = { "data" };
    static const char *const hdr[] = { "text", "=not a formula", "tab\there" };
    static const int rows[] = { 5 };
    static const char *const formulas[] = { "=1+1", "+1", "-1", "@SUM(A1:A2)",
                                            "=HYPERLINK(\"http://x\")" };
    struct fmd_err err = {0};
    struct xlsx *x;
    struct spec s;
    char file[PATH_MAX], *big;
    size_t i, n = 40000;
    int r;

    path_in(file, sizeof(file), "strings.xlsx");
    assert_int_equal(xlsx_open(file, hdr, 3, NULL, &x, &err), 0);
    spec_init(&s, names, 1, hdr, 3, rows);
    big = malloc(n * 4);
    assert_non_null(big);

    /* Row 2: over-long strings, cut at a character boundary. */
    memset(big, 'a', n);
    assert_int_equal(xlsx_string(x, 0, big, n), 0);
    spec_cell(&s, 0, 2, 0, "str", ", \"len16\": 32767, \"prefix\": \"aaa\", \"suffix\": \"aaa\"");
    for (i = 0; i < n; i++)                 /* U+1F600: 4 bytes, 2 UTF-16 units */
        memcpy(big + 4 * i, "\xf0\x9f\x98\x80", 4);
    assert_int_equal(xlsx_string(x, 1, big, n * 4), 0);
    spec_cell(&s, 0, 2, 1, "str", ", \"len16\": 32766, \"suffix\": \"\\ud83d\\ude00\"");
    memset(big, 'b', 32766);                /* 32,766 + 1 three-byte char fits */
    memcpy(big + 32766, "\xe2\x82\xac", 3);
    assert_int_equal(xlsx_string(x, 2, big, 32769), 0);
    spec_cell(&s, 0, 2, 2, "str", ", \"len16\": 32767, \"suffix\": \"b\\u20ac\"");
    assert_int_equal(xlsx_truncated_cells(x), 2);
    assert_int_equal(xlsx_end_row(x), 0);

    /* Row 3: formulas stay text. */
    for (i = 0; i < 3; i++) {
        assert_int_equal(xlsx_string(x, i, formulas[i], strlen(formulas[i])), 0);
        spec_str(&s, 0, 3, (int)i, formulas[i], strlen(formulas[i]));
    }
    assert_int_equal(xlsx_end_row(x), 0);
    r = 4;
    for (i = 3; i < 5; i++) {
        assert_int_equal(xlsx_string(x, i - 3, formulas[i], strlen(formulas[i])), 0);
        spec_str(&s, 0, r, (int)(i - 3), formulas[i], strlen(formulas[i]));
    }

    /* Row 4, col 2: control characters (NUL, CR included) round-trip. */
    {
        static const char ctl[] = "a\x01" "b\rc\0d\x1f" "e\tf\ng\x7f";
        assert_int_equal(xlsx_string(x, 2, ctl, sizeof(ctl) - 1), 0);
        spec_str(&s, 0, r, 2, ctl, sizeof(ctl) - 1);
    }
    assert_int_equal(xlsx_end_row(x), 0);

    /* Row 5: invalid UTF-8 and U+FFFE become U+FFFD; a literal escape stays. */
    {
        static const char bad[] = "ok\xff" "x\xe2\x82" "y\xed\xa0\x80" "z\xc0\xaf" "w\xef\xbf\xbe";
        static const char want[] = "ok\xef\xbf\xbd" "x\xef\xbf\xbd" "y\xef\xbf\xbd\xef\xbf\xbd"
                                   "\xef\xbf\xbd" "z\xef\xbf\xbd\xef\xbf\xbd" "w\xef\xbf\xbd";
        static const char lit[] = "keep _x0041_ and _X004a_ and _x00zz_";
        assert_int_equal(xlsx_string(x, 0, bad, sizeof(bad) - 1), 0);
        spec_str(&s, 0, 5, 0, want, sizeof(want) - 1);
        assert_int_equal(xlsx_string(x, 1, lit, sizeof(lit) - 1), 0);
        spec_str(&s, 0, 5, 1, lit, sizeof(lit) - 1);
        static const char xml[] = "<&>\"' ]]> \xc3\xa9";
        assert_int_equal(xlsx_string(x, 2, xml, sizeof(xml) - 1), 0);
        spec_str(&s, 0, 5, 2, xml, sizeof(xml) - 1);
        assert_int_equal(xlsx_replaced_cells(x), 1);
    }
    assert_int_equal(xlsx_end_row(x), 0);

    /* Row 6: the empty string, a blank and a space. */
    assert_int_equal(xlsx_string(x, 0, "", 0), 0);
    assert_int_equal(xlsx_blank(x, 1), 0);
    assert_int_equal(xlsx_string(x, 2, "  x ", 4), 0);
    spec_cell(&s, 0, 6, 0, "none", "");
    spec_cell(&s, 0, 6, 1, "none", "");
    spec_str(&s, 0, 6, 2, "  x ", 4);
    assert_int_equal(xlsx_end_row(x), 0);

    assert_int_equal(xlsx_close(x, &err), 0);
    free(big);
    assert_int_equal(spec_check(&s, file), 0);
}

/* Numbers, big integers, booleans, dates and times, with Excel's ranges. */
static void values_keep_their_types(void **state)
{
    static const char *const names[] = { "data" };
    static const char *const hdr[] = { "a", "b", "c", "d", "e", "f" };
    static const int rows[] = { 4 };
    struct fmd_err err = {0};
    struct xlsx *x;
    struct spec s;
    char file[PATH_MAX];

    path_in(file, sizeof(file), "values.xlsx");
    assert_int_equal(xlsx_open(file, hdr, 6, NULL, &x, &err), 0);
    spec_init(&s, names, 1, hdr, 6, rows);

    /* Row 2: integers; past 15 digits they are text. */
    assert_int_equal(xlsx_integer(x, 0, 999999999999999LL), 0);
    spec_cell(&s, 0, 2, 0, "int", ", \"value\": 999999999999999");
    assert_int_equal(xlsx_integer(x, 1, 1000000000000000LL), 0);
    spec_str(&s, 0, 2, 1, "1000000000000000", 16);
    assert_int_equal(xlsx_integer(x, 2, 9007199254740993LL), 0);
    spec_str(&s, 0, 2, 2, "9007199254740993", 16);
    assert_int_equal(xlsx_integer(x, 3, INT64_MIN), 0);
    spec_str(&s, 0, 2, 3, "-9223372036854775808", 20);
    assert_int_equal(xlsx_integer(x, 4, -42), 0);
    spec_cell(&s, 0, 2, 4, "int", ", \"value\": -42");
    assert_int_equal(xlsx_bool(x, 5, 7), 0);
    spec_cell(&s, 0, 2, 5, "bool", ", \"value\": true");
    assert_int_equal(xlsx_end_row(x), 0);

    /* Row 3: doubles, NaN and infinities as text. */
    assert_int_equal(xlsx_number(x, 0, 0.1), 0);
    spec_cell(&s, 0, 3, 0, "float", ", \"value\": 0.1");
    assert_int_equal(xlsx_number(x, 1, -1.5e300), 0);
    spec_cell(&s, 0, 3, 1, "float", ", \"value\": -1.5e300");
    assert_int_equal(xlsx_number(x, 2, NAN), 0);
    spec_str(&s, 0, 3, 2, "NaN", 3);
    assert_int_equal(xlsx_number(x, 3, -INFINITY), 0);
    spec_str(&s, 0, 3, 3, "-Infinity", 9);
    assert_int_equal(xlsx_bool(x, 4, 0), 0);
    spec_cell(&s, 0, 3, 4, "bool", ", \"value\": false");
    assert_int_equal(xlsx_end_row(x), 0);

    /* Row 4: dates around Excel's 1900 leap-year bug and its range. */
    assert_int_equal(xlsx_date(x, 0, 1900, 1, 1), 0);
    spec_cell(&s, 0, 4, 0, "date", ", \"value\": \"1900-01-01\"");
    assert_int_equal(xlsx_date(x, 1, 1900, 3, 1), 0);
    spec_cell(&s, 0, 4, 1, "date", ", \"value\": \"1900-03-01\"");
    assert_int_equal(xlsx_date(x, 2, 9999, 12, 31), 0);
    spec_cell(&s, 0, 4, 2, "date", ", \"value\": \"9999-12-31\"");
    assert_int_equal(xlsx_date(x, 3, 1899, 12, 31), 0);
    spec_str(&s, 0, 4, 3, "1899-12-31", 10);
    assert_int_equal(xlsx_date(x, 4, 10000, 1, 1), 0);
    spec_str(&s, 0, 4, 4, "+10000-01-01", 12);
    assert_int_equal(xlsx_date(x, 5, 2023, 2, 29), FMD_EINVAL);
    assert_int_equal(xlsx_date(x, 5, 2023, 13, 1), FMD_EINVAL);
    assert_int_equal(xlsx_datetime(x, 5, 0, 1.0), FMD_EINVAL);
    assert_int_equal(xlsx_datetime(x, 5, 0, NAN), FMD_EINVAL);
    assert_int_equal(xlsx_string(x, 6, "x", 1), FMD_EINVAL);  /* no column 6 */
    assert_int_equal(xlsx_end_row(x), 0);

    /* Row 5: instants; before 1900 as ISO text. */
    assert_int_equal(xlsx_datetime(x, 0, 0, 0), 0);
    spec_cell(&s, 0, 5, 0, "datetime", ", \"value\": \"1970-01-01T00:00:00\"");
    assert_int_equal(xlsx_datetime(x, 1, 1709209845, 0.789), 0);
    spec_cell(&s, 0, 5, 1, "datetime", ", \"value\": \"2024-02-29T12:30:45.789\"");
    assert_int_equal(xlsx_datetime(x, 2, -1, 0.5), 0);
    spec_cell(&s, 0, 5, 2, "datetime", ", \"value\": \"1969-12-31T23:59:59.500\"");
    assert_int_equal(xlsx_datetime(x, 3, -2208988801LL, 0), 0);   /* 1899-12-31T23:59:59Z */
    spec_str(&s, 0, 5, 3, "1899-12-31T23:59:59Z", 20);
    assert_int_equal(xlsx_datetime(x, 4, 253402300799LL, 0), 0); /* 9999-12-31T23:59:59Z */
    spec_cell(&s, 0, 5, 4, "datetime", ", \"value\": \"9999-12-31T23:59:59\"");
    assert_int_equal(xlsx_end_row(x), 0);

    assert_int_equal(xlsx_close(x, &err), 0);
    assert_int_equal(spec_check(&s, file), 0);
}

/* Sheet names lose the characters Excel forbids and stay within 31. */
static void sheet_names_are_sanitised(void **state)
{
    static const char *const hdr[] = { "v" };
    static const struct { const char *base; const char *want[3]; } cases[] = {
        { "Sales [Q1]: a/b*c?d\\e", { "Sales _Q1__ a_b_c_d_e", "Sales _Q1__ a_b_c_d_e (2)",
                                      "Sales _Q1__ a_b_c_d_e (3)" } },
        { "0123456789abcdefghijklmnopqrstuvwxyz", { "0123456789abcdefghijklmnopqrstu",
                                                    "0123456789abcdefghijklmnopq (2)",
                                                    "0123456789abcdefghijklmnopq (3)" } },
        { "'quoted'", { "_quoted_", "_quoted' (2)", "_quoted' (3)" } },
        { "History", { "History_", "History_ (2)", "History_ (3)" } },
        { "r\xc3\xa9sum\xc3\xa9\x01", { "r\xc3\xa9sum\xc3\xa9_", "r\xc3\xa9sum\xc3\xa9_ (2)",
                                        "r\xc3\xa9sum\xc3\xa9_ (3)" } },
    };
    static const int rows[] = { 1, 1, 1 };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct xlsx_options opt = { .max_rows_per_sheet = 2, .sheet_name = cases[i].base };
        struct fmd_err err = {0};
        struct xlsx *x;
        struct spec s;
        char file[PATH_MAX], name[32];
        int r;

        snprintf(name, sizeof(name), "names%zu.xlsx", i);
        path_in(file, sizeof(file), name);
        assert_int_equal(xlsx_open(file, hdr, 1, &opt, &x, &err), 0);
        for (r = 0; r < 3; r++) {
            assert_int_equal(xlsx_integer(x, 0, r), 0);
            assert_int_equal(xlsx_end_row(x), 0);
        }
        assert_int_equal(xlsx_close(x, &err), 0);
        spec_init(&s, cases[i].want, 3, hdr, 1, rows);
        assert_int_equal(spec_check(&s, file), 0);
    }
}

/* A sheet whose XML would grow too big for a zip part ends early. */
static void sheet_bytes_split_too(void **state)
{
    static const char *const hdr[] = { "text" };
    struct xlsx_options opt = { .max_sheet_bytes = 10000 };
    struct fmd_err err = {0};
    struct xlsx *x;
    char file[PATH_MAX], text[500];
    int i;

    path_in(file, sizeof(file), "bytes.xlsx");
    memset(text, 'q', sizeof(text));
    assert_int_equal(xlsx_open(file, hdr, 1, &opt, &x, &err), 0);
    for (i = 0; i < 100; i++) {
        assert_int_equal(xlsx_string(x, 0, text, sizeof(text)), 0);
        assert_int_equal(xlsx_end_row(x), 0);
    }
    assert_true(xlsx_sheets(x) >= 5);
    assert_true(xlsx_sheets(x) <= 10);
    assert_int_equal(xlsx_close(x, &err), 0);
}

static void bad_arguments_are_einval(void **state)
{
    static const char *const hdr[] = { "a", NULL };
    struct xlsx_options opt = { .max_rows_per_sheet = 1 };
    struct fmd_err err = {0};
    struct xlsx *x = (struct xlsx *)&err;
    char file[PATH_MAX];

    path_in(file, sizeof(file), "einval.xlsx");
    assert_int_equal(xlsx_open(file, NULL, 1, NULL, &x, &err), FMD_EINVAL);
    assert_null(x);
    assert_int_equal(err.code, FMD_EINVAL);
    assert_true(strlen(err.msg) > 0);
    assert_int_equal(xlsx_open(file, hdr, 0, NULL, &x, &err), FMD_EINVAL);
    assert_int_equal(xlsx_open(file, hdr, 2, NULL, &x, &err), FMD_EINVAL);   /* NULL header */
    assert_int_equal(xlsx_open(file, hdr, XLSX_MAX_COLS + 1, NULL, &x, &err), FMD_EINVAL);
    assert_int_equal(xlsx_open(file, hdr, 1, &opt, &x, &err), FMD_EINVAL);
    assert_int_equal(xlsx_open(NULL, hdr, 1, NULL, &x, &err), FMD_EINVAL);
    assert_int_equal(xlsx_open("", hdr, 1, NULL, &x, &err), FMD_EINVAL);
    assert_null(x);
    assert_false(exists(file));
    xlsx_abort(NULL);
}

static void unwritable_places_are_eio(void **state)
{
    static const char *const hdr[] = { "a" };
    struct fmd_err err = {0};
    struct xlsx *x;
    struct xlsx_options opt = { .tmpdir = "/nonexistent-formd-dir" };
    char file[PATH_MAX];

    assert_int_equal(xlsx_open("/nonexistent-formd-dir/out.xlsx", hdr, 1, NULL, &x, &err),
                     FMD_EIO);
    assert_null(x);
    assert_non_null(strstr(err.msg, "'/nonexistent-formd-dir/out.xlsx.tmp'"));
    assert_non_null(strstr(err.msg, "No such file"));
    assert_false(exists("/nonexistent-formd-dir"));

    path_in(file, sizeof(file), "badtmp.xlsx");
    assert_int_equal(xlsx_open(file, hdr, 1, &opt, &x, &err), FMD_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent-formd-dir"));
    assert_false(exists(file));

    /* The directory goes away between open and close. */
    {
        char dir[512], tmpf[PATH_MAX + 8];
        path_in(dir, sizeof(dir), "gone");
        assert_int_equal(mkdir(dir, 0755), 0);
        snprintf(file, sizeof(file), "%s/out.xlsx", dir);
        assert_int_equal(xlsx_open(file, hdr, 1, NULL, &x, &err), 0);
        assert_int_equal(xlsx_string(x, 0, "v", 1), 0);
        assert_int_equal(xlsx_end_row(x), 0);
        snprintf(tmpf, sizeof(tmpf), "%s.tmp", file);
        assert_int_equal(unlink(tmpf), 0);
        assert_int_equal(rmdir(dir), 0);
        assert_int_equal(xlsx_close(x, &err), FMD_EIO);
        printf("     close into a removed directory: %s\n", err.msg);
        assert_non_null(strstr(err.msg, file));
        assert_false(exists(file));
        assert_false(exists(tmpf));
    }
}

/*
 * A full disk, simulated with RLIMIT_FSIZE (writes past it fail with EFBIG):
 * first the sheets' temporary data, then the zip itself (many small sheets
 * of random text, each under the limit, the whole file over it).
 */
static void full_disk_is_eio_and_leaves_nothing(void **state)
{
    static const char *const hdr[] = { "a", "b" };
    struct rlimit old, lim = { .rlim_cur = 256 * 1024 };
    struct fmd_err err = {0};
    struct xlsx *x;
    char file[PATH_MAX], tmpf[PATH_MAX + 8], text[1000];
    unsigned seed = 1;
    int pass, i, rc, fds = open_fds();

    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim.rlim_max = old.rlim_max;
    for (pass = 0; pass < 2; pass++) {
        struct xlsx_options opt = { .tmpdir = tmp, .max_rows_per_sheet = pass ? 20 : 0 };
        path_in(file, sizeof(file), pass ? "full-zip.xlsx" : "full-tmp.xlsx");
        snprintf(tmpf, sizeof(tmpf), "%s.tmp", file);
        assert_int_equal(xlsx_open(file, hdr, 2, &opt, &x, &err), 0);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        rc = 0;
        for (i = 0; i < 2000 && !rc; i++) {
            size_t k;
            for (k = 0; k < sizeof(text); k++)
                text[k] = (char)('!' + (rand_r(&seed) % 90));
            rc = xlsx_string(x, 0, text, sizeof(text));
            if (!rc)
                rc = xlsx_integer(x, 1, i);
            if (!rc)
                rc = xlsx_end_row(x);
        }
        if (!rc)
            rc = xlsx_close(x, &err);
        else
            assert_int_equal(xlsx_close(x, &err), rc);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        printf("     full disk (%s): rc %d after %d rows: %s\n", pass ? "zip" : "temporary data",
               rc, i, err.msg);
        assert_int_equal(rc, FMD_EIO);
        assert_int_equal(err.code, FMD_EIO);
        assert_true(strlen(err.msg) > 0);
        assert_false(exists(file));
        assert_false(exists(tmpf));
    }
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(open_fds(), fds);
}

/* Abort leaves no file, no temporary file and no open descriptor. */
static void abort_leaves_nothing(void **state)
{
    static const char *const hdr[] = { "a" };
    struct xlsx_options opt = { .max_rows_per_sheet = 3 };
    struct fmd_err err = {0};
    struct xlsx *x;
    char file[PATH_MAX], tmpf[PATH_MAX + 8], dir[512];
    int i, fds;

    path_in(dir, sizeof(dir), "abort");
    assert_int_equal(mkdir(dir, 0755), 0);
    opt.tmpdir = dir;
    snprintf(file, sizeof(file), "%s/out.xlsx", dir);
    snprintf(tmpf, sizeof(tmpf), "%s.tmp", file);
    fds = open_fds();
    assert_int_equal(xlsx_open(file, hdr, 1, &opt, &x, &err), 0);
    assert_true(exists(tmpf));
    for (i = 0; i < 10; i++) {
        assert_int_equal(xlsx_integer(x, 0, i), 0);
        assert_int_equal(xlsx_end_row(x), 0);
    }
    assert_int_equal(xlsx_sheets(x), 5);
    xlsx_abort(x);
    assert_false(exists(file));
    assert_false(exists(tmpf));
    assert_int_equal(dir_entries(dir), 0);     /* temporary files are unlinked */
    assert_int_equal(open_fds(), fds);

    /* A file already at path stays as it was until a close succeeds. */
    {
        char got[8] = "";
        FILE *f = fopen(file, "w");
        assert_non_null(f);
        fputs("old", f);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(xlsx_open(file, hdr, 1, &opt, &x, &err), 0);
        assert_int_equal(xlsx_integer(x, 0, 1), 0);
        xlsx_abort(x);
        f = fopen(file, "r");
        assert_non_null(f);
        assert_non_null(fgets(got, sizeof(got), f));
        fclose(f);
        assert_string_equal(got, "old");
        assert_false(exists(tmpf));
        assert_int_equal(unlink(file), 0);
    }
}

/* Failing the Nth allocation anywhere: a clean FMD_ENOMEM, no leak, no file. */
static void survives_allocation_failure(void **state)
{
    static const char *const hdr[] = { "a", "b" };
    struct xlsx_options opt = { .max_rows_per_sheet = 3 };
    char file[PATH_MAX];
    long n;

    path_in(file, sizeof(file), "nomem.xlsx");
    for (n = 1;; n++) {
        struct fmd_err err = {0};
        struct xlsx *x = NULL;
        int rc, i;

        fmd_mem_fail_at(n);
        rc = xlsx_open(file, hdr, 2, &opt, &x, &err);
        for (i = 0; !rc && i < 7; i++) {
            rc = xlsx_string(x, 0, "text", 4);
            if (!rc)
                rc = xlsx_integer(x, 1, i);
            if (!rc)
                rc = xlsx_end_row(x);
        }
        if (x)
            rc = rc ? (xlsx_abort(x), rc) : xlsx_close(x, &err);
        fmd_mem_fail_at(0);
        if (!rc)
            break;
        assert_int_equal(rc, FMD_ENOMEM);
        assert_false(exists(file));
    }
    printf("     succeeded once %ld allocations were allowed\n", n - 1);
    assert_true(exists(file));
}

static long maxrss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* A line of /proc/self/status in KiB ("VmHWM", "VmRSS"), or -1. */
static long status_kib(const char *key)
{
    char line[256];
    size_t n = strlen(key);
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, key, n) && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

/* Starts VmHWM (the peak) again from the current RSS; 0 if it could. */
static int reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    int rc;

    if (!f)
        return -1;
    rc = fputs("5", f) < 0;
    return fclose(f) || rc ? -1 : 0;
}

/* 200,000 rows x 10 columns with the real sheet limit: memory stays flat. */
static void large_export_in_bounded_memory(void **state)
{
    static const char *const hdr[] = { "id", "name", "email", "score", "ok",
                                       "day", "at", "notes", "city", "amount" };
    static const char *const names[] = { "data" };
    static const int rows[] = { 200000 };
    struct xlsx_options opt = { .tmpdir = tmp };
    struct fmd_err err = {0};
    struct xlsx *x;
    struct spec s;
    struct timespec t0, t1, t2;
    char file[PATH_MAX], v[128];
    long before, after, rss0, hwm;
    struct stat st;
    int i, rc, reset;

    path_in(file, sizeof(file), "large.xlsx");
    reset = reset_peak() == 0;
    rss0 = status_kib("VmRSS");
    before = maxrss_kib();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(xlsx_open(file, hdr, 10, &opt, &x, &err), 0);
    for (i = 0; i < 200000; i++) {
        int n;
        rc = xlsx_integer(x, 0, i);
        n = snprintf(v, sizeof(v), "name %d", i);
        rc |= xlsx_string(x, 1, v, (size_t)n);
        n = snprintf(v, sizeof(v), "user%d@example.com", i);
        rc |= xlsx_string(x, 2, v, (size_t)n);
        rc |= xlsx_number(x, 3, i * 0.5);
        rc |= xlsx_bool(x, 4, i & 1);
        rc |= xlsx_date(x, 5, 2000 + i % 25, 1 + i % 12, 1 + i % 28);
        rc |= xlsx_datetime(x, 6, 1600000000 + (int64_t)i * 60, 0);
        n = snprintf(v, sizeof(v), "free text for row %d, with some words in it", i);
        rc |= xlsx_string(x, 7, v, (size_t)n);
        rc |= xlsx_string(x, 8, i % 3 ? "Lisbon" : "Z\xc3\xbcrich", i % 3 ? 6 : 7);
        rc |= xlsx_integer(x, 9, (int64_t)i * 1000003);
        rc |= xlsx_end_row(x);
        if (rc)
            fail_msg("row %d failed", i);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(xlsx_close(x, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    after = maxrss_kib();
    hwm = status_kib("VmHWM");
    assert_int_equal(stat(file, &st), 0);
    printf("     200000 x 10: rows %.2f s, close %.2f s, file %.1f MiB; ru_maxrss %ld KiB "
           "before, %ld KiB after (+%ld KiB)",
           (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
           (double)(t2.tv_sec - t1.tv_sec) + (t2.tv_nsec - t1.tv_nsec) / 1e9,
           st.st_size / 1048576.0, before, after, after - before);
    if (reset)
        printf("; peak RSS during the export %ld KiB, %+ld KiB over the start", hwm, hwm - rss0);
    printf("\n");
#if !defined(__SANITIZE_ADDRESS__)
    /* 2 million cells held in memory would take hundreds of MiB. (ASan's
     * quarantine keeps freed memory, so its figures say nothing here.) */
    assert_true(after - before < 32 * 1024);
    if (reset)
        assert_true(hwm - rss0 < 32 * 1024);
#endif

    spec_init(&s, names, 1, hdr, 10, rows);
    spec_cell(&s, 0, 2, 0, "int", ", \"value\": 0");
    spec_str(&s, 0, 100001, 1, "name 99999", 10);
    spec_cell(&s, 0, 200001, 0, "int", ", \"value\": 199999");
    spec_str(&s, 0, 200001, 8, "Lisbon", 6);
    snprintf(v, sizeof(v), ", \"value\": %" PRId64, (int64_t)199999 * 1000003);
    spec_cell(&s, 0, 200001, 9, "int", v);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(spec_check(&s, file), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("     read back with openpyxl in %.1f s\n",
           (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
}

/* The real limit: 1,048,575 data rows under the header, then "data (2)". */
static void real_limit_splits_at_excel_maximum(void **state)
{
    static const char *const hdr[] = { "n" };
    static const char *const names[] = { "data", "data (2)" };
    static const int rows[] = { XLSX_MAX_ROWS - 1, 2 };
    struct xlsx_options opt = { .tmpdir = tmp };
    struct fmd_err err = {0};
    struct xlsx *x;
    struct spec s;
    char file[PATH_MAX], v[64];
    uint32_t i;

    path_in(file, sizeof(file), "limit.xlsx");
    assert_int_equal(xlsx_open(file, hdr, 1, &opt, &x, &err), 0);
    for (i = 0; i < XLSX_MAX_ROWS + 1; i++) {
        if (xlsx_integer(x, 0, i) || xlsx_end_row(x))
            fail_msg("row %u failed", (unsigned)i);
        if (i == XLSX_MAX_ROWS - 2)
            assert_int_equal(xlsx_sheets(x), 1);
    }
    assert_int_equal(xlsx_sheets(x), 2);
    assert_int_equal(xlsx_rows(x), XLSX_MAX_ROWS + 1);
    assert_int_equal(xlsx_close(x, &err), 0);
    spec_init(&s, names, 2, hdr, 1, rows);
    snprintf(v, sizeof(v), ", \"value\": %u", XLSX_MAX_ROWS - 2);
    spec_cell(&s, 0, XLSX_MAX_ROWS, 0, "int", v);
    snprintf(v, sizeof(v), ", \"value\": %u", XLSX_MAX_ROWS - 1);
    spec_cell(&s, 1, 2, 0, "int", v);
    snprintf(v, sizeof(v), ", \"value\": %u", XLSX_MAX_ROWS);
    spec_cell(&s, 1, 3, 0, "int", v);
    assert_int_equal(spec_check(&s, file), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(large_export_in_bounded_memory),   /* first: a low baseline */
        cmocka_unit_test(splits_into_sheets_with_headers),
        cmocka_unit_test(exact_fill_adds_no_empty_sheet),
        cmocka_unit_test(strings_stay_text_and_fit),
        cmocka_unit_test(values_keep_their_types),
        cmocka_unit_test(sheet_names_are_sanitised),
        cmocka_unit_test(sheet_bytes_split_too),
        cmocka_unit_test(bad_arguments_are_einval),
        cmocka_unit_test(unwritable_places_are_eio),
        cmocka_unit_test(full_disk_is_eio_and_leaves_nothing),
        cmocka_unit_test(abort_leaves_nothing),
        cmocka_unit_test(survives_allocation_failure),
        cmocka_unit_test(real_limit_splits_at_excel_maximum),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
