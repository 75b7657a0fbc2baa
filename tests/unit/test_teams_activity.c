/*
 * Teams end to end against the fake Bot Framework: card actions
 * (Action.Execute invokes answered in time and late, Action.Submit), mentions
 * and threads, conversation updates, proactive posts from stored references,
 * throttling, removed conversations, token refresh, storms, readiness.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/chat/teams/teams.h"
#include "adapters/chat/teams/teams_connector.h"
#include "adapters/chat/teams/teams_internal.h"
#include "bot/audit.h"
#include "bot/bot.h"
#include "bot/catalog.h"
#include "bot/event.h"
#include "bot/handlers.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "store/store.h"
#include "tests/fakes/fake_botframework.h"
#include "tests/fakes/fake_http.h"
#include "tests/fakes/teams_env.h"

#define CHANNEL "19:0b7f32667e064dd9b25d7969801541f4@thread.tacv2"
#define CARD_MSG "1700000000001"
#define THREAD_CONV CHANNEL ";messageid=1700000000000"
#define USER_ID "29:1ljv6N86roXr5pjPrCJVIz6xHh5QxjI...."
#define USER_AAD "eddfa9d4-346e-4cce-a18f-fa6261ad776b"

/* ---- a stand-in for the approvals module: state, decided by a button ---- */

static struct {
	char state[32];
	char decided_by[64];
	char requester[64];
	int calls;
	int async_ms; /* > 0: answer later */
	struct t0_loop *loop;
} approval;

static uv_timer_t late_timer;
static struct bot_pending *late_pending;

static struct reply *decision_reply(void)
{
	struct reply *r = reply_new();

	reply_set_text(r, "Rollback of checkout: %s by %s", approval.state, approval.decided_by);
	reply_add_section(r, "Decision", NULL);
	reply_add_field(r, "State", approval.state);
	reply_add_field(r, "By", approval.decided_by);
	return r;
}

static void on_late(uv_timer_t *t)
{
	bot_pending_finish(late_pending, decision_reply());
	late_pending = NULL;
	uv_close((uv_handle_t *)t, NULL);
}

static int approval_fn(struct bot *b, const struct handler_req *req, struct reply *r)
{
	const struct event *ev = req->ev;

	approval.calls++;
	snprintf(approval.requester, sizeof(approval.requester), "%s",
		 req->requester ? req->requester->name : "(unknown)");
	if (!strcmp(ev->action_id, "approval.approve"))
		snprintf(approval.state, sizeof(approval.state), "approved");
	else
		snprintf(approval.state, sizeof(approval.state), "denied");
	snprintf(approval.decided_by, sizeof(approval.decided_by), "%s",
		 ev->actor.display_name ? ev->actor.display_name : ev->actor.user_id);
	if (approval.async_ms > 0) {
		late_pending = bot_pending_take(req);
		uv_timer_init(loop_uv(b->loop), &late_timer);
		uv_timer_start(&late_timer, on_late, (uint64_t)approval.async_ms, 0);
		return T0_OK;
	}
	{
		struct reply *d = decision_reply();

		reply_set_text(r, "%s", d->text);
		reply_add_section(r, "Decision", NULL);
		reply_add_field(r, "State", approval.state);
		reply_add_field(r, "By", approval.decided_by);
		reply_free(d);
	}
	return T0_OK;
}

static int setup_with(void **state, const char *extra)
{
	log_set_level(LOG_LEVEL_ERR);
	memset(&approval, 0, sizeof(approval));
	snprintf(approval.state, sizeof(approval.state), "pending");
	handler_register_action("approval.", approval_fn);
	*state = teams_env_new(extra, 1);
	return *state ? 0 : -1;
}

static int setup(void **state)
{
	return setup_with(state, NULL);
}

static int setup_fast_invoke(void **state)
{
	return setup_with(state, "  invoke_timeout_ms: 300\n");
}

static int setup_storm(void **state)
{
	return setup_with(state, "  pacing: {burst: 1, interval_ms: 400, coalesce_after: 2}\n");
}

static int teardown(void **state)
{
	teams_env_free(*state);
	handler_register_action("approval.", NULL);
	metrics_reset();
	return 0;
}

struct wait_req {
	struct teams_env *e;
	const char *method;
	char path[1024];
	size_t n;
};

static int got_requests(void *arg)
{
	struct wait_req *w = arg;

	return fake_bf_count(w->e->fb, w->method, w->path) >= w->n;
}

static void wait_for(struct teams_env *e, const char *method, const char *conv, const char *suffix,
		     const char *activity, size_t n, uint64_t ms)
{
	struct wait_req w = { .e = e, .method = method, .n = n };

	fake_bf_path(w.path, sizeof(w.path), conv, suffix, activity);
	if (!teams_env_run_until(e, got_requests, &w, ms))
		print_error("waited %llu ms for %zu %s %s, got %zu\n", (unsigned long long)ms, n,
			    method, w.path, fake_bf_count(e->fb, method, w.path));
	assert_true(got_requests(&w));
}

