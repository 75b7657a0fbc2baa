/*
 * The process: loads the configuration, builds the world, opens the store,
 * runs one loop carrying the HTTP server and the chat adapters, and shuts
 * down gracefully on SIGTERM/SIGINT (or when the console's input ends).
 */
#include "bot/app.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <uv.h>

#include "adapters/chat/console.h"
#include "bot/adapter.h"
#include "bot/bot.h"
#include "bot/config.h"
#include "bot/http_server.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"

#define APP_MAX_ADAPTERS 8
#define DRAIN_POLL_MS 20

struct app_adapter {
	const struct adapter_ops *ops;
	void *state;
	int started;
};

struct app {
	struct bot *bot;
	struct t0_loop *loop;
	struct http_server *http;
	struct app_adapter adapters[APP_MAX_ADAPTERS];
	size_t nadapters;
	int stopping;
	uv_timer_t drain;
	int drain_started;
	uint64_t drain_deadline_ns;
};

static void respond(struct http_response *resp, int status, const char *type, const char *body,
		    size_t len)
{
	http_response_status(resp, status);
	http_response_body(resp, type, body, len);
}

static void route_healthz(const struct http_request *req, struct http_response *resp, void *arg)
{
	respond(resp, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

static void route_readyz(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct app *a = arg;
	char body[512];
	size_t pos = 0;
	int ready = !a->stopping;

	body[0] = '\0';
	for (size_t i = 0; i < a->nadapters; i++) {
		const struct app_adapter *ad = &a->adapters[i];
		int ok = ad->started && (!ad->ops->ready || ad->ops->ready(ad->state));
		int w = snprintf(body + pos, sizeof(body) - pos, "%s: %s\n", ad->ops->name,
				 ok ? "connected" : "not connected");

		if (w > 0 && (size_t)w < sizeof(body) - pos)
			pos += (size_t)w;
		ready &= ok;
	}
	if (a->stopping) {
		int w = snprintf(body + pos, sizeof(body) - pos, "shutting down\n");

		if (w > 0 && (size_t)w < sizeof(body) - pos)
			pos += (size_t)w;
	}
	if (ready && !pos)
		pos = (size_t)snprintf(body, sizeof(body), "ready\n");
	respond(resp, ready ? 200 : 503, "text/plain; charset=utf-8", body, pos);
}

/* The token is read from the current configuration, so a reload can rotate it. */
static void route_metrics(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct app *a = arg;
	const char *token = json_string_value(
		json_object_get(json_object_get(a->bot->world->cfg->tree, "http"), "metrics_token"));
	char *body = NULL;
	size_t len = 0;

	if (token && *token) {
		const char *auth = http_request_header(req, "authorization");
		size_t tlen = strlen(token);

		if (!auth || strncmp(auth, "Bearer ", 7) != 0 || strlen(auth + 7) != tlen ||
		    CRYPTO_memcmp(auth + 7, token, tlen) != 0) {
			metrics_counter_add("tier0_metrics_unauthorized_total", NULL, 1);
			respond(resp, 401, "text/plain; charset=utf-8", "unauthorized\n", 13);
			return;
		}
	}
	if (metrics_render(&body, &len) != T0_OK) {
		respond(resp, 500, "text/plain; charset=utf-8", "metrics failed\n", 15);
		return;
	}
	respond(resp, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
	free(body);
}

static void drain_check(uv_timer_t *t)
{
	struct app *a = t->data;
	size_t inflight = loop_inflight(a->loop) + a->bot->pending;

	if (inflight == 0 || t0_mono_ns() >= a->drain_deadline_ns) {
		if (inflight)
			log_warn("app", "drain_deadline", "abandoned=%zu", inflight);
		uv_timer_stop(t);
		uv_close((uv_handle_t *)t, NULL);
		loop_stop(a->loop);
	}
}

/* Stop taking work, let in-flight requests finish up to the grace period, then stop the loop. */
static void app_begin_stop(struct app *a, const char *why)
{
	int grace = a->bot->world->cfg->shutdown_grace_ms;

	if (a->stopping)
		return;
	a->stopping = 1;
	log_info("app", "stopping", "reason=%s grace_ms=%d inflight=%zu", why, grace,
		 loop_inflight(a->loop));
	for (size_t i = 0; i < a->nadapters; i++)
		if (a->adapters[i].started && a->adapters[i].ops->stop)
			a->adapters[i].ops->stop(a->adapters[i].state);
	/* No new connections; the listener goes away on the next loop turns. */
	http_server_free(a->http);
	a->http = NULL;
	a->drain_deadline_ns = t0_mono_ns() + (uint64_t)grace * 1000000u;
	uv_timer_init(loop_uv(a->loop), &a->drain);
	a->drain.data = a;
	a->drain_started = 1;
	uv_timer_start(&a->drain, drain_check, 0, DRAIN_POLL_MS);
}

static void request_stop(void *arg)
{
	app_begin_stop(arg, "input_closed");
}

static void on_signal(struct t0_loop *l, int signum, void *arg)
{
	struct app *a = arg;
	char err[1024];

	if (signum == SIGHUP) {
		if (bot_reload(a->bot, err, sizeof(err)) == T0_OK) {
			log_info("app", "reloaded", "config=%s", a->bot->world->cfg->file);
			metrics_counter_add("tier0_config_reloads_total", "result=\"ok\"", 1);
		} else {
			log_err("app", "reload_failed", "error=%s", err);
			metrics_counter_add("tier0_config_reloads_total", "result=\"error\"", 1);
		}
		return;
	}
	app_begin_stop(a, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static int add_adapter(struct app *a, const struct adapter_ops *ops)
{
	struct adapter_ctx ctx = {
		.bot = a->bot,
		.loop = a->loop,
		.uv = loop_uv(a->loop),
		.http = a->http,
		.request_stop = request_stop,
		.request_stop_arg = a,
	};
	struct app_adapter *ad = &a->adapters[a->nadapters];
	int rc;

	if (a->nadapters >= APP_MAX_ADAPTERS)
		return T0_ETOOBIG;
	rc = ops->init(&ctx, &ad->state);
	if (rc != T0_OK) {
		log_err("app", "adapter_init_failed", "adapter=%s rc=%s", ops->name, t0_rc_str(rc));
		return rc;
	}
	ad->ops = ops;
	a->nadapters++;
	if (ops->kind == ADAPTER_CHAT)
		return bot_chat_register(a->bot, ops, ad->state);
	return T0_OK;
}

static int start_http(struct app *a, char *err, size_t errlen)
{
	const struct config *cfg = a->bot->world->cfg;

	a->http = http_server_new(a->loop, cfg->http_host, cfg->http_port, cfg->http_max_body, err,
				  errlen);
	if (!a->http)
		return T0_EIO;
	http_server_route(a->http, "GET", "/healthz", route_healthz, a);
	http_server_route(a->http, "GET", "/readyz", route_readyz, a);
	http_server_route(a->http, "GET", "/metrics", route_metrics, a);
	log_info("app", "listening", "addr=%s port=%d", cfg->http_host, http_server_port(a->http));
	return T0_OK;
}

int app_main(const struct app_opts *o)
{
	struct app a;
	struct config *cfg = NULL;
	struct bot_world *w = NULL;
	char err[1024];
	int status = T0_EXIT_RUNTIME, rc;

	memset(&a, 0, sizeof(a));
	rc = config_load(o->config, &cfg, err, sizeof(err));
	if (rc != T0_OK) {
		fprintf(stderr, "tier0: %s\n", err);
		return T0_EXIT_USAGE;
	}
	if (!o->verbose)
		log_set_level(cfg->log_level);
	if (o->db) {
		char *p = strdup(o->db);

		if (!p) {
			config_free(cfg);
			return T0_EXIT_RUNTIME;
		}
		free(cfg->store_path);
		cfg->store_path = p;
	}
	rc = bot_world_build(cfg, &w, err, sizeof(err));
	if (rc != T0_OK) {
		fprintf(stderr, "tier0: %s\n", err);
		return T0_EXIT_USAGE;
	}
	rc = bot_new(w, &a.bot, err, sizeof(err));
	if (rc != T0_OK) {
		fprintf(stderr, "tier0: %s\n", err);
		bot_world_free(w);
		return T0_EXIT_RUNTIME;
	}
	a.loop = loop_new(err, sizeof(err));
	if (!a.loop) {
		fprintf(stderr, "tier0: %s\n", err);
		goto out;
	}
	loop_on_signal(a.loop, SIGTERM, on_signal, &a);
	loop_on_signal(a.loop, SIGINT, on_signal, &a);
	loop_on_signal(a.loop, SIGHUP, on_signal, &a);

	if (o->mode == APP_RUN && a.bot->world->cfg->http_enabled &&
	    start_http(&a, err, sizeof(err)) != T0_OK) {
		fprintf(stderr, "tier0: %s\n", err);
		goto out;
	}
	bot_attach_loop(a.bot, a.loop, o->mode == APP_RUN);
	if (o->mode != APP_RUN && add_adapter(&a, &console_ops) != T0_OK)
		goto out;
	/*
	 * Every adapter whose section the configuration has. In `console` and
	 * `demo` the terminal is the only chat: other chat adapters stay off, while
	 * sources (incidents, deployments, LLM providers) still run.
	 */
	for (size_t i = 0; adapter_registry[i]; i++) {
		const struct adapter_ops *ops = adapter_registry[i];

		if (ops == &console_ops || !ops->configured || !ops->configured(a.bot->world->cfg))
			continue;
		if (o->mode != APP_RUN && ops->kind == ADAPTER_CHAT)
			continue;
		rc = add_adapter(&a, ops);
		if (rc != T0_OK) {
			status = rc == T0_ECONFIG ? T0_EXIT_USAGE : T0_EXIT_RUNTIME;
			goto out;
		}
	}
	for (size_t i = 0; i < a.nadapters; i++) {
		rc = a.adapters[i].ops->start ? a.adapters[i].ops->start(a.adapters[i].state) : T0_OK;
		if (rc != T0_OK) {
			fprintf(stderr, "tier0: adapter %s failed to start: %s\n",
				a.adapters[i].ops->name, t0_rc_str(rc));
			/* A configuration the platform refuses (bad token) is the operator's to fix. */
			status = rc == T0_ECONFIG ? T0_EXIT_USAGE : T0_EXIT_RUNTIME;
			goto out;
		}
		a.adapters[i].started = 1;
	}
	log_info("app", "started", "mode=%s config=%s store=%s",
		 o->mode == APP_RUN ? "run" : o->mode == APP_DEMO ? "demo" : "console",
		 a.bot->world->cfg->file, a.bot->world->cfg->store_path);
	rc = loop_run(a.loop);
	status = rc == T0_OK ? T0_EXIT_OK : T0_EXIT_RUNTIME;
	log_info("app", "stopped", "status=%d events=%llu", status,
		 (unsigned long long)a.bot->events_handled);
out:
	for (size_t i = 0; i < a.nadapters; i++)
		if (a.adapters[i].started && a.adapters[i].ops->stop)
			a.adapters[i].ops->stop(a.adapters[i].state);
	/*
	 * The loop goes first: it fails outstanding requests (their answers still
	 * reach live adapters) and runs until every handle has closed.
	 */
	bot_detach_loop(a.bot);
	loop_free(a.loop);
	bot_chat_unregister_all(a.bot);
	for (size_t i = 0; i < a.nadapters; i++)
		a.adapters[i].ops->free(a.adapters[i].state);
	http_server_free(a.http);
	bot_free(a.bot);
	metrics_reset();
	return status;
}
