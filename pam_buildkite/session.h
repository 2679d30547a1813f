/*
 * session.h - the module's side of the session handoff
 * (session_handoff.h): find the extension, hand it an allowed login.
 */
#ifndef PB_SESSION_H
#define PB_SESSION_H

#include <stddef.h>

#include "authn.h"
#include "session_handoff.h"

/* The pg_buildkite extension's entry point when this process has it
 * loaded, else NULL. */
pb_session_entry_fn pb_session_entry(void);

/* Hands the login allowed in res (for role, at now) to entry. Returns
 * PB_OK, or PB_CONFIG with why in detail when a claim cannot be handed
 * over or the extension refused the session. */
enum pb_reason pb_session_handoff(pb_session_entry_fn entry,
    const struct pb_policy *pol, const struct pb_authn *res,
    const char *role, const char *service, const char *rhost,
    long long now, char *detail, size_t detail_len);

#endif
