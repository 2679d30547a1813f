/*
 * pg_buildkite.h - the pg_buildkite extension's parts (doc/sessions.md):
 * the session a token login opened, its row in shared memory, and the
 * sweeper that ends it at its deadline.
 */
#ifndef PG_BUILDKITE_H
#define PG_BUILDKITE_H

#include "postgres.h"

#include "libpq/libpq-be.h"

/* The facts of this backend's token login, copied from the module's
 * handoff (session_handoff.h) into memory that lives as long as the
 * backend. Strings are NULL where the token had no such claim. */
struct pgbk_session {
	char *role, *service, *rhost, *org, *pipeline, *branch, *tag, *step,
	    *job_id, *agent_id, *source, *sub, *jti, *kid, *rule;
	long long build_number;         /* -1 when absent */
	long long authenticated_at;     /* Unix seconds */
	long long token_exp;
	long long lifetime;             /* policy_config.h */
	long long deadline;             /* Unix seconds, 0 for never */
	int audit_format;
	int audit_facility;
};

/* handoff.c: the ClientAuthentication hook, which opens the session the
 * module handed over. */
void pgbk_handoff_init(void);

/* slots.c: one row per backend in shared memory, what the view shows
 * and the sweeper reads. */
void pgbk_slots_request(void);
void pgbk_slots_startup(void);
/* Fills this backend's row; ERROR when it cannot. */
void pgbk_slot_fill(const struct pgbk_session *s);
/* Whether the sweeper ended this backend's session. */
bool pgbk_slot_expired(void);
void pgbk_slot_mark_expired(void);
/* Whether the sweeper runs (a lifetime is only taken when it does). */
bool pgbk_sweeper_running(void);
/* The sweeper's pass: marks every row past its deadline as expired and
 * signals its backend. */
void pgbk_slots_sweep(TimestampTz now);
void pgbk_sweeper_set(pid_t pid);

/* expiry.c: the end of a session at its deadline, as the client and the
 * audit log see it. */
void pgbk_expiry_init(const struct pgbk_session *s);
void pgbk_expiry_fatal(const struct pgbk_session *s) pg_attribute_noreturn();

/* sweeper.c */
void pgbk_sweeper_register(void);

#endif
