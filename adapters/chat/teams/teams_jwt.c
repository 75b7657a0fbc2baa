/* Bot Connector token checks: JWKS key set, RS256 signature, claims. */
#include "adapters/chat/teams/teams_jwt.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "bot/log.h"
#include "bot/t0.h"

#define JWT_MAX_KID 256
#define JWT_MAX_ENDORSE 32
#define JWT_MAX_JSON 8192 /* decoded header or claims */
#define JWT_MAX_SIG 1024  /* RSA up to 8192 bits */
#define JWKS_MAX_DOC (1024 * 1024)

struct jwk {
	char kid[JWT_MAX_KID];
	EVP_PKEY *pkey;
	char *endorse[JWT_MAX_ENDORSE];
	size_t nendorse;
};

struct teams_jwks {
	struct jwk keys[TEAMS_JWKS_MAX_KEYS];
	size_t n;
};

static const char *const auth_reasons[TEAMS_AUTH__COUNT] = {
	[TEAMS_AUTH_OK] = "ok",
	[TEAMS_AUTH_MISSING] = "missing_token",
	[TEAMS_AUTH_MALFORMED] = "malformed",
	[TEAMS_AUTH_ALG] = "algorithm",
	[TEAMS_AUTH_UNKNOWN_KID] = "unknown_kid",
	[TEAMS_AUTH_SIGNATURE] = "signature",
	[TEAMS_AUTH_ISSUER] = "issuer",
	[TEAMS_AUTH_AUDIENCE] = "audience",
	[TEAMS_AUTH_EXPIRED] = "expired",
	[TEAMS_AUTH_NOT_YET_VALID] = "not_yet_valid",
	[TEAMS_AUTH_ENDORSEMENT] = "endorsement",
	[TEAMS_AUTH_SERVICEURL] = "serviceurl",
	[TEAMS_AUTH_NO_KEYS] = "no_keys",
};

const char *teams_auth_reason(int a)
{
	return a >= 0 && a < TEAMS_AUTH__COUNT ? auth_reasons[a] : "unknown";
}

static int b64url_val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

int teams_b64url_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap,
			size_t *outlen)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	while (inlen && in[inlen - 1] == '=')
		inlen--;
	if (inlen % 4 == 1)
		return T0_EPARSE;
	for (size_t i = 0; i < inlen; i++) {
		int v = b64url_val((unsigned char)in[i]);

		if (v < 0)
			return T0_EPARSE;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outcap)
				return T0_ETOOBIG;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	*outlen = o;
	return T0_OK;
}

size_t teams_b64url_encode(const unsigned char *in, size_t n, char *out, size_t outcap)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6 && o + 1 < outcap) {
			bits -= 6;
			out[o++] = tbl[(acc >> bits) & 63];
		}
	}
	if (bits > 0 && o + 1 < outcap)
		out[o++] = tbl[(acc << (6 - bits)) & 63];
	if (outcap)
		out[o < outcap ? o : outcap - 1] = '\0';
	return o;
}

static void jwk_clear(struct jwk *k)
{
	EVP_PKEY_free(k->pkey);
	for (size_t i = 0; i < k->nendorse; i++)
		free(k->endorse[i]);
	memset(k, 0, sizeof(*k));
}

struct teams_jwks *teams_jwks_new(void)
{
	return calloc(1, sizeof(struct teams_jwks));
}

void teams_jwks_free(struct teams_jwks *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++)
		jwk_clear(&k->keys[i]);
	free(k);
}

static BIGNUM *bn_b64(const char *s)
{
	unsigned char buf[1100];
	size_t n = 0;

	if (!s || teams_b64url_decode(s, strlen(s), buf, sizeof(buf), &n) != T0_OK || !n)
		return NULL;
	return BN_bin2bn(buf, (int)n, NULL);
}

static EVP_PKEY *rsa_from_ne(const char *n64, const char *e64)
{
	BIGNUM *n = bn_b64(n64), *e = bn_b64(e64);
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if (!n || !e || BN_num_bits(n) < 2048)
		goto out;
	bld = OSSL_PARAM_BLD_new();
	if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pkey;
}

/* x5c[0] is standard base64 DER of the signing certificate. */
static EVP_PKEY *rsa_from_x5c(const char *b64)
{
	unsigned char *der;
	const unsigned char *p;
	size_t len = strlen(b64), n = 0;
	X509 *x = NULL;
	EVP_PKEY *pkey = NULL;

	if (len > 16384)
		return NULL;
	der = malloc(len);
	if (!der)
		return NULL;
	if (teams_b64url_decode(b64, len, der, len, &n) == T0_OK) {
		p = der;
		x = d2i_X509(NULL, &p, (long)n);
		if (x)
			pkey = X509_get_pubkey(x);
	}
	X509_free(x);
	free(der);
	if (pkey && (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA || EVP_PKEY_get_bits(pkey) < 2048)) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	return pkey;
}

