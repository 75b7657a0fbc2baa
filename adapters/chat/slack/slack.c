/*
 * The Slack adapter's ops: settings from the slack section, start-up
 * (auth.test, and in Socket Mode the first apps.connections.open, both
 * answered before the daemon goes on, so a refused token stops `tier0 run`
 * with exit status 2), stop, readiness, gauges, and the check-config hook.
 */
#include "adapters/chat/slack/slack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "adapters/chat/slack/slack_int.h"
#include "bot/bot.h"
#include "bot/config.h"
#include "bot/http_client.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"
#include "intents/intent.h"

#define START_DEADLINE_MS 20000
#define TICK_US (1000LL * 1000)

const char *slack_required_scopes(const struct config *cfg)
{
	const json_t *ch = json_object_get(cfg ? cfg->slack : NULL, "channels");

	if (json_array_size(ch) > 0)
		return "app_mentions:read channels:history channels:read chat:write commands "
		       "im:history users:read users:read.email";
	return "app_mentions:read channels:read chat:write commands im:history users:read "
	       "users:read.email";
}

/* ---- settings ---- */

static char *str_or_null(const json_t *sec, const char *key)
{
	const char *v = json_string_value(json_object_get(sec, key));

	return v ? strdup(v) : NULL;
}

static int int_of(const json_t *sec, const char *key, int def)
{
	const json_t *v = json_object_get(sec, key);

	return json_is_integer(v) ? (int)json_integer_value(v) : def;
}

int slack_settings_load(struct slack_settings *set, const json_t *sec)
{
	const json_t *pacing = json_object_get(sec, "pacing"), *ch = json_object_get(sec, "channels");
	const char *mode = json_string_value(json_object_get(sec, "mode"));
	const json_t *cmds = json_object_get(sec, "slash_commands");
	size_t i;
	json_t *v;

	memset(set, 0, sizeof(*set));
	set->app_token = str_or_null(sec, "app_token");
	set->bot_token = str_or_null(sec, "bot_token");
	set->signing_secret = str_or_null(sec, "signing_secret");
	set->mode = mode && strcmp(mode, "http") == 0 ? SLACK_MODE_HTTP : SLACK_MODE_SOCKET;
	set->api_url = str_or_null(sec, "api_url");
	if (!set->api_url)
		set->api_url = strdup("https://slack.com/api/");
	set->connections = int_of(sec, "connections", 1);
	if (set->connections < 1 || set->connections > SLACK_MAX_CONNECTIONS)
		set->connections = 1;
	set->slash_commands = json_is_object(cmds) ? json_deep_copy(cmds) : json_object();
	set->channels = calloc(json_array_size(ch) + 1, sizeof(char *));
	if (!set->channels || !set->api_url || !set->slash_commands)
		return T0_ENOMEM;
	json_array_foreach(ch, i, v) {
		const char *c = json_string_value(v);

		if (!c)
			continue;
		if (c[0] == '#')
			c++;
		if (!(set->channels[set->nchannels] = strdup(c)))
			return T0_ENOMEM;
		set->nchannels++;
	}
	set->pacing = pacing ? json_is_true(json_object_get(pacing, "enabled")) : 1;
	set->rate = int_of(pacing, "messages_per_second", 1);
	set->burst = int_of(pacing, "burst", 3);
	set->coalesce_after = int_of(pacing, "coalesce_after", 10);
	set->users_ttl_ms = (int64_t)int_of(sec, "users_cache_ttl_s", 3600) * 1000;
	set->ping_s = int_of(sec, "ping_interval_s", 10);
	set->pong_s = int_of(sec, "pong_timeout_s", 10);
	set->reconnect_min_ms = int_of(sec, "reconnect_min_ms", 1000);
	set->reconnect_max_ms = int_of(sec, "reconnect_max_ms", 60000);
	if (set->rate < 1)
		set->rate = 1;
	if (set->burst < 1)
		set->burst = 1;
	return T0_OK;
}

static void wipe(char *s)
{
	if (s)
		memset(s, 0, strlen(s));
	free(s);
}

void slack_settings_clear(struct slack_settings *set)
{
	wipe(set->app_token);
	wipe(set->bot_token);
	wipe(set->signing_secret);
	free(set->api_url);
	json_decref(set->slash_commands);
	for (size_t i = 0; i < set->nchannels; i++)
		free(set->channels[i]);
	free(set->channels);
	memset(set, 0, sizeof(*set));
}

