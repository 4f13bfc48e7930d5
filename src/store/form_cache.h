/*
 * form_cache.h - published form definitions as the public GET sends them.
 *
 * GET /v1/public/forms/{slug} is the most read endpoint and its answer
 * changes only when the form is published, renamed, opened or closed. The
 * cache keeps the rendered bytes per slug for at most FORM_CACHE_TTL_MS.
 * Writes in this process call form_cache_forget after their commit, so
 * this server never serves a stale definition; the TTL bounds staleness
 * from writes this process does not see (other nodes, in a scale-out).
 *
 * A generation counter closes the race between a reader that read the
 * database before a commit and a writer that forgot the slug after it: the
 * reader's insert is refused if any forget happened in between.
 */
#ifndef FMD_STORE_FORM_CACHE_H
#define FMD_STORE_FORM_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define FORM_CACHE_TTL_MS 1000
#define FORM_CACHE_SLOTS 1024   /* a power of two */

/* Appends the cached body for slug to out: 1 if found and fresh, else 0. */
int form_cache_get(const char *slug, struct buf *out);
/* The generation to pass to form_cache_put for a read starting now. */
uint64_t form_cache_generation(void);
/* Stores body for slug unless a forget happened since generation. */
void form_cache_put(const char *slug, const char *body, size_t len, uint64_t generation);
/* Drops slug's entry (NULL: every entry). */
void form_cache_forget(const char *slug);
/* Frees everything (shutdown, tests). */
void form_cache_clear(void);

#endif
