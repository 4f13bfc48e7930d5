/* test_metrics.c - unit tests for the Prometheus registry in src/metrics/metrics.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "metrics/metrics.h"
#include "core/banned.h"

#define RENDER_MAX (8u << 20)

/* The registry rendered into a string the test frees with fmd_free. */
static char *render(void)
{
    struct buf b;
    char *s;

    buf_init(&b, RENDER_MAX);
    assert_int_equal(metrics_render(&b), 0);
    s = buf_detach(&b, NULL);
    assert_non_null(s);
    return s;
}

/* Fails, showing both, unless the rendered text contains want. */
static void expect_has(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("expected to find:\n%s\nin:\n%s", want, text);
}

static void expect_lacks(const char *text, const char *unwanted)
{
    if (strstr(text, unwanted))
        fail_msg("did not expect:\n%s\nin:\n%s", unwanted, text);
}

static void expect_render_has(const char *want)
{
    char *s = render();
    expect_has(s, want);
    fmd_free(s);
}

static int teardown(void **state)
{
    fmd_mem_fail_at(0);
    metrics_reset();
    return 0;
}

static void test_counter_no_labels(void **state)
{
    struct metric *m = metric_register("t_requests_total", "Requests served.",
                                       METRIC_COUNTER, NULL, NULL, 0);
    assert_non_null(m);
    expect_render_has("t_requests_total 0\n");   /* exists before the first update */
    metric_inc0(m, 1);
    metric_inc0(m, 2.5);
    metric_inc0(m, -1);     /* counters ignore negative increments */
    metric_inc0(m, NAN);
    metric_inc0(m, 1);
    expect_render_has("# HELP t_requests_total Requests served.\n"
                      "# TYPE t_requests_total counter\n"
                      "t_requests_total 4.5\n");
    expect_render_has("formd_metrics_dropped_total 0\n");
}

static void test_counter_labels(void **state)
{
    static const char *const labels[] = { "method", "code", NULL };
    static const char *const get200[] = { "GET", "200" };
    static const char *const post500[] = { "POST", "500" };
    struct metric *m = metric_register("t_http_total", "By method and code.", METRIC_COUNTER,
                                       labels, NULL, 0);
    char *s;

    assert_non_null(m);
    s = render();
    /* a labelled family with no series yet is only its header */
    expect_has(s, "# TYPE t_http_total counter\n# HELP formd_metrics_dropped_total");
    fmd_free(s);

    metric_inc(m, get200, 1);
    metric_inc(m, post500, 1);
    metric_inc(m, get200, 1);
    metric_inc(m, (const char *const[]){ "GET", "200" }, 3);   /* copy, not pointer, identity */
    expect_render_has("# TYPE t_http_total counter\n"
                      "t_http_total{method=\"GET\",code=\"200\"} 5\n"
                      "t_http_total{method=\"POST\",code=\"500\"} 1\n");
}

static void test_gauge(void **state)
{
    static const char *const labels[] = { "pool", NULL };
    struct metric *g = metric_register("t_temperature", "A gauge.", METRIC_GAUGE,
                                       NULL, NULL, 0);
    struct metric *gl = metric_register("t_conns", "Open connections.", METRIC_GAUGE,
                                        labels, NULL, 0);

    assert_non_null(g);
    assert_non_null(gl);
    metric_set0(g, 5);
    metric_inc0(g, -2);
    expect_render_has("t_temperature 3\n");
    metric_set0(g, 0.5);
    expect_render_has("t_temperature 0.5\n");
    metric_set0(g, -1e-6);
    expect_render_has("t_temperature -1e-06\n");
    metric_set0(g, INFINITY);
    expect_render_has("t_temperature +Inf\n");
    metric_set0(g, -INFINITY);
    expect_render_has("t_temperature -Inf\n");
    metric_set0(g, NAN);
    expect_render_has("t_temperature NaN\n");
    metric_set0(g, 123456789012.0);
    expect_render_has("t_temperature 123456789012\n");

    metric_inc(gl, (const char *const[]){ "db" }, 4);
    metric_inc(gl, (const char *const[]){ "db" }, -1);
    metric_set(gl, (const char *const[]){ "http" }, 7);
    expect_render_has("t_conns{pool=\"db\"} 3\nt_conns{pool=\"http\"} 7\n");
}

