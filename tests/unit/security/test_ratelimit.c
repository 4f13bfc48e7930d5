/* test_ratelimit.c - token bucket maths, failure back-off and the table's bound. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "security/ratelimit.h"

static void specs_parse(void **state)
{
    struct ratelimit_spec s;
    struct fmd_err err = {0};
    (void)state;
    assert_int_equal(ratelimit_parse("600/60,100", "rate-public", &s, &err), 0);
    assert_true(s.rate > 9.999 && s.rate < 10.001);
    assert_true(s.burst == 100.0);
    assert_int_equal(ratelimit_parse("5/2", "x", &s, &err), 0);
    assert_true(s.rate == 2.5 && s.burst == 5.0);
    assert_int_equal(ratelimit_parse("0", "x", &s, &err), 0);
    assert_true(s.rate == 0.0);
    assert_int_equal(ratelimit_parse("off", "x", &s, &err), 0);
    assert_true(s.rate == 0.0);
    assert_int_equal(ratelimit_parse("5", "rate-login", &s, &err), FMD_EINVAL);
    assert_non_null(strstr(err.msg, "rate-login"));
    assert_int_equal(ratelimit_parse("5/0", "x", &s, &err), FMD_EINVAL);
    assert_int_equal(ratelimit_parse("5/1,0", "x", &s, &err), FMD_EINVAL);
    assert_int_equal(ratelimit_parse("5/1,3x", "x", &s, &err), FMD_EINVAL);
    assert_int_equal(ratelimit_parse("-5/1", "x", &s, &err), FMD_EINVAL);
}

static void bucket_allows_burst_then_refills(void **state)
{
    struct ratelimit *rl;
    struct ratelimit_spec s = {.rate = 2.0, .burst = 3.0};   /* 2 a second, 3 at once */
    int i;
    (void)state;
    assert_int_equal(ratelimit_new(16, &rl), 0);
    for (i = 0; i < 3; i++)
        assert_int_equal(ratelimit_take(rl, "a", &s, 1000), 0);
    /* Empty: one token comes back after 500 ms. */
    assert_int_equal(ratelimit_take(rl, "a", &s, 1000), 500);
    assert_int_equal(ratelimit_take(rl, "a", &s, 1200), 300);
    assert_int_equal(ratelimit_take(rl, "a", &s, 1500), 0);
    assert_int_equal(ratelimit_take(rl, "a", &s, 1500), 500);
    /* Other keys have their own buckets. */
    assert_int_equal(ratelimit_take(rl, "b", &s, 1500), 0);
    /* A long pause refills to the burst, not beyond. */
    for (i = 0; i < 3; i++)
        assert_int_equal(ratelimit_take(rl, "a", &s, 100000), 0);
    assert_true(ratelimit_take(rl, "a", &s, 100000) > 0);
    /* A clock going back neither refills nor breaks the maths. */
    assert_true(ratelimit_take(rl, "a", &s, 50000) > 0);
    /* No limit: always allowed, nothing stored. */
    s.rate = 0;
    assert_int_equal(ratelimit_take(rl, "c", &s, 1), 0);
    assert_int_equal(ratelimit_count(rl), 2);
    ratelimit_free(rl);
}

static void retry_after_rounds_up(void **state)
{
    (void)state;
    assert_int_equal(ratelimit_retry_after(1), 1);
    assert_int_equal(ratelimit_retry_after(1000), 1);
    assert_int_equal(ratelimit_retry_after(1001), 2);
    assert_int_equal(ratelimit_retry_after(0), 1);
}

static void table_is_bounded_and_evicts_least_recent(void **state)
{
    struct ratelimit *rl;
    struct ratelimit_spec s = {.rate = 1.0, .burst = 1.0};
    char key[32];
    int i;
    (void)state;
    assert_int_equal(ratelimit_new(8, &rl), 0);
    assert_int_equal(ratelimit_take(rl, "old", &s, 0), 0);      /* "old" is now empty */
    assert_int_equal(ratelimit_take(rl, "kept", &s, 0), 0);
    for (i = 0; i < 6; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(ratelimit_take(rl, key, &s, 0), 0);
    }
    assert_int_equal(ratelimit_count(rl), 8);
    /* Touch "kept" so that "old" is the least recently used. */
    assert_true(ratelimit_take(rl, "kept", &s, 0) > 0);
    assert_int_equal(ratelimit_take(rl, "new", &s, 0), 0);    /* evicts "old" */
    assert_int_equal(ratelimit_count(rl), 8);
    assert_true(ratelimit_take(rl, "kept", &s, 0) > 0);       /* still there, still empty */
    /* A flood of distinct keys never grows the table. */
    for (i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "flood%d", i);
        ratelimit_take(rl, key, &s, 0);
    }
    assert_int_equal(ratelimit_count(rl), 8);
    /* The last eight keys are all there (each bucket is empty now). */
    for (i = 100000 - 8; i < 100000; i++) {
        snprintf(key, sizeof(key), "flood%d", i);
        assert_true(ratelimit_take(rl, key, &s, 0) > 0);
    }
    /* "old" was evicted long ago: it comes back as a new, full bucket. */
    assert_int_equal(ratelimit_take(rl, "old", &s, 0), 0);
    ratelimit_free(rl);
}

static void failures_back_off_doubling(void **state)
{
    struct ratelimit *rl;
    struct ratelimit_backoff b = {.after = 5, .base_ms = 1000, .cap_ms = 4000,
                                  .window_ms = 60000};
    int i;
    (void)state;
    assert_int_equal(ratelimit_new(4, &rl), 0);
    for (i = 0; i < 4; i++)
        assert_int_equal(ratelimit_fail(rl, "u", &b, 0), 0);
    assert_int_equal(ratelimit_blocked(rl, "u", 0), 0);
    assert_int_equal(ratelimit_fail(rl, "u", &b, 0), 1000);
    assert_int_equal(ratelimit_blocked(rl, "u", 400), 600);
    assert_int_equal(ratelimit_blocked(rl, "u", 1000), 0);
    assert_int_equal(ratelimit_fail(rl, "u", &b, 1000), 2000);
    assert_int_equal(ratelimit_fail(rl, "u", &b, 3000), 4000);
    assert_int_equal(ratelimit_fail(rl, "u", &b, 7000), 4000);   /* capped */
    assert_int_equal(ratelimit_blocked(rl, "v", 0), 0);            /* unknown key */
    /* A success forgets. */
    ratelimit_forget(rl, "u");
    assert_int_equal(ratelimit_blocked(rl, "u", 7001), 0);
    assert_int_equal(ratelimit_fail(rl, "u", &b, 8000), 0);
    /* A quiet window forgets too. */
    for (i = 0; i < 4; i++)
        ratelimit_fail(rl, "w", &b, 0);
    assert_int_equal(ratelimit_fail(rl, "w", &b, 60001), 0);
    ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(specs_parse),
        cmocka_unit_test(bucket_allows_burst_then_refills),
        cmocka_unit_test(retry_after_rounds_up),
        cmocka_unit_test(table_is_bounded_and_evicts_least_recent),
        cmocka_unit_test(failures_back_off_doubling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
