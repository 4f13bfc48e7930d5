/*
 * server.c - libmicrohttpd in epoll + thread-pool mode, with formd's rules.
 *
 * What this adds to MHD:
 * - limits answered as problem JSON (MHD's own error pages are HTML): body
 *   size 413, all headers 431, URI 414, checked here below MHD's memory
 *   limit so our answer wins for anything MHD can parse at all;
 * - rejection of duplicate Content-Length and of Content-Length together
 *   with Transfer-Encoding (request smuggling), which MHD accepts;
 * - a total time per request: MHD's timeout restarts on every byte, so a
 *   client trickling one byte a second would hold a connection forever. A
 *   watchdog thread shuts down the socket of any connection whose current
 *   request has run past its deadline;
 * - request ids, W3C trace context, security headers on every response;
 * - OPTIONS answered here (Allow), with CORS for the origins and paths the
 *   application names (http_server_opts), off by default;
 * - suspension of a request while its write waits for the group commit.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/mem.h"
#include "core/banned.h"

/*
 * ST_NEW: made when MHD has the request line (uri_begun), headers not yet
 * read; ST_RECEIVING: headers checked, body arriving; then suspended and
 * resumed around a group commit, and answered.
 */
enum req_state { ST_NEW, ST_RECEIVING, ST_SUSPENDED, ST_RESUMED, ST_ANSWERED };

/* One per TCP connection, for the watchdog. */
struct conn_watch {
    struct conn_watch *prev, *next;
    int fd;
    _Atomic int64_t deadline_ms;   /* wall ms; 0: none */
};

struct http_server {
    struct MHD_Daemon *mhd;
    struct http_server_opts o;
    struct json_limits json_lim;
    int port;
    atomic_long inflight;
    atomic_long suspended;
    pthread_mutex_t watch_lock;
    struct conn_watch watch_head;   /* circular list sentinel */
    pthread_t watchdog;
    atomic_int stopping;        /* answer new requests 503 */
    atomic_int watchdog_stop;
};

/* ---- request helpers for handlers ---- */

int http_peer(struct http_req *req, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    if (!cap)
        return -1;
    out[0] = '\0';
    if (sa && sa->sa_family == AF_INET &&
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap))
        return 0;
    if (sa && sa->sa_family == AF_INET6 &&
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)cap))
        return 0;
    out[0] = '\0';
    return -1;
}

