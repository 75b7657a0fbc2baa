/*
 * Agent overhead per step: what tier0 itself spends on one model step (tool
 * execution through the handlers, cleaning, redaction, fencing, building and
 * parsing JSON, the usage row and audit records), without the model's own
 * time. Two set-ups on the demo organisation with a real SQLite file:
 *
 *   inproc: a provider registered in-process that answers each call on the
 *           next loop turn with a fixture-shaped Anthropic body, parsed by
 *           the real parser: the agent alone;
 *   http:   the real Anthropic provider over HTTP to a fake server on
 *           127.0.0.1 (curl, loopback TCP, request body redaction).
 *
 * Each request is 3 steps: get_owner, find_runbook, final text.
 *
 *   ./build/bench/bench_llm [requests]      (default 300)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "adapters/llm/llm.h"
#include "adapters/llm/llm_provider.h"
#include "bot/adapter.h"
#include "bot/bot.h"
#include "bot/config.h"
#include "bot/event.h"
#include "bot/llm.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/reply.h"
#include "bot/t0.h"
#include "tests/fakes/fake_llm.h"

#define FIXTURES T0_SOURCE_DIR "/../shared/fixtures"

static const char *const turns[] = {
	"{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"bench\",\"content\":"
	"[{\"type\":\"text\",\"text\":\"Looking.\"},{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":"
	"\"get_owner\",\"input\":{\"service\":\"payment-api\"},\"caller\":{\"type\":\"direct\"}}],"
	"\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":700,\"output_tokens\":90}}",
	"{\"id\":\"msg_2\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"bench\",\"content\":"
	"[{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"find_runbook\",\"input\":{\"query\":"
	"\"high error rate on payment-api\"}}],\"stop_reason\":\"tool_use\",\"usage\":"
	"{\"input_tokens\":1500,\"output_tokens\":60}}",
	"{\"id\":\"msg_3\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"bench\",\"content\":"
	"[{\"type\":\"text\",\"text\":\"payment-api is owned by the Payments Team; follow the runbook."
	"\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":2500,\"output_tokens\":40}}",
};

/* ---- the in-process provider ---- */

struct pending_call {
	uv_timer_t t;
	llm_done_cb cb;
	void *arg;
	int step;
};

static int step_of(const json_t *messages)
{
	return (int)(json_array_size(messages) / 2); /* user, (assistant, user)* */
}

static void closed(uv_handle_t *h)
{
	free(h->data);
}

static void fire(uv_timer_t *t)
{
	struct pending_call *pc = t->data;
	struct llm_result res;
	const char *body = turns[pc->step % 3];

	memset(&res, 0, sizeof(res));
	res.status = 200;
	res.attempts = 1;
	res.turn = calloc(1, sizeof(*res.turn));
	res.rc = llm_provider_anthropic.parse(body, strlen(body), res.turn, res.error,
					      sizeof(res.error));
	pc->cb(pc->arg, &res);
	llm_turn_free(res.turn);
	uv_close((uv_handle_t *)t, closed);
}

static struct t0_loop *bench_loop;

static int inproc_complete(struct t0_loop *loop, const struct config *cfg,
			   const struct llm_call *call, llm_done_cb cb, void *arg)
{
	struct pending_call *pc = calloc(1, sizeof(*pc));
	/* The body is built and serialised as for the wire, so that cost is counted. */
	json_t *body = llm_provider_anthropic.body(cfg, call);
	char *text = json_dumps(body, JSON_COMPACT);

	free(text);
	json_decref(body);
	pc->cb = cb;
	pc->arg = arg;
	pc->step = step_of(call->messages);
	uv_timer_init(loop_uv(loop), &pc->t);
	pc->t.data = pc;
	uv_timer_start(&pc->t, fire, 0, 0);
	return T0_OK;
}

static struct t0_llm inproc;

/* ---- driving ---- */

static int done;

static void on_reply(void *arg, struct reply *r)
{
	int *ok = arg;

	*ok += r && r->intent && strcmp(r->intent, "llm") == 0;
	reply_free(r);
	done = 1;
	loop_stop(bench_loop);
}

