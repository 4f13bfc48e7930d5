/*
 * test_columns.c - unit tests for src/analytics/columns.c: the kind, DuckDB
 * type and options of each property schema, $ref, allOf, anyOf and nullable
 * types, the union and widening across versions, DuckDB column names, the SQL
 * text (hostile names included), bad input and allocation failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "analytics/columns.h"
#include "core/mem.h"
#include "core/banned.h"

#define MAXV 8

/* Parses test JSON (any value); the caller decrefs. */
static json_t *tj(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);

    if (!v)
        fail_msg("test JSON does not parse: %s: %s", e.text, text);
    return v;
}

/* Columns of the schemas given as text (NULL-terminated); must succeed. */
static void cols_of(struct columns *c, const char *const *texts)
{
    json_t *s[MAXV];
    struct fmd_err err = {0};
    size_t n, i;
    int rc;

    for (n = 0; texts[n]; n++)
        s[n] = tj(texts[n]);
    columns_init(c);
    rc = columns_from_schemas((const json_t *const *)s, n, NULL, c, &err);
    for (i = 0; i < n; i++)
        json_decref(s[i]);
    if (rc)
        fail_msg("columns_from_schemas: %d: %s", rc, err.msg);
}

/* Columns of one schema with the given properties object text. */
static void cols_of_props(struct columns *c, const char *props)
{
    char text[4096];
    const char *texts[2] = {text, NULL};

    snprintf(text, sizeof(text), "{\"type\":\"object\",\"properties\":%s}", props);
    cols_of(c, texts);
}

/* Options as one string "a|b|c". */
static const char *opts_str(const struct column *col)
{
    static char s[1024];
    size_t i, n = 0;

    s[0] = '\0';
    for (i = 0; i < col->n_options; i++)
        n += (size_t)snprintf(s + n, sizeof(s) - n, "%s%s", i ? "|" : "", col->options[i]);
    return s;
}

static const struct column *get(const struct columns *c, const char *name)
{
    const struct column *col = columns_find(c, name);

    if (!col)
        fail_msg("no column '%s'", name);
    return col;
}

static void assert_col(const struct columns *c, const char *name, enum columns_kind kind,
                       const char *duck, const char *options)
{
    const struct column *col = get(c, name);

    if (col->kind != kind)
        fail_msg("column '%s': kind %s, want %s", name, columns_kind_name(col->kind),
                 columns_kind_name(kind));
    assert_string_equal(col->duck_type, duck);
    assert_string_equal(opts_str(col), options ? options : "");
    if (!options)
        assert_int_equal(col->n_options, 0);
}

/* The kind one property schema gives. */
static void assert_kind(const char *schema, enum columns_kind kind, const char *options)
{
    struct columns c;
    char props[2048];

    snprintf(props, sizeof(props), "{\"p\":%s}", schema);
    cols_of_props(&c, props);
    assert_int_equal(c.n, 1);
    if (c.v[0].kind != kind)
        fail_msg("%s: kind %s, want %s", schema, columns_kind_name(c.v[0].kind),
                 columns_kind_name(kind));
    assert_string_equal(opts_str(&c.v[0]), options ? options : "");
    columns_release(&c);
}

/* The kind a property gets from one schema per version. */
static void assert_widened(const char *v1, const char *v2, enum columns_kind kind)
{
    char a[1024], b[1024];
    const char *texts[3] = {a, b, NULL};
    struct columns c;

    snprintf(a, sizeof(a), "{\"properties\":{\"p\":%s}}", v1);
    snprintf(b, sizeof(b), "{\"properties\":{\"p\":%s}}", v2);
    cols_of(&c, texts);
    assert_int_equal(c.n, 1);
    if (c.v[0].kind != kind)
        fail_msg("%s then %s: kind %s, want %s", v1, v2, columns_kind_name(c.v[0].kind),
                 columns_kind_name(kind));
    assert_string_equal(c.v[0].duck_type, columns_duck_type(kind));
    columns_release(&c);
}

/* ---- kinds ---- */

/* docs/api.md's example as the fields compiler writes it (tests/unit/schema/test_fields.c). */
static const char *const doc_schema =
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\","
    "\"properties\":{"
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
    "\"required\":[\"has_pet\"]}},\"then\":{\"not\":{\"required\":[\"pet\"]}}}]}";

