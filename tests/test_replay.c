/*
 * test_replay.c - the jti replay store of token.single_use: records and
 * replays, jti values an attacker might choose, the sweep (never an
 * unexpired entry, always an expired one), directories the store must
 * refuse (mode, owner, symbolic links, unwritable, read-only, full),
 * processes racing to record one jti, and the whole login through
 * pb_authn_run and explain's pb_authn_explain with tokens from
 * tests/mint-token.
 *
 * The unwritable, read-only and full file system checks need root (a
 * child drops to nobody, or mounts a small tmpfs in a mount namespace of
 * its own); without root they are skipped with the reason, and under
 * PB_REQUIRE_ALL=1 (CI) a skip is a failure.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "authn.h"
#include "policy.h"
#include "replay.h"
#include "tap.h"

#define ISS "https://agent.buildkite.com"
#define AUD "postgres://db.test"
#define ORG "acme-inc"
#define NOBODY 65534

/* Short enough that every path built from them fits (-Wformat-truncation). */
#define TMP_LEN 512
#define STORE_LEN 768
#define PATH_LEN 1536

static char tmp[TMP_LEN];
static char mint[PATH_MAX];
static bool root;

/* ------------------------------------------------------------ helpers */

/* A skipped check: a failure when the suite must run everything. */
static void
skip(const char *what, const char *why)
{
	if (getenv("PB_REQUIRE_ALL") != NULL &&
	    strcmp(getenv("PB_REQUIRE_ALL"), "1") == 0) {
		ok(0, "%s (cannot run: %s; PB_REQUIRE_ALL=1)", what, why);
		return;
	}
	printf("ok %d - %s # SKIP %s\n", ++tap_n, what, why);
	fflush(stdout);
}

static void
path_in(char *buf, size_t len, const char *rel)
{
	snprintf(buf, len, "%s/%s", tmp, rel);
}

/* A fresh store directory tmp/rel, mode 0700. */
static void
mkstore(char *buf, size_t len, const char *rel)
{
	path_in(buf, len, rel);
	if (mkdir(buf, 0700) != 0 || chmod(buf, 0700) != 0)
		diag("mkdir %s: %s", buf, strerror(errno));
}

/* The entry name the store should use: hex SHA-256 of iss NUL jti. */
static void
entry_name(const char *iss, const char *jti, size_t jti_len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE], *in;
	unsigned int n = 0, i;
	size_t il = strlen(iss) + 1;

	in = malloc(il + jti_len + 1);
	memcpy(in, iss, il);
	memcpy(in + il, jti, jti_len);
	EVP_Digest(in, il + jti_len, md, &n, EVP_sha256(), NULL);
	free(in);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void
entry_path(char *buf, size_t len, const char *store, const char *jti)
{
	char name[65];

	entry_name(ISS, jti, strlen(jti), name);
	snprintf(buf, len, "%s/%.2s/%s", store, name, name);
}

static unsigned
shard_of(const char *jti)
{
	char name[65];

	entry_name(ISS, jti, strlen(jti), name);
	return (unsigned)strtoul((char[]){ name[0], name[1], '\0' }, NULL,
	    16);
}

static int count_n;
static int
count_cb(const char *p, const struct stat *st, int type, struct FTW *f)
{
	(void)p;
	(void)st;
	(void)f;
	if (type == FTW_F)
		count_n++;
	return 0;
}

/* Regular files (and anything not a directory) under dir. */
static int
count_files(const char *dir)
{
	count_n = 0;
	if (nftw(dir, count_cb, 16, FTW_PHYS) != 0)
		return -1;
	return count_n;
}

static int
rm_cb(const char *p, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)f;
	if (type == FTW_DP || type == FTW_D)
		chmod(p, 0700);
	return remove(p) == 0 || errno == ENOENT ? 0 : 0;
}

