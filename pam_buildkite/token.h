/*
 * token.h - verification of a Buildkite OIDC token (doc/token.md).
 */
#ifndef PB_TOKEN_H
#define PB_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "jwks.h"
#include "policy_config.h"
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

/* Receives each verification step as it is taken, for the admin tool's
 * explain: step is a short name ("signature", "exp", ...), passed says
 * whether the token got past it, what says so in plain words. what never
 * holds the token, nor an unverified claim value beyond the header's alg
 * and kid. */
typedef void (*pb_step_fn)(void *ctx, const char *step, bool passed,
    const char *what);

/* pb_token_verify, reporting every step to step (when not NULL). With
 * step NULL it is pb_token_verify: same checks, same order, same result. */
enum pb_reason pb_token_verify_traced(const char *token, size_t len,
    const struct pb_jwks *jwks, const struct pb_config *cfg, long long now,
    struct pb_token_info *info, char *detail, size_t detail_len,
    pb_step_fn step, void *step_ctx);

/* Frees what pb_token_verify put in info. */
void pb_token_info_clear(struct pb_token_info *info);

#endif
