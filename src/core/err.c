/* err.c - the error table and error detail helpers. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/banned.h"

struct err_row {
    int code;
    const char *name;
    int http;
    const char *msg;
};

static const struct err_row rows[] = {
#define FMD_ERR_ROW(code, name, http, msg) {code, name, http, msg},
    FMD_ERRORS(FMD_ERR_ROW)
#undef FMD_ERR_ROW
};

static const struct err_row *row_of(int code)
{
    size_t i;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rows[i].code == code)
            return &rows[i];
    return NULL;
}

const char *fmd_err_name(int code)
{
    const struct err_row *r = row_of(code);
    return code == 0 ? "ok" : r ? r->name : "internal";
}

int fmd_err_http(int code)
{
    const struct err_row *r = row_of(code);
    return code == 0 ? 200 : r ? r->http : 500;
}

const char *fmd_err_msg(int code)
{
    const struct err_row *r = row_of(code);
    return code == 0 ? "ok" : r ? r->msg : "internal error";
}

int fmd_errf(struct fmd_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    if (!err)
        return code;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

void fmd_err_clear(struct fmd_err *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

void fmd__bug(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "BUG %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
