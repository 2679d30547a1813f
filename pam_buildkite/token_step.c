/*
 * token_step.c - the result of one verification step, reported once to
 * both the refusal and explain; and the words claim values may appear in.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "msg.h"
#include "token_step.h"

void
pb_step_set(struct pb_step *st, enum pb_reason r, const char *fmt, ...)
{
	va_list ap;

	st->reason = r;
	va_start(ap, fmt);
	vsnprintf(st->text, sizeof(st->text), fmt, ap);
	va_end(ap);
}

enum pb_reason
pb_step_report(const struct pb_steps *s, const char *name,
    const struct pb_step *st)
{
	if (st->reason != PB_OK)
		pb_msg(s->detail, s->detail_len, "%s", st->text);
	if (s->fn != NULL)
		s->fn(s->ctx, name, st->reason == PB_OK, st->text);
	return st->reason;
}

void
pb_printable(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t i, n = srclen;

	if (dstlen == 0)
		return;
	if (n > dstlen - 1)
		n = dstlen - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ?
		    (char)c : '?';
	}
	dst[n] = '\0';
}

bool
pb_json_str_eq(const json_t *s, const char *want)
{
	size_t n;

	if (!json_is_string(s) || want == NULL)
		return false;
	n = json_string_length(s);
	return strlen(want) == n && memcmp(json_string_value(s), want, n) == 0;
}
