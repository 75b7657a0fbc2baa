/*
 * Slack over Socket Mode against the fake Slack (websocket + Web API on
 * 127.0.0.1): hello, envelopes replayed from the real payloads in
 * ../shared/fixtures/slack/, acks and their latency, replies, duplicates,
 * refresh in the middle of traffic, drops, dead connections, start-up
 * failures, rate limits, slash commands, buttons, loop prevention, pacing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "adapters/chat/slack/slack.h"
#include "bot/adapter.h"
#include "bot/audit.h"
#include "bot/bot.h"
#include "bot/handlers.h"
#include "bot/http_client.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "store/store.h"
#include "tests/fakes/fake_slack.h"
#include "tests/fakes/slack_harness.h"

#define FIX T0_FIXTURES "/slack"

/* Fast liveness and reconnects for tests; no pacing unless a test asks. */
#define FAST                                                                                       \
	"  ping_interval_s: 1\n  pong_timeout_s: 1\n  reconnect_min_ms: 200\n"                      \
	"  reconnect_max_ms: 1000\n"
#define NO_PACING "  pacing:\n    enabled: false\n"

struct wait {
	struct slack_h *h;
	const char *method;
	size_t n;
	int conns;
};

static int calls_at_least(void *arg)
{
	struct wait *w = arg;

	return fake_slack_count(w->h->fs, w->method) >= w->n;
}

static int conns_open_fake(void *arg)
{
	struct wait *w = arg;

	return fake_slack_open_conns(w->h->fs) >= w->conns;
}

static int conns_open(void *arg)
{
	struct wait *w = arg;

	return fake_slack_open_conns(w->h->fs) >= w->conns && slack_ops.ready(w->h->state);
}

static int acked_at_least(void *arg)
{
	struct wait *w = arg;

	return fake_slack_acked(w->h->fs) >= w->n;
}

static int accepted_at_least(void *arg)
{
	struct wait *w = arg;

	return fake_slack_accepted(w->h->fs) >= w->conns && fake_slack_open_conns(w->h->fs) >= 1 &&
	       slack_ops.ready(w->h->state);
}

static void start_connected_as(struct slack_h *h, const char *yaml, const char *bot_id)
{
	struct wait w = { .h = h, .conns = 1 };

	if (slack_h_init(h, yaml, 0) != 0)
		fail_msg("init: %s", h->err);
	fake_slack_set_auth(h->fs, NULL, "U111", bot_id, NULL);
	fake_slack_add_user(h->fs, "U222", "sam", "sam.okoro@example.com");
	fake_slack_add_user(h->fs, "U333", "maria", "maria.santos@example.com");
	assert_int_equal(slack_h_start(h), T0_OK);
	assert_true(slack_h_run_until(h, conns_open, &w, 5000));
}

static void start_connected(struct slack_h *h, const char *yaml)
{
	start_connected_as(h, yaml, "B111");
}

static json_t *fixture_json(const char *rel)
{
	char *text = slack_h_fixture(FIX, rel);
	json_t *j;

	if (!text)
		fail_msg("fixture %s missing", rel);
	j = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(j);
	return j;
}

/* The app_mention payload of the fixture with another text and event id. */
static json_t *mention_payload(const char *text, const char *event_id, const char *ts)
{
	json_t *env = fixture_json("socket_mode/envelope_events_api_app_mention.json");
	json_t *p = json_incref(json_object_get(env, "payload"));
	json_t *ev = json_object_get(p, "event");

	json_decref(env);
	json_object_set_new(ev, "text", json_string(text));
	if (ts) {
		json_object_set_new(ev, "ts", json_string(ts));
		json_object_set_new(ev, "event_ts", json_string(ts));
	}
	json_object_set_new(p, "event_id", json_string(event_id));
	return p;
}

static const char *arg_str(const struct fake_slack_call *c, const char *key)
{
	return json_string_value(json_object_get(c->args, key));
}

static void test_slack_hello_mention_acked_within_100ms_and_reply_posted(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .method = "chat.postMessage", .n = 1 };
	const struct fake_slack_call *post, *ui;
	const struct fake_slack_env *e;
	json_t *p;
	char *text;

	start_connected(&h, FAST);
	/* one connection, opened at start with a fresh one-time URL */
	assert_int_equal(fake_slack_count(h.fs, "auth.test"), 1);
	assert_int_equal(fake_slack_count(h.fs, "apps.connections.open"), 1);
	assert_int_equal(fake_slack_accepted(h.fs), 1);

	p = mention_payload("<@U111> who owns payment-api", "Ev0001", NULL);
	fake_slack_send_envelope(h.fs, "events_api", p, 0, 0, 1);
	json_decref(p);
	assert_true(slack_h_run_until(&h, calls_at_least, &w, 5000));

	e = fake_slack_env_at(h.fs, 0);
	assert_int_equal(e->acks, 1);
	assert_null(e->ack_payload);
	assert_true(e->acked_ns > e->sent_ns);
	assert_true(e->acked_ns - e->sent_ns < 100u * 1000 * 1000);

	/* the person was looked up, then the answer went to the mention's thread */
	ui = fake_slack_nth(h.fs, "users.info", 0);
	assert_non_null(ui);
	assert_string_equal(arg_str(ui, "user"), "U222");
	assert_string_equal(ui->auth, "Bearer xoxb-test-token");
	assert_non_null(strstr(ui->content_type, "x-www-form-urlencoded"));
	post = fake_slack_nth(h.fs, "chat.postMessage", 0);
	assert_string_equal(arg_str(post, "channel"), "C111");
	assert_string_equal(arg_str(post, "thread_ts"), "1610241741.000200");
	assert_non_null(strstr(post->content_type, "application/json"));
	assert_string_equal(post->auth, "Bearer xoxb-test-token");
	text = json_dumps(post->args, 0);
	assert_non_null(strstr(text, "payment-api"));
	assert_non_null(strstr(text, "payments-team"));
	assert_true(json_array_size(json_object_get(post->args, "blocks")) >= 1);
	free(text);
	slack_h_free(&h);
}

/* The envelope exactly as in the fixture: a bare mention, answered with help. */
static void test_slack_fixture_envelope_replayed_verbatim(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .method = "chat.postEphemeral", .n = 1 };
	char *frame = slack_h_fixture(FIX, "socket_mode/envelope_events_api_app_mention.json");
	const struct fake_slack_call *c;

	start_connected(&h, FAST);
	assert_non_null(frame);
	fake_slack_send_frame(h.fs, frame, 1);
	free(frame);
	assert_true(slack_h_run_until(&h, calls_at_least, &w, 5000));
	assert_string_equal(fake_slack_env_at(h.fs, 0)->id, "cda4159a-72a5-4744-aba3-4d66eb52682b");
	assert_int_equal(fake_slack_env_at(h.fs, 0)->acks, 1);
	/* "what can you do" is for the asker only: ephemeral, in the thread */
	c = fake_slack_nth(h.fs, "chat.postEphemeral", 0);
	assert_string_equal(arg_str(c, "user"), "U222");
	assert_string_equal(arg_str(c, "channel"), "C111");
	assert_int_equal(fake_slack_count(h.fs, "chat.postMessage"), 0);
	slack_h_free(&h);
}

