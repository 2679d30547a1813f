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
