#define _XOPEN_SOURCE 700 /* nftw */
/* Configuration: every error message (exact, with file:line:col and key path),
 * ${ENV} substitution, *_file secrets and their masking, defaults, paths. */
#include "bot/config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bot/log.h"
#include "bot/t0.h"

struct fix {
	char dir[64];
	char err[1024];
	struct config *cfg;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/t0cfg.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	unsetenv("T0_TEST_UNSET");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	config_free(f->cfg);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void write_file(struct fix *f, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int load(struct fix *f, const char *yaml)
{
	config_free(f->cfg);
	f->cfg = NULL;
	return config_load_buffer("tier0.yaml", yaml, strlen(yaml), &f->cfg, f->err,
				  sizeof(f->err));
}

/* Loads yaml, which must fail with T0_ECONFIG and exactly this message. */
static void expect_error(struct fix *f, const char *yaml, const char *msg)
{
	int rc = load(f, yaml);

	if (rc != T0_ECONFIG || strcmp(f->err, msg) != 0)
		print_error("yaml:\n%s\ngot rc %d: %s\nwant: %s\n", yaml, rc, f->err, msg);
	assert_int_equal(rc, T0_ECONFIG);
	assert_string_equal(f->err, msg);
	assert_null(f->cfg);
}

static int load_file(struct fix *f, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	config_free(f->cfg);
	f->cfg = NULL;
	return config_load(path, &f->cfg, f->err, sizeof(f->err));
}

static char *dump(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	assert_int_equal(config_dump_masked(cfg, fp), T0_OK);
	fclose(fp);
	return buf;
}

/* ---- errors ---- */

static void test_config_unknown_top_level_key(void **state)
{
	expect_error(*state, "log:\n  level: info\nhtp:\n  listen: x\n",
		     "tier0.yaml:3:1: htp: unknown key 'htp' (known keys: log, store, http, "
		     "shutdown, catalog, runbooks, console, oncall, intents, llm, teams, pagerduty, "
		     "alertmanager, github, argocd, deployments, incidents, "
		     "actions, action_policy, executors, slack)");
}

static void test_config_unknown_nested_key(void **state)
{
	expect_error(*state, "http:\n  listen: \"127.0.0.1:80\"\n  lisen: x\n",
		     "tier0.yaml:3:3: http.lisen: unknown key 'lisen' (known keys: enabled, "
		     "listen, max_body_bytes, metrics_token, metrics_token_file)");
}

static void test_config_unknown_key_in_list_item(void **state)
{
	expect_error(*state,
		     "intents:\n  rules:\n    - name: a\n      pattern: x\n      intent: y\n"
		     "      prio: 3\n",
		     "tier0.yaml:6:7: intents.rules[0].prio: unknown key 'prio' (known keys: name, "
		     "pattern, intent, reply, priority, help)");
}

static void test_config_string_given_integer(void **state)
{
	expect_error(*state, "http:\n  enabled: true\n  listen: 8080\n",
		     "tier0.yaml:3:3: http.listen: expected a string, got an integer");
}

static void test_config_integer_given_string(void **state)
{
	expect_error(*state, "http:\n  max_body_bytes: lots\n",
		     "tier0.yaml:2:3: http.max_body_bytes: expected an integer, got a string");
}

static void test_config_integer_given_float(void **state)
{
	expect_error(*state, "shutdown: {grace_ms: 1.5}\n",
		     "tier0.yaml:1:12: shutdown.grace_ms: expected an integer, got a number");
}

static void test_config_bool_given_string(void **state)
{
	/* YAML 1.2: "yes" is a string, not a boolean. */
	expect_error(*state, "http:\n  enabled: yes\n",
		     "tier0.yaml:2:3: http.enabled: expected a boolean, got a string");
}

static void test_config_section_given_scalar(void **state)
{
	expect_error(*state, "store: {path: x.db}\nhttp: 5\n",
		     "tier0.yaml:2:1: http: expected a mapping, got an integer");
}

static void test_config_list_given_string(void **state)
{
	expect_error(*state, "catalog:\n  files: a.yaml\n",
		     "tier0.yaml:2:3: catalog.files: expected a list, got a string");
}

static void test_config_list_item_wrong_type(void **state)
{
	expect_error(*state, "catalog:\n  files:\n    - a.yaml\n    - 3\n",
		     "tier0.yaml:4:7: catalog.files[1]: expected a string, got an integer");
}

static void test_config_list_of_objects_item_not_mapping(void **state)
{
	expect_error(*state, "oncall:\n  schedules:\n    - just-a-name\n",
		     "tier0.yaml:3:7: oncall.schedules[0]: expected a mapping, got a string");
}

static void test_config_map_value_wrong_type(void **state)
{
	expect_error(*state, "intents:\n  commands:\n    /oncall: [a]\n",
		     "tier0.yaml:3:5: intents.commands./oncall: expected a string, got a list");
}

static void test_config_top_level_not_mapping(void **state)
{
	expect_error(*state, "- a\n- b\n", "tier0.yaml:1:1: (top level): expected a mapping, got a list");
}

static void test_config_two_documents(void **state)
{
	expect_error(*state, "log: {level: info}\n---\nlog: {level: debug}\n",
		     "tier0.yaml:2:1: (top level): expected exactly one YAML document, found a "
		     "second one");
}

static void test_config_invalid_yaml_names_position(void **state)
{
	struct fix *f = *state;

	assert_int_equal(load(f, "http:\n  listen: [a\n"), T0_ECONFIG);
	assert_non_null(strstr(f->err, "tier0.yaml:3:1: invalid YAML: "));
}

static const char sched_head[] = "oncall:\n  schedules:\n";

static void expect_sched_error(struct fix *f, const char *item, const char *msg)
{
	char yaml[1024];

	snprintf(yaml, sizeof(yaml), "%s%s", sched_head, item);
	expect_error(f, yaml, msg);
}

static void test_config_missing_required_key(void **state)
{
	expect_sched_error(*state,
			   "    - name: primary\n      start: \"2026-01-05T09:00:00Z\"\n"
			   "      levels: [[alice]]\n",
			   "tier0.yaml:3:7: oncall.schedules[0].team: required key is missing");
}

static void test_config_bad_enum(void **state)
{
	expect_error(*state, "log:\n  level: verbose\n",
		     "tier0.yaml:2:3: log.level: expected one of error, warn, info, debug, got "
		     "'verbose'");
}

static void test_config_listen_without_port(void **state)
{
	expect_error(*state, "http:\n  listen: localhost\n",
		     "tier0.yaml:2:3: http.listen: expected \"host:port\" (IPv6 in brackets: "
		     "\"[::1]:8080\"), got 'localhost'");
}

static void test_config_listen_ipv6_without_brackets(void **state)
{
	expect_error(*state, "http:\n  listen: \"::1:8080\"\n",
		     "tier0.yaml:2:3: http.listen: expected \"host:port\" (IPv6 in brackets: "
		     "\"[::1]:8080\"), got '::1:8080'");
}

static void test_config_listen_port_out_of_range(void **state)
{
	expect_error(*state, "http:\n  listen: \"127.0.0.1:65536\"\n",
		     "tier0.yaml:2:3: http.listen: port must be a number from 1 to 65535, in "
		     "'127.0.0.1:65536'");
	expect_error(*state, "http:\n  listen: \"[::1]:0\"\n",
		     "tier0.yaml:2:3: http.listen: port must be a number from 1 to 65535, in "
		     "'[::1]:0'");
	expect_error(*state, "http:\n  listen: \"host:http\"\n",
		     "tier0.yaml:2:3: http.listen: port must be a number from 1 to 65535, in "
		     "'host:http'");
}

static void test_config_int_below_minimum(void **state)
{
	expect_error(*state, "shutdown:\n  grace_ms: -1\n",
		     "tier0.yaml:2:3: shutdown.grace_ms: must be at least 0, got -1");
	expect_error(*state, "http:\n  max_body_bytes: 0\n",
		     "tier0.yaml:2:3: http.max_body_bytes: must be at least 1, got 0");
}

static void test_config_int_out_of_range(void **state)
{
	expect_sched_error(*state,
			   "    - name: p\n      team: t\n      start: \"2026-01-05T09:00:00Z\"\n"
			   "      shift_hours: 10000\n      levels: [[a]]\n",
			   "tier0.yaml:6:7: oncall.schedules[0].shift_hours: must be between 1 and "
			   "8784, got 10000");
}

static void test_config_schedule_without_levels_entries(void **state)
{
	expect_sched_error(*state,
			   "    - name: p\n      team: t\n      start: \"2026-01-05T09:00:00Z\"\n"
			   "      levels: []\n",
			   "tier0.yaml:6:7: oncall.schedules[0].levels: expected 1 to 5 escalation "
			   "levels, got 0");
}

static void test_config_schedule_too_many_levels(void **state)
{
	expect_sched_error(*state,
			   "    - name: p\n      team: t\n      start: \"2026-01-05T09:00:00Z\"\n"
			   "      levels: [[a], [b], [c], [d], [e], [f]]\n",
			   "tier0.yaml:6:7: oncall.schedules[0].levels: expected 1 to 5 escalation "
			   "levels, got 6");
}

static void test_config_schedule_empty_level(void **state)
{
	expect_sched_error(*state,
			   "    - name: q\n      team: t\n      start: \"2026-01-05T09:00:00Z\"\n"
			   "      levels:\n        - [alice]\n        - []\n",
			   "tier0.yaml:8:11: oncall.schedules[0].levels[1]: expected a non-empty list "
			   "of user names, got an empty list");
}

static void test_config_schedule_level_user_not_string(void **state)
{
	expect_sched_error(*state,
			   "    - name: q\n      team: t\n      start: \"2026-01-05T09:00:00Z\"\n"
			   "      levels:\n        - [alice, 42]\n",
			   "tier0.yaml:7:19: oncall.schedules[0].levels[0][1]: expected a string, got "
			   "an integer");
}

static void test_config_schedule_bad_start(void **state)
{
	expect_sched_error(*state,
			   "    - name: q\n      team: t\n      start: \"2026-02-30T09:00:00Z\"\n"
			   "      levels: [[a]]\n",
			   "tier0.yaml:5:7: oncall.schedules[0].start: expected an RFC 3339 time like "
			   "\"2026-01-05T09:00:00Z\", got '2026-02-30T09:00:00Z'");
}

static void test_config_schedule_bad_timezone(void **state)
{
	expect_sched_error(*state,
			   "    - name: q\n      team: t\n      timezone: Europe/Paris\n"
			   "      start: \"2026-01-05T09:00:00+01:00\"\n      levels: [[a]]\n",
			   "tier0.yaml:5:7: oncall.schedules[0].timezone: expected \"UTC\" or an "
			   "offset like \"+02:00\", got 'Europe/Paris'");
}

static void test_config_rule_with_intent_and_reply(void **state)
{
	expect_error(*state,
		     "intents:\n  rules:\n    - name: a\n      pattern: x\n      intent: y\n"
		     "      reply: z\n",
		     "tier0.yaml:3:7: intents.rules[0]: needs exactly one of 'intent' or 'reply', "
		     "not both");
}

static void test_config_rule_with_neither_intent_nor_reply(void **state)
{
	expect_error(*state,
		     "intents:\n  rules:\n    - {name: a, pattern: x, intent: y}\n"
		     "    - {name: b, pattern: x}\n",
		     "tier0.yaml:4:7: intents.rules[1]: needs exactly one of 'intent' or 'reply'");
}

static void test_config_rule_bad_pattern(void **state)
{
	expect_error(*state, "intents:\n  rules:\n    - {name: a, pattern: \"who (owns\", intent: y}\n",
		     "tier0.yaml:3:17: intents.rules[0].pattern: invalid regular expression at "
		     "offset 9: missing closing parenthesis");
}

static void test_config_command_without_slash(void **state)
{
	expect_error(*state, "intents:\n  commands:\n    /oncall: who is on call for\n"
			     "    whoowns: who owns\n",
		     "tier0.yaml:4:5: intents.commands.whoowns: command must start with '/' and "
		     "have no spaces");
}

static void test_config_unset_env_var(void **state)
{
	expect_error(*state, "console:\n  channel: \"ops-${T0_TEST_UNSET}\"\n",
		     "tier0.yaml:2:3: console.channel: environment variable 'T0_TEST_UNSET' is "
		     "not set");
}

static void test_config_malformed_env_reference(void **state)
{
	expect_error(*state, "console:\n  channel: \"ops-${T0 X}\"\n",
		     "tier0.yaml:2:3: console.channel: malformed environment reference at offset 4 "
		     "(expected ${NAME}, or $${ for a literal ${)");
	expect_error(*state, "console:\n  channel: \"ops-${\"\n",
		     "tier0.yaml:2:3: console.channel: malformed environment reference at offset 4 "
		     "(expected ${NAME}, or $${ for a literal ${)");
}

static void test_config_unset_env_var_in_list_item(void **state)
{
	expect_error(*state, "runbooks:\n  paths:\n    - ok\n    - \"${T0_TEST_UNSET}/rb\"\n",
		     "tier0.yaml:4:7: runbooks.paths[1]: environment variable 'T0_TEST_UNSET' is "
		     "not set");
}

static void test_config_secret_and_secret_file_both(void **state)
{
	expect_error(*state, "http:\n  metrics_token: abc\n  metrics_token_file: tok.txt\n",
		     "tier0.yaml:3:3: http.metrics_token_file: set either 'metrics_token' or "
		     "'metrics_token_file', not both");
}

static void test_config_secret_file_wrong_type(void **state)
{
	expect_error(*state, "http:\n  metrics_token_file: 7\n",
		     "tier0.yaml:2:3: http.metrics_token_file: expected a string, got an integer");
}

static void test_config_unreadable_secret_file(void **state)
{
	struct fix *f = *state;
	char want[PATH_MAX * 2];
	char real[PATH_MAX];

	write_file(f, "tier0.yaml", "http:\n  metrics_token_file: missing.txt\n");
	assert_int_equal(load_file(f, "tier0.yaml"), T0_ECONFIG);
	assert_non_null(realpath(f->dir, real));
	snprintf(want, sizeof(want),
		 "%s/tier0.yaml:2:3: http.metrics_token_file: cannot read secret file "
		 "'%s/missing.txt': No such file or directory",
		 f->dir, real);
	assert_string_equal(f->err, want);
}

static void test_config_secret_file_must_be_regular(void **state)
{
	struct fix *f = *state;

	/* A directory (or a FIFO) must fail at once rather than block or stream. */
	mkdir(strcat(strcpy((char[PATH_MAX]){ 0 }, f->dir), "/adir"), 0700);
	write_file(f, "tier0.yaml", "http:\n  metrics_token_file: adir\n");
	assert_int_equal(load_file(f, "tier0.yaml"), T0_ECONFIG);
	assert_non_null(strstr(f->err, "/adir': not a regular file"));
}

static void test_config_empty_secret_file(void **state)
{
	struct fix *f = *state;

	write_file(f, "empty.txt", "\n");
	write_file(f, "tier0.yaml", "http:\n  metrics_token_file: empty.txt\n");
	assert_int_equal(load_file(f, "tier0.yaml"), T0_ECONFIG);
	assert_non_null(strstr(f->err, ":2:3: http.metrics_token_file: secret file '"));
	assert_non_null(strstr(f->err, "/empty.txt' is empty or holds a NUL byte"));
}

static void test_config_unreadable_config_file(void **state)
{
	struct fix *f = *state;
	char want[1024];

	assert_int_equal(load_file(f, "nope.yaml"), T0_ENOTFOUND);
	assert_null(f->cfg);
	snprintf(want, sizeof(want), "%s/nope.yaml: cannot open: No such file or directory",
		 f->dir);
	assert_string_equal(f->err, want);
	/* A directory is not a configuration file either. */
	assert_int_equal(config_load(f->dir, &f->cfg, f->err, sizeof(f->err)), T0_EIO);
	assert_non_null(strstr(f->err, "is a directory"));
}

/* ---- success paths ---- */

static void test_config_empty_file_gives_defaults(void **state)
{
	struct fix *f = *state;
	char cwd[PATH_MAX], want[PATH_MAX + 16];

	assert_int_equal(load(f, ""), T0_OK);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_string_equal(f->cfg->base_dir, cwd);
	assert_int_equal(f->cfg->log_level, LOG_LEVEL_INFO);
	snprintf(want, sizeof(want), "%s/tier0.db", cwd);
	assert_string_equal(f->cfg->store_path, want);
	assert_string_equal(f->cfg->http_listen, "127.0.0.1:8080");
	assert_string_equal(f->cfg->http_host, "127.0.0.1");
	assert_int_equal(f->cfg->http_port, 8080);
	assert_int_equal(f->cfg->http_enabled, 1);
	assert_int_equal(f->cfg->http_max_body, 1048576);
	assert_int_equal(f->cfg->shutdown_grace_ms, 10000);
	assert_int_equal(f->cfg->ncatalog_files, 0);
	assert_int_equal(f->cfg->nrunbook_paths, 0);
	assert_string_equal(f->cfg->console_channel, "console");
	assert_null(f->cfg->console_email);
	assert_non_null(f->cfg->console_user);
	assert_true(json_is_array(f->cfg->oncall_schedules));
	assert_true(json_is_array(f->cfg->intent_rules));
	assert_true(json_is_object(f->cfg->command_aliases));
	assert_int_equal(f->cfg->nsecrets, 0);
	/* A comments-only file and an explicit null document are empty too. */
	assert_int_equal(load(f, "# nothing here\n"), T0_OK);
	assert_int_equal(load(f, "---\n...\n"), T0_OK);
	assert_int_equal(load(f, "http:\nlog:\n"), T0_OK);
	assert_int_equal(f->cfg->http_port, 8080);
}

static void test_config_defaults_appear_in_tree(void **state)
{
	struct fix *f = *state;
	json_t *sched;

	assert_int_equal(load(f, "oncall:\n  schedules:\n    - name: p\n      team: t\n"
				 "      start: \"2026-01-05T09:00:00Z\"\n      levels: [[a]]\n"),
			 T0_OK);
	sched = json_array_get(f->cfg->oncall_schedules, 0);
	assert_string_equal(json_string_value(json_object_get(sched, "timezone")), "UTC");
	assert_int_equal(json_integer_value(json_object_get(sched, "shift_hours")), 168);
	assert_string_equal(json_string_value(json_object_get(json_object_get(f->cfg->tree, "log"),
								 "level")),
			    "info");
}

static void test_config_console_user_defaults_to_user_env(void **state)
{
	struct fix *f = *state;
	char *old = getenv("USER") ? strdup(getenv("USER")) : NULL;

	setenv("USER", "t0-test-user", 1);
	assert_int_equal(load(f, ""), T0_OK);
	assert_string_equal(f->cfg->console_user, "t0-test-user");
	unsetenv("USER");
	assert_int_equal(load(f, "console: {email: a@b.c}\n"), T0_OK);
	assert_non_null(f->cfg->console_user);
	assert_true(f->cfg->console_user[0] != '\0');
	assert_string_equal(f->cfg->console_email, "a@b.c");
	assert_int_equal(load(f, "console: {user: bob}\n"), T0_OK);
	assert_string_equal(f->cfg->console_user, "bob");
	if (old)
		setenv("USER", old, 1);
	free(old);
}

static void test_config_typed_fields(void **state)
{
	struct fix *f = *state;

	assert_int_equal(load(f, "log: {level: debug}\nstore: {path: \":memory:\"}\n"
				 "http: {enabled: false, listen: \"[::1]:9090\", max_body_bytes: 4096}\n"
				 "shutdown: {grace_ms: 0}\ncatalog: {files: [a.yaml, \"b/*.yaml\"]}\n"
				 "runbooks: {paths: [rb]}\n"
				 "intents: {commands: {/whoowns: who owns}}\n"),
			 T0_OK);
	assert_int_equal(f->cfg->log_level, LOG_LEVEL_DEBUG);
	assert_string_equal(f->cfg->store_path, ":memory:");
	assert_int_equal(f->cfg->http_enabled, 0);
	assert_string_equal(f->cfg->http_host, "::1");
	assert_int_equal(f->cfg->http_port, 9090);
	assert_int_equal(f->cfg->http_max_body, 4096);
	assert_int_equal(f->cfg->shutdown_grace_ms, 0);
	assert_int_equal(f->cfg->ncatalog_files, 2);
	assert_string_equal(f->cfg->catalog_files[1], "b/*.yaml");
	assert_int_equal(f->cfg->nrunbook_paths, 1);
	assert_string_equal(f->cfg->runbook_paths[0], "rb");
	assert_string_equal(json_string_value(json_object_get(f->cfg->command_aliases, "/whoowns")),
			    "who owns");
}

static void test_config_json_input(void **state)
{
	struct fix *f = *state;

	assert_int_equal(load(f, "{\"http\": {\"listen\": \"0.0.0.0:80\", \"enabled\": true},\n"
				 " \"catalog\": {\"files\": [\"x.yaml\"]}}"),
			 T0_OK);
	assert_int_equal(f->cfg->http_port, 80);
	assert_string_equal(f->cfg->catalog_files[0], "x.yaml");
	expect_error(f, "{\"http\": {\"listen\": 80}}",
		     "tier0.yaml:1:11: http.listen: expected a string, got an integer");
}

static void test_config_env_substitution(void **state)
{
	struct fix *f = *state;

	setenv("T0_TEST_HOST", "10.0.0.1", 1);
	setenv("T0_TEST_PORT", "9000", 1);
	setenv("T0_TEST_TEAM", "payments", 1);
	assert_int_equal(load(f, "http:\n  listen: \"${T0_TEST_HOST}:${T0_TEST_PORT}\"\n"
				 "console:\n  channel: \"cost $$5 and $${T0_TEST_HOST} ${T0_TEST_TEAM}\"\n"
				 "catalog:\n  files:\n    - \"${T0_TEST_TEAM}/catalog.yaml\"\n"),
			 T0_OK);
	assert_string_equal(f->cfg->http_host, "10.0.0.1");
	assert_int_equal(f->cfg->http_port, 9000);
	/* "$$5" has no brace: kept as is; "$${" becomes a literal "${". */
	assert_string_equal(f->cfg->console_channel, "cost $$5 and ${T0_TEST_HOST} payments");
	assert_string_equal(f->cfg->catalog_files[0], "payments/catalog.yaml");
	unsetenv("T0_TEST_HOST");
	unsetenv("T0_TEST_PORT");
	unsetenv("T0_TEST_TEAM");
}

static void test_config_env_secret_is_masked(void **state)
{
	struct fix *f = *state;
	char *out;

	setenv("T0_TEST_TOKEN", "s3cr3t-from-env", 1);
	assert_int_equal(load(f, "http:\n  metrics_token: \"${T0_TEST_TOKEN}\"\n"
				 "console:\n  email: \"x-${T0_TEST_TOKEN}@example.com\"\n"),
			 T0_OK);
	assert_int_equal(f->cfg->nsecrets, 1);
	assert_string_equal(f->cfg->secrets[0], "s3cr3t-from-env");
	out = dump(f->cfg);
	assert_null(strstr(out, "s3cr3t-from-env"));
	assert_non_null(strstr(out, "\"metrics_token\": \"********\""));
	free(out);
	unsetenv("T0_TEST_TOKEN");
}

static void test_config_secret_file_read_and_masked(void **state)
{
	struct fix *f = *state;
	json_t *http;
	char *out;

	mkdir(strcat(strcpy((char[PATH_MAX]){ 0 }, f->dir), "/secrets"), 0700);
	write_file(f, "secrets/metrics", "hunter2-token\n");
	write_file(f, "tier0.yaml", "http:\n  metrics_token_file: secrets/metrics\n");
	assert_int_equal(load_file(f, "tier0.yaml"), T0_OK);
	http = json_object_get(f->cfg->tree, "http");
	assert_string_equal(json_string_value(json_object_get(http, "metrics_token")),
			    "hunter2-token");
	assert_int_equal(f->cfg->nsecrets, 1);
	assert_string_equal(f->cfg->secrets[0], "hunter2-token");
	out = dump(f->cfg);
	assert_null(strstr(out, "hunter2"));
	assert_non_null(strstr(out, "\"metrics_token\": \"********\""));
	assert_non_null(strstr(out, "\"metrics_token_file\": \"secrets/metrics\""));
	free(out);
}

static void test_config_dump_is_sorted_indented_json(void **state)
{
	struct fix *f = *state;
	char *out;
	json_t *back;

	assert_int_equal(load(f, "store: {path: \":memory:\"}\nhttp: {listen: \"127.0.0.1:1\"}\n"),
			 T0_OK);
	out = dump(f->cfg);
	back = json_loads(out, 0, NULL);
	assert_non_null(back);
	assert_true(json_equal(back, f->cfg->tree));
	assert_true(strstr(out, "\"catalog\"") < strstr(out, "\"http\""));
	assert_true(strstr(out, "\"http\"") < strstr(out, "\"store\""));
	assert_non_null(strstr(out, "\n  \"http\": {\n    \"enabled\": true"));
	json_decref(back);
	free(out);
}

static void test_config_relative_paths_resolve_against_config_dir(void **state)
{
	struct fix *f = *state;
	char real[PATH_MAX], want[PATH_MAX * 2];
	char *p;

	assert_non_null(realpath(f->dir, real));
	mkdir(strcat(strcpy((char[PATH_MAX]){ 0 }, f->dir), "/etc"), 0700);
	write_file(f, "etc/tier0.yaml", "store:\n  path: ../data/t0.db\n");
	assert_int_equal(load_file(f, "etc/tier0.yaml"), T0_OK);
	snprintf(want, sizeof(want), "%s/etc", real);
	assert_string_equal(f->cfg->base_dir, want);
	snprintf(want, sizeof(want), "%s/etc/../data/t0.db", real);
	assert_string_equal(f->cfg->store_path, want);
	p = config_path(f->cfg, "runbooks/x.md");
	snprintf(want, sizeof(want), "%s/etc/runbooks/x.md", real);
	assert_string_equal(p, want);
	free(p);
	p = config_path(f->cfg, "/abs/x");
	assert_string_equal(p, "/abs/x");
	free(p);

	write_file(f, "etc/tier0.yaml", "store:\n  path: /var/lib/tier0/t0.db\n");
	assert_int_equal(load_file(f, "etc/tier0.yaml"), T0_OK);
	assert_string_equal(f->cfg->store_path, "/var/lib/tier0/t0.db");
}

static void test_config_example_file_loads(void **state)
{
	struct fix *f = *state;
	char *out;

	setenv("T0_METRICS_TOKEN", "example-metrics-token", 1);
	setenv("TIER0_ENV", "test", 1);
	/* The executor tokens of the actions section (docs/ACTIONS.md). */
	setenv("PAGERDUTY_TOKEN", "example-pd-token", 1);
	setenv("GITHUB_TOKEN", "example-gh-token", 1);
	setenv("ARGOCD_TOKEN", "example-argo-token", 1);
	setenv("K8S_TOKEN", "example-k8s-token", 1);
	config_free(f->cfg);
	f->cfg = NULL;
	if (config_load("config/tier0.example.yaml", &f->cfg, f->err, sizeof(f->err)) != T0_OK)
		print_error("%s\n", f->err);
	assert_non_null(f->cfg);
	assert_int_equal(f->cfg->nsecrets, 5);
	assert_true(json_array_size(f->cfg->oncall_schedules) >= 1);
	assert_true(json_array_size(f->cfg->intent_rules) >= 1);
	out = dump(f->cfg);
	assert_null(strstr(out, "example-metrics-token"));
	assert_null(strstr(out, "example-k8s-token"));
	free(out);
	unsetenv("T0_METRICS_TOKEN");
	unsetenv("TIER0_ENV");
	unsetenv("PAGERDUTY_TOKEN");
	unsetenv("GITHUB_TOKEN");
	unsetenv("ARGOCD_TOKEN");
	unsetenv("K8S_TOKEN");
}

static void test_config_alias_copies_are_validated(void **state)
{
	/* Nodes copied by an alias have no positions: the alias's owner is named. */
	expect_error(*state, "x: &bad {listen: 1}\n",
		     "tier0.yaml:1:1: x: unknown key 'x' (known keys: log, store, http, shutdown, "
		     "catalog, runbooks, console, oncall, intents, llm, teams, pagerduty, "
		     "alertmanager, github, argocd, deployments, incidents, "
		     "actions, action_policy, executors, slack)");
	expect_error(*state, "log: &l {level: info}\nhttp: *l\n",
		     "tier0.yaml:2:1: http.level: unknown key 'level' (known keys: enabled, listen, "
		     "max_body_bytes, metrics_token, metrics_token_file)");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_config_unknown_top_level_key),
		T(test_config_unknown_nested_key),
		T(test_config_unknown_key_in_list_item),
		T(test_config_string_given_integer),
		T(test_config_integer_given_string),
		T(test_config_integer_given_float),
		T(test_config_bool_given_string),
		T(test_config_section_given_scalar),
		T(test_config_list_given_string),
		T(test_config_list_item_wrong_type),
		T(test_config_list_of_objects_item_not_mapping),
		T(test_config_map_value_wrong_type),
		T(test_config_top_level_not_mapping),
		T(test_config_two_documents),
		T(test_config_invalid_yaml_names_position),
		T(test_config_missing_required_key),
		T(test_config_bad_enum),
		T(test_config_listen_without_port),
		T(test_config_listen_ipv6_without_brackets),
		T(test_config_listen_port_out_of_range),
		T(test_config_int_below_minimum),
		T(test_config_int_out_of_range),
		T(test_config_schedule_without_levels_entries),
		T(test_config_schedule_too_many_levels),
		T(test_config_schedule_empty_level),
		T(test_config_schedule_level_user_not_string),
		T(test_config_schedule_bad_start),
		T(test_config_schedule_bad_timezone),
		T(test_config_rule_with_intent_and_reply),
		T(test_config_rule_with_neither_intent_nor_reply),
		T(test_config_rule_bad_pattern),
		T(test_config_command_without_slash),
		T(test_config_unset_env_var),
		T(test_config_malformed_env_reference),
		T(test_config_unset_env_var_in_list_item),
		T(test_config_secret_and_secret_file_both),
		T(test_config_secret_file_wrong_type),
		T(test_config_unreadable_secret_file),
		T(test_config_secret_file_must_be_regular),
		T(test_config_empty_secret_file),
		T(test_config_unreadable_config_file),
		T(test_config_empty_file_gives_defaults),
		T(test_config_defaults_appear_in_tree),
		T(test_config_console_user_defaults_to_user_env),
		T(test_config_typed_fields),
		T(test_config_json_input),
		T(test_config_env_substitution),
		T(test_config_env_secret_is_masked),
		T(test_config_secret_file_read_and_masked),
		T(test_config_dump_is_sorted_indented_json),
		T(test_config_relative_paths_resolve_against_config_dir),
		T(test_config_example_file_loads),
		T(test_config_alias_copies_are_validated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
