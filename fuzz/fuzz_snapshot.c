/*
 * fuzz_snapshot.c - fuzz target: the input is a compiled policy
 * (POLICY.compiled, policy/policy_snapshot.h) beside a fixed, valid
 * policy. The first byte chooses the form: even, the rest follows a
 * correct header and source section (the policy's SHA-256), so the
 * fuzzer works on the config and the rules; odd, the rest is the whole
 * file. Checked
 * with __builtin_trap:
 *  - the policy always loads: a snapshot that does not stand for it,
 *    whatever it holds, makes the load fall back to the YAML, never fail;
 *  - a loaded policy's settings are ones the verifier can use, and every
 *    decision (regexes compiled only now, when used) returns, names its
 *    rule exactly when it is not "no rule", and is the same traced;
 *  - the rules loaded for one role (what a login loads) decide as the
 *    whole policy does.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "policy.h"
#include "check_config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy_text[] =
"version: 1\n"
"token:\n"
"  audience: postgres://db.test\n"
"  organization: acme-inc\n"
"jwks:\n"
"  file: /nonexistent/jwks.json\n"
"rules:\n"
"  - name: main\n"
"    pipeline: api\n"
"    branch: main\n"
"    roles: [ci_reader]\n";

static const char claims_text[] =
"{\"iss\":\"https://agent.buildkite.com\",\"aud\":\"postgres://db.test\","
"\"organization_slug\":\"acme-inc\",\"pipeline_slug\":\"api\","
"\"build_number\":42,\"build_branch\":\"release-1.2\",\"build_tag\":null,"
"\"step_key\":\"deploy\",\"build_source\":\"ui\",\"queue_key\":\"q-1\","
"\"agent_tag:queue\":\"deploy\",\"jti\":\"j-1\"}";

static const char *const roles[] = {
	"ci_reader", "ci_api", "api_migrator", "role_1", NULL,
};

static const char *const rhosts[] = { "10.0.0.1", "::1", NULL };

static json_t *claims;
static char dir[] = "/tmp/pbfuzzsnap.XXXXXX";
static char policy[64], snapshot[64];
/* magic, check word, size, one source without include: the policy */
static unsigned char prefix[4096];
static size_t prefix_len;

static void
put(const void *v, size_t n)
{
	if (n > sizeof(prefix) - prefix_len)
		__builtin_trap();
	memcpy(prefix + prefix_len, v, n);
	prefix_len += n;
}

static void
put_str(const char *s, size_t len)
{
	uint32_t u = (uint32_t)len;

	put(&u, sizeof(u));
	put(s, len);
	put("", 1);
}

static void
cleanup(void)
{
	unlink(snapshot);
	unlink(policy);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char magic[16] = "pbpolicysnap3\n\0";
	uint32_t check = 0x01020304u, one = 1;
	unsigned char md[32];
	uint64_t size = 0;
	FILE *f;

	(void)argc;
	(void)argv;
	if (claims != NULL)
		return 0;
	if ((claims = json_loads(claims_text, JSON_REJECT_DUPLICATES,
	    NULL)) == NULL || mkdtemp(dir) == NULL)
		__builtin_trap();
	atexit(cleanup);
	snprintf(policy, sizeof(policy), "%s/p.yaml", dir);
	snprintf(snapshot, sizeof(snapshot), "%s/p.yaml" PB_SNAPSHOT_SUFFIX,
	    dir);
	if ((f = fopen(policy, "w")) == NULL ||
	    fputs(policy_text, f) < 0 || fclose(f) != 0)
		__builtin_trap();
	put(magic, sizeof(magic));
	put(&check, sizeof(check));
	put(&size, sizeof(size));
	put(&one, sizeof(one));
	put("", 1);     /* no include */
	put_str(policy, strlen(policy));
	size = sizeof(policy_text) - 1;
	put(&size, sizeof(size));
	if (EVP_Digest(policy_text, size, md, NULL, EVP_sha256(), NULL) != 1)
		__builtin_trap();
	put(md, sizeof(md));
	size = 0;
	return 0;
}

/* Every decision twice, the same, from the whole policy; then, for each
 * role, from the rules a login loads for it: those decide as the whole
 * policy does whenever the whole decided (an irrelevant rule's regex that
 * glibc refuses fails only the whole), and fail no more often. When the
 * whole snapshot was unusable, the role's load may use it (only its own
 * rules are checked), so only that it returns is checked then. */
static void
decide_all(const struct pb_policy *pol, bool snapshot_used)
{
	size_t i, j;

	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		struct pb_policy *one = NULL;
		struct pb_error err;

		if (roles[i] != NULL && (pb_policy_load_for(policy, roles[i],
		    &one, &err) != 0 || one == NULL))
			__builtin_trap();
		for (j = 0; j < sizeof(rhosts) / sizeof(rhosts[0]); j++) {
			struct pb_decision d1, d2, d3;
			int r1, r2, r3;

			r1 = pb_policy_decide(pol, claims, roles[i],
			    rhosts[j], &d1, NULL, NULL);
			r2 = pb_policy_decide(pol, claims, roles[i],
			    rhosts[j], &d2, NULL, NULL);
			/* -1: a regex glibc refuses now, a denial */
			if (r1 != r2)
				__builtin_trap();
			if (r1 == 0 && (d1.verdict != d2.verdict ||
			    d1.rule != d2.rule ||
			    (d1.verdict == PB_VERDICT_NO_RULE) !=
			    (d1.rule == NULL)))
				__builtin_trap();
			if (one == NULL)
				continue;
			r3 = pb_policy_decide(one, claims, roles[i],
			    rhosts[j], &d3, NULL, NULL);
			if (r3 == 0 && (d3.verdict == PB_VERDICT_NO_RULE) !=
			    (d3.rule == NULL))
				__builtin_trap();
			if (snapshot_used && ((r3 != 0 && r1 == 0) ||
			    (r1 == 0 && (d1.verdict != d3.verdict ||
			    (d1.rule == NULL) != (d3.rule == NULL) ||
			    (d1.rule != NULL && strcmp(d1.rule, d3.rule))))))
				__builtin_trap();
		}
		pb_policy_free(one);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pb_policy *pol = NULL;
	struct pb_error err;
	uint64_t total;
	FILE *f;
	bool ok;

	if (claims == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	if (size == 0)
		return 0;
	if ((f = fopen(snapshot, "w")) == NULL)
		__builtin_trap();
	if ((data[0] & 1) == 0) {
		/* the size field sits after the magic and the check word */
		total = prefix_len + size - 1;
		memcpy(prefix + 20, &total, sizeof(total));
		ok = fwrite(prefix, 1, prefix_len, f) == prefix_len;
	} else {
		ok = true;
	}
	ok = ok && fwrite(data + 1, 1, size - 1, f) == size - 1;
	if (fclose(f) != 0 || !ok || chmod(snapshot, 0644) != 0)
		__builtin_trap();

	if (pb_policy_load(policy, &pol, &err) != 0 || pol == NULL)
		__builtin_trap();
	check_config(pb_policy_config(pol));
	decide_all(pol, pb_policy_snapshot_state(policy, NULL, 0) == 0);
	pb_policy_free(pol);
	return 0;
}