static json_t *request_json(struct teams_env *e, const char *method, const char *conv,
			    const char *suffix, const char *activity, size_t nth)
{
	char path[1024];
	const struct fake_http_req *r;

	fake_bf_path(path, sizeof(path), conv, suffix, activity);
	r = fake_bf_find(e->fb, method, path, nth);
	assert_non_null(r);
	return json_loadb(r->body, r->body_len, 0, NULL);
}

/* The invoke fixture made whole: the doc omits everything but type, name and value. */
static json_t *invoke_activity(struct teams_env *e, const char *verb, const char *value)
{
	json_t *act = teams_env_fixture(e, "invoke_adaptiveCard_action_refresh.json");
	json_t *action = json_object_get(json_object_get(act, "value"), "action");

	json_object_set_new(act, "id", json_string("f:invoke-1"));
	json_object_set_new(act, "channelId", json_string("msteams"));
	json_object_set_new(act, "serviceUrl", json_string(fake_bf_service_url(e->fb)));
	json_object_set_new(act, "from", json_pack("{s:s, s:s, s:s}", "id", USER_ID, "name",
						   "Sam Okoro", "aadObjectId", USER_AAD));
	json_object_set_new(act, "recipient", json_pack("{s:s, s:s}", "id",
							"28:" TEAMS_ENV_APP, "name", "tier0"));
	json_object_set_new(act, "conversation",
			    json_pack("{s:s, s:s, s:b}", "id", THREAD_CONV, "conversationType",
				      "channel", "isGroup", 1));
	json_object_set_new(act, "channelData",
			    json_pack("{s:{s:s}}", "tenant", "id",
				      "b28fdbfd-2b78-4f93-b0f8-8881793f0f8f"));
	json_object_set_new(act, "replyToId", json_string(CARD_MSG));
	json_object_set_new(json_object_get(act, "value"), "trigger", json_string("manual"));
	json_object_set_new(action, "verb", json_string(verb));
	json_object_set_new(action, "title", json_string("Approve"));
	json_object_set_new(action, "data", json_pack("{s:s, s:s}", "t0_action", verb, "t0_value",
						      value));
	return act;
}

static void member_is_sam(struct teams_env *e)
{
	teams_env_connector(e, "GET", CHANNEL, "/members", USER_ID, 200, NULL,
			    "{\"id\":\"" USER_ID "\",\"name\":\"Sam Okoro\","
			    "\"aadObjectId\":\"" USER_AAD "\",\"email\":\"sam.okoro@example.com\","
			    "\"userPrincipalName\":\"sam.okoro@example.com\"}");
}

static void test_invoke_action_execute_changes_state_updates_card_answers(void **state)
{
	struct teams_env *e = *state;
	json_t *act = invoke_activity(e, "approval.approve", "A1"), *ans, *put;
	char *tok = teams_env_token(e, act);
	struct teams_env_result r;

	member_is_sam(e);
	teams_env_connector(e, "PUT", THREAD_CONV, "/activities", CARD_MSG, 200, NULL,
			    "{\"id\":\"" CARD_MSG "\"}");
	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.status, 200);
	/* State changed, decided by the catalog User behind the Teams account. */
	assert_int_equal(approval.calls, 1);
	assert_string_equal(approval.state, "approved");
	assert_string_equal(approval.requester, "sam");
	/* The invoke answer: HTTP 200 with the updated card. */
	assert_non_null(strstr(r.ctype, "application/json"));
	ans = json_loads(r.body, 0, NULL);
	assert_non_null(ans);
	assert_int_equal(json_integer_value(json_object_get(ans, "statusCode")), 200);
	assert_string_equal(json_string_value(json_object_get(ans, "type")),
			    "application/vnd.microsoft.card.adaptive");
	assert_string_equal(json_string_value(json_object_get(json_object_get(ans, "value"), "type")),
			    "AdaptiveCard");
	assert_non_null(strstr(r.body, "approved by Sam Okoro"));
	json_decref(ans);
	/* And the message itself is replaced for everyone. */
	wait_for(e, "PUT", THREAD_CONV, "/activities", CARD_MSG, 1, 5000);
	put = request_json(e, "PUT", THREAD_CONV, "/activities", CARD_MSG, 0);
	assert_string_equal(json_string_value(json_object_get(put, "id")), CARD_MSG);
	{
		char *s = json_dumps(put, JSON_COMPACT);

		assert_non_null(strstr(s, "approved by Sam Okoro"));
		free(s);
	}
	json_decref(put);
	assert_true(metrics_value("tier0_teams_activities_total", "type=\"invoke\"") == 1);
	assert_true(metrics_value("tier0_teams_connector_calls_total",
				  "op=\"update\",status=\"200\"") == 1);
	free(tok);
	json_decref(act);
}

