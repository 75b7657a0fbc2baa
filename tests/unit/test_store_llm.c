/* llm_usage: rows per request, totals per UTC day and per user. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "bot/log.h"
#include "bot/t0.h"
#include "store/store.h"

static void add(struct store *st, int64_t ts, const char *user, int64_t in, int64_t out,
		double cost)
{
	struct store_llm_usage u = {
		.ts_ms = ts, .platform = "slack", .user_id = user, .channel = "C1",
		.provider = "anthropic", .model = "claude-haiku-4-5-20251001", .calls = 2,
		.input_tokens = in, .output_tokens = out, .cache_tokens = 10, .cost_usd = cost,
		.outcome = "answered",
	};

	assert_int_equal(store_llm_usage_add(st, &u), T0_OK);
}

static void test_store_llm_totals_by_day_and_user(void **state)
{
	struct store *st = NULL;
	struct store_llm_totals t;
	char err[256];
	const int64_t day1 = 1764151200000LL; /* 2025-11-26T10:00:00Z */

	log_set_level(LOG_LEVEL_ERR);
	assert_int_equal(store_open(":memory:", &st, err, sizeof(err)), T0_OK);
	add(st, day1, "alice", 100, 20, 0.5);
	add(st, day1 + 3600000, "alice", 50, 5, 0.25);
	add(st, day1 + 1000, "bob", 7, 3, 0.125);
	add(st, day1 - 10 * 3600000 - 1, "alice", 1000, 1000, 9); /* 2025-11-25T23:59:59.999Z */
	add(st, day1, NULL, 1, 1, 0.001);                          /* the bot itself (summaries) */

	assert_int_equal(store_llm_usage_totals(st, "2025-11-26", "alice", &t), T0_OK);
	assert_int_equal(t.requests, 2);
	assert_int_equal(t.input_tokens, 150 + 20); /* cache tokens count as input */
	assert_int_equal(t.output_tokens, 25);
	assert_true(t.cost_usd > 0.75 - 1e-12 && t.cost_usd < 0.75 + 1e-12);
	assert_int_equal(store_llm_usage_totals(st, "2025-11-26", NULL, &t), T0_OK);
	assert_int_equal(t.requests, 4);
	assert_int_equal(store_llm_usage_totals(st, "2025-11-25", "alice", &t), T0_OK);
	assert_int_equal(t.requests, 1);
	assert_int_equal(t.output_tokens, 1000);
	assert_int_equal(store_llm_usage_totals(st, "2025-11-27", NULL, &t), T0_OK);
	assert_int_equal(t.requests, 0);
	assert_true(t.cost_usd == 0);
	store_close(st);
}

static void test_store_llm_rejects_incomplete_rows(void **state)
{
	struct store *st = NULL;
	struct store_llm_usage u = { .ts_ms = 1, .provider = "openai", .outcome = "answered" };
	struct store_llm_totals t;
	char err[256];

	/* the CHECK failure below is logged at error level: expected */
	assert_int_equal(store_open(":memory:", &st, err, sizeof(err)), T0_OK);
	assert_int_equal(store_llm_usage_add(st, &u), T0_EINVAL); /* no model */
	u.model = "m";
	u.input_tokens = -1;
	assert_int_equal(store_llm_usage_add(st, &u), T0_EDB); /* CHECK constraint */
	assert_int_equal(store_llm_usage_add(NULL, &u), T0_EINVAL);
	assert_int_equal(store_llm_usage_totals(st, NULL, NULL, &t), T0_EINVAL);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_llm_totals_by_day_and_user),
		cmocka_unit_test(test_store_llm_rejects_incomplete_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
