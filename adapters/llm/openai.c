/*
 * OpenAI Chat Completions (POST {api_url}/chat/completions), also spoken by
 * vLLM, the llama.cpp server and Ollama's /v1: Bearer auth, the system prompt
 * as the first message, function tools, tool_calls whose arguments are a
 * JSON *string* (an object from some servers), one "tool" message per call.
 * See ../shared/reference/llm.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/llm/llm_provider.h"
#include "bot/config.h"
#include "bot/t0.h"

static int o_headers(const struct config *cfg, char out[][LLM_HEADER_MAX], size_t max, size_t *n)
{
	*n = 0;
	if (max < 3)
		return T0_EINVAL;
	snprintf(out[(*n)++], LLM_HEADER_MAX, "Content-Type: application/json");
	snprintf(out[(*n)++], LLM_HEADER_MAX, "Accept: application/json");
	/* Ollama and keyless local servers: no Authorization header at all. */
	if (cfg->llm_api_key && *cfg->llm_api_key) {
		if (strlen(cfg->llm_api_key) + 24 >= LLM_HEADER_MAX)
			return T0_ETOOBIG;
		snprintf(out[(*n)++], LLM_HEADER_MAX, "Authorization: Bearer %s", cfg->llm_api_key);
	}
	return T0_OK;
}

static json_t *o_body(const struct config *cfg, const struct llm_call *call)
{
	json_t *body = json_object(), *msgs = json_array(), *m;
	size_t i;

	if (!body || !msgs)
		goto fail;
	json_object_set_new(body, "model", json_string(cfg->llm_model));
	if (call->system)
		json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content",
						      call->system));
	json_array_foreach(call->messages, i, m)
		json_array_append(msgs, m);
	json_object_set_new(body, "messages", msgs);
	msgs = NULL;
	if (call->ntools) {
		json_t *tools = json_array();

		for (i = 0; i < call->ntools; i++) {
			json_t *fn = json_object();

			json_object_set_new(fn, "name", json_string(call->tools[i].name));
			json_object_set_new(fn, "description", json_string(call->tools[i].description));
			json_object_set_new(fn, "parameters", llm_tool_schema(&call->tools[i]));
			json_array_append_new(tools, json_pack("{s:s, s:o}", "type", "function",
							       "function", fn));
		}
		json_object_set_new(body, "tools", tools);
	}
	json_object_set_new(body, cfg->llm_max_tokens_field,
			    json_integer(call->max_tokens > 0 ? call->max_tokens : cfg->llm_max_tokens));
	return body;
fail:
	json_decref(body);
	json_decref(msgs);
	return NULL;
}

static int o_stop(const char *s, size_t ncalls)
{
	if (s && strcmp(s, "length") == 0)
		return LLM_STOP_MAX_TOKENS;
	if (s && strcmp(s, "content_filter") == 0)
		return LLM_STOP_REFUSAL;
	if ((s && strcmp(s, "tool_calls") == 0) || ncalls)
		return LLM_STOP_TOOL_USE;
	return LLM_STOP_END; /* stop, null from local servers, and values we do not know */
}

