/*
 * Inside adapters/llm: what a provider knows (URL path, auth headers, request
 * and response JSON, error bodies, prices) and the HTTP plumbing they share
 * (llm_http.c). Only files in this folder and tests include it.
 */
#ifndef T0_LLM_PROVIDER_H
#define T0_LLM_PROVIDER_H

#include <jansson.h>
#include <stddef.h>

#include "bot/llm.h"

struct config;
struct t0_loop;

#define LLM_MAX_HEADERS 6
#define LLM_HEADER_MAX 8192
#define LLM_MAX_RESPONSE (8u * 1024 * 1024)

struct llm_provider {
	const char *name;
	const char *path; /* appended to llm.api_url */
	/* "Name: value" lines (secrets included: never log them). */
	int (*headers)(const struct config *cfg, char out[][LLM_HEADER_MAX], size_t max, size_t *n);
	/* The request body (new reference) or NULL. */
	json_t *(*body)(const struct config *cfg, const struct llm_call *call);
	/* A 200 response -> turn. T0_EPARSE with a reason in err. */
	int (*parse)(const char *body, size_t len, struct llm_turn *t, char *err, size_t errlen);
	/* An error response -> "type: message" (or the first bytes of a non-JSON body). */
	void (*error)(const char *body, size_t len, char *out, size_t outlen);
	/* Response header carrying the request id. */
	const char *request_id_header;
};

extern const struct llm_provider llm_provider_anthropic;
extern const struct llm_provider llm_provider_openai;
extern const struct t0_llm llm_anthropic;
extern const struct t0_llm llm_openai;

/* One model call over HTTP for provider p: the shared part of t0_llm.complete. */
int llm_http_complete(const struct llm_provider *p, struct t0_loop *loop,
		      const struct config *cfg, const struct llm_call *call, llm_done_cb cb,
		      void *arg);

/* Helpers shared by the providers. */
json_t *llm_tool_schema(const struct llm_tool_def *def); /* parsed schema, or {"type":"object"} */
void llm_error_text(const char *body, size_t len, char *out, size_t outlen); /* non-JSON bodies */
char *llm_strdup_or_null(const char *s);

#endif
