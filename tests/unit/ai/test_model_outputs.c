/*
 * test_model_outputs.c - what the in-process model writes under the grammars
 * the AI tasks use (src/tasks/ai.c), on the "tiny" random-weights model
 * (src/ai/mkmodel.c) written into the test's own temporary directory.
 *
 * A random-weight model writes noise, but noise sampled under a grammar made
 * by ai_grammar_from_schema must still parse and validate. For many randomly
 * generated forms (JSON Schemas inside the grammar's subset, and fields
 * shorthand compiled by fields_compile), each sampled with a temperature and
 * a different seed, so the outputs differ:
 *   extract        the output is a JSON object the form's schema accepts;
 *   classify       one of the categories and a reason of 1..200 characters,
 *                  nothing else;
 *   generate_form  an array the answer schema accepts, which the fields
 *                  compiler takes unless for what a grammar cannot say
 *                  (names or options repeated, a choice without options,
 *                  options on a field that takes none): the task's check
 *                  refuses those and the fallback answers.
 * An output cut off at max_tokens is not complete JSON; the task's check
 * refuses it and the fallback answers, so it is counted, not failed.
 *
 * The prompts and answer schemas are those of tasks/ai.c (tasks/ai.h), the
 * very ones the tasks give the model.
 *
 * Reproducible: one fixed seed (FORMD_TEST_SEED overrides it, printed either
 * way). FORMD_TEST_SMALL=1 (the ASan run) does fewer iterations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/grammar.h"
#include "ai/mkmodel.h"
#include "ai/provider.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/mem.h"
#include "schema/fields.h"
#include "schema/validate.h"
#include "tasks/ai.h"
#include "core/banned.h"

#define GRAMMAR_MAX (1u << 20)     /* the tasks' grammar buffers */

static char dir[] = "/tmp/test_model_outputs.XXXXXX";
static char model[256];
static struct ai_provider *prov;
static int small;

#define NEED_MODEL() do { if (!prov) skip(); } while (0)

/* ---- a reproducible generator (splitmix64) ---- */

static uint64_t rng_state = 20261128;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int rnd_below(int n)
{
    return (int)(rnd() % (uint64_t)n);
}

static int rnd_between(int lo, int hi)
{
    return lo + rnd_below(hi - lo + 1);
}

#define PICK(a) ((a)[rnd_below((int)(sizeof(a) / sizeof((a)[0])))])

static const char *const words[] = {
    "name", "email", "age", "city", "country", "phone", "budget", "rating", "comment",
    "start", "end", "team", "role", "plan", "colour", "size", "topic", "source", "notes",
    "company", "website", "language", "priority", "status", "zip", "street", "title",
};
static const char *const values[] = {
    "red", "green", "blue", "small", "medium", "large", "yes", "no", "maybe", "sales",
    "support", "billing", "low", "high", "urgent", "caf\u00e9", "\u65e5\u672c", "a \"quoted\" one",
    "back\\slash", "two words", "x/y", "42", "",
};

/* A fresh property name: a word and a number, so names never repeat. */
static void prop_name(char *dst, size_t cap, int i)
{
    snprintf(dst, cap, "%s_%d", PICK(words), i);
}

/* An enum of 1..max distinct strings (values[] holds no duplicates). */
static json_t *random_enum(int min, int max)
{
    json_t *a = json_array();
    int n = rnd_between(min, max), start = rnd_below(40), i;

    for (i = 0; i < n; i++)
        json_array_append_new(a, json_string(values[(start + i) % (sizeof(values) /
                                                                   sizeof(values[0]))]));
    return a;
}

/* Lower and upper bounds with at least one integer between them, exclusive or not. */
static void random_bounds(json_t *s, int integer)
{
    double lo = rnd_between(-1000, 1000) + (integer ? 0 : rnd_below(2) * 0.5);
    double hi = lo + 2 + rnd_below(integer ? 3000 : 500);

    if (rnd_below(4))
        json_object_set_new(s, rnd_below(3) ? "minimum" : "exclusiveMinimum", json_real(lo));
    if (rnd_below(4))
        json_object_set_new(s, rnd_below(3) ? "maximum" : "exclusiveMaximum", json_real(hi));
    if (!integer && !rnd_below(3))
        json_object_set_new(s, "multipleOf", json_real(rnd_below(2) ? 0.01 : 0.1));
}

