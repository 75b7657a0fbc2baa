/*
 * Anthropic Messages API (POST {api_url}/v1/messages): x-api-key and
 * anthropic-version headers, a top-level system prompt, tools with
 * input_schema, tool_use blocks whose input is already an object, and
 * tool_result blocks in the next user message. See ../shared/reference/llm.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/llm/llm_provider.h"
#include "bot/config.h"
#include "bot/t0.h"

static int a_headers(const struct config *cfg, char out[][LLM_HEADER_MAX], size_t max, size_t *n)
{
	*n = 0;
	if (max < 4)
		return T0_EINVAL;
	snprintf(out[(*n)++], LLM_HEADER_MAX, "Content-Type: application/json");
	snprintf(out[(*n)++], LLM_HEADER_MAX, "Accept: application/json");
	snprintf(out[(*n)++], LLM_HEADER_MAX, "anthropic-version: %s", cfg->llm_anthropic_version);
	if (cfg->llm_api_key && *cfg->llm_api_key) {
		if (strlen(cfg->llm_api_key) + 12 >= LLM_HEADER_MAX)
			return T0_ETOOBIG;
		snprintf(out[(*n)++], LLM_HEADER_MAX, "x-api-key: %s", cfg->llm_api_key);
	}
	return T0_OK;
}

static json_t *a_body(const struct config *cfg, const struct llm_call *call)
{
	json_t *body = json_object(), *tools;

	if (!body)
		return NULL;
	json_object_set_new(body, "model", json_string(cfg->llm_model));
	json_object_set_new(body, "max_tokens",
			    json_integer(call->max_tokens > 0 ? call->max_tokens : cfg->llm_max_tokens));
	if (call->system)
		json_object_set_new(body, "system", json_string(call->system));
	json_object_set_new(body, "messages", json_deep_copy(call->messages));
	if (call->ntools) {
		tools = json_array();
		for (size_t i = 0; i < call->ntools; i++) {
			json_t *t = json_object();

			json_object_set_new(t, "name", json_string(call->tools[i].name));
			json_object_set_new(t, "description", json_string(call->tools[i].description));
			json_object_set_new(t, "input_schema", llm_tool_schema(&call->tools[i]));
			json_array_append_new(tools, t);
		}
		json_object_set_new(body, "tools", tools);
	}
	if (!json_is_array(json_object_get(body, "messages"))) {
		json_decref(body);
		return NULL;
	}
	return body;
}

static int a_stop(const char *s)
{
	if (!s)
		return LLM_STOP_END;
	if (strcmp(s, "tool_use") == 0)
		return LLM_STOP_TOOL_USE;
	if (strcmp(s, "max_tokens") == 0 || strcmp(s, "model_context_window_exceeded") == 0)
		return LLM_STOP_MAX_TOKENS;
	if (strcmp(s, "refusal") == 0)
		return LLM_STOP_REFUSAL;
	return LLM_STOP_END; /* end_turn, stop_sequence, pause_turn, and newer values */
}

