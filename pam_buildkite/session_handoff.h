/*
 * session_handoff.h - what the module hands to the pg_buildkite
 * PostgreSQL extension (doc/sessions.md) when it allows a login in a
 * backend where that extension is loaded.
 *
 * The extension, preloaded by the postmaster, exports one versioned
 * function; the module looks it up by name in the process it runs in.
 * Nothing crosses a file or the network: only code already in this
 * backend before the client authenticated could define that name, and
 * the extension takes facts only while authentication is under way. A
 * change of the struct is a new version of the name.
 */
#ifndef PB_SESSION_HANDOFF_H
#define PB_SESSION_HANDOFF_H

#include <stddef.h>

#define PB_SESSION_ENTRY "pg_buildkite_session_v1"

/* Strings are NUL-terminated UTF-8 and live only during the call; NULL
 * when the token has no such claim. */
struct pb_session_facts {
	const char *role;               /* the database role allowed */
	const char *service;            /* PAM service */
	const char *rhost;              /* NULL for Unix sockets */
	const char *org, *pipeline, *branch, *tag, *step, *job_id,
	    *agent_id, *source, *sub, *jti, *kid;
	const char *rule;               /* the allow rule */
	long long build_number;         /* -1 when absent */
	long long authenticated_at;     /* Unix seconds */
	long long token_exp;            /* the token's exp */
	long long lifetime;             /* the rule's: seconds, or
					   PB_LIFETIME_UNLIMITED / _TOKEN */
	long long deadline;             /* when the session ends (Unix
					   seconds), 0 for never */
	int audit_format;               /* enum pb_audit_format */
	int audit_facility;             /* syslog facility */
};

/* The extension's entry: 0 when it took the facts, -1 with why in msg
 * (the module then refuses the login). Must not raise a PostgreSQL
 * error: it runs inside libpam. */
typedef int (*pb_session_entry_fn)(const struct pb_session_facts *facts,
    char *msg, size_t msglen);

#endif
