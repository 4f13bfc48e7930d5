/* test_backup.c - db/backup.h and db/lock.h: copies beside a writer, checks, restores. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/backup.h"
#include "db/db.h"
#include "db/lock.h"
#include "db/migrate.h"

static int64_t count(const char *target, const char *sql)
{
    struct db *db;
    struct db_stmt *st;
    struct fmd_err err = {0};
    int64_t n = -1;
    assert_int_equal(db_open(target, 0, &db, &err), 0);
    assert_int_equal(db_prepare(db, sql, &st, &err), 0);
    if (db_step(st, &err) == 1)
        n = db_col_int(st, 0);
    db_done(st);
    db_close(db);
    return n;
}

static void make_db(const char *path, int version)
{
    struct db *db;
    struct fmd_err err = {0};
    assert_int_equal(db_open(path, 0, &db, &err), 0);
    assert_int_equal(migrate_up(db, version, &err), 0);
    assert_int_equal(db_exec(db, "CREATE TABLE IF NOT EXISTS t (n INTEGER)", &err), 0);
    db_close(db);
}

static int exists(const char *path)
{
    struct stat sb;
    return !stat(path, &sb);
}

/* No "<x>.tmp-*" or "<x>.restore-*" file left in the current directory. */
static void no_temp_files(void)
{
    DIR *d = opendir(".");
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d))) {
        if (strstr(e->d_name, ".tmp-") || strstr(e->d_name, ".restore-"))
            fail_msg("left behind: %s", e->d_name);
    }
    closedir(d);
}

struct writer {
    const char *path;
    atomic_int stop;
    atomic_llong committed;   /* rows known committed */
};

static void *write_rows(void *arg)
{
    struct writer *w = arg;
    struct db *db;
    struct db_stmt *st;
    struct fmd_err err = {0};
    long long n = 0;
    if (db_open(w->path, 0, &db, &err))
        return NULL;
    while (!atomic_load(&w->stop)) {
        if (db_begin(db, &err))
            continue;
        for (int i = 0; i < 50; i++) {
            if (db_prepare(db, "INSERT INTO t (n) VALUES ($1)", &st, &err))
                break;
            db_bind_int(st, 1, ++n);
            db_step(st, &err);
            db_done(st);
        }
        if (db_commit(db, &err))
            db_rollback(db);
        else
            atomic_store(&w->committed, n);
    }
    db_close(db);
    return NULL;
}

static void backup_beside_a_writer_is_consistent_and_verifies(void **state)
{
    struct writer w = {.path = "live.db"};
    struct db_backup_info info;
    struct fmd_err err = {0};
    pthread_t th;
    char out[64];
    int i, v;

    make_db("live.db", -1);
    assert_int_equal(pthread_create(&th, NULL, write_rows, &w), 0);
    while (atomic_load(&w.committed) < 500)
        usleep(1000);
    for (i = 0; i < 3; i++) {
        long long before = atomic_load(&w.committed);
        snprintf(out, sizeof(out), "copy%d.db", i);
        assert_int_equal(db_backup("sqlite:live.db", out, 0, NULL, NULL, &info, &err), 0);
        assert_int_equal(info.version, db_migrations[db_migrations_count - 1].version);
        assert_true(info.bytes > 0);
        assert_int_equal(db_backup_verify(out, &v, &err), 0);
        assert_int_equal(v, info.version);
        /* Everything committed before the copy began is in it, and the rows
         * form one snapshot: whole batches of 50, numbered without a gap. */
        long long rows = count(out, "SELECT COUNT(*) FROM t");
        assert_true(rows >= before);
        assert_int_equal(rows % 50, 0);
        assert_int_equal(count(out, "SELECT COALESCE(MAX(n), 0) FROM t"), rows);
        usleep(20000);
    }
    atomic_store(&w.stop, 1);
    pthread_join(th, NULL);
    assert_true(atomic_load(&w.committed) > 500);
    no_temp_files();
}

