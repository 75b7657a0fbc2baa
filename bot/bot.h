/*
 * The core: configuration plus everything derived from it (store, catalog,
 * runbooks, on-call, intents), and the entry point adapters call with events.
 */
#ifndef T0_BOT_H
#define T0_BOT_H

#include <stddef.h>
#include <stdint.h>

struct action_set;
struct catalog;
struct config;
struct event;
struct intent_engine;
struct oncall;
struct reply;
struct runbook_set;
struct store;

/* What a configuration produces; swapped whole on reload. */
struct bot_world {
	struct config *cfg;
	struct catalog *cat;
	struct runbook_set *runbooks;
	struct oncall *oncall;
	struct intent_engine *intents;
	struct action_set *actions; /* runbooks/actions.h: action definitions and their policy */
};

struct adapter_ops;
struct reply_target;
struct t0_loop;

#define BOT_MAX_CHATS 8

/* A running chat adapter the core can post through (incident cards, async answers). */
struct bot_chat {
	const struct adapter_ops *ops;
	void *state;
};

struct bot {
	struct bot_world *world;
	struct store *store;
	struct t0_loop *loop; /* NULL in tests without a loop */
	int64_t started_ms;
	uint64_t events_handled;
	uint64_t pending; /* handlers still working (async) */
	struct bot_chat chats[BOT_MAX_CHATS];
	size_t nchats;
};

/*
 * Builds a world from a loaded configuration (takes cfg over, also on failure).
 * err names the file and problem.
 */
int bot_world_build(struct config *cfg, struct bot_world **out, char *err, size_t errlen);
void bot_world_free(struct bot_world *w);

/*
 * Sets the loop. With background_checkpoints (the daemon), the store's WAL
 * checkpointer runs every 50 ms on its own thread and connection, so no event
 * waits behind a checkpoint (and its fsync) run inside its commit: Slack ack
 * p99 at 1000 events/s goes from ~5 ms to under 1 ms. The console keeps
 * SQLite's inline checkpoints, which give more throughput to one scripted
 * user (bench/README.md). Detach stops the checkpointer.
 */
int bot_attach_loop(struct bot *b, struct t0_loop *loop, int background_checkpoints);
void bot_detach_loop(struct bot *b);

/* Opens the store named by the world's configuration. */
int bot_new(struct bot_world *w, struct bot **out, char *err, size_t errlen);
void bot_free(struct bot *b);
/* Re-reads the configuration file; on error keeps the current world and says why. */
int bot_reload(struct bot *b, char *err, size_t errlen);

/*
 * Handles one event: audits it, routes it to an intent, runs the handler and
 * audits the reply. Returns the reply (caller frees) or NULL when nothing is to
 * be said (a duplicate event). Never fails silently: an error becomes a reply.
 * For synchronous callers (tests, benchmarks): an asynchronous handler's reply
 * is not waited for; it says it is working and the answer is lost. Adapters
 * use bot_dispatch.
 */
struct reply *bot_handle(struct bot *b, const struct event *ev);

/*
 * The same, for adapters: cb is called exactly once with the reply (the
 * callee takes it over) or NULL for a duplicate, at once for synchronous
 * handlers, later for handlers that wait on outside services. The event is
 * copied as needed; its strings may be freed when bot_dispatch returns.
 */
typedef void (*bot_reply_cb)(void *arg, struct reply *r);
void bot_dispatch(struct bot *b, const struct event *ev, bot_reply_cb cb, void *arg);

/*
 * An asynchronous handler calls bot_pending_take(req) and returns T0_OK
 * without touching the reply further; later, on the loop, it completes with
 * bot_pending_finish(p, reply) (taking the reply over; NULL means an error
 * reply). The router audits the reply and calls the adapter's callback then.
 */
struct bot_pending;
struct handler_req;
struct bot_pending *bot_pending_take(const struct handler_req *req);
/* 1 when the caller can wait for an asynchronous answer (bot_pending_take would succeed). */
int bot_pending_available(const struct handler_req *req);
void bot_pending_finish(struct bot_pending *p, struct reply *r);

/*
 * A fallback for what the rules do not understand (the LLM agent sets it at
 * init, NULL removes it). It is asked at most twice per text event: with
 * ROUTER_BEFORE_RULES before any rule is tried (it declines unless it wants
 * the event first, e.g. every direct message), and with ROUTER_NO_RULE from
 * handler_unknown, i.e. wherever the "Sorry, I didn't understand" help would
 * be the answer (no rule matched, or "what is X" with an unknown X). text is
 * what to answer. It returns T0_OK when it answered (fully, or by taking the
 * request with bot_pending_take), anything else to decline, leaving r alone.
 */
enum router_stage { ROUTER_BEFORE_RULES = 0, ROUTER_NO_RULE };
typedef int (*router_fallback_fn)(struct bot *b, const struct handler_req *req, const char *text,
				  int stage, struct reply *r);
void router_set_fallback(router_fallback_fn fn);
/* Asks the installed fallback; T0_ENOTFOUND when there is none or it declines. */
int router_fallback_call(struct bot *b, const struct handler_req *req, const char *text, int stage,
			 struct reply *r);

/* Chat adapters register so the core can post without an event to answer. */
int bot_chat_register(struct bot *b, const struct adapter_ops *ops, void *state);
void bot_chat_unregister_all(struct bot *b);
/* platform NULL = the first registered chat adapter. T0_ENOTFOUND when none. */
int bot_post(struct bot *b, const char *platform, const struct reply_target *to,
	     const struct reply *r, void (*cb)(void *arg, int rc, const char *message_ref),
	     void *arg);
int bot_update(struct bot *b, const char *platform, const struct reply_target *to,
	       const char *message_ref, const struct reply *r,
	       void (*cb)(void *arg, int rc, const char *message_ref), void *arg);

#endif
