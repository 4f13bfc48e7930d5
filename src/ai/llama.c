/*
 * llama.c - the in-process AI provider: llama.cpp running a GGUF model on the
 * CPU (provider.h; DESIGN.md sections 4 and 5).
 *
 * One model and one context per provider, shared by every thread: a call
 * holds the provider's mutex from tokenising to the last token, so calls run
 * one at a time, in the order the mutex grants them. A caller waiting for
 * the mutex spends its own timeout doing so (pthread_mutex_clocklock), since
 * limits.timeout_ms bounds the whole call.
 *
 * The KV cache (sequence 0) holds, after a call, the tokens of that call's
 * prefix, prompt and output, and m->kv lists them. The next call keeps the
 * longest run of leading tokens it shares with them and evaluates only the
 * rest (res->cached_tokens; res->prefix_reused when that covers its whole
 * prefix): a task's fixed instructions, or a conversation that grew by a
 * turn, are not read again. The prefix is tokenised with the model's BOS and
 * the prompt on its own after it, so a prompt reads the same tokens whether
 * its prefix came from the cache or not.
 *
 * What the model reads: a model whose GGUF carries a chat template gets
 * prefix and prompt as a system and a user message rendered with it (an
 * instruct model answers far better in the format it was tuned on), and a
 * conversation (req->messages) always goes through a template (the model's,
 * else ChatML). The rendered text is split where the last message's content
 * starts: what comes before is the prefix kept in the KV cache, so a
 * conversation that grows by one turn, or a task's fixed instructions, are
 * not read again. A model without a template reads prefix and prompt as
 * they are.
 *
 * Sampling is done here rather than by llama_sampler_sample: a token is
 * chosen (greedy, or temperature + seeded dist) and kept if the grammar
 * allows it, else the grammar is applied to the whole vocabulary and the
 * choice made again (choose()). A token whose bytes would make the text
 * invalid UTF-8 is refused and another chosen. When the grammar allows
 * nothing but end-of-generation, or nothing at all (a model without an EOG
 * token), the grammar is complete and the call stops; this keeps
 * llama.cpp's grammar from aborting on a token it does not allow.
 *
 * llama.cpp is linked statically, built for x86-64 with AVX2, FMA and F16C
 * (scripts/bootstrap); open checks the CPU first and answers FMD_EUNAVAIL on
 * one without them, so callers fall back to another provider.
 */
#include "ai/provider.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <llama.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/banned.h"

#define CTX_MAX         4096            /* tokens of context at most */
#define DEF_MAX_TOKENS  256
#define DEF_TIMEOUT_MS  60000L
#define OUT_MAX         (1u << 20)      /* bytes of output at most */

struct llama_impl {
    pthread_mutex_t lock;               /* held for the whole of a call */
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    int n_ctx;                          /* the context's tokens */
    int n_vocab;
    llama_token_data *cand;             /* n_vocab candidates, reused for each token */
    unsigned char *cont;                /* per token: its text starts with a UTF-8
                                           continuation byte (it can finish a character) */
    llama_token *kv;                    /* the tokens in the KV cache, in order (n_ctx) */
    int n_kv;
    const char *tmpl;                   /* the model's chat template, or NULL */
    uint64_t deadline_ns;               /* the current call's, for abort_cb */
    const struct ai_request *req;       /* the current call's, for its cancelled() */
    char id[256];                       /* model_id: "<file name>:<size in bytes>" */
};

static pthread_once_t backend_once = PTHREAD_ONCE_INIT;

/* llama.cpp and ggml log through here, into formd's log at debug level. */
static void log_cb(enum ggml_log_level level, const char *text, void *ud)
{
    size_t n;

    (void)ud;
    if (LOG_DEBUG < log_min_level || !text)
        return;
    n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    if (n > 0)
        log_debug("llama.cpp: %.*s", (int)n, text);
}

static void backend_init(void)
{
    llama_log_set(log_cb, NULL);
    llama_backend_init();
}

