/* test_cron.c - cron expressions: syntax, macros, errors and next times. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "queue/cron.h"

#define ALL_MINUTES ((UINT64_C(1) << 60) - 1)
#define ALL_HOURS ((UINT32_C(1) << 24) - 1)
#define ALL_MDAYS (((UINT32_C(1) << 31) - 1) << 1)
#define ALL_MONTHS ((uint16_t)(((1u << 12) - 1) << 1))
#define ALL_WDAYS ((uint8_t)0x7f)

static struct cron parse_ok(const char *expr)
{
    struct cron c;
    struct fmd_err err = {0};
    int rc = cron_parse(expr, &c, &err);
    if (rc)
        fail_msg("cron_parse(\"%s\") = %d: %s", expr, rc, err.msg);
    return c;
}

static int same_cron(const struct cron *a, const struct cron *b)
{
    return a->minutes == b->minutes && a->hours == b->hours && a->mdays == b->mdays &&
           a->months == b->months && a->wdays == b->wdays && a->flags == b->flags;
}

static int64_t ms_of(const char *rfc3339)
{
    int64_t ms;
    if (clock_parse_rfc3339(rfc3339, &ms))
        fail_msg("bad time in test: %s", rfc3339);
    return ms;
}

/* The next time of expr after from, as RFC 3339, or "none". */
static const char *next_of(const char *expr, const char *from)
{
    static char out[CLOCK_RFC3339_LEN];
    struct cron c = parse_ok(expr);
    int64_t next = 0;
    if (cron_next(&c, ms_of(from), &next))
        return "none";
    return clock_rfc3339(next, out);
}

/* Checks that expr fails with exactly msg. */
static void check_error(const char *expr, const char *msg)
{
    struct cron c, before;
    struct fmd_err err = {0};
    int rc;
    memset(&c, 0xab, sizeof(c));
    memcpy(&before, &c, sizeof(c));
    rc = cron_parse(expr, &c, &err);
    if (rc != FMD_EINVAL || err.code != FMD_EINVAL || strcmp(err.msg, msg) != 0)
        fail_msg("cron_parse(\"%s\"): got %d \"%s\", want FMD_EINVAL \"%s\"", expr, rc,
                 err.msg, msg);
    assert_memory_equal(&c, &before, sizeof(c));   /* *out untouched on failure */
}

static void parses_star_values_and_ranges(void **state)
{
    struct cron c = parse_ok("* * * * *");
    assert_int_equal(c.minutes, ALL_MINUTES);
    assert_int_equal(c.hours, ALL_HOURS);
    assert_int_equal(c.mdays, ALL_MDAYS);
    assert_int_equal(c.months, ALL_MONTHS);
    assert_int_equal(c.wdays, ALL_WDAYS);
    assert_int_equal(c.flags, 0);

    c = parse_ok("5 4 3 2 1");
    assert_int_equal(c.minutes, UINT64_C(1) << 5);
    assert_int_equal(c.hours, 1u << 4);
    assert_int_equal(c.mdays, 1u << 3);
    assert_int_equal(c.months, 1u << 2);
    assert_int_equal(c.wdays, 1u << 1);
    assert_int_equal(c.flags, CRON_DOM_RESTRICTED | CRON_DOW_RESTRICTED);

    c = parse_ok("0 0 31 12 6");
    assert_int_equal(c.minutes, 1);
    assert_int_equal(c.mdays, 1u << 31);
    assert_int_equal(c.months, 1u << 12);
    assert_int_equal(c.wdays, 1u << 6);

    c = parse_ok("59 23 1 1 0");
    assert_int_equal(c.minutes, UINT64_C(1) << 59);
    assert_int_equal(c.hours, 1u << 23);

    c = parse_ok("10-12 9-17 1-7 3-5 1-5");
    assert_int_equal(c.minutes, UINT64_C(7) << 10);
    assert_int_equal(c.hours, 0x1ffu << 9);
    assert_int_equal(c.mdays, 0x7fu << 1);
    assert_int_equal(c.months, 7u << 3);
    assert_int_equal(c.wdays, 0x1fu << 1);

    c = parse_ok("7-7 00 01 001 0");   /* one-value range, leading zeros */
    assert_int_equal(c.minutes, UINT64_C(1) << 7);
    assert_int_equal(c.hours, 1);
    assert_int_equal(c.mdays, 2);
    assert_int_equal(c.months, 2);
}

