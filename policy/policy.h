/*
 * policy.h - the policy backend's whole interface.
 *
 * In the spirit of an NSS backend: the module and the admin tool load a
 * policy file, read its settings, and ask one question of it - may a job
 * with these verified claims, connecting from this address, become this
 * role? Nothing outside policy/ sees the rules themselves.
 */
#ifndef PB_POLICY_H
#define PB_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "policy_config.h"

#define PB_POLICY_DEFAULT_PATH "/etc/pam_buildkite/policy.yaml"
/* the compiled policy (pb_policy_compile) is the policy's path + this */
#define PB_SNAPSHOT_SUFFIX ".compiled"

/* Where a load failed: "file:line:column: message" in text. */
struct pb_error {
	char text[1024];
};

struct pb_policy;

/* Reads the policy at path (and its includes) for a decision: from its
 * snapshot (pb_policy_compile) when the files are the ones it was made
 * from (same paths, sizes and SHA-256), else parsed and strictly
 * validated as pb_policy_parse does. Returns 0 and sets *out, or -1 with err filled
 * (file:line:column). */
int pb_policy_load(const char *path, struct pb_policy **out,
    struct pb_error *err);

/* The same for decisions about one role only, what a login needs: from
 * a snapshot, only the rules that could cover role are built (from YAML,
 * all of them). pb_policy_decide refuses to decide for another role. */
int pb_policy_load_for(const char *path, const char *role,
    struct pb_policy **out, struct pb_error *err);

/* The same, always from the YAML, every pattern compiled: what
 * "pam-buildkite check" validates. */
int pb_policy_parse(const char *path, struct pb_policy **out,
    struct pb_error *err);

/* The same, judging who may write each file (trusted_file.h) as user
 * uid would be judged rather than as the caller: "pam-buildkite check
 * --user" sees what the module running as uid will. */
int pb_policy_parse_as(const char *path, uid_t uid, struct pb_policy **out,
    struct pb_error *err);

/* Parses the policy at path (an absolute path) and writes its snapshot,
 * path + ".compiled", atomically. Returns 0 with a summary in msg, or -1
 * with the error. */
int pb_policy_compile(const char *path, char *msg, size_t msglen);

/* Would pb_policy_load use the snapshot now? 0 yes, 1 there is none, -1
 * it is stale or unusable (why in msg); -1 also when the policy itself
 * cannot be read. */
int pb_policy_snapshot_state(const char *path, char *msg, size_t msglen);
/* The same, judged as user uid. */
int pb_policy_snapshot_state_as(const char *path, uid_t uid, char *msg,
    size_t msglen);
void pb_policy_free(struct pb_policy *pol);

const struct pb_config *pb_policy_config(const struct pb_policy *pol);


enum pb_verdict {
	PB_VERDICT_ALLOW,   /* an allow rule lists the role, no deny rule */
	PB_VERDICT_NO_RULE, /* no matching allow rule lists the role */
	PB_VERDICT_DENIED,  /* a matching deny rule covers the role */
};

struct pb_decision {
	enum pb_verdict verdict;
	const char *rule;   /* the deciding rule's name (owned by the
			       policy), NULL for NO_RULE */
	long long session_lifetime;     /* ALLOW: the rule's or the
					   policy's (policy_config.h) */
	char error[256];    /* why pb_policy_decide returned -1 */
	/* What could not be decided for this login, "" when nothing did:
	 * with DENIED, the condition that made the deny rule apply; with
	 * NO_RULE, the first allow rule that did not hold only for it
	 * ("rule \"name\": ..."). */
	char undecided[320];
};

/* Called once per rule, in order, when a trace is wanted (the admin
 * tool's explain): matched says whether the rule counts for this login
 * (all its conditions hold and it covers the role; for a deny rule, also
 * when that cannot be decided); why is a plain-words reason. */
typedef void (*pb_trace_fn)(void *ctx, const char *rule, bool matched,
    const char *why);

/* claims: the verified JWT payload (a JSON object). rhost may be NULL
 * (Unix-socket connections have none). Returns 0, or -1 with out->error
 * on a failure (out of memory, or a snapshot's regex that the loader
 * refuses now), which the caller treats as a denial. */
int pb_policy_decide(const struct pb_policy *pol, const json_t *claims,
    const char *role, const char *rhost, struct pb_decision *out,
    pb_trace_fn trace, void *trace_ctx);

/* Who can become role: {"role", "nobody", "ways": [each allow rule that
 * can grant it: "rule", "where", "granted" ("listed" or "template", with
 * "template"), "conditions": [{"claim", "label", "pattern", "words",
 * "items": [{"text", "regex", "negated"}]}], "from", "session_lifetime"}],
 * "cut_by": [each deny rule covering it, the same fields and "always"
 * when it refuses every login]}. "nobody" when no rule grants it or a
 * deny rule always refuses it. NULL when out of memory. */
json_t *pb_policy_who_can(const struct pb_policy *pol, const char *role);

/* Every rule as written, in order: [{"rule", "where", "effect", "roles",
 * "conditions" (as pb_policy_who_can's), "from", "session_lifetime"}].
 * NULL when out of memory. */
json_t *pb_policy_describe(const struct pb_policy *pol);

/* Calls fn for each warning about the policy: what a rule does that its
 * author may not mean (rule is its name, where its "file:line:column").
 * Returns how many there were. */
typedef void (*pb_lint_fn)(void *ctx, const char *rule, const char *where,
    const char *warning);
int pb_policy_lint(const struct pb_policy *pol, pb_lint_fn fn, void *ctx);

#endif