static void backup_refuses_to_clobber_and_leaves_nothing_on_failure(void **state)
{
    struct fmd_err err = {0};
    FILE *f;

    make_db("src.db", -1);
    f = fopen("taken.db", "w");
    fputs("precious", f);
    fclose(f);
    assert_int_equal(db_backup("src.db", "taken.db", 0, NULL, NULL, NULL, &err), FMD_ECONFLICT);
    assert_non_null(strstr(err.msg, "--force"));
    assert_int_equal(count("src.db", "SELECT 1"), 1);
    assert_int_equal(db_backup("src.db", "taken.db", DB_BACKUP_FORCE, NULL, NULL, NULL, &err), 0);
    assert_int_equal(db_backup_verify("taken.db", NULL, &err), 0);

    /* No directory to write into: an error and no file. */
    assert_int_not_equal(db_backup("src.db", "nodir/b.db", 0, NULL, NULL, NULL, &err), 0);
    assert_false(exists("nodir/b.db"));
    /* Not a formd database: refused before anything is written. */
    {
        struct db *db;
        assert_int_equal(db_open("plain.db", 0, &db, &err), 0);
        assert_int_equal(db_exec(db, "CREATE TABLE x (y)", &err), 0);
        db_close(db);
    }
    assert_int_equal(db_backup("plain.db", "plain-copy.db", 0, NULL, NULL, NULL, &err),
                     FMD_EINVAL);
    assert_false(exists("plain-copy.db"));
    assert_int_equal(db_backup("missing.db", "m.db", 0, NULL, NULL, NULL, &err), FMD_EINVAL);
    assert_false(exists("m.db"));
    assert_false(exists("missing.db"));
    /* PostgreSQL goes to pg_dump (backup_pg.c): a server that is not there is
     * 503 before anything is written */
    assert_int_equal(db_backup("postgres://127.0.0.1:1/db", "p.db", 0, NULL, NULL, NULL, &err),
                     FMD_EUNAVAIL);
    assert_false(exists("p.db"));
    no_temp_files();
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void restore_refuses_bad_files_and_changes_nothing(void **state)
{
    struct fmd_err err = {0};
    static char buf[1 << 21];
    char replaced[256];
    struct stat before, after;
    FILE *f;
    size_t n;

    make_db("target.db", -1);
    make_db("good.db", -1);
    assert_int_equal(db_backup("good.db", "good.bak", 0, NULL, NULL, NULL, &err), 0);
    f = fopen("good.bak", "rb");
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    write_file("truncated.bak", buf, n / 2 + 100);   /* the header says more pages */
    write_file("text.bak", "hello, not a database\n", 22);
    write_file("empty.bak", "", 0);
    assert_true(n > 16384 && n < sizeof(buf));
    memset(buf + 3 * 4096, 0x5a, 4096);             /* a damaged page */
    write_file("corrupt.bak", buf, n);
    {
        struct db *db;
        assert_int_equal(db_open("notformd.bak", 0, &db, &err), 0);
        assert_int_equal(db_exec(db, "CREATE TABLE x (y)", &err), 0);
        db_close(db);
    }
    {   /* a formd database from a newer formd */
        struct db *db;
        assert_int_equal(db_backup("good.db", "newer.bak", 0, NULL, NULL, NULL, &err), 0);
        assert_int_equal(db_open("newer.bak", 0, &db, &err), 0);
        assert_int_equal(db_exec(db, "INSERT INTO schema_migrations VALUES (9999, 'x', 0)", &err),
                         0);
        db_close(db);
    }
    const char *bad[] = {"truncated.bak", "text.bak", "empty.bak", "corrupt.bak",
                         "notformd.bak", "newer.bak", "absent.bak"};
    assert_int_equal(stat("target.db", &before), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        int rc = db_restore("target.db", bad[i], NULL, NULL, replaced, sizeof(replaced), NULL,
                            &err);
        if (rc == 0)
            fail_msg("%s was restored", bad[i]);
        assert_int_equal(rc, FMD_EINVAL);
        assert_non_null(strstr(err.msg, bad[i]));
        assert_null(strchr(err.msg, '\n'));
        assert_int_equal(stat("target.db", &after), 0);
        assert_int_equal(before.st_ino, after.st_ino);
        assert_int_equal(before.st_size, after.st_size);
    }
    assert_false(exists("target.db.replaced"));
    no_temp_files();
}

static void restore_migrates_an_older_backup_and_keeps_the_old_database(void **state)
{
    struct fmd_err err = {0};
    struct db_backup_info info;
    char replaced[256];
    int v;

    make_db("old.db", 3);   /* an older formd's schema */
    assert_int_equal(db_backup("old.db", "old.bak", 0, NULL, NULL, NULL, &err), 0);
    make_db("cur.db", -1);
    assert_int_equal(count("cur.db", "SELECT COUNT(*) FROM t"), 0);
    {
        struct db *db;
        assert_int_equal(db_open("cur.db", 0, &db, &err), 0);
        assert_int_equal(db_exec(db, "INSERT INTO t VALUES (42)", &err), 0);
        db_close(db);
    }
    assert_int_equal(db_restore("cur.db", "old.bak", NULL, NULL, replaced, sizeof(replaced),
                                &info, &err), 0);
    assert_int_equal(info.version, 3);
    assert_int_equal(db_backup_verify("cur.db", &v, &err), 0);
    assert_int_equal(v, db_migrations[db_migrations_count - 1].version);
    assert_int_equal(count("cur.db", "SELECT COUNT(*) FROM t"), 0);
    assert_non_null(strstr(replaced, "cur.db.replaced-"));
    assert_int_equal(count(replaced, "SELECT MAX(n) FROM t"), 42);
    assert_false(exists("cur.db-wal") && count("cur.db", "SELECT 1") != 1);
    /* Into a file that does not exist yet. */
    assert_int_equal(db_restore("new.db", "old.bak", NULL, NULL, replaced, sizeof(replaced),
                                NULL, &err), 0);
    assert_string_equal(replaced, "");
    assert_int_equal(db_backup_verify("new.db", NULL, &err), 0);
    no_temp_files();
}

/*
 * In a child process: 0 if db_open succeeds on path, else 1 (2 if FMD_EBUSY).
 * The child first drops its copy of the parent's exclusive lock descriptor
 * (held_fd, or -1), as a process that is not a fork would not have it; the
 * parent's lock stays.
 */
static int child_open(const char *path, int exclusive, int held_fd)
{
    pid_t pid = fork();
    int status;
    if (pid == 0) {
        struct fmd_err err = {0};
        struct db *db;
        db_unlock(held_fd);
        int fd, rc = exclusive ? db_lock_exclusive(path, &fd, &err) : db_open(path, 0, &db, &err);
        _exit(rc == 0 ? 0 : rc == FMD_EBUSY ? 2 : 1);
    }
    waitpid(pid, &status, 0);
    return WEXITSTATUS(status);
}

static void the_lock_keeps_restore_and_users_apart(void **state)
{
    struct fmd_err err = {0};
    struct db *db, *mine;
    int fd;

    make_db("locked.db", -1);
    assert_int_equal(db_open("locked.db", 0, &db, &err), 0);
    /* A user (here, or in another process) keeps a restore out. */
    assert_int_equal(db_lock_exclusive("locked.db", &fd, &err), FMD_EBUSY);
    assert_non_null(strstr(err.msg, "in use"));
    assert_int_equal(child_open("locked.db", 1, -1), 2);
    db_close(db);
    /* A restore keeps other processes out, but not its own connections. */
    assert_int_equal(db_lock_exclusive("locked.db", &fd, &err), 0);
    assert_int_equal(child_open("locked.db", 0, fd), 2);
    assert_int_equal(db_open("locked.db", 0, &mine, &err), 0);
    db_close(mine);
    db_unlock(fd);
    assert_int_equal(child_open("locked.db", 0, -1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backup_beside_a_writer_is_consistent_and_verifies),
        cmocka_unit_test(backup_refuses_to_clobber_and_leaves_nothing_on_failure),
        cmocka_unit_test(restore_refuses_bad_files_and_changes_nothing),
        cmocka_unit_test(restore_migrates_an_older_backup_and_keeps_the_old_database),
        cmocka_unit_test(the_lock_keeps_restore_and_users_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
