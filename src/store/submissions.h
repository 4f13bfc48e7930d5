/*
 * submissions.h - submissions, their review state and edit history.
 *
 * data is the submitted JSON as text. An edit moves the previous data into
 * submission_history under its revision and bumps the revision. Soft delete
 * sets deleted_at; purge removes the row and its history.
 */
#ifndef FMD_STORE_SUBMISSIONS_H
#define FMD_STORE_SUBMISSIONS_H

#include <jansson.h>
#include <stdint.h>

#include "core/id.h"
#include "db/db.h"

struct store_submission_new {
    char id[ID_LEN + 1];
    const char *form_id;
    int form_version;
    const char *data;              /* JSON text */
    const char *idempotency_key;   /* may be NULL */
    const char *body_hash;         /* hex SHA-256 of the request body */
    int64_t created_at;
    int spam;                      /* 1: marked as spam (honeypot, fill time) */
};

struct store_submission_filter {
    const char *status;            /* NULL: any */
    int64_t created_after;         /* used when has_after */
    int64_t created_before;        /* used when has_before */
    int has_after, has_before;
    int include_deleted;
    enum { SPAM_EXCLUDE = 0, SPAM_INCLUDE, SPAM_ONLY } spam;
    const char *cursor;
    int limit;
};

int store_submission_insert(struct db *db, const struct store_submission_new *s,
                            struct fmd_err *err);
/*
 * The submission stored earlier under (form_id, key): 0 with its id, body
 * hash, version and creation time, or FMD_ENOTFOUND.
 */
int store_submission_by_key(struct db *db, const char *form_id, const char *key,
                            char id[ID_LEN + 1], char hash[65], int *version,
                            int64_t *created_at, struct fmd_err *err);
/* The submission as the API shows it; *form_id filled when not NULL. */
int store_submission_get(struct db *db, const char *id, json_t **out,
                         char form_id[ID_LEN + 1], struct fmd_err *err);
int store_submission_list(struct db *db, const char *form_id,
                          const struct store_submission_filter *f, json_t **page,
                          struct fmd_err *err);
/* The form and version a submission belongs to, and whether it is deleted. */
int store_submission_owner(struct db *db, const char *id, char form_id[ID_LEN + 1],
                           int *version, int *deleted, struct fmd_err *err);
int store_submission_review(struct db *db, const char *id, const char *status,
                            const char *by, const char *note, struct fmd_err *err);
int store_submission_edit(struct db *db, const char *id, const char *data, const char *by,
                          struct fmd_err *err);
int store_submission_set_deleted(struct db *db, const char *id, int deleted,
                                 struct fmd_err *err);
/* *spam: 1 if the submission is marked as spam, else 0. FMD_ENOTFOUND. */
int store_submission_is_spam(struct db *db, const char *id, int *spam, struct fmd_err *err);
/* Marks a submission as spam (1) or not (0). FMD_ENOTFOUND. */
int store_submission_set_spam(struct db *db, const char *id, int spam, struct fmd_err *err);
/*
 * How many submissions (spam included) the form got after since_ms, and
 * the creation time of the oldest of them (0 when none).
 */
int store_submission_count_since(struct db *db, const char *form_id, int64_t since_ms,
                                 int64_t *count, int64_t *oldest, struct fmd_err *err);
/* The secret the fill tokens' key comes from (migration 10) into out; FMD_ENOTFOUND. */
int store_spam_secret(struct db *db, char *out, size_t cap, struct fmd_err *err);
int store_submission_purge(struct db *db, const char *id, struct fmd_err *err);
/*
 * Calls fn with each non-empty text answer (of field, or of any top-level
 * field when field is NULL) of the form's live submissions created in
 * [from, to] (to 0: no end), newest first, at most limit of them. fn's
 * nonzero result stops the walk and is returned. Sealed sensitive values
 * (strings starting "enc:v1:", store/sensitive.h) are left out.
 */
int store_submission_texts(struct db *db, const char *form_id, const char *field, int64_t from,
                           int64_t to, int limit,
                           int (*fn)(void *arg, const char *text, size_t len), void *arg,
                           struct fmd_err *err);
/* {items: [{revision, data, edited_by, edited_at}]} oldest first. */
int store_submission_history(struct db *db, const char *id, json_t **out,
                             struct fmd_err *err);

#endif
