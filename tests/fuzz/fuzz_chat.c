/*
 * fuzz_chat.c - libFuzzer target for the request reading of
 * POST /v1/ai/chat/completions (src/api/chat.c, included: its readers are
 * static): messages (string or text-part contents, roles, the 256-message
 * and 256 KiB limits), response_format (json_object, or json_schema through
 * the grammar compiler) or grammar, and the options (stream, tools, model,
 * max_tokens, max_completion_tokens, seed, n, temperature).
 *
 * The input is the body, parsed with json_parse and the server's default
 * limits as http_body_json does. The readers answer through http_problem on
 * a request made here (no connection: they never read headers). Checks: a
 * reader either fills the job within the documented limits and answers
 * nothing, or answers a 4xx problem JSON (413 for too much text) and returns
 * -1; never both, never neither. No model runs.
 * Seeds: corpus/fuzz_chat/; dictionary: fuzz_chat.dict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/api/chat.c"
#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_answer(struct http_req *req, int rc)
{
    json_t *v;

    if (rc == 0) {
        if (req->status)
            abort();
        return;
    }
    if (rc != -1 || (req->status != 400 && req->status != 413))
        abort();
    v = json_loadb(req->out.p, req->out.len, 0, NULL);
    if (!v || json_integer_value(json_object_get(v, "status")) != req->status ||
        !json_is_string(json_object_get(v, "detail")))
        abort();
    json_decref(v);
}

static void check_job(const struct chat_job *j)
{
    size_t i, total = 0;

    if (j->n < 1 || j->n > CHAT_MAX_MESSAGES || j->areq.n_messages != j->n)
        abort();
    for (i = 0; i < j->n; i++) {
        const char *r = j->messages[i].role;
        if (!j->messages[i].content ||
            (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant")))
            abort();
        total += strlen(j->messages[i].content);
    }
    if (total > CHAT_TEXT_MAX)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_req req;
    struct chat_job *j;
    struct fmd_err err = {0};
    json_t *body = NULL;
    int rc;

    if (json_parse((const char *)data, size, NULL, &body, &err) || !json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    memset(&req, 0, sizeof(req));
    arena_init(&req.arena);
    buf_init(&req.out, 1 << 16);
    req.path = "/v1/ai/chat/completions";
    req.file_fd = -1;
    if (!(j = fmd_calloc(1, sizeof(*j))))
        abort();
    j->req = &req;
    j->body = body;

    rc = read_messages(&req, j);
    check_answer(&req, rc);
    if (rc == 0) {
        check_job(j);
        rc = read_format(&req, j);
        check_answer(&req, rc);
    }
    if (rc == 0) {
        rc = read_options(&req, j);
        check_answer(&req, rc);
    }
    if (rc == 0 && (j->areq.limits.max_tokens < 1 || j->areq.limits.max_tokens > CHAT_TOKENS_MAX ||
                    !(j->areq.limits.temperature >= 0 && j->areq.limits.temperature <= 2)))
        abort();
    if (rc == 0 && j->areq.grammar && !strstr(j->areq.grammar, "root") &&
        !json_is_string(json_object_get(body, "grammar")))
        abort();

    job_free(j);
    arena_release(&req.arena);
    buf_release(&req.out);
    return 0;
}
