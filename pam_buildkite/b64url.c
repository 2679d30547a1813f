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

/* The value of an alphabet character, or -1. A switch rather than a table
 * keeps it obviously correct and costs nothing at token sizes. */
static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
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
		int v = b64url_value((unsigned char)src[i]);

		if (v < 0)
			goto fail;
		acc = (acc << 6) | (uint32_t)v;
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
