/*
 * test_ssrf.c - outbound target checks: every address range, URL shapes that
 * smuggle addresses, and resolution of "localhost" (the only name resolved
 * here: the test machines have no network beyond loopback).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "security/ssrf.h"

static struct sockaddr_storage addr_of(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(text, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, text, &in->sin_addr), 1);
    }
    return ss;
}

#define P SSRF_PUBLIC
struct addr_case {
    const char *addr;
    enum ssrf_class cls;
};

/* Each range at its edges where it matters, with public neighbours. */
static const struct addr_case addr_cases[] = {
    /* IPv4 public */
    {"8.8.8.8", P}, {"1.1.1.1", P}, {"93.184.216.34", P},
    {"9.255.255.255", P}, {"11.0.0.0", P}, {"100.63.255.255", P}, {"100.128.0.0", P},
    {"126.255.255.255", P}, {"128.0.0.0", P}, {"169.253.255.255", P}, {"169.255.0.0", P},
    {"172.15.255.255", P}, {"172.32.0.0", P}, {"192.0.1.0", P}, {"192.0.3.0", P},
    {"192.167.255.255", P}, {"192.169.0.0", P}, {"198.17.255.255", P}, {"198.20.0.0", P},
    {"198.51.99.255", P}, {"198.51.101.0", P}, {"203.0.112.255", P}, {"203.0.114.0", P},
    {"223.255.255.255", P}, {"1.0.0.0", P},
    /* unspecified, "this network" */
    {"0.0.0.0", SSRF_UNSPECIFIED}, {"0.255.255.255", SSRF_UNSPECIFIED},
    /* loopback */
    {"127.0.0.1", SSRF_LOOPBACK}, {"127.255.255.254", SSRF_LOOPBACK}, {"127.0.0.0", SSRF_LOOPBACK},
    /* private */
    {"10.0.0.0", SSRF_PRIVATE}, {"10.255.255.255", SSRF_PRIVATE},
    {"172.16.0.0", SSRF_PRIVATE}, {"172.31.255.255", SSRF_PRIVATE},
    {"192.168.0.1", SSRF_PRIVATE}, {"192.168.255.255", SSRF_PRIVATE},
    /* CGNAT */
    {"100.64.0.0", SSRF_SHARED}, {"100.127.255.255", SSRF_SHARED},
    /* link-local and metadata */
    {"169.254.0.1", SSRF_LINK_LOCAL}, {"169.254.255.255", SSRF_LINK_LOCAL},
    {"169.254.169.254", SSRF_METADATA}, {"169.254.170.2", SSRF_METADATA},
    {"100.100.100.200", SSRF_METADATA}, {"168.63.129.16", SSRF_METADATA},
    /* multicast, reserved, broadcast */
    {"224.0.0.1", SSRF_MULTICAST}, {"239.255.255.255", SSRF_MULTICAST},
    {"240.0.0.1", SSRF_RESERVED}, {"255.255.255.254", SSRF_RESERVED},
    {"255.255.255.255", SSRF_BROADCAST},
    {"192.0.0.8", SSRF_RESERVED}, {"192.0.0.170", SSRF_RESERVED}, {"192.88.99.1", SSRF_RESERVED},
    /* benchmarking, documentation */
    {"198.18.0.0", SSRF_BENCHMARK}, {"198.19.255.255", SSRF_BENCHMARK},
    {"192.0.2.1", SSRF_DOCUMENTATION}, {"198.51.100.7", SSRF_DOCUMENTATION},
    {"203.0.113.255", SSRF_DOCUMENTATION},

    /* IPv6 public */
    {"2606:4700:4700::1111", P}, {"2001:4860:4860::8888", P}, {"2a00:1450::1", P},
    {"2001:200::1", P}, {"2001:db9::1", P}, {"2003::1", P}, {"3ffe::1", P}, {"3fff:1000::1", P},
    /* unspecified, loopback */
    {"::", SSRF_UNSPECIFIED}, {"::1", SSRF_LOOPBACK},
    /* IPv4-mapped: judged by the IPv4 inside */
    {"::ffff:127.0.0.1", SSRF_LOOPBACK}, {"::ffff:10.1.2.3", SSRF_PRIVATE},
    {"::ffff:169.254.169.254", SSRF_METADATA}, {"::ffff:0.0.0.0", SSRF_UNSPECIFIED},
    {"::ffff:224.0.0.1", SSRF_MULTICAST}, {"::ffff:8.8.8.8", P},
    /* IPv4-compatible, SIIT-translated and the rest of ::/8: reserved */
    {"::127.0.0.1", SSRF_RESERVED}, {"::8.8.8.8", SSRF_RESERVED},
    {"::ffff:0:7f00:1", SSRF_RESERVED}, {"::2", SSRF_RESERVED}, {"ff::1", SSRF_RESERVED},
    /* NAT64 */
    {"64:ff9b::127.0.0.1", SSRF_LOOPBACK}, {"64:ff9b::192.168.1.1", SSRF_PRIVATE},
    {"64:ff9b::8.8.8.8", P}, {"64:ff9b:1::1", SSRF_PRIVATE},
    /* 6to4: 2002:AABB:CCDD:: holds AA.BB.CC.DD */
    {"2002:7f00:1::1", SSRF_LOOPBACK}, {"2002:a9fe:a9fe::", SSRF_METADATA},
    {"2002:c0a8:101::", SSRF_PRIVATE}, {"2002:808:808::1", P},
    /* Teredo and the other IETF assignments in 2001::/23 */
    {"2001::1", SSRF_TEREDO}, {"2001:0:4136:e378:8000:63bf:3fff:fdd2", SSRF_TEREDO},
    {"2001:10::1", SSRF_RESERVED}, {"2001:1ff::1", SSRF_RESERVED},
    {"2001:2::1", SSRF_BENCHMARK}, {"2001:2:0:ffff::1", SSRF_BENCHMARK},
    /* documentation */
    {"2001:db8::1", SSRF_DOCUMENTATION}, {"2001:db8:ffff::1", SSRF_DOCUMENTATION},
    {"3fff::1", SSRF_DOCUMENTATION}, {"3fff:fff::1", SSRF_DOCUMENTATION},
    /* unique local, the AWS IPv6 metadata endpoint, site-local, link-local */
    {"fc00::1", SSRF_PRIVATE}, {"fdff:ffff::1", SSRF_PRIVATE}, {"fd00:ec2::254", SSRF_METADATA},
    {"fec0::1", SSRF_PRIVATE}, {"fe80::1", SSRF_LINK_LOCAL}, {"febf:ffff::1", SSRF_LINK_LOCAL},
    /* multicast */
    {"ff02::1", SSRF_MULTICAST}, {"ff05::1:3", SSRF_MULTICAST}, {"ff00::", SSRF_MULTICAST},
    /* outside 2000::/3: discard-only, SRv6 SIDs, unallocated */
    {"100::1", SSRF_RESERVED}, {"5f00::1", SSRF_RESERVED}, {"4000::1", SSRF_RESERVED},
    {"1fff:ffff::1", SSRF_RESERVED}, {"e000::1", SSRF_RESERVED},
};

