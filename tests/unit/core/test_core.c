/* test_core.c - buffer, arena, JSON limits, options table, clocks and ids. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/id.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/rand.h"

static void buf_is_bounded_and_terminated(void **state)
{
    struct buf b;
    buf_init(&b, 8);
    assert_non_null(b.p);
    assert_string_equal(b.p, "");
    assert_int_equal(buf_adds(&b, "12345678"), 0);
    assert_string_equal(b.p, "12345678");
    assert_int_equal(buf_addc(&b, '9'), FMD_ETOOBIG);
    assert_string_equal(b.p, "12345678");   /* unchanged on failure */
    buf_reset(&b);
    assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), 0);
    assert_string_equal(b.p, "42-x");
    assert_int_equal(buf_printf(&b, "%s", "too long for it"), FMD_ETOOBIG);
    assert_string_equal(b.p, "42-x");
    buf_release(&b);
}

static void buf_escapes_json(void **state)
{
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_add_json_str(&b, "a\"b\\c\n\x01", 7), 0);
    assert_string_equal(b.p, "a\\\"b\\\\c\\n\\u0001");
    buf_release(&b);
}

/* Well-formed UTF-8 passes; every byte of a bad sequence becomes U+FFFD. */
static void buf_makes_utf8_valid(void **state)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"plain", 5, "plain"},
        {"\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 14,
         "\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},
        {"a\xC3", 2, "a\xEF\xBF\xBD"},                        /* cut short */
        {"\xC0\xAF", 2, "\xEF\xBF\xBD\xEF\xBF\xBD"},            /* overlong '/' */
        {"\xE0\x80\xAF", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\xED\xA0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},   /* surrogate */
        {"\xF4\x90\x80\x80", 4,                                  /* past U+10FFFF */
         "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"x\0y", 3, "x\xEF\xBF\xBDy"},
        {"\x80z", 2, "\xEF\xBF\xBDz"},
    };
    struct buf b;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_init(&b, 64);
        assert_int_equal(buf_add_utf8(&b, cases[i].in, cases[i].n), 0);
        assert_string_equal(b.p, cases[i].out);
        buf_release(&b);
    }
    /* prefixes of text still being written */
    assert_true(utf8_valid_prefix("ab\xC3\xA9", 4));
    assert_true(utf8_valid_prefix("ab\xC3", 3));             /* cut short: fine */
    assert_true(utf8_valid_prefix("\xF0\x9F\x98", 3));
    assert_true(utf8_valid_prefix("", 0));
    assert_false(utf8_valid_prefix("\xE0\x80", 2));          /* overlong already */
    assert_false(utf8_valid_prefix("\xED\xA0", 2));          /* a surrogate */
    assert_false(utf8_valid_prefix("\xC3x", 2));
    assert_false(utf8_valid_prefix("\xFF", 1));
    assert_false(utf8_valid_prefix("a\0", 2));
    /* whole texts */
    assert_true(utf8_valid("ab\xC3\xA9", 4));
    assert_true(utf8_valid("", 0));
    assert_false(utf8_valid("ab\xC3", 3));                  /* cut short: not whole */
    assert_false(utf8_valid("\xFF\xFE", 2));
    assert_false(utf8_valid("\xED\xA0\x80", 3));            /* a surrogate */
    assert_false(utf8_valid("a\0b", 3));
    buf_init(&b, 4);   /* too small: unchanged */
    assert_int_equal(buf_add_utf8(&b, "\xFF\xFF", 2), FMD_ETOOBIG);
    assert_int_equal(b.len, 0);
    buf_release(&b);
}

