/*
 * test_openai.c - the openai provider (src/ai/openai.c) against a tiny
 * OpenAI-compatible server run in this process: a thread answering canned
 * JSON on 127.0.0.1, standing in for llama.cpp's server (which this build
 * does not include). Checks the request sent (model, messages, limits,
 * grammar, Bearer key), the answer read (text, usage), retries, timeouts,
 * refused connections, the outbound address rule and bad answers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ai/openai.h"
#include "ai/provider.h"
#include "core/clock.h"
#include "core/mem.h"
#include "core/banned.h"

/* ---- the stand-in server ---- */

struct canned {
    int status;
    const char *body;
    int delay_ms;            /* before answering; cut short if the client leaves */
};

static struct {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    struct canned script[8]; /* answers in turn; the last one repeats */
    int nscript, next;
    int requests;
    char last[1 << 16];      /* the last request: head and body */
    size_t last_len;
    volatile int stop;
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

static const char *const ok_body =
    "{\"id\": \"c1\", \"object\": \"chat.completion\", \"model\": \"tiny\","
    " \"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\","
    " \"content\": \"{\\\"a\\\": 1}\"}, \"finish_reason\": \"stop\"}],"
    " \"usage\": {\"prompt_tokens\": 12, \"completion_tokens\": 5, \"total_tokens\": 17},"
    " \"timings\": {\"prompt_ms\": 250.0, \"predicted_ms\": 500.0, \"cache_n\": 9}}";

static void script(int n, const struct canned *c)
{
    pthread_mutex_lock(&srv.mu);
    memcpy(srv.script, c, (size_t)n * sizeof(*c));
    srv.nscript = n;
    srv.next = 0;
    srv.requests = 0;
    srv.last_len = 0;
    srv.last[0] = '\0';
    pthread_mutex_unlock(&srv.mu);
}

static int requests(void)
{
    int n;
    pthread_mutex_lock(&srv.mu);
    n = srv.requests;
    pthread_mutex_unlock(&srv.mu);
    return n;
}

/* The last request's body, parsed (the caller decrefs). */
static json_t *last_body(void)
{
    const char *b = strstr(srv.last, "\r\n\r\n");
    json_error_t e;
    json_t *v;

    assert_non_null(b);
    if (!(v = json_loads(b + 4, 0, &e)))
        fail_msg("request body does not parse: %s: %s", e.text, b + 4);
    return v;
}

static void serve_one(int c)
{
    char req[1 << 16], head[256];
    size_t len = 0, need = 0;
    struct canned a;
    const char *end = NULL;

    while (len < sizeof(req) - 1) {
        ssize_t r = recv(c, req + len, sizeof(req) - 1 - len, 0);
        if (r <= 0)
            return;
        len += (size_t)r;
        req[len] = '\0';
        if (!end && (end = strstr(req, "\r\n\r\n"))) {
            const char *cl = strcasestr(req, "\r\ncontent-length:");
            need = (size_t)(end + 4 - req) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (end && len >= need)
            break;
    }
    pthread_mutex_lock(&srv.mu);
    memcpy(srv.last, req, len + 1);
    srv.last_len = len;
    srv.requests++;
    a = srv.script[srv.next < srv.nscript ? srv.next : srv.nscript - 1];
    srv.next++;
    pthread_mutex_unlock(&srv.mu);
    if (a.delay_ms) {
        struct pollfd p = {.fd = c, .events = POLLIN};
        if (poll(&p, 1, a.delay_ms) > 0)
            return;   /* the client gave up */
    }
    snprintf(head, sizeof(head),
             "HTTP/1.1 %d Canned\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
             a.status, strlen(a.body), a.status == 429 ? "Retry-After: 0\r\n" : "");
    if (send(c, head, strlen(head), MSG_NOSIGNAL) > 0)
        send(c, a.body, strlen(a.body), MSG_NOSIGNAL);
}

static void *serve(void *arg)
{
    while (!srv.stop) {
        struct pollfd p = {.fd = srv.fd, .events = POLLIN};
        int c;
        if (poll(&p, 1, 50) <= 0)
            continue;
        if ((c = accept(srv.fd, NULL, NULL)) < 0)
            continue;
        serve_one(c);
        close(c);
    }
    return NULL;
}

/* A listening socket on 127.0.0.1 and a free port; *port set. */
static int listen_local(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16) ||
        getsockname(fd, (struct sockaddr *)&a, &al))
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

/* ---- helpers ---- */

static char tmpdir[64];

static struct ai_provider *open_ok(const char *config)
{
    struct ai_provider *p = NULL;
    struct fmd_err err = {0};
    if (ai_open(&ai_openai_provider, config, 0, &p, &err))
        fail_msg("open '%s': %s", config, err.msg);
    return p;
}

static struct ai_provider *open_local(const char *suffix)
{
    char config[512];
    snprintf(config, sizeof(config), "http://127.0.0.1:%d%s", srv.port, suffix);
    return open_ok(config);
}

static const struct ai_request simple = {
    .prompt = "Say hello.",
    .limits = {.max_tokens = 8, .timeout_ms = 5000},
};

static int complete(struct ai_provider *p, const struct ai_request *req, struct ai_result *res,
                    struct fmd_err *err)
{
    int rc = ai_complete(p, req, res, err);
    if (rc) {
        assert_null(res->text);
        assert_int_equal(err->code, rc);
    }
    return rc;
}

static int64_t ms_now(void)
{
    return (int64_t)(clock_mono_ns() / 1000000);
}

/* ---- cases ---- */

static void test_completion(void **state)
{
    struct ai_provider *p = open_local("|tiny-model");
    struct ai_request req = {
        .prefix = "You extract form data as JSON.",
        .prompt = "Text: my email is a@b.example",
        .grammar = "root ::= \"{\" [^}]* \"}\"",
        .limits = {.max_tokens = 17, .timeout_ms = 5000, .temperature = 0.5, .seed = 42},
    };
    struct ai_result res;
    struct fmd_err err = {0};
    struct canned ok = {200, ok_body, 0};
    json_t *body;
    char want_id[128];

    script(1, &ok);
    assert_int_equal(complete(p, &req, &res, &err), 0);
    assert_string_equal(res.text, "{\"a\": 1}");
    assert_int_equal(res.prompt_tokens, 12);
    assert_int_equal(res.generated_tokens, 5);
    assert_int_equal(res.truncated, 0);
    assert_int_equal(res.prefix_reused, 1);
    assert_true(res.prompt_seconds > 0.24 && res.prompt_seconds < 0.26);
    assert_true(res.generate_seconds > 0.49 && res.generate_seconds < 0.51);
    ai_result_release(&res);

    assert_int_equal(requests(), 1);
    assert_true(!strncmp(srv.last, "POST /v1/chat/completions HTTP/1.1\r\n", 36));
    assert_non_null(strcasestr(srv.last, "\r\nContent-Type: application/json\r\n"));
    assert_null(strcasestr(srv.last, "\r\nAuthorization:"));
    body = last_body();
    assert_string_equal(json_string_value(json_object_get(body, "model")), "tiny-model");
    assert_int_equal(json_integer_value(json_object_get(body, "max_tokens")), 17);
    assert_int_equal(json_integer_value(json_object_get(body, "seed")), 42);
    assert_true(json_real_value(json_object_get(body, "temperature")) == 0.5);
    assert_true(json_is_false(json_object_get(body, "stream")));
    assert_string_equal(json_string_value(json_object_get(body, "grammar")), req.grammar);
    {
        json_t *m = json_object_get(body, "messages");
        assert_int_equal(json_array_size(m), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "role")),
                            "system");
        assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "content")),
                            req.prefix);
        assert_string_equal(json_string_value(json_object_get(json_array_get(m, 1), "role")),
                            "user");
        assert_string_equal(json_string_value(json_object_get(json_array_get(m, 1), "content")),
                            req.prompt);
    }
    json_decref(body);

    snprintf(want_id, sizeof(want_id), "openai:127.0.0.1:%d/tiny-model", srv.port);
    assert_string_equal(ai_model_id(p), want_id);
    assert_int_equal(ai_openai_provider.caps & AI_CAP_GRAMMAR, AI_CAP_GRAMMAR);
    ai_close(p);
}

