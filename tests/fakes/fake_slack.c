/*
 * Fake Slack: the Web API on an inbound HTTP server and a Socket Mode
 * websocket server, both on 127.0.0.1 and on the test's loop. See
 * fake_slack.h. It speaks the wire format of the real payloads in
 * ../shared/fixtures/slack/ (envelopes, hello, disconnect, acks).
 */
#include "tests/fakes/fake_slack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <libwebsockets.h>

#include "bot/http_server.h"
#include "bot/loop.h"
#include "bot/t0.h"

#define FS_MAX_FAILS 16
#define FS_MAX_USERS 256
#define FS_MAX_RX (1u << 20)

struct fframe {
	struct fframe *next;
	unsigned char *buf; /* LWS_PRE + text */
	size_t len;
	int env;            /* envelope index, or -1 */
};

struct fconn {
	struct fake_slack *fs;
	struct lws *wsi;
	int idx;
	int up;      /* hello sent */
	int frozen;
	int gone;
	struct fframe *head, *tail;
	char *rx;
	size_t rx_len;
};

struct fenv {
	struct fake_slack_env pub;
	json_t *frame; /* the envelope object (retry fields updated per delivery) */
	int acked_state;
};

struct ffail {
	char method[64];
	int status;
	char headers[256];
	char *body;
	int count;
};

struct fuser {
	char id[32], name[64], email[128];
};

struct fake_slack {
	struct t0_loop *l;
	struct http_server *http;
	struct lws_vhost *vh, *vh_tls;
	int ws_port, wss_port;
	char ws_host[64];
	char api_url[96];

	/* Web API */
	char *auth_error, *bot_user, *bot_id, *scopes, *open_error;
	struct ffail fails[FS_MAX_FAILS];
	struct fuser users[FS_MAX_USERS];
	size_t nusers;
	struct fuser chans[FS_MAX_USERS];
	size_t nchans;
	struct fake_slack_call **calls;
	size_t ncalls, calls_cap;
	struct {
		char method[64];
		size_t n;
	} counts[32];
	int record;
	unsigned ts_seq;
	unsigned ticket;
	fake_slack_call_cb on_call;
	void *on_call_arg;
	fake_slack_ack_cb on_ack;
	void *on_ack_arg;

	/* Socket Mode */
	char *hello;
	int send_hello;
	struct fconn **conns;
	size_t nconns, conns_cap;
	size_t rr;
	struct fenv *envs;
	size_t nenvs, envs_cap;
	int *pending;
	size_t npending, pending_cap;
	size_t acked;
	unsigned seq;
};

/* ---- helpers ---- */

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = xstrdup(s);
}

static int hexv(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* An x-www-form-urlencoded body as a JSON object of strings. */
static json_t *form_object(const char *b, size_t n)
{
	json_t *o = json_object();
	size_t i = 0;

	while (o && i < n) {
		size_t s = i, eq = 0;
		char *k, *v;
		int have_eq = 0;

		while (i < n && b[i] != '&') {
			if (b[i] == '=' && !have_eq) {
				eq = i;
				have_eq = 1;
			}
			i++;
		}
		if (have_eq) {
			char *parts[2];
			size_t lens[2] = { eq - s, i - eq - 1 };
			const char *src[2] = { b + s, b + eq + 1 };

			for (int p = 0; p < 2; p++) {
				size_t o2 = 0;

				parts[p] = malloc(lens[p] + 1);
				for (size_t q = 0; parts[p] && q < lens[p]; q++) {
					char c = src[p][q];

					if (c == '+')
						c = ' ';
					else if (c == '%' && q + 2 < lens[p] && hexv(src[p][q + 1]) >= 0 &&
						 hexv(src[p][q + 2]) >= 0) {
						c = (char)(hexv(src[p][q + 1]) * 16 + hexv(src[p][q + 2]));
						q += 2;
					}
					parts[p][o2++] = c;
				}
				if (parts[p])
					parts[p][o2] = '\0';
			}
			k = parts[0];
			v = parts[1];
			if (k && v)
				json_object_set_new(o, k, json_string(v));
			free(k);
			free(v);
		}
		i++;
	}
	return o;
}

static void count_method(struct fake_slack *fs, const char *method)
{
	size_t i;

	for (i = 0; i < T0_ARRAY_LEN(fs->counts) && fs->counts[i].method[0]; i++)
		if (strcmp(fs->counts[i].method, method) == 0) {
			fs->counts[i].n++;
			return;
		}
	if (i < T0_ARRAY_LEN(fs->counts)) {
		snprintf(fs->counts[i].method, sizeof(fs->counts[i].method), "%s", method);
		fs->counts[i].n = 1;
	}
}

static void call_free(struct fake_slack_call *c)
{
	if (!c)
		return;
	free(c->auth);
	free(c->content_type);
	free(c->body);
	free(c->query);
	json_decref(c->args);
	free(c);
}

/* ---- Web API ---- */

static void answer_json(struct http_response *resp, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);

	json_decref(body);
	http_response_status(resp, status);
	if (text)
		http_response_body_take(resp, "application/json; charset=utf-8", text, strlen(text));
}