static void classifies_every_range(void **state)
{
    size_t i;
    for (i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
        struct sockaddr_storage ss = addr_of(addr_cases[i].addr);
        enum ssrf_class got = ssrf_addr_class((struct sockaddr *)&ss);
        if (got != addr_cases[i].cls)
            fail_msg("%s: class %s, want %s", addr_cases[i].addr, ssrf_class_name(got),
                     ssrf_class_name(addr_cases[i].cls));
    }
}

static void allow_private_opens_only_private_ranges(void **state)
{
    size_t i;
    for (i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
        struct sockaddr_storage ss = addr_of(addr_cases[i].addr);
        enum ssrf_class c = addr_cases[i].cls;
        int want_strict = c == SSRF_PUBLIC;
        int want_loose = want_strict || c == SSRF_LOOPBACK || c == SSRF_PRIVATE ||
                         c == SSRF_SHARED || c == SSRF_LINK_LOCAL;
        int strict = ssrf_addr_allowed((struct sockaddr *)&ss, 0);
        int loose = ssrf_addr_allowed((struct sockaddr *)&ss, 1);
        if (strict != want_strict || loose != want_loose)
            fail_msg("%s: allowed %d/%d, want %d/%d", addr_cases[i].addr, strict, loose,
                     want_strict, want_loose);
    }
}

