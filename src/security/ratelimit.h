/*
 * ratelimit.h - token buckets and failure counters in bounded memory.
 *
 * A struct ratelimit is a fixed-size table of entries, each under a short
 * text key (a route class and a client address, or a principal id). The
 * table never grows: when it is full, a new key takes the place of the
 * least recently used entry, so a flood of distinct addresses costs a
 * bounded amount of memory and evicts idle entries first. An evicted entry
 * starts again as new (a full bucket, no failures). Every function is
 * thread-safe (one mutex per table; each call does a few arithmetic steps).
 *
 * Two uses share the table:
 *   - token buckets (ratelimit_take): a bucket holds at most `burst` tokens,
 *     refills at `rate` tokens a second, and each request takes one;
 *   - failure counters (ratelimit_fail / ratelimit_blocked / ratelimit_forget):
 *     from the `after`-th failure in a row on, each failure blocks the key
 *     for base, 2 base, 4 base, ... up to cap; a quiet window forgets them.
 * A table is used for one of the two, not both.
 */
#ifndef FMD_SECURITY_RATELIMIT_H
#define FMD_SECURITY_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define RATELIMIT_KEY_MAX 79   /* longer keys are cut (an IPv6 text is at most 45) */

/* A bucket's shape; rate 0 means "no limit". */
struct ratelimit_spec {
    double rate;    /* tokens added per second */
    double burst;   /* most tokens a bucket holds (>= 1) */
};

/*
 * Parses "COUNT/SECONDS[,BURST]" (COUNT requests per SECONDS, BURST at once,
 * by default COUNT), or "0" / "off" for no limit. FMD_EINVAL with a message
 * naming `what` on anything else.
 */
int ratelimit_parse(const char *text, const char *what, struct ratelimit_spec *out,
                    struct fmd_err *err);

struct ratelimit;

/* A table of at most capacity entries (>= 1). 0, or FMD_ENOMEM. */
int ratelimit_new(size_t capacity, struct ratelimit **out);
void ratelimit_free(struct ratelimit *rl);
/* Entries in use (at most the capacity). */
size_t ratelimit_count(struct ratelimit *rl);

/*
 * Takes one token from key's bucket at now_ms: 0 when the request may go
 * on, else the milliseconds until a token will be there (> 0). A spec with
 * rate 0 always allows and touches nothing.
 */
int64_t ratelimit_take(struct ratelimit *rl, const char *key, const struct ratelimit_spec *spec,
                       int64_t now_ms);

/* The policy of failure counters. */
struct ratelimit_backoff {
    int after;             /* the failure that starts the delays (>= 1) */
    int64_t base_ms;       /* the first delay */
    int64_t cap_ms;        /* the longest delay */
    int64_t window_ms;     /* failures older than this (since the last one) are forgotten */
};

/* Counts a failure of key at now_ms; the ms the key is now blocked for (0: none). */
int64_t ratelimit_fail(struct ratelimit *rl, const char *key, const struct ratelimit_backoff *b,
                       int64_t now_ms);
/* The ms key stays blocked for from now_ms (0: not blocked). */
int64_t ratelimit_blocked(struct ratelimit *rl, const char *key, int64_t now_ms);
/* Forgets key's failures (a success). */
void ratelimit_forget(struct ratelimit *rl, const char *key);

/* Seconds to send in Retry-After for a wait of ms: rounded up, at least 1. */
int64_t ratelimit_retry_after(int64_t ms);

#endif
