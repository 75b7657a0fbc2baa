/*
 * Actions end to end: the demo organisation's actions against fake executor
 * endpoints on 127.0.0.1, people talking through bot_dispatch, a fake chat
 * adapter catching the cards tier0 posts and updates, a SQLite file store.
 * Covers approvals by risk, self-approval, two distinct approvers, expiry
 * with a fake clock, a restart with a request pending, two processes
 * approving at once, single-use buttons, rate limits, the circuit breaker,
 * dry runs, LLM and card proposals, and one request's audit chain.
 */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "adapters/chat/console_render.h"
#include "bot/adapter.h"
#include "bot/agent.h"
#include "bot/audit.h"
#include "bot/bot.h"
#include "bot/catalog.h"
#include "bot/config.h"
#include "bot/event.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "runbooks/actions.h"
#include "runbooks/approval.h"
#include "store/store.h"
#include "tests/fakes/fake_http.h"

#define T_START 1795687200000LL /* 2026-11-26T10:00:00Z */
#define MAX_MSGS 64

/* ---- a chat adapter that keeps what tier0 posts ---- */

struct chat {
	char *msgs[MAX_MSGS]; /* rendered */
	int updates[MAX_MSGS];
	size_t n;
	uint64_t posted;
};

static int chat_keep(struct chat *c, const struct reply *r, int update)
{
	size_t len = 0;
	char *text = console_render(r, &len);

	if (c->n < MAX_MSGS) {
		c->updates[c->n] = update;
		c->msgs[c->n++] = text;
	} else {
		free(text);
	}
	return T0_OK;
}

static int chat_send(void *state, const struct reply_target *to, const struct reply *r,
		     adapter_sent_cb cb, void *arg)
{
	struct chat *c = state;
	char ref[32];

	chat_keep(c, r, 0);
	snprintf(ref, sizeof(ref), "msg-%llu", (unsigned long long)++c->posted);
	if (cb)
		cb(arg, T0_OK, ref);
	return T0_OK;
}

static int chat_update(void *state, const struct reply_target *to, const char *message_ref,
		       const struct reply *r, adapter_sent_cb cb, void *arg)
{
	chat_keep(state, r, 1);
	if (cb)
		cb(arg, T0_OK, message_ref);
	return T0_OK;
}

static const struct adapter_ops fake_chat_ops = {
	.name = "console",
	.kind = ADAPTER_CHAT,
	.send = chat_send,
	.update = chat_update,
};

static void chat_clear(struct chat *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->msgs[i]);
	c->n = 0;
}

/* ---- fixture ---- */

struct fx {
	char dir[64];
	char db[128];
	char cfg_path[160];
	struct t0_loop *loop;
	struct fake_http *fh;
	uv_timer_t poll;
	struct bot *b;
	struct chat chat;
	int stop_when_idle;
};

static char *read_all(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return buf;
}

/* Replaces every `from` in s by `to` (new string). */
static char *replace(const char *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	const char *p = s;
	char *out, *o;

	while ((p = strstr(p, from))) {
		n++;
		p += fl;
	}
	out = malloc(strlen(s) + n * (tl + 1) + 1);
	o = out;
	for (p = s;;) {
		const char *hit = strstr(p, from);

		if (!hit) {
			strcpy(o, p);
			break;
		}
		memcpy(o, p, (size_t)(hit - p));
		o += hit - p;
		memcpy(o, to, tl);
		o += tl;
		p = hit + fl;
	}
	return out;
}

/* The demo configuration, executors on the fake server, paths absolute, plus `extra` edits. */
static void write_config(struct fx *f, const char *from, const char *to)
{
	char base[64];
	char *text = read_all("config/demo/tier0.yaml"), *t2, *t3, *t4;
	FILE *fp;

	snprintf(base, sizeof(base), "http://127.0.0.1:%d", fake_http_port(f->fh));
	t2 = replace(text, "http://127.0.0.1:9", base);
	t3 = replace(t2, "    - catalog/*.yaml", "    - " T0_SOURCE_DIR "/config/demo/catalog/*.yaml");
	t4 = replace(t3, "    - runbooks\n", "    - " T0_SOURCE_DIR "/config/demo/runbooks\n");
	free(text);
	free(t2);
	free(t3);
	if (from) {
		text = replace(t4, from, to);
		free(t4);
		t4 = text;
	}
	fp = fopen(f->cfg_path, "w");
	assert_non_null(fp);
	fputs(t4, fp);
	fclose(fp);
	free(t4);
}

static struct bot *open_bot(struct fx *f, struct t0_loop *loop)
{
	struct config *cfg = NULL;
	struct bot_world *w = NULL;
	struct bot *b = NULL;
	char err[1024];

	if (config_load(f->cfg_path, &cfg, err, sizeof(err)) != T0_OK)
		fail_msg("%s", err);
	free(cfg->store_path);
	cfg->store_path = strdup(f->db);
	if (bot_world_build(cfg, &w, err, sizeof(err)) != T0_OK)
		fail_msg("%s", err);
	if (bot_new(w, &b, err, sizeof(err)) != T0_OK)
		fail_msg("%s", err);
	b->loop = loop;
	return b;
}

static void close_bot(struct fx *f)
{
	if (!f->b)
		return;
	actions_detach(f->b);
	bot_chat_unregister_all(f->b);
	bot_free(f->b);
	f->b = NULL;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	log_set_level(LOG_LEVEL_ERR);
	t0_set_fake_now_ms(T_START);
	snprintf(f->dir, sizeof(f->dir), "/tmp/t0flow.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/tier0.db", f->dir);
	snprintf(f->cfg_path, sizeof(f->cfg_path), "%s/tier0.yaml", f->dir);
	f->loop = loop_new(err, sizeof(err));
	assert_non_null(f->loop);
	f->fh = fake_http_new(loop_uv(f->loop));
	assert_non_null(f->fh);
	uv_timer_init(loop_uv(f->loop), &f->poll);
	f->poll.data = f;
	write_config(f, NULL, NULL);
	f->b = open_bot(f, f->loop);
	assert_int_equal(actions_register_handlers(), T0_OK);
	bot_chat_register(f->b, &fake_chat_ops, &f->chat);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char path[256];

	fake_http_free(f->fh);
	uv_close((uv_handle_t *)&f->poll, NULL);
	/* The loop first: requests still out complete (closed) while the bot is alive. */
	loop_free(f->loop);
	close_bot(f);
	chat_clear(&f->chat);
	snprintf(path, sizeof(path), "%s/tier0.db", f->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/tier0.db-wal", f->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/tier0.db-shm", f->dir);
	unlink(path);
	unlink(f->cfg_path);
	rmdir(f->dir);
	free(f);
	metrics_reset();
	t0_set_fake_now_ms(0);
	return 0;
}

static void on_poll(uv_timer_t *t)
{
	struct fx *f = t->data;

	if (f->stop_when_idle && f->b && actions_inflight(f->b) == 0)
		loop_stop(f->loop);
}

