/*
 * jwks_cache.c - the key set a login verifies with (doc/keys.md): which
 * keys to use, when to fetch, and the refetch for a kid the keys lack.
 *
 * A static jwks.file is read on every login: it is small, and reading it
 * afresh means a key rotation by the sysadmin needs no reload step.
 *
 * For jwks.url the shared cache (jwks_store.c) is used while fresh; a
 * stale one is refreshed by one process under the lock while the others
 * keep using the keys they have, within max_stale. With writer: tool the
 * module never writes: it reads the cache the tool keeps and fetches in
 * memory only when that is too old, or never with jwks.login_fetch: false
 * (behind a pooler, where one login's wait is every client's).
 *
 * One call, one time: now is the caller's, as for the token verified
 * with these keys. A wait for another process's refresh is bounded by
 * jwks.timeout, so ages read after it are at most that much short.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jwks_cache.h"
#include "jwks_store.h"
#include "msg.h"
#include "trusted_file.h"

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

/* ------------------------------------------------------------ login path */

/* Keys fetched for this login only, kept in memory: 0, or -1 after
 * noting why, after failed (what the note says first). verb names the
 * fetch in the note of a success ("fetched", "refetched"). */
static int
fetch_for_login(struct pb_store *c, const char *failed, const char *verb,
    struct pb_jwks **out)
{
	char why[640];

	if (pb_store_fetch(c, out, NULL, NULL, why, sizeof(why)) != 0) {
		pb_store_note(c, "%s%s", failed, why);
		return -1;
	}
	pb_store_note(c, "%s %zu keys for this login only (kept in memory)",
	    verb, pb_jwks_count(*out));
	return 0;
}

/* No cache to share (writer: tool, or no usable directory): the cache
 * within max_stale, else keys fetched for this login only. */
static enum pb_reason
keys_read_only(struct pb_store *c, long long now, struct pb_jwks *cached,
    long long fetched_at, struct pb_jwks **out)
{
	if (cached != NULL && pb_store_age(now, fetched_at) <=
	    c->cfg->jwks.max_stale) {
		pb_store_note(c, "cache stale (age %llds), used read-only",
		    pb_store_age(now, fetched_at));
		*out = cached;
		return PB_OK;
	}
	pb_jwks_free(cached);
	if (cached != NULL)
		pb_store_note(c, "cache too stale (age %llds, max_stale %llds)",
		    pb_store_age(now, fetched_at), c->cfg->jwks.max_stale);
	if (!c->cfg->jwks.login_fetch) {
		pb_store_note(c, "jwks.login_fetch: false: a login never "
		    "fetches (is the pam-buildkite jwks fetch timer running?)");
		return PB_JWKS_UNAVAILABLE;
	}
	return fetch_for_login(c, "", "fetched", out) == 0 ? PB_OK :
	    PB_JWKS_UNAVAILABLE;
}

/* The lock could not be had (r 1: still held at the deadline, -1: an
 * error in errno): whoever held it may have written the cache meanwhile.
 * Takes cached. */
static enum pb_reason
keys_unlocked(struct pb_store *c, long long now, int r,
    struct pb_jwks *cached, struct pb_jwks **out)
{
	long long fetched_at = 0;
	char eb[128];

	if (r < 0)
		pb_store_note(c, "cannot lock %s: %s", c->lockname,
		    pb_errstr(errno, eb, sizeof(eb)));
	else
		pb_store_note(c, "timed out waiting for another process "
		    "refreshing the cache");
	pb_jwks_free(cached);
	cached = NULL;
	if (pb_store_load(c, now, &cached, &fetched_at) &&
	    pb_store_age(now, fetched_at) <= c->cfg->jwks.max_stale) {
		*out = cached;
		return PB_OK;
	}
	pb_jwks_free(cached);
	return PB_JWKS_UNAVAILABLE;
}

/* Locked: someone may have refreshed while we looked or waited; else a
 * refresh, and when it fails the cache within max_stale. */
