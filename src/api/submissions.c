/*
 * submissions.c - reading and reviewing submissions: list with filters,
 * get, review and edit (with history), soft delete, restore, purge.
 */
#include "api/api.h"

#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/mem.h"
#include "schema/validate.h"
#include "store/forms.h"
#include "store/schema_cache.h"
#include "store/sensitive.h"
#include "store/submissions.h"
#include "tasks/webhook.h"
#include "core/banned.h"

static const char *const review_states[] = {"new", "approved", "rejected", "needs_changes",
                                            NULL};

static const char *review_state(const char *s)
{
    int i;
    for (i = 0; s && review_states[i]; i++)
        if (!strcmp(s, review_states[i]))
            return review_states[i];
    return NULL;
}

/*
 * Who sees sensitive values opened: editors and admins of the project
 * (who may also edit the data). Reviewers and viewers see SENSITIVE_MASK
 * and the masked pointers in "masked".
 */
static int may_decrypt(const struct principal *pr, const char *project_id)
{
    return api_role_on(pr, project_id) >= ROLE_EDITOR;
}

/* Opens or masks each submission of a list page's items in place: 0, or answered. */
static int show_page(struct http_req *req, json_t *page, int decrypt)
{
    struct fmd_err err = {0};
    json_t *items = json_object_get(page, "items");
    size_t i;

    for (i = 0; i < json_array_size(items); i++)
        if (sensitive_show_submission(api_db(req), json_array_get(items, i), decrypt, &err)) {
            http_problem_err(req, &err);
            return -1;
        }
    return 0;
}

/* ---- list ---- */

static int time_param(struct http_req *req, const char *name, int64_t *ms, int *given)
{
    const char *s = http_query(req, name);
    *ms = 0;
    *given = s != NULL;
    if (s && clock_parse_rfc3339(s, ms)) {
        http_problem(req, FMD_EINVAL, NULL,
                     arena_printf(&req->arena, "'%s' must be an RFC 3339 date-time", name), NULL);
        return -1;
    }
    return 0;
}

static int filter_params(struct http_req *req, struct store_submission_filter *f)
{
    const char *status = http_query(req, "status"), *del = http_query(req, "include_deleted");
    const char *spam = http_query(req, "spam");

    memset(f, 0, sizeof(*f));
    if (api_limit(req, &f->limit) ||
        time_param(req, "created_after", &f->created_after, &f->has_after) ||
        time_param(req, "created_before", &f->created_before, &f->has_before))
        return -1;
    if (status && !(f->status = review_state(status))) {
        http_problem(req, FMD_EINVAL, NULL,
                     "'status' must be new, approved, rejected or needs_changes", NULL);
        return -1;
    }
    if (del && strcmp(del, "true") && strcmp(del, "false")) {
        http_problem(req, FMD_EINVAL, NULL, "'include_deleted' must be true or false", NULL);
        return -1;
    }
    f->include_deleted = del && !strcmp(del, "true");
    /* Spam is left out unless asked for: ?spam=true adds it, ?spam=only shows nothing else. */
    if (spam && strcmp(spam, "true") && strcmp(spam, "false") && strcmp(spam, "only")) {
        http_problem(req, FMD_EINVAL, NULL, "'spam' must be true, false or only", NULL);
        return -1;
    }
    f->spam = !spam || !strcmp(spam, "false") ? SPAM_EXCLUDE
              : !strcmp(spam, "true")         ? SPAM_INCLUDE
                                              : SPAM_ONLY;
    return api_cursor(req, &f->cursor);
}

void api_submission_list(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    struct store_submission_filter filter;
    struct store_form f;
    struct fmd_err err = {0};
    json_t *page;

    if (!pr || api_load_form(req, pr, ROLE_VIEWER, &f) || filter_params(req, &filter))
        return;
    if (store_submission_list(api_db(req), f.id, &filter, &page, &err)) {
        http_problem_err(req, &err);
        return;
    }
    if (show_page(req, page, may_decrypt(pr, f.project_id))) {
        json_decref(page);
        return;
    }
    http_send_json(req, 200, page);
}

/* ---- one submission ---- */

struct sub_op {
    char id[ID_LEN + 1];
    char form_id[ID_LEN + 1];
    char project_id[ID_LEN + 1];
    int version;
    int deleted;
    const char *status;
    const char *note;
    const char *data;
    int spam;                  /* PATCH: -1 keep, 0 not spam, 1 spam */
    char by[128];
    int decrypt;               /* the caller sees sensitive values opened */
};

/*
 * Finds the submission named by the first path parameter and checks the
 * caller's role on its form's project. 0 with op filled, or answered.
 */
