#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/metrics.h"
#include "bot/t0.h"

static int setup(void **state)
{
	metrics_reset();
	metrics_set_max_series(0);
	return 0;
}

static int teardown(void **state)
{
	metrics_reset();
	metrics_set_max_series(0);
	return 0;
}

static char *render(void)
{
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(metrics_render(&out, &len), T0_OK);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	return out;
}

static void test_metrics_counter_adds_per_label_set(void **state)
{
	char *out;

	assert_int_equal(metrics_counter_add("tier0_req_total", "route=\"/a\",code=\"200\"", 1), T0_OK);
	assert_int_equal(metrics_counter_add("tier0_req_total", "route=\"/a\",code=\"200\"", 2), T0_OK);
	assert_int_equal(metrics_counter_add("tier0_req_total", "route=\"/b\",code=\"500\"", 1), T0_OK);
	assert_int_equal(metrics_counter_add("tier0_plain_total", NULL, 5), T0_OK);
	assert_int_equal(metrics_describe("tier0_req_total", "Requests served"), T0_OK);
	assert_true(metrics_value("tier0_req_total", "route=\"/a\",code=\"200\"") == 3);
	assert_true(metrics_value("tier0_req_total", "route=\"/b\",code=\"500\"") == 1);
	assert_true(metrics_value("tier0_req_total", "route=\"/c\"") == -1);
	out = render();
	assert_non_null(strstr(out, "# HELP tier0_req_total Requests served\n"
				    "# TYPE tier0_req_total counter\n"
				    "tier0_req_total{route=\"/a\",code=\"200\"} 3\n"
				    "tier0_req_total{route=\"/b\",code=\"500\"} 1\n"));
	assert_non_null(strstr(out, "# TYPE tier0_plain_total counter\ntier0_plain_total 5\n"));
	free(out);
}

static void test_metrics_rejects_bad_input_and_type_changes(void **state)
{
	assert_int_equal(metrics_counter_add("tier0_x_total", NULL, -1), T0_EINVAL);
	assert_int_equal(metrics_counter_add("9bad", NULL, 1), T0_EINVAL);
	assert_int_equal(metrics_counter_add("bad-name", NULL, 1), T0_EINVAL);
	assert_int_equal(metrics_counter_add("tier0_x_total", "a=\"1\"\nevil 1", 1), T0_EINVAL);
	assert_int_equal(metrics_counter_add("tier0_x_total", "a=\"}\"", 1), T0_EINVAL);
	assert_int_equal(metrics_counter_add("tier0_x_total", NULL, 1), T0_OK);
	assert_int_equal(metrics_gauge_set("tier0_x_total", NULL, 1), T0_EINVAL);
	assert_int_equal(metrics_histogram_observe("tier0_x_total", NULL, 1), T0_EINVAL);
	assert_int_equal(metrics_describe("tier0_x_total", "two\nlines"), T0_EINVAL);
}

static void test_metrics_gauge_sets_and_adds(void **state)
{
	char *out;

	assert_int_equal(metrics_gauge_set("tier0_inflight", NULL, 4), T0_OK);
	assert_int_equal(metrics_gauge_add("tier0_inflight", NULL, -1.5), T0_OK);
	assert_true(metrics_value("tier0_inflight", NULL) == 2.5);
	out = render();
	assert_non_null(strstr(out, "# TYPE tier0_inflight gauge\ntier0_inflight 2.5\n"));
	free(out);
}

static void test_metrics_histogram_buckets_are_cumulative(void **state)
{
	char *out, *sum;

	/* 0.005 is on a bound: le is inclusive. */
	assert_int_equal(metrics_histogram_observe("tier0_lat_seconds", "route=\"/h\"", 0.005), T0_OK);
	assert_int_equal(metrics_histogram_observe("tier0_lat_seconds", "route=\"/h\"", 0.03), T0_OK);
	assert_int_equal(metrics_histogram_observe("tier0_lat_seconds", "route=\"/h\"", 0.7), T0_OK);
	assert_int_equal(metrics_histogram_observe("tier0_lat_seconds", "route=\"/h\"", 42), T0_OK);
	assert_true(metrics_value("tier0_lat_seconds", "route=\"/h\"") == 4);
	out = render();
	assert_non_null(strstr(out, "# TYPE tier0_lat_seconds histogram\n"));
	assert_non_null(strstr(out, "tier0_lat_seconds_bucket{route=\"/h\",le=\"0.005\"} 1\n"
				    "tier0_lat_seconds_bucket{route=\"/h\",le=\"0.01\"} 1\n"
				    "tier0_lat_seconds_bucket{route=\"/h\",le=\"0.025\"} 1\n"
				    "tier0_lat_seconds_bucket{route=\"/h\",le=\"0.05\"} 2\n"));
	assert_non_null(strstr(out, "tier0_lat_seconds_bucket{route=\"/h\",le=\"0.5\"} 2\n"
				    "tier0_lat_seconds_bucket{route=\"/h\",le=\"1\"} 3\n"));
	assert_non_null(strstr(out, "tier0_lat_seconds_bucket{route=\"/h\",le=\"10\"} 3\n"
				    "tier0_lat_seconds_bucket{route=\"/h\",le=\"+Inf\"} 4\n"
				    "tier0_lat_seconds_sum{route=\"/h\"} "));
	assert_non_null(strstr(out, "tier0_lat_seconds_count{route=\"/h\"} 4\n"));
	sum = strstr(out, "tier0_lat_seconds_sum{route=\"/h\"} ") + strlen("tier0_lat_seconds_sum{route=\"/h\"} ");
	assert_true(fabs(strtod(sum, NULL) - 42.735) < 1e-9);
	free(out);
}

static void test_metrics_histogram_without_labels(void **state)
{
	char *out;

	assert_int_equal(metrics_histogram_observe("tier0_plain_seconds", NULL, 2), T0_OK);
	out = render();
	assert_non_null(strstr(out, "tier0_plain_seconds_bucket{le=\"2.5\"} 1\n"));
	assert_non_null(strstr(out, "tier0_plain_seconds_bucket{le=\"+Inf\"} 1\n"
				    "tier0_plain_seconds_sum 2\ntier0_plain_seconds_count 1\n"));
	free(out);
}

static void test_metrics_series_cap_drops_and_counts(void **state)
{
	char labels[32], *out;

	metrics_set_max_series(3);
	for (int i = 0; i < 5; i++) {
		snprintf(labels, sizeof(labels), "n=\"%d\"", i);
		metrics_counter_add("tier0_many_total", labels, 1);
	}
	/* Existing series still count past the cap. */
	assert_int_equal(metrics_counter_add("tier0_many_total", "n=\"0\"", 1), T0_OK);
	assert_int_equal(metrics_counter_add("tier0_many_total", "n=\"9\"", 1), T0_EINVAL);
	assert_int_equal(metrics_dropped(), 3);
	assert_true(metrics_value("tier0_many_total", "n=\"0\"") == 2);
	assert_true(metrics_value("tier0_many_total", "n=\"3\"") == -1);
	out = render();
	assert_non_null(strstr(out, "tier0_metrics_dropped_series_total 3\n"));
	assert_null(strstr(out, "n=\"4\""));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_metrics_counter_adds_per_label_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_rejects_bad_input_and_type_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_gauge_sets_and_adds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_histogram_buckets_are_cumulative, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_histogram_without_labels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_series_cap_drops_and_counts, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
