/*
 * pam-buildkite.c - the admin tool of pam_buildkite (SPEC.md section 8).
 *
 *   check    validates a policy file the way the module loads it, and judges
 *            every file a login reads as the module's user would
 *            (check_files.c);
 *   explain  runs the module's own verify-then-decide step (pb_authn_run)
 *            on a token, or the policy alone on given claims, and says what
 *            every check and every rule made of it; a token.single_use jti
 *            is only looked up, never recorded (pb_authn_explain);
 *   decode   shows a token's header and claims without verifying anything;
 *   jwks     fetch: the place of the shared JWKS cache's refresher.
 *
 * The token is a credential: it is never printed, and the buffer holding
 * it is wiped before it is freed. Output is deterministic for given
 * inputs (--now fixes the clock), so scripts and tests can compare it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "authn.h"
#include "check_files.h"
#include "jwks_cache.h"
#include "jws.h"
#include "msg.h"
#include "policy.h"
#include "read_file.h"
#include "reason.h"
#include "token.h"

#define PROG "pam-buildkite"

/* Bytes read for a token or a claims file. PostgreSQL passes passwords of
 * up to 64 KiB; the verifier itself refuses tokens over 16 KiB, and
 * explain lets it say so rather than refusing here. */
#define INPUT_MAX (64 * 1024)

#define EXIT_ALLOW 0
#define EXIT_DENY 1
#define EXIT_USAGE 2

static const char usage_text[] =
"usage: " PROG " check   [-c policy.yaml] [--user USER]\n"
"       " PROG " compile [-c policy.yaml]\n"
"       " PROG " explain [-c policy.yaml] --role ROLE [--rhost ADDR]\n"
"                     [--token-file FILE | --claims FILE.json] [--now EPOCH] [--json]\n"
"       " PROG " jwks fetch [-c policy.yaml] [--owner USER]\n"
"       " PROG " help | --help | --version\n"
"\n"
"  check    validate the policy, and judge who may write each file a\n"
"           login reads as USER would (default: you); exit 0 valid, 1\n"
"           invalid or a file logins would refuse\n"
"  compile  validate it and write POLICY.compiled, which logins use while\n"
"           the policy's files are unchanged; exit 0 written, 1 not\n"
"  explain  show every verification step and every rule for a login as\n"
"           ROLE, then the decision; exit 0 allow, 1 deny, 2 usage or\n"
"           config error. The token is read from standard input unless\n"
"           --token-file is given; --claims skips verification.\n"
"  decode   print a token's header and claims, NOT verified\n"
"\n"
"  -c, --config FILE  policy file (default " PB_POLICY_DEFAULT_PATH ")\n";

static void
usage(FILE *f)
{
	fputs(usage_text, f);
}

/* Bad usage: what was wrong, then the usage, on stderr; exit status 2. */
static __attribute__((format(printf, 1, 2))) int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	return EXIT_USAGE;
}

/* An option getopt_long refused: c is ':' when its value is missing. A
 * long option is named by its argument, a short one by optopt. */
static int
bad_option(const char *cmd, int c, char **argv)
{
	char shortopt[3] = { '-', (char)optopt, '\0' };
	const char *arg = argv[optind - 1];
	const char *name = strncmp(arg, "--", 2) == 0 || optopt == 0 ? arg :
	    shortopt;

	if (c == ':')
		return usage_error("%s: %s needs a value", cmd, name);
	return usage_error("%s: bad option %s", cmd, name);
}

/* Writes s with control characters, quotes and backslashes escaped: rule
 * names and reasons come from files and tokens, and must neither forge a
 * line of output nor send escape sequences to a terminal. */