const char *http_header(struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_query(struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

void http_add_header(struct http_req *req, const char *name, const char *value)
{
    struct http_header *h = arena_alloc(&req->arena, sizeof(*h));
    if (!h || !(h->name = arena_strdup(&req->arena, name)) ||
        !(h->value = arena_strdup(&req->arena, value)))
        return;
    h->next = req->headers;
    req->headers = h;
}

int http_answered(const struct http_req *req)
{
    return req->status != 0;
}

void http_send(struct http_req *req, int status, const char *content_type,
               const char *body, size_t len)
{
    buf_reset(&req->out);
    if (buf_add(&req->out, body, len)) {
        status = 503;
        content_type = "application/problem+json";
        buf_reset(&req->out);
    }
    req->status = status;
    req->content_type = content_type;
}

void http_send_file(struct http_req *req, int status, const char *content_type, int fd,
                    uint64_t size)
{
    buf_reset(&req->out);
    if (req->file_fd >= 0)
        close(req->file_fd);
    req->file_fd = fd;
    req->file_size = size;
    req->status = status;
    req->content_type = content_type;
}

void http_send_empty(struct http_req *req, int status)
{
    buf_reset(&req->out);
    req->status = status;
    req->content_type = NULL;
}

void http_send_json(struct http_req *req, int status, json_t *v)
{
    buf_reset(&req->out);
    if (!v || json_append(&req->out, v)) {
        json_decref(v);
        http_problem(req, FMD_ENOMEM, NULL, "out of memory building the response", NULL);
        return;
    }
    json_decref(v);
    req->status = status;
    req->content_type = "application/json";
}

void http_problem(struct http_req *req, int code, const char *name, const char *detail,
                  json_t *errors)
{
    int status = fmd_err_http(code);
    struct buf *b = &req->out;
    struct buf clean;
    int rc;

    if (!name)
        name = fmd_err_name(code);
    if (!detail || !*detail)
        detail = fmd_err_msg(code);
    /* A detail may quote what the client sent (a path segment): keep the JSON valid UTF-8. */
    buf_init(&clean, 4 * strlen(detail) + 1);
    rc = buf_add_utf8(&clean, detail, strlen(detail));
    buf_reset(b);
    rc = rc ? rc : buf_printf(b, "{\"type\":\"https://formd.dev/problems/%s\",\"title\":\"%s\","
                                 "\"status\":%d,\"detail\":\"",
                              name, http_status_text(status), status);
    rc = rc ? rc : buf_add_json_str(b, clean.p, clean.len);
    buf_release(&clean);
    rc = rc ? rc : buf_printf(b, "\",\"request_id\":\"%s\"", req->request_id);
    if (!rc && errors) {
        rc = buf_adds(b, ",\"errors\":");
        rc = rc ? rc : json_append(b, errors);
    }
    rc = rc ? rc : buf_addc(b, '}');
    json_decref(errors);
    if (rc) {
        buf_reset(b);
        buf_adds(b, "{\"type\":\"https://formd.dev/problems/no_memory\",\"status\":503}");
        status = 503;
    }
    req->status = status;
    req->content_type = "application/problem+json";
    if (status >= 500)
        log_error("%s %s answered %d: %s", http_method_name(req->method), req->path,
                  status, detail);
}

void http_problem_err(struct http_req *req, const struct fmd_err *err)
{
    http_problem(req, err->code ? err->code : FMD_EINTERNAL, NULL, err->msg, NULL);
}

json_t *http_body_json(struct http_req *req)
{
    struct fmd_err err = {0};
    json_t *v;
    if (json_parse(req->body.p, req->body.len, &req->server->json_lim, &v, &err)) {
        http_problem(req, FMD_EINVAL, NULL, err.msg, NULL);
        return NULL;
    }
    return v;
}

void http_suspend(struct http_req *req, http_handler cont)
{
    req->resume = cont;
    req->suspended = 1;
    req->state = ST_SUSPENDED;
    atomic_fetch_add(&req->server->suspended, 1);
    MHD_suspend_connection(req->conn);
}

void http_resume(struct http_req *req)
{
    /* The suspended count drops when MHD hands the request back (on_request). */
    req->state = ST_RESUMED;
    MHD_resume_connection(req->conn);
}

/* ---- trace context ---- */

/* 1 if s[0..n) is lowercase hex; *nonzero says whether any digit is not 0. */
static int is_hex(const char *s, size_t n, int *nonzero)
{
    size_t i;
    *nonzero = 0;
    for (i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
        *nonzero |= s[i] != '0';
    }
    return 1;
}

/*
 * 1 if tp is a traceparent to continue, "VV-<32 hex trace>-<16 hex parent>-
 * <2 hex flags>" with a version other than ff, non-zero ids, and nothing
 * after the flags for version 00; its trace id is then in trace_id. Else 0.
 */
static int traceparent_parse(const char *tp, char trace_id[33])
{
    int nz, trace_nz, parent_nz;
    size_t n = tp ? strlen(tp) : 0;

    if (n >= 55 && is_hex(tp, 2, &nz) && strncmp(tp, "ff", 2) && tp[2] == '-' &&
        is_hex(tp + 3, 32, &trace_nz) && trace_nz && tp[35] == '-' &&
        is_hex(tp + 36, 16, &parent_nz) && parent_nz && tp[52] == '-' &&
        is_hex(tp + 53, 2, &nz) && (n == 55 || (nz = strncmp(tp, "00", 2)) != 0) &&
        (n == 55 || tp[55] == '-')) {
        memcpy(trace_id, tp + 3, 32);
        trace_id[32] = '\0';
        return 1;
    }
    return 0;
}

/* Continues the client's trace (traceparent_parse) or starts a new one. */
static void trace_begin(struct http_req *req)
{
    if (!traceparent_parse(http_header(req, "traceparent"), req->trace_id))
        rand_fast_hex(req->trace_id, 16);
    rand_fast_hex(req->span_id, 8);
}

/* ---- checks made before the body is read ---- */

struct header_scan {
    size_t total;
    int content_length;
    int transfer_encoding;
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct header_scan *h = cls;
    h->total += strlen(key) + strlen(value) + 4;
    if (!strcasecmp(key, "Content-Length"))
        h->content_length++;
    else if (!strcasecmp(key, "Transfer-Encoding"))
        h->transfer_encoding++;
    return MHD_YES;
}

/*
 * Content-Length is 1*DIGIT (RFC 9110 8.6): no sign, no space, no hex.
 * strtoull took " 5" and "+5" and wrapped " -5". 0 with *v set, or -1.
 */
static int content_length_parse(const char *cl, unsigned long long *v)
{
    unsigned long long n = 0;
    size_t i;

    for (i = 0; cl[i]; i++) {
        if (cl[i] < '0' || cl[i] > '9')
            return -1;
        n = n > (ULLONG_MAX - 9) / 10 ? ULLONG_MAX : n * 10 + (unsigned)(cl[i] - '0');
    }
    *v = n;
    return i ? 0 : -1;
}

static int parse_method(const char *m)
{
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD"))
        return HTTP_GET;
    if (!strcmp(m, "POST"))
        return HTTP_POST;
    if (!strcmp(m, "PUT"))
        return HTTP_PUT;
    if (!strcmp(m, "PATCH"))
        return HTTP_PATCH;
    if (!strcmp(m, "DELETE"))
        return HTTP_DELETE;
    if (!strcmp(m, "OPTIONS"))
        return HTTP_OPTIONS;
    return 0;
}

static int is_json_type(const char *ct)
{
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return (n == 16 && !strncasecmp(ct, "application/json", 16)) ||
           (n == 24 && !strncasecmp(ct, "application/problem+json", 24));
}

static void allow_header(struct http_req *req, unsigned allowed)
{
    static const enum http_method all[] = {HTTP_GET, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE};
    char list[64] = "";
    size_t i, n = 0;
    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (allowed & all[i])
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "",
                                  http_method_name(all[i]));
    http_add_header(req, "Allow", list);
}

/* Clears *cls (an int) on a query argument that is not valid UTF-8. */
static enum MHD_Result scan_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    int *ok = cls;
    if (!utf8_valid(key, strlen(key)) || (value && !utf8_valid(value, strlen(value))))
        *ok = 0;
    return *ok ? MHD_YES : MHD_NO;
}

