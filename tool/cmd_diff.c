/*
 * cmd_diff.c - "pam-buildkite diff OLD NEW [--audit FILE...]": what a
 * change to the policy does, before it is merged. The settings changed
 * (diff_settings.c); the rules added, removed or changed (by name); for each role either policy names,
 * whether it became reachable by more or fewer jobs (its ways in and the
 * deny rules cutting into them compared by what they say, not by their
 * names: a renamed rule changes no one's access); and with --audit, the
 * recorded attempts decided again (diff_audit.c).
 *
 * Exit 0 when nothing changes, 1 when something does, 2 on error, as
 * diff(1).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "diff.h"
#include "policy.h"
#include "tool.h"

static json_t *
rule_named(json_t *rules, const char *name)
{
	json_t *r;
	size_t i;

	json_array_foreach(rules, i, r)
		if (strcmp(json_str(r, "rule"), name) == 0)
			return r;
	return NULL;
}

/* "pipeline: api; branch: main" of a rule's conditions. */
static char *
conds_text(const json_t *r)
{
	json_t *c;
	size_t i;
	char *s = NULL, *t;

	json_array_foreach(json_object_get(r, "conditions"), i, c) {
		if (asprintf(&t, "%s%s%s: %s", s ? s : "", s ? "; " : "",
		    json_str(c, "label"), json_str(c, "pattern")) < 0) {
			free(s);
			return NULL;
		}
		free(s);
		s = t;
	}
	return s != NULL ? s : strdup("none");
}

/* One field of a rule in both policies, said when it differs. */
static bool
field_changed(const char *name, const char *what, const char *a,
    const char *b)
{
	if (strcmp(a, b) == 0)
		return false;
	printf("changed rule \"%s\": %s: %s -> %s\n", name, what, a, b);
	return true;
}

static bool
rule_changed(const json_t *a, const json_t *b)
{
	const char *name = json_str(a, "rule");
	char *ca = conds_text(a), *cb = conds_text(b);
	char *ra = json_dumps(json_object_get(a, "roles"), JSON_COMPACT);
	char *rb = json_dumps(json_object_get(b, "roles"), JSON_COMPACT);
	bool changed = false;

	changed |= field_changed(name, "effect", json_str(a, "effect"),
	    json_str(b, "effect"));
	changed |= field_changed(name, "conditions", ca ? ca : "?",
	    cb ? cb : "?");
	changed |= field_changed(name, "from", json_str(a, "from"), json_str(b, "from"));
	changed |= field_changed(name, "roles", ra ? ra : "?", rb ? rb : "?");
	changed |= field_changed(name, "session_lifetime",
	    json_str(a, "session_lifetime"), json_str(b, "session_lifetime"));
	free(ca);
	free(cb);
	free(ra);
	free(rb);
	return changed;
}

static void
say_rule(const char *what, const json_t *r)
{
	char *roles = json_dumps(json_object_get(r, "roles"), JSON_COMPACT);
	char *conds = conds_text(r);

	printf("%s %s rule \"%s\" (%s): roles %s; %s\n", what, json_str(r, "effect"),
	    json_str(r, "rule"), json_str(r, "where"), roles ? roles : "?",
	    conds ? conds : "?");
	free(roles);
	free(conds);
}

static bool
diff_rules(json_t *old, json_t *new)
{
	bool changed = false;
	json_t *r, *o;
	size_t i;

	json_array_foreach(old, i, r)
		if (rule_named(new, json_str(r, "rule")) == NULL) {
			say_rule("removed", r);
			changed = true;
		}
	json_array_foreach(new, i, r) {
		if ((o = rule_named(old, json_str(r, "rule"))) == NULL) {
			say_rule("added", r);
			changed = true;
		} else {
			changed |= rule_changed(o, r);
		}
	}
	return changed;
}

/* Whether item text (negated or not, as neg says) is among c's items. */
static bool
has_item(const json_t *c, const char *text, bool neg)
{
	json_t *it;
	size_t i;

	json_array_foreach(json_object_get(c, "items"), i, it)
		if (json_is_true(json_object_get(it, "negated")) == neg &&
		    strcmp(json_str(it, "text"), text) == 0)
			return true;
	return false;
}

static size_t
count_items(const json_t *c, bool neg)
{
	json_t *it;
	size_t i, n = 0;

	json_array_foreach(json_object_get(c, "items"), i, it)
		n += json_is_true(json_object_get(it, "negated")) == neg;
	return n;
}

/* Does condition b hold wherever a does? When b's alternatives include
 * each of a's (or "*", or there are none) and each of b's exclusions is
 * one of a's. Judged by the items' text: never claimed when not so. */
static bool
cond_covers(const json_t *b, const json_t *a)
{
	json_t *it;
	size_t i;

	if (count_items(b, false) > 0 && !has_item(b, "*", false)) {
		if (count_items(a, false) == 0)
			return false;
		json_array_foreach(json_object_get(a, "items"), i, it)
			if (!json_is_true(json_object_get(it, "negated")) &&
			    !has_item(b, json_str(it, "text"), false))
				return false;
	}
	json_array_foreach(json_object_get(b, "items"), i, it)
		if (json_is_true(json_object_get(it, "negated")) &&
		    !has_item(a, json_str(it, "text"), true))
			return false;
	return true;
}

/* Does rule b (a way in or a cut, as who-can gives them) hold for every
 * login rule a holds for? Each of b's conditions must cover one of a's on
 * the same claim; b's from: must be none or a's; the same template. */
