/*
 * audit.c - the audit_log table (audit.h).
 *
 * Ids are time-ordered and made when the row is written, so "newest first"
 * is ORDER BY id DESC and the id doubles as the page cursor. The filters are
 * bound as parameters that are NULL (or 0) when absent, so one statement
 * serves every combination and stays in the statement cache.
 */
#include "store/audit.h"

#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/mem.h"
#include "db/rows.h"
#include "core/banned.h"

int store_audit_append(struct db *db, const struct store_audit_event *e, struct fmd_err *err)
{
    struct db_stmt *st;
    char id[ID_LEN + 1];
    int rc = db_prepare(db,
                        "INSERT INTO audit_log (id, at, actor_kind, actor_id, actor_name, client,"
                        " request_id, action, target_type, target_id, project_id, status,"
                        " outcome, detail) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                        &st, err);
    if (rc)
        return rc;
    id_new(id);
    db_bind_text(st, 1, id);
    db_bind_int(st, 2, e->at ? e->at : clock_wall_ms());
    db_bind_text(st, 3, e->actor_kind);
    db_bind_text(st, 4, e->actor_id && *e->actor_id ? e->actor_id : NULL);
    db_bind_text(st, 5, e->actor_name && *e->actor_name ? e->actor_name : NULL);
    db_bind_text(st, 6, e->client && *e->client ? e->client : NULL);
    db_bind_text(st, 7, e->request_id && *e->request_id ? e->request_id : NULL);
    db_bind_text(st, 8, e->action);
    db_bind_text(st, 9, e->target_type && *e->target_type ? e->target_type : NULL);
    db_bind_text(st, 10, e->target_id && *e->target_id ? e->target_id : NULL);
    db_bind_text(st, 11, e->project_id && *e->project_id ? e->project_id : NULL);
    db_bind_int(st, 12, e->status);
    db_bind_text(st, 13, e->outcome);
    db_bind_text(st, 14, e->detail);
    return rows_exec(st, err);
}

/* The effective user's login name, or its number when it has none. */
static void os_user(char *out, size_t cap)
{
    struct passwd pw, *found = NULL;
    char buf[1024];

    if (!getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &found) && found && found->pw_name)
        fmd_strlcpy(out, found->pw_name, cap);
    else
        snprintf(out, cap, "uid %ld", (long)geteuid());
}

int store_audit_cli(struct db *db, const char *action, const char *target_type,
                    const char *target_id, int failed, const char *detail,
                    struct fmd_err *err)
{
    struct store_audit_event e = {0};
    char user[128], uid[32];

    os_user(user, sizeof(user));
    snprintf(uid, sizeof(uid), "%ld", (long)geteuid());
    e.actor_kind = "cli";
    e.actor_id = uid;
    e.actor_name = user;
    e.action = action;
    e.target_type = target_type;
    e.target_id = target_id;
    e.status = failed ? 1 : 0;
    e.outcome = failed ? "failed" : "ok";
    e.detail = detail;
    return store_audit_append(db, &e, err);
}

static json_t *audit_row(struct db_stmt *st)
{
    return json_pack("{s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:I, s:s, s:o}",
                     "id", db_col_text(st, 0),
                     "at", rows_time(db_col_int(st, 1)),
                     "actor_kind", db_col_text(st, 2),
                     "actor_id", rows_str_or_null(st, 3),
                     "actor_name", rows_str_or_null(st, 4),
                     "client", rows_str_or_null(st, 5),
                     "request_id", rows_str_or_null(st, 6),
                     "action", db_col_text(st, 7),
                     "target_type", rows_str_or_null(st, 8),
                     "target_id", rows_str_or_null(st, 9),
                     "project_id", rows_str_or_null(st, 10),
                     "status", (json_int_t)db_col_int(st, 11),
                     "outcome", db_col_text(st, 12),
                     "detail", rows_json(st, 13));
}

/* The one query behind the list and the export: $9 the cursor, $10 the limit. */
static int prepare_query(struct db *db, const struct store_audit_filter *f, const char *cursor,
                         int64_t limit, struct db_stmt **st, struct fmd_err *err)
{
    const char *action = f->action, *prefix = NULL;
    size_t n = action ? strlen(action) : 0;
    char *p = NULL;
    int rc = db_prepare(
        db,
        "SELECT id, at, actor_kind, actor_id, actor_name, client, request_id, action,"
        " target_type, target_id, project_id, status, outcome, detail FROM audit_log "
        "WHERE (CAST($1 AS TEXT) IS NULL OR actor_id = $1 OR actor_name = $1)"
        " AND (CAST($2 AS TEXT) IS NULL OR action = $2)"
        " AND (CAST($3 AS TEXT) IS NULL OR substr(action, 1, length($3)) = $3)"
        " AND (CAST($4 AS TEXT) IS NULL OR target_id = $4)"
        " AND (CAST($5 AS TEXT) IS NULL OR project_id = $5)"
        " AND (CAST($6 AS TEXT) IS NULL OR outcome = $6)"
        " AND (CAST($7 AS BIGINT) = 0 OR at >= $7)"
        " AND (CAST($8 AS BIGINT) = 0 OR at < $8)"
        " AND (CAST($9 AS TEXT) IS NULL OR id < $9) "
        "ORDER BY id DESC LIMIT $10",
        st, err);
    if (rc)
        return rc;
    if (n && action[n - 1] == '*') {
        if (!(p = fmd_strdup(action))) {
            db_done(*st);
            return fmd_errf(err, FMD_ENOMEM, "out of memory");
        }
        p[n - 1] = '\0';
        prefix = p;
        action = NULL;
    }
    db_bind_text(*st, 1, f->actor);
    db_bind_text(*st, 2, action);
    db_bind_text(*st, 3, prefix);
    db_bind_text(*st, 4, f->target);
    db_bind_text(*st, 5, f->project);
    db_bind_text(*st, 6, f->outcome);
    db_bind_int(*st, 7, f->since);
    db_bind_int(*st, 8, f->until);
    db_bind_text(*st, 9, cursor);
    db_bind_int(*st, 10, limit);
    fmd_free(p);    /* bound text is copied */
    return 0;
}

int store_audit_list(struct db *db, const struct store_audit_filter *f, const char *cursor,
                     int limit, json_t **page, struct fmd_err *err)
{
    struct db_stmt *st;
    int rc = prepare_query(db, f, cursor, (int64_t)limit + 1, &st, err);
    if (rc)
        return rc;
    return rows_page(st, limit, audit_row, page, err);
}

int store_audit_each(struct db *db, const struct store_audit_filter *f,
                     int (*fn)(void *arg, json_t *row), void *arg, struct fmd_err *err)
{
    struct db_stmt *st;
    json_t *row;
    int rc = prepare_query(db, f, NULL, INT64_MAX, &st, err);

    if (rc)
        return rc;
    while ((rc = db_step(st, err)) == 1) {
        if (!(row = audit_row(st))) {
            rc = fmd_errf(err, FMD_ENOMEM, "out of memory");
            break;
        }
        rc = fn(arg, row);
        json_decref(row);
        if (rc)
            break;
    }
    db_done(st);
    return rc;
}
