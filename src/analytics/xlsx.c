/*
 * xlsx.c - streaming XLSX writer for exports, on libxlsxwriter.
 *
 * libxlsxwriter runs in constant_memory mode: it keeps one row in memory and
 * appends each finished row's XML to the sheet's temporary file, and at
 * workbook_close zips those files with the workbook parts into the .xlsx.
 * In that mode rows must be written in order, which is what this API offers.
 *
 * What we add on top:
 * - sheets of at most max_rows_per_sheet rows, each headed by the header row;
 *   a sheet is begun only when a cell needs it, so an export that exactly
 *   fills a sheet does not end with an empty one;
 * - text made safe before libxlsxwriter sees it (see prepare_text): it passes
 *   bytes through to the XML, so invalid UTF-8 or U+FFFE would make a file no
 *   reader opens, and it refuses strings over 32,767 code points;
 * - our own temporary files ("spools") under each sheet: libxlsxwriter
 *   ignores errors writing and reading its temporary files (a full disk would
 *   give a file with rows missing), and when workbook_close fails it leaves
 *   the files of the sheets it had not reached open, each holding disk space
 *   until the process ends. We swap in a FILE of our own (fopencookie) for
 *   the sheet's optimize_tmpfile, which records any I/O error and tells us
 *   whether libxlsxwriter closed it, so we can check and clean up. This uses
 *   two public members of lxw_worksheet (file, optimize_tmpfile) that
 *   libxlsxwriter 1.1.x reads as described; recheck on upgrade;
 * - "<path>.tmp" + fsync + rename, so path only ever holds a whole file.
 *
 * A cell's string is budgeted in units where an ASCII or BMP character costs
 * 1, a character outside the BMP 2 (Excel counts UTF-16 units) and an
 * "_xHHHH_" escape 7 (libxlsxwriter counts the code points it is given).
 * Staying within 32,767 units satisfies both.
 */
#include "analytics/xlsx.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xlsxwriter.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/banned.h"

#define CELL_UNITS 32767u               /* Excel's and libxlsxwriter's limit */
#define SHEET_NAME_UNITS 31u
#define INT_EXACT_MAX 999999999999999LL /* 15 digits: what Excel keeps */
#define SHEET_BYTES_DEFAULT (7ull << 29) /* 3.5 GiB */
#define CELL_XML_OVERHEAD 40u           /* <c r="XFD1048576" t="..."><v></v></c> */
#define ROW_XML_OVERHEAD 30u

/* A sheet's temporary file, as libxlsxwriter's optimize_tmpfile. */
struct spool {
    FILE *f;
    int fd;
    int err;                      /* first errno of a failed read or write */
    int closed;                   /* fclose'd (by libxlsxwriter or us) */
};

struct xlsx {
    lxw_workbook *wb;
    lxw_worksheet *ws;            /* the current sheet */
    lxw_worksheet **sheets;       /* every sheet ... */
    struct spool **spools;        /* ... and its temporary file */
    lxw_format *bold, *date_fmt, *dt_fmt, *dt_ms_fmt;
    char *path, *tmp_path, *dir, *tmpdir, *base;
    char **headers;               /* prepared text, ncols of them */
    size_t ncols;
    uint32_t max_rows, nsheets;
    uint64_t max_bytes, sheet_bytes;
    uint32_t row;                 /* the current row's index in its sheet */
    int need_sheet;               /* the current sheet is full */
    int tmp_made;                 /* we created tmp_path: ours to remove */
    uint64_t rows, truncated, replaced;
    struct buf text;              /* scratch for prepared strings */
    int failed;                   /* sticky: 0 or the code in ferr */
    struct fmd_err ferr;
};

/* ---- UTF-8 ---- */

/*
 * Decodes the character at s[*i]. Returns the code point, or -1 for an
 * ill-formed sequence, of which the maximal valid prefix is consumed (at least
 * one byte), as Unicode recommends for replacement with U+FFFD.
 */
static long utf8_next(const unsigned char *s, size_t len, size_t *i)
{
    unsigned c = s[*i], lo = 0x80, hi = 0xBF;
    size_t n, k;
    long cp;

    if (c < 0x80) {
        (*i)++;
        return (long)c;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 1; cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2; cp = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;       /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3; cp = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;       /* nothing past U+10FFFF */
    } else {
        (*i)++;
        return -1;
    }
    (*i)++;
    for (k = 0; k < n; k++) {
        unsigned b;
        if (*i >= len)
            return -1;
        b = s[*i];
        if (b < lo || b > hi)
            return -1;
        lo = 0x80;
        hi = 0xBF;
        cp = (cp << 6) | (b & 0x3F);
        (*i)++;
    }
    return cp;
}

