/* health.h - the write that proves the database takes commits. */
#ifndef FMD_STORE_HEALTH_H
#define FMD_STORE_HEALTH_H

#include <stdint.h>

#include "db/db.h"

/* Rewrites the single health row with now; 0 or the database's error. */
int store_health_touch(struct db *db, int64_t now, struct fmd_err *err);

#endif
