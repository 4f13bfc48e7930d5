/*
 * http.h - requests, responses and routes, on top of libmicrohttpd.
 *
 * The HTTP layer is transport only: it knows limits, headers, problem JSON
 * and suspension, not resources. main.c hands it a route table whose
 * handlers live in src/api/.
 *
 * A handler runs once the whole body is in req->body. It either answers
 * (http_send*, http_problem*) before returning, or calls http_suspend()
 * with a continuation, starts asynchronous work (a group commit), and
 * returns; whoever finishes that work calls http_resume(), and the
 * continuation then answers on a server thread. Everything a request
 * allocates comes from req->arena and dies with the request.
 */
#ifndef FMD_HTTP_HTTP_H
#define FMD_HTTP_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/id.h"

enum http_method {
    HTTP_GET = 1, HTTP_POST = 2, HTTP_PUT = 4, HTTP_PATCH = 8, HTTP_DELETE = 16,
    /* Never in a route: the server answers OPTIONS itself (Allow, CORS preflight). */
    HTTP_OPTIONS = 32,
};

#define HTTP_MAX_PARAMS 4

struct http_req;
typedef void (*http_handler)(struct http_req *req);

/*
 * Who may call a route, declared next to it in the route table. Handlers do
 * the checking (on the object they load); the declaration is data for
 * `formd routes --json`, the docs and the authorisation matrix test, which
 * holds every handler to it. The server refuses to start with one unset.
 */
enum http_access {
    HTTP_ACCESS_UNSET = 0,
    HTTP_ACCESS_PUBLIC,         /* no token needed */
    HTTP_ACCESS_ANY,            /* any valid token */
    HTTP_ACCESS_VIEWER,         /* at least this role on the object's project */
    HTTP_ACCESS_REVIEWER,
    HTTP_ACCESS_EDITOR,
    HTTP_ACCESS_ADMIN,
    HTTP_ACCESS_GLOBAL_ADMIN,   /* admin on every project */
};

/* What the first path parameter names (the object whose project is checked). */
enum http_object {
    HTTP_OBJECT_NONE = 0,
    HTTP_OBJECT_PROJECT,
    HTTP_OBJECT_FORM,
    HTTP_OBJECT_SUBMISSION,
    HTTP_OBJECT_WEBHOOK,
    HTTP_OBJECT_EXPORT,
    HTTP_OBJECT_TASK,
    HTTP_OBJECT_QUEUE,
    HTTP_OBJECT_KEY,
    HTTP_OBJECT_SESSION,
};

/* A route: "{}" in the pattern matches one path segment into req->params. */
struct http_route {
    enum http_method method;
    const char *pattern;      /* e.g. "/v1/forms/{}/submissions" */
    http_handler handler;
    const char *summary;      /* one line, for docs and the OpenAPI check */
    enum http_access access;
    enum http_object object;
};

/* "editor", "global-admin", ...; "unset" for HTTP_ACCESS_UNSET. */
const char *http_access_name(enum http_access a);
/* "form", "none", ... */
const char *http_object_name(enum http_object o);

struct http_header {
    struct http_header *next;
    const char *name, *value;
};

struct http_req {
    /* Request, read-only for handlers. */
    enum http_method method;
    const char *path;
    const char *raw_uri;      /* path and query as sent (not decoded), or NULL */
    const struct http_route *route;
    const char *params[HTTP_MAX_PARAMS];
    struct buf body;
    struct arena arena;
    char request_id[ID_LEN + 1];
    char trace_id[33];
    char span_id[17];
    uint64_t start_ns;
    void *app;                /* the server's application context */
    void *user;               /* free for the handler's own state */
    /* Called once when the request ends, answered or not (free resources). */
    void (*on_done)(struct http_req *req);
    void *on_done_arg;

    /* Response, filled through the functions below. */
    int status;
    struct buf out;
    const char *content_type;
    struct http_header *headers;

    /* Internal to the server. */
    void *conn;
    struct http_server *server;
    http_handler resume;
    _Atomic int state;        /* written by http_resume from another thread */
    int suspended;            /* the handler just called http_suspend */
    int close_after;
    int file_fd;              /* http_send_file: the body, or -1 */
    uint64_t file_size;
    int body_too_big;
    size_t raw_uri_len;       /* as sent, before percent-decoding */
    int too_many_args;        /* query emptied: see QUERY_ARGS_MAX in server.c */
};

/* A request header's value, or NULL. */
const char *http_header(struct http_req *req, const char *name);
/*
 * The socket peer's address as text ("127.0.0.1", "::1") into out (at
 * least 46 bytes): 0, or -1 with out empty when unknown.
 */
