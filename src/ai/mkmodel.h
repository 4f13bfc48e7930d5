/*
 * mkmodel.h - makes llama-architecture GGUF models with random weights, for
 * tests and speed measurements (`formd ai mkmodel`, DESIGN.md section 4).
 *
 * The model is what llama.cpp loads and runs like any Llama: the metadata it
 * requires, a SentencePiece-style ("llama") vocabulary that can spell any
 * text (<unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF> for byte
 * fallback, printable ASCII, JSON punctuation pieces and synthetic letter
 * pieces up to the vocabulary size), and every tensor of a Llama block.
 * Weights are uniform in +-0.02, norms 1.0, all a function of the seed: the
 * same seed gives the same bytes. Output is nonsense; timing is real.
 *
 * Presets:
 *   tiny  vocab 512,   dim 64,   2 layers, 4 heads / 2 kv, ffn 192,   ctx 2048, F16
 *   1b    vocab 32000, dim 2048, 22 layers, 32 heads / 4 kv, ffn 5632, ctx 2048, Q8_0
 *         (TinyLlama-1.1B's shape)
 *   7b    vocab 32000, dim 4096, 32 layers, 32 heads / 8 kv, ffn 14336, ctx 32768,
 *         rope base 1e6, Q4_0 (Mistral 7B's shape, in llama.cpp's reference
 *         benchmark type; 7.24B parameters)
 * Norms are F32 in all of them.
 */
#ifndef FMD_AI_MKMODEL_H
#define FMD_AI_MKMODEL_H

#include <stdint.h>

#include "ai/gguf.h"
#include "core/err.h"

struct ai_model_spec {
    const char *name;             /* preset name; general.name is "formd-<name>" */
    uint32_t n_vocab;             /* at least 400 */
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;           /* divides n_head */
    uint32_t n_ff;
    uint32_t n_ctx;
    float rms_eps;
    float rope_base;
    enum ai_gguf_tensor_type wtype;  /* matrices and embeddings; norms are F32 */
};

/* The preset called name ("tiny", "1b", "7b"), or NULL. Static storage. */
const struct ai_model_spec *ai_model_preset(const char *name);

/* Parameters in a model of this shape (embeddings, output and norms included). */
uint64_t ai_model_params(const struct ai_model_spec *spec);

/* Progress of a write: bytes written so far and the file's final size. */
typedef void (*ai_mkmodel_progress_fn)(uint64_t done, uint64_t total, void *ud);

/*
 * Writes the model of preset to path ("<path>.tmp", fsync, rename): path
 * holds either the whole model or, on failure, what it held before.
 * Memory stays under a few megabytes whatever the size: tensors are made and
 * written a quarter of a megabyte at a time.
 * Fails with FMD_EINVAL for an unknown preset, FMD_EIO naming the path,
 * FMD_ENOMEM; detail in err.
 */
int ai_mkmodel(const char *path, const char *preset, uint64_t seed, struct fmd_err *err);

/*
 * The same for any shape, calling progress (may be NULL) as the file grows.
 * FMD_EINVAL for a shape llama.cpp cannot take (heads not dividing the
 * width, rows not whole quantisation blocks, a vocabulary under 400).
 */
int ai_mkmodel_ex(const char *path, const struct ai_model_spec *spec, uint64_t seed,
                  ai_mkmodel_progress_fn progress, void *ud, struct fmd_err *err);

#endif
