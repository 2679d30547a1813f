/*
 * reason.h - the audit reason codes (doc/audit.md).
 *
 * Every decision the module takes ends in exactly one of these; the audit
 * event, the PAM return code and the admin tool all derive from it.
 */
#ifndef PB_REASON_H
#define PB_REASON_H

enum pb_reason {
	PB_OK = 0,
	PB_MALFORMED,
	PB_ALGORITHM,
	PB_UNKNOWN_KEY,
	PB_SIGNATURE,
	PB_ISSUER,
	PB_AUDIENCE,
	PB_ORGANIZATION,
	PB_EXPIRED,
	PB_NOT_YET_VALID,
	PB_LIFETIME,
	PB_NO_RULE,
	PB_DENIED,
	PB_REPLAY,
	PB_JWKS_UNAVAILABLE,
	PB_CONFIG,
	PB_SESSION_EXPIRED,     /* not a login's: the end of a session
				   (result=end, the pg_buildkite extension) */
};

static inline const char *
pb_reason_name(enum pb_reason r)
{
	static const char *const names[] = {
		"ok", "malformed", "algorithm", "unknown_key", "signature",
		"issuer", "audience", "organization", "expired",
		"not_yet_valid", "lifetime", "no_rule", "denied", "replay",
		"jwks_unavailable", "config", "session_expired",
	};

	if ((unsigned)r >= sizeof(names) / sizeof(names[0]))
		return "config";
	return names[r];
}

#endif
