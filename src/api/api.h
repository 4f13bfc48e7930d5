/*
 * api.h - what the resource handlers share: the application context,
 * authentication and roles, database access, and the write-then-answer
 * pattern over the group commit.
 *
 * Handlers are one file per resource (projects.c, forms.c, ...). Each reads
 * through a pooled read connection (api_db) and writes through the writer
 * (api_write), so every 2xx for a write is sent after the commit's fsync.
 */
#ifndef FMD_API_API_H
#define FMD_API_API_H

#include <jansson.h>

#include "core/config.h"
#include "db/db.h"
#include "db/pool.h"
#include "db/writer.h"
#include "http/http.h"
#include "queue/worker.h"

struct duck;
struct ai_engine;
struct store_elector;

struct app {
    struct config *cfg;
    struct duck *analytics;       /* the analytics database (DuckDB), or NULL */
    struct ai_engine *ai;         /* the AI providers, or NULL */
    struct db_pool *pool;
    struct db_writer *writer;
    struct http_server *server;
    struct queue_pool *workers;   /* NULL with --workers 0 */
    /* PostgreSQL: analytics live on one elected node and the others forward
     * analytics requests to it (api_forward_analytics); this process's
     * lease, NULL when it never stands (--analytics-node=never). */
    int analytics_elected;
    const struct store_elector *analytics_lease;
    int64_t started_ms;
};

/* Registers formd's metric families; call once before serving. 0 or FMD_ENOMEM. */
int api_metrics_init(void);
/* The HTTP server's per-request observer (http_server_opts.observe). */
void api_observe_request(const char *route, const char *method, int status, double seconds);
/* The writer's per-commit observer. */
void api_observe_commit(int batch, double seconds);

enum role { ROLE_NONE = 0, ROLE_VIEWER, ROLE_REVIEWER, ROLE_EDITOR, ROLE_ADMIN };

const char *role_name(enum role r);
/* "admin" -> ROLE_ADMIN; ROLE_NONE when unknown. */
enum role role_parse(const char *s);

#define PRINCIPAL_MAX_GRANTS 16

struct grant {
    char project_id[ID_LEN + 1];   /* "" means every project */
    enum role role;
};

struct principal {
    enum { PRINCIPAL_KEY = 1, PRINCIPAL_SESSION } kind;
    char id[ID_LEN + 1];           /* key id or user id */
    char name[128];                /* key name or user email */
    char session_hash[65];
    char session_id[ID_LEN + 1];   /* the login session's id, "" for a key */
    int64_t expires_at;            /* a key's expiry (Unix ms), 0: never or a session */
    struct grant grants[PRINCIPAL_MAX_GRANTS];
    int ngrants;
};

/*
 * Authenticates the request's bearer token. On failure answers 401 itself
 * and returns NULL; the principal lives in the request arena.
 */
struct principal *api_auth(struct http_req *req);
/* The caller's role on project_id ("" for a global role only). */
enum role api_role_on(const struct principal *p, const char *project_id);
/*
 * Checks the caller holds at least `need` on project_id. Answers 404 "no
 * such <what>" when the caller has no role there at all, word for word the
 * answer for an id that does not exist, so existence stays hidden; 403 when
 * the role is too low; returns 0 when allowed.
 */
int api_require(struct http_req *req, const struct principal *p, const char *project_id,
                enum role need, const char *what);
/* Answers 404 "no such <what>". */
void api_not_found(struct http_req *req, const char *what);

struct store_form;
/*
 * Loads the form named by the first path parameter into f and checks the
 * caller holds `need` on its project: 0, or answered (404 / 403).
 */
int api_load_form(struct http_req *req, struct principal *pr, enum role need,
                  struct store_form *f);

/* A read connection for this request, returned to the pool when it ends. */
struct db *api_db(struct http_req *req);

/*
 * Suspends req, runs fn(db, arg) in the next group commit, and once it is
 * durable (or failed) resumes req and runs cont. In cont, api_write_result
 * gives fn's result and error detail. A committed write also wakes the task
 * workers, since it may have enqueued tasks (webhook deliveries, ...).
 */
void api_write(struct http_req *req, db_write_fn fn, void *arg, http_handler cont);
int api_write_result(struct http_req *req, const struct fmd_err **err);
/* In a continuation: 1 (and the problem answered) if the write failed, else 0. */
int api_write_failed(struct http_req *req);
/* A continuation for writes whose success is a bare 204. */
void api_answer_no_content(struct http_req *req);
void *api_write_arg(struct http_req *req);

