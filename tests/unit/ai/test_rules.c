/*
 * test_rules.c - the rules provider (src/ai/rules.c): extraction from
 * realistic emails and transcripts (every date form, bounds, enums, labels;
 * the output always validates), classification, summary bounds, generated
 * forms that the fields compiler accepts, bad input, allocation failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ai/provider.h"
#include "core/mem.h"
#include "schema/fields.h"
#include "schema/validate.h"
#include "core/banned.h"

static struct ai_provider *prov;

static json_t *tj(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    if (!v)
        fail_msg("test JSON does not parse: %s: %s", e.text, text);
    return v;
}

static int run(const char *task, const char *input, const char *schema, int max_tokens,
               char **text, struct fmd_err *err)
{
    struct ai_request req = {.task = task, .input = input, .schema = schema,
                             .limits = {.max_tokens = max_tokens}};
    struct ai_result res;
    int rc = ai_complete(prov, &req, &res, err);

    *text = res.text;
    if (rc)
        assert_null(res.text);
    return rc;
}

/* The task's output, parsed; fails the test on an error. */
static json_t *run_json(const char *task, const char *input, const char *schema)
{
    struct fmd_err err = {0};
    char *text = NULL;
    json_t *v;
    int rc = run(task, input, schema, 0, &text, &err);

    if (rc)
        fail_msg("%s failed (%d: %s)", task, rc, err.msg);
    v = tj(text);
    fmd_free(text);
    return v;
}

static void assert_json_eq(const json_t *got, const char *want_text)
{
    json_t *want = tj(want_text);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("got  %s\nwant %s", g ? g : "(null)", want_text);
    }
    json_decref(want);
}

/*
 * Asserts out validates against schema, errors for missing data
 * ("required") aside: extraction never invents what the text lacks.
 */
static void assert_validates(const char *schema_text, const json_t *out)
{
    json_t *doc = tj(schema_text), *errs = NULL;
    struct fmd_err err = {0};
    struct schema *s = NULL;
    size_t i;
    int rc;

    assert_int_equal(schema_compile(doc, &s, &err), 0);
    rc = schema_validate(s, out, &errs);
    for (i = 0; rc && i < json_array_size(errs); i++) {
        const char *kw = json_string_value(json_object_get(json_array_get(errs, i), "keyword"));
        if (strcmp(kw, "required")) {
            char *o = json_dumps(out, JSON_COMPACT), *e = json_dumps(errs, JSON_COMPACT);
            fail_msg("output %s does not validate: %s", o, e);
        }
    }
    json_decref(errs);
    schema_free(s);
    json_decref(doc);
}

/* ---- extract ---- */

static const char *const person_schema =
    "{\"type\": \"object\", \"properties\": {"
    " \"name\": {\"type\": \"string\", \"title\": \"Full name\", \"maxLength\": 100},"
    " \"email\": {\"type\": \"string\", \"format\": \"email\"},"
    " \"phone\": {\"type\": \"string\"},"
    " \"birth_date\": {\"type\": \"string\", \"format\": \"date\"},"
    " \"age\": {\"type\": \"integer\", \"minimum\": 18, \"maximum\": 130},"
    " \"newsletter\": {\"type\": \"boolean\"},"
    " \"colour\": {\"enum\": [\"red\", \"green\", \"blue\"]},"
    " \"interests\": {\"type\": \"array\","
    "                 \"items\": {\"enum\": [\"chess\", \"music\", \"hiking\"]},"
    "                 \"uniqueItems\": true},"
    " \"appointment\": {\"type\": \"string\", \"format\": \"date-time\"},"
    " \"website\": {\"type\": \"string\", \"format\": \"uri\"}},"
    " \"required\": [\"name\", \"email\"], \"additionalProperties\": false}";

