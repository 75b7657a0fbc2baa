/*
 * Token buckets and circuit breakers in small bounded hash tables. Buckets
 * are refilled lazily when touched, so idle keys cost nothing but memory,
 * and a bucket that has refilled completely carries no state and may be
 * dropped when the table is full.
 */
#include "bot/ratelimit.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/log.h"
#include "bot/metrics.h"
#include "bot/t0.h"

#define RL_DEFAULT_MAX_KEYS 10000
#define RL_MAX_KEY_LEN 512

struct kv_entry {
	char *key;
	uint64_t hash;
	struct kv_entry *next;
	/* token bucket */
	double tokens;
	int64_t last_ms;
	int64_t period_ms; /* of the spec last used, to tell when it is full */
	uint32_t capacity;
	/* breaker */
	int failures;
	int64_t open_until_ms;
};

struct kv_table {
	struct kv_entry **slots;
	size_t nslots;
	size_t count;
	size_t max;
};

struct ratelimiter {
	struct kv_table t;
};

struct breaker_set {
	struct kv_table t;
};

static uint64_t kv_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static int kv_init(struct kv_table *t, size_t max)
{
	t->max = max ? max : RL_DEFAULT_MAX_KEYS;
	t->nslots = 64;
	while (t->nslots < t->max / 2 && t->nslots < (1u << 20))
		t->nslots *= 2;
	t->slots = calloc(t->nslots, sizeof(*t->slots));
	return t->slots ? T0_OK : T0_ENOMEM;
}

static void kv_clear(struct kv_table *t)
{
	for (size_t i = 0; t->slots && i < t->nslots; i++) {
		struct kv_entry *e = t->slots[i];

		while (e) {
			struct kv_entry *n = e->next;

			free(e->key);
			free(e);
			e = n;
		}
	}
	free(t->slots);
	t->slots = NULL;
}

static struct kv_entry *kv_find(struct kv_table *t, const char *key, uint64_t h)
{
	for (struct kv_entry *e = t->slots[h % t->nslots]; e; e = e->next)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* Drops every entry `idle` says carries no state; returns how many went. */
static size_t kv_sweep(struct kv_table *t, int (*idle)(const struct kv_entry *e, int64_t now),
		       int64_t now)
{
	size_t dropped = 0;

	for (size_t i = 0; i < t->nslots; i++) {
		struct kv_entry **pp = &t->slots[i];

		while (*pp) {
			struct kv_entry *e = *pp;

			if (idle(e, now)) {
				*pp = e->next;
				free(e->key);
				free(e);
				t->count--;
				dropped++;
				continue;
			}
			pp = &e->next;
		}
	}
	return dropped;
}

/* The entry for key, created when absent. NULL when the table is full of live state or on ENOMEM. */
static struct kv_entry *kv_get(struct kv_table *t, const char *key, int create,
			       int (*idle)(const struct kv_entry *e, int64_t now), int64_t now)
{
	uint64_t h;
	struct kv_entry *e;

	if (!key || strlen(key) > RL_MAX_KEY_LEN)
		return NULL;
	h = kv_hash(key);
	e = kv_find(t, key, h);
	if (e || !create)
		return e;
	if (t->count >= t->max && kv_sweep(t, idle, now) == 0) {
		metrics_counter_add("tier0_ratelimit_table_full_total", NULL, 1);
		log_warn("ratelimit", "table_full", "max=%zu", t->max);
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->key = strdup(key))) {
		free(e);
		return NULL;
	}
	e->hash = h;
	e->next = t->slots[h % t->nslots];
	t->slots[h % t->nslots] = e;
	t->count++;
	return e;
}

/* ---- durations and specs ---- */

int rl_duration_parse(const char *s, int64_t *ms)
{
	int64_t n = 0, unit = 1000;
	const char *p = s;

	if (!s || !ms || !isdigit((unsigned char)*p))
		return T0_EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		n = n * 10 + (*p - '0');
		if (n > RL_MAX_PERIOD_MS)
			return T0_EINVAL;
	}
	if (strcmp(p, "ms") == 0)
		unit = 1;
	else if (strcmp(p, "s") == 0 || *p == '\0')
		unit = 1000;
	else if (strcmp(p, "m") == 0)
		unit = 60 * 1000;
	else if (strcmp(p, "h") == 0)
		unit = 3600 * 1000;
	else if (strcmp(p, "d") == 0)
		unit = 86400 * 1000;
	else if (strcmp(p, "w") == 0)
		unit = 7LL * 86400 * 1000;
	else
		return T0_EINVAL;
	if (n == 0 || n > RL_MAX_PERIOD_MS / unit)
		return T0_EINVAL;
	*ms = n * unit;
	return T0_OK;
}

void rl_duration_format(int64_t ms, char *out, size_t len)
{
	int64_t s = (ms + 999) / 1000; /* round up: "try again in 0s" helps nobody */
	int64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60, sec = s % 60;

	if (ms <= 0) {
		snprintf(out, len, "0s");
		return;
	}
	if (d)
		snprintf(out, len, "%lldd%lldh", (long long)d, (long long)h);
	else if (h)
		snprintf(out, len, "%lldh%lldm", (long long)h, (long long)m);
	else if (m)
		snprintf(out, len, sec ? "%lldm%llds" : "%lldm", (long long)m, (long long)sec);
	else
		snprintf(out, len, "%llds", (long long)sec);
}

