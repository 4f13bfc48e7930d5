/* auth.c - SQL for users, memberships, keys and sessions. */
#include "store/auth.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "db/rows.h"
#include "core/banned.h"

static void copy_col(struct db_stmt *st, int col, char *out, size_t cap)
{
    fmd_strlcpy(out, db_col_text(st, col), cap);
}

#define KEY_COLUMNS "id, prefix, name, secret_hash, role, project_id, revoked_at IS NOT NULL, " \
                    "expires_at, last_used_at FROM api_keys "

/* One key by the column `where` names: 0, FMD_ENOTFOUND, or a database error. */
static int key_by(struct db *db, const char *sql, const char *value, struct store_key *key,
                  struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, sql, &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, value);
    rc = db_step(st, err);
    if (rc == 1) {
        copy_col(st, 0, key->id, sizeof(key->id));
        copy_col(st, 1, key->prefix, sizeof(key->prefix));
        copy_col(st, 2, key->name, sizeof(key->name));
        copy_col(st, 3, key->secret_hash, sizeof(key->secret_hash));
        copy_col(st, 4, key->role, sizeof(key->role));
        copy_col(st, 5, key->project_id, sizeof(key->project_id));
        key->revoked = (int)db_col_int(st, 6);
        key->expires_at = db_col_null(st, 7) ? 0 : db_col_int(st, 7);
        key->last_used_at = db_col_null(st, 8) ? 0 : db_col_int(st, 8);
        rc = 0;
    } else if (rc == 0) {
        rc = fmd_errf(err, FMD_ENOTFOUND, "no such key");
    }
    db_done(st);
    return rc;
}

int store_key_by_prefix(struct db *db, const char *prefix, struct store_key *key,
                        struct fmd_err *err)
{
    return key_by(db, "SELECT " KEY_COLUMNS "WHERE prefix = $1", prefix, key, err);
}

int store_key_get(struct db *db, const char *id, struct store_key *key, struct fmd_err *err)
{
    return key_by(db, "SELECT " KEY_COLUMNS "WHERE id = $1", id, key, err);
}

/* A key's listing item: what an admin may see, never the secret or its hash. */
static json_t *key_row(struct db_stmt *st)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "id", db_col_text(st, 0),
                     "name", db_col_text(st, 1), "prefix", db_col_text(st, 2), "role",
                     db_col_text(st, 3), "project_id", rows_str_or_null(st, 4), "created_at",
                     rows_time(db_col_int(st, 5)), "expires_at", rows_time_or_null(st, 6),
                     "last_used_at", rows_time_or_null(st, 7), "revoked_at",
                     rows_time_or_null(st, 8));
}

#define KEY_LIST_COLUMNS "SELECT id, name, prefix, role, project_id, created_at, expires_at, " \
                         "last_used_at, revoked_at FROM api_keys "

int store_key_list(struct db *db, const char *project_id, const char *cursor, int limit,
                   json_t **page, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        KEY_LIST_COLUMNS
                        "WHERE (CAST($1 AS TEXT) IS NULL OR project_id = $1) "
                        "AND (CAST($2 AS TEXT) IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, project_id);
    db_bind_text(st, 2, cursor);
    db_bind_int(st, 3, limit + 1);
    return rows_page(st, limit, key_row, page, err);
}

int store_key_touch(struct db *db, const char *id, int64_t now, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE api_keys SET last_used_at = $2 "
                        "WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_int(st, 2, now);
    return rows_exec(st, err);
}

int store_key_create(struct db *db, const char *id, const char *prefix, const char *hash,
                     const char *name, const char *role, const char *project_id,
                     int64_t expires_at, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "INSERT INTO api_keys (id, prefix, secret_hash, name, role, project_id, "
                        "created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, prefix);
    db_bind_text(st, 3, hash);
    db_bind_text(st, 4, name);
    db_bind_text(st, 5, role);
    db_bind_text(st, 6, project_id && *project_id ? project_id : NULL);
    db_bind_int(st, 7, clock_wall_ms());
    if (expires_at > 0)
        db_bind_int(st, 8, expires_at);
    else
        db_bind_null(st, 8);
    return rows_exec(st, err);
}

int store_key_revoke(struct db *db, const char *id_or_prefix, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "UPDATE api_keys SET revoked_at = $2 "
                        "WHERE (id = $1 OR prefix = $1) AND revoked_at IS NULL",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id_or_prefix);
    db_bind_int(st, 2, clock_wall_ms());
    if ((rc = rows_exec(st, err)))
        return rc;
    return db_changes(db) ? 0 : fmd_errf(err, FMD_ENOTFOUND, "no live key '%s'", id_or_prefix);
}

int store_key_count_live(struct db *db, int64_t *n, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL", &st, err);
    if (rc)
        return rc;
    rc = db_step(st, err);
    *n = rc == 1 ? db_col_int(st, 0) : 0;
    db_done(st);
    return rc < 0 ? rc : 0;
}

int store_user_create(struct db *db, const char *id, const char *email, const char *pw_hash,
                      struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "INSERT INTO users (id, email, password_hash, created_at) "
                        "VALUES ($1, $2, $3, $4)",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, email);
    db_bind_text(st, 3, pw_hash);
    db_bind_int(st, 4, clock_wall_ms());
    rc = rows_exec(st, err);
    if (rc == FMD_ECONFLICT)
        fmd_errf(err, rc, "a user with email '%s' exists already", email);
    return rc;
}

