/*
 * The core end to end in-process: the demo world, a real store, bot_handle.
 * What was answered, what the audit chain holds, de-duplication, reload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "bot/audit.h"
#include "bot/bot.h"
#include "bot/catalog.h"
#include "bot/config.h"
#include "bot/event.h"
#include "bot/handlers.h"
#include "bot/log.h"
#include "bot/oncall.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "store/store.h"

#define DEMO "config/demo/tier0.yaml"

static struct bot *demo_bot(void)
{
	struct config *cfg = NULL;
	struct bot_world *w = NULL;
	struct bot *b = NULL;
	char err[1024];

	assert_int_equal(config_load(DEMO, &cfg, err, sizeof(err)), T0_OK);
	free(cfg->store_path);
	cfg->store_path = strdup(":memory:");
	assert_int_equal(bot_world_build(cfg, &w, err, sizeof(err)), T0_OK);
	assert_int_equal(bot_new(w, &b, err, sizeof(err)), T0_OK);
	return b;
}

static int setup(void **state)
{
	log_set_level(LOG_LEVEL_ERR);
	t0_set_fake_now_ms(1764151200000LL); /* 2025-11-26T10:00:00Z */
	*state = demo_bot();
	return 0;
}

static int teardown(void **state)
{
	bot_free(*state);
	t0_set_fake_now_ms(0);
	return 0;
}

static struct event message(const char *text)
{
	struct event ev = {
		.kind = EVENT_MESSAGE,
		.actor = { .platform = "console", .user_id = "alice", .display_name = "Alice Martin" },
		.channel = "#test",
		.text = text,
	};

	return ev;
}

struct rows {
	int n;
	json_t *last_detail;
	char last_kind[64];
};

static int collect(void *arg, const struct audit_row *row)
{
	struct rows *r = arg;

	r->n++;
	json_decref(r->last_detail);
	r->last_detail = json_loads(row->detail, 0, NULL);
	snprintf(r->last_kind, sizeof(r->last_kind), "%s", row->kind);
	return 0;
}

static void test_router_answers_owner_and_audits_both_sides(void **state)
{
	struct bot *b = *state;
	struct event ev = message("who owns payment-api?");
	struct reply *r = bot_handle(b, &ev);
	struct rows rows = { 0 };
	int64_t count = 0, bad = 0;

	assert_non_null(r);
	assert_string_equal(r->text, "payment-api is owned by Payments Team");
	assert_string_equal(r->intent, "owner");
	reply_free(r);

	assert_int_equal(store_audit_each(b->store, 0, "#test", collect, &rows), T0_OK);
	assert_int_equal(rows.n, 2);
	assert_string_equal(rows.last_kind, "reply.sent");
	assert_string_equal(json_string_value(json_object_get(rows.last_detail, "intent")), "owner");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(rows.last_detail, "slots"), "service")),
			    "payment-api");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(rows.last_detail, "reply"), "text")),
			    "payment-api is owned by Payments Team");
	json_decref(rows.last_detail);
	assert_int_equal(audit_verify(b->store, &count, &bad), T0_OK);
	assert_int_equal(count, 2);
}

static void test_router_deduplicates_by_platform_and_event_id(void **state)
{
	struct bot *b = *state;
	struct event ev = message("ping");
	struct reply *r;
	int64_t count = 0, bad = 0;

	ev.event_id = "Ev0123";
	r = bot_handle(b, &ev);
	assert_non_null(r);
	assert_string_equal(r->text, "pong");
	reply_free(r);
	assert_null(bot_handle(b, &ev)); /* redelivery: handled once */
	ev.actor.platform = "slack";     /* same id on another platform is another event */
	r = bot_handle(b, &ev);
	assert_non_null(r);
	reply_free(r);
	assert_int_equal(audit_verify(b->store, &count, &bad), T0_OK);
	assert_int_equal(count, 4);
}

static void test_router_unknown_request_gets_help_not_silence(void **state)
{
	struct bot *b = *state;
	struct event ev = message("reboot payment-api");
	struct reply *r = bot_handle(b, &ev);

	assert_non_null(r);
	assert_string_equal(r->intent, "unknown");
	assert_non_null(strstr(r->text, "help"));
	assert_int_equal(r->visibility, REPLY_EPHEMERAL);
	reply_free(r);
}

static void test_router_slash_command_alias(void **state)
{
	struct bot *b = *state;
	struct event ev = message("checkout-web");
	struct reply *r;

	ev.kind = EVENT_COMMAND;
	ev.command = "/whoowns";
	r = bot_handle(b, &ev);
	assert_string_equal(r->text, "checkout-web is owned by Payments Team");
	reply_free(r);
	ev.command = "/nosuchcommand";
	r = bot_handle(b, &ev);
	assert_string_equal(r->intent, "unknown");
	reply_free(r);
}

