/*
 * main.c - formd's subcommands (git-style) and the route table.
 *
 * Each subcommand is one function in the commands[] table; serve wires the
 * HTTP routes, the database and the writer together. Nothing else lives here.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analytics/analytics.h"
#include "analytics/etl.h"
#include "analytics/export.h"
#include "ai/engine.h"
#include "ai/openai.h"
#include "ai/mkmodel.h"
#include "ai/ocr.h"
#include "api/api.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/rand.h"
#include "db/backup.h"
#include "db/lock.h"
#include "db/migrate.h"
#include "db/pool.h"
#include "db/writer.h"
#include "http/http.h"
#include "metrics/metrics.h"
#include "schema/validate.h"
#include "security/password.h"
#include "security/token.h"
#include "store/audit.h"
#include "store/auth.h"
#include "store/form_cache.h"
#include "store/forms.h"
#include "store/sensitive.h"
#include "tasks/rotate.h"
#include "store/leases.h"
#include "tasks/tasks.h"
#include "store/schema_cache.h"
#include "store/submissions.h"
#include "core/banned.h"

#ifndef FORMD_VERSION
#define FORMD_VERSION "0.1.0"
#endif

/*
 * The route table's last two columns: who may call the route and what its
 * first path parameter names (enum http_access, enum http_object).
 * `formd routes --json` prints them; tests/e2e/test_authz_matrix.py holds
 * every handler to them.
 */
#define A_PUBLIC HTTP_ACCESS_PUBLIC
#define A_ANY HTTP_ACCESS_ANY
#define A_VIEWER HTTP_ACCESS_VIEWER
#define A_REVIEWER HTTP_ACCESS_REVIEWER
#define A_EDITOR HTTP_ACCESS_EDITOR
#define A_ADMIN HTTP_ACCESS_ADMIN
#define A_GLOBAL HTTP_ACCESS_GLOBAL_ADMIN
#define O_NONE HTTP_OBJECT_NONE
#define O_PROJECT HTTP_OBJECT_PROJECT
#define O_FORM HTTP_OBJECT_FORM
#define O_SUBMISSION HTTP_OBJECT_SUBMISSION
#define O_WEBHOOK HTTP_OBJECT_WEBHOOK
#define O_EXPORT HTTP_OBJECT_EXPORT
#define O_TASK HTTP_OBJECT_TASK
#define O_QUEUE HTTP_OBJECT_QUEUE
#define O_KEY HTTP_OBJECT_KEY
#define O_SESSION HTTP_OBJECT_SESSION

