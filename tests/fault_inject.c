/*
 * fault_inject.c - file-system faults without privileges.
 *
 * The fault tests need a read-only directory and a full one. Made for
 * real, those take a tmpfs mount or a mount namespace, which a container, a chroot or an unprivileged user
 * cannot make. This shim, preloaded into pamtester (or linked into a
 * test), makes the C library calls the module uses fail with the errno
 * the real fault gives, for paths under a directory named in the
 * environment:
 *
 *   PB_FAULT_ROFS=DIR      creating, opening for writing, renaming or
 *                          removing anything under DIR: EROFS, as on a
 *                          file system mounted read-only;
 *   PB_FAULT_NOSPACE=DIR   writing data to a file under DIR: ENOSPC, as
 *                          on a file system with no blocks left (new
 *                          empty files can still be made);
 *   PB_FAULT_NOINODES=DIR  creating a file, directory or link under DIR:
 *                          ENOSPC, as on one with no inodes left.
 *
 * With none of them set every call goes straight to the C library.
 * Paths are judged as the kernel resolved them: a descriptor's through
 * /proc/self/fd, a name relative to a directory descriptor joined to it.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);
int openat(int dirfd, const char *path, int flags, ...);
int openat64(int dirfd, const char *path, int flags, ...);
int creat(const char *path, mode_t mode);
int mkdir(const char *path, mode_t mode);
int mkdirat(int dirfd, const char *path, mode_t mode);
int unlink(const char *path);
int unlinkat(int dirfd, const char *path, int flags);
int rename(const char *from, const char *to);
int renameat(int fromfd, const char *from, int tofd, const char *to);
int link(const char *from, const char *to);
int linkat(int fromfd, const char *from, int tofd, const char *to,
    int flags);
int symlink(const char *target, const char *path);
int symlinkat(const char *target, int dirfd, const char *path);
ssize_t write(int fd, const void *buf, size_t n);
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t writev(int fd, const struct iovec *iov, int n);

/* The next definition of name: the C library's (or a sanitizer's). */
static void *
next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* Is path (as resolved) DIR itself or below the directory the
 * environment variable var names? */
static bool
under(const char *var, const char *path)
{
	const char *dir = getenv(var);
	char real[PATH_MAX];
	size_t n;

	if (dir == NULL || dir[0] == '\0' || path == NULL)
		return false;
	if (realpath(dir, real) == NULL)
		return false;
	n = strlen(real);
	return strncmp(path, real, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/');
}

/* Where dirfd (or the working directory) and name lead, in out. */
static const char *
resolve(int dirfd, const char *name, char *out, size_t outlen)
{
	char link[64], base[PATH_MAX];
	ssize_t k;

	if (name == NULL)
		return NULL;
	if (name[0] == '/')
		return name;
	if (dirfd == AT_FDCWD) {
		if (getcwd(base, sizeof(base)) == NULL)
			return NULL;
	} else {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
		if ((k = readlink(link, base, sizeof(base) - 1)) < 0)
			return NULL;
		base[k] = '\0';
	}
	if (name[0] == '\0' || strcmp(name, ".") == 0)
		k = snprintf(out, outlen, "%s", base);
	else
		k = snprintf(out, outlen, "%s/%s", base, name);
	return k >= 0 && (size_t)k < outlen ? out : NULL;
}

static const char *
fd_path(int fd, char *out, size_t outlen)
{
	char link[64];
	ssize_t k;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((k = readlink(link, out, outlen - 1)) < 0)
		return NULL;
	out[k] = '\0';
	return out;
}

static bool
any_fault(void)
{
	return getenv("PB_FAULT_ROFS") != NULL ||
	    getenv("PB_FAULT_NOSPACE") != NULL ||
	    getenv("PB_FAULT_NOINODES") != NULL;
}

static int
fail(int err)
{
	errno = err;
	return -1;
}

/* The errno a change of the name at (dirfd, name) gets: 0 for none.
 * creates says whether it makes a new name. */
static int
name_fault(int dirfd, const char *name, bool creates)
{
	char buf[PATH_MAX];
	const char *p;

	if (!any_fault())
		return 0;
	p = resolve(dirfd, name, buf, sizeof(buf));
	if (under("PB_FAULT_ROFS", p))
		return EROFS;
	if (creates && under("PB_FAULT_NOINODES", p))
		return ENOSPC;
	return 0;
}

/* The errno of an open with these flags: 0 for none. */
static int
open_fault(int dirfd, const char *name, int flags)
{
	struct stat st;
	bool exists;

	if (!any_fault())
		return 0;
	if ((flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) == 0)
		return 0;
	exists = fstatat(dirfd, name, &st, 0) == 0;
	/* The kernel reports an existing name before a read-only file
	 * system: O_EXCL gets EEXIST. */
	if ((flags & O_CREAT) && (flags & O_EXCL) && exists)
		return 0;
	if ((flags & O_CREAT) && !exists)
		return name_fault(dirfd, name, true);
	/* Opening an existing file for writing: refused on a read-only
	 * file system, allowed on a full one. */
	return name_fault(dirfd, name, false);
}

static int
real_openat(int dirfd, const char *name, int flags, mode_t mode)
{
	int (*f)(int, const char *, int, ...) = next("openat");
	int err = open_fault(dirfd, name, flags);

	if (err != 0)
		return fail(err);
	return f(dirfd, name, flags, mode);
}

/* The mode argument, present when the flags create a file. */
#define MODE_ARG(flags, mode) do {					\
	va_list ap_;							\
	(mode) = 0;							\
	if (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE) { \
		va_start(ap_, flags);					\
		(mode) = (mode_t)va_arg(ap_, int);			\
		va_end(ap_);						\
	}								\
} while (0)

