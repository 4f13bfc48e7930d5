/*
 * summary.c - a form's summary and per-field statistics (summary.h).
 *
 * The queries, all over the form's table with the filter as a WHERE clause
 * of validated literals (integers, and one of the four statuses taken from
 * the table below, never the caller's string), run in one read-only
 * transaction:
 *   1. one aggregate row: total, first and last times, status counts and
 *      every field's scalar statistics (count, min, max, mean, quantiles,
 *      stddev, text lengths): one scan for all of them;
 *   2. the rows left out as deleted (skipped when they are included);
 *   3. per UTC day and 4. per version: GROUP BYs on meta columns;
 *   5. one GROUP BY per choice, boolean, multichoice (over UNNEST), text
 *      (top values; the number of groups is the exact distinct count) and
 *      date / datetime (per month) field with answers, each reading only its
 *      own column and the filter's.
 * Columns are read by their form_columns.sql_name, quoted as identifiers.
 * Declared options are never spliced into SQL: the choice queries read them
 * from form_columns by (form_id, position).
 *
 * UTC days and months come from make_timestamp(epoch_us(t)), the UTC wall
 * clock of a TIMESTAMPTZ: it does not depend on the connection's TimeZone
 * and is several times cheaper than timezone('UTC', t), which goes through ICU.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "analytics/columns.h"
#include "analytics/layout.h"
#include "analytics/summary.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/mem.h"
#include "core/banned.h"

#define SQL_MAX (16u << 20)
#define FORM_ID_MAX 64
#define MAX_OTHER_VALUES 50
#define MAX_TOP 10
#define MAX_MONTHS 120
#define MAX_ROWS ((size_t)1 << 22)              /* days, versions, columns */
#define MS_MAX INT64_C(253402300799999)         /* 9999-12-31T23:59:59.999Z */

static const char *const statuses[] = {"new", "approved", "rejected", "needs_changes"};
#define N_STATUSES (sizeof(statuses) / sizeof(statuses[0]))

static const char *const bool_options[] = {"true", "false"};

struct field {
    const char *name, *sql_name, *kind_name;   /* borrowed from the form_columns rows */
    int kind;                                  /* enum columns_kind; -1: one not known here */
    json_int_t position;
    const json_t *options;                     /* borrowed; an array of strings or NULL */
    size_t agg;                                /* its first column in the aggregate row */
    json_int_t count;                          /* answers (non-null) */
    json_t *obj;                               /* its output object, owned by the fields array */
};

struct sum {
    struct duck_conn *c;
    struct duck_limits lim;
    long timeout_ms;               /* for the whole summary */
    uint64_t deadline;             /* clock_mono_ns() */
    const char *form_id;
    char table[FORM_ID_MAX + 8];   /* "f_<id>", quoted */
    struct buf where;              /* " WHERE ..." the whole filter */
    struct buf where_all;          /* the same, deleted rows kept */
    bool include_deleted;
    struct buf sql;                /* the statement being built */
    int sql_rc;                    /* its first failure to grow, sticky */
    json_t *columns;               /* the form_columns rows */
    struct field *fields;
    size_t n_fields;
    json_int_t total;
    struct fmd_err *err;
};

/* ---- building SQL ------------------------------------------------------ */