static void test_slack_same_event_twice_handled_once(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .n = 2 };
	json_t *p;

	start_connected(&h, FAST);
	p = mention_payload("<@U111> who owns payment-api", "Ev0002", NULL);
	fake_slack_send_envelope(h.fs, "events_api", p, 0, 0, 1);
	/* Slack's redelivery: same event, new envelope, retry_attempt 1 */
	fake_slack_send_envelope(h.fs, "events_api", p, 1, 0, 2);
	json_decref(p);
	assert_true(slack_h_run_until(&h, acked_at_least, &w, 5000));
	slack_h_run_for(&h, 300);
	assert_int_equal(fake_slack_env_at(h.fs, 1)->retry, 1);
	assert_int_equal(fake_slack_env_at(h.fs, 0)->acks, 1);
	assert_int_equal(fake_slack_env_at(h.fs, 1)->acks, 1);
	assert_int_equal(fake_slack_count(h.fs, "chat.postMessage"), 1);
	assert_true(metrics_value("tier0_events_duplicate_total", NULL) >= 1);
	slack_h_free(&h);
}

/* ---- refresh in the middle of 500 events ---- */

struct feeder {
	struct slack_h *h;
	uv_timer_t t;
	int sent, total, per_tick, refresh_at;
	int refreshed;
};

static void on_feed(uv_timer_t *t)
{
	struct feeder *f = t->data;

	for (int k = 0; k < f->per_tick && f->sent < f->total; k++) {
		char id[32], ts[32];
		json_t *p;

		snprintf(id, sizeof(id), "EvR%04d", f->sent);
		snprintf(ts, sizeof(ts), "1700000100.%06d", f->sent);
		p = mention_payload("<@U111> who owns payment-api", id, ts);
		fake_slack_send_envelope(f->h->fs, "events_api", p, 0, 0, f->sent);
		json_decref(p);
		f->sent++;
		if (f->sent == f->refresh_at && !f->refreshed) {
			char *frame = slack_h_fixture(FIX, "socket_mode/disconnect_refresh_requested.json");

			fake_slack_disconnect(f->h->fs, 0, "refresh_requested", frame);
			free(frame);
			f->refreshed = 1;
		}
	}
	if (f->sent >= f->total)
		uv_timer_stop(t);
}

static void test_slack_refresh_mid_500_events_none_lost_none_doubled(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .method = "chat.postMessage", .n = 500 };
	struct feeder f = { .h = &h, .total = 500, .per_tick = 5, .refresh_at = 200 };
	char seen[500] = { 0 };
	size_t posts = 0;

	start_connected(&h, FAST NO_PACING);
	uv_timer_init(loop_uv(h.l), &f.t);
	f.t.data = &f;
	uv_timer_start(&f.t, on_feed, 1, 1);
	assert_true(slack_h_run_until(&h, calls_at_least, &w, 60000));
	slack_h_run_for(&h, 500);
	uv_close((uv_handle_t *)&f.t, NULL);

	/* every event answered exactly once, in its own thread */
	for (size_t i = 0; i < fake_slack_ncalls(h.fs); i++) {
		const struct fake_slack_call *c = fake_slack_call_at(h.fs, i);
		const char *ts;
		unsigned sec, n;

		if (strcmp(c->method, "chat.postMessage") != 0)
			continue;
		posts++;
		ts = arg_str(c, "thread_ts");
		assert_non_null(ts);
		assert_int_equal(sscanf(ts, "%u.%u", &sec, &n), 2);
		assert_true(n < 500);
		assert_int_equal(seen[n], 0);
		seen[n] = 1;
	}
	assert_int_equal(posts, 500);
	/* the replacement was opened before the old connection went */
	assert_int_equal(fake_slack_count(h.fs, "apps.connections.open"), 2);
	assert_int_equal(fake_slack_accepted(h.fs), 2);
	assert_int_equal(fake_slack_open_conns(h.fs), 1);
	assert_true(slack_ops.ready(h.state));
	assert_int_equal(metrics_value("tier0_slack_reconnects_total", "reason=\"refresh_requested\""), 1);
	/* nothing was left unacknowledged for Slack to redeliver later */
	{
		int on[2] = { 0, 0 }, redelivered = 0;

		for (size_t i = 0; i < fake_slack_nenvs(h.fs); i++) {
			const struct fake_slack_env *e = fake_slack_env_at(h.fs, i);

			assert_true(e->acks >= 1);
			if (e->conn >= 0 && e->conn < 2)
				on[e->conn]++;
			redelivered += e->deliveries > 1;
		}
		if (getenv("T0_TEST_LOG"))
			print_message("conn0=%d conn1=%d redelivered=%d\n", on[0], on[1], redelivered);
		/* both connections carried envelopes: the handover overlapped */
		assert_true(on[0] >= 200);
		assert_true(on[1] >= 1);
	}
	slack_h_free(&h);
}

/* ---- drops and dead connections ---- */

struct open_log {
	struct slack_h *h;
	uint64_t at_ns[8];
	int open_conns_then[8];
	int n;
};

static void log_opens(void *arg, const struct fake_slack_call *c)
{
	struct open_log *o = arg;

	if (strcmp(c->method, "apps.connections.open") == 0 && o->n < 8) {
		o->at_ns[o->n] = c->at_ns;
		o->open_conns_then[o->n] = fake_slack_open_conns(o->h->fs);
		o->n++;
	}
}

static void test_slack_abrupt_drop_reconnects_with_backoff_and_delivers_queued(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .method = "chat.postMessage", .n = 5 };
	struct open_log o = { .h = &h };
	uint64_t dropped_ns;

	start_connected(&h, FAST NO_PACING);
	fake_slack_on_call(h.fs, log_opens, &o);
	dropped_ns = t0_mono_ns();
	assert_int_equal(fake_slack_drop(h.fs, 0), 0);
	/* events Slack holds while the app is away */
	for (int i = 0; i < 5; i++) {
		char id[32], ts[32];
		json_t *p;

		snprintf(id, sizeof(id), "EvD%d", i);
		snprintf(ts, sizeof(ts), "1700000200.%06d", i);
		p = mention_payload("<@U111> who is on call for payment-api", id, ts);
		fake_slack_send_envelope(h.fs, "events_api", p, 0, 0, i);
		json_decref(p);
	}
	assert_true(slack_h_run_until(&h, calls_at_least, &w, 10000));
	assert_int_equal(o.n, 1);
	/* backoff: reconnect_min_ms 200 with jitter in its upper half */
	assert_true(o.at_ns[0] - dropped_ns >= 90u * 1000 * 1000);
	assert_int_equal(fake_slack_accepted(h.fs), 2);
	assert_int_equal(metrics_value("tier0_slack_reconnects_total", "reason=\"dropped\""), 1);
	slack_h_free(&h);
}

static void test_slack_dead_connection_detected_by_ping_and_replaced(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .conns = 2 };
	struct wait r = { .h = &h, .method = "chat.postMessage", .n = 1 };
	json_t *p;

	start_connected(&h, FAST NO_PACING);
	assert_int_equal(fake_slack_freeze(h.fs, 0), 0);
	/* ping after 1 s, hang up 1 s later without a pong, then reconnect */
	assert_true(slack_h_run_until(&h, accepted_at_least, &w, 8000));
	assert_true(metrics_value("tier0_slack_reconnects_total", "reason=\"stale\"") >= 1);
	p = mention_payload("<@U111> who owns payment-api", "EvS1", NULL);
	fake_slack_send_envelope(h.fs, "events_api", p, 0, 0, 1);
	json_decref(p);
	assert_true(slack_h_run_until(&h, calls_at_least, &r, 5000));
	slack_h_free(&h);
}