static int utf8_put(struct buf *b, long cp)
{
    char u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (char)cp; n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    return buf_add(b, u, n);
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* s[i] == '_' starts something Excel would read as an "_xHHHH_" escape. */
static int looks_escaped(const unsigned char *s, size_t len, size_t i)
{
    size_t k;
    if (len - i < 7 || (s[i + 1] | 0x20) != 'x' || s[i + 6] != '_')
        return 0;
    for (k = 2; k < 6; k++)
        if (!is_hex(s[i + k]))
            return 0;
    return 1;
}

/*
 * Makes s[0 .. len-1] into text libxlsxwriter can write and Excel reads back
 * as s, in x->text: ill-formed UTF-8, U+FFFE and U+FFFF become U+FFFD (they
 * would break the XML); C0 controls but tab and line feed become "_xHHHH_"
 * (XML cannot hold them, and a raw CR would be read as LF); an underscore
 * that starts "_xHHHH_" becomes "_x005F_" so Excel shows it as typed. Stops
 * before the budget (see the file comment) would pass max_units.
 */
static int prepare_text(struct xlsx *x, const char *str, size_t len, size_t max_units,
                        int *cut, int *replaced)
{
    const unsigned char *s = (const unsigned char *)str;
    struct buf *b = &x->text;
    size_t i = 0, units = 0;
    int rc = 0;

    *cut = *replaced = 0;
    buf_reset(b);
    while (i < len && !rc) {
        size_t at = i, cost = 1;
        long cp = utf8_next(s, len, &i);
        char esc[8];

        if (cp < 0 || cp == 0xFFFE || cp == 0xFFFF) {
            cp = 0xFFFD;
            *replaced = 1;
        }
        if ((cp < 0x20 && cp != '\t' && cp != '\n') || (cp == '_' && looks_escaped(s, len, at)))
            cost = 7;
        else if (cp >= 0x10000)
            cost = 2;
        if (units + cost > max_units) {
            *cut = 1;
            break;
        }
        units += cost;
        if (cost == 7) {
            snprintf(esc, sizeof(esc), "_x%04lX_", (unsigned long)cp);
            rc = buf_add(b, esc, 7);
        } else {
            rc = utf8_put(b, cp);
        }
    }
    return rc;
}

/* ---- failure ---- */

/* Makes x failed with code and message; returns code. */
static int fail(struct xlsx *x, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct xlsx *x, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->ferr.msg, sizeof(x->ferr.msg), fmt, ap);
    va_end(ap);
    x->ferr.code = code;
    x->failed = code;
    return code;
}

static int lxw_fail(struct xlsx *x, lxw_error e, const char *what)
{
    if (e == LXW_NO_ERROR)
        return 0;
    return fail(x, e == LXW_ERROR_MEMORY_MALLOC_FAILED ? FMD_ENOMEM : FMD_EINTERNAL,
                "%s: %s", what, lxw_strerror(e));
}

/*
 * Writes the sheet's last row to its spool and checks that every write to
 * the spool has succeeded (libxlsxwriter does not look).
 */
static int flush_sheet(struct xlsx *x, uint32_t i)
{
    struct spool *sp = x->spools[i];

    lxw_worksheet_write_single_row(x->sheets[i]);
    if (fflush(sp->f) != 0 && !sp->err)
        sp->err = errno;
    if (sp->err)
        return fail(x, FMD_EIO, "cannot write temporary data for sheet '%s' in '%s': %s",
                    x->sheets[i]->name, x->tmpdir ? x->tmpdir : "the temporary directory",
                    strerror(sp->err));
    return 0;
}

/* ---- spools ---- */

static ssize_t spool_read(void *c, char *b, size_t n)
{
    struct spool *sp = c;
    ssize_t r;

    do
        r = read(sp->fd, b, n);
    while (r < 0 && errno == EINTR);
    if (r < 0 && !sp->err)
        sp->err = errno;
    return r;
}

static ssize_t spool_write(void *c, const char *b, size_t n)
{
    struct spool *sp = c;
    size_t done = 0;

    while (done < n) {
        ssize_t w = write(sp->fd, b + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (!sp->err)
                sp->err = w < 0 ? errno : EIO;
            return 0;             /* fopencookie: 0 means error */
        }
        done += (size_t)w;
    }
    return (ssize_t)n;
}

