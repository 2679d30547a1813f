/*
 * tokmint.h - mint test tokens and key sets: our own keys, any claim,
 * any header, any signature bend a test needs. Used by the tests and by
 * pam-buildkite dry-run (cmd_dry_run.c), whose tokens are for dry runs
 * only: they name an issuer that is not Buildkite's.
 */
#ifndef PB_TOKMINT_H
#define PB_TOKMINT_H

#include <stddef.h>

#include <jansson.h>

struct tm_key;

/* type: "rsa2048", "rsa1024", "rsa3072", "ec256", "ec384". NULL on error. */
struct tm_key *tm_key_generate(const char *type);
struct tm_key *tm_key_load(const char *pem_path);        /* private key PEM */
/* The same, from len bytes of PEM in memory. */
struct tm_key *tm_key_from_pem(const char *pem, size_t len);
int tm_key_save(const struct tm_key *key, const char *pem_path);
void tm_key_free(struct tm_key *key);

/* The public JWK of key as a JSON object; members of extra (may be NULL)
 * are added or replace the generated ones (e.g. {"use":"enc"}, {"e":"AQ"}),
 * a member set to JSON null is removed. Caller json_decref's. */
json_t *tm_jwk(const struct tm_key *key, const char *kid, const json_t *extra);

/* {"keys":[...]} as a malloc'd string. */
char *tm_jwks_string(json_t *const *jwks, size_t n);

/* The claims of a default Buildkite token issued at now (iat = nbf = now,
 * exp = now + 300): iss https://agent.buildkite.com, the given aud and
 * organization_slug, pipeline_slug "api", build_branch "main",
 * step_key "migrate", build_number 42, build_tag null, build_source "ui",
 * job_id, agent_id, jti, sub, runner_environment. Caller json_decref's. */
json_t *tm_default_claims(long long now, const char *aud, const char *org);

/* Serialises header and payload compactly (JSON_COMPACT, keys in
 * insertion order), base64url-encodes them and signs "h.p" as alg says:
 * RS256/384/512 and ES256/384 with key (JOSE R||S for EC), HS256/384/512
 * with hmac_key bytes, "none" gives an empty signature.
 * Returns a malloc'd compact JWS, NULL on error. */
char *tm_sign(const json_t *header, const json_t *payload, const char *alg,
    const struct tm_key *key, const unsigned char *hmac_key, size_t hmac_len);

/* The signature alone of len bytes of data, as tm_sign makes it for alg
 * (any alg tm_sign takes): *sig is malloc'd, *siglen bytes. Returns 0, or
 * -1 (also when key does not fit alg). */
int tm_sign_input(const char *alg, const struct tm_key *key,
    const unsigned char *hmac_key, size_t hmac_len, const unsigned char *data,
    size_t len, unsigned char **sig, size_t *siglen);

/* Same, with header and payload given as raw JSON text (used as is, so
 * tests can send duplicate keys or broken JSON). */
char *tm_sign_raw(const char *header, size_t header_len, const char *payload,
    size_t payload_len, const char *alg, const struct tm_key *key,
    const unsigned char *hmac_key, size_t hmac_len);

/* Convenience: {"kid":kid,"alg":alg} header (kid omitted when NULL). */
char *tm_token(const struct tm_key *key, const char *kid, const char *alg,
    const json_t *claims);

/* The public key as SubjectPublicKeyInfo PEM, malloc'd (for HS256 with
 * public key confusion tests). */
char *tm_public_pem(const struct tm_key *key, size_t *len);

/* A random (version 4) UUID in out, for a jti: 0, or -1. */
int tm_uuid(char out[37]);
/* Sets claims' sub from the claims it summarises, as Buildkite makes it:
 * organization:ORG:pipeline:PIPE:ref:REF:commit:SHA:step:STEP, REF
 * refs/tags/TAG when build_tag is a string, else refs/heads/BRANCH (a
 * claim that is not a string reads as ""). 0, or -1. */
int tm_derive_sub(json_t *claims);
/* base64url (unpadded) of len bytes, malloc'd. */
char *tm_b64url(const unsigned char *buf, size_t len);

#endif
