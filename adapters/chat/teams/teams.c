/*
 * The Teams adapter: lifecycle, readiness, conversation references, and the
 * send/update operations the core posts through (incident cards, late
 * answers). Inbound activities are in teams_activity.c.
 */
#include "adapters/chat/teams/teams.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/chat/teams/teams_card.h"
#include "adapters/chat/teams/teams_connector.h"
#include "adapters/chat/teams/teams_internal.h"
#include "adapters/chat/teams/teams_keys.h"
#include "adapters/chat/teams/teams_queue.h"
#include "adapters/chat/teams/teams_token.h"
#include "bot/bot.h"
#include "bot/config.h"
#include "bot/http_server.h"
#include "bot/log.h"
#include "bot/metrics.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "store/store.h"

static int teams_configured(const struct config *cfg)
{
	return cfg->teams_enabled;
}

static char *digest(void *arg, const char *const *summaries, size_t n, size_t total)
{
	struct teams *t = arg;

	return teams_digest_build(summaries, n, total, t->max_card_bytes);
}

static void teams_free(void *state)
{
	struct teams *t = state;

	if (!t)
		return;
	t->freeing = 1;
	/*
	 * Order matters: the queue stops first (queued messages fail), then the
	 * token client completes the calls waiting for a token, then calls still
	 * on the wire are cancelled, and only then do the queue's states go.
	 */
	teams_queue_close(t->queue);
	teams_connector_close(t->conn);
	teams_token_free(t->token);
	teams_connector_free(t->conn);
	teams_queue_free(t->queue);
	teams_keys_free(t->keys);
	/* Turns still waiting for the core's answer (nothing else can reach them now). */
	teams_turns_free_all(t);
	free(t->idents);
	free(t->app_id);
	free(t->path);
	free(t);
}

