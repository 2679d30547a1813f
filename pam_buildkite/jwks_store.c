/*
 * jwks_store.c - the shared on-disk cache of jwks.url (doc/keys.md)
 * as a store: files, lock, stamp, refresh.
 *
 * Every backend of the host shares one cache file. Whoever can write it
 * can mint logins, so it is read through a checked directory descriptor,
 * refused when anyone but root and the cache's owner could have written
 * it, and parsed strictly; a cache failing any check is ignored (and the
 * detail says why), never trusted. Writes are atomic (write_file.h) and
 * happen under a lock file, so one process refreshes while the others
 * keep using the keys they have. A fetch only replaces the cache with a
 * 200 answer that parses to at least one usable key.
 *
 * The time of day is the caller's now, as for the token it verifies.
 * Waiting for the lock and fetching share one deadline on
 * CLOCK_MONOTONIC instead: a timeout is a duration, which the wall clock
 * (stepped by NTP or an administrator) cannot measure.
 */
#include "config.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jwks_fetch.h"
#include "jwks_store.h"
#include "msg.h"
#include "read_file.h"
#include "trusted_file.h"
#include "write_file.h"

/* The cache file holds the JWKS and a little bookkeeping around it. */
#define CACHE_FILE_MAX (PB_JWKS_MAX_BYTES + 4096)
/* How often a process waiting for another's refresh looks again. */
#define LOCK_POLL_NS (20 * 1000 * 1000L)
#define STAMP_MAX 32

/* ------------------------------------------------------------ helpers */

void
pb_store_note(struct pb_store *c, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (c->detail_len == 0)
		return;
	used = strnlen(c->detail, c->detail_len);
	if (used >= c->detail_len - 1)
		return;
	if (used > 0) {
		snprintf(c->detail + used, c->detail_len - used, "; ");
		used = strnlen(c->detail, c->detail_len);
		if (used >= c->detail_len - 1)
			return;
	}
	va_start(ap, fmt);
	vsnprintf(c->detail + used, c->detail_len - used, fmt, ap);
	va_end(ap);
}

static long
remaining_ms(const struct pb_store *c)
{
	struct timespec t;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &t);
	ms = (long long)(c->deadline.tv_sec - t.tv_sec) * 1000 +
	    (c->deadline.tv_nsec - t.tv_nsec) / 1000000;
	return ms > 0 ? (long)ms : 0;
}

static void
sleep_poll(void)
{
	struct timespec ts = { 0, LOCK_POLL_NS };

	/* An interrupted sleep just polls sooner; the deadline decides. */
	nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ setup */

/* The file names come from the URL alone: a token or a PAM user never
 * reaches a path. */
int
pb_store_names(struct pb_store *c)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char hex[33];

	if (pb_sha256(c->cfg->jwks.url, strlen(c->cfg->jwks.url), md) != 0)
		return -1;
	pb_hex(md, 16, hex);
	snprintf(c->name, sizeof(c->name), "jwks-%s.json", hex);
	snprintf(c->lockname, sizeof(c->lockname), "jwks-%s.lock", hex);
	snprintf(c->stampname, sizeof(c->stampname), "jwks-%s.attempt", hex);
	return 0;
}