int rl_spec_parse(const char *s, struct rl_spec *out)
{
	const char *slash;
	char num[16], per[32];
	unsigned long long cap = 0;
	size_t nlen;

	if (!s || !out)
		return T0_EINVAL;
	slash = strchr(s, '/');
	if (!slash)
		return T0_EINVAL;
	nlen = (size_t)(slash - s);
	if (nlen == 0 || nlen >= sizeof(num) || strspn(s, "0123456789") != nlen)
		return T0_EINVAL;
	memcpy(num, s, nlen);
	num[nlen] = '\0';
	cap = strtoull(num, NULL, 10);
	if (cap == 0 || cap > RL_MAX_CAPACITY)
		return T0_EINVAL;
	slash++;
	if (!*slash || strlen(slash) + 2 > sizeof(per))
		return T0_EINVAL;
	/* "5/h" means one hour. */
	snprintf(per, sizeof(per), "%s%s", isdigit((unsigned char)*slash) ? "" : "1", slash);
	if (rl_duration_parse(per, &out->period_ms) != T0_OK)
		return T0_EINVAL;
	out->capacity = (uint32_t)cap;
	return T0_OK;
}

void rl_spec_format(const struct rl_spec *spec, char *out, size_t len)
{
	static const struct {
		int64_t ms;
		const char *unit;
	} units[] = { { 7LL * 86400000, "w" }, { 86400000, "d" }, { 3600000, "h" },
		      { 60000, "m" }, { 1000, "s" } };

	for (size_t i = 0; i < T0_ARRAY_LEN(units); i++) {
		if (spec->period_ms % units[i].ms == 0) {
			snprintf(out, len, "%u/%lld%s", spec->capacity,
				 (long long)(spec->period_ms / units[i].ms), units[i].unit);
			return;
		}
	}
	snprintf(out, len, "%u/%lldms", spec->capacity, (long long)spec->period_ms);
}

/* ---- token buckets ---- */

static int bucket_idle(const struct kv_entry *e, int64_t now)
{
	double rate = (double)e->capacity / (double)(e->period_ms > 0 ? e->period_ms : 1);

	return e->tokens + rate * (double)(now - e->last_ms) >= (double)e->capacity;
}

/* Refills e for spec up to now. A new entry starts full. */
static void bucket_refill(struct kv_entry *e, const struct rl_spec *spec, int64_t now, int fresh)
{
	double rate = (double)spec->capacity / (double)spec->period_ms;

	if (fresh) {
		e->tokens = spec->capacity;
	} else if (now > e->last_ms) {
		e->tokens += rate * (double)(now - e->last_ms);
		if (e->tokens > spec->capacity)
			e->tokens = spec->capacity;
	} else if (e->tokens > spec->capacity) {
		/* The spec shrank on reload. */
		e->tokens = spec->capacity;
	}
	if (now > e->last_ms || fresh)
		e->last_ms = now;
	e->capacity = spec->capacity;
	e->period_ms = spec->period_ms;
}

static int64_t bucket_wait(const struct kv_entry *e, const struct rl_spec *spec, uint32_t cost)
{
	double rate = (double)spec->capacity / (double)spec->period_ms;
	double missing = (double)cost - e->tokens;

	if (missing <= 0)
		return 0;
	return (int64_t)ceil(missing / rate);
}

struct ratelimiter *ratelimiter_new(size_t max_keys)
{
	struct ratelimiter *rl = calloc(1, sizeof(*rl));

	if (!rl)
		return NULL;
	if (kv_init(&rl->t, max_keys) != T0_OK) {
		free(rl);
		return NULL;
	}
	return rl;
}

void ratelimiter_free(struct ratelimiter *rl)
{
	if (!rl)
		return;
	kv_clear(&rl->t);
	free(rl);
}

size_t ratelimiter_count(const struct ratelimiter *rl)
{
	return rl ? rl->t.count : 0;
}

static int spec_ok(const struct rl_spec *spec)
{
	return spec && spec->capacity > 0 && spec->period_ms > 0;
}

