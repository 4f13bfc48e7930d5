/* test_webhook_sign.c - Standard Webhooks secrets, signatures and verification. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "security/webhook_sign.h"

/* The specification's published test vector (standard-webhooks repository). */
#define VEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VEC_TS 1614265330
#define VEC_TS_S "1614265330"
#define VEC_BODY "{\"test\": 2432232314}"
#define VEC_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

struct vec {
    unsigned char key[WEBHOOK_KEY_MAX];
    size_t keylen;
};

static void load_vector(struct vec *v)
{
    struct fmd_err err = {0};
    assert_int_equal(webhook_secret_parse(VEC_SECRET, v->key, &v->keylen, &err), 0);
    assert_int_equal(v->keylen, 24);
}

static int verify_vec(const struct vec *v, const char *ts, const char *body, const char *hdr,
                      int64_t now, int tol)
{
    return webhook_verify(v->key, v->keylen, VEC_ID, ts, body, strlen(body), hdr, now, tol);
}

static void signs_the_specification_vector(void **state)
{
    struct vec v;
    char sig[WEBHOOK_SIG_MAX];
    load_vector(&v);
    assert_int_equal(webhook_sign(v.key, v.keylen, VEC_ID, VEC_TS, VEC_BODY, strlen(VEC_BODY),
                                  sig, sizeof(sig)), 0);
    assert_string_equal(sig, VEC_SIG);
    assert_int_equal(strlen(sig), WEBHOOK_SIG_MAX - 1);
}

static void verifies_the_specification_vector(void **state)
{
    struct vec v;
    load_vector(&v);
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY, VEC_SIG, VEC_TS, 300), 0);
    /* Several entries, the good one last, other versions and junk skipped. */
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY,
                                "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,AAAA  "
                                "garbage v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " VEC_SIG,
                                VEC_TS, 300), 0);
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY, "  " VEC_SIG "  ", VEC_TS, 300), 0);
}

static void rejects_tampering(void **state)
{
    struct vec v;
    char bad[] = VEC_SIG;
    load_vector(&v);
    /* Body, id, timestamp and signature each matter. */
    assert_int_equal(verify_vec(&v, VEC_TS_S, "{\"test\": 2432232315}", VEC_SIG, VEC_TS, 300),
                     FMD_EUNAUTH);
    assert_int_equal(webhook_verify(v.key, v.keylen, "msg_other", VEC_TS_S, VEC_BODY,
                                    strlen(VEC_BODY), VEC_SIG, VEC_TS, 300), FMD_EUNAUTH);
    assert_int_equal(verify_vec(&v, "1614265331", VEC_BODY, VEC_SIG, VEC_TS, 300), FMD_EUNAUTH);
    bad[10] ^= 1;
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY, bad, VEC_TS, 300), FMD_EUNAUTH);
    /* Right MAC under the wrong version, truncated, with a trailing byte. */
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY,
                                "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", VEC_TS, 300),
                     FMD_EUNAUTH);
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY,
                                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE", VEC_TS, 300),
                     FMD_EUNAUTH);
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY, VEC_SIG "x", VEC_TS, 300), FMD_EUNAUTH);
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY, VEC_SIG ",x", VEC_TS, 300), FMD_EUNAUTH);
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY, "", VEC_TS, 300), FMD_EUNAUTH);
    /* Another key. */
    v.key[0] ^= 1;
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY, VEC_SIG, VEC_TS, 300), FMD_EUNAUTH);
}

static void enforces_the_timestamp_tolerance(void **state)
{
    struct vec v;
    load_vector(&v);
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY, VEC_SIG, VEC_TS + 300, 300), 0);
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY, VEC_SIG, VEC_TS - 300, 300), 0);
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY, VEC_SIG, VEC_TS + 301, 300), FMD_EUNAUTH);
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY, VEC_SIG, VEC_TS - 301, 300), FMD_EUNAUTH);
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY, VEC_SIG, VEC_TS, 0), 0);
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY, VEC_SIG, VEC_TS + 1, 0), FMD_EUNAUTH);
    /* Extremes do not overflow into acceptance. */
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY, VEC_SIG, INT64_MIN, 300), FMD_EUNAUTH);
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY, VEC_SIG, INT64_MAX, 300), FMD_EUNAUTH);
    assert_int_equal(verify_vec(&v, "9223372036854775807", VEC_BODY, VEC_SIG, INT64_MIN, 300),
                     FMD_EUNAUTH);
}

