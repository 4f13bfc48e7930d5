/*
 * test_grammar.c - unit tests for src/ai/grammar.c.
 *
 * Besides exact grammar text and every refusal, the property test: the test
 * parses the GBNF it got (rules, alternatives, sequences, literals, classes,
 * groups, repetition) with a parser of its own, checks it against llama.cpp's
 * syntax and limits, generates random strings from it and asserts that each
 * one parses as JSON (json_parse) and that schema_validate accepts it. When
 * llama.cpp is linked, its own grammar parser must accept every grammar too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ai/grammar.h"
#include "core/json.h"
#include "core/mem.h"
#include "schema/fields.h"
#include "schema/validate.h"
#include "core/banned.h"

#define STRINGS_PER_SCHEMA 2000
#define GRAMMAR_MAX (4u << 20)

static json_t *tj(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);

    if (!v)
        fail_msg("test JSON does not parse: %s: %s", e.text, text);
    return v;
}

/* ---- a GBNF parser and random generator ---- */

enum node_kind { N_ALT, N_SEQ, N_LIT, N_CLASS, N_REF, N_REP };

struct node {
    enum node_kind kind;
    struct node **kids;           /* N_ALT, N_SEQ; N_REP has kids[0] */
    size_t nkids;
    uint32_t *cps;                /* N_LIT code points; N_CLASS ranges lo,hi pairs */
    size_t ncps;
    int negated;
    char *ref;                    /* N_REF: rule name, resolved to rule */
    size_t rule;
    unsigned min, max;            /* N_REP; max UINT32_MAX: unbounded */
};

struct gram {
    char **names;
    struct node **rules;
    size_t n;
    const char *err;              /* first syntax problem */
};

static struct node *node_new(enum node_kind k)
{
    struct node *n = calloc(1, sizeof(*n));

    assert_non_null(n);
    n->kind = k;
    return n;
}

static void node_add(struct node *p, struct node *kid)
{
    p->kids = realloc(p->kids, (p->nkids + 1) * sizeof(*p->kids));
    assert_non_null(p->kids);
    p->kids[p->nkids++] = kid;
}

static void cp_add(struct node *p, uint32_t cp)
{
    p->cps = realloc(p->cps, (p->ncps + 1) * sizeof(*p->cps));
    assert_non_null(p->cps);
    p->cps[p->ncps++] = cp;
}

static void node_free(struct node *n)
{
    size_t i;

    if (!n)
        return;
    for (i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->cps);
    free(n->ref);
    free(n);
}

static void gram_free(struct gram *g)
{
    size_t i;

    for (i = 0; i < g->n; i++) {
        free(g->names[i]);
        node_free(g->rules[i]);
    }
    free(g->names);
    free(g->rules);
    memset(g, 0, sizeof(*g));
}

static int is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

static const char *skip_sp(const char *p, int newline_ok)
{
    while (*p == ' ' || *p == '\t' || (newline_ok && *p == '\n'))
        p++;
    return p;
}

static uint32_t utf8_decode(const char **pp)
{
    const unsigned char *p = (const unsigned char *)*pp;
    uint32_t cp;
    int n, i;

    if (p[0] < 0x80) {
        *pp += 1;
        return p[0];
    }
    n = p[0] >= 0xf0 ? 3 : p[0] >= 0xe0 ? 2 : 1;
    cp = p[0] & (0x3f >> n);
    for (i = 1; i <= n; i++)
        cp = (cp << 6) | (p[i] & 0x3f);
    *pp += n + 1;
    return cp;
}