static void test_extract_email(void **state)
{
    const char *mail =
        "From: Ada Lovelace <ada.lovelace@example.org>\n"
        "To: registrations@club.example\n"
        "Subject: Registration\n"
        "\n"
        "Hello,\n"
        "\n"
        "Full name: Ada Lovelace\n"
        "Phone: +44 (20) 7946-0958\n"
        "I was born on 10 December 1995 and I am 30 years old.\n"
        "My favourite colour is green, and I enjoy chess and music.\n"
        "Newsletter: yes please\n"
        "Could we meet at 2026-12-01T10:30:00+01:00?\n"
        "Website: https://ada.example.org/about.\n"
        "\n"
        "Best regards,\nAda\n";
    json_t *out = run_json("extract", mail, person_schema);

    assert_json_eq(out, "{\"name\": \"Ada Lovelace\", \"email\": \"ada.lovelace@example.org\","
                        " \"phone\": \"+44 (20) 7946-0958\", \"birth_date\": \"1995-12-10\","
                        " \"age\": 30, \"newsletter\": true, \"colour\": \"green\","
                        " \"interests\": [\"chess\", \"music\"],"
                        " \"appointment\": \"2026-12-01T10:30:00+01:00\","
                        " \"website\": \"https://ada.example.org/about\"}");
    assert_validates(person_schema, out);
    json_decref(out);
}

static void test_extract_transcript(void **state)
{
    const char *call =
        "Agent: Thanks for calling, can I have your name?\n"
        "Caller: Sure, my name is Grace Hopper.\n"
        "Agent: And your email?\n"
        "Caller: it's grace at navy, no wait, write grace.hopper@navy.example.com\n"
        "Agent: Age?\n"
        "Caller: age 85, and no, I don't want the newsletter.\n"
        "Agent: Phone number?\n"
        "Caller: 555 123 4567.\n";
    json_t *out = run_json("extract", call, person_schema);

    assert_json_eq(out, "{\"name\": \"Grace Hopper\", \"email\": \"grace.hopper@navy.example.com\","
                        " \"age\": 85, \"newsletter\": false, \"phone\": \"555 123 4567\"}");
    assert_validates(person_schema, out);
    json_decref(out);
}

/* OCR of a scanned paper form: upper case, odd spacing, labels unlike the names. */
static void test_extract_ocr(void **state)
{
    const char *schema =
        "{\"type\": \"object\", \"properties\": {"
        " \"full_name\": {\"type\": \"string\"},"
        " \"dob\": {\"type\": \"string\", \"format\": \"date\", \"title\": \"Date of birth\"},"
        " \"email\": {\"type\": \"string\", \"format\": \"email\"},"
        " \"phone\": {\"type\": \"string\", \"title\": \"Telephone\"},"
        " \"membership\": {\"enum\": [\"Silver\", \"Gold\"]},"
        " \"members\": {\"type\": \"integer\", \"minimum\": 1}}}";
    const char *ocr =
        "CITY SPORTS CLUB - APPLICATION FORM\n"
        "FULL NAME :  JOHN  DOE\n"
        "DATE OF BIRTH: 04.07.1985\n"
        "E-mail john.doe@mail.example   Tel. +1 415-555-0134\n"
        "Membership  [x] GOLD\n"
        "Number of family members: 3\n"
        "Signature: ______  Date: 28/11/2026\n";
    json_t *out = run_json("extract", ocr, schema);

    assert_json_eq(out, "{\"full_name\": \"JOHN  DOE\", \"dob\": \"1985-07-04\","
                        " \"email\": \"john.doe@mail.example\", \"phone\": \"+1 415-555-0134\","
                        " \"membership\": \"Gold\", \"members\": 3}");
    assert_validates(schema, out);
    json_decref(out);
}

