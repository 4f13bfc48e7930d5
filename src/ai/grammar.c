/*
 * grammar.c - JSON Schema (the subset forms use) to llama.cpp GBNF (grammar.h).
 *
 * GBNF as llama.cpp parses it: one rule a line, "name ::= alternatives";
 * names are [a-zA-Z0-9-]; alternatives are separated by "|", items are
 * "literals" (escapes \" \\ \n \r \t \xXX), [classes] ([^...] negated, a-z
 * ranges), rule names and (groups), each optionally followed by ?, *, + or
 * {m}, {m,}, {m,n}. llama.cpp expands {m,n} into n rules and refuses counts
 * above 2000, so no count here exceeds REP_MAX. An empty alternative is only
 * ever written as "(...)?", since "|" at the end of a line continues the rule.
 *
 * The subset, and how each part stays exact:
 *   object   properties, required, additionalProperties absent/true/false
 *            (only declared properties are generated); allOf entries holding
 *            only properties / required / additionalProperties are merged
 *            (a property declared twice is refused). Required properties come
 *            first in declaration order, then each optional one:
 *              "{" "\"a\":" root-a ",\"b\":" root-b (",\"c\":" root-c)? "}"
 *            With nothing required, a chain of rules keeps commas right:
 *              "{" ("\"c\":" root-c root-t1 | "\"d\":" root-d)? "}"
 *              root-t1 ::= (",\"d\":" root-d)?
 *   string   minLength / maxLength as char{m,n} over JSON string characters
 *            (no control characters, escapes \" \\ \/ \b \f \n \r \t only);
 *            format date (month lengths, February to 28), time, date-time,
 *            uuid, ipv4 as shared rules; email, hostname, uri (https) as fixed
 *            shapes whose repetition counts are fitted to min/maxLength;
 *            pattern when it is ^...$ around a sequence of literal characters,
 *            \d, \w and [classes] of printable ASCII, each with ?, *, +, {n},
 *            {n,}, {n,m}. Other formats known to the validator are refused,
 *            unknown ones are ignored as it does. A maxLength above 2000 is
 *            generated as 2000 (llama.cpp's limit); a minLength above it is
 *            refused.
 *   enum     any JSON values as literals of their compact encoding, filtered
 *   const    by "type"; other validation keywords beside them are refused.
 *   number   integer: digits built per range ("0".."150" -> [0-9] | [1-9]
 *   integer  [0-9] | "1" [0-4] [0-9] | "150"), sign handled by mirroring, no
 *            "-0", unbounded sides capped at 18 digits (Jansson's int64).
 *            number: an integer part I with an optional fraction of up to F
 *            digits only where I + 1 <= the upper bound, so the fraction can
 *            never cross a bound, and below the least integer within a lower
 *            bound L a non-zero fraction on floor(L) when that is >= L
 *            ("0." [0-9]{0,5} [1-9] for exclusiveMinimum 0); F is the k of a
 *            multipleOf 10^-k (k <= 6), else 6; the integer part is capped so
 *            the whole has <= 15 significant digits and reads back exactly.
 *            A range holding none of these shapes ([0.1, 0.9]) is refused.
 *   boolean, null, type arrays ("type": ["string", "null"]).
 *   array    items with minItems / maxItems: item ("," item){m-1,n-1}, at
 *            most 2001 items generated (1996 when minItems is 0).
 *            uniqueItems over an enum/const item: the options in schema order,
 *            each at most once, so duplicates cannot be written; a rule per
 *            (option, count so far) keeps minItems / maxItems.
 *   $ref     local JSON Pointers ("#/$defs/x"), one rule per target; a cycle
 *            is refused.
 * Everything else (not, anyOf, oneOf, if/then/else, patternProperties,
 * prefixItems, contains, dependent*, min/maxProperties, boolean schemas,
 * nested $id, anchors, unknown keywords, ...) is refused with FMD_EINVAL
 * naming the keyword and the JSON Pointer. Annotations (title, description,
 * default, examples, $comment, $defs, ...) and keywords starting "x-" are
 * ignored.
 */
#include "ai/grammar.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/mem.h"
#include "core/banned.h"

#define REP_MAX      2000                    /* llama.cpp's repetition limit */
#define INT_CAP      999999999999999999LL    /* 18 digits: within int64 */
#define FRAC_DEFAULT 6
#define SIG_DIGITS   15                      /* a decimal this long reads back exactly */
#define DEPTH_MAX    32
#define RULES_MAX    (1u << 20)              /* internal size bound of the grammar */
#define UNIQUE_MAX   20000                   /* rules for one uniqueItems array */
#define ATOMS_MAX    64
#define UNBOUNDED    UINT_MAX

enum {
    T_OBJ = 1 << 0, T_ARR = 1 << 1, T_STR = 1 << 2, T_NUM = 1 << 3,
    T_INT = 1 << 4, T_BOOL = 1 << 5, T_NULL = 1 << 6,
};

/* Shared rules, appended once when used. */
enum { S_CHAR = 1 << 0, S_DATE = 1 << 1, S_TIME = 1 << 2, S_UUID = 1 << 3, S_IPV4 = 1 << 4 };

static const struct { unsigned bit; const char *text; } shared_rules[] = {
    /* Surrogates and values beyond U+10FFFF are excluded here: llama.cpp decodes
     * byte tokens without refusing what is not UTF-8 (an F5..FF lead makes such
     * a value), and a negated class would take them. */
    {S_CHAR, "char ::= [^\"\\\\\\x00-\\x1F\\x7F\\uD800-\\uDFFF\\U00110000-\\U7FFFFFFF]"
             " | \"\\\\\" [\"\\\\/bfnrt]\n"},
    {S_DATE, "date ::= [0-9]{4} \"-\" ((\"0\" [13578] | \"1\" [02]) \"-\""
             " (day28 | \"29\" | \"3\" [01]) | (\"0\" [469] | \"11\") \"-\""
             " (day28 | \"29\" | \"30\") | \"02-\" day28)\n"
             "day28 ::= \"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8]\n"},
    {S_TIME, "time ::= ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9]"
             " (\".\" [0-9]{1,6})?"
             " (\"Z\" | [+\\x2D] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])\n"},
    {S_UUID, "uuid ::= [0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\""
             " [0-9a-f]{12}\n"},
    {S_IPV4, "ipv4 ::= octet \".\" octet \".\" octet \".\" octet\n"
             "octet ::= \"25\" [0-5] | \"2\" [0-4] [0-9] | \"1\" [0-9] [0-9] | [1-9] [0-9]"
             " | [0-9]\n"},
};

/* Names taken by the shared rules, never given to a schema's rule. */
static const char *const reserved[] = {"root", "char", "date", "day28", "time", "uuid", "ipv4",
                                       "octet"};

/* Formats written as a pattern shape: the counts get fitted to min/maxLength. */
static const struct { const char *name; const char *shape; } shaped_formats[] = {
    {"email",         "^[a-zA-Z0-9_+-]{1,32}@[a-zA-Z0-9]{1,32}\\.[a-zA-Z]{2,6}$"},
    {"idn-email",     "^[a-zA-Z0-9_+-]{1,32}@[a-zA-Z0-9]{1,32}\\.[a-zA-Z]{2,6}$"},
    {"hostname",      "^[a-z0-9]{1,32}\\.[a-z]{2,6}$"},
    {"idn-hostname",  "^[a-z0-9]{1,32}\\.[a-z]{2,6}$"},
    {"uri",           "^https://[a-z0-9]{1,32}\\.[a-z]{2,6}/[a-zA-Z0-9_~.-]{0,64}$"},
    {"iri",           "^https://[a-z0-9]{1,32}\\.[a-z]{2,6}/[a-zA-Z0-9_~.-]{0,64}$"},
    {"uri-reference", "^https://[a-z0-9]{1,32}\\.[a-z]{2,6}/[a-zA-Z0-9_~.-]{0,64}$"},
    {"iri-reference", "^https://[a-z0-9]{1,32}\\.[a-z]{2,6}/[a-zA-Z0-9_~.-]{0,64}$"},
};

/* Fixed-shape formats: the shared rule and the lengths it generates. */
static const struct {
    const char *name;
    unsigned bit;
    const char *rule;
    unsigned lo, hi;
} rule_formats[] = {
    {"date", S_DATE, "date", 10, 10},
    {"time", S_TIME, "time", 9, 21},
    {"date-time", S_DATE | S_TIME, "date \"T\" time", 20, 32},
    {"uuid", S_UUID, "uuid", 36, 36},
    {"ipv4", S_IPV4, "ipv4", 7, 15},
};

