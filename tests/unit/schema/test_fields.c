/*
 * test_fields.c - unit tests for src/schema/fields.c: the schema each field
 * type and member compiles to, every rejection with its message, how the
 * compiled conditions validate, and allocation failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "schema/fields.h"
#include "unit/schema/schema_test.h"
#include "core/banned.h"

#define URI "https://json-schema.org/draft/2020-12/schema"

/* The fields of docs/api.md's example, plus the has_pet field it refers to. */
static const char *const doc_fields =
    "[{\"name\": \"email\", \"type\": \"email\", \"required\": true},"
    " {\"name\": \"age\", \"type\": \"integer\", \"min\": 18, \"max\": 130},"
    " {\"name\": \"colour\", \"type\": \"select\", \"options\": [\"red\", \"green\"]},"
    " {\"name\": \"reason\", \"type\": \"textarea\","
    "  \"required_if\": {\"field\": \"colour\", \"equals\": \"red\"}},"
    " {\"name\": \"has_pet\", \"type\": \"checkbox\"},"
    " {\"name\": \"pet\", \"type\": \"text\", \"visible_if\": {\"field\": \"has_pet\", \"equals\": true}}]";

static json_t *compile_fields_ok(const char *text)
{
    struct fmd_err err = {0};
    json_t *fields = tj(text), *out = NULL;
    int rc = fields_compile(fields, &out, &err);

    json_decref(fields);
    if (rc)
        fail_msg("fields do not compile (%d: %s): %s", rc, err.msg, text);
    return out;
}

static void assert_json_eq(const json_t *got, const char *want_text)
{
    json_t *want = tj(want_text);

    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT);
        fail_msg("got  %s\nwant %s", g ? g : "(null)", want_text);
    }
    json_decref(want);
}

/* The property schema one field compiles to. */
static void assert_property(const char *field, const char *want)
{
    char text[1024];
    json_t *s;

    snprintf(text, sizeof(text), "[%s]", field);
    s = compile_fields_ok(text);
    assert_json_eq(json_object_get(json_object_get(s, "properties"), "f"), want);
    json_decref(s);
}

static void assert_fields_fail(const char *text, const char *want)
{
    struct fmd_err err = {0};
    json_t *fields = tj(text), *out = (json_t *)1;

    assert_int_equal(fields_compile(fields, &out, &err), FMD_EUNPROC);
    assert_null(out);
    assert_int_equal(err.code, FMD_EUNPROC);
    assert_string_equal(err.msg, want);
    json_decref(fields);
}

/* ---- output ---- */

static void test_doc_example(void **state)
{
    json_t *s = compile_fields_ok(doc_fields);
    char *dump = json_dumps(s, JSON_COMPACT);

    /* Exact text: members in this order. */
    assert_string_equal(dump,
        "{\"$schema\":\"" URI "\",\"type\":\"object\",\"properties\":{"
        "\"email\":{\"type\":\"string\",\"format\":\"email\"},"
        "\"age\":{\"type\":\"integer\",\"minimum\":18,\"maximum\":130},"
        "\"colour\":{\"enum\":[\"red\",\"green\"]},"
        "\"reason\":{\"type\":\"string\",\"maxLength\":10000},"
        "\"has_pet\":{\"type\":\"boolean\"},"
        "\"pet\":{\"type\":\"string\",\"maxLength\":1000}},"
        "\"required\":[\"email\"],\"additionalProperties\":false,\"allOf\":["
        "{\"if\":{\"properties\":{\"colour\":{\"const\":\"red\"}},\"required\":[\"colour\"]},"
        "\"then\":{\"required\":[\"reason\"]}},"
        "{\"if\":{\"not\":{\"properties\":{\"has_pet\":{\"const\":true}},"
        "\"required\":[\"has_pet\"]}},\"then\":{\"not\":{\"required\":[\"pet\"]}}}]}");
    fmd_free(dump);
    json_decref(s);
}

static void test_no_conditions_no_all_of(void **state)
{
    json_t *s = compile_fields_ok("[{\"name\":\"a\",\"type\":\"checkbox\"}]");

    assert_json_eq(s, "{\"$schema\":\"" URI "\",\"type\":\"object\",\"properties\":"
                      "{\"a\":{\"type\":\"boolean\"}},\"required\":[],"
                      "\"additionalProperties\":false}");
    json_decref(s);
}

