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
    uint64_t h = 0xcbf29ce484222325ULL;   /* FNV-1a */
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
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
