/*
 * policy_lint.c - warnings about a policy that loads but may not do what
 * its author means, for "pam-buildkite check" (--strict fails on them).
 *
 * Each warning is what the README's threat model warns against, judged
 * from the rules as written, never guessed: a condition counts as the
 * same as another only when it names the same claim with the same
 * pattern text, and as matching everything only when it is "*". So a
 * warning is always true; some weak or dead rules it cannot prove are
 * not warned about.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "policy_int.h"

struct lint {
	const struct pb_policy *pol;
	pb_lint_fn fn;
	void *ctx;
	int n;
};

static void
warn(struct lint *lt, const struct pb_rule *r, const char *msg)
{
	lt->fn(lt->ctx, r ? r->name : NULL, r ? r->where : NULL, msg);
	lt->n++;
}

/* Claims every token that passes verification carries as a string or
 * an integer (token_claims.c): "*" matches them always. */
static bool
always_present(const char *claim)
{
	static const char *const claims[] = {
		"iss", "sub", "organization_slug", "pipeline_slug",
		"build_number", "build_branch", "build_commit", "job_id",
		"agent_id", NULL,
	};
	size_t i;

	for (i = 0; claims[i] != NULL; i++)
		if (strcmp(claim, claims[i]) == 0)
			return true;
	return false;
}

/* Does the condition hold for every login? A "*" item and nothing
 * negated holds for any value; an absent claim fails an allow rule's
 * condition but makes a deny rule's undecided, and so apply. */
static bool
cond_any(const struct pb_cond *c, bool deny)
{
	bool star = false;
	size_t i;

	for (i = 0; i < c->pat.n; i++) {
		if (c->pat.items[i].neg)
			return false;
		if (!c->pat.items[i].is_re &&
		    strcmp(c->pat.items[i].text, "*") == 0)
			star = true;
	}
	return star && (deny || always_present(c->claim));
}

static bool
pattern_has(const struct pb_pattern *p, const char *v)
{
	char msg[PB_MSG_MAX];

	return pb_pattern_match(p, v, strlen(v), msg, sizeof(msg)) == PB_TRUE;
}

static const struct pb_cond *
cond_on(const struct pb_rule *r, const char *claim)
{
	size_t i;

	for (i = 0; i < r->n_conds; i++)
		if (strcmp(r->conds[i].claim, claim) == 0)
			return &r->conds[i];
	return NULL;
}

/* Does every login that meets b's conditions meet a's? Only when each
 * of a's is "*" or written the same in b, and a has no from: or b the
 * same one. */
static bool
conds_implied(const struct pb_rule *a, const struct pb_rule *b)
{
	size_t i;

	for (i = 0; i < a->n_conds; i++) {
		const struct pb_cond *c = &a->conds[i];
		const struct pb_cond *d = cond_on(b, c->claim);

		if (cond_any(c, a->deny))
			continue;
		if (d == NULL || strcmp(c->pat.display, d->pat.display) != 0)
			return false;
	}
	return a->n_from == 0 || (b->n_from > 0 &&
	    strcmp(a->from_display, b->from_display) == 0);
}

static bool
lists_role(const struct pb_rule *r, const struct pb_role *role)
{
	size_t i;

	if (r->deny && r->n_roles == 0)
		return true;
	for (i = 0; i < r->n_roles; i++)
		if (r->roles[i].tmpl == role->tmpl &&
		    strcmp(r->roles[i].text, role->text) == 0)
			return true;
	return false;
}

static bool
lists_all_roles(const struct pb_rule *a, const struct pb_rule *b)
{
	size_t i;

	for (i = 0; i < b->n_roles; i++)
		if (!lists_role(a, &b->roles[i]))
			return false;
	return true;
}

/* A deny rule refusing every build of role started by hand: its source
 * pattern holds ui and api, its other conditions are "*", no from:. */