static void test_fields_example(void **state)
{
    const char *texts[] = {doc_schema, NULL};
    static const char *const order[] = {"email", "age", "colour", "reason", "has_pet", "pet"};
    struct columns c;
    size_t i;

    cols_of(&c, texts);
    assert_int_equal(c.n, 6);
    for (i = 0; i < 6; i++) {
        assert_string_equal(c.v[i].name, order[i]);
        assert_string_equal(c.v[i].sql_name, order[i]);
        assert_int_equal(c.v[i].first_version, 0);
        assert_int_equal(c.v[i].last_version, 0);
    }
    assert_col(&c, "email", COLUMNS_TEXT, "VARCHAR", NULL);
    assert_col(&c, "age", COLUMNS_INTEGER, "BIGINT", NULL);
    /* The if's {"const": "red"} is a condition, not a narrowing. */
    assert_col(&c, "colour", COLUMNS_CHOICE, "VARCHAR", "red|green");
    assert_col(&c, "reason", COLUMNS_TEXT, "VARCHAR", NULL);
    assert_col(&c, "has_pet", COLUMNS_BOOLEAN, "BOOLEAN", NULL);
    columns_release(&c);
}

static void test_each_kind(void **state)
{
    struct columns c;

    cols_of_props(&c,
        "{\"sel\":{\"enum\":[\"a\",\"b\"]},"
        " \"multi\":{\"type\":\"array\",\"items\":{\"enum\":[\"x\",\"y\"]},\"uniqueItems\":true},"
        " \"num\":{\"type\":\"number\",\"minimum\":0.5},"
        " \"int\":{\"type\":\"integer\"},"
        " \"text\":{\"type\":\"string\",\"format\":\"uri\"},"
        " \"day\":{\"type\":\"string\",\"format\":\"date\"},"
        " \"at\":{\"type\":\"string\",\"format\":\"date-time\"},"
        " \"clock\":{\"type\":\"string\",\"format\":\"time\"},"
        " \"ok\":{\"type\":\"boolean\"},"
        " \"obj\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\"}}}}");
    assert_int_equal(c.n, 10);
    assert_col(&c, "sel", COLUMNS_CHOICE, "VARCHAR", "a|b");
    assert_col(&c, "multi", COLUMNS_MULTICHOICE, "VARCHAR[]", "x|y");
    assert_col(&c, "num", COLUMNS_NUMBER, "DOUBLE", NULL);
    assert_col(&c, "int", COLUMNS_INTEGER, "BIGINT", NULL);
    assert_col(&c, "text", COLUMNS_TEXT, "VARCHAR", NULL);
    assert_col(&c, "day", COLUMNS_DATE, "DATE", NULL);
    assert_col(&c, "at", COLUMNS_DATETIME, "TIMESTAMPTZ", NULL);
    assert_col(&c, "clock", COLUMNS_TIME, "TIME", NULL);
    assert_col(&c, "ok", COLUMNS_BOOLEAN, "BOOLEAN", NULL);
    assert_col(&c, "obj", COLUMNS_JSON, "JSON", NULL);
    columns_release(&c);
}

static void test_kind_details(void **state)
{
    /* Enums and consts. */
    assert_kind("{\"type\":\"string\",\"enum\":[\"a\",\"b\",\"a\"]}", COLUMNS_CHOICE, "a|b");
    assert_kind("{\"const\":\"only\"}", COLUMNS_CHOICE, "only");
    assert_kind("{\"enum\":[\"a\",1,2.5,-3,2.0,true]}", COLUMNS_CHOICE, "a|1|2.5|-3|2.0|true");
    assert_kind("{\"type\":\"integer\",\"enum\":[1,2,3]}", COLUMNS_CHOICE, "1|2|3");
    assert_kind("{\"enum\":[true,false]}", COLUMNS_BOOLEAN, NULL);
    assert_kind("{\"const\":true}", COLUMNS_BOOLEAN, NULL);
    assert_kind("{\"enum\":[\"a\",{\"b\":1}]}", COLUMNS_JSON, NULL);
    assert_kind("{\"enum\":[0.1,1e300]}", COLUMNS_CHOICE, "0.1|1e+300");
    /* Arrays. */
    assert_kind("{\"type\":\"array\",\"items\":{\"type\":\"string\"}}", COLUMNS_JSON, NULL);
    assert_kind("{\"type\":\"array\"}", COLUMNS_JSON, NULL);
    assert_kind("{\"type\":\"array\",\"items\":{\"type\":\"string\",\"enum\":[\"p\",\"q\"]}}",
                COLUMNS_MULTICHOICE, "p|q");
    assert_kind("{\"items\":{\"enum\":[\"p\"]}}", COLUMNS_MULTICHOICE, "p");
    assert_kind("{\"type\":\"array\",\"items\":{\"enum\":[true,false]}}", COLUMNS_JSON, NULL);
    /* Formats that are plain text, and formats without a type. */
    assert_kind("{\"type\":\"string\",\"format\":\"email\"}", COLUMNS_TEXT, NULL);
    assert_kind("{\"type\":\"string\",\"format\":\"uuid\"}", COLUMNS_TEXT, NULL);
    assert_kind("{\"format\":\"date\"}", COLUMNS_DATE, NULL);
    /* Unconstrained and odd schemas. */
    assert_kind("{}", COLUMNS_JSON, NULL);
    assert_kind("true", COLUMNS_JSON, NULL);
    assert_kind("{\"description\":\"anything\"}", COLUMNS_JSON, NULL);
    assert_kind("{\"type\":\"null\"}", COLUMNS_JSON, NULL);
    assert_kind("{\"type\":\"wat\"}", COLUMNS_JSON, NULL);
    assert_kind("{\"properties\":{\"x\":{}}}", COLUMNS_JSON, NULL);
    /* Mixed types in one version widen as across versions. */
    assert_kind("{\"type\":[\"integer\",\"number\"]}", COLUMNS_NUMBER, NULL);
    assert_kind("{\"type\":[\"string\",\"integer\"]}", COLUMNS_TEXT, NULL);
    assert_kind("{\"type\":[\"string\",\"object\"]}", COLUMNS_JSON, NULL);
}

