/*
 * jwks.h - JSON Web Key Sets: parsing and choosing the key for a token.
 */
#ifndef PB_JWKS_H
#define PB_JWKS_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "policy_config.h"
#include "reason.h"

#define PB_JWKS_MAX_BYTES (256 * 1024)
#define PB_JWKS_MAX_KEYS 64

struct pb_jwks;

/* Parses a JWKS document ({"keys": [...]}). Keys of a type this module
 * cannot use are skipped; a structurally invalid document, more than
 * PB_JWKS_MAX_KEYS keys or more than PB_JWKS_MAX_BYTES bytes is an error.
 * Returns 0, or -1 with a reason in err. */
int pb_jwks_parse(const char *buf, size_t len, struct pb_jwks **out,
    char *err, size_t errlen);
/* The same, for a document already parsed (the cache file holds the set
 * inside its own JSON, which is then parsed once). */
int pb_jwks_from_json(const json_t *root, struct pb_jwks **out, char *err,
    size_t errlen);
void pb_jwks_free(struct pb_jwks *jwks);
size_t pb_jwks_count(const struct pb_jwks *jwks);

/* Chooses the key for a token: by kid, or when kid is NULL the only key of
 * the set. The key's kty (and crv), alg (if present) and use (if present)
 * must fit alg; RSA keys must have at least 2048 bits. On PB_OK *key holds
 * a new reference the caller frees with EVP_PKEY_free. Otherwise
 * PB_UNKNOWN_KEY (no such kid, several keys and no kid, key too weak) or
 * PB_ALGORITHM (key does not fit alg), with a detail for the log. */
enum pb_reason pb_jwks_select(const struct pb_jwks *jwks, const char *kid,
    enum pb_alg alg, EVP_PKEY **key, char *detail, size_t detail_len);

#endif
