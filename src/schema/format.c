/*
 * format.c - the "format" values formd asserts: email, idn-email, date, time,
 * date-time, duration, uri, uri-reference, iri, iri-reference, uri-template,
 * uuid, ipv4, ipv6, hostname, idn-hostname, regex, json-pointer and
 * relative-json-pointer.
 *
 * Each check is the grammar of its RFC: email is RFC 5321 (a dot-atom or
 * quoted local part; a host name or [address literal] domain; idn-email also
 * UTF-8, RFC 6531); uri and uri-reference are RFC 3986, iri and iri-reference
 * RFC 3987 (non-ASCII allowed where a URI allows unreserved characters);
 * uri-template is RFC 6570 level 4; times and durations are RFC 3339 (a leap
 * second only at 23:59:60 UTC); host names are in idna.c; regex is a pattern
 * PCRE2 compiles and that uses no syntax ECMA-262 lacks; json-pointer is RFC
 * 6901 and relative-json-pointer its draft.
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

/* RFC 1123 host name, A-labels checked as IDNA 2008 (idna.c). */
static int check_hostname(const char *s, size_t n)
{
    return n <= 253 && schema__hostname_check(s, n, 0);
}

static int check_idn_hostname(const char *s, size_t n)
{
    return schema__hostname_check(s, n, 1);
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

/* ASCII character classes: 1 atext (RFC 5322), 2 unreserved, 4 sub-delims (RFC 3986). */
static const unsigned char cclass[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 5, 0, 1, 5, 1, 5, 5, 4, 4, 5, 5, 4, 3, 2, 1,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 4, 0, 5, 0, 1,
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 1, 3,
    1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 3, 0,
};

static int is_atext(char c, int idn)
{
    return (cclass[(unsigned char)c] & 1) ||
           (idn && (unsigned char)c >= 0x80);
}

/* Length of the local part at s: a dot-atom or a quoted string; 0 if neither. */
static size_t local_part(const char *s, size_t n, int idn)
{
    size_t i;

    if (n && s[0] == '"') {
        for (i = 1; i < n && s[i] != '"'; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '\\' && i + 1 < n && s[i + 1] >= 32 && s[i + 1] <= 126)
                i++;
            else if (c < 32 || c == 127 || c == '\\' || (c >= 0x80 && !idn))
                return 0;
        }
        return i < n && i > 1 ? i + 1 : 0;
    }
    for (i = 0; i < n && s[i] != '@'; i++)
        if (!(is_atext(s[i], idn) || (s[i] == '.' && i > 0 && i + 1 < n && s[i + 1] != '.' &&
                                      s[i + 1] != '@')))
            return 0;
    return i;
}

/* local@domain: a dot-atom or quoted local part, a host name or [literal]. */
static int check_mail(const char *s, size_t n, int idn)
{
    size_t local = local_part(s, n, idn), dn;
    const char *d;

    if (local == 0 || local > 64 || local >= n || s[local] != '@' || n > 254)
        return 0;
    d = s + local + 1;
    dn = n - local - 1;
    if (dn > 2 && d[0] == '[' && d[dn - 1] == ']') {
        if (dn > 7 && strncasecmp(d + 1, "IPv6:", 5) == 0)
            return check_ip(AF_INET6, d + 6, dn - 7);
        return check_ip(AF_INET, d + 1, dn - 2);
    }
    return idn ? check_idn_hostname(d, dn) : check_hostname(d, dn);
}

static int check_email(const char *s, size_t n) { return check_mail(s, n, 0); }
static int check_idn_email(const char *s, size_t n) { return check_mail(s, n, 1); }

static int is_unreserved(char c) { return cclass[(unsigned char)c] & 2; }
static int is_subdelim(char c) { return cclass[(unsigned char)c] & 4; }

/* Length of the URI character at s: 1, 3 for %HH, the whole UTF-8 sequence
 * of a non-ASCII character in an IRI, or 0 if not in extra or unreserved /
 * sub-delims / pct-encoded. */
static size_t uri_char(const char *s, size_t n, const char *extra, int iri)
{
    if (s[0] == '%')
        return n >= 3 && is_hex(s[1]) && is_hex(s[2]) ? 3 : 0;
    if ((unsigned char)s[0] >= 0x80)
        return iri ? 1 : 0;
    return (cclass[(unsigned char)s[0]] & 6) || (s[0] && strchr(extra, s[0])) ? 1 : 0;
}

/* Characters of s[0..n) all allowed (see uri_char), with extra added. */
static int uri_part(const char *s, size_t n, const char *extra, int iri)
{
    size_t i = 0, k;

    while (i < n) {
        if (!(k = uri_char(s + i, n - i, extra, iri)))
            return 0;
        i += k;
    }
    return 1;
}

/* IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
static int check_ipvfuture(const char *s, size_t n)
{
    size_t i = 1;

    if (n < 4 || (s[0] != 'v' && s[0] != 'V'))
        return 0;
    while (i < n && is_hex(s[i]))
        i++;
    if (i == 1 || i + 1 >= n || s[i] != '.')
        return 0;
    for (i++; i < n; i++)
        if (!is_unreserved(s[i]) && !is_subdelim(s[i]) && s[i] != ':')
            return 0;
    return 1;
}

/* authority = [userinfo "@"] host [":" port], host a reg-name, [IPv6] or [IPvFuture]. */
static int check_authority(const char *s, size_t n, int iri)
{
    const char *at = memchr(s, '@', n), *h, *colon;
    size_t hn;

    if (at) {
        if (!uri_part(s, (size_t)(at - s), ":", iri))
            return 0;
        n -= (size_t)(at - s) + 1;
        s = at + 1;
    }
    h = s;
    hn = n;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || !(check_ip(AF_INET6, s + 1, (size_t)(close - s) - 1) ||
                        check_ipvfuture(s + 1, (size_t)(close - s) - 1)))
            return 0;
        hn = (size_t)(close - s) + 1;
        if (hn < n && s[hn] != ':')
            return 0;
    } else {
        colon = memchr(s, ':', n);
        if (colon)
            hn = (size_t)(colon - s);
        if (!uri_part(h, hn, "", iri))
            return 0;
    }
    for (hn++; hn < n; hn++)   /* port = *DIGIT */
        if (!is_digit(s[hn]))
            return 0;
    return 1;
}

/* relative-part or hier-part, then [ "?" query ] [ "#" fragment ]; s has no scheme. */
static int check_after_scheme(const char *s, size_t n, int iri, int relative)
{
    const char *hash = memchr(s, '#', n), *colon, *slash;
    size_t end;

    if (hash && !uri_part(hash + 1, n - (size_t)(hash - s) - 1, ":@/?", iri))
        return 0;
    if (hash)
        n = (size_t)(hash - s);
    if (n >= 2 && s[0] == '/' && s[1] == '/') {
        for (end = 2; end < n && s[end] != '/' && s[end] != '?'; end++)
            ;
        if (!check_authority(s + 2, end - 2, iri))
            return 0;
        s += end;
        n -= end;
    } else if (relative) {
        /* path-noscheme: no ':' in the first segment */
        colon = memchr(s, ':', n);
        slash = memchr(s, '/', n);
        if (colon && (!slash || colon < slash))
            return 0;
    }
    return uri_part(s, n, ":@/?", iri);
}

static size_t scheme_len(const char *s, size_t n)
{
    size_t i = 0;

    if (n == 0 || !is_alpha(s[0]))
        return 0;
    while (i < n && (is_alnum(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    return i < n && s[i] == ':' ? i : 0;
}

/* RFC 3986 URI (RFC 3987 IRI): scheme ":" hier-part ["?" query] ["#" fragment]. */
static int check_uri_iri(const char *s, size_t n, int iri)
{
    size_t k = scheme_len(s, n);

    return k && check_after_scheme(s + k + 1, n - k - 1, iri, 0);
}

/* URI-reference = URI / relative-ref. */
static int check_ref(const char *s, size_t n, int iri)
{
    size_t k = scheme_len(s, n);

    return k ? check_after_scheme(s + k + 1, n - k - 1, iri, 0) : check_after_scheme(s, n, iri, 1);
}

static int check_uri(const char *s, size_t n) { return check_uri_iri(s, n, 0); }
static int check_iri(const char *s, size_t n) { return check_uri_iri(s, n, 1); }
static int check_uri_ref(const char *s, size_t n) { return check_ref(s, n, 0); }
static int check_iri_ref(const char *s, size_t n) { return check_ref(s, n, 1); }

/* RFC 3339 appendix A duration: P, then weeks alone, or date units in the
 * order Y M D and time units after T in the order H M S, none skipped. */
static int check_duration(const char *s, size_t n)
{
    static const char date_units[] = "YMD", time_units[] = "HMS";
    size_t i = 1;
    int part = 0, any = 0;

    if (n < 3 || s[0] != 'P')
        return 0;
    while (i < n) {
        const char *units = part ? time_units : date_units, *u;
        size_t start = i;
        if (s[i] == 'T') {
            if (part || i + 1 == n)
                return 0;
            part = 1;
            any = 0;
            i++;
            continue;
        }
        while (i < n && is_digit(s[i]))
            i++;
        if (i == start || i == n)
            return 0;
        if (s[i] == 'W')
            return !part && start == 1 && i + 1 == n;
        if (!(u = memchr(units, s[i], 3)))
            return 0;
        /* the next unit must follow the last one used in this part */
        if (any && u != units + any)
            return 0;
        any = (int)(u - units) + 1;
        i++;
        if (any == 3 && i < n && s[i] != 'T')
            return 0;
    }
    return any > 0;
}

/* RFC 6901: "" or ("/" *(unescaped / "~0" / "~1"))... */
static int check_json_pointer(const char *s, size_t n)
{
    size_t i;

    if (n && s[0] != '/')
        return 0;
    for (i = 0; i < n; i++)
        if (s[i] == '~' && (i + 1 == n || (s[i + 1] != '0' && s[i + 1] != '1')))
            return 0;
    return 1;
}

/* A non-negative integer (no leading zero), then "#" or a JSON pointer. */
static int check_rel_json_pointer(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && is_digit(s[i]))
        i++;
    if (i == 0 || (s[0] == '0' && i > 1))
        return 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) {   /* index manipulation */
        size_t j = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == j || (s[j] == '0' && i > j + 1) || (s[j] == '0' && s[j - 1] == '-'))
            return 0;
    }
    return (i + 1 == n && s[i] == '#') || check_json_pointer(s + i, n - i);
}

