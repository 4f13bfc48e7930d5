/*
 * engine.c - the model, the fallback, and the choice between them (engine.h).
 */
#include "ai/engine.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "metrics/metrics.h"
#include "core/banned.h"

struct ai_engine {
    struct ai_provider *model;   /* NULL: rules only */
    struct ai_provider *rules;
};

void ai_outcome_release(struct ai_outcome *o)
{
    if (o)
        fmd_freez(&o->text);
}

int ai_engine_open(const struct ai_engine_options *o, struct ai_engine **out,
                   struct fmd_err *err)
{
    struct ai_engine *e = fmd_calloc(1, sizeof(*e));
    int rc = 0;

    *out = NULL;
    if (!e)
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    if (o && o->model_path && *o->model_path)
        rc = ai_open(&ai_llama_provider, o->model_path, o->threads, &e->model, err);
    else if (o && o->openai && *o->openai)
        rc = ai_open(&ai_openai_provider, o->openai, 0, &e->model, err);
    if (rc == FMD_EUNAVAIL) {
        /* The model exists but cannot run here (a CPU without what llama.cpp was
         * built for): serve on with the fallback, loudly, rather than not at all. */
        log_warn("ai: %s; answering with the rules fallback only", err->msg);
        memset(err, 0, sizeof(*err));
        rc = 0;
    }
    if (!rc)
        rc = ai_open(&ai_rules_provider, "", 0, &e->rules, err);
    if (rc) {
        ai_engine_close(e);
        return rc;
    }
    *out = e;
    return 0;
}

void ai_engine_close(struct ai_engine *e)
{
    if (!e)
        return;
    ai_close(e->model);
    ai_close(e->rules);
    fmd_free(e);
}

const char *ai_engine_model_id(const struct ai_engine *e)
{
    return e && e->model ? ai_model_id(e->model) : "rules";
}

/* Registered at each use (cheap lookups), so metrics_reset cannot leave a
 * dangling family behind. */
static void observe(const char *provider, const struct ai_request *req,
                    const struct ai_result *res, double seconds)
{
    static const char *const pt[] = {"provider", "task", NULL};
    static const char *const kind[] = {"kind", NULL};
    static const double buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120};
    struct metric *dur = metric_register("formd_ai_inference_seconds",
                                         "Time of one AI completion, by provider and task",
                                         METRIC_HISTOGRAM, pt, buckets,
                                         sizeof(buckets) / sizeof(buckets[0]));
    struct metric *tok = metric_register("formd_ai_tokens_total", "Tokens read and generated",
                                         METRIC_COUNTER, kind, NULL, 0);
    struct metric *rate = metric_register("formd_ai_tokens_per_second",
                                          "Tokens per second of the latest model completion",
                                          METRIC_GAUGE, kind, NULL, 0);
    const char *v[] = {provider, req->task ? req->task : "", NULL};
    const char *prompt[] = {"prompt", NULL}, *gen[] = {"generated", NULL};

    metric_observe(dur, v, seconds);
    if (!res)
        return;
    metric_inc(tok, prompt, res->prompt_tokens);
    metric_inc(tok, gen, res->generated_tokens);
    if (res->prompt_seconds > 0)
        metric_set(rate, prompt, res->prompt_tokens / res->prompt_seconds);
    if (res->generate_seconds > 0)
        metric_set(rate, gen, res->generated_tokens / res->generate_seconds);
}

static void count_fallback(const struct ai_request *req, const char *reason)
{
    static const char *const names[] = {"task", "reason", NULL};
    struct metric *m = metric_register("formd_ai_fallbacks_total",
                                       "AI requests the rules fallback answered, by why",
                                       METRIC_COUNTER, names, NULL, 0);
    const char *v[] = {req->task ? req->task : "", reason, NULL};
    metric_inc(m, v, 1);
}

/* Tries the model: NULL and *out filled when it answered acceptably, else the
 * reason class ("timeout", "error", "rejected", "cancelled"), why, and its error. */
static const char *try_model(struct ai_engine *e, const struct ai_request *req,
                             int (*accept)(void *, const char *, char *), void *arg,
                             struct ai_outcome *out, char why[256], struct fmd_err *err)
{
    struct ai_result res;
    uint64_t t0 = clock_mono_ns();
    int rc = ai_complete(e->model, req, &res, err);
    double secs = (double)(clock_mono_ns() - t0) / 1e9;

    observe(e->model->vt->name, req, rc ? NULL : &res, secs);
    if (rc) {
        snprintf(why, 256, "model failed: %.200s", err->msg);
        return rc == FMD_ETIMEOUT ? "timeout" : rc == FMD_ECANCELED ? "cancelled" : "error";
    }
    if (accept && !accept(arg, res.text ? res.text : "", why)) {
        ai_result_release(&res);
        return "rejected";
    }
    out->text = res.text;
    out->source = "model";
    snprintf(out->model, sizeof(out->model), "%s", ai_model_id(e->model));
    out->prompt_tokens = res.prompt_tokens;
    out->generated_tokens = res.generated_tokens;
    out->seconds = secs;
    return NULL;
}

int ai_engine_run(struct ai_engine *e, const struct ai_request *req,
                  int (*accept)(void *arg, const char *text, char *why), void *arg,
                  struct ai_outcome *out, struct fmd_err *err)
{
    struct ai_result res;
    const char *cls = "no_model";
    char why[256] = "no model is configured";
    uint64_t t0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (e->model && !(cls = try_model(e, req, accept, arg, out, why, err)))
        return 0;
    if (!strcmp(cls, "cancelled"))
        return FMD_ECANCELED;   /* nobody wants an answer any more, not even the fallback's */
    memset(err, 0, sizeof(*err));
    count_fallback(req, cls);
    log_info("ai %s: rules fallback (%s)", req->task ? req->task : "?", why);
    t0 = clock_mono_ns();
    rc = ai_complete(e->rules, req, &res, err);
    observe("rules", req, NULL, (double)(clock_mono_ns() - t0) / 1e9);
    if (rc)
        return rc;
    out->text = res.text;
    out->source = "fallback";
    snprintf(out->model, sizeof(out->model), "rules");
    snprintf(out->reason, sizeof(out->reason), "%s", why);
    out->seconds = (double)(clock_mono_ns() - t0) / 1e9;
    return 0;
}

int ai_engine_chat(struct ai_engine *e, const struct ai_request *req, struct ai_result *res,
                   struct fmd_err *err)
{
    uint64_t t0;
    int rc;

    memset(res, 0, sizeof(*res));
    if (!e || !e->model)
        return fmd_errf(err, FMD_EUNAVAIL, "no model is loaded (start formd with --ai-model)");
    t0 = clock_mono_ns();
    rc = ai_complete(e->model, req, res, err);
    observe(e->model->vt->name, req, rc ? NULL : res, (double)(clock_mono_ns() - t0) / 1e9);
    return rc;
}
