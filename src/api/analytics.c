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

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/duck.h"
#include "analytics/etl.h"
#include "analytics/summary.h"
#include "core/clock.h"
#include "core/json.h"
#include "store/forms.h"
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

    if (!pr || api_forward_analytics(req))   /* not the analytics node: passed on */
        return;
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

/* ---- GET /v1/forms/{fid}/analytics ---- */

/* A time query argument: RFC 3339 or a plain date (from its first or, for
 * `to`, its last millisecond). 0, or answered 400. */
static int time_arg(struct http_req *req, const char *name, int end_of_day, int64_t *ms)
{
    const char *v = http_query(req, name);
    char buf[40], msg[160];

    *ms = 0;
    if (!v || !*v)
        return 0;
    if (strlen(v) == 10 && snprintf(buf, sizeof(buf), "%sT00:00:00Z", v) > 0 &&
        !clock_parse_rfc3339(buf, ms)) {
        if (end_of_day)
            *ms += 86400000 - 1;
        return 0;
    }
    if (!clock_parse_rfc3339(v, ms))
        return 0;
    snprintf(msg, sizeof(msg), "'%s' must be a date (2026-01-31) or an RFC 3339 date-time", name);
    http_problem(req, FMD_EINVAL, NULL, msg, NULL);
    return -1;
}

/* A boolean query argument (true / false / absent). 0, or answered 400. */
static int bool_arg(struct http_req *req, const char *name, int *out)
{
    const char *v = http_query(req, name);
    char msg[96];

    *out = 0;
    if (!v || !strcmp(v, "false"))
        return 0;
    if (!strcmp(v, "true")) {
        *out = 1;
        return 0;
    }
    snprintf(msg, sizeof(msg), "'%s' must be true or false", name);
    http_problem(req, FMD_EINVAL, NULL, msg, NULL);
    return -1;
}

static int filter_args(struct http_req *req, struct summary_filter *f)
{
    const char *version = http_query(req, "version");
    char *end;
    long v;
    int deleted;

    memset(f, 0, sizeof(*f));
    if (time_arg(req, "from", 0, &f->from) || time_arg(req, "to", 1, &f->to) ||
        bool_arg(req, "include_deleted", &deleted))
        return -1;
    f->include_deleted = deleted;
    f->status = http_query(req, "status");
    if (f->status && !*f->status)
        f->status = NULL;
    if (version && *version) {
        errno = 0;
        v = strtol(version, &end, 10);
        if (*end || errno || v < 1 || v > 1000000) {
            http_problem(req, FMD_EINVAL, NULL, "'version' must be a positive integer", NULL);
            return -1;
        }
        f->version = (int)v;
    }
    f->timeout_ms = ((struct app *)req->app)->cfg->query_timeout;
    return 0;
}

/* Stops a request's sync between batches once it has used half of the
 * request's time (the watchdog closes the connection at the whole): what it
 * copied stays, and the answer says to come back. */
static int sync_deadline(void *arg)
{
    struct http_req *req = arg;
    struct app *app = req->app;
    uint64_t budget_ns = (uint64_t)app->cfg->request_timeout * 500000000ull;

    return clock_mono_ns() - req->start_ns > budget_ns;
}

/* Brings analytics up to date now (the request waits). 0, or answered. */
static int sync_now(struct http_req *req, struct duck_conn *c)
{
    struct app *app = req->app;
    /* batches small enough that the deadline, checked between them, holds */
    struct etl_options o = {.writer = app->writer, .stop = sync_deadline, .arg = req,
                            .batch = 10000};
    struct etl_stats st;
    struct fmd_err err = {0};
    struct db *db = api_db(req);
    int64_t lag = 0;

    if (!db)
        return -1;
    if (etl_sync(db, c, &o, &st, &err)) {
        http_problem_err(req, &err);
        return -1;
    }
    if (sync_deadline(req) && !etl_lag_ms(db, c, clock_wall_ms(), &lag, &err) && lag > 0) {
        http_add_header(req, "Retry-After", "5");
        http_problem(req, FMD_EUNAVAIL, "catching_up",
                     arena_printf(&req->arena, "analytics is catching up: %lld changes copied "
                                  "in this request, more remain; ask again in a moment",
                                  (long long)st.changes), NULL);
        return -1;
    }
    return 0;
}

void api_form_analytics(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    struct summary_filter f;
    struct store_form form;
    struct duck_conn *c = NULL;
    struct fmd_err err = {0};
    json_t *out = NULL;
    int fresh, rc;

    if (!pr || api_forward_analytics(req))   /* not the analytics node: passed on */
        return;
    if (!pr || api_load_form(req, pr, ROLE_VIEWER, &form))
        return;
    if (filter_args(req, &f) || bool_arg(req, "fresh", &fresh) || !(c = analytics_conn(req)))
        goto out;
    if (fresh && sync_now(req, c))
        goto out;
    rc = summary_form(c, form.id, &f, &out, &err);
    if (rc == FMD_ENOTFOUND && !fresh) {   /* never synced since it was published */
        if (sync_now(req, c))
            goto out;
        rc = summary_form(c, form.id, &f, &out, &err);
    }
    if (rc == FMD_ENOTFOUND)
        http_problem(req, FMD_ECONFLICT, "not_published",
                     "the form has no published version yet, so no analytics", NULL);
    else if (rc)
        analytics_problem(req, &err);
    else
        http_send_json(req, 200, out);
out:
    duck_disconnect(c);
}

/* ---- for /readyz and /metrics ---- */

int api_analytics_lag(struct http_req *req, int64_t *lag_ms, struct fmd_err *err)
{
    struct app *app = req->app;
    struct duck_conn *c = NULL;
    struct db *db;
    int rc;

    *lag_ms = 0;
    if (!app->analytics)
        return fmd_errf(err, FMD_EUNAVAIL, "analytics database is not open");
    if (!(db = api_db(req)))
        return fmd_errf(err, FMD_EUNAVAIL, "no database connection");
    if ((rc = duck_connect(app->analytics, &c, err)))
        return rc;
    rc = etl_observe_lag(db, c, lag_ms, err);
    duck_disconnect(c);
    return rc;
}
