/*
 * public.c - the unauthenticated side: a published form's definition and
 * the submission endpoint, formd's hottest write path.
 *
 * A submission is validated on the request thread against the compiled
 * schema of the published version, then handed to the group commit; the
 * 201 goes out only after the transaction that holds it is on disk. The
 * form's open state and limit are decided inside that transaction, so a
 * limit of N admits exactly N submissions however many race for it.
 */
#include "api/api.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/mem.h"
#include "schema/validate.h"
#include "store/form_cache.h"
#include "store/forms.h"
#include "db/rows.h"
#include "store/schema_cache.h"
#include "store/sensitive.h"
#include "store/submissions.h"
#include "tasks/ai.h"
#include "tasks/webhook.h"
#include "core/banned.h"

#define IDEMPOTENCY_KEY_MAX 255

/*
 * Adds "fill_token" to the definition in req->out: the cached text is the
 * same for every reader, the token is new for each, so it goes in last,
 * just before the object's closing brace.
 */
static int add_fill_token(struct http_req *req, const char *slug)
{
    char token[API_FILL_TOKEN_MAX], tail[API_FILL_TOKEN_MAX + 24];
    size_t n = req->out.len;

    while (n && req->out.p[n - 1] != '}')
        n--;
    if (!n)
        return FMD_EINTERNAL;
    api_fill_token(slug, token);
    snprintf(tail, sizeof(tail), ",\"fill_token\":\"%s\"}", token);
    req->out.len = n - 1;
    req->out.p[req->out.len] = '\0';
    return buf_adds(&req->out, tail);
}

void api_public_form_get(struct http_req *req)
{
    struct fmd_err err = {0};
    const char *slug = req->params[0];
    uint64_t gen = form_cache_generation();
    struct db *db;
    int rc;

    buf_reset(&req->out);
    if (!form_cache_get(slug, &req->out)) {
        if (!(db = api_db(req)))
            return;
        if ((rc = store_form_public(db, slug, &req->out, &err))) {
            if (rc == FMD_ENOTFOUND)
                http_problem(req, FMD_ENOTFOUND, NULL, "no published form with that slug", NULL);
            else
                http_problem_err(req, &err);
            return;
        }
        form_cache_put(slug, req->out.p, req->out.len, gen);
    }
    if ((rc = add_fill_token(req, slug))) {
        http_problem(req, rc, NULL, rc == FMD_ENOMEM ? NULL : "the cached form is not a JSON object",
                     NULL);
        return;
    }
    req->status = 200;
    req->content_type = "application/json";
}

struct submit {
    struct store_submission_new row;
    char project_id[ID_LEN + 1];
    char form_slug[64];
    char existing_hash[65];
    char hash[65];
    const struct buf *body;    /* the request's, for comparing with a keyed hash */
    int replayed;
    struct schema_settings settings;   /* the published version's */
    int64_t day_wait_ms;       /* over quota_per_day: when there will be room */
};

static void plain_hash(const struct buf *body, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)body->p, body->len);
    sodium_bin2hex(out, 65, h, sizeof(h));
}

/*
 * The body's digest kept for idempotency. With an encryption key it is
 * keyed (HMAC under a subkey of the current key): a plain SHA-256 of a body
 * holding a sensitive value would let anyone who reads the database guess
 * that value offline.
 */
static void body_hash(const struct buf *body, char out[65])
{
    const struct crypto_keyring *kr = sensitive_keyring();
    if (!kr || crypto_keyed_hash(kr, 0, body->p, body->len, out))
        plain_hash(body, out);
}

/* 1 if the stored digest is this body's, under any key or none (keys rotate). */
static int same_body(const struct submit *s)
{
    const struct crypto_keyring *kr = sensitive_keyring();
    char h[65];
    size_t i;

    if (!strcmp(s->existing_hash, s->hash))
        return 1;
    plain_hash(s->body, h);
    for (i = 0; strcmp(s->existing_hash, h); i++)
        if (!kr || crypto_keyed_hash(kr, i, s->body->p, s->body->len, h))
            return 0;
    return 1;
}

/* 1 if key is 1..255 visible ASCII characters. */
static int valid_idempotency_key(const char *key)
{
    size_t i, n = strlen(key);
    if (!n || n > IDEMPOTENCY_KEY_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e)
            return 0;
    return 1;
}

/*
 * Looks for an earlier submission under the same key: 1 when found (s
 * becomes a replay or the result is FMD_EIDEMPOTENCY), 0 when none.
 */
