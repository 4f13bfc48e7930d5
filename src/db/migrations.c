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

/*
 * The change log the analytics ETL (src/analytics/etl.c) reads: one row per
 * insert, update or delete of a submission, written by triggers in the
 * transaction of the change itself, so every path (the store, a form's ON
 * DELETE CASCADE, a purge, a hand-written UPDATE) is captured, and a change
 * is logged if and only if it commits.
 *
 * The ETL keeps a watermark, the last seq it copied, and reads seq > it. That
 * is safe because seq order is commit order here: SQLite has one writer, so
 * a transaction that takes seq N has committed (or rolled back, taking its
 * numbers with it) before the next one can take N + 1, and a reader never
 * sees N + 1 without N. On PostgreSQL this does not hold (sequence values
 * are taken at insert, transactions commit in another order, and a reader can
 * see 12 before 11 commits): it will need another scheme, such as
 * pg_current_xact_id() with pg_snapshot_xmin() as the safe bound.
 *
 * seq is the rowid without AUTOINCREMENT (AUTOINCREMENT would create
 * sqlite_sequence, a table no down step can drop). SQLite gives a new row
 * the largest rowid plus one, so numbers only grow as long as the newest
 * row is never deleted: etl_prune always keeps it.
 *
 * at is the wall time of the change, in milliseconds, for the ETL's lag.
 * The backfill logs every submission already there, so a first sync copies
 * them all.
 */
static const char m6_up[] =
    "CREATE TABLE submission_changes ("
    "  seq INTEGER PRIMARY KEY,"
    "  submission_id TEXT NOT NULL,"
    "  form_id TEXT NOT NULL,"
    "  at INTEGER NOT NULL);"
    "CREATE TRIGGER submission_changes_insert AFTER INSERT ON submissions BEGIN"
    "  INSERT INTO submission_changes (submission_id, form_id, at) VALUES (NEW.id, NEW.form_id,"
    "    CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));"
    "  END;"
    "CREATE TRIGGER submission_changes_update AFTER UPDATE ON submissions BEGIN"
    "  INSERT INTO submission_changes (submission_id, form_id, at) VALUES (NEW.id, NEW.form_id,"
    "    CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));"
    /* An id or form_id rewritten by hand: the old row is gone from its form. */
    "  INSERT INTO submission_changes (submission_id, form_id, at)"
    "    SELECT OLD.id, OLD.form_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
    "    WHERE OLD.id IS NOT NEW.id OR OLD.form_id IS NOT NEW.form_id;"
    "  END;"
    "CREATE TRIGGER submission_changes_delete AFTER DELETE ON submissions BEGIN"
    "  INSERT INTO submission_changes (submission_id, form_id, at) VALUES (OLD.id, OLD.form_id,"
    "    CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));"
    "  END;"
    "INSERT INTO submission_changes (submission_id, form_id, at)"
    "  SELECT id, form_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
    "  FROM submissions ORDER BY form_id, id;";

static const char m6_down[] =
    "DROP TRIGGER submission_changes_delete;"
    "DROP TRIGGER submission_changes_update;"
    "DROP TRIGGER submission_changes_insert;"
    "DROP TABLE submission_changes;";

/*
 * Exports of a form's submissions (store/exports.h): asked for through the
 * API, made by a task, downloadable until expires_at. The partial index
 * keeps the cleanup's search for expired files cheap.
 */
static const char m7_up[] =
    "CREATE TABLE exports ("
    "  id TEXT PRIMARY KEY,"
    "  form_id TEXT NOT NULL REFERENCES forms(id) ON DELETE CASCADE,"
    "  project_id TEXT NOT NULL,"
    "  format TEXT NOT NULL CHECK (format IN ('csv','jsonl','parquet','xlsx')),"
    "  options TEXT NOT NULL DEFAULT '{}',"
    "  task_id TEXT NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending'"
    "    CHECK (state IN ('pending','ready','failed','expired')),"
    "  file TEXT,"
    "  rows INTEGER,"
    "  bytes INTEGER,"
    "  error TEXT,"
    "  created_by TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  finished_at INTEGER,"
    "  expires_at INTEGER);"
    "CREATE INDEX exports_form ON exports(form_id, id);"
    "CREATE INDEX exports_expiry ON exports(expires_at) WHERE state = 'ready';";

static const char m7_down[] = "DROP TABLE exports;";

