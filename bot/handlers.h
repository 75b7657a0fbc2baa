/*
 * Intent handlers: one function per built-in intent. Each reads the world
 * (catalog, on-call, runbooks, store) and fills a reply; none does I/O beyond
 * the store.
 */
#ifndef T0_HANDLERS_H
#define T0_HANDLERS_H

struct bot;
struct event;
struct intent_match;
struct reply;
struct cat_entity;

struct bot_pending;

struct handler_req {
	const struct event *ev;
	const struct intent_match *m;
	const struct cat_entity *requester; /* catalog User of the person asking, or NULL */
	/* Set by the router; bot_pending_take() claims it for an asynchronous answer. */
	struct bot_pending **pending;
};

typedef int (*handler_fn)(struct bot *b, const struct handler_req *req, struct reply *r);

/*
 * Modules outside handlers.c (incidents, actions, the LLM agent) register
 * their intents and button prefixes at start; a registration takes
 * precedence over the built-in table, NULL removes it. Not thread-safe (the
 * loop thread only). T0_ETOOBIG past 32 registrations.
 */
int handler_register(const char *intent, handler_fn fn);
int handler_register_action(const char *prefix, handler_fn fn);

/* The handler for a built-in intent name, or NULL. */
handler_fn handler_for(const char *intent);

/*
 * The handler for a button's action id (by prefix, e.g. "approval." for
 * "approval.approve"), or NULL. "retry" buttons are routed as messages.
 */
handler_fn handler_for_action(const char *action_id);

/* Short help for unknown requests. */
int handler_unknown(struct bot *b, const struct handler_req *req, struct reply *r);

/* Renders a configured reply template: {slot} becomes the slot's value. */
int handler_reply_template(struct bot *b, const struct handler_req *req, struct reply *r);

#endif
