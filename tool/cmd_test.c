/*
 * cmd_test.c - "pam-buildkite test -c POLICY CASES.yaml [--junit FILE]":
 * a policy's tests, kept beside it and run in CI.
 *
 * Each case (policy_cases.h) becomes a token signed with a key made for
 * this run, verified as a login's token is (pb_token_verify: claim
 * types, issuer, audience, organization, times) and decided by the
 * policy as a login is (pb_authn_decide). Claims a case does not give
 * take values that pass the token checks: the policy's issuer, first
 * audience and organization (and organization_id when it pins one),
 * issued now for 5 minutes (or the policy's max_lifetime, when shorter),
 * a fresh jti, job_id and agent_id; the other claims every Buildkite
 * token has are placeholders no pattern but "*" matches (pipeline_slug
 * "unnamed-pipeline", build_branch "unnamed-branch", build_number 1, a
 * commit of zeros, step_key null), and sub is made from the rest as
 * Buildkite makes it. Only the key is not the issuer's, and nothing of
 * a login's surroundings is consulted (the key cache, the replay store,
 * whether an extension will end the session).
 *
 * Exit 0 when every case passes, 1 when one fails, 2 on a bad policy,
 * cases file or usage.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "authn.h"
#include "jwks.h"
#include "junit.h"
#include "policy_cases.h"
#include "reason.h"
#include "token.h"
#include "tokmint.h"
#include "tool.h"

#define TEST_KID "pam-buildkite-test"

struct runner {
	const struct pb_policy *pol;
	const struct pb_config *cfg;
	struct tm_key *key;
	struct pb_jwks *jwks;
	const char *alg;
	long long now;
};

/* What a case got. */
struct outcome {
	enum pb_reason reason;
	const char *rule;               /* owned by the policy */
	char detail[1200];
};

/* The reasons a case can get: the token checks a case's claims reach
 * and the policy's answers. */
static const char *const case_reasons[] = {
	"malformed", "issuer", "audience", "organization", "expired",
	"not_yet_valid", "lifetime", "no_rule", "denied", "config", NULL,
};

static int
check_reasons(const struct pb_cases *cases)
{
	size_t i, j;

	for (i = 0; i < cases->n; i++) {
		const char *r = cases->v[i].reason;

		if (r == NULL)
			continue;
		for (j = 0; case_reasons[j] != NULL; j++)
			if (strcmp(r, case_reasons[j]) == 0)
				break;
		if (case_reasons[j] == NULL) {
			fprintf(stderr, PROG ": %s: case \"%s\": reason %s is "
			    "none a case can get (malformed, issuer, audience, "
			    "organization, expired, not_yet_valid, lifetime, "
			    "no_rule, denied, config)\n",
			    cases->v[i].reason_where, cases->v[i].name, r);
			return -1;
		}
	}
	return 0;
}

/* A key of an algorithm the policy accepts, the fastest to make first,
 * and the key set that holds it. */
static int
runner_keys(struct runner *rn)
{
	static const struct { unsigned alg; const char *name, *type; } k[] = {
		{ PB_ALG_ES256, "ES256", "ec256" },
		{ PB_ALG_RS256, "RS256", "rsa2048" },
		{ PB_ALG_ES384, "ES384", "ec384" },
		{ PB_ALG_RS384, "RS384", "rsa2048" },
		{ PB_ALG_RS512, "RS512", "rsa2048" },
	};
	char err[256], *set;
	json_t *jwk;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (rn->cfg->token.algorithms & k[i].alg)
			break;
	if (i == sizeof(k) / sizeof(k[0]) ||
	    (rn->key = tm_key_generate(k[i].type)) == NULL)
		return -1;
	rn->alg = k[i].name;
	jwk = tm_jwk(rn->key, TEST_KID, NULL);
	set = jwk != NULL ? tm_jwks_string(&jwk, 1) : NULL;
	json_decref(jwk);
	rc = set != NULL ? pb_jwks_parse(set, strlen(set), &rn->jwks, err,
	    sizeof(err)) : -1;
	free(set);
	return rc;
}