static void test_each_type(void **state)
{
    assert_property("{\"name\":\"f\",\"type\":\"text\"}", "{\"type\":\"string\",\"maxLength\":1000}");
    assert_property("{\"name\":\"f\",\"type\":\"text\",\"label\":\"L\",\"description\":\"D\","
                    "\"min_length\":2,\"max_length\":5,\"pattern\":\"^[a-z]+$\"}",
                    "{\"title\":\"L\",\"description\":\"D\",\"type\":\"string\",\"minLength\":2,"
                    "\"maxLength\":5,\"pattern\":\"^[a-z]+$\"}");
    assert_property("{\"name\":\"f\",\"type\":\"textarea\"}",
                    "{\"type\":\"string\",\"maxLength\":10000}");
    assert_property("{\"name\":\"f\",\"type\":\"textarea\",\"max_length\":20000}",
                    "{\"type\":\"string\",\"maxLength\":20000}");
    assert_property("{\"name\":\"f\",\"type\":\"email\"}", "{\"type\":\"string\",\"format\":\"email\"}");
    assert_property("{\"name\":\"f\",\"type\":\"email\",\"max_length\":100,\"pattern\":\"@x\\\\.com$\"}",
                    "{\"type\":\"string\",\"format\":\"email\",\"maxLength\":100,\"pattern\":\"@x\\\\.com$\"}");
    assert_property("{\"name\":\"f\",\"type\":\"number\",\"min\":0.5,\"max\":2}",
                    "{\"type\":\"number\",\"minimum\":0.5,\"maximum\":2}");
    assert_property("{\"name\":\"f\",\"type\":\"number\"}", "{\"type\":\"number\"}");
    assert_property("{\"name\":\"f\",\"type\":\"integer\",\"min\":-3}",
                    "{\"type\":\"integer\",\"minimum\":-3}");
    assert_property("{\"name\":\"f\",\"type\":\"date\"}", "{\"type\":\"string\",\"format\":\"date\"}");
    assert_property("{\"name\":\"f\",\"type\":\"select\",\"options\":[\"a\",1,2.5]}",
                    "{\"enum\":[\"a\",1,2.5]}");
    assert_property("{\"name\":\"f\",\"type\":\"multiselect\",\"options\":[\"a\",\"b\"]}",
                    "{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\"]},\"uniqueItems\":true}");
    assert_property("{\"name\":\"f\",\"type\":\"multiselect\",\"options\":[\"a\",\"b\"],"
                    "\"min_items\":1,\"max_items\":2}",
                    "{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\"]},\"uniqueItems\":true,"
                    "\"minItems\":1,\"maxItems\":2}");
    assert_property("{\"name\":\"f\",\"type\":\"checkbox\"}", "{\"type\":\"boolean\"}");
    assert_property("{\"name\":\"f\",\"type\":\"rating\"}",
                    "{\"type\":\"integer\",\"minimum\":1,\"maximum\":5}");
    assert_property("{\"name\":\"f\",\"type\":\"rating\",\"min\":0,\"max\":10}",
                    "{\"type\":\"integer\",\"minimum\":0,\"maximum\":10}");
    assert_property("{\"name\":\"f\",\"type\":\"rating\",\"max\":3}",
                    "{\"type\":\"integer\",\"minimum\":1,\"maximum\":3}");
    assert_property("{\"name\":\"f\",\"type\":\"phone\"}",
                    "{\"type\":\"string\",\"pattern\":\"^\\\\+?[0-9][0-9 ().-]{3,30}$\"}");
    assert_property("{\"name\":\"f\",\"type\":\"url\"}", "{\"type\":\"string\",\"format\":\"uri\"}");
    assert_property("{\"name\":\"f\",\"type\":\"text\",\"required\":false}",
                    "{\"type\":\"string\",\"maxLength\":1000}");
}

