/*
 * mem.h - the one allocator formd calls.
 *
 * Everything allocates through fmd_malloc and friends so tests can make the
 * Nth allocation fail (fmd_mem_fail_at) and check that every caller copes:
 * no crash, no leak, a clean FMD_ENOMEM. Without a fault set they are the
 * libc functions plus one predictable branch.
 */
#ifndef FMD_CORE_MEM_H
#define FMD_CORE_MEM_H

#include <stddef.h>

void *fmd_malloc(size_t n);
void *fmd_calloc(size_t count, size_t n);
void *fmd_realloc(void *p, size_t n);
char *fmd_strdup(const char *s);
char *fmd_strndup(const char *s, size_t n);
void fmd_free(void *p);

/*
 * Copies src into dst[cap] truncating if needed, always NUL-terminating
 * (cap > 0). Returns strlen(src), so a result >= cap means truncation.
 */
size_t fmd_strlcpy(char *dst, const char *src, size_t cap);

/* Frees *pp and sets it to NULL. */
#define fmd_freez(pp) do { fmd_free(*(pp)); *(pp) = NULL; } while (0)

/*
 * Fault injection for tests: the nth allocation from now (1-based) and every
 * later one fail until fmd_mem_fail_at(0) switches it off. Process-wide.
 */
void fmd_mem_fail_at(long nth);
/* Allocations attempted since the last fmd_mem_fail_at() call. */
long fmd_mem_count(void);

#endif