/* 1 once the current call has been cancelled by its caller. */
static int call_cancelled(const struct llama_impl *m)
{
    return m->req && m->req->cancelled && m->req->cancelled(m->req->cancelled_arg);
}

/* Makes llama_decode stop once the call's deadline has passed or it is cancelled. */
static bool abort_cb(void *data)
{
    const struct llama_impl *m = data;

    return clock_mono_ns() > m->deadline_ns || call_cancelled(m);
}

/* The error for a call that had to stop: cancelled, or out of time. */
static int stopped(const struct llama_impl *m, struct fmd_err *err)
{
    if (call_cancelled(m))
        return fmd_errf(err, FMD_ECANCELED, "the request was cancelled");
    return fmd_errf(err, FMD_ETIMEOUT, "model took longer than the time allowed");
}

/*
 * The instruction set libggml-cpu.a was compiled for (scripts/bootstrap)
 * against what this CPU has: NULL if it can run it, else the first missing
 * extension's name. Asked before anything calls into the library, so an older
 * CPU gets an error instead of SIGILL. The ggml_cpu_has_* functions only
 * return compile-time constants, safe to call on any CPU.
 */
static const char *cpu_missing(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (ggml_cpu_has_sse3() && !__builtin_cpu_supports("sse3"))
        return "sse3";
    if (ggml_cpu_has_ssse3() && !__builtin_cpu_supports("ssse3"))
        return "ssse3";
    if (ggml_cpu_has_avx() && !__builtin_cpu_supports("sse4.2"))
        return "sse4.2";
    if (ggml_cpu_has_avx() && !__builtin_cpu_supports("avx"))
        return "avx";
    if (ggml_cpu_has_avx2() && !__builtin_cpu_supports("avx2"))
        return "avx2";
    if (ggml_cpu_has_bmi2() && !__builtin_cpu_supports("bmi2"))
        return "bmi2";
    if (ggml_cpu_has_fma() && !__builtin_cpu_supports("fma"))
        return "fma";
    if (ggml_cpu_has_f16c() && !__builtin_cpu_supports("f16c"))
        return "f16c";
    if (ggml_cpu_has_avx512() && !__builtin_cpu_supports("avx512f"))
        return "avx512f";
#endif
    return NULL;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n > 0 ? (int)(n > 512 ? 512 : n) : 1;
}

static void impl_free(struct llama_impl *m)
{
    if (!m)
        return;
    if (m->ctx)
        llama_free(m->ctx);
    if (m->model)
        llama_model_free(m->model);
    fmd_free(m->cand);
    fmd_free(m->cont);
    fmd_free(m->kv);
    pthread_mutex_destroy(&m->lock);
    fmd_free(m);
}

/* Fills m->cont: which tokens' text starts with a UTF-8 continuation byte. */
static void mark_continuations(struct llama_impl *m)
{
    char piece[8];
    int i;

    for (i = 0; i < m->n_vocab; i++)
        m->cont[i] = llama_token_to_piece(m->vocab, i, piece, sizeof(piece), 0, false) > 0 &&
                     ((unsigned char)piece[0] & 0xC0) == 0x80;
}

