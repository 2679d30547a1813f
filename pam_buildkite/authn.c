/*
 * authn.c - one authentication decision: keys, token, policy, and the
 * jti replay store of token.single_use.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "authn.h"
#include "jwks_cache.h"
#include "msg.h"
#include "replay.h"

enum pb_reason
pb_authn_decide(const struct pb_policy *pol, const json_t *claims,
    const char *role, const char *rhost, pb_trace_fn trace, void *trace_ctx,
    const char **rule, long long *lifetime, char *detail, size_t detail_len)
{
	struct pb_decision dec;

	*rule = NULL;
	*lifetime = PB_LIFETIME_UNLIMITED;
	if (pb_policy_decide(pol, claims, role, rhost, &dec, trace,
	    trace_ctx) != 0) {
		snprintf(detail, detail_len, "policy: %s", dec.error);
		return PB_CONFIG;
	}
	*rule = dec.rule;
	*lifetime = dec.session_lifetime;
	switch (dec.verdict) {
	case PB_VERDICT_ALLOW:
		if (detail_len > 0)
			detail[0] = '\0';
		return PB_OK;
	case PB_VERDICT_DENIED:
		if (dec.undecided[0] != '\0')
			snprintf(detail, detail_len, "a deny rule applies "
			    "because a condition of it could not be decided: "
			    "%s", dec.undecided);
		else
			snprintf(detail, detail_len,
			    "a matching deny rule covers the role");
		return PB_DENIED;
	default:
		snprintf(detail, detail_len, "no allow rule matches and lists "
		    "the role%s%s%s", dec.undecided[0] != '\0' ? " (" : "",
		    dec.undecided, dec.undecided[0] != '\0' ? " could not "
		    "be decided)" : "");
		return PB_NO_RULE;
	}
}

/* Key rotation: the token names a kid the keys lack. Refetches (at most
 * once per PB_JWKS_REFETCH_INTERVAL per cache, pb_keys_refresh_for_kid
 * decides) and verifies once more with the new keys, which replace *jwks.
 * Returns the verdict of the second verification, or PB_UNKNOWN_KEY with
 * the first one's detail plus why there was no second. */
static enum pb_reason
retry_new_keys(const char *token, size_t len, const struct pb_config *cfg,
    long long now, long long keys_now, pb_step_fn step, void *step_ctx,
    struct pb_jwks **jwks, struct pb_authn *out)
{
	struct pb_jwks *fresh = NULL;
	char why[sizeof(out->detail)];
	enum pb_reason r;

	r = pb_keys_refresh_for_kid(cfg, keys_now, &fresh, why, sizeof(why));
	if (step != NULL) {
		char what[sizeof(why) + 64];

		if (r == PB_OK)
			snprintf(what, sizeof(what), "unknown kid: %zu keys "
			    "after a refetch (%s)", pb_jwks_count(fresh), why);
		else
			snprintf(what, sizeof(what), "unknown kid: %s", why);
		step(step_ctx, "keys", r == PB_OK, what);
	}
	if (r != PB_OK) {
		size_t used = strnlen(out->detail, sizeof(out->detail));

		if (why[0] != '\0' && used < sizeof(out->detail))
			pb_msg(out->detail + used, sizeof(out->detail) - used,
			    " (%s)", why);
		return PB_UNKNOWN_KEY;
	}
	pb_jwks_free(*jwks);
	*jwks = fresh;
	pb_token_info_clear(&out->info);
	return pb_token_verify_traced(token, len, *jwks, cfg, now, &out->info,
	    out->detail, sizeof(out->detail), step, step_ctx);
}

/* token.single_use, the last step: only a login that passed everything
 * else may use up its jti, so a refused attempt (a wrong role, say) does
 * not burn the token. With record false (explain) the store is only
 * looked at. */
static enum pb_reason
single_use(const struct pb_config *cfg, long long now, bool record,
    pb_step_fn step, void *step_ctx, struct pb_authn *out)
{
	enum pb_reason r;

	r = pb_replay_check(cfg, out->info.claims, now, record, out->detail,
	    sizeof(out->detail));
	if (step != NULL)
		step(step_ctx, "single_use", r == PB_OK, out->detail);
	/* An allowed login carries no detail. */
	if (r == PB_OK)
		out->detail[0] = '\0';
	return r;
}

/* A limit nobody enforces is not a limit: a rule that bounds the
 * session allows only where something will end it. */
