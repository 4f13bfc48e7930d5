/*
 * ai_bench.c - formd's in-process llama provider (src/ai/llama.c) against a
 * bare llama.cpp decode loop over the same model, in the same process, for
 * bench/ai.sh.
 *
 *   ai_bench MODEL [PRESET]
 *
 * One extraction: the prefix src/tasks/ai.c writes for a small form (its
 * instructions and the form's JSON Schema) and the prompt "Text:\n...\nJSON:"
 * over a customer's message, the message cut at a word so that prefix and
 * prompt hold about BENCH_PROMPT_TOKENS (300) tokens, then BENCH_GEN (64)
 * tokens generated greedily, without a grammar. Both sides run it with
 * BENCH_THREADS threads (default: the online CPUs) and the context llama.c
 * makes (n_ctx = min(n_ctx_train, 4096), n_batch = min(n_ctx, 2048)):
 *
 *   bare   llama_model_load_from_file, llama_init_from_model, then per run:
 *          clear the KV cache, llama_tokenize (prefix with BOS, prompt after
 *          it without, the tokens llama.c makes), llama_decode of them in
 *          n_batch chunks (llama_batch_get_one), then BENCH_GEN times
 *          llama_sampler_sample (greedy) + llama_token_to_piece, each but the
 *          last followed by llama_decode of that one token. It does not stop
 *          at end-of-generation, so it always makes BENCH_GEN tokens. The
 *          last token is not decoded because llama.c does not decode it
 *          either: both sides do the same work.
 *   formd  ai_open, then ai_complete with prefix and prompt, max_tokens
 *          BENCH_GEN; its own prompt_seconds / generate_seconds and token
 *          counts. Before each timed call an untimed one-token call with
 *          another prefix evicts the cached prefix: the timed call always
 *          evaluates prefix and prompt (prefix_reused 0, checked).
 *
 * Each side runs once untimed (warm-up: first touch of the weights, buffer
 * allocation), then the two alternate for BENCH_REPS (3) repetitions, the
 * order swapped every repetition; the table shows medians, and for
 * information each side's fastest run ("best"). Each run also measures how
 * many CPUs other processes kept busy meanwhile (/proc/stat less this
 * process's getrusage): llama.cpp's threads wait for one another at every
 * step, so a run sharing its CPUs with anything slows down several times
 * more than the share it loses, and the "others" column says which figures
 * to distrust. Extraction seconds are wall-clock around the whole run
 * (formd: the ai_complete call). Ratios are formd / bare of the speeds
 * (tokens/s, and 1/seconds for the extraction), so 1.00 is parity and the
 * goal is >= 0.95. When formd stops at end-of-generation before BENCH_GEN
 * tokens the extraction seconds are not comparable; only the tokens/s are
 * judged, and the table says so.
 *
 * Information rows, one run each after the repetitions: formd with the
 * prefix reused (the same request again: only the prompt is evaluated) and
 * formd under the grammar src/ai/grammar.h compiles from the form's schema
 * (prefix evicted first), which ends when the grammar completes. Model
 * loading (bare: model + context; formd: ai_open) is printed for information.
 *
 * The table goes to stdout, per-run figures to stderr. Exits 1 when
 * something fails to run; the goal does not change the exit status.
 */
#include <jansson.h>
#include <llama.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ai/grammar.h"
#include "ai/provider.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/mem.h"

#define CTX_MAX      4096          /* as src/ai/llama.c */
#define TIMEOUT_MS   3600000L      /* an hour: a slow machine is measured, not cut off */
#define GOAL         0.95

