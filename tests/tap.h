/*
 * tap.h - a minimal TAP producer for the C unit tests.
 *
 * Each check prints "ok N - name" or "not ok N - name"; automake's
 * tap-driver.sh counts them one by one, so the suite summary counts
 * individual checks rather than test programs. A failed check says where
 * it is; ok_eq also says what it expected and what it got.
 */
#ifndef PB_TAP_H
#define PB_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

#define ok(...) tap_ok(__FILE__, __LINE__, __VA_ARGS__)

static __attribute__((format(printf, 4, 5), unused)) int
tap_ok(const char *file, int line, int pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#   at %s:%d\n", file, line);
	return pass;
}

/* ok(got == want, ...), saying both values when they differ. */
#define ok_eq(got, want, ...) \
	tap_eq(__FILE__, __LINE__, (long long)(got), (long long)(want), \
	    #got, __VA_ARGS__)

static __attribute__((format(printf, 6, 7), unused)) int
tap_eq(const char *file, int line, long long got, long long want,
    const char *what, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(got == want, fmt, ap);
	va_end(ap);
	if (got != want)
		printf("#   at %s:%d: expected %s to be %lld, got %lld\n",
		    file, line, what, want, got);
	return got == want;
}

/* The same for strings. */
#define ok_str(got, want, ...) \
	tap_str(__FILE__, __LINE__, (got), (want), #got, __VA_ARGS__)

static __attribute__((format(printf, 6, 7), unused)) int
tap_str(const char *file, int line, const char *got, const char *want,
    const char *what, const char *fmt, ...)
{
	int pass = got != NULL && want != NULL && strcmp(got, want) == 0;
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#   at %s:%d: expected %s to be \"%s\", got \"%s\"\n",
		    file, line, what, want ? want : "(null)",
		    got ? got : "(null)");
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