static json_t *err_body(const char *error)
{
	return json_pack("{s:b, s:s}", "ok", 0, "error", error);
}

/* Scripted failure for method, if any is left. */
static int scripted(struct fake_slack *fs, const char *method, struct http_response *resp,
		    struct fake_slack_call *c)
{
	for (int i = 0; i < FS_MAX_FAILS; i++) {
		struct ffail *f = &fs->fails[i];

		if (f->count <= 0 || strcmp(f->method, method) != 0)
			continue;
		f->count--;
		http_response_status(resp, f->status);
		for (char *line = f->headers; *line;) {
			char *end = strstr(line, "\r\n"), name[64], value[160];
			const char *colon;
			size_t ln;

			if (!end)
				break;
			colon = memchr(line, ':', (size_t)(end - line));
			if (colon && (size_t)(colon - line) < sizeof(name)) {
				ln = (size_t)(colon - line);
				memcpy(name, line, ln);
				name[ln] = '\0';
				colon++;
				while (*colon == ' ')
					colon++;
				snprintf(value, sizeof(value), "%.*s", (int)(end - colon), colon);
				http_response_header(resp, name, value);
			}
			line = end + 2;
		}
		if (f->body)
			http_response_body(resp, "application/json; charset=utf-8", f->body,
					   strlen(f->body));
		c->status = f->status;
		return 1;
	}
	return 0;
}

static void next_ts(struct fake_slack *fs, char *ts, size_t len)
{
	snprintf(ts, len, "1700000000.%06u", ++fs->ts_seq);
}

static const struct fuser *find(const struct fuser *v, size_t n, const char *id)
{
	for (size_t i = 0; id && i < n; i++)
		if (strcmp(v[i].id, id) == 0)
			return &v[i];
	return NULL;
}

static void record_call(struct fake_slack *fs, struct fake_slack_call *c)
{
	if (fs->on_call)
		fs->on_call(fs->on_call_arg, c);
	if (!fs->record) {
		call_free(c);
		return;
	}
	if (fs->ncalls == fs->calls_cap) {
		size_t ncap = fs->calls_cap ? fs->calls_cap * 2 : 64;
		struct fake_slack_call **n = realloc(fs->calls, ncap * sizeof(*n));

		if (!n) {
			call_free(c);
			return;
		}
		fs->calls = n;
		fs->calls_cap = ncap;
	}
	fs->calls[fs->ncalls++] = c;
}

