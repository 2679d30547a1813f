/*
 * policy_config.h - the policy's settings (token:, jwks:, audit:,
 * session:): all that token verification, the key cache and the session
 * need to know of a policy, without its rules.
 */
#ifndef PB_POLICY_CONFIG_H
#define PB_POLICY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Signature algorithms a policy may allow (token.algorithms). */
enum pb_alg {
	PB_ALG_RS256 = 1u << 0,
	PB_ALG_RS384 = 1u << 1,
	PB_ALG_RS512 = 1u << 2,
	PB_ALG_ES256 = 1u << 3,
	PB_ALG_ES384 = 1u << 4,
};

enum pb_jwks_writer { PB_WRITER_MODULE, PB_WRITER_TOOL };
enum pb_audit_format { PB_AUDIT_LOGFMT, PB_AUDIT_JSON };

/* A session lifetime (session.lifetime, a rule's session_lifetime): a
 * number of seconds, or one of these. */
#define PB_LIFETIME_UNSET     0   /* a rule without one: the policy's */
#define PB_LIFETIME_UNLIMITED (-1)
#define PB_LIFETIME_TOKEN     (-2)  /* until the token's exp */
#define PB_LIFETIME_MAX       (30LL * 86400)

/* A lifetime as the policy writes it, "unlimited", "token" or seconds
 * ("300s"), in buf. Inline: the pg_buildkite extension says it too. */
static inline const char *
pb_lifetime_text(long long lifetime, char *buf, size_t len)
{
	if (lifetime == PB_LIFETIME_TOKEN)
		snprintf(buf, len, "token");
	else if (lifetime <= 0)
		snprintf(buf, len, "unlimited");
	else
		snprintf(buf, len, "%llds", lifetime);
	return buf;
}

/* Durations are whole seconds. Strings are NUL-terminated and owned by
 * the policy; NULL means "not configured". */
struct pb_config {
	struct {
		char *issuer;           /* default https://agent.buildkite.com */
		char **audiences;       /* at least one */
		size_t n_audiences;
		char *organization;     /* required */
		char *organization_id;  /* optional */
		unsigned algorithms;    /* enum pb_alg mask, default RS256 */
		long long leeway;       /* default 30 */
		long long max_lifetime; /* default 900 */
		bool single_use;
		char *replay_dir;
	} token;
	struct {
		char *url;              /* default Buildkite's; NULL when file is set */
		char *file;             /* static JWKS, no network */
		char *cache;            /* default /var/cache/pam_buildkite */
		long long refresh;      /* default 3600 */
		long long max_stale;    /* default 86400 */
		long long timeout;      /* default 3 */
		char *ca_file;
		enum pb_jwks_writer writer;
		bool login_fetch;       /* default true; false needs writer tool */
	} jwks;
	struct {
		enum pb_audit_format format;
		int facility;           /* syslog facility, default LOG_AUTHPRIV */
	} audit;
	struct {
		long long lifetime;     /* default PB_LIFETIME_UNLIMITED */
	} session;
};

#endif
