/*
 * Guardrails: secret redaction (token formats, configured secrets, JSON
 * mode), cleaning of invisible and bidi characters with bounded truncation,
 * rendering of model text without invented links and mentions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bot/llm_guard.h"

static void redacts(const char *in, const char *want, int want_count)
{
	int n = -1;
	char *out = guard_redact(in, NULL, 0, 0, &n);

	assert_non_null(out);
	if (strcmp(out, want) != 0)
		fail_msg("redact(%s)\n got: %s\nwant: %s", in, out, want);
	assert_int_equal(n, want_count);
	free(out);
}

static void test_guard_redacts_token_formats(void **state)
{
	redacts("slack xoxb-1234567890-0987654321-AbCdEfGhIj done", "slack [REDACTED] done", 1);
	redacts("app xapp-1-A0123456789-1234567890123-abcdef", "app [REDACTED]", 1);
	redacts("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789.", "gh [REDACTED].", 1);
	redacts("pat github_pat_11ABCDEFG0123456789_abcdefghij", "pat [REDACTED]", 1);
	redacts("openai sk-proj-abcdefghijklmnopqrstuvwx", "openai [REDACTED]", 1);
	redacts("anthropic=sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "anthropic=[REDACTED]", 1);
	redacts("gitlab glpat-abcdefghijklmnopqrst", "gitlab [REDACTED]", 1);
	redacts("aws AKIAIOSFODNN7EXAMPLE,ASIAIOSFODNN7EXAMPLE", "aws [REDACTED],[REDACTED]", 2);
	redacts("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_sig-sig",
		"Authorization: Bearer [REDACTED]", 1);
	redacts("authorization: bearer abcdefghijklmnopqrstuvwxyz==", "authorization: bearer [REDACTED]",
		1);
	redacts("post to https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX now",
		"post to https://hooks.slack.com/services/[REDACTED] now", 1);
	redacts("key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\nok",
		"key:\n[REDACTED PEM BLOCK]\nok", 1);
	redacts("cut -----BEGIN PRIVATE KEY-----\nMIIE", "cut [REDACTED PEM BLOCK]", 1);
}

static void test_guard_leaves_ordinary_text_alone(void **state)
{
	redacts("use sk-learn and task-1234, ask-me-anything, risk-free", "use sk-learn and task-1234, "
		"ask-me-anything, risk-free", 0);
	redacts("ghp_short xoxb-123 AKIA1234 TAKIAIOSFODNN7EXAMPLE AKIAIOSFODNN7EXAMPLEX",
		"ghp_short xoxb-123 AKIA1234 TAKIAIOSFODNN7EXAMPLE AKIAIOSFODNN7EXAMPLEX", 0);
	redacts("the Bearer of bad news", "the Bearer of bad news", 0);
	redacts("", "", 0);
}

static void test_guard_redacts_configured_secrets(void **state)
{
	char *secrets[] = { (char *)"hunter2-is-my-password", (char *)"abc", (char *)"S3CR3T" };
	int n = 0;
	char *out = guard_redact("pw hunter2-is-my-password and S3CR3TS and abc", secrets, 3, 0, &n);

	/* secrets shorter than 4 bytes would redact ordinary words: ignored */
	assert_string_equal(out, "pw [REDACTED] and [REDACTED]S and abc");
	assert_int_equal(n, 2);
	free(out);
}

static void test_guard_json_mode_keeps_the_document_valid(void **state)
{
	const char *doc = "{\"a\":\"-----BEGIN PRIVATE KEY-----\\nMIIE \\\"q\\\" rest\",\"b\":\"keep me\","
			  "\"c\":\"xoxb-1234567890-abcdefghij\"}";
	char *out = guard_redact(doc, NULL, 0, 1, NULL);
	json_t *j = json_loads(out, 0, NULL);

	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "a")), "[REDACTED PEM BLOCK]");
	assert_string_equal(json_string_value(json_object_get(j, "b")), "keep me");
	assert_string_equal(json_string_value(json_object_get(j, "c")), "[REDACTED]");
	json_decref(j);
	free(out);
}

static void test_guard_redact_json_leaves_keys_and_shape(void **state)
{
	/* a weak configured secret that is also a key and a role name */
	char *secrets[] = { (char *)"content", (char *)"hunter22" };
	json_t *j = json_pack("{s:[{s:s, s:s}, {s:s, s:[{s:s, s:s}]}]}", "messages", "role", "user",
			      "content", "pw hunter22 and xoxb-1234567890-abcdefghij", "role",
			      "assistant", "content", "type", "text", "text", "the content is fine");
	char *out;

	assert_int_equal(guard_redact_json(j, secrets, 2), 3);
	out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(out, "{\"messages\":[{\"content\":\"pw [REDACTED] and [REDACTED]\","
				 "\"role\":\"user\"},{\"content\":[{\"text\":\"the [REDACTED] is "
				 "fine\",\"type\":\"text\"}],\"role\":\"assistant\"}]}");
	free(out);
	json_decref(j);
}

