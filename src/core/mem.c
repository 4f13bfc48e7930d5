/* mem.c - allocation wrappers with fault injection for tests. */
#include "core/mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

static atomic_long fail_at;     /* 0: never fail */
static atomic_long alloc_count;

static int should_fail(void)
{
    long n = atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed) + 1;
    long f = atomic_load_explicit(&fail_at, memory_order_relaxed);
    return f > 0 && n >= f;
}

void fmd_mem_fail_at(long nth)
{
    atomic_store(&alloc_count, 0);
    atomic_store(&fail_at, nth);
}

long fmd_mem_count(void)
{
    return atomic_load(&alloc_count);
}

void *fmd_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n ? n : 1);
}

void *fmd_calloc(size_t count, size_t n)
{
    return should_fail() ? NULL : calloc(count ? count : 1, n ? n : 1);
}

void *fmd_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n ? n : 1);
}

char *fmd_strndup(const char *s, size_t n)
{
    char *d = fmd_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *fmd_strdup(const char *s)
{
    return s ? fmd_strndup(s, strlen(s)) : NULL;
}

void fmd_free(void *p)
{
    free(p);
}

size_t fmd_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = src ? strlen(src) : 0;
    size_t k = n < cap ? n : cap - 1;
    if (k)
        memcpy(dst, src, k);
    dst[k] = '\0';
    return n;
}
