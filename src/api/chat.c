/*
 * chat.c - the loaded model, offered in OpenAI's chat completions format,
 * so other tools (and another formd's openai provider) can use it:
 *   POST /v1/ai/chat/completions   one completion of a conversation
 *   GET  /v1/ai/models             the model that answers
 * A client configured with base URL ".../v1/ai" finds both where OpenAI's
 * clients look.
 *
 * Unlike the AI tasks this answers in the request: a caller of this format
 * waits for its text. A completion takes seconds on a CPU, so it never runs
 * on one of the HTTP threads: the request is suspended and a thread of its
 * own runs the model, then resumes it. At most CHAT_MAX_RUNNING completions
 * wait or run at once (the model runs one at a time anyway); past that the
 * answer is 503 with Retry-After, which OpenAI's clients retry.
 *
 * Members read: messages (system, developer, user, assistant; content a
 * string or an array of text parts), max_tokens / max_completion_tokens,
 * temperature, seed, stream (false only), n (1 only), response_format
 * (json_object, or json_schema compiled by ai/grammar.h) and llama.cpp's
 * grammar (GBNF). Other members (top_p, user, ...) are ignored, as other
 * servers do; tools are refused, since the model cannot call them.
 */
#include "api/api.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "ai/engine.h"
#include "ai/grammar.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/rand.h"
#include "core/banned.h"

#define CHAT_MAX_RUNNING   8
#define CHAT_MAX_MESSAGES  256
#define CHAT_TEXT_MAX      (256 * 1024)    /* bytes of content over all messages */
#define CHAT_TOKENS_MAX    4096
#define CHAT_TOKENS_DEF    512
#define GRAMMAR_MAX        (256 * 1024)

/* Any JSON object, compact (response_format json_object). */
static const char json_object_gbnf[] =
    "root ::= object\n"
    "value ::= object | array | string | number | \"true\" | \"false\" | \"null\"\n"
    "object ::= \"{\" ( string \":\" value ( \",\" string \":\" value )* )? \"}\"\n"
    "array ::= \"[\" ( value ( \",\" value )* )? \"]\"\n"
    "string ::= \"\\\"\" ( [^\"\\\\\\x00-\\x1f] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" "
    "[0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] ) )* \"\\\"\"\n"
    "number ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,15} ) ( \".\" [0-9]{1,16} )? "
    "( [eE] [-+]? [0-9]{1,3} )?\n";

static atomic_int running;

struct chat_job {
    struct http_req *req;
    struct ai_engine *engine;
    json_t *body;                     /* holds the strings messages point to */
    struct ai_message *messages;
    char **joined;                    /* contents made from text parts, to free */
    size_t n;
    struct buf grammar;
    struct ai_request areq;
    struct ai_result res;
    struct fmd_err err;
    int rc;
    uint64_t started_ms;
};

static void job_free(struct chat_job *j)
{
    size_t i;

    if (!j)
        return;
    for (i = 0; j->joined && i < j->n; i++)
        fmd_free(j->joined[i]);
    fmd_free(j->joined);
    fmd_free(j->messages);
    buf_release(&j->grammar);
    ai_result_release(&j->res);
    json_decref(j->body);
    fmd_free(j);
}

/* The caller holds editor rights somewhere: the model's time is not for viewers. */
static int may_chat(const struct principal *pr)
{
    int i;

    for (i = 0; i < pr->ngrants; i++)
        if (pr->grants[i].role >= ROLE_EDITOR)
            return 1;
    return 0;
}

