/*
 * rules.c - the rules provider: deterministic answers without a model.
 *
 * formd falls back to it when no model is configured or the model fails or
 * times out. It reads no prompt or grammar, only req->task, req->input and
 * req->schema, and answers the same for the same request, always:
 *
 *   extract        free text + a form's JSON Schema -> a JSON object with the
 *                  fields found (see "extract" below; dates as 2026-11-28,
 *                  28/11/2026, 28.11.2026, 28-11-2026, 11/28/2026 when the
 *                  day says so, "28 November 2026", "28th of Nov. 2026",
 *                  "November 28, 2026"; date-times in RFC 3339 with a zone,
 *                  "T" or a space); every value passes its
 *                  property's schema: the object is validated with formd's
 *                  validator and failing values are replaced by the next
 *                  candidate or dropped. Missing required fields are not
 *                  invented: the object may lack them.
 *   classify       a submission (JSON text) + {"categories": [{name,
 *                  description?, keywords?}]} -> {"category", "reason"}: over
 *                  the submission's string values, whole words, any case, a
 *                  category scores 3 for its name, 2 per keyword (a phrase)
 *                  and 1 per description word (stop words and words under 3
 *                  letters aside) found; the highest wins, the first on a
 *                  tie; with no match "other" if there is one, else the
 *                  first, the reason saying no keyword matched.
 *   summarize      text -> the highest-scoring sentences in their order (a
 *                  sentence scores the mean frequency of its words, stop
 *                  words removed; repeated sentences count once), then a
 *                  line "(N answers, N sentences, N words; top words: ...)",
 *                  all within limits.max_tokens * 4 bytes.
 *   generate_form  a description -> a "fields" shorthand array that
 *                  fields_compile accepts: name, email, phone, date of
 *                  birth, age, website, address, rating, comments, message,
 *                  feedback, notes; "number of X" an integer; "choose / select
 *                  / pick / one of a, b or c" a select ("any of", "all that
 *                  apply": a multiselect); yes/no questions a checkbox;
 *                  "required" in the same clause makes a field required;
 *                  nothing recognised gives one textarea, "response".
 *
 * Errors: FMD_EINVAL for no task or input, an unknown task, a schema that
 * is not an object or does not compile, categories missing or nameless, a
 * classify input that is not JSON; FMD_ENOMEM. res->text is the caller's
 * (ai_result_release); on failure it is NULL.
 */
#include "ai/provider.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/mem.h"
#include "schema/validate.h"
#include "core/banned.h"

#define DEFAULT_TOKENS  256
#define MAX_CANDS       8          /* candidate values kept per property */
#define MAX_PROPS       500
#define NOPOS           ((size_t)-1)
#define EXTRACT_MAX     (256u << 10)   /* input extract reads, in bytes */

/* ---- text helpers ---- */

static int wordc(unsigned char c)
{
    return isalnum(c) || c >= 0x80;
}

/* Whole-word, case-insensitive search for w in t[from..n); NOPOS if absent. */
static size_t find_word(const char *t, size_t n, const char *w, size_t from)
{
    size_t wl = strlen(w), i;
    int c0 = tolower((unsigned char)w[0]);

    if (!wl || wl > n)
        return NOPOS;
    for (i = from; i + wl <= n; i++) {
        if (tolower((unsigned char)t[i]) != c0 || strncasecmp(t + i, w, wl))
            continue;
        if (wordc((unsigned char)w[0]) && i > 0 && wordc((unsigned char)t[i - 1]))
            continue;
        if (wordc((unsigned char)w[wl - 1]) && i + wl < n && wordc((unsigned char)t[i + wl]))
            continue;
        return i;
    }
    return NOPOS;
}

static const char *const stop_words[] = {
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
    "been", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has",
    "have", "he", "her", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its",
    "just", "me", "more", "my", "no", "not", "of", "on", "one", "or", "our", "out", "she",
    "so", "some", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "to", "too", "up", "very", "was", "we", "were", "what", "when", "which", "who",
    "will", "with", "would", "you", "your", "i'm", "it's", "don't", "ask", "form", "field",
    "fields", "want", "need", "should", "please", "let", "us", "allow", NULL,
};

static int stop_word(const char *w, size_t n)
{
    int i;
    for (i = 0; stop_words[i]; i++)
        if (strlen(stop_words[i]) == n && !strncasecmp(stop_words[i], w, n))
            return 1;
    return 0;
}

/* The next word of t[*i..n): letters, digits, inner apostrophes. 0 at the end. */
static int next_word(const char *t, size_t n, size_t *i, size_t *ws, size_t *wl)
{
    size_t p = *i;

    while (p < n && !wordc((unsigned char)t[p]))
        p++;
    if (p >= n)
        return 0;
    *ws = p;
    while (p < n && (wordc((unsigned char)t[p]) ||
                     (t[p] == '\'' && p + 1 < n && isalpha((unsigned char)t[p + 1]))))
        p++;
    *wl = p - *ws;
    *i = p;
    return 1;
}

/* ---- JSON helpers ---- */

/* Follows local "$ref": "#/..." pointers (a few hops) to the schema they name. */
static const json_t *deref(const json_t *root, const json_t *s)
{
    int hops;

    for (hops = 0; hops < 8 && json_is_object(s); hops++) {
        const char *ref = json_get_str(s, "$ref"), *p;
        const json_t *at = root;
        char key[256];

        if (!ref || ref[0] != '#' || ref[1] != '/')
            return s;
        for (p = ref + 1; *p == '/' && at;) {
            size_t k = 0;
            for (p++; *p && *p != '/' && k + 1 < sizeof(key); p++) {
                if (*p == '~' && (p[1] == '0' || p[1] == '1')) {
                    key[k++] = p[1] == '0' ? '~' : '/';
                    p++;
                } else {
                    key[k++] = *p;
                }
            }
            key[k] = '\0';
            at = json_is_array(at) ? json_array_get(at, strtoul(key, NULL, 10))
                                   : json_object_get(at, key);
        }
        if (!at)
            return s;
        s = at;
    }
    return s;
}

/* The schema's "type" (first non-null of an array), or NULL. */
static const char *type_of(const json_t *s)
{
    const json_t *t = json_object_get(s, "type");
    size_t i;

    if (json_is_string(t))
        return json_string_value(t);
    for (i = 0; i < json_array_size(t); i++) {
        const char *v = json_string_value(json_array_get(t, i));
        if (v && strcmp(v, "null"))
            return v;
    }
    return NULL;
}

/*
 * ---- extract ----
 *
 * Each property of the schema (a local "$ref" followed) gets a kind from its
 * type, format and enum, else from its name and title ("home_phone" is a
 * phone, "website" a URL, "start_date" a date). The value is looked for,
 * in this order, and the first place that yields one wins:
 *   1. a labelled line: "Label: value" or "label = value" where the label
 *      (the name, the name with spaces for underscores, or the title; any
 *      case) starts a line or follows a separator (", Age: 42");
 *   2. near a mention of the label: after it on its line (numbers within 24
 *      characters), for booleans the words around it on its line;
 *   3. numbers said with a unit: "3 guests", "42 years old" for an age;
 *   4. for an email, phone, URL, date or date-time field that is the only
 *      one of its kind in the form: the first one anywhere in the text
 *      (phones then need a "+" or 9 digits, not to take order numbers).
 * Strings come only from labelled lines (and "my name is Ada Lovelace" for
 * a name). Single enums need one option mentioned in the whole text, or a
 * label to say which; multiple-choice arrays take every option mentioned
 * (in the labelled value when there is one). Matches are whole words,
 * case-insensitive; the enum's own value is output.
 * Each field keeps up to MAX_CANDS candidates (a phone as written, then its
 * digits). The object is validated; a property with an error moves to its
 * next candidate or is dropped; an error of the whole object (a condition)
 * drops the last field set, until nothing but missing data is wrong.
 * Only the first EXTRACT_MAX bytes of the input are read.
 */

/* ---- extract: scanners ---- */

enum kind { K_NONE, K_STRING, K_EMAIL, K_PHONE, K_URI, K_DATE, K_DATETIME, K_INTEGER,
            K_NUMBER, K_BOOL, K_ENUM, K_MULTI };

struct cands {
    json_t *v[MAX_CANDS];
    int n;
};

/* Adds v (stolen; NULL means out of memory) unless a copy is there. */
static int cand_add(struct cands *c, json_t *v)
{
    int i;

    if (!v)
        return FMD_ENOMEM;
    for (i = 0; i < c->n; i++)
        if (json_equal(c->v[i], v)) {
            json_decref(v);
            return 0;
        }
    if (c->n == MAX_CANDS) {
        json_decref(v);
        return 0;
    }
    c->v[c->n++] = v;
    return 0;
}

static void cands_release(struct cands *c)
{
    while (c->n)
        json_decref(c->v[--c->n]);
}

