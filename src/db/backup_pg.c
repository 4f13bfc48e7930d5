/*
 * backup_pg.c - formd backup and formd restore on PostgreSQL, through
 * PostgreSQL's own tools (Debian's postgresql-client): pg_dump, pg_restore
 * and psql, run as child processes.
 *
 * A backup is pg_dump's custom format (-Fc), one snapshot of the database,
 * taken while servers keep writing. It is written to a temporary file beside
 * the destination, fsynced, checked (pg_restore --list reads it whole and it
 * must hold formd's schema_migrations), then renamed into place.
 *
 * A restore replaces everything formd keeps in the database's public schema
 * in ONE transaction: psql --single-transaction runs a statement that drops
 * every table, sequence and function there (so tables of a newer schema than
 * the backup's go too; pg_restore --clean would only drop what the backup
 * holds), then the backup's SQL as pg_restore writes it (no owners, no
 * privileges: the objects belong to the user formd connects as). Any error
 * rolls it all back, leaving the database as it was. The caller migrates
 * the result afterwards.
 *
 * pg_dump's major version must be at least the server's (an older pg_dump
 * refuses to dump a newer server): checked first, with a clear message. The
 * password of the URL goes to the children in PGPASSWORD, not on their
 * command lines, which any local user could read.
 */
#include "db/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/mem.h"
#include "db/db.h"
#include "core/banned.h"

extern char **environ;

#define URL_CAP 4096
#define LIST_MAX (64u << 20)

/*
 * The head of the restoring transaction: everything in formd's schema (the
 * first of the connection's search_path, public by default) goes: tables
 * with their sequences and triggers, then sequences and functions left.
 */
static const char restore_head[] =
    "BEGIN;\n"
    "DO $formd$ DECLARE r record; BEGIN"
    " FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    "   WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') LOOP"
    "   EXECUTE format('DROP TABLE IF EXISTS %I.%I CASCADE', current_schema(), r.relname);"
    " END LOOP;"
    " FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    "   WHERE n.nspname = current_schema() AND c.relkind = 'S' LOOP"
    "   EXECUTE format('DROP SEQUENCE IF EXISTS %I.%I CASCADE', current_schema(), r.relname);"
    " END LOOP;"
    " FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p"
    "   JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema() LOOP"
    "   EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', r.sig);"
    " END LOOP;"
    " END $formd$;\n";

/* The children's URL (password removed) and the password (decoded), or "". */
static int split_password(const char *url, char *bare, char *password, struct fmd_err *err)
{
    const char *scheme = strstr(url, "://"), *at, *colon = NULL, *p;
    size_t n = 0;

    password[0] = '\0';
    if (strlen(url) >= URL_CAP)
        return fmd_errf(err, FMD_EINVAL, "database URL is too long");
    at = scheme ? strchr(scheme + 3, '@') : NULL;
    /* userinfo is before the first '/' of the authority, with a ':' in it */
    if (!at || memchr(scheme + 3, '/', (size_t)(at - scheme - 3)) ||
        !(colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3)))) {
        fmd_strlcpy(bare, url, URL_CAP);
        return 0;
    }
    for (p = colon + 1; p < at; p++) {   /* percent-decoded, as libpq would */
        unsigned v;
        if (*p == '%' && p + 2 < at && sscanf(p + 1, "%2x", &v) == 1) {
            password[n++] = (char)v;
            p += 2;
        } else {
            password[n++] = *p;
        }
    }
    password[n] = '\0';
    snprintf(bare, URL_CAP, "%.*s%s", (int)(colon - url), url, at);
    return 0;
}

/* environ with PGPASSWORD=password added (when not empty); fmd_free the array. */
static char **child_env(const char *password, char *pair, size_t cap)
{
    size_t n = 0, i, k = 0;
    char **env;

    while (environ[n])
        n++;
    if (!(env = fmd_calloc(n + 2, sizeof(*env))))
        return NULL;
    for (i = 0; i < n; i++)
        if (strncmp(environ[i], "PGPASSWORD=", 11))
            env[k++] = environ[i];
    if (password[0]) {
        snprintf(pair, cap, "PGPASSWORD=%s", password);
        env[k++] = pair;
    }
    return env;
}

/*
 * Runs argv (found on PATH) with stdin from in_fd and stdout to out_fd (-1:
 * /dev/null for stdout, the parent's stdin for in_fd), stderr inherited.
 * Waits unless pid_out is given (then the caller waits). 0 when it exited 0.
 */
