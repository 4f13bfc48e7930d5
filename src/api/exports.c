/*
 * exports.c - exports of a form's submissions as files:
 *   POST /v1/forms/{fid}/exports        ask for one: 202, made by a task
 *   GET  /v1/exports/{eid}              its state and progress
 *   GET  /v1/exports/{eid}/download     the file, once ready
 *
 * Asking writes the export row and enqueues its task in one transaction, so
 * an acknowledged export is always made (or marked failed), never forgotten.
 */
#include "api/api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analytics/analytics.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/mem.h"
#include "queue/queue.h"
#include "store/exports.h"
#include "store/forms.h"
#include "tasks/export.h"
#include "tasks/tasks.h"
#include "core/banned.h"

static const char *const formats[] = {"csv", "jsonl", "parquet", "xlsx", NULL};
static const char *const statuses[] = {"new", "approved", "rejected", "needs_changes", NULL};

static int in_list(const char *s, const char *const *list)
{
    for (; s && *list; list++)
        if (!strcmp(s, *list))
            return 1;
    return 0;
}

struct export_op {
    struct store_export e;
    char created_by[ID_LEN + 1];
    char payload[64];
};

static int bool_member(struct http_req *req, const json_t *body, const char *name, int *out)
{
    const json_t *v = json_object_get(body, name);
    char msg[96];

    *out = 0;
    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        snprintf(msg, sizeof(msg), "'%s' must be true or false", name);
        http_problem(req, FMD_EINVAL, NULL, msg, NULL);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/* The options an export is made with, checked: a new object, or answered and NULL. */
static json_t *export_options(struct http_req *req, const json_t *body, enum role role)
{
    const json_t *status = json_object_get(body, "status"), *version;
    int64_t from, to;
    int bom, deleted, spam, sensitive;
    json_t *o;

    if (bool_member(req, body, "bom", &bom) ||
        bool_member(req, body, "include_deleted", &deleted) ||
        bool_member(req, body, "include_spam", &spam) ||
        bool_member(req, body, "include_sensitive", &sensitive) ||
        api_time_member(req, body, "from", &from) || api_time_member(req, body, "to", &to))
        return NULL;
    if (from && to && from > to) {
        http_problem(req, FMD_EINVAL, NULL, "'from' must not be after 'to'", NULL);
        return NULL;
    }
    /* A file leaves formd's control once downloaded: clear sensitive values are admin-only. */
    if (sensitive && role < ROLE_ADMIN) {
        http_problem(req, FMD_EFORBIDDEN, NULL,
                     "'include_sensitive' needs the admin role on the project", NULL);
        return NULL;
    }
    if (status && !json_is_null(status) && !in_list(json_string_value(status), statuses)) {
        http_problem(req, FMD_EINVAL, NULL,
                     "'status' must be one of new, approved, rejected, needs_changes", NULL);
        return NULL;
    }
    version = json_object_get(body, "version");
    if (version && !json_is_null(version) &&
        (!json_is_integer(version) || json_integer_value(version) < 1)) {
        http_problem(req, FMD_EINVAL, NULL, "'version' must be a positive integer", NULL);
        return NULL;
    }
    o = json_pack("{s:b, s:b, s:b, s:I, s:I, s:s?, s:I}", "bom", bom, "include_deleted",
                  deleted, "include_spam", spam,
                  "from", (json_int_t)from, "to", (json_int_t)to,
                  "status", status ? json_string_value(status) : NULL,
                  "version", (json_int_t)(version ? json_integer_value(version) : 0));
    if (o && sensitive && json_object_set_new(o, "include_sensitive", json_true())) {
        json_decref(o);
        o = NULL;
    }
    if (!o)
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
    return o;
}

static int create_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct export_op *op = arg;
    struct queue_new t = {.kind = EXPORT_TASK_KIND, .queue = TASKS_ANALYTICS_QUEUE,
                          .payload = op->payload, .max_attempts = 3,
                          .project_id = op->e.project_id};
    int existing = 0;
    int rc = queue_enqueue(db, &t, op->e.task_id, &existing, err);

    return rc ? rc : store_export_insert(db, &op->e, op->created_by, err);
}

static void created_answer(struct http_req *req)
{
    struct export_op *op = api_write_arg(req);
    struct fmd_err err = {0};
    json_t *out;

    json_decref(op->e.options);
    op->e.options = NULL;
    if (api_write_failed(req))
        return;
    if (store_export_json(api_db(req), op->e.id, &out, &err)) {
        http_problem_err(req, &err);
        return;
    }
    http_add_header(req, "Location", arena_printf(&req->arena, "/v1/exports/%s", op->e.id));
    http_send_json(req, 202, out);
}

