/*
 * audit.c - the audit log's side of the API: what a request's row says, when
 * it is written, and GET /v1/audit, GET /v1/audit/export.
 *
 * Management requests are the non-GET routes under /v1 but /v1/public/. Each
 * leaves exactly one row:
 * - a write that succeeds appends its row inside its own job of the group
 *   commit (api__audit_in_write), so an acknowledged change always has its
 *   row and a change rolled back has none;
 * - any other answer (401/403/404: denied; other 4xx/5xx: failed; a 2xx
 *   that wrote nothing: ok) is queued to the writer as the request ends,
 *   without waiting for it: nothing else was changed.
 *
 * The action comes from the route: "/v1/forms/{}/publish" is form.publish
 * on target form <id>; "/v1/projects/{}/forms" (POST) is form.create;
 * "/v1/submissions/{}" (DELETE) is submission.delete; a route without ids
 * joins its words (auth.login, analytics.query). The detail holds the method
 * and path only: never a body, so never a secret nor submission data.
 */
#include "api/api.h"
#include "core/id.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "metrics/metrics.h"
#include "store/audit.h"
#include "core/banned.h"

static struct metric *m_events;

int api__audit_metrics_init(void)
{
    static const char *const labels[] = {"outcome", NULL};
    static const char *const outcomes[] = {"ok", "denied", "failed"};
    size_t i;

    m_events = metric_register("formd_audit_events_total", "Rows written to the audit log",
                               METRIC_COUNTER, labels, NULL, 0);
    if (!m_events)
        return FMD_ENOMEM;
    for (i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
        const char *v[] = {outcomes[i]};
        metric_inc(m_events, v, 0);
    }
    return 0;
}

static void count(const char *outcome)
{
    const char *v[] = {outcome};
    if (m_events)
        metric_inc(m_events, v, 1);
}

/* ---- what the handler names ---- */

static const char *copy(struct http_req *req, const char *s)
{
    return s && *s ? arena_strdup(&req->arena, s) : NULL;
}

void api_audit_target(struct http_req *req, const char *type, const char *id)
{
    struct api_audit_ctx *c = api__audit(req);
    if (c) {
        c->target_type = copy(req, type);
        c->target_id = copy(req, id);
    }
}

void api_audit_action(struct http_req *req, const char *action)
{
    struct api_audit_ctx *c = api__audit(req);
    if (c)
        c->action = copy(req, action);
}

void api_audit_project(struct http_req *req, const char *project_id)
{
    struct api_audit_ctx *c = api__audit(req);
    if (c && !c->project_id)
        c->project_id = copy(req, project_id);
}

void api_audit_actor(struct http_req *req, const char *kind, const char *id, const char *name)
{
    struct api_audit_ctx *c = api__audit(req);
    if (c) {
        c->actor_kind = copy(req, kind);
        c->actor_id = copy(req, id);
        c->actor_name = copy(req, name);
    }
}

/* ---- the row of a request ---- */

static int is_management(const struct http_req *req)
{
    const char *p = req->route ? req->route->pattern : NULL;
    return p && req->method != HTTP_GET && !strncmp(p, "/v1/", 4) &&
           strncmp(p, "/v1/public/", 11);
}

/* A row's strings, copied so that it can outlive the request. */
struct audit_row {
    struct store_audit_event e;
    char actor_kind[16], actor_id[64], actor_name[256], client[48];
    char request_id[ID_LEN + 1], action[128], target_type[64], target_id[256];
    char project_id[64], detail[512];
};

/* "forms" -> "form" into out. */
static void singular(const char *word, size_t n, char *out, size_t cap)
{
    if (n > 1 && word[n - 1] == 's')
        n--;
    snprintf(out, cap, "%.*s", (int)n, word);
}

static const char *verb_of(enum http_method m)
{
    return m == HTTP_DELETE ? "delete" : m == HTTP_POST ? "create" : "update";
}

/*
 * Action and target from the route pattern and the path's ids (see the top
 * of the file). Only literal words of our own route table go into names.
 */
