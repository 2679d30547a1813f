/*
 * tokmint.c - mint test tokens and key sets for the unit and shell
 * tests: our own RSA and EC keys, their JWKs, default Buildkite claims,
 * and compact JWS tokens signed (or deliberately mis-signed) as a test
 * asks. Also the signing of pam-buildkite dry-run (cmd_dry_run.c); see
 * tokmint.h.
 */
#include "config.h"

#include "tokmint.h"
#include "tokmint_key.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#define TM_COMMIT "3e1f9c0d2b7a4c5e8f6a1b2c3d4e5f6a7b8c9d0e"

/* Wraps pkey (taking ownership) after checking it is a key we support. */
static struct tm_key *
key_wrap(EVP_PKEY *pkey)
{
	struct tm_key *key;
	char group[64];
	size_t coord = 0;
	enum tm_kind kind;

	if (pkey == NULL)
		return NULL;
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		kind = TM_RSA;
	} else if (EVP_PKEY_is_a(pkey, "EC")) {
		kind = TM_EC;
		if (!EVP_PKEY_get_utf8_string_param(pkey,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL))
			goto fail;
		if (strcasecmp(group, "prime256v1") == 0 ||
		    strcasecmp(group, "P-256") == 0)
			coord = 32;
		else if (strcasecmp(group, "secp384r1") == 0 ||
		    strcasecmp(group, "P-384") == 0)
			coord = 48;
		else
			goto fail;
	} else {
		goto fail;
	}
	key = calloc(1, sizeof(*key));
	if (key == NULL)
		goto fail;
	key->pkey = pkey;
	key->kind = kind;
	key->coord = coord;
	return key;
fail:
	EVP_PKEY_free(pkey);
	return NULL;
}

