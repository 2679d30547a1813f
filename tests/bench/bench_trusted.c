/*
 * bench_trusted.c - what judging a file costs: pb_trusted_open (the
 * walk from /, each directory opened and judged, the object looked at
 * through O_PATH then opened) against a bare open and fstat of the same
 * path, per path given on the command line.
 *
 * usage: bench_trusted [-n ROUNDS] PATH...
 * Prints the median of ROUNDS (default 20001) timings of each, in
 * microseconds. Benchmark code only; never installed, never part of make
 * check.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "trusted_file.h"

static double
now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return v[n / 2];
}

int
main(int argc, char **argv)
{
	char why[PB_TRUST_WHY_MAX];
	struct stat st;
	double *a, *b, t;
	int i, n = 20001, c, fd;

	while ((c = getopt(argc, argv, "n:")) != -1)
		if (c == 'n' && (n = atoi(optarg)) > 0)
			continue;
		else {
			fprintf(stderr, "usage: bench_trusted [-n ROUNDS] "
			    "PATH...\n");
			return 2;
		}
	if ((a = calloc((size_t)n, sizeof(*a))) == NULL ||
	    (b = calloc((size_t)n, sizeof(*b))) == NULL)
		return 1;
	for (; optind < argc; optind++) {
		const char *p = argv[optind];

		for (i = 0; i < n; i++) {
			t = now_us();
			fd = pb_trusted_open(p, 0, geteuid(), &st, why,
			    sizeof(why));
			a[i] = now_us() - t;
			if (fd < 0) {
				fprintf(stderr, "%s: %s\n", p, why);
				return 1;
			}
			close(fd);
			t = now_us();
			fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
			if (fd >= 0 && fstat(fd, &st) == 0)
				b[i] = now_us() - t;
			if (fd >= 0)
				close(fd);
		}
		printf("%s: pb_trusted_open %.2f us, open+fstat %.2f us "
		    "(medians of %d)\n", p, median(a, n), median(b, n), n);
	}
	free(a);
	free(b);
	return 0;
}