static void base64_decodes_or_refuses(void **state)
{
    unsigned char *bin;
    size_t len;

    (void)state;
    assert_int_equal(base64_decode("aGVs\r\nbG8=", &bin, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(bin, "hello", 5);
    fmd_free(bin);
    assert_int_equal(base64_decode("", &bin, &len), FMD_EINVAL);
    assert_int_equal(base64_decode("aGVsbG8", &bin, &len), FMD_EINVAL);   /* no padding */
    assert_int_equal(base64_decode("aGV*bG8=", &bin, &len), FMD_EINVAL);
    /* libsodium alone took "\x80" for '/' (found by fuzz_upload). */
    assert_int_equal(base64_decode("aGVs\x80G8=", &bin, &len), FMD_EINVAL);
    assert_int_equal(base64_decode("aGVs\xadG8=", &bin, &len), FMD_EINVAL);
    assert_null(bin);
    assert_int_equal(len, 0);
}

static void buf_detach_hands_over(void **state)
{
    struct buf b;
    char *s;
    size_t n;
    buf_init(&b, 100);
    s = buf_detach(&b, &n);
    assert_string_equal(s, "");
    assert_int_equal(n, 0);
    fmd_free(s);
    buf_adds(&b, "hello");
    s = buf_detach(&b, &n);
    assert_string_equal(s, "hello");
    assert_int_equal(n, 5);
    assert_string_equal(b.p, "");
    fmd_free(s);
}

static void buf_survives_allocation_failure(void **state)
{
    long n;
    for (n = 1;; n++) {
        struct buf b;
        int rc;
        buf_init(&b, 1 << 20);
        fmd_mem_fail_at(n);
        rc = buf_printf(&b, "%0500d", 7);
        if (!rc)
            rc = buf_printf(&b, "%05000d", 7);
        fmd_mem_fail_at(0);
        if (rc) {
            assert_int_equal(rc, FMD_ENOMEM);
            assert_non_null(b.p);
        }
        buf_release(&b);
        if (!rc)
            break;
    }
}

static void arena_allocates_aligned(void **state)
{
    struct arena a;
    int i;
    arena_init(&a);
    for (i = 0; i < 1000; i++) {
        void *p = arena_alloc(&a, (size_t)(i % 37) + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
    }
    assert_non_null(arena_alloc(&a, 100000));
    assert_string_equal(arena_printf(&a, "%s/%d", "x", 5), "x/5");
    arena_release(&a);
}

static int parse(const char *s, size_t depth, size_t members)
{
    struct json_limits lim = {depth, members};
    struct fmd_err err = {0};
    json_t *v = NULL;
    int rc = json_parse(s, strlen(s), &lim, &v, &err);
    json_decref(v);
    return rc;
}

static void json_limits_depth_and_members(void **state)
{
    assert_int_equal(parse("[[[1]]]", 3, 10), 0);
    assert_int_equal(parse("[[[[1]]]]", 3, 10), FMD_EINVAL);
    assert_int_equal(parse("{\"a\":\"[[[[[[\"}", 2, 10), 0);   /* brackets in strings */
    assert_int_equal(parse("[1,2,3]", 3, 3), 0);
    assert_int_equal(parse("[1,2,3,4]", 3, 3), FMD_EINVAL);
    assert_int_equal(parse("{\"a\":1,\"b\":2}", 3, 2), 0);
    assert_int_equal(parse("{\"a\":1,\"a\":2}", 3, 10), FMD_EINVAL);  /* duplicate key */
    assert_int_equal(parse("\"\\u0000\"", 3, 10), FMD_EINVAL);       /* NUL in a string */
    assert_int_equal(parse("\"\xff\"", 3, 10), FMD_EINVAL);          /* bad UTF-8 */
    assert_int_equal(parse("", 3, 10), FMD_EINVAL);
    assert_int_equal(parse("{\"a\":1} x", 3, 10), FMD_EINVAL);
}

static void config_layers(void **state)
{
    struct config c;
    struct fmd_err err = {0};
    char *argv[] = {"formd", "serve", "--threads", "8", "--listen=0.0.0.0:9", "--name", "n"};
    struct config_extra x[] = {{"name", NULL, 0}, {NULL, NULL, 0}};
    FILE *f;

    config_init(&c);
    assert_int_equal(c.threads, 4);
    f = fopen("formd.conf", "w");
    fputs("# comment\nthreads = 6\nmax-body = 2048\n", f);
    fclose(f);
    setenv("FORMD_CONFIG", "formd.conf", 1);
    setenv("FORMD_MAX_BODY", "4096", 1);
    assert_int_equal(config_load(&c, 7, argv, 2, x, &err), 0);
    assert_int_equal(c.threads, 8);           /* flag beats file */
    assert_int_equal(c.max_body, 4096);       /* environment beats file */
    assert_string_equal(c.listen, "0.0.0.0:9");
    assert_string_equal(x[0].value, "n");
    unsetenv("FORMD_CONFIG");
    unsetenv("FORMD_MAX_BODY");
    assert_int_equal(config_set(&c, "threads", "0", "test", &err), FMD_EINVAL);
    assert_non_null(strstr(err.msg, "threads"));
    assert_int_equal(config_set(&c, "nope", "1", "test", &err), FMD_EINVAL);
    config_release(&c);
}

static void config_secret_from_file(void **state)
{
    struct config c;
    struct fmd_err err = {0};
    char *argv[] = {"formd"};
    FILE *f = fopen("secret", "w");
    fputs("sqlite:/tmp/x.db\n", f);
    fclose(f);
    chmod("secret", 0600);
    setenv("FORMD_DB_URL_FILE", "secret", 1);
    config_init(&c);
    assert_int_equal(config_load(&c, 1, argv, 1, NULL, &err), 0);
    assert_string_equal(c.db_url, "sqlite:/tmp/x.db");
    /* Readable by the group or others: refused, naming the file and the fix. */
    chmod("secret", 0640);
    assert_int_equal(config_load(&c, 1, argv, 1, NULL, &err), FMD_EINVAL);
    assert_non_null(strstr(err.msg, "FORMD_DB_URL_FILE"));
    assert_non_null(strstr(err.msg, "chmod 600 'secret'"));
    chmod("secret", 0604);
    assert_int_equal(config_load(&c, 1, argv, 1, NULL, &err), FMD_EINVAL);
    chmod("secret", 0400);
    assert_int_equal(config_load(&c, 1, argv, 1, NULL, &err), 0);
    /* Handed over by systemd: its credentials directory is its to protect. */
    chmod("secret", 0640);
    {
        char cwd[4096], path[4200];
        assert_non_null(getcwd(cwd, sizeof(cwd)));
        setenv("CREDENTIALS_DIRECTORY", cwd, 1);
        snprintf(path, sizeof(path), "%s/secret", cwd);
        setenv("FORMD_DB_URL_FILE", path, 1);
        assert_int_equal(config_load(&c, 1, argv, 1, NULL, &err), 0);
        unsetenv("CREDENTIALS_DIRECTORY");
    }
    unsetenv("FORMD_DB_URL_FILE");
    config_release(&c);
}

/* A password on the command line is refused; a URL without one is no secret. */
static void config_secret_not_on_command_line(void **state)
{
    struct config c;
    struct fmd_err err = {0};
    char *with_pw[] = {"formd", "serve", "--db-url", "postgres://formd:s3cret@db/formd"};
    char *dsn[] = {"formd", "serve", "--database=host=db password=s3cret"};
    char *no_pw[] = {"formd", "serve", "--database", "postgres://formd@127.0.0.1:5432/formd"};
    char *query[] = {"formd", "serve", "--database-url", "postgres://u@h/d?password=x"};

    config_init(&c);
    assert_int_equal(config_load(&c, 4, with_pw, 2, NULL, &err), FMD_EINVAL);
    assert_non_null(strstr(err.msg, "FORMD_DB_URL_FILE"));
    assert_null(strstr(err.msg, "s3cret"));
    assert_int_equal(config_load(&c, 3, dsn, 2, NULL, &err), FMD_EINVAL);
    assert_non_null(strstr(err.msg, "FORMD_DATABASE_FILE"));
    assert_int_equal(config_load(&c, 4, query, 2, NULL, &err), FMD_EINVAL);
    assert_int_equal(config_load(&c, 4, no_pw, 2, NULL, &err), 0);
    assert_string_equal(c.db_url, "postgres://formd@127.0.0.1:5432/formd");
    assert_true(config_has_password("postgres://a:b@h/d"));
    assert_false(config_has_password("postgres://a@h/d"));
    assert_false(config_has_password("postgres://a:@h/d"));
    assert_false(config_has_password("postgres://h:5432/d"));
    assert_false(config_has_password("sqlite:/tmp/x.db"));
    assert_false(config_has_password("postgres://h/d?x=a:b@c"));
    config_release(&c);
}

static void clock_round_trips(void **state)
{
    char s[CLOCK_RFC3339_LEN];
    int64_t ms;
    assert_string_equal(clock_rfc3339(0, s), "1970-01-01T00:00:00.000Z");
    assert_int_equal(clock_parse_rfc3339("2026-11-28T11:35:31.123Z", &ms), 0);
    assert_string_equal(clock_rfc3339(ms, s), "2026-11-28T11:35:31.123Z");
    assert_int_equal(clock_parse_rfc3339("2026-11-28T12:35:31.123+01:00", &ms), 0);
    assert_string_equal(clock_rfc3339(ms, s), "2026-11-28T11:35:31.123Z");
    assert_int_equal(clock_parse_rfc3339("2026-02-29T00:00:00Z", &ms), FMD_EINVAL);
    assert_int_equal(clock_parse_rfc3339("2024-02-29T00:00:00Z", &ms), 0);
    assert_int_equal(clock_parse_rfc3339("2026-11-28", &ms), FMD_EINVAL);
    assert_int_equal(clock_parse_rfc3339("2026-11-28T25:00:00Z", &ms), FMD_EINVAL);
    /* Before 1970 the milliseconds count down from the second before (found by fuzz_query). */
    assert_string_equal(clock_rfc3339(-1, s), "1969-12-31T23:59:59.999Z");
    assert_int_equal(clock_parse_rfc3339("1900-03-01T12:00:00.250Z", &ms), 0);
    assert_string_equal(clock_rfc3339(ms, s), "1900-03-01T12:00:00.250Z");
}

static void ids_sort_and_differ(void **state)
{
    char a[ID_LEN + 1], b[ID_LEN + 1];
    int i;
    id_new(a);
    assert_true(id_valid(a));
    for (i = 0; i < 10000; i++) {
        id_new(b);
        assert_true(strcmp(a, b) < 0);
        memcpy(a, b, sizeof(a));
    }
    assert_false(id_valid("short"));
    assert_false(id_valid("0123456789ABCDEFGHJKMNPQRU"));  /* U is not base32 */
}

/* "made since ms" as an id range: quotas count submissions that way. */
static void id_floor_bounds_ids_by_time(void **state)
{
    char before[ID_LEN + 1], floor[ID_LEN + 1], after[ID_LEN + 1];
    int64_t now = clock_wall_ms();

    id_new(after);
    assert_true(id_time_ms(after) >= now && id_time_ms(after) <= clock_wall_ms());
    id_floor(id_time_ms(after), floor);
    assert_true(id_valid(floor));
    assert_int_equal(id_time_ms(floor), id_time_ms(after));
    assert_true(strcmp(floor, after) <= 0);
    id_floor(id_time_ms(after) + 1, floor);
    assert_true(strcmp(after, floor) < 0);      /* an id of ms is below the next ms */
    id_floor(id_time_ms(after) - 1, before);
    assert_true(strcmp(before, after) < 0);
    id_floor(0, floor);
    assert_string_equal(floor, "00000000000000000000000000");
    id_floor(281474976710655LL, floor);         /* 2^48 - 1, the last millisecond */
    assert_int_equal(id_time_ms(floor), 281474976710655LL);
    assert_int_equal(id_time_ms("not an id"), -1);
}

static void fast_random_differs_and_is_hex(void **state)
{
    char a[33], b[33], id1[ID_LEN + 1], id2[ID_LEN + 1];
    unsigned char big[2000];
    size_t i, zeros = 0;
    rand_fast_hex(a, 16);
    rand_fast_hex(b, 16);
    assert_int_equal(strlen(a), 32);
    assert_string_not_equal(a, b);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    rand_fast(big, sizeof(big));            /* spans several refills */
    for (i = 0; i < sizeof(big); i++)
        zeros += big[i] == 0;
    assert_true(zeros < 40);                /* about 8 expected */
    id_new_unordered(id1);
    id_new_unordered(id2);
    assert_true(id_valid(id1));
    assert_string_not_equal(id1, id2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_is_bounded_and_terminated),
        cmocka_unit_test(buf_escapes_json),
        cmocka_unit_test(buf_makes_utf8_valid),
        cmocka_unit_test(base64_decodes_or_refuses),
        cmocka_unit_test(buf_detach_hands_over),
        cmocka_unit_test(buf_survives_allocation_failure),
        cmocka_unit_test(arena_allocates_aligned),
        cmocka_unit_test(json_limits_depth_and_members),
        cmocka_unit_test(config_layers),
        cmocka_unit_test(config_secret_from_file),
        cmocka_unit_test(config_secret_not_on_command_line),
        cmocka_unit_test(clock_round_trips),
        cmocka_unit_test(ids_sort_and_differ),
        cmocka_unit_test(id_floor_bounds_ids_by_time),
        cmocka_unit_test(fast_random_differs_and_is_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
