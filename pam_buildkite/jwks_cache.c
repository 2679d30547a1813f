/*
 * jwks_cache.c - obtain the key set named by the policy (SPEC.md
 * section 5; research/tech.md section 4).
 *
 * A static jwks.file is read on every login: it is small, and reading it
 * afresh means a key rotation by the sysadmin needs no reload step.
 *
 * For jwks.url, every backend of the host shares one cache file. Whoever
 * can write it can mint logins, so it is read through a checked
 * directory descriptor, refused when anyone but root and the cache's
 * owner could have written it, and parsed strictly; a cache failing any
 * check is ignored (and the detail says why), never trusted. Writes are
 * atomic (temp file, fsync, rename, fsync of the directory) and happen
 * under a lock file, so one process refreshes while the others keep
 * using the keys they have. A fetch only replaces the cache with a 200
 * answer that parses to at least one usable key.
 *
 * The login path is bounded by jwks.timeout as a whole: waiting for the
 * lock and fetching share one CLOCK_MONOTONIC deadline, because
 * PostgreSQL's authentication_timeout does not interrupt a module.
 */
#include "config.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "jwks_cache.h"
#include "jwks_fetch.h"
#include "read_file.h"
#include "msg.h"
#include "trusted_file.h"
#include "write_file.h"

/* The cache file holds the JWKS and a little bookkeeping around it. */
#define CACHE_FILE_MAX (PB_JWKS_MAX_BYTES + 4096)
/* A fetched_at or stamp further ahead than this is not ours: corrupt. */
#define FUTURE_SLACK 60
/* How often a process waiting for another's refresh looks again. */
#define LOCK_POLL_NS (20 * 1000 * 1000L)
#define STAMP_MAX 32

/* One call's view of the cache. */
struct cache {
	const struct pb_config *cfg;
	char name[64];          /* jwks-<hex>.json */
	char lockname[64];      /* jwks-<hex>.lock */
	char stampname[64];     /* jwks-<hex>.attempt */
	int dirfd;              /* -1 when the directory is unusable */
	uid_t dir_uid;
	uid_t euid;
	bool tool;              /* writer: tool rules for reading */
	bool reported;          /* an ignored cache is noted once */
	struct timespec deadline;
	char *detail;           /* notes accumulate here */
	size_t detail_len;
};

/* ------------------------------------------------------------ helpers */

static __attribute__((format(printf, 2, 3))) void
note(struct cache *c, const char *fmt, ...)
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

