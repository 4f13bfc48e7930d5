/*
 * keys.c - /v1/keys: create (the key is shown once), list (never the secret
 * or its hash), revoke; and the last-use time of keys.
 *
 * Who may do what: keys for every project (no project_id) are the global
 * admins'; a project's admins create, list and revoke that project's keys,
 * with a role no higher than their own there; a key that expires makes only
 * keys that expire no later. Revocation and expiry take
 * effect on the next request: every request reads its key from the
 * database, nothing is cached.
 *
 * last_used_at is written at most once a minute per key and never on the
 * request's path: the authentication that finds it older than a minute
 * hands an UPDATE to the group-commit writer and goes on without waiting.
 */
#include "api/api.h"

#include <pthread.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "db/rows.h"
#include "security/token.h"
#include "store/auth.h"
#include "core/banned.h"

#define TOUCH_EVERY_MS (60 * 1000)
#define TOUCH_SLOTS 256

/* ---- last use ---- */

/*
 * Keys this process asked the writer to touch lately, so that the requests
 * arriving before that write commits do not each ask again. Direct-mapped:
 * a collision only costs one more (idempotent) UPDATE.
 */
static struct {
    char id[ID_LEN + 1];
    int64_t at;
} touched[TOUCH_SLOTS];
static pthread_mutex_t touch_lock = PTHREAD_MUTEX_INITIALIZER;

struct touch {
    char id[ID_LEN + 1];
    int64_t at;
};

static int touch_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct touch *t = arg;
    return store_key_touch(db, t->id, t->at, err);
}

static void touch_done(void *arg, int rc, const struct fmd_err *err)
{
    if (rc)
        log_warn("cannot record the last use of a key: %s", err ? err->msg : "");
    fmd_free(arg);
}

/* 1 if this process touched key id less than a minute before now; else claims it. */
static int touched_lately(const char *id, int64_t now)
{
    unsigned h = 5381;
    const char *c;
    int lately;

    for (c = id; *c; c++)
        h = h * 33 + (unsigned char)*c;
    h %= TOUCH_SLOTS;
    pthread_mutex_lock(&touch_lock);
    lately = !strcmp(touched[h].id, id) && now - touched[h].at < TOUCH_EVERY_MS;
    if (!lately) {
        fmd_strlcpy(touched[h].id, id, sizeof(touched[h].id));
        touched[h].at = now;
    }
    pthread_mutex_unlock(&touch_lock);
    return lately;
}

void api__key_used(struct http_req *req, const struct store_key *key, int64_t now)
{
    struct app *app = req->app;
    struct touch *t;

    if ((key->last_used_at && now - key->last_used_at < TOUCH_EVERY_MS) ||
        touched_lately(key->id, now) || !(t = fmd_malloc(sizeof(*t))))
        return;
    fmd_strlcpy(t->id, key->id, sizeof(t->id));
    t->at = now;
    if (db_writer_submit(app->writer, touch_write, touch_done, t))
        fmd_free(t);
}

/* ---- POST /v1/keys ---- */

struct key_op {
    char id[ID_LEN + 1];
    char key[TOKEN_KEY_LEN + 1];
    char prefix[TOKEN_PREFIX_LEN + 1];
    char hash[TOKEN_HASH_HEX];
    char *name, *role, *project_id;   /* in the request arena; project_id may be NULL */
    int64_t created_at, expires_at;
};

static int key_create_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct key_op *k = arg;
    int rc = store_key_create(db, k->id, k->prefix, k->hash, k->name, k->role, k->project_id,
                              k->expires_at, err);
    k->created_at = clock_wall_ms();
    return rc;
}

static void key_create_answer(struct http_req *req)
{
    struct key_op *k = api_write_arg(req);
    json_t *v;

    if (api_write_failed(req))
        return;
    v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:n, s:n}", "id", k->id, "key",
                  k->key, "name", k->name, "prefix", k->prefix, "role", k->role, "project_id",
                  k->project_id ? json_string(k->project_id) : json_null(), "created_at",
                  rows_time(k->created_at), "expires_at",
                  k->expires_at ? rows_time(k->expires_at) : json_null(), "last_used_at",
                  "revoked_at");
    http_add_header(req, "Location", "/v1/keys");
    http_send_json(req, 201, v);
}

/* Checks the caller may hand out `role` on project_id (NULL: every project): 0 or answered. */
static int may_grant(struct http_req *req, struct db *db, const struct principal *p,
                     const char *project_id, enum role role)
{
    struct fmd_err err = {0};
    char detail[160];
    enum role have;
    int rc;

    if (!project_id) {
        if (api_role_on(p, "") < ROLE_ADMIN) {
            http_problem(req, FMD_EFORBIDDEN, NULL, "a key for every project needs the global "
                                                    "'admin' role; give 'project_id'", NULL);
            return -1;
        }
        return 0;
    }
    if (api_require(req, p, project_id, ROLE_ADMIN, "project"))
        return -1;
    if ((rc = store_project_exists(db, project_id, &err)) != 1) {
        if (rc < 0)
            http_problem_err(req, &err);
        else
            api_not_found(req, "project");
        return -1;
    }
    have = api_role_on(p, project_id);
    if (role > have) {
        snprintf(detail, sizeof(detail), "the caller is '%s' on this project and cannot make "
                 "a '%s' key", role_name(have), role_name(role));
        http_problem(req, FMD_EFORBIDDEN, NULL, detail, NULL);
        return -1;
    }
    return 0;
}

