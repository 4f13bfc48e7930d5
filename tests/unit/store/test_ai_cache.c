/* test_ai_cache.c - keys, first result kept, and pruning by age (on PostgreSQL too). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "db/db.h"
#include "db/migrate.h"
#include "store/ai_cache.h"
#include "unit/db/db_target.h"

static void keys_results_and_pruning(void **state)
{
    struct db *db;
    struct fmd_err err = {0};
    char k1[AI_CACHE_KEY_HEX], k2[AI_CACHE_KEY_HEX], k3[AI_CACHE_KEY_HEX];
    char *got = NULL;
    int pruned = -1;
    char t[256];

    (void)state;
    assert_int_equal(db_open(test_db_target("ai-cache.db", t, sizeof(t)), 0, &db, &err), 0);
    assert_int_equal(migrate_up(db, -1, &err), 0);
    store_ai_cache_key("m", "v1", "extract", "{}", "text", k1);
    store_ai_cache_key("m", "v1", "extract", "{}", "text2", k2);
    /* parts are length-prefixed: moving a byte between them changes the key */
    store_ai_cache_key("m", "v1", "extract", "{}t", "ext", k3);
    assert_string_not_equal(k1, k2);
    assert_string_not_equal(k1, k3);
    assert_int_equal(strlen(k1), AI_CACHE_KEY_HEX - 1);

    assert_int_equal(store_ai_cache_get(db, k1, &got, &err), 0);
    assert_null(got);
    assert_int_equal(store_ai_cache_put(db, k1, "extract", "m", "{\"a\":1}", &err), 0);
    assert_int_equal(store_ai_cache_put(db, k1, "extract", "m", "{\"a\":2}", &err), 0);
    assert_int_equal(store_ai_cache_get(db, k1, &got, &err), 0);
    assert_string_equal(got, "{\"a\":1}");    /* the first result stays */
    fmd_freez(&got);

    /* entries stored before the cut go, later ones stay */
    assert_int_equal(store_ai_cache_prune(db, clock_wall_ms() - 60000, &pruned, &err), 0);
    assert_int_equal(pruned, 0);
    assert_int_equal(store_ai_cache_prune(db, clock_wall_ms() + 1, &pruned, &err), 0);
    assert_int_equal(pruned, 1);
    assert_int_equal(store_ai_cache_get(db, k1, &got, &err), 0);
    assert_null(got);
    db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_results_and_pruning),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
