/*
 * arena.h - a per-request (or per-task) bump allocator.
 *
 * Everything a request needs that dies with it comes from its arena and is
 * freed at once by arena_release. Blocks are chained; a large request gets a
 * block of its own. Not thread-safe: one arena, one owner.
 */
#ifndef FMD_CORE_ARENA_H
#define FMD_CORE_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
    struct arena_block *head;
    size_t used;        /* bytes handed out, for metrics */
};

void arena_init(struct arena *a);
/* Frees every block; a is empty and usable again. */
void arena_release(struct arena *a);
/* n bytes aligned for any type, or NULL when memory is exhausted. */
void *arena_alloc(struct arena *a, size_t n);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
