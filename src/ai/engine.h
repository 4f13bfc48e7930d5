/*
 * engine.h - what formd's AI features run on: the process's model provider
 * (llama in process, or an OpenAI-compatible server; or none) and the rules
 * fallback, with the choice between them made in one place.
 *
 * A request goes to the model first, if there is one; when the model is
 * absent, fails, times out, or its output is not accepted by the caller's
 * check (for structured output: it must parse and validate), the rules
 * provider answers instead, and the outcome says so: source "fallback" and
 * why. Metrics: formd_ai_inference_seconds{provider,task} (buckets around 10
 * s), formd_ai_tokens_total{kind=prompt|generated}, formd_ai_tokens_per_second
 * {kind} (of the last call), formd_ai_fallbacks_total{task,reason}.
 */
#ifndef FMD_AI_ENGINE_H
#define FMD_AI_ENGINE_H

#include "ai/provider.h"
#include "core/err.h"

struct ai_engine;

struct ai_engine_options {
    const char *model_path;   /* a GGUF file for the in-process llama provider, or NULL */
    const char *openai;       /* else an OpenAI-compatible server's config, or NULL */
    int threads;              /* llama threads; 0: its default */
};

/* The answer of ai_engine_run. text is fmd_malloc'd (ai_outcome_release). */
struct ai_outcome {
    char *text;
    const char *source;        /* "model" or "fallback" (static) */
    char model[160];           /* the model's id, or "rules" */
    char reason[256];          /* why the fallback answered ("" for the model) */
    int prompt_tokens, generated_tokens;
    double seconds;
};

void ai_outcome_release(struct ai_outcome *o);

/*
 * Opens the providers (a model as the options say, and always rules) into
 * *out (ai_engine_close). A model that cannot be loaded fails the open
 * (FMD_EIO, FMD_EINVAL): a configured model that is missing is an operator
 * mistake to report at start, not a silent fallback for every request.
 */
int ai_engine_open(const struct ai_engine_options *o, struct ai_engine **out,
                   struct fmd_err *err);
void ai_engine_close(struct ai_engine *e);

/* The model's id for cache keys, or "rules" without a model. */
const char *ai_engine_model_id(const struct ai_engine *e);

/*
 * Answers req (its task, input and schema for the fallback; prefix, prompt
 * and grammar for the model) into *out. accept (may be NULL) checks the
 * model's text: nonzero accepts; with a message in why (size 256) when it
 * does not. Fails only when the fallback fails too (its error in err), or
 * with FMD_ECANCELED when req->cancelled said so (no fallback then).
 */
int ai_engine_run(struct ai_engine *e, const struct ai_request *req,
                  int (*accept)(void *arg, const char *text, char *why), void *arg,
                  struct ai_outcome *out, struct fmd_err *err);

/*
 * A completion by the model alone (the chat completions endpoint): there is
 * no fallback for a conversation. FMD_EUNAVAIL without a model; else
 * ai_complete's errors. Counted in the same metrics as the tasks.
 */
int ai_engine_chat(struct ai_engine *e, const struct ai_request *req, struct ai_result *res,
                   struct fmd_err *err);

#endif
