/* test_crypto.c - the keyring of sensitive fields: key files, sealing, opening, rotation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "security/crypto.h"

/* base64 of 32 bytes: 0x00.., 0x01.., 0x02.. */
#define K0 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define K1 "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define K2 "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
#define AD "formd/v1|form1|sub1|/ssn"

static struct crypto_keyring *ring(const char *text)
{
    struct fmd_err err = {0};
    struct crypto_keyring *kr = NULL;
    int rc = crypto_keyring_parse(text, &kr, &err);
    if (rc)
        fail_msg("parse failed: %s", err.msg);
    return kr;
}

static char *seal(const struct crypto_keyring *kr, const char *plain, const char *ad)
{
    struct fmd_err err = {0};
    char *out = NULL;
    assert_int_equal(crypto_seal(kr, plain, strlen(plain), ad, &out, &err), 0);
    return out;
}

static int open_rc(const struct crypto_keyring *kr, const char *sealed, const char *ad,
                   char **plain)
{
    struct fmd_err err = {0};
    size_t len;
    return crypto_open(kr, sealed, ad, plain, &len, &err);
}

static void round_trip(void **state)
{
    struct crypto_keyring *kr = ring("k1:" K1 "\n");
    char *s = seal(kr, "\"SECRET-123456789\"", AD), *plain = NULL;
    char id[CRYPTO_KEY_ID_MAX + 1];

    assert_non_null(strstr(s, "enc:v1:k1:"));
    assert_null(strstr(s, "SECRET"));
    assert_int_equal(crypto_sealed_key_id(s, id), 1);
    assert_string_equal(id, "k1");
    assert_int_equal(open_rc(kr, s, AD, &plain), 0);
    assert_string_equal(plain, "\"SECRET-123456789\"");
    fmd_free(plain);
    fmd_free(s);
    crypto_keyring_free(kr);
}

static void two_seals_differ(void **state)
{
    struct crypto_keyring *kr = ring("k1:" K1);
    char *a = seal(kr, "42", AD), *b = seal(kr, "42", AD);
    assert_string_not_equal(a, b);   /* random nonces: equal values do not show */
    fmd_free(a);
    fmd_free(b);
    crypto_keyring_free(kr);
}

static void wrong_key_refused(void **state)
{
    struct crypto_keyring *a = ring("k1:" K1), *b = ring("k1:" K2);
    char *s = seal(a, "\"x\"", AD), *plain = NULL;
    assert_int_equal(open_rc(b, s, AD, &plain), FMD_EUNPROC);
    assert_null(plain);
    fmd_free(s);
    crypto_keyring_free(a);
    crypto_keyring_free(b);
}

static void unknown_key_id(void **state)
{
    struct crypto_keyring *a = ring("k1:" K1), *b = ring("k2:" K1);
    char *s = seal(a, "\"x\"", AD), *plain = NULL;
    assert_int_equal(open_rc(b, s, AD, &plain), FMD_ENOTFOUND);
    fmd_free(s);
    crypto_keyring_free(a);
    crypto_keyring_free(b);
}

static void tampered_refused(void **state)
{
    struct crypto_keyring *kr = ring("k1:" K1);
    char *s = seal(kr, "\"SECRET-123456789\"", AD), *plain = NULL;
    size_t n = strlen(s);
    /* Flip a character inside the ciphertext (not the padding). */
    s[n - 6] = s[n - 6] == 'A' ? 'B' : 'A';
    assert_int_equal(open_rc(kr, s, AD, &plain), FMD_EUNPROC);
    s[n - 6] = '\0';   /* truncated */
    assert_int_not_equal(open_rc(kr, s, AD, &plain), 0);
    assert_int_equal(open_rc(kr, "enc:v1:k1:", AD, &plain), FMD_EUNPROC);
    assert_int_equal(open_rc(kr, "enc:v1:k1:!!!!", AD, &plain), FMD_EUNPROC);
    assert_int_equal(open_rc(kr, "SECRET", AD, &plain), FMD_EINVAL);
    assert_int_equal(open_rc(kr, "enc:v2:k1:AAAA", AD, &plain), FMD_EINVAL);
    fmd_free(s);
    crypto_keyring_free(kr);
}

static void moved_refused(void **state)
{
    struct crypto_keyring *kr = ring("k1:" K1);
    char *s = seal(kr, "\"SECRET\"", AD), *plain = NULL;
    assert_int_equal(open_rc(kr, s, "formd/v1|form1|sub2|/ssn", &plain), FMD_EUNPROC);
    assert_int_equal(open_rc(kr, s, "formd/v1|form1|sub1|/other", &plain), FMD_EUNPROC);
    assert_int_equal(open_rc(kr, s, "formd/v1|form2|sub1|/ssn", &plain), FMD_EUNPROC);
    assert_null(plain);
    fmd_free(s);
    crypto_keyring_free(kr);
}

