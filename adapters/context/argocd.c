/*
 * Argo CD client: GET /api/v1/applications/{name} (or the list for a label
 * selector); every status.history entry deployed in the window becomes a
 * deployment (external id "<app>#<history id>"), and a Running or Failed
 * operation becomes an in-flight or failed one. The operation's initiator is
 * credited to the history entry that operation produced.
 */
#include "adapters/context/argocd.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/context/defer.h"
#include "bot/bot.h"
#include "bot/http_client.h"
#include "bot/incident.h"
#include "bot/log.h"
#include "bot/metrics.h"
#include "bot/t0.h"
#include "bot/urlenc.h"
#include "bot/timeparse.h"
#include "store/store.h"

#define AC_URL 2048
#define AC_MAX_RESPONSE (16u * 1024 * 1024)
#define AC_MAX_APPS 20
#define AC_DEFAULT_TIMEOUT_MS 5000

struct ac_lookup;

struct argocd {
	struct bot *b;
	struct t0_loop *loop;
	char *base; /* ".../api/v1" */
	char *ui;   /* the server, for links */
	char auth[2200];
	struct ac_lookup *lookups;
	int closing;
};

struct ac_lookup {
	struct argocd *ac;
	char *service;
	int64_t since_ms;
	argocd_cb cb;
	void *arg;
	struct http_call *call;
	int stored, rc, listing;
	char err[160];
	struct ac_lookup *prev, *next;
};

static void lookup_end(struct ac_lookup *l)
{
	struct argocd *ac = l->ac;
	char labels[64];

	snprintf(labels, sizeof(labels), "result=\"%s\"", l->rc == T0_OK ? "ok" : t0_rc_str(l->rc));
	metrics_counter_add("tier0_argocd_lookups_total", labels, 1);
	l->cb(l->arg, l->rc, l->stored, l->err[0] ? l->err : NULL);
	if (l->prev)
		l->prev->next = l->next;
	else if (ac && ac->lookups == l)
		ac->lookups = l->next;
	if (l->next)
		l->next->prev = l->prev;
	free(l->service);
	free(l);
}