/* The case's claims over ones that pass the token checks. */
static json_t *
case_claims(const struct runner *rn, const struct pb_case *c)
{
	const struct pb_config *cfg = rn->cfg;
	long long life = cfg->token.max_lifetime < 300 ?
	    cfg->token.max_lifetime : 300;
	char jti[37], job[37], agent[37];
	json_t *claims;

	if (tm_uuid(jti) != 0 || tm_uuid(job) != 0 || tm_uuid(agent) != 0)
		return NULL;
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, "
	    "s:I, s:s, s:n, s:s, s:s}",
	    "iss", cfg->token.issuer, "aud", cfg->token.audiences[0],
	    "organization_slug", cfg->token.organization,
	    "iat", (json_int_t)rn->now, "nbf", (json_int_t)rn->now,
	    "exp", (json_int_t)(rn->now + life), "jti", jti,
	    "pipeline_slug", "unnamed-pipeline",
	    "build_branch", "unnamed-branch", "build_number", (json_int_t)1,
	    "build_commit", "0000000000000000000000000000000000000000",
	    "step_key", "job_id", job, "agent_id", agent);
	if (claims != NULL && ((cfg->token.organization_id != NULL &&
	    json_object_set_new(claims, "organization_id",
	    json_string(cfg->token.organization_id)) != 0) ||
	    json_object_update(claims, c->claims) != 0 ||
	    (json_object_get(claims, "sub") == NULL &&
	    tm_derive_sub(claims) != 0))) {
		json_decref(claims);
		return NULL;
	}
	return claims;
}

/* Runs c as a login: 0, or -1 when the token could not be made. */
static int
run_case(const struct runner *rn, const struct pb_case *c,
    struct outcome *o)
{
	struct pb_token_info info;
	json_t *claims = case_claims(rn, c);
	char *token;
	long long lifetime;

	memset(o, 0, sizeof(*o));
	memset(&info, 0, sizeof(info));
	token = claims != NULL ? tm_token(rn->key, TEST_KID, rn->alg,
	    claims) : NULL;
	json_decref(claims);
	if (token == NULL)
		return -1;
	o->reason = pb_token_verify(token, strlen(token), rn->jwks, rn->cfg,
	    rn->now, &info, o->detail, sizeof(o->detail));
	free(token);
	if (o->reason == PB_OK)
		o->reason = pb_authn_decide(rn->pol, info.claims, c->role,
		    c->rhost, NULL, NULL, &o->rule, &lifetime, o->detail,
		    sizeof(o->detail));
	pb_token_info_clear(&info);
	return 0;
}

static bool
passed(const struct pb_case *c, const struct outcome *o)
{
	if (c->expect_allow != (o->reason == PB_OK))
		return false;
	if (c->rule != NULL && (o->rule == NULL || strcmp(c->rule,
	    o->rule) != 0))
		return false;
	return c->reason == NULL || strcmp(c->reason,
	    pb_reason_name(o->reason)) == 0;
}

/* "allow, rule "x"" or "deny, reason no_rule[, rule "x"]: detail". */
static void
describe(const struct outcome *o, char *buf, size_t len)
{
	int n = o->reason == PB_OK ? snprintf(buf, len, "allow") :
	    snprintf(buf, len, "deny, reason %s", pb_reason_name(o->reason));

	if (n >= 0 && (size_t)n < len && o->rule != NULL)
		n += snprintf(buf + n, len - (size_t)n, ", rule \"%s\"",
		    o->rule);
	if (n >= 0 && (size_t)n < len && o->reason != PB_OK &&
	    o->detail[0] != '\0')
		snprintf(buf + n, len - (size_t)n, ": %s", o->detail);
}

