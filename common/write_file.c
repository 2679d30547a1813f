/*
 * write_file.c - whole-or-nothing file writes (write_file.h).
 *
 * The JWKS cache and the policy snapshot are read by every login while
 * a writer replaces them: a reader must never see half a file, and a
 * crash must leave the old file or the new one. Hence a temporary file
 * in the same directory (same file system, so rename(2) is atomic),
 * fsync before the rename (the data is on disk before the name points
 * at it) and fsync of the directory after it (the rename itself is
 * durable). The temporary name is random and created with O_EXCL |
 * O_NOFOLLOW: in a directory others can write (the caller refuses those,
 * but a check can be wrong) no link planted there is followed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msg.h"
#include "read_file.h"
#include "write_file.h"

/* Names tried before giving up: each collision is a 2^-48 chance. */
#define TEMP_TRIES	8

int
pb_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
pb_fsync(int fd)
{
	int rc;

	do {
		rc = fsync(fd);
	} while (rc != 0 && errno == EINTR);
	return rc;
}

/* Creates ".NAME.<12 hex digits>" in dirfd: the descriptor, or -1. */
static int
create_temp(int dirfd, const char *name, mode_t mode, char *tmp,
    size_t tmplen)
{
	unsigned char rnd[6];
	char hex[2 * sizeof(rnd) + 1];
	int i, fd = -1;

	for (i = 0; i < TEMP_TRIES; i++) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -1;
		pb_hex(rnd, sizeof(rnd), hex);
		if ((size_t)snprintf(tmp, tmplen, ".%s.%s", name, hex) >=
		    tmplen) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = pb_openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	return fd;
}

static int
failed(char *why, size_t whylen, const char *step, int err)
{
	char eb[128];

	pb_msg(why, whylen, "%s: %s", step, pb_errstr(err, eb, sizeof(eb)));
	errno = err;
	return -1;
}

int
pb_write_atomic(int dirfd, const char *name, const void *data,
    size_t len, mode_t mode, char *why, size_t whylen)
{
	char tmp[NAME_MAX + 1];
	int fd, err;

	if ((fd = create_temp(dirfd, name, mode, tmp, sizeof(tmp))) < 0)
		return failed(why, whylen, "cannot create a file", errno);
	/* fchmod: the mode is exact whatever the umask. */
	if (fchmod(fd, mode) != 0 || pb_write_all(fd, data, len) != 0 ||
	    pb_fsync(fd) != 0) {
		err = errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return failed(why, whylen, "cannot write", err);
	}
	if (close(fd) != 0) {
		err = errno;
		unlinkat(dirfd, tmp, 0);
		return failed(why, whylen, "cannot write", err);
	}
	if (renameat(dirfd, tmp, dirfd, name) != 0) {
		err = errno;
		unlinkat(dirfd, tmp, 0);
		return failed(why, whylen, "cannot rename", err);
	}
	if (pb_fsync(dirfd) != 0)
		return failed(why, whylen, "cannot fsync the directory",
		    errno);
	return 0;
}

int
pb_write_atomic_path(const char *path, const void *data, size_t len,
    mode_t mode, char *why, size_t whylen)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/'), *name;
	int dirfd, rc, err;

	if (slash == NULL) {
		snprintf(dir, sizeof(dir), ".");
		name = path;
	} else {
		if ((size_t)(slash - path) >= sizeof(dir))
			return failed(why, whylen, "cannot create a file",
			    ENAMETOOLONG);
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		if (dir[0] == '\0')
			snprintf(dir, sizeof(dir), "/");
		name = slash + 1;
	}
	if (name[0] == '\0')
		return failed(why, whylen, "cannot create a file", EISDIR);
	do {
		dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} while (dirfd < 0 && errno == EINTR);
	if (dirfd < 0)
		return failed(why, whylen, "cannot open the directory", errno);
	rc = pb_write_atomic(dirfd, name, data, len, mode, why, whylen);
	err = errno;
	close(dirfd);
	errno = err;
	return rc;
}
