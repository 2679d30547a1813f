/*
 * jws.c - taking a compact JWS apart (RFC 7515 section 7.1), without a
 * JWT library: libjwt 1.x decodes base64 leniently and accepts duplicate
 * JSON members, and whatever the verifier refuses, the admin tool's
 * decode should refuse the same way.
 */
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "b64url.h"
#include "jws.h"

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void
pb_jws_trim(const char **token, size_t *len)
{
	while (*len > 0 && is_ws((*token)[0])) {
		(*token)++;
		(*len)--;
	}
	while (*len > 0 && is_ws((*token)[*len - 1]))
		(*len)--;
}

size_t
pb_jws_text_len(const char *token, size_t len)
{
	const char *p = token;
	size_t n = strnlen(token, len);

	pb_jws_trim(&p, &n);
	return n;
}

int
pb_jws_split(const char *token, size_t len, struct pb_jws *jws)
{
	const char *d1, *d2;

	memset(jws, 0, sizeof(*jws));
	d1 = memchr(token, '.', len);
	d2 = d1 != NULL ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) :
	    NULL;
	if (d1 == NULL || d2 == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) != NULL)
		return -1;
	jws->header = token;
	jws->header_len = (size_t)(d1 - token);
	jws->payload = d1 + 1;
	jws->payload_len = (size_t)(d2 - d1 - 1);
	jws->sig = d2 + 1;
	jws->sig_len = len - (size_t)(d2 + 1 - token);
	jws->signed_len = (size_t)(d2 - token);
	return 0;
}

/* A json_error_t for a NUL byte at offset at, as jansson would word it. */
static void
nul_error(json_error_t *jerr, size_t at)
{
	if (jerr == NULL)
		return;
	memset(jerr, 0, sizeof(*jerr));
	jerr->line = 1;
	jerr->column = at < (size_t)INT_MAX ? (int)at + 1 : -1;
	jerr->position = at < (size_t)INT_MAX ? (int)at : -1;
	snprintf(jerr->text, sizeof(jerr->text), "NUL byte in the JSON text");
}

json_t *
pb_jws_object(const char *seg, size_t len, enum pb_jws_err *err,
    json_error_t *jerr)
{
	unsigned char *raw = NULL, *nul;
	size_t raw_len;
	json_t *obj;

	if (pb_b64url_decode(seg, len, &raw, &raw_len) != 0) {
		*err = PB_JWS_BASE64;
		return NULL;
	}
	/* JSON text never holds a NUL byte, yet jansson 2.14 skips one that
	 * follows a number, where a parser of C strings stops. */
	if ((nul = memchr(raw, '\0', raw_len)) != NULL) {
		nul_error(jerr, (size_t)(nul - raw));
		free(raw);
		*err = PB_JWS_JSON;
		return NULL;
	}
	/* No JSON_ALLOW_NUL: strings holding NUL are refused, so every
	 * string value is a proper C string. No JSON_DISABLE_EOF_CHECK:
	 * trailing bytes are refused. */
	obj = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES,
	    jerr);
	free(raw);
	if (obj == NULL) {
		*err = PB_JWS_JSON;
		return NULL;
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		*err = PB_JWS_NOT_OBJECT;
		return NULL;
	}
	*err = PB_JWS_OK;
	return obj;
}