static void on_guard(uv_timer_t *t)
{
	loop_stop(t->data);
}

/* Runs the loop until the bot has nothing in flight (or ms pass). */
static void settle(struct fx *f, uint64_t ms)
{
	uv_timer_t guard;

	if (actions_inflight(f->b) == 0)
		return;
	uv_timer_init(loop_uv(f->loop), &guard);
	guard.data = f->loop;
	uv_timer_start(&guard, on_guard, ms, 0);
	f->stop_when_idle = 1;
	uv_timer_start(&f->poll, on_poll, 2, 2);
	loop_run(f->loop);
	uv_timer_stop(&f->poll);
	uv_close((uv_handle_t *)&guard, NULL);
	f->stop_when_idle = 0;
	/* let the guard's close run */
	uv_run(loop_uv(f->loop), UV_RUN_NOWAIT);
}

/* ---- people ---- */

static struct event person(const char *who)
{
	struct event ev = {
		.kind = EVENT_MESSAGE,
		.actor = { .platform = "console", .user_id = who },
		.channel = "#payments-oncall",
	};

	return ev;
}

struct box {
	struct reply *r;
	int done;
};

static void on_reply(void *arg, struct reply *r)
{
	struct box *bx = arg;

	bx->r = r;
	bx->done = 1;
}

static struct reply *say_ev(struct fx *f, struct event *ev)
{
	struct box bx = { 0 };

	bot_dispatch(f->b, ev, on_reply, &bx);
	if (!bx.done) {
		/* An asynchronous answer (a look-up): run the loop until it comes. */
		uv_timer_t guard;

		uv_timer_init(loop_uv(f->loop), &guard);
		guard.data = f->loop;
		uv_timer_start(&guard, on_guard, 5000, 0);
		f->stop_when_idle = 1;
		uv_timer_start(&f->poll, on_poll, 2, 2);
		loop_run(f->loop);
		uv_timer_stop(&f->poll);
		uv_close((uv_handle_t *)&guard, NULL);
		uv_run(loop_uv(f->loop), UV_RUN_NOWAIT);
		f->stop_when_idle = 0;
	}
	assert_true(bx.done);
	assert_non_null(bx.r);
	return bx.r;
}

static struct reply *say(struct fx *f, const char *who, const char *text)
{
	struct event ev = person(who);

	ev.text = text;
	return say_ev(f, &ev);
}

/* Presses the button labelled `label` of reply r as `who`. */
static struct reply *press(struct fx *f, const char *who, const struct reply *r, const char *label)
{
	struct event ev = person(who);

	ev.kind = EVENT_INTERACTION;
	for (size_t i = 0; i < r->nbuttons; i++) {
		if (strcmp(r->buttons[i].label, label) == 0) {
			ev.action_id = r->buttons[i].action_id;
			ev.value = r->buttons[i].value;
			return say_ev(f, &ev);
		}
	}
	fail_msg("no button '%s' on: %s", label, r->text);
	return NULL;
}

static const char *button_value(const struct reply *r, const char *label)
{
	for (size_t i = 0; i < r->nbuttons; i++)
		if (strcmp(r->buttons[i].label, label) == 0)
			return r->buttons[i].value;
	fail_msg("no button '%s'", label);
	return NULL;
}

/* The request id a card names in its context line. */
static void request_id_of(const struct reply *r, char *out, size_t len)
{
	for (size_t i = 0; i < r->ncontext; i++) {
		const char *p = strstr(r->context[i], "r-");

		if (p) {
			snprintf(out, len, "%.18s", p);
			return;
		}
	}
	fail_msg("no request id in: %s", r->text);
}

static char *state_of(struct fx *f, const char *id)
{
	struct store_approval a;
	char *s;

	assert_int_equal(store_approval_get(f->b->store, id, &a), T0_OK);
	s = strdup(a.state);
	store_approval_clear(&a);
	return s;
}

static void assert_state(struct fx *f, const char *id, const char *want)
{
	char *s = state_of(f, id);

	if (strcmp(s, want) != 0)
		fail_msg("request %s is %s, want %s", id, s, want);
	free(s);
}

static void expect_text(const struct reply *r, const char *needle)
{
	if (!r->text || !strstr(r->text, needle))
		fail_msg("'%s' not in reply: %s", needle, r->text ? r->text : "(none)");
}

#define ROLLBACK_PATH "/github/repos/example-org/payment-api/actions/workflows/rollback.yml/dispatches"
#define RESTART_PATH "/k8s/apis/apps/v1/namespaces/payments/deployments/checkout-web"
#define FAILOVER_PATH "/db-operator/v1/clusters/payments-db/failover"

/* ---- tests ---- */

static void test_flow_low_risk_runs_at_once_against_the_endpoint(void **state)
{
	struct fx *f = *state;
	struct reply *r;
	char id[32], buf[256];
	const struct fake_http_req *req;
	json_t *body;

	fake_http_add(f->fh, "PATCH", RESTART_PATH, 200, "Content-Type: application/json\r\n",
		      "{\"kind\":\"Deployment\"}", 21, 0);
	r = say(f, "alice", "restart checkout-web environment=staging");
	expect_text(r, "Running restart on checkout-web (no approval needed)");
	assert_int_equal(r->nbuttons, 0);
	request_id_of(r, id, sizeof(id));
	reply_free(r);
	settle(f, 5000);
	assert_int_equal(fake_http_count(f->fh), 1);
	req = fake_http_req(f->fh, 0);
	assert_string_equal(req->method, "PATCH");
	assert_string_equal(req->path, RESTART_PATH);
	assert_string_equal(fake_http_req_header(req, "authorization", buf, sizeof(buf)),
			    "Bearer demo-kubernetes-token");
	assert_string_equal(fake_http_req_header(req, "content-type", buf, sizeof(buf)),
			    "application/strategic-merge-patch+json");
	body = json_loadb(req->body, req->body_len, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(json_object_get(
								    json_object_get(body, "spec"),
								    "template"),
							    "metadata"),
					    "annotations"),
				    "kubectl.kubernetes.io/restartedAt")),
			    "2026-11-26T10:00:00Z");
	json_decref(body);
	assert_state(f, id, "succeeded");
	/* The outcome is posted where the request was made. */
	assert_int_equal(f->chat.n, 1);
	assert_non_null(strstr(f->chat.msgs[0], "Done: restart succeeded: HTTP 200"));
	assert_non_null(strstr(f->chat.msgs[0], "Outcome: HTTP 200"));
	assert_true(metrics_value("tier0_actions_executions_total",
				  "action=\"restart\",result=\"succeeded\"") == 1);
}

static void test_flow_production_needs_approval_even_for_low_risk(void **state)
{
	struct fx *f = *state;
	struct reply *r = say(f, "alice", "restart checkout-web");

	expect_text(r, "needs 1 approval from someone else (low risk, approval-only environment)");
	assert_int_equal(r->nbuttons, 3);
	assert_int_equal(fake_http_count(f->fh), 0);
	reply_free(r);
}