static void test_number_round_trip(void **state)
{
    static const double vals[] = { 0.1, 1.0 / 3, 2.0 / 3, 1e-300, 5e-324, 1.7976931348623157e308,
                                   123.456, 1e16 + 2, 1e17, 1e21, -0.3 };
    struct metric *g = metric_register("t_num", NULL, METRIC_GAUGE, NULL, NULL, 0);
    char *s, *p;
    size_t i, len;

    assert_non_null(g);
    for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        metric_set0(g, vals[i]);
        s = render();
        p = strstr(s, "\nt_num ");
        assert_non_null(p);
        p += 7;
        len = strcspn(p, "\n");
        if (strtod(p, NULL) != vals[i] || len > 24)
            fail_msg("%.17g rendered as %.*s", vals[i], (int)len, p);
        fmd_free(s);
    }
    metric_set0(g, 0.1);
    expect_render_has("\nt_num 0.1\n");
    metric_set0(g, 1e16 + 2);
    expect_render_has("\nt_num 10000000000000002\n");
    s = render();
    expect_lacks(s, "# HELP t_num");   /* NULL help: no HELP line */
    fmd_free(s);
}

static void test_histogram(void **state)
{
    static const double buckets[] = { 0.25, 0.5, 1 };
    static const double obs[] = { 0.25, 0.5, 0.125, 2, 0.75 };
    static const char *const labels[] = { "route", NULL };
    struct metric *h = metric_register("t_latency_seconds", "Latency.", METRIC_HISTOGRAM,
                                       NULL, buckets, 3);
    struct metric *hl = metric_register("t_route_seconds", "By route.", METRIC_HISTOGRAM,
                                        labels, buckets, 3);
    size_t i;

    assert_non_null(h);
    assert_non_null(hl);
    for (i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
        metric_observe0(h, obs[i]);
    expect_render_has("# HELP t_latency_seconds Latency.\n"
                      "# TYPE t_latency_seconds histogram\n"
                      "t_latency_seconds_bucket{le=\"0.25\"} 2\n"
                      "t_latency_seconds_bucket{le=\"0.5\"} 3\n"
                      "t_latency_seconds_bucket{le=\"1\"} 4\n"
                      "t_latency_seconds_bucket{le=\"+Inf\"} 5\n"
                      "t_latency_seconds_sum 3.625\n"
                      "t_latency_seconds_count 5\n");

    metric_observe(hl, (const char *const[]){ "/forms" }, 0.1);
    metric_observe(hl, (const char *const[]){ "/forms" }, 10);
    metric_observe(hl, (const char *const[]){ "/forms" }, NAN);   /* +Inf bucket */
    expect_render_has("t_route_seconds_bucket{route=\"/forms\",le=\"0.25\"} 1\n"
                      "t_route_seconds_bucket{route=\"/forms\",le=\"0.5\"} 1\n"
                      "t_route_seconds_bucket{route=\"/forms\",le=\"1\"} 1\n"
                      "t_route_seconds_bucket{route=\"/forms\",le=\"+Inf\"} 3\n"
                      "t_route_seconds_sum{route=\"/forms\"} NaN\n"
                      "t_route_seconds_count{route=\"/forms\"} 3\n");
}

static void test_exact_output(void **state)
{
    static const double buckets[] = { 1 };
    struct metric *c = metric_register("a_total", "A.", METRIC_COUNTER, NULL, NULL, 0);
    struct metric *h = metric_register("b", "B.", METRIC_HISTOGRAM, NULL, buckets, 1);
    char *s;

    metric_inc0(c, 2);
    metric_observe0(h, 0.5);
    s = render();
    assert_string_equal(s,
        "# HELP a_total A.\n"
        "# TYPE a_total counter\n"
        "a_total 2\n"
        "# HELP b B.\n"
        "# TYPE b histogram\n"
        "b_bucket{le=\"1\"} 1\n"
        "b_bucket{le=\"+Inf\"} 1\n"
        "b_sum 0.5\n"
        "b_count 1\n"
        "# HELP formd_metrics_dropped_total Metric updates dropped: label combinations over the"
        " per-family cap, no memory, or misuse.\n"
        "# TYPE formd_metrics_dropped_total counter\n"
        "formd_metrics_dropped_total 0\n");
    fmd_free(s);
}

static void test_escaping(void **state)
{
    static const char *const labels[] = { "v", NULL };
    struct metric *m = metric_register("t_esc_total", "Line one\nback\\slash \"quoted\"",
                                       METRIC_COUNTER, labels, NULL, 0);

    assert_non_null(m);
    metric_inc(m, (const char *const[]){ "a\"b\\c\nd" }, 1);
    metric_inc(m, (const char *const[]){ "" }, 1);
    expect_render_has("# HELP t_esc_total Line one\\nback\\\\slash \"quoted\"\n");
    expect_render_has("t_esc_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
    expect_render_has("t_esc_total{v=\"\"} 1\n");
}

static void test_invalid(void **state)
{
    static const double good[] = { 1, 2 };
    static const double unsorted[] = { 2, 1 };
    static const double equal[] = { 1, 1 };
    static const double nan_b[] = { 1, NAN };
    static const double inf_b[] = { 1, INFINITY };
    static const char *const five[] = { "a", "b", "c", "d", "e", NULL };
    static const char *const four[] = { "a", "b", "c", "d", NULL };
    static const char *const bad_labels[][3] = {
        { "", NULL }, { "1a", NULL }, { "a-b", NULL }, { "a:b", NULL }, { "__x", NULL },
        { "a", "a", NULL },
    };
    static const char *const bad_names[] = { "", "1abc", "a-b", "a b", "é", "a.b" };
    size_t i;

    assert_null(metric_register(NULL, "h", METRIC_COUNTER, NULL, NULL, 0));
    for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
        if (metric_register(bad_names[i], "h", METRIC_COUNTER, NULL, NULL, 0))
            fail_msg("name \"%s\" was accepted", bad_names[i]);
    for (i = 0; i < sizeof(bad_labels) / sizeof(bad_labels[0]); i++)
        if (metric_register("t_ok", "h", METRIC_COUNTER, bad_labels[i], NULL, 0))
            fail_msg("label set %zu was accepted", i);
    assert_null(metric_register("t_ok", "h", METRIC_COUNTER, five, NULL, 0));
    assert_null(metric_register("t_ok", "h", (enum metric_type)7, NULL, NULL, 0));
    assert_null(metric_register("t_h", "h", METRIC_HISTOGRAM, NULL, NULL, 0));
    assert_null(metric_register("t_h", "h", METRIC_HISTOGRAM, NULL, good, 0));
    assert_null(metric_register("t_h", "h", METRIC_HISTOGRAM, NULL, unsorted, 2));
    assert_null(metric_register("t_h", "h", METRIC_HISTOGRAM, NULL, equal, 2));
    assert_null(metric_register("t_h", "h", METRIC_HISTOGRAM, NULL, nan_b, 2));
    assert_null(metric_register("t_h", "h", METRIC_HISTOGRAM, NULL, inf_b, 2));
    assert_null(metric_register("t_h", "h", METRIC_HISTOGRAM,
                                (const char *const[]){ "le", NULL }, good, 2));
    assert_null(metric_register("formd_metrics_dropped_total", "h", METRIC_COUNTER,
                                NULL, NULL, 0));

    /* the edges that are allowed */
    assert_non_null(metric_register(":a_b:c9", "h", METRIC_COUNTER, NULL, NULL, 0));
    assert_non_null(metric_register("_x", NULL, METRIC_GAUGE, four, NULL, 0));
    assert_non_null(metric_register("t_le", "h", METRIC_COUNTER,
                                    (const char *const[]){ "le", NULL }, NULL, 0));
    /* buckets are ignored for other types */
    assert_non_null(metric_register("t_g", "h", METRIC_GAUGE, NULL, unsorted, 2));
}

static void test_duplicate(void **state)
{
    static const char *const ab[] = { "a", "b", NULL };
    static const char *const ba[] = { "b", "a", NULL };
    static const char *const a[] = { "a", NULL };
    static const double b1[] = { 1, 2 };
    static const double b2[] = { 1, 3 };
    struct metric *m = metric_register("t_dup_total", "h", METRIC_COUNTER, ab, NULL, 0);
    struct metric *h = metric_register("t_hist", "h", METRIC_HISTOGRAM, NULL, b1, 2);
    char *s;

    assert_non_null(m);
    assert_non_null(h);
    assert_ptr_equal(metric_register("t_dup_total", "other help", METRIC_COUNTER,
                                     (const char *const[]){ "a", "b", NULL }, NULL, 0), m);
    assert_null(metric_register("t_dup_total", "h", METRIC_GAUGE, ab, NULL, 0));
    assert_null(metric_register("t_dup_total", "h", METRIC_COUNTER, ba, NULL, 0));
    assert_null(metric_register("t_dup_total", "h", METRIC_COUNTER, a, NULL, 0));
    assert_null(metric_register("t_dup_total", "h", METRIC_COUNTER, NULL, NULL, 0));
    assert_ptr_equal(metric_register("t_hist", "h", METRIC_HISTOGRAM, NULL, b1, 2), h);
    assert_null(metric_register("t_hist", "h", METRIC_HISTOGRAM, NULL, b2, 2));
    assert_null(metric_register("t_hist", "h", METRIC_HISTOGRAM, NULL, b1, 1));
    /* names a histogram's samples already use */
    assert_null(metric_register("t_hist_count", "h", METRIC_COUNTER, NULL, NULL, 0));
    assert_null(metric_register("t_hist_bucket", "h", METRIC_GAUGE, NULL, NULL, 0));
    /* near misses that are not histogram sample names */
    assert_non_null(metric_register("t_dup", "h", METRIC_HISTOGRAM, NULL, b1, 2));
    assert_non_null(metric_register("t_dup_total_sum", "h", METRIC_GAUGE, NULL, NULL, 0));
    /* a histogram whose samples an existing family already uses */
    assert_non_null(metric_register("t_x_sum", "h", METRIC_GAUGE, NULL, NULL, 0));
    assert_null(metric_register("t_x", "h", METRIC_HISTOGRAM, NULL, b1, 2));

    s = render();   /* registered once each, in registration order */
    expect_has(s, "# TYPE t_dup_total counter\n# HELP t_hist h\n");
    expect_has(s, "# HELP t_dup_total h\n");
    fmd_free(s);
}

static void test_cap(void **state)
{
    static const char *const labels[] = { "id", NULL };
    struct metric *m = metric_register("t_cap_total", "h", METRIC_COUNTER, labels, NULL, 0);
    char v[32], *s;
    int i;

    assert_non_null(m);
    for (i = 0; i < METRIC_MAX_SERIES; i++) {
        snprintf(v, sizeof(v), "v%d", i);
        metric_inc(m, (const char *const[]){ v }, 1);
    }
    expect_render_has("formd_metrics_dropped_total 0\n");
    metric_inc(m, (const char *const[]){ "one-too-many" }, 1);
    metric_inc(m, (const char *const[]){ "another" }, 5);
    metric_inc(m, (const char *const[]){ "v999" }, 1);   /* existing ones still count */
    metric_inc(m, (const char *const[]){ "v0" }, 1);
    s = render();
    expect_has(s, "formd_metrics_dropped_total 2\n");
    expect_has(s, "t_cap_total{id=\"v0\"} 2\n");
    expect_has(s, "t_cap_total{id=\"v998\"} 1\n");
    expect_has(s, "t_cap_total{id=\"v999\"} 2\n");
    expect_lacks(s, "one-too-many");
    expect_lacks(s, "another");
    fmd_free(s);
}

static void test_misuse_is_dropped(void **state)
{
    static const char *const labels[] = { "a", "b", NULL };
    struct metric *c = metric_register("t_c_total", "h", METRIC_COUNTER, labels, NULL, 0);
    struct metric *g = metric_register("t_g", "h", METRIC_GAUGE, NULL, NULL, 0);

    metric_inc(NULL, NULL, 1);
    metric_set(c, (const char *const[]){ "x", "y" }, 1);    /* set on a counter */
    metric_observe(g, NULL, 1);                             /* observe on a gauge */
    metric_inc(g, NULL, 1);                                 /* fine */
    metric_inc(c, NULL, 1);                                 /* values missing */
    metric_inc(c, (const char *const[]){ "x", NULL }, 1);   /* one missing */
    metric_inc(c, (const char *const[]){ "x", "y" }, 1);    /* fine */
    expect_render_has("formd_metrics_dropped_total 5\n");
    expect_render_has("t_c_total{a=\"x\",b=\"y\"} 1\n");
    metrics_reset();
    expect_render_has("formd_metrics_dropped_total 0\n");
}

static void test_render_errors_leave_buffer(void **state)
{
    struct metric *m = metric_register("t_big_total", "A help text long enough to overflow.",
                                       METRIC_COUNTER, NULL, NULL, 0);
    struct buf b;

    assert_non_null(m);
    buf_init(&b, 64);
    assert_int_equal(buf_adds(&b, "keep"), 0);
    assert_int_equal(metrics_render(&b), FMD_ETOOBIG);
    assert_string_equal(b.p, "keep");
    assert_int_equal(b.len, 4);
    buf_release(&b);

    buf_init(&b, RENDER_MAX);
    fmd_mem_fail_at(1);
    assert_int_equal(metrics_render(&b), FMD_ENOMEM);
    fmd_mem_fail_at(0);
    assert_string_equal(b.p, "");
    buf_release(&b);
}

/* Fail allocation N for N = 1.. until it all succeeds: no crash, no leak. */
static void test_alloc_failures(void **state)
{
    static const char *const labels[] = { "route", "code", NULL };
    static const double buckets[] = { 0.1, 1 };
    struct metric *h;
    struct buf b;
    char *s;
    long n;
    int rc, done = 0;

    for (n = 1; !done && n < 1000; n++) {
        metrics_reset();
        buf_init(&b, RENDER_MAX);
        fmd_mem_fail_at(n);
        h = metric_register("t_alloc_seconds", "h", METRIC_HISTOGRAM, labels, buckets, 2);
        if (h)
            metric_observe(h, (const char *const[]){ "/x", "200" }, 0.5);
        rc = metrics_render(&b);
        fmd_mem_fail_at(0);
        if (rc)
            assert_int_equal(rc, FMD_ENOMEM);
        else if (h && strstr(b.p, "t_alloc_seconds_count{route=\"/x\",code=\"200\"} 1\n"))
            done = 1;
        buf_release(&b);
    }
    assert_true(done);
    /* the successful round left a consistent registry behind */
    s = render();
    expect_has(s, "t_alloc_seconds_sum{route=\"/x\",code=\"200\"} 0.5\n");
    fmd_free(s);
}

/* ---- threads ---- */

#define NTHREADS 4
#define NITER 100000

struct thread_arg {
    struct metric *plain, *labelled, *frac, *gauge, *hist;
    int id;
};

static void *hammer(void *p)
{
    struct thread_arg *a = p;
    char mine[16];
    int i;

    snprintf(mine, sizeof(mine), "t%d", a->id);
    for (i = 0; i < NITER; i++) {
        metric_inc0(a->plain, 1);
        /* half shared, half per-thread: both race to create series */
        metric_inc(a->labelled, (const char *const[]){ (i & 1) ? "shared" : mine }, 1);
        metric_inc0(a->frac, 0.5);
        metric_inc0(a->gauge, 1);
        metric_observe0(a->hist, (i & 1) ? 0.25 : 4);
    }
    return NULL;
}

static void test_threads(void **state)
{
    static const double buckets[] = { 1 };
    static const char *const labels[] = { "who", NULL };
    struct thread_arg args[NTHREADS];
    pthread_t th[NTHREADS];
    struct metric *plain, *labelled, *frac, *gauge, *hist;
    char want[128], *s;
    int i;

    plain = metric_register("t_mt_total", "h", METRIC_COUNTER, NULL, NULL, 0);
    labelled = metric_register("t_mt_by_total", "h", METRIC_COUNTER, labels, NULL, 0);
    frac = metric_register("t_mt_frac_total", "h", METRIC_COUNTER, NULL, NULL, 0);
    gauge = metric_register("t_mt_gauge", "h", METRIC_GAUGE, NULL, NULL, 0);
    hist = metric_register("t_mt_seconds", "h", METRIC_HISTOGRAM, NULL, buckets, 1);
    assert_non_null(plain);
    assert_non_null(labelled);
    assert_non_null(frac);
    assert_non_null(gauge);
    assert_non_null(hist);

    for (i = 0; i < NTHREADS; i++) {
        args[i] = (struct thread_arg){ plain, labelled, frac, gauge, hist, i };
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (i = 0; i < 20; i++) {   /* render while they run */
        s = render();
        fmd_free(s);
    }
    for (i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);

    s = render();
    expect_has(s, "\nt_mt_total 400000\n");
    expect_has(s, "\nt_mt_frac_total 200000\n");
    expect_has(s, "\nt_mt_gauge 400000\n");
    expect_has(s, "t_mt_by_total{who=\"shared\"} 200000\n");
    for (i = 0; i < NTHREADS; i++) {
        snprintf(want, sizeof(want), "t_mt_by_total{who=\"t%d\"} 50000\n", i);
        expect_has(s, want);
    }
    expect_has(s, "t_mt_seconds_bucket{le=\"1\"} 200000\n"
                  "t_mt_seconds_bucket{le=\"+Inf\"} 400000\n"
                  "t_mt_seconds_sum 850000\n"
                  "t_mt_seconds_count 400000\n");
    expect_has(s, "formd_metrics_dropped_total 0\n");
    fmd_free(s);
}

/* Many threads registering the same names and creating the same series at once. */
static void *register_race(void *p)
{
    static const char *const labels[] = { "k", NULL };
    struct metric **out = p;
    char v[16];
    int i;

    *out = metric_register("t_race_total", "h", METRIC_COUNTER, labels, NULL, 0);
    for (i = 0; i < 2000; i++) {
        snprintf(v, sizeof(v), "k%d", i % 500);
        metric_inc(*out, (const char *const[]){ v }, 1);
    }
    return NULL;
}

static void test_register_race(void **state)
{
    struct metric *got[NTHREADS];
    pthread_t th[NTHREADS];
    char *s;
    int i;

    for (i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, register_race, &got[i]), 0);
    for (i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (i = 0; i < NTHREADS; i++) {
        assert_non_null(got[i]);
        assert_ptr_equal(got[i], got[0]);
    }
    s = render();
    expect_has(s, "t_race_total{k=\"k0\"} 16\n");
    expect_has(s, "t_race_total{k=\"k499\"} 16\n");
    expect_lacks(s, "k500");
    expect_has(s, "formd_metrics_dropped_total 0\n");
    fmd_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_counter_no_labels, teardown),
        cmocka_unit_test_teardown(test_counter_labels, teardown),
        cmocka_unit_test_teardown(test_gauge, teardown),
        cmocka_unit_test_teardown(test_number_round_trip, teardown),
        cmocka_unit_test_teardown(test_histogram, teardown),
        cmocka_unit_test_teardown(test_exact_output, teardown),
        cmocka_unit_test_teardown(test_escaping, teardown),
        cmocka_unit_test_teardown(test_invalid, teardown),
        cmocka_unit_test_teardown(test_duplicate, teardown),
        cmocka_unit_test_teardown(test_cap, teardown),
        cmocka_unit_test_teardown(test_misuse_is_dropped, teardown),
        cmocka_unit_test_teardown(test_render_errors_leave_buffer, teardown),
        cmocka_unit_test_teardown(test_alloc_failures, teardown),
        cmocka_unit_test_teardown(test_threads, teardown),
        cmocka_unit_test_teardown(test_register_race, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