/* Copies a string member into the arena, or answers 400: 0 or -1. */
static int string_member(struct http_req *req, json_t *body, const char *name, int required,
                         char **out)
{
    const json_t *v = json_object_get(body, name);
    char detail[96];

    *out = NULL;
    if ((!v || json_is_null(v)) && !required)
        return 0;
    if (!json_is_string(v)) {
        snprintf(detail, sizeof(detail), "'%s' must be a string", name);
        http_problem(req, FMD_EINVAL, NULL, detail, NULL);
        return -1;
    }
    if (!(*out = arena_strdup(&req->arena, json_string_value(v)))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

void api_key_create(struct http_req *req)
{
    static const char *const members[] = {"name", "role", "project_id", "expires_at", NULL};
    struct principal *p = api_auth(req);
    struct key_op *k;
    struct db *db;
    json_t *body = NULL;

    if (!p || !(db = api_db(req)) || !(body = api_body_object(req)) ||
        api_only_members(req, body, members))
        goto out;
    if (!(k = arena_alloc(&req->arena, sizeof(*k)))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        goto out;
    }
    memset(k, 0, sizeof(*k));
    if (string_member(req, body, "name", 1, &k->name) ||
        string_member(req, body, "role", 1, &k->role) ||
        string_member(req, body, "project_id", 0, &k->project_id) ||
        api_time_member(req, body, "expires_at", &k->expires_at))
        goto out;
    if (!api__valid_name(k->name)) {
        http_problem(req, FMD_EINVAL, NULL,
                     "'name' must be a string of 1 to 200 bytes without control characters",
                     NULL);
        goto out;
    }
    if (role_parse(k->role) == ROLE_NONE) {
        http_problem(req, FMD_EINVAL, NULL,
                     "'role' must be one of admin, editor, reviewer, viewer", NULL);
        goto out;
    }
    if (k->expires_at && k->expires_at <= clock_wall_ms()) {
        http_problem(req, FMD_EINVAL, NULL, "'expires_at' must be in the future", NULL);
        goto out;
    }
    if (k->project_id && !id_valid(k->project_id)) {
        api_not_found(req, "project");
        goto out;
    }
    /* A leaked short-lived key must not mint itself a lasting successor. */
    if (p->expires_at && (!k->expires_at || k->expires_at > p->expires_at)) {
        http_problem(req, FMD_EFORBIDDEN, NULL, "a key that expires cannot make a key that "
                                                "outlives it: give an earlier 'expires_at'", NULL);
        goto out;
    }
    if (may_grant(req, db, p, k->project_id, role_parse(k->role)))
        goto out;
    token_new_key(k->key, k->prefix);
    token_hash(k->key, k->hash);
    id_new(k->id);
    api_audit_target(req, "key", k->id);
    api_write(req, key_create_write, k, key_create_answer);
out:
    json_decref(body);
}

/* ---- GET /v1/keys ---- */

void api_key_list(struct http_req *req)
{
    struct principal *p = api_auth(req);
    struct fmd_err err = {0};
    const char *project_id, *cursor;
    json_t *page;
    struct db *db;
    int limit, rc;

    if (!p || api_limit(req, &limit) || api_cursor(req, &cursor) || !(db = api_db(req)))
        return;
    project_id = http_query(req, "project_id");
    if (project_id) {
        if (!id_valid(project_id)) {
            api_not_found(req, "project");
            return;
        }
        if (api_require(req, p, project_id, ROLE_ADMIN, "project"))
            return;
        /* A global admin passes every project check: the project must still exist. */
        if ((rc = store_project_exists(db, project_id, &err)) != 1) {
            if (rc < 0)
                http_problem_err(req, &err);
            else
                api_not_found(req, "project");
            return;
        }
    } else if (api_role_on(p, "") < ROLE_ADMIN) {
        http_problem(req, FMD_EFORBIDDEN, NULL, "listing every key needs the global 'admin' "
                                                "role; a project's admins add ?project_id=",
                     NULL);
        return;
    }
    if (store_key_list(db, project_id, cursor, limit, &page, &err)) {
        http_problem_err(req, &err);
        return;
    }
    http_send_json(req, 200, page);
}

/* ---- DELETE /v1/keys/{id} ---- */

static int key_revoke_write(struct db *db, void *arg, struct fmd_err *err)
{
    int rc = store_key_revoke(db, arg, err);
    /* Revoked meanwhile by someone else: the outcome asked for. */
    return rc == FMD_ENOTFOUND ? 0 : rc;
}

void api_key_revoke(struct http_req *req)
{
    struct principal *p = api_auth(req);
    struct fmd_err err = {0};
    struct store_key key;
    struct db *db;
    char *id;
    int rc;

    if (!p || !(db = api_db(req)))
        return;
    if (!id_valid(req->params[0])) {
        api_not_found(req, "key");
        return;
    }
    if ((rc = store_key_get(db, req->params[0], &key, &err))) {
        if (rc == FMD_ENOTFOUND)
            api_not_found(req, "key");
        else
            http_problem_err(req, &err);
        return;
    }
    if (api_require(req, p, key.project_id[0] ? key.project_id : "", ROLE_ADMIN, "key"))
        return;
    if (key.revoked) {
        http_send_empty(req, 204);
        return;
    }
    if (!(id = arena_strdup(&req->arena, key.id))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return;
    }
    api_write(req, key_revoke_write, id, api_answer_no_content);
}
