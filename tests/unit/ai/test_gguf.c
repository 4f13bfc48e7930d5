/*
 * test_gguf.c - the GGUF writer and the random-weight model maker.
 *
 * A small GGUF reader here (independent of the writer's code) reads the tiny
 * model back: header, every key-value pair, tensor infos, offsets and
 * alignment, the file's size, and some tensor data. Then the failure cases:
 * an unknown preset, unwritable places, a full disk and failed allocations
 * each leave nothing on disk. When llama.cpp's headers and library are in
 * the build, llama.cpp itself loads the tiny model in each weight type,
 * tokenizes, decodes, and generates under a JSON grammar.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ai/gguf.h"
#include "ai/mkmodel.h"
#include "core/mem.h"

#if defined(__has_include)
#if __has_include("llama.h")
#include "llama.h"
#define HAVE_LLAMA 1
#endif
#endif

static char tmp[256];                /* this run's directory */

/* ---- fixture ---- */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int group_setup(void **state)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmp, sizeof(tmp), "%s/formd-gguf-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmp) ? 0 : -1;
}

static int group_teardown(void **state)
{
    return nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmp, name);
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static uint8_t *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    uint8_t *b;
    long sz = file_size(p);
    assert_non_null(f);
    assert_true(sz > 0);
    b = malloc((size_t)sz);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

/* ---- a small GGUF reader, written from the spec, not from gguf.c ---- */

#define MAX_KV 64
#define MAX_T 64

struct rkv {
    char key[128];
    uint32_t type;           /* value type; for arrays the element type is atype */
    uint32_t atype;
    uint64_t n;              /* array length */
    size_t at;               /* offset of the value (of the first element) */
};

struct rtensor {
    char name[64];
    uint32_t n_dims;
    uint64_t dims[4];
    uint32_t type;
    uint64_t offset;
};

struct rfile {
    const uint8_t *b;
    size_t len, pos;
    uint32_t version;
    uint64_t n_tensors, n_kv;
    struct rkv kv[MAX_KV];
    struct rtensor t[MAX_T];
    size_t data;             /* where tensor data starts */
};

static uint64_t rd(struct rfile *f, int bytes)
{
    uint64_t v = 0;
    int i;
    assert_true(f->pos + (size_t)bytes <= f->len);
    for (i = 0; i < bytes; i++)
        v |= (uint64_t)f->b[f->pos + (size_t)i] << (8 * i);
    f->pos += (size_t)bytes;
    return v;
}

/* A string into out (cap bytes); returns its length. */
static size_t rd_str(struct rfile *f, char *out, size_t cap)
{
    uint64_t n = rd(f, 8);
    assert_true(f->pos + n <= f->len);
    if (out) {
        assert_true(n < cap);
        memcpy(out, f->b + f->pos, n);
        out[n] = 0;
    }
    f->pos += n;
    return (size_t)n;
}

static size_t type_size(uint32_t t)
{
    static const size_t sz[] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
    assert_true(t <= 12);
    return sz[t];
}

static void skip_value(struct rfile *f, uint32_t t)
{
    if (t == AI_GGUF_TYPE_STRING)
        rd_str(f, NULL, 0);
    else
        f->pos += type_size(t);
    assert_true(f->pos <= f->len);
}

static void parse(struct rfile *f, const uint8_t *b, size_t len)
{
    uint64_t i, j, align = 32;
    memset(f, 0, sizeof(*f));
    f->b = b;
    f->len = len;
    assert_true(len >= 24);
    assert_memory_equal(b, "GGUF", 4);
    f->pos = 4;
    f->version = (uint32_t)rd(f, 4);
    f->n_tensors = rd(f, 8);
    f->n_kv = rd(f, 8);
    assert_true(f->n_kv <= MAX_KV);
    assert_true(f->n_tensors <= MAX_T);
    for (i = 0; i < f->n_kv; i++) {
        struct rkv *kv = &f->kv[i];
        rd_str(f, kv->key, sizeof(kv->key));
        kv->type = (uint32_t)rd(f, 4);
        if (kv->type == AI_GGUF_TYPE_ARRAY) {
            kv->atype = (uint32_t)rd(f, 4);
            kv->n = rd(f, 8);
            kv->at = f->pos;
            for (j = 0; j < kv->n; j++)
                skip_value(f, kv->atype);
        } else {
            kv->at = f->pos;
            skip_value(f, kv->type);
        }
        if (!strcmp(kv->key, "general.alignment")) {
            assert_int_equal(kv->type, AI_GGUF_TYPE_UINT32);
            align = b[kv->at] | (uint32_t)b[kv->at + 1] << 8;
        }
    }
    for (i = 0; i < f->n_tensors; i++) {
        struct rtensor *t = &f->t[i];
        rd_str(f, t->name, sizeof(t->name));
        t->n_dims = (uint32_t)rd(f, 4);
        assert_true(t->n_dims >= 1 && t->n_dims <= 4);
        for (j = 0; j < t->n_dims; j++)
            t->dims[j] = rd(f, 8);
        t->type = (uint32_t)rd(f, 4);
        t->offset = rd(f, 8);
        assert_int_equal(t->offset % align, 0);
    }
    f->data = (f->pos + align - 1) / align * align;
    for (i = f->pos; i < f->data; i++)
        assert_int_equal(b[i], 0);               /* padding is zeros */
}