static void test_required_and_conditions(void **state)
{
    json_t *s = compile_fields_ok(
        "[{\"name\":\"a\",\"type\":\"checkbox\"},"
        " {\"name\":\"b\",\"type\":\"text\",\"required\":true,"
        "  \"visible_if\":{\"field\":\"a\",\"equals\":true}},"
        " {\"name\":\"c\",\"type\":\"text\",\"required_if\":{\"field\":\"d\",\"equals\":{\"k\":[1]}},"
        "  \"visible_if\":{\"field\":\"a\",\"equals\":true}},"
        " {\"name\":\"d\",\"type\":\"number\",\"required\":true}]");

    assert_json_eq(json_object_get(s, "required"), "[\"d\"]");
    assert_json_eq(json_object_get(s, "allOf"),
        "[{\"if\":{\"properties\":{\"a\":{\"const\":true}},\"required\":[\"a\"]},"
        "  \"then\":{\"required\":[\"b\"]}},"
        " {\"if\":{\"not\":{\"properties\":{\"a\":{\"const\":true}},\"required\":[\"a\"]}},"
        "  \"then\":{\"not\":{\"required\":[\"b\"]}}},"
        " {\"if\":{\"allOf\":[{\"properties\":{\"d\":{\"const\":{\"k\":[1]}}},\"required\":[\"d\"]},"
        "                    {\"properties\":{\"a\":{\"const\":true}},\"required\":[\"a\"]}]},"
        "  \"then\":{\"required\":[\"c\"]}},"
        " {\"if\":{\"not\":{\"properties\":{\"a\":{\"const\":true}},\"required\":[\"a\"]}},"
        "  \"then\":{\"not\":{\"required\":[\"c\"]}}}]");
    json_decref(s);
}

static void test_input_untouched(void **state)
{
    struct fmd_err err = {0};
    json_t *fields = tj(doc_fields), *copy = json_deep_copy(fields), *out = NULL;

    assert_int_equal(fields_compile(fields, &out, &err), 0);
    assert_true(json_equal(fields, copy));
    /* The output shares nothing with the input. */
    json_decref(fields);
    assert_non_null(json_object_get(json_object_get(out, "properties"), "colour"));
    json_decref(out);
    json_decref(copy);
}

/* ---- rejections ---- */

static void test_errors_shape(void **state)
{
    char big[20000];
    int i, n = 0;

    assert_fields_fail("{}", "'fields' must be an array");
    assert_fields_fail("[]", "'fields' must not be empty");
    n += snprintf(big + n, sizeof(big) - (size_t)n, "[");
    for (i = 0; i < 501; i++)
        n += snprintf(big + n, sizeof(big) - (size_t)n, "%s{\"name\":\"f%d\",\"type\":\"text\"}",
                      i ? "," : "", i);
    snprintf(big + n, sizeof(big) - (size_t)n, "]");
    assert_fields_fail(big, "'fields' has more than 500 fields");
    /* 500 is fine. */
    memcpy(strstr(big, ",{\"name\":\"f500\""), "]", 2);
    json_decref(compile_fields_ok(big));
}

static void test_errors_names(void **state)
{
    const char *bad_name = "field 1: 'name' must match ^[A-Za-z_][A-Za-z0-9_]{0,63}$";

    assert_fields_fail("[1]", "field 1: must be an object");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\"},[]]", "field 2: must be an object");
    assert_fields_fail("[{\"type\":\"text\"}]", "field 1: 'name' is missing");
    assert_fields_fail("[{\"name\":1,\"type\":\"text\"}]", "field 1: 'name' must be a string");
    assert_fields_fail("[{\"name\":\"\",\"type\":\"text\"}]", bad_name);
    assert_fields_fail("[{\"name\":\"1a\",\"type\":\"text\"}]", bad_name);
    assert_fields_fail("[{\"name\":\"a-b\",\"type\":\"text\"}]", bad_name);
    assert_fields_fail("[{\"name\":\"\\u00e9\",\"type\":\"text\"}]", bad_name);
    assert_fields_fail("[{\"name\":\"a2345678901234567890123456789012345678901234567890123456789012345\","
                       "\"type\":\"text\"}]", bad_name);
    json_decref(compile_fields_ok(
        "[{\"name\":\"_234567890123456789012345678901234567890123456789012345678901234\","
        "\"type\":\"text\"}]"));
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\"},{\"name\":\"b\",\"type\":\"text\"},"
                       "{\"name\":\"a\",\"type\":\"text\"}]",
                       "field 3 ('a'): the name is already used by field 1");
    /* Names are checked for every field before anything else. */
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"nope\"},{\"name\":\"a\",\"type\":\"text\"}]",
                       "field 2 ('a'): the name is already used by field 1");
}

