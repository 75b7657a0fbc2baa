/*
 * The schema, as an ordered list of migrations. Entry i takes a database
 * from user_version i to i + 1. Shipped entries never change: a schema change
 * is a new entry at the end (see docs/STORE.md).
 */
#include "store/migrations.h"

#include "bot/t0.h"

static const char *const store_migrations[] = {
	/* v1: the audit chain and event de-duplication. */
	"CREATE TABLE audit ("
	"  seq       INTEGER PRIMARY KEY CHECK (seq >= 1),"
	"  ts_ms     INTEGER NOT NULL,"
	"  platform  TEXT,"
	"  user_id   TEXT,"
	"  user_name TEXT,"
	"  channel   TEXT,"
	"  kind      TEXT NOT NULL,"
	"  detail    TEXT NOT NULL DEFAULT '{}',"
	"  prev_hash TEXT NOT NULL CHECK (length(prev_hash) = 64),"
	"  hash      TEXT NOT NULL CHECK (length(hash) = 64)"
	");"
	"CREATE INDEX audit_channel_seq ON audit (channel, seq);"
	"CREATE INDEX audit_ts ON audit (ts_ms);"
	/*
	 * The chain detects tampering; these triggers stop the daemon (or a
	 * careless operator) from rewriting history by accident.
	 */
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;"
	"CREATE TABLE seen_events ("
	"  key        TEXT PRIMARY KEY NOT NULL,"
	"  expires_ms INTEGER NOT NULL"
	");"
	"CREATE INDEX seen_events_expires ON seen_events (expires_ms);",

	/* v2: what the bot knows about the world: incidents, deployments, conversations. */
	"CREATE TABLE incidents ("
	"  id          INTEGER PRIMARY KEY,"
	"  source      TEXT NOT NULL,"
	"  external_id TEXT NOT NULL,"
	"  service     TEXT,"
	"  title       TEXT NOT NULL DEFAULT '',"
	"  status      TEXT NOT NULL,"
	"  severity    TEXT,"
	"  created_ms  INTEGER NOT NULL,"
	"  updated_ms  INTEGER NOT NULL,"
	"  channel     TEXT,"
	"  message_ref TEXT,"
	"  detail      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),"
	"  UNIQUE (source, external_id)"
	");"
	"CREATE INDEX incidents_service ON incidents (service, created_ms);"
	"CREATE INDEX incidents_status ON incidents (status, updated_ms);"
	"CREATE TABLE deployments ("
	"  id          INTEGER PRIMARY KEY,"
	"  service     TEXT NOT NULL,"
	"  source      TEXT NOT NULL,"
	"  external_id TEXT NOT NULL,"
	"  version     TEXT,"
	"  ref         TEXT,"
	"  actor       TEXT,"
	"  environment TEXT,"
	"  status      TEXT,"
	"  created_ms  INTEGER NOT NULL,"
	"  url         TEXT,"
	"  detail      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),"
	"  UNIQUE (source, external_id)"
	");"
	"CREATE INDEX deployments_service ON deployments (service, created_ms);"
	"CREATE TABLE conversation_refs ("
	"  platform        TEXT NOT NULL,"
	"  conversation_id TEXT NOT NULL,"
	"  ref             TEXT NOT NULL CHECK (json_valid(ref)),"
	"  updated_ms      INTEGER NOT NULL,"
	"  stale           INTEGER NOT NULL DEFAULT 0 CHECK (stale IN (0, 1)),"
	"  PRIMARY KEY (platform, conversation_id)"
	");",

	/* v3: approvals of runbook actions and the votes on them. */
	"CREATE TABLE approvals ("
	"  id           TEXT PRIMARY KEY NOT NULL,"
	"  action       TEXT NOT NULL,"
	"  target       TEXT,"
	"  params       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),"
	"  request_hash TEXT NOT NULL,"
	"  requester    TEXT NOT NULL,"
	"  state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved',"
	"               'denied', 'expired', 'cancelled', 'executing', 'succeeded', 'failed')),"
	"  created_ms   INTEGER NOT NULL,"
	"  expires_ms   INTEGER NOT NULL CHECK (expires_ms >= created_ms),"
	"  updated_ms   INTEGER NOT NULL,"
	"  decided_by   TEXT,"
	"  decided_ms   INTEGER,"
	"  incident_id  INTEGER REFERENCES incidents (id) ON DELETE SET NULL,"
	"  detail       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))"
	");"
	"CREATE INDEX approvals_state ON approvals (state, expires_ms);"
	"CREATE TABLE approval_votes ("
	"  approval_id TEXT NOT NULL REFERENCES approvals (id) ON DELETE CASCADE,"
	"  approver    TEXT NOT NULL,"
	"  vote        TEXT NOT NULL CHECK (vote IN ('approve', 'deny')),"
	"  ts_ms       INTEGER NOT NULL,"
	"  PRIMARY KEY (approval_id, approver)"
	");",

	/*
	 * v4: what the language model cost, one row per answered request (or
	 * incident summary). day is the UTC date, so budgets sum by index.
	 */
	"CREATE TABLE llm_usage ("
	"  id            INTEGER PRIMARY KEY,"
	"  ts_ms         INTEGER NOT NULL,"
	"  day           TEXT NOT NULL CHECK (length(day) = 10),"
	"  platform      TEXT,"
	"  user_id       TEXT,"
	"  channel       TEXT,"
	"  purpose       TEXT NOT NULL DEFAULT 'agent',"
	"  provider      TEXT NOT NULL,"
	"  model         TEXT NOT NULL,"
	"  calls         INTEGER NOT NULL DEFAULT 0 CHECK (calls >= 0),"
	"  input_tokens  INTEGER NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),"
	"  output_tokens INTEGER NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),"
	"  cache_tokens  INTEGER NOT NULL DEFAULT 0 CHECK (cache_tokens >= 0),"
	"  cost_usd      REAL NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),"
	"  outcome       TEXT NOT NULL"
	");"
	"CREATE INDEX llm_usage_day_user ON llm_usage (day, user_id);",

	/*
	 * v5: incident timelines and card buttons. The chat platform of the
	 * message showing an incident is kept with its ref, so an update after a
	 * restart edits the same message on the same platform.
	 */
	"ALTER TABLE incidents ADD COLUMN platform TEXT;"
	"CREATE TABLE incident_events ("
	"  id          INTEGER PRIMARY KEY,"
	"  incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,"
	"  ts_ms       INTEGER NOT NULL,"
	"  kind        TEXT NOT NULL,"
	"  event_id    TEXT,"
	"  detail      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))"
	");"
	"CREATE INDEX incident_events_incident ON incident_events (incident_id, id);"
	"CREATE TABLE incident_actions ("
	"  id          TEXT PRIMARY KEY NOT NULL,"
	"  incident_id INTEGER REFERENCES incidents (id) ON DELETE CASCADE,"
	"  action      TEXT NOT NULL,"
	"  service     TEXT,"
	"  runbook     TEXT,"
	"  created_ms  INTEGER NOT NULL"
	");"
	"CREATE INDEX deployments_created ON deployments (created_ms);",

	/*
	 * v6: the action workflow. approvals is rebuilt (SQLite cannot change a
	 * CHECK in place) to add the 'proposed' state and the columns the flow
	 * needs: risk, approvals needed, origin, where the card lives, the
	 * outcome. The runner turns foreign keys off for the rebuild and runs
	 * foreign_key_check before committing. Single-use button ids and an
	 * index from request id to audit records are new tables.
	 */
	"CREATE TABLE approvals_v4 ("
	"  id           TEXT PRIMARY KEY NOT NULL,"
	"  action       TEXT NOT NULL,"
	"  target       TEXT,"
	"  params       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),"
	"  request_hash TEXT NOT NULL,"
	"  requester    TEXT NOT NULL,"
	"  state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('proposed', 'pending',"
	"               'approved', 'denied', 'expired', 'cancelled', 'executing', 'succeeded',"
	"               'failed')),"
	"  created_ms   INTEGER NOT NULL,"
	"  expires_ms   INTEGER NOT NULL CHECK (expires_ms >= created_ms),"
	"  updated_ms   INTEGER NOT NULL,"
	"  decided_by   TEXT,"
	"  decided_ms   INTEGER,"
	"  incident_id  INTEGER REFERENCES incidents (id) ON DELETE SET NULL,"
	"  detail       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),"
	"  risk         TEXT NOT NULL DEFAULT 'high' CHECK (risk IN ('low', 'high', 'critical')),"
	"  needed       INTEGER NOT NULL DEFAULT 1 CHECK (needed >= 0),"
	"  origin       TEXT NOT NULL DEFAULT 'typed',"
	"  platform     TEXT,"
	"  channel      TEXT,"
	"  thread       TEXT,"
	"  message_ref  TEXT,"
	"  result       TEXT CHECK (result IS NULL OR json_valid(result))"
	");"
	"INSERT INTO approvals_v4 (id, action, target, params, request_hash, requester, state,"
	"  created_ms, expires_ms, updated_ms, decided_by, decided_ms, incident_id, detail)"
	"  SELECT id, action, target, params, request_hash, requester, state, created_ms,"
	"  expires_ms, updated_ms, decided_by, decided_ms, incident_id, detail FROM approvals;"
	"CREATE TABLE approval_votes_v4 ("
	"  approval_id TEXT NOT NULL REFERENCES approvals (id) ON DELETE CASCADE,"
	"  approver    TEXT NOT NULL,"
	"  vote        TEXT NOT NULL CHECK (vote IN ('approve', 'deny')),"
	"  ts_ms       INTEGER NOT NULL,"
	"  PRIMARY KEY (approval_id, approver)"
	");"
	"INSERT INTO approval_votes_v4 SELECT approval_id, approver, vote, ts_ms FROM approval_votes;"
	"DROP TABLE approval_votes;"
	"DROP TABLE approvals;"
	"ALTER TABLE approvals_v4 RENAME TO approvals;"
	"ALTER TABLE approval_votes_v4 RENAME TO approval_votes;"
	"CREATE INDEX approvals_state ON approvals (state, expires_ms);"
	"CREATE TABLE approval_buttons ("
	"  id          TEXT PRIMARY KEY NOT NULL,"
	"  approval_id TEXT NOT NULL REFERENCES approvals (id) ON DELETE CASCADE,"
	"  choice      TEXT NOT NULL CHECK (choice IN ('approve', 'deny', 'cancel', 'confirm')),"
	"  created_ms  INTEGER NOT NULL,"
	"  used_ms     INTEGER,"
	"  used_by     TEXT"
	");"
	"CREATE INDEX approval_buttons_approval ON approval_buttons (approval_id);"
	"CREATE TABLE audit_requests ("
	"  request_id TEXT NOT NULL,"
	"  seq        INTEGER NOT NULL,"
	"  PRIMARY KEY (request_id, seq)"
	") WITHOUT ROWID;",
};

int store_migration_count(void)
{
	return (int)T0_ARRAY_LEN(store_migrations);
}

const char *store_migration_sql(int from_version)
{
	if (from_version < 0 || from_version >= store_migration_count())
		return NULL;
	return store_migrations[from_version];
}
