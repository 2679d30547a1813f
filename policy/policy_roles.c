/*
 * policy_roles.c - the roles a rule grants: names checked when loaded,
 * and templates such as "deploy_{pipeline_slug}" filled in from a login's
 * claims.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "msg.h"
#include "policy_int.h"

/* pb_quote's result for a message: called only on the way to an error,
 * so loading a policy does not quote what it accepts. */
static const char *
qt(char q[160], const char *s, size_t len)
{
	pb_quote(q, 160, s, len, 64);
	return q;
}

int
pb_role_check(const char *s, size_t len, bool *tmpl, char *msg,
    size_t msglen)
{
	char q[160];
	size_t i, literal = 0;

	*tmpl = false;
	if (len == 0) {
		pb_msg(msg, msglen, "empty role name");
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f) {
			pb_msg(msg, msglen, "role %s contains a control "
			    "character", qt(q, s, len));
			return -1;
		}
		if (c == '}') {
			pb_msg(msg, msglen, "role %s has unbalanced braces",
			    qt(q, s, len));
			return -1;
		}
		if (c == '{') {
			const char *name = s + i + 1;
			size_t j = i + 1;
			char cq[96];

			while (j < len && s[j] != '}' && s[j] != '{')
				j++;
			if (j >= len || s[j] != '}') {
				pb_msg(msg, msglen, "role %s has unbalanced "
				    "braces", qt(q, s, len));
				return -1;
			}
			if (!pb_claim_known(name, j - i - 1)) {
				pb_quote(cq, sizeof(cq), name, j - i - 1, 64);
				pb_msg(msg, msglen, "role %s names an unknown "
				    "claim %s (expected one of: iss, sub, aud, "
				    "jti, organization_slug, organization_id, "
				    "pipeline_slug, pipeline_id, build_number, "
				    "build_branch, build_tag, build_commit, "
				    "build_id, build_source, step_key, job_id, "
				    "agent_id, cluster_id, cluster_name, "
				    "queue_id, queue_key, runner_environment, "
				    "agent_tag:NAME)", qt(q, s, len), cq);
				return -1;
			}
			*tmpl = true;
			i = j;
			continue;
		}
		literal++;
	}
	if (literal > PB_ROLE_MAX) {
		pb_msg(msg, msglen, "role %s is longer than %d bytes",
		    qt(q, s, len), PB_ROLE_MAX);
		return -1;
	}
	return 0;
}

/* Stands for a claim a template names but the token lacks: a byte
 * pb_role_check refuses in templates and role_expand in claim values. */
#define UNKNOWN_PART '\x01'

/*
 * Could the template give role? PB_TRUE when it expands to role, PB_FALSE
 * when it cannot (another name, none a role could have, or a claim it
 * names is null), PB_UNDECIDED when a claim it names is absent or of
 * another type and the parts it has leave role possible (why names that
 * claim).
 */
static int
template_gives(const struct pb_role *r, const json_t *claims,
    const char *role, size_t rolelen, char *why, size_t whylen)
{
	/* literals and values at most PB_ROLE_MAX, one unknown part
	 * between any two of them */
	char out[2 * (PB_ROLE_MAX + 1)];
	size_t i, o = 0, used = 0;
	bool unknown = false;

	for (i = 0; i < r->len; i++) {
		char name[PB_MSG_MAX], num[32];
		const char *v = NULL;
		size_t j, vlen = 0, k;
		enum pb_claim_state st;

		if (r->text[i] != '{') {
			if (used++ >= PB_ROLE_MAX)
				return PB_FALSE;
			out[o++] = r->text[i];
			continue;
		}
		j = i + 1;
		while (j < r->len && r->text[j] != '}')
			j++;
		if (j - i - 1 >= sizeof(name))
			return PB_FALSE;
		memcpy(name, r->text + i + 1, j - i - 1);
		name[j - i - 1] = '\0';
		i = j;
		st = pb_claim_text(claims, name, num, sizeof(num), &v, &vlen);
		/* null: Buildkite's "no value", which names no role */
		if (st == PB_CLAIM_NULL)
			return PB_FALSE;
		if (st != PB_CLAIM_OK) {
			if (!unknown)
				pb_msg(why, whylen, "role template {%s}: %s is "
				    "%s", name, name, pb_claim_state_text(st));
			unknown = true;
			if (o == 0 || out[o - 1] != UNKNOWN_PART)
				out[o++] = UNKNOWN_PART;
			continue;
		}
		if (vlen > PB_ROLE_MAX - used)
			return PB_FALSE;
		for (k = 0; k < vlen; k++) {
			unsigned char c = (unsigned char)v[k];

			if (c < 0x20 || c == 0x7f)
				return PB_FALSE;
		}
		memcpy(out + o, v, vlen);
		o += vlen;
		used += vlen;
	}
	if (unknown)
		return rolelen > 0 && pb_glob_star(out, o, role, rolelen,
		    UNKNOWN_PART) ? PB_UNDECIDED : PB_FALSE;
	return o > 0 && o == rolelen && memcmp(out, role, o) == 0 ?
	    PB_TRUE : PB_FALSE;
}

int
pb_role_gives(const struct pb_role *r, const json_t *claims,
    const char *role, size_t rolelen, char *why, size_t whylen)
{
	if (r->tmpl)
		return template_gives(r, claims, role, rolelen, why, whylen);
	return r->len == rolelen && memcmp(r->text, role, rolelen) == 0 ?
	    PB_TRUE : PB_FALSE;
}
