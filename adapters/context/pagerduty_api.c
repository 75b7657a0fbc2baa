/*
 * PagerDuty REST API v2 client: one struct pd_op per call (pages, 429
 * waits), a list of them per client so shutdown can fail them, and the
 * "PagerDuty" context source built on the reads.
 */
#include "adapters/context/pagerduty.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "bot/config.h"
#include "bot/http_client.h"
#include "bot/incident.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"
#include "bot/urlenc.h"
#include "bot/timeparse.h"

#define PD_DEFAULT_TIMEOUT_MS 10000
#define PD_PAGE 100
#define PD_MAX_PAGES 10
#define PD_MAX_RESPONSE (4u * 1024 * 1024)
#define PD_MAX_RATE_WAIT_MS 60000
#define PD_URL 2048

struct pd_op;

struct pd_client {
	struct t0_loop *loop;
	char *api_url, *token, *from_email;
	char auth[600];
	long timeout_ms;
	uint64_t blocked_until_ns; /* after a 429: nobody calls before this */
	struct pd_op *ops;
	int closing, handles, free_pending;
};

struct pd_op {
	struct pd_client *c;
	char method[8];
	char *url;      /* without pagination parameters */
	char *body;
	char *from;
	const char *list_key; /* paged list: the array to collect */
	int offset, pages, limit_total;
	json_t *acc;
	uint64_t deadline_ns;
	pd_done_cb cb;
	void *arg;
	struct http_call *call;
	uv_timer_t timer;
	int timer_init, waiting, done, retried;
	struct pd_op *prev, *next;
};