static enum pb_reason
keys_locked(struct pb_store *c, long long now, struct pb_jwks **out)
{
	long long fetched_at = 0, age;
	struct pb_jwks *cached = NULL;

	if (pb_store_load(c, now, &cached, &fetched_at) &&
	    pb_store_age(now, fetched_at) < c->cfg->jwks.refresh) {
		*out = cached;
		return PB_OK;
	}
	if (pb_store_refresh(c, now, out) == 0) {
		pb_jwks_free(cached);
		return PB_OK;
	}
	age = pb_store_age(now, fetched_at);
	if (cached != NULL && age <= c->cfg->jwks.max_stale) {
		pb_store_note(c, "using stale cache (age %llds, max_stale "
		    "%llds)", age, c->cfg->jwks.max_stale);
		*out = cached;
		return PB_OK;
	}
	if (cached != NULL)
		pb_store_note(c, "cache too stale (age %llds, max_stale %llds)",
		    age, c->cfg->jwks.max_stale);
	pb_jwks_free(cached);
	return PB_JWKS_UNAVAILABLE;
}

static enum pb_reason
keys_from_url(struct pb_store *c, long long now, struct pb_jwks **out)
{
	long long fetched_at = 0;
	struct pb_jwks *cached = NULL;
	enum pb_reason ret;
	char why[384];
	int lk, r;

	if (pb_store_names(c) != 0) {
		pb_store_note(c, "cannot hash jwks.url");
		return PB_JWKS_UNAVAILABLE;
	}
	why[0] = '\0';
	if (pb_store_open_dir(c, !c->tool, why, sizeof(why)) != 0)
		pb_store_note(c, "cache ignored: %s", why);
	else
		pb_store_load(c, now, &cached, &fetched_at);
	if (cached != NULL &&
	    pb_store_age(now, fetched_at) < c->cfg->jwks.refresh) {
		*out = cached;
		return PB_OK;
	}
	if (c->tool || c->dirfd < 0)
		return keys_read_only(c, now, cached, fetched_at, out);

	if ((lk = pb_store_lock_open(c, why, sizeof(why))) < 0) {
		pb_store_note(c, "%s", why);
		return keys_read_only(c, now, cached, fetched_at, out);
	}
	r = pb_store_lock_try(lk);
	if (r == 1 && cached != NULL && pb_store_age(now, fetched_at) <=
	    c->cfg->jwks.max_stale) {
		/* Someone is refreshing: no herd, the stale keys will do. */
		pb_store_note(c, "cache stale (age %llds), another process is "
		    "refreshing it", pb_store_age(now, fetched_at));
		*out = cached;
		close(lk);
		return PB_OK;
	}
	if (r == 1)
		r = pb_store_lock_wait(c, lk);
	if (r != 0) {
		ret = keys_unlocked(c, now, r, cached, out);
	} else {
		pb_jwks_free(cached);
		ret = keys_locked(c, now, out);
	}
	/* Closing the descriptor releases the lock. */
	close(lk);
	return ret;
}

enum pb_reason
pb_keys_get(const struct pb_config *cfg, long long now, struct pb_jwks **out,
    char *detail, size_t detail_len)
{
	struct pb_store c;
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
	pb_store_init(&c, cfg, detail, detail_len);
	r = keys_from_url(&c, now, out);
	pb_store_done(&c);
	if (r != PB_OK) {
		pb_jwks_free(*out);
		*out = NULL;
	}
	return r;
}

/* ------------------------------------------------------------ key rotation */