struct tm_key *
tm_key_generate(const char *type)
{
	EVP_PKEY *pkey;

	if (type == NULL)
		return NULL;
	if (strcmp(type, "rsa2048") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else if (strcmp(type, "rsa1024") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	else if (strcmp(type, "rsa3072") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	else if (strcmp(type, "ec256") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (strcmp(type, "ec384") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	else
		return NULL;
	return key_wrap(pkey);
}

struct tm_key *
tm_key_load(const char *pem_path)
{
	BIO *bio;
	EVP_PKEY *pkey;

	if (pem_path == NULL)
		return NULL;
	bio = BIO_new_file(pem_path, "r");
	if (bio == NULL)
		return NULL;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return key_wrap(pkey);
}

struct tm_key *
tm_key_from_pem(const char *pem, size_t len)
{
	BIO *bio;
	EVP_PKEY *pkey;

	if (pem == NULL || len > (size_t)INT32_MAX)
		return NULL;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		return NULL;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return key_wrap(pkey);
}

int
tm_key_save(const struct tm_key *key, const char *pem_path)
{
	BIO *bio;
	FILE *fp;
	int fd, ok;

	if (key == NULL || pem_path == NULL)
		return -1;
	fd = open(pem_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	fp = fdopen(fd, "w");
	if (fp == NULL) {
		close(fd);
		return -1;
	}
	bio = BIO_new_fp(fp, BIO_NOCLOSE);
	if (bio == NULL) {
		fclose(fp);
		return -1;
	}
	ok = PEM_write_bio_PKCS8PrivateKey(bio, key->pkey, NULL, NULL, 0,
	    NULL, NULL);
	if (BIO_flush(bio) != 1)
		ok = 0;
	BIO_free(bio);
	if (fclose(fp) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

void
tm_key_free(struct tm_key *key)
{
	if (key == NULL)
		return;
	EVP_PKEY_free(key->pkey);
	free(key);
}

int
tm_uuid(char out[37])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

static const char *
str_claim(const json_t *claims, const char *name)
{
	const char *s = json_string_value(json_object_get(claims, name));

	return s != NULL ? s : "";
}

int
tm_derive_sub(json_t *claims)
{
	const json_t *tag = json_object_get(claims, "build_tag");
	char *sub;
	int rc;

	if (asprintf(&sub, "organization:%s:pipeline:%s:ref:refs/%s/%s:"
	    "commit:%s:step:%s", str_claim(claims, "organization_slug"),
	    str_claim(claims, "pipeline_slug"),
	    json_is_string(tag) ? "tags" : "heads",
	    json_is_string(tag) ? json_string_value(tag) :
	    str_claim(claims, "build_branch"), str_claim(claims,
	    "build_commit"), str_claim(claims, "step_key")) < 0)
		return -1;
	rc = json_object_set_new(claims, "sub", json_string(sub));
	free(sub);
	return rc;
}

char *
tm_b64url(const unsigned char *buf, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out, *p;
	size_t i;

	if (buf == NULL && len > 0)
		return NULL;
	if (len > (SIZE_MAX - 4) / 4 * 3)
		return NULL;
	out = malloc((len + 2) / 3 * 4 + 1);
	if (out == NULL)
		return NULL;
	p = out;
	for (i = 0; i + 2 < len; i += 3) {
		*p++ = tab[buf[i] >> 2];
		*p++ = tab[((buf[i] & 3) << 4) | (buf[i + 1] >> 4)];
		*p++ = tab[((buf[i + 1] & 15) << 2) | (buf[i + 2] >> 6)];
		*p++ = tab[buf[i + 2] & 63];
	}
	if (len - i == 1) {
		*p++ = tab[buf[i] >> 2];
		*p++ = tab[(buf[i] & 3) << 4];
	} else if (len - i == 2) {
		*p++ = tab[buf[i] >> 2];
		*p++ = tab[((buf[i] & 3) << 4) | (buf[i + 1] >> 4)];
		*p++ = tab[(buf[i + 1] & 15) << 2];
	}
	*p = '\0';
	return out;
}

/* base64url of a BIGNUM parameter: minimal big-endian when pad is 0,
 * else left-padded to exactly pad bytes. */
static char *
bn_param_b64url(const EVP_PKEY *pkey, const char *name, size_t pad)
{
	BIGNUM *bn = NULL;
	unsigned char *buf = NULL;
	char *out = NULL;
	int n;

	if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
		return NULL;
	n = pad ? (int)pad : BN_num_bytes(bn);
	if (n <= 0)
		goto done;
	buf = malloc((size_t)n);
	if (buf == NULL)
		goto done;
	if (BN_bn2binpad(bn, buf, n) != n)
		goto done;
	out = tm_b64url(buf, (size_t)n);
done:
	free(buf);
	BN_free(bn);
	return out;
}

/* Sets obj[name] to a new string taking ownership of s (freed). */
static int
set_owned_str(json_t *obj, const char *name, char *s)
{
	int rc;

	if (s == NULL)
		return -1;
	rc = json_object_set_new(obj, name, json_string(s));
	free(s);
	return rc;
}

json_t *
tm_jwk(const struct tm_key *key, const char *kid, const json_t *extra)
{
	json_t *jwk, *copy = NULL, *value;
	const char *name;

	if (key == NULL || (extra != NULL && !json_is_object(extra)))
		return NULL;
	jwk = json_object();
	if (jwk == NULL)
		return NULL;
	if (key->kind == TM_RSA) {
		if (json_object_set_new(jwk, "kty", json_string("RSA")) != 0)
			goto fail;
	} else if (json_object_set_new(jwk, "kty", json_string("EC")) != 0) {
		goto fail;
	}
	if (kid != NULL &&
	    json_object_set_new(jwk, "kid", json_string(kid)) != 0)
		goto fail;
	if (key->kind == TM_RSA) {
		if (json_object_set_new(jwk, "alg", json_string("RS256")) != 0 ||
		    json_object_set_new(jwk, "use", json_string("sig")) != 0 ||
		    set_owned_str(jwk, "n", bn_param_b64url(key->pkey,
		    OSSL_PKEY_PARAM_RSA_N, 0)) != 0 ||
		    set_owned_str(jwk, "e", bn_param_b64url(key->pkey,
		    OSSL_PKEY_PARAM_RSA_E, 0)) != 0)
			goto fail;
	} else {
		int p256 = key->coord == 32;

		if (json_object_set_new(jwk, "alg",
		    json_string(p256 ? "ES256" : "ES384")) != 0 ||
		    json_object_set_new(jwk, "use", json_string("sig")) != 0 ||
		    json_object_set_new(jwk, "crv",
		    json_string(p256 ? "P-256" : "P-384")) != 0 ||
		    set_owned_str(jwk, "x", bn_param_b64url(key->pkey,
		    OSSL_PKEY_PARAM_EC_PUB_X, key->coord)) != 0 ||
		    set_owned_str(jwk, "y", bn_param_b64url(key->pkey,
		    OSSL_PKEY_PARAM_EC_PUB_Y, key->coord)) != 0)
			goto fail;
	}
	if (extra != NULL) {
		/* json_deep_copy takes a const pointer; iterate the copy. */
		copy = json_deep_copy(extra);
		if (copy == NULL)
			goto fail;
		json_object_foreach(copy, name, value) {
			if (json_is_null(value))
				json_object_del(jwk, name);
			else if (json_object_set(jwk, name, value) != 0)
				goto fail;
		}
		json_decref(copy);
	}
	return jwk;
fail:
	json_decref(copy);
	json_decref(jwk);
	return NULL;
}

char *
tm_jwks_string(json_t *const *jwks, size_t n)
{
	json_t *root, *keys;
	char *out;
	size_t i;

	if (jwks == NULL && n > 0)
		return NULL;
	keys = json_array();
	if (keys == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (jwks[i] == NULL || json_array_append(keys, jwks[i]) != 0) {
			json_decref(keys);
			return NULL;
		}
	}
	root = json_pack("{s:o}", "keys", keys);
	if (root == NULL)
		return NULL;
	out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	return out;
}

json_t *
tm_default_claims(long long now, const char *aud, const char *org)
{
	json_t *claims;
	char *sub, jti[64];

	if (aud == NULL || org == NULL)
		return NULL;
	if (asprintf(&sub, "organization:%s:pipeline:api:"
	    "ref:refs/heads/main:commit:" TM_COMMIT ":step:migrate", org) < 0)
		return NULL;
	/* A UUIDv7-looking jti that differs with the issue time. */
	snprintf(jti, sizeof(jti), "0190b2c4-5d1e-7a3b-8c4d-%012llx",
	    (unsigned long long)now & 0xffffffffffffULL);
	/* json_pack keeps this order (jansson keeps insertion order). */
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s,"
	    " s:I, s:s, s:n, s:s, s:s, s:s, s:s, s:s, s:s}",
	    "iss", "https://agent.buildkite.com",
	    "sub", sub,
	    "aud", aud,
	    "iat", (json_int_t)now,
	    "nbf", (json_int_t)now,
	    "exp", (json_int_t)(now + 300),
	    "jti", jti,
	    "organization_slug", org,
	    "pipeline_slug", "api",
	    "build_number", (json_int_t)42,
	    "build_branch", "main",
	    "build_tag",
	    "build_commit", TM_COMMIT,
	    "step_key", "migrate",
	    "job_id", "0190b2c4-7e3a-4f1b-9c2d-5a6b7c8d9e01",
	    "agent_id", "0190b2c4-8f4b-4a2c-8d3e-6b7c8d9e0f12",
	    "build_source", "ui",
	    "runner_environment", "self-hosted");
	free(sub);
	return claims;
}

char *
tm_public_pem(const struct tm_key *key, size_t *len)
{
	BIO *bio;
	char *data, *out = NULL;
	long n;

	if (key == NULL)
		return NULL;
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		return NULL;
	if (PEM_write_bio_PUBKEY(bio, key->pkey) != 1)
		goto done;
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0)
		goto done;
	out = malloc((size_t)n + 1);
	if (out == NULL)
		goto done;
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	if (len != NULL)
		*len = (size_t)n;
done:
	BIO_free(bio);
	return out;
}
