/*
 * authn.h - one authentication decision: keys, token, policy.
 *
 * The PAM module and the admin tool's explain both run this, so what
 * explain says is what a login does.
 */
#ifndef PB_AUTHN_H
#define PB_AUTHN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "policy.h"
#include "reason.h"
#include "token.h"

struct pb_authn {
	struct pb_token_info info;  /* kid, alg and signed claims */
	const char *rule;           /* deciding rule, owned by the policy */
	long long session_lifetime; /* when allowed: how long the session
				       may last (policy_config.h) */
	char detail[1200];          /* why, in plain words */
	char keys_note[512];        /* what the key source did beyond a
				       fresh read (stale keys, a cache
				       ignored, a fetch), for the audit */
};

/* Verifies token (len bytes) with the keys the policy names, at time now,
 * and asks the policy whether the job may become role from rhost (NULL
 * for Unix sockets). A rule that limits the session's lifetime allows
 * only where sessions_end (the pg_buildkite extension will end it), else
 * the login is refused with PB_CONFIG. With token.single_use, an
 * allowed token's jti is then recorded in the replay store (PB_REPLAY if
 * it was used before).
 * trace, when not NULL, receives each rule's verdict.
 * Fills out (clear it with pb_authn_clear) and returns PB_OK only for a
 * genuine token the policy allows. */
enum pb_reason pb_authn_run(const struct pb_policy *pol, const char *token,
    size_t len, const char *role, const char *rhost, long long now,
    bool sessions_end, pb_trace_fn trace, void *trace_ctx,
    struct pb_authn *out);

/* What the admin tool's explain runs: pb_authn_run that also reports
 * each verification step (where the keys came from, then every check of
 * pb_token_verify_traced) to step when it is not NULL, except that
 * token.single_use only looks the jti up and records nothing, so
 * explaining a token does not use it up. The token is judged at now,
 * which explain's --now may set anywhere; the key cache at keys_now, the
 * real time: the cache on disk is of the present, and judged at another
 * time it would be ignored or, with jwks.writer: module, rewritten with
 * a false fetched_at. */
enum pb_reason pb_authn_explain(const struct pb_policy *pol,
    const char *token, size_t len, const char *role, const char *rhost,
    long long now, long long keys_now, pb_step_fn step, void *step_ctx,
    pb_trace_fn trace, void *trace_ctx, struct pb_authn *out);

/* The policy step alone, for claims already verified (or given to the
 * admin tool's explain): PB_OK, PB_NO_RULE, PB_DENIED, or PB_CONFIG when
 * the policy could not decide. Sets *rule to the deciding rule (owned by
 * the policy, NULL when none) and *lifetime to the allowed session's
 * lifetime, and says why in detail ("" when allowed). */
enum pb_reason pb_authn_decide(const struct pb_policy *pol,
    const json_t *claims, const char *role, const char *rhost,
    pb_trace_fn trace, void *trace_ctx, const char **rule,
    long long *lifetime, char *detail, size_t detail_len);

void pb_authn_clear(struct pb_authn *out);

#endif
