/*
 * The incident manager: where cards go, one message per incident (two
 * alerts together, updates in place), a slow or hanging source -> a partial
 * card by the overall deadline, an alert storm (500 alerts in a few seconds
 * across 20 services: all stored, at most one message per incident,
 * summaries, no drops), a restart in the middle of an incident (the update
 * edits the same message), the intents (incident, simulate alert) and the
 * suggested-action buttons before an actions module exists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "bot/bot.h"
#include "bot/event.h"
#include "bot/incident.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "store/store.h"
#include "tests/fakes/fake_chat.h"
#include "tests/fakes/incident_env.h"

#define BASE_CONFIG                                               \
	"log:\n  level: error\n"                                  \
	"store:\n  path: \"@DIR@/tier0.db\"\n"                    \
	"http:\n  enabled: true\n"                                \
	"catalog:\n  files: [\"" T0_DEMO_DIR "/catalog/*.yaml\"]\n" \
	"runbooks:\n  paths: [\"" T0_DEMO_DIR "/runbooks\"]\n"    \
	"alertmanager: {}\n"

#define CONFIG BASE_CONFIG "incidents:\n  default_channel: \"#incidents\"\n"

struct fx {
	struct incident_env env;
};

static int setup_with(void **state, const char *config, int chat_delay)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	log_set_level(LOG_LEVEL_ERR);
	if (incident_env_open(&f->env, config, 1, chat_delay) != T0_OK)
		fail_msg("env: %s", f->env.err);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, CONFIG, 0);
}

static int setup_no_default(void **state)
{
	return setup_with(state, BASE_CONFIG "incidents: {}\n", 0);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	incident_env_close(&f->env);
	incident_env_cleanup(&f->env);
	free(f);
	return 0;
}

static struct incident_alert alert(const char *ext, const char *type, const char *status,
				   const char *service, const char *event_id)
{
	struct incident_alert a = {
		.source = "pagerduty",
		.external_id = ext,
		.event_id = event_id,
		.type = type,
		.status = status,
		.title = "High error rate",
		.severity = "high",
		.service = service,
	};
	return a;
}

static int idle(void *arg)
{
	struct fx *f = arg;

	return !incident_mgr_busy(f->env.mgr) && !fake_chat_pending(f->env.chat);
}

static void settle(struct fx *f, int ms)
{
	incident_env_run_for(&f->env, 20);
	assert_true(incident_env_run_until(&f->env, idle, f, ms));
}

static void test_incident_card_goes_to_the_chat_annotation_else_owner_else_default(void **state)
{
	struct fx *f = *state;
	struct incident_alert a1 = alert("P1", "incident.triggered", "triggered", "payment-api", "e1");
	struct incident_alert a2 = alert("P2", "incident.triggered", "triggered", "payments-db", "e2");
	struct incident_alert a3 = alert("P3", "incident.triggered", "triggered", "no-such-svc", "e3");
	const char *want[3] = { "#payments-oncall", "#payments-oncall", "#incidents" };
	int seen[3] = { 0 };

	assert_int_equal(incident_mgr_submit(f->env.mgr, &a1), T0_OK);
	settle(f, 5000);
	assert_int_equal(incident_mgr_submit(f->env.mgr, &a2), T0_OK);
	settle(f, 5000);
	assert_int_equal(incident_mgr_submit(f->env.mgr, &a3), T0_OK);
	settle(f, 5000);
	assert_int_equal(fake_chat_posts(f->env.chat), 3);
	for (size_t i = 0; i < 3; i++) {
		const struct fake_chat_msg *m = fake_chat_msg(f->env.chat, i);

		for (size_t k = 0; k < 3; k++)
			if (strstr(m->text, k == 0 ? "payment-api" : k == 1 ? "payments-db"
									: "no-such-svc"))
				seen[k] = strcmp(m->channel, want[k]) == 0;
	}
	assert_true(seen[0] && seen[1] && seen[2]);
}

static void test_incident_without_any_channel_is_stored_not_posted(void **state)
{
	struct fx *f = *state;
	struct incident_alert a = alert("P9", "incident.triggered", "triggered", "no-such-svc", "e9");
	int64_t n = 0;

	assert_int_equal(incident_mgr_submit(f->env.mgr, &a), T0_OK);
	settle(f, 5000);
	assert_int_equal(fake_chat_count(f->env.chat), 0);
	assert_int_equal(store_incident_count(f->env.bot->store, &n), T0_OK);
	assert_int_equal(n, 1);
	assert_true(metrics_value("tier0_incident_unrouted_total", NULL) == 1);
}

static void test_incident_two_alerts_together_make_one_message(void **state)
{
	struct fx *f = *state;
	struct incident_alert t = alert("P7", "incident.triggered", "triggered", "payment-api", "a");
	struct incident_alert k = alert("P7", "incident.acknowledged", "acknowledged", "payment-api",
					"b");
	const struct fake_chat_msg *last;

	k.agent = "Bob Nguyen";
	/* Same loop turn, and the chat answers later (like Slack). */
	assert_int_equal(incident_mgr_submit(f->env.mgr, &t), T0_OK);
	assert_int_equal(incident_mgr_submit(f->env.mgr, &k), T0_OK);
	assert_int_equal(incident_mgr_submit(f->env.mgr, &k), T0_EDUP);
	settle(f, 5000);
	assert_int_equal(fake_chat_posts(f->env.chat), 1);
	last = fake_chat_msg(f->env.chat, fake_chat_count(f->env.chat) - 1);
	/* The one message shows the latest state (maybe already in the first post). */
	assert_non_null(strstr(last->text, "ACKNOWLEDGED"));
	assert_int_equal(fake_chat_thread_replies(f->env.chat), 0);
}

