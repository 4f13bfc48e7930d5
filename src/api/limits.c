/*
 * limits.c - rate limits per route class, login throttling, per-form quotas
 * per minute, and the fill tokens of public forms.
 *
 * Route classes (api_rate_class, by route pattern):
 *   public      /v1/public/...            keyed by client address
 *   login       POST /v1/auth/login       keyed by client address
 *   ai          routes with an /ai/ part  keyed by principal (API key or user)
 *   management  other authenticated ones  keyed by principal
 *   none        /healthz, /readyz, /metrics, /openapi.json
 * Public and login are checked by the server's admission hook (api_admit),
 * before the handler does any work; the principal's classes right after the
 * token is checked (api_auth), and a request whose token fails spends from
 * its address's bucket of the class instead, so guessing tokens is limited
 * too.
 *
 * The client address is the socket peer. Only when the peer is one of
 * --trusted-proxies is X-Forwarded-For believed: its rightmost address that
 * is not itself a trusted proxy is the client.
 *
 * Everything here is in the memory of one process (one API node): with N
 * nodes behind a balancer, a client gets up to N times the limit.
 *
 * A fill token is "<issued ms>.<MAC>": the MAC (crypto_auth, HMAC-SHA-512-256)
 * of "<slug>\n<issued ms>" under a key derived from a secret that migration
 * 10 stores in the database once, so every node issues and checks the same
 * tokens and they survive restarts.
 */
#include "api/api.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/mem.h"
#include "metrics/metrics.h"
#include "security/ratelimit.h"
#include "core/banned.h"

#define TABLE_ENTRIES 65536       /* per table: 8 MB of calloc (sizeof entry), bounded */
#define TRUSTED_MAX 32
#define ADDR_MAX 46               /* INET6_ADDRSTRLEN */
#define FILL_TOKEN_TTL_MS (24 * 3600 * 1000LL)

static const char *const class_names[RATE_NCLASS] = {"public", "login", "management", "ai"};

/*
 * Login throttling: from an account's 5th failure in a row, 1 s, 2 s, 4 s,
 * ... up to 15 min. An address may be shared (an office behind NAT), so its
 * delays start at its 20th failure in a row.
 */
static const struct ratelimit_backoff account_backoff = {
    .after = 5, .base_ms = 1000, .cap_ms = 15 * 60 * 1000, .window_ms = 15 * 60 * 1000};
static const struct ratelimit_backoff address_backoff = {
    .after = 20, .base_ms = 1000, .cap_ms = 15 * 60 * 1000, .window_ms = 15 * 60 * 1000};

static struct {
    struct ratelimit *buckets, *logins, *quotas;
    struct ratelimit_spec spec[RATE_NCLASS];
    char trusted[TRUSTED_MAX][ADDR_MAX];
    int ntrusted;
    unsigned char fill_key[crypto_auth_KEYBYTES];
    struct metric *m_limited, *m_spam;
} L;

/* ---- setup ---- */

static int parse_trusted(const char *list, struct fmd_err *err)
{
    const char *p = list;
    unsigned char bin[16];

    L.ntrusted = 0;
    while (p && *p) {
        size_t n = strcspn(p, ", ");
        if (n) {
            char addr[ADDR_MAX];
            if (n >= sizeof(addr) || L.ntrusted == TRUSTED_MAX)
                return fmd_errf(err, FMD_EINVAL, "option 'trusted-proxies': too long an entry "
                                "or more than %d entries", TRUSTED_MAX);
            memcpy(addr, p, n);
            addr[n] = '\0';
            if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1)
                return fmd_errf(err, FMD_EINVAL, "option 'trusted-proxies': '%s' is not an "
                                "IP address", addr);
            fmd_strlcpy(L.trusted[L.ntrusted++], addr, ADDR_MAX);
        }
        p += n;
        p += strspn(p, ", ");
    }
    return 0;
}

int api_limits_init(const struct config *cfg, const char *fill_secret, struct fmd_err *err)
{
    static const char *const class_label[] = {"class", NULL};
    const char *specs[RATE_NCLASS] = {cfg->rate_public, cfg->rate_login, cfg->rate_management,
                                      cfg->rate_ai};
    static const char *const opt[RATE_NCLASS] = {"rate-public", "rate-login",
                                                 "rate-management", "rate-ai"};
    int i, rc;

    for (i = 0; i < RATE_NCLASS; i++)
        if ((rc = ratelimit_parse(specs[i] ? specs[i] : "", opt[i], &L.spec[i], err)))
            return rc;
    if ((rc = parse_trusted(cfg->trusted_proxies, err)))
        return rc;
    if (fill_secret && *fill_secret)
        crypto_generichash(L.fill_key, sizeof(L.fill_key), (const unsigned char *)fill_secret,
                           strlen(fill_secret), (const unsigned char *)"formd fill token", 16);
    else
        randombytes_buf(L.fill_key, sizeof(L.fill_key));
    L.m_limited = metric_register("formd_rate_limited_total",
                                  "Requests refused with 429 by a rate limit, by route class",
                                  METRIC_COUNTER, class_label, NULL, 0);
    L.m_spam = metric_register("formd_spam_submissions_total",
                               "Public submissions stored as spam (honeypot or fill time)",
                               METRIC_COUNTER, NULL, NULL, 0);
    if (!L.m_limited || !L.m_spam || ratelimit_new(TABLE_ENTRIES, &L.buckets) ||
        ratelimit_new(TABLE_ENTRIES, &L.logins) || ratelimit_new(TABLE_ENTRIES, &L.quotas)) {
        api_limits_release();
        return fmd_errf(err, FMD_ENOMEM, "out of memory for the rate limit tables");
    }
    return 0;
}

