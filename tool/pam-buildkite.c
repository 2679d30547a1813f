/*
 * pam-buildkite.c - the admin tool of pam_buildkite (pam-buildkite(1)):
 * main, which hands the command line to one command:
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
 *            (cmd_jwks.c);
 *   dry-run  a stand-in issuer's key and tokens, for dry runs only
 *            (cmd_dry_run.c);
 *   test     a policy's test cases (cmd_test.c);
 *   who-can  every way to a role (cmd_who_can.c);
 *   diff     what a change to the policy does (cmd_diff.c).
 *
 * What the commands share, the usage too, is in tool_common.c. The token is a
 * credential: it is never printed, and the buffer holding it is wiped
 * before it is freed. Output is deterministic for given inputs (--now
 * fixes the clock), so scripts and tests can compare it.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "check", cmd_check },
	{ "compile", cmd_compile },
	{ "explain", cmd_explain },
	{ "decode", cmd_decode },
	{ "jwks", cmd_jwks },
	{ "dry-run", cmd_dry_run },
	{ "test", cmd_test },
	{ "who-can", cmd_who_can },
	{ "diff", cmd_diff },
};

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