static void
put_text(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

static void
put_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* ------------------------------------------------------------- input */

/* Reads path, or standard input when path is NULL. On failure prints
 * why and returns -1. */
static int
read_input(const char *path, char **buf, size_t *len)
{
	char eb[128];
	int fd = STDIN_FILENO, rc;

	if (path != NULL) {
		do {
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		} while (fd < 0 && errno == EINTR);
		if (fd < 0) {
			fprintf(stderr, PROG ": cannot open %s: %s\n", path,
			    strerror_r(errno, eb, sizeof(eb)));
			return -1;
		}
	} else if (isatty(fd)) {
		fputs(PROG ": reading the token from standard input "
		    "(end with ^D)\n", stderr);
	}
	rc = pb_read_fd(fd, NULL, INPUT_MAX, buf, len);
	if (rc != 0)
		fprintf(stderr, PROG ": cannot read %s: %s\n",
		    path != NULL ? path : "standard input",
		    errno == EFBIG ? "longer than 64 KiB" :
		    strerror_r(errno, eb, sizeof(eb)));
	if (path != NULL)
		close(fd);
	return rc;
}

/* Credentials do not linger in freed memory. */
static void
wipe_free(char *buf, size_t len)
{
	if (buf == NULL)
		return;
	explicit_bzero(buf, len);
	free(buf);
}

/* --------------------------------------------------------- policy */

/* Loads the policy or says why not ("file:line:column: message"):
 * parsed from the YAML, its files judged as user uid would judge them,
 * when strict, else as a login loads it. */
static struct pb_policy *
load_policy(const char *path, bool strict, uid_t uid)
{
	struct pb_policy *pol = NULL;
	struct pb_error err;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = strict ? pb_policy_parse_as(path, uid, &pol, &err) :
	    pb_policy_load(path, &pol, &err);
	if (rc != 0) {
		fputs(PROG ": ", stderr);
		put_text(stderr, err.text[0] != '\0' ? err.text : path);
		fputc('\n', stderr);
		return NULL;
	}
	return pol;
}

static void
count_rule(void *ctx, const char *rule, bool matched, const char *why)
{
	(void)rule;
	(void)matched;
	(void)why;
	(*(size_t *)ctx)++;
}

/* The policy interface shows no rules, but a traced decision visits each
 * of them once, in order: counting the visits counts the rules. */
static int
count_rules(const struct pb_policy *pol, size_t *n)
{
	struct pb_decision dec;
	json_t *none = json_object();
	int rc;

	*n = 0;
	if (none == NULL)
		return -1;
	rc = pb_policy_decide(pol, none, NULL, NULL, &dec, count_rule, n);
	json_decref(none);
	return rc;
}

/* ----------------------------------------------------------- check */

static void
lint_warning(void *ctx, const char *rule, const char *where,
    const char *warning)
{
	(void)ctx;
	fputs("warning: ", stderr);
	put_text(stderr, where);
	fputs(": rule ", stderr);
	put_quoted(stderr, rule);
	fputs(": ", stderr);
	put_text(stderr, warning);
	fputc('\n', stderr);
}

/* Whether logins take the rules from the snapshot: an admin who edited
 * the policy and forgot to compile it learns why logins got slower, and
 * one who compiled as the wrong user why they did not get faster. */
static void
snapshot_note(const char *path, uid_t uid)
{
	char why[1024];

	switch (pb_policy_snapshot_state_as(path, uid, why, sizeof(why))) {
	case 0:
		printf("%s" PB_SNAPSHOT_SUFFIX ": up to date; logins use it\n",
		    path);
		break;
	case 1:
		break;
	default:
		fputs("warning: ", stderr);
		put_text(stderr, why);
		fputs("; logins parse the YAML instead (run " PROG
		    " compile as the policy's owner)\n", stderr);
		break;
	}
}

/* The options of a command that takes only -c: sets *path and returns
 * -1 to go on, or the exit status (after --help, or a usage error). */
static int
config_option(const char *cmd, int argc, char **argv, const char **path)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*path = PB_POLICY_DEFAULT_PATH;
	while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			*path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return bad_option(cmd, c, argv);
		}
	}
	if (optind != argc)
		return usage_error("%s: unexpected argument %s", cmd,
		    argv[optind]);
	return -1;
}

