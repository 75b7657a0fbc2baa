/*
 * HTTP Events API mode (slack.mode: http): three routes on the inbound
 * server. Each request is checked (size, v0 signature over the raw body,
 * five-minute timestamp window) and answered at once; the work happens after
 * the answer, on the loop, so Slack always hears back within its 3 seconds.
 * Redeliveries (X-Slack-Retry-Num) carry the same event_id and are
 * de-duplicated by the core.
 */
#include "adapters/chat/slack/slack_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/http_server.h"
#include "bot/log.h"
#include "bot/metrics.h"
#include "bot/t0.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes one form component (s, n bytes): '+' is a space, %XX a byte. */
static char *form_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	/* a NUL decoded from %00 would cut the value short: refuse it */
	if (strlen(out) != o) {
		free(out);
		return NULL;
	}
	return out;
}

json_t *slack_form_parse(const char *body, size_t len)
{
	json_t *obj = json_object();
	size_t i = 0;

	if (!obj)
		return NULL;
	while (i < len) {
		size_t start = i, eq = (size_t)-1;
		char *k, *v;

		while (i < len && body[i] != '&') {
			if (body[i] == '=' && eq == (size_t)-1)
				eq = i;
			i++;
		}
		if (eq != (size_t)-1) {
			k = form_decode(body + start, eq - start);
			v = form_decode(body + eq + 1, i - eq - 1);
			if (k && v && *k) {
				json_t *js = json_string(v);

				if (js)
					json_object_set_new(obj, k, js);
			}
			free(k);
			free(v);
		}
		i++;
	}
	return obj;
}

char *slack_form_get(const char *body, size_t len, const char *name)
{
	json_t *f = slack_form_parse(body, len);
	const char *v = json_string_value(json_object_get(f, name));
	char *out = v ? strdup(v) : NULL;

	json_decref(f);
	return out;
}

static void reject(struct http_response *resp, int status, const char *why)
{
	char labels[64];

	snprintf(labels, sizeof(labels), "reason=\"%s\"", why);
	metrics_counter_add("tier0_slack_http_rejected_total", labels, 1);
	http_response_status(resp, status);
	http_response_body(resp, NULL, why, strlen(why));
}

/* Size and signature; 0 when the request may be looked at. */
static int verify(struct slack *s, const struct http_request *req, struct http_response *resp)
{
	const char *why = NULL;

	if (s->stopping) {
		reject(resp, 503, "stopping");
		return -1;
	}
	if (req->body_len > SLACK_HTTP_MAX_BODY) {
		log_warn("slack", "http_rejected", "path=%s reason=too_big bytes=%zu", req->path,
			 req->body_len);
		reject(resp, 413, "too_big");
		return -1;
	}
	if (slack_sig_verify(s->set.signing_secret, http_request_header(req, "x-slack-request-timestamp"),
			     http_request_header(req, "x-slack-signature"), req->body, req->body_len,
			     t0_now_ms() / 1000, &why) != T0_OK) {
		log_warn("slack", "http_rejected", "path=%s reason=%s remote=%s", req->path, why,
			 req->remote ? req->remote : "");
		reject(resp, 401, why);
		return -1;
	}
	return 0;
}

static int retry_num(const struct http_request *req)
{
	const char *r = http_request_header(req, "x-slack-retry-num");
	int n = r ? atoi(r) : 0;

	if (n > 0) {
		const char *why = http_request_header(req, "x-slack-retry-reason");

		log_info("slack", "http_retry", "path=%s retry=%d reason=%s", req->path, n,
			 why ? why : "");
		metrics_counter_add("tier0_slack_http_retries_total", NULL, 1);
	}
	return n;
}

static void queue_work(struct slack *s, int type, json_t *payload, int retry)
{
	struct slack_env *e = calloc(1, sizeof(*e));

	if (!e) {
		json_decref(payload);
		return;
	}
	e->type = type;
	e->payload = payload;
	e->retry = retry;
	e->acked = 1; /* the HTTP answer is the acknowledgement */
	e->received_ns = t0_mono_ns();
	s->envelopes++;
	slack_work_push(s, e);
}

