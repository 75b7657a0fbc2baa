/* Slack's v0 request signatures: HMAC-SHA256 over "v0:<timestamp>:<raw body>". */
#include "adapters/chat/slack/slack_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bot/t0.h"

#define SIG_MAX_TS 20

int slack_sig_compute(const char *secret, const char *ts, const void *body, size_t len,
		      char out[SLACK_SIG_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t tslen = strlen(ts), n = 3 + tslen + 1 + len;
	unsigned char *base;
	int rc = T0_OK;

	base = malloc(n ? n : 1);
	if (!base)
		return T0_ENOMEM;
	memcpy(base, "v0:", 3);
	memcpy(base + 3, ts, tslen);
	base[3 + tslen] = ':';
	if (len)
		memcpy(base + 4 + tslen, body, len);
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), base, n, mac, &maclen) ||
	    maclen != 32) {
		rc = T0_EINVAL;
		goto out;
	}
	memcpy(out, "v0=", 3);
	for (unsigned i = 0; i < maclen; i++) {
		out[3 + 2 * i] = hex[mac[i] >> 4];
		out[3 + 2 * i + 1] = hex[mac[i] & 15];
	}
	out[3 + 2 * maclen] = '\0';
out:
	OPENSSL_cleanse(base, n);
	free(base);
	return rc;
}

int slack_sig_verify(const char *secret, const char *ts, const char *sig, const void *body,
		     size_t len, int64_t now_s, const char **why)
{
	char want[SLACK_SIG_LEN];
	long long t = 0;
	size_t i;

	*why = "ok";
	if (!ts || !sig || !*ts || !*sig) {
		*why = "missing_headers";
		return T0_EDENIED;
	}
	/* Digits only: the timestamp is part of what is signed and of the replay window. */
	for (i = 0; ts[i]; i++) {
		if (ts[i] < '0' || ts[i] > '9' || i >= SIG_MAX_TS) {
			*why = "bad_timestamp";
			return T0_EDENIED;
		}
		t = t * 10 + (ts[i] - '0');
	}
	if (t < now_s - SLACK_SIG_WINDOW_S || t > now_s + SLACK_SIG_WINDOW_S) {
		*why = "stale_timestamp";
		return T0_EDENIED;
	}
	if (strncmp(sig, "v0=", 3) != 0) {
		*why = "unknown_version";
		return T0_EDENIED;
	}
	if (slack_sig_compute(secret, ts, body, len, want) != T0_OK) {
		*why = "internal";
		return T0_EDENIED;
	}
	if (strlen(sig) != strlen(want) || CRYPTO_memcmp(sig, want, strlen(want)) != 0) {
		*why = "mismatch";
		return T0_EDENIED;
	}
	return T0_OK;
}
