/* Fetching and caching the Bot Framework JWKS on the loop. */
#include "adapters/chat/teams/teams_keys.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "adapters/chat/teams/teams_jwt.h"
#include "adapters/chat/teams/teams_timer.h"
#include "bot/http_client.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"

#define KEYS_MAX_DOC (512 * 1024)

struct keys_waiter {
	teams_keys_cb cb;
	void *arg;
	struct keys_waiter *next;
};

struct teams_keys {
	struct t0_loop *l;
	char *openid_url;
	uint64_t refresh_ms;
	struct teams_jwks *set;
	uv_timer_t *timer; /* heap: closed asynchronously */
	struct http_call *call;
	int fetching;      /* 1: metadata, 2: keys */
	int started;
	int64_t last_miss_ms;
	uint64_t retry_ms;
	uint64_t fetches;
	struct keys_waiter *waiters;
	size_t nwaiters;
};

static void keys_fetch(struct teams_keys *k);

static void on_timer(uv_timer_t *t)
{
	keys_fetch(t->data);
}

static void schedule(struct teams_keys *k, uint64_t ms)
{
	if (k->timer && k->started)
		uv_timer_start(k->timer, on_timer, ms, 0);
}

static void finish(struct teams_keys *k, int rc)
{
	struct keys_waiter *w = k->waiters;

	k->fetching = 0;
	k->call = NULL;
	k->waiters = NULL;
	k->nwaiters = 0;
	metrics_counter_add("tier0_teams_jwks_refresh_total",
			    rc == T0_OK ? "result=\"ok\"" : "result=\"error\"", 1);
	if (rc == T0_OK) {
		k->retry_ms = TEAMS_KEYS_RETRY_MIN_MS;
		schedule(k, k->refresh_ms);
	} else if (rc != T0_ECLOSED) {
		/* Keep the old keys; try again sooner, backing off. */
		schedule(k, k->retry_ms);
		k->retry_ms = k->retry_ms * 2 > TEAMS_KEYS_RETRY_MAX_MS ? TEAMS_KEYS_RETRY_MAX_MS
									: k->retry_ms * 2;
	}
	while (w) {
		struct keys_waiter *n = w->next;

		w->cb(w->arg, rc);
		free(w);
		w = n;
	}
}

/* The JWKS must come over https when the metadata did (http only for loopback tests). */
static int uri_acceptable(const struct teams_keys *k, const char *uri)
{
	if (!uri || strpbrk(uri, " \r\n"))
		return 0;
	if (!strncasecmp(uri, "https://", 8))
		return 1;
	return !strncasecmp(uri, "http://", 7) && !strncasecmp(k->openid_url, "http://", 7);
}

static void on_keys(const struct http_resp *resp, void *arg)
{
	struct teams_keys *k = arg;
	size_t n = 0;
	int rc;

	k->call = NULL;
	if (resp->rc != T0_OK || resp->status != 200) {
		log_warn("teams", "jwks_fetch_failed", "step=keys rc=%s status=%ld",
			 t0_rc_str(resp->rc), resp->status);
		finish(k, resp->rc == T0_ECLOSED ? T0_ECLOSED : T0_EHTTP);
		return;
	}
	rc = teams_jwks_load(k->set, resp->body, resp->body_len, &n);
	if (rc != T0_OK) {
		log_warn("teams", "jwks_invalid", "rc=%s bytes=%zu", t0_rc_str(rc), resp->body_len);
		finish(k, T0_EPARSE);
		return;
	}
	log_info("teams", "jwks_loaded", "keys=%zu", n);
	finish(k, T0_OK);
}

