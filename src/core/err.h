/*
 * err.h - formd's error codes.
 *
 * Functions return int: 0 on success, a negative FMD_E* code on failure.
 * FMD_ERRORS is the one table that gives each code its name, the HTTP status
 * it maps to and a default message; detail travels in a caller-supplied
 * struct fmd_err filled by fmd_errf().
 */
#ifndef FMD_CORE_ERR_H
#define FMD_CORE_ERR_H

#include <stddef.h>

/*     code               name               http  message */
#define FMD_ERRORS(X)                                                          \
    X(FMD_EINVAL,         "invalid",          400, "invalid request")         \
    X(FMD_ENOMEM,         "no_memory",        503, "out of memory")           \
    X(FMD_EUNAUTH,        "unauthorized",     401, "authentication required") \
    X(FMD_EFORBIDDEN,     "forbidden",        403, "not allowed")             \
    X(FMD_ENOTFOUND,      "not_found",        404, "not found")               \
    X(FMD_EMETHOD,        "method_not_allowed", 405, "method not allowed")    \
    X(FMD_ETIMEOUT,       "timeout",          408, "request took too long")   \
    X(FMD_ECONFLICT,      "conflict",         409, "conflict")                \
    X(FMD_EGONE,          "gone",             410, "gone")                    \
    X(FMD_ETOOBIG,        "too_large",        413, "request body too large")  \
    X(FMD_EURI,           "uri_too_long",     414, "request URI too long")    \
    X(FMD_EMEDIA,         "unsupported_media_type", 415, "unsupported media type") \
    X(FMD_EUNPROC,        "unprocessable",    422, "unprocessable content")   \
    X(FMD_ECLOSED,        "form_closed",      409, "form is not accepting submissions") \
    X(FMD_ELIMIT,         "limit_reached",    409, "form has reached its submission limit") \
    X(FMD_EVALIDATION,    "validation",       422, "submission does not match the form") \
    X(FMD_EIDEMPOTENCY,   "idempotency_mismatch", 422, "Idempotency-Key was used with another body") \
    X(FMD_ERATE,          "rate_limited",     429, "too many requests")       \
    X(FMD_EHEADERS,       "headers_too_large", 431, "request headers too large") \
    X(FMD_EIO,            "io",               500, "input/output error")      \
    X(FMD_EDB,            "database",         500, "database error")          \
    X(FMD_EINTERNAL,      "internal",         500, "internal error")          \
    X(FMD_EUNAVAIL,       "unavailable",      503, "service unavailable")     \
    X(FMD_EBUSY,          "busy",             503, "server busy")             \
    X(FMD_ECANCELED,      "cancelled",        409, "cancelled")

enum fmd_errcode {
    FMD_OK = 0,
    FMD__ERR_BASE = -1000,
#define FMD_ERR_ENUM(code, name, http, msg) code,
    FMD_ERRORS(FMD_ERR_ENUM)
#undef FMD_ERR_ENUM
    FMD__ERR_END
};

struct fmd_err {
    int code;       /* 0 or a negative FMD_E* code */
    char msg[256];  /* lowercase, no full stop, subject in quotes */
};

/* Fills err (may be NULL) with code and a printf-style message; returns code. */
int fmd_errf(struct fmd_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The table's name, HTTP status and default message for code. */
const char *fmd_err_name(int code);
int fmd_err_http(int code);
const char *fmd_err_msg(int code);

/* Resets err to success. */
void fmd_err_clear(struct fmd_err *err);

/* Invariant violated: prints where and aborts. Never for bad input. */
#define FMD_BUG(...) fmd__bug(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void fmd__bug(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