/* A message's content: a string, or text parts joined; NULL (answered) if neither. */
static const char *content_of(struct http_req *req, struct chat_job *j, size_t i,
                              const json_t *content)
{
    struct buf b;
    const json_t *part;
    size_t k;

    if (json_is_string(content))
        return json_string_value(content);
    if (!json_is_array(content)) {
        http_problem(req, FMD_EINVAL, NULL, "a message's 'content' must be a string or an "
                                            "array of text parts", NULL);
        return NULL;
    }
    buf_init(&b, CHAT_TEXT_MAX);
    json_array_foreach(content, k, part) {
        const char *type = json_get_str(part, "type"), *text = json_get_str(part, "text");

        if (!type || strcmp(type, "text") || !text) {
            buf_release(&b);
            http_problem(req, FMD_EINVAL, NULL, "only text parts ({\"type\": \"text\", "
                                                "\"text\": ...}) are supported", NULL);
            return NULL;
        }
        if (buf_adds(&b, text)) {
            buf_release(&b);
            http_problem(req, FMD_ETOOBIG, NULL, "the messages are longer than 256 KiB", NULL);
            return NULL;
        }
    }
    if (!(j->joined[i] = buf_detach(&b, NULL)) && !(j->joined[i] = fmd_strdup(""))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return NULL;
    }
    return j->joined[i];
}

/* messages into j: 0, or answered 400. */
static int read_messages(struct http_req *req, struct chat_job *j)
{
    const json_t *msgs = json_object_get(j->body, "messages"), *m;
    size_t i, total = 0;

    if (!json_is_array(msgs) || !json_array_size(msgs) ||
        json_array_size(msgs) > CHAT_MAX_MESSAGES) {
        http_problem(req, FMD_EINVAL, NULL, "'messages' must be an array of 1 to 256 messages",
                     NULL);
        return -1;
    }
    j->n = json_array_size(msgs);
    j->messages = fmd_calloc(j->n, sizeof(*j->messages));
    j->joined = fmd_calloc(j->n, sizeof(*j->joined));
    if (!j->messages || !j->joined) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return -1;
    }
    json_array_foreach(msgs, i, m) {
        const char *role = json_get_str(m, "role"), *content;

        if (!role || (strcmp(role, "system") && strcmp(role, "developer") &&
                      strcmp(role, "user") && strcmp(role, "assistant"))) {
            http_problem(req, FMD_EINVAL, NULL, "a message's 'role' must be system, developer, "
                                                "user or assistant", NULL);
            return -1;
        }
        if (!(content = content_of(req, j, i, json_object_get(m, "content"))))
            return -1;
        total += strlen(content);
        if (total > CHAT_TEXT_MAX) {
            http_problem(req, FMD_ETOOBIG, NULL, "the messages are longer than 256 KiB", NULL);
            return -1;
        }
        /* "developer" is OpenAI's newer name for the system message */
        j->messages[i].role = strcmp(role, "developer") ? role : "system";
        j->messages[i].content = content;
    }
    j->areq.messages = j->messages;
    j->areq.n_messages = j->n;
    return 0;
}

