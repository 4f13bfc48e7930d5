/*
 * fuzz_cron.c - libFuzzer target for src/queue/cron.c: cron_parse on any
 * bytes, then cron_next and cron_matches on whatever parses.
 *
 * The input, cut at its first NUL, is one expression. A refusal must come
 * with an FMD_EINVAL message that is printable ASCII. An accepted expression
 * must give masks within their fields, and for a few start times (fixed ones
 * and one drawn from the input) cron_next must agree with a slow reference
 * that walks every day of the horizon with gmtime_r. Any disagreement aborts.
 * cron.c is compiled in here because the Makefile's fuzz builds link only
 * src/core and src/schema. Seeds: corpus/fuzz_cron/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mem.h"
#include "../../src/queue/cron.c"
#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DAY_MS ((int64_t)86400000)

static void die(const char *what, const char *expr)
{
    fprintf(stderr, "fuzz_cron: %s for \"%s\"\n", what, expr);
    abort();
}

/* Matches a day by gmtime_r, not by cron.c's calendar. */
static int ref_day(const struct cron *c, int64_t day)
{
    time_t secs = (time_t)(day * 86400);
    struct tm tm;
    int dom, dow;
    gmtime_r(&secs, &tm);
    if (!(c->months >> (tm.tm_mon + 1) & 1))
        return 0;
    dom = (int)(c->mdays >> tm.tm_mday & 1);
    dow = (int)(c->wdays >> tm.tm_wday & 1);
    if ((c->flags & CRON_DOM_RESTRICTED) && (c->flags & CRON_DOW_RESTRICTED))
        return dom || dow;
    return dom && dow;
}

/* The slow answer: first matching minute in (after, after + horizon], or -1. */
static int64_t ref_next(const struct cron *c, int64_t after)
{
    int64_t day = floor_div(after, DAY_MS), last = floor_div(after + CRON_HORIZON_MS, DAY_MS);
    int h, m;
    for (; day <= last; day++) {
        if (!ref_day(c, day))
            continue;
        for (h = 0; h < 24; h++) {
            if (!(c->hours >> h & 1))
                continue;
            for (m = 0; m < 60; m++) {
                int64_t t = day * DAY_MS + (int64_t)(h * 60 + m) * 60000;
                if (!(c->minutes >> m & 1) || t <= after)
                    continue;
                return t - after <= CRON_HORIZON_MS ? t : -1;
            }
        }
    }
    return -1;
}

static void check_next(const struct cron *c, int64_t after, const char *expr)
{
    int64_t next = -7, want = ref_next(c, after);
    int rc = cron_next(c, after, &next);

    if (rc != 0 && rc != FMD_EINVAL)
        die("cron_next returned an unexpected code", expr);
    if (rc) {
        if (next != -7)
            die("cron_next wrote *next_ms on failure", expr);
        if (want != -1)
            die("cron_next found nothing where the reference did", expr);
        return;
    }
    if (next <= after || next - after > CRON_HORIZON_MS || next % 60000)
        die("cron_next answer out of bounds", expr);
    if (next != want) {
        fprintf(stderr, "after %lld: got %lld, reference %lld\n", (long long)after,
                (long long)next, (long long)want);
        die("cron_next disagrees with the reference", expr);
    }
    if (!cron_matches(c, next) || !cron_matches(c, next + 59999))
        die("cron_matches refuses cron_next's answer", expr);
    if (next - 60000 > after && cron_matches(c, next - 60000))
        die("cron_next skipped an earlier match", expr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t fixed[] = {
        0,                      /* 1970-01-01, a Thursday */
        1795868742123,          /* 2026-11-28T12:25:42.123Z */
        4107542399999,          /* 2100-02-28T23:59:59.999Z: no leap day */
        -86400001,              /* before the epoch */
    };
    struct fmd_err err = {0};
    struct cron c, again;
    uint64_t h = 1469598103934665603u;
    char *expr = fmd_malloc(size + 1);
    size_t i;

    if (!expr)
        return 0;
    memcpy(expr, data, size);
    expr[size] = '\0';

    if (cron_parse(expr, &c, &err)) {
        if (err.code != FMD_EINVAL || strncmp(err.msg, "cron ", 5) != 0)
            die("refusal without a cron message", expr);
        for (i = 0; err.msg[i]; i++)
            if (err.msg[i] < 0x20 || err.msg[i] > 0x7e)
                die("error message is not printable ASCII", expr);
        goto out;
    }
    if (!c.minutes || c.minutes >> 60 || !c.hours || c.hours >> 24 || !(c.mdays & ~1u) ||
        (c.mdays & 1) || !(c.months & 0x1ffe) || (c.months & ~0x1ffe) || !c.wdays ||
        (c.wdays & 0x80) || (c.flags & ~3u))
        die("masks outside their fields", expr);
    if (cron_parse(expr, &again, NULL) || c.minutes != again.minutes ||
        c.hours != again.hours || c.mdays != again.mdays || c.months != again.months ||
        c.wdays != again.wdays || c.flags != again.flags)
        die("second parse differs", expr);

    for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        check_next(&c, fixed[i], expr);
    /* One start time drawn from the input (FNV-1a), anywhere in range. */
    for (i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211u;
    check_next(&c, MIN_MS + (int64_t)(h % (uint64_t)(MAX_MS - MIN_MS)), expr);
out:
    fmd_free(expr);
    return 0;
}