static int jwk_parse(json_t *j, struct jwk *k)
{
	const char *kty = json_string_value(json_object_get(j, "kty"));
	const char *kid = json_string_value(json_object_get(j, "kid"));
	const char *use = json_string_value(json_object_get(j, "use"));
	json_t *end = json_object_get(j, "endorsements"), *item;
	size_t i;

	memset(k, 0, sizeof(*k));
	if (!kty || strcmp(kty, "RSA") || !kid || !*kid || strlen(kid) >= sizeof(k->kid) ||
	    (use && strcmp(use, "sig")))
		return T0_EINVAL;
	memcpy(k->kid, kid, strlen(kid) + 1);
	k->pkey = rsa_from_ne(json_string_value(json_object_get(j, "n")),
			      json_string_value(json_object_get(j, "e")));
	if (!k->pkey) {
		const char *x5c = json_string_value(json_array_get(json_object_get(j, "x5c"), 0));

		if (x5c)
			k->pkey = rsa_from_x5c(x5c);
	}
	if (!k->pkey)
		return T0_EINVAL;
	json_array_foreach(end, i, item) {
		if (k->nendorse == JWT_MAX_ENDORSE)
			break;
		if (json_is_string(item) && (k->endorse[k->nendorse] = strdup(json_string_value(item))))
			k->nendorse++;
	}
	return T0_OK;
}

int teams_jwks_load(struct teams_jwks *k, const char *json, size_t len, size_t *nkeys)
{
	struct teams_jwks *fresh = NULL;
	json_t *doc = NULL, *item;
	json_error_t jerr;
	size_t i;
	int rc = T0_EPARSE;

	if (nkeys)
		*nkeys = 0;
	if (!k || !json || len > JWKS_MAX_DOC)
		return T0_EINVAL;
	doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc || !json_is_array(json_object_get(doc, "keys")))
		goto out;
	fresh = teams_jwks_new();
	if (!fresh) {
		rc = T0_ENOMEM;
		goto out;
	}
	json_array_foreach(json_object_get(doc, "keys"), i, item) {
		if (fresh->n == TEAMS_JWKS_MAX_KEYS)
			break;
		if (jwk_parse(item, &fresh->keys[fresh->n]) == T0_OK)
			fresh->n++;
		else
			jwk_clear(&fresh->keys[fresh->n]);
	}
	if (!fresh->n)
		goto out;
	/* Swap the contents so the caller's pointer stays valid. */
	for (i = 0; i < k->n; i++)
		jwk_clear(&k->keys[i]);
	memcpy(k->keys, fresh->keys, sizeof(fresh->keys));
	k->n = fresh->n;
	fresh->n = 0;
	if (nkeys)
		*nkeys = k->n;
	rc = T0_OK;
out:
	teams_jwks_free(fresh);
	json_decref(doc);
	return rc;
}

size_t teams_jwks_count(const struct teams_jwks *k)
{
	return k ? k->n : 0;
}

static const struct jwk *jwks_find(const struct teams_jwks *k, const char *kid)
{
	for (size_t i = 0; k && i < k->n; i++)
		if (!strcmp(k->keys[i].kid, kid))
			return &k->keys[i];
	return NULL;
}

int teams_jwks_has(const struct teams_jwks *k, const char *kid)
{
	return kid && jwks_find(k, kid) != NULL;
}

