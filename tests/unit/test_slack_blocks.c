/*
 * struct reply -> Block Kit: golden files for typical replies
 * (the JSON files in tests/golden/slack/; T0_UPDATE_GOLDEN=1 rewrites them, check the
 * diff by eye), mrkdwn escaping, Slack's limits (split or visibly
 * truncated), buttons (styles, confirm dialogs, opaque values), fallback text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adapters/chat/slack/slack_int.h"
#include "bot/reply.h"
#include "bot/t0.h"

#define GOLDEN "tests/golden/slack/"

static char *read_all(const char *path)
{
	FILE *fp = fopen(path, "rb");
	long n;
	char *b;

	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	if (b && fread(b, 1, (size_t)n, fp) != (size_t)n) {
		free(b);
		b = NULL;
	}
	if (b)
		b[n] = '\0';
	fclose(fp);
	return b;
}

static void golden(const char *name, const json_t *got)
{
	char path[256];
	char *text = json_dumps(got, JSON_INDENT(2) | JSON_SORT_KEYS), *want;
	size_t n;

	assert_non_null(text);
	n = strlen(text);
	snprintf(path, sizeof(path), GOLDEN "%s.json", name);
	if (getenv("T0_UPDATE_GOLDEN")) {
		FILE *fp = fopen(path, "w");

		assert_non_null(fp);
		fwrite(text, 1, n, fp);
		fputc('\n', fp);
		fclose(fp);
	}
	want = read_all(path);
	if (!want)
		fail_msg("missing %s (run with T0_UPDATE_GOLDEN=1)", path);
	if (strlen(want) && want[strlen(want) - 1] == '\n')
		want[strlen(want) - 1] = '\0';
	if (strcmp(want, text) != 0)
		fail_msg("%s differs:\n%s", path, text);
	free(want);
	free(text);
}

static json_t *blocks_of(json_t *msgs, size_t i)
{
	return json_object_get(json_array_get(msgs, i), "blocks");
}

static void test_slack_blocks_ownership_answer_golden(void **state)
{
	struct reply *r = reply_new();
	json_t *msgs;

	reply_set_text(r, "payment-api is owned by payments-team");
	reply_add_section(r, "payments-team", "Card payments & refunds");
	reply_add_field(r, "On call", "alice (until Monday 09:00 UTC)");
	reply_add_field(r, "Channel", "#payments-oncall");
	reply_add_field(r, "Escalation", "maria");
	reply_add_context(r, "From the catalog: config/demo/catalog/payments.yaml");
	reply_set_intent(r, "owner");
	msgs = slack_render(r, SLACK_MAX_REPLY_MESSAGES);
	assert_int_equal(json_array_size(msgs), 1);
	golden("ownership", msgs);
	json_decref(msgs);
	reply_free(r);
}

static void test_slack_blocks_approval_buttons_golden(void **state)
{
	struct reply *r = reply_new();
	json_t *msgs, *actions, *approve, *deny;

	reply_set_text(r, "Approval needed: restart payment-api in prod");
	reply_add_section(r, NULL, "Requested by sam for INC-42. Risk: medium.");
	reply_add_button(r, "Approve", "approval.approve", "apr_7f3c", REPLY_STYLE_PRIMARY,
			 "This restarts all prod pods of payment-api.");
	reply_add_button(r, "Deny", "approval.deny", "apr_7f3c", REPLY_STYLE_DANGER, NULL);
	reply_add_button(r, "Details", "approval.details", "apr_7f3c", REPLY_STYLE_DEFAULT, NULL);
	reply_add_context(r, "req apr_7f3c, expires in 15 min");
	msgs = slack_render(r, SLACK_MAX_REPLY_MESSAGES);
	golden("approval", msgs);
	actions = json_array_get(blocks_of(msgs, 0), 2);
	assert_string_equal(json_string_value(json_object_get(actions, "type")), "actions");
	approve = json_array_get(json_object_get(actions, "elements"), 0);
	deny = json_array_get(json_object_get(actions, "elements"), 1);
	/* values are opaque ids, passed through untouched */
	assert_string_equal(json_string_value(json_object_get(approve, "value")), "apr_7f3c");
	assert_string_equal(json_string_value(json_object_get(approve, "style")), "primary");
	assert_non_null(json_object_get(approve, "confirm"));
	/* a danger button always asks first */
	assert_string_equal(json_string_value(json_object_get(deny, "style")), "danger");
	assert_string_equal(json_string_value(json_object_get(json_object_get(deny, "confirm"), "style")),
			    "danger");
	assert_null(json_object_get(json_array_get(json_object_get(actions, "elements"), 2), "confirm"));
	json_decref(msgs);
	reply_free(r);
}

