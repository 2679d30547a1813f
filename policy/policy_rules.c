/*
 * policy_rules.c - the rules schema: each rule's name, effect, patterns,
 * claims, from: CIDRs and roles, and the names unique across all files.
 * A typo must never widen access: an unknown key, a wrong type, an empty
 * role list or an unparsable pattern fails the whole load.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "policy_load.h"

struct nameref {
	const struct pb_rule *r;
	size_t idx;
};

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\f' || c == '\v';
}

/* A pattern: a string split on whitespace, or a list of items. */
static int
load_pattern(struct loader *l, const struct node *n, const char *what,
    struct pb_pattern *p)
{
	char msg[PB_MSG_MAX];
	size_t i, j, dlen = 0;

	if (n->kind == N_SCALAR && !pl_is_null(n)) {
		for (i = 0; i < n->len; ) {
			while (i < n->len && is_space(n->str[i]))
				i++;
			if (i == n->len)
				break;
			j = i;
			while (j < n->len && !is_space(n->str[j]))
				j++;
			if (pb_pattern_add(p, n->str + i, j - i, msg,
			    sizeof(msg)) < 0)
				return pl_fail(l, n, "%s: %s", what, msg);
			i = j;
		}
		if (p->n == 0)
			return pl_fail(l, n, "%s: empty pattern", what);
		p->display = strdup(n->str);
		return p->display ? 0 : pl_oom(l, n);
	}
	if (n->kind != N_SEQ)
		return pl_fail(l, n, "%s must be a pattern (a string or a list), "
		    "not %s", what, pl_kind_name(n));
	if (n->n == 0)
		return pl_fail(l, n, "%s: empty pattern", what);
	for (i = 0; i < n->n; i++) {
		const struct node *e = n->kids[i];

		if (e->kind != N_SCALAR || pl_is_null(e))
			return pl_fail(l, e, "%s: pattern items must be strings, "
			    "not %s", what, pl_kind_name(e));
		if (pb_pattern_add(p, e->str, e->len, msg, sizeof(msg)) < 0)
			return pl_fail(l, e, "%s: %s", what, msg);
		dlen += e->len + 1;
	}
	p->display = malloc(dlen);
	if (p->display == NULL)
		return pl_oom(l, n);
	for (i = 0, j = 0; i < n->n; i++) {
		memcpy(p->display + j, n->kids[i]->str, n->kids[i]->len);
		j += n->kids[i]->len;
		p->display[j++] = ' ';
	}
	p->display[j - 1] = '\0';
	return 0;
}

static int
add_cond(struct loader *l, struct pb_rule *r, const struct node *n,
    const char *claim, size_t claimlen, const char *label, const char *what)
{
	struct pb_cond *c;

	c = reallocarray(r->conds, r->n_conds + 1, sizeof(*c));
	if (c == NULL)
		return pl_oom(l, n);
	r->conds = c;
	c = &r->conds[r->n_conds];
	memset(c, 0, sizeof(*c));
	c->claim = strndup(claim, claimlen);
	if (c->claim == NULL)
		return pl_oom(l, n);
	c->label = label ? label : c->claim;
	r->n_conds++;
	return load_pattern(l, n, what, &c->pat);
}

static int
load_claims(struct loader *l, struct pb_rule *r, const struct node *m)
{
	char what[PB_MSG_MAX], b[160];
	size_t i;

	if (pl_want_map(l, m, "claims") < 0)
		return -1;
	if (m->n == 0)
		return pl_fail(l, m, "claims must not be empty");
	for (i = 0; i + 1 < m->n; i += 2) {
		const struct node *k = m->kids[i], *v = m->kids[i + 1];

		if (pl_is_null(k) || k->len == 0)
			return pl_fail(l, k, "claims: a claim name must be a "
			    "non-empty string");
		snprintf(what, sizeof(what), "claim %s", pl_q(b, sizeof(b), k));
		if (add_cond(l, r, v, k->str, k->len, NULL, what) < 0)
			return -1;
	}
	return 0;
}

static int
add_cidr(struct loader *l, struct pb_rule *r, const struct node *n)
{
	char msg[PB_MSG_MAX];
	struct pb_cidr *c;

	if (pl_want_string(l, n, "from", true) < 0)
		return -1;
	c = reallocarray(r->from, r->n_from + 1, sizeof(*c));
	if (c == NULL)
		return pl_oom(l, n);
	r->from = c;
	if (pb_cidr_parse(n->str, &r->from[r->n_from], msg, sizeof(msg)) < 0)
		return pl_fail(l, n, "from: %s", msg);
	r->n_from++;
	return 0;
}