/* writer: tool. No shared stamp: the cache's own age is the limit. */
static enum pb_reason
refetch_read_only(struct pb_store *c, long long now, struct pb_jwks **out)
{
	long long fetched_at = 0;
	struct pb_jwks *cached = NULL;

	if (!c->cfg->jwks.login_fetch) {
		/* Behind a pooler, anyone's made-up kid would stall it. */
		pb_store_note(c, "jwks.login_fetch: false: no refetch on a "
		    "login; the next pam-buildkite jwks fetch brings a new key");
		return PB_UNKNOWN_KEY;
	}
	if (c->dirfd < 0 || !pb_store_load(c, now, &cached, &fetched_at)) {
		/* Then pb_keys_get fetched for this login moments ago. */
		pb_store_note(c, "no usable cache: the keys were fetched for "
		    "this login already; no refetch");
		return PB_UNKNOWN_KEY;
	}
	pb_jwks_free(cached);
	if (pb_store_age(now, fetched_at) < PB_JWKS_REFETCH_INTERVAL) {
		pb_store_note(c, "cache is %llds old; no refetch within %ds",
		    pb_store_age(now, fetched_at), PB_JWKS_REFETCH_INTERVAL);
		return PB_UNKNOWN_KEY;
	}
	return fetch_for_login(c, "refetch failed: ", "refetched", out) ==
	    0 ? PB_OK : PB_UNKNOWN_KEY;
}

static enum pb_reason
refetch_shared(struct pb_store *c, long long now, struct pb_jwks **out)
{
	long long stamp, fetched_at = 0;
	struct pb_jwks *cached = NULL;
	enum pb_reason ret = PB_UNKNOWN_KEY;
	char why[384];
	int lk, r;

	if ((lk = pb_store_lock_open(c, why, sizeof(why))) < 0) {
		/* Without the stamp there is no bound on refetches. */
		pb_store_note(c, "%s; no refetch", why);
		return PB_UNKNOWN_KEY;
	}
	if ((r = pb_store_lock_wait(c, lk)) != 0) {
		pb_store_note(c, r > 0 ? "another process holds the cache "
		    "lock; no refetch" : "cannot lock the cache; no refetch");
		close(lk);
		return PB_UNKNOWN_KEY;
	}
	stamp = pb_store_read_stamp(c);
	if (stamp >= 0 && stamp <= now + PB_STORE_FUTURE_SLACK &&
	    now - stamp < PB_JWKS_REFETCH_INTERVAL) {
		/* Another login refetched moments ago: its keys, if it got
		 * any, are in the cache. */
		if (pb_store_load(c, now, &cached, &fetched_at) &&
		    fetched_at >= stamp) {
			pb_store_note(c, "refetched %llds ago; using those "
			    "keys", pb_store_age(now, stamp));
			*out = cached;
			ret = PB_OK;
		} else {
			pb_jwks_free(cached);
			pb_store_note(c, "last refetch %llds ago; at most one "
			    "per %ds", pb_store_age(now, stamp),
			    PB_JWKS_REFETCH_INTERVAL);
		}
		close(lk);
		return ret;
	}
	/* Stamped before the attempt, so failures count too. */
	if (pb_store_write_stamp(c, now, why, sizeof(why)) != 0) {
		pb_store_note(c, "%s; no refetch", why);
		close(lk);
		return PB_UNKNOWN_KEY;
	}
	if (pb_store_refresh(c, now, out) == 0)
		ret = PB_OK;
	close(lk);
	return ret;
}

enum pb_reason
pb_keys_refresh_for_kid(const struct pb_config *cfg, long long now,
    struct pb_jwks **out, char *detail, size_t detail_len)
{
	struct pb_store c;
	enum pb_reason r;
	char why[384];

	*out = NULL;
	if (detail_len > 0)
		detail[0] = '\0';
	if (cfg->jwks.url == NULL || cfg->jwks.file != NULL) {
		snprintf(detail, detail_len, "no jwks.url to refetch");
		return PB_UNKNOWN_KEY;
	}
	pb_store_init(&c, cfg, detail, detail_len);
	if (pb_store_names(&c) != 0) {
		pb_store_note(&c, "cannot hash jwks.url");
		return PB_UNKNOWN_KEY;
	}
	why[0] = '\0';
	if (pb_store_open_dir(&c, !c.tool, why, sizeof(why)) != 0)
		pb_store_note(&c, "cache ignored: %s", why);
	if (c.tool || c.dirfd < 0)
		r = refetch_read_only(&c, now, out);
	else
		r = refetch_shared(&c, now, out);
	pb_store_done(&c);
	if (r != PB_OK) {
		pb_jwks_free(*out);
		*out = NULL;
	}
	return r;
}