static void test_nullable(void **state)
{
    assert_kind("{\"type\":[\"string\",\"null\"]}", COLUMNS_TEXT, NULL);
    assert_kind("{\"type\":[\"null\",\"integer\"]}", COLUMNS_INTEGER, NULL);
    assert_kind("{\"type\":[\"string\",\"null\"],\"format\":\"date\"}", COLUMNS_DATE, NULL);
    assert_kind("{\"type\":[\"string\",\"null\"],\"enum\":[\"a\",null]}", COLUMNS_CHOICE, "a");
    assert_kind("{\"enum\":[null,\"a\",\"b\"]}", COLUMNS_CHOICE, "a|b");
    assert_kind("{\"anyOf\":[{\"type\":\"string\",\"format\":\"date-time\"},{\"type\":\"null\"}]}",
                COLUMNS_DATETIME, NULL);
    assert_kind("{\"oneOf\":[{\"type\":\"null\"},{\"type\":\"boolean\"}]}", COLUMNS_BOOLEAN, NULL);
    assert_kind("{\"type\":[\"array\",\"null\"],\"items\":{\"enum\":[\"x\"]}}",
                COLUMNS_MULTICHOICE, "x");
    /* anyOf of different kinds is their widening. */
    assert_kind("{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}", COLUMNS_NUMBER, NULL);
    assert_kind("{\"anyOf\":[{\"enum\":[\"a\"]},{\"enum\":[\"b\"]}]}", COLUMNS_CHOICE, "a|b");
    assert_kind("{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\"}]}", COLUMNS_TEXT, NULL);
}

/* ---- $ref and allOf ---- */

static void test_ref(void **state)
{
    struct columns c;
    const char *texts[] = {
        "{\"type\":\"object\",\"$defs\":{"
        "   \"colour\":{\"enum\":[\"red\",\"blue\"]},"
        "   \"alias\":{\"$ref\":\"#/$defs/colour\"},"
        "   \"loop1\":{\"$ref\":\"#/$defs/loop2\"},"
        "   \"loop2\":{\"$ref\":\"#/$defs/loop1\"},"
        "   \"self\":{\"$ref\":\"#/$defs/self\"},"
        "   \"a/b~c d\":{\"type\":\"string\",\"format\":\"date\"},"
        "   \"day\":{\"type\":\"string\",\"format\":\"date\"},"
        "   \"tags\":{\"enum\":[\"t1\",\"t2\"]},"
        "   \"str\":{\"type\":\"string\"}},"
        " \"definitions\":{\"n\":{\"type\":\"number\"}},"
        " \"properties\":{"
        "   \"direct\":{\"$ref\":\"#/$defs/colour\"},"
        "   \"chain\":{\"$ref\":\"#/$defs/alias\"},"
        "   \"old\":{\"$ref\":\"#/definitions/n\"},"
        "   \"cycle\":{\"$ref\":\"#/$defs/loop1\"},"
        "   \"selfref\":{\"$ref\":\"#/$defs/self\"},"
        "   \"escaped\":{\"$ref\":\"#/$defs/a~1b~0c%20d\"},"
        "   \"missing\":{\"$ref\":\"#/$defs/nope\"},"
        "   \"remote\":{\"$ref\":\"https://example.com/s.json\"},"
        "   \"anchor\":{\"$ref\":\"#thing\"},"
        "   \"nullable\":{\"type\":[\"string\",\"null\"],\"$ref\":\"#/$defs/day\"},"
        "   \"narrowed\":{\"$ref\":\"#/$defs/str\",\"format\":\"time\"},"
        "   \"multi\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/tags\"}}}}",
        NULL,
    };

    cols_of(&c, texts);
    assert_int_equal(c.n, 12);
    assert_col(&c, "direct", COLUMNS_CHOICE, "VARCHAR", "red|blue");
    assert_col(&c, "chain", COLUMNS_CHOICE, "VARCHAR", "red|blue");
    assert_col(&c, "old", COLUMNS_NUMBER, "DOUBLE", NULL);
    assert_col(&c, "cycle", COLUMNS_JSON, "JSON", NULL);
    assert_col(&c, "selfref", COLUMNS_JSON, "JSON", NULL);
    assert_col(&c, "escaped", COLUMNS_DATE, "DATE", NULL);
    assert_col(&c, "missing", COLUMNS_JSON, "JSON", NULL);
    assert_col(&c, "remote", COLUMNS_JSON, "JSON", NULL);
    assert_col(&c, "anchor", COLUMNS_JSON, "JSON", NULL);
    assert_col(&c, "nullable", COLUMNS_DATE, "DATE", NULL);
    assert_col(&c, "narrowed", COLUMNS_TIME, "TIME", NULL);
    assert_col(&c, "multi", COLUMNS_MULTICHOICE, "VARCHAR[]", "t1|t2");
    columns_release(&c);
}

