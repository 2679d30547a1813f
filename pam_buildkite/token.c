/*
 * token.c - verification of a Buildkite OIDC token (doc/token.md),
 * as a sequence of steps.
 *
 * The compact JWS is taken apart without a JWT library (jws.h says why),
 * the header must name an algorithm the policy allows (token_header.c),
 * the signature must verify with the key it chose (token_sig.c), and
 * only then is the payload even parsed and its claims checked
 * (token_claims.c). Each step yields one result that is both the
 * refusal's detail and what the admin tool's explain shows
 * (token_step.h).
 *
 * Every path that is not a complete success returns a refusal: an
 * allocation failure is a refused token, never an accepted one.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "b64url.h"
#include "jws.h"
#include "msg.h"
#include "token.h"
#include "token_claims.h"
#include "token_header.h"
#include "token_sig.h"
#include "token_step.h"

/* One verification: its inputs and what the steps found so far. */
struct verify {
	const struct pb_steps *s;
	const struct pb_jwks *jwks;
	const struct pb_config *cfg;
	long long now;
	struct pb_token_info *info;
	const char *token;
	size_t len;
	struct pb_jws jws;
	json_t *hdr;
	struct pb_header h;
	EVP_PKEY *key;
	json_t *claims;
};

/* The settings this file depends on; the policy loader guarantees them,
 * but a NULL here must refuse rather than crash or match nothing. */
static bool
config_usable(const struct pb_config *cfg)
{
	size_t i;

	if (cfg->token.issuer == NULL || cfg->token.organization == NULL ||
	    cfg->token.audiences == NULL || cfg->token.n_audiences == 0 ||
	    cfg->token.algorithms == 0 || cfg->token.leeway < 0 ||
	    cfg->token.max_lifetime < 0)
		return false;
	for (i = 0; i < cfg->token.n_audiences; i++)
		if (cfg->token.audiences[i] == NULL)
			return false;
	return true;
}

/* "config": only a refusal is reported. */
static enum pb_reason
step_config(struct verify *v)
{
	struct pb_step st;

	if (v->info != NULL && v->cfg != NULL && config_usable(v->cfg))
		return PB_OK;
	pb_step_set(&st, PB_CONFIG, "verifier not configured");
	return pb_step_report(v->s, "config", &st);
}

static enum pb_reason
step_size(struct verify *v)
{
	size_t given = v->len;
	struct pb_step st;

	if (v->token == NULL) {
		pb_step_set(&st, PB_MALFORMED, "no token");
		return pb_step_report(v->s, "size", &st);
	}
	pb_jws_trim(&v->token, &v->len);
	if (v->len == 0)
		pb_step_set(&st, PB_MALFORMED, "empty token");
	else if (v->len > PB_TOKEN_MAX_BYTES)
		pb_step_set(&st, PB_MALFORMED, "token longer than %d bytes",
		    PB_TOKEN_MAX_BYTES);
	else
		pb_step_set(&st, PB_OK, "%zu bytes (%zu of surrounding "
		    "whitespace trimmed), at most %d allowed", v->len,
		    given - v->len, PB_TOKEN_MAX_BYTES);
	return pb_step_report(v->s, "size", &st);
}

/* "segments": header.payload.signature, each part base64url. An empty
 * signature is refused after the header (step_signed), so that an
 * "alg":"none" token is reported as the algorithm it names. */
static enum pb_reason
step_segments(struct verify *v)
{
	const struct pb_jws *j = &v->jws;
	struct pb_step st;

	if (pb_jws_split(v->token, v->len, &v->jws) != 0)
		pb_step_set(&st, PB_MALFORMED, "token is not three "
		    "dot-separated parts");
	else if (j->header_len == 0 || j->payload_len == 0)
		pb_step_set(&st, PB_MALFORMED, "token has an empty part");
	else if (pb_b64url_span(j->header, j->header_len) != j->header_len ||
	    pb_b64url_span(j->payload, j->payload_len) != j->payload_len ||
	    pb_b64url_span(j->sig, j->sig_len) != j->sig_len)
		pb_step_set(&st, PB_MALFORMED, "token has a character outside "
		    "base64url");
	else
		pb_step_set(&st, PB_OK, "three base64url parts: header %zu, "
		    "payload %zu, signature %zu characters", j->header_len,
		    j->payload_len, j->sig_len);
	return pb_step_report(v->s, "segments", &st);
}