/* The form: what src/tasks/ai.c puts in the prefix, and what the grammar is made from. */
static const char schema_text[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"name\":{\"type\":\"string\",\"maxLength\":80},"
    "\"email\":{\"type\":\"string\",\"format\":\"email\"},"
    "\"category\":{\"enum\":[\"billing\",\"delivery\",\"damage\",\"other\"]},"
    "\"urgent\":{\"type\":\"boolean\"}},"
    "\"required\":[\"name\",\"category\"]}";

/* The customer's message; cut at a word to reach the prompt's size. */
static const char message[] =
    "Hello, my name is Margaret Okafor and I am writing about order GB-482915, which I placed "
    "on 2024-03-02 for a set of six ceramic mugs and a teapot. The parcel arrived yesterday "
    "but the box was crushed on one side and two of the mugs were broken into several pieces; "
    "the teapot lid is chipped as well. I paid 86.40 pounds including delivery. I would like "
    "either a refund for the damaged items or replacements sent out as soon as possible, as "
    "the set is a birthday present for my mother next Saturday, so this is fairly urgent for "
    "me. I have kept the packaging and can send photographs if that helps. You can reach me "
    "by email at m.okafor@example.org or by phone on +44 7700 900123 most afternoons after "
    "two o'clock. I have ordered from you several times before and have always been happy, "
    "so I hope this can be sorted out quickly. The courier left the parcel with a neighbour, "
    "who said it already looked damaged when it was handed over. Thank you for your help, "
    "and please let me know whether you need anything else from me, such as the receipt, the "
    "delivery note or the card number I paid with, which ended in 4417. Kind regards, "
    "Margaret Okafor, 14 Willow Crescent, Leeds.";

struct run {
    int prompt_tokens;             /* tokens evaluated for the prompt */
    int gen_tokens;                /* tokens generated */
    int eog_at;                    /* bare: the first generated end-of-generation token, or -1 */
    int prefix_reused;             /* formd */
    double prompt_s, gen_s, total_s;
    double others;                 /* the CPU other processes used meanwhile, in CPUs */
    char *text;                    /* what was generated, fmd_malloc'd */
};

struct bare {
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    struct llama_sampler *smpl;
    llama_token *tok;              /* the prompt's tokens, made once */
    int n_tok, n_prefix;
};

static double now_s(void)
{
    return (double)clock_mono_ns() / 1e9;
}

/* The machine's busy CPU seconds (/proc/stat) and this process's (getrusage), now. */
struct mark {
    double busy, self, wall;
};

static struct mark mark_now(void)
{
    struct mark k = {0, 0, now_s()};
    unsigned long long v[8] = {0};
    struct rusage ru;
    FILE *f = fopen("/proc/stat", "r");

    if (f && fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                    &v[3], &v[4], &v[5], &v[6], &v[7]) == 8)
        k.busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
    if (f)
        fclose(f);
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        k.self = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    return k;
}

/*
 * How many CPUs' worth other processes kept busy between a and b: llama.cpp's
 * threads wait for each other at every step of a decode, so a run that
 * shares its CPUs slows down far more than the share it loses.
 */
static double others(struct mark a, struct mark b)
{
    double o = ((b.busy - a.busy) - (b.self - a.self)) / (b.wall - a.wall);

    return o > 0 ? o : 0;
}

static void quiet(enum ggml_log_level level, const char *text, void *ud)
{
    (void)level;
    (void)text;
    (void)ud;
}

static int env_int(const char *name, int def, int min)
{
    const char *s = getenv(name);
    char *end;
    long v;

    if (!s || !*s)
        return def;
    v = strtol(s, &end, 10);
    if (*end || v < min || v > 1000000) {
        fprintf(stderr, "ai_bench: %s must be an integer >= %d\n", name, min);
        exit(1);
    }
    return (int)v;
}

/* Tokenises text into *out (malloc'd), as llama.c does; -1 on failure. */
static int tokenize(const struct llama_vocab *vocab, const char *text, int bos, llama_token **out)
{
    int len = (int)strlen(text), cap = len + 4, n;

    if (!(*out = malloc((size_t)cap * sizeof(**out))))
        return -1;
    n = llama_tokenize(vocab, text, len, *out, cap, bos, false);
    if (n < 0) {
        free(*out);
        *out = NULL;
    }
    return n;
}

