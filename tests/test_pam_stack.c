/*
 * test_pam_stack.c - the module inside a real libpam stack.
 *
 * Uses pam_start_confdir with service files written at run time, so it
 * needs neither root nor pam_wrapper. Checks what pamtester cannot show:
 * how acct_mgmt follows authenticate on the same handle, how often the
 * conversation is asked, use_first_pass, and that two interleaved
 * handles do not share state.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "tap.h"
#include "tokmint.h"

struct conv_state {
	const char *answer;
	int calls;
};

static char confdir[256];

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
    void *data)
{
	struct conv_state *st = data;
	struct pam_response *r = calloc((size_t)n, sizeof(*r));
	int i;

	if (r == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF) {
			st->calls++;
			r[i].resp = st->answer ? strdup(st->answer) : NULL;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static void
write_file(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", confdir, name);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) == EOF ||
	    fclose(f) != 0) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
}

struct session {
	pam_handle_t *pamh;
	struct conv_state st;
	struct pam_conv c;
};

static int
start(struct session *s, const char *service, const char *user,
    const char *answer)
{
	s->st.answer = answer;
	s->st.calls = 0;
	s->c.conv = conv;
	s->c.appdata_ptr = &s->st;
	return pam_start_confdir(service, user, &s->c, confdir, &s->pamh);
}

int
main(void)
{
	const char *builddir = getenv("top_builddir");
	const char *setitems = getenv("PAM_WRAPPER_MODULES");
	struct tm_key *key = tm_key_generate("rsa2048");
	struct session a, b;
	json_t *claims, *jwk;
	char buf[2048], *tok, *bad, *jwks, *big;
	long long now = (long long)time(NULL);

	if (builddir == NULL)
		builddir = ".";
	if (setitems == NULL || setitems[0] == '\0') {
		if (getenv("PB_REQUIRE_ALL") != NULL) {
			printf("Bail out! pam_wrapper's modules not found\n");
			return 1;
		}
		printf("1..0 # SKIP pam_wrapper's modules not found\n");
		return 0;
	}
	snprintf(confdir, sizeof(confdir), "%s/pbstack.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (key == NULL || mkdtemp(confdir) == NULL) {
		printf("Bail out! setup failed\n");
		return 1;
	}
	jwk = tm_jwk(key, "k1", NULL);
	jwks = tm_jwks_string(&jwk, 1);
	write_file("jwks.json", jwks);
	snprintf(buf, sizeof(buf), "version: 1\ntoken:\n  audience: aud\n"
	    "  organization: acme-inc\njwks:\n  file: %s/jwks.json\nrules:\n"
	    "  - name: r\n    pipeline: api\n    roles: [alice]\n", confdir);
	write_file("policy.yaml", buf);
	snprintf(buf, sizeof(buf),
	    "auth required %s/.libs/pam_buildkite.so config=%s/policy.yaml\n"
	    "account required %s/.libs/pam_buildkite.so\n"
	    "account required pam_permit.so\n", builddir, confdir, builddir);
	write_file("svc", buf);
	snprintf(buf, sizeof(buf),
	    "auth required %s/.libs/pam_buildkite.so config=%s/policy.yaml "
	    "use_first_pass\naccount required %s/.libs/pam_buildkite.so\n",
	    builddir, confdir, builddir);
	write_file("first", buf);
	snprintf(buf, sizeof(buf), "account required "
	    "%s/.libs/pam_buildkite.so\n", builddir);
	write_file("acctonly", buf);
	/* pam_wrapper's pam_set_items stands for an earlier module that
	 * already holds the token (applications cannot set PAM_AUTHTOK). */
	snprintf(buf, sizeof(buf), "auth required %s/pam_set_items.so\n"
	    "auth required %s/.libs/pam_buildkite.so config=%s/policy.yaml\n"
	    "account required %s/.libs/pam_buildkite.so\n", setitems,
	    builddir, confdir, builddir);
	write_file("preset", buf);
	snprintf(buf, sizeof(buf), "auth required %s/pam_set_items.so\n"
	    "auth required %s/.libs/pam_buildkite.so config=%s/policy.yaml "
	    "use_first_pass\n", setitems, builddir, confdir);
	write_file("presetfirst", buf);
	write_file("other", "auth required pam_deny.so\n"
	    "account required pam_deny.so\n");

	claims = tm_default_claims(now, "aud", "acme-inc");
	tok = tm_token(key, "k1", "RS256", claims);
	json_object_set_new(claims, "pipeline_slug", json_string("web"));
	bad = tm_token(key, "k1", "RS256", claims);

	ok(start(&a, "svc", "alice", tok) == PAM_SUCCESS, "pam_start_confdir");
	ok(pam_authenticate(a.pamh, 0) == PAM_SUCCESS,
	    "authenticate: a valid token for an allowed role succeeds");
	ok_eq(a.st.calls, 1, "the conversation was asked exactly once (%d)",
	    a.st.calls);
	ok(pam_acct_mgmt(a.pamh, 0) == PAM_SUCCESS,
	    "acct_mgmt after a successful authenticate succeeds");
	ok(pam_setcred(a.pamh, PAM_ESTABLISH_CRED) == PAM_SUCCESS,
	    "setcred succeeds");
	ok(pam_set_item(a.pamh, PAM_USER, "mallory") == PAM_SUCCESS &&
	    pam_acct_mgmt(a.pamh, 0) == PAM_PERM_DENIED,
	    "acct_mgmt for a user other than the authenticated one is denied");
	pam_end(a.pamh, PAM_SUCCESS);

	start(&a, "svc", "alice", bad);
	ok(pam_authenticate(a.pamh, 0) == PAM_AUTH_ERR,
	    "authenticate: a pipeline outside the policy gets PAM_AUTH_ERR");
	ok(pam_acct_mgmt(a.pamh, 0) == PAM_PERM_DENIED,
	    "acct_mgmt after a failed authenticate is PAM_PERM_DENIED");
	pam_end(a.pamh, PAM_SUCCESS);

	start(&a, "svc", "alice", NULL);
	ok(pam_acct_mgmt(a.pamh, 0) == PAM_SUCCESS,
	    "acct_mgmt without authenticate ignores (pam_permit decides)");
	pam_end(a.pamh, PAM_SUCCESS);
	start(&a, "acctonly", "alice", NULL);
	ok(pam_acct_mgmt(a.pamh, 0) != PAM_SUCCESS,
	    "... and alone in the stack that is a denial");
	pam_end(a.pamh, PAM_SUCCESS);

	setenv("PAM_AUTHTOK", tok, 1);
	start(&a, "preset", "alice", "unused");
	ok(pam_authenticate(a.pamh, 0) == PAM_SUCCESS && a.st.calls == 0,
	    "a token set by an earlier module is used without asking");
	pam_end(a.pamh, PAM_SUCCESS);

	start(&a, "first", "alice", tok);
	ok(pam_authenticate(a.pamh, 0) == PAM_AUTH_ERR && a.st.calls == 0,
	    "use_first_pass with no earlier token denies without asking");
	pam_end(a.pamh, PAM_SUCCESS);
	start(&a, "presetfirst", "alice", NULL);
	ok(pam_authenticate(a.pamh, 0) == PAM_SUCCESS && a.st.calls == 0,
	    "use_first_pass with an earlier token succeeds");
	pam_end(a.pamh, PAM_SUCCESS);
	unsetenv("PAM_AUTHTOK");

	start(&a, "svc", "alice", NULL);
	ok(pam_authenticate(a.pamh, 0) == PAM_AUTH_ERR,
	    "no answer from the conversation is PAM_AUTH_ERR");
	pam_end(a.pamh, PAM_SUCCESS);

	/* Two handles in one process, interleaved: no state is shared. */
	start(&a, "svc", "alice", tok);
	start(&b, "svc", "alice", bad);
	ok(pam_authenticate(a.pamh, 0) == PAM_SUCCESS &&
	    pam_authenticate(b.pamh, 0) == PAM_AUTH_ERR,
	    "interleaved handles: one allowed, one denied");
	ok(pam_acct_mgmt(a.pamh, 0) == PAM_SUCCESS &&
	    pam_acct_mgmt(b.pamh, 0) == PAM_PERM_DENIED,
	    "interleaved handles keep their own verdicts");
	pam_end(b.pamh, PAM_SUCCESS);
	pam_end(a.pamh, PAM_SUCCESS);

	/* A large token, as with every optional claim requested. */
	json_object_set_new(claims, "pipeline_slug", json_string("api"));
	json_object_set_new(claims, "cluster_name",
	    json_string("production-cluster-with-a-long-name"));
	json_object_set_new(claims, "agent_tag:queue",
	    json_string("deploy-queue-0190b2c4-3b1a-7cde-8f00-123456789abc"));
	json_object_set_new(claims, "organization_id",
	    json_string("0190b2c4-3b1a-7cde-8f00-123456789abc"));
	json_object_set_new(claims, "pipeline_id",
	    json_string("0190b2c4-3b1a-7cde-8f00-123456789abd"));
	json_object_set_new(claims, "build_id",
	    json_string("0190b2c4-3b1a-7cde-8f00-123456789abe"));
	json_object_set_new(claims, "queue_id",
	    json_string("0190b2c4-3b1a-7cde-8f00-123456789abf"));
	json_object_set_new(claims, "cluster_id",
	    json_string("0190b2c4-3b1a-7cde-8f00-123456789ac0"));
	json_object_set_new(claims, "queue_key",
	    json_string("deploy-queue-with-a-descriptive-name"));
	big = tm_token(key, "k1", "RS256", claims);
	start(&a, "svc", "alice", big);
	ok(strlen(big) > 1500 && pam_authenticate(a.pamh, 0) == PAM_SUCCESS,
	    "a %zu-byte token with every optional claim succeeds",
	    strlen(big));
	pam_end(a.pamh, PAM_SUCCESS);

	free(big);
	free(tok);
	free(bad);
	free(jwks);
	json_decref(jwk);
	json_decref(claims);
	tm_key_free(key);
	snprintf(buf, sizeof(buf), "rm -rf '%s'", confdir);
	if (system(buf) != 0)
		diag("could not remove %s", confdir);
	return done_testing();
}
