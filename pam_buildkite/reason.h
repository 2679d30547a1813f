/*
 * reason.h - the audit reason codes (doc/audit.md).
 *
 * Every decision the module takes ends in exactly one of these; the audit
 * event, the PAM return code and the admin tool all derive from it.
 */
#ifndef PB_REASON_H
#define PB_REASON_H

#include <stdbool.h>
#include <stddef.h>

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

/*
 * PgBouncer 1.17 to 1.25 keeps a PAM password in a buffer of
 * MAX_PASSWORD = 2048 bytes including its NUL (include/bouncer.h;
 * src/pam.c copies it with safe_strcpy): a longer token reaches the
 * module cut to exactly this many bytes, and nothing says so. Its
 * refusal then names a malformed token or a bad signature, so a refusal
 * of a password of this length ends its detail with PB_POOLER_CUT_NOTE,
 * after "; ". The module and the admin tool share both from here.
 */
#define PB_POOLER_CUT_BYTES 2047
#define PB_REASON_STR_(x) #x
#define PB_REASON_STR(x) PB_REASON_STR_(x)
#define PB_POOLER_CUT_NOTE "the password is " \
	PB_REASON_STR(PB_POOLER_CUT_BYTES) " bytes, where PgBouncer cuts " \
	"passwords: a pooler may have cut the token"

/*
 * Whether refusing a token of len bytes for reason r may be PgBouncer's
 * cut (the module counts the password as it came, the admin tool a
 * token file without its surrounding whitespace). A cut drops the end
 * of the token. Falling in the header or the payload, it leaves fewer
 * than three parts: PB_MALFORMED. Falling in the signature, it leaves
 * the header and the payload whole and a signature that is not
 * base64url (PB_MALFORMED) or does not fit the key (PB_SIGNATURE). The
 * header arrives whole whenever three parts do, so its algorithm and
 * key (PB_ALGORITHM, PB_UNKNOWN_KEY) are never the cut's doing; nor are
 * the checks of a signed payload (issuer to lifetime), the keys' source
 * or the policy.
 */
static inline bool
pb_pooler_may_have_cut(enum pb_reason r, size_t len)
{
	return len == PB_POOLER_CUT_BYTES &&
	    (r == PB_MALFORMED || r == PB_SIGNATURE);
}

#endif
