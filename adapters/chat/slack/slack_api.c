/*
 * Slack Web API on the shared curl multi: JSON bodies for the write methods,
 * form bodies for users.info and conversations.info (the only encoding Slack
 * lists for them), Bearer tokens in the header only. Every answer is checked
 * for "ok"; an ok:false is logged with the method and Slack's error code.
 * Plus the lazy, TTL-bound caches behind users.info and conversations.info.
 */
#include "adapters/chat/slack/slack_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bot/http_client.h"
#include "bot/log.h"
#include "bot/metrics.h"
#include "bot/t0.h"

#define API_TIMEOUT_MS 10000
#define API_MAX_RESPONSE (2u * 1024 * 1024)
#define API_URL_MAX 512
#define API_AUTH_MAX 600

struct api_call {
	char method[64];
	int flags;
	slack_api_cb cb;
	void *arg;
};

int slack_api_fatal_error(const char *error)
{
	static const char *const fatal[] = { "invalid_auth", "not_authed", "account_inactive",
					     "token_revoked", "token_expired", "team_disabled",
					     "user_removed_from_team", "no_permission", NULL };

	for (size_t i = 0; error && fatal[i]; i++)
		if (strcmp(error, fatal[i]) == 0)
			return 1;
	return 0;
}

static long retry_after_ms(const struct http_resp *resp)
{
	const char *ra = http_resp_header(resp, "retry-after");
	long s = 0;

	if (!ra)
		return 1000; /* Slack always sends one; be patient when it does not */
	for (; *ra >= '0' && *ra <= '9' && s < 86400; ra++)
		s = s * 10 + (*ra - '0');
	return s > 0 ? s * 1000 : 1000;
}

static void count(const char *method, const char *result)
{
	char labels[160];

	snprintf(labels, sizeof(labels), "method=\"%s\",result=\"%s\"", method, result);
	metrics_counter_add("tier0_slack_api_calls_total", labels, 1);
}

static void on_api_done(const struct http_resp *resp, void *arg)
{
	struct api_call *c = arg;
	struct slack_api_result res = { .rc = T0_EHTTP, .status = resp->status, .resp = resp };
	json_t *body = NULL;
	char word[32];

	if (resp->rc != T0_OK) {
		res.rc = resp->rc;
		res.error = resp->rc == T0_ETIMEOUT ? "timeout" : resp->rc == T0_ECLOSED ? "closed"
										 : "transport";
		if (resp->rc != T0_ECLOSED)
			log_warn("slack", "api_failed", "method=%s error=%s attempts=%d", c->method,
				 res.error, resp->attempts);
		count(c->method, "transport");
		goto out;
	}
	body = json_loadb(resp->body, resp->body_len, 0, NULL);
	res.body = body;
	if (resp->status == 429) {
		res.rc = T0_ERATELIMIT;
		res.error = "ratelimited";
		res.retry_after_ms = retry_after_ms(resp);
		log_warn("slack", "rate_limited", "method=%s retry_after_ms=%ld", c->method,
			 res.retry_after_ms);
		count(c->method, "ratelimited");
		goto out;
	}
	if (resp->status != 200 || !json_is_object(body)) {
		snprintf(word, sizeof(word), "http_%ld", resp->status);
		res.error = word;
		log_warn("slack", "api_failed", "method=%s status=%ld", c->method, resp->status);
		count(c->method, "error");
		goto out;
	}
	if (json_is_true(json_object_get(body, "ok"))) {
		const char *warning = json_string_value(json_object_get(body, "warning"));

		res.rc = T0_OK;
		if (warning)
			log_debug("slack", "api_warning", "method=%s warning=%s", c->method, warning);
		count(c->method, "ok");
		goto out;
	}
	res.error = json_string_value(json_object_get(body, "error"));
	if (!res.error)
		res.error = "unknown_error";
	if (strcmp(res.error, "ratelimited") == 0 || strcmp(res.error, "rate_limited") == 0) {
		res.rc = T0_ERATELIMIT;
		res.retry_after_ms = retry_after_ms(resp);
	} else if (slack_api_fatal_error(res.error)) {
		res.rc = T0_EDENIED;
	} else if (strstr(res.error, "not_found")) {
		res.rc = T0_ENOTFOUND;
	} else {
		res.rc = T0_EHTTP;
	}
	{
		const char *needed = json_string_value(json_object_get(body, "needed"));

		if (needed)
			log_warn("slack", "api_error", "method=%s error=%s needed=%s", c->method,
				 res.error, needed);
		else
			log_warn("slack", "api_error", "method=%s error=%s", c->method, res.error);
	}
	count(c->method, "error");
out:
	if (c->cb)
		c->cb(c->arg, &res);
	json_decref(body);
	free(c);
}

