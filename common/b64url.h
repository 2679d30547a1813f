/*
 * b64url.h - strict, unpadded base64url (RFC 4648 section 5) decoding.
 */
#ifndef PB_B64URL_H
#define PB_B64URL_H

#include <stddef.h>

/* Decodes len characters of src into a new malloc'd buffer (NUL-terminated
 * for convenience, *out_len excludes the NUL). Refuses padding, characters
 * outside [A-Za-z0-9_-], a length of 1 mod 4 and non-zero trailing bits.
 * Returns 0, or -1 (nothing allocated). */
int pb_b64url_decode(const char *src, size_t len, unsigned char **out,
    size_t *out_len);

/* The length of the longest prefix of src (len bytes) made only of
 * characters of the alphabet [A-Za-z0-9_-]. */
size_t pb_b64url_span(const char *src, size_t len);

#endif
