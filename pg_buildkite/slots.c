/*
 * slots.c - one row per backend in shared memory: the token session it
 * runs, what buildkite.sessions shows and the sweeper ends. A backend
 * writes only its own row (indexed by its backend id), under one lock
 * that readers share.
 */
#include "postgres.h"

#include <signal.h>
#include <string.h>

#include "catalog/pg_authid_d.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "pg_buildkite.h"

/* Values are cut here, at a UTF-8 character, as the audit line cuts
 * them (PB_AUDIT_MAX_VALUE). */
#define FIELD 257

struct slot {
	pid_t pid;                      /* 0: free */
	bool expired;                   /* set by the sweeper */
	TimestampTz authenticated_at;
	TimestampTz token_expires_at;
	TimestampTz ends_at;            /* 0: never */
	long long build_number;         /* -1: none */
	char role[NAMEDATALEN];
	char pipeline[FIELD], branch[FIELD], step[FIELD], job_id[FIELD],
	    agent_id[FIELD], org[FIELD], rule[FIELD], jti[FIELD];
};

struct slots {
	pid_t sweeper;                  /* 0: not running */
	int n;
	struct slot slot[FLEXIBLE_ARRAY_MEMBER];
};

static struct slots *slots;
static LWLock *slots_lock;

static Size
slots_size(void)
{
	return add_size(offsetof(struct slots, slot),
	    mul_size(MaxBackends, sizeof(struct slot)));
}

void
pgbk_slots_request(void)
{
	RequestAddinShmemSpace(slots_size());
	RequestNamedLWLockTranche("pg_buildkite", 1);
}

void
pgbk_slots_startup(void)
{
	bool found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	slots = ShmemInitStruct("pg_buildkite sessions", slots_size(), &found);
	if (!found) {
		memset(slots, 0, slots_size());
		slots->n = MaxBackends;
	}
	slots_lock = &(GetNamedLWLockTranche("pg_buildkite"))->lock;
	LWLockRelease(AddinShmemInitLock);
}

static struct slot *
my_slot(void)
{
	if (slots == NULL || MyBackendId < 1 || MyBackendId > slots->n)
		return NULL;
	return &slots->slot[MyBackendId - 1];
}

/* Copies v into dst (FIELD bytes), cut at a character boundary. */
static void
put(char *dst, size_t size, const char *v)
{
	size_t n = v != NULL ? strlen(v) : 0;

	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
			n--;
	}
	if (n > 0)
		memcpy(dst, v, n);
	dst[n] = '\0';
}

static void
clear_slot(int code, Datum arg)
{
	struct slot *sl = my_slot();

	(void)code;
	(void)arg;
	if (sl == NULL)
		return;
	LWLockAcquire(slots_lock, LW_EXCLUSIVE);
	sl->pid = 0;
	sl->expired = false;
	LWLockRelease(slots_lock);
}

void
pgbk_slot_fill(const struct pgbk_session *s)
{
	struct slot *sl = my_slot();

	if (sl == NULL)
		ereport(FATAL, (errcode(ERRCODE_INTERNAL_ERROR),
		    errmsg("pg_buildkite: no session slot for backend %d",
		    MyBackendId)));
	LWLockAcquire(slots_lock, LW_EXCLUSIVE);
	sl->expired = false;
	sl->authenticated_at = time_t_to_timestamptz(s->authenticated_at);
	sl->token_expires_at = time_t_to_timestamptz(s->token_exp);
	sl->ends_at = s->deadline != 0 ?
	    time_t_to_timestamptz(s->deadline) : 0;
	sl->build_number = s->build_number;
	put(sl->role, sizeof(sl->role), s->role);
	put(sl->pipeline, FIELD, s->pipeline);
	put(sl->branch, FIELD, s->branch);
	put(sl->step, FIELD, s->step);
	put(sl->job_id, FIELD, s->job_id);
	put(sl->agent_id, FIELD, s->agent_id);
	put(sl->org, FIELD, s->org);
	put(sl->rule, FIELD, s->rule);
	put(sl->jti, FIELD, s->jti);
	sl->pid = MyProcPid;
	LWLockRelease(slots_lock);
	/* before ShutdownPostgres: the row goes while the backend's pid is
	 * still its own */
	before_shmem_exit(clear_slot, (Datum)0);
}

bool
pgbk_slot_expired(void)
{
	struct slot *sl = my_slot();

	return sl != NULL && sl->pid == MyProcPid && sl->expired;
}