static const struct http_route routes[] = {
    {HTTP_POST, "/v1/auth/login", api_login, "Log in with email and password", A_PUBLIC, O_NONE},
    {HTTP_POST, "/v1/auth/logout", api_logout, "End the current login session", A_ANY, O_NONE},
    {HTTP_GET, "/v1/me", api_me, "Who the caller is", A_ANY, O_NONE},
    {HTTP_POST, "/v1/keys", api_key_create, "Create an API key (shown once)", A_ADMIN, O_NONE},
    {HTTP_GET, "/v1/keys", api_key_list, "List API keys, without their secrets", A_ADMIN, O_NONE},
    {HTTP_DELETE, "/v1/keys/{}", api_key_revoke, "Revoke an API key", A_ADMIN, O_KEY},
    {HTTP_GET, "/v1/sessions", api_session_list, "List login sessions", A_ANY, O_NONE},
    {HTTP_DELETE, "/v1/sessions/{}", api_session_delete, "End a login session", A_ANY, O_SESSION},
    {HTTP_POST, "/v1/projects", api_project_create, "Create a project", A_GLOBAL, O_NONE},
    {HTTP_GET, "/v1/projects", api_project_list, "List projects", A_ANY, O_NONE},
    {HTTP_GET, "/v1/projects/{}", api_project_get, "Get a project", A_VIEWER, O_PROJECT},
    {HTTP_POST, "/v1/projects/{}/forms", api_form_create, "Create a form", A_EDITOR, O_PROJECT},
    {HTTP_GET, "/v1/projects/{}/forms", api_form_list, "List a project's forms", A_VIEWER, O_PROJECT},
    {HTTP_GET, "/v1/forms/{}", api_form_get, "Get a form with its versions", A_VIEWER, O_FORM},
    {HTTP_PATCH, "/v1/forms/{}", api_form_patch, "Rename, open, close or limit a form", A_EDITOR, O_FORM},
    {HTTP_PUT, "/v1/forms/{}/draft", api_form_put_draft, "Replace the draft definition", A_EDITOR, O_FORM},
    {HTTP_POST, "/v1/forms/{}/publish", api_form_publish, "Publish the draft", A_EDITOR, O_FORM},
    {HTTP_GET, "/v1/forms/{}/submissions", api_submission_list, "List submissions", A_VIEWER, O_FORM},
    {HTTP_GET, "/v1/public/forms/{}", api_public_form_get, "Published form definition", A_PUBLIC, O_FORM},
    {HTTP_POST, "/v1/public/forms/{}/submissions", api_public_submit, "Submit to a form", A_PUBLIC, O_FORM},
    {HTTP_GET, "/v1/submissions/{}", api_submission_get, "Get a submission", A_VIEWER, O_SUBMISSION},
    {HTTP_PATCH, "/v1/submissions/{}", api_submission_patch, "Review or edit a submission", A_REVIEWER, O_SUBMISSION},
    {HTTP_DELETE, "/v1/submissions/{}", api_submission_delete, "Soft-delete a submission", A_REVIEWER, O_SUBMISSION},
    {HTTP_GET, "/v1/submissions/{}/history", api_submission_history, "Edit history", A_VIEWER, O_SUBMISSION},
    {HTTP_POST, "/v1/submissions/{}/restore", api_submission_restore, "Restore a submission", A_REVIEWER, O_SUBMISSION},
    {HTTP_POST, "/v1/submissions/{}/purge", api_submission_purge, "Delete for good", A_ADMIN, O_SUBMISSION},
    {HTTP_POST, "/v1/forms/{}/webhooks", api_webhook_create, "Add a webhook to a form", A_EDITOR, O_FORM},
    {HTTP_GET, "/v1/forms/{}/webhooks", api_webhook_list, "A form's webhooks", A_VIEWER, O_FORM},
    {HTTP_GET, "/v1/webhooks/{}", api_webhook_get, "Get a webhook", A_VIEWER, O_WEBHOOK},
    {HTTP_DELETE, "/v1/webhooks/{}", api_webhook_delete, "Delete a webhook", A_EDITOR, O_WEBHOOK},
    {HTTP_GET, "/v1/webhooks/{}/deliveries", api_webhook_deliveries, "Delivery attempts", A_VIEWER, O_WEBHOOK},
    {HTTP_GET, "/v1/forms/{}/analytics", api_form_analytics, "A form's summary and field statistics", A_VIEWER, O_FORM},
    {HTTP_POST, "/v1/forms/{}/exports", api_export_create, "Export a form's submissions", A_VIEWER, O_FORM},
    {HTTP_GET, "/v1/exports/{}", api_export_get, "An export's state", A_VIEWER, O_EXPORT},
    {HTTP_GET, "/v1/exports/{}/download", api_export_download, "Download an export", A_VIEWER, O_EXPORT},
    {HTTP_POST, "/v1/analytics/query", api_analytics_query, "Read-only SQL over analytics", A_GLOBAL, O_NONE},
    {HTTP_POST, "/v1/forms/{}/ai/extract", api_ai_extract, "Draft a submission from free text", A_EDITOR, O_FORM},
    {HTTP_POST, "/v1/forms/{}/ai/ocr", api_ai_ocr, "Draft a submission from a scanned page", A_EDITOR, O_FORM},
    {HTTP_POST, "/v1/forms/{}/ai/classify", api_ai_classify, "Classify a submission", A_EDITOR, O_FORM},
    {HTTP_POST, "/v1/forms/{}/ai/summarize", api_ai_summarize, "Summarise a form's text answers", A_EDITOR, O_FORM},
    {HTTP_POST, "/v1/ai/generate-form", api_ai_generate_form, "Draft a form from a description", A_EDITOR, O_NONE},
    {HTTP_POST, "/v1/ai/chat/completions", api_ai_chat_completions, "A chat completion by the loaded model (OpenAI format)", A_EDITOR, O_NONE},
    {HTTP_GET, "/v1/ai/models", api_ai_models, "The model that answers chat completions", A_ANY, O_NONE},
    {HTTP_GET, "/v1/tasks", api_task_list, "List tasks", A_GLOBAL, O_NONE},
    {HTTP_GET, "/v1/tasks/{}", api_task_get, "Get a task", A_VIEWER, O_TASK},
    {HTTP_POST, "/v1/tasks/{}/retry", api_task_retry, "Run a task again", A_EDITOR, O_TASK},
    {HTTP_POST, "/v1/tasks/{}/cancel", api_task_cancel, "Cancel a task", A_EDITOR, O_TASK},
    {HTTP_GET, "/v1/queues", api_queue_list, "Queues with their depths", A_GLOBAL, O_NONE},
    {HTTP_POST, "/v1/queues/{}/pause", api_queue_pause, "Pause a queue", A_GLOBAL, O_QUEUE},
    {HTTP_POST, "/v1/queues/{}/resume", api_queue_resume, "Resume a queue", A_GLOBAL, O_QUEUE},
    {HTTP_GET, "/v1/audit", api_audit_list, "The audit log, newest first", A_ADMIN, O_NONE},
    {HTTP_GET, "/v1/audit/export", api_audit_export, "The audit log as JSON Lines", A_ADMIN, O_NONE},
    {HTTP_GET, "/healthz", api_healthz, "Liveness", A_PUBLIC, O_NONE},
    {HTTP_GET, "/readyz", api_readyz, "Readiness", A_PUBLIC, O_NONE},
    {HTTP_GET, "/metrics", api_metrics, "Prometheus metrics", A_PUBLIC, O_NONE},
    {HTTP_GET, "/openapi.json", api_openapi, "This API's OpenAPI description", A_PUBLIC, O_NONE},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static int die(const struct fmd_err *err)
{
    fprintf(stderr, "formd: %s\n", err->msg[0] ? err->msg : fmd_err_msg(err->code));
    return 1;
}

/* Makes the data directory (0700) if needed and the database target in it. */
static int data_target(const struct config *cfg, char *out, size_t cap, struct fmd_err *err)
{
    /* With a database URL too: analytics, exports and keys live in the data directory. */
    if (mkdir(cfg->data_dir, 0700) && errno != EEXIST)
        return fmd_errf(err, FMD_EIO, "cannot create data directory '%s': %s", cfg->data_dir,
                        strerror(errno));
    if (cfg->db_url && *cfg->db_url) {
        if (fmd_strlcpy(out, cfg->db_url, cap) >= cap)
            return fmd_errf(err, FMD_EINVAL, "database URL is too long");
        return 0;
    }
    if ((size_t)snprintf(out, cap, "%s/formd.db", cfg->data_dir) >= cap)
        return fmd_errf(err, FMD_EINVAL, "data directory path is too long");
    return 0;
}

/* Loads options (and the subcommand's own flags) and opens a migrated database. */
static int open_db(struct config *cfg, int argc, char **argv, int first,
                   struct config_extra *extras, int migrate, struct db **db, char *target,
                   size_t cap, struct fmd_err *err)
{
    int rc;
    int level;

    *db = NULL;
    if ((rc = config_load(cfg, argc, argv, first, extras, err)))
        return rc;
    if ((level = log_level_parse(cfg->log_level)) < 0)
        return fmd_errf(err, FMD_EINVAL, "option 'log-level': '%s' is not one of debug, info, "
                                         "warn, error, off", cfg->log_level);
    log_min_level = (enum log_level)level;
    if ((rc = data_target(cfg, target, cap, err)) || (rc = db_open(target, 0, db, err)))
        return rc;
    if (migrate && (rc = migrate_up(*db, -1, err))) {
        db_close(*db);
        *db = NULL;
    }
    return rc;
}

/* ---- audit rows of command-line actions ---- */

/* A CLI row's detail, made from v (stolen): a heap string, or NULL. */
static char *cli_detail(json_t *v)
{
    char *s = v ? json_encode(v) : NULL;
    json_decref(v);
    return s;
}

/*
 * The row of an action that failed (its change rolled back), best effort:
 * the database may be the very thing that failed.
 */
static void cli_audit_failed(struct db *db, const char *action, const char *target_type,
                             const char *target_id, const char *detail)
{
    struct fmd_err e2 = {0};
    if (db && store_audit_cli(db, action, target_type, target_id, 1, detail, &e2))
        fprintf(stderr, "formd: the audit log did not take the failure: %s\n", e2.msg);
}

/* ---- formd admin ---- */

struct key_made {
    char key[TOKEN_KEY_LEN + 1];
    char id[ID_LEN + 1];
};

static int make_key(struct db *db, const char *name, const char *role, const char *project,
                    int64_t expires_at, struct key_made *k, struct fmd_err *err)
{
    char prefix[TOKEN_PREFIX_LEN + 1], hash[TOKEN_HASH_HEX];
    int rc;

    if (role_parse(role) == ROLE_NONE)
        return fmd_errf(err, FMD_EINVAL, "role '%s' is not admin, editor, reviewer or viewer",
                        role);
    if (project && *project && (rc = store_project_exists(db, project, err)) != 1)
        return rc < 0 ? rc : fmd_errf(err, FMD_ENOTFOUND, "no project '%s'", project);
    token_new_key(k->key, prefix);
    token_hash(k->key, hash);
    id_new(k->id);
    return store_key_create(db, k->id, prefix, hash, name, role, project, expires_at, err);
}

/* "90d", "12h", "30m", "45s" or plain seconds into ms: 0, or FMD_EINVAL. */
static int parse_duration(const char *s, int64_t *ms, struct fmd_err *err)
{
    static const struct { char unit; int64_t ms; } units[] = {
        {'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}, {'w', 604800000}};
    char *end;
    long long v;
    size_t i;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || v <= 0 || v > 100000 || (*end && end[1]))
        goto bad;
    if (!*end) {
        *ms = (int64_t)v * 1000;
        return 0;
    }
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (*end == units[i].unit) {
            *ms = (int64_t)v * units[i].ms;
            return 0;
        }
bad:
    return fmd_errf(err, FMD_EINVAL, "duration '%s' is not a positive number followed by "
                                     "s, m, h, d or w (e.g. 90d)", s);
}

static int cmd_admin_create_key(int argc, char **argv)
{
    struct config_extra x[] = {{"name", NULL, 0}, {"role", NULL, 0}, {"project", NULL, 0},
                               {"expires-in", NULL, 0}, {NULL, NULL, 0}};
    struct config cfg;
    struct fmd_err err = {0};
    struct key_made k;
    struct db *db;
    char target[4096];
    int64_t ttl = 0;
    int rc;

    config_init(&cfg);
    rc = open_db(&cfg, argc, argv, 3, x, 1, &db, target, sizeof(target), &err);
    if (!rc && (!x[0].value || !x[1].value))
        rc = fmd_errf(&err, FMD_EINVAL, "usage: formd admin create-key --name NAME "
                                        "--role admin|editor|reviewer|viewer [--project PID] "
                                        "[--expires-in DURATION, e.g. 90d]");
    if (!rc && x[3].value)
        rc = parse_duration(x[3].value, &ttl, &err);
    if (!rc) {
        /* The key and its audit row commit together. */
        char *detail = cli_detail(json_pack("{s:s, s:s, s:s?, s:s?}", "name", x[0].value, "role",
                                            x[1].value, "project", x[2].value, "expires_in",
                                            x[3].value));
        if (!(rc = db_begin(db, &err)) &&
            !(rc = make_key(db, x[0].value, x[1].value, x[2].value,
                            ttl ? clock_wall_ms() + ttl : 0, &k, &err)) &&
            !(rc = store_audit_cli(db, "key.create", "key", k.id, 0, detail, &err)))
            rc = db_commit(db, &err);
        if (rc) {
            db_rollback(db);
            cli_audit_failed(db, "key.create", "key", NULL, detail);
        }
        fmd_free(detail);
    }
    if (!rc)
        printf("%s\n", k.key);
    db_close(db);
    config_release(&cfg);
    return rc ? die(&err) : 0;
}

static int cmd_admin_revoke_key(int argc, char **argv)
{
    struct config_extra x[] = {{"key", NULL, 0}, {NULL, NULL, 0}};
    struct config cfg;
    struct fmd_err err = {0};
    struct db *db;
    char target[4096], prefix[TOKEN_PREFIX_LEN + 1];
    const char *which;
    int rc;

    config_init(&cfg);
    rc = open_db(&cfg, argc, argv, 3, x, 1, &db, target, sizeof(target), &err);
    if (!rc && !x[0].value)
        rc = fmd_errf(&err, FMD_EINVAL, "usage: formd admin revoke-key --key KEY|PREFIX|ID");
    if (!rc && token_key_check(x[0].value, prefix) == TOKEN_KEY_BAD_CHECK)
        rc = fmd_errf(&err, FMD_EINVAL, "the key's checksum does not match: it was mistyped "
                                        "or cut short (its prefix or id names it too)");
    if (!rc) {
        /* A whole key, its prefix or its id all name it; a key is never echoed. */
        which = token_key_prefix(x[0].value, prefix) ? prefix : x[0].value;
        if (!(rc = db_begin(db, &err)) && !(rc = store_key_revoke(db, which, &err)) &&
            !(rc = store_audit_cli(db, "key.revoke", "key", which, 0, NULL, &err)))
            rc = db_commit(db, &err);
        if (rc) {
            db_rollback(db);
            cli_audit_failed(db, "key.revoke", "key", which, NULL);
        }
    }
    if (!rc)
        fprintf(stderr, "formd: key revoked\n");
    db_close(db);
    config_release(&cfg);
    return rc ? die(&err) : 0;
}

/* One key as a line of list-keys: id, prefix, name, role, project, times. */
static void print_key_line(json_t *k)
{
    static const char *const cols[] = {"id", "prefix", "role", "project_id", "created_at",
                                       "expires_at", "last_used_at", "revoked_at", NULL};
    const char *const *c;
    for (c = cols; *c; c++) {
        const char *v = json_string_value(json_object_get(k, *c));
        printf("%s\t", v ? v : "-");
    }
    printf("%s\n", json_string_value(json_object_get(k, "name")));
}

/* formd admin list-keys [--project PID]: every key, newest first, never a secret. */
static int cmd_admin_list_keys(int argc, char **argv)
{
    struct config_extra x[] = {{"project", NULL, 0}, {NULL, NULL, 0}};
    struct config cfg;
    struct fmd_err err = {0};
    struct db *db = NULL;
    char target[4096], cursor[ID_LEN + 1] = "";
    json_t *page = NULL, *item;
    size_t i;
    int rc;

    config_init(&cfg);
    rc = open_db(&cfg, argc, argv, 3, x, 1, &db, target, sizeof(target), &err);
    if (!rc)
        printf("id\tprefix\trole\tproject_id\tcreated_at\texpires_at\tlast_used_at\t"
               "revoked_at\tname\n");
    while (!rc && !(rc = store_key_list(db, x[0].value, cursor[0] ? cursor : NULL, 200, &page,
                                        &err))) {
        const char *next = json_string_value(json_object_get(page, "next_cursor"));
        json_array_foreach(json_object_get(page, "items"), i, item)
            print_key_line(item);
        if (next)
            fmd_strlcpy(cursor, next, sizeof(cursor));
        json_decref(page);
        if (!next)
            break;
    }
    db_close(db);
    config_release(&cfg);
    return rc ? die(&err) : 0;
}

/*
 * Enqueues security.rotate_key for the server's workers and prints its id:
 * they re-seal every sensitive value under the key file's last key.
 */
static int cmd_admin_rotate_key(int argc, char **argv)
{
    struct config cfg;
    struct fmd_err err = {0};
    struct db *db;
    char target[4096], id[ID_LEN + 1];
    int rc;

    config_init(&cfg);
    rc = open_db(&cfg, argc, argv, 3, NULL, 1, &db, target, sizeof(target), &err);
    if (!rc)
        rc = tasks_rotate_key_enqueue(db, id, &err);
    if (!rc) {
        printf("%s\n", id);
        fprintf(stderr, "formd: task %s re-seals sensitive values under the key file's last "
                        "key (GET /v1/tasks/%s); once it has completed, older keys can be "
                        "removed from the file\n", id, id);
    }
    db_close(db);
    config_release(&cfg);
    return rc ? die(&err) : 0;
}

static int read_password(const char *file, char *out, size_t cap, struct fmd_err *err)
{
    FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
    if (!f)
        return fmd_errf(err, FMD_EINVAL, "cannot open '%s': %s", file, strerror(errno));
    if (!fgets(out, (int)cap, f))
        out[0] = '\0';
    if (f != stdin)
        fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

static int cmd_admin_create_user(int argc, char **argv)
{
    struct config_extra x[] = {{"email", NULL, 0}, {"password-file", NULL, 0}, {"role", NULL, 0},
                               {"project", NULL, 0}, {NULL, NULL, 0}};
    struct config cfg;
    struct fmd_err err = {0};
    struct db *db = NULL;
    char target[4096], pw[PASSWORD_MAX_LEN + 2], hash[PASSWORD_HASH_MAX], id[ID_LEN + 1];
    const char *email, *role;
    int rc;

    config_init(&cfg);
    rc = open_db(&cfg, argc, argv, 3, x, 1, &db, target, sizeof(target), &err);
    email = x[0].value;
    role = x[2].value;
    if (!rc && (!email || !x[1].value || !role))
        rc = fmd_errf(&err, FMD_EINVAL,
                      "usage: formd admin create-user --email EMAIL --password-file FILE|- "
                      "--role admin|editor|reviewer|viewer [--project PID]");
    if (!rc && (!strchr(email, '@') || strlen(email) > 254))
        rc = fmd_errf(&err, FMD_EINVAL, "'%s' is not an email address", email);
    if (!rc && role_parse(role) == ROLE_NONE)
        rc = fmd_errf(&err, FMD_EINVAL, "role '%s' is not admin, editor, reviewer or viewer", role);
    if (!rc && x[3].value && (rc = store_project_exists(db, x[3].value, &err)) != 1)
        rc = rc < 0 ? rc : fmd_errf(&err, FMD_ENOTFOUND, "no project '%s'", x[3].value);
    else if (rc == 1)
        rc = 0;
    if (!rc)
        rc = read_password(x[1].value, pw, sizeof(pw), &err);
    if (!rc)
        rc = password_hash(pw, hash, &err);
    sodium_memzero(pw, sizeof(pw));
    if (!rc) {
        id_new(id);
        rc = db_begin(db, &err);
        if (!rc && !(rc = store_user_create(db, id, email, hash, &err)) &&
            !(rc = store_grant_add(db, id, x[3].value, role, &err)) &&
            !(rc = store_audit_cli(db, "user.create", "user", id, 0, NULL, &err)))
            rc = db_commit(db, &err);
        if (rc) {
            db_rollback(db);
            cli_audit_failed(db, "user.create", "user", NULL, NULL);
        }
    }
    if (!rc)
        printf("%s\n", id);
    db_close(db);
    config_release(&cfg);
    return rc ? die(&err) : 0;
}

/* ---- formd migrate ---- */

static int cmd_migrate(int argc, char **argv)
{
    struct config_extra x[] = {{"to", NULL, 0}, {NULL, NULL, 0}};
    struct config cfg;
    struct fmd_err err = {0};
    struct db *db = NULL;
    char target[4096];
    const char *action = argc > 2 ? argv[2] : "";
    int rc, cur = 0, from = 0, to;

    config_init(&cfg);
    if (strcmp(action, "up") && strcmp(action, "down") && strcmp(action, "status")) {
        fprintf(stderr, "usage: formd migrate up|down|status [--to VERSION] [--data-dir DIR]\n"
                        "  (down without --to reverts the newest migration only)\n");
        config_release(&cfg);
        return 2;
    }
    rc = open_db(&cfg, argc, argv, 3, x, 0, &db, target, sizeof(target), &err);
    to = x[0].value ? (int)strtol(x[0].value, NULL, 10) : -1;
    if (!rc && x[0].value && (to < 0 || to > db_migrations[db_migrations_count - 1].version))
        rc = fmd_errf(&err, FMD_EINVAL, "--to must be a version from 0 to %d",
                      db_migrations[db_migrations_count - 1].version);
    if (!rc && strcmp(action, "status"))
        rc = migrate_current(db, &from, &err);
    if (!rc && !strcmp(action, "up"))
        rc = migrate_up(db, to, &err);
    else if (!rc && !strcmp(action, "down")) {
        /* Without --to, one step back (the newest migration): going to 0 drops every
         * table, data and all, and is asked for by name (--to 0). */
        if (!x[0].value && !(rc = migrate_current(db, &cur, &err)))
            to = cur > 0 ? cur - 1 : 0;
        if (!rc)
            rc = migrate_down(db, to, &err);
    }
    if (!rc)
        rc = migrate_current(db, &cur, &err);
    if (!rc && strcmp(action, "status") && cur != from) {
        /* Best effort: below migration 12 there is no audit log to write to. */
        struct fmd_err e2 = {0};
        char *detail = cli_detail(json_pack("{s:i, s:i}", "from", from, "to", cur));
        if (store_audit_cli(db, !strcmp(action, "up") ? "schema.migrate_up"
                                                       : "schema.migrate_down",
                            NULL, NULL, 0, detail, &e2))
            log_debug("migration not audited: %s", e2.msg);
        fmd_free(detail);
    }
    if (!rc)
        printf("version %d of %d\n", cur, db_migrations[db_migrations_count - 1].version);
    db_close(db);
    config_release(&cfg);
    return rc ? die(&err) : 0;
}

/* ---- processes that run tasks: serve and worker ---- */

/* Blocks SIGINT and SIGTERM in every thread to come, so that sigwait gets them. */
static void block_stop_signals(sigset_t *sigs)
{
    sigemptyset(sigs);
    sigaddset(sigs, SIGINT);
    sigaddset(sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/*
 * Registers the task handlers (writing formd's periodic definitions) and
 * starts `workers` task threads in app->workers (none for 0). tenv is
 * filled here and must live as long as the workers.
 */
static int start_tasks(struct app *app, struct tasks_env *tenv, int workers,
                       struct fmd_err *err)
{
    /*
     * formd's queues. The analytics queue only where the analytics database
     * is: always on SQLite, on PostgreSQL while this process is the elected
     * analytics node (analytics_changed turns it on and off); formd worker
     * processes leave it out.
     */
    static struct queue_weight weights[] = {
        {"critical", 8, 0}, {"high", 4, 0}, {"default", 2, 0}, {"low", 1, 0},
        {TASKS_ANALYTICS_QUEUE, 1, 1},
    };
    struct queue_pool_opts qo = {.writer = app->writer, .workers = workers,
                                 .lease_ms = app->cfg->task_lease * 1000, .app = app,
                                 .weights = weights,
                                 .nweights = app->analytics ? 5 : 4};
    const char *db_url = app->cfg->db_url;
    int rc;

    memset(tenv, 0, sizeof(*tenv));
    tenv->writer = app->writer;
    tenv->pool = app->pool;
    tenv->analytics = app->analytics;
    tenv->analytics_elected = app->analytics_elected;
    tenv->analytics_lease = app->analytics_lease;
    weights[4].off = app->analytics_elected;   /* until elected */
    tenv->data_dir = app->cfg->data_dir;
    tenv->export_ttl_s = app->cfg->export_ttl;
    tenv->ai = app->ai;
    tenv->ai_timeout_ms = app->cfg->ai_timeout;
    tenv->ai_cache_ttl_s = app->cfg->ai_cache_ttl;
    tenv->allow_private_targets = (int)app->cfg->allow_private_targets;
    tenv->task_retention_s = app->cfg->task_retention;
    tenv->db_url = app->cfg->db_url;
    tenv->backup_dir = app->cfg->backup_dir;
    tenv->backup_every = app->cfg->backup_every;
    tenv->backup_keep = app->cfg->backup_keep;
    if ((rc = tasks_register_all(tenv, err)) || workers <= 0)
        return rc;
    /* On PostgreSQL other processes' enqueues wake this pool, unless a pooler forbids LISTEN. */
    if (db_url && db_target_is_postgres(db_url) && !app->cfg->queue_poll_only)
        qo.listen_target = db_url;
    return queue_pool_start(&qo, &app->workers, err);
}

/* ---- formd serve ---- */

/* The AI providers: the model the options name (loaded now, so a bad path
 * fails the start), and the rules fallback. */
static int open_ai(const struct config *cfg, struct ai_engine **out, struct fmd_err *err)
{
    struct ai_engine_options o = {.model_path = cfg->ai_model, .openai = cfg->ai_openai,
                                  .threads = (int)cfg->ai_threads};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    /* ggml's threads spin while they wait for each other: on cores the HTTP
     * threads and workers also use, one per CPU collapses (measured: 0.3 tok/s
     * instead of 12 on 2 busy cores). Half of them by default. */
    if (o.threads == 0)
        o.threads = cpus > 1 ? (int)(cpus / 2) : 1;
    int rc;

    ai_openai_allow_private((int)cfg->allow_private_targets);
    rc = ai_engine_open(&o, out, err);

    if (!rc)
        log_info("ai: %s", ai_engine_model_id(*out));
    return rc;
}

/* The analytics database of the data directory, held by this process. */
static int open_analytics(const struct config *cfg, struct duck **out, struct fmd_err *err)
{
    struct analytics_options ao = {.memory_limit = cfg->analytics_memory,
                                   .threads = (int)cfg->analytics_threads};
    return analytics_open(cfg->data_dir, NULL, &ao, out, err);
}

/* The first key's audit row: made by formd itself, in the key's transaction. */
static int first_key_audit(struct db *db, const char *key_id, struct fmd_err *err)
{
    struct store_audit_event e = {0};
    e.actor_kind = "system";
    e.actor_name = "formd serve";
    e.action = "key.create";
    e.target_type = "key";
    e.target_id = key_id;
    e.outcome = "ok";
    e.detail = "{\"name\":\"first admin\",\"role\":\"admin\"}";
    return store_audit_append(db, &e, err);
}

/* ---- the analytics node (PostgreSQL) ---- */

#define ANALYTICS_LEASE "analytics"

/* The elector's news: serve the analytics queue while this is the analytics node. */
static void analytics_changed(void *arg, int leading)
{
    struct app *app = arg;
    if (app->workers)
        queue_pool_serve(app->workers, TASKS_ANALYTICS_QUEUE, leading);
}

/* --analytics-node: 0 never, ELECTOR_CANDIDATE (auto) or ELECTOR_FORCE (always). */
static int analytics_mode(const struct config *cfg, int *mode, struct fmd_err *err)
{
    if (!strcmp(cfg->analytics_node, "auto"))
        *mode = ELECTOR_CANDIDATE;
    else if (!strcmp(cfg->analytics_node, "always"))
        *mode = ELECTOR_FORCE;
    else if (!strcmp(cfg->analytics_node, "never"))
        *mode = 0;
    else
        return fmd_errf(err, FMD_EINVAL, "option 'analytics-node': '%s' is not auto, always "
                                         "or never", cfg->analytics_node);
    if (*mode && cfg->workers <= 0)
        log_warn("this node may become the analytics node but runs no task workers: while it "
                 "is, the periodic ETL and exports wait (give API-only nodes "
                 "--analytics-node never)");
    return 0;
}

/* The elector for the analytics lease; the URL it advertises comes later. */
static int new_elector(struct app *app, int mode, struct store_elector **out,
                       struct fmd_err *err)
{
    struct store_elector_opts eo = {.writer = app->writer, .name = ANALYTICS_LEASE,
                                    .ttl_ms = app->cfg->analytics_lease * 1000,
                                    .mode = (enum store_elector_mode)mode,
                                    .on_change = analytics_changed, .arg = app};
    char holder[96], host[64] = "host", tag[9];

    gethostname(host, sizeof(host) - 1);
    rand_fast_hex(tag, 4);
    snprintf(holder, sizeof(holder), "%.60s:%d:%s", host, (int)getpid(), tag);
    eo.holder = holder;
    return store_elector_new(&eo, out, err);
}

/*
 * Stands for the analytics lease, advertising --advertise-url or this
 * server's own address (known once it listens).
 */
static int start_elector(struct app *app, struct store_elector *e, struct fmd_err *err)
{
    char url[LEASE_URL_MAX + 1];
    int rc;

    if (app->cfg->advertise_url[0]) {
        if (strncmp(app->cfg->advertise_url, "http://", 7) &&
            strncmp(app->cfg->advertise_url, "https://", 8))
            return fmd_errf(err, FMD_EINVAL, "option 'advertise-url': '%s' is not an http(s) "
                                             "URL", app->cfg->advertise_url);
        if (fmd_strlcpy(url, app->cfg->advertise_url, sizeof(url)) >= sizeof(url))
            return fmd_errf(err, FMD_EINVAL, "option 'advertise-url' is too long");
        while (url[0] && url[strlen(url) - 1] == '/')   /* request paths start with '/' */
            url[strlen(url) - 1] = 0;
    } else {
        /* The listen host; 0.0.0.0 means "any", which others cannot dial: say 127.0.0.1. */
        const char *colon = strrchr(app->cfg->listen, ':');
        int hostlen = colon ? (int)(colon - app->cfg->listen) : 0;
        if (!hostlen || !strncmp(app->cfg->listen, "0.0.0.0", 7))
            snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_server_port(app->server));
        else
            snprintf(url, sizeof(url), "http://%.*s:%d", hostlen, app->cfg->listen,
                     http_server_port(app->server));
    }
    if ((rc = store_elector_set_url(e, url, err)))
        return rc;
    log_info("analytics node: standing (%s), reachable at %s", app->cfg->analytics_node, url);
    return store_elector_start(e, err);
}

/* At first start there is no key at all: make an admin key and leave it 0600 on disk. */
static int first_admin_key(struct db *db, const struct config *cfg, struct fmd_err *err)
{
    struct key_made k;
    char path[4096];
    int64_t live;
    int fd, rc;
    ssize_t w;

    if ((rc = store_key_count_live(db, &live, err)) || live)
        return rc;
    snprintf(path, sizeof(path), "%s/admin.key", cfg->data_dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return fmd_errf(err, FMD_EIO, "cannot write '%s': %s", path, strerror(errno));
    /* A file left there before keeps its mode through O_CREAT: make it 0600 now. */
    if (fchmod(fd, 0600)) {
        close(fd);
        return fmd_errf(err, FMD_EIO, "cannot chmod 600 '%s': %s", path, strerror(errno));
    }
    if ((rc = db_begin(db, err)) || (rc = make_key(db, "first admin", "admin", NULL, 0, &k, err)) ||
        (rc = first_key_audit(db, k.id, err)) || (rc = db_commit(db, err))) {
        db_rollback(db);
        close(fd);
        unlink(path);
        return rc;
    }
    w = write(fd, k.key, strlen(k.key));
    w += write(fd, "\n", 1);
    if (w != (ssize_t)strlen(k.key) + 1 || fsync(fd)) {
        close(fd);
        return fmd_errf(err, FMD_EIO, "cannot write '%s'", path);
    }
    close(fd);
    printf("formd: first admin key written to %s (mode 0600)\n", path);
    return 0;
}

/* CORS applies to the public endpoints only: the management API is not for browsers. */
static int cors_path(const char *path)
{
    return !strncmp(path, "/v1/public/", 11);
}

#define CORS_MAX_ORIGINS 32

/*
 * Splits --cors-origins (modified in place) into origins[]: each exactly
 * "scheme://host[:port]", as browsers send Origin. 0 or FMD_EINVAL.
 */
static int parse_cors_origins(char *list, const char **origins, size_t *n, struct fmd_err *err)
{
    char *save = NULL, *o;

    *n = 0;
    for (o = strtok_r(list, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        const char *host;
        while (*o == ' ')
            o++;
        o[strcspn(o, " ")] = '\0';
        if (!*o)
            continue;
        host = strstr(o, "://");
        if ((strncmp(o, "https://", 8) && strncmp(o, "http://", 7)) || !host || !host[3] ||
            strchr(host + 3, '/') || !strcmp(o, "*"))
            return fmd_errf(err, FMD_EINVAL, "cors-origins: '%s' is not an origin such as "
                                             "https://forms.example.org (no path, no '*')", o);
        if (*n == CORS_MAX_ORIGINS)
            return fmd_errf(err, FMD_EINVAL, "cors-origins: more than %d origins",
                            CORS_MAX_ORIGINS);
        origins[(*n)++] = o;
    }
    return 0;
}

/*
 * The keyring of sensitive fields from the encryption-key option into *out
 * (NULL without one), made the process's. Without a key formd still starts,
 * saying which forms it will refuse submissions to (503) rather than store
 * their sensitive values in clear.
 */
static int open_keyring(struct db *db, const struct config *cfg, struct crypto_keyring **out,
                        struct fmd_err *err)
{
    int64_t n = 0;
    int rc;

    *out = NULL;
    if (!cfg->encryption_key || !cfg->encryption_key[0]) {
        if ((rc = sensitive_form_versions(db, &n, err)))
            return rc;
        if (n)
            log_warn("no encryption key (FORMD_ENCRYPTION_KEY_FILE): %lld form versions mark "
                     "fields x-sensitive; submissions to them are refused (503) until a key "
                     "is set", (long long)n);
        return 0;
    }
    if ((rc = crypto_keyring_parse(cfg->encryption_key, out, err)))
        return fmd_errf(err, rc, "encryption-key: %s", err->msg);
    log_info("encryption: %zu keys, current '%s'", crypto_keyring_count(*out),
             crypto_keyring_current(*out));
    sensitive_set_keyring(*out);
    return 0;
}

static void close_keyring(struct crypto_keyring *kr)
{
    sensitive_set_keyring(NULL);
    crypto_keyring_free(kr);
}

static int cmd_serve(int argc, char **argv)
{
    const char *cors[CORS_MAX_ORIGINS];
    struct crypto_keyring *keyring = NULL;
    struct config cfg;
    struct fmd_err err = {0};
    struct app app = {0};
    struct http_server_opts o = {0};
    struct tasks_env tenv = {0};
    struct store_elector *elector = NULL;
    struct db *db = NULL;
    char target[4096], fill_secret[256] = "";
    sigset_t sigs;
    int rc, sig, mode = 0;

    config_init(&cfg);
    block_stop_signals(&sigs);

    rc = open_db(&cfg, argc, argv, 2, NULL, 1, &db, target, sizeof(target), &err);
    if (!rc)
        rc = analytics_mode(&cfg, &mode, &err);
    /* On PostgreSQL analytics live on one elected node (docs/scaling.md). */
    app.analytics_elected = !rc && db_target_is_postgres(target);
    if (!rc)
        rc = first_admin_key(db, &cfg, &err);
    if (!rc)
        rc = store_spam_secret(db, fill_secret, sizeof(fill_secret), &err);
    if (!rc)
        rc = open_keyring(db, &cfg, &keyring, &err);
    db_close(db);
    app.cfg = &cfg;
    app.started_ms = clock_wall_ms();
    if (!rc && (rc = api_metrics_init()))
        fmd_errf(&err, rc, "cannot register metrics");
    if (!rc)
        rc = api_limits_init(&cfg, fill_secret, &err);
    sodium_memzero(fill_secret, sizeof(fill_secret));
    if (!rc)
        rc = db_pool_new(target, &app.pool, &err);
    if (!rc)
        rc = db_writer_start(target, (int)cfg.commit_batch, &app.writer, &err);
    if (!rc && (!app.analytics_elected || mode))   /* else never the analytics node */
        rc = open_analytics(&cfg, &app.analytics, &err);
    if (!rc)
        rc = open_ai(&cfg, &app.ai, &err);
    /* Known to the handlers and the API before any thread starts; it stands
     * once the server listens (its URL is then known). */
    if (!rc && app.analytics_elected && mode && !(rc = new_elector(&app, mode, &elector, &err)))
        app.analytics_lease = elector;
    if (!rc)
        rc = start_tasks(&app, &tenv, (int)cfg.workers, &err);
    if (!rc) {
        db_writer_set_observer(app.writer, api_observe_commit);
        o.listen = cfg.listen;
        o.threads = (int)cfg.threads;
        o.max_body = (size_t)cfg.max_body;
        o.max_header = (size_t)cfg.max_header;
        o.max_uri = (size_t)cfg.max_uri;
        o.max_json_depth = (size_t)cfg.max_json_depth;
        o.max_json_members = (size_t)cfg.max_json_members;
        o.request_timeout = (int)cfg.request_timeout;
        o.routes = routes;
        o.nroutes = NROUTES;
        o.app = &app;
        o.observe = api_observe_request;
        o.admit = api_admit;
        o.cors_origins = cors;
        o.cors_path = cors_path;
        o.cors_methods = "GET, POST";
        o.cors_headers = "Content-Type, Idempotency-Key";
        o.cors_max_age = 600;
        o.hsts_max_age = cfg.hsts_max_age;
        rc = parse_cors_origins(cfg.cors_origins, cors, &o.ncors_origins, &err);
    }
    if (!rc) {
        rc = http_server_start(&o, &app.server, &err);
    }
    if (!rc && elector)
        rc = start_elector(&app, elector, &err);
    if (!rc) {
        printf("formd %s listening on http://%s:%d (data in %s)\n", FORMD_VERSION,
               strncmp(cfg.listen, "0.0.0.0", 7) ? "127.0.0.1" : "0.0.0.0",
               http_server_port(app.server), cfg.data_dir);
        fflush(stdout);
        log_info("listening on %s", cfg.listen);
        sigwait(&sigs, &sig);
        log_info("stopping on signal %d", sig);
    }
    /* HTTP first (no new work), then workers (their outcomes need the writer). */
    http_server_stop(app.server);
    /* The lease given up at once: another node takes analytics over now. */
    store_elector_stop(elector);
    queue_pool_stop(app.workers, 20 * 1000);
    duck_close(app.analytics);
    ai_engine_close(app.ai);
    ai_ocr_shutdown();
    db_writer_stop(app.writer);
    db_pool_free(app.pool);
    schema_cache_clear();
    form_cache_clear();
    api_limits_release();
    close_keyring(keyring);
    metrics_reset();
    config_release(&cfg);
    return rc ? die(&err) : 0;
}

/* ---- formd worker ---- */

/* Runs task workers only, on the database that servers use. */
static int cmd_worker(int argc, char **argv)
{
    struct crypto_keyring *keyring = NULL;
    struct config cfg;
    struct fmd_err err = {0};
    struct app app = {0};
    struct tasks_env tenv = {0};
    struct db *db = NULL;
    char target[4096];
    sigset_t sigs;
    int rc, sig, workers;

    config_init(&cfg);
    block_stop_signals(&sigs);
    rc = open_db(&cfg, argc, argv, 2, NULL, 1, &db, target, sizeof(target), &err);
    if (!rc)
        rc = open_keyring(db, &cfg, &keyring, &err);
    db_close(db);
    app.cfg = &cfg;
    workers = cfg.workers > 0 ? (int)cfg.workers : 1;
    if (!rc)   /* AI tasks run here too; analytics tasks are left to serve */
        rc = open_ai(&cfg, &app.ai, &err);
    if (!rc)
        rc = db_writer_start(target, (int)cfg.commit_batch, &app.writer, &err);
    if (!rc)
        rc = db_pool_new(target, &app.pool, &err);
    if (!rc)
        rc = start_tasks(&app, &tenv, workers, &err);
    if (!rc) {
        log_info("worker %s running %d task threads", queue_pool_worker_id(app.workers),
                 workers);
        sigwait(&sigs, &sig);
        log_info("stopping on signal %d", sig);
    }
    queue_pool_stop(app.workers, 20 * 1000);
    ai_engine_close(app.ai);
    ai_ocr_shutdown();
    db_writer_stop(app.writer);
    db_pool_free(app.pool);
    close_keyring(keyring);
    metrics_reset();
    config_release(&cfg);
    return rc ? die(&err) : 0;
}

/* ---- formd schema validate ---- */

static int cmd_schema(int argc, char **argv)
{
    struct fmd_err err = {0};
    struct schema *s = NULL;
    json_error_t je;
    json_t *doc, *inst, *errors;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int bad = 0;

    if (argc != 5 || strcmp(argv[2], "validate") || strcmp(argv[3], "--schema")) {
        fprintf(stderr, "usage: formd schema validate --schema FILE < instances.jsonl\n");
        return 2;
    }
    if (!(doc = json_load_file(argv[4], JSON_DECODE_ANY, &je))) {
        fprintf(stderr, "formd: %s:%d: %s\n", argv[4], je.line, je.text);
        return 1;
    }
    if (schema_compile(doc, &s, &err)) {
        json_decref(doc);
        return die(&err);
    }
    json_decref(doc);
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (json_parse(line, (size_t)n, &json_default_limits, &inst, &err)) {
            printf("invalid\n");
            fprintf(stderr, "%s\n", err.msg);
            bad = 1;
            continue;
        }
        errors = NULL;
        if (schema_validate(s, inst, &errors)) {
            char *e = errors ? json_encode(errors) : NULL;
            printf("invalid\n");
            fprintf(stderr, "%s\n", e ? e : "invalid");
            fmd_free(e);
            bad = 1;
        } else {
            printf("valid\n");
        }
        json_decref(errors);
        json_decref(inst);
    }
    free(line);
    schema_free(s);
    return bad;
}

/* ---- small commands ---- */

static int cmd_version(int argc, char **argv)
{
    printf("formd %s\n", FORMD_VERSION);
    return 0;
}

/*
 * formd routes [--json]: "METHOD PATTERN" lines, or with --json one object a
 * line: method, pattern, access, object, summary (for the authorisation tests).
 */
static int cmd_routes(int argc, char **argv)
{
    int as_json = argc > 2 && !strcmp(argv[2], "--json");
    size_t i;
    json_t *line;
    char *text;

    if (argc > 2 + as_json) {
        fprintf(stderr, "formd: usage: formd routes [--json]\n");
        return 2;
    }
    for (i = 0; i < NROUTES; i++) {
        if (!as_json) {
            printf("%s %s\n", http_method_name(routes[i].method), routes[i].pattern);
            continue;
        }
        line = json_pack("{s:s, s:s, s:s, s:s, s:s}", "method",
                         http_method_name(routes[i].method), "pattern", routes[i].pattern,
                         "access", http_access_name(routes[i].access), "object",
                         http_object_name(routes[i].object), "summary", routes[i].summary);
        if (!line || !(text = json_dumps(line, JSON_COMPACT))) {
            json_decref(line);
            fprintf(stderr, "formd: out of memory\n");
            return 1;
        }
        printf("%s\n", text);
        free(text);
        json_decref(line);
    }
    return 0;
}

/*
 * formd health [--live] [--timeout SECONDS]: GET /readyz (or /healthz with
 * --live) on the configured listen address; exit 0 on a 200, else 1 with one
 * line on stderr. For container HEALTHCHECKs and scripts: the image has no
 * curl. A wildcard listen address (0.0.0.0) is asked on loopback; proxies in
 * the environment are ignored, the server is always this machine.
 */
static int cmd_health(int argc, char **argv)
{
    struct config_extra x[] = {{"live", NULL, 1}, {"timeout", NULL, 0}, {NULL, NULL, 0}};
    struct config cfg;
    struct fmd_err err = {0};
    char url[512];
    const char *colon;
    long timeout = 5, status = 0;
    char *end;
    CURL *c = NULL;
    CURLcode cc;
    FILE *sink = NULL;
    int rc;

    config_init(&cfg);
    rc = config_load(&cfg, argc, argv, 2, x, &err);
    if (!rc && x[1].value) {
        errno = 0;
        timeout = strtol(x[1].value, &end, 10);
        if (errno || *end || timeout < 1 || timeout > 300)
            rc = fmd_errf(&err, FMD_EINVAL, "--timeout must be 1 to 300 seconds");
    }
    if (!rc && !(colon = strrchr(cfg.listen, ':')))
        rc = fmd_errf(&err, FMD_EINVAL, "listen address '%s' is not HOST:PORT", cfg.listen);
    if (!rc) {
        int hostlen = (int)(colon - cfg.listen);
        const char *host = cfg.listen;
        if (hostlen == 0 || (hostlen == 7 && !strncmp(host, "0.0.0.0", 7))) {
            host = "127.0.0.1";
            hostlen = 9;
        }
        if ((size_t)snprintf(url, sizeof(url), "http://%.*s%s/%s", hostlen, host, colon,
                             x[0].value ? "healthz" : "readyz") >= sizeof(url))
            rc = fmd_errf(&err, FMD_EINVAL, "listen address '%s' is too long", cfg.listen);
    }
    if (!rc && (!(c = curl_easy_init()) || !(sink = fopen("/dev/null", "w"))))
        rc = fmd_errf(&err, FMD_ENOMEM, "cannot set up the health request");
    if (!rc) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "formd-health");
        if ((cc = curl_easy_perform(c)) != CURLE_OK)
            rc = fmd_errf(&err, FMD_EUNAVAIL, "health: no answer from %s: %s", url,
                          curl_easy_strerror(cc));
    }
    if (!rc) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200)
            rc = fmd_errf(&err, FMD_EUNAVAIL, "health: %s answered %ld", url, status);
    }
    if (sink)
        fclose(sink);
    curl_easy_cleanup(c);
    config_release(&cfg);
    return rc ? die(&err) : 0;
}

static int cmd_help(int argc, char **argv);

struct command {
    const char *name;
    const char *sub;          /* second word, or NULL */
    int (*fn)(int argc, char **argv);
    const char *help;
};

/* ---- formd etl, formd export ---- */

/* A one-line progress bar on stderr when it is a terminal, redrawn in place. */
static void progress_bar(const char *what, uint64_t done, uint64_t total)
{
    static int tty = -1;
    int width = 30, fill;

    if (tty < 0)
        tty = isatty(STDERR_FILENO);
    if (!tty || total == 0)
        return;
    fill = (int)((double)done / (double)total * width);
    fprintf(stderr, "\r%s [%.*s%*s] %3d%% %llu/%llu", what, fill,
            "##############################", width - fill, "",
            (int)((double)done / (double)total * 100), (unsigned long long)done,
            (unsigned long long)total);
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}

static void etl_progress(void *arg, int64_t done, int64_t total)
{
    (void)arg;
    progress_bar("sync  ", (uint64_t)done, (uint64_t)total);
}

static void export_progress(void *arg, uint64_t done, uint64_t total)
{
    (void)arg;
    progress_bar("export", done, total);
}

/*
 * The analytics database of the data directory, or, when a running server
 * holds it (DuckDB locks the file), a private one made for this command in
 * *private_file (then "" stays "" for the shared one). *shared says which.
 */
static int open_analytics_for_cli(const struct config *cfg, int allow_private,
                                  struct duck **out, char *private_file, size_t cap,
                                  struct fmd_err *err)
{
    struct analytics_options ao = {.memory_limit = cfg->analytics_memory,
                                   .threads = (int)cfg->analytics_threads};
    int rc;

    private_file[0] = '\0';
    rc = analytics_open(cfg->data_dir, NULL, &ao, out, err);
    if (!rc || !allow_private)
        return rc;
    /* Held by formd serve: build a private copy beside it, removed after. */
    snprintf(private_file, cap, "analytics-cli-%ld.duckdb", (long)getpid());
    memset(err, 0, sizeof(*err));
    return analytics_open(cfg->data_dir, private_file, &ao, out, err);
}

/* Removes a private analytics copy and what DuckDB made beside it. */
static void remove_private(const struct config *cfg, const char *file)
{
    char path[4400];
    if (!file[0])
        return;
    snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, file);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s.wal", cfg->data_dir, file);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s.tmp", cfg->data_dir, file);
    rmdir(path);
}

