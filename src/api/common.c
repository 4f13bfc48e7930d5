/* common.c - authentication, roles, database access and body helpers for handlers. */
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/mem.h"
#include "security/token.h"
#include "store/auth.h"
#include "store/forms.h"
#include "core/banned.h"

static const char *const role_names[] = {"none", "viewer", "reviewer", "editor", "admin"};

const char *role_name(enum role r)
{
    return r <= ROLE_ADMIN ? role_names[r] : "none";
}

enum role role_parse(const char *s)
{
    int i;
    for (i = ROLE_VIEWER; s && i <= ROLE_ADMIN; i++)
        if (!strcmp(s, role_names[i]))
            return (enum role)i;
    return ROLE_NONE;
}

/* ---- per-request state: the read connection and the audit context ---- */

struct req_state {
    struct db *db;
    struct api_audit_ctx audit;
};

static void request_done(struct http_req *req)
{
    struct app *app = req->app;
    struct req_state *s = req->on_done_arg;
    api__audit_finish(req);
    if (s->db)
        db_pool_put(app->pool, s->db);
    s->db = NULL;
}

static struct req_state *state_of(struct http_req *req)
{
    struct req_state *s = req->on_done_arg;

    if (s)
        return s;
    if (!(s = arena_alloc(&req->arena, sizeof(*s))))
        return NULL;
    memset(s, 0, sizeof(*s));
    req->on_done_arg = s;
    req->on_done = request_done;
    return s;
}

struct api_audit_ctx *api__audit(struct http_req *req)
{
    struct req_state *s = state_of(req);
    return s ? &s->audit : NULL;
}

struct db *api_db(struct http_req *req)
{
    struct app *app = req->app;
    struct fmd_err err = {0};
    struct req_state *s = state_of(req);

    if (!s) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return NULL;
    }
    if (s->db)
        return s->db;
    if (db_pool_get(app->pool, &s->db, &err)) {
        s->db = NULL;
        http_problem(req, FMD_EUNAVAIL, NULL, err.msg, NULL);
        return NULL;
    }
    return s->db;
}

/* ---- authentication ---- */

static int auth_key(struct http_req *req, struct db *db, const char *token, struct principal *p)
{
    struct store_key key;
    struct fmd_err err = {0};
    char prefix[TOKEN_PREFIX_LEN + 1], hash[TOKEN_HASH_HEX];
    int64_t now = clock_wall_ms();
    int rc;

    if (!token_key_prefix(token, prefix))
        return FMD_EUNAUTH;
    if ((rc = store_key_by_prefix(db, prefix, &key, &err)))
        return rc == FMD_ENOTFOUND ? FMD_EUNAUTH : rc;
    token_hash(token, hash);
    if (!token_hash_equal(hash, key.secret_hash) || key.revoked ||
        (key.expires_at && key.expires_at <= now))
        return FMD_EUNAUTH;
    api__key_used(req, &key, now);
    p->kind = PRINCIPAL_KEY;
    p->expires_at = key.expires_at;
    fmd_strlcpy(p->id, key.id, sizeof(p->id));
    fmd_strlcpy(p->name, key.name, sizeof(p->name));
    fmd_strlcpy(p->grants[0].project_id, key.project_id, sizeof(p->grants[0].project_id));
    p->grants[0].role = role_parse(key.role);
    p->ngrants = 1;
    return 0;
}

static int auth_session(struct http_req *req, struct db *db, const char *token,
                        struct principal *p)
{
    struct store_grant g[PRINCIPAL_MAX_GRANTS];
    struct fmd_err err = {0};
    int rc, n, i;

    if (!token_is_session(token))
        return FMD_EUNAUTH;
    token_hash(token, p->session_hash);
    rc = store_session_user(db, p->session_hash, clock_wall_ms(), p->id, p->name, p->session_id,
                            &err);
    if (rc)
        return rc == FMD_ENOTFOUND ? FMD_EUNAUTH : rc;
    if ((rc = store_user_grants(db, p->id, g, PRINCIPAL_MAX_GRANTS, &n, &err)))
        return rc;
    p->kind = PRINCIPAL_SESSION;
    for (i = 0; i < n; i++) {
        fmd_strlcpy(p->grants[i].project_id, g[i].project_id, sizeof(p->grants[i].project_id));
        p->grants[i].role = role_parse(g[i].role);
    }
    p->ngrants = n;
    return 0;
}

