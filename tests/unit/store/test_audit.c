/*
 * test_audit.c - the audit log: append, filters and paging, and the
 * triggers that refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE), on
 * SQLite and, with FORMD_TEST_PG_URL, on PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "db/db.h"
#include "db/migrate.h"
#include "store/audit.h"
#include "unit/db/db_target.h"

static struct db *open_db(const char *name)
{
    struct db *db;
    struct fmd_err err = {0};
    char t[256];

    assert_int_equal(db_open(test_db_target(name, t, sizeof(t)), 0, &db, &err), 0);
    assert_int_equal(migrate_up(db, -1, &err), 0);
    return db;
}

static void append(struct db *db, int64_t at, const char *actor, const char *action,
                   const char *target, const char *project, int status, const char *outcome)
{
    struct store_audit_event e = {0};
    struct fmd_err err = {0};

    e.at = at;
    e.actor_kind = "key";
    e.actor_id = actor;
    e.actor_name = "a key";
    e.client = "127.0.0.1";
    e.request_id = "01HZZZZZZZZZZZZZZZZZZZZZZZ";
    e.action = action;
    e.target_type = "form";
    e.target_id = target;
    e.project_id = project;
    e.status = status;
    e.outcome = outcome;
    e.detail = "{\"method\":\"POST\"}";
    assert_int_equal(store_audit_append(db, &e, &err), 0);
}

static size_t count(struct db *db, const struct store_audit_filter *f)
{
    struct fmd_err err = {0};
    json_t *page;
    size_t n;

    assert_int_equal(store_audit_list(db, f, NULL, 200, &page, &err), 0);
    n = json_array_size(json_object_get(page, "items"));
    json_decref(page);
    return n;
}

static void append_and_filter(void **state)
{
    struct db *db = open_db("audit-filter.db");
    struct store_audit_filter f = {0};
    struct fmd_err err = {0};
    json_t *page, *item;
    const char *cursor;

    (void)state;
    append(db, 1000, "k1", "form.create", "f1", "p1", 201, "ok");
    append(db, 2000, "k1", "form.publish", "f1", "p1", 200, "ok");
    append(db, 3000, "k2", "form.publish", "f2", "p2", 403, "denied");
    append(db, 4000, "k2", "submission.delete", "s1", "p2", 500, "failed");

    assert_int_equal(count(db, &f), 4);
    f.actor = "k1";
    assert_int_equal(count(db, &f), 2);
    memset(&f, 0, sizeof(f));
    f.action = "form.publish";
    assert_int_equal(count(db, &f), 2);
    f.action = "form.*";
    assert_int_equal(count(db, &f), 3);
    f.action = "form.";    /* no '*': exact, so nothing */
    assert_int_equal(count(db, &f), 0);
    memset(&f, 0, sizeof(f));
    f.target = "f1";
    assert_int_equal(count(db, &f), 2);
    memset(&f, 0, sizeof(f));
    f.project = "p2";
    f.outcome = "denied";
    assert_int_equal(count(db, &f), 1);
    memset(&f, 0, sizeof(f));
    f.since = 2000;
    f.until = 4000;
    assert_int_equal(count(db, &f), 2);

    /* newest first, two at a time, then the rest through the cursor */
    memset(&f, 0, sizeof(f));
    assert_int_equal(store_audit_list(db, &f, NULL, 2, &page, &err), 0);
    item = json_array_get(json_object_get(page, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(item, "action")),
                        "submission.delete");
    assert_string_equal(json_string_value(json_object_get(item, "outcome")), "failed");
    assert_int_equal(json_integer_value(json_object_get(item, "status")), 500);
    assert_string_equal(json_string_value(json_object_get(item, "client")), "127.0.0.1");
    assert_true(json_is_object(json_object_get(item, "detail")));
    cursor = json_string_value(json_object_get(page, "next_cursor"));
    assert_non_null(cursor);
    {
        json_t *next;
        assert_int_equal(store_audit_list(db, &f, cursor, 2, &next, &err), 0);
        assert_int_equal(json_array_size(json_object_get(next, "items")), 2);
        assert_true(json_is_null(json_object_get(next, "next_cursor")));
        item = json_array_get(json_object_get(next, "items"), 1);
        assert_string_equal(json_string_value(json_object_get(item, "action")), "form.create");
        json_decref(next);
    }
    json_decref(page);
    db_close(db);
}

static int collect(void *arg, json_t *row)
{
    json_t *all = arg;
    return json_array_append(all, row) ? FMD_ENOMEM : 0;
}

