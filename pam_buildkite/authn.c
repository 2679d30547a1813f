/*
 * authn.c - one authentication decision: keys, token, policy.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "authn.h"
#include "jwks_cache.h"

enum pb_reason
pb_authn_run(const struct pb_policy *pol, const char *token, size_t len,
    const char *role, const char *rhost, long long now, pb_trace_fn trace,
    void *trace_ctx, struct pb_authn *out)
{
	const struct pb_config *cfg = pb_policy_config(pol);
	struct pb_jwks *jwks = NULL;
	struct pb_decision dec;
	enum pb_reason reason;

	memset(out, 0, sizeof(*out));
	reason = pb_keys_get(cfg, &jwks, out->detail, sizeof(out->detail));
	if (reason != PB_OK)
		return reason;
	reason = pb_token_verify(token, len, jwks, cfg, now, &out->info,
	    out->detail, sizeof(out->detail));
	pb_jwks_free(jwks);
	if (reason != PB_OK)
		return reason;

	if (pb_policy_decide(pol, out->info.claims, role, rhost, &dec, trace,
	    trace_ctx) != 0) {
		snprintf(out->detail, sizeof(out->detail),
		    "out of memory deciding");
		return PB_CONFIG;
	}
	out->rule = dec.rule;
	switch (dec.verdict) {
	case PB_VERDICT_ALLOW:
		out->detail[0] = '\0';
		return PB_OK;
	case PB_VERDICT_DENIED:
		snprintf(out->detail, sizeof(out->detail),
		    "a matching deny rule covers the role");
		return PB_DENIED;
	default:
		snprintf(out->detail, sizeof(out->detail),
		    "no allow rule matches and lists the role");
		return PB_NO_RULE;
	}
}

void
pb_authn_clear(struct pb_authn *out)
{
	pb_token_info_clear(&out->info);
	out->rule = NULL;
}
