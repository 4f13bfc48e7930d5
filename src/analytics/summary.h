/*
 * summary.h - a form's summary and per-field statistics from the analytics
 * store (layout.h): the answer of GET /v1/forms/{fid}/analytics.
 *
 *   {"form_id", "total", "deleted_excluded", "first_at", "last_at",
 *    "per_day": [{"day", "count"}], "statuses": {"new", "approved",
 *    "rejected", "needs_changes"}, "versions": [{"version", "count"}],
 *    "fields": [{"name", "kind", "count", "missing", "missing_rate", ...}]}
 *
 * Per kind, each field adds (over the rows the filter keeps):
 *   choice, boolean  "values": [{"value", "count", "share"}]: the declared
 *                    options in order (true, false for booleans), zero counts
 *                    too, then up to 50 other values seen, most frequent
 *                    first; "other_values" / "other_count": the distinct
 *                    values and answers beyond those 50
 *   multichoice      the same, counting each row's distinct selections
 *                    (share: of the answered rows), and "selections_mean"
 *   number, integer  "min", "max", "mean", "median", "p90" (interpolated),
 *                    "stddev" (sample)
 *   text             "length": {"min", "max", "mean"} in code points,
 *                    "distinct" (exact), "top": the 10 most frequent values
 *                    seen at least twice, [{"value", "count"}]
 *   date, datetime   "min", "max", "per_month": [{"month", "count"}] for the
 *                    latest 120 months seen (UTC), ascending; "other_months":
 *                    how many earlier months were left out
 *   time             "min", "max"
 *   json, other      the common members only
 * Statistics of a field without answers are null; times are ISO 8601, those
 * with a zone in UTC with "Z"; days and months are UTC.
 */
#ifndef FMD_ANALYTICS_SUMMARY_H
#define FMD_ANALYTICS_SUMMARY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "analytics/duck.h"
#include "core/err.h"

/* The time limit of a summary when the filter gives none. */
#define SUMMARY_TIMEOUT_MS 30000

/* Which submissions count. A zeroed struct (or NULL) keeps every one not deleted. */
struct summary_filter {
    int64_t from;           /* created_at >= from, ms since the epoch; 0: unbounded */
    int64_t to;             /* created_at <= to (the whole millisecond); 0: unbounded */
    int version;            /* 0: all versions */
    const char *status;     /* NULL: all; else "new", "approved", "rejected", "needs_changes" */
    bool include_deleted;   /* false: soft-deleted rows are left out and counted */
    long timeout_ms;        /* the whole summary's time limit; 0: SUMMARY_TIMEOUT_MS */
};

/*
 * Summarises form form_id over the rows f keeps into *out (the caller
 * decrefs), the shape above. c must not be inside a transaction: the queries
 * run in one read-only transaction of their own, so they all see the same
 * data even while the ETL writes.
 *
 * Fails, with *out NULL, with FMD_EINVAL for a form id that is not a plain
 * id (letters, digits, '_', '-'; at most 64) or a bad filter ("unknown
 * status 'x'", a negative or out-of-range time, from after to, a negative
 * version, a time limit outside 0..86400000); FMD_ENOTFOUND "no analytics
 * for form 'x' yet" when the form has no analytics table (whether or not it
 * has form_columns rows); FMD_ETIMEOUT "summary of form 'x' took longer than
 * N ms"; FMD_EDB when the table does not match its form_columns rows, or for
 * DuckDB's own failures; FMD_ENOMEM.
 */
int summary_form(struct duck_conn *c, const char *form_id, const struct summary_filter *f,
                 json_t **out, struct fmd_err *err);

#endif