static void api_route(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct fake_slack *fs = arg;
	struct fake_slack_call *c = calloc(1, sizeof(*c));
	const char *method = req->path + 5; /* "/api/" */
	const char *auth = http_request_header(req, "authorization");
	const char *ct = http_request_header(req, "content-type");
	int is_app = 0, ok_token;
	json_t *args, *out = NULL;

	if (!c)
		return;
	snprintf(c->method, sizeof(c->method), "%s", method);
	c->auth = xstrdup(auth);
	c->content_type = xstrdup(ct);
	c->body = malloc(req->body_len + 1);
	if (c->body) {
		memcpy(c->body, req->body, req->body_len);
		c->body[req->body_len] = '\0';
		c->body_len = req->body_len;
	}
	c->at_ns = t0_mono_ns();
	if (ct && strncasecmp(ct, "application/json", 16) == 0)
		c->args = json_loadb(req->body, req->body_len, 0, NULL);
	else
		c->args = form_object(req->body, req->body_len);
	if (!c->args)
		c->args = json_object();
	args = c->args;
	c->status = 200;
	count_method(fs, method);

	is_app = strcmp(method, "apps.connections.open") == 0;
	ok_token = auth && strncmp(auth, is_app ? "Bearer xapp-" : "Bearer xoxb-", 12) == 0;
	if (scripted(fs, method, resp, c))
		goto done;
	if (!ok_token) {
		answer_json(resp, 200, err_body("not_authed"));
		goto done;
	}
	if (strcmp(method, "auth.test") == 0) {
		if (fs->auth_error) {
			answer_json(resp, 200, err_body(fs->auth_error));
			goto done;
		}
		if (fs->scopes)
			http_response_header(resp, "x-oauth-scopes", fs->scopes);
		out = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s}", "ok", 1, "url",
				"https://xyz.slack.com/", "team", "Testing Workspace", "user", "bot-user",
				"team_id", "T111", "user_id", fs->bot_user, "bot_id", fs->bot_id);
	} else if (is_app) {
		char url[160];

		if (fs->open_error) {
			answer_json(resp, 200, err_body(fs->open_error));
			goto done;
		}
		if (fs->vh_tls)
			snprintf(url, sizeof(url), "wss://%s:%d/link/?ticket=%u&app_id=A111", fs->ws_host,
				 fs->wss_port, ++fs->ticket);
		else
			snprintf(url, sizeof(url), "ws://%s:%d/link/?ticket=%u&app_id=A111", fs->ws_host,
				 fs->ws_port, ++fs->ticket);
		out = json_pack("{s:b, s:s, s:{s:[s], s:[s]}}", "ok", 1, "url", url, "response_metadata",
				"scopes", "connections:write", "acceptedScopes", "connections:write");
	} else if (strcmp(method, "chat.postMessage") == 0 || strcmp(method, "chat.postEphemeral") == 0) {
		const char *ch = json_string_value(json_object_get(args, "channel"));

		if (!ch) {
			answer_json(resp, 200, err_body("channel_not_found"));
			goto done;
		}
		if (!json_object_get(args, "text") && !json_object_get(args, "blocks")) {
			answer_json(resp, 200, err_body("no_text"));
			goto done;
		}
		next_ts(fs, c->ts, sizeof(c->ts));
		if (method[5] == 'p' && method[9] == 'M') /* postMessage */
			out = json_pack("{s:b, s:s, s:s, s:{s:s, s:O*, s:s, s:s}}", "ok", 1, "channel", ch,
					"ts", c->ts, "message", "type", "message", "text",
					json_object_get(args, "text"), "ts", c->ts, "bot_id", fs->bot_id);
		else
			out = json_pack("{s:b, s:s}", "ok", 1, "message_ts", c->ts);
	} else if (strcmp(method, "chat.update") == 0) {
		const char *ch = json_string_value(json_object_get(args, "channel"));
		const char *ts = json_string_value(json_object_get(args, "ts"));

		if (!ch || !ts) {
			answer_json(resp, 200, err_body("message_not_found"));
			goto done;
		}
		snprintf(c->ts, sizeof(c->ts), "%s", ts);
		out = json_pack("{s:b, s:s, s:s}", "ok", 1, "channel", ch, "ts", ts);
	} else if (strcmp(method, "users.info") == 0) {
		const struct fuser *u = find(fs->users, fs->nusers, json_string_value(json_object_get(args, "user")));

		if (!u) {
			answer_json(resp, 200, err_body("user_not_found"));
			goto done;
		}
		out = json_pack("{s:b, s:{s:s, s:s, s:s, s:b, s:{s:s, s:s, s:s}}}", "ok", 1, "user", "id",
				u->id, "name", u->name, "real_name", u->name, "is_bot", 0, "profile",
				"display_name", u->name, "real_name", u->name, "email", u->email);
	} else if (strcmp(method, "conversations.info") == 0) {
		const struct fuser *ch = find(fs->chans, fs->nchans, json_string_value(json_object_get(args, "channel")));

		if (!ch) {
			answer_json(resp, 200, err_body("channel_not_found"));
			goto done;
		}
		out = json_pack("{s:b, s:{s:s, s:s, s:b, s:b}}", "ok", 1, "channel", "id", ch->id, "name",
				ch->name, "is_channel", 1, "is_member", 1);
	} else {
		answer_json(resp, 200, err_body("unknown_method"));
		goto done;
	}
	answer_json(resp, 200, out);
done:
	record_call(fs, c);
}

