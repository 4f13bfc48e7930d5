/*
 * test_suite_subset.c - runs the JSON Schema Test Suite's draft2020-12 files
 * for the keywords src/schema/validate.c supports.
 *
 * Suite file format: an array of groups {description, schema, tests: [{
 * description, data, valid}]}. Every case must pass, except those in skip[]
 * below, which need a feature formd leaves out on purpose; each is counted
 * and printed.
 *
 * Where the suite is: $JSONSCHEMA_SUITE (the suite's root, holding
 * tests/draft2020-12), else ../shared/jsonschema-suite from the repository
 * root. The root is $FORMD_SRCDIR, else this file's __FILE__ less its last
 * three components. The Makefile compiles with a relative __FILE__ and
 * scripts/run-units runs each test in a temporary directory, so when that
 * does not lead to this file the root is also looked for above the test
 * binary (/proc/self/exe: build/unit/schema/test_suite_subset).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "schema/validate.h"
#include "core/banned.h"

static const char *const files[] = {
    "type", "enum", "const", "properties", "required", "additionalProperties", "items",
    "prefixItems", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "multipleOf", "pattern", "allOf", "anyOf", "oneOf", "not",
    "if-then-else", "uniqueItems", "minItems", "maxItems", "dependentRequired",
    "boolean_schema", "contains", "minProperties", "maxProperties", "propertyNames",
    "patternProperties",
};

/* Cases that rely on what formd does not support; test NULL: the whole group. */
static const struct {
    const char *file, *group, *test, *why;
} skip[] = {
    {"not", "collect annotations inside a 'not', even if collection is disabled",
     "unevaluated property", "unevaluatedProperties is not supported"},
};

struct tally {
    int passed, skipped, failed;
};

static int skipped(const char *file, const char *group, const char *test)
{
    size_t i;

    for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
        if (skip[i].file && strcmp(skip[i].file, file) == 0 && strcmp(skip[i].group, group) == 0 &&
            (!skip[i].test || strcmp(skip[i].test, test) == 0))
            return 1;
    return 0;
}

static int is_dir(const char *path)
{
    return access(path, R_OK | X_OK) == 0;
}

/* 1 if root holds this test's source, i.e. is the repository root. */
static int is_root(const char *root)
{
    char probe[PATH_MAX + 64];

    snprintf(probe, sizeof(probe), "%s/tests/unit/schema/test_suite_subset.c", root);
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
    /* __FILE__ less tests/unit/schema/test_suite_subset.c ("" if relative) */
    snprintf(root, PATH_MAX, "%s", __FILE__);
    for (i = 0; i < 4; i++) {
        slash = strrchr(root, '/');
        *(slash ? slash : root) = '\0';
    }
    if (!root[0])
        snprintf(root, PATH_MAX, ".");
    if (is_root(root))
        return 1;
    /* The nearest directory above the binary that is the root. */
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

#define DIR_MAX (PATH_MAX + 64)

static int find_suite(char dir[DIR_MAX])
{
    const char *env = getenv("JSONSCHEMA_SUITE");
    char root[PATH_MAX];

    if (env && *env)
        snprintf(dir, DIR_MAX, "%s/tests/draft2020-12", env);
    else if (find_root(root))
        snprintf(dir, DIR_MAX, "%s/../shared/jsonschema-suite/tests/draft2020-12", root);
    else
        return 0;
    return is_dir(dir);
}

static void run_case(const char *file, const char *group, const struct schema *s,
                     const json_t *t, struct tally *tally)
{
    const char *desc = json_string_value(json_object_get(t, "description"));
    const json_t *data = json_object_get(t, "data");
    int want = json_is_true(json_object_get(t, "valid"));
    json_t *errs = NULL;
    int rc1, rc2;

    if (skipped(file, group, desc)) {
        tally->skipped++;
        return;
    }
    rc1 = schema_validate(s, data, &errs);
    rc2 = schema_validate(s, data, NULL);
    if (rc1 == (want ? 0 : FMD_EUNPROC) && rc2 == rc1 && (rc1 == 0) == (errs == NULL) &&
        (rc1 == 0 || json_array_size(errs) > 0)) {
        tally->passed++;
    } else {
        tally->failed++;
        printf("FAIL %s.json: %s / %s: expected %s, got %d (without errors: %d)\n", file, group,
               desc, want ? "valid" : "invalid", rc1, rc2);
    }
    json_decref(errs);
}

static void run_group(const char *file, const json_t *g, struct tally *tally)
{
    const char *group = json_string_value(json_object_get(g, "description"));
    const json_t *tests = json_object_get(g, "tests");
    struct fmd_err err = {0};
    struct schema *s = NULL;
    size_t i;

    if (skipped(file, group, "")) {   /* a whole-group entry */
        tally->skipped += (int)json_array_size(tests);
        return;
    }
    if (schema_compile(json_object_get(g, "schema"), &s, &err)) {
        tally->failed += (int)json_array_size(tests);
        printf("FAIL %s.json: %s: schema does not compile: %s\n", file, group, err.msg);
        return;
    }
    for (i = 0; i < json_array_size(tests); i++)
        run_case(file, group, s, json_array_get(tests, i), tally);
    schema_free(s);
}

static void test_suite_subset(void **state)
{
    char dir[DIR_MAX], path[DIR_MAX + 64];
    struct tally tally = {0};
    size_t f, g;

    if (!find_suite(dir))
        fail_msg("JSON Schema Test Suite not found: set JSONSCHEMA_SUITE (its root) or "
                 "FORMD_SRCDIR (the repository root)");
    for (f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        json_error_t je;
        json_t *doc;

        snprintf(path, sizeof(path), "%s/%s.json", dir, files[f]);
        doc = json_load_file(path, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!doc)
            fail_msg("%s: %s", path, je.text);
        for (g = 0; g < json_array_size(doc); g++)
            run_group(files[f], json_array_get(doc, g), &tally);
        json_decref(doc);
    }
    printf("suite subset (%zu files): %d passed, %d skipped, %d failed\n",
           sizeof(files) / sizeof(files[0]), tally.passed, tally.skipped, tally.failed);
    assert_int_equal(tally.failed, 0);
    assert_true(tally.passed > 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite_subset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