static char *dup_opt(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ---- lifetime ---- */

static void client_maybe_free(struct pd_client *c)
{
	if (!c->free_pending || c->handles > 0 || c->ops)
		return;
	free(c->api_url);
	if (c->token)
		memset(c->token, 0, strlen(c->token));
	free(c->token);
	free(c->from_email);
	memset(c->auth, 0, sizeof(c->auth));
	free(c);
}

static void op_timer_closed(uv_handle_t *h)
{
	struct pd_op *op = h->data;
	struct pd_client *c = op->c;

	free(op);
	c->handles--;
	client_maybe_free(c);
}

static void op_unlink(struct pd_op *op)
{
	struct pd_client *c = op->c;

	if (op->prev)
		op->prev->next = op->next;
	else if (c->ops == op)
		c->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	op->prev = op->next = NULL;
}

static void op_free(struct pd_op *op)
{
	struct pd_client *c = op->c;

	op_unlink(op);
	free(op->url);
	free(op->body);
	free(op->from);
	json_decref(op->acc);
	if (op->timer_init) {
		uv_close((uv_handle_t *)&op->timer, op_timer_closed);
		return;
	}
	free(op);
	client_maybe_free(c);
}

static void op_complete(struct pd_op *op, int rc, long status, const char *error, int code,
			const json_t *data)
{
	struct pd_result res = { .rc = rc, .status = status, .error = error, .error_code = code,
				 .data = data };
	char labels[64];

	if (op->done)
		return;
	op->done = 1;
	snprintf(labels, sizeof(labels), "result=\"%s\"", rc == T0_OK ? "ok" : t0_rc_str(rc));
	metrics_counter_add("tier0_pagerduty_calls_total", labels, 1);
	if (op->cb)
		op->cb(op->arg, &res);
	op_free(op);
}

/* ---- requests ---- */

static void op_send(struct pd_op *op);

static void on_wait(uv_timer_t *t)
{
	struct pd_op *op = t->data;

	op->waiting = 0;
	op_send(op);
}

static int op_wait_ms(struct pd_op *op, uint64_t ms)
{
	if (!op->timer_init) {
		if (uv_timer_init(loop_uv(op->c->loop), &op->timer) != 0)
			return T0_EIO;
		op->timer.data = op;
		op->timer_init = 1;
		op->c->handles++;
	}
	op->waiting = 1;
	uv_timer_start(&op->timer, on_wait, ms, 0);
	return T0_OK;
}

static long ms_left(const struct pd_op *op)
{
	uint64_t now = t0_mono_ns();

	return now >= op->deadline_ns ? 0 : (long)((op->deadline_ns - now) / 1000000);
}

/* Seconds from ratelimit-reset (PagerDuty) or Retry-After; -1 when neither. */
static long reset_seconds(const struct http_resp *resp)
{
	const char *v = http_resp_header(resp, "ratelimit-reset");

	if (!v)
		v = http_resp_header(resp, "retry-after");
	if (!v || !isdigit((unsigned char)*v))
		return -1;
	return strtol(v, NULL, 10);
}

static void on_http(const struct http_resp *resp, void *arg)
{
	struct pd_op *op = arg;
	json_t *body = NULL;
	const char *err_msg = NULL;
	int code = 0;

	op->call = NULL;
	if (resp->rc != T0_OK) {
		op_complete(op, resp->rc == T0_ETIMEOUT ? T0_ETIMEOUT
				 : resp->rc == T0_ECLOSED ? T0_ECLOSED
							  : T0_EHTTP,
			    0, resp->rc == T0_ETIMEOUT ? "timed out" : t0_rc_str(resp->rc), 0, NULL);
		return;
	}
	if (resp->body_len)
		body = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (resp->status == 429) {
		long secs = reset_seconds(resp);
		uint64_t wait_ms = secs >= 0 ? (uint64_t)secs * 1000 : 1000;

		if (wait_ms > PD_MAX_RATE_WAIT_MS)
			wait_ms = PD_MAX_RATE_WAIT_MS;
		op->c->blocked_until_ns = t0_mono_ns() + wait_ms * 1000000;
		metrics_counter_add("tier0_pagerduty_rate_limited_total", NULL, 1);
		log_warn("pagerduty", "rate_limited", "wait_ms=%llu left_ms=%ld",
			 (unsigned long long)wait_ms, ms_left(op));
		json_decref(body);
		if ((long)wait_ms < ms_left(op) && op_wait_ms(op, wait_ms) == T0_OK)
			return;
		op_complete(op, T0_ERATELIMIT, 429, "rate limited", 2020, NULL);
		return;
	}
	/* A read may try once more after a server error; a write is never repeated. */
	if ((resp->status == 500 || resp->status == 502 || resp->status == 503 ||
	     resp->status == 504) && !op->body && !op->retried && ms_left(op) > 300) {
		json_decref(body);
		op->retried = 1;
		if (op_wait_ms(op, 200) == T0_OK)
			return;
	}
	if (resp->status < 200 || resp->status > 299) {
		const json_t *e = json_object_get(body, "error");

		err_msg = json_string_value(json_object_get(e, "message"));
		code = (int)json_integer_value(json_object_get(e, "code"));
		log_warn("pagerduty", "http_error", "method=%s status=%ld code=%d", op->method,
			 resp->status, code);
		op_complete(op, T0_EHTTP, resp->status, err_msg ? err_msg : "unexpected status", code,
			    body);
		json_decref(body);
		return;
	}
	if (resp->status == 204 || !resp->body_len) {
		op_complete(op, T0_OK, resp->status, NULL, 0, NULL);
		return;
	}
	if (!body) {
		op_complete(op, T0_EPARSE, resp->status, "response is not JSON", 0, NULL);
		return;
	}
	if (op->list_key) {
		json_t *page = json_object_get(body, op->list_key);
		int more = json_is_true(json_object_get(body, "more"));

		if (!op->acc)
			op->acc = json_pack("{s[]}", op->list_key);
		if (json_is_array(page))
			json_array_extend(json_object_get(op->acc, op->list_key), page);
		op->pages++;
		op->offset += PD_PAGE;
		if (more && op->pages < PD_MAX_PAGES &&
		    (!op->limit_total ||
		     json_array_size(json_object_get(op->acc, op->list_key)) <
			     (size_t)op->limit_total)) {
			json_decref(body);
			op_send(op);
			return;
		}
		json_object_set_new(op->acc, "more", json_boolean(more));
		json_decref(body);
		op_complete(op, T0_OK, resp->status, NULL, 0, op->acc);
		return;
	}
	op_complete(op, T0_OK, resp->status, NULL, 0, body);
	json_decref(body);
}

static void op_send(struct pd_op *op)
{
	struct pd_client *c = op->c;
	const char *headers[6];
	char from[300], url[PD_URL + 64];
	size_t nh = 0;
	uint64_t now = t0_mono_ns();
	long left = ms_left(op);
	struct http_req req = { 0 };
	int rc;

	if (c->closing) {
		op_complete(op, T0_ECLOSED, 0, "shut down", 0, NULL);
		return;
	}
	if (left <= 0) {
		op_complete(op, T0_ETIMEOUT, 0, "timed out", 0, NULL);
		return;
	}
	/* Someone got a 429: wait for the reset like everyone else, if the deadline allows. */
	if (c->blocked_until_ns > now) {
		uint64_t wait_ms = (c->blocked_until_ns - now) / 1000000 + 1;

		if ((long)wait_ms >= left) {
			op_complete(op, T0_ERATELIMIT, 429, "rate limited", 2020, NULL);
			return;
		}
		if (op_wait_ms(op, wait_ms) == T0_OK)
			return;
	}
	headers[nh++] = c->auth;
	headers[nh++] = "Accept: application/vnd.pagerduty+json;version=2";
	headers[nh++] = "User-Agent: tier0/" T0_VERSION;
	if (op->body)
		headers[nh++] = "Content-Type: application/json";
	if (op->from) {
		snprintf(from, sizeof(from), "From: %s", op->from);
		headers[nh++] = from;
	}
	if (op->list_key)
		snprintf(url, sizeof(url), "%s%slimit=%d&offset=%d", op->url,
			 strchr(op->url, '?') ? "&" : "?", PD_PAGE, op->offset);
	else
		snprintf(url, sizeof(url), "%s", op->url);
	req.method = op->method;
	req.url = url;
	req.headers = headers;
	req.nheaders = nh;
	req.body = op->body;
	req.body_len = op->body ? strlen(op->body) : 0;
	req.timeout_ms = left;
	req.deadline_ms = left;
	req.max_response_bytes = PD_MAX_RESPONSE;
	/*
	 * No retries in the HTTP client: it would retry a 429 on its own backoff,
	 * while PagerDuty says when to come back (ratelimit-reset, handled above).
	 */
	req.max_retries = 0;
	rc = http_request_ex(c->loop, &req, on_http, op, &op->call);
	if (rc != T0_OK)
		op_complete(op, rc == T0_ECLOSED ? T0_ECLOSED : T0_EHTTP, 0, t0_rc_str(rc), 0, NULL);
}

static int op_start(struct pd_client *c, const char *method, const char *path_fmt_done,
		    const char *list_key, const char *body, const char *from, long timeout_ms,
		    pd_done_cb cb, void *arg)
{
	struct pd_op *op;
	char url[PD_URL];

	if (!c || c->closing)
		return T0_ECLOSED;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", c->api_url, path_fmt_done) >= sizeof(url))
		return T0_ETOOBIG;
	op = calloc(1, sizeof(*op));
	if (!op)
		return T0_ENOMEM;
	op->c = c;
	snprintf(op->method, sizeof(op->method), "%s", method);
	op->url = strdup(url);
	op->body = dup_opt(body);
	op->from = dup_opt(from);
	op->list_key = list_key;
	op->cb = cb;
	op->arg = arg;
	op->deadline_ns = t0_mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : c->timeout_ms) *
						 1000000;
	if (!op->url || (body && !op->body) || (from && !op->from)) {
		free(op->url);
		free(op->body);
		free(op->from);
		free(op);
		return T0_ENOMEM;
	}
	op->next = c->ops;
	if (c->ops)
		c->ops->prev = op;
	c->ops = op;
	/* Completion is always later than this call: start on a timer of 0 ms. */
	if (op_wait_ms(op, 0) != T0_OK) {
		op_unlink(op);
		free(op->url);
		free(op->body);
		free(op->from);
		free(op);
		return T0_EIO;
	}
	return T0_OK;
}

