/*
 * Configuration of actions, action_policy and executors: every error names
 * file:line:col (or the action) and the key, and secrets never show.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "bot/bot.h"
#include "bot/config.h"
#include "bot/log.h"
#include "bot/t0.h"
#include "runbooks/actions.h"

/* yaml, then the one-line error of config_load_buffer or, past it, bot_world_build */
static const struct {
	const char *yaml;
	const char *err;
} errors[] = {
	{ "actions:\n  - name: x\n",
	  "tier0.yaml:2:5: actions[0].executor: required key is missing" },
	{ "actions:\n  - name: Bad Name\n    executor: {type: http, url: 'https://a.example/'}\n",
	  "tier0.yaml:2:5: actions[0]: name: 'Bad Name' must be lower-case letters, digits, '-' or '_' (starting with a letter, at most 64)" },
	{ "actions:\n  - name: x\n    executor: {type: ftp}\n",
	  "tier0.yaml:3:16: actions[0].executor.type: expected one of http, pagerduty, github_workflow, argocd_sync, argocd_rollback, got 'ftp'" },
	{ "actions:\n  - name: x\n    executor: {type: http}\n",
	  "tier0.yaml:2:5: actions[0]: executor.url: required for type http" },
	{ "actions:\n  - name: x\n    executor: {type: http, url: 'https://{{params.host}}/x'}\n",
	  "tier0.yaml:2:5: actions[0]: executor.url: the scheme and host must be written out (no placeholder, no user@)" },
	{ "actions:\n  - name: x\n    executor: {type: http, url: 'https://a.example/{{params.nope}}'}\n",
	  "tier0.yaml:2:5: actions[0]: executor.url: '{{params.nope}}' names no parameter of this action" },
	{ "actions:\n  - name: x\n    executor: {type: http, url: 'https://a.example/{{bogus}}'}\n",
	  "tier0.yaml:2:5: actions[0]: executor.url: unknown placeholder '{{bogus}}' (known: params.NAME, target, entity.name, entity.annotations.KEY, requester.email, request.id, secret.NAME, ...)" },
	{ "actions:\n  - name: x\n    executor: {type: http, url: 'https://a.example/x#frag'}\n",
	  "tier0.yaml:2:5: actions[0]: executor.url: a URL template cannot have a fragment ('#')" },
	{ "actions:\n  - name: x\n    executor: {type: http, url: 'ftp://a.example/x'}\n",
	  "tier0.yaml:2:5: actions[0]: executor.url: must start with http:// or https://" },
	{ "actions:\n  - name: x\n    params: [{name: q}]\n    executor: {type: http, url: 'https://a.example/x?q={{params.q | path}}'}\n",
	  "tier0.yaml:2:5: actions[0]: executor.url: '| path' is only allowed in a URL path" },
	{ "actions:\n  - name: x\n    executor: {type: http, url: 'https://a.example/x', headers: {'Bad Header': v}}\n",
	  "tier0.yaml:2:5: actions[0]: executor.headers: 'Bad Header' is not a header name" },
	{ "actions:\n  - name: x\n    executor: {type: http, url: 'https://a.example/x', body: {'{{params.k}}': 1}}\n",
	  "tier0.yaml:2:5: actions[0]: executor.body: placeholders are not allowed in keys ('{{params.k}}')" },
	{ "actions:\n  - name: x\n    executor: {type: pagerduty, status: acknowledged}\n",
	  "tier0.yaml:2:5: actions[0]: executor.incident: required for type pagerduty" },
	{ "actions:\n  - name: x\n    executor: {type: pagerduty, incident: x, status: snoozed}\n",
	  "tier0.yaml:3:46: actions[0].executor.status: expected one of acknowledged, resolved, got 'snoozed'" },
	{ "actions:\n  - name: x\n    executor: {type: argocd_sync, url: 'https://a.example/'}\n",
	  "tier0.yaml:2:5: actions[0]: executor.url: only for type http" },
	{ "actions:\n  - name: x\n    risk: medium\n    executor: {type: http, url: 'https://a.example/'}\n",
	  "tier0.yaml:3:5: actions[0].risk: expected one of low, high, critical, got 'medium'" },
	{ "actions:\n  - name: x\n    params: [{name: n, type: int, default: abc}]\n    executor: {type: http, url: 'https://a.example/'}\n",
	  "tier0.yaml:2:5: actions[0]: params[0].default: n must be a whole number" },
	{ "actions:\n  - name: x\n    params: [{name: e, allowed: [a, b], default: c}]\n    executor: {type: http, url: 'https://a.example/'}\n",
	  "tier0.yaml:2:5: actions[0]: params[0].default: e must be one of a, b, got 'c'" },
	{ "actions:\n  - name: x\n    params: [{name: p, pattern: '(unclosed'}]\n    executor: {type: http, url: 'https://a.example/'}\n",
	  "tier0.yaml:3:24: actions[0].params[0].pattern: invalid regular expression at offset 9: missing closing parenthesis" },
	{ "actions:\n  - name: x\n    params: [{name: a}, {name: a}]\n    executor: {type: http, url: 'https://a.example/'}\n",
	  "tier0.yaml:2:5: actions[0]: params[1].name: duplicate parameter 'a'" },
	{ "actions:\n  - name: x\n    params: [{name: s, min: 1}]\n    executor: {type: http, url: 'https://a.example/'}\n",
	  "tier0.yaml:2:5: actions[0]: params[0]: min and max are for type int" },
	{ "actions:\n  - name: x\n    timeout: soon\n    executor: {type: http, url: 'https://a.example/'}\n",
	  "tier0.yaml:3:5: actions[0].timeout: expected a duration like \"30s\", \"10m\", \"2h\", got 'soon'" },
	{ "actions:\n  - name: x\n    rate_limit: lots\n    executor: {type: http, url: 'https://a.example/'}\n",
	  "tier0.yaml:3:5: actions[0].rate_limit: expected a rate like \"3/10m\" (N requests per period), got 'lots'" },
	{ "actions:\n  - name: x\n    approvals: {count: 11}\n    executor: {type: http, url: 'https://a.example/'}\n",
	  "tier0.yaml:3:17: actions[0].approvals.count: must be between 0 and 10, got 11" },
	{ "actions:\n  - name: x\n    executor: {type: http, url: 'https://a.example/', frobnicate: 1}\n",
	  "tier0.yaml:3:55: actions[0].executor.frobnicate: unknown key 'frobnicate' (known keys: type, method, url, headers, body, incident, status, from, repo, workflow, ref, inputs, app, revision, id, prune, success)" },
	{ "action_policy:\n  expiry: forever\n",
	  "tier0.yaml:2:3: action_policy.expiry: expected a duration like \"30s\", \"10m\", \"2h\", got 'forever'" },
	{ "action_policy:\n  rate_limits: {per_user: 10}\n",
	  "tier0.yaml:2:17: action_policy.rate_limits.per_user: expected a string, got an integer" },
	{ "executors:\n  github: {base_url: 'https://gh.example/?x=1'}\n",
	  "tier0.yaml:2:12: executors.github.base_url: expected an http:// or https:// URL without query, got 'https://gh.example/?x=1'" },
	{ "executors:\n  secrets: [{name: a}]\n",
	  "tier0.yaml:2:13: executors.secrets[0].value: required key is missing" },
	{ "actions:\n  - name: x\n    executor: {type: http, url: 'https://a.example/{{secret.none}}'}\n",
	  "tier0.yaml: actions[0]: executor.url: '{{secret.none}}' is not defined in executors.secrets" },
	{ "actions:\n  - name: x\n    executor: {type: pagerduty, incident: P1, status: resolved}\n",
	  "tier0.yaml: actions[0] (x): executor pagerduty needs executors.pagerduty.token" },
	{ "actions:\n  - name: x\n    executor: {type: http, url: 'https://a.example/'}\n  - name: x\n    executor: {type: http, url: 'https://a.example/'}\n",
	  "tier0.yaml: actions[1].name: duplicate action 'x'" },
};

