/*
 * cmd_explain.c - "pam-buildkite explain": runs the module's own
 * verify-then-decide step (pb_authn_run) on a token, or the policy alone
 * on given claims (--claims), and says what every check and every rule
 * made of it, then the decision. A token.single_use jti is only looked
 * up, never recorded (pb_authn_explain). Exit 0 allow, 1 deny, 2 usage
 * or config error.
 *
 * Output is deterministic for given inputs (--now fixes the clock), so
 * scripts and tests can compare it; --json says the same as the text.
 * A token of the length PgBouncer cuts passwords to, refused as a cut
 * token is, gets the note the audit gives it (reason.h).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "authn.h"
#include "jws.h"
#include "msg.h"
#include "policy.h"
#include "reason.h"
#include "tool.h"

/* What the command line asked for. */
struct explain_args {
	const char *path;
	const char *role;
	const char *rhost;
	const char *token_file;
	const char *claims_file;
	long long now;
	bool now_given;
	bool json_out;
};

/* What explain gathered: the steps and rule verdicts in order, as JSON
 * arrays, so the text and the --json output say the same thing. */
struct trail {
	json_t *steps;
	json_t *rules;
	bool oom;
};

/* How it ended, for report. */
struct verdict {
	enum pb_reason reason;
	const char *rule;
	const char *detail;
	json_t *claims;
	const char *claims_label;
	bool consulted;		/* whether the rules were asked */
	const long long *now;	/* the clock, NULL for --claims */
	long long lifetime;	/* allowed: the session's (policy.h) */
	const char *note;	/* PB_POOLER_CUT_NOTE or NULL */
};

static int
out_of_memory(void)
{
	fputs(PROG ": out of memory\n", stderr);
	return EXIT_USAGE;
}

/* ------------------------------------------------------- options */

static bool
parse_epoch(const char *s, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && end != s && *end == '\0';
}

/* The options that exclude or require one another. */
static int
explain_check_args(const struct explain_args *a)
{
	if (a->role == NULL)
		return usage_error("explain: --role is required");
	if (a->role[0] == '\0')
		return usage_error("explain: --role must not be empty");
	if (a->rhost != NULL && a->rhost[0] == '\0')
		return usage_error("explain: --rhost must not be empty "
		    "(leave it out for a Unix-socket connection)");
	if (a->token_file != NULL && a->claims_file != NULL)
		return usage_error("explain: --token-file and --claims "
		    "exclude each other");
	if (a->claims_file != NULL && a->now_given)
		return usage_error("explain: --now only applies to a token; "
		    "--claims skips the time checks");
	return -1;
}

/* Fills *a and returns -1 to go on, or the exit status (after --help,
 * or a usage error). */
static int
explain_options(int argc, char **argv, struct explain_args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "role", required_argument, NULL, 'r' },
		{ "rhost", required_argument, NULL, 'H' },
		{ "token-file", required_argument, NULL, 't' },
		{ "claims", required_argument, NULL, 'C' },
		{ "now", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	memset(a, 0, sizeof(*a));
	a->path = PB_POLICY_DEFAULT_PATH;
	a->now = (long long)time(NULL);
	while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->path = optarg;
			break;
		case 'r':
			a->role = optarg;
			break;
		case 'H':
			a->rhost = optarg;
			break;
		case 't':
			a->token_file = optarg;
			break;
		case 'C':
			a->claims_file = optarg;
			break;
		case 'n':
			if (!parse_epoch(optarg, &a->now))
				return usage_error("explain: --now needs Unix "
				    "seconds, not %s", optarg);
			a->now_given = true;
			break;
		case 'j':
			a->json_out = true;
			break;
		default:
			return other_option("explain", c, argv);
		}
	}
	if ((rc = no_arguments("explain", argc, argv)) >= 0)
		return rc;
	return explain_check_args(a);
}

/* --------------------------------------------------------- trail */

/* A JSON string of s. Rule names, roles and addresses come from files
 * and the command line and need not be UTF-8, which JSON strings must
 * be: then each byte outside ASCII shows as '?'. */
static json_t *
jstr(const char *s)
{
	json_t *j;
	char *c, *p;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL || (c = strdup(s)) == NULL)
		return j;
	for (p = c; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(c);
	free(c);
	return j;
}

static void
on_step(void *ctx, const char *step, bool passed, const char *what)
{
	struct trail *t = ctx;

	if (json_array_append_new(t->steps, json_pack("{s:o, s:b, s:o}",
	    "step", jstr(step), "passed", passed, "what", jstr(what))) != 0)
		t->oom = true;
}

static void
on_rule(void *ctx, const char *rule, bool matched, const char *why)
{
	struct trail *t = ctx;

	if (json_array_append_new(t->rules, json_pack("{s:o, s:b, s:o}",
	    "rule", jstr(rule), "matched", matched, "why", jstr(why))) != 0)
		t->oom = true;
}

/* -------------------------------------------------------- output */