static void test_invoke_late_answer_holding_card_then_update(void **state)
{
	struct teams_env *e = *state;
	json_t *act = invoke_activity(e, "approval.deny", "A2");
	char *tok = teams_env_token(e, act);
	struct teams_env_result r;
	char *s;
	json_t *put;

	approval.async_ms = 2000;
	member_is_sam(e);
	teams_env_connector(e, "PUT", THREAD_CONV, "/activities", CARD_MSG, 200, NULL,
			    "{\"id\":\"" CARD_MSG "\"}");
	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.status, 200);
	/* Answered at the invoke timeout (300 ms), well before the handler (2 s). */
	assert_true(r.elapsed_ms >= 250 && r.elapsed_ms < 1800);
	assert_non_null(strstr(r.body, "Working on it: Approve"));
	{
		char path[1024];

		fake_bf_path(path, sizeof(path), THREAD_CONV, "/activities", CARD_MSG);
		assert_int_equal(fake_bf_count(e->fb, "PUT", path), 0);
	}
	assert_true(metrics_value("tier0_teams_invoke_late_total", NULL) == 1);
	/* The final card replaces the message when the answer comes. */
	wait_for(e, "PUT", THREAD_CONV, "/activities", CARD_MSG, 1, 5000);
	put = request_json(e, "PUT", THREAD_CONV, "/activities", CARD_MSG, 0);
	s = json_dumps(put, JSON_COMPACT);
	assert_non_null(strstr(s, "denied by Sam Okoro"));
	free(s);
	json_decref(put);
	free(tok);
	json_decref(act);
}

static void test_invoke_other_shapes(void **state)
{
	struct teams_env *e = *state;
	json_t *act = invoke_activity(e, "approval.approve", "A3");
	char *tok = teams_env_token(e, act);
	struct teams_env_result r;
	json_t *fix;

	/* Not an Action.Execute: 400 with the error body the SDK uses. */
	json_object_set_new(json_object_get(json_object_get(act, "value"), "action"), "type",
			    json_string("Action.Submit"));
	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "application/vnd.microsoft.error"));
	/* Another invoke name: 501, as the SDK answers. */
	json_object_set_new(act, "name", json_string("composeExtension/query"));
	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.status, 501);
	assert_int_equal(approval.calls, 0);
	json_decref(act);
	free(tok);

	/* The docs' automatic refresh of a card that is not ours: a transient message. */
	fix = teams_env_fixture(e, "invoke_adaptiveCard_action_refresh.json");
	json_object_set_new(fix, "serviceUrl", json_string(fake_bf_service_url(e->fb)));
	json_object_set_new(fix, "channelId", json_string("msteams"));
	json_object_set_new(fix, "conversation", json_pack("{s:s}", "id", THREAD_CONV));
	tok = teams_env_token(e, fix);
	teams_env_post(e, fix, tok, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "application/vnd.microsoft.activity.message"));
	assert_int_equal(approval.calls, 0);
	free(tok);
	json_decref(fix);
}

static void test_action_submit_fallback_updates_card(void **state)
{
	struct teams_env *e = *state;
	json_t *act = teams_env_fixture(e, "message_personal_1.json");
	char *tok;
	struct teams_env_result r;
	const char *conv = json_string_value(json_object_get(json_object_get(act, "conversation"), "id"));
	char *s;
	json_t *put;

	/* What an old client sends for the Action.Submit fallback: no text, the data as value. */
	json_object_del(act, "text");
	json_object_set_new(act, "value", json_pack("{s:s, s:s}", "t0_action", "approval.approve",
						    "t0_value", "A4"));
	json_object_set_new(act, "replyToId", json_string("1485983400000"));
	tok = teams_env_token(e, act);
	teams_env_connector(e, "PUT", conv, "/activities", "1485983400000", 200, NULL,
			    "{\"id\":\"1485983400000\"}");
	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.status, 200);
	/* The 200 comes first; the decision follows (after the member lookup). */
	wait_for(e, "PUT", conv, "/activities", "1485983400000", 1, 5000);
	assert_int_equal(approval.calls, 1);
	put = request_json(e, "PUT", conv, "/activities", "1485983400000", 0);
	s = json_dumps(put, JSON_COMPACT);
	assert_non_null(strstr(s, "approved by Megan Bowen"));
	free(s);
	json_decref(put);
	free(tok);
	json_decref(act);
}

struct audit_find {
	const char *kind;
	json_t *detail;
};

static int find_audit(void *arg, const struct audit_row *row)
{
	struct audit_find *f = arg;

	if (!strcmp(row->kind, f->kind)) {
		json_decref(f->detail);
		f->detail = json_loads(row->detail, 0, NULL);
	}
	return 0;
}

