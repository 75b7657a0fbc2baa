/* The llm section: defaults, typed fields, every error message, the secret key. */
#include "bot/config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bot/t0.h"

struct fix {
	char dir[64];
	char err[1024];
	struct config *cfg;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/t0cfgllm.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char path[PATH_MAX];

	config_free(f->cfg);
	snprintf(path, sizeof(path), "%s/key", f->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/tier0.yaml", f->dir);
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
		print_error("yaml:\n%s\ngot rc %d: %s\nwant: %s\n", yaml, rc, f->err, msg);
	assert_int_equal(rc, T0_ECONFIG);
	assert_string_equal(f->err, msg);
	assert_null(f->cfg);
}

static void test_config_llm_absent_means_no_llm(void **state)
{
	struct fix *f = *state;

	assert_int_equal(load(f, "log:\n  level: info\n"), T0_OK);
	assert_null(f->cfg->llm_provider);
	assert_int_equal(load(f, "llm:\n  routing: off\n"), T0_OK); /* settings alone: still none */
	assert_null(f->cfg->llm_provider);
}

static void test_config_llm_defaults(void **state)
{
	struct fix *f = *state;
	struct config *c;

	assert_int_equal(load(f, "llm:\n  provider: anthropic\n  model: claude-haiku-4-5\n"), T0_OK);
	c = f->cfg;
	assert_string_equal(c->llm_provider, "anthropic");
	assert_string_equal(c->llm_api_url, "https://api.anthropic.com");
	assert_null(c->llm_api_key);
	assert_string_equal(c->llm_model, "claude-haiku-4-5");
	assert_string_equal(c->llm_anthropic_version, "2023-06-01");
	assert_string_equal(c->llm_max_tokens_field, "max_completion_tokens");
	assert_int_equal(c->llm_max_tokens, 1024);
	assert_int_equal(c->llm_timeout_ms, 60000);
	assert_int_equal(c->llm_retries, 2);
	assert_int_equal(c->llm_routing, CFG_LLM_FALLBACK);
	assert_int_equal(c->llm_max_steps, 6);
	assert_int_equal(c->llm_max_request_tokens, 60000);
	assert_int_equal(c->llm_max_wall_ms, 120000);
	assert_int_equal(c->llm_max_tool_result_bytes, 8000);
	assert_true(c->llm_price_input == 0 && c->llm_price_output == 0);
	assert_true(c->llm_budget_user_daily_usd == 0 && c->llm_budget_daily_usd == 0);
	assert_int_equal(c->llm_incident_summary, 0);
	assert_int_equal(load(f, "llm:\n  provider: openai\n  model: gpt-5.1\n"), T0_OK);
	assert_string_equal(f->cfg->llm_api_url, "https://api.openai.com/v1");
}

static void test_config_llm_every_key(void **state)
{
	struct fix *f = *state;
	struct config *c;

	assert_int_equal(load(f, "llm:\n"
				 "  provider: openai\n"
				 "  api_url: \"http://127.0.0.1:11434/v1/\"\n"
				 "  api_key: ollama\n"
				 "  model: llama3.1\n"
				 "  max_tokens: 512\n"
				 "  timeout: 0.5\n"
				 "  retries: 0\n"
				 "  routing: always_in_dms\n"
				 "  max_steps: 3\n"
				 "  max_request_tokens: 9000\n"
				 "  max_seconds: 30\n"
				 "  max_tool_result_bytes: 4000\n"
				 "  price_input_per_mtok: 1.25\n"
				 "  price_output_per_mtok: 10\n"
				 "  price_cached_input_per_mtok: 0.125\n"
				 "  budget_user_daily_usd: 2.5\n"
				 "  budget_daily_usd: 50\n"
				 "  budget_user_daily_tokens: 100000\n"
				 "  budget_daily_tokens: 5000000\n"
				 "  anthropic_version: \"2026-10-21\"\n"
				 "  max_tokens_field: max_tokens\n"
				 "  incident_summary: true\n"),
			 T0_OK);
	c = f->cfg;
	assert_string_equal(c->llm_api_url, "http://127.0.0.1:11434/v1"); /* trailing slash gone */
	assert_string_equal(c->llm_api_key, "ollama");
	assert_int_equal(c->llm_max_tokens, 512);
	assert_int_equal(c->llm_timeout_ms, 500);
	assert_int_equal(c->llm_retries, 0);
	assert_int_equal(c->llm_routing, CFG_LLM_ALWAYS_IN_DMS);
	assert_int_equal(c->llm_max_steps, 3);
	assert_int_equal(c->llm_max_request_tokens, 9000);
	assert_int_equal(c->llm_max_wall_ms, 30000);
	assert_int_equal(c->llm_max_tool_result_bytes, 4000);
	assert_true(c->llm_price_input == 1.25 && c->llm_price_output == 10 &&
		    c->llm_price_cached_input == 0.125);
	assert_true(c->llm_budget_user_daily_usd == 2.5 && c->llm_budget_daily_usd == 50);
	assert_int_equal(c->llm_budget_user_daily_tokens, 100000);
	assert_int_equal(c->llm_budget_daily_tokens, 5000000);
	assert_string_equal(c->llm_anthropic_version, "2026-10-21");
	assert_string_equal(c->llm_max_tokens_field, "max_tokens");
	assert_int_equal(c->llm_incident_summary, 1);
	/* without a cached price, cached tokens cost the input price */
	assert_int_equal(load(f, "llm:\n  provider: openai\n  model: m\n  price_input_per_mtok: 2\n"),
			 T0_OK);
	assert_true(f->cfg->llm_price_cached_input == 2);
}

static void test_config_llm_errors(void **state)
{
	struct fix *f = *state;

	expect_error(f, "llm:\n  provider: gemini\n  model: x\n",
		     "tier0.yaml:2:3: llm.provider: expected one of anthropic, openai, got 'gemini'");
	expect_error(f, "llm:\n  provider: openai\n",
		     "tier0.yaml:1:1: llm.model: required when llm.provider is set");
	expect_error(f, "llm:\n  model: gpt-5.1\n",
		     "tier0.yaml:1:1: llm.provider: required (anthropic or openai) when llm.model is set");
	expect_error(f, "llm:\n  api_key: abc\n",
		     "tier0.yaml:1:1: llm.provider: required (anthropic or openai) when llm.api_key is set");
	expect_error(f, "llm:\n  provider: openai\n  model: m\n  api_url: \"localhost:8080\"\n",
		     "tier0.yaml:4:3: llm.api_url: expected an http:// or https:// URL, got 'localhost:8080'");
	expect_error(f, "llm:\n  provider: openai\n  model: m\n  price_input_per_mtok: -1\n",
		     "tier0.yaml:4:3: llm.price_input_per_mtok: must be between 0 and 1000000000, got -1");
	expect_error(f, "llm:\n  provider: openai\n  model: m\n  budget_daily_usd: \"$5\"\n",
		     "tier0.yaml:4:3: llm.budget_daily_usd: expected a number, got a string");
	expect_error(f, "llm:\n  provider: openai\n  model: m\n  timeout: 0\n",
		     "tier0.yaml:4:3: llm.timeout: must be between 0.05 and 3600 seconds, got 0");
	expect_error(f, "llm:\n  provider: openai\n  model: m\n  max_seconds: forever\n",
		     "tier0.yaml:4:3: llm.max_seconds: expected a number of seconds, got a string");
	expect_error(f, "llm:\n  provider: openai\n  model: m\n  max_steps: 0\n",
		     "tier0.yaml:4:3: llm.max_steps: must be between 1 and 20, got 0");
	expect_error(f, "llm:\n  provider: openai\n  model: m\n  routing: sometimes\n",
		     "tier0.yaml:4:3: llm.routing: expected one of off, fallback, always_in_dms, got "
		     "'sometimes'");
	expect_error(f, "llm:\n  provider: openai\n  model: m\n  max_tokens_field: tokens\n",
		     "tier0.yaml:4:3: llm.max_tokens_field: expected one of max_completion_tokens, "
		     "max_tokens, got 'tokens'");
	expect_error(f, "llm:\n  provider: openai\n  model: m\n  api_key: a\n  api_key_file: k\n",
		     "tier0.yaml:5:3: llm.api_key_file: set either 'api_key' or 'api_key_file', not both");
}

static void test_config_llm_key_from_file_is_masked(void **state)
{
	struct fix *f = *state;
	char path[PATH_MAX], *buf = NULL;
	size_t len = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/key", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("sk-ant-api03-secretsecretsecret\n", fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/tier0.yaml", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("llm:\n  provider: anthropic\n  model: claude-haiku-4-5\n  api_key_file: key\n", fp);
	fclose(fp);
	config_free(f->cfg);
	f->cfg = NULL;
	assert_int_equal(config_load(path, &f->cfg, f->err, sizeof(f->err)), T0_OK);
	assert_string_equal(f->cfg->llm_api_key, "sk-ant-api03-secretsecretsecret");
	/* it is one of the secrets redacted from everything sent to the provider */
	assert_int_equal(f->cfg->nsecrets, 1);
	assert_string_equal(f->cfg->secrets[0], "sk-ant-api03-secretsecretsecret");
	fp = open_memstream(&buf, &len);
	assert_non_null(fp);
	assert_int_equal(config_dump_masked(f->cfg, fp), T0_OK);
	fclose(fp);
	assert_null(strstr(buf, "secretsecret"));
	assert_non_null(strstr(buf, "\"api_key\": \"********\""));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_llm_absent_means_no_llm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_llm_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_llm_every_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_llm_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_llm_key_from_file_is_masked, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