static const struct rkv *find_kv(const struct rfile *f, const char *key)
{
    uint64_t i;
    for (i = 0; i < f->n_kv; i++)
        if (!strcmp(f->kv[i].key, key))
            return &f->kv[i];
    fail_msg("key '%s' missing", key);
    return NULL;
}

static uint32_t kv_u32(const struct rfile *f, const char *key)
{
    const struct rkv *kv = find_kv(f, key);
    assert_int_equal(kv->type, AI_GGUF_TYPE_UINT32);
    return (uint32_t)(f->b[kv->at] | f->b[kv->at + 1] << 8 | f->b[kv->at + 2] << 16 |
                      (uint32_t)f->b[kv->at + 3] << 24);
}

static float kv_f32(const struct rfile *f, const char *key)
{
    const struct rkv *kv = find_kv(f, key);
    float v;
    assert_int_equal(kv->type, AI_GGUF_TYPE_FLOAT32);
    memcpy(&v, f->b + kv->at, 4);
    return v;
}

/* The string value of key, or element i of a string array. */
static void kv_str(const struct rfile *f, const char *key, uint64_t i, char *out, size_t cap)
{
    const struct rkv *kv = find_kv(f, key);
    struct rfile c = *f;
    uint64_t k;
    if (kv->type == AI_GGUF_TYPE_ARRAY) {
        assert_int_equal(kv->atype, AI_GGUF_TYPE_STRING);
        assert_true(i < kv->n);
    } else {
        assert_int_equal(kv->type, AI_GGUF_TYPE_STRING);
        i = 0;
    }
    c.pos = kv->at;
    for (k = 0; k < i; k++)
        rd_str(&c, NULL, 0);
    rd_str(&c, out, cap);
}

static const struct rtensor *find_t(const struct rfile *f, const char *name)
{
    uint64_t i;
    for (i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->t[i].name, name))
            return &f->t[i];
    fail_msg("tensor '%s' missing", name);
    return NULL;
}

static uint64_t t_bytes(const struct rtensor *t)
{
    uint64_t n = 1;
    uint32_t j;
    for (j = 0; j < t->n_dims; j++)
        n *= t->dims[j];
    switch (t->type) {
    case 0: return n * 4;
    case 1: return n * 2;
    case 2: return n / 32 * 18;
    case 8: return n / 32 * 34;
    }
    fail_msg("tensor '%s' has type %u", t->name, t->type);
    return 0;
}

/* ---- cases ---- */

static void fp16_rounds_like_ggml(void **state)
{
    assert_int_equal(ai_gguf_fp32_to_fp16(0.0f), 0x0000);
    assert_int_equal(ai_gguf_fp32_to_fp16(-0.0f), 0x8000);
    assert_int_equal(ai_gguf_fp32_to_fp16(1.0f), 0x3c00);
    assert_int_equal(ai_gguf_fp32_to_fp16(-2.0f), 0xc000);
    assert_int_equal(ai_gguf_fp32_to_fp16(0.1f), 0x2e66);
    assert_int_equal(ai_gguf_fp32_to_fp16(65504.0f), 0x7bff);
    assert_int_equal(ai_gguf_fp32_to_fp16(65519.0f), 0x7bff);
    assert_int_equal(ai_gguf_fp32_to_fp16(65520.0f), 0x7c00);   /* ties to even: inf */
    assert_int_equal(ai_gguf_fp32_to_fp16(INFINITY), 0x7c00);
    assert_int_equal(ai_gguf_fp32_to_fp16(NAN) & 0x7e00, 0x7e00);
    assert_int_equal(ai_gguf_fp32_to_fp16(ldexpf(1.0f, -24)), 0x0001);   /* smallest subnormal */
    assert_int_equal(ai_gguf_fp32_to_fp16(ldexpf(1.0f, -25)), 0x0000);   /* tie: to even 0 */
    assert_int_equal(ai_gguf_fp32_to_fp16(ldexpf(3.0f, -25)), 0x0002);   /* tie: to even 2 */
    assert_int_equal(ai_gguf_fp32_to_fp16(ldexpf(1.0f, -14)), 0x0400);   /* smallest normal */
    assert_int_equal(ai_gguf_fp32_to_fp16(1.0f + ldexpf(1.0f, -11)), 0x3c00);   /* tie down */
    assert_int_equal(ai_gguf_fp32_to_fp16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02); /* tie up */
    assert_true(ai_gguf_fp16_to_fp32(0x3c00) == 1.0f);
    assert_true(ai_gguf_fp16_to_fp32(0x0001) == ldexpf(1.0f, -24));
    assert_true(ai_gguf_fp16_to_fp32(0xc000) == -2.0f);
    assert_true(isinf(ai_gguf_fp16_to_fp32(0x7c00)));
}

