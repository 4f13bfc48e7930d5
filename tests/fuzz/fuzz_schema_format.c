/*
 * fuzz_schema_format.c - libFuzzer target for the "format" checks of
 * src/schema/format.c and idna.c (host names, Punycode, URIs, dates, ...).
 *
 * The input's first byte picks a format; the rest is the string checked,
 * as it would arrive from a JSON instance (any bytes: Jansson would refuse
 * invalid UTF-8, the checks must not rely on it). A check answers 0 or 1 and
 * never reads outside its input.
 * Seeds: corpus/fuzz_schema_format/; dictionary: fuzz_schema_format.dict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_int.h"
#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const formats[] = {
    "date", "date-time", "duration", "email", "hostname", "idn-email", "idn-hostname",
    "ipv4", "ipv6", "iri", "iri-reference", "json-pointer", "regex",
    "relative-json-pointer", "time", "uri", "uri-reference", "uri-template", "uuid",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    schema__format_fn *f;
    char *copy;
    int ok;

    if (size == 0)
        return 0;
    f = schema__format_find(formats[data[0] % (sizeof(formats) / sizeof(formats[0]))]);
    if (!f)
        abort();
    /* An exact-size copy, so ASan sees any read past the end. */
    copy = malloc(size - 1 ? size - 1 : 1);
    if (!copy)
        return 0;
    memcpy(copy, data + 1, size - 1);
    ok = f(copy, size - 1);
    free(copy);
    if (ok != 0 && ok != 1)
        abort();
    return 0;
}