static void test_flow_high_risk_needs_another_person(void **state)
{
	struct fx *f = *state;
	struct reply *card, *r;
	char id[32], buf[256];
	const struct fake_http_req *req;
	json_t *body;

	fake_http_add(f->fh, "POST", ROLLBACK_PATH, 204, NULL, "", 0, 0);
	card = say(f, "alice", "rollback payment-api");
	expect_text(card, "Alice Martin requests rollback on payment-api: needs 1 approval");
	request_id_of(card, id, sizeof(id));
	assert_state(f, id, "pending");
	/* The card shows exactly what will run, secrets masked. */
	{
		char *text = console_render(card, NULL);

		assert_non_null(strstr(text, "POST http://127.0.0.1:"));
		assert_non_null(strstr(text, ROLLBACK_PATH));
		assert_non_null(strstr(text, "Authorization: Bearer ********"));
		assert_null(strstr(text, "demo-github-token"));
		free(text);
	}
	/* The requester cannot approve. */
	r = press(f, "alice", card, "Approve");
	expect_text(r, "You can't approve this: you made this request");
	reply_free(r);
	/* Someone outside the approvers cannot either. */
	r = press(f, "oscar", card, "Approve");
	expect_text(r, "You can't approve this: not an approver");
	reply_free(r);
	assert_state(f, id, "pending");
	assert_int_equal(fake_http_count(f->fh), 0);
	/* A teammate can; the refusals did not use the button up. */
	r = press(f, "bob", card, "Approve");
	expect_text(r, "Approved by Bob Nguyen. Running rollback now.");
	assert_int_equal(r->nbuttons, 0);
	reply_free(r);
	settle(f, 5000);
	assert_int_equal(fake_http_count(f->fh), 1);
	req = fake_http_req(f->fh, 0);
	assert_string_equal(req->path, ROLLBACK_PATH);
	assert_string_equal(fake_http_req_header(req, "authorization", buf, sizeof(buf)),
			    "Bearer demo-github-token");
	body = json_loadb(req->body, req->body_len, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(body, "ref")), "main");
	assert_string_equal(json_string_value(json_object_get(json_object_get(body, "inputs"),
							      "request_id")),
			    id);
	json_decref(body);
	assert_state(f, id, "succeeded");
	/* The same button again: used. */
	r = press(f, "carol", card, "Approve");
	expect_text(r, "already");
	reply_free(r);
	assert_int_equal(fake_http_count(f->fh), 1);
	reply_free(card);
}

static void test_flow_self_approval_refused_across_platforms(void **state)
{
	struct fx *f = *state;
	struct reply *card = say(f, "alice", "scale checkout-web to 4"), *r;
	struct event ev = person("U0ALICE");
	char id[32];

	request_id_of(card, id, sizeof(id));
	/* Alice again, from Slack, found by her e-mail. */
	ev.actor.platform = "slack";
	ev.actor.email = "alice.martin@example.com";
	ev.kind = EVENT_INTERACTION;
	ev.action_id = "approval.approve";
	ev.value = button_value(card, "Approve");
	r = say_ev(f, &ev);
	expect_text(r, "you made this request");
	reply_free(r);
	/* And she cannot deny it either; she can cancel. */
	r = press(f, "alice", card, "Deny");
	expect_text(r, "you made this request");
	reply_free(r);
	r = press(f, "alice", card, "Cancel");
	expect_text(r, "Alice Martin cancelled scale. Nothing ran.");
	reply_free(r);
	assert_state(f, id, "cancelled");
	/* A cancelled request cannot be approved. */
	r = press(f, "bob", card, "Approve");
	expect_text(r, "cancelled");
	reply_free(r);
	assert_int_equal(fake_http_count(f->fh), 0);
	reply_free(card);
}

static void test_flow_critical_needs_two_distinct_approvers(void **state)
{
	struct fx *f = *state;
	struct reply *card, *r1, *r2, *r;
	char id[32];

	fake_http_add(f->fh, "POST", FAILOVER_PATH, 200, "Content-Type: application/json\r\n",
		      "{\"ok\":true}", 11, 0);
	card = say(f, "alice", "run failover-db payments-db");
	expect_text(card, "needs 2 approvals from someone else (critical risk)");
	request_id_of(card, id, sizeof(id));
	r1 = press(f, "bob", card, "Approve");
	expect_text(r1, "Approved by Bob Nguyen (1 of 2). It needs 1 more, from someone else.");
	assert_int_equal(r1->nbuttons, 3);
	assert_state(f, id, "pending");
	/* Bob again, with the fresh button: one vote per person. */
	r = press(f, "bob", r1, "Approve");
	expect_text(r, "You have voted on");
	reply_free(r);
	/* The first card's buttons were replaced. */
	r = press(f, "carol", card, "Approve");
	expect_text(r, "used already");
	reply_free(r);
	assert_state(f, id, "pending");
	assert_int_equal(fake_http_count(f->fh), 0);
	/* A department head (commerce-engineering) is the second, distinct approver. */
	r2 = press(f, "maria", r1, "Approve");
	expect_text(r2, "Approved by Maria Santos. Running failover-db now.");
	settle(f, 5000);
	assert_int_equal(fake_http_count(f->fh), 1);
	assert_state(f, id, "succeeded");
	{
		char *text = console_render(r2, NULL);

		assert_non_null(strstr(text, "Approvals: 2 of 2: Bob Nguyen, Maria Santos"));
		free(text);
	}
	reply_free(r2);
	reply_free(r1);
	reply_free(card);
}

static void test_flow_deny_stops_it(void **state)
{
	struct fx *f = *state;
	struct reply *card = say(f, "alice", "rollback payment-api"), *r;
	char id[32];

	request_id_of(card, id, sizeof(id));
	r = press(f, "bob", card, "Deny");
	expect_text(r, "Denied by Bob Nguyen. rollback did not run.");
	reply_free(r);
	assert_state(f, id, "denied");
	assert_int_equal(fake_http_count(f->fh), 0);
	reply_free(card);
}

static void test_flow_expiry_with_a_fake_clock(void **state)
{
	struct fx *f = *state;
	struct reply *card = say(f, "alice", "rollback payment-api"), *card2, *r;
	char id[32], id2[32];

	request_id_of(card, id, sizeof(id));
	card2 = say(f, "bob", "restart checkout-web");
	request_id_of(card2, id2, sizeof(id2));
	/* 29 minutes later it still waits. */
	t0_set_fake_now_ms(T_START + 29 * 60 * 1000);
	assert_int_equal(actions_sweep(f->b), 0);
	assert_state(f, id, "pending");
	/* 31 minutes: the button says it expired, and why. */
	t0_set_fake_now_ms(T_START + 31 * 60 * 1000);
	r = press(f, "bob", card, "Approve");
	expect_text(r, "expired at 10:30 UTC, 30m after it was made, before it was decided. "
		       "Nothing ran.");
	reply_free(r);
	assert_state(f, id, "expired");
	/* The sweep expires the other one and says so where it was asked. */
	chat_clear(&f->chat);
	assert_int_equal(actions_sweep(f->b), 1);
	assert_state(f, id2, "expired");
	assert_int_equal(f->chat.n, 1);
	assert_non_null(strstr(f->chat.msgs[0], "Expired: restart on component:default/checkout-web"));
	r = press(f, "alice", card2, "Approve");
	expect_text(r, "expired");
	reply_free(r);
	assert_int_equal(fake_http_count(f->fh), 0);
	reply_free(card);
	reply_free(card2);
}