static int spool_seek(void *c, off64_t *off, int whence)
{
    struct spool *sp = c;
    off64_t r = lseek64(sp->fd, *off, whence);

    if (r < 0)
        return -1;
    *off = r;
    return 0;
}

static int spool_close(void *c)
{
    struct spool *sp = c;

    close(sp->fd);
    sp->fd = -1;
    sp->closed = 1;
    return 0;
}

/* An unnamed file in dir: O_TMPFILE, or a unique name unlinked at once. */
static int anon_file(const char *dir)
{
    size_t n = strlen(dir);
    char *name;
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    name = fmd_malloc(n + sizeof("/formd-xlsx-XXXXXX"));
    if (!name) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(name, dir, n);
    memcpy(name + n, "/formd-xlsx-XXXXXX", sizeof("/formd-xlsx-XXXXXX"));
    fd = mkostemp(name, O_CLOEXEC);
    if (fd >= 0)
        unlink(name);
    fmd_free(name);
    return fd;
}

/* Puts a spool of ours under ws in place of libxlsxwriter's temporary file. */
static int spool_attach(struct xlsx *x, lxw_worksheet *ws, struct spool **out)
{
    static const cookie_io_functions_t io = {
        .read = spool_read, .write = spool_write, .seek = spool_seek, .close = spool_close,
    };
    const char *dir = x->tmpdir;
    struct spool *sp;

    /* libxlsxwriter's own, still empty and already unlinked. */
    if (ws->optimize_tmpfile)
        fclose(ws->optimize_tmpfile);
    ws->optimize_tmpfile = NULL;
    ws->file = NULL;
    if (!dir && !(dir = getenv("TMPDIR")))
        dir = "/tmp";
    sp = fmd_calloc(1, sizeof(*sp));
    if (!sp)
        return fail(x, FMD_ENOMEM, "out of memory");
    sp->fd = anon_file(dir);
    if (sp->fd < 0) {
        int e = errno;
        fmd_free(sp);
        return fail(x, e == ENOMEM ? FMD_ENOMEM : FMD_EIO,
                    "cannot create a temporary file in '%s': %s", dir, strerror(e));
    }
    sp->f = fopencookie(sp, "w+", io);
    if (!sp->f) {
        close(sp->fd);
        fmd_free(sp);
        return fail(x, FMD_ENOMEM, "out of memory");
    }
    setvbuf(sp->f, NULL, _IOFBF, 1 << 16);
    ws->optimize_tmpfile = sp->f;
    ws->file = sp->f;
    *out = sp;
    return 0;
}

/* Closes what libxlsxwriter left open and frees the spools. */
static void spools_free(struct xlsx *x)
{
    uint32_t i;

    for (i = 0; i < x->nsheets; i++) {
        if (!x->spools[i]->closed)
            fclose(x->spools[i]->f);
        fmd_free(x->spools[i]);
    }
    fmd_freez(&x->spools);
    x->nsheets = 0;
}

/* ---- sheets ---- */

static int bad_sheet_char(long cp)
{
    return cp < 0x20 || cp == '[' || cp == ']' || cp == ':' || cp == '*' || cp == '?' ||
           cp == '/' || cp == '\\' || cp == 0xFFFE || cp == 0xFFFF;
}

/*
 * The sheet name base: valid UTF-8 without the characters Excel forbids in
 * sheet names (each becomes '_'), "data" if empty, and not Excel's reserved
 * "History". Truncation to fit happens per sheet in sheet_name().
 */
static int make_base(struct xlsx *x, const char *name)
{
    const unsigned char *s = (const unsigned char *)(name && *name ? name : "data");
    size_t len = strlen((const char *)s), i = 0;
    struct buf b;
    int rc = 0;

    buf_init(&b, len * 3 + 8);
    while (i < len && !rc) {
        long cp = utf8_next(s, len, &i);
        if (cp < 0)
            cp = 0xFFFD;
        rc = utf8_put(&b, bad_sheet_char(cp) ? '_' : cp);
    }
    if (!rc && !strcasecmp(b.p, "history"))
        rc = buf_addc(&b, '_');
    if (!rc)
        x->base = buf_detach(&b, NULL);
    buf_release(&b);
    return rc;
}

