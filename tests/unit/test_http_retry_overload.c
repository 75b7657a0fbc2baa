/* http_client additions for LLM providers: 529 "overloaded" retries and retry-after-ms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "bot/http_client.h"
#include "bot/log.h"
#include "bot/loop.h"
#include "bot/metrics.h"
#include "bot/t0.h"
#include "tests/fakes/fake_http.h"

struct fx {
	struct t0_loop *l;
	struct fake_http *fh;
	int calls, rc, attempts;
	long status;
	int64_t elapsed_ms;
};

static void on_done(const struct http_resp *resp, void *arg)
{
	struct fx *f = arg;

	f->calls++;
	f->rc = resp->rc;
	f->status = resp->status;
	f->attempts = resp->attempts;
	f->elapsed_ms = resp->elapsed_ms;
	loop_stop(f->l);
}

static int setup(void **state)
{
	static struct fx f;
	char err[128];

	memset(&f, 0, sizeof(f));
	log_set_level(LOG_LEVEL_ERR);
	f.l = loop_new(err, sizeof(err));
	f.fh = f.l ? fake_http_new(loop_uv(f.l)) : NULL;
	if (!f.fh)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	fake_http_free(f->fh);
	loop_free(f->l);
	metrics_reset();
	return 0;
}

static void post(struct fx *f, int retry_overloaded)
{
	char url[256];
	struct http_req req = { .method = "POST", .body = "{}", .body_len = 2, .timeout_ms = 5000,
				.max_retries = 2, .retry_overloaded = retry_overloaded,
				.backoff_base_ms = 5000, .backoff_cap_ms = 5000 };

	snprintf(url, sizeof(url), "%s", fake_http_url(f->fh, "/v1/messages"));
	req.url = url;
	assert_int_equal(http_request(f->l, &req, on_done, f), T0_OK);
	loop_run(f->l);
	assert_int_equal(f->calls, 1);
}

static void test_529_is_not_retried_unless_asked(void **state)
{
	struct fx *f = *state;

	fake_http_add(f->fh, "POST", "/v1/messages", 529, "retry-after-ms: 10\r\n", "{}", 2, 0);
	fake_http_add(f->fh, "POST", "/v1/messages", 200, NULL, "ok", 2, 0);
	post(f, 0);
	assert_int_equal(f->rc, T0_OK);
	assert_int_equal(f->status, 529);
	assert_int_equal(f->attempts, 1);
}

static void test_529_retried_honouring_retry_after_ms(void **state)
{
	struct fx *f = *state;

	/* backoff is 5 s here: a quick retry proves the header was used */
	fake_http_add(f->fh, "POST", "/v1/messages", 529, "retry-after-ms: 250\r\n", "{}", 2, 0);
	fake_http_add(f->fh, "POST", "/v1/messages", 200, NULL, "ok", 2, 0);
	post(f, 1);
	assert_int_equal(f->status, 200);
	assert_int_equal(f->attempts, 2);
	assert_true(f->elapsed_ms >= 240);
	assert_true(f->elapsed_ms < 3000);
}

static void test_retry_after_ms_wins_over_retry_after(void **state)
{
	struct fx *f = *state;

	fake_http_add(f->fh, "POST", "/v1/messages", 429, "Retry-After: 30\r\nretry-after-ms: 20\r\n",
		      "{}", 2, 0);
	fake_http_add(f->fh, "POST", "/v1/messages", 200, NULL, "ok", 2, 0);
	post(f, 0);
	assert_int_equal(f->status, 200);
	assert_int_equal(f->attempts, 2);
	assert_true(f->elapsed_ms < 3000);
}

static void test_bad_retry_after_ms_falls_back_to_retry_after(void **state)
{
	struct fx *f = *state;

	fake_http_add(f->fh, "POST", "/v1/messages", 503, "Retry-After: 0\r\nretry-after-ms: soon\r\n",
		      "{}", 2, 0);
	fake_http_add(f->fh, "POST", "/v1/messages", 200, NULL, "ok", 2, 0);
	post(f, 0);
	assert_int_equal(f->status, 200);
	assert_true(f->elapsed_ms < 3000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_529_is_not_retried_unless_asked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_529_retried_honouring_retry_after_ms, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_retry_after_ms_wins_over_retry_after, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_retry_after_ms_falls_back_to_retry_after,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