/* ---- public calls ---- */

struct pd_client *pd_client_new(struct t0_loop *loop, const struct pd_client_opts *o)
{
	struct pd_client *c;
	size_t n;

	if (!loop || !o || !o->token || !*o->token)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->loop = loop;
	c->api_url = strdup(o->api_url && *o->api_url ? o->api_url : "https://api.pagerduty.com");
	c->token = strdup(o->token);
	c->from_email = dup_opt(o->from_email);
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : PD_DEFAULT_TIMEOUT_MS;
	if (!c->api_url || !c->token || (o->from_email && !c->from_email) ||
	    (size_t)snprintf(c->auth, sizeof(c->auth), "Authorization: Token token=%s", c->token) >=
		    sizeof(c->auth)) {
		c->free_pending = 1;
		client_maybe_free(c);
		return NULL;
	}
	n = strlen(c->api_url);
	while (n && c->api_url[n - 1] == '/')
		c->api_url[--n] = '\0';
	return c;
}

struct pd_client *pd_client_new_from_config(struct t0_loop *loop, const struct config *cfg)
{
	struct pd_client_opts o = {
		.api_url = cfg->pd_api_url,
		.token = cfg->pd_token,
		.from_email = cfg->pd_from_email,
	};

	return pd_client_new(loop, &o);
}

