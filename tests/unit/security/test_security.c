/* test_security.c - password hashing and token shapes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "security/password.h"
#include "security/token.h"

static void passwords_verify(void **state)
{
    char h[PASSWORD_HASH_MAX];
    struct fmd_err err = {0};
    assert_int_equal(password_hash("correct horse", h, &err), 0);
    assert_true(strncmp(h, "$argon2id$", 10) == 0);
    assert_non_null(strstr(h, "m=19456,t=2,p=1"));
    assert_true(password_verify(h, "correct horse"));
    assert_false(password_verify(h, "correct horsE"));
    assert_false(password_verify(NULL, "anything"));
    assert_int_equal(password_hash("short", h, &err), FMD_EINVAL);
}

static void keys_have_a_findable_prefix(void **state)
{
    char key[TOKEN_KEY_LEN + 1], prefix[TOKEN_PREFIX_LEN + 1], got[TOKEN_PREFIX_LEN + 1];
    char h1[TOKEN_HASH_HEX], h2[TOKEN_HASH_HEX];
    token_new_key(key, prefix);
    assert_int_equal(strlen(key), TOKEN_KEY_LEN);
    assert_true(token_key_prefix(key, got));
    assert_string_equal(got, prefix);
    token_hash(key, h1);
    token_hash(key, h2);
    assert_true(token_hash_equal(h1, h2));
    key[TOKEN_KEY_LEN - 1] ^= 1;
    token_hash(key, h2);
    assert_false(token_hash_equal(h1, h2));
    assert_int_equal(token_key_check(key, got), TOKEN_KEY_BAD_CHECK);
    assert_false(token_key_prefix("fmd_short", got));
    assert_false(token_key_prefix("fms_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", got));
}

/* The check digits are zlib's crc32 of the body in base 62: what scanners recompute. */
static void key_checksum_matches_zlib(void **state)
{
    char out[TOKEN_CHECK_LEN + 1], prefix[TOKEN_PREFIX_LEN + 1];
    /* zlib.crc32(b"123456789") == 0xCBF43926, the standard check value */
    assert_int_equal(token_crc32("123456789", 9), 0xCBF43926u);
    assert_int_equal(token_crc32("", 0), 0);
    token_base62(0, out);
    assert_string_equal(out, "000000");
    token_base62(61, out);
    assert_string_equal(out, "00000z");
    token_base62(62, out);
    assert_string_equal(out, "000010");
    token_base62(0xFFFFFFFFu, out);
    assert_string_equal(out, "4gfFC3");
    /* body "abcdefghij_" + 32 'A': crc32 = 0x... computed below both ways */
    {
        const char *body = "abcdefghij_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        char key[TOKEN_KEY_LEN + 1];
        snprintf(key, sizeof(key), "fmd_%s", body);
        token_base62(token_crc32(body, strlen(body)), key + TOKEN_KEY_LEGACY_LEN);
        assert_int_equal(token_key_check(key, prefix), TOKEN_KEY_OK);
        assert_string_equal(prefix, "abcdefghij");
        key[20] = 'B';   /* one character of the secret mistyped */
        assert_int_equal(token_key_check(key, prefix), TOKEN_KEY_BAD_CHECK);
        assert_false(token_key_prefix(key, prefix));
        key[20] = 'A';
        key[TOKEN_KEY_LEN - 1] = key[TOKEN_KEY_LEN - 1] == 'x' ? 'y' : 'x';
        assert_int_equal(token_key_check(key, prefix), TOKEN_KEY_BAD_CHECK);
    }
}

/* Keys from before the checksum still parse; other shapes do not. */
static void legacy_keys_and_bad_shapes(void **state)
{
    char prefix[TOKEN_PREFIX_LEN + 1];
    const char *legacy = "fmd_abcdefghij_0123456789abcdefghijABCDEFGHIJ01";
    assert_int_equal(strlen(legacy), TOKEN_KEY_LEGACY_LEN);
    assert_int_equal(token_key_check(legacy, prefix), TOKEN_KEY_LEGACY);
    assert_string_equal(prefix, "abcdefghij");
    assert_true(token_key_prefix(legacy, prefix));
    assert_int_equal(token_key_check("fmd_ABCDEFGHIJ_0123456789abcdefghijABCDEFGHIJ01", prefix),
                     TOKEN_NOT_KEY);
    assert_int_equal(token_key_check("fmd_abcdefghij-0123456789abcdefghijABCDEFGHIJ01", prefix),
                     TOKEN_NOT_KEY);
    assert_int_equal(token_key_check("fmd_abcdefghij_0123456789abcdefghijABCDEFGHIJ01abc", prefix),
                     TOKEN_NOT_KEY);
    assert_int_equal(token_key_check("fmd_abcdefghij_0123456789abcdefghijABCDEFGHIJ01ab!de!",
                                     prefix), TOKEN_NOT_KEY);
    assert_int_equal(token_key_check("", prefix), TOKEN_NOT_KEY);
}

static void sessions_are_recognised(void **state)
{
    char tok[TOKEN_SESSION_LEN + 1], other[TOKEN_SESSION_LEN + 1];
    token_new_session(tok);
    token_new_session(other);
    assert_int_equal(strlen(tok), TOKEN_SESSION_LEN);
    assert_true(token_is_session(tok));
    assert_string_not_equal(tok, other);
    tok[10] = '!';
    assert_false(token_is_session(tok));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(passwords_verify),
        cmocka_unit_test(keys_have_a_findable_prefix),
        cmocka_unit_test(key_checksum_matches_zlib),
        cmocka_unit_test(legacy_keys_and_bad_shapes),
        cmocka_unit_test(sessions_are_recognised),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
