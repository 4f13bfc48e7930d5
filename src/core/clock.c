/* clock.c - clocks and RFC 3339. */
#include "core/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/banned.h"

uint64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *clock_rfc3339(int64_t ms, char *out)
{
    /* Floored, not truncated: -1 ms is 1969-12-31T23:59:59.999Z (truncating gave
     * 1970-01-01T00:00:00 and a wrapped millisecond field; found by fuzz_query). */
    int64_t frac = ms % 1000 < 0 ? ms % 1000 + 1000 : ms % 1000;
    time_t secs = (time_t)((ms - frac) / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* Years past 9999 do not occur in our data; clamp so the width is fixed. */
    unsigned year = (unsigned)(tm.tm_year + 1900) % 10000;
    snprintf(out, CLOCK_RFC3339_LEN, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             year, (unsigned)(tm.tm_mon + 1) % 100, (unsigned)tm.tm_mday % 100,
             (unsigned)tm.tm_hour % 100, (unsigned)tm.tm_min % 100,
             (unsigned)tm.tm_sec % 100, (unsigned)frac);
    return out;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0, i;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int clock_parse_rfc3339(const char *s, int64_t *ms)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0, sign = 0;
    const char *p;

    if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
        s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
        s[16] != ':' || digits(s + 17, 2, &sec))
        return FMD_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
        return FMD_EINVAL;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return FMD_EINVAL;
    p = s + 19;
    if (*p == '.') {
        int n = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (n < 3)
                frac = frac * 10 + (*p - '0');
            n++;
            p++;
        }
        if (!n)
            return FMD_EINVAL;
        while (n++ < 3)
            frac *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return FMD_EINVAL;
        p += 6;
    } else {
        return FMD_EINVAL;
    }
    if (*p)
        return FMD_EINVAL;
    if (sec == 60)
        sec = 59;   /* a leap second is valid input; POSIX time has no room for it */
    *ms = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec)
           - (int64_t)sign * (oh * 3600 + om * 60)) * 1000 + frac;
    return 0;
}