void pd_client_shutdown(struct pd_client *c)
{
	if (!c || c->closing)
		return;
	c->closing = 1;
	while (c->ops) {
		struct pd_op *op = c->ops;

		if (op->call) {
			http_cancel(op->call); /* on_http completes it with T0_ECLOSED */
			continue;
		}
		if (op->timer_init)
			uv_timer_stop(&op->timer);
		op_complete(op, T0_ECLOSED, 0, "shut down", 0, NULL);
	}
}

void pd_client_free(struct pd_client *c)
{
	if (!c)
		return;
	pd_client_shutdown(c);
	c->free_pending = 1;
	client_maybe_free(c);
}

int pd_get_service(struct pd_client *c, const char *service_id, long timeout_ms, pd_done_cb cb,
		   void *arg)
{
	char id[256], path[400];

	if (!service_id || !*service_id)
		return T0_EINVAL;
	if (t0_url_encode(service_id, id, sizeof(id)) != 0)
		return T0_EINVAL;
	snprintf(path, sizeof(path), "/services/%s?include%%5B%%5D=escalation_policies", id);
	return op_start(c, "GET", path, NULL, NULL, NULL, timeout_ms, cb, arg);
}

int pd_get_incident(struct pd_client *c, const char *incident_id, long timeout_ms, pd_done_cb cb,
		    void *arg)
{
	char id[256], path[400];

	if (!incident_id || !*incident_id)
		return T0_EINVAL;
	if (t0_url_encode(incident_id, id, sizeof(id)) != 0)
		return T0_EINVAL;
	snprintf(path, sizeof(path), "/incidents/%s", id);
	return op_start(c, "GET", path, NULL, NULL, NULL, timeout_ms, cb, arg);
}

int pd_list_log_entries(struct pd_client *c, const char *incident_id, long timeout_ms,
			pd_done_cb cb, void *arg)
{
	char id[256], path[400];

	if (!incident_id || !*incident_id)
		return T0_EINVAL;
	if (t0_url_encode(incident_id, id, sizeof(id)) != 0)
		return T0_EINVAL;
	snprintf(path, sizeof(path), "/incidents/%s/log_entries?is_overview=true&time_zone=UTC", id);
	return op_start(c, "GET", path, "log_entries", NULL, NULL, timeout_ms, cb, arg);
}

