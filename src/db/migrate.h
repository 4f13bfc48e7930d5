/*
 * migrate.h - versioned, reversible schema migrations.
 *
 * Each migration has an up and a down script and runs in its own
 * transaction together with the row in schema_migrations that records it,
 * so a crash leaves the schema at one version or the next, never between.
 */
#ifndef FMD_DB_MIGRATE_H
#define FMD_DB_MIGRATE_H

#include "db/db.h"

struct migration {
    int version;
    const char *name;
    const char *up;
    const char *down;
};

/* SQLite's (migrations.c) and PostgreSQL's (migrations_pg.c): the same versions. */
extern const struct migration db_migrations[];
extern const int db_migrations_count;
extern const struct migration db_migrations_pg[];
extern const int db_migrations_pg_count;

/* Applies every pending migration up to target (-1: the newest). */
int migrate_up(struct db *db, int target, struct fmd_err *err);
/* Reverts migrations above target (target >= 0). */
int migrate_down(struct db *db, int target, struct fmd_err *err);
/* The version the database is at (0: empty). */
int migrate_current(struct db *db, int *version, struct fmd_err *err);

#endif
