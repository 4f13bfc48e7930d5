/* test_router.c - route matching, parameters, 404 versus 405. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/http.h"

static void h(struct http_req *req) { (void)req; }

static const struct http_route routes[] = {
    {HTTP_GET, "/v1/forms/{}", h, ""},
    {HTTP_PATCH, "/v1/forms/{}", h, ""},
    {HTTP_GET, "/v1/forms/{}/submissions", h, ""},
    {HTTP_POST, "/v1/public/forms/{}/submissions", h, ""},
    {HTTP_GET, "/healthz", h, ""},
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_with_params),
        cmocka_unit_test(not_found_and_bad_method),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