/* No prefix, no grammar: neither is sent; a /v1 base is not doubled. */
static void test_minimal_request(void **state)
{
    struct ai_provider *p = open_local("/v1/");
    struct ai_result res;
    struct fmd_err err = {0};
    struct canned c = {200, "{\"choices\": [{\"message\": {\"content\": \"hi\"},"
                            " \"finish_reason\": \"length\"}]}", 0};
    json_t *body;

    script(1, &c);
    assert_int_equal(complete(p, &simple, &res, &err), 0);
    assert_string_equal(res.text, "hi");
    assert_int_equal(res.truncated, 1);
    assert_int_equal(res.prompt_tokens, 0);      /* no usage: unknown */
    assert_int_equal(res.prefix_reused, 0);
    assert_true(res.generate_seconds > 0);       /* measured here instead */
    ai_result_release(&res);
    assert_true(!strncmp(srv.last, "POST /v1/chat/completions ", 26));
    body = last_body();
    assert_string_equal(json_string_value(json_object_get(body, "model")), "default");
    assert_null(json_object_get(body, "grammar"));
    assert_int_equal(json_array_size(json_object_get(body, "messages")), 1);
    json_decref(body);
    ai_close(p);
}

static void test_retry(void **state)
{
    struct ai_provider *p = open_local("");
    struct ai_result res;
    struct fmd_err err = {0};
    struct canned fail_then_ok[] = {{500, "{\"error\": {\"message\": \"busy\"}}", 0},
                                    {200, ok_body, 0}};
    struct canned limited_then_ok[] = {{429, "{\"error\": \"slow down\"}", 0}, {200, ok_body, 0}};
    struct canned always_503 = {503, "{\"error\": {\"message\": \"loading model\"}}", 0};

    script(2, fail_then_ok);
    assert_int_equal(complete(p, &simple, &res, &err), 0);
    assert_string_equal(res.text, "{\"a\": 1}");
    ai_result_release(&res);
    assert_int_equal(requests(), 2);

    script(2, limited_then_ok);
    assert_int_equal(complete(p, &simple, &res, &err), 0);
    ai_result_release(&res);
    assert_int_equal(requests(), 2);

    /* at most two retries, then the server's own words */
    script(1, &always_503);
    assert_int_equal(complete(p, &simple, &res, &err), FMD_EUNAVAIL);
    assert_int_equal(requests(), 3);
    assert_non_null(strstr(err.msg, "503"));
    assert_non_null(strstr(err.msg, "loading model"));
    ai_close(p);
}

