/*
 * migrations.c - the schema, one reversible step at a time.
 *
 * Written once for both engines: TEXT ids (ULIDs), INTEGER milliseconds
 * since the epoch for times, TEXT JSON documents. Never edit a migration
 * that has shipped; add the next one.
 */
#include "db/migrate.h"
#include "core/banned.h"

static const char m1_up[] =
    "CREATE TABLE projects ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE users ("
    "  id TEXT PRIMARY KEY,"
    "  email TEXT NOT NULL UNIQUE,"
    "  password_hash TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  disabled_at INTEGER);"
    /* A role on every project (project_id NULL) or on one. */
    "CREATE TABLE memberships ("
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,"
    "  role TEXT NOT NULL CHECK (role IN ('admin','editor','reviewer','viewer')),"
    "  UNIQUE (user_id, project_id));"
    "CREATE TABLE api_keys ("
    "  id TEXT PRIMARY KEY,"
    "  prefix TEXT NOT NULL UNIQUE,"
    "  secret_hash TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('admin','editor','reviewer','viewer')),"
    "  project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,"
    "  created_at INTEGER NOT NULL,"
    "  revoked_at INTEGER);"
    "CREATE TABLE sessions ("
    "  token_hash TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL);"
    "CREATE INDEX sessions_expiry ON sessions(expires_at);"
    "CREATE TABLE forms ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  slug TEXT NOT NULL UNIQUE,"
    "  status TEXT NOT NULL CHECK (status IN ('draft','open','closed')),"
    "  draft_version INTEGER NOT NULL,"
    "  published_version INTEGER,"
    "  submission_limit INTEGER,"
    "  submission_count INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX forms_project ON forms(project_id, id);"
    "CREATE TABLE form_versions ("
    "  form_id TEXT NOT NULL REFERENCES forms(id) ON DELETE CASCADE,"
    "  version INTEGER NOT NULL,"
    "  schema TEXT NOT NULL,"
    "  fields TEXT,"
    "  ui TEXT,"
    "  settings TEXT NOT NULL DEFAULT '{}',"
    "  created_at INTEGER NOT NULL,"
    "  published_at INTEGER,"
    "  PRIMARY KEY (form_id, version));"
    "CREATE TABLE submissions ("
    "  id TEXT PRIMARY KEY,"
    "  form_id TEXT NOT NULL REFERENCES forms(id) ON DELETE CASCADE,"
    "  form_version INTEGER NOT NULL,"
    "  data TEXT NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'new'"
    "    CHECK (status IN ('new','approved','rejected','needs_changes')),"
    "  reviewed_by TEXT,"
    "  reviewed_at INTEGER,"
    "  review_note TEXT,"
    "  revision INTEGER NOT NULL DEFAULT 1,"
    "  idempotency_key TEXT,"
    "  body_hash TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  deleted_at INTEGER,"
    "  UNIQUE (form_id, idempotency_key));"
    "CREATE INDEX submissions_form ON submissions(form_id, id);"
    "CREATE TABLE submission_history ("
    "  submission_id TEXT NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,"
    "  revision INTEGER NOT NULL,"
    "  data TEXT NOT NULL,"
    "  edited_by TEXT,"
    "  edited_at INTEGER NOT NULL,"
    "  PRIMARY KEY (submission_id, revision));";

static const char m1_down[] =
    "DROP TABLE submission_history;"
    "DROP TABLE submissions;"
    "DROP TABLE form_versions;"
    "DROP TABLE forms;"
    "DROP TABLE sessions;"
    "DROP TABLE api_keys;"
    "DROP TABLE memberships;"
    "DROP TABLE users;"
    "DROP TABLE projects;";

/* One row that /readyz rewrites, so readiness proves a commit reaches the disk. */
static const char m2_up[] =
    "CREATE TABLE health_checks ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  checked_at INTEGER NOT NULL);";

static const char m2_down[] = "DROP TABLE health_checks;";

/*
 * The task queue. A task may run when its state is available, scheduled or
 * retryable and run_at has passed; claiming sets running, counts the
 * attempt and takes a lease. tasks_claim serves the claim query (one queue,
 * runnable states, highest priority, oldest run_at); tasks_unique makes a
 * unique key exclusive only while a task holding it is still pending.
 */