/* 1 if s[0..n) is valid UTF-8 (the input is text of unknown origin, OCR included). */
static int utf8_ok(const char *s, size_t n)
{
    size_t i = 0, k, len;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
        if (!len || c > 0xF4 || i + len > n)
            return 0;
        cp = c & (0x7F >> len);
        for (k = 1; k < len; k++) {
            if (((unsigned char)s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += len;
    }
    return 1;
}

/* A candidate string: skipped when it is not valid UTF-8. */
static int cand_str(struct cands *c, const char *s, size_t n)
{
    return utf8_ok(s, n) ? cand_add(c, json_stringn_nocheck(s, n)) : 0;
}

static const char *const months[] = {
    "january", "february", "march", "april", "may", "june", "july", "august",
    "september", "october", "november", "december",
};

/* A month name or abbreviation ("Sept", "Nov.") at t[0..n): 1..12, 0 if none. */
static int month_at(const char *t, size_t n, size_t *len)
{
    size_t wl = 0;
    int m;

    while (wl < n && isalpha((unsigned char)t[wl]))
        wl++;
    if (wl < 3)
        return 0;
    for (m = 0; m < 12; m++) {
        size_t full = strlen(months[m]);
        if ((wl == full || wl == 3 || (m == 8 && wl == 4)) && wl <= full &&
            !strncasecmp(t, months[m], wl)) {
            *len = wl + (wl < full && wl < n && t[wl] == '.');
            return m + 1;
        }
    }
    return 0;
}

static int days_in(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : d[m - 1];
}

static size_t digits(const char *t, size_t n, int *val)
{
    size_t k = 0;
    *val = 0;
    while (k < n && k < 5 && isdigit((unsigned char)t[k]))
        *val = *val * 10 + (t[k++] - '0');
    return k;
}

static size_t skip_spaces(const char *t, size_t n, size_t k)
{
    while (k < n && (t[k] == ' ' || t[k] == '\t'))
        k++;
    return k;
}

/* "st", "nd", "rd", "th" after a day number. */
static size_t ordinal(const char *t, size_t n, size_t k)
{
    static const char *const sfx[] = {"st", "nd", "rd", "th"};
    int i;
    for (i = 0; i < 4; i++)
        if (k + 2 <= n && !strncasecmp(t + k, sfx[i], 2) &&
            (k + 2 == n || !isalpha((unsigned char)t[k + 2])))
            return k + 2;
    return k;
}

/*
 * A date at t[0..n): 2026-11-28, 2026/11/28, 28/11/2026, 28.11.2026,
 * 28-11-2026 (day first; month first, US style, when the second number
 * exceeds 12), "28 November 2026", "28th of Nov. 2026", "November 28, 2026",
 * "Nov 28th 2026". Writes "YYYY-MM-DD" into out[11]; returns its length in
 * t or 0. Two-digit years are not read.
 */
static size_t parse_date(const char *t, size_t n, char out[11])
{
    int a, b, c, y, m, d;
    size_t k, la, lb, lc, ml = 0;

    if ((la = digits(t, n, &a)) && la <= 4 && la < n && strchr("-/.", t[la])) {
        char sep = t[la];
        k = la + 1;
        if (!(lb = digits(t + k, n - k, &b)) || lb > 2)
            return 0;
        k += lb;
        if (k >= n || t[k] != sep)
            return 0;
        k++;
        if (!(lc = digits(t + k, n - k, &c)) || lc > 4)
            return 0;
        k += lc;
        if (la == 4 && lc <= 2) {
            y = a, m = b, d = c;
        } else if (lc == 4 && la <= 2) {
            y = c;
            if (b > 12 && a <= 12)
                m = a, d = b;
            else
                d = a, m = b;
        } else {
            return 0;
        }
    } else if ((la = digits(t, n, &d)) && la <= 2) {
        k = skip_spaces(t, n, ordinal(t, n, la));
        if (k + 3 <= n && !strncasecmp(t + k, "of ", 3))
            k = skip_spaces(t, n, k + 3);
        if (!(m = month_at(t + k, n - k, &ml)))
            return 0;
        k += ml;
        if (k < n && t[k] == ',')
            k++;
        k = skip_spaces(t, n, k);
        if ((lc = digits(t + k, n - k, &y)) != 4)
            return 0;
        k += lc;
    } else if ((m = month_at(t, n, &ml))) {
        k = skip_spaces(t, n, ml);
        if (!(lb = digits(t + k, n - k, &d)) || lb > 2)
            return 0;
        k = ordinal(t, n, k + lb);
        if (k < n && t[k] == ',')
            k++;
        k = skip_spaces(t, n, k);
        if ((lc = digits(t + k, n - k, &y)) != 4)
            return 0;
        k += lc;
    } else {
        return 0;
    }
    if (k < n && isalnum((unsigned char)t[k]))
        return 0;
    if (y < 1000 || y > 9999 || m < 1 || m > 12 || d < 1 || d > days_in(y, m))
        return 0;
    snprintf(out, 11, "%04d-%02d-%02d", y % 10000, m % 100, d % 100);
    return k;
}

static int word_start(const char *t, size_t i)
{
    return i == 0 || !isalnum((unsigned char)t[i - 1]);
}

static int scan_dates(const char *t, size_t s, size_t e, struct cands *c)
{
    char out[11];
    size_t i, len;
    int rc = 0;

    for (i = s; i < e && !rc; i++)
        if (word_start(t, i) && (len = parse_date(t + i, e - i, out))) {
            rc = cand_add(c, json_string(out));
            i += len - 1;
        }
    return rc;
}

/*
 * An RFC 3339 date-time: 2026-11-28T14:30, 2026-11-28 14:30:05.5+01:00; the
 * offset (Z or +hh:mm) is required, as nothing here knows the writer's zone.
 */
static size_t parse_datetime(const char *t, size_t n, char *out, size_t *olen)
{
    int v;
    size_t k = 0, f, o;

    if (n < 16 || digits(t, n, &v) != 4 || t[4] != '-' || digits(t + 5, 2, &v) != 2 ||
        t[7] != '-' || digits(t + 8, 2, &v) != 2 || !strchr("Tt ", t[10]) ||
        digits(t + 11, 2, &v) != 2 || t[13] != ':' || digits(t + 14, 2, &v) != 2)
        return 0;
    memcpy(out, t, 16);
    out[10] = 'T';
    o = k = 16;
    if (k + 3 <= n && t[k] == ':' && digits(t + k + 1, 2, &v) == 2) {
        memcpy(out + o, t + k, 3);
        o += 3;
        k += 3;
        if (k + 1 < n && t[k] == '.' && isdigit((unsigned char)t[k + 1])) {
            for (f = k + 1; f < n && f < k + 10 && isdigit((unsigned char)t[f]); f++)
                ;
            memcpy(out + o, t + k, f - k);
            o += f - k;
            k = f;
        }
    } else {
        memcpy(out + o, ":00", 3);
        o += 3;
    }
    k = skip_spaces(t, n, k);
    if (k < n && (t[k] == 'Z' || t[k] == 'z')) {
        out[o++] = 'Z';
        k++;
    } else if (k + 6 <= n && (t[k] == '+' || t[k] == '-') && digits(t + k + 1, 2, &v) == 2 &&
               t[k + 3] == ':' && digits(t + k + 4, 2, &v) == 2) {
        memcpy(out + o, t + k, 6);
        o += 6;
        k += 6;
    } else {
        return 0;
    }
    *olen = o;
    return k < n && isalnum((unsigned char)t[k]) ? 0 : k;
}

static int scan_datetimes(const char *t, size_t s, size_t e, struct cands *c)
{
    char out[48];
    size_t i, len, olen;
    int rc = 0;

    for (i = s; i < e && !rc; i++)
        if (word_start(t, i) && (len = parse_datetime(t + i, e - i, out, &olen))) {
            rc = cand_str(c, out, olen);
            i += len - 1;
        }
    return rc;
}

static int local_c(unsigned char c)
{
    return isalnum(c) || strchr("._%+-", c);
}

static int domain_c(unsigned char c)
{
    return isalnum(c) || c == '.' || c == '-';
}

static int scan_emails(const char *t, size_t s, size_t e, struct cands *c)
{
    size_t i;
    int rc = 0;

    for (i = s; i < e && !rc; i++) {
        size_t a = i, b = i + 1, dot = 0, tld = 0, k;
        if (t[i] != '@')
            continue;
        while (a > s && local_c((unsigned char)t[a - 1]))
            a--;
        while (a < i && t[a] == '.')
            a++;
        while (b < e && domain_c((unsigned char)t[b]))
            b++;
        while (b > i + 1 && (t[b - 1] == '.' || t[b - 1] == '-'))
            b--;
        for (k = i + 1; k < b; k++)
            if (t[k] == '.')
                dot = k;
        if (dot)
            for (k = dot + 1; k < b && isalpha((unsigned char)t[k]); k++)
                tld++;
        if (a == i || t[i - 1] == '.' || !dot || tld < 2 || tld != b - dot - 1)
            continue;
        rc = cand_str(c, t + a, b - a);
        i = b;
    }
    return rc;
}

static int scan_uris(const char *t, size_t s, size_t e, struct cands *c)
{
    size_t i, k;
    int rc = 0;

    for (i = s; i < e && !rc; i++) {
        if (!word_start(t, i) || (strncasecmp(t + i, "http://", 7) &&
                                  strncasecmp(t + i, "https://", 8)))
            continue;
        for (k = i; k < e && !isspace((unsigned char)t[k]) && !strchr("<>\"'`", t[k]); k++)
            ;
        while (k > i && strchr(".,;:!?)]", t[k - 1]))
            k--;
        if (k - i > 8)
            rc = cand_str(c, t + i, k - i);
        i = k;
    }
    return rc;
}

/*
 * Phone numbers: an optional "+", then digits, spaces, dashes, dots and
 * parentheses holding 7 to 20 digits, not a date. strict (a scan of the
 * whole text, not of a labelled value) also asks for a "+" or 9 digits or
 * more, so order and invoice numbers are not taken for phones. The number
 * as written comes first, then "+" and the digits alone.
 */
static int phone_c(unsigned char c)
{
    return isdigit(c) || c == ' ' || c == '(' || c == ')' || c == '.' || c == '-';
}

static int scan_phones(const char *t, size_t s, size_t e, int strict, struct cands *c)
{
    char out[11];
    size_t i, k, end, nd;
    int rc = 0;

    for (i = s; i < e && !rc; i++) {
        char dig[24];
        if (!(t[i] == '+' || t[i] == '(' || isdigit((unsigned char)t[i])) || !word_start(t, i) ||
            (i > s && (t[i - 1] == '+' || t[i - 1] == '.' || t[i - 1] == '-')))
            continue;
        if (parse_date(t + i, e - i, out)) {
            while (i < e && !isspace((unsigned char)t[i]))
                i++;
            continue;
        }
        nd = 0;
        end = i;
        for (k = i + (t[i] == '+'); k < e && phone_c((unsigned char)t[k]); k++) {
            if (t[k] == ' ' && k + 1 < e && t[k + 1] == ' ')
                break;
            if (isdigit((unsigned char)t[k])) {
                if (nd < sizeof(dig) - 1)
                    dig[nd] = t[k];
                nd++;
                end = k + 1;
            }
        }
        if (end < e && isalpha((unsigned char)t[end]))
            nd = 0;
        if (nd >= 7 && nd <= 20 && (!strict || t[i] == '+' || nd >= 9)) {
            rc = cand_str(c, t + i, end - i);
            if (!rc) {
                char alt[24];
                size_t al = 0;
                if (t[i] == '+')
                    alt[al++] = '+';
                memcpy(alt + al, dig, nd);
                rc = cand_str(c, alt, al + nd);
            }
        }
        i = k > i ? k - 1 : i;
    }
    return rc;
}

/* ",200" in 1,200: a comma, three digits, no fourth. */
static int thousands(const char *t, size_t k, size_t e)
{
    int v;
    return k + 4 <= e && digits(t + k + 1, e - k - 1, &v) == 3;
}

/*
 * Numbers: -12, 42, 3.5, 1,200 (groups of three); not the parts of a date or
 * a time of day. Integers where they are whole and fit, reals otherwise.
 */
static int scan_numbers(const char *t, size_t s, size_t e, int integer, int max, struct cands *c)
{
    char out[11], num[64];
    size_t i, k;
    int rc = 0, found = 0;

    for (i = s; i < e && !rc && found < max; i++) {
        size_t nl = 0;
        int neg = 0, frac = 0;
        if (!isdigit((unsigned char)t[i]) || (i > 0 && (isalnum((unsigned char)t[i - 1]) ||
                                                       t[i - 1] == '.' || t[i - 1] == ',')))
            continue;
        if (parse_date(t + i, e - i, out)) {
            while (i < e && !isspace((unsigned char)t[i]))
                i++;
            continue;
        }
        neg = i > s && t[i - 1] == '-' && (i - 1 == s || !isalnum((unsigned char)t[i - 2]));
        if (neg)
            num[nl++] = '-';
        for (k = i; k < e && nl < sizeof(num) - 2; k++) {
            if (isdigit((unsigned char)t[k])) {
                num[nl++] = t[k];
            } else if (t[k] == ',' && !frac && thousands(t, k, e)) {
                continue;
            } else if (t[k] == '.' && !frac && k + 1 < e && isdigit((unsigned char)t[k + 1])) {
                num[nl++] = '.';
                frac = 1;
            } else {
                break;
            }
        }
        num[nl] = '\0';
        if (k < e && (t[k] == ':' || isalpha((unsigned char)t[k])) &&
            !(t[k] == ':' && (k + 1 >= e || !isdigit((unsigned char)t[k + 1])))) {
            /* 10:30 is a time; 3rd, 4x are not plain numbers */
            while (k < e && (isalnum((unsigned char)t[k]) || t[k] == ':'))
                k++;
            i = k;
            continue;
        }
        found++;
        if (!frac && nl <= 18) {
            rc = cand_add(c, json_integer(strtoll(num, NULL, 10)));
        } else if (!integer) {
            double d = strtod(num, NULL);
            if (isfinite(d))
                rc = cand_add(c, json_real(d));
        }
        i = k;
    }
    return rc;
}

/* ---- extract: where a field's value is ---- */

struct field {
    const char *name;
    const json_t *schema;          /* the property's schema, $ref followed */
    enum kind kind;
    const json_t *options;         /* K_ENUM, K_MULTI: the enum array */
    char labels[3][128];           /* name, name with spaces, title */
    int nlabels;
    struct cands c;
    int at;                        /* candidate in use */
};

/* Tokens of the name and title: "home_phone" -> home, phone. */
static int has_token(const struct field *f, const char *const *words)
{
    int l, w;
    for (l = 0; l < f->nlabels; l++)
        for (w = 0; words[w]; w++) {
            const char *lab = f->labels[l];
            if (find_word(lab, strlen(lab), words[w], 0) != NOPOS)
                return 1;
        }
    return 0;
}

static const char *const email_words[] = {"email", "e-mail", "mail", NULL};
static const char *const phone_words[] = {"phone", "telephone", "tel", "mobile", "cell", "fax",
                                          "cellphone", "phonenumber", NULL};
static const char *const uri_words[] = {"url", "website", "homepage", "link", "site", NULL};
static const char *const date_words[] = {"date", "birthday", "dob", "birthdate", NULL};
static const char *const age_words[] = {"age", NULL};
static const char *const name_words[] = {"name", NULL};

static void field_labels(struct field *f)
{
    const char *title = json_get_str(f->schema, "title");
    char *p;

    fmd_strlcpy(f->labels[0], f->name, sizeof(f->labels[0]));
    fmd_strlcpy(f->labels[1], f->name, sizeof(f->labels[1]));
    for (p = f->labels[1]; *p; p++)
        if (*p == '_' || *p == '-')
            *p = ' ';
    f->nlabels = strcmp(f->labels[0], f->labels[1]) ? 2 : 1;
    if (title && *title && strlen(title) < sizeof(f->labels[0]) &&
        strcasecmp(title, f->labels[0]) && strcasecmp(title, f->labels[1]))
        fmd_strlcpy(f->labels[f->nlabels++], title, sizeof(f->labels[0]));
}

static enum kind field_kind(struct field *f, const json_t *root)
{
    const char *type = type_of(f->schema), *format = json_get_str(f->schema, "format");
    const json_t *en = json_object_get(f->schema, "enum");

    if (json_array_size(en)) {
        f->options = en;
        return K_ENUM;
    }
    if (!type)
        return K_NONE;
    if (!strcmp(type, "array")) {
        const json_t *items = deref(root, json_object_get(f->schema, "items"));
        en = json_object_get(items, "enum");
        if (!json_array_size(en))
            return K_NONE;
        f->options = en;
        return K_MULTI;
    }
    if (!strcmp(type, "boolean"))
        return K_BOOL;
    if (!strcmp(type, "integer"))
        return K_INTEGER;
    if (!strcmp(type, "number"))
        return K_NUMBER;
    if (strcmp(type, "string"))
        return K_NONE;
    if (format && (!strcmp(format, "email") || !strcmp(format, "idn-email")))
        return K_EMAIL;
    if (format && !strcmp(format, "date"))
        return K_DATE;
    if (format && !strcmp(format, "date-time"))
        return K_DATETIME;
    if (format && (!strcmp(format, "uri") || !strcmp(format, "iri")))
        return K_URI;
    if (format)
        return K_STRING;
    if (has_token(f, email_words))
        return K_EMAIL;
    if (has_token(f, phone_words))
        return K_PHONE;
    if (has_token(f, uri_words))
        return K_URI;
    if (has_token(f, date_words))
        return K_DATE;
    return K_STRING;
}

static size_t line_start(const char *t, size_t i)
{
    while (i > 0 && t[i - 1] != '\n')
        i--;
    return i;
}

static size_t line_end(const char *t, size_t n, size_t i)
{
    while (i < n && t[i] != '\n' && t[i] != '\r')
        i++;
    return i;
}

/* A label starts a line or a segment of one: "- Name:", "..., Age:". */
static int segment_start(const char *t, size_t at)
{
    while (at > 0 && (t[at - 1] == ' ' || t[at - 1] == '\t'))
        at--;
    return at == 0 || strchr("\n\r,;|.*->(\"'", t[at - 1]);
}

/*
 * "Label: value" or "label = value" at the start of a line or after a
 * separator: the value's span, trimmed. Returns 1 when found.
 */
static int labelled(const struct field *f, const char *t, size_t n, size_t *vs, size_t *ve)
{
    int l;

    for (l = 0; l < f->nlabels; l++) {
        size_t at, k;
        for (at = 0; (at = find_word(t, n, f->labels[l], at)) != NOPOS; at++) {
            k = skip_spaces(t, n, at + strlen(f->labels[l]));
            if (k >= n || (t[k] != ':' && t[k] != '=') || !segment_start(t, at))
                continue;
            k = skip_spaces(t, n, k + 1);
            *vs = k;
            *ve = line_end(t, n, k);
            while (*ve > *vs && isspace((unsigned char)t[*ve - 1]))
                (*ve)--;
            return 1;
        }
    }
    return 0;
}

/*
 * The next mention of the label at or after *from (any of its forms, the
 * earliest): its span, and *from moved past it. 0 when there is none.
 */
static int mentioned(const struct field *f, const char *t, size_t n, size_t *from, size_t *ms,
                     size_t *me)
{
    size_t best = NOPOS, at;
    int l;

    for (l = 0; l < f->nlabels; l++)
        if ((at = find_word(t, n, f->labels[l], *from)) != NOPOS && at < best) {
            best = at;
            *me = at + strlen(f->labels[l]);
        }
    if (best == NOPOS)
        return 0;
    *ms = best;
    *from = best + 1;
    return 1;
}

/* A labelled string value ends at ", Other label:" on the same line. */
static size_t cut_value(const char *t, size_t vs, size_t ve)
{
    size_t i, k;
    for (i = vs; i < ve; i++) {
        if (t[i] != ',' && t[i] != ';' && t[i] != '|')
            continue;
        for (k = i + 1; k < ve && k < i + 32 && (isalpha((unsigned char)t[k]) || t[k] == ' ' ||
                                                 t[k] == '_'); k++)
            ;
        if (k < ve && (t[k] == ':' || t[k] == '=') && k > i + 1)
            return i;
    }
    return ve;
}

static int word_in(const char *t, size_t s, size_t e, const char *const *words)
{
    int w;
    for (w = 0; words[w]; w++)
        if (find_word(t + s, e - s, words[w], 0) != NOPOS)
            return 1;
    return 0;
}

static const char *const yes_words[] = {"yes", "y", "true", "agree", "agreed", "accept",
                                        "accepted", "ok", "okay", "checked", "sure", "x", NULL};
static const char *const no_words[] = {"no", "n", "false", "disagree", "decline", "declined",
                                       "unchecked", "not", "don't", "never", "none", NULL};

/* 1 yes, 0 no, -1 cannot tell: any negation wins ("I do not agree"). */
static int yes_no(const char *t, size_t s, size_t e)
{
    if (word_in(t, s, e, no_words))
        return 0;
    return word_in(t, s, e, yes_words) ? 1 : -1;
}

static char *option_text(const json_t *o, char *tmp, size_t cap)
{
    if (json_is_string(o))
        return (char *)json_string_value(o);
    if (json_is_integer(o)) {
        snprintf(tmp, cap, "%lld", (long long)json_integer_value(o));
        return tmp;
    }
    if (json_is_real(o)) {
        snprintf(tmp, cap, "%g", json_real_value(o));
        return tmp;
    }
    return NULL;
}

/*
 * Options mentioned in t[s..e), in the order they appear; count returned.
 * order[] holds indexes into the enum array.
 */
static int options_in(const json_t *opts, const char *t, size_t s, size_t e, size_t *order, int cap)
{
    size_t pos[64], i;
    int n = 0, j;

    for (i = 0; i < json_array_size(opts) && n < cap && n < 64; i++) {
        char tmp[64];
        const char *o = option_text(json_array_get(opts, i), tmp, sizeof(tmp));
        size_t at;
        if (!o || !*o || (at = find_word(t + s, e - s, o, 0)) == NOPOS)
            continue;
        for (j = n; j > 0 && pos[j - 1] > at; j--) {
            pos[j] = pos[j - 1];
            order[j] = order[j - 1];
        }
        pos[j] = at;
        order[j] = i;
        n++;
    }
    return n;
}

static int find_enum(struct field *f, const char *t, size_t n)
{
    size_t vs, ve, order[64];
    int k, cnt, rc = 0;

    if (labelled(f, t, n, &vs, &ve)) {
        cnt = options_in(f->options, t, vs, ve, order, 64);
    } else {
        size_t ms, me, from = 0;
        cnt = options_in(f->options, t, 0, n, order, 64);
        if (f->kind == K_ENUM && cnt > 1 && mentioned(f, t, n, &from, &ms, &me))
            cnt = options_in(f->options, t, me, line_end(t, n, me), order, 64);
        else if (f->kind == K_ENUM && cnt > 1)
            cnt = 0;   /* several options and nothing says which: not confident */
    }
    if (!cnt)
        return 0;
    if (f->kind == K_ENUM)
        return cand_add(&f->c, json_deep_copy(json_array_get(f->options, order[0])));
    {
        json_t *arr = json_array();
        for (k = 0; arr && k < cnt; k++)
            if (json_array_append(arr, json_array_get(f->options, order[k])))
                json_decref(arr), arr = NULL;
        rc = cand_add(&f->c, arr);
    }
    return rc;
}

static int scan_kind(struct field *f, const char *t, size_t s, size_t e, int strict)
{
    switch (f->kind) {
    case K_EMAIL: return scan_emails(t, s, e, &f->c);
    case K_PHONE: return scan_phones(t, s, e, strict, &f->c);
    case K_URI: return scan_uris(t, s, e, &f->c);
    case K_DATE: return scan_dates(t, s, e, &f->c);
    case K_DATETIME: return scan_datetimes(t, s, e, &f->c);
    case K_INTEGER: return scan_numbers(t, s, e, 1, strict ? 1 : MAX_CANDS, &f->c);
    case K_NUMBER: return scan_numbers(t, s, e, 0, strict ? 1 : MAX_CANDS, &f->c);
    default: return 0;
    }
}

/* Numbers said with a unit: "42 years old" for an age, "3 guests" for guests. */
static int numbers_before(struct field *f, const char *t, size_t n)
{
    static const char *const units[] = {"years old", "year old", "years", "yrs", "yo", NULL};
    int l, u, rc = 0;

    for (l = 0; l < f->nlabels && !rc; l++) {
        size_t at = 0;
        while (!rc && (at = find_word(t, n, f->labels[l], at)) != NOPOS) {
            size_t k = at;
            while (k > 0 && t[k - 1] == ' ')
                k--;
            if (k < at && k > 0 && isdigit((unsigned char)t[k - 1])) {
                while (k > 0 && (isdigit((unsigned char)t[k - 1]) || t[k - 1] == '.'))
                    k--;
                rc = scan_kind(f, t, k, at, 1);
            }
            at++;
        }
    }
    for (u = 0; units[u] && !rc && has_token(f, age_words); u++) {
        size_t at = 0;
        while (!rc && (at = find_word(t, n, units[u], at)) != NOPOS) {
            size_t k = at;
            while (k > 0 && t[k - 1] == ' ')
                k--;
            if (k < at && k > 0 && isdigit((unsigned char)t[k - 1])) {
                while (k > 0 && isdigit((unsigned char)t[k - 1]))
                    k--;
                rc = scan_kind(f, t, k, at, 1);
            }
            at++;
        }
    }
    return rc;
}

/* "My name is Ada Lovelace": capitalised words after "<label> is". */
static int name_is(struct field *f, const char *t, size_t n)
{
    size_t at = 0, k, end;
    int l;

    for (l = 0; l < f->nlabels; l++)
        for (at = 0; (at = find_word(t, n, f->labels[l], at)) != NOPOS; at++) {
            k = skip_spaces(t, n, at + strlen(f->labels[l]));
            if (k + 3 > n || strncasecmp(t + k, "is ", 3))
                continue;
            k = skip_spaces(t, n, k + 3);
            for (end = k; end < n && isupper((unsigned char)t[end]);) {
                size_t w = end;
                while (w < n && (isalpha((unsigned char)t[w]) || t[w] == '-' || t[w] == '\''))
                    w++;
                end = w;
                if (w + 1 < n && t[w] == ' ' && isupper((unsigned char)t[w + 1]))
                    end = w + 1;
                else
                    break;
            }
            if (end > k)
                return cand_str(&f->c, t + k, end - k);
        }
    return 0;
}

static int find_field(struct field *f, const char *t, size_t n, int unique_kind)
{
    size_t vs, ve, ms, me, from = 0;
    int rc = 0, yn;

    if (f->kind == K_ENUM || f->kind == K_MULTI)
        return find_enum(f, t, n);
    if (labelled(f, t, n, &vs, &ve)) {
        if (f->kind == K_STRING) {
            ve = cut_value(t, vs, ve);
            while (ve > vs && strchr(" \t.,;", t[ve - 1]))
                ve--;
            return ve > vs ? cand_str(&f->c, t + vs, ve - vs) : 0;
        }
        if (f->kind == K_BOOL) {
            size_t we = vs;
            while (we < ve && (isalpha((unsigned char)t[we]) || t[we] == '\''))
                we++;
            yn = yes_no(t, vs, we > vs ? we : ve);
            return yn < 0 ? 0 : cand_add(&f->c, json_boolean(yn));
        }
        if ((rc = scan_kind(f, t, vs, ve, 0)) || f->c.n)
            return rc;
    }
    if (f->kind == K_STRING)
        return has_token(f, name_words) ? name_is(f, t, n) : 0;
    /* near a mention: the first mention that says something */
    while (mentioned(f, t, n, &from, &ms, &me)) {
        size_t ls = line_start(t, ms), le = line_end(t, n, me);
        if (f->kind == K_BOOL) {
            size_t s = ms > ls + 60 ? ms - 60 : ls, e = me + 40 < le ? me + 40 : le;
            if ((yn = yes_no(t, s, e)) >= 0)
                return cand_add(&f->c, json_boolean(yn));
            continue;
        }
        if (f->kind == K_INTEGER || f->kind == K_NUMBER) {
            size_t e = me + 24 < le ? me + 24 : le;
            if ((rc = scan_kind(f, t, me, e, 1)) || f->c.n)
                return rc;
            continue;
        }
        if ((rc = scan_kind(f, t, me, le, 0)) || f->c.n)
            return rc;
    }
    if (f->kind == K_INTEGER || f->kind == K_NUMBER)
        return numbers_before(f, t, n);
    /* A kind that shows itself (an address, a phone number, a date) in a
     * form with one field of that kind. */
    if (unique_kind && f->kind != K_BOOL)
        return scan_kind(f, t, 0, n, 1);
    return 0;
}

/* ---- extract: validation ---- */

/* The property named by the first segment of a JSON Pointer, or -1. */
static int prop_of(const struct field *fs, int nf, const char *ptr)
{
    char key[256];
    size_t k = 0;
    const char *p;
    int i;

    if (ptr[0] != '/')
        return -1;
    for (p = ptr + 1; *p && *p != '/' && k + 1 < sizeof(key); p++) {
        if (*p == '~' && (p[1] == '0' || p[1] == '1'))
            key[k++] = *++p == '0' ? '~' : '/';
        else
            key[k++] = *p;
    }
    key[k] = '\0';
    for (i = 0; i < nf; i++)
        if (!strcmp(fs[i].name, key))
            return i;
    return -1;
}

/* An error for data that is missing rather than wrong. */
static int missing_data(const char *keyword)
{
    return !strcmp(keyword, "required") || !strcmp(keyword, "dependentRequired") ||
           !strcmp(keyword, "minProperties") || !strcmp(keyword, "dependentSchemas");
}

static int build(json_t *obj, struct field *fs, int nf)
{
    int i;
    json_object_clear(obj);
    for (i = 0; i < nf; i++)
        if (fs[i].at < fs[i].c.n && json_object_set(obj, fs[i].name, fs[i].c.v[fs[i].at]))
            return FMD_ENOMEM;
    return 0;
}

/*
 * Settles every field on a candidate that validates, or none: a property's
 * error moves it to its next candidate; an error of the object as a whole
 * (a condition) drops the last field still set, and so on. Missing data is
 * not an error here.
 */
static int settle(const struct schema *s, json_t *obj, struct field *fs, int nf)
{
    int rounds, rc = 0;

    for (rounds = 0; rounds < nf * (MAX_CANDS + 1) + 2; rounds++) {
        struct schema_errors e;
        int bad = 0, whole = 0, i;
        char seen[MAX_PROPS] = {0};
        size_t k;

        if ((rc = build(obj, fs, nf)))
            return rc;
        schema_errors_init(&e);
        rc = schema_check(s, obj, &e);
        if (rc == FMD_ENOMEM) {
            schema_errors_release(&e);
            return rc;
        }
        for (k = 0; rc && k < e.n; k++) {
            int p = prop_of(fs, nf, e.v[k].path);
            if (p >= 0 && !seen[p]) {
                seen[p] = 1;
                fs[p].at++;
                bad++;
            } else if (p < 0 && !missing_data(e.v[k].keyword)) {
                whole++;
            }
        }
        schema_errors_release(&e);
        if (!rc || (!bad && !whole))
            return 0;
        if (!bad)
            for (i = nf - 1; i >= 0; i--)
                if (fs[i].at < fs[i].c.n) {
                    fs[i].at = fs[i].c.n;
                    break;
                }
    }
    return build(obj, fs, nf);   /* not reached with a sane schema */
}

static int task_extract(const struct ai_request *req, struct ai_result *res, struct fmd_err *err)
{
    const char *t = req->input;
    size_t n = strlen(t);
    json_t *doc = NULL, *obj = NULL;
    const json_t *props, *v;
    struct schema *s = NULL;
    struct fmd_err cerr = {0};
    struct field *fs = NULL;
    int nf = 0, i, j, same, rc;
    const char *key;

    if (!req->schema)
        return fmd_errf(err, FMD_EINVAL, "extract needs the form's schema");
    /* a bound on the time taken: the start of a longer text, cut at a character */
    if (n > EXTRACT_MAX)
        for (n = EXTRACT_MAX; n > 0 && ((unsigned char)t[n] & 0xC0) == 0x80; n--)
            ;
    if ((rc = json_parse(req->schema, strlen(req->schema), NULL, &doc, err)))
        goto out;
    if (!json_is_object(doc)) {
        rc = fmd_errf(err, FMD_EINVAL, "the schema is not an object");
        goto out;
    }
    if ((rc = schema_compile(doc, &s, &cerr))) {
        rc = rc == FMD_ENOMEM ? fmd_errf(err, rc, "out of memory")
                              : fmd_errf(err, FMD_EINVAL, "the schema does not compile: %s",
                                         cerr.msg);
        goto out;
    }
    props = json_object_get(doc, "properties");
    if (json_object_size(props) > MAX_PROPS) {
        rc = fmd_errf(err, FMD_EINVAL, "the schema has more than %d properties", MAX_PROPS);
        goto out;
    }
    if (!(obj = json_object()) ||
        (json_object_size(props) &&
         !(fs = fmd_calloc(json_object_size(props), sizeof(*fs))))) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    json_object_foreach((json_t *)props, key, v) {
        struct field *f = &fs[nf];
        f->name = key;
        f->schema = deref(doc, v);
        if (!json_is_object(f->schema))
            continue;
        field_labels(f);
        if ((f->kind = field_kind(f, doc)) != K_NONE)
            nf++;
    }
    for (i = 0; i < nf; i++) {
        for (same = 0, j = 0; j < nf; j++)
            same += fs[j].kind == fs[i].kind;
        if ((rc = find_field(&fs[i], t, n, same == 1))) {
            rc = fmd_errf(err, rc, "out of memory");
            goto out;
        }
    }
    if ((rc = settle(s, obj, fs, nf)) ||
        !(res->text = json_encode(obj)))
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
out:
    for (i = 0; i < nf; i++)
        cands_release(&fs[i].c);
    fmd_free(fs);
    json_decref(obj);
    schema_free(s);
    json_decref(doc);
    return rc;
}

/* ---- classify ---- */

/* The submission's string values, one a line, into b (what does not fit is left out). */
static int gather_strings(const json_t *v, struct buf *b, int depth)
{
    const char *k;
    const json_t *m;
    size_t i;
    int rc = 0;

    if (depth > 32)
        return 0;
    if (json_is_string(v)) {
        if (!(rc = buf_add(b, json_string_value(v), json_string_length(v))))
            rc = buf_addc(b, '\n');
        return rc == FMD_ETOOBIG ? 0 : rc;
    }
    if (json_is_array(v))
        for (i = 0; i < json_array_size(v) && !rc; i++)
            rc = gather_strings(json_array_get(v, i), b, depth + 1);
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, m)
            if ((rc = gather_strings(m, b, depth + 1)))
                break;
    return rc;
}

/*
 * One category's score: 3 for its name, 2 for each keyword (a phrase), 1 for
 * each description word not a stop word, each counted once when it appears
 * in the text as a whole word. The terms that matched go to why.
 */
static int score(const json_t *cat, const char *t, size_t n, struct buf *why)
{
    const char *name = json_get_str(cat, "name"), *desc = json_get_str(cat, "description");
    const json_t *kw = json_object_get(cat, "keywords");
    int sc = 0;
    size_t i, ws, wl;

    buf_reset(why);
    if (name && *name && find_word(t, n, name, 0) != NOPOS) {
        sc += 3;
        buf_printf(why, "%s'%s'", why->len ? ", " : "", name);
    }
    for (i = 0; i < json_array_size(kw); i++) {
        const char *k = json_string_value(json_array_get(kw, i));
        if (k && *k && find_word(t, n, k, 0) != NOPOS) {
            sc += 2;
            buf_printf(why, "%s'%s'", why->len ? ", " : "", k);
        }
    }
    for (i = 0; desc && next_word(desc, strlen(desc), &i, &ws, &wl);) {
        char w[64];
        size_t j;
        int dup = 0;
        if (wl < 3 || wl >= sizeof(w) || stop_word(desc + ws, wl))
            continue;
        memcpy(w, desc + ws, wl);
        w[wl] = '\0';
        /* once per word, however often the description says it */
        for (j = 0; j + wl <= ws && !dup; j++)
            dup = !strncasecmp(desc + j, w, wl) && (j == 0 || !wordc((unsigned char)desc[j - 1])) &&
                  !wordc((unsigned char)desc[j + wl]);
        if (!dup && find_word(t, n, w, 0) != NOPOS) {
            sc += 1;
            buf_printf(why, "%s'%s'", why->len ? ", " : "", w);
        }
    }
    return sc;
}

static int task_classify(const struct ai_request *req, struct ai_result *res, struct fmd_err *err)
{
    json_t *doc = NULL, *data = NULL, *out = NULL;
    const json_t *cats, *best = NULL, *other = NULL;
    struct buf text, why, best_why;
    int rc, best_score = 0;
    size_t i;

    buf_init(&text, 1u << 20);
    buf_init(&why, 1024);
    buf_init(&best_why, 1024);
    if (!req->schema) {
        rc = fmd_errf(err, FMD_EINVAL, "classify needs categories");
        goto out;
    }
    if ((rc = json_parse(req->schema, strlen(req->schema), NULL, &doc, err)))
        goto out;
    cats = json_object_get(doc, "categories");
    if (!json_is_array(cats) || !json_array_size(cats)) {
        rc = fmd_errf(err, FMD_EINVAL, "'categories' must be a non-empty array");
        goto out;
    }
    for (i = 0; i < json_array_size(cats); i++) {
        const char *name = json_get_str(json_array_get(cats, i), "name");
        if (!name || !*name) {
            rc = fmd_errf(err, FMD_EINVAL, "category %zu has no 'name'", i + 1);
            goto out;
        }
        if (!other && !strcasecmp(name, "other"))
            other = json_array_get(cats, i);
    }
    if ((rc = json_parse(req->input, strlen(req->input), NULL, &data, err)))
        goto out;
    if ((rc = gather_strings(data, &text, 0))) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < json_array_size(cats); i++) {
        const json_t *c = json_array_get(cats, i);
        int sc = score(c, text.p, text.len, &why);
        if (sc > best_score) {
            best_score = sc;
            best = c;
            buf_reset(&best_why);
            if (buf_add(&best_why, why.p, why.len)) {
                rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
                goto out;
            }
        }
    }
    buf_reset(&why);
    if (best)
        rc = buf_printf(&why, "matched %s (score %d)", best_why.p, best_score);
    else
        rc = buf_adds(&why, "no keyword matched");
    if (!best)
        best = other ? other : json_array_get(cats, 0);
    if (rc || !(out = json_pack("{s:s, s:s}", "category", json_get_str(best, "name"),
                                "reason", why.p)) ||
        !(res->text = json_encode(out)))
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
out:
    json_decref(out);
    json_decref(data);
    json_decref(doc);
    buf_release(&text);
    buf_release(&why);
    buf_release(&best_why);
    return rc;
}

