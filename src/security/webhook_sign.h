/*
 * webhook_sign.h - Standard Webhooks signatures (https://www.standardwebhooks.com/).
 *
 * A delivery carries three headers:
 *   webhook-id         the message id, stable across retries (receivers dedupe on it)
 *   webhook-timestamp  Unix seconds, decimal
 *   webhook-signature  space-separated "v1,<base64>" entries, one per active key
 * where <base64> is the standard-alphabet, padded base64 of
 *   HMAC-SHA256(key, msg_id "." timestamp "." body).
 * A secret reads "whsec_" + base64 (standard alphabet, padded) of 24 to 64
 * random bytes; the HMAC key is the decoded bytes, not the text.
 *
 * None of these functions allocate; keys and MACs on the stack are wiped.
 * libsodium must have been initialised (main calls sodium_init()).
 */
#ifndef FMD_SECURITY_WEBHOOK_SIGN_H
#define FMD_SECURITY_WEBHOOK_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define WEBHOOK_KEY_MIN 24          /* decoded secret bytes, per the specification */
#define WEBHOOK_KEY_MAX 64
#define WEBHOOK_KEY_NEW 32          /* what webhook_secret_new generates */
#define WEBHOOK_SECRET_PREFIX "whsec_"
/* "whsec_" + base64 of WEBHOOK_KEY_MAX bytes (88) + NUL: fits any valid secret. */
#define WEBHOOK_SECRET_MAX (6 + 88 + 1)
/* "v1," + 44 base64 characters + NUL. */
#define WEBHOOK_SIG_MAX (3 + 44 + 1)
#define WEBHOOK_MSG_ID_MAX 255      /* longest msg_id accepted */
#define WEBHOOK_TOLERANCE_S 300     /* the specification's suggested clock skew */

/*
 * Writes a new secret ("whsec_" + base64 of WEBHOOK_KEY_NEW bytes from
 * randombytes_buf, 50 characters) into out[cap]. FMD_EINVAL if cap is smaller
 * than 51; out is then left as an empty string when cap > 0.
 */
int webhook_secret_new(char *out, size_t cap);

/*
 * Decodes secret ("whsec_..." only) into key[WEBHOOK_KEY_MAX] and sets
 * *keylen to the number of bytes (WEBHOOK_KEY_MIN..WEBHOOK_KEY_MAX).
 * FMD_EINVAL with a message in err for a missing prefix, bad base64 or a key
 * of the wrong length; the secret itself never appears in the message.
 */
int webhook_secret_parse(const char *secret, unsigned char *key, size_t *keylen,
                         struct fmd_err *err);

/*
 * Writes "v1,<base64 HMAC-SHA256 of msg_id.timestamp_s.body>" (47 characters)
 * into out[cap]. body may be NULL when body_len is 0; it is hashed in place,
 * not copied. FMD_EINVAL for cap < WEBHOOK_SIG_MAX, keylen 0, a negative
 * timestamp, or a msg_id that is empty, longer than WEBHOOK_MSG_ID_MAX or holds
 * anything but printable ASCII without spaces (it travels in a header).
 */
int webhook_sign(const unsigned char *key, size_t keylen, const char *msg_id,
                 int64_t timestamp_s, const char *body, size_t body_len,
                 char *out, size_t cap);

/*
 * Checks a received delivery: timestamp is the webhook-timestamp header
 * (decimal digits only), signature_header the webhook-signature header. Passes
 * when timestamp is within tolerance_s seconds of now_s (either way) and any
 * "v1," entry of the header matches, compared in constant time; entries of
 * other versions are skipped.
 * Returns 0 when valid; FMD_EINVAL for a malformed timestamp, msg_id or
 * argument; FMD_EUNAUTH when no signature matches or the timestamp is outside
 * the tolerance (the delivery must then be refused either way).
 */
int webhook_verify(const unsigned char *key, size_t keylen, const char *msg_id,
                   const char *timestamp, const char *body, size_t body_len,
                   const char *signature_header, int64_t now_s, int tolerance_s);

#endif
