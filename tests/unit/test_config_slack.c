/* The slack section: every error message, defaults, secrets masked, *_file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "adapters/chat/slack/slack.h"
#include "bot/adapter.h"
#include "bot/config.h"
#include "bot/log.h"
#include "bot/t0.h"

static struct config *cfg;
static char err[1024];

static int load(const char *yaml)
{
	config_free(cfg);
	cfg = NULL;
	return config_load_buffer("tier0.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err));
}

static void expect_error(const char *yaml, const char *msg)
{
	int rc = load(yaml);

	if (rc != T0_ECONFIG || strcmp(err, msg) != 0)
		fail_msg("got rc %d: %s\nwant: %s", rc, err, msg);
}

static int teardown(void **state)
{
	config_free(cfg);
	cfg = NULL;
	return 0;
}

static void test_config_slack_absent_means_off(void **state)
{
	assert_int_equal(load("log:\n  level: info\n"), T0_OK);
	assert_false(cfg->slack_enabled);
	assert_false(slack_ops.configured(cfg));
	assert_int_equal(load("slack:\n"), T0_OK); /* empty = absent */
	assert_false(cfg->slack_enabled);
}

static void test_config_slack_defaults(void **state)
{
	const json_t *s, *p;

	assert_int_equal(load("slack:\n  app_token: xapp-1-a\n  bot_token: xoxb-1-b\n"), T0_OK);
	assert_true(cfg->slack_enabled);
	assert_true(slack_ops.configured(cfg));
	s = cfg->slack;
	assert_string_equal(json_string_value(json_object_get(s, "mode")), "socket");
	assert_string_equal(json_string_value(json_object_get(s, "api_url")), "https://slack.com/api/");
	assert_int_equal(json_integer_value(json_object_get(s, "connections")), 1);
	assert_int_equal(json_object_size(json_object_get(s, "slash_commands")), 0);
	assert_int_equal(json_array_size(json_object_get(s, "channels")), 0);
	p = json_object_get(s, "pacing");
	assert_true(json_is_true(json_object_get(p, "enabled")));
	assert_int_equal(json_integer_value(json_object_get(p, "messages_per_second")), 1);
	assert_int_equal(json_integer_value(json_object_get(p, "burst")), 3);
	assert_int_equal(json_integer_value(json_object_get(p, "coalesce_after")), 10);
	assert_int_equal(json_integer_value(json_object_get(s, "users_cache_ttl_s")), 3600);
	assert_int_equal(json_integer_value(json_object_get(s, "ping_interval_s")), 10);
	assert_int_equal(json_integer_value(json_object_get(s, "pong_timeout_s")), 10);
	assert_int_equal(json_integer_value(json_object_get(s, "reconnect_min_ms")), 1000);
	assert_int_equal(json_integer_value(json_object_get(s, "reconnect_max_ms")), 60000);
}

static void test_config_slack_errors(void **state)
{
	expect_error("slack:\n  app_token: xapp-1\n",
		     "tier0.yaml:1:1: slack.bot_token: required key is missing (the bot token from "
		     "OAuth & Permissions)");
	expect_error("slack:\n  bot_token: xoxp-user\n  app_token: xapp-1\n",
		     "tier0.yaml:2:3: slack.bot_token: expected a token starting with 'xoxb-' (the bot "
		     "token from OAuth & Permissions)");
	expect_error("slack:\n  bot_token: xoxb-1\n",
		     "tier0.yaml:1:1: slack.app_token: required key is missing (an app-level token with "
		     "connections:write, for Socket Mode)");
	expect_error("slack:\n  bot_token: xoxb-1\n  mode: http\n",
		     "tier0.yaml:1:1: slack.signing_secret: required key is missing (the signing "
		     "secret, for HTTP mode)");
	expect_error("slack:\n  bot_token: xoxb-1\n  app_token: xapp-1\n  mode: events\n",
		     "tier0.yaml:4:3: slack.mode: expected one of socket, http, got 'events'");
	expect_error("slack:\n  bot_token: xoxb-1\n  app_token: xapp-1\n  connections: 11\n",
		     "tier0.yaml:4:3: slack.connections: must be between 1 and 10, got 11");
	expect_error("slack:\n  bot_token: xoxb-1\n  app_token: xapp-1\n  api_url: https://slack.com/api\n",
		     "tier0.yaml:4:3: slack.api_url: expected an http(s) URL ending in '/', like "
		     "\"https://slack.com/api/\", got 'https://slack.com/api'");
	expect_error("slack:\n  bot_token: xoxb-1\n  app_token: xapp-1\n  channels: [\"#ops room\"]\n",
		     "tier0.yaml:4:14: slack.channels[0]: expected a channel id (C0123ABCD) or name "
		     "(#ops), got '#ops room'");
	expect_error("slack:\n  bot_token: xoxb-1\n  app_token: xapp-1\n  slash_commands:\n    incident: x\n",
		     "tier0.yaml:5:5: slack.slash_commands.incident: command must start with '/' and "
		     "have no spaces");
	expect_error("slack:\n  bot_token: xoxb-1\n  app_token: xapp-1\n  pacing:\n    burst: 0\n",
		     "tier0.yaml:5:5: slack.pacing.burst: must be between 1 and 100, got 0");
	expect_error("slack:\n  bot_token: xoxb-1\n  app_token: xapp-1\n  reconnect_min_ms: 5000\n"
		     "  reconnect_max_ms: 1000\n",
		     "tier0.yaml:1:1: slack: reconnect_min_ms must not exceed reconnect_max_ms");
	expect_error("slack:\n  bot_token: xoxb-1\n  app_token: xapp-1\n  app_tokens: x\n",
		     "tier0.yaml:4:3: slack.app_tokens: unknown key 'app_tokens' (known keys: app_token, "
		     "app_token_file, bot_token, bot_token_file, signing_secret, signing_secret_file, "
		     "mode, api_url, connections, slash_commands, channels, pacing, users_cache_ttl_s, "
		     "ping_interval_s, pong_timeout_s, reconnect_min_ms, reconnect_max_ms)");
}

