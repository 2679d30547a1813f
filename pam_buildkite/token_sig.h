/*
 * token_sig.h - the signature of a token: the algorithms this module
 * verifies, the key a token chooses, the signature check (private to
 * token*.c).
 */
#ifndef PB_TOKEN_SIG_H
#define PB_TOKEN_SIG_H

#include <stddef.h>

#include <openssl/evp.h>

#include "jwks.h"
#include "jws.h"
#include "policy_config.h"
#include "token_step.h"

struct pb_sig_alg {
	const char *name;       /* as the header says it: "RS256" */
	enum pb_alg alg;        /* its bit in token.algorithms */
	int md;                 /* NID of the digest */
	size_t ec_sig_len;      /* JOSE R||S length, 0 for RSA */
};

/* The algorithm called exactly name (len bytes), or NULL when this module
 * does not verify it. */
const struct pb_sig_alg *pb_sig_alg_named(const char *name, size_t len);

/* The step "key": the key of jwks that kid (NULL: none in the header;
 * shown_kid is how the header's kid is shown) names and alg fits. On
 * PB_OK *key holds a reference the caller frees. */
void pb_sig_key(const struct pb_jwks *jwks, const char *kid,
    const char *shown_kid, const struct pb_sig_alg *alg, EVP_PKEY **key,
    struct pb_step *st);

/* The step "signature": jws's signature over its signing input, checked
 * with key as alg says. PB_OK only when OpenSSL says it is valid. */
void pb_sig_verify(const struct pb_sig_alg *alg, EVP_PKEY *key,
    const struct pb_jws *jws, struct pb_step *st);

#endif