static void test_timeout(void **state)
{
    struct ai_provider *p = open_local("");
    struct ai_request req = simple;
    struct ai_result res;
    struct fmd_err err = {0};
    struct canned slow = {200, ok_body, 3000};
    int64_t t0;

    script(1, &slow);
    req.limits.timeout_ms = 300;
    t0 = ms_now();
    assert_int_equal(complete(p, &req, &res, &err), FMD_ETIMEOUT);
    assert_true(ms_now() - t0 < 1500);
    assert_int_equal(requests(), 1);   /* no retry past the deadline */

    /* retries stay within the time limit too */
    {
        struct canned busy = {500, "{}", 0};
        script(1, &busy);
        req.limits.timeout_ms = 400;
        t0 = ms_now();
        assert_int_equal(complete(p, &req, &res, &err), FMD_EUNAVAIL);
        assert_true(ms_now() - t0 < 1000);
        assert_int_equal(requests(), 2);   /* 250 ms pause, then no time for 500 more */
    }
    ai_close(p);
}

static void test_connection_refused(void **state)
{
    int port, fd = listen_local(&port);
    char config[64];
    struct ai_provider *p;
    struct ai_result res;
    struct fmd_err err = {0};

    assert_true(fd >= 0);
    close(fd);   /* nothing listens there now */
    snprintf(config, sizeof(config), "http://127.0.0.1:%d", port);
    p = open_ok(config);
    assert_int_equal(complete(p, &simple, &res, &err), FMD_EUNAVAIL);
    assert_non_null(strstr(err.msg, "cannot reach the ai server"));
    ai_close(p);
}

