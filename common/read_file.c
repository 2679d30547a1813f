/*
 * read_file.c - reading a whole descriptor, bounded: under the files a
 * login trusts (trusted_file.c, which judges them first) and the tool's
 * token and claims input; and the one openat(2) that retries when a
 * signal interrupts it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "read_file.h"

int
pb_read_fd(int fd, const struct stat *st, size_t max, char **buf,
    size_t *len)
{
	struct stat own;
	size_t got = 0, cap, size = SIZE_MAX;   /* SIZE_MAX: not known */
	char *p;
	int saved;

	*buf = NULL;
	*len = 0;
	/* Start from the file's size, so a 2 KiB JWKS does not cost a
	 * max-sized buffer in every backend; one byte more than that, so
	 * a file that grows while we read is caught rather than cut. */
	if (st == NULL && fstat(fd, &own) == 0)
		st = &own;
	if (st != NULL && S_ISREG(st->st_mode) && st->st_size >= 0 &&
	    (unsigned long long)st->st_size < max) {
		size = (size_t)st->st_size;
		cap = size + 1;
	} else
		cap = max < 65536 ? max + 1 : 65536;
	if ((p = malloc(cap + 1)) == NULL)
		return -1;
	for (;;) {
		ssize_t n;

		if (got == cap) {
			/* grew, or not a regular file: double, up to max + 1 */
			size_t ncap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
			char *np;

			if (cap > max) {
				errno = EFBIG;
				goto fail;
			}
			if ((np = malloc(ncap + 1)) == NULL)
				goto fail;
			memcpy(np, p, got);
			explicit_bzero(p, got);
			free(p);
			p = np;
			cap = ncap;
		}
		n = read(fd, p + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > max) {
			errno = EFBIG;
			goto fail;
		}
		/* A regular file read up to the size fstat gave, with room
		 * left for more: that is its end, and the read that would
		 * return 0 is one syscall per file at every login. */
		if (got == size && got < cap)
			break;
	}
	p[got] = '\0';
	*buf = p;
	*len = got;
	return 0;
fail:
	/* What was read may be a token: leave no copy in freed memory. */
	saved = errno;
	explicit_bzero(p, got);
	free(p);
	errno = saved;
	return -1;
}

int
pb_openat(int dirfd, const char *name, int flags, mode_t mode)
{
	int fd;

	do {
		fd = openat(dirfd, name, flags, mode);
	} while (fd < 0 && errno == EINTR);
	return fd;
}