/* ---- summarize ---- */

struct sentence {
    size_t s, e;
    double score;
    int pick;
};

struct wcount {
    char *w;                 /* lowercase */
    int n;
};

/* Distinct words (or sentences) with counts: a vector and a hash index. */
struct words {
    struct wcount *v;
    size_t n, cap;
    size_t *slot;            /* index + 1 into v, 0 when empty; nslot a power of two */
    size_t nslot;
};

static size_t hash_ci(const char *w, size_t wl)
{
    size_t h = 1469598103934665603u, i;
    for (i = 0; i < wl; i++)
        h = (h ^ (unsigned char)tolower((unsigned char)w[i])) * 1099511628211u;
    return h;
}

/* The slot holding w, or the empty slot where it would go. */
static size_t *wc_slot(const struct words *ws, const char *w, size_t wl)
{
    size_t i = hash_ci(w, wl) & (ws->nslot - 1);
    for (;; i = (i + 1) & (ws->nslot - 1)) {
        size_t k = ws->slot[i];
        if (!k || (strlen(ws->v[k - 1].w) == wl && !strncasecmp(ws->v[k - 1].w, w, wl)))
            return &ws->slot[i];
    }
}

static int wc_rehash(struct words *ws)
{
    size_t ns = ws->nslot ? ws->nslot * 2 : 256, i;
    size_t *old = ws->slot;

    if (!(ws->slot = fmd_calloc(ns, sizeof(*ws->slot)))) {
        ws->slot = old;
        return FMD_ENOMEM;
    }
    fmd_free(old);
    ws->nslot = ns;
    for (i = 0; i < ws->n; i++)
        *wc_slot(ws, ws->v[i].w, strlen(ws->v[i].w)) = i + 1;
    return 0;
}