static void test_errors_types_and_members(void **state)
{
    assert_fields_fail("[{\"name\":\"a\"}]", "field 1 ('a'): 'type' is missing");
    assert_fields_fail("[{\"name\":\"a\",\"type\":3}]", "field 1 ('a'): 'type' must be a string");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"texts\"}]", "field 1 ('a'): unknown type 'texts'");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\",\"colour\":1}]",
                       "field 1 ('a'): unknown member 'colour'");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\",\"min\":1}]",
                       "field 1 ('a'): 'min' does not apply to type 'text'");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"number\",\"options\":[1]}]",
                       "field 1 ('a'): 'options' does not apply to type 'number'");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"select\",\"options\":[1],\"min_items\":1}]",
                       "field 1 ('a'): 'min_items' does not apply to type 'select'");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"phone\",\"pattern\":\"x\"}]",
                       "field 1 ('a'): 'pattern' does not apply to type 'phone'");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"date\",\"max_length\":3}]",
                       "field 1 ('a'): 'max_length' does not apply to type 'date'");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"checkbox\",\"max\":3}]",
                       "field 1 ('a'): 'max' does not apply to type 'checkbox'");
}

static void test_errors_member_types(void **state)
{
    assert_fields_fail("[{\"name\":\"x\",\"type\":\"text\"},"
                       "{\"name\":\"age\",\"type\":\"integer\",\"min\":\"5\"}]",
                       "field 2 ('age'): 'min' must be a number");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"number\",\"max\":null}]",
                       "field 1 ('a'): 'max' must be a number");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"rating\",\"max\":4.5}]",
                       "field 1 ('a'): 'max' must be an integer");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\",\"label\":1}]",
                       "field 1 ('a'): 'label' must be a string");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\",\"description\":[]}]",
                       "field 1 ('a'): 'description' must be a string");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\",\"required\":\"yes\"}]",
                       "field 1 ('a'): 'required' must be a boolean");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\",\"max_length\":-1}]",
                       "field 1 ('a'): 'max_length' must be a non-negative integer");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\",\"min_length\":1.5}]",
                       "field 1 ('a'): 'min_length' must be a non-negative integer");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"multiselect\",\"options\":[1],\"max_items\":\"2\"}]",
                       "field 1 ('a'): 'max_items' must be a non-negative integer");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\",\"pattern\":1}]",
                       "field 1 ('a'): 'pattern' must be a string");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\",\"pattern\":\"(\"}]",
                       "field 1 ('a'): 'pattern' does not compile: missing closing parenthesis "
                       "at offset 1");
}

static void test_errors_ranges(void **state)
{
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"number\",\"min\":5,\"max\":4.5}]",
                       "field 1 ('a'): 'min' must not be greater than 'max'");
    json_decref(compile_fields_ok("[{\"name\":\"a\",\"type\":\"number\",\"min\":5,\"max\":5}]"));
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\",\"min_length\":5,\"max_length\":4}]",
                       "field 1 ('a'): 'min_length' must not be greater than 'max_length'");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\",\"min_length\":1001}]",
                       "field 1 ('a'): 'min_length' must not be greater than 'max_length' "
                       "(1000 by default)");
    json_decref(compile_fields_ok("[{\"name\":\"a\",\"type\":\"email\",\"min_length\":1001}]"));
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"multiselect\",\"options\":[1,2,3],"
                       "\"min_items\":3,\"max_items\":2}]",
                       "field 1 ('a'): 'min_items' must not be greater than 'max_items'");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"multiselect\",\"options\":[1,2],\"min_items\":3}]",
                       "field 1 ('a'): 'min_items' must not be greater than the number of options");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"rating\",\"min\":6}]",
                       "field 1 ('a'): 'min' must not be greater than 'max' (5 by default)");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"rating\",\"max\":0}]",
                       "field 1 ('a'): 'max' must not be less than 'min' (1 by default)");
}

