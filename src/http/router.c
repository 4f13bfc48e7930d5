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
    }
    return "?";
}

/*
 * Matches path against pattern segment by segment. A "{}" segment takes one
 * non-empty path segment. Returns the number of params or -1.
 */
static int match(const char *pattern, const char *path, struct arena *a, const char **params)
{
    int np = 0;
    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/')
            return -1;
        pattern++;
        path++;
        if (!strncmp(pattern, "{}", 2) && (pattern[2] == '/' || !pattern[2])) {
            size_t n = strcspn(path, "/");
            if (!n || np >= HTTP_MAX_PARAMS)
                return -1;
            if (a && params && !(params[np] = arena_strndup(a, path, n)))
                return -1;
            np++;
            pattern += 2;
            path += n;
        } else {
            size_t n = strcspn(pattern, "/");
            if (strncmp(pattern, path, n) || (path[n] != '/' && path[n]))
                return -1;
            pattern += n;
            path += n;
        }
    }
    return *pattern || *path ? -1 : np;
}

enum http_match http_route_match(const struct http_route *routes, size_t n,
                                 enum http_method method, const char *path,
                                 struct arena *a, const struct http_route **out,
                                 const char **params, unsigned *allowed)
{
    size_t i;
    *allowed = 0;
    *out = NULL;
    for (i = 0; i < n; i++) {
        if (match(routes[i].pattern, path, NULL, NULL) < 0)
            continue;
        *allowed |= routes[i].method;
        if (routes[i].method == method && !*out) {
            *out = &routes[i];
            if (match(routes[i].pattern, path, a, params) < 0)
                return HTTP_MATCH_NOT_FOUND;   /* out of memory: treated as no route */
        }
    }
    if (*out)
        return HTTP_MATCH_OK;
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
