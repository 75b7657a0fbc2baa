/*
 * GitHub Deployments client: GET /repos/{o}/{r}/deployments, then the newest
 * status of each deployment in the window (in parallel), each stored as it
 * arrives. A status that cannot be read leaves the deployment "created".
 */
#include "adapters/context/github.h"

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
#include "bot/timeparse.h"
#include "store/store.h"

#define GH_URL 2048
#define GH_MAX_RESPONSE (4u * 1024 * 1024)
#define GH_DEFAULT_TIMEOUT_MS 5000

struct gh_lookup;

struct github {
	struct bot *b;
	struct t0_loop *loop;
	char *api;
	char auth[600];
	struct gh_lookup *lookups;
	int closing;
};

struct gh_call {
	struct gh_lookup *l;
	struct http_call *call;
	json_int_t deployment_id;
	int index; /* position in the deployments array; -1 = the list itself */
};

struct gh_lookup {
	struct github *gh;
	char *repo, *service;
	int64_t since_ms;
	uint64_t deadline_ns;
	github_cb cb;
	void *arg;
	json_t *deps;
	struct gh_call calls[1 + GITHUB_MAX_DEPLOYMENTS];
	int outstanding, stored, rc, done;
	char err[160];
	struct gh_lookup *prev, *next;
};

static long left_ms(const struct gh_lookup *l)
{
	uint64_t now = t0_mono_ns();

	return now >= l->deadline_ns ? 0 : (long)((l->deadline_ns - now) / 1000000);
}

static void lookup_free(struct gh_lookup *l)
{
	struct github *gh = l->gh;

	if (l->prev)
		l->prev->next = l->next;
	else if (gh && gh->lookups == l)
		gh->lookups = l->next;
	if (l->next)
		l->next->prev = l->prev;
	json_decref(l->deps);
	free(l->repo);
	free(l->service);
	free(l);
}

static void lookup_end(struct gh_lookup *l)
{
	char labels[64];

	if (l->outstanding > 0 || l->done)
		return;
	l->done = 1;
	snprintf(labels, sizeof(labels), "result=\"%s\"", l->rc == T0_OK ? "ok" : t0_rc_str(l->rc));
	metrics_counter_add("tier0_github_lookups_total", labels, 1);
	l->cb(l->arg, l->rc, l->stored, l->err[0] ? l->err : NULL);
	lookup_free(l);
}

static void on_http(const struct http_resp *resp, void *arg);

static int get(struct gh_lookup *l, struct gh_call *c, const char *path)
{
	struct github *gh = l->gh;
	const char *headers[4];
	size_t nh = 0;
	char url[GH_URL];
	struct http_req req = { 0 };
	long left = left_ms(l);
	int rc;

	if (left <= 0)
		return T0_ETIMEOUT;
	snprintf(url, sizeof(url), "%s%s", gh->api, path);
	if (gh->auth[0])
		headers[nh++] = gh->auth;
	headers[nh++] = "Accept: application/vnd.github+json";
	headers[nh++] = "X-GitHub-Api-Version: 2022-11-28";
	headers[nh++] = "User-Agent: tier0/" T0_VERSION;
	req.url = url;
	req.headers = headers;
	req.nheaders = nh;
	req.timeout_ms = left;
	req.deadline_ms = left;
	req.max_response_bytes = GH_MAX_RESPONSE;
	req.max_retries = 1;
	req.retry_5xx = 1;
	c->l = l;
	rc = http_request_ex(gh->loop, &req, on_http, c, &c->call);
	if (rc == T0_OK)
		l->outstanding++;
	return rc;
}

