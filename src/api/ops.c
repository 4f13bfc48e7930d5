/* ops.c - /healthz, /readyz, /metrics and /openapi.json. */
#include "api/api.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "db/db.h"
#include "metrics/metrics.h"
#include "metrics/process.h"
#include "queue/queue.h"
#include "store/health.h"
#include "store/leases.h"
#include "core/banned.h"

/* docs/openapi.json, linked into the binary by the Makefile (ld -b binary). */
extern const char _binary_openapi_json_start[];
extern const char _binary_openapi_json_end[];

static struct metric *m_requests, *m_duration, *m_inflight, *m_batch, *m_commit, *m_db,
    *m_uptime, *m_qdepth, *m_qrunning, *m_qscheduled, *m_qdiscarded, *m_qage;

int api_metrics_init(void)
{
    static const char *const req_labels[] = {"route", "method", "code", NULL};
    static const char *const dur_labels[] = {"route", "method", NULL};
    static const double dur_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.2,   0.5,    1,     2.5,  5,     10};
    static const double batch_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    static const double commit_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                            0.05,   0.1,   0.25,   0.5,   1};

    m_requests = metric_register("formd_http_requests_total", "HTTP requests answered",
                                 METRIC_COUNTER, req_labels, NULL, 0);
    m_duration = metric_register("formd_http_request_duration_seconds",
                                 "Time from the first byte of a request to its answer",
                                 METRIC_HISTOGRAM, dur_labels, dur_buckets,
                                 sizeof(dur_buckets) / sizeof(dur_buckets[0]));
    m_inflight = metric_register("formd_http_requests_in_flight", "Requests being served",
                                 METRIC_GAUGE, NULL, NULL, 0);
    m_batch = metric_register("formd_db_commit_batch_size", "Writes per group commit",
                              METRIC_HISTOGRAM, NULL, batch_buckets,
                              sizeof(batch_buckets) / sizeof(batch_buckets[0]));
    m_commit = metric_register("formd_db_commit_duration_seconds",
                               "Time of one group commit, fsync included", METRIC_HISTOGRAM,
                               NULL, commit_buckets,
                               sizeof(commit_buckets) / sizeof(commit_buckets[0]));
    m_db = metric_register("formd_db_query_seconds_total", "Time spent stepping SQL statements",
                           METRIC_COUNTER, NULL, NULL, 0);
    m_uptime = metric_register("formd_uptime_seconds", "Seconds since the server started",
                               METRIC_GAUGE, NULL, NULL, 0);
    {
        static const char *const q[] = {"queue", NULL};
        m_qdepth = metric_register("formd_queue_depth", "Tasks runnable now, per queue",
                                   METRIC_GAUGE, q, NULL, 0);
        m_qrunning = metric_register("formd_queue_running", "Tasks running, per queue",
                                     METRIC_GAUGE, q, NULL, 0);
        m_qscheduled = metric_register("formd_queue_scheduled",
                                       "Tasks waiting for their time or a retry, per queue",
                                       METRIC_GAUGE, q, NULL, 0);
        m_qdiscarded = metric_register("formd_queue_discarded",
                                       "Tasks in the dead-letter set, per queue", METRIC_GAUGE,
                                       q, NULL, 0);
        m_qage = metric_register("formd_queue_oldest_age_seconds",
                                 "How long the oldest runnable task has waited, per queue",
                                 METRIC_GAUGE, q, NULL, 0);
    }
    if (metrics_process_init() || api__audit_metrics_init())
        return FMD_ENOMEM;
    return m_requests && m_duration && m_inflight && m_batch && m_commit && m_db && m_uptime &&
                   m_qdepth && m_qrunning && m_qscheduled && m_qdiscarded && m_qage
               ? 0
               : FMD_ENOMEM;
}

void api_observe_request(const char *route, const char *method, int status, double seconds)
{
    char code[4] = {'0' + status / 100 % 10, '0' + status / 10 % 10, '0' + status % 10, 0};
    const char *labels[3];
    labels[0] = route ? route : "unmatched";
    labels[1] = method;
    labels[2] = code;
    metric_inc(m_requests, labels, 1);
    metric_observe(m_duration, labels, seconds);
}

void api_observe_commit(int batch, double seconds)
{
    metric_observe0(m_batch, batch);
    metric_observe0(m_commit, seconds);
}

void api_healthz(struct http_req *req)
{
    http_send(req, 200, "application/json", "{\"status\":\"ok\"}", 15);
}

