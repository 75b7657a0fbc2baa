/* OAuth2 client-credentials token cache for the Bot Connector. */
#include "adapters/chat/teams/teams_token.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <uv.h>

#include "adapters/chat/teams/teams_timer.h"
#include "bot/http_client.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"

#define TOKEN_MAX 16384
#define TOKEN_MAX_RESP (64 * 1024)

struct token_waiter {
	teams_token_cb cb;
	void *arg;
	struct token_waiter *next;
};

struct teams_token {
	struct t0_loop *l;
	char *url;
	char *form; /* the request body: holds the secret, wiped at free */
	char *token;
	uint64_t valid_until_ns; /* monotonic: use before this, refresh at it */
	uv_timer_t *timer;
	struct http_call *call;
	int started;
	uint64_t retry_ms;
	uint64_t fetches;
	struct token_waiter *waiters, **tail;
	size_t nwaiters;
};

static void token_fetch(struct teams_token *t);

/* application/x-www-form-urlencoded value */
static int form_add(char *out, size_t cap, size_t *len, const char *key, const char *val)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = *len;

	if (o) {
		if (o + 1 >= cap)
			return -1;
		out[o++] = '&';
	}
	for (const char *p = key; *p; p++) {
		if (o + 1 >= cap)
			return -1;
		out[o++] = *p;
	}
	if (o + 1 >= cap)
		return -1;
	out[o++] = '=';
	for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
		if (o + 4 >= cap)
			return -1;
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~", *p)) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	*len = o;
	return 0;
}

static void on_timer(uv_timer_t *h)
{
	token_fetch(h->data);
}

static void schedule(struct teams_token *t, uint64_t ms)
{
	if (t->started && t->timer)
		uv_timer_start(t->timer, on_timer, ms, 0);
}

static void forget(struct teams_token *t)
{
	if (t->token) {
		OPENSSL_cleanse(t->token, strlen(t->token));
		free(t->token);
	}
	t->token = NULL;
	t->valid_until_ns = 0;
}

static void complete(struct teams_token *t, int rc)
{
	struct token_waiter *w = t->waiters;

	t->waiters = NULL;
	t->tail = &t->waiters;
	t->nwaiters = 0;
	while (w) {
		struct token_waiter *n = w->next;

		w->cb(w->arg, rc, rc == T0_OK ? t->token : NULL);
		free(w);
		w = n;
	}
}

static void fail(struct teams_token *t, int rc, long status, const char *why)
{
	log_warn("teams", "token_failed", "status=%ld rc=%s error=%s retry_ms=%llu", status,
		 t0_rc_str(rc), why ? why : "", (unsigned long long)t->retry_ms);
	metrics_counter_add("tier0_teams_token_requests_total", "result=\"error\"", 1);
	if (rc != T0_ECLOSED) {
		schedule(t, t->retry_ms);
		t->retry_ms = t->retry_ms * 2 > TEAMS_TOKEN_RETRY_MAX_MS ? TEAMS_TOKEN_RETRY_MAX_MS
									 : t->retry_ms * 2;
	}
	complete(t, rc == T0_OK ? T0_EHTTP : rc);
}

static void on_token(const struct http_resp *resp, void *arg)
{
	struct teams_token *t = arg;
	json_t *doc = NULL;
	const char *tok, *err;
	json_int_t expires;
	uint64_t life_ms, early_ms;
	char errbuf[96];

	t->call = NULL;
	if (resp->rc != T0_OK) {
		fail(t, resp->rc, 0, "transport");
		return;
	}
	doc = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (resp->status != 200) {
		/* Entra ID says why in "error" (invalid_client, unauthorized_client, ...): no secret in it. */
		err = json_string_value(json_object_get(doc, "error"));
		snprintf(errbuf, sizeof(errbuf), "%.80s", err ? err : "http");
		for (char *p = errbuf; *p; p++)
			if (*p == ' ' || *p == '"' || *p == '\\')
				*p = '_';
		json_decref(doc);
		fail(t, T0_EHTTP, resp->status, errbuf);
		return;
	}
	tok = json_string_value(json_object_get(doc, "access_token"));
	expires = json_integer_value(json_object_get(doc, "expires_in"));
	if (!tok || !*tok || strlen(tok) > TOKEN_MAX || strpbrk(tok, " \r\n")) {
		json_decref(doc);
		fail(t, T0_EPARSE, resp->status, "no_access_token");
		return;
	}
	if (expires <= 0 || expires > 86400)
		expires = 3600;
	forget(t);
	t->token = strdup(tok);
	json_decref(doc);
	if (!t->token) {
		fail(t, T0_ENOMEM, resp->status, "oom");
		return;
	}
	/* Refresh ahead of expiry: 5 minutes early, or at half-life for short tokens. */
	life_ms = (uint64_t)expires * 1000u;
	early_ms = life_ms / 2 < 300000u ? life_ms / 2 : 300000u;
	t->valid_until_ns = t0_mono_ns() + (life_ms - early_ms) * 1000000u;
	t->retry_ms = TEAMS_TOKEN_RETRY_MIN_MS;
	t->fetches++;
	metrics_counter_add("tier0_teams_token_requests_total", "result=\"ok\"", 1);
	log_info("teams", "token_obtained", "expires_in=%lld", (long long)expires);
	schedule(t, life_ms - early_ms);
	complete(t, T0_OK);
}

