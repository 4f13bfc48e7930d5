/*
 * crypto.h - the keyring and the sealed values of sensitive form fields.
 *
 * Key file (FORMD_ENCRYPTION_KEY_FILE): one key a line,
 *     KEYID:BASE64
 * KEYID 1..32 characters of [A-Za-z0-9_-], unique; BASE64 the standard,
 * padded base64 of exactly 32 random bytes (`head -c 32 /dev/urandom |
 * base64`). Blank lines and lines starting with '#' are skipped. The LAST
 * key is the current one, which seals; every key opens what it sealed, so
 * rotating is: append a new line, restart, re-seal (security.rotate_key),
 * then drop the old line.
 *
 * A sealed value is the JSON string
 *     "enc:v1:KEYID:BASE64(nonce || ciphertext || tag)"
 * made with XChaCha20-Poly1305 (IETF), a random 24-byte nonce, and
 * additional data supplied by the caller (formd binds each value to its
 * form, submission and field path, so a sealed value copied to another row
 * or field does not open). The plaintext is the value's JSON text, so any
 * JSON type round-trips. Whether a value is sealed is decided by where it is
 * (the schema's sensitive paths), never by its looks: a user's string that
 * happens to start with "enc:" is sealed like any other when sensitive, and
 * never opened when not.
 */
#ifndef FMD_SECURITY_CRYPTO_H
#define FMD_SECURITY_CRYPTO_H

#include <stddef.h>

#include "core/err.h"

#define CRYPTO_KEY_BYTES 32
#define CRYPTO_KEY_ID_MAX 32
#define CRYPTO_SEALED_PREFIX "enc:v1:"

struct crypto_keyring;

/*
 * Parses a key file's text into a new keyring (*out, crypto_keyring_free).
 * FMD_EINVAL with the line number in err for a line without ':', a bad key
 * id, a duplicate id, bad base64 or a key that is not 32 bytes, or text with
 * no key at all; FMD_ENOMEM. Key bytes live in locked, guarded memory.
 */
int crypto_keyring_parse(const char *text, struct crypto_keyring **out, struct fmd_err *err);
void crypto_keyring_free(struct crypto_keyring *kr);

/* The id of the current (last) key. */
const char *crypto_keyring_current(const struct crypto_keyring *kr);
/* Number of keys. */
size_t crypto_keyring_count(const struct crypto_keyring *kr);

/*
 * Seals plain[0..len) under the current key with additional data ad (a
 * NUL-terminated string) into a new fmd_malloc'd NUL-terminated *out.
 * 0 or FMD_ENOMEM.
 */
int crypto_seal(const struct crypto_keyring *kr, const char *plain, size_t len, const char *ad,
                char **out, struct fmd_err *err);

/*
 * Opens sealed with ad into a new fmd_malloc'd NUL-terminated *out of
 * *len bytes. FMD_EINVAL when sealed is not a sealed value, FMD_ENOTFOUND
 * when its key id is not in kr, FMD_EUNPROC when it does not authenticate
 * (wrong key, tampered, or other additional data); FMD_ENOMEM.
 */
int crypto_open(const struct crypto_keyring *kr, const char *sealed, const char *ad, char **out,
                size_t *len, struct fmd_err *err);

/*
 * The key id of a sealed value into id (CRYPTO_KEY_ID_MAX + 1): 1, or 0
 * when s is not shaped like a sealed value.
 */
int crypto_sealed_key_id(const char *s, char id[CRYPTO_KEY_ID_MAX + 1]);

/*
 * hex HMAC-SHA-256 of data under a subkey of key number `which` (0: the
 * current key, 1: the one before, ...) into out[65]: 0, or FMD_ENOTFOUND
 * past the oldest key. For digests of requests that hold sensitive values
 * (idempotency), which a plain hash would let be guessed offline.
 */
int crypto_keyed_hash(const struct crypto_keyring *kr, size_t which, const void *data,
                      size_t len, char out[65]);

#endif