static void test_extract_dates(void **state)
{
    static const struct { const char *text, *want; } cases[] = {
        {"Date: 2026-11-28", "2026-11-28"},
        {"Date: 2026/11/28", "2026-11-28"},
        {"Date: 28/11/2026", "2026-11-28"},
        {"Date: 28.11.2026", "2026-11-28"},
        {"Date: 28-11-2026", "2026-11-28"},
        {"Date: 03/04/2026", "2026-04-03"},    /* day first when both could be months */
        {"Date: 11/28/2026", "2026-11-28"},    /* month first when the day says so */
        {"Date: 28 November 2026", "2026-11-28"},
        {"Date: 28th of Nov. 2026", "2026-11-28"},
        {"Date: November 28, 2026", "2026-11-28"},
        {"Date: Nov 28th 2026", "2026-11-28"},
        {"Date: Sept 3, 2026", "2026-09-03"},
        {"Date: 1 jan 2030", "2030-01-01"},
        {"the event is on 29 February 2028, see you", "2028-02-29"},
        {"Date: 31/02/2026", NULL},            /* no such day */
        {"Date: 29.02.2026", NULL},            /* not a leap year */
        {"Date: 28/11/26", NULL},              /* two-digit years are not read */
        {"Date: someday", NULL},
    };
    const char *schema = "{\"type\": \"object\", \"properties\": {"
                         "\"date\": {\"type\": \"string\", \"format\": \"date\"}}}";
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *out = run_json("extract", cases[i].text, schema);
        const char *got = json_string_value(json_object_get(out, "date"));
        if (cases[i].want ? !got || strcmp(got, cases[i].want) : got != NULL)
            fail_msg("'%s': got %s, want %s", cases[i].text, got ? got : "nothing",
                     cases[i].want ? cases[i].want : "nothing");
        json_decref(out);
    }
}

static void test_extract_date_time(void **state)
{
    const char *schema = "{\"type\": \"object\", \"properties\": {"
                         "\"start\": {\"type\": \"string\", \"format\": \"date-time\"}}}";
    json_t *out = run_json("extract", "Start: 2026-11-28 09:15Z", schema);
    assert_json_eq(out, "{\"start\": \"2026-11-28T09:15:00Z\"}");
    json_decref(out);
    /* without a zone it is not certain: nothing */
    out = run_json("extract", "Start: 2026-11-28T09:15", schema);
    assert_json_eq(out, "{}");
    json_decref(out);
}

static void test_extract_numbers_and_bounds(void **state)
{
    const char *schema =
        "{\"type\": \"object\", \"properties\": {"
        " \"age\": {\"type\": \"integer\", \"minimum\": 18, \"maximum\": 130},"
        " \"budget\": {\"type\": \"number\", \"exclusiveMinimum\": 0},"
        " \"guests\": {\"type\": \"integer\", \"maximum\": 10}}}";
    static const struct { const char *text, *want; } cases[] = {
        {"Age: 42", "{\"age\": 42}"},
        {"age: 12", "{}"},                         /* below the minimum */
        {"Age: 200", "{}"},                        /* above the maximum */
        {"Age: 42.5", "{}"},                       /* not an integer */
        {"I am 42 years old.", "{\"age\": 42}"},
        {"My age is 64", "{\"age\": 64}"},
        {"Budget: 1,200.50 EUR", "{\"budget\": 1200.5}"},
        {"budget = -5", "{}"},
        {"We will be 4 guests.", "{\"guests\": 4}"},
        {"We will be 40 guests.", "{}"},
        {"Guests: 3, Age: 33, Budget: 99", "{\"guests\": 3, \"age\": 33, \"budget\": 99}"},
        {"Age: 10:30", "{}"},                      /* a time, not a number */
        {"On 12.05.2026 we were 42", "{}"},        /* no label: not confident */
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *out = run_json("extract", cases[i].text, schema), *want = tj(cases[i].want);
        if (!json_equal(out, want)) {
            char *g = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
            fail_msg("'%s': got %s, want %s", cases[i].text, g, cases[i].want);
        }
        assert_validates(schema, out);
        json_decref(want);
        json_decref(out);
    }
}

