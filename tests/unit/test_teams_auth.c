/*
 * Inbound authentication end to end: real activities from the fixtures,
 * posted to the adapter's endpoint with tokens signed by the fake Bot
 * Framework's test key. A good token gets a reply posted through the fake
 * connector; every bad one gets 401 and its activity is never looked at.
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

#include "adapters/chat/teams/teams.h"
#include "adapters/chat/teams/teams_keys.h"
#include "bot/audit.h"
#include "bot/bot.h"
#include "bot/log.h"
#include "bot/metrics.h"
#include "bot/t0.h"
#include "store/store.h"
#include "tests/fakes/fake_botframework.h"
#include "tests/fakes/fake_http.h"
#include "tests/fakes/teams_env.h"

#define PERSONAL_CONV                                                                              \
	"a:17I0kl9EkpE1O9PH5TWrzrLNwnWWcfrU7QZjKR0WSfOpzbfcAg2IaydGElSo10tVr4C7Fc6GtieTJX663WuJC" \
	"c1uA83n4CSrHSgGBj5XNYLcVlJAs2ZX8DbYBPck201w-"
#define PERSONAL_USER                                                                              \
	"29:1XJKJMvc5GBtc2JwZq0oj8tHZmzrQgFmB39ATiQWA85gQtHieVkKilBZ9XHoq9j7Zaqt7CZ-NJWi7me2kHTL3Bw"

static int setup(void **state)
{
	log_set_level(LOG_LEVEL_ERR);
	*state = teams_env_new(NULL, 1);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	teams_env_free(*state);
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

static int count_audit(void *arg, const struct audit_row *row)
{
	(*(int *)arg)++;
	return 0;
}

static int audit_rows(struct teams_env *e)
{
	int n = 0;

	store_audit_each(e->bot->store, 0, NULL, count_audit, &n);
	return n;
}

static size_t connector_calls(struct teams_env *e)
{
	size_t n = 0;

	for (size_t i = 0; i < fake_http_count(fake_bf_http(e->fb)); i++)
		if (!strncmp(fake_http_req(fake_bf_http(e->fb), i)->path, "/amer/v3/", 9))
			n++;
	return n;
}

static void test_auth_valid_token_reply_posted_to_right_path_with_bearer(void **state)
{
	struct teams_env *e = *state;
	json_t *act = teams_env_fixture(e, "message_personal_1.json");
	char *tok = teams_env_token(e, act);
	struct teams_env_result r;
	struct wait_req w = { .e = e, .method = "POST", .n = 1 };
	const struct fake_http_req *got;
	char buf[256];
	json_t *body;

	json_object_set_new(act, "text", json_string("who owns payments-api"));
	teams_env_connector(e, "GET", PERSONAL_CONV, "/members", PERSONAL_USER, 200, NULL,
			    "{\"id\":\"" PERSONAL_USER "\",\"name\":\"Megan Bowen\","
			    "\"email\":\"maria.santos@example.com\","
			    "\"userPrincipalName\":\"maria.santos@example.com\"}");
	teams_env_connector(e, "POST", PERSONAL_CONV, "/activities", "1485983408511", 200, NULL,
			    "{\"id\":\"1485983408999\"}");
	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.rc, T0_OK);
	assert_int_equal(r.status, 200);

	fake_bf_path(w.path, sizeof(w.path), PERSONAL_CONV, "/activities", "1485983408511");
	assert_true(teams_env_run_until(e, got_requests, &w, 5000));
	got = fake_bf_find(e->fb, "POST", w.path, 0);
	assert_non_null(got);
	assert_non_null(fake_http_req_header(got, "Authorization", buf, sizeof(buf)));
	assert_string_equal(buf, "Bearer " FAKE_BF_ACCESS_TOKEN);
	body = json_loadb(got->body, got->body_len, 0, NULL);
	assert_non_null(body);
	assert_string_equal(json_string_value(json_object_get(body, "type")), "message");
	assert_string_equal(json_string_value(json_object_get(body, "replyToId")), "1485983408511");
	/* from and recipient swapped, the conversation kept (Bot Framework reply rules) */
	assert_string_equal(json_string_value(json_object_get(json_object_get(body, "from"), "id")),
			    "28:c9e8c047-2a74-40a2-b28a-b162d5f5327c");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(body, "recipient"), "id")),
		PERSONAL_USER);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(body, "conversation"), "id")),
		PERSONAL_CONV);
	/* The demo catalog says payments-api belongs to payments. */
	assert_non_null(strstr(got->body, "payments"));
	json_decref(body);

	assert_true(metrics_value("tier0_teams_activities_total", "type=\"message\"") == 1);
	assert_true(metrics_value("tier0_teams_connector_calls_total",
				  "op=\"reply\",status=\"200\"") == 1);
	/* First contact saved the conversation reference. */
	assert_int_equal(store_conv_ref_get(e->bot->store, "teams", PERSONAL_CONV, NULL, NULL, NULL),
			 T0_OK);
	free(tok);
	json_decref(act);
}