static int
load_from(struct loader *l, struct pb_rule *r, const struct node *n)
{
	size_t i, j, dlen = 0;

	if (n->kind == N_SCALAR) {
		if (add_cidr(l, r, n) < 0)
			return -1;
		r->from_display = strdup(n->str);
		return r->from_display ? 0 : pl_oom(l, n);
	}
	if (n->kind != N_SEQ)
		return pl_fail(l, n, "from must be a CIDR or a list of CIDRs, not "
		    "%s", pl_kind_name(n));
	if (n->n == 0)
		return pl_fail(l, n, "from must not be an empty list");
	for (i = 0; i < n->n; i++) {
		if (add_cidr(l, r, n->kids[i]) < 0)
			return -1;
		dlen += n->kids[i]->len + 2;
	}
	r->from_display = malloc(dlen);
	if (r->from_display == NULL)
		return pl_oom(l, n);
	for (i = 0, j = 0; i < n->n; i++) {
		memcpy(r->from_display + j, n->kids[i]->str, n->kids[i]->len);
		j += n->kids[i]->len;
		memcpy(r->from_display + j, ", ", 2);
		j += 2;
	}
	r->from_display[j - 2] = '\0';
	return 0;
}

static int
load_roles(struct loader *l, struct pb_rule *r, const struct node *n)
{
	char msg[sizeof(l->err->text)];
	size_t i;

	if (n->kind != N_SEQ)
		return pl_fail(l, n, "roles must be a list of role names, not %s",
		    pl_kind_name(n));
	if (n->n == 0)
		return pl_fail(l, n, "roles must not be an empty list (a deny "
		    "rule without roles: denies every role)");
	r->roles = calloc(n->n, sizeof(*r->roles));
	if (r->roles == NULL)
		return pl_oom(l, n);
	for (i = 0; i < n->n; i++) {
		const struct node *e = n->kids[i];
		struct pb_role *ro = &r->roles[r->n_roles];

		if (pl_want_string(l, e, "a role", true) < 0)
			return -1;
		if (pb_role_check(e->str, e->len, &ro->tmpl, msg,
		    sizeof(msg)) < 0)
			return pl_fail(l, e, "%s", msg);
		ro->text = strdup(e->str);
		if (ro->text == NULL)
			return pl_oom(l, e);
		ro->len = e->len;
		r->n_roles++;
	}
	return 0;
}

static char *
where_of(const struct loader *l, const struct node *n)
{
	char *s;

	if (asprintf(&s, "%s:%u:%u", l->file, n->line, n->col) < 0)
		return NULL;
	return s;
}

/* Builds the rule into r; the caller frees r on failure. */
static int
build_rule(struct loader *l, const struct node *m, struct pb_rule *r)
{
	static const char *const cond_keys[] = {
		"pipeline", "branch", "tag", "step", "source",
	};
	static const char *const cond_claims[] = {
		"pipeline_slug", "build_branch", "build_tag", "step_key",
		"build_source",
	};
	const struct node *name = NULL, *effect = NULL, *conds[5] = { 0 };
	const struct node *claims = NULL, *from = NULL, *roles = NULL;
	const struct node *lifetime = NULL;
	char b[160];
	size_t i, c;

	if (m->kind != N_MAP)
		return pl_fail(l, m, "each rule must be a mapping, not %s",
		    pl_kind_name(m));
	for (i = 0; i + 1 < m->n; i += 2) {
		const struct node *k = m->kids[i], *v = m->kids[i + 1];

		for (c = 0; c < 5; c++)
			if (pl_key_is(k, cond_keys[c]))
				break;
		if (c < 5)
			conds[c] = v;
		else if (pl_key_is(k, "name"))
			name = v;
		else if (pl_key_is(k, "effect"))
			effect = v;
		else if (pl_key_is(k, "claims"))
			claims = v;
		else if (pl_key_is(k, "from"))
			from = v;
		else if (pl_key_is(k, "roles"))
			roles = v;
		else if (pl_key_is(k, "session_lifetime"))
			lifetime = v;
		else
			return pl_unknown_key(l, k, "in rule", "name, effect, "
			    "pipeline, branch, tag, step, source, claims, "
			    "from, roles, session_lifetime");
	}
	if (name == NULL)
		return pl_fail(l, m, "rule has no name");
	if (pl_want_string(l, name, "name", true) < 0)
		return -1;
	for (i = 0; i < name->len; i++)
		if ((unsigned char)name->str[i] < 0x20 || name->str[i] == 0x7f)
			return pl_fail(l, name, "rule name %s contains a control "
			    "character", pl_q(b, sizeof(b), name));
	r->name = strdup(name->str);
	r->where = where_of(l, name);
	if (r->name == NULL || r->where == NULL)
		return pl_oom(l, name);

	if (effect != NULL) {
		static const char *const effects[] = { "allow", "deny", NULL };
		int e = pl_set_enum(l, effect, "effect", effects,
		    "allow or deny");

		if (e < 0)
			return -1;
		r->deny = e == 1;
	}
	if (conds[0] == NULL)
		return pl_fail(l, m, "rule %s has no pipeline (required; write "
		    "pipeline: \"*\" for any pipeline)", pl_q(b, sizeof(b), name));
	for (c = 0; c < 5; c++)
		if (conds[c] != NULL && add_cond(l, r, conds[c],
		    cond_claims[c], strlen(cond_claims[c]), cond_keys[c],
		    cond_keys[c]) < 0)
			return -1;
	if (claims != NULL && load_claims(l, r, claims) < 0)
		return -1;
	if (from != NULL && load_from(l, r, from) < 0)
		return -1;
	if (roles != NULL) {
		if (load_roles(l, r, roles) < 0)
			return -1;
	} else if (!r->deny) {
		return pl_fail(l, m, "allow rule %s has no roles",
		    pl_q(b, sizeof(b), name));
	}
	if (lifetime != NULL && r->deny)
		return pl_fail(l, lifetime, "deny rule %s: session_lifetime "
		    "only applies to logins an allow rule lets in",
		    pl_q(b, sizeof(b), name));
	if (lifetime != NULL && pl_set_lifetime(l, lifetime,
	    "session_lifetime", &r->session_lifetime) < 0)
		return -1;
	return 0;
}

