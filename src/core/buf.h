/*
 * buf.h - a bounded, growable byte buffer.
 *
 * After buf_init the data pointer is never NULL and always NUL-terminated,
 * so b->p can be handed to any C string function. Every buffer has a maximum
 * size fixed at init: growing past it fails with FMD_ETOOBIG and leaves the
 * contents as they were, which is how request bodies and responses stay
 * bounded without checks at every call site.
 */
#ifndef FMD_CORE_BUF_H
#define FMD_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *p;      /* never NULL; NUL at p[len] */
    size_t len;
    size_t cap;   /* 0 while p points at the shared empty string */
    size_t max;   /* len may never exceed this */
};

/* A buffer holding "", growing to at most max bytes. Cannot fail. */
void buf_init(struct buf *b, size_t max);
/* Frees the storage and leaves b empty and still usable. */
void buf_release(struct buf *b);
/* Empties b, keeping its storage. */
void buf_reset(struct buf *b);

/* Each returns 0, FMD_ENOMEM or FMD_ETOOBIG; on failure b is unchanged. */
int buf_grow(struct buf *b, size_t extra);
int buf_add(struct buf *b, const void *data, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Appends s as the inside of a JSON string (quotes not included). */
int buf_add_json_str(struct buf *b, const char *s, size_t n);

/*
 * Appends s as valid UTF-8: each byte that does not start a well-formed
 * sequence (overlong forms, surrogates and NUL included) becomes U+FFFD.
 */
int buf_add_utf8(struct buf *b, const char *s, size_t n);
/*
 * 1 if s is valid UTF-8 without NUL, allowing its last sequence to be cut
 * short (the start of text still being written); else 0.
 */
int utf8_valid_prefix(const char *s, size_t n);
/* 1 if s is valid UTF-8 without NUL, to its last sequence; else 0. */
int utf8_valid(const char *s, size_t n);

/*
 * Decodes s, standard base64 (line breaks allowed), into a new fmd_malloc'd
 * *out of *len bytes: 0; FMD_EINVAL when s is not base64 or decodes to
 * nothing; FMD_ENOMEM.
 */
int base64_decode(const char *s, unsigned char **out, size_t *len);
/* The standard base64 alphabet, without the padding '=' (for strspn). */
#define BASE64_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

/* Hands the heap string to the caller (free with fmd_free); b is reset. */
char *buf_detach(struct buf *b, size_t *len);

#endif
