/*
 * check_files.h - "pam-buildkite check" on who may write the files a
 * login reads (check_files.c).
 */
#ifndef PB_CHECK_FILES_H
#define PB_CHECK_FILES_H

#include <sys/types.h>

#include "policy.h"

/* Advice on stderr about the policy at path beyond what its load
 * refuses: readable by everyone, owned by anyone but root. */
void permission_warnings(const char *path);

/* Judges the files cfg names as a login running as uid would, and says
 * on stderr what it would refuse: -1 when a login would be refused, 0
 * otherwise (a missing file or an ignored cache is a warning). */
int check_files(const struct pb_config *cfg, uid_t uid);

/* A user name, or a number, as a uid: 0, or -1 when it is neither. */
int check_user(const char *name, uid_t *uid);

#endif