static void test_extract_labels(void **state)
{
    const char *schema =
        "{\"type\": \"object\", \"properties\": {"
        " \"first_name\": {\"type\": \"string\"},"
        " \"last_name\": {\"type\": \"string\", \"title\": \"Surname\"},"
        " \"city\": {\"type\": \"string\", \"minLength\": 2},"
        " \"company\": {\"type\": \"string\", \"maxLength\": 5}}}";
    json_t *out = run_json("extract",
                           "FIRST NAME: John\n"
                           "surname = Smith.\n"
                           "- City: Lyon, Company: Globex Corporation\n",
                           schema);
    /* the company is longer than maxLength: dropped, not cut */
    assert_json_eq(out, "{\"first_name\": \"John\", \"last_name\": \"Smith\", \"city\": \"Lyon\"}");
    assert_validates(schema, out);
    json_decref(out);

    out = run_json("extract", "first_name: Jane\nCity: X", schema);
    assert_json_eq(out, "{\"first_name\": \"Jane\"}");
    json_decref(out);
}

static void test_extract_enums(void **state)
{
    const char *schema =
        "{\"type\": \"object\", \"properties\": {"
        " \"size\": {\"type\": \"string\", \"enum\": [\"S\", \"M\", \"L\", \"XL\"]},"
        " \"plan\": {\"enum\": [\"basic\", \"premium\", 3]},"
        " \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\","
        "            \"enum\": [\"urgent\", \"billing\", \"bug report\"]}, \"maxItems\": 2}}}";
    static const struct { const char *text, *want; } cases[] = {
        {"Size: xl please", "{\"size\": \"XL\"}"},
        {"I'd like the PREMIUM plan", "{\"plan\": \"premium\"}"},
        {"premiumness is not a plan", "{}"},                 /* whole words only */
        {"basic or premium, not sure", "{}"},                /* two options, no label */
        {"basic would do, but for the plan: premium", "{\"plan\": \"premium\"}"},
        {"Plan: 3", "{\"plan\": 3}"},
        {"This is urgent: a bug report about billing.", "{}"},  /* 3 > maxItems: dropped */
        {"Urgent! bug report attached.", "{\"tags\": [\"urgent\", \"bug report\"]}"},
        {"Tags: billing\nnot urgent at all", "{\"tags\": [\"billing\"]}"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *out = run_json("extract", cases[i].text, schema), *want = tj(cases[i].want);
        if (!json_equal(out, want)) {
            char *g = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
            fail_msg("'%s': got %s, want %s", cases[i].text, g, cases[i].want);
        }
        assert_validates(schema, out);
        json_decref(want);
        json_decref(out);
    }
}

static void test_extract_booleans(void **state)
{
    const char *schema = "{\"type\": \"object\", \"properties\": {"
                         " \"terms\": {\"type\": \"boolean\"},"
                         " \"newsletter\": {\"type\": \"boolean\", \"title\": \"Mailing list\"}}}";
    static const struct { const char *text, *want; } cases[] = {
        {"I agree to the terms.", "{\"terms\": true}"},
        {"I do not agree to the terms.", "{\"terms\": false}"},
        {"Terms: accepted\nMailing list: no", "{\"terms\": true, \"newsletter\": false}"},
        {"Newsletter? Yes!", "{\"newsletter\": true}"},
        {"Newsletter: maybe later", "{}"},
        {"The terms are long.", "{}"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *out = run_json("extract", cases[i].text, schema), *want = tj(cases[i].want);
        if (!json_equal(out, want)) {
            char *g = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
            fail_msg("'%s': got %s, want %s", cases[i].text, g, cases[i].want);
        }
        json_decref(want);
        json_decref(out);
    }
}

/* Candidates that fail the schema give way to the next, then to nothing. */
static void test_extract_validation(void **state)
{
    const char *schema =
        "{\"type\": \"object\", \"properties\": {"
        " \"work_email\": {\"type\": \"string\", \"format\": \"email\","
        "                  \"pattern\": \"@corp\\\\.example$\"},"
        " \"mobile\": {\"type\": \"string\", \"pattern\": \"^\\\\+?[0-9]{7,15}$\"}}}";
    json_t *out = run_json("extract",
                           "Write to me@home.example or, for work, me@corp.example.\n"
                           "Mobile: (555) 123-4567",
                           schema);
    assert_json_eq(out, "{\"work_email\": \"me@corp.example\", \"mobile\": \"5551234567\"}");
    assert_validates(schema, out);
    json_decref(out);
}

/* A form made with the fields shorthand: conditions and patterns hold. */
static void test_extract_fields_form(void **state)
{
    json_t *fields = tj("[{\"name\": \"email\", \"type\": \"email\", \"required\": true},"
                        " {\"name\": \"phone\", \"type\": \"phone\"},"
                        " {\"name\": \"visit\", \"type\": \"date\", \"label\": \"Visit date\"},"
                        " {\"name\": \"age\", \"type\": \"integer\", \"min\": 18, \"max\": 130},"
                        " {\"name\": \"colour\", \"type\": \"select\","
                        "  \"options\": [\"red\", \"green\"]},"
                        " {\"name\": \"rating\", \"type\": \"rating\"},"
                        " {\"name\": \"has_pet\", \"type\": \"checkbox\"},"
                        " {\"name\": \"pet\", \"type\": \"text\","
                        "  \"visible_if\": {\"field\": \"has_pet\", \"equals\": true}}]");
    json_t *schema = NULL, *out;
    struct fmd_err err = {0};
    char *text;

    assert_int_equal(fields_compile(fields, &schema, &err), 0);
    text = json_dumps(schema, JSON_COMPACT);
    out = run_json("extract",
                   "Hi! I'm writing from bob@example.net. Call me on (030) 1234 5678.\n"
                   "Visit date: 5 March 2027. Rating: 9. Colour: Red.\n"
                   "Pet: Rex\n",
                   text);
    /* the phone as written fails the form's pattern: its digits are kept;
     * the rating is out of 1..5; pet is hidden while has_pet is not true */
    assert_json_eq(out, "{\"email\": \"bob@example.net\", \"phone\": \"03012345678\","
                        " \"visit\": \"2027-03-05\", \"colour\": \"red\"}");
    assert_validates(text, out);
    json_decref(out);

    out = run_json("extract", "has pet: yes\nPet: Rex\nemail: a@b.example", text);
    assert_json_eq(out, "{\"email\": \"a@b.example\", \"has_pet\": true, \"pet\": \"Rex\"}");
    assert_validates(text, out);
    json_decref(out);
    free(text);
    json_decref(schema);
    json_decref(fields);
}

static void test_extract_refs_and_empty(void **state)
{
    const char *schema = "{\"type\": \"object\", \"$defs\": {\"mail\": {\"type\": \"string\","
                         " \"format\": \"email\"}}, \"properties\": {\"contact\": {\"$ref\":"
                         " \"#/$defs/mail\"}}}";
    json_t *out = run_json("extract", "reach me: x.y@example.com", schema);
    assert_json_eq(out, "{\"contact\": \"x.y@example.com\"}");
    json_decref(out);

    out = run_json("extract", "", schema);
    assert_json_eq(out, "{}");
    json_decref(out);

    out = run_json("extract", "Name: x", "{\"type\": \"object\"}");
    assert_json_eq(out, "{}");
    json_decref(out);

    /* text that is not UTF-8 (OCR, a mangled email) yields no value from its bad bytes */
    out = run_json("extract", "Name: \xff\xfe" "Ada\nCity: Paris",
                   "{\"properties\": {\"name\": {\"type\": \"string\"},"
                   " \"city\": {\"type\": \"string\"}}}");
    assert_json_eq(out, "{\"city\": \"Paris\"}");
    json_decref(out);

    /* no false emails or phones in noise */
    out = run_json("extract", "user@localhost, @@, a@b, order 1234567, 2026-11-28",
                   "{\"properties\": {\"email\": {\"type\": \"string\"},"
                   " \"phone\": {\"type\": \"string\"}}}");
    assert_json_eq(out, "{}");
    json_decref(out);
}

/* ---- classify ---- */

static const char *const cats =
    "{\"categories\": ["
    " {\"name\": \"billing\", \"description\": \"Invoices, payments and refunds\","
    "  \"keywords\": [\"refund\", \"invoice\", \"charged twice\"]},"
    " {\"name\": \"technical\", \"description\": \"Errors and crashes\","
    "  \"keywords\": [\"error\", \"crash\", \"login\"]},"
    " {\"name\": \"other\"}]}";

static void assert_category(const char *input, const char *categories, const char *want,
                            const char *reason_part)
{
    json_t *out = run_json("classify", input, categories);
    const char *got = json_string_value(json_object_get(out, "category"));
    const char *reason = json_string_value(json_object_get(out, "reason"));

    if (!got || strcmp(got, want))
        fail_msg("'%s': got %s, want %s", input, got ? got : "nothing", want);
    assert_non_null(reason);
    if (reason_part && !strstr(reason, reason_part))
        fail_msg("'%s': reason '%s' lacks '%s'", input, reason, reason_part);
    json_decref(out);
}

static void test_classify(void **state)
{
    assert_category("{\"message\": \"I was CHARGED TWICE for my invoice\"}", cats, "billing",
                    "'charged twice'");
    assert_category("{\"subject\": \"App\", \"body\": \"The app shows an error at login\"}", cats,
                    "technical", "'login'");
    assert_category("{\"a\": {\"b\": [\"it keeps crashing\", \"crash\"]}, \"n\": 5}", cats,
                    "technical", "'crash'");
    /* description words count too: "payments" */
    assert_category("{\"m\": \"about my payments\"}", cats, "billing", "'payments'");
    /* a tie goes to the first category */
    assert_category("{\"m\": \"refund error\"}", cats, "billing", NULL);
    /* whole words: "errors" is not "error", "loginx" is not "login" */
    assert_category("{\"m\": \"loginx refunded\"}", cats, "other", "no keyword matched");
    /* no match and no "other": the first category */
    assert_category("{\"m\": \"hello there\"}",
                    "{\"categories\": [{\"name\": \"sales\"}, {\"name\": \"support\"}]}", "sales",
                    "no keyword matched");
    /* the category's own name is a keyword */
    assert_category("{\"m\": \"a support question\"}",
                    "{\"categories\": [{\"name\": \"sales\"}, {\"name\": \"support\"}]}",
                    "support", "'support'");
}

/* ---- summarize ---- */

static void test_summarize(void **state)
{
    const char *answers =
        "The delivery was late and the driver was rude.\n"
        "Great prices. Delivery took two weeks.\n"
        "Late delivery again, but the product quality is good.\n"
        "Good product quality.\n"
        "Customer service did not answer my emails.\n"
        "Delivery was late. Quality is fine.\n"
        "Late delivery!\n";
    struct fmd_err err = {0};
    char *text = NULL;
    int mt;

    assert_int_equal(run("summarize", answers, NULL, 0, &text, &err), 0);
    assert_non_null(strstr(text, "7 answers"));
    assert_non_null(strstr(text, "delivery"));
    assert_true(strlen(text) <= 256 * 4);
    fmd_free(text);

    for (mt = 1; mt <= 40; mt++) {
        assert_int_equal(run("summarize", answers, NULL, mt, &text, &err), 0);
        if (strlen(text) > (size_t)mt * 4)
            fail_msg("max_tokens %d: %zu bytes: %s", mt, strlen(text), text);
        fmd_free(text);
    }
    assert_int_equal(run("summarize", answers, NULL, 30, &text, &err), 0);
    /* the top sentence speaks of late delivery */
    assert_non_null(strstr(text, "late"));
    fmd_free(text);

    assert_int_equal(run("summarize", "", NULL, 0, &text, &err), 0);
    assert_non_null(strstr(text, "0 answers"));
    fmd_free(text);
}

/* ---- generate_form ---- */

static json_t *generate_ok(const char *description)
{
    json_t *fields = run_json("generate_form", description, NULL), *schema = NULL;
    struct fmd_err err = {0};

    if (fields_compile(fields, &schema, &err)) {
        char *f = json_dumps(fields, JSON_COMPACT);
        fail_msg("'%s' gave fields that do not compile (%s): %s", description, err.msg, f);
    }
    json_decref(schema);
    return fields;
}

static const json_t *field_named(const json_t *fields, const char *name)
{
    size_t i;
    for (i = 0; i < json_array_size(fields); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(fields, i), "name")), name))
            return json_array_get(fields, i);
    return NULL;
}