static const char m3_up[] =
    "CREATE TABLE queues ("
    "  name TEXT PRIMARY KEY,"
    "  paused INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO queues (name) VALUES ('critical'), ('high'), ('default'), ('low');"
    "CREATE TABLE tasks ("
    "  id TEXT PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  queue TEXT NOT NULL,"
    "  priority INTEGER NOT NULL DEFAULT 0,"
    "  payload TEXT NOT NULL DEFAULT '{}',"
    "  state TEXT NOT NULL CHECK (state IN ('scheduled','available','running','retryable',"
    "    'completed','discarded','cancelled')),"
    "  run_at INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL DEFAULT 0,"
    "  max_attempts INTEGER NOT NULL DEFAULT 20,"
    "  lease_until INTEGER,"
    "  worker TEXT,"
    "  unique_key TEXT,"
    "  project_id TEXT,"
    "  progress REAL,"
    "  result TEXT,"
    "  error TEXT,"
    "  trace_id TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  finished_at INTEGER);"
    "CREATE INDEX tasks_claim ON tasks(queue, priority DESC, run_at) "
    "  WHERE state IN ('available','scheduled','retryable');"
    "CREATE INDEX tasks_running ON tasks(lease_until) WHERE state = 'running';"
    "CREATE INDEX tasks_finished ON tasks(finished_at) "
    "  WHERE state IN ('completed','discarded','cancelled');"
    "CREATE UNIQUE INDEX tasks_unique ON tasks(unique_key) WHERE unique_key IS NOT NULL "
    "  AND state IN ('scheduled','available','running','retryable');";

static const char m3_down[] = "DROP TABLE tasks; DROP TABLE queues;";

/*
 * Webhooks per form and the log of every delivery attempt. The secret is
 * kept because every delivery is signed with it (it is shown once, at
 * creation). message_id is the Standard Webhooks webhook-id: one per
 * event and webhook, the same on every attempt, so receivers deduplicate.
 */
static const char m4_up[] =
    "CREATE TABLE webhooks ("
    "  id TEXT PRIMARY KEY,"
    "  form_id TEXT NOT NULL REFERENCES forms(id) ON DELETE CASCADE,"
    "  url TEXT NOT NULL,"
    "  events TEXT NOT NULL,"
    "  secret TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX webhooks_form ON webhooks(form_id);"
    "CREATE TABLE webhook_deliveries ("
    "  id TEXT PRIMARY KEY,"
    "  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,"
    "  message_id TEXT NOT NULL,"
    "  task_id TEXT,"
    "  event TEXT NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  status INTEGER,"
    "  error TEXT,"
    "  duration_ms INTEGER NOT NULL,"
    "  response TEXT,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);";

static const char m4_down[] = "DROP TABLE webhook_deliveries; DROP TABLE webhooks;";

/*
 * Periodic tasks: each row is a cron schedule that enqueues a task. The
 * scheduler advances next_run_at in the same transaction as the enqueue,
 * so of any number of schedulers exactly one enqueues each tick.
 */
static const char m5_up[] =
    "CREATE TABLE periodic_tasks ("
    "  name TEXT PRIMARY KEY,"
    "  cron TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  queue TEXT NOT NULL,"
    "  payload TEXT NOT NULL DEFAULT '{}',"
    "  next_run_at INTEGER NOT NULL,"
    "  last_run_at INTEGER,"
    "  last_task_id TEXT);";

static const char m5_down[] = "DROP TABLE periodic_tasks;";

const struct migration db_migrations[] = {
    {1, "initial schema: projects, users, keys, sessions, forms, submissions", m1_up, m1_down},
    {2, "health_checks: the row /readyz writes", m2_up, m2_down},
    {3, "task queue: tasks and queues", m3_up, m3_down},
    {4, "webhooks and their delivery log", m4_up, m4_down},
    {5, "periodic tasks", m5_up, m5_down},
};

const int db_migrations_count = sizeof(db_migrations) / sizeof(db_migrations[0]);
