/* Token buckets, their specs, and circuit breakers (bot/ratelimit.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "bot/log.h"
#include "bot/ratelimit.h"
#include "bot/t0.h"

#define MIN (60 * 1000LL)

static void test_ratelimit_spec_parses_and_formats(void **state)
{
	struct rl_spec s;
	char buf[32];

	assert_int_equal(rl_spec_parse("3/10m", &s), T0_OK);
	assert_int_equal(s.capacity, 3);
	assert_int_equal(s.period_ms, 10 * MIN);
	rl_spec_format(&s, buf, sizeof(buf));
	assert_string_equal(buf, "3/10m");
	assert_int_equal(rl_spec_parse("5/h", &s), T0_OK);
	assert_int_equal(s.period_ms, 3600 * 1000LL);
	assert_int_equal(rl_spec_parse("100/30s", &s), T0_OK);
	assert_int_equal(s.period_ms, 30000);
	assert_int_equal(rl_spec_parse("1/1d", &s), T0_OK);
	rl_spec_format(&s, buf, sizeof(buf));
	assert_string_equal(buf, "1/1d");
	for (const char *const *bad = (const char *const[]){ "", "3", "/10m", "0/10m", "3/0m",
							     "3/10x", "-1/1m", "3/", "a/1m",
							     "3/10m ", "99999999999/1s", NULL };
	     *bad; bad++)
		assert_int_equal(rl_spec_parse(*bad, &s), T0_EINVAL);
}

static void test_ratelimit_durations(void **state)
{
	int64_t ms;
	char buf[32];

	assert_int_equal(rl_duration_parse("30s", &ms), T0_OK);
	assert_int_equal(ms, 30000);
	assert_int_equal(rl_duration_parse("250ms", &ms), T0_OK);
	assert_int_equal(ms, 250);
	assert_int_equal(rl_duration_parse("2h", &ms), T0_OK);
	assert_int_equal(ms, 7200000);
	assert_int_equal(rl_duration_parse("45", &ms), T0_OK);
	assert_int_equal(ms, 45000);
	assert_int_equal(rl_duration_parse("0s", &ms), T0_EINVAL);
	assert_int_equal(rl_duration_parse("1y", &ms), T0_EINVAL);
	assert_int_equal(rl_duration_parse("m", &ms), T0_EINVAL);
	rl_duration_format(200000, buf, sizeof(buf));
	assert_string_equal(buf, "3m20s");
	rl_duration_format(1, buf, sizeof(buf));
	assert_string_equal(buf, "1s"); /* rounded up: never "try again in 0s" */
	rl_duration_format(3 * 3600 * 1000 + 5 * MIN, buf, sizeof(buf));
	assert_string_equal(buf, "3h5m");
}

static void test_ratelimit_bucket_allows_burst_then_refills(void **state)
{
	struct ratelimiter *rl = ratelimiter_new(0);
	struct rl_spec s;
	int64_t retry = 0, t = 1000000;

	rl_spec_parse("3/10m", &s);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimiter_take(rl, "user:alice", &s, 1, t, &retry), T0_OK);
	assert_int_equal(ratelimiter_take(rl, "user:alice", &s, 1, t, &retry), T0_ERATELIMIT);
	/* One token comes back every 10m / 3 = 200 s. */
	assert_int_equal(retry, 200000);
	/* Another key has its own bucket. */
	assert_int_equal(ratelimiter_take(rl, "user:bob", &s, 1, t, &retry), T0_OK);
	assert_int_equal(ratelimiter_take(rl, "user:alice", &s, 1, t + 199999, &retry),
			 T0_ERATELIMIT);
	assert_int_equal(retry, 1);
	assert_int_equal(ratelimiter_take(rl, "user:alice", &s, 1, t + 200000, &retry), T0_OK);
	assert_int_equal(ratelimiter_take(rl, "user:alice", &s, 1, t + 200000, &retry),
			 T0_ERATELIMIT);
	/* Idle for a long time: the bucket is full again, not more than full. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(ratelimiter_take(rl, "user:alice", &s, 1, t + 100 * MIN, &retry),
				 T0_OK);
	assert_int_equal(ratelimiter_take(rl, "user:alice", &s, 1, t + 100 * MIN, &retry),
			 T0_ERATELIMIT);
	/* A cost above the capacity can never pass. */
	assert_int_equal(ratelimiter_take(rl, "user:carol", &s, 4, t, &retry), T0_ERATELIMIT);
	assert_int_equal(retry, -1);
	ratelimiter_free(rl);
}

static void test_ratelimit_take_all_is_all_or_nothing(void **state)
{
	struct ratelimiter *rl = ratelimiter_new(0);
	struct rl_spec user, global;
	int64_t retry = 0, t = 5000;
	size_t failed = 99;

	rl_spec_parse("5/1m", &user);
	rl_spec_parse("2/1m", &global);
	struct rl_check checks[] = { { "user:alice", &user, 1 }, { "global", &global, 1 } };

	assert_int_equal(ratelimiter_take_all(rl, checks, 2, t, &failed, &retry), T0_OK);
	assert_int_equal(ratelimiter_take_all(rl, checks, 2, t, &failed, &retry), T0_OK);
	assert_int_equal(ratelimiter_take_all(rl, checks, 2, t, &failed, &retry), T0_ERATELIMIT);
	assert_int_equal(failed, 1);
	assert_int_equal(retry, 30000);
	/* The refused call took nothing from the user bucket: 3 left. */
	assert_true(ratelimiter_tokens(rl, "user:alice", &user, t) > 2.99);
	assert_true(ratelimiter_tokens(rl, "user:alice", &user, t) < 3.01);
	ratelimiter_free(rl);
}

