/*
 * test_postgres.c - the PostgreSQL driver: values, errors, transactions,
 * migrations, the claim's SKIP LOCKED, lost connections.
 *
 * Needs a server: FORMD_TEST_PG_URL (scripts/pg-cluster start prints one).
 * Without it every test is skipped. Each test gets a new database.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "db/db.h"
#include "db/migrate.h"
#include "db/pool.h"
#include "queue/queue.h"
#include "unit/db/db_target.h"

static struct db *open_fresh(const char *name, char *url, size_t cap)
{
    struct db *db = NULL;
    struct fmd_err err = {0};
    if (!test_pg_url())
        skip();
    test_db_target(name, url, cap);
    assert_int_equal(db_open(url, 0, &db, &err), 0);
    assert_int_equal(db_dialect(db), DB_POSTGRES);
    return db;
}

static int64_t one_int(struct db *db, const char *sql)
{
    struct db_stmt *st;
    struct fmd_err err = {0};
    int64_t v = -1;
    assert_int_equal(db_prepare(db, sql, &st, &err), 0);
    if (db_step(st, &err) == 1)
        v = db_col_int(st, 0);
    db_done(st);
    return v;
}

static void values_round_trip(void **state)
{
    char url[256];
    struct db *db = open_fresh("values", url, sizeof(url));
    struct db_stmt *st;
    struct fmd_err err = {0};
    size_t len;

    assert_int_equal(db_exec(db, "CREATE TABLE t (i BIGINT, d DOUBLE PRECISION, s TEXT)", &err),
                     0);
    /* $3 before $1: binding is by number. */
    assert_int_equal(db_prepare(db, "INSERT INTO t (s, d, i) VALUES ($3, $2, $1)", &st, &err), 0);
    db_bind_int(st, 1, INT64_MIN);
    db_bind_double(st, 2, 0.1);
    db_bind_text(st, 3, "it's \xc3\xa9t\xc3\xa9");
    assert_int_equal(db_step(st, &err), 0);
    db_done(st);
    assert_int_equal(db_changes(db), 1);
    assert_int_equal(db_prepare(db, "INSERT INTO t (s, d, i) VALUES ($3, $2, $1)", &st, &err), 0);
    db_bind_int(st, 1, INT64_MAX);
    db_bind_null(st, 2);
    db_bind_textn(st, 3, "", 0);
    assert_int_equal(db_step(st, &err), 0);
    db_done(st);

    assert_int_equal(db_prepare(db, "SELECT i, d, s, i > 0, d IS NULL FROM t ORDER BY i", &st,
                                &err), 0);
    assert_int_equal(db_step(st, &err), 1);
    assert_true(db_col_int(st, 0) == INT64_MIN);
    assert_true(db_col_double(st, 1) == 0.1);          /* %.17g round-trips */
    assert_string_equal(db_col_text(st, 2), "it's \xc3\xa9t\xc3\xa9");
    assert_int_equal(db_col_int(st, 3), 0);             /* booleans read as 0 / 1 */
    assert_int_equal(db_step(st, &err), 1);
    assert_true(db_col_int(st, 0) == INT64_MAX);
    assert_true(db_col_null(st, 1));
    assert_null(db_col_text(st, 1));
    assert_false(db_col_null(st, 2));                   /* '' is not NULL */
    assert_string_equal(db_col_textn(st, 2, &len), "");
    assert_int_equal(len, 0);
    assert_int_equal(db_col_int(st, 3), 1);
    assert_int_equal(db_col_int(st, 4), 1);
    assert_int_equal(db_step(st, &err), 0);
    assert_int_equal(db_step(st, &err), 0);             /* stays finished */
    db_done(st);
    /* A cached statement runs again with new values. */
    assert_int_equal(db_prepare(db, "UPDATE t SET s = $1 WHERE i > $2", &st, &err), 0);
    db_bind_text(st, 1, "x");
    db_bind_int(st, 2, -1);
    assert_int_equal(db_step(st, &err), 0);
    db_done(st);
    assert_int_equal(db_changes(db), 1);
    assert_int_equal(one_int(db, "SELECT COUNT(*) FROM t"), 2);
    assert_int_equal(db_changes(db), 1);                /* a SELECT leaves it */
    db_close(db);
}

