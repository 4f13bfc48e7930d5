/*
 * test_db.c - the driver, migrations and the group-commit writer, on SQLite,
 * or on PostgreSQL with FORMD_TEST_PG_URL set (unit/db/db_target.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "db/db.h"
#include "db/migrate.h"
#include "db/pool.h"
#include "db/writer.h"
#include "unit/db/db_target.h"


static int count_rows(struct db *db, const char *sql)
{
    struct db_stmt *st;
    int n = -1;
    assert_int_equal(db_prepare(db, sql, &st, NULL), 0);
    if (db_step(st, NULL) == 1)
        n = (int)db_col_int(st, 0);
    db_done(st);
    return n;
}

static void placeholders_bind_by_number(void **state)
{
    struct db *db;
    struct db_stmt *st;
    struct fmd_err err = {0};
    char t[256];
    assert_int_equal(db_open(test_db_target("bind.db", t, sizeof(t)), 0, &db, &err), 0);
    assert_int_equal(db_exec(db, "CREATE TABLE t (a TEXT, b INTEGER UNIQUE)", &err), 0);
    /* $2 appears before $1: binding is by number, not by position. */
    assert_int_equal(db_prepare(db, "INSERT INTO t (b, a) VALUES ($2, $1)", &st, &err), 0);
    db_bind_text(st, 1, "x");
    db_bind_int(st, 2, 7);
    assert_int_equal(db_step(st, &err), 0);
    db_done(st);
    assert_int_equal(db_prepare(db, "INSERT INTO t (b, a) VALUES ($2, $1)", &st, &err), 0);
    db_bind_text(st, 1, "y");
    db_bind_int(st, 2, 7);
    assert_int_equal(db_step(st, &err), FMD_ECONFLICT);   /* unique violation */
    db_done(st);
    assert_int_equal(db_prepare(db, "SELECT a FROM t WHERE b = $1", &st, &err), 0);
    db_bind_int(st, 1, 7);
    assert_int_equal(db_step(st, &err), 1);
    assert_string_equal(db_col_text(st, 0), "x");
    db_done(st);
    assert_int_equal(db_prepare(db, "SELEC nonsense", &st, &err), FMD_EDB);
    db_close(db);
}

static void migrations_go_both_ways(void **state)
{
    struct db *db;
    struct fmd_err err = {0};
    int v;
    char t[256];
    assert_int_equal(db_open(test_db_target("migrate.db", t, sizeof(t)), 0, &db, &err), 0);
    assert_int_equal(migrate_up(db, -1, &err), 0);
    assert_int_equal(migrate_current(db, &v, &err), 0);
    assert_int_equal(v, db_migrations[db_migrations_count - 1].version);
    assert_int_equal(count_rows(db, "SELECT COUNT(*) FROM forms"), 0);
    assert_int_equal(migrate_up(db, -1, &err), 0);     /* idempotent */
    assert_int_equal(migrate_down(db, 0, &err), 0);
    assert_int_equal(migrate_current(db, &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(count_rows(db, db_dialect(db) == DB_POSTGRES
                                        ? "SELECT COUNT(*) FROM pg_tables WHERE "
                                          "schemaname = 'public' AND "
                                          "tablename != 'schema_migrations'"
                                        : "SELECT COUNT(*) FROM sqlite_master WHERE "
                                          "type = 'table' AND name != 'schema_migrations'"), 0);
    assert_int_equal(migrate_up(db, -1, &err), 0);
    db_close(db);
}

static int insert_job(struct db *db, void *arg, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "INSERT INTO t (n) VALUES ($1)", &st, err);
    if (rc)
        return rc;
    db_bind_int(st, 1, (int64_t)(intptr_t)arg);
    rc = db_step(st, err);
    db_done(st);
    return rc < 0 ? rc : 0;
}

static atomic_int done_ok, done_failed, max_batch;

static void on_done(void *arg, int rc, const struct fmd_err *err)
{
    atomic_fetch_add(rc ? &done_failed : &done_ok, 1);
}

static void observe(int batch, double seconds)
{
    int cur = atomic_load(&max_batch);
    while (batch > cur && !atomic_compare_exchange_weak(&max_batch, &cur, batch))
        ;
}

static void writer_batches_and_isolates_failures(void **state)
{
    struct db_writer *w;
    struct db *db;
    struct fmd_err err = {0};
    intptr_t i;
    char t[256];

    assert_int_equal(db_open(test_db_target("writer.db", t, sizeof(t)), 0, &db, &err), 0);
    assert_int_equal(db_exec(db, "CREATE TABLE t (n INTEGER PRIMARY KEY)", &err), 0);
    assert_int_equal(db_writer_start(t, 64, &w, &err), 0);
    db_writer_set_observer(w, observe);
    /* 500 jobs, every 10th a duplicate of the one before, which must fail alone. */
    for (i = 0; i < 500; i++)
        assert_int_equal(db_writer_submit(w, insert_job, on_done,
                                          (void *)(i % 10 == 9 ? i - 1 : i)), 0);
    assert_int_equal(db_writer_run(w, insert_job, (void *)(intptr_t)100000, &err), 0);
    assert_int_equal(db_writer_run(w, insert_job, (void *)(intptr_t)100000, &err), FMD_ECONFLICT);
    db_writer_stop(w);
    assert_int_equal(atomic_load(&done_ok), 450);
    assert_int_equal(atomic_load(&done_failed), 50);
    assert_true(atomic_load(&max_batch) > 1);    /* queued jobs shared commits */
    assert_int_equal(count_rows(db, "SELECT COUNT(*) FROM t"), 451);
    db_close(db);
}

static void pool_reuses_connections(void **state)
{
    struct db_pool *p;
    struct db *a, *b;
    struct fmd_err err = {0};
    char t[256];
    assert_int_equal(db_pool_new(test_db_target("pool.db", t, sizeof(t)), &p, &err), 0);
    assert_int_equal(db_pool_get(p, &a, &err), 0);
    db_pool_put(p, a);
    assert_int_equal(db_pool_get(p, &b, &err), 0);
    assert_ptr_equal(a, b);
    /* Pool connections only read. */
    assert_int_not_equal(db_exec(b, "CREATE TABLE nope (x INTEGER)", &err), 0);
    db_pool_put(p, b);
    db_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(placeholders_bind_by_number),
        cmocka_unit_test(migrations_go_both_ways),
        cmocka_unit_test(writer_batches_and_isolates_failures),
        cmocka_unit_test(pool_reuses_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
