/*
 * idna.c - host names for the "hostname" and "idn-hostname" formats: RFC 1123
 * labels, A-labels (RFC 3492 Punycode behind "xn--") and U-labels checked
 * against IDNA 2008 (RFC 5891, 5892, 5893).
 *
 * A label is valid when it is an LDH label (letters, digits, hyphens, not at
 * either end, no "--" in the 3rd and 4th positions unless "xn--"), or an
 * A-label whose Punycode decodes, holds a non-ASCII code point, re-encodes to
 * itself and is a valid U-label, or (idn-hostname only) a U-label: code points
 * PVALID (approximated from Unicode general categories, with RFC 5892's
 * exceptions), CONTEXTJ / CONTEXTO rules met (appendix A), no leading
 * combining mark, an A-label of at most 63 octets. When any label is
 * right-to-left, every label must pass the Bidi rule (RFC 5893 section 2).
 *
 * Unicode properties (categories, scripts, Bidi classes) come from PCRE2's
 * tables: one pattern per property set, compiled once, matched against a
 * single code point. Virama (canonical combining class 9) is a short table.
 */
#include "schema/schema_int.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "core/banned.h"

#define MAX_LABEL_CPS 256
#define PUNY_BASE 36

enum { P_MARK, P_PVALID, P_GREEK, P_HEBREW, P_HKH, P_JOINING, P_BIDI, P_COUNT };

/* Bidi classes, in the order of the capture groups of the P_BIDI pattern. */
enum { B_L = 1, B_R, B_AL, B_AN, B_EN, B_ES, B_CS, B_ET, B_ON, B_BN, B_NSM };

static const char *const patterns[P_COUNT] = {
    [P_MARK] = "\\p{M}",
    [P_PVALID] = "[\\p{Ll}\\p{Lo}\\p{Lm}\\p{Mn}\\p{Mc}\\p{Nd}]",
    [P_GREEK] = "\\p{Greek}",
    [P_HEBREW] = "\\p{Hebrew}",
    [P_HKH] = "[\\p{Hiragana}\\p{Katakana}\\p{Han}]",
    [P_JOINING] = "(?=\\p{L})[\\p{Arabic}\\p{Syriac}\\p{Nko}\\p{Mongolian}]",
    [P_BIDI] = "(\\p{bc=L})|(\\p{bc=R})|(\\p{bc=AL})|(\\p{bc=AN})|(\\p{bc=EN})|(\\p{bc=ES})|"
               "(\\p{bc=CS})|(\\p{bc=ET})|(\\p{bc=ON})|(\\p{bc=BN})|(\\p{bc=NSM})",
};

static pcre2_code *codes[P_COUNT];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void compile_all(void)
{
    size_t i;

    for (i = 0; i < P_COUNT; i++) {
        int ec;
        PCRE2_SIZE off;
        codes[i] = pcre2_compile((PCRE2_SPTR)patterns[i], PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &ec, &off, NULL);
    }
}