void api_limits_release(void)
{
    ratelimit_free(L.buckets);
    ratelimit_free(L.logins);
    ratelimit_free(L.quotas);
    sodium_memzero(&L, sizeof(L));
}

/* ---- client address and classes ---- */

static int is_trusted(const char *addr)
{
    int i;
    for (i = 0; i < L.ntrusted; i++)
        if (!strcmp(L.trusted[i], addr))
            return 1;
    return 0;
}

/* The rightmost X-Forwarded-For entry that is not a trusted proxy, if it is an address. */
static int forwarded_client(const char *xff, char out[ADDR_MAX])
{
    const char *end = xff + strlen(xff);
    unsigned char bin[16];

    while (end > xff) {
        const char *start = end;
        size_t n;
        char addr[ADDR_MAX];
        while (start > xff && start[-1] != ',')
            start--;
        while (start < end && (*start == ' ' || *start == '\t'))
            start++;
        n = (size_t)(end - start);
        while (n && (start[n - 1] == ' ' || start[n - 1] == '\t'))
            n--;
        if (!n || n >= sizeof(addr))
            return -1;
        memcpy(addr, start, n);
        addr[n] = '\0';
        if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1)
            return -1;
        if (!is_trusted(addr)) {
            fmd_strlcpy(out, addr, ADDR_MAX);
            return 0;
        }
        end = start;
        while (end > xff && end[-1] != ',')
            end--;
        if (end > xff)
            end--;   /* the comma */
    }
    return -1;
}

void api_client_address(struct http_req *req, char *out, size_t cap)
{
    char peer[ADDR_MAX], fwd[ADDR_MAX];
    const char *xff;

    if (http_peer(req, peer, sizeof(peer)))
        fmd_strlcpy(peer, "unknown", sizeof(peer));
    if (L.ntrusted && is_trusted(peer) && (xff = http_header(req, "X-Forwarded-For")) &&
        !forwarded_client(xff, fwd)) {
        fmd_strlcpy(out, fwd, cap);
        return;
    }
    fmd_strlcpy(out, peer, cap);
}

enum rate_class api_rate_class(const struct http_route *route)
{
    const char *p;
    if (!route)
        return RATE_NONE;
    p = route->pattern;
    if (!strncmp(p, "/v1/public/", 11))
        return RATE_PUBLIC;
    if (!strcmp(p, "/v1/auth/login"))
        return RATE_LOGIN;
    if (strncmp(p, "/v1/", 4))
        return RATE_NONE;
    if (strstr(p, "/ai/"))
        return RATE_AI;
    return RATE_MANAGEMENT;
}

void api_too_many(struct http_req *req, int64_t wait_ms, const char *detail)
{
    char secs[24];
    snprintf(secs, sizeof(secs), "%" PRId64, ratelimit_retry_after(wait_ms));
    http_add_header(req, "Retry-After", secs);
    http_problem(req, FMD_ERATE, NULL, detail, NULL);
}

/* Spends one token of class c for key (an address or a principal): 0, or answered 429. */
static int spend(struct http_req *req, enum rate_class c, const char *who)
{
    char key[RATELIMIT_KEY_MAX + 1];
    const char *labels[1];
    int64_t wait;

    if (c == RATE_NONE || L.spec[c].rate <= 0)
        return 0;
    snprintf(key, sizeof(key), "%d:%s", (int)c, who);
    if (!(wait = ratelimit_take(L.buckets, key, &L.spec[c], clock_mono_ns() / 1000000)))
        return 0;
    labels[0] = class_names[c];
    metric_inc(L.m_limited, labels, 1);
    api_too_many(req, wait, "too many requests: slow down and retry after the time in "
                            "Retry-After");
    return -1;
}

int api_admit(struct http_req *req)
{
    enum rate_class c = api_rate_class(req->route);
    char addr[ADDR_MAX];

    if (c != RATE_PUBLIC && c != RATE_LOGIN)
        return 0;
    api_client_address(req, addr, sizeof(addr));
    return spend(req, c, addr) ? 1 : 0;
}

int api_rate_principal(struct http_req *req, const char *principal_id)
{
    return spend(req, api_rate_class(req->route), principal_id);
}

int api_rate_address(struct http_req *req)
{
    char addr[ADDR_MAX];
    api_client_address(req, addr, sizeof(addr));
    return spend(req, api_rate_class(req->route), addr);
}

/* ---- login throttling ---- */

