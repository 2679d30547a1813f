/*
 * jwks_fetch.c - one HTTPS GET of a JWKS document (doc/keys.md).
 *
 * libcurl is not linked into the module: every PostgreSQL backend loads
 * the module, and most of them find a fresh cache and never fetch, so
 * libcurl and its dependency tree are dlopen'ed here, on the first fetch
 * of a process. Nothing is kept in globals: each call looks the library
 * up again (dlopen is reference counted, so that is cheap), and
 * RTLD_NODELETE keeps it mapped after our dlclose and after libpam
 * dlcloses the module, so the resolver thread CURLOPT_QUICK_EXIT leaves
 * behind on a DNS timeout never returns into unmapped code.
 *
 * The transfer is locked down (doc/keys.md, "The fetch"): https only
 * (also for redirects, which are not followed anyway), no signals, no
 * proxy from the environment, verified TLS, the size cap enforced on the
 * bytes received (MAXFILESIZE alone trusts Content-Length), and a 200
 * status required (libcurl returns CURLE_OK for a 302 or a 500).
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Constants and types only; the functions are reached through dlsym, and
 * curl's type-checking macros would wrap names we never call. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "dynload.h"
#include "jwks_fetch.h"
#include "trusted_file.h"

#define LIBCURL_SONAME "libcurl.so.4"

typedef CURLcode (*global_init_fn)(long);
typedef CURL *(*easy_init_fn)(void);
typedef CURLcode (*easy_setopt_fn)(CURL *, CURLoption, ...);
typedef CURLcode (*easy_perform_fn)(CURL *);
typedef CURLcode (*easy_getinfo_fn)(CURL *, CURLINFO, ...);
typedef void (*easy_cleanup_fn)(CURL *);
typedef const char *(*easy_strerror_fn)(CURLcode);

/* The libcurl functions of one call, on the stack. */
struct curl_api {
	global_init_fn global_init;
	easy_init_fn easy_init;
	easy_setopt_fn easy_setopt;
	easy_perform_fn easy_perform;
	easy_getinfo_fn easy_getinfo;
	easy_cleanup_fn easy_cleanup;
	easy_strerror_fn easy_strerror;
};

/* Where the body goes: grows up to max bytes and no further. */
struct sink {
	char *buf;
	size_t len;
	size_t cap;
	size_t max;
	int too_large;
	int no_memory;
};

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n, need;

	/* size is 1 per libcurl's contract; guard the product anyway. */
	if (size != 0 && nmemb > ((size_t)-1) / size) {
		s->too_large = 1;
		return 0;
	}
	n = size * nmemb;
	if (n > s->max - s->len) {
		/* Returning less than n makes curl stop with
		 * CURLE_WRITE_ERROR: a chunked body cannot outgrow the cap. */
		s->too_large = 1;
		return 0;
	}
	need = s->len + n + 1;
	if (need > s->cap) {
		size_t cap = s->cap != 0 ? s->cap : 16384;
		char *p;

		while (cap < need)
			cap *= 2;
		if (cap > s->max + 1)
			cap = s->max + 1;
		if ((p = realloc(s->buf, cap)) == NULL) {
			s->no_memory = 1;
			return 0;
		}
		s->buf = p;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, ptr, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

/* Opens libcurl and looks up every function we use: the handle, or NULL
 * with err set. */
static void *
load_api(struct curl_api *api, char *err, size_t errlen)
{
	static const char *const names[] = {
		"curl_global_init", "curl_easy_init", "curl_easy_setopt",
		"curl_easy_perform", "curl_easy_getinfo", "curl_easy_cleanup",
		"curl_easy_strerror",
	};
	pb_fn f[sizeof(names) / sizeof(names[0])];
	void *lib;

	/* RTLD_NODELETE: loaded once per process, whatever dlclose says. */
	lib = pb_dlopen_api(LIBCURL_SONAME, "libcurl4", RTLD_NOW |
	    RTLD_LOCAL | RTLD_NODELETE, names, f, sizeof(names) /
	    sizeof(names[0]), err, errlen);
	if (lib == NULL)
		return NULL;
	api->global_init = (global_init_fn)f[0];
	api->easy_init = (easy_init_fn)f[1];
	api->easy_setopt = (easy_setopt_fn)f[2];
	api->easy_perform = (easy_perform_fn)f[3];
	api->easy_getinfo = (easy_getinfo_fn)f[4];
	api->easy_cleanup = (easy_cleanup_fn)f[5];
	api->easy_strerror = (easy_strerror_fn)f[6];
	return lib;
}

/* Every option; the first that libcurl refuses is named in err (an
 * older libcurl without PROTOCOLS_STR or QUICK_EXIT must not run with a
 * weaker setup). */
static int
set_options(const struct curl_api *api, CURL *h, const char *url,
    const char *ca_file, long timeout_ms, struct sink *sink, char *errbuf,
    char *err, size_t errlen)
{
	CURLcode rc;

#define SET(opt, val) do {						\
	if ((rc = api->easy_setopt(h, opt, val)) != CURLE_OK) {		\
		snprintf(err, errlen, "libcurl refused %s: %s "		\
		    "(libcurl 7.87 or later is needed)", #opt,		\
		    api->easy_strerror(rc));				\
		return -1;						\
	}								\
} while (0)
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_QUICK_EXIT, 1L);
	SET(CURLOPT_TIMEOUT_MS, timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	/* "" disables the proxy variables of the environment. */
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca_file != NULL)
		SET(CURLOPT_CAINFO, ca_file);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)sink->max);
	SET(CURLOPT_WRITEFUNCTION, on_data);
	SET(CURLOPT_WRITEDATA, sink);
	SET(CURLOPT_USERAGENT, "pam_buildkite/" PACKAGE_VERSION);
	SET(CURLOPT_FAILONERROR, 0L);
	SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
