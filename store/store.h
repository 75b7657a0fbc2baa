/*
 * The store: one SQLite file in WAL mode. The only module with SQL in it.
 * Migrations are ordered, versioned by PRAGMA user_version, each in its own
 * transaction, and applied at open. Every statement is prepared once.
 */
#ifndef T0_STORE_H
#define T0_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* Number of migrations this build knows; user_version after a full open. */
int store_schema_version(void);

/*
 * Opens (creating when absent) and migrates. path ":memory:" is allowed.
 * An unwritable, corrupt or newer-than-known database fails with a message in err.
 */
int store_open(const char *path, struct store **out, char *err, size_t errlen);
/* Opens and migrates only up to target_version (tests of each migration step). */
int store_open_at_version(const char *path, int target_version, struct store **out, char *err,
			  size_t errlen);
/*
 * Opens an existing tier0 database for reading only (audit verify/export):
 * never creates the file, never migrates, never switches the journal mode.
 * A missing file, a foreign file (user_version 0) or a newer schema fail with
 * T0_EDB and a message in err.
 */
int store_open_readonly(const char *path, struct store **out, char *err, size_t errlen);
void store_close(struct store *st);
int store_user_version(struct store *st, int *version);

/*
 * A background thread with its own connection copies the WAL back into the
 * database every interval_ms (a passive checkpoint, which never blocks the
 * loop's writer); the loop connection's inline checkpoint is off while it
 * runs, so no event waits behind one. No-op for :memory: and read-only stores.
 * store_close stops it.
 */
int store_checkpointer_start(struct store *st, int interval_ms);
void store_checkpointer_stop(struct store *st);
/* Checkpoints run and pages copied so far; T0_ENOTFOUND when not running. */
int store_checkpointer_runs(struct store *st, unsigned long long *runs, unsigned long long *pages);

/*
 * Seen events: returns T0_OK and *first = 1 when key was not seen (and records
 * it to expire at now + ttl), *first = 0 when it was seen and has not expired.
 */
int store_seen_mark(struct store *st, const char *key, int64_t now_ms, int64_t ttl_ms,
		    int *first);
/* Deletes expired keys; *removed may be NULL. */
int store_seen_expire(struct store *st, int64_t now_ms, int *removed);

/* One audit chain row. Strings are borrowed in appends, owned by the iterator's row in reads. */
struct audit_row {
	int64_t seq;
	int64_t ts_ms;
	const char *platform;
	const char *user_id;
	const char *user_name;
	const char *channel;
	const char *kind;
	const char *detail; /* JSON text */
	const char *prev_hash; /* 64 hex chars */
	const char *hash;      /* 64 hex chars */
};

/* Inserts a complete row (seq, hashes computed by bot/audit.c). */
int store_audit_insert(struct store *st, const struct audit_row *row);
/* Last row's seq and hash; seq 0 and an empty hash for an empty chain. */
int store_audit_tail(struct store *st, int64_t *seq, char hash[65]);

/* Calls cb for each row in seq order; rows borrowed for the call. cb returns non-zero to stop. */
typedef int (*store_audit_cb)(void *arg, const struct audit_row *row);
/* since_ms 0 = all; channel NULL = all. */
int store_audit_each(struct store *st, int64_t since_ms, const char *channel, store_audit_cb cb,
		     void *arg);
/* The last `limit` rows (at most 1000) of a channel (NULL = all), oldest first. */
int store_audit_last(struct store *st, const char *channel, int limit, store_audit_cb cb,
		     void *arg);

/*
 * Conversation references: where a chat platform lets the bot post without
 * being spoken to (Teams: serviceUrl, tenant, conversation id, bot id), as a
 * JSON object text per (platform, conversation id). A put replaces the
 * reference and clears the stale mark; stale marks a conversation the bot
 * was removed from (kept so an operator can see it, skipped by posts).
 */
int store_conv_ref_put(struct store *st, const char *platform, const char *conversation_id,
		       const char *ref_json, int64_t now_ms);
/* *ref_json is malloc'ed (caller frees); T0_ENOTFOUND when there is none. Outputs may be NULL. */
int store_conv_ref_get(struct store *st, const char *platform, const char *conversation_id,
		       char **ref_json, int *stale, int64_t *updated_ms);
/* T0_ENOTFOUND when there is no such reference. */
int store_conv_ref_set_stale(struct store *st, const char *platform, const char *conversation_id,
			     int stale, int64_t now_ms);
struct store_conv_ref {
	const char *conversation_id; /* borrowed for the callback */
	const char *ref;
	int stale;
	int64_t updated_ms;
};
typedef int (*store_conv_ref_cb)(void *arg, const struct store_conv_ref *row);
/* Every reference of a platform (stale ones too when include_stale), by conversation id. */
int store_conv_ref_each(struct store *st, const char *platform, int include_stale,
			store_conv_ref_cb cb, void *arg);

/*
 * Action requests and their approvals (migration v5). Strings are borrowed
 * in store_approval_insert and owned by the struct after store_approval_get
 * (release with store_approval_clear). State names: proposed, pending,
 * approved, denied, expired, cancelled, executing, succeeded, failed.
 */