static void derive(const struct http_req *req, struct audit_row *r)
{
    const char *seg[16];
    size_t len[16];
    const char *p = req->route->pattern + 4, *last_id = NULL;    /* after "/v1/" */
    int n = 0, last_param = -1, params = 0, i;
    char resource[64] = "";

    while (*p && n < 16) {
        size_t l = strcspn(p, "/");
        seg[n] = p;
        len[n] = l;
        if (l == 2 && !strncmp(p, "{}", 2)) {
            last_param = n;
            last_id = params < HTTP_MAX_PARAMS ? req->params[params] : NULL;
            params++;
        }
        n++;
        p += l;
        if (*p == '/')
            p++;
    }
    if (last_param > 0)
        singular(seg[last_param - 1], len[last_param - 1], resource, sizeof(resource));
    if (last_param < 0 && n == 1 && req->method == HTTP_POST) {
        /* POST /v1/projects: project.create */
        singular(seg[0], len[0], r->target_type, sizeof(r->target_type));
        snprintf(r->action, sizeof(r->action), "%s.create", r->target_type);
        return;
    }
    if (last_param >= 0 && last_param == n - 2 && req->method == HTTP_POST && len[n - 1] &&
        seg[n - 1][len[n - 1] - 1] == 's') {
        /* POST /v1/projects/{}/forms: form.create */
        singular(seg[n - 1], len[n - 1], r->target_type, sizeof(r->target_type));
        snprintf(r->action, sizeof(r->action), "%s.create", r->target_type);
        return;
    }
    if (last_param >= 0) {
        fmd_strlcpy(r->target_type, resource, sizeof(r->target_type));
        fmd_strlcpy(r->target_id, last_id ? last_id : "", sizeof(r->target_id));
    }
    if (last_param == n - 1) {
        /* PATCH /v1/forms/{}: form.update */
        snprintf(r->action, sizeof(r->action), "%s.%s", resource, verb_of(req->method));
        return;
    }
    /* form.publish, form.ai.extract, auth.login, ai.generate-form */
    fmd_strlcpy(r->action, resource, sizeof(r->action));
    for (i = last_param + 1; i < n; i++) {
        size_t at = strlen(r->action);
        snprintf(r->action + at, sizeof(r->action) - at, "%s%.*s", at ? "." : "", (int)len[i],
                 seg[i]);
    }
}

static void fill_actor(const struct api_audit_ctx *c, struct audit_row *r)
{
    if (c->who) {
        fmd_strlcpy(r->actor_kind, c->who->kind == PRINCIPAL_KEY ? "key" : "session",
                    sizeof(r->actor_kind));
        fmd_strlcpy(r->actor_id, c->who->id, sizeof(r->actor_id));
        fmd_strlcpy(r->actor_name, c->who->name, sizeof(r->actor_name));
    } else {
        fmd_strlcpy(r->actor_kind, c->actor_kind ? c->actor_kind : "anonymous",
                    sizeof(r->actor_kind));
        fmd_strlcpy(r->actor_id, c->actor_id ? c->actor_id : "", sizeof(r->actor_id));
        fmd_strlcpy(r->actor_name, c->actor_name ? c->actor_name : "", sizeof(r->actor_name));
    }
}

static void fill_detail(const struct http_req *req, struct audit_row *r)
{
    json_t *d = json_pack("{s:s, s:s%}", "method", http_method_name(req->method), "path",
                          req->path, strlen(req->path) > 256 ? (size_t)256 : strlen(req->path));
    char *s = d ? json_encode(d) : NULL;

    if (s && strlen(s) < sizeof(r->detail))
        fmd_strlcpy(r->detail, s, sizeof(r->detail));
    fmd_free(s);
    json_decref(d);
}

static void row_of(struct http_req *req, const struct api_audit_ctx *c, int status,
                   const char *outcome, struct audit_row *r)
{
    memset(r, 0, sizeof(*r));
    derive(req, r);
    if (c->action)
        fmd_strlcpy(r->action, c->action, sizeof(r->action));
    if (c->target_type)
        fmd_strlcpy(r->target_type, c->target_type, sizeof(r->target_type));
    if (c->target_id)
        fmd_strlcpy(r->target_id, c->target_id, sizeof(r->target_id));
    fmd_strlcpy(r->project_id, c->project_id ? c->project_id : "", sizeof(r->project_id));
    fmd_strlcpy(r->client, c->client, sizeof(r->client));
    fmd_strlcpy(r->request_id, req->request_id, sizeof(r->request_id));
    fill_actor(c, r);
    fill_detail(req, r);
    r->e.at = clock_wall_ms();
    r->e.actor_kind = r->actor_kind;
    r->e.actor_id = r->actor_id;
    r->e.actor_name = r->actor_name;
    r->e.client = r->client;
    r->e.request_id = r->request_id;
    r->e.action = r->action;
    r->e.target_type = r->target_type;
    r->e.target_id = r->target_id;
    r->e.project_id = r->project_id;
    r->e.status = status;
    r->e.outcome = outcome;
    r->e.detail = r->detail[0] ? r->detail : NULL;
}

/*
 * The status a committed write answers: the answer itself comes after the
 * commit, so the row records what the route answers on success.
 */
