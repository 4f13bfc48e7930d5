/*
 * webhooks.h - webhooks per form and their delivery log, in the database.
 *
 * events is a JSON array of event names ("submission.created", ...).
 */
#ifndef FMD_STORE_WEBHOOKS_H
#define FMD_STORE_WEBHOOKS_H

#include <jansson.h>
#include <stdint.h>

#include "core/id.h"
#include "db/db.h"

struct store_webhook {
    char id[ID_LEN + 1];
    char form_id[ID_LEN + 1];
    char url[2048];
    char secret[96];
};

struct store_delivery {
    const char *webhook_id;
    const char *message_id;
    const char *task_id;
    const char *event;
    int attempt;
    int status;              /* HTTP status, 0 when none came back */
    const char *error;       /* NULL on success */
    int64_t duration_ms;
    const char *response;    /* the first bytes of the answer, or NULL */
};

int store_webhook_insert(struct db *db, const char *id, const char *form_id, const char *url,
                         const char *events_json, const char *secret, struct fmd_err *err);
/* Webhook as the API shows it (never the secret); *form_id filled. */
int store_webhook_json(struct db *db, const char *id, json_t **out, char form_id[ID_LEN + 1],
                       struct fmd_err *err);
int store_webhook_get(struct db *db, const char *id, struct store_webhook *w,
                      struct fmd_err *err);
/* {items: [...]} of a form's webhooks. */
int store_webhook_list(struct db *db, const char *form_id, json_t **out, struct fmd_err *err);
int store_webhook_delete(struct db *db, const char *id, struct fmd_err *err);
/*
 * Calls fn for each webhook of form_id subscribed to event, inside the
 * caller's transaction. fn's non-zero result stops the walk and is returned.
 */
int store_webhooks_each(struct db *db, const char *form_id, const char *event,
                        int (*fn)(void *arg, const char *webhook_id), void *arg,
                        struct fmd_err *err);
int store_delivery_insert(struct db *db, const struct store_delivery *d, struct fmd_err *err);
/* {items: [...], next_cursor} newest first. */
int store_delivery_list(struct db *db, const char *webhook_id, const char *cursor, int limit,
                        json_t **page, struct fmd_err *err);

#endif