static void refuses_other_families(void **state)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    assert_int_equal(ssrf_addr_allowed((struct sockaddr *)&ss, 1), 0);
    assert_int_equal(ssrf_addr_allowed(NULL, 1), 0);
    assert_int_equal(ssrf_addr_class(NULL), SSRF_UNSUPPORTED);
}

struct url_ok {
    const char *url;
    const char *host;
    int port;
    int https;
    const char *path;
    int naddrs;
};

static void parses_good_urls(void **state)
{
    static const struct url_ok ok[] = {
        {"http://example.com", "example.com", 80, 0, "/", 0},
        {"https://example.com", "example.com", 443, 1, "/", 0},
        {"HTTPS://Example.COM:8443/Hook?a=1&b=%20#frag", "example.com", 8443, 1,
         "/Hook?a=1&b=%20", 0},
        {"http://example.com?x=1", "example.com", 80, 0, "/?x=1", 0},
        {"http://example.com#only-a-fragment", "example.com", 80, 0, "/", 0},
        {"http://my_host-1.internal:1/", "my_host-1.internal", 1, 0, "/", 0},
        {"http://h:65535/", "h", 65535, 0, "/", 0},
        {"http://xn--bcher-kva.example/", "xn--bcher-kva.example", 80, 0, "/", 0},
        {"http://1.2.3.example.com/", "1.2.3.example.com", 80, 0, "/", 0},
        {"http://0x7f.example.com/", "0x7f.example.com", 80, 0, "/", 0},
        {"http://deadbeef/", "deadbeef", 80, 0, "/", 0},
        {"http://8.8.8.8/", "8.8.8.8", 80, 0, "/", 1},
        {"http://0.0.0.0/", "0.0.0.0", 80, 0, "/", 1},
        {"http://255.255.255.255:9/", "255.255.255.255", 9, 0, "/", 1},
        {"http://[2606:4700:4700::1111]:8080/x", "2606:4700:4700::1111", 8080, 0, "/x", 1},
        {"http://[::FFFF:7F00:1]/", "::ffff:127.0.0.1", 80, 0, "/", 1},
        {"http://a.b/@c", "a.b", 80, 0, "/@c", 0},
    };
    size_t i;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct ssrf_target t;
        struct fmd_err err = {0};
        int rc = ssrf_parse_url(ok[i].url, &t, &err);
        if (rc != 0)
            fail_msg("%s: %d %s", ok[i].url, rc, err.msg);
        assert_string_equal(t.host, ok[i].host);
        assert_int_equal(t.port, ok[i].port);
        assert_int_equal(t.https, ok[i].https);
        assert_string_equal(t.path_and_query, ok[i].path);
        assert_int_equal(t.naddrs, ok[i].naddrs);
        assert_string_equal(t.resolve_entry, "");
        if (t.naddrs) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)&t.addrs[0];
            assert_int_equal(ntohs(in->sin_port), ok[i].port);  /* same offset in v6 */
        }
    }
}

struct url_bad {
    const char *url;
    const char *says;
};

