/*
 * openai.c - the openai provider: any OpenAI-compatible server over HTTP
 * (llama.cpp's server, Ollama, vLLM), config syntax in openai.h.
 *
 * One completion is one POST to BASE_URL/v1/chat/completions:
 *
 *   {"model": MODEL, "messages": [{"role": "system", "content": prefix},
 *                                 {"role": "user", "content": prompt}],
 *    "max_tokens": N, "temperature": T, "seed": S, "stream": false,
 *    "grammar": GBNF}
 *
 * (no system message without a prefix, no "grammar" without a grammar).
 * "grammar" is llama.cpp's server's member: it constrains the output to the
 * GBNF. Servers that do not know it (Ollama, vLLM, hosted APIs) ignore it,
 * so whoever asked for a grammar still validates what comes back; the caps
 * say AI_CAP_GRAMMAR because the server formd is built to pair with honours
 * it. The answer read is choices[0].message.content, usage.prompt_tokens and
 * usage.completion_tokens, finish_reason "length" (truncated) and, from
 * llama.cpp, timings.prompt_ms / timings.predicted_ms / timings.cache_n.
 *
 * Outbound rule (DESIGN.md, "Command line"): like webhooks, the host is
 * resolved once per completion, every address must pass the SSRF check
 * (loopback and private addresses only with ai_openai_allow_private), and
 * curl connects only to the checked addresses (CURLOPT_RESOLVE) and checks
 * again at connect time; redirects are not followed, and no proxy (not even
 * one from http_proxy) is used.
 *
 * Time: limits.timeout_ms bounds the whole call, retries included (not the
 * DNS look-up of a host name, which getaddrinfo does without a limit). A
 * connection failure, 408, 429 or 5xx is retried at most twice, after
 * 250 ms then 500 ms (or the server's Retry-After), only while time is left.
 */
#include "ai/provider.h"
#include "ai/openai.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/mem.h"
#include "security/ssrf.h"
#include "core/banned.h"

#define DEFAULT_TOKENS      256
#define DEFAULT_TIMEOUT_MS  60000
#define CONNECT_TIMEOUT_MS  10000
#define MAX_RETRIES         2
#define BACKOFF_MS          250
#define ANSWER_MAX          (8u << 20)
#define KEY_MAX             4096

struct openai {
    char *endpoint;          /* BASE_URL/v1/chat/completions */
    char *model;
    char *key;               /* NULL: no Authorization header */
    char host[256];          /* for messages */
    char id[512];            /* model_id: "openai:host:port/model" */
};

static atomic_int allow_private;

void ai_openai_allow_private(int allow)
{
    atomic_store(&allow_private, allow ? 1 : 0);
}

/* ---- open ---- */

/* 1 if the URL [s, e) has a path after scheme://authority. */
static int has_path(const char *s, const char *e)
{
    const char *p = strstr(s, "://");

    p = p ? p + 3 : s;
    while (p < e && *p != '/')
        p++;
    return p < e;
}

/*
 * Re-sets err with code, its message's first "from" (the SSRF guard speaks
 * of webhooks) said as "to", or prefixed with "to: " when it has none.
 */
static int reword(struct fmd_err *err, int code, const char *from, const char *to)
{
    char msg[2 * sizeof(err->msg) + 64];
    const char *at = strstr(err->msg, from);

    if (at)
        snprintf(msg, sizeof(msg), "%.*s%s%s", (int)(at - err->msg), err->msg, to,
                 at + strlen(from));
    else
        snprintf(msg, sizeof(msg), "%s: %s", to, err->msg);
    return fmd_errf(err, code, "%s", msg);
}

static void trim(char **s, char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t' || **s == '\n' || **s == '\r'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\n' ||
                       (*e)[-1] == '\r'))
        (*e)--;
}

