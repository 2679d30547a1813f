/*
 * trusted_file.c - opening the files the module trusts (trusted_file.h).
 *
 * Whoever can write a file the module reads can decide who logs in: a
 * key planted in jwks.file, a rule added to the policy. So a file is
 * trusted only when no one but root and the module's own user could have
 * written it, or put another in its place: its own owner and mode, and
 * every directory on the way down from /, as OpenSSH's StrictModes
 * judges ~/.ssh. A directory writable by others passes only when it is
 * root-owned and sticky (/tmp): there others can add names, but not
 * rename or remove ours.
 *
 * Without races: each name is opened relative to the directory before it
 * (O_PATH needs only search permission) and judged by fstat of what was
 * opened, so a directory swapped after its check is not the one walked
 * through. Symbolic links are read and followed here rather than by the
 * kernel, so that every directory a link leads through is judged too
 * (/lib -> usr/lib, /var/run -> /run, relative links with ".."), and
 * the link itself must be root's or uid's: its owner says where it
 * leads. The object itself is looked at with fstatat first, so a FIFO
 * or a device is refused without being opened, then opened for reading
 * with O_NONBLOCK | O_NOFOLLOW and checked to be the same inode.
 *
 * Bounded: PB_TRUST_MAX_LINKS links and PB_TRUST_MAX_STEPS names per
 * path, each step one openat and one fstat; no path longer than PATH_MAX.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msg.h"
#include "read_file.h"
#include "trusted_file.h"

/* Looks at a name whose file was replaced between the look and the open
 * (finish() returns -2) before it is refused: a rename over it is how
 * the policy, its snapshot and the key cache are replaced. */
#define PB_TRUST_REOPENS 3

/* One walk down a path. */
struct walk {
	char rest[PATH_MAX];	/* the names still to walk, from at */
	size_t at;
	char where[PATH_MAX];	/* the directory open at dirfd */
	int dirfd;		/* O_PATH */
	unsigned links, steps;
	uid_t uid;
	char *why;
	size_t whylen;
};

static int
refuse(int err)
{
	errno = err;
	return -1;
}

static int
cannot(char *why, size_t whylen, const char *what, int err)
{
	char eb[128];

	pb_msg(why, whylen, "cannot open%s%s: %s", what[0] ? " " : "", what,
	    pb_errstr(err, eb, sizeof(eb)));
	return refuse(err);
}

/* A directory on the way: owned by root or uid, and writable by no one
 * else unless root-owned and sticky. */
static int
judge_dir(const struct stat *st, const char *dir, uid_t uid, char *why,
    size_t whylen)
{
	unsigned mode = (unsigned)(st->st_mode & 07777);

	if (st->st_uid != 0 && st->st_uid != uid) {
		pb_msg(why, whylen, "directory %s is owned by uid %u, not "
		    "root or uid %u", dir, (unsigned)st->st_uid,
		    (unsigned)uid);
		return refuse(EPERM);
	}
	if ((mode & (S_IWGRP | S_IWOTH)) == 0)
		return 0;
	if ((mode & S_ISVTX) == 0) {
		pb_msg(why, whylen, "directory %s is writable by others "
		    "(mode %04o) and not sticky", dir, mode);
		return refuse(EPERM);
	}
	if (st->st_uid != 0) {
		pb_msg(why, whylen, "directory %s is writable by others "
		    "(mode %04o) and owned by uid %u, not root", dir, mode,
		    (unsigned)st->st_uid);
		return refuse(EPERM);
	}
	return 0;
}

/* The object: of the wanted type, no group or world write bit, owned by
 * root or uid unless the caller judges the owner. */
