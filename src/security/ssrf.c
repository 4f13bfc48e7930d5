/*
 * ssrf.c - outbound URL parsing, address classification and the resolve-once check.
 *
 * The URL grammar accepted is a strict subset of RFC 3986:
 *   ("http" | "https") "://" host [":" port] [path] ["?" query] ["#" fragment]
 * host being a DNS name (letters, digits, '-', '_', '.'; no trailing dot), a
 * canonical dotted quad, or "[" IPv6 "]" without zone id. Anything a resolver or a browser
 * could read as an IPv4 address in another notation (a last label that is a
 * decimal or 0x number) must be a canonical dotted quad, because glibc's
 * getaddrinfo reads "127.1", "0x7f.1", "0177.0.0.1" and "2130706433" as
 * 127.0.0.1 without asking DNS.
 */
#include "security/ssrf.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/banned.h"

#define URL_MAX 4096
#define PRIVATE_HINT "pass --allow-private-targets to allow it"

/* ---- address classification ------------------------------------------- */

struct v4_range {
    uint32_t net;
    int bits;
    enum ssrf_class cls;
};

/* First match wins; the single addresses come before the blocks holding them. */
static const struct v4_range v4_ranges[] = {
    {0xffffffffu, 32, SSRF_BROADCAST},      /* 255.255.255.255 */
    {0xa9fea9feu, 32, SSRF_METADATA},       /* 169.254.169.254: AWS, GCP, Azure, ... */
    {0xa9feaa02u, 32, SSRF_METADATA},       /* 169.254.170.2: AWS ECS task metadata */
    {0x646464c8u, 32, SSRF_METADATA},       /* 100.100.100.200: Alibaba Cloud */
    {0xa83f8110u, 32, SSRF_METADATA},       /* 168.63.129.16: Azure WireServer */
    {0x00000000u, 8, SSRF_UNSPECIFIED},     /* 0.0.0.0/8 "this network" */
    {0x0a000000u, 8, SSRF_PRIVATE},         /* 10/8 */
    {0x64400000u, 10, SSRF_SHARED},         /* 100.64/10 CGNAT */
    {0x7f000000u, 8, SSRF_LOOPBACK},        /* 127/8 */
    {0xa9fe0000u, 16, SSRF_LINK_LOCAL},     /* 169.254/16 */
    {0xac100000u, 12, SSRF_PRIVATE},        /* 172.16/12 */
    {0xc0000000u, 24, SSRF_RESERVED},       /* 192.0.0/24 IETF protocol assignments */
    {0xc0000200u, 24, SSRF_DOCUMENTATION},  /* 192.0.2/24 TEST-NET-1 */
    {0xc0586300u, 24, SSRF_RESERVED},       /* 192.88.99/24 6to4 relay anycast (retired) */
    {0xc0a80000u, 16, SSRF_PRIVATE},        /* 192.168/16 */
    {0xc6120000u, 15, SSRF_BENCHMARK},      /* 198.18/15 */
    {0xc6336400u, 24, SSRF_DOCUMENTATION},  /* 198.51.100/24 TEST-NET-2 */
    {0xcb007100u, 24, SSRF_DOCUMENTATION},  /* 203.0.113/24 TEST-NET-3 */
    {0xe0000000u, 4, SSRF_MULTICAST},       /* 224/4 */
    {0xf0000000u, 4, SSRF_RESERVED},        /* 240/4 */
};

static enum ssrf_class class_v4(const unsigned char b[4])
{
    uint32_t a = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    size_t i;
    for (i = 0; i < sizeof(v4_ranges) / sizeof(v4_ranges[0]); i++) {
        uint32_t mask = 0xffffffffu << (32 - v4_ranges[i].bits);
        if ((a & mask) == v4_ranges[i].net)
            return v4_ranges[i].cls;
    }
    return SSRF_PUBLIC;
}

