/*
 * cmd_compile.c - "pam-buildkite compile": validates a policy and writes
 * POLICY.compiled, the snapshot logins use while the policy's files are
 * unchanged, then gives the same advice as check about the policy's
 * permissions and the snapshot. Exit 0 written, 1 not, 2 usage.
 */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "check_files.h"
#include "policy.h"
#include "tool.h"

int
cmd_compile(int argc, char **argv)
{
	const char *path;
	char msg[1024];
	int rc;

	if ((rc = config_options("compile", argc, argv, &path, NULL)) >= 0)
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
