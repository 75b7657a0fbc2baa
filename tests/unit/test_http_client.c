#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bot/http_client.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"
#include "tests/fakes/fake_http.h"

struct fixture {
	struct t0_loop *l;
	struct fake_http *fh;
	uv_timer_t guard;
	int guard_fired;
};

struct result {
	struct fixture *f;
	int calls;
	int rc;
	long status;
	char body[8192];
	size_t body_len;
	int attempts;
	int64_t elapsed_ms;
	char hdr[128];
	int stop;
};

static void on_done(const struct http_resp *resp, void *arg)
{
	struct result *r = arg;
	const char *h = http_resp_header(resp, "x-reply");

	r->calls++;
	r->rc = resp->rc;
	r->status = resp->status;
	r->body_len = resp->body_len < sizeof(r->body) ? resp->body_len : sizeof(r->body) - 1;
	memcpy(r->body, resp->body, r->body_len);
	r->body[r->body_len] = '\0';
	r->attempts = resp->attempts;
	r->elapsed_ms = resp->elapsed_ms;
	snprintf(r->hdr, sizeof(r->hdr), "%s", h ? h : "");
	if (r->stop && r->f)
		loop_stop(r->f->l);
}

static void on_guard(uv_timer_t *t)
{
	struct fixture *f = t->data;

	f->guard_fired = 1;
	loop_stop(f->l);
}

/* Runs the loop until a callback stops it or ms pass. */
static void run_for(struct fixture *f, uint64_t ms)
{
	f->guard_fired = 0;
	uv_timer_start(&f->guard, on_guard, ms, 0);
	loop_run(f->l);
	uv_timer_stop(&f->guard);
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
	f.fh = fake_http_new(loop_uv(f.l));
	if (!f.fh)
		return -1;
	uv_timer_init(loop_uv(f.l), &f.guard);
	f.guard.data = &f;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fake_http_free(f->fh);
	if (f->l)
		uv_close((uv_handle_t *)&f->guard, NULL);
	loop_free(f->l);
	metrics_reset();
	return 0;
}

static void test_http_get_round_trip_headers_and_body(void **state)
{
	struct fixture *f = *state;
	struct result r = { .f = f, .stop = 1 };
	const char *hdrs[] = { "X-Test: abc", "Authorization: Bearer s3cret" };
	struct http_req req = { .method = "GET", .headers = hdrs, .nheaders = 2, .timeout_ms = 5000 };
	char url[256], buf[128];
	const struct fake_http_req *got;

	fake_http_add(f->fh, "GET", "/x", 200, "X-Reply: yes\r\n", "hello", 5, 0);
	snprintf(url, sizeof(url), "%s", fake_http_url(f->fh, "/x?q=1"));
	req.url = url;
	assert_int_equal(http_request(f->l, &req, on_done, &r), T0_OK);
	assert_int_equal(r.calls, 0); /* never from inside http_request */
	assert_int_equal(loop_inflight(f->l), 1);
	run_for(f, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, T0_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 5);
	assert_string_equal(r.body, "hello");
	assert_string_equal(r.hdr, "yes");
	assert_int_equal(r.attempts, 1);
	assert_int_equal(loop_inflight(f->l), 0);
	assert_int_equal(fake_http_count(f->fh), 1);
	got = fake_http_req(f->fh, 0);
	assert_string_equal(got->method, "GET");
	assert_string_equal(got->target, "/x?q=1");
	assert_string_equal(got->path, "/x");
	assert_non_null(fake_http_req_header(got, "x-test", buf, sizeof(buf)));
	assert_string_equal(buf, "abc");
	assert_non_null(fake_http_req_header(got, "Authorization", buf, sizeof(buf)));
	assert_string_equal(buf, "Bearer s3cret");
	assert_int_equal(got->body_len, 0);
	assert_true(metrics_value("tier0_http_client_requests_total", "result=\"2xx\"") == 1);
	assert_true(metrics_value("tier0_http_client_request_duration_seconds", NULL) == 1);
}