struct store_approval {
	char *id;           /* the request id, "r-..." */
	char *action;
	char *target;       /* entity ref, may be NULL */
	char *params;       /* JSON object */
	char *request_hash; /* what exactly was approved */
	char *requester;    /* person key (catalog ref or platform:user_id) */
	char *state;
	int64_t created_ms, expires_ms, updated_ms, decided_ms;
	char *decided_by;
	char *detail;       /* JSON object: requester identity, shown request, prompt ... */
	char *risk;         /* low | high | critical */
	int needed;         /* approvals needed */
	char *origin;       /* typed | llm | suggestion */
	char *platform, *channel, *thread, *message_ref; /* where the card is */
	char *result;       /* JSON: outcome, may be NULL */
};

int store_approval_insert(struct store *st, const struct store_approval *a);
/* T0_ENOTFOUND when there is no such request. */
int store_approval_get(struct store *st, const char *id, struct store_approval *out);
void store_approval_clear(struct store_approval *a);
/*
 * One state change as one conditional UPDATE: from -> to only while the row
 * is in `from`; with unexpired_at > 0 only while expires_ms > unexpired_at;
 * with request_hash only while it is still bound to that hash. decided_by
 * (may be NULL) is recorded with the time. *changed = 1 when this call made
 * the change, 0 when another writer was first (or a condition failed).
 */
int store_approval_transition(struct store *st, const char *id, const char *from, const char *to,
			      int64_t now_ms, const char *decided_by, int64_t unexpired_at,
			      const char *request_hash, int *changed);
int store_approval_set_message(struct store *st, const char *id, const char *message_ref);
int store_approval_set_result(struct store *st, const char *id, const char *result_json,
			      int64_t now_ms);
/*
 * Rows in `state` (and expires_ms <= expires_before, updated_ms <=
 * updated_before when those are > 0), oldest first, at most limit (<= 1000).
 * Rows are read before cb runs, so cb may change them; cb returns non-zero to stop.
 */
typedef int (*store_approval_cb)(void *arg, const struct store_approval *a);
int store_approval_each(struct store *st, const char *state, int64_t expires_before,
			int64_t updated_before, int limit, store_approval_cb cb, void *arg);

/* One vote per approver and request: *added = 0 when this person had voted already. */
int store_vote_add(struct store *st, const char *approval_id, const char *approver,
		   const char *vote, int64_t ts_ms, int *added);
int store_vote_count(struct store *st, const char *approval_id, const char *vote, int *n);
typedef int (*store_vote_cb)(void *arg, const char *approver, const char *vote, int64_t ts_ms);
int store_vote_list(struct store *st, const char *approval_id, store_vote_cb cb, void *arg);

/*
 * Buttons: single-use ids (choice approve | deny | cancel | confirm).
 * store_button_use marks one used if it was not (*used_now = 1); retire marks
 * every unused button of a request used (its card was replaced).
 */
int store_button_add(struct store *st, const char *id, const char *approval_id, const char *choice,
		     int64_t now_ms);
int store_button_get(struct store *st, const char *id, char *approval_id, size_t idlen,
		     char *choice, size_t choicelen, int *used);
int store_button_use(struct store *st, const char *id, const char *used_by, int64_t now_ms,
		     int *used_now);
int store_buttons_retire(struct store *st, const char *approval_id, int64_t now_ms);

/* Index from a request id to the audit records of its chain (written with them). */
int store_audit_request_add(struct store *st, const char *request_id, int64_t seq);
/* The audit rows of one request in seq order (at most limit <= 1000). */
int store_audit_request_each(struct store *st, const char *request_id, int limit,
			     store_audit_cb cb, void *arg);

/*
 * Transactions for callers that must record audit rows with a state change.
 * The outermost store_begin is BEGIN IMMEDIATE (takes the write lock); calls
 * inside an open transaction nest as savepoints, so audit_append can run
 * inside a caller's transaction. Never keep one open across a loop turn.
 */
int store_begin(struct store *st);
int store_commit(struct store *st);
int store_rollback(struct store *st);

/*
 * Language-model usage (table llm_usage): one row per request answered with
 * the LLM. day is the UTC date "YYYY-MM-DD" of ts_ms. Strings are borrowed.
 */
struct store_llm_usage {
	int64_t ts_ms;
	const char *platform, *user_id, *channel; /* user_id NULL: the bot itself */
	const char *purpose;  /* "agent" | "summary" */
	const char *provider, *model;
	int64_t calls;        /* model calls (HTTP requests answered) */
	int64_t input_tokens, output_tokens, cache_tokens;
	double cost_usd;
	const char *outcome;  /* "answered", "max_steps", "unavailable", ... */
};
int store_llm_usage_add(struct store *st, const struct store_llm_usage *u);

struct store_llm_totals {
	int64_t requests;
	int64_t input_tokens, output_tokens;
	double cost_usd;
};
/* Sums of one UTC day ("YYYY-MM-DD"); user_id NULL = everyone. */
int store_llm_usage_totals(struct store *st, const char *day, const char *user_id,
			   struct store_llm_totals *out);
