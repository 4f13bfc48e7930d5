/*
 * ai.c - the AI task handlers (ai.h).
 *
 * The prompt: a fixed prefix per form version (instructions and the form's
 * schema), which the in-process model keeps evaluated between calls, and the
 * variable text. PROMPT_VERSION names this wording, for caches and for
 * anyone comparing results across releases.
 */
#include "tasks/ai.h"

#include <stdio.h>
#include <string.h>

#include "ai/engine.h"
#include "ai/grammar.h"
#include "ai/ocr.h"
#include "core/buf.h"
#include "core/json.h"
#include "queue/queue.h"
#include "core/log.h"
#include "core/mem.h"
#include "metrics/metrics.h"
#include "schema/fields.h"
#include "schema/validate.h"
#include "store/ai_cache.h"
#include "store/forms.h"
#include "store/sensitive.h"
#include "store/submissions.h"
#include "store/schema_cache.h"
#include "tasks/tasks.h"
#include "core/banned.h"

#define PROMPT_VERSION "extract-1"
#define MAX_TEXT (64 * 1024)

/* What the acceptance check needs: the compiled schema. */
struct check {
    const struct schema *schema;
};

/* The model's text is accepted when it is a JSON object the form accepts. */
static int accept_json(void *arg, const char *text, char *why)
{
    struct check *c = arg;
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    int ok;

    if (!json_is_object(v)) {
        snprintf(why, 256, "model output is not a JSON object");
        json_decref(v);
        return 0;
    }
    ok = schema_validate(c->schema, v, NULL) == 0;
    if (!ok)
        snprintf(why, 256, "model output does not match the form");
    json_decref(v);
    return ok;
}

int tasks_ai_extract_prefix(struct buf *b, const char *schema_text)
{
    return buf_printf(b,
                      "You turn free text into the answers of a form. Reply with one JSON "
                      "object whose members are the form's fields, leaving out fields the "
                      "text does not give. The form's JSON Schema:\n%s\n",
                      schema_text);
}

/* {"data", "valid", "errors"} of the outcome's text against the schema. */
static json_t *draft_of(const struct schema *s, const char *text)
{
    json_error_t je;
    json_t *data = json_loads(text ? text : "{}", 0, &je), *errors = NULL;
    int valid;

    if (!json_is_object(data)) {
        json_decref(data);
        data = json_object();
    }
    valid = schema_validate(s, data, &errors) == 0;
    return json_pack("{s:o, s:b, s:o}", "data", data, "valid", valid, "errors",
                     errors ? errors : json_array());
}

/* ---- the cache: model answers only (the fallback is cheap, and a model
 * configured later should get its chance) ---- */

static void count_cache_by(const char *task, int hit, double n)
{
    static const char *const names[] = {"task", "outcome", NULL};
    struct metric *m = metric_register("formd_ai_cache_total",
                                       "AI requests answered from the cache or not",
                                       METRIC_COUNTER, names, NULL, 0);
    const char *v[] = {task, hit ? "hit" : "miss", NULL};
    metric_inc(m, v, n);
}

static void count_cache(const char *task, int hit)
{
    count_cache_by(task, hit, 1);
}

void tasks_ai_metrics_init(void)
{
    static const char *const cached[] = {"extract", "classify", "generate_form", NULL};
    int i;

    /* at zero from the start, so rates and alerts see the series before the first answer */
    for (i = 0; cached[i]; i++) {
        count_cache_by(cached[i], 0, 0);
        count_cache_by(cached[i], 1, 0);
    }
}

/* 1 when req's answer was cached: run->result is it (with "cached": true),
 * or *rc an error. 0: not cached (or no model to cache for). */
/*
 * The queue's cancel, as the provider's: the model call of a cancelled task
 * stops, and so does one running when the server shuts down (the task is
 * given back and runs again; a completion can take a minute, longer than a
 * shutdown should wait).
 */
static int run_cancelled(void *run)
{
    return queue_run_cancelled(run) || queue_run_stopping(run);
}

