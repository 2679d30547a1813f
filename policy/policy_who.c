/*
 * policy_who.c - the rules as data, for the admin tool: "who can become
 * this role?" (pam-buildkite who-can): every allow rule that can grant
 * the role, listed or through a template, with its conditions in plain
 * words, and the deny rules that cut into it; and every rule as written
 * (pam-buildkite diff). Read as the decision reads them
 * (policy_decide.c): a deny rule applies whenever its conditions hold or
 * cannot be decided, an allow rule only when they hold.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "policy_int.h"

/* One item of a pattern, as data. */
static json_t *
item_json(const struct pb_item *it)
{
	return json_pack("{s:s, s:b, s:b}", "text", it->text, "regex",
	    it->is_re, "negated", it->neg);
}

/* The condition in words: "branch is main or matches release-*, but
 * not ...". */
static void
cond_words(const struct pb_cond *c, char *buf, size_t len)
{
	size_t i, o = 0;
	int n, pos = 0, neg = 0;

	n = snprintf(buf, len, "%s", c->label);
	o = n > 0 ? (size_t)n : 0;
	for (i = 0; i < c->pat.n && o < len; i++) {
		const struct pb_item *it = &c->pat.items[i];
		const char *verb = it->is_re ? "matches regex" :
		    strchr(it->text, '*') != NULL ? "matches" : "is";

		if (it->neg)
			continue;
		if (!it->is_re && strcmp(it->text, "*") == 0)
			n = snprintf(buf + o, len - o, "%s is any value",
			    pos++ ? " or" : "");
		else
			n = snprintf(buf + o, len - o, "%s %s %s%s%s", pos++ ?
			    " or" : "", verb, it->is_re ? "/" : "", it->text,
			    it->is_re ? "/" : "");
		o += n > 0 ? (size_t)n : 0;
	}
	if (pos == 0 && o < len) {
		n = snprintf(buf + o, len - o, " is any value");
		o += n > 0 ? (size_t)n : 0;
	}
	for (i = 0; i < c->pat.n && o < len; i++) {
		const struct pb_item *it = &c->pat.items[i];

		if (!it->neg)
			continue;
		n = snprintf(buf + o, len - o, "%s %s%s%s", neg++ ? " nor" :
		    ", but not", it->is_re ? "/" : "", it->text, it->is_re ?
		    "/" : "");
		o += n > 0 ? (size_t)n : 0;
	}
}