static void test_slack_too_many_websockets_closes_before_reconnecting(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .conns = 2 };
	struct open_log o = { .h = &h };
	char *frame = slack_h_fixture(FIX, "socket_mode/disconnect_too_many_websockets.json");

	start_connected(&h, FAST);
	fake_slack_on_call(h.fs, log_opens, &o);
	assert_non_null(frame);
	fake_slack_send_raw(h.fs, 0, frame);
	free(frame);
	assert_true(slack_h_run_until(&h, accepted_at_least, &w, 8000));
	assert_int_equal(o.n, 1);
	assert_int_equal(o.open_conns_then[0], 0); /* closed first, then asked for a URL */
	assert_int_equal(metrics_value("tier0_slack_reconnects_total", "reason=\"too_many_websockets\""), 1);
	slack_h_free(&h);
}

static void test_slack_link_disabled_is_not_ready_and_waits_long(void **state)
{
	struct slack_h h;

	start_connected(&h, FAST);
	fake_slack_disconnect(h.fs, 0, "link_disabled", NULL);
	slack_h_run_for(&h, 1500);
	/* 5 x reconnect_max_ms = 5 s: no retry yet, and /readyz says no */
	assert_int_equal(fake_slack_count(h.fs, "apps.connections.open"), 1);
	assert_int_equal(fake_slack_open_conns(h.fs), 0);
	assert_false(slack_ops.ready(h.state));
	slack_h_free(&h);
}

static void test_slack_warning_opens_replacement_first(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .conns = 2 };
	struct open_log o = { .h = &h };
	char *frame = slack_h_fixture(FIX, "socket_mode/disconnect_warning_applink.json");

	start_connected(&h, FAST);
	fake_slack_on_call(h.fs, log_opens, &o);
	fake_slack_send_raw(h.fs, 0, frame);
	free(frame);
	assert_true(slack_h_run_until(&h, accepted_at_least, &w, 5000));
	slack_h_run_for(&h, 300);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.open_conns_then[0], 1); /* the old one was still up */
	assert_int_equal(fake_slack_open_conns(h.fs), 1);
	assert_true(slack_ops.ready(h.state));
	slack_h_free(&h);
}

static void test_slack_several_connections_kept_open(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .conns = 3 };

	start_connected(&h, FAST "  connections: 3\n");
	assert_true(slack_h_run_until(&h, conns_open, &w, 5000));
	assert_int_equal(fake_slack_count(h.fs, "apps.connections.open"), 3);
	assert_int_equal(metrics_value("tier0_slack_connections_open", NULL), 3);
	slack_h_free(&h);
}

static int opens_at_least5(void *arg)
{
	return ((struct open_log *)arg)->n >= 5;
}

/* Failures back off exponentially (with jitter) up to reconnect_max_ms. */
static void test_slack_reconnect_backoff_grows_and_is_capped(void **state)
{
	struct slack_h h;
	struct open_log o = { .h = &h };
	uint64_t gap[4];

	start_connected(&h, FAST);
	fake_slack_on_call(h.fs, log_opens, &o);
	fake_slack_set_open_error(h.fs, "internal_error"); /* transient: retried */
	fake_slack_drop(h.fs, 0);
	assert_true(slack_h_run_until(&h, opens_at_least5, &o, 10000));
	for (int i = 0; i < 4; i++)
		gap[i] = (o.at_ns[i + 1] - o.at_ns[i]) / 1000000u;
	/* min 200 ms, doubling, jitter in the upper half, cap 1000 ms */
	assert_true(gap[0] >= 190 && gap[0] <= 450);
	assert_true(gap[1] >= 390 && gap[1] <= 850);
	assert_true(gap[2] >= 490 && gap[2] <= 1200);
	assert_true(gap[3] >= 490 && gap[3] <= 1200);
	assert_false(slack_ops.ready(h.state));
	assert_true(metrics_value("tier0_slack_reconnects_total", "reason=\"open_failed\"") >= 3);
	slack_h_free(&h);
}

/* A host name in the URL is resolved off the loop (uv_getaddrinfo), not by lws. */
static void test_slack_socket_url_with_host_name_is_resolved(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .conns = 1 };

	assert_int_equal(slack_h_init(&h, FAST, 0), 0);
	fake_slack_set_auth(h.fs, NULL, "U111", "B111", NULL);
	fake_slack_set_ws_host(h.fs, "localhost");
	assert_int_equal(slack_h_start(&h), T0_OK);
	assert_true(slack_h_run_until(&h, conns_open, &w, 5000));
	slack_h_free(&h);
}

static int connect_failures(void *arg)
{
	return metrics_value("tier0_slack_reconnects_total", "reason=\"connect_failed\"") >= 2;
}

/* wss: the certificate is checked; an unknown CA is refused, a trusted one accepted. */
static void test_slack_wss_verifies_the_certificate(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .conns = 1 };
	struct wait r = { .h = &h, .method = "chat.postMessage", .n = 1 };
	json_t *p;

	unsetenv("SSL_CERT_FILE");
	assert_int_equal(slack_h_init(&h, FAST, 0), 0);
	assert_int_equal(fake_slack_enable_tls(h.fs, "tests/data/tls/selfsigned.crt",
					       "tests/data/tls/selfsigned.key"), 0);
	assert_int_equal(slack_h_start(&h), T0_OK);
	assert_true(slack_h_run_until(&h, connect_failures, NULL, 8000));
	assert_int_equal(fake_slack_open_conns(h.fs), 0);
	assert_false(slack_ops.ready(h.state));
	slack_h_free(&h);

	/* the same server, its CA trusted (OpenSSL's SSL_CERT_FILE): connected over TLS */
	setenv("SSL_CERT_FILE", "tests/data/tls/selfsigned.crt", 1);
	assert_int_equal(slack_h_init(&h, FAST, 0), 0);
	fake_slack_set_auth(h.fs, NULL, "U111", "B111", NULL);
	fake_slack_add_user(h.fs, "U222", "sam", "sam.okoro@example.com");
	assert_int_equal(fake_slack_enable_tls(h.fs, "tests/data/tls/selfsigned.crt",
					       "tests/data/tls/selfsigned.key"), 0);
	assert_int_equal(slack_h_start(&h), T0_OK);
	assert_true(slack_h_run_until(&h, conns_open, &w, 8000));
	p = mention_payload("<@U111> who owns payment-api", "EvTLS", NULL);
	fake_slack_send_envelope(h.fs, "events_api", p, 0, 0, 1);
	json_decref(p);
	assert_true(slack_h_run_until(&h, calls_at_least, &r, 5000));
	unsetenv("SSL_CERT_FILE");
	slack_h_free(&h);
}

/* ---- start-up ---- */

static void test_slack_invalid_auth_at_start_is_a_config_error(void **state)
{
	struct slack_h h;

	assert_int_equal(slack_h_init(&h, FAST, 0), 0);
	fake_slack_set_auth(h.fs, "invalid_auth", NULL, NULL, NULL);
	assert_int_equal(slack_h_start(&h), T0_ECONFIG);
	assert_int_equal(fake_slack_count(h.fs, "apps.connections.open"), 0);
	assert_false(slack_ops.ready(h.state));
	slack_h_free(&h);

	/* a refused app-level token stops start-up too */
	assert_int_equal(slack_h_init(&h, FAST, 0), 0);
	fake_slack_set_open_error(h.fs, "invalid_auth");
	assert_int_equal(slack_h_start(&h), T0_ECONFIG);
	slack_h_free(&h);
}