static void test_private_targets(void **state)
{
    struct ai_provider *p = open_local("");
    struct ai_result res;
    struct fmd_err err = {0};
    struct canned ok = {200, ok_body, 0};

    script(1, &ok);
    ai_openai_allow_private(0);
    assert_int_equal(complete(p, &simple, &res, &err), FMD_EUNAVAIL);
    assert_non_null(strstr(err.msg, "loopback"));
    assert_non_null(strstr(err.msg, "--allow-private-targets"));
    assert_int_equal(requests(), 0);   /* refused before any connection */
    ai_close(p);

    /* a name resolving to loopback is refused just the same */
    {
        char config[64];
        snprintf(config, sizeof(config), "http://localhost:%d", srv.port);
        p = open_ok(config);
        assert_int_equal(complete(p, &simple, &res, &err), FMD_EUNAVAIL);
        assert_non_null(strstr(err.msg, "loopback"));
        assert_int_equal(requests(), 0);
        /* allowed, the name is pinned to the checked address and works */
        ai_openai_allow_private(1);
        assert_int_equal(complete(p, &simple, &res, &err), 0);
        ai_result_release(&res);
        assert_int_equal(requests(), 1);
        ai_close(p);
    }
    ai_openai_allow_private(1);
}

static void test_bad_answers(void **state)
{
    static const struct { int status; const char *body; int code; const char *msg; } cases[] = {
        {200, "not json", FMD_EINVAL, "unparseable"},
        {200, "{\"choices\": []}", FMD_EINVAL, "choices[0].message.content"},
        {200, "{\"choices\": [{\"message\": {\"content\": null}}]}", FMD_EINVAL, "content"},
        {400, "{\"error\": {\"message\": \"failed to parse grammar\"}}", FMD_EINVAL,
         "failed to parse grammar"},
        {404, "{}", FMD_EUNAVAIL, "404"},
        {401, "{\"error\": \"bad key\"}", FMD_EUNAVAIL, "bad key"},
    };
    struct ai_provider *p = open_local("");
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct canned c = {cases[i].status, cases[i].body, 0};
        struct ai_result res;
        struct fmd_err err = {0};
        script(1, &c);
        assert_int_equal(complete(p, &simple, &res, &err), cases[i].code);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
        assert_int_equal(requests(), 1);   /* none of these is worth a retry */
    }
    {
        struct ai_request req = simple;
        struct ai_result res;
        struct fmd_err err = {0};
        req.prompt = NULL;
        assert_int_equal(complete(p, &req, &res, &err), FMD_EINVAL);
    }
    ai_close(p);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_api_key(void **state)
{
    char path[128], config[256];
    struct ai_provider *p;
    struct ai_result res;
    struct fmd_err err = {0};
    struct canned ok = {200, ok_body, 0};

    snprintf(path, sizeof(path), "%s/key", tmpdir);
    write_file(path, "  sk-test-123\n");
    snprintf(config, sizeof(config), "http://127.0.0.1:%d | llama3 | %s", srv.port, path);
    p = open_ok(config);
    script(1, &ok);
    assert_int_equal(complete(p, &simple, &res, &err), 0);
    ai_result_release(&res);
    assert_non_null(strstr(srv.last, "\r\nAuthorization: Bearer sk-test-123\r\n"));
    {
        json_t *body = last_body();
        assert_string_equal(json_string_value(json_object_get(body, "model")), "llama3");
        json_decref(body);
    }
    assert_null(strstr(ai_model_id(p), "sk-test"));
    ai_close(p);
}

