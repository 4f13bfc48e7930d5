/*
 * migrations_pg.c - the schema of migrations.c, in PostgreSQL's dialect.
 *
 * The same steps with the same numbers and names (a unit test checks), so
 * `formd migrate status` means the same on both engines. What differs:
 * - integers are BIGINT: times are milliseconds since the epoch, which
 *   overflow PostgreSQL's 32-bit INTEGER (SQLite's INTEGER is 64-bit);
 * - REAL is DOUBLE PRECISION (SQLite's REAL is 8 bytes);
 * - submission_changes.seq, SQLite's rowid, is a BIGSERIAL, and the
 *   triggers that fill it are one PL/pgSQL function. Its numbers are taken
 *   at insert, not at commit, so seq order is not commit order here: the
 *   analytics ETL's watermark is refused on PostgreSQL (analytics/etl.c)
 *   until it moves to a snapshot-based bound.
 * Ids are ULIDs (digits and capital letters), which sort the same in every
 * collation, so keyset pagination on id does not depend on the database's.
 *
 * Never edit a migration that has shipped; add the next one, here and in
 * migrations.c.
 */
#include "db/migrate.h"
#include "core/banned.h"

static const char m1_up[] =
    "CREATE TABLE projects ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL);"
    "CREATE TABLE users ("
    "  id TEXT PRIMARY KEY,"
    "  email TEXT NOT NULL UNIQUE,"
    "  password_hash TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  disabled_at BIGINT);"
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
    "  created_at BIGINT NOT NULL,"
    "  revoked_at BIGINT);"
    "CREATE TABLE sessions ("
    "  token_hash TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  created_at BIGINT NOT NULL,"
    "  expires_at BIGINT NOT NULL);"
    "CREATE INDEX sessions_expiry ON sessions(expires_at);"
    "CREATE TABLE forms ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  slug TEXT NOT NULL UNIQUE,"
    "  status TEXT NOT NULL CHECK (status IN ('draft','open','closed')),"
    "  draft_version BIGINT NOT NULL,"
    "  published_version BIGINT,"
    "  submission_limit BIGINT,"
    "  submission_count BIGINT NOT NULL DEFAULT 0,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL);"
    "CREATE INDEX forms_project ON forms(project_id, id);"
    "CREATE TABLE form_versions ("
    "  form_id TEXT NOT NULL REFERENCES forms(id) ON DELETE CASCADE,"
    "  version BIGINT NOT NULL,"
    "  schema TEXT NOT NULL,"
    "  fields TEXT,"
    "  ui TEXT,"
    "  settings TEXT NOT NULL DEFAULT '{}',"
    "  created_at BIGINT NOT NULL,"
    "  published_at BIGINT,"
    "  PRIMARY KEY (form_id, version));"
    "CREATE TABLE submissions ("
    "  id TEXT PRIMARY KEY,"
    "  form_id TEXT NOT NULL REFERENCES forms(id) ON DELETE CASCADE,"
    "  form_version BIGINT NOT NULL,"
    "  data TEXT NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'new'"
    "    CHECK (status IN ('new','approved','rejected','needs_changes')),"
    "  reviewed_by TEXT,"
    "  reviewed_at BIGINT,"
    "  review_note TEXT,"
    "  revision BIGINT NOT NULL DEFAULT 1,"
    "  idempotency_key TEXT,"
    "  body_hash TEXT,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  deleted_at BIGINT,"
    "  UNIQUE (form_id, idempotency_key));"
    "CREATE INDEX submissions_form ON submissions(form_id, id);"
    "CREATE TABLE submission_history ("
    "  submission_id TEXT NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,"
    "  revision BIGINT NOT NULL,"
    "  data TEXT NOT NULL,"
    "  edited_by TEXT,"
    "  edited_at BIGINT NOT NULL,"
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

static const char m2_up[] =
    "CREATE TABLE health_checks ("
    "  id BIGINT PRIMARY KEY CHECK (id = 1),"
    "  checked_at BIGINT NOT NULL);";

