/*
 * The two providers' wire formats against real payloads: the Anthropic SDK's
 * recorded exchanges and the OpenAI spec examples, SDK dumps and cassettes in
 * ../shared/fixtures/llm/. Parsing (text, tool calls, arguments as an object
 * or a JSON string, stop reasons, usage), request bodies (byte-for-byte
 * equal to what the SDK sent), echoing a turn, error bodies, cost.
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

#include "adapters/llm/llm_provider.h"
#include "bot/config.h"
#include "bot/llm.h"
#include "bot/t0.h"

#define FIX T0_FIXTURES "/llm/"

static char *slurp(const char *rel, size_t *len)
{
	char path[512];
	FILE *fp;
	char *buf;
	long n;

	snprintf(path, sizeof(path), FIX "%s", rel);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	if (len)
		*len = (size_t)n;
	return buf;
}

static struct llm_turn *parse(const struct llm_provider *p, const char *body, size_t len, int want)
{
	struct llm_turn *t = calloc(1, sizeof(*t));
	char err[256] = "";

	assert_non_null(t);
	assert_int_equal(p->parse(body, len, t, err, sizeof(err)), want);
	return t;
}

static struct llm_turn *parse_fixture(const struct llm_provider *p, const char *rel)
{
	size_t len;
	char *body = slurp(rel, &len);
	struct llm_turn *t = parse(p, body, len, T0_OK);

	free(body);
	return t;
}

static struct config test_cfg(const char *model)
{
	struct config c;

	memset(&c, 0, sizeof(c));
	c.llm_model = (char *)model;
	c.llm_max_tokens = 1024;
	c.llm_anthropic_version = (char *)"2023-06-01";
	c.llm_max_tokens_field = (char *)"max_completion_tokens";
	c.llm_api_key = "k-123";
	return c;
}

static void test_anthropic_tool_use_input_is_an_object(void **state)
{
	struct llm_turn *t = parse_fixture(&llm_provider_anthropic, "anthropic/body_tool_use.json");

	assert_null(t->text);
	assert_int_equal(t->ncalls, 1);
	assert_string_equal(t->calls[0].id, "toolu_013DU6hV4C1M8dJ32ybQFAFi");
	assert_string_equal(t->calls[0].name, "get_weather");
	assert_null(t->calls[0].args_error);
	assert_string_equal(json_string_value(json_object_get(t->calls[0].args, "location")), "SF");
	assert_string_equal(json_string_value(json_object_get(t->calls[0].args, "units")), "c");
	assert_int_equal(t->stop, LLM_STOP_TOOL_USE);
	assert_string_equal(t->stop_raw, "tool_use");
	assert_int_equal(t->usage.input, 597);
	assert_int_equal(t->usage.output, 71);
	assert_string_equal(t->model, "claude-haiku-4-5-20251001");
	assert_string_equal(t->response_id, "msg_01M4x4hiFuUdHzu44ih9eCGh");
	llm_turn_free(t);
}

static void test_anthropic_text_then_tool_use_in_one_message(void **state)
{
	struct llm_turn *t =
		parse_fixture(&llm_provider_anthropic, "anthropic/body_text_plus_tool_use.json");

	assert_string_equal(t->text, "I'll get the weather for each of those cities. Let me start "
				     "by checking San Francisco.");
	assert_int_equal(t->ncalls, 1);
	assert_string_equal(json_string_value(json_object_get(t->calls[0].args, "location")),
			    "San Francisco, CA");
	llm_turn_free(t);
}

static void test_anthropic_end_turn_text(void **state)
{
	struct llm_turn *t = parse_fixture(&llm_provider_anthropic,
					   "anthropic/body_end_turn_after_tool_result.json");

	assert_string_equal(t->text, "The weather in SF is currently **20°C** (68°F) and **Sunny**!");
	assert_int_equal(t->ncalls, 0);
	assert_int_equal(t->stop, LLM_STOP_END);
	assert_int_equal(t->usage.input, 705);
	assert_int_equal(t->usage.output, 25);
	llm_turn_free(t);
}

/* What we send back after a tool call equals what the official SDK sent (recorded). */
static void test_anthropic_round_trip_matches_the_sdk_recording(void **state)
{
	json_t *snap = json_load_file(FIX "anthropic/sdk-snapshot_tool_use_then_tool_result_roundtrip.json",
				      0, NULL);
	json_t *sent = json_object_get(json_object_get(json_array_get(snap, 1), "request"), "body");
	json_t *resp0 = json_object_get(json_object_get(json_array_get(snap, 0), "response"), "body");
	json_t *tools = json_object_get(sent, "tools");
	json_t *schema = json_object_get(json_array_get(tools, 0), "input_schema");
	json_t *msgs = json_array(), *body;
	char *rbody = json_dumps(resp0, 0), *schema_text = json_dumps(schema, 0);
	struct llm_turn *t;
	struct config cfg = test_cfg("claude-haiku-4-5");
	struct llm_tool_def def = { "get_weather", "", schema_text };
	struct llm_tool_result res = {
		.call_id = "toolu_013DU6hV4C1M8dJ32ybQFAFi",
		/* the SDK's tool returned Python's json.dumps: the degree sign as \u00b0 */
		.content = "{\"location\": \"SF\", \"temperature\": \"20\\u00b0C\", \"condition\": \"Sunny\"}",
	};
	struct llm_call call = { .messages = msgs, .tools = &def, .ntools = 1 };

	assert_non_null(sent);
	t = parse(&llm_provider_anthropic, rbody, strlen(rbody), T0_OK);
	assert_int_equal(llm_anthropic.append_user(msgs, "What's the weather in SF in Celsius?"), T0_OK);
	assert_int_equal(llm_anthropic.append_turn(msgs, t, &res, 1), T0_OK);
	body = llm_provider_anthropic.body(&cfg, &call);
	assert_non_null(body);
	if (!json_equal(body, sent)) {
		char *a = json_dumps(body, JSON_SORT_KEYS), *b = json_dumps(sent, JSON_SORT_KEYS);

		fail_msg("ours: %s\nsdk:  %s", a, b);
	}
	json_decref(body);
	json_decref(msgs);
	llm_turn_free(t);
	free(rbody);
	free(schema_text);
	json_decref(snap);
}