static void test_root_ref_and_all_of(void **state)
{
    struct columns c;
    const char *texts[] = {
        "{\"$ref\":\"#/$defs/base\","
        " \"$defs\":{\"base\":{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"integer\"}},"
        "                      \"allOf\":[{\"$ref\":\"#/$defs/base\"}]},"
        "            \"mixin\":{\"properties\":{\"m\":{\"type\":\"boolean\"},"
        "                                       \"a\":{\"format\":\"date\"}}}},"
        " \"properties\":{\"a\":{\"type\":\"string\"},"
        "                 \"s\":{\"allOf\":[{\"type\":\"string\"},{\"format\":\"date-time\"}]},"
        "                 \"n\":{\"allOf\":[{\"type\":\"number\"},{\"type\":\"integer\"}]},"
        "                 \"e\":{\"allOf\":[{\"enum\":[\"x\",\"y\",\"z\"]},"
        "                                 {\"enum\":[\"z\",\"y\"]}]}},"
        " \"allOf\":[{\"$ref\":\"#/$defs/mixin\"},"
        "            {\"properties\":{\"c\":{\"enum\":[\"k\"]}}},"
        "            {\"if\":{\"properties\":{\"a\":{\"const\":\"q\"}}},"
        "             \"then\":{\"properties\":{\"t\":{\"type\":\"string\"}}}},"
        "            true, 7]}",
        NULL,
    };
    static const char *const order[] = {"a", "s", "n", "e", "b", "m", "c"};
    size_t i;

    cols_of(&c, texts);
    assert_int_equal(c.n, 7);
    for (i = 0; i < c.n; i++)
        assert_string_equal(c.v[i].name, order[i]);
    /* a: string in properties, format date from the allOf member: both hold. */
    assert_col(&c, "a", COLUMNS_DATE, "DATE", NULL);
    assert_col(&c, "s", COLUMNS_DATETIME, "TIMESTAMPTZ", NULL);
    assert_col(&c, "n", COLUMNS_INTEGER, "BIGINT", NULL);
    assert_col(&c, "e", COLUMNS_CHOICE, "VARCHAR", "y|z");
    assert_col(&c, "b", COLUMNS_INTEGER, "BIGINT", NULL);
    assert_col(&c, "m", COLUMNS_BOOLEAN, "BOOLEAN", NULL);
    assert_col(&c, "c", COLUMNS_CHOICE, "VARCHAR", "k");
    assert_null(columns_find(&c, "t"));
    columns_release(&c);
}

/* ---- versions ---- */

