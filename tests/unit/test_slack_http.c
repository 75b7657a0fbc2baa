/*
 * Slack's HTTP Events API mode: requests signed like Slack signs them (v0,
 * HMAC-SHA256), replayed from the real payloads, sent to the bot's inbound
 * server; replies go to the fake Web API. Bad signatures, stale timestamps
 * and oversized bodies are refused; url_verification is answered; retries are
 * handled once; every answer comes back at once.
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

#include "adapters/chat/slack/slack.h"
#include "adapters/chat/slack/slack_int.h"
#include "bot/http_client.h"
#include "bot/http_server.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"
#include "tests/fakes/fake_slack.h"
#include "tests/fakes/slack_harness.h"

#define FIX T0_FIXTURES "/slack"
#define SECRET "8f742231b10e8888abcd99yyyzzz85a5"

struct answer {
	int done;
	long status;
	char body[4096];
	uint64_t ms;
};

static void on_answer(const struct http_resp *resp, void *arg)
{
	struct answer *a = arg;

	a->done = 1;
	a->status = resp->status;
	a->ms = (uint64_t)resp->elapsed_ms;
	snprintf(a->body, sizeof(a->body), "%.*s", (int)resp->body_len, resp->body ? resp->body : "");
}

static int answered(void *arg)
{
	return ((struct answer *)arg)->done;
}

/* POSTs body to path, signed with ts_offset seconds from now (sign 0: no headers). */
static struct answer post(struct slack_h *h, const char *path, const char *ctype, const char *body,
			  size_t len, long ts_offset, int sign, const char *extra)
{
	struct answer a = { 0 };
	char url[128], ts[32], sig[SLACK_SIG_LEN], hts[64], hsig[96], hct[96];
	const char *hdrs[4];
	size_t n = 0;
	struct http_req req = { .method = "POST", .headers = hdrs, .body = body, .body_len = len,
				.timeout_ms = 5000 };

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", http_server_port(h->http), path);
	req.url = url;
	snprintf(ts, sizeof(ts), "%lld", (long long)(t0_now_ms() / 1000 + ts_offset));
	snprintf(hct, sizeof(hct), "Content-Type: %s", ctype);
	hdrs[n++] = hct;
	if (sign) {
		assert_int_equal(slack_sig_compute(sign == 2 ? "wrong-secret" : SECRET, ts, body, len, sig),
				 T0_OK);
		snprintf(hts, sizeof(hts), "X-Slack-Request-Timestamp: %s", ts);
		snprintf(hsig, sizeof(hsig), "X-Slack-Signature: %s", sig);
		hdrs[n++] = hts;
		hdrs[n++] = hsig;
	}
	if (extra)
		hdrs[n++] = extra;
	req.nheaders = n;
	assert_int_equal(http_request(h->l, &req, on_answer, &a), T0_OK);
	assert_true(slack_h_run_until(h, answered, &a, 5000));
	return a;
}

struct wait {
	struct slack_h *h;
	const char *method;
	size_t n;
};

static int calls_at_least(void *arg)
{
	struct wait *w = arg;

	return fake_slack_count(w->h->fs, w->method) >= w->n;
}

static void start_http(struct slack_h *h)
{
	if (slack_h_init(h, "  pacing:\n    enabled: false\n", 1) != 0)
		fail_msg("init: %s", h->err);
	fake_slack_set_auth(h->fs, NULL, "W111", "B111", NULL);
	fake_slack_add_user(h->fs, "W222", "sam", "sam.okoro@example.com");
	fake_slack_add_user(h->fs, "U222", "sam", "sam.okoro@example.com");
	assert_int_equal(slack_h_start(h), T0_OK);
	assert_true(slack_ops.ready(h->state));
	/* HTTP mode opens no websocket */
	assert_int_equal(fake_slack_count(h->fs, "apps.connections.open"), 0);
}

static char *fixture(const char *rel)
{
	char *t = slack_h_fixture(FIX, rel);

	if (!t)
		fail_msg("fixture %s", rel);
	return t;
}