static void assert_field(const json_t *fields, const char *name, const char *type)
{
    const json_t *f = field_named(fields, name);
    if (!f || strcmp(json_string_value(json_object_get(f, "type")), type)) {
        char *s = json_dumps(fields, JSON_COMPACT);
        fail_msg("no %s field '%s' in %s", type, name, s);
    }
}

static void test_generate_form(void **state)
{
    json_t *f = generate_ok(
        "A registration form for our summer camp. We need the full name (required) and an "
        "email address, a phone number, the date of birth and the age. Let them choose a "
        "t-shirt size: S, M, L or XL. Ask whether they want the newsletter (yes/no). "
        "Leave room for comments.");
    assert_field(f, "name", "text");
    assert_true(json_is_true(json_object_get(field_named(f, "name"), "required")));
    assert_field(f, "email", "email");
    assert_field(f, "phone", "phone");
    assert_field(f, "date_of_birth", "date");
    assert_field(f, "age", "integer");
    assert_field(f, "size", "select");
    assert_field(f, "comments", "textarea");
    assert_field(f, "newsletter", "checkbox");
    assert_json_eq(json_object_get(field_named(f, "size"), "options"),
                   "[\"S\", \"M\", \"L\", \"XL\"]");
    assert_null(field_named(f, "number"));   /* "phone number" is a phone */
    json_decref(f);

    f = generate_ok("Feedback survey: rate us, pick any of food, music, venue; number of guests; "
                    "message; do you agree to the terms?");
    assert_field(f, "rating", "rating");
    assert_field(f, "feedback", "textarea");
    assert_field(f, "message", "textarea");
    assert_field(f, "guests", "integer");
    assert_field(f, "agree_terms", "checkbox");
    assert_true(json_array_size(f) >= 6);
    json_decref(f);

    f = generate_ok("Job application: full name, website, select your department from Sales, "
                    "Engineering or Support. Would you recommend us to a friend?");
    assert_field(f, "department", "select");
    assert_json_eq(json_object_get(field_named(f, "department"), "options"),
                   "[\"Sales\", \"Engineering\", \"Support\"]");
    assert_field(f, "recommend", "checkbox");
    assert_field(f, "website", "url");
    json_decref(f);

    /* nothing recognisable still makes a valid form */
    f = generate_ok("");
    assert_json_eq(f, "[{\"name\": \"response\", \"type\": \"textarea\","
                      " \"label\": \"Response\"}]");
    json_decref(f);
    json_decref(generate_ok("choose choose one of , , or and / ((( yes/no yes/no whether"));
    json_decref(generate_ok("email email e-mail name name Name 123 select 1, 2 select a, a, b"));
}