static void quantisers_round_trip(void **state)
{
    float x[64], back;
    uint8_t q8[2 * 34], q4[2 * 18];
    uint16_t dh;
    int i, k;
    for (i = 0; i < 64; i++)
        x[i] = sinf((float)i * 0.7f) * (i < 32 ? 0.02f : 3.0f);
    x[40] = -3.5f;                            /* the largest magnitude of block 2 */
    ai_gguf_encode(AI_GGUF_TENSOR_Q8_0, x, q8, 64);
    ai_gguf_encode(AI_GGUF_TENSOR_Q4_0, x, q4, 64);
    for (k = 0; k < 2; k++) {
        float amax = 0.0f, d8, d4;
        for (i = 0; i < 32; i++)
            amax = fmaxf(amax, fabsf(x[32 * k + i]));
        memcpy(&dh, q8 + 34 * k, 2);
        d8 = ai_gguf_fp16_to_fp32(dh);
        assert_true(fabsf(d8 - amax / 127.0f) <= amax / 127.0f * 1e-3f);
        memcpy(&dh, q4 + 18 * k, 2);
        d4 = ai_gguf_fp16_to_fp32(dh);
        for (i = 0; i < 32; i++) {
            float v = x[32 * k + i];
            int q = (int8_t)q8[34 * k + 2 + i];
            int n4 = i < 16 ? q4[18 * k + 2 + i] & 15 : q4[18 * k + 2 + i - 16] >> 4;
            assert_true(q >= -127 && q <= 127);
            back = (float)q * d8;
            assert_true(fabsf(back - v) <= d8 * 0.51f + fabsf(v) * 1e-3f);   /* d is f16 */
            back = (float)(n4 - 8) * d4;
            /* nibble 15 is the top: +8d clips to 7d */
            assert_true(fabsf(back - v) <=
                        fabsf(d4) * (n4 == 15 ? 1.01f : 0.51f) + fabsf(v) * 1e-3f);
        }
    }
    /* Q4_0 scales by the signed extreme: -3.5 maps to nibble 0 (-8 * d, d = 3.5 / 8) */
    memcpy(&dh, q4 + 18, 2);
    assert_true(fabsf(ai_gguf_fp16_to_fp32(dh) - 3.5f / 8.0f) < 1e-3f);
    assert_int_equal(q4[18 + 2 + 8] & 15, 0);
    /* an all-zero block: zero scale, zero quants (Q4_0 zero is nibble 8) */
    memset(x, 0, sizeof(x));
    ai_gguf_encode(AI_GGUF_TENSOR_Q8_0, x, q8, 32);
    ai_gguf_encode(AI_GGUF_TENSOR_Q4_0, x, q4, 32);
    for (i = 0; i < 34; i++)
        assert_int_equal(q8[i], 0);
    assert_int_equal(q4[0] | q4[1], 0x80);      /* d = 0 / -8 = -0.0, as in ggml */
    for (i = 2; i < 18; i++)
        assert_int_equal(q4[i], 0x88);
}

struct progress {
    uint64_t last, total;
    int calls, backwards;
};

static void on_progress(uint64_t done, uint64_t total, void *ud)
{
    struct progress *p = ud;
    if (done < p->last || (p->total && total != p->total))
        p->backwards = 1;
    p->last = done;
    p->total = total;
    p->calls++;
}

