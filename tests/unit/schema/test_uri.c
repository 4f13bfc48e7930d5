/*
 * test_uri.c - unit tests for src/schema/uri.c: reference resolution against
 * RFC 3986 section 5.4's examples, URNs, and what is not an absolute base.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/mem.h"
#include "schema/schema_int.h"
#include "core/banned.h"

static void check(const char *base, const char *ref, const char *want)
{
    char *out = NULL;
    int rc = schema__uri_resolve(base, ref, strlen(ref), &out);

    assert_int_equal(rc, 0);
    if (strcmp(out, want) != 0)
        fail_msg("'%s' against '%s': got '%s', want '%s'", ref, base, out, want);
    fmd_free(out);
}

static void test_rfc3986_normal(void **state)
{
    static const char *const cases[][2] = {
        {"g:h", "g:h"},          {"g", "http://a/b/c/g"},      {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"}, {"/g", "http://a/g"},        {"//g", "http://g"},
        {"?y", "http://a/b/c/d;p?y"}, {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q#s"}, {"g#s", "http://a/b/c/g#s"},
        {"g?y#s", "http://a/b/c/g?y#s"}, {";x", "http://a/b/c/;x"},
        {"g;x", "http://a/b/c/g;x"}, {"", "http://a/b/c/d;p?q"}, {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"},  {"..", "http://a/b/"},        {"../", "http://a/b/"},
        {"../g", "http://a/b/g"}, {"../..", "http://a/"},       {"../../g", "http://a/g"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check("http://a/b/c/d;p?q", cases[i][0], cases[i][1]);
}

static void test_rfc3986_abnormal(void **state)
{
    static const char *const cases[][2] = {
        {"../../../g", "http://a/g"}, {"/./g", "http://a/g"},    {"/../g", "http://a/g"},
        {"g.", "http://a/b/c/g."},    {".g", "http://a/b/c/.g"}, {"g..", "http://a/b/c/g.."},
        {"./../g", "http://a/b/g"},   {"./g/.", "http://a/b/c/g/"},
        {"g/./h", "http://a/b/c/g/h"}, {"g/../h", "http://a/b/c/h"},
        {"g;x=1/./y", "http://a/b/c/g;x=1/y"}, {"g;x=1/../y", "http://a/b/c/y"},
        {"g?y/./x", "http://a/b/c/g?y/./x"}, {"g#s/../x", "http://a/b/c/g#s/../x"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check("http://a/b/c/d;p?q", cases[i][0], cases[i][1]);
}

static void test_urns_and_bases(void **state)
{
    char *out = (char *)1;

    check("urn:uuid:deadbeef-1234-ffff-ffff-4321feebdaed", "#/$defs/bar",
          "urn:uuid:deadbeef-1234-ffff-ffff-4321feebdaed#/$defs/bar");
    check("urn:formd:schema", "#foo", "urn:formd:schema#foo");
    check("file:///folder/file.json", "#/$defs/x", "file:///folder/file.json#/$defs/x");
    check("http://example.com", "a.json", "http://example.com/a.json");
    assert_int_equal(schema__uri_resolve("relative/base", "x", 1, &out), FMD_EUNPROC);
    assert_null(out);
    assert_true(schema__uri_is_absolute("urn:x"));
    assert_false(schema__uri_is_absolute("a/b:c"));
    assert_false(schema__uri_is_absolute("1http://x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3986_normal),
        cmocka_unit_test(test_rfc3986_abnormal),
        cmocka_unit_test(test_urns_and_bases),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