/* ---- bad input ---- */

static void expect_error(const char *task, const char *input, const char *schema, int code,
                         const char *msg_part)
{
    struct fmd_err err = {0};
    char *text = (char *)"x";
    int rc = run(task, input, schema, 0, &text, &err);

    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    assert_null(text);
    if (msg_part && !strstr(err.msg, msg_part))
        fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
}

static void test_bad_input(void **state)
{
    expect_error("extract", NULL, person_schema, FMD_EINVAL, "no input");
    expect_error("extract", "x", NULL, FMD_EINVAL, "schema");
    expect_error("extract", "x", "[1, 2]", FMD_EINVAL, "not an object");
    expect_error("extract", "x", "{\"type\": 5}", FMD_EINVAL, "does not compile");
    expect_error("extract", "x", "{not json", FMD_EINVAL, NULL);
    expect_error("classify", "{}", "{\"categories\": []}", FMD_EINVAL, "categories");
    expect_error("classify", "{}", "{\"categories\": [{\"description\": \"x\"}]}", FMD_EINVAL,
                 "name");
    expect_error("classify", "not json", cats, FMD_EINVAL, NULL);
    expect_error("classify", "{}", NULL, FMD_EINVAL, "categories");
    expect_error("summarize", NULL, NULL, FMD_EINVAL, "no input");
    expect_error("translate", "x", NULL, FMD_EINVAL, "unknown task 'translate'");
    expect_error(NULL, "x", NULL, FMD_EINVAL, "no task");
}