static void test_channel_mention_removed_reply_threaded(void **state)
{
	struct teams_env *e = *state;
	json_t *act = teams_env_fixture(e, "message_channel_mention.json");
	const char *conv = json_string_value(json_object_get(json_object_get(act, "conversation"), "id"));
	json_t *mentioned = json_object_get(json_array_get(json_object_get(act, "entities"), 0),
					    "mentioned");
	struct audit_find f = { .kind = "message.received" };
	struct teams_env_result r;
	char *tok;

	/* The same message, with the mention pointing at the bot (the recipient). */
	json_object_set_new(mentioned, "id",
			    json_string(json_string_value(json_object_get(
				    json_object_get(act, "recipient"), "id"))));
	tok = teams_env_token(e, act);
	teams_env_connector(e, "POST", conv, "/activities", NULL, 200, NULL, "{\"id\":\"r1\"}");
	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.status, 200);
	/* The fixture has no activity id: a new message in the thread's conversation. */
	wait_for(e, "POST", conv, "/activities", NULL, 1, 5000);
	store_audit_each(e->bot->store, 0, NULL, find_audit, &f);
	assert_non_null(f.detail);
	assert_string_equal(json_string_value(json_object_get(f.detail, "text")),
			    "Hey check out this message");
	assert_string_equal(json_string_value(json_object_get(f.detail, "thread")), "1481567603816");
	json_decref(f.detail);
	free(tok);
	json_decref(act);
}

static void test_text_clean_mentions_entities_markup(void **state)
{
	char out[256];
	json_t *ents = json_loads("[{\"type\":\"mention\",\"mentioned\":{\"id\":\"28:bot\","
				  "\"name\":\"tier0\"},\"text\":\"<at>@tier0</at>\"}]", 0, NULL);

	assert_int_equal(teams_text_clean("<at>tier0</at> who owns <b>checkout</b> &amp; co",
					  ents, "28:bot", out, sizeof(out)), T0_OK);
	assert_string_equal(out, "who owns checkout & co");
	/* A person named like the bot is not the bot: kept, as @Name. */
	assert_int_equal(teams_text_clean("ask <at>Pranav Smith</at> &lt;now&gt;", ents, "28:bot",
					  out, sizeof(out)), T0_OK);
	assert_string_equal(out, "ask @Pranav Smith <now>");
	assert_int_equal(teams_text_clean("<p>line one</p><p>two</p>", NULL, "28:bot", out,
					  sizeof(out)), T0_OK);
	assert_string_equal(out, "line one\ntwo");
	assert_int_equal(teams_text_clean("0123456789", NULL, "28:bot", out, 5), T0_ETOOBIG);
	json_decref(ents);
}

static void test_connector_urls(void **state)
{
	char url[512];

	assert_int_equal(teams_connector_url(url, sizeof(url), TEAMS_OP_REPLY,
					     "https://smba.trafficmanager.net/amer/",
					     "19:a@thread.skype;messageid=1", "2"), T0_OK);
	assert_string_equal(url, "https://smba.trafficmanager.net/amer/v3/conversations/"
				 "19%3Aa%40thread.skype%3Bmessageid%3D1/activities/2");
	assert_int_equal(teams_connector_url(url, sizeof(url), TEAMS_OP_SEND,
					     "https://skype.botframework.com", "a:b", NULL), T0_OK);
	assert_string_equal(url, "https://skype.botframework.com/v3/conversations/a%3Ab/activities");
	assert_int_equal(teams_connector_url(url, sizeof(url), TEAMS_OP_MEMBER,
					     "https://x.example//", "c", "29:u"), T0_OK);
	assert_string_equal(url, "https://x.example/v3/conversations/c/members/29%3Au");
	assert_int_equal(teams_connector_url(url, sizeof(url), TEAMS_OP_UPDATE, "ftp://x", "c", "1"),
			 T0_EINVAL);
	assert_int_equal(teams_connector_url(url, sizeof(url), TEAMS_OP_UPDATE, "https://x", "c", NULL),
			 T0_EINVAL);
}

/* ---- proactive posts ---- */

struct sent {
	int calls;
	int rc;
	char ref[128];
};

static void on_sent(void *arg, int rc, const char *ref)
{
	struct sent *s = arg;

	s->calls++;
	s->rc = rc;
	snprintf(s->ref, sizeof(s->ref), "%s", ref ? ref : "");
}

static int sent_done(void *arg)
{
	return ((struct sent *)arg)->calls > 0;
}

static void install_in_channel(struct teams_env *e)
{
	json_t *act = teams_env_fixture(e, "conversationUpdate_teamMemberAdded_bot.json");
	char *tok = teams_env_token(e, act);
	struct teams_env_result r;

	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.status, 200);
	free(tok);
	json_decref(act);
}

static struct reply *incident_card(const char *title)
{
	struct reply *r = reply_new();

