/* webhook_sign.c - Standard Webhooks secrets, signing and verification (libsodium). */
#include "security/webhook_sign.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/banned.h"

#define PREFIX_LEN (sizeof(WEBHOOK_SECRET_PREFIX) - 1)
#define MAC_B64_LEN 44          /* base64 of 32 bytes, padded */

int webhook_secret_new(char *out, size_t cap)
{
    unsigned char key[WEBHOOK_KEY_NEW];

    if (!out || cap < PREFIX_LEN + MAC_B64_LEN + 1) {
        if (out && cap > 0)
            out[0] = '\0';
        return FMD_EINVAL;
    }
    randombytes_buf(key, sizeof(key));
    memcpy(out, WEBHOOK_SECRET_PREFIX, PREFIX_LEN);
    sodium_bin2base64(out + PREFIX_LEN, cap - PREFIX_LEN, key, sizeof(key),
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(key, sizeof(key));
    return 0;
}

int webhook_secret_parse(const char *secret, unsigned char *key, size_t *keylen,
                         struct fmd_err *err)
{
    /* Room for 88 unpadded-looking characters (66 bytes) so a too-long key is
     * reported as such rather than as bad base64. */
    unsigned char buf[WEBHOOK_KEY_MAX + 3];
    const char *b64, *end = NULL;
    size_t n, len = 0;
    int rc = 0;

    if (!secret || !key || !keylen)
        return fmd_errf(err, FMD_EINVAL, "webhook secret is missing");
    if (strncmp(secret, WEBHOOK_SECRET_PREFIX, PREFIX_LEN) != 0)
        return fmd_errf(err, FMD_EINVAL, "webhook secret must start with '%s'",
                        WEBHOOK_SECRET_PREFIX);
    b64 = secret + PREFIX_LEN;
    n = strlen(b64);
    /* base64 of 24..64 bytes with padding is 32..88 characters, a multiple of 4. */
    if (n < 32 || n > 88 || n % 4 != 0) {
        rc = fmd_errf(err, FMD_EINVAL,
                      "webhook secret must be '%s' and base64 of %d to %d bytes",
                      WEBHOOK_SECRET_PREFIX, WEBHOOK_KEY_MIN, WEBHOOK_KEY_MAX);
        goto out;
    }
    /* The alphabet first: libsodium 1.0.18 decodes some bytes above 0x7f as
     * base64 characters (found by fuzz_webhook). */
    if (strspn(b64, BASE64_ALPHABET "=") != n ||
        sodium_base642bin(buf, sizeof(buf), b64, n, NULL, &len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || end != b64 + n) {
        rc = fmd_errf(err, FMD_EINVAL,
                      "webhook secret after '%s' is not valid base64 (standard alphabet, padded)",
                      WEBHOOK_SECRET_PREFIX);
        goto out;
    }
    if (len < WEBHOOK_KEY_MIN || len > WEBHOOK_KEY_MAX) {
        rc = fmd_errf(err, FMD_EINVAL, "webhook secret decodes to %zu bytes, not %d to %d",
                      len, WEBHOOK_KEY_MIN, WEBHOOK_KEY_MAX);
        goto out;
    }
    memcpy(key, buf, len);
    *keylen = len;
out:
    sodium_memzero(buf, sizeof(buf));
    return rc;
}

/* The id goes into a header and into the signed string: printable, no spaces. */
static int msg_id_ok(const char *msg_id)
{
    size_t i;
    if (!msg_id || !msg_id[0])
        return 0;
    for (i = 0; msg_id[i]; i++)
        if (i >= WEBHOOK_MSG_ID_MAX || msg_id[i] <= 0x20 || msg_id[i] >= 0x7f)
            return 0;
    return 1;
}

/* base64 of HMAC-SHA256(key, msg_id "." ts "." body) into b64[MAC_B64_LEN + 1]. */
static void mac_b64(const unsigned char *key, size_t keylen, const char *msg_id,
                    int64_t ts, const char *body, size_t body_len, char *b64)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char tsbuf[24];
    int tslen = snprintf(tsbuf, sizeof(tsbuf), "%" PRId64, ts);

    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg_id, strlen(msg_id));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)tsbuf, (size_t)tslen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    if (body_len > 0)
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2base64(b64, MAC_B64_LEN + 1, mac, sizeof(mac), sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(&st, sizeof(st));
    sodium_memzero(mac, sizeof(mac));
}

int webhook_sign(const unsigned char *key, size_t keylen, const char *msg_id,
                 int64_t timestamp_s, const char *body, size_t body_len,
                 char *out, size_t cap)
{
    if (!out || cap < WEBHOOK_SIG_MAX) {
        if (out && cap > 0)
            out[0] = '\0';
        return FMD_EINVAL;
    }
    out[0] = '\0';
    if (!key || keylen == 0 || !msg_id_ok(msg_id) || timestamp_s < 0 ||
        (!body && body_len > 0))
        return FMD_EINVAL;
    memcpy(out, "v1,", 3);
    mac_b64(key, keylen, msg_id, timestamp_s, body, body_len, out + 3);
    return 0;
}

/* Strict decimal: digits only, no sign or spaces, fits in int64. */
static int parse_ts(const char *s, int64_t *out)
{
    int64_t v = 0;
    size_t i;
    if (!s || !s[0])
        return -1;
    for (i = 0; s[i]; i++) {
        int d = s[i] - '0';
        if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int webhook_verify(const unsigned char *key, size_t keylen, const char *msg_id,
                   const char *timestamp, const char *body, size_t body_len,
                   const char *signature_header, int64_t now_s, int tolerance_s)
{
    char want[MAC_B64_LEN + 1];
    const char *p;
    int64_t ts;
    uint64_t skew;
    int match = 0;

    if (!key || keylen == 0 || !msg_id_ok(msg_id) || !signature_header || tolerance_s < 0 ||
        (!body && body_len > 0) || parse_ts(timestamp, &ts) != 0)
        return FMD_EINVAL;
    /* |now - ts| without overflow: the unsigned difference is exact. */
    skew = now_s >= ts ? (uint64_t)now_s - (uint64_t)ts : (uint64_t)ts - (uint64_t)now_s;
    if (skew > (uint64_t)tolerance_s)
        return FMD_EUNAUTH;

    mac_b64(key, keylen, msg_id, ts, body, body_len, want);
    for (p = signature_header; *p;) {
        size_t n;
        while (*p == ' ')
            p++;
        n = strcspn(p, " ");
        /* Lengths are public; only the MAC bytes are compared in constant time.
         * Every entry is looked at, so the position of a match does not show. */
        if (n == 3 + MAC_B64_LEN && memcmp(p, "v1,", 3) == 0 &&
            sodium_memcmp(p + 3, want, MAC_B64_LEN) == 0)
            match = 1;
        p += n;
    }
    sodium_memzero(want, sizeof(want));
    return match ? 0 : FMD_EUNAUTH;
}