/* Counts w once more; returns its new count, or -1 for out of memory. */
static int wc_add(struct words *ws, const char *w, size_t wl)
{
    size_t *sl, i;

    if ((ws->n + 1) * 2 > ws->nslot && wc_rehash(ws))
        return -1;
    if (*(sl = wc_slot(ws, w, wl)))
        return ++ws->v[*sl - 1].n;
    if (ws->n == ws->cap) {
        size_t nc = ws->cap ? ws->cap * 2 : 64;
        struct wcount *t = fmd_realloc(ws->v, nc * sizeof(*t));
        if (!t)
            return -1;
        ws->v = t;
        ws->cap = nc;
    }
    if (!(ws->v[ws->n].w = fmd_strndup(w, wl)))
        return -1;
    for (i = 0; i < wl; i++)
        ws->v[ws->n].w[i] = (char)tolower((unsigned char)ws->v[ws->n].w[i]);
    ws->v[ws->n].n = 1;
    *sl = ++ws->n;
    return 1;
}

static int wc_get(const struct words *ws, const char *w, size_t wl)
{
    size_t *sl = ws->nslot ? wc_slot(ws, w, wl) : NULL;
    return sl && *sl ? ws->v[*sl - 1].n : 0;
}

static void wc_release(struct words *ws)
{
    size_t i;
    for (i = 0; i < ws->n; i++)
        fmd_free(ws->v[i].w);
    fmd_free(ws->v);
    fmd_free(ws->slot);
    memset(ws, 0, sizeof(*ws));
}