static void test_versions(void **state)
{
    struct columns c;
    const char *texts[] = {
        /* v1 */
        "{\"type\":\"object\",\"properties\":{"
        "  \"name\":{\"type\":\"string\"},"
        "  \"age\":{\"type\":\"integer\"},"
        "  \"colour\":{\"enum\":[\"red\",\"green\"]},"
        "  \"fax\":{\"type\":\"string\"},"
        "  \"size\":{\"enum\":[\"s\",\"m\"]}}}",
        /* v2: fax removed, age now a number, colour gains blue, tags added */
        "{\"type\":\"object\",\"properties\":{"
        "  \"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\"]}},"
        "  \"name\":{\"type\":\"string\"},"
        "  \"age\":{\"type\":\"number\"},"
        "  \"colour\":{\"enum\":[\"green\",\"blue\"]},"
        "  \"size\":{\"type\":\"string\"}}}",
        /* v3: tags gains c, fax is forbidden, size back to a choice, new nick */
        "{\"type\":\"object\",\"properties\":{"
        "  \"name\":{\"type\":\"string\"},"
        "  \"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"c\",\"a\"]}},"
        "  \"fax\":false,"
        "  \"nick\":{\"type\":[\"string\",\"null\"]},"
        "  \"colour\":{\"enum\":[\"red\",\"blue\",\"black\"]},"
        "  \"size\":{\"enum\":[\"l\"]}}}",
        NULL,
    };
    static const char *const order[] = {"name", "age", "colour", "fax", "size", "tags", "nick"};
    size_t i;

    cols_of(&c, texts);
    assert_int_equal(c.n, 7);
    for (i = 0; i < c.n; i++)
        assert_string_equal(c.v[i].name, order[i]);
    assert_col(&c, "name", COLUMNS_TEXT, "VARCHAR", NULL);
    assert_col(&c, "age", COLUMNS_NUMBER, "DOUBLE", NULL);
    assert_col(&c, "colour", COLUMNS_CHOICE, "VARCHAR", "red|green|blue|black");
    assert_col(&c, "fax", COLUMNS_TEXT, "VARCHAR", NULL);
    assert_col(&c, "size", COLUMNS_TEXT, "VARCHAR", NULL);
    assert_col(&c, "tags", COLUMNS_MULTICHOICE, "VARCHAR[]", "a|b|c");
    assert_col(&c, "nick", COLUMNS_TEXT, "VARCHAR", NULL);
    assert_int_equal(get(&c, "name")->first_version, 0);
    assert_int_equal(get(&c, "name")->last_version, 2);
    assert_int_equal(get(&c, "fax")->first_version, 0);
    assert_int_equal(get(&c, "fax")->last_version, 0);
    assert_int_equal(get(&c, "age")->last_version, 1);
    assert_int_equal(get(&c, "tags")->first_version, 1);
    assert_int_equal(get(&c, "tags")->last_version, 2);
    assert_int_equal(get(&c, "nick")->first_version, 2);
    columns_release(&c);
}

static void test_widening(void **state)
{
    const char *str = "{\"type\":\"string\"}", *integer = "{\"type\":\"integer\"}";
    const char *number = "{\"type\":\"number\"}", *choice = "{\"enum\":[\"a\"]}";
    const char *date = "{\"type\":\"string\",\"format\":\"date\"}";
    const char *dt = "{\"type\":\"string\",\"format\":\"date-time\"}";
    const char *boolean = "{\"type\":\"boolean\"}", *obj = "{\"type\":\"object\"}";
    const char *multi = "{\"type\":\"array\",\"items\":{\"enum\":[\"a\"]}}";

    assert_widened(integer, number, COLUMNS_NUMBER);
    assert_widened(number, integer, COLUMNS_NUMBER);
    assert_widened(integer, integer, COLUMNS_INTEGER);
    assert_widened(choice, str, COLUMNS_TEXT);
    assert_widened(str, choice, COLUMNS_TEXT);
    assert_widened(date, str, COLUMNS_TEXT);
    assert_widened(date, dt, COLUMNS_TEXT);
    assert_widened(boolean, choice, COLUMNS_TEXT);
    assert_widened(integer, str, COLUMNS_TEXT);
    assert_widened(boolean, integer, COLUMNS_TEXT);
    assert_widened(str, obj, COLUMNS_JSON);
    assert_widened(multi, choice, COLUMNS_JSON);
    assert_widened(multi, "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}", COLUMNS_JSON);
    assert_widened(integer, "{}", COLUMNS_JSON);
    assert_widened(integer, "true", COLUMNS_JSON);
    /* Absent, forbidden or only-null in one version changes nothing. */
    assert_widened(integer, "false", COLUMNS_INTEGER);
    assert_widened("false", date, COLUMNS_DATE);
    assert_widened("{\"type\":\"null\"}", date, COLUMNS_DATE);
}

static void test_forbidden_everywhere(void **state)
{
    const char *texts[] = {"{\"properties\":{\"x\":false,\"y\":{\"type\":\"integer\"}}}",
                           "{\"properties\":{\"x\":false}}", NULL};
    struct columns c;

    cols_of(&c, texts);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.v[0].name, "y");
    columns_release(&c);
}

static void test_empty(void **state)
{
    const char *texts[] = {"{}", "{\"type\":\"object\"}", "{\"type\":[\"object\",\"null\"]}", NULL};
    struct columns c;
    struct fmd_err err = {0};
    struct buf b;

    cols_of(&c, texts);
    assert_int_equal(c.n, 0);
    buf_init(&b, 1024);
    assert_int_equal(columns_select_sql(&c, "data", &b), 0);
    assert_int_equal(columns_create_sql(&c, &b), 0);
    assert_string_equal(b.p, "");
    columns_release(&c);
    /* No versions at all: no columns. */
    assert_int_equal(columns_from_schemas(NULL, 0, NULL, &c, &err), 0);
    assert_int_equal(c.n, 0);
    buf_release(&b);
}

/* ---- names ---- */