static void test_ratelimit_charge_goes_into_debt(void **state)
{
	struct ratelimiter *rl = ratelimiter_new(0);
	struct rl_spec tokens;
	int64_t retry = 0, t = 0;

	/* LLM tokens per user per hour: known only after the answer. */
	rl_spec_parse("1000/1h", &tokens);
	assert_int_equal(ratelimiter_take(rl, "llm:alice", &tokens, 1, t, &retry), T0_OK);
	assert_int_equal(ratelimiter_charge(rl, "llm:alice", &tokens, 1500, t), T0_OK);
	assert_int_equal(ratelimiter_take(rl, "llm:alice", &tokens, 1, t, &retry), T0_ERATELIMIT);
	/* 501 tokens of debt plus 1 needed, at 1000 per hour. */
	assert_int_equal(retry, (502 * 3600000LL + 999) / 1000);
	ratelimiter_free(rl);
}

static void test_ratelimit_table_is_bounded(void **state)
{
	struct ratelimiter *rl = ratelimiter_new(4);
	struct rl_spec s;
	char key[16];
	int64_t retry;

	rl_spec_parse("1/1m", &s);
	for (int i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(ratelimiter_take(rl, key, &s, 1, 0, &retry), T0_OK);
	}
	/* Full of live state: a new key is refused (fail closed). */
	assert_int_equal(ratelimiter_take(rl, "k4", &s, 1, 0, &retry), T0_ERATELIMIT);
	assert_int_equal(ratelimiter_count(rl), 4);
	/* Once the buckets refilled they carry nothing and make room. */
	assert_int_equal(ratelimiter_take(rl, "k4", &s, 1, 2 * MIN, &retry), T0_OK);
	assert_true(ratelimiter_count(rl) <= 4);
	ratelimiter_free(rl);
}

static void test_ratelimit_breaker_opens_after_consecutive_failures(void **state)
{
	struct breaker_set *bs = breaker_set_new(0);
	int64_t retry = 0, t = 10000, pause = 15 * MIN;

	assert_int_equal(breaker_allow(bs, "restart", t, &retry), T0_OK);
	assert_int_equal(breaker_record(bs, "restart", 0, 3, pause, t), 0);
	assert_int_equal(breaker_record(bs, "restart", 0, 3, pause, t), 0);
	/* A success in between resets the count. */
	assert_int_equal(breaker_record(bs, "restart", 1, 3, pause, t), 0);
	assert_int_equal(breaker_failures(bs, "restart"), 0);
	assert_int_equal(breaker_record(bs, "restart", 0, 3, pause, t), 0);
	assert_int_equal(breaker_record(bs, "restart", 0, 3, pause, t), 0);
	assert_int_equal(breaker_allow(bs, "restart", t, &retry), T0_OK);
	assert_int_equal(breaker_record(bs, "restart", 0, 3, pause, t), 1);
	assert_int_equal(breaker_allow(bs, "restart", t + 1000, &retry), T0_ERATELIMIT);
	assert_int_equal(retry, pause - 1000);
	/* Other actions are not affected. */
	assert_int_equal(breaker_allow(bs, "scale", t, &retry), T0_OK);
	/* After the pause one trial goes through; a failure opens it again at once. */
	assert_int_equal(breaker_allow(bs, "restart", t + pause, &retry), T0_OK);
	assert_int_equal(breaker_record(bs, "restart", 0, 3, pause, t + pause), 1);
	assert_int_equal(breaker_allow(bs, "restart", t + pause + 1, &retry), T0_ERATELIMIT);
	/* A success after the next pause closes it. */
	assert_int_equal(breaker_record(bs, "restart", 1, 3, pause, t + 2 * pause), 0);
	assert_int_equal(breaker_allow(bs, "restart", t + 2 * pause, &retry), T0_OK);
	/* Manual reset. */
	breaker_record(bs, "scale", 0, 1, pause, t);
	assert_int_equal(breaker_allow(bs, "scale", t, &retry), T0_ERATELIMIT);
	breaker_reset(bs, "scale");
	assert_int_equal(breaker_allow(bs, "scale", t, &retry), T0_OK);
	/* threshold 0: never opens */
	for (int i = 0; i < 10; i++)
		assert_int_equal(breaker_record(bs, "sync", 0, 0, pause, t), 0);
	assert_int_equal(breaker_allow(bs, "sync", t, &retry), T0_OK);
	breaker_set_free(bs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ratelimit_spec_parses_and_formats),
		cmocka_unit_test(test_ratelimit_durations),
		cmocka_unit_test(test_ratelimit_bucket_allows_burst_then_refills),
		cmocka_unit_test(test_ratelimit_take_all_is_all_or_nothing),
		cmocka_unit_test(test_ratelimit_charge_goes_into_debt),
		cmocka_unit_test(test_ratelimit_table_is_bounded),
		cmocka_unit_test(test_ratelimit_breaker_opens_after_consecutive_failures),
	};

	log_set_level(LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
