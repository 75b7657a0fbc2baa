/*
 * Rate limits and circuit breakers, generic: actions use them today, the LLM
 * agent later (requests and tokens per user per hour).
 *
 * A limit is a token bucket written "N/period": "3/10m" holds at most 3
 * tokens and refills continuously at 3 per 10 minutes, so a burst of 3 is
 * allowed, then one more every 3 minutes 20 seconds. Buckets live in a
 * ratelimiter under string keys ("user:alice", "action:rollback", ...);
 * a key's bucket starts full.
 *
 *   struct rl_spec per_user;
 *   rl_spec_parse("10/1h", &per_user);
 *   int64_t retry_ms;
 *   if (ratelimiter_take(rl, "user:alice", &per_user, 1, t0_now_ms(), &retry_ms)
 *       == T0_ERATELIMIT) ... answer "try again in retry_ms" ...
 *
 * A circuit breaker counts consecutive failures per key; after `threshold`
 * of them it is open (refuses) for `pause_ms`. After the pause one trial is
 * let through: a success closes it, a failure opens it again at once.
 *
 * Everything is in memory, per process, and single-threaded (the loop).
 */
#ifndef T0_RATELIMIT_H
#define T0_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct rl_spec {
	uint32_t capacity; /* tokens: the burst */
	int64_t period_ms; /* time to refill `capacity` tokens */
};

#define RL_MAX_CAPACITY 1000000000u
#define RL_MAX_PERIOD_MS (366LL * 86400 * 1000)

/*
 * Durations: "500ms", "30s", "10m", "2h", "1d", "1w"; a bare number is
 * seconds. Returns T0_OK with *ms (> 0), or T0_EINVAL.
 */
int rl_duration_parse(const char *s, int64_t *ms);
/* "3m20s"-style rendering of a duration for people ("0s" for <= 0). */
void rl_duration_format(int64_t ms, char *out, size_t len);

/* "3/10m", "60/1m", "5/h" (a period without a number is one unit). T0_EINVAL when malformed. */
int rl_spec_parse(const char *s, struct rl_spec *out);
/* Back to text, e.g. "3/10m". */
void rl_spec_format(const struct rl_spec *spec, char *out, size_t len);

struct ratelimiter;

/*
 * max_keys bounds memory (0 = 10000). When full, buckets that have refilled
 * completely (they hold no state) are dropped; if none can be, a new key is
 * refused (fail closed) and counted.
 */
struct ratelimiter *ratelimiter_new(size_t max_keys);
void ratelimiter_free(struct ratelimiter *rl);

/*
 * Takes `cost` tokens from key's bucket. T0_OK, or T0_ERATELIMIT with
 * *retry_ms = how long until `cost` tokens are there (nothing taken). A cost
 * above the capacity can never pass: T0_ERATELIMIT with *retry_ms = -1.
 * retry_ms may be NULL.
 */
int ratelimiter_take(struct ratelimiter *rl, const char *key, const struct rl_spec *spec,
		     uint32_t cost, int64_t now_ms, int64_t *retry_ms);

/*
 * Takes from several buckets at once: every bucket or none. On
 * T0_ERATELIMIT *failed is the index of the first bucket that is short
 * (the one with the longest wait when several are) and *retry_ms its wait.
 */
struct rl_check {
	const char *key;
	const struct rl_spec *spec;
	uint32_t cost;
};
int ratelimiter_take_all(struct ratelimiter *rl, const struct rl_check *checks, size_t n,
			 int64_t now_ms, size_t *failed, int64_t *retry_ms);

/*
 * Charges `cost` after the fact (LLM tokens are known once the answer is
 * there): the bucket may go negative, and later takes wait until it has
 * refilled past zero.
 */
int ratelimiter_charge(struct ratelimiter *rl, const char *key, const struct rl_spec *spec,
		       uint32_t cost, int64_t now_ms);

/* Tokens left now (for tests and status pages); capacity when the key is unknown. */
double ratelimiter_tokens(struct ratelimiter *rl, const char *key, const struct rl_spec *spec,
			  int64_t now_ms);
size_t ratelimiter_count(const struct ratelimiter *rl);

struct breaker_set;

struct breaker_set *breaker_set_new(size_t max_keys);
void breaker_set_free(struct breaker_set *bs);

/*
 * T0_OK when key may run now, T0_ERATELIMIT while open (*retry_ms until the
 * pause ends; may be NULL).
 */
int breaker_allow(struct breaker_set *bs, const char *key, int64_t now_ms, int64_t *retry_ms);
/*
 * Records an outcome. Returns 1 when this failure opened the breaker, else 0.
 * threshold <= 0 disables the breaker for this key.
 */
int breaker_record(struct breaker_set *bs, const char *key, int success, int threshold,
		   int64_t pause_ms, int64_t now_ms);
/* Consecutive failures recorded for key (0 when unknown). */
int breaker_failures(struct breaker_set *bs, const char *key);
/* Closes the breaker by hand (an operator fixed the cause). */
void breaker_reset(struct breaker_set *bs, const char *key);

#endif
