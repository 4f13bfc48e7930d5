/* health.c - the readiness row. */
#include "store/health.h"

#include "db/rows.h"
#include "core/banned.h"

int store_health_touch(struct db *db, int64_t now, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = db_prepare(db,
                        "INSERT INTO health_checks (id, checked_at) VALUES (1, $1) "
                        "ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                        &st, err);
    if (rc)
        return rc;
    db_bind_int(st, 1, now);
    return rows_exec(st, err);
}