/* 1 if the (decoded) path and every query argument are UTF-8: all text the handlers see is. */
static int uri_is_utf8(struct http_req *req, const char *url)
{
    int ok = utf8_valid(url, strlen(url));
    if (ok)
        MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, scan_arg, &ok);
    return ok;
}

/* Returns 1 when the request was answered already (an error). */
static int check_request(struct http_server *s, struct http_req *req, const char *method,
                         const char *url)
{
    struct header_scan h = {0};
    unsigned allowed;
    const char *cl, *ct;

    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, scan_header, &h);
    if (h.content_length > 1 || (h.content_length && h.transfer_encoding)) {
        req->close_after = 1;
        http_problem(req, FMD_EINVAL, NULL,
                     h.content_length > 1 ? "more than one Content-Length header"
                                          : "Content-Length together with Transfer-Encoding",
                     NULL);
        return 1;
    }
    if (h.total > s->o.max_header) {
        req->close_after = 1;
        http_problem(req, FMD_EHEADERS, NULL, "request headers are larger than the limit", NULL);
        return 1;
    }
    if (req->raw_uri_len > s->o.max_uri || req->too_many_args) {
        req->close_after = 1;
        http_problem(req, FMD_EURI, NULL,
                     req->too_many_args ? "request URI has more than 100 query arguments"
                                        : "request URI is longer than the limit",
                     NULL);
        return 1;
    }
    if (!uri_is_utf8(req, url)) {
        http_problem(req, FMD_EINVAL, NULL, "the request path or query is not valid UTF-8",
                     NULL);
        return 1;
    }
    req->method = (enum http_method)parse_method(method);
    switch (http_route_match(s->o.routes, s->o.nroutes, req->method, url, &req->arena,
                             &req->route, req->params, &allowed)) {
    case HTTP_MATCH_OK:
        break;
    case HTTP_MATCH_BAD_METHOD:
        allow_header(req, allowed);
        /* OPTIONS of an existing resource: its methods (and CORS, in queue_answer). */
        if (req->method == HTTP_OPTIONS) {
            http_send_empty(req, 204);
            return 1;
        }
        http_problem(req, FMD_EMETHOD, NULL, "this resource does not support that method", NULL);
        return 1;
    case HTTP_MATCH_NOT_FOUND:
        http_problem(req, FMD_ENOTFOUND, NULL, "no such resource", NULL);
        return 1;
    }
    cl = http_header(req, "Content-Length");
    if (cl) {
        unsigned long long v;
        if (content_length_parse(cl, &v)) {
            req->close_after = 1;
            http_problem(req, FMD_EINVAL, NULL, "Content-Length is not a number", NULL);
            return 1;
        }
        if (v > s->o.max_body) {
            req->close_after = 1;
            http_problem(req, FMD_ETOOBIG, NULL, "request body is larger than the limit", NULL);
            return 1;
        }
    }
    if ((cl && strcmp(cl, "0")) || h.transfer_encoding) {
        ct = http_header(req, "Content-Type");
        if (!ct || !is_json_type(ct)) {
            req->close_after = 1;
            http_problem(req, FMD_EMEDIA, NULL, "request bodies must be application/json", NULL);
            return 1;
        }
    }
    return 0;
}