static void test_anthropic_unknown_blocks_skipped_and_bad_input_reported(void **state)
{
	const char *body =
		"{\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":["
		"{\"type\":\"thinking\",\"thinking\":\"hmm\",\"signature\":\"abc\"},"
		"{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{}},"
		"{\"type\":\"text\",\"text\":\"one\"},{\"type\":\"text\",\"text\":\"two\"},"
		"{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"x\",\"input\":\"{\\\"a\\\":1}\"},"
		"{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"y\",\"input\":[1]}],"
		"\"stop_reason\":\"brand_new_reason\",\"usage\":{\"output_tokens\":3}}";
	struct llm_turn *t = parse(&llm_provider_anthropic, body, strlen(body), T0_OK);

	assert_string_equal(t->text, "one\ntwo");
	assert_int_equal(t->ncalls, 2);
	assert_int_equal(json_integer_value(json_object_get(t->calls[0].args, "a")), 1);
	assert_null(t->calls[1].args);
	assert_non_null(strstr(t->calls[1].args_error, "not an object"));
	assert_int_equal(t->stop, LLM_STOP_END); /* unknown values read as finished */
	assert_int_equal(t->usage.input, 0);     /* absent: 0 */
	/* the thinking block goes back unchanged */
	assert_int_equal(json_array_size(json_object_get(t->assistant, "content")), 6);
	llm_turn_free(t);
}

static void test_anthropic_refusal_and_max_tokens(void **state)
{
	const char *refusal = "{\"content\":[],\"stop_reason\":\"refusal\"}";
	const char *cut = "{\"content\":[{\"type\":\"text\",\"text\":\"partial\"}],\"stop_reason\":\"max_tokens\"}";
	struct llm_turn *t = parse(&llm_provider_anthropic, refusal, strlen(refusal), T0_OK);

	assert_int_equal(t->stop, LLM_STOP_REFUSAL);
	assert_null(t->text);
	llm_turn_free(t);
	t = parse(&llm_provider_anthropic, cut, strlen(cut), T0_OK);
	assert_int_equal(t->stop, LLM_STOP_MAX_TOKENS);
	assert_string_equal(t->text, "partial");
	llm_turn_free(t);
}

static void test_anthropic_malformed_responses(void **state)
{
	struct llm_turn *t = parse(&llm_provider_anthropic, "{\"type\":\"error\"}", 16, T0_EPARSE);

	llm_turn_free(t);
	t = parse(&llm_provider_anthropic, "<html>", 6, T0_EPARSE);
	llm_turn_free(t);
}

static void test_anthropic_error_bodies(void **state)
{
	size_t len;
	char *body = slurp("anthropic/body_error_429_rate_limit_error.json", &len);
	char out[200];

	llm_provider_anthropic.error(body, len, out, sizeof(out));
	assert_true(strncmp(out, "rate_limit_error: This request would exceed your organization's",
			    63) == 0);
	free(body);
	body = slurp("anthropic/body_error_400_invalid_request_error.json", &len);
	llm_provider_anthropic.error(body, len, out, sizeof(out));
	assert_true(strncmp(out, "invalid_request_error: messages.0.content.1: unexpected", 55) == 0);
	free(body);
	/* A proxy's page: its first bytes on one line. */
	llm_provider_anthropic.error("<html>\n<body>Bad Gateway</body>", 31, out, sizeof(out));
	assert_string_equal(out, "<html> <body>Bad Gateway</body>");
}

static void test_anthropic_headers_and_cost(void **state)
{
	struct config cfg = test_cfg("m");
	char hdrs[LLM_MAX_HEADERS][LLM_HEADER_MAX];
	struct llm_usage u = { .input = 1000000, .cache_write = 1000000, .cache_read = 1000000,
			       .output = 1000000 };
	size_t n = 0;

	assert_int_equal(llm_provider_anthropic.headers(&cfg, hdrs, LLM_MAX_HEADERS, &n), T0_OK);
	assert_int_equal(n, 4);
	assert_string_equal(hdrs[2], "anthropic-version: 2023-06-01");
	assert_string_equal(hdrs[3], "x-api-key: k-123");
	cfg.llm_api_key = NULL;
	assert_int_equal(llm_provider_anthropic.headers(&cfg, hdrs, LLM_MAX_HEADERS, &n), T0_OK);
	assert_int_equal(n, 3);
	/* $3 in, $15 out: 3 + 1.25*3 + 0.1*3 + 15 */
	cfg.llm_price_input = 3;
	cfg.llm_price_output = 15;
	assert_true(llm_anthropic.cost(&cfg, &u) > 22.05 - 1e-9);
	assert_true(llm_anthropic.cost(&cfg, &u) < 22.05 + 1e-9);
}

/* OpenAI: arguments arrive as a string of JSON, with newlines in the spec's example. */
static void test_openai_tool_call_arguments_are_a_json_string(void **state)
{
	struct llm_turn *t =
		parse_fixture(&llm_provider_openai, "openai/spec_chat_completion_tool_calls.json");

	assert_null(t->text); /* content: null */
	assert_int_equal(t->ncalls, 1);
	assert_string_equal(t->calls[0].id, "call_abc123");
	assert_string_equal(t->calls[0].name, "get_current_weather");
	assert_string_equal(json_string_value(json_object_get(t->calls[0].args, "location")),
			    "Boston, MA");
	assert_int_equal(t->stop, LLM_STOP_TOOL_USE);
	assert_int_equal(t->usage.input, 82);
	assert_int_equal(t->usage.output, 17);
	llm_turn_free(t);
}

static void test_openai_sdk_dump_echo_keeps_tool_calls_drops_nulls(void **state)
{
	struct llm_turn *t = parse_fixture(&llm_provider_openai,
					   "openai/sdkdump_chat_completion_tool_calls_gpt-4o.json");
	json_t *msgs = json_array(), *m;
	struct llm_tool_result res = { "call_qOfTGgDrItLORNfC6VwUbyLL", "{\"temp_c\":24}", 0 };

	assert_string_equal(json_string_value(json_object_get(t->calls[0].args, "location")),
			    "Shanghai");
	assert_string_equal(t->model, "gpt-4o-2024-08-06");
	assert_int_equal(llm_openai.append_turn(msgs, t, &res, 1), T0_OK);
	assert_int_equal(json_array_size(msgs), 2);
	m = json_array_get(msgs, 0);
	assert_string_equal(json_string_value(json_object_get(m, "role")), "assistant");
	assert_true(json_is_null(json_object_get(m, "content")));
	assert_null(json_object_get(m, "audio"));
	assert_null(json_object_get(m, "function_call"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(
				    json_array_get(json_object_get(m, "tool_calls"), 0), "function"),
							      "arguments")),
			    "{\"location\":\"Shanghai\"}");
	m = json_array_get(msgs, 1);
	assert_string_equal(json_string_value(json_object_get(m, "role")), "tool");
	assert_string_equal(json_string_value(json_object_get(m, "tool_call_id")),
			    "call_qOfTGgDrItLORNfC6VwUbyLL");
	assert_string_equal(json_string_value(json_object_get(m, "content")), "{\"temp_c\":24}");
	json_decref(msgs);
	llm_turn_free(t);
}