/* Results of AI completions by key (store/ai_cache.h); created_at for pruning. */
static const char m8_up[] =
    "CREATE TABLE ai_cache ("
    "  key TEXT PRIMARY KEY,"
    "  task TEXT NOT NULL,"
    "  model TEXT NOT NULL,"
    "  result TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX ai_cache_age ON ai_cache(created_at);";

static const char m8_down[] = "DROP TABLE ai_cache;";

/*
 * task_runs: the lease history, one row per claim of a task (queue/queue.h),
 * once that run has ended. Triggers keep it, so every path that ends a run
 * (complete, fail, release, reap, cancel, a hand-made UPDATE) records it
 * without one more statement in the queue's code, and rows go with their
 * task (queue_prune). outcome: completed, failed (to be retried), discarded,
 * released (given back, the attempt undone), expired (the lease ran out: the
 * worker stopped), cancelled; the reaper's error text tells an expiry from a
 * failure.
 *
 * Here a run is written once, as it ends: started_at is the claim's time
 * (tasks.updated_at, which only the claim and the end of a run move),
 * ended_at the clock at the end; the run under way is the task row itself
 * (queue_task_json shows both). One INSERT per run keeps the hot path of the
 * single writer cheap; every process on a SQLite file shares one clock.
 * PostgreSQL's m9 writes the row at the claim and closes it at the end, with
 * the database's clock, so that runs on different machines compare.
 */
static const char m9_up[] =
    "CREATE TABLE task_runs ("
    "  task_id TEXT NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  worker TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  ended_at INTEGER,"
    "  outcome TEXT);"
    "CREATE INDEX task_runs_task ON task_runs(task_id, started_at);"
    "CREATE TRIGGER task_runs_end AFTER UPDATE OF state ON tasks"
    "  WHEN OLD.state = 'running' AND NEW.state <> 'running' BEGIN"
    "  INSERT INTO task_runs (task_id, attempt, worker, started_at, ended_at, outcome)"
    "  VALUES (OLD.id, OLD.attempt, COALESCE(OLD.worker, ''), OLD.updated_at,"
    "    CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),"
    "    CASE"
    "      WHEN NEW.state IN ('retryable','discarded') AND NEW.error LIKE 'lease expired%'"
    "        THEN 'expired'"
    "      WHEN NEW.state = 'retryable' THEN 'failed'"
    "      WHEN NEW.state = 'available' THEN 'released'"
    "      ELSE NEW.state END);"
    "  END;"
    "CREATE TRIGGER task_runs_delete AFTER DELETE ON tasks BEGIN"
    "  DELETE FROM task_runs WHERE task_id = OLD.id;"
    "  END;";

static const char m9_down[] =
    "DROP TRIGGER task_runs_delete;"
    "DROP TRIGGER task_runs_end;"
    "DROP TABLE task_runs;";

/*
 * Spam protection and per-form quotas (api/limits.c, api/public.c).
 * submissions.spam: 1 for a submission a honeypot or the fill time marked
 * as spam; such rows are kept but left out of webhooks, analytics, exports
 * and lists unless asked for. A form's count over the last 24 hours
 * (settings.quota_per_day) is a range of submissions_form (form_id, id),
 * since ids begin with their time (store_submission_count_since): an index
 * of its own cost every insert about 12% on SQLite (bench/scale.sh).
 * spam_keys holds the secret the fill tokens' MAC key is derived from, made
 * once here so that every API node and every restart agree.
 */