/* The key from path into *out (fmd_malloc'd). FMD_EIO, FMD_EINVAL, FMD_ENOMEM. */
static int read_key(const char *path, char **out, struct fmd_err *err)
{
    char data[KEY_MAX + 1], *s = data, *e;
    FILE *f = fopen(path, "rb");
    size_t n, i;

    if (!f)
        return fmd_errf(err, FMD_EIO, "cannot read the api key file '%s': %s", path,
                        strerror(errno));
    n = fread(data, 1, sizeof(data), f);
    fclose(f);
    if (n > KEY_MAX)
        return fmd_errf(err, FMD_EINVAL, "the api key file '%s' is larger than %d bytes", path,
                        KEY_MAX);
    e = data + n;
    trim(&s, &e);
    if (s == e)
        return fmd_errf(err, FMD_EINVAL, "the api key file '%s' is empty", path);
    for (i = 0; s + i < e; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
            memset(data, 0, sizeof(data));
            return fmd_errf(err, FMD_EINVAL, "the api key in '%s' has a character not allowed in "
                            "a header", path);
        }
    *out = fmd_strndup(s, (size_t)(e - s));
    memset(data, 0, sizeof(data));
    return *out ? 0 : fmd_errf(err, FMD_ENOMEM, "out of memory");
}

static void openai_free(struct openai *o)
{
    if (!o)
        return;
    fmd_free(o->endpoint);
    fmd_free(o->model);
    if (o->key)
        memset(o->key, 0, strlen(o->key));
    fmd_free(o->key);
    fmd_free(o);
}

static int openai_open(struct ai_provider *p, const char *config, int threads,
                       struct fmd_err *err)
{
    struct openai *o = NULL;
    struct ssrf_target *t = NULL;
    char *copy = NULL, *part[3] = {NULL, NULL, NULL}, *s, *e;
    struct buf b;
    int rc = 0, np = 0;

    buf_init(&b, 4096);
    p->impl = NULL;
    if (!config || !*config) {
        rc = fmd_errf(err, FMD_EINVAL, "the openai provider needs BASE_URL[|MODEL][|API_KEY_FILE]");
        goto out;
    }
    if (!(copy = fmd_strdup(config)) || !(o = fmd_calloc(1, sizeof(*o))) ||
        !(t = fmd_calloc(1, sizeof(*t)))) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    for (s = copy; np < 3; np++) {
        char *bar = strchr(s, '|');
        e = bar ? bar : s + strlen(s);
        *e = '\0';
        trim(&s, &e);
        *e = '\0';
        part[np] = s;
        if (!bar)
            break;
        s = bar + 1;
    }
    if (np == 3) {
        rc = fmd_errf(err, FMD_EINVAL, "too many '|' parts in the openai config "
                      "(BASE_URL[|MODEL][|API_KEY_FILE])");
        goto out;
    }
    if (strpbrk(part[0], "?#")) {
        rc = fmd_errf(err, FMD_EINVAL, "the openai base url may not have a query or fragment");
        goto out;
    }
    if ((rc = ssrf_parse_url(part[0], t, err))) {
        rc = reword(err, FMD_EINVAL, "webhook url", "openai base url");
        goto out;
    }
    fmd_strlcpy(o->host, t->host, sizeof(o->host));
    /* As OpenAI's own clients do: BASE_URL/chat/completions when BASE_URL has
     * a path (".../v1", formd's ".../v1/ai"), the server's /v1 when it has none */
    e = part[0] + strlen(part[0]);
    while (e > part[0] && e[-1] == '/')
        e--;
    if ((rc = buf_add(&b, part[0], (size_t)(e - part[0]))) ||
        (rc = buf_adds(&b, has_path(part[0], e) ? "/chat/completions"
                                                : "/v1/chat/completions")) ||
        !(o->endpoint = buf_detach(&b, NULL)) ||
        !(o->model = fmd_strdup(part[1] && *part[1] ? part[1] : "default"))) {
        rc = fmd_errf(err, rc == FMD_ETOOBIG ? FMD_EINVAL : FMD_ENOMEM,
                      rc == FMD_ETOOBIG ? "the openai base url is too long" : "out of memory");
        goto out;
    }
    if (part[2] && *part[2] && (rc = read_key(part[2], &o->key, err)))
        goto out;
    snprintf(o->id, sizeof(o->id), "openai:%s:%d/%s", t->host, t->port, o->model);
    p->impl = o;
    o = NULL;
out:
    openai_free(o);
    fmd_free(t);
    fmd_free(copy);
    buf_release(&b);
    return rc;
}