static int llama_open(struct ai_provider *p, const char *config, int threads, struct fmd_err *err)
{
    struct llama_impl *m = NULL;
    struct llama_model_params mp;
    struct llama_context_params cp;
    struct stat st;
    const char *base, *missing;
    int n_train, rc = 0;

    p->impl = NULL;
    if (!config || !*config) {
        rc = fmd_errf(err, FMD_EINVAL, "no model file given");
        goto out;
    }
    if ((missing = cpu_missing())) {
        rc = fmd_errf(err, FMD_EUNAVAIL, "this cpu lacks '%s', which llama.cpp was built for",
                      missing);
        goto out;
    }
    if (stat(config, &st) != 0) {
        rc = fmd_errf(err, FMD_EIO, "cannot read model '%s': %s", config, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = fmd_errf(err, FMD_EIO, "cannot read model '%s': not a file", config);
        goto out;
    }
    if (!(m = fmd_calloc(1, sizeof(*m)))) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_init(&m->lock, NULL);
    base = strrchr(config, '/') ? strrchr(config, '/') + 1 : config;
    snprintf(m->id, sizeof(m->id), "%s:%lld", base, (long long)st.st_size);
    pthread_once(&backend_once, backend_init);

    mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.load_mode = LLAMA_LOAD_MODE_MMAP;
    if (!(m->model = llama_model_load_from_file(config, mp))) {
        rc = fmd_errf(err, FMD_EIO, "cannot load model '%s'", config);
        goto out;
    }
    m->vocab = llama_model_get_vocab(m->model);
    m->n_vocab = llama_vocab_n_tokens(m->vocab);
    if (m->n_vocab <= 0) {
        rc = fmd_errf(err, FMD_EIO, "model '%s' has no vocabulary", config);
        goto out;
    }
    if (!(m->cand = fmd_malloc((size_t)m->n_vocab * sizeof(*m->cand)))) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }

    if (!(m->cont = fmd_calloc((size_t)m->n_vocab, 1))) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    mark_continuations(m);

    n_train = llama_model_n_ctx_train(m->model);
    cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(n_train > 0 && n_train < CTX_MAX ? n_train : CTX_MAX);
    cp.n_batch = cp.n_ctx < 2048 ? cp.n_ctx : 2048;
    cp.n_seq_max = 1;
    cp.n_threads = cp.n_threads_batch = threads > 0 ? threads : online_cpus();
    cp.abort_callback = abort_cb;
    cp.abort_callback_data = m;
    cp.no_perf = true;
    if (!(m->ctx = llama_init_from_model(m->model, cp))) {
        rc = fmd_errf(err, FMD_ENOMEM, "cannot make a context for model '%s'", config);
        goto out;
    }
    m->n_ctx = (int)llama_n_ctx(m->ctx);
    if (!(m->kv = fmd_malloc((size_t)m->n_ctx * sizeof(*m->kv)))) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    m->tmpl = llama_model_chat_template(m->model, NULL);
    log_debug("llama: loaded '%s' (%d tokens of context, %d threads)", m->id, m->n_ctx,
              cp.n_threads);
    p->impl = m;
    m = NULL;
out:
    impl_free(m);
    return rc;
}

static void llama_close(struct ai_provider *p)
{
    impl_free(p->impl);
    p->impl = NULL;
}

static const char *llama_model_id(struct ai_provider *p)
{
    const struct llama_impl *m = p->impl;

    return m ? m->id : "";
}

/*
 * Tokenises text into a new fmd_malloc'd array (*out, *n), with the model's
 * BOS when bos. Empty text gives no tokens (or only the BOS).
 */
static int tokenize(const struct llama_impl *m, const char *text, int bos, int special,
                    llama_token **out, int *n, struct fmd_err *err)
{
    size_t len = text ? strlen(text) : 0;
    llama_token *t;
    int cap, got;

    *out = NULL;
    *n = 0;
    if (len > (size_t)m->n_ctx * 64)
        return fmd_errf(err, FMD_EINVAL, "prompt of %zu bytes does not fit the context", len);
    cap = (int)len + 4;
    if (!(t = fmd_malloc((size_t)cap * sizeof(*t))))
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    got = llama_tokenize(m->vocab, text ? text : "", (int32_t)len, t, cap, bos, special);
    if (got < 0 && got != INT32_MIN) {
        llama_token *bigger = fmd_realloc(t, (size_t)-got * sizeof(*t));

        if (!bigger) {
            fmd_free(t);
            return fmd_errf(err, FMD_ENOMEM, "out of memory");
        }
        t = bigger;
        cap = -got;
        got = llama_tokenize(m->vocab, text ? text : "", (int32_t)len, t, cap, bos, special);
    }
    if (got < 0) {
        fmd_free(t);
        return fmd_errf(err, FMD_EINVAL, "cannot tokenize the prompt");
    }
    *out = t;
    *n = got;
    return 0;
}