static void
print_steps(const json_t *steps)
{
	const json_t *s;
	size_t i;

	puts("verification:");
	json_array_foreach(steps, i, s) {
		printf("  [%s] ", json_is_true(json_object_get(s, "passed")) ?
		    "pass" : "FAIL");
		put_text(stdout, json_string_value(json_object_get(s, "step")));
		fputs(": ", stdout);
		put_text(stdout, json_string_value(json_object_get(s, "what")));
		fputc('\n', stdout);
	}
}

static void
print_rules(const json_t *rules, bool consulted)
{
	const json_t *r;
	size_t i;

	if (!consulted) {
		puts("rules: not consulted, the token was refused");
		return;
	}
	puts("rules:");
	json_array_foreach(rules, i, r) {
		printf("  [%s] ", json_is_true(json_object_get(r, "matched")) ?
		    "match" : "no match");
		put_quoted(stdout, json_string_value(json_object_get(r,
		    "rule")));
		fputs(": ", stdout);
		put_text(stdout, json_string_value(json_object_get(r, "why")));
		fputc('\n', stdout);
	}
}

/* Indents each line of a JSON dump by two spaces. */
static void
print_claims(const json_t *claims, const char *label)
{
	char *dump = json_dumps(claims, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	const char *p, *nl;

	printf("claims (%s):\n", label);
	if (dump == NULL) {
		puts("  (out of memory)");
		return;
	}
	for (p = dump; p != NULL; p = nl != NULL ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		printf("  %.*s\n", (int)(nl != NULL ? (size_t)(nl - p) :
		    strlen(p)), p);
	}
	free(dump);
}

static void
print_decision(const struct verdict *v)
{
	char life[32];

	if (v->reason == PB_OK) {
		fputs("decision: allow (rule ", stdout);
		put_quoted(stdout, v->rule != NULL ? v->rule : "");
		if (v->lifetime != PB_LIFETIME_UNLIMITED)
			printf("; session lifetime %s, ended by the "
			    "pg_buildkite extension, refused where it is not "
			    "loaded", pb_lifetime_text(v->lifetime, life,
			    sizeof(life)));
		puts(")");
		return;
	}
	printf("decision: deny (reason: %s", pb_reason_name(v->reason));
	if (v->rule != NULL) {
		fputs("; rule ", stdout);
		put_quoted(stdout, v->rule);
	}
	if (v->detail != NULL && v->detail[0] != '\0') {
		fputs("; ", stdout);
		put_text(stdout, v->detail);
	}
	puts(")");
}

/* The whole trail and decision as one JSON object: 0, or -1 when out of
 * memory. */
static int
report_json(const struct trail *t, const struct explain_args *a,
    const struct verdict *v)
{
	json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}",
	    "decision", v->reason == PB_OK ? "allow" : "deny",
	    "reason", pb_reason_name(v->reason),
	    "rule", jstr(v->rule),
	    "detail", jstr(v->detail != NULL && v->detail[0] != '\0' ?
	    v->detail : NULL),
	    "role", jstr(a->role),
	    "rhost", jstr(a->rhost));
	char *dump;

	if (o == NULL)
		return -1;
	if (v->now != NULL)
		json_object_set_new(o, "now", json_integer(*v->now));
	if (v->reason == PB_OK) {
		char life[32];

		json_object_set_new(o, "session_lifetime", json_string(
		    pb_lifetime_text(v->lifetime, life, sizeof(life))));
	}
	json_object_set(o, "steps", t->steps);
	json_object_set(o, "rules", t->rules);
	if (v->claims != NULL)
		json_object_set(o, "claims", v->claims);
	if (v->note != NULL)
		json_object_set_new(o, "note", json_string(v->note));
	dump = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (dump == NULL)
		return -1;
	puts(dump);
	free(dump);
	return 0;
}

/* How explain ends: one decision line (or object) and the exit status. */
static int
report(const struct trail *t, const struct explain_args *a,
    const struct verdict *v)
{
	int status = v->reason == PB_OK ? EXIT_ALLOW :
	    v->reason == PB_CONFIG ? EXIT_USAGE : EXIT_DENY;

	if (a->json_out)
		return report_json(t, a, v) == 0 ? status : out_of_memory();
	print_steps(t->steps);
	if (v->claims != NULL)
		print_claims(v->claims, v->claims_label);
	print_rules(t->rules, v->consulted);
	if (v->note != NULL)
		printf("note: %s\n", v->note);
	print_decision(v);
	return status;
}

/* The text output opens with what the login is. */
static void
print_login(const struct explain_args *a, const struct pb_policy *pol)
{
	size_t n;

	fputs("policy: ", stdout);
	put_text(stdout, a->path);
	if (count_rules(pol, &n) == 0)
		printf(" (%zu rule%s)", n, n == 1 ? "" : "s");
	fputs("\nrole: ", stdout);
	put_quoted(stdout, a->role);
	fputs("\nrhost: ", stdout);
	if (a->rhost != NULL)
		put_text(stdout, a->rhost);
	else
		fputs("none (a Unix-socket connection)", stdout);
	fputc('\n', stdout);
}

