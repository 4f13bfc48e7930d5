/*
 * fuzz_grammar.c - libFuzzer target for src/ai/grammar.c, the JSON Schema to
 * GBNF compiler. A client's schema reaches it unchecked through
 * POST /v1/ai/chat/completions ("response_format": {"type": "json_schema"}).
 *
 * The input is parsed with json_parse (default limits) as that request body
 * is. Checks, as grammar.h promises:
 *   - a refusal is FMD_EINVAL / FMD_ETOOBIG with a message, and leaves the
 *     output buffer as it was;
 *   - an accepted grammar is accepted by llama.cpp's own GBNF parser, and
 *     compiling the same schema twice gives the same text;
 *   - when the validator compiles the schema too, strings generated at
 *     random from the grammar (seeded by the input) are JSON that validates.
 * The GBNF parser and generator are test_grammar.c's (tests/unit/ai), included
 * here with its failures turned into aborts, so both tests share one.
 * Seeds: corpus/fuzz_grammar/; dictionary: fuzz_schema.dict (same keywords).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#undef fail_msg
#define fail_msg(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr), abort())
#define main test_grammar_main
#include "../unit/ai/test_grammar.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SAMPLES 16

static void sample(const char *grammar, const struct schema *s, uint64_t seed)
{
    struct gram g;
    size_t i, root;

    gram_parse(&g, grammar);
    root = find_rule(&g, "root");
    rng_state = seed | 1;
    for (i = 0; i < SAMPLES; i++) {
        struct out o = {0};
        struct fmd_err err = {0};
        json_t *inst = NULL;

        out_cp(&o, 'x');
        o.len = 0;
        o.p[0] = '\0';
        generate(&g, g.rules[root], &o, 0);
        if (json_parse(o.p, o.len, &json_default_limits, &inst, &err))
            fail_msg("generated text is not JSON (%s): %s\ngrammar:\n%s", err.msg, o.p, grammar);
        if (schema_validate(s, inst, NULL))
            fail_msg("generated JSON does not validate: %s\ngrammar:\n%s", o.p, grammar);
        json_decref(inst);
        free(o.p);
    }
    gram_free(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fmd_err err = {0};
    struct schema *s = NULL;
    json_t *doc = NULL;
    struct buf b, again;
    uint64_t seed = 1469598103934665603u;
    size_t i;
    int rc;

    if (json_parse((const char *)data, size, NULL, &doc, &err))
        return 0;
    buf_init(&b, 256 * 1024);   /* chat.c's GRAMMAR_MAX */
    buf_init(&again, 256 * 1024);
    if (buf_adds(&b, "keep"))
        abort();
    rc = ai_grammar_from_schema(doc, &b, &err);
    if (rc) {
        if ((rc != FMD_EINVAL && rc != FMD_ETOOBIG) || !err.msg[0] || strcmp(b.p, "keep"))
            abort();
        goto out;
    }
    if (strncmp(b.p, "keep", 4) || !strstr(b.p, "root ::= "))
        abort();
    if (ai_grammar_from_schema(doc, &again, &err) || strcmp(again.p, b.p + 4))
        abort();
    llama_accepts(again.p);
    if (schema_compile(doc, &s, &err))
        goto out;
    for (i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 1099511628211u;
    sample(again.p, s, seed);
out:
    schema_free(s);
    buf_release(&b);
    buf_release(&again);
    json_decref(doc);
    return 0;
}