struct principal *api_auth(struct http_req *req)
{
    const char *h = http_header(req, "Authorization");
    char prefix[TOKEN_PREFIX_LEN + 1];
    struct principal *p;
    struct db *db;
    int rc;

    api__audit_prepare(req);   /* from here on the request is audited, denied or not */
    if (!h || strncasecmp(h, "Bearer ", 7) || !h[7]) {
        http_add_header(req, "WWW-Authenticate", "Bearer");
        http_problem(req, FMD_EUNAUTH, NULL, "send 'Authorization: Bearer <token>'", NULL);
        return NULL;
    }
    h += 7;
    while (*h == ' ')
        h++;
    /* A key whose checksum fails was mistyped or forged: no database look-up needed. */
    if (token_key_check(h, prefix) == TOKEN_KEY_BAD_CHECK) {
        http_add_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        http_problem(req, FMD_EUNAUTH, NULL, "the API key's checksum does not match: it was "
                                             "mistyped or cut short", NULL);
        return NULL;
    }
    if (!(db = api_db(req)))
        return NULL;
    if (!(p = arena_alloc(&req->arena, sizeof(*p)))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return NULL;
    }
    memset(p, 0, sizeof(*p));
    rc = !strncmp(h, "fms_", 4) ? auth_session(req, db, h, p) : auth_key(req, db, h, p);
    /* A failed token spends from its address's bucket: guessing is rate-limited too. */
    if (rc == FMD_EUNAUTH && api_rate_address(req))
        return NULL;
    if (rc == FMD_EUNAUTH) {
        http_add_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        http_problem(req, FMD_EUNAUTH, NULL, "the token is unknown, expired or revoked", NULL);
        return NULL;
    }
    if (rc) {
        http_problem(req, rc, NULL, "cannot check the token", NULL);
        return NULL;
    }
    if (api__audit(req))
        api__audit(req)->who = p;
    return api_rate_principal(req, p->id) ? NULL : p;
}

enum role api_role_on(const struct principal *p, const char *project_id)
{
    enum role best = ROLE_NONE;
    int i;
    for (i = 0; i < p->ngrants; i++)
        if (!p->grants[i].project_id[0] ||
            (project_id && !strcmp(p->grants[i].project_id, project_id)))
            if (p->grants[i].role > best)
                best = p->grants[i].role;
    return best;
}

void api_not_found(struct http_req *req, const char *what)
{
    char detail[64];
    snprintf(detail, sizeof(detail), "no such %s", what);
    http_problem(req, FMD_ENOTFOUND, NULL, detail, NULL);
}

int api_require(struct http_req *req, const struct principal *p, const char *project_id,
                enum role need, const char *what)
{
    enum role have = api_role_on(p, project_id);
    char detail[128];

    if (project_id && *project_id)
        api_audit_project(req, project_id);
    if (have == ROLE_NONE) {
        api_not_found(req, what);
        return -1;
    }
    if (have < need) {
        snprintf(detail, sizeof(detail), "this needs the '%s' role; the caller is '%s'",
                 role_name(need), role_name(have));
        http_problem(req, FMD_EFORBIDDEN, NULL, detail, NULL);
        return -1;
    }
    return 0;
}

int api_load_form(struct http_req *req, struct principal *pr, enum role need,
                  struct store_form *f)
{
    struct fmd_err err = {0};
    struct db *db = api_db(req);
    int rc;

    if (!db)
        return -1;
    if ((rc = store_form_get(db, req->params[0], f, &err))) {
        if (rc == FMD_ENOTFOUND)
            api_not_found(req, "form");
        else
            http_problem_err(req, &err);
        return -1;
    }
    return api_require(req, pr, f->project_id, need, "form");
}

/* ---- writes through the group commit ---- */

struct write_call {
    struct http_req *req;
    db_write_fn fn;
    http_handler cont;
    void *arg;
    int rc;
    struct fmd_err err;
};

static int write_run(struct db *db, void *arg, struct fmd_err *err)
{
    struct write_call *w = arg;
    int rc = w->fn(db, w->arg, err);
    /* The audit row commits with the change or not at all. */
    if (!rc)
        rc = api__audit_in_write(w->req, db, w->cont == api_answer_no_content, err);
    return rc;
}