static void openai_close(struct ai_provider *p)
{
    openai_free(p->impl);
    p->impl = NULL;
}

static const char *openai_model_id(struct ai_provider *p)
{
    return ((struct openai *)p->impl)->id;
}

/* ---- one request ---- */

static size_t keep(char *data, size_t size, size_t n, void *arg)
{
    return buf_add(arg, data, size * n) ? 0 : size * n;   /* 0 makes curl stop: too big */
}

/* Refuses at connect time any address the SSRF check would refuse. */
static curl_socket_t open_checked(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    if (!ssrf_addr_allowed(&a->addr, *(const int *)arg))
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype, a->protocol);
}

static int64_t now_ms(void)
{
    return (int64_t)(clock_mono_ns() / 1000000);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/* The request body, fmd_malloc'd; NULL for out of memory. */
static char *request_body(const struct openai *o, const struct ai_request *req)
{
    const struct ai_limits *l = &req->limits;
    json_t *msgs = json_array(), *body = NULL;
    char *text = NULL;

    if (!msgs)
        return NULL;
    for (size_t i = 0; req->messages && i < req->n_messages; i++)
        if (json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", req->messages[i].role,
                                                  "content", req->messages[i].content)))
            goto out;
    if (req->messages) {
        /* the conversation as it is */
    } else if (req->prefix && *req->prefix &&
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content",
                                              req->prefix)))
        goto out;
    if (!req->messages &&
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content",
                                              req->prompt)))
        goto out;
    body = json_pack("{s:s, s:O, s:i, s:f, s:I, s:b}", "model", o->model, "messages", msgs,
                     "max_tokens", l->max_tokens > 0 ? l->max_tokens : DEFAULT_TOKENS,
                     "temperature", l->temperature > 0 ? l->temperature : 0.0,
                     "seed", (json_int_t)l->seed, "stream", 0);
    if (!body || (req->grammar && json_object_set_new(body, "grammar",
                                                      json_string(req->grammar))))
        goto out;
    text = json_encode(body);
out:
    json_decref(body);
    json_decref(msgs);
    return text;
}

/* The server's own words from an error body: {"error": {"message"}} or {"error": "..."}. */
static void server_says(const struct buf *answer, char *out, size_t cap)
{
    json_t *doc = NULL, *e;
    const char *msg = NULL;
    size_t i;

    out[0] = '\0';
    if (json_parse(answer->p, answer->len, NULL, &doc, NULL))
        return;
    e = json_object_get(doc, "error");
    msg = json_is_string(e) ? json_string_value(e) : json_get_str(e, "message");
    if (!msg)
        msg = json_get_str(doc, "message");
    if (!msg)
        msg = json_get_str(doc, "detail");   /* RFC 9457 (formd's own endpoint) */
    if (msg) {
        snprintf(out, cap, ": %s", msg);
        for (i = 0; out[i]; i++)
            if ((unsigned char)out[i] < 0x20)
                out[i] = ' ';
    }
    json_decref(doc);
}

struct call {
    const struct openai *o;
    const struct ssrf_target *t;
    struct curl_slist *headers, *resolve;
    const char *body;
    const struct ai_request *req;   /* for its cancelled() */
    int64_t deadline;        /* now_ms() by which it must be over */
    struct buf answer;
    int retryable;           /* the failure may pass: try again */
    int64_t retry_after_ms;  /* the server asked for this pause */
};

/* curl's progress callback: nonzero aborts the transfer once the caller cancels. */
static int progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
    const struct ai_request *req = arg;

    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return req && req->cancelled && req->cancelled(req->cancelled_arg);
}

