/*
 * msg.c - the one formatter for details, errors and trace lines.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

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
