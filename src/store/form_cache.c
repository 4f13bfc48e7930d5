/*
 * form_cache.c - a direct-mapped cache: one slot per slug hash, the newest
 * entry wins a collision. Readers share a rwlock and copy the bytes out.
 */
#include "store/form_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "core/banned.h"

struct slot {
    char *slug;
    char *body;
    size_t len;
    int64_t expires_ms;
};

static struct slot slots[FORM_CACHE_SLOTS];
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static atomic_uint_fast64_t generation;

static struct slot *slot_of(const char *slug)
{
    unsigned h = 2166136261u;
    for (; *slug; slug++)
        h = (h ^ (unsigned char)*slug) * 16777619u;
    return &slots[h & (FORM_CACHE_SLOTS - 1)];
}

static void slot_clear(struct slot *s)
{
    fmd_freez(&s->slug);
    fmd_freez(&s->body);
    s->len = 0;
}

int form_cache_get(const char *slug, struct buf *out)
{
    struct slot *s = slot_of(slug);
    int hit = 0;
    pthread_rwlock_rdlock(&lock);
    if (s->slug && !strcmp(s->slug, slug) && clock_wall_ms() < s->expires_ms)
        hit = buf_add(out, s->body, s->len) == 0;
    pthread_rwlock_unlock(&lock);
    return hit;
}

uint64_t form_cache_generation(void)
{
    return atomic_load(&generation);
}

void form_cache_put(const char *slug, const char *body, size_t len, uint64_t gen)
{
    struct slot *s = slot_of(slug);
    char *slug_copy = fmd_strdup(slug), *body_copy = fmd_strndup(body, len);

    if (slug_copy && body_copy) {
        pthread_rwlock_wrlock(&lock);
        if (atomic_load(&generation) == gen) {
            slot_clear(s);
            s->slug = slug_copy;
            s->body = body_copy;
            s->len = len;
            s->expires_ms = clock_wall_ms() + FORM_CACHE_TTL_MS;
            slug_copy = body_copy = NULL;
        }
        pthread_rwlock_unlock(&lock);
    }
    fmd_free(slug_copy);
    fmd_free(body_copy);
}

void form_cache_forget(const char *slug)
{
    int i;
    pthread_rwlock_wrlock(&lock);
    atomic_fetch_add(&generation, 1);
    if (slug) {
        struct slot *s = slot_of(slug);
        if (s->slug && !strcmp(s->slug, slug))
            slot_clear(s);
    } else {
        for (i = 0; i < FORM_CACHE_SLOTS; i++)
            slot_clear(&slots[i]);
    }
    pthread_rwlock_unlock(&lock);
}

void form_cache_clear(void)
{
    form_cache_forget(NULL);
}
