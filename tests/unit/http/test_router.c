/* test_router.c - route matching, parameters, 404 versus 405. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/http.h"

static void h(struct http_req *req) { (void)req; }

static const struct http_route routes[] = {
    {HTTP_GET, "/v1/forms/{}", h, "", HTTP_ACCESS_PUBLIC, HTTP_OBJECT_NONE},
    {HTTP_PATCH, "/v1/forms/{}", h, "", HTTP_ACCESS_PUBLIC, HTTP_OBJECT_NONE},
    {HTTP_GET, "/v1/forms/{}/submissions", h, "", HTTP_ACCESS_PUBLIC, HTTP_OBJECT_NONE},
    {HTTP_POST, "/v1/public/forms/{}/submissions", h, "", HTTP_ACCESS_PUBLIC, HTTP_OBJECT_NONE},
    {HTTP_GET, "/healthz", h, "", HTTP_ACCESS_PUBLIC, HTTP_OBJECT_NONE},
};

static enum http_match m(enum http_method method, const char *path, const struct http_route **r,
                         const char **params, unsigned *allowed, struct arena *a)
{
    return http_route_match(routes, sizeof(routes) / sizeof(routes[0]), method, path, a, r,
                            params, allowed);
}

static void matches_with_params(void **state)
{
    struct arena a;
    const struct http_route *r;
    const char *params[HTTP_MAX_PARAMS];
    unsigned allowed;
    arena_init(&a);
    assert_int_equal(m(HTTP_GET, "/v1/forms/abc/submissions", &r, params, &allowed, &a),
                     HTTP_MATCH_OK);
    assert_ptr_equal(r, &routes[2]);
    assert_string_equal(params[0], "abc");
    assert_int_equal(m(HTTP_POST, "/v1/public/forms/intake/submissions", &r, params, &allowed, &a),
                     HTTP_MATCH_OK);
    assert_string_equal(params[0], "intake");
    assert_int_equal(m(HTTP_GET, "/healthz", &r, params, &allowed, &a), HTTP_MATCH_OK);
    arena_release(&a);
}

static void not_found_and_bad_method(void **state)
{
    struct arena a;
    const struct http_route *r;
    const char *params[HTTP_MAX_PARAMS];
    unsigned allowed;
    arena_init(&a);
    assert_int_equal(m(HTTP_GET, "/v1/forms", &r, params, &allowed, &a), HTTP_MATCH_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/v1/forms/", &r, params, &allowed, &a), HTTP_MATCH_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/v1/forms/a/b", &r, params, &allowed, &a), HTTP_MATCH_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "/healthz/", &r, params, &allowed, &a), HTTP_MATCH_NOT_FOUND);
    assert_int_equal(m(HTTP_GET, "", &r, params, &allowed, &a), HTTP_MATCH_NOT_FOUND);
    assert_int_equal(m(HTTP_DELETE, "/v1/forms/x", &r, params, &allowed, &a),
                     HTTP_MATCH_BAD_METHOD);
    assert_int_equal(allowed, HTTP_GET | HTTP_PATCH);
    assert_int_equal(m(0, "/healthz", &r, params, &allowed, &a), HTTP_MATCH_BAD_METHOD);
    arena_release(&a);
}

/* A route whose access is not declared keeps the server from starting. */
static void route_without_access_is_refused(void **state)
{
    static const struct http_route bad[] = {
        {HTTP_GET, "/healthz", h, "", HTTP_ACCESS_PUBLIC, HTTP_OBJECT_NONE},
        {HTTP_POST, "/v1/new", h, "", HTTP_ACCESS_UNSET, HTTP_OBJECT_NONE},
    };
    struct http_server_opts o = {.listen = "127.0.0.1:0", .threads = 1, .routes = bad,
                                 .nroutes = 2};
    struct http_server *s = NULL;
    struct fmd_err err = {0};

    (void)state;
    assert_int_equal(http_server_start(&o, &s, &err), FMD_EINVAL);
    assert_null(s);
    assert_string_equal(err.msg, "route 'POST /v1/new' declares no access");
}

static void access_and_object_names(void **state)
{
    (void)state;
    assert_string_equal(http_access_name(HTTP_ACCESS_UNSET), "unset");
    assert_string_equal(http_access_name(HTTP_ACCESS_GLOBAL_ADMIN), "global-admin");
    assert_string_equal(http_access_name((enum http_access)99), "unset");
    assert_string_equal(http_object_name(HTTP_OBJECT_NONE), "none");
    assert_string_equal(http_object_name(HTTP_OBJECT_QUEUE), "queue");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_with_params),
        cmocka_unit_test(not_found_and_bad_method),
        cmocka_unit_test(route_without_access_is_refused),
        cmocka_unit_test(access_and_object_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