static void write_done(void *arg, int rc, const struct fmd_err *err)
{
    struct write_call *w = arg;
    w->rc = rc;
    if (err)
        w->err = *err;
    http_resume(w->req);
}

/*
 * Back on a server thread after the commit: wake the task workers (the
 * write may have enqueued tasks; done here, not on the busy writer thread),
 * then the handler's own continuation.
 */
static void write_resumed(struct http_req *req)
{
    struct write_call *w = req->user;
    struct app *app = req->app;
    api__audit_written(req, w->rc);
    if (!w->rc)
        queue_pool_wake(app->workers);
    w->cont(req);
}

void api_write(struct http_req *req, db_write_fn fn, void *arg, http_handler cont)
{
    struct app *app = req->app;
    struct write_call *w = arena_alloc(&req->arena, sizeof(*w));

    if (!w) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return;
    }
    api__audit_prepare(req);   /* on the request's thread: the job runs on the writer's */
    memset(w, 0, sizeof(*w));
    w->req = req;
    w->fn = fn;
    w->cont = cont;
    w->arg = arg;
    req->user = w;
    /* Suspend first: the commit may finish before this function returns. */
    http_suspend(req, write_resumed);
    if (db_writer_submit(app->writer, write_run, write_done, w)) {
        w->rc = fmd_errf(&w->err, FMD_ENOMEM, "out of memory queueing the write");
        http_resume(req);
    }
}

int api_write_result(struct http_req *req, const struct fmd_err **err)
{
    struct write_call *w = req->user;
    if (err)
        *err = &w->err;
    return w->rc;
}

int api_write_failed(struct http_req *req)
{
    const struct fmd_err *err;
    if (!api_write_result(req, &err))
        return 0;
    http_problem_err(req, err);
    return 1;
}

void api_answer_no_content(struct http_req *req)
{
    if (!api_write_failed(req))
        http_send_empty(req, 204);
}

void *api_write_arg(struct http_req *req)
{
    return ((struct write_call *)req->user)->arg;
}

/* ---- request body and query ---- */

json_t *api_body_object(struct http_req *req)
{
    json_t *v;

    api__audit_prepare(req);   /* a management request refused for its body is audited too */
    v = http_body_json(req);
    if (v && !json_is_object(v)) {
        json_decref(v);
        http_problem(req, FMD_EINVAL, NULL, "the request body must be a JSON object", NULL);
        return NULL;
    }
    return v;
}

int api_only_members(struct http_req *req, const json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        const char *const *a;
        for (a = allowed; *a && strcmp(*a, key); a++)
            ;
        if (!*a) {
            char detail[200];
            snprintf(detail, sizeof(detail), "unknown member '%.100s'", key);
            http_problem(req, FMD_EINVAL, NULL, detail, NULL);
            return -1;
        }
    }
    return 0;
}

int api_limit(struct http_req *req, int *limit)
{
    const char *s = http_query(req, "limit");
    char *end;
    long v;
    *limit = 50;
    if (!s)
        return 0;
    v = strtol(s, &end, 10);
    if (end == s || *end || v < 1 || v > 200) {
        http_problem(req, FMD_EINVAL, NULL, "'limit' must be an integer from 1 to 200", NULL);
        return -1;
    }
    *limit = (int)v;
    return 0;
}

int api_cursor(struct http_req *req, const char **cursor)
{
    *cursor = http_query(req, "cursor");
    if (*cursor && !id_valid(*cursor)) {
        http_problem(req, FMD_EINVAL, NULL, "'cursor' is not one this server gave out", NULL);
        return -1;
    }
    return 0;
}

/* A time member: RFC 3339 text into ms, absent or null as 0. 0, or answered. */
int api_time_member(struct http_req *req, const json_t *body, const char *name, int64_t *ms)
{
    const json_t *v = json_object_get(body, name);
    char msg[160];

    *ms = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || clock_parse_rfc3339(json_string_value(v), ms)) {
        snprintf(msg, sizeof(msg), "'%s' must be an RFC 3339 date-time such as "
                 "\"2026-01-31T00:00:00Z\"", name);
        http_problem(req, FMD_EINVAL, NULL, msg, NULL);
        return -1;
    }
    return 0;
}
