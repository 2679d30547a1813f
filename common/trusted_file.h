/*
 * trusted_file.h - opening a file or directory the module trusts: the
 * policy and its includes, the snapshot, jwks.file, jwks.ca_file, the
 * JWKS cache and the replay store all go through here (see
 * trusted_file.c for the rules and why).
 */
#ifndef PB_TRUSTED_FILE_H
#define PB_TRUSTED_FILE_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* What the caller wants at the end of the path. */
#define PB_TRUST_DIR		0x01	/* a directory, not a regular file */
#define PB_TRUST_NOFOLLOW	0x02	/* the last name is no symbolic link */
#define PB_TRUST_ANY_OWNER	0x04	/* the caller judges the object's
					 * owner (directories above it are
					 * still held to root or uid) */

/* Room enough for any why of these functions. */
#define PB_TRUST_WHY_MAX	384

/* Symbolic links followed in one path, and names walked in all. */
#define PB_TRUST_MAX_LINKS	16
#define PB_TRUST_MAX_STEPS	256

/* Opens path (absolute, or relative to the working directory) for
 * reading, never blocking, and judges it as user uid would be judged:
 * every directory from / down to it owned by root or uid and writable by
 * no one else, unless root-owned and sticky; the object a regular file
 * (or a directory with PB_TRUST_DIR), owned by root or uid, and not
 * group- or world-writable. Symbolic links are resolved here, each
 * directory they lead through checked the same way.
 *
 * Returns the descriptor (O_RDONLY, O_NONBLOCK, O_CLOEXEC) with *st its
 * fstat, or -1 with errno set and why saying what is wrong without
 * naming path itself ("not a regular file", "directory /x is writable by
 * others (mode 0777) and not sticky", "cannot open: ..."): ENOENT when a
 * name is missing, EINVAL for the wrong type, ELOOP for a refused link,
 * EPERM for a refused owner or mode. */
int pb_trusted_open(const char *path, unsigned flags, uid_t uid,
    struct stat *st, char *why, size_t whylen);

/* The same for name, one component in the directory dirfd that the
 * caller has judged already: never follows a symbolic link. */
int pb_trusted_openat(int dirfd, const char *name, unsigned flags,
    uid_t uid, struct stat *st, char *why, size_t whylen);

/* pb_trusted_open of a regular file and pb_read_fd of it, at most max
 * bytes: 0 with a malloc'd, NUL-terminated *buf, or -1 with why (EFBIG
 * when larger than max). */
int pb_read_trusted(const char *path, unsigned flags, uid_t uid, size_t max,
    char **buf, size_t *len, char *why, size_t whylen);

#endif
