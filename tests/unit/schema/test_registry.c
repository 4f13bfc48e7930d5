/*
 * test_registry.c - unit tests for src/schema/registry.c and reference
 * resolution across documents: schema_registry_add's checks, references into
 * registered documents and the resources they embed, the built-in 2020-12
 * meta-schemas, $vocabulary, ownership (a schema outlives its registry), and
 * allocation failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "schema/validate.h"
#include "unit/schema/schema_test.h"
#include "core/banned.h"

static struct schema_registry *new_registry(void)
{
    struct schema_registry *reg = NULL;
    struct fmd_err err = {0};
    json_t *a = tj("{\"$defs\":{\"pos\":{\"type\":\"integer\",\"minimum\":1}},"
                   "\"properties\":{\"n\":{\"$ref\":\"#/$defs/pos\"}}}");
    json_t *b = tj("{\"$defs\":{\"inner\":{\"$id\":\"http://example.com/inner.json\","
                   "\"$anchor\":\"s\",\"type\":\"string\"}}}");

    assert_int_equal(schema_registry_new(&reg), 0);
    assert_int_equal(schema_registry_add(reg, "http://example.com/a.json", a, &err), 0);
    assert_int_equal(schema_registry_add(reg, "http://example.com/dir/b.json", b, &err), 0);
    json_decref(a);
    json_decref(b);
    return reg;
}

/* Compiles text against reg; the test fails if it does not compile. */
static struct schema *compile_in(const char *text, const struct schema_registry *reg)
{
    struct fmd_err err = {0};
    struct schema *s = NULL;
    json_t *doc = tj(text);
    int rc = schema_compile_ex(doc, reg, 0, &s, &err);

    json_decref(doc);
    if (rc)
        fail_msg("schema does not compile (%d: %s): %s", rc, err.msg, text);
    return s;
}

static int valid_in(const struct schema *s, const char *instance)
{
    json_t *inst = tj(instance);
    int rc = schema_validate(s, inst, NULL);

    json_decref(inst);
    return rc == 0;
}

static void test_add_checks(void **state)
{
    struct schema_registry *reg = new_registry();
    struct fmd_err err = {0};
    json_t *doc = tj("{}"), *num = tj("1");

    assert_int_equal(schema_registry_add(reg, "a.json", doc, &err), FMD_EUNPROC);
    assert_non_null(strstr(err.msg, "absolute"));
    assert_int_equal(schema_registry_add(reg, "http://example.com/x.json#frag", doc, &err),
                     FMD_EUNPROC);
    assert_int_equal(schema_registry_add(reg, "http://example.com/a.json", doc, &err),
                     FMD_EUNPROC);
    assert_non_null(strstr(err.msg, "already registered"));
    assert_int_equal(schema_registry_add(reg, "http://example.com/n.json", num, &err),
                     FMD_EUNPROC);
    json_decref(doc);
    json_decref(num);
    schema_registry_free(reg);
    schema_registry_free(NULL);
}

static void test_remote_refs(void **state)
{
    struct schema_registry *reg = new_registry();
    struct schema *s = compile_in("{\"$id\":\"http://example.com/root.json\",\"properties\":{"
                                  "\"a\":{\"$ref\":\"a.json\"},"
                                  "\"p\":{\"$ref\":\"a.json#/$defs/pos\"},"
                                  "\"i\":{\"$ref\":\"inner.json\"},"
                                  "\"s\":{\"$ref\":\"http://example.com/inner.json#s\"}}}", reg);

    schema_registry_free(reg);   /* the schema keeps what it uses */
    assert_true(valid_in(s, "{\"a\":{\"n\":2},\"p\":1,\"i\":\"x\",\"s\":\"y\"}"));
    assert_false(valid_in(s, "{\"a\":{\"n\":0}}"));
    assert_false(valid_in(s, "{\"p\":0}"));
    assert_false(valid_in(s, "{\"i\":1}"));
    assert_false(valid_in(s, "{\"s\":1}"));
    schema_free(s);
}