static int all_zero(const unsigned char *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static enum ssrf_class class_v6(const unsigned char b[16])
{
    static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    static const unsigned char aws_md[16] = {0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54};

    if (memcmp(b, nat64, 12) == 0)
        return class_v4(b + 12);                /* 64:ff9b::/96 well-known NAT64 */
    if (memcmp(b, nat64, 4) == 0 && b[4] == 0x00 && b[5] == 0x01)
        return SSRF_PRIVATE;                    /* 64:ff9b:1::/48 local-use NAT64 */
    if (b[0] == 0x00) {                         /* ::/8 */
        if (all_zero(b, 16))
            return SSRF_UNSPECIFIED;
        if (all_zero(b, 15) && b[15] == 1)
            return SSRF_LOOPBACK;
        if (all_zero(b, 10) && b[10] == 0xff && b[11] == 0xff)
            return class_v4(b + 12);            /* ::ffff:a.b.c.d, mapped */
        /* IPv4-compatible, SIIT ::ffff:0:a.b.c.d, the rest: reserved */
        return SSRF_RESERVED;
    }
    if (memcmp(b, aws_md, 16) == 0)
        return SSRF_METADATA;                   /* fd00:ec2::254 AWS IMDS over IPv6 */
    if ((b[0] & 0xfe) == 0xfc)
        return SSRF_PRIVATE;                    /* fc00::/7 unique local */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return SSRF_LINK_LOCAL;                 /* fe80::/10 */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
        return SSRF_PRIVATE;                    /* fec0::/10 site-local (retired) */
    if (b[0] == 0xff)
        return SSRF_MULTICAST;                  /* ff00::/8 */
    if (b[0] == 0x20 && b[1] == 0x01) {
        if (b[2] == 0x00 && b[3] == 0x00)
            return SSRF_TEREDO;                 /* 2001::/32 */
        if (b[2] == 0x00 && b[3] == 0x02 && b[4] == 0x00 && b[5] == 0x00)
            return SSRF_BENCHMARK;              /* 2001:2::/48 */
        if (b[2] == 0x0d && b[3] == 0xb8)
            return SSRF_DOCUMENTATION;          /* 2001:db8::/32 */
        if ((b[2] & 0xfe) == 0x00)
            return SSRF_RESERVED;               /* rest of 2001::/23 IETF assignments */
    }
    if (b[0] == 0x20 && b[1] == 0x02)
        return class_v4(b + 2);                 /* 2002:a.b.c.d::/48 6to4 */
    if (b[0] == 0x3f && b[1] == 0xff && (b[2] & 0xf0) == 0x00)
        return SSRF_DOCUMENTATION;              /* 3fff::/20 */
    if ((b[0] & 0xe0) != 0x20)
        return SSRF_RESERVED;                   /* outside 2000::/3 global unicast */
    return SSRF_PUBLIC;
}

enum ssrf_class ssrf_addr_class(const struct sockaddr *sa)
{
    if (!sa)
        return SSRF_UNSUPPORTED;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return class_v4((const unsigned char *)&in->sin_addr);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return class_v6(in6->sin6_addr.s6_addr);
    }
    return SSRF_UNSUPPORTED;
}

const char *ssrf_class_name(enum ssrf_class c)
{
    switch (c) {
    case SSRF_PUBLIC: return "a public address";
    case SSRF_LOOPBACK: return "a loopback address";
    case SSRF_PRIVATE: return "a private address";
    case SSRF_SHARED: return "a shared (carrier-grade NAT) address";
    case SSRF_LINK_LOCAL: return "a link-local address";
    case SSRF_METADATA: return "a cloud metadata address";
    case SSRF_UNSPECIFIED: return "an unspecified address";
    case SSRF_MULTICAST: return "a multicast address";
    case SSRF_BROADCAST: return "the broadcast address";
    case SSRF_RESERVED: return "a reserved address";
    case SSRF_BENCHMARK: return "a benchmarking address";
    case SSRF_DOCUMENTATION: return "a documentation address";
    case SSRF_TEREDO: return "a Teredo tunnel address";
    case SSRF_UNSUPPORTED: break;
    }
    return "an unsupported address";
}

static int class_allowed(enum ssrf_class c, int allow_private)
{
    switch (c) {
    case SSRF_PUBLIC:
        return 1;
    case SSRF_LOOPBACK:
    case SSRF_PRIVATE:
    case SSRF_SHARED:
    case SSRF_LINK_LOCAL:
        return allow_private != 0;
    default:
        return 0;
    }
}

/* Would --allow-private-targets change the answer for c? */
static int class_private(enum ssrf_class c)
{
    return !class_allowed(c, 0) && class_allowed(c, 1);
}

int ssrf_addr_allowed(const struct sockaddr *sa, int allow_private)
{
    return class_allowed(ssrf_addr_class(sa), allow_private);
}

/* ---- URL parsing ------------------------------------------------------- */

static int is_digits(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int is_hex_digit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A label an IPv4 parser would take for a number: decimal (octal) or 0x hex. */
static int numeric_label(const char *s, size_t n)
{
    size_t i;
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        for (i = 2; i < n; i++)
            if (!is_hex_digit(s[i]))
                return 0;
        return 1;
    }
    return n > 0 && is_digits(s, n);
}

