/*
 * The language model behind one interface, struct t0_llm. Providers live in
 * adapters/llm/ (Anthropic Messages; OpenAI-compatible Chat Completions, which
 * also covers vLLM, the llama.cpp server and Ollama) and register here when
 * the LLM adapter starts; the agent (bot/agent.c) and incident summaries find
 * the configured one with llm_find(cfg->llm_provider).
 *
 * A conversation is kept in the provider's own message format (a jansson
 * array the caller owns), so an assistant turn goes back to the provider
 * exactly as it came. Everything else is provider-neutral: tool definitions,
 * tool calls with their arguments already parsed into an object, the stop
 * reason, token usage. See docs/LLM.md.
 */
#ifndef T0_LLM_H
#define T0_LLM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct bot;
struct config;
struct t0_loop;

enum llm_stop {
	LLM_STOP_END = 0,    /* end_turn, stop, stop_sequence, and values we do not know */
	LLM_STOP_TOOL_USE,   /* the model wants tool results */
	LLM_STOP_MAX_TOKENS, /* cut at max_tokens: text may be partial, tool calls incomplete */
	LLM_STOP_REFUSAL,    /* refusal / content_filter */
};

struct llm_tool_def {
	const char *name;        /* ^[a-zA-Z0-9_-]{1,64}$ */
	const char *description;
	const char *schema_json; /* JSON Schema of the arguments object */
};

struct llm_tool_call {
	char *id;
	char *name;
	json_t *args;     /* an object; NULL when args_error says why not */
	char *args_error; /* e.g. "arguments are not valid JSON: ..." */
};

struct llm_usage {
	int64_t input;       /* uncached input tokens */
	int64_t cache_write; /* Anthropic cache creation tokens */
	int64_t cache_read;  /* Anthropic cache reads; OpenAI cached prompt tokens */
	int64_t output;
};

struct llm_turn {
	char *text; /* the text blocks / message content, NULL when none */
	struct llm_tool_call *calls;
	size_t ncalls;
	int stop;          /* enum llm_stop */
	char stop_raw[40]; /* the provider's own word for it */
	struct llm_usage usage;
	char model[96];      /* as reported by the provider */
	char response_id[96];
	json_t *assistant;   /* the assistant message to echo back (owned) */
};
void llm_turn_free(struct llm_turn *t);

struct llm_tool_result {
	const char *call_id;
	const char *content; /* text the model will read */
	int is_error;
};

/* One model call. Everything is borrowed until complete() returns. */
struct llm_call {
	const char *system;
	const json_t *messages; /* in the provider's format, built with append_* */
	const struct llm_tool_def *tools;
	size_t ntools;
	int max_tokens;   /* 0 = llm.max_tokens */
	long deadline_ms; /* across attempts and retry waits; 0 = none */
};

/* What happened. rc: T0_OK (turn set), T0_ETIMEOUT, T0_EHTTP (no answer, or an error status), T0_EPARSE, T0_ETOOBIG, T0_ECLOSED. */
struct llm_result {
	int rc;
	long status;       /* HTTP status of the last attempt, 0 when none */
	int attempts;
	int64_t elapsed_ms;
	char error[256];   /* the provider's error type and message, for logs and audit */
	char request_id[96];
	struct llm_turn *turn; /* on T0_OK; set it to NULL to take it over */
};
typedef void (*llm_done_cb)(void *arg, struct llm_result *res);

struct t0_llm {
	const char *name; /* "anthropic" | "openai", as in llm.provider */
	/* Conversation building, in the provider's message format. */
	int (*append_user)(json_t *messages, const char *text);
	/* The assistant turn as received, then one result per tool call of it. */
	int (*append_turn)(json_t *messages, const struct llm_turn *t,
			   const struct llm_tool_result *res, size_t n);
	/*
	 * Starts one call with the current configuration (cfg is read now, not
	 * later). On T0_OK cb runs exactly once, later, on the loop; on any other
	 * rc it never runs. The request body has every secret redacted.
	 */
	int (*complete)(struct t0_loop *loop, const struct config *cfg, const struct llm_call *call,
			llm_done_cb cb, void *arg);
	/* USD for this usage at the configured prices. */
	double (*cost)(const struct config *cfg, const struct llm_usage *u);
};

/* Providers register at adapter init (the loop thread). T0_ETOOBIG past 8. */
int llm_register(const struct t0_llm *llm);
void llm_unregister_all(void);
/* The provider named in llm.provider, or NULL. */
const struct t0_llm *llm_find(const char *name);

/*
 * Incident summary (optional, llm.incident_summary): three labelled lines
 * ("What:", "Impact:", "Next:") about the incident described by context
 * (plain text the caller assembled: title, service, alerts, recent deploys).
 * The context is redacted and fenced as untrusted data; the model gets no
 * tools. Never blocks: on T0_OK, cb runs exactly once, later, on the loop
 * (at the latest with T0_ECLOSED when the loop shuts down); post the message
 * first and add the summary when it comes. label reads e.g.
 * "AI summary (claude-haiku-4-5, unverified)". Other rc (cb never runs):
 * T0_ENOTFOUND (no LLM, or incident_summary off), T0_ERATELIMIT (daily
 * budget spent), T0_EINVAL, T0_ECLOSED.
 */
typedef void (*llm_summary_cb)(void *arg, int rc, const char *label, const char *summary);
int llm_summarize(struct bot *b, const char *context, llm_summary_cb cb, void *arg);

#endif
