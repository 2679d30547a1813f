/*
 * read_file.h - reading a whole descriptor, bounded, and opening without
 * losing to EINTR.
 */
#ifndef PB_READ_FILE_H
#define PB_READ_FILE_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Reads fd (a file, pipe or terminal) to its end, at most max bytes, into
 * a malloc'd, NUL-terminated buffer. st is fd's fstat when the caller has
 * it already (the login path's readers check the file first), or NULL.
 * Returns 0, or -1 with errno set (EFBIG when there is more); a failed
 * read leaves no copy behind. */
int pb_read_fd(int fd, const struct stat *st, size_t max, char **buf,
    size_t *len);

/* openat(2), retried when a signal interrupts it. Every file the module
 * and the tool open goes through here or pb_trusted_open. */
int pb_openat(int dirfd, const char *name, int flags, mode_t mode);

#endif