static void hook_route(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct fake_slack *fs = arg;
	struct fake_slack_call *c = calloc(1, sizeof(*c));

	if (!c)
		return;
	snprintf(c->method, sizeof(c->method), "response_url");
	c->query = xstrdup(req->query);
	c->body = malloc(req->body_len + 1);
	if (c->body) {
		memcpy(c->body, req->body, req->body_len);
		c->body[req->body_len] = '\0';
		c->body_len = req->body_len;
	}
	c->content_type = xstrdup(http_request_header(req, "content-type"));
	c->args = json_loadb(req->body, req->body_len, 0, NULL);
	if (!c->args)
		c->args = json_object();
	c->at_ns = t0_mono_ns();
	c->status = 200;
	count_method(fs, "response_url");
	http_response_status(resp, 200);
	http_response_body(resp, NULL, "ok", 2);
	record_call(fs, c);
}

/* ---- Socket Mode ---- */

static int fs_open_count(const struct fake_slack *fs)
{
	int n = 0;

	for (size_t i = 0; i < fs->nconns; i++)
		n += fs->conns[i]->up && !fs->conns[i]->gone && !fs->conns[i]->frozen;
	return n;
}

static void conn_queue(struct fconn *fc, const char *text, int env)
{
	struct fframe *f = calloc(1, sizeof(*f));
	size_t n = strlen(text);

	if (!f || !(f->buf = malloc(LWS_PRE + n + 1))) {
		free(f);
		return;
	}
	memcpy(f->buf + LWS_PRE, text, n + 1);
	f->len = n;
	f->env = env;
	if (fc->tail)
		fc->tail->next = f;
	else
		fc->head = f;
	fc->tail = f;
	if (fc->wsi && !fc->frozen)
		lws_callback_on_writable(fc->wsi);
}

static struct fconn *next_conn(struct fake_slack *fs)
{
	for (size_t k = 0; k < fs->nconns; k++) {
		struct fconn *fc = fs->conns[(fs->rr + k) % fs->nconns];

		if (fc->up && !fc->gone && !fc->frozen && fc->wsi) {
			fs->rr = (fs->rr + k + 1) % fs->nconns;
			return fc;
		}
	}
	return NULL;
}

static void deliver_env(struct fake_slack *fs, struct fconn *fc, int i)
{
	struct fenv *e = &fs->envs[i];
	char *text;

	json_object_set_new(e->frame, "retry_attempt", json_integer(e->pub.retry));
	json_object_set_new(e->frame, "retry_reason", json_string(e->pub.retry ? "timeout" : ""));
	text = json_dumps(e->frame, JSON_COMPACT);
	if (!text)
		return;
	e->pub.conn = fc->idx;
	e->pub.deliveries++;
	conn_queue(fc, text, i);
	free(text);
}

static void pump_pending(struct fake_slack *fs)
{
	size_t i = 0;

	for (; i < fs->npending; i++) {
		struct fconn *fc = next_conn(fs);

		if (!fc)
			break;
		deliver_env(fs, fc, fs->pending[i]);
	}
	if (i && fs->npending > i)
		memmove(fs->pending, fs->pending + i, (fs->npending - i) * sizeof(int));
	fs->npending -= i;
}

static void push_pending(struct fake_slack *fs, int i, int front)
{
	if (fs->npending == fs->pending_cap) {
		size_t ncap = fs->pending_cap ? fs->pending_cap * 2 : 64;
		int *n = realloc(fs->pending, ncap * sizeof(*n));

		if (!n)
			return;
		fs->pending = n;
		fs->pending_cap = ncap;
	}
	if (front) {
		if (fs->npending)
			memmove(fs->pending + 1, fs->pending, fs->npending * sizeof(int));
		fs->pending[0] = i;
	} else {
		fs->pending[fs->npending] = i;
	}
	fs->npending++;
}

/* Like Slack after its ack timeout: what conn got and did not acknowledge comes again. */
static void redeliver_unacked(struct fake_slack *fs, int conn)
{
	for (size_t i = fs->nenvs; i-- > 0;) {
		struct fenv *e = &fs->envs[i];

		if (e->pub.conn == conn && e->pub.deliveries && !e->pub.acks) {
			e->pub.retry++;
			e->pub.conn = -1;
			push_pending(fs, (int)i, 1);
		}
	}
}

