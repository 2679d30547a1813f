/*
 * sha256.h - SHA-256 of one buffer, and the switch that lets a file call
 * OpenSSL's low-level RSA, EC and SHA-2 functions (deprecated since
 * OpenSSL 3.0, still part of its API): included first, right after
 * config.h, by every file that calls them.
 *
 * Why not EVP: a PostgreSQL backend is a fresh process per connection.
 * The first EVP_PKEY_fromdata, EVP_MD_fetch or EVP_DigestVerifyInit in a
 * process builds the provider's method tables for the whole operation,
 * and OPENSSL_cleanup, which the postmaster registered with atexit, tears
 * them down again when the backend exits. That cost about 0.4 ms of CPU
 * per connection (perf on PostgreSQL 15) and 0.25 ms of each login in a
 * fresh process (make bench), more than the module's own work. The
 * low-level calls use the same implementations (RSA_verify compares the
 * whole encoded PKCS #1 block, ECDSA_do_verify is what the provider
 * calls) without the tables. Keys still travel as EVP_PKEY, so only key
 * building and the checks themselves change. The one-shot SHA256() is
 * no way out: in OpenSSL 3 it is EVP_Q_digest, a fetch.
 */
#ifndef PB_SHA256_H
#define PB_SHA256_H

#define OPENSSL_SUPPRESS_DEPRECATED

#include <stddef.h>

#include <openssl/sha.h>

/* SHA-256 of one buffer into md. Returns 0, or -1. */
static inline int
pb_sha256(const void *data, size_t len,
    unsigned char md[SHA256_DIGEST_LENGTH])
{
	SHA256_CTX c;

	return SHA256_Init(&c) == 1 && SHA256_Update(&c, data, len) == 1 &&
	    SHA256_Final(md, &c) == 1 ? 0 : -1;
}

#endif
