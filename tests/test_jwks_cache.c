/*
 * test_jwks_cache.c - the live JWKS path (doc/keys.md):
 * pb_jwks_fetch against a local HTTPS issuer (tests/jwks_server.py) that
 * misbehaves on request, the shared cache of pb_keys_get (freshness,
 * stale fallback, atomic writes, refusal of untrustworthy files), the
 * unknown-kid refetch through pb_authn_run, writer: tool, pb_cache_fill
 * and pam-buildkite jwks fetch, and that a fresh cache maps no libcurl.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "authn.h"
#include "jwks.h"
#include "jwks_cache.h"
#include "jwks_fetch.h"
#include "policy.h"
#include "read_file.h"
#include "tap.h"
#include "tokmint.h"

#define AUD "postgres://db.test"
#define ORG "acme-inc"
#define TIMEOUT 2

static char tmp[256], srvdir[300], cachedir[300], cert[300], keyf[300];
static char url[128], cachefile[600], stampfile[600], lockfile[600];
static int port;
static pid_t server = -1;
static struct pb_config cfg;
static char *audiences[] = { (char *)(uintptr_t)AUD };
static struct tm_key *ka, *kb;
static char *jwks_a, *jwks_b;

/* ------------------------------------------------------------ helpers */

static int
write_file(const char *path, const char *buf, size_t len, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	if (fwrite(buf, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	if (fclose(f) != 0)
		return -1;
	return chmod(path, mode);
}

static char *
slurp(const char *path, size_t *len)
{
	char *buf;
	size_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	if (pb_read_fd(fd, NULL, 8 * 1024 * 1024, &buf, &n) != 0)
		buf = NULL;
	close(fd);
	if (buf != NULL && len != NULL)
		*len = n;
	return buf;
}

static void
set_mode(const char *m)
{
	char p[400];

	snprintf(p, sizeof(p), "%s/mode", srvdir);
	write_file(p, m, strlen(m), 0644);
}

static void
serve(const char *jwks)
{
	char p[400];

	snprintf(p, sizeof(p), "%s/jwks.json", srvdir);
	write_file(p, jwks, strlen(jwks), 0644);
}

static int
hits(void)
{
	char p[400], *b;
	int n;

	snprintf(p, sizeof(p), "%s/count", srvdir);
	if ((b = slurp(p, NULL)) == NULL)
		return 0;
	n = atoi(b);
	free(b);
	return n;
}

static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), p = -1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(s, (struct sockaddr *)&a, &al) == 0)
		p = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return p;
}

static int
start_server(void)
{
	const char *src = getenv("top_srcdir");
	char script[400], ready[400], ps[16];
	struct stat st;
	int i;

	snprintf(script, sizeof(script), "%s/tests/jwks_server.py",
	    src != NULL ? src : "..");
	snprintf(ready, sizeof(ready), "%s/ready", srvdir);
	unlink(ready);
	snprintf(ps, sizeof(ps), "%d", port);
	/* The lead writes the server concurrently: wait for it a while. */
	for (i = 0; i < 600 && stat(script, &st) != 0; i++)
		usleep(100000);
	if ((server = fork()) == 0) {
		/* Its tracebacks for the connections we cut are expected. */
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, 2);
		execl("/usr/bin/python3", "python3", script, "--port", ps,
		    "--cert", cert, "--key", keyf, "--dir", srvdir,
		    (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		if (stat(ready, &st) == 0)
			return 0;
		if (waitpid(server, NULL, WNOHANG) == server) {
			server = -1;
			return -1;
		}
		usleep(50000);
	}
	return -1;
}

static void
stop_server(void)
{
	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
	}
	server = -1;
}

static void
cache_names(void)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;
	char hex[33];

	EVP_Digest(url, strlen(url), md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(cachefile, sizeof(cachefile), "%s/jwks-%s.json", cachedir,
	    hex);
	snprintf(stampfile, sizeof(stampfile), "%s/jwks-%s.attempt",
	    cachedir, hex);
	snprintf(lockfile, sizeof(lockfile), "%s/jwks-%s.lock", cachedir,
	    hex);
}

