/*
 * metrics.c - the Prometheus registry: families, lock-free series updates and
 * text exposition (format 0.0.4).
 *
 * Layout. The registry is a list of families in registration order, guarded
 * by reg_lock (taken by register, render and reset, never by updates). A
 * family without labels has one series, made at registration. A family with
 * labels has a fixed open-addressing table of TABLE_SIZE series pointers
 * (more than twice METRIC_MAX_SERIES, so probes stay short and never run out
 * of empty slots) and an array of the same series in creation order for
 * rendering.
 *
 * Concurrency. Series are only ever added, never moved or removed until
 * metrics_reset, so readers need no lock: a creator, holding the family's
 * lock, fills the series, appends it to order[] and publishes the count with
 * a release store, then publishes the table slot with a release store; the
 * update path probes the table with acquire loads, and render reads the
 * count with an acquire load before walking order[]. Values are 64-bit
 * atomics. Doubles are kept as their bit patterns and changed by
 * compare-exchange loops; counters also keep whole-number increments in a
 * separate integer so the common "+1" is a single fetch-add.
 */
#include "metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/banned.h"

#define TABLE_SIZE 2048   /* power of two, > 2 * METRIC_MAX_SERIES */
#define DROPPED_NAME "formd_metrics_dropped_total"
/* Whole numbers below this are exact in a double and go to series.whole. */
#define EXACT_INT_LIMIT 9007199254740992.0   /* 2^53 */

struct series {
    uint64_t hash;
    const char *values[METRIC_MAX_LABELS];   /* point into this allocation */
    _Atomic uint64_t whole;   /* counter: sum of whole-number increments */
    _Atomic uint64_t bits;    /* double bits: counter rest, gauge value, histogram _sum */
    _Atomic uint64_t counts[];   /* histogram: per bucket, not cumulative; last is +Inf */
};

