/* token.c - generating, hashing and recognising tokens. */
#include "security/token.h"

#include <sodium.h>
#include <string.h>

#include "core/banned.h"

static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
static const char lower[] = "abcdefghijklmnopqrstuvwxyz0123456789";

static void random_chars(char *out, size_t n, const char *alphabet, uint32_t size)
{
    size_t i;
    for (i = 0; i < n; i++)
        out[i] = alphabet[randombytes_uniform(size)];
    out[n] = '\0';
}

void token_new_key(char *key, char *prefix)
{
    random_chars(prefix, TOKEN_PREFIX_LEN, lower, 36);
    memcpy(key, "fmd_", 4);
    memcpy(key + 4, prefix, TOKEN_PREFIX_LEN);
    key[4 + TOKEN_PREFIX_LEN] = '_';
    random_chars(key + 5 + TOKEN_PREFIX_LEN, 32, alnum, 62);
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

int token_key_prefix(const char *token, char prefix[TOKEN_PREFIX_LEN + 1])
{
    if (strlen(token) != TOKEN_KEY_LEN || strncmp(token, "fmd_", 4) ||
        token[4 + TOKEN_PREFIX_LEN] != '_' || !all_in(token + 4, TOKEN_PREFIX_LEN, lower) ||
        !all_in(token + 5 + TOKEN_PREFIX_LEN, 32, alnum))
        return 0;
    memcpy(prefix, token + 4, TOKEN_PREFIX_LEN);
    prefix[TOKEN_PREFIX_LEN] = '\0';
    return 1;
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