static void test_slack_blocks_escape_control_characters_only(void **state)
{
	struct reply *r = reply_new();
	json_t *msgs;
	char *e = slack_escape("a < b && c > d *bold* <@U123> _x_");

	assert_string_equal(e, "a &lt; b &amp;&amp; c &gt; d *bold* &lt;@U123&gt; _x_");
	free(e);
	reply_set_text(r, "<!channel> wake up & <https://evil.example|click>");
	reply_add_field(r, "a<b", "c>d");
	reply_add_button(r, "<b>", "x", "<opaque & raw>", REPLY_STYLE_DEFAULT, NULL);
	reply_add_context(r, "1 < 2");
	msgs = slack_render(r, 1);
	golden("escaping", msgs);
	json_decref(msgs);
	reply_free(r);
}

static void test_slack_blocks_long_text_split_into_sections(void **state)
{
	struct reply *r = reply_new();
	char *big = malloc(7001);
	json_t *msgs, *b;
	size_t i, total = 0;

	for (i = 0; i < 7000; i++)
		big[i] = (i % 100 == 99) ? '\n' : 'a' + (char)(i % 26);
	big[7000] = '\0';
	reply_add_section(r, "Log", big);
	msgs = slack_render(r, SLACK_MAX_REPLY_MESSAGES);
	assert_int_equal(json_array_size(msgs), 1);
	assert_true(json_array_size(blocks_of(msgs, 0)) >= 3);
	json_array_foreach(blocks_of(msgs, 0), i, b) {
		const char *t = json_string_value(json_object_get(json_object_get(b, "text"), "text"));

		assert_true(strlen(t) <= SLACK_MAX_SECTION_TEXT);
		total += strlen(t);
	}
	assert_true(total >= 7000); /* nothing dropped */
	/* the fallback text is always there */
	assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "text")), "Log");
	json_decref(msgs);
	free(big);
	reply_free(r);
}

static void test_slack_blocks_code_fence_kept_balanced_across_sections(void **state)
{
	struct reply *r = reply_new();
	char *big = malloc(5000);
	json_t *msgs, *b;
	size_t i;

	memcpy(big, "```\n", 4);
	for (i = 4; i < 4990; i++)
		big[i] = i % 80 == 0 ? '\n' : 'x';
	memcpy(big + 4990, "\n```", 4);
	big[4994] = '\0';
	reply_set_text(r, "%s", big);
	msgs = slack_render(r, 1);
	json_array_foreach(blocks_of(msgs, 0), i, b) {
		const char *t = json_string_value(json_object_get(json_object_get(b, "text"), "text"));
		int fences = 0;

		for (const char *p = t; (p = strstr(p, "```")); p += 3)
			fences++;
		assert_int_equal(fences % 2, 0);
	}
	json_decref(msgs);
	free(big);
	reply_free(r);
}