static void store_one(struct gh_lookup *l, const json_t *dep, const json_t *status)
{
	struct store_deployment d = { 0 };
	const char *sha = json_string_value(json_object_get(dep, "sha"));
	const char *created = json_string_value(json_object_get(dep, "created_at"));
	char id[32], version[8];
	int64_t ms = 0;

	snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(dep, "id")));
	if (sha) {
		snprintf(version, sizeof(version), "%.7s", sha);
		d.version = version;
	}
	if (created)
		t0_time_parse(created, T0_TIME_OFFSET_REQUIRED, &ms);
	d.service = l->service;
	d.source = "github";
	d.external_id = id;
	d.ref = json_string_value(json_object_get(dep, "ref"));
	d.actor = json_string_value(json_object_get(json_object_get(dep, "creator"), "login"));
	d.environment = json_string_value(json_object_get(dep, "environment"));
	d.created_ms = ms ? ms : t0_now_ms();
	if (status) {
		d.status = json_string_value(json_object_get(status, "state"));
		d.url = json_string_value(json_object_get(status, "log_url"));
		if (!d.url || !*d.url)
			d.url = json_string_value(json_object_get(status, "target_url"));
		if (d.url && !*d.url)
			d.url = NULL;
	} else {
		d.status = "created";
	}
	if (store_deployment_upsert(l->gh->b->store, &d, NULL) == T0_OK && !status)
		l->stored++;
}

static void on_http(const struct http_resp *resp, void *arg)
{
	struct gh_call *c = arg;
	struct gh_lookup *l = c->l;
	json_t *body = NULL;
	size_t i;

	c->call = NULL;
	l->outstanding--;
	if (resp->rc == T0_OK && resp->status >= 200 && resp->status < 300 && resp->body_len)
		body = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (c->index >= 0) {
		/* A deployment's statuses, newest first: the first is its state now. */
		const json_t *st = json_array_get(body, 0);

		if (json_is_object(st))
			store_one(l, json_array_get(l->deps, (size_t)c->index), st);
		json_decref(body);
		lookup_end(l);
		return;
	}
	if (resp->rc != T0_OK || !json_is_array(body)) {
		l->rc = resp->rc == T0_ETIMEOUT ? T0_ETIMEOUT
			: resp->rc == T0_ECLOSED ? T0_ECLOSED
			: resp->rc != T0_OK	 ? T0_EHTTP
			: resp->status == 404	 ? T0_ENOTFOUND
			: resp->status >= 300	 ? T0_EHTTP
						 : T0_EPARSE;
		if (resp->rc == T0_OK && resp->status >= 300)
			snprintf(l->err, sizeof(l->err), "HTTP %ld", resp->status);
		else
			snprintf(l->err, sizeof(l->err), "%s",
				 resp->rc == T0_ETIMEOUT ? "timed out" : t0_rc_str(l->rc));
		json_decref(body);
		lookup_end(l);
		return;
	}
	l->deps = body;
	for (i = 0; i < json_array_size(body) && i < GITHUB_MAX_DEPLOYMENTS; i++) {
		const json_t *dep = json_array_get(body, i);
		const char *created = json_string_value(json_object_get(dep, "created_at"));
		json_int_t id = json_integer_value(json_object_get(dep, "id"));
		int64_t ms = 0;
		char path[GH_URL];

		if (!json_is_object(dep) || !id)
			continue;
		if (created && t0_time_parse(created, T0_TIME_OFFSET_REQUIRED, &ms) == 0 &&
		    ms < l->since_ms)
			break; /* newest first: the rest are older still */
		store_one(l, dep, NULL);
		snprintf(path, sizeof(path), "/repos/%s/deployments/%lld/statuses?per_page=1",
			 l->repo, (long long)id);
		l->calls[i + 1].index = (int)i;
		l->calls[i + 1].deployment_id = id;
		get(l, &l->calls[i + 1], path);
	}
	lookup_end(l);
}

/* "org/repo": letters, digits, '-', '_', '.' and one '/'. */
static int repo_ok(const char *r)
{
	int slashes = 0;

	if (!r || !*r || strlen(r) > 200 || r[0] == '/' || r[0] == '.')
		return 0;
	for (; *r; r++) {
		if (*r == '/')
			slashes++;
		else if (!isalnum((unsigned char)*r) && *r != '-' && *r != '_' && *r != '.')
			return 0;
	}
	return slashes == 1;
}

static void fail_later(void *arg)
{
	lookup_end(arg);
}

