/*
 * fuzz_jwks.c - fuzz target: the input is a JWKS document. When
 * pb_jwks_parse takes it, keys are chosen from it with pb_jwks_select
 * for every algorithm and several kids: none, "k1", the first bytes of
 * the input, and the kids the document itself names (so the RSA and EC
 * key building runs on the fuzzed key material). Every key returned is
 * freed, and checked to be what was asked for (__builtin_trap if not):
 * an RSA key of at least 2048 bits for RS*, an EC key of the curve's
 * size for ES*.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "jwks.h"

#define MAX_DOC_KIDS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const enum pb_alg all_algs[] = {
	PB_ALG_RS256, PB_ALG_RS384, PB_ALG_RS512, PB_ALG_ES256, PB_ALG_ES384,
};

static void
select_all(const struct pb_jwks *jwks, const char *kid)
{
	size_t i;

	for (i = 0; i < sizeof(all_algs) / sizeof(all_algs[0]); i++) {
		enum pb_alg alg = all_algs[i];
		EVP_PKEY *key = (EVP_PKEY *)1;  /* must be reset */
		char detail[256];
		enum pb_reason r;

		detail[0] = '\0';
		r = pb_jwks_select(jwks, kid, alg, &key, detail,
		    sizeof(detail));
		if (memchr(detail, '\0', sizeof(detail)) == NULL)
			__builtin_trap();
		if (r != PB_OK) {
			if (key != NULL || (r != PB_UNKNOWN_KEY &&
			    r != PB_ALGORITHM))
				__builtin_trap();
			continue;
		}
		if (key == NULL)
			__builtin_trap();
		if (alg == PB_ALG_ES256 || alg == PB_ALG_ES384) {
			if (!EVP_PKEY_is_a(key, "EC") ||
			    EVP_PKEY_get_bits(key) !=
			    (alg == PB_ALG_ES256 ? 256 : 384))
				__builtin_trap();
		} else if (!EVP_PKEY_is_a(key, "RSA") ||
		    EVP_PKEY_get_bits(key) < 2048) {
			__builtin_trap();
		}
		EVP_PKEY_free(key);
	}
	/* pb_jwks_select leaves no errors behind; make sure of it for the
	 * next input either way. */
	ERR_clear_error();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pb_jwks *jwks = NULL;
	char err[256], prefix[17];
	json_t *doc;
	size_t n, i;
	int rc;

	err[0] = '\0';
	rc = pb_jwks_parse((const char *)data, size, &jwks, err, sizeof(err));
	if (memchr(err, '\0', sizeof(err)) == NULL)
		__builtin_trap();
	if (rc != 0) {
		if (jwks != NULL || err[0] == '\0')
			__builtin_trap();
		return 0;
	}
	n = pb_jwks_count(jwks);
	if (jwks == NULL || n == 0 || n > PB_JWKS_MAX_KEYS)
		__builtin_trap();

	select_all(jwks, NULL);
	select_all(jwks, "k1");
	n = size < sizeof(prefix) - 1 ? size : sizeof(prefix) - 1;
	memcpy(prefix, data, n);
	prefix[n] = '\0';
	select_all(jwks, prefix);

	/* The document parsed, so it is JSON: take the kids it names. */
	doc = json_loadb((const char *)data, size, 0, NULL);
	if (doc == NULL)
		__builtin_trap();
	for (i = 0; i < json_array_size(json_object_get(doc, "keys")) &&
	    i < MAX_DOC_KIDS; i++) {
		const json_t *k = json_array_get(json_object_get(doc, "keys"),
		    i);
		const char *kid = json_string_value(json_object_get(k, "kid"));

		if (kid != NULL)
			select_all(jwks, kid);
	}
	json_decref(doc);
	pb_jwks_free(jwks);
	return 0;
}