/* Reads back a model of spec: every check on layout and contents. */
static void check_model(const char *file, const struct ai_model_spec *s)
{
    static const char *const blk[] = { "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                       "ffn_norm", "ffn_gate", "ffn_up", "ffn_down" };
    struct rfile *f = malloc(sizeof(*f));
    size_t len, i, j;
    uint8_t *b = slurp(file, &len);
    uint64_t expect_off = 0, kvw = s->n_embd / s->n_head * s->n_head_kv;
    char str[256], name[64];
    const struct rkv *kv;
    const struct rtensor *t;
    uint32_t l;

    assert_non_null(f);
    parse(f, b, len);
    assert_int_equal(f->version, 3);
    assert_int_equal(f->n_tensors, 3 + 9 * s->n_layer);
    kv_str(f, "general.architecture", 0, str, sizeof(str));
    assert_string_equal(str, "llama");
    kv_str(f, "general.name", 0, str, sizeof(str));
    assert_true(strstr(str, s->name) != NULL);
    assert_int_equal(kv_u32(f, "general.alignment"), 32);
    assert_int_equal(kv_u32(f, "llama.context_length"), s->n_ctx);
    assert_int_equal(kv_u32(f, "llama.embedding_length"), s->n_embd);
    assert_int_equal(kv_u32(f, "llama.block_count"), s->n_layer);
    assert_int_equal(kv_u32(f, "llama.feed_forward_length"), s->n_ff);
    assert_int_equal(kv_u32(f, "llama.attention.head_count"), s->n_head);
    assert_int_equal(kv_u32(f, "llama.attention.head_count_kv"), s->n_head_kv);
    assert_int_equal(kv_u32(f, "llama.rope.dimension_count"), s->n_embd / s->n_head);
    assert_int_equal(kv_u32(f, "llama.vocab_size"), s->n_vocab);
    assert_true(fabsf(kv_f32(f, "llama.attention.layer_norm_rms_epsilon") - 1e-5f) < 1e-9f);
    assert_true(kv_f32(f, "llama.rope.freq_base") == 10000.0f);
    kv_str(f, "tokenizer.ggml.model", 0, str, sizeof(str));
    assert_string_equal(str, "llama");
    assert_int_equal(kv_u32(f, "tokenizer.ggml.bos_token_id"), 1);
    assert_int_equal(kv_u32(f, "tokenizer.ggml.eos_token_id"), 2);
    assert_int_equal(kv_u32(f, "tokenizer.ggml.unknown_token_id"), 0);
    kv = find_kv(f, "tokenizer.ggml.add_bos_token");
    assert_int_equal(kv->type, AI_GGUF_TYPE_BOOL);
    assert_int_equal(b[kv->at], 1);

    /* the vocabulary: specials, all 256 bytes, unique pieces, matching arrays */
    kv = find_kv(f, "tokenizer.ggml.tokens");
    assert_int_equal(kv->atype, AI_GGUF_TYPE_STRING);
    assert_int_equal(kv->n, s->n_vocab);
    kv = find_kv(f, "tokenizer.ggml.scores");
    assert_int_equal(kv->atype, AI_GGUF_TYPE_FLOAT32);
    assert_int_equal(kv->n, s->n_vocab);
    kv = find_kv(f, "tokenizer.ggml.token_type");
    assert_int_equal(kv->atype, AI_GGUF_TYPE_INT32);
    assert_int_equal(kv->n, s->n_vocab);
    assert_int_equal(b[kv->at], 2);                 /* <unk>: UNKNOWN */
    assert_int_equal(b[kv->at + 4], 3);             /* <s>: CONTROL */
    assert_int_equal(b[kv->at + 4 * 3], 6);         /* <0x00>: BYTE */
    assert_int_equal(b[kv->at + 4 * 300], 1);       /* NORMAL */
    kv_str(f, "tokenizer.ggml.tokens", 0, str, sizeof(str));
    assert_string_equal(str, "<unk>");
    kv_str(f, "tokenizer.ggml.tokens", 1, str, sizeof(str));
    assert_string_equal(str, "<s>");
    kv_str(f, "tokenizer.ggml.tokens", 2, str, sizeof(str));
    assert_string_equal(str, "</s>");
    for (i = 0; i < 256; i++) {
        char want[8];
        snprintf(want, sizeof(want), "<0x%02zX>", i);
        kv_str(f, "tokenizer.ggml.tokens", 3 + i, str, sizeof(str));
        assert_string_equal(str, want);
    }
    if (s->n_vocab <= 1024) {
        char (*all)[32] = calloc(s->n_vocab, 32);
        assert_non_null(all);
        for (i = 0; i < s->n_vocab; i++) {
            kv_str(f, "tokenizer.ggml.tokens", i, all[i], 32);
            assert_true(all[i][0] != 0);
            for (j = 0; j < i; j++)
                if (!strcmp(all[i], all[j]))
                    fail_msg("token '%s' at %zu and %zu", all[i], j, i);
        }
        free(all);
    }

    /* tensors: names and shapes, packed at aligned offsets in file order */
    for (i = 0; i < f->n_tensors; i++) {
        assert_int_equal(f->t[i].offset, expect_off);
        expect_off += (t_bytes(&f->t[i]) + 31) / 32 * 32;
    }
    assert_int_equal(len, f->data + expect_off);
    t = find_t(f, "token_embd.weight");
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->dims[0], s->n_embd);
    assert_int_equal(t->dims[1], s->n_vocab);
    assert_int_equal(t->type, s->wtype);
    t = find_t(f, "output.weight");
    assert_int_equal(t->dims[1], s->n_vocab);
    t = find_t(f, "output_norm.weight");
    assert_int_equal(t->n_dims, 1);
    assert_int_equal(t->type, AI_GGUF_TENSOR_F32);
    for (i = 0; i < s->n_embd; i++) {              /* norms are 1.0 */
        float v;
        memcpy(&v, b + f->data + t->offset + 4 * i, 4);
        assert_true(v == 1.0f);
    }
    for (l = 0; l < s->n_layer; l++) {
        for (i = 0; i < 9; i++) {
            snprintf(name, sizeof(name), "blk.%u.%s.weight", l, blk[i]);
            t = find_t(f, name);
            if (strstr(blk[i], "norm")) {
                assert_int_equal(t->type, AI_GGUF_TENSOR_F32);
                assert_int_equal(t->n_dims, 1);
                continue;
            }
            assert_int_equal(t->type, s->wtype);
            assert_int_equal(t->n_dims, 2);
            assert_int_equal(t->dims[0], !strcmp(blk[i], "ffn_down") ? s->n_ff : s->n_embd);
            assert_int_equal(t->dims[1], !strcmp(blk[i], "attn_k") || !strcmp(blk[i], "attn_v")
                                             ? kvw
                                             : !strcmp(blk[i], "ffn_gate") ||
                                                       !strcmp(blk[i], "ffn_up")
                                                   ? s->n_ff
                                                   : s->n_embd);
        }
    }
    /* weights: small, not all equal */
    t = find_t(f, "blk.0.attn_q.weight");
    if (t->type == AI_GGUF_TENSOR_F16) {
        float mn = 1, mx = -1;
        for (i = 0; i < 1000; i++) {
            uint16_t h;
            float v;
            memcpy(&h, b + f->data + t->offset + 2 * i, 2);
            v = ai_gguf_fp16_to_fp32(h);
            mn = fminf(mn, v);
            mx = fmaxf(mx, v);
        }
        assert_true(mn >= -0.0201f && mx <= 0.0201f && mx - mn > 0.03f);
    }
    free(f);
    free(b);
}