static int env_new(struct fake_slack *fs, json_t *frame, const char *id, const char *type, int retry,
		   int tag)
{
	struct fenv *e;

	if (fs->nenvs == fs->envs_cap) {
		size_t ncap = fs->envs_cap ? fs->envs_cap * 2 : 256;
		struct fenv *n = realloc(fs->envs, ncap * sizeof(*n));

		if (!n) {
			json_decref(frame);
			return -1;
		}
		fs->envs = n;
		fs->envs_cap = ncap;
	}
	e = &fs->envs[fs->nenvs];
	memset(e, 0, sizeof(*e));
	snprintf(e->pub.id, sizeof(e->pub.id), "%s", id);
	snprintf(e->pub.type, sizeof(e->pub.type), "%s", type ? type : "");
	e->pub.retry = retry;
	e->pub.conn = -1;
	e->pub.tag = tag;
	e->frame = frame;
	push_pending(fs, (int)fs->nenvs, 0);
	fs->nenvs++;
	pump_pending(fs);
	return (int)fs->nenvs - 1;
}

int fake_slack_send_envelope(struct fake_slack *fs, const char *type, const json_t *payload,
			     int retry, int accepts_response_payload, int tag)
{
	char id[48];
	json_t *frame;

	snprintf(id, sizeof(id), "fake-%u-%zu", ++fs->seq, fs->nenvs);
	frame = json_pack("{s:s, s:O, s:s, s:b}", "envelope_id", id, "payload", payload, "type", type,
			  "accepts_response_payload", accepts_response_payload);
	if (!frame)
		return -1;
	return env_new(fs, frame, id, type, retry, tag);
}

int fake_slack_send_frame(struct fake_slack *fs, const char *text, int tag)
{
	json_t *frame = json_loads(text, 0, NULL);
	const char *id = json_string_value(json_object_get(frame, "envelope_id"));

	if (!id) {
		json_decref(frame);
		return -1;
	}
	return env_new(fs, frame, id, json_string_value(json_object_get(frame, "type")),
		       (int)json_integer_value(json_object_get(frame, "retry_attempt")), tag);
}

static struct fconn *conn_at(struct fake_slack *fs, int conn)
{
	if (conn < 0)
		return next_conn(fs);
	if ((size_t)conn >= fs->nconns || fs->conns[conn]->gone)
		return NULL;
	return fs->conns[conn];
}

int fake_slack_send_raw(struct fake_slack *fs, int conn, const char *text)
{
	struct fconn *fc = conn_at(fs, conn);

	if (!fc)
		return -1;
	conn_queue(fc, text, -1);
	return 0;
}

int fake_slack_disconnect(struct fake_slack *fs, int conn, const char *reason, const char *frame)
{
	char buf[256];

	if (!frame) {
		snprintf(buf, sizeof(buf),
			 "{\"type\":\"disconnect\",\"reason\":\"%s\",\"debug_info\":{\"host\":\"applink-fake\"}}",
			 reason);
		frame = buf;
	}
	return fake_slack_send_raw(fs, conn, frame);
}