/* Writes a cache file as the module would, for jwks (a JSON text). */
static void
put_cache(const char *jwks, long long fetched_at, mode_t mode)
{
	json_t *doc = json_pack("{s:s, s:I, s:o}", "url", url, "fetched_at",
	    (json_int_t)fetched_at, "jwks", json_loads(jwks, 0, NULL));
	char *text = json_dumps(doc, JSON_COMPACT);

	unlink(cachefile);
	write_file(cachefile, text, strlen(text), mode);
	free(text);
	json_decref(doc);
}

static long long
cache_fetched_at(void)
{
	json_t *doc = json_load_file(cachefile, 0, NULL);
	long long v = -1;

	if (doc != NULL)
		v = json_integer_value(json_object_get(doc, "fetched_at"));
	json_decref(doc);
	return v;
}

/* Rewrites fetched_at of the existing cache file. */
static void
age_cache(long long fetched_at)
{
	json_t *doc = json_load_file(cachefile, 0, NULL);
	char *text;

	if (doc == NULL)
		return;
	json_object_set_new(doc, "fetched_at", json_integer(fetched_at));
	text = json_dumps(doc, JSON_COMPACT);
	unlink(cachefile);
	write_file(cachefile, text, strlen(text), 0644);
	free(text);
	json_decref(doc);
}

static bool
has_kid(const struct pb_jwks *set, const char *kid)
{
	EVP_PKEY *k = NULL;
	char d[256];

	if (set == NULL || pb_jwks_select(set, kid, PB_ALG_RS256, &k, d,
	    sizeof(d)) != PB_OK)
		return false;
	EVP_PKEY_free(k);
	return true;
}

/* pb_keys_get; returns the reason, the detail in detail, and whether the
 * keys hold kid. */
static enum pb_reason
get(const char *kid, bool *has, char *detail, size_t len)
{
	struct pb_jwks *set = NULL;
	enum pb_reason r = pb_keys_get(&cfg, (long long)time(NULL), &set,
	    detail, len);

	if (has != NULL)
		*has = has_kid(set, kid);
	pb_jwks_free(set);
	return r;
}

static bool
temp_files_left(void)
{
	DIR *d = opendir(cachedir);
	struct dirent *e;
	bool found = false;

	if (d == NULL)
		return false;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, ".jwks-", 6) == 0)
			found = true;
	closedir(d);
	return found;
}

static double
mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static bool
libcurl_mapped(void)
{
	char *maps = slurp("/proc/self/maps", NULL);
	bool found;

	/* /proc files report size 0, so read it another way if needed. */
	if (maps == NULL) {
		FILE *f = fopen("/proc/self/maps", "r");
		char line[1024];

		found = false;
		while (f != NULL && fgets(line, sizeof(line), f) != NULL)
			if (strstr(line, "libcurl") != NULL)
				found = true;
		if (f != NULL)
			fclose(f);
		return found;
	}
	found = strstr(maps, "libcurl") != NULL;
	free(maps);
	return found;
}

/* ------------------------------------------------------------ tests */

