/*
 * ai.c - the AI resources. Each answers 202 with a task: a completion on
 * the CPU takes seconds, so it runs on the queue, and the finished task's
 * result holds the answer (tasks/ai.h).
 *   POST /v1/forms/{fid}/ai/extract {text, image?}: a submission draft from free text
 *   POST /v1/forms/{fid}/ai/ocr {image, text?}: the same from a scanned page
 *   POST /v1/forms/{fid}/ai/classify {submission_id}: one of the form's categories
 *   POST /v1/ai/generate-form {description, project_id?}: a form draft from words
 *   POST /v1/forms/{fid}/ai/summarize {field?, from?, to?}: its text answers summarised
 */
#include "api/api.h"

#include <string.h>

#include "ai/ocr.h"
#include "core/json.h"
#include "core/mem.h"
#include "queue/queue.h"
#include "store/auth.h"
#include "store/forms.h"
#include "store/submissions.h"
#include "tasks/ai.h"
#include "core/banned.h"

#define TEXT_MAX (64 * 1024)

struct ai_op {
    char project_id[ID_LEN + 1];
    char task_id[ID_LEN + 1];
    char *payload;
    const char *kind;
};

static int enqueue_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct ai_op *op = arg;
    struct queue_new t = {.kind = op->kind, .queue = "default", .payload = op->payload,
                          .max_attempts = 3,
                          .project_id = op->project_id[0] ? op->project_id : NULL};
    int existing = 0;
    return queue_enqueue(db, &t, op->task_id, &existing, err);
}

static void accepted_answer(struct http_req *req)
{
    struct ai_op *op = api_write_arg(req);

    fmd_freez(&op->payload);
    if (api_write_failed(req))
        return;
    http_add_header(req, "Location", arena_printf(&req->arena, "/v1/tasks/%s", op->task_id));
    http_send_json(req, 202, json_pack("{s:s, s:s, s:s}", "task_id", op->task_id, "kind",
                                       op->kind, "state", "available"));
}

/*
 * Enqueues an AI task of kind for project_id (NULL or "": admins only) with
 * payload (taken, may be NULL: answered 503) and answers 202 after the
 * commit. Every AI resource ends here.
 */
static void enqueue(struct http_req *req, const char *kind, const char *project_id,
                    json_t *payload)
{
    struct ai_op *op = payload ? arena_alloc(&req->arena, sizeof(*op)) : NULL;

    if (op) {
        memset(op, 0, sizeof(*op));
        op->kind = kind;
        if (project_id)
            fmd_strlcpy(op->project_id, project_id, sizeof(op->project_id));
        op->payload = json_encode(payload);
    }
    json_decref(payload);
    if (!op || !op->payload) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return;
    }
    api_write(req, enqueue_write, op, accepted_answer);
}

/*
 * 'image' is base64 of an image the OCR can read (its header checked, not
 * decoded): 0, or answered 400 / 413 / 415 so a bad upload fails now, not
 * in a task later.
 */
static int check_image(struct http_req *req, const char *s)
{
    struct fmd_err err = {0};
    unsigned char *bin;
    size_t len;
    int rc;

    if (!s || base64_decode(s, &bin, &len)) {
        http_problem(req, FMD_EINVAL, NULL, "'image' must be an image file in base64", NULL);
        return -1;
    }
    rc = ai_ocr_check(bin, len, &err);
    fmd_free(bin);
    if (rc) {
        http_problem(req, rc, NULL, arena_printf(&req->arena, "'image': %s", err.msg), NULL);
        return -1;
    }
    return 0;
}

/* extract (text and/or image) and ocr (an image, then extract) share this. */
static void extract_or_ocr(struct http_req *req, const char *kind)
{
    static const char *const members[] = {"text", "image", NULL};
    struct principal *pr = api_auth(req);
    struct store_form f;
    json_t *body = NULL;
    const char *text, *image;

    if (!pr || api_load_form(req, pr, ROLE_EDITOR, &f))
        return;
    if (!(body = api_body_object(req)) || api_only_members(req, body, members))
        goto out;
    text = json_get_str(body, "text");
    image = json_get_str(body, "image");
    if (!strcmp(kind, AI_OCR_KIND) && !image) {
        http_problem(req, FMD_EINVAL, NULL, "'image' (the page's file in base64) is required",
                     NULL);
        goto out;
    }
    if ((json_object_get(body, "text") && (!text || !*text || strlen(text) > TEXT_MAX)) ||
        (!text && !image)) {
        http_problem(req, FMD_EINVAL, NULL, "give 'text', a non-empty string of at most 64 KiB, "
                                            "or 'image', a scanned page in base64, or both",
                     NULL);
        goto out;
    }
    if (json_object_get(body, "image") && check_image(req, image))
        goto out;
    if (!f.published_version) {
        http_problem(req, FMD_ECONFLICT, "not_published",
                     "the form has no published version to extract into", NULL);
        goto out;
    }
    enqueue(req, kind, f.project_id,
            json_pack("{s:s, s:s?, s:s?}", "form_id", f.id, "text", text, "image", image));
out:
    json_decref(body);
}

void api_ai_extract(struct http_req *req)
{
    extract_or_ocr(req, AI_EXTRACT_KIND);
}