static int64_t count(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

/* arguments: a string holding JSON (OpenAI), an object (Ollama and some proxies), or junk. */
static void o_args(struct llm_tool_call *c, const json_t *arguments)
{
	json_error_t jerr;
	char msg[256];

	if (json_is_object(arguments)) {
		c->args = json_incref((json_t *)arguments);
		return;
	}
	if (!json_is_string(arguments)) {
		c->args_error = strdup("arguments are missing");
		return;
	}
	if (json_string_length(arguments) == 0) {
		c->args = json_object();
		return;
	}
	c->args = json_loads(json_string_value(arguments), JSON_REJECT_DUPLICATES, &jerr);
	if (!c->args) {
		snprintf(msg, sizeof(msg), "arguments are not valid JSON: %s", jerr.text);
		c->args_error = strdup(msg);
	} else if (!json_is_object(c->args)) {
		json_decref(c->args);
		c->args = NULL;
		c->args_error = strdup("arguments must be a JSON object");
	}
}

static int o_parse(const char *body, size_t len, struct llm_turn *t, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, 0, &jerr), *choice, *msg, *calls, *call, *asst, *usage;
	const char *content, *refusal, *finish;
	size_t i;
	int rc = T0_EPARSE;

	if (!root) {
		snprintf(err, errlen, "response is not JSON: %s", jerr.text);
		goto out;
	}
	choice = json_array_get(json_object_get(root, "choices"), 0);
	msg = json_object_get(choice, "message");
	if (!json_is_object(msg)) {
		snprintf(err, errlen, "response has no choices[0].message");
		goto out;
	}
	content = json_string_value(json_object_get(msg, "content"));
	refusal = json_string_value(json_object_get(msg, "refusal"));
	finish = json_string_value(json_object_get(choice, "finish_reason"));
	if (content && *content && !(t->text = strdup(content)))
		goto oom;
	if (!t->text && refusal && *refusal && !(t->text = strdup(refusal)))
		goto oom;
	calls = json_object_get(msg, "tool_calls");
	if (json_is_array(calls) && json_array_size(calls)) {
		t->calls = calloc(json_array_size(calls), sizeof(*t->calls));
		if (!t->calls)
			goto oom;
		json_array_foreach(calls, i, call) {
			struct llm_tool_call *c = &t->calls[t->ncalls++];
			const json_t *fn = json_object_get(call, "function");

			c->id = llm_strdup_or_null(json_string_value(json_object_get(call, "id")));
			c->name = llm_strdup_or_null(json_string_value(json_object_get(fn, "name")));
			if (!c->id || !c->name) {
				snprintf(err, errlen, "tool call without id or function name");
				goto out;
			}
			o_args(c, json_object_get(fn, "arguments"));
		}
	}
	t->stop = refusal && *refusal ? LLM_STOP_REFUSAL : o_stop(finish, t->ncalls);
	snprintf(t->stop_raw, sizeof(t->stop_raw), "%s", finish ? finish : "");
	/* prompt_tokens includes the cached ones: keep them apart for pricing. */
	usage = json_object_get(root, "usage");
	t->usage.cache_read = count(json_object_get(usage, "prompt_tokens_details"), "cached_tokens");
	t->usage.input = count(usage, "prompt_tokens") - t->usage.cache_read;
	if (t->usage.input < 0)
		t->usage.input = 0;
	t->usage.output = count(usage, "completion_tokens");
	snprintf(t->model, sizeof(t->model), "%s",
		 json_string_value(json_object_get(root, "model"))
			 ? json_string_value(json_object_get(root, "model"))
			 : "");
	snprintf(t->response_id, sizeof(t->response_id), "%s",
		 json_string_value(json_object_get(root, "id"))
			 ? json_string_value(json_object_get(root, "id"))
			 : "");
	/*
	 * The assistant message goes back with its tool_calls verbatim. Fields an
	 * SDK dump shows as null (audio, function_call, annotations) stay out:
	 * local servers reject what they do not know.
	 */
	asst = json_object();
	if (!asst)
		goto oom;
	json_object_set_new(asst, "role", json_string("assistant"));
	json_object_set(asst, "content", json_object_get(msg, "content") ? json_object_get(msg, "content")
									  : json_null());
	if (t->ncalls)
		json_object_set(asst, "tool_calls", calls);
	t->assistant = asst;
	rc = T0_OK;
	goto out;
oom:
	rc = T0_ENOMEM;
out:
	json_decref(root);
	return rc;
}

/* {"error":{"message","type","code"}}, {"error":"text"}, or vLLM's {"object":"error","message"}. */
static void o_error(const char *body, size_t len, char *out, size_t outlen)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	const json_t *e = json_object_get(root, "error");
	const char *type = json_string_value(json_object_get(e, "type"));
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (json_is_string(e))
		msg = json_string_value(e);
	if (!e && json_string_value(json_object_get(root, "message"))) {
		msg = json_string_value(json_object_get(root, "message"));
		type = json_string_value(json_object_get(root, "type"));
	}
	if (type || code || msg)
		snprintf(out, outlen, "%s%s%s: %s", type ? type : "error", code ? "/" : "",
			 code ? code : "", msg ? msg : "");
	else
		llm_error_text(body, len, out, outlen);
	json_decref(root);
}

static int o_append_user(json_t *messages, const char *text)
{
	json_t *m = json_pack("{s:s, s:s}", "role", "user", "content", text);

	if (!m)
		return T0_EINVAL;
	return json_array_append_new(messages, m) ? T0_ENOMEM : T0_OK;
}

/* No error flag in this API: an error goes in the content, which says so. */
static int o_append_turn(json_t *messages, const struct llm_turn *t,
			 const struct llm_tool_result *res, size_t n)
{
	if (!t->assistant || json_array_append(messages, t->assistant))
		return T0_EINVAL;
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id",
				      res[i].call_id, "content", res[i].content);

		if (!m)
			return T0_EINVAL;
		if (json_array_append_new(messages, m))
			return T0_ENOMEM;
	}
	return T0_OK;
}

static double o_cost(const struct config *cfg, const struct llm_usage *u)
{
	return ((double)u->input * cfg->llm_price_input +
		(double)u->cache_read * cfg->llm_price_cached_input +
		(double)u->output * cfg->llm_price_output) /
	       1e6;
}

const struct llm_provider llm_provider_openai = {
	.name = "openai",
	.path = "/chat/completions",
	.headers = o_headers,
	.body = o_body,
	.parse = o_parse,
	.error = o_error,
	.request_id_header = "x-request-id",
};

static int o_complete(struct t0_loop *loop, const struct config *cfg, const struct llm_call *call,
		      llm_done_cb cb, void *arg)
{
	return llm_http_complete(&llm_provider_openai, loop, cfg, call, cb, arg);
}

const struct t0_llm llm_openai = {
	.name = "openai",
	.append_user = o_append_user,
	.append_turn = o_append_turn,
	.complete = o_complete,
	.cost = o_cost,
};