static void test_flow_restart_with_an_approval_pending(void **state)
{
	struct fx *f = *state;
	struct reply *card = say(f, "alice", "rollback payment-api"), *r;
	char id[32];

	fake_http_add(f->fh, "POST", ROLLBACK_PATH, 204, NULL, "", 0, 0);
	request_id_of(card, id, sizeof(id));
	/* tier0 stops and starts again on the same database. */
	close_bot(f);
	f->b = open_bot(f, f->loop);
	bot_chat_register(f->b, &fake_chat_ops, &f->chat);
	assert_int_equal(actions_sweep(f->b), 0); /* what start does: nothing to settle */
	assert_state(f, id, "pending");
	/* The button of the card posted before the restart still works. */
	r = press(f, "bob", card, "Approve");
	expect_text(r, "Approved by Bob Nguyen. Running rollback now.");
	reply_free(r);
	settle(f, 5000);
	assert_int_equal(fake_http_count(f->fh), 1);
	assert_state(f, id, "succeeded");
	reply_free(card);
}

static void test_flow_interrupted_execution_fails_after_a_restart(void **state)
{
	struct fx *f = *state;
	struct reply *card = say(f, "alice", "rollback payment-api"), *r;
	char id[32];
	int changed = 0;

	request_id_of(card, id, sizeof(id));
	/* As if tier0 died right after claiming it. */
	assert_int_equal(approval_transition(f->b->store, id, APPROVAL_PENDING, APPROVAL_APPROVED,
					     T_START, "user:default/bob", T_START, NULL, NULL, NULL,
					     "test", &changed),
			 T0_OK);
	assert_int_equal(approval_transition(f->b->store, id, APPROVAL_APPROVED,
					     APPROVAL_EXECUTING, T_START, NULL, 0, NULL, NULL, NULL,
					     "test", &changed),
			 T0_OK);
	close_bot(f);
	f->b = open_bot(f, f->loop);
	bot_chat_register(f->b, &fake_chat_ops, &f->chat);
	/* Within its timeout it may still be running elsewhere: left alone. */
	t0_set_fake_now_ms(T_START + 60 * 1000);
	assert_int_equal(actions_sweep(f->b), 0);
	t0_set_fake_now_ms(T_START + 2 * 60 * 1000);
	assert_int_equal(actions_sweep(f->b), 1);
	assert_state(f, id, "failed");
	/* Never retried on its own. */
	r = press(f, "bob", card, "Approve");
	expect_text(r, "failed already");
	reply_free(r);
	assert_int_equal(fake_http_count(f->fh), 0);
	reply_free(card);
}

static void test_flow_card_is_updated_in_place_when_its_message_is_known(void **state)
{
	struct fx *f = *state;
	struct reply *card = say(f, "alice", "rollback payment-api"), *r;
	struct event ev = person("bob");
	struct store_approval a;
	char id[32];

	fake_http_add(f->fh, "POST", ROLLBACK_PATH, 204, NULL, "", 0, 0);
	request_id_of(card, id, sizeof(id));
	/* The platform says which message carried the button. */
	ev.kind = EVENT_INTERACTION;
	ev.action_id = "approval.approve";
	ev.value = button_value(card, "Approve");
	ev.message_ref = "1764151200.000100";
	r = say_ev(f, &ev);
	expect_text(r, "Approved by Bob Nguyen");
	reply_free(r);
	settle(f, 5000);
	assert_int_equal(store_approval_get(f->b->store, id, &a), T0_OK);
	assert_string_equal(a.message_ref, "1764151200.000100");
	store_approval_clear(&a);
	/* Approved, then the outcome: both edit that message, nothing new is posted. */
	assert_int_equal(f->chat.n, 2);
	assert_int_equal(f->chat.updates[0], 1);
	assert_int_equal(f->chat.updates[1], 1);
	assert_non_null(strstr(f->chat.msgs[0], "Approved by Bob Nguyen"));
	assert_non_null(strstr(f->chat.msgs[1], "Done: rollback succeeded"));
	reply_free(card);
}

/* ---- two processes ---- */

static int child_approve(struct fx *f, const char *who, const char *button, int gate)
{
	struct t0_loop *loop;
	struct reply *r;
	struct event ev = person(who);
	char err[128], c;
	int code = 30;

	/* Wait for the parent's go, so both processes approve at the same moment. */
	if (read(gate, &c, 1) != 1)
		return 31;
	loop = loop_new(err, sizeof(err));
	if (!loop)
		return 32;
	f->loop = loop;
	f->b = open_bot(f, loop);
	ev.kind = EVENT_INTERACTION;
	ev.action_id = "approval.approve";
	ev.value = button;
	r = say_ev(f, &ev);
	if (r->text && strstr(r->text, "Running rollback now"))
		code = 10;
	else if (r->text && (strstr(r->text, "decided meanwhile") || strstr(r->text, "already")))
		code = 20;
	reply_free(r);
	settle(f, 10000);
	loop_free(loop);
	close_bot(f);
	return code;
}

struct reap {
	pid_t pid[2];
	int code[2];
	int left;
};

static void on_child_poll(uv_timer_t *t)
{
	struct reap *rp = t->data;

	for (int i = 0; i < 2; i++) {
		int st = 0;

		if (rp->pid[i] > 0 && waitpid(rp->pid[i], &st, WNOHANG) == rp->pid[i]) {
			rp->code[i] = WIFEXITED(st) ? WEXITSTATUS(st) : 99;
			rp->pid[i] = 0;
			rp->left--;
		}
	}
}

