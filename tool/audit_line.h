/*
 * audit_line.h - the module's audit lines read back (audit_line.c).
 */
#ifndef PB_AUDIT_LINE_H
#define PB_AUDIT_LINE_H

#include <stdbool.h>

#include <jansson.h>

/* 1 and *fields (an object: field name -> value) for a login's line of
 * pam_buildkite; 0 for any other line (another program's, a session's
 * end); -1 for a line of ours that does not parse. */
int audit_line_parse(const char *line, json_t **fields);

/* What a line may not say of the token's claims. */
struct audit_gaps {
	bool complete;          /* every claim the token had is on it */
	bool tags_omitted;      /* some agent tags were left out */
};

/* The claims the fields record, mapped back from the field names
 * (audit.h's pb_audit_claims). NULL when out of memory. */
json_t *audit_line_claims(json_t *fields, struct audit_gaps *gaps);

/* Why the line cannot tell claim's value (absent from a line that may
 * have left it out, or cut), or NULL when it can. */
const char *audit_claim_unknown(const json_t *claims,
    const struct audit_gaps *gaps, const char *claim);

#endif