static void test_sql_names(void **state)
{
    struct columns c;
    json_t *s = tj("{\"properties\":{\"Email\":{},\"email\":{},\"EMAIL\":{},\"email_2\":{},"
                   "\"\":{},\"_\":{},\"ID\":{},"
                   "\"\xc3\x89t\xc3\xa9\":{},\"\xc3\xa9t\xc3\xa9\":{}}}");
    const json_t *schemas[] = {s};
    const char *const reserved[] = {"id", "version", NULL};
    struct fmd_err err = {0};

    columns_init(&c);
    assert_int_equal(columns_from_schemas(schemas, 1, reserved, &c, &err), 0);
    assert_int_equal(c.n, 9);
    assert_string_equal(c.v[0].sql_name, "Email");
    assert_string_equal(c.v[1].sql_name, "email_2");
    assert_string_equal(c.v[2].sql_name, "EMAIL_3");
    assert_string_equal(c.v[3].sql_name, "email_2_2");
    assert_string_equal(c.v[4].name, "");
    assert_string_equal(c.v[4].sql_name, "_");
    assert_string_equal(c.v[5].sql_name, "__2");
    assert_string_equal(c.v[6].sql_name, "ID_2");
    /* DuckDB folds ASCII case only: these two are distinct columns. */
    assert_string_equal(c.v[7].sql_name, "\xc3\x89t\xc3\xa9");
    assert_string_equal(c.v[8].sql_name, "\xc3\xa9t\xc3\xa9");
    columns_release(&c);
    json_decref(s);
}

/* ---- SQL ---- */

static void test_select_sql(void **state)
{
    struct columns c;
    struct buf b;

    cols_of_props(&c,
        "{\"sel\":{\"enum\":[\"a\"]},"
        " \"multi\":{\"type\":\"array\",\"items\":{\"enum\":[\"x\"]}},"
        " \"num\":{\"type\":\"number\"},"
        " \"int\":{\"type\":\"integer\"},"
        " \"text\":{\"type\":\"string\"},"
        " \"day\":{\"type\":\"string\",\"format\":\"date\"},"
        " \"at\":{\"type\":\"string\",\"format\":\"date-time\"},"
        " \"clock\":{\"type\":\"string\",\"format\":\"time\"},"
        " \"ok\":{\"type\":\"boolean\"},"
        " \"obj\":{\"type\":\"object\"}}");
    buf_init(&b, 1 << 16);
    assert_int_equal(columns_select_sql(&c, "data", &b), 0);
    assert_string_equal(b.p,
        "json_extract_string(\"data\", '/sel') AS \"sel\",\n"
        "TRY_CAST(json_extract(\"data\", '/multi') AS VARCHAR[]) AS \"multi\",\n"
        "TRY_CAST(json_extract_string(\"data\", '/num') AS DOUBLE) AS \"num\",\n"
        "TRY_CAST(json_extract_string(\"data\", '/int') AS BIGINT) AS \"int\",\n"
        "json_extract_string(\"data\", '/text') AS \"text\",\n"
        "TRY_CAST(json_extract_string(\"data\", '/day') AS DATE) AS \"day\",\n"
        "TRY_CAST(upper(json_extract_string(\"data\", '/at')) AS TIMESTAMPTZ) AS \"at\",\n"
        "TRY_CAST(upper(json_extract_string(\"data\", '/clock')) AS TIME) AS \"clock\",\n"
        "CASE json_extract_string(\"data\", '/ok')"
        " WHEN 'true' THEN true WHEN 'false' THEN false END"
        " AS \"ok\",\n"
        "NULLIF(json_extract(\"data\", '/obj'), 'null') AS \"obj\"");
    buf_reset(&b);
    assert_int_equal(columns_create_sql(&c, &b), 0);
    assert_string_equal(b.p,
        "\"sel\" VARCHAR, \"multi\" VARCHAR[], \"num\" DOUBLE, \"int\" BIGINT, \"text\" VARCHAR, "
        "\"day\" DATE, \"at\" TIMESTAMPTZ, \"clock\" TIME, \"ok\" BOOLEAN, \"obj\" JSON");
    /* Appends; the JSON column's name is quoted too. */
    buf_reset(&b);
    assert_int_equal(buf_adds(&b, "SELECT "), 0);
    columns_release(&c);
    cols_of_props(&c, "{\"x\":{\"type\":\"integer\"}}");
    assert_int_equal(columns_select_sql(&c, "my \"json\"", &b), 0);
    assert_string_equal(b.p,
        "SELECT TRY_CAST(json_extract_string(\"my \"\"json\"\"\", '/x') AS BIGINT) AS \"x\"");
    assert_int_equal(columns_select_sql(&c, "", &b), FMD_EINVAL);
    assert_int_equal(columns_select_sql(&c, NULL, &b), FMD_EINVAL);
    columns_release(&c);
    buf_release(&b);
}

