/*
 * The core: configuration plus everything derived from it (store, catalog,
 * runbooks, on-call, intents), and the entry point adapters call with events.
 */
#ifndef T0_BOT_H
#define T0_BOT_H

#include <stddef.h>
#include <stdint.h>

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
};

struct bot {
	struct bot_world *world;
	struct store *store;
	int64_t started_ms;
	uint64_t events_handled;
};

/*
 * Builds a world from a loaded configuration (takes cfg over, also on failure).
 * err names the file and problem.
 */
int bot_world_build(struct config *cfg, struct bot_world **out, char *err, size_t errlen);
void bot_world_free(struct bot_world *w);

/* Opens the store named by the world's configuration. */
int bot_new(struct bot_world *w, struct bot **out, char *err, size_t errlen);
void bot_free(struct bot *b);
/* Re-reads the configuration file; on error keeps the current world and says why. */
int bot_reload(struct bot *b, char *err, size_t errlen);

/*
 * Handles one event: audits it, routes it to an intent, runs the handler and
 * audits the reply. Returns the reply (caller frees) or NULL when nothing is to
 * be said (a duplicate event). Never fails silently: an error becomes a reply.
 */
struct reply *bot_handle(struct bot *b, const struct event *ev);

#endif