static void errors_map_and_savepoints_recover(void **state)
{
    char url[256];
    struct db *db = open_fresh("errors", url, sizeof(url));
    struct db_stmt *st;
    struct fmd_err err = {0};

    assert_int_equal(db_exec(db, "CREATE TABLE t (n BIGINT PRIMARY KEY)", &err), 0);
    assert_int_equal(db_prepare(db, "SELEC nonsense", &st, &err), FMD_EDB);
    assert_non_null(strstr(err.msg, "42601"));

    assert_int_equal(db_begin(db, &err), 0);
    assert_int_equal(db_exec(db, "INSERT INTO t VALUES (1)", &err), 0);
    assert_int_equal(db_run(db, "SAVEPOINT job", &err), 0);
    assert_int_equal(db_exec(db, "INSERT INTO t VALUES (1)", &err), FMD_ECONFLICT);
    /* The transaction is aborted until the savepoint is rolled back to. */
    assert_int_equal(db_exec(db, "INSERT INTO t VALUES (2)", &err), FMD_EDB);
    assert_int_equal(db_run(db, "ROLLBACK TO job", &err), 0);
    assert_int_equal(db_run(db, "RELEASE job", &err), 0);
    assert_int_equal(db_exec(db, "INSERT INTO t VALUES (3)", &err), 0);
    assert_int_equal(db_commit(db, &err), 0);
    assert_int_equal(one_int(db, "SELECT COUNT(*) FROM t"), 2);

    /* A connection is usable again after a failed transaction is rolled back. */
    assert_int_equal(db_begin(db, &err), 0);
    assert_int_equal(db_exec(db, "INSERT INTO t VALUES (1)", &err), FMD_ECONFLICT);
    db_rollback(db);
    assert_int_equal(db_usable(db), 1);
    assert_int_equal(one_int(db, "SELECT COUNT(*) FROM t"), 2);
    db_close(db);
}