static void test_flow_two_processes_approving_at_once_execute_once(void **state)
{
	struct fx *f = *state;
	struct reply *card = say(f, "alice", "rollback payment-api");
	const char *who[2] = { "bob", "carol" };
	char id[32], second[APPROVAL_ID_LEN];
	char buttons[2][APPROVAL_ID_LEN];
	struct reap rp = { .left = 2 };
	int gate[2], approvals = 0;
	uv_timer_t poll, guard;

	fake_http_add(f->fh, "POST", ROLLBACK_PATH, 204, NULL, "", 0, 0);
	request_id_of(card, id, sizeof(id));
	/* The card is shown twice (two channels): two Approve buttons for one request. */
	snprintf(buttons[0], sizeof(buttons[0]), "%s", button_value(card, "Approve"));
	assert_int_equal(approval_new_id("b-", second, sizeof(second)), T0_OK);
	assert_int_equal(store_button_add(f->b->store, second, id, "approve", T_START), T0_OK);
	snprintf(buttons[1], sizeof(buttons[1]), "%s", second);
	reply_free(card);
	/* No SQLite connection may cross a fork. */
	close_bot(f);
	assert_int_equal(pipe(gate), 0);
	for (int i = 0; i < 2; i++) {
		rp.pid[i] = fork();
		assert_true(rp.pid[i] >= 0);
		if (rp.pid[i] == 0) {
			close(gate[1]);
			_exit(child_approve(f, who[i], buttons[i], gate[0]));
		}
	}
	close(gate[0]);
	/* Both children wait on the gate: one write releases both at the same moment. */
	assert_int_equal(write(gate[1], "go", 2), 2);
	close(gate[1]);
	/* Serve the fake endpoint until both children are done. */
	uv_timer_init(loop_uv(f->loop), &poll);
	uv_timer_init(loop_uv(f->loop), &guard);
	poll.data = &rp;
	guard.data = f->loop;
	uv_timer_start(&guard, on_guard, 30000, 0);
	uv_timer_start(&poll, on_child_poll, 5, 5);
	while (rp.left > 0 && uv_is_active((uv_handle_t *)&guard))
		uv_run(loop_uv(f->loop), UV_RUN_ONCE);
	uv_timer_stop(&poll);
	uv_timer_stop(&guard);
	uv_close((uv_handle_t *)&poll, NULL);
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(loop_uv(f->loop), UV_RUN_NOWAIT);
	assert_int_equal(rp.left, 0);
	/* One process ran it, the other was told it was decided meanwhile. */
	if (!((rp.code[0] == 10 && rp.code[1] == 20) || (rp.code[0] == 20 && rp.code[1] == 10)))
		fail_msg("child exit codes %d and %d", rp.code[0], rp.code[1]);
	/* Exactly one call reached the endpoint. */
	assert_int_equal(fake_http_count(f->fh), 1);
	f->b = open_bot(f, f->loop);
	bot_chat_register(f->b, &fake_chat_ops, &f->chat);
	assert_state(f, id, "succeeded");
	/* One vote: the other process found it decided before voting. */
	assert_int_equal(store_vote_count(f->b->store, id, "approve", &approvals), T0_OK);
	assert_int_equal(approvals, 1);
}

/* ---- single use, hash binding, limits ---- */

static void test_flow_approval_is_bound_to_the_exact_request(void **state)
{
	struct fx *f = *state;
	struct reply *card = say(f, "alice", "rollback payment-api"), *r;
	char id[32], err[512];

	request_id_of(card, id, sizeof(id));
	/* The action changes while the request waits (a reload): another workflow. */
	write_config(f, "workflow: rollback.yml", "workflow: rollback-v2.yml");
	assert_int_equal(bot_reload(f->b, err, sizeof(err)), T0_OK);
	r = press(f, "bob", card, "Approve");
	expect_text(r, "Approved by Bob Nguyen, but not run: what would run now differs from what "
		       "was approved");
	reply_free(r);
	assert_state(f, id, "failed");
	assert_int_equal(fake_http_count(f->fh), 0);
	reply_free(card);
}

static void test_flow_preconditions_rechecked_at_execution(void **state)
{
	struct fx *f = *state;
	struct reply *card = say(f, "alice", "rollback payment-api"), *r;
	char id[32], err[512];

	request_id_of(card, id, sizeof(id));
	/* Alice leaves the owning team's rights: only SREs may request now. */
	write_config(f, "  - name: rollback\n", "  - name: rollback\n    requesters: {users: [oscar]}\n");
	assert_int_equal(bot_reload(f->b, err, sizeof(err)), T0_OK);
	r = press(f, "bob", card, "Approve");
	expect_text(r, "not run: the requester may no longer request it");
	reply_free(r);
	assert_state(f, id, "failed");
	assert_int_equal(fake_http_count(f->fh), 0);
	reply_free(card);
}

static void test_flow_rate_limits_say_when_to_retry(void **state)
{
	struct fx *f = *state;
	struct reply *r;
	char err[512];

	write_config(f, "per_user: \"10/10m\"", "per_user: \"2/10m\"");
	assert_int_equal(bot_reload(f->b, err, sizeof(err)), T0_OK);
	reply_free(say(f, "alice", "rollback payment-api"));
	reply_free(say(f, "alice", "scale checkout-web to 3"));
	r = say(f, "alice", "scale checkout-web to 5");
	expect_text(r, "Too many action requests (per user limit 2/10m). Try again in 5m (at 10:05 UTC).");
	reply_free(r);
	assert_true(metrics_value("tier0_actions_limited_total", "scope=\"user\"") == 1);
	/* Someone else is not limited by Alice's bucket. */
	r = say(f, "bob", "scale checkout-web to 5");
	expect_text(r, "needs 1 approval");
	reply_free(r);
	/* Five minutes later Alice has a token again. */
	t0_set_fake_now_ms(T_START + 5 * 60 * 1000);
	r = say(f, "alice", "scale checkout-web to 5");
	expect_text(r, "needs 1 approval");
	reply_free(r);
	/* An hour later every bucket is full; the per-action limit of rollback (3/10m) counts everyone. */
	t0_set_fake_now_ms(T_START + 65 * 60 * 1000);
	reply_free(say(f, "bob", "rollback payment-api"));
	reply_free(say(f, "carol", "rollback payment-api"));
	reply_free(say(f, "bob", "rollback payment-api"));
	r = say(f, "carol", "rollback payment-api");
	expect_text(r, "per action limit 3/10m");
	reply_free(r);
	assert_true(metrics_value("tier0_actions_limited_total", "scope=\"action\"") == 1);
}

static void test_flow_circuit_breaker_pauses_after_failures(void **state)
{
	struct fx *f = *state;
	struct reply *r;

	/* pd-resolve is low risk: each request runs at once, and fails three times... */
	for (int i = 0; i < 3; i++)
		fake_http_add(f->fh, "PUT", "/pagerduty/incidents/PT4KHLK", 500,
			      "Content-Type: application/json\r\n",
			      "{\"error\":{\"message\":\"boom\"}}", 29, 0);
	/* ...then PagerDuty answers with its documented example: the incident resolved. */
	{
		json_t *ok = json_load_file(T0_FIXTURES "/pagerduty/rest_update_incident_response.json",
					    0, NULL);
		char *text = json_dumps(ok, 0);

		fake_http_add(f->fh, "PUT", "/pagerduty/incidents/PT4KHLK", 200,
			      "Content-Type: application/json\r\n", text, strlen(text), 0);
		free(text);
		json_decref(ok);
	}
	for (int i = 0; i < 3; i++) {
		r = say(f, "alice", "run pd-resolve incident=PT4KHLK");
		expect_text(r, "Running pd-resolve");
		reply_free(r);
		settle(f, 5000);
	}
	assert_int_equal(fake_http_count(f->fh), 3);
	assert_non_null(strstr(f->chat.msgs[f->chat.n - 1], "now paused after repeated failures"));
	r = say(f, "alice", "run pd-resolve incident=PT4KHLK");
	expect_text(r, "pd-resolve is paused after 3 failures in a row. Try again in 15m");
	reply_free(r);
	assert_int_equal(fake_http_count(f->fh), 3);
	assert_true(metrics_value("tier0_actions_circuit_open_total", "action=\"pd-resolve\"") == 1);
	assert_true(metrics_value("tier0_actions_limited_total", "scope=\"circuit_breaker\"") == 1);
	/* After the pause it may try again; a success closes it. */
	t0_set_fake_now_ms(T_START + 16 * 60 * 1000);
	r = say(f, "alice", "run pd-resolve incident=PT4KHLK");
	expect_text(r, "Running pd-resolve");
	reply_free(r);
	settle(f, 5000);
	if (!strstr(f->chat.msgs[f->chat.n - 1], "Done: pd-resolve succeeded"))
		fail_msg("last message: %s", f->chat.msgs[f->chat.n - 1]);
	/* The PagerDuty call carried the From header of the requester. */
	{
		char buf[128];

		assert_string_equal(fake_http_req_header(fake_http_req(f->fh, 3), "from", buf,
							 sizeof(buf)),
				    "alice.martin@example.com");
	}
}

