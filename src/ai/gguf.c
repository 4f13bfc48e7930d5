/*
 * gguf.c - a streaming GGUF v3 writer (see gguf.h for its use).
 *
 * The file it writes, all numbers little-endian (ggml docs/gguf.md):
 *
 *   "GGUF"  u32 version = 3  u64 tensor_count  u64 kv_count
 *   kv_count times:
 *     string key  u32 value_type  value
 *       string = u64 length + bytes (no NUL); bool = one byte 0 / 1;
 *       array  = u32 element_type  u64 count  count elements
 *   tensor_count times (tensor infos):
 *     string name  u32 n_dims  u64 dims[n_dims] (innermost first)
 *     u32 ggml_type  u64 offset (from the start of the data, a multiple of
 *     the alignment)
 *   zero padding to a multiple of general.alignment (32)
 *   tensor data: each tensor's bytes, then zeros to the next multiple of the
 *   alignment (after the last one too), so tensor i starts at the sum of
 *   the padded sizes before it: the offsets ggml's reader demands.
 *
 * Key-value pairs and tensor infos are built in memory (they are small: a
 * 32000-token vocabulary is under a megabyte) because their counts come
 * first; the data is streamed straight to the file.
 */
#include "ai/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/mem.h"

#include "core/banned.h"

#define HDR_MAX   ((size_t)256 << 20)   /* key-value pairs and infos together */
#define NAME_MAX_LEN 63                 /* ggml's GGML_MAX_NAME, NUL included: 64 */

struct ai_gguf_writer {
    char *path;
    char *tmp;               /* path + ".tmp", what fd writes */
    int fd;
    int rc;                  /* sticky: first error */
    struct fmd_err err;
    struct buf kv;           /* encoded key-value pairs */
    struct buf ti;           /* encoded tensor infos */
    uint64_t n_kv;
    uint64_t *sizes;         /* each tensor's data bytes, unpadded */
    size_t n_tensors, cap;
    uint64_t data_size;      /* padded data bytes of the tensors so far */
    int begun, finished;
    uint64_t total, written;
    size_t cur;              /* tensor being streamed */
    uint64_t cur_done;       /* its bytes written so far */
    ai_gguf_progress_fn progress;
    void *progress_ud;
};

static uint64_t pad_to(uint64_t n, uint64_t a)
{
    return (n + a - 1) / a * a;
}

size_t ai_gguf_tensor_block_elems(enum ai_gguf_tensor_type t)
{
    switch (t) {
    case AI_GGUF_TENSOR_F32: case AI_GGUF_TENSOR_F16: return 1;
    case AI_GGUF_TENSOR_Q4_0: case AI_GGUF_TENSOR_Q8_0: return 32;
    }
    return 0;
}

size_t ai_gguf_tensor_block_bytes(enum ai_gguf_tensor_type t)
{
    switch (t) {
    case AI_GGUF_TENSOR_F32: return 4;
    case AI_GGUF_TENSOR_F16: return 2;
    case AI_GGUF_TENSOR_Q4_0: return 2 + 16;
    case AI_GGUF_TENSOR_Q8_0: return 2 + 32;
    }
    return 0;
}

const char *ai_gguf_tensor_type_name(enum ai_gguf_tensor_type t)
{
    switch (t) {
    case AI_GGUF_TENSOR_F32: return "F32";
    case AI_GGUF_TENSOR_F16: return "F16";
    case AI_GGUF_TENSOR_Q4_0: return "Q4_0";
    case AI_GGUF_TENSOR_Q8_0: return "Q8_0";
    }
    return "?";
}

uint64_t ai_gguf_tensor_nbytes(enum ai_gguf_tensor_type t, uint64_t n)
{
    size_t be = ai_gguf_tensor_block_elems(t);
    return be ? n / be * ai_gguf_tensor_block_bytes(t) : 0;
}

/*
 * Round to nearest even, subnormals and overflow to infinity included: the
 * bit-level method of F16C's vcvtps2ph (F. Giesen's float_to_half_fast3_rtne),
 * so the scales match what ggml computes on the same input.
 */
