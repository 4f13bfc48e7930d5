/*
 * provider.c - the wrappers every caller goes through (provider.h).
 */
#include "ai/provider.h"

#include <string.h>

#include "core/mem.h"
#include "core/banned.h"

void ai_result_release(struct ai_result *r)
{
    if (r)
        fmd_freez(&r->text);
}

int ai_open(const struct ai_provider_vtable *vt, const char *config, int threads,
            struct ai_provider **out, struct fmd_err *err)
{
    struct ai_provider *p;
    int rc;

    *out = NULL;
    if (!vt || vt->version != 1)
        return fmd_errf(err, FMD_EINVAL, "unknown AI provider interface");
    if (!(p = fmd_calloc(1, sizeof(*p))))
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    p->vt = vt;
    if ((rc = vt->open(p, config, threads, err))) {
        fmd_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int ai_complete(struct ai_provider *p, const struct ai_request *req, struct ai_result *res,
                struct fmd_err *err)
{
    memset(res, 0, sizeof(*res));
    if (!p || !req)
        return fmd_errf(err, FMD_EINVAL, "no provider or request");
    return p->vt->complete(p, req, res, err);
}

void ai_close(struct ai_provider *p)
{
    if (!p)
        return;
    p->vt->close(p);
    fmd_free(p);
}

const char *ai_model_id(struct ai_provider *p)
{
    return p ? p->vt->model_id(p) : "";
}
