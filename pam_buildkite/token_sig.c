/*
 * token_sig.c - choosing the key a token names and checking its
 * signature (doc/token.md, step 4).
 *
 * The signature is checked with OpenSSL's RSA_verify or ECDSA_do_verify
 * (sha256.h says why not EVP), with the algorithm the policy allowed and
 * the key fits, never the one a token would like.
 */
#include "config.h"
#include "sha256.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "b64url.h"
#include "msg.h"
#include "token_sig.h"

static const struct pb_sig_alg algs[] = {
	{ "RS256", PB_ALG_RS256, NID_sha256, 0 },
	{ "RS384", PB_ALG_RS384, NID_sha384, 0 },
	{ "RS512", PB_ALG_RS512, NID_sha512, 0 },
	{ "ES256", PB_ALG_ES256, NID_sha256, 64 },
	{ "ES384", PB_ALG_ES384, NID_sha384, 96 },
};

const struct pb_sig_alg *
pb_sig_alg_named(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strlen(algs[i].name) == len &&
		    memcmp(algs[i].name, name, len) == 0)
			return &algs[i];
	return NULL;
}

/* The name and size of the key a token chose, for explain. */
static void
key_words(char *buf, size_t len, const EVP_PKEY *key)
{
	const char *type = EVP_PKEY_is_a(key, "RSA") ? "RSA" :
	    EVP_PKEY_is_a(key, "EC") ? "EC" : "unknown";

	pb_msg(buf, len, "%s key of %d bits", type, EVP_PKEY_get_bits(key));
}

void
pb_sig_key(const struct pb_jwks *jwks, const char *kid, const char *shown_kid,
    const struct pb_sig_alg *alg, EVP_PKEY **key, struct pb_step *st)
{
	char words[64];

	st->text[0] = '\0';
	st->reason = pb_jwks_select(jwks, kid, alg->alg, key, st->text,
	    sizeof(st->text));
	if (st->reason != PB_OK || *key == NULL) {
		if (st->reason == PB_OK)
			st->reason = PB_UNKNOWN_KEY;
		return;
	}
	key_words(words, sizeof(words), *key);
	if (kid != NULL)
		pb_step_set(st, PB_OK, "kid \"%s\" found among %zu keys: %s, "
		    "fits %s", shown_kid, pb_jwks_count(jwks), words,
		    alg->name);
	else
		pb_step_set(st, PB_OK, "no kid, the set's only key: %s, fits "
		    "%s", words, alg->name);
}

/* The digest of data that alg signs, into md (SHA512_DIGEST_LENGTH
 * bytes); returns its length. */
static unsigned int
digest(const struct pb_sig_alg *alg, const unsigned char *data, size_t len,
    unsigned char *md)
{
	SHA512_CTX c;

	switch (alg->md) {
	case NID_sha256:
		return pb_sha256(data, len, md) == 0 ? SHA256_DIGEST_LENGTH : 0;
	case NID_sha384:
		if (SHA384_Init(&c) != 1 ||
		    SHA384_Update(&c, data, len) != 1 ||
		    SHA384_Final(md, &c) != 1)
			return 0;
		return SHA384_DIGEST_LENGTH;
	case NID_sha512:
		if (SHA512_Init(&c) != 1 ||
		    SHA512_Update(&c, data, len) != 1 ||
		    SHA512_Final(md, &c) != 1)
			return 0;
		return SHA512_DIGEST_LENGTH;
	}
	return 0;
}

/* RSASSA-PKCS1-v1_5: RSA_verify checks the signature's length against
 * the modulus and compares the whole decrypted block with the one it
 * encodes from md, so no lenient parsing of the padding is involved. */
static bool
verify_rsa(const struct pb_sig_alg *alg, EVP_PKEY *key,
    const unsigned char *md, unsigned int md_len, const unsigned char *sig,
    size_t sig_len, struct pb_step *st)
{
	RSA *rsa = EVP_PKEY_get1_RSA(key);
	bool good = false;

	/* The key selection promised an RSA key; check anyway, the cost is
	 * nothing next to the modular exponentiation. */
	if (rsa == NULL)
		pb_step_set(st, PB_SIGNATURE, "key is not an RSA key");
	else if (sig_len != (size_t)RSA_size(rsa))
		pb_step_set(st, PB_SIGNATURE, "signature length does not "
		    "match the key");
	else if (RSA_verify(alg->md, md, md_len, sig, (unsigned)sig_len,
	    rsa) != 1)
		pb_step_set(st, PB_SIGNATURE, "signature does not verify");
	else
		good = true;
	RSA_free(rsa);
	return good;
}

/* ECDSA with the JOSE R||S form: each half is one number. */
static bool
verify_ec(const struct pb_sig_alg *alg, EVP_PKEY *key,
    const unsigned char *md, unsigned int md_len, const unsigned char *sig,
    size_t sig_len, struct pb_step *st)
{
	EC_KEY *ec = EVP_PKEY_get1_EC_KEY(key);
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	size_t half = sig_len / 2;
	bool good = false;

	if (ec == NULL || (size_t)EC_GROUP_get_degree(EC_KEY_get0_group(ec)) !=
	    alg->ec_sig_len * 4) {
		pb_step_set(st, PB_SIGNATURE, "key does not fit %s", alg->name);
		goto out;
	}
	if (sig_len != alg->ec_sig_len) {
		pb_step_set(st, PB_SIGNATURE, "signature length is not %zu "
		    "bytes", alg->ec_sig_len);
		goto out;
	}
	if ((es = ECDSA_SIG_new()) == NULL ||
	    (r = BN_bin2bn(sig, (int)half, NULL)) == NULL ||
	    (s = BN_bin2bn(sig + half, (int)half, NULL)) == NULL ||
	    ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		pb_step_set(st, PB_SIGNATURE, "signature could not be decoded");
		goto out;
	}
	/* es owns r and s now; only 1 means valid (0 bad, -1 error). */
	if (ECDSA_do_verify(md, (int)md_len, es, ec) != 1) {
		pb_step_set(st, PB_SIGNATURE, "signature does not verify");
		goto out;
	}
	good = true;

out:
	ECDSA_SIG_free(es);
	EC_KEY_free(ec);
	return good;
}

void
pb_sig_verify(const struct pb_sig_alg *alg, EVP_PKEY *key,
    const struct pb_jws *jws, struct pb_step *st)
{
	unsigned char md[SHA512_DIGEST_LENGTH], *sig = NULL;
	unsigned int md_len;
	size_t sig_len;
	bool good;

	if (pb_b64url_decode(jws->sig, jws->sig_len, &sig, &sig_len) != 0) {
		pb_step_set(st, PB_MALFORMED, "signature is not base64url");
		return;
	}
	md_len = digest(alg, (const unsigned char *)jws->header,
	    jws->signed_len, md);
	if (md_len == 0) {
		pb_step_set(st, PB_SIGNATURE, "signature check could not "
		    "start");
		good = false;
	} else if (alg->ec_sig_len == 0) {
		good = verify_rsa(alg, key, md, md_len, sig, sig_len, st);
	} else {
		good = verify_ec(alg, key, md, md_len, sig, sig_len, st);
	}
	if (good)
		pb_step_set(st, PB_OK, "%s signature verifies", alg->name);
	else
		ERR_clear_error();
	free(sig);
}
