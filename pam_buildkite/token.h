/*
 * token.h - verification of a Buildkite OIDC token (SPEC.md section 4).
 */
#ifndef PB_TOKEN_H
#define PB_TOKEN_H

#include <stddef.h>

#include <jansson.h>

#include "jwks.h"
#include "policy.h"
#include "reason.h"

#define PB_TOKEN_MAX_BYTES (16 * 1024)

/* What the audit event may say about a token. kid and alg come from the
 * header and are set as soon as the header parsed. claims is set once the
 * signature verified and the claims are well typed - also when a later
 * check (issuer, audience, organization, times) refuses the token, so the
 * refusal can name the job; only PB_OK means the token is accepted. */
struct pb_token_info {
	char kid[129];          /* truncated; "" when absent */
	char alg[8];
	json_t *claims;         /* signed payload, or NULL; caller frees */
};

/* Verifies token (len bytes; surrounding whitespace already trimmed by the
 * caller or not - it is trimmed here too) against jwks and the policy's
 * token settings at time now (Unix seconds).
 * Returns PB_OK, or the reason for refusal with a short plain-words
 * detail (never containing unverified claim values beyond the header's
 * alg and kid). */
enum pb_reason pb_token_verify(const char *token, size_t len,
    const struct pb_jwks *jwks, const struct pb_config *cfg, long long now,
    struct pb_token_info *info, char *detail, size_t detail_len);

/* Frees what pb_token_verify put in info. */
void pb_token_info_clear(struct pb_token_info *info);

#endif
