/*
 * Incidents, their timelines, card buttons and deployments: the SQL behind
 * the incident context (bot/incident.c). Statements are cached by store.c.
 */
#include "store/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/log.h"
#include "bot/t0.h"
#include "store/store_priv.h"

#define INC_COLS                                                                          \
	"id, source, external_id, service, title, status, severity, created_ms, updated_ms, " \
	"channel, platform, message_ref, detail"
#define MAX_ROWS 1000

static const char SQL_INC_UPSERT[] =
	"INSERT INTO incidents (source, external_id, service, title, status, severity,"
	" created_ms, updated_ms, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)"
	" ON CONFLICT (source, external_id) DO UPDATE SET"
	" service = coalesce(excluded.service, incidents.service),"
	" title = CASE WHEN excluded.title = '' THEN incidents.title ELSE excluded.title END,"
	" status = excluded.status,"
	" severity = coalesce(excluded.severity, incidents.severity),"
	" updated_ms = max(incidents.updated_ms, excluded.updated_ms),"
	" detail = json_patch(incidents.detail, excluded.detail)"
	" RETURNING id";
static const char SQL_INC_ID[] = "SELECT id FROM incidents WHERE source = ?1 AND external_id = ?2";
static const char SQL_INC_GET[] = "SELECT " INC_COLS " FROM incidents WHERE id = ?1";
static const char SQL_INC_FIND[] =
	"SELECT " INC_COLS " FROM incidents WHERE source = ?1 AND external_id = ?2";
static const char SQL_INC_LATEST[] =
	"SELECT " INC_COLS " FROM incidents WHERE service = ?1 COLLATE NOCASE"
	" AND (?2 = 0 OR status <> 'resolved') ORDER BY created_ms DESC, id DESC LIMIT 1";
static const char SQL_INC_SET_MSG[] =
	"UPDATE incidents SET platform = ?2, channel = ?3, message_ref = ?4 WHERE id = ?1";
static const char SQL_INC_RECENT[] =
	"SELECT " INC_COLS " FROM incidents WHERE service = ?1 COLLATE NOCASE AND created_ms >= ?2"
	" AND id <> ?3 ORDER BY created_ms DESC, id DESC LIMIT ?4";
static const char SQL_INC_PATCH[] =
	"UPDATE incidents SET detail = json_patch(detail, ?2) WHERE id = ?1";
static const char SQL_INC_BY_MSG[] =
	"SELECT id FROM incidents WHERE channel = ?1 AND message_ref = ?2 ORDER BY id LIMIT ?3";
static const char SQL_INC_COUNT[] = "SELECT count(*) FROM incidents";
static const char SQL_EV_ADD[] =
	"INSERT INTO incident_events (incident_id, ts_ms, kind, event_id, detail)"
	" VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_EV_LIST[] =
	"SELECT * FROM (SELECT id, incident_id, ts_ms, kind, event_id, detail FROM incident_events"
	" WHERE incident_id = ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id";
static const char SQL_EV_COUNT[] =
	"SELECT count(*) FROM incident_events WHERE (?1 = 0 OR incident_id = ?1)";
static const char SQL_ACT_PUT[] =
	"INSERT INTO incident_actions (id, incident_id, action, service, runbook, created_ms)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_ACT_GET[] =
	"SELECT id, incident_id, action, service, runbook, created_ms FROM incident_actions"
	" WHERE id = ?1";
static const char SQL_DEP_UPSERT[] =
	"INSERT INTO deployments (service, source, external_id, version, ref, actor, environment,"
	" status, created_ms, url, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
	" ON CONFLICT (source, external_id) DO UPDATE SET"
	" status = coalesce(excluded.status, deployments.status),"
	" version = coalesce(excluded.version, deployments.version),"
	" actor = coalesce(excluded.actor, deployments.actor),"
	" url = coalesce(excluded.url, deployments.url),"
	" detail = json_patch(deployments.detail, excluded.detail)";
static const char SQL_DEP_EXISTS[] =
	"SELECT 1 FROM deployments WHERE source = ?1 AND external_id = ?2";
static const char SQL_DEP_SINCE[] =
	"SELECT id, service, source, external_id, version, ref, actor, environment, status,"
	" created_ms, url, detail FROM deployments WHERE service = ?1 COLLATE NOCASE"
	" AND created_ms >= ?2 ORDER BY created_ms DESC, id DESC LIMIT ?3";

