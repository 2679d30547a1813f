/*
 * replay.c - a main() for the fuzz targets when they are not built with
 * libFuzzer: each argument is a file or a directory (whose regular files
 * are taken in byte order of their names, not recursively), and every
 * file is passed once to LLVMFuzzerTestOneInput. make check links each
 * target with this driver, so the seed corpus and every crash found so
 * far are replayed on each run; a crash, a trap or a sanitizer report
 * fails the process.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target: weak, so a target without one still links. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static unsigned long replayed;
static const char *current;     /* the input being replayed */

/* A trap (SIGILL) or an abort names the input that caused it. Segfaults
 * are left to AddressSanitizer's handler, whose report says more. */
static void
on_fatal(int sig)
{
	static const char msg[] = "replay: fatal signal on input ";

	if (current != NULL) {
		(void)!write(2, msg, sizeof(msg) - 1);
		(void)!write(2, current, strlen(current));
		(void)!write(2, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Reads the whole file into a buffer of exactly its size, so that
 * AddressSanitizer sees a read past the end of the input. */
static int
replay_file(const char *path)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t len = 0, cap;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	cap = st.st_size > 0 ? (size_t)st.st_size : 1;
	buf = malloc(cap);
	if (buf == NULL) {
		fprintf(stderr, "replay: %s: out of memory\n", path);
		close(fd);
		return -1;
	}
	while (len < cap && (r = read(fd, buf + len, cap - len)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "replay: %s: %s\n", path,
			    strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		len += (size_t)r;
	}
	close(fd);
	if (len == 0) {
		/* An empty input: give the target a pointer it may not
		 * read from. */
		free(buf);
		buf = malloc(1);
		if (buf == NULL)
			return -1;
	}
	current = path;
	LLVMFuzzerTestOneInput(buf, len);
	current = NULL;
	free(buf);
	replayed++;
	return 0;
}

static int
name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
replay_dir(const char *dir)
{
	struct dirent **ents;
	int n, i, rc = 0;

	n = scandir(dir, &ents, NULL, name_cmp);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct stat st;
		char *path;

		if (rc == 0 &&
		    asprintf(&path, "%s/%s", dir, ents[i]->d_name) >= 0) {
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
			    replay_file(path) < 0)
				rc = -1;
			free(path);
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int
main(int argc, char **argv)
{
	struct stat st;
	int i;

	signal(SIGILL, on_fatal);
	signal(SIGABRT, on_fatal);
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			return 2;
		}
		if (S_ISDIR(st.st_mode) ? replay_dir(argv[i]) < 0 :
		    replay_file(argv[i]) < 0)
			return 2;
	}
	printf("replayed %lu inputs\n", replayed);
	return 0;
}
