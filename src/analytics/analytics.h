/*
 * analytics.h - the analytics database of a data directory: where its files
 * live and how it is opened.
 *
 *   <data-dir>/analytics.duckdb       the DuckDB file (layout.h)
 *   <data-dir>/analytics.duckdb.tmp/  DuckDB's spill directory
 *   <data-dir>/exports/               finished exports; the only directory
 *                                     SQL may read or write files in
 *
 * One process holds the file open for writing at a time (DuckDB locks it):
 * `formd serve` does; command-line tools that run beside a server build
 * their own temporary database instead (see `formd export`).
 */
#ifndef FMD_ANALYTICS_ANALYTICS_H
#define FMD_ANALYTICS_ANALYTICS_H

#include "analytics/duck.h"
#include "core/err.h"

struct analytics_options {
    const char *memory_limit;   /* DuckDB size; NULL: "1GB" */
    int threads;                /* 0: 2 */
};

/*
 * Opens (creating what is missing) the analytics database of data_dir into
 * *out (duck_close). db_file NULL: the usual analytics.duckdb; else another
 * file name inside data_dir (a command-line tool's private copy). FMD_EIO
 * when a directory cannot be made or the file is locked by another process
 * (the message says which), FMD_ENOMEM.
 */
int analytics_open(const char *data_dir, const char *db_file,
                   const struct analytics_options *opt, struct duck **out, struct fmd_err *err);

/* "<data_dir>/exports" into dst; 0, or FMD_EINVAL when it does not fit. */
int analytics_exports_dir(const char *data_dir, char *dst, size_t size);

#endif
