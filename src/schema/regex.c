/*
 * regex.c - compiles JSON Schema patterns (ECMA-262 syntax) with PCRE2.
 *
 * The two dialects agree on what forms use. Two gaps are closed here: ECMA-262
 * names Unicode general categories in full (\p{Letter}, \p{gc=Lu},
 * \p{General_Category=Decimal_Number}) where PCRE2 10.42 knows only the short
 * names (\p{L}, \p{Lu}, \p{Nd}); such escapes are rewritten to the short name
 * before compiling. Script names (\p{Greek}, \p{Script=Greek}) need nothing.
 * And ECMA-262's \s is Unicode white space (NBSP, U+2028, U+FEFF, ...): \s,
 * and \S outside a character class, are rewritten to that set (\S inside a
 * class stays ASCII). \d and \w are ASCII in both.
 * Offsets in compile errors refer to the pattern as rewritten, which differs
 * from the original only after such an escape.
 */
#include "schema/schema_int.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "core/banned.h"

/* ECMA-262's General_Category value names, long -> short. */
static const char *const categories[][2] = {
    {"Cased_Letter", "LC"},         {"Close_Punctuation", "Pe"},
    {"Combining_Mark", "M"},        {"Connector_Punctuation", "Pc"},
    {"Control", "Cc"},              {"Currency_Symbol", "Sc"},
    {"Dash_Punctuation", "Pd"},     {"Decimal_Number", "Nd"},
    {"Enclosing_Mark", "Me"},       {"Final_Punctuation", "Pf"},
    {"Format", "Cf"},               {"Initial_Punctuation", "Pi"},
    {"Letter", "L"},                {"Letter_Number", "Nl"},
    {"Line_Separator", "Zl"},       {"Lowercase_Letter", "Ll"},
    {"Mark", "M"},                  {"Math_Symbol", "Sm"},
    {"Modifier_Letter", "Lm"},      {"Modifier_Symbol", "Sk"},
    {"Nonspacing_Mark", "Mn"},      {"Number", "N"},
    {"Open_Punctuation", "Ps"},     {"Other", "C"},
    {"Other_Letter", "Lo"},         {"Other_Number", "No"},
    {"Other_Punctuation", "Po"},    {"Other_Symbol", "So"},
    {"Paragraph_Separator", "Zp"},  {"Private_Use", "Co"},
    {"Punctuation", "P"},           {"Separator", "Z"},
    {"Space_Separator", "Zs"},      {"Spacing_Mark", "Mc"},
    {"Surrogate", "Cs"},            {"Symbol", "S"},
    {"Titlecase_Letter", "Lt"},     {"Unassigned", "Cn"},
    {"Uppercase_Letter", "Lu"},     {"cntrl", "Cc"},
    {"digit", "Nd"},                {"punct", "P"},
};

static int name_is(const char *s, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(s, name, n) == 0;
}

/* The short name for a \p{...} body, or NULL to leave it as written. */
static const char *short_category(const char *s, size_t n)
{
    size_t i, cut = 0;

    if (n > 3 && memcmp(s, "gc=", 3) == 0)
        cut = 3;
    else if (n > 17 && memcmp(s, "General_Category=", 17) == 0)
        cut = 17;
    for (i = 0; i < sizeof(categories) / sizeof(categories[0]); i++)
        if (name_is(s + cut, n - cut, categories[i][0]) ||
            (cut && name_is(s + cut, n - cut, categories[i][1])))
            return categories[i][1];
    return NULL;
}

/* pat[0..n) with long category names made short, into out. 0 or FMD_ENOMEM. */
/* ECMA-262's \s: WhiteSpace and LineTerminator, Unicode-wide; PCRE2's \s
 * without UCP is ASCII only (and UCP would widen \d and \w too). */
#define ECMA_SPACE "\\s\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}" \
                   "\\x{205f}\\x{3000}\\x{feff}"

/* Rewrites the escape at pat[i] (pat[i] is '\\'); *i moves past it. */
static int rewrite_escape(const char *pat, size_t n, size_t *i, int in_class, struct buf *out)
{
    const char *close = NULL, *name = NULL;
    char c = pat[*i + 1];

    if (c == 's' || (c == 'S' && !in_class)) {
        *i += 2;
        return in_class ? buf_adds(out, ECMA_SPACE)
             : buf_printf(out, "[%s%s]", c == 'S' ? "^" : "", ECMA_SPACE);
    }
    /* An escape is two characters, so "\\p{...}" is not a property. */
    if ((c == 'p' || c == 'P') && *i + 2 < n && pat[*i + 2] == '{')
        close = memchr(pat + *i + 3, '}', n - *i - 3);
    if (close)
        name = short_category(pat + *i + 3, (size_t)(close - pat) - *i - 3);
    if (name) {
        *i = (size_t)(close - pat) + 1;
        return buf_printf(out, "\\%c{%s}", c, name);
    }
    *i += 2;
    return buf_add(out, pat + *i - 2, 2);
}

static int rewrite(const char *pat, size_t n, struct buf *out)
{
    size_t i = 0;
    int rc = 0, in_class = 0;

    while (!rc && i < n) {
        if (pat[i] == '\\' && i + 1 < n) {
            rc = rewrite_escape(pat, n, &i, in_class, out);
            continue;
        }
        if (pat[i] == '[' && !in_class)
            in_class = 1;
        else if (pat[i] == ']' && in_class)
            in_class = 0;
        rc = buf_addc(out, pat[i++]);
    }
    return rc ? FMD_ENOMEM : 0;
}

int schema__regex_compile(const char *pat, size_t len, pcre2_compile_context *cc,
                          pcre2_code **out, char *why, size_t why_size)
{
    struct buf b;
    PCRE2_SIZE off;
    int ec, rc;

    *out = NULL;
    buf_init(&b, len * 48 + 64);   /* each two-byte escape grows to at most ~90 bytes */
    rc = rewrite(pat, len, &b);
    if (rc)
        goto out;
    *out = pcre2_compile((PCRE2_SPTR)b.p, b.len, SCHEMA__PCRE2_OPTIONS, &ec, &off, cc);
    if (*out)
        goto out;
    if (ec == PCRE2_ERROR_HEAP_FAILED) {
        rc = FMD_ENOMEM;
        goto out;
    }
    pcre2_get_error_message(ec, (PCRE2_UCHAR *)why, why_size);
    snprintf(why + strlen(why), why_size - strlen(why), " at offset %zu", (size_t)off);
    rc = FMD_EUNPROC;
out:
    buf_release(&b);
    return rc;
}

int schema__pattern_check(const char *pattern, size_t len, struct fmd_err *err)
{
    pcre2_general_context *g = pcre2_general_context_create(schema__pcre2_alloc,
                                                            schema__pcre2_free, NULL);
    pcre2_compile_context *cc = g ? pcre2_compile_context_create(g) : NULL;
    pcre2_code *code = NULL;
    char why[160];
    int rc = cc ? schema__regex_compile(pattern, len, cc, &code, why, sizeof(why)) : FMD_ENOMEM;

    if (rc == FMD_ENOMEM)
        fmd_errf(err, FMD_ENOMEM, "out of memory");
    else if (rc)
        fmd_errf(err, FMD_EUNPROC, "%s", why);
    pcre2_code_free(code);
    pcre2_compile_context_free(cc);
    pcre2_general_context_free(g);
    return rc;
}

void *schema__pcre2_alloc(PCRE2_SIZE n, void *data)
{
    (void)data;
    return fmd_malloc(n);
}

void schema__pcre2_free(void *p, void *data)
{
    (void)data;
    fmd_free(p);
}
