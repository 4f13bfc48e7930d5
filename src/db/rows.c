/* rows.c - column to JSON helpers. */
#include "db/rows.h"

#include "core/clock.h"
#include "core/banned.h"

json_t *rows_time(int64_t ms)
{
    char s[CLOCK_RFC3339_LEN];
    return json_string(clock_rfc3339(ms, s));
}

json_t *rows_time_or_null(struct db_stmt *st, int col)
{
    return db_col_null(st, col) ? json_null() : rows_time(db_col_int(st, col));
}

json_t *rows_str_or_null(struct db_stmt *st, int col)
{
    const char *s = db_col_text(st, col);
    return s ? json_string(s) : json_null();
}

json_t *rows_json(struct db_stmt *st, int col)
{
    size_t n;
    const char *s = db_col_textn(st, col, &n);
    json_t *v = s ? json_loadb(s, n, JSON_DECODE_ANY, NULL) : NULL;
    return v ? v : json_null();
}

int rows_exec(struct db_stmt *st, struct fmd_err *err)
{
    int rc = db_step(st, err);
    db_done(st);
    return rc < 0 ? rc : 0;
}

int rows_int(struct db_stmt *st, int64_t *out, struct fmd_err *err)
{
    int rc = db_step(st, err);
    *out = rc == 1 ? db_col_int(st, 0) : 0;
    db_done(st);
    return rc < 0 ? rc : 0;
}

/*
 * Collects rows into {items, next_cursor}: row_fn turns the current row into
 * an item; one row beyond limit means there is a next page, whose cursor is
 * the id of the last item returned (ids sort by creation).
 */
int rows_page(struct db_stmt *st, int limit, json_t *(*row_fn)(struct db_stmt *),
                        json_t **page, struct fmd_err *err)
{
    json_t *items = json_array();
    json_t *last = NULL;
    int rc, n = 0;

    while ((rc = db_step(st, err)) == 1) {
        json_t *item;
        if (n == limit) {
            last = json_object_get(json_array_get(items, (size_t)n - 1), "id");
            break;
        }
        if (!(item = row_fn(st)) || json_array_append_new(items, item)) {
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    db_done(st);
    if (rc < 0 || !items) {
        json_decref(items);
        return rc < 0 ? rc : fmd_errf(err, FMD_ENOMEM, "out of memory");
    }
    *page = json_pack("{s:o, s:O}", "items", items, "next_cursor", last ? last : json_null());
    return *page ? 0 : fmd_errf(err, FMD_ENOMEM, "out of memory");
}

int rows_list(struct db_stmt *st, json_t *(*row_fn)(struct db_stmt *), json_t **out,
              struct fmd_err *err)
{
    json_t *items = json_array();
    int rc;

    while ((rc = db_step(st, err)) == 1)
        if (!items || json_array_append_new(items, row_fn(st))) {
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
            break;
        }
    db_done(st);
    if (rc < 0) {
        json_decref(items);
        return rc;
    }
    *out = json_pack("{s:o}", "items", items);
    return *out ? 0 : fmd_errf(err, FMD_ENOMEM, "out of memory");
}