void
pgbk_slot_mark_expired(void)
{
	struct slot *sl = my_slot();

	if (sl == NULL)
		return;
	LWLockAcquire(slots_lock, LW_EXCLUSIVE);
	if (sl->pid == MyProcPid)
		sl->expired = true;
	LWLockRelease(slots_lock);
}

bool
pgbk_sweeper_running(void)
{
	return slots != NULL && slots->sweeper != 0;
}

void
pgbk_sweeper_set(pid_t pid)
{
	LWLockAcquire(slots_lock, LW_EXCLUSIVE);
	slots->sweeper = pid;
	LWLockRelease(slots_lock);
}

/* SIGTERM is what pg_terminate_backend sends: the backend ends at its
 * next interrupt check, idle or busy, and expiry.c says why. */
void
pgbk_slots_sweep(TimestampTz now)
{
	int i;

	LWLockAcquire(slots_lock, LW_EXCLUSIVE);
	for (i = 0; i < slots->n; i++) {
		struct slot *sl = &slots->slot[i];

		/* again on every pass until the row goes: a backend holding
		 * off interrupts takes the signal when it can */
		if (sl->pid != 0 && sl->ends_at != 0 && sl->ends_at <= now) {
			sl->expired = true;
			(void)kill(sl->pid, SIGTERM);
		}
	}
	LWLockRelease(slots_lock);
}

static Datum
text_of(const char *s)
{
	/* claims are UTF-8; the database may hold another encoding */
	return CStringGetTextDatum(pg_any_to_server(s, strlen(s), PG_UTF8));
}

static void
put_row(ReturnSetInfo *rsinfo, const struct slot *sl)
{
	Datum v[14];
	bool null[14];
	const char *strs[] = { sl->role, sl->pipeline, sl->branch, sl->step };
	int i;

	memset(null, 0, sizeof(null));
	v[0] = Int32GetDatum(sl->pid);
	for (i = 0; i < 4; i++) {
		null[1 + i] = strs[i][0] == '\0';
		v[1 + i] = null[1 + i] ? (Datum)0 : text_of(strs[i]);
	}
	null[5] = sl->build_number < 0;
	v[5] = Int64GetDatum(sl->build_number);
	null[6] = sl->job_id[0] == '\0';
	v[6] = null[6] ? (Datum)0 : text_of(sl->job_id);
	null[7] = sl->agent_id[0] == '\0';
	v[7] = null[7] ? (Datum)0 : text_of(sl->agent_id);
	v[8] = text_of(sl->rule);
	null[9] = sl->jti[0] == '\0';
	v[9] = null[9] ? (Datum)0 : text_of(sl->jti);
	v[10] = TimestampTzGetDatum(sl->authenticated_at);
	v[11] = TimestampTzGetDatum(sl->token_expires_at);
	null[12] = sl->ends_at == 0;
	v[12] = TimestampTzGetDatum(sl->ends_at);
	null[13] = sl->org[0] == '\0';
	v[13] = null[13] ? (Datum)0 : text_of(sl->org);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, null);
}

PG_FUNCTION_INFO_V1(pg_buildkite_sessions);

/* buildkite.sessions: a copy of the live rows, taken under the lock and
 * turned into tuples after it (encoding conversion may raise). */
Datum
pg_buildkite_sessions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	struct slot *copy;
	int i, n = 0;

	if (!superuser() && !has_privs_of_role(GetUserId(),
	    ROLE_PG_READ_ALL_STATS))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
		    errmsg("permission denied for buildkite.sessions"),
		    errhint("Only superusers and members of pg_read_all_stats "
		    "may see the token sessions.")));
	if (slots == NULL)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		    errmsg("pg_buildkite must be loaded by the postmaster"),
		    errhint("Add 'pg_buildkite' to shared_preload_libraries "
		    "and restart PostgreSQL.")));
	InitMaterializedSRF(fcinfo, 0);
	copy = palloc(sizeof(*copy) * slots->n);
	LWLockAcquire(slots_lock, LW_SHARED);
	for (i = 0; i < slots->n; i++)
		if (slots->slot[i].pid != 0)
			copy[n++] = slots->slot[i];
	LWLockRelease(slots_lock);
	for (i = 0; i < n; i++)
		put_row(rsinfo, &copy[i]);
	pfree(copy);
	return (Datum)0;
}