static void test_flow_response_kept_is_bounded(void **state)
{
	struct fx *f = *state;
	struct reply *r;
	char *big = malloc(100000), id[32];
	struct store_approval a;
	json_t *res;

	memset(big, 'x', 99999);
	big[99999] = '\0';
	fake_http_add(f->fh, "PATCH", RESTART_PATH, 200, NULL, big, 99999, 0);
	r = say(f, "alice", "restart checkout-web environment=staging");
	request_id_of(r, id, sizeof(id));
	reply_free(r);
	settle(f, 5000);
	assert_int_equal(store_approval_get(f->b->store, id, &a), T0_OK);
	res = json_loads(a.result, 0, NULL);
	assert_int_equal(json_string_length(json_object_get(res, "body")), 2048);
	assert_true(json_is_true(json_object_get(res, "body_truncated")));
	assert_int_equal(json_integer_value(json_object_get(res, "status")), 200);
	json_decref(res);
	store_approval_clear(&a);
	free(big);
}

static void test_flow_dry_run_sends_nothing(void **state)
{
	struct fx *f = *state;
	struct reply *r = say(f, "alice", "dry-run rollback payment-api");
	char *text = console_render(r, NULL);

	expect_text(r, "Dry run of rollback on payment-api: this is exactly what would be sent. "
		       "Nothing was sent.");
	assert_non_null(strstr(text, ROLLBACK_PATH));
	assert_non_null(strstr(text, "\"environment\":\"production\""));
	assert_non_null(strstr(text, "A real run would need 1 approval."));
	assert_int_equal(r->nbuttons, 0);
	free(text);
	reply_free(r);
	settle(f, 200);
	assert_int_equal(fake_http_count(f->fh), 0);
	/* Policy applies to dry runs: Oscar may not even look at Alice's team's rollback. */
	r = say(f, "oscar", "dry-run rollback payment-api");
	expect_text(r, "You can't request rollback on payment-api");
	reply_free(r);
}

static void test_flow_llm_proposal_has_exactly_the_persons_rights(void **state)
{
	struct fx *f = *state;
	struct event ev = person("alice");
	struct reply *r = reply_new(), *r2;
	json_t *params = json_pack("{s:i}", "replicas", 6);
	json_t *call = json_pack("{s:s,s:{s:s,s:s,s:i}}", "name", "propose_action", "input", "action",
				 "scale", "target", "checkout-web", "replicas", 6);
	char id[48];

	ev.text = "checkout is slow, can you add capacity?";
	assert_int_equal(action_propose(f->b, &ev, "scale", "checkout-web", params, call, r, id,
					sizeof(id)),
			 T0_OK);
	expect_text(r, "Proposed for Alice Martin: scale on checkout-web. Nothing runs until you "
		       "press \"Request it\"");
	assert_state(f, id, "proposed");
	/* Somebody else cannot turn Alice's proposal into a request. */
	r2 = press(f, "bob", r, "Request it");
	expect_text(r2, "Only the person it was proposed for");
	reply_free(r2);
	r2 = press(f, "alice", r, "Request it");
	expect_text(r2, "Alice Martin requests scale on checkout-web: needs 1 approval");
	assert_state(f, id, "pending");
	reply_free(r2);
	reply_free(r);
	/* Oscar's LLM cannot do what Oscar may not. */
	r = reply_new();
	ev = person("oscar");
	assert_int_equal(action_propose(f->b, &ev, "scale", "checkout-web", params, call, r, NULL, 0),
			 T0_EDENIED);
	expect_text(r, "You can't request scale on checkout-web");
	reply_free(r);
	/* Bad parameters from the model are refused like typed ones. */
	r = reply_new();
	ev = person("alice");
	json_object_set_new(params, "replicas", json_integer(500));
	assert_int_equal(action_propose(f->b, &ev, "scale", "checkout-web", params, call, r, NULL, 0),
			 T0_EINVAL);
	expect_text(r, "replicas must be between 1 and 20");
	reply_free(r);
	json_decref(params);
	json_decref(call);
	assert_int_equal(fake_http_count(f->fh), 0);
}

static void test_flow_llm_agent_tool_goes_through_the_same_checks(void **state)
{
	struct fx *f = *state;
	struct event ev = person("alice");
	json_t *params = json_pack("{s:i}", "replicas", 6);
	struct agent_proposal p = { .action = "scale", .service = "checkout-web", .params = params,
				    .reason = "latency is up and CPU is saturated", .ev = &ev };
	struct reply *card = reply_new();
	char why[400], id[32];
	struct kinds {
		char detail[4096];
	} first = { { 0 } };

	ev.text = "checkout is slow";
	assert_int_equal(actions_agent_propose(f->b, &p, card, why, sizeof(why)), T0_OK);
	assert_non_null(strstr(why, "Proposed for Alice Martin"));
	assert_string_equal(button_value(card, "Request it") ? "ok" : "", "ok");
	request_id_of(card, id, sizeof(id));
	assert_state(f, id, "proposed");
	/* The model's tool call is the interpretation in the first audit record. */
	{
		struct audit_filter flt = { .request_id = id };
		char *out = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&out, &len);

		assert_int_equal(audit_export_filtered(f->b->store, &flt, mem), T0_OK);
		fclose(mem);
		snprintf(first.detail, sizeof(first.detail), "%.*s", (int)strcspn(out, "\n"), out);
		free(out);
	}
	assert_non_null(strstr(first.detail, "\"tool\":\"propose_action\""));
	assert_non_null(strstr(first.detail, "latency is up and CPU is saturated"));
	reply_free(card);
	/* Oscar's model has Oscar's rights; an invented action is refused the same way. */
	ev = person("oscar");
	card = reply_new();
	assert_int_equal(actions_agent_propose(f->b, &p, card, why, sizeof(why)), T0_EDENIED);
	assert_non_null(strstr(why, "You can't request scale on checkout-web"));
	reply_free(card);
	card = reply_new();
	p.action = "delete-everything";
	assert_int_equal(actions_agent_propose(f->b, &p, card, why, sizeof(why)), T0_EDENIED);
	assert_non_null(strstr(why, "I don't know an action called"));
	reply_free(card);
	json_decref(params);
	assert_int_equal(fake_http_count(f->fh), 0);
}

