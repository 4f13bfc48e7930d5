/*
 * cron.c - parsing 5-field cron expressions and finding their next time.
 *
 * The parser reads each field's items into a bitmask, so matching a time is
 * five bit tests. cron_next walks the calendar from the start time, skipping
 * a whole month, day or hour whenever that unit cannot match, so a search
 * costs at most a few thousand steps however far ahead the answer is.
 */
#include "queue/cron.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "core/banned.h"

/* Tokens quoted in error messages are cut to this many bytes. */
#define QUOTE_MAX 64

struct field {
    const char *name;               /* as error messages call it */
    int min, max;
    const char *const *names;       /* names[i] is value names_base + i */
    int names_base, names_count;
};

static const char *const month_names[] = {
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

enum { F_MINUTE, F_HOUR, F_MDAY, F_MONTH, F_WDAY, F_COUNT };

static const struct field fields[F_COUNT] = {
    [F_MINUTE] = {"minute", 0, 59, NULL, 0, 0},
    [F_HOUR] = {"hour", 0, 23, NULL, 0, 0},
    [F_MDAY] = {"day of month", 1, 31, NULL, 0, 0},
    [F_MONTH] = {"month", 1, 12, month_names, 1, 12},
    [F_WDAY] = {"day of week", 0, 7, wday_names, 0, 7},
};

static const struct {
    const char *name;
    const char *expr;
} macros[] = {
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static int is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static char lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* Case-insensitive comparison of s[0..n) with the NUL-terminated word. */
static int word_eq(const char *s, size_t n, const char *word)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!word[i] || lower(s[i]) != word[i])
            return 0;
    return word[n] == '\0';
}

/*
 * Copies s[0..n) into dst for quoting in a message: cut to QUOTE_MAX bytes,
 * and anything but printable ASCII as '?' so the message stays valid UTF-8.
 */
