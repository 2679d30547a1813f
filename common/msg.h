/*
 * msg.h - the one formatter for details, errors and trace lines.
 */
#ifndef PB_MSG_H
#define PB_MSG_H

#include <stdbool.h>
#include <stddef.h>

/* snprintf into a detail buffer, where a message cut at the end of the
 * buffer is intended (a log line, not data). A NULL or empty buffer is
 * left alone, so callers can pass "no message wanted". */
void pb_msg(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "2023-11-14T22:13:20Z" for the epoch time t, or "" when t is not a
 * representable time. */
void pb_iso_time(char *buf, size_t len, long long t);

/* The n bytes of in as 2n lowercase hex digits and a NUL in out, which
 * holds 2n + 1 bytes: the names of cache and replay files. */
void pb_hex(const unsigned char *in, size_t n, char *out);

/* strerror_r's message for e: buf, or a static string of glibc's. */
const char *pb_errstr(int e, char *buf, size_t len);

/* Writes s (len bytes) into buf as a double-quoted string with control
 * characters, quotes and backslashes escaped, cut short with "..." when
 * it does not fit in max bytes of input. Always NUL-terminates. */
void pb_quote(char *buf, size_t buflen, const char *s, size_t len,
    size_t max);

/* A growing byte string that remembers an allocation failure instead of
 * reporting each one, so a writer goes straight through and checks oom
 * once at the end. p is NUL-terminated after every put. Start from
 * { NULL, 0, 0, false }; free(p) when done. */
struct pb_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

void pb_buf_put(struct pb_buf *b, const void *s, size_t n);

#endif