int ratelimiter_take_all(struct ratelimiter *rl, const struct rl_check *checks, size_t n,
			 int64_t now_ms, size_t *failed, int64_t *retry_ms)
{
	struct kv_entry *entries[16];
	int64_t worst = 0;
	size_t worst_i = 0;
	int short_of = 0;

	if (!rl || (n && !checks) || n > T0_ARRAY_LEN(entries))
		return T0_EINVAL;
	for (size_t i = 0; i < n; i++) {
		struct kv_entry *e;
		int fresh;

		if (!spec_ok(checks[i].spec) || !checks[i].key)
			return T0_EINVAL;
		e = kv_get(&rl->t, checks[i].key, 0, bucket_idle, now_ms);
		fresh = e == NULL;
		if (!e)
			e = kv_get(&rl->t, checks[i].key, 1, bucket_idle, now_ms);
		if (!e) {
			/* Fail closed: a limit we cannot track is a limit reached. */
			if (failed)
				*failed = i;
			if (retry_ms)
				*retry_ms = checks[i].spec->period_ms;
			return T0_ERATELIMIT;
		}
		bucket_refill(e, checks[i].spec, now_ms, fresh);
		entries[i] = e;
		if (checks[i].cost > checks[i].spec->capacity) {
			if (failed)
				*failed = i;
			if (retry_ms)
				*retry_ms = -1;
			return T0_ERATELIMIT;
		}
		if (e->tokens < (double)checks[i].cost) {
			int64_t w = bucket_wait(e, checks[i].spec, checks[i].cost);

			if (!short_of || w > worst) {
				worst = w;
				worst_i = i;
			}
			short_of = 1;
		}
	}
	if (short_of) {
		if (failed)
			*failed = worst_i;
		if (retry_ms)
			*retry_ms = worst;
		return T0_ERATELIMIT;
	}
	for (size_t i = 0; i < n; i++)
		entries[i]->tokens -= (double)checks[i].cost;
	return T0_OK;
}

int ratelimiter_take(struct ratelimiter *rl, const char *key, const struct rl_spec *spec,
		     uint32_t cost, int64_t now_ms, int64_t *retry_ms)
{
	struct rl_check c = { .key = key, .spec = spec, .cost = cost };

	return ratelimiter_take_all(rl, &c, 1, now_ms, NULL, retry_ms);
}

int ratelimiter_charge(struct ratelimiter *rl, const char *key, const struct rl_spec *spec,
		       uint32_t cost, int64_t now_ms)
{
	struct kv_entry *e;
	int fresh;

	if (!rl || !key || !spec_ok(spec))
		return T0_EINVAL;
	e = kv_get(&rl->t, key, 0, bucket_idle, now_ms);
	fresh = e == NULL;
	if (!e)
		e = kv_get(&rl->t, key, 1, bucket_idle, now_ms);
	if (!e)
		return T0_ERATELIMIT;
	bucket_refill(e, spec, now_ms, fresh);
	e->tokens -= (double)cost;
	return T0_OK;
}

double ratelimiter_tokens(struct ratelimiter *rl, const char *key, const struct rl_spec *spec,
			  int64_t now_ms)
{
	struct kv_entry *e;

	if (!rl || !key || !spec_ok(spec))
		return 0;
	e = kv_get(&rl->t, key, 0, bucket_idle, now_ms);
	if (!e)
		return spec->capacity;
	bucket_refill(e, spec, now_ms, 0);
	return e->tokens;
}

/* ---- circuit breakers ---- */

static int breaker_idle(const struct kv_entry *e, int64_t now)
{
	return e->failures == 0 && e->open_until_ms <= now;
}

struct breaker_set *breaker_set_new(size_t max_keys)
{
	struct breaker_set *bs = calloc(1, sizeof(*bs));

	if (!bs)
		return NULL;
	if (kv_init(&bs->t, max_keys) != T0_OK) {
		free(bs);
		return NULL;
	}
	return bs;
}

void breaker_set_free(struct breaker_set *bs)
{
	if (!bs)
		return;
	kv_clear(&bs->t);
	free(bs);
}

int breaker_allow(struct breaker_set *bs, const char *key, int64_t now_ms, int64_t *retry_ms)
{
	struct kv_entry *e;

	if (!bs || !key)
		return T0_EINVAL;
	e = kv_get(&bs->t, key, 0, breaker_idle, now_ms);
	if (e && e->open_until_ms > now_ms) {
		if (retry_ms)
			*retry_ms = e->open_until_ms - now_ms;
		return T0_ERATELIMIT;
	}
	return T0_OK;
}

int breaker_record(struct breaker_set *bs, const char *key, int success, int threshold,
		   int64_t pause_ms, int64_t now_ms)
{
	struct kv_entry *e;

	if (!bs || !key)
		return 0;
	if (success) {
		e = kv_get(&bs->t, key, 0, breaker_idle, now_ms);
		if (e) {
			e->failures = 0;
			e->open_until_ms = 0;
		}
		return 0;
	}
	e = kv_get(&bs->t, key, 1, breaker_idle, now_ms);
	if (!e)
		return 0;
	if (e->failures < 1000000)
		e->failures++;
	if (threshold > 0 && e->failures >= threshold) {
		e->open_until_ms = now_ms + (pause_ms > 0 ? pause_ms : 0);
		return 1;
	}
	return 0;
}

int breaker_failures(struct breaker_set *bs, const char *key)
{
	struct kv_entry *e = bs ? kv_get(&bs->t, key, 0, breaker_idle, 0) : NULL;

	return e ? e->failures : 0;
}

void breaker_reset(struct breaker_set *bs, const char *key)
{
	struct kv_entry *e = bs ? kv_get(&bs->t, key, 0, breaker_idle, 0) : NULL;

	if (e) {
		e->failures = 0;
		e->open_until_ms = 0;
	}
}