static void parses_steps(void **state)
{
    struct cron c = parse_ok("*/15 */6 */10 */4 */2");
    assert_int_equal(c.minutes, (UINT64_C(1) << 0) | (UINT64_C(1) << 15) |
                                    (UINT64_C(1) << 30) | (UINT64_C(1) << 45));
    assert_int_equal(c.hours, (1u << 0) | (1u << 6) | (1u << 12) | (1u << 18));
    assert_int_equal(c.mdays, (1u << 1) | (1u << 11) | (1u << 21) | (1u << 31));
    assert_int_equal(c.months, (1u << 1) | (1u << 5) | (1u << 9));
    assert_int_equal(c.wdays, (1u << 0) | (1u << 2) | (1u << 4) | (1u << 6));
    /* A day field starting with '*' is unrestricted, as in Vixie cron. */
    assert_int_equal(c.flags, 0);

    c = parse_ok("10-30/10 1-23/11 2-9/3 1-12/12 1-5/2");
    assert_int_equal(c.minutes, (UINT64_C(1) << 10) | (UINT64_C(1) << 20) | (UINT64_C(1) << 30));
    assert_int_equal(c.hours, (1u << 1) | (1u << 12) | (1u << 23));
    assert_int_equal(c.mdays, (1u << 2) | (1u << 5) | (1u << 8));
    assert_int_equal(c.months, 1u << 1);
    assert_int_equal(c.wdays, (1u << 1) | (1u << 3) | (1u << 5));
    assert_int_equal(c.flags, CRON_DOM_RESTRICTED | CRON_DOW_RESTRICTED);

    /* a/n runs from a to the field's max. */
    c = parse_ok("50/3 20/2 28/2 10/1 5/1");
    assert_int_equal(c.minutes, (UINT64_C(1) << 50) | (UINT64_C(1) << 53) |
                                    (UINT64_C(1) << 56) | (UINT64_C(1) << 59));
    assert_int_equal(c.hours, (1u << 20) | (1u << 22));
    assert_int_equal(c.mdays, (1u << 28) | (1u << 30));
    assert_int_equal(c.months, (1u << 10) | (1u << 11) | (1u << 12));
    assert_int_equal(c.wdays, (1u << 5) | (1u << 6) | (1u << 0));   /* 5, 6, 7 = Sunday */

    c = parse_ok("*/59 */23 */31 */12 */7");   /* the largest steps */
    assert_int_equal(c.minutes, 1 | (UINT64_C(1) << 59));
    assert_int_equal(c.hours, 1 | (1u << 23));
    assert_int_equal(c.mdays, 1u << 1);
    assert_int_equal(c.months, 1u << 1);
    assert_int_equal(c.wdays, 1u << 0);
}

static void parses_lists(void **state)
{
    struct cron c = parse_ok("1,2-4,*/20,59 0,12 1,15-16 jan,Jul-AUG SUN,3");
    assert_int_equal(c.minutes, (UINT64_C(1) << 0) | (UINT64_C(1) << 1) | (UINT64_C(7) << 2) |
                                    (UINT64_C(1) << 20) | (UINT64_C(1) << 40) |
                                    (UINT64_C(1) << 59));
    assert_int_equal(c.hours, (1u << 0) | (1u << 12));
    assert_int_equal(c.mdays, (1u << 1) | (1u << 15) | (1u << 16));
    assert_int_equal(c.months, (1u << 1) | (1u << 7) | (1u << 8));
    assert_int_equal(c.wdays, (1u << 0) | (1u << 3));

    c = parse_ok("5,5,5 1,1 2,2 3,3 4,4");     /* repeats are harmless */
    assert_int_equal(c.minutes, UINT64_C(1) << 5);
    assert_int_equal(c.wdays, 1u << 4);

    /* Restricted or not goes by the first character, as in Vixie cron. */
    c = parse_ok("* * * * *,1");
    assert_int_equal(c.wdays, ALL_WDAYS);
    assert_int_equal(c.flags, 0);
    c = parse_ok("* * * * 1,*");
    assert_int_equal(c.wdays, ALL_WDAYS);
    assert_int_equal(c.flags, CRON_DOW_RESTRICTED);
    c = parse_ok("* * 1,* * *");
    assert_int_equal(c.mdays, ALL_MDAYS);
    assert_int_equal(c.flags, CRON_DOM_RESTRICTED);
}

