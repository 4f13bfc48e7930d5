/*
 * analytics.c - the analytics resources: a form's summary
 * (GET /v1/forms/{fid}/analytics) and admins' read-only SQL over the
 * analytics database (POST /v1/analytics/query).
 *
 * Both read DuckDB through a connection of their own, made per request: a
 * DuckDB connection is cheap next to any analytic query, and keeps requests
 * from waiting on each other.
 */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "analytics/duck.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/banned.h"

/* A connection to the analytics database, or answered 503 and NULL. */
static struct duck_conn *analytics_conn(struct http_req *req)
{
    struct app *app = req->app;
    struct fmd_err err = {0};
    struct duck_conn *c = NULL;

    if (!app->analytics) {
        http_problem(req, FMD_EUNAVAIL, NULL, "analytics are not available in this process",
                     NULL);
        return NULL;
    }
    if (duck_connect(app->analytics, &c, &err)) {
        http_problem_err(req, &err);
        return NULL;
    }
    return c;
}

/* Answers a failed analytics call: the user's SQL errors are 400s, a query
 * over its time limit a 422 naming the limit. */
static void analytics_problem(struct http_req *req, const struct fmd_err *err)
{
    if (err->code == FMD_ETIMEOUT)
        http_problem(req, FMD_EUNPROC, "query_timeout", err->msg, NULL);
    else
        http_problem_err(req, err);
}

/* A positive integer member of body, within [1, max], or def when absent:
 * 0, or answered 400. */
static int bounded_member(struct http_req *req, const json_t *body, const char *name, long max,
                          long def, long *out)
{
    const json_t *v = json_object_get(body, name);
    char msg[160];

    *out = def;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max) {
        snprintf(msg, sizeof(msg), "'%s' must be an integer from 1 to %ld", name, max);
        http_problem(req, FMD_EINVAL, NULL, msg, NULL);
        return -1;
    }
    *out = (long)json_integer_value(v);
    return 0;
}

void api_analytics_query(struct http_req *req)
{
    static const char *const members[] = {"sql", "max_rows", "timeout_ms", NULL};
    struct principal *pr = api_auth(req);
    struct app *app = req->app;
    struct duck_limits lim = {0};
    struct duck_conn *c = NULL;
    struct fmd_err err = {0};
    json_t *body = NULL, *out = NULL;
    const char *sql;
    long rows, ms;
    uint64_t t0;

    if (!pr)
        return;
    if (api_role_on(pr, "") < ROLE_ADMIN) {
        http_problem(req, FMD_EFORBIDDEN, NULL, "analytics queries need a global admin", NULL);
        return;
    }
    if (!(body = api_body_object(req)) || api_only_members(req, body, members))
        goto out;
    sql = json_get_str(body, "sql");
    if (!sql || !*sql) {
        http_problem(req, FMD_EINVAL, NULL, "'sql' must be a non-empty string", NULL);
        goto out;
    }
    if (bounded_member(req, body, "max_rows", app->cfg->query_max_rows,
                       app->cfg->query_max_rows, &rows) ||
        bounded_member(req, body, "timeout_ms", app->cfg->query_timeout,
                       app->cfg->query_timeout, &ms))
        goto out;
    if (!(c = analytics_conn(req)))
        goto out;
    lim.max_rows = (size_t)rows;
    lim.timeout_ms = ms;
    t0 = clock_mono_ns();
    if (duck_check_read_only(c, sql, &err) || duck_query_json(c, sql, &lim, &out, &err)) {
        analytics_problem(req, &err);
        goto out;
    }
    json_object_set_new(out, "elapsed_ms",
                        json_real((double)(clock_mono_ns() - t0) / 1e6));
    http_send_json(req, 200, out);
out:
    duck_disconnect(c);
    json_decref(body);
}