/* Sheet n's name in out[cap]: the base cut to fit with " (n)" after it. */
static void sheet_name(const struct xlsx *x, uint32_t n, char *out, size_t cap)
{
    const unsigned char *s = (const unsigned char *)x->base;
    size_t len = strlen(x->base), i = 0, units = 0, end = 0, slen;
    char suffix[16] = "";

    if (n > 1)
        snprintf(suffix, sizeof(suffix), " (%" PRIu32 ")", n);
    slen = strlen(suffix);
    while (i < len) {
        long cp = utf8_next(s, len, &i);
        units += cp >= 0x10000 ? 2 : 1;
        if (units + slen > SHEET_NAME_UNITS)
            break;
        end = i;
    }
    snprintf(out, cap, "%.*s%s", (int)end, x->base, suffix);
    /* Excel refuses a name that starts or ends with an apostrophe. */
    if (out[0] == '\'')
        out[0] = '_';
    if (out[0] && out[strlen(out) - 1] == '\'')
        out[strlen(out) - 1] = '_';
}

static int new_sheet(struct xlsx *x)
{
    char name[LXW_MAX_SHEETNAME_LENGTH + 16];
    lxw_worksheet **sheets;
    struct spool **spools;
    size_t c;
    int rc;

    if (x->ws && (rc = flush_sheet(x, x->nsheets - 1)))
        return rc;
    sheets = fmd_realloc(x->sheets, (x->nsheets + 1) * sizeof(*sheets));
    if (sheets)
        x->sheets = sheets;
    spools = fmd_realloc(x->spools, (x->nsheets + 1) * sizeof(*spools));
    if (spools)
        x->spools = spools;
    if (!sheets || !spools)
        return fail(x, FMD_ENOMEM, "out of memory");
    sheet_name(x, x->nsheets + 1, name, sizeof(name));
    errno = 0;
    x->ws = workbook_add_worksheet(x->wb, name);
    if (!x->ws)
        return fail(x, errno && errno != ENOMEM ? FMD_EIO : FMD_ENOMEM,
                    "cannot add sheet '%s': %s", name,
                    errno ? strerror(errno) : "out of memory");
    if ((rc = spool_attach(x, x->ws, &x->spools[x->nsheets])))
        return rc;            /* the workbook frees the sheet; it has no file */
    x->sheets[x->nsheets++] = x->ws;
    worksheet_freeze_panes(x->ws, 1, 0);
    x->sheet_bytes = ROW_XML_OVERHEAD;
    for (c = 0; c < x->ncols; c++) {
        rc = lxw_fail(x, worksheet_write_string(x->ws, 0, (lxw_col_t)c, x->headers[c], x->bold),
                      "cannot write header");
        if (rc)
            return rc;
        x->sheet_bytes += strlen(x->headers[c]) + CELL_XML_OVERHEAD;
    }
    x->row = 1;
    x->need_sheet = 0;
    return 0;
}

/* ---- open, close ---- */