static void test_identity(void **state)
{
    assert_string_equal(ai_model_id(prov), "rules/1");
    assert_int_equal(ai_rules_provider.caps, 0);
    assert_string_equal(ai_rules_provider.name, "rules");
}

/* ---- allocation failure ---- */

static void alloc_loop(const char *task, const char *input, const char *schema)
{
    struct fmd_err err = {0};
    char *want = NULL, *text;
    long n;

    assert_int_equal(run(task, input, schema, 0, &want, &err), 0);
    for (n = 1;; n++) {
        int rc;
        text = NULL;
        fmd_mem_fail_at(n);
        rc = run(task, input, schema, 0, &text, &err);
        fmd_mem_fail_at(0);
        if (rc == 0) {
            assert_string_equal(text, want);
            fmd_free(text);
            break;
        }
        /* the input is JSON only in part of the cases: json_parse reports
         * its own allocation failures as not parsing */
        if (rc != FMD_ENOMEM && rc != FMD_EINVAL)
            fail_msg("%s: allocation %ld: %d (%s)", task, n, rc, err.msg);
        assert_null(text);
        assert_true(n < 200000);
    }
    assert_true(n > 3);
    fmd_free(want);
}

static void test_alloc_failure(void **state)
{
    alloc_loop("extract",
               "Full name: Ada\nemail ada@example.org, age 40, colour: red, born 1 May 1990\n"
               "I like chess. Newsletter: no. Phone +44 20 7946 0958",
               person_schema);
    alloc_loop("classify", "{\"m\": \"refund my invoice\"}", cats);
    alloc_loop("summarize", "One two three. Two three four.\nThree four five. Four five six.",
               NULL);
    alloc_loop("generate_form",
               "name, email, phone, choose one of a, b or c, newsletter yes/no, comments", NULL);
}

static int setup(void **state)
{
    struct fmd_err err = {0};
    return ai_open(&ai_rules_provider, NULL, 1, &prov, &err);
}

static int teardown(void **state)
{
    ai_close(prov);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extract_email),
        cmocka_unit_test(test_extract_transcript),
        cmocka_unit_test(test_extract_ocr),
        cmocka_unit_test(test_extract_dates),
        cmocka_unit_test(test_extract_date_time),
        cmocka_unit_test(test_extract_numbers_and_bounds),
        cmocka_unit_test(test_extract_labels),
        cmocka_unit_test(test_extract_enums),
        cmocka_unit_test(test_extract_booleans),
        cmocka_unit_test(test_extract_validation),
        cmocka_unit_test(test_extract_fields_form),
        cmocka_unit_test(test_extract_refs_and_empty),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_summarize),
        cmocka_unit_test(test_generate_form),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_alloc_failure),
    };

    /* Jansson allocates through fmd_malloc too, so fault injection reaches it. */
    json_set_alloc_funcs(fmd_malloc, fmd_free);
    return cmocka_run_group_tests(tests, setup, teardown);
}
