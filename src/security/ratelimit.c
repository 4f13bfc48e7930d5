/*
 * ratelimit.c - a fixed table of keyed entries with least-recently-used
 * eviction, holding token buckets or failure counters (ratelimit.h).
 *
 * Entries live in one array allocated at the start. A hash index (chains
 * through entry indices) finds a key; a doubly linked list through indices
 * orders entries from most to least recently used. A miss on a full table
 * reuses the list's tail. Nothing is allocated after ratelimit_new.
 */
#include "security/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/banned.h"

#define NIL (-1)

struct entry {
    char key[RATELIMIT_KEY_MAX + 1];
    int32_t chain;            /* next entry in the same hash slot */
    int32_t newer, older;     /* LRU list neighbours */
    /* token bucket */
    double tokens;
    int64_t last_ms;          /* last refill, or last failure */
    /* failure counter */
    int failures;
    int64_t blocked_until;
};

struct ratelimit {
    pthread_mutex_t lock;
    struct entry *entries;
    int32_t *slots;           /* hash slot -> first entry, or NIL */
    size_t capacity, used, nslots;
    int32_t newest, oldest;
};

int ratelimit_parse(const char *text, const char *what, struct ratelimit_spec *out,
                    struct fmd_err *err)
{
    char *end;
    double count, secs, burst;

    memset(out, 0, sizeof(*out));
    if (!strcmp(text, "0") || !strcmp(text, "off") || !*text)
        return 0;
    count = strtod(text, &end);
    if (end == text || *end != '/' || !(count >= 1) || count > 1e9)
        goto bad;
    text = end + 1;
    secs = strtod(text, &end);
    if (end == text || !(secs > 0) || secs > 86400 * 365.0)
        goto bad;
    burst = count;
    if (*end == ',') {
        text = end + 1;
        burst = strtod(text, &end);
        if (end == text || !(burst >= 1) || burst > 1e9)
            goto bad;
    }
    if (*end)
        goto bad;
    out->rate = count / secs;
    out->burst = floor(burst);
    return 0;
bad:
    return fmd_errf(err, FMD_EINVAL,
                    "option '%s': expected COUNT/SECONDS[,BURST] such as \"600/60,100\", "
                    "or 0 for no limit", what);
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

int ratelimit_new(size_t capacity, struct ratelimit **out)
{
    struct ratelimit *rl;
    size_t i;

    *out = NULL;
    if (!capacity || capacity > INT32_MAX / 4)
        return FMD_EINVAL;
    if (!(rl = fmd_calloc(1, sizeof(*rl))))
        return FMD_ENOMEM;
    rl->capacity = capacity;
    rl->nslots = pow2_at_least(capacity * 2);
    rl->entries = fmd_calloc(capacity, sizeof(*rl->entries));
    rl->slots = fmd_malloc(rl->nslots * sizeof(*rl->slots));
    if (!rl->entries || !rl->slots) {
        fmd_free(rl->entries);
        fmd_free(rl->slots);
        fmd_free(rl);
        return FMD_ENOMEM;
    }
    for (i = 0; i < rl->nslots; i++)
        rl->slots[i] = NIL;
    rl->newest = rl->oldest = NIL;
    pthread_mutex_init(&rl->lock, NULL);
    *out = rl;
    return 0;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    fmd_free(rl->entries);
    fmd_free(rl->slots);
    fmd_free(rl);
}

size_t ratelimit_count(struct ratelimit *rl)
{
    size_t n;
    pthread_mutex_lock(&rl->lock);
    n = rl->used;
    pthread_mutex_unlock(&rl->lock);
    return n;
}

static size_t slot_of(const struct ratelimit *rl, const char *key)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29)) & (rl->nslots - 1);
}

static void lru_unlink(struct ratelimit *rl, int32_t i)
{
    struct entry *e = &rl->entries[i];
    if (e->newer != NIL)
        rl->entries[e->newer].older = e->older;
    else
        rl->newest = e->older;
    if (e->older != NIL)
        rl->entries[e->older].newer = e->newer;
    else
        rl->oldest = e->newer;
}

static void lru_push_newest(struct ratelimit *rl, int32_t i)
{
    struct entry *e = &rl->entries[i];
    e->newer = NIL;
    e->older = rl->newest;
    if (rl->newest != NIL)
        rl->entries[rl->newest].newer = i;
    rl->newest = i;
    if (rl->oldest == NIL)
        rl->oldest = i;
}