static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

static char *col_dup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? strdup((const char *)t) : NULL;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

static int db_fail(struct store *st, const char *what)
{
	log_err("store", what, "err=%s", sqlite3_errmsg(store_sqlite(st)));
	return T0_EDB;
}

void store_incident_clear(struct store_incident *inc)
{
	if (!inc)
		return;
	free(inc->source);
	free(inc->external_id);
	free(inc->service);
	free(inc->title);
	free(inc->status);
	free(inc->severity);
	free(inc->channel);
	free(inc->platform);
	free(inc->message_ref);
	free(inc->detail);
	memset(inc, 0, sizeof(*inc));
}

static int read_incident(sqlite3_stmt *s, struct store_incident *out)
{
	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(s, 0);
	out->source = col_dup(s, 1);
	out->external_id = col_dup(s, 2);
	out->service = col_dup(s, 3);
	out->title = col_dup(s, 4);
	out->status = col_dup(s, 5);
	out->severity = col_dup(s, 6);
	out->created_ms = sqlite3_column_int64(s, 7);
	out->updated_ms = sqlite3_column_int64(s, 8);
	out->channel = col_dup(s, 9);
	out->platform = col_dup(s, 10);
	out->message_ref = col_dup(s, 11);
	out->detail = col_dup(s, 12);
	if (!out->source || !out->external_id || !out->title || !out->status || !out->detail) {
		store_incident_clear(out);
		return T0_ENOMEM;
	}
	return T0_OK;
}

int store_incident_upsert(struct store *st, const struct store_incident *in, int64_t *id,
			  int *created)
{
	sqlite3_stmt *s = NULL, *q = NULL;
	int64_t before = 0;
	int rc = T0_EDB, src;

	if (!st || !in || !in->source || !in->external_id || !in->status || !id)
		return T0_EINVAL;
	/* Whether the row is new: RETURNING cannot tell an insert from an update. */
	q = store_ext_stmt(st, SQL_INC_ID);
	if (!q)
		goto out;
	if (bind_text(q, 1, in->source) || bind_text(q, 2, in->external_id))
		goto fail;
	src = sqlite3_step(q);
	if (src == SQLITE_ROW)
		before = sqlite3_column_int64(q, 0);
	else if (src != SQLITE_DONE)
		goto fail;
	s = store_ext_stmt(st, SQL_INC_UPSERT);
	if (!s)
		goto out;
	if (bind_text(s, 1, in->source) || bind_text(s, 2, in->external_id) ||
	    bind_text(s, 3, in->service) || bind_text(s, 4, in->title ? in->title : "") ||
	    bind_text(s, 5, in->status) || bind_text(s, 6, in->severity) ||
	    sqlite3_bind_int64(s, 7, in->updated_ms ? in->updated_ms : in->created_ms) ||
	    bind_text(s, 8, in->detail ? in->detail : "{}"))
		goto fail;
	if (sqlite3_step(s) != SQLITE_ROW)
		goto fail;
	*id = sqlite3_column_int64(s, 0);
	if (created)
		*created = before == 0;
	rc = T0_OK;
	goto out;
fail:
	rc = db_fail(st, "incident_upsert");
out:
	store_ext_done(q);
	store_ext_done(s);
	return rc;
}

static int get_one(struct store *st, sqlite3_stmt *s, struct store_incident *out, const char *what)
{
	int src = sqlite3_step(s);

	if (src == SQLITE_DONE)
		return T0_ENOTFOUND;
	if (src != SQLITE_ROW)
		return db_fail(st, what);
	return read_incident(s, out);
}

int store_incident_get(struct store *st, int64_t id, struct store_incident *out)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !out)
		return T0_EINVAL;
	s = store_ext_stmt(st, SQL_INC_GET);
	if (!s)
		return T0_EDB;
	rc = sqlite3_bind_int64(s, 1, id) ? db_fail(st, "incident_get")
					  : get_one(st, s, out, "incident_get");
	store_ext_done(s);
	return rc;
}

int store_incident_find(struct store *st, const char *source, const char *external_id,
			struct store_incident *out)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !source || !external_id || !out)
		return T0_EINVAL;
	s = store_ext_stmt(st, SQL_INC_FIND);
	if (!s)
		return T0_EDB;
	rc = bind_text(s, 1, source) || bind_text(s, 2, external_id)
		     ? db_fail(st, "incident_find")
		     : get_one(st, s, out, "incident_find");
	store_ext_done(s);
	return rc;
}

