/*
 * gguf.h - a streaming writer of GGUF v3 files (the model format of ggml and
 * llama.cpp), and the f16 / Q8_0 / Q4_0 encoders its tensor data needs.
 *
 * Use: ai_gguf_writer_new, then every key-value pair (ai_gguf_add_*) and every
 * tensor's name, shape and type (ai_gguf_add_tensor), then ai_gguf_writer_begin
 * writes the header; the tensors' bytes follow with ai_gguf_writer_data, in the
 * order they were added and in pieces of any size, so a model of many
 * gigabytes needs only one piece in memory. ai_gguf_writer_finish makes the
 * file whole: "<path>.tmp" is fsynced and renamed onto path. A writer freed
 * before that removes its temporary file, so path never holds part of a file.
 *
 * Errors are sticky: the first failure (FMD_ENOMEM, FMD_EINVAL for a bad
 * key or shape, FMD_EIO naming the path) is kept, later calls do nothing and
 * return it, and ai_gguf_writer_begin / ai_gguf_writer_finish report it in err.
 * Numbers are written little-endian; tensor data is taken as given, which on
 * the little-endian hosts formd runs on is the file's byte order.
 *
 * Names carry ai_gguf_ / AI_GGUF_, not gguf_: ggml, linked into formd,
 * exports its own gguf_* API and GGUF_TYPE_* constants.
 */
#ifndef FMD_AI_GGUF_H
#define FMD_AI_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define AI_GGUF_MAGIC      "GGUF"
#define AI_GGUF_VERSION    3u
#define AI_GGUF_ALIGNMENT  32u      /* general.alignment, written by every writer */
#define AI_GGUF_MAX_DIMS   4

/* Value types of key-value pairs (gguf.md "ai_gguf_metadata_value_type"). */
enum ai_gguf_type {
    AI_GGUF_TYPE_UINT8 = 0,
    AI_GGUF_TYPE_INT8 = 1,
    AI_GGUF_TYPE_UINT16 = 2,
    AI_GGUF_TYPE_INT16 = 3,
    AI_GGUF_TYPE_UINT32 = 4,
    AI_GGUF_TYPE_INT32 = 5,
    AI_GGUF_TYPE_FLOAT32 = 6,
    AI_GGUF_TYPE_BOOL = 7,
    AI_GGUF_TYPE_STRING = 8,
    AI_GGUF_TYPE_ARRAY = 9,
    AI_GGUF_TYPE_UINT64 = 10,
    AI_GGUF_TYPE_INT64 = 11,
    AI_GGUF_TYPE_FLOAT64 = 12,
};

/* Tensor element types: the subset of ggml_type this writer encodes. */
enum ai_gguf_tensor_type {
    AI_GGUF_TENSOR_F32 = 0,
    AI_GGUF_TENSOR_F16 = 1,
    AI_GGUF_TENSOR_Q4_0 = 2,     /* blocks of 32: f16 scale, 16 bytes of nibbles */
    AI_GGUF_TENSOR_Q8_0 = 8,     /* blocks of 32: f16 scale, 32 int8 */
};

/* Elements per block of type t (1 for F32 / F16, 32 for Q4_0 / Q8_0), 0 if unknown. */
size_t ai_gguf_tensor_block_elems(enum ai_gguf_tensor_type t);
/* Bytes per block of type t, 0 if unknown. */
size_t ai_gguf_tensor_block_bytes(enum ai_gguf_tensor_type t);
/* "F32", "F16", "Q4_0", "Q8_0" or "?". */
const char *ai_gguf_tensor_type_name(enum ai_gguf_tensor_type t);

/* IEEE half from float, rounding to nearest even (as ggml does). */
uint16_t ai_gguf_fp32_to_fp16(float f);
float ai_gguf_fp16_to_fp32(uint16_t h);

/*
 * Encode n floats (a multiple of 32 for the Q types) as type t into out,
 * which holds n / block_elems * block_bytes bytes. F16, Q8_0 and Q4_0 give
 * the bytes ggml's own encoders give (ggml_fp32_to_fp16_row,
 * quantize_row_q8_0_ref / _q4_0_ref; test_gguf.c compares them).
 */