struct child {
	int done;
	int64_t status;
};

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct child *c = p->data;

	c->done = 1;
	c->status = status;
	uv_close((uv_handle_t *)p, NULL);
}

static int child_done(void *arg)
{
	return ((struct child *)arg)->done;
}

/*
 * Runs the real binary with `cmd --config <file>` (a config pointing at the
 * fake) while the fake is served on this loop; its stderr goes to errpath.
 */
struct spawned {
	char dir[32], path[128], errpath[128];
	uv_process_t proc;
	struct child c;
};

/* Starts the real binary: `cmd --config <file>`, a config pointing at the fake. */
static void spawn_tier0(struct slack_h *h, struct spawned *sp, const char *cmd,
			const char *http_yaml, const char *slack_extra)
{
	char yaml[2048], cwd[512];
	const char *args[5];
	uv_process_options_t o;
	uv_stdio_container_t stdio[3];
	FILE *fp;
	int efd;

	memset(sp, 0, sizeof(*sp));
	snprintf(sp->dir, sizeof(sp->dir), "/tmp/t0slack.XXXXXX");
	assert_non_null(mkdtemp(sp->dir));
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(sp->path, sizeof(sp->path), "%s/tier0.yaml", sp->dir);
	snprintf(sp->errpath, sizeof(sp->errpath), "%s/stderr", sp->dir);
	snprintf(yaml, sizeof(yaml),
		 "log:\n  level: error\nstore:\n  path: \":memory:\"\nhttp:\n%s"
		 "catalog:\n  files: [\"%s/config/demo/catalog/*.yaml\"]\n"
		 "slack:\n  app_token: xapp-1-x\n  bot_token: xoxb-x\n  api_url: \"%s\"\n%s",
		 http_yaml ? http_yaml : "  enabled: false\n", cwd, fake_slack_api_url(h->fs),
		 slack_extra ? slack_extra : "");
	fp = fopen(sp->path, "w");
	assert_non_null(fp);
	fputs(yaml, fp);
	fclose(fp);
	efd = open(sp->errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(efd >= 0);
	args[0] = T0_TEST_BIN;
	args[1] = cmd;
	args[2] = "--config";
	args[3] = sp->path;
	args[4] = NULL;
	memset(&o, 0, sizeof(o));
	memset(stdio, 0, sizeof(stdio));
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_IGNORE;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = efd;
	o.file = args[0];
	o.args = (char **)args;
	o.exit_cb = on_exit_cb;
	o.stdio = stdio;
	o.stdio_count = 3;
	sp->proc.data = &sp->c;
	assert_int_equal(uv_spawn(loop_uv(h->l), &sp->proc, &o), 0);
	close(efd);
}

/* Waits for it to exit; its stderr into errbuf; returns the exit status. */
static int64_t wait_tier0(struct slack_h *h, struct spawned *sp, char *errbuf, size_t errlen)
{
	FILE *fp;
	size_t n;

	assert_true(slack_h_run_until(h, child_done, &sp->c, 30000));
	fp = fopen(sp->errpath, "r");
	assert_non_null(fp);
	n = fread(errbuf, 1, errlen - 1, fp);
	errbuf[n] = '\0';
	fclose(fp);
	unlink(sp->errpath);
	unlink(sp->path);
	rmdir(sp->dir);
	return sp->c.status;
}

static int64_t run_tier0(struct slack_h *h, const char *cmd, const char *slack_extra, char *errbuf,
			 size_t errlen)
{
	struct spawned sp;

	spawn_tier0(h, &sp, cmd, NULL, slack_extra);
	return wait_tier0(h, &sp, errbuf, errlen);
}

struct fetched {
	int done;
	long status;
	char body[65536];
};

static void on_fetched(const struct http_resp *resp, void *arg)
{
	struct fetched *f = arg;

	f->done = 1;
	f->status = resp->status;
	snprintf(f->body, sizeof(f->body), "%.*s", (int)resp->body_len, resp->body ? resp->body : "");
}

static int fetched_done(void *arg)
{
	return ((struct fetched *)arg)->done;
}

static void fetch(struct slack_h *h, int port, const char *path, struct fetched *f)
{
	char url[96];
	struct http_req req = { .method = "GET", .url = url, .timeout_ms = 3000 };

	memset(f, 0, sizeof(*f));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	assert_int_equal(http_request(h->l, &req, on_fetched, f), T0_OK);
	assert_true(slack_h_run_until(h, fetched_done, f, 5000));
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* The daemon end to end: connected, /readyz, an answer, /metrics, SIGTERM -> exit 0. */
static void test_slack_tier0_run_answers_reports_ready_and_stops_cleanly(void **state)
{
	struct slack_h h;
	struct spawned sp;
	struct wait c = { .h = &h, .conns = 1 };
	struct wait w = { .h = &h, .method = "chat.postMessage", .n = 1 };
	struct fetched f;
	char http[96], err[16384];
	int port = free_port();
	json_t *p;

	assert_int_equal(slack_h_init(&h, FAST, 0), 0);
	fake_slack_set_auth(h.fs, NULL, "U111", "B111", NULL);
	fake_slack_add_user(h.fs, "U222", "sam", "sam.okoro@example.com");
	snprintf(http, sizeof(http), "  listen: \"127.0.0.1:%d\"\n", port);
	spawn_tier0(&h, &sp, "run", http, NULL);
	/* the fake counts the daemon's connection (the harness's own adapter is not started) */
	assert_true(slack_h_run_until(&h, conns_open_fake, &c, 10000));
	slack_h_run_for(&h, 100);
	fetch(&h, port, "/readyz", &f);
	assert_int_equal(f.status, 200);
	assert_non_null(strstr(f.body, "slack: connected"));
	p = mention_payload("<@U111> who owns payment-api", "EvRun1", NULL);
	fake_slack_send_envelope(h.fs, "events_api", p, 0, 0, 1);
	json_decref(p);
	assert_true(slack_h_run_until(&h, calls_at_least, &w, 5000));
	fetch(&h, port, "/metrics", &f);
	assert_int_equal(f.status, 200);
	assert_non_null(strstr(f.body, "tier0_slack_connections_open 1"));
	assert_non_null(strstr(f.body, "tier0_slack_envelopes_total{type=\"events_api\"} 1"));
	assert_int_equal(uv_process_kill(&sp.proc, SIGTERM), 0);
	assert_int_equal(wait_tier0(&h, &sp, err, sizeof(err)), 0);
	/* Slack saw the connection close */
	slack_h_run_for(&h, 200);
	assert_int_equal(fake_slack_open_conns(h.fs), 0);
	slack_h_free(&h);
}

/* `tier0 run` itself: invalid_auth -> exit status 2. */
static void test_slack_invalid_auth_makes_tier0_run_exit_2(void **state)
{
	struct slack_h h;
	char err[8192];

	assert_int_equal(slack_h_init(&h, FAST, 0), 0);
	fake_slack_set_auth(h.fs, "invalid_auth", NULL, NULL, NULL);
	assert_int_equal(run_tier0(&h, "run", NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "invalid_auth"));
	assert_true(fake_slack_count(h.fs, "auth.test") >= 1);
	slack_h_free(&h);
}

/* `tier0 check-config` names the scope the token lacks, and exits 2. */
static void test_slack_check_config_reports_missing_scope(void **state)
{
	struct slack_h h;
	char err[8192];

	assert_int_equal(slack_h_init(&h, FAST, 0), 0);
	fake_slack_set_auth(h.fs, NULL, "U111", "B111",
			    "app_mentions:read,channels:read,chat:write,commands,im:history,users:read");
	assert_int_equal(run_tier0(&h, "check-config", NULL, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "missing scope users:read.email"));
	/* listing channels needs channels:history as well */
	fake_slack_set_auth(h.fs, NULL, NULL, NULL,
			    "app_mentions:read,channels:read,chat:write,commands,im:history,users:read,"
			    "users:read.email");
	assert_int_equal(run_tier0(&h, "check-config", NULL, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "every required scope granted"));
	assert_int_equal(run_tier0(&h, "check-config", "  channels: [\"#ops\"]\n", err, sizeof(err)), 2);
	assert_non_null(strstr(err, "missing scope channels:history"));
	slack_h_free(&h);
}

/* ---- Web API: rate limits and order ---- */

struct sent {
	int n;
	int rc[16];
	char ts[16][32];
};

static void on_sent(void *arg, int rc, const char *ts)
{
	struct sent *s = arg;

	if (s->n < 16) {
		s->rc[s->n] = rc;
		snprintf(s->ts[s->n], sizeof(s->ts[0]), "%s", ts ? ts : "");
	}
	s->n++;
}

static int sent_at_least(void *arg)
{
	return ((struct sent *)arg)->n >= 5;
}

static void test_slack_429_retry_after_honoured_and_order_kept(void **state)
{
	struct slack_h h;
	struct sent s = { 0 };
	struct reply_target to = { .channel = "C777" };
	const struct fake_slack_call *limited = NULL, *first_ok = NULL;
	char *body = slack_h_fixture(FIX, "web_api/ratelimited.http429.json");
	int k = 0;

	start_connected(&h, FAST NO_PACING);
	fake_slack_fail_next(h.fs, "chat.postMessage", 429, "Retry-After: 1\r\n", body, 1);
	free(body);
	for (int i = 1; i <= 5; i++) {
		struct reply *r = reply_new();

		reply_set_text(r, "message %d", i);
		assert_int_equal(bot_post(h.bot, "slack", &to, r, on_sent, &s), T0_OK);
		reply_free(r);
	}
	assert_true(slack_h_run_until(&h, sent_at_least, &s, 10000));
	for (int i = 0; i < 5; i++)
		assert_int_equal(s.rc[i], T0_OK);
	/* the 429 for message 1; then 1..5 in order, the first one after a second */
	for (size_t i = 0; i < fake_slack_ncalls(h.fs); i++) {
		const struct fake_slack_call *c = fake_slack_call_at(h.fs, i);
		char want[32];

		if (strcmp(c->method, "chat.postMessage") != 0)
			continue;
		if (c->status == 429) {
			limited = c;
			continue;
		}
		if (!first_ok)
			first_ok = c;
		snprintf(want, sizeof(want), "message %d", ++k);
		assert_string_equal(arg_str(c, "text"), want);
	}
	assert_int_equal(k, 5);
	assert_non_null(limited);
	assert_string_equal(arg_str(limited, "text"), "message 1");
	assert_true(first_ok->at_ns - limited->at_ns >= 950u * 1000 * 1000);
	assert_true(metrics_value("tier0_slack_ratelimited_total", "method=\"chat.postMessage\"") >= 1);
	slack_h_free(&h);
}

/* ---- pacing ---- */

static int sent30(void *arg)
{
	return ((struct sent *)arg)->n >= 30;
}

static void test_slack_pacing_coalesces_a_burst_into_a_summary_thread(void **state)
{
	struct slack_h h;
	struct sent s = { 0 };
	struct reply_target to = { .channel = "C900" };
	const struct fake_slack_call *summary = NULL;
	size_t posts = 0, threaded = 0;
	uint64_t prev = 0, min_gap = UINT64_MAX;

	start_connected(&h, FAST "  pacing:\n    messages_per_second: 2\n    burst: 2\n"
				 "    coalesce_after: 5\n");
	for (int i = 1; i <= 30; i++) {
		struct reply *r = reply_new();

		reply_set_text(r, "alert %d: disk full on db-%d", i, i);
		assert_int_equal(bot_post(h.bot, "slack", &to, r, on_sent, &s), T0_OK);
		reply_free(r);
	}
	assert_true(metrics_value("tier0_slack_outbound_queue_depth", NULL) >= 20);
	assert_true(slack_h_run_until(&h, sent30, &s, 15000));
	slack_h_run_for(&h, 300);
	for (size_t i = 0; i < fake_slack_ncalls(h.fs); i++) {
		const struct fake_slack_call *c = fake_slack_call_at(h.fs, i);

		if (strcmp(c->method, "chat.postMessage") != 0)
			continue;
		posts++;
		if (prev && c->at_ns - prev < min_gap && posts > 3)
			min_gap = c->at_ns - prev;
		prev = c->at_ns;
		if (strstr(c->body, "arriving at once"))
			summary = c;
		else if (arg_str(c, "thread_ts"))
			threaded++;
	}
	/* 30 alerts: two at once (the burst), one summary, the rest folded into its thread */
	assert_non_null(summary);
	assert_true(posts <= 8);
	assert_true(threaded >= 1);
	/* after the burst, at most two posts a second in that channel */
	assert_true(min_gap >= 400u * 1000 * 1000);
	/* the summary says how many it held, once the burst is over */
	assert_true(fake_slack_count(h.fs, "chat.update") >= 1);
	for (int i = 0; i < 16; i++)
		assert_int_equal(s.rc[i], T0_OK);
	slack_h_free(&h);
}

/* ---- slash commands ---- */

static json_t *command_payload(struct slack_h *h, const char *command, const char *text, int n)
{
	json_t *env = fixture_json("socket_mode/envelope_slash_commands.json");
	json_t *p = json_incref(json_object_get(env, "payload"));
	char url[128], trig[32];

	json_decref(env);
	json_object_set_new(p, "command", json_string(command));
	json_object_set_new(p, "text", json_string(text));
	json_object_set_new(p, "user_id", json_string("U222"));
	json_object_set_new(p, "response_url",
			    json_string(fake_slack_response_url(h->fs, n, url, sizeof(url))));
	snprintf(trig, sizeof(trig), "111.222.%d", n);
	json_object_set_new(p, "trigger_id", json_string(trig));
	return p;
}

static void test_slack_slash_command_ack_payload_or_response_url(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .method = "response_url", .n = 1 };
	struct wait a = { .h = &h, .n = 2 };
	const struct fake_slack_call *hook;
	const struct fake_slack_env *e;
	json_t *p;
	char *dump;

	start_connected(&h, FAST "  slash_commands:\n    /ownerof: \"who owns\"\n");
	/* first time: the person is unknown, so the ack goes at once and the answer follows */
	p = command_payload(&h, "/whoowns", "payment-api", 1);
	fake_slack_send_envelope(h.fs, "slash_commands", p, 0, 1, 1);
	json_decref(p);
	assert_true(slack_h_run_until(&h, calls_at_least, &w, 5000));
	e = fake_slack_env_at(h.fs, 0);
	assert_int_equal(e->acks, 1);
	assert_null(e->ack_payload);
	hook = fake_slack_nth(h.fs, "response_url", 0);
	assert_string_equal(hook->query, "n=1");
	assert_non_null(strstr(hook->body, "payments-team"));
	assert_non_null(json_object_get(hook->args, "response_type"));
	assert_true(json_is_false(json_object_get(hook->args, "replace_original")));

	/* known now (users.info is cached): the answer rides on the ack itself; an alias too */
	p = command_payload(&h, "/ownerof", "payment-api", 2);
	fake_slack_send_envelope(h.fs, "slash_commands", p, 0, 1, 2);
	json_decref(p);
	assert_true(slack_h_run_until(&h, acked_at_least, &a, 5000));
	e = fake_slack_env_at(h.fs, 1);
	assert_non_null(e->ack_payload);
	dump = json_dumps(e->ack_payload, 0);
	assert_non_null(strstr(dump, "payments-team"));
	assert_non_null(strstr(dump, "\"response_type\""));
	free(dump);
	assert_int_equal(fake_slack_count(h.fs, "users.info"), 1);
	assert_int_equal(fake_slack_count(h.fs, "response_url"), 1);
	slack_h_free(&h);
}

/* ---- buttons ---- */

static int sent1(void *arg)
{
	return ((struct sent *)arg)->n >= 1;
}

static void test_slack_button_click_updates_message_and_removes_buttons(void **state)
{
	struct slack_h h;
	struct sent s = { 0 };
	struct reply_target to = { .channel = "C111" };
	struct wait w = { .h = &h, .method = "chat.update", .n = 1 };
	struct reply *r = reply_new();
	const struct fake_slack_call *post, *upd;
	json_t *env, *p, *action, *container, *msg, *blocks;
	char *dump;
	size_t i;
	json_t *b;

	start_connected(&h, FAST NO_PACING);
	/* a message with a choice, as the core makes them */
	reply_set_text(r, "I don't know \"payment-ap1\". Did you mean payment-api?");
	reply_add_button(r, "payment-api", "retry", "who owns payment-api", REPLY_STYLE_PRIMARY, NULL);
	assert_int_equal(bot_post(h.bot, "slack", &to, r, on_sent, &s), T0_OK);
	reply_free(r);
	assert_true(slack_h_run_until(&h, sent1, &s, 5000));
	post = fake_slack_nth(h.fs, "chat.postMessage", 0);
	blocks = json_object_get(post->args, "blocks");
	assert_non_null(strstr(post->body, "\"actions\""));

	/* the click, in the shape of the fixture, on that message */
	env = fixture_json("socket_mode/envelope_interactive_block_actions.json");
	p = json_object_get(env, "payload");
	action = json_array_get(json_object_get(p, "actions"), 0);
	json_object_set_new(action, "action_id", json_string("retry"));
	json_object_set_new(action, "value", json_string("who owns payment-api"));
	json_object_set_new(json_object_get(action, "text"), "text", json_string("payment-api"));
	container = json_object_get(p, "container");
	json_object_set_new(container, "message_ts", json_string(s.ts[0]));
	{
		char url[128];

		/* nothing may leave 127.0.0.1 */
		json_object_set_new(p, "response_url",
				    json_string(fake_slack_response_url(h.fs, 9, url, sizeof(url))));
	}
	msg = json_object_get(p, "message");
	json_object_set(msg, "blocks", blocks);
	json_object_set_new(msg, "ts", json_string(s.ts[0]));
	fake_slack_send_envelope(h.fs, "interactive", p, 0, 0, 1);
	json_decref(env);
	assert_true(slack_h_run_until(&h, calls_at_least, &w, 5000));
	assert_int_equal(fake_slack_env_at(h.fs, 0)->acks, 1);
	assert_null(fake_slack_env_at(h.fs, 0)->ack_payload);

	upd = fake_slack_nth(h.fs, "chat.update", 0);
	assert_string_equal(arg_str(upd, "channel"), "C111");
	assert_string_equal(arg_str(upd, "ts"), s.ts[0]);
	json_array_foreach(json_object_get(upd->args, "blocks"), i, b)
		assert_string_not_equal(json_string_value(json_object_get(b, "type")), "actions");
	dump = json_dumps(upd->args, 0);
	assert_non_null(strstr(dump, "<@U111> chose *payment-api*"));
	assert_non_null(strstr(dump, "payments-team")); /* the answer to the corrected question */
	assert_non_null(strstr(dump, "Did you mean")); /* the original text stays */
	free(dump);
	slack_h_free(&h);
}

/* ---- slow answers, errors, caches ---- */

struct slow {
	struct bot_pending *p;
	uv_timer_t t;
};

static struct slow slow;

static void slow_done(uv_timer_t *t)
{
	struct reply *r = reply_new();

	reply_set_text(r, "pong, eventually");
	bot_pending_finish(slow.p, r);
	slow.p = NULL;
}

/* A handler that waits on an outside service: answers 300 ms later. */
static int slow_ping(struct bot *b, const struct handler_req *req, struct reply *r)
{
	slow.p = bot_pending_take(req);
	uv_timer_start(&slow.t, slow_done, 300, 0);
	return T0_OK;
}

static void test_slack_slow_answer_goes_to_response_url_ack_not_held(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .method = "response_url", .n = 1 };
	struct wait m = { .h = &h, .method = "chat.postMessage", .n = 1 };
	const struct fake_slack_env *e;
	json_t *p;

	start_connected(&h, FAST);
	/* the person is cached first, so the command could be answered in its ack */
	p = mention_payload("<@U111> who owns payment-api", "EvW1", NULL);
	fake_slack_send_envelope(h.fs, "events_api", p, 0, 0, 0);
	json_decref(p);
	assert_true(slack_h_run_until(&h, calls_at_least, &m, 5000));
	uv_timer_init(loop_uv(h.l), &slow.t);
	handler_register("ping", slow_ping);
	p = command_payload(&h, "/tier0", "ping", 3);
	fake_slack_send_envelope(h.fs, "slash_commands", p, 0, 1, 1);
	json_decref(p);
	assert_true(slack_h_run_until(&h, calls_at_least, &w, 5000));
	handler_register("ping", NULL);
	uv_close((uv_handle_t *)&slow.t, NULL);
	e = fake_slack_env_at(h.fs, 1);
	/* the ack left at once, empty; the answer came through the response_url */
	assert_int_equal(e->acks, 1);
	assert_null(e->ack_payload);
	assert_true(e->acked_ns - e->sent_ns < 100u * 1000 * 1000);
	assert_true(fake_slack_nth(h.fs, "response_url", 0)->at_ns - e->acked_ns >= 250u * 1000 * 1000);
	assert_non_null(strstr(fake_slack_nth(h.fs, "response_url", 0)->body, "pong, eventually"));
	slack_h_free(&h);
}