static int load_and_build(const char *yaml, char *err, size_t errlen)
{
	struct config *cfg = NULL;
	struct bot_world *w = NULL;
	int rc;

	rc = config_load_buffer("tier0.yaml", yaml, strlen(yaml), &cfg, err, errlen);
	if (rc != T0_OK)
		return rc;
	rc = bot_world_build(cfg, &w, err, errlen);
	bot_world_free(w);
	return rc;
}

static void test_config_actions_errors_name_the_key(void **state)
{
	char err[1024];

	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
		err[0] = '\0';
		if (load_and_build(errors[i].yaml, err, sizeof(err)) != T0_ECONFIG ||
		    strcmp(err, errors[i].err) != 0)
			fail_msg("case %zu:\n%s\ngot:  %s\nwant: %s", i, errors[i].yaml, err,
				 errors[i].err);
	}
}

static void test_config_actions_defaults(void **state)
{
	static const char yaml[] =
		"actions:\n"
		"  - name: ping-it\n"
		"    executor: {type: http, url: 'https://a.example/ping'}\n";
	struct config *cfg = NULL;
	struct action_set *set;
	const struct action_def *d;
	char err[512];

	assert_int_equal(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)),
			 T0_OK);
	set = action_set_new(cfg, err, sizeof(err));
	assert_non_null(set);
	d = action_find(set, "ping-it");
	assert_non_null(d);
	assert_int_equal(d->risk, POLICY_RISK_HIGH);
	assert_int_equal(d->approvals, -1);
	assert_int_equal(d->timeout_ms, 30000);
	assert_true(d->dry_run);
	assert_true(d->target_required);
	assert_true(d->requesters.owners);
	assert_true(d->approvers.owners);
	assert_int_equal(set->policy.expiry_ms, 30 * 60 * 1000);
	assert_int_equal(set->policy.breaker_failures, 3);
	assert_int_equal(set->policy.breaker_pause_ms, 15 * 60 * 1000);
	assert_int_equal(set->policy.keep_response_bytes, 2048);
	assert_false(set->policy.has_user);
	assert_string_equal(set->pagerduty.base_url, "https://api.pagerduty.com");
	assert_string_equal(set->github.base_url, "https://api.github.com");
	assert_null(set->argocd.base_url);
	action_set_free(set);
	config_free(cfg);
}

