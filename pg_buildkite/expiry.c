/*
 * expiry.c - the end of a token session at its deadline, as the client
 * and the audit log see it: the FATAL that ends the backend says why,
 * and one audit line "result=end reason=session_expired" with the
 * login's fields and how long the session lasted.
 */
#include "postgres.h"

#include <string.h>
#include <time.h>

#include <jansson.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/elog.h"

#include "audit.h"
#include "pg_buildkite.h"
#include "policy.h"

#define EXPIRED "terminating connection because its Buildkite session expired"

static emit_log_hook_type prev_emit_log;
static const struct pgbk_session *session;

/* The login's claims as the audit line names them. */
static json_t *
claims_of(const struct pgbk_session *s)
{
	const struct {
		const char *claim, *value;
	} strs[] = {
		{ "organization_slug", s->org }, { "pipeline_slug", s->pipeline },
		{ "build_branch", s->branch }, { "build_tag", s->tag },
		{ "step_key", s->step }, { "job_id", s->job_id },
		{ "agent_id", s->agent_id }, { "build_source", s->source },
		{ "sub", s->sub }, { "jti", s->jti },
	};
	/* not json_object(): in a backend that name is PostgreSQL's SQL
	 * function, which the dynamic linker finds first */
	json_t *c = json_pack("{}");
	size_t i;

	for (i = 0; c != NULL && i < lengthof(strs); i++)
		if (strs[i].value != NULL)
			json_object_set_new(c, strs[i].claim,
			    json_string(strs[i].value));
	if (c != NULL && s->build_number >= 0)
		json_object_set_new(c, "build_number",
		    json_integer(s->build_number));
	return c;
}

/* At exit, after the FATAL: one line per expired session, whichever way
 * it ended (the sweeper's signal or the login that began too late). */
static void
audit_end(int code, Datum arg)
{
	const struct pgbk_session *s = session;
	struct pb_audit_event ev;
	char life[32], detail[96];
	json_t *claims;

	(void)code;
	(void)arg;
	if (s == NULL || !pgbk_slot_expired())
		return;
	claims = claims_of(s);
	snprintf(detail, sizeof(detail), "session lifetime %s reached",
	    pb_lifetime_text(s->lifetime, life, sizeof(life)));
	memset(&ev, 0, sizeof(ev));
	ev.reason = PB_SESSION_EXPIRED;
	ev.role = s->role;
	ev.service = s->service;
	ev.rhost = s->rhost;
	ev.claims = claims;
	ev.kid = s->kid;
	ev.rule = s->rule;
	ev.detail = detail;
	ev.pid = (long)MyProcPid;
	ev.duration = (long long)time(NULL) - s->authenticated_at;
	pb_audit_emit(&ev, (enum pb_audit_format)s->audit_format,
	    s->audit_facility);
	json_decref(claims);
}

static char *
why_detail(const struct pgbk_session *s)
{
	char life[32];

	return psprintf("The session of job %s (pipeline %s) was limited to "
	    "%s by rule \"%s\".", s->job_id ? s->job_id : "(none)",
	    s->pipeline ? s->pipeline : "(none)",
	    pb_lifetime_text(s->lifetime, life, sizeof(life)), s->rule);
}

/* The sweeper's SIGTERM ends the backend as pg_terminate_backend does;
 * this hook, called before the message reaches the log and the client,
 * says why instead of "administrator command". */
static void
emit_log(ErrorData *edata)
{
	if (session != NULL && edata->elevel == FATAL &&
	    (edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN ||
	    edata->sqlerrcode == ERRCODE_QUERY_CANCELED) &&
	    pgbk_slot_expired()) {
		edata->message = pstrdup(EXPIRED);
		edata->detail = why_detail(session);
	}
	if (prev_emit_log)
		prev_emit_log(edata);
}

void
pgbk_expiry_init(const struct pgbk_session *s)
{
	session = s;
	if (s->deadline == 0)
		return;
	prev_emit_log = emit_log_hook;
	emit_log_hook = emit_log;
	/* registered after the slot's clear_slot, so run before it: the
	 * row still says expired */
	before_shmem_exit(audit_end, (Datum)0);
}

void
pgbk_expiry_fatal(const struct pgbk_session *s)
{
	pgbk_slot_mark_expired();
	ereport(FATAL, (errcode(ERRCODE_ADMIN_SHUTDOWN),
	    errmsg(EXPIRED),
	    errdetail_internal("%s", why_detail(s))));
}