static void migrations_match_sqlite_and_go_both_ways(void **state)
{
    char url[256];
    struct db *db = open_fresh("migrate", url, sizeof(url));
    struct fmd_err err = {0};
    int i, v;

    assert_int_equal(db_migrations_pg_count, db_migrations_count);
    for (i = 0; i < db_migrations_count; i++) {
        assert_int_equal(db_migrations_pg[i].version, db_migrations[i].version);
        assert_string_equal(db_migrations_pg[i].name, db_migrations[i].name);
    }
    assert_int_equal(migrate_up(db, -1, &err), 0);
    assert_int_equal(migrate_current(db, &v, &err), 0);
    assert_int_equal(v, db_migrations[db_migrations_count - 1].version);
    assert_int_equal(migrate_up(db, -1, &err), 0);      /* idempotent */
    /* The change-log trigger fires; times are milliseconds (beyond 32 bits). */
    assert_int_equal(db_exec(db, "INSERT INTO projects VALUES ('p', 'P', 1700000000000);"
                                 "INSERT INTO forms (id, project_id, name, slug, status, "
                                 "draft_version, created_at, updated_at) VALUES "
                                 "('f', 'p', 'F', 'f', 'draft', 1, 1700000000000, 1);"
                                 "INSERT INTO submissions (id, form_id, form_version, data, "
                                 "created_at, updated_at) VALUES ('s', 'f', 1, '{}', 1, 1);"
                                 "UPDATE submissions SET status = 'approved';"
                                 "DELETE FROM submissions;", &err), 0);
    assert_int_equal(one_int(db, "SELECT COUNT(*) FROM submission_changes"), 3);
    assert_true(one_int(db, "SELECT MIN(at) FROM submission_changes") > 1700000000000);
    assert_int_equal(migrate_down(db, 0, &err), 0);
    assert_int_equal(migrate_current(db, &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(one_int(db, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public' "
                                 "AND tablename != 'schema_migrations'"), 0);
    assert_int_equal(one_int(db, "SELECT COUNT(*) FROM pg_proc p JOIN pg_namespace n "
                                 "ON n.oid = p.pronamespace WHERE n.nspname = 'public'"), 0);
    assert_int_equal(migrate_up(db, -1, &err), 0);
    db_close(db);
}

static void enqueue_n(struct db *db, int n)
{
    struct fmd_err err = {0};
    char id[ID_LEN + 1];
    int i, existing;
    for (i = 0; i < n; i++) {
        struct queue_new t = {.kind = "test.k", .queue = "default", .priority = i};
        assert_int_equal(queue_enqueue(db, &t, id, &existing, &err), 0);
    }
}

static int claim(struct db *db, const char *worker, int max, struct queue_task *out)
{
    struct fmd_err err = {0};
    int got = -1;
    assert_int_equal(queue_claim(db, "default", worker, max, clock_wall_ms() + 1000, 30000, out,
                                 &got, &err), 0);
    return got;
}

static void claims_skip_locked_rows_and_respect_max(void **state)
{
    char url[256];
    struct db *a = open_fresh("claims", url, sizeof(url)), *b = NULL;
    struct fmd_err err = {0};
    struct queue_task ta[10], tb[10];
    int na, nb, i, j;

    assert_int_equal(migrate_up(a, -1, &err), 0);
    assert_int_equal(db_open(url, 0, &b, &err), 0);
    enqueue_n(a, 6);
    /* a claims two and holds their row locks in its open transaction ... */
    assert_int_equal(db_begin(a, &err), 0);
    na = claim(a, "a", 2, ta);
    assert_int_equal(na, 2);
    assert_int_equal(ta[0].attempt, 1);
    /* ... so b, meanwhile, neither waits for nor takes them. */
    assert_int_equal(db_begin(b, &err), 0);
    nb = claim(b, "b", 1, tb);
    assert_int_equal(nb, 1);                             /* no more than asked */
    for (i = 0; i < nb; i++)
        queue_task_release(&tb[i]);
    nb = claim(b, "b", 10, tb);
    assert_int_equal(nb, 3);
    for (i = 0; i < na; i++)
        for (j = 0; j < nb; j++)
            assert_string_not_equal(ta[i].id, tb[j].id);
    assert_int_equal(db_commit(b, &err), 0);
    assert_int_equal(db_commit(a, &err), 0);
    assert_int_equal(claim(b, "b", 10, tb), 0);
    assert_int_equal(one_int(a, "SELECT COUNT(*) FROM tasks WHERE state = 'running'"), 6);
    for (i = 0; i < na; i++)
        queue_task_release(&ta[i]);
    for (i = 0; i < nb; i++)
        queue_task_release(&tb[i]);
    db_close(b);
    db_close(a);
}

static void kill_backend(struct db *victim, const char *url)
{
    struct db *killer;
    struct db_stmt *st;
    struct fmd_err err = {0};
    int64_t pid = one_int(victim, "SELECT pg_backend_pid()");

    assert_int_equal(db_open(url, 0, &killer, &err), 0);
    assert_int_equal(db_prepare(killer, "SELECT pg_terminate_backend(CAST($1 AS INTEGER))", &st,
                                &err), 0);
    db_bind_int(st, 1, pid);
    assert_int_equal(db_step(st, &err), 1);
    db_done(st);
    db_close(killer);
}

static void lost_connections_fail_then_reconnect_outside_transactions(void **state)
{
    char url[256];
    struct db *db = open_fresh("reconnect", url, sizeof(url));
    struct fmd_err err = {0};

    assert_int_equal(db_exec(db, "CREATE TABLE t (n BIGINT)", &err), 0);
    assert_int_equal(one_int(db, "SELECT COUNT(*) FROM t"), 0);
    /* Outside a transaction: the failing statement says so, the next one reconnects. */
    kill_backend(db, url);
    assert_int_equal(db_exec(db, "INSERT INTO t VALUES (1)", &err), FMD_EUNAVAIL);
    assert_int_equal(db_exec(db, "INSERT INTO t VALUES (1)", &err), 0);
    assert_int_equal(one_int(db, "SELECT COUNT(*) FROM t"), 1);   /* re-prepared */
    /* Inside one: everything fails until the caller's ROLLBACK, never autocommits. */
    assert_int_equal(db_begin(db, &err), 0);
    assert_int_equal(db_exec(db, "INSERT INTO t VALUES (2)", &err), 0);
    kill_backend(db, url);
    assert_int_equal(db_exec(db, "INSERT INTO t VALUES (3)", &err), FMD_EUNAVAIL);
    assert_int_equal(db_exec(db, "INSERT INTO t VALUES (4)", &err), FMD_EUNAVAIL);
    assert_int_equal(db_usable(db), 0);                  /* a pool would drop it */
    db_rollback(db);
    assert_int_equal(db_exec(db, "INSERT INTO t VALUES (5)", &err), 0);
    assert_int_equal(one_int(db, "SELECT COUNT(*) FROM t"), 2);   /* 1 and 5 */
    /* A BEGIN cannot have done anything: it runs again on a new connection. */
    kill_backend(db, url);
    assert_int_equal(db_begin(db, &err), 0);
    assert_int_equal(db_exec(db, "INSERT INTO t VALUES (6)", &err), 0);
    assert_int_equal(db_commit(db, &err), 0);
    assert_int_equal(one_int(db, "SELECT COUNT(*) FROM t"), 3);
    db_close(db);
}

static void pool_connections_only_read(void **state)
{
    char url[256];
    struct db *db = open_fresh("pool", url, sizeof(url)), *a, *b;
    struct db_pool *p;
    struct fmd_err err = {0};

    db_close(db);
    assert_int_equal(db_pool_new(url, &p, &err), 0);
    assert_int_equal(db_pool_get(p, &a, &err), 0);
    assert_int_equal(db_exec(a, "CREATE TABLE nope (x BIGINT)", &err), FMD_EDB);
    assert_non_null(strstr(err.msg, "read-only"));
    db_pool_put(p, a);
    assert_int_equal(db_pool_get(p, &b, &err), 0);
    assert_ptr_equal(a, b);
    /* A read on a connection the server dropped while idle just reconnects. */
    kill_backend(b, url);
    assert_int_equal(one_int(b, "SELECT 41 + 1"), 42);
    db_pool_put(p, b);
    db_pool_free(p);
}

static void targets_pick_the_driver(void **state)
{
    struct db *db = NULL;
    struct fmd_err err = {0};
    assert_true(db_target_is_postgres("postgres://u@h/db"));
    assert_true(db_target_is_postgres("postgresql://u@h/db"));
    assert_false(db_target_is_postgres("sqlite:x.db"));
    assert_false(db_target_is_postgres("x.db"));
    /* Nothing listens on port 1: a clear error, no password echoed. */
    assert_int_equal(db_open("postgres://u:secret@127.0.0.1:1/db?connect_timeout=2", 0, &db,
                             &err), FMD_EUNAVAIL);
    assert_null(db);
    assert_null(strstr(err.msg, "secret"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(targets_pick_the_driver),
        cmocka_unit_test(values_round_trip),
        cmocka_unit_test(errors_map_and_savepoints_recover),
        cmocka_unit_test(migrations_match_sqlite_and_go_both_ways),
        cmocka_unit_test(claims_skip_locked_rows_and_respect_max),
        cmocka_unit_test(lost_connections_fail_then_reconnect_outside_transactions),
        cmocka_unit_test(pool_connections_only_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
