/*
 * policy_claims.c - the claims a rule can name, and a claim's value as
 * the text patterns and role templates match.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "policy_int.h"

/* Claims a role template may name (doc/token.md), besides
 * agent_tag:NAME. */
static const char *const known_claims[] = {
	"iss", "sub", "aud", "jti", "organization_slug", "organization_id",
	"pipeline_slug", "pipeline_id", "build_number", "build_branch",
	"build_tag", "build_commit", "build_id", "build_source", "step_key",
	"job_id", "agent_id", "cluster_id", "cluster_name", "queue_id",
	"queue_key", "runner_environment",
};

#define AGENT_TAG_PREFIX "agent_tag:"

bool
pb_claim_known(const char *name, size_t len)
{
	size_t i, plen = sizeof(AGENT_TAG_PREFIX) - 1;

	for (i = 0; i < sizeof(known_claims) / sizeof(known_claims[0]); i++)
		if (strlen(known_claims[i]) == len &&
		    memcmp(known_claims[i], name, len) == 0)
			return true;
	return len > plen && memcmp(name, AGENT_TAG_PREFIX, plen) == 0;
}

enum pb_claim_state
pb_claim_text(const json_t *claims, const char *name, char *numbuf,
    size_t numlen, const char **v, size_t *len)
{
	json_t *j;

	if (claims == NULL || !json_is_object(claims))
		return PB_CLAIM_ABSENT;
	j = json_object_get(claims, name);
	if (j == NULL)
		return PB_CLAIM_ABSENT;
	if (json_is_null(j))
		return PB_CLAIM_NULL;
	if (json_is_string(j)) {
		*v = json_string_value(j);
		*len = json_string_length(j);
		if (memchr(*v, '\0', *len) != NULL)
			return PB_CLAIM_NUL;
		return PB_CLAIM_OK;
	}
	if (json_is_integer(j)) {
		int n = snprintf(numbuf, numlen, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(j));

		if (n < 0 || (size_t)n >= numlen)
			return PB_CLAIM_TYPE;
		*v = numbuf;
		*len = (size_t)n;
		return PB_CLAIM_OK;
	}
	return PB_CLAIM_TYPE;
}

const char *
pb_claim_state_text(enum pb_claim_state st)
{
	switch (st) {
	case PB_CLAIM_OK:
		return "present";
	case PB_CLAIM_ABSENT:
		return "absent";
	case PB_CLAIM_NULL:
		return "null";
	case PB_CLAIM_TYPE:
		return "not a string or an integer";
	default:
		return "a string holding a NUL byte";
	}
}