/* Forgets the KV cache: after a failure it may hold part of a batch. */
static void kv_clear(struct llama_impl *m)
{
    llama_memory_clear(llama_get_memory(m->ctx), true);
    m->n_kv = 0;
}

/*
 * Evaluates n tokens after what the KV cache holds, in batches of the
 * context's size, and lists them in m->kv. The caller checks they fit.
 */
static int eval(struct llama_impl *m, const llama_token *t, int n, struct fmd_err *err)
{
    int step = (int)llama_n_batch(m->ctx), i, rc;

    if (n > m->n_ctx - m->n_kv)
        return fmd_errf(err, FMD_EINVAL, "the context of %d tokens is full", m->n_ctx);
    for (i = 0; i < n; i += step) {
        int k = n - i < step ? n - i : step;

        rc = llama_decode(m->ctx, llama_batch_get_one((llama_token *)t + i, k));
        if (rc == 2 || clock_mono_ns() > m->deadline_ns || call_cancelled(m))
            return stopped(m, err);
        if (rc != 0)
            return fmd_errf(err, FMD_EUNAVAIL, "model failed to evaluate the prompt (%d)", rc);
        memcpy(m->kv + m->n_kv, t + i, (size_t)k * sizeof(*t));
        m->n_kv += k;
    }
    return 0;
}

/* A call's samplers: the grammar's (NULL for free text) and the choice's. */
struct samplers {
    struct llama_sampler *grammar;
    struct llama_sampler *choose;     /* greedy, or temperature + seeded dist */
};

static void samplers_free(struct samplers *sm)
{
    if (sm->grammar)
        llama_sampler_free(sm->grammar);
    if (sm->choose)
        llama_sampler_free(sm->choose);
}

static int make_samplers(const struct llama_impl *m, const char *grammar,
                         const struct ai_limits *lim, struct samplers *sm, struct fmd_err *err)
{
    struct llama_sampler_chain_params sp = llama_sampler_chain_default_params();

    memset(sm, 0, sizeof(*sm));
    sp.no_perf = true;
    if (grammar && *grammar && !(sm->grammar = llama_sampler_init_grammar(m->vocab, grammar,
                                                                          "root")))
        return fmd_errf(err, FMD_EINVAL, "grammar does not parse");
    if (!(sm->choose = llama_sampler_chain_init(sp))) {
        samplers_free(sm);
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    }
    if (lim->temperature <= 0) {
        llama_sampler_chain_add(sm->choose, llama_sampler_init_greedy());
    } else {
        llama_sampler_chain_add(sm->choose, llama_sampler_init_temp((float)lim->temperature));
        llama_sampler_chain_add(sm->choose, llama_sampler_init_dist(lim->seed));
    }
    return 0;
}

/* What the model reads for a request, as a prefix (may be NULL) and a prompt. */
struct reading {
    const char *prefix, *prompt;
    int special;          /* the text holds template markup: parse special tokens */
    int bos;              /* add the model's BOS before the first token */
    char *buf;            /* the rendered text both point into, or NULL */
};

/*
 * Renders msgs with tmpl into a new fmd_malloc'd string; NULL with err set
 * when the template is not one llama.cpp knows (FMD_EINVAL) or memory ran out.
 */
static char *apply_template(const char *tmpl, const struct llama_chat_message *msgs, size_t n,
                            size_t *len, struct fmd_err *err)
{
    size_t cap = 256, i;
    int32_t got;
    char *buf;

    for (i = 0; i < n; i++)
        cap += 2 * (strlen(msgs[i].role) + strlen(msgs[i].content)) + 64;
    if (!(buf = fmd_malloc(cap))) {
        fmd_errf(err, FMD_ENOMEM, "out of memory");
        return NULL;
    }
    got = llama_chat_apply_template(tmpl, msgs, n, true, buf, (int32_t)cap);
    if (got >= (int32_t)cap) {
        char *bigger = fmd_realloc(buf, (size_t)got + 1);

        if (!bigger) {
            fmd_free(buf);
            fmd_errf(err, FMD_ENOMEM, "out of memory");
            return NULL;
        }
        buf = bigger;
        cap = (size_t)got + 1;
        got = llama_chat_apply_template(tmpl, msgs, n, true, buf, (int32_t)cap);
    }
    if (got < 0 || got >= (int32_t)cap) {
        fmd_free(buf);
        fmd_errf(err, FMD_EINVAL, "the model's chat template is not one llama.cpp can apply");
        return NULL;
    }
    buf[got] = '\0';
    *len = (size_t)got;
    return buf;
}

