/*
 * password.h - password hashing with Argon2id (libsodium).
 *
 * Parameters follow OWASP's minimum for Argon2id: 19 MiB of memory, two
 * passes, one lane. The encoded string carries its own parameters and salt,
 * so raising them later still verifies old hashes.
 */
#ifndef FMD_SECURITY_PASSWORD_H
#define FMD_SECURITY_PASSWORD_H

#include <stddef.h>

#include "core/err.h"

#define PASSWORD_HASH_MAX 128   /* crypto_pwhash_STRBYTES */
#define PASSWORD_MIN_LEN 8
#define PASSWORD_MAX_LEN 1024

/* Hashes password into out[PASSWORD_HASH_MAX]. FMD_EINVAL for a bad length. */
int password_hash(const char *password, char out[PASSWORD_HASH_MAX], struct fmd_err *err);
/* 1 if password matches hash, else 0. Takes about as long either way. */
int password_verify(const char *hash, const char *password);

#endif