static void test_guard_clean_strips_invisible_and_bidi(void **state)
{
	/* ZWSP, RLO, LRI/PDI, BOM, soft hyphen, a tag character (ASCII smuggling), BEL, CR */
	const char *in = "a\xe2\x80\x8b" "b\xe2\x80\xae" "c\xe2\x81\xa6" "d\xe2\x81\xa9" "e\xef\xbb\xbf"
			 "f\xc2\xad" "g\xf3\xa0\x81\x81" "h\x07i\r\nj\tk \xc3\xa9";
	size_t full = 0;
	char *out = guard_clean(in, 0, &full);

	assert_string_equal(out, "abcdefghi\nj\tk \xc3\xa9");
	assert_int_equal(full, strlen(out));
	free(out);
	/* invalid UTF-8 (a lone continuation byte, an overlong form, a surrogate) becomes '?' */
	out = guard_clean("x\x80y\xc0\xafz\xed\xa0\x80", 0, NULL);
	assert_string_equal(out, "x?y??z???");
	free(out);
}

static void test_guard_clean_truncates_on_a_character_boundary(void **state)
{
	size_t full = 0;
	char *out = guard_clean("ab\xc3\xa9\xc3\xa9", 4, &full); /* a b é é = 6 bytes */

	assert_string_equal(out, "ab\xc3\xa9");
	assert_int_equal(full, 6);
	free(out);
	out = guard_clean("ab\xc3\xa9\xc3\xa9", 3, &full);
	assert_string_equal(out, "ab"); /* never half a character */
	free(out);
}

static void test_guard_collects_urls(void **state)
{
	json_t *urls = json_array();

	guard_collect_urls("see https://a.example/x, and (https://b.example/y) and "
			   "<https://c.example/z|c> and https://a.example/x again; http://d.example.",
			   urls);
	assert_int_equal(json_array_size(urls), 4);
	assert_string_equal(json_string_value(json_array_get(urls, 0)), "https://a.example/x");
	assert_string_equal(json_string_value(json_array_get(urls, 1)), "https://b.example/y");
	assert_string_equal(json_string_value(json_array_get(urls, 2)), "https://c.example/z");
	assert_string_equal(json_string_value(json_array_get(urls, 3)), "http://d.example");
	json_decref(urls);
}

static void renders(const char *in, const json_t *allowed, const char *want)
{
	char *out = guard_render(in, allowed, 0);

	assert_non_null(out);
	if (strcmp(out, want) != 0)
		fail_msg("render(%s)\n got: %s\nwant: %s", in, out, want);
	free(out);
}

static void test_guard_render_neutralises_mentions(void **state)
{
	renders("<!channel> <!here> <@U0123ABC> <#C123|ops> <!subteam^S1|@oncall> hi",
		NULL, "[mention removed] [mention removed] [mention removed] [mention removed] "
		      "[mention removed] hi");
	renders("ping @here and @channel and @Everyone, mail bob@here.example",
		NULL, "ping [mention removed] and [mention removed] and [mention removed], "
		      "mail bob@here.example");
	renders("a <b> c", NULL, "a <b> c");
}

static void test_guard_render_keeps_only_known_links(void **state)
{
	json_t *ok = json_pack("[s]", "https://grafana.example.com/d/cache");

	renders("see https://grafana.example.com/d/cache. Or https://evil.example.com/login!", ok,
		"see https://grafana.example.com/d/cache. Or [link removed]!");
	renders("<https://grafana.example.com/d/cache|the dashboard> and <https://evil.example/x|click>",
		ok, "the dashboard (https://grafana.example.com/d/cache) and click [link removed]");
	renders("[dash](https://grafana.example.com/d/cache) [x](https://evil.example/x)", ok,
		"dash (https://grafana.example.com/d/cache) x [link removed]");
	renders("https://grafana.example.com/d/cache/../../admin", ok, "[link removed]");
	renders("no links at all: http:// alone", ok, "no links at all: http:// alone");
	renders("bidi\xe2\x80\xae hidden", ok, "bidi hidden");
	json_decref(ok);
}

static void test_guard_render_bounds_the_text(void **state)
{
	char *out = guard_render("0123456789abcdef", NULL, 10);

	assert_string_equal(out, "0123456...");
	free(out);
	out = guard_render("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", NULL, 8);
	assert_string_equal(out, "\xc3\xa9\xc3\xa9..."); /* cut before a whole character */
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guard_redacts_token_formats),
		cmocka_unit_test(test_guard_leaves_ordinary_text_alone),
		cmocka_unit_test(test_guard_redacts_configured_secrets),
		cmocka_unit_test(test_guard_json_mode_keeps_the_document_valid),
		cmocka_unit_test(test_guard_redact_json_leaves_keys_and_shape),
		cmocka_unit_test(test_guard_clean_strips_invisible_and_bidi),
		cmocka_unit_test(test_guard_clean_truncates_on_a_character_boundary),
		cmocka_unit_test(test_guard_collects_urls),
		cmocka_unit_test(test_guard_render_neutralises_mentions),
		cmocka_unit_test(test_guard_render_keeps_only_known_links),
		cmocka_unit_test(test_guard_render_bounds_the_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