/* Exactly a.b.c.d, each 0..255 in decimal without leading zeros. */
static int canonical_quad(const char *s, size_t n)
{
    size_t i = 0;
    int part;
    for (part = 0; part < 4; part++) {
        size_t start = i;
        unsigned v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3)
            v = v * 10 + (unsigned)(s[i++] - '0');
        if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
            return 0;
        if (part < 3) {
            if (i >= n || s[i] != '.')
                return 0;
            i++;
        }
    }
    return i == n;
}

/* Checks a lowercased DNS name or dotted quad; 1 if it is a dotted quad. */
static int check_name(const char *host, size_t n, struct fmd_err *err, int *quad)
{
    size_t i, label = 0, last = 0;

    *quad = 0;
    for (i = 0; i < n; i++) {
        char c = host[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.'))
            return fmd_errf(err, FMD_EINVAL,
                            "webhook url host may hold only letters, digits, '-', '_' and '.' "
                            "(write an internationalised name in its xn-- form)");
    }
    /* "example.com." is valid DNS, but curl may strip the dot before it looks
     * in its cache, so a CURLOPT_RESOLVE entry would miss and curl resolve
     * again, unchecked. Refusing it is simpler than guessing. */
    if (n > 0 && host[n - 1] == '.')
        return fmd_errf(err, FMD_EINVAL, "webhook url host must not end with a dot");
    if (n == 0 || n > 253)
        return fmd_errf(err, FMD_EINVAL, "webhook url host must be 1 to 253 characters");
    for (i = 0; i <= n; i++) {
        if (i == n || host[i] == '.') {
            if (i - label == 0 || i - label > 63)
                return fmd_errf(err, FMD_EINVAL,
                                "webhook url host '%s' has an empty or over-long label", host);
            last = label;
            label = i + 1;
        }
    }
    if (!numeric_label(host + last, n - last))
        return 0;
    if (!canonical_quad(host, n))
        return fmd_errf(err, FMD_EINVAL,
                        "webhook url host '%s' is not a canonical IPv4 address "
                        "(write four decimal numbers, like 192.0.2.1)", host);
    *quad = 1;
    return 0;
}

static void set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

/* Host part of an authority [p, end): fills out->host and, for literals, addrs[0]. */
static int parse_host(const char *p, const char *end, struct ssrf_target *out,
                      const char **rest, struct fmd_err *err)
{
    size_t n, i;
    int quad = 0, rc;

    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->addrs[0];
        char lit[INET6_ADDRSTRLEN];
        if (!close)
            return fmd_errf(err, FMD_EINVAL, "webhook url has an unterminated IPv6 literal");
        n = (size_t)(close - p - 1);
        if (memchr(p + 1, '%', n))
            return fmd_errf(err, FMD_EINVAL, "webhook url IPv6 literal must not have a zone id");
        if (n == 0 || n >= sizeof(lit))
            return fmd_errf(err, FMD_EINVAL, "webhook url has an invalid IPv6 literal");
        memcpy(lit, p + 1, n);
        lit[n] = '\0';
        in6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, lit, &in6->sin6_addr) != 1)
            return fmd_errf(err, FMD_EINVAL, "webhook url has an invalid IPv6 literal");
        /* Canonical text, so "[::FFFF:7f00:1]" and "[::ffff:127.0.0.1]" read the same. */
        if (!inet_ntop(AF_INET6, &in6->sin6_addr, out->host, sizeof(out->host)))
            return fmd_errf(err, FMD_EINTERNAL, "cannot format an IPv6 address");
        out->naddrs = 1;
        *rest = close + 1;
        return 0;
    }
    *rest = memchr(p, ':', (size_t)(end - p));
    if (!*rest)
        *rest = end;
    n = (size_t)(*rest - p);
    if (n == 0)
        return fmd_errf(err, FMD_EINVAL, "webhook url has no host");
    if (n >= sizeof(out->host))
        return fmd_errf(err, FMD_EINVAL, "webhook url host must be 1 to 253 characters");
    for (i = 0; i < n; i++)
        out->host[i] = (p[i] >= 'A' && p[i] <= 'Z') ? (char)(p[i] - 'A' + 'a') : p[i];
    out->host[n] = '\0';
    rc = check_name(out->host, n, err, &quad);
    if (rc)
        return rc;
    if (quad) {
        struct sockaddr_in *in = (struct sockaddr_in *)&out->addrs[0];
        in->sin_family = AF_INET;
        if (inet_pton(AF_INET, out->host, &in->sin_addr) != 1)
            return fmd_errf(err, FMD_EINTERNAL, "cannot parse IPv4 address '%s'", out->host);
        out->naddrs = 1;
    }
    return 0;
}

