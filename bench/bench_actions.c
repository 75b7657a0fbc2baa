/*
 * Actions: how fast policy decides, how fast a request is rendered and bound
 * to its hash, and how many requests per second go through the whole chat
 * path (request -> policy -> limits -> row + audit -> card with buttons ->
 * second person approves -> vote + transitions + audit -> claim), on the
 * demo organisation with a SQLite file. The HTTP call itself is left out
 * (no loop): the claim fails its "no event loop" precondition, after every
 * store write a real execution does before sending.
 *
 *   ./build/bench/bench_actions [config/demo/tier0.yaml] [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bot/bot.h"
#include "bot/catalog.h"
#include "bot/config.h"
#include "bot/event.h"
#include "bot/log.h"
#include "bot/policy.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "runbooks/actions.h"

static double secs_since(uint64_t t0)
{
	return (double)(t0_mono_ns() - t0) / 1e9;
}

static struct reply *say(struct bot *b, const char *who, const char *text, const char *action_id,
			 const char *value)
{
	struct event ev = {
		.kind = action_id ? EVENT_INTERACTION : EVENT_MESSAGE,
		.actor = { .platform = "console", .user_id = who },
		.channel = "#bench",
		.text = text,
		.action_id = action_id,
		.value = value,
	};

	return bot_handle(b, &ev);
}

int main(int argc, char **argv)
{
	const char *cfg_path = argc > 1 ? argv[1] : "config/demo/tier0.yaml";
	int n = argc > 2 ? atoi(argv[2]) : 2000;
	struct config *cfg = NULL;
	struct bot_world *w = NULL;
	struct bot *b = NULL;
	char err[1024], db[] = "/tmp/t0bench_actions.XXXXXX", path[64];
	const struct cat_entity *target;
	struct policy_person alice;
	const struct action_def *def;
	uint64_t t0;
	int ok = 0, iters;

	log_set_level(LOG_LEVEL_ERR);
	if (!mkdtemp(db))
		return 1;
	snprintf(path, sizeof(path), "%s/b.db", db);
	if (config_load(cfg_path, &cfg, err, sizeof(err)) != T0_OK ||
	    bot_world_build(cfg, &w, err, sizeof(err)) != T0_OK) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	free(w->cfg->store_path);
	w->cfg->store_path = strdup(path);
	if (bot_new(w, &b, err, sizeof(err)) != T0_OK) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	actions_register_handlers();
	/* No rate limits for the benchmark: it measures the path, not the limiter saying no. */
	w->actions->policy.has_global = w->actions->policy.has_user = 0;
	w->actions->policy.has_channel = w->actions->policy.has_target = 0;
	for (size_t i = 0; i < w->actions->n; i++)
		w->actions->defs[i].has_rate = 0;

	target = catalog_find(w->cat, "payment-api");
	def = action_find(w->actions, "rollback");
	alice.platform = "console";
	alice.user_id = "alice";
	alice.email = NULL;
	alice.user = policy_find_user(w->cat, NULL, "alice");

	iters = 200000;
	t0 = t0_mono_ns();
	for (int i = 0; i < iters; i++) {
		struct policy_decision d;

		policy_decide_request(w->cat, &def->requesters, def->risk, def->approvals, 1, &alice,
				      target, &d);
		ok += d.allowed;
	}
	printf("policy decisions (owners of payment-api, demo catalog): %.0f/s\n",
	       iters / secs_since(t0));

	iters = 50000;
	t0 = t0_mono_ns();
	{
		json_t *params = json_pack("{s:s}", "environment", "production");
		struct action_render_in in = { .set = w->actions, .def = def, .target = target,
					       .params = params, .request_id = "r-0000000000000000",
					       .created_ms = 1, .requester_email = "a@example.com" };
		char hash[65];

		for (int i = 0; i < iters; i++)
			ok += action_request_hash(&in, hash, NULL, err, sizeof(err)) == T0_OK;
		json_decref(params);
	}
	printf("render + hash of a GitHub workflow_dispatch request: %.0f/s\n",
	       iters / secs_since(t0));

	t0 = t0_mono_ns();
	for (int i = 0; i < n; i++) {
		struct reply *card = say(b, "alice", "rollback payment-api", NULL, NULL), *r;
		const char *approve = NULL;

		for (size_t k = 0; card && k < card->nbuttons; k++)
			if (strcmp(card->buttons[k].label, "Approve") == 0)
				approve = card->buttons[k].value;
		if (!approve) {
			fprintf(stderr, "no approve button: %s\n", card ? card->text : "?");
			return 1;
		}
		r = say(b, "bob", NULL, "approval.approve", approve);
		ok += r && r->text && strstr(r->text, "Approved by") != NULL;
		reply_free(r);
		reply_free(card);
	}
	{
		double s = secs_since(t0);

		printf("request + approval through the router (%d, SQLite file): %.2f s, %.0f "
		       "requests/s, %.2f ms each\n",
		       n, s, n / s, s * 1000 / n);
	}
	actions_detach(b);
	bot_free(b);
	unlink(path);
	snprintf(path, sizeof(path), "%s/b.db-wal", db);
	unlink(path);
	snprintf(path, sizeof(path), "%s/b.db-shm", db);
	unlink(path);
	rmdir(db);
	return ok > 0 ? 0 : 1;
}