/* Formats the validator asserts that have no grammar here. */
static const char *const refused_formats[] = {
    "duration", "ipv6", "json-pointer", "relative-json-pointer", "regex", "uri-template",
};

static const char *const annotations[] = {
    "title", "description", "$comment", "$schema", "$defs", "definitions", "default",
    "examples", "deprecated", "readOnly", "writeOnly", "contentEncoding", "contentMediaType",
};

static const char *const supported[] = {
    "type", "enum", "const", "properties", "required", "additionalProperties", "allOf",
    "items", "minItems", "maxItems", "uniqueItems", "minLength", "maxLength", "pattern",
    "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "$ref", "$id",
};

/* One repeated character set: a pattern or shaped format is a sequence of them. */
struct atom {
    uint64_t set[2];          /* ASCII characters */
    unsigned min, max;        /* max UNBOUNDED for no limit */
};

struct seq {
    struct atom a[ATOMS_MAX];
    size_t n;
};

/* Names in use: open addressing, owned strings. */
struct names {
    char **v;
    size_t cap, n;
};

struct memo {
    const json_t *target;
    char *name;
};

struct ctx {
    const json_t *root;
    struct fmd_err *err;
    struct buf rules;         /* every rule but root's, in the order made */
    unsigned shared;          /* S_* used */
    struct names names;
    struct memo *memo;        /* $ref targets already made into rules */
    size_t nmemo, capmemo;
    const json_t *active[DEPTH_MAX];   /* $ref targets being expanded: a cycle check */
    size_t nactive;
    size_t depth;
    char ptr[256];            /* JSON Pointer of the subschema at hand, for messages */
};

static int gen(struct ctx *c, const json_t *s, const char *name, struct buf *body);

/* ---- small helpers ---- */

