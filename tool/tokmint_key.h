/*
 * tokmint_key.h - the key of tokmint.c, shared with tokmint_sign.c only:
 * an OpenSSL key and what signing with it needs to know.
 */
#ifndef PB_TOKMINT_KEY_H
#define PB_TOKMINT_KEY_H

#include <stddef.h>

#include <openssl/evp.h>

enum tm_kind { TM_RSA, TM_EC };

struct tm_key {
	EVP_PKEY *pkey;
	enum tm_kind kind;
	size_t coord;		/* EC: bytes per coordinate (32, 48) */
};

#endif
