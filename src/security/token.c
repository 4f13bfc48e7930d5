/* token.c - generating, hashing and recognising tokens. */
#include "security/token.h"

#include <sodium.h>
#include <string.h>

#include "core/banned.h"

static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
static const char lower[] = "abcdefghijklmnopqrstuvwxyz0123456789";
static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void random_chars(char *out, size_t n, const char *alphabet, uint32_t size)
{
    size_t i;
    for (i = 0; i < n; i++)
        out[i] = alphabet[randombytes_uniform(size)];
    out[n] = '\0';
}

uint32_t token_crc32(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint32_t c = 0xFFFFFFFFu;
    size_t i;
    int k;
    /* Bitwise: keys are 47 bytes, a table would not pay for itself. */
    for (i = 0; i < n; i++) {
        c ^= s[i];
        for (k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

void token_base62(uint32_t v, char out[TOKEN_CHECK_LEN + 1])
{
    int i;
    for (i = TOKEN_CHECK_LEN - 1; i >= 0; i--) {
        out[i] = base62[v % 62];
        v /= 62;
    }
    out[TOKEN_CHECK_LEN] = '\0';
}

/* The check digits of a key whose body starts at key + 4, into out. */
static void key_check(const char *key, char out[TOKEN_CHECK_LEN + 1])
{
    token_base62(token_crc32(key + 4, TOKEN_KEY_LEGACY_LEN - 4), out);
}

void token_new_key(char *key, char *prefix)
{
    random_chars(prefix, TOKEN_PREFIX_LEN, lower, 36);
    memcpy(key, "fmd_", 4);
    memcpy(key + 4, prefix, TOKEN_PREFIX_LEN);
    key[4 + TOKEN_PREFIX_LEN] = '_';
    random_chars(key + 5 + TOKEN_PREFIX_LEN, TOKEN_SECRET_LEN, alnum, 62);
    key_check(key, key + TOKEN_KEY_LEGACY_LEN);
}

void token_new_session(char *tok)
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof(raw));
    memcpy(tok, "fms_", 4);
    sodium_bin2base64(tok + 4, 44, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void token_hash(const char *token, char out[TOKEN_HASH_HEX])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(out, TOKEN_HASH_HEX, h, sizeof(h));
}

static int all_in(const char *s, size_t n, const char *set)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!s[i] || !strchr(set, s[i]))
            return 0;
    return 1;
}

enum token_key_shape token_key_check(const char *token, char prefix[TOKEN_PREFIX_LEN + 1])
{
    size_t n = strlen(token);
    char check[TOKEN_CHECK_LEN + 1];

    if ((n != TOKEN_KEY_LEN && n != TOKEN_KEY_LEGACY_LEN) || strncmp(token, "fmd_", 4) ||
        token[4 + TOKEN_PREFIX_LEN] != '_' || !all_in(token + 4, TOKEN_PREFIX_LEN, lower) ||
        !all_in(token + 5 + TOKEN_PREFIX_LEN, n - 5 - TOKEN_PREFIX_LEN, alnum))
        return TOKEN_NOT_KEY;
    if (n == TOKEN_KEY_LEN) {
        key_check(token, check);
        if (memcmp(check, token + TOKEN_KEY_LEGACY_LEN, TOKEN_CHECK_LEN))
            return TOKEN_KEY_BAD_CHECK;
    }
    memcpy(prefix, token + 4, TOKEN_PREFIX_LEN);
    prefix[TOKEN_PREFIX_LEN] = '\0';
    return n == TOKEN_KEY_LEN ? TOKEN_KEY_OK : TOKEN_KEY_LEGACY;
}

int token_key_prefix(const char *token, char prefix[TOKEN_PREFIX_LEN + 1])
{
    enum token_key_shape s = token_key_check(token, prefix);
    return s == TOKEN_KEY_OK || s == TOKEN_KEY_LEGACY;
}

int token_is_session(const char *token)
{
    return strlen(token) == TOKEN_SESSION_LEN && !strncmp(token, "fms_", 4) &&
           all_in(token + 4, 43, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");
}

int token_hash_equal(const char *a, const char *b)
{
    return strlen(a) == TOKEN_HASH_HEX - 1 && strlen(b) == TOKEN_HASH_HEX - 1 &&
           sodium_memcmp(a, b, TOKEN_HASH_HEX - 1) == 0;
}