int pd_list_oncalls(struct pd_client *c, const char *escalation_policy_id, long timeout_ms,
		    pd_done_cb cb, void *arg)
{
	char id[256], path[400];

	if (!escalation_policy_id || !*escalation_policy_id)
		return T0_EINVAL;
	if (t0_url_encode(escalation_policy_id, id, sizeof(id)) != 0)
		return T0_EINVAL;
	snprintf(path, sizeof(path),
		 "/oncalls?escalation_policy_ids%%5B%%5D=%s&include%%5B%%5D=users&time_zone=UTC", id);
	return op_start(c, "GET", path, "oncalls", NULL, NULL, timeout_ms, cb, arg);
}

static void fmt_iso(long long ms, char *out, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int pd_list_incidents(struct pd_client *c, const char *service_id, long long since_ms, int limit,
		      long timeout_ms, pd_done_cb cb, void *arg)
{
	char id[256], path[600], since[40];
	int rc;

	if (!service_id || !*service_id)
		return T0_EINVAL;
	if (t0_url_encode(service_id, id, sizeof(id)) != 0)
		return T0_EINVAL;
	fmt_iso(since_ms, since, sizeof(since));
	snprintf(path, sizeof(path),
		 "/incidents?service_ids%%5B%%5D=%s&since=%s&sort_by=created_at%%3Adesc&time_zone=UTC",
		 id, since);
	rc = op_start(c, "GET", path, "incidents", NULL, NULL, timeout_ms, cb, arg);
	if (rc == T0_OK && limit > 0)
		c->ops->limit_total = limit; /* the op just added is first in the list */
	return rc;
}

static int write_call(struct pd_client *c, const char *method, const char *path, json_t *body,
		      const char *from, pd_done_cb cb, void *arg)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	const char *who = from && *from ? from : c ? c->from_email : NULL;
	int rc;

	json_decref(body);
	if (!c || !text)
		rc = c ? T0_ENOMEM : T0_EINVAL;
	else if (!who || !*who)
		rc = T0_EINVAL; /* PagerDuty requires From with an account API key */
	else
		rc = op_start(c, method, path, NULL, text, who, 0, cb, arg);
	free(text);
	return rc;
}

static int incident_path(const char *incident_id, const char *suffix, char *path, size_t len)
{
	char id[256];

	if (!incident_id || !*incident_id)
		return T0_EINVAL;
	if (t0_url_encode(incident_id, id, sizeof(id)) != 0)
		return T0_EINVAL;
	snprintf(path, len, "/incidents/%s%s", id, suffix);
	return T0_OK;
}

int pd_incident_acknowledge(struct pd_client *c, const char *incident_id, const char *from,
			    pd_done_cb cb, void *arg)
{
	char path[400];

	if (incident_path(incident_id, "", path, sizeof(path)) != T0_OK)
		return T0_EINVAL;
	return write_call(c, "PUT", path,
			  json_pack("{s{ss ss}}", "incident", "type", "incident_reference", "status",
				    "acknowledged"),
			  from, cb, arg);
}

int pd_incident_resolve(struct pd_client *c, const char *incident_id, const char *from,
			const char *resolution, pd_done_cb cb, void *arg)
{
	char path[400];
	json_t *body;

	if (incident_path(incident_id, "", path, sizeof(path)) != T0_OK)
		return T0_EINVAL;
	body = json_pack("{s{ss ss}}", "incident", "type", "incident_reference", "status",
			 "resolved");
	if (body && resolution && *resolution)
		json_object_set_new(json_object_get(body, "incident"), "resolution",
				    json_string(resolution));
	return write_call(c, "PUT", path, body, from, cb, arg);
}

