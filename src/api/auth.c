/* auth.c - POST /v1/auth/login, POST /v1/auth/logout, GET /v1/me. */
#include "api/api.h"

#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "security/password.h"
#include "security/token.h"
#include "store/auth.h"
#include "db/rows.h"
#include "core/banned.h"

struct login {
    char id[ID_LEN + 1];
    char token[TOKEN_SESSION_LEN + 1];
    char hash[TOKEN_HASH_HEX];
    char user_id[ID_LEN + 1];
    int64_t now, expires;
};

static int login_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct login *l = arg;
    return store_session_create(db, l->id, l->hash, l->user_id, l->now, l->expires, err);
}

static void login_answer(struct http_req *req)
{
    struct login *l = api_write_arg(req);
    if (api_write_failed(req))
        return;
    http_send_json(req, 200, json_pack("{s:s, s:o, s:s}", "token", l->token, "expires_at",
                                       rows_time(l->expires), "session_id", l->id));
}

void api_login(struct http_req *req)
{
    static const char *const members[] = {"email", "password", NULL};
    struct app *app = req->app;
    struct fmd_err err = {0};
    char hash[128] = "";
    const char *email, *password;
    struct login *l;
    struct db *db;
    json_t *body = NULL;
    int rc;

    if (!(body = api_body_object(req)) || api_only_members(req, body, members))
        goto out;
    email = json_get_str(body, "email");
    password = json_get_str(body, "password");
    if (!email || !password) {
        http_problem(req, FMD_EINVAL, NULL, "'email' and 'password' must be strings", NULL);
        goto out;
    }
    if (api_login_throttled(req, email) || !(db = api_db(req)))
        goto out;
    if (!(l = arena_alloc(&req->arena, sizeof(*l)))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        goto out;
    }
    rc = store_user_by_email(db, email, l->user_id, hash, &err);
    if (rc && rc != FMD_ENOTFOUND) {
        http_problem_err(req, &err);
        goto out;
    }
    /* Unknown user and wrong password cost the same and answer the same. */
    if (!password_verify(rc ? NULL : hash, password) || rc) {
        /* Audited without the email typed (it may be a password typed in the wrong box);
         * an existing account attacked is named by its id, which only admins read. */
        if (!rc)
            api_audit_target(req, "user", l->user_id);
        api_login_failed(req, email);
        http_problem(req, FMD_EUNAUTH, NULL, "wrong email or password", NULL);
        goto out;
    }
    api_login_succeeded(req, email);
    api_audit_actor(req, "session", l->user_id, email);
    api_audit_target(req, "user", l->user_id);
    id_new(l->id);
    token_new_session(l->token);
    token_hash(l->token, l->hash);
    l->now = clock_wall_ms();
    l->expires = l->now + (int64_t)app->cfg->session_ttl * 1000;
    api_write(req, login_write, l, login_answer);
out:
    json_decref(body);
}

static int logout_write(struct db *db, void *arg, struct fmd_err *err)
{
    return store_session_delete(db, arg, err);
}

void api_logout(struct http_req *req)
{
    struct principal *p = api_auth(req);
    if (!p)
        return;
    if (p->kind != PRINCIPAL_SESSION) {
        http_problem(req, FMD_EINVAL, NULL, "only login sessions can log out; revoke keys "
                                            "with DELETE /v1/keys/{id}", NULL);
        return;
    }
    api_write(req, logout_write, p->session_hash, api_answer_no_content);
}

void api_me(struct http_req *req)
{
    struct principal *p = api_auth(req);
    json_t *grants;
    int i;

    if (!p)
        return;
    grants = json_array();
    for (i = 0; i < p->ngrants; i++)
        json_array_append_new(grants, json_pack("{s:o, s:s}", "project_id",
                                                p->grants[i].project_id[0]
                                                    ? json_string(p->grants[i].project_id)
                                                    : json_null(),
                                                "role", role_name(p->grants[i].role)));
    http_send_json(req, 200, json_pack("{s:s, s:s, s:s, s:o}", "kind",
                                       p->kind == PRINCIPAL_KEY ? "key" : "session", "id", p->id,
                                       "name", p->name, "grants", grants));
}