static void test_slack_signature_matches_slack_docs_vector(void **state)
{
	char *text = fixture("signing/slack_docs_vector.json");
	json_t *v = json_loads(text, 0, NULL);
	const char *secret = json_string_value(json_object_get(v, "signing_secret"));
	const char *ts = json_string_value(json_object_get(v, "x_slack_request_timestamp"));
	const char *body = json_string_value(json_object_get(v, "body"));
	const char *want = json_string_value(json_object_get(v, "x_slack_signature"));
	char sig[SLACK_SIG_LEN];
	const char *why;

	assert_int_equal(slack_sig_compute(secret, ts, body, strlen(body), sig), T0_OK);
	assert_string_equal(sig, want);
	assert_int_equal(slack_sig_verify(secret, ts, want, body, strlen(body), 1531420618 + 10, &why), T0_OK);
	/* one byte of the body changed */
	assert_int_equal(slack_sig_verify(secret, ts, want, body, strlen(body) - 1, 1531420618, &why),
			 T0_EDENIED);
	assert_string_equal(why, "mismatch");
	/* five minutes and a second later: a replay */
	assert_int_equal(slack_sig_verify(secret, ts, want, body, strlen(body), 1531420618 + 301, &why),
			 T0_EDENIED);
	assert_string_equal(why, "stale_timestamp");
	assert_int_equal(slack_sig_verify(secret, ts, "v1=abc", body, strlen(body), 1531420618, &why),
			 T0_EDENIED);
	assert_int_equal(slack_sig_verify(secret, "12a", want, body, strlen(body), 1531420618, &why),
			 T0_EDENIED);
	json_decref(v);
	free(text);
}

static void test_slack_http_url_verification_answered(void **state)
{
	struct slack_h h;
	char *body = fixture("events_api/url_verification.json");
	json_t *want = json_loads(body, 0, NULL), *got;
	struct answer a;

	start_http(&h);
	a = post(&h, "/slack/events", "application/json", body, strlen(body), 0, 1, NULL);
	assert_int_equal(a.status, 200);
	got = json_loads(a.body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(got, "challenge")),
			    json_string_value(json_object_get(want, "challenge")));
	/* unsigned, it is refused like anything else */
	a = post(&h, "/slack/events", "application/json", body, strlen(body), 0, 0, NULL);
	assert_int_equal(a.status, 401);
	json_decref(got);
	json_decref(want);
	free(body);
	slack_h_free(&h);
}

static void test_slack_http_event_answered_at_once_then_replied_and_retry_handled_once(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .method = "chat.postMessage", .n = 1 };
	char *text = fixture("events_api/app_mention.json"), *body;
	json_t *j = json_loads(text, 0, NULL);
	struct answer a;
	const struct fake_slack_call *c;

	start_http(&h);
	json_object_set_new(json_object_get(j, "event"), "text",
			    json_string("<@W111> who owns payment-api"));
	body = json_dumps(j, JSON_COMPACT);
	a = post(&h, "/slack/events", "application/json", body, strlen(body), 0, 1, NULL);
	assert_int_equal(a.status, 200);
	assert_true(a.ms < 1000); /* well inside Slack's 3 s */
	assert_true(slack_h_run_until(&h, calls_at_least, &w, 5000));
	c = fake_slack_nth(h.fs, "chat.postMessage", 0);
	assert_string_equal(json_string_value(json_object_get(c->args, "thread_ts")), "1595926230.009600");
	assert_non_null(strstr(c->body, "payments-team"));
	/* Slack's retry of the same event (it thought we were slow) */
	a = post(&h, "/slack/events", "application/json", body, strlen(body), 0, 1,
		 "X-Slack-Retry-Num: 1");
	assert_int_equal(a.status, 200);
	slack_h_run_for(&h, 300);
	assert_int_equal(fake_slack_count(h.fs, "chat.postMessage"), 1);
	assert_int_equal(metrics_value("tier0_slack_http_retries_total", NULL), 1);
	free(body);
	free(text);
	json_decref(j);
	slack_h_free(&h);
}