static enum pb_reason
session_limit(const struct pb_authn *out, bool sessions_end, char *detail,
    size_t detail_len)
{
	char life[32];

	if (out->session_lifetime == PB_LIFETIME_UNLIMITED || sessions_end)
		return PB_OK;
	snprintf(detail, detail_len, "rule \"%s\" limits the session "
	    "(lifetime %s) but no pg_buildkite extension is loaded in this "
	    "process to end it (PostgreSQL: shared_preload_libraries = "
	    "'pg_buildkite'; a connection pooler cannot)", out->rule,
	    pb_lifetime_text(out->session_lifetime, life, sizeof(life)));
	return PB_CONFIG;
}

/* The token is judged at now, the key cache at keys_now (the same but
 * for explain's --now). */
static enum pb_reason
run(const struct pb_policy *pol, const char *token, size_t len,
    const char *role, const char *rhost, long long now, long long keys_now,
    bool record, bool sessions_end, pb_step_fn step, void *step_ctx,
    pb_trace_fn trace, void *trace_ctx, struct pb_authn *out)
{
	const struct pb_config *cfg = pb_policy_config(pol);
	struct pb_jwks *jwks = NULL;
	enum pb_reason reason;

	memset(out, 0, sizeof(*out));
	reason = pb_keys_get(cfg, keys_now, &jwks, out->detail,
	    sizeof(out->detail));
	if (step != NULL) {
		char what[sizeof(out->detail) + 64];

		if (reason == PB_OK && cfg->jwks.file != NULL)
			snprintf(what, sizeof(what), "%zu keys from jwks.file "
			    "%s", pb_jwks_count(jwks), cfg->jwks.file);
		else if (reason == PB_OK)
			/* The detail notes what the cache did beyond a
			 * fresh read (a cache ignored, stale keys, a
			 * fetch), which explain should show. */
			snprintf(what, sizeof(what), "%zu keys for jwks.url "
			    "%s%s%s%s", pb_jwks_count(jwks),
			    cfg->jwks.url != NULL ? cfg->jwks.url : "(none)",
			    out->detail[0] != '\0' ? " (" : "", out->detail,
			    out->detail[0] != '\0' ? ")" : "");
		else
			snprintf(what, sizeof(what), "%s", out->detail);
		step(step_ctx, "keys", reason == PB_OK, what);
	}
	if (reason != PB_OK)
		return reason;
	snprintf(out->keys_note, sizeof(out->keys_note), "%.*s",
	    (int)sizeof(out->keys_note) - 1, out->detail);
	reason = pb_token_verify_traced(token, len, jwks, cfg, now, &out->info,
	    out->detail, sizeof(out->detail), step, step_ctx);
	if (reason == PB_UNKNOWN_KEY && cfg->jwks.url != NULL &&
	    cfg->jwks.file == NULL)
		reason = retry_new_keys(token, len, cfg, now, keys_now, step,
		    step_ctx, &jwks, out);
	pb_jwks_free(jwks);
	if (reason != PB_OK)
		return reason;

	reason = pb_authn_decide(pol, out->info.claims, role, rhost, trace,
	    trace_ctx, &out->rule, &out->session_lifetime, out->detail,
	    sizeof(out->detail));
	if (reason == PB_OK)
		reason = session_limit(out, sessions_end, out->detail,
		    sizeof(out->detail));
	if (reason != PB_OK || !cfg->token.single_use)
		return reason;
	return single_use(cfg, now, record, step, step_ctx, out);
}

enum pb_reason
pb_authn_explain(const struct pb_policy *pol, const char *token,
    size_t len, const char *role, const char *rhost, long long now,
    long long keys_now, pb_step_fn step, void *step_ctx, pb_trace_fn trace,
    void *trace_ctx, struct pb_authn *out)
{
	return run(pol, token, len, role, rhost, now, keys_now, false, true,
	    step, step_ctx, trace, trace_ctx, out);
}

enum pb_reason
pb_authn_run(const struct pb_policy *pol, const char *token, size_t len,
    const char *role, const char *rhost, long long now, bool sessions_end,
    pb_trace_fn trace, void *trace_ctx, struct pb_authn *out)
{
	return run(pol, token, len, role, rhost, now, now, true, sessions_end,
	    NULL, NULL, trace, trace_ctx, out);
}

void
pb_authn_clear(struct pb_authn *out)
{
	pb_token_info_clear(&out->info);
	out->rule = NULL;
}