/* ---- response ---- */

/* The slowest a download may go before its deadline cuts it: bytes a second. */
#define FILE_MIN_RATE (64 * 1024)

static void watch_extend(struct http_server *s, struct MHD_Connection *conn, int64_t ms);

/* The request's Origin when CORS allows it for this path, else NULL. */
static const char *cors_origin(struct http_server *s, struct http_req *req)
{
    const char *origin;
    size_t i;

    if (!s->o.ncors_origins || !s->o.cors_path || !s->o.cors_path(req->path) ||
        !(origin = http_header(req, "Origin")))
        return NULL;
    for (i = 0; i < s->o.ncors_origins; i++)
        if (!strcmp(origin, s->o.cors_origins[i]))
            return origin;
    return NULL;
}

/*
 * CORS headers: Vary: Origin on every answer of a CORS path (the answer
 * depends on Origin), the allowed origin when it matches, and for a
 * preflight what may follow.
 */
static void add_cors(struct http_server *s, struct http_req *req, struct MHD_Response *r)
{
    const char *origin;
    char age[24];

    if (!s->o.ncors_origins || !s->o.cors_path || !s->o.cors_path(req->path))
        return;
    MHD_add_response_header(r, "Vary", "Origin");
    if (!(origin = cors_origin(s, req)))
        return;
    MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
    if (req->method != HTTP_OPTIONS)
        return;
    snprintf(age, sizeof(age), "%d", s->o.cors_max_age);
    MHD_add_response_header(r, "Access-Control-Allow-Methods", s->o.cors_methods);
    MHD_add_response_header(r, "Access-Control-Allow-Headers", s->o.cors_headers);
    MHD_add_response_header(r, "Access-Control-Max-Age", age);
}

/*
 * The headers every answer carries (OWASP REST Security Cheat Sheet): no
 * sniffing, no framing, no resource loading if a browser ever renders one
 * as a document, no referrer, no caching; HSTS when the operator says the
 * server is reached over HTTPS. No Server header: MHD sends none.
 */
static void add_security_headers(struct http_server *s, struct MHD_Response *r)
{
    char hsts[48];

    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; frame-ancestors 'none'");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (s->o.hsts_max_age > 0) {
        snprintf(hsts, sizeof(hsts), "max-age=%ld", s->o.hsts_max_age);
        MHD_add_response_header(r, "Strict-Transport-Security", hsts);
    }
}

static enum MHD_Result queue_answer(struct http_server *s, struct http_req *req)
{
    struct MHD_Response *r;
    struct http_header *h;
    char tp[64];
    enum MHD_Result ret;
    size_t len;
    char *body;

    if (req->file_fd >= 0) {
        /* MHD closes the file with the response, whatever happens next */
        r = MHD_create_response_from_fd64(req->file_size, req->file_fd);
        if (!r)
            return MHD_NO;   /* the fd is closed when the request ends */
        req->file_fd = -1;
        watch_extend(s, req->conn, (int64_t)(req->file_size / FILE_MIN_RATE) * 1000);
    } else {
        if (!(body = buf_detach(&req->out, &len)))
            return MHD_NO;
        r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!r) {
            fmd_free(body);
            return MHD_NO;
        }
    }
    if (req->content_type)
        MHD_add_response_header(r, "Content-Type", req->content_type);
    for (h = req->headers; h; h = h->next)
        MHD_add_response_header(r, h->name, h->value);
    snprintf(tp, sizeof(tp), "00-%s-%s-01", req->trace_id, req->span_id);
    MHD_add_response_header(r, "X-Request-Id", req->request_id);
    MHD_add_response_header(r, "traceparent", tp);
    add_security_headers(s, r);
    add_cors(s, req, r);
    if (req->close_after)
        MHD_add_response_header(r, "Connection", "close");
    ret = MHD_queue_response(req->conn, (unsigned)req->status, r);
    MHD_destroy_response(r);
    req->state = ST_ANSWERED;
    return ret;
}

