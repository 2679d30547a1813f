/*
 * junit.h - JUnit XML reports (junit.c).
 */
#ifndef PB_JUNIT_H
#define PB_JUNIT_H

#include <stddef.h>

struct junit_case {
	const char *name;
	unsigned line;          /* in the file the cases came from */
	const char *failure;    /* NULL when the case passed */
};

/* Writes the n cases to path as one test suite. Returns 0, or -1 with
 * errno set. */
int junit_write(const char *path, const char *suite, const char *classname,
    const char *file, const struct junit_case *cases, size_t n);

#endif
