/*
 * format.c - the "format" values formd asserts: email, date, time, date-time,
 * uri, uuid, ipv4, ipv6 and hostname.
 *
 * Each check is the plain grammar of its RFC with the parts forms never see
 * left out: email takes dot-atom local parts only (no quoted strings, no
 * comments) and a hostname or [address literal] domain; uri is an absolute
 * RFC 3986 URI; hostname is RFC 1123 labels in ASCII (no IDN); times are RFC
 * 3339, a leap second allowed only at 23:59:60 UTC.
 */
#include "schema/schema_int.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "core/banned.h"

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_alnum(char c) { return is_alpha(c) || is_digit(c); }
static int is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* n digits at s as a number, or -1 if any is not a digit. */
static int digits(const char *s, size_t n)
{
    int v = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* full-date: YYYY-MM-DD, exactly 10 characters. */
static int check_date(const char *s, size_t n)
{
    int y, m, d;

    if (n != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    y = digits(s, 4);
    m = digits(s + 5, 2);
    d = digits(s + 8, 2);
    return y >= 0 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

/* full-time: HH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static int check_time(const char *s, size_t n)
{
    int h, mi, sec, oh = 0, om = 0, utc;
    size_t i = 8;

    if (n < 9 || s[2] != ':' || s[5] != ':')
        return 0;
    h = digits(s, 2);
    mi = digits(s + 3, 2);
    sec = digits(s + 6, 2);
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
        return 0;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == start)
            return 0;
    }
    if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
        /* offset zero */
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        oh = digits(s + i + 1, 2);
        om = digits(s + i + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return 0;
        if (s[i] == '-') {
            oh = -oh;
            om = -om;
        }
    } else {
        return 0;
    }
    utc = ((h * 60 + mi - (oh * 60 + om)) % 1440 + 1440) % 1440;
    return sec < 60 || utc == 23 * 60 + 59;
}

static int check_date_time(const char *s, size_t n)
{
    return n > 11 && (s[10] == 'T' || s[10] == 't') && check_date(s, 10) &&
           check_time(s + 11, n - 11);
}

/* RFC 1123 host name: dot-separated labels of 1..63 letters, digits, hyphens. */
static int check_hostname(const char *s, size_t n)
{
    size_t i, label = 0;

    if (n == 0 || n > 253)
        return 0;
    for (i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
        } else if (is_alnum(s[i]) || (s[i] == '-' && label > 0)) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0 && s[n - 1] != '-';
}

/* inet_pton wants a C string; longer input than any address is invalid. */
static int check_ip(int af, const char *s, size_t n)
{
    char tmp[64];
    unsigned char addr[16];

    if (n >= sizeof(tmp) || memchr(s, '\0', n))
        return 0;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return inet_pton(af, tmp, addr) == 1;
}

static int check_uuid(const char *s, size_t n)
{
    size_t i;

    if (n != 36)
        return 0;
    for (i = 0; i < n; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return 0;
    }
    return 1;
}

static int is_atext(char c)
{
    return is_alnum(c) || (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}

/* local@domain with a dot-atom local part and a host name or [literal]. */
static int check_email(const char *s, size_t n)
{
    const char *at = memchr(s, '@', n);
    size_t i, local, dn;
    const char *d;

    if (!at || n > 254)
        return 0;
    local = (size_t)(at - s);
    if (local == 0 || local > 64 || s[0] == '.' || s[local - 1] == '.')
        return 0;
    for (i = 0; i < local; i++)
        if (!(is_atext(s[i]) || (s[i] == '.' && s[i + 1] != '.')))
            return 0;
    d = at + 1;
    dn = n - local - 1;
    if (dn > 2 && d[0] == '[' && d[dn - 1] == ']') {
        if (dn > 7 && strncasecmp(d + 1, "IPv6:", 5) == 0)
            return check_ip(AF_INET6, d + 6, dn - 7);
        return check_ip(AF_INET, d + 1, dn - 2);
    }
    return check_hostname(d, dn);
}

static int is_unreserved(char c) { return is_alnum(c) || (c && strchr("-._~", c)); }
static int is_subdelim(char c) { return c && strchr("!$&'()*+,;=", c); }

/* Length of the URI character at s: 1, 3 for %HH, or 0 if not in extra or
 * unreserved / sub-delims / pct-encoded. */
static size_t uri_char(const char *s, size_t n, const char *extra)
{
    if (s[0] == '%')
        return n >= 3 && is_hex(s[1]) && is_hex(s[2]) ? 3 : 0;
    return is_unreserved(s[0]) || is_subdelim(s[0]) || (s[0] && strchr(extra, s[0])) ? 1 : 0;
}

/* Characters of s[0..n) all allowed (see uri_char), with extra added. */
static int uri_part(const char *s, size_t n, const char *extra)
{
    size_t i = 0, k;

    while (i < n) {
        if (!(k = uri_char(s + i, n - i, extra)))
            return 0;
        i += k;
    }
    return 1;
}

/* authority = [userinfo "@"] host [":" port], host a reg-name or [IPv6]. */
static int check_authority(const char *s, size_t n)
{
    const char *at = memchr(s, '@', n), *h, *colon;
    size_t hn;

    if (at) {
        if (!uri_part(s, (size_t)(at - s), ":"))
            return 0;
        n -= (size_t)(at - s) + 1;
        s = at + 1;
    }
    h = s;
    hn = n;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || !check_ip(AF_INET6, s + 1, (size_t)(close - s) - 1))
            return 0;
        hn = (size_t)(close - s) + 1;
        if (hn < n && s[hn] != ':')
            return 0;
    } else {
        colon = memchr(s, ':', n);
        if (colon)
            hn = (size_t)(colon - s);
        if (!uri_part(h, hn, ""))
            return 0;
    }
    for (hn++; hn < n; hn++)   /* port = *DIGIT */
        if (!is_digit(s[hn]))
            return 0;
    return 1;
}

/* RFC 3986 URI: scheme ":" hier-part ["?" query] ["#" fragment]. */
static int check_uri(const char *s, size_t n)
{
    size_t i = 0, end;
    const char *hash;

    if (n == 0 || !is_alpha(s[0]))
        return 0;
    while (i < n && (is_alnum(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (i == n || s[i] != ':')
        return 0;
    s += i + 1;
    n -= i + 1;
    hash = memchr(s, '#', n);
    if (hash && !uri_part(hash + 1, n - (size_t)(hash - s) - 1, ":@/?"))
        return 0;
    if (hash)
        n = (size_t)(hash - s);
    if (n >= 2 && s[0] == '/' && s[1] == '/') {
        for (end = 2; end < n && s[end] != '/' && s[end] != '?'; end++)
            ;
        if (!check_authority(s + 2, end - 2))
            return 0;
        s += end;
        n -= end;
    }
    return uri_part(s, n, ":@/?");
}

int schema__format_check(const char *format, const char *s, size_t n)
{
    static const struct {
        const char *name;
        int (*check)(const char *s, size_t n);
    } formats[] = {
        {"date", check_date},         {"date-time", check_date_time},
        {"email", check_email},       {"hostname", check_hostname},
        {"time", check_time},         {"uri", check_uri},
        {"uuid", check_uuid},
    };
    size_t i;

    if (strcmp(format, "ipv4") == 0)
        return check_ip(AF_INET, s, n);
    if (strcmp(format, "ipv6") == 0)
        return check_ip(AF_INET6, s, n);
    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (strcmp(format, formats[i].name) == 0)
            return formats[i].check(s, n);
    return -1;
}