static int cmd_etl(int argc, char **argv)
{
    struct config_extra x[] = {{"rebuild", NULL, 1}, {NULL, NULL, 0}};
    struct config cfg;
    struct fmd_err err = {0};
    struct etl_options o = {.progress = etl_progress};
    struct etl_stats st;
    struct db *db = NULL;
    struct db_writer *w = NULL;
    struct duck *d = NULL;
    struct duck_conn *c = NULL;
    char target[4096], priv[128];
    int rc;

    config_init(&cfg);
    rc = open_db(&cfg, argc, argv, 2, x, 1, &db, target, sizeof(target), &err);
    if (!rc && (rc = open_analytics_for_cli(&cfg, 0, &d, priv, sizeof(priv), &err)) &&
        strstr(err.msg, "lock"))
        fmd_errf(&err, rc, "the analytics database is in use by another process: a formd serve "
                           "running on this data directory syncs it every minute by itself");
    if (!rc)
        rc = duck_connect(d, &c, &err);
    if (!rc)
        rc = db_writer_start(target, 64, &w, &err);
    if (!rc && x[0].value)
        rc = etl_rebuild(w, c, &err);
    o.writer = w;
    if (!rc)
        rc = etl_sync(db, c, &o, &st, &err);
    if (!rc)
        printf("synced %lld changes: %lld submissions written, %lld removed, %d forms rebuilt, "
               "in %.2f s\n", (long long)st.changes, (long long)st.upserted,
               (long long)st.deleted, st.forms_rebuilt, st.seconds);
    duck_disconnect(c);
    duck_close(d);
    db_writer_stop(w);
    db_close(db);
    config_release(&cfg);
    return rc ? die(&err) : 0;
}

