/*
 * backup.h - consistent copies of the operational database, and putting one
 * back.
 *
 * A backup is one self-contained SQLite file (rollback-journal mode, no
 * -wal beside it) holding the whole database as of one moment, taken while
 * servers keep writing. These functions are the SQLite driver's; a
 * PostgreSQL driver will answer the same calls with pg_dump / pg_restore.
 * Targets are db_open's ("sqlite:PATH" or a plain path).
 *
 * Nothing is ever half-written where the caller asked: each function writes
 * a temporary file beside its destination, fsyncs and verifies it, renames
 * it into place and fsyncs the directory; on failure the temporary file is
 * removed and the destination is as it was.
 */
#ifndef FMD_DB_BACKUP_H
#define FMD_DB_BACKUP_H

#include <stdint.h>

#include "core/err.h"

/* Reports pages copied out of the total (a progress bar); may be NULL. */
typedef void (*db_backup_progress)(void *arg, uint64_t done, uint64_t total);

/* db_backup flags */
#define DB_BACKUP_FORCE 0x1   /* replace an existing out_path (else FMD_ECONFLICT) */

struct db_backup_info {
    int version;              /* the schema migration version it holds */
    int64_t bytes;            /* its size */
    double seconds;           /* wall time of the whole call */
};

/*
 * Copies the database at target into out_path, consistent as of the start
 * of the copy, while other connections and processes go on reading and
 * writing. The copy is verified (PRAGMA integrity_check, a formd schema)
 * before it is renamed into place. info (may be NULL) is filled on success.
 * Fails with FMD_ECONFLICT when out_path exists and flags lacks
 * DB_BACKUP_FORCE, FMD_EINVAL for a target that is not a SQLite file or a
 * database formd did not make, FMD_EBUSY while a restore holds the database,
 * FMD_EIO for files that cannot be read or written, FMD_EDB when the copy
 * does not verify.
 */
int db_backup(const char *target, const char *out_path, unsigned flags,
              db_backup_progress progress, void *arg, struct db_backup_info *info,
              struct fmd_err *err);

/*
 * Checks the file at path without changing it: a SQLite database that
 * passes PRAGMA integrity_check, with formd's schema_migrations table at a
 * version from 1 to the newest this binary knows (*version, may be NULL,
 * gets it). FMD_EINVAL, naming the file and what is wrong, otherwise.
 */
int db_backup_verify(const char *path, int *version, struct fmd_err *err);

/*
 * Replaces the database at target by a copy of the backup at from, brought
 * up to this binary's newest migration. The caller holds target's
 * exclusive lock (db_lock_exclusive): no process may use the database
 * meanwhile. The database replaced is kept as "<target>.replaced-YYYYMMDDTHHMMSSZ" (UTC)
 * (a hard link: no copy, no extra space until it is deleted); its name goes
 * into replaced (cap bytes; "" when there was none). A crash at any point
 * leaves the old database or the new one, whole. info (may be NULL) gets the
 * backup's version (before migrating), size and time. Errors as db_backup's;
 * a bad backup is refused before anything in target's directory changes.
 */
int db_restore(const char *target, const char *from, db_backup_progress progress, void *arg,
               char *replaced, size_t cap, struct db_backup_info *info, struct fmd_err *err);

/*
 * PostgreSQL (backup_pg.c), through pg_dump, pg_restore and psql of
 * Debian's postgresql-client, found on PATH. db_backup calls db_pg_backup
 * for a postgres:// target: a pg_dump custom-format archive (-Fc) of one
 * snapshot, written beside out_path, checked with pg_restore --list and
 * renamed into place; pg_dump's major version must be at least the
 * server's (FMD_EINVAL saying which to install). db_pg_dump_verify checks
 * an archive without changing anything: FMD_EINVAL unless pg_restore reads
 * it whole and it holds formd's schema_migrations. db_pg_restore replaces
 * everything formd keeps in the database by the archive's content in one
 * transaction (nothing changes on any failure), refusing with FMD_EBUSY
 * while other formd processes are connected (pg_stat_activity,
 * application_name "formd") unless flags has DB_BACKUP_FORCE; the caller
 * migrates the result up afterwards. info: the archive's size, the
 * restored schema version, the time taken.
 */
int db_pg_backup(const char *url, const char *out_path, unsigned flags,
                 struct db_backup_info *info, struct fmd_err *err);
int db_pg_dump_verify(const char *path, struct fmd_err *err);
int db_pg_restore(const char *url, const char *from, unsigned flags,
                  struct db_backup_info *info, struct fmd_err *err);

#endif