static void rejects_malformed_timestamps(void **state)
{
    static const char *const bad[] = {
        "", " 1614265330", "1614265330 ", "+1614265330", "-1614265330", "1614265330.0",
        "0x603a3b72", "1e9", "9223372036854775808", "99999999999999999999",
    };
    struct vec v;
    size_t i;
    load_vector(&v);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("timestamp '%s'\n", bad[i]);
        assert_int_equal(verify_vec(&v, bad[i], VEC_BODY, VEC_SIG, VEC_TS, 300), FMD_EINVAL);
    }
    assert_int_equal(webhook_verify(v.key, v.keylen, VEC_ID, NULL, VEC_BODY, strlen(VEC_BODY),
                                    VEC_SIG, VEC_TS, 300), FMD_EINVAL);
    assert_int_equal(webhook_verify(v.key, v.keylen, VEC_ID, VEC_TS_S, VEC_BODY,
                                    strlen(VEC_BODY), NULL, VEC_TS, 300), FMD_EINVAL);
    assert_int_equal(verify_vec(&v, VEC_TS_S, VEC_BODY, VEC_SIG, VEC_TS, -1), FMD_EINVAL);
}

static void secrets_round_trip(void **state)
{
    char s1[WEBHOOK_SECRET_MAX], s2[WEBHOOK_SECRET_MAX], sig[WEBHOOK_SIG_MAX], ts[24];
    unsigned char key[WEBHOOK_KEY_MAX];
    size_t keylen = 0;
    struct fmd_err err = {0};
    const char body[] = "{\"event\":\"submission.created\"}";

    assert_int_equal(webhook_secret_new(s1, sizeof(s1)), 0);
    assert_int_equal(webhook_secret_new(s2, sizeof(s2)), 0);
    assert_int_equal(strlen(s1), 50);
    assert_memory_equal(s1, "whsec_", 6);
    assert_string_not_equal(s1, s2);
    assert_int_equal(webhook_secret_parse(s1, key, &keylen, &err), 0);
    assert_int_equal(keylen, WEBHOOK_KEY_NEW);

    /* What formd sends, its own receiver accepts. */
    assert_int_equal(webhook_sign(key, keylen, "msg_1", 1700000000, body, strlen(body), sig,
                                  sizeof(sig)), 0);
    snprintf(ts, sizeof(ts), "%d", 1700000000);
    assert_int_equal(webhook_verify(key, keylen, "msg_1", ts, body, strlen(body), sig,
                                    1700000010, WEBHOOK_TOLERANCE_S), 0);
    /* An empty body is legal and may be NULL. */
    assert_int_equal(webhook_sign(key, keylen, "msg_1", 0, NULL, 0, sig, sizeof(sig)), 0);
    assert_int_equal(webhook_verify(key, keylen, "msg_1", "0", "", 0, sig, 0, 0), 0);

    /* The smallest buffer that fits, and one byte less. */
    assert_int_equal(webhook_secret_new(s1, 51), 0);
    assert_int_equal(webhook_secret_new(s1, 50), FMD_EINVAL);
    assert_string_equal(s1, "");
    assert_int_equal(webhook_secret_new(NULL, 0), FMD_EINVAL);
}

