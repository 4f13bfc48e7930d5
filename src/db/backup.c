/*
 * backup.c - SQLite backups and restores (see backup.h).
 *
 * How the copy is taken. SQLite offers VACUUM INTO and the online backup
 * API; both read one snapshot and, in WAL mode, neither blocks the writer
 * (readers never do). We use the backup API, in steps of STEP_PAGES, with
 * a read transaction held on the source for the whole copy: the held
 * transaction pins one snapshot, so the copy is consistent and never
 * restarts (without it, each step takes a fresh snapshot and every commit
 * of a busy server restarts the copy from page 1, possibly for ever); the
 * steps give a progress bar; and copying pages costs far less than VACUUM
 * INTO's rebuilding of every table and index. The price of the held
 * snapshot is that the WAL cannot be checkpointed past it until the copy
 * ends, so it grows by what is written meanwhile.
 *
 * How a copy is checked: PRAGMA integrity_check (not quick_check: it also
 * checks that every index matches its table, which a restore depends on;
 * it is linear-logarithmic in the size, seconds per gigabyte), then the
 * schema_migrations table and its version.
 */
#include "db/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "db/db.h"
#include "db/lock.h"
#include "db/migrate.h"
#include "core/banned.h"

#define STEP_PAGES 1024          /* 4 MiB a step with 4 KiB pages */
#define PATH_CAP 4352

static atomic_uint tmp_seq;

/* The file path of a SQLite target; FMD_EINVAL for other drivers. */
static int file_of(const char *target, char *out, size_t cap, struct fmd_err *err)
{
    if (!strncmp(target, "postgres://", 11) || !strncmp(target, "postgresql://", 13))
        return fmd_errf(err, FMD_EINVAL, "a PostgreSQL database is backed up with pg_dump "
                                         "(db_pg_backup), not copied as a file");
    if (!strncmp(target, "sqlite:", 7))
        target += 7;
    if (!*target || !strcmp(target, ":memory:") || !strncmp(target, "file:", 5))
        return fmd_errf(err, FMD_EINVAL, "database '%s' is not a file", target);
    if (fmd_strlcpy(out, target, cap) >= cap)
        return fmd_errf(err, FMD_EINVAL, "path '%s' is too long", target);
    return 0;
}

/* A fresh name beside path: "<path>.tmp-<pid>-<n>". */
static void tmp_name(const char *path, const char *what, char *out, size_t cap)
{
    snprintf(out, cap, "%s.%s-%ld-%u", path, what, (long)getpid(),
             atomic_fetch_add(&tmp_seq, 1));
}

/* Removes a temporary database and whatever SQLite may have left beside it. */
static void remove_tmp(const char *path)
{
    static const char *const sfx[] = {"", "-journal", "-wal", "-shm", "-lock"};
    char p[PATH_CAP + 128];
    size_t i;
    for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
        unlink(p);
    }
}