static void test_unresolved_and_no_fetch(void **state)
{
    struct schema_registry *reg = new_registry();
    struct fmd_err err = {0};
    struct schema *s = NULL;
    json_t *doc = tj("{\"$ref\":\"http://example.com/missing.json\"}");

    assert_int_equal(schema_compile_ex(doc, reg, 0, &s, &err), FMD_EUNPROC);
    assert_null(s);
    assert_non_null(strstr(err.msg, "does not resolve to a known schema"));
    json_decref(doc);
    /* Without the registry, its documents are unknown. */
    assert_compile_fails("{\"$ref\":\"http://example.com/a.json\"}", "does not resolve");
    schema_registry_free(reg);
}

static void test_builtin_metaschema(void **state)
{
    const char *s = "{\"$ref\":\"https://json-schema.org/draft/2020-12/schema\"}";

    assert_valid(s, "{\"type\":\"string\",\"minLength\":1}");
    assert_invalid(s, "{\"type\":\"strin\"}");
    assert_invalid(s, "{\"minLength\":-1}");
    assert_invalid(s, "1");
}

static void test_vocabulary(void **state)
{
    struct schema_registry *reg = NULL;
    struct fmd_err err = {0};
    struct schema *s = NULL;
    json_t *meta = tj("{\"$id\":\"http://example.com/meta\",\"$vocabulary\":{"
                      "\"https://json-schema.org/draft/2020-12/vocab/core\":true,"
                      "\"https://json-schema.org/draft/2020-12/vocab/applicator\":true}}");
    json_t *strict = tj("{\"$vocabulary\":{\"http://example.com/vocab/mine\":true}}");
    json_t *doc = tj("{\"$schema\":\"http://example.com/strict\"}");

    assert_int_equal(schema_registry_new(&reg), 0);
    assert_int_equal(schema_registry_add(reg, "http://example.com/meta", meta, &err), 0);
    assert_int_equal(schema_registry_add(reg, "http://example.com/strict", strict, &err), 0);
    /* Only core and applicator: minimum is not applied, properties is. */
    s = compile_in("{\"$schema\":\"http://example.com/meta\",\"minimum\":5,"
                   "\"properties\":{\"a\":false}}", reg);
    assert_true(valid_in(s, "1"));
    assert_false(valid_in(s, "{\"a\":1}"));
    schema_free(s);
    s = NULL;
    assert_int_equal(schema_compile_ex(doc, reg, 0, &s, &err), FMD_EUNPROC);
    assert_non_null(strstr(err.msg, "unknown vocabulary 'http://example.com/vocab/mine'"));
    json_decref(meta);
    json_decref(strict);
    json_decref(doc);
    schema_registry_free(reg);
}

static void test_alloc_failure(void **state)
{
    struct schema_registry *reg = new_registry();
    json_t *doc = tj("{\"$id\":\"http://example.com/root.json\",\"$dynamicAnchor\":\"n\","
                     "\"properties\":{\"a\":{\"$ref\":\"a.json\"},"
                     "\"i\":{\"$ref\":\"inner.json#s\"},"
                     "\"d\":{\"$dynamicRef\":\"#n\"}},\"unevaluatedProperties\":false}");
    long n;

    for (n = 1;; n++) {
        struct fmd_err err = {0};
        struct schema *s = NULL;
        int rc;

        fmd_mem_fail_at(n);
        rc = schema_compile_ex(doc, reg, 0, &s, &err);
        fmd_mem_fail_at(0);
        if (rc == 0) {
            schema_free(s);
            break;
        }
        assert_int_equal(rc, FMD_ENOMEM);
        assert_null(s);
        assert_true(n < 100000);
    }
    json_decref(doc);
    schema_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_checks),
        cmocka_unit_test(test_remote_refs),
        cmocka_unit_test(test_unresolved_and_no_fetch),
        cmocka_unit_test(test_builtin_metaschema),
        cmocka_unit_test(test_vocabulary),
        cmocka_unit_test(test_alloc_failure),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