static void test_config_slack_secrets_masked_and_read_from_files(void **state)
{
	char dir[] = "/tmp/t0cfgslack.XXXXXX", path[128], yaml[512];
	char *out = NULL;
	size_t len = 0;
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/bot", dir);
	fp = fopen(path, "w");
	fputs("xoxb-from-file-123\n", fp);
	fclose(fp);
	setenv("T0_SLACK_APP", "xapp-from-env-456", 1);
	snprintf(yaml, sizeof(yaml),
		 "slack:\n  bot_token_file: %s\n  app_token: \"${T0_SLACK_APP}\"\n"
		 "  signing_secret: s3cr3t-signing\n",
		 path);
	assert_int_equal(load(yaml), T0_OK);
	assert_string_equal(json_string_value(json_object_get(cfg->slack, "bot_token")),
			    "xoxb-from-file-123");
	fp = open_memstream(&out, &len);
	assert_int_equal(config_dump_masked(cfg, fp), T0_OK);
	fclose(fp);
	assert_null(strstr(out, "xoxb-from-file-123"));
	assert_null(strstr(out, "xapp-from-env-456"));
	assert_null(strstr(out, "s3cr3t-signing"));
	assert_non_null(strstr(out, "\"bot_token\": \"********\""));
	free(out);
	unsetenv("T0_SLACK_APP");
	unlink(path);
	rmdir(dir);
}

static void test_config_slack_required_scopes_follow_channels(void **state)
{
	assert_int_equal(load("slack:\n  app_token: xapp-1\n  bot_token: xoxb-1\n"), T0_OK);
	assert_null(strstr(slack_required_scopes(cfg), "channels:history"));
	assert_non_null(strstr(slack_required_scopes(cfg), "users:read.email"));
	assert_int_equal(load("slack:\n  app_token: xapp-1\n  bot_token: xoxb-1\n  channels: [C0123ABCD]\n"),
			 T0_OK);
	assert_non_null(strstr(slack_required_scopes(cfg), "channels:history"));
}

/* The manifest in config/ asks for exactly the scopes tier0 checks for, and the events. */
static void test_config_slack_manifest_matches_required_scopes(void **state)
{
	FILE *fp = fopen("config/slack-app-manifest.yaml", "r");
	char *text = NULL, need[512];
	size_t len = 0;
	char buf[4096];
	size_t n;

	assert_non_null(fp);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
		text = realloc(text, len + n + 1);
		memcpy(text + len, buf, n);
		len += n;
	}
	text[len] = '\0';
	fclose(fp);
	assert_int_equal(load("slack:\n  app_token: xapp-1\n  bot_token: xoxb-1\n  channels: [C0123ABCD]\n"),
			 T0_OK);
	snprintf(need, sizeof(need), "%s", slack_required_scopes(cfg));
	for (char *save = NULL, *tok = strtok_r(need, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char line[96];

		snprintf(line, sizeof(line), "- %s\n", tok);
		if (!strstr(text, line))
			fail_msg("manifest lacks scope %s", tok);
	}
	assert_non_null(strstr(text, "socket_mode_enabled: true"));
	assert_non_null(strstr(text, "- app_mention\n"));
	assert_non_null(strstr(text, "- message.im\n"));
	assert_non_null(strstr(text, "command: /tier0"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_config_slack_absent_means_off, teardown),
		cmocka_unit_test_teardown(test_config_slack_defaults, teardown),
		cmocka_unit_test_teardown(test_config_slack_errors, teardown),
		cmocka_unit_test_teardown(test_config_slack_secrets_masked_and_read_from_files, teardown),
		cmocka_unit_test_teardown(test_config_slack_required_scopes_follow_channels, teardown),
		cmocka_unit_test_teardown(test_config_slack_manifest_matches_required_scopes, teardown),
	};

	log_set_level(LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