static int ok_status(const char *action, int no_content)
{
    size_t n = strlen(action);
    if (no_content)
        return 204;
    if (!strncmp(action, "ai.", 3) || strstr(action, ".ai.") || !strcmp(action, "export.create"))
        return 202;
    if (n > 7 && !strcmp(action + n - 7, ".create"))
        return 201;
    return 200;
}

int api__audit_in_write(struct http_req *req, struct db *db, int no_content,
                        struct fmd_err *err)
{
    struct api_audit_ctx *c = api__audit(req);
    struct audit_row r;
    int rc;

    if (!c || c->written || !is_management(req))
        return 0;
    row_of(req, c, 200, "ok", &r);
    r.e.status = ok_status(r.action, no_content);
    if ((rc = store_audit_append(db, &r.e, err)))
        return rc;
    c->written = 1;
    return 0;
}

void api__audit_written(struct http_req *req, int rc)
{
    struct api_audit_ctx *c = api__audit(req);
    if (!c || !c->written)
        return;
    if (rc)
        c->written = 0;    /* the batch failed: the row went with it */
    else
        count("ok");
}

static int append_job(struct db *db, void *arg, struct fmd_err *err)
{
    struct audit_row *r = arg;
    return store_audit_append(db, &r->e, err);
}

static void append_done(void *arg, int rc, const struct fmd_err *err)
{
    struct audit_row *r = arg;
    if (rc)
        log_error("audit row for '%s' (%s) not written: %s", r->action, r->request_id,
                  err ? err->msg : "");
    else
        count(r->e.outcome);
    fmd_free(r);
}

static const char *outcome_of(int status)
{
    if (status < 400)
        return "ok";
    return status == 401 || status == 403 || status == 404 ? "denied" : "failed";
}

void api__audit_prepare(struct http_req *req)
{
    struct api_audit_ctx *c = api__audit(req);
    /* The address rate limits use too (X-Forwarded-For behind a trusted
     * proxy), read while the connection is certainly there: not at on_done. */
    if (c && !c->client[0] && is_management(req))
        api_client_address(req, c->client, sizeof(c->client));
}

void api__audit_finish(struct http_req *req)
{
    struct api_audit_ctx *c = api__audit(req);
    struct app *app = req->app;
    struct audit_row *r;
    int status = req->status ? req->status : 499;

    if (!c || c->written || !is_management(req) || !app->writer)
        return;
    if (!(r = fmd_malloc(sizeof(*r)))) {
        log_error("audit row for %s not written: out of memory", req->request_id);
        return;
    }
    row_of(req, c, status, outcome_of(status), r);
    /* The strings are r's own, so the row outlives the request. */
    if (db_writer_submit(app->writer, append_job, append_done, r)) {
        log_error("audit row for %s not written: cannot queue it", req->request_id);
        fmd_free(r);
    }
}

/* ---- GET /v1/audit, GET /v1/audit/export ---- */

static int query_time(struct http_req *req, const char *name, int64_t *ms)
{
    const char *s = http_query(req, name);
    char msg[160];

    *ms = 0;
    if (!s)
        return 0;
    if (clock_parse_rfc3339(s, ms) || *ms <= 0) {
        snprintf(msg, sizeof(msg), "'%s' must be an RFC 3339 date-time such as "
                 "\"2026-01-31T00:00:00Z\"", name);
        http_problem(req, FMD_EINVAL, NULL, msg, NULL);
        return -1;
    }
    return 0;
}

/* The project a caller who is not a global admin may read, or answered. */
static int scope(struct http_req *req, const struct principal *pr,
                 struct store_audit_filter *f)
{
    const char *only = NULL;
    int i, admin_on = 0;

    if (api_role_on(pr, "") == ROLE_ADMIN)
        return 0;
    if (f->project)
        return api_require(req, pr, f->project, ROLE_ADMIN, "project");
    for (i = 0; i < pr->ngrants; i++)
        if (pr->grants[i].project_id[0] && pr->grants[i].role == ROLE_ADMIN) {
            only = pr->grants[i].project_id;
            admin_on++;
        }
    if (!admin_on) {
        http_problem(req, FMD_EFORBIDDEN, NULL,
                     "reading the audit log needs the 'admin' role", NULL);
        return -1;
    }
    if (admin_on > 1) {
        http_problem(req, FMD_EINVAL, NULL,
                     "the caller administers several projects: name one with ?project=", NULL);
        return -1;
    }
    f->project = only;
    return 0;
}

