/*
 * token_claims.c - the claims of a verified token (doc/token.md,
 * step 5): every claim of the JSON type the policy's matching relies on,
 * then issuer, audience, organization and times against the policy.
 *
 * Each check is one step whose result is both the refusal's detail and
 * what explain shows (token_step.h), so a check is written once. Only
 * signed claims get here; their values still come from whoever requested
 * the token, so they are shown only through pb_printable.
 */
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "msg.h"
#include "token_claims.h"

/* ------------------------------------------------------------ types */

enum ctype {
	C_STRING,               /* string */
	C_INTEGER,              /* integer */
	C_STRING_OR_NULL,       /* string or null */
	C_AUD,                  /* string or non-empty array of strings */
};

static const struct {
	const char *name;
	enum ctype type;
	bool required;
} claim_types[] = {
	{ "iss", C_STRING, true },
	{ "sub", C_STRING, true },
	{ "aud", C_AUD, true },
	{ "exp", C_INTEGER, true },
	{ "iat", C_INTEGER, true },
	{ "nbf", C_INTEGER, true },
	{ "organization_slug", C_STRING, true },
	{ "pipeline_slug", C_STRING, true },
	{ "build_number", C_INTEGER, true },
	{ "build_branch", C_STRING, true },
	{ "build_commit", C_STRING, true },
	{ "step_key", C_STRING_OR_NULL, true },
	{ "job_id", C_STRING, true },
	{ "agent_id", C_STRING, true },
	{ "build_tag", C_STRING_OR_NULL, false },
	{ "jti", C_STRING, false },
	{ "build_source", C_STRING, false },
	{ "runner_environment", C_STRING, false },
	{ "organization_id", C_STRING, false },
	{ "pipeline_id", C_STRING, false },
	{ "build_id", C_STRING, false },
	{ "cluster_id", C_STRING, false },
	{ "cluster_name", C_STRING, false },
	{ "queue_id", C_STRING, false },
	{ "queue_key", C_STRING, false },
};

static bool
type_fits(const json_t *v, enum ctype t)
{
	size_t i;

	switch (t) {
	case C_STRING:
		return json_is_string(v);
	case C_INTEGER:
		/* json_is_integer: 1.7e9 is a real and refused; jansson
		 * refuses integers beyond 64 bits when parsing. */
		return json_is_integer(v);
	case C_STRING_OR_NULL:
		return json_is_string(v) || json_is_null(v);
	case C_AUD:
		if (json_is_string(v))
			return true;
		if (!json_is_array(v) || json_array_size(v) == 0)
			return false;
		for (i = 0; i < json_array_size(v); i++)
			if (!json_is_string(json_array_get(v, i)))
				return false;
		return true;
	}
	return false;
}

/* The JSON types Buildkite gives the claims (doc/token.md): true, or false with st saying
 * which claim is missing or mistyped. */
static bool
types_ok(json_t *claims, struct pb_step *st)
{
	static const char prefix[] = "agent_tag:";
	char n[PB_DETAIL_VALUE_MAX + 1];
	const char *name;
	json_t *v;
	size_t i;

	for (i = 0; i < sizeof(claim_types) / sizeof(claim_types[0]); i++) {
		v = json_object_get(claims, claim_types[i].name);
		if (v == NULL && !claim_types[i].required)
			continue;
		if (v == NULL || !type_fits(v, claim_types[i].type)) {
			pb_step_set(st, PB_MALFORMED, "claim %s %s",
			    claim_types[i].name, v == NULL ? "is missing" :
			    "has the wrong type");
			return false;
		}
	}
	/* Object iteration, not recursion: agent_tag:NAME claims are
	 * strings. */
	json_object_foreach(claims, name, v) {
		if (strncmp(name, prefix, sizeof(prefix) - 1) == 0 &&
		    !json_is_string(v)) {
			pb_printable(n, sizeof(n), name, strlen(name));
			pb_step_set(st, PB_MALFORMED, "claim %s has the wrong "
			    "type", n);
			return false;
		}
	}
	return true;
}

json_t *
pb_claims_parse(const struct pb_jws *jws, struct pb_step *st)
{
	enum pb_jws_err err;
	json_t *claims;

	/* From here on the payload is Buildkite's word. */
	claims = pb_jws_object(jws->payload, jws->payload_len, &err, NULL);
	if (claims == NULL) {
		pb_step_set(st, PB_MALFORMED, "payload is not a well-formed "
		    "JSON object");
		return NULL;
	}
	if (!types_ok(claims, st)) {
		json_decref(claims);
		return NULL;
	}
	pb_step_set(st, PB_OK, "payload is a JSON object and every claim has "
	    "its type");
	return claims;
}

