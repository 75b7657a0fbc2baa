/*
 * A fake language-model provider on 127.0.0.1 for both APIs, on top of
 * fake_http: Anthropic Messages (POST /v1/messages) or OpenAI Chat
 * Completions (POST /v1/chat/completions). Scripted turns are built from the
 * real response bodies in ../shared/fixtures/llm/ (ids, usage, extra fields
 * kept), with only the content swapped in: a text answer, or tool calls
 * (Anthropic: tool_use blocks with an input object; OpenAI: tool_calls whose
 * arguments are a JSON string, sent verbatim even when invalid).
 *
 *   struct fake_llm *fl = fake_llm_new(loop_uv(loop), FAKE_LLM_OPENAI, T0_FIXTURES);
 *   ... llm.api_url: fake_llm_base_url(fl) ...
 *   struct fake_llm_call c = { "call_1", "get_owner", "{\"service\":\"payment-api\"}" };
 *   fake_llm_tools(fl, NULL, &c, 1, NULL);
 *   fake_llm_text(fl, "payment-api is owned by the Payments Team.", NULL);
 *   json_t *req = fake_llm_request(fl, 1);   second request body, parsed
 */
#ifndef T0_FAKE_LLM_H
#define T0_FAKE_LLM_H

#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "tests/fakes/fake_http.h"

enum fake_llm_api { FAKE_LLM_ANTHROPIC = 0, FAKE_LLM_OPENAI };

struct fake_llm;

struct fake_llm_call {
	const char *id;
	const char *name;
	const char *args; /* JSON text; Anthropic: parsed into input (a string input when it does not parse) */
};

/* fixtures: the shared fixtures folder (T0_FIXTURES). NULL on failure. */
struct fake_llm *fake_llm_new(uv_loop_t *uv, int api, const char *fixtures);
void fake_llm_free(struct fake_llm *fl);
/* The value for llm.api_url (Anthropic: the origin; OpenAI: origin + "/v1"). */
const char *fake_llm_base_url(struct fake_llm *fl);
/* The path the provider answers on. */
const char *fake_llm_path(const struct fake_llm *fl);

/*
 * Queues a text answer. stop: the provider's stop reason (NULL: end_turn /
 * stop). Returns 0 or -1.
 */
int fake_llm_text(struct fake_llm *fl, const char *text, const char *stop);
/* Queues a turn of tool calls, with optional text before them. stop NULL: tool_use / tool_calls. */
int fake_llm_tools(struct fake_llm *fl, const char *text, const struct fake_llm_call *calls,
		   size_t n, const char *stop);
/* Queues any response (error statuses, delays, raw bodies). */
int fake_llm_raw(struct fake_llm *fl, int status, const char *headers, const char *body,
		 int delay_ms);
/* A fixture file's contents (caller frees), e.g. "anthropic/body_error_429_rate_limit_error.json". */
char *fake_llm_fixture(const struct fake_llm *fl, const char *rel);

size_t fake_llm_count(const struct fake_llm *fl);
const struct fake_http_req *fake_llm_req(const struct fake_llm *fl, size_t i);
/* Request i's body, parsed (new reference), or NULL. */
json_t *fake_llm_request(const struct fake_llm *fl, size_t i);

/*
 * Sum of the usage the scripted turns queued so far report (each keeps its
 * fixture's usage): input counts everything billed as input, cache included.
 */
void fake_llm_queued_usage(const struct fake_llm *fl, long long *input, long long *output);

#endif
