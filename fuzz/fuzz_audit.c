/*
 * fuzz_audit.c - fuzz target for the audit event formatter. The first
 * input byte picks the reason (out-of-range values included); the rest
 * is split at NUL bytes into role, service, rhost, kid, rule, detail and
 * the JSON text of the claims. A missing field, or one that is the
 * single byte 0xff, is NULL.
 *
 * Both formats are produced and checked with __builtin_trap:
 *  - the logfmt line is printable valid UTF-8 (no control characters,
 *    no C1 controls, no U+2028/U+2029), so it stays one syslog line;
 *  - the JSON line parses (duplicates rejected) as one object;
 *  - both carry the same fields in the same order with the same values,
 *    so no value can forge a field in either;
 *  - a value that is valid UTF-8 and at most PB_AUDIT_MAX_VALUE bytes
 *    comes back from the JSON unchanged, and no value comes back longer
 *    than its escaped, cut maximum.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"

#define NFIELDS 7
#define MAX_KEYS 64     /* more than an event has: 49 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* Strict UTF-8: no overlong forms, surrogates or values past
 * U+10FFFF. When printable is set, also no C0/C1 controls, DEL or
 * U+2028/U+2029. */
static bool
utf8_ok(const unsigned char *s, size_t n, bool printable)
{
	size_t i = 0, len, k;
	unsigned long c;

	while (i < n) {
		unsigned char b = s[i];

		if (b < 0x80) {
			if (printable && (b < 0x20 || b == 0x7f))
				return false;
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			len = 2;
			c = b & 0x1f;
		} else if (b >= 0xe0 && b <= 0xef) {
			len = 3;
			c = b & 0x0f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			len = 4;
			c = b & 0x07;
		} else {
			return false;
		}
		if (i + len > n)
			return false;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			c = c << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
		    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		if (printable && ((c >= 0x80 && c <= 0x9f) || c == 0x2028 ||
		    c == 0x2029))
			return false;
		i += len;
	}
	return true;
}

struct lf_field {
	char key[80];   /* agent_tag: and a 64-byte name */
	const char *val;        /* into the line */
	size_t len;
	bool quoted;            /* val includes the quotes */
};

/* Splits a logfmt line into fields; traps on anything that is not
 * key=value pairs separated by single spaces. Returns the count. */
static size_t
logfmt_split(const char *line, struct lf_field *f, size_t max)
{
	const char *p = line;
	size_t n = 0, k;

	while (*p != '\0') {
		if (n > 0 && *p++ != ' ')
			__builtin_trap();
		if (n == max)
			__builtin_trap();
		k = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_:.-");
		if (k == 0 || k >= sizeof(f[n].key) || p[k] != '=')
			__builtin_trap();
		memcpy(f[n].key, p, k);
		f[n].key[k] = '\0';
		p += k + 1;
		f[n].val = p;
		if (*p == '"') {
			f[n].quoted = true;
			for (p++; *p != '"'; p++) {
				if (*p == '\0')
					__builtin_trap();
				if (*p == '\\' && *++p == '\0')
					__builtin_trap();
			}
			p++;
		} else {
			f[n].quoted = false;
			while (*p != '\0' && *p != ' ')
				p++;
		}
		f[n].len = (size_t)(p - f[n].val);
		n++;
	}
	return n;
}

/* The logfmt and JSON lines say the same thing. */
static void
compare(const char *logfmt, json_t *obj)
{
	struct lf_field f[MAX_KEYS];
	size_t n = logfmt_split(logfmt, f, MAX_KEYS), i = 0;
	const char *key;
	json_t *v;

	if (json_object_size(obj) != n)
		__builtin_trap();
	/* jansson keeps the order of members */
	json_object_foreach(obj, key, v) {
		if (i >= n || strcmp(key, f[i].key) != 0)
			__builtin_trap();
		if (json_is_integer(v)) {
			char num[32];

			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
			    json_integer_value(v));
			if (f[i].quoted || f[i].len != strlen(num) ||
			    memcmp(f[i].val, num, f[i].len) != 0)
				__builtin_trap();
		} else if (json_is_string(v)) {
			json_t *d = NULL;

			if (f[i].quoted)
				d = json_loadb(f[i].val, f[i].len,
				    JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
			if (f[i].quoted ? !json_equal(d, v) :
			    f[i].len != json_string_length(v) ||
			    memcmp(f[i].val, json_string_value(v),
			    f[i].len) != 0)
				__builtin_trap();
			json_decref(d);
		} else if (json_is_null(v)) {
			/* null is bare, the string "null" quoted */
			if (f[i].quoted || f[i].len != 4 ||
			    memcmp(f[i].val, "null", 4) != 0)
				__builtin_trap();
		} else {
			__builtin_trap();
		}
		i++;
	}
}

/* A value given to the formatter and what the JSON line says of it. */
static void
check_value(const json_t *obj, const char *key, const char *in,
    size_t inlen)
{
	const json_t *v = json_object_get(obj, key);

	if (in == NULL) {
		if (v != NULL)
			__builtin_trap();
		return;
	}
	if (!json_is_string(v))
		__builtin_trap();
	/* each input byte becomes at most the four characters of \xNN,
	 * plus "..." when cut */
	if (json_string_length(v) > 4 * (size_t)PB_AUDIT_MAX_VALUE + 3)
		__builtin_trap();
	if (inlen <= PB_AUDIT_MAX_VALUE &&
	    utf8_ok((const unsigned char *)in, inlen, false) &&
	    (json_string_length(v) != inlen ||
	    memcmp(json_string_value(v), in, inlen) != 0))
		__builtin_trap();
}