/* ---- MHD callbacks ---- */

static struct http_req *req_new(struct http_server *s, struct MHD_Connection *conn,
                                const char *uri)
{
    struct http_req *req = fmd_calloc(1, sizeof(*req));
    if (!req)
        return NULL;
    arena_init(&req->arena);
    buf_init(&req->body, s->o.max_body);
    buf_init(&req->out, (size_t)64 << 20);
    req->conn = conn;
    req->server = s;
    req->app = s->o.app;
    req->start_ns = clock_mono_ns();
    req->raw_uri_len = strlen(uri);
    req->raw_uri = arena_strdup(&req->arena, uri);
    req->file_fd = -1;
    req->path = "";
    atomic_fetch_add(&s->inflight, 1);
    return req;
}

/* Restarts the connection's watchdog deadline: `periods` request timeouts from now. */
static void watch_restart(struct http_server *s, struct MHD_Connection *conn, int periods)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci && ci->socket_context)
        atomic_store(&((struct conn_watch *)ci->socket_context)->deadline_ms,
                     clock_wall_ms() + (int64_t)s->o.request_timeout * 1000 * periods);
}

/* Moves the connection's deadline ms later (a large file to send). */
static void watch_extend(struct http_server *s, struct MHD_Connection *conn, int64_t ms)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    (void)s;
    if (ci && ci->socket_context)
        atomic_fetch_add(&((struct conn_watch *)ci->socket_context)->deadline_ms, ms);
}

/*
 * MHD keeps one record per query argument in the connection's fixed memory
 * pool and stalls the connection, answering nothing, when the pool runs
 * out. So past this many arguments formd empties the query before MHD
 * parses it (the URI callback runs first, on MHD's own writable copy of the
 * request line) and answers 414 itself.
 */
#define QUERY_ARGS_MAX 100

/* 1 if uri's query has more than QUERY_ARGS_MAX arguments; then it is emptied. */
static int drop_long_query(const char *uri)
{
    char *q = strchr(uri, '?');
    size_t n = 1;
    if (!q)
        return 0;
    for (const char *p = q + 1; *p; p++)
        n += *p == '&';
    if (n <= QUERY_ARGS_MAX)
        return 0;
    q[1] = '\0';
    return 1;
}

/*
 * MHD calls this as soon as it has a request line, before any header: the
 * request starts here. It sees the URI as sent (not yet percent-decoded)
 * and starts the whole-request deadline. What it returns becomes the
 * request's context in on_request.
 */
static void *uri_begun(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct http_server *s = cls;
    struct http_req *req;

    watch_restart(s, conn, 1);
    req = req_new(s, conn, uri);
    if (req)
        req->too_many_args = drop_long_query(uri);
    return req;
}

/* First look at a request whose headers are all in: 1 when answered already. */
static int request_begins(struct http_server *s, struct http_req *req, const char *method,
                          const char *url)
{
    req->state = ST_RECEIVING;
    if (!(req->path = arena_strdup(&req->arena, url)))
        return -1;
    id_new_unordered(req->request_id);
    trace_begin(req);
    if (atomic_load(&s->stopping)) {
        req->close_after = 1;
        http_problem(req, FMD_EUNAVAIL, NULL, "the server is shutting down", NULL);
        return 1;
    }
    return check_request(s, req, method, url);
}

static void run_handler(struct http_req *req, http_handler fn)
{
    log_set_context(req->request_id, req->trace_id);
    req->suspended = 0;
    fn(req);
    if (!req->suspended && !http_answered(req))
        http_problem(req, FMD_EINTERNAL, NULL, "the handler gave no answer", NULL);
    log_set_context(NULL, NULL);
}

