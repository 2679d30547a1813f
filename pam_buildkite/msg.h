/*
 * msg.h - the one formatter for details, errors and trace lines.
 */
#ifndef PB_MSG_H
#define PB_MSG_H

#include <stddef.h>

/* snprintf into a detail buffer, where a message cut at the end of the
 * buffer is intended (a log line, not data). A NULL or empty buffer is
 * left alone, so callers can pass "no message wanted". */
void pb_msg(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "2023-11-14T22:13:20Z" for the epoch time t, or "" when t is not a
 * representable time. */
void pb_iso_time(char *buf, size_t len, long long t);

#endif
