/*
 * pam-buildkite.c - the admin tool of pam_buildkite (SPEC.md section 8):
 * the usage, and main, which hands the command line to one command:
 *
 *   check    validates a policy file the way the module loads it, and
 *            judges every file a login reads as the module's user would
 *            (cmd_check.c, check_files.c);
 *   compile  writes the policy's compiled snapshot (cmd_compile.c);
 *   explain  runs the module's own verify-then-decide step on a token, or
 *            the policy alone on given claims, and says what every check
 *            and every rule made of it (cmd_explain.c);
 *   decode   shows a token's header and claims without verifying
 *            anything (cmd_decode.c);
 *   jwks     fetch: the place of the shared JWKS cache's refresher
 *            (cmd_jwks.c).
 *
 * What the commands share is in tool_common.c. The token is a
 * credential: it is never printed, and the buffer holding it is wiped
 * before it is freed. Output is deterministic for given inputs (--now
 * fixes the clock), so scripts and tests can compare it.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "tool.h"

static const char usage_text[] =
"usage: " PROG " check   [-c policy.yaml] [--user USER]\n"
"       " PROG " compile [-c policy.yaml]\n"
"       " PROG " explain [-c policy.yaml] --role ROLE [--rhost ADDR]\n"
"                     [--token-file FILE | --claims FILE.json] [--now EPOCH] [--json]\n"
"       " PROG " decode  [--token-file FILE]\n"
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

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "check", cmd_check },
	{ "compile", cmd_compile },
	{ "explain", cmd_explain },
	{ "decode", cmd_decode },
	{ "jwks", cmd_jwks },
};

void
usage(FILE *f)
{
	fputs(usage_text, f);
}

int
main(int argc, char **argv)
{
	const char *cmd;
	size_t i;

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
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	return usage_error("unknown command %s", cmd);
}
