/*
 * lock.h - which processes use a SQLite database file.
 *
 * SQLite's own locks say nothing about a connection that is open but idle,
 * so formd keeps its own: every connection the SQLite driver opens (and
 * every backup) holds a shared flock(2) on "<database>-lock" for as long as
 * it lives, and `formd restore` takes it exclusively. The kernel drops a
 * dead process's locks, so a crashed server never blocks a restore, and a
 * running one (serve, worker, a CLI command) always does. flock, not
 * fcntl: closing any descriptor of a file drops all of a process's fcntl
 * locks on it, which would break SQLite's own, and it is why the lock lives
 * in a file of its own rather than on the database. (Local file systems
 * only: NFS may emulate flock with fcntl locks.)
 */
#ifndef FMD_DB_LOCK_H
#define FMD_DB_LOCK_H

#include "core/err.h"

/*
 * Takes a shared lock on db_path's lock file without waiting; *fd gets the
 * descriptor to give to db_unlock (-1, and 0 returned, for an in-memory or
 * URI target, or when this process holds the exclusive lock itself).
 * FMD_EBUSY while a restore holds it exclusively; FMD_EIO when the lock
 * file cannot be opened.
 */
int db_lock_shared(const char *db_path, int *fd, struct fmd_err *err);

/*
 * Takes the exclusive lock without waiting: FMD_EBUSY, saying so, while any
 * process (this one included, through another descriptor) uses the
 * database. Until db_unlock, connections this process opens on db_path
 * skip their shared lock, so the holder can still use the database.
 */
int db_lock_exclusive(const char *db_path, int *fd, struct fmd_err *err);

/* Releases a lock from either function (fd < 0: nothing). */
void db_unlock(int fd);

#endif
