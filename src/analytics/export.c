/*
 * export.c - a form's submissions to CSV, JSON Lines, Parquet or XLSX.
 *
 * Every export reads one snapshot (its own transaction): the form's columns
 * from form_columns, a count of the rows for progress, then the rows. CSV,
 * JSON Lines and XLSX are written here from DuckDB's streaming result, one
 * chunk of up to 2,048 rows at a time; Parquet is written by DuckDB itself
 * (COPY (SELECT ...) TO '<path>.part' (FORMAT parquet, COMPRESSION zstd)),
 * which is why its path must be in the directory the database may write.
 *
 * How values are written:
 *
 *   DuckDB type        CSV (text)                JSON Lines          XLSX
 *   BOOLEAN            true / false              true / false        boolean
 *   integers           decimal                   number              number (text past
 *                                                                    15 digits, xlsx.h)
 *   DOUBLE, FLOAT      shortest round-trip       number; NaN and     number
 *                      decimal; NaN, Infinity,   infinities: null
 *                      -Infinity
 *   VARCHAR            the text                  string              text
 *   JSON               its JSON text             the JSON value      its JSON text
 *   LIST (VARCHAR[])   a JSON array              array               a JSON array as text
 *   DATE               2024-05-01                "2024-05-01"        date
 *   TIME               13:45:00[.ffffff]         "13:45:00"          text
 *   TIMESTAMPTZ        2024-05-01T13:45:00Z      "...Z"              date-time (UTC)
 *   NULL               empty field               null                empty cell
 *
 * Fractions of a second are written as .fff when whole milliseconds, else
 * .ffffff; infinite dates and timestamps as "infinity" / "-infinity".
 *
 * CSV follows RFC 4180: a header line, CRLF line ends, a field in double
 * quotes when it holds a comma, a double quote, CR or LF (quotes doubled
 * inside), UTF-8, optionally a BOM. An empty string is written as "" so that
 * it reads back apart from NULL (an empty field). With the formula guard on
 * (export.h), a VARCHAR value or header starting with = + - @ tab or CR gets
 * a leading single quote; numbers, lists and JSON never do.
 *
 * JSON Lines: one object a line ("\n"), keys the column headers in order.
 * A JSON value is copied as DuckDB stores it (valid JSON, which DuckDB
 * checks on the way in), its CR and LF bytes turned into spaces: in valid
 * JSON they can only be whitespace, and a line must stay one line.
 *
 * Headers are the property names of form_columns (a property named "" is
 * headed by its sql_name), made unique ignoring ASCII case, which is how
 * DuckDB and spreadsheet users compare names, by appending "_2", "_3", ...
 */
/* duckdb.h declares a few "f()" functions: fine in C23, a warning in C11. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <duckdb.h>
#pragma GCC diagnostic pop
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analytics/duck.h"
#include "analytics/export.h"
#include "analytics/layout.h"
#include "analytics/xlsx.h"
#include "core/buf.h"
#include "core/id.h"
#include "core/mem.h"
#include "core/banned.h"

#define ROW_MAX (1u << 30)          /* one row as text */
#define FLUSH_AT (1u << 18)         /* bytes buffered before a write */
#define PROGRESS_EVERY 10000
#define STATUS_MAX 64

static const char *const meta_names[] = {
    "submission_id", "version", "status", "created_at", "updated_at", "deleted_at",
};

/* A result column's type as the writers need it: a tree for LIST. */
struct vtype {
    duckdb_type id;
    bool json;              /* VARCHAR with the JSON alias */
    struct vtype *child;    /* LIST */
};

struct col {
    char *header;           /* unique, as written */
    const char *sql_name;   /* in the form's table (borrowed) */
    struct vtype t;
    duckdb_vector vec;      /* of the current chunk */
};

struct job {
    struct duck_conn *c;
    const struct export_options *o;
    const char *form_id;
    const char *path;
    char *part;                  /* "<path>.part" */
    struct fmd_err *err;
    char **fnames, **fsql;       /* form_columns: name, sql_name */
    size_t nform, capform;
    struct col *cols;
    size_t ncol;
    bool guard;
    uint64_t total, done, next_progress;
    int fd;
    struct buf out, tmp;
    struct xlsx *x;
};

/* ---- formats ------------------------------------------------------------ */

