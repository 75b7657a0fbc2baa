#include "adapters/context/webhook_sig.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "bot/t0.h"

#define SIG_HEX 64
#define SIG_MAX_ENTRIES 16 /* signatures considered in one header */

int webhook_hmac_hex(const char *key, const void *body, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	if (!key || (!body && len))
		return T0_EINVAL;
	if (!HMAC(EVP_sha256(), key, (int)strlen(key), body ? body : (const void *)"", len, mac,
		  &maclen) ||
	    maclen != SHA256_DIGEST_LENGTH)
		return T0_EINVAL;
	for (unsigned int i = 0; i < maclen; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[SIG_HEX] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
	return T0_OK;
}

/* Copies a 64-hex-digit value lowercased into out; 0 when it is not one. */
static int take_hex(const char *s, size_t n, char out[65])
{
	if (n != SIG_HEX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return 0;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[SIG_HEX] = '\0';
	return 1;
}

int webhook_verify_pagerduty(const char *header, const char *const *secrets, size_t nsecrets,
			     const void *body, size_t len)
{
	char got[SIG_MAX_ENTRIES][65], want[65];
	size_t n = 0;
	const char *p = header;
	int match = 0;

	if (!header || !secrets || !nsecrets)
		return T0_EINVAL;
	while (*p && n < SIG_MAX_ENTRIES) {
		const char *end = p + strcspn(p, ",");
		const char *a = p, *b = end;

		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b - a > 3 && strncasecmp(a, "v1=", 3) == 0 && take_hex(a + 3, (size_t)(b - a - 3), got[n]))
			n++;
		p = *end ? end + 1 : end;
	}
	if (!n)
		return T0_EINVAL;
	for (size_t s = 0; s < nsecrets; s++) {
		if (!secrets[s] || webhook_hmac_hex(secrets[s], body, len, want) != T0_OK)
			continue;
		for (size_t i = 0; i < n; i++)
			match |= CRYPTO_memcmp(want, got[i], SIG_HEX) == 0;
	}
	OPENSSL_cleanse(want, sizeof(want));
	return match ? T0_OK : T0_EDENIED;
}

int webhook_verify_sha256(const char *header, const char *secret, const void *body, size_t len)
{
	char got[65], want[65];
	int ok;

	if (!header || !secret)
		return T0_EINVAL;
	while (isspace((unsigned char)*header))
		header++;
	if (strncasecmp(header, "sha256=", 7) != 0 ||
	    !take_hex(header + 7, strcspn(header + 7, " \t\r\n"), got))
		return T0_EINVAL;
	if (webhook_hmac_hex(secret, body, len, want) != T0_OK)
		return T0_EINVAL;
	ok = CRYPTO_memcmp(want, got, SIG_HEX) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok ? T0_OK : T0_EDENIED;
}

int webhook_verify_bearer(const char *authorization, const char *token)
{
	unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];

	if (!token || !*token)
		return T0_OK; /* nothing configured: no authentication asked for */
	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return T0_EDENIED;
	/* Hashing both sides first keeps the comparison equal-length and the length private. */
	SHA256((const unsigned char *)authorization + 7, strlen(authorization + 7), a);
	SHA256((const unsigned char *)token, strlen(token), b);
	return CRYPTO_memcmp(a, b, sizeof(a)) == 0 ? T0_OK : T0_EDENIED;
}
