/*
 * log.h - JSON-lines logging.
 *
 * One JSON object a line on stderr: {"time","level","msg","request_id",
 * "trace_id", ...extra}. The level is checked before anything is formatted,
 * so a disabled debug line costs one comparison. request_id and trace_id
 * come from the calling thread's context (log_set_context), set by the HTTP
 * layer for the life of a request.
 */
#ifndef FMD_CORE_LOG_H
#define FMD_CORE_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

extern enum log_level log_min_level;

/* "debug", "info", "warn", "error", "off" -> level; -1 if unknown. */
int log_level_parse(const char *s);
/* Sets the thread's request and trace id (copied; NULL clears). */
void log_set_context(const char *request_id, const char *trace_id);

#define log_at(lvl, ...) \
    do { if ((lvl) >= log_min_level) log__write((lvl), NULL, __VA_ARGS__); } while (0)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)
/* extra_json: members to append, already JSON ("\"k\":1,\"s\":\"x\""), or NULL. */
#define log_kv(lvl, extra_json, ...) \
    do { if ((lvl) >= log_min_level) log__write((lvl), (extra_json), __VA_ARGS__); } while (0)

void log__write(enum log_level lvl, const char *extra_json, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
