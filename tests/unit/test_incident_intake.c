/*
 * The webhooks end to end, over HTTP on 127.0.0.1: PagerDuty V3 fixtures
 * signed here (several secrets, rotation), bad signatures refused with 401
 * and never processed, duplicates, every listed event type, one card per
 * incident updated in place with a thread; Alertmanager groups and its
 * token; the deployment webhook (tier0's record and GitHub's
 * deployment_status fixture) and "what changed" answered from the store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/bot.h"
#include "bot/event.h"
#include "bot/incident.h"
#include "bot/log.h"
#include "bot/metrics.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "store/store.h"
#include "tests/fakes/fake_chat.h"
#include "tests/fakes/incident_env.h"

#define CONFIG                                                    \
	"log:\n  level: warn\n"                                   \
	"store:\n  path: \"@DIR@/tier0.db\"\n"                    \
	"catalog:\n  files:\n    - \"" T0_DEMO_DIR "/catalog/*.yaml\"\n" \
	"    - \"@DIR@/extra.yaml\"\n"                            \
	"runbooks:\n  paths: [\"" T0_DEMO_DIR "/runbooks\"]\n"    \
	"pagerduty:\n  webhook_secrets: [old-secret, new-secret]\n" \
	"alertmanager:\n  token: am-token\n"                      \
	"deployments:\n  webhook_secret: deploy-secret\n"         \
	"incidents:\n  default_channel: \"#incidents\"\n"

/* A component for GitHub's example repository, so its deployment maps to a service. */
#define EXTRA_CATALOG                                                 \
	"apiVersion: backstage.io/v1alpha1\nkind: Component\n"        \
	"metadata:\n  name: hello-world\n  annotations:\n"            \
	"    github.com/project-slug: Codertocat/Hello-World\n"       \
	"spec:\n  type: service\n  lifecycle: production\n  owner: payments-team\n"

struct fx {
	struct incident_env env;
	char *logbuf;
	size_t loglen;
	FILE *log;
};

static void write_extra(struct fx *f)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/extra.yaml", f->env.dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(EXTRA_CATALOG, fp);
	fclose(fp);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->env.dir, sizeof(f->env.dir), "/tmp/t0intake.XXXXXX");
	assert_non_null(mkdtemp(f->env.dir));
	write_extra(f);
	f->log = open_memstream(&f->logbuf, &f->loglen);
	log_set_stream(f->log);
	log_set_level(LOG_LEVEL_WARN);
	if (incident_env_open(&f->env, CONFIG, 1, 0) != T0_OK)
		fail_msg("env: %s", f->env.err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	incident_env_close(&f->env);
	incident_env_cleanup(&f->env);
	log_set_stream(NULL);
	fclose(f->log);
	free(f->logbuf);
	free(f);
	return 0;
}

static void sign(const char *secret, const char *body, size_t len, char hex[65])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac, &n);
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
}

static long post_pd(struct fx *f, const char *body, const char *secret)
{
	char hex[65], sig[100];
	const char *headers[] = { "Content-Type: application/json", sig };

	sign(secret, body, strlen(body), hex);
	snprintf(sig, sizeof(sig), "X-PagerDuty-Signature: v1=%s", hex);
	return incident_env_post(&f->env, "/webhooks/pagerduty", headers, 2, body, strlen(body));
}

/* A fixture with some text replaced (another incident, event id or event type). */
static char *fixture_with(const char *rel, const char *from, const char *to)
{
	size_t len;
	char *src = incident_env_fixture(rel, &len), *out, *at;

	assert_non_null(src);
	if (!from)
		return src;
	out = malloc(len + strlen(to) * 4 + 1);
	assert_non_null(out);
	out[0] = '\0';
	for (char *p = src; (at = strstr(p, from));) {
		strncat(out, p, (size_t)(at - p));
		strcat(out, to);
		p = at + strlen(from);
		if (!strstr(p, from))
			strcat(out, p);
	}
	if (!strstr(src, from))
		strcpy(out, src);
	free(src);
	return out;
}

struct wait_posts {
	struct fx *f;
	size_t posts, updates, threads;
};

static int enough(void *arg)
{
	struct wait_posts *w = arg;
	struct fake_chat *c = w->f->env.chat;

	return fake_chat_posts(c) >= w->posts && fake_chat_updates(c) >= w->updates &&
	       fake_chat_thread_replies(c) >= w->threads && !incident_mgr_busy(w->f->env.mgr);
}

