/*
 * equal.c - JSON Schema's equality of JSON values, and a hash that agrees with it.
 *
 * Jansson's json_equal says 1 != 1.0; JSON Schema says they are the same
 * number. Integers are compared as long double so that 2^53 + 1 and
 * 9007199254740992.0 stay distinct on x86-64, where long double holds every
 * 64-bit integer exactly.
 */
#include "schema/schema_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static long double num_value(const json_t *v)
{
    return json_is_integer(v) ? (long double)json_integer_value(v)
                              : (long double)json_real_value(v);
}

int schema__num_cmp(const json_t *a, const json_t *b)
{
    long double x, y;

    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t i = json_integer_value(a), j = json_integer_value(b);
        return i < j ? -1 : i > j;
    }
    x = num_value(a);
    y = num_value(b);
    return x < y ? -1 : x > y;
}

int schema__is_integral(const json_t *v)
{
    double d;

    if (json_is_integer(v))
        return 1;
    if (!json_is_real(v))
        return 0;
    d = json_real_value(v);
    return isfinite(d) && d == floor(d);
}

static int object_equal(const json_t *a, const json_t *b)
{
    const char *key;
    size_t len;
    json_t *va;

    if (json_object_size(a) != json_object_size(b))
        return 0;
    /* Jansson's iterators take a non-const object; nothing is modified. */
    json_object_keylen_foreach((json_t *)a, key, len, va) {
        const json_t *vb = json_object_getn(b, key, len);
        if (!vb || !schema__json_equal(va, vb))
            return 0;
    }
    return 1;
}

static int array_equal(const json_t *a, const json_t *b)
{
    size_t i, n = json_array_size(a);

    if (n != json_array_size(b))
        return 0;
    for (i = 0; i < n; i++)
        if (!schema__json_equal(json_array_get(a, i), json_array_get(b, i)))
            return 0;
    return 1;
}

int schema__json_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return schema__num_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b))
        return 0;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        return array_equal(a, b);
    case JSON_OBJECT:
        return object_equal(a, b);
    default:
        return 1;   /* true, false, null: the type is the value */
    }
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t bytes_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ n, w;

    while (n >= 8) {   /* eight bytes a step */
        memcpy(&w, s, 8);
        h = mix(h ^ w);
        s += 8;
        n -= 8;
    }
    w = 0;
    memcpy(&w, s, n);
    return h ^ w;
}

static uint64_t number_hash(const json_t *v)
{
    /* Equal numbers must hash equal whatever their JSON type, so hash the
     * double: unequal integers that round to the same double only collide. */
    double d = (double)num_value(v);
    uint64_t bits;

    if (d == 0)
        d = 0;   /* -0.0 == 0.0 */
    memcpy(&bits, &d, sizeof(bits));
    return mix(bits);
}

uint64_t schema__json_hash(const json_t *v)
{
    uint64_t h;
    const char *key;
    size_t i, len;
    json_t *m;

    switch (json_typeof(v)) {
    case JSON_INTEGER:
    case JSON_REAL:
        return number_hash(v);
    case JSON_STRING:
        return mix(bytes_hash(json_string_value(v), json_string_length(v)));
    case JSON_ARRAY:
        h = 0x61;
        for (i = 0; i < json_array_size(v); i++)
            h = mix(h ^ schema__json_hash(json_array_get(v, i)));
        return h;
    case JSON_OBJECT:
        /* Key order does not matter: combine members with a commutative sum. */
        h = 0x6f;
        json_object_keylen_foreach((json_t *)v, key, len, m)
            h += mix(bytes_hash(key, len) ^ mix(schema__json_hash(m)));
        return mix(h);
    default:
        return (uint64_t)json_typeof(v) * 0x9e3779b97f4a7c15ULL;
    }
}

/* ---- exact decimals, for multipleOf ---- */

static void dec_trim(struct sdec *x)
{
    if (x->d == 0) {
        x->e = 0;
        return;
    }
    while (x->d % 10 == 0) {
        x->d /= 10;
        x->e++;
    }
}

/*
 * The decimal d * 10^-k with the fewest fraction digits k <= 22 whose nearest
 * double is x, for d < 2^53: then d and 10^k are exact doubles and d / 10^k
 * rounds correctly, so the check is exact. 0 if there is none (the caller
 * then prints x).
 */
static int dec_fast(double x, struct sdec *out)
{
    static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
                                 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
                                 1e20, 1e21, 1e22};
    int k;

    for (k = 0; k <= 22; k++) {
        double y = nearbyint(x * p10[k]);
        if (y >= 9007199254740992.0)
            return 0;
        if (y / p10[k] == x) {
            out->d = (uint64_t)y;
            out->e = -k;
            dec_trim(out);
            return 1;
        }
    }
    return 0;
}

int schema__dec_of(const json_t *v, struct sdec *out)
{
    char buf[48], *p, *end;
    double x;
    int prec, nd = 0;

    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        out->d = i < 0 ? (uint64_t)(-(i + 1)) + 1 : (uint64_t)i;
        out->e = 0;
        dec_trim(out);
        return 0;
    }
    x = fabs(json_real_value(v));
    if (!isfinite(x))
        return -1;
    if (dec_fast(x, out))
        return 0;
    /* The shortest decimal that reads back as x: what the document said. */
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec - 1, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    out->d = 0;
    for (p = buf; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') {
            out->d = out->d * 10 + (uint64_t)(*p - '0');
            nd++;
        }
    out->e = (int)strtol(p + 1, &end, 10) - (nd - 1);
    dec_trim(out);
    return 0;
}

/* 10^k mod m, m > 0. */
static uint64_t pow10_mod(int k, uint64_t m)
{
    unsigned __int128 r = 1 % m, b = 10 % m;

    while (k > 0) {
        if (k & 1)
            r = r * b % m;
        b = b * b % m;
        k >>= 1;
    }
    return (uint64_t)r;
}

int schema__dec_multiple(const struct sdec *a, const struct sdec *b)
{
    unsigned __int128 big;
    int k;

    if (a->d == 0)
        return 1;
    if (b->d == 0)
        return 0;
    if (a->e >= b->e)   /* a = (a.d * 10^k) * 10^b.e: check a.d * 10^k mod b.d */
        return (unsigned __int128)(a->d % b->d) * pow10_mod(a->e - b->e, b->d) % b->d == 0;
    /* b = (b.d * 10^k) * 10^a.e, larger than a.d unless k is small */
    big = b->d;
    for (k = b->e - a->e; k > 0; k--) {
        big *= 10;
        if (big > a->d)
            return 0;
    }
    return a->d % (uint64_t)big == 0;
}