int store_user_by_email(struct db *db, const char *email, char id[ID_LEN + 1],
                        char pw_hash[128], struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT id, password_hash FROM users "
                        "WHERE email = $1 AND disabled_at IS NULL",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, email);
    rc = db_step(st, err);
    if (rc == 1) {
        copy_col(st, 0, id, ID_LEN + 1);
        copy_col(st, 1, pw_hash, 128);
        rc = 0;
    } else if (rc == 0) {
        rc = fmd_errf(err, FMD_ENOTFOUND, "no such user");
    }
    db_done(st);
    return rc;
}

int store_grant_add(struct db *db, const char *user_id, const char *project_id,
                    const char *role, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "INSERT INTO memberships (user_id, project_id, role) VALUES ($1, $2, $3)",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, user_id);
    db_bind_text(st, 2, project_id && *project_id ? project_id : NULL);
    db_bind_text(st, 3, role);
    return rows_exec(st, err);
}

int store_user_grants(struct db *db, const char *user_id, struct store_grant *g, int max,
                      int *n, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "SELECT project_id, role FROM memberships WHERE user_id = $1", &st,
                        err);
    *n = 0;
    if (rc)
        return rc;
    db_bind_text(st, 1, user_id);
    while ((rc = db_step(st, err)) == 1 && *n < max) {
        copy_col(st, 0, g[*n].project_id, sizeof(g[*n].project_id));
        copy_col(st, 1, g[*n].role, sizeof(g[*n].role));
        (*n)++;
    }
    db_done(st);
    return rc < 0 ? rc : 0;
}

int store_session_create(struct db *db, const char *id, const char *token_hash,
                         const char *user_id, int64_t now, int64_t expires,
                         struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, id) "
                        "VALUES ($1, $2, $3, $4, $5)",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, token_hash);
    db_bind_text(st, 2, user_id);
    db_bind_int(st, 3, now);
    db_bind_int(st, 4, expires);
    db_bind_text(st, 5, id);
    if ((rc = rows_exec(st, err)))
        return rc;
    /* Expired sessions go as new ones come, so the table stays small. */
    if ((rc = db_prepare(db, "DELETE FROM sessions WHERE expires_at < $1", &st, err)))
        return rc;
    db_bind_int(st, 1, now);
    return rows_exec(st, err);
}

int store_session_user(struct db *db, const char *token_hash, int64_t now,
                       char user_id[ID_LEN + 1], char email[128], char session_id[ID_LEN + 1],
                       struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT u.id, u.email, s.id FROM sessions s "
                        "JOIN users u ON u.id = s.user_id "
                        "WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, token_hash);
    db_bind_int(st, 2, now);
    rc = db_step(st, err);
    if (rc == 1) {
        copy_col(st, 0, user_id, ID_LEN + 1);
        copy_col(st, 1, email, 128);
        if (session_id)
            copy_col(st, 2, session_id, ID_LEN + 1);
        rc = 0;
    } else if (rc == 0) {
        rc = fmd_errf(err, FMD_ENOTFOUND, "no such session");
    }
    db_done(st);
    return rc;
}

int store_session_delete(struct db *db, const char *token_hash, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "DELETE FROM sessions WHERE token_hash = $1", &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, token_hash);
    return rows_exec(st, err);
}

static json_t *session_row(struct db_stmt *st)
{
    return json_pack("{s:s, s:o, s:o}", "id", db_col_text(st, 0), "created_at",
                     rows_time(db_col_int(st, 1)), "expires_at", rows_time(db_col_int(st, 2)));
}

int store_session_list(struct db *db, const char *user_id, int64_t now, const char *cursor,
                       int limit, json_t **page, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "SELECT id, created_at, expires_at FROM sessions "
                        "WHERE user_id = $1 AND id IS NOT NULL AND expires_at > $2 "
                        "AND (CAST($3 AS TEXT) IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, user_id);
    db_bind_int(st, 2, now);
    db_bind_text(st, 3, cursor);
    db_bind_int(st, 4, limit + 1);
    return rows_page(st, limit, session_row, page, err);
}

int store_session_owner(struct db *db, const char *id, int64_t now, char user_id[ID_LEN + 1],
                        struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "SELECT user_id FROM sessions WHERE id = $1 AND expires_at > $2",
                        &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    db_bind_int(st, 2, now);
    rc = db_step(st, err);
    if (rc == 1) {
        copy_col(st, 0, user_id, ID_LEN + 1);
        rc = 0;
    } else if (rc == 0) {
        rc = fmd_errf(err, FMD_ENOTFOUND, "no such session");
    }
    db_done(st);
    return rc;
}

int store_session_delete_id(struct db *db, const char *id, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "DELETE FROM sessions WHERE id = $1", &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    if ((rc = rows_exec(st, err)))
        return rc;
    return db_changes(db) ? 0 : fmd_errf(err, FMD_ENOTFOUND, "no such session");
}

int store_user_exists(struct db *db, const char *id, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "SELECT 1 FROM users WHERE id = $1", &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    rc = db_step(st, err);
    db_done(st);
    return rc;
}

int store_project_exists(struct db *db, const char *id, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "SELECT 1 FROM projects WHERE id = $1", &st, err);
    if (rc)
        return rc;
    db_bind_text(st, 1, id);
    rc = db_step(st, err);
    db_done(st);
    return rc;
}
