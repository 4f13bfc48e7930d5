/*
 * test_validate.c - unit tests for src/schema/validate.c and eval.c: every
 * keyword on valid and invalid instances, the error objects (paths, schema
 * paths, keywords, messages), compile failures, the cost bounds ($ref cycles,
 * costly patterns, exponential schemas), threads, and allocation failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "schema/validate.h"
#include "unit/schema/schema_test.h"
#include "core/banned.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- any type ---- */

static void test_type(void **state)
{
    assert_valid("{\"type\":\"string\"}", "\"x\"");
    assert_valid("{\"type\":\"number\"}", "1.5");
    assert_valid("{\"type\":\"number\"}", "2");
    assert_valid("{\"type\":\"integer\"}", "2");
    assert_valid("{\"type\":\"integer\"}", "1.0");
    assert_valid("{\"type\":\"boolean\"}", "false");
    assert_valid("{\"type\":\"null\"}", "null");
    assert_valid("{\"type\":\"array\"}", "[]");
    assert_valid("{\"type\":\"object\"}", "{}");
    assert_valid("{\"type\":[\"string\",\"null\"]}", "null");
    assert_invalid("{\"type\":\"integer\"}", "1.5");
    assert_invalid("{\"type\":\"boolean\"}", "0");
    assert_invalid("{\"type\":\"null\"}", "false");
    assert_invalid("{\"type\":\"array\"}", "{}");
    assert_one_error("{\"type\":\"string\"}", "1", "", "/type", "type", "must be a string");
    assert_one_error("{\"type\":\"integer\"}", "1.5", "", "/type", "type", "must be an integer");
    assert_one_error("{\"type\":\"object\"}", "[]", "", "/type", "type", "must be an object");
    assert_one_error("{\"type\":\"null\"}", "1", "", "/type", "type", "must be null");
    assert_one_error("{\"type\":[\"string\",\"null\"]}", "1", "", "/type", "type",
                     "must be a string or null");
    assert_one_error("{\"type\":[\"string\",\"integer\",\"null\"]}", "true", "", "/type", "type",
                     "must be a string, an integer or null");
}

static void test_enum(void **state)
{
    const char *s = "{\"enum\":[1,\"a\",{\"k\":[1,2]},null]}";

    assert_valid(s, "1");
    assert_valid(s, "1.0");
    assert_valid(s, "\"a\"");
    assert_valid(s, "{\"k\":[1.0,2]}");
    assert_valid(s, "null");
    assert_invalid(s, "2");
    assert_invalid(s, "true");
    assert_invalid(s, "{\"k\":[2,1]}");
    assert_invalid(s, "{\"k\":[1,2],\"x\":1}");
    assert_one_error(s, "\"b\"", "", "/enum", "enum", "must be one of the listed values");
    assert_invalid("{\"enum\":[]}", "1");
    assert_invalid("{\"enum\":[false]}", "0");
    assert_invalid("{\"enum\":[0]}", "false");
}

static void test_const(void **state)
{
    assert_valid("{\"const\":1}", "1.0");
    assert_valid("{\"const\":1.0}", "1");
    assert_valid("{\"const\":{\"a\":1,\"b\":[true]}}", "{\"b\":[true],\"a\":1.0}");
    assert_valid("{\"const\":9007199254740992}", "9007199254740992.0");
    assert_invalid("{\"const\":9007199254740992}", "9007199254740993");
    assert_invalid("{\"const\":9007199254740992}", "9007199254740991.0");
    assert_invalid("{\"const\":\"a\"}", "\"A\"");
    assert_invalid("{\"const\":[1]}", "[1,1]");
    assert_invalid("{\"const\":null}", "false");
    assert_one_error("{\"const\":\"a\"}", "\"b\"", "", "/const", "const",
                     "must be equal to the constant");
}

/* ---- objects ---- */

static void test_properties_required(void **state)
{
    const char *s = "{\"type\":\"object\",\"properties\":{\"age\":{\"type\":\"integer\","
                    "\"minimum\":18},\"email\":{\"type\":\"string\"}},"
                    "\"required\":[\"email\",\"age\"]}";
    json_t *errs = NULL;

    assert_valid(s, "{\"email\":\"a@b.c\",\"age\":30}");
    assert_valid("{\"properties\":{\"a\":{\"type\":\"string\"}}}", "[1]");
    assert_valid("{\"required\":[\"a\"]}", "\"not an object\"");
    assert_int_equal(check(s, "{\"age\":17}", &errs), FMD_EUNPROC);
    assert_int_equal(json_array_size(errs), 2);
    assert_error(errs, 0, "/age", "/properties/age/minimum", "minimum", "must be >= 18");
    assert_error(errs, 1, "", "/required", "required", "'email' is required");
    json_decref(errs);
}

static void test_additional_properties(void **state)
{
    const char *closed = "{\"properties\":{\"a\":{}},\"patternProperties\":{\"^x_\":{}},"
                         "\"additionalProperties\":false}";
    const char *typed = "{\"properties\":{\"a\":{}},\"additionalProperties\":{\"type\":\"integer\"}}";

    assert_valid(closed, "{\"a\":1,\"x_1\":2}");
    assert_one_error(closed, "{\"a\":1,\"b\":2}", "/b", "/additionalProperties",
                     "additionalProperties", "is not allowed");
    assert_valid(typed, "{\"a\":\"s\",\"b\":2}");
    assert_one_error(typed, "{\"b\":\"s\"}", "/b", "/additionalProperties/type", "type",
                     "must be an integer");
    assert_valid("{\"additionalProperties\":true}", "{\"q\":1}");
}

static void test_pattern_properties(void **state)
{
    const char *s = "{\"patternProperties\":{\"^n_\":{\"type\":\"number\"},"
                    "\"_s$\":{\"type\":\"string\"}}}";

    assert_valid(s, "{\"n_1\":1,\"a_s\":\"x\",\"other\":null}");
    assert_one_error(s, "{\"n_1\":\"x\"}", "/n_1", "/patternProperties/^n_/type", "type",
                     "must be a number");
    /* A key matching both patterns must satisfy both. */
    assert_invalid(s, "{\"n_s\":1}");
    assert_invalid(s, "{\"n_s\":\"x\"}");
}

static void test_property_names_and_counts(void **state)
{
    const char *names = "{\"propertyNames\":{\"maxLength\":3,\"pattern\":\"^[a-z]+$\"}}";

    assert_valid(names, "{\"abc\":1}");
    assert_valid(names, "[\"not an object\"]");
    assert_one_error(names, "{\"abcd\":1}", "", "/propertyNames", "propertyNames",
                     "property name 'abcd' is not allowed");
    assert_invalid("{\"propertyNames\":false}", "{\"a\":1}");
    assert_valid("{\"propertyNames\":false}", "{}");
    assert_valid("{\"minProperties\":1,\"maxProperties\":2}", "{\"a\":1}");
    assert_one_error("{\"minProperties\":1}", "{}", "", "/minProperties", "minProperties",
                     "must have at least 1 property");
    assert_one_error("{\"maxProperties\":1}", "{\"a\":1,\"b\":2}", "", "/maxProperties",
                     "maxProperties", "must have at most 1 property");
    assert_valid("{\"maxProperties\":1.0}", "{\"a\":1}");
}