static void test_openai_text_answers(void **state)
{
	struct llm_turn *t = parse_fixture(&llm_provider_openai,
					   "openai/cassette_chat_completion_text_gpt-5.1.json");

	assert_string_equal(t->text, "six");
	assert_int_equal(t->stop, LLM_STOP_END);
	assert_int_equal(t->usage.input, 33);
	assert_int_equal(t->usage.output, 10);
	assert_string_equal(t->model, "gpt-5.1-2025-11-13");
	llm_turn_free(t);
	t = parse_fixture(&llm_provider_openai, "openai/spec_chat_completion_text.json");
	assert_string_equal(t->text, "Hello! How can I assist you today?");
	llm_turn_free(t);
}

static struct llm_turn *openai_with_args(const char *args_json_value, const char *finish)
{
	char body[1024];

	snprintf(body, sizeof(body),
		 "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
		 "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":"
		 "\"f\",\"arguments\":%s}}]},\"finish_reason\":%s}],"
		 "\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":5,"
		 "\"prompt_tokens_details\":{\"cached_tokens\":60}}}",
		 args_json_value, finish);
	return parse(&llm_provider_openai, body, strlen(body), T0_OK);
}

static void test_openai_bad_and_odd_arguments(void **state)
{
	struct llm_turn *t = openai_with_args("\"{\\\"a\\\": \"", "\"tool_calls\"");

	assert_null(t->calls[0].args);
	assert_non_null(strstr(t->calls[0].args_error, "not valid JSON"));
	/* cached prompt tokens are kept apart */
	assert_int_equal(t->usage.input, 40);
	assert_int_equal(t->usage.cache_read, 60);
	llm_turn_free(t);
	t = openai_with_args("\"[1,2]\"", "\"tool_calls\"");
	assert_non_null(strstr(t->calls[0].args_error, "must be a JSON object"));
	llm_turn_free(t);
	t = openai_with_args("\"{\\\"a\\\":1,\\\"a\\\":2}\"", "\"tool_calls\"");
	assert_non_null(t->calls[0].args_error); /* duplicate keys are ambiguous */
	llm_turn_free(t);
	t = openai_with_args("\"\"", "null"); /* empty: no arguments; null finish: local servers */
	assert_int_equal(json_object_size(t->calls[0].args), 0);
	assert_int_equal(t->stop, LLM_STOP_TOOL_USE);
	llm_turn_free(t);
	t = openai_with_args("{\"a\":1}", "\"stop\""); /* Ollama and proxies: an object */
	assert_int_equal(json_integer_value(json_object_get(t->calls[0].args, "a")), 1);
	llm_turn_free(t);
	t = openai_with_args("\"{}\"", "\"length\"");
	assert_int_equal(t->stop, LLM_STOP_MAX_TOKENS);
	llm_turn_free(t);
}