static json_t *
conds_json(const struct pb_rule *r)
{
	json_t *a = json_array(), *items, *c;
	char words[PB_MSG_MAX];
	size_t i, j;

	for (i = 0; a != NULL && i < r->n_conds; i++) {
		items = json_array();
		for (j = 0; items != NULL && j < r->conds[i].pat.n; j++)
			json_array_append_new(items,
			    item_json(&r->conds[i].pat.items[j]));
		cond_words(&r->conds[i], words, sizeof(words));
		c = json_pack("{s:s, s:s, s:s, s:s, s:o}", "claim",
		    r->conds[i].claim, "label", r->conds[i].label, "pattern",
		    r->conds[i].pat.display, "words", words, "items", items);
		if (c == NULL || json_array_append_new(a, c) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* The rule as a way in or a cut: name, place, conditions, from. */
static json_t *
rule_json(const struct pb_rule *r)
{
	return json_pack("{s:s, s:s, s:o, s:s?}", "rule", r->name, "where",
	    r->where, "conditions", conds_json(r), "from", r->n_from > 0 ?
	    r->from_display : NULL);
}

/* Does r give role? 1 listed, 2 through a template, 0 not. A template
 * may give it when its literal parts leave it possible, which
 * pb_role_gives says of claims it has none of. */
static int
gives(const struct pb_rule *r, const char *role, const struct pb_role **by)
{
	char why[PB_MSG_MAX];
	json_t *none = json_object();
	size_t i;
	int kind = 0;

	if (r->deny && r->n_roles == 0)
		kind = 1;
	for (i = 0; kind == 0 && i < r->n_roles; i++) {
		const struct pb_role *ro = &r->roles[i];

		*by = ro;
		if (!ro->tmpl && strcmp(ro->text, role) == 0)
			kind = 1;
		else if (ro->tmpl && none != NULL && pb_role_gives(ro, none,
		    role, strlen(role), why, sizeof(why)) != PB_FALSE)
			kind = 2;
	}
	json_decref(none);
	return kind;
}

static json_t *
cuts_json(const struct pb_policy *pol, const char *role, bool *blocked)
{
	const struct pb_role *by;
	json_t *a = json_array(), *c;
	size_t i;

	*blocked = false;
	for (i = 0; a != NULL && i < pol->n_rules; i++) {
		const struct pb_rule *d = &pol->rules[i];

		if (!d->deny || gives(d, role, &by) == 0)
			continue;
		c = rule_json(d);
		if (c == NULL || json_object_set_new(c, "always",
		    json_boolean(pb_rule_always(d))) != 0 ||
		    json_array_append_new(a, c) != 0) {
			json_decref(c);
			json_decref(a);
			return NULL;
		}
		*blocked |= pb_rule_always(d);
	}
	return a;
}

/* A template of one {claim} gives role for one value of it: {claim:
 * value}, or NULL for templates of more. */
static json_t *
template_needs(const struct pb_role *t, const char *role)
{
	const char *open = strchr(t->text, '{'), *close;
	size_t pre, post, rl = strlen(role);
	char claim[PB_MSG_MAX];

	if (open == NULL || (close = strchr(open, '}')) == NULL ||
	    strchr(close, '{') != NULL ||
	    (size_t)(close - open - 1) >= sizeof(claim))
		return NULL;
	pre = (size_t)(open - t->text);
	post = t->len - (size_t)(close - t->text) - 1;
	if (pre + post >= rl)
		return NULL;
	memcpy(claim, open + 1, (size_t)(close - open - 1));
	claim[close - open - 1] = '\0';
	return json_pack("{s:s#}", claim, role + pre, (int)(rl - pre - post));
}

static json_t *
way_json(const struct pb_policy *pol, const struct pb_rule *r,
    const char *role, int kind, const struct pb_role *by)
{
	char life[32];
	long long l = r->session_lifetime != PB_LIFETIME_UNSET ?
	    r->session_lifetime : pol->cfg.session.lifetime;
	json_t *w = rule_json(r);

	if (w == NULL || json_object_set_new(w, "granted", json_string(
	    kind == 1 ? "listed" : "template")) != 0 ||
	    json_object_set_new(w, "session_lifetime", json_string(
	    pb_lifetime_text(l, life, sizeof(life)))) != 0 ||
	    (kind == 2 && (json_object_set_new(w, "template",
	    json_string(by->text)) != 0 || json_object_set_new(w, "needs",
	    template_needs(by, role)) != 0))) {
		json_decref(w);
		return NULL;
	}
	return w;
}

json_t *
pb_policy_who_can(const struct pb_policy *pol, const char *role)
{
	const struct pb_role *by = NULL;
	json_t *out, *ways = json_array(), *w;
	bool blocked;
	size_t i;
	int kind;

	for (i = 0; ways != NULL && i < pol->n_rules; i++) {
		const struct pb_rule *r = &pol->rules[i];

		if (r->deny || (kind = gives(r, role, &by)) == 0)
			continue;
		if ((w = way_json(pol, r, role, kind, by)) == NULL ||
		    json_array_append_new(ways, w) != 0) {
			json_decref(ways);
			return NULL;
		}
	}
	out = json_pack("{s:s, s:o, s:o}", "role", role, "ways", ways,
	    "cut_by", cuts_json(pol, role, &blocked));
	if (out != NULL && json_object_set_new(out, "nobody", json_boolean(
	    blocked || json_array_size(json_object_get(out, "ways")) ==
	    0)) != 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

json_t *
pb_policy_describe(const struct pb_policy *pol)
{
	json_t *rules = json_array(), *r, *roles;
	char life[32];
	size_t i, j;

	for (i = 0; rules != NULL && i < pol->n_rules; i++) {
		const struct pb_rule *ru = &pol->rules[i];

		roles = json_array();
		for (j = 0; roles != NULL && j < ru->n_roles; j++)
			if (json_array_append_new(roles,
			    json_string(ru->roles[j].text)) != 0) {
				json_decref(roles);
				roles = NULL;
			}
		r = rule_json(ru);
		if (r == NULL || roles == NULL ||
		    json_object_set_new(r, "effect", json_string(ru->deny ?
		    "deny" : "allow")) != 0 ||
		    json_object_set_new(r, "roles", roles) != 0 ||
		    json_object_set_new(r, "session_lifetime", json_string(
		    ru->session_lifetime == PB_LIFETIME_UNSET ? "policy's" :
		    pb_lifetime_text(ru->session_lifetime, life,
		    sizeof(life)))) != 0 ||
		    json_array_append_new(rules, r) != 0) {
			json_decref(r);
			json_decref(rules);
			return NULL;
		}
	}
	return rules;
}