struct metric {
    struct metric *next;
    char *name;
    char *help;                        /* NULL: no # HELP line */
    enum metric_type type;
    size_t nlabels;
    char *labels[METRIC_MAX_LABELS];
    size_t nbuckets;
    double *buckets;
    struct series *solo;               /* the one series when nlabels == 0 */
    /* nlabels > 0 only: */
    pthread_mutex_t lock;              /* serialises series creation */
    int lock_ready;
    _Atomic(struct series *) *table;   /* TABLE_SIZE slots */
    struct series **order;             /* METRIC_MAX_SERIES, creation order */
    _Atomic size_t nseries;            /* entries of order[] published */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric *reg_head;
static struct metric **reg_tail = &reg_head;
static _Atomic uint64_t dropped;

static const char *const type_names[] = {
    [METRIC_COUNTER] = "counter",
    [METRIC_GAUGE] = "gauge",
    [METRIC_HISTOGRAM] = "histogram",
};

/* ---- doubles in 64-bit atomics ---- */

static uint64_t d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static void atomic_add_double(_Atomic uint64_t *p, double by)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old, d2u(u2d(old) + by),
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

static void drop(void)
{
    atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
}

/* ---- validation ---- */

static int is_alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* with colons, [a-zA-Z_][a-zA-Z0-9_]* without. */
static int valid_name(const char *s, int colons)
{
    if (!s || !(is_alpha_(*s) || (colons && *s == ':')))
        return 0;
    for (s++; *s; s++)
        if (!(is_alpha_(*s) || is_digit(*s) || (colons && *s == ':')))
            return 0;
    return 1;
}

/* Counts label_names into *n; 0 if any is invalid, repeated or too many. */
static int valid_labels(const char *const *names, enum metric_type type, size_t *n)
{
    size_t i, j;

    *n = 0;
    if (!names)
        return 1;
    for (i = 0; names[i]; i++) {
        if (i == METRIC_MAX_LABELS || !valid_name(names[i], 0) ||
            strncmp(names[i], "__", 2) == 0 ||
            (type == METRIC_HISTOGRAM && strcmp(names[i], "le") == 0))
            return 0;
        for (j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return 0;
    }
    *n = i;
    return 1;
}

static int valid_buckets(const double *b, size_t n)
{
    size_t i;

    if (!b || n == 0 || n > SIZE_MAX / sizeof(*b) - 1)
        return 0;
    for (i = 0; i < n; i++)
        if (!isfinite(b[i]) || (i > 0 && !(b[i] > b[i - 1])))
            return 0;
    return 1;
}

/* Whether a histogram named h exposes sample name s (h_bucket, h_sum, h_count). */
static int hist_exposes(const char *h, const char *s)
{
    static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
    size_t i, hl = strlen(h);

    if (strncmp(h, s, hl) != 0)
        return 0;
    for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
        if (strcmp(s + hl, suffixes[i]) == 0)
            return 1;
    return 0;
}

/* Whether a new family name/type would give samples the same name as m's. */
static int clashes(const struct metric *m, const char *name, enum metric_type type)
{
    return (m->type == METRIC_HISTOGRAM && hist_exposes(m->name, name)) ||
           (type == METRIC_HISTOGRAM && hist_exposes(name, m->name));
}

static int same_shape(const struct metric *m, enum metric_type type, const char *const *labels,
                      size_t nlabels, const double *buckets, size_t nbuckets)
{
    size_t i;

    if (m->type != type || m->nlabels != nlabels)
        return 0;
    for (i = 0; i < nlabels; i++)
        if (strcmp(m->labels[i], labels[i]) != 0)
            return 0;
    if (type != METRIC_HISTOGRAM)
        return 1;
    return m->nbuckets == nbuckets &&
           memcmp(m->buckets, buckets, nbuckets * sizeof(*buckets)) == 0;
}

/* ---- series ---- */

static uint64_t hash_values(const char *const *values, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;   /* FNV-1a, then a finaliser for the low bits */
    size_t i;
    const unsigned char *p;

    for (i = 0; i < n; i++) {
        p = (const unsigned char *)values[i];
        do {                                  /* the NUL separates values */
            h ^= *p;
            h *= 0x100000001b3ULL;
        } while (*p++);
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static size_t ncounts(const struct metric *m)
{
    return m->type == METRIC_HISTOGRAM ? m->nbuckets + 1 : 0;
}

/* A zeroed series holding copies of values; NULL on no memory. */
static struct series *series_new(const struct metric *m, uint64_t hash,
                                 const char *const *values)
{
    size_t i, len[METRIC_MAX_LABELS], size, nc = ncounts(m);
    struct series *s;
    char *p;

    size = sizeof(*s) + nc * sizeof(s->counts[0]);
    for (i = 0; i < m->nlabels; i++) {
        len[i] = strlen(values[i]);
        if (len[i] >= SIZE_MAX - size)
            return NULL;
        size += len[i] + 1;
    }
    s = fmd_malloc(size);
    if (!s)
        return NULL;
    s->hash = hash;
    atomic_init(&s->whole, 0);
    atomic_init(&s->bits, d2u(0.0));
    for (i = 0; i < nc; i++)
        atomic_init(&s->counts[i], 0);
    p = (char *)&s->counts[nc];
    for (i = 0; i < METRIC_MAX_LABELS; i++) {
        s->values[i] = NULL;
        if (i < m->nlabels) {
            memcpy(p, values[i], len[i] + 1);
            s->values[i] = p;
            p += len[i] + 1;
        }
    }
    return s;
}

static int same_values(const struct series *s, const char *const *values, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(s->values[i], values[i]) != 0)
            return 0;
    return 1;
}

/* The series for values, or NULL with *slot set to the empty slot ending the probe. */
static struct series *table_find(struct metric *m, uint64_t hash, const char *const *values,
                                 size_t *slot)
{
    size_t i = (size_t)hash & (TABLE_SIZE - 1);
    struct series *s;

    for (;; i = (i + 1) & (TABLE_SIZE - 1)) {
        s = atomic_load_explicit(&m->table[i], memory_order_acquire);
        if (!s) {
            *slot = i;
            return NULL;
        }
        if (s->hash == hash && same_values(s, values, m->nlabels))
            return s;
    }
}

/* Slow path: makes the series under the family lock, unless it is full. */
static struct series *series_create(struct metric *m, uint64_t hash, const char *const *values)
{
    struct series *s;
    size_t slot, n;

    pthread_mutex_lock(&m->lock);
    s = table_find(m, hash, values, &slot);   /* another thread may have won */
    n = atomic_load_explicit(&m->nseries, memory_order_relaxed);
    if (!s && n < METRIC_MAX_SERIES) {
        s = series_new(m, hash, values);
        if (s) {
            m->order[n] = s;
            atomic_store_explicit(&m->nseries, n + 1, memory_order_release);
            atomic_store_explicit(&m->table[slot], s, memory_order_release);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

/* The series an update goes to, or NULL (caller counts the drop). */
static struct series *series_get(struct metric *m, const char *const *values)
{
    struct series *s;
    uint64_t hash;
    size_t i, slot;

    if (m->nlabels == 0)
        return m->solo;
    if (!values)
        return NULL;
    for (i = 0; i < m->nlabels; i++)
        if (!values[i])
            return NULL;
    hash = hash_values(values, m->nlabels);
    s = table_find(m, hash, values, &slot);
    if (s)
        return s;
    if (atomic_load_explicit(&m->nseries, memory_order_relaxed) >= METRIC_MAX_SERIES)
        return NULL;   /* full: no need to queue on the lock */
    return series_create(m, hash, values);
}

/* ---- families ---- */

static void family_free(struct metric *m)
{
    size_t i, n;

    if (!m)
        return;
    fmd_free(m->solo);
    if (m->order) {
        n = atomic_load_explicit(&m->nseries, memory_order_acquire);
        for (i = 0; i < n; i++)
            fmd_free(m->order[i]);
    }
    fmd_free(m->order);
    fmd_free((void *)m->table);
    if (m->lock_ready)
        pthread_mutex_destroy(&m->lock);
    for (i = 0; i < m->nlabels; i++)
        fmd_free(m->labels[i]);
    fmd_free(m->buckets);
    fmd_free(m->help);
    fmd_free(m->name);
    fmd_free(m);
}

/* A new family from arguments already validated; NULL on no memory. */
static struct metric *family_new(const char *name, const char *help, enum metric_type type,
                                 const char *const *labels, size_t nlabels,
                                 const double *buckets, size_t nbuckets)
{
    struct metric *m;
    size_t i;
    int ok = 0;

    m = fmd_calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->type = type;
    atomic_init(&m->nseries, 0);
    m->name = fmd_strdup(name);
    if (!m->name || (help && !(m->help = fmd_strdup(help))))
        goto out;
    for (i = 0; i < nlabels; i++) {
        m->labels[i] = fmd_strdup(labels[i]);
        if (!m->labels[i])
            goto out;
        m->nlabels = i + 1;   /* so family_free frees exactly what was copied */
    }
    if (type == METRIC_HISTOGRAM) {
        m->buckets = fmd_malloc(nbuckets * sizeof(*buckets));
        if (!m->buckets)
            goto out;
        memcpy(m->buckets, buckets, nbuckets * sizeof(*buckets));
        m->nbuckets = nbuckets;
    }
    if (nlabels == 0) {
        m->solo = series_new(m, 0, NULL);
        ok = m->solo != NULL;
        goto out;
    }
    m->table = fmd_malloc(TABLE_SIZE * sizeof(*m->table));
    m->order = fmd_malloc(METRIC_MAX_SERIES * sizeof(*m->order));
    if (!m->table || !m->order)
        goto out;
    for (i = 0; i < TABLE_SIZE; i++)
        atomic_init(&m->table[i], NULL);
    m->lock_ready = pthread_mutex_init(&m->lock, NULL) == 0;
    ok = m->lock_ready;
out:
    if (!ok) {
        family_free(m);
        m = NULL;
    }
    return m;
}

struct metric *metric_register(const char *name, const char *help, enum metric_type type,
                               const char *const *label_names, const double *buckets,
                               size_t nbuckets)
{
    struct metric *m, *found = NULL;
    size_t nlabels;

    if (!valid_name(name, 1) || (unsigned)type > METRIC_HISTOGRAM ||
        !valid_labels(label_names, type, &nlabels) ||
        (type == METRIC_HISTOGRAM && !valid_buckets(buckets, nbuckets)))
        return NULL;
    if (type != METRIC_HISTOGRAM)
        nbuckets = 0;
    if (strcmp(name, DROPPED_NAME) == 0)
        return NULL;

    pthread_mutex_lock(&reg_lock);
    for (m = reg_head; m; m = m->next) {
        if (strcmp(m->name, name) == 0) {
            if (same_shape(m, type, label_names, nlabels, buckets, nbuckets))
                found = m;
            goto out;
        }
        if (clashes(m, name, type))
            goto out;
    }
    found = family_new(name, help, type, label_names, nlabels, buckets, nbuckets);
    if (found) {
        *reg_tail = found;
        reg_tail = &found->next;
    }
out:
    pthread_mutex_unlock(&reg_lock);
    return found;
}

/* ---- updates ---- */

void metric_inc(struct metric *m, const char *const *values, double by)
{
    struct series *s;

    if (!m || m->type == METRIC_HISTOGRAM) {
        drop();
        return;
    }
    if (m->type == METRIC_COUNTER && !(by >= 0))
        return;
    s = series_get(m, values);
    if (!s) {
        drop();
        return;
    }
    if (m->type == METRIC_COUNTER && by < EXACT_INT_LIMIT && by == (double)(uint64_t)by)
        atomic_fetch_add_explicit(&s->whole, (uint64_t)by, memory_order_relaxed);
    else
        atomic_add_double(&s->bits, by);
}

void metric_set(struct metric *m, const char *const *values, double v)
{
    struct series *s;

    if (!m || m->type != METRIC_GAUGE || !(s = series_get(m, values))) {
        drop();
        return;
    }
    atomic_store_explicit(&s->bits, d2u(v), memory_order_relaxed);
}

/* Index of the first bound >= v, or n (+Inf, also for NaN). */
static size_t bucket_index(const double *b, size_t n, double v)
{
    size_t lo = 0, hi = n, mid;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (v <= b[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo < n && !(v <= b[lo]))
        lo = n;   /* NaN compares false everywhere */
    return lo;
}

void metric_observe(struct metric *m, const char *const *values, double v)
{
    struct series *s;

    if (!m || m->type != METRIC_HISTOGRAM || !(s = series_get(m, values))) {
        drop();
        return;
    }
    atomic_fetch_add_explicit(&s->counts[bucket_index(m->buckets, m->nbuckets, v)], 1,
                              memory_order_relaxed);
    atomic_add_double(&s->bits, v);
}

/* ---- rendering ---- */

/*
 * Shortest text that reads back as v: whole numbers without an exponent,
 * else the fewest of 15..17 significant digits that round-trip; +Inf, -Inf
 * and NaN as Prometheus spells them.
 */
static void fmt_num(char out[40], double v)
{
    int prec;

    if (isnan(v)) {
        memcpy(out, "NaN", 4);
    } else if (isinf(v)) {
        memcpy(out, v > 0 ? "+Inf" : "-Inf", 5);
    } else if (v == floor(v) && fabs(v) < 1e17) {
        snprintf(out, 40, "%.0f", v);
    } else {
        for (prec = 15; prec < 17; prec++) {
            snprintf(out, 40, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                return;
        }
        snprintf(out, 40, "%.17g", v);
    }
}

/* Appends s with each of the bytes in special backslash-escaped. */
static int add_escaped(struct buf *out, const char *s, const char *special)
{
    size_t run;
    int rc = 0;

    while (*s && !rc) {
        run = strcspn(s, special);
        rc = buf_add(out, s, run);
        s += run;
        if (*s && !rc) {
            rc = buf_add(out, *s == '\n' ? "\\n" : *s == '\\' ? "\\\\" : "\\\"", 2);
            s++;
        }
    }
    return rc;
}

/* {name="value",...,le="bound"}, or nothing when there are no labels and no le. */
static int add_labels(struct buf *out, const struct metric *m, const struct series *s,
                      const char *le)
{
    size_t i;
    int rc = 0;

    if (m->nlabels == 0 && !le)
        return 0;
    rc = buf_addc(out, '{');
    for (i = 0; i < m->nlabels && !rc; i++) {
        rc = buf_printf(out, "%s%s=\"", i ? "," : "", m->labels[i]);
        if (!rc)
            rc = add_escaped(out, s->values[i], "\\\"\n");
        if (!rc)
            rc = buf_addc(out, '"');
    }
    if (le && !rc)
        rc = buf_printf(out, "%sle=\"%s\"", m->nlabels ? "," : "", le);
    if (!rc)
        rc = buf_addc(out, '}');
    return rc;
}

/* One sample line: name suffix labels value. */
static int add_sample(struct buf *out, const struct metric *m, const char *suffix,
                      const struct series *s, const char *le, double v)
{
    char num[40];
    int rc;

    fmt_num(num, v);
    rc = buf_printf(out, "%s%s", m->name, suffix);
    if (!rc)
        rc = add_labels(out, m, s, le);
    if (!rc)
        rc = buf_printf(out, " %s\n", num);
    return rc;
}

static int render_histogram(struct buf *out, const struct metric *m, const struct series *s)
{
    char le[40];
    uint64_t cum = 0;
    size_t i;
    int rc = 0;

    for (i = 0; i <= m->nbuckets && !rc; i++) {
        cum += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
        if (i < m->nbuckets)
            fmt_num(le, m->buckets[i]);
        else
            memcpy(le, "+Inf", 5);
        rc = add_sample(out, m, "_bucket", s, le, (double)cum);
    }
    if (!rc)
        rc = add_sample(out, m, "_sum", s, NULL,
                        u2d(atomic_load_explicit(&s->bits, memory_order_relaxed)));
    if (!rc)   /* the +Inf bucket, so _count always equals it */
        rc = add_sample(out, m, "_count", s, NULL, (double)cum);
    return rc;
}

static int render_series(struct buf *out, const struct metric *m, const struct series *s)
{
    double v = u2d(atomic_load_explicit(&s->bits, memory_order_relaxed));

    if (m->type == METRIC_HISTOGRAM)
        return render_histogram(out, m, s);
    if (m->type == METRIC_COUNTER)
        v += (double)atomic_load_explicit(&s->whole, memory_order_relaxed);
    return add_sample(out, m, "", s, NULL, v);
}

static int render_family(struct buf *out, struct metric *m)
{
    size_t i, n;
    int rc = 0;

    if (m->help) {
        rc = buf_printf(out, "# HELP %s ", m->name);
        if (!rc)
            rc = add_escaped(out, m->help, "\\\n");
        if (!rc)
            rc = buf_addc(out, '\n');
    }
    if (!rc)
        rc = buf_printf(out, "# TYPE %s %s\n", m->name, type_names[m->type]);
    if (m->nlabels == 0)
        return rc ? rc : render_series(out, m, m->solo);
    n = atomic_load_explicit(&m->nseries, memory_order_acquire);
    for (i = 0; i < n && !rc; i++)
        rc = render_series(out, m, m->order[i]);
    return rc;
}

int metrics_render(struct buf *out)
{
    size_t start = out->len;
    struct metric *m;
    int rc = 0;

    pthread_mutex_lock(&reg_lock);
    for (m = reg_head; m && !rc; m = m->next)
        rc = render_family(out, m);
    pthread_mutex_unlock(&reg_lock);
    if (!rc)
        rc = buf_printf(out,
                        "# HELP " DROPPED_NAME " Metric updates dropped: label combinations"
                        " over the per-family cap, no memory, or misuse.\n"
                        "# TYPE " DROPPED_NAME " counter\n"
                        DROPPED_NAME " %llu\n",
                        (unsigned long long)atomic_load_explicit(&dropped,
                                                                 memory_order_relaxed));
    if (rc && out->cap) {   /* leave out as the caller gave it */
        out->len = start;
        out->p[start] = '\0';
    }
    return rc;
}

void metrics_reset(void)
{
    struct metric *m, *next;

    pthread_mutex_lock(&reg_lock);
    m = reg_head;
    reg_head = NULL;
    reg_tail = &reg_head;
    atomic_store(&dropped, 0);
    pthread_mutex_unlock(&reg_lock);
    for (; m; m = next) {
        next = m->next;
        family_free(m);
    }
}
