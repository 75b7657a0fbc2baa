#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "bot/log.h"
#include "bot/t0.h"

static char *buf;
static size_t buflen;
static FILE *mem;

static int setup(void **state)
{
	mem = open_memstream(&buf, &buflen);
	log_set_stream(mem);
	log_set_level(LOG_LEVEL_INFO);
	t0_set_fake_now_ms(1764151200123LL); /* 2025-11-26T10:00:00.123Z */
	return 0;
}

static int teardown(void **state)
{
	log_set_stream(NULL);
	fclose(mem);
	free(buf);
	buf = NULL;
	t0_set_fake_now_ms(0);
	return 0;
}

static json_t *last_line(void)
{
	fflush(mem);
	return json_loads(buf, 0, NULL);
}

static void test_log_line_is_one_json_object_with_typed_fields(void **state)
{
	json_t *j;

	log_info("store", "open", "path=/var/lib/tier0 db.db version=3 neg=-4 zero=0 lead=007");
	j = last_line();
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "time")), "2025-11-26T10:00:00.123Z");
	assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
	assert_string_equal(json_string_value(json_object_get(j, "component")), "store");
	assert_string_equal(json_string_value(json_object_get(j, "msg")), "open");
	/* A value may hold spaces up to the next " key=". */
	assert_string_equal(json_string_value(json_object_get(j, "path")), "/var/lib/tier0 db.db");
	assert_int_equal(json_integer_value(json_object_get(j, "version")), 3);
	assert_int_equal(json_integer_value(json_object_get(j, "neg")), -4);
	assert_int_equal(json_integer_value(json_object_get(j, "zero")), 0);
	assert_string_equal(json_string_value(json_object_get(j, "lead")), "007");
	assert_int_equal(buf[buflen - 1], '\n');
	json_decref(j);
}

static void test_log_escapes_quotes_and_control_characters(void **state)
{
	json_t *j;

	log_warn("x", "y", "text=%s", "a\"b\\c\nd\x01");
	j = last_line();
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "text")), "a\"b\\c\nd\x01");
	/* The newline inside the value is escaped: the only raw one ends the line. */
	assert_ptr_equal(strchr(buf, '\n'), buf + buflen - 1);
	json_decref(j);
}

static void test_log_level_filters_before_formatting(void **state)
{
	log_debug("x", "hidden", "n=%d", 1);
	fflush(mem);
	assert_int_equal(buflen, 0);
	log_set_level(LOG_LEVEL_DEBUG);
	log_debug("x", "shown", "");
	fflush(mem);
	assert_true(buflen > 0);
}

static void test_log_free_text_becomes_detail(void **state)
{
	json_t *j;

	log_err("x", "y", "Something Broke badly");
	j = last_line();
	assert_string_equal(json_string_value(json_object_get(j, "detail")), "Something Broke badly");
	json_decref(j);
}

static void test_log_level_names_parse(void **state)
{
	int l = -1;

	assert_int_equal(log_level_parse("debug", &l), 0);
	assert_int_equal(l, LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse("warn", &l), 0);
	assert_int_equal(l, LOG_LEVEL_WARN);
	assert_int_equal(log_level_parse("loud", &l), -1);
}

static void test_log_overlong_line_is_truncated_but_valid_json(void **state)
{
	char big[8000];
	json_t *j;

	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("x", "big", "v=%s", big);
	j = last_line();
	assert_non_null(j);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_log_line_is_one_json_object_with_typed_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_escapes_quotes_and_control_characters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_level_filters_before_formatting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_free_text_becomes_detail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_level_names_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_overlong_line_is_truncated_but_valid_json, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