static int spawn(char *const argv[], const char *password, int in_fd, int out_fd,
                 pid_t *pid_out, struct fmd_err *err)
{
    posix_spawn_file_actions_t fa;
    char pair[URL_CAP + 16];
    char **env = child_env(password, pair, sizeof(pair));
    pid_t pid;
    int rc, status;

    if (!env)
        return fmd_errf(err, FMD_ENOMEM, "out of memory");
    posix_spawn_file_actions_init(&fa);
    if (in_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    else
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    fmd_free(env);
    if (rc)
        return fmd_errf(err, FMD_EUNAVAIL, "cannot run %s: %s (install Debian's "
                                           "postgresql-client)", argv[0], strerror(rc));
    if (pid_out) {
        *pid_out = pid;
        return 0;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status))
        return fmd_errf(err, FMD_EIO, "%s failed (exit status %d): see its message above",
                        argv[0], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}

/* Runs argv and keeps its stdout in out (at most LIST_MAX bytes). */
static int capture(char *const argv[], const char *password, struct buf *out,
                   struct fmd_err *err)
{
    char chunk[8192];
    pid_t pid;
    int fds[2], rc, status;
    ssize_t n;

    if (pipe2(fds, O_CLOEXEC))
        return fmd_errf(err, FMD_EIO, "pipe: %s", strerror(errno));
    rc = spawn(argv, password, -1, fds[1], &pid, err);
    close(fds[1]);
    if (rc) {
        close(fds[0]);
        return rc;
    }
    while ((n = read(fds[0], chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0 && !rc && buf_add(out, chunk, (size_t)n))
            rc = fmd_errf(err, FMD_EINVAL, "%s: more output than expected", argv[0]);
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!rc && (!WIFEXITED(status) || WEXITSTATUS(status)))
        rc = fmd_errf(err, FMD_EIO, "%s failed (exit status %d)", argv[0],
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return rc;
}

/* The major version of a client tool ("pg_dump (PostgreSQL) 15.18 ..."). */
static int tool_major(const char *tool, int *major, struct fmd_err *err)
{
    char *argv[] = {(char *)tool, "--version", NULL};
    const char *p;
    struct buf out;
    int rc;

    buf_init(&out, 4096);
    if (!(rc = capture(argv, "", &out, err))) {
        p = strchr(out.p, ')');
        if (!p || sscanf(p + 1, " %d", major) != 1)
            rc = fmd_errf(err, FMD_EIO, "cannot read the version of %s from '%.80s'", tool,
                          out.p);
    }
    buf_release(&out);
    return rc;
}

static int one_int(struct db *db, const char *sql, int64_t *v, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, sql, &st, err);
    if (rc)
        return rc;
    if ((rc = db_step(st, err)) == 1)
        *v = db_col_int(st, 0);
    db_done(st);
    return rc < 0 ? rc : 0;
}

/* The server's major version and formd's schema version there. */
static int server_facts(struct db *db, int *major, int *version, struct fmd_err *err)
{
    int64_t num = 0;
    int rc = one_int(db, "SELECT CAST(current_setting('server_version_num') AS BIGINT)", &num,
                     err);
    *major = (int)(num / 10000);
    if (!rc && !(rc = one_int(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                              &num, err)))
        *version = (int)num;
    return rc;
}

static int check_pg_dump(int server_major, struct fmd_err *err)
{
    int major = 0;
    int rc = tool_major("pg_dump", &major, err);
    if (!rc && major < server_major)
        rc = fmd_errf(err, FMD_EINVAL, "pg_dump is version %d but the server is PostgreSQL %d: "
                                       "install postgresql-client-%d or newer (an older pg_dump "
                                       "cannot dump a newer server)",
                      major, server_major, server_major);
    return rc;
}

/*
 * The archive's table of contents without the entries of the schema itself
 * (the restore goes into the schema as it is), into list; its schema's name
 * (that of schema_migrations' data) into schema, "" when there is none.
 */
static int read_toc(const char *path, struct buf *list, char *schema, size_t cap,
                    struct fmd_err *err)
{
    char *argv[] = {"pg_restore", "--list", (char *)path, NULL};
    struct buf out;
    char *line, *next;
    int rc;

    schema[0] = '\0';
    buf_init(&out, LIST_MAX);
    if ((rc = capture(argv, "", &out, err))) {
        buf_release(&out);
        return rc;
    }
    for (line = out.p; line && *line; line = next) {
        char name[128], table[128];
        if ((next = strchr(line, '\n')))
            *next++ = '\0';
        if (strstr(line, " SCHEMA - ") || strstr(line, " COMMENT - SCHEMA "))
            continue;
        if (sscanf(line, "%*d; %*u %*u TABLE DATA %127s %127s", name, table) == 2 &&
            !strcmp(table, "schema_migrations"))
            fmd_strlcpy(schema, name, cap);
        if (list && (buf_adds(list, line) || buf_addc(list, '\n'))) {
            rc = fmd_errf(err, FMD_ENOMEM, "archive's table of contents is too large");
            break;
        }
    }
    buf_release(&out);
    return rc;
}

int db_pg_dump_verify(const char *path, struct fmd_err *err)
{
    char schema[128];
    struct stat sb;

    if (stat(path, &sb) || !S_ISREG(sb.st_mode))
        return fmd_errf(err, FMD_EINVAL, "no backup file '%s'", path);
    if (read_toc(path, NULL, schema, sizeof(schema), err))
        return fmd_errf(err, FMD_EINVAL, "'%s' is not a pg_dump archive pg_restore can read",
                        path);
    if (!schema[0])
        return fmd_errf(err, FMD_EINVAL, "'%s' is a pg_dump archive but not of a formd database "
                                         "(no schema_migrations)", path);
    return 0;
}

/* formd's schema on db: the first of its search_path (public by default). */
static int current_schema(struct db *db, char *out, size_t cap, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db, "SELECT current_schema()", &st, err);
    if (rc)
        return rc;
    out[0] = '\0';
    if ((rc = db_step(st, err)) == 1 && db_col_text(st, 0))
        fmd_strlcpy(out, db_col_text(st, 0), cap);
    db_done(st);
    if (rc >= 0 && !out[0])
        return fmd_errf(err, FMD_EINVAL, "the database has no schema in its search_path");
    return rc < 0 ? rc : 0;
}

static int fsync_file(const char *path, int dir, struct fmd_err *err)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
    int rc = fd < 0 || fsync(fd);
    if (fd >= 0)
        close(fd);
    return rc ? fmd_errf(err, FMD_EIO, "cannot sync '%s': %s", path, strerror(errno)) : 0;
}

