/*
 * check_files.c - what "pam-buildkite check" says about who may write
 * the files a login reads: the same judgement (trusted_file.h) the
 * module makes, made for the user the module runs as, so a sysadmin
 * sees a refusal before a login meets it.
 *
 * The policy and its includes are judged while they are loaded; here
 * come the files the policy names (jwks.file, jwks.ca_file, the cache
 * directory, the replay store) and the advice beyond what is refused:
 * a policy everyone can read, a policy owned by the service user.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_files.h"
#include "jwks_cache.h"
#include "tool.h"
#include "trusted_file.h"

/*
 * Whoever can write the policy decides who logs in; whoever can read it
 * learns which jobs may become which roles. The module runs as the
 * PostgreSQL service user, which must read the file but should not own
 * it (members of pg_write_server_files write files as that user): root
 * as owner with mode 0640 and the service user's group is the intended
 * setup, so group read alone is not warned about. A group-writable file,
 * or one owned by anyone but root and that user, is refused by the load
 * itself.
 */
void
permission_warnings(const char *path)
{
	struct passwd *pw;
	struct stat st;
	mode_t m;

	if (stat(path, &st) != 0)
		return;
	m = st.st_mode & 07777;
	if (m & S_IROTH)
		fprintf(stderr, "warning: %s is readable by everyone (mode "
		    "%04o): it tells which jobs may become which roles; "
		    "chmod o-rwx (0640, group of the PostgreSQL service "
		    "user)\n", path, (unsigned)m);
	if (st.st_uid != 0) {
		pw = getpwuid(st.st_uid);
		fprintf(stderr, "warning: %s is owned by %s (uid %ju), not "
		    "root: its owner can decide who logs in\n", path,
		    pw != NULL ? pw->pw_name : "an unknown user",
		    (uintmax_t)st.st_uid);
	}
}

/* One file a login reads: 0 trusted, 1 missing (a warning), -1 refused
 * (an error: the logins that need it are refused with reason). */
static int
judge(const char *what, const char *path, unsigned flags, uid_t uid,
    const char *reason)
{
	char why[PB_TRUST_WHY_MAX];
	struct stat st;
	int fd;

	if ((fd = pb_trusted_open(path, flags, uid, &st, why,
	    sizeof(why))) >= 0) {
		close(fd);
		return 0;
	}
	fprintf(stderr, "%s: %s %s: %s; logins are refused (%s)\n",
	    errno == ENOENT ? "warning" : PROG, what, path, why, reason);
	return errno == ENOENT ? 1 : -1;
}

int
check_files(const struct pb_config *cfg, uid_t uid)
{
	char why[PB_TRUST_WHY_MAX];
	int rc = 0;

	if (cfg->jwks.file != NULL &&
	    judge("jwks.file", cfg->jwks.file, 0, uid, "jwks_unavailable") < 0)
		rc = -1;
	if (cfg->jwks.file == NULL && cfg->jwks.ca_file != NULL &&
	    judge("jwks.ca_file", cfg->jwks.ca_file, 0, uid,
	    "jwks_unavailable when the keys are fetched") < 0)
		rc = -1;
	if (cfg->jwks.file == NULL && cfg->jwks.url != NULL &&
	    pb_cache_dir_judge(cfg, uid, why, sizeof(why)) != 0)
		fprintf(stderr, "warning: %s; logins ignore the cache and "
		    "fetch the keys for themselves\n", why);
	if (cfg->token.single_use && cfg->token.replay_dir != NULL &&
	    judge("token.single_use: replay directory",
	    cfg->token.replay_dir, PB_TRUST_DIR | PB_TRUST_NOFOLLOW, uid,
	    "config") < 0)
		rc = -1;
	return rc;
}

int
check_user(const char *name, uid_t *uid)
{
	struct passwd *pw = getpwnam(name);
	unsigned long long v;
	char *end;

	if (pw != NULL) {
		*uid = pw->pw_uid;
		return 0;
	}
	errno = 0;
	v = strtoull(name, &end, 10);
	if (name[0] < '0' || name[0] > '9' || *end != '\0' || errno != 0 ||
	    v >= (uid_t)-1)
		return -1;
	*uid = (uid_t)v;
	return 0;
}
