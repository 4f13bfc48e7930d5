/*
 * token.h - API keys and session tokens.
 *
 * An API key reads "fmd_<prefix>_<secret><check>":
 * - prefix: 10 characters [a-z0-9], names the key (stored in clear, shown in
 *   listings, safe in logs);
 * - secret: 32 characters [A-Za-z0-9], 190 random bits;
 * - check: 6 characters [0-9A-Za-z], CRC-32 (IEEE, as zlib's crc32) of the
 *   body "<prefix>_<secret>" written in base 62, most significant digit
 *   first, zero-padded. A secret scanner recognises a leaked key offline
 *   (regex fmd_[a-z0-9]{10}_[A-Za-z0-9]{38}, then the checksum), and a
 *   mistyped key is refused before any database look-up.
 * Keys made before the checksum (47 characters, no check part) still
 * authenticate: they are looked up as before.
 *
 * Only SHA-256 of the whole key is stored. A session token reads
 * "fms_<43 characters>", 256 random bits, also stored only as its SHA-256.
 * Fast hashes are right here: the tokens are random, not chosen by people,
 * so there is nothing to brute-force.
 */
#ifndef FMD_SECURITY_TOKEN_H
#define FMD_SECURITY_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_PREFIX_LEN 10
#define TOKEN_SECRET_LEN 32
#define TOKEN_CHECK_LEN 6
/* fmd_ + prefix + _ + secret: a key made before the checksum */
#define TOKEN_KEY_LEGACY_LEN (4 + TOKEN_PREFIX_LEN + 1 + TOKEN_SECRET_LEN)
#define TOKEN_KEY_LEN (TOKEN_KEY_LEGACY_LEN + TOKEN_CHECK_LEN)
#define TOKEN_SESSION_LEN (4 + 43)
#define TOKEN_HASH_HEX 65                               /* 64 hex digits and NUL */

/* A new API key in key[TOKEN_KEY_LEN + 1] and its prefix in prefix[TOKEN_PREFIX_LEN + 1]. */
void token_new_key(char *key, char *prefix);
/* A new session token in tok[TOKEN_SESSION_LEN + 1]. */
void token_new_session(char *tok);
/* hex SHA-256 of token into out[TOKEN_HASH_HEX]. */
void token_hash(const char *token, char out[TOKEN_HASH_HEX]);

enum token_key_shape {
    TOKEN_NOT_KEY = 0,       /* not shaped like an API key at all */
    TOKEN_KEY_OK,            /* a key with a valid checksum */
    TOKEN_KEY_LEGACY,        /* a key from before the checksum */
    TOKEN_KEY_BAD_CHECK,     /* shaped like a key, checksum wrong: a typo or a forgery */
};
/*
 * Classifies token without any look-up; for TOKEN_KEY_OK and
 * TOKEN_KEY_LEGACY copies the prefix out.
 */
enum token_key_shape token_key_check(const char *token, char prefix[TOKEN_PREFIX_LEN + 1]);
/* 1 and the prefix when token is a usable key (TOKEN_KEY_OK or _LEGACY), else 0. */
int token_key_prefix(const char *token, char prefix[TOKEN_PREFIX_LEN + 1]);
/* CRC-32 (IEEE 802.3, reflected, as zlib) of n bytes. */
uint32_t token_crc32(const void *p, size_t n);
/* v in base 62 (0-9A-Za-z), TOKEN_CHECK_LEN digits and a NUL, into out. */
void token_base62(uint32_t v, char out[TOKEN_CHECK_LEN + 1]);
/* 1 if token is shaped like a session token. */
int token_is_session(const char *token);
/* Constant-time comparison of two hex hashes. */
int token_hash_equal(const char *a, const char *b);

#endif
