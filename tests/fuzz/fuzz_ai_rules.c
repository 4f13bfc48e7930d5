/*
 * fuzz_ai_rules.c - libFuzzer target for the AI rules provider (src/ai/rules.c),
 * which reads free text from the outside (emails, transcripts, OCR text):
 * extraction against a fixed form, and the other tasks on the same text.
 * Whatever the text, extraction must end, and what it extracts must be a JSON
 * object with no value the form refuses (missing required fields are fine).
 * Seeds: corpus/fuzz_ai_rules/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ai/provider.h"
#include "core/mem.h"
#include "schema/validate.h"
#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char form[] =
    "{\"type\":\"object\",\"required\":[\"email\"],\"properties\":{"
    "\"email\":{\"type\":\"string\",\"format\":\"email\"},"
    "\"phone\":{\"type\":\"string\",\"pattern\":\"^\\\\+?[0-9 ()-]{7,20}$\"},"
    "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":120},"
    "\"born\":{\"type\":\"string\",\"format\":\"date\"},"
    "\"seen\":{\"type\":\"string\",\"format\":\"date-time\"},"
    "\"color\":{\"enum\":[\"red\",\"green\",\"blue\"]},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\"]},\"uniqueItems\":true},"
    "\"consent\":{\"type\":\"boolean\"},\"name\":{\"type\":\"string\",\"maxLength\":40}}}";

static void run(struct ai_provider *p, const char *task, const char *input, const char *schema,
                const struct schema *check)
{
    struct ai_request req = {.task = task, .input = input, .schema = schema};
    struct ai_result res;
    struct fmd_err err = {0};
    json_error_t je;
    json_t *v, *errs = NULL;
    size_t i;

    req.limits.max_tokens = 64;
    if (ai_complete(p, &req, &res, &err))
        return;
    if (check) {
        v = json_loads(res.text, 0, &je);
        if (!json_is_object(v))
            abort();
        if (schema_validate(check, v, &errs) == FMD_EUNPROC)
            for (i = 0; i < json_array_size(errs); i++)
                if (strcmp(json_string_value(json_object_get(json_array_get(errs, i),
                                                             "keyword")), "required"))
                    abort();
        json_decref(errs);
        json_decref(v);
    }
    ai_result_release(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct schema *check;
    static struct ai_provider *p;
    struct fmd_err err = {0};
    char *text;

    if (!p) {
        json_error_t je;
        json_t *doc = json_loads(form, 0, &je);
        if (!doc || schema_compile(doc, &check, &err) || ai_open(&ai_rules_provider, "", 0, &p, &err))
            abort();
        json_decref(doc);
    }
    if (!(text = fmd_malloc(size + 1)))
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    run(p, "extract", text, form, check);
    run(p, "summarize", text, NULL, NULL);
    run(p, "generate_form", text, NULL, NULL);
    run(p, "classify", text, "{\"categories\":[{\"name\":\"billing\",\"keywords\":[\"invoice\"]},"
                             "{\"name\":\"other\"}]}", NULL);
    fmd_free(text);
    return 0;
}