static void wait_for(struct fx *f, size_t posts, size_t updates, size_t threads)
{
	struct wait_posts w = { f, posts, updates, threads };

	assert_true(incident_env_run_until(&f->env, enough, &w, 10000));
}

static int64_t incidents(struct fx *f)
{
	int64_t n = -1;

	assert_int_equal(store_incident_count(f->env.bot->store, &n), T0_OK);
	return n;
}

static void test_pagerduty_triggered_posts_one_card(void **state)
{
	struct fx *f = *state;
	char *body = fixture_with("pagerduty/webhook_v3_incident_triggered.json", NULL, NULL);
	struct store_incident inc = { 0 };
	const struct fake_chat_msg *m;

	assert_int_equal(post_pd(f, body, "new-secret"), 202);
	wait_for(f, 1, 0, 0);
	assert_int_equal(fake_chat_posts(f->env.chat), 1);
	m = fake_chat_msg(f->env.chat, 0);
	assert_string_equal(m->channel, "#incidents"); /* pig208 is not in the catalog */
	assert_non_null(strstr(m->text, "TRIGGERED: Test Incident 3"));
	assert_non_null(strstr(m->json, "not in the catalog"));
	assert_non_null(strstr(m->json, "PagerDuty not configured")); /* no REST token */
	assert_int_equal(store_incident_find(f->env.bot->store, "pagerduty", "PFQZPSY", &inc), T0_OK);
	assert_string_equal(inc.status, "triggered");
	assert_string_equal(inc.message_ref, m->ref);
	assert_string_equal(inc.channel, "#incidents");
	assert_string_equal(inc.platform, "fake");
	store_incident_clear(&inc);
	free(body);
}

static void test_pagerduty_bad_signature_is_401_and_never_processed(void **state)
{
	struct fx *f = *state;
	char *body = fixture_with("pagerduty/webhook_v3_incident_triggered.json", NULL, NULL);
	const char *no_sig[] = { "Content-Type: application/json" };

	assert_int_equal(post_pd(f, body, "wrong-secret"), 401);
	assert_int_equal(incident_env_post(&f->env, "/webhooks/pagerduty", no_sig, 1, body,
					   strlen(body)),
			 401);
	incident_env_run_for(&f->env, 100);
	assert_int_equal(incidents(f), 0);
	assert_int_equal(fake_chat_count(f->env.chat), 0);
	assert_true(metrics_value("tier0_webhook_rejected_total",
				  "source=\"pagerduty\",reason=\"signature\"") == 2);
	fflush(f->log);
	assert_non_null(strstr(f->logbuf, "\"msg\":\"bad_signature\""));
	assert_null(strstr(f->logbuf, "new-secret"));
	/* The same body signed properly is then accepted: nothing was marked seen. */
	assert_int_equal(post_pd(f, body, "old-secret"), 202);
	wait_for(f, 1, 0, 0);
	assert_int_equal(incidents(f), 1);
	free(body);
}

static void test_pagerduty_duplicate_event_is_stored_once(void **state)
{
	struct fx *f = *state;
	char *body = fixture_with("pagerduty/webhook_v3_incident_triggered.json", NULL, NULL);
	int64_t events = 0;

	assert_int_equal(post_pd(f, body, "new-secret"), 202);
	assert_int_equal(post_pd(f, body, "old-secret"), 202); /* PagerDuty retried */
	wait_for(f, 1, 0, 0);
	incident_env_run_for(&f->env, 50);
	assert_int_equal(store_incident_event_count(f->env.bot->store, 0, &events), T0_OK);
	assert_int_equal(events, 2); /* the event and our post */
	assert_int_equal(fake_chat_posts(f->env.chat), 1);
	assert_int_equal(fake_chat_updates(f->env.chat), 0);
	free(body);
}

