/*
 * tool.h - what the commands of the admin tool pam-buildkite share: each
 * command's entry point (cmd_*.c) and the helpers more than one command
 * uses, the usage among them (tool_common.c).
 */
#ifndef PB_TOOL_H
#define PB_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "policy.h"

#define PROG "pam-buildkite"

/* Bytes read for a token or a claims file. PostgreSQL passes passwords of
 * up to 64 KiB; the verifier itself refuses tokens over 16 KiB, and
 * explain lets it say so rather than refusing here. */
#define INPUT_MAX (64 * 1024)

#define EXIT_ALLOW 0
#define EXIT_DENY 1
#define EXIT_USAGE 2

/* The commands: each parses its own options, argv[0] being its name, and
 * returns the exit status. */
int cmd_check(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_decode(int argc, char **argv);
int cmd_jwks(int argc, char **argv);
int cmd_dry_run(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_who_can(int argc, char **argv);
int cmd_diff(int argc, char **argv);

/* The usage of every command, to f. */
void usage(FILE *f);

/* Bad usage: what was wrong, then the usage, on stderr; returns
 * EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The default of a command's option switch: after --help (c 'h') the
 * usage on stdout and 0; else c is an option getopt_long refused, and
 * the usage error's exit status. */
int other_option(const char *cmd, int c, char **argv);

/* After a command's options: -1 when no argument is left, else the exit
 * status of the usage error naming it. */
int no_arguments(const char *cmd, int argc, char **argv);

/* The options of check (uid not NULL: -c and --user) or of compile (uid
 * NULL: -c alone): -1 to go on, or the exit status. */
int config_options(const char *cmd, int argc, char **argv, const char **path,
    uid_t *uid);

/* The options of check: config_options' with uid, --pooler and --strict. */
struct check_flags {
	bool pooler, strict;
};
int check_options(int argc, char **argv, const char **path, uid_t *uid,
    struct check_flags *flags);

/* The string member key of the JSON object o, or "" when it has none. */
const char *json_str(const json_t *o, const char *key);

/* s with control characters escaped; put_quoted also escapes quotes and
 * backslashes and wraps it in double quotes. */
void put_text(FILE *f, const char *s);
void put_quoted(FILE *f, const char *s);

/* Reads at most INPUT_MAX bytes of path, or of standard input when path
 * is NULL: 0, or -1 after saying why on stderr. */
int read_input(const char *path, char **buf, size_t *len);

/* Wipes then frees a buffer that held a credential; NULL is fine. */
void wipe_free(char *buf, size_t len);

/* The policy at path, or NULL after saying why on stderr: its files
 * judged as user uid would when strict, else loaded as a login does. */
struct pb_policy *load_policy(const char *path, bool strict, uid_t uid);

/* How many rules pol has: 0, or -1 when it cannot tell. */
int count_rules(const struct pb_policy *pol, size_t *n);

/* Says whether logins as uid use the compiled snapshot of the policy at
 * path: on stdout when they do, a warning on stderr when it is stale. */
void snapshot_note(const char *path, uid_t uid);

#endif
