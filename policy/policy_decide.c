/*
 * policy_decide.c - the decision: which rules hold for a login, and
 * whether a deny or an allow rule decides it.
 *
 * A condition is true, false or undecided. Undecided is what this login
 * cannot tell: a claim the token lacks or carries with another type, a
 * client address that is a host name (pam_use_hostname) or none at all,
 * a regex the engine could not decide within its limits. A rule's
 * conditions combine with Kleene's three-valued "and": false when one is
 * false, whatever the others; undecided when none is false and one is
 * undecided. An undecided deny rule applies and an undecided allow rule
 * does not hold, so what cannot be evaluated never lets a login through.
 *
 * A null claim is Buildkite's "no value" (step_key of a step without a
 * key, build_tag of an untagged build), which is decided: it satisfies
 * no condition of an allow rule, as it always has, and in a deny rule it
 * is a value that equals no item, so "!migrate" holds for it and "*"
 * does not.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy_int.h"
#include "msg.h"

/* What one rule says of a login: its truth, why it is false (only when
 * traced) and what could not be decided (always, so the audit can say). */
struct verdict {
	int truth;
	char *why;
	size_t whylen;
	char undecided[PB_MSG_MAX];
};

static void __attribute__((format(printf, 2, 3)))
set_undecided(struct verdict *v, const char *fmt, ...)
{
	va_list ap;

	/* the first undecided condition is the one reported */
	if (v->truth == PB_TRUE) {
		va_start(ap, fmt);
		vsnprintf(v->undecided, sizeof(v->undecided), fmt, ap);
		va_end(ap);
	}
	v->truth = PB_UNDECIDED;
}

static bool
only_exclusions(const struct pb_pattern *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (!p->items[i].neg)
			return false;
	return true;
}

/* A null claim: decided, see the header. Returns the truth. */
static int
null_truth(const struct pb_rule *r, const struct pb_cond *c,
    struct verdict *v)
{
	if (r->deny && only_exclusions(&c->pat))
		return PB_TRUE;
	pb_msg(v->why, v->whylen, "%s is null", c->claim);
	return PB_FALSE;
}

/* The claim conditions: the truth, or -1 when a regex cannot be compiled
 * (err). */
static int
claims_truth(const struct pb_rule *r, const json_t *claims,
    struct verdict *v, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < r->n_conds; i++) {
		const struct pb_cond *c = &r->conds[i];
		char num[32], qv[160], qp[160], msg[PB_MSG_MAX];
		const char *val = NULL;
		size_t len = 0;
		enum pb_claim_state st;
		int m;

		st = pb_claim_text(claims, c->claim, num, sizeof(num), &val,
		    &len);
		if (st == PB_CLAIM_NULL) {
			if (null_truth(r, c, v) == PB_FALSE)
				return PB_FALSE;
			continue;
		}
		if (st != PB_CLAIM_OK) {
			/* the trace of a rule that fails later names what
			 * failed, so say this one in why as well */
			pb_msg(v->why, v->whylen, "%s is %s", c->claim,
			    pb_claim_state_text(st));
			set_undecided(v, "%s is %s", c->claim,
			    pb_claim_state_text(st));
			continue;
		}
		msg[0] = '\0';
		m = pb_pattern_match(&c->pat, val, len, msg, sizeof(msg));
		if (m < 0) {
			pb_msg(err, errlen, "%s", msg);
			return -1;
		}
		if (m == PB_UNDECIDED) {
			set_undecided(v, "%s: %s", c->label, msg);
			continue;
		}
		if (m == PB_TRUE)
			continue;
		if (v->why != NULL) {
			pb_quote(qv, sizeof(qv), val, len, 64);
			pb_quote(qp, sizeof(qp), c->pat.display,
			    strlen(c->pat.display), 64);
			pb_msg(v->why, v->whylen, "%s %s does not match %s",
			    c->label, qv, qp);
		}
		return PB_FALSE;
	}
	return v->truth;
}

static int
from_truth(const struct pb_rule *r, const char *rhost,
    const struct pb_addr *a, struct verdict *v)
{
	char qh[160];
	size_t i;

	if (r->n_from == 0)
		return v->truth;
	if (rhost == NULL) {
		pb_msg(v->why, v->whylen, "no rhost (a Unix-socket "
		    "connection) and the rule requires from %s",
		    r->from_display);
		set_undecided(v, "from %s: no client address (a "
		    "Unix-socket connection)", r->from_display);
		return v->truth;
	}
	if (!a->known) {
		pb_quote(qh, sizeof(qh), rhost, strlen(rhost), 64);
		pb_msg(v->why, v->whylen, "rhost %s is not a numeric address",
		    qh);
		set_undecided(v, "from %s: rhost %s is not a numeric "
		    "address (pam_use_hostname?)", r->from_display, qh);
		return v->truth;
	}
	for (i = 0; i < r->n_from; i++)
		if (pb_cidr_contains(&r->from[i], a))
			return v->truth;
	pb_msg(v->why, v->whylen, "rhost %s is not in %s", rhost,
	    r->from_display);
	return PB_FALSE;
}

/* Does the rule, whose conditions hold or are undecided, cover role? A
 * role it lists settles it; a template that may give the role, with a
 * claim it names absent or of another type, leaves it undecided. */
