/*
 * jwks_admin.c - what the admin tool does with the key cache
 * (doc/keys.md): pam-buildkite jwks fetch fills it, whatever its age, and
 * check judges its directory as a login would.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jwks_cache.h"
#include "jwks_store.h"
#include "msg.h"

enum pb_reason
pb_cache_fill(const struct pb_config *cfg, long long now, char *detail,
    size_t detail_len)
{
	struct pb_jwks *keys = NULL;
	struct pb_store c;
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
	pb_store_init(&c, cfg, detail, detail_len);
	if (pb_store_names(&c) != 0) {
		pb_store_note(&c, "cannot hash jwks.url");
		return PB_JWKS_UNAVAILABLE;
	}
	if (cfg->jwks.cache != NULL && cfg->jwks.cache[0] == '/' &&
	    mkdir(cfg->jwks.cache, 0755) != 0 && errno != EEXIST) {
		pb_store_note(&c, "cannot create %s: %s", cfg->jwks.cache,
		    pb_errstr(errno, why, sizeof(why)));
		return PB_JWKS_UNAVAILABLE;
	}
	/* The tool writes: the writer's rules, whatever jwks.writer says. */
	why[0] = '\0';
	if (pb_store_open_dir(&c, true, why, sizeof(why)) != 0) {
		pb_store_note(&c, "%s", why);
		goto out;
	}
	if ((lk = pb_store_lock_open(&c, why, sizeof(why))) < 0) {
		pb_store_note(&c, "%s", why);
		goto out;
	}
	if ((r = pb_store_lock_wait(&c, lk)) != 0) {
		pb_store_note(&c, r > 0 ? "timed out waiting for the cache "
		    "lock" : "cannot lock the cache");
		goto out;
	}
	if (pb_store_fetch(&c, &keys, &body, &len, why, sizeof(why)) != 0) {
		pb_store_note(&c, "%s", why);
		goto out;
	}
	if (pb_store_write(&c, body, len, now, why, sizeof(why)) != 0) {
		pb_store_note(&c, "%s", why);
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
	pb_store_done(&c);
	return ret;
}

int
pb_cache_dir_judge(const struct pb_config *cfg, uid_t uid, char *why,
    size_t whylen)
{
	struct pb_store c;
	int r;

	pb_store_init(&c, cfg, NULL, 0);
	c.euid = uid;
	r = pb_store_open_dir(&c, !c.tool, why, whylen);
	pb_store_done(&c);
	return r;
}
