/*
 * A fake Bot Framework on 127.0.0.1, built on fake_http: the OpenID metadata
 * (the real document from the fixtures, its jwks_uri pointed here), a JWKS
 * with an RSA key generated for the test, the OAuth2 token endpoint (the real
 * token response), and the Bot Connector (routes scripted by the test, every
 * call recorded). It also signs tokens the way the Bot Connector does.
 *
 *   struct fake_bf *fb = fake_bf_new(loop_uv(l), T0_FIXTURES);
 *   cfg: teams.openid_url = fake_bf_openid_url(fb), token_url = fake_bf_token_url(fb)
 *   activity.serviceUrl = fake_bf_service_url(fb)
 *   char *jwt = fake_bf_sign(fb, &(struct fake_bf_claims){ .aud = APP, ... });
 */
#ifndef T0_FAKE_BOTFRAMEWORK_H
#define T0_FAKE_BOTFRAMEWORK_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct fake_bf;
struct fake_http;
struct fake_http_req;

#define FAKE_BF_KID "t0-test-key-1"
#define FAKE_BF_KID2 "t0-test-key-2"
#define FAKE_BF_ISSUER "https://api.botframework.com"
/* access_token of fixtures/teams/auth_token_response.json */
#define FAKE_BF_ACCESS_TOKEN "eyJhbGciOiJIUzI1Ni..."

/* NULL on failure. fixtures: the shared fixtures folder (T0_FIXTURES). */
struct fake_bf *fake_bf_new(uv_loop_t *uv, const char *fixtures);
void fake_bf_free(struct fake_bf *fb);

struct fake_http *fake_bf_http(struct fake_bf *fb);
/* Owned by fb, stable until fake_bf_free. */
const char *fake_bf_openid_url(struct fake_bf *fb);
const char *fake_bf_token_url(struct fake_bf *fb);
/* Base URL of the fake connector, with a trailing slash: http://127.0.0.1:P/amer/ */
const char *fake_bf_service_url(struct fake_bf *fb);

/*
 * What the JWKS serves from now on: key 1 (FAKE_BF_KID), and key 2
 * (FAKE_BF_KID2) when with_second; endorsements ["msteams"] unless
 * endorse is given (e.g. "skype").
 */
int fake_bf_serve_keys(struct fake_bf *fb, int with_second, const char *endorse);
/* The same JWKS document (caller frees). */
char *fake_bf_jwks_json(struct fake_bf *fb, int with_second, const char *endorse);

struct fake_bf_claims {
	const char *iss;        /* NULL: FAKE_BF_ISSUER */
	const char *aud;
	const char *serviceurl; /* NULL: no claim */
	int64_t exp_s, nbf_s;   /* 0: no claim */
	const char *kid;        /* NULL: FAKE_BF_KID */
	int key;                /* 0: key 1, 1: key 2, 2: a key never served */
	const char *alg;        /* NULL: RS256 */
};

/* A compact JWS (caller frees). */
char *fake_bf_sign(struct fake_bf *fb, const struct fake_bf_claims *c);

/* "/amer/v3/conversations/<conv>[/activities[/<activity>]]" percent-encoded as the client must. */
void fake_bf_path(char *out, size_t outlen, const char *conv, const char *suffix,
		  const char *activity);

/* Requests to method + path so far. */
size_t fake_bf_count(struct fake_bf *fb, const char *method, const char *path);
/* The nth (0-based) such request, or NULL. */
const struct fake_http_req *fake_bf_find(struct fake_bf *fb, const char *method, const char *path,
					 size_t nth);

#endif