/* The directory part of path, heap-allocated ("." for a bare name). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        return fmd_strdup(".");
    return fmd_strndup(path, slash == path ? 1 : (size_t)(slash - path));
}

static void free_x(struct xlsx *x)
{
    size_t c;

    if (x->headers)
        for (c = 0; c < x->ncols; c++)
            fmd_free(x->headers[c]);
    fmd_free(x->headers);
    fmd_free(x->sheets);
    fmd_free(x->spools);
    fmd_free(x->path);
    fmd_free(x->dir);
    fmd_free(x->tmp_path);
    fmd_free(x->tmpdir);
    fmd_free(x->base);
    buf_release(&x->text);
    fmd_free(x);
}

static int check_dir(const char *dir, struct fmd_err *err)
{
    struct stat st;

    if (stat(dir, &st) != 0)
        return fmd_errf(err, FMD_EIO, "cannot use temporary directory '%s': %s", dir,
                        strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fmd_errf(err, FMD_EIO, "cannot use temporary directory '%s': not a directory", dir);
    if (access(dir, W_OK | X_OK) != 0)
        return fmd_errf(err, FMD_EIO, "cannot use temporary directory '%s': %s", dir,
                        strerror(errno));
    return 0;
}

int xlsx_open(const char *path, const char *const *headers, size_t ncols,
              const struct xlsx_options *opt, struct xlsx **out, struct fmd_err *err)
{
    static const struct xlsx_options defaults = {0};
    lxw_workbook_options wo = { .constant_memory = LXW_TRUE };
    struct xlsx *x = NULL;
    size_t c, plen;
    int rc = 0, fd, cut, repl;

    if (out)
        *out = NULL;
    if (!opt)
        opt = &defaults;
    if (!path || !*path || !out)
        return fmd_errf(err, FMD_EINVAL, "xlsx: no path given");
    if (!headers || ncols == 0 || ncols > XLSX_MAX_COLS)
        return fmd_errf(err, FMD_EINVAL, "xlsx: need 1 to %u columns, got %zu",
                        XLSX_MAX_COLS, headers ? ncols : 0);
    for (c = 0; c < ncols; c++)
        if (!headers[c])
            return fmd_errf(err, FMD_EINVAL, "xlsx: header %zu is missing", c + 1);
    if (opt->max_rows_per_sheet == 1 || opt->max_rows_per_sheet > XLSX_MAX_ROWS)
        return fmd_errf(err, FMD_EINVAL, "xlsx: rows per sheet must be 2 to %u", XLSX_MAX_ROWS);
    if (opt->tmpdir && (rc = check_dir(opt->tmpdir, err)))
        return rc;

    x = fmd_calloc(1, sizeof(*x));
    if (!x)
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    buf_init(&x->text, (size_t)CELL_UNITS * 7 + 8);
    x->ncols = ncols;
    x->max_rows = opt->max_rows_per_sheet ? opt->max_rows_per_sheet : XLSX_MAX_ROWS;
    x->max_bytes = opt->max_sheet_bytes ? opt->max_sheet_bytes : SHEET_BYTES_DEFAULT;
    plen = strlen(path);
    x->path = fmd_strdup(path);
    x->tmp_path = fmd_malloc(plen + 5);
    x->tmpdir = opt->tmpdir ? fmd_strdup(opt->tmpdir) : NULL;
    x->dir = dir_of(path);
    x->headers = fmd_calloc(ncols, sizeof(*x->headers));
    if (!x->path || !x->tmp_path || (opt->tmpdir && !x->tmpdir) || !x->dir || !x->headers ||
        make_base(x, opt->sheet_name)) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(x->tmp_path, path, plen);
    memcpy(x->tmp_path + plen, ".tmp", 5);
    for (c = 0; c < ncols; c++) {
        if (prepare_text(x, headers[c], strlen(headers[c]), CELL_UNITS, &cut, &repl) ||
            !(x->headers[c] = buf_detach(&x->text, NULL))) {
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
            goto out;
        }
    }

    /* libxlsxwriter opens the file only at close: find out now. */
    fd = open(x->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = fmd_errf(err, FMD_EIO, "cannot create '%s': %s", x->tmp_path, strerror(errno));
        goto out;
    }
    close(fd);
    x->tmp_made = 1;

    wo.tmpdir = x->tmpdir;
    x->wb = workbook_new_opt(x->tmp_path, &wo);
    if (!x->wb) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    x->bold = workbook_add_format(x->wb);
    x->date_fmt = workbook_add_format(x->wb);
    x->dt_fmt = workbook_add_format(x->wb);
    x->dt_ms_fmt = workbook_add_format(x->wb);
    if (!x->bold || !x->date_fmt || !x->dt_fmt || !x->dt_ms_fmt) {
        rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
        goto out;
    }
    format_set_bold(x->bold);
    format_set_num_format(x->date_fmt, "yyyy-mm-dd");
    format_set_num_format(x->dt_fmt, "yyyy-mm-dd hh:mm:ss");
    format_set_num_format(x->dt_ms_fmt, "yyyy-mm-dd hh:mm:ss.000");
    if ((rc = new_sheet(x))) {
        rc = fmd_errf(err, rc, "%s", x->ferr.msg);
        goto out;
    }
    *out = x;
    x = NULL;
out:
    if (x)
        xlsx_abort(x);
    return rc;
}

void xlsx_abort(struct xlsx *x)
{
    if (!x)
        return;
    if (x->spools)
        spools_free(x);
    if (x->wb)
        lxw_workbook_free(x->wb);
    if (x->tmp_made)
        unlink(x->tmp_path);
    free_x(x);
}

