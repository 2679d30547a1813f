/*
 * msg.c - the one formatter for details, errors and trace lines.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msg.h"

void
pb_msg(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

const char *
pb_errstr(int e, char *buf, size_t len)
{
	/* GNU strerror_r returns the message, which may not be buf. */
	return strerror_r(e, buf, len);
}

void
pb_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void
pb_iso_time(char *buf, size_t len, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (buf == NULL || len == 0)
		return;
	if ((long long)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
}

void
pb_buf_put(struct pb_buf *b, const void *s, size_t n)
{
	size_t cap;
	char *np;

	if (b->oom)
		return;
	if (n >= b->cap - b->len) {
		/* room for n bytes and the NUL, in doublings */
		cap = b->cap ? b->cap : 512;
		while (cap - b->len <= n) {
			if (cap > SIZE_MAX / 2) {
				b->oom = true;
				return;
			}
			cap *= 2;
		}
		if ((np = realloc(b->p, cap)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
pb_quote(char *buf, size_t buflen, const char *s, size_t len, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i, cut = len;
	bool truncated = false;

	if (buflen == 0)
		return;
	if (cut > max) {
		cut = max;
		/* do not end in the middle of a UTF-8 sequence */
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
		truncated = true;
	}
	/* room for the closing quote, "..." and the NUL */
	if (buflen < 6) {
		buf[0] = '\0';
		return;
	}
	buf[o++] = '"';
	for (i = 0; i < cut; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[5];
		size_t n;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			n = 2;
		} else if (c == '\n' || c == '\t' || c == '\r') {
			esc[0] = '\\';
			esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
			n = 2;
		} else if (c < 0x20 || c == 0x7f) {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[c >> 4];
			esc[3] = hex[c & 0xf];
			n = 4;
		} else {
			esc[0] = (char)c;
			n = 1;
		}
		if (o + n + 5 > buflen) {
			truncated = true;
			break;
		}
		memcpy(buf + o, esc, n);
		o += n;
	}
	buf[o++] = '"';
	if (truncated) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
}