static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The group of property set p that cp matches: 0 none, 1.. for P_BIDI, -1 error. */
static int prop(int p, uint32_t cp, pcre2_match_data *md)
{
    char buf[4];
    size_t n;
    int rc;

    pthread_once(&once, compile_all);
    if (!codes[p] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    n = utf8_put(cp, buf);
    rc = pcre2_match(codes[p], (PCRE2_SPTR)buf, n, 0, 0, md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc < 0)
        return -1;
    if (p != P_BIDI)
        return 1;
    return rc - 1;   /* the last group set is the one that matched */
}

static int is_virama(uint32_t cp)
{
    static const uint32_t v[] = {
        0x094D, 0x09CD, 0x0A4D, 0x0ACD, 0x0B4D, 0x0BCD, 0x0C4D, 0x0CCD, 0x0D3B, 0x0D3C,
        0x0D4D, 0x0DCA, 0x0E3A, 0x0EBA, 0x0F84, 0x1039, 0x103A, 0x1714, 0x1715, 0x1734,
        0x17D2, 0x1A60, 0x1B44, 0x1BAA, 0x1BAB, 0x1BF2, 0x1BF3, 0x2D7F, 0xA806, 0xA82C,
        0xA8C4, 0xA953, 0xA9C0, 0xAAF6, 0xABED, 0x10A3F, 0x11046, 0x11070, 0x1107F, 0x110B9,
        0x11133, 0x11134, 0x111C0, 0x11235, 0x112EA, 0x1134D, 0x11442, 0x114C2, 0x115BF,
        0x1163F, 0x116B6, 0x1172B, 0x11839, 0x1193D, 0x1193E, 0x119E0, 0x11A34, 0x11A47,
        0x11A99, 0x11C3F, 0x11D44, 0x11D45, 0x11D97,
    };
    size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        if (v[i] == cp)
            return 1;
    return 0;
}

/* ---- Punycode (RFC 3492) ---- */

static uint32_t adapt(uint32_t delta, uint32_t npoints, int first)
{
    uint32_t k = 0;

    delta = first ? delta / 700 : delta / 2;
    delta += delta / npoints;
    while (delta > ((PUNY_BASE - 1) * 26) / 2) {
        delta /= PUNY_BASE - 1;
        k += PUNY_BASE;
    }
    return k + (PUNY_BASE * delta) / (delta + 38);
}

static int digit_of(char c)
{
    return c >= '0' && c <= '9' ? c - '0' + 26
         : c >= 'a' && c <= 'z' ? c - 'a' : c >= 'A' && c <= 'Z' ? c - 'A' : -1;
}

/* Decodes s[0..n) into cp (at most MAX_LABEL_CPS); the count, or -1. */
static int puny_decode(const char *s, size_t n, uint32_t *cp)
{
    const char *dash = NULL;
    uint32_t i = 0, bias = 72, code = 128;
    size_t k, out = 0, in;

    for (k = 0; k < n; k++)
        if (s[k] == '-')
            dash = s + k;
    if (dash) {
        for (k = 0; s + k < dash; k++) {
            if ((unsigned char)s[k] >= 0x80 || out >= MAX_LABEL_CPS)
                return -1;
            cp[out++] = (unsigned char)s[k];
        }
        in = (size_t)(dash - s) + 1;
    } else {
        in = 0;
    }
    while (in < n) {
        uint32_t oldi = i, w = 1, kk;
        for (kk = PUNY_BASE;; kk += PUNY_BASE) {
            int d;
            uint32_t t;
            if (in >= n || (d = digit_of(s[in++])) < 0)
                return -1;
            if ((uint32_t)d > (0xFFFFFFFFu - i) / w)
                return -1;
            i += (uint32_t)d * w;
            t = kk <= bias ? 1 : kk >= bias + 26 ? 26 : kk - bias;
            if ((uint32_t)d < t)
                break;
            if (w > 0xFFFFFFFFu / (PUNY_BASE - t))
                return -1;
            w *= PUNY_BASE - t;
        }
        bias = adapt(i - oldi, (uint32_t)out + 1, oldi == 0);
        if (i / (out + 1) > 0x10FFFF - code)
            return -1;
        code += i / (uint32_t)(out + 1);
        i %= (uint32_t)(out + 1);
        if (out >= MAX_LABEL_CPS || code > 0x10FFFF)
            return -1;
        memmove(cp + i + 1, cp + i, (out - i) * sizeof(*cp));
        cp[i++] = code;
        out++;
    }
    return (int)out;
}

static char digit_char(uint32_t d)
{
    return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

/* Encodes cp[0..n) into out[cap]; its length, or -1 if it does not fit. */
static int puny_encode(const uint32_t *cp, size_t n, char *out, size_t cap)
{
    uint32_t code = 128, delta = 0, bias = 72, h, b = 0;
    size_t k, len = 0;

    for (k = 0; k < n; k++)
        if (cp[k] < 0x80) {
            if (len >= cap)
                return -1;
            out[len++] = (char)cp[k];
            b++;
        }
    h = b;
    if (b > 0) {
        if (len >= cap)
            return -1;
        out[len++] = '-';
    }
    while (h < n) {
        uint32_t m = 0xFFFFFFFFu;
        for (k = 0; k < n; k++)
            if (cp[k] >= code && cp[k] < m)
                m = cp[k];
        delta += (m - code) * (h + 1);
        code = m;
        for (k = 0; k < n; k++) {
            if (cp[k] < code)
                delta++;
            if (cp[k] == code) {
                uint32_t q = delta, kk;
                for (kk = PUNY_BASE;; kk += PUNY_BASE) {
                    uint32_t t = kk <= bias ? 1 : kk >= bias + 26 ? 26 : kk - bias;
                    if (q < t)
                        break;
                    if (len >= cap)
                        return -1;
                    out[len++] = digit_char(t + (q - t) % (PUNY_BASE - t));
                    q = (q - t) / (PUNY_BASE - t);
                }
                if (len >= cap)
                    return -1;
                out[len++] = digit_char(q);
                bias = adapt(delta, h + 1, h == b);
                delta = 0;
                h++;
            }
        }
        delta++;
        code++;
    }
    return (int)len;
}

/* ---- labels ---- */

static int is_ldh(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* RFC 5892 appendix A: the contextual rules. */
static int context_ok(const uint32_t *cp, size_t n, size_t i, pcre2_match_data *md)
{
    size_t k;

    switch (cp[i]) {
    case 0x200C:   /* ZERO WIDTH NON-JOINER */
        if (i > 0 && is_virama(cp[i - 1]))
            return 1;
        for (k = i; k > 0 && prop(P_MARK, cp[k - 1], md) == 1; k--)
            ;
        if (k == 0 || prop(P_JOINING, cp[k - 1], md) != 1)
            return 0;
        for (k = i + 1; k < n && prop(P_MARK, cp[k], md) == 1; k++)
            ;
        return k < n && prop(P_JOINING, cp[k], md) == 1;
    case 0x200D:   /* ZERO WIDTH JOINER */
        return i > 0 && is_virama(cp[i - 1]);
    case 0x00B7:   /* MIDDLE DOT */
        return i > 0 && i + 1 < n && cp[i - 1] == 'l' && cp[i + 1] == 'l';
    case 0x0375:   /* GREEK LOWER NUMERAL SIGN (KERAIA) */
        return i + 1 < n && prop(P_GREEK, cp[i + 1], md) == 1;
    case 0x05F3:   /* HEBREW PUNCTUATION GERESH */
    case 0x05F4:   /* HEBREW PUNCTUATION GERSHAYIM */
        return i > 0 && prop(P_HEBREW, cp[i - 1], md) == 1;
    case 0x30FB:   /* KATAKANA MIDDLE DOT */
        for (k = 0; k < n; k++)
            if (cp[k] != 0x30FB && prop(P_HKH, cp[k], md) == 1)
                return 1;
        return 0;
    }
    if (cp[i] >= 0x0660 && cp[i] <= 0x0669) {   /* ARABIC-INDIC DIGITS */
        for (k = 0; k < n; k++)
            if (cp[k] >= 0x06F0 && cp[k] <= 0x06F9)
                return 0;
    } else if (cp[i] >= 0x06F0 && cp[i] <= 0x06F9) {   /* EXTENDED ARABIC-INDIC */
        for (k = 0; k < n; k++)
            if (cp[k] >= 0x0660 && cp[k] <= 0x0669)
                return 0;
    }
    return 1;
}

static int is_contextual(uint32_t c)
{
    return c == 0x200C || c == 0x200D || c == 0x00B7 || c == 0x0375 || c == 0x05F3 ||
           c == 0x05F4 || c == 0x30FB || (c >= 0x0660 && c <= 0x0669) ||
           (c >= 0x06F0 && c <= 0x06F9);
}

/* PVALID, by category with RFC 5892 section 2.6's exceptions. */
static int pvalid(uint32_t c, pcre2_match_data *md)
{
    static const uint32_t yes[] = {0x00DF, 0x03C2, 0x06FD, 0x06FE, 0x0F0B, 0x3007};
    static const uint32_t no[] = {0x0640, 0x07FA, 0x302E, 0x302F, 0x3031, 0x3032, 0x3033,
                                  0x3034, 0x3035, 0x303B};
    size_t i;

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (c == yes[i])
            return 1;
    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (c == no[i])
            return 0;
    if (c == '-' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return 1;
    return c >= 0x80 && prop(P_PVALID, c, md) == 1;
}

/* A U-label's own rules (not Bidi); cp[0..n). */
static int ulabel_ok(const uint32_t *cp, size_t n, pcre2_match_data *md)
{
    size_t i;

    if (n == 0 || cp[0] == '-' || cp[n - 1] == '-' || (n >= 4 && cp[2] == '-' && cp[3] == '-'))
        return 0;
    if (prop(P_MARK, cp[0], md) != 0)
        return 0;
    for (i = 0; i < n; i++) {
        if (is_contextual(cp[i]) ? !context_ok(cp, n, i, md) : !pvalid(cp[i], md))
            return 0;
    }
    return 1;
}

/* RFC 5893 section 2, on one label of a domain with right-to-left labels. */
static int bidi_ok(const uint32_t *cp, size_t n, pcre2_match_data *md)
{
    int first = prop(P_BIDI, cp[0], md), rtl, has_en = 0, has_an = 0, last = 0;
    size_t i;

    if (first != B_L && first != B_R && first != B_AL)
        return 0;
    rtl = first != B_L;
    for (i = 0; i < n; i++) {
        int b = prop(P_BIDI, cp[i], md);
        if (rtl ? !(b == B_R || b == B_AL || b == B_AN || b == B_EN || b == B_ES || b == B_CS ||
                    b == B_ET || b == B_ON || b == B_BN || b == B_NSM)
                : !(b == B_L || b == B_EN || b == B_ES || b == B_CS || b == B_ET || b == B_ON ||
                    b == B_BN || b == B_NSM))
            return 0;
        has_en |= b == B_EN;
        has_an |= b == B_AN;
        if (b != B_NSM)
            last = b;
    }
    if (rtl)
        return (last == B_R || last == B_AL || last == B_EN || last == B_AN) &&
               !(has_en && has_an);
    return last == B_L || last == B_EN;
}

static int is_rtl_label(const uint32_t *cp, size_t n, pcre2_match_data *md)
{
    size_t i;

    for (i = 0; i < n; i++) {
        int b = prop(P_BIDI, cp[i], md);
        if (b == B_R || b == B_AL || b == B_AN)
            return 1;
    }
    return 0;
}

/* Decodes UTF-8 s[0..n) (valid, from Jansson) into cp; the count, or -1. */
static int utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, k = 0;

    while (i < n) {
        uint32_t c = u[i];
        int more = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
        if (k >= MAX_LABEL_CPS)
            return -1;
        c = more == 0 ? c : more == 1 ? c & 0x1F : more == 2 ? c & 0x0F : c & 0x07;
        while (more--) {
            i++;
            if (i >= n || (u[i] & 0xC0) != 0x80)
                return -1;
            c = (c << 6) | (u[i] & 0x3F);
        }
        cp[k++] = c;
        i++;
    }
    return (int)k;
}

/* Length of the label separator at s: "." or U+3002, U+FF0E, U+FF61 (idn); else 0. */
static size_t separator(const char *s, size_t n, int idn)
{
    if (s[0] == '.')
        return 1;
    if (!idn || n < 3)
        return 0;
    if (memcmp(s, "\xe3\x80\x82", 3) == 0 || memcmp(s, "\xef\xbc\x8e", 3) == 0 ||
        memcmp(s, "\xef\xbd\xa1", 3) == 0)
        return 3;
    return 0;
}

struct label {
    uint32_t cp[MAX_LABEL_CPS];
    int n;                  /* code points; -1: ASCII LDH label, not decoded */
    size_t ace;             /* octets of its ASCII (A-label) form */
};

/* Checks one label s[0..n) and decodes it into l. 1 valid, 0 not. */
static int label_ok(const char *s, size_t n, int idn, struct label *l, pcre2_match_data *md)
{
    char again[80];
    size_t i;
    int ascii = 1, len;

    for (i = 0; i < n; i++)
        ascii &= (unsigned char)s[i] < 0x80;
    if (n == 0)
        return 0;
    if (ascii && n >= 4 && (s[0] | 0x20) == 'x' && (s[1] | 0x20) == 'n' && s[2] == '-' &&
        s[3] == '-') {
        if (n > 63 || (l->n = puny_decode(s + 4, n - 4, l->cp)) <= 0)
            return 0;
        for (i = 0, ascii = 1; i < (size_t)l->n; i++)
            ascii &= l->cp[i] < 0x80;
        len = puny_encode(l->cp, (size_t)l->n, again, sizeof(again));
        if (ascii || len != (int)n - 4 || strncasecmp(again, s + 4, n - 4) != 0)
            return 0;
        l->ace = n;
        return ulabel_ok(l->cp, (size_t)l->n, md);
    }
    if (ascii) {
        l->n = -1;
        l->ace = n;
        for (i = 0; i < n; i++)
            if (!is_ldh(s[i]))
                return 0;
        return n <= 63 && s[0] != '-' && s[n - 1] != '-' && !(n >= 4 && s[2] == '-' && s[3] == '-');
    }
    if (!idn || (l->n = utf8_decode(s, n, l->cp)) <= 0)
        return 0;
    len = puny_encode(l->cp, (size_t)l->n, again, sizeof(again));
    if (len < 0 || len + 4 > 63)
        return 0;
    l->ace = (size_t)len + 4;
    return ulabel_ok(l->cp, (size_t)l->n, md);
}

/* The label decoded from ASCII s for the Bidi pass: ASCII code points as they are. */
static void ascii_cps(const char *s, size_t n, struct label *l)
{
    size_t i;

    for (i = 0; i < n && i < MAX_LABEL_CPS; i++)
        l->cp[i] = (unsigned char)s[i];
    l->n = (int)i;
}

/* Second pass: with any right-to-left label, every label must pass the Bidi rule. */
static int domain_bidi_ok(const char *s, size_t n, int idn, struct label *l,
                          pcre2_match_data *md, int pass)
{
    size_t i = 0, start = 0, sep;
    int rtl = 0;

    for (;;) {
        sep = i < n ? separator(s + i, n - i, idn) : 1;
        if (i < n && !sep) {
            i++;
            continue;
        }
        if (!label_ok(s + start, i - start, idn, l, md))
            return 0;
        if (l->n >= 0 || pass == 1) {   /* an LDH label is never right-to-left */
            if (l->n < 0)
                ascii_cps(s + start, i - start, l);
            if (pass == 0)
                rtl |= is_rtl_label(l->cp, (size_t)l->n, md);
            else if (!bidi_ok(l->cp, (size_t)l->n, md))
                return 0;
        }
        if (i >= n)
            break;
        i += sep;
        start = i;
    }
    return pass == 0 ? 1 + rtl : 1;
}

/* 1 if s[0..n) is ASCII without an "xn--" label: the plain RFC 1123 case. */
static int plain_ascii(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] >= 0x80)
            return 0;
        if ((i == 0 || s[i - 1] == '.') && i + 4 <= n && (s[i] | 0x20) == 'x' &&
            (s[i + 1] | 0x20) == 'n' && s[i + 2] == '-' && s[i + 3] == '-')
            return 0;
    }
    return 1;
}

