/*
 * Token checks without the network: a JWKS with a test RSA key, tokens signed
 * with it, and each way a token can be wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "adapters/chat/teams/teams_jwt.h"
#include "bot/log.h"
#include "bot/t0.h"
#include "tests/fakes/fake_botframework.h"

#define APP "3f1c7a2e-9b4d-4e8a-a1c2-0d5e6f7a8b9c"
#define SURL "https://smba.trafficmanager.net/amer/"
#define NOW_S 1764151200LL

struct fx {
	uv_loop_t uv;
	struct fake_bf *fb;
	struct teams_jwks *k;
	struct teams_jwt_expect e;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char *jwks;

	log_set_level(LOG_LEVEL_ERR);
	if (!f || uv_loop_init(&f->uv))
		return -1;
	f->fb = fake_bf_new(&f->uv, T0_FIXTURES);
	f->k = teams_jwks_new();
	if (!f->fb || !f->k)
		return -1;
	jwks = fake_bf_jwks_json(f->fb, 0, NULL);
	if (teams_jwks_load(f->k, jwks, strlen(jwks), NULL) != T0_OK)
		return -1;
	free(jwks);
	f->e = (struct teams_jwt_expect){ .issuer = TEAMS_JWT_ISSUER, .audience = APP,
					  .service_url = SURL, .channel_id = "msteams",
					  .now_ms = NOW_S * 1000, .skew_ms = TEAMS_JWT_SKEW_MS };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	teams_jwks_free(f->k);
	fake_bf_free(f->fb);
	uv_run(&f->uv, UV_RUN_DEFAULT);
	uv_loop_close(&f->uv);
	free(f);
	return 0;
}

static struct fake_bf_claims good(void)
{
	return (struct fake_bf_claims){ .aud = APP, .serviceurl = SURL, .exp_s = NOW_S + 3600,
					.nbf_s = NOW_S - 60 };
}

static int check(struct fx *f, const struct fake_bf_claims *c)
{
	char *t = fake_bf_sign(f->fb, c);
	int rc;

	assert_non_null(t);
	rc = teams_jwt_verify(f->k, t, &f->e);
	free(t);
	return rc;
}

static void test_jwt_valid_token_passes(void **state)
{
	struct fx *f = *state;
	struct fake_bf_claims c = good();

	assert_int_equal(check(f, &c), TEAMS_AUTH_OK);
	c.alg = "RS512";
	assert_int_equal(check(f, &c), TEAMS_AUTH_OK);
}

static void test_jwt_tampered_signature_and_payload_fail(void **state)
{
	struct fx *f = *state;
	struct fake_bf_claims c = good();
	char *t = fake_bf_sign(f->fb, &c), *dot;
	size_t n = strlen(t);

	/* One flipped character of the signature. */
	t[n - 5] = t[n - 5] == 'A' ? 'B' : 'A';
	assert_int_equal(teams_jwt_verify(f->k, t, &f->e), TEAMS_AUTH_SIGNATURE);
	free(t);

	/* Claims swapped for others (a different audience) under the old signature. */
	t = fake_bf_sign(f->fb, &c);
	c.aud = "someone-else";
	{
		char *other = fake_bf_sign(f->fb, &c);
		char *p1 = strchr(t, '.') + 1, *p2 = strchr(other, '.') + 1;
		char forged[8192];

		dot = strchr(p1, '.');
		snprintf(forged, sizeof(forged), "%.*s%.*s%s", (int)(p1 - t), t,
			 (int)(strchr(p2, '.') - p2), p2, dot);
		assert_int_equal(teams_jwt_verify(f->k, forged, &f->e), TEAMS_AUTH_SIGNATURE);
		free(other);
	}
	free(t);

	/* Signed by a key the JWKS does not hold, under a served kid. */
	c = good();
	c.key = 2;
	assert_int_equal(check(f, &c), TEAMS_AUTH_SIGNATURE);
}