/* Moves the finished file to where the user asked, across file systems too. */
static int move_file(const char *from, const char *to, struct fmd_err *err)
{
    char buf[1 << 16];
    ssize_t n;
    int in, out, rc = 0;

    if (!rename(from, to))
        return 0;
    if (errno != EXDEV)
        return fmd_errf(err, FMD_EIO, "cannot write '%s': %s", to, strerror(errno));
    if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0)
        return fmd_errf(err, FMD_EIO, "cannot read '%s': %s", from, strerror(errno));
    if ((out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        close(in);
        return fmd_errf(err, FMD_EIO, "cannot write '%s': %s", to, strerror(errno));
    }
    while (!rc && (n = read(in, buf, sizeof(buf))) != 0)
        if (n < 0 || write(out, buf, (size_t)n) != n)
            rc = fmd_errf(err, FMD_EIO, "cannot copy to '%s': %s", to, strerror(errno));
    if (!rc && fsync(out))
        rc = fmd_errf(err, FMD_EIO, "cannot write '%s': %s", to, strerror(errno));
    close(in);
    close(out);
    if (rc)
        unlink(to);
    unlink(from);
    return rc;
}

static int cmd_export(int argc, char **argv)
{
    struct config_extra x[] = {{"form", NULL, 0},  {"format", NULL, 0}, {"out", NULL, 0},
                               {"bom", NULL, 1},   {"include-deleted", NULL, 1},
                               {"include-spam", NULL, 1},
                               {NULL, NULL, 0}};
    struct config cfg;
    struct fmd_err err = {0};
    struct export_options eo = {.progress = export_progress};
    struct etl_options o = {.progress = etl_progress};
    struct export_stats st = {0};
    struct store_form f;
    struct db *db = NULL;
    struct duck *d = NULL;
    struct duck_conn *c = NULL;
    char target[4096], priv[128], dir[4096], tmp[4400];
    int rc;

    config_init(&cfg);
    rc = open_db(&cfg, argc, argv, 2, x, 1, &db, target, sizeof(target), &err);
    if (!rc && (!x[0].value || !x[1].value || !x[2].value))
        rc = fmd_errf(&err, FMD_EINVAL, "usage: formd export --form FORM_ID --format "
                                        "csv|jsonl|parquet|xlsx --out FILE [--bom] "
                                        "[--include-deleted] [--include-spam] [--data-dir DIR]");
    if (!rc && export_format_parse(x[1].value, &eo.format))
        rc = fmd_errf(&err, FMD_EINVAL, "format '%s' is not csv, jsonl, parquet or xlsx",
                      x[1].value);
    if (!rc && (rc = store_form_get(db, x[0].value, &f, &err)) == FMD_ENOTFOUND)
        fmd_errf(&err, rc, "no form '%s'", x[0].value);
    eo.bom = x[3].value != NULL;
    eo.include_deleted = x[4].value != NULL;
    eo.include_spam = x[5].value != NULL;
    if (!rc)
        rc = open_analytics_for_cli(&cfg, 1, &d, priv, sizeof(priv), &err);
    if (!rc)
        rc = duck_connect(d, &c, &err);
    /* The operational store is only read: its change log is the server's to
     * read and prune, so a private copy is a snapshot of the table itself. */
    o.snapshot = priv[0] != '\0';
    /* PostgreSQL numbers the change log's pending changes through a writer */
    if (!rc && !o.snapshot && db_dialect(db) == DB_POSTGRES)
        rc = db_writer_start(target, 64, &o.writer, &err);
    if (!rc)
        rc = etl_sync(db, c, &o, NULL, &err);
    db_writer_stop(o.writer);
    if (!rc && analytics_exports_dir(cfg.data_dir, dir, sizeof(dir)))
        rc = fmd_errf(&err, FMD_EINVAL, "data directory path too long");
    if (!rc) {
        snprintf(tmp, sizeof(tmp), "%s/cli-%ld.%s", dir, (long)getpid(),
                 export_format_ext(eo.format));
        rc = export_form(c, f.id, &eo, tmp, &st, &err);
    }
    if (!rc && (rc = move_file(tmp, x[2].value, &err)))
        unlink(tmp);   /* nothing half-done is left behind */
    else if (!rc)
        fprintf(stderr, "wrote %llu rows (%llu bytes) to %s\n", (unsigned long long)st.rows,
                (unsigned long long)st.bytes, x[2].value);
    duck_disconnect(c);
    duck_close(d);
    remove_private(&cfg, priv);
    db_close(db);
    config_release(&cfg);
    return rc ? die(&err) : 0;
}

