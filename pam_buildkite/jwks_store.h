/*
 * jwks_store.h - the on-disk JWKS cache of jwks.url as a store (private
 * to jwks_cache.c and jwks_admin.c): its directory and file names, the
 * cache file read, validated and written, the lock, the .attempt stamp,
 * and a refresh from jwks.url.
 *
 * Nothing here decides when to fetch: that is the login path's
 * (jwks_cache.c) and the admin tool's (jwks_admin.c) business. The time
 * is the caller's now; only the deadline of waiting and fetching is on
 * CLOCK_MONOTONIC.
 */
#ifndef PB_JWKS_STORE_H
#define PB_JWKS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "jwks.h"
#include "policy_config.h"

/* A fetched_at or stamp further ahead than this is not ours: corrupt. */
#define PB_STORE_FUTURE_SLACK 60

/* One call's view of the cache. */
struct pb_store {
	const struct pb_config *cfg;
	char name[64];          /* jwks-<hex>.json */
	char lockname[64];      /* jwks-<hex>.lock */
	char stampname[64];     /* jwks-<hex>.attempt */
	int dirfd;              /* -1 when the directory is unusable */
	uid_t dir_uid;
	uid_t euid;
	bool tool;              /* writer: tool rules for reading */
	bool reported;          /* an ignored cache is noted once */
	struct timespec deadline;
	char *detail;           /* notes accumulate here */
	size_t detail_len;
};

/* Starts a call: no directory yet, detail emptied, the deadline
 * jwks.timeout from now. */
void pb_store_init(struct pb_store *c, const struct pb_config *cfg,
    char *detail, size_t detail_len);
void pb_store_done(struct pb_store *c);

/* Appends a note to the call's detail, "; "-separated. */
void pb_store_note(struct pb_store *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Names the files after jwks.url: 0, or -1. */
int pb_store_names(struct pb_store *c);

/* Opens and checks the cache directory. writer rules (the module with
 * writer: module, and the tool): owned by root or us. Reader rules
 * (writer: tool): not ours and not writable by us, unless we are root.
 * Both: a real directory, not group- or world-writable. 0, or -1 with
 * why. */
int pb_store_open_dir(struct pb_store *c, bool writer_rules, char *why,
    size_t whylen);

/* Reads the cache file at time now: true with *out and *fetched_at set;
 * false when there is none or it is not to be trusted, which is noted
 * once per call. */
bool pb_store_load(struct pb_store *c, long long now, struct pb_jwks **out,
    long long *fetched_at);

/* now - fetched_at, or 0 when fetched_at is ahead. */
long long pb_store_age(long long now, long long fetched_at);

/* Publishes body (a validated JWKS) as the cache file fetched at now,
 * whole or not at all: 0, or -1 with why. */
int pb_store_write(struct pb_store *c, const char *body, size_t len,
    long long now, char *why, size_t whylen);

/* The lock file, opened: the descriptor (closing it releases the lock),
 * or -1 with why. */
int pb_store_lock_open(struct pb_store *c, char *why, size_t whylen);
/* 0 when locked, 1 when another process holds it, -1 on error. */
int pb_store_lock_try(int fd);
/* Polls the lock until the deadline: 0 locked, 1 still held, -1 error. */
int pb_store_lock_wait(const struct pb_store *c, int fd);

/* The epoch in the .attempt stamp, or -1 when there is none usable. */
long long pb_store_read_stamp(const struct pb_store *c);
/* Stamps now: 0, or -1 with why. */
int pb_store_write_stamp(const struct pb_store *c, long long now, char *why,
    size_t whylen);

/* Fetches jwks.url within what is left of the deadline and validates the
 * answer: 0 with *out (and *body, when asked for, to write the cache),
 * or -1 with the reason in why. */
int pb_store_fetch(struct pb_store *c, struct pb_jwks **out, char **body,
    size_t *blen, char *why, size_t whylen);

/* Fetches and publishes at now, with the lock held by the caller: 0 with
 * *out, or -1 with the reason noted. */
int pb_store_refresh(struct pb_store *c, long long now,
    struct pb_jwks **out);

#endif