static void sqlf(struct sum *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sqlf(struct sum *s, const char *fmt, ...)
{
    va_list ap;
    if (s->sql_rc)
        return;
    va_start(ap, fmt);
    s->sql_rc = buf_vprintf(&s->sql, fmt, ap);
    va_end(ap);
}

/* Appends pre, the field's column as a quoted identifier, then post. */
static void sql_col(struct sum *s, const char *pre, const struct field *fd, const char *post)
{
    const char *p;
    sqlf(s, "%s\"", pre);
    for (p = fd->sql_name; *p && !s->sql_rc; p++)
        s->sql_rc = *p == '"' ? buf_add(&s->sql, "\"\"", 2) : buf_addc(&s->sql, *p);
    sqlf(s, "\"%s", post);
}

/*
 * Runs the statement built in s->sql (and empties it); *rows gets its rows
 * (the caller decrefs). A SQL error here is a mismatch between the table and
 * form_columns, not the caller's mistake, so FMD_EINVAL becomes FMD_EDB.
 */
static int run(struct sum *s, size_t max_rows, json_t **rows)
{
    struct fmd_err e = {0};
    json_t *res = NULL;
    uint64_t now;
    int rc;

    *rows = NULL;
    if (s->sql_rc) {
        rc = s->sql_rc;
        s->sql_rc = 0;
        buf_reset(&s->sql);
        if (rc == FMD_ETOOBIG)
            return fmd_errf(s->err, rc, "summary of form '%s' needs too long a query", s->form_id);
        return fmd_errf(s->err, FMD_ENOMEM, "out of memory");
    }
    now = clock_mono_ns();
    s->lim.max_rows = max_rows;
    s->lim.timeout_ms = now < s->deadline ? (long)((s->deadline - now + 999999) / 1000000) : 0;
    if (s->lim.timeout_ms > 0)
        rc = duck_query_json(s->c, s->sql.p, &s->lim, &res, &e);
    else
        rc = FMD_ETIMEOUT;
    buf_reset(&s->sql);
    if (rc == FMD_ETIMEOUT)
        return fmd_errf(s->err, rc, "summary of form '%s' took longer than %ld ms", s->form_id,
                        s->timeout_ms);
    if (rc == FMD_EINVAL)
        return fmd_errf(s->err, FMD_EDB,
                        "analytics table of form '%s' does not match its columns: %s",
                        s->form_id, e.msg);
    if (rc)
        return fmd_errf(s->err, rc, "%s", e.msg);
    *rows = json_incref(json_object_get(res, "rows"));
    json_decref(res);
    return 0;
}

/* Row r, column i of rows, or null: never NULL, so it can be stored. */
static json_t *cell(const json_t *rows, size_t r, size_t i)
{
    json_t *v = json_array_get(json_array_get(rows, r), i);
    return v ? v : json_null();
}

static json_int_t cell_int(const json_t *rows, size_t r, size_t i)
{
    return json_integer_value(cell(rows, r, i));
}

/* A real, or null for NaN and infinities (which json_real refuses). */
static json_t *real_or_null(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

/* ---- the filter -------------------------------------------------------- */

/* Form ids are ULIDs; anything beyond plain id characters is refused before
 * it gets near SQL, where it appears in a literal and an identifier. */
static int check_form_id(const char *id, struct fmd_err *err)
{
    size_t n = id ? strlen(id) : 0;
    size_t i;

    if (n == 0 || n > FORM_ID_MAX)
        return fmd_errf(err, FMD_EINVAL, "invalid form id '%.64s'", id ? id : "");
    for (i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '_' || ch == '-'))
            return fmd_errf(err, FMD_EINVAL, "invalid form id '%.64s'", id);
    }
    return 0;
}