/* The server's admission check (rate limits), then, unless it answered, the route's handler. */
static void admit_then_handle(struct http_req *req)
{
    if (!req->server->o.admit(req))
        req->route->handler(req);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **ctx)
{
    struct http_server *s = cls;
    struct http_req *req = *ctx;

    if (!req && !(req = *ctx = req_new(s, conn, url)))
        return MHD_NO;
    switch ((int)atomic_load(&req->state)) {
    case ST_NEW:
        switch (request_begins(s, req, method, url)) {
        case 0:
            return MHD_YES;
        case 1:
            return queue_answer(s, req);
        default:
            return MHD_NO;
        }
    case ST_RECEIVING:
        if (*upload_size) {
            if (!req->body_too_big && buf_add(&req->body, upload_data, *upload_size))
                req->body_too_big = 1;
            *upload_size = 0;
            return MHD_YES;
        }
        if (req->body_too_big) {
            req->close_after = 1;
            http_problem(req, FMD_ETOOBIG, NULL, "request body is larger than the limit", NULL);
            return queue_answer(s, req);
        }
        if (s->o.admit)
            run_handler(req, admit_then_handle);
        else
            run_handler(req, req->route->handler);
        break;
    case ST_RESUMED:
        atomic_fetch_sub(&s->suspended, 1);
        run_handler(req, req->resume);
        break;
    case ST_SUSPENDED:
    case ST_ANSWERED:
        return MHD_YES;
    }
    /*
     * Suspended: MHD calls back after http_resume, which may already have
     * happened on the writer thread, so look at our own flag, not the state.
     */
    if (req->suspended)
        return MHD_YES;
    return queue_answer(s, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct http_req *req = *ctx;
    double secs;

    if (!req)
        return;
    /* Resumed (or closed) by MHD without a last call to on_request. */
    if (req->state == ST_SUSPENDED || req->state == ST_RESUMED)
        atomic_fetch_sub(&s->suspended, 1);
    if (req->on_done)
        req->on_done(req);
    secs = (double)(clock_mono_ns() - req->start_ns) / 1e9;
    if (s->o.observe)
        s->o.observe(req->route ? req->route->pattern : NULL, http_method_name(req->method),
                     req->status ? req->status : 499, secs);
    log_set_context(req->request_id, req->trace_id);
    log_debug("%s %s %d %.3fms", http_method_name(req->method), req->path, req->status,
              secs * 1e3);
    log_set_context(NULL, NULL);
    /*
     * MHD says nothing of a request before its whole request line is in, so
     * idle keep-alive time and the next request line share one allowance of
     * two periods; from the request line on, the request has one period.
     */
    watch_restart(s, conn, 2);
    if (req->file_fd >= 0)
        close(req->file_fd);
    arena_release(&req->arena);
    buf_release(&req->body);
    buf_release(&req->out);
    fmd_free(req);
    *ctx = NULL;
    atomic_fetch_sub(&s->inflight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    struct conn_watch *w;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(w = fmd_calloc(1, sizeof(*w))))
            return;
        w->fd = ci->connect_fd;
        atomic_store(&w->deadline_ms, clock_wall_ms() + (int64_t)s->o.request_timeout * 1000);
        pthread_mutex_lock(&s->watch_lock);
        w->next = s->watch_head.next;
        w->prev = &s->watch_head;
        w->next->prev = w;
        s->watch_head.next = w;
        pthread_mutex_unlock(&s->watch_lock);
        *socket_ctx = w;
    } else if ((w = *socket_ctx)) {
        pthread_mutex_lock(&s->watch_lock);
        w->prev->next = w->next;
        w->next->prev = w->prev;
        pthread_mutex_unlock(&s->watch_lock);
        fmd_free(w);
        *socket_ctx = NULL;
    }
}

void http_extend_deadline(struct http_req *req, int64_t ms)
{
    if (ms > 0)
        watch_extend(req->server, req->conn, ms);
}

/* Cuts off connections whose request has taken longer than the limit. */
static void *watchdog_main(void *arg)
{
    struct http_server *s = arg;
    while (!atomic_load(&s->watchdog_stop)) {
        struct conn_watch *w;
        int64_t now = clock_wall_ms();
        pthread_mutex_lock(&s->watch_lock);
        for (w = s->watch_head.next; w != &s->watch_head; w = w->next) {
            int64_t d = atomic_load(&w->deadline_ms);
            if (d && now > d) {
                shutdown(w->fd, SHUT_RDWR);
                atomic_store(&w->deadline_ms, 0);
            }
        }
        pthread_mutex_unlock(&s->watch_lock);
        usleep(200 * 1000);
    }
    return NULL;
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_debug("microhttpd: %s", msg);
}