static json_t *random_object(int depth, int *nprops);

/* One property's schema. */
static json_t *random_property(int depth, int *nprops)
{
    static const char *const formats[] = {"email", "date", "uri", "time", "date-time", "uuid",
                                          "ipv4", "hostname"};
    static const char *const patterns[] = {
        "^[A-Z]{3}-[0-9]{4}$", "^\\d{5}$", "^[a-z][a-z0-9_]{0,15}$", "^\\+?[0-9 ()-]{7,20}$",
        "^[A-Z0-9 -]{3,10}$", "^\\w+x?$", "^v[0-9]+\\.[0-9]+$", "^[a-f0-9]{8}$",
    };
    static const char *const nullable[] = {"string", "integer", "number", "boolean"};
    json_t *s = json_object(), *t;
    const char *f;

    switch (rnd_below(depth ? 11 : 12)) {
    case 0:
        json_object_set_new(s, "type", json_string("string"));
        if (rnd_below(2))
            json_object_set_new(s, "minLength", json_integer(rnd_below(4)));
        json_object_set_new(s, "maxLength", json_integer(rnd_between(4, rnd_below(4) ? 40 : 200)));
        break;
    case 1:
        json_object_set_new(s, "type", json_string("string"));
        json_object_set_new(s, "enum", random_enum(1, 6));
        break;
    case 2:
        json_object_set_new(s, "type", json_string("string"));
        json_object_set_new(s, "format", json_string(f = PICK(formats)));
        if ((!strcmp(f, "email") || !strcmp(f, "uri") || !strcmp(f, "hostname")) && rnd_below(2))
            json_object_set_new(s, "maxLength", json_integer(rnd_between(24, 80)));
        break;
    case 3:
        json_object_set_new(s, "type", json_string("string"));
        json_object_set_new(s, "pattern", json_string(PICK(patterns)));
        break;
    case 4:
        json_object_set_new(s, "type", json_string("integer"));
        random_bounds(s, 1);
        break;
    case 5:
        json_object_set_new(s, "type", json_string("number"));
        random_bounds(s, 0);
        break;
    case 6:
        json_object_set_new(s, "type", json_string("boolean"));
        break;
    case 7: {   /* a multiselect */
        json_t *items = json_object(), *e = random_enum(2, 6);
        int n = (int)json_array_size(e), mn = rnd_below(3);   /* n >= 2 */
        json_object_set_new(items, "enum", e);
        json_object_set_new(s, "type", json_string("array"));
        json_object_set_new(s, "items", items);
        json_object_set_new(s, "uniqueItems", json_true());
        if (mn)
            json_object_set_new(s, "minItems", json_integer(mn));
        if (rnd_below(2))
            json_object_set_new(s, "maxItems", json_integer(rnd_between(mn > 1 ? mn : 1, n)));
        break;
    }
    case 8:   /* nullable */
        t = json_pack("[s, s]", PICK(nullable), "null");
        json_object_set_new(s, "type", t);
        if (!strcmp(json_string_value(json_array_get(t, 0)), "string"))
            json_object_set_new(s, "maxLength", json_integer(rnd_between(1, 30)));
        else if (strcmp(json_string_value(json_array_get(t, 0)), "boolean"))
            random_bounds(s, !strcmp(json_string_value(json_array_get(t, 0)), "integer"));
        break;
    case 9:
        json_object_set_new(s, "const", json_true());
        break;
    case 10: {   /* a list of small integers */
        json_t *items = json_pack("{s:s, s:i, s:i}", "type", "integer", "minimum", 0,
                                  "maximum", rnd_between(1, 100));
        json_object_set_new(s, "type", json_string("array"));
        json_object_set_new(s, "items", items);
        json_object_set_new(s, "maxItems", json_integer(rnd_between(1, 5)));
        break;
    }
    default:
        json_decref(s);
        return random_object(depth + 1, nprops);
    }
    return s;
}

