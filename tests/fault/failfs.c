/*
 * failfs.c - an LD_PRELOAD shim that makes the database's disk fail on demand.
 *
 * Fault tests start formd with this library and FAILFS_CONTROL naming a
 * file. Whenever that file holds "fsync", fsync and fdatasync on any file
 * whose path contains FAILFS_MATCH (default "formd.db") fail with EIO; when
 * it holds "enospc", writes to such files fail with ENOSPC. An absent or
 * empty control file means no faults. Sockets, logs and every other file are
 * never touched, so the server keeps talking while its disk misbehaves.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum mode { NONE, FSYNC, ENOSPC_MODE };

static enum mode current_mode(void)
{
    const char *ctl = getenv("FAILFS_CONTROL");
    char buf[16] = "";
    ssize_t n;
    int fd;

    if (!ctl || (fd = open(ctl, O_RDONLY | O_CLOEXEC)) < 0)
        return NONE;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return NONE;
    if (!strncmp(buf, "fsync", 5))
        return FSYNC;
    if (!strncmp(buf, "enospc", 6))
        return ENOSPC_MODE;
    return NONE;
}

/* 1 if fd is a regular file whose path contains FAILFS_MATCH. */
static int is_target(int fd)
{
    const char *match = getenv("FAILFS_MATCH");
    char link[64], path[4096];
    struct stat st;
    ssize_t n;

    if (fstat(fd, &st) || !S_ISREG(st.st_mode))
        return 0;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    if ((n = readlink(link, path, sizeof(path) - 1)) <= 0)
        return 0;
    path[n] = '\0';
    return strstr(path, match ? match : "formd.db") != NULL;
}

#define REAL(name, ret, ...)                                             \
    static ret (*real_##name)(__VA_ARGS__);                              \
    if (!real_##name)                                                    \
        real_##name = (ret (*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

int fsync(int fd)
{
    REAL(fsync, int, int);
    if (current_mode() == FSYNC && is_target(fd)) {
        errno = EIO;
        return -1;
    }
    return real_fsync(fd);
}

int fdatasync(int fd)
{
    REAL(fdatasync, int, int);
    if (current_mode() == FSYNC && is_target(fd)) {
        errno = EIO;
        return -1;
    }
    return real_fdatasync(fd);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    REAL(pwrite64, ssize_t, int, const void *, size_t, off_t);
    if (current_mode() == ENOSPC_MODE && is_target(fd)) {
        errno = ENOSPC;
        return -1;
    }
    return real_pwrite64(fd, buf, n, off);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    REAL(pwrite, ssize_t, int, const void *, size_t, off_t);
    if (current_mode() == ENOSPC_MODE && is_target(fd)) {
        errno = ENOSPC;
        return -1;
    }
    return real_pwrite(fd, buf, n, off);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    REAL(write, ssize_t, int, const void *, size_t);
    if (fd > 2 && current_mode() == ENOSPC_MODE && is_target(fd)) {
        errno = ENOSPC;
        return -1;
    }
    return real_write(fd, buf, n);
}