static void test_slack_http_bad_signature_stale_and_oversized_rejected(void **state)
{
	struct slack_h h;
	char *body = fixture("events_api/app_mention.json");
	char *big;
	struct answer a;
	size_t n = SLACK_HTTP_MAX_BODY + 100;

	start_http(&h);
	a = post(&h, "/slack/events", "application/json", body, strlen(body), 0, 2, NULL);
	assert_int_equal(a.status, 401);
	assert_string_equal(a.body, "mismatch");
	a = post(&h, "/slack/events", "application/json", body, strlen(body), -301, 1, NULL);
	assert_int_equal(a.status, 401);
	assert_string_equal(a.body, "stale_timestamp");
	a = post(&h, "/slack/events", "application/json", body, strlen(body), 600, 1, NULL);
	assert_int_equal(a.status, 401);
	a = post(&h, "/slack/events", "application/json", body, strlen(body), 0, 0, NULL);
	assert_int_equal(a.status, 401);
	assert_string_equal(a.body, "missing_headers");
	big = malloc(n + 1);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	a = post(&h, "/slack/events", "application/json", big, n, 0, 1, NULL);
	assert_int_equal(a.status, 413);
	free(big);
	slack_h_run_for(&h, 200);
	/* nothing of it reached the core */
	assert_int_equal(fake_slack_count(h.fs, "chat.postMessage"), 0);
	assert_int_equal(fake_slack_count(h.fs, "chat.postEphemeral"), 0);
	assert_int_equal(metrics_value("tier0_slack_http_rejected_total", "reason=\"mismatch\""), 1);
	assert_int_equal(metrics_value("tier0_slack_http_rejected_total", "reason=\"stale_timestamp\""), 2);
	free(body);
	slack_h_free(&h);
}

/* The fixture's form body with its response_url pointing at the fake. */
static char *command_form(struct slack_h *h, const char *command, const char *text, int n)
{
	char url[128], *out = malloc(1024);

	fake_slack_response_url(h->fs, n, url, sizeof(url));
	snprintf(out, 1024,
		 "token=verification_token&team_id=T111&team_domain=test-domain&channel_id=C111"
		 "&channel_name=random&user_id=U222&user_name=sam&command=%s&text=%s"
		 "&response_url=%s&trigger_id=111.111.%d",
		 command, text, url, n);
	/* the URL goes in raw (':' and '/'), as some real bodies do */
	return out;
}

static void test_slack_http_slash_command_answered_in_body_or_response_url(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .method = "response_url", .n = 1 };
	char *form = NULL, *raw = fixture("slash_commands/form_body_1.txt");
	struct answer a;
	json_t *j;

	start_http(&h);
	/* the real body parses (a command tier0 does not know); its response_url is
	 * pointed at the fake: nothing may leave 127.0.0.1 */
	{
		const char *real = "https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT111%2F111%2Fxxxxx";
		char *at = strstr(raw, real), url[128], *patched;
		size_t n;

		assert_non_null(at);
		fake_slack_response_url(h.fs, 0, url, sizeof(url));
		n = strlen(raw) + strlen(url) + 1;
		patched = malloc(n);
		snprintf(patched, n, "%.*s%s%s", (int)(at - raw), raw, url, at + strlen(real));
		a = post(&h, "/slack/commands", "application/x-www-form-urlencoded", patched,
			 strlen(patched), 0, 1, NULL);
		free(patched);
	}
	assert_int_equal(a.status, 200);
	assert_true(slack_h_run_until(&h, calls_at_least, &w, 5000));
	assert_int_equal(fake_slack_count(h.fs, "users.info"), 1); /* W111 looked up */
	assert_non_null(strstr(fake_slack_nth(h.fs, "response_url", 0)->body, "didn't understand"));
	w.n = 2;

	form = command_form(&h, "%2Fwhoowns", "payment-api", 1);
	a = post(&h, "/slack/commands", "application/x-www-form-urlencoded", form, strlen(form), 0, 1, NULL);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.body, ""); /* U222 not known yet: the answer follows */
	assert_true(slack_h_run_until(&h, calls_at_least, &w, 5000));
	assert_non_null(strstr(fake_slack_nth(h.fs, "response_url", 1)->body, "payments-team"));
	free(form);

	form = command_form(&h, "%2Fwhoowns", "payment-api", 2);
	a = post(&h, "/slack/commands", "application/x-www-form-urlencoded", form, strlen(form), 0, 1, NULL);
	assert_int_equal(a.status, 200);
	j = json_loads(a.body, 0, NULL);
	assert_non_null(json_object_get(j, "response_type"));
	assert_non_null(strstr(a.body, "payments-team"));
	json_decref(j);
	free(form);

	/* Slack's certificate check carries no signature */
	a = post(&h, "/slack/commands", "application/x-www-form-urlencoded", "ssl_check=1&token=x", 19,
		 0, 0, NULL);
	assert_int_equal(a.status, 200);
	free(raw);
	slack_h_free(&h);
}

