/* router.c - matching a method and path against the route table. */
#include "http/http.h"

#include <string.h>

#include "core/banned.h"

const char *http_method_name(enum http_method m)
{
    switch (m) {
    case HTTP_GET: return "GET";
    case HTTP_POST: return "POST";
    case HTTP_PUT: return "PUT";
    case HTTP_PATCH: return "PATCH";
    case HTTP_DELETE: return "DELETE";
    case HTTP_OPTIONS: return "OPTIONS";
    }
    return "?";
}

const char *http_access_name(enum http_access a)
{
    static const char *const names[] = {"unset", "public", "any", "viewer", "reviewer",
                                        "editor", "admin", "global-admin"};
    return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "unset";
}

const char *http_object_name(enum http_object o)
{
    static const char *const names[] = {"none", "project", "form", "submission", "webhook",
                                        "export", "task", "queue", "key", "session"};
    return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "none";
}

/* A path parameter: where it starts in the path and how long it is. */
struct span {
    const char *p;
    size_t n;
};

/*
 * Matches path against pattern segment by segment. A "{}" segment takes one
 * non-empty path segment into spans. Returns the number of params or -1.
 */
static int match(const char *pattern, const char *path, struct span *spans)
{
    int np = 0;
    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/')
            return -1;
        pattern++;
        path++;
        if (pattern[0] == '{' && pattern[1] == '}' && (pattern[2] == '/' || !pattern[2])) {
            const char *end = strchrnul(path, '/');
            if (end == path || np >= HTTP_MAX_PARAMS)
                return -1;
            spans[np].p = path;
            spans[np++].n = (size_t)(end - path);
            pattern += 2;
            path = end;
        } else {
            /* A literal segment: equal characters up to the pattern's next '/'. */
            while (*pattern && *pattern != '/' && *pattern == *path) {
                pattern++;
                path++;
            }
            if ((*pattern && *pattern != '/') || (*path && *path != '/'))
                return -1;
        }
    }
    return *pattern || *path ? -1 : np;
}

enum http_match http_route_match(const struct http_route *routes, size_t n,
                                 enum http_method method, const char *path,
                                 struct arena *a, const struct http_route **out,
                                 const char **params, unsigned *allowed)
{
    struct span spans[HTTP_MAX_PARAMS];
    size_t i;
    int np, k;

    *allowed = 0;
    *out = NULL;
    /* The usual case first: a route with this method; no allocation until one matches. */
    for (i = 0; i < n; i++) {
        if (routes[i].method != method || (np = match(routes[i].pattern, path, spans)) < 0)
            continue;
        for (k = 0; k < np; k++)
            if (!(params[k] = arena_strndup(a, spans[k].p, spans[k].n)))
                return HTTP_MATCH_NOT_FOUND;   /* out of memory: treated as no route */
        *out = &routes[i];
        return HTTP_MATCH_OK;
    }
    /* No such route for this method: which methods would have matched (405)? */
    for (i = 0; i < n; i++)
        if (match(routes[i].pattern, path, spans) >= 0)
            *allowed |= routes[i].method;
    return *allowed ? HTTP_MATCH_BAD_METHOD : HTTP_MATCH_NOT_FOUND;
}

const char *http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    }
    return "Error";
}
