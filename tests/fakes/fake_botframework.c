#include "tests/fakes/fake_botframework.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "adapters/chat/teams/teams_jwt.h"
#include "tests/fakes/fake_http.h"

#define OPENID_PATH "/v1/.well-known/openidconfiguration"
#define KEYS_PATH "/v1/.well-known/keys"
#define TOKEN_PATH "/botframework.com/oauth2/v2.0/token"
#define SERVICE_PREFIX "/amer/"

struct fake_bf {
	struct fake_http *fh;
	char openid_url[256];
	char token_url[256];
	char service_url[256];
	char keys_url[256];
};

/* Generated once per test process: RSA key generation is slow under sanitizers. */
static EVP_PKEY *test_keys[3];

static EVP_PKEY *key(int i)
{
	if (!test_keys[i])
		test_keys[i] = EVP_RSA_gen(2048);
	return test_keys[i];
}

static char *read_fixture(const char *dir, const char *name)
{
	char path[1024];
	FILE *fp;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/teams/%s", dir, name);
	fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(fp);
	return buf;
}

static char *bn_b64(EVP_PKEY *pk, const char *param)
{
	BIGNUM *bn = NULL;
	unsigned char bin[1024];
	char *out;
	int n;

	if (!EVP_PKEY_get_bn_param(pk, param, &bn))
		return NULL;
	n = BN_bn2bin(bn, bin);
	BN_free(bn);
	out = malloc((size_t)n * 2 + 4);
	if (out)
		teams_b64url_encode(bin, (size_t)n, out, (size_t)n * 2 + 4);
	return out;
}

static json_t *jwk(int i, const char *kid, const char *endorse)
{
	char *n = bn_b64(key(i), OSSL_PKEY_PARAM_RSA_N);
	char *e = bn_b64(key(i), OSSL_PKEY_PARAM_RSA_E);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s]}", "kty", "RSA", "use", "sig",
			      "kid", kid, "x5t", kid, "n", n ? n : "", "e", e ? e : "",
			      "endorsements", endorse ? endorse : "msteams");

	free(n);
	free(e);
	return j;
}

char *fake_bf_jwks_json(struct fake_bf *fb, int with_second, const char *endorse)
{
	json_t *doc = json_object(), *keys = json_array();
	char *s;

	json_array_append_new(keys, jwk(0, FAKE_BF_KID, endorse));
	if (with_second)
		json_array_append_new(keys, jwk(1, FAKE_BF_KID2, endorse));
	json_object_set_new(doc, "keys", keys);
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

int fake_bf_serve_keys(struct fake_bf *fb, int with_second, const char *endorse)
{
	char *s = fake_bf_jwks_json(fb, with_second, endorse);
	int rc;

	if (!s)
		return -1;
	fake_http_clear(fb->fh, "GET", KEYS_PATH);
	rc = fake_http_add(fb->fh, "GET", KEYS_PATH, 200, "Content-Type: application/json\r\n", s,
			   strlen(s), 0);
	free(s);
	return rc;
}

struct fake_bf *fake_bf_new(uv_loop_t *uv, const char *fixtures)
{
	struct fake_bf *fb = calloc(1, sizeof(*fb));
	char *meta = NULL, *tok = NULL, *out = NULL;
	json_t *mj = NULL;

	if (!fb || !key(0) || !key(1) || !key(2))
		goto fail;
	fb->fh = fake_http_new(uv);
	if (!fb->fh)
		goto fail;
	snprintf(fb->openid_url, sizeof(fb->openid_url), "%s", fake_http_url(fb->fh, OPENID_PATH));
	snprintf(fb->keys_url, sizeof(fb->keys_url), "%s", fake_http_url(fb->fh, KEYS_PATH));
	snprintf(fb->token_url, sizeof(fb->token_url), "%s", fake_http_url(fb->fh, TOKEN_PATH));
	snprintf(fb->service_url, sizeof(fb->service_url), "%s",
		 fake_http_url(fb->fh, SERVICE_PREFIX));
	/* The real metadata document, its jwks_uri pointed at this fake. */
	meta = read_fixture(fixtures, "auth_openid_metadata_botframework.json");
	tok = read_fixture(fixtures, "auth_token_response.json");
	if (!meta || !tok)
		goto fail;
	mj = json_loads(meta, 0, NULL);
	if (!mj || json_object_set_new(mj, "jwks_uri", json_string(fb->keys_url)))
		goto fail;
	out = json_dumps(mj, JSON_COMPACT);
	if (!out ||
	    fake_http_add(fb->fh, "GET", OPENID_PATH, 200, "Content-Type: application/json\r\n", out,
			  strlen(out), 0) ||
	    fake_http_add(fb->fh, "POST", TOKEN_PATH, 200, "Content-Type: application/json\r\n", tok,
			  strlen(tok), 0) ||
	    fake_bf_serve_keys(fb, 0, NULL))
		goto fail;
	free(meta);
	free(tok);
	free(out);
	json_decref(mj);
	return fb;
fail:
	free(meta);
	free(tok);
	free(out);
	json_decref(mj);
	fake_bf_free(fb);
	return NULL;
}

void fake_bf_free(struct fake_bf *fb)
{
	if (!fb)
		return;
	fake_http_free(fb->fh);
	free(fb);
}

struct fake_http *fake_bf_http(struct fake_bf *fb)
{
	return fb->fh;
}

const char *fake_bf_openid_url(struct fake_bf *fb)
{
	return fb->openid_url;
}

const char *fake_bf_token_url(struct fake_bf *fb)
{
	return fb->token_url;
}

const char *fake_bf_service_url(struct fake_bf *fb)
{
	return fb->service_url;
}

static char *b64_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT), *out;
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	out = malloc(n * 2 + 4);
	if (out)
		teams_b64url_encode((const unsigned char *)s, n, out, n * 2 + 4);
	free(s);
	return out;
}

