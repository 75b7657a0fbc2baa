#include "tests/fakes/teams_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/chat/teams/teams.h"
#include "bot/adapter.h"
#include "bot/bot.h"
#include "bot/config.h"
#include "bot/http_client.h"
#include "bot/http_server.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/t0.h"
#include "tests/fakes/fake_botframework.h"
#include "tests/fakes/fake_http.h"

#ifndef T0_FIXTURES
#define T0_FIXTURES T0_SOURCE_DIR "/../shared/fixtures"
#endif

static void on_guard(uv_timer_t *t)
{
	struct teams_env *e = t->data;

	e->stopped_by_guard = 1;
	loop_stop(e->l);
}

struct until {
	int (*pred)(void *arg);
	void *arg;
	struct teams_env *e;
};

static void on_tick(uv_timer_t *t)
{
	struct until *u = t->data;

	if (u->pred(u->arg))
		loop_stop(u->e->l);
}

int teams_env_run_until(struct teams_env *e, int (*pred)(void *arg), void *arg, uint64_t ms)
{
	struct until u = { .pred = pred, .arg = arg, .e = e };

	if (pred(arg))
		return 1;
	e->stopped_by_guard = 0;
	e->tick.data = &u;
	uv_timer_start(&e->guard, on_guard, ms, 0);
	uv_timer_start(&e->tick, on_tick, 5, 5);
	loop_run(e->l);
	uv_timer_stop(&e->guard);
	uv_timer_stop(&e->tick);
	return pred(arg);
}

static int never(void *arg)
{
	return 0;
}

void teams_env_run_for(struct teams_env *e, uint64_t ms)
{
	teams_env_run_until(e, never, NULL, ms);
}

static int is_ready(void *arg)
{
	struct teams_env *e = arg;

	return teams_ops.ready(e->state);
}

struct teams_env *teams_env_new(const char *extra_yaml, int start)
{
	return teams_env_new_catalog("config/demo/catalog/*.yaml", extra_yaml, start);
}

struct teams_env *teams_env_new_catalog(const char *catalog_glob, const char *extra_yaml, int start)
{
	struct teams_env *e = calloc(1, sizeof(*e));
	struct config *cfg = NULL;
	struct bot_world *w = NULL;
	struct adapter_ctx ctx;
	char yaml[4096], err[1024];

