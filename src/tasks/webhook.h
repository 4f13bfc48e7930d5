/*
 * webhook.h - webhook events and their delivery.
 *
 * webhook_enqueue_event runs inside the transaction of the change that
 * causes the event: one delivery task per subscribed webhook, committed
 * with the change or not at all. Each task carries the whole message (body
 * and a message id made at enqueue), so every attempt sends the same event
 * under the same webhook-id and receivers can deduplicate.
 *
 * webhook_deliver signs the message per Standard Webhooks and POSTs it with
 * libcurl to an address checked against SSRF rules (pinned, so DNS cannot
 * change it between check and connect; redirects are not followed).
 * 2xx is done; network errors, timeouts, 408, 429 (Retry-After honoured)
 * and 5xx are retried; any other answer is final. Every attempt is logged.
 */
#ifndef FMD_TASKS_WEBHOOK_H
#define FMD_TASKS_WEBHOOK_H

#include <jansson.h>

#include "db/db.h"
#include "queue/worker.h"

#define WEBHOOK_TASK_KIND "webhook.deliver"

/* 1 if name is an event formd emits ("submission.created", ...). */
int webhook_event_valid(const char *name);
/* The event names, NULL-terminated. */
extern const char *const webhook_events[];

/*
 * Inside a write transaction: enqueues a delivery of event (with data,
 * borrowed) to each webhook of form_id subscribed to it.
 */
int webhook_enqueue_event(struct db *db, const char *form_id, const char *project_id,
                          const char *event, const json_t *data, struct fmd_err *err);

/*
 * Inside a write transaction: the event for one submission, whose current
 * row (read in the same transaction, so before a purge for
 * submission.purged) is the event's data. Costs one query when no webhook
 * listens.
 */
int webhook_submission_event(struct db *db, const char *project_id, const char *form_id,
                             const char *event, const char *submission_id, struct fmd_err *err);

/* The queue handler for WEBHOOK_TASK_KIND. */
int webhook_deliver(struct queue_run *run);

#endif