/* Where the last occurrence of needle starts in hay, or NULL. */
static const char *last_occurrence(const char *hay, const char *needle)
{
    const char *hit = NULL, *p = hay;

    if (!*needle)
        return NULL;
    while ((p = strstr(p, needle))) {
        hit = p;
        p++;
    }
    return hit;
}

/*
 * Fills r for req: prefix and prompt as they are for a model without a chat
 * template, else the messages (req's, or its prefix as system and prompt as
 * user) rendered and split where the last message's content starts.
 */
static int render(const struct llama_impl *m, const struct ai_request *req, struct reading *r,
                  struct fmd_err *err)
{
    struct llama_chat_message two[2], *msgs = two;
    const char *tmpl = m->tmpl, *split, *bos_text;
    size_t n = 0, len, i;
    int rc = 0;

    memset(r, 0, sizeof(*r));
    r->bos = 1;
    if (!req->messages && !tmpl) {
        r->prefix = req->prefix && *req->prefix ? req->prefix : NULL;
        r->prompt = req->prompt ? req->prompt : "";
        return 0;
    }
    if (req->messages) {
        if (!req->n_messages)
            return fmd_errf(err, FMD_EINVAL, "no messages");
        if (!(msgs = fmd_calloc(req->n_messages, sizeof(*msgs))))
            return fmd_errf(err, FMD_ENOMEM, "out of memory");
        for (n = 0; n < req->n_messages; n++)
            msgs[n] = (struct llama_chat_message){req->messages[n].role,
                                                  req->messages[n].content};
    } else {
        if (req->prefix && *req->prefix)
            two[n++] = (struct llama_chat_message){"system", req->prefix};
        two[n++] = (struct llama_chat_message){"user", req->prompt ? req->prompt : ""};
    }
    r->buf = apply_template(tmpl ? tmpl : "chatml", msgs, n, &len, err);
    if (!r->buf && tmpl && err->code == FMD_EINVAL) {
        /* A template llama.cpp's C API does not know: ChatML, which most instruct
         * models have seen, rather than nothing. */
        log_debug("llama: the model's chat template is not supported; using ChatML");
        r->buf = apply_template("chatml", msgs, n, &len, err);
    }
    if (!r->buf) {
        rc = err->code;
        goto out;
    }
    memset(err, 0, sizeof(*err));
    r->special = 1;
    /* The template may write the BOS itself; it must not be there twice. */
    bos_text = llama_vocab_get_text(m->vocab, llama_vocab_bos(m->vocab));
    if (bos_text && *bos_text && !strncmp(r->buf, bos_text, strlen(bos_text)))
        r->bos = 0;
    split = last_occurrence(r->buf, msgs[n - 1].content);
    if (split && split > r->buf) {
        /* prefix and prompt as two strings: the prompt moves one byte on */
        i = (size_t)(split - r->buf);
        memmove(r->buf + i + 1, r->buf + i, len - i + 1);
        r->buf[i] = '\0';
        r->prefix = r->buf;
        r->prompt = r->buf + i + 1;
    } else {
        r->prompt = r->buf;
    }
out:
    if (msgs != two)
        fmd_free(msgs);
    return rc;
}

/*
 * Puts prefix + prompt into the KV cache, keeping the leading tokens it
 * already holds. Leaves the prompt's last logits ready for sampling.
 */
static int read_prompt(struct llama_impl *m, const struct ai_request *req, struct ai_result *res,
                       struct fmd_err *err)
{
    struct reading r;
    llama_token *pt = NULL, *qt = NULL, *all = NULL;
    int np = 0, nq = 0, n, keep = 0, rc;

