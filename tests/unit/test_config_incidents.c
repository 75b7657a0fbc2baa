#define _XOPEN_SOURCE 700 /* nftw */
/*
 * Configuration of the incident sections (pagerduty, alertmanager,
 * catalog.backstage, github, argocd, deployments, incidents): defaults, typed
 * fields, section presence, the list of webhook secrets (inline and _file,
 * masked) and every error message.
 */
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
	snprintf(f->dir, sizeof(f->dir), "/tmp/t0cfgi.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
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

static int load(struct fix *f, const char *yaml)
{
	config_free(f->cfg);
	f->cfg = NULL;
	return config_load_buffer("tier0.yaml", yaml, strlen(yaml), &f->cfg, f->err,
				  sizeof(f->err));
}

/* Loads a file written in the fixture directory (so *_file paths resolve there). */
static int load_file(struct fix *f, const char *yaml)
{
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/tier0.yaml", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(yaml, fp);
	fclose(fp);
	config_free(f->cfg);
	f->cfg = NULL;
	return config_load(path, &f->cfg, f->err, sizeof(f->err));
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

static void expect_error(struct fix *f, const char *yaml, const char *msg)
{
	assert_int_equal(load(f, yaml), T0_ECONFIG);
	assert_string_equal(f->err, msg);
}

static void test_config_incidents_absent_sections_are_off_with_defaults(void **state)
{
	struct fix *f = *state;

	assert_int_equal(load(f, "log:\n  level: warn\n"), T0_OK);
	assert_int_equal(f->cfg->pagerduty_on, 0);
	assert_int_equal(f->cfg->alertmanager_on, 0);
	assert_int_equal(f->cfg->backstage_on, 0);
	assert_int_equal(f->cfg->github_on, 0);
	assert_int_equal(f->cfg->argocd_on, 0);
	assert_int_equal(f->cfg->deployments_on, 0);
	assert_int_equal(f->cfg->incidents_on, 0);
	assert_int_equal(f->cfg->incidents_source_timeout_ms, 3000);
	assert_int_equal(f->cfg->incidents_overall_timeout_ms, 5000);
	/* Absent sections stay absent: no defaults, nothing switched on. */
	assert_null(f->cfg->pd_api_url);
	assert_null(json_object_get(f->cfg->tree, "pagerduty"));
	assert_null(json_object_get(json_object_get(f->cfg->tree, "catalog"), "backstage"));
	assert_null(f->cfg->pd_token);
	assert_null(f->cfg->incidents_default_channel);
	assert_int_equal(f->cfg->npd_webhook_secrets, 0);
}

static void test_config_incidents_empty_section_switches_on(void **state)
{
	struct fix *f = *state;

	assert_int_equal(load(f, "alertmanager: {}\nincidents: {}\n"), T0_OK);
	assert_int_equal(f->cfg->alertmanager_on, 1);
	assert_int_equal(f->cfg->incidents_on, 1);
	assert_int_equal(f->cfg->pagerduty_on, 0);
	assert_null(f->cfg->am_token);
	assert_string_equal(f->cfg->am_service_label, "service");
	assert_int_equal(load(f, "pagerduty: {}\ngithub: {}\n"), T0_OK);
	assert_string_equal(f->cfg->pd_api_url, "https://api.pagerduty.com");
	assert_string_equal(f->cfg->github_api_url, "https://api.github.com");
}

static void test_config_incidents_typed_fields(void **state)
{
	struct fix *f = *state;

	assert_int_equal(load(f, "pagerduty:\n"
				 "  api_url: https://api.eu.pagerduty.com\n"
				 "  token: pd-token\n"
				 "  from_email: bot@example.com\n"
				 "  webhook_secrets: [old-secret, new-secret]\n"
				 "alertmanager:\n"
				 "  token: am-token\n"
				 "  service_label: app\n"
				 "catalog:\n"
				 "  backstage:\n"
				 "    url: http://127.0.0.1:7007\n"
				 "    token: bs-token\n"
				 "github:\n"
				 "  token: gh-token\n"
				 "argocd:\n"
				 "  url: https://argocd.example.com\n"
				 "  token: argo-token\n"
				 "deployments:\n"
				 "  webhook_secret: deploy-secret\n"
				 "incidents:\n"
				 "  default_channel: '#incidents'\n"
				 "  source_timeout: 2s\n"
				 "  overall_timeout: 4500\n"),
			 T0_OK);
	assert_int_equal(f->cfg->pagerduty_on, 1);
	assert_int_equal(f->cfg->backstage_on, 1);
	assert_int_equal(f->cfg->github_on, 1);
	assert_int_equal(f->cfg->argocd_on, 1);
	assert_int_equal(f->cfg->deployments_on, 1);
	assert_string_equal(f->cfg->pd_api_url, "https://api.eu.pagerduty.com");
	assert_string_equal(f->cfg->pd_token, "pd-token");
	assert_string_equal(f->cfg->pd_from_email, "bot@example.com");
	assert_int_equal(f->cfg->npd_webhook_secrets, 2);
	assert_string_equal(f->cfg->pd_webhook_secrets[0], "old-secret");
	assert_string_equal(f->cfg->pd_webhook_secrets[1], "new-secret");
	assert_string_equal(f->cfg->am_token, "am-token");
	assert_string_equal(f->cfg->am_service_label, "app");
	assert_string_equal(f->cfg->backstage_url, "http://127.0.0.1:7007");
	assert_string_equal(f->cfg->backstage_token, "bs-token");
	assert_string_equal(f->cfg->github_token, "gh-token");
	assert_string_equal(f->cfg->argocd_url, "https://argocd.example.com");
	assert_string_equal(f->cfg->argocd_token, "argo-token");
	assert_string_equal(f->cfg->deploy_webhook_secret, "deploy-secret");
	assert_string_equal(f->cfg->incidents_default_channel, "#incidents");
	assert_int_equal(f->cfg->incidents_source_timeout_ms, 2000);
	assert_int_equal(f->cfg->incidents_overall_timeout_ms, 4500);
}

static void test_config_incidents_source_timeout_capped_by_overall(void **state)
{
	struct fix *f = *state;

	assert_int_equal(load(f, "incidents:\n  source_timeout: 1m\n  overall_timeout: 2500ms\n"),
			 T0_OK);
	assert_int_equal(f->cfg->incidents_overall_timeout_ms, 2500);
	assert_int_equal(f->cfg->incidents_source_timeout_ms, 2500);
}

static void test_config_incidents_every_secret_is_masked(void **state)
{
	struct fix *f = *state;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;

	assert_int_equal(load(f, "pagerduty:\n  token: pd-token-123\n"
				 "  webhook_secrets: [whsec-old, whsec-new]\n"
				 "alertmanager:\n  token: am-token-456\n"
				 "catalog:\n  backstage:\n    url: http://bs\n    token: bs-token-789\n"
				 "deployments:\n  webhook_secret: dep-secret-0\n"),
			 T0_OK);
	mem = open_memstream(&buf, &len);
	assert_non_null(mem);
	assert_int_equal(config_dump_masked(f->cfg, mem), T0_OK);
	fclose(mem);
	assert_null(strstr(buf, "pd-token-123"));
	assert_null(strstr(buf, "whsec-old"));
	assert_null(strstr(buf, "whsec-new"));
	assert_null(strstr(buf, "am-token-456"));
	assert_null(strstr(buf, "bs-token-789"));
	assert_null(strstr(buf, "dep-secret-0"));
	assert_non_null(strstr(buf, "\"webhook_secrets\": [\n"));
	assert_non_null(strstr(buf, "\"url\": \"http://bs\""));
	free(buf);
}

static void test_config_incidents_webhook_secrets_file_one_per_line(void **state)
{
	struct fix *f = *state;

	write_file(f, "pd_secrets", "first-secret\r\n\nsecond-secret\n");
	assert_int_equal(load_file(f, "pagerduty:\n  webhook_secrets_file: pd_secrets\n"), T0_OK);
	assert_int_equal(f->cfg->npd_webhook_secrets, 2);
	assert_string_equal(f->cfg->pd_webhook_secrets[0], "first-secret");
	assert_string_equal(f->cfg->pd_webhook_secrets[1], "second-secret");
}

static void test_config_incidents_webhook_secrets_file_empty(void **state)
{
	struct fix *f = *state;
	char want[512];

	write_file(f, "empty", "\n\n");
	assert_int_equal(load_file(f, "pagerduty:\n  webhook_secrets_file: empty\n"), T0_ECONFIG);
	snprintf(want, sizeof(want),
		 "%s/tier0.yaml:2:3: pagerduty.webhook_secrets_file: secret file '%s/empty' is empty",
		 f->dir, f->dir);
	assert_string_equal(f->err, want);
}

static void test_config_incidents_webhook_secrets_and_file_both(void **state)
{
	struct fix *f = *state;

	expect_error(f, "pagerduty:\n  webhook_secrets: [a]\n  webhook_secrets_file: x\n",
		     "tier0.yaml:3:3: pagerduty.webhook_secrets_file: set either 'webhook_secrets' "
		     "or 'webhook_secrets_file', not both");
}

static void test_config_incidents_webhook_secrets_empty_list(void **state)
{
	struct fix *f = *state;

	expect_error(f, "pagerduty:\n  webhook_secrets: []\n",
		     "tier0.yaml:2:3: pagerduty.webhook_secrets: must not be an empty list");
}

static void test_config_incidents_webhook_secret_not_string(void **state)
{
	struct fix *f = *state;

	expect_error(f, "pagerduty:\n  webhook_secrets: [ok, 42]\n",
		     "tier0.yaml:2:25: pagerduty.webhook_secrets[1]: expected a string, got an "
		     "integer");
}

static void test_config_incidents_bad_url(void **state)
{
	struct fix *f = *state;

	expect_error(f, "pagerduty:\n  api_url: ftp://api.pagerduty.com\n",
		     "tier0.yaml:2:3: pagerduty.api_url: expected an http:// or https:// URL, got "
		     "'ftp://api.pagerduty.com'");
	expect_error(f, "github:\n  api_url: 'https://'\n",
		     "tier0.yaml:2:3: github.api_url: expected a URL with a host and no query, got "
		     "'https://'");
}

static void test_config_incidents_argocd_needs_url(void **state)
{
	struct fix *f = *state;

	expect_error(f, "argocd:\n  token: t\n", "tier0.yaml:2:3: argocd.url: required key is missing");
}

static void test_config_incidents_backstage_needs_url(void **state)
{
	struct fix *f = *state;

	expect_error(f, "catalog:\n  backstage:\n    token: t\n",
		     "tier0.yaml:3:5: catalog.backstage.url: required key is missing");
}

static void test_config_incidents_unknown_key_lists_known(void **state)
{
	struct fix *f = *state;

	expect_error(f, "pagerduty:\n  secret: x\n",
		     "tier0.yaml:2:3: pagerduty.secret: unknown key 'secret' (known keys: api_url, "
		     "token, token_file, from_email, webhook_secrets, webhook_secrets_file)");
	expect_error(f, "incidents:\n  channel: '#x'\n",
		     "tier0.yaml:2:3: incidents.channel: unknown key 'channel' (known keys: "
		     "default_channel, source_timeout, overall_timeout)");
}

static void test_config_incidents_bad_durations(void **state)
{
	struct fix *f = *state;

	expect_error(f, "incidents:\n  source_timeout: 3 seconds\n",
		     "tier0.yaml:2:3: incidents.source_timeout: expected milliseconds or a duration "
		     "like \"3s\", \"2500ms\", \"1m\", got '3 seconds'");
	expect_error(f, "incidents:\n  overall_timeout: 50\n",
		     "tier0.yaml:2:3: incidents.overall_timeout: must be between 100ms and 120s, got "
		     "50ms");
	expect_error(f, "incidents:\n  overall_timeout: [1]\n",
		     "tier0.yaml:2:3: incidents.overall_timeout: expected milliseconds or a duration "
		     "like \"3s\", got a list");
}

static void test_config_incidents_empty_strings_refused(void **state)
{
	struct fix *f = *state;

	expect_error(f, "incidents:\n  default_channel: ''\n",
		     "tier0.yaml:2:3: incidents.default_channel: must not be empty");
	expect_error(f, "alertmanager:\n  service_label: ''\n",
		     "tier0.yaml:2:3: alertmanager.service_label: must not be empty");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_incidents_absent_sections_are_off_with_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_incidents_empty_section_switches_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_incidents_typed_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_incidents_source_timeout_capped_by_overall, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_incidents_every_secret_is_masked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_incidents_webhook_secrets_file_one_per_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_incidents_webhook_secrets_file_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_incidents_webhook_secrets_and_file_both, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_incidents_webhook_secrets_empty_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_incidents_webhook_secret_not_string, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_incidents_bad_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_incidents_argocd_needs_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_incidents_backstage_needs_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_incidents_unknown_key_lists_known, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_incidents_bad_durations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_incidents_empty_strings_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
