/*
 * Deferred answers of the inbound HTTP server: a handler that answers later
 * from the loop, a client that goes away first, a server freed meanwhile.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "bot/http_client.h"
#include "bot/http_server.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"

struct fixture {
	struct t0_loop *l;
	struct http_server *srv;
	uv_timer_t guard, later;
	int port;
	int handler_calls;
	int finish_inline;
	int finish_status;
	struct http_deferred *d;
	int had_response; /* http_deferred_response was non-NULL at finish */
	int finished;
};

struct result {
	struct fixture *f;
	int calls;
	int rc;
	long status;
	char body[1024];
	int64_t elapsed_ms;
};

static void on_done(const struct http_resp *resp, void *arg)
{
	struct result *r = arg;
	size_t n = resp->body_len < sizeof(r->body) - 1 ? resp->body_len : sizeof(r->body) - 1;

	r->calls++;
	r->rc = resp->rc;
	r->status = resp->status;
	memcpy(r->body, resp->body, n);
	r->body[n] = '\0';
	r->elapsed_ms = resp->elapsed_ms;
	loop_stop(r->f->l);
}

static void on_guard(uv_timer_t *t)
{
	struct fixture *f = t->data;

	loop_stop(f->l);
}

static void run_for(struct fixture *f, uint64_t ms)
{
	uv_timer_start(&f->guard, on_guard, ms, 0);
	loop_run(f->l);
	uv_timer_stop(&f->guard);
}

static void finish_now(struct fixture *f)
{
	struct http_response *resp = http_deferred_response(f->d);

	f->had_response = resp != NULL;
	if (resp) {
		http_response_status(resp, f->finish_status);
		http_response_body(resp, "application/json", "{\"late\":true}", 13);
	}
	http_deferred_finish(f->d);
	f->d = NULL;
	f->finished++;
}

static void on_later(uv_timer_t *t)
{
	finish_now(t->data);
}

static void on_slow(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct fixture *f = arg;

	f->handler_calls++;
	http_response_body(resp, NULL, "early", 5); /* replaced by the late answer */
	f->d = http_response_defer(resp);
	assert_non_null(f->d);
	assert_true(http_response_defer(resp) == f->d); /* asking twice is the same deferral */
	if (f->finish_inline)
		finish_now(f);
}

static void on_fast(const struct http_request *req, struct http_response *resp, void *arg)
{
	http_response_body(resp, NULL, "fast", 4);
}

static int setup(void **state)
{
	static struct fixture f;
	char err[128];

	memset(&f, 0, sizeof(f));
	log_set_level(LOG_LEVEL_ERR);
	f.l = loop_new(err, sizeof(err));
	if (!f.l)
		return -1;
	uv_timer_init(loop_uv(f.l), &f.guard);
	uv_timer_init(loop_uv(f.l), &f.later);
	f.guard.data = &f;
	f.later.data = &f;
	f.srv = http_server_new(f.l, "127.0.0.1", 0, 4096, err, sizeof(err));
	if (!f.srv)
		return -1;
	f.port = http_server_port(f.srv);
	f.finish_status = 202;
	http_server_route(f.srv, "POST", "/slow", on_slow, &f);
	http_server_route(f.srv, "GET", "/fast", on_fast, &f);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->d)
		http_deferred_finish(f->d);
	http_server_free(f->srv);
	uv_close((uv_handle_t *)&f->guard, NULL);
	uv_close((uv_handle_t *)&f->later, NULL);
	loop_free(f->l);
	metrics_reset();
	return 0;
}

static void start(struct fixture *f, struct result *r, const char *method, const char *path,
		  long timeout_ms)
{
	char url[256];
	struct http_req req = { .method = method, .url = url, .timeout_ms = timeout_ms };

	memset(r, 0, sizeof(*r));
	r->f = f;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
	if (!strcmp(method, "POST")) {
		req.body = "{}";
		req.body_len = 2;
	}
	assert_int_equal(http_request(f->l, &req, on_done, r), T0_OK);
}

static void test_deferred_answer_arrives_later_and_connection_stays_usable(void **state)
{
	struct fixture *f = *state;
	struct result r;

	uv_timer_start(&f->later, on_later, 150, 0);
	start(f, &r, "POST", "/slow", 5000);
	run_for(f, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, 202);
	assert_string_equal(r.body, "{\"late\":true}");
	assert_true(r.elapsed_ms >= 100);
	assert_int_equal(f->finished, 1);
	assert_true(f->had_response);
	assert_true(metrics_value("tier0_http_requests_total",
				  "method=\"POST\",route=\"/slow\",code=\"202\"") == 1);

	start(f, &r, "GET", "/fast", 5000);
	run_for(f, 5000);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "fast");
}

static void test_deferred_finished_inside_handler_answers_at_once(void **state)
{
	struct fixture *f = *state;
	struct result r;

	f->finish_inline = 1;
	start(f, &r, "POST", "/slow", 5000);
	run_for(f, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, 202);
	assert_string_equal(r.body, "{\"late\":true}");
}

static void test_deferred_client_gone_before_finish_is_harmless(void **state)
{
	struct fixture *f = *state;
	struct result r;

	start(f, &r, "POST", "/slow", 200);
	run_for(f, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, T0_ETIMEOUT);
	assert_non_null(f->d);
	run_for(f, 200); /* lws notices the close */
	finish_now(f);
	assert_false(f->had_response);
	assert_int_equal(f->finished, 1);
}

static void test_deferred_survives_server_free(void **state)
{
	struct fixture *f = *state;
	struct result r;

	start(f, &r, "POST", "/slow", 3000);
	uv_timer_start(&f->later, on_guard, 200, 0); /* stop the loop once the handler has run */
	f->later.data = f;
	run_for(f, 5000);
	assert_int_equal(f->handler_calls, 1);
	assert_non_null(f->d);
	http_server_free(f->srv);
	f->srv = NULL;
	run_for(f, 3500);
	assert_int_equal(r.calls, 1);
	assert_true(r.status == 0 || r.status >= 500);
	finish_now(f);
	assert_false(f->had_response);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deferred_answer_arrives_later_and_connection_stays_usable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_finished_inside_handler_answers_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_client_gone_before_finish_is_harmless, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_survives_server_free, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