static int load_submission(struct http_req *req, struct principal *pr, enum role need,
                           struct sub_op *op)
{
    struct fmd_err err = {0};
    struct store_form f;
    struct db *db = api_db(req);
    int rc;

    if (!db)
        return -1;
    fmd_strlcpy(op->id, req->params[0], sizeof(op->id));
    rc = store_submission_owner(db, op->id, op->form_id, &op->version, &op->deleted, &err);
    if (!rc)
        rc = store_form_get(db, op->form_id, &f, &err);
    if (rc) {
        if (rc == FMD_ENOTFOUND)
            api_not_found(req, "submission");
        else
            http_problem_err(req, &err);
        return -1;
    }
    fmd_strlcpy(op->by, pr->name, sizeof(op->by));
    fmd_strlcpy(op->project_id, f.project_id, sizeof(op->project_id));
    op->decrypt = may_decrypt(pr, f.project_id);
    return api_require(req, pr, f.project_id, need, "submission");
}

static struct sub_op *new_op(struct http_req *req)
{
    struct sub_op *op = arena_alloc(&req->arena, sizeof(*op));
    if (op)
        memset(op, 0, sizeof(*op));
    else
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
    return op;
}

static void answer_submission(struct http_req *req, const struct sub_op *op)
{
    struct fmd_err err = {0};
    struct db *db = api_db(req);
    json_t *out;

    if (!db)
        return;
    if (store_submission_get(db, op->id, &out, NULL, &err)) {
        http_problem_err(req, &err);
        return;
    }
    if (sensitive_show_submission(db, out, op->decrypt, &err)) {
        json_decref(out);
        http_problem_err(req, &err);
        return;
    }
    http_send_json(req, 200, out);
}

void api_submission_get(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    struct sub_op *op;
    if (pr && (op = new_op(req)) && !load_submission(req, pr, ROLE_VIEWER, op))
        answer_submission(req, op);
}

/*
 * Opens or masks the sensitive values of every revision in place (edits are
 * checked against the submission's own version, so one set of locations
 * holds for all), noting "masked" on the revisions that have any.
 */
static int show_history(struct db *db, const struct sub_op *op, json_t *out,
                        struct fmd_err *err)
{
    json_t *items = json_object_get(out, "items"), *paths = NULL, *masked;
    size_t i;
    int rc = sensitive_paths(db, op->form_id, op->version, &paths, err);

    for (i = 0; !rc && paths && i < json_array_size(items); i++) {
        json_t *rev = json_array_get(items, i);
        if (!(masked = json_array()))
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        if (!rc)
            rc = sensitive_show(paths, json_object_get(rev, "data"), op->form_id, op->id,
                                op->decrypt, masked, err);
        if (!rc && json_array_size(masked) && json_object_set(rev, "masked", masked))
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        json_decref(masked);
    }
    json_decref(paths);
    if (rc)
        json_decref(out);
    return rc;
}

void api_submission_history(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    struct fmd_err err = {0};
    struct sub_op *op;
    json_t *out;

    if (!pr || !(op = new_op(req)) || load_submission(req, pr, ROLE_VIEWER, op))
        return;
    if (store_submission_history(api_db(req), op->id, &out, &err) ||
        show_history(api_db(req), op, out, &err)) {
        http_problem_err(req, &err);
        return;
    }
    http_send_json(req, 200, out);
}

static void changed_answer(struct http_req *req)
{
    struct sub_op *op = api_write_arg(req);
    if (api_write_failed(req))
        return;
    answer_submission(req, op);
}

/*
 * The change's webhook event, in the change's own transaction. Spam sets
 * nothing off: subscribers hear of a submission once a reviewer says it is
 * not spam (as submission.created).
 */
static int event(struct db *db, const struct sub_op *op, const char *name, struct fmd_err *err)
{
    int spam, rc = store_submission_is_spam(db, op->id, &spam, err);
    if (rc || spam)
        return rc;
    return webhook_submission_event(db, op->project_id, op->form_id, name, op->id, err);
}

/* ---- patch: review and edit ---- */

static int patch_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct sub_op *op = arg;
    int rc = 0, was_spam = 0;
    if (op->spam >= 0 && (rc = store_submission_is_spam(db, op->id, &was_spam, err)))
        return rc;
    if (op->data)
        rc = store_submission_edit(db, op->id, op->data, op->by, err);
    if (!rc && (op->status || op->note))
        rc = store_submission_review(db, op->id, op->status ? op->status : NULL, op->by,
                                     op->note, err);
    if (!rc && op->spam >= 0)
        rc = store_submission_set_spam(db, op->id, op->spam, err);
    if (rc)
        return rc;
    return event(db, op, was_spam && op->spam == 0 ? "submission.created" : "submission.updated",
                 err);
}