/* Posts act with the token and checks: 401, nothing processed, the reason counted. */
static void expect_refused(struct teams_env *e, json_t *act, const char *tok, const char *reason)
{
	struct teams_env_result r;
	char labels[64];
	int rows = audit_rows(e);
	size_t calls = connector_calls(e);

	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.rc, T0_OK);
	assert_int_equal(r.status, 401);
	snprintf(labels, sizeof(labels), "reason=\"%s\"", reason);
	assert_true(metrics_value("tier0_teams_auth_failures_total", labels) >= 1);
	teams_env_run_for(e, 100);
	/* The body was never processed: no event, no reference, no reply. */
	assert_int_equal(audit_rows(e), rows);
	assert_int_equal(connector_calls(e), calls);
	assert_true(metrics_value("tier0_teams_activities_total", "type=\"message\"") < 0);
	assert_int_equal(store_conv_ref_get(e->bot->store, "teams", PERSONAL_CONV, NULL, NULL, NULL),
			 T0_ENOTFOUND);
}

static char *sign(struct teams_env *e, const json_t *act, struct fake_bf_claims c)
{
	if (!c.aud)
		c.aud = TEAMS_ENV_APP;
	if (!c.exp_s)
		c.exp_s = TEAMS_ENV_NOW_S + 3600;
	if (!c.serviceurl)
		c.serviceurl = json_string_value(json_object_get(act, "serviceUrl"));
	return fake_bf_sign(e->fb, &c);
}

static void test_auth_tampered_signature_rejected(void **state)
{
	struct teams_env *e = *state;
	json_t *act = teams_env_fixture(e, "message_personal_1.json");
	char *tok = teams_env_token(e, act);
	size_t n = strlen(tok);

	tok[n - 3] = tok[n - 3] == 'x' ? 'y' : 'x';
	expect_refused(e, act, tok, "signature");
	free(tok);
	json_decref(act);
}

static void test_auth_wrong_audience_rejected(void **state)
{
	struct teams_env *e = *state;
	json_t *act = teams_env_fixture(e, "message_personal_1.json");
	char *tok = sign(e, act, (struct fake_bf_claims){ .aud = "11111111-2222-3333-4444-555555555555" });

	expect_refused(e, act, tok, "audience");
	free(tok);
	json_decref(act);
}

static void test_auth_expired_token_rejected(void **state)
{
	struct teams_env *e = *state;
	json_t *act = teams_env_fixture(e, "message_personal_1.json");
	char *tok = sign(e, act, (struct fake_bf_claims){ .exp_s = TEAMS_ENV_NOW_S - 301 });

	expect_refused(e, act, tok, "expired");
	free(tok);
	json_decref(act);
}

static void test_auth_wrong_serviceurl_claim_rejected(void **state)
{
	struct teams_env *e = *state;
	json_t *act = teams_env_fixture(e, "message_personal_1.json");
	char *tok = sign(e, act, (struct fake_bf_claims){ .serviceurl = "https://smba.trafficmanager.net/amer/" });

	expect_refused(e, act, tok, "serviceurl");
	free(tok);
	json_decref(act);
}

static void test_auth_missing_or_wrong_scheme_rejected(void **state)
{
	struct teams_env *e = *state;
	json_t *act = teams_env_fixture(e, "message_personal_1.json");

	expect_refused(e, act, NULL, "missing_token");
	expect_refused(e, act, "not-a-jwt", "malformed");
	json_decref(act);
}

static void test_auth_unknown_kid_one_refresh_then_401(void **state)
{
	struct teams_env *e = *state;
	json_t *act = teams_env_fixture(e, "message_personal_1.json");
	char *tok = sign(e, act, (struct fake_bf_claims){ .kid = "kid-nobody-has", .key = 2 });
	size_t before = fake_bf_count(e->fb, "GET", "/v1/.well-known/keys");

	expect_refused(e, act, tok, "unknown_kid");
	assert_int_equal(fake_bf_count(e->fb, "GET", "/v1/.well-known/keys"), before + 1);
	/* Another unknown kid right after: no second fetch (refreshes are rate-limited). */
	expect_refused(e, act, tok, "unknown_kid");
	assert_int_equal(fake_bf_count(e->fb, "GET", "/v1/.well-known/keys"), before + 1);
	free(tok);
	json_decref(act);
}

static void test_auth_rotated_key_found_after_refresh(void **state)
{
	struct teams_env *e = *state;
	json_t *act = teams_env_fixture(e, "message_personal_1.json");
	char *tok = sign(e, act, (struct fake_bf_claims){ .kid = FAKE_BF_KID2, .key = 1 });
	size_t before = fake_bf_count(e->fb, "GET", "/v1/.well-known/keys");
	struct teams_env_result r;

	/* The Bot Framework rotated in a second key the adapter has not seen yet. */
	fake_bf_serve_keys(e->fb, 1, NULL);
	teams_env_post(e, act, tok, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(fake_bf_count(e->fb, "GET", "/v1/.well-known/keys"), before + 1);
	assert_true(metrics_value("tier0_teams_activities_total", "type=\"message\"") == 1);
	free(tok);
	json_decref(act);
}

static void test_auth_key_not_endorsed_for_channel_rejected(void **state)
{
	struct teams_env *e = *state;
	json_t *act = teams_env_fixture(e, "message_personal_1.json");
	char *tok = teams_env_token(e, act);

	json_object_set_new(act, "channelId", json_string("skype"));
	expect_refused(e, act, tok, "endorsement");
	free(tok);
	json_decref(act);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_auth_valid_token_reply_posted_to_right_path_with_bearer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_tampered_signature_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_wrong_audience_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_expired_token_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_wrong_serviceurl_claim_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_missing_or_wrong_scheme_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_unknown_kid_one_refresh_then_401, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_rotated_key_found_after_refresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_key_not_endorsed_for_channel_rejected, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