static int in_list(const char *s, const char *const *list, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

#define IN_LIST(s, list) in_list((s), (list), sizeof(list) / sizeof((list)[0]))

static int einval(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int einval(struct ctx *c, const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return fmd_errf(c->err, FMD_EINVAL, "%s at '%s'", msg, c->ptr);
}

/* Appends "/" and the escaped token to c->ptr; returns the old length. */
static size_t ptr_push(struct ctx *c, const char *token)
{
    size_t old = strlen(c->ptr), n = old;
    const char *t;

    if (n + 1 < sizeof(c->ptr))
        c->ptr[n++] = '/';
    for (t = token; *t && n + 2 < sizeof(c->ptr); t++) {
        if (*t == '~' || *t == '/') {
            c->ptr[n++] = '~';
            c->ptr[n++] = *t == '~' ? '0' : '1';
        } else {
            c->ptr[n++] = *t;
        }
    }
    c->ptr[n] = '\0';
    return old;
}

static void ptr_pop(struct ctx *c, size_t old)
{
    c->ptr[old] = '\0';
}

/* A GBNF string literal for s[0..n): UTF-8 passes through, the rest escaped. */
static int add_lit(struct buf *b, const char *s, size_t n)
{
    size_t i;
    int rc = buf_addc(b, '"');

    for (i = 0; !rc && i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            rc = buf_printf(b, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            rc = buf_printf(b, "\\x%02X", ch);
        else
            rc = buf_addc(b, (char)ch);
    }
    return rc ? rc : buf_addc(b, '"');
}

/* The literal of a JSON value's compact encoding. */
static int add_json_lit(struct buf *b, const json_t *v)
{
    struct buf tmp;
    int rc;

    buf_init(&tmp, RULES_MAX);
    /* json_append says ETOOBIG for any failure: past RULES_MAX only memory can fail */
    rc = json_append(&tmp, v) ? FMD_ENOMEM : 0;
    if (!rc)
        rc = add_lit(b, tmp.p, tmp.len);
    buf_release(&tmp);
    return rc;
}

/* The literal of "\"key\":", with a comma first if comma. */
static int add_key_lit(struct buf *b, const char *key, int comma)
{
    struct buf tmp;
    int rc;

    buf_init(&tmp, RULES_MAX);
    rc = buf_adds(&tmp, comma ? ",\"" : "\"");
    if (!rc)
        rc = buf_add_json_str(&tmp, key, strlen(key));
    if (!rc)
        rc = buf_adds(&tmp, "\":");
    if (!rc)
        rc = add_lit(b, tmp.p, tmp.len);
    buf_release(&tmp);
    return rc;
}

/* " " between items of a sequence, none at its start. */
static int sep(struct buf *b, size_t start)
{
    return b->len > start && b->p[b->len - 1] != '(' ? buf_addc(b, ' ') : 0;
}

/* ---- rule names ---- */

static size_t name_hash(const char *s)
{
    size_t h = 14695981039346656037ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int names_has(const struct names *ns, const char *s)
{
    size_t i;

    if (!ns->cap)
        return 0;
    for (i = name_hash(s) & (ns->cap - 1); ns->v[i]; i = (i + 1) & (ns->cap - 1))
        if (strcmp(ns->v[i], s) == 0)
            return 1;
    return 0;
}

/* Takes s (fmd_malloc'd) into the set; frees it on failure. */
static int names_add(struct names *ns, char *s)
{
    size_t i;

    if ((ns->n + 1) * 2 > ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 64, j;
        char **v = fmd_calloc(cap, sizeof(*v));
        if (!v) {
            fmd_free(s);
            return FMD_ENOMEM;
        }
        for (j = 0; j < ns->cap; j++) {
            if (!ns->v[j])
                continue;
            for (i = name_hash(ns->v[j]) & (cap - 1); v[i]; i = (i + 1) & (cap - 1))
                ;
            v[i] = ns->v[j];
        }
        fmd_free(ns->v);
        ns->v = v;
        ns->cap = cap;
    }
    for (i = name_hash(s) & (ns->cap - 1); ns->v[i]; i = (i + 1) & (ns->cap - 1))
        ;
    ns->v[i] = s;
    ns->n++;
    return 0;
}

static void names_release(struct names *ns)
{
    size_t i;

    for (i = 0; i < ns->cap; i++)
        fmd_free(ns->v[i]);
    fmd_freez(&ns->v);
    ns->cap = ns->n = 0;
}

/*
 * A new rule name: base, "-", part reduced to [a-zA-Z0-9-] (at most 40
 * characters), then "-2", "-3", ... until unused. The set owns the name;
 * *out points into it.
 */
static int new_name(struct ctx *c, const char *base, const char *part, const char **out)
{
    char name[160], *dup;
    size_t n = 0, i, k;
    int rc;

    n = (size_t)snprintf(name, 100, "%s", base);
    if (n >= 100)
        n = 99;
    if (*part && n)
        name[n++] = '-';
    for (i = 0; part[i] && i < 40; i++) {
        char ch = part[i];
        name[n++] = ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9')) ? ch : '-';
    }
    name[n] = '\0';
    for (k = 2; names_has(&c->names, name) || IN_LIST(name, reserved); k++)
        snprintf(name + n, sizeof(name) - n, "-%zu", k);
    if (!(dup = fmd_strdup(name)))
        return FMD_ENOMEM;
    if ((rc = names_add(&c->names, dup)))
        return rc;
    *out = dup;
    return 0;
}

/* Generates the rule "name ::= ..." for s into c->rules. */
static int define(struct ctx *c, const json_t *s, const char *name)
{
    struct buf body;
    int rc;

    buf_init(&body, RULES_MAX);
    rc = gen(c, s, name, &body);
    if (!rc)
        rc = buf_printf(&c->rules, "%s ::= %s\n", name, body.p);
    buf_release(&body);
    return rc;
}

/* ---- strings ---- */

static void set_add(struct atom *a, unsigned ch)
{
    a->set[ch >> 6] |= 1ULL << (ch & 63);
}

static int set_has(const struct atom *a, unsigned ch)
{
    return ch < 128 && (a->set[ch >> 6] >> (ch & 63)) & 1;
}

static size_t set_count(const struct atom *a)
{
    return (size_t)__builtin_popcountll(a->set[0]) + (size_t)__builtin_popcountll(a->set[1]);
}

/* Printable ASCII that needs no escape inside a JSON string. */
static int plain_char(unsigned ch)
{
    return ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\';
}

static int add_range(struct atom *a, unsigned lo, unsigned hi)
{
    unsigned ch;

    if (lo > hi)
        return -1;
    for (ch = lo; ch <= hi; ch++) {
        if (!plain_char(ch))
            return -1;
        set_add(a, ch);
    }
    return 0;
}

/* \d or \w into a; -1 for any other escape letter. */
static int class_escape(struct atom *a, char e)
{
    if (e == 'd')
        return add_range(a, '0', '9');
    if (e == 'w')
        return add_range(a, 'a', 'z') | add_range(a, 'A', 'Z') | add_range(a, '0', '9') |
               add_range(a, '_', '_');
    if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))
        return -1;
    return add_range(a, (unsigned char)e, (unsigned char)e);
}

/* A quantifier at *pp, if any, into a. -1 if malformed or beyond REP_MAX. */
static int quantifier(const char **pp, struct atom *a)
{
    const char *p = *pp;
    unsigned long lo, hi;
    char *end;

    a->min = a->max = 1;
    if (*p == '?' || *p == '*' || *p == '+') {
        a->min = *p == '+';
        a->max = *p == '?' ? 1 : UNBOUNDED;
        p++;
    } else if (*p == '{') {
        if (p[1] < '0' || p[1] > '9')
            return -1;
        lo = strtoul(p + 1, &end, 10);
        hi = lo;
        if (*end == ',') {
            if (end[1] == '}') {
                hi = ULONG_MAX;
                end++;
            } else if (end[1] >= '0' && end[1] <= '9') {
                hi = strtoul(end + 1, &end, 10);
            } else {
                return -1;
            }
        }
        if (*end != '}' || lo > hi || lo > REP_MAX || (hi != ULONG_MAX && hi > REP_MAX))
            return -1;
        a->min = (unsigned)lo;
        a->max = hi == ULONG_MAX ? UNBOUNDED : (unsigned)hi;
        p = end + 1;
    }
    if (*p == '?' || *p == '+' || *p == '*' || *p == '{')   /* lazy, possessive, stacked */
        return -1;
    *pp = p;
    return 0;
}

/*
 * Parses an anchored pattern of literal characters, \d, \w, escaped
 * punctuation and [classes], each with an optional quantifier. -1 for
 * anything else: groups, alternation, ".", negated classes, non-ASCII, or a
 * character a JSON string would have to escape.
 */
static int parse_pattern(const char *p, struct seq *q)
{
    size_t n = strlen(p);

    if (n < 2 || p[0] != '^' || p[n - 1] != '$' || (n >= 3 && p[n - 2] == '\\'))
        return -1;
    q->n = 0;
    p++;
    while (*p != '$' || p[1]) {
        struct atom *a;
        if (q->n == ATOMS_MAX)
            return -1;
        a = &q->a[q->n++];
        memset(a, 0, sizeof(*a));
        if (*p == '\\') {
            if (!p[1] || class_escape(a, p[1]))
                return -1;
            p += 2;
        } else if (*p == '[') {
            p++;
            if (*p == '^' || *p == ']')
                return -1;
            while (*p != ']') {
                unsigned lo;
                if (!*p)
                    return -1;
                if (*p == '\\') {
                    if (!p[1] || class_escape(a, p[1]))
                        return -1;
                    p += 2;
                    continue;
                }
                lo = (unsigned char)*p++;
                if (*p == '-' && p[1] && p[1] != ']' && p[1] != '\\') {
                    if (add_range(a, lo, (unsigned char)p[1]))
                        return -1;
                    p += 2;
                } else if (add_range(a, lo, lo)) {
                    return -1;
                }
            }
            p++;
        } else if (strchr(".()|*+?{}^$]", *p)) {
            return -1;
        } else {
            if (add_range(a, (unsigned char)*p, (unsigned char)*p))
                return -1;
            p++;
        }
        if (quantifier(&p, a))
            return -1;
    }
    return 0;
}

/*
 * Narrows the counts of q so its lengths lie within [lo, hi]: maxima lowered
 * from the last atom, then minima raised. -1 if no length fits.
 */
static int fit_lengths(struct seq *q, unsigned long lo, unsigned long hi)
{
    unsigned long sum_min = 0, budget;
    size_t i;

    for (i = 0; i < q->n; i++)
        sum_min += q->a[i].min;
    if (sum_min > hi)
        return -1;
    if (hi != ULONG_MAX) {
        /* the characters beyond the minima go to the atoms in order */
        budget = hi - sum_min;
        for (i = 0; i < q->n; i++) {
            struct atom *a = &q->a[i];
            unsigned long extra = a->max == UNBOUNDED ? ULONG_MAX : a->max - a->min;
            if (extra > budget)
                extra = budget;
            a->max = a->min + (unsigned)extra;
            budget -= extra;
        }
    }
    for (i = q->n; i-- > 0 && sum_min < lo;) {
        struct atom *a = &q->a[i];
        unsigned long room = (a->max == UNBOUNDED ? REP_MAX : a->max) - a->min;
        if (room > lo - sum_min)
            room = lo - sum_min;
        a->min += (unsigned)room;
        sum_min += room;
    }
    return sum_min < lo ? -1 : 0;
}

/* One GBNF character: raw when plain, else \xXX. */
static int add_class_char(struct buf *b, unsigned ch)
{
    int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');

    if (alnum || (ch > 0x20 && ch < 0x7f && !strchr("\\]-[^\"", (int)ch)))
        return buf_addc(b, (char)ch);
    return buf_printf(b, "\\x%02X", ch);
}

static int add_quant(struct buf *b, unsigned min, unsigned max)
{
    if (min == 1 && max == 1)
        return 0;
    if (min == 0 && max == 1)
        return buf_addc(b, '?');
    if (max == UNBOUNDED)
        return min == 0 ? buf_addc(b, '*') : min == 1 ? buf_addc(b, '+')
                                                      : buf_printf(b, "{%u,}", min);
    if (min == max)
        return buf_printf(b, "{%u}", min);
    return buf_printf(b, "{%u,%u}", min, max);
}

/* "\"" the atoms "\"", single characters merged into literals. */
static int add_seq(struct buf *b, const struct seq *q)
{
    size_t i, start = b->len;
    int rc = buf_adds(b, "\"\\\"");   /* an open literal holding the quote */
    int open = 1;

    for (i = 0; !rc && i < q->n; i++) {
        const struct atom *a = &q->a[i];
        unsigned ch, lo;
        if (a->max == 0)
            continue;
        if (set_count(a) == 1 && a->min == 1 && a->max == 1) {
            for (ch = 0; !set_has(a, ch); ch++)
                ;
            if (!open)
                rc = buf_adds(b, " \"");
            open = 1;
            if (!rc)
                rc = ch == '"' || ch == '\\' ? buf_printf(b, "\\%c", ch) : buf_addc(b, (char)ch);
            continue;
        }
        if (open)
            rc = buf_addc(b, '"');
        open = 0;
        if (!rc)
            rc = sep(b, start);
        if (!rc)
            rc = buf_addc(b, '[');
        for (ch = 0; !rc && ch < 128; ch++) {
            if (!set_has(a, ch))
                continue;
            for (lo = ch; ch + 1 < 128 && set_has(a, ch + 1); ch++)
                ;
            rc = add_class_char(b, lo);
            if (!rc && ch > lo + 1)
                rc = buf_addc(b, '-');
            if (!rc && ch > lo)
                rc = add_class_char(b, ch);
        }
        if (!rc)
            rc = buf_addc(b, ']');
        if (!rc)
            rc = add_quant(b, a->min, a->max);
    }
    if (!rc)
        rc = open ? buf_adds(b, "\\\"\"") : buf_adds(b, " \"\\\"\"");
    return rc;
}

/* A non-negative integer keyword (absent: def). -1 when malformed. */
static int count_kw(const json_t *s, const char *kw, json_int_t def, json_int_t *out)
{
    const json_t *v = json_object_get(s, kw);
    double d;

    *out = def;
    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return 0;
    }
    d = json_is_real(v) ? json_real_value(v) : -1;
    if (d >= 0 && d == floor(d)) {
        *out = d > 1e15 ? (json_int_t)1e15 : (json_int_t)d;
        return 0;
    }
    return -1;
}

static int gen_string(struct ctx *c, const json_t *s, struct buf *b)
{
    const json_t *fv = json_object_get(s, "format"), *pv = json_object_get(s, "pattern");
    const char *format = json_string_value(fv);
    json_int_t lo, hi;
    struct seq *q = NULL;
    size_t i;
    int rc = 0;

    if (count_kw(s, "minLength", 0, &lo))
        return einval(c, "'minLength' must be a non-negative integer");
    if (count_kw(s, "maxLength", -1, &hi) || (json_object_get(s, "maxLength") && hi < 0))
        return einval(c, "'maxLength' must be a non-negative integer");
    if (hi >= 0 && lo > hi)
        return einval(c, "'minLength' is greater than 'maxLength'");
    if (fv && !format)
        return einval(c, "'format' must be a string");
    if (pv && !json_is_string(pv))
        return einval(c, "'pattern' must be a string");
    if (format && pv)
        return einval(c, "'pattern' together with 'format' is not supported");
    if (format && IN_LIST(format, refused_formats))
        return einval(c, "format '%s' is not supported", format);
    for (i = 0; format && i < sizeof(rule_formats) / sizeof(rule_formats[0]); i++) {
        if (strcmp(format, rule_formats[i].name) != 0)
            continue;
        if (lo > rule_formats[i].lo || (hi >= 0 && hi < rule_formats[i].hi))
            return einval(c, "'minLength' / 'maxLength' with format '%s' is not supported",
                          format);
        c->shared |= rule_formats[i].bit;
        return buf_printf(b, "\"\\\"\" %s \"\\\"\"", rule_formats[i].rule);
    }
    if (!(q = fmd_malloc(sizeof(*q))))
        return FMD_ENOMEM;
    for (i = 0; format && i < sizeof(shaped_formats) / sizeof(shaped_formats[0]); i++)
        if (strcmp(format, shaped_formats[i].name) == 0) {
            if (parse_pattern(shaped_formats[i].shape, q))
                FMD_BUG("format shape '%s'", format);
            break;
        }
    if (format && i == sizeof(shaped_formats) / sizeof(shaped_formats[0]))
        format = NULL;   /* unknown formats are annotations, as in the validator */
    if (pv && parse_pattern(json_string_value(pv), q)) {
        rc = einval(c, "'pattern' is not supported (only ^...$ around literals, \\d, \\w and "
                    "[classes] of printable ASCII with quantifiers up to %d)", REP_MAX);
        goto out;
    }
    if (format || pv) {
        if (fit_lengths(q, (unsigned long)lo, hi < 0 ? ULONG_MAX : (unsigned long)hi)) {
            rc = einval(c, "'%s' cannot be fitted to 'minLength' / 'maxLength'",
                        format ? "format" : "pattern");
            goto out;
        }
        rc = add_seq(b, q);
        goto out;
    }
    if (lo > REP_MAX) {
        rc = einval(c, "'minLength' above %d is not supported", REP_MAX);
        goto out;
    }
    if (hi > REP_MAX)
        hi = REP_MAX;   /* llama.cpp's limit: longer strings are not generated */
    c->shared |= S_CHAR;
    rc = buf_adds(b, "\"\\\"\" char");
    if (!rc)
        rc = add_quant(b, (unsigned)lo, hi < 0 ? UNBOUNDED : (unsigned)hi);
    if (!rc)
        rc = buf_adds(b, " \"\\\"\"");
out:
    fmd_free(q);
    return rc;
}

/* ---- numbers ---- */

/* "[x-y]" or the digit alone. */
static int add_digits(struct buf *b, char x, char y)
{
    return x == y ? buf_printf(b, "\"%c\"", x) : buf_printf(b, "[%c-%c]", x, y);
}

static int add_any_digits(struct buf *b, size_t k)
{
    if (k == 0)
        return 0;
    return k == 1 ? buf_adds(b, " [0-9]") : buf_printf(b, " [0-9]{%zu}", k);
}

static int all_of_char(const char *s, size_t n, char ch)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (s[i] != ch)
            return 0;
    return 1;
}

