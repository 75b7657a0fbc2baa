#define _XOPEN_SOURCE 700 /* nftw */
#include "tests/fakes/incident_env.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "adapters/context/incidents.h"
#include "bot/bot.h"
#include "bot/config.h"
#include "bot/http_client.h"
#include "bot/http_server.h"
#include "bot/incident.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"
#include "tests/fakes/fake_chat.h"

static int write_config(struct incident_env *e, const char *yaml, char *path, size_t len)
{
	FILE *fp;

	snprintf(path, len, "%s/tier0.yaml", e->dir);
	fp = fopen(path, "w");
	if (!fp)
		return T0_EIO;
	for (const char *p = yaml; *p;) {
		const char *at = strstr(p, "@DIR@");

		if (!at) {
			fputs(p, fp);
			break;
		}
		fwrite(p, 1, (size_t)(at - p), fp);
		fputs(e->dir, fp);
		p = at + 5;
	}
	fclose(fp);
	return T0_OK;
}

int incident_env_open(struct incident_env *e, const char *config_yaml, int with_http,
		      int chat_delay_ms)
{
	struct config *cfg = NULL;
	struct bot_world *w = NULL;
	char path[512];
	int rc;

	if (!e->dir[0]) {
		snprintf(e->dir, sizeof(e->dir), "/tmp/t0inc.XXXXXX");
		if (!mkdtemp(e->dir))
			return T0_EIO;
	}
	rc = write_config(e, config_yaml, path, sizeof(path));
	if (rc == T0_OK)
		rc = config_load(path, &cfg, e->err, sizeof(e->err));
	if (rc == T0_OK)
		rc = bot_world_build(cfg, &w, e->err, sizeof(e->err));
	if (rc == T0_OK)
		rc = bot_new(w, &e->bot, e->err, sizeof(e->err));
	if (rc != T0_OK) {
		if (w && !e->bot)
			bot_world_free(w);
		return rc;
	}
	e->loop = loop_new(e->err, sizeof(e->err));
	if (!e->loop)
		return T0_EIO;
	e->bot->loop = e->loop;
	if (with_http) {
		e->http = http_server_new(e->loop, "127.0.0.1", 0, 1 << 20, e->err, sizeof(e->err));
		if (!e->http)
			return T0_EIO;
	}
	e->chat = fake_chat_new(chat_delay_ms < 0 ? NULL : loop_uv(e->loop),
				chat_delay_ms < 0 ? 0 : chat_delay_ms);
	if (!e->chat || bot_chat_register(e->bot, &fake_chat_ops, e->chat) != T0_OK)
		return T0_ENOMEM;
	{
		struct adapter_ctx ctx = {
			.bot = e->bot,
			.loop = e->loop,
			.uv = loop_uv(e->loop),
			.http = e->http,
		};

		rc = incidents_ops.init(&ctx, &e->adapter);
		if (rc == T0_OK)
			rc = incidents_ops.start(e->adapter);
	}
	e->mgr = incident_mgr_current();
	return rc;
}

void incident_env_close(struct incident_env *e)
{
	if (e->adapter)
		incidents_ops.stop(e->adapter);
	http_server_free(e->http);
	e->http = NULL;
	loop_free(e->loop);
	e->loop = NULL;
	if (e->adapter)
		incidents_ops.free(e->adapter);
	e->adapter = NULL;
	e->mgr = NULL;
	if (e->bot)
		bot_chat_unregister_all(e->bot);
	fake_chat_free(e->chat);
	e->chat = NULL;
	bot_free(e->bot);
	e->bot = NULL;
	metrics_reset();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void incident_env_cleanup(struct incident_env *e)
{
	if (e->dir[0])
		nftw(e->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	e->dir[0] = '\0';
}

static void on_tick(uv_timer_t *t)
{
	(void)t;
}

int incident_env_run_until(struct incident_env *e, int (*done)(void *arg), void *arg,
			   int timeout_ms)
{
	uv_timer_t tick;
	uint64_t end = t0_mono_ns() + (uint64_t)timeout_ms * 1000000;
	int r = done ? done(arg) : 0;

	uv_timer_init(loop_uv(e->loop), &tick);
	uv_timer_start(&tick, on_tick, 5, 5);
	while (!r && t0_mono_ns() < end) {
		uv_run(loop_uv(e->loop), UV_RUN_ONCE);
		r = done ? done(arg) : 0;
	}
	uv_timer_stop(&tick);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop_uv(e->loop), UV_RUN_NOWAIT);
	return r;
}

void incident_env_run_for(struct incident_env *e, int ms)
{
	incident_env_run_until(e, NULL, NULL, ms);
}

struct post_box {
	long status;
	int done;
};

static void on_post(const struct http_resp *resp, void *arg)
{
	struct post_box *b = arg;

	b->status = resp->rc == T0_OK ? resp->status : 0;
	b->done = 1;
}

static int post_done(void *arg)
{
	return ((struct post_box *)arg)->done;
}

long incident_env_post(struct incident_env *e, const char *path, const char *const *headers,
		       size_t nheaders, const char *body, size_t len)
{
	struct post_box box = { 0 };
	char url[256];
	struct http_req req = { 0 };

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", http_server_port(e->http), path);
	req.method = "POST";
	req.url = url;
	req.headers = headers;
	req.nheaders = nheaders;
	req.body = body;
	req.body_len = len;
	req.timeout_ms = 5000;
	if (http_request(e->loop, &req, on_post, &box) != T0_OK)
		return 0;
	incident_env_run_until(e, post_done, &box, 10000);
	return box.status;
}

char *incident_env_fixture(const char *rel, size_t *len)
{
	char path[1024];
	FILE *fp;
	char *buf = NULL;
	long n;

	snprintf(path, sizeof(path), "%s/%s", T0_FIXTURES, rel);
	fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, fp) == (size_t)n) {
			buf[n] = '\0';
			if (len)
				*len = (size_t)n;
		} else {
			free(buf);
			buf = NULL;
		}
	}
	fclose(fp);
	return buf;
}
