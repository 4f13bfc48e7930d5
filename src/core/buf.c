/* buf.c - bounded growable buffer. */
#include "core/buf.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/banned.h"

static char empty[1];

void buf_init(struct buf *b, size_t max)
{
    b->p = empty;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_release(struct buf *b)
{
    if (b->cap)
        fmd_free(b->p);
    buf_init(b, b->max);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->p[0] = '\0';
}

int buf_grow(struct buf *b, size_t extra)
{
    size_t need, ncap;
    char *np;

    if (extra > b->max || b->len > b->max - extra)
        return FMD_ETOOBIG;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > ((size_t)-1) / 2 ? need : ncap * 2;
    if (ncap > b->max + 1)
        ncap = b->max + 1;
    np = fmd_realloc(b->cap ? b->p : NULL, ncap);
    if (!np)
        return FMD_ENOMEM;
    if (!b->cap)
        np[0] = '\0';
    b->p = np;
    b->cap = ncap;
    return 0;
}

int buf_add(struct buf *b, const void *data, size_t n)
{
    int rc = buf_grow(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int buf_adds(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

int buf_addc(struct buf *b, char c)
{
    return buf_add(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n, rc;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return FMD_EINVAL;
    rc = buf_grow(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/*
 * The end of a copy made in runs: after the runs went well (rc 0), the last
 * one; after a failure, b as it was before the first (oldlen).
 */
static int add_tail(struct buf *b, const char *rest, size_t n, size_t oldlen, int rc)
{
    if (!rc)
        rc = buf_add(b, rest, n);
    if (rc) {
        b->len = oldlen;
        b->p[b->len] = '\0';
    }
    return rc;
}

int buf_add_json_str(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, start = 0, oldlen = b->len;
    int rc = 0;

    for (i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        const char *e = NULL;
        size_t elen = 2;

        if (c == '"') e = "\\\"";
        else if (c == '\\') e = "\\\\";
        else if (c == '\n') e = "\\n";
        else if (c == '\r') e = "\\r";
        else if (c == '\t') e = "\\t";
        else if (c < 0x20) {
            esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
            esc[4] = hex[c >> 4]; esc[5] = hex[c & 15]; esc[6] = '\0';
            e = esc;
            elen = 6;
        }
        if (!e)
            continue;
        rc = buf_add(b, s + start, i - start);
        if (!rc)
            rc = buf_add(b, e, elen);
        start = i + 1;
    }
    return add_tail(b, s + start, n - start, oldlen, rc);
}

/*
 * Length of the valid UTF-8 sequence at s (n bytes left), or 0 if there is
 * none. *cut (may be NULL) is set when the n bytes are a valid start of a
 * sequence that needs more.
 */
static size_t utf8_seq_cut(const unsigned char *s, size_t n, int *cut)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t k, i;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        k = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        k = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        k = 4;
    else
        return 0;
    /* the second byte's range rules out overlong forms, surrogates and > U+10FFFF */
    if (s[0] == 0xE0)
        lo = 0xA0;
    else if (s[0] == 0xED)
        hi = 0x9F;
    else if (s[0] == 0xF0)
        lo = 0x90;
    else if (s[0] == 0xF4)
        hi = 0x8F;
    if (n >= 2 && (s[1] < lo || s[1] > hi))
        return 0;
    for (i = 2; i < k && i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if (n < k && cut)
        *cut = 1;
    return n < k ? 0 : k;
}

static size_t utf8_seq(const unsigned char *s, size_t n)
{
    return utf8_seq_cut(s, n, NULL);
}

int utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, k;
    int cut = 0;

    while (i < n) {
        if (!u[i])
            return 0;
        if (!(k = utf8_seq_cut(u + i, n - i, &cut)))
            return cut;   /* a sequence the end cuts short is still a good start */
        i += k;
    }
    return 1;
}

int utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, k;

    while (i < n) {
        if (!u[i] || !(k = utf8_seq(u + i, n - i)))
            return 0;
        i += k;
    }
    return 1;
}

int buf_add_utf8(struct buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, start = 0, oldlen = b->len, k;
    int rc = 0;

    while (i < n && !rc) {
        if ((k = utf8_seq(u + i, n - i)) && u[i]) {
            i += k;
            continue;
        }
        rc = buf_add(b, s + start, i - start);
        if (!rc)
            rc = buf_add(b, "\xEF\xBF\xBD", 3);   /* U+FFFD for each bad byte */
        start = ++i;
    }
    return add_tail(b, s + start, n - start, oldlen, rc);
}

char *buf_detach(struct buf *b, size_t *len)
{
    char *p;
    if (len)
        *len = b->len;
    if (!b->cap) {
        p = fmd_strdup("");
    } else {
        p = b->p;
    }
    buf_init(b, b->max);
    return p;
}

int base64_decode(const char *s, unsigned char **out, size_t *len)
{
    size_t n = strlen(s), cap = n / 4 * 3 + 3;
    unsigned char *bin;
    const char *end;

    *out = NULL;
    *len = 0;
    /* libsodium 1.0.18 decodes some bytes above 0x7f as if they were base64
     * characters (found by fuzz_upload), so the alphabet is checked first. */
    if (strspn(s, BASE64_ALPHABET "=\r\n") != n)
        return FMD_EINVAL;
    if (!(bin = fmd_malloc(cap)))
        return FMD_ENOMEM;
    if (sodium_base642bin(bin, cap, s, n, "\r\n", len, &end, sodium_base64_VARIANT_ORIGINAL) ||
        end != s + n || *len == 0) {
        fmd_free(bin);
        *len = 0;
        return FMD_EINVAL;
    }
    *out = bin;
    return 0;
}
