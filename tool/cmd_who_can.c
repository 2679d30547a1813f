/*
 * cmd_who_can.c - "pam-buildkite who-can [-c POLICY] ROLE [--json]": an
 * auditor's question, "who can become this role?", answered from the
 * rules as the module decides with them (policy_who.c): every allow rule
 * that can grant the role, with its conditions in plain words, and the
 * deny rules that cut into it; "nobody" when nothing can.
 *
 * Exit 0 when some job can become the role, 1 when nobody can, 2 on a
 * bad policy or usage.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "policy.h"
#include "tool.h"

/* A rule's conditions, one per line, and its from:. */
static void
print_conditions(const json_t *r, const char *indent)
{
	const json_t *conds = json_object_get(r, "conditions"), *c;
	size_t i;

	json_array_foreach(conds, i, c) {
		fputs(indent, stdout);
		put_text(stdout, json_str(c, "words"));
		fputc('\n', stdout);
	}
	if (json_array_size(conds) == 0)
		printf("%sany job\n", indent);
	if (*json_str(r, "from") != '\0') {
		printf("%sconnecting from ", indent);
		put_text(stdout, json_str(r, "from"));
		fputc('\n', stdout);
	}
}

/* What a template's claim must be: " (pipeline_slug is billing)". */
static void
print_needs(json_t *needs)
{
	const char *claim;
	json_t *v;

	json_object_foreach(needs, claim, v) {
		fputs(" (", stdout);
		put_text(stdout, claim);
		fputs(" is ", stdout);
		put_text(stdout, json_string_value(v));
		fputs(")", stdout);
	}
}

static void
print_rule_head(const json_t *r, const char *what)
{
	printf("  %s ", what);
	put_quoted(stdout, json_str(r, "rule"));
	fputs(" (", stdout);
	put_text(stdout, json_str(r, "where"));
	fputs(")", stdout);
}

static void
report(const json_t *who)
{
	const json_t *ways = json_object_get(who, "ways"), *w;
	const json_t *cuts = json_object_get(who, "cut_by");
	size_t i;

	put_text(stdout, json_str(who, "role"));
	if (json_is_true(json_object_get(who, "nobody")))
		fputs(": nobody\n", stdout);
	else
		fputs(": reachable\n", stdout);
	json_array_foreach(ways, i, w) {
		print_rule_head(w, "allow rule");
		if (strcmp(json_str(w, "granted"), "template") == 0) {
			fputs(", through the template ", stdout);
			put_text(stdout, json_str(w, "template"));
			print_needs(json_object_get(w, "needs"));
		}
		printf(", session %s, when:\n", json_str(w, "session_lifetime"));
		print_conditions(w, "    ");
	}
	if (json_array_size(ways) == 0)
		fputs("  no allow rule grants it\n", stdout);
	json_array_foreach(cuts, i, w) {
		print_rule_head(w, "unless deny rule");
		fputs(json_is_true(json_object_get(w, "always")) ?
		    " refuses it to every job:\n" : " applies:\n", stdout);
		print_conditions(w, "    ");
	}
}

int
cmd_who_can(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = PB_POLICY_DEFAULT_PATH;
	struct pb_policy *pol = NULL;
	struct pb_error err;
	bool as_json = false;
	json_t *who;
	char *dump;
	int c, rc;

	while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
		if (c == 'c')
			path = optarg;
		else if (c == 'j')
			as_json = true;
		else
			return other_option("who-can", c, argv);
	}
	if (optind + 1 != argc || argv[optind][0] == '\0')
		return usage_error("who-can: one role is required");
	if (pb_policy_parse(path, &pol, &err) != 0) {
		fprintf(stderr, PROG ": %s\n", err.text);
		return EXIT_USAGE;
	}
	who = pb_policy_who_can(pol, argv[optind]);
	if (who == NULL) {
		fprintf(stderr, PROG ": who-can: out of memory\n");
		pb_policy_free(pol);
		return EXIT_USAGE;
	}
	rc = json_is_true(json_object_get(who, "nobody")) ? EXIT_DENY :
	    EXIT_ALLOW;
	if (as_json) {
		dump = json_dumps(who, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (dump != NULL)
			puts(dump);
		else
			rc = EXIT_USAGE;
		free(dump);
	} else {
		report(who);
	}
	json_decref(who);
	pb_policy_free(pol);
	return rc;
}