int db_pg_backup(const char *url, const char *out_path, unsigned flags,
                 struct db_backup_info *info, struct fmd_err *err)
{
    char bare[URL_CAP], password[URL_CAP], tmp[4200], dir[4200], file_arg[4300];
    char schema[128], schema_arg[160];
    char *argv[] = {"pg_dump", "--format=custom", "--no-owner", "--no-privileges", file_arg,
                    schema_arg, bare, NULL};
    uint64_t t0 = clock_mono_ns();
    struct db *db = NULL;
    struct stat sb;
    int rc, major = 0, version = 0;
    char *slash;

    if (!(flags & DB_BACKUP_FORCE) && !lstat(out_path, &sb))
        return fmd_errf(err, FMD_ECONFLICT, "'%s' exists: choose another name or pass --force",
                        out_path);
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", out_path, (long)getpid()) >= (int)sizeof(tmp))
        return fmd_errf(err, FMD_EINVAL, "path '%s' is too long", out_path);
    if ((rc = split_password(url, bare, password, err)) ||
        (rc = db_open(url, DB_READONLY, &db, err)) ||
        (rc = server_facts(db, &major, &version, err)) || (rc = check_pg_dump(major, err)) ||
        (rc = current_schema(db, schema, sizeof(schema), err)))
        goto out;
    snprintf(file_arg, sizeof(file_arg), "--file=%s", tmp);
    /* formd's schema alone, by its exact name (quoted: not a pattern) */
    snprintf(schema_arg, sizeof(schema_arg), "--schema=\"%s\"", schema);
    if ((rc = spawn(argv, password, -1, -1, NULL, err)) || (rc = fsync_file(tmp, 0, err)) ||
        (rc = db_pg_dump_verify(tmp, err)))
        goto out;
    if (stat(tmp, &sb) || rename(tmp, out_path)) {
        rc = fmd_errf(err, FMD_EIO, "cannot write '%s': %s", out_path, strerror(errno));
        goto out;
    }
    fmd_strlcpy(dir, out_path, sizeof(dir));
    slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    if ((rc = fsync_file(slash ? dir : ".", 1, err)))
        goto out;
    if (info) {
        info->version = version;
        info->bytes = sb.st_size;
        info->seconds = (double)(clock_mono_ns() - t0) / 1e9;
    }
out:
    if (rc)
        unlink(tmp);   /* nothing half-written is left behind */
    db_close(db);
    return rc;
}