/* "header", then "algorithm" when the header passed. */
static enum pb_reason
step_header(struct verify *v)
{
	struct pb_step header, algorithm;
	enum pb_jws_err err;
	enum pb_reason r;

	v->hdr = pb_jws_object(v->jws.header, v->jws.header_len, &err, NULL);
	if (v->hdr == NULL) {
		pb_step_set(&header, PB_MALFORMED, "header is not a "
		    "well-formed JSON object");
		return pb_step_report(v->s, "header", &header);
	}
	pb_header_check(v->hdr, v->cfg, v->info, &v->h, &header, &algorithm);
	if ((r = pb_step_report(v->s, "header", &header)) != PB_OK)
		return r;
	return pb_step_report(v->s, "algorithm", &algorithm);
}

/* "segments" once more: a token of an allowed algorithm has a
 * signature. */
static enum pb_reason
step_signed(struct verify *v)
{
	struct pb_step st;

	if (v->jws.sig_len > 0)
		return PB_OK;
	pb_step_set(&st, PB_MALFORMED, "token has no signature");
	return pb_step_report(v->s, "segments", &st);
}

static enum pb_reason
step_key(struct verify *v)
{
	struct pb_step st;

	pb_sig_key(v->jwks, v->h.kid, v->info->kid, v->h.alg, &v->key, &st);
	return pb_step_report(v->s, "key", &st);
}

static enum pb_reason
step_signature(struct verify *v)
{
	struct pb_step st;

	pb_sig_verify(v->h.alg, v->key, &v->jws, &st);
	return pb_step_report(v->s, "signature", &st);
}

static enum pb_reason
step_claims(struct verify *v)
{
	struct pb_step st;

	v->claims = pb_claims_parse(&v->jws, &st);
	return pb_step_report(v->s, "claims", &st);
}

/* Issuer, audience, organization and times. Signed and well typed: the
 * audit event may name the job even when the token is refused for
 * them. */
static enum pb_reason
step_claim_checks(struct verify *v)
{
	enum pb_reason r;

	r = pb_claims_check(v->claims, v->cfg, v->now, v->s);
	if (r != PB_MALFORMED) {
		v->info->claims = v->claims;
		v->claims = NULL;
	}
	return r;
}

/* In order; the first refusal is the verdict. */
static enum pb_reason (*const steps[])(struct verify *) = {
	step_config,
	step_size,
	step_segments,
	step_header,
	step_signed,
	step_key,
	step_signature,
	step_claims,
	step_claim_checks,
};

enum pb_reason
pb_token_verify(const char *token, size_t len, const struct pb_jwks *jwks,
    const struct pb_config *cfg, long long now, struct pb_token_info *info,
    char *detail, size_t detail_len)
{
	return pb_token_verify_traced(token, len, jwks, cfg, now, info, detail,
	    detail_len, NULL, NULL);
}

enum pb_reason
pb_token_verify_traced(const char *token, size_t len,
    const struct pb_jwks *jwks, const struct pb_config *cfg, long long now,
    struct pb_token_info *info, char *detail, size_t detail_len,
    pb_step_fn step, void *step_ctx)
{
	const struct pb_steps s = { step, step_ctx, detail, detail_len };
	struct verify v = {
		.s = &s, .jwks = jwks, .cfg = cfg, .now = now, .info = info,
		.token = token, .len = len,
	};
	enum pb_reason r = PB_OK;
	size_t i;

	if (detail != NULL && detail_len > 0)
		detail[0] = '\0';
	if (info != NULL)
		memset(info, 0, sizeof(*info));
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]) && r == PB_OK; i++)
		r = steps[i](&v);
	if (r == PB_OK)
		pb_msg(detail, detail_len, "token verified");
	json_decref(v.claims);
	json_decref(v.hdr);
	EVP_PKEY_free(v.key);
	return r;
}

void
pb_token_info_clear(struct pb_token_info *info)
{
	if (info == NULL)
		return;
	json_decref(info->claims);
	memset(info, 0, sizeof(*info));
}
