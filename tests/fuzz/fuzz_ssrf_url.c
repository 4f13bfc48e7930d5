/*
 * fuzz_ssrf_url.c - the outbound URL parser (webhook targets) and the address
 * classifier, on arbitrary bytes. No DNS: only ssrf_parse_url runs, never
 * ssrf_check_url, so nothing is resolved.
 *
 * Beyond "no crash", it checks the properties the SSRF defence rests on:
 *   - a host accepted as a name is one glibc would not read as an address
 *     (inet_aton, inet_pton), so it must go through DNS and the check;
 *   - an accepted URL rebuilt from its parts parses to the same parts;
 *   - allow_private only ever widens what is allowed, and never to
 *     unspecified, multicast, broadcast or metadata addresses;
 *   - a refused URL leaves an empty target and a message.
 * The Makefile links fuzz targets from core and schema only, so the module's
 * source is included here.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/security/ssrf.c"

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static void check_addr(const struct sockaddr *sa)
{
    enum ssrf_class c = ssrf_addr_class(sa);
    int strict = ssrf_addr_allowed(sa, 0), loose = ssrf_addr_allowed(sa, 1);

    CHECK(!strict || loose);
    CHECK(strict == (c == SSRF_PUBLIC));
    if (c == SSRF_UNSPECIFIED || c == SSRF_MULTICAST || c == SSRF_BROADCAST ||
        c == SSRF_METADATA || c == SSRF_TEREDO || c == SSRF_RESERVED)
        CHECK(!loose);
    CHECK(ssrf_class_name(c)[0] != '\0');
}

static void fuzz_classifier(const uint8_t *data, size_t size)
{
    struct sockaddr_in in;
    struct sockaddr_in6 in6;

    if (size < 16)
        return;
    memset(&in6, 0, sizeof(in6));
    in6.sin6_family = AF_INET6;
    memcpy(&in6.sin6_addr, data, 16);
    check_addr((const struct sockaddr *)&in6);
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    memcpy(&in.sin_addr, data, 4);
    check_addr((const struct sockaddr *)&in);
    /* The IPv4 inside a mapped address is judged like the address itself. */
    memset(in6.sin6_addr.s6_addr, 0, 10);
    in6.sin6_addr.s6_addr[10] = in6.sin6_addr.s6_addr[11] = 0xff;
    memcpy(in6.sin6_addr.s6_addr + 12, data, 4);
    CHECK(ssrf_addr_class((const struct sockaddr *)&in6) ==
          ssrf_addr_class((const struct sockaddr *)&in));
}

static void check_accepted(const struct ssrf_target *t)
{
    struct ssrf_target again;
    struct in_addr a4;
    struct in6_addr a6;
    char url[4400];
    int v6, n;
    size_t i, hlen = strnlen(t->host, sizeof(t->host));

    CHECK(hlen > 0 && hlen < sizeof(t->host));
    CHECK(t->port >= 1 && t->port <= 65535);
    CHECK(t->https == 0 || t->https == 1);
    CHECK(t->path_and_query[0] == '/');
    CHECK(strnlen(t->path_and_query, sizeof(t->path_and_query)) < sizeof(t->path_and_query));
    for (i = 0; t->path_and_query[i]; i++) {
        unsigned char c = (unsigned char)t->path_and_query[i];
        CHECK(c > 0x20 && c < 0x7f && c != '#' && c != '\\');
    }
    CHECK(t->resolve_entry[0] == '\0');
    v6 = inet_pton(AF_INET6, t->host, &a6) == 1;
    if (t->naddrs == 0) {
        /* A name: nothing in libc may take it for a number. */
        CHECK(inet_aton(t->host, &a4) == 0);
        CHECK(!v6);
        for (i = 0; i < hlen; i++) {
            char c = t->host[i];
            CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '.');
        }
    } else {
        CHECK(t->naddrs == 1);
        CHECK(t->addrs[0].ss_family == (v6 ? AF_INET6 : AF_INET));
        check_addr((const struct sockaddr *)&t->addrs[0]);
    }

    /* Rebuilt from its parts, the URL parses to the same target. */
    n = snprintf(url, sizeof(url), "%s://%s%s%s:%d%s", t->https ? "https" : "http",
                 v6 ? "[" : "", t->host, v6 ? "]" : "", t->port, t->path_and_query);
    CHECK(n > 0 && (size_t)n < sizeof(url));
    CHECK(ssrf_parse_url(url, &again, NULL) == 0);
    CHECK(strcmp(again.host, t->host) == 0);
    CHECK(again.port == t->port && again.https == t->https && again.naddrs == t->naddrs);
    CHECK(strcmp(again.path_and_query, t->path_and_query) == 0);
    if (t->naddrs)
        CHECK(memcmp(&again.addrs[0], &t->addrs[0], sizeof(t->addrs[0])) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ssrf_target t;
    struct fmd_err err = {0};
    char *url;
    int rc;

    fuzz_classifier(data, size);
    url = malloc(size + 1);
    if (!url)
        return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    rc = ssrf_parse_url(url, &t, &err);
    if (rc == 0) {
        check_accepted(&t);
    } else {
        CHECK(rc == FMD_EINVAL && err.code == rc && err.msg[0] != '\0');
        CHECK(t.host[0] == '\0' && t.naddrs == 0 && t.port == 0);
    }
    free(url);
    return 0;
}