static void test_config_errors(void **state)
{
    static const struct { const char *config; int code; const char *msg; } cases[] = {
        {"", FMD_EINVAL, "BASE_URL"},
        {"ftp://example.com", FMD_EINVAL, "openai base url"},
        {"http://user:pw@example.com", FMD_EINVAL, "openai base url"},
        {"http://127.1:8080", FMD_EINVAL, "openai base url"},
        {"http://example.com/?a=b", FMD_EINVAL, "query"},
        {"http://example.com|m|k|x", FMD_EINVAL, "too many"},
        {"http://example.com|m|/nonexistent/key", FMD_EIO, "cannot read the api key file"},
    };
    char path[128], config[256];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ai_provider *p = (struct ai_provider *)1;
        struct fmd_err err = {0};
        assert_int_equal(ai_open(&ai_openai_provider, cases[i].config, 0, &p, &err),
                         cases[i].code);
        assert_null(p);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("'%s': '%s' lacks '%s'", cases[i].config, err.msg, cases[i].msg);
    }
    {
        struct ai_provider *p = NULL;
        struct fmd_err err = {0};
        assert_int_equal(ai_open(&ai_openai_provider, NULL, 0, &p, &err), FMD_EINVAL);
        snprintf(path, sizeof(path), "%s/empty", tmpdir);
        write_file(path, " \n");
        snprintf(config, sizeof(config), "http://example.com||%s", path);
        assert_int_equal(ai_open(&ai_openai_provider, config, 0, &p, &err), FMD_EINVAL);
        assert_non_null(strstr(err.msg, "empty"));
    }
}

static void test_alloc_failure(void **state)
{
    char path[128], config[256];
    struct canned ok = {200, ok_body, 0};
    long n;

    snprintf(path, sizeof(path), "%s/key2", tmpdir);
    write_file(path, "k");
    snprintf(config, sizeof(config), "http://127.0.0.1:%d|m|%s", srv.port, path);
    script(1, &ok);
    for (n = 1;; n++) {
        struct ai_provider *p = NULL;
        struct ai_result res = {0};
        struct fmd_err err = {0};
        int rc;

        fmd_mem_fail_at(n);
        rc = ai_open(&ai_openai_provider, config, 0, &p, &err);
        if (!rc)
            rc = ai_complete(p, &simple, &res, &err);
        fmd_mem_fail_at(0);
        ai_close(p);
        if (rc == 0) {
            assert_string_equal(res.text, "{\"a\": 1}");
            ai_result_release(&res);
            break;
        }
        /* json_parse of the answer reports its allocation failure as unparseable */
        if (rc != FMD_ENOMEM && rc != FMD_EINVAL)
            fail_msg("allocation %ld: %d (%s)", n, rc, err.msg);
        assert_null(res.text);
        assert_true(n < 10000);
    }
    assert_true(n > 5);
}

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/formd-test-openai-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    if ((srv.fd = listen_local(&srv.port)) < 0)
        return -1;
    ai_openai_allow_private(1);
    return pthread_create(&srv.thread, NULL, serve, NULL);
}

static int teardown(void **state)
{
    char cmd[128];
    srv.stop = 1;
    pthread_join(srv.thread, NULL);
    close(srv.fd);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_completion),
        cmocka_unit_test(test_minimal_request),
        cmocka_unit_test(test_retry),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_private_targets),
        cmocka_unit_test(test_bad_answers),
        cmocka_unit_test(test_api_key),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_alloc_failure),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_set_alloc_funcs(fmd_malloc, fmd_free);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
