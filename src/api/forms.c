/*
 * forms.c - /v1/projects/{pid}/forms and /v1/forms/{fid}: create, read,
 * list, change, edit the draft, publish.
 */
#include "api/api.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/mem.h"
#include "schema/fields.h"
#include "schema/validate.h"
#include "store/auth.h"
#include "store/form_cache.h"
#include "store/forms.h"
#include "store/sensitive.h"
#include "core/banned.h"

#define SLUG_MAX 63

/* A form definition taken from a request body, as JSON text for storage. */
struct definition {
    struct store_version_doc doc;
    int64_t limit;            /* -1: not given, 0: none, else the limit */
};

/* Writes and reads of one form request. */
struct form_op {
    struct store_form form;
    struct definition def;
    int auto_slug;
    char base_slug[SLUG_MAX + 1];
    int version;
    const char *status;
    const char *name;
};

static char *encode_in_arena(struct http_req *req, const json_t *v)
{
    char *s = json_encode(v), *copy;
    if (!s)
        return NULL;
    copy = arena_strdup(&req->arena, s);
    fmd_free(s);
    return copy;
}

static int valid_slug(const char *s)
{
    size_t i, n = strlen(s);
    if (!n || n > SLUG_MAX || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
        return 0;
    for (i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
            return 0;
    return 1;
}

/* "Customer Intake (2026)" -> "customer-intake-2026"; "form" if nothing is left. */
static void slug_from_name(const char *name, char out[SLUG_MAX + 1])
{
    size_t n = 0;
    int dash = 0;
    for (; *name && n < SLUG_MAX - 7; name++) {
        unsigned char c = (unsigned char)*name;
        if (isalnum(c) && c < 0x80) {
            if (dash && n)
                out[n++] = '-';
            out[n++] = (char)tolower(c);
            dash = 0;
        } else {
            dash = 1;
        }
    }
    out[n] = '\0';
    if (!n)
        fmd_strlcpy(out, "form", SLUG_MAX + 1);
}

/*
 * settings.ai.classify: {"categories": [{"name", "description"?, "keywords"?}],
 * "auto"?: bool}, 1 to 50 categories with distinct names. 0, or answered 400.
 */
static int check_ai_settings(struct http_req *req, const json_t *ai)
{
    const json_t *cl = json_object_get(ai, "classify"), *cats, *c, *kw;
    size_t i, j;

    if (!json_is_object(ai) || (cl && !json_is_object(cl)))
        goto bad;
    if (!cl)
        return 0;
    cats = json_object_get(cl, "categories");
    if (!json_is_array(cats) || json_array_size(cats) < 1 || json_array_size(cats) > 50 ||
        (json_object_get(cl, "auto") && !json_is_boolean(json_object_get(cl, "auto"))))
        goto bad;
    json_array_foreach(cats, i, c) {
        const char *name = json_get_str(c, "name");
        if (!json_is_object(c) || !name || !api__valid_name(name) || strlen(name) > 100 ||
            (json_object_get(c, "description") && !json_is_string(json_object_get(c, "description"))))
            goto bad;
        kw = json_object_get(c, "keywords");
        if (kw && !json_is_array(kw))
            goto bad;
        for (j = 0; kw && j < json_array_size(kw); j++)
            if (!json_is_string(json_array_get(kw, j)))
                goto bad;
        for (j = 0; j < i; j++)
            if (!strcmp(json_get_str(json_array_get(cats, j), "name"), name))
                goto bad;
    }
    return 0;
bad:
    http_problem(req, FMD_EINVAL, NULL,
                 "'settings.ai' must be {\"classify\": {\"categories\": [{\"name\", "
                 "\"description\"?, \"keywords\"?: [...]}, ...], \"auto\"?: true|false}} "
                 "with 1 to 50 categories of distinct names", NULL);
    return -1;
}

/* settings.<name>: absent, null, or an integer in [1, max]. 0, or answered 400. */
static int check_positive(struct http_req *req, const json_t *settings, const char *name,
                          json_int_t max)
{
    const json_t *v = json_object_get(settings, name);
    char detail[160];
    if (!v || json_is_null(v) ||
        (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= max))
        return 0;
    snprintf(detail, sizeof(detail), "'settings.%s' must be an integer from 1 to %lld, or null",
             name, (long long)max);
    http_problem(req, FMD_EINVAL, NULL, detail, NULL);
    return -1;
}

/* settings.honeypot: absent, null, or a field name of 1 to 64 letters, digits, '_' and '-'. */
static int check_honeypot(struct http_req *req, const json_t *settings)
{
    const json_t *v = json_object_get(settings, "honeypot");
    const char *s;
    size_t i, n;

    if (!v || json_is_null(v))
        return 0;
    s = json_string_value(v);
    n = s ? strlen(s) : 0;
    for (i = 0; i < n && (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-'); i++)
        ;
    if (n && n <= 64 && i == n)
        return 0;
    http_problem(req, FMD_EINVAL, NULL, "'settings.honeypot' must be a field name of 1 to 64 "
                 "letters, digits, '_' and '-', or null", NULL);
    return -1;
}

/* settings: an object; submission_limit, if present, a positive integer or null. */
static int parse_settings(struct http_req *req, json_t *settings, struct definition *d)
{
    json_t *lim;
    d->limit = -1;
    if (!settings || json_is_null(settings)) {
        d->doc.settings = "{}";
        return 0;
    }
    if (!json_is_object(settings)) {
        http_problem(req, FMD_EINVAL, NULL, "'settings' must be an object", NULL);
        return -1;
    }
    if (json_object_get(settings, "ai") && check_ai_settings(req, json_object_get(settings, "ai")))
        return -1;
    if (check_positive(req, settings, "quota_per_minute", 1000000000) ||
        check_positive(req, settings, "quota_per_day", 1000000000) ||
        check_positive(req, settings, "min_fill_seconds", 86400) || check_honeypot(req, settings))
        return -1;
    lim = json_object_get(settings, "submission_limit");
    if (lim && json_is_null(lim)) {
        d->limit = 0;
    } else if (lim) {
        if (!json_is_integer(lim) || json_integer_value(lim) < 1) {
            http_problem(req, FMD_EINVAL, NULL,
                         "'settings.submission_limit' must be a positive integer or null", NULL);
            return -1;
        }
        d->limit = json_integer_value(lim);
    }
    if (!(d->doc.settings = encode_in_arena(req, settings))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

/*
 * A schema with sensitive fields needs an encryption key to take
 * submissions: refused (409) without one rather than published and then
 * unusable. 0, or answered.
 */
static int need_key_for(struct http_req *req, const struct schema *compiled)
{
    const json_t *paths = schema_sensitive(compiled);
    if (!paths || sensitive_keyring())
        return 0;
    http_problem(req, FMD_ECONFLICT, "encryption_key_required",
                 arena_printf(&req->arena,
                              "this form marks %zu field(s) sensitive (first '%s') and formd "
                              "has no encryption key: set FORMD_ENCRYPTION_KEY_FILE to a key "
                              "file (KEYID:BASE64 of 32 bytes a line) and restart formd",
                              json_array_size(paths),
                              json_string_value(json_array_get(paths, 0))),
                 NULL);
    return -1;
}

/*
 * Reads schema or fields, ui and settings from body into d. The schema is
 * compiled once here so a schema that cannot be used is refused now (422)
 * rather than failing at the first submission. 0, or answered.
 */
static int parse_definition(struct http_req *req, json_t *body, struct definition *d)
{
    json_t *schema = json_object_get(body, "schema"), *fields = json_object_get(body, "fields");
    json_t *ui = json_object_get(body, "ui"), *compiled_doc = NULL;
    struct schema *compiled = NULL;
    struct fmd_err err = {0};
    int rc = -1;

    memset(d, 0, sizeof(*d));
    if (!!schema == !!fields) {
        http_problem(req, FMD_EINVAL, NULL, "give exactly one of 'schema' and 'fields'", NULL);
        return -1;
    }
    if (ui && !json_is_object(ui) && !json_is_null(ui)) {
        http_problem(req, FMD_EINVAL, NULL, "'ui' must be an object", NULL);
        return -1;
    }
    if (parse_settings(req, json_object_get(body, "settings"), d))
        return -1;
    if (fields) {
        if (fields_compile(fields, &compiled_doc, &err)) {
            http_problem(req, err.code == FMD_ENOMEM ? FMD_ENOMEM : FMD_EUNPROC,
                         "invalid_fields", err.msg, NULL);
            return -1;
        }
        schema = compiled_doc;
    } else if (!json_is_object(schema) && !json_is_boolean(schema)) {
        http_problem(req, FMD_EUNPROC, "invalid_schema", "'schema' must be a JSON Schema object",
                     NULL);
        return -1;
    }
    if (schema_compile(schema, &compiled, &err)) {
        http_problem(req, err.code == FMD_ENOMEM ? FMD_ENOMEM : FMD_EUNPROC, "invalid_schema",
                     err.msg, NULL);
        goto out;
    }
    /* The honeypot is taken out of data before validation: a real field of that name
     * would never be stored. */
    if (json_is_string(json_object_get(json_object_get(body, "settings"), "honeypot")) &&
        json_object_get(json_object_get(schema, "properties"),
                        json_string_value(json_object_get(json_object_get(body, "settings"),
                                                          "honeypot")))) {
        http_problem(req, FMD_EINVAL, NULL,
                     "'settings.honeypot' must not be a field of the form's schema", NULL);
        goto out;
    }
    if (need_key_for(req, compiled))
        goto out;
    if (!(d->doc.schema = encode_in_arena(req, schema)) ||
        (fields && !(d->doc.fields = encode_in_arena(req, fields))) ||
        (ui && !json_is_null(ui) && !(d->doc.ui = encode_in_arena(req, ui)))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        goto out;
    }
    rc = 0;
out:
    schema_free(compiled);
    json_decref(compiled_doc);
    return rc;
}

/* Answers with the form as it is now. */
static void answer_form(struct http_req *req, int status, const char *form_id)
{
    struct store_form f;
    struct fmd_err err = {0};
    struct db *db = api_db(req);
    json_t *out;

    if (!db)
        return;
    if (store_form_get(db, form_id, &f, &err) || store_form_json(db, &f, &out, &err)) {
        http_problem_err(req, &err);
        return;
    }
    if (status == 201)
        http_add_header(req, "Location", arena_printf(&req->arena, "/v1/forms/%s", form_id));
    http_send_json(req, status, out);
}

/* ---- create ---- */

static int create_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct form_op *op = arg;
    int rc, tries;

    if ((rc = store_project_exists(db, op->form.project_id, err)) != 1)
        return rc < 0 ? rc : fmd_errf(err, FMD_ENOTFOUND, "no such project");
    /*
     * A slug made from the name gets a random suffix when the plain one is
     * taken. Each try has its own savepoint: on PostgreSQL a failed statement
     * aborts the transaction until it is rolled back to one.
     */
    for (tries = 0; tries < 5; tries++) {
        if ((rc = db_run(db, "SAVEPOINT form_slug", err)))
            break;
        rc = store_form_insert(db, &op->form, &op->def.doc, err);
        if (rc)
            db_run(db, "ROLLBACK TO form_slug", NULL);
        db_run(db, "RELEASE form_slug", NULL);
        if (rc != FMD_ECONFLICT || !op->auto_slug)
            break;
        snprintf(op->form.slug, sizeof(op->form.slug), "%.56s-%06x", op->base_slug,
                 (unsigned)randombytes_uniform(0xffffff));
    }
    return rc;
}

static void create_answer(struct http_req *req)
{
    struct form_op *op = api_write_arg(req);
    if (!api_write_failed(req))
        answer_form(req, 201, op->form.id);
}

void api_form_create(struct http_req *req)
{
    static const char *const members[] = {"name", "schema", "fields", "ui", "settings", "slug",
                                          NULL};
    struct principal *pr = api_auth(req);
    const char *pid = req->params[0], *name, *slug;
    struct form_op *op;
    json_t *body = NULL;

    if (!pr || api_require(req, pr, pid, ROLE_EDITOR, "project"))
        return;
    if (!(body = api_body_object(req)) || api_only_members(req, body, members))
        goto out;
    name = json_get_str(body, "name");
    slug = json_get_str(body, "slug");
    if (!api__valid_name(name)) {
        http_problem(req, FMD_EINVAL, NULL,
                     "'name' must be a string of 1 to 200 bytes without control characters",
                     NULL);
        goto out;
    }
    if (json_object_get(body, "slug") && (!slug || !valid_slug(slug))) {
        http_problem(req, FMD_EINVAL, NULL,
                     "'slug' must match ^[a-z0-9][a-z0-9-]{0,62}$", NULL);
        goto out;
    }
    if (!(op = arena_alloc(&req->arena, sizeof(*op)))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        goto out;
    }
    memset(op, 0, sizeof(*op));
    if (parse_definition(req, body, &op->def))
        goto out;
    id_new(op->form.id);
    fmd_strlcpy(op->form.project_id, pid, sizeof(op->form.project_id));
    fmd_strlcpy(op->form.name, name, sizeof(op->form.name));
    op->auto_slug = !slug;
    if (slug)
        fmd_strlcpy(op->form.slug, slug, sizeof(op->form.slug));
    else
        slug_from_name(name, op->form.slug);
    fmd_strlcpy(op->base_slug, op->form.slug, sizeof(op->base_slug));
    op->form.submission_limit = op->def.limit > 0 ? op->def.limit : 0;
    op->form.created_at = clock_wall_ms();
    api_audit_target(req, "form", op->form.id);
    api_write(req, create_write, op, create_answer);
out:
    json_decref(body);
}

/* ---- read ---- */

void api_form_get(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    struct store_form f;
    struct fmd_err err = {0};
    json_t *out;

    if (!pr || api_load_form(req, pr, ROLE_VIEWER, &f))
        return;
    if (store_form_json(api_db(req), &f, &out, &err)) {
        http_problem_err(req, &err);
        return;
    }
    http_send_json(req, 200, out);
}

void api_form_list(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    struct fmd_err err = {0};
    const char *pid = req->params[0];
    const char *cursor;
    struct db *db;
    json_t *page;
    int limit, rc;

    if (!pr || api_require(req, pr, pid, ROLE_VIEWER, "project") || api_limit(req, &limit) ||
        api_cursor(req, &cursor) || !(db = api_db(req)))
        return;
    if ((rc = store_project_exists(db, pid, &err)) != 1) {
        if (rc == 0)
            api_not_found(req, "project");
        else
            http_problem_err(req, &err);
        return;
    }
    if (store_form_list(db, pid, cursor, limit, &page, &err)) {
        http_problem_err(req, &err);
        return;
    }
    http_send_json(req, 200, page);
}

/* ---- change, draft, publish ---- */

static void changed_answer(struct http_req *req)
{
    struct form_op *op = api_write_arg(req);
    if (api_write_failed(req))
        return;
    form_cache_forget(op->form.slug);
    answer_form(req, 200, op->form.id);
}

static int patch_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct form_op *op = arg;
    return store_form_update(db, op->form.id, op->name, op->status, op->def.limit, err);
}

void api_form_patch(struct http_req *req)
{
    static const char *const members[] = {"name", "status", "settings", NULL};
    struct principal *pr = api_auth(req);
    struct form_op *op;
    json_t *body = NULL, *status;

    if (!pr || !(op = arena_alloc(&req->arena, sizeof(*op))))
        return;
    memset(op, 0, sizeof(*op));
    if (api_load_form(req, pr, ROLE_EDITOR, &op->form))
        return;
    if (!(body = api_body_object(req)) || api_only_members(req, body, members))
        goto out;
    if (json_object_get(body, "name")) {
        op->name = arena_strdup(&req->arena, json_get_str(body, "name") ?
                                                 json_get_str(body, "name") : "");
        if (!api__valid_name(op->name)) {
            http_problem(req, FMD_EINVAL, NULL, "'name' must be a string of 1 to 200 bytes",
                         NULL);
            goto out;
        }
    }
    if ((status = json_object_get(body, "status"))) {
        const char *s = json_string_value(status);
        if (!s || (strcmp(s, "open") && strcmp(s, "closed"))) {
            http_problem(req, FMD_EINVAL, NULL, "'status' must be \"open\" or \"closed\"", NULL);
            goto out;
        }
        if (!op->form.published_version && !strcmp(s, "open")) {
            http_problem(req, FMD_ECONFLICT, NULL, "publish the form before opening it", NULL);
            goto out;
        }
        op->status = s[0] == 'o' ? "open" : "closed";
    }
    if (parse_settings(req, json_object_get(body, "settings"), &op->def))
        goto out;
    api_write(req, patch_write, op, changed_answer);
out:
    json_decref(body);
}

static int draft_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct form_op *op = arg;
    int rc = store_form_save_draft(db, op->form.id, &op->def.doc, &op->version, err);
    if (!rc && op->def.limit >= 0)
        rc = store_form_update(db, op->form.id, NULL, NULL, op->def.limit, err);
    return rc;
}

void api_form_put_draft(struct http_req *req)
{
    static const char *const members[] = {"schema", "fields", "ui", "settings", NULL};
    struct principal *pr = api_auth(req);
    struct form_op *op;
    json_t *body = NULL;

    if (!pr || !(op = arena_alloc(&req->arena, sizeof(*op))))
        return;
    memset(op, 0, sizeof(*op));
    if (api_load_form(req, pr, ROLE_EDITOR, &op->form))
        return;
    if (!(body = api_body_object(req)) || api_only_members(req, body, members) ||
        parse_definition(req, body, &op->def))
        goto out;
    api_write(req, draft_write, op, changed_answer);
out:
    json_decref(body);
}

static int publish_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct form_op *op = arg;
    return store_form_publish(db, op->form.id, &op->version, err);
}

static void publish_answer(struct http_req *req)
{
    struct form_op *op = api_write_arg(req);
    if (api_write_failed(req))
        return;
    form_cache_forget(op->form.slug);
    http_send_json(req, 200, json_pack("{s:i}", "version", op->version));
}

/* The draft was saved while a key was configured: checked again without one. */
static int draft_needs_key(struct http_req *req, const struct store_form *f)
{
    struct fmd_err err = {0};
    struct schema *compiled = NULL;
    char *text = NULL;
    json_t *doc = NULL;
    int rc;

    if (!f->draft_version)
        return 0;
    if ((rc = store_form_schema(api_db(req), f->id, f->draft_version, &text, &err)) ||
        !(doc = json_loads(text, JSON_DECODE_ANY, NULL)) ||
        schema_compile(doc, &compiled, &err)) {
        fmd_free(text);
        json_decref(doc);
        if (rc == FMD_ENOTFOUND)
            return 0;   /* nothing to publish: store_form_publish says so */
        http_problem(req, FMD_EINTERNAL, NULL, "cannot read the form's draft", NULL);
        return -1;
    }
    fmd_free(text);
    json_decref(doc);
    rc = need_key_for(req, compiled);
    schema_free(compiled);
    return rc;
}

void api_form_publish(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    struct form_op *op;

    if (!pr || !(op = arena_alloc(&req->arena, sizeof(*op))))
        return;
    memset(op, 0, sizeof(*op));
    if (api_load_form(req, pr, ROLE_EDITOR, &op->form))
        return;
    if (req->body.len) {
        http_problem(req, FMD_EINVAL, NULL, "publish takes no request body", NULL);
        return;
    }
    if (!sensitive_keyring() && draft_needs_key(req, &op->form))
        return;
    api_write(req, publish_write, op, publish_answer);
}