/* One alternative: the literal prefix, then what follows. */
static int alt_start(struct buf *b, size_t *nalts, const char *prefix, size_t plen)
{
    int rc = *nalts ? buf_adds(b, " | ") : 0;

    (*nalts)++;
    if (!rc && plen)
        rc = buf_printf(b, "\"%.*s\"", (int)plen, prefix);
    return rc;
}

/*
 * The alternatives for the numbers a..z (digit strings of length n, a <= z)
 * after the literal prefix[0..plen).
 */
static int same_len(struct buf *b, size_t *nalts, char *prefix, size_t plen, const char *a,
                    const char *z, size_t n)
{
    char nines[24], zeros[24], mid_lo, mid_hi;
    int rc, lo_whole, hi_whole;

    if (n == 0 || strncmp(a, z, n) == 0) {
        memcpy(prefix + plen, a, n);
        return alt_start(b, nalts, prefix, plen + n);
    }
    if (a[0] == z[0]) {
        prefix[plen] = a[0];
        return same_len(b, nalts, prefix, plen + 1, a + 1, z + 1, n - 1);
    }
    /* the lower end, whole middle digits, the upper end; an end that is whole joins the middle */
    memset(nines, '9', n - 1);
    memset(zeros, '0', n - 1);
    lo_whole = all_of_char(a + 1, n - 1, '0');
    hi_whole = all_of_char(z + 1, n - 1, '9');
    prefix[plen] = a[0];
    if (!lo_whole && (rc = same_len(b, nalts, prefix, plen + 1, a + 1, nines, n - 1)))
        return rc;
    mid_lo = lo_whole ? a[0] : (char)(a[0] + 1);
    mid_hi = hi_whole ? z[0] : (char)(z[0] - 1);
    if (mid_lo <= mid_hi) {
        rc = alt_start(b, nalts, prefix, plen);
        if (!rc && plen)
            rc = buf_addc(b, ' ');
        if (!rc)
            rc = add_digits(b, mid_lo, mid_hi);
        if (!rc)
            rc = add_any_digits(b, n - 1);
        if (rc)
            return rc;
    }
    prefix[plen] = z[0];
    return hi_whole ? 0 : same_len(b, nalts, prefix, plen + 1, zeros, z + 1, n - 1);
}

static long long pow10ll(size_t k)
{
    long long p = 1;

    while (k--)
        p *= 10;
    return p;
}

/* The first and last number of length len within lo..hi. */
static void segment(long long lo, long long hi, size_t dl, size_t dh, size_t len, long long *from,
                    long long *to)
{
    *from = len == dl ? lo : pow10ll(len - 1);
    *to = len == dh ? hi : pow10ll(len) - 1;
}

/* Does lo..hi hold every number of length len (len >= 2)? */
static int full_length(long long lo, long long hi, size_t dl, size_t dh, size_t len)
{
    long long from, to;

    segment(lo, hi, dl, dh, len, &from, &to);
    return len >= 2 && from == pow10ll(len - 1) && to == pow10ll(len) - 1;
}

/* The decimal integers lo..hi (0 <= lo <= hi <= INT_CAP), grouped when several. */
static int urange(struct buf *b, long long lo, long long hi)
{
    struct buf alts;
    char a[24], z[24], prefix[24];
    size_t nalts = 0, len, last, dl, dh;
    int rc = 0;

    buf_init(&alts, RULES_MAX);
    dl = (size_t)snprintf(a, sizeof(a), "%lld", lo);
    dh = (size_t)snprintf(z, sizeof(z), "%lld", hi);
    for (len = dl; !rc && len <= dh; len++) {
        long long from, to;
        if (full_length(lo, hi, dl, dh, len)) {
            /* every number of lengths len..last: [1-9] [0-9]{len-1,last-1} */
            for (last = len; last + 1 <= dh && full_length(lo, hi, dl, dh, last + 1); last++)
                ;
            rc = alt_start(&alts, &nalts, "", 0);
            if (!rc && last == len)
                rc = buf_adds(&alts, "[1-9]");
            if (!rc && last == len)
                rc = add_any_digits(&alts, len - 1);
            if (!rc && last > len)
                rc = buf_printf(&alts, "[1-9] [0-9]{%zu,%zu}", len - 1, last - 1);
            len = last;
            continue;
        }
        segment(lo, hi, dl, dh, len, &from, &to);
        snprintf(a, sizeof(a), "%lld", from);
        snprintf(z, sizeof(z), "%lld", to);
        rc = same_len(&alts, &nalts, prefix, 0, a, z, len);
    }
    if (!rc)
        rc = nalts > 1 ? buf_printf(b, "(%s)", alts.p) : buf_adds(b, alts.p);
    buf_release(&alts);
    return rc;
}

/* Bounds of a number: each side's strictest keyword. */
struct range {
    int has_lo, has_hi, lo_strict, hi_strict;
    long double lo, hi;
};

