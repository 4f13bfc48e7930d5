/*
 * fuzz_json.c - request-body parsing: the limit scan and Jansson behind it.
 * Any input must come back as a value or a clean FMD_EINVAL, within limits.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_limits lim = {.max_depth = 32, .max_members = 10000};
    struct fmd_err err = {0};
    json_t *v = NULL;
    char *back;

    if (json_parse((const char *)data, size, &lim, &v, &err) == 0) {
        back = json_encode(v);
        if (!back)
            __builtin_trap();
        json_decref(v);
        free(back);
    }
    return 0;
}