static void bad_file(const char *text, const char *want)
{
    struct fmd_err err = {0};
    struct crypto_keyring *kr = (struct crypto_keyring *)1;
    assert_int_equal(crypto_keyring_parse(text, &kr, &err), FMD_EINVAL);
    assert_null(kr);
    if (!strstr(err.msg, want))
        fail_msg("message '%s' does not say '%s'", err.msg, want);
}

static void key_file_errors(void **state)
{
    bad_file("", "no key");
    bad_file("# only a comment\n\n", "no key");
    bad_file("k1" K1, "KEYID:BASE64");
    bad_file("k1:" K1 "\nk1:" K2 "\n", "line 2: key id 'k1' appears twice");
    bad_file("k1:not*base64\n", "not base64");
    bad_file("k1:AAAAAAAA\n", "32 bytes");                       /* short */
    bad_file("k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", "32 bytes"); /* 33 */
    bad_file(":" K1, "key id");
    bad_file("k 1:" K1, "key id");
    bad_file("k1234567890123456789012345678901234:" K1, "key id");
    bad_file("k1:\n", "");
}

static void comments_and_crlf(void **state)
{
    struct crypto_keyring *kr = ring("# keys\r\n\r\nold:" K0 "\r\n  new:" K1 "  \r\n");
    assert_int_equal(crypto_keyring_count(kr), 2);
    assert_string_equal(crypto_keyring_current(kr), "new");
    crypto_keyring_free(kr);
}

/* The last line seals; older lines still open; dropping the old line after re-sealing works. */
static void rotation_order(void **state)
{
    struct crypto_keyring *v1 = ring("a:" K0 "\n");
    struct crypto_keyring *v2 = ring("a:" K0 "\nb:" K1 "\n");
    struct crypto_keyring *v3 = ring("b:" K1 "\n");
    char *old = seal(v1, "\"SECRET\"", AD), *plain = NULL, *resealed;
    char id[CRYPTO_KEY_ID_MAX + 1];

    assert_string_equal(crypto_keyring_current(v2), "b");
    assert_int_equal(open_rc(v2, old, AD, &plain), 0);      /* the old key still opens */
    resealed = seal(v2, plain, AD);
    fmd_free(plain);
    assert_int_equal(crypto_sealed_key_id(resealed, id), 1);
    assert_string_equal(id, "b");
    assert_int_equal(open_rc(v3, old, AD, &plain), FMD_ENOTFOUND);
    assert_int_equal(open_rc(v3, resealed, AD, &plain), 0);
    assert_string_equal(plain, "\"SECRET\"");
    fmd_free(plain);
    fmd_free(old);
    fmd_free(resealed);
    crypto_keyring_free(v1);
    crypto_keyring_free(v2);
    crypto_keyring_free(v3);
}

static void keyed_hash_per_key(void **state)
{
    struct crypto_keyring *kr = ring("a:" K0 "\nb:" K1 "\n");
    char h0[65], h1[65], again[65];
    assert_int_equal(crypto_keyed_hash(kr, 0, "body", 4, h0), 0);
    assert_int_equal(crypto_keyed_hash(kr, 1, "body", 4, h1), 0);
    assert_int_equal(crypto_keyed_hash(kr, 0, "body", 4, again), 0);
    assert_string_equal(h0, again);
    assert_string_not_equal(h0, h1);
    assert_int_equal(strlen(h0), 64);
    assert_int_equal(crypto_keyed_hash(kr, 2, "body", 4, again), FMD_ENOTFOUND);
    crypto_keyring_free(kr);
}

/* Failing allocation N, for N = 1.. until parse, seal and open succeed: a clean error each time. */
static void allocation_failures(void **state)
{
    struct fmd_err err = {0};
    long n;
    int done = 0;

    for (n = 1; !done && n < 1000; n++) {
        struct crypto_keyring *kr = NULL;
        char *s = NULL, *plain = NULL;
        size_t len;
        int rc;

        fmd_mem_fail_at(n);
        rc = crypto_keyring_parse("a:" K0 "\nb:" K1 "\n", &kr, &err);
        if (!rc)
            rc = crypto_seal(kr, "\"v\"", 3, AD, &s, &err);
        if (!rc)
            rc = crypto_open(kr, s, AD, &plain, &len, &err);
        fmd_mem_fail_at(0);
        if (rc)
            assert_int_equal(rc, FMD_ENOMEM);
        else
            assert_string_equal(plain, "\"v\"");
        done = !rc;
        fmd_free(plain);
        fmd_free(s);
        crypto_keyring_free(kr);
    }
    assert_true(done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(two_seals_differ),
        cmocka_unit_test(wrong_key_refused),
        cmocka_unit_test(unknown_key_id),
        cmocka_unit_test(tampered_refused),
        cmocka_unit_test(moved_refused),
        cmocka_unit_test(key_file_errors),
        cmocka_unit_test(comments_and_crlf),
        cmocka_unit_test(rotation_order),
        cmocka_unit_test(keyed_hash_per_key),
        cmocka_unit_test(allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