static void test_dependent(void **state)
{
    const char *req = "{\"dependentRequired\":{\"card\":[\"cvv\",\"expiry\"]}}";
    const char *sch = "{\"dependentSchemas\":{\"card\":{\"required\":[\"cvv\"]}}}";

    assert_valid(req, "{}");
    assert_valid(req, "{\"card\":1,\"cvv\":2,\"expiry\":3}");
    assert_one_error(req, "{\"card\":1,\"cvv\":2}", "", "/dependentRequired",
                     "dependentRequired", "'expiry' is required when 'card' is present");
    assert_valid(sch, "{\"cvv\":1}");
    assert_one_error(sch, "{\"card\":1}", "", "/dependentSchemas/card/required", "required",
                     "'cvv' is required");
}

/* ---- arrays ---- */

static void test_items(void **state)
{
    const char *tuple = "{\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],"
                        "\"items\":false}";

    assert_valid("{\"items\":{\"type\":\"integer\"}}", "[1,2,3]");
    assert_valid("{\"items\":{\"type\":\"integer\"}}", "{\"not\":\"an array\"}");
    assert_one_error("{\"items\":{\"type\":\"integer\"}}", "[1,\"x\"]", "/1", "/items/type",
                     "type", "must be an integer");
    assert_valid(tuple, "[\"a\",1]");
    assert_valid(tuple, "[\"a\"]");
    assert_one_error(tuple, "[\"a\",\"b\"]", "/1", "/prefixItems/1/type", "type",
                     "must be an integer");
    assert_one_error(tuple, "[\"a\",1,2]", "/2", "/items", "items", "is not allowed");
    assert_one_error("{\"minItems\":2}", "[1]", "", "/minItems", "minItems",
                     "must have at least 2 items");
    assert_one_error("{\"maxItems\":1}", "[1,2]", "", "/maxItems", "maxItems",
                     "must have at most 1 item");
    assert_valid("{\"minItems\":1,\"maxItems\":2}", "[1,2]");
}

static void test_unique_items(void **state)
{
    const char *s = "{\"uniqueItems\":true}";

    assert_valid(s, "[1,2,\"1\",[1],{\"a\":1},{\"a\":2},true,false,null]");
    assert_one_error(s, "[0,1,1.0]", "", "/uniqueItems", "uniqueItems",
                     "must not contain duplicates (items 1 and 2 are equal)");
    assert_invalid(s, "[{\"a\":1,\"b\":2},{\"b\":2,\"a\":1}]");
    assert_invalid(s, "[[1,{\"x\":null}],[1.0,{\"x\":null}]]");
    assert_invalid(s, "[\"a\",\"b\",\"a\"]");
    assert_valid(s, "[[1,2],[2,1]]");
    assert_valid("{\"uniqueItems\":false}", "[1,1]");
    assert_valid(s, "[]");
}

static void test_contains(void **state)
{
    const char *c = "{\"contains\":{\"const\":1}}";
    const char *range = "{\"contains\":{\"const\":1},\"minContains\":2,\"maxContains\":3}";

    assert_valid(c, "[0,1]");
    assert_valid(c, "\"not an array\"");
    assert_one_error(c, "[0,2]", "", "/contains", "contains",
                     "must contain at least one matching item");
    assert_invalid(c, "[]");
    assert_valid(range, "[1,1,0]");
    assert_valid(range, "[1,1,1]");
    assert_one_error(range, "[1,0]", "", "/minContains", "minContains",
                     "must contain at least 2 matching items");
    assert_one_error(range, "[1,1,1,1]", "", "/maxContains", "maxContains",
                     "must contain at most 3 matching items");
    assert_valid("{\"contains\":{\"const\":1},\"minContains\":0}", "[]");
}

/* ---- numbers ---- */

static void test_numbers(void **state)
{
    assert_valid("{\"minimum\":18}", "18");
    assert_valid("{\"minimum\":18}", "\"not a number\"");
    assert_one_error("{\"minimum\":18}", "17.5", "", "/minimum", "minimum", "must be >= 18");
    assert_one_error("{\"maximum\":1.5}", "2", "", "/maximum", "maximum", "must be <= 1.5");
    assert_one_error("{\"exclusiveMinimum\":0}", "0", "", "/exclusiveMinimum",
                     "exclusiveMinimum", "must be > 0");
    assert_one_error("{\"exclusiveMaximum\":0.1}", "0.1", "", "/exclusiveMaximum",
                     "exclusiveMaximum", "must be < 0.1");
    assert_valid("{\"exclusiveMinimum\":0}", "0.0001");
    assert_valid("{\"exclusiveMaximum\":10}", "9");
    assert_valid("{\"maximum\":9007199254740992}", "9007199254740992");
    assert_invalid("{\"maximum\":9007199254740992}", "9007199254740993");
    assert_valid("{\"multipleOf\":3}", "9");
    assert_valid("{\"multipleOf\":0.0001}", "0.0075");
    assert_valid("{\"multipleOf\":0.1}", "0.3");
    assert_valid("{\"multipleOf\":1.5}", "4.5");
    assert_one_error("{\"multipleOf\":3}", "10", "", "/multipleOf", "multipleOf",
                     "must be a multiple of 3");
    assert_invalid("{\"multipleOf\":0.0001}", "0.00751");
    assert_invalid("{\"multipleOf\":0.123456789}", "1e308");
    assert_invalid("{\"multipleOf\":2}", "-9223372036854775807");
    assert_valid("{\"multipleOf\":1}", "-9223372036854775808");
    /* Exact on the decimals as written, however far apart. */
    assert_valid("{\"multipleOf\":0.01}", "12500.5");
    assert_valid("{\"multipleOf\":0.01}", "19.99");
    assert_invalid("{\"multipleOf\":0.01}", "12500.555");
    assert_valid("{\"multipleOf\":1e-8}", "12391239123");
    assert_valid("{\"multipleOf\":0.3}", "0.9");
    assert_invalid("{\"multipleOf\":0.3}", "1");
    assert_valid("{\"multipleOf\":1e300}", "3e300");
    assert_invalid("{\"multipleOf\":7}", "1e300");
    assert_valid("{\"multipleOf\":2.5}", "1e300");
    assert_valid("{\"multipleOf\":0.5,\"type\":\"integer\"}", "4.0");
    assert_valid("{\"const\":1}", "1.0");
}

/* ---- strings ---- */

static void test_lengths(void **state)
{
    /* "é" is one code point in two bytes; "😀" one in four. */
    assert_valid("{\"maxLength\":1}", "\"\\u00e9\"");
    assert_valid("{\"maxLength\":1}", "\"\\ud83d\\ude00\"");
    assert_valid("{\"minLength\":2}", "\"\\u00e9\\u00e9\"");
    assert_one_error("{\"minLength\":2}", "\"\\u00e9\"", "", "/minLength", "minLength",
                     "must be at least 2 characters long");
    assert_one_error("{\"maxLength\":2}", "\"abc\"", "", "/maxLength", "maxLength",
                     "must be at most 2 characters long");
    assert_valid("{\"maxLength\":2}", "123");
    assert_valid("{\"maxLength\":2.0}", "\"ab\"");
}

