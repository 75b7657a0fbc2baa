/*
 * The Bot Framework signing keys on the loop: OpenID metadata -> jwks_uri ->
 * JWKS, fetched at start, refreshed periodically, and on demand when a token
 * names a key id the set does not hold (one refresh, at most once per
 * TEAMS_KEYS_MISS_INTERVAL_MS, so made-up key ids cannot make us hammer the
 * metadata endpoint). Requests arriving meanwhile wait for the refresh.
 */
#ifndef T0_TEAMS_KEYS_H
#define T0_TEAMS_KEYS_H

#include <stdint.h>

struct t0_loop;
struct teams_keys;
struct teams_jwks;

#define TEAMS_KEYS_MISS_INTERVAL_MS 30000
#define TEAMS_KEYS_RETRY_MIN_MS 1000
#define TEAMS_KEYS_RETRY_MAX_MS 300000
#define TEAMS_KEYS_FETCH_TIMEOUT_MS 10000
#define TEAMS_KEYS_MAX_WAITERS 256

struct teams_keys *teams_keys_new(struct t0_loop *l, const char *openid_url, int refresh_s);
/* Waiters are called with T0_ECLOSED. NULL is fine. */
void teams_keys_free(struct teams_keys *k);
/* First fetch now; then every refresh_s (sooner after failures). */
int teams_keys_start(struct teams_keys *k);
void teams_keys_stop(struct teams_keys *k);

/* Borrowed; may change after any refresh. */
const struct teams_jwks *teams_keys_set(const struct teams_keys *k);
/* 1 once a key set is loaded. */
int teams_keys_ready(const struct teams_keys *k);

/*
 * For a token whose key id is unknown (kid NULL: no keys loaded yet): starts
 * a refresh (or joins the one under way) and calls cb once with T0_OK when
 * the refresh succeeded, or an error (usually later; before this returns
 * when the fetch cannot even start). T0_ERATELIMIT (cb never called)
 * when a key-id refresh ran less than TEAMS_KEYS_MISS_INTERVAL_MS ago and
 * none is under way; T0_ETOOBIG when too many requests wait already.
 */
typedef void (*teams_keys_cb)(void *arg, int rc);
int teams_keys_refresh(struct teams_keys *k, const char *kid, teams_keys_cb cb, void *arg);

/* Fetches so far (tests). */
uint64_t teams_keys_fetches(const struct teams_keys *k);

#endif
