/*
 * test_suite.c - the JSON Schema Test Suite's draft2020-12 conformance runner.
 *
 * Runs every file of tests/draft2020-12/ (required: "format" there only
 * annotates) and of tests/draft2020-12/optional/format/ (format asserted),
 * with the suite's remotes/ loaded into a schema registry under
 * http://localhost:1234/, as the suite's README asks. Prints passed / failed
 * per file and the total, and every failing case.
 *
 * Suite file format: an array of groups {description, schema, tests: [{
 * description, data, valid}]}.
 *
 * A failing case fails this test unless xfail[] below lists it, with the
 * reason; an xfail entry naming one case that now passes fails it too, so
 * the list only ever shrinks to what is still missing.
 *
 * Where the suite is: $JSONSCHEMA_SUITE (the suite's root), else
 * ../shared/jsonschema-suite from the repository root. The root is
 * $FORMD_SRCDIR, else this file's __FILE__ less its last four components, else
 * the nearest directory above the test binary (/proc/self/exe) that holds this
 * file: scripts/run-units runs each test in a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "schema/validate.h"
#include "core/banned.h"

#define DIR_MAX (PATH_MAX + 64)
#define REMOTE_BASE "http://localhost:1234/"

/*
 * Cases expected to fail, each with why. file is relative to
 * tests/draft2020-12 without ".json"; group NULL: the whole file; test NULL:
 * the whole group.
 */
static const struct xfail {
    const char *file, *group, *test, *why;
} xfail[] = {
    /* PCRE2 10.42 (Debian 12) refuses variable-width lookbehind; 10.43 accepts it. The
     * "pattern" keyword has the same limit: such a schema does not compile. */
    {"optional/format/ecmascript-regex", "ECMA 262 lookbehind is valid, including variable width",
     "a variable-width lookbehind (ES2018)", "PCRE2 10.42 has no variable-width lookbehind"},
};

struct tally {
    int passed, failed, xfailed;
};

static const struct xfail *xfail_find(const char *file, const char *group, const char *test)
{
    size_t i;

    for (i = 0; i < sizeof(xfail) / sizeof(xfail[0]); i++)
        if (strcmp(xfail[i].file, file) == 0 &&
            (!xfail[i].group || strcmp(xfail[i].group, group) == 0) &&
            (!xfail[i].test || strcmp(xfail[i].test, test) == 0))
            return &xfail[i];
    return NULL;
}

/* 1 if root holds this test's source, i.e. is the repository root. */
static int is_root(const char *root)
{
    char probe[PATH_MAX + 64];

    snprintf(probe, sizeof(probe), "%s/tests/unit/schema/test_suite.c", root);
    return access(probe, R_OK) == 0;
}

/* The repository root into root[PATH_MAX], or 0 if it cannot be found. */
static int find_root(char *root)
{
    const char *env = getenv("FORMD_SRCDIR");
    char *slash;
    ssize_t n;
    int i;

    if (env && *env) {
        snprintf(root, PATH_MAX, "%s", env);
        return 1;
    }
    snprintf(root, PATH_MAX, "%s", __FILE__);
    for (i = 0; i < 4; i++) {
        slash = strrchr(root, '/');
        *(slash ? slash : root) = '\0';
    }
    if (!root[0])
        snprintf(root, PATH_MAX, ".");
    if (is_root(root))
        return 1;
    n = readlink("/proc/self/exe", root, PATH_MAX - 1);
    if (n <= 0)
        return 0;
    root[n] = '\0';
    while ((slash = strrchr(root, '/')) && slash != root) {
        *slash = '\0';
        if (is_root(root))
            return 1;
    }
    return 0;
}

/* The suite's root into dir, or 0. */
static int find_suite(char dir[DIR_MAX])
{
    const char *env = getenv("JSONSCHEMA_SUITE");
    char root[PATH_MAX], probe[DIR_MAX + 32];

    if (env && *env)
        snprintf(dir, DIR_MAX, "%s", env);
    else if (find_root(root))
        snprintf(dir, DIR_MAX, "%s/../shared/jsonschema-suite", root);
    else
        return 0;
    snprintf(probe, sizeof(probe), "%s/tests/draft2020-12", dir);
    return access(probe, R_OK | X_OK) == 0;
}

static json_t *load(const char *path)
{
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);

    if (!doc)
        fail_msg("%s: %s", path, je.text);
    return doc;
}

/* Registers every .json under dir/rel as REMOTE_BASE + rel + name. */
static void load_remotes(struct schema_registry *reg, const char *dir, const char *rel)
{
    char path[DIR_MAX * 2], sub[DIR_MAX], uri[DIR_MAX + 64];
    struct dirent *de;
    struct stat st;
    DIR *d;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    d = opendir(path);
    assert_non_null(d);
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s%s", dir, rel, de->d_name);
        snprintf(sub, sizeof(sub), "%s%s", rel, de->d_name);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(sub, sizeof(sub), "%s%s/", rel, de->d_name);
            load_remotes(reg, dir, sub);
        } else if (n > 5 && strcmp(de->d_name + n - 5, ".json") == 0) {
            struct fmd_err err = {0};
            json_t *doc = load(path);
            snprintf(uri, sizeof(uri), REMOTE_BASE "%s", sub);
            if (schema_registry_add(reg, uri, doc, &err))
                fail_msg("remote %s: %s", uri, err.msg);
            json_decref(doc);
        }
    }
    closedir(d);
}