int
pb_store_open_dir(struct pb_store *c, bool writer_rules, char *why,
    size_t whylen)
{
	const char *dir = c->cfg->jwks.cache;
	char w[PB_TRUST_WHY_MAX];
	struct stat st;
	int fd;

	if (dir == NULL || dir[0] != '/') {
		pb_msg(why, whylen, "jwks.cache is not an absolute path");
		return -1;
	}
	/* The directories above it as for any file the module trusts; the
	 * directory itself not a link, not group- or world-writable, and
	 * its owner judged below. */
	fd = pb_trusted_open(dir, PB_TRUST_DIR | PB_TRUST_NOFOLLOW |
	    PB_TRUST_ANY_OWNER, c->euid, &st, w, sizeof(w));
	if (fd < 0) {
		pb_msg(why, whylen, "cache directory %s: %s", dir, w);
		return -1;
	}
	if (writer_rules && st.st_uid != 0 && st.st_uid != c->euid) {
		pb_msg(why, whylen, "cache directory %s is owned by uid "
		    "%u, not root or uid %u", dir, (unsigned)st.st_uid,
		    (unsigned)c->euid);
		goto bad;
	}
	/* faccessat asks for us; judging for another user (the tool's
	 * check), its owning the directory is what can be told. */
	if (!writer_rules && c->euid != 0 && (st.st_uid == c->euid ||
	    (c->euid == geteuid() && faccessat(fd, ".", W_OK,
	    AT_EACCESS) == 0))) {
		pb_msg(why, whylen, "cache directory %s is writable by "
		    "uid %u, which jwks.writer: tool forbids", dir,
		    (unsigned)c->euid);
		goto bad;
	}
	c->dirfd = fd;
	c->dir_uid = st.st_uid;
	return 0;
bad:
	close(fd);
	return -1;
}

