/*
 * id.h - sortable unique ids.
 *
 * An id is 26 characters of Crockford base32 (a ULID): 48 bits of
 * milliseconds then 80 random bits from libsodium. Ids made in the same
 * millisecond by one process increase, so ids sort in creation order, which
 * is what cursor pagination relies on.
 */
#ifndef FMD_CORE_ID_H
#define FMD_CORE_ID_H

#include <stdint.h>

#define ID_LEN 26

/* Writes a new id and its NUL into out[ID_LEN + 1]. Thread-safe. */
void id_new(char out[ID_LEN + 1]);
/*
 * An id of the same shape for things that need to be unique but not
 * ordered (request ids): no lock, no system call. Thread-safe.
 */
void id_new_unordered(char out[ID_LEN + 1]);
/*
 * The smallest id of millisecond ms (its random part all zero): every id
 * made at ms or later sorts at or after it, so "made since ms" is a range.
 */
void id_floor(int64_t ms, char out[ID_LEN + 1]);
/* The millisecond an id was made at (its first 48 bits); -1 if s is no id. */
int64_t id_time_ms(const char *s);
/* 1 if s looks like an id (26 base32 characters), else 0. */
int id_valid(const char *s);

#endif