static void test_errors_options(void **state)
{
    char big[8000];
    int i, n = 0;

    assert_fields_fail("[{\"name\":\"a\",\"type\":\"select\"}]",
                       "field 1 ('a'): 'options' must be a non-empty array");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"select\",\"options\":[]}]",
                       "field 1 ('a'): 'options' must be a non-empty array");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"multiselect\",\"options\":\"a,b\"}]",
                       "field 1 ('a'): 'options' must be a non-empty array");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"select\",\"options\":[\"x\",true]}]",
                       "field 1 ('a'): option 2 must be a string or a number");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"select\",\"options\":[[1]]}]",
                       "field 1 ('a'): option 1 must be a string or a number");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"select\",\"options\":[\"x\",\"y\",\"x\"]}]",
                       "field 1 ('a'): option 3 repeats option 1");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"multiselect\",\"options\":[1,1.0]}]",
                       "field 1 ('a'): option 2 repeats option 1");
    json_decref(compile_fields_ok("[{\"name\":\"a\",\"type\":\"select\",\"options\":[1,\"1\"]}]"));
    n += snprintf(big + n, sizeof(big) - (size_t)n, "[{\"name\":\"a\",\"type\":\"select\",\"options\":[");
    for (i = 0; i < 1001; i++)
        n += snprintf(big + n, sizeof(big) - (size_t)n, "%s%d", i ? "," : "", i);
    snprintf(big + n, sizeof(big) - (size_t)n, "]}]");
    assert_fields_fail(big, "field 1 ('a'): 'options' has more than 1000 entries");
}

static void test_errors_conditions(void **state)
{
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\",\"visible_if\":true}]",
                       "field 1 ('a'): 'visible_if' must be an object with exactly 'field' and 'equals'");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\",\"required_if\":{\"field\":\"b\"}},"
                       "{\"name\":\"b\",\"type\":\"text\"}]",
                       "field 1 ('a'): 'required_if' must be an object with exactly 'field' and 'equals'");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\",\"required_if\":{\"field\":\"b\","
                       "\"equals\":1,\"also\":2}},{\"name\":\"b\",\"type\":\"text\"}]",
                       "field 1 ('a'): 'required_if' must be an object with exactly 'field' and 'equals'");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\",\"visible_if\":{\"field\":1,\"equals\":1}}]",
                       "field 1 ('a'): 'visible_if.field' must be a string");
    {
        /* "b\0x" must not pass for "b". */
        struct fmd_err err = {0};
        json_t *f = tj("[{\"name\":\"a\",\"type\":\"text\"},{\"name\":\"b\",\"type\":\"text\"}]");
        json_t *out = NULL;
        json_object_set_new(json_array_get(f, 0), "visible_if",
                            json_pack("{s:s%,s:i}", "field", "b\0x", (size_t)3, "equals", 1));
        assert_int_equal(fields_compile(f, &out, &err), FMD_EUNPROC);
        assert_string_equal(err.msg, "field 1 ('a'): 'visible_if.field' must be a string");
        json_decref(f);
    }
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\",\"visible_if\":{\"field\":\"a\",\"equals\":1}}]",
                       "field 1 ('a'): 'visible_if' refers to the field itself");
    assert_fields_fail("[{\"name\":\"a\",\"type\":\"text\"},{\"name\":\"b\",\"type\":\"text\","
                       "\"required_if\":{\"field\":\"c\",\"equals\":1}}]",
                       "field 2 ('b'): 'required_if' refers to unknown field 'c'");
    /* A condition may name a field defined later, and compare with null. */
    json_decref(compile_fields_ok("[{\"name\":\"a\",\"type\":\"text\",\"visible_if\":"
                                  "{\"field\":\"b\",\"equals\":null}},{\"name\":\"b\",\"type\":\"text\"}]"));
}

/* ---- the compiled schema at work ---- */

static struct schema *compile_form(const char *fields_text)
{
    struct fmd_err err = {0};
    struct schema *s = NULL;
    json_t *doc = compile_fields_ok(fields_text);

    if (schema_compile(doc, &s, &err))
        fail_msg("compiled fields do not compile as a schema: %s", err.msg);
    json_decref(doc);
    return s;
}

static int submit(const struct schema *s, const char *data, json_t **errs)
{
    json_t *inst = tj(data);
    int rc = schema_validate(s, inst, errs);

    json_decref(inst);
    return rc;
}

