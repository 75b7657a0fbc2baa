#include "tests/fakes/fake_llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fake_llm {
	struct fake_http *fh;
	int api;
	char fixtures[512];
	char base[300];
	long long in, out;
};

char *fake_llm_fixture(const struct fake_llm *fl, const char *rel)
{
	char path[1024];
	FILE *fp;
	char *buf = NULL;
	long n;

	snprintf(path, sizeof(path), "%s/llm/%s", fl->fixtures, rel);
	fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf)
			buf[n] = '\0';
	}
	fclose(fp);
	return buf;
}

static json_t *fixture_json(const struct fake_llm *fl, const char *rel)
{
	char *text = fake_llm_fixture(fl, rel);
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;

	free(text);
	return j;
}

struct fake_llm *fake_llm_new(uv_loop_t *uv, int api, const char *fixtures)
{
	struct fake_llm *fl = calloc(1, sizeof(*fl));

	if (!fl)
		return NULL;
	fl->api = api;
	snprintf(fl->fixtures, sizeof(fl->fixtures), "%s", fixtures);
	fl->fh = fake_http_new(uv);
	if (!fl->fh) {
		free(fl);
		return NULL;
	}
	return fl;
}

void fake_llm_free(struct fake_llm *fl)
{
	if (!fl)
		return;
	fake_http_free(fl->fh);
	free(fl);
}

const char *fake_llm_base_url(struct fake_llm *fl)
{
	snprintf(fl->base, sizeof(fl->base), "%s",
		 fake_http_url(fl->fh, fl->api == FAKE_LLM_OPENAI ? "/v1" : ""));
	return fl->base;
}

const char *fake_llm_path(const struct fake_llm *fl)
{
	return fl->api == FAKE_LLM_OPENAI ? "/v1/chat/completions" : "/v1/messages";
}

static int queue_json(struct fake_llm *fl, json_t *body)
{
	char *text = json_dumps(body, JSON_INDENT(2));
	int rc;
	json_t *u = json_object_get(body, "usage");

	if (!text)
		return -1;
	if (fl->api == FAKE_LLM_OPENAI) {
		fl->in += json_integer_value(json_object_get(u, "prompt_tokens"));
		fl->out += json_integer_value(json_object_get(u, "completion_tokens"));
	} else {
		fl->in += json_integer_value(json_object_get(u, "input_tokens")) +
			  json_integer_value(json_object_get(u, "cache_creation_input_tokens")) +
			  json_integer_value(json_object_get(u, "cache_read_input_tokens"));
		fl->out += json_integer_value(json_object_get(u, "output_tokens"));
	}
	rc = fake_http_add(fl->fh, "POST", fake_llm_path(fl), 200,
			   "Content-Type: application/json\r\nrequest-id: req_fake\r\n"
			   "x-request-id: req_fake\r\n",
			   text, strlen(text), 0);
	free(text);
	return rc;
}

int fake_llm_text(struct fake_llm *fl, const char *text, const char *stop)
{
	json_t *body;
	int rc = -1;

	if (fl->api == FAKE_LLM_OPENAI) {
		json_t *choice;

		body = fixture_json(fl, "openai/spec_chat_completion_text.json");
		choice = json_array_get(json_object_get(body, "choices"), 0);
		if (!choice)
			goto out;
		json_object_set_new(json_object_get(choice, "message"), "content", json_string(text));
		json_object_set_new(choice, "finish_reason", json_string(stop ? stop : "stop"));
	} else {
		json_t *block;

		body = fixture_json(fl, "anthropic/body_end_turn_after_tool_result.json");
		block = json_array_get(json_object_get(body, "content"), 0);
		if (!block)
			goto out;
		json_object_set_new(block, "text", json_string(text));
		json_object_set_new(body, "stop_reason", json_string(stop ? stop : "end_turn"));
	}
	rc = queue_json(fl, body);
out:
	json_decref(body);
	return rc;
}

int fake_llm_tools(struct fake_llm *fl, const char *text, const struct fake_llm_call *calls,
		   size_t n, const char *stop)
{
	json_t *body;
	int rc = -1;

	if (fl->api == FAKE_LLM_OPENAI) {
		json_t *choice, *msg, *tcs, *proto;

		body = fixture_json(fl, "openai/sdkdump_chat_completion_tool_calls_gpt-4o.json");
		choice = json_array_get(json_object_get(body, "choices"), 0);
		msg = json_object_get(choice, "message");
		proto = json_array_get(json_object_get(msg, "tool_calls"), 0);
		if (!proto)
			goto out;
		tcs = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *tc = json_deep_copy(proto);

			json_object_set_new(tc, "id", json_string(calls[i].id));
			json_object_set_new(json_object_get(tc, "function"), "name",
					    json_string(calls[i].name));
			json_object_set_new(json_object_get(tc, "function"), "arguments",
					    json_string(calls[i].args));
			json_array_append_new(tcs, tc);
		}
		json_object_set_new(msg, "tool_calls", tcs);
		json_object_set_new(msg, "content", text ? json_string(text) : json_null());
		json_object_set_new(choice, "finish_reason", json_string(stop ? stop : "tool_calls"));
	} else {
		json_t *content, *proto_text, *proto_tool, *blocks;

		body = fixture_json(fl, "anthropic/body_text_plus_tool_use.json");
		content = json_object_get(body, "content");
		proto_text = json_array_get(content, 0);
		proto_tool = json_array_get(content, 1);
		if (!proto_text || !proto_tool)
			goto out;
		blocks = json_array();
		if (text) {
			json_t *t = json_deep_copy(proto_text);

			json_object_set_new(t, "text", json_string(text));
			json_array_append_new(blocks, t);
		}
		for (size_t i = 0; i < n; i++) {
			json_t *tu = json_deep_copy(proto_tool);
			json_t *input = json_loads(calls[i].args, 0, NULL);

			json_object_set_new(tu, "id", json_string(calls[i].id));
			json_object_set_new(tu, "name", json_string(calls[i].name));
			json_object_set_new(tu, "input", input ? input : json_string(calls[i].args));
			json_array_append_new(blocks, tu);
		}
		json_object_set_new(body, "content", blocks);
		json_object_set_new(body, "stop_reason", json_string(stop ? stop : "tool_use"));
	}
	rc = queue_json(fl, body);
out:
	json_decref(body);
	return rc;
}

int fake_llm_raw(struct fake_llm *fl, int status, const char *headers, const char *body,
		 int delay_ms)
{
	return fake_http_add(fl->fh, "POST", fake_llm_path(fl), status, headers, body,
			     body ? strlen(body) : 0, delay_ms);
}

size_t fake_llm_count(const struct fake_llm *fl)
{
	return fake_http_count(fl->fh);
}

const struct fake_http_req *fake_llm_req(const struct fake_llm *fl, size_t i)
{
	return fake_http_req(fl->fh, i);
}

json_t *fake_llm_request(const struct fake_llm *fl, size_t i)
{
	const struct fake_http_req *r = fake_http_req(fl->fh, i);

	return r ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
}

void fake_llm_queued_usage(const struct fake_llm *fl, long long *input, long long *output)
{
	*input = fl->in;
	*output = fl->out;
}
