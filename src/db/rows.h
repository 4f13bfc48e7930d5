/* rows.h - turning result columns into JSON, shared by the repositories. */
#ifndef FMD_DB_ROWS_H
#define FMD_DB_ROWS_H

#include <jansson.h>
#include <stdint.h>

#include "db/db.h"

/* RFC 3339 string for Unix ms. */
json_t *rows_time(int64_t ms);
/* Column as RFC 3339 time, string or decoded JSON text; JSON null for SQL NULL. */
json_t *rows_time_or_null(struct db_stmt *st, int col);
json_t *rows_str_or_null(struct db_stmt *st, int col);
json_t *rows_json(struct db_stmt *st, int col);
/* Steps a statement that returns no rows and releases it: 0 or the error. */
int rows_exec(struct db_stmt *st, struct fmd_err *err);
/* Steps a one-number query (COUNT(*), ...) into *out (0 with no row) and releases it. */
int rows_int(struct db_stmt *st, int64_t *out, struct fmd_err *err);

/*
 * Steps st into {items, next_cursor} and releases it. row_fn makes an item
 * of the current row; the query must ask for limit + 1 rows, the extra row
 * only telling that a next page exists, whose cursor is the last item's id.
 */
int rows_page(struct db_stmt *st, int limit, json_t *(*row_fn)(struct db_stmt *),
              json_t **page, struct fmd_err *err);

/* Steps st into {items} (every row, no paging) and releases it. */
int rows_list(struct db_stmt *st, json_t *(*row_fn)(struct db_stmt *), json_t **out,
              struct fmd_err *err);

#endif
