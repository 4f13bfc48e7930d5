/* test_security.c - password hashing and token shapes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
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
    assert_false(token_key_prefix("fmd_short", got));
    assert_false(token_key_prefix("fms_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", got));
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
        cmocka_unit_test(sessions_are_recognised),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