	reply_set_text(r, "%s", title);
	reply_add_section(r, "Owner", NULL);
	reply_add_field(r, "Team", "payments");
	reply_add_button(r, "Acknowledge", "incident.ack", "P42", REPLY_STYLE_PRIMARY, NULL);
	return r;
}

static void test_proactive_post_from_stored_reference(void **state)
{
	struct teams_env *e = *state;
	struct reply_target to = { .channel = CHANNEL };
	struct reply *card = incident_card("Incident P42: checkout 5xx");
	struct sent s = { 0 };
	char *text = NULL, buf[256];
	const struct fake_http_req *req;
	char path[1024];
	json_t *ref, *body;

	install_in_channel(e);
	assert_int_equal(store_conv_ref_get(e->bot->store, "teams", CHANNEL, &text, NULL, NULL), T0_OK);
	ref = json_loads(text, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(ref, "serviceUrl")),
			    fake_bf_service_url(e->fb));
	assert_string_equal(json_string_value(json_object_get(ref, "tenantId")),
			    "b28fdbfd-2b78-4f93-b0f8-8881793f0f8f");
	assert_string_equal(json_string_value(json_object_get(ref, "botId")),
			    "28:608cacfd-1cea-40c9-b678-4b93e69bb72b");
	assert_string_equal(json_string_value(json_object_get(ref, "conversationId")), CHANNEL);
	json_decref(ref);
	free(text);

	teams_env_connector(e, "POST", CHANNEL, "/activities", NULL, 201, NULL,
			    "{\"id\":\"1:proactive-1\"}");
	assert_int_equal(bot_post(e->bot, "teams", &to, card, on_sent, &s), T0_OK);
	assert_true(teams_env_run_until(e, sent_done, &s, 5000));
	assert_int_equal(s.rc, T0_OK);
	assert_string_equal(s.ref, "1:proactive-1");
	fake_bf_path(path, sizeof(path), CHANNEL, "/activities", NULL);
	req = fake_bf_find(e->fb, "POST", path, 0);
	assert_non_null(req);
	assert_non_null(fake_http_req_header(req, "Authorization", buf, sizeof(buf)));
	assert_string_equal(buf, "Bearer " FAKE_BF_ACCESS_TOKEN);
	body = json_loadb(req->body, req->body_len, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(body, "attachments"), 0),
				    "contentType")), "application/vnd.microsoft.card.adaptive");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(
				    body, "channelData"), "tenant"), "id")),
			    "b28fdbfd-2b78-4f93-b0f8-8881793f0f8f");
	json_decref(body);

	/* The card changes later (acknowledged): PUT on the id the post returned. */
	memset(&s, 0, sizeof(s));
	teams_env_connector(e, "PUT", CHANNEL, "/activities", "1:proactive-1", 200, NULL,
			    "{\"id\":\"1:proactive-1\"}");
	reply_set_text(card, "Incident P42: acknowledged");
	assert_int_equal(bot_update(e->bot, "teams", &to, "1:proactive-1", card, on_sent, &s), T0_OK);
	assert_true(teams_env_run_until(e, sent_done, &s, 5000));
	assert_int_equal(s.rc, T0_OK);
	assert_int_equal(fake_bf_count(e->fb, "PUT", "/amer/v3/conversations/"
				       "19%3A0b7f32667e064dd9b25d7969801541f4%40thread.tacv2/"
				       "activities/1%3Aproactive-1"), 1);
	/* One token served every call: it is cached. */
	assert_int_equal(fake_bf_count(e->fb, "POST", "/botframework.com/oauth2/v2.0/token"), 1);
	reply_free(card);
}

struct token_count {
	struct teams_env *e;
	size_t n;
};

static int tokens_fetched(void *arg)
{
	struct token_count *c = arg;

	return fake_bf_count(c->e->fb, "POST", "/botframework.com/oauth2/v2.0/token") >= c->n;
}

static void test_token_refreshed_ahead_of_expiry(void **state)
{
	struct teams_env *e = teams_env_new(NULL, 0);
	const char *tp = "/botframework.com/oauth2/v2.0/token";
	const char *short_lived = "{\"token_type\":\"Bearer\",\"expires_in\":2,\"access_token\":\"short\"}";
	struct token_count c = { .e = e, .n = 2 };
	uint64_t t0;

	assert_non_null(e);
	fake_http_clear(fake_bf_http(e->fb), "POST", tp);
	fake_http_add(fake_bf_http(e->fb), "POST", tp, 200, "Content-Type: application/json\r\n",
		      short_lived, strlen(short_lived), 0);
	t0 = t0_mono_ns();
	teams_ops.start(e->state);
	/* A 2 s token is used for 1 s (half its life), then fetched again without being asked. */
	assert_true(teams_env_run_until(e, tokens_fetched, &c, 4000));
	assert_true((t0_mono_ns() - t0) / 1000000u >= 900);
	assert_true(teams_ops.ready(e->state));
	teams_env_free(e);
	(void)state;
}