static int
judge_object(const struct stat *st, unsigned flags, uid_t uid, char *why,
    size_t whylen)
{
	if ((flags & PB_TRUST_DIR) ? !S_ISDIR(st->st_mode) :
	    !S_ISREG(st->st_mode)) {
		pb_msg(why, whylen, "%s", (flags & PB_TRUST_DIR) ?
		    "not a directory" : "not a regular file");
		return refuse(EINVAL);
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		pb_msg(why, whylen, "group- or world-writable (mode %04o)",
		    (unsigned)(st->st_mode & 07777));
		return refuse(EPERM);
	}
	if (!(flags & PB_TRUST_ANY_OWNER) && st->st_uid != 0 &&
	    st->st_uid != uid) {
		pb_msg(why, whylen, "owned by uid %u, not root or uid %u",
		    (unsigned)st->st_uid, (unsigned)uid);
		return refuse(EPERM);
	}
	return 0;
}

/* Opens name in dirfd for reading once its O_PATH view pst has the right
 * type, and judges what was opened: the descriptor, -1 refused, or -2
 * when the name no longer is the file pst saw. */
static int
finish(int dirfd, const char *name, const struct stat *pst, unsigned flags,
    uid_t uid, struct stat *st, char *why, size_t whylen)
{
	int fd, err;

	if (judge_object(pst, flags, uid, why, whylen) != 0)
		return -1;
	fd = pb_openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC | O_NOFOLLOW | ((flags & PB_TRUST_DIR) ?
	    O_DIRECTORY : 0), 0);
	if (fd < 0)
		return cannot(why, whylen, "", errno);
	if (fstat(fd, st) != 0) {
		err = errno;
		close(fd);
		return cannot(why, whylen, "", err);
	}
	if (st->st_dev != pst->st_dev || st->st_ino != pst->st_ino) {
		close(fd);
		pb_msg(why, whylen, "replaced while being opened");
		errno = EAGAIN;
		return -2;
	}
	if (judge_object(st, flags, uid, why, whylen) != 0) {
		err = errno;
		close(fd);
		return refuse(err);
	}
	return fd;
}

/* Sets dir to dir/name (or its parent, for ".."). */
static int
where_push(char *dir, const char *name)
{
	size_t n = strlen(dir);
	char *slash;

	if (strcmp(name, "..") == 0) {
		slash = strrchr(dir, '/');
		if (slash != NULL)
			slash[slash == dir ? 1 : 0] = '\0';
		return 0;
	}
	if (n + (n > 1) + strlen(name) >= PATH_MAX)
		return refuse(ENAMETOOLONG);
	if (n > 1)
		dir[n++] = '/';
	memcpy(dir + n, name, strlen(name) + 1);
	return 0;
}

/* Restarts the walk at /, judged as any directory is. */
static int
to_root(struct walk *w)
{
	struct stat st;
	int fd, err;

	if ((fd = pb_openat(AT_FDCWD, "/", O_PATH | O_DIRECTORY |
	    O_CLOEXEC, 0)) < 0)
		return cannot(w->why, w->whylen, "/", errno);
	if (fstat(fd, &st) != 0 || judge_dir(&st, "/", w->uid, w->why,
	    w->whylen) != 0) {
		err = errno;
		close(fd);
		return refuse(err);
	}
	if (w->dirfd >= 0)
		close(w->dirfd);
	w->dirfd = fd;
	strcpy(w->where, "/");
	return 0;
}

/* The next name into name: 1 with *last set, 0 when none is left, -1
 * when it is longer than NAME_MAX. */
static int
next_name(struct walk *w, char *name, bool *last)
{
	const char *p = w->rest + w->at, *e;

	while (*p == '/')
		p++;
	if (*p == '\0')
		return 0;
	e = strchrnul(p, '/');
	if (e - p > NAME_MAX)
		return refuse(ENAMETOOLONG);
	memcpy(name, p, (size_t)(e - p));
	name[e - p] = '\0';
	while (*e == '/')
		e++;
	*last = *e == '\0';
	w->at = (size_t)(e - w->rest);
	return 1;
}

/* Replaces the link name (in the directory being walked, lst its lstat)
 * by its target in what is left to walk. Its owner chooses where it
 * leads, so it must be root or uid, like the directory holding it: then
 * no one else can swap it, even in a sticky directory, and reading it by
 * name reads the link judged. */