int
open(const char *path, int flags, ...)
{
	mode_t mode;

	MODE_ARG(flags, mode);
	return real_openat(AT_FDCWD, path, flags, mode);
}

int
open64(const char *path, int flags, ...)
{
	mode_t mode;

	MODE_ARG(flags, mode);
	return real_openat(AT_FDCWD, path, flags, mode);
}

int
openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode;

	MODE_ARG(flags, mode);
	return real_openat(dirfd, path, flags, mode);
}

int
openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode;

	MODE_ARG(flags, mode);
	return real_openat(dirfd, path, flags, mode);
}

int
creat(const char *path, mode_t mode)
{
	return real_openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC,
	    mode);
}

int
mkdirat(int dirfd, const char *path, mode_t mode)
{
	int (*f)(int, const char *, mode_t) = next("mkdirat");
	int err = name_fault(dirfd, path, true);

	return err != 0 ? fail(err) : f(dirfd, path, mode);
}

int
mkdir(const char *path, mode_t mode)
{
	return mkdirat(AT_FDCWD, path, mode);
}

int
unlinkat(int dirfd, const char *path, int flags)
{
	int (*f)(int, const char *, int) = next("unlinkat");
	int err = name_fault(dirfd, path, false);

	return err != 0 ? fail(err) : f(dirfd, path, flags);
}

int
unlink(const char *path)
{
	return unlinkat(AT_FDCWD, path, 0);
}

int
renameat(int fromfd, const char *from, int tofd, const char *to)
{
	int (*f)(int, const char *, int, const char *) = next("renameat");
	int err = name_fault(fromfd, from, false);

	if (err == 0)
		err = name_fault(tofd, to, false);
	return err != 0 ? fail(err) : f(fromfd, from, tofd, to);
}

int
rename(const char *from, const char *to)
{
	return renameat(AT_FDCWD, from, AT_FDCWD, to);
}

int
linkat(int fromfd, const char *from, int tofd, const char *to, int flags)
{
	int (*f)(int, const char *, int, const char *, int) = next("linkat");
	int err = name_fault(tofd, to, true);

	return err != 0 ? fail(err) : f(fromfd, from, tofd, to, flags);
}

int
link(const char *from, const char *to)
{
	return linkat(AT_FDCWD, from, AT_FDCWD, to, 0);
}

int
symlinkat(const char *target, int dirfd, const char *path)
{
	int (*f)(const char *, int, const char *) = next("symlinkat");
	int err = name_fault(dirfd, path, true);

	return err != 0 ? fail(err) : f(target, dirfd, path);
}

int
symlink(const char *target, const char *path)
{
	return symlinkat(target, AT_FDCWD, path);
}

/* Data written to a regular file under PB_FAULT_NOSPACE: ENOSPC. */
static bool
no_space(int fd, size_t n)
{
	char buf[PATH_MAX];

	return n > 0 && getenv("PB_FAULT_NOSPACE") != NULL &&
	    under("PB_FAULT_NOSPACE", fd_path(fd, buf, sizeof(buf)));
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	ssize_t (*f)(int, const void *, size_t) = next("write");

	return no_space(fd, n) ? fail(ENOSPC) : f(fd, buf, n);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	ssize_t (*f)(int, const void *, size_t, off_t) = next("pwrite");

	return no_space(fd, n) ? fail(ENOSPC) : f(fd, buf, n, off);
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	ssize_t (*f)(int, const struct iovec *, int) = next("writev");
	size_t total = 0;
	int i;

	for (i = 0; i < n; i++)
		total += iov[i].iov_len;
	return no_space(fd, total) ? fail(ENOSPC) : f(fd, iov, n);
}