static void token_fetch(struct teams_token *t)
{
	const char *hdrs[] = { "Content-Type: application/x-www-form-urlencoded",
			       "Accept: application/json" };
	struct http_req req = { .method = "POST", .url = t->url, .headers = hdrs, .nheaders = 2,
				.body = t->form, .body_len = strlen(t->form),
				.timeout_ms = TEAMS_TOKEN_TIMEOUT_MS,
				.max_response_bytes = TOKEN_MAX_RESP, .max_retries = 2,
				.retry_5xx = 1 };
	int rc;

	if (t->call)
		return;
	if (t->timer)
		uv_timer_stop(t->timer);
	rc = http_request_ex(t->l, &req, on_token, t, &t->call);
	if (rc != T0_OK)
		fail(t, rc, 0, "start");
}

struct teams_token *teams_token_new(struct t0_loop *l, const char *token_url, const char *app_id,
				    const char *secret)
{
	struct teams_token *t = calloc(1, sizeof(*t));
	size_t cap, len = 0;

	if (!t)
		return NULL;
	t->l = l;
	t->tail = &t->waiters;
	t->retry_ms = TEAMS_TOKEN_RETRY_MIN_MS;
	t->url = strdup(token_url);
	cap = 3 * (strlen(app_id) + strlen(secret) + strlen(TEAMS_TOKEN_SCOPE)) + 128;
	t->form = malloc(cap);
	t->timer = teams_timer_new(l, t);
	if (!t->url || !t->form || !t->timer ||
	    form_add(t->form, cap, &len, "grant_type", "client_credentials") ||
	    form_add(t->form, cap, &len, "client_id", app_id) ||
	    form_add(t->form, cap, &len, "client_secret", secret) ||
	    form_add(t->form, cap, &len, "scope", TEAMS_TOKEN_SCOPE)) {
		teams_token_free(t);
		return NULL;
	}
	return t;
}

void teams_token_stop(struct teams_token *t)
{
	if (!t)
		return;
	t->started = 0;
	/* Fetches on demand still work; only the refresh and retry timer goes. */
	teams_timer_free(t->timer);
	t->timer = NULL;
}

void teams_token_free(struct teams_token *t)
{
	if (!t)
		return;
	t->started = 0;
	if (t->call)
		http_cancel(t->call);
	complete(t, T0_ECLOSED);
	teams_timer_free(t->timer);
	forget(t);
	if (t->form) {
		OPENSSL_cleanse(t->form, strlen(t->form));
		free(t->form);
	}
	free(t->url);
	free(t);
}

int teams_token_start(struct teams_token *t)
{
	t->started = 1;
	token_fetch(t);
	return T0_OK;
}

static int valid(const struct teams_token *t)
{
	return t->token && t0_mono_ns() < t->valid_until_ns;
}

int teams_token_ready(const struct teams_token *t)
{
	return t && valid(t);
}

void teams_token_get(struct teams_token *t, teams_token_cb cb, void *arg)
{
	struct token_waiter *w;

	if (valid(t)) {
		cb(arg, T0_OK, t->token);
		return;
	}
	if (t->nwaiters >= TEAMS_TOKEN_MAX_WAITERS || !(w = calloc(1, sizeof(*w)))) {
		cb(arg, T0_ETOOBIG, NULL);
		return;
	}
	w->cb = cb;
	w->arg = arg;
	*t->tail = w;
	t->tail = &w->next;
	t->nwaiters++;
	token_fetch(t); /* joins a fetch under way; may complete before returning on failure */
}

void teams_token_invalidate(struct teams_token *t, const char *token)
{
	if (t->token && token && !strcmp(t->token, token)) {
		log_info("teams", "token_refused", "action=refetch");
		forget(t);
	}
}

uint64_t teams_token_fetches(const struct teams_token *t)
{
	return t ? t->fetches : 0;
}
