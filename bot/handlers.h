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

struct handler_req {
	const struct event *ev;
	const struct intent_match *m;
	const struct cat_entity *requester; /* catalog User of the person asking, or NULL */
};

typedef int (*handler_fn)(struct bot *b, const struct handler_req *req, struct reply *r);

/* The handler for a built-in intent name, or NULL. */
handler_fn handler_for(const char *intent);

/* Short help for unknown requests. */
int handler_unknown(struct bot *b, const struct handler_req *req, struct reply *r);

/* Renders a configured reply template: {slot} becomes the slot's value. */
int handler_reply_template(struct bot *b, const struct handler_req *req, struct reply *r);

#endif
