/* test_process.c - unit tests for the process and filesystem gauges in src/metrics/process.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/mem.h"
#include "metrics/metrics.h"
#include "metrics/process.h"
#include "core/banned.h"

/* The value of the label-less sample name in the rendered registry, or -1. */
static double sample(const char *name)
{
    struct buf b;
    char want[128], *s, *p;
    double v = -1;

    buf_init(&b, 1u << 20);
    assert_int_equal(metrics_render(&b), 0);
    s = buf_detach(&b, NULL);
    snprintf(want, sizeof(want), "\n%s ", name);
    if ((p = strstr(s, want)))
        v = strtod(p + strlen(want), NULL);
    fmd_free(s);
    return v;
}

static int teardown(void **state)
{
    metrics_reset();
    return 0;
}

static void test_values_are_plausible(void **state)
{
    double rss, fds;

    assert_int_equal(metrics_process_init(), 0);
    assert_int_equal(metrics_process_init(), 0);   /* again: the same families */
    metrics_process_update("/");
    rss = sample("process_resident_memory_bytes");
    assert_true(rss > 100 * 1024);
    assert_true(sample("process_virtual_memory_bytes") >= rss);
    fds = sample("process_open_fds");
    assert_true(fds >= 3 && fds <= sample("process_max_fds"));
    assert_true(sample("process_cpu_seconds_total") >= 0);
    assert_true(sample("process_start_time_seconds") > (double)time(NULL) - 3600);
    assert_true(sample("process_start_time_seconds") <= (double)time(NULL) + 1);
    assert_true(sample("formd_data_dir_free_bytes") > 0);
    assert_true(sample("formd_data_dir_size_bytes") >= sample("formd_data_dir_free_bytes"));
}

/* Opened descriptors show in the next update. */
static void test_open_fds_follow(void **state)
{
    int fd[8], i;
    double before;

    assert_int_equal(metrics_process_init(), 0);
    metrics_process_update(NULL);
    before = sample("process_open_fds");
    for (i = 0; i < 8; i++)
        assert_true((fd[i] = dup(2)) >= 0);
    metrics_process_update(NULL);
    assert_true(sample("process_open_fds") == before + 8);
    for (i = 0; i < 8; i++)
        close(fd[i]);
}

/* A missing data directory leaves the filesystem gauges as they were. */
static void test_missing_data_dir(void **state)
{
    assert_int_equal(metrics_process_init(), 0);
    metrics_process_update("/");
    double free1 = sample("formd_data_dir_free_bytes");
    metrics_process_update("/nonexistent/formd-test");
    assert_true(free1 > 0);
    assert_true(sample("formd_data_dir_free_bytes") > 0);
}

/* The CPU counter never goes down across updates. */
static void test_cpu_is_monotonic(void **state)
{
    volatile double x = 0;
    double a, b;
    long i;

    assert_int_equal(metrics_process_init(), 0);
    metrics_process_update(NULL);
    a = sample("process_cpu_seconds_total");
    for (i = 0; i < 20000000; i++)
        x += (double)i;
    metrics_process_update(NULL);
    b = sample("process_cpu_seconds_total");
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_values_are_plausible, teardown),
        cmocka_unit_test_teardown(test_open_fds_follow, teardown),
        cmocka_unit_test_teardown(test_missing_data_dir, teardown),
        cmocka_unit_test_teardown(test_cpu_is_monotonic, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