static void test_openai_refusal_and_no_choices(void **state)
{
	const char *ref = "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null,"
			  "\"refusal\":\"I can't help with that.\"},\"finish_reason\":\"stop\"}]}";
	struct llm_turn *t = parse(&llm_provider_openai, ref, strlen(ref), T0_OK);

	assert_int_equal(t->stop, LLM_STOP_REFUSAL);
	assert_string_equal(t->text, "I can't help with that.");
	llm_turn_free(t);
	t = parse(&llm_provider_openai, "{\"choices\":[]}", 14, T0_EPARSE);
	llm_turn_free(t);
}

static void test_openai_error_bodies(void **state)
{
	size_t len;
	char *body = slurp("openai/cassette_error_401_invalid_api_key.json", &len);
	char out[200];
	const char *vllm = "{\"object\":\"error\",\"message\":\"bad model\",\"type\":\"BadRequestError\","
			   "\"param\":null,\"code\":400}";
	const char *llama = "{\"error\":{\"code\":400,\"message\":\"tools need --jinja\","
			    "\"type\":\"invalid_request_error\"}}";

	llm_provider_openai.error(body, len, out, sizeof(out));
	assert_true(strncmp(out, "invalid_request_error/invalid_api_key: Incorrect API key provided",
			    63) == 0);
	free(body);
	llm_provider_openai.error(vllm, strlen(vllm), out, sizeof(out));
	assert_string_equal(out, "BadRequestError: bad model");
	llm_provider_openai.error(llama, strlen(llama), out, sizeof(out));
	assert_string_equal(out, "invalid_request_error: tools need --jinja");
	llm_provider_openai.error("{\"error\":\"quota\"}", 17, out, sizeof(out));
	assert_string_equal(out, "error: quota");
}