int pd_incident_reassign(struct pd_client *c, const char *incident_id, const char *from,
			 const char *const *user_ids, size_t nusers, pd_done_cb cb, void *arg)
{
	char path[400];
	json_t *body, *assignments;

	if (incident_path(incident_id, "", path, sizeof(path)) != T0_OK || !user_ids || !nusers)
		return T0_EINVAL;
	assignments = json_array();
	for (size_t i = 0; assignments && i < nusers; i++)
		json_array_append_new(assignments,
				      json_pack("{s{ss ss}}", "assignee", "id", user_ids[i], "type",
						"user_reference"));
	body = json_pack("{s{ss so}}", "incident", "type", "incident_reference", "assignments",
			 assignments);
	return write_call(c, "PUT", path, body, from, cb, arg);
}

int pd_incident_add_note(struct pd_client *c, const char *incident_id, const char *from,
			 const char *content, pd_done_cb cb, void *arg)
{
	char path[400];

	if (incident_path(incident_id, "/notes", path, sizeof(path)) != T0_OK || !content ||
	    !*content)
		return T0_EINVAL;
	return write_call(c, "POST", path, json_pack("{s{ss}}", "note", "content", content), from,
			  cb, arg);
}

/* ---- the "PagerDuty" context source ---- */

struct pd_lookup {
	struct pd_client *c;
	incident_src_cb cb;
	void *arg;
	char *skip_incident;
	long timeout_ms;
	uint64_t start_ns;
	int pending;
	struct incident_src_result res;
	int oncall_rc, incidents_rc;
	char oncall_err[120];
	char similar_ids[INCIDENT_MAX_SIMILAR][64];
};

static int src_status(int rc)
{
	switch (rc) {
	case T0_OK:
		return INC_SRC_OK;
	case T0_ETIMEOUT:
		return INC_SRC_TIMEOUT;
	default:
		return INC_SRC_FAILED;
	}
}

static void lookup_finish(struct pd_lookup *l)
{
	if (--l->pending > 0)
		return;
	if (l->oncall_rc == T0_OK) {
		l->res.status = INC_SRC_OK;
		if (!l->res.noncall)
			snprintf(l->res.msg, sizeof(l->res.msg), "nobody on call");
	} else if (l->oncall_rc == T0_ENOTFOUND) {
		l->res.status = INC_SRC_NODATA;
		snprintf(l->res.msg, sizeof(l->res.msg), "%s", l->oncall_err);
	} else {
		l->res.status = src_status(l->oncall_rc);
		snprintf(l->res.msg, sizeof(l->res.msg), "%s", l->oncall_err);
	}
	l->cb(l->arg, &l->res);
	free(l->skip_incident);
	free(l);
}

static long lookup_left(const struct pd_lookup *l)
{
	long el = (long)((t0_mono_ns() - l->start_ns) / 1000000);

	return l->timeout_ms - el > 1 ? l->timeout_ms - el : 1;
}

static void set_oncall_err(struct pd_lookup *l, const struct pd_result *r)
{
	l->oncall_rc = r->rc;
	if (r->rc == T0_EHTTP && r->status)
		snprintf(l->oncall_err, sizeof(l->oncall_err), "HTTP %ld%s%s", r->status,
			 r->error ? ": " : "", r->error ? r->error : "");
	else
		snprintf(l->oncall_err, sizeof(l->oncall_err), "%s",
			 r->rc == T0_ETIMEOUT ? "timed out" : r->error ? r->error : t0_rc_str(r->rc));
}

static int cmp_oncall(const void *a, const void *b)
{
	const struct incident_oncall *x = a, *y = b;

	return x->level - y->level;
}

