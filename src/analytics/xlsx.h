/*
 * xlsx.h - streaming XLSX writer for exports.
 *
 * Rows go out one at a time and memory stays bounded whatever the size of the
 * export (libxlsxwriter's constant_memory mode keeps one row in memory and
 * spools each sheet's XML to a temporary file). An export is never cut: when a
 * sheet is full (1,048,576 rows counting the header) the writer starts another
 * sheet, "data (2)", "data (3)", ..., each with the same bold, frozen header.
 *
 * Usage: xlsx_open, then for each row any number of cell writers (each column
 * at most once, in any order) and xlsx_end_row, then xlsx_close; on an error
 * path xlsx_abort instead. The file appears at path only when xlsx_close
 * succeeds: it is written to "<path>.tmp", fsynced and renamed.
 *
 * What a reader sees:
 * - Strings are stored as text, never formulas ("=1+1" stays "=1+1").
 *   Longer than a cell holds (32,767 UTF-16 units) they are cut at a
 *   character boundary and counted in xlsx_truncated_cells.
 *   Bytes that are not UTF-8 (and U+FFFE, U+FFFF, which XML forbids) become
 *   U+FFFD and the cell is counted in xlsx_replaced_cells. Control
 *   characters other than tab and line feed, which XML cannot hold, are
 *   written as Excel's "_xHHHH_" escapes (Excel shows the character again),
 *   and a literal "_xHHHH_" in the text is protected as "_x005F_xHHHH_" so
 *   Excel shows it unchanged.
 * - Integers of more than 15 digits are written as text: Excel keeps 15
 *   significant digits and would silently change the rest.
 * - Dates and times are Excel serial numbers with a "yyyy-mm-dd" or
 *   "yyyy-mm-dd hh:mm:ss" format, in UTC; a date outside what Excel can show
 *   (years 1900 to 9999) is written as ISO 8601 text instead.
 *
 * Not thread-safe: one writer belongs to one thread at a time.
 */
#ifndef FMD_ANALYTICS_XLSX_H
#define FMD_ANALYTICS_XLSX_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct xlsx;

/* Excel's limit on rows per sheet, the header row included. */
#define XLSX_MAX_ROWS 1048576u
/* Excel's limit on columns. */
#define XLSX_MAX_COLS 16384u

struct xlsx_options {
    /*
     * Directory for the temporary files (each sheet's XML until close, and
     * libxlsxwriter's while it zips); all are unnamed or unlinked as soon as
     * created, so nothing stays behind after a crash. NULL: $TMPDIR or /tmp.
     * Give one on real disk with room for the uncompressed export.
     */
    const char *tmpdir;
    /* Sheet name before sanitising; NULL or "": "data". */
    const char *sheet_name;
    /* Rows per sheet counting the header, 2 .. XLSX_MAX_ROWS; 0: the maximum. */
    uint32_t max_rows_per_sheet;
    /*
     * Rough limit on one sheet's uncompressed XML, past which the next row
     * goes to a new sheet (without ZIP64, which Excel reads badly, a part
     * must stay under 4 GiB). 0: 3.5 GiB. For tests.
     */
    uint64_t max_sheet_bytes;
};

/*
 * Starts a workbook to be written to path, with ncols columns (1 ..
 * XLSX_MAX_COLS) headed by headers[0 .. ncols-1] (NUL-terminated UTF-8,
 * copied as needed). opt may be NULL for all defaults. "<path>.tmp" is
 * created at once so an unwritable path fails here rather than at close.
 * On success *out is a writer the caller ends with xlsx_close or
 * xlsx_abort. Fails with FMD_EINVAL (bad arguments), FMD_EIO (path or
 * tmpdir not writable, message says which) or FMD_ENOMEM; *out is then NULL
 * and nothing is left on disk.
 */
int xlsx_open(const char *path, const char *const *headers, size_t ncols,
              const struct xlsx_options *opt, struct xlsx **out, struct fmd_err *err);

/*
 * Cell writers for the current row; col < ncols, each column at most once a
 * row. They return 0 or a negative code:
 * - FMD_EINVAL: col out of range or an impossible date; nothing written,
 *   the writer carries on (write a string or a blank instead);
 * - FMD_ENOMEM, FMD_EIO, FMD_EINTERNAL: the writer has failed; every later
 *   call returns the same code and xlsx_close reports it with the detail,
 *   so a caller may check each call or only the close.
 *
 * s[0 .. len-1] need not be NUL-terminated and may hold any bytes.
 */
int xlsx_string(struct xlsx *x, size_t col, const char *s, size_t len);
/* NaN and infinities, which a cell cannot hold, are written as text. */
int xlsx_number(struct xlsx *x, size_t col, double v);
int xlsx_integer(struct xlsx *x, size_t col, int64_t v);
int xlsx_bool(struct xlsx *x, size_t col, int v);
/* A calendar date (month 1-12, day valid for the month). */
int xlsx_date(struct xlsx *x, size_t col, int y, int m, int d);
/*
 * A UTC instant: secs since 1970-01-01T00:00:00Z plus frac in [0, 1).
 * Shown to the second, or to the millisecond when frac is not zero.
 */
int xlsx_datetime(struct xlsx *x, size_t col, int64_t secs, double frac);
/* An empty cell (the same as writing nothing to col). */
int xlsx_blank(struct xlsx *x, size_t col);

/*
 * Ends the current row; the next cell goes to the next row, on a new sheet
 * when this one is full. Returns 0 or the failed writer's code, as above.
 */
int xlsx_end_row(struct xlsx *x);

/*
 * Writes the file: assembles it at "<path>.tmp", fsyncs it and renames it
 * to path (replacing any file there). A row begun but not ended is written
 * too. Frees x whatever happens. Returns 0, or the code of an earlier
 * failure, or FMD_EIO with libxlsxwriter's reason (disk full, directory
 * gone, ...). On failure "<path>.tmp" is removed and path is not written
 * (except when only the final fsync of the directory fails: then the new
 * file that replaced path is removed, as it may not survive a crash).
 */
int xlsx_close(struct xlsx *x, struct fmd_err *err);

/* Discards the workbook, removes "<path>.tmp" and frees x. x may be NULL. */
void xlsx_abort(struct xlsx *x);

/* Data rows ended so far (headers not counted), for progress. */
uint64_t xlsx_rows(const struct xlsx *x);
/* Sheets begun so far (at least 1). */
uint32_t xlsx_sheets(const struct xlsx *x);
/* Cells whose string was cut to fit a cell. */
uint64_t xlsx_truncated_cells(const struct xlsx *x);
/* Cells in which invalid UTF-8 was replaced with U+FFFD. */
uint64_t xlsx_replaced_cells(const struct xlsx *x);

#endif
