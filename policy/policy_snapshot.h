/*
 * policy_snapshot.h - the compiled policy's file format, shared by its
 * writer (policy_snapshot_write.c) and its reader
 * (policy_snapshot_read.c); private to policy/.
 *
 * Every login reads the policy, and a 10,000-rule file takes libyaml
 * alone 15 ms to parse. `pam-buildkite compile` (policy_compile.c)
 * writes POLICY.compiled after a full load; a login reads the YAML files
 * (the source of truth, as always: it hashes them) and, when they are
 * the ones the snapshot was made from, takes the rules from the snapshot
 * instead of parsing them again, only those that can cover the role it
 * asks for. Any difference, a missing or unusable snapshot, and the
 * login parses the YAML as if there were none: the snapshot changes how
 * fast a decision is made, never which.
 *
 * Trust: the snapshot must belong to the owner of the policy file and be
 * writable by nobody else, so whoever can change it could change the
 * policy itself. The module never writes it.
 *
 * Format (integers in host order; the file never leaves its host):
 *   magic, u32 0x01020304, u64 file size
 *   u32 number of sources, opt-str include pattern
 *   per source: str path, u64 size, SHA-256 of the content (the policy
 *     first, then the include's matches in glob order)
 *   config: the fields of struct pb_config, session.lifetime last
 *   u32 totals of rules, conditions, items, CIDRs, roles
 *   per rule: str name, u8 deny, u32 conditions (str claim,
 *     str label, str display, u32 items (u8 neg, u8 regex, str text)),
 *     u32 CIDRs (u8 family, 16 bytes, u32 prefix), opt-str from display,
 *     u32 roles (str text), i64 session lifetime
 * str: u32 length, the bytes, a NUL; opt-str: u8 present, then a str.
 */
#ifndef PB_POLICY_SNAPSHOT_H
#define PB_POLICY_SNAPSHOT_H

#include <stddef.h>
#include <sys/types.h>

#include "msg.h"
#include "policy_int.h"

#define PB_SNAP_MAGIC   "pbpolicysnap3\n\0"     /* 16 bytes with its NUL */
#define PB_SNAP_ORDER   0x01020304u             /* the host's byte order */
#define PB_SNAP_MAX     (64u * 1024 * 1024)

/* Appends the snapshot of pol, loaded from the files src, to w (empty).
 * Returns 0, or -1 when out of memory or larger than PB_SNAP_MAX. */
int pb_snapshot_encode(const struct pb_sources *src,
    const struct pb_policy *pol, struct pb_buf *w);

/* The rules of path's snapshot when the policy and its includes are the
 * files it was made from; with role, only the rules that bear on it
 * (pb_policy_load_for). Returns 0 and sets *out; 1 when there is no
 * snapshot; -1 when it is stale or unusable, with why. */
int pb_snapshot_load(const char *path, uid_t uid, const char *role,
    struct pb_policy **out, char *why, size_t whylen);

#endif
