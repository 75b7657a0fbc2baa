/*
 * The console adapter on a real loop, stdin a pipe: a script's replies come
 * out in the order of its lines even when an answer takes a while.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "adapters/chat/console.h"
#include "bot/adapter.h"
#include "bot/bot.h"
#include "bot/config.h"
#include "bot/handlers.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/reply.h"
#include "bot/t0.h"

struct fx {
	struct t0_loop *loop;
	struct bot *bot;
	void *console;
	uv_timer_t later;
	struct bot_pending *parked;
	int stopped;
	char out_path[64];
	int saved_stdin, saved_stdout;
};

static struct fx *the_fx;

static void finish_later(uv_timer_t *t)
{
	struct fx *f = t->data;
	struct reply *r = reply_new();

	reply_set_text(r, "pong, after a while");
	bot_pending_finish(f->parked, r);
	f->parked = NULL;
}

static int slow_ping(struct bot *b, const struct handler_req *req, struct reply *r)
{
	the_fx->parked = bot_pending_take(req);
	uv_timer_start(&the_fx->later, finish_later, 50, 0);
	return T0_OK;
}

static void request_stop(void *arg)
{
	struct fx *f = arg;

	f->stopped = 1;
	loop_stop(f->loop);
}

static char *run_script(struct fx *f, const char *script)
{
	struct adapter_ctx ctx = { 0 };
	int fds[2];
	FILE *fp;
	char *out = calloc(1, 65536);
	size_t n;

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], script, strlen(script)), (ssize_t)strlen(script));
	close(fds[1]);
	f->saved_stdin = dup(STDIN_FILENO);
	f->saved_stdout = dup(STDOUT_FILENO);
	dup2(fds[0], STDIN_FILENO);
	close(fds[0]);
	fflush(stdout);
	fp = fopen(f->out_path, "w");
	dup2(fileno(fp), STDOUT_FILENO);
	fclose(fp);

	ctx.bot = f->bot;
	ctx.loop = f->loop;
	ctx.uv = loop_uv(f->loop);
	ctx.request_stop = request_stop;
	ctx.request_stop_arg = f;
	assert_int_equal(console_ops.init(&ctx, &f->console), T0_OK);
	assert_int_equal(console_ops.start(f->console), T0_OK);
	loop_run(f->loop);
	console_ops.stop(f->console);
	fflush(stdout);
	dup2(f->saved_stdin, STDIN_FILENO);
	dup2(f->saved_stdout, STDOUT_FILENO);
	close(f->saved_stdin);
	close(f->saved_stdout);

	fp = fopen(f->out_path, "r");
	n = fread(out, 1, 65535, fp);
	out[n] = '\0';
	fclose(fp);
	unlink(f->out_path);
	return out;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct config *cfg = NULL;
	struct bot_world *w = NULL;
	char err[1024];

	log_set_level(LOG_LEVEL_ERR);
	assert_int_equal(config_load("config/demo/tier0.yaml", &cfg, err, sizeof(err)), T0_OK);
	free(cfg->store_path);
	cfg->store_path = strdup(":memory:");
	assert_int_equal(bot_world_build(cfg, &w, err, sizeof(err)), T0_OK);
	assert_int_equal(bot_new(w, &f->bot, err, sizeof(err)), T0_OK);
	f->loop = loop_new(err, sizeof(err));
	assert_non_null(f->loop);
	uv_timer_init(loop_uv(f->loop), &f->later);
	f->later.data = f;
	snprintf(f->out_path, sizeof(f->out_path), "/tmp/t0console.%d.out", (int)getpid());
	the_fx = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	uv_close((uv_handle_t *)&f->later, NULL);
	loop_free(f->loop);
	console_ops.free(f->console);
	bot_free(f->bot);
	handler_register("ping", NULL);
	free(f);
	return 0;
}

static void test_console_script_replies_in_order_of_lines(void **state)
{
	struct fx *f = *state;
	char *out = run_script(f, "ping\necho one\n/whoowns checkout-web\n");

	assert_true(f->stopped);
	assert_string_equal(out, "> ping\npong\n\n"
				 "> echo one\none\n\n"
				 "> /whoowns checkout-web\n"
				 "checkout-web is owned by Payments Team\n"
				 "  == checkout-web ==\n"
				 "  The checkout pages: basket, address, payment and confirmation.\n"
				 "  Owner: Payments Team (group:default/payments-team)\n"
				 "  Contact: payments-team@example.com\n"
				 "  Channel: #payments-oncall\n"
				 "  Members: Alice Martin, Bob Nguyen, Carol Diaz\n"
				 "  On call now: Bob Nguyen (level 1, schedule payments-primary)\n"
				 "  -- From the catalog: catalog/payments.yaml\n\n");
	free(out);
}

static void test_console_waits_for_a_slow_answer_before_the_next_line(void **state)
{
	struct fx *f = *state;
	char *out;

	assert_int_equal(handler_register("ping", slow_ping), T0_OK);
	out = run_script(f, "ping\necho after\n");
	assert_true(f->stopped);
	assert_null(f->parked);
	assert_int_equal(f->bot->pending, 0);
	assert_string_equal(out, "> ping\npong, after a while\n\n> echo after\nafter\n\n");
	free(out);
}

static void test_console_numbered_button_and_overlong_line(void **state)
{
	struct fx *f = *state;
	char *script = malloc(20000), *out;

	strcpy(script, "who owns payment-ap1\n1\n");
	memset(script + strlen(script), 'x', 9000);
	strcpy(script + strlen("who owns payment-ap1\n1\n") + 9000, "\nping\n");
	out = run_script(f, script);
	assert_non_null(strstr(out, "Did you mean payment-api?\n  [1] payment-api\n"));
	assert_non_null(strstr(out, "> 1\npayment-api is owned by Payments Team\n"));
	assert_non_null(strstr(out, "ignored)\n\n> ping\npong\n"));
	free(script);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_console_script_replies_in_order_of_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console_waits_for_a_slow_answer_before_the_next_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console_numbered_button_and_overlong_line, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
