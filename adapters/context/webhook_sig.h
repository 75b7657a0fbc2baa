/*
 * Inbound webhook authentication: HMAC-SHA256 signatures over the raw body
 * and bearer tokens, always compared in constant time (CRYPTO_memcmp over
 * equal-length values), never logged.
 */
#ifndef T0_WEBHOOK_SIG_H
#define T0_WEBHOOK_SIG_H

#include <stddef.h>

/* Lowercase hex HMAC-SHA256 of body keyed with key; out holds 65 bytes. */
int webhook_hmac_hex(const char *key, const void *body, size_t len, char out[65]);

/*
 * PagerDuty V3: header "v1=<hex>[,v1=<hex>...]" (entries of other versions are
 * ignored). T0_OK when any v1 entry matches the HMAC under any of the secrets
 * (rotation: PagerDuty signs with each active secret, we may know several);
 * T0_EDENIED when none does; T0_EINVAL when the header is missing or has no
 * v1 entry. Every pair is compared, matched or not.
 */
int webhook_verify_pagerduty(const char *header, const char *const *secrets, size_t nsecrets,
			     const void *body, size_t len);

/* "sha256=<hex>" (GitHub style, also tier0's deployment webhook) with one secret. */
int webhook_verify_sha256(const char *header, const char *secret, const void *body, size_t len);

/* "Authorization: Bearer <token>": T0_OK, or T0_EDENIED (missing or wrong). */
int webhook_verify_bearer(const char *authorization, const char *token);

#endif