/* ---- incidents, their timelines and card buttons (store/store_incidents.c) ---- */

/* One incident row. In reads every string is owned (free with store_incident_clear). */
struct store_incident {
	int64_t id;
	char *source;      /* "pagerduty", "alertmanager", "simulated" */
	char *external_id; /* PagerDuty incident id, Alertmanager groupKey, ... */
	char *service;     /* catalog name or the source's service label; may be NULL */
	char *title;
	char *status;      /* triggered | acknowledged | resolved | firing */
	char *severity;    /* may be NULL */
	int64_t created_ms, updated_ms;
	char *channel;     /* where its message is; NULL before it is posted */
	char *platform;    /* chat adapter of the message */
	char *message_ref; /* the message showing it (Slack ts, Teams activity id) */
	char *detail;      /* JSON object */
};
void store_incident_clear(struct store_incident *inc);

/*
 * Inserts (source, external_id) or updates its title, status, severity, service
 * (when given), updated_ms and detail; channel and message_ref are left alone.
 * *id gets the row id, *created (may be NULL) 1 for a new row.
 */
int store_incident_upsert(struct store *st, const struct store_incident *in, int64_t *id,
			  int *created);
/* T0_ENOTFOUND when absent. */
int store_incident_get(struct store *st, int64_t id, struct store_incident *out);
int store_incident_find(struct store *st, const char *source, const char *external_id,
			struct store_incident *out);
/* The newest incident of a service (not resolved when open_only), or T0_ENOTFOUND. */
int store_incident_latest(struct store *st, const char *service, int open_only,
			  struct store_incident *out);
/* Records where the incident's message is. */
int store_incident_set_message(struct store *st, int64_t id, const char *platform,
			       const char *channel, const char *message_ref);
/* Merges a JSON object into the incident's detail (json_patch). */
int store_incident_patch_detail(struct store *st, int64_t id, const char *patch_json);
/* Ids of the incidents whose message is (channel, message_ref), oldest first; *ids malloc'ed. */
int store_incident_ids_by_message(struct store *st, const char *channel, const char *message_ref,
				  int limit, int64_t **ids, size_t *n);
/* Incidents of a service created at or after since_ms, newest first, other than skip_id. */
typedef int (*store_incident_cb)(void *arg, const struct store_incident *inc);
int store_incident_recent(struct store *st, const char *service, int64_t since_ms, int64_t skip_id,
			  int limit, store_incident_cb cb, void *arg);
int store_incident_count(struct store *st, int64_t *n);

/* Timeline: every event received and every message posted. */
struct store_incident_event {
	int64_t id, incident_id, ts_ms;
	const char *kind;     /* "pagerduty.incident.acknowledged", "message.posted", ... */
	const char *event_id; /* the source's event id, may be NULL */
	const char *detail;   /* JSON object */
};
int store_incident_event_add(struct store *st, int64_t incident_id, int64_t ts_ms,
			     const char *kind, const char *event_id, const char *detail_json);
/* Oldest first, at most limit (<= 1000) of the newest; rows borrowed for the call. */
typedef int (*store_incident_event_cb)(void *arg, const struct store_incident_event *ev);
int store_incident_events(struct store *st, int64_t incident_id, int limit,
			  store_incident_event_cb cb, void *arg);
int store_incident_event_count(struct store *st, int64_t incident_id, int64_t *n);

/*
 * Suggested-action buttons: the button's value is an opaque id (32 hex
 * characters) that names an action proposed for an incident. The actions
 * module reads it back with store_incident_action_get.
 */
struct store_incident_action {
	char id[33];
	int64_t incident_id;
	char action[128];
	char service[256];
	char runbook[512];
	int64_t created_ms;
};
int store_incident_action_put(struct store *st, const struct store_incident_action *a);
int store_incident_action_get(struct store *st, const char *id, struct store_incident_action *out);

/* ---- deployments ---- */

struct store_deployment {
	int64_t id;
	const char *service;     /* catalog name */
	const char *source;      /* "github", "argocd", "webhook" */
	const char *external_id; /* unique within the source */
	const char *version;     /* what was deployed: version, tag or revision */
	const char *ref;         /* branch, tag or commit */
	const char *actor;       /* who */
	const char *environment;
	const char *status;      /* success | failure | in_progress | ... */
	int64_t created_ms;      /* when it started (or happened) */
	const char *url;
	const char *detail;      /* JSON object, may be NULL for {} */
};
/* Insert, or update status, version, actor, url, detail of (source, external_id). */
int store_deployment_upsert(struct store *st, const struct store_deployment *d, int *inserted);
/* Deployments of a service since since_ms, newest first (strings borrowed for the call). */
typedef int (*store_deployment_cb)(void *arg, const struct store_deployment *d);
int store_deployments_since(struct store *st, const char *service, int64_t since_ms, int limit,
			    store_deployment_cb cb, void *arg);

#endif
