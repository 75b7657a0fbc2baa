/* The teams configuration section: defaults, derived token URL, every error message. */
#include "bot/config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bot/log.h"
#include "bot/t0.h"

#define APP "3f1c7a2e-9b4d-4e8a-a1c2-0d5e6f7a8b9c"

struct fix {
	char err[1024];
	struct config *cfg;
	char dir[64];
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/t0cfgteams.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	log_set_level(LOG_LEVEL_ERR);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char path[128];

	config_free(f->cfg);
	snprintf(path, sizeof(path), "%s/pw", f->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/t.yaml", f->dir);
	unlink(path);
	rmdir(f->dir);
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

static void expect_error(struct fix *f, const char *yaml, const char *msg)
{
	int rc = load(f, yaml);

	if (rc != T0_ECONFIG || strcmp(f->err, msg) != 0)
		print_error("\ngot rc %d: %s\nwant: %s\n", rc, f->err, msg);
	assert_int_equal(rc, T0_ECONFIG);
	assert_string_equal(f->err, msg);
	assert_null(f->cfg);
}

static void test_teams_absent_means_off_with_defaults(void **state)
{
	struct fix *f = *state;

	assert_int_equal(load(f, "log: {level: info}\n"), T0_OK);
	assert_false(f->cfg->teams_enabled);
	assert_null(f->cfg->teams_app_id);
	assert_string_equal(f->cfg->teams_path, "/api/messages");
	assert_string_equal(f->cfg->teams_openid_url,
			    "https://login.botframework.com/v1/.well-known/openidconfiguration");
}

static void test_teams_minimal_multi_tenant(void **state)
{
	struct fix *f = *state;

	assert_int_equal(load(f, "teams:\n  app_id: " APP "\n  app_password: s3cret\n"), T0_OK);
	assert_true(f->cfg->teams_enabled);
	assert_string_equal(f->cfg->teams_app_id, APP);
	assert_string_equal(f->cfg->teams_app_password, "s3cret");
	assert_null(f->cfg->teams_tenant_id);
	assert_string_equal(f->cfg->teams_token_url,
			    "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token");
	assert_int_equal(f->cfg->teams_invoke_timeout_ms, 4000);
	assert_int_equal(f->cfg->teams_jwks_refresh_s, 86400);
	assert_int_equal(f->cfg->teams_max_card_bytes, 28000);
	assert_int_equal(f->cfg->teams_pacing_burst, 7);
	assert_int_equal(f->cfg->teams_pacing_interval_ms, 1000);
	assert_int_equal(f->cfg->teams_pacing_global_per_second, 30);
	assert_int_equal(f->cfg->teams_pacing_max_queue, 50);
	assert_int_equal(f->cfg->teams_pacing_coalesce_after, 5);
	assert_int_equal(f->cfg->teams_pacing_max_retries, 5);
}

static void test_teams_single_tenant_and_overrides(void **state)
{
	struct fix *f = *state;

	assert_int_equal(load(f, "teams:\n  app_id: " APP "\n  app_password: x\n"
				 "  tenant_id: contoso.onmicrosoft.com\n"
				 "  path: /bots/teams\n"
				 "  openid_url: http://127.0.0.1:9999/openid\n"
				 "  pacing: {burst: 3, interval_ms: 250}\n"),
			 T0_OK);
	assert_string_equal(f->cfg->teams_tenant_id, "contoso.onmicrosoft.com");
	assert_string_equal(
		f->cfg->teams_token_url,
		"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
	assert_string_equal(f->cfg->teams_path, "/bots/teams");
	assert_string_equal(f->cfg->teams_openid_url, "http://127.0.0.1:9999/openid");
	assert_int_equal(f->cfg->teams_pacing_burst, 3);
	assert_int_equal(f->cfg->teams_pacing_interval_ms, 250);

	assert_int_equal(load(f, "teams:\n  app_id: " APP "\n  app_password: x\n"
				 "  token_url: http://localhost:8081/token\n"),
			 T0_OK);
	assert_string_equal(f->cfg->teams_token_url, "http://localhost:8081/token");
}

static void test_teams_password_from_file_is_secret(void **state)
{
	struct fix *f = *state;
	char path[128], yaml[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/pw", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("from-file-secret\n", fp);
	fclose(fp);
	snprintf(yaml, sizeof(yaml), "teams:\n  app_id: " APP "\n  app_password_file: %s\n", path);
	assert_int_equal(load(f, yaml), T0_OK);
	assert_string_equal(f->cfg->teams_app_password, "from-file-secret");
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&buf, &len);

		assert_int_equal(config_dump_masked(f->cfg, mem), T0_OK);
		fclose(mem);
		assert_null(strstr(buf, "from-file-secret"));
		assert_non_null(strstr(buf, "********"));
		free(buf);
	}
}

static void test_teams_errors(void **state)
{
	struct fix *f = *state;

	expect_error(f, "teams:\n  app_password: x\n",
		     "tier0.yaml:1:1: teams.app_id: required key is missing");
	expect_error(f, "teams:\n  app_id: " APP "\n",
		     "tier0.yaml:1:1: teams.app_password: required key is missing (or app_password_file)");
	expect_error(f, "teams:\n  app_id: not-a-guid\n  app_password: x\n",
		     "tier0.yaml:2:3: teams.app_id: expected the Microsoft App ID, a GUID like "
		     "00000000-0000-0000-0000-000000000000, got 'not-a-guid'");
	expect_error(f, "teams:\n  app_id: " APP "\n  app_password: x\n  tenant_id: 'a b'\n",
		     "tier0.yaml:4:3: teams.tenant_id: expected a tenant id (GUID) or domain, got 'a b'");
	expect_error(f, "teams:\n  app_id: " APP "\n  app_password: x\n"
			"  token_url: http://login.example.com/token\n",
		     "tier0.yaml:4:3: teams.token_url: expected an https:// URL (http:// only to "
		     "localhost), got 'http://login.example.com/token'");
	expect_error(f, "teams:\n  app_id: " APP "\n  app_password: x\n"
			"  openid_url: http://localhost.evil.com/x\n",
		     "tier0.yaml:4:3: teams.openid_url: expected an https:// URL (http:// only to "
		     "localhost), got 'http://localhost.evil.com/x'");
	expect_error(f, "teams:\n  app_id: " APP "\n  app_password: x\n  path: api/messages\n",
		     "tier0.yaml:4:3: teams.path: expected a path starting with '/' (no query, no "
		     "spaces), got 'api/messages'");
	expect_error(f, "teams:\n  app_id: " APP "\n  app_password: x\n  invoke_timeout_ms: 20000\n",
		     "tier0.yaml:4:3: teams.invoke_timeout_ms: must be between 100 and 14000, got 20000");
	expect_error(f, "teams:\n  app_id: " APP "\n  app_password: x\n  pacing: {burst: 0}\n",
		     "tier0.yaml:4:12: teams.pacing.burst: must be between 1 and 100, got 0");
	expect_error(f, "teams:\n  app_id: " APP "\n  app_password: x\n  pacing: {rate: 1}\n",
		     "tier0.yaml:4:12: teams.pacing.rate: unknown key 'rate' (known keys: burst, "
		     "interval_ms, global_per_second, max_queue, coalesce_after, max_retries)");
	expect_error(f, "teams:\n  app_id: " APP "\n  app_password: x\n  appid: y\n",
		     "tier0.yaml:4:3: teams.appid: unknown key 'appid' (known keys: app_id, "
		     "app_password, app_password_file, tenant_id, token_url, openid_url, path, "
		     "invoke_timeout_ms, jwks_refresh_s, max_card_bytes, pacing)");
}

/* The commented teams section of the example file, uncommented, is a valid configuration. */
static void test_teams_example_section_loads(void **state)
{
	struct fix *f = *state;
	FILE *in = fopen("config/tier0.example.yaml", "r");
	char line[1024], path[128];
	FILE *out;
	int inside = 0, lines = 0;

	assert_non_null(in);
	snprintf(path, sizeof(path), "%s/t.yaml", f->dir);
	out = fopen(path, "w");
	assert_non_null(out);
	while (fgets(line, sizeof(line), in)) {
		if (!strcmp(line, "#teams:\n"))
			inside = 1;
		else if (inside && line[0] != '#')
			break;
		if (inside) {
			fputs(line + 1, out);
			lines++;
		}
	}
	fclose(in);
	fclose(out);
	assert_true(lines > 20);
	setenv("T0_TEAMS_APP_PASSWORD", "example-secret", 1);
	config_free(f->cfg);
	f->cfg = NULL;
	if (config_load(path, &f->cfg, f->err, sizeof(f->err)) != T0_OK)
		print_error("%s\n", f->err);
	assert_non_null(f->cfg);
	assert_true(f->cfg->teams_enabled);
	assert_string_equal(f->cfg->teams_app_password, "example-secret");
	assert_int_equal(f->cfg->nsecrets, 1);
	unsetenv("T0_TEAMS_APP_PASSWORD");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_teams_absent_means_off_with_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_teams_minimal_multi_tenant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_teams_single_tenant_and_overrides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_teams_password_from_file_is_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_teams_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_teams_example_section_loads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