static void test_pattern(void **state)
{
    const char *zip = "{\"pattern\":\"^[0-9]{5}$\"}";

    assert_valid(zip, "\"12345\"");
    assert_valid(zip, "12345");
    /* ECMA-262 \s is Unicode white space; \d stays ASCII. */
    assert_valid("{\"pattern\":\"^\\\\s$\"}", "\"\\u00a0\"");
    assert_valid("{\"pattern\":\"^[\\\\sx]+$\"}", "\"x\\u2028\\ufeff\"");
    assert_invalid("{\"pattern\":\"^\\\\S$\"}", "\"\\u3000\"");
    assert_invalid("{\"pattern\":\"^\\\\d$\"}", "\"\\u0660\"");
    assert_valid("{\"pattern\":\"^\\\\\\\\s$\"}", "\"\\\\s\"");
    assert_one_error(zip, "\"1234\"", "", "/pattern", "pattern", "does not match pattern");
    /* ECMA-262: "$" is the end of the string, not before a final newline. */
    assert_invalid(zip, "\"12345\\n\"");
    /* Unanchored patterns search. */
    assert_valid("{\"pattern\":\"b\"}", "\"abc\"");
    /* ECMA-262: \w and \d are ASCII; code points and properties are Unicode. */
    assert_invalid("{\"pattern\":\"^\\\\w$\"}", "\"\\u00e9\"");
    assert_invalid("{\"pattern\":\"^\\\\d$\"}", "\"\\u0663\"");
    assert_valid("{\"pattern\":\"^.$\"}", "\"\\ud83d\\ude00\"");
    assert_valid("{\"pattern\":\"^\\\\p{Lu}\"}", "\"\\u00c9t\\u00e9\"");
    /* ECMA-262's long Unicode category names, which PCRE2 10.42 lacks. */
    assert_valid("{\"pattern\":\"^\\\\p{Letter}+$\"}", "\"\\u00e9t\\u00e9\"");
    assert_invalid("{\"pattern\":\"^\\\\p{Letter}+$\"}", "\"a1\"");
    assert_valid("{\"pattern\":\"^[\\\\p{Lowercase_Letter}\\\\p{gc=Nd}]+$\"}", "\"a1\"");
    assert_invalid("{\"pattern\":\"^\\\\P{General_Category=Uppercase_Letter}$\"}", "\"A\"");
    assert_valid("{\"pattern\":\"^\\\\p{Script=Greek}$\"}", "\"\\u03b1\"");
    /* An escaped backslash before p{...} is not a property escape. */
    assert_valid("{\"pattern\":\"^\\\\\\\\p{Letter}$\"}", "\"\\\\p{Letter}\"");
    assert_compile_fails("{\"pattern\":\"\\\\p{NoSuchThing}\"}", "does not compile");
}

static void test_pattern_cost_bounded(void **state)
{
    json_t *errs = NULL;
    double t0 = now();

    assert_int_equal(check("{\"pattern\":\"^(a+)+$\"}",
                           "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\"", &errs), FMD_EUNPROC);
    assert_true(now() - t0 < 2.0);
    assert_int_equal(json_array_size(errs), 1);
    assert_error(errs, 0, "", "/pattern", "pattern", "pattern too costly to evaluate");
    json_decref(errs);
    /* A "not" cannot turn the costly match into a pass. */
    assert_int_equal(check("{\"not\":{\"pattern\":\"^(a+)+$\"}}",
                           "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\"", &errs), FMD_EUNPROC);
    assert_error(errs, 0, "", "/not/pattern", "pattern", "pattern too costly to evaluate");
    json_decref(errs);
    assert_int_equal(check("{\"patternProperties\":{\"^(a+)+$\":{}}}",
                           "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\":1}", NULL), FMD_EUNPROC);
}