static const char m2_down[] = "DROP TABLE health_checks;";

static const char m3_up[] =
    "CREATE TABLE queues ("
    "  name TEXT PRIMARY KEY,"
    "  paused BIGINT NOT NULL DEFAULT 0);"
    "INSERT INTO queues (name) VALUES ('critical'), ('high'), ('default'), ('low');"
    "CREATE TABLE tasks ("
    "  id TEXT PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  queue TEXT NOT NULL,"
    "  priority BIGINT NOT NULL DEFAULT 0,"
    "  payload TEXT NOT NULL DEFAULT '{}',"
    "  state TEXT NOT NULL CHECK (state IN ('scheduled','available','running','retryable',"
    "    'completed','discarded','cancelled')),"
    "  run_at BIGINT NOT NULL,"
    "  attempt BIGINT NOT NULL DEFAULT 0,"
    "  max_attempts BIGINT NOT NULL DEFAULT 20,"
    "  lease_until BIGINT,"
    "  worker TEXT,"
    "  unique_key TEXT,"
    "  project_id TEXT,"
    "  progress DOUBLE PRECISION,"
    "  result TEXT,"
    "  error TEXT,"
    "  trace_id TEXT,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  finished_at BIGINT);"
    "CREATE INDEX tasks_claim ON tasks(queue, priority DESC, run_at) "
    "  WHERE state IN ('available','scheduled','retryable');"
    "CREATE INDEX tasks_running ON tasks(lease_until) WHERE state = 'running';"
    "CREATE INDEX tasks_finished ON tasks(finished_at) "
    "  WHERE state IN ('completed','discarded','cancelled');"
    "CREATE UNIQUE INDEX tasks_unique ON tasks(unique_key) WHERE unique_key IS NOT NULL "
    "  AND state IN ('scheduled','available','running','retryable');";

static const char m3_down[] = "DROP TABLE tasks; DROP TABLE queues;";

static const char m4_up[] =
    "CREATE TABLE webhooks ("
    "  id TEXT PRIMARY KEY,"
    "  form_id TEXT NOT NULL REFERENCES forms(id) ON DELETE CASCADE,"
    "  url TEXT NOT NULL,"
    "  events TEXT NOT NULL,"
    "  secret TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL);"
    "CREATE INDEX webhooks_form ON webhooks(form_id);"
    "CREATE TABLE webhook_deliveries ("
    "  id TEXT PRIMARY KEY,"
    "  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,"
    "  message_id TEXT NOT NULL,"
    "  task_id TEXT,"
    "  event TEXT NOT NULL,"
    "  attempt BIGINT NOT NULL,"
    "  status BIGINT,"
    "  error TEXT,"
    "  duration_ms BIGINT NOT NULL,"
    "  response TEXT,"
    "  created_at BIGINT NOT NULL);"
    "CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);";

static const char m4_down[] = "DROP TABLE webhook_deliveries; DROP TABLE webhooks;";

static const char m5_up[] =
    "CREATE TABLE periodic_tasks ("
    "  name TEXT PRIMARY KEY,"
    "  cron TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  queue TEXT NOT NULL,"
    "  payload TEXT NOT NULL DEFAULT '{}',"
    "  next_run_at BIGINT NOT NULL,"
    "  last_run_at BIGINT,"
    "  last_task_id TEXT);";

static const char m5_down[] = "DROP TABLE periodic_tasks;";