static void
test_no_libcurl(void)
{
	const char *b = getenv("top_builddir");
	char cmd[600], line[256], detail[1024];
	bool curl_needed = false, ran = false;
	int status;
	pid_t pid;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "objdump -p %s/.libs/pam_buildkite.so "
	    "2>/dev/null", b != NULL ? b : ".");
	if ((p = popen(cmd, "r")) != NULL) {
		while (fgets(line, sizeof(line), p) != NULL) {
			if (strstr(line, "NEEDED") != NULL) {
				ran = true;
				if (strstr(line, "curl") != NULL)
					curl_needed = true;
			}
		}
		pclose(p);
	}
	ok(ran && !curl_needed, "the module's NEEDED list has no libcurl");
	ok(!libcurl_mapped(), "the test process has not mapped libcurl yet");

	/* A fresh cache, then a login in a fresh process. */
	put_cache(jwks_a, (long long)time(NULL), 0644);
	if ((pid = fork()) == 0) {
		enum pb_reason r = get("a1", NULL, detail, sizeof(detail));

		_exit(r != PB_OK ? 2 : libcurl_mapped() ? 1 : 0);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "a fresh-cache pb_keys_get leaves libcurl unmapped (status %d)",
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void
test_fetch_and_fresh(void)
{
	char detail[1024];
	struct stat st;
	bool has;
	int n;

	unlink(cachefile);
	set_mode("ok");
	n = hits();
	ok(get("a1", &has, detail, sizeof(detail)) == PB_OK && has,
	    "first fetch gives the key (%s)", detail);
	ok(hits() == n + 1, "first fetch: one request");
	ok(stat(cachefile, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & 07777) == 0644, "cache file written, mode 0644");
	ok(!temp_files_left(), "no temp files left in the cache directory");
	ok(llabs(cache_fetched_at() - (long long)time(NULL)) < 5,
	    "cache file records fetched_at");

	n = hits();
	ok(get("a1", &has, detail, sizeof(detail)) == PB_OK && has &&
	    hits() == n, "fresh cache: used without a request");
	stop_server();
	ok(get("a1", &has, detail, sizeof(detail)) == PB_OK && has,
	    "fresh cache: used with the server stopped");
	ok(start_server() == 0, "server restarted");
}

static void
test_stale(void)
{
	char detail[1024];
	long long now = (long long)time(NULL);
	bool has;
	int n;

	age_cache(now - 7200);
	n = hits();
	ok(get("a1", &has, detail, sizeof(detail)) == PB_OK && has &&
	    hits() == n + 1, "stale cache refreshed with one request");
	ok(cache_fetched_at() >= now, "refresh rewrote fetched_at");

	stop_server();
	age_cache(now - 7200);
	ok(get("a1", &has, detail, sizeof(detail)) == PB_OK && has &&
	    strstr(detail, "stale") != NULL,
	    "server down, stale within max_stale: keys used (%s)", detail);
	age_cache(now - 90000);
	ok(get("a1", &has, detail, sizeof(detail)) == PB_JWKS_UNAVAILABLE &&
	    strstr(detail, "fetching") != NULL,
	    "server down, beyond max_stale: jwks_unavailable (%s)", detail);
	unlink(cachefile);
	ok(get("a1", &has, detail, sizeof(detail)) == PB_JWKS_UNAVAILABLE,
	    "server down, no cache: jwks_unavailable (%s)", detail);
	ok(start_server() == 0, "server restarted");
}

/* Stale good cache within max_stale, the server in mode m: the fetch
 * must fail with want in its reason and leave the cache as it was. */
static void
bad_answer_keeps_cache(const char *m, const char *want)
{
	char detail[1024], *before, *after;
	size_t lb = 0, la = 0;
	bool has;

	put_cache(jwks_a, (long long)time(NULL) - 7200, 0644);
	before = slurp(cachefile, &lb);
	set_mode(m);
	ok(get("a1", &has, detail, sizeof(detail)) == PB_OK && has &&
	    strstr(detail, want) != NULL,
	    "%s: refused, stale keys used (%s)", m, detail);
	after = slurp(cachefile, &la);
	ok(before != NULL && after != NULL && la == lb &&
	    memcmp(before, after, la) == 0, "%s: good cache kept", m);
	free(before);
	free(after);
	set_mode("ok");
}

static void
test_bad_answers(void)
{
	char err[512], detail[1024], *body;
	double t0, el;
	size_t len;
	int r;

	bad_answer_keeps_cache("redirect", "HTTP status 302");
	bad_answer_keeps_cache("status500", "HTTP status 500");
	bad_answer_keeps_cache("malformed", "invalid JWKS");
	bad_answer_keeps_cache("empty", "no usable");
	bad_answer_keeps_cache("big", "too large");
	bad_answer_keeps_cache("bigcl", "too large");

	set_mode("big");
	r = pb_jwks_fetch(url, cert, 5000, PB_JWKS_MAX_BYTES, &body, &len,
	    err, sizeof(err));
	ok(r == -1 && body == NULL && strstr(err, "too large") != NULL,
	    "chunked 1 MiB body refused (%s)", err);
	set_mode("bigcl");
	r = pb_jwks_fetch(url, cert, 5000, PB_JWKS_MAX_BYTES, &body, &len,
	    err, sizeof(err));
	ok(r == -1 && body == NULL && strstr(err, "too large") != NULL,
	    "1 MiB body with Content-Length refused (%s)", err);
	set_mode("ok");
	r = pb_jwks_fetch(url, NULL, 5000, PB_JWKS_MAX_BYTES, &body, &len,
	    err, sizeof(err));
	ok(r == -1 && strstr(err, "TLS") != NULL,
	    "untrusted certificate refused (%s)", err);
	r = pb_jwks_fetch(url, cert, 5000, PB_JWKS_MAX_BYTES, &body, &len,
	    err, sizeof(err));
	ok(r == 0 && body != NULL && len == strlen(jwks_a) &&
	    memcmp(body, jwks_a, len) == 0, "pb_jwks_fetch gets the body");
	free(body);

	{
		char http[160];

		snprintf(http, sizeof(http), "http://127.0.0.1:%d/jwks",
		    port);
		r = pb_jwks_fetch(http, cert, 5000, PB_JWKS_MAX_BYTES, &body,
		    &len, err, sizeof(err));
		ok(r == -1 && strstr(err, "not https") != NULL,
		    "http:// refused (%s)", err);
	}

	/* hang: the whole call bounded by jwks.timeout. */
	put_cache(jwks_a, (long long)time(NULL) - 90000, 0644);
	set_mode("hang");
	t0 = mono();
	r = get("a1", NULL, detail, sizeof(detail));
	el = mono() - t0;
	ok(r == PB_JWKS_UNAVAILABLE && strstr(detail, "timeout") != NULL,
	    "hang: jwks_unavailable (%s)", detail);
	ok(el < TIMEOUT + 1.0, "hang: returned in %.2f s (timeout %d s)", el,
	    TIMEOUT);
	set_mode("ok");
}

static void
bad_cache(const char *what, const char *content, size_t len, mode_t mode,
    const char *want)
{
	char detail[1024];
	struct stat st;
	bool has;

	unlink(cachefile);
	write_file(cachefile, content, len, mode);
	ok(get("a1", &has, detail, sizeof(detail)) == PB_OK && has &&
	    strstr(detail, "ignored") != NULL && strstr(detail, want) != NULL,
	    "%s cache ignored and reported (%s)", what, detail);
	ok(stat(cachefile, &st) == 0 && (st.st_mode & 07777) == 0644 &&
	    cache_fetched_at() > 0, "%s cache replaced by a good one", what);
}

static void
test_bad_cache(void)
{
	char *good, *big, detail[1024];
	size_t len;
	bool has;

	put_cache(jwks_a, (long long)time(NULL), 0644);
	good = slurp(cachefile, &len);
	bad_cache("corrupt", "{\"url\": 12, garbage", 19, 0644, "corrupt");
	bad_cache("truncated", good, len / 2, 0644, "truncated");
	big = malloc(PB_JWKS_MAX_BYTES + 8192);
	memset(big, ' ', PB_JWKS_MAX_BYTES + 8192);
	bad_cache("oversized", big, PB_JWKS_MAX_BYTES + 8192, 0644,
	    "oversized");
	free(big);
	bad_cache("group-writable", good, len, 0664, "writable");
	bad_cache("world-writable", good, len, 0646, "writable");
	put_cache(jwks_a, (long long)time(NULL) + 3600, 0644);
	ok(get("a1", &has, detail, sizeof(detail)) == PB_OK && has &&
	    strstr(detail, "future") != NULL,
	    "cache from the future ignored (%s)", detail);
	free(good);

	/* A symbolic link is not followed. */
	unlink(cachefile);
	ok(symlink("/etc/passwd", cachefile) == 0,
	    "the cache file replaced by a symbolic link");
	ok(get("a1", &has, detail, sizeof(detail)) == PB_OK && has &&
	    strstr(detail, "symbolic link") != NULL,
	    "symlinked cache ignored (%s)", detail);

	/* A world-writable directory is never trusted. */
	put_cache(jwks_a, (long long)time(NULL), 0644);
	chmod(cachedir, 0777);
	stop_server();
	ok(get("a1", &has, detail, sizeof(detail)) == PB_JWKS_UNAVAILABLE &&
	    strstr(detail, "world-writable") != NULL,
	    "cache in a world-writable directory refused (%s)", detail);
	chmod(cachedir, 0755);
	ok(start_server() == 0, "server restarted");
}

static void
test_lock(void)
{
	char detail[1024];
	double t0, el;
	bool has;
	int fd, n;

	/* Another process refreshing: stale keys used at once. */
	fd = open(lockfile, O_RDWR | O_CREAT, 0644);
	ok(fd >= 0 && flock(fd, LOCK_EX) == 0, "lock taken by the test");
	put_cache(jwks_a, (long long)time(NULL) - 7200, 0644);
	n = hits();
	t0 = mono();
	ok(get("a1", &has, detail, sizeof(detail)) == PB_OK && has &&
	    hits() == n && mono() - t0 < 0.5,
	    "lock held, stale cache: used at once, no request (%s)", detail);
	unlink(cachefile);
	t0 = mono();
	ok(get("a1", &has, detail, sizeof(detail)) == PB_JWKS_UNAVAILABLE,
	    "lock held, no cache: jwks_unavailable (%s)", detail);
	el = mono() - t0;
	ok(el >= TIMEOUT - 0.2 && el < TIMEOUT + 1.0,
	    "lock held, no cache: waited %.2f s, the timeout", el);
	close(fd);
}

static struct pb_policy *
load_policy(const char *writer)
{
	char path[400], text[2048];
	struct pb_policy *pol = NULL;
	struct pb_error err;
	int n;

	snprintf(path, sizeof(path), "%s/policy.yaml", tmp);
	n = snprintf(text, sizeof(text),
	    "version: 1\n"
	    "token:\n  audience: %s\n  organization: %s\n"
	    "jwks:\n  url: %s\n  cache: %s\n  ca_file: %s\n  timeout: %d\n"
	    "  writer: %s\n"
	    "rules:\n  - name: all\n    pipeline: \"*\"\n"
	    "    branch: \"*\"\n    roles: [r]\n",
	    AUD, ORG, url, cachedir, cert, TIMEOUT, writer);
	write_file(path, text, (size_t)n, 0644);
	memset(&err, 0, sizeof(err));
	if (pb_policy_load(path, &pol, &err) != 0)
		diag("policy: %s", err.text);
	return pol;
}

static enum pb_reason
login(const struct pb_policy *pol, const struct tm_key *k, const char *kid,
    char *detail, size_t len)
{
	long long now = (long long)time(NULL);
	json_t *claims = tm_default_claims(now, AUD, ORG);
	char *tok = tm_token(k, kid, "RS256", claims);
	struct pb_authn res;
	enum pb_reason r;

	r = pb_authn_run(pol, tok, strlen(tok), "r", NULL, now, false, NULL,
	    NULL, &res);
	snprintf(detail, len, "%s", res.detail);
	pb_authn_clear(&res);
	free(tok);
	json_decref(claims);
	return r;
}

static void
test_rotation(void)
{
	struct pb_policy *pol = load_policy("module");
	struct pb_jwks *set = NULL;
	char detail[1200];
	enum pb_reason r;
	int n;

	ok(pol != NULL, "policy with jwks.url loads");
	if (pol == NULL)
		return;
	unlink(stampfile);
	serve(jwks_a);
	put_cache(jwks_a, (long long)time(NULL), 0644);
	n = hits();
	ok(login(pol, ka, "a1", detail, sizeof(detail)) == PB_OK &&
	    hits() == n, "token of the cached key: allowed, no request");

	/* The issuer rotates to key b. */
	serve(jwks_b);
	r = login(pol, kb, "b1", detail, sizeof(detail));
	ok(r == PB_OK && hits() == n + 1,
	    "rotated key: allowed after one refetch (%s: %s)",
	    pb_reason_name(r), detail);
	ok(access(stampfile, F_OK) == 0, "refetch attempt stamped");
	r = login(pol, kb, "zz", detail, sizeof(detail));
	ok(r == PB_UNKNOWN_KEY && hits() == n + 1,
	    "second unknown kid within 60 s: no request (%s: %s)",
	    pb_reason_name(r), detail);
	ok(login(pol, kb, "b1", detail, sizeof(detail)) == PB_OK &&
	    hits() == n + 1, "rotated key now cached: no request");

	/* A stamp older than the interval allows the next refetch, and a
	 * failed one counts as an attempt too. */
	{
		char s[32];
		int len = snprintf(s, sizeof(s), "%lld\n",
		    (long long)time(NULL) - 61);

		write_file(stampfile, s, (size_t)len, 0644);
	}
	set_mode("status500");
	r = pb_keys_refresh_for_kid(pb_policy_config(pol),
	    (long long)time(NULL), &set, detail, sizeof(detail));
	ok(r == PB_UNKNOWN_KEY && set == NULL && hits() == n + 2 &&
	    strstr(detail, "HTTP status 500") != NULL,
	    "failed refetch: unknown_key (%s)", detail);
	r = pb_keys_refresh_for_kid(pb_policy_config(pol),
	    (long long)time(NULL), &set, detail, sizeof(detail));
	/* Within the second of the last good refetch, the cache's keys
	 * may come back (no request either way). */
	ok((r == PB_UNKNOWN_KEY || r == PB_OK) && hits() == n + 2,
	    "after a failed refetch: none within 60 s (%s)", detail);
	pb_jwks_free(set);
	set = NULL;
	set_mode("ok");
	pb_policy_free(pol);
}

/* writer: tool checks, run as an unprivileged user (nobody when the
 * test runs as root): each result is a line "0|1 name" on fd.
 * phase 1: a root-owned stale cache in a root-owned directory;
 * phase 2: a cache directory of our own uid;
 * phase 3: a root-owned directory holding a cache file of our uid. */
static void
tool_checks(int fd, int phase)
{
	char detail[1024], line[1200];
	struct pb_jwks *set = NULL;
	enum pb_reason r;
	struct stat st;
	bool has;
	int n;

#define REPORT(cond, ...) do {						\
	int l_ = snprintf(line, sizeof(line), "%d ", (cond) ? 1 : 0);	\
	snprintf(line + l_, sizeof(line) - (size_t)l_, __VA_ARGS__);	\
	if (write(fd, line, strlen(line)) < 0 || write(fd, "\n", 1) < 0) \
		_exit(3);						\
} while (0)
	cfg.jwks.writer = PB_WRITER_TOOL;
	n = hits();
	r = get("a1", &has, detail, sizeof(detail));
	if (phase == 1) {
		REPORT(r == PB_OK && has && hits() == n,
		    "tool: root-owned stale cache used, no request (%s)",
		    detail);
		r = pb_keys_refresh_for_kid(&cfg, (long long)time(NULL),
		    &set, detail, sizeof(detail));
		REPORT(r == PB_OK && has_kid(set, "a1") && hits() == n + 1,
		    "tool: unknown kid, cache older than 60 s: fetched in "
		    "memory (%s)", detail);
		pb_jwks_free(set);
		REPORT(cache_fetched_at() < (long long)time(NULL) - 3000,
		    "tool: the module never rewrote the cache");
		REPORT(stat(lockfile, &st) != 0 && stat(stampfile, &st) != 0,
		    "tool: no lock or stamp file created");
		cfg.jwks.login_fetch = false;
		r = pb_keys_refresh_for_kid(&cfg, (long long)time(NULL),
		    &set, detail, sizeof(detail));
		REPORT(r == PB_UNKNOWN_KEY && set == NULL && hits() == n + 1 &&
		    strstr(detail, "login_fetch: false") != NULL,
		    "tool, login_fetch: false: unknown kid, no request (%s)",
		    detail);
		cfg.jwks.max_stale = 3600;
		r = get("a1", &has, detail, sizeof(detail));
		REPORT(r == PB_JWKS_UNAVAILABLE && hits() == n + 1 &&
		    strstr(detail, "too stale") != NULL,
		    "tool, login_fetch: false: cache older than max_stale "
		    "refused, no request (%s)", detail);
		cfg.jwks.max_stale = 86400;
		cfg.jwks.login_fetch = true;
	} else {
		REPORT(r == PB_OK && has && hits() == n + 1 &&
		    strstr(detail, phase == 2 ? "writable by uid" :
		    "owned by uid") != NULL &&
		    strstr(detail, "this login only") != NULL,
		    "tool: %s of our own uid refused, keys fetched in memory "
		    "(%s)", phase == 2 ? "directory" : "cache file", detail);
		r = pb_keys_refresh_for_kid(&cfg, (long long)time(NULL),
		    &set, detail, sizeof(detail));
		REPORT(r == PB_UNKNOWN_KEY && set == NULL && hits() == n + 1,
		    "tool: unknown kid without a usable cache: no second "
		    "fetch (%s)", detail);
		REPORT(stat(lockfile, &st) != 0,
		    "tool: no lock file created");
		cfg.jwks.login_fetch = false;
		r = get("a1", &has, detail, sizeof(detail));
		REPORT(r == PB_JWKS_UNAVAILABLE && hits() == n + 1 &&
		    strstr(detail, "never fetches") != NULL,
		    "tool, login_fetch: false: no usable cache refused, no "
		    "request (%s)", detail);
		cfg.jwks.login_fetch = true;
	}
#undef REPORT
	cfg.jwks.writer = PB_WRITER_MODULE;
}