/* Other formd processes connected to the database (they name themselves "formd"). */
static int formd_sessions(struct db *db, int64_t *n, struct fmd_err *err)
{
    return one_int(db, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND application_name = 'formd' AND pid <> pg_backend_pid()", n, err);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int wait_exit(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Relays pg_restore's SQL into psql between restore_head and a COMMIT that
 * is written only once pg_restore has exited 0: a pg_restore that fails half
 * way leaves psql at end of input inside the transaction, which then rolls
 * back, and so does the first failing statement (ON_ERROR_STOP).
 */
static int relay(const char *from, const char *list_arg, const char *password,
                 const char *db_arg, struct fmd_err *err)
{
    char *dump[] = {"pg_restore", "--no-owner", "--no-privileges", (char *)list_arg, "--file=-",
                    (char *)from, NULL};
    char *psql[] = {"psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", (char *)db_arg,
                    NULL};
    char chunk[65536];
    int out[2] = {-1, -1}, in[2] = {-1, -1}, rc, dump_rc, psql_rc, broken = 0;
    pid_t dump_pid = -1, psql_pid = -1;
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);   /* psql may stop reading */
    ssize_t n;

    if (pipe2(out, O_CLOEXEC) || pipe2(in, O_CLOEXEC)) {
        rc = fmd_errf(err, FMD_EIO, "pipe: %s", strerror(errno));
        goto out;
    }
    if ((rc = spawn(dump, "", -1, out[1], &dump_pid, err)))
        goto out;
    close(out[1]);
    out[1] = -1;
    if ((rc = spawn(psql, password, in[0], -1, &psql_pid, err)))
        goto out;
    close(in[0]);
    in[0] = -1;
    broken = write_all(in[1], restore_head, strlen(restore_head));
    while ((n = read(out[0], chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0 && !broken)
            broken = write_all(in[1], chunk, (size_t)n);
    close(out[0]);
    out[0] = -1;
    dump_rc = wait_exit(dump_pid);
    dump_pid = -1;
    if (!dump_rc && !broken)
        broken = write_all(in[1], "COMMIT;\n", 8);
    close(in[1]);
    in[1] = -1;
    psql_rc = wait_exit(psql_pid);
    psql_pid = -1;
    if (dump_rc)
        rc = fmd_errf(err, FMD_EIO, "pg_restore failed (exit status %d): nothing was restored, "
                                    "the database is as it was", dump_rc);
    else if (psql_rc || broken)
        rc = fmd_errf(err, FMD_EIO, "psql failed (exit status %d, message above): the restore "
                                    "was rolled back, the database is as it was", psql_rc);
out:
    if (out[0] >= 0)
        close(out[0]);
    if (out[1] >= 0)
        close(out[1]);
    if (in[0] >= 0)
        close(in[0]);
    if (in[1] >= 0)
        close(in[1]);
    if (dump_pid > 0)
        wait_exit(dump_pid);
    if (psql_pid > 0)
        wait_exit(psql_pid);
    signal(SIGPIPE, old_pipe);
    return rc;
}

int db_pg_restore(const char *url, const char *from, unsigned flags,
                  struct db_backup_info *info, struct fmd_err *err)
{
    char bare[URL_CAP], password[URL_CAP], db_arg[URL_CAP + 16];
    char schema[128], dump_schema[128], list_path[4200] = "", list_arg[4300];
    uint64_t t0 = clock_mono_ns();
    struct db *db = NULL;
    struct buf list;
    struct stat sb;
    int64_t others = 0;
    int rc, list_fd = -1;

    buf_init(&list, LIST_MAX);

    if ((rc = db_pg_dump_verify(from, err)) || (rc = split_password(url, bare, password, err)) ||
        (rc = db_open(url, 0, &db, err)) || (rc = formd_sessions(db, &others, err)))
        goto out;
    if (others && !(flags & DB_BACKUP_FORCE)) {
        rc = fmd_errf(err, FMD_EBUSY, "%lld connections of formd processes are open on this "
                                      "database: stop every formd serve and formd worker first "
                                      "(or pass --force)", (long long)others);
        goto out;
    }
    if ((rc = current_schema(db, schema, sizeof(schema), err)) ||
        (rc = read_toc(from, &list, dump_schema, sizeof(dump_schema), err)))
        goto out;
    if (strcmp(schema, dump_schema)) {
        rc = fmd_errf(err, FMD_EINVAL, "'%s' holds schema '%s' but this database's is '%s' "
                                       "(its search_path): restore into the same schema",
                      from, dump_schema, schema);
        goto out;
    }
    db_close(db);
    db = NULL;
    snprintf(list_path, sizeof(list_path), "%s/formd-restore-XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if ((list_fd = mkstemp(list_path)) < 0 || write_all(list_fd, list.p, list.len) ||
        close(list_fd)) {
        rc = fmd_errf(err, FMD_EIO, "cannot write '%s': %s", list_path, strerror(errno));
        goto out;
    }
    snprintf(list_arg, sizeof(list_arg), "--use-list=%s", list_path);
    snprintf(db_arg, sizeof(db_arg), "--dbname=%s", bare);
    if ((rc = relay(from, list_arg, password, db_arg, err)))
        goto out;
    if (info) {
        info->bytes = stat(from, &sb) ? 0 : sb.st_size;
        info->version = 0;
        info->seconds = (double)(clock_mono_ns() - t0) / 1e9;
        if (!db_open(url, DB_READONLY, &db, NULL)) {   /* the restored schema_migrations */
            int64_t v = 0;
            one_int(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &v, NULL);
            info->version = (int)v;
        }
    }
out:
    if (list_path[0] && list_fd >= 0)
        unlink(list_path);
    buf_release(&list);
    db_close(db);
    return rc;
}