/* One claim c, shown (or not) as v under field. */
static void
check_claim(const json_t *obj, const char *field, const json_t *c)
{
	const json_t *v = json_object_get(obj, field);

	if (json_is_integer(c)) {
		if (!json_is_integer(v) ||
		    json_integer_value(v) != json_integer_value(c))
			__builtin_trap();
	} else if (json_is_string(c)) {
		size_t len = json_string_length(c);

		if (memchr(json_string_value(c), '\0', len) != NULL) {
			if (!json_is_string(v))
				__builtin_trap();
			return;
		}
		check_value(obj, field, json_string_value(c), len);
	} else if (json_is_null(c)) {
		if (!json_is_null(v))
			__builtin_trap();
	} else if (v != NULL) {
		__builtin_trap();
	}
}

/* Every claim a rule can match is shown under its field; each agent tag
 * under its own name or counted in agent_tags_omitted, never both. */
static void
check_claims(const json_t *obj, json_t *claims)
{
	const size_t plen = sizeof(PB_AUDIT_TAG_PREFIX) - 1;
	json_int_t tags = 0, shown = 0;
	const char *key;
	json_t *c;
	size_t i;

	for (i = 0; pb_audit_claims[i].field != NULL; i++)
		check_claim(obj, pb_audit_claims[i].field,
		    json_object_get(claims, pb_audit_claims[i].claim));
	check_claim(obj, "sub", json_object_get(claims, "sub"));
	check_claim(obj, "jti", json_object_get(claims, "jti"));
	json_object_foreach(claims, key, c) {
		if (strncmp(key, PB_AUDIT_TAG_PREFIX, plen) != 0 ||
		    !(json_is_string(c) || json_is_integer(c)))
			continue;
		tags++;
		if (json_object_get(obj, key) != NULL) {
			check_claim(obj, key, c);
			shown++;
		}
	}
	if (shown > PB_AUDIT_MAX_TAGS || (tags == shown) != (json_object_get(
	    obj, "agent_tags_omitted") == NULL) || (tags > shown &&
	    json_integer_value(json_object_get(obj, "agent_tags_omitted")) !=
	    tags - shown))
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *field[NFIELDS] = { NULL };
	size_t flen[NFIELDS] = { 0 };
	struct pb_audit_event ev;
	char *buf, *p, *end, *logfmt, *js;
	json_t *claims = NULL, *obj;
	size_t i;

	if (size == 0)
		return 0;
	/* one spare NUL, so every field is a C string */
	buf = malloc(size);
	if (buf == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	p = buf;
	end = buf + size - 1;
	for (i = 0; i < NFIELDS && p <= end; i++) {
		size_t len = strlen(p);

		if (!(len == 1 && (unsigned char)p[0] == 0xff)) {
			field[i] = p;
			flen[i] = len;
		}
		p += len + 1;
	}
	if (field[6] != NULL)
		claims = json_loadb(field[6], flen[6],
		    JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

	memset(&ev, 0, sizeof(ev));
	ev.reason = (enum pb_reason)(data[0] % (PB_SESSION_EXPIRED + 2));
	ev.duration = data[0];
	ev.role = field[0];
	ev.service = field[1];
	ev.rhost = field[2];
	ev.kid = field[3];
	ev.rule = field[4];
	ev.detail = field[5];
	ev.claims = claims;

	logfmt = pb_audit_format(&ev, PB_AUDIT_LOGFMT);
	js = pb_audit_format(&ev, PB_AUDIT_JSON);
	if (logfmt == NULL || js == NULL)
		__builtin_trap();
	if (!utf8_ok((const unsigned char *)logfmt, strlen(logfmt), true) ||
	    strpbrk(js, "\r\n") != NULL)
		__builtin_trap();
	obj = json_loads(js, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(obj))
		__builtin_trap();
	compare(logfmt, obj);

	if (strcmp(json_string_value(json_object_get(obj, "result")),
	    ev.reason == PB_OK ? "allow" : ev.reason == PB_SESSION_EXPIRED ?
	    "end" : "deny") != 0 ||
	    strcmp(json_string_value(json_object_get(obj, "reason")),
	    pb_reason_name(ev.reason)) != 0)
		__builtin_trap();
	check_value(obj, "role", field[0], flen[0]);
	check_value(obj, "service", field[1], flen[1]);
	check_value(obj, "rhost", field[2], flen[2]);
	check_value(obj, "kid", field[3] && field[3][0] ? field[3] : NULL,
	    flen[3]);
	check_value(obj, "rule", field[4], flen[4]);
	check_value(obj, "detail", field[5], flen[5]);
	if (json_is_object(claims))
		check_claims(obj, claims);

	json_decref(obj);
	json_decref(claims);
	free(logfmt);
	free(js);
	free(buf);
	return 0;
}
