/*
 * test_auth.c - API keys (expiry, last use, listing without secrets,
 * revocation) and sessions by id, in store/auth.c (on PostgreSQL too).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/json.h"
#include "core/mem.h"
#include "db/db.h"
#include "db/migrate.h"
#include "store/auth.h"
#include "unit/db/db_target.h"

static struct db *open_db(const char *file)
{
    struct db *db;
    struct fmd_err err = {0};
    char t[256];
    assert_int_equal(db_open(test_db_target(file, t, sizeof(t)), 0, &db, &err), 0);
    assert_int_equal(migrate_up(db, -1, &err), 0);
    return db;
}

static void keys_expire_touch_list_revoke(void **state)
{
    struct db *db = open_db("auth-keys.db");
    struct fmd_err err = {0};
    struct store_key k;
    char id1[ID_LEN + 1], id2[ID_LEN + 1];
    int64_t now = clock_wall_ms();
    json_t *page, *items;
    char *text;

    (void)state;
    id_new(id1);
    id_new(id2);
    assert_int_equal(store_key_create(db, id1, "aaaaaaaaaa", "h1", "one", "admin", NULL, 0,
                                      &err), 0);
    assert_int_equal(store_key_create(db, id2, "bbbbbbbbbb", "h2", "two", "viewer", NULL,
                                      now + 5000, &err), 0);
    assert_int_equal(store_key_by_prefix(db, "bbbbbbbbbb", &k, &err), 0);
    assert_string_equal(k.id, id2);
    assert_int_equal(k.expires_at, now + 5000);
    assert_int_equal(k.last_used_at, 0);

    /* last use only moves forward */
    assert_int_equal(store_key_touch(db, id2, now, &err), 0);
    assert_int_equal(store_key_touch(db, id2, now - 60000, &err), 0);
    assert_int_equal(store_key_get(db, id2, &k, &err), 0);
    assert_int_equal(k.last_used_at, now);

    /* listing: newest first, paged, no hash */
    assert_int_equal(store_key_list(db, NULL, NULL, 1, &page, &err), 0);
    items = json_object_get(page, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "id")), id2);
    assert_string_equal(json_string_value(json_object_get(page, "next_cursor")), id2);
    text = json_encode(page);
    assert_null(strstr(text, "h2"));
    assert_null(strstr(text, "secret"));
    fmd_free(text);
    json_decref(page);
    assert_int_equal(store_key_list(db, NULL, id2, 10, &page, &err), 0);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 1);
    assert_true(json_is_null(json_object_get(page, "next_cursor")));
    json_decref(page);

    assert_int_equal(store_key_revoke(db, id1, &err), 0);
    assert_int_equal(store_key_revoke(db, id1, &err), FMD_ENOTFOUND);
    assert_int_equal(store_key_get(db, id1, &k, &err), 0);
    assert_true(k.revoked);
    assert_int_equal(store_key_get(db, "nope", &k, &err), FMD_ENOTFOUND);
    db_close(db);
}

static void sessions_by_id(void **state)
{
    struct db *db = open_db("auth-sessions.db");
    struct fmd_err err = {0};
    char uid[ID_LEN + 1], s1[ID_LEN + 1], s2[ID_LEN + 1], got[ID_LEN + 1], sid[ID_LEN + 1];
    char email[128];
    int64_t now = clock_wall_ms();
    json_t *page;

    (void)state;
    id_new(uid);
    id_new(s1);
    id_new(s2);
    assert_int_equal(store_user_create(db, uid, "a@example.org", "x", &err), 0);
    assert_int_equal(store_session_create(db, s1, "hash1", uid, now, now + 60000, &err), 0);
    assert_int_equal(store_session_create(db, s2, "hash2", uid, now, now + 60000, &err), 0);
    assert_int_equal(store_session_user(db, "hash1", now, got, email, sid, &err), 0);
    assert_string_equal(sid, s1);
    assert_int_equal(store_session_list(db, uid, now, NULL, 10, &page, &err), 0);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 2);
    json_decref(page);
    assert_int_equal(store_session_owner(db, s2, now, got, &err), 0);
    assert_string_equal(got, uid);
    /* expired: neither listed nor owned */
    assert_int_equal(store_session_owner(db, s2, now + 60001, got, &err), FMD_ENOTFOUND);
    assert_int_equal(store_session_delete_id(db, s2, &err), 0);
    assert_int_equal(store_session_delete_id(db, s2, &err), FMD_ENOTFOUND);
    assert_int_equal(store_session_user(db, "hash2", now, got, email, sid, &err), FMD_ENOTFOUND);
    assert_int_equal(store_user_exists(db, uid, &err), 1);
    assert_int_equal(store_user_exists(db, s1, &err), 0);
    db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_expire_touch_list_revoke),
        cmocka_unit_test(sessions_by_id),
    };
    json_set_alloc_funcs(fmd_malloc, fmd_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