/*
 * The prefix (src/tasks/ai.c's wording) and the longest prompt whose tokens,
 * with the prefix's, are at most target; at least the message's first word.
 */
static int make_text(const struct llama_vocab *vocab, int target, struct buf *prefix,
                     struct buf *prompt)
{
    llama_token *t;
    size_t cut, best = 0;
    int np;

    if (buf_printf(prefix, "You turn free text into the answers of a form. Reply with one JSON "
                   "object whose members are the form's fields, leaving out fields the text "
                   "does not give. The form's JSON Schema:\n%s\n", schema_text))
        return -1;
    if ((np = tokenize(vocab, prefix->p, 1, &t)) < 0)
        return -1;
    free(t);
    for (cut = 1; cut <= sizeof(message) - 1; cut++) {
        int nq;

        if (cut < sizeof(message) - 1 && message[cut] != ' ')
            continue;
        buf_reset(prompt);
        if (buf_printf(prompt, "Text:\n%.*s\nJSON:", (int)cut, message) ||
            (nq = tokenize(vocab, prompt->p, 0, &t)) < 0)
            return -1;
        free(t);
        if (best && np + nq > target)
            break;
        best = cut;
    }
    buf_reset(prompt);
    return buf_printf(prompt, "Text:\n%.*s\nJSON:", (int)best, message);
}

/* The context parameters llama.c's llama_open uses, without its abort callback. */
static struct llama_context_params ctx_params(const struct llama_model *model, int threads)
{
    struct llama_context_params cp = llama_context_default_params();
    int n_train = llama_model_n_ctx_train(model);

    cp.n_ctx = (uint32_t)(n_train > 0 && n_train < CTX_MAX ? n_train : CTX_MAX);
    cp.n_batch = cp.n_ctx < 2048 ? cp.n_ctx : 2048;
    cp.n_seq_max = 1;
    cp.n_threads = cp.n_threads_batch = threads;
    cp.no_perf = true;
    return cp;
}

/* Loads the model and makes the context. */
static int bare_open(struct bare *b, const char *path, int threads)
{
    struct llama_model_params mp = llama_model_default_params();

    mp.n_gpu_layers = 0;
    mp.load_mode = LLAMA_LOAD_MODE_MMAP;
    if (!(b->model = llama_model_load_from_file(path, mp)))
        return -1;
    b->vocab = llama_model_get_vocab(b->model);
    if (!(b->ctx = llama_init_from_model(b->model, ctx_params(b->model, threads))))
        return -1;
    if (!(b->smpl = llama_sampler_init_greedy()))
        return -1;
    return 0;
}

/* The tokens bare_run decodes: the prefix with BOS, the prompt after it, as llama.c makes them. */
static int bare_tokens(struct bare *b, const char *prefix, const char *prompt)
{
    llama_token *pt, *qt;
    int np, nq;

    if ((np = tokenize(b->vocab, prefix, 1, &pt)) < 0)
        return -1;
    if ((nq = tokenize(b->vocab, prompt, 0, &qt)) < 0 ||
        !(b->tok = malloc((size_t)(np + nq) * sizeof(*b->tok)))) {
        free(pt);
        free(qt);
        return -1;
    }
    memcpy(b->tok, pt, (size_t)np * sizeof(*pt));
    memcpy(b->tok + np, qt, (size_t)nq * sizeof(*qt));
    b->n_tok = np + nq;
    b->n_prefix = np;
    free(pt);
    free(qt);
    return 0;
}

static void bare_close(struct bare *b)
{
    if (b->smpl)
        llama_sampler_free(b->smpl);
    if (b->ctx)
        llama_free(b->ctx);
    if (b->model)
        llama_model_free(b->model);
    free(b->tok);
}

/*
 * One extraction with plain llama.cpp calls. The prompt's tokens were made
 * once in bare_tokens; tokenising them again here costs what llama.c's does
 * (microseconds) and is done so both sides time the same steps.
 */