static const char *str_at(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int64_t time_of(const char *s)
{
	int64_t ms = 0;

	if (s && t0_time_parse(s, T0_TIME_OFFSET_REQUIRED, &ms) == 0)
		return ms;
	return 0;
}

static void store_app(struct ac_lookup *l, const json_t *app)
{
	const json_t *md = json_object_get(app, "metadata");
	const json_t *status = json_object_get(app, "status");
	const json_t *hist = json_object_get(status, "history"), *h;
	const json_t *op = json_object_get(status, "operationState");
	const char *name = str_at(md, "name");
	const char *phase = str_at(op, "phase");
	const char *op_user = str_at(json_object_get(json_object_get(op, "operation"), "initiatedBy"),
				     "username");
	const char *op_rev = str_at(json_object_get(op, "syncResult"), "revision");
	int64_t op_finished = time_of(str_at(op, "finishedAt"));
	const json_t *dest = json_object_get(json_object_get(app, "spec"), "destination");
	const char *env = str_at(dest, "name") ? str_at(dest, "name") : str_at(dest, "server");
	char url[AC_URL], id[300], version[16];
	size_t i;

	if (!name)
		return;
	snprintf(url, sizeof(url), "%s/applications/%s", l->ac->ui, name);
	json_array_foreach(hist, i, h) {
		struct store_deployment d = { 0 };
		const json_t *ib = json_object_get(h, "initiatedBy");
		const char *rev = str_at(h, "revision");
		int64_t deployed = time_of(str_at(h, "deployedAt"));
		int64_t started = time_of(str_at(h, "deployStartedAt"));
		int inserted = 0;

		if (!json_is_integer(json_object_get(h, "id")) || !deployed)
			continue;
		if ((started ? started : deployed) < l->since_ms)
			continue;
		snprintf(id, sizeof(id), "%s#%lld", name,
			 (long long)json_integer_value(json_object_get(h, "id")));
		snprintf(version, sizeof(version), "%.7s", rev ? rev : "");
		d.service = l->service;
		d.source = "argocd";
		d.external_id = id;
		d.version = rev ? version : NULL;
		d.ref = str_at(json_object_get(h, "source"), "targetRevision");
		d.actor = str_at(ib, "username");
		if (!d.actor && json_is_true(json_object_get(ib, "automated")))
			d.actor = "automated sync";
		/* The last operation's initiator, for the entry that operation wrote. */
		if (!d.actor && op_user && op_finished == deployed && rev && op_rev &&
		    strcmp(rev, op_rev) == 0)
			d.actor = op_user;
		d.environment = env ? env : name;
		d.status = "success";
		d.created_ms = started ? started : deployed;
		d.url = url;
		if (store_deployment_upsert(l->ac->b->store, &d, &inserted) == T0_OK)
			l->stored++;
	}
	/* A sync in flight or one that failed is a change too. */
	if (phase && (strcmp(phase, "Running") == 0 || strcmp(phase, "Failed") == 0 ||
		      strcmp(phase, "Error") == 0)) {
		struct store_deployment d = { 0 };
		int64_t started = time_of(str_at(op, "startedAt"));
		const char *rev = str_at(json_object_get(json_object_get(op, "operation"), "sync"),
					 "revision");

		if (started >= l->since_ms && started) {
			snprintf(id, sizeof(id), "%s#op-%lld", name, (long long)started);
			snprintf(version, sizeof(version), "%.7s", rev ? rev : "");
			d.service = l->service;
			d.source = "argocd";
			d.external_id = id;
			d.version = rev ? version : NULL;
			d.actor = op_user;
			d.environment = env ? env : name;
			d.status = strcmp(phase, "Running") == 0 ? "in_progress" : "failure";
			d.created_ms = started;
			d.url = url;
			if (store_deployment_upsert(l->ac->b->store, &d, NULL) == T0_OK)
				l->stored++;
		}
	}
}

static void on_http(const struct http_resp *resp, void *arg)
{
	struct ac_lookup *l = arg;
	json_t *body = NULL;

	l->call = NULL;
	if (resp->rc == T0_OK && resp->status >= 200 && resp->status < 300 && resp->body_len)
		body = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (resp->rc != T0_OK || !json_is_object(body)) {
		l->rc = resp->rc == T0_ETIMEOUT ? T0_ETIMEOUT
			: resp->rc == T0_ECLOSED ? T0_ECLOSED
			: resp->rc != T0_OK	 ? T0_EHTTP
			/* A missing app is 403 unless the project is named (not leaking names). */
			: resp->status == 404 || resp->status == 403 ? T0_ENOTFOUND
			: resp->status >= 300			      ? T0_EHTTP
								      : T0_EPARSE;
		if (resp->rc == T0_OK && resp->status >= 300)
			snprintf(l->err, sizeof(l->err), "HTTP %ld%s", resp->status,
				 resp->status == 403 ? " (no such application, or no access)" : "");
		else
			snprintf(l->err, sizeof(l->err), "%s",
				 resp->rc == T0_ETIMEOUT ? "timed out" : t0_rc_str(l->rc));
		json_decref(body);
		lookup_end(l);
		return;
	}
	if (l->listing) {
		const json_t *items = json_object_get(body, "items"), *app;
		size_t i;

		/* items may be missing or null for an empty list. */
		json_array_foreach(items, i, app) {
			if (i >= AC_MAX_APPS)
				break;
			store_app(l, app);
		}
	} else {
		store_app(l, body);
	}
	json_decref(body);
	lookup_end(l);
}

static void end_later(void *arg)
{
	lookup_end(arg);
}

int argocd_fetch_history(struct argocd *ac, const char *app, const char *selector,
			 const char *service, int64_t since_ms, long timeout_ms, argocd_cb cb,
			 void *arg)
{
	struct ac_lookup *l;
	const char *headers[3];
	size_t nh = 0;
	char url[AC_URL], enc[1024];
	struct http_req req = { 0 };
	int rc = T0_OK;

	if (!ac || ac->closing)
		return T0_ECLOSED;
	if (!service || !cb)
		return T0_EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l || !(l->service = strdup(service))) {
		free(l);
		return T0_ENOMEM;
	}
	l->ac = ac;
	l->since_ms = since_ms;
	l->cb = cb;
	l->arg = arg;
	l->next = ac->lookups;
	if (ac->lookups)
		ac->lookups->prev = l;
	ac->lookups = l;
	if (app && *app && t0_url_encode(app, enc, sizeof(enc)) == 0) {
		snprintf(url, sizeof(url), "%s/applications/%s", ac->base, enc);
	} else if (!(app && *app) && selector && *selector &&
		   t0_url_encode(selector, enc, sizeof(enc)) == 0) {
		snprintf(url, sizeof(url), "%s/applications?selector=%s", ac->base, enc);
		l->listing = 1;
	} else if ((app && *app) || (selector && *selector)) {
		rc = T0_EINVAL;
		snprintf(l->err, sizeof(l->err), "argocd application name or selector too long");
	} else {
		rc = T0_EINVAL;
		snprintf(l->err, sizeof(l->err), "no argocd/app-name annotation");
	}
	if (rc == T0_OK) {
		if (ac->auth[0])
			headers[nh++] = ac->auth;
		headers[nh++] = "Accept: application/json";
		req.url = url;
		req.headers = headers;
		req.nheaders = nh;
		req.timeout_ms = timeout_ms > 0 ? timeout_ms : AC_DEFAULT_TIMEOUT_MS;
		req.deadline_ms = req.timeout_ms;
		req.max_response_bytes = AC_MAX_RESPONSE;
		req.max_retries = 1;
		req.retry_5xx = 1;
		rc = http_request_ex(ac->loop, &req, on_http, l, &l->call);
		if (rc != T0_OK)
			snprintf(l->err, sizeof(l->err), "%s", t0_rc_str(rc));
	}
	if (rc != T0_OK) {
		l->rc = rc;
		if (ctx_defer(ac->loop, end_later, l) != T0_OK) {
			l->cb = NULL;
			ac->lookups = l->next;
			if (l->next)
				l->next->prev = NULL;
			free(l->service);
			free(l);
			return T0_ECLOSED;
		}
	}
	return T0_OK;
}

