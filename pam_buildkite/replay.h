/*
 * replay.h - the jti replay store of token.single_use (doc/replay.md):
 * a token's jti is accepted once per host, by every PostgreSQL backend of
 * it together.
 *
 * The store is token.replay_dir. Each accepted jti is an empty file
 * <replay_dir>/<hh>/<64 hex>, named by the SHA-256 of (issuer, NUL, jti)
 * so no jti reaches a path, and sharded by the hash's first byte <hh>
 * into at most 256 directories. Creating it with O_CREAT | O_EXCL is the
 * whole protocol: the kernel makes create-if-absent atomic across
 * processes, so of concurrent logins with one token exactly one creates
 * the file and the others find it, with no lock. The file's mtime is set
 * to the moment the token stops being valid anywhere (exp + leeway);
 * that is what lets a later login delete it (see replay.c).
 *
 * Nothing here keeps state between calls, and every call does bounded
 * work: one directory check, one shard, and a sweep of at most
 * PB_REPLAY_SWEEP_MAX entries of that shard after a new record.
 */
#ifndef PB_REPLAY_H
#define PB_REPLAY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "policy.h"
#include "reason.h"

/* A longer jti is refused: Buildkite's are UUIDs (36 bytes). */
#define PB_REPLAY_JTI_MAX 256
/* A sweep looks at no more entries than this. */
#define PB_REPLAY_SWEEP_MAX 1024
/* How long past its expiry an entry is kept: longer than any login takes
 * from reading the clock to recording (jwks.timeout is at most 60s), so
 * a slow login with a token that was still valid when it started finds
 * the entry of an earlier use. */
#define PB_REPLAY_SWEEP_MARGIN 300
/* How long an entry whose expiry cannot be trusted (its mtime is not
 * after its ctime: a record cut short, or a file rewritten by someone
 * else) is kept after its ctime: the longest a token accepted by any
 * policy can stay valid after it was recorded (max_lifetime at most 1d,
 * leeway at most 300s on both iat and exp), so it outlives the token. */
#define PB_REPLAY_GRACE (86400 + 2 * 300)

/* token.single_use for verified claims at time now: the jti must be a
 * non-empty string of at most PB_REPLAY_JTI_MAX bytes not yet in the
 * store. With record true (a login) it is then recorded, to be kept
 * until exp + token.leeway, and the entry's shard is swept; with record
 * false (explain) the store is only looked at and nothing is written.
 * Returns PB_OK (detail says what was or would be recorded), PB_REPLAY
 * (used before, or no usable jti: detail says which), PB_EXPIRED (the
 * token expired before it could be recorded), or PB_CONFIG when the
 * store cannot be used or written (detail names the path and the error):
 * fail closed. */
enum pb_reason pb_replay_check(const struct pb_config *cfg,
    const json_t *claims, long long now, bool record, char *detail,
    size_t detail_len);

/* The store itself, for pb_replay_check and the tests: looks up, and
 * with record true records, jti (jti_len bytes, any bytes) of issuer in
 * dir, to be kept until expires (> now). Same results as
 * pb_replay_check, except that the jti is only checked for length. */
enum pb_reason pb_replay_jti(const char *dir, const char *issuer,
    const char *jti, size_t jti_len, long long expires, long long now,
    bool record, char *detail, size_t detail_len);

/* Deletes the entries of shard (0-255) of dir that are past their
 * expiry at now, looking at no more than max entries. Returns how many
 * were deleted, or -1 when the shard cannot be opened (a missing shard
 * is 0). pb_replay_jti sweeps the new entry's shard itself; this is for
 * the tests and tools. */
long pb_replay_sweep(const char *dir, unsigned shard, long long now,
    size_t max);

#endif
