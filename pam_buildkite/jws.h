/*
 * jws.h - the compact serialisation of a JWS (RFC 7515 section 7.1):
 * three base64url segments, taken apart without judging what they say.
 *
 * The verifier (token.c) and the admin tool's decode, which shows a
 * token whose signature does not verify too, take tokens apart here.
 * Nothing here bounds the length: the caller does (PB_TOKEN_MAX_BYTES on
 * the login path).
 */
#ifndef PB_JWS_H
#define PB_JWS_H

#include <stddef.h>

#include <jansson.h>

/* A token's segments, pointing into the token: header "." payload "."
 * signature, each still base64url text (possibly empty, possibly with
 * characters outside the alphabet: see pb_jws_split). */
struct pb_jws {
	const char *header;
	size_t header_len;
	const char *payload;
	size_t payload_len;
	const char *sig;
	size_t sig_len;
	/* The signing input is the token's own first signed_len bytes
	 * (header "." payload), never a re-encoding of what was parsed. */
	size_t signed_len;
};

/* Why pb_jws_object refused a segment. */
enum pb_jws_err {
	PB_JWS_OK = 0,
	PB_JWS_BASE64,          /* not strict unpadded base64url */
	PB_JWS_JSON,            /* not JSON, or with duplicate members */
	PB_JWS_NOT_OBJECT,      /* JSON, but not an object */
};

/* Drops the whitespace (space, tab, CR, LF) around *token (*len bytes),
 * as a token pasted from a file or a terminal has it. */
void pb_jws_trim(const char **token, size_t *len);

/* How many bytes of token (len bytes read from a file or a pipe) the
 * verifier looks at: those before a NUL, where PAM's C string ends,
 * without the surrounding whitespace. */
size_t pb_jws_text_len(const char *token, size_t len);

/* Splits token (len bytes) at its two dots into jws. Returns 0, or -1
 * when it is not three dot-separated parts. The segments are neither
 * checked nor decoded. */
int pb_jws_split(const char *token, size_t len, struct pb_jws *jws);

/* Decodes segment seg (len characters) and parses it as a JSON object,
 * strictly: strict base64url, no NUL byte, no duplicate members, nothing
 * after the object. Returns the object (the caller decrefs it), or NULL
 * with *err saying why and, for PB_JWS_JSON, *jerr (when not NULL)
 * where. */
json_t *pb_jws_object(const char *seg, size_t len, enum pb_jws_err *err,
    json_error_t *jerr);

#endif
