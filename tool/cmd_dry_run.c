/*
 * cmd_dry_run.c - pam-buildkite dry-run: a local stand-in issuer, to try
 * a policy and the PAM stack (pamtester) before any Buildkite job runs.
 *
 *   dry-run key DIR     writes DIR/dry-run.key (RSA 2048, mode 0600) and
 *                       DIR/dry-run.jwks.json, its public key set;
 *   dry-run token ...   prints a token signed with that key, with the
 *                       claims of a Buildkite job as the options say.
 *
 * For dry runs only, never in production: the tokens name the issuer
 * DRY_RUN_ISSUER, never Buildkite's, so a policy that does not set
 * token.issuer to it (every real one) refuses them with reason issuer.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "tokmint.h"
#include "tool.h"

#define DRY_RUN_ISSUER "https://pam-buildkite.invalid/dry-run"
#define DRY_RUN_WARNING "for dry runs only, never in production"
/* Buildkite's longest: a job may ask for up to 2 hours. */
#define DRY_RUN_LIFETIME_MAX 7200

/* The kid: hex SHA-256 of the public key's PEM, 64 hex digits as in
 * Buildkite's headers. */
static int
key_kid(const struct tm_key *key, char kid[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	size_t len;
	char *pem;

	pem = tm_public_pem(key, &len);
	if (pem == NULL)
		return -1;
	if (EVP_Digest(pem, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32) {
		free(pem);
		return -1;
	}
	free(pem);
	for (i = 0; i < mdlen; i++)
		snprintf(kid + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static int
dry_run_key(int argc, char **argv)
{
	char keypath[PATH_MAX], jwkspath[PATH_MAX], kid[65];
	struct tm_key *key;
	json_t *jwk = NULL;
	char *jwks = NULL;
	FILE *f;
	int rc = EXIT_DENY;

	if (argc != 2)
		return usage_error("dry-run key: one directory is required");
	if ((size_t)snprintf(keypath, sizeof(keypath), "%s/dry-run.key",
	    argv[1]) >= sizeof(keypath) ||
	    (size_t)snprintf(jwkspath, sizeof(jwkspath),
	    "%s/dry-run.jwks.json", argv[1]) >= sizeof(jwkspath))
		return usage_error("dry-run key: directory name too long");
	key = tm_key_generate("rsa2048");
	if (key == NULL || key_kid(key, kid) != 0) {
		fprintf(stderr, PROG ": dry-run key: cannot make a key\n");
		goto done;
	}
	if (tm_key_save(key, keypath) != 0) {
		fprintf(stderr, PROG ": dry-run key: cannot write %s: %s\n",
		    keypath, strerror(errno));
		goto done;
	}
	jwk = tm_jwk(key, kid, NULL);
	jwks = jwk != NULL ? tm_jwks_string(&jwk, 1) : NULL;
	if (jwks == NULL) {
		fprintf(stderr, PROG ": dry-run key: cannot make the JWKS\n");
		goto done;
	}
	f = fopen(jwkspath, "w");
	if (f == NULL || fprintf(f, "%s\n", jwks) < 0 ||
	    fclose(f) != 0) {
		fprintf(stderr, PROG ": dry-run key: cannot write %s\n",
		    jwkspath);
		goto done;
	}
	printf("wrote %s (private, mode 0600) and %s\n"
	    "%s. A dry-run policy, beside your real one, needs:\n"
	    "  token:\n"
	    "    issuer: %s\n"
	    "  jwks:\n"
	    "    file: %s\n", keypath, jwkspath, DRY_RUN_WARNING,
	    DRY_RUN_ISSUER, jwkspath);
	rc = EXIT_ALLOW;
done:
	free(jwks);
	json_decref(jwk);
	tm_key_free(key);
	return rc;
}

struct job {
	const char *aud, *org, *pipeline, *branch, *tag, *step, *source;
	long long lifetime;
};

/* The claims of a Buildkite job as j says, sub made from them the way
 * Buildkite makes it. */
static json_t *
job_claims(const struct job *j, long long now)
{
	static const char commit[] = "0000000000000000000000000000000000000000";
	char jti[37], job_id[37], agent_id[37];
	json_t *claims;

	if (tm_uuid(jti) != 0 || tm_uuid(job_id) != 0 ||
	    tm_uuid(agent_id) != 0)
		return NULL;
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s,"
	    " s:I, s:s, s:o, s:s, s:o, s:s, s:s, s:s, s:s}",
	    "iss", DRY_RUN_ISSUER, "sub", "", "aud", j->aud,
	    "iat", (json_int_t)now, "nbf", (json_int_t)now,
	    "exp", (json_int_t)(now + j->lifetime), "jti", jti,
	    "organization_slug", j->org, "pipeline_slug", j->pipeline,
	    "build_number", (json_int_t)1, "build_branch", j->branch,
	    "build_tag", j->tag ? json_string(j->tag) : json_null(),
	    "build_commit", commit,
	    "step_key", j->step ? json_string(j->step) : json_null(),
	    "job_id", job_id, "agent_id", agent_id,
	    "build_source", j->source, "runner_environment", "self-hosted");
	/* sub comes second, as in Buildkite's tokens; its value from the
	 * rest */
	if (claims != NULL && tm_derive_sub(claims) != 0) {
		json_decref(claims);
		return NULL;
	}
	return claims;
}

static int
dry_run_token(int argc, char **argv)
{
	enum { O_KEY = 256, O_AUD, O_ORG, O_PIPELINE, O_BRANCH, O_TAG,
	    O_STEP, O_SOURCE, O_LIFETIME };
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, O_KEY },
		{ "aud", required_argument, NULL, O_AUD },
		{ "org", required_argument, NULL, O_ORG },
		{ "pipeline", required_argument, NULL, O_PIPELINE },
		{ "branch", required_argument, NULL, O_BRANCH },
		{ "tag", required_argument, NULL, O_TAG },
		{ "step", required_argument, NULL, O_STEP },
		{ "source", required_argument, NULL, O_SOURCE },
		{ "lifetime", required_argument, NULL, O_LIFETIME },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct job j = { NULL, NULL, "api", "main", NULL, NULL, "webhook",
	    300 };
	const char *keypath = NULL;
	struct tm_key *key = NULL;
	json_t *claims = NULL;
	char kid[65], *token = NULL, *end;
	int c, rc = EXIT_DENY;

	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case O_KEY: keypath = optarg; break;
		case O_AUD: j.aud = optarg; break;
		case O_ORG: j.org = optarg; break;
		case O_PIPELINE: j.pipeline = optarg; break;
		case O_BRANCH: j.branch = optarg; break;
		case O_TAG: j.tag = optarg; break;
		case O_STEP: j.step = optarg; break;
		case O_SOURCE: j.source = optarg; break;
		case O_LIFETIME:
			errno = 0;
			j.lifetime = strtoll(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    j.lifetime < 1 || j.lifetime > DRY_RUN_LIFETIME_MAX)
				return usage_error("dry-run token: --lifetime "
				    "takes 1 to %d seconds", DRY_RUN_LIFETIME_MAX);
			break;
		default:
			return other_option("dry-run token", c, argv);
		}
	}
	if (optind != argc)
		return no_arguments("dry-run token", argc, argv);
	if (keypath == NULL || j.aud == NULL || j.org == NULL)
		return usage_error("dry-run token: --key, --aud and --org "
		    "are required");
	key = tm_key_load(keypath);
	if (key == NULL || key_kid(key, kid) != 0) {
		fprintf(stderr, PROG ": dry-run token: cannot load a private "
		    "key from %s\n", keypath);
		goto done;
	}
	claims = job_claims(&j, (long long)time(NULL));
	token = claims != NULL ? tm_token(key, kid, "RS256", claims) : NULL;
	if (token == NULL) {
		fprintf(stderr, PROG ": dry-run token: cannot sign\n");
		goto done;
	}
	printf("%s\n", token);
	fprintf(stderr, PROG ": a token of issuer " DRY_RUN_ISSUER ", "
	    DRY_RUN_WARNING "\n");
	rc = EXIT_ALLOW;
done:
	free(token);
	json_decref(claims);
	tm_key_free(key);
	return rc;
}

int
cmd_dry_run(int argc, char **argv)
{
	optind = 1;
	if (argc >= 2 && strcmp(argv[1], "key") == 0)
		return dry_run_key(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "token") == 0)
		return dry_run_token(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return EXIT_ALLOW;
	}
	return usage_error("dry-run: key or token is required");
}