void ai_gguf_encode(enum ai_gguf_tensor_type t, const float *x, void *out, size_t n);

struct ai_gguf_writer;

/* Progress: bytes of the file written so far and the file's final size. */
typedef void (*ai_gguf_progress_fn)(uint64_t done, uint64_t total, void *ud);

/*
 * Creates "<path>.tmp" (mode 0644, truncated) and a writer for it; path is
 * copied. On failure *out is NULL and nothing is on disk: FMD_EIO naming the
 * temporary path, or FMD_ENOMEM. The caller frees the writer with
 * ai_gguf_writer_free, finished or not.
 */
int ai_gguf_writer_new(struct ai_gguf_writer **out, const char *path, struct fmd_err *err);

/* Calls fn after each piece of data written (may be NULL to stop). */
void ai_gguf_writer_set_progress(struct ai_gguf_writer *w, ai_gguf_progress_fn fn, void *ud);

/*
 * Key-value pairs, kept in memory until ai_gguf_writer_begin. Keys and values
 * are copied. Each returns 0 or the writer's sticky error.
 * general.alignment is added by the writer; adding it again is FMD_EINVAL.
 */
int ai_gguf_add_str(struct ai_gguf_writer *w, const char *key, const char *val);
int ai_gguf_add_u32(struct ai_gguf_writer *w, const char *key, uint32_t val);
int ai_gguf_add_i32(struct ai_gguf_writer *w, const char *key, int32_t val);
int ai_gguf_add_f32(struct ai_gguf_writer *w, const char *key, float val);
int ai_gguf_add_bool(struct ai_gguf_writer *w, const char *key, int val);
int ai_gguf_add_arr_str(struct ai_gguf_writer *w, const char *key, const char *const *v, size_t n);
int ai_gguf_add_arr_f32(struct ai_gguf_writer *w, const char *key, const float *v, size_t n);
int ai_gguf_add_arr_i32(struct ai_gguf_writer *w, const char *key, const int32_t *v, size_t n);

/*
 * Declares the next tensor: dims[0] is the innermost (contiguous) dimension,
 * as in ggml's ne[]. dims[0] must be a multiple of the type's block size;
 * FMD_EINVAL otherwise. Returns 0 or the sticky error.
 */
int ai_gguf_add_tensor(struct ai_gguf_writer *w, const char *name, int n_dims,
                    const uint64_t *dims, enum ai_gguf_tensor_type type);

/* Bytes of tensor data for n elements of type t (a multiple of the block size). */
uint64_t ai_gguf_tensor_nbytes(enum ai_gguf_tensor_type t, uint64_t n);

/*
 * Writes header, key-value pairs, tensor infos and the padding before the
 * data. No ai_gguf_add_* after it. 0 or the sticky error, detailed in err.
 */
int ai_gguf_writer_begin(struct ai_gguf_writer *w, struct fmd_err *err);

/* The finished file's size in bytes; valid after ai_gguf_writer_begin. */
uint64_t ai_gguf_writer_total(const struct ai_gguf_writer *w);

/*
 * Appends n bytes of tensor data: the current tensor's, then, once it has all
 * its bytes, the next one's after the padding. Writing past the last tensor
 * is FMD_EINVAL. Returns 0 or the sticky error (FMD_EIO on a failed write).
 */
int ai_gguf_writer_data(struct ai_gguf_writer *w, const void *p, size_t n);

/*
 * Checks every tensor got all its bytes, fsyncs, renames "<path>.tmp" onto
 * path and fsyncs the directory. 0, or the sticky error (FMD_EINVAL for
 * missing data, FMD_EIO naming the path), detailed in err; on failure the
 * temporary file is removed.
 */
int ai_gguf_writer_finish(struct ai_gguf_writer *w, struct fmd_err *err);

/* Frees w (NULL is fine); an unfinished file is closed and removed. */
void ai_gguf_writer_free(struct ai_gguf_writer *w);

#endif
