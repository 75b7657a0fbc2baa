/* libcurl is loaded by the first outbound request, never at start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "bot/curl_api.h"
#include "bot/loop.h"
#include "bot/t0.h"

static void test_curl_is_loaded_on_first_use_only(void **state)
{
	char err[256];
	struct t0_loop *l = loop_new(err, sizeof(err));

	assert_non_null(l);
	assert_false(t0_curl_loaded());
	assert_int_equal(loop_curl_ready(l), T0_OK);
	assert_true(t0_curl_loaded());
	assert_non_null(t0_curl.easy_init);
	/* Twice is the same multi, not a second init. */
	assert_int_equal(loop_curl_ready(l), T0_OK);
	loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_curl_is_loaded_on_first_use_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