static int bare_run(struct bare *b, const char *prefix, const char *prompt, int n_gen,
                    struct run *r)
{
    int step = (int)llama_n_batch(b->ctx), i;
    llama_token *pt, *qt;
    struct buf out;
    struct mark k0;
    double t0, t1;

    memset(r, 0, sizeof(*r));
    r->eog_at = -1;
    buf_init(&out, 1 << 20);
    k0 = mark_now();
    t0 = now_s();
    llama_memory_clear(llama_get_memory(b->ctx), true);
    if (tokenize(b->vocab, prefix, 1, &pt) < 0)
        goto fail;
    free(pt);
    if (tokenize(b->vocab, prompt, 0, &qt) < 0)
        goto fail;
    free(qt);
    for (i = 0; i < b->n_tok; i += step) {
        int k = b->n_tok - i < step ? b->n_tok - i : step;

        if (llama_decode(b->ctx, llama_batch_get_one(b->tok + i, k)))
            goto fail;
    }
    t1 = now_s();
    for (i = 0; i < n_gen; i++) {
        llama_token tok = llama_sampler_sample(b->smpl, b->ctx, -1);
        char piece[256];
        int n = llama_token_to_piece(b->vocab, tok, piece, sizeof(piece), 0, false);

        if (r->eog_at < 0 && llama_vocab_is_eog(b->vocab, tok))
            r->eog_at = i;
        if (n > 0 && buf_add(&out, piece, (size_t)n))
            goto fail;
        if (i + 1 < n_gen && llama_decode(b->ctx, llama_batch_get_one(&tok, 1)))
            goto fail;
    }
    r->total_s = now_s() - t0;
    r->prompt_s = t1 - t0;
    r->gen_s = r->total_s - r->prompt_s;
    r->prompt_tokens = b->n_tok;
    r->gen_tokens = n_gen;
    r->others = others(k0, mark_now());
    r->text = buf_detach(&out, NULL);
    return r->text ? 0 : -1;
fail:
    fprintf(stderr, "ai_bench: bare: llama.cpp failed\n");
    buf_release(&out);
    return -1;
}

/* One ai_complete of req into r; -1 (with the error printed) on failure. */
static int formd_run(struct ai_provider *p, const struct ai_request *req, struct run *r)
{
    struct ai_result res;
    struct fmd_err err = {0};
    struct mark k0 = mark_now();
    double t0 = now_s();

    memset(r, 0, sizeof(*r));
    r->eog_at = -1;
    if (ai_complete(p, req, &res, &err)) {
        fprintf(stderr, "ai_bench: ai_complete: %s\n", err.msg);
        return -1;
    }
    r->total_s = now_s() - t0;
    r->others = others(k0, mark_now());
    r->prompt_tokens = res.prompt_tokens;
    r->gen_tokens = res.generated_tokens;
    r->prefix_reused = res.prefix_reused;
    r->prompt_s = res.prompt_seconds;
    r->gen_s = res.generate_seconds;
    r->text = res.text;
    res.text = NULL;
    ai_result_release(&res);
    return 0;
}

/* A one-token call with another prefix: the next call's prefix is not in the cache. */
static int evict(struct ai_provider *p)
{
    struct ai_request req = {.prefix = "(ai_bench: another prefix)\n", .prompt = "x",
                             .limits = {.max_tokens = 1, .timeout_ms = TIMEOUT_MS}};
    struct run r;

    if (formd_run(p, &req, &r))
        return -1;
    fmd_free(r.text);
    return 0;
}

static void log_run(const char *what, int rep, const struct run *r)
{
    fprintf(stderr, "  %-14s rep %d: prompt %d tok %.3f s (%.1f tok/s), gen %d tok %.3f s "
            "(%.2f tok/s), total %.3f s, others %.2f CPUs%s\n", what, rep, r->prompt_tokens,
            r->prompt_s, r->prompt_tokens / r->prompt_s, r->gen_tokens, r->gen_s,
            r->gen_tokens / r->gen_s, r->total_s, r->others,
            r->prefix_reused ? ", prefix reused" : "");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double highest(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n - 1];
}