static int read_bound(struct ctx *c, const json_t *s, const char *kw, int upper, int strict,
                      struct range *r)
{
    const json_t *v = json_object_get(s, kw);
    long double x;

    if (!v)
        return 0;
    if (!json_is_number(v))
        return einval(c, "'%s' must be a number", kw);
    x = json_is_integer(v) ? (long double)json_integer_value(v) : (long double)json_real_value(v);
    if (upper && (!r->has_hi || x < r->hi || (x == r->hi && strict))) {
        r->has_hi = 1;
        r->hi = x;
        r->hi_strict = strict;
    } else if (!upper && (!r->has_lo || x > r->lo || (x == r->lo && strict))) {
        r->has_lo = 1;
        r->lo = x;
        r->lo_strict = strict;
    }
    return 0;
}

static long long clampll(long double x, long long cap)
{
    return x > (long double)cap ? cap + 1 : x < -(long double)cap ? -cap - 1 : (long long)x;
}

/*
 * One sign's alternatives: magnitudes m with lower bound (has_lo: lo,
 * strict) and upper bound (has_hi), integer part at least min_i and at most
 * cap, with an optional fraction of f digits only where it cannot pass the
 * upper bound (I + 1 <= hi). Below the least integer a that meets the lower
 * bound, a - 1 may still carry a fraction that is never zero when a - 1 >=
 * lo ("0.5" for exclusiveMinimum 0). Appends to alts, counting.
 */
static int side(struct buf *alts, size_t *nalts, const char *sign, int has_lo, long double lo,
                int lo_strict, int has_hi, long double hi, int hi_strict, long long min_i,
                long long cap, unsigned f)
{
    long long a = min_i, bi = cap, bf = cap;
    int rc = 0;

    if (has_lo) {
        long long l = clampll(lo_strict ? floorl(lo) + 1 : ceill(lo), cap);
        if (l > a)
            a = l;
    }
    if (has_hi) {
        long long u = clampll(hi_strict ? ceill(hi) - 1 : floorl(hi), cap);
        long long uf = clampll(floorl(hi) - 1, cap);
        if (u < bi)
            bi = u;
        if (uf < bf)
            bf = uf;
    }
    if (f == 0)
        bf = -1;
    if (a - 1 >= 0 && a - 1 <= bf && (!has_lo || (long double)(a - 1) >= lo)) {
        rc = alt_start(alts, nalts, sign, strlen(sign));
        if (!rc)
            rc = buf_printf(alts, "%s\"%lld.\"%s", *sign ? " " : "", a - 1, f > 1 ? " [0-9]" : "");
        if (!rc && f > 1)
            rc = add_quant(alts, 0, f - 1);
        if (!rc)
            rc = buf_adds(alts, " [1-9]");
        if (rc)
            return rc;
    }
    if (a <= bf) {
        rc = alt_start(alts, nalts, sign, strlen(sign));
        if (!rc && *sign)
            rc = buf_addc(alts, ' ');
        if (!rc)
            rc = urange(alts, a, bf);
        if (!rc)
            rc = f == 1 ? buf_adds(alts, " (\".\" [0-9])?")
                        : buf_printf(alts, " (\".\" [0-9]{1,%u})?", f);
        if (!rc && bi > bf)
            a = bf + 1;
        else
            return rc;
    }
    if (!rc && a <= bi) {
        rc = alt_start(alts, nalts, sign, strlen(sign));
        if (!rc && *sign)
            rc = buf_addc(alts, ' ');
        if (!rc)
            rc = urange(alts, a, bi);
    }
    return rc;
}

/* multipleOf 10^-k -> k; -1 for any other. */
static int fraction_digits(const json_t *m)
{
    long double x = json_is_integer(m) ? (long double)json_integer_value(m)
                                       : (long double)json_real_value(m);
    int k;

    for (k = 0; k <= 6; k++) {
        long double scaled = x * powl(10, k);
        if (fabsl(scaled - 1) < 1e-12L)
            return k;
    }
    return -1;
}

static int gen_number(struct ctx *c, const json_t *s, int integer, struct buf *b)
{
    const json_t *mult = json_object_get(s, "multipleOf");
    struct range r = {0};
    struct buf alts;
    size_t nalts = 0;
    unsigned f = integer ? 0 : FRAC_DEFAULT;
    long long cap;
    int rc, k;

    if (mult) {
        if (!json_is_number(mult) || (k = fraction_digits(mult)) < 0)
            return einval(c, "'multipleOf' other than 1, 0.1, 0.01, ... 0.000001 is not supported");
        if (!integer)
            f = (unsigned)k;
    }
    if ((rc = read_bound(c, s, "minimum", 0, 0, &r)) ||
        (rc = read_bound(c, s, "exclusiveMinimum", 0, 1, &r)) ||
        (rc = read_bound(c, s, "maximum", 1, 0, &r)) ||
        (rc = read_bound(c, s, "exclusiveMaximum", 1, 1, &r)))
        return rc;
    cap = f ? pow10ll(SIG_DIGITS - f) - 1 : INT_CAP;
    buf_init(&alts, RULES_MAX);
    /* negative values: magnitudes from -hi up to -lo, never "-0" */
    rc = side(&alts, &nalts, "-", r.has_hi, -r.hi, r.hi_strict, r.has_lo, -r.lo, r.lo_strict, 1,
              cap, f);
    if (!rc)
        rc = side(&alts, &nalts, "", r.has_lo, r.lo, r.lo_strict, r.has_hi, r.hi, r.hi_strict, 0,
                  cap, f);
    if (!rc && nalts == 0)
        rc = integer ? einval(c, "no integer satisfies the bounds")
                     : einval(c, "the bounds are too narrow: numbers are written as an integer "
                              "part and a fraction below the next integer within the bounds");
    if (!rc)
        rc = nalts > 1 ? buf_printf(b, "(%s)", alts.p) : buf_adds(b, alts.p);
    buf_release(&alts);
    return rc;
}

/* ---- enum, const ---- */

static unsigned value_types(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return T_OBJ;
    case JSON_ARRAY: return T_ARR;
    case JSON_STRING: return T_STR;
    case JSON_INTEGER: return T_NUM | T_INT;
    case JSON_REAL: return T_NUM | (json_real_value(v) == floor(json_real_value(v)) ? T_INT : 0);
    case JSON_TRUE:
    case JSON_FALSE: return T_BOOL;
    case JSON_NULL: return T_NULL;
    }
    return 0;
}

/* The enum or const values of s, of the types allowed, into *vals (decref). */
static int collect_values(struct ctx *c, const json_t *s, unsigned types, json_t **vals)
{
    const json_t *e = json_object_get(s, "enum"), *k = json_object_get(s, "const"), *v;
    const char *key;
    json_t *val;
    size_t i;

    *vals = NULL;
    json_object_foreach((json_t *)s, key, val) {   /* the iterator only reads */
        if (strcmp(key, "enum") && strcmp(key, "const") && strcmp(key, "type") &&
            !IN_LIST(key, annotations) && strncmp(key, "x-", 2) != 0)
            return einval(c, "'%s' together with '%s' is not supported", key, e ? "enum" : "const");
    }
    if (e && k)
        return einval(c, "'enum' together with 'const' is not supported");
    if (e && (!json_is_array(e) || json_array_size(e) == 0))
        return einval(c, "'enum' must be a non-empty array");
    if (!(*vals = json_array()))
        return FMD_ENOMEM;
    for (i = 0; i < (e ? json_array_size(e) : 1); i++) {
        v = e ? json_array_get(e, i) : k;
        if (types && !(value_types(v) & types))
            continue;
        if (json_array_append((json_t *)*vals, (json_t *)v))
            return FMD_ENOMEM;
    }
    if (json_array_size(*vals) == 0)
        return einval(c, "no value of '%s' matches 'type'", e ? "enum" : "const");
    return 0;
}

static int gen_values(struct ctx *c, const json_t *s, unsigned types, struct buf *b)
{
    json_t *vals;
    size_t i, n;
    int rc = collect_values(c, s, types, &vals);

    n = json_array_size(vals);
    if (!rc && n > 1)
        rc = buf_addc(b, '(');
    for (i = 0; !rc && i < n; i++) {
        if (i)
            rc = buf_adds(b, " | ");
        if (!rc)
            rc = add_json_lit(b, json_array_get(vals, i));
    }
    if (!rc && n > 1)
        rc = buf_addc(b, ')');
    json_decref(vals);
    return rc;
}

