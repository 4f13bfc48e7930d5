/*
 * test_llama.c - the in-process llama.cpp provider (src/ai/llama.c) on the
 * "tiny" random-weights model (src/ai/mkmodel.c) written into the test's own
 * temporary directory: loading, deterministic greedy output, output under a
 * grammar, the cached prefix giving the same output as a fresh one,
 * max_tokens, timeouts, bad grammars, missing models, and two threads
 * sharing the one model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/mkmodel.h"
#include "ai/provider.h"
#include "core/mem.h"
#include "core/banned.h"

static char dir[] = "/tmp/test_llama.XXXXXX";
static char model[256];
static struct ai_provider *prov;

/* Each test needs the model open: a CPU without what llama.cpp was built for skips. */
#define NEED_MODEL() do { if (!prov) skip(); } while (0)

#define PREFIX "You are a form assistant. Answer with the data only.\n"
#define JSON_GRAMMAR "root ::= \"{\" \"\\\"a\\\"\" \":\" [0-9]{1,3} \"}\"\n"

static int group_setup(void **state)
{
    struct fmd_err err = {0};
    int rc;

    if (!mkdtemp(dir))
        return -1;
    snprintf(model, sizeof(model), "%s/tiny.gguf", dir);
    if ((rc = ai_mkmodel(model, "tiny", 42, &err))) {
        fprintf(stderr, "mkmodel: %d %s\n", rc, err.msg);
        return -1;
    }
    /* One thread: the tiny model gains nothing from more, and the suite runs in parallel. */
    rc = ai_open(&ai_llama_provider, model, 1, &prov, &err);
    if (rc == FMD_EUNAVAIL) {
        /* A CPU without the extensions llama.cpp was built for: nothing to test. */
        print_message("skipping: %s\n", err.msg);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "open: %d %s\n", rc, err.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    ai_close(prov);
    unlink(model);
    rmdir(dir);
    return 0;
}

/* Completes into *res; fails the test unless rc is want. */
static void run(const char *prefix, const char *prompt, const char *grammar, int max_tokens,
                int want, struct ai_result *res)
{
    struct ai_request req = {.prefix = prefix, .prompt = prompt, .grammar = grammar,
                             .limits = {.max_tokens = max_tokens}};
    struct fmd_err err = {0};
    int rc = ai_complete(prov, &req, res, &err);

    if (rc != want)
        fail_msg("complete gave %d (%s), wanted %d", rc, err.msg, want);
    if (rc)
        assert_null(res->text);
    else
        assert_non_null(res->text);
}

static void test_open_and_identity(void **state)
{
    struct ai_provider *p = NULL;
    struct fmd_err err = {0};
    char want[64];
    FILE *f;
    long size;

    NEED_MODEL();
    f = fopen(model, "rb");

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    fclose(f);
    snprintf(want, sizeof(want), "tiny.gguf:%ld", size);
    assert_string_equal(ai_model_id(prov), want);
    assert_string_equal(ai_llama_provider.name, "llama");
    assert_int_equal(ai_llama_provider.caps, AI_CAP_GRAMMAR | AI_CAP_PREFIX);

    assert_int_equal(ai_open(&ai_llama_provider, "/nonexistent/model.gguf", 1, &p, &err),
                     FMD_EIO);
    assert_null(p);
    assert_non_null(strstr(err.msg, "/nonexistent/model.gguf"));
    assert_int_equal(ai_open(&ai_llama_provider, dir, 1, &p, &err), FMD_EIO);
    assert_int_equal(ai_open(&ai_llama_provider, "", 1, &p, &err), FMD_EINVAL);
}

/* A file that is not a GGUF model is FMD_EIO too, not a crash. */
static void test_not_a_model(void **state)
{
    struct ai_provider *p = NULL;
    struct fmd_err err = {0};
    char path[300];
    FILE *f;

    NEED_MODEL();

    snprintf(path, sizeof(path), "%s/junk.gguf", dir);
    assert_non_null(f = fopen(path, "wb"));
    fputs("GGUF but not really a model", f);
    fclose(f);
    assert_int_equal(ai_open(&ai_llama_provider, path, 1, &p, &err), FMD_EIO);
    assert_null(p);
    unlink(path);
}

static void test_greedy_is_deterministic(void **state)
{
    struct ai_result a, b;

    NEED_MODEL();

    run(NULL, "Name: Ada Lovelace", NULL, 16, 0, &a);
    run(NULL, "Name: Ada Lovelace", NULL, 16, 0, &b);
    assert_string_equal(a.text, b.text);
    assert_int_equal(a.generated_tokens, b.generated_tokens);
    assert_true(a.generated_tokens > 0);
    assert_true(a.prompt_tokens > 0);
    assert_false(a.prefix_reused);
    assert_true(a.prompt_seconds >= 0 && a.generate_seconds > 0);
    print_message("greedy: %d tokens in %.4f s (%.0f tokens/s), prompt %d tokens in %.4f s\n",
                  a.generated_tokens, a.generate_seconds,
                  a.generated_tokens / a.generate_seconds, a.prompt_tokens, a.prompt_seconds);
    ai_result_release(&a);
    ai_result_release(&b);
}

/* Sampling with a temperature: the same seed gives the same text. */
static void test_seeded_sampling(void **state)
{
    struct ai_request req = {.prompt = "Email: ada@example.com",
                             .limits = {.max_tokens = 12, .temperature = 0.8, .seed = 7}};
    struct ai_result a, b;
    struct fmd_err err = {0};

    NEED_MODEL();

    assert_int_equal(ai_complete(prov, &req, &a, &err), 0);
    assert_int_equal(ai_complete(prov, &req, &b, &err), 0);
    assert_string_equal(a.text, b.text);
    ai_result_release(&a);
    ai_result_release(&b);
}

static void test_grammar(void **state)
{
    struct ai_result res;
    regex_t re;
    json_t *v;
    json_error_t je;

    NEED_MODEL();

    assert_int_equal(regcomp(&re, "^\\{\"a\":[0-9]{1,3}\\}$", REG_EXTENDED | REG_NOSUB), 0);
    run(PREFIX, "Extract a as JSON: a is 12", JSON_GRAMMAR, 64, 0, &res);
    if (regexec(&re, res.text, 0, NULL, 0) != 0)
        fail_msg("output does not match the grammar: '%s'", res.text);
    assert_false(res.truncated);
    v = json_loads(res.text, 0, &je);
    assert_non_null(v);
    assert_true(json_is_integer(json_object_get(v, "a")));
    json_decref(v);
    ai_result_release(&res);

    /* The same under a temperature: still only what the grammar allows. */
    {
        struct ai_request req = {.prompt = "a?", .grammar = JSON_GRAMMAR,
                                 .limits = {.max_tokens = 64, .temperature = 1.5, .seed = 3}};
        struct fmd_err err = {0};

        assert_int_equal(ai_complete(prov, &req, &res, &err), 0);
        if (regexec(&re, res.text, 0, NULL, 0) != 0)
            fail_msg("sampled output does not match the grammar: '%s'", res.text);
        ai_result_release(&res);
    }
    regfree(&re);
}

static void test_bad_grammar(void **state)
{
    struct ai_request req = {.prompt = "x", .grammar = "root ::= (\"unclosed\"",
                             .limits = {.max_tokens = 4}};
    struct ai_result res;
    struct fmd_err err = {0};

    NEED_MODEL();

    assert_int_equal(ai_complete(prov, &req, &res, &err), FMD_EINVAL);
    assert_string_equal(err.msg, "grammar does not parse");
    assert_null(res.text);
    req.grammar = "start ::= \"x\"";          /* no root rule */
    assert_int_equal(ai_complete(prov, &req, &res, &err), FMD_EINVAL);
    assert_null(res.text);
}

/* The cached prefix: reused when the same, and the output as if evaluated afresh. */
static void test_prefix_reuse(void **state)
{
    struct ai_result fresh, other, reused, again, empty1, empty2;

    NEED_MODEL();

    run(PREFIX, "Name: Grace Hopper", NULL, 12, 0, &fresh);
    assert_false(fresh.prefix_reused);
    run(PREFIX, "Name: Alan Turing", NULL, 12, 0, &other);
    assert_true(other.prefix_reused);
    run(PREFIX, "Name: Grace Hopper", NULL, 12, 0, &reused);
    assert_true(reused.prefix_reused);
    assert_string_equal(fresh.text, reused.text);
    assert_int_equal(fresh.prompt_tokens, reused.prompt_tokens);

    /* Another prefix evicts it; NULL prefix too. */
    run("Other instructions.\n", "Name: Grace Hopper", NULL, 12, 0, &again);
    assert_false(again.prefix_reused);
    ai_result_release(&again);
    run(PREFIX, "Name: Grace Hopper", NULL, 12, 0, &again);
    assert_false(again.prefix_reused);
    assert_string_equal(fresh.text, again.text);
    ai_result_release(&again);

    /* A prefix and no prompt, fresh then cached. */
    run(PREFIX, "", NULL, 8, 0, &empty1);
    run(PREFIX, "", NULL, 8, 0, &empty2);
    assert_true(empty2.prefix_reused);
    assert_string_equal(empty1.text, empty2.text);

    ai_result_release(&fresh);
    ai_result_release(&other);
    ai_result_release(&reused);
    ai_result_release(&empty1);
    ai_result_release(&empty2);
}

static void test_max_tokens(void **state)
{
    struct ai_result res;

    NEED_MODEL();

    run(NULL, "Tell me everything about forms", NULL, 3, 0, &res);
    assert_int_equal(res.generated_tokens, 3);
    assert_true(res.truncated);
    ai_result_release(&res);
}

static void test_timeout(void **state)
{
    struct ai_request req = {.prefix = PREFIX, .limits = {.max_tokens = 1000, .timeout_ms = 1}};
    struct ai_result res, a, b;
    struct fmd_err err = {0};
    char *prompt;
    int i;

    NEED_MODEL();
    prompt = malloc(1500);

    assert_non_null(prompt);
    for (i = 0; i < 1499; i++)
        prompt[i] = "abcdefghij klmnopqrst {}\":,"[i % 27];
    prompt[i] = '\0';
    req.prompt = prompt;
    assert_int_equal(ai_complete(prov, &req, &res, &err), FMD_ETIMEOUT);
    assert_null(res.text);
    free(prompt);

    /* Afterwards the model works and gives what it gave before. */
    run(PREFIX, "Name: Grace Hopper", NULL, 12, 0, &a);
    run(NULL, "Name: Grace Hopper", NULL, 12, 0, &b);
    ai_result_release(&b);
    run(PREFIX, "Name: Grace Hopper", NULL, 12, 0, &b);
    assert_string_equal(a.text, b.text);
    ai_result_release(&a);
    ai_result_release(&b);
}

static void test_prompt_too_long(void **state)
{
    struct ai_result res;
    size_t n = 40000, i;
    char *prompt;

    NEED_MODEL();
    prompt = malloc(n + 1);

    assert_non_null(prompt);
    for (i = 0; i < n; i++)
        prompt[i] = (char)('!' + (i * 7919) % 90);
    prompt[n] = '\0';
    run(NULL, prompt, NULL, 4, FMD_EINVAL, &res);
    free(prompt);
}

/* Failing the Nth allocation, N = 1.. until the call succeeds: FMD_ENOMEM, no crash, no leak. */
static void test_alloc_failure(void **state)
{
    struct ai_request req = {.prefix = "Fresh instructions.\n", .prompt = "Name: Ada",
                             .grammar = JSON_GRAMMAR, .limits = {.max_tokens = 16}};
    struct ai_provider *p = NULL;
    struct ai_result res;
    struct fmd_err err = {0};
    long n;
    int rc;

    NEED_MODEL();

    for (n = 1;; n++) {
        fmd_mem_fail_at(n);
        rc = ai_open(&ai_llama_provider, model, 1, &p, &err);
        fmd_mem_fail_at(0);
        if (!rc)
            break;
        assert_int_equal(rc, FMD_ENOMEM);
        assert_null(p);
    }
    for (n = 1;; n++) {
        fmd_mem_fail_at(n);
        rc = ai_complete(p, &req, &res, &err);
        fmd_mem_fail_at(0);
        if (!rc)
            break;
        assert_int_equal(rc, FMD_ENOMEM);
        assert_null(res.text);
    }
    assert_non_null(res.text);
    ai_result_release(&res);
    /* The prefix is cached only if its copy was made. */
    assert_int_equal(ai_complete(p, &req, &res, &err), 0);
    assert_true(res.prefix_reused);
    ai_result_release(&res);
    ai_close(p);
}

struct job {
    const char *prompt;
    struct ai_result res;
    int rc;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    struct ai_request req = {.prefix = PREFIX, .prompt = j->prompt, .limits = {.max_tokens = 24}};
    struct fmd_err err = {0};

    j->rc = ai_complete(prov, &req, &j->res, &err);
    return NULL;
}

/* Two threads at once: serialised, both succeed, each gets what it would alone. */
static void test_threads(void **state)
{
    struct job jobs[2] = {{.prompt = "Name: Ada Lovelace"}, {.prompt = "Email: grace@example.com"}};
    pthread_t t[2];
    int i;

    NEED_MODEL();

    for (i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, &jobs[i]), 0);
    for (i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    for (i = 0; i < 2; i++) {
        struct ai_result alone;

        assert_int_equal(jobs[i].rc, 0);
        run(PREFIX, jobs[i].prompt, NULL, 24, 0, &alone);
        assert_string_equal(jobs[i].res.text, alone.text);
        ai_result_release(&alone);
        ai_result_release(&jobs[i].res);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_and_identity),
        cmocka_unit_test(test_not_a_model),
        cmocka_unit_test(test_greedy_is_deterministic),
        cmocka_unit_test(test_seeded_sampling),
        cmocka_unit_test(test_grammar),
        cmocka_unit_test(test_bad_grammar),
        cmocka_unit_test(test_prefix_reuse),
        cmocka_unit_test(test_max_tokens),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_prompt_too_long),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_alloc_failure),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