static void test_http_post_body_arrives_byte_for_byte(void **state)
{
	struct fixture *f = *state;
	struct result r = { .f = f, .stop = 1 };
	static const char body[] = "{\"a\":1}\0\x01\xff tail";
	const char *hdrs[] = { "Content-Type: application/json" };
	struct http_req req = { .method = "POST", .headers = hdrs, .nheaders = 1, .body = body,
				.body_len = sizeof(body) - 1 };
	char url[256], buf[128];
	const struct fake_http_req *got;

	fake_http_add(f->fh, "POST", "/p", 201, NULL, "{\"ok\":true}", 11, 0);
	snprintf(url, sizeof(url), "%s", fake_http_url(f->fh, "/p"));
	req.url = url;
	assert_int_equal(http_request(f->l, &req, on_done, &r), T0_OK);
	run_for(f, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, T0_OK);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.body, "{\"ok\":true}");
	got = fake_http_req(f->fh, 0);
	assert_non_null(got);
	assert_memory_equal(got->raw, "POST /p HTTP/1.1\r\n", 18);
	assert_int_equal(got->body_len, sizeof(body) - 1);
	assert_memory_equal(got->body, body, sizeof(body) - 1);
	assert_non_null(fake_http_req_header(got, "Content-Type", buf, sizeof(buf)));
	assert_string_equal(buf, "application/json");
	assert_non_null(fake_http_req_header(got, "Content-Length", buf, sizeof(buf)));
	assert_string_equal(buf, "15");
	assert_null(fake_http_req_header(got, "Expect", buf, sizeof(buf)));
}

static void test_http_slow_server_times_out_within_deadline(void **state)
{
	struct fixture *f = *state;
	struct result r = { .f = f, .stop = 1 };
	struct http_req req = { .timeout_ms = 300 };
	char url[256];

	fake_http_add(f->fh, "GET", "/slow", 200, NULL, "late", 4, 3000);
	snprintf(url, sizeof(url), "%s", fake_http_url(f->fh, "/slow"));
	req.url = url;
	assert_int_equal(http_request(f->l, &req, on_done, &r), T0_OK);
	run_for(f, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, T0_ETIMEOUT);
	assert_int_equal(r.status, 0);
	assert_true(r.elapsed_ms >= 250);
	assert_true(r.elapsed_ms < 1500);
	assert_true(metrics_value("tier0_http_client_requests_total", "result=\"timeout\"") == 1);
}

static void test_http_response_over_limit_is_toobig(void **state)
{
	struct fixture *f = *state;
	struct result r = { .f = f, .stop = 1 };
	struct http_req req = { .max_response_bytes = 1000 };
	static char big[5000];
	char url[256];

	memset(big, 'x', sizeof(big));
	fake_http_add(f->fh, "GET", "/big", 200, NULL, big, sizeof(big), 0);
	snprintf(url, sizeof(url), "%s", fake_http_url(f->fh, "/big"));
	req.url = url;
	assert_int_equal(http_request(f->l, &req, on_done, &r), T0_OK);
	run_for(f, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, T0_ETOOBIG);
}

static void test_http_response_at_limit_is_ok(void **state)
{
	struct fixture *f = *state;
	struct result r = { .f = f, .stop = 1 };
	struct http_req req = { .max_response_bytes = 1000 };
	static char body[1000];
	char url[256];

	memset(body, 'y', sizeof(body));
	fake_http_add(f->fh, "GET", "/edge", 200, NULL, body, sizeof(body), 0);
	snprintf(url, sizeof(url), "%s", fake_http_url(f->fh, "/edge"));
	req.url = url;
	assert_int_equal(http_request(f->l, &req, on_done, &r), T0_OK);
	run_for(f, 5000);
	assert_int_equal(r.rc, T0_OK);
	assert_int_equal(r.body_len, 1000);
}