static const char m10_up[] =
    "ALTER TABLE submissions ADD COLUMN spam INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE spam_keys ("
    "  name TEXT PRIMARY KEY,"
    "  secret TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "INSERT INTO spam_keys (name, secret, created_at) VALUES ('fill_token',"
    "  lower(hex(randomblob(32))),"
    "  CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));";

static const char m10_down[] =
    "DROP TABLE spam_keys;"
    "ALTER TABLE submissions DROP COLUMN spam;";

/*
 * m11: API key expiry and last use; session ids.
 * - api_keys.expires_at (NULL: never) is checked on every authentication;
 *   api_keys.last_used_at is written at most once a minute per key, off the
 *   request's path (api/keys.c).
 * - sessions.id names a session in listings and DELETE /v1/sessions/{id},
 *   so the token (or its hash) is never shown. Sessions made before have no
 *   id and are ended here: their users log in again once.
 */
static const char m11_up[] =
    "ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;"
    "ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;"
    "CREATE INDEX api_keys_project ON api_keys(project_id, id);"
    "DELETE FROM sessions;"
    "ALTER TABLE sessions ADD COLUMN id TEXT;"
    "CREATE UNIQUE INDEX sessions_id ON sessions(id);"
    "CREATE INDEX sessions_user ON sessions(user_id, id);";

static const char m11_down[] =
    "DROP INDEX sessions_user;"
    "DROP INDEX sessions_id;"
    "ALTER TABLE sessions DROP COLUMN id;"
    "DROP INDEX api_keys_project;"
    "ALTER TABLE api_keys DROP COLUMN last_used_at;"
    "ALTER TABLE api_keys DROP COLUMN expires_at;";

/*
 * audit_log: one row per management action (store/audit.h). Append only:
 * the triggers refuse every UPDATE and DELETE, so rows can neither be
 * rewritten nor pruned (there is no retention; docs/security.md). Dropping
 * the table (migration down) does not fire them.
 */
static const char m12_up[] =
    "CREATE TABLE audit_log ("
    "  id TEXT PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  actor_kind TEXT NOT NULL,"
    "  actor_id TEXT,"
    "  actor_name TEXT,"
    "  client TEXT,"
    "  request_id TEXT,"
    "  action TEXT NOT NULL,"
    "  target_type TEXT,"
    "  target_id TEXT,"
    "  project_id TEXT,"
    "  status INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  detail TEXT);"
    "CREATE INDEX audit_log_project ON audit_log(project_id, id);"
    "CREATE INDEX audit_log_target ON audit_log(target_id, id);"
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN"
    "  SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be changed');"
    "  END;"
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN"
    "  SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted');"
    "  END;";

static const char m12_down[] =
    "DROP TRIGGER audit_log_no_delete;"
    "DROP TRIGGER audit_log_no_update;"
    "DROP TABLE audit_log;";

/*
 * The analytics node. leases: named leases, each held by one process
 * until expires_at (Unix ms) unless renewed; "analytics" elects the node
 * that holds DuckDB and runs the ETL and exports, url is where the other
 * nodes forward analytics requests. Analytics tasks move to their own
 * queue, "analytics", which only that node's pool serves.
 * change_log_state 'pruned_through': the highest change the ETL's pruning
 * deleted, so that an analytics database behind it (another node's, or a
 * lost file) is rebuilt instead of missing those changes.
 */
static const char m13_up[] =
    "CREATE TABLE leases ("
    "  name TEXT PRIMARY KEY,"
    "  holder TEXT NOT NULL,"
    "  url TEXT NOT NULL DEFAULT '',"
    "  expires_at BIGINT NOT NULL);"
    "INSERT INTO queues (name) VALUES ('analytics') ON CONFLICT (name) DO NOTHING;"
    "UPDATE tasks SET queue = 'analytics' WHERE kind LIKE 'analytics.%'"
    "  AND state IN ('scheduled','available','retryable');"
    "UPDATE periodic_tasks SET queue = 'analytics' WHERE kind LIKE 'analytics.%';"
    "CREATE TABLE change_log_state (name TEXT PRIMARY KEY, value BIGINT NOT NULL);"
    "INSERT INTO change_log_state (name, value) VALUES ('pruned_through', 0);";

static const char m13_down[] =
    "DROP TABLE change_log_state;"
    "UPDATE periodic_tasks SET queue = 'low' WHERE queue = 'analytics';"
    "UPDATE tasks SET queue = CASE kind WHEN 'analytics.export' THEN 'default'"
    "  ELSE 'low' END WHERE queue = 'analytics';"
    "DELETE FROM queues WHERE name = 'analytics';"
    "DROP TABLE leases;";

const struct migration db_migrations[] = {
    {1, "initial schema: projects, users, keys, sessions, forms, submissions", m1_up, m1_down},
    {2, "health_checks: the row /readyz writes", m2_up, m2_down},
    {3, "task queue: tasks and queues", m3_up, m3_down},
    {4, "webhooks and their delivery log", m4_up, m4_down},
    {5, "periodic tasks", m5_up, m5_down},
    {6, "submission_changes: the change log the analytics ETL reads", m6_up, m6_down},
    {7, "exports of submissions and their files", m7_up, m7_down},
    {8, "ai_cache: results of AI completions", m8_up, m8_down},
    {9, "task_runs: the lease history of tasks", m9_up, m9_down},
    {10, "spam flag of submissions, spam_keys, index for daily form quotas", m10_up, m10_down},
    {11, "API key expiry and last use, session ids", m11_up, m11_down},
    {12, "audit_log: the append-only log of management actions", m12_up, m12_down},
    {13, "leases and the analytics queue: one elected analytics node", m13_up, m13_down},
};

const int db_migrations_count = sizeof(db_migrations) / sizeof(db_migrations[0]);