void
pb_store_init(struct pb_store *c, const struct pb_config *cfg,
    char *detail, size_t detail_len)
{
	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->dirfd = -1;
	c->euid = geteuid();
	c->tool = cfg->jwks.writer == PB_WRITER_TOOL;
	c->detail = detail;
	c->detail_len = detail_len;
	if (detail_len > 0)
		detail[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += cfg->jwks.timeout > 0 ?
	    (time_t)cfg->jwks.timeout : 1;
}

void
pb_store_done(struct pb_store *c)
{
	if (c->dirfd >= 0)
		close(c->dirfd);
	c->dirfd = -1;
}

/* ------------------------------------------------------------ reading */

/* Reads and checks the cache file. 1 with *out and *fetched_at set, 0
 * when there is none, -1 when it exists but is not to be trusted (why
 * says what is wrong). */
static int
read_cache(struct pb_store *c, long long now, struct pb_jwks **out,
    long long *fetched_at, char *why, size_t whylen)
{
	json_t *root = NULL, *url, *fa, *jw;
	char *buf = NULL, eb[128], perr[256];
	json_error_t jerr;
	struct stat st;
	size_t len;
	int fd, ret = -1;

	*out = NULL;
	*fetched_at = 0;
	if (c->dirfd < 0)
		return 0;
	/* A regular file, not a link, not group- or world-writable; its
	 * owner is judged here against the directory's. */
	fd = pb_trusted_openat(c->dirfd, c->name, PB_TRUST_ANY_OWNER, c->euid,
	    &st, why, whylen);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return -1;
	if (st.st_size < 0 || (unsigned long long)st.st_size >
	    CACHE_FILE_MAX) {
		pb_msg(why, whylen, "oversized (%lld bytes, at most %d)",
		    (long long)st.st_size, CACHE_FILE_MAX);
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != c->dir_uid) {
		pb_msg(why, whylen, "owned by uid %u, not root or the "
		    "directory's owner", (unsigned)st.st_uid);
		goto out;
	}
	/* Members of pg_write_server_files write files as our user: with
	 * writer: tool, a cache we could have written proves nothing. */
	if (c->tool && c->euid != 0 && (st.st_uid == c->euid ||
	    faccessat(c->dirfd, c->name, W_OK, AT_EACCESS) == 0)) {
		pb_msg(why, whylen, "writable by uid %u, which "
		    "jwks.writer: tool forbids", (unsigned)c->euid);
		goto out;
	}
	if (pb_read_fd(fd, &st, CACHE_FILE_MAX, &buf, &len) != 0) {
		pb_msg(why, whylen, "%s", errno == EFBIG ? "oversized" :
		    pb_errstr(errno, eb, sizeof(eb)));
		goto out;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		pb_msg(why, whylen, "corrupt or truncated: %s", jerr.text);
		goto out;
	}
	url = json_object_get(root, "url");
	fa = json_object_get(root, "fetched_at");
	jw = json_object_get(root, "jwks");
	if (!json_is_object(root) || !json_is_string(url) ||
	    !json_is_integer(fa) || !json_is_object(jw)) {
		pb_msg(why, whylen, "corrupt: not a cache file of this "
		    "module");
		goto out;
	}
	if (strcmp(json_string_value(url), c->cfg->jwks.url) != 0) {
		pb_msg(why, whylen, "holds keys of another url");
		goto out;
	}
	if ((long long)json_integer_value(fa) > now + PB_STORE_FUTURE_SLACK) {
		pb_msg(why, whylen, "fetched_at is in the future");
		goto out;
	}
	if (pb_jwks_from_json(jw, out, perr, sizeof(perr)) != 0) {
		pb_msg(why, whylen, "invalid JWKS: %s", perr);
		goto out;
	}
	if (pb_jwks_count(*out) == 0) {
		pb_jwks_free(*out);
		*out = NULL;
		pb_msg(why, whylen, "no usable key");
		goto out;
	}
	*fetched_at = (long long)json_integer_value(fa);
	ret = 1;
out:
	json_decref(root);
	free(buf);
	close(fd);
	return ret;
}

/* read_cache that notes why a cache was ignored. */
bool
pb_store_load(struct pb_store *c, long long now, struct pb_jwks **out,
    long long *fetched_at)
{
	char why[384];
	int r;

	why[0] = '\0';
	r = read_cache(c, now, out, fetched_at, why, sizeof(why));
	/* Re-read under the lock, the same bad file says the same. */
	if (r < 0 && !c->reported) {
		pb_store_note(c, "cache %s/%s ignored: %s", c->cfg->jwks.cache,
		    c->name, why);
		c->reported = true;
	}
	return r > 0;
}

long long
pb_store_age(long long now, long long fetched_at)
{
	return now > fetched_at ? now - fetched_at : 0;
}

/* ------------------------------------------------------------ writing */

/* Publishes body (a validated JWKS) as the cache file, whole or not at
 * all (write_file.h). */
int
pb_store_write(struct pb_store *c, const char *body, size_t len,
    long long now, char *why, size_t whylen)
{
	char *text = NULL, w[256];
	json_t *jw = NULL, *doc = NULL;
	json_error_t jerr;
	size_t tlen;
	int ret = -1;

	jw = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (jw == NULL || (doc = json_pack("{s:s, s:I, s:O}", "url",
	    c->cfg->jwks.url, "fetched_at", (json_int_t)now, "jwks",
	    jw)) == NULL || (text = json_dumps(doc, JSON_COMPACT)) == NULL) {
		pb_msg(why, whylen, "cannot serialise the cache");
		goto out;
	}
	tlen = strlen(text);
	if (tlen > CACHE_FILE_MAX) {
		pb_msg(why, whylen, "cache file would be too large");
		goto out;
	}
	/* Readable by every backend and the tool, writable by us only. */
	if (pb_write_atomic(c->dirfd, c->name, text, tlen, 0644, w,
	    sizeof(w)) != 0) {
		pb_msg(why, whylen, "%s/%s: %s", c->cfg->jwks.cache, c->name,
		    w);
		goto out;
	}
	ret = 0;
out:
	free(text);
	json_decref(doc);
	json_decref(jw);
	return ret;
}

/* ------------------------------------------------------------ locking */

int
pb_store_lock_open(struct pb_store *c, char *why, size_t whylen)
{
	char eb[128];
	struct stat st;
	int fd;

	fd = pb_openat(c->dirfd, c->lockname, O_RDWR | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
	if (fd < 0) {
		pb_msg(why, whylen, "cannot open lock %s/%s: %s",
		    c->cfg->jwks.cache, c->lockname,
		    pb_errstr(errno, eb, sizeof(eb)));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		pb_msg(why, whylen, "lock %s/%s is not a regular file",
		    c->cfg->jwks.cache, c->lockname);
		close(fd);
		return -1;
	}
	return fd;
}

/* 0 when locked, 1 when another process holds it, -1 on error. */
int
pb_store_lock_try(int fd)
{
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? 1 : -1;
	}
}

/* Polls the lock until the deadline: 0 locked, 1 still held, -1 error. */
int
pb_store_lock_wait(const struct pb_store *c, int fd)
{
	int r;

	while ((r = pb_store_lock_try(fd)) == 1) {
		if (remaining_ms(c) <= 0)
			return 1;
		sleep_poll();
	}
	return r;
}

/* ------------------------------------------------------------ fetching */

int
pb_store_fetch(struct pb_store *c, struct pb_jwks **out, char **body,
    size_t *blen, char *why, size_t whylen)
{
	char err[512], *buf;
	size_t len;

	*out = NULL;
	if (body != NULL)
		*body = NULL;
	if (pb_jwks_fetch(c->cfg->jwks.url, c->cfg->jwks.ca_file,
	    remaining_ms(c), PB_JWKS_MAX_BYTES, &buf, &len, err,
	    sizeof(err)) != 0) {
		pb_msg(why, whylen, "fetching %s: %s", c->cfg->jwks.url,
		    err);
		return -1;
	}
	if (pb_jwks_parse(buf, len, out, err, sizeof(err)) != 0) {
		pb_msg(why, whylen, "fetching %s: invalid JWKS: %s",
		    c->cfg->jwks.url, err);
		free(buf);
		return -1;
	}
	if (pb_jwks_count(*out) == 0) {
		pb_msg(why, whylen, "fetching %s: no usable key in the "
		    "answer", c->cfg->jwks.url);
		pb_jwks_free(*out);
		*out = NULL;
		free(buf);
		return -1;
	}
	if (body != NULL) {
		*body = buf;
		*blen = len;
	} else {
		free(buf);
	}
	return 0;
}

/* A cache that cannot be written still leaves this login its keys. */
int
pb_store_refresh(struct pb_store *c, long long now, struct pb_jwks **out)
{
	char why[640], *body;
	size_t len;

	if (pb_store_fetch(c, out, &body, &len, why, sizeof(why)) != 0) {
		pb_store_note(c, "%s", why);
		return -1;
	}
	if (pb_store_write(c, body, len, now, why, sizeof(why)) != 0)
		pb_store_note(c, "fetched %zu keys but could not update the "
		    "cache: %s", pb_jwks_count(*out), why);
	else
		pb_store_note(c, "cache refreshed (%zu keys)",
		    pb_jwks_count(*out));
	free(body);
	return 0;
}

/* ------------------------------------------------------------ stamp */

long long
pb_store_read_stamp(const struct pb_store *c)
{
	char buf[STAMP_MAX + 1], *end;
	struct stat st;
	long long v;
	ssize_t n;
	int fd;

	/* A stamp anyone else could write is no stamp. */
	fd = pb_trusted_openat(c->dirfd, c->stampname, 0, c->dir_uid, &st,
	    NULL, 0);
	if (fd < 0)
		return -1;
	do {
		n = read(fd, buf, STAMP_MAX);
	} while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\0' && *end != '\n') ||
	    v < 0)
		return -1;
	return v;
}

int
pb_store_write_stamp(const struct pb_store *c, long long now, char *why,
    size_t whylen)
{
	char buf[STAMP_MAX], eb[128];
	int fd, n, rc;

	n = snprintf(buf, sizeof(buf), "%lld\n", now);
	fd = pb_openat(c->dirfd, c->stampname, O_WRONLY | O_CREAT |
	    O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
	if (fd < 0) {
		pb_msg(why, whylen, "cannot stamp %s/%s: %s",
		    c->cfg->jwks.cache, c->stampname,
		    pb_errstr(errno, eb, sizeof(eb)));
		return -1;
	}
	rc = pb_write_all(fd, buf, (size_t)n);
	if (rc != 0)
		pb_msg(why, whylen, "cannot stamp %s/%s: %s",
		    c->cfg->jwks.cache, c->stampname,
		    pb_errstr(errno, eb, sizeof(eb)));
	close(fd);
	return rc;
}