static void test_pagerduty_lifecycle_updates_the_same_message_with_a_thread(void **state)
{
	struct fx *f = *state;
	/* The same incident PQ1K5C8: unacknowledged (triggered), acknowledged, then resolved. */
	char *trig = fixture_with("pagerduty/webhook_v3_incident_unacknowledged.json", NULL, NULL);
	char *ack = fixture_with("pagerduty/webhook_v3_incident_acknowledged.json", NULL, NULL);
	char *res = fixture_with("pagerduty/webhook_v3_incident_resolved.json", "PCPZE64", "PQ1K5C8");
	const struct fake_chat_msg *post, *last;
	struct store_incident inc = { 0 };

	assert_int_equal(post_pd(f, trig, "new-secret"), 202);
	wait_for(f, 1, 0, 0);
	assert_int_equal(post_pd(f, ack, "new-secret"), 202);
	wait_for(f, 1, 1, 1);
	assert_int_equal(post_pd(f, res, "new-secret"), 202);
	wait_for(f, 1, 2, 2);
	post = fake_chat_msg(f->env.chat, 0);
	last = fake_chat_msg(f->env.chat, fake_chat_count(f->env.chat) - 1);
	assert_int_equal(fake_chat_posts(f->env.chat), 1);
	for (size_t i = 1; i < fake_chat_count(f->env.chat); i++) {
		const struct fake_chat_msg *m = fake_chat_msg(f->env.chat, i);

		/* Updates edit the card; thread replies hang under it. */
		assert_string_equal(m->is_update ? m->ref : m->thread, post->ref);
		if (!m->is_update && strstr(m->text, "Acknowledged"))
			assert_non_null(strstr(m->text, "by PIG 208"));
	}
	assert_true(last->is_update || fake_chat_msg(f->env.chat, fake_chat_count(f->env.chat) - 2)
						       ->is_update);
	assert_int_equal(store_incident_find(f->env.bot->store, "pagerduty", "PQ1K5C8", &inc), T0_OK);
	assert_string_equal(inc.status, "resolved");
	store_incident_clear(&inc);
	for (size_t i = fake_chat_count(f->env.chat); i-- > 0;) {
		const struct fake_chat_msg *m = fake_chat_msg(f->env.chat, i);

		if (m->is_update) {
			assert_non_null(strstr(m->text, "RESOLVED"));
			assert_non_null(strstr(m->json, "acknowledged by PIG 208"));
			break;
		}
	}
	free(trig);
	free(ack);
	free(res);
}

static void test_pagerduty_every_listed_event_type_is_accepted(void **state)
{
	struct fx *f = *state;
	static const char *const types[] = {
		"incident.triggered",	 "incident.acknowledged",    "incident.unacknowledged",
		"incident.escalated",	 "incident.reassigned",	     "incident.resolved",
		"incident.priority_updated",
	};
	int64_t events = 0;
	char evid[64];

	for (size_t i = 0; i < T0_ARRAY_LEN(types); i++) {
		char *a = fixture_with("pagerduty/webhook_v3_incident_acknowledged.json",
				       "incident.acknowledged", types[i]);
		char *b;

		snprintf(evid, sizeof(evid), "01BZYK8N47N5JG55J1EEEH%04zu", i);
		b = strstr(a, "01BZYK8N47N5JG55J1EEEHPEJI") ? a : NULL;
		assert_non_null(b);
		memcpy(strstr(a, "01BZYK8N47N5JG55J1EEEHPEJI"), evid, strlen(evid));
		assert_int_equal(post_pd(f, a, "new-secret"), 202);
		free(a);
	}
	{
		char *note = fixture_with("pagerduty/webhook_v3_incident_annotated.json", NULL, NULL);
		char *prio = fixture_with("pagerduty/webhook_v3_incident_priority_updated.json", NULL,
					  NULL);

		assert_int_equal(post_pd(f, note, "new-secret"), 202);
		assert_int_equal(post_pd(f, prio, "old-secret"), 202);
		free(note);
		free(prio);
	}
	wait_for(f, 3, 0, 0);
	assert_int_equal(incidents(f), 3); /* PQ1K5C8, Q3B15VLMF3ASBD, PGR0VU2 */
	assert_int_equal(store_incident_event_count(f->env.bot->store, 1, &events), T0_OK);
	assert_int_equal(events >= 7, 1);
	/* A service.* event is fine but not ours. */
	{
		char *svc = fixture_with("pagerduty/webhook_v3_incident_acknowledged.json",
					 "\"incident.acknowledged\"", "\"service.updated\"");

		assert_int_equal(post_pd(f, svc, "new-secret"), 202);
		free(svc);
	}
	/* Not JSON, but signed: 400 (PagerDuty will not retry a bad request). */
	assert_int_equal(post_pd(f, "{not json", "new-secret"), 400);
}

