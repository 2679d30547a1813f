/*
 * session.c - the module's side of the session handoff: finds the
 * pg_buildkite extension in this process and hands it an allowed login,
 * with the time its session must end.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "session.h"

pb_session_entry_fn
pb_session_entry(void)
{
	void *sym = dlsym(RTLD_DEFAULT, PB_SESSION_ENTRY);
	pb_session_entry_fn fn = NULL;

	/* POSIX's way from dlsym's data pointer to a function pointer */
	if (sym != NULL)
		memcpy(&fn, &sym, sizeof(fn));
	return fn;
}

/* The claim's string, NULL when absent or not a string. -1 when it holds
 * a NUL (the verifier refuses such a payload; this holds without it): as
 * a C string it would arrive cut short, and a setting that says "prod"
 * for a pipeline "prod\0x" is a lie a row level security policy would
 * believe. */
static int
claim_str(const json_t *claims, const char *name, const char **out)
{
	const json_t *v = json_object_get(claims, name);

	*out = NULL;
	if (!json_is_string(v))
		return 0;
	if (strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}

static int
fill_claims(const json_t *claims, struct pb_session_facts *f,
    const char **bad)
{
	const struct {
		const char *claim;
		const char **dst;
	} strs[] = {
		{ "organization_slug", &f->org },
		{ "pipeline_slug", &f->pipeline },
		{ "build_branch", &f->branch },
		{ "build_tag", &f->tag },
		{ "step_key", &f->step },
		{ "job_id", &f->job_id },
		{ "agent_id", &f->agent_id },
		{ "build_source", &f->source },
		{ "sub", &f->sub },
		{ "jti", &f->jti },
	};
	const json_t *build = json_object_get(claims, "build_number");
	const json_t *exp = json_object_get(claims, "exp");
	size_t i;

	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (claim_str(claims, strs[i].claim, strs[i].dst) < 0) {
			*bad = strs[i].claim;
			return -1;
		}
	}
	f->build_number = json_is_integer(build) ?
	    (long long)json_integer_value(build) : -1;
	/* the verifier let no token without an integer exp through */
	f->token_exp = json_is_integer(exp) ?
	    (long long)json_integer_value(exp) : 0;
	return 0;
}

enum pb_reason
pb_session_handoff(pb_session_entry_fn entry, const struct pb_policy *pol,
    const struct pb_authn *res, const char *role, const char *service,
    const char *rhost, long long now, char *detail, size_t detail_len)
{
	const struct pb_config *cfg = pb_policy_config(pol);
	struct pb_session_facts f;
	const char *bad = NULL;
	char why[256] = "";

	memset(&f, 0, sizeof(f));
	if (fill_claims(res->info.claims, &f, &bad) < 0) {
		snprintf(detail, detail_len, "claim %s holds a NUL character, "
		    "which the session's settings cannot carry whole", bad);
		return PB_CONFIG;
	}
	f.role = role;
	f.service = service;
	f.rhost = rhost;
	f.kid = res->info.kid;
	f.rule = res->rule;
	f.authenticated_at = now;
	f.lifetime = res->session_lifetime;
	if (f.lifetime == PB_LIFETIME_TOKEN)
		f.deadline = f.token_exp;
	else if (f.lifetime > 0)
		f.deadline = now + f.lifetime;
	f.audit_format = (int)cfg->audit.format;
	f.audit_facility = cfg->audit.facility;
	if (entry(&f, why, sizeof(why)) != 0) {
		snprintf(detail, detail_len, "the pg_buildkite extension "
		    "refused the session: %s", why[0] ? why : "(no reason)");
		return PB_CONFIG;
	}
	return PB_OK;
}
