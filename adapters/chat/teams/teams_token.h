/*
 * Outbound authentication: OAuth2 client-credentials tokens for the Bot
 * Connector (scope https://api.botframework.com/.default), fetched at start,
 * cached until shortly before expiry and refreshed ahead of it, fetched anew
 * when the connector refuses one (401). Failed fetches are retried with
 * backoff; while there is no valid token the adapter is not ready.
 */
#ifndef T0_TEAMS_TOKEN_H
#define T0_TEAMS_TOKEN_H

#include <stddef.h>
#include <stdint.h>

struct t0_loop;
struct teams_token;

#define TEAMS_TOKEN_SCOPE "https://api.botframework.com/.default"
#define TEAMS_TOKEN_TIMEOUT_MS 10000
#define TEAMS_TOKEN_RETRY_MIN_MS 1000
#define TEAMS_TOKEN_RETRY_MAX_MS 60000
#define TEAMS_TOKEN_MAX_WAITERS 1024

struct teams_token *teams_token_new(struct t0_loop *l, const char *token_url, const char *app_id,
				    const char *secret);
/* Waiters get T0_ECLOSED. NULL is fine. */
void teams_token_free(struct teams_token *t);
int teams_token_start(struct teams_token *t);
void teams_token_stop(struct teams_token *t);

/* 1 while a token is cached and valid. */
int teams_token_ready(const struct teams_token *t);

/*
 * Calls cb exactly once with a valid token (borrowed for the call): at once
 * when one is cached, else after a fetch (rc != T0_OK and token NULL when the
 * fetch failed).
 */
typedef void (*teams_token_cb)(void *arg, int rc, const char *token);
void teams_token_get(struct teams_token *t, teams_token_cb cb, void *arg);

/* The connector refused token (401): forget it unless a newer one is cached already. */
void teams_token_invalidate(struct teams_token *t, const char *token);

/* Successful fetches so far (tests, metrics). */
uint64_t teams_token_fetches(const struct teams_token *t);

#endif