/* ---- helpers shared by the adapter's files ---- */

void slack_sul(struct slack *s, lws_sorted_usec_list_t *sul, sul_cb_t fn, int64_t us)
{
	if (s->stopping)
		return;
	lws_sul_schedule(loop_lws(s->ctx.loop), 0, sul, fn, us < 1 ? 1 : us);
}

void slack_commands_sync(struct slack *s)
{
	struct bot_world *w = s->ctx.bot ? s->ctx.bot->world : NULL;
	json_t *merged;

	if (!w || w == s->commands_world)
		return;
	s->commands_world = w;
	if (json_object_size(s->set.slash_commands) == 0)
		return;
	/* intents.commands, then slack.slash_commands over them: Slack's names are its own */
	merged = json_is_object(w->cfg->command_aliases) ? json_deep_copy(w->cfg->command_aliases)
							 : json_object();
	if (!merged)
		return;
	json_object_update(merged, s->set.slash_commands);
	if (intent_engine_set_commands(w->intents, merged) != T0_OK)
		log_err("slack", "slash_commands_rejected", "hint=%s",
			"see the intent log line before this one");
	json_decref(merged);
}

void slack_gauges(struct slack *s)
{
	int64_t now = t0_now_ms(), last = s->last_event_ms;

	metrics_gauge_set("tier0_slack_last_event_age_seconds", NULL,
			  last ? (double)(now - last) / 1000.0 : -1.0);
	metrics_gauge_set("tier0_slack_outbound_queue_depth", NULL, (double)slack_queue_depth(s->q));
	metrics_gauge_set("tier0_slack_connections_open", NULL, slack_open_connections(s));
	metrics_gauge_set("tier0_slack_users_cached", NULL, (double)slack_cache_size(s->users));
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
	struct slack *s = lws_container_of(sul, struct slack, sul_tick);

	slack_gauges(s);
	slack_sul(s, &s->sul_tick, on_tick, TICK_US);
}

/* ---- a Web API call answered before going on (start-up and check-config only) ---- */

struct sync_call {
	int done;
	int rc;
	char error[64];
	char scopes[2048];
	json_t *body;
};

static void on_sync(void *arg, const struct slack_api_result *res)
{
	struct sync_call *sc = arg;
	const char *scopes = res->resp ? http_resp_header(res->resp, "x-oauth-scopes") : NULL;

	sc->done = 1;
	sc->rc = res->rc;
	snprintf(sc->error, sizeof(sc->error), "%s", res->error ? res->error : "");
	snprintf(sc->scopes, sizeof(sc->scopes), "%s", scopes ? scopes : "");
	sc->body = res->body ? json_deep_copy(res->body) : NULL;
}

/*
 * Runs the loop until the answer is in. Only before loop_run has started
 * (adapter start, check-config): the loop serves everything else meanwhile.
 */
static int call_sync(struct slack_api *api, const char *method, const char *token,
		     struct sync_call *sc)
{
	int rc = slack_api_call(api, method, token, NULL, 0, on_sync, sc);

	if (rc != T0_OK) {
		sc->rc = rc;
		snprintf(sc->error, sizeof(sc->error), "%s", t0_rc_str(rc));
		return rc;
	}
	while (!sc->done)
		uv_run(loop_uv(api->loop), UV_RUN_ONCE);
	return sc->rc;
}

/* ---- ops ---- */

static int slack_configured(const struct config *cfg)
{
	return cfg && cfg->slack_enabled;
}

static void slack_free_state(void *state);

static int slack_init(const struct adapter_ctx *ctx, void **state)
{
	struct slack *s = calloc(1, sizeof(*s));
	int rc;

	*state = NULL;
	if (!s)
		return T0_ENOMEM;
	s->ctx = *ctx;
	rc = slack_settings_load(&s->set, ctx->bot->world->cfg->slack);
	if (rc != T0_OK)
		goto fail;
	s->api.loop = ctx->loop;
	s->api.base = s->set.api_url;
	s->users = slack_cache_new(&s->api, (const char **)&s->set.bot_token, "users.info", "user",
				   "user", s->set.users_ttl_ms);
	s->chans = slack_cache_new(&s->api, (const char **)&s->set.bot_token, "conversations.info",
				   "channel", "channel", s->set.users_ttl_ms);
	s->q = slack_queue_new(s);
	if (!s->users || !s->chans || !s->q) {
		rc = T0_ENOMEM;
		goto fail;
	}
	if (s->set.mode == SLACK_MODE_HTTP && !ctx->http) {
		log_err("slack", "config", "error=%s", "slack.mode http needs the HTTP server (http.enabled: true)");
		rc = T0_ECONFIG;
		goto fail;
	}
	*state = s;
	return T0_OK;
fail:
	slack_free_state(s);
	return rc;
}

