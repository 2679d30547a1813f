/*
 * diff.h - what "pam-buildkite diff" (cmd_diff.c) shares with its replay
 * of recorded attempts (diff_audit.c).
 */
#ifndef PB_DIFF_H
#define PB_DIFF_H

#include <stdbool.h>

#include <jansson.h>

#include "policy.h"

/* Prints each setting (token:, jwks:, session:) that differs; true when
 * one does. */
bool diff_settings(const struct pb_config *a, const struct pb_config *b);

/* Decides the attempts of the audit lines in files[0..n) again under
 * old and new, printing each that would flip and a summary line; needed
 * is an object whose keys are the claims the rules read. Sets *changed
 * when one flips. Returns 0, or -1 when a file cannot be read. */
int diff_audit(const struct pb_policy *old, const struct pb_policy *new,
    json_t *needed, char **files, int n, bool *changed);

#endif