/* Makes the renamed file's directory entry durable. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (fd < 0 || fsync(fd) != 0)
        rc = -1;
    if (fd >= 0)
        close(fd);
    return rc;
}

int xlsx_close(struct xlsx *x, struct fmd_err *err)
{
    lxw_error e;
    uint32_t i;
    int rc = 0, fd;

    if (!x)
        return fmd_errf(err, FMD_EINVAL, "xlsx: no writer");
    for (i = 0; i < x->nsheets && !x->failed; i++)
        flush_sheet(x, i);
    if (x->failed) {
        rc = fmd_errf(err, x->failed, "%s", x->ferr.msg);
        xlsx_abort(x);
        return rc;
    }

    e = workbook_close(x->wb);    /* frees the workbook, whatever happens */
    x->wb = NULL;
    if (e != LXW_NO_ERROR) {
        rc = fmd_errf(err, e == LXW_ERROR_MEMORY_MALLOC_FAILED ? FMD_ENOMEM : FMD_EIO,
                      "cannot write '%s': %s", x->path, lxw_strerror(e));
        goto out;
    }
    /* Reading the spools back: libxlsxwriter stops quietly at an error. */
    for (i = 0; i < x->nsheets; i++)
        if (x->spools[i]->err || !x->spools[i]->closed) {
            rc = fmd_errf(err, FMD_EIO, "cannot read temporary data for sheet %" PRIu32 ": %s",
                          i + 1, strerror(x->spools[i]->err ? x->spools[i]->err : EIO));
            goto out;
        }
    fd = open(x->tmp_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        rc = fmd_errf(err, FMD_EIO, "cannot write '%s': %s", x->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto out;
    }
    close(fd);
    if (rename(x->tmp_path, x->path) != 0) {
        rc = fmd_errf(err, FMD_EIO, "cannot rename '%s' to '%s': %s", x->tmp_path, x->path,
                      strerror(errno));
        goto out;
    }
    if (sync_dir(x->dir) != 0) {
        rc = fmd_errf(err, FMD_EIO, "cannot sync directory '%s': %s", x->dir, strerror(errno));
        unlink(x->path);
    }
out:
    if (rc)
        unlink(x->tmp_path);
    spools_free(x);
    free_x(x);
    return rc;
}

/* ---- cells ---- */

/* Checks col and begins a new sheet if the current one is full. */
static int cell_begin(struct xlsx *x, size_t col)
{
    if (x->failed)
        return x->failed;
    if (col >= x->ncols)
        return FMD_EINVAL;
    if (x->need_sheet)
        return new_sheet(x);
    return 0;
}

static int put_text(struct xlsx *x, size_t col, const char *s, size_t len, int count)
{
    int rc, cut, repl;

    if ((rc = prepare_text(x, s, len, CELL_UNITS, &cut, &repl)))
        return fail(x, rc, "out of memory");
    if (count) {
        x->truncated += (uint64_t)cut;
        x->replaced += (uint64_t)repl;
    }
    x->sheet_bytes += x->text.len + x->text.len / 4 + CELL_XML_OVERHEAD;
    return lxw_fail(x, worksheet_write_string(x->ws, x->row, (lxw_col_t)col, x->text.p, NULL),
                    "cannot write a string");
}

int xlsx_string(struct xlsx *x, size_t col, const char *s, size_t len)
{
    int rc = cell_begin(x, col);
    if (rc)
        return rc;
    if (!s && len)
        return FMD_EINVAL;
    return put_text(x, col, s ? s : "", len, 1);
}

static int put_number(struct xlsx *x, size_t col, double v, lxw_format *f)
{
    x->sheet_bytes += 24 + CELL_XML_OVERHEAD;
    return lxw_fail(x, worksheet_write_number(x->ws, x->row, (lxw_col_t)col, v, f),
                    "cannot write a number");
}

int xlsx_number(struct xlsx *x, size_t col, double v)
{
    int rc = cell_begin(x, col);
    if (rc)
        return rc;
    /* A cell holds no NaN or infinity; libxlsxwriter would write "nan". */
    if (isnan(v))
        return put_text(x, col, "NaN", 3, 0);
    if (isinf(v))
        return v > 0 ? put_text(x, col, "Infinity", 8, 0) : put_text(x, col, "-Infinity", 9, 0);
    return put_number(x, col, v, NULL);
}

int xlsx_integer(struct xlsx *x, size_t col, int64_t v)
{
    char s[24];
    int rc = cell_begin(x, col);

    if (rc)
        return rc;
    if (v >= -INT_EXACT_MAX && v <= INT_EXACT_MAX)
        return put_number(x, col, (double)v, NULL);
    snprintf(s, sizeof(s), "%" PRId64, v);
    return put_text(x, col, s, strlen(s), 0);
}