void api_ai_ocr(struct http_req *req)
{
    extract_or_ocr(req, AI_OCR_KIND);
}

/* 1 if the published version's settings name categories, 0 if not, or answered. */
static int has_categories(struct http_req *req, const struct store_form *f)
{
    struct fmd_err err = {0};
    json_error_t je;
    json_t *settings;
    char *text = NULL;
    int n;

    if (store_form_settings(api_db(req), f->id, f->published_version, &text, &err)) {
        http_problem_err(req, &err);
        return -1;
    }
    settings = json_loads(text, 0, &je);
    fmd_free(text);
    n = json_array_size(json_object_get(json_object_get(json_object_get(settings, "ai"),
                                                        "classify"), "categories")) > 0;
    json_decref(settings);
    return n;
}

void api_ai_classify(struct http_req *req)
{
    static const char *const members[] = {"submission_id", NULL};
    struct principal *pr = api_auth(req);
    struct store_form f;
    struct fmd_err err = {0};
    json_t *body = NULL;
    const char *sid;
    char owner[ID_LEN + 1];
    int version, deleted, rc;

    if (!pr || api_load_form(req, pr, ROLE_EDITOR, &f))
        return;
    if (!(body = api_body_object(req)) || api_only_members(req, body, members))
        goto out;
    if (!(sid = json_get_str(body, "submission_id"))) {
        http_problem(req, FMD_EINVAL, NULL, "'submission_id' must be a string", NULL);
        goto out;
    }
    rc = store_submission_owner(api_db(req), sid, owner, &version, &deleted, &err);
    if (rc == FMD_ENOTFOUND || (!rc && strcmp(owner, f.id))) {
        api_not_found(req, "submission");   /* another form's is as good as none */
        goto out;
    }
    if (rc) {
        http_problem_err(req, &err);
        goto out;
    }
    if (!f.published_version || (rc = has_categories(req, &f)) == 0) {
        http_problem(req, FMD_ECONFLICT, "no_categories",
                     "the form's published settings have no ai.classify.categories", NULL);
        goto out;
    }
    if (rc < 0)
        goto out;
    enqueue(req, AI_CLASSIFY_KIND, f.project_id, json_pack("{s:s}", "submission_id", sid));
out:
    json_decref(body);
}

void api_ai_generate_form(struct http_req *req)
{
    static const char *const members[] = {"description", "project_id", NULL};
    struct principal *pr = api_auth(req);
    struct fmd_err err = {0};
    struct db *db;
    json_t *body = NULL;
    const char *desc, *pid;
    int rc;

    if (!pr || !(body = api_body_object(req)) || api_only_members(req, body, members))
        goto out;
    desc = json_get_str(body, "description");
    pid = json_get_str(body, "project_id");
    if (!desc || !*desc || strlen(desc) > TEXT_MAX) {
        http_problem(req, FMD_EINVAL, NULL, "'description' must be a non-empty string of at "
                                            "most 64 KiB", NULL);
        goto out;
    }
    if (json_object_get(body, "project_id") && !pid) {
        http_problem(req, FMD_EINVAL, NULL, "'project_id' must be a string", NULL);
        goto out;
    }
    /* an editor of the project the form is for, or of every project */
    if (!pid && api_role_on(pr, "") < ROLE_EDITOR) {
        http_problem(req, FMD_EFORBIDDEN, NULL, "give the 'project_id' of a project you edit",
                     NULL);
        goto out;
    }
    if (pid && api_require(req, pr, pid, ROLE_EDITOR, "project"))
        goto out;
    /* a global role passes api_require for any id: the project must also exist */
    if (pid && !(db = api_db(req)))
        goto out;
    if (pid && (rc = store_project_exists(db, pid, &err)) != 1) {
        if (rc < 0)
            http_problem_err(req, &err);
        else
            api_not_found(req, "project");
        goto out;
    }
    enqueue(req, AI_GENERATE_FORM_KIND, pid, json_pack("{s:s}", "description", desc));
out:
    json_decref(body);
}

void api_ai_summarize(struct http_req *req)
{
    static const char *const members[] = {"field", "from", "to", NULL};
    struct principal *pr = api_auth(req);
    struct store_form f;
    json_t *body = NULL;
    const char *field;
    int64_t from, to;

    if (!pr || api_load_form(req, pr, ROLE_EDITOR, &f))
        return;
    if (!(body = api_body_object(req)) || api_only_members(req, body, members) ||
        api_time_member(req, body, "from", &from) || api_time_member(req, body, "to", &to))
        goto out;
    field = json_get_str(body, "field");
    if ((json_object_get(body, "field") && (!field || !*field)) || (from && to && from > to)) {
        http_problem(req, FMD_EINVAL, NULL, field || !json_object_get(body, "field")
                         ? "'from' must not be after 'to'" : "'field' must be a field's name",
                     NULL);
        goto out;
    }
    enqueue(req, AI_SUMMARIZE_KIND, f.project_id,
            json_pack("{s:s, s:s?, s:I, s:I}", "form_id", f.id, "field", field, "from",
                      (json_int_t)from, "to", (json_int_t)to));
out:
    json_decref(body);
}