    if ((rc = render(m, req, &r, err)))
        return rc;
    if ((r.prefix && (rc = tokenize(m, r.prefix, r.bos, r.special, &pt, &np, err))) ||
        (rc = tokenize(m, r.prompt, !r.prefix && r.bos, r.special, &qt, &nq, err)))
        goto out;
    n = np + nq;
    if (n == 0) {
        rc = fmd_errf(err, FMD_EINVAL, "empty prompt");
        goto out;
    }
    if (n >= m->n_ctx) {
        rc = fmd_errf(err, FMD_EINVAL, "prompt of %d tokens does not fit the context of %d", n,
                      m->n_ctx);
        goto out;
    }
    if (!(all = fmd_malloc((size_t)n * sizeof(*all)))) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    if (np)
        memcpy(all, pt, (size_t)np * sizeof(*all));
    if (nq)
        memcpy(all + np, qt, (size_t)nq * sizeof(*all));
    /* the shared start stays; the last token is read again for its logits */
    while (keep < m->n_kv && keep < n - 1 && m->kv[keep] == all[keep])
        keep++;
    /* also drops what an interrupted decode may have left past m->kv */
    if (!llama_memory_seq_rm(llama_get_memory(m->ctx), 0, keep, -1))
        keep = 0;
    if (keep == 0)
        kv_clear(m);
    m->n_kv = keep;
    if ((rc = eval(m, all + keep, n - keep, err)))
        goto out;
    res->prompt_tokens = n;
    res->cached_tokens = keep;
    res->prefix_reused = np > 0 && keep >= (np < n - 1 ? np : n - 1);
out:
    if (rc)
        kv_clear(m);
    fmd_free(all);
    fmd_free(pt);
    fmd_free(qt);
    fmd_free(r.buf);
    return rc;
}

#define MAX_BANNED 16   /* tokens refused for one position before giving up */

static int piece_of(const struct llama_impl *m, llama_token tok, char *piece, int cap);
static int keeps_utf8(const struct buf *out, const char *piece, int n);

/*
 * The candidates from logits, with the tokens in banned[0..nb) impossible;
 * and when open (out ends inside a character) every token that cannot
 * continue it, so that the choice need not stumble through the vocabulary.
 */
static llama_token_data_array candidates(struct llama_impl *m, const float *logits,
                                         const llama_token *banned, int nb,
                                         const struct buf *open)
{
    char piece[256];
    int i, n;

    for (i = 0; i < m->n_vocab; i++)
        m->cand[i] = (llama_token_data){.id = i, .logit = logits[i], .p = 0.0f};
    for (i = 0; i < nb; i++)
        m->cand[banned[i]].logit = -INFINITY;
    for (i = 0; open && i < m->n_vocab; i++)
        if (!m->cont[i] || (n = piece_of(m, i, piece, sizeof(piece))) < 0 ||
            !keeps_utf8(open, piece, n))
            m->cand[i].logit = -INFINITY;
    return (llama_token_data_array){.data = m->cand, .size = (size_t)m->n_vocab,
                                    .selected = -1, .sorted = false};
}

/* 1 if the grammar allows tok next. */
static int grammar_allows(struct llama_sampler *grammar, llama_token tok, float logit)
{
    llama_token_data one = {.id = tok, .logit = logit, .p = 0.0f};
    llama_token_data_array arr = {.data = &one, .size = 1, .selected = -1, .sorted = false};

    llama_sampler_apply(grammar, &arr);
    return !(isinf(one.logit) && one.logit < 0);
}

/*
 * Chooses the next token into *tok (-1: nothing is allowed, the text is
 * complete). As llama.cpp's own sampler does, the choice is made without the
 * grammar first and kept if the grammar allows it: checking one token is
 * cheap, checking the whole vocabulary is what costs (most of a token's time
 * on a small model). Only when it is refused is the grammar applied to all.
 */
