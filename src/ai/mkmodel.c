/*
 * mkmodel.c - llama-architecture GGUF models with random weights (mkmodel.h).
 *
 * What llama.cpp reads from the file (src/llama-model.cpp, llama-vocab.cpp):
 *   general.architecture "llama", general.name, general.file_type,
 *   general.quantization_version, general.alignment (the writer's);
 *   llama.{vocab_size, context_length, embedding_length, block_count,
 *   feed_forward_length, rope.dimension_count, rope.freq_base,
 *   attention.head_count, attention.head_count_kv,
 *   attention.layer_norm_rms_epsilon};
 *   tokenizer.ggml.{model = "llama", tokens, scores, token_type,
 *   bos/eos/unknown_token_id, add_bos_token, add_eos_token}.
 * Tensors (ggml shapes, innermost first; E = n_embd, KV = E / n_head * n_head_kv):
 *   token_embd.weight [E, vocab]   output_norm.weight [E]   output.weight [E, vocab]
 *   blk.N.attn_norm.weight [E]     blk.N.attn_q.weight [E, E]
 *   blk.N.attn_k.weight [E, KV]    blk.N.attn_v.weight [E, KV]
 *   blk.N.attn_output.weight [E, E]  blk.N.ffn_norm.weight [E]
 *   blk.N.ffn_gate.weight [E, FF]  blk.N.ffn_up.weight [E, FF]  blk.N.ffn_down.weight [FF, E]
 *
 * The vocabulary: SentencePiece merges adjacent pieces while their
 * concatenation is a token (highest score first) and spells whatever is left
 * with the <0xXX> byte tokens, so any UTF-8 text tokenizes; "\xe2\x96\x81"
 * (U+2581) stands for a space, as in Llama's vocabulary. Pieces are ASCII
 * apart from that, so every token's text is valid UTF-8 for grammars.
 *
 * Each tensor's numbers come from its own splitmix64 stream seeded by the
 * seed and the tensor's index, so the bytes depend on nothing else.
 */
#include "ai/mkmodel.h"

#include <stdio.h>
#include <string.h>

#include "ai/gguf.h"
#include "core/buf.h"
#include "core/mem.h"

#include "core/banned.h"

#define SP "\xe2\x96\x81"           /* U+2581, SentencePiece's space */
#define CHUNK_ELEMS (1u << 16)       /* floats made and written at a time */
#define WEIGHT_RANGE 0.02f

/* llama.cpp's llama_token_type */
enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_BYTE = 6 };

static const struct ai_model_spec presets[] = {
    { "tiny", 512, 64, 2, 4, 2, 192, 2048, 1e-5f, 10000.0f, AI_GGUF_TENSOR_F16 },
    { "1b", 32000, 2048, 22, 32, 4, 5632, 2048, 1e-5f, 10000.0f, AI_GGUF_TENSOR_Q8_0 },
    /* Mistral 7B's shape: grouped-query attention (8 kv heads), ffn 14336 */
    { "7b", 32000, 4096, 32, 32, 8, 14336, 32768, 1e-5f, 1000000.0f, AI_GGUF_TENSOR_Q4_0 },
};

/* Pieces that make JSON and common words a few tokens instead of many. */
static const char *const common_pieces[] = {
    "{\"", "\":", "\",", "\"}", SP "\"", "\":" SP, "\":" SP "\"", "\"," SP "\"",
    "\"},", "},", "}]", "[{", "[]", "{}", SP "{", SP "}", SP "[", SP "]", "\"]",
    "[\"", "\\n", "\\\"", "true", "false", "null", SP "true", SP "false", SP "null",
    SP "the", SP "a", SP "and", SP "of", SP "to", SP "in", SP "is", SP "for",
    SP "name", "name", SP "email", "email", SP "phone", SP "message", "age",
    "type", "string", "number", "object", "array", "properties", "required",
    "00", "10", "20", "19", ".0", ".com", "@",
};