static void refuses_bad_urls(void **state)
{
    static const struct url_bad bad[] = {
        {"", "empty"},
        {"ftp://example.com/", "http:// or https://"},
        {"file:///etc/passwd", "http:// or https://"},
        {"gopher://127.0.0.1:6379/_", "http:// or https://"},
        {"http:/example.com/", "http:// or https://"},
        {"http:example.com", "http:// or https://"},
        {"//example.com/", "http:// or https://"},
        {"example.com", "http:// or https://"},
        {"http://", "no host"},
        {"http:///path", "no host"},
        {"http://?q", "no host"},
        {"http://:80/", "no host"},
        {"http://user@example.com/", "credentials"},
        {"http://user:pass@example.com/", "credentials"},
        {"http://@example.com/", "credentials"},
        {"http://example.com@127.0.0.1/", "credentials"},
        {"http://example.com:0/", "port"},
        {"http://example.com:65536/", "port"},
        {"http://example.com:99999/", "port"},
        {"http://example.com:123456/", "port"},
        {"http://example.com:/", "port"},
        {"http://example.com:-1/", "port"},
        {"http://example.com:+80/", "port"},
        {"http://example.com:8o/", "port"},
        {"http://example.com:80:80/", "port"},
        {"http://[::1]x/", "after its IPv6 literal"},
        {"http://[::1/", "unterminated"},
        {"http://[]/", "invalid IPv6"},
        {"http://[127.0.0.1]/", "invalid IPv6"},
        {"http://[v1.fe]/", "invalid IPv6"},
        {"http://[fe80::1%25eth0]/", "zone id"},
        {"http://exa mple.com/", "printable ASCII"},
        {"http://example.com/a b", "printable ASCII"},
        {"http://example.com/\r\nHost: evil", "printable ASCII"},
        {"http://b\xc3\xbc" "cher.example/", "xn--"},
        {"http://example.com\\@127.0.0.1/", "backslash"},
        {"http://%31%32%37.0.0.1/", "only letters, digits"},
        {"http://exa!mple.com/", "only letters, digits"},
        {"http://a..b/", "empty or over-long label"},
        {"http://.a/", "empty or over-long label"},
        {"http://./", "end with a dot"},
        {"http://example.com./", "end with a dot"},
        /* Numbers a resolver would read as 127.0.0.1. */
        {"http://127.1/", "canonical IPv4"},
        {"http://127.0.1/", "canonical IPv4"},
        {"http://2130706433/", "canonical IPv4"},
        {"http://0x7f000001/", "canonical IPv4"},
        {"http://0X7F000001/", "canonical IPv4"},
        {"http://0x7f.1/", "canonical IPv4"},
        {"http://0x7f.0x0.0x0.0x1/", "canonical IPv4"},
        {"http://0177.0.0.1/", "canonical IPv4"},
        {"http://0177.0000.0000.0001/", "canonical IPv4"},
        {"http://127.00.0.1/", "canonical IPv4"},
        {"http://127.0.0.01/", "canonical IPv4"},
        {"http://127.0.0.1./", "end with a dot"},
        {"http://127.0.0.1.1/", "canonical IPv4"},
        {"http://256.0.0.1/", "canonical IPv4"},
        {"http://1.2.3.256/", "canonical IPv4"},
        {"http://1.2.3.0x4/", "canonical IPv4"},
        {"http://0/", "canonical IPv4"},
        {"http://0x/", "canonical IPv4"},
        {"http://example.123/", "canonical IPv4"},
        {"http://example.0x10/", "canonical IPv4"},
        {"http://4294967295/", "canonical IPv4"},
    };
    size_t i;
    char longhost[300], longpath[2100];

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ssrf_target t;
        struct fmd_err err = {0};
        int rc = ssrf_parse_url(bad[i].url, &t, &err);
        if (rc != FMD_EINVAL || !strstr(err.msg, bad[i].says))
            fail_msg("%s: %d '%s', want '%s'", bad[i].url, rc, err.msg, bad[i].says);
        assert_string_equal(t.host, "");        /* nothing half-filled */
    }
    assert_int_equal(ssrf_parse_url(NULL, &(struct ssrf_target){0}, NULL), FMD_EINVAL);

    /* A 64-character label, and a 254-character name. */
    memset(longhost, 0, sizeof(longhost));
    memcpy(longhost, "http://", 7);
    memset(longhost + 7, 'a', 64);
    assert_int_equal(ssrf_parse_url(longhost, &(struct ssrf_target){0}, NULL), FMD_EINVAL);
    longhost[7 + 63] = '\0';
    assert_int_equal(ssrf_parse_url(longhost, &(struct ssrf_target){0}, NULL), 0);
    for (i = 0; i < 4; i++) {
        memset(longhost + 7 + i * 64, 'a', 63);
        longhost[7 + i * 64 + 63] = '.';
    }
    longhost[7 + 253] = '\0';                   /* 253 characters, no trailing dot */
    assert_int_equal(ssrf_parse_url(longhost, &(struct ssrf_target){0}, NULL), 0);
    longhost[7 + 253] = 'a';
    longhost[7 + 254] = '\0';
    assert_int_equal(ssrf_parse_url(longhost, &(struct ssrf_target){0}, NULL), FMD_EINVAL);

    /* The path must fit path_and_query. */
    memcpy(longpath, "http://h/", 9);
    memset(longpath + 9, 'p', sizeof(longpath) - 10);
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(ssrf_parse_url(longpath, &(struct ssrf_target){0}, NULL), FMD_EINVAL);
    longpath[8 + 2047] = '\0';                  /* 2047 characters from the '/' */
    assert_int_equal(ssrf_parse_url(longpath, &(struct ssrf_target){0}, NULL), 0);
}