static void test_formats(void **state)
{
    static const struct {
        const char *format, *value;
        int ok;
    } cases[] = {
        {"email", "a.b+c@example.com", 1},       {"email", "x@[127.0.0.1]", 1},
        {"email", "x@[IPv6:::1]", 1},            {"email", "user@localhost", 1},
        {"email", "a..b@example.com", 0},        {"email", ".a@example.com", 0},
        {"email", "a@", 0},                      {"email", "@example.com", 0},
        {"email", "a@b@example.com", 0},         {"email", "a b@example.com", 0},
        {"email", "a@-example.com", 0},          {"email", "a@exa_mple.com", 0},
        {"date", "2024-02-29", 1},               {"date", "2023-02-29", 0},
        {"date", "2000-02-29", 1},               {"date", "1900-02-29", 0},
        {"date", "2024-13-01", 0},               {"date", "2024-04-31", 0},
        {"date", "2024-1-01", 0},                {"date", "2024-01-01T00:00:00Z", 0},
        {"time", "23:59:59Z", 1},                {"time", "08:30:00.123+02:00", 1},
        {"time", "23:59:60Z", 1},                {"time", "15:59:60-08:00", 1},
        {"time", "12:59:60Z", 0},                {"time", "24:00:00Z", 0},
        {"time", "12:00:00", 0},                 {"time", "12:00:00.Z", 0},
        {"time", "12:60:00Z", 0},                {"time", "12:00:00+24:00", 0},
        {"date-time", "2024-05-01T10:00:00Z", 1},
        {"date-time", "2024-05-01t10:00:00.5z", 1},
        {"date-time", "2024-05-01 10:00:00Z", 0},
        {"date-time", "2024-05-32T10:00:00Z", 0},
        {"uri", "https://example.com/a?b=c#d", 1},
        {"uri", "mailto:a@example.com", 1},      {"uri", "urn:isbn:0451450523", 1},
        {"uri", "http://[::1]:8080/x", 1},       {"uri", "http://user:pw@host:80/p%20q", 1},
        {"uri", "//example.com/x", 0},           {"uri", "example.com", 0},
        {"uri", "http://exa mple.com", 0},       {"uri", "http://x/%zz", 0},
        {"uri", "http://x:8a/", 0},              {"uri", "1http://x", 0},
        {"uri", "http://x/#a#b", 0},
        {"uuid", "123e4567-e89b-12d3-a456-426614174000", 1},
        {"uuid", "123e4567e89b12d3a456426614174000", 0},
        {"uuid", "123e4567-e89b-12d3-a456-42661417400g", 0},
        {"ipv4", "192.168.0.1", 1},              {"ipv4", "256.1.1.1", 0},
        {"ipv4", "1.2.3", 0},                    {"ipv4", "01.2.3.4", 0},
        {"ipv6", "::1", 1},                      {"ipv6", "2001:db8::8a2e:370:7334", 1},
        {"ipv6", "12345::", 0},                  {"ipv6", "1.2.3.4", 0},
        {"hostname", "example.com", 1},          {"hostname", "a-b.c", 1},
        {"hostname", "-a.com", 0},               {"hostname", "a-.com", 0},
        {"hostname", "a..b", 0},                 {"hostname", "a_b.com", 0},
        {"hostname", "", 0},
        {"email", "\"a b\"@example.com", 1},    {"email", "\"a\"b@example.com", 0},
        {"idn-email", "élève@école.fr", 1}, {"idn-email", "a.example.com", 0},
        {"duration", "P1Y2M3DT4H5M6S", 1},      {"duration", "P4W", 1},
        {"duration", "PT36H", 1},               {"duration", "P1Y2D", 0},
        {"duration", "P", 0},                   {"duration", "PT", 0},
        {"duration", "P1W2D", 0},               {"duration", "1D", 0},
        {"uri-reference", "../a/b?c#d", 1},     {"uri-reference", "#frag", 1},
        {"uri-reference", "", 1},               {"uri-reference", "a:b:c", 1},
        {"uri-reference", "\\\\host", 0},       {"uri-reference", "x y", 0},
        {"iri", "https://éx.example/é", 1}, {"iri", "/relative", 0},
        {"iri-reference", "é/x", 1},
        {"json-pointer", "/a/~0b/~1c", 1},      {"json-pointer", "", 1},
        {"json-pointer", "a/b", 0},             {"json-pointer", "/a~2", 0},
        {"relative-json-pointer", "0#", 1},     {"relative-json-pointer", "1/a", 1},
        {"relative-json-pointer", "01/a", 0},   {"relative-json-pointer", "/a", 0},
        {"regex", "^[a-z]+(?:x|y)$", 1},        {"regex", "(", 0},
        {"regex", "(?i)x", 0},                  {"regex", "\\a", 0},
        {"uri-template", "/users/{id}{?q,lang}", 1},
        {"uri-template", "/x{", 0},             {"uri-template", "/{a:0}", 0},
        {"hostname", "xn--9n2bp8q.xn--9t4b11yi5a", 1}, {"hostname", "xn--X", 0},
        {"hostname", "ab--c.com", 0},           {"hostname", "a--b.com", 1},
        {"idn-hostname", "\xec\x8b\xa4\xeb\xa1\x80.\xed\x85\x8c\xec\x8a\xa4\xed\x8a\xb8", 1},
        {"idn-hostname", "l\xc2\xb7" "a", 0},      {"idn-hostname", "l\xc2\xb7l", 1},
        {"idn-hostname", "a\xe3\x80\x82" "b", 1},  {"idn-hostname", "a\xd7\x90", 0},
        {"made-up-format", "anything", 1},
    };
    char schema[128], inst[128];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *s = json_pack("{ss}", "format", cases[i].format), *v = json_string(cases[i].value);
        struct fmd_err err = {0};
        struct schema *cs = NULL;
        json_t *errs = NULL;
        int rc;

        assert_int_equal(schema_compile(s, &cs, &err), 0);
        rc = schema_validate(cs, v, &errs);
        if (rc != (cases[i].ok ? 0 : FMD_EUNPROC))
            fail_msg("format %s, value '%s': expected %s", cases[i].format, cases[i].value,
                     cases[i].ok ? "valid" : "invalid");
        if (!cases[i].ok) {
            snprintf(schema, sizeof(schema), "must be a valid %s", cases[i].format);
            assert_error(errs, 0, "", "/format", "format", schema);
        }
        json_decref(errs);
        schema_free(cs);
        json_decref(s);
        json_decref(v);
    }
    snprintf(inst, sizeof(inst), "%s", "12");
    assert_valid("{\"format\":\"email\"}", inst);   /* only strings are checked */
}

/* ---- combinators and conditionals ---- */

static void test_all_any_one_not(void **state)
{
    const char *all = "{\"allOf\":[{\"minimum\":1},{\"maximum\":3}]}";
    const char *any = "{\"anyOf\":[{\"type\":\"string\"},{\"minimum\":10}]}";
    const char *one = "{\"oneOf\":[{\"multipleOf\":2},{\"multipleOf\":3}]}";
    json_t *errs = NULL;

    assert_valid(all, "2");
    assert_int_equal(check(all, "5", &errs), FMD_EUNPROC);
    assert_error(errs, 0, "", "/allOf/1/maximum", "maximum", "must be <= 3");
    json_decref(errs);
    assert_valid(any, "\"x\"");
    assert_valid(any, "11");
    assert_one_error(any, "5", "", "/anyOf", "anyOf", "must match at least one schema in anyOf");
    assert_valid(one, "4");
    assert_valid(one, "9");
    assert_one_error(one, "5", "", "/oneOf", "oneOf", "must match exactly one schema in oneOf");
    assert_one_error(one, "6", "", "/oneOf", "oneOf", "must match only one schema in oneOf");
    assert_valid("{\"not\":{\"type\":\"string\"}}", "1");
    assert_one_error("{\"not\":{\"type\":\"string\"}}", "\"x\"", "", "/not", "not",
                     "must not match the schema in not");
}

static void test_if_then_else(void **state)
{
    const char *s = "{\"if\":{\"properties\":{\"kind\":{\"const\":\"pet\"}},\"required\":[\"kind\"]},"
                    "\"then\":{\"required\":[\"species\"]},\"else\":{\"not\":{\"required\":[\"species\"]}}}";

    assert_valid(s, "{\"kind\":\"pet\",\"species\":\"cat\"}");
    assert_valid(s, "{\"kind\":\"car\"}");
    assert_valid(s, "{}");
    assert_one_error(s, "{\"kind\":\"pet\"}", "", "/then/required", "required",
                     "'species' is required");
    assert_one_error(s, "{\"species\":\"cat\"}", "", "/else/not", "not",
                     "must not match the schema in not");
    assert_valid("{\"then\":false}", "1");   /* then without if: ignored */
    assert_valid("{\"if\":true,\"then\":true,\"else\":false}", "1");
    assert_invalid("{\"if\":false,\"then\":true,\"else\":false}", "1");
}

/* ---- $ref, $defs, boolean schemas, ignored keywords ---- */