/*
 * The audit log (audit.c). Every non-GET request that is not a public one
 * leaves one row: a write's row goes in the same transaction as the change
 * (api_write), other answers' rows (denied, failed, changed nothing) are
 * queued to the writer as the request ends. The action ("form.publish"),
 * target and project come from the route, the ids in the path and the
 * project api_require checked; a handler names what the path cannot.
 */
struct api_audit_ctx {
    const struct principal *who;   /* NULL: not (yet) authenticated */
    const char *actor_kind, *actor_id, *actor_name;  /* set without a principal */
    const char *action;            /* NULL: derived from the route */
    const char *target_type, *target_id, *project_id;
    char client[48];               /* "" until api__audit_prepare */
    int written;                   /* the row went in with the change */
};
/* Names the request's target (a new object's id, say); strings are copied. */
void api_audit_target(struct http_req *req, const char *type, const char *id);
/* Names the action when the route's name would not say it well; copied. */
void api_audit_action(struct http_req *req, const char *action);
/* Names the request's project, when the handler knows it; copied. */
void api_audit_project(struct http_req *req, const char *project_id);
/* Names an actor without a principal (a login); strings are copied. */
void api_audit_actor(struct http_req *req, const char *kind, const char *id, const char *name);
/* Internal to the api layer: the request's context (made on first use), or NULL (no memory). */
struct api_audit_ctx *api__audit(struct http_req *req);
/* api__audit, plus the client's address: only requests that may write a row pay for it. */
void api__audit_prepare(struct http_req *req);
/* In a write job, after its change: appends the row there. 0 or FMD_E*. */
int api__audit_in_write(struct http_req *req, struct db *db, int no_content,
                        struct fmd_err *err);
/* Back from a write: counts a written row, or forgets it if the commit failed. */
void api__audit_written(struct http_req *req, int rc);
/* As the request ends: queues the row of a request that wrote none. */
void api__audit_finish(struct http_req *req);
/* Registers formd_audit_events_total: 0 or FMD_ENOMEM. */
int api__audit_metrics_init(void);

/* Body helpers: parse the JSON object body or answer 400 and return NULL. */
json_t *api_body_object(struct http_req *req);
/* Rejects members of obj not in the NULL-terminated list: 0 or answered 400. */
int api_only_members(struct http_req *req, const json_t *obj, const char *const *allowed);
/* ?limit= within 1..200 (default 50): 0, or answered 400. */
int api_limit(struct http_req *req, int *limit);
/* ?cursor=, NULL when absent, or answered 400 when not one we gave out. */
int api_cursor(struct http_req *req, const char **cursor);

/* An RFC 3339 member of body into *ms (absent or null: 0): 0, or answered 400. */
int api_time_member(struct http_req *req, const json_t *body, const char *name, int64_t *ms);

struct store_key;
/*
 * Records, off the request's path, that key was used at now: at most once a
 * minute per key, through the writer without waiting (keys.c).
 */
void api__key_used(struct http_req *req, const struct store_key *key, int64_t now);

/* 1 if s is a display name: 1..200 bytes, no control characters. */
int api__valid_name(const char *s);

/* ---- limits.c: rate limits, login throttling, quotas, fill tokens ---- */

enum rate_class { RATE_NONE = -1, RATE_PUBLIC, RATE_LOGIN, RATE_MANAGEMENT, RATE_AI,
                  RATE_NCLASS };

/*
 * Reads the rate options of cfg (FMD_EINVAL naming a bad one) and makes the
 * tables; fill_secret (the database's, may be NULL: a random key for this
 * process only) keys the fill tokens. Registers the metrics: call after
 * api_metrics_init. Release with api_limits_release.
 */