/* check's options: -c, and --user, whom to judge the files for (by
 * default whoever runs check). */
static int
check_options(int argc, char **argv, const char **path, uid_t *uid)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*path = PB_POLICY_DEFAULT_PATH;
	*uid = geteuid();
	while ((c = getopt_long(argc, argv, ":c:u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			*path = optarg;
			break;
		case 'u':
			if (check_user(optarg, uid) != 0)
				return usage_error("check: no such user %s",
				    optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return bad_option("check", c, argv);
		}
	}
	if (optind != argc)
		return usage_error("check: unexpected argument %s",
		    argv[optind]);
	return -1;
}

static int
cmd_check(int argc, char **argv)
{
	const char *path;
	struct pb_policy *pol;
	uid_t uid;
	size_t n;
	int rc;

	if ((rc = check_options(argc, argv, &path, &uid)) >= 0)
		return rc;
	if ((pol = load_policy(path, true, uid)) == NULL)
		return 1;
	permission_warnings(path);
	pb_policy_lint(pol, lint_warning, NULL);
	if (check_files(pb_policy_config(pol), uid) != 0) {
		pb_policy_free(pol);
		return 1;
	}
	if (count_rules(pol, &n) == 0)
		printf("%s: ok (%zu rule%s)\n", path, n, n == 1 ? "" : "s");
	else
		printf("%s: ok\n", path);
	pb_policy_free(pol);
	snapshot_note(path, uid);
	return 0;
}

static int
cmd_compile(int argc, char **argv)
{
	const char *path;
	char msg[1024];
	int rc;

	if ((rc = config_option("compile", argc, argv, &path)) >= 0)
		return rc;
	if (pb_policy_compile(path, msg, sizeof(msg)) != 0) {
		fputs(PROG ": ", stderr);
		put_text(stderr, msg);
		fputc('\n', stderr);
		return 1;
	}
	fputs("wrote ", stdout);
	put_text(stdout, msg);
	fputc('\n', stdout);
	permission_warnings(path);
	snapshot_note(path, geteuid());
	return 0;
}

/* --------------------------------------------------------- explain */

/* What explain gathered: the steps and rule verdicts in order, as JSON
 * arrays, so the text and the --json output say the same thing. */
struct trail {
	json_t *steps;
	json_t *rules;
	bool oom;
};

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

static bool
parse_epoch(const char *s, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && end != s && *end == '\0';
}

/* How explain ends: one decision line (or object) and the exit status. */
static int
report(const struct trail *t, bool json_out, enum pb_reason reason,
    const char *rule, const char *detail, json_t *claims,
    const char *claims_label, bool consulted, const char *role,
    const char *rhost, const long long *now)
{
	int status = reason == PB_OK ? EXIT_ALLOW :
	    reason == PB_CONFIG ? EXIT_USAGE : EXIT_DENY;

	if (json_out) {
		json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}",
		    "decision", reason == PB_OK ? "allow" : "deny",
		    "reason", pb_reason_name(reason),
		    "rule", jstr(rule),
		    "detail", jstr(detail != NULL && detail[0] != '\0' ?
		    detail : NULL),
		    "role", jstr(role),
		    "rhost", jstr(rhost));
		char *dump;

		if (o == NULL)
			goto oom;
		if (now != NULL)
			json_object_set_new(o, "now", json_integer(*now));
		json_object_set(o, "steps", t->steps);
		json_object_set(o, "rules", t->rules);
		if (claims != NULL)
			json_object_set(o, "claims", claims);
		dump = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(o);
		if (dump == NULL)
			goto oom;
		puts(dump);
		free(dump);
		return status;
	}

	print_steps(t->steps);
	if (claims != NULL)
		print_claims(claims, claims_label);
	print_rules(t->rules, consulted);
	if (reason == PB_OK) {
		fputs("decision: allow (rule ", stdout);
		put_quoted(stdout, rule != NULL ? rule : "");
		puts(")");
		return status;
	}
	printf("decision: deny (reason: %s", pb_reason_name(reason));
	if (rule != NULL) {
		fputs("; rule ", stdout);
		put_quoted(stdout, rule);
	}
	if (detail != NULL && detail[0] != '\0') {
		fputs("; ", stdout);
		put_text(stdout, detail);
	}
	puts(")");
	return status;