/* ------------------------------------------------------------ checks */

/* What every check looks at. The times are integers: the types said so. */
struct claim_ctx {
	const json_t *claims;
	const struct pb_config *cfg;
	long long now, exp, iat, nbf, leeway;
};

/* a - b > c, exactly, for any 64-bit values: on overflow the true
 * difference is beyond any c, so its sign decides. */
static bool
diff_gt(long long a, long long b, long long c)
{
	long long d;

	if (__builtin_sub_overflow(a, b, &d))
		return a > b;
	return d > c;
}

static bool
diff_ge(long long a, long long b, long long c)
{
	long long d;

	if (__builtin_sub_overflow(a, b, &d))
		return a > b;
	return d >= c;
}

/* a - b for a message; LLONG_MAX when it does not fit. */
static long long
secs_between(long long a, long long b)
{
	long long d;

	if (__builtin_sub_overflow(a, b, &d))
		return LLONG_MAX;
	return d;
}

/* The string claim called claim against the configured value want,
 * which the policy calls noun. */
static void
string_is(const struct claim_ctx *c, const char *claim, const char *want,
    const char *noun, enum pb_reason refused, struct pb_step *st)
{
	const json_t *v = json_object_get(c->claims, claim);
	char shown[PB_DETAIL_VALUE_MAX + 1];

	pb_printable(shown, sizeof(shown), json_string_value(v),
	    json_string_length(v));
	if (pb_json_str_eq(v, want))
		pb_step_set(st, PB_OK, "%s \"%s\" is the configured %s", claim,
		    shown, noun);
	else
		pb_step_set(st, refused, "%s \"%s\" is not the configured %s",
		    claim, shown, noun);
}

static void
check_issuer(const struct claim_ctx *c, struct pb_step *st)
{
	string_is(c, "iss", c->cfg->token.issuer, "issuer", PB_ISSUER, st);
}

/* The first configured audience aud holds, or NULL. */
static const char *
aud_accepted(const json_t *aud, const struct pb_config *cfg)
{
	size_t i, j;

	for (j = 0; j < cfg->token.n_audiences; j++) {
		if (json_is_string(aud)) {
			if (pb_json_str_eq(aud, cfg->token.audiences[j]))
				return cfg->token.audiences[j];
			continue;
		}
		for (i = 0; i < json_array_size(aud); i++)
			if (pb_json_str_eq(json_array_get(aud, i),
			    cfg->token.audiences[j]))
				return cfg->token.audiences[j];
	}
	return NULL;
}

static void
check_audience(const struct claim_ctx *c, struct pb_step *st)
{
	const json_t *aud = json_object_get(c->claims, "aud");
	const json_t *first = json_is_string(aud) ? aud :
	    json_array_get(aud, 0);
	const char *accepted = aud_accepted(aud, c->cfg);
	char v[PB_DETAIL_VALUE_MAX + 1];

	if (accepted != NULL) {
		pb_printable(v, sizeof(v), accepted, strlen(accepted));
		pb_step_set(st, PB_OK, "aud holds \"%s\", a configured "
		    "audience", v);
		return;
	}
	pb_printable(v, sizeof(v), json_string_value(first),
	    json_string_length(first));
	pb_step_set(st, PB_AUDIENCE, "aud \"%s\"%s is not an accepted "
	    "audience", v, json_is_array(aud) && json_array_size(aud) > 1 ?
	    " (and the others)" : "");
}

static void
check_organization(const struct claim_ctx *c, struct pb_step *st)
{
	string_is(c, "organization_slug", c->cfg->token.organization,
	    "organization", PB_ORGANIZATION, st);
}

static bool
names_organization_id(const struct pb_config *cfg)
{
	return cfg->token.organization_id != NULL;
}

static void
check_organization_id(const struct claim_ctx *c, struct pb_step *st)
{
	if (json_object_get(c->claims, "organization_id") == NULL) {
		pb_step_set(st, PB_ORGANIZATION, "organization_id is missing "
		    "but required by the policy");
		return;
	}
	string_is(c, "organization_id", c->cfg->token.organization_id,
	    "organization", PB_ORGANIZATION, st);
	if (st->reason == PB_OK)
		pb_step_set(st, PB_OK, "organization_id is the configured one");
}

