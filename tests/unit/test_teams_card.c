/*
 * Teams rendering: golden Adaptive Cards for typical replies (tests/golden/teams/),
 * markdown escaping, and visible trimming under the size budget.
 * Regenerate the golden files with T0_UPDATE_GOLDEN=1 and read the diff.
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

#include "adapters/chat/teams/teams_card.h"
#include "bot/reply.h"
#include "bot/t0.h"

#define GOLDEN "tests/golden/teams/"

static void golden(const char *name, json_t *j)
{
	char path[256], *got = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	char want[65536];
	size_t n;
	FILE *fp;

	assert_non_null(got);
	snprintf(path, sizeof(path), GOLDEN "%s", name);
	if (getenv("T0_UPDATE_GOLDEN")) {
		fp = fopen(path, "w");
		assert_non_null(fp);
		fprintf(fp, "%s\n", got);
		fclose(fp);
	}
	fp = fopen(path, "r");
	if (!fp)
		print_error("missing %s; run with T0_UPDATE_GOLDEN=1\n", path);
	assert_non_null(fp);
	n = fread(want, 1, sizeof(want) - 1, fp);
	fclose(fp);
	want[n] = '\0';
	if (n && want[n - 1] == '\n')
		want[n - 1] = '\0';
	if (strcmp(got, want))
		print_error("%s differs:\n%s\n", path, got);
	assert_string_equal(got, want);
	free(got);
}

static size_t compact_size(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	size_t n = strlen(s);

	free(s);
	return n;
}

static void test_card_plain_reply_is_escaped_markdown_text(void **state)
{
	struct reply *r = reply_new();
	json_t *a;
	int trimmed = -1;

	reply_set_text(r, "payments_api is owned by *payments* <team> & co.\n1. first\n- see "
			  "https://backstage.example.com/catalog/payments_api.");
	a = teams_activity_build(r, 28000, &trimmed);
	assert_non_null(a);
	assert_int_equal(trimmed, 0);
	assert_null(json_object_get(a, "attachments"));
	assert_string_equal(json_string_value(json_object_get(a, "text")),
			    "payments\\_api is owned by \\*payments\\* &lt;team&gt; &amp; co.\n1\\. "
			    "first\n\\- see https://backstage.example.com/catalog/payments_api.");
	golden("plain.json", a);
	json_decref(a);
	reply_free(r);
}

static struct reply *incident_reply(void)
{
	struct reply *r = reply_new();

	reply_set_text(r, "Incident P42: checkout error rate 12%%");
	reply_add_section(r, "Ownership", NULL);
	reply_add_field(r, "Team", "payments");
	reply_add_field(r, "On call", "Sam Okoro");
	reply_add_section(r, "Recent changes", "Two deploys in the last hour.");
	reply_add_field(r, "checkout v2.3.1", "deployed 09:12 by maria (argo)");
	reply_add_field(r, "payments_api v7.0.0", "deployed 09:40 by sam (github)");
	reply_add_field(r, "Runbook", "https://runbooks.example.com/checkout_5xx");
	reply_add_field(r, "Dashboard", "https://grafana.example.com/d/checkout");
	reply_add_context(r, "Asked by Maria Santos · rule incident-context");
	reply_add_button(r, "Acknowledge", "incident.ack", "P42", REPLY_STYLE_PRIMARY, NULL);
	reply_add_button(r, "Roll back checkout", "approval.request", "a1b2c3", REPLY_STYLE_DANGER,
			 "Roll checkout back to v2.3.0 in production?");
	return r;
}

static void test_card_incident_golden(void **state)
{
	struct reply *r = incident_reply();
	json_t *a, *card, *body, *set, *exec, *fb;
	int trimmed = -1;

	a = teams_activity_build(r, 28000, &trimmed);
	assert_non_null(a);
	assert_int_equal(trimmed, 0);
	assert_string_equal(json_string_value(json_object_get(a, "type")), "message");
	assert_null(json_object_get(a, "text")); /* text next to a card splits the message */
	card = json_object_get(json_array_get(json_object_get(a, "attachments"), 0), "content");
	assert_string_equal(json_string_value(json_object_get(card, "version")), "1.5");
	body = json_object_get(card, "body");
	/* headline, Ownership title, ColumnSet, changes title, text, FactSet, context, ActionSet */
	assert_int_equal(json_array_size(body), 8);
	assert_string_equal(json_string_value(json_object_get(json_array_get(body, 2), "type")),
			    "ColumnSet");
	assert_string_equal(json_string_value(json_object_get(json_array_get(body, 5), "type")),
			    "FactSet");
	set = json_array_get(body, 7);
	assert_string_equal(json_string_value(json_object_get(set, "type")), "ActionSet");
	exec = json_array_get(json_object_get(set, "actions"), 0);
	assert_string_equal(json_string_value(json_object_get(exec, "type")), "Action.Execute");
	assert_string_equal(json_string_value(json_object_get(exec, "verb")), "incident.ack");
	assert_string_equal(json_string_value(json_object_get(json_object_get(exec, "data"),
							      TEAMS_DATA_VALUE)), "P42");
	fb = json_object_get(exec, "fallback");
	assert_string_equal(json_string_value(json_object_get(fb, "type")), "Action.Submit");
	/* The dangerous one asks first. */
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(set, "actions"), 1), "type")),
			    "Action.ShowCard");
	golden("incident.json", a);
	json_decref(a);

	card = teams_card_build(r, 28000, NULL);
	assert_string_equal(json_string_value(json_object_get(card, "type")), "AdaptiveCard");
	json_decref(card);
	reply_free(r);
}