/* Sentences end at a newline, or at . ! ? followed by a space. */
static int split_sentences(const char *t, size_t n, struct sentence **out, size_t *count,
                           size_t *answers)
{
    size_t i = 0, cap = 0, s;
    struct sentence *v = NULL;

    *count = 0;
    *answers = 0;
    while (i < n) {
        while (i < n && isspace((unsigned char)t[i]))
            i++;
        if (i >= n)
            break;
        s = i;
        if (s == 0 || t[s - 1] == '\n')
            (*answers)++;
        while (i < n && t[i] != '\n' &&
               !(strchr(".!?", t[i]) && (i + 1 == n || isspace((unsigned char)t[i + 1]))))
            i++;
        if (i < n && t[i] != '\n')
            i++;
        if (*count == cap) {
            size_t nc = cap ? cap * 2 : 32;
            struct sentence *nv = fmd_realloc(v, nc * sizeof(*nv));
            if (!nv) {
                fmd_free(v);
                return FMD_ENOMEM;
            }
            v = nv;
            cap = nc;
        }
        v[*count] = (struct sentence){.s = s, .e = i};
        while (v[*count].e > s && isspace((unsigned char)t[v[*count].e - 1]))
            v[*count].e--;
        (*count)++;
    }
    *out = v;
    return 0;
}

