/*
 * validate_bench.c - validations per second of formd's schema validator on one
 * schema and one instance, for bench/validate.sh (not part of the main build).
 *
 * Usage: validate_bench SCHEMA.json INSTANCE.json [SECONDS]
 * Prints one line: "<verdict> first-error <n>/s all-errors <n>/s json-errors <n>/s
 * heap <n>", where first-error validates without an error list (it stops at
 * the first error, like ajv's default), all-errors collects every error into a
 * struct schema_errors (like ajv's allErrors: true, which makes an array of
 * error objects), json-errors does the same and then converts the list to a
 * Jansson array (what the API's 422 body is made from; ajv has no such
 * step), and heap is what the compiled schema holds in bytes
 * (glibc's mallinfo2 around schema_compile; PCRE2's JIT code pages are
 * mapped outside the heap and not counted). The compiled schema is made once,
 * as formd does per published form version.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "schema/validate.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum mode { FIRST_ERROR, ALL_ERRORS, JSON_ERRORS };

/* One validation as the mode says; each makes and frees its own error list,
 * as a request does. */
static int validate_once(const struct schema *s, const json_t *inst, enum mode mode)
{
    struct schema_errors errs;
    json_t *arr = NULL;
    int rc;

    switch (mode) {
    case FIRST_ERROR:
        return schema_check(s, inst, NULL);
    case ALL_ERRORS:
        schema_errors_init(&errs);
        rc = schema_check(s, inst, &errs);
        schema_errors_release(&errs);
        return rc;
    case JSON_ERRORS:
        rc = schema_validate(s, inst, &arr);
        json_decref(arr);
        return rc;
    }
    return -1;
}

/* Validations per second over about secs seconds. */
static double rate(const struct schema *s, const json_t *inst, enum mode mode, double secs)
{
    double t0 = now(), t;
    long n = 0, batch = 1000, i;

    do {
        for (i = 0; i < batch; i++)
            validate_once(s, inst, mode);
        n += batch;
        t = now() - t0;
    } while (t < secs);
    return (double)n / t;
}

int main(int argc, char **argv)
{
    struct fmd_err err = {0};
    struct schema *s = NULL;
    json_error_t je;
    json_t *doc, *inst;
    double secs = argc > 3 ? atof(argv[3]) : 2.0;
    size_t heap;
    int rc;

    if (argc < 3) {
        fprintf(stderr, "usage: %s SCHEMA.json INSTANCE.json [SECONDS]\n", argv[0]);
        return 2;
    }
    doc = json_load_file(argv[1], 0, &je);
    inst = json_load_file(argv[2], JSON_DECODE_ANY, &je);
    if (!doc || !inst) {
        fprintf(stderr, "%s\n", je.text);
        return 1;
    }
    heap = mallinfo2().uordblks;
    if (schema_compile(doc, &s, &err)) {
        fprintf(stderr, "schema: %s\n", err.msg);
        return 1;
    }
    heap = mallinfo2().uordblks - heap;
    rc = schema_check(s, inst, NULL);
    rate(s, inst, ALL_ERRORS, secs / 4);   /* warm up */
    printf("%s first-error %.0f/s all-errors %.0f/s json-errors %.0f/s heap %zu\n",
           rc == 0 ? "valid" : "invalid", rate(s, inst, FIRST_ERROR, secs),
           rate(s, inst, ALL_ERRORS, secs), rate(s, inst, JSON_ERRORS, secs), heap);
    schema_free(s);
    json_decref(doc);
    json_decref(inst);
    return 0;
}
