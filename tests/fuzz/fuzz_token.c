/*
 * fuzz_token.c - libFuzzer target for src/security/token.c: the check made
 * on every bearer token before any database look-up.
 *
 * The input, cut at its first NUL, is a token. token_key_check must not
 * crash, must copy a prefix of 10 [a-z0-9] exactly when it accepts, and
 * must agree with the format: a 53-character key is accepted only with the
 * check digits of its body. Then the input's first 43 bytes, mapped into
 * the key alphabet, make a body whose key must be accepted, and with any one
 * character of the body changed, refused (CRC-32 catches every burst of 32
 * bits or fewer, and base 62 in 6 digits keeps every CRC distinct). Seeds:
 * corpus/fuzz_token/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/security/token.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_token: %s\n", what);
    abort();
}

/* A key from 43 input bytes mapped into the alphabets, with its check digits. */
static void key_from(const uint8_t *data, size_t size, char key[TOKEN_KEY_LEN + 1])
{
    size_t i;
    memcpy(key, "fmd_", 4);
    for (i = 0; i < TOKEN_PREFIX_LEN; i++)
        key[4 + i] = lower[(i < size ? data[i] : 0) % 36];
    key[4 + TOKEN_PREFIX_LEN] = '_';
    for (i = 0; i < TOKEN_SECRET_LEN; i++) {
        size_t j = TOKEN_PREFIX_LEN + i;
        key[5 + TOKEN_PREFIX_LEN + i] = alnum[(j < size ? data[j] : 0) % 62];
    }
    key_check(key, key + TOKEN_KEY_LEGACY_LEN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char tok[256], prefix[TOKEN_PREFIX_LEN + 1], key[TOKEN_KEY_LEN + 1];
    size_t n = size < sizeof(tok) - 1 ? size : sizeof(tok) - 1, i;
    enum token_key_shape shape;

    memcpy(tok, data, n);
    tok[n] = '\0';
    shape = token_key_check(tok, prefix);
    if (shape == TOKEN_KEY_OK || shape == TOKEN_KEY_LEGACY) {
        if (strlen(prefix) != TOKEN_PREFIX_LEN || !all_in(prefix, TOKEN_PREFIX_LEN, lower))
            die("accepted with a bad prefix");
        if (strncmp(tok, "fmd_", 4) || memcmp(prefix, tok + 4, TOKEN_PREFIX_LEN))
            die("prefix not taken from the token");
    }
    if (shape == TOKEN_KEY_OK) {
        char check[TOKEN_CHECK_LEN + 1];
        key_check(tok, check);
        if (strlen(tok) != TOKEN_KEY_LEN || memcmp(check, tok + TOKEN_KEY_LEGACY_LEN, 6))
            die("accepted a key whose check digits do not match");
    }
    (void)token_is_session(tok);

    key_from(data, size, key);
    if (token_key_check(key, prefix) != TOKEN_KEY_OK)
        die("refused a well-made key");
    for (i = 4; i < TOKEN_KEY_LEGACY_LEN; i++) {
        char saved = key[i];
        if (i == 4 + TOKEN_PREFIX_LEN)
            continue;
        key[i] = i < 4 + TOKEN_PREFIX_LEN ? lower[(strchr(lower, saved) - lower + 1) % 36]
                                          : alnum[(strchr(alnum, saved) - alnum + 1) % 62];
        if (token_key_check(key, prefix) != TOKEN_KEY_BAD_CHECK)
            die("a one-character typo passed the checksum");
        key[i] = saved;
    }
    return 0;
}