static void test_refs(void **state)
{
    const char *s = "{\"$defs\":{\"pos\":{\"type\":\"integer\",\"minimum\":1},"
                    "\"a/b~c\":{\"type\":\"string\"},\"sp ace\":{\"const\":0}},"
                    "\"properties\":{\"n\":{\"$ref\":\"#/$defs/pos\"},"
                    "\"s\":{\"$ref\":\"#/$defs/a~1b~0c\"},"
                    "\"z\":{\"$ref\":\"#/$defs/sp%20ace\"},"
                    "\"t\":{\"$ref\":\"#/properties/n\"},"
                    "\"q\":{\"$ref\":\"#/allOf/0\"}},"
                    "\"allOf\":[{\"type\":\"object\"}]}";

    assert_valid(s, "{\"n\":1,\"s\":\"x\",\"z\":0,\"t\":2,\"q\":{}}");
    assert_one_error(s, "{\"n\":0}", "/n", "/$defs/pos/minimum", "minimum", "must be >= 1");
    assert_one_error(s, "{\"s\":1}", "/s", "/$defs/a~1b~0c/type", "type", "must be a string");
    assert_invalid(s, "{\"z\":1}");
    assert_one_error(s, "{\"t\":0}", "/t", "/$defs/pos/minimum", "minimum", "must be >= 1");
    assert_invalid(s, "{\"q\":1}");
    /* Recursion that follows the instance down. */
    assert_valid("{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#\"}}}",
                 "{\"next\":{\"next\":{\"next\":{}}}}");
    assert_one_error("{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#\"}}}",
                     "{\"next\":{\"next\":1}}", "/next/next", "/type", "type",
                     "must be an object");
    /* A target outside the keywords walked (an older "definitions") still works. */
    assert_valid("{\"definitions\":{\"x\":{\"pattern\":\"^a\"}},\"$ref\":\"#/definitions/x\"}",
                 "\"abc\"");
    assert_invalid("{\"definitions\":{\"x\":{\"pattern\":\"^a\"}},\"$ref\":\"#/definitions/x\"}",
                   "\"bc\"");
    /* $ref alongside other keywords: both apply. */
    assert_invalid("{\"$defs\":{\"s\":{\"type\":\"string\"}},\"$ref\":\"#/$defs/s\","
                   "\"maxLength\":1}", "\"ab\"");
}

static void test_ref_cycles(void **state)
{
    json_t *errs = NULL;
    double t0 = now();

    assert_int_equal(check("{\"$ref\":\"#\"}", "1", &errs), FMD_EUNPROC);
    assert_error(errs, 0, "", NULL, "$ref", "schema recursion too deep");
    json_decref(errs);
    assert_int_equal(check("{\"$ref\":\"#\"}", "1", NULL), FMD_EUNPROC);
    /* A cycle under not or anyOf is still a stop, not a pass. */
    assert_int_equal(check("{\"not\":{\"$ref\":\"#\"}}", "1", NULL), FMD_EUNPROC);
    assert_int_equal(check("{\"$defs\":{\"a\":{\"anyOf\":[{\"$ref\":\"#/$defs/a\"},"
                           "{\"$ref\":\"#/$defs/a\"}]}},\"$ref\":\"#/$defs/a\"}", "1", NULL),
                     FMD_EUNPROC);
    assert_int_equal(check("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":"
                           "\"#/$defs/a\"}},\"$ref\":\"#/$defs/a\"}", "{}", NULL), FMD_EUNPROC);
    assert_true(now() - t0 < 2.0);
}

static void test_exponential_schema_bounded(void **state)
{
    /* Each level tries two branches that both fail at the bottom: 2^40 paths
     * without the step budget. */
    const char *s = "{\"$defs\":{\"a\":{\"type\":\"array\",\"items\":{\"anyOf\":["
                    "{\"$ref\":\"#/$defs/a\"},{\"$ref\":\"#/$defs/a\"}]}}},\"$ref\":\"#/$defs/a\"}";
    char inst[256];
    json_t *errs = NULL;
    double t0 = now();
    int i, n = 0;

    for (i = 0; i < 40; i++)
        inst[n++] = '[';
    inst[n++] = '1';
    for (i = 0; i < 40; i++)
        inst[n++] = ']';
    inst[n] = '\0';
    assert_int_equal(check(s, inst, &errs), FMD_EUNPROC);
    assert_true(now() - t0 < 10.0);
    assert_error(errs, json_array_size(errs) - 1, NULL, NULL, NULL, "validation too costly");
    json_decref(errs);
}

static void test_boolean_schemas(void **state)
{
    assert_valid("true", "{\"anything\":[1]}");
    assert_one_error("false", "1", "", "", "false", "is not allowed");
    assert_one_error("{\"properties\":{\"x\":false}}", "{\"x\":1}", "/x", "/properties/x",
                     "false", "is not allowed");
    assert_valid("{\"properties\":{\"x\":false}}", "{}");
}

static void test_ignored_keywords(void **state)
{
    const char *s = "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"x\","
                    "\"title\":\"t\",\"description\":\"d\",\"default\":1,\"examples\":[1],"
                    "\"x-custom\":{\"type\":\"string\"},\"properties\":{\"a\":true},"
                    "\"unevaluatedProperties\":false}";

    assert_valid(s, "{\"a\":1}");
    assert_one_error(s, "{\"a\":1,\"b\":2}", "/b", "/unevaluatedProperties",
                     "unevaluatedProperties", "is not allowed");
}

static void test_unevaluated_errors(void **state)
{
    const char *s = "{\"allOf\":[{\"properties\":{\"a\":true}}],\"anyOf\":[{\"properties\":"
                    "{\"b\":true}},{\"properties\":{\"c\":true}}],\"unevaluatedProperties\":"
                    "{\"type\":\"string\"}}";

    assert_valid(s, "{\"a\":1,\"b\":2,\"c\":3,\"d\":\"x\"}");
    assert_one_error(s, "{\"a\":1,\"d\":4}", "/d", "/unevaluatedProperties/type", "type",
                     "must be a string");
    assert_one_error("{\"prefixItems\":[true],\"unevaluatedItems\":false}", "[1,2]", "/1",
                     "/unevaluatedItems", "unevaluatedItems", "is not allowed");
    /* A oneOf with discriminators still evaluates every branch without one. */
    assert_valid("{\"oneOf\":[{\"properties\":{\"k\":{\"const\":1}}},"
                 "{\"properties\":{\"k\":{\"const\":2}},\"required\":[\"k\"]}]}", "{\"k\":1}");
    assert_valid("{\"oneOf\":[{\"properties\":{\"k\":{\"const\":1}}},"
                 "{\"properties\":{\"k\":{\"const\":2}},\"required\":[\"k\"]}]}", "{}");
    assert_invalid("{\"oneOf\":[{\"properties\":{\"k\":{\"const\":1}}},"
                   "{\"properties\":{\"k\":{\"const\":1.0}}}]}", "{\"k\":1}");
    assert_invalid("{\"anyOf\":[{\"properties\":{\"k\":{\"const\":1}}}]}", "{\"k\":2}");
}

static void test_format_annotation_flag(void **state)
{
    json_t *doc = tj("{\"format\":\"email\"}"), *inst = tj("\"not an email\"");
    struct fmd_err err = {0};
    struct schema *s = NULL;

    assert_int_equal(schema_compile_ex(doc, NULL, SCHEMA_FORMAT_ANNOTATION, &s, &err), 0);
    assert_int_equal(schema_validate(s, inst, NULL), 0);
    schema_free(s);
    assert_int_equal(schema_compile_ex(doc, NULL, 0, &s, &err), 0);
    assert_int_equal(schema_validate(s, inst, NULL), FMD_EUNPROC);
    schema_free(s);
    json_decref(doc);
    json_decref(inst);
}

