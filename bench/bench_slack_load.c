/*
 * Slack load: the bot (this process: demo world, SQLite file, the Slack
 * adapter in Socket Mode) against the fake Slack in a child process, which
 * sends app_mention envelopes at steady rates and then in one burst, and
 * measures what Slack would see: ack latency (frame written -> ack read),
 * reply latency (frame written -> chat.postMessage arrived), lost and
 * duplicated replies. The bot's peak RSS is read from /proc at the end.
 *
 *   ./build/bench/bench_slack_load [-s SECONDS] [-r 50,200,1000] [-b 2000] [--long] [--memory-store]
 *
 * Defaults: 3 s per rate (--long: 10 s, the figure), rates 50, 200
 * and 1000 events/s, a burst of 2000. Pacing is off (it would hold replies
 * to one message per second per channel on purpose); 20 channels, 50 people.
 * --memory-store keeps SQLite in memory (to tell store time from the rest).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "adapters/chat/slack/slack.h"
#include "bot/bot.h"
#include "bot/config.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"
#include "tests/fakes/fake_slack.h"

#define MAX_RATES 8
#define USERS 50
#define CHANNELS 20
#define DRAIN_S 10

/* ---- the child: fake Slack and load generator ---- */

struct phase_stats {
	char name[32];
	int sent, acked, replied, lost, dup;
	double ack_p50, ack_p99, ack_max, rep_p50, rep_p99, rep_max, secs;
};

struct gen {
	struct t0_loop *l;
	struct fake_slack *fs;
	uv_timer_t tick;
	int rates[MAX_RATES], nrates;
	double seconds;
	int burst;
	int phase;    /* 0..nrates-1 steady, nrates burst, then done */
	int draining;
	uint64_t phase_start, drain_until;
	int first, count, target; /* events of this phase: [first, first + target) */
	int cap;
	uint64_t *ack_ns, *rep_ns;
	unsigned char *replies;
	json_t *tmpl;
	struct phase_stats st[MAX_RATES + 1];
	int done;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)v[i] / 1e6;
}

static void on_ack(void *arg, const struct fake_slack_env *e, uint64_t lat)
{
	struct gen *g = arg;

	if (e->tag >= 0 && e->tag < g->cap && !g->ack_ns[e->tag] && e->acks == 1)
		g->ack_ns[e->tag] = lat ? lat : 1;
}

static void on_call(void *arg, const struct fake_slack_call *c)
{
	struct gen *g = arg;
	const char *ts;
	unsigned sec, n;
	const struct fake_slack_env *e;

	if (strcmp(c->method, "chat.postMessage") != 0)
		return;
	ts = json_string_value(json_object_get(c->args, "thread_ts"));
	if (!ts || sscanf(ts, "%u.%u", &sec, &n) != 2 || n >= (unsigned)g->cap)
		return;
	if (g->replies[n] < 255)
		g->replies[n]++;
	e = fake_slack_env_at(g->fs, n);
	if (g->replies[n] == 1 && e && e->sent_ns)
		g->rep_ns[n] = c->at_ns > e->sent_ns ? c->at_ns - e->sent_ns : 1;
}

static void send_one(struct gen *g)
{
	int id = g->first + g->count;
	json_t *p = json_deep_copy(g->tmpl), *ev = json_object_get(p, "event");
	char buf[64];

	snprintf(buf, sizeof(buf), "U%03d", id % USERS);
	json_object_set_new(ev, "user", json_string(buf));
	snprintf(buf, sizeof(buf), "C%02d", id % CHANNELS);
	json_object_set_new(ev, "channel", json_string(buf));
	snprintf(buf, sizeof(buf), "1700000000.%06d", id);
	json_object_set_new(ev, "ts", json_string(buf));
	json_object_set_new(ev, "event_ts", json_string(buf));
	json_object_set_new(ev, "text", json_string("<@UBENCH> who owns payment-api"));
	snprintf(buf, sizeof(buf), "EvBench%07d", id);
	json_object_set_new(p, "event_id", json_string(buf));
	fake_slack_send_envelope(g->fs, "events_api", p, 0, 0, id);
	json_decref(p);
	g->count++;
}