static void test_slack_ok_false_logged_with_method_and_error(void **state)
{
	struct slack_h h;
	struct sent s = { 0 };
	struct reply_target to = { .channel = "C404" };
	struct reply *r = reply_new();
	char *logs = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&logs, &len);

	start_connected(&h, FAST NO_PACING);
	fake_slack_fail_next(h.fs, "chat.postMessage", 200, NULL,
			     "{\"ok\":false,\"error\":\"channel_not_found\"}", 1);
	log_set_stream(fp);
	log_set_level(LOG_LEVEL_WARN);
	reply_set_text(r, "into the void");
	assert_int_equal(bot_post(h.bot, "slack", &to, r, on_sent, &s), T0_OK);
	reply_free(r);
	assert_true(slack_h_run_until(&h, sent1, &s, 5000));
	log_set_level(getenv("T0_TEST_LOG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERR);
	log_set_stream(NULL);
	fclose(fp);
	assert_int_not_equal(s.rc[0], T0_OK);
	assert_non_null(strstr(logs, "\"msg\":\"api_error\",\"method\":\"chat.postMessage\",\"error\":\"channel_not_found\""));
	assert_null(strstr(logs, "xoxb-test-token")); /* never a token in the log */
	free(logs);
	slack_h_free(&h);
}

static void mention_from(struct slack_h *h, const char *id, const char *channel)
{
	json_t *p = mention_payload("<@U111> who owns payment-api", id, NULL);

	if (channel)
		json_object_set_new(json_object_get(p, "event"), "channel", json_string(channel));
	fake_slack_send_envelope(h->fs, "events_api", p, 0, 0, 0);
	json_decref(p);
}

static void test_slack_users_info_cached_until_ttl(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .method = "chat.postMessage", .n = 2 };

	start_connected(&h, FAST NO_PACING "  users_cache_ttl_s: 60\n");
	mention_from(&h, "EvT1", NULL);
	mention_from(&h, "EvT2", NULL);
	assert_true(slack_h_run_until(&h, calls_at_least, &w, 5000));
	assert_int_equal(fake_slack_count(h.fs, "users.info"), 1);
	/* a minute later the entry is stale: asked again */
	t0_set_fake_now_ms(t0_now_ms() + 61000);
	mention_from(&h, "EvT3", NULL);
	w.n = 3;
	assert_true(slack_h_run_until(&h, calls_at_least, &w, 5000));
	t0_set_fake_now_ms(0);
	assert_int_equal(fake_slack_count(h.fs, "users.info"), 2);
	slack_h_free(&h);
}