static int by_count(const void *a, const void *b)
{
    const struct wcount *x = a, *y = b;
    if (x->n != y->n)
        return y->n - x->n;
    return strcmp(x->w, y->w);
}

static int task_summarize(const struct ai_request *req, struct ai_result *res,
                          struct fmd_err *err)
{
    const char *t = req->input;
    size_t n = strlen(t), ns = 0, answers = 0, words = 0, i, budget, used;
    struct sentence *ss = NULL;
    struct words wc = {0}, seen = {0};
    struct buf out, counts;
    int rc = 0;

    budget = (size_t)(req->limits.max_tokens > 0 ? req->limits.max_tokens : DEFAULT_TOKENS) * 4;
    buf_init(&out, budget);
    buf_init(&counts, budget);
    if ((rc = split_sentences(t, n, &ss, &ns, &answers)))
        goto nomem;
    for (i = 0; i < ns; i++) {
        size_t p = ss[i].s, ws, wl;
        while (p < ss[i].e && next_word(t, ss[i].e, &p, &ws, &wl)) {
            words++;
            if (wl >= 2 && !stop_word(t + ws, wl) && wc_add(&wc, t + ws, wl) < 0)
                goto nomem;
        }
    }
    /* A sentence scores the mean frequency of its content words. */
    for (i = 0; i < ns; i++) {
        size_t p = ss[i].s, ws, wl;
        int content = 0, sum = 0;
        while (p < ss[i].e && next_word(t, ss[i].e, &p, &ws, &wl))
            if (wl >= 2 && !stop_word(t + ws, wl)) {
                sum += wc_get(&wc, t + ws, wl);
                content++;
            }
        ss[i].score = content ? (double)sum / content + 0.1 * (content > 3 ? 3 : content) : 0;
        /* the same answer given twice: once */
        if ((content = wc_add(&seen, t + ss[i].s, ss[i].e - ss[i].s)) < 0)
            goto nomem;
        if (content > 1)
            ss[i].score = 0;
    }
    if (wc.n)
        qsort(wc.v, wc.n, sizeof(*wc.v), by_count);   /* the index is not used after this */
    if (buf_printf(&counts, "(%zu answers, %zu sentences, %zu words", answers, ns, words) ==
        FMD_ENOMEM)
        goto nomem;
    for (i = 0; i < wc.n && i < 5 && wc.v[i].n > 1; i++)
        if (buf_printf(&counts, "%s%s %d", i ? ", " : "; top words: ", wc.v[i].w, wc.v[i].n) ==
            FMD_ENOMEM)
            goto nomem;
    if (buf_adds(&counts, ")") == FMD_ENOMEM)
        goto nomem;
    /* Best sentences first, as long as they fit beside the counts line. */
    used = counts.len + 1;
    for (;;) {
        size_t best = NOPOS, len;
        for (i = 0; i < ns; i++) {
            if (ss[i].pick || ss[i].score <= 0)
                continue;
            len = ss[i].e - ss[i].s;
            if (used + len + 1 <= budget && (best == NOPOS || ss[i].score > ss[best].score))
                best = i;
        }
        if (best == NOPOS)
            break;
        ss[best].pick = 1;
        used += ss[best].e - ss[best].s + 1;
    }
    for (i = 0; i < ns; i++)
        if (ss[i].pick && (buf_add(&out, t + ss[i].s, ss[i].e - ss[i].s) || buf_addc(&out, '\n')))
            goto nomem;
    if (counts.len + out.len > budget) {
        /* a budget too small even for the counts: cut them at a character */
        size_t k = budget > out.len ? budget - out.len : 0;
        while (k > 0 && ((unsigned char)counts.p[k] & 0xC0) == 0x80)
            k--;
        counts.len = k;
        counts.p[k] = '\0';
        res->truncated = 1;
    }
    if (buf_add(&out, counts.p, counts.len))
        goto nomem;
    if (!(res->text = buf_detach(&out, NULL)))
        goto nomem;
    goto out;
nomem:
    rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
out:
    wc_release(&wc);
    wc_release(&seen);
    fmd_free(ss);
    buf_release(&out);
    buf_release(&counts);
    return rc;
}