/* The change log of migrations.c's m6; one trigger function for the three events. */
static const char m6_up[] =
    "CREATE TABLE submission_changes ("
    "  seq BIGSERIAL PRIMARY KEY,"
    "  submission_id TEXT NOT NULL,"
    "  form_id TEXT NOT NULL,"
    "  at BIGINT NOT NULL);"
    "CREATE FUNCTION submission_changes_log() RETURNS trigger LANGUAGE plpgsql AS $f$"
    " DECLARE now_ms BIGINT := (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT;"
    " BEGIN"
    "  IF TG_OP = 'DELETE' THEN"
    "    INSERT INTO submission_changes (submission_id, form_id, at)"
    "      VALUES (OLD.id, OLD.form_id, now_ms);"
    "    RETURN OLD;"
    "  END IF;"
    "  INSERT INTO submission_changes (submission_id, form_id, at)"
    "    VALUES (NEW.id, NEW.form_id, now_ms);"
    "  IF TG_OP = 'UPDATE' AND (OLD.id IS DISTINCT FROM NEW.id"
    "      OR OLD.form_id IS DISTINCT FROM NEW.form_id) THEN"
    "    INSERT INTO submission_changes (submission_id, form_id, at)"
    "      VALUES (OLD.id, OLD.form_id, now_ms);"
    "  END IF;"
    "  RETURN NEW;"
    " END $f$;"
    "CREATE TRIGGER submission_changes_log AFTER INSERT OR UPDATE OR DELETE ON submissions"
    "  FOR EACH ROW EXECUTE FUNCTION submission_changes_log();"
    "INSERT INTO submission_changes (submission_id, form_id, at)"
    "  SELECT id, form_id, (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT"
    "  FROM submissions ORDER BY form_id, id;";

static const char m6_down[] =
    "DROP TRIGGER submission_changes_log ON submissions;"
    "DROP FUNCTION submission_changes_log();"
    "DROP TABLE submission_changes;";

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
    "  rows BIGINT,"
    "  bytes BIGINT,"
    "  error TEXT,"
    "  created_by TEXT,"
    "  created_at BIGINT NOT NULL,"
    "  finished_at BIGINT,"
    "  expires_at BIGINT);"
    "CREATE INDEX exports_form ON exports(form_id, id);"
    "CREATE INDEX exports_expiry ON exports(expires_at) WHERE state = 'ready';";

static const char m7_down[] = "DROP TABLE exports;";

static const char m8_up[] =
    "CREATE TABLE ai_cache ("
    "  key TEXT PRIMARY KEY,"
    "  task TEXT NOT NULL,"
    "  model TEXT NOT NULL,"
    "  result TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL);"
    "CREATE INDEX ai_cache_age ON ai_cache(created_at);";

static const char m8_down[] = "DROP TABLE ai_cache;";

/*
 * migrations.c's m9, but a run's row is written as it is claimed and closed
 * as it ends, both with the database's clock: one clock for every node, so
 * runs of one task on different machines can be compared (the claim of the
 * next run reads the row the end of the last one committed, so it is
 * later). The triggers are one function.
 */
static const char m9_up[] =
    "CREATE TABLE task_runs ("
    "  task_id TEXT NOT NULL,"
    "  attempt BIGINT NOT NULL,"
    "  worker TEXT NOT NULL,"
    "  started_at BIGINT NOT NULL,"
    "  ended_at BIGINT,"
    "  outcome TEXT);"
    "CREATE INDEX task_runs_task ON task_runs(task_id, started_at);"
    "CREATE FUNCTION task_runs_log() RETURNS trigger LANGUAGE plpgsql AS $f$"
    " DECLARE now_ms BIGINT := (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT;"
    " BEGIN"
    "  IF TG_OP = 'DELETE' THEN"
    "    DELETE FROM task_runs WHERE task_id = OLD.id;"
    "  ELSIF NEW.state = 'running' AND OLD.state <> 'running' THEN"
    "    INSERT INTO task_runs (task_id, attempt, worker, started_at)"
    "      VALUES (NEW.id, NEW.attempt, COALESCE(NEW.worker, ''), now_ms);"
    "  ELSIF OLD.state = 'running' AND NEW.state <> 'running' THEN"
    "    UPDATE task_runs SET ended_at = now_ms, outcome = CASE"
    "        WHEN NEW.state IN ('retryable','discarded') AND NEW.error LIKE 'lease expired%'"
    "          THEN 'expired'"
    "        WHEN NEW.state = 'retryable' THEN 'failed'"
    "        WHEN NEW.state = 'available' THEN 'released'"
    "        ELSE NEW.state END"
    "      WHERE task_id = NEW.id AND ended_at IS NULL;"
    "  END IF;"
    "  RETURN NULL;"
    " END $f$;"
    "CREATE TRIGGER task_runs_log AFTER UPDATE OF state OR DELETE ON tasks"
    "  FOR EACH ROW EXECUTE FUNCTION task_runs_log();";