/* RFC 6570 level 4: literals and {expressions} of varspecs. */
static int check_varspec(const char *s, size_t n)
{
    size_t i = 0, k;

    while (i < n && s[i] != ':' && s[i] != '*') {
        if (s[i] == '%') {
            if (i + 2 >= n || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
                return 0;
            i += 3;
        } else if (is_alnum(s[i]) || s[i] == '_') {
            i++;
        } else if (s[i] == '.' && i > 0 && s[i - 1] != '.' && i + 1 < n && s[i + 1] != '.') {
            i++;
        } else {
            return 0;
        }
    }
    if (i == 0)
        return 0;
    if (i == n || (s[i] == '*' && i + 1 == n))
        return 1;
    if (s[i] != ':')
        return 0;
    k = n - i - 1;   /* max-length: 1-9 then up to 3 digits */
    return k >= 1 && k <= 4 && s[i + 1] >= '1' && s[i + 1] <= '9' && digits(s + i + 1, k) >= 0;
}

static int check_expression(const char *s, size_t n)
{
    size_t start = 0, i;

    if (n && strchr("+#./;?&=,!@|", s[0]))
        start = 1;
    if (start == n)
        return 0;
    for (i = start; i <= n; i++)
        if (i == n || s[i] == ',') {
            if (!check_varspec(s + start, i - start))
                return 0;
            start = i + 1;
        }
    return 1;
}

static int check_uri_template(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '{') {
            const char *close = memchr(s + i, '}', n - i);
            const char *open = memchr(s + i + 1, '{', close ? (size_t)(close - s) - i - 1 : 0);
            if (!close || open || !check_expression(s + i + 1, (size_t)(close - s) - i - 1))
                return 0;
            i = (size_t)(close - s) + 1;
        } else if (c == '%') {
            if (i + 2 >= n || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
                return 0;
            i += 3;
        } else if (c <= 0x20 || c == 0x7f || strchr("\"<>\\^`|}", c)) {
            return 0;
        } else {
            i++;
        }
    }
    return 1;
}

/* ECMA-262 syntax PCRE2 accepts but ECMA-262 does not: \a, (?P...), (?#...), (?flags). */
static int ecma_only(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] == '\\') {
            if (i + 1 < n && s[i + 1] == 'a')
                return 0;
            i++;
        } else if (s[i] == '(' && i + 2 < n && s[i + 1] == '?') {
            char c = s[i + 2];
            if (!(c == ':' || c == '=' || c == '!' ||
                  (c == '<' && i + 3 < n && (s[i + 3] == '=' || s[i + 3] == '!' ||
                                             is_alpha(s[i + 3]) || s[i + 3] == '_'))))
                return 0;
        }
    }
    return 1;
}

static int check_regex(const char *s, size_t n)
{
    return ecma_only(s, n) && schema__pattern_check(s, n, NULL) == 0;
}

static int check_ipv4(const char *s, size_t n) { return check_ip(AF_INET, s, n); }
static int check_ipv6(const char *s, size_t n) { return check_ip(AF_INET6, s, n); }

static const struct {
    const char *name;
    schema__format_fn *check;
} formats[] = {
    {"date", check_date},         {"date-time", check_date_time},
    {"email", check_email},       {"hostname", check_hostname},
    {"idn-hostname", check_idn_hostname},
    {"ipv4", check_ipv4},         {"ipv6", check_ipv6},
    {"duration", check_duration}, {"idn-email", check_idn_email},
    {"iri", check_iri},           {"iri-reference", check_iri_ref},
    {"json-pointer", check_json_pointer},
    {"regex", check_regex},       {"relative-json-pointer", check_rel_json_pointer},
    {"time", check_time},         {"uri", check_uri},
    {"uri-reference", check_uri_ref},
    {"uri-template", check_uri_template},
    {"uuid", check_uuid},
};

schema__format_fn *schema__format_find(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (strcmp(name, formats[i].name) == 0)
            return formats[i].check;
    return NULL;
}
