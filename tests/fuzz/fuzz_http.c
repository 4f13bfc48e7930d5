/*
 * fuzz_http.c - libFuzzer target for what formd checks itself in a request
 * before its body is read (src/http/server.c): too many query arguments,
 * duplicate Content-Length, Content-Length with Transfer-Encoding, header
 * and URI limits, the method, the route and its path parameters (router.c,
 * over main.c's own route table), Content-Length's digits, Content-Type,
 * and W3C traceparent.
 *
 * The input is a request head as text: "METHOD URI" on the first line, then
 * "Name: value" lines. libmicrohttpd's parsing is not under test, so this
 * target stands in for it: the URI callback sees the raw URI, the path is
 * percent-decoded with MHD's own MHD_http_unescape as MHD does, and the two
 * MHD look-ups server.c makes (MHD_lookup_connection_value,
 * MHD_get_connection_values) are defined here over the input's headers; the
 * executable's definitions take precedence over libmicrohttpd's.
 *
 * Checks: check_request answers a problem JSON with a 4xx status, or picks a
 * route whose pattern, its "{}" filled with the parameters, gives back the
 * path; a refusal of Content-Length is exactly "not 1*DIGIT"; an accepted
 * traceparent gives 32 lowercase hex digits, not all zero.
 * Seeds: corpus/fuzz_http/; dictionary: fuzz_http.dict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../src/http/server.c"
#define main formd_main
#include "../../src/main.c"
#undef main
#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 64

struct fake_conn {
    const char *names[MAX_HEADERS], *values[MAX_HEADERS];
    size_t n;
};

const char *MHD_lookup_connection_value(struct MHD_Connection *connection,
                                        enum MHD_ValueKind kind, const char *key)
{
    struct fake_conn *c = (struct fake_conn *)connection;
    size_t i;

    if (kind != MHD_HEADER_KIND)
        return NULL;
    for (i = 0; i < c->n; i++)
        if (!strcasecmp(c->names[i], key))
            return c->values[i];
    return NULL;
}

int MHD_get_connection_values(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                              MHD_KeyValueIterator iterator, void *iterator_cls)
{
    struct fake_conn *c = (struct fake_conn *)connection;
    size_t i;

    if (kind != MHD_HEADER_KIND)
        return 0;
    for (i = 0; i < c->n; i++)
        if (iterator && iterator(iterator_cls, kind, c->names[i], c->values[i]) != MHD_YES)
            return (int)i + 1;
    return (int)c->n;
}

/* The pattern with each "{}" replaced by the next parameter must be the path. */
static void check_route(const struct http_req *req, const char *path)
{
    const char *pat = req->route->pattern;
    size_t np = 0, k;
    char out[4096];
    size_t n = 0;

    for (; *pat; pat++) {
        if (pat[0] == '{' && pat[1] == '}') {
            const char *p = req->params[np++];
            if (!p || !*p || strchr(p, '/') || n + strlen(p) >= sizeof(out))
                abort();
            memcpy(out + n, p, strlen(p));
            n += strlen(p);
            pat++;
        } else if (n + 1 < sizeof(out)) {
            out[n++] = *pat;
        }
    }
    out[n] = '\0';
    if (strcmp(out, path))
        abort();
    for (k = np; k < HTTP_MAX_PARAMS; k++)
        if (req->params[k])
            abort();
}

/* The answer to a refused request: problem JSON whose status is the response's. */
static void check_problem(const struct http_req *req)
{
    json_t *v = json_loadb(req->out.p, req->out.len, 0, NULL);

    if (req->status < 400 || req->status > 499 || !v ||
        json_integer_value(json_object_get(v, "status")) != req->status ||
        !json_is_string(json_object_get(v, "detail")))
        abort();
    json_decref(v);
}

static void check_pure_parsers(struct fake_conn *c)
{
    const char *cl = MHD_lookup_connection_value((struct MHD_Connection *)c, MHD_HEADER_KIND,
                                                 "Content-Length");
    const char *tp = MHD_lookup_connection_value((struct MHD_Connection *)c, MHD_HEADER_KIND,
                                                 "traceparent");
    unsigned long long v;
    char trace[33] = "";
    int zero = 1, i;

    if (cl) {
        int digits = *cl && strspn(cl, "0123456789") == strlen(cl);
        if ((content_length_parse(cl, &v) == 0) != digits)
            abort();
        if (digits && strlen(cl) < 19 && v != strtoull(cl, NULL, 10))
            abort();
    }
    if (traceparent_parse(tp, trace)) {
        for (i = 0; i < 32; i++) {
            if (!strchr("0123456789abcdef", trace[i]) || !trace[i])
                abort();
            zero &= trace[i] == '0';
        }
        if (zero || trace[32])
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_server s;
    struct http_req *req = NULL;
    struct fake_conn conn = {0};
    char *text = malloc(size + 1), *line, *next, *method, *uri, *path = NULL, *q;
    size_t raw;
    int rc;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    /* Request line: "METHOD URI". */
    method = text;
    next = strchr(text, '\n');
    if (next)
        *next++ = '\0';
    uri = strchr(method, ' ');
    if (!uri)
        goto out;
    *uri++ = '\0';
    for (line = next; line && *line && conn.n < MAX_HEADERS; line = next) {
        char *colon;
        if ((next = strchr(line, '\n')))
            *next++ = '\0';
        if (!(colon = strchr(line, ':')))
            continue;
        *colon++ = '\0';
        while (*colon == ' ')
            colon++;
        conn.names[conn.n] = line;
        conn.values[conn.n++] = colon;
    }

    memset(&s, 0, sizeof(s));
    s.o.routes = routes;
    s.o.nroutes = NROUTES;
    s.o.max_body = 1 << 20;
    s.o.max_header = 8192;
    s.o.max_uri = 4096;
    raw = strlen(uri);
    /* What the URI callback does to MHD's writable copy of the request line. */
    if (!(req = req_new(&s, (struct MHD_Connection *)&conn, uri)))
        goto out;
    req->too_many_args = drop_long_query(uri);
    if (req->raw_uri_len != raw || (req->too_many_args && strchr(uri, '?')[1]))
        abort();
    /* MHD then cuts the query off and percent-decodes the path. */
    if (!(path = strdup(uri)))
        goto out;
    if ((q = strchr(path, '?')))
        *q = '\0';
    MHD_http_unescape(path);

    rc = request_begins(&s, req, method, path);
    if (rc == 1)
        check_problem(req);
    else if (rc == 0)
        check_route(req, path);
    check_pure_parsers(&conn);
out:
    if (req) {
        arena_release(&req->arena);
        buf_release(&req->body);
        buf_release(&req->out);
        fmd_free(req);
    }
    free(path);
    free(text);
    return 0;
}
