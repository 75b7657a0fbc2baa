#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bot/http_client.h"
#include "bot/http_server.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"

#define MAX_BODY 1024

struct fixture {
	struct t0_loop *l;
	struct http_server *srv;
	uv_timer_t guard;
	int port;
	int handler_calls;
	char seen_query[256];
	char seen_header[256];
	char seen_remote[64];
	size_t seen_body_len;
};

struct result {
	struct fixture *f;
	int calls;
	int rc;
	long status;
	char body[65536];
	size_t body_len;
	char allow[128];
	char ctype[128];
};

static void on_done(const struct http_resp *resp, void *arg)
{
	struct result *r = arg;
	const char *a = http_resp_header(resp, "allow");
	const char *ct = http_resp_header(resp, "content-type");

	r->calls++;
	r->rc = resp->rc;
	r->status = resp->status;
	r->body_len = resp->body_len < sizeof(r->body) ? resp->body_len : sizeof(r->body) - 1;
	memcpy(r->body, resp->body, r->body_len);
	r->body[r->body_len] = '\0';
	snprintf(r->allow, sizeof(r->allow), "%s", a ? a : "");
	snprintf(r->ctype, sizeof(r->ctype), "%s", ct ? ct : "");
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

static void on_hello(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct fixture *f = arg;
	const char *h = http_request_header(req, "X-Test");

	f->handler_calls++;
	snprintf(f->seen_query, sizeof(f->seen_query), "%s", req->query);
	snprintf(f->seen_header, sizeof(f->seen_header), "%s", h ? h : "(none)");
	snprintf(f->seen_remote, sizeof(f->seen_remote), "%s", req->remote);
	http_response_header(resp, "X-Extra", "yes");
	http_response_body(resp, "text/plain", "hello\n", 6);
}

static void on_echo(const struct http_request *req, struct http_response *resp, void *arg)
{
	struct fixture *f = arg;
	const char *ct = http_request_header(req, "Content-Type");

	f->handler_calls++;
	f->seen_body_len = req->body_len;
	http_response_status(resp, 201);
	http_response_body(resp, ct ? ct : "application/octet-stream", req->body, req->body_len);
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
	f.guard.data = &f;
	f.srv = http_server_new(f.l, "127.0.0.1", 0, MAX_BODY, err, sizeof(err));
	if (!f.srv)
		return -1;
	f.port = http_server_port(f.srv);
	if (f.port <= 0)
		return -1;
	http_server_route(f.srv, "GET", "/hello", on_hello, &f);
	http_server_route(f.srv, "POST", "/echo", on_echo, &f);
	http_server_route(f.srv, "PUT", "/echo", on_echo, &f);
	http_server_route(f.srv, "GET", "/metrics", http_metrics_handler, NULL);
	http_server_route(f.srv, "GET", "/secure-metrics", http_metrics_handler, (void *)"s3cret");
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	http_server_free(f->srv);
	if (f->l)
		uv_close((uv_handle_t *)&f->guard, NULL);
	loop_free(f->l);
	metrics_reset();
	return 0;
}

static void do_request(struct fixture *f, struct result *r, const char *method, const char *path,
		       const char *const *hdrs, size_t nhdrs, const char *body, size_t body_len)
{
	char url[512];
	struct http_req req = { .method = method, .url = url, .headers = hdrs, .nheaders = nhdrs,
				.body = body, .body_len = body_len, .timeout_ms = 5000 };

	memset(r, 0, sizeof(*r));
	r->f = f;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
	assert_int_equal(http_request(f->l, &req, on_done, r), T0_OK);
	run_for(f, 5000);
	assert_int_equal(r->calls, 1);
}

/* A blocking client on a thread, so the loop keeps serving on the main one. */
struct raw {
	int port;
	const char *req;
	size_t req_len;
	char resp[8192];
	size_t resp_len;
	uv_async_t done;
};

static void *raw_thread(void *arg)
{
	struct raw *x = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n;

	sa.sin_port = htons((uint16_t)x->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    send(fd, x->req, x->req_len, MSG_NOSIGNAL) == (ssize_t)x->req_len) {
		while (x->resp_len < sizeof(x->resp) - 1 &&
		       (n = recv(fd, x->resp + x->resp_len, sizeof(x->resp) - 1 - x->resp_len, 0)) > 0)
			x->resp_len += (size_t)n;
	}
	x->resp[x->resp_len] = '\0';
	close(fd);
	uv_async_send(&x->done);
	return NULL;
}

static void on_raw_done(uv_async_t *a)
{
	loop_stop(a->data);
}

static void raw_exchange(struct fixture *f, struct raw *x, const char *req, size_t len)
{
	pthread_t th;

	memset(x, 0, sizeof(*x));
	x->port = f->port;
	x->req = req;
	x->req_len = len;
	uv_async_init(loop_uv(f->l), &x->done, on_raw_done);
	x->done.data = f->l;
	assert_int_equal(pthread_create(&th, NULL, raw_thread, x), 0);
	run_for(f, 8000);
	pthread_join(th, NULL);
	uv_close((uv_handle_t *)&x->done, NULL);
	run_for(f, 1);
}

static void test_server_get_route_returns_body_and_sees_request(void **state)
{
	struct fixture *f = *state;
	struct result r;
	const char *hdrs[] = { "X-Test: hdr-value" };

	do_request(f, &r, "GET", "/hello?a=1&b=two", hdrs, 1, NULL, 0);
	assert_int_equal(r.rc, T0_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "hello\n");
	assert_string_equal(r.ctype, "text/plain");
	assert_int_equal(f->handler_calls, 1);
	assert_string_equal(f->seen_query, "a=1&b=two");
	assert_string_equal(f->seen_header, "hdr-value");
	assert_string_equal(f->seen_remote, "127.0.0.1");
	assert_true(metrics_value("tier0_http_requests_total",
				  "method=\"GET\",route=\"/hello\",code=\"200\"") == 1);

	/* Same connection again (keep-alive), handler runs again. */
	do_request(f, &r, "GET", "/hello", NULL, 0, NULL, 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(f->handler_calls, 2);
	assert_string_equal(f->seen_header, "(none)");
}

static void test_server_unknown_path_404_wrong_method_405(void **state)
{
	struct fixture *f = *state;
	struct result r;

	do_request(f, &r, "GET", "/nope", NULL, 0, NULL, 0);
	assert_int_equal(r.status, 404);
	do_request(f, &r, "DELETE", "/echo", NULL, 0, NULL, 0);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "POST, PUT");
	do_request(f, &r, "POST", "/hello", NULL, 0, "x", 1);
	assert_int_equal(r.status, 405);
	assert_int_equal(f->handler_calls, 0);
	assert_true(metrics_value("tier0_http_requests_total",
				  "method=\"other\",route=\"other\",code=\"404\"") == 1);
}

static void test_server_post_body_within_limit_reaches_handler(void **state)
{
	struct fixture *f = *state;
	struct result r;
	const char *hdrs[] = { "Content-Type: application/json" };
	char body[MAX_BODY];

	memset(body, 'b', sizeof(body));
	do_request(f, &r, "POST", "/echo", hdrs, 1, body, sizeof(body));
	assert_int_equal(r.status, 201);
	assert_int_equal(r.body_len, MAX_BODY);
	assert_memory_equal(r.body, body, MAX_BODY);
	assert_string_equal(r.ctype, "application/json");

	do_request(f, &r, "PUT", "/echo", hdrs, 1, "", 0);
	assert_int_equal(r.status, 201);
	assert_int_equal(r.body_len, 0);
	assert_int_equal(f->handler_calls, 2);
}

static void test_server_content_length_over_max_is_413_before_body(void **state)
{
	struct fixture *f = *state;
	struct raw x;
	static const char req[] = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n";

	raw_exchange(f, &x, req, sizeof(req) - 1);
	assert_memory_equal(x.resp, "HTTP/1.1 413", 12);
	assert_int_equal(f->handler_calls, 0);

	/* Through the client too: the body is never buffered. */
	struct result r;
	static char big[MAX_BODY + 1];

	memset(big, 'z', sizeof(big));
	do_request(f, &r, "POST", "/echo", NULL, 0, big, sizeof(big));
	if (r.rc == T0_OK)
		assert_int_equal(r.status, 413);
	assert_int_equal(f->handler_calls, 0);
}

static void test_server_chunked_body_over_max_is_413(void **state)
{
	struct fixture *f = *state;
	struct raw x;
	char req[4096], chunk[600];
	size_t n;

	memset(chunk, 'c', sizeof(chunk));
	n = (size_t)snprintf(req, sizeof(req),
			     "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 2; i++) {
		n += (size_t)snprintf(req + n, sizeof(req) - n, "%zx\r\n", sizeof(chunk));
		memcpy(req + n, chunk, sizeof(chunk));
		n += sizeof(chunk);
		n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\n");
	}
	n += (size_t)snprintf(req + n, sizeof(req) - n, "0\r\n\r\n");
	raw_exchange(f, &x, req, n);
	assert_memory_equal(x.resp, "HTTP/1.1 413", 12);
	assert_int_equal(f->handler_calls, 0);
}

static void test_server_chunked_body_within_limit_is_decoded(void **state)
{
	struct fixture *f = *state;
	struct raw x;
	static const char req[] = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
				  "Content-Type: text/plain\r\n\r\n"
				  "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n";

	raw_exchange(f, &x, req, sizeof(req) - 1);
	assert_memory_equal(x.resp, "HTTP/1.1 201", 12);
	assert_int_equal(f->handler_calls, 1);
	assert_int_equal(f->seen_body_len, 12);
	assert_non_null(strstr(x.resp, "\r\n\r\nhello, world"));
}

static void test_server_post_without_length_is_411(void **state)
{
	struct fixture *f = *state;
	struct raw x;
	static const char req[] = "POST /echo HTTP/1.1\r\nHost: t\r\n\r\n";

	raw_exchange(f, &x, req, sizeof(req) - 1);
	assert_memory_equal(x.resp, "HTTP/1.1 411", 12);
	assert_int_equal(f->handler_calls, 0);
}

/* Every sample line is `name{labels} value` or `name value`; HELP and TYPE precede. */
static void assert_prometheus_text(const char *text)
{
	char *copy = strdup(text), *save = NULL;
	int samples = 0, help = 0, type = 0;

	assert_non_null(copy);
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp, *end;

		if (!strncmp(line, "# HELP ", 7)) {
			help++;
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			type++;
			assert_non_null(strstr(" counter gauge histogram summary untyped",
					       strrchr(line, ' ')));
			continue;
		}
		assert_true(line[0] != '#');
		sp = strrchr(line, ' ');
		assert_non_null(sp);
		strtod(sp + 1, &end);
		assert_true(*end == '\0' || !strcmp(sp + 1, "+Inf"));
		for (char *p = line; p < sp && *p != '{'; p++)
			assert_true((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
				    (*p >= '0' && *p <= '9') || *p == '_' || *p == ':');
		if (strchr(line, '{'))
			assert_true(sp[-1] == '}');
		samples++;
	}
	assert_true(samples > 0);
	assert_true(help > 0);
	assert_int_equal(help, type);
	free(copy);
}

static void test_server_metrics_route_renders_prometheus_text(void **state)
{
	struct fixture *f = *state;
	struct result r;

	do_request(f, &r, "GET", "/hello", NULL, 0, NULL, 0);
	do_request(f, &r, "GET", "/metrics", NULL, 0, NULL, 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(strstr(r.body, "# TYPE tier0_http_requests_total counter\n"));
	assert_non_null(strstr(r.body, "tier0_http_request_duration_seconds_bucket{route=\"/hello\",le=\"+Inf\"} 1\n"));
	assert_prometheus_text(r.body);
}

static void test_server_metrics_token_required(void **state)
{
	struct fixture *f = *state;
	struct result r;
	const char *wrong[] = { "Authorization: Bearer s3crex" };
	const char *longer[] = { "Authorization: Bearer s3cret2" };
	const char *right[] = { "Authorization: Bearer s3cret" };

	do_request(f, &r, "GET", "/secure-metrics", NULL, 0, NULL, 0);
	assert_int_equal(r.status, 401);
	assert_null(strstr(r.body, "tier0_"));
	do_request(f, &r, "GET", "/secure-metrics", wrong, 1, NULL, 0);
	assert_int_equal(r.status, 401);
	do_request(f, &r, "GET", "/secure-metrics", longer, 1, NULL, 0);
	assert_int_equal(r.status, 401);
	do_request(f, &r, "GET", "/secure-metrics", right, 1, NULL, 0);
	assert_int_equal(r.status, 200);
	assert_prometheus_text(r.body);
}

static void test_server_routes_reject_duplicates_and_bad_paths(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(http_server_route(f->srv, "GET", "/hello", on_hello, f), T0_EDUP);
	assert_int_equal(http_server_route(f->srv, "GET", "relative", on_hello, f), T0_EINVAL);
	assert_int_equal(http_server_route(f->srv, "GET", "/x", NULL, f), T0_EINVAL);
}

static void test_server_listens_on_ipv6_loopback(void **state)
{
	struct fixture *f = *state;
	struct http_server *v6;
	struct result r;
	char err[128], url[128];
	struct http_req req = { .url = url, .timeout_ms = 5000 };

	v6 = http_server_new(f->l, "[::1]", 0, MAX_BODY, err, sizeof(err));
	if (!v6)
		skip(); /* no IPv6 loopback in this environment */
	assert_true(http_server_port(v6) > 0);
	assert_int_equal(http_server_route(v6, "GET", "/hello", on_hello, f), T0_OK);
	snprintf(url, sizeof(url), "http://[::1]:%d/hello", http_server_port(v6));
	memset(&r, 0, sizeof(r));
	r.f = f;
	assert_int_equal(http_request(f->l, &req, on_done, &r), T0_OK);
	run_for(f, 5000);
	assert_int_equal(r.status, 200);
	assert_string_equal(f->seen_remote, "::1");
	http_server_free(v6);
	run_for(f, 50);
}

static void on_sig(struct t0_loop *l, int signum, void *arg)
{
	*(int *)arg = signum;
	loop_stop(l);
}

static void test_loop_signal_reaches_callback(void **state)
{
	struct fixture *f = *state;
	int got = 0;

	assert_int_equal(loop_on_signal(f->l, SIGUSR1, on_sig, &got), T0_OK);
	raise(SIGUSR1);
	run_for(f, 2000);
	assert_int_equal(got, SIGUSR1);
}

static void test_loop_free_before_server_free_is_clean(void **state)
{
	struct fixture *f = *state;
	struct result r;

	do_request(f, &r, "GET", "/hello", NULL, 0, NULL, 0);
	assert_int_equal(r.status, 200);
	uv_close((uv_handle_t *)&f->guard, NULL);
	loop_free(f->l);
	http_server_free(f->srv); /* vhost already gone with the context */
	f->l = NULL;
	f->srv = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_server_get_route_returns_body_and_sees_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_unknown_path_404_wrong_method_405, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_post_body_within_limit_reaches_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_content_length_over_max_is_413_before_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_chunked_body_over_max_is_413, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_chunked_body_within_limit_is_decoded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_post_without_length_is_411, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_metrics_route_renders_prometheus_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_metrics_token_required, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_routes_reject_duplicates_and_bad_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_listens_on_ipv6_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop_signal_reaches_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop_free_before_server_free_is_clean, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