static int parse_listen(const char *listen, struct sockaddr_in *sa, struct fmd_err *err)
{
    const char *colon = strrchr(listen, ':');
    char host[64];
    char *end;
    long port;

    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    if (!colon || (size_t)(colon - listen) >= sizeof(host))
        return fmd_errf(err, FMD_EINVAL, "listen address '%s' is not HOST:PORT", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || port < 0 || port > 65535)
        return fmd_errf(err, FMD_EINVAL, "listen address '%s' has a bad port", listen);
    if (!strcmp(host, "localhost"))
        memcpy(host, "127.0.0.1", 10);
    if (!*host || !strcmp(host, "*"))
        sa->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return fmd_errf(err, FMD_EINVAL, "listen address '%s' is not an IPv4 address", listen);
    sa->sin_port = htons((uint16_t)port);
    return 0;
}

/* Every route declares who may call it (see enum http_access): a forgotten one stops here. */
static int check_routes(const struct http_server_opts *o, struct fmd_err *err)
{
    size_t i;
    for (i = 0; i < o->nroutes; i++)
        if (o->routes[i].access <= HTTP_ACCESS_UNSET ||
            o->routes[i].access > HTTP_ACCESS_GLOBAL_ADMIN)
            return fmd_errf(err, FMD_EINVAL, "route '%s %s' declares no access",
                            http_method_name(o->routes[i].method), o->routes[i].pattern);
    return 0;
}

int http_server_start(const struct http_server_opts *o, struct http_server **out,
                      struct fmd_err *err)
{
    struct http_server *s;
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *di;
    int rc;

    *out = NULL;
    if ((rc = parse_listen(o->listen, &sa, err)) || (rc = check_routes(o, err)))
        return rc;
    if (!(s = fmd_calloc(1, sizeof(*s))))
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    s->o = *o;
    s->json_lim.max_depth = o->max_json_depth;
    s->json_lim.max_members = o->max_json_members;
    s->watch_head.next = s->watch_head.prev = &s->watch_head;
    pthread_mutex_init(&s->watch_lock, NULL);
    s->mhd = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
            MHD_USE_TURBO,
        0, NULL, NULL, on_request, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->request_timeout,
        /*
         * Room for our own header limit plus a read buffer; past this MHD
         * answers itself. Kept small on purpose: MHD zeroes the whole pool
         * for every request, and at 96 KiB that memset was 15% of a GET.
         */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(o->max_header + 16384),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)10000,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_URI_LOG_CALLBACK, uri_begun, s,
        MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
        MHD_OPTION_END);
    if (!s->mhd) {
        pthread_mutex_destroy(&s->watch_lock);
        fmd_free(s);
        return fmd_errf(err, FMD_EIO, "cannot listen on '%s' (in use or not allowed)", o->listen);
    }
    di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : ntohs(sa.sin_port);
    if (pthread_create(&s->watchdog, NULL, watchdog_main, s)) {
        MHD_stop_daemon(s->mhd);
        pthread_mutex_destroy(&s->watch_lock);
        fmd_free(s);
        return fmd_errf(err, FMD_EINTERNAL, "cannot start the watchdog thread");
    }
    *out = s;
    return 0;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

long http_server_inflight(const struct http_server *s)
{
    return atomic_load(&((struct http_server *)s)->inflight);
}

void http_server_stop(struct http_server *s)
{
    int waited;
    if (!s)
        return;
    /*
     * New requests, on open connections or new ones, get 503 and a close;
     * those under way finish. The listening socket stays open until
     * MHD_stop_daemon: MHD_quiesce_daemon (libmicrohttpd 0.9.75, thread pool
     * + epoll) races each worker thread removing the socket from its own
     * epoll set, and the loser aborts the process ("Failed to remove listen
     * FD from epoll set"), seen in an e2e test 45 ms after start.
     */
    atomic_store(&s->stopping, 1);
    for (waited = 0; (atomic_load(&s->inflight) > 0 || atomic_load(&s->suspended) > 0) &&
                     waited < 1000; waited++)
        usleep(10 * 1000);
    if (waited == 1000)
        log_warn("stopping with %ld requests still under way (%ld waiting on a commit)",
                 (long)atomic_load(&s->inflight), (long)atomic_load(&s->suspended));
    atomic_store(&s->watchdog_stop, 1);
    pthread_join(s->watchdog, NULL);
    MHD_stop_daemon(s->mhd);
    pthread_mutex_destroy(&s->watch_lock);
    fmd_free(s);
}