static int64_t count(const json_t *usage, const char *key)
{
	const json_t *v = json_object_get(usage, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

static int text_append(char **text, const char *s)
{
	size_t old = *text ? strlen(*text) : 0, n = strlen(s);
	char *nt = realloc(*text, old + n + 2);

	if (!nt)
		return T0_ENOMEM;
	if (old)
		nt[old++] = '\n';
	memcpy(nt + old, s, n + 1);
	*text = nt;
	return T0_OK;
}

static int a_parse(const char *body, size_t len, struct llm_turn *t, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, 0, &jerr), *content, *block, *usage, *asst;
	size_t i, ncalls = 0;
	int rc = T0_EPARSE;

	if (!root) {
		snprintf(err, errlen, "response is not JSON: %s", jerr.text);
		goto out;
	}
	content = json_object_get(root, "content");
	if (!json_is_array(content)) {
		snprintf(err, errlen, "response has no content array (type %s)",
			 json_string_value(json_object_get(root, "type"))
				 ? json_string_value(json_object_get(root, "type"))
				 : "?");
		goto out;
	}
	json_array_foreach(content, i, block)
		ncalls += json_is_object(block) &&
			  json_string_value(json_object_get(block, "type")) &&
			  strcmp(json_string_value(json_object_get(block, "type")), "tool_use") == 0;
	if (ncalls && !(t->calls = calloc(ncalls, sizeof(*t->calls)))) {
		rc = T0_ENOMEM;
		goto out;
	}
	json_array_foreach(content, i, block) {
		const char *type = json_string_value(json_object_get(block, "type"));

		if (!type)
			continue;
		if (strcmp(type, "text") == 0 && json_string_value(json_object_get(block, "text"))) {
			if (text_append(&t->text, json_string_value(json_object_get(block, "text"))))
				goto oom;
		} else if (strcmp(type, "tool_use") == 0) {
			struct llm_tool_call *c = &t->calls[t->ncalls++];
			const json_t *input = json_object_get(block, "input");

			c->id = llm_strdup_or_null(json_string_value(json_object_get(block, "id")));
			c->name = llm_strdup_or_null(json_string_value(json_object_get(block, "name")));
			if (!c->id || !c->name) {
				snprintf(err, errlen, "tool_use block without id or name");
				goto out;
			}
			/* Some proxies hand the input over as a JSON string: accept both. */
			if (json_is_object(input)) {
				c->args = json_incref((json_t *)input);
			} else if (json_is_string(input)) {
				json_error_t e2;

				c->args = json_string_length(input)
						  ? json_loads(json_string_value(input), 0, &e2)
						  : json_object();
				if (!json_is_object(c->args)) {
					json_decref(c->args);
					c->args = NULL;
					c->args_error = strdup("input is not a JSON object");
				}
			} else {
				c->args_error = strdup("input is missing or not an object");
			}
		}
		/* thinking, server tools and newer block types: not ours to act on */
	}
	snprintf(t->stop_raw, sizeof(t->stop_raw), "%s",
		 json_string_value(json_object_get(root, "stop_reason"))
			 ? json_string_value(json_object_get(root, "stop_reason"))
			 : "");
	t->stop = a_stop(json_string_value(json_object_get(root, "stop_reason")));
	usage = json_object_get(root, "usage");
	t->usage.input = count(usage, "input_tokens");
	t->usage.output = count(usage, "output_tokens");
	t->usage.cache_write = count(usage, "cache_creation_input_tokens");
	t->usage.cache_read = count(usage, "cache_read_input_tokens");
	snprintf(t->model, sizeof(t->model), "%s",
		 json_string_value(json_object_get(root, "model"))
			 ? json_string_value(json_object_get(root, "model"))
			 : "");
	snprintf(t->response_id, sizeof(t->response_id), "%s",
		 json_string_value(json_object_get(root, "id"))
			 ? json_string_value(json_object_get(root, "id"))
			 : "");
	/* The whole content array goes back unchanged (ids, thinking signatures, caller). */
	asst = json_object();
	if (!asst)
		goto oom;
	json_object_set_new(asst, "role", json_string("assistant"));
	json_object_set(asst, "content", content);
	t->assistant = asst;
	rc = T0_OK;
	goto out;
oom:
	rc = T0_ENOMEM;
out:
	json_decref(root);
	return rc;
}

static void a_error(const char *body, size_t len, char *out, size_t outlen)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	const json_t *e = json_object_get(root, "error");
	const char *type = json_string_value(json_object_get(e, "type"));
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (type || msg)
		snprintf(out, outlen, "%s: %s", type ? type : "error", msg ? msg : "");
	else
		llm_error_text(body, len, out, outlen);
	json_decref(root);
}

static int a_append_user(json_t *messages, const char *text)
{
	json_t *m = json_pack("{s:s, s:s}", "role", "user", "content", text);

	if (!m)
		return T0_EINVAL; /* not UTF-8: the caller cleans text first */
	return json_array_append_new(messages, m) ? T0_ENOMEM : T0_OK;
}

static int a_append_turn(json_t *messages, const struct llm_turn *t,
			 const struct llm_tool_result *res, size_t n)
{
	json_t *blocks, *user;

	if (!t->assistant || json_array_append(messages, t->assistant))
		return T0_EINVAL;
	if (!n)
		return T0_OK;
	blocks = json_array();
	for (size_t i = 0; blocks && i < n; i++) {
		json_t *b = json_pack("{s:s, s:s, s:s}", "type", "tool_result", "tool_use_id",
				      res[i].call_id, "content", res[i].content);

		if (!b) {
			json_decref(blocks);
			return T0_EINVAL;
		}
		if (res[i].is_error)
			json_object_set_new(b, "is_error", json_true());
		json_array_append_new(blocks, b);
	}
	user = blocks ? json_pack("{s:s, s:o}", "role", "user", "content", blocks) : NULL;
	if (!user)
		return T0_ENOMEM;
	return json_array_append_new(messages, user) ? T0_ENOMEM : T0_OK;
}

/* Cache writes cost 1.25 x input, cache reads 0.1 x input (reference E). */
static double a_cost(const struct config *cfg, const struct llm_usage *u)
{
	return ((double)u->input * cfg->llm_price_input +
		(double)u->cache_write * 1.25 * cfg->llm_price_input +
		(double)u->cache_read * 0.1 * cfg->llm_price_input +
		(double)u->output * cfg->llm_price_output) /
	       1e6;
}

const struct llm_provider llm_provider_anthropic = {
	.name = "anthropic",
	.path = "/v1/messages",
	.headers = a_headers,
	.body = a_body,
	.parse = a_parse,
	.error = a_error,
	.request_id_header = "request-id",
};

static int a_complete(struct t0_loop *loop, const struct config *cfg, const struct llm_call *call,
		      llm_done_cb cb, void *arg)
{
	return llm_http_complete(&llm_provider_anthropic, loop, cfg, call, cb, arg);
}

const struct t0_llm llm_anthropic = {
	.name = "anthropic",
	.append_user = a_append_user,
	.append_turn = a_append_turn,
	.complete = a_complete,
	.cost = a_cost,
};