struct argocd *argocd_new(struct bot *b, struct t0_loop *loop, const char *url, const char *token)
{
	struct argocd *ac;
	size_t n;

	if (!b || !loop || !url)
		return NULL;
	ac = calloc(1, sizeof(*ac));
	if (!ac)
		return NULL;
	ac->b = b;
	ac->loop = loop;
	n = strlen(url);
	while (n && url[n - 1] == '/')
		n--;
	ac->ui = strndup(url, n);
	ac->base = malloc(n + sizeof("/api/v1"));
	if (!ac->ui || !ac->base ||
	    (token && *token &&
	     (size_t)snprintf(ac->auth, sizeof(ac->auth), "Authorization: Bearer %s", token) >=
		     sizeof(ac->auth))) {
		free(ac->ui);
		free(ac->base);
		free(ac);
		return NULL;
	}
	snprintf(ac->base, n + sizeof("/api/v1"), "%s/api/v1", ac->ui);
	return ac;
}

void argocd_shutdown(struct argocd *ac)
{
	if (!ac || ac->closing)
		return;
	ac->closing = 1;
	while (ac->lookups && ac->lookups->call)
		http_cancel(ac->lookups->call); /* ends and unlinks the lookup */
}

void argocd_free(struct argocd *ac)
{
	if (!ac)
		return;
	argocd_shutdown(ac);
	for (struct ac_lookup *l = ac->lookups; l; l = l->next)
		l->ac = NULL;
	memset(ac->auth, 0, sizeof(ac->auth));
	free(ac->ui);
	free(ac->base);
	free(ac);
}

/* ---- the "Argo CD" context source ---- */

struct ac_src {
	incident_src_cb cb;
	void *arg;
};

static void src_done(void *arg, int rc, int stored, const char *error)
{
	struct ac_src *s = arg;
	struct incident_src_result res;

	incident_src_deploys_result(&res, rc, stored, error);
	s->cb(s->arg, &res);
	free(s);
}

static int ac_source_lookup(void *state, const struct incident_query *q, incident_src_cb cb,
			    void *arg)
{
	struct ac_src *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return T0_ENOMEM;
	s->cb = cb;
	s->arg = arg;
	rc = argocd_fetch_history(state, q->argocd_app, q->argocd_selector,
				  q->service ? q->service : "", q->since_ms, q->timeout_ms, src_done,
				  s);
	if (rc != T0_OK)
		free(s);
	return rc;
}

int argocd_incident_source(struct argocd *ac, struct incident_source *out)
{
	if (!ac || !out)
		return T0_EINVAL;
	memset(out, 0, sizeof(*out));
	out->name = "Argo CD";
	out->roles = INC_SRC_DEPLOYS;
	out->lookup = ac_source_lookup;
	out->state = ac;
	return T0_OK;
}