static void tiny_model_reads_back(void **state)
{
    const struct ai_model_spec *s = ai_model_preset("tiny");
    struct fmd_err err = {0};
    struct progress p = {0};
    char file[PATH_MAX], tmpf[PATH_MAX + 8];
    int rc;

    assert_non_null(s);
    path_in(file, sizeof(file), "tiny.gguf");
    rc = ai_mkmodel(file, "tiny", 42, &err);
    if (rc)
        fail_msg("ai_mkmodel: %d %s", rc, err.msg);
    snprintf(tmpf, sizeof(tmpf), "%s.tmp", file);
    assert_false(exists(tmpf));
    check_model(file, s);
    printf("     tiny: %lu bytes, %lu parameters\n", (unsigned long)file_size(file),
           (unsigned long)ai_model_params(s));

    /* the progress callback climbs to the file's size */
    path_in(file, sizeof(file), "tiny-progress.gguf");
    assert_int_equal(ai_mkmodel_ex(file, s, 42, on_progress, &p, &err), 0);
    assert_true(p.calls > 10);
    assert_false(p.backwards);
    assert_int_equal(p.last, p.total);
    assert_int_equal(p.total, (uint64_t)file_size(file));
}

static void quantised_variants_read_back(void **state)
{
    struct ai_model_spec s = *ai_model_preset("tiny");
    enum ai_gguf_tensor_type types[] = { AI_GGUF_TENSOR_Q8_0, AI_GGUF_TENSOR_Q4_0,
                                         AI_GGUF_TENSOR_F32 };
    struct fmd_err err = {0};
    char file[PATH_MAX];
    size_t i;
    for (i = 0; i < 3; i++) {
        s.wtype = types[i];
        path_in(file, sizeof(file), ai_gguf_tensor_type_name(types[i]));
        assert_int_equal(ai_mkmodel_ex(file, &s, 7, NULL, NULL, &err), 0);
        check_model(file, &s);
    }
    /* a row that is not whole blocks is refused before anything is written */
    s.wtype = AI_GGUF_TENSOR_Q8_0;
    s.n_ff = 200;
    path_in(file, sizeof(file), "bad-shape.gguf");
    assert_int_equal(ai_mkmodel_ex(file, &s, 7, NULL, NULL, &err), FMD_EINVAL);
    assert_false(exists(file));
}

static void same_seed_same_bytes(void **state)
{
    struct fmd_err err = {0};
    char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
    uint8_t *da, *db, *dc;
    size_t na, nb, nc;
    path_in(a, sizeof(a), "seed-a.gguf");
    path_in(b, sizeof(b), "seed-b.gguf");
    path_in(c, sizeof(c), "seed-c.gguf");
    assert_int_equal(ai_mkmodel(a, "tiny", 1234, &err), 0);
    assert_int_equal(ai_mkmodel(b, "tiny", 1234, &err), 0);
    assert_int_equal(ai_mkmodel(c, "tiny", 1235, &err), 0);
    da = slurp(a, &na);
    db = slurp(b, &nb);
    dc = slurp(c, &nc);
    assert_int_equal(na, nb);
    assert_memory_equal(da, db, na);
    assert_int_equal(na, nc);                     /* same layout, other weights */
    assert_memory_not_equal(da, dc, na);
    free(da);
    free(db);
    free(dc);
}

static void bad_preset_is_einval(void **state)
{
    struct fmd_err err = {0};
    char file[PATH_MAX];
    path_in(file, sizeof(file), "bad.gguf");
    assert_int_equal(ai_mkmodel(file, "13b", 1, &err), FMD_EINVAL);
    assert_int_equal(err.code, FMD_EINVAL);
    assert_non_null(strstr(err.msg, "'13b'"));
    assert_int_equal(ai_mkmodel(file, NULL, 1, &err), FMD_EINVAL);
    assert_int_equal(ai_mkmodel(file, "", 1, &err), FMD_EINVAL);
    assert_false(exists(file));
    assert_null(ai_model_preset("TINY"));
    assert_non_null(ai_model_preset("1b"));
    assert_non_null(ai_model_preset("7b"));
}

static void presets_have_the_advertised_size(void **state)
{
    const struct ai_model_spec *b1 = ai_model_preset("1b"), *b7 = ai_model_preset("7b");
    uint64_t p1 = ai_model_params(b1), p7 = ai_model_params(b7);
    printf("     1b: %llu parameters, %s; 7b: %llu parameters, %s\n", (unsigned long long)p1,
           ai_gguf_tensor_type_name(b1->wtype), (unsigned long long)p7,
           ai_gguf_tensor_type_name(b7->wtype));
    assert_true(p1 > 1000000000ull && p1 < 1200000000ull);    /* TinyLlama: 1.1B */
    assert_true(p7 > 7100000000ull && p7 < 7400000000ull);    /* Mistral 7B: 7.24B */
}

static void unwritable_places_are_eio(void **state)
{
    struct fmd_err err = {0};
    char file[PATH_MAX], tmpf[PATH_MAX + 8];

    /* no such directory */
    path_in(file, sizeof(file), "no/such/dir/m.gguf");
    assert_int_equal(ai_mkmodel(file, "tiny", 1, &err), FMD_EIO);
    assert_int_equal(err.code, FMD_EIO);
    assert_non_null(strstr(err.msg, "no/such/dir/m.gguf"));

    /* the target is a directory: everything is written, the rename fails */
    path_in(file, sizeof(file), "is-a-dir.gguf");
    assert_int_equal(mkdir(file, 0755), 0);
    memset(&err, 0, sizeof(err));
    assert_int_equal(ai_mkmodel(file, "tiny", 1, &err), FMD_EIO);
    assert_non_null(strstr(err.msg, "is-a-dir.gguf"));
    snprintf(tmpf, sizeof(tmpf), "%s.tmp", file);
    assert_false(exists(tmpf));
    assert_int_equal(rmdir(file), 0);
}

