/*
 * jwks.c - JSON Web Key Sets (RFC 7517): parsing and choosing the key
 * that verifies a token.
 *
 * The whole document is checked when it is parsed (types, strict
 * base64url, coordinate sizes), so a broken set is refused before it can
 * replace a good one. The OpenSSL key is built only for the key a token
 * asks for, which keeps parsing cheap and free of OpenSSL state.
 *
 * Only RSA and EC (P-256, P-384) keys are kept. Other key types, "oct"
 * above all, are skipped: a shared secret in a public key set must never
 * become an HMAC key.
 */
#include "config.h"
#include "sha256.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

#include "b64url.h"
#include "jwks.h"
#include "msg.h"

/* Public exponents longer than this are refused: real keys use 65537,
 * and OpenSSL itself refuses them above 3072-bit moduli. */
#define PB_RSA_MAX_E_BITS 64
#define PB_RSA_MIN_BITS 2048
#define PB_RSA_MAX_BITS 8192
#define PB_KID_SCAN_MAX 1024

enum pb_kty { PB_KTY_RSA, PB_KTY_EC };

struct pb_jwk {
	enum pb_kty kty;
	int crv_bits;           /* EC: 256 or 384 */
	char *kid;              /* NULL when absent */
	size_t kid_len;
	char *alg;              /* NULL when absent */
	size_t alg_len;
	bool has_use;
	bool use_sig;           /* "use" is "sig" */
	bool has_key_ops;
	bool ops_verify;        /* "key_ops" contains "verify" */
	unsigned char *a;       /* RSA: n, EC: x */
	size_t a_len;
	unsigned char *b;       /* RSA: e, EC: y */
	size_t b_len;
};

struct pb_jwks {
	struct pb_jwk *keys;
	size_t n;
};

static void
jwk_clear(struct pb_jwk *k)
{
	free(k->kid);
	free(k->alg);
	free(k->a);
	free(k->b);
	memset(k, 0, sizeof(*k));
}

void
pb_jwks_free(struct pb_jwks *jwks)
{
	size_t i;

	if (jwks == NULL)
		return;
	for (i = 0; i < jwks->n; i++)
		jwk_clear(&jwks->keys[i]);
	free(jwks->keys);
	free(jwks);
}

size_t
pb_jwks_count(const struct pb_jwks *jwks)
{
	return jwks ? jwks->n : 0;
}

/* Copies a JSON string (jansson refuses NUL inside strings unless asked,
 * so the copy is a proper C string). */
static char *
dup_json_string(const json_t *s, size_t *len)
{
	size_t n = json_string_length(s);
	char *p = malloc(n + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, json_string_value(s), n);
	p[n] = '\0';
	*len = n;
	return p;
}

/* Decodes member name of key k as strict base64url into *out. Returns 0,
 * or -1 with err set. */
static int
member_b64(const json_t *k, const char *name, size_t idx, unsigned char **out,
    size_t *out_len, char *err, size_t errlen)
{
	const json_t *v = json_object_get(k, name);

	if (!json_is_string(v)) {
		pb_msg(err, errlen, "key %zu: \"%s\" missing or not a string",
		    idx, name);
		return -1;
	}
	if (json_string_length(v) == 0 ||
	    pb_b64url_decode(json_string_value(v), json_string_length(v),
	    out, out_len) != 0) {
		pb_msg(err, errlen, "key %zu: \"%s\" is not valid base64url",
		    idx, name);
		return -1;
	}
	return 0;
}

/* Checks the members every JWK may carry, whatever its type, and keeps
 * them in k. Returns 0, or -1 with err set. */
static int
parse_common(const json_t *obj, size_t idx, struct pb_jwk *k, char *err,
    size_t errlen)
{
	const json_t *kid = json_object_get(obj, "kid");
	const json_t *alg = json_object_get(obj, "alg");
	const json_t *use = json_object_get(obj, "use");
	const json_t *ops = json_object_get(obj, "key_ops");
	size_t i;

	if ((kid && !json_is_string(kid)) || (alg && !json_is_string(alg)) ||
	    (use && !json_is_string(use))) {
		pb_msg(err, errlen, "key %zu: \"kid\", \"alg\" or \"use\" is not "
		    "a string", idx);
		return -1;
	}
	if (ops) {
		if (!json_is_array(ops)) {
			pb_msg(err, errlen, "key %zu: \"key_ops\" is not an array",
			    idx);
			return -1;
		}
		k->has_key_ops = true;
		for (i = 0; i < json_array_size(ops); i++) {
			const json_t *op = json_array_get(ops, i);

			if (!json_is_string(op)) {
				pb_msg(err, errlen, "key %zu: \"key_ops\" holds "
				    "a non-string", idx);
				return -1;
			}
			if (strcmp(json_string_value(op), "verify") == 0)
				k->ops_verify = true;
		}
	}
	if (use) {
		k->has_use = true;
		k->use_sig = strcmp(json_string_value(use), "sig") == 0;
	}
	if (kid && (k->kid = dup_json_string(kid, &k->kid_len)) == NULL)
		goto oom;
	if (alg && (k->alg = dup_json_string(alg, &k->alg_len)) == NULL)
		goto oom;
	return 0;

oom:
	pb_msg(err, errlen, "out of memory");
	return -1;
}

