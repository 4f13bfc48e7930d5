/*
 * tasks.c - /v1/tasks/{tid} and /v1/queues: task state, manual retry and
 * cancellation, queue depths, pause and resume.
 *
 * A task belongs to the project whose data caused it; system tasks belong
 * to none and only a global admin sees them.
 */
#include "api/api.h"

#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "queue/queue.h"
#include "core/banned.h"

struct task_op {
    char id[ID_LEN + 1];
    char name[QUEUE_NAME_MAX + 1];
    int paused;
};

/* Finds the task and checks the caller's role on its project: 0, or answered. */
static int load_task(struct http_req *req, struct principal *pr, enum role need, json_t **out)
{
    struct fmd_err err = {0};
    char project_id[ID_LEN + 1];
    struct db *db = api_db(req);
    int rc;

    *out = NULL;
    if (!db)
        return -1;
    if ((rc = queue_task_json(db, req->params[0], out, project_id, &err))) {
        if (rc == FMD_ENOTFOUND)
            api_not_found(req, "task");
        else
            http_problem_err(req, &err);
        return -1;
    }
    if (api_require(req, pr, project_id, need, "task")) {
        json_decref(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

void api_task_get(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    json_t *task;
    if (pr && !load_task(req, pr, ROLE_VIEWER, &task))
        http_send_json(req, 200, task);
}

static void task_answer(struct http_req *req)
{
    struct task_op *op = api_write_arg(req);
    struct fmd_err e2 = {0};
    char project_id[ID_LEN + 1];
    json_t *task;

    if (api_write_failed(req))
        return;
    if (queue_task_json(api_db(req), op->id, &task, project_id, &e2))
        http_problem_err(req, &e2);
    else
        http_send_json(req, 200, task);
}

static int retry_write(struct db *db, void *arg, struct fmd_err *err)
{
    return queue_retry(db, ((struct task_op *)arg)->id, clock_wall_ms(), err);
}

static int cancel_write(struct db *db, void *arg, struct fmd_err *err)
{
    return queue_cancel(db, ((struct task_op *)arg)->id, clock_wall_ms(), err);
}

/* After a cancel: a handler running it in this process stops at once. */
static void cancel_answer(struct http_req *req)
{
    struct app *app = req->app;
    struct task_op *op = api_write_arg(req);

    if (!api_write_result(req, NULL))
        queue_pool_cancelled(app->workers, op->id);
    task_answer(req);
}

static void task_change(struct http_req *req, db_write_fn fn, http_handler answer)
{
    struct principal *pr = api_auth(req);
    struct task_op *op;
    json_t *task;

    if (!pr || load_task(req, pr, ROLE_EDITOR, &task))
        return;
    json_decref(task);
    if (!(op = arena_alloc(&req->arena, sizeof(*op)))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return;
    }
    memset(op, 0, sizeof(*op));
    fmd_strlcpy(op->id, req->params[0], sizeof(op->id));
    api_write(req, fn, op, answer);
}

void api_task_retry(struct http_req *req)
{
    task_change(req, retry_write, task_answer);
}

void api_task_cancel(struct http_req *req)
{
    task_change(req, cancel_write, cancel_answer);
}

/* ---- lists and queues: global admins only ---- */

static struct principal *global_admin(struct http_req *req)
{
    struct principal *pr = api_auth(req);
    if (pr && api_role_on(pr, "") < ROLE_ADMIN) {
        http_problem(req, FMD_EFORBIDDEN, NULL, "queues are managed by global admins", NULL);
        return NULL;
    }
    return pr;
}

static const char *const states[] = {"scheduled", "available", "running", "retryable",
                                     "completed", "discarded", "cancelled", NULL};

void api_task_list(struct http_req *req)
{
    struct queue_filter f = {0};
    struct fmd_err err = {0};
    struct db *db;
    json_t *page;
    int i;

    if (!global_admin(req) || api_limit(req, &f.limit) || api_cursor(req, &f.cursor))
        return;
    f.state = http_query(req, "state");
    f.queue = http_query(req, "queue");
    f.kind = http_query(req, "kind");
    for (i = 0; f.state && states[i] && strcmp(states[i], f.state); i++)
        ;
    if (f.state && !states[i]) {
        http_problem(req, FMD_EINVAL, NULL, "'state' must be scheduled, available, running, "
                                            "retryable, completed, discarded or cancelled", NULL);
        return;
    }
    if (!(db = api_db(req)))
        return;
    if (queue_task_list(db, &f, &page, &err)) {
        http_problem_err(req, &err);
        return;
    }
    http_send_json(req, 200, page);
}

void api_queue_list(struct http_req *req)
{
    struct fmd_err err = {0};
    struct db *db;
    json_t *list;

    if (!global_admin(req) || !(db = api_db(req)))
        return;
    if (queue_stats_json(db, clock_wall_ms(), &list, &err)) {
        http_problem_err(req, &err);
        return;
    }
    http_send_json(req, 200, json_pack("{s:o}", "items", list));
}

static int pause_write(struct db *db, void *arg, struct fmd_err *err)
{
    struct task_op *op = arg;
    return queue_set_paused(db, op->name, op->paused, err);
}

static void paused_answer(struct http_req *req)
{
    struct task_op *op = api_write_arg(req);
    if (api_write_failed(req))
        return;
    http_send_json(req, 200, json_pack("{s:s, s:b}", "name", op->name, "paused", op->paused));
}

static void set_paused(struct http_req *req, int paused)
{
    struct task_op *op;
    if (!global_admin(req))
        return;
    if (strlen(req->params[0]) > QUEUE_NAME_MAX) {
        api_not_found(req, "queue");
        return;
    }
    if (!(op = arena_alloc(&req->arena, sizeof(*op)))) {
        http_problem(req, FMD_ENOMEM, NULL, NULL, NULL);
        return;
    }
    memset(op, 0, sizeof(*op));
    fmd_strlcpy(op->name, req->params[0], sizeof(op->name));
    op->paused = paused;
    api_write(req, pause_write, op, paused_answer);
}

void api_queue_pause(struct http_req *req)
{
    set_paused(req, 1);
}

void api_queue_resume(struct http_req *req)
{
    set_paused(req, 0);
}