uint16_t ai_gguf_fp32_to_fp16(float f)
{
    uint32_t u, sign;
    uint16_t h;
    memcpy(&u, &f, 4);
    sign = u & 0x80000000u;
    u ^= sign;
    if (u >= (127u + 16) << 23) {             /* >= 65536: inf, or NaN */
        h = u > 0x7f800000u ? 0x7e00 : 0x7c00;
    } else if (u < 113u << 23) {              /* below 2^-14: subnormal half */
        const uint32_t magic_u = 126u << 23;  /* 0.5: its ulp is 2^-24 */
        float m, v;
        memcpy(&m, &magic_u, 4);
        memcpy(&v, &u, 4);
        v += m;                               /* the FPU rounds to even here */
        memcpy(&u, &v, 4);
        h = (uint16_t)(u - magic_u);
    } else {
        uint32_t odd = (u >> 13) & 1;
        u += ((uint32_t)(15 - 127) << 23) + 0xfff + odd;
        h = (uint16_t)(u >> 13);
    }
    return (uint16_t)(h | (sign >> 16));
}

float ai_gguf_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    uint32_t u;
    float f;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
        f = ldexpf((float)man, -24);
        return sign ? -f : f;
    } else {
        u = sign | ((exp + 112) << 23) | (man << 13);
    }
    memcpy(&f, &u, 4);
    return f;
}