static void test_slack_blocks_many_sections_split_across_messages(void **state)
{
	struct reply *r = reply_new();
	json_t *msgs;

	reply_set_text(r, "Blast radius of payments-db");
	for (int i = 0; i < 49; i++) {
		char t[32];

		snprintf(t, sizeof(t), "service-%d", i);
		reply_add_section(r, t, "depends on it directly");
	}
	reply_add_button(r, "Page the owners", "page", "p1", REPLY_STYLE_PRIMARY, NULL);
	msgs = slack_render(r, SLACK_MAX_REPLY_MESSAGES);
	assert_int_equal(json_array_size(msgs), 2);
	assert_int_equal(json_array_size(blocks_of(msgs, 0)), SLACK_MAX_BLOCKS);
	assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "text")),
			    "Blast radius of payments-db");
	assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 1), "text")),
			    "(continued)");
	/* the buttons come last */
	{
		json_t *last = blocks_of(msgs, 1);
		json_t *b = json_array_get(last, json_array_size(last) - 1);

		assert_string_equal(json_string_value(json_object_get(b, "type")), "actions");
	}
	json_decref(msgs);
	reply_free(r);
}

static void test_slack_blocks_truncated_visibly_buttons_kept(void **state)
{
	struct reply *r = reply_new();
	json_t *msgs, *blocks, *b;
	char *dump;
	size_t i;
	int actions = 0;

	for (int k = 0; k < 50; k++)
		reply_add_section(r, "part", "some words about the incident that go on for a while");
	reply_add_button(r, "Ack", "ack", "a1", REPLY_STYLE_PRIMARY, NULL);
	reply_add_context(r, "small print");
	msgs = slack_render(r, 1);
	assert_int_equal(json_array_size(msgs), 1);
	blocks = blocks_of(msgs, 0);
	assert_true(json_array_size(blocks) <= SLACK_MAX_BLOCKS);
	json_array_foreach(blocks, i, b)
		actions += strcmp(json_string_value(json_object_get(b, "type")), "actions") == 0;
	assert_int_equal(actions, 1);
	dump = json_dumps(blocks, 0);
	assert_non_null(strstr(dump, "truncated"));
	assert_non_null(strstr(dump, "small print"));
	free(dump);
	json_decref(msgs);
	reply_free(r);
}

static void test_slack_blocks_fields_grouped_by_ten(void **state)
{
	struct reply *r = reply_new();
	json_t *msgs, *blocks;

	reply_add_section(r, "Services", NULL);
	for (int i = 0; i < 12; i++)
		reply_add_field(r, "svc", "owner");
	msgs = slack_render(r, 1);
	blocks = blocks_of(msgs, 0);
	assert_int_equal(json_array_size(blocks), 2);
	assert_int_equal(json_array_size(json_object_get(json_array_get(blocks, 0), "fields")), 10);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(blocks, 0), "text"), "text")),
			    "*Services*");
	assert_int_equal(json_array_size(json_object_get(json_array_get(blocks, 1), "fields")), 2);
	json_decref(msgs);
	reply_free(r);
}

static void test_slack_blocks_repeated_action_id_goes_to_another_block(void **state)
{
	struct reply *r = reply_new();
	json_t *msgs, *blocks;

	reply_set_text(r, "Did you mean?");
	reply_add_button(r, "payment-api", "retry", "who owns payment-api", REPLY_STYLE_DEFAULT, NULL);
	reply_add_button(r, "payments-db", "retry", "who owns payments-db", REPLY_STYLE_DEFAULT, NULL);
	msgs = slack_render(r, 1);
	blocks = blocks_of(msgs, 0);
	assert_int_equal(json_array_size(blocks), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(blocks, 1), "type")), "actions");
	assert_string_equal(json_string_value(json_object_get(json_array_get(blocks, 2), "type")), "actions");
	json_decref(msgs);
	reply_free(r);
}