static void test_hostile_names(void **state)
{
    struct columns c;
    struct buf b;

    /* a"b'c\d.e[0], then a/b~c, *, "" and a name with a newline and a $. */
    cols_of_props(&c, "{\"a\\\"b'c\\\\d.e[0]\":{\"type\":\"integer\"},"
                      " \"a/b~c\":{\"type\":\"string\"},"
                      " \"*\":{\"type\":\"boolean\"},"
                      " \"\":{\"type\":\"number\"},"
                      " \"$.x\\n--\":{}}");
    assert_int_equal(c.n, 5);
    assert_string_equal(c.v[0].name, "a\"b'c\\d.e[0]");
    buf_init(&b, 1 << 16);
    assert_int_equal(columns_select_sql(&c, "data", &b), 0);
    assert_string_equal(b.p,
        "TRY_CAST(json_extract_string(\"data\", '/a\"b''c\\d.e[0]') AS BIGINT)"
        " AS \"a\"\"b'c\\d.e[0]\",\n"
        "json_extract_string(\"data\", '/a~1b~0c') AS \"a/b~c\",\n"
        "CASE json_extract_string(\"data\", '/*') WHEN 'true' THEN true WHEN 'false' THEN false END"
        " AS \"*\",\n"
        "TRY_CAST(json_extract_string(\"data\", '/') AS DOUBLE) AS \"_\",\n"
        "NULLIF(json_extract(\"data\", '/$.x\n--'), 'null') AS \"$.x\n--\"");
    buf_reset(&b);
    assert_int_equal(columns_create_sql(&c, &b), 0);
    assert_string_equal(b.p, "\"a\"\"b'c\\d.e[0]\" BIGINT, \"a/b~c\" VARCHAR, \"*\" BOOLEAN, "
                             "\"_\" DOUBLE, \"$.x\n--\" JSON");
    columns_release(&c);
    buf_release(&b);
}

static void test_sql_too_big(void **state)
{
    struct columns c;
    struct buf b;

    cols_of_props(&c, "{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}}");
    buf_init(&b, 80);
    assert_int_equal(buf_adds(&b, "keep"), 0);
    assert_int_equal(columns_select_sql(&c, "data", &b), FMD_ETOOBIG);
    assert_string_equal(b.p, "keep");
    assert_int_equal(b.len, 4);
    buf_release(&b);
    buf_init(&b, 30);
    columns_release(&c);
    cols_of_props(&c, "{\"aaaaaaaaaa\":{\"type\":\"integer\"},"
                      " \"bbbbbbbbbb\":{\"type\":\"string\"}}");
    assert_int_equal(columns_create_sql(&c, &b), FMD_ETOOBIG);
    assert_string_equal(b.p, "");
    columns_release(&c);
    buf_release(&b);
}

/* ---- bad input ---- */

static void assert_fails(const char *text, const char *want)
{
    json_t *s[2] = {tj("{\"properties\":{\"ok\":{}}}"), tj(text)};
    struct fmd_err err = {0};
    struct columns c;

    columns_init(&c);
    assert_int_equal(columns_from_schemas((const json_t *const *)s, 2, NULL, &c, &err),
                     FMD_EINVAL);
    assert_int_equal(err.code, FMD_EINVAL);
    assert_string_equal(err.msg, want);
    assert_int_equal(c.n, 0);
    assert_null(c.v);
    json_decref(s[0]);
    json_decref(s[1]);
}

