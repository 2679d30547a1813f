/*
 * audit.h - the one audit event written per authentication
 * (doc/audit.md).
 */
#ifndef PB_AUDIT_H
#define PB_AUDIT_H

#include <jansson.h>

#include "policy.h"
#include "reason.h"

/* Longest value written for one field; longer ones are cut at a UTF-8
 * boundary and end in "...". Keeps a hostile claim from flooding syslog. */
#define PB_AUDIT_MAX_VALUE 256

struct pb_audit_event {
	enum pb_reason reason;
	const char *role;       /* PAM user: the database role asked for */
	const char *service;    /* PAM service */
	const char *rhost;      /* PAM_RHOST, NULL for Unix sockets */
	const json_t *claims;   /* only once the signature verified */
	const char *kid;        /* from the header; NULL or "" when absent */
	const char *rule;       /* the deciding rule */
	const char *detail;     /* why, in plain words */
	long pid;               /* the process (a PostgreSQL backend, its
				   %p); 0 leaves it out */
	long long duration;     /* PB_SESSION_EXPIRED: how long the
				   session lasted, in seconds */
};

/*
 * The claims on the line, each under its field name: every claim a rule
 * can match (policy_claims.c), so that a recorded attempt can be decided
 * again under another policy ("pam-buildkite diff --audit"). The first
 * nine have short names, as they always had; the rest are named as the
 * claim is. Agent tags follow them, as "agent_tag:NAME", at most
 * PB_AUDIT_MAX_TAGS of them with names of PB_AUDIT_TAG_NAME_MAX bytes of
 * [A-Za-z0-9_.-]; any others are counted in agent_tags_omitted. Then sub
 * and jti. Ends with a NULL field.
 */
struct pb_audit_claim {
	const char *field, *claim;
};
extern const struct pb_audit_claim pb_audit_claims[];
#define PB_AUDIT_TAG_PREFIX     "agent_tag:"
#define PB_AUDIT_MAX_TAGS       16
#define PB_AUDIT_TAG_NAME_MAX   64

/* The event as one line without the syslog prefix: logfmt or a JSON
 * object. Returns a malloc'd string, NULL when out of memory. */
char *pb_audit_format(const struct pb_audit_event *ev,
    enum pb_audit_format format);

/* Writes the event to syslog the way pam_syslog does - the host's ident
 * and openlog state untouched, the message starting with
 * "pam_buildkite(service:auth):", or "(service:session):" for a
 * session's end - at LOG_NOTICE when allowed or ended and LOG_WARNING
 * when denied, in the given facility. */
void pb_audit_emit(const struct pb_audit_event *ev,
    enum pb_audit_format format, int facility);

#endif
