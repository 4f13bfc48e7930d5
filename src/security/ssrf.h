/*
 * ssrf.h - checks on outbound targets (webhooks, AI servers) against SSRF.
 *
 * A URL given by a user must not make formd talk to itself, to the private
 * network it sits in or to a cloud metadata service. The defence has three
 * parts:
 *   1. ssrf_parse_url accepts only plain http(s) URLs with a host name or a
 *      canonical IP literal: no credentials, no "127.1", "2130706433",
 *      "0x7f.1" or "0177.0.0.1" shorthands that resolvers read as addresses.
 *   2. ssrf_check_url resolves the host once and requires every address to
 *      be allowed (ssrf_addr_allowed), so a name with one public and one
 *      private address is refused.
 *   3. The caller connects only to the checked addresses (curl:
 *      CURLOPT_RESOLVE with resolve_entry), never resolving again, so a
 *      second DNS answer (rebinding) cannot change the target; redirects are
 *      not followed.
 * Refused always: unspecified, multicast, broadcast, reserved (240/4 and IPv6
 * outside 2000::/3), benchmarking, documentation, Teredo and cloud metadata
 * addresses. Refused unless allow_private: loopback, private (RFC 1918,
 * fc00::/7, fec0::/10), shared/CGNAT (100.64/10) and link-local. IPv4-mapped,
 * NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses are judged by the IPv4
 * address inside them.
 */
#ifndef FMD_SECURITY_SSRF_H
#define FMD_SECURITY_SSRF_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "core/err.h"

#define SSRF_MAX_ADDRS 8

struct ssrf_target {
    char host[256];             /* lowercase; an IPv6 literal without brackets */
    int port;                   /* 1..65535; 80 or 443 when the URL has none */
    int https;                  /* 1 for https, 0 for http */
    char path_and_query[2048];  /* from the first '/' on, "/" when empty; no fragment */
    int naddrs;                 /* addresses checked and kept, 0..SSRF_MAX_ADDRS */
    struct sockaddr_storage addrs[SSRF_MAX_ADDRS];  /* port filled in */
    /* "host:port:addr1,addr2" for CURLOPT_RESOLVE (IPv6 in brackets); empty
     * when host is an IP literal, which curl connects to without resolving. */
    char resolve_entry[600];
};

/* What an address is, for the decision and for error messages. */
enum ssrf_class {
    SSRF_PUBLIC = 0,
    SSRF_LOOPBACK,
    SSRF_PRIVATE,
    SSRF_SHARED,                /* 100.64/10, carrier-grade NAT */
    SSRF_LINK_LOCAL,
    SSRF_METADATA,              /* cloud instance metadata services */
    SSRF_UNSPECIFIED,
    SSRF_MULTICAST,
    SSRF_BROADCAST,
    SSRF_RESERVED,
    SSRF_BENCHMARK,
    SSRF_DOCUMENTATION,
    SSRF_TEREDO,
    SSRF_UNSUPPORTED            /* not AF_INET or AF_INET6, or NULL */
};

/* Classifies sa (AF_INET or AF_INET6; anything else is SSRF_UNSUPPORTED). */
enum ssrf_class ssrf_addr_class(const struct sockaddr *sa);

/* "a loopback address", "the broadcast address", ...: for messages. */
const char *ssrf_class_name(enum ssrf_class c);

/*
 * 1 if formd may connect to sa, else 0. allow_private (--allow-private-targets)
 * admits loopback, private, shared and link-local addresses; the others stay
 * refused whatever it says.
 */
int ssrf_addr_allowed(const struct sockaddr *sa, int allow_private);

/*
 * Parses url into *out without any DNS look-up and without judging the
 * address: scheme, host, port and path. For an IP-literal host the address is
 * stored as addrs[0] (naddrs 1); for a name naddrs is 0. resolve_entry is left
 * empty. FMD_EINVAL for anything but an http(s) URL as described above; err
 * says why and names the host, never the rest of the URL (its path may hold a
 * token), and *out is left zeroed. Safe on any input: the fuzz target runs it.
 */
int ssrf_parse_url(const char *url, struct ssrf_target *out, struct fmd_err *err);

/*
 * ssrf_parse_url, then resolves a host name (getaddrinfo, AF_UNSPEC,
 * SOCK_STREAM; blocking) and requires every address to be allowed. Fills out
 * with up to SSRF_MAX_ADDRS distinct addresses and resolve_entry.
 * Fails with FMD_EINVAL (bad URL), FMD_EFORBIDDEN (an address not allowed),
 * FMD_EUNPROC (the name does not exist or has no address), FMD_EUNAVAIL
 * (temporary resolver failure: worth a retry) or FMD_ENOMEM. On any failure
 * *out is left zeroed, so nothing half-checked can be used.
 */
int ssrf_check_url(const char *url, int allow_private, struct ssrf_target *out,
                   struct fmd_err *err);

#endif