static const char m9_down[] =
    "DROP TRIGGER task_runs_log ON tasks;"
    "DROP FUNCTION task_runs_log();"
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
    "  created_at BIGINT NOT NULL);"
    "INSERT INTO spam_keys (name, secret, created_at) VALUES ('fill_token',"
    "  replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''),"
    "  CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT));";

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
    "ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;"
    "ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;"
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
 * audit_log (see migrations.c): the same table; one trigger function refuses
 * UPDATE and DELETE row by row and TRUNCATE for the whole table.
 */
static const char m12_up[] =
    "CREATE TABLE audit_log ("
    "  id TEXT PRIMARY KEY,"
    "  at BIGINT NOT NULL,"
    "  actor_kind TEXT NOT NULL,"
    "  actor_id TEXT,"
    "  actor_name TEXT,"
    "  client TEXT,"
    "  request_id TEXT,"
    "  action TEXT NOT NULL,"
    "  target_type TEXT,"
    "  target_id TEXT,"
    "  project_id TEXT,"
    "  status BIGINT NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  detail TEXT);"
    "CREATE INDEX audit_log_project ON audit_log(project_id, id);"
    "CREATE INDEX audit_log_target ON audit_log(target_id, id);"
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $f$"
    " BEGIN"
    "  RAISE EXCEPTION 'audit_log is append-only: rows cannot be %', lower(TG_OP)"
    "    USING ERRCODE = 'insufficient_privilege';"
    " END $f$;"
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log"
    "  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();"
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
    "  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();";

static const char m12_down[] =
    "DROP TABLE audit_log;"
    "DROP FUNCTION audit_log_append_only();";

/*
 * The analytics node. leases: named leases, each held by one process
 * until expires_at (Unix ms) unless renewed; "analytics" elects the node
 * that holds DuckDB and runs the ETL and exports, url is where the other
 * nodes forward analytics requests. Analytics tasks move to their own
 * queue, "analytics", which only that node's pool serves.
 * change_log_state 'pruned_through': the highest change the ETL's pruning
 * deleted, so that an analytics database behind it (another node's, or a
 * lost file) is rebuilt instead of missing those changes.
 * submission_changes.seq in commit order: a change is logged with a
 * negative seq (pending), and the ETL numbers the committed pending
 * changes, one numbering transaction at a time (see analytics/etl.c):
 * a sequence value taken at insert can commit after a higher one.
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
    "INSERT INTO change_log_state (name, value) VALUES ('pruned_through', 0);"
    "ALTER TABLE submission_changes ALTER COLUMN seq"
    "  SET DEFAULT -nextval('submission_changes_seq_seq');";

static const char m13_down[] =
    "UPDATE submission_changes SET seq = nextval('submission_changes_seq_seq')"
    "  WHERE seq < 0;"
    "ALTER TABLE submission_changes ALTER COLUMN seq"
    "  SET DEFAULT nextval('submission_changes_seq_seq');"
    "DROP TABLE change_log_state;"
    "UPDATE periodic_tasks SET queue = 'low' WHERE queue = 'analytics';"
    "UPDATE tasks SET queue = CASE kind WHEN 'analytics.export' THEN 'default'"
    "  ELSE 'low' END WHERE queue = 'analytics';"
    "DELETE FROM queues WHERE name = 'analytics';"
    "DROP TABLE leases;";

const struct migration db_migrations_pg[] = {
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

const int db_migrations_pg_count = sizeof(db_migrations_pg) / sizeof(db_migrations_pg[0]);
