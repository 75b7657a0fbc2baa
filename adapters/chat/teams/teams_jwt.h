/*
 * Verification of the Bot Connector's bearer tokens (no I/O): a key set
 * loaded from the Bot Framework JWKS, and the checks every inbound request
 * passes before its body is looked at: RS256/384/512 signature with the key
 * named by the token's kid, issuer, audience = the bot's app id, exp/nbf with
 * clock skew, the key endorsed for the activity's channel, and the serviceurl
 * claim equal to the activity's serviceUrl. See docs/TEAMS.md.
 */
#ifndef T0_TEAMS_JWT_H
#define T0_TEAMS_JWT_H

#include <stddef.h>
#include <stdint.h>

#define TEAMS_JWT_MAX_TOKEN 16384
#define TEAMS_JWKS_MAX_KEYS 64
#define TEAMS_JWT_SKEW_MS (5 * 60 * 1000)
#define TEAMS_JWT_ISSUER "https://api.botframework.com"

/* Why a token was refused; also the "reason" label of the auth failure metric. */
enum teams_auth {
	TEAMS_AUTH_OK = 0,
	TEAMS_AUTH_MISSING,      /* no Authorization: Bearer header */
	TEAMS_AUTH_MALFORMED,    /* not a compact JWS with JSON header and claims */
	TEAMS_AUTH_ALG,          /* not RS256/RS384/RS512 */
	TEAMS_AUTH_UNKNOWN_KID,  /* no key with that id (after one refresh) */
	TEAMS_AUTH_SIGNATURE,
	TEAMS_AUTH_ISSUER,
	TEAMS_AUTH_AUDIENCE,
	TEAMS_AUTH_EXPIRED,
	TEAMS_AUTH_NOT_YET_VALID,
	TEAMS_AUTH_ENDORSEMENT,  /* the key is not endorsed for the activity's channel */
	TEAMS_AUTH_SERVICEURL,   /* serviceurl claim differs from the activity's serviceUrl */
	TEAMS_AUTH_NO_KEYS,      /* the key set could not be fetched */
	TEAMS_AUTH__COUNT
};

const char *teams_auth_reason(int a);

struct teams_jwks;

struct teams_jwks *teams_jwks_new(void);
void teams_jwks_free(struct teams_jwks *k);
/*
 * Replaces the keys with those of a JWKS document ({"keys":[{kty, kid, n, e
 * or x5c, endorsements}]}). Keys that are not RSA signing keys are skipped.
 * T0_EPARSE (keys unchanged) when the document has no usable key.
 */
int teams_jwks_load(struct teams_jwks *k, const char *json, size_t len, size_t *nkeys);
size_t teams_jwks_count(const struct teams_jwks *k);
int teams_jwks_has(const struct teams_jwks *k, const char *kid);

/* What the token must say. Strings are borrowed. */
struct teams_jwt_expect {
	const char *issuer;      /* TEAMS_JWT_ISSUER */
	const char *audience;    /* the bot's app id */
	const char *service_url; /* the activity's serviceUrl */
	const char *channel_id;  /* the activity's channelId ("msteams") */
	int64_t now_ms;
	int64_t skew_ms;
};

/*
 * The token's kid (from its header) into kid; 0, or -1 when the token is
 * malformed or has no kid.
 */
int teams_jwt_kid(const char *token, char *kid, size_t kidlen);

/*
 * Checks token against the key set and e; returns enum teams_auth. Never
 * reads more than TEAMS_JWT_MAX_TOKEN bytes of token.
 */
int teams_jwt_verify(const struct teams_jwks *k, const char *token,
		     const struct teams_jwt_expect *e);

/* base64url without padding (JWT segments); exposed for the test fakes. */
int teams_b64url_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap,
			size_t *outlen);
/* NUL-terminated into out (needs 4*ceil(n/3)+1 bytes); returns the length. */
size_t teams_b64url_encode(const unsigned char *in, size_t n, char *out, size_t outcap);

#endif