int fake_slack_drop(struct fake_slack *fs, int conn)
{
	struct fconn *fc = conn_at(fs, conn);

	if (!fc || !fc->wsi)
		return -1;
	/* no close frame: the peer just sees the connection end */
	shutdown(lws_get_socket_fd(fc->wsi), SHUT_RDWR);
	lws_set_timeout(fc->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
	return 0;
}

int fake_slack_freeze(struct fake_slack *fs, int conn)
{
	struct fconn *fc = conn_at(fs, conn);

	if (!fc || !fc->wsi)
		return -1;
	fc->frozen = 1;
	lws_rx_flow_control(fc->wsi, 0);
	return 0;
}

static void on_ack(struct fake_slack *fs, struct fconn *fc, const char *text, size_t len)
{
	json_t *j = json_loadb(text, len, 0, NULL);
	const char *id = json_string_value(json_object_get(j, "envelope_id"));
	struct fenv *e = NULL;
	unsigned seq;
	size_t idx;

	if (!id) {
		json_decref(j);
		return;
	}
	if (sscanf(id, "fake-%u-%zu", &seq, &idx) == 2 && idx < fs->nenvs &&
	    strcmp(fs->envs[idx].pub.id, id) == 0)
		e = &fs->envs[idx];
	for (size_t i = fs->nenvs; !e && i-- > 0;)
		if (strcmp(fs->envs[i].pub.id, id) == 0)
			e = &fs->envs[i];
	if (e) {
		uint64_t now = t0_mono_ns();

		if (!e->pub.acks++) {
			e->pub.acked_ns = now;
			fs->acked++;
			if (json_object_size(json_object_get(j, "payload")))
				e->pub.ack_payload = json_incref(json_object_get(j, "payload"));
		}
		if (fs->on_ack)
			fs->on_ack(fs->on_ack_arg, &e->pub, e->pub.sent_ns ? now - e->pub.sent_ns : 0);
	}
	(void)fc;
	json_decref(j);
}

static void send_hello(struct fake_slack *fs, struct fconn *fc)
{
	json_t *h = json_loads(fs->hello, 0, NULL);
	char *text;

	if (!h)
		return;
	json_object_set_new(h, "num_connections", json_integer(fs_open_count(fs) + 1));
	text = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	if (!text)
		return;
	conn_queue(fc, text, -1);
	free(text);
	fc->up = 1;
	/* a connection that went quiet took its envelopes with it: they come again */
	for (size_t i = 0; i < fs->nconns; i++)
		if (fs->conns[i]->frozen)
			redeliver_unacked(fs, fs->conns[i]->idx);
	pump_pending(fs);
}

static int ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct fake_slack *fs = lws_get_vhost(wsi) ? lws_vhost_user(lws_get_vhost(wsi)) : NULL;
	struct fconn *fc = lws_get_opaque_user_data(wsi);

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		if (!fs)
			return -1;
		fc = calloc(1, sizeof(*fc));
		if (!fc)
			return -1;
		if (fs->nconns == fs->conns_cap) {
			size_t ncap = fs->conns_cap ? fs->conns_cap * 2 : 16;
			struct fconn **n = realloc(fs->conns, ncap * sizeof(*n));

			if (!n) {
				free(fc);
				return -1;
			}
			fs->conns = n;
			fs->conns_cap = ncap;
		}
		fc->fs = fs;
		fc->wsi = wsi;
		fc->idx = (int)fs->nconns;
		fs->conns[fs->nconns++] = fc;
		lws_set_opaque_user_data(wsi, fc);
		if (fs->send_hello)
			send_hello(fs, fc);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (!fc || fc->frozen)
			return 0;
		if (fc->rx_len + len > FS_MAX_RX)
			return -1;
		{
			char *n = realloc(fc->rx, fc->rx_len + len + 1);

			if (!n)
				return -1;
			fc->rx = n;
		}
		memcpy(fc->rx + fc->rx_len, in, len);
		fc->rx_len += len;
		if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
			fc->rx[fc->rx_len] = '\0';
			on_ack(fs, fc, fc->rx, fc->rx_len);
			fc->rx_len = 0;
		}
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE: {
		int n = 0;

		if (!fc || fc->frozen)
			return 0;
		while (fc->head && (n == 0 || !lws_send_pipe_choked(wsi))) {
			struct fframe *f = fc->head;

			if (lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT) < (int)f->len)
				return -1;
			if (f->env >= 0 && (size_t)f->env < fs->nenvs)
				fs->envs[f->env].pub.sent_ns = t0_mono_ns();
			fc->head = f->next;
			if (!fc->head)
				fc->tail = NULL;
			free(f->buf);
			free(f);
			n++;
		}
		if (fc->head)
			lws_callback_on_writable(wsi);
		return 0;
	}
	case LWS_CALLBACK_CLOSED:
		if (!fc)
			return 0;
		fc->gone = 1;
		fc->wsi = NULL;
		lws_set_opaque_user_data(wsi, NULL);
		/* frames not written: their envelopes come again elsewhere */
		while (fc->head) {
			struct fframe *f = fc->head;

			fc->head = f->next;
			free(f->buf);
			free(f);
		}
		fc->tail = NULL;
		if (!loop_closing(fs->l)) {
			redeliver_unacked(fs, fc->idx);
			pump_pending(fs);
		}
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols fake_protocols[] = {
	{ "fake-slack", ws_cb, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

#define DEFAULT_HELLO                                                                              \
	"{\"type\":\"hello\",\"num_connections\":1,\"debug_info\":{\"host\":\"applink-fake\","      \
	"\"build_number\":10,\"approximate_connection_time\":18060},\"connection_info\":{\"app_id\":" \
	"\"A111\"}}"

struct fake_slack *fake_slack_new(struct t0_loop *l)
{
	static const char *const methods[] = { "auth.test", "apps.connections.open",
					       "chat.postMessage", "chat.update",
					       "chat.postEphemeral", "users.info",
					       "conversations.info", NULL };
	struct fake_slack *fs = calloc(1, sizeof(*fs));
	struct lws_context_creation_info info;
	char err[128], path[96];

	if (!fs)
		return NULL;
	fs->l = l;
	fs->record = 1;
	fs->send_hello = 1;
	fs->bot_user = strdup("U0BOT");
	fs->bot_id = strdup("B0BOT");
	fs->scopes = strdup("app_mentions:read,channels:history,channels:read,chat:write,commands,"
			    "im:history,users:read,users:read.email");
	fs->hello = strdup(DEFAULT_HELLO);
	snprintf(fs->ws_host, sizeof(fs->ws_host), "127.0.0.1");
	fs->http = http_server_new(l, "127.0.0.1", 0, 4u << 20, err, sizeof(err));
	if (!fs->http)
		goto fail;
	for (int i = 0; methods[i]; i++) {
		snprintf(path, sizeof(path), "/api/%s", methods[i]);
		http_server_route(fs->http, "POST", path, api_route, fs);
	}
	http_server_route(fs->http, "POST", "/hooks/response", hook_route, fs);
	snprintf(fs->api_url, sizeof(fs->api_url), "http://127.0.0.1:%d/api/",
		 http_server_port(fs->http));

	memset(&info, 0, sizeof(info));
	info.port = 0;
	info.iface = "127.0.0.1";
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	info.protocols = fake_protocols;
	info.vhost_name = "fake-slack";
	info.user = fs;
	fs->vh = lws_create_vhost(loop_lws(l), &info);
	if (!fs->vh)
		goto fail;
	lws_protocol_init(loop_lws(l));
	fs->ws_port = lws_get_vhost_listen_port(fs->vh);
	return fs;
fail:
	fake_slack_free(fs);
	return NULL;
}

void fake_slack_free(struct fake_slack *fs)
{
	if (!fs)
		return;
	http_server_free(fs->http);
	for (size_t i = 0; i < fs->ncalls; i++)
		call_free(fs->calls[i]);
	free(fs->calls);
	for (size_t i = 0; i < fs->nconns; i++) {
		struct fconn *fc = fs->conns[i];

		while (fc->head) {
			struct fframe *f = fc->head;

			fc->head = f->next;
			free(f->buf);
			free(f);
		}
		if (fc->wsi)
			lws_set_opaque_user_data(fc->wsi, NULL);
		free(fc->rx);
		free(fc);
	}
	free(fs->conns);
	for (size_t i = 0; i < fs->nenvs; i++) {
		json_decref(fs->envs[i].frame);
		json_decref(fs->envs[i].pub.ack_payload);
	}
	free(fs->envs);
	free(fs->pending);
	for (int i = 0; i < FS_MAX_FAILS; i++)
		free(fs->fails[i].body);
	free(fs->auth_error);
	free(fs->bot_user);
	free(fs->bot_id);
	free(fs->scopes);
	free(fs->open_error);
	free(fs->hello);
	free(fs);
}

void fake_slack_set_ws_host(struct fake_slack *fs, const char *host)
{
	snprintf(fs->ws_host, sizeof(fs->ws_host), "%s", host);
}

int fake_slack_enable_tls(struct fake_slack *fs, const char *cert, const char *key)
{
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof(info));
	info.port = 0;
	info.iface = "127.0.0.1";
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.protocols = fake_protocols;
	info.vhost_name = "fake-slack-tls";
	info.user = fs;
	info.ssl_cert_filepath = cert;
	info.ssl_private_key_filepath = key;
	fs->vh_tls = lws_create_vhost(loop_lws(fs->l), &info);
	if (!fs->vh_tls)
		return -1;
	lws_protocol_init(loop_lws(fs->l));
	fs->wss_port = lws_get_vhost_listen_port(fs->vh_tls);
	return 0;
}

const char *fake_slack_api_url(const struct fake_slack *fs)
{
	return fs->api_url;
}

int fake_slack_ws_port(const struct fake_slack *fs)
{
	return fs->ws_port;
}

const char *fake_slack_response_url(const struct fake_slack *fs, int n, char *buf, size_t len)
{
	snprintf(buf, len, "http://127.0.0.1:%d/hooks/response?n=%d", http_server_port(fs->http), n);
	return buf;
}

void fake_slack_set_auth(struct fake_slack *fs, const char *error, const char *bot_user,
			 const char *bot_id, const char *scopes)
{
	set_str(&fs->auth_error, error);
	if (bot_user)
		set_str(&fs->bot_user, bot_user);
	if (bot_id)
		set_str(&fs->bot_id, bot_id);
	if (scopes)
		set_str(&fs->scopes, scopes);
}

void fake_slack_set_open_error(struct fake_slack *fs, const char *error)
{
	set_str(&fs->open_error, error);
}

void fake_slack_fail_next(struct fake_slack *fs, const char *method, int status,
			  const char *headers, const char *body, int count)
{
	for (int i = 0; i < FS_MAX_FAILS; i++) {
		struct ffail *f = &fs->fails[i];

		if (f->count > 0)
			continue;
		snprintf(f->method, sizeof(f->method), "%s", method);
		f->status = status;
		snprintf(f->headers, sizeof(f->headers), "%s", headers ? headers : "");
		set_str(&f->body, body);
		f->count = count;
		return;
	}
}

void fake_slack_add_user(struct fake_slack *fs, const char *id, const char *name,
			 const char *email)
{
	struct fuser *u;

	if (fs->nusers >= FS_MAX_USERS)
		return;
	u = &fs->users[fs->nusers++];
	snprintf(u->id, sizeof(u->id), "%s", id);
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->email, sizeof(u->email), "%s", email ? email : "");
}