static void test_proactive_post_without_reference_is_refused(void **state)
{
	struct teams_env *e = *state;
	struct reply_target to = { .channel = "19:never-seen@thread.tacv2" };
	struct reply *card = incident_card("x");
	struct sent s = { 0 };

	assert_int_equal(bot_post(e->bot, "teams", &to, card, on_sent, &s), T0_ENOTFOUND);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.rc, T0_ENOTFOUND);
	reply_free(card);
}

static void test_connector_429_then_success(void **state)
{
	struct teams_env *e = *state;
	struct reply_target to = { .channel = CHANNEL };
	struct reply *card = incident_card("Incident P43");
	struct sent s = { 0 };
	char path[1024];
	const struct fake_http_req *first;
	uint64_t t0;

	install_in_channel(e);
	teams_env_connector(e, "POST", CHANNEL, "/activities", NULL, 429,
			    "Content-Type: application/json\r\nRetry-After: 1\r\n",
			    "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"slow down\"}}");
	teams_env_connector(e, "POST", CHANNEL, "/activities", NULL, 201, NULL, "{\"id\":\"1:ok\"}");
	t0 = t0_mono_ns();
	assert_int_equal(bot_post(e->bot, "teams", &to, card, on_sent, &s), T0_OK);
	assert_true(teams_env_run_until(e, sent_done, &s, 8000));
	assert_int_equal(s.rc, T0_OK);
	assert_string_equal(s.ref, "1:ok");
	/* Retry-After: 1 was honoured. */
	assert_true((t0_mono_ns() - t0) / 1000000u >= 950);
	fake_bf_path(path, sizeof(path), CHANNEL, "/activities", NULL);
	assert_int_equal(fake_bf_count(e->fb, "POST", path), 2);
	first = fake_bf_find(e->fb, "POST", path, 0);
	assert_non_null(first);
	assert_true(metrics_value("tier0_teams_throttled_total", NULL) == 1);
	assert_true(metrics_value("tier0_teams_connector_calls_total",
				  "op=\"send\",status=\"429\"") == 1);
	reply_free(card);
}

static void test_removed_conversation_reported_and_marked_stale(void **state)
{
	struct teams_env *e = *state;
	struct reply_target to = { .channel = CHANNEL };
	struct reply *card = incident_card("Incident P44");
	struct sent s = { 0 };
	int stale = 0;
	char path[1024];

	install_in_channel(e);
	teams_env_connector(e, "POST", CHANNEL, "/activities", NULL, 403, NULL,
			    "{\"error\":{\"code\":\"BotNotInConversationRoster\","
			    "\"message\":\"The bot is not part of the conversation roster.\"}}");
	assert_int_equal(bot_post(e->bot, "teams", &to, card, on_sent, &s), T0_OK);
	assert_true(teams_env_run_until(e, sent_done, &s, 5000));
	assert_int_equal(s.rc, T0_EDENIED);
	assert_int_equal(store_conv_ref_get(e->bot->store, "teams", CHANNEL, NULL, &stale, NULL), T0_OK);
	assert_int_equal(stale, 1);
	assert_true(metrics_value("tier0_teams_conversations_gone_total", NULL) == 1);
	/* The next post is refused at once, without a call to Teams. */
	memset(&s, 0, sizeof(s));
	fake_bf_path(path, sizeof(path), CHANNEL, "/activities", NULL);
	assert_int_equal(bot_post(e->bot, "teams", &to, card, on_sent, &s), T0_ENOTFOUND);
	assert_int_equal(s.rc, T0_ENOTFOUND);
	teams_env_run_for(e, 50);
	assert_int_equal(fake_bf_count(e->fb, "POST", path), 1);
	/* Added back: the reference lives again. */
	install_in_channel(e);
	assert_int_equal(store_conv_ref_get(e->bot->store, "teams", CHANNEL, NULL, &stale, NULL), T0_OK);
	assert_int_equal(stale, 0);
	reply_free(card);
}