static void
tool_child(int phase)
{
	const uid_t nobody = 65534;
	char buf[8192], *p, *nl;
	size_t used = 0;
	int fds[2], status;
	pid_t pid;
	ssize_t k;

	if (pipe(fds) != 0)
		return;
	if ((pid = fork()) == 0) {
		close(fds[0]);
		if (geteuid() == 0 && (setresgid(nobody, nobody, nobody) !=
		    0 || setresuid(nobody, nobody, nobody) != 0))
			_exit(4);
		tool_checks(fds[1], phase);
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
		ok(p[0] == '1', "%s", p + 2);
	}
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "writer: tool, phase %d: child exited cleanly", phase);
}

static void
test_writer_tool(void)
{
	const uid_t nobody = 65534;
	bool root = geteuid() == 0;

	serve(jwks_a);
	unlink(lockfile);
	unlink(stampfile);
	if (root) {
		put_cache(jwks_a, (long long)time(NULL) - 7200, 0644);
		tool_child(1);
		put_cache(jwks_a, (long long)time(NULL), 0644);
		if (chown(cachedir, nobody, nobody) != 0)
			diag("chown: %s", strerror(errno));
		tool_child(2);
		if (chown(cachedir, 0, 0) != 0 ||
		    chown(cachefile, nobody, nobody) != 0)
			diag("chown: %s", strerror(errno));
		tool_child(3);
	} else {
		/* Everything here is ours: phase 2 only. */
		put_cache(jwks_a, (long long)time(NULL), 0644);
		tool_child(2);
	}
	unlink(cachefile);
}