static int
roles_truth(const struct pb_rule *r, const json_t *claims, const char *role,
    size_t rolelen, struct verdict *v)
{
	char qr[160], qt[160], und[PB_MSG_MAX] = "", msg[PB_MSG_MAX];
	size_t i;

	if (r->n_roles == 0) {
		pb_msg(v->why, v->whylen, "all conditions hold; denies every "
		    "role");
		return v->truth;
	}
	for (i = 0; role != NULL && i < r->n_roles; i++) {
		const struct pb_role *ro = &r->roles[i];
		int g;

		g = pb_role_gives(ro, claims, role, rolelen, msg, sizeof(msg));
		if (g == PB_UNDECIDED && und[0] == '\0')
			snprintf(und, sizeof(und), "%s", msg);
		if (g != PB_TRUE)
			continue;
		if (v->why != NULL) {
			pb_quote(qr, sizeof(qr), role, rolelen, 64);
			pb_quote(qt, sizeof(qt), ro->text, ro->len, 64);
			pb_msg(v->why, v->whylen, "all conditions hold; lists "
			    "role %s%s%s%s", qr, ro->tmpl ? " (from " : "",
			    ro->tmpl ? qt : "", ro->tmpl ? ")" : "");
		}
		return v->truth;
	}
	if (und[0] != '\0') {
		set_undecided(v, "%s", und);
		return v->truth;
	}
	if (v->why != NULL) {
		if (role != NULL)
			pb_quote(qr, sizeof(qr), role, rolelen, 64);
		else
			snprintf(qr, sizeof(qr), "(none)");
		if (v->truth == PB_UNDECIDED)
			pb_msg(v->why, v->whylen, "%s, and the rule does not "
			    "list role %s", v->undecided, qr);
		else
			pb_msg(v->why, v->whylen, "all conditions hold but "
			    "the rule does not list role %s", qr);
	}
	return PB_FALSE;
}

/* The rule's truth for this login, or -1 when a regex cannot be compiled
 * (err). */
static int
rule_truth(const struct pb_rule *r, const json_t *claims, const char *role,
    size_t rolelen, const char *rhost, const struct pb_addr *a,
    struct verdict *v, char *err, size_t errlen)
{
	int t;

	v->truth = PB_TRUE;
	v->undecided[0] = '\0';
	t = claims_truth(r, claims, v, err, errlen);
	if (t != PB_FALSE && t >= 0)
		t = from_truth(r, rhost, a, v);
	if (t != PB_FALSE && t >= 0)
		t = roles_truth(r, claims, role, rolelen, v);
	return t;
}

/* What the trace says of a rule that is undecided. */
static void
why_undecided(const struct pb_rule *r, const struct verdict *v, char *why,
    size_t whylen)
{
	if (r->deny)
		pb_msg(why, whylen, "applies: %s, so it cannot be decided "
		    "(a deny rule that cannot be evaluated denies)",
		    v->undecided);
	else
		pb_msg(why, whylen, "does not hold: %s, so it cannot be "
		    "decided (an allow rule holds only when every condition "
		    "does)", v->undecided);
}

int
pb_policy_decide(const struct pb_policy *pol, const json_t *claims,
    const char *role, const char *rhost, struct pb_decision *out,
    pb_trace_fn trace, void *trace_ctx)
{
	const struct pb_rule *allow = NULL, *deny = NULL;
	char allow_und[sizeof(out->undecided)] = "";
	struct pb_addr addr;
	size_t i, rolelen;

	if (out == NULL)
		return -1;
	out->verdict = PB_VERDICT_NO_RULE;
	out->rule = NULL;
	out->session_lifetime = PB_LIFETIME_UNLIMITED;
	out->undecided[0] = '\0';
	snprintf(out->error, sizeof(out->error), "out of memory");
	if (pol == NULL)
		return -1;
	/* loaded with only the rules that bear on another role */
	if (pol->for_role != NULL &&
	    (role == NULL || strcmp(role, pol->for_role) != 0)) {
		snprintf(out->error, sizeof(out->error), "the policy was "
		    "loaded for another role");
		return -1;
	}
	rolelen = role != NULL ? strlen(role) : 0;
	pb_addr_parse(rhost, &addr);

	for (i = 0; i < pol->n_rules; i++) {
		const struct pb_rule *r = &pol->rules[i];
		char why[PB_MSG_MAX];
		struct verdict v;
		int t;

		why[0] = '\0';
		v.why = trace != NULL ? why : NULL;
		v.whylen = sizeof(why);
		t = rule_truth(r, claims, role, rolelen, rhost, &addr, &v,
		    out->error, sizeof(out->error));
		if (t < 0) {
			if (trace != NULL)
				trace(trace_ctx, r->name, false, out->error);
			return -1;
		}
		if (t == PB_UNDECIDED)
			why_undecided(r, &v, why, sizeof(why));
		if (t != PB_FALSE && r->deny && deny == NULL) {
			deny = r;
			if (t == PB_UNDECIDED)
				pb_msg(out->undecided,
				    sizeof(out->undecided), "%s",
				    v.undecided);
		} else if (t == PB_TRUE && !r->deny && allow == NULL) {
			allow = r;
		} else if (t == PB_UNDECIDED && !r->deny &&
		    allow_und[0] == '\0') {
			pb_msg(allow_und, sizeof(allow_und), "rule \"%s\": %s",
			    r->name, v.undecided);
		}
		if (trace != NULL)
			trace(trace_ctx, r->name, t == PB_TRUE ||
			    (t == PB_UNDECIDED && r->deny), why);
		else if (deny != NULL)
			break;  /* nothing can overturn a deny */
	}
	if (deny != NULL) {
		out->verdict = PB_VERDICT_DENIED;
		out->rule = deny->name;
	} else if (allow != NULL) {
		out->verdict = PB_VERDICT_ALLOW;
		out->rule = allow->name;
		out->session_lifetime = allow->session_lifetime !=
		    PB_LIFETIME_UNSET ? allow->session_lifetime :
		    pol->cfg.session.lifetime;
	} else {
		/* the allow rule that might have let the login in */
		memcpy(out->undecided, allow_und, sizeof(allow_und));
	}
	return 0;
}