int github_fetch_deployments(struct github *gh, const char *repo, const char *service,
			     int64_t since_ms, long timeout_ms, github_cb cb, void *arg)
{
	struct gh_lookup *l;
	char path[GH_URL];
	int rc;

	if (!gh || gh->closing)
		return T0_ECLOSED;
	if (!service || !cb)
		return T0_EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return T0_ENOMEM;
	l->gh = gh;
	l->repo = repo ? strdup(repo) : NULL;
	l->service = strdup(service);
	l->since_ms = since_ms;
	l->cb = cb;
	l->arg = arg;
	l->deadline_ns = t0_mono_ns() +
			 (uint64_t)(timeout_ms > 0 ? timeout_ms : GH_DEFAULT_TIMEOUT_MS) * 1000000;
	l->next = gh->lookups;
	if (gh->lookups)
		gh->lookups->prev = l;
	gh->lookups = l;
	for (size_t i = 0; i < T0_ARRAY_LEN(l->calls); i++)
		l->calls[i].index = -1;
	if (!l->service || !repo_ok(repo)) {
		l->rc = l->service ? T0_EINVAL : T0_ENOMEM;
		snprintf(l->err, sizeof(l->err), "%s", repo ? "invalid github.com/project-slug"
							    : "no github.com/project-slug annotation");
	} else {
		snprintf(path, sizeof(path), "/repos/%s/deployments?per_page=%d", repo,
			 GITHUB_MAX_DEPLOYMENTS);
		rc = get(l, &l->calls[0], path);
		if (rc != T0_OK) {
			l->rc = rc;
			snprintf(l->err, sizeof(l->err), "%s", t0_rc_str(rc));
		}
	}
	if (l->outstanding == 0 && ctx_defer(gh->loop, fail_later, l) != T0_OK) {
		lookup_free(l);
		return T0_ECLOSED;
	}
	return T0_OK;
}

struct github *github_new(struct bot *b, struct t0_loop *loop, const char *api_url,
			  const char *token)
{
	struct github *gh;
	size_t n;

	if (!b || !loop)
		return NULL;
	gh = calloc(1, sizeof(*gh));
	if (!gh)
		return NULL;
	gh->b = b;
	gh->loop = loop;
	gh->api = strdup(api_url && *api_url ? api_url : "https://api.github.com");
	if (!gh->api ||
	    (token && *token &&
	     (size_t)snprintf(gh->auth, sizeof(gh->auth), "Authorization: Bearer %s", token) >=
		     sizeof(gh->auth))) {
		free(gh->api);
		free(gh);
		return NULL;
	}
	n = strlen(gh->api);
	while (n && gh->api[n - 1] == '/')
		gh->api[--n] = '\0';
	return gh;
}

void github_shutdown(struct github *gh)
{
	if (!gh || gh->closing)
		return;
	gh->closing = 1;
	for (struct gh_lookup *l = gh->lookups, *next; l; l = next) {
		next = l->next;
		for (size_t i = 0; i < T0_ARRAY_LEN(l->calls); i++)
			if (l->calls[i].call)
				http_cancel(l->calls[i].call); /* may end (and free) l */
	}
}

void github_free(struct github *gh)
{
	if (!gh)
		return;
	github_shutdown(gh);
	/* Lookups waiting on a deferred answer end on their own; detach them. */
	for (struct gh_lookup *l = gh->lookups; l; l = l->next)
		l->gh = NULL;
	memset(gh->auth, 0, sizeof(gh->auth));
	free(gh->api);
	free(gh);
}

/* ---- the "GitHub" context source ---- */

struct gh_src {
	incident_src_cb cb;
	void *arg;
};

static void src_done(void *arg, int rc, int stored, const char *error)
{
	struct gh_src *s = arg;
	struct incident_src_result res;

	incident_src_deploys_result(&res, rc, stored, error);
	s->cb(s->arg, &res);
	free(s);
}

static int gh_source_lookup(void *state, const struct incident_query *q, incident_src_cb cb,
			    void *arg)
{
	struct gh_src *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return T0_ENOMEM;
	s->cb = cb;
	s->arg = arg;
	rc = github_fetch_deployments(state, q->github_slug, q->service ? q->service : "",
				      q->since_ms, q->timeout_ms, src_done, s);
	if (rc != T0_OK)
		free(s);
	return rc;
}

int github_incident_source(struct github *gh, struct incident_source *out)
{
	if (!gh || !out)
		return T0_EINVAL;
	memset(out, 0, sizeof(*out));
	out->name = "GitHub";
	out->roles = INC_SRC_DEPLOYS;
	out->lookup = gh_source_lookup;
	out->state = gh;
	return T0_OK;
}