/* Parses one entry of "keys". Returns 1 when k holds a usable key, 0 when
 * the entry is of a type we skip, -1 when the document is invalid. */
static int
parse_key(const json_t *obj, size_t idx, struct pb_jwk *k, char *err,
    size_t errlen)
{
	const json_t *kty = json_object_get(obj, "kty");
	const char *t;

	if (!json_is_object(obj)) {
		pb_msg(err, errlen, "key %zu is not an object", idx);
		return -1;
	}
	if (!json_is_string(kty)) {
		pb_msg(err, errlen, "key %zu: \"kty\" missing or not a string",
		    idx);
		return -1;
	}
	if (parse_common(obj, idx, k, err, errlen) != 0)
		return -1;

	t = json_string_value(kty);
	if (strcmp(t, "RSA") == 0) {
		k->kty = PB_KTY_RSA;
		if (member_b64(obj, "n", idx, &k->a, &k->a_len, err,
		    errlen) != 0 ||
		    member_b64(obj, "e", idx, &k->b, &k->b_len, err,
		    errlen) != 0)
			return -1;
		return 1;
	}
	if (strcmp(t, "EC") == 0) {
		const json_t *crv = json_object_get(obj, "crv");
		size_t want;

		k->kty = PB_KTY_EC;
		if (!json_is_string(crv)) {
			pb_msg(err, errlen, "key %zu: \"crv\" missing or not a "
			    "string", idx);
			return -1;
		}
		if (strcmp(json_string_value(crv), "P-256") == 0) {
			k->crv_bits = 256;
			want = 32;
		} else if (strcmp(json_string_value(crv), "P-384") == 0) {
			k->crv_bits = 384;
			want = 48;
		} else {
			/* P-521 or secp256k1: no algorithm we accept uses
			 * them, so skip like an unknown kty. */
			return 0;
		}
		if (member_b64(obj, "x", idx, &k->a, &k->a_len, err,
		    errlen) != 0 ||
		    member_b64(obj, "y", idx, &k->b, &k->b_len, err,
		    errlen) != 0)
			return -1;
		if (k->a_len != want || k->b_len != want) {
			pb_msg(err, errlen, "key %zu: EC coordinates must be %zu "
			    "bytes", idx, want);
			return -1;
		}
		return 1;
	}
	/* "oct", "OKP" and anything newer: never used. */
	return 0;
}