static void test_ids_anchors_dynamic(void **state)
{
    const char *tree = "{\"$id\":\"https://example.com/tree\",\"$dynamicAnchor\":\"node\","
                       "\"type\":\"object\",\"properties\":{\"kids\":{\"type\":\"array\","
                       "\"items\":{\"$dynamicRef\":\"#node\"}}}}";
    char strict[400];

    assert_valid("{\"$id\":\"http://example.com/root.json\",\"$defs\":{\"a\":{"
                 "\"$id\":\"sub/a.json\","
                 "\"$anchor\":\"x\",\"type\":\"integer\"}},\"properties\":{\"p\":{\"$ref\":"
                 "\"sub/a.json\"},\"q\":{\"$ref\":\"sub/a.json#x\"},\"r\":{\"$ref\":"
                 "\"http://example.com/sub/a.json\"}}}", "{\"p\":1,\"q\":2,\"r\":3}");
    assert_invalid("{\"$id\":\"http://example.com/root.json\",\"$defs\":{\"a\":{\"$id\":"
                   "\"sub/a.json\",\"type\":\"integer\"}},\"$ref\":\"sub/a.json\"}", "\"s\"");
    /* The outermost $dynamicAnchor wins: a strict tree forbids other members. */
    snprintf(strict, sizeof(strict), "{\"$id\":\"https://example.com/strict\",\"$dynamicAnchor\":"
             "\"node\",\"$ref\":\"tree\",\"unevaluatedProperties\":false,\"$defs\":{\"t\":%s}}",
             tree);
    assert_valid(tree, "{\"kids\":[{\"extra\":1}]}");
    assert_valid(strict, "{\"kids\":[{\"kids\":[]}]}");
    assert_invalid(strict, "{\"kids\":[{\"extra\":1}]}");
}

/* ---- errors ---- */

static void test_pointer_escaping(void **state)
{
    json_t *errs = NULL;

    assert_int_equal(check("{\"additionalProperties\":{\"type\":\"string\"}}",
                           "{\"a/b~c\":1}", &errs), FMD_EUNPROC);
    assert_error(errs, 0, "/a~1b~0c", "/additionalProperties/type", "type", "must be a string");
    json_decref(errs);
    assert_int_equal(check("{\"properties\":{\"~/\":{\"items\":{\"type\":\"string\"}}}}",
                           "{\"~/\":[\"a\",2]}", &errs), FMD_EUNPROC);
    assert_error(errs, 0, "/~0~1/1", "/properties/~0~1/items/type", "type", "must be a string");
    json_decref(errs);
    assert_int_equal(check("{\"properties\":{\"\":{\"type\":\"string\"}}}", "{\"\":1}", &errs),
                     FMD_EUNPROC);
    assert_error(errs, 0, "/", "/properties//type", "type", "must be a string");
    json_decref(errs);
}

static void test_every_error_listed_and_capped(void **state)
{
    json_t *errs = NULL;
    json_t *arr = json_array(), *s = tj("{\"items\":{\"type\":\"string\"}}");
    struct schema *cs = NULL;
    struct fmd_err err = {0};
    int i;

    assert_int_equal(check("{\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"minimum\":5}},"
                           "\"required\":[\"c\",\"d\"]}", "{\"a\":1,\"b\":1}", &errs),
                     FMD_EUNPROC);
    assert_int_equal(json_array_size(errs), 4);
    assert_error(errs, 0, "/a", NULL, "type", NULL);
    assert_error(errs, 1, "/b", NULL, "minimum", NULL);
    assert_error(errs, 2, "", NULL, "required", "'c' is required");
    assert_error(errs, 3, "", NULL, "required", "'d' is required");
    json_decref(errs);

    for (i = 0; i < 300; i++)
        json_array_append_new(arr, json_integer(i));
    assert_int_equal(schema_compile(s, &cs, &err), 0);
    assert_int_equal(schema_validate(cs, arr, &errs), FMD_EUNPROC);
    assert_int_equal(json_array_size(errs), SCHEMA_MAX_ERRORS);
    assert_error(errs, 99, "/99", "/items/type", "type", "must be a string");
    json_decref(errs);
    schema_free(cs);
    json_decref(s);
    json_decref(arr);
}

static void test_long_names_in_messages(void **state)
{
    char schema[700], inst[700], name[601];
    json_t *errs = NULL;
    const char *msg;

    /* 300 two-byte characters: the quoted name is cut at a character boundary. */
    for (int i = 0; i < 300; i++) {
        name[2 * i] = (char)0xc3;
        name[2 * i + 1] = (char)0xa9;
    }
    name[600] = '\0';
    snprintf(schema, sizeof(schema), "{\"required\":[\"%s\"]}", name);
    snprintf(inst, sizeof(inst), "{}");
    assert_int_equal(check(schema, inst, &errs), FMD_EUNPROC);
    msg = json_string_value(json_object_get(json_array_get(errs, 0), "message"));
    assert_non_null(msg);
    assert_non_null(strstr(msg, "...' is required"));
    json_decref(errs);
}

/* ---- compile ---- */

