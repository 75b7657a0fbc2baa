/* store_conv_ref_*: conversation references for proactive posts (Teams). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/log.h"
#include "bot/t0.h"
#include "store/store.h"

static int setup(void **state)
{
	struct store *st = NULL;
	char err[256];

	log_set_level(LOG_LEVEL_ERR);
	if (store_open(":memory:", &st, err, sizeof(err)) != T0_OK)
		return -1;
	*state = st;
	return 0;
}

static int teardown(void **state)
{
	store_close(*state);
	return 0;
}

static void test_conv_ref_put_get_roundtrip_and_replace(void **state)
{
	struct store *st = *state;
	char *ref = NULL;
	int stale = -1;
	int64_t upd = 0;

	assert_int_equal(store_conv_ref_get(st, "teams", "19:a@thread.tacv2", &ref, &stale, &upd),
			 T0_ENOTFOUND);
	assert_null(ref);
	assert_int_equal(store_conv_ref_put(st, "teams", "19:a@thread.tacv2",
					    "{\"serviceUrl\":\"https://smba.example/amer/\"}", 1000),
			 T0_OK);
	assert_int_equal(store_conv_ref_get(st, "teams", "19:a@thread.tacv2", &ref, &stale, &upd),
			 T0_OK);
	assert_string_equal(ref, "{\"serviceUrl\":\"https://smba.example/amer/\"}");
	assert_int_equal(stale, 0);
	assert_int_equal(upd, 1000);
	free(ref);

	/* Same conversation on another platform is another row. */
	assert_int_equal(store_conv_ref_get(st, "slack", "19:a@thread.tacv2", NULL, NULL, NULL),
			 T0_ENOTFOUND);

	assert_int_equal(store_conv_ref_put(st, "teams", "19:a@thread.tacv2",
					    "{\"serviceUrl\":\"https://smba.example/emea/\"}", 2000),
			 T0_OK);
	assert_int_equal(store_conv_ref_get(st, "teams", "19:a@thread.tacv2", &ref, NULL, &upd),
			 T0_OK);
	assert_string_equal(ref, "{\"serviceUrl\":\"https://smba.example/emea/\"}");
	assert_int_equal(upd, 2000);
	free(ref);
}

static void test_conv_ref_rejects_invalid_json(void **state)
{
	assert_int_equal(store_conv_ref_put(*state, "teams", "c1", "{not json", 1), T0_EINVAL);
	assert_int_equal(store_conv_ref_put(*state, NULL, "c1", "{}", 1), T0_EINVAL);
}

struct seen {
	int n;
	char ids[4][64];
	int stale[4];
};

static int collect(void *arg, const struct store_conv_ref *row)
{
	struct seen *s = arg;

	if (s->n < 4) {
		snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", row->conversation_id);
		s->stale[s->n] = row->stale;
	}
	s->n++;
	return 0;
}

static void test_conv_ref_stale_mark_and_revival(void **state)
{
	struct store *st = *state;
	struct seen s;
	int stale = 0;

	assert_int_equal(store_conv_ref_put(st, "teams", "c1", "{}", 1), T0_OK);
	assert_int_equal(store_conv_ref_put(st, "teams", "c2", "{}", 1), T0_OK);
	assert_int_equal(store_conv_ref_set_stale(st, "teams", "c1", 1, 5), T0_OK);
	assert_int_equal(store_conv_ref_set_stale(st, "teams", "nope", 1, 5), T0_ENOTFOUND);
	assert_int_equal(store_conv_ref_get(st, "teams", "c1", NULL, &stale, NULL), T0_OK);
	assert_int_equal(stale, 1);

	memset(&s, 0, sizeof(s));
	assert_int_equal(store_conv_ref_each(st, "teams", 0, collect, &s), T0_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ids[0], "c2");

	memset(&s, 0, sizeof(s));
	assert_int_equal(store_conv_ref_each(st, "teams", 1, collect, &s), T0_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.ids[0], "c1");
	assert_int_equal(s.stale[0], 1);

	/* The bot was added back: a new put clears the mark. */
	assert_int_equal(store_conv_ref_put(st, "teams", "c1", "{}", 9), T0_OK);
	assert_int_equal(store_conv_ref_get(st, "teams", "c1", NULL, &stale, NULL), T0_OK);
	assert_int_equal(stale, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_conv_ref_put_get_roundtrip_and_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conv_ref_rejects_invalid_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conv_ref_stale_mark_and_revival, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