/* ---- arrays ---- */

static int same_value(const json_t *x, const json_t *y)
{
    if (json_is_number(x) && json_is_number(y)) {
        if (json_is_integer(x) && json_is_integer(y))
            return json_integer_value(x) == json_integer_value(y);
        return json_number_value(x) == json_number_value(y);
    }
    return json_equal((json_t *)x, (json_t *)y);
}

/*
 * uniqueItems over the options of an enum: a rule per (option i, items so
 * far c), c saturating at cap; f[i][c] says whether some choice from option
 * i on still ends with minItems <= count <= maxItems.
 */
static int gen_unique(struct ctx *c, const json_t *items, const char *name, json_int_t mn,
                      json_int_t mx, struct buf *b)
{
    json_t *vals = NULL, *opts = NULL;
    const json_t *t = json_object_get(items, "type");
    unsigned types = 0;
    size_t n, i, j, cap, k, width;
    unsigned char *f = NULL;
    const char **names = NULL;
    struct buf rule;
    int rc;

    buf_init(&rule, RULES_MAX);
    if (json_is_string(t) || json_is_array(t)) {
        for (i = 0; i < (json_is_array(t) ? json_array_size(t) : 1); i++) {
            const char *tn = json_string_value(json_is_array(t) ? json_array_get(t, i) : t);
            types |= !tn ? 0 : !strcmp(tn, "string") ? T_STR : !strcmp(tn, "number") ? T_NUM
                   : !strcmp(tn, "integer") ? T_INT : !strcmp(tn, "boolean") ? T_BOOL
                   : !strcmp(tn, "null") ? T_NULL : 0;
        }
        if (!types) {
            rc = einval(c, "'uniqueItems' needs 'items' of scalar 'enum' or 'const'");
            goto out;
        }
    }
    if ((rc = collect_values(c, items, types, &vals)))
        goto out;
    if (!(opts = json_array())) {
        rc = FMD_ENOMEM;
        goto out;
    }
    for (i = 0; i < json_array_size(vals); i++) {
        const json_t *v = json_array_get(vals, i);
        if (json_is_object(v) || json_is_array(v)) {
            rc = einval(c, "'uniqueItems' needs 'items' of scalar 'enum' or 'const'");
            goto out;
        }
        for (j = 0; j < json_array_size(opts) && !same_value(v, json_array_get(opts, j)); j++)
            ;
        if (j == json_array_size(opts) && json_array_append(opts, (json_t *)v)) {
            rc = FMD_ENOMEM;
            goto out;
        }
    }
    n = json_array_size(opts);
    if ((json_int_t)n < mn) {
        rc = einval(c, "'minItems' is greater than the number of distinct items");
        goto out;
    }
    cap = mx >= 0 && (json_int_t)n > mx ? (size_t)mx : (size_t)(mn > 1 ? mn : 1);
    width = cap + 1;
    if ((n + 1) * width > UNIQUE_MAX) {
        rc = einval(c, "'uniqueItems' with %zu options and these item counts is too large", n);
        goto out;
    }
    f = fmd_calloc((n + 1) * width, 1);
    names = fmd_calloc((n + 1) * width, sizeof(*names));
    if (!f || !names) {
        rc = FMD_ENOMEM;
        goto out;
    }
    /* f: some completion exists; ne: a non-empty one does */
    for (k = 0; k <= cap; k++)
        f[n * width + k] = (json_int_t)k >= mn;
    for (i = n; i-- > 0;)
        for (k = 0; k <= cap; k++) {
            size_t up = k + 1 > cap ? cap : k + 1;
            int take = (mx < 0 || (json_int_t)k < mx) && (f[(i + 1) * width + up] & 1);
            int skip = f[(i + 1) * width + k] & 1;
            int non_empty = take || (skip && (f[(i + 1) * width + k] & 2));
            f[i * width + k] = (unsigned char)((take || skip) | non_empty << 1);
        }
    if (!(f[0] & 1)) {
        rc = einval(c, "no array satisfies 'minItems' / 'maxItems'");
        goto out;
    }
    if (!(f[0] & 2)) {
        rc = buf_adds(b, "\"[]\"");
        goto out;
    }
    for (i = 0; i < n; i++)
        for (k = 0; k <= cap; k++) {
            char part[48];
            if (!(f[i * width + k] & 2) || k > i)   /* k > i: never reached */
                continue;
            snprintf(part, sizeof(part), "u%zu-%zu", i, k);
            if ((rc = new_name(c, name, part, &names[i * width + k])))
                goto out;
        }
    for (i = 0; i < n; i++)
        for (k = 0; k <= cap; k++) {
            size_t up = k + 1 > cap ? cap : k + 1;
            unsigned char nt = f[(i + 1) * width + up], ns = f[(i + 1) * width + k];
            int take = (mx < 0 || (json_int_t)k < mx) && (nt & 1);
            int skip = ns & 1, skip_empty = skip && !(ns & 2);
            if (!names[i * width + k])
                continue;
            /* take: option i, then the rest if it can be non-empty; skip: the rest */
            buf_reset(&rule);
            rc = buf_printf(&rule, "%s ::= %s", names[i * width + k], skip_empty ? "(" : "");
            if (!rc && take) {
                if (k > 0)
                    rc = buf_adds(&rule, "\",\" ");
                if (!rc)
                    rc = add_json_lit(&rule, json_array_get(opts, i));
                if (!rc && (nt & 2))
                    rc = buf_printf(&rule, " %s", names[(i + 1) * width + up]);
            }
            if (!rc && skip && !skip_empty)
                rc = buf_printf(&rule, "%s%s", take ? " | " : "", names[(i + 1) * width + k]);
            if (!rc)
                rc = buf_adds(&rule, skip_empty ? ")?\n" : "\n");
            if (!rc)
                rc = buf_add(&c->rules, rule.p, rule.len);
            if (rc)
                goto out;
        }
    rc = buf_printf(b, "\"[\" %s \"]\"", names[0]);
out:
    json_decref(vals);
    json_decref(opts);
    fmd_free(f);
    fmd_free(names);
    buf_release(&rule);
    return rc;
}

static int gen_array(struct ctx *c, const json_t *s, const char *name, struct buf *b)
{
    const json_t *items = json_object_get(s, "items"), *uniq = json_object_get(s, "uniqueItems");
    const char *item;
    json_int_t mn, mx;
    size_t old;
    int rc;

    if (count_kw(s, "minItems", 0, &mn))
        return einval(c, "'minItems' must be a non-negative integer");
    if (count_kw(s, "maxItems", -1, &mx) || (json_object_get(s, "maxItems") && mx < 0))
        return einval(c, "'maxItems' must be a non-negative integer");
    if (mx >= 0 && mn > mx)
        return einval(c, "'minItems' is greater than 'maxItems'");
    if (uniq && !json_is_boolean(uniq))
        return einval(c, "'uniqueItems' must be a boolean");
    if (mx == 0)
        return buf_adds(b, "\"[]\"");
    if (!items)
        return einval(c, "an array without 'items' is not supported");
    old = ptr_push(c, "items");
    if (json_is_true(uniq)) {
        if (!json_is_object(items) ||
            !(json_object_get(items, "enum") || json_object_get(items, "const")))
            rc = einval(c, "'uniqueItems' needs 'items' of scalar 'enum' or 'const'");
        else
            rc = gen_unique(c, items, name, mn, mx, b);
        ptr_pop(c, old);
        return rc;
    }
    if (mn > REP_MAX + 1) {
        ptr_pop(c, old);
        return einval(c, "'minItems' above %d is not supported", REP_MAX + 1);
    }
    if (mx < 0 || mx > REP_MAX + 1)
        mx = mx < 0 ? -1 : REP_MAX + 1;   /* llama.cpp's limit: longer arrays are not generated */
    /*
     * With minItems 0 the repetition sits inside "( ... )?", and llama.cpp counts
     * the rules its expansion made against that "?" as well (rules x count must
     * stay below 2000): "{0,1998}" there was refused (found by fuzz_grammar).
     */
    if (!mn && mx > REP_MAX - 4)
        mx = REP_MAX - 4;
    rc = new_name(c, name, "item", &item);
    if (!rc)
        rc = define(c, items, item);
    ptr_pop(c, old);
    if (rc)
        return rc;
    if (mx == 1)
        return buf_printf(b, "\"[\" %s%s \"]\"", item, mn ? "" : "?");
    /* "[" item ("," item){mn-1,mx-1} "]", all but the brackets optional when mn is 0 */
    rc = buf_printf(b, "\"[\" %s%s (\",\" %s)", mn ? "" : "(", item, item);
    if (!rc)
        rc = add_quant(b, mn ? (unsigned)mn - 1 : 0, mx < 0 ? UNBOUNDED : (unsigned)mx - 1);
    if (!rc)
        rc = buf_adds(b, mn ? " \"]\"" : ")? \"]\"");
    return rc;
}