static void test_validation_of_doc_example(void **state)
{
    struct schema *s = compile_form(doc_fields);
    json_t *errs = NULL;

    assert_int_equal(submit(s, "{\"email\":\"a@b.co\",\"age\":30,\"colour\":\"green\"}", NULL), 0);
    assert_int_equal(submit(s, "{\"email\":\"a@b.co\",\"has_pet\":true,\"pet\":\"Rex\"}", NULL), 0);
    assert_int_equal(submit(s, "{}", &errs), FMD_EUNPROC);
    assert_error(errs, 0, "", "/required", "required", "'email' is required");
    json_decref(errs);
    assert_int_equal(submit(s, "{\"email\":\"nope\",\"age\":17,\"colour\":\"blue\",\"x\":1}", &errs),
                     FMD_EUNPROC);
    assert_int_equal(json_array_size(errs), 4);
    assert_error(errs, 0, "/email", "/properties/email/format", "format", "must be a valid email");
    assert_error(errs, 1, "/age", "/properties/age/minimum", "minimum", "must be >= 18");
    assert_error(errs, 2, "/colour", "/properties/colour/enum", "enum",
                 "must be one of the listed values");
    assert_error(errs, 3, "/x", "/additionalProperties", "additionalProperties", "is not allowed");
    json_decref(errs);
    /* required_if */
    assert_int_equal(submit(s, "{\"email\":\"a@b.co\",\"colour\":\"red\"}", &errs), FMD_EUNPROC);
    assert_int_equal(json_array_size(errs), 1);
    assert_error(errs, 0, "", "/allOf/0/then/required", "required", "'reason' is required");
    json_decref(errs);
    assert_int_equal(submit(s, "{\"email\":\"a@b.co\",\"colour\":\"red\",\"reason\":\"r\"}", NULL), 0);
    /* visible_if: hidden while has_pet is not true, and then pet must be absent */
    assert_int_equal(submit(s, "{\"email\":\"a@b.co\",\"pet\":\"Rex\"}", &errs), FMD_EUNPROC);
    assert_error(errs, 0, "", "/allOf/1/then/not", "not", NULL);
    json_decref(errs);
    assert_int_equal(submit(s, "{\"email\":\"a@b.co\",\"has_pet\":false,\"pet\":\"Rex\"}", NULL),
                     FMD_EUNPROC);
    assert_int_equal(submit(s, "{\"email\":\"a@b.co\",\"has_pet\":false}", NULL), 0);
    schema_free(s);
}

static void test_validation_required_while_visible(void **state)
{
    struct schema *s = compile_form(
        "[{\"name\":\"has_pet\",\"type\":\"checkbox\"},"
        " {\"name\":\"pet\",\"type\":\"text\",\"required\":true,"
        "  \"visible_if\":{\"field\":\"has_pet\",\"equals\":true}},"
        " {\"name\":\"kind\",\"type\":\"select\",\"options\":[\"dog\",\"cat\"]},"
        " {\"name\":\"breed\",\"type\":\"text\",\"required_if\":{\"field\":\"kind\",\"equals\":\"dog\"},"
        "  \"visible_if\":{\"field\":\"has_pet\",\"equals\":true}}]");
    json_t *errs = NULL;

    assert_int_equal(submit(s, "{}", NULL), 0);
    assert_int_equal(submit(s, "{\"has_pet\":false}", NULL), 0);
    assert_int_equal(submit(s, "{\"has_pet\":true}", &errs), FMD_EUNPROC);
    assert_int_equal(json_array_size(errs), 1);
    assert_error(errs, 0, "", "/allOf/0/then/required", "required", "'pet' is required");
    json_decref(errs);
    assert_int_equal(submit(s, "{\"has_pet\":true,\"pet\":\"Rex\"}", NULL), 0);
    /* breed: required when kind is dog, but only while visible */
    assert_int_equal(submit(s, "{\"kind\":\"dog\"}", NULL), 0);
    assert_int_equal(submit(s, "{\"has_pet\":true,\"pet\":\"Rex\",\"kind\":\"dog\"}", &errs),
                     FMD_EUNPROC);
    assert_error(errs, 0, "", "/allOf/2/then/required", "required", "'breed' is required");
    json_decref(errs);
    assert_int_equal(submit(s, "{\"has_pet\":true,\"pet\":\"Rex\",\"kind\":\"dog\",\"breed\":\"x\"}",
                            NULL), 0);
    schema_free(s);
}

