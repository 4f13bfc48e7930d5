/* lock.c - the "<database>-lock" file's flock(2) locks (see lock.h). */
#include "db/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/banned.h"

/* The database this process holds exclusively, "" for none. */
static pthread_mutex_t excl_lock = PTHREAD_MUTEX_INITIALIZER;
static char excl_path[4096];
static int excl_fd = -1;

static int lock_path(const char *db_path, char *out, size_t cap, struct fmd_err *err)
{
    if ((size_t)snprintf(out, cap, "%s-lock", db_path) >= cap)
        return fmd_errf(err, FMD_EINVAL, "database path '%s' is too long", db_path);
    return 0;
}

static int is_file_target(const char *db_path)
{
    return *db_path && strcmp(db_path, ":memory:") && strncmp(db_path, "file:", 5);
}

static int take(const char *db_path, int how, int *fd, struct fmd_err *err)
{
    char path[4200];
    int rc;

    *fd = -1;
    if ((rc = lock_path(db_path, path, sizeof(path), err)))
        return rc;
    if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return fmd_errf(err, FMD_EIO, "cannot open lock file '%s': %s", path, strerror(errno));
    while ((rc = flock(*fd, how | LOCK_NB)) && errno == EINTR)
        ;
    if (!rc)
        return 0;
    rc = errno;
    close(*fd);
    *fd = -1;
    if (rc == EWOULDBLOCK)
        return fmd_errf(err, FMD_EBUSY,
                        how == LOCK_EX ? "database '%s' is in use by a formd process (is formd "
                                         "serve running on it?): stop it first"
                                       : "database '%s' is being restored: try again when "
                                         "formd restore has finished",
                        db_path);
    return fmd_errf(err, FMD_EIO, "cannot lock '%s': %s", path, strerror(rc));
}

int db_lock_shared(const char *db_path, int *fd, struct fmd_err *err)
{
    int mine;

    *fd = -1;
    if (!is_file_target(db_path))
        return 0;
    pthread_mutex_lock(&excl_lock);
    mine = excl_path[0] && !strcmp(excl_path, db_path);
    pthread_mutex_unlock(&excl_lock);
    return mine ? 0 : take(db_path, LOCK_SH, fd, err);
}

int db_lock_exclusive(const char *db_path, int *fd, struct fmd_err *err)
{
    int rc;

    if (strlen(db_path) >= sizeof(excl_path))
        return fmd_errf(err, FMD_EINVAL, "database path '%s' is too long", db_path);
    if ((rc = take(db_path, LOCK_EX, fd, err)))
        return rc;
    pthread_mutex_lock(&excl_lock);
    fmd_strlcpy(excl_path, db_path, sizeof(excl_path));
    excl_fd = *fd;
    pthread_mutex_unlock(&excl_lock);
    return 0;
}

void db_unlock(int fd)
{
    if (fd < 0)
        return;
    pthread_mutex_lock(&excl_lock);
    if (fd == excl_fd) {
        excl_path[0] = '\0';
        excl_fd = -1;
    }
    pthread_mutex_unlock(&excl_lock);
    close(fd);   /* drops the flock */
}