/* ---- objects ---- */

struct prop {
    const char *key;
    const json_t *schema;
    size_t src;               /* 0: the schema itself, i + 1: allOf entry i */
    int required;
    const char *rule;
};

/* The object sources: the schema itself, then its allOf entries. */
static const json_t *source(const json_t *s, size_t i)
{
    return i == 0 ? s : json_array_get(json_object_get(s, "allOf"), i - 1);
}

static int check_source(struct ctx *c, const json_t *src, size_t i)
{
    const json_t *ap = json_object_get(src, "additionalProperties");
    const json_t *props = json_object_get(src, "properties");
    const json_t *req = json_object_get(src, "required");
    const char *key;
    json_t *v;
    size_t j;

    if (i > 0) {
        if (!json_is_object(src))
            return einval(c, "'allOf' entry %zu must be an object schema", i - 1);
        json_object_foreach((json_t *)src, key, v) {
            if (!strcmp(key, "properties") || !strcmp(key, "required") ||
                !strcmp(key, "additionalProperties") || IN_LIST(key, annotations) ||
                (!strcmp(key, "type") && json_is_string(v) &&
                 !strcmp(json_string_value(v), "object")))
                continue;
            return einval(c, "'allOf' entry %zu: '%s' is not supported (only properties, required "
                          "and additionalProperties are merged)", i - 1, key);
        }
    }
    if (ap && !json_is_boolean(ap))
        return einval(c, "'additionalProperties' other than true or false is not supported");
    if (props && !json_is_object(props))
        return einval(c, "'properties' must be an object");
    if (req && !json_is_array(req))
        return einval(c, "'required' must be an array");
    for (j = 0; j < json_array_size(req); j++)
        if (!json_is_string(json_array_get(req, j)))
            return einval(c, "'required' must hold strings");
    return 0;
}

/* Is key allowed by every source that closes its properties? */
static int allowed(const json_t *s, size_t nsrc, const char *key)
{
    size_t i;

    for (i = 0; i < nsrc; i++) {
        const json_t *src = source(s, i);
        if (json_is_false(json_object_get(src, "additionalProperties")) &&
            !json_object_get(json_object_get(src, "properties"), key))
            return 0;
    }
    return 1;
}

static int is_required(const json_t *s, size_t nsrc, const char *key)
{
    size_t i, j;

    for (i = 0; i < nsrc; i++) {
        const json_t *req = json_object_get(source(s, i), "required");
        for (j = 0; j < json_array_size(req); j++)
            if (!strcmp(json_string_value(json_array_get(req, j)), key))
                return 1;
    }
    return 0;
}

static int gen_object(struct ctx *c, const json_t *s, const char *name, struct buf *b)
{
    const json_t *all = json_object_get(s, "allOf");
    size_t nsrc = 1 + json_array_size(all), np = 0, cap = 0, i, j, nreq = 0, first;
    struct prop *props = NULL;
    int rc = 0;

    if (all && !json_is_array(all))
        return einval(c, "'allOf' must be an array");
    for (i = 0; i < nsrc; i++) {
        size_t old = i ? ptr_push(c, "allOf") : 0;
        char idx[24];
        if (i) {
            snprintf(idx, sizeof(idx), "%zu", i - 1);
            ptr_push(c, idx);
        }
        rc = check_source(c, source(s, i), i);
        if (i)
            ptr_pop(c, old);
        if (rc)
            return rc;
        cap += json_object_size(json_object_get(source(s, i), "properties"));
    }
    if (cap && !(props = fmd_calloc(cap, sizeof(*props))))
        return FMD_ENOMEM;
    for (i = 0; i < nsrc; i++) {
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(source(s, i), "properties"), key, v) {
            for (j = 0; j < np && strcmp(props[j].key, key); j++)
                ;
            if (j < np) {
                rc = einval(c, "property '%s' declared twice (allOf) is not supported", key);
                goto out;
            }
            if (!allowed(s, nsrc, key)) {
                if (is_required(s, nsrc, key)) {
                    rc = einval(c, "required property '%s' is not allowed by "
                                "'additionalProperties'", key);
                    goto out;
                }
                continue;
            }
            props[np++] = (struct prop){key, v, i, is_required(s, nsrc, key), NULL};
        }
    }
    for (i = 0; i < nsrc; i++) {
        const json_t *req = json_object_get(source(s, i), "required");
        for (j = 0; j < json_array_size(req); j++) {
            const char *key = json_string_value(json_array_get(req, j));
            size_t k;
            for (k = 0; k < np && strcmp(props[k].key, key); k++)
                ;
            if (k == np) {
                rc = einval(c, "required property '%s' has no schema in 'properties'", key);
                goto out;
            }
        }
    }
    for (i = 0; i < np; i++) {
        size_t old = strlen(c->ptr);
        char idx[24];
        if (props[i].src) {
            ptr_push(c, "allOf");
            snprintf(idx, sizeof(idx), "%zu", props[i].src - 1);
            ptr_push(c, idx);
        }
        ptr_push(c, "properties");
        ptr_push(c, props[i].key);
        rc = new_name(c, name, props[i].key, &props[i].rule);
        if (!rc)
            rc = define(c, props[i].schema, props[i].rule);
        ptr_pop(c, old);
        if (rc)
            goto out;
        nreq += (size_t)props[i].required;
    }
    rc = buf_adds(b, "\"{\"");
    /* required, in order, then each optional one */
    for (i = 0, first = 1; !rc && i < np; i++) {
        if (!props[i].required)
            continue;
        rc = buf_addc(b, ' ');
        if (!rc)
            rc = add_key_lit(b, props[i].key, !first);
        if (!rc)
            rc = buf_printf(b, " %s", props[i].rule);
        first = 0;
    }
    if (nreq) {
        for (i = 0; !rc && i < np; i++) {
            if (props[i].required)
                continue;
            rc = buf_adds(b, " (");
            if (!rc)
                rc = add_key_lit(b, props[i].key, 1);
            if (!rc)
                rc = buf_printf(b, " %s)?", props[i].rule);
        }
    } else if (np) {
        /* chain rules: tail i is (",key_i" value_i)? tail i+1 */
        const char **tail = fmd_calloc(np, sizeof(*tail));
        if (!tail) {
            rc = FMD_ENOMEM;
            goto out;
        }
        for (i = 1; !rc && i < np; i++) {
            char part[24];
            snprintf(part, sizeof(part), "t%zu", i);
            rc = new_name(c, name, part, &tail[i]);
        }
        for (i = np - 1; !rc && i >= 1; i--) {
            rc = buf_printf(&c->rules, "%s ::= (", tail[i]);
            if (!rc)
                rc = add_key_lit(&c->rules, props[i].key, 1);
            if (!rc)
                rc = buf_printf(&c->rules, " %s)?%s%s\n", props[i].rule, i + 1 < np ? " " : "",
                                i + 1 < np ? tail[i + 1] : "");
        }
        if (!rc)
            rc = buf_adds(b, " (");
        for (i = 0; !rc && i < np; i++) {
            if (i)
                rc = buf_adds(b, " | ");
            if (!rc)
                rc = add_key_lit(b, props[i].key, 0);
            if (!rc)
                rc = buf_printf(b, " %s%s%s", props[i].rule, i + 1 < np ? " " : "",
                                i + 1 < np ? tail[i + 1] : "");
        }
        if (!rc)
            rc = buf_adds(b, ")?");
        fmd_free(tail);
    }
    if (!rc)
        rc = buf_adds(b, " \"}\"");
out:
    fmd_free(props);
    return rc;
}

/* ---- dispatch ---- */