static bool
covers(const json_t *b, const json_t *a)
{
	json_t *cb, *ca;
	size_t i, j;
	bool found;

	if ((*json_str(b, "from") != '\0' && strcmp(json_str(b, "from"),
	    json_str(a, "from")) != 0) || strcmp(json_str(b, "template"),
	    json_str(a, "template")) != 0)
		return false;
	json_array_foreach(json_object_get(b, "conditions"), i, cb) {
		found = false;
		json_array_foreach(json_object_get(a, "conditions"), j, ca)
			if (strcmp(json_str(cb, "claim"), json_str(ca, "claim")) == 0 &&
			    cond_covers(cb, ca))
				found = true;
		if (!found)
			return false;
	}
	return true;
}

/* Whether some rule of list a is covered by no rule of list b. */
static bool
some_uncovered(const json_t *a, const json_t *b)
{
	json_t *x, *y;
	size_t i, j;
	bool covered;

	json_array_foreach(a, i, x) {
		covered = false;
		json_array_foreach(b, j, y)
			covered |= covers(y, x);
		if (!covered)
			return true;
	}
	return false;
}

/* Role: reachable by more jobs (a way in no old one covers, or a cut no
 * new one covers), by fewer (the reverse), both, or unchanged. */
static bool
diff_role(const struct pb_policy *old, const struct pb_policy *new,
    const char *role)
{
	json_t *wo = pb_policy_who_can(old, role);
	json_t *wn = pb_policy_who_can(new, role);
	bool more, fewer, no_o, no_n;

	if (wo == NULL || wn == NULL) {
		json_decref(wo);
		json_decref(wn);
		printf("role %s: cannot be compared (out of memory)\n", role);
		return true;
	}
	more = some_uncovered(json_object_get(wn, "ways"),
	    json_object_get(wo, "ways")) || some_uncovered(json_object_get(wo,
	    "cut_by"), json_object_get(wn, "cut_by"));
	fewer = some_uncovered(json_object_get(wo, "ways"),
	    json_object_get(wn, "ways")) || some_uncovered(json_object_get(wn,
	    "cut_by"), json_object_get(wo, "cut_by"));
	no_o = json_is_true(json_object_get(wo, "nobody"));
	no_n = json_is_true(json_object_get(wn, "nobody"));
	if (no_o && !no_n)
		printf("role %s: became reachable\n", role);
	else if (!no_o && no_n)
		printf("role %s: no longer reachable by any job\n", role);
	else if (more || fewer)
		printf("role %s: reachable by %s jobs\n", role, more && fewer ?
		    "more and by fewer" : more ? "more" : "fewer");
	json_decref(wo);
	json_decref(wn);
	return more || fewer || no_o != no_n;
}

/* Into roles: each literal role of rules; into needed: each claim a
 * condition or a template reads. */
static void
collect(json_t *rules, json_t *roles, json_t *needed)
{
	json_t *r, *x;
	size_t i, j;

	json_array_foreach(rules, i, r) {
		json_array_foreach(json_object_get(r, "conditions"), j, x)
			json_object_set_new(needed, json_str(x, "claim"),
			    json_true());
		json_array_foreach(json_object_get(r, "roles"), j, x) {
			const char *s = json_string_value(x), *b, *e;

			if (strchr(s, '{') == NULL) {
				json_object_set_new(roles, s, json_true());
				continue;
			}
			for (b = strchr(s, '{'); b != NULL &&
			    (e = strchr(b, '}')) != NULL; b = strchr(e, '{')) {
				char *c = strndup(b + 1, (size_t)(e - b - 1));

				if (c != NULL)
					json_object_set_new(needed, c,
					    json_true());
				free(c);
			}
		}
	}
}

int
cmd_diff(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "audit", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pb_policy *old = NULL, *new = NULL;
	json_t *ro = NULL, *rn = NULL, *roles, *needed, *v;
	bool audit = false, changed, flips = false;
	struct pb_error err;
	const char *role;
	int c, rc = EXIT_USAGE;

	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c != 'a')
			return other_option("diff", c, argv);
		audit = true;
	}
	if (argc - optind < 2 || (argc - optind > 2 && !audit))
		return usage_error("diff: OLD and NEW policies are required, "
		    "then audit files after --audit");
	if (pb_policy_parse(argv[optind], &old, &err) != 0 ||
	    pb_policy_parse(argv[optind + 1], &new, &err) != 0) {
		fprintf(stderr, PROG ": %s\n", err.text);
		goto done;
	}
	ro = pb_policy_describe(old);
	rn = pb_policy_describe(new);
	roles = json_object();
	needed = json_object();
	if (ro == NULL || rn == NULL || roles == NULL || needed == NULL) {
		json_decref(roles);
		json_decref(needed);
		goto done;
	}
	changed = diff_settings(pb_policy_config(old), pb_policy_config(new));
	changed |= diff_rules(ro, rn);
	collect(ro, roles, needed);
	collect(rn, roles, needed);
	json_object_foreach(roles, role, v)
		changed |= diff_role(old, new, role);
	if (audit && diff_audit(old, new, needed, argv + optind + 2,
	    argc - optind - 2, &flips) != 0)
		rc = EXIT_USAGE;
	else
		rc = changed || flips ? EXIT_DENY : EXIT_ALLOW;
	if (rc == EXIT_ALLOW)
		printf("no change to who can become which role\n");
	json_decref(roles);
	json_decref(needed);
done:
	json_decref(ro);
	json_decref(rn);
	pb_policy_free(old);
	pb_policy_free(new);
	return rc;
}
