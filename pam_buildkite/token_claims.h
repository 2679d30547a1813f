/*
 * token_claims.h - the claims of a token whose signature verified: their
 * JSON types, then issuer, audience, organization and times against the
 * policy (private to token*.c).
 */
#ifndef PB_TOKEN_CLAIMS_H
#define PB_TOKEN_CLAIMS_H

#include <jansson.h>

#include "jws.h"
#include "policy_config.h"
#include "token_step.h"

/* The step "claims": parses jws's payload and checks the JSON type of
 * every claim (doc/token.md). Returns the claims (the caller
 * decrefs them) with st passed, or NULL with st refused. */
json_t *pb_claims_parse(const struct pb_jws *jws, struct pb_step *st);

/* Checks the claims against cfg at time now, one step each ("issuer",
 * "audience", "organization", "organization_id" when the policy names
 * one, "exp", "nbf", "iat", "lifetime"), reporting each to s and stopping
 * at the first refusal, whose reason is returned. */
enum pb_reason pb_claims_check(const json_t *claims,
    const struct pb_config *cfg, long long now, const struct pb_steps *s);

#endif
