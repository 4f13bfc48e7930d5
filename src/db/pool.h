/*
 * pool.h - read connections shared by request threads.
 *
 * A thread takes a connection for the length of one request and gives it
 * back; the pool grows on demand and keeps up to a fixed number idle.
 * Writes never go through the pool: they go to the writer (writer.h).
 */
#ifndef FMD_DB_POOL_H
#define FMD_DB_POOL_H

#include "db/db.h"

struct db_pool;

int db_pool_new(const char *target, struct db_pool **out, struct fmd_err *err);
void db_pool_free(struct db_pool *p);
/* A connection for this thread's exclusive use until db_pool_put. */
int db_pool_get(struct db_pool *p, struct db **out, struct fmd_err *err);
void db_pool_put(struct db_pool *p, struct db *db);

#endif
