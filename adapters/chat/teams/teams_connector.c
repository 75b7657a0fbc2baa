/* Bot Connector calls: URL building, bearer token, one retry on 401, metrics. */
#include "adapters/chat/teams/teams_connector.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "adapters/chat/teams/teams_token.h"
#include "bot/curl_api.h"
#include "bot/http_client.h"
#include "bot/log.h"
#include "bot/metrics.h"
#include "bot/t0.h"
#include "bot/urlenc.h"

#define CONN_MAX_RESP (256 * 1024)
#define CONN_AUTH_MAX 16500

struct conn_call {
	struct teams_connector *c;
	struct conn_call *prev, *next;
	int op;
	char *url;
	char *body;
	char *token; /* the one sent, to invalidate it on a 401 */
	int token_retried;
	int waiting_token;
	struct http_call *http;
	teams_conn_cb cb;
	void *arg;
};

struct teams_connector {
	struct t0_loop *l;
	struct teams_token *tok;
	struct conn_call *calls;
	int closing;
};

static const char *const op_names[] = {
	[TEAMS_OP_SEND] = "send",
	[TEAMS_OP_REPLY] = "reply",
	[TEAMS_OP_UPDATE] = "update",
	[TEAMS_OP_MEMBER] = "member",
};

const char *teams_op_name(int op)
{
	return op >= 0 && op <= TEAMS_OP_MEMBER ? op_names[op] : "other";
}

int teams_connector_url(char *out, size_t cap, int op, const char *service_url, const char *conv,
			const char *id)
{
	char c[1024], i[512];
	size_t sl;
	int n;

	if (!service_url || !conv || !*conv || (op != TEAMS_OP_SEND && (!id || !*id)))
		return T0_EINVAL;
	if (strncasecmp(service_url, "https://", 8) && strncasecmp(service_url, "http://", 7))
		return T0_EINVAL;
	sl = strlen(service_url);
	while (sl && service_url[sl - 1] == '/')
		sl--;
	if (t0_url_encode(conv, c, sizeof(c)) != 0 || (id && t0_url_encode(id, i, sizeof(i)) != 0))
		return T0_ETOOBIG;
	switch (op) {
	case TEAMS_OP_SEND:
		n = snprintf(out, cap, "%.*s/v3/conversations/%s/activities", (int)sl, service_url, c);
		break;
	case TEAMS_OP_REPLY:
	case TEAMS_OP_UPDATE:
		n = snprintf(out, cap, "%.*s/v3/conversations/%s/activities/%s", (int)sl, service_url,
			     c, i);
		break;
	case TEAMS_OP_MEMBER:
		n = snprintf(out, cap, "%.*s/v3/conversations/%s/members/%s", (int)sl, service_url, c,
			     i);
		break;
	default:
		return T0_EINVAL;
	}
	return n > 0 && (size_t)n < cap ? T0_OK : T0_ETOOBIG;
}

struct teams_connector *teams_connector_new(struct t0_loop *l, struct teams_token *tok)
{
	struct teams_connector *c = calloc(1, sizeof(*c));

	if (c) {
		c->l = l;
		c->tok = tok;
	}
	return c;
}

static void call_unlink(struct conn_call *k)
{
	if (k->prev)
		k->prev->next = k->next;
	else
		k->c->calls = k->next;
	if (k->next)
		k->next->prev = k->prev;
}

static void call_free(struct conn_call *k)
{
	free(k->url);
	free(k->body);
	free(k->token);
	free(k);
}

static void count(int op, int rc, long status)
{
	char labels[96], st[24];

	if (rc == T0_OK)
		snprintf(st, sizeof(st), "%ld", status);
	else
		snprintf(st, sizeof(st), "%s", rc == T0_ETIMEOUT ? "timeout"
					      : rc == T0_ECLOSED ? "closed" : "error");
	snprintf(labels, sizeof(labels), "op=\"%s\",status=\"%s\"", teams_op_name(op), st);
	metrics_counter_add("tier0_teams_connector_calls_total", labels, 1);
}

static void call_finish(struct conn_call *k, const struct teams_conn_result *res)
{
	call_unlink(k);
	count(k->op, res->rc, res->status);
	if (res->rc != T0_OK || res->status >= 400)
		log_info("teams", "connector_call", "op=%s status=%ld rc=%s", teams_op_name(k->op),
			 res->status, t0_rc_str(res->rc));
	k->cb(k->arg, res);
	call_free(k);
}

static void fail(struct conn_call *k, int rc)
{
	struct teams_conn_result res = { .rc = rc, .body = "", .retry_after_ms = -1 };

	call_finish(k, &res);
}