/* The failure message of c, which got o, in msg. */
static void
failure(const struct pb_case *c, const struct outcome *o, char *msg,
    size_t len)
{
	char got[1500];
	int n;

	describe(o, got, sizeof(got));
	n = snprintf(msg, len, "expected %s", c->expect_allow ? "allow" :
	    "deny");
	if (n >= 0 && (size_t)n < len && c->reason != NULL)
		n += snprintf(msg + n, len - (size_t)n, ", reason %s",
		    c->reason);
	if (n >= 0 && (size_t)n < len && c->rule != NULL)
		n += snprintf(msg + n, len - (size_t)n, ", rule \"%s\"",
		    c->rule);
	if (n >= 0 && (size_t)n < len)
		snprintf(msg + n, len - (size_t)n, "; got %s", got);
}

/* Runs every case, one line each on stdout; fills jc for --junit.
 * Returns the number that failed, or -1. */
static int
run_all(const struct runner *rn, const struct pb_cases *cases,
    struct junit_case *jc, char (*msgs)[1800])
{
	struct outcome o;
	size_t i;
	int failed = 0;

	for (i = 0; i < cases->n; i++) {
		const struct pb_case *c = &cases->v[i];

		if (run_case(rn, c, &o) != 0) {
			fprintf(stderr, PROG ": test: cannot sign a token for "
			    "case \"%s\"\n", c->name);
			return -1;
		}
		jc[i].name = c->name;
		jc[i].line = c->line;
		if (passed(c, &o)) {
			describe(&o, msgs[i], sizeof(msgs[i]));
			printf("ok   %s: %s\n", c->name, msgs[i]);
			continue;
		}
		failure(c, &o, msgs[i], sizeof(msgs[i]));
		jc[i].failure = msgs[i];
		printf("FAIL %s (%s): %s\n", c->name, c->where, msgs[i]);
		failed++;
	}
	printf("%zu passed, %d failed\n", cases->n - (size_t)failed, failed);
	return failed;
}

static int
test_options(int argc, char **argv, const char **policy, const char **cases,
    const char **junit)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "junit", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*policy = PB_POLICY_DEFAULT_PATH;
	*junit = NULL;
	while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			*policy = optarg;
			break;
		case 'j':
			*junit = optarg;
			break;
		default:
			return other_option("test", c, argv);
		}
	}
	if (optind + 1 != argc)
		return usage_error("test: one cases file is required");
	*cases = argv[optind];
	return -1;
}

int
cmd_test(int argc, char **argv)
{
	struct runner rn = { NULL, NULL, NULL, NULL, NULL, 0 };
	const char *policy = NULL, *path = NULL, *junit = NULL;
	struct pb_cases cases = { NULL, 0 };
	struct junit_case *jc = NULL;
	struct pb_policy *pol = NULL;
	char (*msgs)[1800] = NULL;
	struct pb_error err;
	int rc, failed;

	if ((rc = test_options(argc, argv, &policy, &path, &junit)) >= 0)
		return rc;
	rc = EXIT_USAGE;
	if (pb_policy_parse(policy, &pol, &err) != 0) {
		fprintf(stderr, PROG ": %s\n", err.text);
		return rc;
	}
	if (pb_cases_load(path, &cases, &err) != 0) {
		fprintf(stderr, PROG ": %s\n", err.text);
		goto done;
	}
	if (check_reasons(&cases) != 0)
		goto done;
	rn.pol = pol;
	rn.cfg = pb_policy_config(pol);
	rn.now = (long long)time(NULL);
	jc = calloc(cases.n + 1, sizeof(*jc));
	msgs = calloc(cases.n + 1, sizeof(*msgs));
	if (jc == NULL || msgs == NULL || runner_keys(&rn) != 0) {
		fprintf(stderr, PROG ": test: cannot make a signing key\n");
		goto done;
	}
	if ((failed = run_all(&rn, &cases, jc, msgs)) < 0)
		goto done;
	if (junit != NULL && junit_write(junit, path, policy, path, jc,
	    cases.n) != 0) {
		fprintf(stderr, PROG ": test: cannot write %s\n", junit);
		goto done;
	}
	rc = failed > 0 ? EXIT_DENY : EXIT_ALLOW;
done:
	free(jc);
	free(msgs);
	pb_jwks_free(rn.jwks);
	tm_key_free(rn.key);
	pb_cases_free(&cases);
	pb_policy_free(pol);
	return rc;
}
