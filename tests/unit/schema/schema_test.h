/*
 * schema_test.h - helpers shared by the src/schema/ unit tests.
 *
 * Include after cmocka.h. Test JSON is written inline as text; tj() parses
 * it and fails the test on a typo rather than passing NULL on.
 */
#ifndef FMD_TEST_SCHEMA_TEST_H
#define FMD_TEST_SCHEMA_TEST_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "schema/fields.h"
#include "schema/validate.h"

/* Parses test JSON (any value); the caller decrefs. */
static inline json_t *tj(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);

    if (!v)
        fail_msg("test JSON does not parse: %s: %s", e.text, text);
    return v;
}

/* Compiles schema text that must compile. */
static inline struct schema *compile_ok(const char *text)
{
    struct fmd_err err = {0};
    struct schema *s = NULL;
    json_t *doc = tj(text);
    int rc = schema_compile(doc, &s, &err);

    json_decref(doc);
    if (rc)
        fail_msg("schema does not compile (%d: %s): %s", rc, err.msg, text);
    return s;
}

/* schema_validate of instance text against schema text; errors may be NULL. */
static inline int check(const char *schema, const char *instance, json_t **errors)
{
    struct schema *s = compile_ok(schema);
    json_t *inst = tj(instance);
    int rc = schema_validate(s, inst, errors);

    json_decref(inst);
    schema_free(s);
    return rc;
}

/* Asserts the instance is valid, with and without an errors array. */
#define assert_valid(schema, instance)                                          \
    do {                                                                        \
        json_t *errs_ = NULL;                                                   \
        assert_int_equal(check((schema), (instance), &errs_), 0);               \
        assert_null(errs_);                                                     \
        assert_int_equal(check((schema), (instance), NULL), 0);                 \
    } while (0)

/* Asserts the instance is invalid; without an errors array too. */
#define assert_invalid(schema, instance)                                        \
    do {                                                                        \
        json_t *errs_ = NULL;                                                   \
        assert_int_equal(check((schema), (instance), &errs_), FMD_EUNPROC);     \
        assert_true(json_array_size(errs_) > 0);                                \
        json_decref(errs_);                                                     \
        assert_int_equal(check((schema), (instance), NULL), FMD_EUNPROC);       \
    } while (0)

/* Asserts error i of errs has these members (NULL: not checked). */
static inline void assert_error(const json_t *errs, size_t i, const char *path,
                                const char *schema_path, const char *keyword, const char *message)
{
    const json_t *e = json_array_get(errs, i);

    if (!e) {
        char *dump = json_dumps(errs, JSON_COMPACT);
        fail_msg("no error %zu in %s", i, dump ? dump : "(null)");
    }
    if (path)
        assert_string_equal(json_string_value(json_object_get(e, "path")), path);
    if (schema_path)
        assert_string_equal(json_string_value(json_object_get(e, "schema_path")), schema_path);
    if (keyword)
        assert_string_equal(json_string_value(json_object_get(e, "keyword")), keyword);
    if (message)
        assert_string_equal(json_string_value(json_object_get(e, "message")), message);
}

/* Validates and asserts exactly one error, with these members. */
static inline void assert_one_error(const char *schema, const char *instance, const char *path,
                                    const char *schema_path, const char *keyword,
                                    const char *message)
{
    json_t *errs = NULL;

    assert_int_equal(check(schema, instance, &errs), FMD_EUNPROC);
    if (json_array_size(errs) != 1) {
        char *dump = json_dumps(errs, JSON_COMPACT);
        fail_msg("expected one error, got %s", dump ? dump : "(null)");
    }
    assert_error(errs, 0, path, schema_path, keyword, message);
    json_decref(errs);
}

/* Asserts schema_compile fails with FMD_EUNPROC and a message containing want. */
static inline void assert_compile_fails(const char *text, const char *want)
{
    struct fmd_err err = {0};
    struct schema *s = (struct schema *)1;
    json_t *doc = tj(text);

    assert_int_equal(schema_compile(doc, &s, &err), FMD_EUNPROC);
    json_decref(doc);
    assert_null(s);
    assert_int_equal(err.code, FMD_EUNPROC);
    if (!strstr(err.msg, want))
        fail_msg("message '%s' lacks '%s'", err.msg, want);
}

#endif