static int choose(struct llama_impl *m, struct samplers *sm, const float *logits,
                  const llama_token *banned, int nb, const struct buf *open, llama_token *tok,
                  struct fmd_err *err)
{
    llama_token_data_array arr = candidates(m, logits, banned, nb, open);
    llama_token t;
    float logit;

    llama_sampler_apply(sm->choose, &arr);
    if (arr.selected < 0 || (size_t)arr.selected >= arr.size)
        return fmd_errf(err, FMD_EINTERNAL, "sampler chose no token");
    t = arr.data[arr.selected].id;
    logit = arr.data[arr.selected].logit;
    if (sm->grammar && !grammar_allows(sm->grammar, t, logit)) {
        arr = candidates(m, logits, banned, nb, open);
        llama_sampler_apply(sm->grammar, &arr);
        llama_sampler_apply(sm->choose, &arr);
        if (arr.selected < 0 || (size_t)arr.selected >= arr.size)
            return fmd_errf(err, FMD_EINTERNAL, "sampler chose no token");
        t = arr.data[arr.selected].id;
        logit = arr.data[arr.selected].logit;
    }
    *tok = isinf(logit) && logit < 0 ? -1 : t;
    return 0;
}

/* Token tok's text into piece (cap bytes); its length, or -1 when it does not fit. */
static int piece_of(const struct llama_impl *m, llama_token tok, char *piece, int cap)
{
    int n = llama_token_to_piece(m->vocab, tok, piece, cap, 0, false);

    return n >= 0 && n <= cap ? n : -1;
}

/*
 * 1 if piece after out keeps the text valid UTF-8 (a character may be left
 * open, for the next token to finish). A grammar does not see to this:
 * llama.cpp decodes byte tokens without refusing overlong forms.
 */
static int keeps_utf8(const struct buf *out, const char *piece, int n)
{
    char tail[3 + 256];
    size_t back = 0;

    /* the start of the last, possibly open, character of out */
    while (back < 3 && back < out->len && ((unsigned char)out->p[out->len - 1 - back] & 0xC0) == 0x80)
        back++;
    if (back < out->len && (unsigned char)out->p[out->len - 1 - back] >= 0xC0)
        back++;
    else if (back && back == out->len)
        return 0;
    if (n > 256)
        return 0;
    memcpy(tail, out->p + out->len - back, back);
    memcpy(tail + back, piece, (size_t)n);
    return utf8_valid_prefix(tail, back + (size_t)n);
}

/*
 * 1 if out ends inside a character: its last bytes start one and it needs
 * more. (out is always a valid UTF-8 prefix: keeps_utf8 sees to it.)
 */
static int ends_open(const struct buf *out)
{
    size_t back = 0, need;
    unsigned char lead;

    while (back < 3 && back < out->len &&
           ((unsigned char)out->p[out->len - 1 - back] & 0xC0) == 0x80)
        back++;
    if (back == out->len)
        return 0;
    lead = (unsigned char)out->p[out->len - 1 - back];
    need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return need > back + 1;
}

