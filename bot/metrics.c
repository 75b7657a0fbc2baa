#include "bot/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/t0.h"

const double metrics_buckets[METRICS_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

static const char *const type_names[] = { "counter", "gauge", "histogram" };

struct metrics_series {
	char *labels;
	double value; /* counter or gauge */
	uint64_t buckets[METRICS_BUCKETS]; /* not cumulative; rendered cumulative */
	uint64_t count;
	double sum;
};

struct metrics_family {
	char *name;
	char *help;
	int type; /* -1 while only described */
	struct metrics_series *series;
	size_t nseries, cap;
};

static struct metrics_family *families;
static size_t nfamilies, families_cap;
static size_t total_series;
static size_t max_series = METRICS_MAX_SERIES;
static size_t dropped;

#define DROPPED_NAME "tier0_metrics_dropped_series_total"

static int name_ok(const char *name)
{
	size_t n;

	if (!name || !*name)
		return 0;
	n = strlen(name);
	if (n >= METRICS_MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    c == '_' || c == ':';

		if (!alpha && (i == 0 || c < '0' || c > '9'))
			return 0;
	}
	return 1;
}

/* A label string must stay on one line and inside its braces. */
static int labels_ok(const char *labels)
{
	if (strlen(labels) >= METRICS_MAX_LABELS)
		return 0;
	return strpbrk(labels, "\n\r{}") == NULL;
}

static struct metrics_family *family_find(const char *name)
{
	for (size_t i = 0; i < nfamilies; i++)
		if (!strcmp(families[i].name, name))
			return &families[i];
	return NULL;
}

static struct metrics_family *family_get(const char *name)
{
	struct metrics_family *f = family_find(name);

	if (f)
		return f;
	if (nfamilies == families_cap) {
		size_t ncap = families_cap ? families_cap * 2 : 32;
		struct metrics_family *nf = realloc(families, ncap * sizeof(*nf));

		if (!nf)
			return NULL;
		families = nf;
		families_cap = ncap;
	}
	f = &families[nfamilies];
	memset(f, 0, sizeof(*f));
	f->type = -1;
	f->name = strdup(name);
	if (!f->name)
		return NULL;
	nfamilies++;
	return f;
}

static void count_drop(void)
{
	dropped++;
}

/* Finds or creates the series; NULL when invalid, out of memory or capped. */
static struct metrics_series *series_get(const char *name, const char *labels, int type)
{
	struct metrics_family *f;
	struct metrics_series *s;

	if (!labels)
		labels = "";
	if (!name_ok(name) || !labels_ok(labels))
		return NULL;
	f = family_get(name);
	if (!f)
		return NULL;
	if (f->type == -1)
		f->type = type;
	if (f->type != type)
		return NULL;
	for (size_t i = 0; i < f->nseries; i++)
		if (!strcmp(f->series[i].labels, labels))
			return &f->series[i];
	if (total_series >= max_series) {
		count_drop();
		return NULL;
	}
	if (f->nseries == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 4;
		struct metrics_series *ns = realloc(f->series, ncap * sizeof(*ns));

		if (!ns)
			return NULL;
		f->series = ns;
		f->cap = ncap;
	}
	s = &f->series[f->nseries];
	memset(s, 0, sizeof(*s));
	s->labels = strdup(labels);
	if (!s->labels)
		return NULL;
	f->nseries++;
	total_series++;
	return s;
}

int metrics_describe(const char *name, const char *help)
{
	struct metrics_family *f;
	char *h;

	if (!name_ok(name) || !help || strpbrk(help, "\n\\"))
		return T0_EINVAL;
	f = family_get(name);
	if (!f)
		return T0_ENOMEM;
	h = strdup(help);
	if (!h)
		return T0_ENOMEM;
	free(f->help);
	f->help = h;
	return T0_OK;
}

int metrics_counter_add(const char *name, const char *labels, double v)
{
	struct metrics_series *s;

	if (!(v >= 0))
		return T0_EINVAL;
	s = series_get(name, labels, METRICS_COUNTER);
	if (!s)
		return T0_EINVAL;
	s->value += v;
	return T0_OK;
}

int metrics_gauge_set(const char *name, const char *labels, double v)
{
	struct metrics_series *s = series_get(name, labels, METRICS_GAUGE);

	if (!s)
		return T0_EINVAL;
	s->value = v;
	return T0_OK;
}

int metrics_gauge_add(const char *name, const char *labels, double v)
{
	struct metrics_series *s = series_get(name, labels, METRICS_GAUGE);

	if (!s)
		return T0_EINVAL;
	s->value += v;
	return T0_OK;
}

int metrics_histogram_observe(const char *name, const char *labels, double v)
{
	struct metrics_series *s;

	if (isnan(v))
		return T0_EINVAL;
	s = series_get(name, labels, METRICS_HISTOGRAM);
	if (!s)
		return T0_EINVAL;
	for (size_t i = 0; i < METRICS_BUCKETS; i++) {
		if (v <= metrics_buckets[i]) {
			s->buckets[i]++;
			break;
		}
	}
	s->count++;
	s->sum += v;
	return T0_OK;
}

double metrics_value(const char *name, const char *labels)
{
	struct metrics_family *f;

	if (!name)
		return -1;
	if (!labels)
		labels = "";
	f = family_find(name);
	if (!f)
		return -1;
	for (size_t i = 0; i < f->nseries; i++) {
		struct metrics_series *s = &f->series[i];

		if (strcmp(s->labels, labels))
			continue;
		return f->type == METRICS_HISTOGRAM ? (double)s->count : s->value;
	}
	return -1;
}

struct render_buf {
	char *p;
	size_t len, cap;
	int err;
};

static void rb_printf(struct render_buf *rb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void rb_printf(struct render_buf *rb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (rb->err)
		return;
	for (;;) {
		size_t room = rb->cap - rb->len;

		va_start(ap, fmt);
		n = vsnprintf(rb->p + rb->len, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			rb->err = T0_EINVAL;
			return;
		}
		if ((size_t)n < room) {
			rb->len += (size_t)n;
			return;
		}
		if (rb->cap >= METRICS_MAX_RENDER) {
			rb->err = T0_ETOOBIG;
			return;
		}
		size_t ncap = rb->cap * 2;
		char *np = realloc(rb->p, ncap);

		if (!np) {
			rb->err = T0_ENOMEM;
			return;
		}
		rb->p = np;
		rb->cap = ncap;
	}
}

/* Prometheus parses Go float syntax, which includes C's %g output. */
static void fmt_value(char *buf, size_t len, double v)
{
	if (isinf(v))
		snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
	else if (isnan(v))
		snprintf(buf, len, "NaN");
	else {
		/* Shortest of the two that reads back as the same double. */
		snprintf(buf, len, "%.15g", v);
		if (strtod(buf, NULL) != v)
			snprintf(buf, len, "%.17g", v);
	}
}

static void render_family(struct render_buf *rb, const struct metrics_family *f)
{
	char v[64];

	if (f->type < 0)
		return;
	rb_printf(rb, "# HELP %s %s\n# TYPE %s %s\n", f->name,
		  f->help ? f->help : "tier0 metric", f->name, type_names[f->type]);
	for (size_t i = 0; i < f->nseries; i++) {
		const struct metrics_series *s = &f->series[i];
		const char *sep = *s->labels ? "," : "";
		uint64_t cum = 0;

		if (f->type != METRICS_HISTOGRAM) {
			fmt_value(v, sizeof(v), s->value);
			if (*s->labels)
				rb_printf(rb, "%s{%s} %s\n", f->name, s->labels, v);
			else
				rb_printf(rb, "%s %s\n", f->name, v);
			continue;
		}
		for (size_t b = 0; b < METRICS_BUCKETS; b++) {
			cum += s->buckets[b];
			fmt_value(v, sizeof(v), metrics_buckets[b]);
			rb_printf(rb, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, s->labels,
				  sep, v, (unsigned long long)cum);
		}
		rb_printf(rb, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, s->labels, sep,
			  (unsigned long long)s->count);
		fmt_value(v, sizeof(v), s->sum);
		if (*s->labels) {
			rb_printf(rb, "%s_sum{%s} %s\n", f->name, s->labels, v);
			rb_printf(rb, "%s_count{%s} %llu\n", f->name, s->labels,
				  (unsigned long long)s->count);
		} else {
			rb_printf(rb, "%s_sum %s\n", f->name, v);
			rb_printf(rb, "%s_count %llu\n", f->name, (unsigned long long)s->count);
		}
	}
}

int metrics_render(char **out, size_t *len)
{
	struct render_buf rb = { 0 };
	int rc = T0_OK;

	*out = NULL;
	*len = 0;
	rb.cap = 4096;
	rb.p = malloc(rb.cap);
	if (!rb.p)
		return T0_ENOMEM;
	rb.p[0] = '\0';
	for (size_t i = 0; i < nfamilies; i++)
		render_family(&rb, &families[i]);
	/* Kept outside the registry so the cap can never hide it. */
	rb_printf(&rb, "# HELP " DROPPED_NAME " Series dropped because the series cap was reached\n"
		  "# TYPE " DROPPED_NAME " counter\n" DROPPED_NAME " %zu\n", dropped);
	if (rb.err) {
		rc = rb.err;
		free(rb.p);
		goto out;
	}
	*out = rb.p;
	*len = rb.len;
out:
	return rc;
}

size_t metrics_dropped(void)
{
	return dropped;
}

void metrics_set_max_series(size_t max)
{
	max_series = max ? max : METRICS_MAX_SERIES;
}

void metrics_reset(void)
{
	for (size_t i = 0; i < nfamilies; i++) {
		for (size_t j = 0; j < families[i].nseries; j++)
			free(families[i].series[j].labels);
		free(families[i].series);
		free(families[i].name);
		free(families[i].help);
	}
	free(families);
	families = NULL;
	nfamilies = families_cap = 0;
	total_series = 0;
	dropped = 0;
}