static void
rm_rf(const char *p)
{
	nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static enum pb_reason
rec(const char *store, const char *jti, long long expires, long long now,
    char *d, size_t dl)
{
	return pb_replay_jti(store, ISS, jti, strlen(jti), expires, now, true,
	    d, dl);
}

static enum pb_reason
look(const char *store, const char *jti, long long now, char *d, size_t dl)
{
	return pb_replay_jti(store, ISS, jti, strlen(jti), now + 300, now,
	    false, d, dl);
}

/* Runs argv, its stdout into out (NUL-terminated); 0 when it exited 0. */
static int
run_cmd(const char *argv[], char *out, size_t outlen)
{
	int fds[2], status;
	size_t used = 0;
	ssize_t k;
	pid_t pid;

	if (pipe(fds) != 0)
		return -1;
	if ((pid = fork()) == 0) {
		close(fds[0]);
		dup2(fds[1], 1);
		close(fds[1]);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(fds[1]);
	while (used < outlen - 1 &&
	    (k = read(fds[0], out + used, outlen - 1 - used)) > 0)
		used += (size_t)k;
	close(fds[0]);
	out[used] = '\0';
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Child checks: run fn in a child process (which may drop privileges or
 * turn faults on), which reports "1 name", "0 name" or "S why name"
 * lines on a pipe; each becomes a check here. */
static int child_fd = -1;

static __attribute__((format(printf, 2, 3))) void
cok(int pass, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "%d ", pass ? 1 : 0);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	dprintf(child_fd, "%s\n", line);
}

static void
in_child(void (*fn)(void *), void *arg, const char *name)
{
	char buf[16384], *p, *nl;
	size_t used = 0;
	int fds[2], status;
	ssize_t k;
	pid_t pid;

	fflush(stdout);
	if (pipe(fds) != 0) {
		ok(0, "%s: pipe", name);
		return;
	}
	if ((pid = fork()) == 0) {
		close(fds[0]);
		child_fd = fds[1];
		fn(arg);
		_exit(0);
	}
	close(fds[1]);
	while (used < sizeof(buf) - 1 &&
	    (k = read(fds[0], buf + used, sizeof(buf) - 1 - used)) > 0)
		used += (size_t)k;
	close(fds[0]);
	waitpid(pid, &status, 0);
	buf[used] = '\0';
	for (p = buf; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		*nl = '\0';
		if (p[0] == 'S') {
			char *tab = strchr(p, '\t');

			if (tab != NULL) {
				*tab = '\0';
				skip(tab + 1, p + 2);
			}
		} else {
			ok(p[0] == '1', "%s", p + 2);
		}
	}
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "%s: the child exited cleanly", name);
}

static bool
drop_to_nobody(void)
{
	return setresgid(NOBODY, NOBODY, NOBODY) == 0 &&
	    setresuid(NOBODY, NOBODY, NOBODY) == 0;
}

/* ------------------------------------------------------ record, replay */

static void
test_record(void)
{
	char store[STORE_LEN], p[PATH_LEN], d[1200], name[65];
	long long now = (long long)time(NULL);
	enum pb_reason r;
	struct stat st;

	mkstore(store, sizeof(store), "basic");
	r = rec(store, "jti-1", now + 330, now, d, sizeof(d));
	ok(r == PB_OK && strstr(d, "recorded the jti as ") != NULL,
	    "a new jti is recorded (%s)", d);
	entry_name(ISS, "jti-1", 5, name);
	snprintf(p, sizeof(p), "%s/%.2s/%s", store, name, name);
	ok(lstat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0 &&
	    (st.st_mode & 07777) == 0600 && st.st_uid == geteuid(),
	    "... as an empty 0600 file <dir>/<hh>/<hex SHA-256(iss NUL jti)>");
	ok_eq(st.st_mtime, now + 330, "... whose mtime is the expiry");
	ok(strstr(d, p) != NULL, "... and the detail names it");
	snprintf(p, sizeof(p), "%s/%.2s", store, name);
	ok(lstat(p, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & 07777) == 0700, "the shard directory is 0700");

	r = rec(store, "jti-1", now + 330, now, d, sizeof(d));
	ok_eq(r, PB_REPLAY, "the same jti again is refused as replay");
	ok(strstr(d, "jti already used on this host at ") != NULL &&
	    strstr(d, "Z") != NULL, "... saying when it was used (%s)", d);
	ok(count_files(store) == 1, "... and the store still holds 1 entry");

	r = look(store, "jti-1", now, d, sizeof(d));
	ok(r == PB_REPLAY && strstr(d, "already used") != NULL,
	    "a look-up (explain) finds the used jti");
	r = look(store, "jti-2", now, d, sizeof(d));
	ok(r == PB_OK && strstr(d, "would record it as ") != NULL,
	    "a look-up of a new jti says it would be recorded (%s)", d);
	entry_path(p, sizeof(p), store, "jti-2");
	ok(count_files(store) == 1 && access(p, F_OK) != 0,
	    "... and records nothing");
	r = rec(store, "jti-2", now + 330, now, d, sizeof(d));
	ok_eq(r, PB_OK, "a second jti is recorded");
	r = pb_replay_jti(store, "https://other.example", "jti-1", 5,
	    now + 330, now, true, d, sizeof(d));
	ok_eq(r, PB_OK, "the same jti of another issuer is another entry");
	r = pb_replay_jti(store, "ab", "c", 1, now + 330, now, true, d,
	    sizeof(d));
	ok_eq(r, PB_OK, "issuer ab, jti c recorded");
	r = pb_replay_jti(store, "a", "bc", 2, now + 330, now, true, d,
	    sizeof(d));
	ok_eq(r, PB_OK, "issuer a, jti bc is not the same entry");
	ok(count_files(store) == 5, "5 entries for 5 distinct (iss, jti)");

	r = rec(store, "jti-late", now, now, d, sizeof(d));
	ok(r == PB_EXPIRED && count_files(store) == 5,
	    "an expiry not after now is refused as expired, not recorded");
}

static void
test_jti_values(void)
{
	static const char weird[] = "\x01\n\t\"\\\xff\xfe %s%n $(id) `id`";
	char store[STORE_LEN], p[PATH_LEN], d[1200], big[PB_REPLAY_JTI_MAX + 2];
	long long now = (long long)time(NULL);
	enum pb_reason r;
	char *huge;
	int before;

	mkstore(store, sizeof(store), "weird");
	r = rec(store, "../../escape", now + 60, now, d, sizeof(d));
	path_in(p, sizeof(p), "escape");
	ok(r == PB_OK && access(p, F_OK) != 0 && count_files(store) == 1,
	    "jti ../../escape is recorded inside the store, nowhere else");
	ok(rec(store, "../../escape", now + 60, now, d, sizeof(d)) ==
	    PB_REPLAY, "... and replaying it is refused");
	r = rec(store, "/etc/passwd", now + 60, now, d, sizeof(d));
	ok(r == PB_OK && count_files(store) == 2,
	    "jti /etc/passwd is an entry of the store");
	ok(rec(store, weird, now + 60, now, d, sizeof(d)) == PB_OK &&
	    rec(store, weird, now + 60, now, d, sizeof(d)) == PB_REPLAY,
	    "a jti of control bytes, quotes, 0xff and %%n: once, then replay");
	ok(pb_replay_jti(store, ISS, "a", 1, now + 60, now, true, d,
	    sizeof(d)) == PB_OK &&
	    pb_replay_jti(store, ISS, "a\0b", 3, now + 60, now, true, d,
	    sizeof(d)) == PB_OK &&
	    pb_replay_jti(store, ISS, "a\0c", 3, now + 60, now, true, d,
	    sizeof(d)) == PB_OK &&
	    pb_replay_jti(store, ISS, "a\0b", 3, now + 60, now, true, d,
	    sizeof(d)) == PB_REPLAY,
	    "a NUL inside a jti counts: a, a\\0b, a\\0c are three jti");

	memset(big, 'x', sizeof(big));
	before = count_files(store);
	ok(pb_replay_jti(store, ISS, big, PB_REPLAY_JTI_MAX, now + 60, now,
	    true, d, sizeof(d)) == PB_OK,
	    "a jti of %d bytes is recorded", PB_REPLAY_JTI_MAX);
	r = pb_replay_jti(store, ISS, big, PB_REPLAY_JTI_MAX + 1, now + 60,
	    now, true, d, sizeof(d));
	ok(r == PB_REPLAY && strstr(d, "257 bytes") != NULL,
	    "one of %d bytes is refused (%s)", PB_REPLAY_JTI_MAX + 1, d);
	huge = malloc(1 << 20);
	memset(huge, 'y', 1 << 20);
	ok(pb_replay_jti(store, ISS, huge, 1 << 20, now + 60, now, true, d,
	    sizeof(d)) == PB_REPLAY, "so is one of 1 MiB");
	free(huge);
	ok(pb_replay_jti(store, ISS, "", 0, now + 60, now, true, d,
	    sizeof(d)) == PB_REPLAY, "and an empty one");
	ok(count_files(store) == before + 1,
	    "... none of them left an entry behind");
}

/* pb_replay_check: the jti and exp as they come in the claims. */
static void
test_claims(void)
{
	struct pb_config cfg;
	char store[STORE_LEN], p[PATH_LEN], d[1200], big[301];
	long long now = (long long)time(NULL);
	enum pb_reason r;
	struct stat st;
	json_t *c;

	mkstore(store, sizeof(store), "claims");
	memset(&cfg, 0, sizeof(cfg));
	cfg.token.issuer = (char *)(uintptr_t)ISS;
	cfg.token.leeway = 30;
	cfg.token.max_lifetime = 900;
	cfg.token.single_use = true;
	cfg.token.replay_dir = store;

	c = json_pack("{s:s, s:I}", "jti", "c-1", "exp", (json_int_t)(now +
	    300));
	r = pb_replay_check(&cfg, c, now, true, d, sizeof(d));
	entry_path(p, sizeof(p), store, "c-1");
	ok(r == PB_OK && stat(p, &st) == 0 && st.st_mtime == now + 330,
	    "claims: the entry is kept until exp + leeway");
	ok(pb_replay_check(&cfg, c, now, true, d, sizeof(d)) == PB_REPLAY,
	    "claims: the jti is refused the second time");
	json_decref(c);

	c = json_pack("{s:I}", "exp", (json_int_t)(now + 300));
	r = pb_replay_check(&cfg, c, now, true, d, sizeof(d));
	ok(r == PB_REPLAY && strstr(d, "no jti") != NULL,
	    "a token without jti is refused as replay (%s)", d);
	json_object_set_new(c, "jti", json_null());
	ok(pb_replay_check(&cfg, c, now, true, d, sizeof(d)) == PB_REPLAY,
	    "so is jti null");
	json_object_set_new(c, "jti", json_integer(7));
	r = pb_replay_check(&cfg, c, now, true, d, sizeof(d));
	ok(r == PB_REPLAY && strstr(d, "not a string") != NULL,
	    "and jti 7 (%s)", d);
	json_object_set_new(c, "jti", json_string(""));
	r = pb_replay_check(&cfg, c, now, true, d, sizeof(d));
	ok(r == PB_REPLAY && strstr(d, "empty") != NULL, "and jti \"\"");
	memset(big, 'z', 300);
	big[300] = '\0';
	json_object_set_new(c, "jti", json_string(big));
	r = pb_replay_check(&cfg, c, now, true, d, sizeof(d));
	ok(r == PB_REPLAY && strstr(d, "300 bytes") != NULL,
	    "and a jti of 300 bytes (%s)", d);
	ok(count_files(store) == 1, "... none of them recorded anything");

	json_object_set_new(c, "jti", json_string("c-far"));
	json_object_set_new(c, "exp", json_integer(LLONG_MAX));
	r = pb_replay_check(&cfg, c, now, true, d, sizeof(d));
	entry_path(p, sizeof(p), store, "c-far");
	ok(r == PB_OK && stat(p, &st) == 0 &&
	    st.st_mtime == now + PB_REPLAY_GRACE,
	    "an absurd exp is kept no longer than PB_REPLAY_GRACE");
	json_object_set_new(c, "jti", json_string("c-clock"));
	ok(pb_replay_check(&cfg, c, LLONG_MAX - 5, true, d, sizeof(d)) ==
	    PB_CONFIG, "a clock at the end of time is a config error");
	json_decref(c);

	c = json_pack("{s:s, s:I}", "jti", "c-2", "exp", (json_int_t)(now +
	    300));
	cfg.token.replay_dir = NULL;
	ok(pb_replay_check(&cfg, c, now, true, d, sizeof(d)) == PB_CONFIG,
	    "no replay_dir: config error");
	cfg.token.replay_dir = (char *)(uintptr_t)"relative/dir";
	r = pb_replay_check(&cfg, c, now, true, d, sizeof(d));
	ok(r == PB_CONFIG && strstr(d, "absolute") != NULL,
	    "a relative replay_dir: config error");
	json_decref(c);
}

/* ------------------------------------------------------------- sweep */

/* n jti named prefix<i> whose entries share one shard. */
static void
same_shard(const char *prefix, char out[][32], int n)
{
	unsigned want = 0;
	int found = 0, i;

	for (i = 0; found < n && i < 1000000; i++) {
		char j[32];

		snprintf(j, sizeof(j), "%s%d", prefix, i);
		if (found == 0)
			want = shard_of(j);
		if (shard_of(j) == want)
			snprintf(out[found++], 32, "%s", j);
	}
}

static void
test_sweep(void)
{
	char store[STORE_LEN], p[PATH_LEN], q[PATH_LEN], d[1200];
	char sh[20][32];
	long long now = (long long)time(NULL), T;
	int i, fd, deleted_unexpired = 0, kept_expired = 0, n_exp = 0;
	struct timespec ts[2];
	enum pb_reason r;
	unsigned s;
	long n;

	mkstore(store, sizeof(store), "sweep");

	/* One entry, swept at the edges of its removal time. */
	rec(store, "s-edge", now + 100, now, d, sizeof(d));
	s = shard_of("s-edge");
	n = pb_replay_sweep(store, s, now + 100 + PB_REPLAY_SWEEP_MARGIN - 1,
	    PB_REPLAY_SWEEP_MAX);
	ok(n == 0 && look(store, "s-edge", now, d, sizeof(d)) == PB_REPLAY,
	    "a sweep %ds after the expiry keeps the entry",
	    PB_REPLAY_SWEEP_MARGIN - 1);
	n = pb_replay_sweep(store, s, now + 100 + PB_REPLAY_SWEEP_MARGIN,
	    PB_REPLAY_SWEEP_MAX);
	ok(n == 1 && look(store, "s-edge", now, d, sizeof(d)) == PB_OK,
	    "a sweep %ds after it deletes it", PB_REPLAY_SWEEP_MARGIN);

	/* Entries whose expiry cannot be trusted: a bare file (a record
	 * cut short before futimens), and one whose times were reset to the
	 * past (rewritten by someone else). */
	snprintf(p, sizeof(p), "%s/00", store);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/00/%064d", store, 0);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	close(fd);
	rec(store, "s-tamper", now + 100, now, d, sizeof(d));
	entry_path(q, sizeof(q), store, "s-tamper");
	ts[0].tv_sec = ts[1].tv_sec = 1000;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	utimensat(AT_FDCWD, q, ts, 0);
	pb_replay_sweep(store, 0, now + 3600, PB_REPLAY_SWEEP_MAX);
	pb_replay_sweep(store, shard_of("s-tamper"), now + 3600,
	    PB_REPLAY_SWEEP_MAX);
	ok(access(p, F_OK) == 0, "an entry without its expiry (mtime not "
	    "after ctime) is kept an hour later");
	ok(access(q, F_OK) == 0, "so is an entry whose mtime went back to "
	    "1970 (a rewrite resets the ctime)");
	T = now + 2 + PB_REPLAY_GRACE + PB_REPLAY_SWEEP_MARGIN;
	pb_replay_sweep(store, 0, T, PB_REPLAY_SWEEP_MAX);
	pb_replay_sweep(store, shard_of("s-tamper"), T, PB_REPLAY_SWEEP_MAX);
	ok(access(p, F_OK) != 0 && access(q, F_OK) != 0,
	    "both are deleted PB_REPLAY_GRACE + margin after their ctime");

	/* What a sweep must never delete. */
	{
		static const char *const foreign[] = {
			"README", "00ab", "lost+found.txt",
			"ABCDEF0000000000000000000000000000000000000000000000000000000000",
			"0000000000000000000000000000000000000000000000000000000000000001.tmp",
		};
		char target[PATH_LEN];
		int kept = 0;
		size_t k;

		for (k = 0; k < sizeof(foreign) / sizeof(foreign[0]); k++) {
			snprintf(p, sizeof(p), "%s/00/%s", store, foreign[k]);
			close(open(p, O_WRONLY | O_CREAT, 0600));
		}
		snprintf(p, sizeof(p), "%s/00/%064d", store, 2);
		mkdir(p, 0700);
		path_in(target, sizeof(target), "sweep-target");
		close(open(target, O_WRONLY | O_CREAT, 0600));
		snprintf(p, sizeof(p), "%s/00/%064d", store, 3);
		if (symlink(target, p) != 0)
			diag("symlink: %s", strerror(errno));
		pb_replay_sweep(store, 0, LLONG_MAX / 2, PB_REPLAY_SWEEP_MAX);
		for (k = 0; k < sizeof(foreign) / sizeof(foreign[0]); k++) {
			snprintf(p, sizeof(p), "%s/00/%s", store, foreign[k]);
			kept += access(p, F_OK) == 0;
		}
		snprintf(p, sizeof(p), "%s/00/%064d", store, 2);
		kept += access(p, F_OK) == 0;
		snprintf(p, sizeof(p), "%s/00/%064d", store, 3);
		kept += faccessat(AT_FDCWD, p, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
		kept += access(target, F_OK) == 0;
		ok_eq(kept, 8, "a sweep leaves foreign names, directories, "
		    "symbolic links and their targets alone (%d of 8 kept)",
		    kept);
	}

	/* Many entries, one sweep of every shard at T: exactly those past
	 * expiry + margin go. */
	for (i = 0; i < 300; i++) {
		char j[32];

		snprintf(j, sizeof(j), "p%d", i);
		rec(store, j, now + 10 + (i * 37) % 1000, now, d, sizeof(d));
	}
	T = now + 500 + PB_REPLAY_SWEEP_MARGIN;
	for (s = 0; s < 256; s++)
		pb_replay_sweep(store, s, T, PB_REPLAY_SWEEP_MAX);
	for (i = 0; i < 300; i++) {
		long long exp = now + 10 + (i * 37) % 1000;
		bool expired = exp + PB_REPLAY_SWEEP_MARGIN <= T;
		char j[32];

		snprintf(j, sizeof(j), "p%d", i);
		r = look(store, j, now, d, sizeof(d));
		n_exp += expired;
		if (!expired && r != PB_REPLAY)
			deleted_unexpired++;
		if (expired && r != PB_OK)
			kept_expired++;
	}
	diag("300 entries, %d past expiry + margin at the sweep", n_exp);
	ok_eq(deleted_unexpired, 0, "the sweep deleted no unexpired entry "
	    "(%d)", deleted_unexpired);
	ok(kept_expired == 0 && n_exp > 0, "and every expired one (%d kept)",
	    kept_expired);

	/* A login sweeps the shard of its new entry. */
	same_shard("auto", sh, 3);
	rec(store, sh[0], now + 20, now, d, sizeof(d));
	T = now + 20 + PB_REPLAY_SWEEP_MARGIN;
	r = rec(store, sh[1], T + 100, T - 1, d, sizeof(d));
	ok(r == PB_OK && look(store, sh[0], now, d, sizeof(d)) == PB_REPLAY,
	    "a login 1s before an entry's removal time leaves it");
	r = rec(store, sh[2], T + 100, T, d, sizeof(d));
	ok(r == PB_OK && look(store, sh[0], now, d, sizeof(d)) == PB_OK &&
	    look(store, sh[1], now, d, sizeof(d)) == PB_REPLAY,
	    "a login at it deletes it, and keeps the unexpired one");

	/* The sweep's work is bounded. */
	same_shard("bound", sh, 20);
	for (i = 0; i < 20; i++)
		rec(store, sh[i], now + 20, now, d, sizeof(d));
	n = pb_replay_sweep(store, shard_of(sh[0]), T, 5);
	ok(n >= 0 && n <= 5, "a sweep limited to 5 names deletes at most 5 "
	    "(%ld)", n);
	n += pb_replay_sweep(store, shard_of(sh[0]), T, PB_REPLAY_SWEEP_MAX);
	ok_eq(n, 20, "an unlimited one the rest (%ld in all)", n);
	ok(pb_replay_sweep(store, 255, T, 10) >= 0 &&
	    pb_replay_sweep(store, 256, T, 10) == -1,
	    "shard 256 does not exist");
}

/* ------------------------------------------------------- directories */

static void
expect_config(const char *store, const char *want, const char *what)
{
	char d[1200];
	enum pb_reason r;

	r = rec(store, "dir-check", time(NULL) + 60, time(NULL), d,
	    sizeof(d));
	ok(r == PB_CONFIG && strstr(d, want) != NULL &&
	    strstr(d, "token.single_use") != NULL,
	    "%s: config error (%s)", what, d);
}

static void
test_dirs(void)
{
	char store[STORE_LEN], p[PATH_LEN], d[1200], name[65];
	long long now = (long long)time(NULL);
	enum pb_reason r;

	path_in(store, sizeof(store), "missing");
	expect_config(store, "does not exist", "a missing replay_dir");
	ok(access(store, F_OK) != 0, "... which is not created");

	path_in(store, sizeof(store), "a-file");
	close(open(store, O_WRONLY | O_CREAT, 0600));
	expect_config(store, "a-file: not a directory", "a file as replay_dir");

	mkstore(store, sizeof(store), "real");
	path_in(p, sizeof(p), "link");
	if (symlink(store, p) != 0)
		diag("symlink: %s", strerror(errno));
	expect_config(p, "a symbolic link", "a symbolic link as replay_dir");

	chmod(store, 0770);
	expect_config(store, "group- or world-writable (mode 0770)",
	    "a group-writable replay_dir");
	chmod(store, 0702);
	expect_config(store, "(mode 0702)", "a world-writable replay_dir");
	chmod(store, 01777);
	expect_config(store, "(mode 1777)", "a sticky /tmp-like replay_dir");
	chmod(store, 0700);
	ok(count_files(store) == 0, "... and none recorded anything");

	/* A shard someone else could write. */
	r = rec(store, "dir-check", now + 60, now, d, sizeof(d));
	entry_name(ISS, "dir-check", 9, name);
	snprintf(p, sizeof(p), "%s/%.2s", store, name);
	chmod(p, 0777);
	expect_config(store, p, "a world-writable shard (named in the detail)");
	ok(r == PB_OK && look(store, "dir-check", now, d, sizeof(d)) ==
	    PB_CONFIG, "... a look-up refuses it too");
	chmod(p, 0700);
	rm_rf(p);
	if (symlink(tmp, p) != 0)
		diag("symlink: %s", strerror(errno));
	expect_config(store, "a symbolic link", "a shard that is a symbolic "
	    "link");
	unlink(p);
	close(open(p, O_WRONLY | O_CREAT, 0600));
	expect_config(store, ": not a directory", "a shard that is a file");
	unlink(p);

	if (!root) {
		skip("replay_dir owned by another user: refused",
		    "needs root (chown)");
		skip("... a look-up by root accepts it", "needs root");
		return;
	}
	mkstore(store, sizeof(store), "foreign");
	if (chown(store, NOBODY, NOBODY) != 0)
		diag("chown: %s", strerror(errno));
	expect_config(store, "owned by uid 65534, not root or uid 0",
	    "replay_dir owned by another user");
	r = look(store, "dir-check", now, d, sizeof(d));
	ok_eq(r, PB_OK, "... a look-up by root (explain) accepts it (%s)", d);
}

/* As nobody (root only): directories the module cannot write. */
static void
unwritable_child(void *arg)
{
	const char *base = arg;
	char store[STORE_LEN], d[1200];
	long long now = (long long)time(NULL);
	enum pb_reason r;

	if (!drop_to_nobody()) {
		cok(0, "setresuid nobody: %s", strerror(errno));
		return;
	}
	snprintf(store, sizeof(store), "%s/rootowned", base);
	r = rec(store, "u-1", now + 60, now, d, sizeof(d));
	cok(r == PB_CONFIG && strstr(d, "Permission denied") != NULL &&
	    strstr(d, store) != NULL,
	    "a root-owned 0755 replay_dir the module cannot write: config "
	    "error naming it (%s)", d);
	snprintf(store, sizeof(store), "%s/readonly", base);
	r = rec(store, "u-1", now + 60, now, d, sizeof(d));
	cok(r == PB_CONFIG && strstr(d, "Permission denied") != NULL,
	    "our own replay_dir at mode 0500: config error (%s)", d);
}

static void
test_unwritable(void)
{
	char store[STORE_LEN], d[1200];
	long long now = (long long)time(NULL);
	enum pb_reason r;

	if (root) {
		mkstore(store, sizeof(store), "rootowned");
		chmod(store, 0755);
		mkstore(store, sizeof(store), "readonly");
		chmod(store, 0500);
		if (chown(store, NOBODY, NOBODY) != 0)
			diag("chown: %s", strerror(errno));
		in_child(unwritable_child, tmp, "unwritable");
		return;
	}
	mkstore(store, sizeof(store), "readonly");
	chmod(store, 0500);
	r = rec(store, "u-1", now + 60, now, d, sizeof(d));
	ok(r == PB_CONFIG && strstr(d, "Permission denied") != NULL,
	    "our own replay_dir at mode 0500: config error (%s)", d);
	chmod(store, 0700);
}

/* A read-only replay_dir, and one on a file system with no inodes left:
 * the faults tests/fault_inject.c (linked into this test) gives the C
 * library calls, so they need no mount and no privileges. In a child,
 * so the environment that turns them on dies with it. */
static void
fault_child(void *arg)
{
	const char *base = arg;
	char store[STORE_LEN], d[1200], j[32];
	long long now = (long long)time(NULL);
	enum pb_reason r = PB_OK;
	int i, recorded = 0;

	snprintf(store, sizeof(store), "%s/store-ro", base);
	mkdir(store, 0700);
	r = rec(store, "ro-1", now + 60, now, d, sizeof(d));
	cok(r == PB_OK, "a jti is recorded before the fault (%s)", d);
	setenv("PB_FAULT_ROFS", store, 1);
	r = rec(store, "ro-2", now + 60, now, d, sizeof(d));
	cok(r == PB_CONFIG && strstr(d, "Read-only file system") != NULL &&
	    strstr(d, store) != NULL,
	    "read-only replay_dir: config error naming it (expected "
	    "PB_CONFIG and EROFS, got reason %d: %s)", (int)r, d);
	r = rec(store, "ro-1", now + 60, now, d, sizeof(d));
	cok(r == PB_REPLAY, "... and the jti recorded before is still "
	    "refused as replay (expected PB_REPLAY, got reason %d: %s)",
	    (int)r, d);
	unsetenv("PB_FAULT_ROFS");

	snprintf(store, sizeof(store), "%s/store-full", base);
	mkdir(store, 0700);
	for (i = 0; i < 3; i++) {
		snprintf(j, sizeof(j), "full-%d", i);
		if (rec(store, j, now + 60, now, d, sizeof(d)) == PB_OK)
			recorded++;
	}
	setenv("PB_FAULT_NOINODES", store, 1);
	for (i = 3; i < 64; i++) {
		snprintf(j, sizeof(j), "full-%d", i);
		r = rec(store, j, now + 60, now, d, sizeof(d));
		if (r != PB_OK)
			break;
		recorded++;
	}
	cok(r == PB_CONFIG && strstr(d, "No space left on device") != NULL,
	    "full replay_dir (after %d entries): config error (expected "
	    "PB_CONFIG and ENOSPC, got reason %d: %s)", recorded, (int)r, d);
	cok(look(store, j, now, d, sizeof(d)) == PB_OK,
	    "... the refused jti was not recorded");
	r = rec(store, "full-0", now + 60, now, d, sizeof(d));
	cok(recorded == 3 && r == PB_REPLAY,
	    "... and the ones before are still refused as replay (expected "
	    "3 recorded and PB_REPLAY, got %d and reason %d)", recorded,
	    (int)r);
	unsetenv("PB_FAULT_NOINODES");
}

static void
test_faults(void)
{
	in_child(fault_child, tmp, "faults");
}

/* ------------------------------------------------------- concurrency */

#define RACERS 32
#define RACE_JTI 64

static void
test_race(void)
{
	char store[STORE_LEN];
	int results[2], go[2], wins[RACE_JTI] = { 0 }, other = 0, i, k;
	int bad = 0, total = 0, status, exited = 0;
	long long now = (long long)time(NULL);
	unsigned char b;
	pid_t pids[RACERS];

	mkstore(store, sizeof(store), "race");
	if (pipe(results) != 0 || pipe(go) != 0) {
		ok(0, "race: pipes");
		return;
	}
	fflush(stdout);
	for (i = 0; i < RACERS; i++) {
		if ((pids[i] = fork()) == 0) {
			char d[1200], j[32];
			int n;

			close(results[0]);
			close(go[1]);
			/* Everyone starts when the parent closes go. */
			if (read(go[0], &b, 1) < 0)
				_exit(2);
			for (n = 0; n < RACE_JTI; n++) {
				/* Each racer walks the jti from another
				 * start, so every pair meets somewhere. */
				k = (n + i * 7) % RACE_JTI;
				snprintf(j, sizeof(j), "race-%d", k);
				switch (rec(store, j, now + 60, now, d,
				    sizeof(d))) {
				case PB_OK:
					b = (unsigned char)k;
					break;
				case PB_REPLAY:
					continue;
				default:
					b = 255;
				}
				if (write(results[1], &b, 1) != 1)
					_exit(3);
			}
			_exit(0);
		}
	}
	close(results[1]);
	close(go[0]);
	close(go[1]);
	while (read(results[0], &b, 1) == 1) {
		total++;
		if (b < RACE_JTI)
			wins[b]++;
		else
			other++;
	}
	close(results[0]);
	for (i = 0; i < RACERS; i++)
		if (waitpid(pids[i], &status, 0) == pids[i] &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0)
			exited++;
	for (i = 0; i < RACE_JTI; i++)
		if (wins[i] != 1)
			bad++;
	ok_eq(exited, RACERS, "%d processes raced to record %d jti each",
	    RACERS, RACE_JTI);
	ok(bad == 0 && other == 0 && total == RACE_JTI,
	    "exactly one process recorded each jti (%d wins, %d jti not won "
	    "exactly once, %d other results)", total, bad, other);
	ok(count_files(store) == RACE_JTI, "the store holds %d entries",
	    RACE_JTI);
}

/* ------------------------------------------------- through the login */

struct steps {
	bool seen;
	bool passed;
	char what[1300];
};

static void
on_step(void *ctx, const char *step, bool passed, const char *what)
{
	struct steps *s = ctx;

	if (strcmp(step, "single_use") != 0)
		return;
	s->seen = true;
	s->passed = passed;
	snprintf(s->what, sizeof(s->what), "%s", what);
}

/* A token from mint-token: jti given, NULL for none; extra: one more
 * option or NULL. */
static char *
token(const char *key, const char *jti, const char *extra)
{
	char out[8192], k[PATH_LEN], set[300];
	const char *argv[16];
	int n = 0;

	path_in(k, sizeof(k), key);
	argv[n++] = mint;
	argv[n++] = "sign";
	argv[n++] = "--key";
	argv[n++] = k;
	argv[n++] = "--kid";
	argv[n++] = "rsa-1";
	argv[n++] = "--aud";
	argv[n++] = AUD;
	argv[n++] = "--org";
	argv[n++] = ORG;
	if (jti != NULL) {
		snprintf(set, sizeof(set), "jti=\"%s\"", jti);
		argv[n++] = "--set";
		argv[n++] = set;
	} else {
		argv[n++] = "--unset";
		argv[n++] = "jti";
	}
	if (extra != NULL)
		argv[n++] = extra;
	argv[n] = NULL;
	if (run_cmd(argv, out, sizeof(out)) != 0)
		return NULL;
	out[strcspn(out, "\n")] = '\0';
	return strdup(out);
}

static struct pb_policy *
login_policy(const char *name, const char *store, bool single_use)
{
	char path[PATH_LEN], text[4096];
	struct pb_policy *pol = NULL;
	struct pb_error err;
	FILE *f;

	path_in(path, sizeof(path), name);
	snprintf(text, sizeof(text),
	    "version: 1\n"
	    "token:\n"
	    "  audience: %s\n"
	    "  organization: %s\n"
	    "  single_use: %s\n"
	    "  replay_dir: %s\n"
	    "jwks:\n"
	    "  file: %s/jwks.json\n"
	    "rules:\n"
	    "  - name: migrations from main\n"
	    "    pipeline: api\n"
	    "    branch: main\n"
	    "    roles: [api_migrator]\n",
	    AUD, ORG, single_use ? "true" : "false", store, tmp);
	if ((f = fopen(path, "w")) == NULL)
		return NULL;
	fputs(text, f);
	fclose(f);
	if (pb_policy_load(path, &pol, &err) != 0) {
		diag("policy: %s", err.text);
		return NULL;
	}
	return pol;
}

static enum pb_reason
login(const struct pb_policy *pol, const char *tok, const char *role,
    char *detail, size_t len, char *jti, size_t jti_len)
{
	long long now = (long long)time(NULL);
	struct pb_authn res;
	enum pb_reason r;

	r = pb_authn_run(pol, tok, strlen(tok), role, NULL, now, false, NULL,
	    NULL, &res);
	snprintf(detail, len, "%s", res.detail);
	if (jti != NULL)
		snprintf(jti, jti_len, "%s", json_string_value(json_object_get(
		    res.info.claims, "jti")) ? json_string_value(
		    json_object_get(res.info.claims, "jti")) : "");
	pb_authn_clear(&res);
	return r;
}

static enum pb_reason
explain(const struct pb_policy *pol, const char *tok, struct steps *s,
    char *detail, size_t len)
{
	struct pb_authn res;
	enum pb_reason r;

	memset(s, 0, sizeof(*s));
	r = pb_authn_explain(pol, tok, strlen(tok), "api_migrator", NULL,
	    (long long)time(NULL), (long long)time(NULL), on_step, s, NULL,
	    NULL, &res);
	snprintf(detail, len, "%s", res.detail);
	pb_authn_clear(&res);
	return r;
}

static void
test_login(void)
{
	char store[STORE_LEN], p[PATH_LEN], out[8192], d[1200], jti[64];
	struct pb_policy *pol, *plain, *broken;
	const char *argv[8];
	char *t1, *t2, *forged, *nojti, *expired;
	char id[64];
	struct steps s;
	enum pb_reason r;
	FILE *f;
	int i, winners = 0, replays = 0, status;
	pid_t pids[8];

	path_in(p, sizeof(p), "rsa.pem");
	argv[0] = mint;
	argv[1] = "genkey";
	argv[2] = "rsa2048";
	argv[3] = p;
	argv[4] = NULL;
	if (run_cmd(argv, out, sizeof(out)) != 0) {
		ok(0, "mint-token genkey (%s)", mint);
		return;
	}
	path_in(p, sizeof(p), "evil.pem");
	run_cmd(argv, out, sizeof(out));
	path_in(p, sizeof(p), "rsa.pem");
	argv[1] = "jwks";
	argv[2] = p;
	argv[3] = "rsa-1";
	argv[4] = NULL;
	if (run_cmd(argv, out, sizeof(out)) != 0) {
		ok(0, "mint-token jwks");
		return;
	}
	path_in(p, sizeof(p), "jwks.json");
	f = fopen(p, "w");
	fputs(out, f);
	fclose(f);

	mkstore(store, sizeof(store), "login");
	pol = login_policy("single.yaml", store, true);
	plain = login_policy("plain.yaml", store, false);
	path_in(p, sizeof(p), "login-missing");
	broken = login_policy("broken.yaml", p, true);
	ok(pol != NULL && plain != NULL && broken != NULL,
	    "policies with token.single_use load");
	if (pol == NULL || plain == NULL || broken == NULL)
		return;

	snprintf(id, sizeof(id), "0190b2c4-%ld-one", (long)getpid());
	t1 = token("rsa.pem", id, NULL);
	snprintf(id, sizeof(id), "0190b2c4-%ld-two", (long)getpid());
	t2 = token("rsa.pem", id, NULL);
	forged = token("evil.pem", id, NULL);
	nojti = token("rsa.pem", NULL, NULL);
	snprintf(id, sizeof(id), "0190b2c4-%ld-old", (long)getpid());
	expired = token("rsa.pem", id, "--expired");
	ok(t1 && t2 && forged && nojti && expired, "tokens minted");
	if (!(t1 && t2 && forged && nojti && expired))
		goto out;

	r = explain(pol, t1, &s, d, sizeof(d));
	ok(r == PB_OK && s.seen && s.passed &&
	    strstr(s.what, "would record it") != NULL,
	    "explain of a fresh token: allowed, step single_use says it would "
	    "record the jti (%s)", s.what);
	ok(count_files(store) == 0, "... and explain recorded nothing");

	r = login(pol, t1, "api_migrator", d, sizeof(d), jti, sizeof(jti));
	ok(r == PB_OK && d[0] == '\0', "the first login with a token is "
	    "allowed, with no detail");
	ok(count_files(store) == 1, "... and its jti is in the store");
	r = login(pol, t1, "api_migrator", d, sizeof(d), jti, sizeof(jti));
	ok(r == PB_REPLAY && strstr(d, "jti already used on this host at ")
	    != NULL, "the same token again is refused as replay (%s)", d);
	ok(strstr(jti, "-one") != NULL,
	    "... with its verified claims, so the audit names the jti");
	r = explain(pol, t1, &s, d, sizeof(d));
	ok(r == PB_REPLAY && s.seen && !s.passed &&
	    strstr(s.what, "already used") != NULL,
	    "explain says the jti is used (%s)", s.what);

	r = login(pol, t2, "postgres", d, sizeof(d), NULL, 0);
	ok_eq(r, PB_NO_RULE, "a token refused by the policy (no_rule) ...");
	r = login(pol, forged, "api_migrator", d, sizeof(d), NULL, 0);
	ok_eq(r, PB_SIGNATURE, "... a forged token with the same jti "
	    "(signature) ...");
	ok(count_files(store) == 1, "... record nothing");
	r = login(pol, t2, "api_migrator", d, sizeof(d), NULL, 0);
	ok_eq(r, PB_OK, "so the genuine token still logs in once");

	r = login(pol, nojti, "api_migrator", d, sizeof(d), NULL, 0);
	ok(r == PB_REPLAY && strstr(d, "no jti") != NULL,
	    "a token without jti is refused as replay (%s)", d);
	r = login(pol, expired, "api_migrator", d, sizeof(d), NULL, 0);
	ok(r == PB_EXPIRED && count_files(store) == 2,
	    "an expired token is refused as expired and not recorded");

	r = login(broken, t1, "api_migrator", d, sizeof(d), NULL, 0);
	ok(r == PB_CONFIG && strstr(d, "does not exist") != NULL,
	    "a missing replay_dir refuses the login as config (%s)", d);
	r = login(plain, t1, "api_migrator", d, sizeof(d), NULL, 0);
	ok(r == PB_OK && login(plain, t1, "api_migrator", d, sizeof(d),
	    NULL, 0) == PB_OK && count_files(store) == 2,
	    "without single_use a token logs in twice and nothing is recorded");

	/* Eight logins with one fresh token at once. */
	free(t1);
	snprintf(id, sizeof(id), "0190b2c4-%ld-race", (long)getpid());
	t1 = token("rsa.pem", id, NULL);
	fflush(stdout);
	for (i = 0; i < 8; i++)
		if ((pids[i] = fork()) == 0) {
			r = login(pol, t1, "api_migrator", d, sizeof(d), NULL,
			    0);
			_exit(r == PB_OK ? 10 : r == PB_REPLAY ? 11 : 12);
		}
	for (i = 0; i < 8; i++)
		if (waitpid(pids[i], &status, 0) == pids[i] &&
		    WIFEXITED(status)) {
			winners += WEXITSTATUS(status) == 10;
			replays += WEXITSTATUS(status) == 11;
		}
	ok(winners == 1 && replays == 7, "8 concurrent logins with one "
	    "token: %d allowed, %d refused as replay", winners, replays);
out:
	free(t1);
	free(t2);
	free(forged);
	free(nojti);
	free(expired);
	pb_policy_free(pol);
	pb_policy_free(plain);
	pb_policy_free(broken);
}

int
main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR");
	const char *top = getenv("top_builddir");

	(void)argc;
	root = geteuid() == 0;
	if (top != NULL && top[0] != '\0') {
		snprintf(mint, sizeof(mint), "%s/tests/mint-token", top);
	} else {
		const char *slash = strrchr(argv[0], '/');

		snprintf(mint, sizeof(mint), "%.*smint-token",
		    slash != NULL ? (int)(slash - argv[0] + 1) : 0, argv[0]);
	}
	snprintf(tmp, sizeof(tmp), "%s/pbreplay.XXXXXX",
	    base != NULL && base[0] != '\0' ? base : "/tmp");
	if (mkdtemp(tmp) == NULL || chmod(tmp, 0755) != 0) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	umask(022);

	test_record();
	test_jti_values();
	test_claims();
	test_sweep();
	test_dirs();
	test_unwritable();
	test_faults();
	test_race();
	test_login();

	rm_rf(tmp);
	return done_testing();
}