static int parse_port(const char *p, const char *end, int *port, struct fmd_err *err)
{
    size_t n = (size_t)(end - p);
    int v = 0;
    size_t i;
    if (n == 0 || n > 5 || !is_digits(p, n))
        return fmd_errf(err, FMD_EINVAL, "webhook url port must be a number from 1 to 65535");
    for (i = 0; i < n; i++)
        v = v * 10 + (p[i] - '0');
    if (v < 1 || v > 65535)
        return fmd_errf(err, FMD_EINVAL, "webhook url port must be a number from 1 to 65535");
    *port = v;
    return 0;
}

int ssrf_parse_url(const char *url, struct ssrf_target *out, struct fmd_err *err)
{
    const char *p, *auth_end, *rest, *frag;
    size_t n, alen, plen;
    int rc;

    if (!out)
        return fmd_errf(err, FMD_EINVAL, "no target to fill");
    memset(out, 0, sizeof(*out));
    if (!url || !url[0])
        return fmd_errf(err, FMD_EINVAL, "webhook url is empty");
    n = strlen(url);
    if (n > URL_MAX)
        return fmd_errf(err, FMD_EINVAL, "webhook url is longer than %d characters", URL_MAX);
    for (p = url; *p; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return fmd_errf(err, FMD_EINVAL,
                            "webhook url must be printable ASCII without spaces "
                            "(write an internationalised name in its xn-- form)");
        if (*p == '\\')
            return fmd_errf(err, FMD_EINVAL, "webhook url must not contain a backslash");
    }
    if (strncasecmp(url, "http://", 7) == 0) {
        out->https = 0;
        p = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        out->https = 1;
        p = url + 8;
    } else {
        return fmd_errf(err, FMD_EINVAL, "webhook url must start with http:// or https://");
    }

    alen = strcspn(p, "/?#");
    auth_end = p + alen;
    if (memchr(p, '@', alen))
        return fmd_errf(err, FMD_EINVAL, "webhook url must not contain credentials (user@host)");
    if (alen == 0)
        return fmd_errf(err, FMD_EINVAL, "webhook url has no host");
    rest = auth_end;
    rc = parse_host(p, auth_end, out, &rest, err);
    if (rc)
        goto out;
    out->port = out->https ? 443 : 80;
    if (rest < auth_end) {
        if (*rest != ':') {
            rc = fmd_errf(err, FMD_EINVAL, "webhook url has characters after its IPv6 literal");
            goto out;
        }
        rc = parse_port(rest + 1, auth_end, &out->port, err);
        if (rc)
            goto out;
    }
    if (out->naddrs)
        set_port(&out->addrs[0], out->port);

    /* The fragment is never sent; a query without a path gets "/". */
    frag = strchr(auth_end, '#');
    plen = frag ? (size_t)(frag - auth_end) : strlen(auth_end);
    if (plen == 0 || auth_end[0] != '/') {
        if (plen + 2 > sizeof(out->path_and_query))
            goto too_long;
        out->path_and_query[0] = '/';
        memcpy(out->path_and_query + 1, auth_end, plen);
        out->path_and_query[plen + 1] = '\0';
    } else {
        if (plen + 1 > sizeof(out->path_and_query))
            goto too_long;
        memcpy(out->path_and_query, auth_end, plen);
        out->path_and_query[plen] = '\0';
    }
    return 0;
too_long:
    rc = fmd_errf(err, FMD_EINVAL, "webhook url path and query must be under %zu characters",
                  sizeof(out->path_and_query));
out:
    /* Nothing half-filled: a failed parse leaves an empty target. */
    memset(out, 0, sizeof(*out));
    return rc;
}

/* ---- resolution and the check ------------------------------------------ */

static void addr_text(const struct sockaddr *sa, char *buf, size_t cap)
{
    const void *a = sa->sa_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!inet_ntop(sa->sa_family, a, buf, (socklen_t)cap))
        snprintf(buf, cap, "?");
}