static void test_flow_suggestion_button_is_a_new_request_of_the_clicker(void **state)
{
	struct fx *f = *state;
	struct event ev = person("bob");
	struct reply *r, *r2;
	char id[32];
	struct store_approval a;

	ev.kind = EVENT_INTERACTION;
	ev.action_id = ACTION_PROPOSE_BUTTON;
	ev.value = "rollback:component:default/payment-api";
	r = say_ev(f, &ev);
	expect_text(r, "Proposed for Bob Nguyen: rollback on payment-api");
	request_id_of(r, id, sizeof(id));
	assert_int_equal(store_approval_get(f->b->store, id, &a), T0_OK);
	assert_string_equal(a.requester, "user:default/bob");
	assert_string_equal(a.origin, "suggestion");
	store_approval_clear(&a);
	r2 = press(f, "bob", r, "Request it");
	expect_text(r2, "Bob Nguyen requests rollback on payment-api");
	reply_free(r2);
	reply_free(r);
	/* Someone without rights gets told so. */
	ev = person("oscar");
	ev.kind = EVENT_INTERACTION;
	ev.action_id = ACTION_PROPOSE_BUTTON;
	ev.value = "rollback:payment-api";
	r = say_ev(f, &ev);
	expect_text(r, "You can't request rollback on payment-api");
	reply_free(r);
	ev.value = "no-such-action:payment-api";
	r = say_ev(f, &ev);
	expect_text(r, "I don't know an action called \"no-such-action\"");
	reply_free(r);
}

static void test_flow_argocd_rollback_looks_up_the_previous_revision(void **state)
{
	struct fx *f = *state;
	json_t *app = json_load_file(T0_FIXTURES "/argocd/application_velero-test_with_history.json",
				     0, NULL);
	char *text, *rendered;
	struct reply *r;
	char buf[128];

	json_object_set_new(json_array_get(json_object_get(json_object_get(app, "status"), "history"),
					   8),
			    "revision", json_string("4f3c2b1a0099887766554433221100ffeeddccbb"));
	json_object_set_new(json_array_get(json_object_get(json_object_get(app, "status"), "history"),
					   9),
			    "revision", json_string("aaaabbbbccccddddeeeeffff0000111122223333"));
	text = json_dumps(app, 0);
	fake_http_add(f->fh, "GET", "/argocd/api/v1/applications/payment-api-prod", 200,
		      "Content-Type: application/json\r\n", text, strlen(text), 0);
	r = say(f, "alice", "run argo-rollback payment-api");
	rendered = console_render(r, NULL);
	expect_text(r, "Alice Martin requests argo-rollback on payment-api");
	assert_non_null(strstr(rendered, "Body: {\"id\":22,\"prune\":false}"));
	assert_non_null(strstr(rendered, "Parameters: history_id=22"));
	assert_non_null(strstr(rendered, "Rolls back to revision 4f3c2b1a0099 (history 22"));
	assert_int_equal(fake_http_count(f->fh), 1);
	assert_string_equal(fake_http_req_header(fake_http_req(f->fh, 0), "authorization", buf,
						 sizeof(buf)),
			    "Bearer demo-argocd-token");
	free(rendered);
	free(text);
	json_decref(app);
	reply_free(r);
}

/* ---- the audit chain of one request ---- */

struct kinds {
	char list[2048];
	int n;
	int leaked;
};

static int collect_kinds(void *arg, const struct audit_row *row)
{
	struct kinds *k = arg;
	size_t l = strlen(k->list);

	snprintf(k->list + l, sizeof(k->list) - l, "%s%s", k->n++ ? " " : "", row->kind);
	if (strstr(row->detail, "demo-github-token"))
		k->leaked = 1;
	return 0;
}

static void test_flow_one_requests_whole_chain_is_in_the_audit(void **state)
{
	struct fx *f = *state;
	struct reply *card, *r;
	char id[32], cmd[64];
	struct kinds k = { 0 };
	int64_t count = 0, bad = 0;

	fake_http_add(f->fh, "POST", ROLLBACK_PATH, 204, NULL, "", 0, 0);
	card = say(f, "alice", "rollback payment-api");
	request_id_of(card, id, sizeof(id));
	reply_free(press(f, "alice", card, "Approve"));
	reply_free(press(f, "bob", card, "Approve"));
	settle(f, 5000);
	assert_state(f, id, "succeeded");
	assert_int_equal(store_audit_request_each(f->b->store, id, 100, collect_kinds, &k), T0_OK);
	/* prompt + interpretation -> policy -> approvals -> request -> response -> outcome */
	assert_string_equal(k.list,
			    "action.request action.policy action.proposed action.state "
			    "action.approval_refused action.approval action.state action.state "
			    "action.execute action.response action.state action.outcome");
	assert_false(k.leaked);
	assert_int_equal(audit_verify(f->b->store, &count, &bad), T0_OK);
	/* The first record carries the prompt and how it was understood. */
	{
		struct audit_filter flt = { .request_id = id };
		char *out = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&out, &len);
		json_t *first;

		assert_int_equal(audit_export_filtered(f->b->store, &flt, mem), T0_OK);
		fclose(mem);
		first = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
		assert_string_equal(json_string_value(json_object_get(
					    json_object_get(first, "detail"), "prompt")),
				    "rollback payment-api");
		assert_string_equal(json_string_value(json_object_get(
					    json_object_get(json_object_get(first, "detail"),
							    "interpretation"),
					    "intent")),
				    "action");
		/* 12 records of the chain, one line each */
		{
			int lines = 0;

			for (char *p = out; *p; p++)
				lines += *p == '\n';
			assert_int_equal(lines, 12);
		}
		json_decref(first);
		free(out);
	}
	/* In chat: the approver may see it, a stranger may not. */
	snprintf(cmd, sizeof(cmd), "audit %s", id);
	r = say(f, "bob", cmd);
	expect_text(r, "rollback on component:default/payment-api, succeeded; 12 records");
	reply_free(r);
	{
		struct event ev = person("U999");

		ev.actor.platform = "slack";
		ev.kind = EVENT_COMMAND;
		ev.command = "/tier0";
		ev.text = cmd;
		r = say_ev(f, &ev);
		expect_text(r, "I can't show the audit of");
		reply_free(r);
	}
	reply_free(card);
}

/* ---- a golden session: request, a second person approves, it runs ---- */

