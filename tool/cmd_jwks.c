/*
 * cmd_jwks.c - "pam-buildkite jwks fetch": fetches the issuer's keys
 * into the shared JWKS cache now, whatever the cache's age: the
 * refresher of jwks.writer: tool, run from a timer. With --owner it
 * gives the cache to the PostgreSQL service user (jwks.writer: module).
 * Exit 0 fetched, 1 not, 2 usage or config error.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jwks_cache.h"
#include "policy.h"
#include "reason.h"
#include "tool.h"

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

/* jwks fetch's options, argv[0] being "fetch": sets *path and *owner and
 * returns -1 to go on, or the exit status (after --help, or a usage
 * error). */
static int
fetch_options(int argc, char **argv, const char **path, const char **owner)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "owner", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*path = PB_POLICY_DEFAULT_PATH;
	*owner = NULL;
	while ((c = getopt_long(argc, argv, ":c:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			*path = optarg;
			break;
		case 'o':
			*owner = optarg;
			break;
		default:
			return other_option("jwks fetch", c, argv);
		}
	}
	return no_arguments("jwks fetch", argc, argv);
}

int
cmd_jwks(int argc, char **argv)
{
	const char *path, *owner;
	const struct pb_config *cfg;
	struct pb_policy *pol;
	enum pb_reason r;
	char detail[1024];
	int rc;

	if (argc < 2 || strcmp(argv[1], "fetch") != 0)
		return usage_error("jwks: the only subcommand is fetch");
	if ((rc = fetch_options(argc - 1, argv + 1, &path, &owner)) >= 0)
		return rc;
	if ((pol = load_policy(path, false, geteuid())) == NULL)
		return EXIT_USAGE;
	cfg = pb_policy_config(pol);
	r = pb_cache_fill(cfg, (long long)time(NULL), detail, sizeof(detail));
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
