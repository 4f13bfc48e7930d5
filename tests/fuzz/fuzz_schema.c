/*
 * fuzz_schema.c - libFuzzer target for src/schema/validate.c on any schema.
 *
 * The input is parsed with json_parse (default limits). An array whose first
 * element is an object or a boolean is [schema, instance, ...]; anything else
 * is a schema that then validates itself. Whatever the schema compiles to,
 * validation must end, and list errors exactly when it fails.
 * Seeds: corpus/fuzz_schema/; dictionary: fuzz_schema.dict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/json.h"
#include "schema/validate.h"
#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void validate_one(const struct schema *s, const json_t *instance)
{
    struct schema_errors list;
    json_t *errs = NULL;
    int rc = schema_validate(s, instance, &errs);
    size_t k;

    if ((rc == FMD_EUNPROC) != (json_array_size(errs) > 0) || (rc && rc != FMD_EUNPROC) ||
        json_array_size(errs) > SCHEMA_MAX_ERRORS)
        abort();
    /* Without an errors array it stops early, but must reach the same verdict. */
    if (schema_validate(s, instance, NULL) != rc)
        abort();
    /* The error list it was made from, reused for a second validation. */
    schema_errors_init(&list);
    for (k = 0; k < 2; k++)
        if (schema_check(s, instance, &list) != rc || list.n != json_array_size(errs))
            abort();
    for (k = 0; k < list.n; k++)
        if (!list.v[k].path || !list.v[k].schema_path || !list.v[k].keyword ||
            !list.v[k].message || (list.v[k].path[0] && list.v[k].path[0] != '/'))
            abort();
    schema_errors_release(&list);
    json_decref(errs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fmd_err err = {0};
    struct schema *s = NULL;
    json_t *in = NULL;
    const json_t *doc;
    size_t i;
    int pair;

    if (json_parse((const char *)data, size, NULL, &in, &err))
        goto out;
    doc = json_array_get(in, 0);
    pair = json_is_array(in) && (json_is_object(doc) || json_is_boolean(doc));
    if (!pair)
        doc = in;
    if (schema_compile(doc, &s, &err))
        goto out;
    if (!pair)
        validate_one(s, in);
    for (i = 1; pair && i < json_array_size(in); i++)
        validate_one(s, json_array_get(in, i));
out:
    schema_free(s);
    json_decref(in);
    return 0;
}
