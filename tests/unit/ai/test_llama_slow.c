/*
 * test_llama_slow.c - timeouts of the in-process llama.cpp provider
 * (src/ai/llama.c) on a model slow enough for them to matter: the "1b" preset
 * (TinyLlama's shape, random weights, 1.2 GB), written into the test's own
 * temporary directory. On a CPU it reads tens of tokens a second and writes
 * fewer, so a call given 1000 tokens to write cannot finish within its time:
 * FMD_ETIMEOUT shows the call stopped early (a call that ran its course would
 * answer 0, truncated). No timing is asserted; the times are printed.
 *
 * FORMD_TEST_SMALL=1 (the ASan run) skips it: writing 1.2 GB of weights with
 * instrumented code takes long, and test_llama.c covers the same paths on the
 * tiny model there.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/mkmodel.h"
#include "ai/provider.h"
#include "core/clock.h"
#include "core/mem.h"
#include "core/banned.h"

static char dir[] = "/tmp/test_llama_slow.XXXXXX";
static char model[256];
static struct ai_provider *prov;

#define NEED_MODEL() do { if (!prov) skip(); } while (0)

static int group_setup(void **state)
{
    struct fmd_err err = {0};
    const char *small = getenv("FORMD_TEST_SMALL");
    uint64_t t0 = clock_mono_ns();
    int rc;

    if (small && *small == '1') {
        print_message("skipping: FORMD_TEST_SMALL\n");
        return 0;
    }
    if (!mkdtemp(dir))
        return -1;
    snprintf(model, sizeof(model), "%s/1b.gguf", dir);
    if ((rc = ai_mkmodel(model, "1b", 42, &err))) {
        fprintf(stderr, "mkmodel: %d %s\n", rc, err.msg);
        unlink(model);
        rmdir(dir);
        return -1;
    }
    rc = ai_open(&ai_llama_provider, model, 1, &prov, &err);
    if (rc == FMD_EUNAVAIL) {   /* a CPU without what llama.cpp was built for */
        print_message("skipping: %s\n", err.msg);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "open: %d %s\n", rc, err.msg);
        return -1;
    }
    print_message("1b model written and opened in %.1f s\n",
                  (double)(clock_mono_ns() - t0) / 1e9);
    return 0;
}

static int group_teardown(void **state)
{
    ai_close(prov);
    if (*model) {
        unlink(model);
        rmdir(dir);
    }
    return 0;
}

/* Completes a request that cannot finish in timeout_ms: FMD_ETIMEOUT, nothing kept. */
static void assert_times_out(const char *prefix, const char *prompt, const char *grammar,
                             long timeout_ms)
{
    struct ai_request req = {.prefix = prefix, .prompt = prompt, .grammar = grammar,
                             .limits = {.max_tokens = 1000, .timeout_ms = timeout_ms}};
    struct ai_result res;
    struct fmd_err err = {0};
    uint64_t t0 = clock_mono_ns();
    int rc = ai_complete(prov, &req, &res, &err);

    print_message("%ld ms allowed: answered %d after %.3f s\n", timeout_ms, rc,
                  (double)(clock_mono_ns() - t0) / 1e9);
    if (rc != FMD_ETIMEOUT)
        fail_msg("complete gave %d (%s), %d tokens, wanted FMD_ETIMEOUT", rc, err.msg,
                 res.generated_tokens);
    assert_string_equal(err.msg, "model took longer than the time allowed");
    assert_null(res.text);
    assert_int_equal(res.generated_tokens, 0);
}

/* A few greedy tokens: what the model says to "Name: Ada" (fmd_free). */
static char *greedy(const char *prefix)
{
    struct ai_request req = {.prefix = prefix, .prompt = "Name: Ada",
                             .limits = {.max_tokens = 3}};
    struct ai_result res;
    struct fmd_err err = {0};
    int rc = ai_complete(prov, &req, &res, &err);

    if (rc)
        fail_msg("complete gave %d (%s)", rc, err.msg);
    assert_int_equal(res.generated_tokens, 3);
    assert_true(res.truncated);
    return res.text;
}

/*
 * Timed out while reading a prompt of some hundreds of tokens, while writing
 * (a short prompt, then 1000 tokens to write in a second), and under a
 * grammar; then the model answers as it did before: the KV cache an aborted
 * call left behind is not taken for a prefix.
 */
static void test_timeouts(void **state)
{
    static const char prefix[] = "You turn free text into the answers of a form.\n";
    char *before, *before_prefixed, *after, *after_prefixed, *prompt;
    int i;

    NEED_MODEL();
    before = greedy(NULL);
    before_prefixed = greedy(prefix);

    assert_non_null(prompt = malloc(1501));
    for (i = 0; i < 1500; i++)
        prompt[i] = "Ada Lovelace, ada@example.org, 36. "[i % 35];
    prompt[i] = '\0';
    assert_times_out(prefix, prompt, NULL, 100);
    assert_times_out(NULL, prompt, NULL, 100);
    assert_times_out(prefix, "Name:", NULL, 1000);
    assert_times_out("Another prefix.\n", "Name:", "root ::= [a-z ]{1000}\n", 1000);
    free(prompt);

    after = greedy(NULL);
    after_prefixed = greedy(prefix);
    assert_string_equal(before, after);
    assert_string_equal(before_prefixed, after_prefixed);
    fmd_free(before);
    fmd_free(before_prefixed);
    fmd_free(after);
    fmd_free(after_prefixed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeouts),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