static long parse_retry_after(const char *v)
{
	time_t when;
	char *end;
	unsigned long long s;

	if (!v)
		return -1;
	while (*v == ' ')
		v++;
	if (isdigit((unsigned char)*v)) {
		s = strtoull(v, &end, 10);
		while (*end == ' ')
			end++;
		if (*end)
			return -1;
		return s > 3600 ? 3600000L : (long)s * 1000;
	}
	/* An HTTP-date (curl is loaded: a response just came through it). */
	when = t0_curl.getdate(v, NULL);
	if (when == (time_t)-1)
		return -1;
	when -= (time_t)(t0_now_ms() / 1000);
	if (when <= 0)
		return 0;
	return when > 3600 ? 3600000L : (long)when * 1000;
}

static void start_attempt(struct conn_call *k);

static void on_resp(const struct http_resp *resp, void *arg)
{
	struct conn_call *k = arg;
	struct teams_conn_result res = { .rc = resp->rc, .status = resp->status,
					 .body = resp->body, .body_len = resp->body_len,
					 .retry_after_ms = -1 };

	k->http = NULL;
	if (resp->rc == T0_OK && resp->status == 401 && !k->token_retried && !k->c->closing) {
		/* The token may have been revoked or rotated: one fresh token, one more try. */
		count(k->op, resp->rc, resp->status);
		teams_token_invalidate(k->c->tok, k->token);
		k->token_retried = 1;
		start_attempt(k);
		return;
	}
	if (resp->rc == T0_OK && (resp->status == 429 || resp->status == 503))
		res.retry_after_ms = parse_retry_after(http_resp_header(resp, "Retry-After"));
	call_finish(k, &res);
}

static void on_token(void *arg, int rc, const char *token)
{
	struct conn_call *k = arg;
	char auth[CONN_AUTH_MAX];
	const char *hdrs[3];
	struct http_req req = { .method = "GET", .url = k->url, .headers = hdrs, .nheaders = 2,
				.timeout_ms = TEAMS_CONNECTOR_TIMEOUT_MS,
				.max_response_bytes = CONN_MAX_RESP };

	k->waiting_token = 0;
	if (rc != T0_OK || !token) {
		fail(k, rc == T0_OK ? T0_EHTTP : rc);
		return;
	}
	if (k->c->closing) {
		fail(k, T0_ECLOSED);
		return;
	}
	free(k->token);
	k->token = strdup(token);
	if (!k->token || (size_t)snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token) >=
				 sizeof(auth)) {
		fail(k, T0_ENOMEM);
		return;
	}
	hdrs[0] = auth;
	hdrs[1] = "Accept: application/json";
	if (k->body) {
		hdrs[2] = "Content-Type: application/json; charset=utf-8";
		req.nheaders = 3;
		req.method = k->op == TEAMS_OP_UPDATE ? "PUT" : "POST";
		req.body = k->body;
		req.body_len = strlen(k->body);
	}
	rc = http_request_ex(k->c->l, &req, on_resp, k, &k->http);
	if (rc != T0_OK)
		fail(k, rc);
}

static void start_attempt(struct conn_call *k)
{
	k->waiting_token = 1;
	teams_token_get(k->c->tok, on_token, k); /* may call on_token at once */
}

int teams_connector_call(struct teams_connector *c, int op, const char *service_url,
			 const char *conv, const char *id, const char *body, teams_conn_cb cb,
			 void *arg)
{
	char url[TEAMS_CONNECTOR_MAX_URL];
	struct conn_call *k;
	int rc;

	if (!c || !cb)
		return T0_EINVAL;
	if (c->closing)
		return T0_ECLOSED;
	rc = teams_connector_url(url, sizeof(url), op, service_url, conv, id);
	if (rc != T0_OK)
		return rc;
	if ((op == TEAMS_OP_MEMBER) != (body == NULL))
		return T0_EINVAL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return T0_ENOMEM;
	k->c = c;
	k->op = op;
	k->cb = cb;
	k->arg = arg;
	k->url = strdup(url);
	k->body = body ? strdup(body) : NULL;
	if (!k->url || (body && !k->body)) {
		call_free(k);
		return T0_ENOMEM;
	}
	k->next = c->calls;
	if (c->calls)
		c->calls->prev = k;
	c->calls = k;
	start_attempt(k);
	return T0_OK;
}

void teams_connector_close(struct teams_connector *c)
{
	if (c)
		c->closing = 1;
}

void teams_connector_free(struct teams_connector *c)
{
	if (!c)
		return;
	c->closing = 1;
	/*
	 * Calls waiting for a token are completed by the token client's free
	 * (the adapter frees it first); those on the wire are cancelled here.
	 */
	while (c->calls) {
		struct conn_call *k = c->calls;

		if (k->http)
			http_cancel(k->http); /* on_resp -> call_finish unlinks k */
		else
			fail(k, T0_ECLOSED);
	}
	free(c);
}