/* One POST: 0 with c->answer holding a 2xx body, or an error with c->retryable. */
static int post(struct call *c, struct fmd_err *err)
{
    int allow = atomic_load(&allow_private);
    int64_t left = c->deadline - now_ms();
    CURL *curl = NULL;
    CURLcode cc;
    long status = 0;
    char says[200];
    int rc = 0;

    c->retryable = 0;
    c->retry_after_ms = 0;
    buf_reset(&c->answer);
    if (left <= 0)
        return fmd_errf(err, FMD_ETIMEOUT, "the ai server did not answer within the time limit");
    if (!(curl = curl_easy_init()))
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    curl_easy_setopt(curl, CURLOPT_URL, c->o->endpoint);
    if (c->resolve)
        curl_easy_setopt(curl, CURLOPT_RESOLVE, c->resolve);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_checked);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &allow);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");   /* no http_proxy detour past the pinning */
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(left < CONNECT_TIMEOUT_MS ? left : CONNECT_TIMEOUT_MS));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)left);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->body));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &c->answer);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)c->req);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    cc = curl_easy_perform(curl);
    if (cc == CURLE_ABORTED_BY_CALLBACK) {
        rc = fmd_errf(err, FMD_ECANCELED, "the request was cancelled");
    } else if (cc == CURLE_OPERATION_TIMEDOUT && now_ms() >= c->deadline - 5) {
        rc = fmd_errf(err, FMD_ETIMEOUT, "the ai server did not answer within the time limit");
    } else if (cc == CURLE_WRITE_ERROR) {
        rc = fmd_errf(err, FMD_EINVAL, "the ai server's answer is larger than %u bytes",
                      ANSWER_MAX);
    } else if (cc != CURLE_OK) {
        c->retryable = cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
                       cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_GOT_NOTHING ||
                       cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR ||
                       cc == CURLE_PARTIAL_FILE;
        rc = fmd_errf(err, FMD_EUNAVAIL, "cannot reach the ai server '%s': %s", c->o->host,
                      curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299) {
            server_says(&c->answer, says, sizeof(says));
            if (status == 400 || status == 422) {
                rc = fmd_errf(err, FMD_EINVAL, "the ai server refused the request (%ld)%s",
                              status, says);
            } else {
                c->retryable = status == 408 || status == 429 || status >= 500;
                rc = fmd_errf(err, FMD_EUNAVAIL, "the ai server '%s' answered %ld%s",
                              c->o->host, status, says);
            }
            if (status == 429 || status == 503) {
                curl_off_t secs = 0;
                if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &secs) == CURLE_OK && secs > 0)
                    c->retry_after_ms = secs > 60 ? 60000 : (int64_t)secs * 1000;
            }
        }
    }
    curl_easy_cleanup(curl);
    return rc;
}

/* Reads the 2xx answer into res. */
static int parse_answer(const struct buf *answer, struct ai_result *res, struct fmd_err *err)
{
    json_t *doc = NULL, *msg, *usage, *timings;
    const char *content, *finish;
    struct fmd_err perr = {0};
    int rc = 0;

    if ((rc = json_parse(answer->p, answer->len, NULL, &doc, &perr))) {
        rc = fmd_errf(err, FMD_EINVAL, "unparseable answer from the ai server: %s", perr.msg);
        goto out;
    }
    msg = json_object_get(json_object_get(json_array_get(json_object_get(doc, "choices"), 0),
                                          "message"), "content");
    if (!(content = json_string_value(msg))) {
        rc = fmd_errf(err, FMD_EINVAL, "the ai server's answer has no "
                      "choices[0].message.content");
        goto out;
    }
    if (!(res->text = fmd_strndup(content, json_string_length(msg)))) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    usage = json_object_get(doc, "usage");
    res->prompt_tokens = (int)json_integer_value(json_object_get(usage, "prompt_tokens"));
    res->generated_tokens = (int)json_integer_value(json_object_get(usage, "completion_tokens"));
    finish = json_get_str(json_array_get(json_object_get(doc, "choices"), 0), "finish_reason");
    res->truncated = finish && !strcmp(finish, "length");
    timings = json_object_get(doc, "timings");
    res->prompt_seconds = json_number_value(json_object_get(timings, "prompt_ms")) / 1000;
    res->generate_seconds = json_number_value(json_object_get(timings, "predicted_ms")) / 1000;
    /* llama.cpp says how many prompt tokens came from its cache; OpenAI-style
     * servers say it in usage.prompt_tokens_details.cached_tokens */
    res->cached_tokens = (int)json_integer_value(json_object_get(timings, "cache_n"));
    if (!res->cached_tokens)
        res->cached_tokens = (int)json_integer_value(
            json_object_get(json_object_get(usage, "prompt_tokens_details"), "cached_tokens"));
    res->prefix_reused = res->cached_tokens > 0;
out:
    json_decref(doc);
    return rc;
}

