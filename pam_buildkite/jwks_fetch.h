/*
 * jwks_fetch.h - one HTTPS GET of a JWKS document, through a libcurl that
 * is loaded only when a fetch is actually needed.
 */
#ifndef PB_JWKS_FETCH_H
#define PB_JWKS_FETCH_H

#include <stddef.h>

/* Fetches url (which must start with "https://") with certificate checks,
 * no redirects, no proxy, at most max bytes of body, and timeout_ms as a
 * hard bound on the whole transfer. ca_file, when not NULL, replaces the
 * system's trust anchors. Only an HTTP 200 answer counts.
 *
 * Returns 0 with *body a malloc'd, NUL-terminated buffer of *len bytes
 * (the caller frees it), or -1 with *body NULL and the cause in err
 * (timeout, TLS verification, HTTP status N, too large, not https,
 * libcurl not installed ...).
 *
 * libcurl.so.4 is dlopen'ed with RTLD_NODELETE on each call (dlopen is
 * reference counted, so later calls cost a lookup): a process that never
 * fetches never maps libcurl and its ~30 dependencies, and once mapped it
 * stays mapped, which CURLOPT_QUICK_EXIT's detached resolver thread
 * needs. */
int pb_jwks_fetch(const char *url, const char *ca_file, long timeout_ms,
    size_t max, char **body, size_t *len, char *err, size_t errlen);

#endif