static void test_http_429_retry_after_then_success(void **state)
{
	struct fixture *f = *state;
	struct result r = { .f = f, .stop = 1 };
	struct http_req req = { .max_retries = 3, .backoff_base_ms = 10 };
	char url[256];

	fake_http_add(f->fh, "GET", "/rl", 429, "Retry-After: 1\r\n", "slow down", 9, 0);
	fake_http_add(f->fh, "GET", "/rl", 200, NULL, "ok", 2, 0);
	snprintf(url, sizeof(url), "%s", fake_http_url(f->fh, "/rl"));
	req.url = url;
	assert_int_equal(http_request(f->l, &req, on_done, &r), T0_OK);
	run_for(f, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, T0_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ok");
	assert_int_equal(r.attempts, 2);
	assert_true(r.elapsed_ms >= 1000);
	assert_int_equal(fake_http_count(f->fh), 2);
}

static void test_http_503_retries_with_backoff(void **state)
{
	struct fixture *f = *state;
	struct result r = { .f = f, .stop = 1 };
	struct http_req req = { .max_retries = 3, .backoff_base_ms = 20, .backoff_cap_ms = 100 };
	char url[256];

	fake_http_add(f->fh, "GET", "/u", 503, NULL, "", 0, 0);
	fake_http_add(f->fh, "GET", "/u", 503, NULL, "", 0, 0);
	fake_http_add(f->fh, "GET", "/u", 200, NULL, "up", 2, 0);
	snprintf(url, sizeof(url), "%s", fake_http_url(f->fh, "/u"));
	req.url = url;
	assert_int_equal(http_request(f->l, &req, on_done, &r), T0_OK);
	run_for(f, 5000);
	assert_int_equal(r.rc, T0_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.attempts, 3);
	assert_int_equal(fake_http_count(f->fh), 3);
	assert_true(metrics_value("tier0_http_client_retries_total", NULL) == 2);
}

static void test_http_retries_exhausted_return_last_status(void **state)
{
	struct fixture *f = *state;
	struct result r = { .f = f, .stop = 1 };
	struct http_req req = { .max_retries = 2, .backoff_base_ms = 10, .backoff_cap_ms = 20 };
	char url[256];

	fake_http_add(f->fh, "GET", "/down", 503, NULL, "down", 4, 0);
	snprintf(url, sizeof(url), "%s", fake_http_url(f->fh, "/down"));
	req.url = url;
	assert_int_equal(http_request(f->l, &req, on_done, &r), T0_OK);
	run_for(f, 5000);
	assert_int_equal(r.rc, T0_OK);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "down");
	assert_int_equal(r.attempts, 3);
	assert_int_equal(fake_http_count(f->fh), 3);
}

static void test_http_500_not_retried_unless_asked(void **state)
{
	struct fixture *f = *state;
	struct result r = { .f = f, .stop = 1 };
	struct http_req req = { .max_retries = 2, .backoff_base_ms = 10 };
	char url[256];

	fake_http_add(f->fh, "GET", "/e", 500, NULL, "", 0, 0);
	snprintf(url, sizeof(url), "%s", fake_http_url(f->fh, "/e"));
	req.url = url;
	assert_int_equal(http_request(f->l, &req, on_done, &r), T0_OK);
	run_for(f, 5000);
	assert_int_equal(r.status, 500);
	assert_int_equal(r.attempts, 1);

	memset(&r, 0, sizeof(r));
	r.f = f;
	r.stop = 1;
	req.retry_5xx = 1;
	assert_int_equal(http_request(f->l, &req, on_done, &r), T0_OK);
	run_for(f, 5000);
	assert_int_equal(r.status, 500);
	assert_int_equal(r.attempts, 3);
}

static void test_http_retry_after_beyond_deadline_returns_now(void **state)
{
	struct fixture *f = *state;
	struct result r = { .f = f, .stop = 1 };
	struct http_req req = { .max_retries = 3, .deadline_ms = 1000 };
	char url[256];

	fake_http_add(f->fh, "GET", "/later", 429, "Retry-After: 5\r\n", "", 0, 0);
	snprintf(url, sizeof(url), "%s", fake_http_url(f->fh, "/later"));
	req.url = url;
	assert_int_equal(http_request(f->l, &req, on_done, &r), T0_OK);
	run_for(f, 5000);
	assert_int_equal(r.rc, T0_OK);
	assert_int_equal(r.status, 429);
	assert_int_equal(r.attempts, 1);
	assert_true(r.elapsed_ms < 900);
}

