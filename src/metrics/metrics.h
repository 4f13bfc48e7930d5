/*
 * metrics.h - a process-wide Prometheus metrics registry.
 *
 * Code registers a family once (at startup, or lazily) and then updates it
 * from any thread. Updates are lock-free atomics: the only lock on the update
 * path is taken the first time a label combination is seen, to create its
 * series. metrics_render writes the whole registry in the Prometheus text
 * exposition format 0.0.4:
 *
 *   # HELP http_requests_total Requests served.
 *   # TYPE http_requests_total counter
 *   http_requests_total{method="GET",code="200"} 1027
 *   # TYPE http_duration_seconds histogram
 *   http_duration_seconds_bucket{le="0.1"} 3      (cumulative)
 *   http_duration_seconds_bucket{le="+Inf"} 5
 *   http_duration_seconds_sum 0.73
 *   http_duration_seconds_count 5
 *
 * Families are never removed one by one; metrics_reset frees them all.
 *
 * Cardinality is bounded: a family holds at most METRIC_MAX_SERIES label
 * combinations. An update that cannot be applied - a new combination over
 * that cap, a series that could not be allocated, a NULL family, missing
 * label values, or an update of the wrong kind (metric_set on a counter) - is
 * dropped and counted in the built-in counter formd_metrics_dropped_total,
 * which is always rendered, after the registered families.
 */
#ifndef FMD_METRICS_METRICS_H
#define FMD_METRICS_METRICS_H

#include <stddef.h>

#include "core/buf.h"

#define METRIC_MAX_LABELS 4
#define METRIC_MAX_SERIES 1000

struct metric;   /* opaque; owned by the registry */

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/*
 * Registers a family and returns it; the registry owns it until
 * metrics_reset. name must match [a-zA-Z_:][a-zA-Z0-9_:]*. help (may be NULL:
 * no # HELP line) is copied. label_names is a NULL-terminated array (NULL for
 * none) of at most METRIC_MAX_LABELS distinct names matching
 * [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", and not "le" for a
 * histogram; the names are copied. For a histogram, buckets holds nbuckets > 0
 * finite, strictly ascending upper bounds (+Inf is implicit and must not be
 * given); it is copied. buckets and nbuckets are ignored for other types.
 *
 * Registering a name again returns the existing family if type, label names
 * (in order) and, for histograms, buckets are the same; help is not compared.
 *
 * Returns NULL on bad arguments, a clash with an existing family or the
 * built-in formd_metrics_dropped_total, or no memory. Thread-safe.
 */
struct metric *metric_register(const char *name, const char *help, enum metric_type type,
                               const char *const *label_names, const double *buckets,
                               size_t nbuckets);

/*
 * Updates. values holds one label value per label name, in registration
 * order (NULL or ignored for a family without labels); the first use of a
 * combination copies the values. Values may hold any bytes but NUL; they are
 * escaped on output. These never fail visibly and never block except on a
 * combination's first use: an update that cannot be applied is dropped and
 * counted (see the top of this file).
 */
/* Counters and gauges: adds by. A counter ignores a negative or NaN by. */
void metric_inc(struct metric *m, const char *const *values, double by);
/* Gauges: sets the value to v. */
void metric_set(struct metric *m, const char *const *values, double v);
/* Histograms: counts v in the first bucket with v <= bound (else +Inf), adds
 * it to _sum and one to _count. */
void metric_observe(struct metric *m, const char *const *values, double v);

/* Label-less shortcuts */
#define metric_inc0(m, by) metric_inc((m), NULL, (by))
#define metric_set0(m, v) metric_set((m), NULL, (v))
#define metric_observe0(m, v) metric_observe((m), NULL, (v))

/*
 * Appends every registered family, in registration order, then
 * formd_metrics_dropped_total, to out as Prometheus text. Series appear in
 * the order their combinations were first used. Safe to call while other
 * threads update and register; a family's series read during the call may
 * include updates made after it began.
 *
 * Returns 0, or FMD_ETOOBIG / FMD_ENOMEM from the buffer, in which case out
 * is left as it was before the call.
 */
int metrics_render(struct buf *out);

/*
 * Frees every family and zeroes formd_metrics_dropped_total (for tests and
 * clean shutdown under LeakSanitizer). Every struct metric pointer becomes
 * invalid: no other thread may update, register or render during or after
 * the call while it still holds one.
 */
void metrics_reset(void);

#endif
