/*
 * write_file.h - writing a file that readers must see whole or not at
 * all: the JWKS cache and the compiled policy snapshot.
 */
#ifndef PB_WRITE_FILE_H
#define PB_WRITE_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* write(2) until all len bytes are written: 0, or -1 with errno. */
int pb_write_all(int fd, const void *buf, size_t len);

/* fsync(2), retried when interrupted: 0, or -1 with errno. */
int pb_fsync(int fd);

/* Publishes len bytes of data as name in the directory dirfd (opened for
 * reading, not O_PATH: it is fsynced): a new file ".NAME.XXXXXXXXXXXX"
 * beside it, created exclusively, never through a link, close-on-exec,
 * with mode; written, fsynced, renamed over name, and the directory
 * fsynced, so a reader sees the old file or the new one and, after a
 * crash, the rename is not lost. Returns 0, or -1 with errno and why
 * saying which step failed ("cannot create a file", "cannot write",
 * "cannot rename", "cannot fsync the directory", each with the error);
 * the temporary file is removed on failure. */
int pb_write_atomic(int dirfd, const char *name, const void *data,
    size_t len, mode_t mode, char *why, size_t whylen);

/* pb_write_atomic of path: its directory opened here. */
int pb_write_atomic_path(const char *path, const void *data, size_t len,
    mode_t mode, char *why, size_t whylen);

#endif
