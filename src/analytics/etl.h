/*
 * etl.h - the incremental copy of submissions from the operational store
 * (SQLite) into the analytics database (DuckDB), in the tables of
 * analytics/layout.h.
 *
 * The operational store logs every change of a submission in
 * submission_changes (migration 6, written by triggers in the changing
 * transaction); the analytics database keeps a watermark, the last change
 * copied, in etl_state. etl_sync reads the changes after the watermark in
 * batches and applies each batch to DuckDB in one DuckDB transaction with
 * the watermark moved to its last change, so a crash anywhere never applies
 * a change twice nor skips one. Typed tables f_<form id> follow the published
 * versions of their form: rebuilt when the columns change, upserted row by
 * changed row otherwise, dropped when the form is deleted.
 *
 * Besides "watermark", etl_state holds "form:<id>:versions" per typed table
 * (a hash of the form's published (version, published_at) pairs: a new
 * version is seen without any new submission) and, while etl_rebuild runs,
 * "rebuild".
 *
 * One sync at a time per process: etl_sync holds a process-wide mutex.
 * Metrics: formd_analytics_etl_lag_seconds (gauge, set after each sync),
 * formd_analytics_etl_syncs_total{outcome}, formd_analytics_etl_rows_total,
 * formd_analytics_etl_changes_total.
 */
#ifndef FMD_ANALYTICS_ETL_H
#define FMD_ANALYTICS_ETL_H

#include <stdint.h>

#include "analytics/duck.h"
#include "core/err.h"
#include "db/db.h"
#include "db/writer.h"

#define ETL_BATCH_DEFAULT 5000
#define ETL_BATCH_MAX 200000   /* a long backlog's batches grow up to this */

struct etl_options {
    int batch;                  /* changes per batch; 0: ETL_BATCH_DEFAULT, or for a long
                                   backlog an eighth of it, up to ETL_BATCH_MAX */
    int max_batches;            /* stop after this many batches; 0: until caught up */
    struct db_writer *writer;   /* not NULL: prune the copied changes through it */
    /* Copy every submission straight from the submissions table, ignoring
     * the change log and the watermark (never pruned): for a private,
     * throwaway analytics copy, such as formd export's beside a running
     * server, whose change log another database has consumed. */
    int snapshot;
    int skip_if_busy;           /* another sync running in this process: return 0 at
                                   once with stats.skipped set, rather than wait */
    /* Called after each committed batch with the changes copied so far and
     * the changes there were to copy when the sync began (a progress bar). */
    void (*progress)(void *arg, int64_t done, int64_t total);
    /* Called before each batch: nonzero stops the sync there (successfully). */
    int (*stop)(void *arg);
    /*
     * Tests: called inside each batch's DuckDB transaction, just before its
     * commit, with the batch number (1-based). A nonzero return rolls the
     * batch back and fails the sync with that code, as a crash would.
     */
    int (*before_commit)(void *arg, int batch);
    void *arg;                  /* for the three callbacks */
};

struct etl_stats {
    int64_t changes;            /* change rows read */
    int64_t upserted;           /* submissions written (inserted or replaced) */
    int64_t deleted;            /* submissions removed (purged, or their form deleted) */
    int64_t pruned;             /* change rows deleted from the operational store */
    int64_t watermark;          /* the watermark after the sync */
    int batches;                /* batches committed */
    int forms_rebuilt;          /* typed tables (re)created and filled */
    int forms_dropped;          /* typed tables of deleted forms dropped */
    int skipped;                /* skip_if_busy and another sync was running */
    double seconds;             /* wall time of the sync */
};

/*
 * Brings the analytics database on dc up to date with the operational store
 * on db (a connection the caller holds for the call; only read), creating
 * the layout if it is missing. opt may be NULL (defaults); st (may be NULL)
 * is zeroed and then filled, also on failure (what was committed before it).
 *
 * Each committed batch stays committed when a later step fails; a call that
 * finds another sync running in this process waits for it (or, with
 * skip_if_busy, returns at once). Fails with the db.h codes (reading SQLite),
 * the duck.h codes (DuckDB), FMD_EINVAL when a published schema cannot be
 * turned into columns (the message names the form), FMD_ENOMEM, and
 * FMD_ECONFLICT when the analytics database is ahead of the operational
 * store's change log (the store was restored from an older backup: run
 * etl_rebuild) or an etl_rebuild was interrupted, or, without a writer,
 * when it is behind what pruning deleted (with one it is rebuilt at once).
 * On PostgreSQL opt->writer is required: it numbers the log's pending
 * changes (etl.c).
 */
int etl_sync(struct db *db, struct duck_conn *dc, const struct etl_options *opt,
             struct etl_stats *st, struct fmd_err *err);

/*
 * Starts analytics over: drops every analytics table on dc (etl_state,
 * submissions, form_columns, each f_<id>), then logs one change per
 * existing submission in the operational store through w, so that the next
 * etl_sync copies everything. For an operational store restored from a
 * backup (etl_sync's FMD_ECONFLICT) or a lost analytics file. The drop
 * leaves a "rebuild" mark in etl_state that only the finished backfill
 * removes: a crash between the two makes etl_sync fail with FMD_ECONFLICT
 * asking for etl_rebuild again, never sync from an incomplete log.
 * Holds the sync mutex. Errors as etl_sync's.
 */
int etl_rebuild(struct db_writer *w, struct duck_conn *dc, struct fmd_err *err);

/*
 * How far behind analytics is, in *lag_ms: now_ms minus the time of the
 * oldest change not yet copied, 0 when caught up. Reads the watermark from
 * dc and the change log from db. Errors as etl_sync's reads.
 */
int etl_lag_ms(struct db *db, struct duck_conn *dc, int64_t now_ms, int64_t *lag_ms,
               struct fmd_err *err);

/*
 * etl_lag_ms, also setting the gauge formd_analytics_etl_lag_seconds (for
 * /metrics and /readyz). *lag_ms may be NULL.
 */
int etl_observe_lag(struct db *db, struct duck_conn *dc, int64_t *lag_ms, struct fmd_err *err);

/*
 * Deletes the changes at or below watermark from the operational store
 * through w, in chunks (one short write transaction each), keeping the newest
 * change row whatever its seq: it holds the rowid counter up (migration 6).
 * *pruned (may be NULL) gets the rows deleted.
 */
int etl_prune(struct db_writer *w, int64_t watermark, int64_t *pruned, struct fmd_err *err);

/*
 * For an export that shows sensitive values (tasks/export.c): creates the
 * temporary table out_table on dc, the rows of the form's table f_<form_id>
 * that clear_table (a temporary table of dc: submission_id VARCHAR, data
 * VARCHAR, the submissions' data with sensitive values opened) has, with
 * every form column computed from that data as the ETL computes it from the
 * stored data. Temporary: the clear values never reach the database file.
 * The form's columns are read through db. 0, or the duck.h / db.h codes,
 * FMD_EINVAL for a schema that makes no columns, FMD_ENOMEM.
 */
int etl_clear_table(struct db *db, struct duck_conn *dc, const char *form_id,
                    const char *clear_table, const char *out_table, struct fmd_err *err);

#endif
