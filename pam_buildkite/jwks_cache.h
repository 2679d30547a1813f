/*
 * jwks_cache.h - where the module gets its keys: the static jwks.file of
 * the policy, or the shared on-disk cache of jwks.url (doc/keys.md).
 *
 * Cache files live in jwks.cache, named after the URL only (never after
 * anything a login supplies): jwks-<32 hex of SHA-256(url)>.json holds
 * {"url": ..., "fetched_at": <epoch>, "jwks": {...}}, .lock next to it
 * lets one process refresh while the others keep using the cached keys,
 * and .attempt holds the epoch of the last unknown-kid refetch.
 *
 * All functions take the time of day as now (Unix seconds) from the
 * caller, and bound their waiting and fetching together by jwks.timeout
 * on CLOCK_MONOTONIC. None keeps state between calls.
 *
 * The login path is jwks_cache.c, the admin tool's functions are
 * jwks_admin.c, and both keep the cache through jwks_store.c.
 */
#ifndef PB_JWKS_CACHE_H
#define PB_JWKS_CACHE_H

#include <stddef.h>
#include <sys/types.h>

#include "jwks.h"
#include "policy_config.h"
#include "reason.h"

/* At most one unknown-kid refetch per this many seconds per cache. */
#define PB_JWKS_REFETCH_INTERVAL 60

/* Loads the key set the policy names: jwks.file, or for jwks.url the
 * cache when fresh, else a refresh (writer: module) or the cache within
 * max_stale and an in-memory fetch without one (writer: tool). Returns
 * PB_OK with *out set (free with pb_jwks_free), or PB_JWKS_UNAVAILABLE.
 * detail says why on failure, and on success notes what was done when
 * it was more than reading a fresh cache (a cache ignored and why, stale
 * keys used, an in-memory fetch). */
enum pb_reason pb_keys_get(const struct pb_config *cfg, long long now,
    struct pb_jwks **out, char *detail, size_t detail_len);

/* For a token whose kid the keys from pb_keys_get lack (key rotation):
 * refetches jwks.url at most once per PB_JWKS_REFETCH_INTERVAL seconds
 * per cache. writer: module stamps the .attempt file before fetching, so
 * failing refetches cannot amplify requests, and writes the cache on
 * success; when another login refetched within the interval, its keys
 * are returned from the cache. writer: tool cannot stamp a shared file:
 * it refetches (in memory only) when the cache is older than the
 * interval, so each login process costs at most one such fetch. Returns
 * PB_OK with new keys in *out, or PB_UNKNOWN_KEY (no refetch allowed, or
 * it failed) with a detail. */
enum pb_reason pb_keys_refresh_for_kid(const struct pb_config *cfg,
    long long now, struct pb_jwks **out, char *detail, size_t detail_len);

/* For pam-buildkite jwks fetch: creates jwks.cache (0755) if missing,
 * fetches jwks.url now whatever the cache's age, validates the answer and
 * replaces the cache atomically. Returns PB_OK with "wrote N keys to
 * PATH" in detail, PB_CONFIG when the policy has no jwks.url, or
 * PB_JWKS_UNAVAILABLE with the reason. */
enum pb_reason pb_cache_fill(const struct pb_config *cfg, long long now,
    char *detail, size_t detail_len);

/* The cache directory judged as a login running as uid would judge it
 * (the tool's check): 0 usable, -1 with why (which names the directory)
 * when logins would ignore it. */
int pb_cache_dir_judge(const struct pb_config *cfg, uid_t uid, char *why,
    size_t whylen);

#endif