int store_incident_latest(struct store *st, const char *service, int open_only,
			  struct store_incident *out)
{
	sqlite3_stmt *s;
	int rc;

	if (!st || !service || !out)
		return T0_EINVAL;
	s = store_ext_stmt(st, SQL_INC_LATEST);
	if (!s)
		return T0_EDB;
	rc = bind_text(s, 1, service) || sqlite3_bind_int(s, 2, open_only != 0)
		     ? db_fail(st, "incident_latest")
		     : get_one(st, s, out, "incident_latest");
	store_ext_done(s);
	return rc;
}

int store_incident_set_message(struct store *st, int64_t id, const char *platform,
			       const char *channel, const char *message_ref)
{
	sqlite3_stmt *s;
	int rc = T0_OK;

	if (!st)
		return T0_EINVAL;
	s = store_ext_stmt(st, SQL_INC_SET_MSG);
	if (!s)
		return T0_EDB;
	if (sqlite3_bind_int64(s, 1, id) || bind_text(s, 2, platform) || bind_text(s, 3, channel) ||
	    bind_text(s, 4, message_ref) || sqlite3_step(s) != SQLITE_DONE)
		rc = db_fail(st, "incident_set_message");
	else if (sqlite3_changes(store_sqlite(st)) == 0)
		rc = T0_ENOTFOUND;
	store_ext_done(s);
	return rc;
}

int store_incident_patch_detail(struct store *st, int64_t id, const char *patch_json)
{
	sqlite3_stmt *s;
	int rc = T0_OK;

	if (!st || !patch_json)
		return T0_EINVAL;
	s = store_ext_stmt(st, SQL_INC_PATCH);
	if (!s)
		return T0_EDB;
	if (sqlite3_bind_int64(s, 1, id) || bind_text(s, 2, patch_json) ||
	    sqlite3_step(s) != SQLITE_DONE)
		rc = db_fail(st, "incident_patch_detail");
	else if (sqlite3_changes(store_sqlite(st)) == 0)
		rc = T0_ENOTFOUND;
	store_ext_done(s);
	return rc;
}

int store_incident_ids_by_message(struct store *st, const char *channel, const char *message_ref,
				  int limit, int64_t **ids, size_t *n)
{
	sqlite3_stmt *s;
	int64_t *out = NULL;
	size_t cnt = 0;
	int rc = T0_OK, src;

	if (!st || !channel || !message_ref || !ids || !n || limit <= 0)
		return T0_EINVAL;
	*ids = NULL;
	*n = 0;
	if (limit > MAX_ROWS)
		limit = MAX_ROWS;
	out = malloc((size_t)limit * sizeof(*out));
	s = store_ext_stmt(st, SQL_INC_BY_MSG);
	if (!out || !s) {
		free(out);
		return out ? T0_EDB : T0_ENOMEM;
	}
	if (bind_text(s, 1, channel) || bind_text(s, 2, message_ref) ||
	    sqlite3_bind_int(s, 3, limit)) {
		rc = db_fail(st, "incident_ids_by_message");
		goto out;
	}
	while ((src = sqlite3_step(s)) == SQLITE_ROW && cnt < (size_t)limit)
		out[cnt++] = sqlite3_column_int64(s, 0);
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		rc = db_fail(st, "incident_ids_by_message");
out:
	store_ext_done(s);
	if (rc != T0_OK) {
		free(out);
		return rc;
	}
	*ids = out;
	*n = cnt;
	return T0_OK;
}

int store_incident_recent(struct store *st, const char *service, int64_t since_ms, int64_t skip_id,
			  int limit, store_incident_cb cb, void *arg)
{
	struct store_incident inc;
	sqlite3_stmt *s;
	int rc = T0_OK, src;

	if (!st || !service || !cb || limit <= 0)
		return T0_EINVAL;
	s = store_ext_stmt(st, SQL_INC_RECENT);
	if (!s)
		return T0_EDB;
	if (sqlite3_stmt_busy(s))
		return T0_EINVAL; /* a callback iterating again */
	if (bind_text(s, 1, service) || sqlite3_bind_int64(s, 2, since_ms) ||
	    sqlite3_bind_int64(s, 3, skip_id) ||
	    sqlite3_bind_int(s, 4, limit > MAX_ROWS ? MAX_ROWS : limit)) {
		rc = db_fail(st, "incident_recent");
		goto out;
	}
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		int stop;

		rc = read_incident(s, &inc);
		if (rc)
			goto out;
		stop = cb(arg, &inc);
		store_incident_clear(&inc);
		if (stop)
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = db_fail(st, "incident_recent");
out:
	store_ext_done(s);
	return rc;
}

