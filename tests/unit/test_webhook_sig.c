/*
 * Webhook authentication: HMAC-SHA256 hex against a published vector (RFC
 * 4231 case 2) and against OpenSSL computed here, PagerDuty's
 * X-PagerDuty-Signature with several signatures and several secrets
 * (rotation), bad and malformed signatures, the sha256= form, bearer tokens.
 */
#include "adapters/context/webhook_sig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/t0.h"

/* OpenSSL's own answer, hex, for comparison with the helper. */
static void openssl_hex(const char *key, const char *body, size_t len, char out[65])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)body, len,
			     mac, &n));
	assert_int_equal(n, 32);
	for (unsigned int i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

static char *fixture(const char *rel, size_t *len)
{
	char path[1024];
	FILE *fp;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", T0_FIXTURES, rel);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static void test_webhook_hmac_matches_rfc4231_vector(void **state)
{
	char hex[65];

	assert_int_equal(webhook_hmac_hex("Jefe", "what do ya want for nothing?", 28, hex), T0_OK);
	assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_webhook_hmac_matches_openssl_over_fixture(void **state)
{
	size_t len;
	char *body = fixture("pagerduty/webhook_v3_incident_triggered.json", &len);
	char ours[65], theirs[65];

	assert_int_equal(webhook_hmac_hex("whsec-test-1", body, len, ours), T0_OK);
	openssl_hex("whsec-test-1", body, len, theirs);
	assert_string_equal(ours, theirs);
	free(body);
}

static void test_webhook_pagerduty_accepts_a_valid_signature(void **state)
{
	const char *secrets[] = { "s3cret" };
	const char *body = "{\"event\":{}}";
	char hex[65], header[128];

	openssl_hex("s3cret", body, strlen(body), hex);
	snprintf(header, sizeof(header), "v1=%s", hex);
	assert_int_equal(webhook_verify_pagerduty(header, secrets, 1, body, strlen(body)), T0_OK);
	/* Upper-case hex and surrounding spaces are the same signature. */
	for (char *p = header; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 32);
	snprintf(header + strlen(header), sizeof(header) - strlen(header), " ");
	assert_int_equal(webhook_verify_pagerduty(header, secrets, 1, body, strlen(body)), T0_OK);
}

static void test_webhook_pagerduty_rotation_several_signatures_and_secrets(void **state)
{
	size_t len;
	char *body = fixture("pagerduty/webhook_v3_incident_acknowledged.json", &len);
	char old_hex[65], new_hex[65], header[300];
	const char *only_old[] = { "old-secret" };
	const char *only_new[] = { "new-secret" };
	const char *both[] = { "unrelated", "new-secret" };
	const char *neither[] = { "other-1", "other-2" };

	openssl_hex("old-secret", body, len, old_hex);
	openssl_hex("new-secret", body, len, new_hex);
	/* PagerDuty signs with every active secret during a rotation. */
	snprintf(header, sizeof(header), "v1=%s,v1=%s", old_hex, new_hex);
	assert_int_equal(webhook_verify_pagerduty(header, only_old, 1, body, len), T0_OK);
	assert_int_equal(webhook_verify_pagerduty(header, only_new, 1, body, len), T0_OK);
	assert_int_equal(webhook_verify_pagerduty(header, both, 2, body, len), T0_OK);
	assert_int_equal(webhook_verify_pagerduty(header, neither, 2, body, len), T0_EDENIED);
	/* We know both secrets, PagerDuty sends only the new signature. */
	snprintf(header, sizeof(header), "v1=%s", new_hex);
	assert_int_equal(webhook_verify_pagerduty(header, both, 2, body, len), T0_OK);
	/* Another version's entry is ignored, the v1 entry still counts. */
	snprintf(header, sizeof(header), "v2=%s, v1=%s", old_hex, new_hex);
	assert_int_equal(webhook_verify_pagerduty(header, only_new, 1, body, len), T0_OK);
	assert_int_equal(webhook_verify_pagerduty(header, only_old, 1, body, len), T0_EDENIED);
	free(body);
}

static void test_webhook_pagerduty_refuses_altered_body_and_bad_headers(void **state)
{
	const char *secrets[] = { "s3cret" };
	char body[] = "{\"event\":{\"id\":\"1\"}}";
	char hex[65], header[128];

	openssl_hex("s3cret", body, strlen(body), hex);
	snprintf(header, sizeof(header), "v1=%s", hex);
	body[5] = 'E'; /* one byte changed after signing */
	assert_int_equal(webhook_verify_pagerduty(header, secrets, 1, body, strlen(body)),
			 T0_EDENIED);
	body[5] = 'e';
	assert_int_equal(webhook_verify_pagerduty(NULL, secrets, 1, body, strlen(body)), T0_EINVAL);
	assert_int_equal(webhook_verify_pagerduty("", secrets, 1, body, strlen(body)), T0_EINVAL);
	assert_int_equal(webhook_verify_pagerduty("v1=abc", secrets, 1, body, strlen(body)),
			 T0_EINVAL);
	assert_int_equal(webhook_verify_pagerduty(hex, secrets, 1, body, strlen(body)), T0_EINVAL);
	header[10] = 'z'; /* not hex */
	assert_int_equal(webhook_verify_pagerduty(header, secrets, 1, body, strlen(body)),
			 T0_EINVAL);
	/* No secret configured: nothing can verify. */
	snprintf(header, sizeof(header), "v1=%s", hex);
	assert_int_equal(webhook_verify_pagerduty(header, secrets, 0, body, strlen(body)), T0_EINVAL);
}

static void test_webhook_sha256_form(void **state)
{
	const char *body = "{\"service\":\"payment-api\"}";
	char hex[65], header[128];

	openssl_hex("deploy-secret", body, strlen(body), hex);
	snprintf(header, sizeof(header), "sha256=%s", hex);
	assert_int_equal(webhook_verify_sha256(header, "deploy-secret", body, strlen(body)), T0_OK);
	assert_int_equal(webhook_verify_sha256(header, "other", body, strlen(body)), T0_EDENIED);
	assert_int_equal(webhook_verify_sha256(hex, "deploy-secret", body, strlen(body)), T0_EINVAL);
	assert_int_equal(webhook_verify_sha256(NULL, "deploy-secret", body, strlen(body)),
			 T0_EINVAL);
}

static void test_webhook_bearer(void **state)
{
	assert_int_equal(webhook_verify_bearer("Bearer am-token", "am-token"), T0_OK);
	assert_int_equal(webhook_verify_bearer("bearer am-token", "am-token"), T0_OK);
	assert_int_equal(webhook_verify_bearer("Bearer am-tokeN", "am-token"), T0_EDENIED);
	assert_int_equal(webhook_verify_bearer("Bearer am-token-longer", "am-token"), T0_EDENIED);
	assert_int_equal(webhook_verify_bearer("Basic am-token", "am-token"), T0_EDENIED);
	assert_int_equal(webhook_verify_bearer(NULL, "am-token"), T0_EDENIED);
	/* Nothing configured: no authentication asked for. */
	assert_int_equal(webhook_verify_bearer(NULL, NULL), T0_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_webhook_hmac_matches_rfc4231_vector),
		cmocka_unit_test(test_webhook_hmac_matches_openssl_over_fixture),
		cmocka_unit_test(test_webhook_pagerduty_accepts_a_valid_signature),
		cmocka_unit_test(test_webhook_pagerduty_rotation_several_signatures_and_secrets),
		cmocka_unit_test(test_webhook_pagerduty_refuses_altered_body_and_bad_headers),
		cmocka_unit_test(test_webhook_sha256_form),
		cmocka_unit_test(test_webhook_bearer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