/* Removes entry i from its hash chain. */
static void chain_unlink(struct ratelimit *rl, int32_t i)
{
    int32_t *p = &rl->slots[slot_of(rl, rl->entries[i].key)];
    while (*p != NIL && *p != i)
        p = &rl->entries[*p].chain;
    if (*p == i)
        *p = rl->entries[i].chain;
}

/* The entry of key, made (fresh, *made = 1) when missing; most recently used now. */
static struct entry *lookup(struct ratelimit *rl, const char *key, int create, int *made)
{
    char k[RATELIMIT_KEY_MAX + 1];
    size_t slot;
    int32_t i;

    *made = 0;
    fmd_strlcpy(k, key, sizeof(k));
    slot = slot_of(rl, k);
    for (i = rl->slots[slot]; i != NIL; i = rl->entries[i].chain)
        if (!strcmp(rl->entries[i].key, k))
            break;
    if (i == NIL) {
        if (!create)
            return NULL;
        if (rl->used < rl->capacity) {
            i = (int32_t)rl->used++;
        } else {               /* full: the least recently used entry makes way */
            i = rl->oldest;
            chain_unlink(rl, i);
            lru_unlink(rl, i);
        }
        memset(&rl->entries[i], 0, sizeof(rl->entries[i]));
        memcpy(rl->entries[i].key, k, sizeof(k));
        rl->entries[i].chain = rl->slots[slot];
        rl->slots[slot] = i;
        lru_push_newest(rl, i);
        *made = 1;
    } else if (rl->newest != i) {
        lru_unlink(rl, i);
        lru_push_newest(rl, i);
    }
    return &rl->entries[i];
}

int64_t ratelimit_take(struct ratelimit *rl, const char *key, const struct ratelimit_spec *spec,
                       int64_t now_ms)
{
    struct entry *e;
    int64_t wait = 0;
    int made;

    if (!rl || spec->rate <= 0)
        return 0;
    pthread_mutex_lock(&rl->lock);
    e = lookup(rl, key, 1, &made);
    if (made) {
        e->tokens = spec->burst;
    } else if (now_ms > e->last_ms) {
        e->tokens += (double)(now_ms - e->last_ms) * spec->rate / 1000.0;
        if (e->tokens > spec->burst)
            e->tokens = spec->burst;
    }
    if (made || now_ms > e->last_ms)
        e->last_ms = now_ms;
    if (e->tokens >= 1.0) {
        e->tokens -= 1.0;
    } else {
        wait = (int64_t)ceil((1.0 - e->tokens) * 1000.0 / spec->rate);
        if (wait < 1)
            wait = 1;
    }
    pthread_mutex_unlock(&rl->lock);
    return wait;
}

/* Forgets failures when the last one is older than the window. */
static void expire_failures(struct entry *e, const struct ratelimit_backoff *b, int64_t now_ms)
{
    if (e->failures && now_ms - e->last_ms > b->window_ms && now_ms >= e->blocked_until) {
        e->failures = 0;
        e->blocked_until = 0;
    }
}

int64_t ratelimit_fail(struct ratelimit *rl, const char *key, const struct ratelimit_backoff *b,
                       int64_t now_ms)
{
    struct entry *e;
    int64_t delay = 0;
    int made, over;

    pthread_mutex_lock(&rl->lock);
    e = lookup(rl, key, 1, &made);
    expire_failures(e, b, now_ms);
    e->failures++;
    e->last_ms = now_ms;
    over = e->failures - b->after + 1;
    if (over > 0) {
        delay = b->base_ms;
        while (--over > 0 && delay < b->cap_ms)
            delay *= 2;
        if (delay > b->cap_ms)
            delay = b->cap_ms;
        e->blocked_until = now_ms + delay;
    }
    pthread_mutex_unlock(&rl->lock);
    return delay;
}

int64_t ratelimit_blocked(struct ratelimit *rl, const char *key, int64_t now_ms)
{
    struct entry *e;
    int64_t left = 0;
    int made;

    pthread_mutex_lock(&rl->lock);
    if ((e = lookup(rl, key, 0, &made)) && e->blocked_until > now_ms)
        left = e->blocked_until - now_ms;
    pthread_mutex_unlock(&rl->lock);
    return left;
}

void ratelimit_forget(struct ratelimit *rl, const char *key)
{
    struct entry *e;
    int made;

    pthread_mutex_lock(&rl->lock);
    if ((e = lookup(rl, key, 0, &made))) {
        e->failures = 0;
        e->blocked_until = 0;
    }
    pthread_mutex_unlock(&rl->lock);
}

int64_t ratelimit_retry_after(int64_t ms)
{
    int64_t s = (ms + 999) / 1000;
    return s < 1 ? 1 : s;
}