int
pb_jwks_parse(const char *buf, size_t len, struct pb_jwks **out,
    char *err, size_t errlen)
{
	json_t *root;
	json_error_t jerr;
	int r;

	if (out == NULL) {
		pb_msg(err, errlen, "no output");
		return -1;
	}
	*out = NULL;
	if (buf == NULL || len == 0) {
		pb_msg(err, errlen, "empty document");
		return -1;
	}
	if (len > PB_JWKS_MAX_BYTES) {
		pb_msg(err, errlen, "document larger than %d bytes",
		    PB_JWKS_MAX_BYTES);
		return -1;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		pb_msg(err, errlen, "invalid JSON at line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
		return -1;
	}
	r = pb_jwks_from_json(root, out, err, errlen);
	json_decref(root);
	return r;
}

int
pb_jwks_from_json(const json_t *root, struct pb_jwks **out, char *err,
    size_t errlen)
{
	struct pb_jwks *jwks = NULL;
	const json_t *keys;
	size_t i, j, nkeys;

	*out = NULL;
	if (!json_is_object(root)) {
		pb_msg(err, errlen, "document is not a JSON object");
		return -1;
	}
	keys = json_object_get(root, "keys");
	if (!json_is_array(keys)) {
		pb_msg(err, errlen, "\"keys\" missing or not an array");
		return -1;
	}
	nkeys = json_array_size(keys);
	if (nkeys > PB_JWKS_MAX_KEYS) {
		pb_msg(err, errlen, "more than %d keys", PB_JWKS_MAX_KEYS);
		return -1;
	}

	jwks = calloc(1, sizeof(*jwks));
	if (jwks == NULL || (nkeys > 0 &&
	    (jwks->keys = calloc(nkeys, sizeof(*jwks->keys))) == NULL)) {
		pb_msg(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < nkeys; i++) {
		struct pb_jwk *k = &jwks->keys[jwks->n];
		int r = parse_key(json_array_get(keys, i), i, k, err, errlen);

		if (r < 0) {
			jwk_clear(k);
			goto fail;
		}
		if (r == 0) {
			jwk_clear(k);
			continue;
		}
		/* Two usable keys under one kid: which one verifies is a
		 * guess, so the set is refused as ambiguous. */
		for (j = 0; k->kid && j < jwks->n; j++) {
			const struct pb_jwk *o = &jwks->keys[j];

			if (o->kid && o->kid_len == k->kid_len &&
			    memcmp(o->kid, k->kid, k->kid_len) == 0) {
				pb_msg(err, errlen, "key %zu: duplicate kid", i);
				jwk_clear(k);
				goto fail;
			}
		}
		jwks->n++;
	}
	/* A set that can verify nothing is as good as a broken one: refusing
	 * it lets the caller keep the last good set. */
	if (jwks->n == 0) {
		pb_msg(err, errlen, "no usable RSA or EC key");
		goto fail;
	}
	*out = jwks;
	return 0;

fail:
	pb_jwks_free(jwks);
	return -1;
}

static const char *
alg_name(enum pb_alg alg)
{
	switch (alg) {
	case PB_ALG_RS256: return "RS256";
	case PB_ALG_RS384: return "RS384";
	case PB_ALG_RS512: return "RS512";
	case PB_ALG_ES256: return "ES256";
	case PB_ALG_ES384: return "ES384";
	}
	return NULL;
}

/* Does key k fit the header algorithm? Returns NULL, or why not. */
static const char *
misfit(const struct pb_jwk *k, enum pb_alg alg)
{
	const char *name = alg_name(alg);

	if (name == NULL)
		return "unsupported algorithm";
	switch (alg) {
	case PB_ALG_RS256:
	case PB_ALG_RS384:
	case PB_ALG_RS512:
		if (k->kty != PB_KTY_RSA)
			return "key is not an RSA key";
		break;
	case PB_ALG_ES256:
		if (k->kty != PB_KTY_EC || k->crv_bits != 256)
			return "key is not a P-256 EC key";
		break;
	case PB_ALG_ES384:
		if (k->kty != PB_KTY_EC || k->crv_bits != 384)
			return "key is not a P-384 EC key";
		break;
	}
	if (k->alg && (k->alg_len != strlen(name) ||
	    memcmp(k->alg, name, k->alg_len) != 0))
		return "key is for another algorithm";
	if (k->has_use && !k->use_sig)
		return "key use is not \"sig\"";
	if (k->has_key_ops && !k->ops_verify)
		return "key_ops lacks \"verify\"";
	return NULL;
}

/* Wraps a low-level key in an EVP_PKEY, which takes it over. */
static enum pb_reason
wrap_key(int type, void *low, EVP_PKEY **key, char *detail,
    size_t detail_len)
{
	if ((*key = EVP_PKEY_new()) == NULL ||
	    EVP_PKEY_assign(*key, type, low) != 1) {
		EVP_PKEY_free(*key);
		*key = NULL;
		pb_msg(detail, detail_len, "out of memory building key");
		return PB_UNKNOWN_KEY;
	}
	return PB_OK;
}

/* Builds the RSA public key. Returns PB_OK, or PB_UNKNOWN_KEY with a
 * detail for a key we refuse or could not build (out of memory too: the
 * caller refuses the token either way). */
static enum pb_reason
build_rsa(const struct pb_jwk *k, EVP_PKEY **key, char *detail,
    size_t detail_len)
{
	enum pb_reason r = PB_UNKNOWN_KEY;
	BIGNUM *n = NULL, *e = NULL;
	RSA *rsa = NULL;
	int nbits;

	n = BN_bin2bn(k->a, (int)k->a_len, NULL);
	e = BN_bin2bn(k->b, (int)k->b_len, NULL);
	if (n == NULL || e == NULL) {
		pb_msg(detail, detail_len, "out of memory building key");
		goto out;
	}
	/* Leading zero bytes in "n" are tolerated: the size that matters
	 * is that of the number, not of its encoding. */
	nbits = BN_num_bits(n);
	if (nbits < PB_RSA_MIN_BITS) {
		pb_msg(detail, detail_len, "RSA key of %d bits is too weak "
		    "(at least %d required)", nbits, PB_RSA_MIN_BITS);
		goto out;
	}
	if (nbits > PB_RSA_MAX_BITS) {
		pb_msg(detail, detail_len, "RSA key of %d bits is too large "
		    "(at most %d supported)", nbits, PB_RSA_MAX_BITS);
		goto out;
	}
	/* e = 1 makes every "signature" equal to its padded digest; even e
	 * is not an RSA key at all. */
	if (!BN_is_odd(e) || BN_is_one(e) ||
	    BN_num_bits(e) > PB_RSA_MAX_E_BITS) {
		pb_msg(detail, detail_len, "RSA key has an unusable public "
		    "exponent");
		goto out;
	}
	if ((rsa = RSA_new()) == NULL || RSA_set0_key(rsa, n, e, NULL) != 1) {
		pb_msg(detail, detail_len, "RSA key could not be loaded");
		goto out;
	}
	n = e = NULL;   /* rsa owns them */
	r = wrap_key(EVP_PKEY_RSA, rsa, key, detail, detail_len);
	if (r == PB_OK)
		rsa = NULL;

out:
	RSA_free(rsa);
	BN_free(n);
	BN_free(e);
	return r;
}

/* Builds the EC public key from 04||X||Y and checks the point is on the
 * curve (an off-curve point invites invalid-curve attacks). */
static enum pb_reason
build_ec(const struct pb_jwk *k, EVP_PKEY **key, char *detail,
    size_t detail_len)
{
	enum pb_reason r = PB_UNKNOWN_KEY;
	unsigned char point[1 + 2 * 48];
	size_t plen = 1 + k->a_len + k->b_len;
	EC_KEY *ec;

	/* Sizes were checked at parse time; check again rather than trust
	 * a distant invariant with a stack buffer. */
	if (k->a_len != k->b_len || plen > sizeof(point) ||
	    (k->crv_bits == 256 && k->a_len != 32) ||
	    (k->crv_bits == 384 && k->a_len != 48)) {
		pb_msg(detail, detail_len, "EC key has wrong coordinate sizes");
		return PB_UNKNOWN_KEY;
	}
	point[0] = 0x04;
	memcpy(point + 1, k->a, k->a_len);
	memcpy(point + 1 + k->a_len, k->b, k->b_len);

	ec = EC_KEY_new_by_curve_name(k->crv_bits == 256 ?
	    NID_X9_62_prime256v1 : NID_secp384r1);
	if (ec == NULL) {
		pb_msg(detail, detail_len, "out of memory building key");
		return PB_UNKNOWN_KEY;
	}
	/* oct2key refuses a point off the curve; check_key also refuses
	 * the point at infinity and one outside the prime-order group. */
	if (EC_KEY_oct2key(ec, point, plen, NULL) != 1 ||
	    EC_KEY_check_key(ec) != 1) {
		pb_msg(detail, detail_len, "EC key point is not on the curve");
		goto out;
	}
	r = wrap_key(EVP_PKEY_EC, ec, key, detail, detail_len);
	if (r == PB_OK)
		ec = NULL;

out:
	EC_KEY_free(ec);
	return r;
}

enum pb_reason
pb_jwks_select(const struct pb_jwks *jwks, const char *kid,
    enum pb_alg alg, EVP_PKEY **key, char *detail, size_t detail_len)
{
	const struct pb_jwk *k = NULL;
	const char *why;
	enum pb_reason r;
	size_t i;

	if (key == NULL)
		return PB_UNKNOWN_KEY;
	*key = NULL;
	if (jwks == NULL || jwks->n == 0) {
		pb_msg(detail, detail_len, "no keys available");
		return PB_UNKNOWN_KEY;
	}
	if (kid != NULL) {
		/* Token kids are bounded by the caller (256 bytes); the
		 * bound here only guards against a runaway string. */
		size_t kl = strnlen(kid, PB_KID_SCAN_MAX + 1);

		if (kl > PB_KID_SCAN_MAX) {
			pb_msg(detail, detail_len, "kid is too long");
			return PB_UNKNOWN_KEY;
		}

		for (i = 0; i < jwks->n; i++) {
			const struct pb_jwk *c = &jwks->keys[i];

			if (c->kid && c->kid_len == kl &&
			    memcmp(c->kid, kid, kl) == 0) {
				k = c;
				break;
			}
		}
		if (k == NULL) {
			pb_msg(detail, detail_len, "no key with this kid");
			return PB_UNKNOWN_KEY;
		}
	} else {
		/* Without a kid only an unambiguous set will do. */
		if (jwks->n != 1) {
			pb_msg(detail, detail_len, "token has no kid and the key "
			    "set holds %zu keys", jwks->n);
			return PB_UNKNOWN_KEY;
		}
		k = &jwks->keys[0];
	}

	why = misfit(k, alg);
	if (why != NULL) {
		pb_msg(detail, detail_len, "%s", why);
		return PB_ALGORITHM;
	}

	if (k->kty == PB_KTY_RSA)
		r = build_rsa(k, key, detail, detail_len);
	else
		r = build_ec(k, key, detail, detail_len);
	if (r != PB_OK) {
		EVP_PKEY_free(*key);
		*key = NULL;
		/* Leave no stale errors for the host process. */
		ERR_clear_error();
	}
	return r;
}
