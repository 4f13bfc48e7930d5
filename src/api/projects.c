/* projects.c - /v1/projects. */
#include "api/api.h"

#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "store/forms.h"
#include "core/banned.h"

#define NAME_MAX_LEN 200

struct project_new {
    char id[ID_LEN + 1];
    const char *name;
    int64_t now;
};

static int project_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct project_new *p = arg;
    return store_project_insert(db, p->id, p->name, p->now, err);
}

static void project_created(struct http_req *req)
{
    struct project_new *p = api_write_arg(req);
    json_t *out;
    struct fmd_err e2 = {0};
    struct db *db;

    if (api_write_failed(req))
        return;
    if (!(db = api_db(req)))
        return;
    if (store_project_get(db, p->id, &out, &e2)) {
        http_problem_err(req, &e2);
        return;
    }
    http_add_header(req, "Location", arena_printf(&req->arena, "/v1/projects/%s", p->id));
    http_send_json(req, 201, out);
}

/* A name is 1..200 bytes of valid UTF-8 (Jansson checked) without control characters. */
int api__valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0, i;
    if (!n || n > NAME_MAX_LEN)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

void api_project_create(struct http_req *req)
{
    static const char *const members[] = {"name", NULL};
    struct principal *pr = api_auth(req);
    struct project_new *p;
    json_t *body = NULL;

    if (!pr)
        return;
    if (api_role_on(pr, "") < ROLE_ADMIN) {
        http_problem(req, FMD_EFORBIDDEN, NULL, "creating projects needs a global admin", NULL);
        return;
    }
    if (!(body = api_body_object(req)) || api_only_members(req, body, members))
        goto out;
    if (!api__valid_name(json_get_str(body, "name"))) {
        http_problem(req, FMD_EINVAL, NULL,
                     "'name' must be a string of 1 to 200 bytes without control characters",
                     NULL);
        goto out;
    }
    if (!(p = arena_alloc(&req->arena, sizeof(*p))) ||
        !(p->name = arena_strdup(&req->arena, json_get_str(body, "name")))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        goto out;
    }
    id_new(p->id);
    p->now = clock_wall_ms();
    api_audit_target(req, "project", p->id);
    api_audit_project(req, p->id);
    api_write(req, project_write, p, project_created);
out:
    json_decref(body);
}

/* Callers without a global role see only the projects they hold roles on. */
static void list_granted(struct http_req *req, const struct principal *pr, struct db *db)
{
    json_t *items = json_array(), *one;
    struct fmd_err err = {0};
    int i;

    for (i = 0; i < pr->ngrants; i++)
        if (!store_project_get(db, pr->grants[i].project_id, &one, &err))
            json_array_append_new(items, one);
    http_send_json(req, 200, json_pack("{s:o, s:n}", "items", items, "next_cursor"));
}

void api_project_list(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    struct fmd_err err = {0};
    const char *cursor;
    json_t *page;
    struct db *db;
    int limit;

    if (!pr || api_limit(req, &limit) || api_cursor(req, &cursor) || !(db = api_db(req)))
        return;
    if (api_role_on(pr, "") == ROLE_NONE) {
        list_granted(req, pr, db);
        return;
    }
    if (store_project_list(db, cursor, limit, &page, &err)) {
        http_problem_err(req, &err);
        return;
    }
    http_send_json(req, 200, page);
}

void api_project_get(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    struct fmd_err err = {0};
    const char *pid = req->params[0];
    json_t *out;
    struct db *db;

    if (!pr || api_require(req, pr, pid, ROLE_VIEWER, "project") || !(db = api_db(req)))
        return;
    if (store_project_get(db, pid, &out, &err)) {
        http_problem_err(req, &err);
        return;
    }
    http_send_json(req, 200, out);
}
