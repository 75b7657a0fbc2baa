/*
 * Socket Mode: slack.connections slots, each wanting one open connection.
 * A connection is apps.connections.open (a new one-time URL every time) ->
 * name resolution off the loop (uv_getaddrinfo) -> lws websocket client on
 * the shared loop (wss: TLS verified against the system CA bundle) -> hello.
 *
 * One owner for reconnection: the slot. On `warning` / `refresh_requested`
 * the slot opens a replacement and closes the old connection only once the
 * new one has said hello, so no envelope falls between them. On
 * `too_many_websockets` it closes first, then reconnects with backoff; on
 * `link_disabled` it waits long. A dropped or stale connection (lws pings
 * every ping_interval_s and hangs up pong_timeout_s later without a pong)
 * reconnects with capped exponential backoff and jitter. Every state accepts
 * every input: a disconnect before hello, a close during a handover, ...
 */
#include "adapters/chat/slack/slack_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"

#define CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
/* lws per-connection timeouts count whole seconds */
#define CLOSE_GRACE_S ((SLACK_CLOSE_GRACE_MS + 999) / 1000)
#define HELLO_TIMEOUT_S (SLACK_HELLO_TIMEOUT_MS / 1000)
#define STABLE_MS 30000 /* a connection that lived this long resets the backoff */
#define MAX_HOST 256
#define MAX_PATH 2048

enum conn_state {
	SC_URL = 0,   /* apps.connections.open in flight */
	SC_DNS,       /* resolving the host */
	SC_CONNECTING,
	SC_HELLO,     /* websocket open, waiting for hello */
	SC_OPEN,
	SC_GONE,
};

static const char *const state_names[] = { "url", "dns", "connecting", "hello", "open", "gone" };

struct slack_conn {
	struct slack *s;
	struct slack_slot *slot;
	struct slack_conn *next;
	unsigned id;
	int state;
	int intentional;    /* we closed it: its end starts no reconnect */
	const char *reason; /* why it ends */
	int url_pending;    /* the apps.connections.open answer will come back to it */
	uv_getaddrinfo_t *dns;
	int wsi_live;
	struct lws *wsi;
	char host[MAX_HOST];
	char hosthdr[MAX_HOST + 8];
	char path[MAX_PATH];
	char addr[INET6_ADDRSTRLEN];
	int port, tls;
	char *rx;
	size_t rx_len, rx_cap;
	int rx_drop;        /* the current message is too big: skip to its end */
	struct slack_env *ack_head, *ack_tail;
	int want_close;
	int dead;           /* on the dead list */
	int64_t connected_ms, hello_ms, last_rx_ms;
};

static int slack_ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		       size_t len);