static int
follow(struct walk *w, const char *name, const struct stat *lst)
{
	char t[PATH_MAX];
	const char *tail = w->rest + w->at;
	size_t tlen = strlen(tail);
	ssize_t n;

	if (lst->st_uid != 0 && lst->st_uid != w->uid) {
		pb_msg(w->why, w->whylen, "symbolic link %s%s%s is owned by "
		    "uid %u, not root or uid %u", w->where,
		    strcmp(w->where, "/") != 0 ? "/" : "", name,
		    (unsigned)lst->st_uid, (unsigned)w->uid);
		return refuse(EPERM);
	}
	if (++w->links > PB_TRUST_MAX_LINKS) {
		pb_msg(w->why, w->whylen, "more than %d symbolic links",
		    PB_TRUST_MAX_LINKS);
		return refuse(ELOOP);
	}
	n = readlinkat(w->dirfd, name, t, sizeof(t));
	if (n < 0)
		return cannot(w->why, w->whylen, "", errno);
	if (n == 0)
		return cannot(w->why, w->whylen, "", ENOENT);
	if ((size_t)n + 1 + tlen >= sizeof(t))
		return cannot(w->why, w->whylen, "", ENAMETOOLONG);
	t[n] = '/';
	memcpy(t + n + 1, tail, tlen + 1);
	memcpy(w->rest, t, (size_t)n + 1 + tlen + 1);
	w->at = 0;
	return t[0] == '/' ? to_root(w) : 0;
}

/* The last name of the walk: through a link, or the object itself. 1 to
 * go on, 0 with *fd the object, -1 refused. Looked at with fstatat, not
 * opened, until its type is known: a FIFO or a device is never opened.
 * A file renamed over the name between the look and the open (how
 * admins replace a policy, as they should) is looked at again, a few
 * times at most, rather than refused. */
static int
last_step(struct walk *w, const char *name, unsigned flags, struct stat *st,
    int *fd)
{
	struct stat pst;
	int tries = 0;

	do {
		if (fstatat(w->dirfd, name, &pst, AT_SYMLINK_NOFOLLOW) != 0)
			return cannot(w->why, w->whylen, "", errno);
		if (S_ISLNK(pst.st_mode) && (flags & PB_TRUST_NOFOLLOW)) {
			pb_msg(w->why, w->whylen, "a symbolic link");
			return refuse(ELOOP);
		}
		if (S_ISLNK(pst.st_mode))
			return follow(w, name, &pst) == 0 ? 1 : -1;
		*fd = finish(w->dirfd, name, &pst, flags, w->uid, st, w->why,
		    w->whylen);
	} while (*fd == -2 && ++tries < PB_TRUST_REOPENS);
	return *fd < 0 ? -1 : 0;
}

/* A name on the way, or "..": into a directory, or through a link. 1 to
 * go on, -1 refused. */