void fake_slack_add_channel(struct fake_slack *fs, const char *id, const char *name)
{
	struct fuser *c;

	if (fs->nchans >= FS_MAX_USERS)
		return;
	c = &fs->chans[fs->nchans++];
	snprintf(c->id, sizeof(c->id), "%s", id);
	snprintf(c->name, sizeof(c->name), "%s", name);
}

void fake_slack_set_record(struct fake_slack *fs, int on)
{
	fs->record = on;
}

size_t fake_slack_ncalls(const struct fake_slack *fs)
{
	return fs->ncalls;
}

const struct fake_slack_call *fake_slack_call_at(const struct fake_slack *fs, size_t i)
{
	return i < fs->ncalls ? fs->calls[i] : NULL;
}

size_t fake_slack_count(const struct fake_slack *fs, const char *method)
{
	for (size_t i = 0; i < T0_ARRAY_LEN(fs->counts) && fs->counts[i].method[0]; i++)
		if (strcmp(fs->counts[i].method, method) == 0)
			return fs->counts[i].n;
	return 0;
}

const struct fake_slack_call *fake_slack_nth(const struct fake_slack *fs, const char *method,
					     size_t n)
{
	for (size_t i = 0; i < fs->ncalls; i++)
		if (strcmp(fs->calls[i]->method, method) == 0 && n-- == 0)
			return fs->calls[i];
	return NULL;
}