/* Errors name the host, never the path or query (they may hold a token). */
static void errors_do_not_leak_the_path(void **state)
{
    struct ssrf_target t;
    struct fmd_err err = {0};
    assert_int_equal(ssrf_check_url("http://127.0.0.1/hooks/s3cr3t-token", 0, &t, &err),
                     FMD_EFORBIDDEN);
    assert_null(strstr(err.msg, "s3cr3t"));
    assert_int_equal(ssrf_parse_url("http://user:s3cr3t@h/", &t, &err), FMD_EINVAL);
    assert_null(strstr(err.msg, "s3cr3t"));
}

static void literals_are_checked_without_dns(void **state)
{
    static const struct {
        const char *url;
        int strict, loose;          /* expected rc without and with allow_private */
    } cases[] = {
        {"http://127.0.0.1:8080/", FMD_EFORBIDDEN, 0},
        {"http://[::1]/", FMD_EFORBIDDEN, 0},
        {"http://[::ffff:127.0.0.1]/", FMD_EFORBIDDEN, 0},
        {"http://[::ffff:7f00:1]/", FMD_EFORBIDDEN, 0},
        {"http://10.0.0.5/", FMD_EFORBIDDEN, 0},
        {"http://[fe80::1]/", FMD_EFORBIDDEN, 0},
        {"http://169.254.169.254/latest/meta-data/", FMD_EFORBIDDEN, FMD_EFORBIDDEN},
        {"http://[::ffff:169.254.169.254]/", FMD_EFORBIDDEN, FMD_EFORBIDDEN},
        {"http://[fd00:ec2::254]/", FMD_EFORBIDDEN, FMD_EFORBIDDEN},
        {"http://0.0.0.0/", FMD_EFORBIDDEN, FMD_EFORBIDDEN},
        {"http://[::]/", FMD_EFORBIDDEN, FMD_EFORBIDDEN},
        {"http://224.0.0.1/", FMD_EFORBIDDEN, FMD_EFORBIDDEN},
        {"http://[ff02::1]/", FMD_EFORBIDDEN, FMD_EFORBIDDEN},
        {"http://255.255.255.255/", FMD_EFORBIDDEN, FMD_EFORBIDDEN},
        {"http://[2001::1]/", FMD_EFORBIDDEN, FMD_EFORBIDDEN},
        {"http://[64:ff9b::7f00:1]/", FMD_EFORBIDDEN, 0},
        {"http://[2002:7f00:1::1]/", FMD_EFORBIDDEN, 0},
        {"http://8.8.8.8/", 0, 0},
        {"https://[2606:4700:4700::1111]/", 0, 0},
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ssrf_target t;
        struct fmd_err err = {0};
        int rc0 = ssrf_check_url(cases[i].url, 0, &t, &err);
        int rc1 = ssrf_check_url(cases[i].url, 1, &t, &err);
        if (rc0 != cases[i].strict || rc1 != cases[i].loose)
            fail_msg("%s: %d/%d, want %d/%d (%s)", cases[i].url, rc0, rc1, cases[i].strict,
                     cases[i].loose, err.msg);
        if (rc1 == 0) {
            assert_int_equal(t.naddrs, 1);
            assert_string_equal(t.resolve_entry, "");
        }
    }
}