#undef SET
	return 0;
}

/* Names the cause of a failed transfer in err. */
static void
explain_failure(const struct curl_api *api, CURLcode rc,
    const struct sink *sink, const char *errbuf, long timeout_ms, char *err,
    size_t errlen)
{
	const char *why = errbuf[0] != '\0' ? errbuf : api->easy_strerror(rc);

	if (sink->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(err, errlen, "response too large (over %zu bytes)",
		    sink->max);
		return;
	}
	if (sink->no_memory) {
		snprintf(err, errlen, "out of memory reading the response");
		return;
	}
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(err, errlen, "timeout after %ld ms: %s", timeout_ms,
		    why);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
		snprintf(err, errlen, "TLS verify failed: %s", why);
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		snprintf(err, errlen, "not https: %s", why);
		break;
	default:
		snprintf(err, errlen, "fetch failed: %s", why);
		break;
	}
}

static int
transfer(const struct curl_api *api, const char *url, const char *ca_file,
    long timeout_ms, struct sink *sink, char *err, size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE];
	long status = 0;
	CURLcode rc;
	CURL *h;
	int ret = -1;

	errbuf[0] = '\0';
	/* Thread-safe and reference counted since 7.84; never paired with
	 * curl_global_cleanup, which is not safe in a host process whose
	 * other threads or later logins may use libcurl. */
	if ((rc = api->global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init: %s",
		    api->easy_strerror(rc));
		return -1;
	}
	if ((h = api->easy_init()) == NULL) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	if (set_options(api, h, url, ca_file, timeout_ms, sink, errbuf, err,
	    errlen) != 0)
		goto out;
	rc = api->easy_perform(h);
	if (rc != CURLE_OK) {
		explain_failure(api, rc, sink, errbuf, timeout_ms, err,
		    errlen);
		goto out;
	}
	if (api->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) !=
	    CURLE_OK || status != 200) {
		if (status >= 300 && status < 400)
			snprintf(err, errlen, "HTTP status %ld (redirects "
			    "are not followed)", status);
		else
			snprintf(err, errlen, "HTTP status %ld", status);
		goto out;
	}
	if (sink->len == 0) {
		snprintf(err, errlen, "empty response");
		goto out;
	}
	ret = 0;
out:
	api->easy_cleanup(h);
	return ret;
}

/* Whoever can write the CA file can vouch for any server as the issuer,
 * and so serve keys of their own: it is held to the rules of every file
 * the module trusts before libcurl is given its name. Its directories
 * are trusted too, so the name still leads to the file judged when
 * libcurl opens it. */
static int
ca_trusted(const char *ca_file, char *err, size_t errlen)
{
	char why[PB_TRUST_WHY_MAX];
	struct stat st;
	int fd;

	fd = pb_trusted_open(ca_file, 0, geteuid(), &st, why, sizeof(why));
	if (fd < 0) {
		snprintf(err, errlen, "jwks.ca_file %s: %s", ca_file, why);
		return -1;
	}
	close(fd);
	return 0;
}

int
pb_jwks_fetch(const char *url, const char *ca_file, long timeout_ms,
    size_t max, char **body, size_t *len, char *err, size_t errlen)
{
	struct sink sink = { .max = max };
	struct curl_api api;
	void *lib;
	int ret = -1;

	*body = NULL;
	*len = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	/* Checked here too, not only by PROTOCOLS_STR, so that a plain
	 * http:// URL never reaches the network stack at all. */
	if (url == NULL || strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "not https: refusing %s",
		    url != NULL ? url : "(no url)");
		return -1;
	}
	if (timeout_ms <= 0) {
		snprintf(err, errlen, "timeout: no time left to fetch");
		return -1;
	}
	if (ca_file != NULL && ca_trusted(ca_file, err, errlen) != 0)
		return -1;
	if ((lib = load_api(&api, err, errlen)) == NULL)
		return -1;
	if (transfer(&api, url, ca_file, timeout_ms, &sink, err,
	    errlen) == 0) {
		*body = sink.buf;
		*len = sink.len;
		sink.buf = NULL;
		ret = 0;
	}
	free(sink.buf);
	/* Drops our reference only: RTLD_NODELETE keeps it mapped. */
	dlclose(lib);
	return ret;
}