static int stop_at_two(void *arg, json_t *row)
{
    int *n = arg;
    (void)row;
    return ++*n == 2 ? 7 : 0;
}

static void each_walks_newest_first(void **state)
{
    struct db *db = open_db("audit-each.db");
    struct store_audit_filter f = {0};
    struct fmd_err err = {0};
    json_t *all = json_array();
    int n = 0;

    (void)state;
    append(db, 1000, "k1", "a.one", "t1", NULL, 200, "ok");
    append(db, 2000, "k1", "a.two", "t2", NULL, 200, "ok");
    append(db, 3000, "k1", "a.three", "t3", NULL, 200, "ok");
    assert_int_equal(store_audit_each(db, &f, collect, all, &err), 0);
    assert_int_equal(json_array_size(all), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 0), "action")),
                        "a.three");
    assert_true(json_is_null(json_object_get(json_array_get(all, 0), "project_id")));
    /* the callback's result stops the walk and comes back */
    assert_int_equal(store_audit_each(db, &f, stop_at_two, &n, &err), 7);
    assert_int_equal(n, 2);
    json_decref(all);
    db_close(db);
}

static int64_t rows(struct db *db)
{
    struct db_stmt *st;
    struct fmd_err err = {0};
    int64_t n;

    assert_int_equal(db_prepare(db, "SELECT COUNT(*) FROM audit_log", &st, &err), 0);
    assert_int_equal(db_step(st, &err), 1);
    n = db_col_int(st, 0);
    db_done(st);
    return n;
}

static void rows_cannot_change(void **state)
{
    struct db *db = open_db("audit-immutable.db");
    struct fmd_err err = {0};

    (void)state;
    append(db, 1000, "k1", "form.create", "f1", "p1", 201, "ok");
    assert_int_not_equal(db_exec(db, "UPDATE audit_log SET outcome = 'denied'", &err), 0);
    assert_non_null(strstr(err.msg, "append-only"));
    memset(&err, 0, sizeof(err));
    assert_int_not_equal(db_exec(db, "DELETE FROM audit_log", &err), 0);
    assert_non_null(strstr(err.msg, "append-only"));
    if (db_dialect(db) == DB_POSTGRES) {
        memset(&err, 0, sizeof(err));
        assert_int_not_equal(db_exec(db, "TRUNCATE audit_log", &err), 0);
    }
    assert_int_equal(rows(db), 1);
    /* appending still works, inside a transaction too */
    assert_int_equal(db_begin(db, &err), 0);
    append(db, 2000, "k1", "form.publish", "f1", "p1", 200, "ok");
    assert_int_equal(db_commit(db, &err), 0);
    assert_int_equal(rows(db), 2);
    db_close(db);
}

static void cli_rows_name_the_os_user(void **state)
{
    struct db *db = open_db("audit-cli.db");
    struct store_audit_filter f = {0};
    struct fmd_err err = {0};
    json_t *page, *item;

    (void)state;
    assert_int_equal(store_audit_cli(db, "key.create", "key", "K1", 0, "{\"role\":\"admin\"}",
                                     &err), 0);
    assert_int_equal(store_audit_list(db, &f, NULL, 10, &page, &err), 0);
    item = json_array_get(json_object_get(page, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(item, "actor_kind")), "cli");
    assert_true(json_string_length(json_object_get(item, "actor_name")) > 0);
    assert_string_equal(json_string_value(json_object_get(item, "outcome")), "ok");
    assert_string_equal(json_string_value(json_object_get(item, "target_id")), "K1");
    json_decref(page);
    db_close(db);
}

static void migration_goes_down_and_up(void **state)
{
    struct db *db = open_db("audit-migrate.db");
    struct fmd_err err = {0};
    int v = 0;

    (void)state;
    append(db, 1000, "k1", "form.create", "f1", "p1", 201, "ok");
    /* down drops the table (and its triggers) even with rows in it */
    assert_int_equal(migrate_down(db, 11, &err), 0);
    assert_int_equal(migrate_current(db, &v, &err), 0);
    assert_true(v < 12);
    assert_int_not_equal(db_exec(db, "SELECT 1 FROM audit_log", &err), 0);
    assert_int_equal(migrate_up(db, -1, &err), 0);
    assert_int_equal(rows(db), 0);
    db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(append_and_filter),
        cmocka_unit_test(each_walks_newest_first),
        cmocka_unit_test(rows_cannot_change),
        cmocka_unit_test(cli_rows_name_the_os_user),
        cmocka_unit_test(migration_goes_down_and_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