	if (!e)
		return NULL;
	t0_set_fake_now_ms(TEAMS_ENV_NOW_S * 1000);
	e->l = loop_new(err, sizeof(err));
	if (!e->l)
		goto fail;
	uv_timer_init(loop_uv(e->l), &e->guard);
	uv_timer_init(loop_uv(e->l), &e->tick);
	e->guard.data = e;
	e->fb = fake_bf_new(loop_uv(e->l), T0_FIXTURES);
	if (!e->fb)
		goto fail;
	snprintf(yaml, sizeof(yaml),
		 "store: {path: \":memory:\"}\n"
		 "catalog: {files: [\"%s\"]}\n"
		 "runbooks: {paths: [config/demo/runbooks]}\n"
		 "teams:\n"
		 "  app_id: %s\n"
		 "  app_password: \"test secret & more\"\n"
		 "  openid_url: %s\n"
		 "  token_url: %s\n"
		 "%s",
		 catalog_glob, TEAMS_ENV_APP, fake_bf_openid_url(e->fb), fake_bf_token_url(e->fb),
		 extra_yaml ? extra_yaml : "");
	if (config_load_buffer("teams-test.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)) !=
	    T0_OK) {
		fprintf(stderr, "teams_env: %s\n", err);
		goto fail;
	}
	if (bot_world_build(cfg, &w, err, sizeof(err)) != T0_OK ||
	    bot_new(w, &e->bot, err, sizeof(err)) != T0_OK) {
		fprintf(stderr, "teams_env: %s\n", err);
		goto fail;
	}
	e->bot->loop = e->l;
	e->srv = http_server_new(e->l, "127.0.0.1", 0, 1 << 20, err, sizeof(err));
	if (!e->srv)
		goto fail;
	e->port = http_server_port(e->srv);
	memset(&ctx, 0, sizeof(ctx));
	ctx.bot = e->bot;
	ctx.loop = e->l;
	ctx.uv = loop_uv(e->l);
	ctx.http = e->srv;
	if (teams_ops.init(&ctx, &e->state) != T0_OK)
		goto fail;
	if (bot_chat_register(e->bot, &teams_ops, e->state) != T0_OK)
		goto fail;
	if (start) {
		teams_ops.start(e->state);
		if (!teams_env_run_until(e, is_ready, e, 5000)) {
			fprintf(stderr, "teams_env: adapter not ready\n");
			goto fail;
		}
	}
	return e;
fail:
	teams_env_free(e);
	return NULL;
}

void teams_env_free(struct teams_env *e)
{
	if (!e)
		return;
	if (e->state) {
		teams_ops.stop(e->state);
		teams_ops.free(e->state);
	}
	if (e->bot)
		bot_chat_unregister_all(e->bot);
	http_server_free(e->srv);
	fake_bf_free(e->fb);
	if (e->l) {
		uv_close((uv_handle_t *)&e->guard, NULL);
		uv_close((uv_handle_t *)&e->tick, NULL);
	}
	loop_free(e->l);
	bot_free(e->bot);
	t0_set_fake_now_ms(0);
	free(e);
}

json_t *teams_env_fixture(struct teams_env *e, const char *name)
{
	char path[1024];
	json_t *j;

	snprintf(path, sizeof(path), "%s/teams/%s", T0_FIXTURES, name);
	j = json_load_file(path, 0, NULL);
	if (j && json_object_get(j, "serviceUrl"))
		json_object_set_new(j, "serviceUrl", json_string(fake_bf_service_url(e->fb)));
	return j;
}

char *teams_env_token(struct teams_env *e, const json_t *act)
{
	struct fake_bf_claims c = {
		.aud = TEAMS_ENV_APP,
		.serviceurl = json_string_value(json_object_get(act, "serviceUrl")),
		.exp_s = TEAMS_ENV_NOW_S + 3600,
		.nbf_s = TEAMS_ENV_NOW_S - 300,
	};

	return fake_bf_sign(e->fb, &c);
}

static void on_answer(const struct http_resp *resp, void *arg)
{
	struct teams_env_result *r = arg;
	const char *ct = http_resp_header(resp, "content-type");
	size_t n = resp->body_len < sizeof(r->body) - 1 ? resp->body_len : sizeof(r->body) - 1;

	r->done = 1;
	r->rc = resp->rc;
	r->status = resp->status;
	memcpy(r->body, resp->body, n);
	r->body[n] = '\0';
	snprintf(r->ctype, sizeof(r->ctype), "%s", ct ? ct : "");
	r->elapsed_ms = resp->elapsed_ms;
	if (r->stop)
		loop_stop(r->stop);
}

void teams_env_post_async(struct teams_env *e, const json_t *act, const char *token,
			  struct teams_env_result *r)
{
	char url[128], auth[17000];
	char *body = json_dumps(act, JSON_COMPACT);
	const char *hdrs[2] = { "Content-Type: application/json", auth };
	struct http_req req = { .method = "POST", .url = url, .headers = hdrs,
				.nheaders = token ? 2 : 1, .body = body,
				.body_len = body ? strlen(body) : 0, .timeout_ms = 20000 };

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/messages", e->port);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : "");
	if (http_request(e->l, &req, on_answer, r) != T0_OK)
		r->done = -1;
	free(body);
}

static int answered(void *arg)
{
	return ((struct teams_env_result *)arg)->done != 0;
}

void teams_env_post(struct teams_env *e, const json_t *act, const char *token,
		    struct teams_env_result *r)
{
	teams_env_post_async(e, act, token, r);
	r->stop = e->l;
	teams_env_run_until(e, answered, r, 20000);
	r->stop = NULL;
}

void teams_env_connector(struct teams_env *e, const char *method, const char *conv,
			 const char *suffix, const char *activity, int status, const char *headers,
			 const char *body)
{
	char path[1024];

	fake_bf_path(path, sizeof(path), conv, suffix, activity);
	fake_http_add(fake_bf_http(e->fb), method, path, status,
		      headers ? headers : "Content-Type: application/json\r\n", body ? body : "",
		      body ? strlen(body) : 0, 0);
}
