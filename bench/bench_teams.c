/*
 * Teams activity -> reply latency against the fake Bot Framework on loopback:
 * N signed message activities (one conversation each, so pacing does not
 * enter), each POSTed to the adapter's endpoint; measured are the HTTP
 * acknowledgement and the moment the reply reaches the fake connector. Every
 * activity goes through token verification (RS256), the core (dedupe, audit,
 * intent, handler, audit) and the connector client with its queue.
 *
 *   ./build/bench/bench_teams [N]        (default 500)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/chat/teams/teams_jwt.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"
#include "tests/fakes/fake_botframework.h"
#include "tests/fakes/fake_http.h"
#include "tests/fakes/teams_env.h"

struct bench {
	struct teams_env *e;
	uint64_t start_ns, ack_ns, reply_ns;
	char want_path[1024];
	int replied;
};

static void on_req(void *arg, const struct fake_http_req *r)
{
	struct bench *b = arg;

	if (!strcmp(r->method, "POST") && !strcmp(r->path, b->want_path)) {
		b->reply_ns = t0_mono_ns();
		b->replied = 1;
	}
}

static int replied(void *arg)
{
	return ((struct bench *)arg)->replied;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	printf("%-28s p50 %6.2f ms  p90 %6.2f ms  p99 %6.2f ms  max %6.2f ms\n", what,
	       (double)v[n / 2] / 1e6, (double)v[n * 9 / 10] / 1e6, (double)v[n * 99 / 100] / 1e6,
	       (double)v[n - 1] / 1e6);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 500;
	struct bench b = { 0 };
	uint64_t *ack, *rep, t_all;
	json_t *act;
	char *tok, conv[64], id[32], path[1024];
	int ok = 0;

	if (n < 10)
		n = 10;
	log_set_level(LOG_LEVEL_ERR);
	ack = calloc((size_t)n, sizeof(*ack));
	rep = calloc((size_t)n, sizeof(*rep));
	b.e = teams_env_new("  pacing: {global_per_second: 1000}\n", 1);
	if (!b.e || !ack || !rep) {
		fprintf(stderr, "bench_teams: setup failed\n");
		return 1;
	}
	fake_http_on_request(fake_bf_http(b.e->fb), on_req, &b);
	act = teams_env_fixture(b.e, "message_personal_1.json");
	json_object_set_new(act, "text", json_string("who owns payment-api"));
	tok = teams_env_token(b.e, act);
	/* The user's e-mail is looked up once, then cached. */
	teams_env_connector(b.e, "GET", json_string_value(json_object_get(json_object_get(act, "conversation"), "id")),
			    "/members", json_string_value(json_object_get(json_object_get(act, "from"), "id")),
			    200, NULL, "{\"email\":\"maria.santos@example.com\"}");
	t_all = t0_mono_ns();
	for (int i = 0; i < n; i++) {
		struct teams_env_result r;

		snprintf(conv, sizeof(conv), "a:bench-conversation-%d", i);
		snprintf(id, sizeof(id), "%d", 1000000 + i);
		json_object_set_new(json_object_get(act, "conversation"), "id", json_string(conv));
		json_object_set_new(act, "id", json_string(id));
		teams_env_connector(b.e, "POST", conv, "/activities", id, 200, NULL, "{\"id\":\"r\"}");
		fake_bf_path(path, sizeof(path), conv, "/activities", id);
		snprintf(b.want_path, sizeof(b.want_path), "%s", path);
		b.replied = 0;
		b.start_ns = t0_mono_ns();
		teams_env_post(b.e, act, tok, &r);
		b.ack_ns = t0_mono_ns();
		if (r.status != 200 || !teams_env_run_until(b.e, replied, &b, 5000))
			continue;
		ack[ok] = b.ack_ns - b.start_ns;
		rep[ok] = b.reply_ns - b.start_ns;
		ok++;
	}
	t_all = t0_mono_ns() - t_all;
	printf("teams: %d/%d activities answered in %.2f s (%.0f activities/s, one at a time)\n", ok,
	       n, (double)t_all / 1e9, ok / ((double)t_all / 1e9));
	if (ok >= 10) {
		report("HTTP 200 acknowledgement", ack, ok);
		report("reply at the connector", rep, ok);
	}
	free(tok);
	json_decref(act);
	teams_env_free(b.e);
	metrics_reset();
	free(ack);
	free(rep);
	return ok == n ? 0 : 1;
}
