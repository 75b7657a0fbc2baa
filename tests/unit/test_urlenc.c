#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "bot/urlenc.h"

static void test_url_encode_keeps_unreserved_and_escapes_the_rest(void **state)
{
	char out[64];

	assert_int_equal(t0_url_encode("payment-api_v2.1~x", out, sizeof(out)), 0);
	assert_string_equal(out, "payment-api_v2.1~x");
	/* Nothing that could change a path or a query survives unescaped. */
	assert_int_equal(t0_url_encode("../a/b?c=d#e%2F f&\xc3\xa9", out, sizeof(out)), 0);
	assert_string_equal(out, "..%2Fa%2Fb%3Fc%3Dd%23e%252F%20f%26%C3%A9");
	assert_int_equal(t0_url_encode("", out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

static void test_url_encode_refuses_to_truncate(void **state)
{
	char out[8];

	/* "PABCDEF" fits exactly (7 + NUL); one more byte does not. */
	assert_int_equal(t0_url_encode("PABCDEF", out, sizeof(out)), 0);
	assert_string_equal(out, "PABCDEF");
	assert_int_equal(t0_url_encode("PABCDEFG", out, sizeof(out)), -1);
	assert_string_equal(out, "");
	/* An escape is never cut in half. */
	assert_int_equal(t0_url_encode("abcde/", out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(t0_url_encode("a", out, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_encode_keeps_unreserved_and_escapes_the_rest),
		cmocka_unit_test(test_url_encode_refuses_to_truncate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