/* An edit must still match the version the submission was made against. */
static int validate_edit(struct http_req *req, struct sub_op *op, json_t *data)
{
    const struct schema *schema;
    struct schema *owned;
    struct fmd_err err = {0};
    json_t *errors = NULL;
    char *text;
    int rc;

    if (!json_is_object(data)) {
        http_problem(req, FMD_EINVAL, NULL, "'data' must be a JSON object", NULL);
        return -1;
    }
    if (schema_cache_get(api_db(req), op->form_id, op->version, &schema, &owned, NULL, &err)) {
        http_problem_err(req, &err);
        return -1;
    }
    rc = schema_validate(schema, data, &errors);
    /* Validated in clear, then sealed: nothing sensitive reaches the row or its history. */
    if (!rc && sensitive_seal(schema_sensitive(schema), data, op->form_id, op->id, &err))
        rc = err.code;
    schema_free(owned);
    if (rc && err.code) {
        http_problem_err(req, &err);
        return -1;
    }
    if (rc) {
        http_problem(req, rc == FMD_EUNPROC ? FMD_EVALIDATION : rc, NULL,
                     "the edited data does not match the form", errors);
        return -1;
    }
    if (!(text = json_encode(data)) || !(op->data = arena_strdup(&req->arena, text))) {
        fmd_free(text);
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return -1;
    }
    fmd_free(text);
    return 0;
}

void api_submission_patch(struct http_req *req)
{
    static const char *const members[] = {"status", "data", "note", "spam", NULL};
    struct principal *pr = api_auth(req);
    json_t *body = NULL, *data, *status, *note, *spam;
    struct sub_op *op;

    if (!pr || !(op = new_op(req)))
        return;
    if (!(body = api_body_object(req)) || api_only_members(req, body, members))
        goto out;
    data = json_object_get(body, "data");
    status = json_object_get(body, "status");
    note = json_object_get(body, "note");
    spam = json_object_get(body, "spam");
    if (!data && !status && !note && !spam) {
        http_problem(req, FMD_EINVAL, NULL, "give 'status', 'note', 'spam' or 'data'", NULL);
        goto out;
    }
    if (spam && !json_is_boolean(spam)) {
        http_problem(req, FMD_EINVAL, NULL, "'spam' must be true or false", NULL);
        goto out;
    }
    op->spam = spam ? json_is_true(spam) : -1;
    if (load_submission(req, pr, data ? ROLE_EDITOR : ROLE_REVIEWER, op))
        goto out;
    if (status && !(op->status = review_state(json_string_value(status)))) {
        http_problem(req, FMD_EINVAL, NULL,
                     "'status' must be new, approved, rejected or needs_changes", NULL);
        goto out;
    }
    if (note && (!json_is_string(note) || json_string_length(note) > 2000 ||
                 !(op->note = arena_strdup(&req->arena, json_string_value(note))))) {
        http_problem(req, FMD_EINVAL, NULL, "'note' must be a string of at most 2000 bytes",
                     NULL);
        goto out;
    }
    if (data && validate_edit(req, op, data))
        goto out;
    api_write(req, patch_write, op, changed_answer);
out:
    json_decref(body);
}

/* ---- delete, restore, purge ---- */

static int delete_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct sub_op *op = arg;
    int rc = store_submission_set_deleted(db, op->id, 1, err);
    return rc ? rc : event(db, op, "submission.deleted", err);
}

static int restore_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct sub_op *op = arg;
    int rc = store_submission_set_deleted(db, op->id, 0, err);
    return rc ? rc : event(db, op, "submission.restored", err);
}

/* The event goes first: it carries the row that the purge removes. */
static int purge_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct sub_op *op = arg;
    int rc = event(db, op, "submission.purged", err);
    return rc ? rc : store_submission_purge(db, op->id, err);
}

void api_submission_delete(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    struct sub_op *op;
    if (pr && (op = new_op(req)) && !load_submission(req, pr, ROLE_REVIEWER, op))
        api_write(req, delete_write, op, api_answer_no_content);
}

void api_submission_restore(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    struct sub_op *op;
    if (pr && (op = new_op(req)) && !load_submission(req, pr, ROLE_REVIEWER, op))
        api_write(req, restore_write, op, changed_answer);
}

void api_submission_purge(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    struct sub_op *op;
    if (pr && (op = new_op(req)) && !load_submission(req, pr, ROLE_ADMIN, op))
        api_write(req, purge_write, op, api_answer_no_content);
}