static void test_jwt_claims_each_checked(void **state)
{
	struct fx *f = *state;
	struct fake_bf_claims c;

	c = good();
	c.iss = "https://sts.windows.net/evil/";
	assert_int_equal(check(f, &c), TEAMS_AUTH_ISSUER);
	c = good();
	c.aud = "00000000-0000-0000-0000-000000000000";
	assert_int_equal(check(f, &c), TEAMS_AUTH_AUDIENCE);
	c = good();
	c.exp_s = NOW_S - 301; /* past the 5 minutes of skew */
	assert_int_equal(check(f, &c), TEAMS_AUTH_EXPIRED);
	c.exp_s = NOW_S - 299; /* within the skew */
	assert_int_equal(check(f, &c), TEAMS_AUTH_OK);
	c = good();
	c.exp_s = 0;
	assert_int_equal(check(f, &c), TEAMS_AUTH_EXPIRED);
	c = good();
	c.nbf_s = NOW_S + 301;
	assert_int_equal(check(f, &c), TEAMS_AUTH_NOT_YET_VALID);
	c.nbf_s = NOW_S + 299;
	assert_int_equal(check(f, &c), TEAMS_AUTH_OK);
	c = good();
	c.serviceurl = "https://evil.example.com/";
	assert_int_equal(check(f, &c), TEAMS_AUTH_SERVICEURL);
	c.serviceurl = NULL;
	assert_int_equal(check(f, &c), TEAMS_AUTH_SERVICEURL);
	c = good();
	c.kid = "unknown-kid";
	assert_int_equal(check(f, &c), TEAMS_AUTH_UNKNOWN_KID);
	c = good();
	c.alg = "HS256";
	assert_int_equal(check(f, &c), TEAMS_AUTH_ALG);
}

static void test_jwt_endorsement_must_name_channel(void **state)
{
	struct fx *f = *state;
	struct fake_bf_claims c = good();
	char *jwks = fake_bf_jwks_json(f->fb, 0, "skype");

	assert_int_equal(teams_jwks_load(f->k, jwks, strlen(jwks), NULL), T0_OK);
	free(jwks);
	assert_int_equal(check(f, &c), TEAMS_AUTH_ENDORSEMENT);
}

static void test_jwt_malformed_inputs(void **state)
{
	struct fx *f = *state;
	char big[TEAMS_JWT_MAX_TOKEN + 10];
	char kid[64];

	assert_int_equal(teams_jwt_verify(f->k, "", &f->e), TEAMS_AUTH_MISSING);
	assert_int_equal(teams_jwt_verify(f->k, "abc", &f->e), TEAMS_AUTH_MALFORMED);
	assert_int_equal(teams_jwt_verify(f->k, "a.b.c.d", &f->e), TEAMS_AUTH_MALFORMED);
	assert_int_equal(teams_jwt_verify(f->k, "!!.??.**", &f->e), TEAMS_AUTH_MALFORMED);
	assert_int_equal(teams_jwt_verify(f->k, "e30.e30.e30", &f->e), TEAMS_AUTH_ALG); /* {} */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '.';
	big[20] = '.';
	assert_int_equal(teams_jwt_verify(f->k, big, &f->e), TEAMS_AUTH_MALFORMED);
	assert_int_equal(teams_jwt_kid("e30.e30.e30", kid, sizeof(kid)), -1);
	{
		struct fake_bf_claims c = good();
		char *t = fake_bf_sign(f->fb, &c);

		assert_int_equal(teams_jwt_kid(t, kid, sizeof(kid)), 0);
		assert_string_equal(kid, FAKE_BF_KID);
		free(t);
	}
}

static void test_jwks_rejects_documents_without_usable_keys(void **state)
{
	struct fx *f = *state;
	const char *bad[] = {
		"{}", "{\"keys\":[]}", "not json",
		"{\"keys\":[{\"kty\":\"EC\",\"kid\":\"x\"}]}",
		"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"x\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", /* tiny */
	};
	size_t n = 9;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(teams_jwks_load(f->k, bad[i], strlen(bad[i]), &n), T0_EPARSE);
	/* The old keys stay. */
	assert_int_equal(teams_jwks_count(f->k), 1);
	assert_true(teams_jwks_has(f->k, FAKE_BF_KID));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_jwt_valid_token_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jwt_tampered_signature_and_payload_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jwt_claims_each_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jwt_endorsement_must_name_channel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jwt_malformed_inputs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jwks_rejects_documents_without_usable_keys, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