static void phase_finish(struct gen *g)
{
	struct phase_stats *st = &g->st[g->phase];
	uint64_t *acks = calloc((size_t)g->target + 1, sizeof(uint64_t));
	uint64_t *reps = calloc((size_t)g->target + 1, sizeof(uint64_t));
	size_t na = 0, nr = 0;

	for (int i = g->first; i < g->first + g->count; i++) {
		if (g->ack_ns[i])
			acks[na++] = g->ack_ns[i];
		if (g->replies[i] == 0)
			st->lost++;
		if (g->replies[i] > 1)
			st->dup++;
		if (g->rep_ns[i])
			reps[nr++] = g->rep_ns[i];
	}
	qsort(acks, na, sizeof(*acks), cmp_u64);
	qsort(reps, nr, sizeof(*reps), cmp_u64);
	st->sent = g->count;
	st->acked = (int)na;
	st->replied = (int)nr;
	st->ack_p50 = pct(acks, na, 0.50);
	st->ack_p99 = pct(acks, na, 0.99);
	st->ack_max = na ? (double)acks[na - 1] / 1e6 : 0;
	st->rep_p50 = pct(reps, nr, 0.50);
	st->rep_p99 = pct(reps, nr, 0.99);
	st->rep_max = nr ? (double)reps[nr - 1] / 1e6 : 0;
	st->secs = (double)(t0_mono_ns() - g->phase_start) / 1e9;
	printf("%-14s sent %6d  acked %6d  ack ms p50 %6.2f p99 %6.2f max %7.2f | reply ms p50 %7.2f "
	       "p99 %8.2f max %8.2f | lost %d dup %d\n",
	       st->name, st->sent, st->acked, st->ack_p50, st->ack_p99, st->ack_max, st->rep_p50,
	       st->rep_p99, st->rep_max, st->lost, st->dup);
	fflush(stdout);
	free(acks);
	free(reps);
}

static void phase_begin(struct gen *g)
{
	g->first += g->count;
	g->count = 0;
	g->draining = 0;
	g->phase_start = t0_mono_ns();
	if (g->phase < g->nrates) {
		g->target = (int)(g->rates[g->phase] * g->seconds);
		snprintf(g->st[g->phase].name, sizeof(g->st[0].name), "steady %d/s", g->rates[g->phase]);
	} else {
		g->target = g->burst;
		snprintf(g->st[g->phase].name, sizeof(g->st[0].name), "burst %d", g->burst);
	}
}

static void on_tick(uv_timer_t *t)
{
	struct gen *g = t->data;
	uint64_t now = t0_mono_ns();

	if (g->done)
		return;
	if (!g->draining) {
		int due = g->target;

		if (g->phase < g->nrates)
			due = (int)((double)g->rates[g->phase] * (double)(now - g->phase_start) / 1e9);
		if (due > g->target)
			due = g->target;
		while (g->count < due)
			send_one(g);
		if (g->count >= g->target) {
			g->draining = 1;
			g->drain_until = now + (uint64_t)DRAIN_S * 1000000000u;
		}
		return;
	}
	{
		int all = 1;

		for (int i = g->first; i < g->first + g->count && all; i++)
			all = g->replies[i] > 0;
		if (!all && now < g->drain_until)
			return;
	}
	phase_finish(g);
	g->phase++;
	if (g->phase > g->nrates) {
		g->done = 1;
		loop_stop(g->l);
		return;
	}
	phase_begin(g);
}

static json_t *template_payload(void)
{
	json_t *env = json_load_file(T0_SOURCE_DIR
				     "/../shared/fixtures/slack/socket_mode/envelope_events_api_app_mention.json",
				     0, NULL);
	json_t *p = json_incref(json_object_get(env, "payload"));

	json_decref(env);
	if (p)
		return p;
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:s}", "type", "event_callback",
			 "team_id", "T111", "event", "type", "app_mention", "text", "", "user", "U1",
			 "channel", "C1", "ts", "1.0", "event_id", "Ev0");
}

static int wait_conn(struct gen *g)
{
	/* start when the bot has said hello back, i.e. a connection is up */
	return fake_slack_open_conns(g->fs) > 0;
}