static void parses_secrets_strictly(void **state)
{
    static const struct {
        const char *secret;
        const char *says;
    } bad[] = {
        {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with 'whsec_'"},
        {"WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with 'whsec_'"},
        {"whsec_", "base64 of 24 to 64 bytes"},
        {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "base64 of 24 to 64 bytes"},
        {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-w", "not valid base64"},      /* url alphabet */
        {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS ", "not valid base64"},
        {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa=w", "not valid base64"},      /* bad padding */
        /* libsodium alone took "\x80" for '/' (found by fuzz_webhook). */
        {"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\x80h8=", "not valid base64"},
        {"whsec_c2hvcnQ=", "base64 of 24 to 64 bytes"},                      /* 5 bytes */
        /* 23 bytes: the right shape, one byte short. */
        {"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "decodes to 23 bytes"},
        /* 66 bytes. */
        {"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
         "decodes to 66 bytes"},
    };
    unsigned char key[WEBHOOK_KEY_MAX];
    size_t keylen = 0, i;
    struct fmd_err err;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        print_message("secret '%s'\n", bad[i].secret);
        assert_int_equal(webhook_secret_parse(bad[i].secret, key, &keylen, &err), FMD_EINVAL);
        assert_int_equal(err.code, FMD_EINVAL);
        assert_non_null(strstr(err.msg, bad[i].says));
        /* The secret is never echoed back. */
        if (strlen(bad[i].secret) > 12)
            assert_null(strstr(err.msg, bad[i].secret + 6));
    }
    assert_int_equal(webhook_secret_parse(NULL, key, &keylen, &err), FMD_EINVAL);

    /* 64 bytes is the largest accepted, 24 the smallest. */
    assert_int_equal(webhook_secret_parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
                                          key, &keylen, &err), 0);
    assert_int_equal(keylen, 64);
    assert_int_equal(webhook_secret_parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", key, &keylen,
                                          &err), 0);
    assert_int_equal(keylen, 24);
}

static void sign_checks_its_arguments(void **state)
{
    struct vec v;
    char sig[WEBHOOK_SIG_MAX], longid[WEBHOOK_MSG_ID_MAX + 2];
    load_vector(&v);

    assert_int_equal(webhook_sign(v.key, v.keylen, VEC_ID, VEC_TS, VEC_BODY, strlen(VEC_BODY),
                                  sig, sizeof(sig) - 1), FMD_EINVAL);
    assert_string_equal(sig, "");
    assert_int_equal(webhook_sign(v.key, 0, VEC_ID, VEC_TS, "", 0, sig, sizeof(sig)), FMD_EINVAL);
    assert_int_equal(webhook_sign(v.key, v.keylen, "", VEC_TS, "", 0, sig, sizeof(sig)),
                     FMD_EINVAL);
    assert_int_equal(webhook_sign(v.key, v.keylen, "msg 1", VEC_TS, "", 0, sig, sizeof(sig)),
                     FMD_EINVAL);
    assert_int_equal(webhook_sign(v.key, v.keylen, "msg_1\r\nX-Evil: 1", VEC_TS, "", 0, sig,
                                  sizeof(sig)), FMD_EINVAL);
    assert_int_equal(webhook_sign(v.key, v.keylen, VEC_ID, -1, "", 0, sig, sizeof(sig)),
                     FMD_EINVAL);
    assert_int_equal(webhook_sign(v.key, v.keylen, VEC_ID, VEC_TS, NULL, 3, sig, sizeof(sig)),
                     FMD_EINVAL);
    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_int_equal(webhook_sign(v.key, v.keylen, longid, VEC_TS, "", 0, sig, sizeof(sig)),
                     FMD_EINVAL);
    longid[WEBHOOK_MSG_ID_MAX] = '\0';
    assert_int_equal(webhook_sign(v.key, v.keylen, longid, VEC_TS, "", 0, sig, sizeof(sig)), 0);
}

/* A body with NUL bytes is signed over its full length, not up to the NUL. */
static void signs_binary_bodies(void **state)
{
    struct vec v;
    char a[WEBHOOK_SIG_MAX], b[WEBHOOK_SIG_MAX];
    static const char body[] = {'{', '\0', '}'};
    load_vector(&v);
    assert_int_equal(webhook_sign(v.key, v.keylen, VEC_ID, VEC_TS, body, 3, a, sizeof(a)), 0);
    assert_int_equal(webhook_sign(v.key, v.keylen, VEC_ID, VEC_TS, body, 1, b, sizeof(b)), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(webhook_verify(v.key, v.keylen, VEC_ID, VEC_TS_S, body, 3, a, VEC_TS, 5), 0);
    assert_int_equal(webhook_verify(v.key, v.keylen, VEC_ID, VEC_TS_S, body, 1, a, VEC_TS, 5),
                     FMD_EUNAUTH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signs_the_specification_vector),
        cmocka_unit_test(verifies_the_specification_vector),
        cmocka_unit_test(rejects_tampering),
        cmocka_unit_test(enforces_the_timestamp_tolerance),
        cmocka_unit_test(rejects_malformed_timestamps),
        cmocka_unit_test(secrets_round_trip),
        cmocka_unit_test(parses_secrets_strictly),
        cmocka_unit_test(sign_checks_its_arguments),
        cmocka_unit_test(signs_binary_bodies),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
