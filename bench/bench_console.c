/*
 * Console round trip: N scripted messages through the whole core (dedupe,
 * audit of the message, intent match, handler, audit of the reply, console
 * rendering) on the demo organisation, with a real SQLite file.
 *
 *   ./build/bench/bench_console [config/demo/tier0.yaml] [N]
 *
 * Prints total time, messages/s, p50/p99/max latency and peak RSS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "adapters/chat/console_render.h"
#include "bot/bot.h"
#include "bot/config.h"
#include "bot/event.h"
#include "bot/log.h"
#include "bot/reply.h"
#include "bot/t0.h"

static const char *const script[] = {
	"who owns payment-api",
	"who is on call for checkout-web",
	"what depends on payments-db",
	"what does checkout-web depend on",
	"runbook for payment-api",
	"describe ledger-service",
	"ping",
	"echo hello from the benchmark",
	"who owns payment-ap1",
	"tell me a joke",
	"blast radius of auth-service",
	"version",
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static long rss_kb(const char *field)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		if (strncmp(line, field, strlen(field)) == 0)
			kb = strtol(line + strlen(field), NULL, 10);
	fclose(fp);
	return kb;
}

int main(int argc, char **argv)
{
	const char *cfg_path = argc > 1 ? argv[1] : "config/demo/tier0.yaml";
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 10000;
	char dir[] = "/tmp/t0bench.XXXXXX", db[64], err[1024];
	struct config *cfg = NULL;
	struct bot_world *w = NULL;
	struct bot *b = NULL;
	uint64_t *lat, start, total;
	size_t out_bytes = 0;

	if (n <= 0 || !mkdtemp(dir))
		return 1;
	log_set_level(LOG_LEVEL_ERR);
	snprintf(db, sizeof(db), "%s/bench.db", dir);
	if (config_load(cfg_path, &cfg, err, sizeof(err)) != T0_OK) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	free(cfg->store_path);
	cfg->store_path = strdup(db);
	if (bot_world_build(cfg, &w, err, sizeof(err)) != T0_OK ||
	    bot_new(w, &b, err, sizeof(err)) != T0_OK) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("rss after start: %ld kB (peak %ld kB)\n", rss_kb("VmRSS:"), rss_kb("VmHWM:"));
	lat = calloc((size_t)n, sizeof(*lat));
	if (!lat)
		return 1;
	start = t0_mono_ns();
	for (long i = 0; i < n; i++) {
		struct event ev = {
			.kind = EVENT_MESSAGE,
			.actor = { .platform = "console", .user_id = "alice" },
			.channel = "#bench",
			.text = script[(size_t)i % (sizeof(script) / sizeof(script[0]))],
		};
		uint64_t t = t0_mono_ns();
		struct reply *r = bot_handle(b, &ev);
		size_t len = 0;
		char *text = r ? console_render(r, &len) : NULL;

		out_bytes += len;
		free(text);
		reply_free(r);
		lat[i] = t0_mono_ns() - t;
	}
	total = t0_mono_ns() - start;
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	printf("messages: %ld in %.3f s = %.0f msg/s (%zu bytes rendered)\n", n, total / 1e9,
	       n / (total / 1e9), out_bytes);
	printf("latency: p50 %.1f us, p99 %.1f us, max %.1f us\n", lat[n / 2] / 1e3,
	       lat[(size_t)(n * 99 / 100)] / 1e3, lat[n - 1] / 1e3);
	printf("rss after messages: %ld kB (peak %ld kB)\n", rss_kb("VmRSS:"), rss_kb("VmHWM:"));
	free(lat);
	bot_free(b);
	unlink(db);
	snprintf(db, sizeof(db), "%s/bench.db-wal", dir);
	unlink(db);
	snprintf(db, sizeof(db), "%s/bench.db-shm", dir);
	unlink(db);
	rmdir(dir);
	return 0;
}