/* Authenticates, checks the role and reads the filters: 0, or answered. */
static int audit_filter(struct http_req *req, struct store_audit_filter *f)
{
    struct principal *pr = api_auth(req);
    const char *outcome;

    memset(f, 0, sizeof(*f));
    if (!pr)
        return -1;
    f->actor = http_query(req, "actor");
    f->action = http_query(req, "action");
    f->target = http_query(req, "target");
    f->project = http_query(req, "project");
    /* Not an id at all: 404, as for an unknown project elsewhere. A well-formed id
     * that names no project simply matches no row. */
    if (f->project && !id_valid(f->project)) {
        api_not_found(req, "project");
        return -1;
    }
    f->outcome = outcome = http_query(req, "outcome");
    if (outcome && strcmp(outcome, "ok") && strcmp(outcome, "denied") &&
        strcmp(outcome, "failed")) {
        http_problem(req, FMD_EINVAL, NULL, "'outcome' must be ok, denied or failed", NULL);
        return -1;
    }
    if (query_time(req, "since", &f->since) || query_time(req, "until", &f->until))
        return -1;
    return scope(req, pr, f);
}

void api_audit_list(struct http_req *req)
{
    struct store_audit_filter f;
    struct fmd_err err = {0};
    const char *cursor;
    json_t *page;
    struct db *db;
    int limit;

    if (audit_filter(req, &f) || api_limit(req, &limit) || api_cursor(req, &cursor) ||
        !(db = api_db(req)))
        return;
    if (store_audit_list(db, &f, cursor, limit, &page, &err)) {
        http_problem_err(req, &err);
        return;
    }
    http_send_json(req, 200, page);
}

/* An unnamed file in dir: O_TMPFILE, or a unique name unlinked at once. */
static int anon_file(struct http_req *req, const char *dir)
{
    char *name;
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    if (!(name = arena_printf(&req->arena, "%s/formd-audit-XXXXXX", dir)))
        return -1;
    if ((fd = mkostemp(name, O_CLOEXEC)) >= 0)
        unlink(name);
    return fd;
}

struct spool {
    int fd;
    struct buf b;
    uint64_t size;
    struct fmd_err *err;
};

static int spool_flush(struct spool *s, struct fmd_err *err)
{
    size_t off = 0;
    while (off < s->b.len) {
        ssize_t w = write(s->fd, s->b.p + off, s->b.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return fmd_errf(err, FMD_EIO, "cannot write the export: %s", strerror(errno));
        off += (size_t)w;
    }
    s->size += s->b.len;
    buf_reset(&s->b);
    return 0;
}

static int spool_row(void *arg, json_t *row)
{
    struct spool *s = arg;
    if (json_append(&s->b, row) || buf_addc(&s->b, '\n'))
        return fmd_errf(s->err, FMD_ENOMEM, "out of memory writing the export");
    return s->b.len >= 64 * 1024 ? spool_flush(s, s->err) : 0;
}

/*
 * The rows go to an unnamed file in the data directory, 64 KiB at a time,
 * then out with http_send_file: a large log never sits in memory whole.
 */
void api_audit_export(struct http_req *req)
{
    struct app *app = req->app;
    struct store_audit_filter f;
    struct fmd_err err = {0};
    struct spool s = {.fd = -1, .err = &err};
    struct db *db;
    char name[64], when[CLOCK_RFC3339_LEN];
    int rc;

    if (audit_filter(req, &f) || !(db = api_db(req)))
        return;
    buf_init(&s.b, 1024 * 1024);
    if ((s.fd = anon_file(req, app->cfg->data_dir)) < 0) {
        http_problem(req, FMD_EIO, NULL, "cannot make a temporary file for the export", NULL);
        goto out;
    }
    rc = store_audit_each(db, &f, spool_row, &s, &err);
    if (!rc)
        rc = spool_flush(&s, &err);
    if (rc) {
        if (!err.msg[0])
            fmd_errf(&err, rc, "cannot write the export");
        http_problem_err(req, &err);
        goto out;
    }
    if (lseek(s.fd, 0, SEEK_SET) < 0) {
        http_problem(req, FMD_EIO, NULL, "cannot read the export back", NULL);
        goto out;
    }
    clock_rfc3339(clock_wall_ms(), when);
    when[10] = '\0';
    snprintf(name, sizeof(name), "formd-audit-%s.jsonl", when);
    http_add_header(req, "Content-Disposition",
                    arena_printf(&req->arena, "attachment; filename=\"%s\"", name));
    http_send_file(req, 200, "application/x-ndjson", s.fd, s.size);
    s.fd = -1;    /* the server's now */
out:
    if (s.fd >= 0)
        close(s.fd);
    buf_release(&s.b);
}