static const struct {
    const char *name, *type;
} formats[] = {
    [EXPORT_CSV] = { "csv", "text/csv; charset=utf-8" },
    [EXPORT_JSONL] = { "jsonl", "application/jsonl" },
    [EXPORT_PARQUET] = { "parquet", "application/vnd.apache.parquet" },
    [EXPORT_XLSX] = { "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
};

#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

int export_format_parse(const char *s, enum export_format *out)
{
    size_t i;
    for (i = 0; s && i < NFORMATS; i++) {
        if (!strcmp(s, formats[i].name)) {
            *out = (enum export_format)i;
            return 0;
        }
    }
    return FMD_EINVAL;
}

const char *export_format_ext(enum export_format f)
{
    return (unsigned)f < NFORMATS ? formats[f].name : NULL;
}

const char *export_content_type(enum export_format f)
{
    return (unsigned)f < NFORMATS ? formats[f].type : NULL;
}

/* ---- SQL text ------------------------------------------------------------ */

static int add_ident(struct buf *b, const char *s)
{
    int rc = buf_addc(b, '"');
    for (; *s && !rc; s++)
        rc = *s == '"' ? buf_adds(b, "\"\"") : buf_addc(b, *s);
    return rc ? rc : buf_addc(b, '"');
}

static int add_literal(struct buf *b, const char *s)
{
    int rc = buf_addc(b, '\'');
    for (; *s && !rc; s++)
        rc = *s == '\'' ? buf_adds(b, "''") : buf_addc(b, *s);
    return rc ? rc : buf_addc(b, '\'');
}

/* ---- value text ----------------------------------------------------------- */

static int add_double(struct buf *b, double v, bool json)
{
    char s[40];
    int prec;

    if (!isfinite(v))
        return buf_adds(b, json ? "null" : isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
    /* %.15g is already the shortest when 15 digits round-trip (DBL_DIG). */
    for (prec = 15; prec < 17; prec++) {
        snprintf(s, sizeof(s), "%.*g", prec, v);
        if (strtod(s, NULL) == v)
            return buf_adds(b, s);
    }
    snprintf(s, sizeof(s), "%.17g", v);
    return buf_adds(b, s);
}

static int add_ymd(struct buf *b, duckdb_date_struct d)
{
    return buf_printf(b, d.year >= 0 && d.year <= 9999 ? "%04d-%02d-%02d" : "%+05d-%02d-%02d",
                      (int)d.year, d.month, d.day);
}

static int add_date(struct buf *b, duckdb_date d)
{
    if (!duckdb_is_finite_date(d))
        return buf_adds(b, d.days > 0 ? "infinity" : "-infinity");
    return add_ymd(b, duckdb_from_date(d));
}

/* hh:mm:ss, then .fff or .ffffff when there is a fraction. */
static int add_clock(struct buf *b, duckdb_time_struct t)
{
    if (!t.micros)
        return buf_printf(b, "%02d:%02d:%02d", t.hour, t.min, t.sec);
    if (t.micros % 1000 == 0)
        return buf_printf(b, "%02d:%02d:%02d.%03d", t.hour, t.min, t.sec, (int)(t.micros / 1000));
    return buf_printf(b, "%02d:%02d:%02d.%06d", t.hour, t.min, t.sec, (int)t.micros);
}

static int add_timestamp(struct buf *b, duckdb_timestamp ts, bool utc)
{
    duckdb_timestamp_struct t;
    int rc;
    if (!duckdb_is_finite_timestamp(ts))
        return buf_adds(b, ts.micros > 0 ? "infinity" : "-infinity");
    t = duckdb_from_timestamp(ts);
    if ((rc = add_ymd(b, t.date)) || (rc = buf_addc(b, 'T')) || (rc = add_clock(b, t.time)))
        return rc;
    return utc ? buf_addc(b, 'Z') : 0;
}

static bool is_null(duckdb_vector v, idx_t row)
{
    return !duckdb_validity_row_is_valid(duckdb_vector_get_validity(v), row);
}

static duckdb_string_t *str_at(duckdb_vector v, idx_t row)
{
    return &((duckdb_string_t *)duckdb_vector_get_data(v))[row];
}

/* JSON text with its CR and LF (whitespace in valid JSON) made spaces. */
static int add_json_text(struct buf *b, const char *p, size_t n)
{
    size_t i, at = b->len;
    int rc = buf_add(b, p, n);
    for (i = at; !rc && i < b->len; i++)
        if (b->p[i] == '\n' || b->p[i] == '\r')
            b->p[i] = ' ';
    return rc;
}

/* Scalars other than text, the same in CSV and JSON but for quotes. */
static int add_scalar(struct buf *b, const struct vtype *t, duckdb_vector v, idx_t row,
                      bool json)
{
    void *d = duckdb_vector_get_data(v);
    int rc;

    switch (t->id) {
    case DUCKDB_TYPE_BOOLEAN: return buf_adds(b, ((bool *)d)[row] ? "true" : "false");
    case DUCKDB_TYPE_TINYINT: return buf_printf(b, "%d", ((int8_t *)d)[row]);
    case DUCKDB_TYPE_SMALLINT: return buf_printf(b, "%d", ((int16_t *)d)[row]);
    case DUCKDB_TYPE_INTEGER: return buf_printf(b, "%" PRId32, ((int32_t *)d)[row]);
    case DUCKDB_TYPE_BIGINT: return buf_printf(b, "%" PRId64, ((int64_t *)d)[row]);
    case DUCKDB_TYPE_UTINYINT: return buf_printf(b, "%u", ((uint8_t *)d)[row]);
    case DUCKDB_TYPE_USMALLINT: return buf_printf(b, "%u", ((uint16_t *)d)[row]);
    case DUCKDB_TYPE_UINTEGER: return buf_printf(b, "%" PRIu32, ((uint32_t *)d)[row]);
    case DUCKDB_TYPE_UBIGINT: return buf_printf(b, "%" PRIu64, ((uint64_t *)d)[row]);
    case DUCKDB_TYPE_FLOAT: return add_double(b, ((float *)d)[row], json);
    case DUCKDB_TYPE_DOUBLE: return add_double(b, ((double *)d)[row], json);
    default: break;
    }
    if (json && (rc = buf_addc(b, '"')))
        return rc;
    switch (t->id) {
    case DUCKDB_TYPE_DATE: rc = add_date(b, ((duckdb_date *)d)[row]); break;
    case DUCKDB_TYPE_TIME: rc = add_clock(b, duckdb_from_time(((duckdb_time *)d)[row])); break;
    case DUCKDB_TYPE_TIMESTAMP:
    case DUCKDB_TYPE_TIMESTAMP_TZ:
        rc = add_timestamp(b, ((duckdb_timestamp *)d)[row], t->id == DUCKDB_TYPE_TIMESTAMP_TZ);
        break;
    default: FMD_BUG("type %d not covered", (int)t->id);
    }
    return rc || !json ? rc : buf_addc(b, '"');
}

/* The value as JSON (JSON Lines, and list elements everywhere). */
static int add_json(struct buf *b, const struct vtype *t, duckdb_vector v, idx_t row)
{
    duckdb_string_t *s;
    int rc;

    if (is_null(v, row))
        return buf_adds(b, "null");
    if (t->id == DUCKDB_TYPE_VARCHAR) {
        s = str_at(v, row);
        if (t->json)
            return add_json_text(b, duckdb_string_t_data(s), duckdb_string_t_length(*s));
        if ((rc = buf_addc(b, '"')) ||
            (rc = buf_add_json_str(b, duckdb_string_t_data(s), duckdb_string_t_length(*s))))
            return rc;
        return buf_addc(b, '"');
    }
    if (t->id == DUCKDB_TYPE_LIST) {
        duckdb_list_entry e = ((duckdb_list_entry *)duckdb_vector_get_data(v))[row];
        duckdb_vector child = duckdb_list_vector_get_child(v);
        uint64_t i;
        rc = buf_addc(b, '[');
        for (i = 0; !rc && i < e.length; i++) {
            if (i && (rc = buf_addc(b, ',')))
                break;
            rc = add_json(b, t->child, child, e.offset + i);
        }
        return rc ? rc : buf_addc(b, ']');
    }
    return add_scalar(b, t, v, row, true);
}

/* The value as one text field (CSV, and XLSX cells that hold text). */
static int add_text(struct buf *b, const struct vtype *t, duckdb_vector v, idx_t row)
{
    duckdb_string_t *s;
    if (t->id == DUCKDB_TYPE_VARCHAR) {
        s = str_at(v, row);
        return buf_add(b, duckdb_string_t_data(s), duckdb_string_t_length(*s));
    }
    if (t->id == DUCKDB_TYPE_LIST)
        return add_json(b, t, v, row);
    return add_scalar(b, t, v, row, false);
}

/* ---- types ---------------------------------------------------------------- */

static void vtype_release(struct vtype *t)
{
    if (t->child) {
        vtype_release(t->child);
        fmd_freez(&t->child);
    }
}

static const char *type_label(duckdb_type id)
{
    switch (id) {
    case DUCKDB_TYPE_DECIMAL: return "DECIMAL";
    case DUCKDB_TYPE_HUGEINT: return "HUGEINT";
    case DUCKDB_TYPE_BLOB: return "BLOB";
    case DUCKDB_TYPE_INTERVAL: return "INTERVAL";
    case DUCKDB_TYPE_STRUCT: return "STRUCT";
    case DUCKDB_TYPE_MAP: return "MAP";
    case DUCKDB_TYPE_UUID: return "UUID";
    case DUCKDB_TYPE_ENUM: return "ENUM";
    case DUCKDB_TYPE_ARRAY: return "ARRAY";
    default: return "this type";
    }
}

/* Fills t from lt (destroyed here). FMD_EINVAL for a type not written. */
static int vtype_init(struct vtype *t, duckdb_logical_type lt, const char *col,
                      struct fmd_err *err)
{
    char *alias;
    int rc = 0;

    memset(t, 0, sizeof(*t));
    t->id = duckdb_get_type_id(lt);
    switch (t->id) {
    case DUCKDB_TYPE_BOOLEAN: case DUCKDB_TYPE_TINYINT: case DUCKDB_TYPE_SMALLINT:
    case DUCKDB_TYPE_INTEGER: case DUCKDB_TYPE_BIGINT: case DUCKDB_TYPE_UTINYINT:
    case DUCKDB_TYPE_USMALLINT: case DUCKDB_TYPE_UINTEGER: case DUCKDB_TYPE_UBIGINT:
    case DUCKDB_TYPE_FLOAT: case DUCKDB_TYPE_DOUBLE: case DUCKDB_TYPE_DATE:
    case DUCKDB_TYPE_TIME: case DUCKDB_TYPE_TIMESTAMP: case DUCKDB_TYPE_TIMESTAMP_TZ:
        break;
    case DUCKDB_TYPE_VARCHAR:
        if ((alias = duckdb_logical_type_get_alias(lt))) {
            t->json = !strcmp(alias, "JSON");
            duckdb_free(alias);
        }
        break;
    case DUCKDB_TYPE_LIST:
        if (!(t->child = fmd_calloc(1, sizeof(*t->child)))) {
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
            break;
        }
        rc = vtype_init(t->child, duckdb_list_type_child_type(lt), col, err);
        break;
    default:
        rc = fmd_errf(err, FMD_EINVAL, "column '%s' has type %s, which exports do not write",
                      col, type_label(t->id));
    }
    duckdb_destroy_logical_type(&lt);
    return rc;
}

/* ---- files ---------------------------------------------------------------- */

static int io_fail(struct job *j, const char *what, const char *file)
{
    return fmd_errf(j->err, FMD_EIO, "cannot %s '%s': %s", what, file, strerror(errno));
}

/* Puts "cannot write '<part>': " before the message already in j->err. */
static int name_file(struct job *j, int rc)
{
    char msg[sizeof(j->err->msg)];
    memcpy(msg, j->err->msg, sizeof(msg));
    msg[sizeof(msg) - 1] = '\0';
    return fmd_errf(j->err, rc, "cannot write '%s': %.200s", j->part, msg);
}

static int flush_out(struct job *j)
{
    size_t off = 0;
    ssize_t n;

    while (off < j->out.len) {
        n = write(j->fd, j->out.p + off, j->out.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return io_fail(j, "write", j->part);
        off += (size_t)n;
    }
    buf_reset(&j->out);
    return 0;
}

static int fsync_path(struct job *j, const char *p, int flags)
{
    int fd = open(p, O_RDONLY | O_CLOEXEC | flags), rc = 0;
    if (fd < 0 || fsync(fd) != 0)
        rc = io_fail(j, "sync", p);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* The directory of path into dst[cap] ("." when it has none). */
static void dir_of(const char *path, char *dst, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dst, cap, ".");
    else if (slash == path)
        snprintf(dst, cap, "/");
    else
        snprintf(dst, cap, "%.*s", (int)(slash - path), path);
}

/* ---- reading the form ------------------------------------------------------ */

static int prepare(struct job *j, const struct buf *sql, struct duck_prepared **p)
{
    return duck_prepare(j->c, sql->p, p, j->err);
}

/* Runs p (one BIGINT, one row) into *out. */
static int query_count(struct job *j, struct duck_prepared *p, int64_t *out)
{
    struct duck_cursor *cur = NULL;
    duckdb_data_chunk ch = NULL;
    int rc;

    *out = 0;
    if ((rc = duck_cursor_open(p, &cur, j->err)) || (rc = duck_cursor_fetch(cur, &ch, j->err)))
        goto out;
    if (ch && duckdb_data_chunk_get_size(ch) > 0)
        *out = ((int64_t *)duckdb_vector_get_data(duckdb_data_chunk_get_vector(ch, 0)))[0];
out:
    if (ch)
        duckdb_destroy_data_chunk(&ch);
    duck_cursor_close(cur);
    return rc;
}

static int form_exists(struct job *j, const char *table)
{
    static const char sql[] = "SELECT count(*) FROM duckdb_tables() "
                              "WHERE database_name = current_database() "
                              "AND schema_name = current_schema() AND table_name = $1";
    struct duck_prepared *p = NULL;
    int64_t n = 0;
    int rc;

    if (!(rc = duck_prepare(j->c, sql, &p, j->err)) &&
        !(rc = duck_bind_text(p, 1, table, strlen(table))) && !(rc = query_count(j, p, &n)) &&
        n == 0)
        rc = fmd_errf(j->err, FMD_ENOTFOUND, "form '%s' has no analytics table", j->form_id);
    duck_prepared_free(p);
    return rc;
}

static char *dup_string(duckdb_vector v, idx_t row)
{
    duckdb_string_t *s = str_at(v, row);
    return fmd_strndup(duckdb_string_t_data(s), duckdb_string_t_length(*s));
}

/* form_columns of the form, in position order, into j->fnames / j->fsql. */
static int read_columns(struct job *j)
{
    static const char sql[] = "SELECT name, sql_name FROM form_columns WHERE form_id = $1 "
                              "ORDER BY position";
    struct duck_prepared *p = NULL;
    struct duck_cursor *cur = NULL;
    duckdb_data_chunk ch = NULL;
    idx_t n, r;
    int rc;

    if ((rc = duck_prepare(j->c, sql, &p, j->err)) ||
        (rc = duck_bind_text(p, 1, j->form_id, strlen(j->form_id))) ||
        (rc = duck_cursor_open(p, &cur, j->err)))
        goto out;
    while (!(rc = duck_cursor_fetch(cur, &ch, j->err)) && ch) {
        n = duckdb_data_chunk_get_size(ch);
        for (r = 0; r < n && !rc; r++) {
            if (j->nform == j->capform) {
                size_t cap = j->capform ? j->capform * 2 : 16;
                char **a = fmd_realloc(j->fnames, cap * sizeof(*a));
                char **b = a ? fmd_realloc(j->fsql, cap * sizeof(*b)) : NULL;
                if (a)
                    j->fnames = a;
                if (!b) {
                    rc = fmd_errf(j->err, FMD_ENOMEM, "out of memory");
                    break;
                }
                j->fsql = b;
                j->capform = cap;
            }
            j->fnames[j->nform] = dup_string(duckdb_data_chunk_get_vector(ch, 0), r);
            j->fsql[j->nform] = dup_string(duckdb_data_chunk_get_vector(ch, 1), r);
            j->nform++;
            if (!j->fnames[j->nform - 1] || !j->fsql[j->nform - 1])
                rc = fmd_errf(j->err, FMD_ENOMEM, "out of memory");
        }
        duckdb_destroy_data_chunk(&ch);
    }
out:
    duck_cursor_close(cur);
    duck_prepared_free(p);
    return rc;
}

static bool same_ci(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (x != y)
            return false;
    }
    return *a == *b;
}

/* header for column i: base, or base_2, base_3, ... unlike every header before it. */
static int set_header(struct job *j, size_t i, const char *base)
{
    struct buf b;
    size_t k, n = 2;
    int rc;

    buf_init(&b, 1 << 20);
    rc = buf_adds(&b, base);
    for (k = 0; !rc && k < i; k++) {
        if (same_ci(j->cols[k].header, b.p)) {
            buf_reset(&b);
            rc = buf_printf(&b, "%s_%zu", base, n++);
            k = (size_t)-1;   /* compare again from the first */
        }
    }
    if (rc || !(j->cols[i].header = buf_detach(&b, NULL)))
        rc = fmd_errf(j->err, FMD_ENOMEM, "out of memory");
    buf_release(&b);
    return rc;
}

static int make_columns(struct job *j)
{
    size_t nmeta = j->o->include_deleted ? 6 : 5, i;
    int rc = 0;

    if (!(j->cols = fmd_calloc(nmeta + j->nform, sizeof(*j->cols))))
        return fmd_errf(j->err, FMD_ENOMEM, "out of memory");
    for (i = 0; i < nmeta + j->nform && !rc; i++) {
        const char *name = i < nmeta ? meta_names[i] : j->fnames[i - nmeta];
        j->cols[i].sql_name = i < nmeta ? meta_names[i] : j->fsql[i - nmeta];
        rc = set_header(j, i, *name ? name : j->cols[i].sql_name);
        j->ncol = i + 1;
    }
    return rc;
}

/* ---- the query -------------------------------------------------------------- */

struct filters {
    int n;
    int64_t from, to, version;
    const char *status;
    int pfrom, pto, pversion, pstatus;   /* parameter numbers, 0: unused */
};

/* " FROM "f_<id>" WHERE ..." with the filters as parameters. */
static int add_from_where(struct job *j, struct buf *b, struct filters *f)
{
    const struct export_options *o = j->o;
    const char *and = " WHERE ";
    int rc;

    memset(f, 0, sizeof(*f));
    if ((rc = o->table ? buf_printf(b, " FROM \"%s\"", o->table)
                       : buf_printf(b, " FROM " LAYOUT_FORM_TABLE_FMT, j->form_id)))
        return rc;
    if (!o->include_deleted && !(rc = buf_printf(b, "%s\"deleted_at\" IS NULL", and)))
        and = " AND ";
    if (!rc && !o->include_spam && !(rc = buf_printf(b, "%s" LAYOUT_NOT_SPAM, and)))
        and = " AND ";
    /* epoch_ms() floors, which keeps >= and < exact for whole milliseconds. */
    if (!rc && o->from && !(rc = buf_printf(b, "%sepoch_ms(\"created_at\") >= $%d", and,
                                            f->pfrom = ++f->n)))
        and = " AND ";
    if (!rc && o->to && !(rc = buf_printf(b, "%sepoch_ms(\"created_at\") < $%d", and,
                                          f->pto = ++f->n)))
        and = " AND ";
    if (!rc && o->status && !(rc = buf_printf(b, "%s\"status\" = $%d", and,
                                              f->pstatus = ++f->n)))
        and = " AND ";
    if (!rc && o->version)
        rc = buf_printf(b, "%s\"version\" = $%d", and, f->pversion = ++f->n);
    return rc;
}

static int bind_filters(struct job *j, struct duck_prepared *p, const struct filters *f)
{
    const struct export_options *o = j->o;
    int rc = 0;
    if (f->pfrom)
        rc = duck_bind_int64(p, f->pfrom, o->from);
    if (!rc && f->pto)
        rc = duck_bind_int64(p, f->pto, o->to);
    if (!rc && f->pstatus)
        rc = duck_bind_text(p, f->pstatus, o->status, strlen(o->status));
    if (!rc && f->pversion)
        rc = duck_bind_int64(p, f->pversion, o->version);
    return rc ? fmd_errf(j->err, rc, "cannot bind the export filters") : 0;
}

/* SELECT <columns> FROM ... ORDER BY ...; aliased to the headers if alias. */
static int select_sql(struct job *j, struct buf *b, struct filters *f, bool alias)
{
    size_t i;
    int rc = buf_adds(b, "SELECT ");
    for (i = 0; i < j->ncol && !rc; i++) {
        if ((i && (rc = buf_adds(b, ", "))) || (rc = add_ident(b, j->cols[i].sql_name)))
            break;
        if (alias && !(rc = buf_adds(b, " AS ")))
            rc = add_ident(b, j->cols[i].header);
    }
    if (!rc)
        rc = add_from_where(j, b, f);
    return rc ? rc : buf_adds(b, " ORDER BY \"created_at\", \"submission_id\"");
}

static int count_rows(struct job *j)
{
    struct duck_prepared *p = NULL;
    struct filters f;
    struct buf b;
    int64_t n = 0;
    int rc;

    buf_init(&b, 1 << 20);
    if ((rc = buf_adds(&b, "SELECT count(*)")) || (rc = add_from_where(j, &b, &f))) {
        rc = fmd_errf(j->err, rc, "cannot build the export query");
        goto out;
    }
    if (!(rc = prepare(j, &b, &p)) && !(rc = bind_filters(j, p, &f)))
        rc = query_count(j, p, &n);
    j->total = (uint64_t)n;
out:
    duck_prepared_free(p);
    buf_release(&b);
    return rc;
}

/* ---- progress and cancel ------------------------------------------------------ */

static void progress(struct job *j, bool force)
{
    if (!j->o->progress || (!force && j->done < j->next_progress))
        return;
    j->o->progress(j->o->arg, j->done, j->total);
    j->next_progress = (j->done / PROGRESS_EVERY + 1) * PROGRESS_EVERY;
}

static int cancelled(struct job *j)
{
    if (j->o->cancel && j->o->cancel(j->o->arg))
        return fmd_errf(j->err, FMD_EGONE, "export of form '%s' cancelled", j->form_id);
    return 0;
}

static int check_cancel(void *arg)
{
    struct job *j = arg;
    return j->o->cancel && j->o->cancel(j->o->arg) ? FMD_EGONE : 0;
}

/* ---- writers: one row of the current chunk -------------------------------------- */

static bool needs_guard(const char *p, size_t n)
{
    return n && (p[0] == '=' || p[0] == '+' || p[0] == '-' || p[0] == '@' || p[0] == '\t' ||
                 p[0] == '\r');
}

/* s[0..n) as one CSV field, quoted when needed, the guard's quote first. */
static int csv_field(struct buf *b, const char *s, size_t n, bool guard)
{
    size_t i;
    bool quote = n == 0;
    int rc = 0;

    for (i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (quote)
        rc = buf_addc(b, '"');
    if (!rc && guard && needs_guard(s, n))
        rc = buf_addc(b, '\'');
    if (!quote)
        return rc ? rc : buf_add(b, s, n);
    for (i = 0; i < n && !rc; i++)
        rc = s[i] == '"' ? buf_add(b, "\"\"", 2) : buf_addc(b, s[i]);
    return rc ? rc : buf_addc(b, '"');
}

static int csv_row(struct job *j, idx_t row)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < j->ncol && !rc; i++) {
        const struct col *c = &j->cols[i];
        if (i && (rc = buf_addc(&j->out, ',')))
            break;
        if (is_null(c->vec, row))
            continue;
        if (c->t.id == DUCKDB_TYPE_VARCHAR) {
            duckdb_string_t *s = str_at(c->vec, row);
            rc = csv_field(&j->out, duckdb_string_t_data(s), duckdb_string_t_length(*s),
                           j->guard && !c->t.json);
        } else if (c->t.id == DUCKDB_TYPE_LIST) {
            buf_reset(&j->tmp);
            if (!(rc = add_json(&j->tmp, &c->t, c->vec, row)))
                rc = csv_field(&j->out, j->tmp.p, j->tmp.len, false);
        } else {
            rc = add_scalar(&j->out, &c->t, c->vec, row, false);
        }
    }
    return rc ? rc : buf_adds(&j->out, "\r\n");
}

static int jsonl_row(struct job *j, idx_t row)
{
    size_t i;
    int rc = buf_addc(&j->out, '{');

    for (i = 0; i < j->ncol && !rc; i++) {
        if ((i && (rc = buf_addc(&j->out, ','))) || (rc = buf_addc(&j->out, '"')) ||
            (rc = buf_add_json_str(&j->out, j->cols[i].header, strlen(j->cols[i].header))) ||
            (rc = buf_add(&j->out, "\":", 2)))
            break;
        rc = add_json(&j->out, &j->cols[i].t, j->cols[i].vec, row);
    }
    return rc ? rc : buf_add(&j->out, "}\n", 2);
}

static int xlsx_text(struct job *j, size_t col, const struct vtype *t, duckdb_vector v,
                     idx_t row)
{
    int rc;
    buf_reset(&j->tmp);
    if ((rc = add_text(&j->tmp, t, v, row)))
        return rc;
    return xlsx_string(j->x, col, j->tmp.p, j->tmp.len);
}

static int xlsx_cell(struct job *j, size_t i, idx_t row)
{
    const struct col *c = &j->cols[i];
    void *d = duckdb_vector_get_data(c->vec);
    int rc;

    switch (c->t.id) {
    case DUCKDB_TYPE_BOOLEAN: return xlsx_bool(j->x, i, ((bool *)d)[row]);
    case DUCKDB_TYPE_TINYINT: return xlsx_integer(j->x, i, ((int8_t *)d)[row]);
    case DUCKDB_TYPE_SMALLINT: return xlsx_integer(j->x, i, ((int16_t *)d)[row]);
    case DUCKDB_TYPE_INTEGER: return xlsx_integer(j->x, i, ((int32_t *)d)[row]);
    case DUCKDB_TYPE_BIGINT: return xlsx_integer(j->x, i, ((int64_t *)d)[row]);
    case DUCKDB_TYPE_UTINYINT: return xlsx_integer(j->x, i, ((uint8_t *)d)[row]);
    case DUCKDB_TYPE_USMALLINT: return xlsx_integer(j->x, i, ((uint16_t *)d)[row]);
    case DUCKDB_TYPE_UINTEGER: return xlsx_integer(j->x, i, ((uint32_t *)d)[row]);
    case DUCKDB_TYPE_UBIGINT:
        if (((uint64_t *)d)[row] <= INT64_MAX)
            return xlsx_integer(j->x, i, (int64_t)((uint64_t *)d)[row]);
        return xlsx_text(j, i, &c->t, c->vec, row);
    case DUCKDB_TYPE_FLOAT: return xlsx_number(j->x, i, ((float *)d)[row]);
    case DUCKDB_TYPE_DOUBLE: return xlsx_number(j->x, i, ((double *)d)[row]);
    case DUCKDB_TYPE_DATE: {
        duckdb_date dt = ((duckdb_date *)d)[row];
        if (duckdb_is_finite_date(dt)) {
            duckdb_date_struct s = duckdb_from_date(dt);
            /* FMD_EINVAL: a date Excel cannot show; the writer carries on. */
            if ((rc = xlsx_date(j->x, i, s.year, s.month, s.day)) != FMD_EINVAL)
                return rc;
        }
        return xlsx_text(j, i, &c->t, c->vec, row);
    }
    case DUCKDB_TYPE_TIMESTAMP:
    case DUCKDB_TYPE_TIMESTAMP_TZ: {
        duckdb_timestamp ts = ((duckdb_timestamp *)d)[row];
        if (duckdb_is_finite_timestamp(ts)) {
            int64_t secs = ts.micros / 1000000, us = ts.micros % 1000000;
            if (us < 0) {
                secs--;
                us += 1000000;
            }
            if ((rc = xlsx_datetime(j->x, i, secs, (double)us / 1e6)) != FMD_EINVAL)
                return rc;
        }
        return xlsx_text(j, i, &c->t, c->vec, row);
    }
    default:
        return xlsx_text(j, i, &c->t, c->vec, row);
    }
}

static int xlsx_row(struct job *j, idx_t row)
{
    size_t i;
    int rc = 0;
    for (i = 0; i < j->ncol && !rc; i++)
        if (!is_null(j->cols[i].vec, row))
            rc = xlsx_cell(j, i, row);
    return rc ? rc : xlsx_end_row(j->x);
}

/* ---- the streaming formats ------------------------------------------------------- */

static int open_writer(struct job *j)
{
    static const char bom[] = "\xEF\xBB\xBF";
    struct xlsx_options xo = { 0 };
    const char **headers;
    char dir[4096];
    size_t i;
    int rc = 0;

    if (j->o->format == EXPORT_XLSX) {
        if (!(headers = fmd_calloc(j->ncol, sizeof(*headers))))
            return fmd_errf(j->err, FMD_ENOMEM, "out of memory");
        for (i = 0; i < j->ncol; i++)
            headers[i] = j->cols[i].header;
        dir_of(j->path, dir, sizeof(dir));
        xo.tmpdir = j->o->tmpdir ? j->o->tmpdir : dir;
        rc = xlsx_open(j->part, headers, j->ncol, &xo, &j->x, j->err);
        fmd_free(headers);
        /* xlsx.c may name its spool directory (the path's): name the file too. */
        if (rc == FMD_EIO && !strstr(j->err->msg, j->part))
            name_file(j, rc);
        return rc;
    }
    j->fd = open(j->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (j->fd < 0)
        return io_fail(j, "create", j->part);
    if (j->o->format != EXPORT_CSV)
        return 0;
    if (j->o->bom)
        rc = buf_adds(&j->out, bom);
    for (i = 0; i < j->ncol && !rc; i++) {
        if (i && (rc = buf_addc(&j->out, ',')))
            break;
        rc = csv_field(&j->out, j->cols[i].header, strlen(j->cols[i].header), j->guard);
    }
    if (!rc)
        rc = buf_adds(&j->out, "\r\n");
    return rc ? fmd_errf(j->err, rc, "cannot write the header of '%s'", j->part) : 0;
}

static int write_chunk(struct job *j, duckdb_data_chunk ch)
{
    idx_t n = duckdb_data_chunk_get_size(ch), r;
    size_t i;
    int rc = 0;

    for (i = 0; i < j->ncol; i++)
        j->cols[i].vec = duckdb_data_chunk_get_vector(ch, i);
    for (r = 0; r < n && !rc; r++) {
        switch (j->o->format) {
        case EXPORT_CSV: rc = csv_row(j, r); break;
        case EXPORT_JSONL: rc = jsonl_row(j, r); break;
        default: rc = xlsx_row(j, r); break;
        }
        if (rc && j->x) {
            /* The writer has failed for good; closing it gives the detail. */
            xlsx_close(j->x, j->err);
            j->x = NULL;
            return rc;
        }
        if (rc == FMD_ETOOBIG)
            return fmd_errf(j->err, rc, "row %" PRIu64 " of form '%s' is too long to export",
                            j->done + r + 1, j->form_id);
        if (rc)
            return fmd_errf(j->err, rc, "out of memory");
        if (j->out.len >= FLUSH_AT && (rc = flush_out(j)))
            return rc;
    }
    j->done += n;
    return 0;
}

static int export_stream(struct job *j)
{
    struct duck_prepared *p = NULL;
    struct duck_cursor *cur = NULL;
    duckdb_data_chunk ch = NULL;
    struct filters f;
    struct buf sql;
    size_t i;
    int rc;

    buf_init(&sql, 1 << 24);
    if ((rc = select_sql(j, &sql, &f, false))) {
        rc = fmd_errf(j->err, rc, "cannot build the export query");
        goto out;
    }
    if ((rc = prepare(j, &sql, &p)) || (rc = bind_filters(j, p, &f)) ||
        (rc = duck_cursor_open(p, &cur, j->err)))
        goto out;
    for (i = 0; i < j->ncol && !rc; i++)
        rc = vtype_init(&j->cols[i].t, duck_cursor_column_type(cur, i), j->cols[i].header,
                        j->err);
    if (rc || (rc = open_writer(j)))
        goto out;
    while (!(rc = cancelled(j)) && !(rc = duck_cursor_fetch(cur, &ch, j->err)) && ch) {
        rc = write_chunk(j, ch);
        duckdb_destroy_data_chunk(&ch);
        if (rc)
            break;
        progress(j, false);
    }
    if (rc)
        goto out;
    if (j->x) {
        rc = xlsx_close(j->x, j->err);
        j->x = NULL;
    } else if (!(rc = flush_out(j)) && fsync(j->fd) != 0) {
        rc = io_fail(j, "sync", j->part);
    }
    if (j->fd >= 0 && close(j->fd) != 0 && !rc)
        rc = io_fail(j, "close", j->part);
    j->fd = -1;
out:
    if (ch)
        duckdb_destroy_data_chunk(&ch);
    duck_cursor_close(cur);
    duck_prepared_free(p);
    buf_release(&sql);
    return rc;
}

/* ---- Parquet ------------------------------------------------------------------------- */

static int export_parquet(struct job *j)
{
    struct duck_prepared *p = NULL;
    struct filters f;
    struct buf sql;
    int64_t n = 0;
    int rc;

    buf_init(&sql, 1 << 24);
    if ((rc = buf_adds(&sql, "COPY (")) || (rc = select_sql(j, &sql, &f, true)) ||
        (rc = buf_adds(&sql, ") TO ")) || (rc = add_literal(&sql, j->part)) ||
        (rc = buf_adds(&sql, " (FORMAT parquet, COMPRESSION zstd)"))) {
        rc = fmd_errf(j->err, rc, "cannot build the export query");
        goto out;
    }
    /* DuckDB writes beside an existing file and renames: start from nothing. */
    if (unlink(j->part) != 0 && errno != ENOENT) {
        rc = io_fail(j, "remove", j->part);
        goto out;
    }
    if ((rc = prepare(j, &sql, &p)) || (rc = bind_filters(j, p, &f)))
        goto out;
    rc = duck_prepared_run(p, j->o->cancel ? check_cancel : NULL, j, &n, j->err);
    if (rc == FMD_EGONE)
        rc = fmd_errf(j->err, rc, "export of form '%s' cancelled", j->form_id);
    else if (rc == FMD_EIO)
        name_file(j, rc);
    if (rc)
        goto out;
    j->done = (uint64_t)n;
    rc = fsync_path(j, j->part, 0);
out:
    duck_prepared_free(p);
    buf_release(&sql);
    return rc;
}

/* ---- export_form ------------------------------------------------------------------------ */

static int check_options(const struct export_options *o, const char *form_id, const char *path,
                         struct fmd_err *err)
{
    if ((unsigned)o->format >= NFORMATS)
        return fmd_errf(err, FMD_EINVAL, "unknown export format %d", (int)o->format);
    if (!form_id || !id_valid(form_id))
        return fmd_errf(err, FMD_EINVAL, "invalid form id '%.40s'", form_id ? form_id : "");
    if (!path || !*path)
        return fmd_errf(err, FMD_EINVAL, "missing export path");
    if (strlen(path) > 4000)
        return fmd_errf(err, FMD_EINVAL, "export path is too long");
    if (o->from < 0 || o->to < 0)
        return fmd_errf(err, FMD_EINVAL, "export time range bounds must not be negative");
    if (o->from && o->to && o->from > o->to)
        return fmd_errf(err, FMD_EINVAL, "export time range starts (%" PRId64 ") after it ends "
                        "(%" PRId64 ")", o->from, o->to);
    if (o->status && (!*o->status || strlen(o->status) > STATUS_MAX))
        return fmd_errf(err, FMD_EINVAL, "export status filter must be 1 to %d bytes",
                        STATUS_MAX);
    if (o->version < 0)
        return fmd_errf(err, FMD_EINVAL, "export version filter %d is negative", o->version);
    if ((unsigned)o->spreadsheet_safe > EXPORT_GUARD_OFF)
        return fmd_errf(err, FMD_EINVAL, "unknown spreadsheet_safe value %d",
                        (int)o->spreadsheet_safe);
    return 0;
}

static int64_t clock_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int export_form(struct duck_conn *c, const char *form_id, const struct export_options *o,
                const char *path, struct export_stats *st, struct fmd_err *err)
{
    static const struct export_options defaults = { 0 };
    struct job j = { .c = c, .form_id = form_id, .path = path, .err = err, .fd = -1 };
    struct export_stats stats = { 0 };
    struct fmd_err ignored, local;
    struct stat sb;
    char table[64], dir[4096];
    int64_t t0 = clock_ms();
    bool in_tx = false, renamed = false;
    size_t i;
    int rc;

    if (!err)   /* the helpers put their detail in j.err */
        j.err = err = &local;
    if (st)
        *st = stats;
    j.o = o = o ? o : &defaults;
    buf_init(&j.out, ROW_MAX + FLUSH_AT);
    buf_init(&j.tmp, ROW_MAX);
    if ((rc = check_options(o, form_id, path, err)))
        goto out;
    j.guard = o->format == EXPORT_CSV && (o->spreadsheet_safe == EXPORT_GUARD_ON ||
                                          (o->spreadsheet_safe == EXPORT_GUARD_AUTO && o->bom));
    if (!(j.part = fmd_malloc(strlen(path) + 6))) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(j.part, strlen(path) + 6, "%s.part", path);
    snprintf(table, sizeof(table), "f_%s", form_id);
    /* One snapshot for the columns, the count and the rows. */
    if ((rc = duck_exec(c, "BEGIN TRANSACTION", err)))
        goto out;
    in_tx = true;
    if ((rc = form_exists(&j, table)) || (rc = read_columns(&j)) || (rc = make_columns(&j)) ||
        (rc = count_rows(&j)))
        goto out;
    progress(&j, true);
    rc = o->format == EXPORT_PARQUET ? export_parquet(&j) : export_stream(&j);
    if (rc)
        goto out;
    if (rename(j.part, path) != 0) {
        rc = io_fail(&j, "rename to", path);
        goto out;
    }
    renamed = true;
    dir_of(path, dir, sizeof(dir));
    if ((rc = fsync_path(&j, dir, O_DIRECTORY)))
        goto out;
    if (stat(path, &sb) != 0) {
        rc = io_fail(&j, "stat", path);
        goto out;
    }
    progress(&j, true);
    stats.rows = j.done;
    stats.bytes = (uint64_t)sb.st_size;
    stats.duration_ms = clock_ms() - t0;
    if (st)
        *st = stats;
out:
    if (j.x)
        xlsx_abort(j.x);
    if (j.fd >= 0)
        close(j.fd);
    /* After the ROLLBACK: it ends what is left of a stopped COPY, which could
     * otherwise still hold the file open and write to it. */
    if (in_tx)
        duck_exec(c, "ROLLBACK", &ignored);
    if (rc && j.part)
        unlink(renamed ? path : j.part);
    for (i = 0; j.cols && i < j.ncol; i++) {
        fmd_free(j.cols[i].header);
        vtype_release(&j.cols[i].t);
    }
    fmd_free(j.cols);
    for (i = 0; i < j.nform; i++) {
        fmd_free(j.fnames[i]);
        fmd_free(j.fsql[i]);
    }
    fmd_free(j.fnames);
    fmd_free(j.fsql);
    fmd_free(j.part);
    buf_release(&j.out);
    buf_release(&j.tmp);
    return rc;
}