/* "a:<email, trimmed and lowercased>" and "l:<address>". */
static void login_keys(struct http_req *req, const char *email, char akey[RATELIMIT_KEY_MAX + 1],
                       char lkey[RATELIMIT_KEY_MAX + 1])
{
    char addr[ADDR_MAX];
    size_t n, i = 2;

    while (*email == ' ' || *email == '\t')
        email++;
    n = strlen(email);
    while (n && (email[n - 1] == ' ' || email[n - 1] == '\t'))
        n--;
    akey[0] = 'a';
    akey[1] = ':';
    /* A long email is hashed, so that two cut at the same length stay apart. */
    if (n > RATELIMIT_KEY_MAX - 2) {
        unsigned char h[16];
        char lower[1024];
        size_t k;
        for (k = 0; k < n && k < sizeof(lower); k++)
            lower[k] = (char)((email[k] >= 'A' && email[k] <= 'Z') ? email[k] + 32 : email[k]);
        crypto_generichash(h, sizeof(h), (const unsigned char *)lower, k, NULL, 0);
        sodium_bin2hex(akey + 2, RATELIMIT_KEY_MAX - 1, h, sizeof(h));
    } else {
        for (; i - 2 < n; i++)
            akey[i] = (char)((email[i - 2] >= 'A' && email[i - 2] <= 'Z') ? email[i - 2] + 32
                                                                           : email[i - 2]);
        akey[i] = '\0';
    }
    api_client_address(req, addr, sizeof(addr));
    snprintf(lkey, RATELIMIT_KEY_MAX + 1, "l:%s", addr);
}

int api_login_throttled(struct http_req *req, const char *email)
{
    char akey[RATELIMIT_KEY_MAX + 1], lkey[RATELIMIT_KEY_MAX + 1];
    int64_t now = clock_mono_ns() / 1000000, a, l;
    const char *labels[1] = {"login"};

    login_keys(req, email, akey, lkey);
    a = ratelimit_blocked(L.logins, akey, now);
    l = ratelimit_blocked(L.logins, lkey, now);
    if (!a && !l)
        return 0;
    metric_inc(L.m_limited, labels, 1);
    api_too_many(req, a > l ? a : l,
                 "too many failed logins: retry after the time in Retry-After");
    return -1;
}

void api_login_failed(struct http_req *req, const char *email)
{
    char akey[RATELIMIT_KEY_MAX + 1], lkey[RATELIMIT_KEY_MAX + 1];
    int64_t now = clock_mono_ns() / 1000000;

    login_keys(req, email, akey, lkey);
    ratelimit_fail(L.logins, akey, &account_backoff, now);
    ratelimit_fail(L.logins, lkey, &address_backoff, now);
}

void api_login_succeeded(struct http_req *req, const char *email)
{
    char akey[RATELIMIT_KEY_MAX + 1], lkey[RATELIMIT_KEY_MAX + 1];
    login_keys(req, email, akey, lkey);
    ratelimit_forget(L.logins, akey);
}

/* ---- per-form quota per minute ---- */

int64_t api_quota_minute(const char *form_id, int64_t per_minute)
{
    struct ratelimit_spec s = {.rate = (double)per_minute / 60.0, .burst = (double)per_minute};
    if (per_minute <= 0)
        return 0;
    return ratelimit_take(L.quotas, form_id, &s, clock_mono_ns() / 1000000);
}

/* ---- spam ---- */

void api_count_spam(void)
{
    metric_inc0(L.m_spam, 1);
}

static void fill_mac(const char *slug, int64_t issued, unsigned char mac[crypto_auth_BYTES])
{
    char msg[128];
    int n = snprintf(msg, sizeof(msg), "%s\n%" PRId64, slug, issued);
    crypto_auth(mac, (const unsigned char *)msg, (unsigned long long)n, L.fill_key);
}

void api_fill_token(const char *slug, char out[API_FILL_TOKEN_MAX])
{
    unsigned char mac[crypto_auth_BYTES];
    int64_t now = clock_wall_ms();
    int n;

    fill_mac(slug, now, mac);
    n = snprintf(out, API_FILL_TOKEN_MAX, "%" PRId64 ".", now);
    sodium_bin2base64(out + n, API_FILL_TOKEN_MAX - (size_t)n, mac, sizeof(mac),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int api_fill_token_age(const char *slug, const char *token, int64_t *age_ms)
{
    unsigned char mac[crypto_auth_BYTES], want[crypto_auth_BYTES];
    const char *dot;
    char *end;
    size_t len;
    long long issued;
    int64_t now = clock_wall_ms();

    if (!token || !(dot = strchr(token, '.')) || dot == token || dot - token > 19)
        return -1;
    issued = strtoll(token, &end, 10);
    if (end != dot || issued <= 0)
        return -1;
    if (sodium_base642bin(mac, sizeof(mac), dot + 1, strlen(dot + 1), NULL, &len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) ||
        len != sizeof(mac))
        return -1;
    fill_mac(slug, (int64_t)issued, want);
    if (sodium_memcmp(mac, want, sizeof(mac)))
        return -1;
    if (issued > now + 60000 || now - issued > FILL_TOKEN_TTL_MS)
        return -1;   /* from the future (beyond clock skew) or too old */
    *age_ms = now - (int64_t)issued;
    return 0;
}
