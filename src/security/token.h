/*
 * token.h - API keys and session tokens.
 *
 * An API key reads "fmd_<prefix>_<secret>": the 10-character prefix names
 * the key (stored in clear, shown in listings, findable in logs), the
 * 32-character secret is 190 random bits. Only SHA-256 of the whole key is
 * stored. A session token reads "fms_<43 characters>", 256 random bits,
 * also stored only as its SHA-256. Fast hashes are right here: the tokens
 * are random, not chosen by people, so there is nothing to brute-force.
 */
#ifndef FMD_SECURITY_TOKEN_H
#define FMD_SECURITY_TOKEN_H

#include <stddef.h>

#define TOKEN_PREFIX_LEN 10
#define TOKEN_KEY_LEN (4 + TOKEN_PREFIX_LEN + 1 + 32)   /* fmd_ + prefix + _ + secret */
#define TOKEN_SESSION_LEN (4 + 43)
#define TOKEN_HASH_HEX 65                               /* 64 hex digits and NUL */

/* A new API key in key[TOKEN_KEY_LEN + 1] and its prefix in prefix[TOKEN_PREFIX_LEN + 1]. */
void token_new_key(char *key, char *prefix);
/* A new session token in tok[TOKEN_SESSION_LEN + 1]. */
void token_new_session(char *tok);
/* hex SHA-256 of token into out[TOKEN_HASH_HEX]. */
void token_hash(const char *token, char out[TOKEN_HASH_HEX]);
/*
 * If token is shaped like an API key, copies its prefix out and returns 1;
 * else 0. Cheap syntactic check before any database look-up.
 */
int token_key_prefix(const char *token, char prefix[TOKEN_PREFIX_LEN + 1]);
/* 1 if token is shaped like a session token. */
int token_is_session(const char *token);
/* Constant-time comparison of two hex hashes. */
int token_hash_equal(const char *a, const char *b);

#endif
