/*
 * audit.h - the audit log: one row per management action, append only.
 *
 * A row says who (actor kind, id, name, client address), what (action such
 * as "form.publish", target type and id, project), when (at, Unix ms), how
 * it ended (the HTTP status and "ok", "denied" or "failed"), under which
 * request id, and a small JSON detail. Rows are never changed nor deleted:
 * triggers on the table refuse UPDATE and DELETE on both engines, so not
 * even a bug in formd or a hand-typed statement can rewrite history.
 *
 * Never store secrets nor submission data in a row: the detail is for ids,
 * names and counts.
 */
#ifndef FMD_STORE_AUDIT_H
#define FMD_STORE_AUDIT_H

#include <jansson.h>
#include <stdint.h>

#include "core/id.h"
#include "db/db.h"

/* One event; every string may be NULL but actor_kind, action and outcome. */
struct store_audit_event {
    int64_t at;                 /* Unix ms; 0 means now */
    const char *actor_kind;     /* key, session, cli, system, anonymous */
    const char *actor_id;
    const char *actor_name;
    const char *client;         /* the peer's address */
    const char *request_id;
    const char *action;         /* "form.publish" */
    const char *target_type;    /* "form" */
    const char *target_id;
    const char *project_id;
    int status;                 /* HTTP status; for the CLI 0 (ok) or 1 (failed) */
    const char *outcome;        /* ok, denied, failed */
    const char *detail;         /* a JSON object as text, small, or NULL */
};

/* Appends e with a new id, in the caller's transaction if any: 0 or FMD_E*. */
int store_audit_append(struct db *db, const struct store_audit_event *e, struct fmd_err *err);

/*
 * Appends a row for a command-line action: actor kind "cli", the operating
 * system's user as name, outcome ok or failed (status 0 or 1).
 */
int store_audit_cli(struct db *db, const char *action, const char *target_type,
                    const char *target_id, int failed, const char *detail,
                    struct fmd_err *err);

/* What to list: NULL / 0 members do not filter. */
struct store_audit_filter {
    const char *actor;          /* actor id or actor name */
    const char *action;         /* exact, or a prefix when it ends with '*' ("form.*") */
    const char *target;         /* target id */
    const char *project;        /* project id */
    const char *outcome;
    int64_t since, until;       /* at >= since, at < until (Unix ms) */
};

/* {items, next_cursor}, newest first, rows after cursor (a row id). */
int store_audit_list(struct db *db, const struct store_audit_filter *f, const char *cursor,
                     int limit, json_t **page, struct fmd_err *err);
/*
 * Calls fn with each matching row as JSON (borrowed: fn must not keep it),
 * newest first, without holding them all in memory. fn's non-zero result
 * stops the walk and is returned.
 */
int store_audit_each(struct db *db, const struct store_audit_filter *f,
                     int (*fn)(void *arg, json_t *row), void *arg, struct fmd_err *err);

#endif
