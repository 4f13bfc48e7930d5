/* webhook.c - enqueueing webhook events and delivering them. */
#include "tasks/webhook.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "queue/queue.h"
#include "security/ssrf.h"
#include "security/webhook_sign.h"
#include "store/sensitive.h"
#include "store/submissions.h"
#include "store/webhooks.h"
#include "tasks/tasks.h"
#include "core/banned.h"

#define RESPONSE_KEEP 1024
#define CONNECT_TIMEOUT_MS 5000
#define TOTAL_TIMEOUT_MS 15000
#define WEBHOOK_ATTEMPTS 12          /* about 34 minutes of backoff in all */

const char *const webhook_events[] = {
    "submission.created", "submission.updated", "submission.deleted",
    "submission.restored", "submission.purged", NULL,
};

int webhook_event_valid(const char *name)
{
    int i;
    for (i = 0; name && webhook_events[i]; i++)
        if (!strcmp(name, webhook_events[i]))
            return 1;
    return 0;
}

/* ---- enqueue, inside the caller's transaction ---- */

struct enqueue_ctx {
    struct db *db;
    const char *form_id, *project_id, *event;
    const json_t *data;
    const char *submission_id;   /* data is this submission, read on first need */
    json_t *loaded;
    struct fmd_err *err;
};

static int enqueue_one(void *arg, const char *webhook_id)
{
    struct enqueue_ctx *c = arg;
    struct queue_new t = {.kind = WEBHOOK_TASK_KIND, .queue = "default",
                          .max_attempts = WEBHOOK_ATTEMPTS, .project_id = c->project_id};
    char msg_id[4 + ID_LEN + 1], task_id[ID_LEN + 1], stamp[CLOCK_RFC3339_LEN];
    json_t *payload;
    char *text;
    int existing, rc;

    if (!c->data) {
        /* Masked: a payload waits in the tasks table and leaves for another system. */
        if ((rc = store_submission_get(c->db, c->submission_id, &c->loaded, NULL, c->err)) ||
            (rc = sensitive_show_submission(c->db, c->loaded, 0, c->err)))
            return rc;
        c->data = c->loaded;
    }
    memcpy(msg_id, "msg_", 4);
    id_new(msg_id + 4);
    payload = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:O}}", "webhook_id", webhook_id,
                        "message_id", msg_id, "event", c->event, "body", "type", c->event,
                        "timestamp", clock_rfc3339(clock_wall_ms(), stamp), "data", c->data);
    if (!payload || !(text = json_encode(payload))) {
        json_decref(payload);
        return fmd_errf(c->err, FMD_ENOMEM, "out of memory");
    }
    json_decref(payload);
    t.payload = text;
    rc = queue_enqueue(c->db, &t, task_id, &existing, c->err);
    fmd_free(text);
    return rc;
}

int webhook_enqueue_event(struct db *db, const char *form_id, const char *project_id,
                          const char *event, const json_t *data, struct fmd_err *err)
{
    struct enqueue_ctx c = {.db = db, .form_id = form_id, .project_id = project_id,
                            .event = event, .data = data, .err = err};
    return store_webhooks_each(db, form_id, event, enqueue_one, &c, err);
}

int webhook_submission_event(struct db *db, const char *project_id, const char *form_id,
                             const char *event, const char *submission_id, struct fmd_err *err)
{
    struct enqueue_ctx c = {.db = db, .form_id = form_id, .project_id = project_id,
                            .event = event, .submission_id = submission_id, .err = err};
    int rc = store_webhooks_each(db, form_id, event, enqueue_one, &c, err);
    json_decref(c.loaded);
    return rc;
}

/* ---- delivery ---- */

struct attempt {
    struct store_delivery log;
    struct buf response;
    long status;
    char error[512];
};

static size_t keep_response(char *data, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    size_t len = size * n, room = RESPONSE_KEEP - b->len;
    if (room)
        buf_add(b, data, len < room ? len : room);
    return len;   /* read it all; keep the start */
}

/* Refuses at connect time any address the SSRF check would refuse. */
static curl_socket_t open_checked(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    const int *allow_private = arg;
    if (!ssrf_addr_allowed(&a->addr, *allow_private))
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype, a->protocol);
}

static int64_t retry_after_ms(CURL *curl)
{
    curl_off_t secs = 0;
    if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &secs) != CURLE_OK || secs <= 0)
        return 0;
    return secs > 3600 ? 3600 * 1000 : (int64_t)secs * 1000;
}

static int log_write(struct db *db, void *arg, struct fmd_err *err)
{
    return store_delivery_insert(db, &((struct attempt *)arg)->log, err);
}

/* The attempt's log row, written before the task's outcome is. */
static void record_attempt(struct attempt *a)
{
    struct fmd_err err = {0};
    a->log.status = (int)a->status;
    a->log.error = a->error[0] ? a->error : NULL;
    a->log.response = a->response.len ? a->response.p : NULL;
    if (db_writer_run(tasks__env()->writer, log_write, a, &err))
        log_warn("cannot log a webhook delivery: %s", err.msg);
}

/* Appends one header line; on failure the list is freed and NULL returned. */
static struct curl_slist *add_header(struct curl_slist *h, const char *line)
{
    struct curl_slist *next = curl_slist_append(h, line);
    if (!next)
        curl_slist_free_all(h);
    return next;
}