/* An object of 1..8 properties (1..3 nested), some required. */
static json_t *random_object(int depth, int *nprops)
{
    json_t *s = json_object(), *props = json_object(), *req = json_array();
    int n = rnd_between(1, depth ? 3 : 8), i;
    char name[64];

    for (i = 0; i < n; i++) {
        prop_name(name, sizeof(name), (*nprops)++);
        json_object_set_new(props, name, random_property(depth, nprops));
        if (!rnd_below(3))
            json_array_append_new(req, json_string(name));
    }
    json_object_set_new(s, "type", json_string("object"));
    json_object_set_new(s, "properties", props);
    if (json_array_size(req))
        json_object_set_new(s, "required", req);
    else
        json_decref(req);
    if (rnd_below(2))
        json_object_set_new(s, "additionalProperties", json_false());
    return s;
}

/* A fields shorthand form (without conditions: refused by the grammar). */
static json_t *random_fields(void)
{
    static const char *const types[] = {"text", "textarea", "email", "url", "phone", "date",
                                        "number", "integer", "rating", "checkbox", "select",
                                        "multiselect"};
    json_t *fields = json_array();
    int n = rnd_between(1, 10), i;
    char name[64];

    for (i = 0; i < n; i++) {
        const char *t = PICK(types);
        json_t *f = json_pack("{s:s, s:s}", "name", "", "type", t);
        prop_name(name, sizeof(name), i);
        json_object_set_new(f, "name", json_string(name));
        if (rnd_below(2))
            json_object_set_new(f, "required", json_true());
        if (!strcmp(t, "select") || !strcmp(t, "multiselect"))
            json_object_set_new(f, "options", random_enum(2, 6));
        else if ((!strcmp(t, "number") || !strcmp(t, "integer")) && rnd_below(2)) {
            int lo = rnd_between(-100, 100);
            json_object_set_new(f, "min", json_integer(lo));
            json_object_set_new(f, "max", json_integer(lo + rnd_between(1, 1000)));
        } else if ((!strcmp(t, "text") || !strcmp(t, "textarea")) && rnd_below(2))
            json_object_set_new(f, "max_length", json_integer(rnd_between(5, 60)));
        json_array_append_new(fields, f);
    }
    return fields;
}

/* Some text for the model to read: words, values and a few bytes of noise. */
static void random_text(struct buf *b, int words_n)
{
    int i;

    buf_reset(b);
    for (i = 0; i < words_n; i++) {
        switch (rnd_below(6)) {
        case 0:
            buf_printf(b, "%s@example.org ", PICK(words));
            break;
        case 1:
            buf_printf(b, "%d ", rnd_between(-50, 5000));
            break;
        case 2:
            buf_printf(b, "2026-%02d-%02d ", rnd_between(1, 12), rnd_between(1, 28));
            break;
        case 3:
            buf_printf(b, "%s ", PICK(values));
            break;
        default:
            buf_printf(b, "%s: ", PICK(words));
        }
    }
}

/* ---- the model ---- */

