/*
 * test_etl_order.c - the ETL's watermark with several writers on
 * PostgreSQL: a change that took a lower seq but commits after one with a
 * higher seq is still copied, once (see analytics/etl.c). Two connections:
 * the first inserts a submission and holds its transaction open, the second
 * inserts one and commits; a sync; the first commits; a sync: both
 * submissions arrive, each once. Without the commit-order numbering the
 * second sync finds nothing past its watermark and the first submission is
 * never copied. Pruning then records how far it went, and an analytics
 * database behind that point (a node taking analytics over) is rebuilt.
 * Runs only with FORMD_TEST_PG_URL (SQLite has one writer at a time).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "analytics/duck.h"
#include "analytics/etl.h"
#include "core/id.h"
#include "db/db.h"
#include "db/migrate.h"
#include "db/writer.h"
#include "store/submissions.h"
#include "../db/db_target.h"

#define FORM "01FFFFFFFFFFFFFFFFFFFFFFFF"

static int64_t pg_int(struct db *db, const char *sql)
{
    struct fmd_err err = {0};
    struct db_stmt *st;
    int64_t v = -1;

    if (db_prepare(db, sql, &st, &err))
        fail_msg("%s: %s", sql, err.msg);
    if (db_step(st, &err) == 1)
        v = db_col_null(st, 0) ? -1 : db_col_int(st, 0);
    db_done(st);
    return v;
}

static int64_t duck_int(struct duck_conn *dc, const char *sql)
{
    struct duck_limits lim = {.max_rows = 10};
    struct fmd_err err = {0};
    json_t *res, *cell;
    int64_t v;

    if (duck_query_json(dc, sql, &lim, &res, &err))
        fail_msg("duckdb: %s: %s", sql, err.msg);
    cell = json_array_get(json_array_get(json_object_get(res, "rows"), 0), 0);
    v = json_is_integer(cell) ? json_integer_value(cell) : -1;
    json_decref(res);
    return v;
}

static void insert(struct db *db, char id[ID_LEN + 1])
{
    struct fmd_err err = {0};
    struct store_submission_new s = {.form_id = FORM, .form_version = 1, .data = "{\"q\":\"x\"}",
                                     .body_hash = "h", .created_at = 1700000000000};
    id_new(s.id);
    memcpy(id, s.id, ID_LEN + 1);
    assert_int_equal(store_submission_insert(db, &s, &err), 0);
}

static int64_t sync_now(struct db *reader, struct duck_conn *dc, struct db_writer *w)
{
    struct etl_options o = {.writer = w};
    struct etl_stats st;
    struct fmd_err err = {0};
    int rc = etl_sync(reader, dc, &o, &st, &err);
    if (rc)
        fail_msg("etl_sync: %d %s", rc, err.msg);
    return st.changes;
}

static void a_change_committed_late_is_copied_once(void **state)
{
    struct fmd_err err = {0};
    struct db *first, *second, *reader;
    struct db_writer *w;
    struct duck *duck;
    struct duck_conn *dc;
    char target[512], late[ID_LEN + 1], early[ID_LEN + 1], sql[200];
    int64_t changes;

    (void)state;
    if (!test_pg_url())
        skip();
    test_db_target("etl-order.db", target, sizeof(target));
    assert_int_equal(db_open(target, 0, &first, &err), 0);
    assert_int_equal(migrate_up(first, -1, &err), 0);
    assert_int_equal(db_open(target, 0, &second, &err), 0);
    assert_int_equal(db_open(target, DB_READONLY, &reader, &err), 0);
    assert_int_equal(db_writer_start(target, 16, &w, &err), 0);
    assert_int_equal(duck_open("etl-order.duckdb", NULL, &duck, &err), 0);
    assert_int_equal(duck_connect(duck, &dc, &err), 0);
    assert_int_equal(db_exec(first,
                             "INSERT INTO projects (id, name, created_at) VALUES ('p1', 'p', 1);"
                             "INSERT INTO forms (id, project_id, name, slug, status, "
                             "draft_version, created_at, updated_at) VALUES ('" FORM "', 'p1', "
                             "'f', 'f', 'open', 1, 1, 1);"
                             "INSERT INTO form_versions (form_id, version, schema, created_at, "
                             "published_at) VALUES ('" FORM "', 1, '{\"type\":\"object\"}', 1, 2);"
                             "UPDATE forms SET published_version = 1 WHERE id = '" FORM "'",
                             &err), 0);

    assert_int_equal(db_begin(first, &err), 0);
    insert(first, late);                      /* takes its sequence value first... */
    assert_int_equal(db_begin(second, &err), 0);
    insert(second, early);
    assert_int_equal(db_commit(second, &err), 0);   /* ...but commits second */
    changes = sync_now(reader, dc, w);
    assert_int_equal(duck_int(dc, "SELECT count(*) FROM submissions"), 1);
    assert_int_equal(db_commit(first, &err), 0);
    changes += sync_now(reader, dc, w);
    assert_int_equal(changes, 2);             /* each change copied once */
    assert_int_equal(duck_int(dc, "SELECT count(*) FROM submissions"), 2);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM submissions WHERE id = '%s'", late);
    assert_int_equal(duck_int(dc, sql), 1);
    assert_int_equal(sync_now(reader, dc, w), 0);   /* nothing left */
    /* pending changes are numbered above every copied one */
    assert_int_equal(pg_int(reader, "SELECT count(*) FROM submission_changes WHERE seq < 0"), 0);

    /* Pruning (the second sync pruned all but the newest change) is recorded;
     * a fresh analytics database (another node's) is then rebuilt, not left
     * with the pruned changes missing. */
    assert_true(pg_int(reader, "SELECT value FROM change_log_state "
                               "WHERE name = 'pruned_through'") > 0);
    duck_disconnect(dc);
    duck_close(duck);
    assert_int_equal(duck_open("etl-order-2.duckdb", NULL, &duck, &err), 0);
    assert_int_equal(duck_connect(duck, &dc, &err), 0);
    sync_now(reader, dc, w);
    assert_int_equal(duck_int(dc, "SELECT count(*) FROM submissions"), 2);

    duck_disconnect(dc);
    duck_close(duck);
    db_writer_stop(w);
    db_close(reader);
    db_close(second);
    db_close(first);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_change_committed_late_is_copied_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