static const char *quote(char dst[QUOTE_MAX + 1], const char *s, size_t n)
{
    size_t i;
    if (n > QUOTE_MAX)
        n = QUOTE_MAX;
    for (i = 0; i < n; i++)
        dst[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    dst[n] = '\0';
    return dst;
}

/* Reads a run of digits at *pp, saturating far above any field's max. */
static long read_number(const char **pp)
{
    const char *p = *pp;
    long v = 0;
    while (is_digit(*p)) {
        if (v <= 1000000)
            v = v * 10 + (*p - '0');
        p++;
    }
    *pp = p;
    return v;
}

/*
 * Reads one value (a number, or a name where the field has names) at *pp,
 * inside the item s[0..end), advancing *pp past it.
 */
static int parse_value(const struct field *f, const char *s, const char *end, const char **pp,
                       int *out, struct fmd_err *err)
{
    const char *v0 = *pp, *p = v0;
    char q[QUOTE_MAX + 1];
    int i;

    if (is_digit(*p)) {
        long v = read_number(&p);
        if (v < f->min || v > f->max)
            return fmd_errf(err, FMD_EINVAL, "cron field '%s': '%s' is out of range %d-%d",
                            f->name, quote(q, v0, (size_t)(p - v0)), f->min, f->max);
        *out = (int)v;
        *pp = p;
        return 0;
    }
    if (!is_alpha(*p))
        return fmd_errf(err, FMD_EINVAL, "cron field '%s': expected a %s in '%s'", f->name,
                        f->names ? "number or name" : "number", quote(q, s, (size_t)(end - s)));
    while (is_alpha(*p))
        p++;
    if (!f->names)
        return fmd_errf(err, FMD_EINVAL, "cron field '%s': '%s' is not a number", f->name,
                        quote(q, v0, (size_t)(p - v0)));
    for (i = 0; i < f->names_count; i++) {
        if (word_eq(v0, (size_t)(p - v0), f->names[i])) {
            *out = f->names_base + i;
            *pp = p;
            return 0;
        }
    }
    return fmd_errf(err, FMD_EINVAL, "cron field '%s': unknown name '%s'", f->name,
                    quote(q, v0, (size_t)(p - v0)));
}

/* Reads the step after the '/' at *pp in the item s[0..end): 1..max. */
static int parse_step(const struct field *f, const char *s, const char *end, const char **pp,
                      int *out, struct fmd_err *err)
{
    const char *v0 = *pp, *p = v0;
    char q[QUOTE_MAX + 1];
    long v;

    if (!is_digit(*p))
        return fmd_errf(err, FMD_EINVAL, "cron field '%s': expected a step after '/' in '%s'",
                        f->name, quote(q, s, (size_t)(end - s)));
    v = read_number(&p);
    if (v == 0)
        return fmd_errf(err, FMD_EINVAL, "cron field '%s': step '%s' must be positive",
                        f->name, quote(q, v0, (size_t)(p - v0)));
    if (v > f->max)
        return fmd_errf(err, FMD_EINVAL, "cron field '%s': step '%s' is out of range 1-%d",
                        f->name, quote(q, v0, (size_t)(p - v0)), f->max);
    *out = (int)v;
    *pp = p;
    return 0;
}

/*
 * Parses one non-empty item (`*`, `a`, `a-b`, each with an optional `/n`)
 * s[0..end), setting its values' bits in *mask.
 */
static int parse_item(const struct field *f, const char *s, const char *end, uint64_t *mask,
                      struct fmd_err *err)
{
    const char *p = s;
    char q[QUOTE_MAX + 1];
    int lo, hi, step = 1, v, rc = 0;

    if (*p == '*') {
        lo = f->min;
        hi = f->max;
        p++;
    } else {
        if ((rc = parse_value(f, s, end, &p, &lo, err)))
            goto out;
        hi = lo;
        if (p < end && *p == '-') {
            p++;
            if ((rc = parse_value(f, s, end, &p, &hi, err)))
                goto out;
            if (lo > hi) {
                rc = fmd_errf(err, FMD_EINVAL, "cron field '%s': range '%s' starts after it ends",
                              f->name, quote(q, s, (size_t)(p - s)));
                goto out;
            }
        } else if (p < end && *p == '/') {
            hi = f->max;    /* `a/n` runs from a to the field's max */
        }
    }
    if (p < end && *p == '/') {
        p++;
        if ((rc = parse_step(f, s, end, &p, &step, err)))
            goto out;
    }
    if (p != end) {
        char bad[2] = {*p, '\0'};
        char qb[QUOTE_MAX + 1];
        rc = fmd_errf(err, FMD_EINVAL, "cron field '%s': unexpected '%s' in '%s'", f->name,
                      quote(qb, bad, 1), quote(q, s, (size_t)(end - s)));
        goto out;
    }
    for (v = lo; v <= hi; v += step)
        *mask |= (uint64_t)1 << v;
out:
    return rc;
}

/* Parses the field text s[0..n) (non-empty, no blanks) into *mask. */
static int parse_field(const struct field *f, const char *s, size_t n, uint64_t *mask,
                       struct fmd_err *err)
{
    const char *end = s + n, *item = s;
    int rc = 0;

    *mask = 0;
    for (;;) {
        const char *comma = memchr(item, ',', (size_t)(end - item));
        const char *stop = comma ? comma : end;
        if (item == stop) {
            char q[QUOTE_MAX + 1];
            rc = fmd_errf(err, FMD_EINVAL, "cron field '%s': empty list item in '%s'", f->name,
                          quote(q, s, n));
            goto out;
        }
        if ((rc = parse_item(f, item, stop, mask, err)))
            goto out;
        if (!comma)
            break;
        item = comma + 1;
    }
out:
    return rc;
}

/* Parses the five fields of s into *c. */
static int parse_fields(const char *s, struct cron *c, struct fmd_err *err)
{
    const char *start[F_COUNT + 1];
    size_t len[F_COUNT + 1];
    uint64_t masks[F_COUNT];
    int n = 0, i, rc = 0;
    const char *p = s;

    for (;;) {
        while (is_blank(*p))
            p++;
        if (!*p)
            break;
        if (n <= F_COUNT) {
            start[n] = p;
            len[n] = strcspn(p, " \t");
        }
        n++;
        p += strcspn(p, " \t");
    }
    if (n != F_COUNT) {
        rc = fmd_errf(err, FMD_EINVAL, "cron expression needs 5 fields, got %d", n);
        goto out;
    }
    for (i = 0; i < F_COUNT; i++)
        if ((rc = parse_field(&fields[i], start[i], len[i], &masks[i], err)))
            goto out;
    c->minutes = masks[F_MINUTE];
    c->hours = (uint32_t)masks[F_HOUR];
    c->mdays = (uint32_t)masks[F_MDAY];
    c->months = (uint16_t)masks[F_MONTH];
    /* Sunday is both 0 and 7. */
    c->wdays = (uint8_t)((masks[F_WDAY] | masks[F_WDAY] >> 7) & 0x7f);
    c->flags = 0;
    if (start[F_MDAY][0] != '*')
        c->flags |= CRON_DOM_RESTRICTED;
    if (start[F_WDAY][0] != '*')
        c->flags |= CRON_DOW_RESTRICTED;
out:
    return rc;
}

/* Replaces the macro at s (starting with '@') by its expansion in *c. */
static int parse_macro(const char *s, struct cron *c, struct fmd_err *err)
{
    size_t n = strcspn(s, " \t"), i;
    const char *rest = s + n;
    char q[QUOTE_MAX + 1], qr[QUOTE_MAX + 1];
    int rc = 0;

    while (is_blank(*rest))
        rest++;
    for (i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
        if (word_eq(s, n, macros[i].name))
            break;
    if (i == sizeof(macros) / sizeof(macros[0])) {
        if (word_eq(s, n, "@reboot"))
            rc = fmd_errf(err, FMD_EINVAL, "cron macro '@reboot' is not supported");
        else
            rc = fmd_errf(err, FMD_EINVAL, "cron macro '%s' is unknown", quote(q, s, n));
        goto out;
    }
    if (*rest) {
        rc = fmd_errf(err, FMD_EINVAL, "cron macro '%s' takes no fields, got '%s'",
                      quote(q, s, n), quote(qr, rest, strlen(rest)));
        goto out;
    }
    rc = parse_fields(macros[i].expr, c, err);
out:
    return rc;
}

int cron_parse(const char *expr, struct cron *out, struct fmd_err *err)
{
    struct cron c;
    const char *p = expr;
    int rc = 0;

    memset(&c, 0, sizeof(c));   /* padding too, so equal values compare equal */
    if (!expr) {
        rc = fmd_errf(err, FMD_EINVAL, "cron expression is missing");
        goto out;
    }
    if (strnlen(expr, CRON_MAX_LEN + 1) > CRON_MAX_LEN) {
        rc = fmd_errf(err, FMD_EINVAL, "cron expression is longer than %d bytes", CRON_MAX_LEN);
        goto out;
    }
    while (is_blank(*p))
        p++;
    if (!*p) {
        rc = fmd_errf(err, FMD_EINVAL, "cron expression is empty");
        goto out;
    }
    rc = *p == '@' ? parse_macro(p, &c, err) : parse_fields(p, &c, err);
    if (!rc)
        memcpy(out, &c, sizeof(c));
out:
    return rc;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The civil date of days since 1970-01-01; the inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int weekday(int64_t days)
{
    int64_t w = (days + 4) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int bit(uint64_t mask, int n)
{
    return (int)(mask >> n & 1);
}

/* The smallest v in from..max whose bit is set in mask, or -1. */
static int next_bit(uint64_t mask, int from, int max)
{
    for (; from <= max; from++)
        if (bit(mask, from))
            return from;
    return -1;
}

static int day_matches(const struct cron *c, int mday, int wday)
{
    int dom = bit(c->mdays, mday), dow = bit(c->wdays, wday);
    if ((c->flags & CRON_DOM_RESTRICTED) && (c->flags & CRON_DOW_RESTRICTED))
        return dom || dow;
    return dom && dow;
}

/* after_ms outside this range (years 1..9990) is refused, so no sum overflows. */
#define MIN_MS (-62135596800000LL)   /* 0001-01-01 */
#define MAX_MS (253086768000000LL)   /* 9990-01-01 */

int cron_matches(const struct cron *c, int64_t ms)
{
    int64_t minute = floor_div(ms, 60000), days = floor_div(minute, 1440), y;
    int m, d, in_day = (int)(minute - days * 1440);

    civil_from_days(days, &y, &m, &d);
    return bit(c->months, m) && day_matches(c, d, weekday(days)) &&
           bit(c->hours, in_day / 60) && bit(c->minutes, in_day % 60);
}

int cron_next(const struct cron *c, int64_t after_ms, int64_t *next_ms)
{
    int64_t minute, days, y, limit_days, found;
    int mo, d, h, mi, v, rc = 0;

    if (after_ms < MIN_MS || after_ms > MAX_MS) {
        rc = FMD_EINVAL;
        goto out;
    }
    minute = floor_div(after_ms, 60000) + 1;
    days = floor_div(minute, 1440);
    limit_days = floor_div(after_ms + CRON_HORIZON_MS, 86400000);
    h = (int)(minute - days * 1440) / 60;
    mi = (int)(minute - days * 1440) % 60;
    civil_from_days(days, &y, &mo, &d);

    /*
     * (y, mo, d, h, mi) is the earliest time not yet ruled out; each step
     * either accepts the current unit or moves to the start of the next one.
     */
    for (;;) {
        if (days_from_civil(y, mo, d) > limit_days) {
            rc = FMD_EINVAL;
            goto out;
        }
        if ((v = next_bit(c->months, mo, 12)) < 0) {
            y++, mo = 1, d = 1, h = 0, mi = 0;
            continue;
        }
        if (v != mo) {
            mo = v, d = 1, h = 0, mi = 0;
            continue;
        }
        if (d > days_in_month(y, mo) || !day_matches(c, d, weekday(days_from_civil(y, mo, d)))) {
            if (d >= days_in_month(y, mo)) {
                if (++mo > 12)
                    y++, mo = 1;
                d = 1;
            } else {
                d++;
            }
            h = 0, mi = 0;
            continue;
        }
        if ((v = next_bit(c->hours, h, 23)) < 0) {
            d++, h = 0, mi = 0;     /* past the month's end is handled above */
            continue;
        }
        if (v != h)
            h = v, mi = 0;
        if ((v = next_bit(c->minutes, mi, 59)) < 0) {
            if (++h > 23)
                d++, h = 0;
            mi = 0;
            continue;
        }
        mi = v;
        break;
    }
    found = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000;
    if (found - after_ms > CRON_HORIZON_MS) {
        rc = FMD_EINVAL;
        goto out;
    }
    *next_ms = found;
out:
    return rc;
}