/* ---- generate_form ---- */

struct gen {
    json_t *fields;
    const char *t;
    size_t n;
};

static int has_field(const json_t *fields, const char *name)
{
    size_t i;
    for (i = 0; i < json_array_size(fields); i++)
        if (!strcmp(json_get_str(json_array_get(fields, i), "name"), name))
            return 1;
    return 0;
}

/* The clause around t[at]: up to a comma, " and " or the sentence's end. */
static void clause_of(const char *t, size_t n, size_t at, size_t *s, size_t *e)
{
    *s = at;
    while (*s > 0 && !strchr(".!?\n;,", t[*s - 1]) &&
           !(*s >= 5 && !strncasecmp(t + *s - 5, " and ", 5)))
        (*s)--;
    *e = at;
    while (*e < n && !strchr(".!?\n;,", t[*e]) && strncasecmp(t + *e, " and ", 5))
        (*e)++;
}

/* The sentence around t[at]. */
static void sentence_of(const char *t, size_t n, size_t at, size_t *s, size_t *e)
{
    *s = at;
    while (*s > 0 && !strchr(".!?\n;", t[*s - 1]))
        (*s)--;
    *e = at;
    while (*e < n && !strchr(".!?\n;", t[*e]))
        (*e)++;
}

static const char *const required_words[] = {"required", "mandatory", "must", "compulsory", NULL};

/* A name made of the words t[s..e): lowercase, underscores, unique. */
static void make_name(const json_t *fields, const char *t, size_t s, size_t e, char *out,
                      size_t cap)
{
    size_t k = 0, i;
    int n;

    for (i = s; i < e && k + 1 < cap && k < 40; i++) {
        unsigned char c = (unsigned char)t[i];
        if (isalnum(c))
            out[k++] = (char)tolower(c);
        else if (k && out[k - 1] != '_')
            out[k++] = '_';
    }
    while (k && out[k - 1] == '_')
        k--;
    if (!k || isdigit((unsigned char)out[0])) {
        memcpy(out, "field", 5);
        k = 5;
    }
    out[k] = '\0';
    for (n = 2; has_field(fields, out) && n < 1000; n++) {
        char base[48];
        size_t bl = k < 40 ? k : 40;
        memcpy(base, out, bl);
        base[bl] = '\0';
        snprintf(out, cap, "%s_%d", base, n);
    }
}

static int add_field(struct gen *g, const char *name, const char *type, const char *label,
                     size_t at, json_t *extra)
{
    size_t s, e;
    json_t *f;
    char nm[64];

    make_name(g->fields, name, 0, strlen(name), nm, sizeof(nm));
    clause_of(g->t, g->n, at, &s, &e);
    f = json_pack("{s:s, s:s, s:s}", "name", nm, "type", type, "label", label);
    if (!f)
        goto nomem;
    if (word_in(g->t, s, e, required_words) && json_object_set_new(f, "required", json_true()))
        goto nomem;
    if (extra && json_object_update(f, extra))
        goto nomem;
    json_decref(extra);
    return json_array_append_new(g->fields, f) ? FMD_ENOMEM : 0;
nomem:
    json_decref(f);
    json_decref(extra);
    return FMD_ENOMEM;
}

struct gen_rule {
    const char *const words[6];    /* any of them */
    const char *name, *type, *label;
    const char *const not_after[5];   /* "email address" is no postal address */
};

/* In this order; a field is added once, where the description first asks. */
static const struct gen_rule gen_rules[] = {
    {{"full name", "name", NULL}, "name", "text", "Name", {NULL}},
    {{"email", "e-mail", "email address", NULL}, "email", "email", "Email", {NULL}},
    {{"phone", "telephone", "mobile", "phone number", NULL}, "phone", "phone", "Phone", {NULL}},
    {{"date of birth", "birthday", "birth date", "dob", NULL}, "date_of_birth", "date",
     "Date of birth", {NULL}},
    {{"age", NULL}, "age", "integer", "Age", {NULL}},
    {{"website", "url", "homepage", NULL}, "website", "url", "Website", {NULL}},
    {{"address", NULL}, "address", "textarea", "Address", {"email", "e-mail", "mail", "web", NULL}},
    {{"rating", "rate", "stars", NULL}, "rating", "rating", "Rating", {NULL}},
    {{"comments", "comment", NULL}, "comments", "textarea", "Comments", {NULL}},
    {{"message", NULL}, "message", "textarea", "Message", {NULL}},
    {{"feedback", NULL}, "feedback", "textarea", "Feedback", {NULL}},
    {{"notes", NULL}, "notes", "textarea", "Notes", {NULL}},
};

/* The word before t[at] is one of words. */
static int after_word(const char *t, size_t at, const char *const *words)
{
    size_t e = at, s;
    int w;
    while (e > 0 && t[e - 1] == ' ')
        e--;
    for (s = e; s > 0 && (wordc((unsigned char)t[s - 1]) || t[s - 1] == '-'); s--)
        ;
    for (w = 0; words[w]; w++)
        if (strlen(words[w]) == e - s && !strncasecmp(t + s, words[w], e - s))
            return 1;
    return 0;
}

static size_t first_of(const char *t, size_t n, const struct gen_rule *gr)
{
    size_t best = NOPOS, at;
    int w;
    for (w = 0; gr->words[w]; w++)
        for (at = 0; (at = find_word(t, n, gr->words[w], at)) != NOPOS && at < best; at++)
            if (!after_word(t, at, gr->not_after)) {
                best = at;
                break;
            }
    return best;
}

/* The last content word before t[at]: "favourite colour, one of" -> colour. */
static int word_before(const char *t, size_t from, size_t at, size_t *ws, size_t *wl)
{
    size_t p = from, s, l;
    int found = 0;
    while (p < at && next_word(t, at, &p, &s, &l))
        if (!stop_word(t + s, l) && !isdigit((unsigned char)t[s])) {
            *ws = s;
            *wl = l;
            found = 1;
        }
    return found;
}

/* Length of " from ", " between ", " one of "... at t[s], or 0. */
static size_t connector(const char *t, size_t s, size_t e)
{
    static const char *const words[] = {" from ", " between ", " one of ", " any of ",
                                        " among ", NULL};
    int w;
    for (w = 0; words[w]; w++)
        if (s + strlen(words[w]) <= e && !strncasecmp(t + s, words[w], strlen(words[w])))
            return strlen(words[w]);
    return 0;
}

/*
 * "choose one of red, green or blue", "select any of ...", "pick from a, b,
 * c": a select (multiselect for "any of", "all that apply", "multiple")
 * named by the word before. Options end with the sentence.
 */