static int teams_init(const struct adapter_ctx *ctx, void **state)
{
	const struct config *cfg = ctx->bot->world->cfg;
	struct teams_pacing pacing = {
		.burst = cfg->teams_pacing_burst,
		.interval_ms = cfg->teams_pacing_interval_ms,
		.global_per_second = cfg->teams_pacing_global_per_second,
		.max_queue = cfg->teams_pacing_max_queue,
		.coalesce_after = cfg->teams_pacing_coalesce_after,
		.max_retries = cfg->teams_pacing_max_retries,
	};
	struct teams *t;
	int rc;

	*state = NULL;
	if (!cfg->teams_enabled)
		return T0_ECONFIG;
	if (!ctx->http) {
		log_err("teams", "no_http_server",
			"reason=%s", "Teams delivers activities over HTTP: set http.enabled: true");
		return T0_ECONFIG;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return T0_ENOMEM;
	t->ctx = *ctx;
	t->bot = ctx->bot;
	t->loop = ctx->loop;
	t->app_id = strdup(cfg->teams_app_id);
	t->path = strdup(cfg->teams_path);
	snprintf(t->bot_id, sizeof(t->bot_id), "28:%s", cfg->teams_app_id);
	t->invoke_timeout_ms = cfg->teams_invoke_timeout_ms;
	t->max_card_bytes = (size_t)cfg->teams_max_card_bytes;
	t->idents = calloc(TEAMS_IDENT_CACHE, sizeof(*t->idents));
	t->keys = teams_keys_new(ctx->loop, cfg->teams_openid_url, cfg->teams_jwks_refresh_s);
	t->token = teams_token_new(ctx->loop, cfg->teams_token_url, cfg->teams_app_id,
				   cfg->teams_app_password);
	t->conn = t->token ? teams_connector_new(ctx->loop, t->token) : NULL;
	t->queue = t->conn ? teams_queue_new(ctx->loop, t->conn, &pacing, digest, t) : NULL;
	if (!t->app_id || !t->path || !t->idents || !t->keys || !t->token || !t->conn ||
	    !t->queue) {
		teams_free(t);
		return T0_ENOMEM;
	}
	rc = http_server_route(ctx->http, "POST", t->path, teams_on_activity, t);
	if (rc != T0_OK) {
		log_err("teams", "route_failed", "path=%s rc=%s", t->path, t0_rc_str(rc));
		teams_free(t);
		return rc == T0_EDUP ? T0_ECONFIG : rc;
	}
	metrics_describe("tier0_teams_activities_total", "Teams activities received, by type");
	metrics_describe("tier0_teams_auth_failures_total",
			 "Teams requests refused (401), by reason");
	metrics_describe("tier0_teams_connector_calls_total",
			 "Bot Connector calls, by operation and HTTP status");
	*state = t;
	return T0_OK;
}

static int teams_start(void *state)
{
	struct teams *t = state;

	t->started = 1;
	teams_keys_start(t->keys);
	teams_token_start(t->token);
	log_info("teams", "started", "path=%s app_id=%s", t->path, t->app_id);
	return T0_OK;
}

static void teams_stop(void *state)
{
	struct teams *t = state;

	/* Queued messages keep going out during the shutdown grace period. */
	t->stopping = 1;
	teams_keys_stop(t->keys);
	teams_token_stop(t->token);
	teams_queue_stop(t->queue);
}

static int teams_ready(void *state)
{
	struct teams *t = state;

	return t->started && !t->stopping && teams_token_ready(t->token) &&
	       teams_keys_ready(t->keys);
}

/* ---- conversation references ---- */

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void set_opt(json_t *o, const char *k, const char *v)
{
	if (v && *v)
		json_object_set_new(o, k, json_string(v));
}

static int ref_put(struct teams *t, const char *key, json_t *ref)
{
	char *text = json_dumps(ref, JSON_COMPACT | JSON_SORT_KEYS), *old = NULL;
	int stale = 0, rc;

	if (!text)
		return T0_ENOMEM;
	/* Unchanged and live: no write for every message. */
	rc = store_conv_ref_get(t->bot->store, TEAMS_PLATFORM, key, &old, &stale, NULL);
	if (rc == T0_OK && !stale && !strcmp(old, text)) {
		free(old);
		free(text);
		return T0_OK;
	}
	free(old);
	rc = store_conv_ref_put(t->bot->store, TEAMS_PLATFORM, key, text, t0_now_ms());
	if (rc == T0_OK)
		log_info("teams", "conversation_ref_saved", "conversation=%s", key);
	free(text);
	return rc;
}

int teams_ref_save(struct teams *t, const json_t *act, const char *conv_id)
{
	const json_t *conv = json_object_get(act, "conversation");
	const json_t *cd = json_object_get(act, "channelData");
	const json_t *rcpt = json_object_get(act, "recipient");
	const char *tenant = jstr(json_object_get(cd, "tenant"), "id");
	const char *surl = jstr(act, "serviceUrl");
	const char *ctype = jstr(conv, "conversationType");
	char base[TEAMS_MAX_ID], thread[64];
	json_t *ref;
	int rc;

	if (!surl || !jstr(conv, "id"))
		return T0_EINVAL;
	if (!conv_id) {
		teams_conv_split(jstr(conv, "id"), base, sizeof(base), thread, sizeof(thread));
		conv_id = base;
	}
	if (!*conv_id || strlen(conv_id) >= TEAMS_MAX_ID)
		return T0_EINVAL;
	if (!tenant)
		tenant = jstr(conv, "tenantId");
	ref = json_object();
	if (!ref)
		return T0_ENOMEM;
	set_opt(ref, "serviceUrl", surl);
	set_opt(ref, "conversationId", conv_id);
	set_opt(ref, "tenantId", tenant);
	set_opt(ref, "conversationType", ctype);
	set_opt(ref, "botId", jstr(rcpt, "id"));
	set_opt(ref, "botName", jstr(rcpt, "name"));
	set_opt(ref, "teamId", jstr(json_object_get(cd, "team"), "id"));
	set_opt(ref, "teamName", jstr(json_object_get(cd, "team"), "name"));
	if (jstr(json_object_get(cd, "channel"), "id") &&
	    !strcmp(conv_id, jstr(json_object_get(cd, "channel"), "id")))
		set_opt(ref, "channelName", jstr(json_object_get(cd, "channel"), "name"));
	rc = ref_put(t, conv_id, ref);
	/* A personal chat can also be found by the person: "user:<aadObjectId>". */
	if (rc == T0_OK && ctype && !strcmp(ctype, "personal")) {
		const char *aad = jstr(json_object_get(act, "from"), "aadObjectId");
		char ukey[TEAMS_MAX_ID];

		if (aad && strlen(aad) < 200) {
			snprintf(ukey, sizeof(ukey), "user:%s", aad);
			rc = ref_put(t, ukey, ref);
		}
	}
	json_decref(ref);
	return rc;
}

void teams_ref_mark_stale(struct teams *t, const char *conv_id, long status)
{
	char base[TEAMS_MAX_ID], thread[64];
	int rc;

	teams_conv_split(conv_id, base, sizeof(base), thread, sizeof(thread));
	rc = store_conv_ref_set_stale(t->bot->store, TEAMS_PLATFORM, base, 1, t0_now_ms());
	log_warn("teams", "conversation_gone",
		 "conversation=%s status=%ld reference=%s reason=%s", base, status,
		 rc == T0_OK ? "marked_stale" : "none",
		 status == 403 ? "the bot is no longer in this conversation (removed or uninstalled)"
			       : "the conversation no longer exists");
	metrics_counter_add("tier0_teams_conversations_gone_total", NULL, 1);
}

/* ---- posting ---- */

struct post_ctx {
	struct teams *t;
	adapter_sent_cb cb;
	void *arg;
	int op;
	char conv[TEAMS_MAX_ID];
};

static void on_posted(void *arg, int rc, long status, const char *id)
{
	struct post_ctx *pc = arg;

	if (rc != T0_OK) {
		log_warn("teams", "post_failed", "op=%s conversation=%.120s status=%ld rc=%s",
			 teams_op_name(pc->op), pc->conv, status, t0_rc_str(rc));
		/* 404 on an update is a deleted message, not a lost conversation. */
		if (status == 403 || (status == 404 && pc->op != TEAMS_OP_UPDATE))
			teams_ref_mark_stale(pc->t, pc->conv, status);
	}
	if (pc->cb)
		pc->cb(pc->arg, rc, rc == T0_OK ? id : NULL);
	free(pc);
}

int teams_post(struct teams *t, int op, const char *service_url, const char *conv,
	       const char *activity_id, json_t *body, const char *summary, int coalesce,
	       adapter_sent_cb cb, void *arg)
{
	struct teams_msg m = { .op = op, .service_url = service_url, .conversation = conv,
			       .activity_id = activity_id, .summary = summary,
			       .coalesce = coalesce };
	struct post_ctx *pc = NULL;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int rc = T0_ENOMEM;

	json_decref(body);
	if (!conv || !service_url || strlen(conv) >= TEAMS_MAX_ID) {
		rc = T0_EINVAL;
		goto fail;
	}
	if (!text)
		goto fail;
	pc = calloc(1, sizeof(*pc));
	if (!pc)
		goto fail;
	pc->t = t;
	pc->cb = cb;
	pc->arg = arg;
	pc->op = op;
	snprintf(pc->conv, sizeof(pc->conv), "%s", conv);
	m.body = text;
	rc = teams_queue_push(t->queue, &m, on_posted, pc);
	if (rc != T0_OK)
		goto fail;
	free(text);
	return T0_OK;
fail:
	if (rc == T0_ERATELIMIT)
		log_warn("teams", "queue_full", "conversation=%.120s", conv);
	free(pc);
	free(text);
	if (cb)
		cb(arg, rc, NULL);
	return rc;
}

/* The stored reference for a channel given by the core: a conversation id or "user:<aad>". */
static int ref_load(struct teams *t, const char *key, json_t **ref)
{
	char *text = NULL;
	int stale = 0, rc;

	*ref = NULL;
	rc = store_conv_ref_get(t->bot->store, TEAMS_PLATFORM, key, &text, &stale, NULL);
	if (rc == T0_ENOTFOUND) {
		log_warn("teams", "no_conversation_ref",
			 "conversation=%.120s reason=%s", key,
			 "the bot has not been added to this conversation yet (install the app there)");
		return T0_ENOTFOUND;
	}
	if (rc != T0_OK)
		return rc;
	if (stale) {
		free(text);
		log_warn("teams", "conversation_stale", "conversation=%.120s reason=%s", key,
			 "the bot was removed from this conversation");
		return T0_ENOTFOUND;
	}
	*ref = json_loads(text, 0, NULL);
	free(text);
	return *ref && jstr(*ref, "serviceUrl") && jstr(*ref, "conversationId") ? T0_OK : T0_EPARSE;
}

static int post_reply(struct teams *t, const struct reply_target *to, const char *message_ref,
		      const struct reply *r, adapter_sent_cb cb, void *arg)
{
	json_t *ref = NULL, *act, *from, *conv;
	char full[TEAMS_MAX_ID + 80];
	const char *cid, *ctype, *tenant;
	int op, rc, trimmed = 0;

	if (!to || !to->channel || !r) {
		rc = T0_EINVAL;
		goto fail;
	}
	rc = ref_load(t, to->channel, &ref);
	if (rc != T0_OK)
		goto fail;
	act = teams_activity_build(r, t->max_card_bytes, &trimmed);
	if (!act) {
		rc = T0_ETOOBIG;
		goto fail;
	}
	cid = jstr(ref, "conversationId");
	ctype = jstr(ref, "conversationType");
	tenant = jstr(ref, "tenantId");
	/* A channel thread is its own conversation: "<channel>;messageid=<root>". */
	if (to->thread && *to->thread && ctype && !strcmp(ctype, "channel"))
		snprintf(full, sizeof(full), "%s;messageid=%s", cid, to->thread);
	else
		snprintf(full, sizeof(full), "%s", cid);
	from = json_pack("{s:s}", "id", jstr(ref, "botId") ? jstr(ref, "botId") : t->bot_id);
	conv = json_pack("{s:s}", "id", full);
	json_object_set_new(act, "from", from);
	json_object_set_new(act, "conversation", conv);
	if (tenant)
		json_object_set_new(act, "channelData",
				    json_pack("{s:{s:s}}", "tenant", "id", tenant));
	if (message_ref) {
		op = TEAMS_OP_UPDATE;
		json_object_set_new(act, "id", json_string(message_ref));
	} else if (to->thread && *to->thread) {
		op = TEAMS_OP_REPLY;
		json_object_set_new(act, "replyToId", json_string(to->thread));
	} else {
		op = TEAMS_OP_SEND;
	}
	rc = teams_post(t, op, jstr(ref, "serviceUrl"), full,
			op == TEAMS_OP_UPDATE ? message_ref : op == TEAMS_OP_REPLY ? to->thread : NULL,
			act, r->text, op == TEAMS_OP_SEND, cb, arg);
	json_decref(ref);
	return rc;
fail:
	json_decref(ref);
	if (cb)
		cb(arg, rc, NULL);
	return rc;
}

static int teams_send(void *state, const struct reply_target *to, const struct reply *r,
		      adapter_sent_cb cb, void *arg)
{
	return post_reply(state, to, NULL, r, cb, arg);
}

static int teams_update(void *state, const struct reply_target *to, const char *message_ref,
			const struct reply *r, adapter_sent_cb cb, void *arg)
{
	if (!message_ref || !*message_ref) {
		if (cb)
			cb(arg, T0_EINVAL, NULL);
		return T0_EINVAL;
	}
	return post_reply(state, to, message_ref, r, cb, arg);
}

const struct adapter_ops teams_ops = {
	.name = "teams",
	.kind = ADAPTER_CHAT,
	.configured = teams_configured,
	.init = teams_init,
	.start = teams_start,
	.stop = teams_stop,
	.free = teams_free,
	.ready = teams_ready,
	.send = teams_send,
	.update = teams_update,
};