int api_limits_init(const struct config *cfg, const char *fill_secret, struct fmd_err *err);
void api_limits_release(void);
/* The route's class (by its pattern); RATE_NONE for health, metrics and docs. */
enum rate_class api_rate_class(const struct http_route *route);
/* The client's address (the peer, or X-Forwarded-For behind a trusted proxy). */
void api_client_address(struct http_req *req, char *out, size_t cap);
/* The server's admission hook: the address limits of public and login routes. */
int api_admit(struct http_req *req);
/* Spends from the route class's bucket of a principal / of the client address: 0, or 429. */
int api_rate_principal(struct http_req *req, const char *principal_id);
int api_rate_address(struct http_req *req);
/* Answers 429 with Retry-After (wait_ms rounded up to seconds). */
void api_too_many(struct http_req *req, int64_t wait_ms, const char *detail);
/*
 * Login throttling, per account (the email, trimmed, lowercased, whether or
 * not such a user exists) and per address: 0, or answered 429.
 */
int api_login_throttled(struct http_req *req, const char *email);
void api_login_failed(struct http_req *req, const char *email);
void api_login_succeeded(struct http_req *req, const char *email);
/* Takes one submission of a form's per-minute quota: 0, or the ms until there is room. */
int64_t api_quota_minute(const char *form_id, int64_t per_minute);
/* Counts one spam submission in formd_spam_submissions_total. */
void api_count_spam(void);
#define API_FILL_TOKEN_MAX 80
/* A new fill token for the public form slug. */
void api_fill_token(const char *slug, char out[API_FILL_TOKEN_MAX]);
/* 0 and *age_ms when token is one this server's key made for slug (and < 24 h old), else -1. */
int api_fill_token_age(const char *slug, const char *token, int64_t *age_ms);

/* Handlers, one group per resource file. */
void api_login(struct http_req *req);
void api_logout(struct http_req *req);
void api_me(struct http_req *req);
void api_key_create(struct http_req *req);
void api_key_list(struct http_req *req);
void api_key_revoke(struct http_req *req);
void api_session_list(struct http_req *req);
void api_session_delete(struct http_req *req);
void api_project_create(struct http_req *req);
void api_project_list(struct http_req *req);
void api_project_get(struct http_req *req);
void api_form_create(struct http_req *req);
void api_form_list(struct http_req *req);
void api_form_get(struct http_req *req);
void api_form_patch(struct http_req *req);
void api_form_put_draft(struct http_req *req);
void api_form_publish(struct http_req *req);
void api_public_form_get(struct http_req *req);
void api_public_submit(struct http_req *req);
void api_submission_list(struct http_req *req);
void api_submission_get(struct http_req *req);
void api_submission_patch(struct http_req *req);
void api_submission_history(struct http_req *req);
void api_submission_delete(struct http_req *req);
void api_submission_restore(struct http_req *req);
void api_submission_purge(struct http_req *req);
void api_healthz(struct http_req *req);
void api_readyz(struct http_req *req);
void api_metrics(struct http_req *req);
void api_openapi(struct http_req *req);
/*
 * At the top of the handlers that need the analytics database: 0 when this
 * process answers (it is the analytics node, or analytics are not elected:
 * SQLite); else 1, the request answered by forwarding it to the analytics
 * node (the caller's Authorization passed on, for it to check) or 503 with
 * Retry-After when there is none.
 */
int api_forward_analytics(struct http_req *req);
void api_analytics_query(struct http_req *req);
/* How far analytics lags the operational store (and the lag gauge set). */
int api_analytics_lag(struct http_req *req, int64_t *lag_ms, struct fmd_err *err);
void api_form_analytics(struct http_req *req);
void api_export_create(struct http_req *req);
void api_ai_extract(struct http_req *req);
void api_ai_ocr(struct http_req *req);
void api_ai_classify(struct http_req *req);
void api_ai_generate_form(struct http_req *req);
void api_ai_summarize(struct http_req *req);
void api_ai_chat_completions(struct http_req *req);
void api_ai_models(struct http_req *req);
void api_export_get(struct http_req *req);
void api_export_download(struct http_req *req);
void api_webhook_create(struct http_req *req);
void api_webhook_list(struct http_req *req);
void api_webhook_get(struct http_req *req);
void api_webhook_delete(struct http_req *req);
void api_webhook_deliveries(struct http_req *req);
void api_task_get(struct http_req *req);
void api_task_list(struct http_req *req);
void api_task_retry(struct http_req *req);
void api_task_cancel(struct http_req *req);
void api_queue_list(struct http_req *req);
void api_queue_pause(struct http_req *req);
void api_queue_resume(struct http_req *req);
void api_audit_list(struct http_req *req);
void api_audit_export(struct http_req *req);

#endif
