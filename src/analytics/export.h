/*
 * export.h - one form's submissions from the analytics database to a file:
 * CSV, JSON Lines, Parquet or XLSX.
 *
 * The rows come from the form's table f_<form id> (analytics/layout.h),
 * oldest first (created_at, then submission_id), streamed chunk by chunk so
 * memory stays bounded whatever the size of the form. The columns are the
 * meta columns submission_id, version, status, created_at, updated_at
 * (deleted_at too when deleted rows are included), then the form's columns
 * in form_columns order, each headed by its property name (see export.c for
 * how each format writes each type).
 *
 * The file appears at its path only when complete: it is written to
 * "<path>.part", fsynced and renamed; on any failure or cancellation nothing
 * is left at path nor at "<path>.part".
 */
#ifndef FMD_ANALYTICS_EXPORT_H
#define FMD_ANALYTICS_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "analytics/duck.h"
#include "core/err.h"

enum export_format {
    EXPORT_CSV,       /* RFC 4180, UTF-8 */
    EXPORT_JSONL,     /* JSON Lines: one object a line */
    EXPORT_PARQUET,   /* zstd, DuckDB's column types */
    EXPORT_XLSX,      /* through analytics/xlsx.h */
};

/*
 * CSV formula injection guard (OWASP "CSV Injection"): a text cell starting
 * with = + - @ tab or carriage return gets a leading single quote so a
 * spreadsheet shows it instead of evaluating it. It changes the data, so by
 * default (AUTO) it is on only for CSV meant for spreadsheets, that is with
 * the BOM; a CSV for programs is left exact.
 */
enum export_guard {
    EXPORT_GUARD_AUTO,    /* on when bom is set */
    EXPORT_GUARD_ON,
    EXPORT_GUARD_OFF,
};

struct export_options {
    enum export_format format;      /* zero-initialised: CSV */
    bool include_deleted;           /* also soft-deleted rows, and the deleted_at column */
    bool include_spam;              /* also rows marked as spam (left out by default) */
    int64_t from;                   /* created_at >= from (ms since the epoch); 0: unbounded */
    int64_t to;                     /* created_at < to (ms); 0: unbounded */
    const char *status;             /* only this status; NULL: all */
    int version;                    /* only this form version; 0: all */
    /* Read the rows from this table of c (a temporary one with the form
     * table's columns, etl_clear_table) instead of f_<form id>; NULL: the form's. */
    const char *table;
    /* CSV only (ignored otherwise): */
    bool bom;                       /* start with a UTF-8 BOM (for spreadsheet programs) */
    enum export_guard spreadsheet_safe;
    /* XLSX only: directory for the writer's spool files; NULL: path's directory. */
    const char *tmpdir;
    /*
     * Called now and then from the exporting thread with the rows written
     * and the rows to write: at the start (0, total), every 10,000 rows or
     * so, and at the end (total, total). Parquet is written by DuckDB in one
     * statement whose progress the C API does not report: only the start
     * and the end are.
     */
    void (*progress)(void *arg, uint64_t done, uint64_t total);
    /*
     * Polled between chunks (2,048 rows; about every 50 ms for Parquet): a
     * nonzero return stops the export with FMD_EGONE and removes the partial
     * file. A sort of the whole form, which DuckDB does before the first
     * chunk, is not interrupted.
     */
    int (*cancel)(void *arg);
    void *arg;                      /* for progress and cancel */
};

struct export_stats {
    uint64_t rows;                  /* data rows written */
    uint64_t bytes;                 /* size of the finished file */
    int64_t duration_ms;            /* wall time of the call */
};

/*
 * Writes the submissions of form_id (a ULID) selected by o (NULL: defaults,
 * a CSV of every row not deleted) to path, which must be inside the
 * directory the database allows for files (analytics_exports_dir) when the
 * format is Parquet; the other formats are written by this process, to any
 * path it can write. An existing file at path is replaced. The export reads
 * one snapshot of the database (a transaction of its own on c, which must
 * not be inside one) and uses c alone for the call. st (may be NULL) is
 * zeroed, then filled on success.
 *
 * Fails, leaving no file behind, with:
 *   FMD_ENOTFOUND  no table for form_id (unknown form, or not copied yet);
 *   FMD_EINVAL     bad options, a malformed form id, a column of a type the
 *                  export does not write; the message says which;
 *   FMD_EGONE      stopped by o->cancel;
 *   FMD_EIO        a file cannot be written, the message naming it;
 *   FMD_EFORBIDDEN a Parquet path outside the allowed directory;
 *   FMD_ETOOBIG    one row longer than 1 GiB as text;
 *   FMD_ENOMEM, and the codes of duck.h for DuckDB failures.
 */
int export_form(struct duck_conn *c, const char *form_id, const struct export_options *o,
                const char *path, struct export_stats *st, struct fmd_err *err);

/* "csv", "jsonl", "parquet", "xlsx" (exactly, lowercase) into *out: 0 or FMD_EINVAL. */
int export_format_parse(const char *s, enum export_format *out);
/* The file extension without its dot ("csv", ...); NULL for a bad value. */
const char *export_format_ext(enum export_format f);
/* The MIME type for Content-Type ("text/csv; charset=utf-8", ...); NULL for a bad value. */
const char *export_content_type(enum export_format f);

#endif
