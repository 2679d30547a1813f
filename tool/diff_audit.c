/*
 * diff_audit.c - "pam-buildkite diff OLD NEW --audit FILE...": recorded
 * login attempts decided again under both policies, with the module's
 * own decision (pb_authn_decide), and every decision that flips listed.
 *
 * Only attempts the policy decided are taken (result allow, or a denial
 * for no_rule or denied): the others were refused before the policy was
 * asked, and a policy change cannot change that. An attempt whose line
 * cannot tell a claim that a rule of either policy names is undecidable
 * and said so, never guessed (audit_line.c says when a line cannot).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit_line.h"
#include "authn.h"
#include "diff.h"
#include "reason.h"
#include "tool.h"

#define LINE_MAX_BYTES (64 * 1024)

struct replay {
	const struct pb_policy *old, *new;
	json_t *needed;                 /* claim names the rules read */
	unsigned decided, flips, undecidable, skipped, unreadable;
};

static const char *
field(const json_t *f, const char *key)
{
	const char *s = json_str(f, key);

	return *s != '\0' ? s : "-";
}

static const char *
verdict(enum pb_reason r, const char *rule, char *buf, size_t len)
{
	if (rule != NULL)
		snprintf(buf, len, "%s (%s, rule \"%s\")", r == PB_OK ?
		    "allow" : "deny", pb_reason_name(r), rule);
	else
		snprintf(buf, len, "%s (%s)", r == PB_OK ? "allow" : "deny",
		    pb_reason_name(r));
	return buf;
}

static void
print_attempt(const char *where, const json_t *f)
{
	printf("%s: job %s, pipeline %s, branch %s, step %s, role %s", where,
	    field(f, "job"), field(f, "pipeline"), field(f, "branch"),
	    field(f, "step"), field(f, "role"));
}

/* One attempt: decided under both, or why it cannot be. */
static void
replay_one(struct replay *rp, const char *where, json_t *f)
{
	const char *result = field(f, "result"), *reason = field(f, "reason");
	const char *why = NULL, *claim, *r_old, *r_new;
	struct audit_gaps gaps;
	enum pb_reason a, b;
	char d[600], v1[300], v2[300];
	long long life;
	json_t *claims, *v;
	const char *rhost = json_string_value(json_object_get(f, "rhost"));

	if (strcmp(result, "allow") != 0 && strcmp(reason, "no_rule") != 0 &&
	    strcmp(reason, "denied") != 0) {
		rp->skipped++;
		return;
	}
	if ((claims = audit_line_claims(f, &gaps)) == NULL) {
		rp->unreadable++;
		return;
	}
	json_object_foreach(rp->needed, claim, v) {
		if ((why = audit_claim_unknown(claims, &gaps, claim)) != NULL)
			break;
	}
	if (why != NULL) {
		print_attempt(where, f);
		printf(": undecidable: a rule reads %s, which %s\n", claim, why);
		rp->undecidable++;
		json_decref(claims);
		return;
	}
	a = pb_authn_decide(rp->old, claims, field(f, "role"), rhost, NULL,
	    NULL, &r_old, &life, d, sizeof(d));
	b = pb_authn_decide(rp->new, claims, field(f, "role"), rhost, NULL,
	    NULL, &r_new, &life, d, sizeof(d));
	rp->decided++;
	if ((a == PB_OK) != (b == PB_OK)) {
		print_attempt(where, f);
		printf(": %s -> %s\n", verdict(a, r_old, v1, sizeof(v1)),
		    verdict(b, r_new, v2, sizeof(v2)));
		rp->flips++;
	}
	json_decref(claims);
}

static int
replay_file(struct replay *rp, const char *path)
{
	char *line = NULL, where[PATH_MAX + 32];
	size_t cap = 0, n = 0;
	ssize_t len;
	json_t *f;
	FILE *in = fopen(path, "r");

	if (in == NULL) {
		fprintf(stderr, PROG ": diff: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, in)) >= 0) {
		n++;
		if (len > LINE_MAX_BYTES) {
			rp->unreadable++;
			continue;
		}
		if (len > 0 && line[len - 1] == '\n')
			line[len - 1] = '\0';
		switch (audit_line_parse(line, &f)) {
		case 1:
			snprintf(where, sizeof(where), "%s:%zu", path, n);
			replay_one(rp, where, f);
			json_decref(f);
			break;
		case -1:
			rp->unreadable++;
			break;
		}
	}
	free(line);
	fclose(in);
	return 0;
}

int
diff_audit(const struct pb_policy *old, const struct pb_policy *new,
    json_t *needed, char **files, int n, bool *changed)
{
	struct replay rp = { old, new, needed, 0, 0, 0, 0, 0 };
	int i;

	for (i = 0; i < n; i++)
		if (replay_file(&rp, files[i]) != 0)
			return -1;
	printf("audit: %u attempts decided again, %u would flip; %u "
	    "undecidable, %u not decided by the policy, %u lines unreadable\n",
	    rp.decided, rp.flips, rp.undecidable, rp.skipped, rp.unreadable);
	*changed = rp.flips > 0;
	return 0;
}