static struct curl_slist *add_header(struct curl_slist *h, const char *line)
{
    struct curl_slist *next = curl_slist_append(h, line);
    if (!next)
        curl_slist_free_all(h);
    return next;
}

static int openai_complete(struct ai_provider *p, const struct ai_request *req,
                           struct ai_result *res, struct fmd_err *err)
{
    const struct openai *o = p->impl;
    long timeout = req->limits.timeout_ms > 0 ? req->limits.timeout_ms : DEFAULT_TIMEOUT_MS;
    struct call c = {.o = o};
    struct ssrf_target *t = NULL;
    char *body = NULL, auth[KEY_MAX + 32];
    uint64_t start_ns = clock_mono_ns();
    int64_t pause;
    int rc, attempt;

    memset(res, 0, sizeof(*res));
    buf_init(&c.answer, ANSWER_MAX);
    c.deadline = (int64_t)(start_ns / 1000000) + timeout;
    if (!req->prompt) {
        rc = fmd_errf(err, FMD_EINVAL, "no prompt");
        goto out;
    }
    if (!(t = fmd_calloc(1, sizeof(*t))) || !(body = request_body(o, req))) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = ssrf_check_url(o->endpoint, atomic_load(&allow_private), t, err))) {
        /* refused (the outbound rule), unknown or unresolvable now: not answering */
        rc = reword(err, rc == FMD_ENOMEM ? FMD_ENOMEM : FMD_EUNAVAIL, "webhook target",
                    "ai server");
        goto out;
    }
    c.t = t;
    c.body = body;
    c.req = req;
    /* a host name is pinned to the addresses checked; an IP literal needs nothing */
    if ((t->resolve_entry[0] && !(c.resolve = curl_slist_append(NULL, t->resolve_entry))) ||
        !(c.headers = add_header(NULL, "Content-Type: application/json")) ||
        !(c.headers = add_header(c.headers, "Accept: application/json")) ||
        !(c.headers = add_header(c.headers, "Expect:")) ||
        !(c.headers = add_header(c.headers, "User-Agent: formd-ai/1"))) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    if (o->key) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->key);
        c.headers = add_header(c.headers, auth);
        memset(auth, 0, sizeof(auth));
        if (!c.headers) {
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
            goto out;
        }
    }
    for (attempt = 0;; attempt++) {
        if (!(rc = post(&c, err)))
            break;
        if (!c.retryable || attempt == MAX_RETRIES)
            goto out;
        pause = c.retry_after_ms ? c.retry_after_ms : (int64_t)BACKOFF_MS << attempt;
        if (now_ms() + pause >= c.deadline)
            goto out;   /* no time for another try: the last error stands */
        sleep_ms(pause);
    }
    if ((rc = parse_answer(&c.answer, res, err)))
        goto out;
    if (res->generate_seconds <= 0)
        res->generate_seconds = (double)(clock_mono_ns() - start_ns) / 1e9;
out:
    if (rc) {
        ai_result_release(res);
        memset(res, 0, sizeof(*res));
    }
    if (c.headers) {
        struct curl_slist *h;
        for (h = c.headers; h; h = h->next)   /* the key's copy too */
            memset(h->data, 0, strlen(h->data));
    }
    curl_slist_free_all(c.headers);
    curl_slist_free_all(c.resolve);
    buf_release(&c.answer);
    fmd_free(body);
    fmd_free(t);
    return rc;
}

const struct ai_provider_vtable ai_openai_provider = {
    .version = 1,
    .name = "openai",
    .caps = AI_CAP_GRAMMAR,
    .open = openai_open,
    .close = openai_close,
    .complete = openai_complete,
    .model_id = openai_model_id,
};