static int group_setup(void **state)
{
    struct fmd_err err = {0};
    const char *seed = getenv("FORMD_TEST_SEED");
    int rc;

    small = getenv("FORMD_TEST_SMALL") && *getenv("FORMD_TEST_SMALL") == '1';
    if (seed && *seed)
        rng_state = strtoull(seed, NULL, 10);
    printf("model outputs: seed %llu%s\n", (unsigned long long)rng_state,
           small ? " (FORMD_TEST_SMALL)" : "");
    if (!mkdtemp(dir))
        return -1;
    snprintf(model, sizeof(model), "%s/tiny.gguf", dir);
    if ((rc = ai_mkmodel_ex(model, ai_model_preset("tiny"), 42, NULL, NULL, &err))) {
        fprintf(stderr, "mkmodel: %d %s\n", rc, err.msg);
        return -1;
    }
    rc = ai_open(&ai_llama_provider, model, 1, &prov, &err);
    if (rc == FMD_EUNAVAIL) {   /* a CPU without what llama.cpp was built for */
        print_message("skipping: %s\n", err.msg);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "open: %d %s\n", rc, err.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    ai_close(prov);
    unlink(model);
    rmdir(dir);
    return 0;
}

/* The grammar of schema, which must be inside the subset. fmd_free it. */
static char *grammar_of(const json_t *schema)
{
    struct buf b;
    struct fmd_err err = {0};
    int rc;

    buf_init(&b, GRAMMAR_MAX);
    if ((rc = ai_grammar_from_schema(schema, &b, &err))) {
        char *text = json_dumps(schema, 0);
        fail_msg("no grammar (%d: %s) for %s", rc, err.msg, text);
    }
    return buf_detach(&b, NULL);
}

static struct schema *compile(const json_t *schema)
{
    struct schema *s = NULL;
    struct fmd_err err = {0};

    if (schema_compile(schema, &s, &err)) {
        char *text = json_dumps(schema, 0);
        fail_msg("test schema does not compile (%s): %s", err.msg, text);
    }
    return s;
}

/* The offset of the first byte that does not start a well-formed UTF-8
 * sequence (overlong, surrogate, beyond U+10FFFF, bad continuation), or -1. */
static long bad_utf8(const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    long i = 0;

    while (s[i]) {
        unsigned char c = s[i];
        int n = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2
              : c >= 0xF0 && c <= 0xF4 ? 3 : -1, k;
        unsigned lo = 0x80, hi = 0xBF;   /* the second byte's range (Unicode table 3-7) */

        if (n < 0)
            return i;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        else if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        for (k = 1; k <= n; k++)
            if (s[i + k] < (k == 1 ? lo : 0x80) || s[i + k] > (k == 1 ? hi : 0xBF))
                return i;
        i += n + 1;
    }
    return -1;
}

/*
 * The model's text is not always UTF-8: llama.cpp's grammar decodes bytes
 * without refusing overlong forms (E0 80..9F, F0 80..8F: grammar.c cannot
 * tell them from the characters they spell), and src/ai/llama.c does not
 * check the bytes of the tokens it accepts. Such output fails the task's check
 * and the fallback answers. Until llama.c refuses those tokens, they are
 * counted and printed; 1 makes each a failure.
 */
#define UTF8_IS_ENFORCED 1
static size_t not_utf8;

/*
 * Samples one completion under grammar with a random temperature and seed.
 * 0 and *out parsed (flags as json_loads), 1 when the output was cut off at
 * max_tokens, 2 when it is not UTF-8. Any other failure fails the test.
 */
static int sample(const char *prefix, const char *prompt, const char *grammar, int max_tokens,
                  const char *what, json_t **out, size_t *tokens)
{
    struct ai_request req = {.prefix = prefix, .prompt = prompt, .grammar = grammar,
                             .limits = {.max_tokens = max_tokens, .timeout_ms = 600000,
                                        .temperature = 0.6 + rnd_below(11) / 10.0,
                                        .seed = (uint32_t)rnd()}};
    struct ai_result res;
    struct fmd_err err = {0};
    json_error_t je;
    long at;
    int rc = ai_complete(prov, &req, &res, &err);

    *out = NULL;
    if (rc)
        fail_msg("%s: complete gave %d (%s)", what, rc, err.msg);
    *tokens += (size_t)res.generated_tokens;
    if (res.truncated) {
        ai_result_release(&res);
        return 1;
    }
    if ((at = bad_utf8(res.text)) >= 0) {
        const unsigned char *b = (const unsigned char *)res.text + at;
        char hex[16] = "";
        int k;
        for (k = 0; k < 4 && b[k]; k++)
            snprintf(hex + 3 * k, sizeof(hex) - 3 * (size_t)k, "%02X ", b[k]);
        if (UTF8_IS_ENFORCED)
            fail_msg("%s: output is not UTF-8 at byte %ld (%s): %s", what, at, hex, res.text);
        print_message("%s: output is not UTF-8 at byte %ld: %s\n", what, at, hex);
        not_utf8++;
        ai_result_release(&res);
        return 2;
    }
    if (!(*out = json_loads(res.text, JSON_DECODE_ANY, &je)))
        fail_msg("%s: output is not JSON (%s): %s\ngrammar:\n%s", what, je.text, res.text,
                 grammar);
    ai_result_release(&res);
    return 0;
}

/* Fails with the errors when inst does not validate. */
static void assert_valid(const struct schema *s, const json_t *inst, const json_t *schema,
                         const char *what)
{
    json_t *errors = NULL;

    if (schema_validate(s, inst, &errors)) {
        char *i = json_dumps(inst, JSON_ENCODE_ANY), *e = json_dumps(errors, 0);
        char *sc = json_dumps(schema, 0);
        fail_msg("%s: output does not validate: %s\nerrors: %s\nschema: %s", what, i, e, sc);
    }
}

/* ---- extract ---- */

static void test_extract(void **state)
{
    int nschemas = small ? 30 : 200, per = small ? 2 : 3, i, j, rc;
    size_t outputs = 0, truncated = 0, tokens = 0, from_fields = 0, bad0 = not_utf8;
    struct buf prefix, prompt, text;

    NEED_MODEL();
    buf_init(&prefix, 1 << 20);
    buf_init(&prompt, 1 << 20);
    buf_init(&text, 1 << 16);
    for (i = 0; i < nschemas; i++) {
        json_t *schema = NULL, *fields = NULL;
        struct fmd_err err = {0};
        struct schema *s;
        char *grammar, *schema_text, what[64];
        int nprops = 0;

        if (i % 3 == 2) {   /* every third a form made with the fields shorthand */
            fields = random_fields();
            if (fields_compile(fields, &schema, &err)) {
                char *ft = json_dumps(fields, 0);
                fail_msg("random fields do not compile (%s): %s", err.msg, ft);
            }
            from_fields++;
        } else {
            schema = random_object(0, &nprops);
        }
        s = compile(schema);
        grammar = grammar_of(schema);
        schema_text = json_encode(schema);
        assert_non_null(schema_text);
        buf_reset(&prefix);
        assert_int_equal(tasks_ai_extract_prefix(&prefix, schema_text), 0);
        for (j = 0; j < per; j++) {
            json_t *out;
            random_text(&text, rnd_between(1, 30));
            buf_reset(&prompt);
            buf_printf(&prompt, TASKS_AI_EXTRACT_PROMPT, text.p);
            snprintf(what, sizeof(what), "extract %d.%d", i, j);
            if ((rc = sample(prefix.p, prompt.p, grammar, 1024, what, &out, &tokens))) {
                truncated += rc == 1;
                continue;
            }
            if (!json_is_object(out))
                fail_msg("%s: not an object; schema %s", what, schema_text);
            assert_valid(s, out, schema, what);
            json_decref(out);
            outputs++;
        }
        fmd_free(schema_text);
        fmd_free(grammar);
        schema_free(s);
        json_decref(schema);
        json_decref(fields);
    }
    buf_release(&prefix);
    buf_release(&prompt);
    buf_release(&text);
    printf("model outputs: %d schemas (%zu from fields), %zu extractions valid, "
           "%zu cut off at max_tokens, %zu not UTF-8, 0 invalid; %zu tokens\n",
           nschemas, from_fields, outputs, truncated, not_utf8 - bad0, tokens);
}

/* ---- classify ---- */

static void test_classify(void **state)
{
    int nsets = small ? 20 : 100, per = small ? 1 : 2, i, j, rc;
    size_t outputs = 0, truncated = 0, tokens = 0, bad0 = not_utf8;
    struct buf prefix, prompt, text;

    NEED_MODEL();
    buf_init(&prefix, 1 << 20);
    buf_init(&prompt, 1 << 20);
    buf_init(&text, 1 << 16);
    for (i = 0; i < nsets; i++) {
        json_t *cats = json_array(), *names = random_enum(1, 8), *schema;
        struct schema *s;
        char *grammar, what[64];
        size_t k;

        /* names: values[] (some with quotes, backslashes, non-ASCII) but never empty */
        for (k = 0; k < json_array_size(names); k++) {
            const char *n = json_string_value(json_array_get(names, k));
            json_t *c = json_pack("{s:s}", "name", *n ? n : "other");
            if (rnd_below(2))
                json_object_set_new(c, "description", json_string(PICK(words)));
            json_array_append_new(cats, c);
        }
        schema = tasks_ai_classify_schema(cats);
        s = compile(schema);
        grammar = grammar_of(schema);
        buf_reset(&prefix);
        assert_int_equal(tasks_ai_classify_prefix(&prefix, cats), 0);
        for (j = 0; j < per; j++) {
            json_t *out, *data = json_object();
            const char *cat;
            char *data_text;
            int found = 0;

            random_text(&text, rnd_between(1, 12));
            json_object_set_new(data, PICK(words), json_string(text.p));
            data_text = json_encode(data);
            buf_reset(&prompt);
            buf_printf(&prompt, TASKS_AI_CLASSIFY_PROMPT, data_text);
            snprintf(what, sizeof(what), "classify %d.%d", i, j);
            if ((rc = sample(prefix.p, prompt.p, grammar, 256, what, &out, &tokens))) {
                truncated += rc == 1;
            } else {
                assert_valid(s, out, schema, what);
                /* what the task reads: a category among the names, a reason */
                assert_true(json_is_object(out));
                assert_int_equal(json_object_size(out), 2);
                assert_non_null(cat = json_get_str(out, "category"));
                for (k = 0; k < json_array_size(names); k++)
                    found |= !strcmp(cat, json_get_str(json_array_get(cats, k), "name"));
                if (!found)
                    fail_msg("%s: category '%s' is none of the categories", what, cat);
                assert_non_null(json_get_str(out, "reason"));
                assert_true(*json_get_str(out, "reason"));
                outputs++;
            }
            json_decref(out);
            json_decref(data);
            fmd_free(data_text);
        }
        fmd_free(grammar);
        schema_free(s);
        json_decref(schema);
        json_decref(names);
        json_decref(cats);
    }
    buf_release(&prefix);
    buf_release(&prompt);
    buf_release(&text);
    printf("model outputs: %d category sets, %zu classifications valid, "
           "%zu cut off at max_tokens, %zu not UTF-8, 0 invalid; %zu tokens\n",
           nsets, outputs, truncated, not_utf8 - bad0, tokens);
}

/* ---- generate_form ---- */

static void test_generate_form(void **state)
{
    static const char *const kinds[] = {"A contact form", "An event sign-up", "A job application",
                                        "A customer survey", "A bug report", "A caf\u00e9 order"};
    int n = small ? 10 : 50, i, rc;
    size_t compiled = 0, dup = 0, dup_options = 0, no_options = 0, stray_options = 0;
    size_t truncated = 0, tokens = 0, bad0 = not_utf8;
    json_t *answer_doc;
    struct schema *s;
    struct buf prompt, text, text2;
    char *grammar;
    json_error_t je;

    NEED_MODEL();
    assert_non_null(answer_doc = json_loads(tasks_ai_fields_answer_schema, 0, &je));
    s = compile(answer_doc);
    grammar = grammar_of(answer_doc);   /* without one the task samples free text */
    buf_init(&prompt, 1 << 20);
    buf_init(&text, 1 << 16);
    buf_init(&text2, 1 << 16);
    for (i = 0; i < n; i++) {
        json_t *out, *schema = NULL;
        struct fmd_err err = {0};
        char what[64];

        random_text(&text, rnd_between(0, 10));
        buf_reset(&prompt);
        buf_reset(&text2);
        buf_printf(&text2, "%s with %s", PICK(kinds), text.p);
        buf_printf(&prompt, TASKS_AI_GENERATE_PROMPT, text2.p);
        snprintf(what, sizeof(what), "generate_form %d", i);
        if ((rc = sample(tasks_ai_generate_prefix, prompt.p, grammar, 768, what, &out, &tokens))) {
            truncated += rc == 1;
            continue;
        }
        assert_true(json_is_array(out));
        assert_valid(s, out, answer_doc, what);
        if (!fields_compile(out, &schema, &err)) {
            compiled++;
            json_decref(schema);
        } else if (strstr(err.msg, "is already used")) {
            dup++;
        } else if (strstr(err.msg, "repeats option")) {
            dup_options++;
        } else if (strstr(err.msg, "'options' must be a non-empty array")) {
            no_options++;
        } else if (strstr(err.msg, "'options' does not apply")) {
            stray_options++;
        } else {
            char *t = json_dumps(out, 0);
            fail_msg("%s: the fields compiler refuses what the grammar allows (%s): %s", what,
                     err.msg, t);
        }
        json_decref(out);
    }
    printf("model outputs: %d forms generated, %zu compile, refused by the task's check: %zu "
           "repeated names, %zu repeated options, %zu choices without options, %zu options on "
           "other types; %zu cut off at max_tokens, %zu not UTF-8, 0 invalid; %zu tokens\n",
           n, compiled, dup, dup_options, no_options, stray_options, truncated,
           not_utf8 - bad0, tokens);
    buf_release(&prompt);
    buf_release(&text);
    buf_release(&text2);
    fmd_free(grammar);
    schema_free(s);
    json_decref(answer_doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extract),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_generate_form),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