/* A time claim that passed: "exp 1700000000 (2023-11-14T22:13:20Z) is
 * 300s ago; leeway 60s". */
static void
time_passed(const struct claim_ctx *c, const char *claim, long long t,
    struct pb_step *st)
{
	char ts[32], iso[40] = "", w[128];

	pb_iso_time(ts, sizeof(ts), t);
	if (ts[0] != '\0')
		pb_msg(iso, sizeof(iso), " (%s)", ts);
	if (t == c->now)
		pb_msg(w, sizeof(w), "%lld%s is now", t, iso);
	else if (t > c->now)
		pb_msg(w, sizeof(w), "%lld%s is in %llds", t, iso,
		    secs_between(t, c->now));
	else
		pb_msg(w, sizeof(w), "%lld%s is %llds ago", t, iso,
		    secs_between(c->now, t));
	pb_step_set(st, PB_OK, "%s %s; leeway %llds", claim, w, c->leeway);
}

/* The figures in the refusals say how far off the clocks or the job
 * were. */
static void
check_exp(const struct claim_ctx *c, struct pb_step *st)
{
	/* now >= exp + leeway, without computing exp + leeway. */
	if (diff_ge(c->now, c->exp, c->leeway))
		pb_step_set(st, PB_EXPIRED, "token expired %llds ago (exp "
		    "%lld, leeway %llds)", secs_between(c->now, c->exp),
		    c->exp, c->leeway);
	else
		time_passed(c, "exp", c->exp, st);
}

static void
check_nbf(const struct claim_ctx *c, struct pb_step *st)
{
	if (diff_gt(c->nbf, c->now, c->leeway))
		pb_step_set(st, PB_NOT_YET_VALID, "token not valid for another "
		    "%llds (nbf %lld, leeway %llds)",
		    secs_between(c->nbf, c->now), c->nbf, c->leeway);
	else
		time_passed(c, "nbf", c->nbf, st);
}

static void
check_iat(const struct claim_ctx *c, struct pb_step *st)
{
	if (diff_gt(c->iat, c->now, c->leeway))
		pb_step_set(st, PB_NOT_YET_VALID, "token issued %llds in the "
		    "future (iat %lld, leeway %llds): check the clocks",
		    secs_between(c->iat, c->now), c->iat, c->leeway);
	else
		time_passed(c, "iat", c->iat, st);
}

static void
check_lifetime(const struct claim_ctx *c, struct pb_step *st)
{
	long long max = c->cfg->token.max_lifetime;

	if (c->exp < c->iat)
		pb_step_set(st, PB_MALFORMED, "token expires before it was "
		    "issued");
	else if (diff_gt(c->exp, c->iat, max))
		pb_step_set(st, PB_LIFETIME, "token lifetime %llds is over "
		    "max_lifetime %llds", secs_between(c->exp, c->iat), max);
	else
		pb_step_set(st, PB_OK, "exp - iat is %llds, within "
		    "max_lifetime %llds", secs_between(c->exp, c->iat), max);
}

/* The checks in the order they are taken; applies, when set, says
 * whether the policy asks for the check at all. */
static const struct {
	const char *step;
	void (*check)(const struct claim_ctx *, struct pb_step *);
	bool (*applies)(const struct pb_config *);
} checks[] = {
	{ "issuer", check_issuer, NULL },
	{ "audience", check_audience, NULL },
	{ "organization", check_organization, NULL },
	{ "organization_id", check_organization_id, names_organization_id },
	{ "exp", check_exp, NULL },
	{ "nbf", check_nbf, NULL },
	{ "iat", check_iat, NULL },
	{ "lifetime", check_lifetime, NULL },
};

enum pb_reason
pb_claims_check(const json_t *claims, const struct pb_config *cfg,
    long long now, const struct pb_steps *s)
{
	struct claim_ctx c = {
		.claims = claims,
		.cfg = cfg,
		.now = now,
		.exp = json_integer_value(json_object_get(claims, "exp")),
		.iat = json_integer_value(json_object_get(claims, "iat")),
		.nbf = json_integer_value(json_object_get(claims, "nbf")),
		.leeway = cfg->token.leeway,
	};
	struct pb_step st;
	size_t i;

	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		if (checks[i].applies != NULL && !checks[i].applies(cfg))
			continue;
		checks[i].check(&c, &st);
		if (pb_step_report(s, checks[i].step, &st) != PB_OK)
			return st.reason;
	}
	return PB_OK;
}
