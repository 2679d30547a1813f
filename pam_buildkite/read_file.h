/*
 * read_file.h - reading a whole file, bounded.
 */
#ifndef PB_READ_FILE_H
#define PB_READ_FILE_H

#include <stddef.h>
#include <sys/stat.h>

/* Reads a whole regular file of at most max bytes into a malloc'd,
 * NUL-terminated buffer. Returns 0, or -1 with errno set (EFBIG when the
 * file is larger than max, EINVAL when it is not a regular file). */
int pb_read_file(const char *path, size_t max, char **buf, size_t *len);

/* Reads fd (a file, pipe or terminal) to its end, at most max bytes, into
 * a malloc'd, NUL-terminated buffer. st is fd's fstat when the caller has
 * it already (the login path's readers check the file first), or NULL.
 * Returns 0, or -1 with errno set (EFBIG when there is more); a failed
 * read leaves no copy behind. */
int pb_read_fd(int fd, const struct stat *st, size_t max, char **buf,
    size_t *len);

#endif
