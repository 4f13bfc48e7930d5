/* writer.c - one writer thread, batched transactions, one fsync per batch. */
#include "db/writer.h"

#include <pthread.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/banned.h"

struct job {
    struct job *next;
    db_write_fn fn;
    db_done_fn done;
    void *arg;
    int rc;
    struct fmd_err err;
};

struct db_writer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct job *head, *tail;
    int stopping;
    int batch_max;
    struct db *db;
    db_writer_observer observer;
};

/* Runs one job inside its own savepoint so a failure undoes only its work. */
static void run_job(struct db *db, struct job *j)
{
    fmd_err_clear(&j->err);
    if (db_run(db, "SAVEPOINT job", &j->err)) {
        j->rc = j->err.code;
        return;
    }
    j->rc = j->fn(db, j->arg, &j->err);
    if (j->rc) {
        if (!j->err.code)
            fmd_errf(&j->err, j->rc, "%s", fmd_err_msg(j->rc));
        db_run(db, "ROLLBACK TO job", NULL);
    }
    db_run(db, "RELEASE job", NULL);
}

static void run_batch(struct db_writer *w, struct job *batch, int n)
{
    struct fmd_err err = {0};
    struct job *j, *next;
    uint64_t t0 = clock_mono_ns();
    int rc = db_begin(w->db, &err);

    for (j = batch; j && !rc; j = j->next)
        run_job(w->db, j);
    if (!rc && (rc = db_commit(w->db, &err)))
        db_rollback(w->db);
    if (rc)
        log_error("group commit of %d writes failed: %s", n, err.msg);
    if (w->observer)
        w->observer(n, (double)(clock_mono_ns() - t0) / 1e9);
    for (j = batch; j; j = next) {
        next = j->next;
        if (rc && !j->rc) {
            j->rc = rc;
            j->err = err;
        }
        j->done(j->arg, j->rc, &j->err);
        fmd_free(j);
    }
}

static void *writer_main(void *arg)
{
    struct db_writer *w = arg;
    for (;;) {
        struct job *batch, *last;
        int n = 1;
        pthread_mutex_lock(&w->lock);
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->wake, &w->lock);
        if (!w->head) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        batch = last = w->head;
        while (last->next && n < w->batch_max) {
            last = last->next;
            n++;
        }
        w->head = last->next;
        if (!w->head)
            w->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&w->lock);
        run_batch(w, batch, n);
    }
    return NULL;
}

int db_writer_start(const char *target, int batch_max, struct db_writer **out,
                    struct fmd_err *err)
{
    struct db_writer *w = fmd_calloc(1, sizeof(*w));
    int rc;

    *out = NULL;
    if (!w)
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    if ((rc = db_open(target, 0, &w->db, err))) {
        fmd_free(w);
        return rc;
    }
    w->batch_max = batch_max > 0 ? batch_max : 1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w)) {
        db_close(w->db);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->wake);
        fmd_free(w);
        return fmd_errf(err, FMD_EINTERNAL, "cannot start the writer thread");
    }
    *out = w;
    return 0;
}

void db_writer_stop(struct db_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    db_close(w->db);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    fmd_free(w);
}

void db_writer_set_observer(struct db_writer *w, db_writer_observer obs)
{
    w->observer = obs;
}

int db_writer_submit(struct db_writer *w, db_write_fn fn, db_done_fn done, void *arg)
{
    struct job *j = fmd_calloc(1, sizeof(*j));
    if (!j)
        return FMD_ENOMEM;
    j->fn = fn;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

struct sync_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int finished, rc;
    struct fmd_err err;
};

static void sync_done(void *arg, int rc, const struct fmd_err *err)
{
    struct sync_wait *s = arg;
    pthread_mutex_lock(&s->lock);
    s->finished = 1;
    s->rc = rc;
    if (err)
        s->err = *err;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

struct sync_call {
    db_write_fn fn;
    void *arg;
    struct sync_wait wait;
};

static int sync_fn(struct db *db, void *arg, struct fmd_err *err)
{
    struct sync_call *c = arg;
    return c->fn(db, c->arg, err);
}

static void sync_call_done(void *arg, int rc, const struct fmd_err *err)
{
    sync_done(&((struct sync_call *)arg)->wait, rc, err);
}

int db_writer_run(struct db_writer *w, db_write_fn fn, void *arg, struct fmd_err *err)
{
    struct sync_call c = {.fn = fn, .arg = arg};
    int rc;

    pthread_mutex_init(&c.wait.lock, NULL);
    pthread_cond_init(&c.wait.cond, NULL);
    rc = db_writer_submit(w, sync_fn, sync_call_done, &c);
    if (rc) {
        fmd_errf(err, rc, "out of memory");
        goto out;
    }
    pthread_mutex_lock(&c.wait.lock);
    while (!c.wait.finished)
        pthread_cond_wait(&c.wait.cond, &c.wait.lock);
    pthread_mutex_unlock(&c.wait.lock);
    rc = c.wait.rc;
    if (rc && err)
        *err = c.wait.err;
out:
    pthread_mutex_destroy(&c.wait.lock);
    pthread_cond_destroy(&c.wait.cond);
    return rc;
}
