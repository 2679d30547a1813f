/*
 * tokmint_sign.c - the signatures of tokmint.c: a compact JWS signed as
 * its alg says (RS*, ES* in the JOSE R||S form, HS*, none), for the
 * tests' tokens, bent or not, and pam-buildkite dry-run's. See tokmint.h.
 */
#include "config.h"

#include "tokmint.h"
#include "tokmint_key.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

/* Signs data with an RSA or EC key and digest md; *sig is malloc'd DER
 * (EC) or raw PKCS#1 v1.5 (RSA). */
static int
digest_sign(EVP_PKEY *pkey, const char *md, const unsigned char *data,
    size_t len, unsigned char **sig, size_t *siglen)
{
	EVP_MD_CTX *ctx;
	unsigned char *buf = NULL;
	size_t n = 0;
	int ok = 0;

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return -1;
	if (EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, pkey, NULL) != 1)
		goto done;
	if (EVP_DigestSign(ctx, NULL, &n, data, len) != 1 || n == 0)
		goto done;
	buf = malloc(n);
	if (buf == NULL)
		goto done;
	if (EVP_DigestSign(ctx, buf, &n, data, len) != 1)
		goto done;
	ok = 1;
done:
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		free(buf);
		return -1;
	}
	*sig = buf;
	*siglen = n;
	return 0;
}

/* DER ECDSA-Sig-Value to JOSE R||S, each coord bytes. */
static int
der_to_jose(const unsigned char *der, size_t derlen, size_t coord,
    unsigned char **out, size_t *outlen)
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *es;
	unsigned char *buf;

	if (derlen > (size_t)INT32_MAX)
		return -1;
	es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	if (es == NULL)
		return -1;
	buf = malloc(2 * coord);
	if (buf == NULL) {
		ECDSA_SIG_free(es);
		return -1;
	}
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, buf, (int)coord) != (int)coord ||
	    BN_bn2binpad(s, buf + coord, (int)coord) != (int)coord) {
		free(buf);
		ECDSA_SIG_free(es);
		return -1;
	}
	ECDSA_SIG_free(es);
	*out = buf;
	*outlen = 2 * coord;
	return 0;
}

/* Computes the signature of data as alg says; *sig malloc'd (may be a
 * zero-length allocation for "none"). */
static int
make_signature(const char *alg, const struct tm_key *key,
    const unsigned char *hmac_key, size_t hmac_len,
    const unsigned char *data, size_t len, unsigned char **sig,
    size_t *siglen)
{
	static const unsigned char empty[1];
	const char *md;
	unsigned char *der, mac[EVP_MAX_MD_SIZE];
	size_t derlen, maclen = 0;
	int rc;

	if (strcmp(alg, "none") == 0) {
		*sig = malloc(1);
		*siglen = 0;
		return *sig == NULL ? -1 : 0;
	}
	if (strlen(alg) != 5)
		return -1;
	if (strcmp(alg + 2, "256") == 0)
		md = "SHA256";
	else if (strcmp(alg + 2, "384") == 0)
		md = "SHA384";
	else if (strcmp(alg + 2, "512") == 0)
		md = "SHA512";
	else
		return -1;
	if (strncmp(alg, "HS", 2) == 0) {
		if (hmac_key == NULL) {
			if (hmac_len > 0)
				return -1;
			hmac_key = empty;
		}
		if (EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, hmac_key, hmac_len,
		    data, len, mac, sizeof(mac), &maclen) == NULL)
			return -1;
		*sig = malloc(maclen);
		if (*sig == NULL)
			return -1;
		memcpy(*sig, mac, maclen);
		*siglen = maclen;
		return 0;
	}
	if (key == NULL)
		return -1;
	if (strncmp(alg, "RS", 2) == 0) {
		if (key->kind != TM_RSA)
			return -1;
		return digest_sign(key->pkey, md, data, len, sig, siglen);
	}
	if (strncmp(alg, "ES", 2) == 0 && strcmp(md, "SHA512") != 0) {
		if (key->kind != TM_EC)
			return -1;
		if (digest_sign(key->pkey, md, data, len, &der, &derlen) != 0)
			return -1;
		rc = der_to_jose(der, derlen, key->coord, sig, siglen);
		free(der);
		return rc;
	}
	return -1;
}

int
tm_sign_input(const char *alg, const struct tm_key *key,
    const unsigned char *hmac_key, size_t hmac_len, const unsigned char *data,
    size_t len, unsigned char **sig, size_t *siglen)
{
	if (alg == NULL || sig == NULL || siglen == NULL)
		return -1;
	return make_signature(alg, key, hmac_key, hmac_len, data, len, sig,
	    siglen);
}

char *
tm_sign_raw(const char *header, size_t header_len, const char *payload,
    size_t payload_len, const char *alg, const struct tm_key *key,
    const unsigned char *hmac_key, size_t hmac_len)
{
	char *h = NULL, *p = NULL, *s = NULL, *input = NULL, *out = NULL;
	unsigned char *sig = NULL;
	size_t hl, pl, sl, siglen = 0;

	if (header == NULL || payload == NULL || alg == NULL)
		return NULL;
	h = tm_b64url((const unsigned char *)header, header_len);
	p = tm_b64url((const unsigned char *)payload, payload_len);
	if (h == NULL || p == NULL)
		goto done;
	hl = strlen(h);
	pl = strlen(p);
	input = malloc(hl + 1 + pl + 1);
	if (input == NULL)
		goto done;
	memcpy(input, h, hl);
	input[hl] = '.';
	memcpy(input + hl + 1, p, pl + 1);
	if (make_signature(alg, key, hmac_key, hmac_len,
	    (const unsigned char *)input, hl + 1 + pl, &sig, &siglen) != 0)
		goto done;
	s = tm_b64url(sig, siglen);
	if (s == NULL)
		goto done;
	sl = strlen(s);
	out = malloc(hl + 1 + pl + 1 + sl + 1);
	if (out == NULL)
		goto done;
	memcpy(out, input, hl + 1 + pl);
	out[hl + 1 + pl] = '.';
	memcpy(out + hl + 1 + pl + 1, s, sl + 1);
done:
	free(h);
	free(p);
	free(s);
	free(input);
	free(sig);
	return out;
}

char *
tm_sign(const json_t *header, const json_t *payload, const char *alg,
    const struct tm_key *key, const unsigned char *hmac_key, size_t hmac_len)
{
	char *h, *p, *out = NULL;

	if (header == NULL || payload == NULL)
		return NULL;
	h = json_dumps(header, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENCODE_ANY);
	p = json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENCODE_ANY);
	if (h != NULL && p != NULL)
		out = tm_sign_raw(h, strlen(h), p, strlen(p), alg, key,
		    hmac_key, hmac_len);
	free(h);
	free(p);
	return out;
}

char *
tm_token(const struct tm_key *key, const char *kid, const char *alg,
    const json_t *claims)
{
	json_t *header;
	char *out;

	if (alg == NULL)
		return NULL;
	header = json_object();
	if (header == NULL)
		return NULL;
	if ((kid != NULL &&
	    json_object_set_new(header, "kid", json_string(kid)) != 0) ||
	    json_object_set_new(header, "alg", json_string(alg)) != 0) {
		json_decref(header);
		return NULL;
	}
	out = tm_sign(header, claims, alg, key, NULL, 0);
	json_decref(header);
	return out;
}