oom:
	fputs(PROG ": out of memory\n", stderr);
	return EXIT_USAGE;
}

static int
cmd_explain(int argc, char **argv)
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
	const char *path = PB_POLICY_DEFAULT_PATH, *role = NULL;
	const char *rhost = NULL, *token_file = NULL, *claims_file = NULL;
	struct pb_policy *pol = NULL;
	struct trail t = { NULL, NULL, false };
	struct pb_authn res;
	enum pb_reason reason;
	json_t *claims = NULL;
	char *tok = NULL, ts[32], what[256], detail[sizeof(res.detail)];
	const char *rule;
	size_t tok_len = 0, n;
	long long now = (long long)time(NULL);
	bool json_out = false, now_given = false, consulted;
	int c, status = EXIT_USAGE;

	while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'r':
			role = optarg;
			break;
		case 'H':
			rhost = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 'C':
			claims_file = optarg;
			break;
		case 'n':
			if (!parse_epoch(optarg, &now))
				return usage_error("explain: --now needs Unix "
				    "seconds, not %s", optarg);
			now_given = true;
			break;
		case 'j':
			json_out = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return bad_option("explain", c, argv);
		}
	}
	if (optind != argc)
		return usage_error("explain: unexpected argument %s",
		    argv[optind]);
	if (role == NULL)
		return usage_error("explain: --role is required");
	if (role[0] == '\0')
		return usage_error("explain: --role must not be empty");
	if (rhost != NULL && rhost[0] == '\0')
		return usage_error("explain: --rhost must not be empty "
		    "(leave it out for a Unix-socket connection)");
	if (token_file != NULL && claims_file != NULL)
		return usage_error("explain: --token-file and --claims "
		    "exclude each other");
	if (claims_file != NULL && now_given)
		return usage_error("explain: --now only applies to a token; "
		    "--claims skips the time checks");

	if ((pol = load_policy(path, false, geteuid())) == NULL)
		return EXIT_USAGE;
	t.steps = json_array();
	t.rules = json_array();
	if (t.steps == NULL || t.rules == NULL)
		goto oom;

	/* Input first: a missing file ends here, before any output. */
	if (claims_file != NULL) {
		if ((claims = load_claims(claims_file)) == NULL)
			goto out;
	} else if (read_input(token_file, &tok, &tok_len) != 0) {
		goto out;
	}

	if (!json_out) {
		fputs("policy: ", stdout);
		put_text(stdout, path);
		if (count_rules(pol, &n) == 0)
			printf(" (%zu rule%s)", n, n == 1 ? "" : "s");
		fputs("\nrole: ", stdout);
		put_quoted(stdout, role);
		fputs("\nrhost: ", stdout);
		if (rhost != NULL)
			put_text(stdout, rhost);
		else
			fputs("none (a Unix-socket connection)", stdout);
		fputc('\n', stdout);
	}

	if (claims != NULL) {
		on_step(&t, "claims", true, "claims given: token "
		    "verification skipped");
		reason = pb_authn_decide(pol, claims, role, rhost, on_rule, &t,
		    &rule, detail, sizeof(detail));
		if (t.oom)
			goto oom;
		status = report(&t, json_out, reason, rule, detail,
		    claims, "given, not verified", true, role, rhost, NULL);
		goto out;
	}

	if (!json_out) {
		pb_iso_time(ts, sizeof(ts), now);
		printf("now: %lld%s%s%s%s\n", now, ts[0] != '\0' ? " (" : "",
		    ts, ts[0] != '\0' ? ")" : "",
		    now_given ? ", from --now" : "");
	}
	/* PAM hands the module a C string: a NUL ends the token there. */
	n = strnlen(tok, tok_len);
	snprintf(what, sizeof(what), "%zu bytes from %s%s", tok_len,
	    token_file != NULL ? "the token file" : "standard input",
	    n < tok_len ? "; a NUL byte ends the token there, as in PAM" : "");
	on_step(&t, "input", true, what);

	reason = pb_authn_explain(pol, tok, n, role, rhost, now,
	    (long long)time(NULL), on_step, &t, on_rule, &t, &res);
	wipe_free(tok, tok_len);
	tok = NULL;
	if (t.oom) {
		pb_authn_clear(&res);
		goto oom;
	}
	/* The rules were asked only when the token got through every
	 * check, as in the module. */
	consulted = json_array_size(t.rules) > 0 || reason == PB_OK ||
	    reason == PB_NO_RULE || reason == PB_DENIED;
	status = report(&t, json_out, reason, res.rule, res.detail,
	    res.info.claims, "signature verified", consulted, role, rhost,
	    &now);
	pb_authn_clear(&res);
	goto out;