/* ---- formd backup, formd restore ---- */

static void backup_progress(void *arg, uint64_t done, uint64_t total)
{
    progress_bar(arg, done, total);
}

/* The database target of the options, without making any directory. */
static int backup_target(const struct config *cfg, char *out, size_t cap, struct fmd_err *err)
{
    size_t n = cfg->db_url && *cfg->db_url ? fmd_strlcpy(out, cfg->db_url, cap)
                                           : (size_t)snprintf(out, cap, "%s/formd.db",
                                                              cfg->data_dir);
    return n >= cap ? fmd_errf(err, FMD_EINVAL, "data directory path is too long") : 0;
}

static int cmd_backup(int argc, char **argv)
{
    struct config_extra x[] = {{"out", NULL, 0}, {"force", NULL, 1}, {NULL, NULL, 0}};
    struct config cfg;
    struct fmd_err err = {0};
    struct db_backup_info info;
    char target[4096];
    int rc;

    config_init(&cfg);
    rc = config_load(&cfg, argc, argv, 2, x, &err);
    if (!rc && !x[0].value)
        rc = fmd_errf(&err, FMD_EINVAL, "usage: formd backup --out FILE [--force] "
                                        "[--data-dir DIR]");
    if (!rc)
        rc = backup_target(&cfg, target, sizeof(target), &err);
    if (!rc)
        rc = db_backup(target, x[0].value, x[1].value ? DB_BACKUP_FORCE : 0, backup_progress,
                       "backup", &info, &err);
    if (!rc)
        fprintf(stderr, "wrote %s: %lld bytes, schema version %d, in %.2f s\n", x[0].value,
                (long long)info.bytes, info.version, info.seconds);
    config_release(&cfg);
    return rc ? die(&err) : 0;
}

