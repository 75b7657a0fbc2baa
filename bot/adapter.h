/*
 * How a chat adapter plugs in: a file of static functions and one exported
 * const struct adapter_ops. The core holds only the opaque state pointer.
 * Ops an adapter does not support stay NULL; callers check.
 */
#ifndef T0_ADAPTER_H
#define T0_ADAPTER_H

#include <stddef.h>

struct bot;
struct config;
struct reply;
struct t0_loop;

enum adapter_kind { ADAPTER_CHAT = 0, ADAPTER_SOURCE, ADAPTER_LLM };

/* Where a reply goes: the conversation (and thread) an event came from. */
struct reply_target {
	const char *channel;
	const char *thread;
	const char *user_id; /* for ephemeral replies */
};

struct uv_loop_s;
struct http_server;

struct adapter_ctx {
	struct bot *bot;
	struct t0_loop *loop;
	struct uv_loop_s *uv;
	/* The inbound HTTP server (run mode with http.enabled), or NULL: adapters add routes. */
	struct http_server *http;
	/* An adapter asks the app to shut down (the console at end of input). */
	void (*request_stop)(void *arg);
	void *request_stop_arg;
};

/*
 * Completion of send/update, exactly once: rc, and for a send the platform's
 * id of the posted message (Slack ts, Teams activity id), borrowed for the call.
 */
typedef void (*adapter_sent_cb)(void *arg, int rc, const char *message_ref);

struct adapter_ops {
	const char *name;
	int kind; /* enum adapter_kind */
	/* 1 when the configuration switches this adapter on (its section is present). */
	int (*configured)(const struct config *cfg);
	int (*init)(const struct adapter_ctx *ctx, void **state);
	int (*start)(void *state);
	void (*stop)(void *state);
	void (*free)(void *state);
	/* 1 when connected and able to take traffic (for /readyz). */
	int (*ready)(void *state);
	/* Chat adapters. cb may be NULL; when set it is called exactly once (maybe before return). */
	int (*send)(void *state, const struct reply_target *to, const struct reply *r,
		    adapter_sent_cb cb, void *arg);
	int (*update)(void *state, const struct reply_target *to, const char *message_ref,
		      const struct reply *r, adapter_sent_cb cb, void *arg);
};

/* NULL-terminated list of every adapter this build knows. */
extern const struct adapter_ops *const adapter_registry[];
const struct adapter_ops *adapter_find(const char *name);

#endif