static int build_filter(struct sum *s, const struct summary_filter *f)
{
    const char *status = NULL;
    size_t i;
    int rc = 0;

    if (f->status) {
        for (i = 0; i < N_STATUSES && !status; i++)
            if (!strcmp(f->status, statuses[i]))
                status = statuses[i];
        if (!status)
            return fmd_errf(s->err, FMD_EINVAL, "unknown status '%.64s'", f->status);
    }
    if (f->from < 0 || f->from > MS_MAX)
        return fmd_errf(s->err, FMD_EINVAL, "'from' is out of range");
    if (f->to < 0 || f->to > MS_MAX)
        return fmd_errf(s->err, FMD_EINVAL, "'to' is out of range");
    if (f->from && f->to && f->from > f->to)
        return fmd_errf(s->err, FMD_EINVAL, "'from' is after 'to'");
    if (f->version < 0)
        return fmd_errf(s->err, FMD_EINVAL, "invalid version '%d'", f->version);
    if (f->timeout_ms < 0 || f->timeout_ms > 86400000)
        return fmd_errf(s->err, FMD_EINVAL, "invalid time limit '%ld'", f->timeout_ms);

    s->timeout_ms = f->timeout_ms ? f->timeout_ms : SUMMARY_TIMEOUT_MS;
    s->deadline = clock_mono_ns() + (uint64_t)s->timeout_ms * 1000000u;
    s->include_deleted = f->include_deleted;
    rc = buf_adds(&s->where_all, " WHERE TRUE");
    /* Inclusive milliseconds: up to the end of the millisecond 'to'. */
    if (!rc && f->from)
        rc = buf_printf(&s->where_all, " AND created_at >= make_timestamptz(%" PRId64 ")",
                        f->from * 1000);
    if (!rc && f->to)
        rc = buf_printf(&s->where_all, " AND created_at < make_timestamptz(%" PRId64 ")",
                        (f->to + 1) * 1000);
    if (!rc && f->version)
        rc = buf_printf(&s->where_all, " AND version = %d", f->version);
    if (!rc && status)
        rc = buf_printf(&s->where_all, " AND status = '%s'", status);
    /* Spam is never in a summary (a reviewer can say it is not spam). */
    if (!rc)
        rc = buf_adds(&s->where_all, " AND " LAYOUT_NOT_SPAM);
    if (!rc)
        rc = buf_add(&s->where, s->where_all.p, s->where_all.len);
    if (!rc && !f->include_deleted)
        rc = buf_adds(&s->where, " AND deleted_at IS NULL");
    if (rc)
        return fmd_errf(s->err, FMD_ENOMEM, "out of memory");
    return 0;
}

/* ---- the form's columns ------------------------------------------------- */

static int kind_of(const char *name)
{
    int k;
    for (k = COLUMNS_CHOICE; k <= COLUMNS_JSON; k++)
        if (!strcmp(name, columns_kind_name((enum columns_kind)k)))
            return k;
    return -1;
}

/* FMD_ENOTFOUND without a table; else s->fields from form_columns (none if
 * that table is missing too: a form table is all that counts). */