/* application/x-www-form-urlencoded value of s appended to out. */
static int form_append(char **out, size_t *len, size_t *cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*len + 4 > *cap) {
			size_t ncap = *cap ? *cap * 2 : 256;
			char *n = realloc(*out, ncap);

			if (!n)
				return T0_ENOMEM;
			*out = n;
			*cap = ncap;
		}
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			(*out)[(*len)++] = (char)*p;
		} else {
			(*out)[(*len)++] = '%';
			(*out)[(*len)++] = hex[*p >> 4];
			(*out)[(*len)++] = hex[*p & 15];
		}
	}
	if (*len + 1 > *cap) {
		char *n = realloc(*out, *cap + 16);

		if (!n)
			return T0_ENOMEM;
		*out = n;
		*cap += 16;
	}
	(*out)[*len] = '\0';
	return T0_OK;
}

static char *form_encode(const json_t *args, size_t *len)
{
	char *out = NULL, num[32];
	size_t cap = 0;
	const char *k;
	json_t *v;

	*len = 0;
	out = strdup("");
	if (!out)
		return NULL;
	cap = 1;
	json_object_foreach((json_t *)args, k, v) {
		const char *s = json_string_value(v);

		if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			s = num;
		} else if (json_is_boolean(v)) {
			s = json_is_true(v) ? "true" : "false";
		}
		if (!s)
			continue;
		/* the '&' and '=' between pairs are literal; keys and values are escaped */
		if (*len && form_append(&out, len, &cap, "") == T0_OK)
			out[(*len)++] = '&';
		if (form_append(&out, len, &cap, k) != T0_OK)
			goto fail;
		out[(*len)++] = '=';
		if (form_append(&out, len, &cap, s) != T0_OK)
			goto fail;
	}
	return out;
fail:
	free(out);
	return NULL;
}

static int start(struct slack_api *api, const char *url, const char *method_name,
		 const char *token, const char *ctype, char *body, size_t body_len, int flags,
		 slack_api_cb cb, void *arg)
{
	char auth[API_AUTH_MAX], ct[96];
	const char *hdrs[2];
	size_t nh = 0;
	struct api_call *c = calloc(1, sizeof(*c));
	struct http_req req = {
		.method = "POST",
		.url = url,
		.headers = hdrs,
		.body = body ? body : "",
		.body_len = body_len,
		.timeout_ms = API_TIMEOUT_MS,
		.max_response_bytes = API_MAX_RESPONSE,
		.max_retries = (flags & SLACK_API_NO_RETRY) ? 0 : 2,
		.retry_5xx = 1,
	};
	int rc;

	if (!c)
		return T0_ENOMEM;
	snprintf(c->method, sizeof(c->method), "%s", method_name);
	c->flags = flags;
	c->cb = cb;
	c->arg = arg;
	snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
	hdrs[nh++] = ct;
	if (token) {
		if (strlen(token) + 32 > sizeof(auth)) {
			free(c);
			return T0_EINVAL;
		}
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hdrs[nh++] = auth;
	}
	req.nheaders = nh;
	rc = http_request(api->loop, &req, on_api_done, c);
	if (token)
		memset(auth, 0, sizeof(auth));
	if (rc != T0_OK)
		free(c);
	return rc;
}

