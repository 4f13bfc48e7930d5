/* pool.c - a mutex-guarded stack of idle read connections. */
#include "db/pool.h"

#include <pthread.h>

#include "core/mem.h"
#include "core/banned.h"

#define POOL_IDLE_MAX 64

struct db_pool {
    pthread_mutex_t lock;
    char *target;
    struct db *idle[POOL_IDLE_MAX];
    int nidle;
};

int db_pool_new(const char *target, struct db_pool **out, struct fmd_err *err)
{
    struct db_pool *p = fmd_calloc(1, sizeof(*p));
    if (!p || !(p->target = fmd_strdup(target))) {
        fmd_free(p);
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&p->lock, NULL);
    *out = p;
    return 0;
}

void db_pool_free(struct db_pool *p)
{
    int i;
    if (!p)
        return;
    for (i = 0; i < p->nidle; i++)
        db_close(p->idle[i]);
    pthread_mutex_destroy(&p->lock);
    fmd_free(p->target);
    fmd_free(p);
}

int db_pool_get(struct db_pool *p, struct db **out, struct fmd_err *err)
{
    pthread_mutex_lock(&p->lock);
    if (p->nidle) {
        *out = p->idle[--p->nidle];
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    pthread_mutex_unlock(&p->lock);
    return db_open(p->target, DB_READONLY, out, err);
}

void db_pool_put(struct db_pool *p, struct db *db)
{
    if (!db)
        return;
    if (!db_usable(db)) {
        db_close(db);
        return;
    }
    pthread_mutex_lock(&p->lock);
    if (p->nidle < POOL_IDLE_MAX) {
        p->idle[p->nidle++] = db;
        db = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    db_close(db);
}