static const struct lws_protocols slack_protocols[] = {
	{ "slack-socket", slack_ws_cb, 0, 16384, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void slot_open(struct slack_slot *slot, json_t *answer);
static void slot_retry(struct slack_slot *slot, int64_t delay_ms, const char *reason);

static void count_reconnect(const char *reason)
{
	char labels[96];

	snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
	metrics_counter_add("tier0_slack_reconnects_total", labels, 1);
}

int slack_open_connections(const struct slack *s)
{
	int n = 0;

	for (const struct slack_conn *c = s->conns; c; c = c->next)
		n += c->state == SC_OPEN;
	return n;
}

int slack_acks_pending(const struct slack *s)
{
	for (const struct slack_conn *c = s->conns; c; c = c->next)
		if (c->ack_head && c->wsi)
			return 1;
	return 0;
}

static void open_gauge(struct slack *s)
{
	metrics_gauge_set("tier0_slack_connections_open", NULL, slack_open_connections(s));
}

int slack_socket_ready(const struct slack *s)
{
	return !s->fatal && slack_open_connections(s) > 0;
}

/* ---- connection objects ---- */

static void on_reap(lws_sorted_usec_list_t *sul)
{
	struct slack *s = lws_container_of(sul, struct slack, sul_reap);

	while (s->dead) {
		struct slack_conn *c = s->dead;

		s->dead = c->next;
		free(c->rx);
		free(c);
	}
}

/* A connection nothing refers to any more goes to the dead list, freed next turn. */
static void conn_maybe_free(struct slack_conn *c)
{
	struct slack *s = c->s;
	struct slack_conn **pp;

	if (c->dead || c->state != SC_GONE || c->url_pending || c->dns || c->wsi_live)
		return;
	c->dead = 1;
	for (pp = &s->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->slot->primary == c)
		c->slot->primary = NULL;
	if (c->slot->next == c)
		c->slot->next = NULL;
	c->next = s->dead;
	s->dead = c;
	slack_sul(s, &s->sul_reap, on_reap, 1);
}

static struct slack_conn *conn_new(struct slack_slot *slot)
{
	struct slack *s = slot->s;
	struct slack_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->s = s;
	c->slot = slot;
	c->id = ++s->next_conn_id;
	c->next = s->conns;
	s->conns = c;
	return c;
}

/* Acks that can no longer leave: their work may go ahead (a redelivery is de-duplicated). */
static void abandon_acks(struct slack_conn *c)
{
	int any = 0;

	while (c->ack_head) {
		struct slack_env *e = c->ack_head;

		c->ack_head = e->next_ack;
		e->next_ack = NULL;
		e->conn = NULL;
		e->acked = 1;
		free(e->frame);
		e->frame = NULL;
		if (!e->in_work)
			slack_env_free(e);
		any = 1;
	}
	c->ack_tail = NULL;
	if (any)
		slack_work_kick(c->s);
}

/* Jitter only has to spread replicas apart; a per-process xorshift seeded from the clock does. */
static uint64_t jitter_rand(void)
{
	static uint64_t x;

	if (!x)
		x = t0_mono_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

static int64_t backoff_ms(struct slack_slot *slot)
{
	const struct slack_settings *set = &slot->s->set;
	int64_t d = set->reconnect_min_ms;

	for (int i = 0; i < slot->attempt && d < set->reconnect_max_ms; i++)
		d *= 2;
	if (d > set->reconnect_max_ms)
		d = set->reconnect_max_ms;
	if (slot->attempt < 30)
		slot->attempt++;
	/* jitter: anywhere in the upper half, so replicas do not reconnect in step */
	return d / 2 + (int64_t)(jitter_rand() % (uint64_t)(d / 2 + 1));
}

/* The connection ended before or after hello; the slot decides what comes next. */
static void conn_ended(struct slack_conn *c, const char *why)
{
	struct slack *s = c->s;
	struct slack_slot *slot = c->slot;
	int was = c->state;
	int64_t now = t0_now_ms();

	if (was == SC_GONE)
		return;
	c->state = SC_GONE;
	if (!c->reason)
		c->reason = why;
	abandon_acks(c);
	open_gauge(s);
	log_info("slack", "connection_closed", "conn=%u slot=%d state=%s reason=%s intentional=%d",
		 c->id, slot->index, state_names[was], c->reason, c->intentional);
	if (slot->primary == c) {
		slot->primary = NULL;
		if (c->hello_ms && now - c->hello_ms >= STABLE_MS)
			slot->attempt = 0;
		if (!c->intentional && !slot->next && !s->stopping)
			slot_retry(slot, backoff_ms(slot), c->reason);
	} else if (slot->next == c) {
		slot->next = NULL;
		if (!c->intentional && !s->stopping)
			slot_retry(slot, backoff_ms(slot), c->reason);
	}
	conn_maybe_free(c);
}

/* Closes c: a close frame after its pending acks, then a hard drop if the peer lingers. */
static void conn_close(struct slack_conn *c, const char *why)
{
	c->intentional = 1;
	if (!c->reason)
		c->reason = why;
	switch (c->state) {
	case SC_URL:
		conn_ended(c, why); /* the answer is ignored when it comes */
		break;
	case SC_DNS:
		if (c->dns)
			uv_cancel((uv_req_t *)c->dns);
		conn_ended(c, why);
		break;
	case SC_CONNECTING:
	case SC_HELLO:
	case SC_OPEN:
		if (c->wsi) {
			c->want_close = 1;
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, CLOSE_GRACE_S);
			lws_callback_on_writable(c->wsi);
		} else {
			conn_ended(c, why);
		}
		break;
	default:
		break;
	}
}

/* ---- the websocket ---- */

static struct lws_vhost *vhost_get(struct slack *s, int tls)
{
	struct lws_vhost **pv = tls ? &s->vh_tls : &s->vh_plain;
	struct lws_context_creation_info info;

	if (*pv)
		return *pv;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = slack_protocols;
	info.vhost_name = tls ? "slack-tls" : "slack";
	if (tls) {
		/* Client TLS with peer and host name verification (lws's default). */
		info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		if (access(CA_BUNDLE, R_OK) == 0)
			info.client_ssl_ca_filepath = CA_BUNDLE;
	}
	*pv = lws_create_vhost(loop_lws(s->ctx.loop), &info);
	if (!*pv)
		log_err("slack", "vhost_failed", "tls=%d", tls);
	return *pv;
}

static void ws_connect(struct slack_conn *c)
{
	struct slack *s = c->s;
	struct lws_client_connect_info i;
	struct lws_vhost *vh = vhost_get(s, c->tls);

	if (!vh) {
		conn_ended(c, "connect_failed");
		return;
	}
	memset(&i, 0, sizeof(i));
	i.context = loop_lws(s->ctx.loop);
	i.vhost = vh;
	i.address = c->addr; /* numeric: lws resolves nothing on the loop */
	i.port = c->port;
	i.ssl_connection = c->tls ? LCCSCF_USE_SSL : 0;
	i.path = c->path;
	i.host = c->hosthdr;
	i.origin = c->host;
	i.protocol = NULL; /* Slack speaks no subprotocol */
	i.local_protocol_name = slack_protocols[0].name;
	i.alpn = "http/1.1";
	i.retry_and_idle_policy = &s->validity;
	i.opaque_user_data = c;
	i.ietf_version_or_minus_one = -1;
	c->state = SC_CONNECTING;
	c->wsi_live = 1;
	c->wsi = lws_client_connect_via_info(&i);
	if (!c->wsi && c->wsi_live) {
		/* refused before any callback */
		c->wsi_live = 0;
		conn_ended(c, "connect_failed");
	}
}

static void on_dns(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct slack_conn *c = req->data;

	free(req);
	c->dns = NULL;
	if (status == 0 && res && c->state == SC_DNS) {
		const struct addrinfo *pick = res;
		const void *a;

		/* IPv4 first: a host with an AAAA record may still not route IPv6 */
		for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
			if (ai->ai_family == AF_INET) {
				pick = ai;
				break;
			}
		a = pick->ai_family == AF_INET6
			    ? (const void *)&((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr
			    : (const void *)&((struct sockaddr_in *)pick->ai_addr)->sin_addr;
		inet_ntop(pick->ai_family, a, c->addr, sizeof(c->addr));
		uv_freeaddrinfo(res);
		ws_connect(c);
		return;
	}
	if (res)
		uv_freeaddrinfo(res);
	if (c->state == SC_DNS) {
		log_warn("slack", "dns_failed", "conn=%u host=%s error=%s", c->id, c->host,
			 uv_strerror(status));
		conn_ended(c, "dns_failed");
	}
	conn_maybe_free(c);
}

/* ws://host[:port]/path or wss://...; the query is the one-time ticket: kept opaque. */
static int parse_url(struct slack_conn *c, const char *url)
{
	const char *p, *slash, *colon;
	size_t hl;

	if (strncmp(url, "wss://", 6) == 0) {
		c->tls = 1;
		c->port = 443;
		p = url + 6;
	} else if (strncmp(url, "ws://", 5) == 0) {
		c->tls = 0;
		c->port = 80;
		p = url + 5;
	} else {
		return -1;
	}
	slash = strchr(p, '/');
	if (!slash)
		slash = p + strlen(p);
	colon = memchr(p, ':', (size_t)(slash - p));
	if (*p == '[') { /* [v6]:port */
		const char *close = memchr(p, ']', (size_t)(slash - p));

		if (!close)
			return -1;
		hl = (size_t)(close - p - 1);
		if (hl == 0 || hl >= sizeof(c->host))
			return -1;
		memcpy(c->host, p + 1, hl);
		c->host[hl] = '\0';
		colon = close[1] == ':' ? close + 1 : NULL;
	} else {
		hl = (size_t)((colon ? colon : slash) - p);
		if (hl == 0 || hl >= sizeof(c->host))
			return -1;
		memcpy(c->host, p, hl);
		c->host[hl] = '\0';
	}
	if (colon) {
		long port = strtol(colon + 1, NULL, 10);

		if (port < 1 || port > 65535)
			return -1;
		c->port = (int)port;
	}
	if (strlen(*slash ? slash : "/") >= sizeof(c->path))
		return -1;
	snprintf(c->path, sizeof(c->path), "%s", *slash ? slash : "/");
	if ((c->tls && c->port == 443) || (!c->tls && c->port == 80))
		snprintf(c->hosthdr, sizeof(c->hosthdr), "%s", c->host);
	else
		snprintf(c->hosthdr, sizeof(c->hosthdr), "%s:%d", c->host, c->port);
	return 0;
}

static void conn_use_url(struct slack_conn *c, const char *url)
{
	struct in6_addr a6;
	struct in_addr a4;
	struct addrinfo hints;
	int rc;

	if (!url || parse_url(c, url) != 0) {
		log_err("slack", "bad_socket_url", "conn=%u", c->id);
		conn_ended(c, "bad_url");
		return;
	}
	log_info("slack", "connecting", "conn=%u slot=%d host=%s port=%d tls=%d", c->id,
		 c->slot->index, c->host, c->port, c->tls);
	if (inet_pton(AF_INET, c->host, &a4) == 1 || inet_pton(AF_INET6, c->host, &a6) == 1) {
		snprintf(c->addr, sizeof(c->addr), "%s", c->host);
		ws_connect(c);
		return;
	}
	c->dns = calloc(1, sizeof(*c->dns));
	if (!c->dns) {
		conn_ended(c, "dns_failed");
		return;
	}
	c->dns->data = c;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	c->state = SC_DNS;
	rc = uv_getaddrinfo(c->s->ctx.uv, c->dns, on_dns, c->host, NULL, &hints);
	if (rc != 0) {
		free(c->dns);
		c->dns = NULL;
		conn_ended(c, "dns_failed");
	}
}

static void on_url(void *arg, const struct slack_api_result *res)
{
	struct slack_conn *c = arg;
	struct slack *s = c->s;
	const json_t *msgs;
	size_t i;
	json_t *m;

	c->url_pending = 0;
	if (c->state != SC_URL || s->stopping) {
		conn_ended(c, "stopped");
		conn_maybe_free(c);
		return;
	}
	if (res->rc != T0_OK) {
		if (res->error && slack_api_fatal_error(res->error)) {
			/* the app-level token is refused: retrying will not help; say so loudly */
			log_err("slack", "socket_auth_failed",
				"method=apps.connections.open error=%s hint=check slack.app_token (xapp-, "
				"scope connections:write)",
				res->error);
			s->fatal = 1;
			c->intentional = 1;
			conn_ended(c, "auth_failed");
			return;
		}
		if (res->rc == T0_ERATELIMIT) {
			c->intentional = 1;
			conn_ended(c, "ratelimited");
			slot_retry(c->slot, res->retry_after_ms, "ratelimited");
			return;
		}
		conn_ended(c, "open_failed");
		return;
	}
	msgs = json_object_get(json_object_get(res->body, "response_metadata"), "messages");
	json_array_foreach(msgs, i, m)
		if (json_is_string(m))
			log_warn("slack", "connections_open_message", "message=%s", json_string_value(m));
	conn_use_url(c, json_string_value(json_object_get(res->body, "url")));
}

/* A new connection for slot (answer: an apps.connections.open answer already in hand). */
static void slot_open(struct slack_slot *slot, json_t *answer)
{
	struct slack *s = slot->s;
	struct slack_conn *c;
	int rc;

	if (s->stopping || s->fatal || slot->next)
		return;
	c = conn_new(slot);
	if (!c) {
		slot_retry(slot, backoff_ms(slot), "oom");
		return;
	}
	slot->next = c;
	c->state = SC_URL;
	if (answer) {
		conn_use_url(c, json_string_value(json_object_get(answer, "url")));
		return;
	}
	c->url_pending = 1;
	rc = slack_api_call(&s->api, "apps.connections.open", s->set.app_token, NULL,
			    SLACK_API_NO_RETRY, on_url, c);
	if (rc != T0_OK) {
		c->url_pending = 0;
		conn_ended(c, "open_failed");
	}
}

static void on_slot_retry(lws_sorted_usec_list_t *sul)
{
	struct slack_slot *slot = lws_container_of(sul, struct slack_slot, sul_retry);

	slot->waiting = 0;
	if (!slot->next)
		slot_open(slot, NULL);
}

static void slot_retry(struct slack_slot *slot, int64_t delay_ms, const char *reason)
{
	struct slack *s = slot->s;

	if (s->stopping || s->fatal)
		return;
	if (delay_ms < 1)
		delay_ms = 1;
	count_reconnect(reason);
	log_info("slack", "reconnect_scheduled", "slot=%d reason=%s delay_ms=%lld attempt=%d",
		 slot->index, reason, (long long)delay_ms, slot->attempt);
	slot->waiting = 1;
	slot->retry_reason = reason;
	slack_sul(s, &slot->sul_retry, on_slot_retry, delay_ms * 1000);
}

void slack_conn_hello(struct slack_conn *c, const json_t *hello)
{
	struct slack *s = c->s;
	struct slack_slot *slot = c->slot;
	const json_t *dbg = json_object_get(hello, "debug_info");
	json_int_t n = json_integer_value(json_object_get(hello, "num_connections"));

	s->num_connections = (int)n;
	metrics_gauge_set("tier0_slack_num_connections", NULL, (double)n);
	if (c->state != SC_HELLO) {
		log_warn("slack", "unexpected_hello", "conn=%u state=%s", c->id, state_names[c->state]);
		return;
	}
	c->state = SC_OPEN;
	c->hello_ms = t0_now_ms();
	if (c->wsi)
		lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
	log_info("slack", "connected", "conn=%u slot=%d num_connections=%lld applink=%s lifetime_s=%lld",
		 c->id, slot->index, (long long)n,
		 json_string_value(json_object_get(dbg, "host")) ? json_string_value(json_object_get(dbg, "host")) : "",
		 (long long)json_integer_value(json_object_get(dbg, "approximate_connection_time")));
	if (n > s->set.connections * 2)
		log_warn("slack", "too_many_connections", "num_connections=%lld configured=%d",
			 (long long)n, s->set.connections);
	if (slot->next == c) {
		struct slack_conn *old = slot->primary;

		slot->next = NULL;
		slot->primary = c;
		/* the replacement is up: only now does the old one go */
		if (old && old != c)
			conn_close(old, "replaced");
	}
	open_gauge(s);
}

void slack_conn_disconnect(struct slack_conn *c, const char *reason)
{
	struct slack *s = c->s;
	struct slack_slot *slot = c->slot;

	if (!reason)
		reason = "unknown";
	log_info("slack", "disconnect_requested", "conn=%u slot=%d reason=%s state=%s", c->id,
		 slot->index, reason, state_names[c->state]);
	if (strcmp(reason, "too_many_websockets") == 0) {
		/* close first: opening another now would only be refused again */
		c->reason = "too_many_websockets";
		conn_close(c, reason);
		if (slot->primary == c)
			slot->primary = NULL;
		if (slot->next == c)
			slot->next = NULL;
		if (!slot->primary && !slot->next && !slot->waiting)
			slot_retry(slot, backoff_ms(slot), reason);
		return;
	}
	if (strcmp(reason, "link_disabled") == 0) {
		/* Socket Mode was switched off for the app: not ready, and retry slowly */
		log_err("slack", "link_disabled",
			"hint=Socket Mode is off in the app settings; retrying every %d s",
			s->set.reconnect_max_ms * SLACK_LINK_DISABLED_FACTOR / 1000);
		conn_close(c, reason);
		if (slot->primary == c)
			slot->primary = NULL;
		if (slot->next == c)
			slot->next = NULL;
		if (!slot->primary && !slot->next) {
			if (slot->waiting)
				lws_sul_cancel(&slot->sul_retry);
			slot_retry(slot, (int64_t)s->set.reconnect_max_ms * SLACK_LINK_DISABLED_FACTOR,
				   reason);
		}
		return;
	}
	/* warning, refresh_requested (and anything new): replace it, overlapping */
	if (c->state != SC_OPEN) {
		conn_close(c, reason);
		if (slot->next == c)
			slot->next = NULL;
		if (!slot->waiting && !slot->next)
			slot_retry(slot, backoff_ms(slot), reason);
		return;
	}
	if (slot->primary == c && !slot->next) {
		count_reconnect(reason);
		if (slot->waiting) {
			lws_sul_cancel(&slot->sul_retry);
			slot->waiting = 0;
		}
		slot_open(slot, NULL);
	}
}

void slack_conn_ack(struct slack_conn *c, struct slack_env *e)
{
	if (!c->wsi || c->state == SC_GONE) {
		e->acked = 1;
		free(e->frame);
		e->frame = NULL;
		slack_work_kick(c->s);
		return;
	}
	e->conn = c;
	e->next_ack = NULL;
	if (c->ack_tail)
		c->ack_tail->next_ack = e;
	else
		c->ack_head = e;
	c->ack_tail = e;
	lws_callback_on_writable(c->wsi);
}

/* Writes queued acks while the socket takes them; then the close, if one is due. */
static int on_writeable(struct slack_conn *c, struct lws *wsi)
{
	struct slack *s = c->s;
	int written = 0;

	while (c->ack_head && (written == 0 || !lws_send_pipe_choked(wsi))) {
		struct slack_env *e = c->ack_head;
		int n = lws_write(wsi, e->frame + LWS_PRE, e->frame_len, LWS_WRITE_TEXT);

		if (n < (int)e->frame_len) {
			log_warn("slack", "ack_write_failed", "conn=%u", c->id);
			return -1;
		}
		c->ack_head = e->next_ack;
		if (!c->ack_head)
			c->ack_tail = NULL;
		e->next_ack = NULL;
		e->conn = NULL;
		e->acked = 1;
		free(e->frame);
		e->frame = NULL;
		s->acks++;
		metrics_histogram_observe("tier0_slack_ack_seconds", NULL,
					  (double)(t0_mono_ns() - e->received_ns) / 1e9);
		if (!e->in_work)
			slack_env_free(e);
		written++;
	}
	if (written)
		slack_work_kick(s);
	if (c->ack_head) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (c->want_close) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	return 0;
}

/* Reassembles fragments into one message of at most SLACK_MAX_FRAME bytes. */
static void on_receive(struct slack_conn *c, struct lws *wsi, const char *in, size_t len)
{
	int final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;

	if (!c->rx_drop) {
		if (c->rx_len + len > SLACK_MAX_FRAME) {
			log_warn("slack", "frame_too_big", "conn=%u bytes=%zu", c->id, c->rx_len + len);
			c->rx_drop = 1;
			c->rx_len = 0;
		} else {
			if (c->rx_len + len + 1 > c->rx_cap) {
				size_t ncap = c->rx_cap ? c->rx_cap : 4096;
				char *n;

				while (ncap < c->rx_len + len + 1)
					ncap *= 2;
				n = realloc(c->rx, ncap);
				if (!n) {
					c->rx_drop = 1;
					c->rx_len = 0;
					goto done;
				}
				c->rx = n;
				c->rx_cap = ncap;
			}
			memcpy(c->rx + c->rx_len, in, len);
			c->rx_len += len;
		}
	}
done:
	if (!final)
		return;
	if (!c->rx_drop && c->rx_len && !lws_frame_is_binary(wsi)) {
		c->rx[c->rx_len] = '\0';
		slack_on_frame(c->s, c, c->rx, c->rx_len);
	}
	c->rx_len = 0;
	c->rx_drop = 0;
	/* a big message's buffer is not kept around */
	if (c->rx_cap > 65536) {
		free(c->rx);
		c->rx = NULL;
		c->rx_cap = 0;
	}
}

/* Why an established connection went away, when it did not say. */
static const char *guess_reason(const struct slack_conn *c)
{
	const struct slack_settings *set = &c->s->set;
	int64_t quiet = t0_now_ms() - c->last_rx_ms;

	if (c->state == SC_HELLO && t0_now_ms() - c->connected_ms >= SLACK_HELLO_TIMEOUT_MS - 500)
		return "hello_timeout";
	if (quiet >= (int64_t)(set->ping_s + set->pong_s) * 1000 - 500)
		return "stale";
	return "dropped";
}

static void wsi_gone(struct slack_conn *c, struct lws *wsi, const char *why)
{
	if (!c->wsi_live)
		return;
	c->wsi_live = 0;
	c->wsi = NULL;
	lws_set_opaque_user_data(wsi, NULL);
	conn_ended(c, why);
	conn_maybe_free(c);
}

static int slack_ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		       size_t len)
{
	struct slack_conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	if (!c)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		log_warn("slack", "connect_failed", "conn=%u host=%s error=%s", c->id, c->host,
			 in ? (const char *)in : "unknown");
		wsi_gone(c, wsi, "connect_failed");
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->wsi = wsi;
		c->state = SC_HELLO;
		c->connected_ms = c->last_rx_ms = t0_now_ms();
		/* Slack speaks first; a connection that never says hello is dropped */
		if (c->want_close)
			lws_callback_on_writable(wsi);
		else
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, HELLO_TIMEOUT_S);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		c->last_rx_ms = t0_now_ms();
		on_receive(c, wsi, in, len);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		c->last_rx_ms = t0_now_ms();
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return on_writeable(c, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (!c->reason)
			c->reason = "closed_by_slack";
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
	case LWS_CALLBACK_WSI_DESTROY:
		wsi_gone(c, wsi, c->reason ? c->reason : guess_reason(c));
		return 0;
	default:
		return 0;
	}
}

int slack_socket_start(struct slack *s, json_t *first_open_answer)
{
	memset(&s->validity, 0, sizeof(s->validity));
	s->validity.secs_since_valid_ping = (uint16_t)s->set.ping_s;
	s->validity.secs_since_valid_hangup = (uint16_t)(s->set.ping_s + s->set.pong_s);
	for (int i = 0; i < s->set.connections; i++) {
		s->slots[i].s = s;
		s->slots[i].index = i;
	}
	for (int i = 0; i < s->set.connections; i++)
		slot_open(&s->slots[i], i == 0 ? first_open_answer : NULL);
	open_gauge(s);
	return T0_OK;
}

void slack_socket_stop(struct slack *s)
{
	for (int i = 0; i < SLACK_MAX_CONNECTIONS; i++) {
		if (s->slots[i].s)
			lws_sul_cancel(&s->slots[i].sul_retry);
		s->slots[i].waiting = 0;
	}
	for (struct slack_conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		conn_close(c, "stopping");
	}
	lws_sul_cancel(&s->sul_reap);
	open_gauge(s);
}

void slack_socket_free(struct slack *s)
{
	on_reap(&s->sul_reap);
	while (s->conns) {
		struct slack_conn *c = s->conns;

		s->conns = c->next;
		abandon_acks(c);
		if (c->wsi)
			lws_set_opaque_user_data(c->wsi, NULL);
		free(c->rx);
		free(c);
	}
}
