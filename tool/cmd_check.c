/*
 * cmd_check.c - "pam-buildkite check": validates a policy file the way
 * the module loads it, judging its includes as the module's user would,
 * prints its lint warnings, judges every other file a login reads
 * (check_files.c), and says whether logins use the compiled snapshot.
 * Exit 0 valid, 1 invalid or a file logins would refuse, 2 usage.
 */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "check_files.h"
#include "policy.h"
#include "tool.h"

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

int
cmd_check(int argc, char **argv)
{
	const char *path;
	struct pb_policy *pol;
	uid_t uid;
	size_t n;
	int rc;

	if ((rc = config_options("check", argc, argv, &path, &uid)) >= 0)
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