static void on_metadata(const struct http_resp *resp, void *arg)
{
	struct teams_keys *k = arg;
	struct http_req req = { .method = "GET", .timeout_ms = TEAMS_KEYS_FETCH_TIMEOUT_MS,
				.max_response_bytes = KEYS_MAX_DOC, .max_retries = 1 };
	json_t *doc = NULL;
	const char *uri;
	int rc;

	k->call = NULL;
	if (resp->rc != T0_OK || resp->status != 200) {
		log_warn("teams", "jwks_fetch_failed", "step=metadata rc=%s status=%ld",
			 t0_rc_str(resp->rc), resp->status);
		finish(k, resp->rc == T0_ECLOSED ? T0_ECLOSED : T0_EHTTP);
		return;
	}
	doc = json_loadb(resp->body, resp->body_len, 0, NULL);
	uri = json_string_value(json_object_get(doc, "jwks_uri"));
	if (!uri_acceptable(k, uri)) {
		log_warn("teams", "openid_metadata_invalid", "reason=%s",
			 uri ? "jwks_uri_scheme" : "no_jwks_uri");
		json_decref(doc);
		finish(k, T0_EPARSE);
		return;
	}
	req.url = uri;
	k->fetching = 2;
	rc = http_request_ex(k->l, &req, on_keys, k, &k->call);
	json_decref(doc);
	if (rc != T0_OK)
		finish(k, rc);
}

static void keys_fetch(struct teams_keys *k)
{
	struct http_req req = { .method = "GET", .url = k->openid_url,
				.timeout_ms = TEAMS_KEYS_FETCH_TIMEOUT_MS,
				.max_response_bytes = KEYS_MAX_DOC, .max_retries = 1 };
	int rc;

	if (k->fetching)
		return;
	if (k->timer)
		uv_timer_stop(k->timer);
	k->fetching = 1;
	k->fetches++;
	rc = http_request_ex(k->l, &req, on_metadata, k, &k->call);
	if (rc != T0_OK) {
		log_warn("teams", "jwks_fetch_failed", "step=start rc=%s", t0_rc_str(rc));
		finish(k, rc);
	}
}

struct teams_keys *teams_keys_new(struct t0_loop *l, const char *openid_url, int refresh_s)
{
	struct teams_keys *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->l = l;
	k->openid_url = strdup(openid_url);
	k->set = teams_jwks_new();
	k->timer = teams_timer_new(l, k);
	k->refresh_ms = (uint64_t)(refresh_s > 0 ? refresh_s : 86400) * 1000u;
	k->retry_ms = TEAMS_KEYS_RETRY_MIN_MS;
	k->last_miss_ms = INT64_MIN / 2;
	if (!k->openid_url || !k->set || !k->timer) {
		teams_keys_free(k);
		return NULL;
	}
	return k;
}

void teams_keys_stop(struct teams_keys *k)
{
	if (!k)
		return;
	k->started = 0;
	/* Closed now, so the loop has no handle of ours left when it is freed. */
	teams_timer_free(k->timer);
	k->timer = NULL;
}

void teams_keys_free(struct teams_keys *k)
{
	if (!k)
		return;
	k->started = 0;
	if (k->call)
		http_cancel(k->call); /* finish() runs: waiters get T0_ECLOSED */
	if (k->waiters)
		finish(k, T0_ECLOSED);
	teams_timer_free(k->timer);
	teams_jwks_free(k->set);
	free(k->openid_url);
	free(k);
}

int teams_keys_start(struct teams_keys *k)
{
	k->started = 1;
	keys_fetch(k);
	return T0_OK;
}

const struct teams_jwks *teams_keys_set(const struct teams_keys *k)
{
	return k ? k->set : NULL;
}

int teams_keys_ready(const struct teams_keys *k)
{
	return k && teams_jwks_count(k->set) > 0;
}

int teams_keys_refresh(struct teams_keys *k, const char *kid, teams_keys_cb cb, void *arg)
{
	struct keys_waiter *w;
	int64_t now = (int64_t)(t0_mono_ns() / 1000000u);

	if (k->nwaiters >= TEAMS_KEYS_MAX_WAITERS)
		return T0_ETOOBIG;
	if (!k->fetching && kid) {
		if (now - k->last_miss_ms < TEAMS_KEYS_MISS_INTERVAL_MS)
			return T0_ERATELIMIT;
		k->last_miss_ms = now;
		log_info("teams", "jwks_refresh_unknown_kid", "kid=%.64s", kid);
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return T0_ENOMEM;
	w->cb = cb;
	w->arg = arg;
	w->next = k->waiters;
	k->waiters = w;
	k->nwaiters++;
	if (!k->fetching)
		keys_fetch(k); /* may finish at once on a start failure: cb then ran */
	return T0_OK;
}

uint64_t teams_keys_fetches(const struct teams_keys *k)
{
	return k ? k->fetches : 0;
}
