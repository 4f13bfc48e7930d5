/* test_form_cache.c - hits, expiry by forget, and the reader/writer race. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/buf.h"
#include "store/form_cache.h"

static void hit_after_put(void **state)
{
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(form_cache_get("intake", &b), 0);
    form_cache_put("intake", "{\"v\":1}", 7, form_cache_generation());
    assert_int_equal(form_cache_get("intake", &b), 1);
    assert_string_equal(b.p, "{\"v\":1}");
    buf_reset(&b);
    assert_int_equal(form_cache_get("other", &b), 0);
    buf_release(&b);
    form_cache_clear();
}

static void forget_drops_the_entry(void **state)
{
    struct buf b;
    buf_init(&b, 1024);
    form_cache_put("intake", "{}", 2, form_cache_generation());
    form_cache_forget("intake");
    assert_int_equal(form_cache_get("intake", &b), 0);
    buf_release(&b);
    form_cache_clear();
}

static void a_read_older_than_a_forget_is_not_stored(void **state)
{
    struct buf b;
    uint64_t gen = form_cache_generation();   /* a reader starts its query */
    buf_init(&b, 1024);
    form_cache_forget("intake");              /* a write commits meanwhile */
    form_cache_put("intake", "{\"stale\":true}", 14, gen);
    assert_int_equal(form_cache_get("intake", &b), 0);
    buf_release(&b);
    form_cache_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hit_after_put),
        cmocka_unit_test(forget_drops_the_entry),
        cmocka_unit_test(a_read_older_than_a_forget_is_not_stored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
