#include "tests/fakes/slack_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/chat/slack/slack.h"
#include "bot/bot.h"
#include "bot/config.h"
#include "bot/http_server.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"
#include "tests/fakes/fake_slack.h"

char *slack_h_fixture(const char *dir, const char *rel)
{
	char path[1024];
	FILE *fp;
	long n;
	char *buf;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(fp);
	return buf;
}

int slack_h_init(struct slack_h *h, const char *slack_yaml, int http_mode)
{
	struct config *cfg = NULL;
	struct bot_world *w = NULL;
	struct adapter_ctx ctx;
	char yaml[8192];

	memset(h, 0, sizeof(*h));
	h->l = loop_new(h->err, sizeof(h->err));
	if (!h->l)
		return -1;
	uv_timer_init(loop_uv(h->l), &h->guard);
	uv_timer_init(loop_uv(h->l), &h->poll);
	h->guard.data = h->poll.data = h;
	h->fs = fake_slack_new(h->l);
	if (!h->fs) {
		snprintf(h->err, sizeof(h->err), "fake_slack_new failed");
		return -1;
	}
	snprintf(yaml, sizeof(yaml),
		 "log:\n  level: error\n"
		 "store:\n  path: \":memory:\"\n"
		 "http:\n  enabled: false\n"
		 "catalog:\n  files: [config/demo/catalog/*.yaml]\n"
		 "runbooks:\n  paths: [config/demo/runbooks]\n"
		 "slack:\n"
		 "  app_token: xapp-1-test\n"
		 "  bot_token: xoxb-test-token\n"
		 "  signing_secret: 8f742231b10e8888abcd99yyyzzz85a5\n"
		 "  mode: %s\n"
		 "  api_url: \"%s\"\n"
		 "%s",
		 http_mode ? "http" : "socket", fake_slack_api_url(h->fs), slack_yaml ? slack_yaml : "");
	if (config_load_buffer("slack-test.yaml", yaml, strlen(yaml), &cfg, h->err,
			       sizeof(h->err)) != T0_OK)
		return -1;
	if (bot_world_build(cfg, &w, h->err, sizeof(h->err)) != T0_OK)
		return -1;
	if (bot_new(w, &h->bot, h->err, sizeof(h->err)) != T0_OK) {
		bot_world_free(w);
		return -1;
	}
	h->bot->loop = h->l;
	if (http_mode) {
		h->http = http_server_new(h->l, "127.0.0.1", 0, 1u << 20, h->err, sizeof(h->err));
		if (!h->http)
			return -1;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.bot = h->bot;
	ctx.loop = h->l;
	ctx.uv = loop_uv(h->l);
	ctx.http = h->http;
	if (slack_ops.init(&ctx, &h->state) != T0_OK) {
		snprintf(h->err, sizeof(h->err), "slack init failed");
		return -1;
	}
	bot_chat_register(h->bot, &slack_ops, h->state);
	return 0;
}

int slack_h_start(struct slack_h *h)
{
	int rc = slack_ops.start(h->state);

	h->started = rc == T0_OK;
	return rc;
}

static void on_guard(uv_timer_t *t)
{
	struct slack_h *h = t->data;

	loop_stop(h->l);
}

static void on_poll(uv_timer_t *t)
{
	struct slack_h *h = t->data;

	if (h->pred && h->pred(h->pred_arg)) {
		h->met = 1;
		loop_stop(h->l);
	}
}

int slack_h_run_until(struct slack_h *h, int (*pred)(void *), void *arg, int ms)
{
	h->pred = pred;
	h->pred_arg = arg;
	h->met = pred && pred(arg);
	if (h->met)
		return 1;
	uv_timer_start(&h->guard, on_guard, (uint64_t)ms, 0);
	if (pred)
		uv_timer_start(&h->poll, on_poll, 2, 2);
	loop_run(h->l);
	uv_timer_stop(&h->guard);
	uv_timer_stop(&h->poll);
	h->pred = NULL;
	return h->met;
}

void slack_h_run_for(struct slack_h *h, int ms)
{
	slack_h_run_until(h, NULL, NULL, ms);
}

void slack_h_free(struct slack_h *h)
{
	if (h->state && h->started)
		slack_ops.stop(h->state);
	if (h->l) {
		uv_close((uv_handle_t *)&h->guard, NULL);
		uv_close((uv_handle_t *)&h->poll, NULL);
	}
	if (h->http)
		http_server_free(h->http);
	loop_free(h->l);
	if (h->bot)
		bot_chat_unregister_all(h->bot);
	if (h->state)
		slack_ops.free(h->state);
	fake_slack_free(h->fs);
	bot_free(h->bot);
	metrics_reset();
	memset(h, 0, sizeof(*h));
}