static void test_card_too_large_is_trimmed_visibly(void **state)
{
	struct reply *r = reply_new();
	char big[3000], label[32];
	json_t *a, *body, *last_text = NULL;
	int trimmed = 0;
	size_t i;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	reply_set_text(r, "A very long answer");
	for (i = 0; i < 30; i++) {
		snprintf(label, sizeof(label), "Section %zu", i);
		reply_add_section(r, label, big);
		reply_add_field(r, "field", big);
	}
	reply_add_button(r, "Approve", "approval.approve", "v1", REPLY_STYLE_PRIMARY, NULL);
	a = teams_activity_build(r, 6000, &trimmed);
	assert_non_null(a);
	assert_int_equal(trimmed, 1);
	assert_true(compact_size(a) <= 6000);
	body = json_object_get(json_object_get(json_array_get(json_object_get(a, "attachments"), 0),
					       "content"), "body");
	for (i = 0; i < json_array_size(body); i++) {
		json_t *el = json_array_get(body, i);

		if (!strcmp(json_string_value(json_object_get(el, "type")), "TextBlock"))
			last_text = el;
	}
	assert_non_null(last_text);
	assert_non_null(strstr(json_string_value(json_object_get(last_text, "text")),
			       "Trimmed to fit a Teams message"));
	/* The buttons survive any trimming: a decision must stay possible. */
	assert_string_equal(json_string_value(json_object_get(json_array_get(body, json_array_size(body) - 1),
							      "type")), "ActionSet");
	json_decref(a);

	/* A long plain reply is cut with a mark, and still fits. */
	reply_free(r);
	r = reply_new();
	{
		char *huge = malloc(REPLY_MAX_TEXT);

		memset(huge, 'y', REPLY_MAX_TEXT - 1);
		huge[REPLY_MAX_TEXT - 1] = '\0';
		reply_set_text(r, "%s", huge);
		free(huge);
	}
	a = teams_activity_build(r, 2000, &trimmed);
	assert_non_null(a);
	assert_int_equal(trimmed, 1);
	assert_true(compact_size(a) <= 2000);
	assert_non_null(strstr(json_string_value(json_object_get(a, "text")), "(cut)"));
	json_decref(a);
	reply_free(r);
}

static void test_card_escape_keeps_urls_and_fixes_utf8(void **state)
{
	char *s = teams_md_escape("see https://x.example/a_b*c and _this_ \xff ok é", 0);

	assert_string_equal(s, "see https://x.example/a_b*c and \\_this\\_ ? ok é");
	free(s);
	s = teams_md_escape("# title\n  > quote\n12) twelve | pipe `code` [l](u) a-b", 0);
	assert_string_equal(s, "\\# title\n  \\> quote\n12\\) twelve \\| pipe \\`code\\` \\[l\\](u) a-b");
	free(s);
	s = teams_md_escape("<at>x</at>", 0);
	assert_string_equal(s, "<at>x</at>"); /* cards show it as text; html=1 escapes it */
	free(s);
	s = teams_md_escape("<at>x</at>", 1);
	assert_string_equal(s, "&lt;at&gt;x&lt;/at&gt;");
	free(s);
}

static void test_card_holding_golden(void **state)
{
	json_t *c = teams_card_holding("Roll back checkout");

	assert_non_null(c);
	golden("holding.json", c);
	json_decref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_card_plain_reply_is_escaped_markdown_text),
		cmocka_unit_test(test_card_incident_golden),
		cmocka_unit_test(test_card_too_large_is_trimmed_visibly),
		cmocka_unit_test(test_card_escape_keeps_urls_and_fixes_utf8),
		cmocka_unit_test(test_card_holding_golden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