static bool
refuses_by_hand(const struct pb_rule *d, const struct pb_role *role)
{
	const struct pb_cond *src = cond_on(d, "build_source");
	size_t i;

	if (!d->deny || d->n_from > 0 || src == NULL ||
	    !lists_role(d, role) || !pattern_has(&src->pat, "ui") ||
	    !pattern_has(&src->pat, "api"))
		return false;
	for (i = 0; i < d->n_conds; i++)
		if (&d->conds[i] != src && !cond_any(&d->conds[i], true))
			return false;
	return true;
}

bool
pb_rule_always(const struct pb_rule *r)
{
	size_t i;

	for (i = 0; i < r->n_conds; i++)
		if (!cond_any(&r->conds[i], r->deny))
			return false;
	return r->n_from == 0;
}

/* Allow rule a: every job, or any step of a build anyone could start. */
static void
lint_reach(struct lint *lt, const struct pb_rule *a)
{
	const struct pb_policy *pol = lt->pol;
	const struct pb_cond *src;
	char msg[PB_MSG_MAX];
	size_t i, j;

	if (pb_rule_always(a)) {
		warn(lt, a, "no condition but \"*\": every job of every "
		    "pipeline of the organization can become its roles");
		return;
	}
	src = cond_on(a, "build_source");
	if (cond_on(a, "step_key") != NULL || (src != NULL &&
	    !pattern_has(&src->pat, "ui") && !pattern_has(&src->pat, "api")))
		return;
	for (i = 0; i < a->n_roles; i++) {
		for (j = 0; j < pol->n_rules; j++)
			if (refuses_by_hand(&pol->rules[j], &a->roles[i]))
				break;
		if (j < pol->n_rules)
			continue;
		snprintf(msg, sizeof(msg), "no step: any step of a build it "
		    "matches can become %s, also one started by hand in the "
		    "UI or the API on the branch it names; name the step, or "
		    "deny %s to builds whose source is ui or api",
		    a->roles[i].text, a->roles[i].text);
		warn(lt, a, msg);
		return;
	}
}

/* Allow rule a at index ia: a deny rule always refusing it, or an
 * earlier allow rule always deciding instead of it. */
static void
lint_dead(struct lint *lt, const struct pb_rule *a, size_t ia)
{
	const struct pb_policy *pol = lt->pol;
	char msg[PB_MSG_MAX];
	size_t j;

	for (j = 0; j < pol->n_rules; j++) {
		const struct pb_rule *o = &pol->rules[j];

		if (o == a || (!o->deny && j > ia) || !conds_implied(o, a) ||
		    !lists_all_roles(o, a))
			continue;
		snprintf(msg, sizeof(msg), o->deny ? "dead rule: deny rule "
		    "\"%s\" (%s) refuses every login it would allow" :
		    "dead rule: rule \"%s\" (%s) comes first and allows every "
		    "login it would, so it never decides one", o->name,
		    o->where);
		warn(lt, a, msg);
		return;
	}
}

int
pb_policy_lint(const struct pb_policy *pol, pb_lint_fn fn, void *ctx)
{
	struct lint lt = { pol, fn, ctx, 0 };
	char msg[PB_MSG_MAX];
	size_t i;

	if (pol == NULL)
		return 0;
	if (pol->cfg.token.organization_id == NULL)
		warn(&lt, NULL, "token.organization_id is not set: an "
		    "organization slug can be renamed and then taken by "
		    "another Buildkite organization; pin its UUID");
	for (i = 0; i < pol->n_rules; i++) {
		const struct pb_rule *r = &pol->rules[i];

		if (!r->deny) {
			lint_reach(&lt, r);
			lint_dead(&lt, r, i);
			continue;
		}
		/* PostgreSQL passes a host name as PAM_RHOST with
		 * pam_use_hostname=1, and "[local]" for a Unix socket:
		 * neither is in or out of a CIDR, so the rule applies. */
		if (r->n_from > 0) {
			snprintf(msg, sizeof(msg), "a deny rule with from: %s "
			    "cannot be decided for a login whose client "
			    "address is a host name (pg_hba.conf's "
			    "pam_use_hostname=1) or none (a Unix socket): it "
			    "then denies every login it covers",
			    r->from_display);
			warn(&lt, r, msg);
		}
	}
	return lt.n;
}
