/*
 * test_leases.c - named leases (store/leases.h), on SQLite and, with
 * FORMD_TEST_PG_URL, on PostgreSQL: one holder at a time, renewal by the
 * holder, takeover only after expiry (or forced), giving up, reading the
 * live holder; and the elector: leads at once on a free lease, not while
 * another holds it, gives the lease up when stopped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/clock.h"
#include "db/db.h"
#include "db/migrate.h"
#include "db/writer.h"
#include "store/leases.h"
#include "../db/db_target.h"

static struct db *open_db(const char *file, char *target, size_t cap)
{
    struct fmd_err err = {0};
    struct db *db;
    test_db_target(file, target, cap);
    assert_int_equal(db_open(target, 0, &db, &err), 0);
    assert_int_equal(migrate_up(db, -1, &err), 0);
    return db;
}

static int take(struct db *db, const char *holder, int64_t now, int force)
{
    struct fmd_err err = {0};
    int held = -1;
    assert_int_equal(store_lease_take(db, "analytics", holder, "http://h", now, 1000, force,
                                      &held, &err), 0);
    return held;
}

static void one_holder_renews_others_wait_for_expiry(void **state)
{
    struct fmd_err err = {0};
    struct store_lease l;
    char target[512];
    struct db *db = open_db("leases.db", target, sizeof(target));

    (void)state;
    assert_int_equal(store_lease_get(db, "analytics", 0, &l, &err), 0);   /* nobody */
    assert_int_equal(take(db, "a", 10000, 0), 1);
    assert_int_equal(take(db, "b", 10500, 0), 0);      /* a's has not expired */
    assert_int_equal(take(db, "a", 10800, 0), 1);      /* renewed: until 11800 */
    assert_int_equal(take(db, "b", 11500, 0), 0);
    assert_int_equal(store_lease_get(db, "analytics", 11500, &l, &err), 1);
    assert_string_equal(l.holder, "a");
    assert_string_equal(l.url, "http://h");
    assert_int_equal(l.expires_at, 11800);
    assert_int_equal(take(db, "b", 11800, 0), 1);      /* expired: b takes over */
    assert_int_equal(take(db, "a", 11900, 0), 0);      /* and a cannot renew it */
    assert_int_equal(take(db, "c", 11900, 1), 1);      /* forced */
    assert_int_equal(store_lease_give_up(db, "analytics", "b", &err), 0);   /* not b's */
    assert_int_equal(store_lease_get(db, "analytics", 12000, &l, &err), 1);
    assert_string_equal(l.holder, "c");
    assert_int_equal(store_lease_give_up(db, "analytics", "c", &err), 0);
    assert_int_equal(store_lease_get(db, "analytics", 12000, &l, &err), 0);
    assert_int_equal(take(db, "a", 12000, 0), 1);      /* given up: free at once */
    assert_int_equal(store_leases_forget(db, &err), 0);
    assert_int_equal(store_lease_get(db, "analytics", 12000, &l, &err), 0);
    db_close(db);
}

static int changes;
static void on_change(void *arg, int leading)
{
    (void)arg;
    changes += leading ? 1 : 100;
}

static void the_elector_leads_and_gives_up(void **state)
{
    struct fmd_err err = {0};
    struct store_elector *e = NULL, *other = NULL;
    struct store_elector_opts o = {.name = "analytics", .holder = "me", .url = "http://me",
                                   .ttl_ms = 60000, .mode = ELECTOR_CANDIDATE,
                                   .on_change = on_change};
    struct store_lease l;
    struct db_writer *w;
    char target[512];
    struct db *db = open_db("elector.db", target, sizeof(target));

    (void)state;
    assert_int_equal(db_writer_start(target, 16, &w, &err), 0);
    o.writer = w;
    assert_int_equal(store_elector_new(&o, &e, &err), 0);
    assert_false(store_elector_leading(e));
    assert_int_equal(store_elector_start(e, &err), 0);
    assert_true(store_elector_leading(e));
    assert_int_equal(changes, 1);
    o.holder = "other";
    assert_int_equal(store_elector_new(&o, &other, &err), 0);
    assert_int_equal(store_elector_start(other, &err), 0);
    assert_false(store_elector_leading(other));       /* held by "me" */
    store_elector_stop(e);                              /* gives it up */
    assert_int_equal(changes, 101);
    assert_int_equal(store_lease_get(db, "analytics", clock_wall_ms(), &l, &err), 0);
    store_elector_stop(other);
    db_writer_stop(w);
    db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_holder_renews_others_wait_for_expiry),
        cmocka_unit_test(the_elector_leads_and_gives_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