static int find_earlier(struct db *db, struct submit *s, struct fmd_err *err)
{
    int64_t created;
    int version;
    int rc = store_submission_by_key(db, s->row.form_id, s->row.idempotency_key, s->row.id,
                                     s->existing_hash, &version, &created, err);
    if (rc == FMD_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (!same_body(s))
        return fmd_errf(err, FMD_EIDEMPOTENCY,
                        "this Idempotency-Key was used with a different request body");
    s->replayed = 1;
    s->row.form_version = version;
    s->row.created_at = created;
    return 1;
}

/* settings.quota_per_day: the form's submissions of the last 24 hours, counted in the database. */
static int check_day_quota(struct db *db, struct submit *s, struct fmd_err *err)
{
    const int64_t day = 24 * 3600 * 1000LL;
    int64_t count, oldest;
    int rc;

    if (!s->settings.quota_per_day)
        return 0;
    if ((rc = store_submission_count_since(db, s->row.form_id, s->row.created_at - day, &count,
                                           &oldest, err)))
        return rc;
    if (count < s->settings.quota_per_day)
        return 0;
    s->day_wait_ms = oldest + day - s->row.created_at;
    return fmd_errf(err, FMD_ERATE, "this form has reached its quota of submissions per day");
}

static int submit_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct submit *s = arg;
    int rc;

    if (s->row.idempotency_key && (rc = find_earlier(db, s, err)))
        return rc < 0 ? rc : 0;
    /* take_slot writes the form's row first, which serialises this form's
     * submissions on every engine and node: the day's count is exact. */
    if ((rc = store_form_take_slot(db, s->row.form_id, err)) ||
        (rc = check_day_quota(db, s, err)) ||
        (rc = store_submission_insert(db, &s->row, err)))
        return rc;
    /* Spam is stored, so a reviewer can look at it, but sets nothing off. */
    if (s->row.spam)
        return 0;
    if ((rc = webhook_submission_event(db, s->project_id, s->row.form_id, "submission.created",
                                       s->row.id, err)))
        return rc;
    if (!(s->settings.flags & SCHEMA_FLAG_AUTO_CLASSIFY))
        return 0;
    return tasks_ai_classify_new(db, s->project_id, s->row.id, err);
}

/* The 201 for a stored submission, the same whether it is new or replayed. */
static void answer_created(struct http_req *req, const struct submit *s)
{
    if (s->replayed)
        http_add_header(req, "Idempotent-Replayed", "true");
    http_add_header(req, "Location", arena_printf(&req->arena, "/v1/submissions/%s", s->row.id));
    http_send_json(req, 201, json_pack("{s:s, s:s, s:i, s:o}", "id", s->row.id, "form_id",
                                       s->row.form_id, "form_version", s->row.form_version,
                                       "created_at", rows_time(s->row.created_at)));
}

static void submit_answer(struct http_req *req)
{
    struct submit *s = api_write_arg(req);
    const struct fmd_err *err;

    if (api_write_result(req, &err) == FMD_ERATE) {
        api_too_many(req, s->day_wait_ms, err->msg);
        return;
    }
    if (api_write_failed(req))
        return;
    if (s->row.spam && !s->replayed)
        api_count_spam();
    answer_created(req, s);
}

/* A member's value counts as filled in unless it is null, "", false, [] or {}. */
static int filled_in(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return 0;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_object(v))
        return json_object_size(v) > 0;
    return 1;
}

/*
 * Spam checks of settings.honeypot and settings.min_fill_seconds. The
 * honeypot member is taken out of data first, so it is neither validated
 * nor stored. 1 for spam, 0 for not.
 */
static int looks_like_spam(const struct schema_settings *st, const char *slug, json_t *data,
                           const json_t *fill_token)
{
    int spam = 0;
    int64_t age;

    if (st->honeypot[0] && json_object_get(data, st->honeypot)) {
        spam = filled_in(json_object_get(data, st->honeypot));
        json_object_del(data, st->honeypot);
    }
    if (st->min_fill_seconds &&
        (!json_is_string(fill_token) ||
         api_fill_token_age(slug, json_string_value(fill_token), &age) ||
         age < st->min_fill_seconds * 1000))
        spam = 1;
    return spam;
}

/*
 * Checks a submission against the published version: the spam settings
 * first (s->row.spam; the honeypot member leaves body's data), then the
 * schema. 0, or answered (422 and the rest). s->settings: what the
 * version's settings ask of a new submission.
 */