/* A source that answers only after answer_ms, whatever its deadline says. */
struct hang {
	uv_timer_t t;
	incident_src_cb cb;
	void *arg;
	int answer_ms, fired;
	int calls;
};

static void hang_fire(uv_timer_t *t)
{
	struct hang *h = t->data;
	struct incident_src_result r = { .status = INC_SRC_OK };

	snprintf(r.msg, sizeof(r.msg), "late");
	h->cb(h->arg, &r);
	h->fired = 1;
}

static int hang_fired(void *arg)
{
	return ((struct hang *)arg)->fired;
}

static int hang_lookup(void *state, const struct incident_query *q, incident_src_cb cb, void *arg)
{
	struct hang *h = state;

	h->calls++;
	h->cb = cb;
	h->arg = arg;
	uv_timer_start(&h->t, hang_fire, (uint64_t)h->answer_ms, 0);
	return T0_OK;
}

struct posted_at {
	uint64_t t_ns;
	int n;
};

static void on_posted(void *arg, int64_t id, int is_update, int rc)
{
	struct posted_at *p = arg;

	if (!is_update && !p->n++)
		p->t_ns = t0_mono_ns();
}

static int first_post(void *arg)
{
	return ((struct posted_at *)arg)->n > 0;
}

static void test_incident_hanging_source_gives_a_partial_card_at_the_overall_deadline(void **state)
{
	struct fx *f = *state;
	struct hang h = { .answer_ms = 1500 };
	struct incident_source src = { .name = "GitHub", .roles = INC_SRC_DEPLOYS,
				       .lookup = hang_lookup, .state = &h };
	struct incident_alert a = alert("P5", "incident.triggered", "triggered", "payment-api", "h1");
	struct posted_at p = { 0 };
	const struct fake_chat_msg *m;
	uint64_t t0;
	double ms;

	uv_timer_init(loop_uv(f->env.loop), &h.t);
	h.t.data = &h;
	assert_int_equal(incident_source_register(f->env.mgr, &src), T0_OK);
	incident_mgr_set_timeouts(f->env.mgr, 300, 600);
	incident_mgr_on_posted(f->env.mgr, on_posted, &p);
	t0 = t0_mono_ns();
	assert_int_equal(incident_mgr_submit(f->env.mgr, &a), T0_OK);
	assert_true(incident_env_run_until(&f->env, first_post, &p, 5000));
	ms = (double)(p.t_ns - t0) / 1e6;
	assert_true(ms >= 590 && ms < 2000); /* not before the deadline; wide margin for a busy machine */
	assert_int_equal(h.calls, 1);
	m = fake_chat_msg(f->env.chat, 0);
	assert_non_null(strstr(m->text, "(partial context)"));
	assert_non_null(strstr(m->json, "GitHub timed out (no answer within 600 ms)"));
	assert_non_null(strstr(m->json, "PagerDuty not configured"));
	/* Everything local is there all the same. */
	assert_non_null(strstr(m->json, "Payments Team"));
	assert_non_null(strstr(m->json, "Runbook: Payment API high error rate"));
	/* The late answer (a source must answer once, even late) changes nothing. */
	assert_true(incident_env_run_until(&f->env, hang_fired, &h, 5000));
	uv_close((uv_handle_t *)&h.t, NULL);
	settle(f, 5000);
	assert_int_equal(fake_chat_posts(f->env.chat), 1);
}