/* RFC 1123: dot-separated LDH labels of 1..63, no hyphen at either end, no
 * "--" in the 3rd and 4th positions (reserved for A-labels). */
static int ldh_name(const char *s, size_t n)
{
    size_t i, start = 0;

    if (n == 0 || n > 253)
        return 0;
    for (i = 0; i <= n; i++) {
        size_t len = i - start;
        if (i < n && s[i] != '.') {
            if (!is_ldh(s[i]))
                return 0;
            continue;
        }
        if (len == 0 || len > 63 || s[start] == '-' || s[i - 1] == '-' ||
            (len >= 4 && s[start + 2] == '-' && s[start + 3] == '-'))
            return 0;
        start = i + 1;
    }
    return 1;
}

int schema__hostname_check(const char *s, size_t n, int idn)
{
    pcre2_match_data *md;
    struct label l;
    size_t i = 0, start = 0, total = 0, sep;
    int ok;

    if (plain_ascii(s, n))   /* no Unicode: no tables, no Bidi rule */
        return ldh_name(s, n);
    md = pcre2_match_data_create(12, NULL);
    ok = md != NULL && n > 0;
    while (ok) {   /* each label, and the length of the whole name in octets */
        sep = i < n ? separator(s + i, n - i, idn) : 1;
        if (i < n && !sep) {
            i++;
            continue;
        }
        ok = label_ok(s + start, i - start, idn, &l, md);
        total += l.ace + (i < n);
        if (i >= n)
            break;
        i += sep;
        start = i;
    }
    ok = ok && total <= 253;
    if (ok && domain_bidi_ok(s, n, idn, &l, md, 0) == 2)
        ok = domain_bidi_ok(s, n, idn, &l, md, 1);
    pcre2_match_data_free(md);
    return ok;
}