static void encode_q8_0(const float *x, uint8_t *out, size_t n)
{
    size_t i, j;
    for (i = 0; i < n / 32; i++, x += 32, out += 34) {
        float amax = 0.0f, d, id;
        uint16_t dh;
        for (j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        d = amax / 127.0f;
        id = d != 0.0f ? 1.0f / d : 0.0f;
        dh = ai_gguf_fp32_to_fp16(d);
        memcpy(out, &dh, 2);
        for (j = 0; j < 32; j++)
            out[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
}

static void encode_q4_0(const float *x, uint8_t *out, size_t n)
{
    size_t i, j;
    for (i = 0; i < n / 32; i++, x += 32, out += 18) {
        float amax = 0.0f, max = 0.0f, d, id;
        uint16_t dh;
        for (j = 0; j < 32; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        d = max / -8.0f;
        id = d != 0.0f ? 1.0f / d : 0.0f;
        dh = ai_gguf_fp32_to_fp16(d);
        memcpy(out, &dh, 2);
        for (j = 0; j < 16; j++) {
            int8_t a = (int8_t)(x[j] * id + 8.5f), b = (int8_t)(x[16 + j] * id + 8.5f);
            uint8_t lo = (uint8_t)(a < 15 ? a : 15), hi = (uint8_t)(b < 15 ? b : 15);
            out[2 + j] = (uint8_t)(lo | hi << 4);
        }
    }
}

void ai_gguf_encode(enum ai_gguf_tensor_type t, const float *x, void *out, size_t n)
{
    size_t i;
    switch (t) {
    case AI_GGUF_TENSOR_F32:
        memcpy(out, x, n * 4);
        break;
    case AI_GGUF_TENSOR_F16:
        for (i = 0; i < n; i++) {
            uint16_t h = ai_gguf_fp32_to_fp16(x[i]);
            memcpy((uint8_t *)out + 2 * i, &h, 2);
        }
        break;
    case AI_GGUF_TENSOR_Q8_0:
        encode_q8_0(x, out, n);
        break;
    case AI_GGUF_TENSOR_Q4_0:
        encode_q4_0(x, out, n);
        break;
    }
}

/* ---- the writer ---- */

static int fail(struct ai_gguf_writer *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ai_gguf_writer *w, int code, const char *fmt, ...)
{
    va_list ap;
    if (!w->rc) {
        w->rc = code;
        w->err.code = code;
        va_start(ap, fmt);
        vsnprintf(w->err.msg, sizeof(w->err.msg), fmt, ap);
        va_end(ap);
    }
    return w->rc;
}

static int io_fail(struct ai_gguf_writer *w, const char *what)
{
    return fail(w, FMD_EIO, "cannot %s '%s': %s", what, w->tmp, strerror(errno));
}

static int nomem(struct ai_gguf_writer *w)
{
    return fail(w, FMD_ENOMEM, "out of memory writing '%s'", w->path);
}

static int put(struct ai_gguf_writer *w, struct buf *b, const void *p, size_t n)
{
    int rc;
    if (w->rc)
        return w->rc;
    rc = buf_add(b, p, n);
    if (rc == FMD_ETOOBIG)
        return fail(w, FMD_EINVAL, "gguf header of '%s' is too large", w->path);
    return rc ? nomem(w) : 0;
}

static int put_u32(struct ai_gguf_writer *w, struct buf *b, uint32_t v)
{
    uint8_t le[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    return put(w, b, le, 4);
}

static int put_u64(struct ai_gguf_writer *w, struct buf *b, uint64_t v)
{
    uint8_t le[8];
    int i;
    for (i = 0; i < 8; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    return put(w, b, le, 8);
}

static int put_str(struct ai_gguf_writer *w, struct buf *b, const char *s)
{
    size_t n = strlen(s);
    put_u64(w, b, n);
    return put(w, b, s, n);
}

/* The key and value type of the next pair; refuses general.alignment. */
static int kv_head(struct ai_gguf_writer *w, const char *key, enum ai_gguf_type type)
{
    if (w->rc)
        return w->rc;
    if (w->begun)
        return fail(w, FMD_EINVAL, "gguf key '%s' added after the header of '%s'", key, w->path);
    if (!*key || !strcmp(key, "general.alignment"))
        return fail(w, FMD_EINVAL, "gguf key '%s' may not be set in '%s'", key, w->path);
    put_str(w, &w->kv, key);
    put_u32(w, &w->kv, type);
    if (!w->rc)
        w->n_kv++;
    return w->rc;
}

int ai_gguf_add_str(struct ai_gguf_writer *w, const char *key, const char *val)
{
    if (kv_head(w, key, AI_GGUF_TYPE_STRING))
        return w->rc;
    return put_str(w, &w->kv, val);
}

int ai_gguf_add_u32(struct ai_gguf_writer *w, const char *key, uint32_t val)
{
    if (kv_head(w, key, AI_GGUF_TYPE_UINT32))
        return w->rc;
    return put_u32(w, &w->kv, val);
}

int ai_gguf_add_i32(struct ai_gguf_writer *w, const char *key, int32_t val)
{
    if (kv_head(w, key, AI_GGUF_TYPE_INT32))
        return w->rc;
    return put_u32(w, &w->kv, (uint32_t)val);
}

int ai_gguf_add_f32(struct ai_gguf_writer *w, const char *key, float val)
{
    uint32_t u;
    memcpy(&u, &val, 4);
    if (kv_head(w, key, AI_GGUF_TYPE_FLOAT32))
        return w->rc;
    return put_u32(w, &w->kv, u);
}

int ai_gguf_add_bool(struct ai_gguf_writer *w, const char *key, int val)
{
    uint8_t b = val ? 1 : 0;
    if (kv_head(w, key, AI_GGUF_TYPE_BOOL))
        return w->rc;
    return put(w, &w->kv, &b, 1);
}

static int arr_head(struct ai_gguf_writer *w, const char *key, enum ai_gguf_type type, size_t n)
{
    if (kv_head(w, key, AI_GGUF_TYPE_ARRAY))
        return w->rc;
    put_u32(w, &w->kv, type);
    return put_u64(w, &w->kv, n);
}

int ai_gguf_add_arr_str(struct ai_gguf_writer *w, const char *key, const char *const *v, size_t n)
{
    size_t i;
    if (arr_head(w, key, AI_GGUF_TYPE_STRING, n))
        return w->rc;
    for (i = 0; i < n && !w->rc; i++)
        put_str(w, &w->kv, v[i]);
    return w->rc;
}

int ai_gguf_add_arr_f32(struct ai_gguf_writer *w, const char *key, const float *v, size_t n)
{
    size_t i;
    if (arr_head(w, key, AI_GGUF_TYPE_FLOAT32, n))
        return w->rc;
    for (i = 0; i < n && !w->rc; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        put_u32(w, &w->kv, u);
    }
    return w->rc;
}

int ai_gguf_add_arr_i32(struct ai_gguf_writer *w, const char *key, const int32_t *v, size_t n)
{
    size_t i;
    if (arr_head(w, key, AI_GGUF_TYPE_INT32, n))
        return w->rc;
    for (i = 0; i < n && !w->rc; i++)
        put_u32(w, &w->kv, (uint32_t)v[i]);
    return w->rc;
}

int ai_gguf_add_tensor(struct ai_gguf_writer *w, const char *name, int n_dims,
                    const uint64_t *dims, enum ai_gguf_tensor_type type)
{
    uint64_t n = 1, nbytes;
    size_t be = ai_gguf_tensor_block_elems(type);
    int i;
    if (w->rc)
        return w->rc;
    if (w->begun)
        return fail(w, FMD_EINVAL, "gguf tensor '%s' added after the header of '%s'",
                    name, w->path);
    if (!*name || strlen(name) > NAME_MAX_LEN || n_dims < 1 || n_dims > AI_GGUF_MAX_DIMS || !be)
        return fail(w, FMD_EINVAL, "gguf tensor '%s' of '%s' has a bad name, shape or type",
                    name, w->path);
    for (i = 0; i < n_dims; i++) {
        if (dims[i] == 0 || dims[i] > ((uint64_t)1 << 40) || n > ((uint64_t)1 << 40))
            return fail(w, FMD_EINVAL, "gguf tensor '%s' of '%s' has a bad shape", name, w->path);
        n *= dims[i];
    }
    if (dims[0] % be)
        return fail(w, FMD_EINVAL, "gguf tensor '%s' of '%s': rows are not whole blocks",
                    name, w->path);
    if (w->n_tensors == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        uint64_t *s = fmd_realloc(w->sizes, cap * sizeof(*s));
        if (!s)
            return nomem(w);
        w->sizes = s;
        w->cap = cap;
    }
    nbytes = ai_gguf_tensor_nbytes(type, n);
    put_str(w, &w->ti, name);
    put_u32(w, &w->ti, (uint32_t)n_dims);
    for (i = 0; i < n_dims; i++)
        put_u64(w, &w->ti, dims[i]);
    put_u32(w, &w->ti, type);
    put_u64(w, &w->ti, w->data_size);
    if (w->rc)
        return w->rc;
    w->sizes[w->n_tensors++] = nbytes;
    w->data_size += pad_to(nbytes, AI_GGUF_ALIGNMENT);
    return 0;
}

int ai_gguf_writer_new(struct ai_gguf_writer **out, const char *path, struct fmd_err *err)
{
    struct ai_gguf_writer *w = NULL;
    size_t n = strlen(path);
    int rc = 0;
    *out = NULL;
    w = fmd_calloc(1, sizeof(*w));
    if (!w) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory writing '%s'", path);
        goto out;
    }
    w->fd = -1;
    buf_init(&w->kv, HDR_MAX);
    buf_init(&w->ti, HDR_MAX);
    w->path = fmd_strdup(path);
    w->tmp = fmd_malloc(n + 5);
    if (!w->path || !w->tmp) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory writing '%s'", path);
        goto out;
    }
    memcpy(w->tmp, path, n);
    memcpy(w->tmp + n, ".tmp", 5);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        rc = fmd_errf(err, FMD_EIO, "cannot create '%s': %s", w->tmp, strerror(errno));
        goto out;
    }
    *out = w;
    w = NULL;
out:
    if (w) {
        w->finished = 1;     /* nothing of ours on disk to remove */
        ai_gguf_writer_free(w);
    }
    return rc;
}

void ai_gguf_writer_set_progress(struct ai_gguf_writer *w, ai_gguf_progress_fn fn, void *ud)
{
    w->progress = fn;
    w->progress_ud = ud;
}

static int write_all(struct ai_gguf_writer *w, const void *p, size_t n)
{
    const char *c = p;
    if (w->rc)
        return w->rc;
    while (n > 0) {
        ssize_t k = write(w->fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            int e = k < 0 ? errno : ENOSPC;
            return fail(w, FMD_EIO, "cannot write '%s': %s", w->tmp, strerror(e));
        }
        c += k;
        n -= (size_t)k;
        w->written += (uint64_t)k;
    }
    return 0;
}

static int write_zeros(struct ai_gguf_writer *w, size_t n)
{
    static const uint8_t zeros[AI_GGUF_ALIGNMENT];
    return write_all(w, zeros, n);
}

int ai_gguf_writer_begin(struct ai_gguf_writer *w, struct fmd_err *err)
{
    struct buf hdr;
    uint64_t start;
    buf_init(&hdr, 64);
    if (!w->rc && w->begun)
        fail(w, FMD_EINVAL, "gguf header of '%s' written twice", w->path);
    /* general.alignment last: kv_head refuses it from callers */
    if (!w->rc) {
        put_str(w, &w->kv, "general.alignment");
        put_u32(w, &w->kv, AI_GGUF_TYPE_UINT32);
        put_u32(w, &w->kv, AI_GGUF_ALIGNMENT);
        w->n_kv++;
    }
    put(w, &hdr, AI_GGUF_MAGIC, 4);
    put_u32(w, &hdr, AI_GGUF_VERSION);
    put_u64(w, &hdr, w->n_tensors);
    put_u64(w, &hdr, w->n_kv);
    w->begun = 1;
    if (!w->rc) {
        start = pad_to(hdr.len + w->kv.len + w->ti.len, AI_GGUF_ALIGNMENT);
        w->total = start + w->data_size;
        write_all(w, hdr.p, hdr.len);
        write_all(w, w->kv.p, w->kv.len);
        write_all(w, w->ti.p, w->ti.len);
        write_zeros(w, (size_t)(start - w->written));
    }
    buf_release(&hdr);
    buf_release(&w->kv);    /* written: no longer needed */
    buf_release(&w->ti);
    if (w->rc && err)
        *err = w->err;
    return w->rc;
}

uint64_t ai_gguf_writer_total(const struct ai_gguf_writer *w)
{
    return w->total;
}

int ai_gguf_writer_data(struct ai_gguf_writer *w, const void *p, size_t n)
{
    const uint8_t *c = p;
    if (w->rc)
        return w->rc;
    if (!w->begun)
        return fail(w, FMD_EINVAL, "gguf data for '%s' before its header", w->path);
    while (n > 0) {
        uint64_t left;
        size_t take;
        if (w->cur >= w->n_tensors)
            return fail(w, FMD_EINVAL, "more tensor data than tensors for '%s'", w->path);
        left = w->sizes[w->cur] - w->cur_done;
        take = left < n ? (size_t)left : n;
        if (write_all(w, c, take))
            return w->rc;
        c += take;
        n -= take;
        w->cur_done += take;
        if (w->cur_done == w->sizes[w->cur]) {
            uint64_t sz = w->sizes[w->cur];
            if (write_zeros(w, (size_t)(pad_to(sz, AI_GGUF_ALIGNMENT) - sz)))
                return w->rc;
            w->cur++;
            w->cur_done = 0;
        }
    }
    if (w->progress)
        w->progress(w->written, w->total, w->progress_ud);
    return 0;
}

/* fsync the directory holding path, so the rename is durable too. */
static int sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    int fd, rc;
    if (!slash) {
        dir[0] = '.';
        dir[1] = 0;
    } else if (slash == path) {
        dir[0] = '/';
        dir[1] = 0;
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof(dir))
            return -1;
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int ai_gguf_writer_finish(struct ai_gguf_writer *w, struct fmd_err *err)
{
    if (!w->rc && !w->begun)
        fail(w, FMD_EINVAL, "gguf header of '%s' never written", w->path);
    if (!w->rc && w->cur < w->n_tensors) {
        fail(w, FMD_EINVAL, "tensor %zu of %zu in '%s' is missing data",
             w->cur + 1, w->n_tensors, w->path);
    }
    if (!w->rc && w->written != w->total)
        fail(w, FMD_EINVAL, "gguf file '%s' has the wrong size", w->path);
    if (!w->rc && fsync(w->fd))
        io_fail(w, "fsync");
    if (!w->rc) {
        int fd = w->fd;
        w->fd = -1;
        if (close(fd))
            io_fail(w, "close");
    }
    if (!w->rc && rename(w->tmp, w->path))
        fail(w, FMD_EIO, "cannot rename '%s' to '%s': %s", w->tmp, w->path, strerror(errno));
    if (!w->rc) {
        w->finished = 1;
        if (sync_dir(w->path))
            fail(w, FMD_EIO, "cannot sync the directory of '%s'", w->path);
    }
    if (w->rc && !w->finished) {
        if (w->fd >= 0)
            close(w->fd);
        w->fd = -1;
        unlink(w->tmp);
        w->finished = 1;
    }
    if (w->rc && err)
        *err = w->err;
    return w->rc;
}

void ai_gguf_writer_free(struct ai_gguf_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (!w->finished && w->tmp)
        unlink(w->tmp);
    buf_release(&w->kv);
    buf_release(&w->ti);
    fmd_free(w->sizes);
    fmd_free(w->path);
    fmd_free(w->tmp);
    fmd_free(w);
}
