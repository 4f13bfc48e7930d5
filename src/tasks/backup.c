/*
 * backup.c - the periodic backup task: naming, the copy, retention, metrics
 * (backup.h). The copy itself is the database driver's (db/backup.h).
 */
#include "tasks/backup.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "db/backup.h"
#include "metrics/metrics.h"
#include "queue/periodic.h"
#include "tasks/tasks.h"
#include "core/banned.h"

#define KEEP_MAX 100000

static pthread_mutex_t running = PTHREAD_MUTEX_INITIALIZER;

static struct metric *m_last, *m_duration, *m_size, *m_runs;

static void register_metrics(void)
{
    static const char *const outcome[] = {"outcome", NULL};
    m_last = metric_register("formd_backup_last_success_timestamp_seconds",
                             "Unix time of the last successful backup", METRIC_GAUGE, NULL,
                             NULL, 0);
    m_duration = metric_register("formd_backup_duration_seconds",
                                 "Seconds the last successful backup took", METRIC_GAUGE, NULL,
                                 NULL, 0);
    m_size = metric_register("formd_backup_size_bytes", "Size of the last successful backup",
                             METRIC_GAUGE, NULL, NULL, 0);
    m_runs = metric_register("formd_backup_runs_total", "Backups attempted, by outcome",
                             METRIC_COUNTER, outcome, NULL, 0);
}