static void test_router_near_miss_button_asks_again(void **state)
{
	struct bot *b = *state;
	struct event ev = message("who owns payment-ap1");
	struct event press = message(NULL);
	struct reply *r = bot_handle(b, &ev), *r2;

	assert_string_equal(r->text, "I don't know \"payment-ap1\". Did you mean payment-api?");
	assert_int_equal(r->nbuttons, 1);
	assert_string_equal(r->buttons[0].action_id, "retry");
	assert_string_equal(r->buttons[0].value, "who owns payment-api");
	press.kind = EVENT_INTERACTION;
	press.action_id = r->buttons[0].action_id;
	press.value = r->buttons[0].value;
	r2 = bot_handle(b, &press);
	assert_string_equal(r2->text, "payment-api is owned by Payments Team");
	reply_free(r2);
	reply_free(r);

	press.action_id = "approval.approve";
	press.value = "stale-id";
	r2 = bot_handle(b, &press);
	assert_string_equal(r2->text, "That button is no longer active.");
	reply_free(r2);
}

static void test_router_overlong_message_is_refused_and_audited(void **state)
{
	struct bot *b = *state;
	char *big = malloc(10001);
	struct event ev;
	struct reply *r;
	int64_t count = 0, bad = 0;

	memset(big, 'a', 10000);
	big[10000] = '\0';
	ev = message(big);
	r = bot_handle(b, &ev);
	assert_string_equal(r->intent, "too_long");
	reply_free(r);
	free(big);
	assert_int_equal(audit_verify(b->store, &count, &bad), T0_OK);
	assert_int_equal(count, 2);
}

static void test_router_invalid_utf8_is_answered_and_audited_not_dropped(void **state)
{
	struct bot *b = *state;
	struct event ev = message("echo caf\xe9 \xff\xfe ok");
	struct reply *r = bot_handle(b, &ev);
	struct rows rows = { 0 };
	int64_t count = 0, bad = 0;

	assert_non_null(r);
	reply_free(r);
	assert_int_equal(store_audit_each(b->store, 0, "#test", collect, &rows), T0_OK);
	assert_int_equal(rows.n, 2);
	assert_string_equal(rows.last_kind, "reply.sent");
	json_decref(rows.last_detail);
	assert_int_equal(audit_verify(b->store, &count, &bad), T0_OK);
	assert_int_equal(count, 2);
}

static int first_detail(void *arg, const struct audit_row *row)
{
	json_t **out = arg;

	if (!*out)
		*out = json_loads(row->detail, 0, NULL);
	return 0;
}

static void test_router_audit_keeps_text_with_invalid_bytes(void **state)
{
	struct bot *b = *state;
	struct event ev = message("who owns caf\xe9");
	struct reply *r = bot_handle(b, &ev);
	json_t *d = NULL;

	reply_free(r);
	assert_int_equal(store_audit_each(b->store, 0, "#test", first_detail, &d), T0_OK);
	assert_non_null(d);
	assert_string_equal(json_string_value(json_object_get(d, "text")), "who owns caf?");
	json_decref(d);
}

static void test_router_blast_radius_lists_transitive_dependents(void **state)
{
	struct bot *b = *state;
	struct event ev = message("what depends on payments-db");
	struct reply *r = bot_handle(b, &ev);

	assert_string_equal(r->text, "If payments-db is down, 3 entities may be affected (1 direct)");
	assert_int_equal(r->nsections, 3);
	assert_string_equal(r->sections[0].fields[0].label, "payment-api");
	assert_string_equal(r->sections[2].title, "Depth 3");
	assert_string_equal(r->sections[2].fields[0].label, "checkout-web");
	reply_free(r);
}

static void test_world_oncall_for_demo_entities(void **state)
{
	struct bot *b = *state;
	struct oncall_answer oa;
	int64_t at = 0;

	assert_int_equal(oncall_parse_time("2026-01-05T09:00:00Z", 0, &at), 0);
	assert_int_equal(oncall_for_entity(b->world->oncall, b->world->cat,
					   catalog_find(b->world->cat, "payment-api"), at, &oa),
			 T0_OK);
	assert_string_equal(oa.schedule, "payments-primary");
	assert_string_equal(oa.shifts[0].user, "alice");
	assert_int_equal(oncall_for_entity(b->world->oncall, b->world->cat,
					   catalog_get(b->world->cat, "user:default/erin"), at, &oa),
			 T0_OK);
	assert_string_equal(oa.schedule, "identity-primary");
	assert_int_equal(oncall_for_entity(b->world->oncall, b->world->cat,
					   catalog_get(b->world->cat, "group:default/engineering"),
					   at, &oa),
			 T0_ENOTFOUND);
}

static struct bot_pending *parked;

/* A handler that answers later, like one waiting on PagerDuty or an LLM. */
static int slow_ping(struct bot *b, const struct handler_req *req, struct reply *r)
{
	parked = bot_pending_take(req);
	assert_non_null(parked);
	assert_null(bot_pending_take(req)); /* only once */
	return T0_OK;
}