static void on_oncalls(void *arg, const struct pd_result *r)
{
	struct pd_lookup *l = arg;
	const json_t *list = json_object_get(r->data, "oncalls"), *o;
	size_t i;

	if (r->rc != T0_OK) {
		set_oncall_err(l, r);
		lookup_finish(l);
		return;
	}
	l->oncall_rc = T0_OK;
	json_array_foreach(list, i, o) {
		const json_t *u = json_object_get(o, "user");
		const char *name = json_string_value(json_object_get(u, "name"));
		const char *email = json_string_value(json_object_get(u, "email"));
		const char *sched = json_string_value(
			json_object_get(json_object_get(o, "schedule"), "summary"));
		const char *end = json_string_value(json_object_get(o, "end"));
		int level = (int)json_integer_value(json_object_get(o, "escalation_level"));
		struct incident_oncall *dst;
		int64_t until = 0;
		int dup = 0;

		if (!name)
			name = json_string_value(json_object_get(u, "summary"));
		if (!name || level < 1)
			continue;
		for (size_t k = 0; k < l->res.noncall; k++)
			dup |= l->res.oncall[k].level == level &&
			       strcmp(l->res.oncall[k].name, name) == 0;
		if (dup || l->res.noncall >= INCIDENT_MAX_ONCALL)
			continue;
		dst = &l->res.oncall[l->res.noncall++];
		dst->level = level;
		snprintf(dst->name, sizeof(dst->name), "%s", name);
		snprintf(dst->email, sizeof(dst->email), "%s", email ? email : "");
		snprintf(dst->schedule, sizeof(dst->schedule), "%s", sched ? sched : "");
		if (end && t0_time_parse(end, T0_TIME_OFFSET_REQUIRED, &until) == 0)
			dst->until_ms = until;
	}
	qsort(l->res.oncall, l->res.noncall, sizeof(l->res.oncall[0]), cmp_oncall);
	lookup_finish(l);
}

static void on_service(void *arg, const struct pd_result *r)
{
	struct pd_lookup *l = arg;
	const char *ep = json_string_value(json_object_get(
		json_object_get(json_object_get(r->data, "service"), "escalation_policy"), "id"));

	if (r->rc != T0_OK || !ep) {
		if (r->rc == T0_OK) {
			l->oncall_rc = T0_ENOTFOUND;
			snprintf(l->oncall_err, sizeof(l->oncall_err), "service has no escalation policy");
		} else {
			set_oncall_err(l, r);
		}
		lookup_finish(l);
		return;
	}
	if (pd_list_oncalls(l->c, ep, lookup_left(l), on_oncalls, l) != T0_OK) {
		l->oncall_rc = T0_EHTTP;
		snprintf(l->oncall_err, sizeof(l->oncall_err), "could not ask for on-calls");
		lookup_finish(l);
	}
}

static void on_incidents(void *arg, const struct pd_result *r)
{
	struct pd_lookup *l = arg;
	const json_t *list = json_object_get(r->data, "incidents"), *o;
	size_t i;

	l->incidents_rc = r->rc;
	json_array_foreach(list, i, o) {
		const char *id = json_string_value(json_object_get(o, "id"));
		const char *title = json_string_value(json_object_get(o, "title"));
		const char *created = json_string_value(json_object_get(o, "created_at"));
		struct incident_similar *s;
		int64_t ms = 0;

		int seen = 0;

		if (!id || (l->skip_incident && strcmp(id, l->skip_incident) == 0))
			continue;
		/* Pages may overlap when incidents arrive meanwhile: once each. */
		for (size_t k = 0; k < l->res.nsimilar; k++)
			seen |= strcmp(l->similar_ids[k], id) == 0;
		if (seen)
			continue;
		if (l->res.nsimilar >= INCIDENT_MAX_SIMILAR)
			break;
		snprintf(l->similar_ids[l->res.nsimilar], sizeof(l->similar_ids[0]), "%s", id);
		s = &l->res.similar[l->res.nsimilar++];
		snprintf(s->title, sizeof(s->title), "%s",
			 title ? title : json_string_value(json_object_get(o, "summary"))
					 ? json_string_value(json_object_get(o, "summary"))
					 : id);
		snprintf(s->status, sizeof(s->status), "%s",
			 json_string_value(json_object_get(o, "status"))
				 ? json_string_value(json_object_get(o, "status"))
				 : "");
		snprintf(s->url, sizeof(s->url), "%s",
			 json_string_value(json_object_get(o, "html_url"))
				 ? json_string_value(json_object_get(o, "html_url"))
				 : "");
		if (created && t0_time_parse(created, T0_TIME_OFFSET_REQUIRED, &ms) == 0)
			s->created_ms = ms;
	}
	lookup_finish(l);
}