oom:
	fputs(PROG ": out of memory\n", stderr);
	status = EXIT_USAGE;
out:
	wipe_free(tok, tok_len);
	json_decref(claims);
	json_decref(t.steps);
	json_decref(t.rules);
	pb_policy_free(pol);
	return status;
}

/* ---------------------------------------------------------- decode */

/* Decodes one part into a JSON object, with the verifier's strictness
 * (jws.h): strict base64url, no duplicate members, nothing after the
 * object. */
static json_t *
decode_part(const char *part, size_t len, const char *name)
{
	enum pb_jws_err err;
	json_error_t jerr;
	json_t *obj;

	obj = pb_jws_object(part, len, &err, &jerr);
	if (err == PB_JWS_BASE64) {
		fprintf(stderr, PROG ": the %s is not strict unpadded "
		    "base64url\n", name);
	} else if (err == PB_JWS_JSON) {
		fprintf(stderr, PROG ": the %s is not valid JSON (column %d: ",
		    name, jerr.column);
		put_text(stderr, jerr.text);
		fputs(")\n", stderr);
	} else if (err == PB_JWS_NOT_OBJECT) {
		fprintf(stderr, PROG ": the %s is not a JSON object\n", name);
	}
	return obj;
}

static int
cmd_decode(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "token-file", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *token_file = NULL, *p;
	json_t *hdr = NULL, *claims = NULL, *o = NULL;
	struct pb_jws jws;
	char *tok = NULL, *dump = NULL;
	size_t tok_len = 0, len;
	int c, status = 1;

	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			token_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return bad_option("decode", c, argv);
		}
	}
	if (optind != argc)
		return usage_error("decode: unexpected argument %s",
		    argv[optind]);

	if (read_input(token_file, &tok, &tok_len) != 0)
		return 1;
	p = tok;
	len = strnlen(tok, tok_len);
	pb_jws_trim(&p, &len);
	if (len == 0) {
		fputs(PROG ": no token\n", stderr);
		goto out;
	}
	if (pb_jws_split(p, len, &jws) != 0) {
		fputs(PROG ": not a token: a token is three dot-separated "
		    "parts\n", stderr);
		goto out;
	}
	if ((hdr = decode_part(jws.header, jws.header_len, "header")) ==
	    NULL || (claims = decode_part(jws.payload, jws.payload_len,
	    "payload")) == NULL)
		goto out;
	o = json_pack("{s:O, s:O}", "header", hdr, "claims", claims);
	if (o == NULL ||
	    (dump = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
	    NULL) {
		fputs(PROG ": out of memory\n", stderr);
		goto out;
	}
	fputs("# not verified: decoded only\n", stderr);
	puts(dump);
	status = 0;
out:
	free(dump);
	json_decref(o);
	json_decref(hdr);
	json_decref(claims);
	wipe_free(tok, tok_len);
	return status;
}