const struct ai_model_spec *ai_model_preset(const char *name)
{
    size_t i;
    for (i = 0; name && i < sizeof(presets) / sizeof(presets[0]); i++)
        if (!strcmp(presets[i].name, name))
            return &presets[i];
    return NULL;
}

uint64_t ai_model_params(const struct ai_model_spec *s)
{
    uint64_t e = s->n_embd, kv = e / s->n_head * s->n_head_kv;
    uint64_t block = 2 * e + 2 * e * e + 2 * e * kv + 3 * e * s->n_ff;
    return 2 * e * s->n_vocab + e + block * s->n_layer;
}

/* ---- the vocabulary ---- */

struct vocab {
    struct buf text;          /* NUL-separated pieces */
    uint32_t *off;            /* piece i at text.p + off[i] */
    float *scores;
    int32_t *types;
    uint32_t n, max;
    uint32_t *slots;          /* open-addressing set of ids + 1, 0 free */
    uint32_t nslots;          /* power of two, over twice max */
    const char **ptrs;        /* the pieces as strings, once complete */
};

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* Adds piece unless present or full: 0, or FMD_ENOMEM. */
static int vocab_add(struct vocab *v, const char *piece, float score, int32_t type)
{
    uint32_t h, off;
    int rc;
    if (v->n == v->max)
        return 0;
    for (h = hash_str(piece) & (v->nslots - 1); v->slots[h]; h = (h + 1) & (v->nslots - 1))
        if (!strcmp(v->text.p + v->off[v->slots[h] - 1], piece))
            return 0;
    off = (uint32_t)v->text.len;
    rc = buf_add(&v->text, piece, strlen(piece) + 1);
    if (rc)
        return FMD_ENOMEM;
    v->off[v->n] = off;
    v->scores[v->n] = score;
    v->types[v->n] = type;
    v->slots[h] = ++v->n;
    return 0;
}

static void vocab_release(struct vocab *v)
{
    buf_release(&v->text);
    fmd_freez(&v->off);
    fmd_freez(&v->scores);
    fmd_freez(&v->types);
    fmd_freez(&v->slots);
    fmd_freez(&v->ptrs);
}

/* Normal pieces' scores fall with their rank, so earlier pieces merge first. */
static int add_normal(struct vocab *v, const char *piece)
{
    return vocab_add(v, piece, -(float)v->n, TOK_NORMAL);
}

/* Pieces of len letters from a..z, each also with a leading space. */
static int add_letter_pieces(struct vocab *v, int len, int spaced)
{
    char piece[16];
    uint32_t count = 1, i;
    int k, rc = 0, start = spaced ? 3 : 0;
    for (k = 0; k < len; k++)
        count *= 26;
    if (spaced)
        memcpy(piece, SP, 3);
    for (i = 0; i < count && v->n < v->max && !rc; i++) {
        uint32_t x = i;
        for (k = len - 1; k >= 0; k--, x /= 26)
            piece[start + k] = (char)('a' + x % 26);
        piece[start + len] = 0;
        rc = add_normal(v, piece);
    }
    return rc;
}