/*
 * Drops the analytics tables and logs every restored submission as changed,
 * so the next sync (a server's, within a minute, or formd etl) copies the
 * restored store whole: analytics may hold rows the backup never had, and
 * the backup's change log has been pruned.
 */
static int restore_analytics(const struct config *cfg, const char *target, struct fmd_err *err)
{
    struct duck *d = NULL;
    struct duck_conn *c = NULL;
    struct db_writer *w = NULL;
    int rc = open_analytics(cfg, &d, err);
    if (!rc)
        rc = duck_connect(d, &c, err);
    if (!rc)
        rc = db_writer_start(target, 64, &w, err);
    if (!rc)
        rc = etl_rebuild(w, c, err);
    db_writer_stop(w);
    duck_disconnect(c);
    duck_close(d);
    return rc;
}

/* Writes the restore into the restored database's audit log, when it has one. */
static void audit_restore(const char *target, const char *from, int version)
{
    struct fmd_err e2 = {0};
    struct db *db = NULL;
    char *detail = cli_detail(json_pack("{s:s, s:i}", "from", from, "version", version));

    if (db_open(target, 0, &db, &e2) ||
        store_audit_cli(db, "backup.restore", NULL, NULL, 0, detail, &e2))
        fprintf(stderr, "note: the restore is not in the audit log: %s\n", e2.msg);
    db_close(db);
    fmd_free(detail);
}