static void test_compile_errors(void **state)
{
    char deep[400];
    int i, n = 0;

    assert_compile_fails("1", "schema must be an object or a boolean");
    assert_compile_fails("[{}]", "schema must be an object or a boolean");
    assert_compile_fails("{\"properties\":{\"x\":{\"pattern\":\"a(\"}}}",
                         "pattern at /properties/x/pattern does not compile: missing closing "
                         "parenthesis");
    assert_compile_fails("{\"patternProperties\":{\"[\":{}}}",
                         "pattern at /patternProperties/[ does not compile");
    assert_compile_fails("{\"$ref\":\"#/$defs/nope\"}",
                         "$ref at /$ref does not resolve to a known schema: "
                         "'#/$defs/nope'");
    assert_compile_fails("{\"$ref\":\"http://example.com/s.json\"}", "does not resolve");
    assert_compile_fails("{\"$ref\":\"#anchor\"}", "does not resolve");
    assert_compile_fails("{\"$ref\":\"#/$defs/%zz\",\"$defs\":{}}", "does not resolve");
    assert_compile_fails("{\"$ref\":\"#/minimum\",\"minimum\":1}", "does not resolve");
    assert_compile_fails("{\"$ref\":\"#/allOf/01\",\"allOf\":[{},{}]}", "does not resolve");
    assert_compile_fails("{\"$ref\":\"#/a~2\",\"a~2\":{}}", "does not resolve");
    assert_compile_fails("{\"minimum\":\"5\"}", "value at /minimum must be a number");
    assert_compile_fails("{\"properties\":{\"a\":{\"maxLength\":-1}}}",
                         "value at /properties/a/maxLength must be a non-negative integer");
    assert_compile_fails("{\"minItems\":1.5}", "must be a non-negative integer");
    assert_compile_fails("{\"multipleOf\":0}", "value at /multipleOf must be a number greater "
                         "than 0");
    assert_compile_fails("{\"type\":\"strin\"}", "value at /type must be a type name");
    assert_compile_fails("{\"type\":[\"string\",\"string\"]}", "must be a type name");
    assert_compile_fails("{\"type\":[]}", "must be a type name");
    assert_compile_fails("{\"required\":[1]}", "value at /required must be an array of strings");
    assert_compile_fails("{\"allOf\":[]}", "value at /allOf must be a non-empty array of schemas");
    assert_compile_fails("{\"items\":[{}]}", "schema at /items must be an object or a boolean");
    assert_compile_fails("{\"properties\":[]}", "value at /properties must be an object");
    assert_compile_fails("{\"properties\":{\"a\":1}}",
                         "schema at /properties/a must be an object or a boolean");
    assert_compile_fails("{\"enum\":1}", "value at /enum must be an array");
    assert_compile_fails("{\"uniqueItems\":1}", "must be a boolean");
    assert_compile_fails("{\"format\":1}", "must be a string");
    assert_compile_fails("{\"dependentRequired\":{\"a\":[1]}}", "must be an object of arrays");
    assert_compile_fails("{\"$defs\":{\"x\":{\"minimum\":null}}}",
                         "value at /$defs/x/minimum must be a number");
    /* Only what a $ref reaches is checked outside the known keywords. */
    assert_compile_fails("{\"definitions\":{\"x\":{\"pattern\":\"(\"}},\"$ref\":"
                         "\"#/definitions/x\"}",
                         "pattern at /definitions/x/pattern does not compile");
    schema_free(compile_ok("{\"definitions\":{\"x\":{\"pattern\":\"(\"}}}"));

    /* Nesting: 64 levels compile, 65 do not. */
    for (i = 0; i < 32; i++)
        n += snprintf(deep + n, sizeof(deep) - (size_t)n, "{\"not\":");
    n += snprintf(deep + n, sizeof(deep) - (size_t)n, "{}");
    for (i = 0; i < 32; i++)
        deep[n++] = '}';
    deep[n] = '\0';
    schema_free(compile_ok(deep));   /* 33 levels */
    n = 0;
    for (i = 0; i < 64; i++)
        n += snprintf(deep + n, sizeof(deep) - (size_t)n, "{\"a\":");
    n += snprintf(deep + n, sizeof(deep) - (size_t)n, "1");
    for (i = 0; i < 64; i++)
        deep[n++] = '}';
    deep[n] = '\0';
    schema_free(compile_ok(deep));   /* 64 levels */
    n = (int)strlen(deep);
    memmove(deep + 5, deep, (size_t)n);
    memcpy(deep, "{\"a\":", 5);
    memcpy(deep + n + 5, "}", 2);   /* 65 levels */
    assert_compile_fails(deep, "schema is nested deeper than 64 levels");
}

static void test_compile_null_and_free(void **state)
{
    struct fmd_err err = {0};
    struct schema *s = (struct schema *)1;

    assert_int_equal(schema_compile(NULL, &s, &err), FMD_EUNPROC);
    assert_null(s);
    schema_free(NULL);
    assert_int_equal(schema_validate(NULL, NULL, NULL), FMD_EINVAL);
}

/* The compiled schema does not depend on the caller's document afterwards. */
static void test_schema_owns_copy(void **state)
{
    json_t *doc = tj("{\"properties\":{\"a\":{\"pattern\":\"^x\"}}}"), *inst = tj("{\"a\":\"y\"}");
    struct fmd_err err = {0};
    struct schema *s = NULL;

    assert_int_equal(schema_compile(doc, &s, &err), 0);
    json_object_clear(doc);
    json_decref(doc);
    assert_int_equal(schema_validate(s, inst, NULL), FMD_EUNPROC);
    schema_free(s);
    json_decref(inst);
}

/* ---- threads ---- */

struct thread_arg {
    const struct schema *s;
    int failures;
};

static void *validate_many(void *p)
{
    struct thread_arg *a = p;
    json_t *good = json_loads("{\"name\":\"abc\",\"tags\":[\"x\",\"y\"],\"n\":{\"next\":{}}}", 0,
                              NULL);
    json_t *bad = json_loads("{\"name\":\"ab1\",\"tags\":[\"x\",\"x\"],\"n\":{\"next\":1}}", 0,
                             NULL);
    int i;

    for (i = 0; i < 2000; i++) {
        json_t *errs = NULL;
        if (schema_validate(a->s, good, NULL) != 0)
            a->failures++;
        if (schema_validate(a->s, bad, &errs) != FMD_EUNPROC || json_array_size(errs) != 3)
            a->failures++;
        json_decref(errs);
    }
    json_decref(good);
    json_decref(bad);
    return NULL;
}