static int refuse(const struct ssrf_target *t, const struct sockaddr *sa, enum ssrf_class c,
                  int literal, struct fmd_err *err)
{
    char text[INET6_ADDRSTRLEN + 3] = "";
    const char *verb = literal ? "is" : "resolves to";

    /* A name's message shows the address it led to; a literal is its own address. */
    if (!literal) {
        text[0] = ' ';
        text[1] = '(';
        addr_text(sa, text + 2, INET6_ADDRSTRLEN);
        memcpy(text + strlen(text), ")", 2);
    }
    if (class_private(c))
        return fmd_errf(err, FMD_EFORBIDDEN, "webhook target '%s' %s %s%s; " PRIVATE_HINT,
                        t->host, verb, ssrf_class_name(c), text);
    return fmd_errf(err, FMD_EFORBIDDEN, "webhook target '%s' %s %s%s, which is never allowed",
                    t->host, verb, ssrf_class_name(c), text);
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    if (a->ss_family != b->sa_family)
        return 0;
    if (b->sa_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                      &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

/* "host:port:a1,[a2]"; addresses that would not fit are dropped from both. */
static void build_resolve_entry(struct ssrf_target *t)
{
    size_t cap = sizeof(t->resolve_entry), len;
    int i, w;

    w = snprintf(t->resolve_entry, cap, "%s:%d:", t->host, t->port);
    if (w < 0 || (size_t)w >= cap) {
        t->resolve_entry[0] = '\0';
        return;
    }
    len = (size_t)w;
    for (i = 0; i < t->naddrs; i++) {
        char text[INET6_ADDRSTRLEN];
        int v6 = t->addrs[i].ss_family == AF_INET6;
        addr_text((const struct sockaddr *)&t->addrs[i], text, sizeof(text));
        w = snprintf(t->resolve_entry + len, cap - len, "%s%s%s%s", i ? "," : "",
                     v6 ? "[" : "", text, v6 ? "]" : "");
        if (w < 0 || (size_t)w >= cap - len) {
            t->resolve_entry[len] = '\0';
            t->naddrs = i;
            return;
        }
        len += (size_t)w;
    }
}

static int resolve_error(const struct ssrf_target *t, int gai, struct fmd_err *err)
{
    switch (gai) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return fmd_errf(err, FMD_EUNPROC, "webhook target '%s' does not resolve", t->host);
    case EAI_MEMORY:
        return fmd_errf(err, FMD_ENOMEM, "out of memory resolving webhook target '%s'", t->host);
    default:
        return fmd_errf(err, FMD_EUNAVAIL, "cannot resolve webhook target '%s' now (%s)",
                        t->host, gai_strerror(gai));
    }
}

int ssrf_check_url(const char *url, int allow_private, struct ssrf_target *out,
                   struct fmd_err *err)
{
    struct addrinfo hints, *res = NULL, *ai;
    char port[8];
    enum ssrf_class c;
    int rc, gai;

    rc = ssrf_parse_url(url, out, err);
    if (rc)
        return rc;
    if (out->naddrs == 1) {
        /* An IP literal: nothing to resolve, curl connects to it as written. */
        c = ssrf_addr_class((const struct sockaddr *)&out->addrs[0]);
        if (!class_allowed(c, allow_private)) {
            rc = refuse(out, (const struct sockaddr *)&out->addrs[0], c, 1, err);
            goto out;
        }
        return 0;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", out->port);
    gai = getaddrinfo(out->host, port, &hints, &res);
    if (gai != 0) {
        rc = resolve_error(out, gai, err);
        goto out;
    }
    /* Every address must pass, not just the first: the caller may try any. */
    for (ai = res; ai; ai = ai->ai_next) {
        int i, dup = 0;
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        c = ssrf_addr_class(ai->ai_addr);
        if (!class_allowed(c, allow_private)) {
            rc = refuse(out, ai->ai_addr, c, 0, err);
            goto out;
        }
        for (i = 0; i < out->naddrs; i++)
            dup |= same_addr(&out->addrs[i], ai->ai_addr);
        if (!dup && out->naddrs < SSRF_MAX_ADDRS && ai->ai_addrlen <= sizeof(out->addrs[0])) {
            memcpy(&out->addrs[out->naddrs], ai->ai_addr, ai->ai_addrlen);
            out->naddrs++;
        }
    }
    if (out->naddrs == 0) {
        rc = fmd_errf(err, FMD_EUNPROC, "webhook target '%s' has no IPv4 or IPv6 address",
                      out->host);
        goto out;
    }
    build_resolve_entry(out);
out:
    if (res)
        freeaddrinfo(res);
    if (rc)
        memset(out, 0, sizeof(*out));
    return rc;
}