/* ------------------------------------------------------------ jwks */

/* With jwks.writer: module the backends refresh the cache themselves, so
 * the directory and what the tool wrote in it (cache, lock and stamp
 * files, all named jwks-*) must belong to the PostgreSQL service user. */
static int
give_cache_to(const char *dir, const char *user)
{
	struct passwd *pw = getpwnam(user);
	struct dirent *de;
	DIR *d;
	int dfd, rc = 0;

	if (pw == NULL) {
		fprintf(stderr, "jwks fetch: no such user %s\n", user);
		return -1;
	}
	if ((d = opendir(dir)) == NULL || (dfd = dirfd(d)) < 0 ||
	    fchown(dfd, pw->pw_uid, pw->pw_gid) != 0) {
		fprintf(stderr, "jwks fetch: cannot give %s to %s: %s\n", dir,
		    user, strerror(errno));
		if (d != NULL)
			closedir(d);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "jwks-", 5) != 0)
			continue;
		/* Never follow a link someone planted in the directory. */
		if (fchownat(dfd, de->d_name, pw->pw_uid, pw->pw_gid,
		    AT_SYMLINK_NOFOLLOW) != 0) {
			fprintf(stderr, "jwks fetch: cannot give %s/%s to "
			    "%s: %s\n", dir, de->d_name, user,
			    strerror(errno));
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

static int
cmd_jwks(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "owner", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = PB_POLICY_DEFAULT_PATH, *owner = NULL;
	const struct pb_config *cfg;
	struct pb_policy *pol;
	enum pb_reason r;
	char detail[1024];
	int c;

	if (argc < 2 || strcmp(argv[1], "fetch") != 0)
		return usage_error("jwks: the only subcommand is fetch");
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, ":c:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'o':
			owner = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return bad_option("jwks fetch", c, argv);
		}
	}
	if (optind != argc)
		return usage_error("jwks fetch: unexpected argument %s",
		    argv[optind]);

	if ((pol = load_policy(path, false, geteuid())) == NULL)
		return EXIT_USAGE;
	cfg = pb_policy_config(pol);
	/* Fetches now whatever the cache's age: this is the refresher of
	 * jwks.writer: tool, run from a timer. */
	r = pb_cache_fill(cfg, (long long)time(NULL), detail,
	    sizeof(detail));
	if (r == PB_OK && owner != NULL &&
	    give_cache_to(cfg->jwks.cache, owner) != 0) {
		pb_policy_free(pol);
		return 1;
	}
	pb_policy_free(pol);
	if (r == PB_OK) {
		printf("%s\n", detail);
		return 0;
	}
	fprintf(stderr, "jwks fetch: %s\n", detail);
	return r == PB_CONFIG ? EXIT_USAGE : 1;
}

int
main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2)
		return usage_error("a command is required");
	cmd = argv[1];
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		puts(PROG " " PACKAGE_VERSION);
		return 0;
	}
	/* Each command parses its own options from its own name on, so
	 * getopt's messages and optind refer to that command's arguments. */
	opterr = 0;
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(cmd, "compile") == 0)
		return cmd_compile(argc - 1, argv + 1);
	if (strcmp(cmd, "explain") == 0)
		return cmd_explain(argc - 1, argv + 1);
	if (strcmp(cmd, "decode") == 0)
		return cmd_decode(argc - 1, argv + 1);
	if (strcmp(cmd, "jwks") == 0)
		return cmd_jwks(argc - 1, argv + 1);
	return usage_error("unknown command %s", cmd);
}