static int slack_start(void *state)
{
	struct slack *s = state;
	struct sync_call auth = { 0 }, open = { 0 };
	int rc = T0_OK;
	char mention[80];
	const char *uid;

	call_sync(&s->api, "auth.test", s->set.bot_token, &auth);
	if (auth.rc != T0_OK) {
		if (slack_api_fatal_error(auth.error)) {
			log_err("slack", "auth_failed",
				"method=auth.test error=%s hint=slack.bot_token is wrong, revoked or "
				"from another app (it starts with xoxb-)",
				auth.error);
			rc = T0_ECONFIG;
		} else {
			log_err("slack", "auth_failed", "method=auth.test error=%s hint=cannot reach %s",
				auth.error, s->set.api_url);
			rc = auth.rc == T0_OK ? T0_EHTTP : auth.rc;
		}
		goto out;
	}
	uid = json_string_value(json_object_get(auth.body, "user_id"));
	s->bot_user_id = uid ? strdup(uid) : NULL;
	s->bot_id = json_string_value(json_object_get(auth.body, "bot_id"))
			    ? strdup(json_string_value(json_object_get(auth.body, "bot_id")))
			    : NULL;
	s->team_id = json_string_value(json_object_get(auth.body, "team_id"))
			     ? strdup(json_string_value(json_object_get(auth.body, "team_id")))
			     : NULL;
	if (uid) {
		snprintf(mention, sizeof(mention), "<@%s>", uid);
		s->mention = strdup(mention);
	}
	log_info("slack", "authenticated", "team=%s bot_user=%s bot_id=%s mode=%s",
		 s->team_id ? s->team_id : "", uid ? uid : "", s->bot_id ? s->bot_id : "",
		 s->set.mode == SLACK_MODE_HTTP ? "http" : "socket");
	slack_commands_sync(s);
	if (s->set.mode == SLACK_MODE_HTTP) {
		rc = slack_http_start(s);
		if (rc != T0_OK)
			goto out;
	} else {
		/* the first connection's URL now: a refused app token stops start-up too */
		call_sync(&s->api, "apps.connections.open", s->set.app_token, &open);
		if (open.rc != T0_OK && slack_api_fatal_error(open.error)) {
			log_err("slack", "auth_failed",
				"method=apps.connections.open error=%s hint=slack.app_token must be an "
				"app-level token (xapp-) with connections:write",
				open.error);
			rc = T0_ECONFIG;
			goto out;
		}
		if (open.rc != T0_OK)
			log_warn("slack", "connections_open_failed", "error=%s hint=retrying with backoff",
				 open.error);
		rc = slack_socket_start(s, open.rc == T0_OK ? open.body : NULL);
		if (rc != T0_OK)
			goto out;
	}
	s->started = 1;
	slack_sul(s, &s->sul_tick, on_tick, TICK_US);
	slack_gauges(s);
out:
	json_decref(auth.body);
	json_decref(open.body);
	return rc;
}

static void slack_stop(void *state)
{
	struct slack *s = state;

	if (!s || s->stopping)
		return;
	if (s->set.mode == SLACK_MODE_SOCKET)
		slack_socket_stop(s);
	slack_queue_stop(s->q);
	lws_sul_cancel(&s->sul_work);
	lws_sul_cancel(&s->sul_tick);
	lws_sul_cancel(&s->sul_reap);
	s->work_scheduled = 0;
	s->stopping = 1;
	log_info("slack", "stopped", "envelopes=%llu acks=%llu dispatched=%llu ignored=%llu",
		 (unsigned long long)s->envelopes, (unsigned long long)s->acks,
		 (unsigned long long)s->events_dispatched, (unsigned long long)s->ignored);
}