static void test_threads_share_schema(void **state)
{
    struct schema *s = compile_ok(
        "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":"
        "\"#/$defs/node\"}}}},\"properties\":{\"name\":{\"pattern\":\"^[a-z]+$\"},"
        "\"tags\":{\"uniqueItems\":true},\"n\":{\"$ref\":\"#/$defs/node\"}}}");
    pthread_t th[8];
    struct thread_arg args[8];
    int i;

    for (i = 0; i < 8; i++) {
        args[i] = (struct thread_arg){.s = s};
        assert_int_equal(pthread_create(&th[i], NULL, validate_many, &args[i]), 0);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    schema_free(s);
}

/* ---- allocation failure ---- */

static const char *const big_schema =
    "{\"$defs\":{\"pos\":{\"type\":\"integer\",\"minimum\":1}},\"type\":\"object\","
    "\"properties\":{\"a\":{\"$ref\":\"#/$defs/pos\"},\"b\":{\"pattern\":\"^[a-z]+$\"},"
    "\"c\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"uniqueItems\":true},"
    "\"d\":{\"anyOf\":[{\"type\":\"string\"},{\"minimum\":3}]}},"
    "\"patternProperties\":{\"^x\":{\"type\":\"null\"}},\"propertyNames\":{\"maxLength\":5},"
    "\"required\":[\"a\",\"z\"],\"additionalProperties\":false,"
    "\"if\":{\"required\":[\"b\"]},\"then\":{\"required\":[\"c\"]}}";

static void test_compile_alloc_failure(void **state)
{
    json_t *doc = tj(big_schema);
    long n;

    for (n = 1;; n++) {
        struct fmd_err err = {0};
        struct schema *s = NULL;
        int rc;

        fmd_mem_fail_at(n);
        rc = schema_compile(doc, &s, &err);
        fmd_mem_fail_at(0);
        if (rc == 0) {
            schema_free(s);
            break;
        }
        assert_int_equal(rc, FMD_ENOMEM);
        assert_int_equal(err.code, FMD_ENOMEM);
        assert_null(s);
        assert_true(n < 100000);
    }
    json_decref(doc);
}

static void test_validate_alloc_failure(void **state)
{
    struct schema *s = compile_ok(big_schema);
    json_t *inst = tj("{\"a\":0,\"b\":\"B\",\"c\":[\"x\",\"x\",1],\"d\":1,\"xy\":1,"
                      "\"toolong\":1}");
    long n;

    for (n = 1;; n++) {
        json_t *errs = NULL;
        int rc;

        fmd_mem_fail_at(n);
        rc = schema_validate(s, inst, &errs);
        fmd_mem_fail_at(0);
        if (rc == FMD_EUNPROC) {
            assert_true(json_array_size(errs) >= 8);
            json_decref(errs);
            break;
        }
        assert_int_equal(rc, FMD_ENOMEM);
        assert_null(errs);
        assert_true(n < 100000);
    }
    schema_free(s);
    json_decref(inst);
}

/* ---- the error list (struct schema_errors) ---- */

/* Many errors, long keys: the list outgrows the space inside the struct. */
static void test_error_list_grows(void **state)
{
    struct schema *s = compile_ok("{\"additionalProperties\":{\"type\":\"string\"},"
                                  "\"items\":{\"type\":\"string\"}}");
    json_t *arr = json_array(), *obj = json_object();
    struct schema_errors e;
    char key[300], want[320];
    size_t i;

    for (i = 0; i < 40; i++)
        json_array_append_new(arr, json_integer((json_int_t)i));
    for (i = 0; i < 10; i++) {
        memset(key, 'k', 250);
        snprintf(key + 250, sizeof(key) - 250, "/~%zu", i);
        json_object_set_new(obj, key, json_true());
    }
    schema_errors_init(&e);
    assert_int_equal(schema_check(s, arr, &e), FMD_EUNPROC);
    assert_int_equal(e.n, 40);
    assert_string_equal(e.v[0].path, "/0");
    assert_string_equal(e.v[39].path, "/39");
    assert_string_equal(e.v[39].schema_path, "/items/type");
    assert_string_equal(e.v[39].keyword, "type");
    assert_string_equal(e.v[39].message, "must be a string");
    /* the same list again: it starts afresh */
    assert_int_equal(schema_check(s, obj, &e), FMD_EUNPROC);
    assert_int_equal(e.n, 10);
    memset(want, 'k', 251);
    want[0] = '/';
    snprintf(want + 251, sizeof(want) - 251, "~1~09");
    assert_string_equal(e.v[9].path, want);
    assert_string_equal(e.v[9].schema_path, "/additionalProperties/type");
    json_array_clear(arr);
    assert_int_equal(schema_check(s, arr, &e), 0);
    assert_int_equal(e.n, 0);
    schema_errors_release(&e);
    assert_int_equal(e.n, 0);
    schema_free(s);
    json_decref(arr);
    json_decref(obj);
}

/* At most SCHEMA_MAX_ERRORS, and a NULL list stops at the first. */
static void test_error_list_cap(void **state)
{
    struct schema *s = compile_ok("{\"items\":{\"type\":\"string\"}}");
    json_t *arr = json_array();
    struct schema_errors e;
    size_t i;

    for (i = 0; i < 3 * SCHEMA_MAX_ERRORS; i++)
        json_array_append_new(arr, json_null());
    schema_errors_init(&e);
    assert_int_equal(schema_check(s, arr, &e), FMD_EUNPROC);
    assert_int_equal(e.n, SCHEMA_MAX_ERRORS);
    assert_int_equal(schema_check(s, arr, NULL), FMD_EUNPROC);
    assert_int_equal(schema_check(NULL, arr, &e), FMD_EINVAL);
    assert_int_equal(e.n, 0);
    schema_errors_release(&e);
    schema_free(s);
    json_decref(arr);
}

/* Every message made at validation time, not at compile time. */
static void test_error_list_dynamic_messages(void **state)
{
    struct schema *s = compile_ok("{\"required\":[\"a\",\"a\",\"b\"],\"properties\":{\"a\":{},"
                                  "\"b\":{},\"u\":{\"uniqueItems\":true}}}");
    json_t *inst = tj("{\"u\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,3]}");
    struct schema_errors e;

    schema_errors_init(&e);
    assert_int_equal(schema_check(s, inst, &e), FMD_EUNPROC);
    assert_int_equal(e.n, 4);
    assert_string_equal(e.v[0].message, "must not contain duplicates (items 2 and 14 are equal)");
    assert_string_equal(e.v[0].path, "/u");
    assert_string_equal(e.v[1].message, "'a' is required");
    assert_string_equal(e.v[2].message, "'a' is required");
    assert_string_equal(e.v[3].message, "'b' is required");
    assert_string_equal(e.v[3].schema_path, "/required");
    schema_errors_release(&e);
    schema_free(s);
    json_decref(inst);
}

static void test_check_alloc_failure(void **state)
{
    struct schema *s = compile_ok("{\"additionalProperties\":{\"type\":\"string\"},"
                                  "\"items\":{\"type\":\"string\"}}");
    json_t *arr = json_array();
    char key[200];
    size_t i;
    long n;

    for (i = 0; i < 60; i++) {
        json_t *o = json_object();
        memset(key, 'x', 150);
        snprintf(key + 150, sizeof(key) - 150, "%zu", i);
        json_object_set_new(o, key, json_integer(1));
        json_array_append_new(arr, o);
    }
    for (n = 1;; n++) {
        struct schema_errors e;
        int rc;

        schema_errors_init(&e);
        fmd_mem_fail_at(n);
        rc = schema_check(s, arr, &e);
        fmd_mem_fail_at(0);
        schema_errors_release(&e);
        if (rc == FMD_EUNPROC)
            break;
        assert_int_equal(rc, FMD_ENOMEM);
        assert_true(n < 1000);
    }
    assert_true(n > 1);   /* it did allocate: list and text outgrew the struct */
    schema_free(s);
    json_decref(arr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type),
        cmocka_unit_test(test_enum),
        cmocka_unit_test(test_const),
        cmocka_unit_test(test_properties_required),
        cmocka_unit_test(test_additional_properties),
        cmocka_unit_test(test_pattern_properties),
        cmocka_unit_test(test_property_names_and_counts),
        cmocka_unit_test(test_dependent),
        cmocka_unit_test(test_items),
        cmocka_unit_test(test_unique_items),
        cmocka_unit_test(test_contains),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_pattern),
        cmocka_unit_test(test_pattern_cost_bounded),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_all_any_one_not),
        cmocka_unit_test(test_if_then_else),
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_ref_cycles),
        cmocka_unit_test(test_exponential_schema_bounded),
        cmocka_unit_test(test_boolean_schemas),
        cmocka_unit_test(test_unevaluated_errors),
        cmocka_unit_test(test_format_annotation_flag),
        cmocka_unit_test(test_ids_anchors_dynamic),
        cmocka_unit_test(test_ignored_keywords),
        cmocka_unit_test(test_pointer_escaping),
        cmocka_unit_test(test_every_error_listed_and_capped),
        cmocka_unit_test(test_long_names_in_messages),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_compile_null_and_free),
        cmocka_unit_test(test_schema_owns_copy),
        cmocka_unit_test(test_threads_share_schema),
        cmocka_unit_test(test_compile_alloc_failure),
        cmocka_unit_test(test_validate_alloc_failure),
        cmocka_unit_test(test_error_list_grows),
        cmocka_unit_test(test_error_list_cap),
        cmocka_unit_test(test_error_list_dynamic_messages),
        cmocka_unit_test(test_check_alloc_failure),
    };

    /* Jansson allocates through fmd_malloc too, so fault injection reaches it. */
    json_set_alloc_funcs(fmd_malloc, fmd_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
