/*
 * analytics.c - opening the analytics database of a data directory.
 */
#include "analytics/analytics.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "analytics/layout.h"
#include "core/banned.h"

int analytics_exports_dir(const char *data_dir, char *dst, size_t size)
{
    int n = snprintf(dst, size, "%s/exports", data_dir);
    return n < 0 || (size_t)n >= size ? FMD_EINVAL : 0;
}

static int make_dir(const char *path, struct fmd_err *err)
{
    if (mkdir(path, 0700) && errno != EEXIST)
        return fmd_errf(err, FMD_EIO, "cannot create '%s': %s", path, strerror(errno));
    return 0;
}

/*
 * The tables summaries and exports read exist from the start, not only after
 * the first sync: a database made by an older version lacks the ones added
 * since (spam_submissions), and a summary may run before any sync.
 */
static int create_layout(struct duck *d, struct fmd_err *err)
{
    struct duck_conn *c;
    int rc;

    if ((rc = duck_connect(d, &c, err)))
        goto fail;
    rc = duck_exec(c, LAYOUT_DDL, err);
    duck_disconnect(c);
    if (!rc)
        return 0;
fail:
    duck_close(d);
    return rc;
}

int analytics_open(const char *data_dir, const char *db_file,
                   const struct analytics_options *opt, struct duck **out, struct fmd_err *err)
{
    char exports[4096], file[4096], tmp[4200], real_exports[4096];
    const char *allowed[2] = {real_exports, NULL};
    struct duck_options o = {0};
    int n;

    *out = NULL;
    if (analytics_exports_dir(data_dir, exports, sizeof(exports)))
        return fmd_errf(err, FMD_EINVAL, "data directory path too long");
    n = snprintf(file, sizeof(file), "%s/%s", data_dir, db_file ? db_file : "analytics.duckdb");
    if (n < 0 || (size_t)n >= sizeof(file))
        return fmd_errf(err, FMD_EINVAL, "data directory path too long");
    snprintf(tmp, sizeof(tmp), "%s.tmp", file);
    if (make_dir(exports, err) || make_dir(tmp, err))
        return err->code;
    /* DuckDB compares allowed directories with the paths SQL names as given:
     * the absolute, resolved form is what formd itself writes. */
    if (!realpath(exports, real_exports))
        return fmd_errf(err, FMD_EIO, "cannot resolve '%s': %s", exports, strerror(errno));
    o.memory_limit = opt && opt->memory_limit ? opt->memory_limit : "1GB";
    o.threads = opt && opt->threads ? opt->threads : 2;
    o.temp_dir = tmp;
    o.allowed_dirs = allowed;
    if (duck_open(file, &o, out, err))
        return err->code;
    if (create_layout(*out, err)) {
        *out = NULL;
        return err->code;
    }
    return 0;
}