/* The runs' speeds and seconds: medians, or the best of them. */
struct fig {
    double prompt_tps, gen_tps, total_s, others;
    int prompt_tokens, gen_tokens;
};

static struct fig figures(const struct run *r, int n, int best)
{
    double a[4][64];
    struct fig f = {.prompt_tokens = r[0].prompt_tokens, .gen_tokens = r[0].gen_tokens};
    int i;

    for (i = 0; i < n; i++) {
        a[0][i] = r[i].prompt_tokens / r[i].prompt_s;
        a[1][i] = r[i].gen_tokens / r[i].gen_s;
        a[2][i] = -r[i].total_s;
        a[3][i] = -r[i].others;
        if (r[i].gen_tokens < f.gen_tokens)
            f.gen_tokens = r[i].gen_tokens;
    }
    f.prompt_tps = best ? highest(a[0], n) : median(a[0], n);
    f.gen_tps = best ? highest(a[1], n) : median(a[1], n);
    f.total_s = -(best ? highest(a[2], n) : median(a[2], n));
    f.others = -(best ? highest(a[3], n) : median(a[3], n));
    return f;
}

static void row(const char *preset, int threads, const char *mode, double ptps, double gtps,
                double secs, double oth, int ptok, int gtok, const char *note)
{
    char toks[32];

    snprintf(toks, sizeof(toks), "%d+%d", ptok, gtok);
    printf("%-6s %7d  %-22s %12.1f %10.2f %13.3f %7.2f  %-7s  %s\n", preset, threads, mode, ptps,
           gtps, secs, oth, toks, note);
}

static const char *verdict(double ratio)
{
    return ratio >= GOAL ? "ok" : "MISS";
}

/* Bare's row, formd's and their ratio; the goal is judged when judged, else info. */
static void compare(const char *preset, int threads, const char *how, const struct fig *fb,
                    const struct fig *ff, int n_gen, int judged)
{
    double r_prompt = ff->prompt_tps / fb->prompt_tps, r_gen = ff->gen_tps / fb->gen_tps;
    double r_total = fb->total_s / ff->total_s;
    int early = ff->gen_tokens < n_gen;
    char mode[64], note[200], total[16];

    snprintf(mode, sizeof(mode), "bare llama.cpp%s", how);
    row(preset, threads, mode, fb->prompt_tps, fb->gen_tps, fb->total_s, fb->others,
        fb->prompt_tokens, fb->gen_tokens, judged ? "the ceiling" : "info");
    snprintf(mode, sizeof(mode), "formd (llama.c)%s", how);
    row(preset, threads, mode, ff->prompt_tps, ff->gen_tps, ff->total_s, ff->others,
        ff->prompt_tokens, ff->gen_tokens, early ? "stopped at end-of-generation" :
        judged ? "" : "info");
    snprintf(mode, sizeof(mode), "ratio formd/bare%s", how);
    if (early) {
        snprintf(total, sizeof(total), "n/a");
        snprintf(note, sizeof(note), "%s >= %.2f: prompt %s, gen %s, extraction n/a (formd "
                 "made %d < %d tokens: compare tokens/s)", judged ? "goal" : "info",
                 GOAL, verdict(r_prompt), verdict(r_gen), ff->gen_tokens, n_gen);
    } else {
        snprintf(total, sizeof(total), "%.2f", r_total);
        snprintf(note, sizeof(note), "%s >= %.2f: prompt %s, gen %s, extraction %s",
                 judged ? "goal" : "info", GOAL, verdict(r_prompt), verdict(r_gen),
                 verdict(r_total));
    }
    printf("%-6s %7d  %-22s %12.2f %10.2f %13s %7s  %-7s  %s\n", preset, threads, mode,
           r_prompt, r_gen, total, "", "", note);
}