/* ------------------------------------------------------- explain */

/* Loads --claims FILE: a JSON object, duplicates refused (as in a token).
 * Errors name file:line:column. */
static json_t *
load_claims(const char *path)
{
	json_error_t jerr;
	json_t *claims;
	char *buf;
	size_t len;

	if (read_input(path, &buf, &len) != 0)
		return NULL;
	claims = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (claims == NULL) {
		fprintf(stderr, PROG ": %s:%d:%d: ", path, jerr.line,
		    jerr.column);
		put_text(stderr, jerr.text);
		fputc('\n', stderr);
		return NULL;
	}
	if (!json_is_object(claims)) {
		fprintf(stderr, PROG ": %s:1:1: claims must be a JSON object\n",
		    path);
		json_decref(claims);
		return NULL;
	}
	return claims;
}

/* --claims: the policy alone decides on the given claims. */
static int
explain_claims(const struct explain_args *a, const struct pb_policy *pol,
    struct trail *t, json_t *claims)
{
	char detail[sizeof(((struct pb_authn *)NULL)->detail)];
	struct verdict v = { .claims = claims,
	    .claims_label = "given, not verified", .consulted = true };

	on_step(t, "claims", true, "claims given: token "
	    "verification skipped");
	v.reason = pb_authn_decide(pol, claims, a->role, a->rhost, on_rule, t,
	    &v.rule, &v.lifetime, detail, sizeof(detail));
	if (t->oom)
		return out_of_memory();
	v.detail = detail;
	return report(t, a, &v);
}

/* A token: every check of the module, then the rules. The token is wiped
 * and freed as soon as it is checked. */
static int
explain_token(const struct explain_args *a, const struct pb_policy *pol,
    struct trail *t, char *tok, size_t tok_len)
{
	struct verdict v = { .claims_label = "signature verified",
	    .now = &a->now };
	struct pb_authn res;
	char ts[32], what[256];
	size_t n;
	int status;

	if (!a->json_out) {
		pb_iso_time(ts, sizeof(ts), a->now);
		printf("now: %lld%s%s%s%s\n", a->now,
		    ts[0] != '\0' ? " (" : "", ts, ts[0] != '\0' ? ")" : "",
		    a->now_given ? ", from --now" : "");
	}
	/* PAM hands the module a C string: a NUL ends the token there. */
	n = strnlen(tok, tok_len);
	snprintf(what, sizeof(what), "%zu bytes from %s%s", tok_len,
	    a->token_file != NULL ? "the token file" : "standard input",
	    n < tok_len ? "; a NUL byte ends the token there, as in PAM" : "");
	on_step(t, "input", true, what);

	v.reason = pb_authn_explain(pol, tok, n, a->role, a->rhost, a->now,
	    (long long)time(NULL), on_step, t, on_rule, t, &res);
	/* Counted as the verifier counts it: without the newline a token
	 * file ends with. */
	if (pb_pooler_may_have_cut(v.reason, pb_jws_text_len(tok, tok_len)))
		v.note = PB_POOLER_CUT_NOTE;
	wipe_free(tok, tok_len);
	if (t->oom) {
		pb_authn_clear(&res);
		return out_of_memory();
	}
	/* The rules were asked only when the token got through every
	 * check, as in the module. */
	v.consulted = json_array_size(t->rules) > 0 || v.reason == PB_OK ||
	    v.reason == PB_NO_RULE || v.reason == PB_DENIED;
	v.rule = res.rule;
	v.lifetime = res.session_lifetime;
	v.detail = res.detail;
	v.claims = res.info.claims;
	status = report(t, a, &v);
	pb_authn_clear(&res);
	return status;
}

int
cmd_explain(int argc, char **argv)
{
	struct explain_args a;
	struct pb_policy *pol;
	struct trail t = { NULL, NULL, false };
	json_t *claims = NULL;
	char *tok = NULL;
	size_t tok_len = 0;
	int rc, status = EXIT_USAGE;

	if ((rc = explain_options(argc, argv, &a)) >= 0)
		return rc;
	if ((pol = load_policy(a.path, false, geteuid())) == NULL)
		return EXIT_USAGE;
	t.steps = json_array();
	t.rules = json_array();
	if (t.steps == NULL || t.rules == NULL) {
		status = out_of_memory();
		goto out;
	}
	/* Input first: a missing file ends here, before any output. */
	if (a.claims_file != NULL) {
		if ((claims = load_claims(a.claims_file)) == NULL)
			goto out;
	} else if (read_input(a.token_file, &tok, &tok_len) != 0) {
		goto out;
	}
	if (!a.json_out)
		print_login(&a, pol);
	if (claims != NULL) {
		status = explain_claims(&a, pol, &t, claims);
	} else {
		status = explain_token(&a, pol, &t, tok, tok_len);
		tok = NULL;
	}
out:
	wipe_free(tok, tok_len);
	json_decref(claims);
	json_decref(t.steps);
	json_decref(t.rules);
	pb_policy_free(pol);
	return status;
}
