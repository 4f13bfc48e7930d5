/* test_sensitive.c - the "x-sensitive" locations a compiled schema records. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/json.h"
#include "schema/fields.h"
#include "schema/validate.h"

static struct schema *compile_text(const char *text, int *rc, struct fmd_err *err)
{
    json_t *doc = json_loads(text, 0, NULL);
    struct schema *s = NULL;
    assert_non_null(doc);
    *rc = schema_compile(doc, &s, err);
    json_decref(doc);
    return s;
}

static void paths_are(const char *schema, const char *want)
{
    struct fmd_err err = {0};
    int rc;
    struct schema *s = compile_text(schema, &rc, &err);
    char *got;

    if (rc)
        fail_msg("compile failed: %s", err.msg);
    got = schema_sensitive(s) ? json_dumps(schema_sensitive(s), JSON_COMPACT) : NULL;
    if (want) {
        assert_non_null(got);
        assert_string_equal(got, want);
    } else {
        assert_null(got);
    }
    free(got);
    schema_free(s);
}

static void refused(const char *schema, const char *where)
{
    struct fmd_err err = {0};
    int rc;
    struct schema *s = compile_text(schema, &rc, &err);
    assert_null(s);
    assert_int_equal(rc, FMD_EUNPROC);
    if (!strstr(err.msg, where))
        fail_msg("'%s' does not name '%s'", err.msg, where);
}

static void records_locations(void **state)
{
    paths_are("{\"properties\": {\"a\": {\"type\": \"string\"}}}", NULL);
    paths_are("{\"properties\": {\"ssn\": {\"x-sensitive\": true}, \"n\": {}}}", "[\"/ssn\"]");
    paths_are("{\"properties\": {\"c\": {\"properties\": {\"p\": {\"x-sensitive\": true}}}}}",
              "[\"/c/p\"]");
    /* escaped names, false, and nothing inside a sealed value */
    paths_are("{\"properties\": {\"a/b~c\": {\"x-sensitive\": true}, \"f\": {\"x-sensitive\": "
              "false}, \"w\": {\"x-sensitive\": true, \"properties\": {\"i\": {\"x-sensitive\": "
              "true}}}}}",
              "[\"/a~1b~0c\",\"/w\"]");
    /* an array marked whole */
    paths_are("{\"properties\": {\"l\": {\"type\": \"array\", \"x-sensitive\": true}}}",
              "[\"/l\"]");
    /* data, not schema */
    paths_are("{\"properties\": {\"e\": {\"const\": {\"x-sensitive\": true}}}}", NULL);
}

static void refuses_what_it_cannot_locate(void **state)
{
    refused("{\"x-sensitive\": true}", "''");
    refused("{\"properties\": {\"a\": {\"items\": {\"x-sensitive\": true}}}}",
            "/properties/a/items");
    refused("{\"$defs\": {\"d\": {\"x-sensitive\": true}}}", "/$defs/d");
    refused("{\"allOf\": [{\"properties\": {\"a\": {\"x-sensitive\": true}}}]}",
            "/allOf/0/properties/a");
    refused("{\"properties\": {\"a\": {\"x-sensitive\": 1}}}", "must be a boolean");
}

static void fields_shorthand(void **state)
{
    struct fmd_err err = {0};
    json_t *fields = json_loads("[{\"name\": \"iban\", \"type\": \"text\", \"sensitive\": true},"
                                " {\"name\": \"n\", \"type\": \"integer\", \"sensitive\": false}]",
                                0, NULL);
    json_t *doc = NULL;
    struct schema *s = NULL;
    char *got;

    assert_int_equal(fields_compile(fields, &doc, &err), 0);
    assert_int_equal(schema_compile(doc, &s, &err), 0);
    got = json_dumps(schema_sensitive(s), JSON_COMPACT);
    assert_string_equal(got, "[\"/iban\"]");
    free(got);
    schema_free(s);
    json_decref(doc);
    json_decref(fields);
    fields = json_loads("[{\"name\": \"a\", \"type\": \"text\", \"sensitive\": 1}]", 0, NULL);
    assert_int_not_equal(fields_compile(fields, &doc, &err), 0);
    assert_non_null(strstr(err.msg, "'sensitive' must be a boolean"));
    json_decref(fields);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_locations),
        cmocka_unit_test(refuses_what_it_cannot_locate),
        cmocka_unit_test(fields_shorthand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
