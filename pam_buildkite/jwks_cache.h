/*
 * jwks_cache.h - where the module gets its keys: the static jwks.file of
 * the policy, or the shared on-disk cache of jwks.url.
 */
#ifndef PB_JWKS_CACHE_H
#define PB_JWKS_CACHE_H

#include <stddef.h>

#include "jwks.h"
#include "policy.h"
#include "reason.h"

/* Loads the key set the policy names. Returns PB_OK with *out set (free
 * with pb_jwks_free), or PB_JWKS_UNAVAILABLE with a detail for the log. */
enum pb_reason pb_keys_get(const struct pb_config *cfg, struct pb_jwks **out,
    char *detail, size_t detail_len);

/* Reads a whole regular file of at most max bytes into a malloc'd,
 * NUL-terminated buffer. Returns 0, or -1 with errno set (EFBIG when the
 * file is larger than max, EINVAL when it is not a regular file). */
int pb_read_file(const char *path, size_t max, char **buf, size_t *len);

#endif