/* 1 if the case passes: the verdict, with and without errors, is as expected. */
static int case_passes(const struct schema *s, const json_t *t)
{
    const json_t *data = json_object_get(t, "data");
    int want = json_is_true(json_object_get(t, "valid"));
    json_t *errs = NULL;
    int rc1, rc2, ok;

    rc1 = schema_validate(s, data, &errs);
    rc2 = schema_validate(s, data, NULL);
    ok = rc1 == (want ? 0 : FMD_EUNPROC) && rc2 == rc1 && (rc1 == 0) == (errs == NULL) &&
         (rc1 == 0 || json_array_size(errs) > 0);
    json_decref(errs);
    return ok;
}

/* Counts one case's outcome; 1 if it makes the run fail. */
static int tally_case(const char *file, const char *group, const char *test, int passed,
                      const char *detail, struct tally *t)
{
    const struct xfail *x = xfail_find(file, group, test);

    if (passed && x && x->test) {
        printf("XPASS %s: %s / %s: listed as expected to fail (%s)\n", file, group, test, x->why);
        t->failed++;
        return 1;
    }
    if (passed) {
        t->passed++;
        return 0;
    }
    if (x) {
        printf("xfail %s: %s / %s%s (%s)\n", file, group, test, detail, x->why);
        t->xfailed++;
        return 0;
    }
    printf("FAIL  %s: %s / %s%s\n", file, group, test, detail);
    t->failed++;
    return 1;
}

static void run_group(const char *file, const json_t *g, const struct schema_registry *reg,
                      unsigned flags, struct tally *t)
{
    const char *group = json_string_value(json_object_get(g, "description"));
    const json_t *tests = json_object_get(g, "tests");
    struct fmd_err err = {0};
    struct schema *s = NULL;
    char detail[300];
    size_t i;
    int rc = schema_compile_ex(json_object_get(g, "schema"), reg, flags, &s, &err);

    snprintf(detail, sizeof(detail), ": schema does not compile: %s", err.msg);
    for (i = 0; i < json_array_size(tests); i++) {
        const json_t *tc = json_array_get(tests, i);
        const char *test = json_string_value(json_object_get(tc, "description"));
        tally_case(file, group, test, !rc && case_passes(s, tc), rc ? detail : "", t);
    }
    schema_free(s);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every .json in suite/tests/draft2020-12/rel, names sorted. */
static void run_dir(const char *suite, const char *rel, const struct schema_registry *reg,
                    unsigned flags, struct tally *total)
{
    char dir[DIR_MAX * 2], path[DIR_MAX * 3], file[DIR_MAX];
    char *names[256];
    size_t n = 0, i, g;
    struct dirent *de;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/tests/draft2020-12/%s", suite, rel);
    assert_non_null(d = opendir(dir));
    while ((de = readdir(d)) && n < 256) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0)
            names[n++] = strndup(de->d_name, len - 5);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), name_cmp);
    for (i = 0; i < n; i++) {
        struct tally t = {0};
        json_t *doc;
        snprintf(path, sizeof(path), "%s/%s.json", dir, names[i]);
        snprintf(file, sizeof(file), "%s%s", rel, names[i]);
        doc = load(path);
        for (g = 0; g < json_array_size(doc); g++)
            run_group(file, json_array_get(doc, g), reg, flags, &t);
        json_decref(doc);
        printf("suite %-32s %4d passed %4d failed %4d expected failures\n", file, t.passed,
               t.failed, t.xfailed);
        total->passed += t.passed;
        total->failed += t.failed;
        total->xfailed += t.xfailed;
        free(names[i]);
    }
}

static void test_suite(void **state)
{
    struct schema_registry *reg = NULL;
    struct tally total = {0};
    char suite[DIR_MAX], remotes[DIR_MAX + 16];

    if (!find_suite(suite))
        fail_msg("JSON Schema Test Suite not found: set JSONSCHEMA_SUITE (its root) or "
                 "FORMD_SRCDIR (the repository root)");
    assert_int_equal(schema_registry_new(&reg), 0);
    snprintf(remotes, sizeof(remotes), "%s/remotes", suite);
    load_remotes(reg, remotes, "");
    run_dir(suite, "", reg, SCHEMA_FORMAT_ANNOTATION, &total);
    run_dir(suite, "optional/format/", reg, 0, &total);
    printf("suite total: %d passed, %d failed, %d expected failures\n", total.passed,
           total.failed, total.xfailed);
    schema_registry_free(reg);
    assert_int_equal(total.failed, 0);
    assert_true(total.passed > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite),
    };

    setvbuf(stdout, NULL, _IOLBF, 0);   /* our lines and cmocka's in order */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
