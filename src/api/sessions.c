/*
 * sessions.c - /v1/sessions: the caller's login sessions, and ending one.
 *
 * A session is named by its id, never by its token (only the token's hash
 * is stored, and neither is shown). Users see and end their own sessions;
 * global admins those of anyone (?user_id=). Ending a session takes effect
 * on its next request. POST /v1/auth/logout ends the caller's own.
 */
#include "api/api.h"

#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "store/auth.h"
#include "core/banned.h"

/* Marks the item of the caller's own session with "current": true. */
static void mark_current(json_t *page, const struct principal *p)
{
    json_t *items = json_object_get(page, "items"), *item;
    size_t i;

    json_array_foreach(items, i, item) {
        const char *id = json_string_value(json_object_get(item, "id"));
        json_object_set_new(item, "current",
                            json_boolean(p->session_id[0] && id && !strcmp(id, p->session_id)));
    }
}

void api_session_list(struct http_req *req)
{
    struct principal *p = api_auth(req);
    struct fmd_err err = {0};
    const char *user_id, *cursor;
    json_t *page;
    struct db *db;
    int limit, rc;

    if (!p || api_limit(req, &limit) || api_cursor(req, &cursor) || !(db = api_db(req)))
        return;
    user_id = http_query(req, "user_id");
    if (!user_id && p->kind != PRINCIPAL_SESSION) {
        http_problem(req, FMD_EINVAL, NULL, "an API key has no login sessions; an admin "
                                            "lists a user's with ?user_id=", NULL);
        return;
    }
    if (user_id && !(p->kind == PRINCIPAL_SESSION && !strcmp(user_id, p->id))) {
        if (api_role_on(p, "") < ROLE_ADMIN) {
            http_problem(req, FMD_EFORBIDDEN, NULL, "listing another user's sessions needs "
                                                    "the global 'admin' role", NULL);
            return;
        }
        if ((rc = id_valid(user_id) ? store_user_exists(db, user_id, &err) : 0) != 1) {
            if (rc < 0)
                http_problem_err(req, &err);
            else
                api_not_found(req, "user");
            return;
        }
    }
    if (store_session_list(db, user_id ? user_id : p->id, clock_wall_ms(), cursor, limit,
                           &page, &err)) {
        http_problem_err(req, &err);
        return;
    }
    mark_current(page, p);
    http_send_json(req, 200, page);
}

static int session_delete_write(struct db *db, void *arg, struct fmd_err *err)
{
    int rc = store_session_delete_id(db, arg, err);
    /* Ended meanwhile (logged out, expired and swept): the outcome asked for. */
    return rc == FMD_ENOTFOUND ? 0 : rc;
}

void api_session_delete(struct http_req *req)
{
    struct principal *p = api_auth(req);
    struct fmd_err err = {0};
    char owner[ID_LEN + 1];
    struct db *db;
    char *id;
    int rc;

    if (!p || !(db = api_db(req)))
        return;
    rc = id_valid(req->params[0])
             ? store_session_owner(db, req->params[0], clock_wall_ms(), owner, &err)
             : FMD_ENOTFOUND;
    if (rc && rc != FMD_ENOTFOUND) {
        http_problem_err(req, &err);
        return;
    }
    /* Someone else's session is, to anyone but an admin, no session at all. */
    if (rc || (!(p->kind == PRINCIPAL_SESSION && !strcmp(owner, p->id)) &&
               api_role_on(p, "") < ROLE_ADMIN)) {
        api_not_found(req, "session");
        return;
    }
    if (!(id = arena_strdup(&req->arena, req->params[0]))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return;
    }
    api_write(req, session_delete_write, id, api_answer_no_content);
}