static void test_bad_input(void **state)
{
    const json_t *nulls[] = {NULL};
    struct fmd_err err = {0};
    struct columns c;

    assert_fails("[]", "schema 2 of 2 is not an object");
    assert_fails("true", "schema 2 of 2 is not an object");
    assert_fails("\"x\"", "schema 2 of 2 is not an object");
    assert_fails("{\"type\":\"string\"}", "schema 2 of 2 does not describe an object");
    assert_fails("{\"type\":[\"array\",\"null\"]}", "schema 2 of 2 does not describe an object");
    assert_fails("{\"properties\":[]}", "schema 2 of 2: 'properties' is not an object");
    assert_fails("{\"properties\":{\"n\":3}}", "schema 2 of 2: property 'n' is not a schema");
    assert_fails("{\"allOf\":[{\"properties\":{\"a\":{},\"b\":null}}]}",
                 "schema 2 of 2: property 'b' is not a schema");

    columns_init(&c);
    assert_int_equal(columns_from_schemas(NULL, 1, NULL, &c, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "no schemas given");
    assert_int_equal(columns_from_schemas(nulls, 1, NULL, &c, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "schema 1 of 1 is not an object");
    /* err may be NULL. */
    assert_int_equal(columns_from_schemas(nulls, 1, NULL, &c, NULL), FMD_EINVAL);
    assert_int_equal(c.n, 0);
}

static void test_refill_empties_first(void **state)
{
    struct columns c;
    json_t *a = tj("{\"properties\":{\"a\":{\"enum\":[\"x\"]}}}"), *bad = tj("[]");
    const json_t *one[] = {a}, *two[] = {a, bad};
    struct fmd_err err = {0};

    columns_init(&c);
    assert_int_equal(columns_from_schemas(one, 1, NULL, &c, &err), 0);
    assert_int_equal(columns_from_schemas(one, 1, NULL, &c, &err), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(columns_from_schemas(two, 2, NULL, &c, &err), FMD_EINVAL);
    assert_int_equal(c.n, 0);
    columns_release(&c);
    columns_release(&c);
    json_decref(a);
    json_decref(bad);
}

/* ---- allocation failure ---- */

static void test_alloc_failure(void **state)
{
    json_t *s[3];
    const char *const reserved[] = {"id", NULL};
    struct columns want, c;
    struct buf want_sql, sql;
    struct fmd_err err = {0};
    long n;

    s[0] = tj("{\"$defs\":{\"c\":{\"enum\":[\"a\",\"b\",1.5]}},\"properties\":{"
              "\"Id\":{\"$ref\":\"#/$defs/c\"},"
              "\"t\":{\"type\":\"array\",\"items\":{\"enum\":[\"x\"]}},"
              "\"n\":{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"null\"}]}},"
              "\"allOf\":[{\"properties\":{\"Id\":{\"enum\":[\"b\",\"a\"]}}}]}");
    s[1] = tj("{\"properties\":{\"id\":{\"type\":\"string\",\"format\":\"date\"},"
              "\"t\":{\"type\":\"array\",\"items\":{\"enum\":[\"y\",\"x\"]}},"
              "\"n\":{\"type\":\"number\"}}}");
    s[2] = tj("{\"properties\":{\"Id\":{\"enum\":[\"c\"]},\"o\":{\"type\":\"object\"}}}");
    columns_init(&want);
    assert_int_equal(columns_from_schemas((const json_t *const *)s, 3, reserved, &want, &err), 0);
    buf_init(&want_sql, 1 << 16);
    assert_int_equal(columns_select_sql(&want, "data", &want_sql), 0);
    assert_int_equal(columns_create_sql(&want, &want_sql), 0);

    for (n = 1;; n++) {
        int rc;

        columns_init(&c);
        buf_init(&sql, 1 << 16);
        fmd_err_clear(&err);
        fmd_mem_fail_at(n);
        rc = columns_from_schemas((const json_t *const *)s, 3, reserved, &c, &err);
        if (!rc)
            rc = columns_select_sql(&c, "data", &sql);
        if (!rc)
            rc = columns_create_sql(&c, &sql);
        fmd_mem_fail_at(0);
        if (rc == 0) {
            assert_string_equal(sql.p, want_sql.p);
            assert_string_equal(opts_str(get(&c, "Id")), opts_str(get(&want, "Id")));
            assert_string_equal(opts_str(get(&c, "t")), "x|y");
            columns_release(&c);
            buf_release(&sql);
            break;
        }
        assert_int_equal(rc, FMD_ENOMEM);
        if (c.n == 0) {   /* columns_from_schemas failed, and said why */
            assert_int_equal(err.code, FMD_ENOMEM);
            assert_null(c.v);
        }
        columns_release(&c);
        buf_release(&sql);
        assert_true(n < 10000);
    }
    assert_true(n > 20);
    assert_string_equal(opts_str(get(&want, "Id")), "a|b|c");
    assert_int_equal(get(&want, "Id")->kind, COLUMNS_CHOICE);
    assert_string_equal(get(&want, "Id")->sql_name, "Id_2");
    assert_string_equal(get(&want, "id")->sql_name, "id_3");
    assert_int_equal(get(&want, "n")->kind, COLUMNS_NUMBER);
    columns_release(&want);
    buf_release(&want_sql);
    json_decref(s[0]);
    json_decref(s[1]);
    json_decref(s[2]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_example),
        cmocka_unit_test(test_each_kind),
        cmocka_unit_test(test_kind_details),
        cmocka_unit_test(test_nullable),
        cmocka_unit_test(test_ref),
        cmocka_unit_test(test_root_ref_and_all_of),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_widening),
        cmocka_unit_test(test_forbidden_everywhere),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_sql_names),
        cmocka_unit_test(test_select_sql),
        cmocka_unit_test(test_hostile_names),
        cmocka_unit_test(test_sql_too_big),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_refill_empties_first),
        cmocka_unit_test(test_alloc_failure),
    };

    /* Jansson allocates through fmd_malloc too, so fault injection reaches it. */
    json_set_alloc_funcs(fmd_malloc, fmd_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