static void full_disk_is_eio_and_leaves_nothing(void **state)
{
    struct rlimit old, lim = { .rlim_cur = 100 * 1024 };
    struct fmd_err err = {0};
    char file[PATH_MAX], tmpf[PATH_MAX + 8];
    int rc;

    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim.rlim_max = old.rlim_max;
    path_in(file, sizeof(file), "full.gguf");
    snprintf(tmpf, sizeof(tmpf), "%s.tmp", file);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    rc = ai_mkmodel(file, "tiny", 1, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(rc, FMD_EIO);
    assert_non_null(strstr(err.msg, "full.gguf.tmp"));
    assert_false(exists(file));
    assert_false(exists(tmpf));
}

static void survives_allocation_failure(void **state)
{
    struct fmd_err err;
    char file[PATH_MAX], tmpf[PATH_MAX + 8];
    long n;
    int rc;
    path_in(file, sizeof(file), "nomem.gguf");
    snprintf(tmpf, sizeof(tmpf), "%s.tmp", file);
    for (n = 1;; n++) {
        memset(&err, 0, sizeof(err));
        fmd_mem_fail_at(n);
        rc = ai_mkmodel(file, "tiny", 3, &err);
        fmd_mem_fail_at(0);
        assert_false(exists(tmpf));
        if (!rc)
            break;
        assert_int_equal(rc, FMD_ENOMEM);
        assert_int_equal(err.code, FMD_ENOMEM);
        assert_false(exists(file));
    }
    assert_true(n > 5);
    check_model(file, ai_model_preset("tiny"));
}

static void writer_refuses_misuse(void **state)
{
    struct ai_gguf_writer *w;
    struct fmd_err err = {0};
    char file[PATH_MAX], tmpf[PATH_MAX + 8];
    uint64_t dims[2] = { 32, 2 };
    float x[64] = {0};

    path_in(file, sizeof(file), "misuse.gguf");
    snprintf(tmpf, sizeof(tmpf), "%s.tmp", file);
    /* general.alignment is the writer's */
    assert_int_equal(ai_gguf_writer_new(&w, file, &err), 0);
    assert_int_equal(ai_gguf_add_u32(w, "general.alignment", 64), FMD_EINVAL);
    assert_int_equal(ai_gguf_add_str(w, "a", "b"), FMD_EINVAL);       /* sticky */
    assert_int_equal(ai_gguf_writer_begin(w, &err), FMD_EINVAL);
    assert_non_null(strstr(err.msg, "general.alignment"));
    ai_gguf_writer_free(w);
    assert_false(exists(tmpf));

    /* missing data: finish refuses and removes the file */
    assert_int_equal(ai_gguf_writer_new(&w, file, &err), 0);
    assert_int_equal(ai_gguf_add_tensor(w, "t", 2, dims, AI_GGUF_TENSOR_F32), 0);
    assert_int_equal(ai_gguf_add_tensor(w, "u", 1, dims, AI_GGUF_TENSOR_Q8_0), 0);
    assert_int_equal(ai_gguf_writer_begin(w, &err), 0);
    assert_int_equal(ai_gguf_writer_data(w, x, 100), 0);
    assert_int_equal(ai_gguf_writer_finish(w, &err), FMD_EINVAL);
    ai_gguf_writer_free(w);
    assert_false(exists(file));
    assert_false(exists(tmpf));

    /* too much data */
    assert_int_equal(ai_gguf_writer_new(&w, file, &err), 0);
    assert_int_equal(ai_gguf_add_tensor(w, "t", 1, dims, AI_GGUF_TENSOR_F32), 0);
    assert_int_equal(ai_gguf_writer_begin(w, &err), 0);
    assert_int_equal(ai_gguf_writer_data(w, x, 129), FMD_EINVAL);
    ai_gguf_writer_free(w);
    assert_false(exists(tmpf));

    /* a Q8_0 row of 33 is not whole blocks */
    assert_int_equal(ai_gguf_writer_new(&w, file, &err), 0);
    dims[0] = 33;
    assert_int_equal(ai_gguf_add_tensor(w, "t", 1, dims, AI_GGUF_TENSOR_Q8_0), FMD_EINVAL);
    ai_gguf_writer_free(w);
    assert_false(exists(tmpf));
}

static void writer_writes_every_value_type(void **state)
{
    static const char *const strs[] = { "x", "", "h\xc3\xa9llo" };
    const float fl[2] = { 1.5f, -2.0f };
    const int32_t in[3] = { -1, 0, 7 };
    uint64_t dims[1] = { 3 };
    float data[3] = { 1, 2, 3 };
    struct ai_gguf_writer *w;
    struct fmd_err err = {0};
    struct rfile *f = malloc(sizeof(*f));
    char file[PATH_MAX], str[64];
    const struct rkv *kv;
    uint8_t *b;
    size_t len;

    assert_non_null(f);
    path_in(file, sizeof(file), "types.gguf");
    assert_int_equal(ai_gguf_writer_new(&w, file, &err), 0);
    ai_gguf_add_str(w, "s", "v");
    ai_gguf_add_u32(w, "u", 4000000000u);
    ai_gguf_add_i32(w, "i", -5);
    ai_gguf_add_f32(w, "f", 0.25f);
    ai_gguf_add_bool(w, "b", 1);
    ai_gguf_add_arr_str(w, "as", strs, 3);
    ai_gguf_add_arr_f32(w, "af", fl, 2);
    ai_gguf_add_arr_i32(w, "ai", in, 3);
    ai_gguf_add_tensor(w, "t", 1, dims, AI_GGUF_TENSOR_F32);
    assert_int_equal(ai_gguf_writer_begin(w, &err), 0);
    assert_int_equal(ai_gguf_writer_data(w, data, 5), 0);           /* in pieces */
    assert_int_equal(ai_gguf_writer_data(w, (char *)data + 5, 7), 0);
    assert_int_equal(ai_gguf_writer_total(w) % 32, 0);
    assert_int_equal(ai_gguf_writer_finish(w, &err), 0);
    ai_gguf_writer_free(w);

    b = slurp(file, &len);
    parse(f, b, len);
    assert_int_equal(f->n_kv, 9);
    assert_int_equal(f->n_tensors, 1);
    kv_str(f, "s", 0, str, sizeof(str));
    assert_string_equal(str, "v");
    assert_int_equal(kv_u32(f, "u"), 4000000000u);
    kv = find_kv(f, "i");
    assert_int_equal(kv->type, AI_GGUF_TYPE_INT32);
    assert_int_equal(b[kv->at], 0xfb);
    assert_true(kv_f32(f, "f") == 0.25f);
    kv = find_kv(f, "b");
    assert_int_equal(kv->type, AI_GGUF_TYPE_BOOL);
    assert_int_equal(b[kv->at], 1);
    kv_str(f, "as", 2, str, sizeof(str));
    assert_string_equal(str, "h\xc3\xa9llo");
    kv_str(f, "as", 1, str, sizeof(str));
    assert_string_equal(str, "");
    kv = find_kv(f, "af");
    assert_int_equal(kv->atype, AI_GGUF_TYPE_FLOAT32);
    assert_int_equal(kv->n, 2);
    kv = find_kv(f, "ai");
    assert_int_equal(kv->atype, AI_GGUF_TYPE_INT32);
    assert_int_equal(kv->n, 3);
    assert_int_equal(b[kv->at + 8], 7);
    assert_int_equal(f->t[0].offset, 0);
    assert_memory_equal(b + f->data, data, 12);
    assert_int_equal(len, f->data + 32);
    free(b);
    free(f);
}

#ifdef HAVE_LLAMA
/* ---- llama.cpp loads and runs what mkmodel made ---- */

static void llama_quiet(enum ggml_log_level level, const char *text, void *ud)
{
    if (level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct llama_context *llama_ctx(struct llama_model *m)
{
    struct llama_context_params cp = llama_context_default_params();
    struct llama_context *ctx;
    cp.n_ctx = 512;
    cp.n_batch = 512;
    cp.n_threads = 1;
    cp.n_threads_batch = 1;
    ctx = llama_init_from_model(m, cp);
    assert_non_null(ctx);
    return ctx;
}

/* {"a": N} with 1 to 3 digits and nothing else */
static int is_small_json(const char *s)
{
    int d = 0;
    if (strncmp(s, "{\"a\": ", 6))
        return 0;
    for (s += 6; *s >= '0' && *s <= '9'; s++)
        d++;
    return d >= 1 && d <= 3 && !strcmp(s, "}");
}

/* Loads file, tokenizes and decodes a prompt, generates freely and under a
 * JSON grammar; returns the free generation's tokens per second. */
static double llama_run(const char *file, const struct ai_model_spec *s)
{
    static const char text[] = "{\"name\": \"Ada Lovelace\", \"age\": 36, \"ok\": true}\n"
                               "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x99\x82 \x01~";
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *m;
    const struct llama_vocab *vocab;
    struct llama_context *ctx;
    struct llama_sampler *smpl;
    llama_token toks[512], t;
    char out[1024];
    int n, i, k, len = 0, eog = 0;
    double t0, rate;
    float *logits;

    m = llama_model_load_from_file(file, mp);
    if (!m)
        fail_msg("llama.cpp cannot load '%s'", file);
    vocab = llama_model_get_vocab(m);
    assert_int_equal(llama_vocab_n_tokens(vocab), s->n_vocab);

    /* any text tokenizes (bytes fall back to <0xXX>) and comes back whole */
    n = llama_tokenize(vocab, text, (int)strlen(text), toks, 512, true, false);
    assert_true(n > 1);
    assert_int_equal(toks[0], 1);                          /* <s> */
    assert_true(n < (int)strlen(text));                    /* pieces merged */
    k = llama_detokenize(vocab, toks, n, out, (int)sizeof(out) - 1, true, false);
    assert_true(k > 0);
    out[k] = 0;
    assert_string_equal(out[0] == ' ' ? out + 1 : out, text);

    /* the prompt decodes, logits are numbers */
    ctx = llama_ctx(m);
    assert_int_equal(llama_decode(ctx, llama_batch_get_one(toks, n)), 0);
    logits = llama_get_logits_ith(ctx, -1);
    assert_non_null(logits);
    for (i = 0; i < (int)s->n_vocab; i++)
        assert_true(isfinite(logits[i]));

    /* free generation, one token at a time: the speed */
    smpl = llama_sampler_init_greedy();
    t0 = now_s();
    for (i = 0; i < 64; i++) {
        t = llama_sampler_sample(smpl, ctx, -1);
        assert_true(t >= 0 && t < (int)s->n_vocab);
        assert_int_equal(llama_decode(ctx, llama_batch_get_one(&t, 1)), 0);
    }
    rate = 64 / (now_s() - t0);
    llama_sampler_free(smpl);
    llama_free(ctx);

    /* under a grammar: random weights, still valid JSON */
    ctx = llama_ctx(m);
    n = llama_tokenize(vocab, "JSON:", 5, toks, 512, true, false);
    assert_int_equal(llama_decode(ctx, llama_batch_get_one(toks, n)), 0);
    smpl = llama_sampler_chain_init(llama_sampler_chain_default_params());
    llama_sampler_chain_add(smpl, llama_sampler_init_grammar(
                                      vocab, "root ::= \"{\\\"a\\\": \" [0-9] [0-9]? [0-9]? \"}\"",
                                      "root"));
    llama_sampler_chain_add(smpl, llama_sampler_init_greedy());
    for (i = 0; i < 32; i++) {
        t = llama_sampler_sample(smpl, ctx, -1);
        if (llama_vocab_is_eog(vocab, t)) {
            eog = 1;
            break;
        }
        k = llama_token_to_piece(vocab, t, out + len, (int)sizeof(out) - len - 1, 0, false);
        assert_true(k >= 0);
        len += k;
        assert_int_equal(llama_decode(ctx, llama_batch_get_one(&t, 1)), 0);
    }
    out[len] = 0;
    if (!eog || !is_small_json(out))
        fail_msg("grammar output '%s' (end of generation: %d)", out, eog);
    llama_sampler_free(smpl);
    llama_free(ctx);
    llama_model_free(m);
    return rate;
}

/* The encoders against ggml's own, on the same numbers: identical bytes. */
static void encoders_match_ggml(void **state)
{
    enum { N = 32 * 4096 };
    static const enum ai_gguf_tensor_type mine[] = { AI_GGUF_TENSOR_Q8_0, AI_GGUF_TENSOR_Q4_0 };
    static const enum ggml_type theirs[] = { GGML_TYPE_Q8_0, GGML_TYPE_Q4_0 };
    float *x = malloc(N * sizeof(float));
    uint8_t *a = malloc(N * 2), *b = malloc(N * 2);
    unsigned seed = 5;
    size_t i, k;
    assert_true(x && a && b);
    for (i = 0; i < N; i++) {
        /* small and large, subnormal halves, exact ties and zero blocks */
        float r = (float)rand_r(&seed) / (float)RAND_MAX * 2.0f - 1.0f;
        x[i] = i < 32 ? 0.0f : i < 4096 ? r * 1e-6f : i < 8192 ? ldexpf(roundf(r * 64), -20)
             : r * (float)(1 + i % 7) * 0.02f;
    }
    ai_gguf_encode(AI_GGUF_TENSOR_F16, x, a, N);
    ggml_fp32_to_fp16_row(x, (ggml_fp16_t *)b, N);
    assert_memory_equal(a, b, N * 2);
    for (k = 0; k < 2; k++) {
        size_t bytes = (size_t)ai_gguf_tensor_nbytes(mine[k], N);
        ai_gguf_encode(mine[k], x, a, N);
        assert_int_equal(ggml_quantize_chunk(theirs[k], x, b, 0, N / 1024, 1024, NULL), bytes);
        assert_memory_equal(a, b, bytes);
    }
    ggml_quantize_free();
    free(x);
    free(a);
    free(b);
}

static void llama_loads_and_runs(void **state)
{
    struct ai_model_spec s = *ai_model_preset("tiny");
    enum ai_gguf_tensor_type types[] = { AI_GGUF_TENSOR_F16, AI_GGUF_TENSOR_Q8_0,
                                         AI_GGUF_TENSOR_Q4_0, AI_GGUF_TENSOR_F32 };
    struct fmd_err err = {0};
    char file[PATH_MAX];
    double t0, ms;
    size_t i;

    llama_log_set(llama_quiet, NULL);
    llama_backend_init();
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        double rate;
        s.wtype = types[i];
        path_in(file, sizeof(file), "llama.gguf");
        t0 = now_s();
        assert_int_equal(ai_mkmodel_ex(file, &s, 99, NULL, NULL, &err), 0);
        ms = (now_s() - t0) * 1000;
        t0 = now_s();
        rate = llama_run(file, &s);
        printf("     tiny %s: written in %.1f ms, loaded and run in %.0f ms, "
               "%.0f tokens/s generated\n", ai_gguf_tensor_type_name(types[i]), ms,
               (now_s() - t0) * 1000, rate);
    }
    llama_backend_free();
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fp16_rounds_like_ggml),
        cmocka_unit_test(quantisers_round_trip),
        cmocka_unit_test(writer_writes_every_value_type),
        cmocka_unit_test(writer_refuses_misuse),
        cmocka_unit_test(tiny_model_reads_back),
        cmocka_unit_test(quantised_variants_read_back),
        cmocka_unit_test(same_seed_same_bytes),
        cmocka_unit_test(bad_preset_is_einval),
        cmocka_unit_test(presets_have_the_advertised_size),
        cmocka_unit_test(unwritable_places_are_eio),
        cmocka_unit_test(full_disk_is_eio_and_leaves_nothing),
        cmocka_unit_test(survives_allocation_failure),
#ifdef HAVE_LLAMA
        cmocka_unit_test(encoders_match_ggml),
        cmocka_unit_test(llama_loads_and_runs),
#endif
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