static int count_query(struct store *st, const char *sql, int64_t param, int64_t *n)
{
	sqlite3_stmt *s;
	int rc = T0_OK;

	if (!st || !n)
		return T0_EINVAL;
	s = store_ext_stmt(st, sql);
	if (!s)
		return T0_EDB;
	if ((sqlite3_bind_parameter_count(s) && sqlite3_bind_int64(s, 1, param)) ||
	    sqlite3_step(s) != SQLITE_ROW)
		rc = db_fail(st, "count");
	else
		*n = sqlite3_column_int64(s, 0);
	store_ext_done(s);
	return rc;
}

int store_incident_count(struct store *st, int64_t *n)
{
	return count_query(st, SQL_INC_COUNT, 0, n);
}

int store_incident_event_count(struct store *st, int64_t incident_id, int64_t *n)
{
	return count_query(st, SQL_EV_COUNT, incident_id, n);
}

int store_incident_event_add(struct store *st, int64_t incident_id, int64_t ts_ms,
			     const char *kind, const char *event_id, const char *detail_json)
{
	sqlite3_stmt *s;
	int rc = T0_OK;

	if (!st || !kind)
		return T0_EINVAL;
	s = store_ext_stmt(st, SQL_EV_ADD);
	if (!s)
		return T0_EDB;
	if (sqlite3_bind_int64(s, 1, incident_id) || sqlite3_bind_int64(s, 2, ts_ms) ||
	    bind_text(s, 3, kind) || bind_text(s, 4, event_id) ||
	    bind_text(s, 5, detail_json ? detail_json : "{}") || sqlite3_step(s) != SQLITE_DONE)
		rc = db_fail(st, "incident_event_add");
	store_ext_done(s);
	return rc;
}

int store_incident_events(struct store *st, int64_t incident_id, int limit,
			  store_incident_event_cb cb, void *arg)
{
	struct store_incident_event ev;
	sqlite3_stmt *s;
	int rc = T0_OK, src;

	if (!st || !cb || limit <= 0)
		return T0_EINVAL;
	s = store_ext_stmt(st, SQL_EV_LIST);
	if (!s)
		return T0_EDB;
	if (sqlite3_stmt_busy(s))
		return T0_EINVAL;
	if (sqlite3_bind_int64(s, 1, incident_id) ||
	    sqlite3_bind_int(s, 2, limit > MAX_ROWS ? MAX_ROWS : limit)) {
		rc = db_fail(st, "incident_events");
		goto out;
	}
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		ev.id = sqlite3_column_int64(s, 0);
		ev.incident_id = sqlite3_column_int64(s, 1);
		ev.ts_ms = sqlite3_column_int64(s, 2);
		ev.kind = col_text(s, 3);
		ev.event_id = col_text(s, 4);
		ev.detail = col_text(s, 5);
		if (cb(arg, &ev))
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = db_fail(st, "incident_events");
out:
	store_ext_done(s);
	return rc;
}

int store_incident_action_put(struct store *st, const struct store_incident_action *a)
{
	sqlite3_stmt *s;
	int rc = T0_OK;

	if (!st || !a || !a->id[0] || !a->action[0])
		return T0_EINVAL;
	s = store_ext_stmt(st, SQL_ACT_PUT);
	if (!s)
		return T0_EDB;
	if (bind_text(s, 1, a->id) ||
	    (a->incident_id ? sqlite3_bind_int64(s, 2, a->incident_id) : sqlite3_bind_null(s, 2)) ||
	    bind_text(s, 3, a->action) || bind_text(s, 4, a->service[0] ? a->service : NULL) ||
	    bind_text(s, 5, a->runbook[0] ? a->runbook : NULL) ||
	    sqlite3_bind_int64(s, 6, a->created_ms) || sqlite3_step(s) != SQLITE_DONE)
		rc = db_fail(st, "incident_action_put");
	store_ext_done(s);
	return rc;
}