static int load_columns(struct sum *s)
{
    json_t *rows = NULL;
    size_t i;
    int rc;

    sqlf(s, "SELECT (SELECT count(*) FROM duckdb_tables() WHERE database_name = "
            "current_database() AND schema_name = current_schema() AND lower(table_name) = "
            "lower('f_%s')), (SELECT count(*) FROM duckdb_tables() WHERE database_name = "
            "current_database() AND schema_name = current_schema() AND table_name = "
            "'form_columns')", s->form_id);
    if ((rc = run(s, 1, &rows)))
        goto out;
    if (cell_int(rows, 0, 0) == 0) {
        rc = fmd_errf(s->err, FMD_ENOTFOUND, "no analytics for form '%s' yet", s->form_id);
        goto out;
    }
    if (cell_int(rows, 0, 1) == 0)
        goto out;
    sqlf(s, "SELECT position, name, sql_name, kind, options FROM form_columns "
            "WHERE form_id = '%s' ORDER BY position", s->form_id);
    if ((rc = run(s, MAX_ROWS, &s->columns)))
        goto out;
    s->n_fields = json_array_size(s->columns);
    if (s->n_fields &&
        !(s->fields = fmd_calloc(s->n_fields, sizeof(*s->fields)))) {
        rc = fmd_errf(s->err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < s->n_fields; i++) {
        struct field *fd = &s->fields[i];
        const json_t *opt = cell(s->columns, i, 4);
        fd->position = cell_int(s->columns, i, 0);
        fd->name = json_string_value(cell(s->columns, i, 1));
        fd->sql_name = json_string_value(cell(s->columns, i, 2));
        fd->kind_name = json_string_value(cell(s->columns, i, 3));
        fd->options = json_is_array(opt) ? opt : NULL;
        if (!fd->name || !fd->sql_name || !fd->kind_name) {
            rc = fmd_errf(s->err, FMD_EDB, "form_columns row %" JSON_INTEGER_FORMAT
                          " of form '%s' is incomplete", fd->position, s->form_id);
            goto out;
        }
        fd->kind = kind_of(fd->kind_name);
    }
out:
    json_decref(rows);
    return rc;
}

/* ---- 1. the aggregate row ------------------------------------------------ */

/* Appends the field's scalar aggregates; agg_read takes them in the same order. */
static void agg_sql(struct sum *s, struct field *fd, size_t *ncol)
{
    fd->agg = *ncol;
    sql_col(s, ", count(", fd, ")");
    (*ncol)++;
    switch (fd->kind) {
    case COLUMNS_NUMBER:
    case COLUMNS_INTEGER:
        sql_col(s, ", min(", fd, ")");
        sql_col(s, ", max(", fd, ")");
        sql_col(s, ", avg(", fd, ")");
        sql_col(s, ", quantile_cont(", fd, ", [0.5, 0.9])");   /* one sort for both */
        sql_col(s, ", stddev_samp(", fd, ")");
        *ncol += 5;
        break;
    case COLUMNS_TEXT:
        sql_col(s, ", min(length(", fd, "))");
        sql_col(s, ", max(length(", fd, "))");
        sql_col(s, ", avg(length(", fd, "))");
        *ncol += 3;
        break;
    case COLUMNS_DATE:
    case COLUMNS_DATETIME:
    case COLUMNS_TIME:
        sql_col(s, ", min(", fd, ")");
        sql_col(s, ", max(", fd, ")");
        *ncol += 2;
        break;
    default:
        break;
    }
}

/* Makes the field's object: the common members and the scalar statistics. */
static int agg_read(struct sum *s, struct field *fd, const json_t *row, json_t *fields)
{
    size_t i = fd->agg + 1;
    json_int_t missing;
    json_t *o, *q, *len;
    int bad = 0;

    fd->count = cell_int(row, 0, fd->agg);
    missing = s->total - fd->count;
    if (!(o = json_object()) || json_array_append_new(fields, o))
        return fmd_errf(s->err, FMD_ENOMEM, "out of memory");
    fd->obj = o;
    bad |= json_object_set_new(o, "name", json_string(fd->name));
    bad |= json_object_set_new(o, "kind", json_string(fd->kind_name));
    bad |= json_object_set_new(o, "count", json_integer(fd->count));
    bad |= json_object_set_new(o, "missing", json_integer(missing));
    bad |= json_object_set_new(o, "missing_rate",
                               real_or_null(s->total ? (double)missing / (double)s->total : 0));
    switch (fd->kind) {
    case COLUMNS_NUMBER:
    case COLUMNS_INTEGER:
        q = cell(row, 0, i + 3);
        bad |= json_object_set(o, "min", cell(row, 0, i));
        bad |= json_object_set(o, "max", cell(row, 0, i + 1));
        bad |= json_object_set(o, "mean", cell(row, 0, i + 2));
        bad |= json_object_set(o, "median", json_array_size(q) == 2 ? json_array_get(q, 0)
                                                                  : json_null());
        bad |= json_object_set(o, "p90", json_array_size(q) == 2 ? json_array_get(q, 1)
                                                               : json_null());
        bad |= json_object_set(o, "stddev", cell(row, 0, i + 4));
        break;
    case COLUMNS_TEXT:
        len = json_object();
        bad |= json_object_set(len, "min", cell(row, 0, i));
        bad |= json_object_set(len, "max", cell(row, 0, i + 1));
        bad |= json_object_set(len, "mean", cell(row, 0, i + 2));
        bad |= json_object_set_new(o, "length", len);
        break;
    case COLUMNS_DATE:
    case COLUMNS_DATETIME:
    case COLUMNS_TIME:
        bad |= json_object_set(o, "min", cell(row, 0, i));
        bad |= json_object_set(o, "max", cell(row, 0, i + 1));
        break;
    default:
        break;
    }
    return bad ? fmd_errf(s->err, FMD_ENOMEM, "out of memory") : 0;
}

/*
 * Query 1: *row gets [total, first_at, last_at, one count per status, then
 * each field's aggregates].
 */
static int aggregate(struct sum *s, json_t **row)
{
    size_t i, ncol = 3 + N_STATUSES;

    sqlf(s, "SELECT count(*), min(created_at), max(created_at)");
    for (i = 0; i < N_STATUSES; i++)
        sqlf(s, ", count(*) FILTER (WHERE status = '%s')", statuses[i]);
    for (i = 0; i < s->n_fields; i++)
        agg_sql(s, &s->fields[i], &ncol);
    sqlf(s, " FROM %s%s", s->table, s->where.p);
    return run(s, 1, row);
}

/* ---- 2-4. deleted rows, days, versions ----------------------------------- */

/* [{key: rows[r][0], "count": rows[r][1]}, ...] into *out. */
static int pairs(const json_t *rows, const char *key, json_t **out)
{
    json_t *a = json_array();
    size_t r;
    int bad = !a;

    for (r = 0; !bad && r < json_array_size(rows); r++)
        bad |= json_array_append_new(a, json_pack("{s:O,s:O}", key, cell(rows, r, 0),
                                                  "count", cell(rows, r, 1)));
    if (bad) {
        json_decref(a);
        return FMD_ENOMEM;
    }
    *out = a;
    return 0;
}

static int meta(struct sum *s, const json_t *agg, json_t *res)
{
    json_t *rows = NULL, *a = NULL, *st;
    json_int_t deleted = 0;
    size_t i;
    int rc, bad = 0;

    if (!s->include_deleted) {
        sqlf(s, "SELECT count(*) FROM %s%s AND deleted_at IS NOT NULL", s->table,
             s->where_all.p);
        if ((rc = run(s, 1, &rows)))
            return rc;
        deleted = cell_int(rows, 0, 0);
        json_decref(rows);
    }
    bad |= json_object_set_new(res, "deleted_excluded", json_integer(deleted));
    bad |= json_object_set(res, "first_at", cell(agg, 0, 1));
    bad |= json_object_set(res, "last_at", cell(agg, 0, 2));

    sqlf(s, "SELECT CAST(make_timestamp(epoch_us(created_at)) AS DATE) AS d, count(*) "
            "FROM %s%s GROUP BY 1 ORDER BY 1", s->table, s->where.p);
    if ((rc = run(s, MAX_ROWS, &rows)))
        return rc;
    rc = pairs(rows, "day", &a);
    json_decref(rows);
    if (rc)
        return fmd_errf(s->err, rc, "out of memory");
    bad |= json_object_set_new(res, "per_day", a);

    st = json_object();
    for (i = 0; i < N_STATUSES; i++)
        bad |= json_object_set(st, statuses[i], cell(agg, 0, 3 + i));
    bad |= json_object_set_new(res, "statuses", st);

    sqlf(s, "SELECT version, count(*) FROM %s%s GROUP BY 1 ORDER BY 1", s->table, s->where.p);
    if ((rc = run(s, MAX_ROWS, &rows)))
        return rc;
    rc = pairs(rows, "version", &a);
    json_decref(rows);
    if (rc)
        return fmd_errf(s->err, rc, "out of memory");
    bad |= json_object_set_new(res, "versions", a);
    return bad ? fmd_errf(s->err, FMD_ENOMEM, "out of memory") : 0;
}

/* ---- 5. per-field groups ------------------------------------------------- */

/*
 * Choice, boolean and multichoice: rows [value, count, 0] for the declared
 * options seen, [value, count, rank] for the 50 most frequent others, and
 * [NULL, answers, values] for the rest.
 */
static void values_sql(struct sum *s, const struct field *fd)
{
    if (fd->kind == COLUMNS_BOOLEAN)
        sqlf(s, "WITH o AS (SELECT unnest(['true', 'false']) AS v), ");
    else
        sqlf(s, "WITH o AS (SELECT unnest(from_json(options, '[\"VARCHAR\"]')) AS v "
                "FROM form_columns WHERE form_id = '%s' AND position = %" JSON_INTEGER_FORMAT
                "), ", s->form_id, fd->position);
    if (fd->kind == COLUMNS_MULTICHOICE) {
        /* An option picked twice in one answer counts once: each element is
         * kept at its first position only, about twice as fast as
         * list_distinct. The lambda's parameters would hide a column of the
         * same name, so they never take the column's. */
        const char *x = strcasecmp(fd->sql_name, "x") ? "x" : "y";
        const char *i = strcasecmp(fd->sql_name, "i") ? "i" : "j";
        sql_col(s, "g AS (SELECT v, count(*) AS n FROM (SELECT unnest(list_filter(", fd, "");
        sqlf(s, ", lambda %s, %s: ", x, i);
        sql_col(s, "list_position(", fd, "");
        sqlf(s, ", %s) = %s)) AS v FROM %s%s) WHERE v IS NOT NULL GROUP BY 1), ", x, i, s->table,
             s->where.p);
    } else {
        /* Grouped first, cast after: a BOOLEAN cast per row costs more than the grouping. */
        sql_col(s, "g AS (SELECT CAST(v AS VARCHAR) AS v, n FROM (SELECT ", fd,
                " AS v, count(*) AS n ");
        sqlf(s, "FROM %s%s", s->table, s->where.p);
        sql_col(s, " AND ", fd, " IS NOT NULL GROUP BY 1)), ");
    }
    sqlf(s, "r AS (SELECT v, n, row_number() OVER (ORDER BY n DESC, v) AS rk FROM g "
            "WHERE v NOT IN (SELECT v FROM o WHERE v IS NOT NULL)) "
            "SELECT * FROM (SELECT v, n, 0 AS rk FROM g WHERE v IN (SELECT v FROM o) "
            "UNION ALL SELECT v, n, rk FROM r WHERE rk <= %d "
            "UNION ALL SELECT NULL, coalesce(sum(n), 0), count(*) FROM r WHERE rk > %d) "
            "ORDER BY v IS NULL, rk", MAX_OTHER_VALUES, MAX_OTHER_VALUES);
}

static json_t *value_json(const struct field *fd, const char *v)
{
    if (fd->kind == COLUMNS_BOOLEAN)
        return json_boolean(!strcmp(v, "true"));
    return json_string(v);
}

static int add_value(json_t *a, const struct field *fd, const char *v, json_int_t n)
{
    return json_array_append_new(
        a, json_pack("{s:o,s:I,s:o}", "value", value_json(fd, v), "count", (json_int_t)n,
                     "share", real_or_null(fd->count ? (double)n / (double)fd->count : 0)));
}

static int values_read(struct sum *s, const struct field *fd, const json_t *rows)
{
    size_t nopt = fd->kind == COLUMNS_BOOLEAN ? 2 : json_array_size(fd->options);
    size_t nrows = json_array_size(rows), i, r;
    json_int_t selections = 0, other_values = 0, other_count = 0, n;
    json_t *a = json_array();
    bool *used = fmd_calloc(nrows ? nrows : 1, sizeof(*used));
    const char *opt, *v;
    int bad = !a || !used;

    for (i = 0; !bad && i < nopt; i++) {
        opt = fd->kind == COLUMNS_BOOLEAN ? bool_options[i]
                                           : json_string_value(json_array_get(fd->options, i));
        if (!opt)
            continue;
        for (n = 0, r = 0; r < nrows; r++) {
            v = json_string_value(cell(rows, r, 0));
            if (!used[r] && v && cell_int(rows, r, 2) == 0 && !strcmp(v, opt)) {
                n = cell_int(rows, r, 1);
                used[r] = true;
                break;
            }
        }
        bad |= add_value(a, fd, opt, n);
    }
    /* The others, in the query's order; a declared row not claimed above (a
     * non-string option) is listed as well rather than lost. */
    for (r = 0; !bad && r < nrows; r++) {
        v = json_string_value(cell(rows, r, 0));
        n = cell_int(rows, r, 1);
        selections += n;
        if (!v) {
            other_count = n;
            other_values = cell_int(rows, r, 2);
        } else if (!used[r]) {
            bad |= add_value(a, fd, v, n);
        }
    }
    if (!bad) {
        bad |= json_object_set_new(fd->obj, "values", a);
        a = NULL;
        bad |= json_object_set_new(fd->obj, "other_values", json_integer(other_values));
        bad |= json_object_set_new(fd->obj, "other_count", json_integer(other_count));
        if (fd->kind == COLUMNS_MULTICHOICE)
            bad |= json_object_set_new(fd->obj, "selections_mean",
                                       fd->count ? real_or_null((double)selections /
                                                                (double)fd->count)
                                                 : json_null());
    }
    json_decref(a);
    fmd_free(used);
    return bad ? fmd_errf(s->err, FMD_ENOMEM, "out of memory") : 0;
}

/* Text: the top values with the number of groups (distinct values) on each row. */
static void top_sql(struct sum *s, const struct field *fd)
{
    sql_col(s, "SELECT v, n, d FROM (SELECT ", fd, " AS v, count(*) AS n, count(*) OVER () AS d ");
    sqlf(s, "FROM %s%s", s->table, s->where.p);
    sql_col(s, " AND ", fd, " IS NOT NULL GROUP BY 1) ");
    sqlf(s, "ORDER BY n DESC, v LIMIT %d", MAX_TOP);
}

static int top_read(struct sum *s, const struct field *fd, const json_t *rows)
{
    json_t *a = json_array();
    size_t r;
    int bad = !a;

    for (r = 0; !bad && r < json_array_size(rows); r++)
        if (cell_int(rows, r, 1) >= 2)
            bad |= json_array_append_new(a, json_pack("{s:O,s:O}", "value", cell(rows, r, 0),
                                                      "count", cell(rows, r, 1)));
    bad |= json_object_set_new(fd->obj, "distinct", json_integer(cell_int(rows, 0, 2)));
    bad |= json_object_set_new(fd->obj, "top", a);
    return bad ? fmd_errf(s->err, FMD_ENOMEM, "out of memory") : 0;
}

/* Dates and times: the latest months, newest first, with the number of months on each row. */
static void months_sql(struct sum *s, const struct field *fd)
{
    if (fd->kind == COLUMNS_DATETIME)
        sql_col(s, "SELECT strftime(m, '%Y-%m'), n, g FROM (SELECT date_trunc('month', "
                   "make_timestamp(epoch_us(", fd, "))) AS m, ");
    else
        sql_col(s, "SELECT strftime(m, '%Y-%m'), n, g FROM (SELECT date_trunc('month', ", fd,
                ") AS m, ");
    sqlf(s, "count(*) AS n, count(*) OVER () AS g FROM %s%s", s->table, s->where.p);
    sql_col(s, " AND isfinite(", fd, ") GROUP BY 1) ");
    sqlf(s, "ORDER BY m DESC LIMIT %d", MAX_MONTHS);
}

static int months_read(struct sum *s, const struct field *fd, const json_t *rows)
{
    size_t n = json_array_size(rows), r;
    json_int_t months = cell_int(rows, 0, 2);
    json_t *a = json_array();
    int bad = !a;

    for (r = n; !bad && r-- > 0;)
        bad |= json_array_append_new(a, json_pack("{s:O,s:O}", "month", cell(rows, r, 0),
                                                  "count", cell(rows, r, 1)));
    bad |= json_object_set_new(fd->obj, "per_month", a);
    bad |= json_object_set_new(fd->obj, "other_months",
                               json_integer(months > (json_int_t)n ? months - (json_int_t)n : 0));
    return bad ? fmd_errf(s->err, FMD_ENOMEM, "out of memory") : 0;
}

/* The field's GROUP BY, when its kind has one; a field without answers
 * skips the query and reads as if it returned no rows. */
static int field_groups(struct sum *s, const struct field *fd)
{
    int (*read)(struct sum *, const struct field *, const json_t *);
    json_t *rows = NULL;
    size_t max = 0;
    int rc;

    switch (fd->kind) {
    case COLUMNS_CHOICE:
    case COLUMNS_MULTICHOICE:
    case COLUMNS_BOOLEAN:
        if (fd->count)
            values_sql(s, fd);
        max = json_array_size(fd->options) + MAX_OTHER_VALUES + 3;
        read = values_read;
        break;
    case COLUMNS_TEXT:
        if (fd->count)
            top_sql(s, fd);
        max = MAX_TOP;
        read = top_read;
        break;
    case COLUMNS_DATE:
    case COLUMNS_DATETIME:
        if (fd->count)
            months_sql(s, fd);
        max = MAX_MONTHS;
        read = months_read;
        break;
    default:
        return 0;
    }
    if (fd->count)
        rc = run(s, max, &rows);
    else
        rc = (rows = json_array()) ? 0 : fmd_errf(s->err, FMD_ENOMEM, "out of memory");
    if (!rc)
        rc = read(s, fd, rows);
    json_decref(rows);
    return rc;
}

/* ---- the summary --------------------------------------------------------- */

static int summarise(struct sum *s, json_t *res)
{
    json_t *agg = NULL, *fields = NULL;
    size_t i;
    int rc, bad = 0;

    if ((rc = aggregate(s, &agg)))
        goto out;
    s->total = cell_int(agg, 0, 0);
    bad |= json_object_set_new(res, "total", json_integer(s->total));
    if (bad || (rc = meta(s, agg, res)))
        goto out;
    if (!(fields = json_array()) || json_object_set(res, "fields", fields)) {
        rc = fmd_errf(s->err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < s->n_fields && !rc; i++)
        if (!(rc = agg_read(s, &s->fields[i], agg, fields)))
            rc = field_groups(s, &s->fields[i]);
out:
    if (bad && !rc)
        rc = fmd_errf(s->err, FMD_ENOMEM, "out of memory");
    json_decref(fields);
    json_decref(agg);
    return rc;
}

int summary_form(struct duck_conn *c, const char *form_id, const struct summary_filter *f,
                 json_t **out, struct fmd_err *err)
{
    static const struct summary_filter none = {0};
    struct sum s = {.c = c, .form_id = form_id, .err = err};
    json_t *res = NULL;
    bool in_tx = false;
    int rc;

    *out = NULL;
    buf_init(&s.where, 4096);
    buf_init(&s.where_all, 4096);
    buf_init(&s.sql, SQL_MAX);
    if ((rc = check_form_id(form_id, err)) || (rc = build_filter(&s, f ? f : &none)))
        goto out;
    snprintf(s.table, sizeof(s.table), LAYOUT_FORM_TABLE_FMT, form_id);
    /* One snapshot for every query, while the ETL may be writing. */
    if ((rc = duck_exec(c, "BEGIN TRANSACTION READ ONLY", err)))
        goto out;
    in_tx = true;
    if ((rc = load_columns(&s)))
        goto out;
    if (!(res = json_object()) || json_object_set_new(res, "form_id", json_string(form_id))) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = summarise(&s, res)))
        goto out;
    *out = res;
    res = NULL;
out:
    if (in_tx)
        duck_exec(c, "ROLLBACK", NULL);
    json_decref(res);
    json_decref(s.columns);
    fmd_free(s.fields);
    buf_release(&s.sql);
    buf_release(&s.where);
    buf_release(&s.where_all);
    return rc;
}