static void on_start_tick(uv_timer_t *t)
{
	struct gen *g = t->data;

	if (!wait_conn(g))
		return;
	uv_timer_stop(t);
	phase_begin(g);
	uv_timer_start(&g->tick, on_tick, 1, 1);
}

static int child_main(int ready_fd, int done_fd, struct gen *g)
{
	char err[256], line[256];
	uv_timer_t start;

	g->l = loop_new(err, sizeof(err));
	g->fs = g->l ? fake_slack_new(g->l) : NULL;
	if (!g->fs) {
		fprintf(stderr, "fake: %s\n", err);
		return 1;
	}
	fake_slack_set_record(g->fs, 0);
	fake_slack_set_auth(g->fs, NULL, "UBENCH", "BBENCH", NULL);
	for (int i = 0; i < USERS; i++) {
		char id[16], name[32], mail[64];

		snprintf(id, sizeof(id), "U%03d", i);
		snprintf(name, sizeof(name), "person%d", i);
		snprintf(mail, sizeof(mail), "person%d@example.com", i);
		fake_slack_add_user(g->fs, id, name, mail);
	}
	g->cap = g->burst;
	for (int i = 0; i < g->nrates; i++)
		g->cap += (int)(g->rates[i] * g->seconds) + 1;
	g->ack_ns = calloc((size_t)g->cap, sizeof(uint64_t));
	g->rep_ns = calloc((size_t)g->cap, sizeof(uint64_t));
	g->replies = calloc((size_t)g->cap, 1);
	g->tmpl = template_payload();
	fake_slack_on_ack(g->fs, on_ack, g);
	fake_slack_on_call(g->fs, on_call, g);
	snprintf(line, sizeof(line), "%s\n", fake_slack_api_url(g->fs));
	if (write(ready_fd, line, strlen(line)) < 0)
		return 1;
	close(ready_fd);
	uv_timer_init(loop_uv(g->l), &g->tick);
	g->tick.data = g;
	uv_timer_init(loop_uv(g->l), &start);
	start.data = g;
	uv_timer_start(&start, on_start_tick, 5, 5);
	loop_run(g->l);
	uv_close((uv_handle_t *)&start, NULL);
	uv_close((uv_handle_t *)&g->tick, NULL);
	if (write(done_fd, "done\n", 5) < 0)
		return 1;
	close(done_fd);
	loop_free(g->l);
	fake_slack_free(g->fs);
	json_decref(g->tmpl);
	free(g->ack_ns);
	free(g->rep_ns);
	free(g->replies);
	return 0;
}

/* ---- the parent: the bot ---- */

struct parent {
	struct t0_loop *l;
	uv_poll_t done;
};

static void on_done(uv_poll_t *p, int status, int events)
{
	struct parent *pa = p->data;

	uv_poll_stop(p);
	loop_stop(pa->l);
}

static long proc_kb(const char *field)
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

static int memory_store;