int xlsx_bool(struct xlsx *x, size_t col, int v)
{
    int rc = cell_begin(x, col);
    if (rc)
        return rc;
    x->sheet_bytes += 4 + CELL_XML_OVERHEAD;
    return lxw_fail(x, worksheet_write_boolean(x->ws, x->row, (lxw_col_t)col, v != 0, NULL),
                    "cannot write a boolean");
}

int xlsx_blank(struct xlsx *x, size_t col)
{
    /* An empty cell is no cell: nothing to write, only the checks. */
    return cell_begin(x, col);
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : dim[m - 1];
}

/*
 * Excel's serial day number for a date from 1900-01-01 on. Excel counts a
 * 1900-02-29 that never was (kept from Lotus 1-2-3), so from March 1900 on
 * the count starts a day earlier.
 */
static double excel_day(int64_t y, int m, int d)
{
    int64_t days = days_from_civil(y, m, d);
    if (days >= days_from_civil(1900, 3, 1))
        return (double)(days - days_from_civil(1899, 12, 30));
    return (double)(days - days_from_civil(1899, 12, 31));
}

static int excel_year(int64_t y)
{
    return y >= 1900 && y <= 9999;
}

/* ISO 8601 year: four digits, or a sign and more outside 0000 - 9999. */
static void iso_year(char *out, size_t cap, int64_t y)
{
    if (y >= 0 && y <= 9999)
        snprintf(out, cap, "%04" PRId64, y);
    else
        snprintf(out, cap, "%+05" PRId64, y);
}

int xlsx_date(struct xlsx *x, size_t col, int y, int m, int d)
{
    char s[48], ys[24];
    int rc = cell_begin(x, col);

    if (rc)
        return rc;
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return FMD_EINVAL;
    if (excel_year(y))
        return put_number(x, col, excel_day(y, m, d), x->date_fmt);
    iso_year(ys, sizeof(ys), y);
    snprintf(s, sizeof(s), "%s-%02d-%02d", ys, m, d);
    return put_text(x, col, s, strlen(s), 0);
}

int xlsx_datetime(struct xlsx *x, size_t col, int64_t secs, double frac)
{
    /* 1e15 s is some 31 million years: beyond it the date maths could overflow. */
    const int64_t lim = 1000000000000000LL;
    int64_t days, sod, y;
    int m, d, rc = cell_begin(x, col);
    char s[64], ys[24], fs[8] = "";

    if (rc)
        return rc;
    if (!(frac >= 0 && frac < 1) || secs > lim || secs < -lim)
        return FMD_EINVAL;
    days = (secs >= 0 ? secs : secs - 86399) / 86400;
    sod = secs - days * 86400;
    civil_from_days(days, &y, &m, &d);
    if (excel_year(y))
        return put_number(x, col, excel_day(y, m, d) + ((double)sod + frac) / 86400.0,
                          frac != 0 ? x->dt_ms_fmt : x->dt_fmt);
    iso_year(ys, sizeof(ys), y);
    if (frac != 0)
        snprintf(fs, sizeof(fs), ".%03d", (int)(frac * 1000));
    snprintf(s, sizeof(s), "%s-%02d-%02dT%02d:%02d:%02d%sZ", ys, m, d, (int)(sod / 3600),
             (int)(sod / 60 % 60), (int)(sod % 60), fs);
    return put_text(x, col, s, strlen(s), 0);
}

int xlsx_end_row(struct xlsx *x)
{
    if (x->failed)
        return x->failed;
    if (x->need_sheet) {
        /* A row with no cells at the start of a sheet: begin the sheet. */
        int rc = new_sheet(x);
        if (rc)
            return rc;
    }
    x->rows++;
    x->row++;
    x->sheet_bytes += ROW_XML_OVERHEAD;
    if (x->row >= x->max_rows || x->sheet_bytes >= x->max_bytes)
        x->need_sheet = 1;
    return 0;
}

uint64_t xlsx_rows(const struct xlsx *x)
{
    return x->rows;
}

uint32_t xlsx_sheets(const struct xlsx *x)
{
    return x->nsheets;
}

uint64_t xlsx_truncated_cells(const struct xlsx *x)
{
    return x->truncated;
}

uint64_t xlsx_replaced_cells(const struct xlsx *x)
{
    return x->replaced;
}