static enum pb_reason
keys_from_file(const char *path, struct pb_jwks **out, char *detail,
    size_t detail_len)
{
	char *buf, err[256], why[PB_TRUST_WHY_MAX];
	size_t len;

	/* Whoever can write it, or its directory, can sign any role in:
	 * trusted as the policy is, links followed (trusted_file.h). */
	if (pb_read_trusted(path, 0, geteuid(), PB_JWKS_MAX_BYTES, &buf,
	    &len, why, sizeof(why)) != 0) {
		snprintf(detail, detail_len, "cannot read jwks.file %s: %s",
		    path, errno == EFBIG ? "larger than 256 KiB" : why);
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

static long long
now_epoch(void)
{
	return (long long)time(NULL);
}

static long
remaining_ms(const struct cache *c)
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
static int
cache_names(struct cache *c)
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

/* Opens and checks the cache directory. writer rules (the module with
 * writer: module, and the tool): owned by root or us. Reader rules
 * (writer: tool): not ours and not writable by us, unless we are root.
 * Both: a real directory, not group- or world-writable. */
static int
open_dir(struct cache *c, bool writer_rules, char *why, size_t whylen)
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

static void
cache_init(struct cache *c, const struct pb_config *cfg, char *detail,
    size_t detail_len)
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

static void
cache_done(struct cache *c)
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
read_cache(struct cache *c, long long now, struct pb_jwks **out,
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
	if ((long long)json_integer_value(fa) > now + FUTURE_SLACK) {
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
static int
load_cache(struct cache *c, long long now, struct pb_jwks **out,
    long long *fetched_at)
{
	char why[384];
	int r;

	why[0] = '\0';
	r = read_cache(c, now, out, fetched_at, why, sizeof(why));
	/* Re-read under the lock, the same bad file says the same. */
	if (r < 0 && !c->reported) {
		note(c, "cache %s/%s ignored: %s", c->cfg->jwks.cache,
		    c->name, why);
		c->reported = true;
	}
	return r > 0;
}

static long long
age_of(long long now, long long fetched_at)
{
	return now > fetched_at ? now - fetched_at : 0;
}

/* ------------------------------------------------------------ writing */

/* Publishes body (a validated JWKS) as the cache file, whole or not at
 * all (write_file.h). */
static int
write_cache(struct cache *c, const char *body, size_t len, long long now,
    char *why, size_t whylen)
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

static int
lock_open(struct cache *c, char *why, size_t whylen)
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
static int
lock_try(int fd)
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
static int
lock_wait(const struct cache *c, int fd)
{
	int r;

	while ((r = lock_try(fd)) == 1) {
		if (remaining_ms(c) <= 0)
			return 1;
		sleep_poll();
	}
	return r;
}

/* ------------------------------------------------------------ fetching */

/* Fetches jwks.url within what is left of the deadline and validates the
 * answer: 0 with *out (and *body, when asked for, to write the cache),
 * or -1 with the reason noted in why. */
static int
fetch_keys(struct cache *c, struct pb_jwks **out, char **body, size_t *blen,
    char *why, size_t whylen)
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

/* Fetches and, when allowed, publishes: the lock is held by the caller.
 * 0 with *out, or -1 with the reason noted. */
static int
fetch_and_store(struct cache *c, long long now, struct pb_jwks **out)
{
	char why[640], *body;
	size_t len;

	if (fetch_keys(c, out, &body, &len, why, sizeof(why)) != 0) {
		note(c, "%s", why);
		return -1;
	}
	if (write_cache(c, body, len, now, why, sizeof(why)) != 0)
		note(c, "fetched %zu keys but could not update the cache: %s",
		    pb_jwks_count(*out), why);
	else
		note(c, "cache refreshed (%zu keys)", pb_jwks_count(*out));
	free(body);
	return 0;
}

/* ------------------------------------------------------------ login path */

/* No cache to share (writer: tool, or no usable directory): the cache
 * within max_stale, else keys fetched for this login only. */
static enum pb_reason
keys_read_only(struct cache *c, long long now, struct pb_jwks *cached,
    long long fetched_at, struct pb_jwks **out)
{
	char why[640];

	if (cached != NULL && age_of(now, fetched_at) <=
	    c->cfg->jwks.max_stale) {
		note(c, "cache stale (age %llds), used read-only",
		    age_of(now, fetched_at));
		*out = cached;
		return PB_OK;
	}
	pb_jwks_free(cached);
	if (cached != NULL)
		note(c, "cache too stale (age %llds, max_stale %llds)",
		    age_of(now, fetched_at), c->cfg->jwks.max_stale);
	if (fetch_keys(c, out, NULL, NULL, why, sizeof(why)) != 0) {
		note(c, "%s", why);
		return PB_JWKS_UNAVAILABLE;
	}
	note(c, "fetched %zu keys for this login only (kept in memory)",
	    pb_jwks_count(*out));
	return PB_OK;
}

static enum pb_reason
keys_from_url(struct cache *c, struct pb_jwks **out)
{
	long long now = now_epoch(), fetched_at = 0;
	struct pb_jwks *cached = NULL;
	enum pb_reason ret = PB_JWKS_UNAVAILABLE;
	char why[384];
	int lk, r;

	if (cache_names(c) != 0) {
		note(c, "cannot hash jwks.url");
		return PB_JWKS_UNAVAILABLE;
	}
	why[0] = '\0';
	if (open_dir(c, !c->tool, why, sizeof(why)) != 0)
		note(c, "cache ignored: %s", why);
	else
		load_cache(c, now, &cached, &fetched_at);
	if (cached != NULL && age_of(now, fetched_at) < c->cfg->jwks.refresh) {
		*out = cached;
		return PB_OK;
	}
	if (c->tool || c->dirfd < 0)
		return keys_read_only(c, now, cached, fetched_at, out);

	if ((lk = lock_open(c, why, sizeof(why))) < 0) {
		note(c, "%s", why);
		return keys_read_only(c, now, cached, fetched_at, out);
	}
	r = lock_try(lk);
	if (r == 1 && cached != NULL && age_of(now, fetched_at) <=
	    c->cfg->jwks.max_stale) {
		/* Someone is refreshing: no herd, the stale keys will do. */
		note(c, "cache stale (age %llds), another process is "
		    "refreshing it", age_of(now, fetched_at));
		*out = cached;
		close(lk);
		return PB_OK;
	}
	if (r == 1)
		r = lock_wait(c, lk);
	if (r != 0) {
		if (r < 0)
			note(c, "cannot lock %s: %s", c->lockname,
			    pb_errstr(errno, why, sizeof(why)));
		else
			note(c, "timed out waiting for another process "
			    "refreshing the cache");
		/* Whoever held it may have written the cache meanwhile. */
		pb_jwks_free(cached);
		cached = NULL;
		now = now_epoch();
		if (load_cache(c, now, &cached, &fetched_at) &&
		    age_of(now, fetched_at) <= c->cfg->jwks.max_stale) {
			*out = cached;
			ret = PB_OK;
		} else {
			pb_jwks_free(cached);
		}
		close(lk);
		return ret;
	}
	/* Locked. Someone may have refreshed while we looked or waited. */
	pb_jwks_free(cached);
	cached = NULL;
	now = now_epoch();
	if (load_cache(c, now, &cached, &fetched_at) &&
	    age_of(now, fetched_at) < c->cfg->jwks.refresh) {
		*out = cached;
		close(lk);
		return PB_OK;
	}
	if (fetch_and_store(c, now, out) == 0) {
		pb_jwks_free(cached);
		ret = PB_OK;
	} else if (cached != NULL && age_of(now, fetched_at) <=
	    c->cfg->jwks.max_stale) {
		note(c, "using stale cache (age %llds, max_stale %llds)",
		    age_of(now, fetched_at), c->cfg->jwks.max_stale);
		*out = cached;
		ret = PB_OK;
	} else {
		if (cached != NULL)
			note(c, "cache too stale (age %llds, max_stale "
			    "%llds)", age_of(now, fetched_at),
			    c->cfg->jwks.max_stale);
		pb_jwks_free(cached);
	}
	/* Closing the descriptor releases the lock. */
	close(lk);
	return ret;
}

enum pb_reason
pb_keys_get(const struct pb_config *cfg, struct pb_jwks **out, char *detail,
    size_t detail_len)
{
	struct cache c;
	enum pb_reason r;

	*out = NULL;
	if (detail_len > 0)
		detail[0] = '\0';
	if (cfg->jwks.file != NULL)
		return keys_from_file(cfg->jwks.file, out, detail, detail_len);
	if (cfg->jwks.url == NULL) {
		snprintf(detail, detail_len, "neither jwks.url nor jwks.file "
		    "is configured");
		return PB_JWKS_UNAVAILABLE;
	}
	cache_init(&c, cfg, detail, detail_len);
	r = keys_from_url(&c, out);
	cache_done(&c);
	if (r != PB_OK) {
		pb_jwks_free(*out);
		*out = NULL;
	}
	return r;
}

/* ------------------------------------------------------------ key rotation */

/* The epoch in the .attempt stamp, or -1 when there is none usable. */
static long long
read_stamp(const struct cache *c)
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

static int
write_stamp(const struct cache *c, long long now, char *why, size_t whylen)
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

/* writer: tool. No shared stamp: the cache's own age is the limit. */
static enum pb_reason
refetch_read_only(struct cache *c, struct pb_jwks **out)
{
	long long now = now_epoch(), fetched_at = 0;
	struct pb_jwks *cached = NULL;
	char why[640];

	if (c->dirfd < 0 || !load_cache(c, now, &cached, &fetched_at)) {
		/* Then pb_keys_get fetched for this login moments ago. */
		note(c, "no usable cache: the keys were fetched for this "
		    "login already; no refetch");
		return PB_UNKNOWN_KEY;
	}
	pb_jwks_free(cached);
	if (age_of(now, fetched_at) < PB_JWKS_REFETCH_INTERVAL) {
		note(c, "cache is %llds old; no refetch within %ds",
		    age_of(now, fetched_at), PB_JWKS_REFETCH_INTERVAL);
		return PB_UNKNOWN_KEY;
	}
	if (fetch_keys(c, out, NULL, NULL, why, sizeof(why)) != 0) {
		note(c, "refetch failed: %s", why);
		return PB_UNKNOWN_KEY;
	}
	note(c, "refetched %zu keys for this login only (kept in memory)",
	    pb_jwks_count(*out));
	return PB_OK;
}

static enum pb_reason
refetch_shared(struct cache *c, struct pb_jwks **out)
{
	long long now, stamp, fetched_at = 0;
	struct pb_jwks *cached = NULL;
	enum pb_reason ret = PB_UNKNOWN_KEY;
	char why[384];
	int lk, r;

	if ((lk = lock_open(c, why, sizeof(why))) < 0) {
		/* Without the stamp there is no bound on refetches. */
		note(c, "%s; no refetch", why);
		return PB_UNKNOWN_KEY;
	}
	if ((r = lock_wait(c, lk)) != 0) {
		note(c, r > 0 ? "another process holds the cache lock; no "
		    "refetch" : "cannot lock the cache; no refetch");
		close(lk);
		return PB_UNKNOWN_KEY;
	}
	now = now_epoch();
	stamp = read_stamp(c);
	if (stamp >= 0 && stamp <= now + FUTURE_SLACK &&
	    now - stamp < PB_JWKS_REFETCH_INTERVAL) {
		/* Another login refetched moments ago: its keys, if it got
		 * any, are in the cache. */
		if (load_cache(c, now, &cached, &fetched_at) &&
		    fetched_at >= stamp) {
			note(c, "refetched %llds ago; using those keys",
			    age_of(now, stamp));
			*out = cached;
			ret = PB_OK;
		} else {
			pb_jwks_free(cached);
			note(c, "last refetch %llds ago; at most one per %ds",
			    age_of(now, stamp), PB_JWKS_REFETCH_INTERVAL);
		}
		close(lk);
		return ret;
	}
	/* Stamped before the attempt, so failures count too. */
	if (write_stamp(c, now, why, sizeof(why)) != 0) {
		note(c, "%s; no refetch", why);
		close(lk);
		return PB_UNKNOWN_KEY;
	}
	if (fetch_and_store(c, now, out) == 0)
		ret = PB_OK;
	close(lk);
	return ret;
}

enum pb_reason
pb_keys_refresh_for_kid(const struct pb_config *cfg, struct pb_jwks **out,
    char *detail, size_t detail_len)
{
	struct cache c;
	enum pb_reason r;
	char why[384];

	*out = NULL;
	if (detail_len > 0)
		detail[0] = '\0';
	if (cfg->jwks.url == NULL || cfg->jwks.file != NULL) {
		snprintf(detail, detail_len, "no jwks.url to refetch");
		return PB_UNKNOWN_KEY;
	}
	cache_init(&c, cfg, detail, detail_len);
	if (cache_names(&c) != 0) {
		note(&c, "cannot hash jwks.url");
		return PB_UNKNOWN_KEY;
	}
	why[0] = '\0';
	if (open_dir(&c, !c.tool, why, sizeof(why)) != 0)
		note(&c, "cache ignored: %s", why);
	if (c.tool || c.dirfd < 0)
		r = refetch_read_only(&c, out);
	else
		r = refetch_shared(&c, out);
	cache_done(&c);
	if (r != PB_OK) {
		pb_jwks_free(*out);
		*out = NULL;
	}
	return r;
}

/* ------------------------------------------------------------ admin tool */

enum pb_reason
pb_cache_fill(const struct pb_config *cfg, char *detail, size_t detail_len)
{
	struct pb_jwks *keys = NULL;
	struct cache c;
	enum pb_reason ret = PB_JWKS_UNAVAILABLE;
	char why[640], *body = NULL;
	size_t len;
	int lk = -1, r;

	if (detail_len > 0)
		detail[0] = '\0';
	if (cfg->jwks.file != NULL || cfg->jwks.url == NULL) {
		snprintf(detail, detail_len, "the policy uses jwks.file %s: "
		    "nothing to fetch", cfg->jwks.file != NULL ?
		    cfg->jwks.file : "(none)");
		return PB_CONFIG;
	}
	cache_init(&c, cfg, detail, detail_len);
	if (cache_names(&c) != 0) {
		note(&c, "cannot hash jwks.url");
		return PB_JWKS_UNAVAILABLE;
	}
	if (cfg->jwks.cache != NULL && cfg->jwks.cache[0] == '/' &&
	    mkdir(cfg->jwks.cache, 0755) != 0 && errno != EEXIST) {
		note(&c, "cannot create %s: %s", cfg->jwks.cache,
		    pb_errstr(errno, why, sizeof(why)));
		return PB_JWKS_UNAVAILABLE;
	}
	/* The tool writes: the writer's rules, whatever jwks.writer says. */
	why[0] = '\0';
	if (open_dir(&c, true, why, sizeof(why)) != 0) {
		note(&c, "%s", why);
		goto out;
	}
	if ((lk = lock_open(&c, why, sizeof(why))) < 0) {
		note(&c, "%s", why);
		goto out;
	}
	if ((r = lock_wait(&c, lk)) != 0) {
		note(&c, r > 0 ? "timed out waiting for the cache lock" :
		    "cannot lock the cache");
		goto out;
	}
	if (fetch_keys(&c, &keys, &body, &len, why, sizeof(why)) != 0) {
		note(&c, "%s", why);
		goto out;
	}
	if (write_cache(&c, body, len, now_epoch(), why, sizeof(why)) != 0) {
		note(&c, "%s", why);
		goto out;
	}
	snprintf(detail, detail_len, "wrote %zu keys to %s/%s",
	    pb_jwks_count(keys), cfg->jwks.cache, c.name);
	ret = PB_OK;
out:
	if (lk >= 0)
		close(lk);
	free(body);
	pb_jwks_free(keys);
	cache_done(&c);
	return ret;
}

int
pb_cache_dir_judge(const struct pb_config *cfg, uid_t uid, char *why,
    size_t whylen)
{
	struct cache c;
	int r;

	cache_init(&c, cfg, NULL, 0);
	c.euid = uid;
	r = open_dir(&c, !c.tool, why, whylen);
	cache_done(&c);
	return r;
}