static void
test_fill(void)
{
	const char *b = getenv("top_builddir");
	char detail[1024], cmd[1200], out[1024], sub[400];
	struct pb_config c2;
	struct stat st;
	size_t n;
	FILE *p;
	int status;

	unlink(cachefile);
	ok(pb_cache_fill(&cfg, (long long)time(NULL), detail,
	    sizeof(detail)) == PB_OK &&
	    strstr(detail, "wrote 1 keys to") != NULL &&
	    stat(cachefile, &st) == 0, "pb_cache_fill writes (%s)", detail);

	/* The directory is created when missing. */
	c2 = cfg;
	snprintf(sub, sizeof(sub), "%s/newcache", tmp);
	c2.jwks.cache = sub;
	ok(pb_cache_fill(&c2, (long long)time(NULL), detail,
	    sizeof(detail)) == PB_OK &&
	    stat(sub, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & 07777) == 0755,
	    "pb_cache_fill creates the directory 0755 (%s)", detail);

	c2 = cfg;
	c2.jwks.url = NULL;
	c2.jwks.file = (char *)(uintptr_t)"/etc/pam_buildkite/jwks.json";
	ok(pb_cache_fill(&c2, (long long)time(NULL), detail,
	    sizeof(detail)) == PB_CONFIG &&
	    strstr(detail, "nothing to fetch") != NULL,
	    "pb_cache_fill with jwks.file: config (%s)", detail);

	set_mode("malformed");
	ok(pb_cache_fill(&cfg, (long long)time(NULL), detail,
	    sizeof(detail)) == PB_JWKS_UNAVAILABLE &&
	    strstr(detail, "invalid") != NULL,
	    "pb_cache_fill refuses a malformed answer (%s)", detail);
	set_mode("ok");

	/* The admin tool's command. */
	pb_policy_free(load_policy("tool"));
	unlink(cachefile);
	snprintf(cmd, sizeof(cmd), "%s/pam-buildkite jwks fetch -c "
	    "%s/policy.yaml 2>&1", b != NULL ? b : ".", tmp);
	if ((p = popen(cmd, "r")) == NULL)
		return;
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	status = pclose(p);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    strncmp(out, "wrote 1 keys to ", 16) == 0 &&
	    stat(cachefile, &st) == 0,
	    "pam-buildkite jwks fetch: exit 0, %s", out);
	set_mode("status500");
	if ((p = popen(cmd, "r")) == NULL)
		return;
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	status = pclose(p);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 1 &&
	    strstr(out, "HTTP status 500") != NULL,
	    "pam-buildkite jwks fetch, failing: exit 1, %s", out);
	set_mode("ok");
}

