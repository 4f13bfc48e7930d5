/*
 * provider.h - the AI provider vtable: something that completes a prompt,
 * optionally under a grammar, within limits.
 *
 * Three implementations (DESIGN.md section 4, "AI"):
 *   llama   in process: llama.cpp with a GGUF model on the CPU (llama.c)
 *   openai  any OpenAI-compatible server over HTTP: llama.cpp's server,
 *           Ollama, vLLM (openai.c)
 *   rules   the deterministic fallback: no model at all (rules.c)
 * Callers use the ai_* wrappers below, never the function pointers: the
 * wrappers are where metrics, timing and checks go.
 *
 * A grammar is GBNF text (llama.cpp's grammar format) whose root rule is
 * "root"; output generated under it always matches it. Providers that cannot
 * enforce a grammar (rules; an openai server without grammar support) say so
 * in their caps, and callers then validate what comes back.
 */
#ifndef FMD_AI_PROVIDER_H
#define FMD_AI_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct ai_provider_vtable;

/* An opened provider: one per process, shared by threads. */
struct ai_provider {
    const struct ai_provider_vtable *vt;
    void *impl;              /* the implementation's own state */
};

/* Provider capabilities (ai_provider_vtable.caps). */
#define AI_CAP_GRAMMAR   0x1u   /* enforces a GBNF grammar on its output */
#define AI_CAP_PREFIX    0x2u   /* keeps a fixed prompt prefix evaluated between calls */

struct ai_limits {
    int max_tokens;          /* tokens to generate at most; 0: 256 */
    long timeout_ms;         /* the whole call; 0: 60000 */
    double temperature;      /* 0: greedy (deterministic) */
    uint32_t seed;           /* sampling seed when temperature > 0 */
};

/* One turn of a conversation: role "system", "user" or "assistant". */
struct ai_message {
    const char *role;
    const char *content;
};

/*
 * A request: prefix + prompt is what a model reads. The rules provider reads
 * no prompt: it works on task, input and schema, which models ignore.
 */
struct ai_request {
    const char *prefix;      /* fixed instructions shared by many calls (may be NULL):
                                a provider with AI_CAP_PREFIX evaluates it once */
    const char *prompt;      /* the variable part */
    const char *grammar;     /* GBNF with a "root" rule, or NULL for free text */
    struct ai_limits limits;
    const char *task;        /* "extract", "classify", "summarize", "generate_form" */
    const char *input;       /* the user's text (extract, summarize, generate_form) or
                                the submission as JSON text (classify) */
    const char *schema;      /* JSON text: extract: the form's JSON Schema; classify:
                                {"categories": [{"name", "description"?}, ...]} */
    /*
     * A conversation, read instead of prefix and prompt when set (the chat
     * completions endpoint): llama renders it with the model's chat
     * template, openai sends it as it is; rules cannot answer it.
     */
    const struct ai_message *messages;
    size_t n_messages;
    /* Asked between tokens (may be NULL): nonzero ends the call with FMD_ECANCELED. */
    int (*cancelled)(void *arg);
    void *cancelled_arg;
};

/* What came back. text is fmd_malloc'd (ai_result_release). */
struct ai_result {
    char *text;
    int prompt_tokens;       /* tokens read (0 when unknown) */
    int generated_tokens;    /* tokens written */
    int prefix_reused;       /* the prefix came from cache, not evaluated again */
    int cached_tokens;       /* how many prompt tokens that saved (0 when unknown) */
    double prompt_seconds;   /* time reading the prompt */
    double generate_seconds; /* time generating */
    int truncated;           /* stopped at max_tokens */
};

void ai_result_release(struct ai_result *r);

struct ai_provider_vtable {
    int version;             /* 1 */
    const char *name;        /* "llama", "openai", "rules" */
    unsigned caps;           /* AI_CAP_* */
    /*
     * Opens the provider from a config string (a model path for llama, a
     * base URL for openai, ignored by rules), setting p->impl. Errors: FMD_EINVAL
     * (bad config), FMD_EIO (cannot read the model), FMD_ENOMEM.
     */
    int (*open)(struct ai_provider *p, const char *config, int threads, struct fmd_err *err);
    /* Frees what open made (p->impl); p itself is the caller's. */
    void (*close)(struct ai_provider *p);
    /*
     * Completes req into *res. Safe to call from many threads: a provider
     * with one model serialises or batches internally. Errors: FMD_ETIMEOUT
     * (limits.timeout_ms passed), FMD_ECANCELED (req->cancelled said so),
     * FMD_EINVAL (a grammar it cannot parse),
     * FMD_EUNAVAIL (the server or model is not answering), FMD_ENOMEM.
     * On failure *res is empty.
     */
    int (*complete)(struct ai_provider *p, const struct ai_request *req, struct ai_result *res,
                    struct fmd_err *err);
    /* A short identity for cache keys: model file name and size, or server + model. */
    const char *(*model_id)(struct ai_provider *p);
};

/* The wrappers (provider.c): open into a new *out (ai_close), complete, close. */
int ai_open(const struct ai_provider_vtable *vt, const char *config, int threads,
            struct ai_provider **out, struct fmd_err *err);
int ai_complete(struct ai_provider *p, const struct ai_request *req, struct ai_result *res,
                struct fmd_err *err);
void ai_close(struct ai_provider *p);
const char *ai_model_id(struct ai_provider *p);

extern const struct ai_provider_vtable ai_llama_provider;
extern const struct ai_provider_vtable ai_openai_provider;
extern const struct ai_provider_vtable ai_rules_provider;

#endif