static void parses_names_in_any_case(void **state)
{
    static const char *const months[] = {"JAN", "feb", "Mar", "aPr", "MAY", "jun",
                                         "JUL", "aug", "SEP", "oct", "NoV", "dec"};
    static const char *const days[] = {"sun", "MON", "Tue", "wED", "thu", "FRI", "Sat"};
    char expr[64];
    struct cron c;
    int i;

    for (i = 0; i < 12; i++) {
        snprintf(expr, sizeof(expr), "0 0 1 %s *", months[i]);
        c = parse_ok(expr);
        assert_int_equal(c.months, 1u << (i + 1));
    }
    for (i = 0; i < 7; i++) {
        snprintf(expr, sizeof(expr), "0 0 * * %s", days[i]);
        c = parse_ok(expr);
        assert_int_equal(c.wdays, 1u << i);
    }
    c = parse_ok("0 0 * mar-may mon-fri");
    assert_int_equal(c.months, 7u << 3);
    assert_int_equal(c.wdays, 0x1fu << 1);
    c = parse_ok("0 0 * JAN/3 MON/2");
    assert_int_equal(c.months, (1u << 1) | (1u << 4) | (1u << 7) | (1u << 10));
    assert_int_equal(c.wdays, (1u << 1) | (1u << 3) | (1u << 5) | (1u << 0));   /* 7 = Sun */
    c = parse_ok("0 0 * 1-dec fri-sat");   /* numbers and names mix */
    assert_int_equal(c.months, ALL_MONTHS);
    assert_int_equal(c.wdays, (1u << 5) | (1u << 6));
}

static void sunday_is_0_and_7(void **state)
{
    struct cron a = parse_ok("0 0 * * 0"), b = parse_ok("0 0 * * 7"), s = parse_ok("0 0 * * sun");
    assert_int_equal(a.wdays, 1);
    assert_true(same_cron(&a, &b));
    assert_true(same_cron(&a, &s));
    b = parse_ok("0 0 * * 5-7");
    assert_int_equal(b.wdays, (1u << 5) | (1u << 6) | 1u);
    b = parse_ok("0 0 * * 0-7");
    assert_int_equal(b.wdays, ALL_WDAYS);
    b = parse_ok("0 0 * * 0,7");
    assert_int_equal(b.wdays, 1);

    /* 2026-11-29 is a Sunday. */
    assert_string_equal(next_of("0 0 * * 0", "2026-11-28T12:00:00Z"), "2026-11-29T00:00:00.000Z");
    assert_string_equal(next_of("0 0 * * 7", "2026-11-28T12:00:00Z"), "2026-11-29T00:00:00.000Z");
    assert_string_equal(next_of("0 0 * * SUN", "2026-11-29T00:00:00Z"),
                        "2026-12-06T00:00:00.000Z");
    assert_string_equal(next_of("30 9 * * 6-7", "2026-11-28T10:00:00Z"),
                        "2026-11-29T09:30:00.000Z");
}

static void blanks_separate_fields(void **state)
{
    struct cron a = parse_ok("1 2 3 4 5");
    struct cron b = parse_ok("  1\t2  \t 3 4\t5 \t ");
    assert_true(same_cron(&a, &b));
    b = parse_ok("\t@hourly  ");
    a = parse_ok("0 * * * *");
    assert_true(same_cron(&a, &b));
}

