/*
 * jwks_cache.c - obtain the key set named by the policy.
 *
 * A static jwks.file is read on every login: it is small, and reading it
 * afresh means a key rotation by the sysadmin needs no reload step.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jwks_cache.h"

int
pb_read_file(const char *path, size_t max, char **buf, size_t *len)
{
	struct stat st;
	char *p = NULL;
	size_t got = 0;
	int fd, saved;

	*buf = NULL;
	*len = 0;
	do {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if (st.st_size < 0 || (unsigned long long)st.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	/* One byte more than allowed, so a file that grows while we read
	 * is caught rather than silently cut. */
	if ((p = malloc(max + 1)) == NULL)
		goto fail;
	for (;;) {
		ssize_t n = read(fd, p + got, max + 1 - got);

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
	}
	close(fd);
	p[got] = '\0';
	*buf = p;
	*len = got;
	return 0;
fail:
	saved = errno;
	free(p);
	close(fd);
	errno = saved;
	return -1;
}

static enum pb_reason
keys_from_file(const char *path, struct pb_jwks **out, char *detail,
    size_t detail_len)
{
	char *buf, err[256], eb[128];
	size_t len;

	if (pb_read_file(path, PB_JWKS_MAX_BYTES, &buf, &len) != 0) {
		snprintf(detail, detail_len, "cannot read jwks.file %s: %s",
		    path, errno == EFBIG ? "larger than 256 KiB" :
		    strerror_r(errno, eb, sizeof(eb)));
		return PB_JWKS_UNAVAILABLE;
	}
	if (pb_jwks_parse(buf, len, out, err, sizeof(err)) != 0) {
		snprintf(detail, detail_len, "jwks.file %s: %s", path, err);
		free(buf);
		return PB_JWKS_UNAVAILABLE;
	}
	free(buf);
	return PB_OK;
}

enum pb_reason
pb_keys_get(const struct pb_config *cfg, struct pb_jwks **out, char *detail,
    size_t detail_len)
{
	*out = NULL;
	if (cfg->jwks.file != NULL)
		return keys_from_file(cfg->jwks.file, out, detail, detail_len);
	snprintf(detail, detail_len, "fetching jwks.url is not supported by "
	    "this build yet; set jwks.file");
	return PB_JWKS_UNAVAILABLE;
}