static void route_events(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct slack *s = arg;
	json_t *j;
	const char *type;
	int retry;

	if (verify(s, req, resp) != 0)
		return;
	retry = retry_num(req);
	j = json_loadb(req->body, req->body_len, 0, NULL);
	type = json_string_value(json_object_get(j, "type"));
	if (!json_is_object(j) || !type) {
		json_decref(j);
		reject(resp, 400, "bad_json");
		return;
	}
	if (strcmp(type, "url_verification") == 0) {
		const char *challenge = json_string_value(json_object_get(j, "challenge"));
		json_t *a = json_pack("{s:s}", "challenge", challenge ? challenge : "");
		char *body = a ? json_dumps(a, JSON_COMPACT) : NULL;

		json_decref(a);
		json_decref(j);
		if (!body) {
			reject(resp, 500, "oom");
			return;
		}
		http_response_status(resp, 200);
		http_response_body_take(resp, "application/json", body, strlen(body));
		return;
	}
	metrics_counter_add("tier0_slack_envelopes_total", "type=\"events_api\"", 1);
	queue_work(s, SLACK_ENV_EVENTS, j, retry);
	http_response_status(resp, 200);
}

static void route_commands(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct slack *s = arg;
	json_t *fields = NULL, *payload = NULL;
	char *body, *ssl;

	/* Slack's certificate check carries no signature and asks for nothing but a 200 */
	if (req->body_len <= SLACK_HTTP_MAX_BODY &&
	    (ssl = slack_form_get(req->body, req->body_len, "ssl_check"))) {
		int is = strcmp(ssl, "1") == 0;

		free(ssl);
		if (is) {
			http_response_status(resp, 200);
			return;
		}
	}
	if (verify(s, req, resp) != 0)
		return;
	retry_num(req);
	fields = slack_form_parse(req->body, req->body_len);
	if (!fields || !json_object_get(fields, "command")) {
		json_decref(fields);
		reject(resp, 400, "bad_form");
		return;
	}
	metrics_counter_add("tier0_slack_envelopes_total", "type=\"slash_commands\"", 1);
	s->envelopes++;
	slack_command(s, fields, &payload);
	json_decref(fields);
	http_response_status(resp, 200);
	if (payload) {
		body = json_dumps(payload, JSON_COMPACT);
		json_decref(payload);
		if (body)
			http_response_body_take(resp, "application/json", body, strlen(body));
	}
}

static void route_interactive(const struct http_request *req, struct http_response *resp,
			      void *arg)
{
	struct slack *s = arg;
	char *p;
	json_t *j;

	if (verify(s, req, resp) != 0)
		return;
	retry_num(req);
	p = slack_form_get(req->body, req->body_len, "payload");
	j = p ? json_loads(p, 0, NULL) : NULL;
	free(p);
	if (!json_is_object(j)) {
		json_decref(j);
		reject(resp, 400, "bad_payload");
		return;
	}
	metrics_counter_add("tier0_slack_envelopes_total", "type=\"interactive\"", 1);
	queue_work(s, SLACK_ENV_INTERACTIVE, j, 0);
	http_response_status(resp, 200);
}

int slack_http_start(struct slack *s)
{
	int rc = http_server_route(s->ctx.http, "POST", "/slack/events", route_events, s);

	if (rc == T0_OK)
		rc = http_server_route(s->ctx.http, "POST", "/slack/commands", route_commands, s);
	if (rc == T0_OK)
		rc = http_server_route(s->ctx.http, "POST", "/slack/interactive", route_interactive, s);
	if (rc != T0_OK)
		log_err("slack", "routes_failed", "rc=%s", t0_rc_str(rc));
	else
		log_info("slack", "http_mode", "routes=%s", "/slack/events /slack/commands /slack/interactive");
	return rc;
}