static void test_conversation_updates(void **state)
{
	struct teams_env *e = *state;
	json_t *act;
	char *tok;
	struct teams_env_result r;
	int stale = -1;

	/* A new channel of the team can be posted to. */
	act = teams_env_fixture(e, "conversationUpdate_channelCreated.json");
	tok = teams_env_token(e, act);
	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(store_conv_ref_get(e->bot->store, "teams",
					    "19:6d97d816470f481dbcda38244b98689a@thread.skype", NULL,
					    NULL, NULL), T0_OK);
	free(tok);

	/* A user leaving is no reason to stop posting... */
	json_decref(act);
	act = teams_env_fixture(e, "conversationUpdate_teamMemberRemoved.json");
	tok = teams_env_token(e, act);
	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(store_conv_ref_get(e->bot->store, "teams",
					    "19:efa9296d959346209fea44151c742e73@thread.skype", NULL,
					    &stale, NULL), T0_OK);
	assert_int_equal(stale, 0);
	free(tok);

	/* ...the bot leaving is. */
	json_array_append_new(json_object_get(act, "membersRemoved"),
			      json_pack("{s:s}", "id", "28:f5d48856-5b42-41a0-8c3a-c5f944b679b0"));
	tok = teams_env_token(e, act);
	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(store_conv_ref_get(e->bot->store, "teams",
					    "19:efa9296d959346209fea44151c742e73@thread.skype", NULL,
					    &stale, NULL), T0_OK);
	assert_int_equal(stale, 1);
	free(tok);
	json_decref(act);

	/* Personal install: reachable by conversation and by the person's AAD id. */
	act = teams_env_fixture(e, "installationUpdate_add.json");
	tok = teams_env_token(e, act);
	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(store_conv_ref_get(e->bot->store, "teams", CHANNEL, NULL, NULL, NULL), T0_OK);
	free(tok);
	json_decref(act);
	assert_true(metrics_value("tier0_teams_activities_total", "type=\"conversationUpdate\"") == 3);
	assert_true(metrics_value("tier0_teams_activities_total", "type=\"installationUpdate\"") == 1);
}

static void test_other_activity_types_acked_and_ignored(void **state)
{
	struct teams_env *e = *state;
	json_t *act = teams_env_fixture(e, "messageReaction_reactionsAdded.json");
	char *tok = teams_env_token(e, act);
	struct teams_env_result r;
	struct audit_find f = { .kind = "message.received" };

	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "");
	teams_env_run_for(e, 50);
	store_audit_each(e->bot->store, 0, NULL, find_audit, &f);
	assert_null(f.detail);
	assert_true(metrics_value("tier0_teams_activities_total", "type=\"messageReaction\"") == 1);
	free(tok);
	json_decref(act);

	/* Not an activity at all, but correctly signed: 400. */
	act = json_pack("{s:s}", "serviceUrl", fake_bf_service_url(e->fb));
	tok = teams_env_token(e, act);
	json_object_set_new(act, "channelId", json_string("msteams"));
	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.status, 400);
	free(tok);
	json_decref(act);
}

static void test_connector_401_fetches_new_token_once(void **state)
{
	struct teams_env *e = *state;
	struct reply_target to = { .channel = CHANNEL };
	struct reply *card = incident_card("Incident P45");
	struct sent s = { 0 };
	size_t before = fake_bf_count(e->fb, "POST", "/botframework.com/oauth2/v2.0/token");

	install_in_channel(e);
	teams_env_connector(e, "POST", CHANNEL, "/activities", NULL, 401, NULL,
			    "{\"message\":\"Authorization has been denied for this request.\"}");
	teams_env_connector(e, "POST", CHANNEL, "/activities", NULL, 201, NULL, "{\"id\":\"1:t\"}");
	assert_int_equal(bot_post(e->bot, "teams", &to, card, on_sent, &s), T0_OK);
	assert_true(teams_env_run_until(e, sent_done, &s, 5000));
	assert_int_equal(s.rc, T0_OK);
	assert_int_equal(fake_bf_count(e->fb, "POST", "/botframework.com/oauth2/v2.0/token"),
			 before + 1);
	reply_free(card);
}

struct storm {
	struct sent s[6];
};

static int storm_done(void *arg)
{
	struct storm *st = arg;

	for (int i = 0; i < 6; i++)
		if (!st->s[i].calls)
			return 0;
	return 1;
}

static void test_storm_posts_paced_and_coalesced(void **state)
{
	struct teams_env *e = *state;
	struct reply_target to = { .channel = CHANNEL };
	struct storm st;
	char path[1024], title[64];
	const struct fake_http_req *last;
	uint64_t t0;

	memset(&st, 0, sizeof(st));
	install_in_channel(e);
	teams_env_connector(e, "POST", CHANNEL, "/activities", NULL, 201, NULL, "{\"id\":\"1:s\"}");
	t0 = t0_mono_ns();
	for (int i = 0; i < 6; i++) {
		struct reply *card;

		snprintf(title, sizeof(title), "Alert %d: disk full", i + 1);
		card = incident_card(title);
		assert_int_equal(bot_post(e->bot, "teams", &to, card, on_sent, &st.s[i]), T0_OK);
		reply_free(card);
	}
	assert_true(teams_env_run_until(e, storm_done, &st, 8000));
	for (int i = 0; i < 6; i++)
		assert_int_equal(st.s[i].rc, T0_OK);
	fake_bf_path(path, sizeof(path), CHANNEL, "/activities", NULL);
	/* Two posts, paced 400 ms apart, then one digest of the four others. */
	assert_int_equal(fake_bf_count(e->fb, "POST", path), 3);
	assert_true((t0_mono_ns() - t0) / 1000000u >= 700);
	last = fake_bf_find(e->fb, "POST", path, 2);
	assert_non_null(strstr(last->body, "4 updates arrived"));
	assert_non_null(strstr(last->body, "Alert 3: disk full"));
	assert_non_null(strstr(last->body, "Alert 6: disk full"));
	assert_true(metrics_value("tier0_teams_coalesced_total", "kind=\"post\"") == 4);
}

