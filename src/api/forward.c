/*
 * forward.c - analytics requests on a node that is not the analytics node.
 *
 * On PostgreSQL one serve node, elected through the "analytics" lease
 * (store/leases.h), holds the analytics database and the export files. The
 * others pass GET /v1/forms/{fid}/analytics, POST /v1/analytics/query and
 * GET /v1/exports/{eid}/download on to the URL it advertises in its lease:
 * same method, path, query and body, with the caller's Authorization, which
 * the analytics node checks itself as for any request. Its answer (status,
 * body and the headers that describe the body) comes back as it is. The
 * body is spooled to an unlinked file in the data directory and sent from
 * there, so a large export never sits in memory.
 *
 * A forwarded request carries Formd-Forwarded-By: a node that gets one
 * without being the analytics node (leadership moved meanwhile) answers 503
 * instead of forwarding again, so requests never go round in circles.
 */
#include "api/api.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/leases.h"
#include "core/banned.h"

#define FORWARDED_HEADER "Formd-Forwarded-By"
#define ANALYTICS_LEASE "analytics"
#define RETRY_AFTER_S "2"
#define CONNECT_TIMEOUT_MS 5000L
#define DOWNLOAD_MAX_MS (3600L * 1000)

/* The answer's headers worth passing on: they describe the body. */
static const char *const kept_headers[] = {"Content-Type", "Content-Disposition",
                                           "Retry-After", "Cache-Control", NULL};

struct answer {
    struct http_req *req;
    FILE *body;
    char content_type[128];
};

static void unavailable(struct http_req *req, const char *detail)
{
    http_add_header(req, "Retry-After", RETRY_AFTER_S);
    http_problem(req, FMD_EUNAVAIL, NULL, detail, NULL);
}

static size_t keep_body(char *p, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    return fwrite(p, size, n, a->body) * size;
}

/* Keeps the headers of kept_headers (a header line: "Name: value\r\n"). */
static size_t keep_header(char *line, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    size_t len = size * n, i, name_len;
    char value[512];
    const char *colon = memchr(line, ':', len);

    if (!colon)
        return len;
    name_len = (size_t)(colon - line);
    for (i = 0; kept_headers[i]; i++) {
        size_t vlen;
        const char *v = colon + 1;
        if (strlen(kept_headers[i]) != name_len || strncasecmp(line, kept_headers[i], name_len))
            continue;
        while (v < line + len && (*v == ' ' || *v == '\t'))
            v++;
        vlen = (size_t)(line + len - v);
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        if (vlen >= sizeof(value))
            break;
        memcpy(value, v, vlen);
        value[vlen] = 0;
        if (i == 0)
            fmd_strlcpy(a->content_type, value, sizeof(a->content_type));
        else
            http_add_header(a->req, kept_headers[i], value);
    }
    return len;
}

/* A header line "Name: value" for curl, in the request's arena; NULL if absent. */
static const char *header_line(struct http_req *req, const char *name, const char *value)
{
    size_t n;
    char *line;

    if (!value)
        return NULL;
    n = strlen(name) + strlen(value) + 3;
    if (!(line = arena_alloc(&req->arena, n)))
        return NULL;
    snprintf(line, n, "%s: %s", name, value);
    return line;
}

/* An unlinked file in the data directory for the answer's body, or NULL. */
static FILE *spool_file(struct http_req *req)
{
    struct app *app = req->app;
    char path[4200];
    FILE *f = NULL;
    int fd;

    snprintf(path, sizeof(path), "%s/.forward-XXXXXX", app->cfg->data_dir);
    if ((fd = mkstemp(path)) < 0)
        return NULL;
    unlink(path);
    if (!(f = fdopen(fd, "w+b")))
        close(fd);
    return f;
}