/* Generates into out from the logits read_prompt left. */
static int generate(struct llama_impl *m, struct samplers *sm, const struct ai_limits *lim,
                    int pos, struct ai_result *res, struct buf *out, struct fmd_err *err)
{
    int max_tokens = lim->max_tokens > 0 ? lim->max_tokens : DEF_MAX_TOKENS;
    int rc = 0;

    for (;;) {
        llama_token banned[MAX_BANNED], tok = -1;
        const float *logits;
        char piece[256];
        int nb = 0, n = 0;

        if (res->generated_tokens >= max_tokens || pos >= m->n_ctx) {
            res->truncated = 1;
            break;
        }
        if (!(logits = llama_get_logits_ith(m->ctx, -1))) {
            rc = fmd_errf(err, FMD_EINTERNAL, "model gave no logits");
            break;
        }
        /* a token whose bytes would break UTF-8 is refused and another chosen */
        for (;;) {
            if ((rc = choose(m, sm, logits, banned, nb, ends_open(out) ? out : NULL, &tok,
                             err)) || tok < 0 ||
                llama_vocab_is_eog(m->vocab, tok))
                break;
            if ((n = piece_of(m, tok, piece, sizeof(piece))) >= 0 && keeps_utf8(out, piece, n))
                break;
            if (nb == MAX_BANNED) {
                rc = fmd_errf(err, FMD_EINTERNAL, "the model writes nothing but broken UTF-8");
                break;
            }
            banned[nb++] = tok;
        }
        /* The grammar allows nothing more, or the model ends: done. */
        if (rc || tok < 0 || llama_vocab_is_eog(m->vocab, tok))
            break;
        if (sm->grammar)
            llama_sampler_accept(sm->grammar, tok);
        llama_sampler_accept(sm->choose, tok);
        res->generated_tokens++;
        if ((rc = buf_add(out, piece, (size_t)n))) {
            rc = fmd_errf(err, rc, rc == FMD_ETOOBIG ? "output longer than the limit"
                                                     : "out of memory");
            break;
        }
        if (clock_mono_ns() > m->deadline_ns || call_cancelled(m)) {
            rc = stopped(m, err);
            break;
        }
        if (res->generated_tokens >= max_tokens) {
            res->truncated = 1;
            break;
        }
        if ((rc = eval(m, &tok, 1, err)))
            break;
        pos++;
    }
    return rc;
}

/*
 * The output as valid UTF-8 into *text: pieces of tokens can split a
 * character, and a random or confused model writes any bytes at all.
 */
static int valid_text(const struct buf *out, char **text, struct fmd_err *err)
{
    struct buf clean;
    int rc;

    buf_init(&clean, 3 * (size_t)OUT_MAX);
    if ((rc = buf_add_utf8(&clean, out->p, out->len)) || !(*text = buf_detach(&clean, NULL))) {
        buf_release(&clean);
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    }
    return 0;
}

static int llama_complete(struct ai_provider *p, const struct ai_request *req,
                          struct ai_result *res, struct fmd_err *err)
{
    struct llama_impl *m = p->impl;
    long timeout_ms = req->limits.timeout_ms > 0 ? req->limits.timeout_ms : DEF_TIMEOUT_MS;
    uint64_t start = clock_mono_ns(), t0, t1;
    struct samplers sm = {0};
    struct timespec until;
    struct buf out;
    int rc = 0, locked = 0;

    memset(res, 0, sizeof(*res));
    buf_init(&out, OUT_MAX);
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    if ((rc = pthread_mutex_clocklock(&m->lock, CLOCK_MONOTONIC, &until))) {
        if (rc == ETIMEDOUT)
            rc = fmd_errf(err, FMD_ETIMEOUT, "model busy for longer than the time allowed");
        else
            rc = fmd_errf(err, FMD_EINTERNAL, "cannot lock the model: %s", strerror(rc));
        goto out;
    }
    locked = 1;
    m->deadline_ns = start + (uint64_t)timeout_ms * 1000000u;
    m->req = req;
    t0 = clock_mono_ns();
    if ((rc = make_samplers(m, req->grammar, &req->limits, &sm, err)))
        goto out;
    if ((rc = read_prompt(m, req, res, err)))
        goto out;
    t1 = clock_mono_ns();
    res->prompt_seconds = (double)(t1 - t0) / 1e9;
    rc = generate(m, &sm, &req->limits, res->prompt_tokens, res, &out, err);
    res->generate_seconds = (double)(clock_mono_ns() - t1) / 1e9;
    if (!rc)
        rc = valid_text(&out, &res->text, err);
out:
    samplers_free(&sm);
    if (locked) {
        m->req = NULL;
        pthread_mutex_unlock(&m->lock);
    }
    buf_release(&out);
    if (rc) {
        fmd_freez(&res->text);
        memset(res, 0, sizeof(*res));
    }
    return rc;
}

const struct ai_provider_vtable ai_llama_provider = {
    .version = 1,
    .name = "llama",
    .caps = AI_CAP_GRAMMAR | AI_CAP_PREFIX,
    .open = llama_open,
    .close = llama_close,
    .complete = llama_complete,
    .model_id = llama_model_id,
};
