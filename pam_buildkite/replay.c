/*
 * replay.c - the jti replay store of token.single_use (see replay.h for
 * the layout).
 *
 * Why files and O_EXCL: every backend of the host is its own process,
 * started afresh for each connection, so the store must live in the file
 * system, and create-if-absent is the one operation the kernel already
 * makes atomic across processes. No lock, no daemon, no shared memory:
 * of N concurrent logins with one token, exactly one open() creates the
 * entry and the others get EEXIST.
 *
 * Why the expiry is the mtime: a sweep decides from one fstatat() per
 * entry, without opening it. futimens() also moves the ctime to the time
 * of the record, so an entry whose mtime is after its ctime carries the
 * expiry we set; any other entry (a record cut short between open and
 * futimens, or a file someone rewrote, which resets both times) is kept
 * PB_REPLAY_GRACE after its ctime, longer than any token can stay valid.
 * An entry is deleted PB_REPLAY_SWEEP_MARGIN after that, so a login that
 * read the clock before the token expired but reaches the store late (a
 * slow key fetch) still finds the entry.
 *
 * Why no fsync: after a crash of the host an entry may be lost, and the
 * token it held could be used once more until exp + leeway (5.5 minutes
 * after issue for Buildkite's default 300s tokens). Syncing
 * the shard directory would cost a journal commit on every login; a
 * crash already ends every session, and the window is the token's own
 * lifetime. The trade-off is documented in pam_buildkite.yaml(5).
 *
 * Trust: whoever can write replay_dir can delete entries (and replay
 * tokens) or create them (and refuse logins), so the directory and each
 * shard must be owned by root or the module's user and not be group- or
 * world-writable, as for the JWKS cache. Every failure to check or write
 * the store refuses the login (PB_CONFIG), never skips the check.
 */
#include "config.h"
#include "sha256.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "msg.h"
#include "read_file.h"
#include "replay.h"
#include "trusted_file.h"

/* One entry's names: shard "hh" and file "<64 hex>". */
struct entry {
	char shard[3];
	char name[65];
};

/* SHA-256 of issuer, NUL, jti: the issuer has no NUL, so two different
 * (issuer, jti) pairs never hash the same input, and a jti of any bytes
 * ("../", "/", newlines) becomes 64 hex digits. */
static int
entry_names(const char *issuer, const char *jti, size_t jti_len,
    struct entry *e)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256_CTX ctx;

	if (SHA256_Init(&ctx) != 1 ||
	    SHA256_Update(&ctx, issuer, strlen(issuer) + 1) != 1 ||
	    SHA256_Update(&ctx, jti, jti_len) != 1 ||
	    SHA256_Final(md, &ctx) != 1)
		return -1;
	pb_hex(md, SHA256_DIGEST_LENGTH, e->name);
	memcpy(e->shard, e->name, 2);
	e->shard[2] = '\0';
	return 0;
}