static int parent_main(const char *api_url, int done_fd, const char *dir)
{
	struct parent pa = { 0 };
	struct config *cfg = NULL;
	struct bot_world *w = NULL;
	struct bot *b = NULL;
	struct adapter_ctx ctx;
	void *st = NULL;
	char err[1024], path[512], yaml[2048];
	struct rusage ru;
	FILE *fp;
	int rc = 1;

	snprintf(path, sizeof(path), "%s/tier0.yaml", dir);
	snprintf(yaml, sizeof(yaml),
		 "log:\n  level: %s\nstore:\n  path: %s%s\nhttp:\n  enabled: false\n"
		 "catalog:\n  files: [\"%s/catalog/*.yaml\"]\nrunbooks:\n  paths: [\"%s/runbooks\"]\n"
		 "slack:\n  app_token: xapp-bench\n  bot_token: xoxb-bench\n  api_url: \"%s\"\n"
		 "  pacing:\n    enabled: false\n",
		 getenv("T0_BENCH_LOG") ? "debug" : "error", memory_store ? "\":memory:\"" : dir,
		 memory_store ? "" : "/bench.db", T0_DEMO_DIR, T0_DEMO_DIR, api_url);
	fp = fopen(path, "w");
	if (!fp)
		return 1;
	fputs(yaml, fp);
	fclose(fp);
	if (config_load(path, &cfg, err, sizeof(err)) != T0_OK ||
	    bot_world_build(cfg, &w, err, sizeof(err)) != T0_OK || bot_new(w, &b, err, sizeof(err)) != T0_OK) {
		fprintf(stderr, "bot: %s\n", err);
		return 1;
	}
	pa.l = loop_new(err, sizeof(err));
	if (!pa.l)
		goto out;
	bot_attach_loop(b, pa.l, 1); /* as the daemon runs: with its WAL checkpointer */
	memset(&ctx, 0, sizeof(ctx));
	ctx.bot = b;
	ctx.loop = pa.l;
	ctx.uv = loop_uv(pa.l);
	if (slack_ops.init(&ctx, &st) != T0_OK || slack_ops.start(st) != T0_OK) {
		fprintf(stderr, "bot: slack adapter did not start\n");
		goto out;
	}
	bot_chat_register(b, &slack_ops, st);
	uv_poll_init(loop_uv(pa.l), &pa.done, done_fd);
	pa.done.data = &pa;
	uv_poll_start(&pa.done, UV_READABLE, on_done);
	loop_run(pa.l);
	uv_close((uv_handle_t *)&pa.done, NULL);
	getrusage(RUSAGE_SELF, &ru);
	printf("bot: peak RSS %.1f MB (VmHWM), RSS now %.1f MB, CPU %.2f s user + %.2f s system, "
	       "events handled %llu\n",
	       (double)proc_kb("VmHWM:") / 1024.0, (double)proc_kb("VmRSS:") / 1024.0,
	       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
	       (unsigned long long)b->events_handled);
	rc = 0;
	slack_ops.stop(st);
out:
	bot_detach_loop(b);
	loop_free(pa.l);
	bot_chat_unregister_all(b);
	if (st)
		slack_ops.free(st);
	bot_free(b);
	metrics_reset();
	unlink(path);
	return rc;
}

static int parse_rates(const char *s, struct gen *g)
{
	char *copy = strdup(s), *save = NULL;

	g->nrates = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok && g->nrates < MAX_RATES;
	     tok = strtok_r(NULL, ",", &save))
		g->rates[g->nrates++] = atoi(tok);
	free(copy);
	return g->nrates > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static struct gen g;
	int ready[2], done[2], status = 0;
	char dir[] = "/tmp/t0benchslack.XXXXXX", url[256], path[600];
	pid_t pid;
	ssize_t n;
	size_t got = 0;

	g.seconds = 3;
	g.burst = 2000;
	parse_rates("50,200,1000", &g);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-s") && i + 1 < argc)
			g.seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--long"))
			g.seconds = 10;
		else if (!strcmp(argv[i], "-r") && i + 1 < argc)
			parse_rates(argv[++i], &g);
		else if (!strcmp(argv[i], "--memory-store"))
			memory_store = 1;
		else if (!strcmp(argv[i], "-b") && i + 1 < argc)
			g.burst = atoi(argv[++i]);
		else {
			fprintf(stderr,
				"usage: %s [-s SECONDS] [-r 50,200,1000] [-b 2000] [--long] [--memory-store]\n",
				argv[0]);
			return 2;
		}
	}
	log_set_level(getenv("T0_BENCH_LOG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERR);
	if (!mkdtemp(dir) || pipe(ready) || pipe(done))
		return 1;
	printf("slack_load: %.0f s per rate, rates", g.seconds);
	for (int i = 0; i < g.nrates; i++)
		printf(" %d", g.rates[i]);
	printf("/s, burst %d; fake Slack in a child process, pacing off\n", g.burst);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(ready[0]);
		close(done[0]);
		_exit(child_main(ready[1], done[1], &g));
	}
	close(ready[1]);
	close(done[1]);
	while (got < sizeof(url) - 1 && (n = read(ready[0], url + got, 1)) == 1 && url[got] != '\n')
		got++;
	url[got] = '\0';
	close(ready[0]);
	if (!got) {
		fprintf(stderr, "the fake did not start\n");
		return 1;
	}
	if (parent_main(url, done[0], dir) != 0)
		kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	snprintf(path, sizeof(path), "%s/bench.db", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/bench.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/bench.db-shm", dir);
	unlink(path);
	rmdir(dir);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
