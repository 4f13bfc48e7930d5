/*
 * fuzz_limits.c - libFuzzer target for the outside input that rate limits
 * and spam checks read (src/api/limits.c, the code itself, included):
 *   X-Forwarded-For behind trusted proxies (forwarded_client): the client
 *   chosen is an address, is never a trusted proxy, and appears in the header;
 *   the fill token of public submissions (api_fill_token_age): nothing the
 *   fuzzer makes passes the MAC, while a token formd issued does;
 *   rate specs "COUNT/SECONDS[,BURST]" (ratelimit_parse, operator input):
 *   an accepted spec is a usable bucket (rate >= 0, burst >= 1, finite).
 *
 * The first byte picks the parser; the rest is the value.
 * Seeds: corpus/fuzz_limits/.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/api/limits.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void setup(void)
{
    static int done;
    struct config cfg = {0};
    struct fmd_err err = {0};

    if (done)
        return;
    done = 1;
    cfg.rate_public = "10/1";
    cfg.rate_login = "0";
    cfg.rate_management = "off";
    cfg.rate_ai = "60/1,120";
    cfg.trusted_proxies = "10.0.0.1, 10.0.0.2 ::1";
    if (api_limits_init(&cfg, "fuzzing secret", &err))
        abort();
}

static void check_forwarded(const char *xff)
{
    char out[ADDR_MAX];
    unsigned char bin[16];

    if (forwarded_client(xff, out))
        return;
    if (inet_pton(AF_INET, out, bin) != 1 && inet_pton(AF_INET6, out, bin) != 1)
        abort();
    if (is_trusted(out) || !strstr(xff, out))
        abort();
}

static void check_fill_token(const char *token)
{
    char issued[API_FILL_TOKEN_MAX];
    int64_t age;

    if (!api_fill_token_age("slug", token, &age))
        abort();   /* a forged token passed the MAC */
    api_fill_token("slug", issued);
    if (api_fill_token_age("slug", issued, &age) || age < 0 ||
        !api_fill_token_age("other-slug", issued, &age))
        abort();
}

static void check_spec(const char *text)
{
    struct ratelimit_spec s;
    struct fmd_err err = {0};

    if (ratelimit_parse(text, "fuzz", &s, &err)) {
        if (!err.msg[0])
            abort();
        return;
    }
    if (!isfinite(s.rate) || !isfinite(s.burst) || s.rate < 0 || (s.rate > 0 && s.burst < 1))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s;

    if (size < 1 || size > 4096)
        return 0;
    setup();
    if (!(s = malloc(size)))
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    switch (data[0] % 3) {
    case 0: check_forwarded(s); break;
    case 1: check_fill_token(s); break;
    default: check_spec(s); break;
    }
    free(s);
    return 0;
}