/* Decodes one base64url segment holding a JSON object. */
static json_t *segment_json(const char *seg, size_t len)
{
	unsigned char buf[JWT_MAX_JSON];
	size_t n = 0;
	json_t *j;

	if (teams_b64url_decode(seg, len, buf, sizeof(buf), &n) != T0_OK)
		return NULL;
	j = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

struct jwt_parts {
	const char *h, *p, *s;
	size_t hl, pl, sl;
};

static int split(const char *token, struct jwt_parts *jp)
{
	size_t len = strnlen(token, TEAMS_JWT_MAX_TOKEN + 1);
	const char *d1, *d2;

	if (len > TEAMS_JWT_MAX_TOKEN)
		return -1;
	d1 = memchr(token, '.', len);
	if (!d1)
		return -1;
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
	if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
		return -1;
	jp->h = token;
	jp->hl = (size_t)(d1 - token);
	jp->p = d1 + 1;
	jp->pl = (size_t)(d2 - d1 - 1);
	jp->s = d2 + 1;
	jp->sl = len - (size_t)(d2 + 1 - token);
	return jp->hl && jp->pl && jp->sl ? 0 : -1;
}

int teams_jwt_kid(const char *token, char *kid, size_t kidlen)
{
	struct jwt_parts jp;
	json_t *h;
	const char *k;
	int rc = -1;

	if (!token || split(token, &jp))
		return -1;
	h = segment_json(jp.h, jp.hl);
	k = json_string_value(json_object_get(h, "kid"));
	if (k && strlen(k) < kidlen) {
		memcpy(kid, k, strlen(k) + 1);
		rc = 0;
	}
	json_decref(h);
	return rc;
}

static const EVP_MD *alg_md(const char *alg)
{
	if (!alg)
		return NULL;
	if (!strcmp(alg, "RS256"))
		return EVP_sha256();
	if (!strcmp(alg, "RS384"))
		return EVP_sha384();
	if (!strcmp(alg, "RS512"))
		return EVP_sha512();
	return NULL;
}

static int verify_sig(EVP_PKEY *pkey, const EVP_MD *md, const struct jwt_parts *jp)
{
	unsigned char sig[JWT_MAX_SIG];
	size_t sl = 0;
	EVP_MD_CTX *ctx;
	int ok = 0;

	if (teams_b64url_decode(jp->s, jp->sl, sig, sizeof(sig), &sl) != T0_OK)
		return 0;
	ctx = EVP_MD_CTX_new();
	if (ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, pkey) == 1 &&
	    EVP_DigestVerify(ctx, sig, sl, (const unsigned char *)jp->h, jp->hl + 1 + jp->pl) == 1)
		ok = 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

static int aud_matches(json_t *aud, const char *want)
{
	size_t i;
	json_t *item;

	if (json_is_string(aud))
		return !strcmp(json_string_value(aud), want);
	json_array_foreach(aud, i, item)
		if (json_is_string(item) && !strcmp(json_string_value(item), want))
			return 1;
	return 0;
}

/* A NumericDate claim in ms; -1 when absent or not a number. */
static int64_t claim_time_ms(json_t *c, const char *name)
{
	json_t *v = json_object_get(c, name);
	double d;

	if (!json_is_number(v))
		return -1;
	d = json_number_value(v);
	if (d < 0 || d > 1e13)
		return -1;
	return (int64_t)d * 1000;
}

int teams_jwt_verify(const struct teams_jwks *k, const char *token,
		     const struct teams_jwt_expect *e)
{
	struct jwt_parts jp;
	json_t *h = NULL, *c = NULL;
	const struct jwk *key;
	const EVP_MD *md;
	const char *kid, *iss, *surl;
	int64_t exp, nbf;
	int rc;
	size_t i;

	if (!token || !*token)
		return TEAMS_AUTH_MISSING;
	if (split(token, &jp))
		return TEAMS_AUTH_MALFORMED;
	h = segment_json(jp.h, jp.hl);
	c = segment_json(jp.p, jp.pl);
	if (!h || !c) {
		rc = TEAMS_AUTH_MALFORMED;
		goto out;
	}
	md = alg_md(json_string_value(json_object_get(h, "alg")));
	if (!md) {
		rc = TEAMS_AUTH_ALG;
		goto out;
	}
	kid = json_string_value(json_object_get(h, "kid"));
	if (!kid) {
		rc = TEAMS_AUTH_MALFORMED;
		goto out;
	}
	if (!k || !k->n) {
		rc = TEAMS_AUTH_NO_KEYS;
		goto out;
	}
	key = jwks_find(k, kid);
	if (!key) {
		rc = TEAMS_AUTH_UNKNOWN_KID;
		goto out;
	}
	if (!verify_sig(key->pkey, md, &jp)) {
		rc = TEAMS_AUTH_SIGNATURE;
		goto out;
	}
	/* Only a correctly signed token's claims are worth reading. */
	iss = json_string_value(json_object_get(c, "iss"));
	if (!iss || strcmp(iss, e->issuer)) {
		rc = TEAMS_AUTH_ISSUER;
		goto out;
	}
	if (!aud_matches(json_object_get(c, "aud"), e->audience)) {
		rc = TEAMS_AUTH_AUDIENCE;
		goto out;
	}
	exp = claim_time_ms(c, "exp");
	if (exp < 0 || e->now_ms > exp + e->skew_ms) {
		rc = TEAMS_AUTH_EXPIRED;
		goto out;
	}
	nbf = claim_time_ms(c, "nbf");
	if (json_object_get(c, "nbf") && (nbf < 0 || e->now_ms + e->skew_ms < nbf)) {
		rc = TEAMS_AUTH_NOT_YET_VALID;
		goto out;
	}
	rc = TEAMS_AUTH_ENDORSEMENT;
	for (i = 0; e->channel_id && i < key->nendorse; i++)
		if (!strcmp(key->endorse[i], e->channel_id))
			rc = TEAMS_AUTH_OK;
	if (rc != TEAMS_AUTH_OK)
		goto out;
	surl = json_string_value(json_object_get(c, "serviceurl"));
	if (!surl || !e->service_url || strcmp(surl, e->service_url)) {
		rc = TEAMS_AUTH_SERVICEURL;
		goto out;
	}
	rc = TEAMS_AUTH_OK;
out:
	json_decref(h);
	json_decref(c);
	return rc;
}