static int build_vocab(struct vocab *v, uint32_t n)
{
    char piece[16];
    int rc = 0, i, len;
    memset(v, 0, sizeof(*v));
    buf_init(&v->text, (size_t)n * 16 + 64);
    v->max = n;
    for (v->nslots = 1024; v->nslots < 2 * n; v->nslots *= 2)
        ;
    v->off = fmd_malloc((size_t)n * sizeof(*v->off));
    v->scores = fmd_malloc((size_t)n * sizeof(*v->scores));
    v->types = fmd_malloc((size_t)n * sizeof(*v->types));
    v->slots = fmd_calloc(v->nslots, sizeof(*v->slots));
    v->ptrs = fmd_malloc((size_t)n * sizeof(*v->ptrs));
    if (!v->off || !v->scores || !v->types || !v->slots || !v->ptrs) {
        rc = FMD_ENOMEM;
        goto out;
    }
    /* ids 0, 1, 2: llama.cpp's defaults for unk, bos, eos */
    rc = vocab_add(v, "<unk>", 0.0f, TOK_UNKNOWN);
    if (!rc)
        rc = vocab_add(v, "<s>", 0.0f, TOK_CONTROL);
    if (!rc)
        rc = vocab_add(v, "</s>", 0.0f, TOK_CONTROL);
    for (i = 0; i < 256 && !rc; i++) {
        snprintf(piece, sizeof(piece), "<0x%02X>", i);
        rc = vocab_add(v, piece, 0.0f, TOK_BYTE);
    }
    if (!rc)
        rc = add_normal(v, SP);
    for (i = 0x21; i < 0x7f && !rc; i++) {
        piece[0] = (char)i;
        piece[1] = 0;
        rc = add_normal(v, piece);
    }
    for (i = 0; i < (int)(sizeof(common_pieces) / sizeof(common_pieces[0])) && !rc; i++)
        rc = add_normal(v, common_pieces[i]);
    for (i = 0; i < 26 && !rc; i++) {      /* capitalised word starts */
        memcpy(piece, SP, 3);
        piece[3] = (char)('A' + i);
        piece[4] = 0;
        rc = add_normal(v, piece);
    }
    /* then letters: " x", "xy", " xy", "xyz", " xyz", ... until the vocab is full */
    for (len = 1; len <= 8 && v->n < v->max && !rc; len++) {
        if (len > 1)
            rc = add_letter_pieces(v, len, 0);
        if (!rc)
            rc = add_letter_pieces(v, len, 1);
    }
    if (rc)
        goto out;
    if (v->n != n) {
        rc = FMD_EINVAL;
        goto out;
    }
    for (i = 0; i < (int)n; i++)
        v->ptrs[i] = v->text.p + v->off[i];
out:
    return rc;
}

/* ---- tensors ---- */

struct tensor {
    char name[64];
    uint64_t dims[2];
    int n_dims;
    enum ai_gguf_tensor_type type;
    int is_norm;
};

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

enum { D_E, D_KV, D_FF };    /* a dimension: n_embd, the k/v width, n_ff */

static uint64_t dim_of(const struct ai_model_spec *s, int d)
{
    return d == D_E ? s->n_embd : d == D_KV ? (uint64_t)s->n_embd / s->n_head * s->n_head_kv
                                            : s->n_ff;
}

static void set_tensor(struct tensor *x, const char *name, int n_dims, uint64_t d0, uint64_t d1,
                       enum ai_gguf_tensor_type type)
{
    snprintf(x->name, sizeof(x->name), "%s", name);
    x->n_dims = n_dims;
    x->dims[0] = d0;
    x->dims[1] = n_dims > 1 ? d1 : 1;
    x->type = type;
    x->is_norm = n_dims == 1;
}

/* The model's tensors in file order: 3 + 9 * n_layer of them. */
static size_t list_tensors(const struct ai_model_spec *s, struct tensor *t)
{
    static const struct { const char *name; int n_dims, d0, d1; } blk[] = {
        { "attn_norm", 1, D_E, 0 },   { "attn_q", 2, D_E, D_E },
        { "attn_k", 2, D_E, D_KV },   { "attn_v", 2, D_E, D_KV },
        { "attn_output", 2, D_E, D_E }, { "ffn_norm", 1, D_E, 0 },
        { "ffn_gate", 2, D_E, D_FF }, { "ffn_up", 2, D_E, D_FF },
        { "ffn_down", 2, D_FF, D_E },
    };
    char name[64];
    size_t n = 0, b;
    uint32_t l;

    set_tensor(&t[n++], "token_embd.weight", 2, s->n_embd, s->n_vocab, s->wtype);
    set_tensor(&t[n++], "output_norm.weight", 1, s->n_embd, 1, AI_GGUF_TENSOR_F32);
    set_tensor(&t[n++], "output.weight", 2, s->n_embd, s->n_vocab, s->wtype);
    for (l = 0; l < s->n_layer; l++) {
        for (b = 0; b < sizeof(blk) / sizeof(blk[0]); b++) {
            snprintf(name, sizeof(name), "blk.%u.%s.weight", l, blk[b].name);
            set_tensor(&t[n++], name, blk[b].n_dims, dim_of(s, blk[b].d0), dim_of(s, blk[b].d1),
                       blk[b].n_dims == 1 ? AI_GGUF_TENSOR_F32 : s->wtype);
        }
    }
    return n;
}