static int health_write(struct db *db, void *arg, struct fmd_err *err)
{
    return store_health_touch(db, clock_wall_ms(), err);
}

/* The analytics check of /readyz: "ok", or why not; *bad set when it fails. */
static json_t *analytics_check(struct http_req *req, int *bad)
{
    struct app *app = req->app;
    struct fmd_err err = {0};
    int64_t lag;

    /* Another node holds analytics (PostgreSQL): this one's copy is not used. */
    if (app->analytics_elected && !store_elector_leading(app->analytics_lease))
        return json_string("on another node");
    if (api_analytics_lag(req, &lag, &err)) {
        *bad = 1;
        return json_string(err.msg);
    }
    if (app->cfg->etl_max_lag > 0 && lag > app->cfg->etl_max_lag * 1000) {
        *bad = 1;
        return json_sprintf("lagging %lld s behind (limit %ld s)", (long long)(lag / 1000),
                            app->cfg->etl_max_lag);
    }
    return json_string("ok");
}

static void ready_answer(struct http_req *req)
{
    const struct fmd_err *err;
    json_t *checks = json_object();
    int bad = 0;

    if (api_write_result(req, &err)) {
        bad = 1;
        json_object_set_new(checks, "database", json_string(err->msg));
    } else {
        json_object_set_new(checks, "database", json_string("ok"));
    }
    json_object_set_new(checks, "analytics", analytics_check(req, &bad));
    http_send_json(req, bad ? 503 : 200, json_pack("{s:s, s:o}", "status",
                                                   bad ? "unavailable" : "ready", "checks",
                                                   checks));
}

/*
 * Ready means a write can be committed to disk right now: the check writes
 * one row through the group commit, so a full disk or failing fsync shows.
 */
void api_readyz(struct http_req *req)
{
    api_write(req, health_write, NULL, ready_answer);
}

/* Queue depths are read from the database at scrape time: cheap, and true
 * for every process sharing the database. */
static void queue_gauges(struct http_req *req)
{
    struct fmd_err err = {0};
    struct db *db = api_db(req);
    json_t *list, *q;
    size_t i;

    if (!db || queue_stats_json(db, clock_wall_ms(), &list, &err))
        return;
    json_array_foreach(list, i, q) {
        const char *labels[] = {json_string_value(json_object_get(q, "name")), NULL};
        metric_set(m_qdepth, labels, (double)json_integer_value(json_object_get(q, "depth")));
        metric_set(m_qrunning, labels,
                   (double)json_integer_value(json_object_get(q, "running")));
        metric_set(m_qscheduled, labels,
                   (double)json_integer_value(json_object_get(q, "scheduled")));
        metric_set(m_qdiscarded, labels,
                   (double)json_integer_value(json_object_get(q, "discarded")));
        metric_set(m_qage, labels,
                   (double)json_integer_value(json_object_get(q, "oldest_age_ms")) / 1000.0);
    }
    json_decref(list);
}

void api_metrics(struct http_req *req)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static double db_seen;
    struct app *app = req->app;
    struct principal *pr;
    double db_now;

    /* --metrics-public 0: only a global admin's token may scrape. */
    if (!app->cfg->metrics_public) {
        if (!(pr = api_auth(req)))
            return;
        if (api_role_on(pr, "") < ROLE_ADMIN) {
            http_problem(req, FMD_EFORBIDDEN, NULL, "metrics need a global admin", NULL);
            return;
        }
    }
    db_now = db_time_seconds();
    metric_set0(m_inflight, (double)http_server_inflight(app->server));
    metric_set0(m_uptime, (double)(clock_wall_ms() - app->started_ms) / 1000.0);
    /* The db layer keeps a plain total; the counter advances by what is new. */
    pthread_mutex_lock(&lock);
    metric_inc0(m_db, db_now - db_seen);
    db_seen = db_now;
    pthread_mutex_unlock(&lock);
    queue_gauges(req);
    metrics_process_update(app->cfg->data_dir);
    {
        struct fmd_err err = {0};
        int64_t lag;
        api_analytics_lag(req, &lag, &err);   /* sets the gauge; an error leaves it be */
    }
    buf_reset(&req->out);
    if (metrics_render(&req->out)) {
        http_problem(req, FMD_ENOMEM, NULL, "cannot render metrics", NULL);
        return;
    }
    req->status = 200;
    req->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

void api_openapi(struct http_req *req)
{
    http_send(req, 200, "application/json", _binary_openapi_json_start,
              (size_t)(_binary_openapi_json_end - _binary_openapi_json_start));
}