static void macros_expand(void **state)
{
    static const struct {
        const char *macro, *expr;
    } cases[] = {
        {"@yearly", "0 0 1 1 *"},   {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"},   {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},   {"@DAILY", "0 0 * * *"},    {"@Weekly", "0 0 * * 0"},
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cron m = parse_ok(cases[i].macro), e = parse_ok(cases[i].expr);
        if (!same_cron(&m, &e))
            fail_msg("%s is not %s", cases[i].macro, cases[i].expr);
    }
    assert_string_equal(next_of("@yearly", "2026-11-28T12:00:00Z"), "2027-01-01T00:00:00.000Z");
    assert_string_equal(next_of("@annually", "2027-01-01T00:00:00Z"), "2028-01-01T00:00:00.000Z");
    assert_string_equal(next_of("@monthly", "2026-12-01T00:00:00Z"), "2027-01-01T00:00:00.000Z");
    assert_string_equal(next_of("@weekly", "2026-11-28T12:00:00Z"), "2026-11-29T00:00:00.000Z");
    assert_string_equal(next_of("@daily", "2026-12-31T23:59:59Z"), "2027-01-01T00:00:00.000Z");
    assert_string_equal(next_of("@midnight", "2026-11-28T00:00:00Z"), "2026-11-29T00:00:00.000Z");
    assert_string_equal(next_of("@hourly", "2026-11-28T12:00:00.001Z"),
                        "2026-11-28T13:00:00.000Z");
}

static void errors_name_the_field_and_token(void **state)
{
    static const struct {
        const char *expr, *msg;
    } cases[] = {
        /* whole expression */
        {"", "cron expression is empty"},
        {" \t ", "cron expression is empty"},
        {"* * * *", "cron expression needs 5 fields, got 4"},
        {"*", "cron expression needs 5 fields, got 1"},
        {"* * * * * *", "cron expression needs 5 fields, got 6"},
        {"0 0 * * * extra garbage", "cron expression needs 5 fields, got 7"},
        /* out of range, each field at both ends */
        {"60 * * * *", "cron field 'minute': '60' is out of range 0-59"},
        {"* 24 * * *", "cron field 'hour': '24' is out of range 0-23"},
        {"* * 0 * *", "cron field 'day of month': '0' is out of range 1-31"},
        {"* * 32 * *", "cron field 'day of month': '32' is out of range 1-31"},
        {"* * * 0 *", "cron field 'month': '0' is out of range 1-12"},
        {"* * * 13 *", "cron field 'month': '13' is out of range 1-12"},
        {"* * * * 8", "cron field 'day of week': '8' is out of range 0-7"},
        {"99999999999999999999 * * * *",
         "cron field 'minute': '99999999999999999999' is out of range 0-59"},
        {"1-60 * * * *", "cron field 'minute': '60' is out of range 0-59"},
        {"* 1,2,25 * * *", "cron field 'hour': '25' is out of range 0-23"},
        /* steps */
        {"*/0 * * * *", "cron field 'minute': step '0' must be positive"},
        {"1-5/0 * * * *", "cron field 'minute': step '0' must be positive"},
        {"*/60 * * * *", "cron field 'minute': step '60' is out of range 1-59"},
        {"* */24 * * *", "cron field 'hour': step '24' is out of range 1-23"},
        {"* * * * */8", "cron field 'day of week': step '8' is out of range 1-7"},
        {"*/ * * * *", "cron field 'minute': expected a step after '/' in '*/'"},
        {"*/x * * * *", "cron field 'minute': expected a step after '/' in '*/x'"},
        {"*/-1 * * * *", "cron field 'minute': expected a step after '/' in '*/-1'"},
        {"*/2/2 * * * *", "cron field 'minute': unexpected '/' in '*/2/2'"},
        /* ranges */
        {"* 5-2 * * *", "cron field 'hour': range '5-2' starts after it ends"},
        {"* * * dec-jan *", "cron field 'month': range 'dec-jan' starts after it ends"},
        {"* * * * 7-1", "cron field 'day of week': range '7-1' starts after it ends"},
        {"5- * * * *", "cron field 'minute': expected a number in '5-'"},
        {"-5 * * * *", "cron field 'minute': expected a number in '-5'"},
        {"1-2-3 * * * *", "cron field 'minute': unexpected '-' in '1-2-3'"},
        {"*-5 * * * *", "cron field 'minute': unexpected '-' in '*-5'"},
        /* lists */
        {"1,,2 * * * *", "cron field 'minute': empty list item in '1,,2'"},
        {"1, * * * *", "cron field 'minute': empty list item in '1,'"},
        {"* * ,1 * *", "cron field 'day of month': empty list item in ',1'"},
        /* trailing garbage and bad tokens */
        {"5x * * * *", "cron field 'minute': unexpected 'x' in '5x'"},
        {"* * * * 1;", "cron field 'day of week': unexpected ';' in '1;'"},
        {"** * * * *", "cron field 'minute': unexpected '*' in '**'"},
        {"+5 * * * *", "cron field 'minute': expected a number in '+5'"},
        {"? * * * *", "cron field 'minute': expected a number in '?'"},
        {"* * * ? *", "cron field 'month': expected a number or name in '?'"},
        {"* * * * L", "cron field 'day of week': unknown name 'L'"},
        {"* abc * * *", "cron field 'hour': 'abc' is not a number"},
        {"* * * * mon-fri,x", "cron field 'day of week': unknown name 'x'"},
        {"* * * janu *", "cron field 'month': unknown name 'janu'"},
        {"* * * * monday", "cron field 'day of week': unknown name 'monday'"},
        {"* * * mon *", "cron field 'month': unknown name 'mon'"},
        {"* * * * jan", "cron field 'day of week': unknown name 'jan'"},
        {"* * * * 1\n", "cron field 'day of week': unexpected '?' in '1?'"},
        {"\xff * * * *", "cron field 'minute': expected a number in '?'"},
        /* macros */
        {"@fortnightly", "cron macro '@fortnightly' is unknown"},
        {"@", "cron macro '@' is unknown"},
        {"@reboot", "cron macro '@reboot' is not supported"},
        {"@daily 5", "cron macro '@daily' takes no fields, got '5'"},
        {"@hourly * * * * *", "cron macro '@hourly' takes no fields, got '* * * * *'"},
        {"@dailyx", "cron macro '@dailyx' is unknown"},
        {"0 0 * * @daily", "cron field 'day of week': expected a number or name in '@daily'"},
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_error(cases[i].expr, cases[i].msg);
}

static void errors_on_length_and_null(void **state)
{
    char expr[CRON_MAX_LEN + 2];
    struct cron c;
    struct fmd_err err = {0};

    /* Exactly CRON_MAX_LEN bytes parse; one more does not. */
    memset(expr, ' ', sizeof(expr));
    memcpy(expr, "* * * * *", 9);
    expr[CRON_MAX_LEN] = '\0';
    assert_int_equal(strlen(expr), CRON_MAX_LEN);
    assert_int_equal(cron_parse(expr, &c, &err), 0);
    expr[CRON_MAX_LEN] = ' ';
    expr[CRON_MAX_LEN + 1] = '\0';
    check_error(expr, "cron expression is longer than 256 bytes");

    check_error(NULL, "cron expression is missing");
    /* err is optional */
    assert_int_equal(cron_parse("61 * * * *", &c, NULL), FMD_EINVAL);
    assert_int_equal(cron_parse("1 * * * *", &c, NULL), 0);

    /* A long bad token is cut in the message, which stays short. */
    memset(expr, '9', 200);
    memcpy(expr + 200, " * * * *", 9);
    assert_int_equal(cron_parse(expr, &c, &err), FMD_EINVAL);
    assert_true(strlen(err.msg) < 120);
    assert_non_null(strstr(err.msg, "cron field 'minute': '9999"));
}

static void next_is_strictly_after_with_seconds_zeroed(void **state)
{
    assert_string_equal(next_of("* * * * *", "2026-11-28T12:00:00Z"), "2026-11-28T12:01:00.000Z");
    assert_string_equal(next_of("* * * * *", "2026-11-28T12:00:59.999Z"),
                        "2026-11-28T12:01:00.000Z");
    assert_string_equal(next_of("* * * * *", "2026-11-28T12:00:00.001Z"),
                        "2026-11-28T12:01:00.000Z");
    assert_string_equal(next_of("30 12 * * *", "2026-11-28T12:30:00Z"),
                        "2026-11-29T12:30:00.000Z");
    assert_string_equal(next_of("30 12 * * *", "2026-11-28T12:29:59.999Z"),
                        "2026-11-28T12:30:00.000Z");
    assert_string_equal(next_of("5 * * * *", "2026-11-28T23:06:00Z"), "2026-11-29T00:05:00.000Z");
    assert_string_equal(next_of("0 9-17 * * *", "2026-11-28T17:00:00Z"),
                        "2026-11-29T09:00:00.000Z");
    assert_string_equal(next_of("0 9-17 * * *", "2026-11-28T08:59:00Z"),
                        "2026-11-28T09:00:00.000Z");
}

static void every_15_minutes_in_sequence(void **state)
{
    static const char *const want[] = {
        "2026-12-31T23:15:00.000Z", "2026-12-31T23:30:00.000Z", "2026-12-31T23:45:00.000Z",
        "2027-01-01T00:00:00.000Z", "2027-01-01T00:15:00.000Z", "2027-01-01T00:30:00.000Z",
    };
    struct cron c = parse_ok("*/15 * * * *");
    int64_t t = ms_of("2026-12-31T23:07:42.500Z");
    char s[CLOCK_RFC3339_LEN];
    size_t i;
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(cron_next(&c, t, &t), 0);
        assert_string_equal(clock_rfc3339(t, s), want[i]);
    }
    /* From exactly a match the next is 15 minutes on. */
    assert_string_equal(next_of("*/15 * * * *", "2026-11-28T12:45:00Z"),
                        "2026-11-28T13:00:00.000Z");
    assert_string_equal(next_of("10-50/20 * * * *", "2026-11-28T12:50:00Z"),
                        "2026-11-28T13:10:00.000Z");
}

static void next_crosses_months_years_and_leap_days(void **state)
{
    assert_string_equal(next_of("0 0 29 2 *", "2026-03-01T00:00:00Z"), "2028-02-29T00:00:00.000Z");
    assert_string_equal(next_of("0 0 29 2 *", "2028-02-29T00:00:00Z"), "2032-02-29T00:00:00.000Z");
    assert_string_equal(next_of("0 0 29 2 *", "2028-02-28T23:59:00Z"), "2028-02-29T00:00:00.000Z");
    /* 2000 was a leap year (divisible by 400). */
    assert_string_equal(next_of("0 0 29 2 *", "1999-01-01T00:00:00Z"), "2000-02-29T00:00:00.000Z");
    assert_string_equal(next_of("0 0 * 2 *", "2028-02-28T12:00:00Z"), "2028-02-29T00:00:00.000Z");
    assert_string_equal(next_of("0 0 * 2 *", "2027-02-28T12:00:00Z"), "2028-02-01T00:00:00.000Z");
    /* Day 31 skips the months without one. */
    assert_string_equal(next_of("0 12 31 * *", "2026-04-01T00:00:00Z"), "2026-05-31T12:00:00.000Z");
    assert_string_equal(next_of("0 12 31 * *", "2026-05-31T12:00:00Z"), "2026-07-31T12:00:00.000Z");
    assert_string_equal(next_of("0 12 31 * *", "2026-08-31T12:00:00Z"), "2026-10-31T12:00:00.000Z");
    assert_string_equal(next_of("0 0 30 * *", "2027-01-30T00:00:00Z"), "2027-03-30T00:00:00.000Z");
    assert_string_equal(next_of("59 23 31 12 *", "2026-11-28T00:00:00Z"),
                        "2026-12-31T23:59:00.000Z");
    assert_string_equal(next_of("59 23 31 12 *", "2026-12-31T23:59:00Z"),
                        "2027-12-31T23:59:00.000Z");
    assert_string_equal(next_of("0 0 1 1 *", "2026-12-31T23:59:59.999Z"),
                        "2027-01-01T00:00:00.000Z");
    assert_string_equal(next_of("15 6 1 jan,jul *", "2026-07-01T06:15:00Z"),
                        "2027-01-01T06:15:00.000Z");
    /* Before 1970. */
    assert_string_equal(next_of("0 0 1 * *", "1969-12-31T23:59:00Z"), "1970-01-01T00:00:00.000Z");
    assert_string_equal(next_of("0 0 29 2 *", "1965-01-01T00:00:00Z"), "1968-02-29T00:00:00.000Z");
}

static void dom_and_dow_both_restricted_match_either(void **state)
{
    /* 2026-11-28 is a Saturday; 1 Dec 2026 a Tuesday; Friday 4 Dec. */
    assert_string_equal(next_of("0 0 1 * fri", "2026-11-28T12:00:00Z"), "2026-12-01T00:00:00.000Z");
    assert_string_equal(next_of("0 0 1 * fri", "2026-12-01T00:00:00Z"), "2026-12-04T00:00:00.000Z");
    assert_string_equal(next_of("0 0 13 * 5", "2026-11-28T00:00:00Z"), "2026-12-04T00:00:00.000Z");
    /* Either: with dom 30 in February, the Mondays still match. */
    assert_string_equal(next_of("0 0 30 2 1", "2027-02-01T00:00:00Z"), "2027-02-08T00:00:00.000Z");
    /* Only one restricted: both must match, Friday the 13th. */
    assert_string_equal(next_of("0 0 13 * *", "2026-11-28T00:00:00Z"), "2026-12-13T00:00:00.000Z");
    assert_string_equal(next_of("0 0 * * 5", "2026-11-28T00:00:00Z"), "2026-12-04T00:00:00.000Z");
    /* A stepped '*' counts as unrestricted (Vixie): odd days that are Mondays. */
    assert_string_equal(next_of("0 0 */2 * 1", "2026-11-28T00:00:00Z"), "2026-12-07T00:00:00.000Z");
    assert_string_equal(next_of("0 0 1-31/2 * 1", "2026-11-28T00:00:00Z"),
                        "2026-11-29T00:00:00.000Z");
    /* The OR applies inside the month set only. */
    assert_string_equal(next_of("0 0 1 3 mon", "2026-11-28T00:00:00Z"), "2027-03-01T00:00:00.000Z");
    assert_string_equal(next_of("0 0 1 3 mon", "2027-03-01T00:00:00Z"), "2027-03-08T00:00:00.000Z");
}

static void impossible_expressions_find_nothing(void **state)
{
    static const char *const never[] = {"0 0 30 2 *", "0 0 31 2 *", "0 0 31 4,6,9,11 *",
                                        "* * 30-31 feb *"};
    size_t i;
    for (i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        struct cron c = parse_ok(never[i]);
        int64_t next = 12345;
        assert_int_equal(cron_next(&c, ms_of("2026-11-28T12:00:00Z"), &next), FMD_EINVAL);
        assert_int_equal(next, 12345);   /* untouched */
    }
    /* Both day fields restricted: OR, so any Friday in February matches. */
    assert_string_equal(next_of("0 0 29 2 fri", "2026-11-28T00:00:00Z"),
                        "2027-02-05T00:00:00.000Z");
    /* 2100 is not a leap year: the horizon (9 years) still reaches 2104-02-29. */
    assert_string_equal(next_of("0 0 29 2 *", "2096-03-01T00:00:00Z"), "2104-02-29T00:00:00.000Z");
    assert_string_equal(next_of("0 0 29 2 *", "2099-03-01T00:00:00Z"), "2104-02-29T00:00:00.000Z");
}

static void next_refuses_times_out_of_range(void **state)
{
    struct cron c = parse_ok("* * * * *");
    int64_t next = 7;
    assert_int_equal(cron_next(&c, INT64_MAX, &next), FMD_EINVAL);
    assert_int_equal(cron_next(&c, INT64_MIN, &next), FMD_EINVAL);
    assert_int_equal(next, 7);
    assert_int_equal(cron_next(&c, ms_of("9989-12-31T23:59:00Z"), &next), 0);
    assert_int_equal(cron_next(&c, ms_of("0001-01-01T00:00:00Z"), &next), 0);

    /* A hand-made struct with an empty field finds nothing and still ends. */
    memset(&c, 0, sizeof(c));
    c.minutes = ALL_MINUTES;
    c.hours = ALL_HOURS;
    c.mdays = ALL_MDAYS;
    c.wdays = ALL_WDAYS;
    assert_int_equal(cron_next(&c, 0, &next), FMD_EINVAL);
}

/* Matches by gmtime_r and the masks: independent of cron.c's calendar. */
static int ref_matches(const struct cron *c, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    int dom, dow;
    gmtime_r(&secs, &tm);
    dom = (int)(c->mdays >> tm.tm_mday & 1);
    dow = (int)(c->wdays >> tm.tm_wday & 1);
    if (!(c->months >> (tm.tm_mon + 1) & 1) || !(c->hours >> tm.tm_hour & 1) ||
        !(c->minutes >> tm.tm_min & 1))
        return 0;
    if ((c->flags & CRON_DOM_RESTRICTED) && (c->flags & CRON_DOW_RESTRICTED))
        return dom || dow;
    return dom && dow;
}

static void next_agrees_with_a_minute_by_minute_scan(void **state)
{
    static const char *const exprs[] = {
        "* * * * *",        "*/7 * * * *",        "0 */5 * * *",       "3,17 4-6 * * *",
        "0 0 1,15 * 3",     "30 2 * * mon-fri",   "0 0 31 * *",        "*/20 1 29 2 *",
        "0 12 */3 * sun",   "45 23 28-31 * 0,6",  "0 0 1 */2 *",       "@weekly",
        "15 * 13 * 5",      "0 6,18 * mar-oct *", "59 23 31 dec *",    "0 0 */10 * *",
    };
    /* Minute-scan windows that cross month, year and leap-day boundaries. */
    static const char *const starts[] = {"2027-12-30T21:13:27Z", "2028-02-27T22:59:59Z",
                                         "2026-11-28T12:00:00Z"};
    size_t i, j;
    for (i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
        struct cron c = parse_ok(exprs[i]);
        for (j = 0; j < sizeof(starts) / sizeof(starts[0]); j++) {
            int64_t from = ms_of(starts[j]), t = from, scan = from / 60000 * 60000;
            int64_t end = from + (int64_t)40 * 86400000;   /* 40 days of minutes */
            for (;;) {
                int64_t next;
                do
                    scan += 60000;
                while (scan <= end && !ref_matches(&c, scan));
                if (scan > end)
                    break;
                assert_int_equal(cron_next(&c, t, &next), 0);
                if (next != scan)
                    fail_msg("%s after %lld: got %lld, scan says %lld", exprs[i], (long long)t,
                             (long long)next, (long long)scan);
                assert_true(cron_matches(&c, next));
                assert_false(cron_matches(&c, next - 60000) && next - 60000 > t);
                t = next;
            }
        }
    }
}

static void matches_agrees_with_gmtime(void **state)
{
    struct cron c = parse_ok("*/5 9-17 1,15 * mon-fri");
    int64_t t = ms_of("2026-11-01T00:00:00Z"), end = ms_of("2027-03-01T00:00:00Z");
    for (; t < end; t += 5 * 60000 + 1234)
        assert_int_equal(cron_matches(&c, t), ref_matches(&c, t));
    assert_true(cron_matches(&c, ms_of("2026-12-15T09:05:59.999Z")));   /* a Tuesday, 15th */
    assert_true(cron_matches(&c, ms_of("2026-12-01T17:55:00Z")));
    assert_false(cron_matches(&c, ms_of("2026-12-01T18:00:00Z")));
    assert_true(cron_matches(&c, ms_of("2026-11-30T09:00:00Z")));      /* Monday: OR rule */
    assert_false(cron_matches(&c, ms_of("2026-11-29T09:00:00Z")));     /* Sunday 29th */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_star_values_and_ranges),
        cmocka_unit_test(parses_steps),
        cmocka_unit_test(parses_lists),
        cmocka_unit_test(parses_names_in_any_case),
        cmocka_unit_test(sunday_is_0_and_7),
        cmocka_unit_test(blanks_separate_fields),
        cmocka_unit_test(macros_expand),
        cmocka_unit_test(errors_name_the_field_and_token),
        cmocka_unit_test(errors_on_length_and_null),
        cmocka_unit_test(next_is_strictly_after_with_seconds_zeroed),
        cmocka_unit_test(every_15_minutes_in_sequence),
        cmocka_unit_test(next_crosses_months_years_and_leap_days),
        cmocka_unit_test(dom_and_dow_both_restricted_match_either),
        cmocka_unit_test(impossible_expressions_find_nothing),
        cmocka_unit_test(next_refuses_times_out_of_range),
        cmocka_unit_test(next_agrees_with_a_minute_by_minute_scan),
        cmocka_unit_test(matches_agrees_with_gmtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