static void test_slack_http_interactive_button_replaces_ephemeral_source(void **state)
{
	struct slack_h h;
	struct wait w = { .h = &h, .method = "response_url", .n = 1 };
	char *text = fixture("interactivity/block_actions_message_button.json");
	json_t *p = json_loads(text, 0, NULL);
	char url[128], *payload, *form;
	size_t n, o = 0;
	struct answer a;
	const struct fake_slack_call *hook;

	start_http(&h);
	json_object_set_new(p, "response_url", json_string(fake_slack_response_url(h.fs, 7, url, sizeof(url))));
	payload = json_dumps(p, JSON_COMPACT);
	n = strlen(payload);
	form = malloc(8 + 3 * n + 1);
	o = (size_t)sprintf(form, "payload=");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)payload[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			form[o++] = (char)c;
		else
			o += (size_t)sprintf(form + o, "%%%02X", c);
	}
	form[o] = '\0';
	a = post(&h, "/slack/interactive", "application/x-www-form-urlencoded", form, o, 0, 1, NULL);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.body, "");
	assert_true(slack_h_run_until(&h, calls_at_least, &w, 5000));
	/* an ephemeral source cannot be chat.update'd: the response_url replaces it */
	hook = fake_slack_nth(h.fs, "response_url", 0);
	assert_string_equal(hook->query, "n=7");
	assert_true(json_is_true(json_object_get(hook->args, "replace_original")));
	assert_non_null(strstr(hook->body, "<@W111> chose *Button*"));
	assert_int_equal(fake_slack_count(h.fs, "chat.update"), 0);
	free(form);
	free(payload);
	json_decref(p);
	free(text);
	slack_h_free(&h);
}

static void test_slack_http_mode_needs_the_http_server(void **state)
{
	struct slack_h h;
	struct adapter_ctx ctx;
	void *st = NULL;

	assert_int_equal(slack_h_init(&h, "", 1), 0);
	memset(&ctx, 0, sizeof(ctx));
	ctx.bot = h.bot;
	ctx.loop = h.l;
	ctx.uv = loop_uv(h.l);
	ctx.http = NULL;
	assert_int_equal(slack_ops.init(&ctx, &st), T0_ECONFIG);
	assert_null(st);
	slack_h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slack_signature_matches_slack_docs_vector),
		cmocka_unit_test(test_slack_http_url_verification_answered),
		cmocka_unit_test(test_slack_http_event_answered_at_once_then_replied_and_retry_handled_once),
		cmocka_unit_test(test_slack_http_bad_signature_stale_and_oversized_rejected),
		cmocka_unit_test(test_slack_http_slash_command_answered_in_body_or_response_url),
		cmocka_unit_test(test_slack_http_interactive_button_replaces_ephemeral_source),
		cmocka_unit_test(test_slack_http_mode_needs_the_http_server),
	};

	log_set_level(getenv("T0_TEST_LOG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
