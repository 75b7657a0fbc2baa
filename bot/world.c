/* Building what a configuration describes, and swapping it whole on reload. */
#include "bot/bot.h"

#include <stdio.h>
#include <stdlib.h>

#include "bot/catalog.h"
#include "bot/config.h"
#include "bot/log.h"
#include "bot/oncall.h"
#include "bot/t0.h"
#include "intents/intent.h"
#include "runbooks/actions.h"
#include "runbooks/runbook.h"
#include "store/store.h"

void bot_world_free(struct bot_world *w)
{
	if (!w)
		return;
	action_set_free(w->actions);
	intent_engine_free(w->intents);
	oncall_free(w->oncall);
	runbook_set_free(w->runbooks);
	catalog_free(w->cat);
	config_free(w->cfg);
	free(w);
}

int bot_world_build(struct config *cfg, struct bot_world **out, char *err, size_t errlen)
{
	struct bot_world *w = calloc(1, sizeof(*w));
	int rc = T0_OK;

	if (!w) {
		config_free(cfg);
		return T0_ENOMEM;
	}
	w->cfg = cfg;
	w->cat = catalog_new();
	w->runbooks = runbook_set_new();
	if (!w->cat || !w->runbooks) {
		rc = T0_ENOMEM;
		goto out;
	}
	rc = catalog_load_files(w->cat, (const char *const *)cfg->catalog_files, cfg->ncatalog_files,
				cfg->base_dir, err, errlen);
	if (rc != T0_OK)
		goto out;
	rc = runbook_set_load(w->runbooks, (const char *const *)cfg->runbook_paths,
			      cfg->nrunbook_paths, cfg->base_dir, err, errlen);
	if (rc != T0_OK)
		goto out;
	w->oncall = oncall_new(cfg->oncall_schedules, err, errlen);
	if (!w->oncall) {
		rc = T0_ECONFIG;
		goto out;
	}
	w->intents = intent_engine_new(cfg->intent_rules, err, errlen);
	if (!w->intents) {
		rc = T0_ECONFIG;
		goto out;
	}
	rc = intent_engine_set_commands(w->intents, cfg->command_aliases);
	if (rc != T0_OK) {
		snprintf(err, errlen, "%s: intents.commands: %s", cfg->file, t0_rc_str(rc));
		goto out;
	}
	w->actions = action_set_new(cfg, err, errlen);
	if (!w->actions) {
		rc = T0_ECONFIG;
		goto out;
	}
	log_info("bot", "world_built", "catalog=%zu runbooks=%zu rules=%zu config=%s",
		 catalog_count(w->cat), runbook_set_count(w->runbooks), intent_rule_count(w->intents),
		 cfg->file);
out:
	if (rc != T0_OK) {
		bot_world_free(w);
		w = NULL;
	}
	*out = w;
	return rc;
}

int bot_new(struct bot_world *w, struct bot **out, char *err, size_t errlen)
{
	struct bot *b = calloc(1, sizeof(*b));
	int rc;

	*out = NULL;
	if (!b)
		return T0_ENOMEM;
	rc = store_open(w->cfg->store_path, &b->store, err, errlen);
	if (rc != T0_OK) {
		free(b);
		return rc;
	}
	b->world = w;
	b->started_ms = t0_now_ms();
	*out = b;
	return T0_OK;
}

void bot_free(struct bot *b)
{
	if (!b)
		return;
	bot_detach_loop(b);
	/* Rate limit buckets and breakers of this bot (idempotent; the actions adapter also calls it). */
	actions_detach(b);
	store_close(b->store);
	bot_world_free(b->world);
	free(b);
}

int bot_reload(struct bot *b, char *err, size_t errlen)
{
	struct config *cfg = NULL;
	struct bot_world *w = NULL;
	int rc;

	rc = config_load(b->world->cfg->file, &cfg, err, errlen);
	if (rc != T0_OK)
		return rc;
	rc = bot_world_build(cfg, &w, err, errlen);
	if (rc != T0_OK)
		return rc;
	/* The store is not reopened: a changed store.path takes effect at restart. */
	bot_world_free(b->world);
	b->world = w;
	log_set_level(w->cfg->log_level);
	return T0_OK;
}

#define CHECKPOINT_MS 50

int bot_attach_loop(struct bot *b, struct t0_loop *loop, int background_checkpoints)
{
	b->loop = loop;
	return background_checkpoints ? store_checkpointer_start(b->store, CHECKPOINT_MS) : T0_OK;
}

void bot_detach_loop(struct bot *b)
{
	if (b)
		store_checkpointer_stop(b->store);
}