/* Answers later, from a 0 ms timer, with only a message (no call was possible). */
struct pd_nodata {
	uv_timer_t t;
	incident_src_cb cb;
	void *arg;
	struct incident_src_result res;
};

static void nodata_closed(uv_handle_t *h)
{
	free(h->data);
}

static void nodata_fire(uv_timer_t *t)
{
	struct pd_nodata *n = t->data;

	n->cb(n->arg, &n->res);
	uv_close((uv_handle_t *)&n->t, nodata_closed);
}

static int lookup_nodata(struct pd_client *c, const char *msg, incident_src_cb cb, void *arg)
{
	struct pd_nodata *n = calloc(1, sizeof(*n));

	if (!n)
		return T0_ENOMEM;
	n->cb = cb;
	n->arg = arg;
	n->res.status = INC_SRC_NODATA;
	snprintf(n->res.msg, sizeof(n->res.msg), "%s", msg);
	uv_timer_init(loop_uv(c->loop), &n->t);
	n->t.data = n;
	uv_timer_start(&n->t, nodata_fire, 0, 0);
	return T0_OK;
}

static int pd_source_lookup(void *state, const struct incident_query *q, incident_src_cb cb,
			    void *arg)
{
	struct pd_client *c = state;
	struct pd_lookup *l;
	int rc;

	if (c->closing)
		return T0_ECLOSED;
	if (!q->pd_service_id && !q->pd_escalation_policy_id)
		return lookup_nodata(c, "no pagerduty.com/service-id annotation", cb, arg);
	l = calloc(1, sizeof(*l));
	if (!l)
		return T0_ENOMEM;
	l->c = c;
	l->cb = cb;
	l->arg = arg;
	l->timeout_ms = q->timeout_ms > 0 ? q->timeout_ms : c->timeout_ms;
	l->start_ns = t0_mono_ns();
	l->skip_incident = q->pd_incident_id ? strdup(q->pd_incident_id) : NULL;
	l->pending = 1; /* released below, so no callback finishes it early */
	if (q->pd_escalation_policy_id) {
		l->pending++;
		rc = pd_list_oncalls(c, q->pd_escalation_policy_id, l->timeout_ms, on_oncalls, l);
	} else {
		l->pending++;
		rc = pd_get_service(c, q->pd_service_id, l->timeout_ms, on_service, l);
	}
	if (rc != T0_OK) {
		l->pending--;
		l->oncall_rc = rc;
		snprintf(l->oncall_err, sizeof(l->oncall_err), "could not start: %s", t0_rc_str(rc));
	}
	if (q->pd_service_id) {
		l->pending++;
		if (pd_list_incidents(c, q->pd_service_id,
				      (long long)(t0_now_ms() - 30LL * 24 * 3600 * 1000),
				      INCIDENT_MAX_SIMILAR + 1, l->timeout_ms, on_incidents,
				      l) != T0_OK)
			l->pending--;
	}
	if (l->pending == 1 && rc != T0_OK) {
		/* Nothing started: answer later all the same. */
		char msg[160];

		snprintf(msg, sizeof(msg), "%s", l->oncall_err);
		free(l->skip_incident);
		free(l);
		return lookup_nodata(c, msg, cb, arg);
	}
	lookup_finish(l); /* drops the guard; finishes only if everything already has */
	return T0_OK;
}

int pd_incident_source(struct pd_client *c, struct incident_source *out)
{
	if (!c || !out)
		return T0_EINVAL;
	memset(out, 0, sizeof(*out));
	out->name = "PagerDuty";
	out->roles = INC_SRC_ONCALL;
	out->lookup = pd_source_lookup;
	out->state = c;
	return T0_OK;
}