void api_export_create(struct http_req *req)
{
    static const char *const members[] = {"format", "bom", "include_deleted", "include_spam",
                                          "from", "to", "status", "version",
                                          "include_sensitive", NULL};
    struct principal *pr = api_auth(req);
    struct store_form f;
    struct export_op *op;
    json_t *body = NULL, *opts = NULL;
    const char *format;

    if (!pr || api_load_form(req, pr, ROLE_VIEWER, &f))
        return;
    if (!(body = api_body_object(req)) || api_only_members(req, body, members))
        goto out;
    format = json_get_str(body, "format");
    if (!in_list(format, formats)) {
        http_problem(req, FMD_EINVAL, NULL, "'format' must be one of csv, jsonl, parquet, xlsx",
                     NULL);
        goto out;
    }
    if (!(opts = export_options(req, body, api_role_on(pr, f.project_id))))
        goto out;
    if (!(op = arena_alloc(&req->arena, sizeof(*op)))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        goto out;
    }
    memset(op, 0, sizeof(*op));
    id_new(op->e.id);
    fmd_strlcpy(op->e.form_id, f.id, sizeof(op->e.form_id));
    fmd_strlcpy(op->e.project_id, f.project_id, sizeof(op->e.project_id));
    fmd_strlcpy(op->e.format, format, sizeof(op->e.format));
    fmd_strlcpy(op->created_by, pr->id, sizeof(op->created_by));
    snprintf(op->payload, sizeof(op->payload), "{\"export_id\":\"%s\"}", op->e.id);
    op->e.options = opts;
    opts = NULL;
    api_audit_target(req, "export", op->e.id);
    api_write(req, create_write, op, created_answer);
out:
    json_decref(opts);
    json_decref(body);
}

/* Loads the export of the first path parameter, checking the caller's role
 * on its project: 0, or answered 404 (as for an unknown id) / 403. */
static int load_export(struct http_req *req, struct principal *pr, struct store_export *e)
{
    struct fmd_err err = {0};
    struct db *db = api_db(req);
    int rc;

    memset(e, 0, sizeof(*e));
    if (!db)
        return -1;
    if ((rc = store_export_get(db, req->params[0], e, &err))) {
        if (rc == FMD_ENOTFOUND)
            api_not_found(req, "export");
        else
            http_problem_err(req, &err);
        return -1;
    }
    if (api_require(req, pr, e->project_id, ROLE_VIEWER, "export")) {
        json_decref(e->options);
        e->options = NULL;
        return -1;
    }
    return 0;
}

void api_export_get(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    struct store_export e;
    struct fmd_err err = {0};
    json_t *out;

    if (!pr || load_export(req, pr, &e))
        return;
    json_decref(e.options);
    if (store_export_json(api_db(req), e.id, &out, &err))
        http_problem_err(req, &err);
    else
        http_send_json(req, 200, out);
}

/* "<slug>-<yyyymmdd-hhmmss>.<ext>": what the browser saves the file as. */
static const char *download_name(struct http_req *req, const struct store_export *e)
{
    struct store_form f;
    struct fmd_err err = {0};
    char when[32];
    const char *slug = "export";

    if (!store_form_get(api_db(req), e->form_id, &f, &err))
        slug = f.slug;
    clock_rfc3339(e->created_at, when);
    /* 2026-11-28T14:03:15.123Z -> 20261128-140315 */
    return arena_printf(&req->arena, "%s-%.4s%.2s%.2s-%.2s%.2s%.2s.%s", slug, when, when + 5,
                        when + 8, when + 11, when + 14, when + 17, e->format);
}

static const char *content_type(const char *format)
{
    if (!strcmp(format, "csv"))
        return "text/csv; charset=utf-8";
    if (!strcmp(format, "jsonl"))
        return "application/jsonl";
    if (!strcmp(format, "parquet"))
        return "application/vnd.apache.parquet";
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
}

void api_export_download(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    struct app *app = req->app;
    struct store_export e;
    char dir[4096], path[4300];
    struct stat stbuf;
    int fd;

    if (!pr || api_forward_analytics(req))   /* not the analytics node: passed on */
        return;
    if (load_export(req, pr, &e))
        return;
    json_decref(e.options);
    if (!strcmp(e.state, "pending")) {
        http_problem(req, FMD_ECONFLICT, "not_ready", "the export is not ready yet", NULL);
        return;
    }
    if (!strcmp(e.state, "failed")) {
        http_problem(req, FMD_ECONFLICT, "export_failed", "the export failed: see its error",
                     NULL);
        return;
    }
    if (strcmp(e.state, "ready") || !e.file[0] || e.expires_at <= clock_wall_ms()) {
        http_problem(req, FMD_EGONE, NULL, "the export has expired", NULL);
        return;
    }
    if (analytics_exports_dir(app->cfg->data_dir, dir, sizeof(dir)) ||
        snprintf(path, sizeof(path), "%s/%s", dir, e.file) >= (int)sizeof(path) ||
        (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        http_problem(req, FMD_EGONE, NULL, "the export's file is gone", NULL);
        return;
    }
    if (fstat(fd, &stbuf) || !S_ISREG(stbuf.st_mode)) {
        close(fd);
        http_problem(req, FMD_EIO, NULL, "cannot read the export's file", NULL);
        return;
    }
    http_add_header(req, "Content-Disposition",
                    arena_printf(&req->arena, "attachment; filename=\"%s\"",
                                 download_name(req, &e)));
    http_send_file(req, 200, content_type(e.format), fd, (uint64_t)stbuf.st_size);
}