/* An integer member within [lo, hi] into *out (absent: unchanged): 0, or answered 400. */
static int int_member(struct http_req *req, const json_t *body, const char *name,
                      json_int_t lo, json_int_t hi, json_int_t *out)
{
    const json_t *v = json_object_get(body, name);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        http_problem(req, FMD_EINVAL, NULL,
                     arena_printf(&req->arena, "'%s' must be an integer from %lld to %lld",
                                  name, (long long)lo, (long long)hi), NULL);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

/* response_format or grammar into j->areq.grammar: 0, or answered 400. */
static int read_format(struct http_req *req, struct chat_job *j)
{
    const json_t *rf = json_object_get(j->body, "response_format");
    const json_t *gv = json_object_get(j->body, "grammar");
    const char *type = json_get_str(rf, "type");
    struct fmd_err err = {0};
    int rc;

    if (gv && !json_is_null(gv)) {
        if (!json_is_string(gv) || !json_string_length(gv) ||
            json_string_length(gv) > GRAMMAR_MAX) {
            http_problem(req, FMD_EINVAL, NULL, "'grammar' must be GBNF text of at most 256 KiB",
                         NULL);
            return -1;
        }
        if (rf && !json_is_null(rf) && (!type || strcmp(type, "text"))) {
            http_problem(req, FMD_EINVAL, NULL, "give 'grammar' or 'response_format', not both",
                         NULL);
            return -1;
        }
        j->areq.grammar = json_string_value(gv);
        return 0;
    }
    if (!rf || json_is_null(rf) || (type && !strcmp(type, "text")))
        return 0;
    if (type && !strcmp(type, "json_object")) {
        j->areq.grammar = json_object_gbnf;
        return 0;
    }
    if (!type || strcmp(type, "json_schema")) {
        http_problem(req, FMD_EINVAL, NULL, "'response_format.type' must be text, json_object "
                                            "or json_schema", NULL);
        return -1;
    }
    rf = json_object_get(json_object_get(rf, "json_schema"), "schema");
    if (!json_is_object(rf)) {
        http_problem(req, FMD_EINVAL, NULL, "'response_format.json_schema.schema' must be a "
                                            "JSON Schema object", NULL);
        return -1;
    }
    buf_init(&j->grammar, GRAMMAR_MAX);
    if ((rc = ai_grammar_from_schema(rf, &j->grammar, &err))) {
        http_problem(req, rc == FMD_ENOMEM ? FMD_ENOMEM : FMD_EINVAL, NULL,
                     arena_printf(&req->arena, "response_format: %s", err.msg), NULL);
        return -1;
    }
    j->areq.grammar = j->grammar.p;
    return 0;
}

/* The other members: 0, or answered 400. */
static int read_options(struct http_req *req, struct chat_job *j)
{
    const json_t *b = j->body, *v;
    json_int_t max_tokens = CHAT_TOKENS_DEF, seed = 0, n = 1;

    if ((v = json_object_get(b, "stream")) && !json_is_null(v) && !json_is_false(v)) {
        http_problem(req, FMD_EINVAL, NULL, "streaming is not supported: send \"stream\": false",
                     NULL);
        return -1;
    }
    if (json_array_size(json_object_get(b, "tools")) || json_object_get(b, "functions")) {
        http_problem(req, FMD_EINVAL, NULL, "tools are not supported by this model server",
                     NULL);
        return -1;
    }
    if ((v = json_object_get(b, "model")) && !json_is_null(v) && !json_is_string(v)) {
        http_problem(req, FMD_EINVAL, NULL, "'model' must be a string", NULL);
        return -1;
    }
    if (int_member(req, b, "max_tokens", 1, CHAT_TOKENS_MAX, &max_tokens) ||
        int_member(req, b, "max_completion_tokens", 1, CHAT_TOKENS_MAX, &max_tokens) ||
        int_member(req, b, "seed", 0, UINT32_MAX, &seed) || int_member(req, b, "n", 1, 1, &n))
        return -1;
    j->areq.limits.max_tokens = (int)max_tokens;
    j->areq.limits.seed = (uint32_t)seed;
    j->areq.limits.temperature = 0.8;   /* llama.cpp's server's default */
    if ((v = json_object_get(b, "temperature")) && !json_is_null(v)) {
        if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 2) {
            http_problem(req, FMD_EINVAL, NULL, "'temperature' must be a number from 0 to 2",
                         NULL);
            return -1;
        }
        j->areq.limits.temperature = json_number_value(v);
    }
    return 0;
}

/* Seconds as milliseconds to the microsecond, so they print short. */
static double ms(double seconds)
{
    return (double)(long long)(seconds * 1e6 + 0.5) / 1000.0;
}

static json_t *completion_json(const struct chat_job *j)
{
    char id[33];

    rand_fast_hex(id, 12);
    return json_pack(
        "{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s}, s:s}],"
        " s:{s:i, s:i, s:i, s:{s:i}}, s:{s:i, s:f, s:i, s:f, s:i}}",
        "id", arena_printf(&j->req->arena, "chatcmpl-%s", id), "object", "chat.completion",
        "created", (json_int_t)(j->started_ms / 1000), "model",
        ai_engine_model_id(j->engine), "choices", "index", 0, "message", "role", "assistant",
        "content", j->res.text ? j->res.text : "", "finish_reason",
        j->res.truncated ? "length" : "stop", "usage", "prompt_tokens", j->res.prompt_tokens,
        "completion_tokens", j->res.generated_tokens, "total_tokens",
        j->res.prompt_tokens + j->res.generated_tokens, "prompt_tokens_details",
        "cached_tokens", j->res.cached_tokens, "timings", "prompt_n", j->res.prompt_tokens,
        "prompt_ms", ms(j->res.prompt_seconds), "predicted_n", j->res.generated_tokens,
        "predicted_ms", ms(j->res.generate_seconds), "cache_n", j->res.cached_tokens);
}