static int type_bits(struct ctx *c, const json_t *t, unsigned *out)
{
    static const struct { const char *name; unsigned bit; } types[] = {
        {"object", T_OBJ}, {"array", T_ARR}, {"string", T_STR}, {"number", T_NUM},
        {"integer", T_INT}, {"boolean", T_BOOL}, {"null", T_NULL},
    };
    size_t i, j, n = json_is_array(t) ? json_array_size(t) : 1;

    *out = 0;
    for (i = 0; i < n; i++) {
        const json_t *v = json_is_array(t) ? json_array_get(t, i) : t;
        for (j = 0; json_is_string(v) && j < sizeof(types) / sizeof(types[0]); j++)
            if (!strcmp(json_string_value(v), types[j].name))
                break;
        if (!json_is_string(v) || j == sizeof(types) / sizeof(types[0]))
            return einval(c, "'type' must name JSON types");
        *out |= types[j].bit;
    }
    if (!*out || (!json_is_string(t) && !json_is_array(t)))
        return einval(c, "'type' must name JSON types");
    return 0;
}

/* A local "#/..." pointer into the document. */
static const json_t *resolve(const json_t *root, const char *ref)
{
    const json_t *v = root;
    char tok[256];

    if (ref[0] != '#' || (ref[1] && ref[1] != '/'))
        return NULL;
    ref++;
    while (*ref == '/') {
        size_t n = 0;
        ref++;
        while (*ref && *ref != '/' && n + 1 < sizeof(tok)) {
            if (*ref == '~' && (ref[1] == '0' || ref[1] == '1')) {
                tok[n++] = ref[1] == '0' ? '~' : '/';
                ref += 2;
            } else if (*ref == '%') {
                return NULL;
            } else {
                tok[n++] = *ref++;
            }
        }
        tok[n] = '\0';
        if (json_is_object(v)) {
            v = json_object_get(v, tok);
        } else if (json_is_array(v)) {
            char *end;
            unsigned long i = strtoul(tok, &end, 10);
            v = *end || !n ? NULL : json_array_get(v, i);
        } else {
            v = NULL;
        }
        if (!v)
            return NULL;
    }
    return *ref ? NULL : v;
}

static int gen_ref(struct ctx *c, const json_t *s, struct buf *b)
{
    const char *ref = json_string_value(json_object_get(s, "$ref")), *key, *rule = NULL;
    const json_t *target;
    char saved[sizeof(c->ptr)], *last;
    json_t *v;
    size_t i;
    int rc;

    json_object_foreach((json_t *)s, key, v) {
        if (strcmp(key, "$ref") && !IN_LIST(key, annotations) && strncmp(key, "x-", 2) != 0)
            return einval(c, "'%s' next to '$ref' is not supported", key);
    }
    if (!ref || !(target = resolve(c->root, ref)))
        return einval(c, "'$ref' must be a local JSON Pointer such as \"#/$defs/name\"");
    for (i = 0; i < c->nmemo; i++)
        if (c->memo[i].target == target)
            return buf_adds(b, c->memo[i].name);
    for (i = 0; i < c->nactive; i++)
        if (c->active[i] == target)
            return einval(c, "'$ref' \"%s\" is recursive, which is not supported", ref);
    if (c->nactive == DEPTH_MAX)
        return einval(c, "'$ref' chains deeper than %d are not supported", DEPTH_MAX);
    if (c->nmemo == c->capmemo) {
        size_t ncap = c->capmemo ? c->capmemo * 2 : 8;
        struct memo *m = fmd_realloc(c->memo, ncap * sizeof(*m));
        if (!m)
            return FMD_ENOMEM;
        c->memo = m;
        c->capmemo = ncap;
    }
    last = strrchr(ref, '/');
    if ((rc = new_name(c, "def", last ? last + 1 : "", &rule)))
        return rc;
    memcpy(saved, c->ptr, sizeof(saved));
    fmd_strlcpy(c->ptr, ref + 1, sizeof(c->ptr));
    c->active[c->nactive++] = target;
    rc = define(c, target, rule);
    c->nactive--;
    memcpy(c->ptr, saved, sizeof(saved));
    if (rc)
        return rc;
    c->memo[c->nmemo++] = (struct memo){target, (char *)rule};
    return buf_adds(b, rule);
}

static int gen(struct ctx *c, const json_t *s, const char *name, struct buf *b)
{
    static const struct { unsigned bit; const char *kws[6]; } infer[] = {
        {T_OBJ, {"properties", "required", "additionalProperties", "allOf"}},
        {T_ARR, {"items", "minItems", "maxItems", "uniqueItems"}},
        {T_STR, {"minLength", "maxLength", "pattern", "format"}},
        {T_NUM, {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}},
    };
    const json_t *t;
    const char *key;
    json_t *v;
    unsigned types = 0, bit;
    size_t i, j, start, nalt = 0;
    int rc = 0;

    if (!json_is_object(s))
        return einval(c, "%s schemas are not supported",
                      json_is_boolean(s) ? "boolean" : "non-object");
    if (++c->depth > DEPTH_MAX) {
        c->depth--;
        return einval(c, "schemas nested deeper than %d are not supported", DEPTH_MAX);
    }
    json_object_foreach((json_t *)s, key, v) {
        if (IN_LIST(key, annotations) || strncmp(key, "x-", 2) == 0)
            continue;
        if (!IN_LIST(key, supported) || (!strcmp(key, "$id") && s != c->root)) {
            rc = einval(c, "'%s' is not supported", key);
            goto out;
        }
    }
    if (json_object_get(s, "$ref")) {
        rc = gen_ref(c, s, b);
        goto out;
    }
    if ((t = json_object_get(s, "type")) && (rc = type_bits(c, t, &types)))
        goto out;
    if (json_object_get(s, "enum") || json_object_get(s, "const")) {
        rc = gen_values(c, s, types, b);
        goto out;
    }
    for (i = 0; !t && i < sizeof(infer) / sizeof(infer[0]); i++)
        for (j = 0; j < 6 && infer[i].kws[j] && !types; j++)
            if (json_object_get(s, infer[i].kws[j]))
                types = infer[i].bit;
    if (!types) {
        rc = einval(c, "a schema without 'type' (any value) is not supported");
        goto out;
    }
    if (json_object_get(s, "allOf") && !(types & T_OBJ)) {
        rc = einval(c, "'allOf' is supported only on object schemas");
        goto out;
    }
    if (types & T_NUM)
        types &= ~(unsigned)T_INT;
    start = b->len;
    for (bit = 1; !rc && bit <= T_NULL; bit <<= 1) {
        if (!(types & bit))
            continue;
        rc = buf_adds(b, nalt++ ? " | " : "");
        if (rc)
            break;
        switch (bit) {
        case T_OBJ: rc = gen_object(c, s, name, b); break;
        case T_ARR: rc = gen_array(c, s, name, b); break;
        case T_STR: rc = gen_string(c, s, b); break;
        case T_NUM: rc = gen_number(c, s, 0, b); break;
        case T_INT: rc = gen_number(c, s, 1, b); break;
        case T_BOOL: rc = buf_adds(b, "(\"true\" | \"false\")"); break;
        case T_NULL: rc = buf_adds(b, "\"null\""); break;
        }
    }
    if (!rc && nalt > 1) {
        /* group the alternatives */
        rc = buf_addc(b, ')');
        if (!rc)
            rc = buf_grow(b, 1);
        if (!rc) {
            memmove(b->p + start + 1, b->p + start, b->len - start + 1);
            b->p[start] = '(';
            b->len++;
        }
    }
out:
    c->depth--;
    return rc;
}

int ai_grammar_from_schema(const json_t *schema, struct buf *out, struct fmd_err *err)
{
    struct ctx c = {.root = schema, .err = err, .active = {schema}, .nactive = 1};
    struct buf body;
    size_t i, len0 = out->len;
    int rc;

    buf_init(&c.rules, RULES_MAX);
    buf_init(&body, RULES_MAX);
    rc = gen(&c, schema, "root", &body);
    if (!rc)
        rc = buf_printf(out, "root ::= %s\n", body.p);
    if (!rc)
        rc = buf_add(out, c.rules.p, c.rules.len);
    for (i = 0; !rc && i < sizeof(shared_rules) / sizeof(shared_rules[0]); i++)
        if (c.shared & shared_rules[i].bit)
            rc = buf_adds(out, shared_rules[i].text);
    if (rc == FMD_ENOMEM)
        fmd_errf(err, rc, "out of memory");
    else if (rc == FMD_ETOOBIG)
        fmd_errf(err, rc, "the grammar would be larger than %zu bytes",
                 out->max < RULES_MAX ? out->max : (size_t)RULES_MAX);
    if (rc) {
        out->len = len0;
        out->p[len0] = '\0';
    }
    buf_release(&body);
    buf_release(&c.rules);
    names_release(&c.names);
    fmd_free(c.memo);
    return rc;
}