static void test_openai_request_body(void **state)
{
	struct config cfg = test_cfg("gpt-5.1");
	struct llm_tool_def def = { "get_owner", "who owns", "{\"type\":\"object\"}" };
	json_t *msgs = json_array(), *body, *m0, *fn;
	struct llm_call call = { .system = "be brief", .messages = msgs, .tools = &def, .ntools = 1 };
	char hdrs[LLM_MAX_HEADERS][LLM_HEADER_MAX];
	size_t n = 0;

	assert_int_equal(llm_openai.append_user(msgs, "hi"), T0_OK);
	body = llm_provider_openai.body(&cfg, &call);
	m0 = json_array_get(json_object_get(body, "messages"), 0);
	assert_string_equal(json_string_value(json_object_get(m0, "role")), "system");
	assert_string_equal(json_string_value(json_object_get(m0, "content")), "be brief");
	assert_int_equal(json_array_size(json_object_get(body, "messages")), 2);
	fn = json_object_get(json_array_get(json_object_get(body, "tools"), 0), "function");
	assert_string_equal(json_string_value(json_object_get(fn, "name")), "get_owner");
	assert_true(json_is_object(json_object_get(fn, "parameters")));
	assert_int_equal(json_integer_value(json_object_get(body, "max_completion_tokens")), 1024);
	assert_null(json_object_get(body, "max_tokens"));
	json_decref(body);
	/* local servers read max_tokens */
	cfg.llm_max_tokens_field = (char *)"max_tokens";
	body = llm_provider_openai.body(&cfg, &call);
	assert_int_equal(json_integer_value(json_object_get(body, "max_tokens")), 1024);
	json_decref(body);
	json_decref(msgs);
	assert_int_equal(llm_provider_openai.headers(&cfg, hdrs, LLM_MAX_HEADERS, &n), T0_OK);
	assert_string_equal(hdrs[n - 1], "Authorization: Bearer k-123");
	cfg.llm_api_key = NULL; /* Ollama: no key, no header */
	assert_int_equal(llm_provider_openai.headers(&cfg, hdrs, LLM_MAX_HEADERS, &n), T0_OK);
	assert_int_equal(n, 2);
}

static void test_openai_cost_prices_cached_tokens_apart(void **state)
{
	struct config cfg = test_cfg("m");
	struct llm_usage u = { .input = 400000, .cache_read = 600000, .output = 100000 };

	cfg.llm_price_input = 1.25;
	cfg.llm_price_cached_input = 0.125;
	cfg.llm_price_output = 10;
	/* 0.4*1.25 + 0.6*0.125 + 0.1*10 = 0.5 + 0.075 + 1 */
	assert_true(llm_openai.cost(&cfg, &u) > 1.575 - 1e-9);
	assert_true(llm_openai.cost(&cfg, &u) < 1.575 + 1e-9);
}

static void test_registry_finds_by_name(void **state)
{
	llm_unregister_all();
	assert_null(llm_find("openai"));
	assert_int_equal(llm_register(&llm_openai), T0_OK);
	assert_int_equal(llm_register(&llm_anthropic), T0_OK);
	assert_int_equal(llm_register(&llm_openai), T0_OK); /* again: replaces */
	assert_ptr_equal(llm_find("openai"), &llm_openai);
	assert_ptr_equal(llm_find("anthropic"), &llm_anthropic);
	assert_null(llm_find("gemini"));
	assert_null(llm_find(NULL));
	llm_unregister_all();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anthropic_tool_use_input_is_an_object),
		cmocka_unit_test(test_anthropic_text_then_tool_use_in_one_message),
		cmocka_unit_test(test_anthropic_end_turn_text),
		cmocka_unit_test(test_anthropic_round_trip_matches_the_sdk_recording),
		cmocka_unit_test(test_anthropic_unknown_blocks_skipped_and_bad_input_reported),
		cmocka_unit_test(test_anthropic_refusal_and_max_tokens),
		cmocka_unit_test(test_anthropic_malformed_responses),
		cmocka_unit_test(test_anthropic_error_bodies),
		cmocka_unit_test(test_anthropic_headers_and_cost),
		cmocka_unit_test(test_openai_tool_call_arguments_are_a_json_string),
		cmocka_unit_test(test_openai_sdk_dump_echo_keeps_tool_calls_drops_nulls),
		cmocka_unit_test(test_openai_text_answers),
		cmocka_unit_test(test_openai_bad_and_odd_arguments),
		cmocka_unit_test(test_openai_refusal_and_no_choices),
		cmocka_unit_test(test_openai_error_bodies),
		cmocka_unit_test(test_openai_request_body),
		cmocka_unit_test(test_openai_cost_prices_cached_tokens_apart),
		cmocka_unit_test(test_registry_finds_by_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