/*
 * PostgreSQL: pg_restore's archive into the database in one transaction
 * (refused while formd processes are connected, unless --force), then
 * migrated up to this binary's schema.
 */
static int restore_pg(const char *target, const char *from, int force,
                      struct db_backup_info *info, struct fmd_err *err)
{
    struct db *db = NULL;
    int rc = db_pg_restore(target, from, force ? DB_BACKUP_FORCE : 0, info, err);
    if (!rc && !(rc = db_open(target, 0, &db, err)) && !(rc = migrate_up(db, -1, err)))
        rc = store_leases_forget(db, err);
    db_close(db);
    return rc;
}

static int cmd_restore(int argc, char **argv)
{
    struct config_extra x[] = {{"from", NULL, 0}, {"force", NULL, 1}, {NULL, NULL, 0}};
    struct config cfg;
    struct fmd_err err = {0};
    struct db_backup_info info;
    char target[4096], replaced[4400] = "";
    int rc, lock_fd = -1, pg;

    config_init(&cfg);
    rc = config_load(&cfg, argc, argv, 2, x, &err);
    if (!rc && !x[0].value)
        rc = fmd_errf(&err, FMD_EINVAL, "usage: formd restore --from FILE [--force] "
                                        "[--data-dir DIR]");
    pg = !rc && cfg.db_url && db_target_is_postgres(cfg.db_url);
    /* The backup is checked before the data directory is made or locked (on
     * PostgreSQL db_pg_restore checks the archive first itself). */
    if (!rc && !pg)
        rc = db_backup_verify(x[0].value, NULL, &err);
    if (!rc)
        rc = data_target(&cfg, target, sizeof(target), &err);
    /* Held to the end: no server may start on the directory meanwhile. */
    if (!rc && !strstr(target, "://"))
        rc = db_lock_exclusive(strncmp(target, "sqlite:", 7) ? target : target + 7, &lock_fd,
                               &err);
    if (!rc && pg)
        rc = restore_pg(target, x[0].value, x[1].value != NULL, &info, &err);
    else if (!rc)
        rc = db_restore(target, x[0].value, backup_progress, "restore", replaced,
                        sizeof(replaced), &info, &err);
    if (!rc) {
        fprintf(stderr, "restored %s (schema version %d) into %s\n", x[0].value, info.version,
                target);
        if (replaced[0])
            fprintf(stderr, "the replaced database is kept as %s\n", replaced);
        audit_restore(target, x[0].value, info.version);
    }
    if (!rc && (rc = restore_analytics(&cfg, target, &err))) {
        char m[sizeof(err.msg)];
        fmd_strlcpy(m, err.msg, sizeof(m));
        fmd_errf(&err, rc, "restored, but analytics could not be reset (%s): run formd etl "
                           "--rebuild", m);
    }
    if (!rc)
        fprintf(stderr, "analytics will be rebuilt from the restored data by the next sync\n");
    db_unlock(lock_fd);
    config_release(&cfg);
    return rc ? die(&err) : 0;
}

