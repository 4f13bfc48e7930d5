/* log.c - JSON-lines logger. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/banned.h"

enum log_level log_min_level = LOG_INFO;

static _Thread_local char ctx_request[64];
static _Thread_local char ctx_trace[64];

static const char *const names[] = {"debug", "info", "warn", "error", "off"};

int log_level_parse(const char *s)
{
    int i;
    for (i = 0; i <= LOG_OFF; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

static void copy_id(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

void log_set_context(const char *request_id, const char *trace_id)
{
    copy_id(ctx_request, sizeof(ctx_request), request_id);
    copy_id(ctx_trace, sizeof(ctx_trace), trace_id);
}

void log__write(enum log_level lvl, const char *extra_json, const char *fmt, ...)
{
    char stamp[CLOCK_RFC3339_LEN], msg[1024];
    struct buf b;
    va_list ap;
    ssize_t w;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    buf_init(&b, 8192);
    buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"",
               clock_rfc3339(clock_wall_ms(), stamp), names[lvl]);
    buf_add_json_str(&b, msg, strlen(msg));
    buf_adds(&b, "\"");
    if (ctx_request[0]) {
        buf_adds(&b, ",\"request_id\":\"");
        buf_add_json_str(&b, ctx_request, strlen(ctx_request));
        buf_adds(&b, "\"");
    }
    if (ctx_trace[0]) {
        buf_adds(&b, ",\"trace_id\":\"");
        buf_add_json_str(&b, ctx_trace, strlen(ctx_trace));
        buf_adds(&b, "\"");
    }
    if (extra_json && *extra_json) {
        buf_addc(&b, ',');
        buf_adds(&b, extra_json);
    }
    buf_adds(&b, "}\n");
    /* One write per line keeps lines whole when threads log at once. */
    w = write(STDERR_FILENO, b.p, b.len);
    (void)w;
    buf_release(&b);
}