static int
step(struct walk *w, const char *name)
{
	char dir[PATH_MAX];
	struct stat pst;
	int pfd, err;

	pfd = pb_openat(w->dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
	if (pfd < 0) {
		err = errno;
		snprintf(dir, sizeof(dir), "%s", w->where);
		if (where_push(dir, name) != 0)
			dir[0] = '\0';
		return cannot(w->why, w->whylen, dir, err);
	}
	if (fstat(pfd, &pst) != 0) {
		err = errno;
		close(pfd);
		return cannot(w->why, w->whylen, "", err);
	}
	if (S_ISLNK(pst.st_mode)) {
		close(pfd);
		return follow(w, name, &pst) == 0 ? 1 : -1;
	}
	snprintf(dir, sizeof(dir), "%s", w->where);
	if (!S_ISDIR(pst.st_mode) || where_push(dir, name) != 0 ||
	    judge_dir(&pst, dir, w->uid, w->why, w->whylen) != 0) {
		err = S_ISDIR(pst.st_mode) ? errno : ENOTDIR;
		close(pfd);
		return err == ENOTDIR ? cannot(w->why, w->whylen, "", err) :
		    refuse(err);
	}
	close(w->dirfd);
	w->dirfd = pfd;
	memcpy(w->where, dir, strlen(dir) + 1);
	return 1;
}

static int
start(struct walk *w, const char *path)
{
	size_t n = 0;

	if (path[0] != '/') {
		if (getcwd(w->rest, sizeof(w->rest)) == NULL ||
		    w->rest[0] != '/')
			return cannot(w->why, w->whylen, "the working "
			    "directory", errno != 0 ? errno : ENOENT);
		n = strlen(w->rest);
		w->rest[n++] = '/';
	}
	if (n + strlen(path) >= sizeof(w->rest))
		return cannot(w->why, w->whylen, "", ENAMETOOLONG);
	memcpy(w->rest + n, path, strlen(path) + 1);
	return to_root(w);
}

int
pb_trusted_open(const char *path, unsigned flags, uid_t uid,
    struct stat *st, char *why, size_t whylen)
{
	struct walk w;
	struct stat here;
	char name[NAME_MAX + 1];
	bool last;
	int fd = -1, r, err;

	if (whylen > 0)
		why[0] = '\0';
	if (path == NULL || path[0] == '\0')
		return cannot(why, whylen, "", ENOENT);
	w.at = 0;
	w.dirfd = -1;
	w.links = w.steps = 0;
	w.uid = uid;
	w.why = why;
	w.whylen = whylen;
	if (start(&w, path) != 0)
		goto out;
	for (;;) {
		if (++w.steps > PB_TRUST_MAX_STEPS) {
			pb_msg(why, whylen, "more than %d names to walk",
			    PB_TRUST_MAX_STEPS);
			errno = ELOOP;
			break;
		}
		if ((r = next_name(&w, name, &last)) < 0) {
			cannot(why, whylen, "", errno);
			break;
		}
		if (r == 0) {
			/* the path ends in / . or ..: the object is where */
			if (fstat(w.dirfd, &here) == 0)
				fd = finish(w.dirfd, ".", &here, flags, uid,
				    st, why, whylen);
			else
				cannot(why, whylen, "", errno);
			break;
		}
		if (strcmp(name, ".") == 0)
			continue;
		if (last && strcmp(name, "..") != 0)
			r = last_step(&w, name, flags, st, &fd);
		else
			r = step(&w, name);
		if (r <= 0)
			break;
	}
out:
	err = errno;
	if (w.dirfd >= 0)
		close(w.dirfd);
	if (fd < 0) {
		errno = err;
		fd = -1;
	}
	return fd;
}

int
pb_trusted_openat(int dirfd, const char *name, unsigned flags, uid_t uid,
    struct stat *st, char *why, size_t whylen)
{
	struct stat pst;
	int fd, tries = 0;

	if (whylen > 0)
		why[0] = '\0';
	do {
		if (fstatat(dirfd, name, &pst, AT_SYMLINK_NOFOLLOW) != 0)
			return cannot(why, whylen, "", errno);
		if (S_ISLNK(pst.st_mode)) {
			pb_msg(why, whylen, "a symbolic link");
			return refuse(ELOOP);
		}
		fd = finish(dirfd, name, &pst, flags, uid, st, why, whylen);
	} while (fd == -2 && ++tries < PB_TRUST_REOPENS);
	return fd < 0 ? -1 : fd;
}

int
pb_read_trusted(const char *path, unsigned flags, uid_t uid, size_t max,
    char **buf, size_t *len, char *why, size_t whylen)
{
	struct stat st;
	char eb[128];
	int fd, err = 0;

	*buf = NULL;
	*len = 0;
	if ((fd = pb_trusted_open(path, flags & ~PB_TRUST_DIR, uid, &st, why,
	    whylen)) < 0)
		return -1;
	if ((unsigned long long)st.st_size > max)
		err = EFBIG;
	else if (pb_read_fd(fd, &st, max, buf, len) != 0)
		err = errno;
	close(fd);
	if (err == EFBIG)
		pb_msg(why, whylen, "larger than %zu bytes", max);
	else if (err != 0)
		pb_msg(why, whylen, "cannot read: %s",
		    pb_errstr(err, eb, sizeof(eb)));
	return err == 0 ? 0 : refuse(err);
}