int
pl_load_rules(struct loader *l, const struct node *n)
{
	struct pb_policy *pol = l->pol;
	size_t i;

	if (n->kind != N_SEQ)
		return pl_fail(l, n, "rules must be a list, not %s (write rules: "
		    "[] for none)", pl_kind_name(n));
	for (i = 0; i < n->n; i++) {
		struct pb_rule r;

		if (pol->n_rules >= PB_MAX_RULES)
			return pl_fail(l, n->kids[i], "too many rules (at most "
			    "%d)", PB_MAX_RULES);
		memset(&r, 0, sizeof(r));
		if (build_rule(l, n->kids[i], &r) < 0) {
			pb_rule_free(&r);
			return -1;
		}
		if (pol->n_rules == pol->cap_rules) {
			size_t cap = pol->cap_rules ? pol->cap_rules * 2 : 16;
			struct pb_rule *nr = reallocarray(pol->rules, cap,
			    sizeof(*nr));

			if (nr == NULL) {
				pb_rule_free(&r);
				return pl_oom(l, n->kids[i]);
			}
			pol->rules = nr;
			pol->cap_rules = cap;
		}
		pol->rules[pol->n_rules++] = r;
	}
	return 0;
}

static int
nameref_cmp(const void *a, const void *b)
{
	const struct nameref *x = a, *y = b;
	int c = strcmp(x->r->name, y->r->name);

	if (c != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Rule names identify the deciding rule in the audit log, so they must
 * be unique across the main file and every include. */
int
pl_check_names(struct pb_policy *pol, struct pb_error *err)
{
	struct nameref *refs;
	size_t i, dup = SIZE_MAX, first = 0;
	char b[160];

	if (pol->n_rules < 2)
		return 0;
	refs = calloc(pol->n_rules, sizeof(*refs));
	if (refs == NULL) {
		snprintf(err->text, sizeof(err->text), "out of memory");
		return -1;
	}
	for (i = 0; i < pol->n_rules; i++) {
		refs[i].r = &pol->rules[i];
		refs[i].idx = i;
	}
	qsort(refs, pol->n_rules, sizeof(*refs), nameref_cmp);
	for (i = 0; i < pol->n_rules; ) {
		size_t j = i + 1;

		while (j < pol->n_rules &&
		    strcmp(refs[j].r->name, refs[i].r->name) == 0)
			j++;
		/* sorted by position within a name: i is the first
		 * definition, i + 1 the first repeat */
		if (j - i > 1 && (dup == SIZE_MAX || refs[i + 1].idx < dup)) {
			dup = refs[i + 1].idx;
			first = refs[i].idx;
		}
		i = j;
	}
	free(refs);
	if (dup == SIZE_MAX)
		return 0;
	pb_quote(b, sizeof(b), pol->rules[dup].name,
	    strlen(pol->rules[dup].name), 64);
	snprintf(err->text, sizeof(err->text), "%s: duplicate rule name %s "
	    "(first defined at %s)", pol->rules[dup].where, b,
	    pol->rules[first].where);
	return -1;
}
