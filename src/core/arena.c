/* arena.c - chained-block bump allocator. */
#include "core/arena.h"

#include <stdarg.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "core/banned.h"

#define ARENA_BLOCK 4096

struct arena_block {
    struct arena_block *next;
    size_t size, off;
    alignas(max_align_t) char data[];
};

void arena_init(struct arena *a)
{
    a->head = NULL;
    a->used = 0;
}

void arena_release(struct arena *a)
{
    struct arena_block *b = a->head, *n;
    while (b) {
        n = b->next;
        fmd_free(b);
        b = n;
    }
    arena_init(a);
}

void *arena_alloc(struct arena *a, size_t n)
{
    const size_t al = alignof(max_align_t);
    struct arena_block *b = a->head;
    size_t sz;

    n = (n + al - 1) & ~(al - 1);
    if (!n)
        n = al;
    if (b && b->size - b->off >= n) {
        void *p = b->data + b->off;
        b->off += n;
        a->used += n;
        return p;
    }
    sz = n > ARENA_BLOCK / 2 ? n : ARENA_BLOCK;
    b = fmd_malloc(sizeof(*b) + sz);
    if (!b)
        return NULL;
    b->size = sz;
    b->off = n;
    if (sz == n && a->head) {
        /* A big one-off allocation: keep the current block for small ones. */
        b->next = a->head->next;
        a->head->next = b;
    } else {
        b->next = a->head;
        a->head = b;
    }
    a->used += n;
    return b->data;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *d = arena_alloc(a, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *d;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !(d = arena_alloc(a, (size_t)n + 1)))
        return NULL;
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}
