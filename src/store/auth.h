/*
 * auth.h - users, memberships, API keys and sessions in the database.
 *
 * Only hashes of secrets are stored (see security/token.h and
 * security/password.h). Roles travel as their names ("admin", ...); a NULL
 * or empty project id means every project.
 */
#ifndef FMD_STORE_AUTH_H
#define FMD_STORE_AUTH_H

#include <jansson.h>
#include <stdint.h>

#include "core/id.h"
#include "db/db.h"

struct store_key {
    char id[ID_LEN + 1];
    char prefix[16];
    char name[128];
    char secret_hash[65];
    char role[16];
    char project_id[ID_LEN + 1];   /* "" for every project */
    int revoked;
    int64_t expires_at;            /* Unix ms, 0: never */
    int64_t last_used_at;          /* Unix ms, 0: never used */
};

struct store_grant {
    char project_id[ID_LEN + 1];
    char role[16];
};

/* 0 and *key filled, FMD_ENOTFOUND, or a database error. */
int store_key_by_prefix(struct db *db, const char *prefix, struct store_key *key,
                        struct fmd_err *err);
/* The same by id. */
int store_key_get(struct db *db, const char *id, struct store_key *key, struct fmd_err *err);
/* expires_at: Unix ms, 0 for never. */
int store_key_create(struct db *db, const char *id, const char *prefix, const char *hash,
                     const char *name, const char *role, const char *project_id,
                     int64_t expires_at, struct fmd_err *err);
/*
 * One page of keys, newest first, as {items, next_cursor}: every key when
 * project_id is NULL, else that project's. Items never hold the secret or
 * its hash: id, name, prefix, role, project_id, created_at, expires_at,
 * last_used_at, revoked_at.
 */
int store_key_list(struct db *db, const char *project_id, const char *cursor, int limit,
                   json_t **page, struct fmd_err *err);
/* Records that the key was used at `now` (never moving last_used_at back). */
int store_key_touch(struct db *db, const char *id, int64_t now, struct fmd_err *err);
/* Revokes by id or prefix; FMD_ENOTFOUND when no live key matches. */
int store_key_revoke(struct db *db, const char *id_or_prefix, struct fmd_err *err);
/* Number of keys that are not revoked. */
int store_key_count_live(struct db *db, int64_t *n, struct fmd_err *err);

int store_user_create(struct db *db, const char *id, const char *email, const char *pw_hash,
                      struct fmd_err *err);
/* id and password hash of a live user; FMD_ENOTFOUND when none. */
int store_user_by_email(struct db *db, const char *email, char id[ID_LEN + 1],
                        char pw_hash[128], struct fmd_err *err);
int store_grant_add(struct db *db, const char *user_id, const char *project_id,
                    const char *role, struct fmd_err *err);
/* Up to max grants of the user into g; *n set to how many. */
int store_user_grants(struct db *db, const char *user_id, struct store_grant *g, int max,
                      int *n, struct fmd_err *err);

/* id names the session in listings; only the token's hash is stored. */
int store_session_create(struct db *db, const char *id, const char *token_hash,
                         const char *user_id, int64_t now, int64_t expires,
                         struct fmd_err *err);
/*
 * User id and email behind a live session, and the session's id (may be
 * NULL); FMD_ENOTFOUND when none or expired.
 */
int store_session_user(struct db *db, const char *token_hash, int64_t now,
                       char user_id[ID_LEN + 1], char email[128], char session_id[ID_LEN + 1],
                       struct fmd_err *err);
int store_session_delete(struct db *db, const char *token_hash, struct fmd_err *err);
/*
 * One page of user_id's live sessions, newest first, as {items,
 * next_cursor}; items are {id, created_at, expires_at}, never the token.
 */
int store_session_list(struct db *db, const char *user_id, int64_t now, const char *cursor,
                       int limit, json_t **page, struct fmd_err *err);
/* The user of live session id: 0, FMD_ENOTFOUND, or a database error. */
int store_session_owner(struct db *db, const char *id, int64_t now, char user_id[ID_LEN + 1],
                        struct fmd_err *err);
/* Ends session id: 0, or FMD_ENOTFOUND when no such session. */
int store_session_delete_id(struct db *db, const char *id, struct fmd_err *err);
/* 1 if the user exists, 0 if not, or a database error. */
int store_user_exists(struct db *db, const char *id, struct fmd_err *err);

/* 1 if the project exists. */
int store_project_exists(struct db *db, const char *id, struct fmd_err *err);

#endif