static void cancel_with(struct ai_request *req, struct queue_run *run)
{
    req->cancelled = run_cancelled;
    req->cancelled_arg = run;
}

static int cached(struct queue_run *run, struct db *db, const struct ai_request *req,
                  const char *key, int *rc, struct fmd_err *err)
{
    const struct tasks_env *env = tasks__env();
    json_error_t je;
    json_t *v;
    char *text = NULL;

    if (!strcmp(ai_engine_model_id(env->ai), "rules"))
        return 0;
    if ((*rc = store_ai_cache_get(db, key, &text, err)))
        return 1;
    count_cache(req->task, text != NULL);
    if (!text)
        return 0;
    v = json_loads(text, 0, &je);
    fmd_free(text);
    if (!json_is_object(v) || json_object_set_new(v, "cached", json_true()) ||
        !(run->result = json_encode(v)))
        *rc = fmd_errf(err, FMD_ENOMEM, "cannot read a cached answer");
    json_decref(v);
    return 1;
}

struct remember_op {
    const char *key, *task, *model;
    char *result;
};

static int remember_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct remember_op *op = arg;
    return store_ai_cache_put(db, op->key, op->task, op->model, op->result, err);
}

/* Caches a model's draft; a failure costs only a later recomputation. */
static void remember(const char *key, const char *task, const char *model, const json_t *draft)
{
    struct remember_op op = {key, task, model, json_encode(draft)};
    struct fmd_err err = {0};

    if (op.result && db_writer_run(tasks__env()->writer, remember_write, &op, &err))
        log_warn("ai cache: %s", err.msg);
    fmd_free(op.result);
}

/* A scanned page (base64) to text by OCR, and what the OCR saw in *info. */
static int read_image(const char *b64, char **text, json_t **info, struct fmd_err *err)
{
    struct ai_ocr_stats st = {0};
    unsigned char *bin;
    size_t len;
    int rc;

    *text = NULL;
    *info = NULL;
    if ((rc = base64_decode(b64, &bin, &len)))
        return fmd_errf(err, rc, rc == FMD_ENOMEM ? "out of memory" : "'image' is not base64");
    rc = ai_ocr_text(bin, len, NULL, text, &st, err);
    fmd_free(bin);
    if (rc)
        return rc;
    if (!(*info = json_pack("{s:s, s:i, s:i, s:i, s:I}", "text", *text, "confidence",
                            st.confidence, "width", st.width, "height", st.height, "ms",
                            (json_int_t)st.ms)))
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    return 0;
}