static double run(const char *mode, int n, struct fake_llm *fl)
{
	char db[] = "/tmp/t0benchllm.XXXXXX", yaml[2048], err[1024];
	struct config *cfg = NULL;
	struct bot_world *w = NULL;
	struct bot *b = NULL;
	struct adapter_ctx ctx = { 0 };
	void *state = NULL;
	int fd = mkstemp(db), ok = 0;
	uint64_t t0, t1;

	close(fd);
	snprintf(yaml, sizeof(yaml),
		 "log: {level: error}\nstore: {path: \"%s\"}\nhttp: {enabled: false}\n"
		 "catalog: {files: [\"%s/catalog/*.yaml\"]}\nrunbooks: {paths: [\"%s/runbooks\"]}\n"
		 "llm:\n  provider: anthropic\n  api_url: \"%s\"\n  api_key: sk-ant-bench-0123456789abcdef\n"
		 "  model: bench\n  price_input_per_mtok: 1\n  price_output_per_mtok: 5\n",
		 db, T0_DEMO_DIR, T0_DEMO_DIR, fl ? fake_llm_base_url(fl) : "http://127.0.0.1:9");
	if (config_load_buffer("bench.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err)) != T0_OK ||
	    bot_world_build(cfg, &w, err, sizeof(err)) != T0_OK ||
	    bot_new(w, &b, err, sizeof(err)) != T0_OK) {
		fprintf(stderr, "bench_llm: %s\n", err);
		exit(1);
	}
	log_set_level(LOG_LEVEL_ERR);
	b->loop = bench_loop;
	ctx.bot = b;
	ctx.loop = bench_loop;
	ctx.uv = loop_uv(bench_loop);
	llm_ops.init(&ctx, &state);
	if (!fl)
		llm_register(&inproc); /* replaces the real "anthropic" */
	t0 = t0_mono_ns();
	for (int i = 0; i < n; i++) {
		struct event ev = {
			.kind = EVENT_MESSAGE,
			.actor = { .platform = "console", .user_id = "alice" },
			.channel = "#bench",
			.text = "payments is throwing 500s, who do I call and what do I do",
		};

		done = 0;
		bot_dispatch(b, &ev, on_reply, &ok);
		if (!done)
			loop_run(bench_loop);
	}
	t1 = t0_mono_ns();
	printf("%-6s %d requests x 3 steps: %.3f s, %.1f us/step, %d answered by the agent\n", mode,
	       n, (double)(t1 - t0) / 1e9, (double)(t1 - t0) / 1e3 / (3.0 * n), ok);
	llm_ops.free(state);
	bot_free(b);
	unlink(db);
	{
		char side[64];

		snprintf(side, sizeof(side), "%s-wal", db);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", db);
		unlink(side);
	}
	return (double)(t1 - t0) / 1e3 / (3.0 * n);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 300;
	char err[256];
	struct fake_llm *fl;

	if (n <= 0)
		n = 300;
	log_set_level(LOG_LEVEL_ERR);
	t0_set_fake_now_ms(0);
	bench_loop = loop_new(err, sizeof(err));
	if (!bench_loop) {
		fprintf(stderr, "bench_llm: %s\n", err);
		return 1;
	}
	inproc = llm_anthropic;
	inproc.complete = inproc_complete;
	run("inproc", n, NULL);
	fl = fake_llm_new(loop_uv(bench_loop), FAKE_LLM_ANTHROPIC, FIXTURES);
	for (size_t i = 0; i < 3; i++)
		fake_llm_raw(fl, 200, "Content-Type: application/json\r\n", turns[i], 0);
	/* fake_http repeats the last response: queue the cycle n times */
	for (int k = 1; k < n; k++)
		for (size_t i = 0; i < 3; i++)
			fake_llm_raw(fl, 200, "Content-Type: application/json\r\n", turns[i], 0);
	run("http", n, fl);
	fake_llm_free(fl);
	loop_free(bench_loop);
	metrics_reset();
	return 0;
}