/* r-<16 hex> -> r-<n>, numbered in order of appearance (ids are random). */
static char *normalise_ids(const char *s)
{
	char seen[32][19], *out = malloc(strlen(s) + 1), *o = out;
	int n = 0;

	while (*s) {
		if (s[0] == 'r' && s[1] == '-' && strspn(s + 2, "0123456789abcdef") >= 16) {
			int k;

			for (k = 0; k < n; k++)
				if (!strncmp(seen[k], s, 18))
					break;
			if (k == n && n < 32)
				snprintf(seen[n++], sizeof(seen[0]), "%.18s", s);
			o += sprintf(o, "r-%d", k + 1);
			s += 18;
			continue;
		}
		*o++ = *s++;
	}
	*o = '\0';
	return out;
}

static void transcript_add(char **t, size_t *len, const char *who, const char *what,
			   const struct reply *r)
{
	char *text = r ? console_render(r, NULL) : NULL;
	char head[256];
	size_t need;

	snprintf(head, sizeof(head), "%s %s\n", who, what);
	need = *len + strlen(head) + (text ? strlen(text) : 0) + 2;
	*t = realloc(*t, need);
	strcpy(*t + *len, head);
	*len += strlen(head);
	if (text) {
		strcpy(*t + *len, text);
		*len += strlen(text);
		(*t)[(*len)++] = '\n';
		(*t)[*len] = '\0';
	}
	free(text);
}

static int count_lines(struct fx *f, const struct audit_filter *flt, const char *must, int *bad)
{
	char *out = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);
	int n = 0;

	assert_int_equal(audit_export_filtered(f->b->store, flt, mem), T0_OK);
	fclose(mem);
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		n++;
		if (must && !strstr(line, must))
			(*bad)++;
	}
	free(out);
	return n;
}

static void test_flow_audit_export_filters(void **state)
{
	struct fx *f = *state;
	struct reply *r;
	char rid[32], sid[32];
	int bad = 0;

	r = say(f, "alice", "rollback payment-api");
	request_id_of(r, rid, sizeof(rid));
	reply_free(r);
	t0_set_fake_now_ms(T_START + 60 * 60 * 1000);
	r = say(f, "bob", "scale checkout-web to 3");
	request_id_of(r, sid, sizeof(sid));
	reply_free(r);
	/* By request: only that chain. */
	assert_int_equal(count_lines(f, &(struct audit_filter){ .request_id = rid }, rid, &bad), 4);
	assert_int_equal(bad, 0);
	/* By action: the scale request's records, the later ones too (they carry only the id). */
	assert_int_equal(count_lines(f, &(struct audit_filter){ .action = "scale" }, sid, &bad), 4);
	assert_int_equal(bad, 0);
	/* By user: Bob's message, reply and request records. */
	assert_int_equal(count_lines(f, &(struct audit_filter){ .user = "bob" }, "\"user_id\":\"bob\"",
				     &bad),
			 6);
	assert_int_equal(bad, 0);
	/* By time: before the hour, Alice's part only. */
	assert_int_equal(count_lines(f, &(struct audit_filter){ .until_ms = T_START + 1 }, NULL, &bad),
			 6);
	assert_int_equal(count_lines(f, &(struct audit_filter){ .since_ms = T_START + 1,
								 .request_id = sid },
				     NULL, &bad),
			 4);
}

static void test_flow_golden_session(void **state)
{
	struct fx *f = *state;
	char *t = NULL, *want;
	size_t len = 0;
	struct reply *card, *r;
	const char *golden = "tests/golden/actions_session.out";

	fake_http_add(f->fh, "POST", ROLLBACK_PATH, 204, NULL, "", 0, 0);
	r = say(f, "alice", "dry-run rollback payment-api");
	transcript_add(&t, &len, "[alice]", "> dry-run rollback payment-api", r);
	reply_free(r);
	card = say(f, "alice", "rollback payment-api");
	transcript_add(&t, &len, "[alice]", "> rollback payment-api", card);
	r = press(f, "alice", card, "Approve");
	transcript_add(&t, &len, "[alice]", "> 1 (Approve)", r);
	reply_free(r);
	r = press(f, "bob", card, "Approve");
	transcript_add(&t, &len, "[bob]", "> 1 (Approve)", r);
	reply_free(r);
	settle(f, 5000);
	for (size_t i = 0; i < f->chat.n; i++) {
		transcript_add(&t, &len, "[tier0]", f->chat.updates[i] ? "(update)" : "(post)", NULL);
		t = realloc(t, len + strlen(f->chat.msgs[i]) + 2);
		strcpy(t + len, f->chat.msgs[i]);
		len += strlen(f->chat.msgs[i]);
		t[len++] = '\n';
		t[len] = '\0';
	}
	reply_free(card);
	{
		char *norm = normalise_ids(t);

		free(t);
		t = norm;
	}
	/* The fake's port changes from run to run. */
	{
		char port[32], *p;

		snprintf(port, sizeof(port), "127.0.0.1:%d", fake_http_port(f->fh));
		while ((p = strstr(t, port)))
			memmove(p + 14, p + strlen(port), strlen(p + strlen(port)) + 1),
				memcpy(p, "127.0.0.1:PORT", 14);
	}
	if (getenv("T0_UPDATE_GOLDEN")) {
		FILE *fp = fopen(golden, "w");

		fputs(t, fp);
		fclose(fp);
	}
	want = read_all(golden);
	if (strcmp(t, want) != 0) {
		fprintf(stderr, "--- want (%s)\n%s\n--- got\n%s\n", golden, want, t);
		fail_msg("the session differs from %s (T0_UPDATE_GOLDEN=1 rewrites it)", golden);
	}
	free(want);
	free(t);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_flow_low_risk_runs_at_once_against_the_endpoint),
		T(test_flow_production_needs_approval_even_for_low_risk),
		T(test_flow_high_risk_needs_another_person),
		T(test_flow_self_approval_refused_across_platforms),
		T(test_flow_critical_needs_two_distinct_approvers),
		T(test_flow_deny_stops_it),
		T(test_flow_expiry_with_a_fake_clock),
		T(test_flow_restart_with_an_approval_pending),
		T(test_flow_interrupted_execution_fails_after_a_restart),
		T(test_flow_card_is_updated_in_place_when_its_message_is_known),
		T(test_flow_two_processes_approving_at_once_execute_once),
		T(test_flow_approval_is_bound_to_the_exact_request),
		T(test_flow_preconditions_rechecked_at_execution),
		T(test_flow_rate_limits_say_when_to_retry),
		T(test_flow_circuit_breaker_pauses_after_failures),
		T(test_flow_response_kept_is_bounded),
		T(test_flow_dry_run_sends_nothing),
		T(test_flow_llm_proposal_has_exactly_the_persons_rights),
		T(test_flow_llm_agent_tool_goes_through_the_same_checks),
		T(test_flow_suggestion_button_is_a_new_request_of_the_clicker),
		T(test_flow_argocd_rollback_looks_up_the_previous_revision),
		T(test_flow_one_requests_whole_chain_is_in_the_audit),
		T(test_flow_audit_export_filters),
		T(test_flow_golden_session),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
