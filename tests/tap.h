/*
 * tap.h - a minimal TAP producer for the C unit tests.
 *
 * Each check prints "ok N - name" or "not ok N - name"; automake's
 * tap-driver.sh counts them one by one, so the suite summary counts
 * individual checks rather than test programs.
 */
#ifndef PB_TAP_H
#define PB_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_n, tap_failed;

static __attribute__((format(printf, 2, 0))) void
tap_vresult(int pass, const char *fmt, va_list ap)
{
	printf("%s %d - ", pass ? "ok" : "not ok", ++tap_n);
	vprintf(fmt, ap);
	putchar('\n');
	if (!pass)
		tap_failed++;
	fflush(stdout);
}

static __attribute__((format(printf, 2, 3), unused)) int
ok(int pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(pass, fmt, ap);
	va_end(ap);
	return pass;
}

static __attribute__((format(printf, 1, 2), unused)) void
diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Call last: prints the plan and returns main's exit status. */
static __attribute__((unused)) int
done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