int http_peer(struct http_req *req, char *out, size_t cap);
/* A query argument's (decoded) value, or NULL. */
const char *http_query(struct http_req *req, const char *name);
/* Adds a response header; both strings are copied into the arena. */
void http_add_header(struct http_req *req, const char *name, const char *value);

/* Answers with a body (copied). */
void http_send(struct http_req *req, int status, const char *content_type,
               const char *body, size_t len);
/* Answers with v encoded as JSON; steals v (NULL answers 503 no memory). */
void http_send_json(struct http_req *req, int status, json_t *v);
/* Answers with no body. */
void http_send_empty(struct http_req *req, int status);
/*
 * Answers with the first size bytes of the open file fd as the body, which
 * the server owns from then on and closes (even if the answer never goes
 * out). The request's deadline grows with the size, so a client that reads
 * steadily (64 KiB/s or faster) can finish a large file.
 */
void http_send_file(struct http_req *req, int status, const char *content_type, int fd,
                    uint64_t size);
/*
 * Answers with RFC 9457 problem JSON. code is an FMD_E* code giving the
 * status and type; name overrides the type's name when not NULL; errors (a
 * JSON array, stolen, may be NULL) becomes the "errors" member.
 */
void http_problem(struct http_req *req, int code, const char *name, const char *detail,
                  json_t *errors);
/* Problem from an error struct: status from err->code, detail err->msg. */
void http_problem_err(struct http_req *req, const struct fmd_err *err);

/*
 * Parses the body as JSON within the server's limits. On failure answers
 * 400 itself and returns NULL. The caller decrefs the value.
 */
json_t *http_body_json(struct http_req *req);

/* Called by a handler: answer later, by running cont after http_resume. */
void http_suspend(struct http_req *req, http_handler cont);
/* Thread-safe: wakes a suspended request. */
void http_resume(struct http_req *req);

/*
 * Gives the request ms more than the server's total time per request: for
 * an answer known to take longer to make (a model's completion). Call from
 * the handler, before suspending.
 */
void http_extend_deadline(struct http_req *req, int64_t ms);

/* 1 if any answer has been given. */
int http_answered(const struct http_req *req);

struct http_server_opts {
    const char *listen;               /* "HOST:PORT" */
    int threads;
    size_t max_body, max_header, max_uri;
    size_t max_json_depth, max_json_members;
    int request_timeout;              /* seconds */
    const struct http_route *routes;
    size_t nroutes;
    void *app;
    /*
     * Called (may be NULL) once the whole request is in, before the route's
     * handler, on the same thread: nonzero when it answered the request
     * itself (a rate limit), and the handler then does not run.
     */
    int (*admit)(struct http_req *req);
    /* Called after each request with its route pattern (or NULL) and status. */
    void (*observe)(const char *route, const char *method, int status, double seconds);
    /*
     * CORS, off when ncors_origins is 0. A request whose Origin is exactly
     * one of cors_origins, to a path cors_path accepts, is answered with
     * Access-Control-Allow-Origin: <that origin> (never "*", never
     * credentials); its preflight OPTIONS gets 204 with the methods and
     * headers below. The server keeps the pointers: they must outlive it.
     */
    const char *const *cors_origins;
    size_t ncors_origins;
    int (*cors_path)(const char *path);
    const char *cors_methods;         /* e.g. "GET, POST" */
    const char *cors_headers;         /* e.g. "Content-Type, Idempotency-Key" */
    int cors_max_age;                 /* seconds a preflight answer may be cached */
    /* Strict-Transport-Security max-age in seconds; 0: not sent (plain HTTP). */
    long hsts_max_age;
};

struct http_server;

int http_server_start(const struct http_server_opts *o, struct http_server **out,
                      struct fmd_err *err);
/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *s);
/* Answers new requests 503, lets those under way (suspended too) finish, then stops. */
void http_server_stop(struct http_server *s);
/* Requests currently being served. */
long http_server_inflight(const struct http_server *s);

/* Router, exposed for tests: the route for method and path, params filled. */
enum http_match { HTTP_MATCH_OK, HTTP_MATCH_NOT_FOUND, HTTP_MATCH_BAD_METHOD };
enum http_match http_route_match(const struct http_route *routes, size_t n,
                                 enum http_method method, const char *path,
                                 struct arena *a, const struct http_route **out,
                                 const char **params, unsigned *allowed);
const char *http_method_name(enum http_method m);
/* Reason phrase for a status code. */
const char *http_status_text(int status);

#endif