static void test_pagerduty_card_flags_a_deploy_before_the_alert(void **state)
{
	struct fx *f = *state;
	/* payment-api's PagerDuty service, and a deploy 20 minutes before occurred_at. */
	char *trig = fixture_with("pagerduty/webhook_v3_incident_triggered.json", "PA2P440",
				  "PQ7X2KA");
	const char *deploy = "{\"service\":\"payment-api\",\"version\":\"v2.14.1\",\"actor\":\"bob\","
			     "\"environment\":\"production\",\"timestamp\":\"2021-06-04T13:15:00Z\","
			     "\"id\":\"ci-42\"}";
	char hex[65], sig[100];
	const char *headers[] = { sig };
	const struct fake_chat_msg *m;

	sign("deploy-secret", deploy, strlen(deploy), hex);
	snprintf(sig, sizeof(sig), "X-Tier0-Signature: sha256=%s", hex);
	assert_int_equal(incident_env_post(&f->env, "/webhooks/deployments", headers, 1, deploy,
					   strlen(deploy)),
			 201);
	assert_int_equal(post_pd(f, trig, "new-secret"), 202);
	wait_for(f, 1, 0, 0);
	m = fake_chat_msg(f->env.chat, 0);
	assert_string_equal(m->channel, "#payments-oncall"); /* slack.com/bot-notify */
	assert_non_null(strstr(m->json, "(!) 13:15 UTC v2.14.1 to production by bob via webhook"));
	assert_non_null(strstr(m->json, "20 min before the alert"));
	assert_non_null(strstr(m->json, "Payments Team"));
	assert_non_null(strstr(m->json, "Runbook: Payment API high error rate"));
	assert_non_null(strstr(m->json, "\"action_id\":\"action.propose\""));
	assert_non_null(strstr(m->json, "checkout-web")); /* blast radius */
	free(trig);
}

static long post_am(struct fx *f, const char *body, const char *auth)
{
	const char *headers[] = { "Content-Type: application/json", auth };

	return incident_env_post(&f->env, "/webhooks/alertmanager", headers, auth ? 2 : 1, body,
				 strlen(body));
}

#define AM_FIRING_1                                                                             \
	"{\"version\":\"4\",\"groupKey\":\"{}:{alertname=\\\"HighErrorRate\\\"}\","             \
	"\"truncatedAlerts\":0,\"status\":\"firing\",\"receiver\":\"tier0\","                    \
	"\"groupLabels\":{\"alertname\":\"HighErrorRate\"},"                                     \
	"\"commonLabels\":{\"alertname\":\"HighErrorRate\",\"service\":\"payment-api\","         \
	"\"severity\":\"critical\"},\"commonAnnotations\":{\"summary\":\"5xx above 2%%\"},"      \
	"\"externalURL\":\"http://alertmanager:9093\",\"alerts\":[%s]}"
#define AM_ALERT(st, fp)                                                                          \
	"{\"status\":\"" st "\",\"labels\":{\"alertname\":\"HighErrorRate\",\"service\":"         \
	"\"payment-api\",\"pod\":\"" fp "\"},\"annotations\":{},\"startsAt\":"                    \
	"\"2026-11-26T09:58:00Z\",\"endsAt\":\"0001-01-01T00:00:00Z\",\"generatorURL\":"          \
	"\"http://prometheus/graph\",\"fingerprint\":\"" fp "\"}"

static void test_alertmanager_groups_by_group_key_with_a_token(void **state)
{
	struct fx *f = *state;
	char body[4096];
	struct store_incident inc = { 0 };
	int64_t events = 0;

	snprintf(body, sizeof(body), AM_FIRING_1, AM_ALERT("firing", "a1"));
	assert_int_equal(post_am(f, body, NULL), 401);
	assert_int_equal(post_am(f, body, "Authorization: Bearer wrong"), 401);
	assert_int_equal(post_am(f, body, "Authorization: Bearer am-token"), 200);
	wait_for(f, 1, 0, 0);
	snprintf(body, sizeof(body), AM_FIRING_1,
		 AM_ALERT("firing", "a1") "," AM_ALERT("firing", "a2"));
	assert_int_equal(post_am(f, body, "Authorization: Bearer am-token"), 200);
	wait_for(f, 1, 1, 0);
	/* Resolved: the same group, the same card. */
	snprintf(body, sizeof(body),
		 "{\"version\":\"4\",\"groupKey\":\"{}:{alertname=\\\"HighErrorRate\\\"}\","
		 "\"status\":\"resolved\",\"receiver\":\"tier0\",\"groupLabels\":{},"
		 "\"commonLabels\":{\"alertname\":\"HighErrorRate\",\"service\":\"payment-api\"},"
		 "\"commonAnnotations\":{},\"externalURL\":\"http://alertmanager:9093\","
		 "\"alerts\":[" AM_ALERT("resolved", "a1") "]}");
	assert_int_equal(post_am(f, body, "Authorization: Bearer am-token"), 200);
	wait_for(f, 1, 2, 1);
	assert_int_equal(fake_chat_posts(f->env.chat), 1);
	assert_string_equal(fake_chat_msg(f->env.chat, 0)->channel, "#payments-oncall");
	assert_int_equal(incidents(f), 1);
	assert_int_equal(store_incident_find(f->env.bot->store, "alertmanager",
					     "{}:{alertname=\"HighErrorRate\"}", &inc),
			 T0_OK);
	assert_string_equal(inc.status, "resolved");
	assert_string_equal(inc.service, "payment-api");
	assert_int_equal(store_incident_event_count(f->env.bot->store, inc.id, &events), T0_OK);
	assert_true(events >= 3);
	store_incident_clear(&inc);
	/* Not an Alertmanager payload. */
	assert_int_equal(post_am(f, "{\"alerts\":1}", "Authorization: Bearer am-token"), 400);
}