/* 1 for "formd-YYYYMMDDTHHMMSSZ.db". */
static int is_backup_name(const char *s)
{
    static const char shape[] = "formd-########T######Z.db";
    size_t i;
    if (strlen(s) != sizeof(shape) - 1)
        return 0;
    for (i = 0; shape[i]; i++)
        if (shape[i] == '#' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return 0;
    return 1;
}

static int backup_dir(const struct tasks_env *env, char *out, size_t cap)
{
    size_t n = env->backup_dir && *env->backup_dir
                   ? (size_t)snprintf(out, cap, "%s", env->backup_dir)
                   : (size_t)snprintf(out, cap, "%s/backups", env->data_dir);
    return n >= cap ? -1 : 0;
}

/* The SQLite file to copy, or "" when the database is not one. */
static void source(const struct tasks_env *env, char *out, size_t cap)
{
    const char *url = env->db_url;
    if (url && *url) {
        if (strstr(url, "://"))
            out[0] = '\0';
        else
            snprintf(out, cap, "%s", url);
        return;
    }
    snprintf(out, cap, "%s/formd.db", env->data_dir);
}

static int enabled(const struct tasks_env *env)
{
    const char *e = env->backup_every;
    return e && *e && strcmp(e, "off") && strcmp(e, "0") && strcmp(e, "none");
}

/* mkdir -p, 0700 for what it makes. */
static int make_dir(const char *dir, struct fmd_err *err)
{
    char p[4096];
    size_t i, n = fmd_strlcpy(p, dir, sizeof(p));
    if (n >= sizeof(p))
        return fmd_errf(err, FMD_EINVAL, "backup directory '%s' is too long", dir);
    for (i = 1; i <= n; i++)
        if (p[i] == '/' || p[i] == '\0') {
            char c = p[i];
            p[i] = '\0';
            if (mkdir(p, 0700) && errno != EEXIST)
                return fmd_errf(err, FMD_EIO, "cannot create backup directory '%s': %s", p,
                                strerror(errno));
            p[i] = c;
        }
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The backup file names in dir, sorted oldest first (the UTC stamp sorts as
 * text). *names is fmd_malloc'd, each name too: free_names.
 */
static int list_backups(const char *dir, char ***names, int *n, struct fmd_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL, **grown;
    int cap = 0, rc = 0;

    *names = NULL;
    *n = 0;
    if (!d)
        return errno == ENOENT ? 0
                               : fmd_errf(err, FMD_EIO, "cannot read backup directory '%s': %s",
                                          dir, strerror(errno));
    while ((e = readdir(d))) {
        if (!is_backup_name(e->d_name))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            if (!(grown = fmd_realloc(v, sizeof(*v) * (size_t)cap))) {
                rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
                break;
            }
            v = grown;
        }
        if (!(v[*n] = fmd_strdup(e->d_name))) {
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(v, (size_t)*n, sizeof(*v), cmp_names);
    *names = v;
    return rc;
}

static void free_names(char **v, int n)
{
    int i;
    for (i = 0; i < n; i++)
        fmd_free(v[i]);
    fmd_free(v);
}

/*
 * Removes temporary files of backups that never finished ("formd-...Z.db.tmp-
 * PID-N", left by a crash or a kill), once they are a day old: surely dead.
 */
static void remove_stale(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct stat sb;
    char path[4400], name[32];

    if (!d)
        return;
    while ((e = readdir(d))) {
        if (strlen(e->d_name) < 26 || strncmp(e->d_name + 25, ".tmp-", 5))
            continue;
        fmd_strlcpy(name, e->d_name, 26);
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (is_backup_name(name) && !stat(path, &sb) && sb.st_mtime < time(NULL) - 86400 &&
            !unlink(path))
            log_info("backup: removed %s, left by a backup that did not finish", path);
    }
    closedir(d);
}

int tasks_backup_prune(const char *dir, long keep, int *removed, struct fmd_err *err)
{
    char **names, path[4400];
    int i, n, rc;

    if (removed)
        *removed = 0;
    if (keep < 1)
        keep = 1;
    if ((rc = list_backups(dir, &names, &n, err)))
        goto out;
    for (i = 0; i < n - keep; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (unlink(path) && errno != ENOENT) {
            rc = fmd_errf(err, FMD_EIO, "cannot remove old backup '%s': %s", path,
                          strerror(errno));
            break;
        }
        log_info("backup: removed %s (keeping the newest %ld)", path, keep);
        if (removed)
            (*removed)++;
    }
out:
    free_names(names, n);
    remove_stale(dir);
    return rc;
}

/* Sets the last-success gauge from the newest backup file, if any. */
static void gauge_from_dir(const char *dir)
{
    char **names, path[4400];
    struct stat sb;
    int n;

    if (list_backups(dir, &names, &n, NULL))
        n = 0;
    if (n) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[n - 1]);
        if (!stat(path, &sb)) {
            metric_set0(m_last, (double)sb.st_mtime);
            metric_set0(m_size, (double)sb.st_size);
        }
    }
    free_names(names, n);
}

int tasks_backup_define(struct db *db, const struct tasks_env *env, struct fmd_err *err)
{
    char dir[4096], src[4096];

    register_metrics();
    if (!backup_dir(env, dir, sizeof(dir)))
        gauge_from_dir(dir);
    source(env, src, sizeof(src));
    if (enabled(env) && !src[0])
        log_info("periodic backups: skipped on PostgreSQL, where every node could take "
                 "the tick and keep the dump on its own disk: run formd backup (pg_dump) from "
                 "one place on a schedule, or the database's own backups");
    if (!enabled(env) || !src[0]) {
        /* off: none defined is as good as one removed */
        int rc = queue_periodic_remove(db, BACKUP_TASK_KIND, err);
        if (rc == FMD_ENOTFOUND)
            fmd_err_clear(err);
        return rc == FMD_ENOTFOUND ? 0 : rc;
    }
    return queue_periodic_define(db, BACKUP_TASK_KIND, env->backup_every, BACKUP_TASK_KIND,
                                 "low", NULL, clock_wall_ms(), err);
}

int tasks_backup_run(struct queue_run *run)
{
    const struct tasks_env *env = tasks__env();
    struct db_backup_info info = {0};
    struct fmd_err err = {0};
    char dir[4096], src[4096], path[4400], result[4800];
    struct tm tm;
    time_t now;
    int rc, removed = 0;

    if (pthread_mutex_trylock(&running)) {   /* a slow one still running will do */
        run->result = fmd_strdup("{\"skipped\":true}");
        return 0;
    }
    register_metrics();
    source(env, src, sizeof(src));
    if (!src[0]) {
        rc = fmd_errf(&err, FMD_EINVAL, "periodic backups are built for SQLite only");
        run->permanent = 1;
        goto out;
    }
    if (backup_dir(env, dir, sizeof(dir))) {
        rc = fmd_errf(&err, FMD_EINVAL, "backup directory path is too long");
        run->permanent = 1;
        goto out;
    }
    if ((rc = make_dir(dir, &err)))
        goto out;
    now = time(NULL);
    gmtime_r(&now, &tm);
    snprintf(path, sizeof(path), "%s/formd-%04d%02d%02dT%02d%02d%02dZ.db", dir,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if ((rc = db_backup(src, path, 0, NULL, NULL, &info, &err)))
        goto out;
    metric_set0(m_last, (double)now);
    metric_set0(m_duration, info.seconds);
    metric_set0(m_size, (double)info.bytes);
    log_info("backup: wrote %s (%lld bytes, schema version %d) in %.2f s", path,
             (long long)info.bytes, info.version, info.seconds);
    /* A failed prune leaves one file too many; the backup itself stands. */
    if (tasks_backup_prune(dir, env->backup_keep, &removed, &err))
        log_warn("backup: %s", err.msg);
    snprintf(result, sizeof(result),
             "{\"file\":\"%s\",\"bytes\":%lld,\"seconds\":%.3f,\"version\":%d,\"removed\":%d}",
             strrchr(path, '/') + 1, (long long)info.bytes, info.seconds, info.version,
             removed);
    if (!(run->result = fmd_strdup(result)))
        rc = FMD_ENOMEM;
out:
    pthread_mutex_unlock(&running);
    if (rc) {
        snprintf(run->error, sizeof(run->error), "backup: %s", err.msg);
        log_error("backup failed: %s", err.msg);
    }
    if (m_runs)
        metric_inc(m_runs, (const char *const[]){rc ? "failure" : "success"}, 1);
    return rc;
}
