/* db_int.h - what every driver's connection starts with. */
#ifndef FMD_DB_DB_INT_H
#define FMD_DB_DB_INT_H

#include "db/db.h"

struct db {
    const struct db_driver *drv;
};

struct db_stmt {
    struct db *db;
};

#endif