/* Sends req to base (the analytics node's URL) and answers with its answer. */
static void forward_to(struct http_req *req, const char *base, const char *holder)
{
    struct app *app = req->app;
    struct answer a = {.req = req};
    struct curl_slist *headers = NULL;
    const char *names[] = {"Authorization", "Content-Type", "Accept", "traceparent", NULL};
    char url[LEASE_URL_MAX + 8192], errbuf[CURL_ERROR_SIZE] = "";
    long status = 0, timeout_ms;
    CURL *curl = NULL;
    CURLcode cc;
    struct stat sb;
    int i;

    if (!req->raw_uri || snprintf(url, sizeof(url), "%s%s", base, req->raw_uri) >=
                             (int)sizeof(url)) {
        http_problem(req, FMD_EINVAL, NULL, "request URI too long to forward", NULL);
        return;
    }
    if (!(a.body = spool_file(req)) || !(curl = curl_easy_init())) {
        http_problem(req, FMD_EIO, NULL, "cannot forward to the analytics node: no spool file",
                     NULL);
        goto out;
    }
    for (i = 0; names[i]; i++) {
        const char *line = header_line(req, names[i], http_header(req, names[i]));
        if (line)
            headers = curl_slist_append(headers, line);
    }
    headers = curl_slist_append(headers, FORWARDED_HEADER ": 1");
    headers = curl_slist_append(headers, "Expect:");   /* no 100-continue round trip */
    /* An analytics query may run its whole time limit, and a fresh summary
     * syncs first; a download takes as long as the file needs. */
    timeout_ms = app->cfg->request_timeout * 1000 + app->cfg->query_timeout;
    http_extend_deadline(req, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");   /* nodes talk directly */
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (req->method != HTTP_GET) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body.p);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
    }
    if (req->route && strstr(req->route->pattern, "/download")) {
        /* no total limit for a file (up to an hour here): only a stall ends it */
        http_extend_deadline(req, DOWNLOAD_MAX_MS);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 0L);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, app->cfg->request_timeout);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, keep_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    cc = curl_easy_perform(curl);
    if (cc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK || status < 100 || fflush(a.body) || fstat(fileno(a.body), &sb)) {
        char detail[600];
        log_warn("analytics node %s (%s): %s", holder, base,
                 errbuf[0] ? errbuf : curl_easy_strerror(cc));
        snprintf(detail, sizeof(detail), "the analytics node at %s did not answer: %s", base,
                 errbuf[0] ? errbuf : curl_easy_strerror(cc));
        unavailable(req, detail);
        goto out;
    }
    {
        int fd = dup(fileno(a.body));
        if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0) {
            if (fd >= 0)
                close(fd);
            http_problem(req, FMD_EIO, NULL, "cannot read the analytics node's answer", NULL);
            goto out;
        }
        http_send_file(req, (int)status,
                       a.content_type[0] ? arena_strdup(&req->arena, a.content_type)
                                         : "application/octet-stream",
                       fd, (uint64_t)sb.st_size);
    }
out:
    curl_slist_free_all(headers);
    if (curl)
        curl_easy_cleanup(curl);
    if (a.body)
        fclose(a.body);
}

int api_forward_analytics(struct http_req *req)
{
    struct app *app = req->app;
    struct store_lease lease;
    struct fmd_err err = {0};
    struct db *db;
    int rc;

    if (!app->analytics_elected || store_elector_leading(app->analytics_lease))
        return 0;
    if (http_header(req, FORWARDED_HEADER)) {
        unavailable(req, "this node is no longer the analytics node: try again");
        return 1;
    }
    if (!(db = api_db(req)))
        return 1;
    if ((rc = store_lease_get(db, ANALYTICS_LEASE, clock_wall_ms(), &lease, &err)) < 0) {
        http_problem_err(req, &err);
        return 1;
    }
    if (!rc || !lease.url[0]) {
        unavailable(req, "no analytics node is up: one formd serve with --analytics-node auto "
                         "or always takes the role within seconds of starting");
        return 1;
    }
    forward_to(req, lease.url, lease.holder);
    return 1;
}