static void test_validation_types(void **state)
{
    struct schema *s = compile_form(
        "[{\"name\":\"t\",\"type\":\"text\"},{\"name\":\"ph\",\"type\":\"phone\"},"
        " {\"name\":\"u\",\"type\":\"url\"},{\"name\":\"d\",\"type\":\"date\"},"
        " {\"name\":\"r\",\"type\":\"rating\"},{\"name\":\"m\",\"type\":\"multiselect\","
        "  \"options\":[\"a\",\"b\",\"c\"],\"max_items\":2}]");
    char longtext[1100];

    assert_int_equal(submit(s, "{\"ph\":\"+44 (20) 7946-0958\",\"u\":\"https://x.org\","
                               "\"d\":\"2024-02-29\",\"r\":5,\"m\":[\"a\",\"c\"]}", NULL), 0);
    assert_int_equal(submit(s, "{\"ph\":\"call me\"}", NULL), FMD_EUNPROC);
    assert_int_equal(submit(s, "{\"u\":\"x.org\"}", NULL), FMD_EUNPROC);
    assert_int_equal(submit(s, "{\"d\":\"2023-02-29\"}", NULL), FMD_EUNPROC);
    assert_int_equal(submit(s, "{\"r\":6}", NULL), FMD_EUNPROC);
    assert_int_equal(submit(s, "{\"r\":4.0}", NULL), 0);
    assert_int_equal(submit(s, "{\"m\":[\"a\",\"a\"]}", NULL), FMD_EUNPROC);
    assert_int_equal(submit(s, "{\"m\":[\"a\",\"b\",\"c\"]}", NULL), FMD_EUNPROC);
    assert_int_equal(submit(s, "{\"m\":[\"z\"]}", NULL), FMD_EUNPROC);
    memset(longtext, 'x', sizeof(longtext));
    memcpy(longtext, "{\"t\":\"", 6);
    memcpy(longtext + 6 + 1001, "\"}", 3);
    assert_int_equal(submit(s, longtext, NULL), FMD_EUNPROC);
    longtext[6 + 1000] = '"';
    memcpy(longtext + 6 + 1000, "\"}", 3);
    assert_int_equal(submit(s, longtext, NULL), 0);
    schema_free(s);
}

/* ---- allocation failure ---- */

static void test_alloc_failure(void **state)
{
    json_t *fields = tj(doc_fields), *want = compile_fields_ok(doc_fields);
    long n;

    for (n = 1;; n++) {
        struct fmd_err err = {0};
        json_t *out = NULL;
        int rc;

        fmd_mem_fail_at(n);
        rc = fields_compile(fields, &out, &err);
        fmd_mem_fail_at(0);
        if (rc == 0) {
            assert_true(json_equal(out, want));
            json_decref(out);
            break;
        }
        assert_int_equal(rc, FMD_ENOMEM);
        assert_int_equal(err.code, FMD_ENOMEM);
        assert_null(out);
        assert_true(n < 100000);
    }
    assert_true(n > 20);   /* the loop really went through the allocations */
    json_decref(fields);
    json_decref(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doc_example),
        cmocka_unit_test(test_no_conditions_no_all_of),
        cmocka_unit_test(test_each_type),
        cmocka_unit_test(test_required_and_conditions),
        cmocka_unit_test(test_input_untouched),
        cmocka_unit_test(test_errors_shape),
        cmocka_unit_test(test_errors_names),
        cmocka_unit_test(test_errors_types_and_members),
        cmocka_unit_test(test_errors_member_types),
        cmocka_unit_test(test_errors_ranges),
        cmocka_unit_test(test_errors_options),
        cmocka_unit_test(test_errors_conditions),
        cmocka_unit_test(test_validation_of_doc_example),
        cmocka_unit_test(test_validation_required_while_visible),
        cmocka_unit_test(test_validation_types),
        cmocka_unit_test(test_alloc_failure),
    };

    /* Jansson allocates through fmd_malloc too, so fault injection reaches it. */
    json_set_alloc_funcs(fmd_malloc, fmd_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
