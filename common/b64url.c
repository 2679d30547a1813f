/*
 * b64url.c - strict, unpadded base64url (RFC 4648 section 5) decoding.
 *
 * Every byte of a token and of a JWK goes through here, so there is
 * exactly one encoding per value: no padding, no whitespace, no characters
 * from the other base64 alphabet, and the unused low bits of the last
 * character must be zero. A lenient decoder (libjwt's libb64 skips junk)
 * would let two different strings carry the same token.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "b64url.h"

/* The 6-bit value of each byte of the alphabet (RFC 4648 table 2), and
 * NOT_B64 for every other byte. Every byte of a token passes through this
 * table twice (the token's shape, then its decoding), so it is a lookup;
 * test_token checks it against the alphabet for all 256 bytes. */
#define NOT_B64 64
static const unsigned char b64url_value[256] = {
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 62, 64, 64,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 64, 64, 64, 64, 64, 64,
	64,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 64, 64, 64, 64, 63,
	64, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
};

size_t
pb_b64url_span(const char *src, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (b64url_value[(unsigned char)src[i]] == NOT_B64)
			break;
	return i;
}

int
pb_b64url_decode(const char *src, size_t len, unsigned char **out,
    size_t *out_len)
{
	unsigned char *buf;
	size_t i, o, rem, cap;
	uint32_t acc = 0;
	int bits = 0;

	if (out == NULL || out_len == NULL)
		return -1;
	*out = NULL;
	*out_len = 0;
	if (src == NULL && len != 0)
		return -1;

	/* One leftover character carries only 6 bits: never a whole byte,
	 * so no encoder produces it. */
	rem = len % 4;
	if (rem == 1)
		return -1;

	/* 3 bytes per full quantum, 1 or 2 for a partial one, +1 for the
	 * NUL. len / 4 * 3 cannot overflow. */
	cap = len / 4 * 3 + (rem ? rem - 1 : 0) + 1;
	buf = malloc(cap);
	if (buf == NULL)
		return -1;

	o = 0;
	for (i = 0; i < len; i++) {
		unsigned v = b64url_value[(unsigned char)src[i]];

		if (v == NOT_B64)
			goto fail;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* 2 or 4 bits left over after a partial quantum: they must be zero,
	 * or several strings would decode to the same bytes. */
	if (bits != 0 && acc != 0)
		goto fail;

	buf[o] = '\0';
	*out = buf;
	*out_len = o;
	return 0;

fail:
	free(buf);
	return -1;
}