/* Makes and writes tensor number idx, CHUNK_ELEMS floats at a time. */
static int write_tensor(struct ai_gguf_writer *w, const struct tensor *t, size_t idx,
                        uint64_t seed, float *x, uint8_t *enc)
{
    uint64_t total = t->dims[0] * t->dims[1], done = 0;
    uint64_t st = seed ^ (0x9e3779b97f4a7c15ull * (idx + 1));
    int rc = 0;
    splitmix64(&st);
    while (done < total && !rc) {
        size_t n = total - done < CHUNK_ELEMS ? (size_t)(total - done) : CHUNK_ELEMS, i;
        if (t->is_norm) {
            for (i = 0; i < n; i++)
                x[i] = 1.0f;
        } else {
            for (i = 0; i + 1 < n; i += 2) {
                uint64_t r = splitmix64(&st);
                x[i] = ((float)(r >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * WEIGHT_RANGE;
                x[i + 1] = ((float)((r >> 8) & 0xffffff) * (1.0f / 16777216.0f) * 2.0f - 1.0f)
                           * WEIGHT_RANGE;
            }
            if (i < n)
                x[i] = ((float)(splitmix64(&st) >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f)
                       * WEIGHT_RANGE;
        }
        ai_gguf_encode(t->type, x, enc, n);
        rc = ai_gguf_writer_data(w, enc, (size_t)ai_gguf_tensor_nbytes(t->type, n));
        done += n;
    }
    return rc;
}

static int check_spec(const struct ai_model_spec *s)
{
    size_t be = ai_gguf_tensor_block_elems(s->wtype);
    if (!s->name || s->n_vocab < 400 || s->n_vocab > 1000000 || !s->n_embd || !s->n_layer ||
        s->n_layer > 1000 || !s->n_head || !s->n_head_kv || !s->n_ff || !s->n_ctx || !be)
        return FMD_EINVAL;
    if (s->n_embd % s->n_head || s->n_head % s->n_head_kv || s->n_embd % be || s->n_ff % be)
        return FMD_EINVAL;
    return 0;
}

static uint32_t file_type(enum ai_gguf_tensor_type t)
{
    /* llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q4_0 2, MOSTLY_Q8_0 7 */
    switch (t) {
    case AI_GGUF_TENSOR_F32: return 0;
    case AI_GGUF_TENSOR_F16: return 1;
    case AI_GGUF_TENSOR_Q4_0: return 2;
    case AI_GGUF_TENSOR_Q8_0: return 7;
    }
    return 0;
}

static void add_metadata(struct ai_gguf_writer *w, const struct ai_model_spec *s,
                         const struct vocab *v)
{
    char name[64];
    snprintf(name, sizeof(name), "formd-%s", s->name);
    ai_gguf_add_str(w, "general.architecture", "llama");
    ai_gguf_add_str(w, "general.name", name);
    ai_gguf_add_u32(w, "general.file_type", file_type(s->wtype));
    ai_gguf_add_u32(w, "general.quantization_version", 2);
    ai_gguf_add_u32(w, "llama.vocab_size", s->n_vocab);
    ai_gguf_add_u32(w, "llama.context_length", s->n_ctx);
    ai_gguf_add_u32(w, "llama.embedding_length", s->n_embd);
    ai_gguf_add_u32(w, "llama.block_count", s->n_layer);
    ai_gguf_add_u32(w, "llama.feed_forward_length", s->n_ff);
    ai_gguf_add_u32(w, "llama.rope.dimension_count", s->n_embd / s->n_head);
    ai_gguf_add_f32(w, "llama.rope.freq_base", s->rope_base);
    ai_gguf_add_u32(w, "llama.attention.head_count", s->n_head);
    ai_gguf_add_u32(w, "llama.attention.head_count_kv", s->n_head_kv);
    ai_gguf_add_f32(w, "llama.attention.layer_norm_rms_epsilon", s->rms_eps);
    ai_gguf_add_str(w, "tokenizer.ggml.model", "llama");
    ai_gguf_add_arr_str(w, "tokenizer.ggml.tokens", v->ptrs, v->n);
    ai_gguf_add_arr_f32(w, "tokenizer.ggml.scores", v->scores, v->n);
    ai_gguf_add_arr_i32(w, "tokenizer.ggml.token_type", v->types, v->n);
    ai_gguf_add_u32(w, "tokenizer.ggml.bos_token_id", 1);
    ai_gguf_add_u32(w, "tokenizer.ggml.eos_token_id", 2);
    ai_gguf_add_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    ai_gguf_add_bool(w, "tokenizer.ggml.add_bos_token", 1);
    ai_gguf_add_bool(w, "tokenizer.ggml.add_eos_token", 0);
}

int ai_mkmodel_ex(const char *path, const struct ai_model_spec *spec, uint64_t seed,
                  ai_mkmodel_progress_fn progress, void *ud, struct fmd_err *err)
{
    struct ai_gguf_writer *w = NULL;
    struct vocab v;
    struct tensor *t = NULL;
    float *x = NULL;
    uint8_t *enc = NULL;
    size_t n = 0, i;
    int rc;

    memset(&v, 0, sizeof(v));
    if (!spec || check_spec(spec)) {
        rc = fmd_errf(err, FMD_EINVAL, "model shape '%s' is not one llama.cpp can load",
                      spec && spec->name ? spec->name : "");
        goto out;
    }
    rc = build_vocab(&v, spec->n_vocab);
    if (rc) {
        rc = fmd_errf(err, rc, rc == FMD_ENOMEM ? "out of memory making the vocabulary of '%s'"
                                                : "cannot make a vocabulary for '%s'", path);
        goto out;
    }
    t = fmd_calloc(3 + (size_t)9 * spec->n_layer, sizeof(*t));
    x = fmd_malloc(CHUNK_ELEMS * sizeof(*x));
    enc = fmd_malloc(CHUNK_ELEMS * sizeof(float));
    if (!t || !x || !enc) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory writing '%s'", path);
        goto out;
    }
    rc = ai_gguf_writer_new(&w, path, err);
    if (rc)
        goto out;
    ai_gguf_writer_set_progress(w, progress, ud);
    add_metadata(w, spec, &v);
    n = list_tensors(spec, t);
    for (i = 0; i < n; i++)
        ai_gguf_add_tensor(w, t[i].name, t[i].n_dims, t[i].dims, t[i].type);
    rc = ai_gguf_writer_begin(w, err);
    vocab_release(&v);               /* in the header now */
    for (i = 0; i < n && !rc; i++)
        rc = write_tensor(w, &t[i], i, seed, x, enc);
    rc = ai_gguf_writer_finish(w, err);
out:
    ai_gguf_writer_free(w);
    vocab_release(&v);
    fmd_free(t);
    fmd_free(x);
    fmd_free(enc);
    return rc;
}

int ai_mkmodel(const char *path, const char *preset, uint64_t seed, struct fmd_err *err)
{
    const struct ai_model_spec *s = ai_model_preset(preset);
    if (!s)
        return fmd_errf(err, FMD_EINVAL, "unknown model preset '%s' (tiny, 1b or 7b)",
                        preset ? preset : "");
    return ai_mkmodel_ex(path, s, seed, NULL, NULL, err);
}