int tasks_ai_extract(struct queue_run *run)
{
    const struct tasks_env *env = tasks__env();
    const char *form_id = json_get_str(run->payload, "form_id");
    const char *given = json_get_str(run->payload, "text");
    const char *image = json_get_str(run->payload, "image");
    const char *text = given;
    char *ocr_text = NULL, *joined = NULL;
    json_t *ocr = NULL;
    const struct schema *schema = NULL;
    struct schema *owned = NULL;
    struct store_form f;
    struct ai_outcome out = {0};
    struct fmd_err err = {0};
    struct buf prefix, prompt, grammar;
    struct check chk;
    struct ai_request req = {0};
    struct db *db = NULL;
    char key[AI_CACHE_KEY_HEX] = "";
    char *schema_text = NULL;
    json_t *draft = NULL;
    int rc;

    buf_init(&prefix, 1 << 20);
    buf_init(&prompt, 2 * MAX_TEXT);
    buf_init(&grammar, 1 << 20);
    if (!env->ai) {
        rc = fmd_errf(&err, FMD_EUNAVAIL, "AI is not available in this process");
        run->permanent = 1;
        goto out;
    }
    if (image && (rc = read_image(image, &ocr_text, &ocr, &err))) {
        run->permanent = rc != FMD_ETIMEOUT && rc != FMD_ENOMEM;
        goto out;
    }
    if (ocr_text) {   /* the page's text, then any text given with it */
        size_t a = strlen(ocr_text), b = given ? strlen(given) : 0;
        if (!(joined = fmd_malloc(a + b + 2))) {
            rc = fmd_errf(&err, FMD_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(joined, ocr_text, a);
        joined[a] = '\n';
        memcpy(joined + a + 1, given ? given : "", b + 1);
        text = joined;
    }
    if (!form_id || !text || strlen(text) > MAX_TEXT) {
        rc = fmd_errf(&err, FMD_EINVAL, "payload needs 'form_id' and 'text' or 'image' "
                                        "(at most 64 KiB of text)");
        run->permanent = 1;
        goto out;
    }
    if ((rc = db_pool_get(env->pool, &db, &err)) || (rc = store_form_get(db, form_id, &f, &err)))
        goto out;
    if (!f.published_version) {
        rc = fmd_errf(&err, FMD_ECONFLICT, "form '%s' has no published version", form_id);
        run->permanent = 1;
        goto out;
    }
    if ((rc = store_form_schema(db, form_id, f.published_version, &schema_text, &err)) ||
        (rc = schema_cache_get(db, form_id, f.published_version, &schema, &owned, NULL, &err)))
        goto out;
    if (tasks_ai_extract_prefix(&prefix, schema_text) ||
        buf_printf(&prompt, TASKS_AI_EXTRACT_PROMPT, text)) {
        rc = fmd_errf(&err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    {   /* a grammar when the schema is inside the subset; the check holds anyway */
        json_error_t je;
        json_t *sj = json_loads(schema_text, 0, &je);
        struct fmd_err gerr = {0};
        if (sj && ai_grammar_from_schema(sj, &grammar, &gerr))
            buf_reset(&grammar);
        json_decref(sj);
    }
    chk.schema = schema;
    req.prefix = prefix.p;
    req.prompt = prompt.p;
    req.grammar = grammar.len ? grammar.p : NULL;
    req.limits.max_tokens = 1024;
    req.limits.timeout_ms = env->ai_timeout_ms;
    req.task = "extract";
    cancel_with(&req, run);
    req.input = text;
    req.schema = schema_text;
    store_ai_cache_key(ai_engine_model_id(env->ai), PROMPT_VERSION, req.task, schema_text, text,
                       key);
    if (cached(run, db, &req, key, &rc, &err))
        goto out;   /* answered from the cache (or failed looking) */
    if ((rc = ai_engine_run(env->ai, &req, accept_json, &chk, &out, &err)))
        goto out;
    if (!(draft = draft_of(schema, out.text)) ||
        json_object_set_new(draft, "source", json_string(out.source)) ||
        json_object_set_new(draft, "model", json_string(out.model)) ||
        json_object_set_new(draft, "fallback_reason", json_string(out.reason)) ||
        json_object_set_new(draft, "prompt_version", json_string(PROMPT_VERSION)) ||
        json_object_set_new(draft, "form_version", json_integer(f.published_version)) ||
        json_object_set_new(draft, "machine_made", json_true()) ||
        json_object_set_new(draft, "review", json_string("pending")) ||
        json_object_set_new(draft, "cached", json_false()) ||
        (ocr && json_object_set(draft, "ocr", ocr)) ||
        !(run->result = json_encode(draft)))
        rc = fmd_errf(&err, FMD_ENOMEM, "out of memory");
    if (!rc && !strcmp(out.source, "model"))
        remember(key, req.task, out.model, draft);
out:
    if (rc) {
        snprintf(run->error, sizeof(run->error), "ai.extract: %s", err.msg);
        if (rc == FMD_ENOTFOUND)
            run->permanent = 1;
    }
    json_decref(draft);
    json_decref(ocr);
    fmd_free(ocr_text);
    fmd_free(joined);
    ai_outcome_release(&out);
    schema_free(owned);
    fmd_free(schema_text);
    buf_release(&prefix);
    buf_release(&prompt);
    buf_release(&grammar);
    if (db)
        db_pool_put(env->pool, db);
    return rc;
}

/* ---- ai.classify ---- */

#define CLASSIFY_VERSION "classify-1"

/* The answer's schema: one of the category names and a short reason. */
json_t *tasks_ai_classify_schema(const json_t *categories)
{
    json_t *names = json_array(), *c;
    size_t i;

    json_array_foreach(categories, i, c)
        json_array_append_new(names, json_string(json_get_str(c, "name")));
    return json_pack("{s:s, s:b, s:[s, s], s:{s:{s:o}, s:{s:s, s:i, s:i}}}", "type", "object",
                     "additionalProperties", 0, "required", "category", "reason", "properties",
                     "category", "enum", names, "reason", "type", "string", "minLength", 1,
                     "maxLength", 200);
}

/* The instructions: the categories, as the form's settings describe them. */
int tasks_ai_classify_prefix(struct buf *b, const json_t *categories)
{
    const json_t *c, *kw;
    size_t i, j;
    int rc = buf_adds(b, "You sort the answers of a form into one category. Categories:\n");

    json_array_foreach(categories, i, c) {
        rc = rc || buf_printf(b, "- %s", json_get_str(c, "name"));
        if (json_get_str(c, "description"))
            rc = rc || buf_printf(b, ": %s", json_get_str(c, "description"));
        kw = json_object_get(c, "keywords");
        for (j = 0; j < json_array_size(kw); j++)
            rc = rc || buf_printf(b, "%s%s", j ? ", " : " (keywords: ",
                                  json_string_value(json_array_get(kw, j)));
        rc = rc || buf_adds(b, json_array_size(kw) ? ")\n" : "\n");
    }
    return rc || buf_adds(b, "Reply with one JSON object: {\"category\": the category's name, "
                             "\"reason\": why, in a few words}.\n");
}

int tasks_ai_classify(struct queue_run *run)
{
    const struct tasks_env *env = tasks__env();
    const char *sid = json_get_str(run->payload, "submission_id");
    struct store_form f;
    struct ai_outcome out = {0};
    struct fmd_err err = {0};
    struct ai_request req = {0};
    struct buf prefix, prompt, grammar;
    struct schema *answer = NULL;
    struct check chk;
    struct db *db = NULL;
    json_t *sub = NULL, *settings = NULL, *ans_schema = NULL, *rules_schema = NULL, *res = NULL;
    const json_t *categories;
    char form_id[ID_LEN + 1], key[AI_CACHE_KEY_HEX] = "";
    char *settings_text = NULL, *data = NULL, *rules_text = NULL, *cats_text = NULL;
    json_error_t je;
    int rc, version, deleted;

    buf_init(&prefix, 1 << 20);
    buf_init(&prompt, 1 << 20);
    buf_init(&grammar, 1 << 20);
    if (!env->ai || !sid) {
        rc = fmd_errf(&err, env->ai ? FMD_EINVAL : FMD_EUNAVAIL,
                      env->ai ? "payload needs 'submission_id'" : "AI is not available here");
        run->permanent = 1;
        goto out;
    }
    if ((rc = db_pool_get(env->pool, &db, &err)) ||
        (rc = store_submission_owner(db, sid, form_id, &version, &deleted, &err)) ||
        (rc = store_form_get(db, form_id, &f, &err)) ||
        (rc = store_form_settings(db, form_id, f.published_version ? f.published_version
                                                                   : version, &settings_text,
                                  &err)) ||
        (rc = store_submission_get(db, sid, &sub, NULL, &err)) ||
        (rc = sensitive_show_submission(db, sub, 0, &err)))   /* no model sees them */
        goto out;
    settings = json_loads(settings_text, 0, &je);
    categories = json_object_get(json_object_get(json_object_get(settings, "ai"), "classify"),
                                 "categories");
    if (!json_array_size(categories)) {
        rc = fmd_errf(&err, FMD_ECONFLICT, "form '%s' has no categories in settings.ai.classify",
                      form_id);
        run->permanent = 1;
        goto out;
    }
    if (!(data = json_encode(json_object_get(sub, "data"))) ||
        !(ans_schema = tasks_ai_classify_schema(categories)) ||
        !(rules_schema = json_pack("{s:O}", "categories", categories)) ||
        !(rules_text = json_encode(rules_schema)) || !(cats_text = json_encode(categories)) ||
        tasks_ai_classify_prefix(&prefix, categories) ||
        buf_printf(&prompt, TASKS_AI_CLASSIFY_PROMPT, data)) {
        rc = fmd_errf(&err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = schema_compile(ans_schema, &answer, &err)))
        goto out;
    if (ai_grammar_from_schema(ans_schema, &grammar, &err)) {
        buf_reset(&grammar);
        memset(&err, 0, sizeof(err));
    }
    chk.schema = answer;
    req.prefix = prefix.p;
    req.prompt = prompt.p;
    req.grammar = grammar.len ? grammar.p : NULL;
    req.limits.max_tokens = 256;   /* a reason of 200 characters, and the JSON around it */
    req.limits.timeout_ms = env->ai_timeout_ms;
    req.task = "classify";
    cancel_with(&req, run);
    req.input = data;
    req.schema = rules_text;
    store_ai_cache_key(ai_engine_model_id(env->ai), CLASSIFY_VERSION, req.task, cats_text, data,
                       key);
    if (cached(run, db, &req, key, &rc, &err))
        goto out;
    if ((rc = ai_engine_run(env->ai, &req, accept_json, &chk, &out, &err)))
        goto out;
    res = json_loads(out.text ? out.text : "", 0, &je);
    if (!json_is_object(res) || !json_get_str(res, "category")) {
        rc = fmd_errf(&err, FMD_EINTERNAL, "the answer has no category");
        goto out;
    }
    if (json_object_set_new(res, "submission_id", json_string(sid)) ||
        json_object_set_new(res, "source", json_string(out.source)) ||
        json_object_set_new(res, "model", json_string(out.model)) ||
        json_object_set_new(res, "fallback_reason", json_string(out.reason)) ||
        json_object_set_new(res, "prompt_version", json_string(CLASSIFY_VERSION)) ||
        json_object_set_new(res, "cached", json_false()) ||
        !(run->result = json_encode(res)))
        rc = fmd_errf(&err, FMD_ENOMEM, "out of memory");
    if (!rc && !strcmp(out.source, "model"))
        remember(key, req.task, out.model, res);
out:
    if (rc) {
        snprintf(run->error, sizeof(run->error), "ai.classify: %s", err.msg);
        if (rc == FMD_ENOTFOUND)
            run->permanent = 1;
    }
    json_decref(res);
    ai_outcome_release(&out);
    json_decref(sub);
    json_decref(settings);
    json_decref(ans_schema);
    json_decref(rules_schema);
    schema_free(answer);
    fmd_free(settings_text);
    fmd_free(data);
    fmd_free(rules_text);
    fmd_free(cats_text);
    buf_release(&prefix);
    buf_release(&prompt);
    buf_release(&grammar);
    if (db)
        db_pool_put(env->pool, db);
    return rc;
}

/* ---- on every new submission ---- */

int tasks_ai_classify_new(struct db *db, const char *project_id, const char *submission_id,
                          struct fmd_err *err)
{
    struct queue_new t = {.kind = AI_CLASSIFY_KIND, .queue = "default", .max_attempts = 3,
                          .project_id = project_id};
    char task_id[ID_LEN + 1], payload[96];
    int existing = 0;

    snprintf(payload, sizeof(payload), "{\"submission_id\":\"%s\"}", submission_id);
    t.payload = payload;
    return queue_enqueue(db, &t, task_id, &existing, err);
}

/* ---- ai.generate_form ---- */

#define GENERATE_VERSION "generate-form-1"

/* What the model writes: a fields list formd's fields compiler can take.
 * Names and options cannot be kept unique by a grammar (ai/grammar.c refuses
 * uniqueItems over free strings, and without a grammar the model writes free
 * text); the acceptance check compiles. */
const char tasks_ai_generate_prefix[] =
    "You design forms. From a description, write the form's fields as a JSON "
    "array of {\"name\": snake_case, \"type\": text|textarea|email|url|phone|date|"
    "number|integer|rating|checkbox|select|multiselect, \"label\", \"required\"?, "
    "\"options\"?: [...] for select and multiselect}. Names must differ.\n";

const char tasks_ai_fields_answer_schema[] =
    "{\"type\":\"array\",\"minItems\":1,\"maxItems\":20,\"items\":{\"type\":\"object\","
    "\"additionalProperties\":false,\"required\":[\"name\",\"type\",\"label\"],\"properties\":{"
    "\"name\":{\"type\":\"string\",\"pattern\":\"^[a-z][a-z0-9_]{0,23}$\"},"
    "\"type\":{\"enum\":[\"text\",\"textarea\",\"email\",\"url\",\"phone\",\"date\",\"number\","
    "\"integer\",\"rating\",\"checkbox\",\"select\",\"multiselect\"]},"
    "\"label\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":60},"
    "\"required\":{\"type\":\"boolean\"},"
    "\"options\":{\"type\":\"array\",\"minItems\":2,\"maxItems\":8,\"items\":{\"type\":\"string\","
    "\"minLength\":1,\"maxLength\":30}}}}}";

/* Accepted when it parses and the fields compiler takes it (unique names,
 * options where a choice needs them). */
static int accept_fields(void *arg, const char *text, char *why)
{
    struct fmd_err err = {0};
    json_error_t je;
    json_t *v = json_loads(text, 0, &je), *schema = NULL;
    int ok = 0;

    (void)arg;
    if (!json_is_array(v))
        snprintf(why, 256, "model output is not a JSON array");
    else if (fields_compile(v, &schema, &err))
        snprintf(why, 256, "model output is not a valid form: %.200s", err.msg);
    else
        ok = 1;
    json_decref(schema);
    json_decref(v);
    return ok;
}

int tasks_ai_generate_form(struct queue_run *run)
{
    const struct tasks_env *env = tasks__env();
    const char *desc = json_get_str(run->payload, "description");
    struct ai_outcome out = {0};
    struct fmd_err err = {0};
    struct ai_request req = {0};
    struct buf prompt, grammar;
    struct db *db = NULL;
    json_t *fields = NULL, *schema = NULL, *res = NULL, *answer = NULL;
    char key[AI_CACHE_KEY_HEX] = "";
    json_error_t je;
    int rc;

    buf_init(&prompt, 1 << 20);
    buf_init(&grammar, 1 << 20);
    if (!env->ai || !desc || !*desc || strlen(desc) > MAX_TEXT) {
        rc = fmd_errf(&err, env->ai ? FMD_EINVAL : FMD_EUNAVAIL,
                      env->ai ? "payload needs a 'description' of at most 64 KiB"
                              : "AI is not available here");
        run->permanent = 1;
        goto out;
    }
    if (!(answer = json_loads(tasks_ai_fields_answer_schema, 0, &je)) ||
        buf_printf(&prompt, TASKS_AI_GENERATE_PROMPT, desc)) {
        rc = fmd_errf(&err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    if (ai_grammar_from_schema(answer, &grammar, &err)) {
        buf_reset(&grammar);
        memset(&err, 0, sizeof(err));
    }
    req.prefix = tasks_ai_generate_prefix;
    req.prompt = prompt.p;
    req.grammar = grammar.len ? grammar.p : NULL;
    req.limits.max_tokens = 768;
    req.limits.timeout_ms = env->ai_timeout_ms;
    req.task = "generate_form";
    cancel_with(&req, run);
    req.input = desc;
    store_ai_cache_key(ai_engine_model_id(env->ai), GENERATE_VERSION, req.task, NULL, desc, key);
    if ((rc = db_pool_get(env->pool, &db, &err)))
        goto out;
    if (cached(run, db, &req, key, &rc, &err))
        goto out;
    if ((rc = ai_engine_run(env->ai, &req, accept_fields, NULL, &out, &err)))
        goto out;
    fields = json_loads(out.text ? out.text : "", 0, &je);
    if (!json_is_array(fields) || fields_compile(fields, &schema, &err)) {
        rc = fmd_errf(&err, FMD_EINTERNAL, "the generated fields do not compile: %s", err.msg);
        goto out;
    }
    if (!(res = json_pack("{s:O, s:O, s:s, s:s, s:s, s:s, s:b}", "fields", fields, "schema",
                          schema, "source", out.source, "model", out.model, "fallback_reason",
                          out.reason, "prompt_version", GENERATE_VERSION, "cached", 0)) ||
        !(run->result = json_encode(res)))
        rc = fmd_errf(&err, FMD_ENOMEM, "out of memory");
    if (!rc && !strcmp(out.source, "model"))
        remember(key, req.task, out.model, res);
out:
    if (rc)
        snprintf(run->error, sizeof(run->error), "ai.generate_form: %s", err.msg);
    json_decref(res);
    json_decref(fields);
    json_decref(schema);
    json_decref(answer);
    ai_outcome_release(&out);
    buf_release(&prompt);
    buf_release(&grammar);
    if (db)
        db_pool_put(env->pool, db);
    return rc;
}

/* ---- ai.summarize ---- */

#define SUMMARIZE_VERSION "summarize-1"
#define SUMMARY_CHUNK 6000        /* bytes of answers per model call: well inside 4096 tokens */
#define SUMMARY_ANSWERS 5000      /* the newest answers read, at most */

/* The answers gathered into chunks of at most SUMMARY_CHUNK bytes each. */
struct chunks {
    struct buf all;               /* answers, one a line */
    size_t answers;
};

/* Text in valid UTF-8 (each bad byte U+FFFD, so the answer can be JSON), on one line. */
static int add_clean(struct buf *b, const char *s, size_t n)
{
    size_t from = b->len, i;
    int rc = buf_add_utf8(b, s, n);

    /* one line per answer: control characters become spaces */
    for (i = from; !rc && i < b->len; i++)
        if ((unsigned char)b->p[i] < 0x20)
            b->p[i] = ' ';
    return rc;
}

static int gather(void *arg, const char *text, size_t len)
{
    struct chunks *c = arg;

    c->answers++;
    return add_clean(&c->all, text, len) || buf_addc(&c->all, '\n') ? FMD_ENOMEM : 0;
}

static int accept_text(void *arg, const char *text, char *why)
{
    (void)arg;
    if (!*text)
        snprintf(why, 256, "model wrote nothing");
    return *text != '\0';
}

/* One summary of text (answers or summaries): 0 and out filled, or the error. */
static int summarize_once(struct queue_run *run, const struct tasks_env *env, const char *text,
                          int combine, struct ai_outcome *out, struct fmd_err *err)
{
    struct ai_request req = {0};
    struct buf prompt;
    int rc;

    buf_init(&prompt, 2 * SUMMARY_CHUNK + 64);
    if (buf_printf(&prompt, "%s\n%s\nSummary:", combine ? "Partial summaries:" : "Answers:",
                   text))
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    req.prefix = combine ? "You combine partial summaries of a form's answers into one short "
                           "summary: the main themes, how often each came up, notable "
                           "outliers. Plain text, at most a paragraph.\n"
                         : "You summarise the text answers of a form: the main themes, how "
                           "often each came up, notable outliers. Plain text, at most a "
                           "paragraph.\n";
    req.prompt = prompt.p;
    req.limits.max_tokens = 200;
    req.limits.timeout_ms = env->ai_timeout_ms;
    req.task = "summarize";
    cancel_with(&req, run);
    req.input = text;
    rc = ai_engine_run(env->ai, &req, accept_text, NULL, out, err);
    buf_release(&prompt);
    return rc;
}

int tasks_ai_summarize(struct queue_run *run)
{
    const struct tasks_env *env = tasks__env();
    const char *form_id = json_get_str(run->payload, "form_id");
    const char *field = json_get_str(run->payload, "field");
    int64_t from = json_integer_value(json_object_get(run->payload, "from"));
    int64_t to = json_integer_value(json_object_get(run->payload, "to"));
    struct chunks c = {.answers = 0};
    struct buf partial;
    struct fmd_err err = {0};
    struct db *db = NULL;
    json_t *res = NULL;
    size_t at = 0, nchunks = 0, from_model = 0;
    char model[160] = "rules";
    int rc = 0;

    buf_init(&c.all, (size_t)64 << 20);
    buf_init(&partial, (size_t)16 << 20);
    if (!env->ai || !form_id) {
        rc = fmd_errf(&err, env->ai ? FMD_EINVAL : FMD_EUNAVAIL,
                      env->ai ? "payload needs 'form_id'" : "AI is not available here");
        run->permanent = 1;
        goto out;
    }
    if ((rc = db_pool_get(env->pool, &db, &err)) ||
        (rc = store_submission_texts(db, form_id, field, from, to, SUMMARY_ANSWERS, gather, &c,
                                     &err)))
        goto out;
    /* chunk by whole answers; each chunk's summary, then one of them all */
    while (!rc && at < c.all.len) {
        struct ai_outcome o = {0};
        size_t end = at + SUMMARY_CHUNK < c.all.len ? at + SUMMARY_CHUNK : c.all.len;
        char saved;
        while (end < c.all.len && end > at + 1 && c.all.p[end - 1] != '\n')
            end--;
        saved = c.all.p[end];
        c.all.p[end] = '\0';
        rc = summarize_once(run, env, c.all.p + at, 0, &o, &err);
        c.all.p[end] = saved;
        if (!rc) {
            from_model += !strcmp(o.source, "model");
            snprintf(model, sizeof(model), "%s", o.model);
            rc = add_clean(&partial, o.text ? o.text : "", o.text ? strlen(o.text) : 0) ||
                 buf_addc(&partial, '\n') ? fmd_errf(&err, FMD_ENOMEM, "out of memory") : 0;
        }
        ai_outcome_release(&o);
        nchunks++;
        at = end;
        if (run->pool)
            queue_run_progress(run, (double)at / (double)c.all.len * 0.9);
    }
    if (!rc && nchunks > 1) {   /* combine: the partial summaries are short */
        struct ai_outcome o = {0};
        if (!(rc = summarize_once(run, env, partial.p, 1, &o, &err))) {
            from_model += !strcmp(o.source, "model");
            buf_reset(&partial);
            if (add_clean(&partial, o.text ? o.text : "", o.text ? strlen(o.text) : 0))
                rc = fmd_errf(&err, FMD_ENOMEM, "out of memory");
        }
        ai_outcome_release(&o);
    }
    if (rc)
        goto out;
    while (partial.len && (partial.p[partial.len - 1] == '\n' || partial.p[partial.len - 1] == ' '))
        partial.p[--partial.len] = '\0';
    if (!(res = json_pack("{s:s, s:s?, s:I, s:I, s:s, s:s, s:s}", "form_id", form_id, "field",
                          field, "answers", (json_int_t)c.answers, "chunks",
                          (json_int_t)nchunks, "summary", partial.len ? partial.p : "",
                          "source", from_model == 0 ? "fallback"
                                    : from_model == nchunks + (nchunks > 1) ? "model" : "mixed",
                          "prompt_version", SUMMARIZE_VERSION)) ||
        json_object_set_new(res, "model", json_string(from_model ? model : "rules")) ||
        !(run->result = json_encode(res)))
        rc = fmd_errf(&err, FMD_ENOMEM, "out of memory");
out:
    if (rc)
        snprintf(run->error, sizeof(run->error), "ai.summarize: %s", err.msg);
    json_decref(res);
    buf_release(&c.all);
    buf_release(&partial);
    if (db)
        db_pool_put(env->pool, db);
    return rc;
}
