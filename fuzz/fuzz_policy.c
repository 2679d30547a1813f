/*
 * fuzz_policy.c - fuzz target: the input is a policy file. pb_policy_load
 * reads a path, so the bytes go into a memfd (mode 0600: the loader
 * refuses files anyone may write, and a memfd starts out 0777) loaded
 * as /proc/self/fd/N. A policy that loads is asked pb_policy_decide for
 * a fixed set of claims, several roles and several rhosts, with and
 * without a trace. Checked with __builtin_trap:
 *  - a refused file leaves a message and no policy;
 *  - a loaded policy's token settings are ones the verifier can use
 *    (the loader's promise that token.c relies on);
 *  - tracing does not change a decision, a decision names its rule
 *    exactly when it is not "no rule", and the trace is called once per
 *    rule with a name and a reason.
 * Relative includes resolve under /proc/self/fd and absolute ones may
 * glob the filesystem: they are only read.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "policy.h"
#include "check_config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char claims_text[] =
"{\"iss\":\"https://agent.buildkite.com\",\"sub\":\"organization:acme-inc:"
"pipeline:api:ref:refs/heads/main:commit:0123456789abcdef:step:\","
"\"aud\":\"postgres://db.test\",\"iat\":1700000000,\"nbf\":1700000000,"
"\"exp\":1700000300,\"organization_slug\":\"acme-inc\","
"\"pipeline_slug\":\"api\",\"build_number\":42,\"build_branch\":\"main\","
"\"build_tag\":null,\"build_commit\":\"0123456789abcdef\","
"\"step_key\":null,\"job_id\":\"0190a0b1-0000-0000-0000-000000000001\","
"\"agent_id\":\"0190a0b1-0000-0000-0000-000000000002\","
"\"build_source\":\"ui\",\"runner_environment\":\"buildkite-hosted\","
"\"agent_tag:queue\":\"deploy\",\"jti\":\"j-1\"}";

static const char *const roles[] = {
	"api_migrator", "ci_reader", "ci_api", "app_owner", "deploy",
	"api_42", "42", "", NULL,
};

static const char *const rhosts[] = {
	"10.0.0.1", "::1", "::ffff:10.0.0.1", "db.example", NULL,
};

static json_t *claims;

struct trace_ctx {
	size_t calls;
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (claims == NULL &&
	    (claims = json_loads(claims_text, JSON_REJECT_DUPLICATES,
	    NULL)) == NULL)
		__builtin_trap();
	return 0;
}

static void
trace(void *ctx, const char *rule, bool matched, const char *why)
{
	struct trace_ctx *t = ctx;

	(void)matched;
	if (rule == NULL || why == NULL || strlen(why) >= 4096)
		__builtin_trap();
	t->calls++;
}

static void
decide_all(const struct pb_policy *pol)
{
	size_t i, j, calls = SIZE_MAX;
	struct pb_decision d;

	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		for (j = 0; j < sizeof(rhosts) / sizeof(rhosts[0]); j++) {
			struct pb_decision d1, d2;
			struct trace_ctx t = { 0 };

			if (pb_policy_decide(pol, claims, roles[i], rhosts[j],
			    &d1, NULL, NULL) != 0 ||
			    pb_policy_decide(pol, claims, roles[i], rhosts[j],
			    &d2, trace, &t) != 0)
				__builtin_trap();
			if (d1.verdict != d2.verdict || d1.rule != d2.rule ||
			    (d1.verdict == PB_VERDICT_NO_RULE) !=
			    (d1.rule == NULL))
				__builtin_trap();
			/* once per rule, whatever the question */
			if (calls == SIZE_MAX)
				calls = t.calls;
			else if (t.calls != calls)
				__builtin_trap();
		}
	}
	/* No claims at all (the caller's bug, but never a crash). */
	if (pb_policy_decide(pol, NULL, "ci_reader", NULL, &d, NULL,
	    NULL) != 0)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pb_policy *pol = NULL;
	struct pb_error err;
	char path[64];
	size_t off = 0;
	int fd, rc;

	if (claims == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	fd = memfd_create("policy.yaml", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fchmod(fd, 0600) != 0) {
		close(fd);
		return 0;
	}
	while (off < size) {
		ssize_t w = write(fd, data + off, size - off);

		if (w <= 0) {
			close(fd);
			return 0;
		}
		off += (size_t)w;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

	rc = pb_policy_load(path, &pol, &err);
	close(fd);
	if (memchr(err.text, '\0', sizeof(err.text)) == NULL)
		__builtin_trap();
	if (rc != 0) {
		if (pol != NULL || err.text[0] == '\0')
			__builtin_trap();
		return 0;
	}
	if (pol == NULL)
		__builtin_trap();
	check_config(pb_policy_config(pol));
	decide_all(pol);
	pb_policy_free(pol);
	return 0;
}