static void test_slack_channel_listed_by_name_found_with_conversations_info(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .method = "chat.postMessage", .n = 2 };
	struct wait a = { .h = &h, .n = 3 };
	json_t *p;

	start_connected(&h, FAST NO_PACING "  channels: [\"#ops\"]\n");
	fake_slack_add_channel(h.fs, "C0OPS", "ops");
	fake_slack_add_channel(h.fs, "C0RND", "random");
	for (int i = 0; i < 3; i++) {
		char id[16];

		p = fixture_json("events_api/message_channel_user.json");
		snprintf(id, sizeof(id), "EvN%d", i);
		json_object_set_new(json_object_get(p, "event"), "user", json_string("U222"));
		json_object_set_new(json_object_get(p, "event"), "channel",
				    json_string(i < 2 ? "C0OPS" : "C0RND"));
		json_object_set_new(json_object_get(p, "event"), "text", json_string("who owns payment-api"));
		json_object_set_new(p, "event_id", json_string(id));
		fake_slack_send_envelope(h.fs, "events_api", p, 0, 0, 0);
		json_decref(p);
	}
	assert_true(slack_h_run_until(&h, acked_at_least, &a, 5000));
	assert_true(slack_h_run_until(&h, calls_at_least, &w, 5000));
	slack_h_run_for(&h, 200);
	assert_int_equal(fake_slack_count(h.fs, "chat.postMessage"), 2); /* #ops yes, #random no */
	assert_int_equal(fake_slack_count(h.fs, "conversations.info"), 2); /* once per channel */
	slack_h_free(&h);
}