static void slack_free_state(void *state)
{
	struct slack *s = state;

	if (!s)
		return;
	slack_stop(s);
	slack_events_free(s);
	slack_socket_free(s);
	slack_queue_free(s->q);
	slack_cache_free(s->users);
	slack_cache_free(s->chans);
	slack_settings_clear(&s->set);
	free(s->bot_user_id);
	free(s->bot_id);
	free(s->team_id);
	free(s->mention);
	free(s);
}

static int slack_ready(void *state)
{
	struct slack *s = state;

	if (!s->started || s->fatal)
		return 0;
	return s->set.mode == SLACK_MODE_HTTP ? 1 : slack_socket_ready(s);
}

const struct adapter_ops slack_ops = {
	.name = SLACK_PLATFORM,
	.kind = ADAPTER_CHAT,
	.configured = slack_configured,
	.init = slack_init,
	.start = slack_start,
	.stop = slack_stop,
	.free = slack_free_state,
	.ready = slack_ready,
	.send = slack_send,
	.update = slack_update,
};

/* ---- check-config ---- */

static int has_scope(const char *list, const char *scope)
{
	size_t n = strlen(scope);

	for (const char *p = list; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (strncmp(p, scope, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return 1;
		while (*p && *p != ',' && *p != ' ')
			p++;
	}
	return 0;
}

int slack_check_scopes(struct t0_loop *l, const struct config *cfg, char *msg, size_t msglen)
{
	const char *bot = json_string_value(json_object_get(cfg->slack, "bot_token"));
	const char *url = json_string_value(json_object_get(cfg->slack, "api_url"));
	struct slack_api api = { .loop = l, .base = url ? url : "https://slack.com/api/" };
	struct sync_call sc = { 0 };
	char missing[512] = "", need[512];
	size_t pos = 0;
	int rc;

	snprintf(need, sizeof(need), "%s", slack_required_scopes(cfg));
	call_sync(&api, "auth.test", bot, &sc);
	if (sc.rc != T0_OK) {
		if (slack_api_fatal_error(sc.error)) {
			snprintf(msg, msglen, "slack.bot_token: Slack refused the token (%s)", sc.error);
			rc = T0_ECONFIG;
		} else {
			snprintf(msg, msglen, "slack: could not check the token with auth.test (%s)",
				 sc.error);
			rc = T0_EHTTP;
		}
		goto out;
	}
	for (char *save = NULL, *tok = strtok_r(need, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (has_scope(sc.scopes, tok))
			continue;
		pos += (size_t)snprintf(missing + pos, pos < sizeof(missing) ? sizeof(missing) - pos : 0,
					"%s%s", pos ? ", " : "", tok);
		if (pos >= sizeof(missing))
			pos = sizeof(missing) - 1;
	}
	if (missing[0]) {
		snprintf(msg, msglen,
			 "slack.bot_token: missing scope%s %s (add %s under OAuth & Permissions, "
			 "then reinstall the app; config/slack-app-manifest.yaml has them all)",
			 strchr(missing, ',') ? "s" : "", missing,
			 strchr(missing, ',') ? "them" : "it");
		rc = T0_ECONFIG;
		goto out;
	}
	snprintf(msg, msglen, "slack: token OK (team %s, bot user %s), every required scope granted",
		 json_string_value(json_object_get(sc.body, "team_id"))
			 ? json_string_value(json_object_get(sc.body, "team_id"))
			 : "?",
		 json_string_value(json_object_get(sc.body, "user_id"))
			 ? json_string_value(json_object_get(sc.body, "user_id"))
			 : "?");
	rc = T0_OK;
out:
	json_decref(sc.body);
	return rc;
}

int slack_check_config(const struct config *cfg, FILE *out)
{
	struct t0_loop *l;
	char err[256], msg[768];
	int rc;

	if (!cfg || !cfg->slack_enabled)
		return T0_EXIT_OK;
	l = loop_new(err, sizeof(err));
	if (!l) {
		fprintf(out, "tier0: slack: cannot check the token: %s\n", err);
		return T0_EXIT_OK;
	}
	rc = slack_check_scopes(l, cfg, msg, sizeof(msg));
	loop_free(l);
	fprintf(out, "tier0: %s%s\n", rc == T0_EHTTP ? "warning: " : "", msg);
	return rc == T0_ECONFIG ? T0_EXIT_USAGE : T0_EXIT_OK;
}