int main(int argc, char **argv)
{
    const char *model = argc > 1 ? argv[1] : NULL;
    const char *preset = argc > 2 ? argv[2] : "-";
    int reps = env_int("BENCH_REPS", 3, 1), n_gen = env_int("BENCH_GEN", 64, 1);
    int target = env_int("BENCH_PROMPT_TOKENS", 300, 1);
    int threads = env_int("BENCH_THREADS", (int)sysconf(_SC_NPROCESSORS_ONLN), 1);
    struct bare b = {0};
    struct ai_provider *p = NULL;
    struct fmd_err err = {0};
    struct buf prefix, prompt, grammar;
    struct ai_request req = {0};
    struct run *rb = NULL, *rf = NULL, warm, reuse = {0}, gram = {0};
    struct fig fb, ff;
    double t0, load_bare, load_formd;
    int i, rc = 1, same = 0;
    json_t *sj = NULL;

    buf_init(&prefix, 1 << 16);
    buf_init(&prompt, 1 << 16);
    buf_init(&grammar, 1 << 20);
    if (!model || argc > 3 || reps > 64) {
        fprintf(stderr, "usage: ai_bench MODEL [PRESET] (BENCH_REPS at most 64)\n");
        goto out;
    }
    llama_log_set(quiet, NULL);
    llama_backend_init();

    t0 = now_s();
    if (bare_open(&b, model, threads)) {
        fprintf(stderr, "ai_bench: bare: cannot load '%s'\n", model);
        goto out;
    }
    load_bare = now_s() - t0;
    if (make_text(b.vocab, target, &prefix, &prompt) || bare_tokens(&b, prefix.p, prompt.p)) {
        fprintf(stderr, "ai_bench: cannot make the prompt\n");
        goto out;
    }
    t0 = now_s();
    if (ai_open(&ai_llama_provider, model, threads, &p, &err)) {
        fprintf(stderr, "ai_bench: ai_open: %s\n", err.msg);
        goto out;
    }
    load_formd = now_s() - t0;
    llama_log_set(quiet, NULL);

    req.prefix = prefix.p;
    req.prompt = prompt.p;
    req.limits = (struct ai_limits){.max_tokens = n_gen, .timeout_ms = TIMEOUT_MS};
    req.task = "extract";
    fprintf(stderr, "%s: %d threads, n_ctx %u, n_batch %u; prompt %d tokens (prefix %d), "
            "generating %d; %d repetitions\n", preset, threads, llama_n_ctx(b.ctx),
            llama_n_batch(b.ctx), b.n_tok, b.n_prefix, n_gen, reps);

    if (!(rb = calloc((size_t)reps, sizeof(*rb))) || !(rf = calloc((size_t)reps, sizeof(*rf))))
        goto out;
    if (bare_run(&b, prefix.p, prompt.p, n_gen, &warm))
        goto out;
    log_run("bare warm-up", 0, &warm);
    fmd_free(warm.text);
    if (evict(p) || formd_run(p, &req, &warm))
        goto out;
    log_run("formd warm-up", 0, &warm);
    fmd_free(warm.text);

    for (i = 0; i < reps; i++) {
        int k;

        for (k = 0; k < 2; k++) {
            if ((k == 0) == (i % 2 == 0)) {
                if (bare_run(&b, prefix.p, prompt.p, n_gen, &rb[i]))
                    goto out;
                log_run("bare", i + 1, &rb[i]);
            } else {
                if (evict(p) || formd_run(p, &req, &rf[i]))
                    goto out;
                log_run("formd", i + 1, &rf[i]);
                if (rf[i].prefix_reused || rf[i].prompt_tokens != b.n_tok) {
                    fprintf(stderr, "ai_bench: formd read %d tokens (prefix reused %d), "
                            "bare %d\n", rf[i].prompt_tokens, rf[i].prefix_reused, b.n_tok);
                    goto out;
                }
            }
        }
        /* Greedy over the same logits: formd's text is the start of bare's. */
        if (strncmp(rf[i].text, rb[i].text, strlen(rf[i].text)) == 0) {
            same++;
        } else {
            size_t at = 0;

            while (rf[i].text[at] == rb[i].text[at])
                at++;
            fprintf(stderr, "  rep %d: formd's text differs from bare's at byte %zu of %zu\n",
                    i + 1, at, strlen(rf[i].text));
        }
    }

    /* Information: the same request again (prefix reused), then under the grammar. */
    if (formd_run(p, &req, &reuse))
        goto out;
    log_run("formd reused", 1, &reuse);
    if (!(sj = json_loads(schema_text, 0, NULL)) ||
        ai_grammar_from_schema(sj, &grammar, &err)) {
        fprintf(stderr, "ai_bench: grammar: %s\n", err.msg);
        goto out;
    }
    req.grammar = grammar.p;
    if (evict(p) || formd_run(p, &req, &gram))
        goto out;
    log_run("formd grammar", 1, &gram);
    fprintf(stderr, "  grammar output: %s\n", gram.text);

    printf("\n%s: prompt %d tokens (prefix %d + prompt %d), %d generated, greedy, no grammar; "
           "%d threads, n_ctx %u, n_batch %u; %d repetitions\n", preset, b.n_tok, b.n_prefix,
           b.n_tok - b.n_prefix, n_gen, threads, llama_n_ctx(b.ctx), llama_n_batch(b.ctx), reps);
    printf("model loading (info): bare %.2f s (model + context), formd %.2f s (ai_open)\n",
           load_bare, load_formd);
    printf("%-6s %7s  %-22s %12s %10s %13s %7s  %-7s  %s\n", "preset", "threads", "mode",
           "prompt tok/s", "gen tok/s", "extraction s", "others", "tokens", "");
    fb = figures(rb, reps, 0);
    ff = figures(rf, reps, 0);
    compare(preset, threads, "", &fb, &ff, n_gen, 1);
    fb = figures(rb, reps, 1);
    ff = figures(rf, reps, 1);
    compare(preset, threads, ", best", &fb, &ff, n_gen, 0);
    row(preset, threads, "formd, prefix reused", (reuse.prompt_tokens - b.n_prefix) /
        reuse.prompt_s, reuse.gen_tokens / reuse.gen_s, reuse.total_s, reuse.others,
        reuse.prompt_tokens - b.n_prefix, reuse.gen_tokens, reuse.prefix_reused ?
        "info, 1 run: prefix reused, only the prompt evaluated" :
        "info, 1 run: prefix NOT reused");
    row(preset, threads, "formd, grammar", gram.prompt_tokens / gram.prompt_s,
        gram.gen_tokens / gram.gen_s, gram.total_s, gram.others, gram.prompt_tokens,
        gram.gen_tokens, "info, 1 run: the form's grammar, prefix not reused");
    printf("rows: medians of %d (\"best\": each side's fastest run, info); others: CPUs other "
           "processes kept busy during the runs (median)\n", reps);
    printf("formd's text matched bare's in %d of %d repetitions (both read the prompt in "
           "one batch; a mismatch can only come from float differences among random "
           "weights' near-tied logits)\n", same, reps);
    rc = 0;
out:
    for (i = 0; rb && i < reps; i++)
        fmd_free(rb[i].text);
    for (i = 0; rf && i < reps; i++)
        fmd_free(rf[i].text);
    free(rb);
    free(rf);
    fmd_free(reuse.text);
    fmd_free(gram.text);
    json_decref(sj);
    if (p)
        ai_close(p);
    bare_close(&b);
    buf_release(&prefix);
    buf_release(&prompt);
    buf_release(&grammar);
    return rc;
}