static void test_slack_connections_open_429_waits_retry_after(void **state)
{
	struct slack_h h;
	struct open_log o = { .h = &h };

	start_connected(&h, FAST);
	fake_slack_on_call(h.fs, log_opens, &o);
	fake_slack_fail_next(h.fs, "apps.connections.open", 429, "Retry-After: 2\r\n",
			     "{\"ok\":false,\"error\":\"ratelimited\"}", 1);
	fake_slack_drop(h.fs, 0);
	{
		struct wait w = { .h = &h, .conns = 2 };

		assert_true(slack_h_run_until(&h, accepted_at_least, &w, 8000));
	}
	assert_int_equal(o.n, 2);
	assert_true(o.at_ns[1] - o.at_ns[0] >= 1900u * 1000 * 1000);
	assert_int_equal(metrics_value("tier0_slack_reconnects_total", "reason=\"ratelimited\""), 1);
	slack_h_free(&h);
}

/* ---- no loops ---- */

static void send_event_fixture(struct slack_h *h, const char *rel, const char *event_id)
{
	json_t *p = fixture_json(rel);

	json_object_set_new(p, "event_id", json_string(event_id));
	fake_slack_send_envelope(h->fs, "events_api", p, 0, 0, 0);
	json_decref(p);
}

static void test_slack_own_and_other_bots_messages_ignored(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .n = 5 };
	struct wait r = { .h = &h, .method = "chat.postMessage", .n = 1 };
	json_t *p;

	/* our bot id is the one in the response_url fixture */
	start_connected_as(&h, FAST NO_PACING "  channels: [C111]\n", "BZYBOTHED");
	/* our own reply posted through a response_url: bot_id, no user */
	send_event_fixture(&h, "events_api/message_bot_message_via_response_url.json", "EvB1");
	/* another app's bot: bot_id and user, no subtype */
	send_event_fixture(&h, "events_api/message_from_other_bot_no_subtype.json", "EvB2");
	/* a message by our own bot user */
	p = fixture_json("events_api/message_channel_user.json");
	json_object_set_new(json_object_get(p, "event"), "user", json_string("U111"));
	json_object_set_new(p, "event_id", json_string("EvB3"));
	fake_slack_send_envelope(h.fs, "events_api", p, 0, 0, 0);
	json_decref(p);
	/* an edit (subtype message_changed) is not a new question */
	send_event_fixture(&h, "events_api/message_changed.json", "EvB4");
	/* a person in a configured channel: answered */
	p = fixture_json("events_api/message_channel_user.json");
	json_object_set_new(json_object_get(p, "event"), "user", json_string("U222"));
	json_object_set_new(json_object_get(p, "event"), "channel", json_string("C111"));
	json_object_set_new(json_object_get(p, "event"), "text", json_string("who owns payment-api"));
	json_object_set_new(p, "event_id", json_string("EvB5"));
	fake_slack_send_envelope(h.fs, "events_api", p, 0, 0, 0);
	json_decref(p);
	assert_true(slack_h_run_until(&h, acked_at_least, &w, 5000));
	assert_true(slack_h_run_until(&h, calls_at_least, &r, 5000));
	slack_h_run_for(&h, 300);
	assert_int_equal(fake_slack_count(h.fs, "chat.postMessage"), 1);
	assert_int_equal(fake_slack_count(h.fs, "chat.postEphemeral"), 0);
	assert_int_equal(metrics_value("tier0_slack_events_ignored_total", "reason=\"own_message\""), 2);
	assert_int_equal(metrics_value("tier0_slack_events_ignored_total", "reason=\"bot_message\""), 1);
	assert_int_equal(metrics_value("tier0_slack_events_ignored_total", "reason=\"subtype\""), 1);
	slack_h_free(&h);
}