void fake_slack_on_call(struct fake_slack *fs, fake_slack_call_cb cb, void *arg)
{
	fs->on_call = cb;
	fs->on_call_arg = arg;
}

void fake_slack_on_ack(struct fake_slack *fs, fake_slack_ack_cb cb, void *arg)
{
	fs->on_ack = cb;
	fs->on_ack_arg = arg;
}

void fake_slack_set_hello(struct fake_slack *fs, const char *json)
{
	set_str(&fs->hello, json ? json : DEFAULT_HELLO);
}

void fake_slack_set_send_hello(struct fake_slack *fs, int on)
{
	fs->send_hello = on;
}

int fake_slack_open_conns(const struct fake_slack *fs)
{
	return fs_open_count(fs);
}

int fake_slack_accepted(const struct fake_slack *fs)
{
	return (int)fs->nconns;
}

int fake_slack_last_conn(const struct fake_slack *fs)
{
	for (size_t i = fs->nconns; i-- > 0;)
		if (!fs->conns[i]->gone)
			return (int)i;
	return -1;
}

size_t fake_slack_nenvs(const struct fake_slack *fs)
{
	return fs->nenvs;
}

const struct fake_slack_env *fake_slack_env_at(const struct fake_slack *fs, size_t i)
{
	return i < fs->nenvs ? &fs->envs[i].pub : NULL;
}

size_t fake_slack_acked(const struct fake_slack *fs)
{
	return fs->acked;
}

size_t fake_slack_pending(const struct fake_slack *fs)
{
	return fs->npending;
}