/* Only names of this form are ours; a sweep leaves anything else alone. */
static bool
is_entry_name(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

/* The time from which an entry may be deleted (see the top comment). */
static long long
removable_at(const struct stat *st)
{
	const struct timespec *m = &st->st_mtim, *c = &st->st_ctim;

	if (m->tv_sec > c->tv_sec ||
	    (m->tv_sec == c->tv_sec && m->tv_nsec > c->tv_nsec))
		return (long long)m->tv_sec + PB_REPLAY_SWEEP_MARGIN;
	return (long long)c->tv_sec + PB_REPLAY_GRACE + PB_REPLAY_SWEEP_MARGIN;
}

/* Opens name (relative to at, or from / when at is AT_FDCWD) as a
 * directory of the store and judges it (trusted_file.h): a real
 * directory, not a symbolic link, not group- or world-writable, and
 * (when owner_rule) owned by root or us; from /, every directory above
 * it too. Returns the descriptor, -2 when it does not exist (errno
 * ENOENT, nothing in detail), or -1 with detail saying why, shown as
 * path. */
static int
open_store_dir(int at, const char *name, const char *path, bool owner_rule,
    char *detail, size_t detail_len)
{
	unsigned flags = PB_TRUST_DIR | PB_TRUST_NOFOLLOW |
	    (owner_rule ? 0 : PB_TRUST_ANY_OWNER);
	char why[PB_TRUST_WHY_MAX];
	struct stat st;
	int fd;

	if (at == AT_FDCWD)
		fd = pb_trusted_open(name, flags, geteuid(), &st, why,
		    sizeof(why));
	else
		fd = pb_trusted_openat(at, name, flags, geteuid(), &st, why,
		    sizeof(why));
	if (fd < 0 && errno == ENOENT)
		return -2;
	if (fd < 0)
		pb_msg(detail, detail_len, "token.single_use: replay "
		    "directory %s: %s", path, why);
	return fd < 0 ? -1 : fd;
}

/* Deletes the removable entries of the shard open at shardfd, looking at
 * no more than max names; skip (may be NULL) is left alone. */
static long
sweep_fd(int shardfd, long long now, size_t max, const char *skip)
{
	struct dirent *de;
	struct stat st;
	size_t seen = 0;
	long removed = 0;
	DIR *d;
	int fd;

	/* fdopendir takes the descriptor: give it its own. */
	fd = pb_openat(shardfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while (seen < max && (de = readdir(d)) != NULL) {
		seen++;
		if (!is_entry_name(de->d_name) ||
		    (skip != NULL && strcmp(de->d_name, skip) == 0))
			continue;
		if (fstatat(shardfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0
		    || !S_ISREG(st.st_mode))
			continue;
		/* Another sweep may get there first: ENOENT is fine. */
		if (now >= removable_at(&st) &&
		    unlinkat(shardfd, de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

long
pb_replay_sweep(const char *dir, unsigned shard, long long now, size_t max)
{
	char name[3], scratch[8];
	int dirfd, shardfd;
	long n;

	if (dir == NULL || shard > 255)
		return -1;
	snprintf(name, sizeof(name), "%02x", shard);
	dirfd = open_store_dir(AT_FDCWD, dir, dir, true, scratch,
	    sizeof(scratch));
	if (dirfd < 0)
		return dirfd == -2 ? 0 : -1;
	shardfd = open_store_dir(dirfd, name, name, true, scratch,
	    sizeof(scratch));
	close(dirfd);
	if (shardfd < 0)
		return shardfd == -2 ? 0 : -1;
	n = sweep_fd(shardfd, now, max, NULL);
	close(shardfd);
	return n;
}

/* The jti is in the store: say since when, from the entry's ctime. */
static enum pb_reason
used_before(int shardfd, const struct entry *e, char *detail,
    size_t detail_len)
{
	struct stat st;
	char ts[32];

	if (fstatat(shardfd, e->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		pb_iso_time(ts, sizeof(ts), (long long)st.st_ctim.tv_sec);
		pb_msg(detail, detail_len, "jti already used on this host at "
		    "%s (token.single_use)", ts);
	} else {
		pb_msg(detail, detail_len, "jti already used on this host "
		    "(token.single_use)");
	}
	return PB_REPLAY;
}

/* Creates the entry: the atomic step. */
static enum pb_reason
create_entry(int shardfd, const char *dir, const struct entry *e,
    long long expires, char *detail, size_t detail_len)
{
	struct timespec ts[2];
	char eb[128];
	int fd, err;

	fd = pb_openat(shardfd, e->name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0 && errno == EEXIST)
		return used_before(shardfd, e, detail, detail_len);
	if (fd < 0) {
		pb_msg(detail, detail_len, "token.single_use: cannot record "
		    "the jti in %s/%s: %s", dir, e->shard,
		    pb_errstr(errno, eb, sizeof(eb)));
		return PB_CONFIG;
	}
	ts[0].tv_sec = ts[1].tv_sec = (time_t)expires;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (futimens(fd, ts) != 0) {
		err = errno;
		/* Without its expiry the entry would still be kept (for
		 * PB_REPLAY_GRACE), but the login fails here, so the token
		 * was not used: take the entry back. */
		(void)unlinkat(shardfd, e->name, 0);
		close(fd);
		pb_msg(detail, detail_len, "token.single_use: cannot set the "
		    "expiry of %s/%s/%s: %s", dir, e->shard, e->name,
		    pb_errstr(err, eb, sizeof(eb)));
		return PB_CONFIG;
	}
	/* Nothing was written: close can only fail on file systems that
	 * report deferred errors here (NFS); then the record is in doubt
	 * and the login fails closed. */
	if (close(fd) != 0 && errno != EINTR) {
		err = errno;
		(void)unlinkat(shardfd, e->name, 0);
		pb_msg(detail, detail_len, "token.single_use: cannot record "
		    "the jti in %s/%s: %s", dir, e->shard,
		    pb_errstr(err, eb, sizeof(eb)));
		return PB_CONFIG;
	}
	return PB_OK;
}

/* Opens the entry's shard; with create, makes it (0700) when missing.
 * Returns the descriptor, -2 when missing and not created, -1 on error
 * (detail filled). */
static int
open_shard(int dirfd, const char *dir, const struct entry *e, bool create,
    bool owner_rule, char *detail, size_t detail_len)
{
	char path[PATH_MAX + 8], eb[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, e->shard);
	fd = open_store_dir(dirfd, e->shard, path, owner_rule, detail,
	    detail_len);
	if (fd != -2 || !create)
		return fd;
	if (mkdirat(dirfd, e->shard, 0700) != 0 && errno != EEXIST) {
		pb_msg(detail, detail_len, "token.single_use: cannot create "
		    "%s: %s", path, pb_errstr(errno, eb, sizeof(eb)));
		return -1;
	}
	fd = open_store_dir(dirfd, e->shard, path, owner_rule, detail,
	    detail_len);
	if (fd == -2) {
		pb_msg(detail, detail_len, "token.single_use: %s vanished "
		    "as it was created", path);
		return -1;
	}
	return fd;
}

enum pb_reason
pb_replay_jti(const char *dir, const char *issuer, const char *jti,
    size_t jti_len, long long expires, long long now, bool record,
    char *detail, size_t detail_len)
{
	/* explain runs as whoever asks, often root: it may look at a store
	 * owned by the PostgreSQL user. Logins hold to the owner rule. */
	bool owner_rule = record || geteuid() != 0;
	enum pb_reason r;
	struct entry e;
	char ts[32];
	int dirfd, shardfd;

	if (detail_len > 0)
		detail[0] = '\0';
	if (dir == NULL || dir[0] != '/') {
		pb_msg(detail, detail_len, "token.single_use: replay_dir is "
		    "not an absolute path");
		return PB_CONFIG;
	}
	if (jti_len == 0 || jti_len > PB_REPLAY_JTI_MAX) {
		pb_msg(detail, detail_len, "jti is %zu bytes, not 1 to %d "
		    "(token.single_use)", jti_len, PB_REPLAY_JTI_MAX);
		return PB_REPLAY;
	}
	if (expires <= now) {
		pb_msg(detail, detail_len, "token expired before its jti "
		    "could be recorded");
		return PB_EXPIRED;
	}
	if (issuer == NULL || entry_names(issuer, jti, jti_len, &e) != 0) {
		pb_msg(detail, detail_len, "token.single_use: cannot hash "
		    "the jti");
		return PB_CONFIG;
	}
	dirfd = open_store_dir(AT_FDCWD, dir, dir, owner_rule, detail,
	    detail_len);
	if (dirfd == -2) {
		pb_msg(detail, detail_len, "token.single_use: replay "
		    "directory %s does not exist; create it owned by the "
		    "PostgreSQL user, mode 0700", dir);
		return PB_CONFIG;
	}
	if (dirfd < 0)
		return PB_CONFIG;
	shardfd = open_shard(dirfd, dir, &e, record, owner_rule, detail,
	    detail_len);
	close(dirfd);
	if (shardfd == -1)
		return PB_CONFIG;

	pb_iso_time(ts, sizeof(ts), expires);
	if (!record) {
		struct stat st;
		char eb[128];

		if (shardfd >= 0 && fstatat(shardfd, e.name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0) {
			r = used_before(shardfd, &e, detail, detail_len);
		} else if (shardfd >= 0 && errno != ENOENT) {
			pb_msg(detail, detail_len, "token.single_use: cannot "
			    "look up %s/%s/%s: %s", dir, e.shard, e.name,
			    pb_errstr(errno, eb, sizeof(eb)));
			r = PB_CONFIG;
		} else {
			pb_msg(detail, detail_len, "jti not used on this host "
			    "yet; a login would record it as %s/%s/%s, kept "
			    "until %s", dir, e.shard, e.name, ts);
			r = PB_OK;
		}
		if (shardfd >= 0)
			close(shardfd);
		return r;
	}

	r = create_entry(shardfd, dir, &e, expires, detail, detail_len);
	if (r == PB_OK) {
		pb_msg(detail, detail_len, "recorded the jti as %s/%s/%s, kept "
		    "until %s", dir, e.shard, e.name, ts);
		/* Bounded housekeeping: this shard only. Its failure costs
		 * disk space, never a login. */
		(void)sweep_fd(shardfd, now, PB_REPLAY_SWEEP_MAX, e.name);
	}
	close(shardfd);
	return r;
}

enum pb_reason
pb_replay_check(const struct pb_config *cfg, const json_t *claims,
    long long now, bool record, char *detail, size_t detail_len)
{
	const json_t *jti = json_object_get(claims, "jti");
	const json_t *exp = json_object_get(claims, "exp");
	long long expires, leeway = cfg->token.leeway;

	if (detail_len > 0)
		detail[0] = '\0';
	if (jti == NULL || json_is_null(jti)) {
		pb_msg(detail, detail_len, "token has no jti, so "
		    "token.single_use cannot hold it to one use");
		return PB_REPLAY;
	}
	if (!json_is_string(jti)) {
		pb_msg(detail, detail_len, "jti is not a string "
		    "(token.single_use)");
		return PB_REPLAY;
	}
	if (json_string_length(jti) == 0) {
		pb_msg(detail, detail_len, "jti is empty (token.single_use)");
		return PB_REPLAY;
	}
	if (json_string_length(jti) > PB_REPLAY_JTI_MAX) {
		pb_msg(detail, detail_len, "jti is %zu bytes, over the %d "
		    "token.single_use accepts", json_string_length(jti),
		    PB_REPLAY_JTI_MAX);
		return PB_REPLAY;
	}
	if (!json_is_integer(exp)) {
		pb_msg(detail, detail_len, "token has no exp "
		    "(token.single_use)");
		return PB_MALFORMED;
	}
	if (leeway < 0 || leeway > 300)
		leeway = 300;
	if (now > LLONG_MAX - PB_REPLAY_GRACE) {
		pb_msg(detail, detail_len, "token.single_use: the time %lld is "
		    "out of range", now);
		return PB_CONFIG;
	}
	/* The entry lives until the token stops being valid here: exp +
	 * leeway. Verified claims keep that within now + PB_REPLAY_GRACE
	 * (iat <= now + leeway, exp - iat <= max_lifetime); the bound also
	 * keeps the sum from overflowing. */
	expires = json_integer_value(exp);
	if (expires > now + PB_REPLAY_GRACE - leeway)
		expires = now + PB_REPLAY_GRACE;
	else
		expires += leeway;
	return pb_replay_jti(cfg->token.replay_dir, cfg->token.issuer,
	    json_string_value(jti), json_string_length(jti), expires, now,
	    record, detail, detail_len);
}