int slack_api_call(struct slack_api *api, const char *method, const char *token, json_t *args,
		   int flags, slack_api_cb cb, void *arg)
{
	char url[API_URL_MAX];
	char *body = NULL;
	size_t len = 0;
	int rc;

	if (strlen(api->base) + strlen(method) + 1 > sizeof(url)) {
		json_decref(args);
		return T0_EINVAL;
	}
	snprintf(url, sizeof(url), "%s%s", api->base, method);
	if (flags & SLACK_API_FORM) {
		body = args ? form_encode(args, &len) : strdup("");
	} else {
		body = args ? json_dumps(args, JSON_COMPACT) : strdup("{}");
		len = body ? strlen(body) : 0;
	}
	json_decref(args);
	if (!body)
		return T0_ENOMEM;
	rc = start(api, url, method, token,
		   (flags & SLACK_API_FORM) ? "application/x-www-form-urlencoded"
					    : "application/json; charset=utf-8",
		   body, len, flags, cb, arg);
	free(body);
	return rc;
}

/* response_url answers "ok" as text, or a JSON error. */
static void on_url_done(void *arg, const struct slack_api_result *res)
{
	(void)arg;
	(void)res;
}

int slack_api_post_url(struct slack_api *api, const char *url, json_t *body, slack_api_cb cb,
		       void *arg)
{
	char *text = json_dumps(body, JSON_COMPACT);
	int rc;

	json_decref(body);
	if (!text)
		return T0_ENOMEM;
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
		free(text);
		return T0_EINVAL;
	}
	rc = start(api, url, "response_url", NULL, "application/json; charset=utf-8", text,
		   strlen(text), 0, cb ? cb : on_url_done, arg);
	free(text);
	return rc;
}

/* ---- caches ---- */

struct cache_wait {
	slack_cache_cb cb;
	void *arg;
	struct cache_wait *next;
};

struct cache_ent {
	struct slack_cache *c;
	char *id;
	json_t *obj;        /* NULL while unknown */
	int64_t expires_ms;
	int fetching;
	struct cache_wait *waiters;
	struct cache_ent *next; /* hash chain */
};

#define CACHE_BUCKETS 1024

struct slack_cache {
	struct slack_api *api;
	const char **token;
	char method[48], arg_name[16], field[16];
	int64_t ttl_ms;
	struct cache_ent *b[CACHE_BUCKETS];
	size_t n;
	int freeing;
	/* deliveries of cached answers happen on a later turn, like fetched ones */
	struct cache_wait *ready;
	struct cache_ent *ready_ent;
};

static unsigned hash_id(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % CACHE_BUCKETS;
}

