/*
 * webhooks.c - /v1/forms/{fid}/webhooks and /v1/webhooks/{wid}: create
 * (the secret is shown once), list, delete, and the delivery log.
 */
#include "api/api.h"

#include <string.h>

#include "core/json.h"
#include "core/mem.h"
#include "security/ssrf.h"
#include "security/webhook_sign.h"
#include "store/forms.h"
#include "store/webhooks.h"
#include "tasks/webhook.h"
#include "core/banned.h"

#define URL_MAX 2000

struct hook_op {
    char id[ID_LEN + 1];
    char form_id[ID_LEN + 1];
    char *url;
    char *events;
    char secret[WEBHOOK_SECRET_MAX];
};

/* The webhook named by the first path parameter, with the caller's role on its form. */
static int load_hook(struct http_req *req, struct principal *pr, enum role need, json_t **out)
{
    struct fmd_err err = {0};
    struct store_form f;
    char form_id[ID_LEN + 1];
    struct db *db = api_db(req);
    int rc;

    *out = NULL;
    if (!db)
        return -1;
    rc = store_webhook_json(db, req->params[0], out, form_id, &err);
    if (!rc)
        rc = store_form_get(db, form_id, &f, &err);
    if (rc) {
        json_decref(*out);
        *out = NULL;
        if (rc == FMD_ENOTFOUND)
            api_not_found(req, "webhook");
        else
            http_problem_err(req, &err);
        return -1;
    }
    if (api_require(req, pr, f.project_id, need, "webhook")) {
        json_decref(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* events: a non-empty array of known, distinct event names; 0 or answered. */
static int check_events(struct http_req *req, const json_t *events)
{
    size_t i, j;
    if (!json_is_array(events) || !json_array_size(events)) {
        http_problem(req, FMD_EINVAL, NULL, "'events' must be a non-empty array of event names",
                     NULL);
        return -1;
    }
    for (i = 0; i < json_array_size(events); i++) {
        const char *e = json_string_value(json_array_get(events, i));
        if (!webhook_event_valid(e)) {
            http_problem(req, FMD_EINVAL, NULL,
                         arena_printf(&req->arena, "unknown event '%.64s'; known: "
                                      "submission.created, submission.updated, "
                                      "submission.deleted, submission.restored, "
                                      "submission.purged", e ? e : "(not a string)"),
                         NULL);
            return -1;
        }
        for (j = 0; j < i; j++)
            if (!strcmp(e, json_string_value(json_array_get(events, j)))) {
                http_problem(req, FMD_EINVAL, NULL,
                             arena_printf(&req->arena, "event '%s' is listed twice", e), NULL);
                return -1;
            }
    }
    return 0;
}

/* url: http(s), well formed; private targets are refused at delivery unless allowed. */
static int check_url(struct http_req *req, const char *url)
{
    struct ssrf_target *t;
    struct fmd_err err = {0};
    int rc;
    if (!url || strlen(url) > URL_MAX) {
        http_problem(req, FMD_EINVAL, NULL, "'url' must be an http or https URL of at most 2000 "
                                            "characters", NULL);
        return -1;
    }
    if (!(t = fmd_calloc(1, sizeof(*t)))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return -1;
    }
    rc = ssrf_parse_url(url, t, &err);
    fmd_free(t);
    if (rc) {
        http_problem(req, FMD_EINVAL, NULL, err.msg, NULL);
        return -1;
    }
    return 0;
}

static int create_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct hook_op *op = arg;
    return store_webhook_insert(db, op->id, op->form_id, op->url, op->events, op->secret, err);
}

static void created_answer(struct http_req *req)
{
    struct hook_op *op = api_write_arg(req);
    struct fmd_err e2 = {0};
    char form_id[ID_LEN + 1];
    json_t *hook;

    if (api_write_failed(req))
        return;
    if (store_webhook_json(api_db(req), op->id, &hook, form_id, &e2)) {
        http_problem_err(req, &e2);
        return;
    }
    /* The only time the secret leaves the server. */
    json_object_set_new(hook, "secret", json_string(op->secret));
    http_add_header(req, "Location", arena_printf(&req->arena, "/v1/webhooks/%s", op->id));
    http_send_json(req, 201, hook);
}

void api_webhook_create(struct http_req *req)
{
    static const char *const members[] = {"url", "events", "secret", NULL};
    struct principal *pr = api_auth(req);
    struct store_form f;
    struct fmd_err err = {0};
    struct hook_op *op;
    json_t *body = NULL;
    const char *secret;
    unsigned char key[WEBHOOK_KEY_MAX];
    size_t keylen;
    char *events;

    if (!pr || api_load_form(req, pr, ROLE_EDITOR, &f))
        return;
    if (!(body = api_body_object(req)) || api_only_members(req, body, members) ||
        check_url(req, json_get_str(body, "url")) ||
        check_events(req, json_object_get(body, "events")))
        goto out;
    secret = json_get_str(body, "secret");
    if (json_object_get(body, "secret") &&
        (!secret || webhook_secret_parse(secret, key, &keylen, &err))) {
        http_problem(req, FMD_EINVAL, NULL,
                     secret ? err.msg : "'secret' must be a string \"whsec_<base64>\"", NULL);
        goto out;
    }
    if (!(op = arena_alloc(&req->arena, sizeof(*op))) ||
        !(op->url = arena_strdup(&req->arena, json_get_str(body, "url"))) ||
        !(events = json_encode(json_object_get(body, "events")))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        goto out;
    }
    op->events = arena_strdup(&req->arena, events);
    fmd_free(events);
    if (secret)
        fmd_strlcpy(op->secret, secret, sizeof(op->secret));
    else
        webhook_secret_new(op->secret, sizeof(op->secret));
    id_new(op->id);
    fmd_strlcpy(op->form_id, f.id, sizeof(op->form_id));
    if (!op->events) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        goto out;
    }
    api_audit_target(req, "webhook", op->id);
    api_write(req, create_write, op, created_answer);
out:
    json_decref(body);
}

void api_webhook_list(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    struct store_form f;
    struct fmd_err err = {0};
    json_t *list;

    if (!pr || api_load_form(req, pr, ROLE_VIEWER, &f))
        return;
    if (store_webhook_list(api_db(req), f.id, &list, &err)) {
        http_problem_err(req, &err);
        return;
    }
    http_send_json(req, 200, list);
}

void api_webhook_get(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    json_t *hook;
    if (pr && !load_hook(req, pr, ROLE_VIEWER, &hook))
        http_send_json(req, 200, hook);
}

static int delete_write(struct db *db, void *arg, struct fmd_err *err)
{
    return store_webhook_delete(db, arg, err);
}

void api_webhook_delete(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    json_t *hook;
    char *id;
    if (!pr || load_hook(req, pr, ROLE_EDITOR, &hook))
        return;
    json_decref(hook);
    if (!(id = arena_strdup(&req->arena, req->params[0]))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return;
    }
    api_write(req, delete_write, id, api_answer_no_content);
}

void api_webhook_deliveries(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    struct fmd_err err = {0};
    const char *cursor;
    json_t *hook, *page;
    int limit;

    if (!pr || load_hook(req, pr, ROLE_VIEWER, &hook))
        return;
    json_decref(hook);
    if (api_limit(req, &limit) || api_cursor(req, &cursor))
        return;
    if (store_delivery_list(api_db(req), req->params[0], cursor, limit, &page, &err)) {
        http_problem_err(req, &err);
        return;
    }
    http_send_json(req, 200, page);
}