static void messages_say_what_and_how(void **state)
{
    struct ssrf_target t;
    struct fmd_err err = {0};

    assert_int_equal(ssrf_check_url("http://[::ffff:127.0.0.1]/", 0, &t, &err), FMD_EFORBIDDEN);
    assert_string_equal(err.msg, "webhook target '::ffff:127.0.0.1' is a loopback address; "
                                 "pass --allow-private-targets to allow it");
    assert_int_equal(ssrf_check_url("http://169.254.169.254/", 1, &t, &err), FMD_EFORBIDDEN);
    assert_string_equal(err.msg, "webhook target '169.254.169.254' is a cloud metadata address, "
                                 "which is never allowed");
    assert_int_equal(ssrf_check_url("http://127.1/", 1, &t, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "webhook url host '127.1' is not a canonical IPv4 address "
                                 "(write four decimal numbers, like 192.0.2.1)");
}

/* The one name resolvable offline. */
static void localhost_needs_allow_private(void **state)
{
    struct ssrf_target t;
    struct fmd_err err = {0};
    int i, rc;

    rc = ssrf_check_url("http://localhost:8080/hook", 0, &t, &err);
    assert_int_equal(rc, FMD_EFORBIDDEN);
    assert_non_null(strstr(err.msg, "webhook target 'localhost' resolves to a loopback address ("));
    assert_non_null(strstr(err.msg, "); pass --allow-private-targets to allow it"));
    assert_int_equal(t.naddrs, 0);

    rc = ssrf_check_url("http://LocalHost:8080/hook?x=1", 1, &t, &err);
    if (rc != 0)
        fail_msg("localhost with allow_private: %d %s", rc, err.msg);
    assert_string_equal(t.host, "localhost");
    assert_int_equal(t.port, 8080);
    assert_string_equal(t.path_and_query, "/hook?x=1");
    assert_in_range(t.naddrs, 1, SSRF_MAX_ADDRS);
    assert_true(strncmp(t.resolve_entry, "localhost:8080:", 15) == 0);
    for (i = 0; i < t.naddrs; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&t.addrs[i];
        assert_int_equal(ssrf_addr_class(sa), SSRF_LOOPBACK);
        if (sa->sa_family == AF_INET) {
            assert_int_equal(ntohs(((const struct sockaddr_in *)sa)->sin_port), 8080);
            assert_non_null(strstr(t.resolve_entry, "127.0.0.1"));
        } else {
            assert_int_equal(ntohs(((const struct sockaddr_in6 *)sa)->sin6_port), 8080);
            assert_non_null(strstr(t.resolve_entry, "[::1]"));
        }
    }
    print_message("resolve_entry %s\n", t.resolve_entry);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classifies_every_range),
        cmocka_unit_test(allow_private_opens_only_private_ranges),
        cmocka_unit_test(refuses_other_families),
        cmocka_unit_test(parses_good_urls),
        cmocka_unit_test(refuses_bad_urls),
        cmocka_unit_test(errors_do_not_leak_the_path),
        cmocka_unit_test(literals_are_checked_without_dns),
        cmocka_unit_test(messages_say_what_and_how),
        cmocka_unit_test(localhost_needs_allow_private),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