struct got {
	int calls;
	struct reply *r;
};

static void got_reply(void *arg, struct reply *r)
{
	struct got *g = arg;

	g->calls++;
	g->r = r;
}

static void test_router_async_handler_answers_later_and_is_audited(void **state)
{
	struct bot *b = *state;
	struct event ev = message("ping");
	struct got g = { 0 };
	struct reply *late, *r;
	int64_t count = 0, bad = 0;

	assert_int_equal(handler_register("ping", slow_ping), T0_OK);
	bot_dispatch(b, &ev, got_reply, &g);
	assert_int_equal(g.calls, 0);
	assert_int_equal(b->pending, 1);
	assert_int_equal(audit_verify(b->store, &count, &bad), T0_OK);
	assert_int_equal(count, 1); /* the message is on record before the answer */

	late = reply_new();
	reply_set_text(late, "pong, eventually");
	bot_pending_finish(parked, late);
	assert_int_equal(g.calls, 1);
	assert_string_equal(g.r->text, "pong, eventually");
	assert_string_equal(g.r->intent, "ping");
	assert_int_equal(b->pending, 0);
	reply_free(g.r);
	assert_int_equal(audit_verify(b->store, &count, &bad), T0_OK);
	assert_int_equal(count, 2);

	/* A synchronous caller gets a holding answer; the late reply is freed, not leaked. */
	r = bot_handle(b, &ev);
	assert_string_equal(r->intent, "pending");
	reply_free(r);
	bot_pending_finish(parked, NULL);
	assert_int_equal(b->pending, 0);
	assert_int_equal(handler_register("ping", NULL), T0_OK);
	r = bot_handle(b, &ev);
	assert_string_equal(r->text, "pong");
	reply_free(r);
}

static void test_router_registered_button_prefix_gets_the_click(void **state)
{
	struct bot *b = *state;
	struct event ev = message(NULL);
	struct reply *r;

	ev.kind = EVENT_INTERACTION;
	ev.action_id = "approval.approve";
	ev.value = "req-1";
	assert_int_equal(handler_register_action("approval.", slow_ping), T0_OK);
	parked = NULL;
	r = bot_handle(b, &ev);
	assert_non_null(parked);
	bot_pending_finish(parked, NULL);
	reply_free(r);
	assert_int_equal(handler_register_action("approval.", NULL), T0_OK);
	r = bot_handle(b, &ev);
	assert_string_equal(r->text, "That button is no longer active.");
	reply_free(r);
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_world_reload_keeps_old_world_on_error(void **state)
{
	char dir[] = "/tmp/t0router.XXXXXX", path[128], err[1024];
	struct config *cfg = NULL;
	struct bot_world *w = NULL, *before;
	struct bot *b = NULL;
	struct event ev = message("status");
	struct reply *r;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.yaml", dir);
	write_file(path, "store:\n  path: \":memory:\"\nintents:\n  rules:\n"
			 "    - {name: s, pattern: '^status$', reply: 'all good'}\n");
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), T0_OK);
	assert_int_equal(bot_world_build(cfg, &w, err, sizeof(err)), T0_OK);
	assert_int_equal(bot_new(w, &b, err, sizeof(err)), T0_OK);
	r = bot_handle(b, &ev);
	assert_string_equal(r->text, "all good");
	reply_free(r);

	before = b->world;
	write_file(path, "intents:\n  rules:\n    - {name: s, pattern: '^(status$', reply: x}\n");
	assert_int_not_equal(bot_reload(b, err, sizeof(err)), T0_OK);
	assert_non_null(strstr(err, "t.yaml:3:"));
	assert_ptr_equal(b->world, before);
	r = bot_handle(b, &ev);
	assert_string_equal(r->text, "all good");
	reply_free(r);

	write_file(path, "intents:\n  rules:\n    - {name: s, pattern: '^status$', reply: 'degraded'}\n");
	assert_int_equal(bot_reload(b, err, sizeof(err)), T0_OK);
	r = bot_handle(b, &ev);
	assert_string_equal(r->text, "degraded");
	reply_free(r);

	bot_free(b);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_router_answers_owner_and_audits_both_sides),
		T(test_router_deduplicates_by_platform_and_event_id),
		T(test_router_unknown_request_gets_help_not_silence),
		T(test_router_slash_command_alias),
		T(test_router_near_miss_button_asks_again),
		T(test_router_overlong_message_is_refused_and_audited),
		T(test_router_invalid_utf8_is_answered_and_audited_not_dropped),
		T(test_router_audit_keeps_text_with_invalid_bytes),
		T(test_router_blast_radius_lists_transitive_dependents),
		T(test_world_oncall_for_demo_entities),
		T(test_router_async_handler_answers_later_and_is_audited),
		T(test_router_registered_button_prefix_gets_the_click),
		cmocka_unit_test(test_world_reload_keeps_old_world_on_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
