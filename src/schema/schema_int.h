/*
 * schema_int.h - helpers shared by the files of src/schema/, not for other modules.
 *
 * JSON Schema compares instances by value: 1 and 1.0 are the same number,
 * objects are equal whatever their key order. schema__json_equal and
 * schema__json_hash implement that equality for enum, const, uniqueItems and
 * the fields compiler's option check. The format checks and the pattern check
 * live here so that validate.c and fields.c agree on them.
 */
#ifndef FMD_SCHEMA_INT_H
#define FMD_SCHEMA_INT_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <jansson.h>
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* 1 if a and b are equal JSON values (numbers compared by value), else 0. */
int schema__json_equal(const json_t *a, const json_t *b);

/* A hash consistent with schema__json_equal: equal values hash equal. */
uint64_t schema__json_hash(const json_t *v);

/* -1, 0 or 1 as number a is below, equal to or above number b; exact for
 * integers beyond 2^53. Both must be JSON numbers. */
int schema__num_cmp(const json_t *a, const json_t *b);

/* 1 if v is a JSON integer or a real with no fractional part, else 0. */
int schema__is_integral(const json_t *v);

/*
 * Checks s[0..n) against the named "format": 1 valid, 0 invalid, -1 when
 * the format is not one formd asserts (the caller then ignores it).
 */
int schema__format_check(const char *format, const char *s, size_t n);

/*
 * s[0..n) shortened to quote in a message: at most max bytes, cut at a UTF-8
 * character boundary, "..." appended when cut. dst holds max + 4 bytes.
 */
const char *schema__excerpt(char *dst, const char *s, size_t n, size_t max);

/*
 * The PCRE2 options every schema pattern is compiled with. DOLLAR_ENDONLY
 * gives "$" its ECMA-262 meaning (the end, not also before a final newline).
 */
#define SCHEMA__PCRE2_OPTIONS (PCRE2_UTF | PCRE2_DOLLAR_ENDONLY)

/* PCRE2 allocator callbacks on fmd_malloc / fmd_free, for general contexts. */
void *schema__pcre2_alloc(PCRE2_SIZE n, void *data);
void schema__pcre2_free(void *p, void *data);

/*
 * Compiles the ECMA-262 pattern pat[0..len) into *out (pcre2_code_free) with
 * cc's allocator. 0; FMD_EUNPROC with PCRE2's reason in why ("missing closing
 * parenthesis at offset 3"); FMD_ENOMEM. *out is NULL on failure.
 */
int schema__regex_compile(const char *pat, size_t len, pcre2_compile_context *cc,
                          pcre2_code **out, char *why, size_t why_size);

/*
 * Checks that pattern[0..len) compiles as schema_compile would compile it.
 * 0; FMD_EUNPROC with the reason in err; FMD_ENOMEM.
 */
int schema__pattern_check(const char *pattern, size_t len, struct fmd_err *err);

#endif