static void test_slack_dm_answered_and_unlisted_channel_ignored(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .n = 2 };
	struct wait r = { .h = &h, .method = "chat.postMessage", .n = 1 };
	json_t *p = fixture_json("events_api/message_im_inner_event.json");
	json_t *wrap = fixture_json("events_api/message_channel_user.json");
	const struct fake_slack_call *c;

	start_connected(&h, FAST NO_PACING);
	/* the DM fixture is an inner event: wrap it the way Slack delivers it */
	json_object_set_new(p, "user", json_string("U222"));
	json_object_set_new(p, "text", json_string("who is on call for payment-api"));
	json_object_set(wrap, "event", p);
	json_object_set_new(wrap, "event_id", json_string("EvDM1"));
	fake_slack_send_envelope(h.fs, "events_api", wrap, 0, 0, 0);
	json_decref(p);
	json_decref(wrap);
	/* a channel message without a mention in a channel nobody listed */
	send_event_fixture(&h, "events_api/message_channel_user.json", "EvCH1");
	assert_true(slack_h_run_until(&h, acked_at_least, &w, 5000));
	assert_true(slack_h_run_until(&h, calls_at_least, &r, 5000));
	slack_h_run_for(&h, 200);
	assert_int_equal(fake_slack_count(h.fs, "chat.postMessage"), 1);
	c = fake_slack_nth(h.fs, "chat.postMessage", 0);
	assert_string_equal(arg_str(c, "channel"), "D111");
	assert_int_equal(metrics_value("tier0_slack_events_ignored_total",
				       "reason=\"channel_not_configured\""), 1);
	slack_h_free(&h);
}

static void test_slack_actor_email_reaches_the_audit_chain(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .method = "chat.postMessage", .n = 1 };
	json_t *p;
	char *out = NULL;
	size_t len = 0;
	FILE *fp;

	start_connected(&h, FAST);
	p = mention_payload("<@U111> who owns payment-api", "EvA1", NULL);
	fake_slack_send_envelope(h.fs, "events_api", p, 0, 0, 1);
	json_decref(p);
	assert_true(slack_h_run_until(&h, calls_at_least, &w, 5000));
	fp = open_memstream(&out, &len);
	assert_int_equal(audit_export(h.bot->store, 0, fp), T0_OK);
	fclose(fp);
	assert_non_null(strstr(out, "\"slack\""));
	assert_non_null(strstr(out, "U222"));
	assert_non_null(strstr(out, "sam"));
	free(out);
	slack_h_free(&h);
}

static void test_slack_ready_and_metrics_follow_the_connection(void **state)
{
	struct slack_h h;
	char *text = NULL;
	size_t len;

	assert_int_equal(slack_h_init(&h, FAST, 0), 0);
	fake_slack_set_send_hello(h.fs, 0);
	assert_int_equal(slack_h_start(&h), T0_OK);
	slack_h_run_for(&h, 300);
	/* connected, but no hello yet: not ready */
	assert_int_equal(fake_slack_accepted(h.fs), 1);
	assert_false(slack_ops.ready(h.state));
	slack_h_free(&h);

	start_connected(&h, FAST);
	slack_h_run_for(&h, 1100); /* one gauge tick */
	assert_true(slack_ops.ready(h.state));
	assert_int_equal(metrics_render(&text, &len), T0_OK);
	assert_non_null(strstr(text, "tier0_slack_connections_open 1"));
	assert_non_null(strstr(text, "tier0_slack_last_event_age_seconds"));
	assert_non_null(strstr(text, "tier0_slack_outbound_queue_depth 0"));
	assert_non_null(strstr(text, "tier0_slack_num_connections"));
	free(text);
	slack_h_free(&h);
}

static void test_slack_check_scopes_names_the_missing_scope(void **state)
{
	struct slack_h h;
	char msg[512];

	assert_int_equal(slack_h_init(&h, FAST, 0), 0);
	fake_slack_set_auth(h.fs, NULL, "U111", "B111",
			    "app_mentions:read,channels:read,chat:write,im:history,users:read");
	assert_int_equal(slack_check_scopes(h.l, h.bot->world->cfg, msg, sizeof(msg)), T0_ECONFIG);
	assert_non_null(strstr(msg, "missing scopes commands, users:read.email"));
	fake_slack_set_auth(h.fs, NULL, NULL, NULL,
			    "app_mentions:read,channels:read,chat:write,commands,im:history,users:read,"
			    "users:read.email");
	assert_int_equal(slack_check_scopes(h.l, h.bot->world->cfg, msg, sizeof(msg)), T0_OK);
	fake_slack_set_auth(h.fs, "invalid_auth", NULL, NULL, NULL);
	assert_int_equal(slack_check_scopes(h.l, h.bot->world->cfg, msg, sizeof(msg)), T0_ECONFIG);
	assert_non_null(strstr(msg, "invalid_auth"));
	slack_h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slack_hello_mention_acked_within_100ms_and_reply_posted),
		cmocka_unit_test(test_slack_fixture_envelope_replayed_verbatim),
		cmocka_unit_test(test_slack_same_event_twice_handled_once),
		cmocka_unit_test(test_slack_refresh_mid_500_events_none_lost_none_doubled),
		cmocka_unit_test(test_slack_abrupt_drop_reconnects_with_backoff_and_delivers_queued),
		cmocka_unit_test(test_slack_dead_connection_detected_by_ping_and_replaced),
		cmocka_unit_test(test_slack_too_many_websockets_closes_before_reconnecting),
		cmocka_unit_test(test_slack_link_disabled_is_not_ready_and_waits_long),
		cmocka_unit_test(test_slack_warning_opens_replacement_first),
		cmocka_unit_test(test_slack_several_connections_kept_open),
		cmocka_unit_test(test_slack_reconnect_backoff_grows_and_is_capped),
		cmocka_unit_test(test_slack_socket_url_with_host_name_is_resolved),
		cmocka_unit_test(test_slack_wss_verifies_the_certificate),
		cmocka_unit_test(test_slack_invalid_auth_at_start_is_a_config_error),
		cmocka_unit_test(test_slack_invalid_auth_makes_tier0_run_exit_2),
		cmocka_unit_test(test_slack_check_config_reports_missing_scope),
		cmocka_unit_test(test_slack_tier0_run_answers_reports_ready_and_stops_cleanly),
		cmocka_unit_test(test_slack_429_retry_after_honoured_and_order_kept),
		cmocka_unit_test(test_slack_pacing_coalesces_a_burst_into_a_summary_thread),
		cmocka_unit_test(test_slack_slash_command_ack_payload_or_response_url),
		cmocka_unit_test(test_slack_button_click_updates_message_and_removes_buttons),
		cmocka_unit_test(test_slack_slow_answer_goes_to_response_url_ack_not_held),
		cmocka_unit_test(test_slack_ok_false_logged_with_method_and_error),
		cmocka_unit_test(test_slack_users_info_cached_until_ttl),
		cmocka_unit_test(test_slack_channel_listed_by_name_found_with_conversations_info),
		cmocka_unit_test(test_slack_connections_open_429_waits_retry_after),
		cmocka_unit_test(test_slack_own_and_other_bots_messages_ignored),
		cmocka_unit_test(test_slack_dm_answered_and_unlisted_channel_ignored),
		cmocka_unit_test(test_slack_actor_email_reaches_the_audit_chain),
		cmocka_unit_test(test_slack_ready_and_metrics_follow_the_connection),
		cmocka_unit_test(test_slack_check_scopes_names_the_missing_scope),
	};

	log_set_level(getenv("T0_TEST_LOG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
