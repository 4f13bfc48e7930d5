/*
 * fuzz_fields.c - libFuzzer target for src/schema/: the fields compiler, and
 * the validator on the schemas it makes.
 *
 * The input is parsed with json_parse (default limits), as a request body
 * would be. When fields_compile accepts it, its schema must compile (a
 * failure there is a bug and aborts), and it then validates itself and the
 * input as instances. Seeds: corpus/fuzz_fields/; dictionary: fuzz_fields.dict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/json.h"
#include "schema/fields.h"
#include "schema/validate.h"
#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void validate_one(const struct schema *s, const json_t *instance)
{
    json_t *errs = NULL;
    int rc = schema_validate(s, instance, &errs);

    /* Invalid means at least one error; valid means none. */
    if ((rc == FMD_EUNPROC) != (json_array_size(errs) > 0) || (rc && rc != FMD_EUNPROC))
        abort();
    if (schema_validate(s, instance, NULL) != rc)
        abort();
    json_decref(errs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fmd_err err = {0};
    struct schema *s = NULL;
    json_t *in = NULL, *doc = NULL;

    if (json_parse((const char *)data, size, NULL, &in, &err) ||
        fields_compile(in, &doc, &err))
        goto out;
    if (schema_compile(doc, &s, &err)) {
        fprintf(stderr, "compiled fields do not compile as a schema: %s\n", err.msg);
        abort();
    }
    validate_one(s, doc);
    validate_one(s, in);
out:
    schema_free(s);
    json_decref(doc);
    json_decref(in);
    return 0;
}