/* Headers of one attempt, freed by the caller with curl_slist_free_all. */
static struct curl_slist *signed_headers(const struct store_webhook *w, const char *msg_id,
                                         const char *body, size_t len, char *why, size_t cap)
{
    unsigned char key[WEBHOOK_KEY_MAX];
    size_t keylen = 0;
    char sig[WEBHOOK_SIG_MAX], id_line[300], ts_line[64], sig_line[80];
    struct curl_slist *h;
    struct fmd_err err = {0};
    int64_t ts = clock_wall_ms() / 1000;

    int bad = webhook_secret_parse(w->secret, key, &keylen, &err) ||
              webhook_sign(key, keylen, msg_id, ts, body, len, sig, sizeof(sig));
    sodium_memzero(key, sizeof(key));
    if (bad) {
        snprintf(why, cap, "cannot sign the message: %s", err.msg[0] ? err.msg : "bad secret");
        return NULL;
    }
    snprintf(id_line, sizeof(id_line), "webhook-id: %s", msg_id);
    snprintf(ts_line, sizeof(ts_line), "webhook-timestamp: %lld", (long long)ts);
    snprintf(sig_line, sizeof(sig_line), "webhook-signature: %s", sig);
    h = add_header(NULL, "Content-Type: application/json");
    h = h ? add_header(h, "User-Agent: formd-webhooks/1") : NULL;
    h = h ? add_header(h, id_line) : NULL;
    h = h ? add_header(h, ts_line) : NULL;
    h = h ? add_header(h, sig_line) : NULL;
    if (!h)
        snprintf(why, cap, "out of memory");
    return h;
}

/*
 * One POST. Returns 0 on 2xx; otherwise fills run->error and sets
 * run->permanent / run->retry_after_ms as the answer warrants.
 */
static int post(struct queue_run *run, struct attempt *a, const struct ssrf_target *t,
                const char *url, struct curl_slist *headers, const char *body, size_t len)
{
    int allow_private = tasks__env()->allow_private_targets;
    /* A host name is pinned to the addresses checked; an IP literal needs nothing. */
    struct curl_slist *resolve =
        t->resolve_entry[0] ? curl_slist_append(NULL, t->resolve_entry) : NULL;
    CURL *curl = curl_easy_init();
    CURLcode cc;
    int rc = FMD_EIO;

    if (!curl || (t->resolve_entry[0] && !resolve)) {
        snprintf(run->error, sizeof(run->error), "out of memory");
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    if (resolve)
        curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_checked);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &allow_private);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)TOTAL_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_response);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a->response);
    cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        snprintf(run->error, sizeof(run->error), "%s", curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
    if (a->status >= 200 && a->status < 300) {
        rc = 0;
        goto out;
    }
    snprintf(run->error, sizeof(run->error), "the receiver answered %ld", a->status);
    if (a->status == 429)
        run->retry_after_ms = retry_after_ms(curl);
    else if (a->status != 408 && a->status < 500)
        run->permanent = 1;   /* 3xx (not followed) and 4xx: sending again will not help */
out:
    fmd_strlcpy(a->error, rc ? run->error : "", sizeof(a->error));
    curl_slist_free_all(resolve);
    curl_easy_cleanup(curl);
    return rc;
}

int webhook_deliver(struct queue_run *run)
{
    const struct tasks_env *env = tasks__env();
    const char *webhook_id = json_get_str(run->payload, "webhook_id");
    const char *msg_id = json_get_str(run->payload, "message_id");
    const char *event = json_get_str(run->payload, "event");
    json_t *body_json = json_object_get(run->payload, "body");
    struct attempt a = {0};
    struct store_webhook w;
    struct ssrf_target *t = NULL;
    struct curl_slist *headers = NULL;
    struct fmd_err err = {0};
    struct db *db = NULL;
    uint64_t t0 = clock_mono_ns();
    char *body = NULL;
    int rc;

    buf_init(&a.response, RESPONSE_KEEP);
    if (!webhook_id || !msg_id || !event || !json_is_object(body_json)) {
        snprintf(run->error, sizeof(run->error), "malformed webhook task payload");
        run->permanent = 1;
        return FMD_EINVAL;
    }
    if ((rc = db_pool_get(env->pool, &db, &err)) == 0)
        rc = store_webhook_get(db, webhook_id, &w, &err);
    db_pool_put(env->pool, db);
    if (rc == FMD_ENOTFOUND) {
        run->result = fmd_strdup("{\"skipped\":\"the webhook was deleted\"}");
        return 0;
    }
    if (rc) {
        snprintf(run->error, sizeof(run->error), "%s", err.msg);
        return rc;
    }
    a.log.webhook_id = webhook_id;
    a.log.message_id = msg_id;
    a.log.task_id = run->task->id;
    a.log.event = event;
    a.log.attempt = run->task->attempt;
    if (!(t = fmd_calloc(1, sizeof(*t))) || !(body = json_encode(body_json))) {
        snprintf(run->error, sizeof(run->error), "out of memory");
        rc = FMD_ENOMEM;
        goto out;
    }
    if ((rc = ssrf_check_url(w.url, env->allow_private_targets, t, &err))) {
        /* A refused or malformed target stays so; a name that does not resolve may recover. */
        snprintf(run->error, sizeof(run->error), "%s", err.msg);
        run->permanent = rc == FMD_EFORBIDDEN || rc == FMD_EINVAL;
        fmd_strlcpy(a.error, run->error, sizeof(a.error));
        goto logged;
    }
    if (!(headers = signed_headers(&w, msg_id, body, strlen(body), run->error,
                                   sizeof(run->error)))) {
        run->permanent = 1;
        rc = FMD_EINVAL;
        fmd_strlcpy(a.error, run->error, sizeof(a.error));
        goto logged;
    }
    rc = post(run, &a, t, w.url, headers, body, strlen(body));
logged:
    a.log.duration_ms = (int64_t)((clock_mono_ns() - t0) / 1000000);
    record_attempt(&a);
    if (!rc)
        run->result = fmd_strdup("{\"delivered\":true}");
out:
    curl_slist_free_all(headers);
    buf_release(&a.response);
    fmd_free(body);
    fmd_free(t);
    return rc;
}