/* ------------------------------------------------------------ main */

static int
setup(void)
{
	json_t *ja, *jb;
	char cmd[1200];

	snprintf(tmp, sizeof(tmp), "/tmp/pb_jwks_cache.XXXXXX");
	if (mkdtemp(tmp) == NULL || chmod(tmp, 0755) != 0)
		return -1;
	snprintf(srvdir, sizeof(srvdir), "%s/srv", tmp);
	snprintf(cachedir, sizeof(cachedir), "%s/cache", tmp);
	snprintf(cert, sizeof(cert), "%s/cert.pem", tmp);
	snprintf(keyf, sizeof(keyf), "%s/key.pem", tmp);
	if (mkdir(srvdir, 0755) != 0 || mkdir(cachedir, 0755) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey rsa:2048 "
	    "-nodes -days 2 -subj /CN=127.0.0.1 -addext "
	    "subjectAltName=IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1",
	    keyf, cert);
	if (system(cmd) != 0)
		return -1;
	chmod(cert, 0644);
	if ((port = free_port()) < 0)
		return -1;
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/jwks", port);
	cache_names();

	ka = tm_key_generate("rsa2048");
	kb = tm_key_generate("rsa2048");
	ja = tm_jwk(ka, "a1", NULL);
	jb = tm_jwk(kb, "b1", NULL);
	jwks_a = tm_jwks_string(&ja, 1);
	jwks_b = tm_jwks_string(&jb, 1);
	json_decref(ja);
	json_decref(jb);
	if (jwks_a == NULL || jwks_b == NULL)
		return -1;
	serve(jwks_a);
	set_mode("ok");

	memset(&cfg, 0, sizeof(cfg));
	cfg.token.issuer = (char *)(uintptr_t)"https://agent.buildkite.com";
	cfg.token.audiences = audiences;
	cfg.token.n_audiences = 1;
	cfg.token.organization = (char *)(uintptr_t)ORG;
	cfg.token.algorithms = PB_ALG_RS256;
	cfg.token.leeway = 30;
	cfg.token.max_lifetime = 900;
	cfg.jwks.url = url;
	cfg.jwks.cache = cachedir;
	cfg.jwks.refresh = 3600;
	cfg.jwks.max_stale = 86400;
	cfg.jwks.timeout = TIMEOUT;
	cfg.jwks.ca_file = cert;
	cfg.jwks.writer = PB_WRITER_MODULE;
	cfg.jwks.login_fetch = true;
	return 0;
}

int
main(void)
{
	char cmd[400];

	if (access("/usr/bin/python3", X_OK) != 0) {
		printf("1..0 # SKIP /usr/bin/python3 not installed\n");
		return 0;
	}
	if (setup() != 0) {
		printf("1..0 # SKIP setup failed (openssl CLI?)\n");
		return 0;
	}
	/* Before anything in this process fetches (and maps libcurl). */
	test_no_libcurl();
	if (!ok(start_server() == 0, "jwks_server.py started on port %d",
	    port))
		goto out;
	test_fetch_and_fresh();
	test_stale();
	test_bad_answers();
	test_bad_cache();
	test_lock();
	test_rotation();
	test_writer_tool();
	test_fill();
out:
	stop_server();
	tm_key_free(ka);
	tm_key_free(kb);
	free(jwks_a);
	free(jwks_b);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	if (system(cmd) != 0)
		diag("could not remove %s", tmp);
	return done_testing();
}