static void test_config_actions_who_lists(void **state)
{
	static const char yaml[] =
		"actions:\n"
		"  - name: a\n"
		"    requesters: {groups: [sre]}\n"
		"    approvals: {count: 2, approvers: {owners: true, users: [bob]}}\n"
		"    executor: {type: http, url: 'https://a.example/'}\n";
	struct config *cfg = NULL;
	struct action_set *set;
	const struct action_def *d;
	char err[512];

	assert_int_equal(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)),
			 T0_OK);
	set = action_set_new(cfg, err, sizeof(err));
	assert_non_null(set);
	d = action_find(set, "a");
	/* Naming someone replaces the owners default; saying owners keeps them. */
	assert_false(d->requesters.owners);
	assert_int_equal(d->requesters.ngroups, 1);
	assert_true(d->approvers.owners);
	assert_int_equal(d->approvers.nusers, 1);
	assert_int_equal(d->approvals, 2);
	action_set_free(set);
	config_free(cfg);
}

static void test_config_actions_secrets_are_masked(void **state)
{
	char dir[] = "/tmp/t0cfga.XXXXXX", path[256], *out = NULL;
	size_t outlen = 0;
	FILE *fp, *mem;
	struct config *cfg = NULL;
	char err[512];
	static const char yaml[] =
		"executors:\n"
		"  github:\n"
		"    token_file: gh.token\n"
		"  pagerduty:\n"
		"    token: ${T0_TEST_PD_TOKEN}\n"
		"  secrets:\n"
		"    - name: k8s\n"
		"      value: kube-secret-value\n";

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/gh.token", dir);
	fp = fopen(path, "w");
	fputs("ghp_file_secret_value\n", fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/tier0.yaml", dir);
	fp = fopen(path, "w");
	fputs(yaml, fp);
	fclose(fp);
	setenv("T0_TEST_PD_TOKEN", "pd-env-secret-value", 1);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), T0_OK);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(cfg->executors, "github"), "token")),
			    "ghp_file_secret_value");
	mem = open_memstream(&out, &outlen);
	assert_int_equal(config_dump_masked(cfg, mem), T0_OK);
	fclose(mem);
	assert_null(strstr(out, "ghp_file_secret_value"));
	assert_null(strstr(out, "pd-env-secret-value"));
	assert_null(strstr(out, "kube-secret-value"));
	assert_non_null(strstr(out, "\"gh.token\""));
	free(out);
	config_free(cfg);
	unsetenv("T0_TEST_PD_TOKEN");
	snprintf(path, sizeof(path), "%s/gh.token", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/tier0.yaml", dir);
	unlink(path);
	rmdir(dir);
}

static void test_config_actions_example_and_demo_build(void **state)
{
	static const char *const files[] = { "config/tier0.example.yaml", "config/demo/tier0.yaml" };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct config *cfg = NULL;
		struct bot_world *w = NULL;
		char err[1024];

		setenv("T0_METRICS_TOKEN", "x", 1);
		setenv("TIER0_ENV", "test", 1);
		setenv("PAGERDUTY_TOKEN", "pd", 1);
		setenv("GITHUB_TOKEN", "gh", 1);
		setenv("ARGOCD_TOKEN", "argo", 1);
		setenv("K8S_TOKEN", "k8s", 1);
		if (config_load(files[i], &cfg, err, sizeof(err)) != T0_OK)
			fail_msg("%s", err);
		if (bot_world_build(cfg, &w, err, sizeof(err)) != T0_OK)
			fail_msg("%s", err);
		assert_true(w->actions->n >= 7);
		assert_non_null(action_find(w->actions, "rollback"));
		assert_non_null(action_find(w->actions, "restart"));
		assert_non_null(action_find(w->actions, "scale"));
		assert_non_null(action_find(w->actions, "sync"));
		assert_non_null(action_find(w->actions, "pd-ack"));
		assert_non_null(action_find(w->actions, "pd-resolve"));
		bot_world_free(w);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_actions_errors_name_the_key),
		cmocka_unit_test(test_config_actions_defaults),
		cmocka_unit_test(test_config_actions_who_lists),
		cmocka_unit_test(test_config_actions_secrets_are_masked),
		cmocka_unit_test(test_config_actions_example_and_demo_build),
	};

	log_set_level(LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