/* ---- formd ai ---- */

static void mkmodel_progress(uint64_t done, uint64_t total, void *ud)
{
    (void)ud;
    progress_bar("model ", done, total);
}

/* formd ai mkmodel --preset tiny|1b|7b --out FILE [--seed N]: a llama GGUF
 * with random weights, for tests and speed measurements. */
static int cmd_ai_mkmodel(int argc, char **argv)
{
    struct config_extra x[] = {{"preset", NULL, 0}, {"out", NULL, 0}, {"seed", NULL, 0},
                               {NULL, NULL, 0}};
    struct config cfg;
    struct fmd_err err = {0};
    const struct ai_model_spec *spec = NULL;
    unsigned long long seed = 1;
    char *end;
    int rc;

    config_init(&cfg);
    rc = config_load(&cfg, argc, argv, 3, x, &err);
    if (!rc && (!x[0].value || !x[1].value))
        rc = fmd_errf(&err, FMD_EINVAL,
                      "usage: formd ai mkmodel --preset tiny|1b|7b --out FILE [--seed N]");
    if (!rc && !(spec = ai_model_preset(x[0].value)))
        rc = fmd_errf(&err, FMD_EINVAL, "preset '%s' is not tiny, 1b or 7b", x[0].value);
    if (!rc && x[2].value) {
        errno = 0;
        seed = strtoull(x[2].value, &end, 10);
        if (errno || *end || !*x[2].value)
            rc = fmd_errf(&err, FMD_EINVAL, "--seed must be a non-negative integer");
    }
    if (!rc)
        rc = ai_mkmodel_ex(x[1].value, spec, seed, mkmodel_progress, NULL, &err);
    if (!rc)
        fprintf(stderr, "wrote %s: llama, %llu parameters\n", x[1].value,
                (unsigned long long)ai_model_params(spec));
    config_release(&cfg);
    return rc ? die(&err) : 0;
}

static const struct command commands[] = {
    {"serve", NULL, cmd_serve, "run the API, workers and scheduler"},
    {"worker", NULL, cmd_worker, "run task workers only (against the same database)"},
    {"migrate", NULL, cmd_migrate, "up|down|status: move the database schema"},
    {"admin", "create-user", cmd_admin_create_user, "add a user with a role"},
    {"admin", "create-key", cmd_admin_create_key, "make an API key; prints it on stdout"},
    {"admin", "revoke-key", cmd_admin_revoke_key, "revoke an API key"},
    {"admin", "list-keys", cmd_admin_list_keys, "list API keys (never their secrets)"},
    {"admin", "rotate-key", cmd_admin_rotate_key,
     "re-seal sensitive fields under the key file's last key (a task; prints its id)"},
    {"etl", NULL, cmd_etl, "bring the analytics database up to date [--rebuild]"},
    {"export", NULL, cmd_export, "--form ID --format F --out FILE: export submissions"},
    {"backup", NULL, cmd_backup, "--out FILE [--force]: a consistent copy, while serving"},
    {"restore", NULL, cmd_restore, "--from FILE [--force]: replace the database (servers stopped)"},
    {"ai", "mkmodel", cmd_ai_mkmodel, "--preset tiny|1b|7b --out FILE: a random-weight model"},
    {"schema", NULL, cmd_schema, "validate --schema FILE: check JSON lines on stdin"},
    {"routes", NULL, cmd_routes, "[--json]: print the HTTP route table (with access)"},
    {"health", NULL, cmd_health, "[--live]: exit 0 if the local server is ready (alive)"},
    {"version", NULL, cmd_version, "print the version"},
    {"help", NULL, cmd_help, "this list"},
};

static int cmd_help(int argc, char **argv)
{
    size_t i;
    fprintf(stderr, "usage: formd COMMAND [options]\n\ncommands:\n");
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(stderr, "  %-7s %-12s %s\n", commands[i].name,
                commands[i].sub ? commands[i].sub : "", commands[i].help);
    fprintf(stderr, "\noptions (flag, FORMD_* variable or config file):\n");
    config_usage();
    return argc > 1 && !strcmp(argv[1], "help") ? 0 : 2;
}

/* The command named by argv, or NULL. */
static const struct command *find_command(int argc, char **argv)
{
    size_t i;
    for (i = 0; argc > 1 && i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name) &&
            (!commands[i].sub || (argc > 2 && !strcmp(argv[2], commands[i].sub))))
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    const struct command *cmd;
    int rc;

    if (sodium_init() < 0) {
        fprintf(stderr, "formd: cannot initialise libsodium\n");
        return 1;
    }
    json_set_alloc_funcs(fmd_malloc, fmd_free);
    if (argc < 2)
        return cmd_help(argc, argv);
    if (!(cmd = find_command(argc, argv))) {
        fprintf(stderr, "formd: unknown command '%s%s%s'\n", argv[1], argc > 2 ? " " : "",
                argc > 2 ? argv[2] : "");
        cmd_help(argc, argv);
        return 2;
    }
    /* Before any thread: libcurl's global set-up is not thread-safe. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "formd: cannot initialise libcurl\n");
        return 1;
    }
    rc = cmd->fn(argc, argv);
    curl_global_cleanup();
    return rc;
}