static int validate(struct http_req *req, struct db *db, const struct store_form *f,
                    json_t *body, struct submit *s, json_t **sensitive)
{
    const struct schema *schema;
    struct schema *owned;
    struct fmd_err err = {0};
    json_t *errors = NULL, *data = json_object_get(body, "data");
    int rc;

    if (schema_cache_get(db, f->id, f->published_version, &schema, &owned, &s->settings,
                         &err)) {
        http_problem_err(req, &err);
        return -1;
    }
    s->row.spam = looks_like_spam(&s->settings, f->slug, data,
                                  json_object_get(body, "fill_token"));
    rc = schema_validate(schema, data, &errors);
    if (!rc && schema_sensitive(schema) && !(*sensitive = json_deep_copy(schema_sensitive(schema))))
        rc = FMD_ENOMEM;
    schema_free(owned);
    if (rc == FMD_EUNPROC) {
        http_problem(req, FMD_EVALIDATION, NULL, "submission does not match the form", errors);
        return -1;
    }
    json_decref(errors);
    if (rc) {
        http_problem(req, rc, NULL, "cannot validate the submission", NULL);
        return -1;
    }
    return 0;
}

/* Refuses early what the transaction would refuse anyway: 0, or answered. */
static int check_open(struct http_req *req, const struct store_form *f)
{
    if (strcmp(f->status, "open")) {
        http_problem(req, FMD_ECLOSED, NULL, "this form is not accepting submissions", NULL);
        return -1;
    }
    if (f->submission_limit && f->submission_count >= f->submission_limit) {
        http_problem(req, FMD_ELIMIT, NULL, "this form has reached its submission limit", NULL);
        return -1;
    }
    return 0;
}

void api_public_submit(struct http_req *req)
{
    static const char *const members[] = {"data", "fill_token", NULL};
    int64_t wait;
    const char *key = http_header(req, "Idempotency-Key");
    struct store_form f;
    struct fmd_err err = {0};
    struct submit *s;
    struct db *db;
    json_t *body = NULL, *data, *sensitive = NULL;
    char *text;
    int rc;

    if (key && !valid_idempotency_key(key)) {
        http_problem(req, FMD_EINVAL, NULL,
                     "Idempotency-Key must be 1 to 255 visible ASCII characters", NULL);
        return;
    }
    if (!(db = api_db(req)))
        return;
    if ((rc = store_form_by_slug(db, req->params[0], &f, &err)) || !f.published_version) {
        if (rc && rc != FMD_ENOTFOUND)
            http_problem_err(req, &err);
        else
            http_problem(req, FMD_ENOTFOUND, NULL, "no published form with that slug", NULL);
        return;
    }
    if (!(s = arena_alloc(&req->arena, sizeof(*s)))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return;
    }
    memset(s, 0, sizeof(*s));
    s->row.form_id = arena_strdup(&req->arena, f.id);
    fmd_strlcpy(s->project_id, f.project_id, sizeof(s->project_id));
    s->row.idempotency_key = key ? arena_strdup(&req->arena, key) : NULL;
    body_hash(&req->body, s->hash);
    s->row.body_hash = s->hash;
    s->body = &req->body;
    if (key) {
        /* A replay answers as the first time did, even if the form changed since. */
        if ((rc = find_earlier(db, s, &err)) < 0) {
            http_problem_err(req, &err);
            return;
        }
        if (rc == 1) {
            answer_created(req, s);
            return;
        }
    } else if (check_open(req, &f)) {
        return;
    }
    if (!(body = api_body_object(req)) || api_only_members(req, body, members))
        goto out;
    data = json_object_get(body, "data");
    if (!json_is_object(data)) {
        http_problem(req, FMD_EINVAL, NULL, "'data' must be a JSON object", NULL);
        goto out;
    }
    if (json_object_get(body, "fill_token") && !json_is_string(json_object_get(body, "fill_token"))) {
        http_problem(req, FMD_EINVAL, NULL, "'fill_token' must be a string", NULL);
        goto out;
    }
    if (validate(req, db, &f, body, s, &sensitive))
        goto out;
    if ((wait = api_quota_minute(f.id, s->settings.quota_per_minute))) {
        api_too_many(req, wait, "this form has reached its quota of submissions per minute");
        goto out;
    }
    id_new(s->row.id);
    /* Sealed only once valid: the schema's checks need the clear values. */
    if (sensitive_seal(sensitive, data, s->row.form_id, s->row.id, &err)) {
        http_problem_err(req, &err);
        goto out;
    }
    if (!(text = json_encode(data)) || !(s->row.data = arena_strdup(&req->arena, text))) {
        fmd_free(text);
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        goto out;
    }
    fmd_free(text);
    s->row.form_version = f.published_version;
    s->row.created_at = clock_wall_ms();
    api_write(req, submit_write, s, submit_answer);
out:
    json_decref(sensitive);
    json_decref(body);
}
