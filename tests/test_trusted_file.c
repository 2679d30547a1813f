/*
 * test_trusted_file.c - the walk of pb_trusted_open on paths no login
 * test reaches: links through the system's own (/lib -> usr/lib), "." and
 * ".." inside links, relative paths, trailing slashes, the bounds on
 * links and names, and judging as another user. Runs as root: files are
 * given to nobody.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "trusted_file.h"

#define NOBODY 65534

static char tmp[64];

static const char *
at(const char *name)
{
	static char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", tmp, name);
	return p;
}

/* pb_trusted_open judged as uid: 0 opened, else errno, with why. */
static int
try(const char *path, unsigned flags, uid_t uid, char *why, size_t len)
{
	struct stat st;
	int fd = pb_trusted_open(path, flags, uid, &st, why, len);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static void
expect(const char *path, unsigned flags, uid_t uid, int want,
    const char *text, const char *what)
{
	char why[PB_TRUST_WHY_MAX] = "";
	int e = try(path, flags, uid, why, sizeof(why));

	ok(e == want && (text == NULL || strstr(why, text) != NULL),
	    "%s (errno %d, %s)", what, e, why);
}

static void
mk(const char *name, mode_t mode)
{
	int fd = open(at(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, "x\n", 2) != 2 || close(fd) != 0 ||
	    chmod(at(name), mode) != 0)
		exit(99);
}

static void
test_system(void)
{
	struct stat st;

	/* Debian 12 merged /usr: /lib is a link to usr/lib. */
	if (lstat("/lib", &st) == 0 && S_ISLNK(st.st_mode) &&
	    access("/lib/os-release", F_OK) == 0)
		expect("/lib/os-release", 0, 0, 0, NULL,
		    "a file through /lib -> usr/lib (and its own link)");
	else
		ok(1, "# SKIP /lib is not a link here");
	expect("/etc/passwd", 0, 0, 0, NULL, "/etc/passwd as root");
	expect("/etc/passwd", 0, NOBODY, 0, NULL,
	    "/etc/passwd as nobody (root owns it)");
	expect("/etc//./passwd", 0, 0, 0, NULL, "// and . are skipped");
	expect("/etc/../etc/passwd", 0, 0, 0, NULL, ".. climbs");
	expect("/", PB_TRUST_DIR, 0, 0, NULL, "/ itself, as a directory");
	expect("/etc/", PB_TRUST_DIR, 0, 0, NULL, "a trailing slash");
	expect("/etc/passwd", PB_TRUST_DIR, 0, EINVAL, "not a directory",
	    "a file where a directory is wanted");
	expect("/etc", 0, 0, EINVAL, "not a regular file",
	    "a directory where a file is wanted");
	expect("/dev/null", 0, 0, EINVAL, "not a regular file",
	    "a device is refused (never opened)");
	expect("", 0, 0, ENOENT, NULL, "an empty path");
	expect("/nonexistent/x", 0, 0, ENOENT, "cannot open /nonexistent",
	    "a missing directory is named");
}

static void
test_links(void)
{
	char name[32], target[32];
	int i;

	mkdir(at("d"), 0755);
	mkdir(at("d/e"), 0755);
	mk("d/f", 0644);
	mk("f", 0644);
	symlink("d/e", at("toe"));
	expect(at("toe/../f"), 0, 0, 0, NULL,
	    "link then ..: the parent of where the link leads (d/f)");
	unlink(at("d/f"));
	expect(at("toe/../f"), 0, 0, ENOENT, NULL,
	    "... and not the parent of the link");
	mk("d/f", 0644);
	symlink("f", at("l0"));
	for (i = 1; i <= PB_TRUST_MAX_LINKS; i++) {
		snprintf(name, sizeof(name), "l%d", i);
		snprintf(target, sizeof(target), "l%d", i - 1);
		symlink(target, at(name));
	}
	snprintf(name, sizeof(name), "l%d", PB_TRUST_MAX_LINKS - 1);
	expect(at(name), 0, 0, 0, NULL, "a chain of 16 links is followed");
	snprintf(name, sizeof(name), "l%d", PB_TRUST_MAX_LINKS);
	expect(at(name), 0, 0, ELOOP, "more than 16 symbolic links",
	    "a chain of 17 is refused");
	expect(at("l0"), PB_TRUST_NOFOLLOW, 0, ELOOP, "a symbolic link",
	    "PB_TRUST_NOFOLLOW: the last name may not be a link");
	symlink("d", at("tod"));
	expect(at("tod/f"), PB_TRUST_NOFOLLOW, 0, 0, NULL,
	    "... the names before it may");
	mkdir(at("w"), 0777);
	chmod(at("w"), 0777);
	symlink("../f", at("w/up"));
	symlink("w/up", at("viaw"));
	expect(at("viaw"), 0, 0, EPERM, "writable by others (mode 0777)",
	    "a link whose target is reached through a 0777 directory");
	symlink("f", at("s-link"));
	if (lchown(at("s-link"), NOBODY, NOBODY) != 0)
		exit(99);
	expect(at("s-link"), 0, 0, EPERM, "s-link is owned by uid 65534",
	    "a link owned by nobody: its owner chooses where it leads");
	expect(at("s-link"), 0, NOBODY, 0, NULL, "... judged as nobody");
	symlink("/", at("root"));
	expect(at("root/etc/passwd"), 0, 0, 0, NULL,
	    "an absolute link restarts the walk at /");
}

static void
test_bounds(void)
{
	char *p, name[NAME_MAX + 2];
	size_t i;

	p = malloc(PATH_MAX);
	if (p == NULL)
		exit(99);
	snprintf(p, PATH_MAX, "%s", tmp);
	for (i = 0; i < 300; i++)
		strcat(p, "/.");
	strcat(p, "/f");
	expect(p, 0, 0, ELOOP, "more than 256 names",
	    "300 names in one path are refused");
	memset(p, 'a', PATH_MAX - 1);
	p[0] = '/';
	p[PATH_MAX - 1] = '\0';
	expect(p, 0, 0, ENAMETOOLONG, NULL, "a name over NAME_MAX");
	memset(name, 'b', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	expect(at(name), 0, 0, ENAMETOOLONG, NULL, "a last name over NAME_MAX");
	free(p);
}

static void
test_owners(void)
{
	char cwd[PATH_MAX];

	mk("nob", 0644);
	if (chown(at("nob"), NOBODY, NOBODY) != 0)
		exit(99);
	expect(at("nob"), 0, 0, EPERM, "owned by uid 65534, not root or "
	    "uid 0", "a file of nobody, judged as root");
	expect(at("nob"), 0, NOBODY, 0, NULL, "... judged as nobody");
	expect(at("nob"), PB_TRUST_ANY_OWNER, 0, 0, NULL,
	    "... or with the owner left to the caller");
	mk("g", 0660);
	expect(at("g"), PB_TRUST_ANY_OWNER, 0, EPERM,
	    "group- or world-writable (mode 0660)",
	    "group write is refused whoever judges the owner");
	mkdir(at("s"), 01777);
	chmod(at("s"), 01777);
	mk("s/f", 0644);
	expect(at("s/f"), 0, 0, 0, NULL, "a root-owned sticky 1777 directory");
	chown(at("s"), NOBODY, NOBODY);
	expect(at("s/f"), 0, NOBODY, EPERM, "and owned by uid 65534, not root",
	    "a sticky 1777 directory owned by nobody, even judged as nobody");
	if (getcwd(cwd, sizeof(cwd)) == NULL || chdir(at("w")) != 0)
		exit(99);
	mk("w/rel", 0644);
	expect("rel", 0, 0, EPERM, "not sticky",
	    "a relative path: the working directory's ancestry is judged");
	if (chdir(cwd) != 0)
		exit(99);
}

int
main(void)
{
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (files given to nobody)\n");
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "/tmp/pbtrust.XXXXXX");
	if (mkdtemp(tmp) == NULL || chmod(tmp, 0755) != 0)
		return 99;
	test_system();
	test_links();
	test_bounds();
	test_owners();
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			diag("cannot remove %s", tmp);
	}
	return done_testing();
}