static int fsync_path(const char *path, int dir, struct fmd_err *err)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC), rc = 0;
    if (fd < 0 || fsync(fd))
        rc = fmd_errf(err, FMD_EIO, "cannot sync '%s': %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

/* fsyncs the directory holding path, so a rename or unlink in it is durable. */
static int fsync_dir_of(const char *path, struct fmd_err *err)
{
    char dir[PATH_CAP];
    char *slash;
    fmd_strlcpy(dir, path, sizeof(dir));
    slash = strrchr(dir, '/');
    if (!slash)
        return fsync_path(".", 1, err);
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return fsync_path(dir, 1, err);
}

static int sq_fail(sqlite3 *h, int rc, const char *what, const char *path, struct fmd_err *err)
{
    int code = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? FMD_EBUSY
             : (rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_FULL ||
                       (rc & 0xff) == SQLITE_CANTOPEN ? FMD_EIO
             : FMD_EDB;
    return fmd_errf(err, code, "%s '%s': %s", what, path,
                    h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
}

/* "file:" URI for path, opened read-only and immutable: reads nothing beside it. */
static void immutable_uri(const char *path, char *out, size_t cap)
{
    size_t n = 0;
    n += (size_t)snprintf(out, cap, "file:");
    for (; *path && n + 4 < cap; path++) {
        unsigned char c = (unsigned char)*path;
        if (c == '%' || c == '?' || c == '#' || c < 0x20)
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", c);
        else
            out[n++] = (char)c;
    }
    out[n] = '\0';
    if (n + 12 < cap)
        memcpy(out + n, "?immutable=1", 13);
}

/* One integer from sql, or -1. */
static int64_t one_int(sqlite3 *h, const char *sql, int *rc)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if ((*rc = sqlite3_prepare_v2(h, sql, -1, &st, NULL)) == SQLITE_OK &&
        (*rc = sqlite3_step(st)) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
        *rc = SQLITE_OK;
    } else if (*rc == SQLITE_DONE) {
        *rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return v;
}

int db_backup_verify(const char *path, int *version, struct fmd_err *err)
{
    char uri[PATH_CAP * 3 + 16];
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    struct stat sb;
    int rc, newest = db_migrations[db_migrations_count - 1].version;
    int64_t v;
    const char *first;

    if (version)
        *version = 0;
    if (stat(path, &sb))
        return fmd_errf(err, FMD_EINVAL, "cannot read '%s': %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode) || sb.st_size == 0)
        return fmd_errf(err, FMD_EINVAL, "'%s' is not a formd backup: %s", path,
                        S_ISREG(sb.st_mode) ? "it is empty" : "not a regular file");
    immutable_uri(path, uri, sizeof(uri));
    rc = sqlite3_open_v2(uri, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(h, "PRAGMA integrity_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        first = (const char *)sqlite3_column_text(st, 0);
        if (!first || strcmp(first, "ok")) {
            /* Its report spans lines ("*** in database main ***\nPage 3: ..."): one line. */
            char *p;
            rc = fmd_errf(err, FMD_EINVAL, "'%s' is damaged: integrity check says '%s'", path,
                          first ? first : "nothing");
            for (p = err ? err->msg : NULL; p && *p; p++)
                if (*p == '\n' || *p == '\r')
                    *p = ' ';
            goto out;
        }
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK) {
        rc = fmd_errf(err, FMD_EINVAL, "'%s' is not a usable SQLite database: %s", path,
                      h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    v = one_int(h, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' "
                   "AND name = 'schema_migrations'", &rc);
    if (rc == SQLITE_OK && v == 1)
        v = one_int(h, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &rc);
    else if (rc == SQLITE_OK)
        v = 0;
    if (rc != SQLITE_OK) {
        rc = fmd_errf(err, FMD_EINVAL, "'%s' cannot be read: %s", path, sqlite3_errmsg(h));
        goto out;
    }
    if (v < 1) {
        rc = fmd_errf(err, FMD_EINVAL, "'%s' is not a formd database: it has no schema "
                                       "migrations", path);
        goto out;
    }
    if (v > newest) {
        rc = fmd_errf(err, FMD_EINVAL, "'%s' is at schema version %lld, newer than this formd "
                                       "knows (%d): restore it with the newer formd",
                      path, (long long)v, newest);
        goto out;
    }
    if (version)
        *version = (int)v;
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_close_v2(h);
    return rc;
}

/* Moves tmp to out: atomically, and without replacing out unless force. */
static int install(const char *tmp, const char *out, int force, struct fmd_err *err)
{
    int rc = force ? rename(tmp, out) : renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_NOREPLACE);
    if (rc && !force && (errno == EINVAL || errno == ENOSYS)) {
        /* A file system without RENAME_NOREPLACE: link refuses to replace too. */
        if (!(rc = link(tmp, out)))
            unlink(tmp);
    }
    if (rc && errno == EEXIST)
        return fmd_errf(err, FMD_ECONFLICT, "'%s' exists: choose another name or pass --force",
                        out);
    if (rc)
        return fmd_errf(err, FMD_EIO, "cannot write '%s': %s", out, strerror(errno));
    return fsync_dir_of(out, err);
}

/* The page copy itself: src's snapshot into dst, both open. */
static int copy_pages(sqlite3 *src, sqlite3 *dst, const char *path, const char *tmp,
                      db_backup_progress progress, void *arg, struct fmd_err *err)
{
    sqlite3_backup *b;
    int rc, busy = 0;

    if (!(b = sqlite3_backup_init(dst, "main", src, "main")))
        return sq_fail(dst, sqlite3_errcode(dst), "cannot write", tmp, err);
    for (;;) {
        rc = sqlite3_backup_step(b, STEP_PAGES);
        if (rc == SQLITE_OK || rc == SQLITE_DONE) {
            busy = 0;
            if (progress)
                progress(arg, (uint64_t)(sqlite3_backup_pagecount(b) -
                                         sqlite3_backup_remaining(b)),
                         (uint64_t)sqlite3_backup_pagecount(b));
            if (rc == SQLITE_DONE)
                break;
        } else if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && busy++ < 1000) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        } else {
            break;
        }
    }
    if (sqlite3_backup_finish(b) != SQLITE_OK && rc == SQLITE_DONE)
        rc = sqlite3_errcode(dst);
    if (rc != SQLITE_DONE)
        return sq_fail(dst, rc, "cannot copy", path, err);
    return 0;
}

int db_backup(const char *target, const char *out_path, unsigned flags,
              db_backup_progress progress, void *arg, struct db_backup_info *info,
              struct fmd_err *err)
{
    char path[PATH_CAP], tmp[PATH_CAP + 64];
    sqlite3 *src = NULL, *dst = NULL;
    uint64_t t0 = clock_mono_ns();
    struct stat sb;
    int rc, fd, lock_fd = -1, in_txn = 0, version = 0;
    int64_t n;

    tmp[0] = '\0';
    if (db_target_is_postgres(target))
        return db_pg_backup(target, out_path, flags, info, err);
    if ((rc = file_of(target, path, sizeof(path), err)))
        return rc;
    if (stat(path, &sb))
        return fmd_errf(err, FMD_EINVAL, "no database at '%s': %s", path, strerror(errno));
    if (!(flags & DB_BACKUP_FORCE) && !lstat(out_path, &sb))
        return fmd_errf(err, FMD_ECONFLICT, "'%s' exists: choose another name or pass --force",
                        out_path);
    if (strlen(out_path) >= PATH_CAP)
        return fmd_errf(err, FMD_EINVAL, "path '%s' is too long", out_path);
    /* Holds off a restore, which would swap the file under the copy. */
    if ((rc = db_lock_shared(path, &lock_fd, err)))
        return rc;
    tmp_name(out_path, "tmp", tmp, sizeof(tmp));
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        rc = fmd_errf(err, FMD_EIO, "cannot write beside '%s': %s", out_path, strerror(errno));
        tmp[0] = '\0';
        goto out;
    }
    close(fd);

    /* The source: read-write (without create) so that a WAL database opens
     * whether or not a server has it open; only read. */
    rc = sqlite3_open_v2(path, &src, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = sq_fail(src, rc, "cannot open database", path, err);
        goto out;
    }
    sqlite3_busy_timeout(src, 10000);
    /* Pins the snapshot: see the top of this file. */
    if ((rc = sqlite3_exec(src, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK) {
        rc = sq_fail(src, rc, "cannot read", path, err);
        goto out;
    }
    in_txn = 1;
    n = one_int(src, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'schema_migrations'", &rc);
    if (rc != SQLITE_OK) {
        rc = sq_fail(src, rc, "cannot read", path, err);
        goto out;
    }
    if (n != 1) {
        rc = fmd_errf(err, FMD_EINVAL, "'%s' is not a formd database", path);
        goto out;
    }
    rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = sq_fail(dst, rc, "cannot write", tmp, err);
        goto out;
    }
    if ((rc = copy_pages(src, dst, path, tmp, progress, arg, err)))
        goto out;
    sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
    in_txn = 0;
    /* The copy carries the source's WAL mark: make it one self-contained file. */
    if ((rc = sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL)) != SQLITE_OK) {
        rc = sq_fail(dst, rc, "cannot write", tmp, err);
        goto out;
    }
    if ((rc = sqlite3_close(dst)) != SQLITE_OK) {
        rc = sq_fail(dst, rc, "cannot close", tmp, err);
        goto out;
    }
    dst = NULL;
    if ((rc = fsync_path(tmp, 0, err)) || (rc = db_backup_verify(tmp, &version, err)))
        goto out;
    if (stat(tmp, &sb)) {
        rc = fmd_errf(err, FMD_EIO, "cannot stat '%s': %s", tmp, strerror(errno));
        goto out;
    }
    if ((rc = install(tmp, out_path, flags & DB_BACKUP_FORCE, err)))
        goto out;
    tmp[0] = '\0';
    if (info) {
        info->version = version;
        info->bytes = (int64_t)sb.st_size;
        info->seconds = (double)(clock_mono_ns() - t0) / 1e9;
    }
out:
    if (in_txn)
        sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close_v2(dst);
    sqlite3_close_v2(src);
    db_unlock(lock_fd);
    if (tmp[0])
        remove_tmp(tmp);
    return rc;
}

/* Copies from into a new file to (O_EXCL), fsynced. */
static int copy_file(const char *from, const char *to, db_backup_progress progress, void *arg,
                     struct fmd_err *err)
{
    char buf[1 << 16];
    struct stat sb;
    uint64_t done = 0;
    ssize_t n, w;
    int in, out, rc = 0;

    if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0)
        return fmd_errf(err, FMD_EINVAL, "cannot read '%s': %s", from, strerror(errno));
    if (fstat(in, &sb) || !S_ISREG(sb.st_mode)) {
        close(in);
        return fmd_errf(err, FMD_EINVAL, "'%s' is not a regular file", from);
    }
    if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        close(in);
        return fmd_errf(err, FMD_EIO, "cannot write '%s': %s", to, strerror(errno));
    }
    while (!rc && (n = read(in, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = fmd_errf(err, FMD_EIO, "cannot read '%s': %s", from, strerror(errno));
            break;
        }
        for (w = 0; !rc && w < n;) {
            ssize_t k = write(out, buf + w, (size_t)(n - w));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                rc = fmd_errf(err, FMD_EIO, "cannot write '%s': %s", to, strerror(errno));
            else
                w += k;
        }
        done += (uint64_t)n;
        if (progress)
            progress(arg, done, (uint64_t)sb.st_size > done ? (uint64_t)sb.st_size : done);
    }
    if (!rc && fsync(out))
        rc = fmd_errf(err, FMD_EIO, "cannot sync '%s': %s", to, strerror(errno));
    close(in);
    if (close(out) && !rc)
        rc = fmd_errf(err, FMD_EIO, "cannot write '%s': %s", to, strerror(errno));
    return rc;
}

/* Brings the (private, temporary) copy at tmp up to the newest migration. */
static int migrate_copy(const char *tmp, struct fmd_err *err)
{
    struct db *db = NULL;
    char wal[PATH_CAP + 128];
    struct stat sb;
    int rc = db_open(tmp, 0, &db, err);
    if (!rc)
        rc = migrate_up(db, -1, err);
    db_close(db);   /* the last connection: SQLite checkpoints and removes the WAL */
    snprintf(wal, sizeof(wal), "%s-wal", tmp);
    if (!rc && !stat(wal, &sb) && sb.st_size > 0)
        rc = fmd_errf(err, FMD_EIO, "cannot checkpoint '%s'", tmp);
    return rc;
}

/*
 * Folds the old database's WAL into it, so that its -wal holds nothing and
 * removing it loses nothing. The caller holds the exclusive lock: this is
 * the only connection, and closing it checkpoints and removes the WAL.
 */
static int checkpoint_old(const char *path)
{
    sqlite3 *h = NULL;
    int rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        log_warn("restore: cannot checkpoint the database being replaced '%s': %s", path,
                 h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
    if (sqlite3_close(h) != SQLITE_OK) {
        sqlite3_close_v2(h);
        rc = SQLITE_ERROR;
    }
    return rc == SQLITE_OK ? 0 : -1;
}

int db_restore(const char *target, const char *from, db_backup_progress progress, void *arg,
               char *replaced, size_t cap, struct db_backup_info *info, struct fmd_err *err)
{
    char path[PATH_CAP], tmp[PATH_CAP + 64], side[PATH_CAP + 96], a[PATH_CAP + 128],
        stamp[32];
    uint64_t t0 = clock_mono_ns();
    struct stat sb;
    int rc, version = 0, have_old;
    int64_t size;

    if (replaced && cap)
        replaced[0] = '\0';
    if ((rc = file_of(target, path, sizeof(path), err)))
        return rc;
    if (stat(from, &sb))
        return fmd_errf(err, FMD_EINVAL, "cannot read '%s': %s", from, strerror(errno));
    size = (int64_t)sb.st_size;
    tmp_name(path, "restore", tmp, sizeof(tmp));
    /* The copy is what is checked (so copy errors are caught too) and what is
     * installed; a copy that fails the check is removed, the target untouched.
     * The message names the file the user gave. */
    if ((rc = copy_file(from, tmp, progress, arg, err)))
        goto fail;
    if ((rc = db_backup_verify(tmp, &version, err))) {
        char m[sizeof(err->msg)];
        if (err && (rc = db_backup_verify(from, NULL, err)) == 0) {
            fmd_strlcpy(m, err->msg, sizeof(m));
            rc = fmd_errf(err, FMD_EIO, "the copy of '%s' in the data directory does not "
                                        "verify: %s", from, m);
        }
        goto fail;
    }
    if (version < db_migrations[db_migrations_count - 1].version &&
        (rc = migrate_copy(tmp, err)))
        goto fail;
    if ((rc = fsync_path(tmp, 0, err)))
        goto fail;

    /*
     * The swap. SQLite would replay a -wal left beside the database onto
     * whatever file has the database's name, so the old WAL must go before
     * the new file arrives, and must hold nothing by then:
     *   1. checkpoint the old database (its -wal is then empty or gone);
     *   2. keep the old database under a second name (a hard link);
     *   3. move its -wal (if any remains) beside that name, remove its -shm
     *      (an index of the WAL, rebuilt on open); fsync the directory;
     *   4. rename the new file over the database; fsync the directory.
     * A crash before 4 leaves the old database whole (checkpointed); after
     * it, the new one. Only an old database that cannot be checkpointed
     * (damaged: often why it is being restored) loses its WAL in a crash
     * between 3 and 4; it stays whole under the second name.
     */
    have_old = !stat(path, &sb);
    if (have_old) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);   /* no ':' in file names */
        checkpoint_old(path);
        snprintf(side, sizeof(side), "%s.replaced-%s", path, stamp);
        if (link(path, side)) {
            rc = fmd_errf(err, FMD_EIO, "cannot keep the old database as '%s': %s", side,
                          strerror(errno));
            goto fail;
        }
        snprintf(a, sizeof(a), "%s-wal", path);
        if (!stat(a, &sb)) {
            char b[PATH_CAP + 128];
            snprintf(b, sizeof(b), "%s-wal", side);
            if (rename(a, b)) {
                rc = fmd_errf(err, FMD_EIO, "cannot move '%s': %s", a, strerror(errno));
                goto fail;
            }
        }
        snprintf(a, sizeof(a), "%s-shm", path);
        if (unlink(a) && errno != ENOENT) {
            rc = fmd_errf(err, FMD_EIO, "cannot remove '%s': %s", a, strerror(errno));
            goto fail;
        }
        if ((rc = fsync_dir_of(path, err)))
            goto fail;
        if (replaced && cap)
            fmd_strlcpy(replaced, side, cap);
    }
    if (rename(tmp, path)) {
        rc = fmd_errf(err, FMD_EIO, "cannot replace '%s': %s", path, strerror(errno));
        goto fail;
    }
    remove_tmp(tmp);   /* the -lock that migrating the copy made */
    if ((rc = fsync_dir_of(path, err)))
        return rc;
    if (info) {
        info->version = version;
        info->bytes = size;
        info->seconds = (double)(clock_mono_ns() - t0) / 1e9;
    }
    return 0;
fail:
    remove_tmp(tmp);
    return rc;
}