static void test_slack_blocks_button_limits(void **state)
{
	struct reply *r = reply_new();
	char label[200], value[2100];
	json_t *msgs, *el;

	memset(label, 'L', sizeof(label) - 1);
	label[sizeof(label) - 1] = '\0';
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	reply_add_button(r, label, "ok", "1", REPLY_STYLE_DEFAULT, NULL);
	/* a value Slack would refuse is not cut (that would change its meaning): left out */
	reply_add_button(r, "too long", "bad", value, REPLY_STYLE_DEFAULT, NULL);
	msgs = slack_render(r, 1);
	el = json_object_get(json_array_get(blocks_of(msgs, 0), 0), "elements");
	assert_int_equal(json_array_size(el), 1);
	assert_true(strlen(json_string_value(json_object_get(
			    json_object_get(json_array_get(el, 0), "text"), "text"))) <= SLACK_MAX_BUTTON_TEXT * 3);
	json_decref(msgs);
	reply_free(r);
}

static void test_slack_blocks_empty_reply_still_has_fallback_text(void **state)
{
	struct reply *r = reply_new();
	json_t *msgs = slack_render(r, 1);

	assert_int_equal(json_array_size(msgs), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "text")),
			    "(no text)");
	json_decref(msgs);
	reply_free(r);
}

static void test_slack_blocks_invalid_utf8_does_not_break_json(void **state)
{
	struct reply *r = reply_new();
	json_t *msgs;
	const char *t;

	reply_set_text(r, "bad \xff\xfe bytes");
	msgs = slack_render(r, 1);
	assert_non_null(msgs);
	t = json_string_value(json_object_get(json_array_get(msgs, 0), "text"));
	assert_non_null(t);
	assert_non_null(strstr(t, "bytes"));
	json_decref(msgs);
	reply_free(r);
}

static void test_slack_truncate_keeps_characters_and_entities_whole(void **state)
{
	char *t = slack_truncate("ééééé", 3);

	/* two characters and the marker: no half character */
	assert_string_equal(t, "éé…");
	free(t);
	t = slack_truncate("abcdefghijklmnopqrstuvwxyz0123456789&amp;&amp;&amp;&amp;", 44);
	assert_null(strstr(t, "&am…"));
	assert_non_null(strstr(t, "(truncated)"));
	free(t);
	t = slack_truncate("short", 10);
	assert_string_equal(t, "short");
	free(t);
}

static void test_slack_decision_drops_buttons_keeps_content(void **state)
{
	json_t *orig = json_loads("[{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":\"Approve?\"}},"
				  "{\"type\":\"actions\",\"elements\":[]}]", 0, NULL);
	struct reply *r = reply_new();
	json_t *msg;

	reply_set_text(r, "Approved.");
	msg = slack_render_decision(orig, "Approve?", "<@U9> chose *Approve*", r);
	golden("decision", msg);
	json_decref(msg);
	json_decref(orig);
	reply_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slack_blocks_ownership_answer_golden),
		cmocka_unit_test(test_slack_blocks_approval_buttons_golden),
		cmocka_unit_test(test_slack_blocks_escape_control_characters_only),
		cmocka_unit_test(test_slack_blocks_long_text_split_into_sections),
		cmocka_unit_test(test_slack_blocks_code_fence_kept_balanced_across_sections),
		cmocka_unit_test(test_slack_blocks_many_sections_split_across_messages),
		cmocka_unit_test(test_slack_blocks_truncated_visibly_buttons_kept),
		cmocka_unit_test(test_slack_blocks_fields_grouped_by_ten),
		cmocka_unit_test(test_slack_blocks_repeated_action_id_goes_to_another_block),
		cmocka_unit_test(test_slack_blocks_button_limits),
		cmocka_unit_test(test_slack_blocks_empty_reply_still_has_fallback_text),
		cmocka_unit_test(test_slack_blocks_invalid_utf8_does_not_break_json),
		cmocka_unit_test(test_slack_truncate_keeps_characters_and_entities_whole),
		cmocka_unit_test(test_slack_decision_drops_buttons_keeps_content),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
