/*
 * cron.h - 5-field cron expressions for the task queue's periodic tasks.
 *
 * An expression is five fields separated by spaces or tabs:
 *
 *     minute  hour  day-of-month  month        day-of-week
 *     0-59    0-23  1-31          1-12/JAN-DEC 0-7/SUN-SAT (0 and 7 = Sunday)
 *
 * Each field is a comma-separated list of items; an item is `*`, a value
 * `a`, a range `a-b` (a <= b, no wrap-around), optionally followed by a
 * step `/n` (1 <= n <= the field's max): `*` then `/n` runs min-max by n,
 * `a-b/n` runs a-b by n and `a/n` runs a to max by n. Month and weekday
 * names are three letters, any case, and may be used wherever a number
 * may; nothing else (`?`, `L`, `W`, `#`) is accepted. Instead of the five
 * fields the whole expression, up to CRON_MAX_LEN bytes, may be one macro
 * (any case): @yearly and @annually (0 0 1 1 *), @monthly (0 0 1 * *),
 * @weekly (0 0 * * 0), @daily and @midnight (0 0 * * *), @hourly (0 * * * *).
 *
 * Days follow Vixie cron: when both day-of-month and day-of-week are
 * restricted, a day matches if either does; otherwise both must. As in
 * Vixie cron and cronie, a day field whose text starts with `*` (so also
 * a stepped `*`) counts as unrestricted: "0 0 1-31/2 * 1" runs on odd days
 * and on Mondays, but with `*` in place of `1-31` only on odd days that are
 * Mondays. All times are UTC.
 */
#ifndef FMD_QUEUE_CRON_H
#define FMD_QUEUE_CRON_H

#include <stdint.h>

#include "core/err.h"

/* Longest expression cron_parse accepts, in bytes. */
#define CRON_MAX_LEN 256

/* struct cron.flags */
#define CRON_DOM_RESTRICTED 0x01u   /* day-of-month does not start with `*` */
#define CRON_DOW_RESTRICTED 0x02u   /* day-of-week does not start with `*` */

/*
 * A parsed expression: a plain value, copied freely, nothing to release.
 * Bit n of each mask is set when value n matches.
 */
struct cron {
    uint64_t minutes;   /* bits 0-59 */
    uint32_t hours;     /* bits 0-23 */
    uint32_t mdays;     /* bits 1-31 */
    uint16_t months;    /* bits 1-12 */
    uint8_t wdays;      /* bits 0-6, 0 = Sunday (a 7 in the text sets bit 0) */
    uint8_t flags;      /* CRON_DOM_RESTRICTED | CRON_DOW_RESTRICTED */
};

/*
 * Parses the NUL-terminated expr into *out. Returns 0, or FMD_EINVAL with
 * err (may be NULL) naming the field and the token at fault, e.g.
 * "cron field 'hour': '24' is out of range 0-23"; *out is then unchanged.
 */
int cron_parse(const char *expr, struct cron *out, struct fmd_err *err);

/*
 * How far ahead cron_next looks: nine years of at most 366 days, so the
 * longest real gap (Feb 29 across a century year that is not leap: 8 years)
 * is always bridged and only impossible dates have no next time.
 */
#define CRON_HORIZON_MS ((int64_t)9 * 366 * 86400 * 1000)

/*
 * Sets *next_ms to the first whole minute strictly after after_ms (Unix
 * ms, UTC) that c matches. Returns 0, or FMD_EINVAL if there is none within
 * CRON_HORIZON_MS (e.g. "0 0 30 2 *") or after_ms is outside years
 * 1..9990; *next_ms is then unchanged.
 */
int cron_next(const struct cron *c, int64_t after_ms, int64_t *next_ms);

/* 1 if the minute holding ms (Unix ms, UTC) matches c, else 0. */
int cron_matches(const struct cron *c, int64_t ms);

#endif