static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void test_http_connection_refused_is_ehttp(void **state)
{
	struct fixture *f = *state;
	struct result r = { .f = f, .stop = 1 };
	struct http_req req = { .max_retries = 1, .backoff_base_ms = 10 };
	char url[256];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", free_port());
	req.url = url;
	assert_int_equal(http_request(f->l, &req, on_done, &r), T0_OK);
	run_for(f, 5000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, T0_EHTTP);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.attempts, 2); /* connection errors are retried */
}

static void test_http_bad_arguments_are_rejected(void **state)
{
	struct fixture *f = *state;
	struct result r = { 0 };
	const char *bad_hdr[] = { "X-Evil: a\r\nX-Injected: b" };
	struct http_req req = { .url = "ftp://127.0.0.1/" };

	assert_int_equal(http_request(f->l, &req, on_done, &r), T0_EINVAL);
	req.url = NULL;
	assert_int_equal(http_request(f->l, &req, on_done, &r), T0_EINVAL);
	req.url = "http://127.0.0.1:1/";
	req.headers = bad_hdr;
	req.nheaders = 1;
	assert_int_equal(http_request(f->l, &req, on_done, &r), T0_EINVAL);
	assert_int_equal(loop_inflight(f->l), 0);
	run_for(f, 20); /* let the failed calls' handles close */
	assert_int_equal(r.calls, 0);
}

static void test_http_pending_requests_closed_once_at_shutdown(void **state)
{
	struct fixture *f = *state;
	struct result slow = { 0 }, waiting = { 0 }, cancelled = { 0 };
	struct http_req req = { .timeout_ms = 10000, .max_retries = 1 };
	struct http_call *id = NULL;
	char url1[256], url2[256];

	fake_http_add(f->fh, "GET", "/hang", 200, NULL, "", 0, 8000);
	fake_http_add(f->fh, "GET", "/wait", 503, "Retry-After: 30\r\n", "", 0, 0);
	snprintf(url1, sizeof(url1), "%s", fake_http_url(f->fh, "/hang"));
	snprintf(url2, sizeof(url2), "%s", fake_http_url(f->fh, "/wait"));
	req.url = url1;
	assert_int_equal(http_request(f->l, &req, on_done, &slow), T0_OK);
	assert_int_equal(http_request_ex(f->l, &req, on_done, &cancelled, &id), T0_OK);
	req.url = url2;
	assert_int_equal(http_request(f->l, &req, on_done, &waiting), T0_OK);
	run_for(f, 300);
	assert_int_equal(loop_inflight(f->l), 3);
	assert_int_equal(fake_http_count(f->fh), 3);

	http_cancel(id);
	assert_int_equal(cancelled.calls, 1);
	assert_int_equal(cancelled.rc, T0_ECLOSED);
	assert_int_equal(loop_inflight(f->l), 2);
	assert_int_equal(slow.calls, 0);
	assert_int_equal(waiting.calls, 0);

	fake_http_free(f->fh);
	f->fh = NULL;
	uv_close((uv_handle_t *)&f->guard, NULL);
	loop_free(f->l);
	f->l = NULL;
	assert_int_equal(slow.calls, 1);
	assert_int_equal(slow.rc, T0_ECLOSED);
	assert_int_equal(waiting.calls, 1);
	assert_int_equal(waiting.rc, T0_ECLOSED);
	assert_int_equal(waiting.attempts, 1);
	assert_int_equal(cancelled.calls, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_http_get_round_trip_headers_and_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_post_body_arrives_byte_for_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_slow_server_times_out_within_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_response_over_limit_is_toobig, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_response_at_limit_is_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_429_retry_after_then_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_503_retries_with_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_retries_exhausted_return_last_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_500_not_retried_unless_asked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_retry_after_beyond_deadline_returns_now, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_connection_refused_is_ehttp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_bad_arguments_are_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_pending_requests_closed_once_at_shutdown, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
