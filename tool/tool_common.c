/*
 * tool_common.c - what more than one command of pam-buildkite uses: the
 * usage and usage errors, the policy options, escaped output, reading a
 * token or claims file, loading the policy and what is said about it.
 *
 * The token is a credential: it is never printed, and the buffer holding
 * it is wiped before it is freed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "check_files.h"
#include "policy.h"
#include "read_file.h"
#include "tool.h"

static const char usage_text[] =
"usage: " PROG " check   [-c policy.yaml] [--user USER] [--pooler] [--strict]\n"
"       " PROG " compile [-c policy.yaml]\n"
"       " PROG " explain [-c policy.yaml] --role ROLE [--rhost ADDR]\n"
"                     [--token-file FILE | --claims FILE.json] [--now EPOCH] [--json]\n"
"       " PROG " decode  [--token-file FILE]\n"
"       " PROG " test    [-c policy.yaml] CASES.yaml [--junit FILE]\n"
"       " PROG " who-can [-c policy.yaml] ROLE [--json]\n"
"       " PROG " diff    OLD.yaml NEW.yaml [--audit FILE...]\n"
"       " PROG " jwks fetch [-c policy.yaml] [--owner USER]\n"
"       " PROG " dry-run key DIR\n"
"       " PROG " dry-run token --key DIR/dry-run.key --aud AUD --org ORG\n"
"                     [--pipeline P] [--branch B] [--tag T] [--step S]\n"
"                     [--source SRC] [--lifetime SECS]\n"
"       " PROG " help | --help | --version\n"
"\n"
"  check    validate the policy, and judge who may write each file a\n"
"           login reads as USER would (default: you); exit 0 valid, 1\n"
"           invalid or a file logins would refuse; --pooler: also warn\n"
"           about what stalls or is refused behind PgBouncer; --strict:\n"
"           exit 1 on any warning about the rules\n"
"  compile  validate it and write POLICY.compiled, which logins use while\n"
"           the policy's files are unchanged; exit 0 written, 1 not\n"
"  explain  show every verification step and every rule for a login as\n"
"           ROLE, then the decision; exit 0 allow, 1 deny, 2 usage or\n"
"           config error. The token is read from standard input unless\n"
"           --token-file is given; --claims skips verification.\n"
"  decode   print a token's header and claims, NOT verified\n"
"  test     run the policy's test cases as logins; exit 0 all pass, 1 one\n"
"           fails, 2 a bad policy or cases file\n"
"  who-can  every allow rule that can grant ROLE and the deny rules that\n"
"           cut into it; exit 0 reachable, 1 nobody\n"
"  diff     rules and roles a policy change adds, removes or changes, and\n"
"           with --audit the recorded logins it would decide otherwise;\n"
"           exit 0 no change, 1 a change\n"
"  dry-run  a local key and tokens of a stand-in issuer, for dry runs\n"
"           only, never in production: their issuer is not Buildkite's\n"
"\n"
"  -c, --config FILE  policy file (default " PB_POLICY_DEFAULT_PATH ")\n";

void
usage(FILE *f)
{
	fputs(usage_text, f);
}

/* Bad usage: what was wrong, then the usage, on stderr; exit status 2. */
int
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

/* The end of every command's option switch: --help prints the usage
 * (exit 0), and whatever else getopt_long returned it refused. */
int
other_option(const char *cmd, int c, char **argv)
{
	if (c == 'h') {
		usage(stdout);
		return 0;
	}
	return bad_option(cmd, c, argv);
}

/* No command takes arguments besides its options: -1 when none is left,
 * else the exit status of the usage error. */
int
no_arguments(const char *cmd, int argc, char **argv)
{
	if (optind != argc)
		return usage_error("%s: unexpected argument %s", cmd,
		    argv[optind]);
	return -1;
}

/* Writes s with control characters, quotes and backslashes escaped: rule
 * names and reasons come from files and tokens, and must neither forge a
 * line of output nor send escape sequences to a terminal. */
void
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

const char *
json_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

void
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

/* ----------------------------------------------------------- options */

/* The options of check (uid not NULL: -c, --user, whom to judge the
 * files for, by default whoever runs the tool, and --pooler and --strict
 * when flags is not NULL) and of compile (uid NULL: -c alone). Sets
 * *path (and *uid, *flags) and returns -1 to go on, or the exit status
 * (after --help, or a usage error). */
static int
policy_options(const char *cmd, int argc, char **argv, const char **path,
    uid_t *uid, struct check_flags *flags)
{
	static const struct option with_user[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	}, for_check[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "user", required_argument, NULL, 'u' },
		{ "pooler", no_argument, NULL, 'p' },
		{ "strict", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	}, config_only[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct option *opts = flags != NULL ? for_check :
	    uid != NULL ? with_user : config_only;
	const char *optstring = uid != NULL ? ":c:u:h" : ":c:h";
	int c;

	*path = PB_POLICY_DEFAULT_PATH;
	if (uid != NULL)
		*uid = geteuid();
	if (flags != NULL)
		flags->pooler = flags->strict = false;
	while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			*path = optarg;
			break;
		case 'u':
			if (check_user(optarg, uid) != 0)
				return usage_error("%s: no such user %s", cmd,
				    optarg);
			break;
		case 'p':
			flags->pooler = true;
			break;
		case 's':
			flags->strict = true;
			break;
		default:
			return other_option(cmd, c, argv);
		}
	}
	return no_arguments(cmd, argc, argv);
}

int
config_options(const char *cmd, int argc, char **argv, const char **path,
    uid_t *uid)
{
	return policy_options(cmd, argc, argv, path, uid, NULL);
}

int
check_options(int argc, char **argv, const char **path, uid_t *uid,
    struct check_flags *flags)
{
	return policy_options("check", argc, argv, path, uid, flags);
}

/* ------------------------------------------------------------- input */

/* Reads path, or standard input when path is NULL. On failure prints
 * why and returns -1. */
int
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
void
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
struct pb_policy *
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
int
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

/* Whether logins take the rules from the snapshot: an admin who edited
 * the policy and forgot to compile it learns why logins got slower, and
 * one who compiled as the wrong user why they did not get faster. */
void
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