static long post_deploy(struct fx *f, const char *body, const char *secret, const char *gh_event)
{
	char hex[65], sig[120], ev[80];
	const char *headers[2];
	size_t n = 0;

	sign(secret, body, strlen(body), hex);
	snprintf(sig, sizeof(sig), "%s: sha256=%s",
		 gh_event ? "X-Hub-Signature-256" : "X-Tier0-Signature", hex);
	headers[n++] = sig;
	if (gh_event) {
		snprintf(ev, sizeof(ev), "X-GitHub-Event: %s", gh_event);
		headers[n++] = ev;
	}
	return incident_env_post(&f->env, "/webhooks/deployments", headers, n, body, strlen(body));
}

static char *ask(struct fx *f, const char *text)
{
	struct event ev = { .kind = EVENT_MESSAGE, .text = text, .channel = "C1" };
	struct reply *r;
	char *json;

	ev.actor.platform = "test";
	ev.actor.user_id = "u1";
	r = bot_handle(f->env.bot, &ev);
	assert_non_null(r);
	json = reply_to_json(r);
	reply_free(r);
	return json;
}

static void test_deploy_webhook_records_and_answers_what_changed(void **state)
{
	struct fx *f = *state;
	char *gh = fixture_with("github/webhook_deployment_status_created.json", NULL, NULL);
	const char *rec = "{\"service\":\"payment-api\",\"version\":\"v2.15.0\",\"ref\":\"a1b2c3d\","
			  "\"actor\":\"carol\",\"environment\":\"production\",\"status\":\"success\"}";
	char *answer;

	assert_int_equal(post_deploy(f, rec, "wrong", NULL), 401);
	assert_int_equal(post_deploy(f, rec, "deploy-secret", NULL), 201);
	assert_int_equal(post_deploy(f, rec, "deploy-secret", NULL), 200); /* same id: updated */
	assert_int_equal(post_deploy(f, "{\"version\":\"x\"}", "deploy-secret", NULL), 400);
	/* GitHub's own deployment_status payload, signed with the same secret. */
	assert_int_equal(post_deploy(f, gh, "deploy-secret", "deployment_status"), 201);
	answer = ask(f, "what changed in payment-api in the last 6h?");
	if (!strstr(answer, "1 deployment of payment-api since"))
		fail_msg("%s", answer);
	assert_non_null(strstr(answer, "v2.15.0 (a1b2c3d) to production by carol via webhook: success"));
	free(answer);
	answer = ask(f, "deploys hello-world since 2019-05-15");
	assert_non_null(strstr(answer, "f95f852 (master) to production by Codertocat via github: "
				       "success"));
	free(answer);
	answer = ask(f, "deploys hello-world 6h");
	assert_non_null(strstr(answer, "No deployments of hello-world recorded since"));
	free(answer);
	free(gh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pagerduty_triggered_posts_one_card, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pagerduty_bad_signature_is_401_and_never_processed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pagerduty_duplicate_event_is_stored_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pagerduty_lifecycle_updates_the_same_message_with_a_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pagerduty_every_listed_event_type_is_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pagerduty_card_flags_a_deploy_before_the_alert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alertmanager_groups_by_group_key_with_a_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deploy_webhook_records_and_answers_what_changed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