static struct cache_ent *ent_find(struct slack_cache *c, const char *id)
{
	for (struct cache_ent *e = c->b[hash_id(id)]; e; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

struct slack_cache *slack_cache_new(struct slack_api *api, const char **token, const char *method,
				    const char *arg_name, const char *field, int64_t ttl_ms)
{
	struct slack_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->api = api;
	c->token = token;
	snprintf(c->method, sizeof(c->method), "%s", method);
	snprintf(c->arg_name, sizeof(c->arg_name), "%s", arg_name);
	snprintf(c->field, sizeof(c->field), "%s", field);
	c->ttl_ms = ttl_ms;
	return c;
}

static void ent_free(struct cache_ent *e)
{
	while (e->waiters) {
		struct cache_wait *w = e->waiters;

		e->waiters = w->next;
		free(w);
	}
	json_decref(e->obj);
	free(e->id);
	free(e);
}

void slack_cache_free(struct slack_cache *c)
{
	if (!c)
		return;
	c->freeing = 1;
	for (size_t i = 0; i < CACHE_BUCKETS; i++)
		while (c->b[i]) {
			struct cache_ent *e = c->b[i];

			c->b[i] = e->next;
			if (e->fetching) {
				/* its request still holds e: orphan it, the answer frees it */
				e->next = NULL;
				while (e->waiters) {
					struct cache_wait *w = e->waiters;

					e->waiters = w->next;
					free(w);
				}
				e->fetching = 2;
				continue;
			}
			ent_free(e);
		}
	free(c);
}

size_t slack_cache_size(const struct slack_cache *c)
{
	return c ? c->n : 0;
}

const json_t *slack_cache_get(struct slack_cache *c, const char *id)
{
	struct cache_ent *e = ent_find(c, id);

	if (!e || !e->obj || e->expires_ms <= t0_now_ms())
		return NULL;
	return e->obj;
}

/* Drops expired entries; when still full, the whole table goes (rare: a huge workspace). */
static void cache_make_room(struct slack_cache *c)
{
	int64_t now = t0_now_ms();

	if (c->n < SLACK_CACHE_MAX)
		return;
	for (size_t i = 0; i < CACHE_BUCKETS; i++) {
		struct cache_ent **pp = &c->b[i];

		while (*pp) {
			struct cache_ent *e = *pp;

			if (!e->fetching && (e->expires_ms <= now || c->n >= SLACK_CACHE_MAX)) {
				*pp = e->next;
				ent_free(e);
				c->n--;
				continue;
			}
			pp = &e->next;
		}
	}
}

/* Waiters may start new lookups from their callback: take the list first. */
static void deliver(struct cache_ent *e)
{
	struct cache_wait *w = e->waiters;

	e->waiters = NULL;
	while (w) {
		struct cache_wait *next = w->next;

		w->cb(w->arg, e->obj);
		free(w);
		w = next;
	}
}

static void on_fetched(void *arg, const struct slack_api_result *res)
{
	struct cache_ent *e = arg;
	struct slack_cache *c;
	const json_t *obj;

	if (e->fetching == 2) { /* the cache went away meanwhile */
		ent_free(e);
		return;
	}
	c = e->c;
	e->fetching = 0;
	obj = res->rc == T0_OK ? json_object_get(res->body, c->field) : NULL;
	json_decref(e->obj);
	e->obj = json_is_object(obj) ? json_deep_copy(obj) : NULL;
	/* Failures are remembered briefly so a storm of events does not become a storm of calls. */
	e->expires_ms = t0_now_ms() + (e->obj ? c->ttl_ms : SLACK_NEG_TTL_MS);
	if (res->rc == T0_ECLOSED)
		e->expires_ms = 0;
	deliver(e);
}

int slack_cache_fetch(struct slack_cache *c, const char *id, slack_cache_cb cb, void *arg)
{
	struct cache_ent *e = ent_find(c, id);
	struct cache_wait *w;
	json_t *args;
	int rc;

	if (!id || !*id || strlen(id) > 64)
		return T0_EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return T0_ENOMEM;
	w->cb = cb;
	w->arg = arg;
	if (!e) {
		unsigned h = hash_id(id);

		cache_make_room(c);
		e = calloc(1, sizeof(*e));
		if (!e || !(e->id = strdup(id))) {
			free(e);
			free(w);
			return T0_ENOMEM;
		}
		e->c = c;
		e->next = c->b[h];
		c->b[h] = e;
		c->n++;
	}
	w->next = e->waiters;
	e->waiters = w;
	if (e->fetching)
		return T0_OK;
	/* Fresh, or a recent failure not to be asked again yet: answered at once. */
	if (e->expires_ms > t0_now_ms()) {
		deliver(e);
		return T0_OK;
	}
	args = json_pack("{s:s}", c->arg_name, id);
	e->fetching = 1;
	rc = slack_api_call(c->api, c->method, *c->token, args, SLACK_API_FORM, on_fetched, e);
	if (rc != T0_OK) {
		e->fetching = 0;
		e->waiters = w->next;
		free(w);
	}
	return rc;
}
