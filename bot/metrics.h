/*
 * Process-wide metrics registry rendered in the Prometheus text exposition
 * format (version 0.0.4). Single-threaded: call only from the loop thread.
 *
 *   metrics_counter_add("tier0_http_requests_total",
 *                       "route=\"/healthz\",code=\"200\"", 1);
 *   metrics_histogram_observe("tier0_http_request_duration_seconds",
 *                             "route=\"/healthz\"", 0.012);
 *
 * A series is a metric name plus a label string; the label string is used
 * verbatim between the braces (NULL or "" for none), so callers pass
 * already-escaped values. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*.
 * A name keeps the type it was first used with; using it as another type
 * fails with T0_EINVAL. Past METRICS_MAX_SERIES (or the cap set with
 * metrics_set_max_series) new series are dropped and counted in
 * tier0_metrics_dropped_series_total.
 */
#ifndef T0_METRICS_H
#define T0_METRICS_H

#include <stddef.h>

#define METRICS_MAX_SERIES 2000
#define METRICS_MAX_NAME 128
#define METRICS_MAX_LABELS 512
#define METRICS_MAX_RENDER (8u * 1024 * 1024)

/* Upper bounds (seconds) of the fixed latency buckets; +Inf is implicit. */
#define METRICS_BUCKETS 11
extern const double metrics_buckets[METRICS_BUCKETS];

/* Help text shown in "# HELP"; the string is copied. Optional. */
int metrics_describe(const char *name, const char *help);

/* v must be >= 0 for counters. */
int metrics_counter_add(const char *name, const char *labels, double v);
int metrics_gauge_set(const char *name, const char *labels, double v);
int metrics_gauge_add(const char *name, const char *labels, double v);
/* Records one observation (seconds for latencies). */
int metrics_histogram_observe(const char *name, const char *labels, double v);

/*
 * Current value of a counter or gauge series, or the observation count of a
 * histogram series; -1 when the series does not exist. For tests and checks.
 */
double metrics_value(const char *name, const char *labels);

/* Renders every metric; *out is NUL-terminated, malloc'ed, the caller frees. */
int metrics_render(char **out, size_t *len);

/* Series dropped because of the cap since the last reset. */
size_t metrics_dropped(void);
/* 0 restores METRICS_MAX_SERIES. Existing series are kept. */
void metrics_set_max_series(size_t max);
/* Frees every series (tests, and process exit for a clean leak check). */
void metrics_reset(void);

#endif
