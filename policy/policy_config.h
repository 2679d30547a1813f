/*
 * policy_config.h - the policy's settings (token:, jwks:, audit:): all
 * that token verification and the key cache need to know of a policy,
 * without its rules.
 */
#ifndef PB_POLICY_CONFIG_H
#define PB_POLICY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

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
	} jwks;
	struct {
		enum pb_audit_format format;
		int facility;           /* syslog facility, default LOG_AUTHPRIV */
	} audit;
};

#endif