/* A catalog User annotated with the Entra object id is found without asking Teams. */
static void test_identity_from_catalog_annotation(void **state)
{
	char dir[] = "/tmp/t0teamscat.XXXXXX", file[128], glob[128], members[1024];
	struct teams_env *e;
	json_t *act;
	char *tok;
	struct teams_env_result r;
	const char *conv;
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/users.yaml", dir);
	snprintf(glob, sizeof(glob), "%s/*.yaml", dir);
	fp = fopen(file, "w");
	assert_non_null(fp);
	fputs("apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: megan\n"
	      "  annotations:\n    graph.microsoft.com/user-id: 7FAF8AB2-3D56-4244-B585-20C8A42ED2B8\n"
	      "spec:\n  profile:\n    displayName: Megan Bowen\n    email: megan@contoso.example\n"
	      "  memberOf: []\n", fp);
	fclose(fp);
	memset(&approval, 0, sizeof(approval));
	handler_register_action("approval.", approval_fn);
	log_set_level(LOG_LEVEL_ERR);
	e = teams_env_new_catalog(glob, NULL, 1);
	assert_non_null(e);
	act = teams_env_fixture(e, "message_personal_1.json");
	conv = json_string_value(json_object_get(json_object_get(act, "conversation"), "id"));
	json_object_del(act, "text");
	json_object_set_new(act, "value", json_pack("{s:s, s:s}", "t0_action", "approval.approve",
						    "t0_value", "A5"));
	tok = teams_env_token(e, act);
	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.status, 200);
	wait_for(e, "POST", conv, "/activities", "1485983408511", 1, 5000);
	assert_int_equal(approval.calls, 1);
	assert_string_equal(approval.requester, "megan");
	/* No member lookup was needed. */
	fake_bf_path(members, sizeof(members), conv, "/members",
		     json_string_value(json_object_get(json_object_get(act, "from"), "id")));
	assert_int_equal(fake_bf_count(e->fb, "GET", members), 0);
	free(tok);
	json_decref(act);
	teams_env_free(e);
	handler_register_action("approval.", NULL);
	metrics_reset();
	unlink(file);
	rmdir(dir);
	(void)state;
}

static int is_ready(void *arg)
{
	return teams_ops.ready(((struct teams_env *)arg)->state);
}

static void test_readyz_false_while_tokens_cannot_be_obtained(void **state)
{
	struct teams_env *e = teams_env_new(NULL, 0);
	const char *tp = "/botframework.com/oauth2/v2.0/token";
	const char *bad = "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: "
			  "Invalid client secret provided.\"}";
	const char *good = "{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"t2\"}";

	assert_non_null(e);
	fake_http_clear(fake_bf_http(e->fb), "POST", tp);
	fake_http_add(fake_bf_http(e->fb), "POST", tp, 401, "Content-Type: application/json\r\n",
		      bad, strlen(bad), 0);
	teams_ops.start(e->state);
	teams_env_run_for(e, 300);
	assert_false(teams_ops.ready(e->state));
	assert_true(metrics_value("tier0_teams_token_requests_total", "result=\"error\"") >= 1);
	/* The secret is fixed: the retry (after 1 s) succeeds and the adapter is ready. */
	fake_http_clear(fake_bf_http(e->fb), "POST", tp);
	fake_http_add(fake_bf_http(e->fb), "POST", tp, 200, "Content-Type: application/json\r\n",
		      good, strlen(good), 0);
	assert_true(teams_env_run_until(e, is_ready, e, 5000));
	teams_env_free(e);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_invoke_action_execute_changes_state_updates_card_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invoke_late_answer_holding_card_then_update, setup_fast_invoke, teardown),
		cmocka_unit_test_setup_teardown(test_invoke_other_shapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_action_submit_fallback_updates_card, setup, teardown),
		cmocka_unit_test_setup_teardown(test_channel_mention_removed_reply_threaded, setup, teardown),
		cmocka_unit_test(test_text_clean_mentions_entities_markup),
		cmocka_unit_test(test_connector_urls),
		cmocka_unit_test_setup_teardown(test_proactive_post_from_stored_reference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proactive_post_without_reference_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connector_429_then_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_conversation_reported_and_marked_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conversation_updates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_activity_types_acked_and_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connector_401_fetches_new_token_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_storm_posts_paced_and_coalesced, setup_storm, teardown),
		cmocka_unit_test(test_readyz_false_while_tokens_cannot_be_obtained),
		cmocka_unit_test(test_identity_from_catalog_annotation),
		cmocka_unit_test(test_token_refreshed_ahead_of_expiry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