struct counting {
	int calls;
};

static int ok_lookup(void *state, const struct incident_query *q, incident_src_cb cb, void *arg)
{
	return T0_EIO; /* refuses at once: reported as failed */
}

static void test_incident_failing_source_is_shown_as_failed(void **state)
{
	struct fx *f = *state;
	struct incident_source src = { .name = "Argo CD", .roles = INC_SRC_DEPLOYS,
				       .lookup = ok_lookup };
	struct incident_alert a = alert("P6", "incident.triggered", "triggered", "payment-api", "f1");

	incident_source_register(f->env.mgr, &src);
	incident_mgr_submit(f->env.mgr, &a);
	settle(f, 5000);
	assert_non_null(strstr(fake_chat_msg(f->env.chat, 0)->json,
			       "Argo CD failed (could not start: T0_EIO)"));
}

static long post_am(struct fx *f, const char *body)
{
	const char *headers[] = { "Content-Type: application/json" };

	return incident_env_post(&f->env, "/webhooks/alertmanager", headers, 1, body, strlen(body));
}

static int64_t sql_count(struct fx *f, const char *sql)
{
	char path[256];
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t n = -1;

	snprintf(path, sizeof(path), "%s/tier0.db", f->env.dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

static void test_incident_storm_500_alerts_20_services(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = { "HighErrorRate", "HighLatency", "PodCrashLooping",
					     "DiskFull", "ErrorBudgetBurn" };
	uint64_t t0 = t0_mono_ns();
	char body[1024];
	double secs;
	int64_t incidents, alerts, messages_per_incident_max;
	char *text = NULL;
	size_t len = 0;

	/* The demo's twelve components and eight services the catalog does not know. */
	static const char *const services[20] = {
		"payment-api",	  "checkout-web",   "ledger-service",	 "fraud-scorer",
		"auth-service",	  "user-profile",   "session-store-sync", "product-catalog",
		"search-api",	  "recommendation-engine", "inventory-service", "notification-service",
		"legacy-a",	  "legacy-b",	    "legacy-c",		 "legacy-d",
		"legacy-e",	  "legacy-f",	    "legacy-g",		 "legacy-h",
	};

	for (int i = 0; i < 500; i++) {
		const char *svc = services[i % 20], *name = names[(i / 20) % 5];

		snprintf(body, sizeof(body),
			 "{\"version\":\"4\",\"groupKey\":\"{}:{alertname=\\\"%s\\\",service=\\\"%s\\\"}\","
			 "\"status\":\"firing\",\"receiver\":\"tier0\",\"groupLabels\":{},"
			 "\"commonLabels\":{\"alertname\":\"%s\",\"service\":\"%s\"},"
			 "\"commonAnnotations\":{},\"externalURL\":\"http://am\",\"alerts\":[{"
			 "\"status\":\"firing\",\"labels\":{\"alertname\":\"%s\",\"service\":\"%s\","
			 "\"pod\":\"p%d\"},\"annotations\":{},\"startsAt\":\"2026-11-26T09:00:00Z\","
			 "\"endsAt\":\"0001-01-01T00:00:00Z\",\"fingerprint\":\"f%d\"}]}",
			 name, svc, name, svc, name, svc, i, i);
		assert_int_equal(post_am(f, body), 200);
	}
	secs = (double)(t0_mono_ns() - t0) / 1e9;
	assert_true(secs < 10.0); /* 500 alerts within 10 s */
	settle(f, 60000);
	incidents = sql_count(f, "SELECT count(*) FROM incidents");
	alerts = sql_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'alert.firing'");
	messages_per_incident_max = sql_count(
		f, "SELECT max(n) FROM (SELECT count(*) AS n FROM incident_events WHERE kind IN "
		   "('message.posted', 'message.summarized') GROUP BY incident_id)");
	/* Every alert stored; 20 services x 5 alert names = 100 groups = 100 incidents. */
	assert_int_equal(alerts, 500);
	assert_int_equal(incidents, 100);
	assert_int_equal(messages_per_incident_max, 1);
	assert_int_equal(sql_count(f, "SELECT count(*) FROM incidents WHERE message_ref IS NULL"), 0);
	/* Summaries instead of a flood: far fewer top-level messages than incidents. */
	assert_true(fake_chat_posts(f->env.chat) < 40);
	assert_true(metrics_value("tier0_incident_storm_summaries_total", NULL) >= 1);
	assert_true(metrics_value("tier0_incident_queue_drops_total", NULL) == 0);
	assert_true(metrics_value("tier0_incident_queue_depth", NULL) == 0);
	assert_int_equal(metrics_render(&text, &len), T0_OK);
	assert_non_null(strstr(text, "tier0_incident_queue_depth 0"));
	assert_non_null(strstr(text, "tier0_incident_queue_drops_total 0"));
	free(text);
}

static void test_incident_restart_midway_edits_the_same_message(void **state)
{
	struct fx *f = *state;
	struct incident_alert t = alert("PRST", "incident.triggered", "triggered", "payment-api", "r1");
	struct incident_alert k = alert("PRST", "incident.acknowledged", "acknowledged",
					"payment-api", "r2");
	char ref[64];

	assert_int_equal(incident_mgr_submit(f->env.mgr, &t), T0_OK);
	settle(f, 5000);
	assert_int_equal(fake_chat_posts(f->env.chat), 1);
	snprintf(ref, sizeof(ref), "%s", fake_chat_msg(f->env.chat, 0)->ref);

	/* The daemon restarts: new process state, same database. */
	incident_env_close(&f->env);
	assert_int_equal(incident_env_open(&f->env, CONFIG, 1, 0), T0_OK);
	fake_chat_set_first_ref(f->env.chat, 100);
	k.agent = "Bob Nguyen";
	assert_int_equal(incident_mgr_submit(f->env.mgr, &k), T0_OK);
	/* A retried delivery of the first event is still known as seen. */
	assert_int_equal(incident_mgr_submit(f->env.mgr, &t), T0_EDUP);
	settle(f, 5000);
	assert_int_equal(fake_chat_posts(f->env.chat), 0);
	assert_int_equal(fake_chat_updates(f->env.chat), 1);
	for (size_t i = 0; i < fake_chat_count(f->env.chat); i++) {
		const struct fake_chat_msg *m = fake_chat_msg(f->env.chat, i);

		if (m->is_update) {
			assert_string_equal(m->ref, ref);
			assert_string_equal(m->channel, "#payments-oncall");
			assert_non_null(strstr(m->text, "ACKNOWLEDGED"));
		} else {
			assert_string_equal(m->thread, ref); /* the timeline note */
			assert_non_null(strstr(m->text, "Acknowledged by Bob Nguyen"));
		}
	}
}

static void test_incident_failed_post_is_retried_by_the_next_event(void **state)
{
	struct fx *f = *state;
	struct incident_alert t = alert("PF", "incident.triggered", "triggered", "payment-api", "x1");
	struct incident_alert k = alert("PF", "incident.acknowledged", "acknowledged", "payment-api",
					"x2");
	struct store_incident inc = { 0 };

	fake_chat_fail(f->env.chat, T0_EHTTP); /* the platform is down */
	incident_mgr_submit(f->env.mgr, &t);
	settle(f, 5000);
	assert_int_equal(store_incident_find(f->env.bot->store, "pagerduty", "PF", &inc), T0_OK);
	assert_null(inc.message_ref);
	store_incident_clear(&inc);
	fake_chat_fail(f->env.chat, 0);
	incident_mgr_submit(f->env.mgr, &k);
	settle(f, 5000);
	assert_int_equal(fake_chat_posts(f->env.chat), 2); /* the refused one, then the card */
	assert_int_equal(store_incident_find(f->env.bot->store, "pagerduty", "PF", &inc), T0_OK);
	assert_string_equal(inc.message_ref, fake_chat_msg(f->env.chat, 1)->ref);
	assert_non_null(strstr(fake_chat_msg(f->env.chat, 1)->text, "ACKNOWLEDGED"));
	store_incident_clear(&inc);
	assert_int_equal(sql_count(f, "SELECT count(*) FROM incident_events WHERE kind = "
				      "'message.failed'"),
			 1);
}

struct answer {
	int done;
	struct reply *r;
};

static void on_reply(void *arg, struct reply *r)
{
	struct answer *a = arg;

	a->r = r;
	a->done = 1;
}

static int answered(void *arg)
{
	return ((struct answer *)arg)->done;
}

static struct reply *dispatch(struct fx *f, struct event *ev)
{
	struct answer a = { 0 };

	ev->actor.platform = "test";
	ev->actor.user_id = "alice";
	ev->channel = "C1";
	bot_dispatch(f->env.bot, ev, on_reply, &a);
	assert_true(incident_env_run_until(&f->env, answered, &a, 10000));
	assert_non_null(a.r);
	return a.r;
}

static void test_incident_simulate_posts_a_card_then_answers(void **state)
{
	struct fx *f = *state;
	struct event ev = { .kind = EVENT_MESSAGE, .text = "simulate alert payment-api HighErrorRate" };
	struct reply *r = dispatch(f, &ev);

	assert_non_null(strstr(r->text, "Simulated alert HighErrorRate on payment-api: the incident "
				       "card went to #payments-oncall"));
	assert_int_equal(fake_chat_posts(f->env.chat), 1);
	assert_non_null(strstr(fake_chat_msg(f->env.chat, 0)->text, "[SIMULATED] HighErrorRate"));
	reply_free(r);
}

static void test_incident_command_rerenders_and_buttons_answer_until_actions_exist(void **state)
{
	struct fx *f = *state;
	struct incident_alert t = alert("PCMD", "incident.triggered", "triggered", "payment-api", "c1");
	struct event ev = { .kind = EVENT_COMMAND, .command = "/tier0", .text = "incident PCMD" };
	struct event by_svc = { .kind = EVENT_COMMAND, .command = "/tier0",
				.text = "incident checkout-web" };
	struct event press = { .kind = EVENT_INTERACTION, .action_id = "action.propose" };
	struct reply *r;

	t.title = "HighErrorRate";
	incident_mgr_submit(f->env.mgr, &t);
	settle(f, 5000);
	r = dispatch(f, &ev);
	assert_non_null(strstr(r->text, "TRIGGERED: HighErrorRate - payment-api"));
	assert_string_equal(r->intent, "incident.card");
	assert_true(r->nbuttons >= 1);
	assert_string_equal(r->buttons[0].action_id, "action.propose");
	assert_int_equal(strlen(r->buttons[0].value), 32);
	press.value = r->buttons[0].value;
	{
		struct reply *b = dispatch(f, &press);

		assert_non_null(strstr(b->text, "Actions are not configured"));
		assert_non_null(strstr(b->text, "\"rollback\" for payment-api"));
		reply_free(b);
	}
	reply_free(r);
	/* A service with no open incident: its context, from local data. */
	r = dispatch(f, &by_svc);
	assert_non_null(strstr(r->text, "Context for checkout-web (no open incident)"));
	reply_free(r);
	ev.text = "incident no-such-thing";
	r = dispatch(f, &ev);
	assert_non_null(strstr(r->text, "I don't know \"no-such-thing\""));
	reply_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_incident_card_goes_to_the_chat_annotation_else_owner_else_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incident_without_any_channel_is_stored_not_posted, setup_no_default, teardown),
		cmocka_unit_test_setup_teardown(test_incident_two_alerts_together_make_one_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incident_hanging_source_gives_a_partial_card_at_the_overall_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incident_failing_source_is_shown_as_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incident_storm_500_alerts_20_services, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incident_restart_midway_edits_the_same_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incident_failed_post_is_retried_by_the_next_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incident_simulate_posts_a_card_then_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incident_command_rerenders_and_buttons_answer_until_actions_exist, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