static int gen_choices(struct gen *g)
{
    static const char *const triggers[] = {"one of", "choose from", "choose between", "choose",
                                           "select from", "select", "pick from", "pick",
                                           "any of", "either", NULL};
    static const char *const fillers[] = {"one of", "any of", "from", "between", "either",
                                          "one", "an", "a", "the", NULL};
    size_t at = 0;
    int rc = 0, tr;

    while (!rc) {
        size_t best = NOPOS, blen = 0, s, p, ws = 0, wl = 0, ss, se, cs, ce;
        json_t *opts = NULL, *extra;
        int multi, named;
        char nm[64];

        for (tr = 0; triggers[tr]; tr++) {
            size_t a = find_word(g->t, g->n, triggers[tr], at);
            if (a != NOPOS && a < best)
                best = a, blen = strlen(triggers[tr]);
        }
        if (best == NOPOS)
            break;
        at = best + blen;
        sentence_of(g->t, g->n, best, &ss, &se);
        multi = word_in(g->t, ss, se, (const char *const[]){"any of", "all that apply",
                                                             "multiple", "several", NULL});
        /* "choose a t-shirt size: S, M or L", "select your department from A, B":
         * named by the words before the colon or the "from" */
        for (s = at; s < se && g->t[s] != ':' && g->t[s] != ',' && !connector(g->t, s, se);
             s++)
            ;
        named = s < se && g->t[s] != ',' && word_before(g->t, at, s, &ws, &wl);
        s = named ? s + (g->t[s] == ':' ? 1 : connector(g->t, s, se)) : at;
        for (tr = 0; fillers[tr];) {
            s = skip_spaces(g->t, se, s);
            if (find_word(g->t + s, se - s, fillers[tr], 0) == 0)
                s += strlen(fillers[tr]), tr = 0;
            else
                tr++;
        }
        /* options: from there to the sentence end, split on , / "or" / "and" */
        while (s < se && (g->t[s] == ':' || g->t[s] == ' ' || g->t[s] == '('))
            s++;
        if (!(opts = json_array()))
            return FMD_ENOMEM;
        for (p = s; p <= se && !rc;) {
            size_t q = p, os, oe;
            while (q < se && g->t[q] != ',' && g->t[q] != '/' && g->t[q] != ')' &&
                   !(q + 4 <= se && !strncasecmp(g->t + q, " or ", 4)) &&
                   !(q + 5 <= se && !strncasecmp(g->t + q, " and ", 5)))
                q++;
            os = p, oe = q;
            while (os < oe && isspace((unsigned char)g->t[os]))
                os++;
            if (oe - os > 4 && !strncasecmp(g->t + os, "and ", 4))
                os += 4;
            if (oe - os > 3 && !strncasecmp(g->t + os, "or ", 3))
                os += 3;
            while (oe > os && (isspace((unsigned char)g->t[oe - 1]) || g->t[oe - 1] == '"'))
                oe--;
            while (os < oe && g->t[os] == '"')
                os++;
            if (oe > os && oe - os <= 60) {
                size_t j;
                int dup = 0;
                for (j = 0; j < json_array_size(opts) && !dup; j++)
                    dup = !strncasecmp(json_string_value(json_array_get(opts, j)), g->t + os,
                                       oe - os) &&
                          strlen(json_string_value(json_array_get(opts, j))) == oe - os;
                if (!dup && json_array_size(opts) < 50 && utf8_ok(g->t + os, oe - os) &&
                    json_array_append_new(opts, json_stringn_nocheck(g->t + os, oe - os)))
                    rc = FMD_ENOMEM;
            }
            if (q >= se || g->t[q] == ')')
                break;
            p = q + (g->t[q] == ',' || g->t[q] == '/' ? 1 : g->t[q + 1] == 'o' ? 4 : 5);
        }
        if (rc || json_array_size(opts) < 2) {
            json_decref(opts);
            continue;
        }
        clause_of(g->t, g->n, best, &cs, &ce);
        if (named || word_before(g->t, cs, best, &ws, &wl))
            make_name(g->fields, g->t, ws, ws + wl, nm, sizeof(nm));
        else
            make_name(g->fields, "choice", 0, 6, nm, sizeof(nm));
        if (!(extra = json_pack("{s:o}", "options", opts)))
            return FMD_ENOMEM;
        {
            char label[64];
            fmd_strlcpy(label, nm, sizeof(label));
            label[0] = (char)toupper((unsigned char)label[0]);
            rc = add_field(g, nm, multi ? "multiselect" : "select", label, best, extra);
        }
        at = se;
    }
    return rc;
}

/*
 * Yes/no questions become checkboxes: "(yes/no)" named by the word before
 * it; "whether ...", "subscribe to ..." and questions such as "would you
 * recommend us?" by the first content word after; any sentence that speaks
 * of agreeing or consent gives "agree_terms" or "consent".
 */
static const struct {
    const char *words;
    int name_after;          /* the name is the first content word after */
    int question;            /* only in a sentence ending with '?' */
} yes_no_triggers[] = {
    {"yes/no", 0, 0}, {"yes or no", 0, 0}, {"y/n", 0, 0}, {"whether", 1, 0},
    {"agree", 1, 0}, {"consent", 1, 0}, {"opt in", 1, 0}, {"subscribe", 1, 0},
    {"would you", 1, 1}, {"do you", 1, 1}, {"will you", 1, 1}, {"are you", 1, 1},
    {"have you", 1, 1}, {"did you", 1, 1}, {"is it", 1, 1},
};

static const char *const yes_no_skip[] = {"they", "like", "want", "wants", "receive", "get",
                                          "join", "be", "ever", NULL};

static int gen_yes_no(struct gen *g)
{
    size_t at = 0, ntr = sizeof(yes_no_triggers) / sizeof(yes_no_triggers[0]), tr;
    int rc = 0;

    while (!rc) {
        size_t best = NOPOS, which = 0, ss, se, ws = 0, wl = 0, p, s2, l2;
        char nm[64], label[64];
        int found = 0;

        for (tr = 0; tr < ntr; tr++) {
            size_t a = at;
            while ((a = find_word(g->t, g->n, yes_no_triggers[tr].words, a)) != NOPOS) {
                sentence_of(g->t, g->n, a, &ss, &se);
                if (!yes_no_triggers[tr].question || (se < g->n && g->t[se] == '?'))
                    break;
                a++;
            }
            if (a != NOPOS && a < best)
                best = a, which = tr;
        }
        if (best == NOPOS)
            break;
        sentence_of(g->t, g->n, best, &ss, &se);
        p = best + strlen(yes_no_triggers[which].words);
        if (find_word(g->t + ss, se - ss, "agree", 0) != NOPOS) {
            make_name(g->fields, "agree_terms", 0, 11, nm, sizeof(nm));
        } else if (find_word(g->t + ss, se - ss, "consent", 0) != NOPOS) {
            make_name(g->fields, "consent", 0, 7, nm, sizeof(nm));
        } else {
            if (!yes_no_triggers[which].name_after)
                found = word_before(g->t, ss, best, &ws, &wl);
            while (!found && p < se && next_word(g->t, se, &p, &s2, &l2))
                if (!stop_word(g->t + s2, l2) && !word_in(g->t, s2, s2 + l2, yes_no_skip))
                    ws = s2, wl = l2, found = 1;
            if (found)
                make_name(g->fields, g->t, ws, ws + wl, nm, sizeof(nm));
            else
                make_name(g->fields, "confirm", 0, 7, nm, sizeof(nm));
        }
        fmd_strlcpy(label, nm, sizeof(label));
        label[0] = (char)toupper((unsigned char)label[0]);
        for (p = 1; label[p]; p++)
            if (label[p] == '_')
                label[p] = ' ';
        rc = add_field(g, nm, "checkbox", label, best, NULL);
        at = se > best ? se : best + 1;
    }
    return rc;
}

static int task_generate(const struct ai_request *req, struct ai_result *res,
                         struct fmd_err *err)
{
    struct gen g = {.t = req->input, .n = strlen(req->input)};
    size_t r, at;
    int rc = 0;

    if (!(g.fields = json_array()))
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    for (r = 0; r < sizeof(gen_rules) / sizeof(gen_rules[0]) && !rc; r++) {
        const struct gen_rule *gr = &gen_rules[r];
        if ((at = first_of(g.t, g.n, gr)) == NOPOS || has_field(g.fields, gr->name))
            continue;
        /* "phone number" is a phone, not a number */
        rc = add_field(&g, gr->name, gr->type, gr->label, at, NULL);
    }
    /* "number of guests", "how many children": an integer named by the noun */
    for (at = 0; !rc && (at = find_word(g.t, g.n, "number of", at)) != NOPOS; at++) {
        size_t p = at + 9, ws, wl;
        char nm[64];
        if (next_word(g.t, g.n, &p, &ws, &wl)) {
            json_t *extra = json_pack("{s:i}", "min", 0);
            char label[80];
            snprintf(label, sizeof(label), "Number of %.*s", (int)(wl < 60 ? wl : 60), g.t + ws);
            make_name(g.fields, g.t, ws, ws + wl, nm, sizeof(nm));
            if (!extra) {
                rc = FMD_ENOMEM;
            } else if (!utf8_ok(label, strlen(label))) {
                json_decref(extra);   /* the noun is not text: no field (found by fuzzing) */
            } else {
                rc = add_field(&g, nm, "integer", label, at, extra);
            }
        }
    }
    if (!rc)
        rc = gen_choices(&g);
    if (!rc)
        rc = gen_yes_no(&g);
    if (!rc && !json_array_size(g.fields))
        rc = add_field(&g, "response", "textarea", "Response", 0, NULL);
    if (rc || !(res->text = json_encode(g.fields)))
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
    json_decref(g.fields);
    return rc;
}

/* ---- the provider ---- */

static int rules_open(struct ai_provider *p, const char *config, int threads, struct fmd_err *err)
{
    p->impl = NULL;   /* no state: every answer comes from the request alone */
    return 0;
}

static void rules_close(struct ai_provider *p)
{
    p->impl = NULL;
}

static int rules_complete(struct ai_provider *p, const struct ai_request *req,
                          struct ai_result *res, struct fmd_err *err)
{
    uint64_t t0 = clock_mono_ns();
    int rc;

    memset(res, 0, sizeof(*res));
    if (!req->task)
        return fmd_errf(err, FMD_EINVAL, "no task");
    if (!req->input)
        return fmd_errf(err, FMD_EINVAL, "no input for task '%s'", req->task);
    if (!strcmp(req->task, "extract"))
        rc = task_extract(req, res, err);
    else if (!strcmp(req->task, "classify"))
        rc = task_classify(req, res, err);
    else if (!strcmp(req->task, "summarize"))
        rc = task_summarize(req, res, err);
    else if (!strcmp(req->task, "generate_form"))
        rc = task_generate(req, res, err);
    else
        rc = fmd_errf(err, FMD_EINVAL, "unknown task '%.64s'", req->task);
    if (rc) {
        ai_result_release(res);
        memset(res, 0, sizeof(*res));
        return rc;
    }
    res->generate_seconds = (double)(clock_mono_ns() - t0) / 1e9;
    return 0;
}

static const char *rules_model_id(struct ai_provider *p)
{
    return "rules/1";
}

const struct ai_provider_vtable ai_rules_provider = {
    .version = 1,
    .name = "rules",
    .caps = 0,
    .open = rules_open,
    .close = rules_close,
    .complete = rules_complete,
    .model_id = rules_model_id,
};