char *fake_bf_sign(struct fake_bf *fb, const struct fake_bf_claims *c)
{
	const char *alg = c->alg ? c->alg : "RS256";
	const EVP_MD *md = !strcmp(alg, "RS512") ? EVP_sha512() : !strcmp(alg, "RS384") ? EVP_sha384()
											  : EVP_sha256();
	json_t *h = json_pack("{s:s, s:s, s:s}", "typ", "JWT", "alg", alg, "kid",
			      c->kid ? c->kid : FAKE_BF_KID);
	json_t *cl = json_object();
	char *hs = NULL, *cs = NULL, *out = NULL;
	unsigned char sig[1024];
	size_t sl = sizeof(sig), n;
	EVP_MD_CTX *ctx = NULL;

	json_object_set_new(cl, "iss", json_string(c->iss ? c->iss : FAKE_BF_ISSUER));
	if (c->aud)
		json_object_set_new(cl, "aud", json_string(c->aud));
	if (c->serviceurl)
		json_object_set_new(cl, "serviceurl", json_string(c->serviceurl));
	if (c->exp_s)
		json_object_set_new(cl, "exp", json_integer(c->exp_s));
	if (c->nbf_s)
		json_object_set_new(cl, "nbf", json_integer(c->nbf_s));
	hs = b64_json(h);
	cs = b64_json(cl);
	if (!hs || !cs)
		goto out;
	n = strlen(hs) + 1 + strlen(cs);
	out = malloc(n + 2048);
	if (!out)
		goto out;
	snprintf(out, n + 1, "%s.%s", hs, cs);
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestSignInit(ctx, NULL, md, NULL, key(c->key)) != 1 ||
	    EVP_DigestSign(ctx, sig, &sl, (const unsigned char *)out, n) != 1) {
		free(out);
		out = NULL;
		goto out;
	}
	out[n] = '.';
	teams_b64url_encode(sig, sl, out + n + 1, 2048 - 1);
out:
	EVP_MD_CTX_free(ctx);
	free(hs);
	free(cs);
	json_decref(h);
	json_decref(cl);
	return out;
}

static size_t enc(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; s && *s && o + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    strchr("-._~", ch)) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return o;
}

void fake_bf_path(char *out, size_t outlen, const char *conv, const char *suffix,
		  const char *activity)
{
	char c[512], a[256];

	enc(c, sizeof(c), conv);
	enc(a, sizeof(a), activity);
	snprintf(out, outlen, SERVICE_PREFIX "v3/conversations/%s%s%s%s", c, suffix ? suffix : "",
		 activity ? "/" : "", activity ? a : "");
}

size_t fake_bf_count(struct fake_bf *fb, const char *method, const char *path)
{
	size_t n = 0;

	for (size_t i = 0; i < fake_http_count(fb->fh); i++) {
		const struct fake_http_req *r = fake_http_req(fb->fh, i);

		if (!strcmp(r->method, method) && !strcmp(r->path, path))
			n++;
	}
	return n;
}

const struct fake_http_req *fake_bf_find(struct fake_bf *fb, const char *method, const char *path,
					 size_t nth)
{
	for (size_t i = 0; i < fake_http_count(fb->fh); i++) {
		const struct fake_http_req *r = fake_http_req(fb->fh, i);

		if (!strcmp(r->method, method) && !strcmp(r->path, path) && nth-- == 0)
			return r;
	}
	return NULL;
}