/* Back on an HTTP thread, the completion done. */
static void answer(struct http_req *req)
{
    struct chat_job *j = req->user;

    req->user = NULL;
    atomic_fetch_sub(&running, 1);
    if (j->rc == FMD_ETIMEOUT) {
        http_add_header(req, "Retry-After", "5");
        http_problem(req, FMD_EUNAVAIL, "model_timeout", j->err.msg, NULL);
    } else if (j->rc) {
        http_problem_err(req, &j->err);
    } else {
        http_send_json(req, 200, completion_json(j));
    }
    job_free(j);
}

static void *run_completion(void *arg)
{
    struct chat_job *j = arg;

    j->rc = ai_engine_chat(j->engine, &j->areq, &j->res, &j->err);
    http_resume(j->req);    /* the last touch: answer() may run at once */
    return NULL;
}

void api_ai_chat_completions(struct http_req *req)
{
    struct app *app = req->app;
    struct principal *pr = api_auth(req);
    struct chat_job *j = NULL;
    pthread_attr_t attr;
    pthread_t t;

    if (!pr)
        return;
    if (!may_chat(pr)) {
        http_problem(req, FMD_EFORBIDDEN, NULL, "chat completions need the editor role", NULL);
        return;
    }
    if (!(j = fmd_calloc(1, sizeof(*j)))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return;
    }
    j->req = req;
    j->engine = app->ai;
    j->started_ms = (uint64_t)clock_wall_ms();
    if (!(j->body = api_body_object(req)) || read_messages(req, j) || read_format(req, j) ||
        read_options(req, j))
        goto fail;
    if (!app->ai || !strcmp(ai_engine_model_id(app->ai), "rules")) {
        http_problem(req, FMD_EUNAVAIL, "no_model",
                     "no model is loaded here (start formd with --ai-model or --ai-openai)",
                     NULL);
        goto fail;
    }
    if (atomic_fetch_add(&running, 1) >= CHAT_MAX_RUNNING) {
        atomic_fetch_sub(&running, 1);
        http_add_header(req, "Retry-After", "2");
        http_problem(req, FMD_EBUSY, NULL, "the model is busy with other completions", NULL);
        goto fail;
    }
    j->areq.task = "chat";
    j->areq.limits.timeout_ms = app->cfg->ai_timeout;
    http_extend_deadline(req, app->cfg->ai_timeout);
    req->user = j;
    http_suspend(req, answer);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, run_completion, j)) {
        j->rc = fmd_errf(&j->err, FMD_EBUSY, "cannot start a thread for the completion");
        http_resume(req);
    }
    pthread_attr_destroy(&attr);
    return;
fail:
    job_free(j);
}

void api_ai_models(struct http_req *req)
{
    struct app *app = req->app;
    struct principal *pr = api_auth(req);
    const char *id;

    if (!pr)
        return;
    id = app->ai ? ai_engine_model_id(app->ai) : "rules";
    if (!strcmp(id, "rules")) {
        http_send_json(req, 200, json_pack("{s:s, s:[]}", "object", "list", "data"));
        return;
    }
    http_send_json(req, 200, json_pack("{s:s, s:[{s:s, s:s, s:I, s:s}]}", "object", "list",
                                       "data", "id", id, "object", "model", "created",
                                       (json_int_t)(app->started_ms / 1000), "owned_by",
                                       "formd"));
}
