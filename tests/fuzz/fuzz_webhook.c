/*
 * fuzz_webhook.c - libFuzzer target for src/security/webhook_sign.c: the
 * "whsec_" secrets clients send when they create a webhook, and the
 * webhook-id / webhook-timestamp / webhook-signature headers a receiver
 * checks with webhook_verify.
 *
 * The input is four lines then a body: secret, msg_id, timestamp, signature
 * header, body (the rest). Checks: an accepted secret is 24 to 64 bytes whose
 * base64 is the text after the prefix; a refused one leaves a message that
 * does not contain the secret. webhook_verify must refuse or accept without
 * reading out of bounds, and must accept the header webhook_sign makes for
 * the same message when its own entry is among the fuzzed ones.
 * Seeds: corpus/fuzz_webhook/; dictionary: fuzz_webhook.dict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "security/webhook_sign.h"
#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next line of *p (cut at '\n'), or "" at the end. */
static char *next_line(char **p)
{
    char *line = *p, *nl;
    if (!line)
        return "";
    if ((nl = strchr(line, '\n'))) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = NULL;
    }
    return line;
}

static void check_secret(const char *secret)
{
    unsigned char key[WEBHOOK_KEY_MAX];
    char again[WEBHOOK_SECRET_MAX];
    struct fmd_err err = {0};
    size_t keylen = 0;

    if (webhook_secret_parse(secret, key, &keylen, &err)) {
        if (err.code != FMD_EINVAL || !err.msg[0] ||
            (strlen(secret) > 6 + 16 && strstr(err.msg, secret + 6)))
            abort();
        return;
    }
    if (keylen < WEBHOOK_KEY_MIN || keylen > WEBHOOK_KEY_MAX)
        abort();
    sodium_bin2base64(again, sizeof(again), key, keylen, sodium_base64_VARIANT_ORIGINAL);
    if (strcmp(again, secret + 6))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
    char *text = malloc(size + 1), *p = text, *secret, *msg_id, *ts, *sig, *body, *header;
    char mine[WEBHOOK_SIG_MAX];
    int64_t ts_val = 0, now = 1795868742;
    size_t i;
    int rc;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    secret = next_line(&p);
    msg_id = next_line(&p);
    ts = next_line(&p);
    sig = next_line(&p);
    body = p ? p : "";

    check_secret(secret);
    rc = webhook_verify(key, sizeof(key), msg_id, ts, body, strlen(body), sig, now, 300);
    if (rc != 0 && rc != FMD_EINVAL && rc != FMD_EUNAUTH)
        abort();
    /* A timestamp within the tolerance, the signature made for it: accepted. */
    for (i = 0; ts[i] >= '0' && ts[i] <= '9' && i < 18; i++)
        ts_val = ts_val * 10 + (ts[i] - '0');
    if (ts[0] && !ts[i] && ts_val >= now - 300 && ts_val <= now + 300 &&
        webhook_sign(key, sizeof(key), msg_id, ts_val, body, strlen(body), mine,
                     sizeof(mine)) == 0) {
        size_t n = strlen(sig) + sizeof(mine) + 2;
        if (!(header = malloc(n)))
            abort();
        snprintf(header, n, "%s %s", sig, mine);
        if (webhook_verify(key, sizeof(key), msg_id, ts, body, strlen(body), header, now, 300))
            abort();
        free(header);
    }
    free(text);
    return 0;
}
