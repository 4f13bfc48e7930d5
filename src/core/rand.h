/*
 * rand.h - fast random bytes for values that must be unique, not secret.
 *
 * Request ids and trace ids are made for every request; reading them from
 * the kernel (getrandom) cost a system call each, visible in profiles. Each
 * thread here keeps a ChaCha20 stream keyed once from libsodium's
 * randombytes and refills a small buffer from it. The output is as
 * unpredictable as ChaCha20, but secrets (keys, session tokens, salts)
 * still come from randombytes_buf directly, so a flaw here cannot touch them.
 */
#ifndef FMD_CORE_RAND_H
#define FMD_CORE_RAND_H

#include <stddef.h>

/* n random bytes into buf. Thread-safe (per-thread state), never fails. */
void rand_fast(void *buf, size_t n);
/* 2 * nbytes lowercase hex digits and a NUL into out. */
void rand_fast_hex(char *out, size_t nbytes);

#endif