/* One character of a literal or class, with llama.cpp's escapes. */
static uint32_t parse_char(struct gram *g, const char **pp)
{
    const char *p = *pp;
    unsigned v;

    if (*p != '\\')
        return utf8_decode(pp);
    switch (p[1]) {
    case 'x':
        if (sscanf(p + 2, "%2x", &v) != 1 || !p[2] || !p[3])
            g->err = "bad \\x escape";
        *pp = p + 4;
        return v;
    case 'u':
    case 'U': {
        int digits = p[1] == 'u' ? 4 : 8, i;
        for (v = 0, i = 0; i < digits; i++) {
            char c = p[2 + i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
                g->err = "bad \\u or \\U escape";
                break;
            }
            v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        *pp = p + 2 + i;
        return v;
    }
    case 'n': *pp = p + 2; return '\n';
    case 'r': *pp = p + 2; return '\r';
    case 't': *pp = p + 2; return '\t';
    case '\\': case '"': case '[': case ']':
        *pp = p + 2;
        return (unsigned char)p[1];
    default:
        g->err = "unknown escape";
        *pp = p + 2;
        return 0;
    }
}

static struct node *parse_alts(struct gram *g, const char **pp, int nested);

static struct node *parse_seq(struct gram *g, const char **pp, int nested)
{
    struct node *seq = node_new(N_SEQ);
    const char *p = *pp;

    for (;;) {
        struct node *item = NULL;
        if (*p == '"') {
            item = node_new(N_LIT);
            p++;
            while (*p && *p != '"')
                cp_add(item, parse_char(g, &p));
            if (*p != '"')
                g->err = "unterminated literal";
            else
                p++;
        } else if (*p == '[') {
            item = node_new(N_CLASS);
            p++;
            if (*p == '^') {
                item->negated = 1;
                p++;
            }
            while (*p && *p != ']') {
                uint32_t lo = parse_char(g, &p), hi = lo;
                if (p[0] == '-' && p[1] && p[1] != ']') {
                    p++;
                    hi = parse_char(g, &p);
                }
                cp_add(item, lo);
                cp_add(item, hi);
            }
            if (*p != ']')
                g->err = "unterminated class";
            else
                p++;
        } else if (is_word(*p)) {
            const char *s = p;
            item = node_new(N_REF);
            while (is_word(*p))
                p++;
            item->ref = strndup(s, (size_t)(p - s));
        } else if (*p == '(') {
            p = skip_sp(p + 1, 1);
            item = parse_alts(g, &p, 1);
            if (*p != ')')
                g->err = "expecting )";
            else
                p++;
        } else {
            break;
        }
        p = skip_sp(p, nested);
        while (*p == '?' || *p == '*' || *p == '+' || *p == '{') {
            struct node *rep = node_new(N_REP);
            node_add(rep, item);
            item = rep;
            if (*p == '{') {
                char *end;
                rep->min = (unsigned)strtoul(p + 1, &end, 10);
                rep->max = rep->min;
                if (*end == ',') {
                    rep->max = end[1] == '}' ? UINT32_MAX : (unsigned)strtoul(end + 1, &end, 10);
                    if (rep->max == UINT32_MAX)
                        end++;
                }
                if (*end != '}')
                    g->err = "bad {m,n}";
                if (rep->min > 2000 || (rep->max != UINT32_MAX && rep->max > 2000))
                    g->err = "repetition above llama.cpp's 2000";
                p = end + 1;
            } else {
                rep->min = *p == '+';
                rep->max = *p == '?' ? 1 : UINT32_MAX;
                p++;
            }
            p = skip_sp(p, nested);
        }
        node_add(seq, item);
    }
    *pp = p;
    return seq;
}

static struct node *parse_alts(struct gram *g, const char **pp, int nested)
{
    struct node *alt = node_new(N_ALT);

    node_add(alt, parse_seq(g, pp, nested));
    while (**pp == '|') {
        *pp = skip_sp(*pp + 1, 1);
        node_add(alt, parse_seq(g, pp, nested));
    }
    return alt;
}

static size_t find_rule(const struct gram *g, const char *name)
{
    size_t i;

    for (i = 0; i < g->n; i++)
        if (strcmp(g->names[i], name) == 0)
            return i;
    return SIZE_MAX;
}

static int resolve_refs(struct gram *g, struct node *n)
{
    size_t i;

    if (n->kind == N_REF && (n->rule = find_rule(g, n->ref)) == SIZE_MAX) {
        g->err = "undefined rule";
        return -1;
    }
    for (i = 0; i < n->nkids; i++)
        if (resolve_refs(g, n->kids[i]))
            return -1;
    return 0;
}

/* Parses text into g; fails the test on a syntax error. */
static void gram_parse(struct gram *g, const char *text)
{
    const char *p = text;
    size_t i;

    memset(g, 0, sizeof(*g));
    while (*p && !g->err) {
        const char *s = p;
        while (is_word(*p))
            p++;
        if (p == s) {
            g->err = "expecting a rule name";
            break;
        }
        g->names = realloc(g->names, (g->n + 1) * sizeof(*g->names));
        g->rules = realloc(g->rules, (g->n + 1) * sizeof(*g->rules));
        g->names[g->n] = strndup(s, (size_t)(p - s));
        if (find_rule(g, g->names[g->n]) != SIZE_MAX)
            g->err = "rule defined twice";
        p = skip_sp(p, 0);
        if (strncmp(p, "::=", 3) != 0)
            g->err = "expecting ::=";
        p = skip_sp(p + 3, 0);
        g->rules[g->n] = parse_alts(g, &p, 0);
        g->n++;
        if (*p != '\n')
            g->err = "expecting the end of the line";
        else
            p++;
    }
    for (i = 0; !g->err && i < g->n; i++)
        resolve_refs(g, g->rules[i]);
    if (!g->err && find_rule(g, "root") == SIZE_MAX)
        g->err = "no root rule";
    if (g->err)
        fail_msg("grammar does not parse (%s) near '%.40s':\n%s", g->err, p, text);
}

/* xorshift64*: reproducible */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static uint64_t rnd_below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

struct out {
    char *p;
    size_t len, cap;
};

static void out_cp(struct out *o, uint32_t cp)
{
    char tmp[4];
    size_t n;

    if (cp < 0x80) {
        tmp[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (char)(0xc0 | (cp >> 6));
        tmp[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (char)(0xe0 | (cp >> 12));
        tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        tmp[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        tmp[0] = (char)(0xf0 | (cp >> 18));
        tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        tmp[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    if (o->len + n + 1 > o->cap) {
        o->cap = (o->cap + n + 1) * 2;
        o->p = realloc(o->p, o->cap);
        assert_non_null(o->p);
    }
    memcpy(o->p + o->len, tmp, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static int class_has(const struct node *n, uint32_t cp)
{
    size_t i;

    for (i = 0; i + 1 < n->ncps; i += 2)
        if (cp >= n->cps[i] && cp <= n->cps[i + 1])
            return !n->negated;
    return n->negated;
}

/* Characters tried for negated classes: control, ASCII, and multi-byte ones; and
 * what is no character (surrogates, beyond U+10FFFF: out_cp writes only 4 bytes). */
static const uint32_t probe[] = {0x00, 0x01, 0x09, 0x0a, 0x1f, 0x7f, 0xe9, 0x20ac, 0x4e2d,
                                 0x1f600, 0x2028, 0xd800, 0xdfff, 0x10ffff, 0x110000};

static uint32_t class_pick(const struct node *n)
{
    uint64_t total = 0, k;
    size_t i;

    if (n->negated) {
        for (;;) {
            uint32_t cp = rnd_below(4) == 0 ? probe[rnd_below(sizeof(probe) / sizeof(probe[0]))]
                                            : (uint32_t)(0x20 + rnd_below(0x5f));
            if (class_has(n, cp))
                return cp;
        }
    }
    for (i = 0; i + 1 < n->ncps; i += 2)
        total += n->cps[i + 1] - n->cps[i] + 1;
    k = rnd_below(total);
    for (i = 0; i + 1 < n->ncps; i += 2) {
        uint64_t size = n->cps[i + 1] - n->cps[i] + 1;
        if (k < size)
            return n->cps[i] + (uint32_t)k;
        k -= size;
    }
    fail_msg("empty class");
    return 0;
}

/* A repetition count: often the least, sometimes the most, else uniform. */
static unsigned rep_count(unsigned min, unsigned max)
{
    uint64_t r = rnd_below(8);

    if (max == UINT32_MAX) {
        unsigned k = min;
        while (rnd_below(3) && k < min + 40)
            k++;
        return k;
    }
    if (r == 0)
        return min;
    if (r == 1)
        return max;
    if (r < 5 && max - min > 8)
        return min + (unsigned)rnd_below(9);
    return min + (unsigned)rnd_below((uint64_t)max - min + 1);
}

static void generate(const struct gram *g, const struct node *n, struct out *o, int depth)
{
    size_t i;
    unsigned k;

    if (depth > 200)
        fail_msg("grammar recursion too deep");
    switch (n->kind) {
    case N_ALT:
        generate(g, n->kids[rnd_below(n->nkids)], o, depth + 1);
        break;
    case N_SEQ:
        for (i = 0; i < n->nkids; i++)
            generate(g, n->kids[i], o, depth + 1);
        break;
    case N_LIT:
        for (i = 0; i < n->ncps; i++)
            out_cp(o, n->cps[i]);
        break;
    case N_CLASS:
        out_cp(o, class_pick(n));
        break;
    case N_REF:
        generate(g, g->rules[n->rule], o, depth + 1);
        break;
    case N_REP:
        for (k = rep_count(n->min, n->max); k > 0; k--)
            generate(g, n->kids[0], o, depth + 1);
        break;
    }
}

/* ---- helpers ---- */

static char *grammar_of(const json_t *schema)
{
    struct buf b;
    struct fmd_err err = {0};
    int rc;

    buf_init(&b, GRAMMAR_MAX);
    rc = ai_grammar_from_schema(schema, &b, &err);
    if (rc)
        fail_msg("no grammar (%d: %s)", rc, err.msg);
    return buf_detach(&b, NULL);
}

#if __has_include("llama.h")
#include "llama.h"
#define HAVE_LLAMA 1
#endif

/*
 * llama.cpp's own parser, when linked (the Makefile links it into every
 * build once scripts/bootstrap has built it): a grammar it refuses fails the
 * test. No vocabulary is needed to parse.
 */
static void llama_accepts(const char *grammar)
{
#ifdef HAVE_LLAMA
    struct llama_sampler *s = llama_sampler_init_grammar(NULL, grammar, "root");
    if (!s)
        fail_msg("llama.cpp refuses the grammar:\n%s", grammar);
    llama_sampler_free(s);
#else
    (void)grammar;
#endif
}

/* Generates n strings from the schema's grammar; each must parse and validate. */
static size_t property_check(const char *schema_text, size_t n)
{
    json_t *doc = tj(schema_text);
    struct schema *s = NULL;
    struct fmd_err err = {0};
    struct gram g;
    char *grammar;
    size_t i, root;

    if (schema_compile(doc, &s, &err))
        fail_msg("test schema does not compile: %s", err.msg);
    grammar = grammar_of(doc);
    gram_parse(&g, grammar);
    llama_accepts(grammar);
    root = find_rule(&g, "root");
    for (i = 0; i < n; i++) {
        struct out o = {0};
        json_t *inst = NULL, *errors = NULL;
        out_cp(&o, 'x');
        o.len = 0;
        o.p[0] = '\0';
        generate(&g, g.rules[root], &o, 0);
        if (getenv("GRAMMAR_SAMPLES") && i < 3)
            printf("%s\n", o.p);
        if (json_parse(o.p, o.len, &json_default_limits, &inst, &err))
            fail_msg("generated text is not JSON (%s): %s\ngrammar:\n%s", err.msg, o.p, grammar);
        if (schema_validate(s, inst, &errors)) {
            char *e = json_dumps(errors, 0);
            fail_msg("generated JSON does not validate: %s\nerrors: %s\nschema: %s\ngrammar:\n%s",
                     o.p, e, schema_text, grammar);
        }
        json_decref(inst);
        free(o.p);
    }
    gram_free(&g);
    fmd_free(grammar);
    schema_free(s);
    json_decref(doc);
    return n;
}

static void assert_grammar(const char *schema_text, const char *want)
{
    json_t *doc = tj(schema_text);
    char *got = grammar_of(doc);

    if (strcmp(got, want) != 0)
        fail_msg("grammar of %s\n--- got:\n%s--- want:\n%s", schema_text, got, want);
    fmd_free(got);
    json_decref(doc);
}

static void assert_refused(const char *schema_text, const char *msg)
{
    json_t *doc = tj(schema_text);
    struct buf b;
    struct fmd_err err = {0};
    int rc;

    buf_init(&b, GRAMMAR_MAX);
    rc = buf_adds(&b, "keep");
    assert_int_equal(rc, 0);
    rc = ai_grammar_from_schema(doc, &b, &err);
    if (rc != FMD_EINVAL)
        fail_msg("expected FMD_EINVAL, got %d (%s) for %s:\n%s", rc, err.msg, schema_text, b.p);
    if (!strstr(err.msg, msg))
        fail_msg("message '%s' lacks '%s'", err.msg, msg);
    assert_string_equal(b.p, "keep");
    buf_release(&b);
    json_decref(doc);
}

/* ---- exact text ---- */

static void test_exact_text(void **state)
{
    (void)state;
    assert_grammar("{\"type\": \"boolean\"}", "root ::= (\"true\" | \"false\")\n");
    assert_grammar("{\"type\": [\"string\", \"null\"], \"maxLength\": 3}",
                   "root ::= (\"\\\"\" char{0,3} \"\\\"\" | \"null\")\n"
                   "char ::= [^\"\\\\\\x00-\\x1F\\x7F\\uD800-\\uDFFF\\U00110000-\\U7FFFFFFF]"
                   " | \"\\\\\" [\"\\\\/bfnrt]\n");
    assert_grammar("{\"type\": \"integer\", \"minimum\": 0, \"maximum\": 150}",
                   "root ::= ([0-9] | [1-9] [0-9] | \"1\" [0-4] [0-9] | \"150\")\n");
    assert_grammar("{\"type\": \"integer\", \"minimum\": -5, \"maximum\": 12}",
                   "root ::= (\"-\" [1-5] | ([0-9] | \"1\" [0-2]))\n");
    assert_grammar("{\"type\": \"number\", \"minimum\": 0, \"maximum\": 10, \"multipleOf\": 0.01}",
                   "root ::= ([0-9] (\".\" [0-9]{1,2})? | \"10\")\n");
    assert_grammar("{\"type\": \"number\", \"exclusiveMinimum\": 0, \"maximum\": 1,"
                   " \"multipleOf\": 0.001}",
                   "root ::= (\"0.\" [0-9]{0,2} [1-9] | \"1\")\n");
    assert_grammar("{\"type\": \"number\", \"maximum\": 0, \"minimum\": -3, \"multipleOf\": 0.1}",
                   "root ::= (\"-\" \"0.\" [1-9] | \"-\" [1-2] (\".\" [0-9])? | \"-\" \"3\""
                   " | \"0\")\n");
    assert_grammar("{\"type\": \"object\", \"properties\": {\"a\": {\"const\": 1},"
                   " \"b\": {\"enum\": [\"x\", null]}}, \"required\": [\"b\"]}",
                   "root ::= \"{\" \"\\\"b\\\":\" root-b (\",\\\"a\\\":\" root-a)? \"}\"\n"
                   "root-a ::= \"1\"\n"
                   "root-b ::= (\"\\\"x\\\"\" | \"null\")\n");
    assert_grammar("{\"properties\": {\"a\": {\"type\": \"null\"}, \"b\": {\"type\": \"null\"}}}",
                   "root ::= \"{\" (\"\\\"a\\\":\" root-a root-t1 | \"\\\"b\\\":\" root-b)? \"}\"\n"
                   "root-a ::= \"null\"\n"
                   "root-b ::= \"null\"\n"
                   "root-t1 ::= (\",\\\"b\\\":\" root-b)?\n");
    assert_grammar("{\"type\": \"array\", \"items\": {\"enum\": [\"a\", \"b\"]},"
                   " \"uniqueItems\": true}",
                   "root ::= \"[\" root-u0-0 \"]\"\n"
                   "root-u0-0 ::= \"\\\"a\\\"\" root-u1-1 | root-u1-0\n"
                   "root-u1-0 ::= (\"\\\"b\\\"\")?\n"
                   "root-u1-1 ::= (\",\" \"\\\"b\\\"\")?\n");
    assert_grammar("{\"type\": \"string\", \"pattern\": \"^[A-Z]{3}-\\\\d{4}$\"}",
                   "root ::= \"\\\"\" [A-Z]{3} \"-\" [0-9]{4} \"\\\"\"\n");
    assert_grammar("{\"type\": \"array\", \"items\": {\"type\": \"boolean\"}, \"minItems\": 1,"
                   " \"maxItems\": 3}",
                   "root ::= \"[\" root-item (\",\" root-item){0,2} \"]\"\n"
                   "root-item ::= (\"true\" | \"false\")\n");
}

/* ---- the property test ---- */

/* form30 of bench/validate, with its if/then (not supported) left out. */
static const char *const form30 =
    "{\"type\": \"object\", \"properties\": {"
    "\"first_name\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 80},"
    "\"last_name\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 80},"
    "\"email\": {\"type\": \"string\", \"format\": \"email\", \"maxLength\": 254},"
    "\"phone\": {\"type\": \"string\", \"pattern\": \"^\\\\+?[0-9 ()-]{7,20}$\"},"
    "\"birth_date\": {\"type\": \"string\", \"format\": \"date\"},"
    "\"age\": {\"type\": \"integer\", \"minimum\": 18, \"maximum\": 120},"
    "\"country\": {\"type\": \"string\", \"enum\": [\"DE\", \"FR\", \"GB\", \"IT\", \"NL\", \"PL\","
    " \"SE\", \"US\", \"CA\", \"JP\"]},"
    "\"city\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 100},"
    "\"postal_code\": {\"type\": \"string\", \"pattern\": \"^[A-Z0-9 -]{3,10}$\"},"
    "\"street\": {\"type\": \"string\", \"maxLength\": 200},"
    "\"company\": {\"type\": \"string\", \"maxLength\": 200},"
    "\"job_title\": {\"type\": \"string\", \"maxLength\": 100},"
    "\"website\": {\"type\": \"string\", \"format\": \"uri\"},"
    "\"newsletter\": {\"type\": \"boolean\"},"
    "\"terms_accepted\": {\"const\": true},"
    "\"contact_method\": {\"type\": \"string\", \"enum\": [\"email\", \"phone\", \"post\"]},"
    "\"budget\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 1000000,"
    " \"multipleOf\": 0.01},"
    "\"team_size\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 100000},"
    "\"start_date\": {\"type\": \"string\", \"format\": \"date\"},"
    "\"meeting_time\": {\"type\": \"string\", \"format\": \"time\"},"
    "\"submitted_at\": {\"type\": \"string\", \"format\": \"date-time\"},"
    "\"rating\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 5},"
    "\"interests\": {\"type\": \"array\", \"items\": {\"type\": \"string\", \"enum\": [\"sales\","
    " \"support\", \"product\", \"billing\", \"events\", \"press\"]}, \"uniqueItems\": true,"
    " \"maxItems\": 6},"
    "\"comments\": {\"type\": \"string\", \"maxLength\": 2000},"
    "\"referral_code\": {\"type\": [\"string\", \"null\"], \"pattern\": \"^[A-Z]{3}-[0-9]{4}$\"},"
    "\"language\": {\"type\": \"string\", \"enum\": [\"en\", \"de\", \"fr\", \"it\", \"nl\","
    " \"pl\","
    " \"sv\", \"ja\"]},"
    "\"tracking_id\": {\"type\": \"string\", \"format\": \"uuid\"},"
    "\"ip_address\": {\"type\": \"string\", \"format\": \"ipv4\"},"
    "\"consent_marketing\": {\"type\": \"boolean\"},"
    "\"priority\": {\"type\": \"string\", \"enum\": [\"low\", \"normal\", \"high\", \"urgent\"]}},"
    "\"required\": [\"first_name\", \"last_name\", \"email\", \"age\", \"country\", \"city\","
    " \"terms_accepted\", \"contact_method\", \"submitted_at\", \"tracking_id\", \"language\","
    " \"priority\"], \"additionalProperties\": false}";

/* Fields shorthand (schema/fields.c) without conditions: compiled in the test. */
static const char *const fields_doc =
    "[{\"name\": \"email\", \"type\": \"email\", \"required\": true, \"max_length\": 40},"
    " {\"name\": \"name\", \"type\": \"text\", \"label\": \"Name\", \"min_length\": 2},"
    " {\"name\": \"bio\", \"type\": \"textarea\"},"
    " {\"name\": \"site\", \"type\": \"url\", \"min_length\": 30},"
    " {\"name\": \"phone\", \"type\": \"phone\", \"min_length\": 8},"
    " {\"name\": \"born\", \"type\": \"date\"},"
    " {\"name\": \"height\", \"type\": \"number\", \"min\": 0.5, \"max\": 2.5},"
    " {\"name\": \"kids\", \"type\": \"integer\", \"min\": 0, \"max\": 20, \"required\": true},"
    " {\"name\": \"temp\", \"type\": \"integer\", \"min\": -40},"
    " {\"name\": \"stars\", \"type\": \"rating\"},"
    " {\"name\": \"ok\", \"type\": \"checkbox\"},"
    " {\"name\": \"colour\", \"type\": \"select\", \"options\": [\"red\", 2, 3.5]},"
    " {\"name\": \"tags\", \"type\": \"multiselect\", \"options\": [\"a\", \"b\", \"c\", \"d\"],"
    "  \"min_items\": 1, \"max_items\": 2}]";

static const char *const schemas[] = {
    "{\"type\": \"boolean\"}",
    "{\"type\": [\"string\", \"null\"], \"minLength\": 2, \"maxLength\": 5}",
    "{\"type\": \"integer\"}",
    "{\"type\": \"number\"}",
    "{\"type\": \"integer\", \"minimum\": 0, \"maximum\": 150}",
    "{\"type\": \"integer\", \"exclusiveMinimum\": -1000, \"exclusiveMaximum\": -7}",
    "{\"type\": \"integer\", \"minimum\": 99, \"maximum\": 10001}",
    "{\"type\": \"integer\", \"minimum\": 1.5, \"maximum\": 9.5}",
    "{\"type\": \"number\", \"minimum\": -2.5, \"exclusiveMaximum\": 3, \"multipleOf\": 0.1}",
    "{\"type\": \"number\", \"exclusiveMinimum\": 0, \"maximum\": 1}",
    "{\"type\": \"number\", \"exclusiveMaximum\": 0, \"minimum\": -1.5}",
    "{\"type\": \"number\", \"exclusiveMaximum\": -2, \"exclusiveMinimum\": -4}",
    "{\"type\": \"string\", \"enum\": [\"\u00e9t\u00e9\", \"a\\nb\", \"q\\\"\\\\\", \"\"]}",
    "{\"type\": \"object\", \"properties\": {\"\u540d\u524d\": {\"type\": \"string\"}},"
    " \"required\": [\"\u540d\u524d\"]}",
    "{\"type\": [\"number\", \"null\"], \"minimum\": 17.25, \"maximum\": 1e6}",
    "{\"type\": \"string\", \"format\": \"date\"}",
    "{\"type\": \"string\", \"format\": \"date-time\"}",
    "{\"type\": \"string\", \"format\": \"time\"}",
    "{\"type\": \"string\", \"format\": \"email\", \"minLength\": 20, \"maxLength\": 24}",
    "{\"type\": \"string\", \"format\": \"hostname\"}",
    "{\"type\": \"string\", \"format\": \"uri\", \"maxLength\": 20}",
    "{\"type\": \"string\", \"format\": \"uuid\"}",
    "{\"type\": \"string\", \"format\": \"ipv4\"}",
    "{\"type\": \"string\", \"pattern\": \"^\\\\+?[0-9][0-9 ().-]{3,30}$\", \"minLength\": 9,"
    " \"maxLength\": 12}",
    "{\"type\": \"string\", \"pattern\": \"^[\\\\w.]+x*\\\\$?$\"}",
    "{\"type\": \"string\"}",
    "{\"type\": \"array\", \"items\": {\"enum\": [1, 1.0, \"1\", true, null]},"
    " \"uniqueItems\": true}",
    "{\"type\": \"array\", \"items\": {\"enum\": [\"a\", \"b\", \"c\", \"d\", \"e\"]},"
    " \"uniqueItems\": true, \"minItems\": 2, \"maxItems\": 3}",
    "{\"type\": \"array\", \"items\": {\"const\": \"only\"}, \"uniqueItems\": true,"
    " \"minItems\": 1}",
    "{\"type\": \"array\", \"items\": {\"type\": \"integer\", \"maximum\": -3}, \"minItems\": 2}",
    "{\"type\": \"array\", \"items\": {\"type\": \"array\", \"items\": {\"type\": \"boolean\"},"
    " \"maxItems\": 2}, \"maxItems\": 4}",
    "{\"type\": \"object\"}",
    "{\"properties\": {\"a\": {\"type\": \"null\"}, \"b\": {\"type\": \"boolean\"},"
    " \"c\": {\"enum\": [{\"x\": [1, 2]}, [3]]}}}",
    "{\"$defs\": {\"addr\": {\"type\": \"object\","
    " \"properties\": {\"street\": {\"type\": \"string\","
    " \"maxLength\": 10}, \"zip\": {\"type\": \"string\", \"pattern\": \"^[0-9]{5}$\"}},"
    " \"required\": [\"zip\"], \"additionalProperties\": false}},"
    " \"type\": \"object\", \"properties\": {\"home\": {\"$ref\": \"#/$defs/addr\"},"
    " \"work\": {\"$ref\": \"#/$defs/addr\"}, \"a~/b\\\"c\": {\"type\": \"integer\"}},"
    " \"required\": [\"home\"], \"additionalProperties\": false}",
    "{\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"string\", \"format\": \"uuid\"}},"
    " \"required\": [\"id\"], \"allOf\": [{\"properties\": {\"n\": {\"type\": \"integer\","
    " \"minimum\": 3}}, \"required\": [\"n\"]},"
    " {\"properties\": {\"note\": {\"type\": \"string\"}}}]}",
    "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"boolean\"}},"
    " \"additionalProperties\": false,"
    " \"allOf\": [{\"properties\": {\"b\": {\"type\": \"boolean\"}}}]}",
    "{\"type\": \"string\", \"format\": \"color-name\", \"maxLength\": 4}",
    /* llama.cpp refused the grammar of these two (found by fuzz_grammar) */
    "{\"type\": \"array\", \"items\": {\"type\": \"boolean\"}, \"maxItems\": 5000}",
    "{\"type\": \"array\", \"items\": {\"type\": \"integer\", \"minimum\": -3}, \"minItems\": 0,"
    " \"maxItems\": 5.9e26}",
};

static void test_property(void **state)
{
    struct fmd_err err = {0};
    json_t *fields = tj(fields_doc), *compiled = NULL;
    char *text;
    size_t i, total = 0;

    (void)state;
    for (i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++)
        total += property_check(schemas[i], STRINGS_PER_SCHEMA);
    total += property_check(form30, STRINGS_PER_SCHEMA);
    if (fields_compile(fields, &compiled, &err))
        fail_msg("fields do not compile: %s", err.msg);
    text = json_dumps(compiled, 0);
    total += property_check(text, STRINGS_PER_SCHEMA);
    free(text);
    json_decref(compiled);
    json_decref(fields);
    printf("property test: %zu schemas, %zu strings generated, all JSON and valid\n", i + 2, total);
}

/* A bound for the random test: small integers, halves, and extremes. */
static void random_bound(char *dst, size_t cap)
{
    static const char *const extremes[] = {
        "0", "-0.0", "1e12", "-1e12", "999999999999999999", "-999999999999999999",
        "1e19", "-1e19", "9223372036854775807", "0.000001", "-0.5", "1000000",
    };
    switch (rnd_below(4)) {
    case 0:
        snprintf(dst, cap, "%s", extremes[rnd_below(sizeof(extremes) / sizeof(extremes[0]))]);
        break;
    case 1:
        snprintf(dst, cap, "%lld.%s", (long long)rnd_below(400) - 200,
                 rnd_below(2) ? "5" : "25");
        break;
    default:
        snprintf(dst, cap, "%lld", (long long)rnd_below(2001) - 1000);
    }
}

/*
 * Random bounds on integers and numbers: each schema is either refused or
 * every value generated validates; an integer range is refused only when it
 * holds no integer, and in a small one every integer gets generated.
 */
static void test_random_bounds(void **state)
{
    static const char *const mults[] = {"", ", \"multipleOf\": 1", ", \"multipleOf\": 0.1",
                                        ", \"multipleOf\": 0.01", ", \"multipleOf\": 0.001"};
    size_t round, strings = 0, refused = 0;

    (void)state;
    for (round = 0; round < 400; round++) {
        char lo[48], hi[48], text[256];
        int integer = (int)rnd_below(2), lo_ex = (int)rnd_below(3), hi_ex = (int)rnd_below(3);
        json_t *doc, *instance;
        struct fmd_err err = {0};
        struct schema *sch = NULL;
        struct gram g;
        struct buf b;
        long double l, h, v;
        size_t i;
        int rc, seen[101] = {0};

        random_bound(lo, sizeof(lo));
        random_bound(hi, sizeof(hi));
        snprintf(text, sizeof(text), "{\"type\": \"%s\"%s%s%s%s%s%s%s%s}",
                 integer ? "integer" : "number",
                 lo_ex == 2 ? "" : lo_ex ? ", \"exclusiveMinimum\": " : ", \"minimum\": ",
                 lo_ex == 2 ? "" : lo, "",
                 hi_ex == 2 ? "" : hi_ex ? ", \"exclusiveMaximum\": " : ", \"maximum\": ",
                 hi_ex == 2 ? "" : hi, "", mults[rnd_below(5)], "");
        doc = tj(text);
        assert_int_equal(schema_compile(doc, &sch, &err), 0);
        buf_init(&b, GRAMMAR_MAX);
        rc = ai_grammar_from_schema(doc, &b, &err);
        l = lo_ex == 2 ? -1e30L : strtold(lo, NULL);
        h = hi_ex == 2 ? 1e30L : strtold(hi, NULL);
        if (rc) {
            long double first;
            if (rc != FMD_EINVAL)
                fail_msg("%s: %d %s", text, rc, err.msg);
            refused++;
            /* an integer range is refused only when it holds no integer */
            first = lo_ex == 1 ? floorl(l) + 1 : ceill(l);
            if (integer && !strstr(text, "multipleOf\": 0.") &&
                (first < h || (first == h && hi_ex != 1)) && first < 1e18L && first > -1e18L)
                fail_msg("refused (%s) although it holds integers: %s", err.msg, text);
        } else {
            gram_parse(&g, b.p);
            llama_accepts(b.p);
            for (i = 0; i < 300; i++) {
                struct out o = {0};
                out_cp(&o, 'x');
                o.len = 0;
                generate(&g, g.rules[find_rule(&g, "root")], &o, 0);
                if (json_parse(o.p, o.len, &json_default_limits, &instance, &err))
                    fail_msg("not JSON: %s (%s)", o.p, text);
                if (schema_validate(sch, instance, NULL))
                    fail_msg("%s does not validate against %s\n%s", o.p, text, b.p);
                v = strtold(o.p, NULL);
                if (integer && v >= -50 && v <= 50)
                    seen[(int)v + 50] = 1;
                json_decref(instance);
                free(o.p);
                strings++;
            }
            /* completeness on small integer ranges */
            if (integer && l >= -50 && h <= 50 && h - l <= 6) {
                long double x;
                for (x = ceill(l); x <= h; x++)
                    if ((x > l || lo_ex != 1) && (x < h || hi_ex != 1) && !seen[(int)x + 50])
                        fail_msg("%d never generated for %s\n%s", (int)x, text, b.p);
            }
            gram_free(&g);
        }
        buf_release(&b);
        schema_free(sch);
        json_decref(doc);
    }
    printf("random bounds: 400 schemas, %zu refused, %zu strings generated, all valid\n",
           refused, strings);
}

/*
 * Random length limits on formats and patterns, and random item counts on
 * multiselects: refused, or every string generated validates; a multiselect
 * generates every item count its limits allow.
 */
static void test_random_lengths_and_items(void **state)
{
    static const char *const kinds[] = {
        "\"format\": \"email\"", "\"format\": \"uri\"", "\"format\": \"hostname\"",
        "\"pattern\": \"^\\\\+?[0-9][0-9 ().-]{3,30}$\"", "\"pattern\": \"^[a-c]*x?[0-9]+$\"",
        "\"pattern\": \"^[A-Z]{2}\\\\d{2}$\"", "\"maxLength\": 7",
    };
    size_t round, strings = 0, refused = 0;

    (void)state;
    for (round = 0; round < 300; round++) {
        char text[256];
        int array = round % 2, mn = (int)rnd_below(4);
        int mx = (int)rnd_below(8), with_mx = (int)rnd_below(2);
        json_t *doc, *instance;
        struct fmd_err err = {0};
        struct schema *sch = NULL;
        struct gram g;
        struct buf b;
        size_t i;
        int rc, sizes[8] = {0}, k;

        char limit[40] = "";

        if (with_mx)
            snprintf(limit, sizeof(limit), ", \"max%s\": %d", array ? "Items" : "Length",
                     array ? mx : (int)rnd_below(60));
        if (array)
            snprintf(text, sizeof(text), "{\"type\": \"array\", \"items\": {\"enum\":"
                     " [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\"]}, \"uniqueItems\": true,"
                     " \"minItems\": %d%s}", mn, limit);
        else
            snprintf(text, sizeof(text), "{\"type\": \"string\", %s, \"minLength\": %d%s}",
                     kinds[rnd_below(sizeof(kinds) / sizeof(kinds[0]))], (int)rnd_below(30), limit);
        doc = tj(text);
        if (schema_compile(doc, &sch, &err)) {   /* minLength > maxLength: not a schema */
            json_decref(doc);
            continue;
        }
        buf_init(&b, GRAMMAR_MAX);
        rc = ai_grammar_from_schema(doc, &b, &err);
        if (rc) {
            if (rc != FMD_EINVAL)
                fail_msg("%s: %d %s", text, rc, err.msg);
            refused++;
        } else {
            gram_parse(&g, b.p);
            llama_accepts(b.p);
            for (i = 0; i < (array ? 2000u : 300u); i++) {   /* all 6 of 6: p = 1/64 */
                struct out o = {0};
                out_cp(&o, 'x');
                o.len = 0;
                generate(&g, g.rules[find_rule(&g, "root")], &o, 0);
                if (json_parse(o.p, o.len, &json_default_limits, &instance, &err))
                    fail_msg("not JSON: %s (%s)", o.p, text);
                if (schema_validate(sch, instance, NULL))
                    fail_msg("%s does not validate against %s\n%s", o.p, text, b.p);
                if (array)
                    sizes[json_array_size(instance)] = 1;
                json_decref(instance);
                free(o.p);
                strings++;
            }
            for (k = 0; array && k <= 6; k++)
                if (k >= mn && (!with_mx || k <= mx) && !sizes[k])
                    fail_msg("no array of %d items for %s\n%s", k, text, b.p);
            gram_free(&g);
        }
        buf_release(&b);
        schema_free(sch);
        json_decref(doc);
    }
    printf("random lengths and items: 300 schemas, %zu refused, %zu strings, all valid\n",
           refused, strings);
}

/* The other half of exactness for uniqueItems: every subset in order can be written. */
static void test_unique_covers_every_subset(void **state)
{
    json_t *doc = tj("{\"type\": \"array\", \"items\": {\"enum\": [\"a\", \"b\", \"c\", \"d\"]},"
                     " \"uniqueItems\": true, \"minItems\": 1, \"maxItems\": 3}");
    char *grammar = grammar_of(doc);
    struct gram g;
    int seen[16] = {0}, want, mask;
    size_t i, root;

    (void)state;
    gram_parse(&g, grammar);
    root = find_rule(&g, "root");
    for (i = 0; i < 20000; i++) {
        struct out o = {0};
        out_cp(&o, 'x');
        o.len = 0;
        generate(&g, g.rules[root], &o, 0);
        mask = (strstr(o.p, "\"a\"") ? 1 : 0) | (strstr(o.p, "\"b\"") ? 2 : 0) |
               (strstr(o.p, "\"c\"") ? 4 : 0) | (strstr(o.p, "\"d\"") ? 8 : 0);
        seen[mask] = 1;
        free(o.p);
    }
    for (mask = 0; mask < 16; mask++) {
        want = __builtin_popcount((unsigned)mask) >= 1 && __builtin_popcount((unsigned)mask) <= 3;
        if (seen[mask] != want)
            fail_msg("subset %x: seen %d, want %d", mask, seen[mask], want);
    }
    gram_free(&g);
    fmd_free(grammar);
    json_decref(doc);
}

/* ---- refusals ---- */

static void test_refused(void **state)
{
    (void)state;
    assert_refused("true", "boolean schemas are not supported at ''");
    assert_refused("{\"type\": \"object\", \"properties\": {\"a\": {\"not\": {}}}}",
                   "'not' is not supported at '/properties/a'");
    assert_refused("{\"anyOf\": [{\"type\": \"string\"}]}", "'anyOf' is not supported at ''");
    assert_refused("{\"oneOf\": [{\"type\": \"string\"}]}", "'oneOf' is not supported");
    assert_refused("{\"type\": \"object\", \"if\": {}, \"then\": {}}", "'if' is not supported");
    assert_refused("{\"type\": \"object\", \"patternProperties\": {}}",
                   "'patternProperties' is not supported");
    assert_refused("{\"type\": \"array\", \"prefixItems\": []}", "'prefixItems' is not supported");
    assert_refused("{\"type\": \"object\", \"minProperties\": 1}",
                   "'minProperties' is not supported");
    assert_refused("{\"type\": \"object\", \"additionalProperties\": {\"type\": \"string\"}}",
                   "'additionalProperties' other than true or false is not supported");
    assert_refused("{\"type\": \"object\", \"required\": [\"x\"]}",
                   "required property 'x' has no schema");
    assert_refused("{}", "a schema without 'type'");
    assert_refused("{\"type\": \"string\", \"pattern\": \"^(a|b)$\"}",
                   "'pattern' is not supported");
    assert_refused("{\"type\": \"string\", \"pattern\": \"abc\"}", "'pattern' is not supported");
    assert_refused("{\"type\": \"string\", \"pattern\": \"^[^a]$\"}", "'pattern' is not supported");
    assert_refused("{\"type\": \"string\", \"pattern\": \"^a.b$\"}", "'pattern' is not supported");
    assert_refused("{\"type\": \"string\", \"pattern\": \"^[\\\"]$\"}",
                   "'pattern' is not supported");
    assert_refused("{\"type\": \"string\", \"pattern\": \"^a{3000}$\"}",
                   "'pattern' is not supported");
    assert_refused("{\"type\": \"string\", \"pattern\": \"^[a-z]{5}$\", \"maxLength\": 3}",
                   "'pattern' cannot be fitted to 'minLength' / 'maxLength'");
    assert_refused("{\"type\": \"string\", \"format\": \"ipv6\"}",
                   "format 'ipv6' is not supported");
    assert_refused("{\"type\": \"string\", \"format\": \"duration\"}", "format 'duration'");
    assert_refused("{\"type\": \"string\", \"format\": \"date\", \"maxLength\": 5}",
                   "with format 'date' is not supported");
    assert_refused("{\"type\": \"string\", \"minLength\": 3000}", "'minLength' above 2000");
    assert_refused("{\"type\": \"string\", \"minLength\": 3, \"maxLength\": 2}",
                   "'minLength' is greater than 'maxLength'");
    assert_refused("{\"type\": \"string\", \"enum\": [\"a\"], \"maxLength\": 3}",
                   "'maxLength' together with 'enum' is not supported");
    assert_refused("{\"type\": \"integer\", \"enum\": [\"a\"]}",
                   "no value of 'enum' matches 'type'");
    assert_refused("{\"type\": \"integer\", \"minimum\": 5, \"maximum\": 4}",
                   "no integer satisfies the bounds");
    assert_refused("{\"type\": \"integer\", \"minimum\": 1.2, \"maximum\": 1.8}",
                   "no integer satisfies the bounds");
    assert_refused("{\"type\": \"number\", \"minimum\": -0.5, \"exclusiveMaximum\": 0}",
                   "the bounds are too narrow");
    assert_refused("{\"type\": \"number\", \"multipleOf\": 0.25}", "'multipleOf' other than 1");
    assert_refused("{\"type\": \"array\", \"items\": {\"type\": \"string\"},"
                   " \"uniqueItems\": true}",
                   "'uniqueItems' needs 'items' of scalar 'enum' or 'const' at '/items'");
    assert_refused("{\"type\": \"array\", \"items\": {\"enum\": [[1]]}, \"uniqueItems\": true}",
                   "'uniqueItems' needs 'items' of scalar");
    assert_refused("{\"type\": \"array\", \"items\": {\"enum\": [1, 2]}, \"uniqueItems\": true,"
                   " \"minItems\": 3}", "'minItems' is greater than the number of distinct items");
    assert_refused("{\"type\": \"array\"}", "an array without 'items' is not supported");
    assert_refused("{\"type\": \"array\", \"items\": {\"type\": \"string\"}, \"contains\": {}}",
                   "'contains' is not supported");
    assert_refused("{\"$defs\": {\"n\": {\"type\": \"object\", \"properties\": {\"next\":"
                   " {\"$ref\": \"#/$defs/n\"}}}}, \"$ref\": \"#/$defs/n\"}",
                   "'$ref' \"#/$defs/n\" is recursive, which is not supported"
                   " at '/$defs/n/properties/next'");
    assert_refused("{\"properties\": {\"a\": {\"$ref\": \"#\"}}}",
                   "'$ref' \"#\" is recursive, which is not supported at '/properties/a'");
    assert_refused("{\"$ref\": \"https://example.com/s.json\"}",
                   "'$ref' must be a local JSON Pointer");
    assert_refused("{\"$ref\": \"#/$defs/missing\"}", "'$ref' must be a local JSON Pointer");
    assert_refused("{\"$defs\": {\"a\": {\"type\": \"null\"}}, \"$ref\": \"#/$defs/a\","
                   " \"maxLength\": 3}", "'maxLength' next to '$ref' is not supported");
    assert_refused("{\"type\": \"object\", \"properties\": {\"a\": {\"$id\": \"x\","
                   " \"type\": \"null\"}}}",
                   "'$id' is not supported at '/properties/a'");
    assert_refused("{\"type\": \"object\", \"allOf\": [{\"if\": {}, \"then\": {}}]}",
                   "'allOf' entry 0: 'if' is not supported");
    assert_refused("{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"null\"}},"
                   " \"allOf\": [{\"properties\": {\"a\": {\"type\": \"null\"}}}]}",
                   "property 'a' declared twice");
    assert_refused("{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"null\"}},"
                   " \"additionalProperties\": false, \"allOf\": [{\"properties\": {\"b\":"
                   " {\"type\": \"null\"}}, \"required\": [\"b\"]}]}",
                   "required property 'b' is not allowed by 'additionalProperties'");
    assert_refused("{\"type\": \"string\", \"allOf\": []}", "'allOf' is supported only on object");
    assert_refused("{\"type\": \"strng\"}", "'type' must name JSON types");
}

/* The fields shorthand's conditions compile to if/then: refused, by name. */
static void test_refused_fields_conditions(void **state)
{
    struct fmd_err err = {0};
    json_t *fields = tj("[{\"name\": \"a\", \"type\": \"checkbox\"},"
                        " {\"name\": \"b\", \"type\": \"text\","
                        "  \"visible_if\": {\"field\": \"a\", \"equals\": true}}]");
    json_t *compiled = NULL;
    struct buf b;

    (void)state;
    assert_int_equal(fields_compile(fields, &compiled, &err), 0);
    buf_init(&b, GRAMMAR_MAX);
    assert_int_equal(ai_grammar_from_schema(compiled, &b, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "'allOf' entry 0: 'if' is not supported (only properties, "
                        "required and additionalProperties are merged) at '/allOf/0'");
    buf_release(&b);
    json_decref(compiled);
    json_decref(fields);
}

static void test_too_big(void **state)
{
    json_t *doc = tj(form30);
    struct buf b;
    struct fmd_err err = {0};

    (void)state;
    buf_init(&b, 100);
    assert_int_equal(ai_grammar_from_schema(doc, &b, &err), FMD_ETOOBIG);
    assert_string_equal(b.p, "");
    buf_release(&b);
    json_decref(doc);
}

/* Fail allocation n = 1, 2, ... until the compile succeeds: no crash, no leak. */
static void test_alloc_failure(void **state)
{
    json_t *doc = tj(form30);
    char *want = grammar_of(doc);
    struct fmd_err err = {0};
    long n;
    int rc;

    (void)state;
    for (n = 1;; n++) {
        struct buf b;
        buf_init(&b, GRAMMAR_MAX);
        fmd_mem_fail_at(n);
        rc = ai_grammar_from_schema(doc, &b, &err);
        fmd_mem_fail_at(0);
        if (rc == 0) {
            assert_string_equal(b.p, want);
            buf_release(&b);
            break;
        }
        assert_int_equal(rc, FMD_ENOMEM);
        assert_string_equal(b.p, "");
        buf_release(&b);
    }
    assert_true(n > 10);
    fmd_free(want);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_text),
        cmocka_unit_test(test_property),
        cmocka_unit_test(test_random_bounds),
        cmocka_unit_test(test_random_lengths_and_items),
        cmocka_unit_test(test_unique_covers_every_subset),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_refused_fields_conditions),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_alloc_failure),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