int store_incident_action_get(struct store *st, const char *id, struct store_incident_action *out)
{
	sqlite3_stmt *s;
	int rc = T0_OK, src;

	if (!st || !id || !out)
		return T0_EINVAL;
	s = store_ext_stmt(st, SQL_ACT_GET);
	if (!s)
		return T0_EDB;
	memset(out, 0, sizeof(*out));
	if (bind_text(s, 1, id)) {
		rc = db_fail(st, "incident_action_get");
		goto out;
	}
	src = sqlite3_step(s);
	if (src == SQLITE_DONE) {
		rc = T0_ENOTFOUND;
	} else if (src != SQLITE_ROW) {
		rc = db_fail(st, "incident_action_get");
	} else {
		snprintf(out->id, sizeof(out->id), "%s", col_text(s, 0) ? col_text(s, 0) : "");
		out->incident_id = sqlite3_column_int64(s, 1);
		snprintf(out->action, sizeof(out->action), "%s", col_text(s, 2) ? col_text(s, 2) : "");
		snprintf(out->service, sizeof(out->service), "%s",
			 col_text(s, 3) ? col_text(s, 3) : "");
		snprintf(out->runbook, sizeof(out->runbook), "%s",
			 col_text(s, 4) ? col_text(s, 4) : "");
		out->created_ms = sqlite3_column_int64(s, 5);
	}
out:
	store_ext_done(s);
	return rc;
}

int store_deployment_upsert(struct store *st, const struct store_deployment *d, int *inserted)
{
	sqlite3_stmt *s;
	int rc = T0_OK;

	if (!st || !d || !d->service || !d->source || !d->external_id)
		return T0_EINVAL;
	s = store_ext_stmt(st, SQL_DEP_UPSERT);
	if (!s)
		return T0_EDB;
	if (bind_text(s, 1, d->service) || bind_text(s, 2, d->source) ||
	    bind_text(s, 3, d->external_id) || bind_text(s, 4, d->version) ||
	    bind_text(s, 5, d->ref) || bind_text(s, 6, d->actor) ||
	    bind_text(s, 7, d->environment) || bind_text(s, 8, d->status) ||
	    sqlite3_bind_int64(s, 9, d->created_ms) || bind_text(s, 10, d->url) ||
	    bind_text(s, 11, d->detail ? d->detail : "{}")) {
		rc = db_fail(st, "deployment_upsert");
		goto out;
	}
	if (inserted) {
		/* The upsert cannot tell an insert from an update: ask first. */
		sqlite3_stmt *q = store_ext_stmt(st, SQL_DEP_EXISTS);
		int src;

		if (!q || bind_text(q, 1, d->source) || bind_text(q, 2, d->external_id)) {
			store_ext_done(q);
			rc = db_fail(st, "deployment_upsert");
			goto out;
		}
		src = sqlite3_step(q);
		*inserted = src == SQLITE_DONE;
		store_ext_done(q);
	}
	if (sqlite3_step(s) != SQLITE_DONE)
		rc = db_fail(st, "deployment_upsert");
out:
	store_ext_done(s);
	return rc;
}

int store_deployments_since(struct store *st, const char *service, int64_t since_ms, int limit,
			    store_deployment_cb cb, void *arg)
{
	struct store_deployment d;
	sqlite3_stmt *s;
	int rc = T0_OK, src;

	if (!st || !service || !cb || limit <= 0)
		return T0_EINVAL;
	s = store_ext_stmt(st, SQL_DEP_SINCE);
	if (!s)
		return T0_EDB;
	if (sqlite3_stmt_busy(s))
		return T0_EINVAL;
	if (bind_text(s, 1, service) || sqlite3_bind_int64(s, 2, since_ms) ||
	    sqlite3_bind_int(s, 3, limit > MAX_ROWS ? MAX_ROWS : limit)) {
		rc = db_fail(st, "deployments_since");
		goto out;
	}
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&d, 0, sizeof(d));
		d.id = sqlite3_column_int64(s, 0);
		d.service = col_text(s, 1);
		d.source = col_text(s, 2);
		d.external_id = col_text(s, 3);
		d.version = col_text(s, 4);
		d.ref = col_text(s, 5);
		d.actor = col_text(s, 6);
		d.environment = col_text(s, 7);
		d.status = col_text(s, 8);
		d.created_ms = sqlite3_column_int64(s, 9);
		d.url = col_text(s, 10);
		d.detail = col_text(s, 11);
		if (cb(arg, &d))
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = db_fail(st, "deployments_since");
out:
	store_ext_done(s);
	return rc;
}
